"""Times the official RQ-Transformer train step (bench64, batch 16, fp32 or --tuned bf16 autocast):
median wall time and median calling-thread CPU time per step, after two warm-up steps.

  PYTHON scripts/anchor_transformer_step.py OFFICIAL_REPO_DIR THREADS STEPS [--tuned]

The model, data and optimizer are scripts/anchor_profile_transformer.py's (shared/anchor/anchor_bench.py's
transformer part). Prints one line: `official fp32 T threads: wall W ms, thread cpu C ms per step`.
"""
import os
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
walls, cpus = [], []
for _ in range(steps):
    c0, t0 = time.thread_time(), time.time()
    g["step2"]()
    cpus.append(time.thread_time() - c0)
    walls.append(time.time() - t0)
walls.sort()
cpus.sort()
print("official %s %d threads: wall %.1f ms, thread cpu %.1f ms per step (medians of %d)" % (
    "bf16-tuned" if g["tuned"] else "fp32", threads, walls[steps // 2] * 1e3, cpus[steps // 2] * 1e3, steps))
