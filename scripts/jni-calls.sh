#!/usr/bin/env bash
# jni-calls.sh: native (JNI) calls per RQ-VAE training step or tokenize call, counted with uprobes on every
# exported Java_* entry point of DJL's libdjl_torch (root and `perf` needed; the probes are removed at the end).
#
#   scripts/jni-calls.sh [--tokenize] CONF fp32|bf16 BATCH [JVM_OPTION...]
#   e.g. scripts/jni-calls.sh conf/rqvae/quickstart.yaml bf16 4 -Drq.kernels.fused_resblock=false
#
# Runs scripts/VaeStepAb.java (or TokenizeAb.java, batch 16 fixed there) twice at 1 thread, with 2 and with 6
# rounds (each round = 2 steps or calls), and prints (calls of the long run − calls of the short run) / 8 per
# step or call, in all and per entry point (top 25). ~1 min for the quickstart config, ~3 min for bench64, loaded.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SCRIPT=VaeStepAb
if [[ "${1:-}" == "--tokenize" ]]; then SCRIPT=TokenizeAb; shift; fi
CONF=$1 PREC=$2 BATCH=$3
shift 3
LIB=$(ls ~/.djl.ai/pytorch/*/*libdjl_torch.so | head -1)
OUT=$(mktemp -d)
GROUP=rqjni
trap 'perf probe -q -d "$GROUP:*" >/dev/null 2>&1 || true; rm -rf "$OUT"' EXIT
trap 'exit 130' INT TERM
nm -D "$LIB" | awk '/ T Java_/{print $3}' > "$OUT/names"
i=0
while read -r f; do
  i=$((i + 1))
  perf probe -q -x "$LIB" --add "$GROUP:j$i=$f" >/dev/null 2>&1 || echo "no probe for $f" >&2
done < "$OUT/names"
export GLIBC_TUNABLES="${GLIBC_TUNABLES-glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864}"
CP="rq-model/target/classes:$(cat spark-jobs/target/classpath.txt)"
for rounds in 2 6; do
  perf stat -x, -o "$OUT/r$rounds" -e "$GROUP:*" java "$@" --add-opens=java.base/java.nio=ALL-UNNAMED \
    -Dai.djl.offline=true -Xmx3g -Drq.ab.batch="$BATCH" -Drq.ab.max_warmup_s=0 -cp "$CP" \
    "scripts/$SCRIPT.java" "$CONF" "$PREC" 1 "$rounds" rq.none=a rq.none=b > "$OUT/log$rounds" 2>&1
done
per() { awk -F, '$1 ~ /^[0-9]+$/ { split($3, a, ":"); print a[2] "," $1 }' "$1" | sort; }
join -t, <(per "$OUT/r2") <(per "$OUT/r6") | awk -F, -v names="$OUT/names" '
  BEGIN { while ((getline n < names) > 0) { k++; name["j" k] = n } }
  { d = ($3 - $2) / 8; total += d; if (d > 0) { sub("Java_ai_djl_pytorch_jni_PyTorchLibrary_", "", name[$1]); print d, name[$1] } }
  END { print total, "ALL" }' | sort -rn | head -26 | awk -v s="$SCRIPT" -v c="$CONF" -v p="$PREC" -v b="$BATCH" '
  NR == 1 { printf "%s %s %s batch %s: %.0f native calls per %s\n", s, c, p, b, $1, s == "TokenizeAb" ? "call" : "step"; next }
  { printf "  %8.1f %s\n", $1, $2 }'
