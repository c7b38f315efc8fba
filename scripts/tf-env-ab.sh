#!/usr/bin/env bash
# tf-env-ab.sh: A/B of process-level settings (environment variables read once at start, e.g. libtorch's
# THP_MEM_ALLOC_ENABLE or GLIBC_TUNABLES) on the fp32/bf16 RQ-Transformer training step (bench64, batch 16).
# Runs scripts/TransformerStepAb.java in fresh JVMs, alternating A and B (ABBA order), and prints each run's
# medians (wall, calling-thread CPU, minor page faults per step) and the medians over runs.
#
#   scripts/tf-env-ab.sh [--runs N] [--steps S] [--threads T] [--precision fp32|bf16] 'ENV_A' 'ENV_B'
#   e.g. scripts/tf-env-ab.sh --runs 4 --steps 6 '' 'THP_MEM_ALLOC_ENABLE=1'
# (ENV_* are space-separated NAME=VALUE lists; '' = nothing extra). Each run is a JVM start, the model and
# 2·STEPS + 2 training steps (an estimate: ~20-30 s per run idle at the defaults).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=4 steps=6 threads=2 precision=fp32
while [[ $# -gt 2 ]]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;; --steps) steps=$2; shift 2 ;; --threads) threads=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;; *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
envs=("$1" "$2")
cd "$ROOT"
"$ROOT/bin/rq" --help >/dev/null 2>&1 || true   # builds the jars and the classpath file if needed
CP="$(cat spark-jobs/target/classpath.txt):rq-model/target/classes"
out=$(mktemp -d)
echo "tf-env-ab: $runs runs x $steps steps per side, $threads threads, $precision; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 0; r < runs; r++)); do
  for k in 0 1; do
    v=$(( (k + r) % 2 ))  # ABBA...
    # the same setting twice for TransformerStepAb: its two "variants" are one here, every step counts
    env ${envs[$v]} java -Xmx3g --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true -cp "$CP" \
      scripts/TransformerStepAb.java conf/rqtransformer/bench64.yaml "$precision" "$threads" "$steps" \
      rq.unused=0 rq.unused=1 2>/dev/null | grep 'rq.unused=0' \
      | awk -v v=$v '{print v, $3, $7, $11}' | tee -a "$out/all" \
      | awk -v name="${envs[$v]:-(none)}" '{printf "  %-55s wall %8.1f ms  thread cpu %8.1f ms  minor faults %8.0f\n", name, $2, $3, $4}'
  done
done
echo "medians over runs (load now $(cut -d' ' -f1-3 /proc/loadavg)):"
med() { sort -n | awk '{x[NR]=$1} END {print x[int((NR+1)/2)]}'; }
for v in 0 1; do
  name="${envs[$v]:-(none)}"
  w=$(awk -v v=$v '$1 == v {print $2}' "$out/all" | med)
  c=$(awk -v v=$v '$1 == v {print $3}' "$out/all" | med)
  f=$(awk -v v=$v '$1 == v {print $4}' "$out/all" | med)
  printf "  %-55s wall %8.1f ms  thread cpu %8.1f ms  minor faults %8.0f\n" "$name" "$w" "$c" "$f"
done
rm -rf "$out"
