#!/usr/bin/env bash
# scripts/fp32-kernels-resume-repro.sh: reproduces the fp32 fused-kernel resume mismatch (issue 12) with
# S3CheckpointKillTest's settings on the local file system, every run a separate `bin/rq` JVM.
#
#   scripts/fp32-kernels-resume-repro.sh [--out DIR] [--kernels true|false]
#
# 1. two uninterrupted runs of `rq train-vae` (conf/rqvae/tiny.yaml, 2 ranks, 5 steps, a checkpoint
#    every step) with -Drq.kernels.fp32=<kernels> (default true: the fused kernels and channels-last);
# 2. the same command killed in the checkpoints of steps 2, 3, 4 and 5 (--fault-injection
#    ckpt-0:0:2,ckpt-1+:0:3,ckpt-2:0:4,ckpt-3:0:5) and rerun until it completes (5 processes);
# 3. prints the weights SHA-256 of every kept checkpoint (steps 3-5) of the three runs and PASS when
#    the killed-and-resumed run ends bit-identical to the uninterrupted ones, FAIL otherwise.
# The mismatch is intermittent (2 failing chains in 3 with the kernels on, 2026-12-06): run it a few times.
# About 8 min on a loaded 2-core machine (7 JVM starts of ~40 s each plus 5 tiny training steps each).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=
KERNELS=true
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) OUT=$2; shift 2 ;;
    --kernels) KERNELS=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "fp32-kernels-resume-repro: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
OUT=${OUT:-$ROOT/target/fp32-kernels-resume-$(date -u +%Y%m%dT%H%M%SZ)}
rm -rf "$OUT"; mkdir -p "$OUT"
export RQ_LOG_DIR="$OUT/logs" RQ_JAVA_OPTS="-Xmx2g -Drq.kernels.fp32=$KERNELS ${RQ_JAVA_OPTS:-}"
echo "fp32-kernels-resume-repro: commit $(git log --oneline -1 2>/dev/null || echo '?'), -Drq.kernels.fp32=$KERNELS, outputs in $OUT"
echo "load before: $(uptime)"
bin/rq --help >/dev/null # builds first when sources changed
A=(train-vae --conf conf/rqvae/tiny.yaml --data data/emoji/train --workers 2 --max-steps 5 --checkpoint-every 1
   --set train.batch_size=8 --set data.decode_threads=1 --set train.log_every=1)
for r in ref1 ref2; do
  bin/rq "${A[@]}" --out "$OUT/$r" >"$OUT/$r.log" 2>&1 || { tail -5 "$OUT/$r.log"; exit 1; }
done
for i in 0 1 2 3 4; do
  rc=0
  bin/rq "${A[@]}" --out "$OUT/killed" --fault-injection ckpt-0:0:2,ckpt-1+:0:3,ckpt-2:0:4,ckpt-3:0:5 \
    >"$OUT/killed-$i.log" 2>&1 || rc=$?
  if [[ $i -lt 4 && $rc -ne 137 ]] || [[ $i -eq 4 && $rc -ne 0 ]]; then
    echo "attempt $i: unexpected exit status $rc"; tail -5 "$OUT/killed-$i.log"; exit 1
  fi
done
sha() { grep -o '"weights_sha256" *: *"[0-9a-f]*"' "$1/trainer_state.json" | grep -o '[0-9a-f]\{64\}'; }
for s in 3 4 5; do
  d=checkpoints/step-0000000$s
  echo "step $s: ref1 $(sha "$OUT/ref1/$d" | cut -c1-16)  ref2 $(sha "$OUT/ref2/$d" | cut -c1-16)  killed $(sha "$OUT/killed/$d" | cut -c1-16)"
done
grep -h "rqvae step" "$OUT/ref1.log" | sed 's/^/ref1   /' | cut -c1-110
grep -h "rqvae step" "$OUT"/killed-*.log | sed 's/^/killed /' | cut -c1-110
d=checkpoints/step-00000005
if [[ $(sha "$OUT/ref1/$d") == "$(sha "$OUT/killed/$d")" && $(sha "$OUT/ref1/$d") == "$(sha "$OUT/ref2/$d")" ]]; then
  echo "PASS: killed and resumed run bit-identical to the uninterrupted ones"
else
  echo "FAIL: weights after step 5 differ"
fi
echo "load after: $(uptime)"
