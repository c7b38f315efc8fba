#!/usr/bin/env bash
# Wall time of the object-store and HDFS tests in the default suite (their share of the CI time):
# S3SmokeTest, S3PipelineTest (pipeline on s3proxy), HdfsPipelineTest (pipeline on MiniDFSCluster),
# S3CheckpointKillTest (5 child-JVM training runs killed inside checkpoint writes on s3proxy).
# Prints the machine load before and after and one line per test class (surefire's elapsed time):
# numbers from a loaded machine are not comparable. Usage: scripts/time-storage-tests.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
echo "load: $(uptime)"
TESTS=S3SmokeTest,S3PipelineTest,HdfsPipelineTest,S3CheckpointKillTest
start=$(date +%s)
mvn -B -o -q -pl spark-jobs -am test -Dtest="$TESTS" -Dsurefire.failIfNoSpecifiedTests=false \
  -Drq.test.xmx=3g >/dev/null 2>&1 || echo "some tests failed: see spark-jobs/target/surefire-reports" >&2
end=$(date +%s)
for t in dev.rq.storage.S3SmokeTest dev.rq.storage.S3PipelineTest dev.rq.storage.HdfsPipelineTest \
         dev.rq.jobs.train.S3CheckpointKillTest; do
  f=spark-jobs/target/surefire-reports/$t.txt
  if [[ -f $f ]]; then
    echo "TIME $(grep -o 'Tests run:.*Time elapsed: [0-9.]* s' "$f" | sed 's/.*Time elapsed: //') $t $(grep -q 'FAILURE' "$f" && echo FAILED || echo ok)"
  else
    echo "TIME - $t (no report)"
  fi
done
echo "TOTAL $((end - start)) s (mvn, including compilation)"
echo "load: $(uptime)"
