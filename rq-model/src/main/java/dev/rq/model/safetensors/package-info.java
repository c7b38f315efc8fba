/**
 * The safetensors model file format: reading and writing ({@link dev.rq.model.safetensors.SafeTensors})
 * and host-side tensors ({@link dev.rq.model.safetensors.HostTensor}). Named after the format so it
 * cannot be mistaken for {@code dev.rq.io}, the Spark jobs' Hadoop file-system helpers.
 */
package dev.rq.model.safetensors;
