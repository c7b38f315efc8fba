#!/usr/bin/env bash
# scripts/allreduce-share.sh: the data-parallel all-reduce's share of a training step (issue 12), for
# the bench64 RQ-VAE and the quickstart RQ-VAE, 2 ranks on local Spark.
#
#   scripts/allreduce-share.sh [--steps N] [--skip K] [--workers W] [--out DIR] [--data DIR] [--set KEY=VALUE]...
#
# Runs `rq train-vae` for N steps on each config (every step logged, no checkpoint until the last) and
# prints, over the logged steps after the first K (warm-up), the medians per step of rank 0 (the rank
# that logs; both ranks wait for each other, so rank 0's wait is its share of the imbalance):
#   step        wall time of the step
#   all-reduce  GradientReduction: host copies + ring all-reduce
#   wait        from the ring call to the first bytes of the other rank (waiting for the slower rank)
#   transfer    the rest of the ring call (sending, receiving, summing)
#   copies      gradients into the flat host buffer and back into tensors
# and each as a share of the step. Speed-like figures: under load they are noisy; the load is printed.
#
#   --steps N    steps per run (default 60)
#   --skip K     first steps left out (default 10)
#   --workers W  ranks (default 2)
#   --out DIR    run folders and summary.txt (default target/allreduce-share-<time>)
#   --data DIR   dataset root (default data/emoji)
#   --set K=V    config override for both runs (repeatable), e.g. --set train.allreduce_bucket_mb=1;
#                with --set train.shard_optimizer_state=true the parameter sync's median is printed too
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STEPS=60
SKIP=10
WORKERS=2
OUT=
DATA=data/emoji
SETS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --steps) STEPS=$2; shift 2 ;;
    --skip) SKIP=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --set) SETS+=(--set "$2"); shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "allreduce-share: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
((STEPS > SKIP)) || { echo "allreduce-share: --steps must exceed --skip" >&2; exit 2; }
cd "$ROOT"
OUT=${OUT:-$ROOT/target/allreduce-share-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export RQ_LOG_DIR="$OUT/logs"
bin/rq --help >/dev/null # builds first when sources changed
: >"$OUT/load.txt"
for name in bench64 quickstart; do
  echo "$name $(uptime)" | tee -a "$OUT/load.txt"
  rm -rf "$OUT/$name"
  bin/rq train-vae --conf "conf/rqvae/$name.yaml" --data "$DATA/train" --out "$OUT/$name" --workers "$WORKERS" \
    --max-steps "$STEPS" --checkpoint-every "$STEPS" --set train.log_every=1 "${SETS[@]}" >"$OUT/$name.out" 2>&1 \
    || { echo "allreduce-share: train-vae $name failed, see $OUT/$name.out" >&2; tail -3 "$OUT/$name.out" >&2; exit 1; }
done
echo "end $(uptime)" | tee -a "$OUT/load.txt"

python3 - "$OUT" "$SKIP" "$WORKERS" <<'PY'
import glob, json, os, statistics, sys
out, skip, workers = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = [f"{workers} ranks, medians over the logged steps after step {skip} (rank 0):",
         "| model | steps | step ms | all-reduce ms (share) | wait ms (share) | transfer ms (share) | copies ms (share) |",
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
extra = []
for name in ("bench64", "quickstart"):
    rows = []
    for f in sorted(glob.glob(os.path.join(out, name, "metrics", "*.jsonl"))):
        for l in open(f):
            if l.strip():
                j = json.loads(l)
                if j.get("step", 0) > skip and "allreduce_wait_seconds" in j:
                    rows.append(j)
    if not rows:
        sys.exit(f"allreduce-share: no step metrics with allreduce_wait_seconds in {out}/{name}/metrics")
    step = statistics.median(r["step_seconds"] for r in rows)
    ar = statistics.median(r["allreduce_seconds"] for r in rows)
    wait = statistics.median(r["allreduce_wait_seconds"] for r in rows)
    copy = statistics.median(r["allreduce_copy_seconds"] for r in rows)
    tr = statistics.median(r["allreduce_seconds"] - r["allreduce_wait_seconds"] - r["allreduce_copy_seconds"]
                           for r in rows)
    share = statistics.median(r["allreduce_seconds"] / r["step_seconds"] for r in rows)
    f = lambda v, s: f"{1000 * v:.1f} ({100 * s:.1f} %)"
    lines.append(f"| {name} | {len(rows)} | {1000 * step:.0f} | {f(ar, share)} | {f(wait, wait / step)} |"
                 f" {f(tr, tr / step)} | {f(copy, copy / step)} |")
    if all("param_sync_seconds" in r for r in rows):  # train.shard_optimizer_state
        sync = statistics.median(r["param_sync_seconds"] for r in rows)
        extra.append(f"{name}: parameter sync (train.shard_optimizer_state) {f(sync, sync / step)}")
lines.append("(all-reduce share: median of the per-step shares; the other shares: median ms / median step ms)")
lines += extra
lines += ["load: " + l.strip() for l in open(os.path.join(out, "load.txt"))]
text = "\n".join(lines)
open(os.path.join(out, "summary.txt"), "w").write(text + "\n")
print(text)
PY
