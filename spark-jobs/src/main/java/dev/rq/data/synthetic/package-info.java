/**
 * Synthetic datasets for scale rehearsals and benchmarks: ImageNet-shaped image folders with
 * realistic file sizes and varied content, generated deterministically from a seed.
 */
package dev.rq.data.synthetic;
