#!/usr/bin/env bash
# scripts/bench-vs-commit.sh: `rq bench` of this checkout against the same bench of an older commit,
# interleaved in one session on one machine, medians and ratios (before/after figures of a speed change).
#
#   scripts/bench-vs-commit.sh COMMIT [--rounds N] [--conf FILE]... [--precision fp32|bf16|both]
#                              [--threads T] [--out DIR] [--quick]
#
# Each side reads the --conf path in its own checkout. COMMIT is checked out in a scratch worktree (${TMPDIR:-/tmp}/rq-bench-<commit>, reused when present)
# and built there with the Maven reactor (`mvn package`, never `mvn install`). Each round runs, per
# --conf, `bin/rq bench` of both checkouts, the order alternating between rounds (A B, B A, ...).
# Prints per measure the medians, the ratio of the medians (new/old) and the per-round ratios, and the
# 1-minute load average before every run. Raw JSON per run in --out (default target/bench-vs-commit-<time>).
#
#   --rounds N       rounds (default 3)
#   --conf FILE      bench config, repeatable (default conf/rqtransformer/bench64.yaml and conf/rqvae/bench64.yaml)
#   --precision P    passed to both sides' `rq bench` when the old one has the flag (default fp32)
#   --threads T      intra-op threads of both sides (default 2)
#   --quick          smoke run (--min-seconds 2 --iters 2): proves the script works, not a figure
#
# Roughly 3-5 min per round on an idle 2-core machine with the two default configs (an estimate; plus one build of
# COMMIT). Remove the scratch worktree afterwards with `git worktree remove <its path>`.
# Example (the #12 speed changes against main before them, a08d533, and against 0f6364b):
#   scripts/bench-vs-commit.sh a08d533 --rounds 3
#   scripts/bench-vs-commit.sh 0f6364b --rounds 3 --conf conf/rqtransformer/bench64.yaml
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[[ $# -ge 1 && $1 != -* ]] || { sed -n '2,24p' "$0"; exit 2; }
COMMIT=$1; shift
ROUNDS=3; CONFS=(); PRECISION=fp32; THREADS=2; OUT=; EXTRA=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --conf) CONFS+=("$2"); shift 2 ;;
    --precision) PRECISION=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --quick) EXTRA=(--min-seconds 2 --iters 2); shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "bench-vs-commit: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench-vs-commit: --rounds must be a positive integer" >&2; exit 2; }
[[ ${#CONFS[@]} -gt 0 ]] || CONFS=(conf/rqtransformer/bench64.yaml conf/rqvae/bench64.yaml)
SHA=$(git -C "$ROOT" rev-parse --verify --short "$COMMIT^{commit}") || { echo "bench-vs-commit: unknown commit $COMMIT" >&2; exit 2; }
OLD=${TMPDIR:-/tmp}/rq-bench-$SHA
OUT=${OUT:-$ROOT/target/bench-vs-commit-$SHA-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
if [[ ! -d $OLD ]]; then
  git -C "$ROOT" worktree add --quiet --detach "$OLD" "$SHA"
fi
echo "bench-vs-commit: new = $ROOT ($(git -C "$ROOT" rev-parse --short HEAD)$( [[ -n $(git -C "$ROOT" status --porcelain -uno) ]] && echo ', uncommitted changes')), old = $SHA in $OLD"
echo "building both (not timed) ..."
(cd "$OLD" && bin/rq --help >/dev/null)
(cd "$ROOT" && bin/rq --help >/dev/null)
OLD_PREC=(); NEW_PREC=(--precision "$PRECISION")
if (cd "$OLD" && bin/rq bench --help 2>/dev/null | grep -q -- --precision); then OLD_PREC=(--precision "$PRECISION")
elif [[ $PRECISION != fp32 ]]; then echo "bench-vs-commit: $SHA's rq bench has no --precision (fp32 only)" >&2; exit 2; fi

run() { # side dir round conf-index conf precision-args...
  local side=$1 dir=$2 r=$3 ci=$4 conf=$5; shift 5
  echo "$side-$ci-$r $(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/load.txt"
  (cd "$dir" && RQ_JAVA_OPTS=-Xmx3g bin/rq bench --conf "$conf" --threads "$THREADS" "$@" "${EXTRA[@]}" \
      --json "$OUT/$side-$ci-$r.json" >"$OUT/$side-$ci-$r.log" 2>&1) || {
    echo "bench-vs-commit: $side bench failed, see $OUT/$side-$ci-$r.log" >&2; exit 1; }
}
for ((r = 1; r <= ROUNDS; r++)); do
  for ci in "${!CONFS[@]}"; do
    c=${CONFS[$ci]}
    if (( r % 2 )); then run old "$OLD" "$r" "$ci" "$c" "${OLD_PREC[@]}"; run new "$ROOT" "$r" "$ci" "$c" "${NEW_PREC[@]}"
    else run new "$ROOT" "$r" "$ci" "$c" "${NEW_PREC[@]}"; run old "$OLD" "$r" "$ci" "$c" "${OLD_PREC[@]}"; fi
    echo "round $r/$ROUNDS $c done (load $(cut -d' ' -f1 /proc/loadavg))"
  done
done
python3 - "$OUT" "$ROUNDS" "${#CONFS[@]}" <<'EOF'
import json, statistics, sys, os
out, rounds, nconf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = ["| measure | old median | new median | new/old | round ratios |", "| --- | ---: | ---: | ---: | --- |"]
for ci in range(nconf):
    runs = {s: [json.load(open(os.path.join(out, f"{s}-{ci}-{r}.json"))) for r in range(1, rounds + 1)] for s in ("old", "new")}
    keys = [k for k, v in runs["new"][0].items() if k.endswith("_img_per_s") and k in runs["old"][0]]
    for k in keys:
        o = [x[k] for x in runs["old"]]; n = [x[k] for x in runs["new"]]
        rr = [b / a for a, b in zip(o, n)]
        lines.append(f"| {k} | {statistics.median(o):.2f} | {statistics.median(n):.2f} | **{statistics.median(n) / statistics.median(o):.2f}x** | "
                     + ", ".join(f"{x:.2f}" for x in rr) + " |")
load = open(os.path.join(out, "load.txt")).read().split()
lines.append("")
lines.append("1-minute load before the runs: " + " ".join(load[1::2]))
open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
echo "raw results and summary.md in $OUT"
