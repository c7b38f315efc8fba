#!/usr/bin/env bash
# deploy/k8s.sh: rq on Kubernetes with spark-submit (cluster mode; the jar, the run configs and the
# GPU discovery script are baked into the image of deploy/docker/Dockerfile, see deploy/README.md).
# For the Spark Operator use the SparkApplication manifests of deploy/k8s/ instead.
#
#   RQ_K8S_MASTER=k8s://https://api.example:6443 RQ_IMAGE=registry.example/rq:0.1.0 \
#   RQ_GPUS_PER_RANK=1 RQ_CORES_PER_RANK=8 deploy/k8s.sh \
#     train-vae --conf /opt/rq/conf/rqvae/in256-8x8x4.yaml --data s3a://bucket/imagenet/train \
#               --out s3a://bucket/runs/in256-rqvae --workers 8
#
# Extra inputs: RQ_NAMESPACE (default: default), RQ_SERVICE_ACCOUNT (default: spark; may create and
# delete executor pods), RQ_JAR defaults to local:///opt/rq/rq.jar (the path inside the image).
# Executors connect to the driver pod and to each other (progress channel, ring all-reduce): set
# RQ_RING_PORTS / RQ_PROGRESS_PORTS and let NetworkPolicies allow those ports between the pods.
RQ_JAR="${RQ_JAR:-local:///opt/rq/rq.jar}"
RQ_GPU_DISCOVERY="${RQ_GPU_DISCOVERY:-/opt/rq/bin/discover-gpus.sh}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

: "${RQ_K8S_MASTER:?set RQ_K8S_MASTER=k8s://https://<api server>:<port>}"
: "${RQ_IMAGE:?set RQ_IMAGE=<registry>/<image>:<tag> (see deploy/README.md)}"

extra=()
if [[ "$RQ_GPUS_PER_RANK" != "0" ]]; then
  extra=(--conf spark.executor.resource.gpu.vendor=nvidia.com
    --conf spark.kubernetes.executor.podTemplateFile=/opt/rq/k8s/gpu-executor-pod-template.yaml)
fi
# the driver pod (the image sets GLIBC_TUNABLES too; this covers other images)
[[ -z "$RQ_MALLOC_TUNABLES" ]] || extra+=(--conf "spark.kubernetes.driverEnv.GLIBC_TUNABLES=$RQ_MALLOC_TUNABLES")

rq_submit "${RQ_SUBMIT[@]}" \
  --master "$RQ_K8S_MASTER" \
  --deploy-mode cluster \
  --name rq \
  --conf "spark.executor.instances=$RQ_RANKS" \
  --conf "spark.kubernetes.container.image=$RQ_IMAGE" \
  --conf "spark.kubernetes.namespace=${RQ_NAMESPACE:-default}" \
  --conf "spark.kubernetes.authenticate.driver.serviceAccountName=${RQ_SERVICE_ACCOUNT:-spark}" \
  --conf "spark.kubernetes.executor.request.cores=$RQ_CORES_PER_RANK" \
  ${extra[@]+"${extra[@]}"} \
  "$RQ_JAR" "${RQ_ARGS[@]}"
