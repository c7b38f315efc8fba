#!/usr/bin/env bash
# Stage-1 train step with LPIPS + patch GAN (issue #13.8): this project's step (`rq bench`,
# bench64, batch 16, 2 intra-op threads, the official gan section added with --set; random LPIPS
# weights) against the official trainer's equivalent step (scripts/anchor_stage1_gan.py, the body
# of Trainer.train with the same model, discriminator and LPIPS module), interleaved A B A B ...,
# then the medians and their ratio. Needs the anchor environment of shared/anchor/setup.sh.
# Prints the machine load before and after: numbers from a loaded machine are not comparable.
# Usage: scripts/bench-stage1-gan.sh [rounds, default 3] [seconds per rq measurement, default 10]
#        [anchor iterations per round, default 5]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ROUNDS=${1:-3}
SECS=${2:-10}
ITERS=${3:-5}
ANCHOR=${RQ_ANCHOR:-${TMPDIR:-/tmp}/rq-anchor}
if [[ ! -x $ANCHOR/venv/bin/python || ! -d $ANCHOR/official/rqvae ]]; then
  echo "no anchor environment in $ANCHOR: run shared/anchor/setup.sh <official clone> first" >&2
  exit 2
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "load before: $(uptime)"
for i in $(seq "$ROUNDS"); do
  bin/rq bench --conf conf/rqvae/bench64.yaml --threads 2 --batch 16 --warmup 2 --iters 3 \
    --min-seconds "$SECS" --set gan.loss.disc_start=0 --json "$OUT/rq-$i.json" >/dev/null
  # the official RQVAE constructor prints to stdout ("Working with z of shape ..."): keep the JSON line
  "$ANCHOR/venv/bin/python" scripts/anchor_stage1_gan.py "$ANCHOR/official" 2 16 "$ITERS" | tail -n 1 >"$OUT/anchor-$i.json"
  echo "round $i: rq $(python3 -c "import json;print(round(json.load(open('$OUT/rq-$i.json'))['stage1_gan_train_img_per_s'],2))")" \
    "official $(python3 -c "import json;print(round(json.load(open('$OUT/anchor-$i.json'))['stage1_gan_train_img_per_s'],2))") img/s"
done
echo "load after: $(uptime)"
python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, n = sys.argv[1], int(sys.argv[2])
rq = [json.load(open(f"{out}/rq-{i}.json"))["stage1_gan_train_img_per_s"] for i in range(1, n + 1)]
an = [json.load(open(f"{out}/anchor-{i}.json"))["stage1_gan_train_img_per_s"] for i in range(1, n + 1)]
print(json.dumps({"rq_stage1_gan_train_img_per_s": rq, "official_stage1_gan_train_img_per_s": an,
                  "rq_median": statistics.median(rq), "official_median": statistics.median(an),
                  "ratio_rq_over_official": statistics.median(rq) / statistics.median(an)}))
PY
