#!/usr/bin/env bash
# scripts/quickstart-tokenize-batch-ab.sh CHECKPOINT [ROUNDS [BATCHES]]: the quickstart's tokenize stage at
# different batch sizes (issue #15 item 2: "tokenize 60 s looks long"): `rq tokenize` of the emoji train and
# validation splits (1,906 images, center view, 2 workers) with the quickstart RQ-VAE checkpoint CHECKPOINT,
# once per batch size in BATCHES (default "64 8"), alternating for ROUNDS rounds (default 2); prints the
# committed rate (rows/s, from the job's summary line) per run and the summed task encoding time. Speed:
# meaningful only on an idle machine (prints the load); the tables are identical at any batch size.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CKPT="$1"; ROUNDS="${2:-2}"; BATCHES="${3:-64 8}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rq-tok-batch-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
export RQ_JAVA_OPTS="${RQ_JAVA_OPTS:--Xmx3g}"
echo "load before: $(uptime)"
for r in $(seq 1 "$ROUNDS"); do
  for b in $BATCHES; do
    "$ROOT/bin/rq" tokenize --checkpoint "$CKPT" --data "$ROOT/data/emoji" --split train,validation \
      --variants center --batch-size "$b" --workers 2 --output "$WORK/t$r-$b" > "$WORK/t$r-$b.log" 2>&1 \
      || { tail -5 "$WORK/t$r-$b.log"; exit 1; }
    enc=$(grep -o 'encoding [0-9]* ms' "$WORK/t$r-$b.log" | awk '{s += $2} END {print s / 1000}')
    rate=$(grep -o 'rows in [0-9]* files, [0-9.]* s ([0-9.]* rows/s)' "$WORK/t$r-$b.log" | tail -1)
    echo "round $r batch $b: $rate; task encoding time summed $enc s (load $(cut -d' ' -f1-3 /proc/loadavg))"
  done
done
echo "load after: $(uptime)"
