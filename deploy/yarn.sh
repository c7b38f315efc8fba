#!/usr/bin/env bash
# deploy/yarn.sh: rq on YARN (cluster mode by default: the driver runs in the application master).
#
#   RQ_CORES_PER_RANK=8 deploy/yarn.sh \
#     train-vae --conf conf/rqvae/in256-8x8x4.yaml --data hdfs:///data/imagenet/train \
#               --out hdfs:///runs/in256-rqvae --workers 8
#
# Extra inputs: RQ_QUEUE (default: default), RQ_DEPLOY_MODE (cluster | client), RQ_APP_ATTEMPTS
# (default 2: if the driver/AM dies, YARN starts it again and the run resumes from its last
# checkpoint, exactly like rerunning the command). In cluster mode --conf must be readable on the
# cluster: it is shipped with --files and named by its file name.
# GPUs (RQ_GPUS_PER_RANK=1): YARN 3.1+ with GPU scheduling (yarn.io/gpu); Spark maps
# spark.executor.resource.gpu.amount to yarn.io/gpu, the discovery script must exist on every node.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

RQ_DEPLOY_MODE="${RQ_DEPLOY_MODE:-cluster}"
extra=()
if [[ "$RQ_DEPLOY_MODE" == "cluster" ]]; then
  # ship a local --conf file with the application and pass its bare name
  for ((i = 0; i < ${#RQ_ARGS[@]}; i++)); do
    if [[ "${RQ_ARGS[$i]}" == "--conf" && -f "${RQ_ARGS[$((i + 1))]:-}" ]]; then
      extra+=(--files "${RQ_ARGS[$((i + 1))]}")
      RQ_ARGS[$((i + 1))]="$(basename "${RQ_ARGS[$((i + 1))]}")"
    fi
  done
  # the driver runs in the ApplicationMaster's container (the executors get it from common.sh)
  [[ -z "$RQ_MALLOC_TUNABLES" ]] || extra+=(--conf "spark.yarn.appMasterEnv.GLIBC_TUNABLES=$RQ_MALLOC_TUNABLES")
fi

rq_submit "${RQ_SUBMIT[@]}" \
  --master yarn \
  --deploy-mode "$RQ_DEPLOY_MODE" \
  --queue "${RQ_QUEUE:-default}" \
  --num-executors "$RQ_RANKS" \
  --executor-cores "$RQ_CORES_PER_RANK" \
  --conf "spark.yarn.maxAppAttempts=${RQ_APP_ATTEMPTS:-2}" \
  ${extra[@]+"${extra[@]}"} \
  "$RQ_JAR" "${RQ_ARGS[@]}"
