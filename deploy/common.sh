# deploy/common.sh: shared part of the spark-submit templates (sourced, not run).
#
# Inputs (environment, all optional):
#   RQ_JAR             assembled jar (default: spark-jobs/target/spark-jobs-*-all.jar)
#   SPARK_SUBMIT       spark-submit command (default: $SPARK_HOME/bin/spark-submit or spark-submit)
#   RQ_RANKS           ranks N of train-vae (default: the --workers value of the arguments, else 2)
#   RQ_CORES_PER_RANK  CPU cores per rank = spark.task.cpus = executor cores = torch threads (default 4)
#   RQ_GPUS_PER_RANK   0 (CPU) or 1 (one GPU per rank; needs a CUDA libtorch in the jar, see README)
#   RQ_EXECUTOR_MEMORY executor heap (default 4g); RQ_EXECUTOR_OVERHEAD native memory (libtorch) (default 4g)
#   RQ_DRIVER_MEMORY   driver heap (default 4g)
#   RQ_GPU_DISCOVERY   GPU discovery script, at this path on every node (default: deploy/gpu/discover-gpus.sh of
#                      this checkout, i.e. the repository at the same path everywhere; the image: /opt/rq/bin/...)
#   RQ_RING_PORTS      TCP ports the ranks listen on, e.g. 40000-40015 (spark.rq.ring.ports; default: any)
#   RQ_PROGRESS_PORTS  TCP ports of the driver's progress endpoint, e.g. 40100-40103 (default: any)
#   RQ_MALLOC_TUNABLES glibc malloc settings for the driver and executors (GLIBC_TUNABLES; default: the project's,
#                      SparkSessions.MALLOC_TUNABLES, docs/performance-history.md "Session 9"; empty: none)
#   RQ_DRY_RUN=1       print the command instead of running it
#
# Sets: RQ_SUBMIT (array: spark-submit + the settings every cluster manager needs) and RQ_ARGS (the
# rq arguments). The caller adds --master and manager-specific settings, then:
#   "${RQ_SUBMIT[@]}" <manager options> "$RQ_JAR" "${RQ_ARGS[@]}"

set -euo pipefail

RQ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ -z "${RQ_JAR:-}" ]]; then
  RQ_JAR="$(ls "$RQ_ROOT"/spark-jobs/target/spark-jobs-*-all.jar 2>/dev/null | head -1 || true)"
fi
if [[ -z "$RQ_JAR" || ( ! -f "$RQ_JAR" && "$RQ_JAR" != *://* ) ]]; then
  echo "no assembled jar: run 'mvn -B -DskipTests -Passembly package' or set RQ_JAR" >&2
  exit 2
fi

if [[ -z "${SPARK_SUBMIT:-}" ]]; then
  SPARK_SUBMIT="${SPARK_HOME:+$SPARK_HOME/bin/}spark-submit"
fi

RQ_ARGS=("$@")
if [[ ${#RQ_ARGS[@]} -eq 0 ]]; then
  echo "usage: $0 <rq subcommand> [options]   e.g. $0 train-vae --conf conf/rqvae/in256-8x8x4.yaml --data ... --out ... --workers 8" >&2
  exit 2
fi

# N ranks: from --workers (train-vae), so that the cluster request matches the barrier stage
workers_arg=""
for ((i = 0; i < ${#RQ_ARGS[@]}; i++)); do
  case "${RQ_ARGS[$i]}" in
    --workers) workers_arg="${RQ_ARGS[$((i + 1))]:-}" ;;
    --workers=*) workers_arg="${RQ_ARGS[$i]#--workers=}" ;;
  esac
done
RQ_RANKS="${RQ_RANKS:-${workers_arg:-2}}"
if [[ -n "$workers_arg" && "$workers_arg" != "$RQ_RANKS" ]]; then
  echo "RQ_RANKS=$RQ_RANKS but --workers $workers_arg: a barrier stage needs exactly --workers slots" >&2
  exit 2
fi
RQ_CORES_PER_RANK="${RQ_CORES_PER_RANK:-4}"
RQ_GPUS_PER_RANK="${RQ_GPUS_PER_RANK:-0}"
RQ_EXECUTOR_MEMORY="${RQ_EXECUTOR_MEMORY:-4g}"
RQ_EXECUTOR_OVERHEAD="${RQ_EXECUTOR_OVERHEAD:-4g}"
RQ_DRIVER_MEMORY="${RQ_DRIVER_MEMORY:-4g}"
RQ_GPU_DISCOVERY="${RQ_GPU_DISCOVERY:-$RQ_ROOT/deploy/gpu/discover-gpus.sh}"
if [[ "$RQ_GPUS_PER_RANK" != "0" && "$RQ_GPUS_PER_RANK" != "1" ]]; then
  echo "RQ_GPUS_PER_RANK must be 0 or 1 (a rank trains on one device), got $RQ_GPUS_PER_RANK" >&2
  exit 2
fi

# One rank per executor: N executors of RQ_CORES_PER_RANK cores, one task slot each.
RQ_SUBMIT=("$SPARK_SUBMIT"
  --class dev.rq.cli.RqCli
  --driver-memory "$RQ_DRIVER_MEMORY"
  --executor-memory "$RQ_EXECUTOR_MEMORY"
  --conf "spark.executor.memoryOverhead=$RQ_EXECUTOR_OVERHEAD"
  --conf "spark.executor.cores=$RQ_CORES_PER_RANK"
  --conf "spark.task.cpus=$RQ_CORES_PER_RANK"
  # offline DJL: libtorch comes from the jar, nothing is downloaded on the nodes
  --conf "spark.driver.extraJavaOptions=-Dai.djl.offline=true"
  --conf "spark.executor.extraJavaOptions=-Dai.djl.offline=true"
  # barrier stages: all N slots at once, no dynamic allocation, no speculative copies of a rank
  --conf spark.dynamicAllocation.enabled=false
  --conf spark.speculation=false
  --conf spark.barrier.sync.timeout=600
  --conf spark.scheduler.barrier.maxConcurrentTasksCheck.interval=15s
  --conf spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures=40
  # a failed rank fails the stage; Spark re-attempts it (ranks resume from the last checkpoint)
  --conf spark.stage.maxConsecutiveAttempts=4
  --conf spark.serializer=org.apache.spark.serializer.KryoSerializer
  --conf spark.kryo.registrationRequired=true
  --conf spark.kryo.registrator=dev.rq.jobs.RqKryoRegistrator
)

# glibc malloc settings for libtorch: executors here, the client-mode driver through spark-submit's environment
# (cluster-mode drivers: yarn.sh and k8s.sh; the Docker image sets them too)
RQ_MALLOC_TUNABLES="${RQ_MALLOC_TUNABLES-glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864}"
if [[ -n "$RQ_MALLOC_TUNABLES" ]]; then
  export GLIBC_TUNABLES="${GLIBC_TUNABLES-$RQ_MALLOC_TUNABLES}"
  RQ_SUBMIT+=(--conf "spark.executorEnv.GLIBC_TUNABLES=$RQ_MALLOC_TUNABLES")
fi

if [[ -n "${RQ_RING_PORTS:-}" ]]; then
  RQ_SUBMIT+=(--conf "spark.rq.ring.ports=$RQ_RING_PORTS")
fi
if [[ -n "${RQ_PROGRESS_PORTS:-}" ]]; then
  RQ_SUBMIT+=(--conf "spark.rq.progress.ports=$RQ_PROGRESS_PORTS")
fi

if [[ "$RQ_GPUS_PER_RANK" != "0" ]]; then
  RQ_SUBMIT+=(
    --conf "spark.executor.resource.gpu.amount=$RQ_GPUS_PER_RANK"
    --conf "spark.task.resource.gpu.amount=$RQ_GPUS_PER_RANK"
    --conf "spark.executor.resource.gpu.discoveryScript=$RQ_GPU_DISCOVERY"
  )
fi

# Runs (or, with RQ_DRY_RUN=1, prints) the assembled command line.
rq_submit() {
  if [[ "${RQ_DRY_RUN:-0}" == "1" ]]; then
    printf '%q ' "$@"
    echo
  else
    exec "$@"
  fi
}
