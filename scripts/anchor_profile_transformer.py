"""One official RQ-Transformer train step (bench64, batch 16, fp32 or --tuned bf16 autocast) under
torch.profiler; writes its chrome trace (sum it with scripts/profile-summary.py).

  PYTHON scripts/anchor_profile_transformer.py OFFICIAL_REPO_DIR THREADS OUT.json [--tuned]

The model, data and optimizer are shared/anchor/anchor_bench.py's (its transformer part).
"""
import sys
args = [a for a in sys.argv[1:] if not a.startswith('--')]
repo, threads, out = args[0], int(args[1]), args[2]
import anchor_bench64  # noqa: E402  (this folder)
torch = anchor_bench64.start(repo, threads)
vae = anchor_bench64.vae().eval()
B = 16
x = torch.rand(B, 3, 64, 64) * 2 - 1
tr = anchor_bench64.transformer()
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
with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as prof:
    step2()
prof.export_chrome_trace(out)
print("wrote", out)
