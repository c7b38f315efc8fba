#!/usr/bin/env bash
# scripts/measure-large-models.sh: the large-model measurements of issue 11 item 5, end to end, on an
# idle machine (run it when nothing else compiles or trains):
#   1. LargeCheckpointTest: a 2,176 MiB model file written from generated tensors, verified, streamed back;
#   2. Official821MIT (failsafe, a JVM of its own): the official in256 821M RQ-Transformer with random
#      official-layout weights, imported (streaming), loaded by rq sample's executor and one image sampled
#      on the CPU; prints the phase times and the peak resident memory (VmHWM) of the test JVM.
# Needs: 16 GB RAM, about 10 GiB free under java.io.tmpdir (/tmp), 2+ cores. Prints the numbers and `uptime`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p logs
echo "load before: $(uptime)"
mvn -B -q -o -Passembly verify -Dtest=LargeCheckpointTest -Dit.test=Official821MIT \
  -Dsurefire.failIfNoSpecifiedTests=false -Dfailsafe.failIfNoSpecifiedTests=false \
  -Drq.test.xmx="${RQ_TEST_XMX:-3g}" > logs/large-models.log 2>&1 || {
  echo "tests failed, see logs/large-models.log" >&2
  grep -h "Tests run\|FAIL" rq-model/target/surefire-reports/*Large*.txt spark-jobs/target/failsafe-reports/*821M*.txt >&2 || true
  exit 1
}
grep -h "large checkpoint:\|821M:\|skipped:" logs/large-models.log
grep -h "Tests run" rq-model/target/surefire-reports/*LargeCheckpointTest.txt spark-jobs/target/failsafe-reports/*Official821MIT.txt
echo "load after: $(uptime)"
