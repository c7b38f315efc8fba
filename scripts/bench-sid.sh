#!/usr/bin/env bash
# Speed of the semantic-ID jobs, end to end with bin/rq, on synthetic items (TIGER model, 768 dims):
#   scripts/bench-sid.sh [work-dir]          (default /tmp/rq-sid-bench; ITEMS=1000000 REPS=3 STEPS=60)
# 1. rq sid-items: ITEMS x 768 Gaussian-mixture items (once; reused when present)
# 2. rq train-sid --method rqvae (STEPS steps of batch 1024, the first STEPS/4 the autoencoder warm-up) and
#    --method rq-kmeans: training items/s
# 3. rq assign-sid with the RQ-VAE checkpoint, REPS times: items/s of the Spark job (the manifest's
#    job.seconds: from the job's start to its commit; JVM and Spark session start excluded)
# Prints the machine load (uptime) before and after: numbers from a loaded machine are not speeds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-/tmp/rq-sid-bench}
ITEMS=${ITEMS:-1000000}
REPS=${REPS:-3}
STEPS=${STEPS:-60}
RQ="$ROOT/bin/rq"
export RQ_JAVA_OPTS=${RQ_JAVA_OPTS:--Xmx6g}
mkdir -p "$WORK"
echo "load before: $(uptime)"
if [[ ! -f $WORK/items/_SUCCESS ]]; then
  rm -rf "$WORK/items"
  "$RQ" sid-items --source synthetic --items "$ITEMS" --dim 768 --out "$WORK/items" --workers 2
fi
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
median_ips() { python3 -c "
import glob,json,sys,statistics
v=[json.loads(l)['img_per_s'] for f in sorted(glob.glob(sys.argv[1] + '/metrics/steps-*.jsonl')) for l in open(f) if l.strip()][1:]
print('%.0f' % statistics.median(v) if v else 'n/a')" "$1"; }

rm -rf "$WORK/train-rqvae" "$WORK/train-rqkmeans"
"$RQ" train-sid --conf "$ROOT/conf/sid/tiger.yaml" --data "$WORK/items" --out "$WORK/train-rqvae" --workers 2 \
    --max-steps "$STEPS" --set kmeans.warmup_steps=$((STEPS / 4)) --set train.checkpoint_every=0 --set train.log_every=10
echo "train-sid rqvae: $(median_ips "$WORK/train-rqvae") items/s (median of the logged windows, batch 1024, 2 ranks)"
"$RQ" train-sid --conf "$ROOT/conf/sid/tiger.yaml" --data "$WORK/items" --out "$WORK/train-rqkmeans" --workers 2 \
    --method rq-kmeans --set kmeans.iterations=5
echo "train-sid rq-kmeans: $(median_ips "$WORK/train-rqkmeans") sampled items/s per Lloyd iteration"

CKPT=$(ls -d "$WORK"/train-rqvae/checkpoints/step-* | sort | tail -1)
for rep in $(seq 1 "$REPS"); do
  "$RQ" assign-sid --checkpoint "$CKPT" --data "$WORK/items" --output "$WORK/ids" --workers 2 >/dev/null
  echo "assign-sid run $rep: $(json "$WORK/ids/_sid_manifest.json" "'%d items in %.1f s (encode %.1f s): %.0f items/s' % (d['counts']['read'], d['job']['seconds'], d['job']['encode_seconds'], d['job']['items_per_second'])")"
done
echo "load after: $(uptime)"
