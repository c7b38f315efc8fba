#!/usr/bin/env bash
# deploy/gpu/discover-gpus.sh: Spark GPU discovery script of rq
#   (spark.{driver,executor,worker}.resource.gpu.discoveryScript)
#
# Prints {"name":"gpu","addresses":["0","1",...]}: the CUDA ordinals of the GPUs that THIS process
# can use. rq runs a task's model on exactly the ordinal Spark assigned to it (dev.rq.executor.TaskDevice),
# so the addresses must be ordinals as CUDA numbers them inside the process, not nvidia-smi's
# machine-wide indices:
#   - CUDA_VISIBLE_DEVICES unset: every GPU nvidia-smi lists, 0..n-1;
#   - CUDA_VISIBLE_DEVICES set (indices and/or GPU-/MIG- UUIDs, comma-separated): 0..k-1 for the k
#     leading entries that name an existing GPU (CUDA stops at the first entry it cannot resolve);
#     empty, "-1" or "NoDevFiles": none.
# Kubernetes with the NVIDIA device plugin and YARN with GPU isolation make only the container's GPUs
# visible, so the ordinals start at 0 there too.
#
# Exits 1 with a message on stderr when nvidia-smi is missing or fails (Spark then reports the
# discovery failure instead of starting an executor without its GPU).
# RQ_NVIDIA_SMI overrides the nvidia-smi command (tests).
set -euo pipefail

smi="${RQ_NVIDIA_SMI:-nvidia-smi}"
if ! command -v "$smi" >/dev/null 2>&1; then
  echo "discover-gpus.sh: $smi not found: no NVIDIA driver on this node (or not mounted into the container)" >&2
  exit 1
fi
if ! listing="$("$smi" --query-gpu=index,uuid --format=csv,noheader 2>&1)"; then
  echo "discover-gpus.sh: $smi failed: $listing" >&2
  exit 1
fi

indices=()
uuids=()
while IFS=',' read -r index uuid; do
  index="${index//[[:space:]]/}"
  uuid="${uuid//[[:space:]]/}"
  [[ -z "$index" ]] && continue
  indices+=("$index")
  uuids+=("$uuid")
done <<< "$listing"

known() { # is $1 an index or (a prefix of) a UUID of an existing GPU?
  local e="$1" i
  for i in "${!indices[@]}"; do
    if [[ "$e" == "${indices[$i]}" ]]; then return 0; fi
    if [[ "$e" == GPU-* || "$e" == MIG-* ]] && [[ "${uuids[$i]}" == "$e"* ]]; then return 0; fi
  done
  return 1
}

count=0
if [[ -z "${CUDA_VISIBLE_DEVICES+set}" ]]; then
  count=${#indices[@]}
elif [[ -n "$CUDA_VISIBLE_DEVICES" && "$CUDA_VISIBLE_DEVICES" != "-1" && "$CUDA_VISIBLE_DEVICES" != "NoDevFiles" ]]; then
  IFS=',' read -r -a entries <<< "$CUDA_VISIBLE_DEVICES"
  for e in "${entries[@]}"; do
    e="${e//[[:space:]]/}"
    known "$e" || break
    count=$((count + 1))
  done
fi

addresses=""
for ((i = 0; i < count; i++)); do
  addresses+="${addresses:+,}\"$i\""
done
echo "{\"name\":\"gpu\",\"addresses\":[$addresses]}"
