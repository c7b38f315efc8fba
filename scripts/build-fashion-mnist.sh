#!/usr/bin/env bash
# Builds Fashion-MNIST in the canonical layout from the Debian package dataset-fashion-mnist:
#   scripts/build-fashion-mnist.sh <output-root-uri>      -> <output>/train (60,000), <output>/test (10,000)
# Labels 0..9 with class names 0_tshirt_top ... 9_ankle_boot (the numeric prefix keeps the
# sorted ImageFolder order equal to the official label ids). 28x28 grayscale PNG bytes.
# Not committed (about 30 MB). Needs apt (root), java, mvn.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:?usage: $0 <output-root-uri>}
SRC=/usr/share/datasets/fashion-mnist
if [[ ! -f $SRC/train-images-idx3-ubyte.gz ]]; then
  apt-cache show dataset-fashion-mnist >/dev/null
  apt-get install -y dataset-fashion-mnist >/dev/null
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for pair in "train:train" "test:t10k"; do
  split=${pair%%:*}; prefix=${pair##*:}
  "$ROOT/scripts/rq-java.sh" dev.rq.data.ingest.IdxToImageFolder \
      "$SRC/$prefix-images-idx3-ubyte.gz" "$SRC/$prefix-labels-idx1-ubyte.gz" "$TMP/$split"
  "$ROOT/scripts/rq-java.sh" dev.rq.cli.RqCli ingest --input "$TMP/$split" --format imagefolder \
      --output "$OUT" --split "$split" --shards 4 --workers "${WORKERS:-2}" 2>"$TMP/ingest-$split.log" \
      || { cat "$TMP/ingest-$split.log" >&2; exit 1; }
done
