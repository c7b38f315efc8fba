#!/usr/bin/env bash
# scripts/quickstart-rank-threads-ab.sh [ROUNDS [STEPS]]: step cost of the quickstart's stage-1 training with
# 2 ranks x 1 libtorch thread (the default: `--workers 2`, micro-batch 4 per rank) against 1 rank x 2
# threads (`--workers 1 --spark-conf spark.master=local[2,4] --spark-conf spark.task.cpus=2`,
# micro-batch 8): the same global batch of 8, the same config and seed, so the same images per step.
# Runs `rq train-vae` for STEPS steps (default 40) per layout, alternating for ROUNDS rounds (default 2),
# and prints the median step time of steps after the 10th of each run and the ratio (> 1: one rank with
# two threads is faster). Meaningful only on an idle machine (prints the load). Issue #15 item 2.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${1:-2}"; STEPS="${2:-40}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rq-rank-threads-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
export RQ_JAVA_OPTS="${RQ_JAVA_OPTS:--Xmx3g}"
CONF="$ROOT/conf/rqvae/quickstart.yaml"
median() { python3 - "$1" <<'PY'
import glob, json, statistics, sys
t = [json.loads(l)["step_seconds"] for f in glob.glob(sys.argv[1] + "/metrics/*.jsonl") for l in open(f)
     if json.loads(l).get("event") == "step" and json.loads(l)["step"] > 10]
print(f"{statistics.median(t):.4f}")
PY
}
echo "load before: $(uptime)"
for r in $(seq 1 "$ROUNDS"); do
  "$ROOT/bin/rq" train-vae --conf "$CONF" --data "$ROOT/data/emoji/train" --out "$WORK/r$r-2x1" --workers 2 \
    --max-steps "$STEPS" --checkpoint-every "$STEPS" --set train.log_every=1 > "$WORK/r$r-2x1.log" 2>&1 \
    || { tail -5 "$WORK/r$r-2x1.log"; exit 1; }
  "$ROOT/bin/rq" --spark-conf 'spark.master=local[2,4]' --spark-conf spark.task.cpus=2 train-vae --conf "$CONF" \
    --data "$ROOT/data/emoji/train" --out "$WORK/r$r-1x2" --workers 1 --max-steps "$STEPS" \
    --checkpoint-every "$STEPS" --set train.log_every=1 --set train.micro_batch_size=8 > "$WORK/r$r-1x2.log" 2>&1 \
    || { tail -5 "$WORK/r$r-1x2.log"; exit 1; }
  a=$(median "$WORK/r$r-2x1"); b=$(median "$WORK/r$r-1x2")
  echo "round $r: median step 2 ranks x 1 thread $a s, 1 rank x 2 threads $b s, ratio $(python3 -c "print(round($a/$b, 3))") (load $(cut -d' ' -f1-3 /proc/loadavg))"
done
echo "load after: $(uptime)"
