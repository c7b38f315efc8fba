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
import anchor_bench64  # noqa: E402  (this folder)
torch = anchor_bench64.start(repo, threads)
vae = anchor_bench64.vae().eval()
B = 16
x = torch.rand(B, 3, 64, 64) * 2 - 1
tr = anchor_bench64.transformer().eval()
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
