"""One official RQ-Transformer train step (bench64, batch 16, fp32 or --tuned bf16 autocast) under
torch.profiler; writes its chrome trace (sum it with scripts/profile-summary.py).

  PYTHON scripts/anchor_profile_transformer.py OFFICIAL_REPO_DIR THREADS OUT.json [--tuned]

The model, data and optimizer are shared/anchor/anchor_bench.py's (its transformer part).
"""
import sys
args = [a for a in sys.argv[1:] if not a.startswith('--')]
repo, threads, out = args[0], int(args[1]), args[2]
sys.path.insert(0, repo)
try:
    import _torchshim  # noqa: F401
except ImportError:
    pass
import torch
from omegaconf import OmegaConf
from rqvae.models.rqvae.rqvae import RQVAE
from rqvae.models.rqtransformer import get_rqtransformer
from rqvae.models.rqtransformer.configs import RQTransformerConfig
torch.set_num_threads(threads); torch.manual_seed(0)
dd = dict(double_z=False, z_channels=64, resolution=64, in_channels=3, out_ch=3, ch=64, ch_mult=[1, 1, 2, 2],
          num_res_blocks=2, attn_resolutions=[8], dropout=0.0)
vae = RQVAE(ddconfig=dd, embed_dim=64, n_embed=1024, decay=0.99, loss_type="mse", latent_loss_weight=0.25,
            bottleneck_type="rq", latent_shape=[8, 8, 64], code_shape=[8, 8, 4], shared_codebook=True,
            restart_unused_codes=True).eval()
B = 16
x = torch.rand(B, 3, 64, 64) * 2 - 1
cfg = RQTransformerConfig.create(OmegaConf.create(dict(type="rq-transformer", vocab_size=1024, block_size=[8, 8, 4],
    embed_dim=256, input_embed_dim=64, shared_tok_emb=True, shared_cls_emb=True, input_emb_vqvae=True,
    head_emb_vqvae=True, cumsum_depth_ctx=True, vocab_size_cond=10, block_size_cond=1,
    body=dict(n_layer=4, block=dict(n_head=8)), head=dict(n_layer=2, block=dict(n_head=8)))))
tr = get_rqtransformer(cfg)
with torch.no_grad():
    codes = vae.get_codes(x)
cond = torch.randint(0, 10, (B, 1))
opt2 = torch.optim.AdamW(tr.parameters(), lr=5e-4, betas=(0.9, 0.95), weight_decay=1e-4)
tr.train()
tuned = "--tuned" in sys.argv
def step2():
    opt2.zero_grad()
    if tuned:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lg = tr(codes, model_aux=vae, cond=cond)
        lg = lg.float()
    else:
        lg = tr(codes, model_aux=vae, cond=cond)
    l = tr.compute_loss(lg, codes); l.backward(); opt2.step()
step2(); step2()
with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
    step2()
prof.export_chrome_trace(out)
print("wrote", out)
