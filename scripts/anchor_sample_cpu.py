"""Times the official KV-cached sampling call (bench64, batch 16, top-k 100, top-p 0.95; fp32 or --tuned
bf16 autocast, as shared/anchor/anchor_bench.py's `sample` / `sample_tuned`): median wall time and median
calling-thread CPU time per call after one warm-up call; with PROFILE=OUT.json among the arguments, one more
call under torch.profiler (sum it with scripts/profile-summary.py).

  PYTHON scripts/anchor_sample_cpu.py OFFICIAL_REPO_DIR THREADS CALLS [--tuned] [PROFILE=OUT.json]

Prints one line: `official fp32|bf16-tuned T threads sample: wall W ms, thread cpu C ms per call`. With one
intra-op thread every operator runs on the calling thread, so its CPU time is the call's work on a loaded machine
(compare with scripts/SampleAb.java at 1 thread).
"""
import sys
import time
args = [a for a in sys.argv[1:] if not a.startswith('--') and not a.startswith('PROFILE=')]
repo, threads, calls = args[0], int(args[1]), int(args[2])
profile = next((a[len('PROFILE='):] for a in sys.argv[1:] if a.startswith('PROFILE=')), None)
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
tr = get_rqtransformer(cfg).eval()
with torch.no_grad():
    codes = vae.get_codes(x)
cond = torch.randint(0, 10, (B, 1))
tuned = "--tuned" in sys.argv
def sample():
    if tuned:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            tr.sample(torch.zeros_like(codes), model_aux=vae, cond=cond, top_k=100, top_p=0.95)
    else:
        tr.sample(torch.zeros_like(codes), model_aux=vae, cond=cond, top_k=100, top_p=0.95)
sample()
walls, cpus = [], []
for _ in range(calls):
    c0, t0 = time.thread_time(), time.time()
    sample()
    cpus.append(time.thread_time() - c0)
    walls.append(time.time() - t0)
walls.sort()
cpus.sort()
print("official %s %d threads sample: wall %.1f ms, thread cpu %.1f ms per call (medians of %d)" % (
    "bf16-tuned" if tuned else "fp32", threads, walls[calls // 2] * 1e3, cpus[calls // 2] * 1e3, calls))
if profile:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        sample()
    prof.export_chrome_trace(profile)
    print("wrote", profile)
