"""The official stage-1 training step WITH LPIPS and the patch GAN, timed (the anchor of
scripts/bench-stage1-gan.sh; extends shared/anchor/anchor_bench.py, whose vae_train_img_per_s has
neither term).

  PYTHON scripts/anchor_stage1_gan.py OFFICIAL_REPO_DIR [threads] [batch] [iters]

One step = the body of the official `Trainer.train` loop (rqvae/trainers/trainer_rqvae.py) with the
ImageNet loss settings (hinge, vanilla, disc_weight 0.75, perceptual_weight 1.0, disc_start 0):
RQ-VAE forward + compute_loss, LPIPS(x, x_recon), D(x_recon), the adaptive weight (two
autograd.grad calls at decoder.conv_out.weight), backward, Adam step; then D(sg x_recon), D(x),
hinge loss, backward of 0.75*loss, discriminator Adam step. bench64 RQ-VAE (as anchor_bench.py),
official NLayerDiscriminator (n_layers 2, ndf 64, weights_init), official LPIPS module with RANDOM
VGG16 and head weights (the pretrained files are not downloaded; the cost is the same).
torchvision is not installed in the anchor environment: a stand-in `torchvision.models.vgg16`
builds the same `features` layers (13 3x3 convolutions, ReLU, 4 max pools) that lpips.py slices.
Prints one JSON line.
"""
import json
import sys
import time
import types

args = [a for a in sys.argv[1:] if not a.startswith('--')]
repo = args[0]
threads = int(args[1]) if len(args) > 1 else 2
B = int(args[2]) if len(args) > 2 else 16
iters = int(args[3]) if len(args) > 3 else 5
sys.path.insert(0, repo)
try:
    import _torchshim  # noqa: F401  (shared/anchor/setup.sh's shim for the venv's torch)
except ImportError:
    pass
import torch
import torch.nn as nn


def _vgg16_features():
    cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']
    layers, c = [], 3
    for v in cfg:
        if v == 'M':
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers)


if 'torchvision' not in sys.modules:
    try:
        import torchvision  # noqa: F401
    except ImportError:
        tv = types.ModuleType('torchvision')
        tvm = types.ModuleType('torchvision.models')
        tvm.vgg16 = lambda pretrained=False, **kw: types.SimpleNamespace(features=_vgg16_features())
        tv.models = tvm
        sys.modules['torchvision'] = tv
        sys.modules['torchvision.models'] = tvm

import rqvae.losses.vqgan.lpips as lpips_mod  # noqa: E402
from rqvae.losses.vqgan.discriminator import NLayerDiscriminator, weights_init  # noqa: E402
from rqvae.losses.vqgan.gan_loss import hinge_d_loss, vanilla_g_loss  # noqa: E402
from rqvae.models.rqvae.rqvae import RQVAE  # noqa: E402

try:
    from rqvae.trainers.trainer_rqvae import calculate_adaptive_weight  # noqa: E402
    adaptive_source = "rqvae.trainers.trainer_rqvae"
except Exception:  # the trainer module imports more than this environment has: the same 6 lines
    def calculate_adaptive_weight(nll_loss, g_loss, last_layer):
        nll_grads = torch.autograd.grad(nll_loss, last_layer, retain_graph=True)[0]
        g_grads = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
        d_weight = torch.norm(nll_grads) / (torch.norm(g_grads) + 1e-4)
        return torch.clamp(d_weight, 0.0, 1e4).detach()
    adaptive_source = "transcribed from rqvae/trainers/trainer_rqvae.py"

lpips_mod.LPIPS.load_from_pretrained = lambda self, name="vgg_lpips": None  # random weights, no download

torch.set_num_threads(threads)
torch.manual_seed(0)
dd = dict(double_z=False, z_channels=64, resolution=64, in_channels=3, out_ch=3, ch=64, ch_mult=[1, 1, 2, 2],
          num_res_blocks=2, attn_resolutions=[8], dropout=0.0)
vae = RQVAE(ddconfig=dd, embed_dim=64, n_embed=1024, decay=0.99, loss_type="mse", latent_loss_weight=0.25,
            bottleneck_type="rq", latent_shape=[8, 8, 64], code_shape=[8, 8, 4], shared_codebook=True,
            restart_unused_codes=True)
disc = NLayerDiscriminator(input_nc=3, n_layers=2, use_actnorm=False, ndf=64).apply(weights_init)
pcpt = lpips_mod.LPIPS().eval()
for p in pcpt.parameters():
    p.requires_grad = False
opt = torch.optim.Adam(vae.parameters(), lr=4e-5, betas=(0.5, 0.9))
dopt = torch.optim.Adam(disc.parameters(), lr=4e-5, betas=(0.5, 0.9))
p_weight, d_weight = 1.0, 0.75
x = torch.rand(B, 3, 64, 64) * 2 - 1
vae.train()
disc.train()


def step():
    vae.zero_grad(set_to_none=True)
    out = vae(x)
    xs_recon = out[0]
    losses = vae.compute_loss(*out, xs=x)
    loss_pcpt = pcpt(x, xs_recon)
    loss_gen = vanilla_g_loss(disc(xs_recon.contiguous(), None)[0])
    g_weight = calculate_adaptive_weight(losses['loss_recon'] + p_weight * loss_pcpt, loss_gen,
                                         last_layer=vae.get_last_layer())
    loss_gen_total = losses['loss_total'] + p_weight * loss_pcpt + g_weight * d_weight * loss_gen
    loss_gen_total.backward()
    opt.step()
    disc.zero_grad(set_to_none=True)
    logits_fake, logits_real = disc(xs_recon.contiguous().detach(), x.contiguous().detach())
    (d_weight * hinge_d_loss(logits_real, logits_fake)).backward()
    dopt.step()


def rate(fn, n):
    fn()
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return n * B / (time.perf_counter() - t)


print(json.dumps({"torch": torch.__version__, "threads": threads, "batch": B,
                  "adaptive_weight_from": adaptive_source,
                  "stage1_gan_train_img_per_s": rate(step, iters)}))
