#!/usr/bin/env bash
# Builds the embedded default dataset data/emoji/ from the npm package emoji-datasource-google@16.0.0
# (64x64 Noto Color Emoji PNGs + emoji.json categories).
#
#   scripts/build-emoji-dataset.sh [output-root]      (default: data/emoji)
#
# Classes: the emoji.json "category" of each base emoji (9 classes; the 5-image "Component"
# category - skin-tone swatches and hair components - is excluded). Skin-tone variants
# (emoji.json "skin_variations", e.g. 1f44d-1f3fb.png) are excluded: only the base image of each
# emoji is used. Split: within each category, sorted by emoji.json sort_order, every 10th emoji
# (positions 9, 19, ...) goes to "validation", the rest to "train". Needs npm, python3, java, mvn.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/data/emoji}
PKG=emoji-datasource-google@16.0.0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
WORK="$TMP/emoji-datasource-google-16.0.0"
mkdir -p "$WORK"

(cd "$WORK" && npm pack "$PKG" >/dev/null 2>"$WORK/npm.log" && tar xzf emoji-datasource-google-16.0.0.tgz)

python3 - "$WORK/package" "$WORK/imagefolder" <<'PY'
import json, os, re, shutil, sys
pkg, dst = sys.argv[1], sys.argv[2]
emoji = json.load(open(os.path.join(pkg, "emoji.json")))
by_cat = {}
for e in emoji:
    if not e.get("has_img_google") or e["category"] == "Component":
        continue
    by_cat.setdefault(e["category"], []).append(e)
for cat, items in sorted(by_cat.items()):
    slug = re.sub(r"[^a-z0-9]+", "_", cat.lower()).strip("_")
    items.sort(key=lambda e: e["sort_order"])
    for i, e in enumerate(items):
        split = "validation" if i % 10 == 9 else "train"
        d = os.path.join(dst, split, slug)
        os.makedirs(d, exist_ok=True)
        shutil.copy(os.path.join(pkg, "img", "google", "64", e["image"]), d)
PY

for split in train validation; do
  "$ROOT/scripts/rq-java.sh" dev.rq.cli.RqCli ingest --input "$WORK/imagefolder/$split" \
      --format imagefolder --output "$OUT" --split "$split" --shards 1 --workers 2 \
      2>"$WORK/ingest-$split.log" || { cat "$WORK/ingest-$split.log" >&2; exit 1; }
done
cp "$WORK/package/LICENSE" "$OUT/LICENSE.emoji-datasource"
# Hadoop's local file system writes .crc side files; they are optional for readers.
find "$OUT" -name '.*.crc' -delete
