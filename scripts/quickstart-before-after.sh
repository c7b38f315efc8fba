#!/usr/bin/env bash
# scripts/quickstart-before-after.sh BEFORE AFTER [ROUNDS [quickstart options...]]: the quickstart's wall time at two
# revisions of this repository (issue #15 item 2, docs/quickstart-history.md "Session 11"), each from a fresh clone including
# bin/rq's build, alternating BEFORE, AFTER for ROUNDS rounds (default 1). Options after ROUNDS go to both runs
# (default: --max-steps 300 --stage2-max-steps 300, about 2.5 minutes a run idle). Prints per run the total, each
# stage's seconds and the first logged losses of both trainings (they must be equal where the change is not
# numerical). Environment: RQ_JAVA_OPTS_BEFORE / RQ_JAVA_OPTS_AFTER set bin/rq's JVM options per side (e.g.
# "-Xmx8g -XX:TieredStopAtLevel=1" for a JIT comparison at one revision). Meaningful only on an idle machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $# -ge 2 ]] || { echo "usage: $0 BEFORE AFTER [ROUNDS [quickstart options...]]" >&2; exit 2; }
BEFORE=$1 AFTER=$2 ROUNDS=${3:-1}
shift $(( $# >= 3 ? 3 : 2 ))
OPTS=("$@")
[[ ${#OPTS[@]} -gt 0 ]] || OPTS=(--max-steps 300 --stage2-max-steps 300)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rq-before-after-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
echo "load before: $(uptime)"
for r in $(seq 1 "$ROUNDS"); do
  for side in before after; do
    rev=$BEFORE; opts=${RQ_JAVA_OPTS_BEFORE:-}
    [[ $side == after ]] && { rev=$AFTER; opts=${RQ_JAVA_OPTS_AFTER:-}; }
    dir="$WORK/$side-$r"
    git clone -q --no-hardlinks "$ROOT" "$dir/rq"
    git -C "$dir/rq" checkout -q "$rev"
    start=$(date +%s.%N)
    (cd "$dir/rq" && RQ_JAVA_OPTS="${opts:--Xmx8g}" bin/rq quickstart --out "$dir/qs" "${OPTS[@]}" > "$dir/log" 2>&1) \
      || { tail -5 "$dir/log"; exit 1; }
    total=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
    python3 - "$dir/qs/quickstart.json" "$dir/log" "$side $r ($(git -C "$dir/rq" log --oneline -1 | cut -c1-60))" "$total" <<'PY'
import json, re, sys
q = json.load(open(sys.argv[1])); log = open(sys.argv[2]).read()
stages = "  ".join(f"{k} {v['seconds']:.1f}" for k, v in q["stages"].items())
print(f"{sys.argv[3]}: {sys.argv[4]} s (fresh clone, build included); {stages}")
for kind in ("rqvae", "rqtransformer"):
    losses = re.findall(kind + r" step (\d+)/\d+ \|[^|]*\| loss ([0-9.]+)", log)[:3]
    print(f"   {kind} first logged losses: " + ", ".join(f"step {s} {l}" for s, l in losses))
PY
    rm -rf "$dir"
  done
done
echo "load after:  $(uptime)"
