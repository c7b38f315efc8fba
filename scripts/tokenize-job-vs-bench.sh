#!/usr/bin/env bash
# scripts/tokenize-job-vs-bench.sh: the Spark tokenize job's rate against the in-process tokenize rate
# of `rq bench` (issue 12: the job should keep >= 0.95x), interleaved in one session, medians.
#
#   scripts/tokenize-job-vs-bench.sh [--rounds N] [--out DIR] [--precision fp32|bf16] [--workers W]
#                                    [--threads T] [--batch B] [--data DIR]
#
# Once: a bench64 RQ-VAE checkpoint (`rq train-vae` on conf/rqvae/bench64.yaml for one step: the
# weights do not change the work). Each round, order alternating: `rq bench` tokenize (one lane of T
# intra-op threads, synthetic images) and `rq tokenize --workers W --batch-size B` on the dataset
# (W lanes of T/W threads; job.images_per_second of the token manifest: the write stage, from the
# first task to the last file, decoding and Parquet writing included). Prints both medians, their
# ratio, the per-round ratios and the 1-minute load before every run. A loaded machine gives noisy
# ratios; the coordinator's figures come from an idle one.
#
#   --rounds N     rounds (default 3)
#   --out DIR      raw outputs and summary.txt (default target/tokenize-job-vs-bench-<time>)
#   --precision P  fp32 (default) or bf16 (both sides)
#   --workers W    Spark local[W] lanes of the job (default 2)
#   --threads T    intra-op threads of rq bench (default 2; the job gets T/W per lane, at least 1)
#   --batch B      images per model call, both sides (default 16)
#   --data DIR     dataset root (default data/emoji)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=3
OUT=
PRECISION=fp32
WORKERS=2
THREADS=2
BATCH=16
DATA=data/emoji
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --precision) PRECISION=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "tokenize-job-vs-bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "tokenize-job-vs-bench: --rounds must be a positive integer" >&2; exit 2; }
[[ $PRECISION == fp32 || $PRECISION == bf16 ]] || { echo "tokenize-job-vs-bench: --precision fp32|bf16" >&2; exit 2; }
cd "$ROOT"
OUT=${OUT:-$ROOT/target/tokenize-job-vs-bench-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
export RQ_LOG_DIR="$OUT/logs"
LANE_THREADS=$((THREADS / WORKERS)); ((LANE_THREADS >= 1)) || LANE_THREADS=1
echo "tokenize-job-vs-bench: $ROUNDS round(s), $PRECISION, job $WORKERS lanes x $LANE_THREADS threads vs bench 1 lane x $THREADS threads, batch $BATCH; raw results in $OUT"
bin/rq --help >/dev/null # builds first when sources changed, so that no build is timed
load() { echo "$1 $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/load.txt"; }

CKPT="$OUT/vae/checkpoints/step-00000001"
if [[ ! -f $CKPT/manifest.json ]]; then
  bin/rq train-vae --conf conf/rqvae/bench64.yaml --data "$DATA/train" --out "$OUT/vae" --max-steps 1 \
    --checkpoint-every 1 >"$OUT/train-vae.out" 2>&1 || {
    echo "tokenize-job-vs-bench: making the bench64 checkpoint failed, see $OUT/train-vae.out" >&2; exit 1; }
fi

bench() { # $1 round
  load "bench-$1"
  bin/rq bench --conf conf/rqvae/bench64.yaml --threads "$THREADS" --batch "$BATCH" --precision "$PRECISION" \
    --json "$OUT/bench-$1.json" >"$OUT/bench-$1.out" 2>&1 || {
    echo "tokenize-job-vs-bench: rq bench failed, see $OUT/bench-$1.out" >&2; exit 1; }
}

job() { # $1 round
  load "job-$1"
  bin/rq tokenize --checkpoint "$CKPT" --data "$DATA" --output "$OUT/tokens-$1" --workers "$WORKERS" \
    --threads "$LANE_THREADS" --batch-size "$BATCH" --precision "$PRECISION" >"$OUT/job-$1.out" 2>&1 || {
    echo "tokenize-job-vs-bench: rq tokenize failed, see $OUT/job-$1.out" >&2; exit 1; }
  rm -rf "$OUT/tokens-$1"/*.parquet "$OUT/tokens-$1"/*/ 2>/dev/null || true # keep the manifest only
}

for ((i = 1; i <= ROUNDS; i++)); do
  if ((i % 2)); then bench "$i"; job "$i"; else job "$i"; bench "$i"; fi
  echo "  round $i done"
done
load end

/usr/bin/env python3 - "$OUT" "$ROUNDS" "$PRECISION" <<'PY'
import json, os, statistics, sys
out, rounds, precision = sys.argv[1], int(sys.argv[2]), sys.argv[3]
key = "tokenize_img_per_s" if precision == "fp32" else "tokenize_bf16_img_per_s"
rows = []
for i in range(1, rounds + 1):
    b = json.load(open(os.path.join(out, f"bench-{i}.json")))[key]
    m = json.load(open(os.path.join(out, f"tokens-{i}", "_tokens_manifest.json")))
    job = m["job"]
    j = job.get("images_per_second", job.get("imagesPerSecond"))
    rows.append((b, j, job.get("seconds")))
loads = [float(l.split()[1]) for l in open(os.path.join(out, "load.txt"))]
mb = statistics.median(r[0] for r in rows)
mj = statistics.median(r[1] for r in rows)
ratios = [r[1] / r[0] for r in rows]
lines = [f"round {i + 1}: bench {r[0]:.1f} img/s, job {r[1]:.1f} img/s ({r[2]} s), ratio {r[1] / r[0]:.2f}"
         for i, r in enumerate(rows)]
lines.append(f"median: bench {mb:.1f} img/s, job {mj:.1f} img/s; ratio of medians {mj / mb:.2f},"
             f" median of round ratios {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})")
lines.append(f"{precision}; 1-minute load average before the runs: {min(loads):.2f} to {max(loads):.2f}")
text = "\n".join(lines)
open(os.path.join(out, "summary.txt"), "w").write(text + "\n")
print(text)
PY
