#!/usr/bin/env bash
# notebooks/pipeline.sh [OUT]: the small pipeline run the notebooks read (default OUT: runs/notebooks).
#   OUT/quickstart   a short `rq quickstart` (stage 1: 300 steps, stage 2: 200 steps, 2 samples per class):
#                    dataset check, RQ-VAE run, token table, decoded validation images, RQ-Transformer run, samples
#   OUT/vae-lr3e-4   a second RQ-VAE run of the same model with a lower learning rate (the run comparison)
# Rerunning skips what is done (quickstart stages, finished training runs). About 4 minutes on 2 idle cores.
# RQ_NB_STEPS / RQ_NB_STAGE2_STEPS (multiples of 10) shorten both trainings on a loaded machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/runs/notebooks}"
export RQ_JAVA_OPTS="${RQ_JAVA_OPTS:--Xmx3g}"
STEPS="${RQ_NB_STEPS:-300}"
STAGE2_STEPS="${RQ_NB_STAGE2_STEPS:-200}"
mkdir -p "$OUT"
"$ROOT/bin/rq" quickstart --out "$OUT/quickstart" --max-steps "$STEPS" --stage2-max-steps "$STAGE2_STEPS" \
  --samples-per-class 2
"$ROOT/bin/rq" train-vae --conf "$ROOT/conf/rqvae/quickstart.yaml" --data "$ROOT/data/emoji/train" \
  --out "$OUT/vae-lr3e-4" --workers 2 --max-steps "$STEPS" --set train.lr=3e-4
echo "notebook inputs ready in $OUT"
