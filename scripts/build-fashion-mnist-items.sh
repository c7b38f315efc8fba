#!/usr/bin/env bash
# Builds Fashion-MNIST as a semantic-ID item table from the Debian package dataset-fashion-mnist:
#   scripts/build-fashion-mnist-items.sh <output-uri>     (default: data/fashion-mnist-items)
# 70,000 items: item_id 0..59999 train, 60000..69999 test; embedding = 784 pixels / 255,
# L2-normalised; label 0..9; label_name. About 220 MB of Parquet, not committed. Needs apt (root).
# rq sid-quickstart builds the same table into its output folder by itself once the package is there.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/data/fashion-mnist-items}
SRC=/usr/share/datasets/fashion-mnist
if [[ ! -f $SRC/train-images-idx3-ubyte.gz ]]; then
  apt-cache show dataset-fashion-mnist >/dev/null
  apt-get install -y dataset-fashion-mnist >/dev/null
fi
"$ROOT/bin/rq" sid-items --source fashion-mnist --idx-dir "$SRC" --out "$OUT" --workers "${WORKERS:-2}"
