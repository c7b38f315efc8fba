/**
 * libtorch operators that DJL 0.36 does not expose (native GroupNorm, SiLU, nearest upsampling,
 * scaled-dot-product attention, memory-format and bfloat16 conversions), reached through tiny
 * TorchScript functions that libtorch compiles from source text at run time: no Python, no
 * headers, no native build. Each function runs with autograd, so the layers use them in training
 * as in inference.
 */
package dev.rq.model.kernels;
