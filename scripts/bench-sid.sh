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
# BASE=<commit>: also runs that commit's assign-sid (fp32, built once in a scratch worktree
# ${TMPDIR:-/tmp}/rq-bench-<commit>, reused; `mvn package`, never install) interleaved with this
# checkout's, then prints the medians and their ratio (this / base) and whether its ID table is the same.
# Idle measurement in about 5 min (items and checkpoint from an earlier run, base built already):
#   CKPT=$(ls -d /tmp/rq-sid-bench/train-rqvae/checkpoints/step-* | tail -1) REPS=2 BASE=439e7f8 \
#     scripts/bench-sid.sh /tmp/rq-sid-bench
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
SIDES=$PRECISIONS
if [[ -n ${BASE:-} ]]; then
  SHA=$(git -C "$ROOT" rev-parse --verify --short "$BASE^{commit}")
  OLD=${TMPDIR:-/tmp}/rq-bench-$SHA
  [[ -d $OLD ]] || git -C "$ROOT" worktree add --quiet --detach "$OLD" "$SHA"
  (cd "$OLD" && bin/rq --help >/dev/null)   # builds it once (not timed)
  SIDES="$SIDES base"
fi
declare -A IPS
for rep in $(seq 1 "$REPS"); do
  for p in $SIDES; do   # interleaved, so that every side sees the same machine
    if [[ $p == base ]]; then
      "$OLD/bin/rq" assign-sid --checkpoint "$CKPT" --data "$WORK/items" --output "$WORK/ids-base" --workers 2 >/dev/null
    else
      "$RQ" assign-sid --checkpoint "$CKPT" --data "$WORK/items" --output "$WORK/ids-$p" --workers 2 --precision "$p" >/dev/null
    fi
    echo "assign-sid $p run $rep (load $(cut -d' ' -f1 /proc/loadavg)): $(json "$WORK/ids-$p/_sid_manifest.json" "'%d items in %.1f s (encode %.1f s): %.0f items/s' % (d['counts']['read'], d['job']['seconds'], d['job']['encode_seconds'], d['job']['items_per_second'])")"
    echo "  phases (s; task.* summed over the encode tasks): $(json "$WORK/ids-$p/_sid_manifest.json" "', '.join('%s %.1f' % kv for kv in (d['job'].get('phases') or {}).items())")"
    IPS[$p]="${IPS[$p]:-} $(json "$WORK/ids-$p/_sid_manifest.json" "d['job']['items_per_second']")"
  done
done
median() { python3 -c "import statistics,sys; print('%.0f' % statistics.median(map(float, sys.argv[1:])))" $1; }
for p in $SIDES; do echo "assign-sid $p median: $(median "${IPS[$p]}") items/s"; done
if [[ -n ${BASE:-} ]]; then
  echo "fp32 / base ($SHA): $(python3 -c "print('%.2fx' % ($(median "${IPS[fp32]}") / $(median "${IPS[base]}")))")"
  "$RQ" query --table a="$WORK/ids-fp32/ids" --table b="$WORK/ids-base/ids" --sql "SELECT count(*) AS items,
      sum(CASE WHEN a.sid = b.sid AND a.dedup = b.dedup AND a.sid_text = b.sid_text THEN 1 ELSE 0 END) AS same_as_base
      FROM a FULL OUTER JOIN b ON a.item_id = b.item_id"
fi
if [[ $PRECISIONS == *bf16* && $PRECISIONS == *fp32* ]]; then   # how often bf16 gives float32's codes
  "$RQ" query --table a="$WORK/ids-fp32/ids" --table b="$WORK/ids-bf16/ids" --sql "SELECT count(*) AS items,
      avg(CASE WHEN a.sid[0] = b.sid[0] THEN 1.0 ELSE 0 END) AS bf16_agrees_level0,
      avg(CASE WHEN a.sid = b.sid THEN 1.0 ELSE 0 END) AS bf16_agrees_all_levels
      FROM a JOIN b ON a.item_id = b.item_id"
fi
echo "load after: $(uptime)"
