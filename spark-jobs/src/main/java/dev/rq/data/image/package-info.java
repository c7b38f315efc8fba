/**
 * Decoding encoded image bytes into sRGB rasters ({@link dev.rq.data.image.ImageDecoding}) and the
 * PIL-compatible resize / crop / flip / normalise transforms ({@link dev.rq.data.image.Resampling},
 * {@link dev.rq.data.image.ImageTransform}).
 */
package dev.rq.data.image;
