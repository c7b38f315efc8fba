/** numpy's {@code .npy} arrays and {@code .npz} archives (FID reference statistics), read and written from streams. */
package dev.rq.model.npy;
