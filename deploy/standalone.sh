#!/usr/bin/env bash
# deploy/standalone.sh: rq on a Spark standalone cluster (client mode: the driver, its progress
# lines and metrics.jsonl writer run here; ranks run one per executor).
#
#   RQ_MASTER=spark://master:7077 RQ_CORES_PER_RANK=4 deploy/standalone.sh \
#     train-vae --conf conf/rqvae/in256-8x8x4.yaml --data hdfs:///data/imagenet/train \
#               --out hdfs:///runs/in256-rqvae --workers 8
#
# Needs: --workers N executors of RQ_CORES_PER_RANK free cores at once (spark.cores.max = N x cores);
# data and run directory on storage every node reads (HDFS, S3A, NFS). See deploy/README.md.
# GPUs: each worker must advertise them (conf/spark-env.sh on the workers):
#   SPARK_WORKER_OPTS="-Dspark.worker.resource.gpu.amount=<gpus> \
#     -Dspark.worker.resource.gpu.discoveryScript=/opt/rq/bin/discover-gpus.sh"  (deploy/gpu/discover-gpus.sh)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

: "${RQ_MASTER:?set RQ_MASTER=spark://<master host>:7077}"

rq_submit "${RQ_SUBMIT[@]}" \
  --master "$RQ_MASTER" \
  --deploy-mode client \
  --conf "spark.cores.max=$((RQ_RANKS * RQ_CORES_PER_RANK))" \
  "$RQ_JAR" "${RQ_ARGS[@]}"
