"""Times the official RQ-Transformer train step (bench64, batch 16, fp32 or --tuned bf16 autocast):
median wall time and median calling-thread CPU time per step, after two warm-up steps, and the thread
CPU of its phases (forward + loss, backward, AdamW) and the process's minor page faults per step.

  PYTHON scripts/anchor_transformer_step.py OFFICIAL_REPO_DIR THREADS STEPS [--tuned]

The model, data and optimizer are scripts/anchor_profile_transformer.py's (shared/anchor/anchor_bench.py's
transformer part). Prints `official fp32 T threads: wall W ms, thread cpu C ms per step` and a phase line.
"""
import os
import resource
import sys
import time

args = [a for a in sys.argv[1:] if not a.startswith('--')]
repo, threads, steps = args[0], int(args[1]), int(args[2])
here = os.path.dirname(os.path.abspath(__file__))
# reuse the profile script's set-up (model, data, AdamW, step2) without its profiling tail
src = open(os.path.join(here, "anchor_profile_transformer.py")).read()
src = src[:src.index("with torch.profiler")]
sys.argv = [sys.argv[0], repo, str(threads), "unused.json"] + [a for a in sys.argv[1:] if a.startswith('--')]
g = {"__name__": "anchor_step"}
exec(compile(src, "anchor_profile_transformer.py", "exec"), g)
torch, tr, opt2, vae, codes, cond = g["torch"], g["tr"], g["opt2"], g["vae"], g["codes"], g["cond"]


def phased_step():
    """step2 of the profile script with the thread CPU of its phases (ms)."""
    c0 = time.thread_time()
    opt2.zero_grad()
    if g["tuned"]:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lg = tr(codes, model_aux=vae, cond=cond)
        lg = lg.float()
    else:
        lg = tr(codes, model_aux=vae, cond=cond)
    l = tr.compute_loss(lg, codes)
    c1 = time.thread_time()
    l.backward()
    c2 = time.thread_time()
    opt2.step()
    c3 = time.thread_time()
    return 1e3 * (c1 - c0), 1e3 * (c2 - c1), 1e3 * (c3 - c2)


walls, cpus, faults, parts = [], [], [], [[], [], []]
for _ in range(steps):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    c0, t0 = time.thread_time(), time.time()
    ph = phased_step()
    cpus.append(time.thread_time() - c0)
    walls.append(time.time() - t0)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    for i in range(3):
        parts[i].append(ph[i])
for x in [walls, cpus, faults] + parts:
    x.sort()
m = steps // 2
print("official %s %d threads: wall %.1f ms, thread cpu %.1f ms per step (medians of %d)" % (
    "bf16-tuned" if g["tuned"] else "fp32", threads, walls[m] * 1e3, cpus[m] * 1e3, steps))
print("  thread cpu: forward + loss %.1f, backward %.1f, AdamW %.1f ms; minor faults %d per step" % (
    parts[0][m], parts[1][m], parts[2][m], faults[m]))
