#!/usr/bin/env bash
# scripts/quickstart-stage2-variants.sh STAGE1_RUN OUT NAME STEPS [train-transformer options...]: one stage-2
# variant of the quickstart (issue #15 item 2) on the token table and final checkpoint of a finished stage-1
# quickstart run (STAGE1_RUN/tokens, STAGE1_RUN/train/checkpoints/step-*), trained for STEPS steps with
# conf/rqtransformer/quickstart.yaml (cosine fitted to STEPS) plus the given options (e.g. --set key=value);
# then the held-out bits per code at every checkpoint and samples (8 per class, seed 0) of the final
# checkpoint for each sampling setting in SAMPLINGS ("temperature:top_k:top_p" list, default the config's
# and two colder ones). Quality only: bits/code and samples do not depend on the machine's load.
#   scripts/quickstart-stage2-variants.sh runs/qs6/s1 runs/qs6/s2 base 800
#   SAMPLINGS="0.7:16:1.0" scripts/quickstart-stage2-variants.sh runs/qs6/s1 runs/qs6/s2 nodrop 800 \
#       --set model.body.block.resid_pdrop=0.0 --set model.head.block.resid_pdrop=0.0
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
S1="$(cd "$1" && pwd)"; OUT="$2"; NAME="$3"; STEPS="$4"; shift 4
export RQ_JAVA_OPTS="${RQ_JAVA_OPTS:--Xmx3g}"
VAE="$(ls -d "$S1"/train/checkpoints/step-* | sort | tail -1)"
RUN="$OUT/$NAME"
mkdir -p "$OUT"
start=$(date +%s)
"$ROOT/bin/rq" train-transformer --conf "$ROOT/conf/rqtransformer/quickstart.yaml" --tokens "$S1/tokens" \
  --vae "$VAE" --out "$RUN" --workers "${RQ_WORKERS:-2}" --max-steps "$STEPS" "$@" > "$OUT/$NAME.log" 2>&1 \
  || { tail -5 "$OUT/$NAME.log"; exit 1; }
echo "$NAME: trained $STEPS steps in $(( $(date +%s) - start )) s (load $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$RUN/heldout.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    per = r.get("bits_per_code") or r.get("per_depth")
    print("  held-out step", r.get("step"), {k: v for k, v in r.items() if k != "step"})
PY
CKPT="$(ls -d "$RUN"/checkpoints/step-* | sort | tail -1)"
for s in ${SAMPLINGS:-1.0:64:0.95 0.7:16:1.0 0.5:8:1.0}; do
  IFS=: read -r t k p <<< "$s"
  "$ROOT/bin/rq" sample --checkpoint "$CKPT" --vae "$VAE" --classes all --per-class 8 --seed 0 \
    --temperature "$t" --top-k "$k" --top-p "$p" --workers "${RQ_WORKERS:-2}" \
    --output "$RUN/samples-t$t-k$k-p$p" >> "$OUT/$NAME.log" 2>&1 || { tail -5 "$OUT/$NAME.log"; exit 1; }
  echo "  samples t=$t top-k=$k top-p=$p: $RUN/samples-t$t-k$k-p$p/grids"
done
