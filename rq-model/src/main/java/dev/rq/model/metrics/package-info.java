/**
 * Image-quality and generative metrics: the FID Inception V3 network ({@link
 * dev.rq.model.metrics.InceptionV3}), feature statistics ({@link dev.rq.model.metrics.GaussianStats}),
 * the Fréchet distance ({@link dev.rq.model.metrics.FrechetDistance}), the Inception Score ({@link
 * dev.rq.model.metrics.InceptionScore}), PSNR ({@link dev.rq.model.metrics.Psnr}) and SSIM ({@link
 * dev.rq.model.metrics.Ssim}). No Spark: the {@code rq eval} job distributes these.
 */
package dev.rq.model.metrics;
