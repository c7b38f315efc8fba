#!/usr/bin/env bash
# Speed of the semantic-ID jobs, end to end with bin/rq, on synthetic items (TIGER model, 768 dims):
#   scripts/bench-sid.sh [work-dir]          (default /tmp/rq-sid-bench; ITEMS=1000000 REPS=3 STEPS=60)
# 1. rq sid-items: ITEMS x 768 Gaussian-mixture items (once; reused when present)
# 2. rq train-sid --method rqvae (STEPS steps of batch 1024, the first STEPS/4 the autoencoder warm-up) and
#    --method rq-kmeans: training items/s
# 3. rq assign-sid with the RQ-VAE checkpoint, REPS times per precision (PRECISIONS="fp32 bf16",
#    interleaved): items/s of the Spark job (the manifest's job.seconds: from the job's start to its
#    commit; JVM and Spark session start excluded) and its phase split (job.phases: the driver's phases
#    in wall seconds; task.read/copy/codes/recon/rows: the encode tasks' parts, seconds summed over
#    tasks); then how often bf16's codes equal fp32's
# Skip steps 1-2 with CKPT=<checkpoint dir> (and ITEMS ignored when $WORK/items exists).
# Prints the machine load (uptime) before and after: numbers from a loaded machine are not speeds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-/tmp/rq-sid-bench}
ITEMS=${ITEMS:-1000000}
REPS=${REPS:-3}
STEPS=${STEPS:-60}
PRECISIONS=${PRECISIONS:-fp32 bf16}   # assign-sid --precision values, interleaved per rep
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

if [[ -z ${CKPT:-} ]]; then
rm -rf "$WORK/train-rqvae" "$WORK/train-rqkmeans"
"$RQ" train-sid --conf "$ROOT/conf/sid/tiger.yaml" --data "$WORK/items" --out "$WORK/train-rqvae" --workers 2 \
    --max-steps "$STEPS" --set kmeans.warmup_steps=$((STEPS / 4)) --set train.checkpoint_every=0 --set train.log_every=10
echo "train-sid rqvae: $(median_ips "$WORK/train-rqvae") items/s (median of the logged windows, batch 1024, 2 ranks)"
"$RQ" train-sid --conf "$ROOT/conf/sid/tiger.yaml" --data "$WORK/items" --out "$WORK/train-rqkmeans" --workers 2 \
    --method rq-kmeans --set kmeans.iterations=5
echo "train-sid rq-kmeans: $(median_ips "$WORK/train-rqkmeans") sampled items/s per Lloyd iteration"
CKPT=$(ls -d "$WORK"/train-rqvae/checkpoints/step-* | sort | tail -1)
fi
for rep in $(seq 1 "$REPS"); do
  for p in $PRECISIONS; do   # interleaved, so that both precisions see the same machine
    "$RQ" assign-sid --checkpoint "$CKPT" --data "$WORK/items" --output "$WORK/ids-$p" --workers 2 --precision "$p" >/dev/null
    echo "assign-sid $p run $rep: $(json "$WORK/ids-$p/_sid_manifest.json" "'%d items in %.1f s (encode %.1f s): %.0f items/s' % (d['counts']['read'], d['job']['seconds'], d['job']['encode_seconds'], d['job']['items_per_second'])")"
    echo "  phases (s; task.* summed over the encode tasks): $(json "$WORK/ids-$p/_sid_manifest.json" "', '.join('%s %.1f' % kv for kv in (d['job'].get('phases') or {}).items())")"
  done
done
if [[ $PRECISIONS == *bf16* && $PRECISIONS == *fp32* ]]; then   # how often bf16 gives float32's codes
  "$RQ" query --table a="$WORK/ids-fp32/ids" --table b="$WORK/ids-bf16/ids" --sql "SELECT count(*) AS items,
      avg(CASE WHEN a.sid[0] = b.sid[0] THEN 1.0 ELSE 0 END) AS bf16_agrees_level0,
      avg(CASE WHEN a.sid = b.sid THEN 1.0 ELSE 0 END) AS bf16_agrees_all_levels
      FROM a JOIN b ON a.item_id = b.item_id"
fi
echo "load after: $(uptime)"
