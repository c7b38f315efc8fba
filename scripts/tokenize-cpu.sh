#!/usr/bin/env bash
# scripts/tokenize-cpu.sh: where the bf16 tokenize gap to the official tuned code is (issue 12): ours
# (scripts/TokenizeAb.java, bench64, batch 16, bf16; two variants (--ab), alternating call by call in one JVM)
# and then the official tuned call (scripts/anchor_tokenize_cpu.py),
# at 1 and 2 threads: wall, thread CPU (user) and minor page faults per call, medians. Under load
# compare the thread CPU at 1 thread; wall times only when idle. About 3-4 min on an idle 2-core machine.
#
#   scripts/tokenize-cpu.sh [--anchor-dir DIR] [--rounds N] [--precision bf16|fp32] [--ab "A B"]
#
#   --anchor-dir DIR   shared/anchor's set-up (default /tmp/rq-anchor: DIR/venv, DIR/official)
#   --rounds N         calls per variant of ours (default 5)
#   --ab "A B"         the two variants of ours, KEY=VALUE[,KEY=VALUE...] each (default: session 9's
#                      switches off, then on: the quantizer's fused distances and codes-only path,
#                      the held bfloat16 weight casts, the in-place SiLU, min-indices for argmin;
#                      docs/performance-history.md "Session 9: bf16 tokenize ...")
# RQ_JAVA_OPTS is appended to the JVM options. GLIBC_TUNABLES defaults to bin/rq's malloc setting for both
# processes (GLIBC_TUNABLES= turns it off), as users' `bin/rq` runs get it.
set -euo pipefail
export GLIBC_TUNABLES="${GLIBC_TUNABLES-glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANCHOR=/tmp/rq-anchor
ROUNDS=5
PREC=bf16
S9=rq.quantizer.fused_distances,rq.quantizer.codes_only,rq.tokenize.frozen_casts,rq.kernels.inplace_silu,rq.kernels.min_indices
AB="${S9//,/=false,}=false ${S9//,/=true,}=true"
while [[ $# -gt 0 ]]; do
  case $1 in
    --anchor-dir) ANCHOR=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --precision) PREC=$2; shift 2 ;;
    --ab) AB=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "tokenize-cpu: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
[[ -x $ANCHOR/venv/bin/python && -d $ANCHOR/official ]] || { echo "tokenize-cpu: no $ANCHOR/venv or $ANCHOR/official (shared/anchor/README)" >&2; exit 2; }
bin/rq --help >/dev/null # builds first when sources changed
CP="rq-model/target/classes:$(cat spark-jobs/target/classpath.txt)"
echo "tokenize-cpu: commit $(git log --oneline -1 | cut -c1-60); $(uptime)"
for t in 1 2; do
  # shellcheck disable=SC2086
  java -Xmx2g ${RQ_JAVA_OPTS:-} --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
    -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" -cp "$CP" scripts/TokenizeAb.java \
    conf/rqvae/bench64.yaml "$PREC" "$t" "$ROUNDS" $AB 2>/dev/null
  "$ANCHOR/venv/bin/python" scripts/anchor_tokenize_cpu.py "$ANCHOR/official" "$t" 2>/dev/null | tail -1
done
echo "tokenize-cpu: done; $(uptime)"
