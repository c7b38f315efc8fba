#!/usr/bin/env bash
# Loader speed before/after, interleaved on the same machine state (docs/data.md §7):
# 256x256 JPEG decode + resize + random crop + flip through the training BatchLoader on 2 threads
# (LoaderBenchmark.measureSplit, batch 64), for the build at BEFORE (default: the parent of the commit
# that introduced the streaming loader, found by its message) and the working tree, alternating
# A B A B A B; prints every run and the medians.
# Usage: scripts/loader-speed-ab.sh [IMAGES (default 2000)] [ROUNDS (default 3)] [BEFORE (git ref)]
# Needs the dependencies in ~/.m2 (offline build). The machine should be quiet: report `uptime`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMAGES=${1:-2000}
ROUNDS=${2:-3}
STREAMING=$(git -C "$ROOT" log --format=%H -1 --grep='^streaming data at ImageNet scale (#10)')
BEFORE=${3:-${STREAMING:?streaming loader commit not found; pass BEFORE}^}
THREADS=2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rq-loader-ab.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "loader A/B: $IMAGES JPEGs, $ROUNDS rounds, before=$BEFORE; $(nproc) cores; $(uptime)"

# the two builds (no mvn install: each builds its own reactor)
"$ROOT/bin/rq" --version >/dev/null
git -C "$ROOT" archive "$BEFORE" | tar -x -C "$WORK" --one-top-level=before
(cd "$WORK/before" && mvn -q -o -B -DskipTests package dependency:build-classpath \
  -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=compile >&2)
CP_BEFORE="$WORK/before/spark-jobs/target/classes:$(cat "$WORK/before/spark-jobs/target/classpath.txt")"
CP_AFTER="$ROOT/spark-jobs/target/classes:$(cat "$ROOT/spark-jobs/target/classpath.txt")"

# the data: an ImageNet-shaped split of 256x256 JPEGs (~95 KB), ingested by the current build
java -cp "$ROOT/spark-jobs/target/classes" dev.rq.data.synthetic.ImageFolderGenerator \
  "$WORK/jpeg" "$IMAGES" 100 256 "$(nproc)" 1
RQ_JAVA_OPTS=-Xmx4g "$ROOT/bin/rq" ingest --input "$WORK/jpeg" --format imagefolder --output "$WORK/ds" \
  --split train --workers "$(nproc)" >/dev/null
rm -rf "$WORK/jpeg"

OPENS="--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED"
run() { # name classpath
  java -Xmx3g $OPENS -cp "$2" "$ROOT/scripts/LoaderSpeed.java" "$WORK/ds/train" "$THREADS" 2 "$1" 2>/dev/null \
    | grep '^RESULT'
}
results=()
for ((i = 0; i < ROUNDS; i++)); do
  results+=("$(run before "$CP_BEFORE")")
  results+=("$(run after "$CP_AFTER")")
  echo "round $((i + 1)): ${results[-2]#RESULT } | ${results[-1]#RESULT }   ($(uptime | sed 's/.*load/load/'))"
done
printf '%s\n' "${results[@]}" | python3 -c '
import sys, statistics
rows = [l.split() for l in sys.stdin if l.strip()]
for name in ("before", "after"):
    one = [float(r[2]) for r in rows if r[1] == name]
    loader = [float(r[3]) for r in rows if r[1] == name]
    print(f"{name:6s} median of {len(loader)}: loader {statistics.median(loader):7.1f} img/s on 2 threads"
          f" (decode+crop on 1 thread: {statistics.median(one):6.1f} img/s)")
b = statistics.median(float(r[3]) for r in rows if r[1] == "before")
a = statistics.median(float(r[3]) for r in rows if r[1] == "after")
print(f"after / before = {a / b:.3f}")
'
echo "end: $(uptime)"
