/**
 * Layers that must match the official PyTorch modules exactly: convolution, GroupNorm, the VAE
 * ResNet and attention blocks, down- and upsampling. Parameters live in a {@link
 * dev.rq.model.nn.ParamStore} under their official state-dict names.
 */
package dev.rq.model.nn;
