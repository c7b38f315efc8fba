#!/usr/bin/env bash
# scripts/tf-step-scaling.sh: the RQ-Transformer train step (bench64, batch 16) of ours and of the official
# code at 1 and at 2 intra-op threads, interleaved, medians: is the fp32 gap in the work per step (1 thread)
# or in how the step scales to the second thread? (docs/performance-history.md, "session 6")
#
#   scripts/tf-step-scaling.sh [--rounds N] [--steps S] [--precision fp32|bf16] [--anchor-work DIR]
#
# Per round and thread count, the official step (scripts/anchor_transformer_step.py: the anchor's model,
# data and AdamW; bf16 = its --tuned autocast) and ours (scripts/TransformerStepAb.java with one setting:
# TransformerBench's step, hard targets, dropout on), the order alternating. Each prints the median wall
# and calling-thread CPU time per step of S steps; the summary gives the medians over rounds, our speed
# relative to the official (official ms / our ms) and each side's 2-thread speed-up (1-thread ms / 2-thread ms).
# Needs the reference environment of scripts/bench-vs-anchor.sh (shared/anchor/setup.sh, default
# ${TMPDIR:-/tmp}/rq-anchor). About 4 min idle with the defaults (--rounds 2 --steps 6).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=2; STEPS=6; PREC=fp32; WORK=${TMPDIR:-/tmp}/rq-anchor
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --precision) PREC=$2; shift 2 ;;
    --anchor-work) WORK=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "tf-step-scaling: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x $WORK/venv/bin/python && -d $WORK/official ]] || { echo "tf-step-scaling: no reference environment in $WORK (run shared/anchor/setup.sh, see scripts/bench-vs-anchor.sh)" >&2; exit 2; }
cd "$ROOT"
bin/rq --help >/dev/null  # builds the jars when sources changed
CP="$(cat spark-jobs/target/classpath.txt):rq-model/target/classes"
TUNED=(); [[ $PREC == bf16 ]] && TUNED=(--tuned)
RES=$(mktemp)
official() { # threads
  "$WORK/venv/bin/python" scripts/anchor_transformer_step.py "$WORK/official" "$1" "$STEPS" "${TUNED[@]}" 2>/dev/null \
    | awk -v t="$1" '/^official/ {print "official", t, $6, $10}' | tr -d ',' >> "$RES"
}
ours() { # threads; one setting (A = B): every step is the same code
  local rounds=$(( (STEPS + 1) / 2 ))
  java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true -Xmx3g -cp "$CP" scripts/TransformerStepAb.java \
    conf/rqtransformer/bench64.yaml "$PREC" "$1" "$rounds" rq.scaling=1 rq.scaling=1 2>/dev/null \
    | awk -v t="$1" '/rq.scaling=1 / && !done {print "rq", t, $3, $7; done=1}' >> "$RES"
}
for ((r = 0; r < ROUNDS; r++)); do
  for t in 1 2; do
    echo "round $((r + 1)) threads $t (load $(cut -d' ' -f1 /proc/loadavg))"
    if (( (r + t) % 2 == 0 )); then official "$t"; ours "$t"; else ours "$t"; official "$t"; fi
    tail -2 "$RES" | sed 's/^/  /'
  done
done
python3 - "$RES" "$PREC" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = lambda side, t, i: st.median(float(r[2 + i]) for r in rows if r[0] == side and r[1] == str(t))
print("%s train step, medians over rounds (wall ms / thread cpu ms per step):" % sys.argv[2])
for t in (1, 2):
    o, q = med("official", t, 0), med("rq", t, 0)
    print("  %d thread(s): official %.0f / %.0f, rq %.0f / %.0f, rq speed vs official (wall) %.2fx"
          % (t, o, med("official", t, 1), q, med("rq", t, 1), o / q))
print("  2-thread speed-up (wall, 1-thread / 2-thread): official %.2fx, rq %.2fx"
      % (med("official", 1, 0) / med("official", 2, 0), med("rq", 1, 0) / med("rq", 2, 0)))
PY
rm -f "$RES"
