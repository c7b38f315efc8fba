#!/usr/bin/env python3
"""scripts/quickstart-recon-ratio.py BASE_RUN VARIANT_RUN [RANGE]: the training reconstruction loss of a
quickstart stage-1 variant divided by the baseline's at the same steps (same seed and ranks, so the same
images at every step: the per-step losses are paired), averaged over the logged steps of each RANGE steps
(default 100), and each run's median step time. Runs are `rq quickstart` output folders (or their train/).
The loss ratios do not depend on the machine's load; the step times do (compare them only for runs made
side by side)."""
import glob, json, os, statistics, sys


def steps(run):
    train = os.path.join(run, "train") if os.path.isdir(os.path.join(run, "train")) else run
    out = {}
    for f in glob.glob(os.path.join(train, "metrics", "*.jsonl")):
        for line in open(f):
            r = json.loads(line)
            if r.get("event") == "step":
                out[r["step"]] = r
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    base, var = steps(sys.argv[1]), steps(sys.argv[2])
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    common = sorted(set(base) & set(var))
    if not common:
        sys.exit("no common logged steps")
    lo = 0
    while lo < common[-1]:
        sel = [s for s in common if lo < s <= lo + width]
        if sel:
            ratio = statistics.mean(var[s]["recon_loss"] / base[s]["recon_loss"] for s in sel)
            print(f"steps {sel[0]:5d}-{sel[-1]:5d}: recon ratio {ratio:.3f}"
                  f" (base {statistics.mean(base[s]['recon_loss'] for s in sel):.4f},"
                  f" variant {statistics.mean(var[s]['recon_loss'] for s in sel):.4f})")
        lo += width
    for name, d in (("base", base), ("variant", var)):
        print(f"{name}: median step {statistics.median(r['step_seconds'] for r in d.values()):.3f} s"
              f" over {len(d)} logged steps")


main()
