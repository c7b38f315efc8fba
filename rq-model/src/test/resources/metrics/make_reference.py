"""Writes the golden values of the metrics tests (run once with numpy + scipy; the outputs are
committed next to this script). Nothing here is needed at test time.

  python3 make_reference.py

fid-reference.npz: two feature sets per case and pytorch-fid's frechet_distance of their
  np.mean / np.cov statistics (scipy.linalg.sqrtm), plus the eigenvalue form for the rank-deficient
  case where sqrtm is unreliable.
ssim-reference.npz: image pairs in [-1, 1] and scikit-image's Gaussian SSIM
  (structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=1), re-implemented with scipy.ndimage.gaussian_filter exactly as skimage does:
  truncate=3.5, mode='reflect', crop of (11-1)//2 pixels, mean over channels).
compressed.npz: np.savez_compressed of two small arrays (float32 C order, float64 Fortran order).
"""
import numpy as np
from scipy import linalg
from scipy.ndimage import gaussian_filter

rng = np.random.default_rng(20261205)


def frechet(mu1, s1, mu2, s2):
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    d = mu1 - mu2
    return d.dot(d) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def eig_form(mu1, s1, mu2, s2):
    ev = np.linalg.eigvals(s1.dot(s2)).real.clip(0)
    d = mu1 - mu2
    return d.dot(d) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(ev).sum()


out = {}
# full rank: 300 and 260 correlated non-negative features in 48-d
mix = rng.normal(size=(48, 48))
fa = np.maximum(rng.normal(size=(300, 48)) @ mix * 0.1 + 0.3, 0).astype(np.float32)
fb = np.maximum(rng.normal(size=(260, 48)) @ mix * 0.12 + 0.25, 0).astype(np.float32)
for name, f in (("full_a", fa), ("full_b", fb)):
    out[name] = f
# means in float64 (the official np.mean of float32 features rounds them to float32; rq keeps float64)
f64 = lambda f: f.astype(np.float64)
ma, sa = np.mean(f64(fa), axis=0), np.cov(fa, rowvar=False)
mb, sb = np.mean(f64(fb), axis=0), np.cov(fb, rowvar=False)
out["full_fid"] = np.array([frechet(ma, sa, mb, sb)])
out["full_sigma_a"] = sa
# rank-deficient: 20 and 30 samples in 48-d
ra = fa[:20]
rb = fb[:30]
mra, sra = np.mean(f64(ra), axis=0), np.cov(ra, rowvar=False)
mrb, srb = np.mean(f64(rb), axis=0), np.cov(rb, rowvar=False)
out["rank_a"] = ra
out["rank_b"] = rb
out["rank_fid_eig"] = np.array([eig_form(mra, sra, mrb, srb)])
np.savez("fid-reference.npz", **out)


def ssim_skimage(x, y):
    # x, y: [C, H, W] in [0, 1]; skimage.metrics.structural_similarity internals
    vals = []
    for c in range(x.shape[0]):
        X = x[c].astype(np.float64)
        Y = y[c].astype(np.float64)
        f = lambda a: gaussian_filter(a, sigma=1.5, truncate=3.5, mode="reflect")
        ux, uy = f(X), f(Y)
        uxx, uyy, uxy = f(X * X), f(Y * Y), f(X * Y)
        vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
        C1, C2 = 0.01 ** 2, 0.03 ** 2
        S = ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux ** 2 + uy ** 2 + C1) * (vx + vy + C2))
        pad = 5
        vals.append(S[pad:-pad, pad:-pad].mean())
    return np.mean(vals)


ss = {}
a = rng.uniform(-1, 1, size=(2, 3, 24, 31)).astype(np.float32)
a[1] = np.clip(np.cumsum(a[1], axis=2) / 4, -1, 1)  # smoother second image
b = np.clip(a + rng.normal(scale=0.2, size=a.shape), -1.2, 1.2).astype(np.float32)  # recon may leave [-1, 1]
ss["original"] = a
ss["recon"] = b
unit = lambda v: (np.clip(v, -1, 1).astype(np.float64) + 1) / 2
ss["ssim"] = np.array([ssim_skimage(unit(a[i]), unit(b[i])) for i in range(2)])
ss["psnr"] = np.array([10 * np.log10(1 / np.mean((unit(a[i]) - unit(b[i])) ** 2)) for i in range(2)])
np.savez("ssim-reference.npz", **ss)

np.savez_compressed("compressed.npz", f32=np.arange(6, dtype=np.float32).reshape(2, 3),
                    f64_fortran=np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
                    i64=np.array([7, -3], dtype=np.int64))
print(out["full_fid"], out["rank_fid_eig"], ss["ssim"], ss["psnr"])
