/** Model file formats: safetensors reading and writing and host-side tensors. */
package dev.rq.model.io;
