#!/usr/bin/env bash
# Eval throughput, end to end (docs/eval.md "Speed"): the FID network in-process (batch 16, 64x64
# inputs resized to 299), feature statistics and the full-rank 2048-d Frechet distance, then
# `rq eval` on the emoji validation split (186 images, bench64 RQ-VAE, local[2]) without and with
# the FID network, and `rq eval --generated` on its token table. Random weights (the cost of the
# real ones). Prints the machine load first: numbers from a loaded machine are not comparable.
# Usage: scripts/bench-eval.sh [seconds per in-process measurement, default 20]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
echo "load: $(uptime)"
mvn -B -o -q -pl spark-jobs -am test -Dtest=EvalBenchRun -Dsurefire.failIfNoSpecifiedTests=false \
  -Drq.bench=true -Drq.bench.seconds="${1:-20}" -Drq.test.xmx=4g 2>&1 | grep -aoE 'BENCH .*' || {
  echo "bench failed: see spark-jobs/target/surefire-reports/dev.rq.jobs.eval.EvalBenchRun.txt" >&2; exit 1; }
echo "load: $(uptime)"
