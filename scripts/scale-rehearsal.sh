#!/usr/bin/env bash
# Scale rehearsal of the streaming loader (docs/data.md §8), end to end, printing the numbers:
#   1. generates an ImageNet-shaped ImageFolder: 1,000 class folders of 256x256 JPEGs of about
#      95 KB with varied content (dev.rq.data.synthetic.ImageFolderGenerator), IMAGES in all;
#   2. ingests it (bin/rq ingest, local[CORES]): images/s, Parquet bytes, row groups;
#   3. bin/rq bench-loader with 2 ranks, a 256 MiB block cache per rank and shuffle windows of 256
#      rows, 1 epoch, 256x256 decode + random crop + flip: samples/s, read amplification, peak heap.
# Usage: scripts/scale-rehearsal.sh [WORKDIR (default $TMPDIR/rq-scale)] [IMAGES (default 100000)]
# Disk: about 2.1 x IMAGES x 95 KB while both copies exist (20 GB for 100,000 images); the JPEGs are
# deleted after the ingest unless KEEP_JPEG=1, the Parquet split unless KEEP_PARQUET=1. Never commit
# the generated data. CPU-heavy: on a shared machine run it when it is quiet, and report `uptime`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-${TMPDIR:-/tmp}/rq-scale}
IMAGES=${2:-100000}
CORES=$(nproc)
mkdir -p "$WORK"
need_mb=$(( IMAGES * 210 / 1000 ))
avail_mb=$(df -Pm "$WORK" | awk 'NR==2 {print $4}')
echo "scale rehearsal: $IMAGES images in $WORK; needs about $need_mb MB, $avail_mb MB free"
if (( avail_mb < need_mb )); then
  echo "not enough disk space" >&2
  exit 1
fi
echo "machine: $CORES cores; $(uptime)"

# build (bin/rq packages when sources changed) and print the version
"$ROOT/bin/rq" --version

# 1. generate
if [[ ! -d "$WORK/jpeg" ]]; then
  java -cp "$ROOT/spark-jobs/target/classes" dev.rq.data.synthetic.ImageFolderGenerator \
    "$WORK/jpeg.tmp" "$IMAGES" 1000 256 "$CORES" 0
  mv "$WORK/jpeg.tmp" "$WORK/jpeg"
fi
jpeg_bytes=$(du -sb "$WORK/jpeg" | cut -f1)

# 2. ingest
rm -rf "$WORK/ds"
t0=$(date +%s.%N)
RQ_JAVA_OPTS=${RQ_JAVA_OPTS:--Xmx6g} "$ROOT/bin/rq" ingest --input "$WORK/jpeg" --format imagefolder \
  --output "$WORK/ds" --split train --workers "$CORES"
t1=$(date +%s.%N)
parquet_bytes=$(du -sb "$WORK/ds/train" | cut -f1)
ingest_s=$(python3 -c "print(round($t1 - $t0, 1))")
echo "ingest: $IMAGES images in $ingest_s s = $(python3 -c "print(round($IMAGES / $ingest_s, 1))") images/s;" \
  "JPEG $jpeg_bytes bytes -> Parquet $parquet_bytes bytes"
if [[ "${KEEP_JPEG:-0}" != 1 ]]; then rm -rf "$WORK/jpeg"; fi

# 3. the loader: 2 ranks, 256 MiB cache each, 1 epoch (bench-loader runs the same checks as training)
echo "bench-loader start: $(uptime)"
RQ_JAVA_OPTS=${BENCH_JAVA_OPTS:--Xmx2g} "$ROOT/bin/rq" bench-loader --data "$WORK/ds/train" --workers 2 \
  --epochs 1 --batch-size 128 --image-size 256 --set data.cache_mb=256 --set data.shuffle_window=256 \
  --set data.decode_threads=1 --set data.read_threads=2 --json "$WORK/bench-loader.json"
echo "bench-loader end: $(uptime)"
python3 - "$WORK/bench-loader.json" "$IMAGES" "$ingest_s" "$jpeg_bytes" "$parquet_bytes" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
images, ingest_s, jpeg, parquet = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(json.dumps({
    "images": images, "ingest_seconds": round(ingest_s, 1), "ingest_images_per_s": round(images / ingest_s, 1),
    "jpeg_bytes": jpeg, "parquet_bytes": parquet, "row_groups": r["blocks"],
    "bench_workers": r["workers"], "cache_mb": r["cache_mb"], "shuffle_window": r["shuffle_window"],
    "partitions": r["partitions"], "samples": r["samples"], "samples_per_s": round(r["samples_per_s"], 1),
    "read_amplification": round(r["read_amplification"], 4), "peak_heap_mb": round(r["peak_heap_mb"], 1),
    "live_heap_at_end_mb": round(r["live_heap_at_end_mb"], 1), "max_heap_mb": round(r["max_heap_mb"]),
    "peak_cache_mb": round(r["peak_cache_mb"], 1)}, indent=1))
PY
if [[ "${KEEP_PARQUET:-0}" != 1 ]]; then rm -rf "$WORK/ds"; fi
