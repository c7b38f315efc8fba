"""The official RQ-VAE training step's cost per step: wall, thread CPU, process CPU and minor page faults
(medians of N steps after 2 untimed ones), to set beside scripts/VaeStepAb.java's figures for ours.

  PYTHON scripts/anchor_vae_step_cpu.py OFFICIAL_REPO_DIR THREADS [STEPS] [--tuned | --channels-last]

The model, data and step are scripts/anchor_profile_vae.py's (bench64, batch 16, forward + compute_loss + backward
+ Adam; --tuned: channels_last and bfloat16 autocast as anchor_bench.py --tuned; --channels-last: float32 in
channels_last). With 1 thread every operator runs
on the calling thread, so its CPU time is the step's work even on a loaded machine. Also prints the forward,
backward and optimizer thread CPU medians.
"""
import resource
import statistics
import sys
import time

repo, threads = sys.argv[1], int(sys.argv[2])
steps = int(sys.argv[3]) if len(sys.argv) > 3 and not sys.argv[3].startswith("--") else 5
tuned = "--tuned" in sys.argv[3:]
cl = tuned or "--channels-last" in sys.argv[3:]
import anchor_bench64  # noqa: E402  (this folder)
torch = anchor_bench64.start(repo, threads)
vae = anchor_bench64.vae()
x = torch.rand(16, 3, 64, 64) * 2 - 1
opt = torch.optim.Adam(vae.parameters(), lr=4e-5, betas=(0.5, 0.9))
if cl:
    vae = vae.to(memory_format=torch.channels_last); x = x.contiguous(memory_format=torch.channels_last)
vae.train()
parts = {"forward": [], "backward": [], "adam": []}


def step():
    c0 = time.thread_time()
    opt.zero_grad()
    if tuned:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            o, ql, code = vae(x)
        loss = vae.compute_loss(o.float(), ql.float(), code, xs=x)["loss_total"]
    else:
        o, ql, code = vae(x)
        loss = vae.compute_loss(o, ql, code, xs=x)["loss_total"]
    c1 = time.thread_time()
    loss.backward()
    c2 = time.thread_time()
    opt.step()
    c3 = time.thread_time()
    return 1000 * (c1 - c0), 1000 * (c2 - c1), 1000 * (c3 - c2)


wall, cpu, proc, faults = [], [], [], []
for i in range(steps + 2):
    r0, c0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.thread_time(), time.perf_counter()
    f, b, a = step()
    t1, c1, r1 = time.perf_counter(), time.thread_time(), resource.getrusage(resource.RUSAGE_SELF)
    if i >= 2:
        wall.append(1000 * (t1 - t0)); cpu.append(1000 * (c1 - c0))
        proc.append(1000 * (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime))
        faults.append(r1.ru_minflt - r0.ru_minflt)
        parts["forward"].append(f); parts["backward"].append(b); parts["adam"].append(a)
print(f"official {'tuned' if tuned else 'fp32 channels_last' if cl else 'fp32'} VAE train step (batch 16), {threads} threads, medians of {steps}:"
      f" wall {statistics.median(wall):.1f} ms, thread cpu {statistics.median(cpu):.1f} ms"
      f" (forward+loss {statistics.median(parts['forward']):.1f}, backward {statistics.median(parts['backward']):.1f},"
      f" adam {statistics.median(parts['adam']):.1f}), process cpu {statistics.median(proc):.1f} ms,"
      f" minor faults {statistics.median(faults):.0f}")
print("  thread cpu per step:", [round(c) for c in cpu])
