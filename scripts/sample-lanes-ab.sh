#!/usr/bin/env bash
# scripts/sample-lanes-ab.sh: `rq sample` with model lanes (every task slot samples and decodes
# concurrently on the executor's shared models, the default) against one lane per executor (model
# calls serialized, the design before lanes: --spark-conf spark.rq.sample.lanes=false), interleaved.
#
#   scripts/sample-lanes-ab.sh [--rounds N] [--per-class P] [--workers W] [--conf-vae F] [--conf-t F] [--out DIR]
#
# Once: quickstart-sized RQ-VAE and RQ-Transformer checkpoints (1 training step each: the weights do
# not change the work) and a token table. Each round, order alternating: `rq sample --workers W`
# with lanes (threads per task: cores / slots) and without (threads per call: the executor's cores),
# P samples per class of the 9 emoji classes; job.images_per_second of each sample manifest (the
# sampling stage, decoding and writing included). Prints both medians, their ratio, the per-round
# ratios and the load. Speed figures: meaningful on an idle machine only.
#
#   --rounds N     rounds (default 3)
#   --per-class P  samples per class (default 16: 144 images)
#   --workers W    local[W] (default 2)
#   --conf-vae F   RQ-VAE config (default conf/rqvae/quickstart.yaml)
#   --conf-t F     RQ-Transformer config (default conf/rqtransformer/quickstart.yaml)
#   --out DIR      outputs and summary.txt (default target/sample-lanes-ab-<time>)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=3
PER_CLASS=16
WORKERS=2
CONF_VAE=conf/rqvae/quickstart.yaml
CONF_T=conf/rqtransformer/quickstart.yaml
OUT=
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --per-class) PER_CLASS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --conf-vae) CONF_VAE=$2; shift 2 ;;
    --conf-t) CONF_T=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "sample-lanes-ab: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
OUT=${OUT:-$ROOT/target/sample-lanes-ab-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export RQ_LOG_DIR="$OUT/logs"
bin/rq --help >/dev/null # builds first when sources changed, so that no build is timed
load() { echo "$1 $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/load.txt"; }
run() { # $1 log name, rest: the command
  local name=$1; shift
  "$@" >"$OUT/$name.out" 2>&1 || { echo "sample-lanes-ab: $name failed, see $OUT/$name.out" >&2; tail -3 "$OUT/$name.out" >&2; exit 1; }
}

VAE="$OUT/vae/checkpoints/step-00000001"
T="$OUT/t/checkpoints/step-00000001"
# each made once; a rerun into the same --out reuses what exists
[[ -f $VAE/manifest.json ]] || run train-vae bin/rq train-vae --conf "$CONF_VAE" --data data/emoji/train \
  --out "$OUT/vae" --max-steps 1 --checkpoint-every 1 --workers 1
[[ -f $OUT/tokens/_tokens_manifest.json ]] || run tokenize bin/rq tokenize --checkpoint "$VAE" --data data/emoji \
  --output "$OUT/tokens" --workers "$WORKERS"
[[ -f $T/manifest.json ]] || run train-t bin/rq train-transformer --conf "$CONF_T" --tokens "$OUT/tokens" \
  --vae "$VAE" --out "$OUT/t" --max-steps 1 --checkpoint-every 1 --workers 1 --held-out none

sample() { # $1 lanes|one-lane, $2 round
  load "$1-$2"
  local extra=()
  [[ $1 == one-lane ]] && extra=(--spark-conf spark.rq.sample.lanes=false)
  run "sample-$1-$2" bin/rq "${extra[@]}" sample --checkpoint "$T" --vae "$VAE" --per-class "$PER_CLASS" \
    --output "$OUT/samples-$1-$2" --workers "$WORKERS"
  cp "$OUT/samples-$1-$2/codes/_tokens_manifest.json" "$OUT/manifest-$1-$2.json"
  rm -rf "$OUT/samples-$1-$2"
}
: >"$OUT/load.txt"
for ((i = 1; i <= ROUNDS; i++)); do
  if ((i % 2)); then sample lanes "$i"; sample one-lane "$i"; else sample one-lane "$i"; sample lanes "$i"; fi
  echo "  round $i done"
done
load end

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def rate(kind, i):
    job = json.load(open(os.path.join(out, f"manifest-{kind}-{i}.json")))["job"]
    return job.get("images_per_second", job.get("imagesPerSecond")), job.get("intra_op_threads", job.get("intraOpThreads"))
rows = [(rate("lanes", i), rate("one-lane", i)) for i in range(1, rounds + 1)]
ratios = [l[0] / o[0] for l, o in rows]
lines = [f"round {i + 1}: lanes {l[0]:.2f} img/s ({l[1]} threads/call), one lane {o[0]:.2f} img/s ({o[1]} threads/call),"
         f" ratio {l[0] / o[0]:.2f}" for i, (l, o) in enumerate(rows)]
ml, mo = statistics.median(r[0][0] for r in rows), statistics.median(r[1][0] for r in rows)
lines.append(f"median: lanes {ml:.2f} img/s, one lane {mo:.2f} img/s; ratio of medians {ml / mo:.2f}, median of round"
             f" ratios {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})")
loads = [float(l.split()[1]) for l in open(os.path.join(out, "load.txt"))]
lines.append(f"1-minute load average before the runs: {min(loads):.2f} to {max(loads):.2f}")
text = "\n".join(lines)
open(os.path.join(out, "summary.txt"), "w").write(text + "\n")
print(text)
PY
