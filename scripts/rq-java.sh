#!/usr/bin/env bash
# Runs a main class of spark-jobs with the full (provided + compile) class path, for the data
# scripts. Usage: scripts/rq-java.sh <main-class> [args...]. Builds spark-jobs classes if needed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CP_FILE="$ROOT/spark-jobs/target/rq-data-classpath.txt"
if [[ ! -f "$ROOT/spark-jobs/target/classes/dev/rq/cli/RqCli.class" || ! -s "$CP_FILE" ]]; then
  (cd "$ROOT" && mvn -q -o -pl spark-jobs compile \
     dependency:build-classpath -Dmdep.outputFile="$CP_FILE" -Dmdep.includeScope=test >&2)
fi
# Snapshot the classes: other builds may clean spark-jobs/target while this runs.
SNAP=$(mktemp -d)
trap 'rm -rf "$SNAP"' EXIT
cp -r "$ROOT/spark-jobs/target/classes" "$SNAP/classes"
OPENS="--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/sun.nio.cs=ALL-UNNAMED --add-opens=java.base/sun.security.action=ALL-UNNAMED --add-opens=java.base/sun.util.calendar=ALL-UNNAMED -Djdk.reflect.useDirectMethodHandle=false -Dio.netty.tryReflectionSetAccessible=true"
# shellcheck disable=SC2086
java $OPENS ${RQ_JAVA_OPTS:--Xmx4g} -Dspark.ui.enabled=false -Dspark.driver.host=127.0.0.1 \
  -cp "$SNAP/classes:$(cat "$CP_FILE")" "$@"
