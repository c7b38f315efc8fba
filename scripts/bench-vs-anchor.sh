#!/usr/bin/env bash
# scripts/bench-vs-anchor.sh: `rq bench` against the official PyTorch code (shared/anchor), interleaved
# in one session on one machine, medians (docs/performance.md "Method").
#
#   scripts/bench-vs-anchor.sh [--rounds N] [--out DIR] [--threads T] [--anchor DIR] [--anchor-work DIR]
#                              [--official-git DIR] [--rq-max-warmup S] [--quick]
#
# Each round runs the official anchor_bench.py (fp32 and --tuned: channels_last + bfloat16 autocast) and
# `bin/rq bench` on conf/rqvae/bench64.yaml and conf/rqtransformer/bench64.yaml (fp32 and bf16), the
# same models, batch 16 and intra-op threads; the order alternates between rounds (A B, B A, ...) so
# that neither side always runs first. It prints, per measure, both medians, the ratio of the medians,
# the median of the per-round ratios and their range, and the machine load seen before each run.
# A ratio from a loaded machine is noisy; the coordinator's figures come from an idle one.
#
#   --rounds N        rounds (default 5)
#   --out DIR         where the raw JSON of every run and summary.{json,md} go
#                     (default target/bench-vs-anchor-<time>)
#   --threads T       intra-op threads of both sides (default 2)
#   --anchor DIR      the directory holding anchor_bench.py and setup.sh
#                     (default: $RQ_ANCHOR_DIR, else shared/anchor next to or above this checkout)
#   --anchor-work DIR the reference environment setup.sh builds (default ${TMPDIR:-/tmp}/rq-anchor)
#   --official-git D  a clone of github.com/kakaobrain/rq-vae-transformer: builds the reference
#                     environment first when it is missing (shared/anchor/setup.sh)
#   --rq-max-warmup S rq bench's --max-warmup-seconds (default: rq bench's, 60): the longest warm-up of each
#                     headline measure until the JVM's JIT compiler has settled
#                     (docs/performance-history.md "Session 10")
#   --quick           a smoke run (rq: --min-seconds 2 --iters 2 --max-warmup-seconds 0): proves the script works, not a figure
#   --no-roofline     skip scripts/roofline_bench64.py (FLOP per image and the 2048² matmul peak, run
#                     once before the rounds; adds GFLOP/s and the fraction of that peak to the table)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=5
OUT=
THREADS=2
ANCHOR=${RQ_ANCHOR_DIR:-}
WORK=${TMPDIR:-/tmp}/rq-anchor
OFFICIAL_GIT=
RQ_EXTRA=()
ROOFLINE=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --anchor) ANCHOR=$2; shift 2 ;;
    --anchor-work) WORK=$2; shift 2 ;;
    --official-git) OFFICIAL_GIT=$2; shift 2 ;;
    --rq-max-warmup) RQ_EXTRA+=(--max-warmup-seconds "$2"); shift 2 ;;
    --quick) RQ_EXTRA+=(--min-seconds 2 --iters 2 --max-warmup-seconds 0); shift ;;
    --no-roofline) ROOFLINE=0; shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "bench-vs-anchor: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench-vs-anchor: --rounds must be a positive integer, got '$ROUNDS'" >&2; exit 2; }
if [[ -z $ANCHOR ]]; then
  for d in "$ROOT/shared/anchor" "$ROOT/../shared/anchor" "$ROOT/../../shared/anchor"; do
    [[ -f $d/anchor_bench.py ]] && { ANCHOR=$(cd "$d" && pwd); break; }
  done
fi
[[ -n $ANCHOR && -f $ANCHOR/anchor_bench.py ]] || {
  echo "bench-vs-anchor: anchor_bench.py not found: pass --anchor DIR or set RQ_ANCHOR_DIR" >&2; exit 2; }
PY=$WORK/venv/bin/python
if [[ ! -x $PY || ! -d $WORK/official/rqvae ]]; then
  [[ -n $OFFICIAL_GIT ]] || {
    echo "bench-vs-anchor: no reference environment in $WORK: pass --official-git <clone of kakaobrain/rq-vae-transformer> to build it ($ANCHOR/setup.sh)" >&2
    exit 2; }
  "$ANCHOR/setup.sh" "$OFFICIAL_GIT" "$WORK"
fi
OUT=${OUT:-$ROOT/target/bench-vs-anchor-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
cd "$ROOT"

echo "bench-vs-anchor: $ROUNDS round(s), $THREADS threads, raw results in $OUT"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores visible"
bin/rq --help >/dev/null # builds first when sources changed, so that no build is timed

load() { echo "$1 $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/load.txt"; }

official() { # $1 round
  load "official-$1"
  "$PY" "$ANCHOR/anchor_bench.py" "$WORK/official" "$THREADS" --tuned >"$OUT/official-$1.out" 2>"$OUT/official-$1.err" || {
    echo "bench-vs-anchor: the official bench failed, see $OUT/official-$1.err" >&2; exit 1; }
  grep '^{' "$OUT/official-$1.out" | tail -1 >"$OUT/official-$1.json"
  echo "  round $1 official done"
}

rq() { # $1 round
  load "rq-$1"
  local kind
  for kind in rqvae rqtransformer; do
    RQ_LOG_DIR="$OUT/logs" bin/rq bench --conf "conf/$kind/bench64.yaml" --threads "$THREADS" --precision both \
      "${RQ_EXTRA[@]}" --json "$OUT/rq-$kind-$1.json" >"$OUT/rq-$kind-$1.out" 2>&1 || {
      echo "bench-vs-anchor: rq bench ($kind) failed, see $OUT/rq-$kind-$1.out" >&2; exit 1; }
  done
  echo "  round $1 rq done"
}

if ((ROOFLINE)); then
  load roofline
  "$PY" "$ROOT/scripts/roofline_bench64.py" "$WORK/official" "$THREADS" >"$OUT/roofline.out" 2>"$OUT/roofline.err" || {
    echo "bench-vs-anchor: scripts/roofline_bench64.py failed, see $OUT/roofline.err" >&2; exit 1; }
  grep '^{' "$OUT/roofline.out" | tail -1 >"$OUT/roofline.json"
  echo "  roofline done"
fi

for ((i = 1; i <= ROUNDS; i++)); do
  if ((i % 2)); then official "$i"; rq "$i"; else rq "$i"; official "$i"; fi
done
load end

/usr/bin/env python3 - "$OUT" "$ROUNDS" <<'PY'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
# (measure, rq key, official key): fp32 against the official code as users run it; bf16 against
# the official code as a PyTorch expert would tune it on this CPU (channels_last + bf16 autocast).
PAIRS = [
    ("tokenize fp32", "tokenize_img_per_s", "tokenize_img_per_s"),
    ("RQ-VAE train step fp32", "vae_train_img_per_s", "vae_train_img_per_s"),
    ("RQ-Transformer train step fp32", "transformer_train_img_per_s", "transformer_train_img_per_s"),
    ("sampling fp32", "sample_img_per_s", "sample_img_per_s"),
    ("tokenize bf16 vs tuned", "tokenize_bf16_img_per_s", "tokenize_tuned_img_per_s"),
    ("RQ-VAE train step bf16 vs tuned", "vae_train_bf16_img_per_s", "vae_train_tuned_img_per_s"),
    ("RQ-Transformer train bf16 vs tuned", "transformer_train_bf16_img_per_s", "transformer_train_tuned_img_per_s"),
    ("sampling bf16 vs tuned", "sample_bf16_img_per_s", "sample_tuned_img_per_s"),
]
def load(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)
runs = []
for i in range(1, rounds + 1):
    r = dict(load(f"rq-rqvae-{i}.json")); r.update(load(f"rq-rqtransformer-{i}.json"))
    runs.append((r, load(f"official-{i}.json")))
loads = [float(l.split()[1]) for l in open(os.path.join(out, "load.txt"))]
roof = load("roofline.json") if os.path.exists(os.path.join(out, "roofline.json")) else None
FLOP_KEY = {"tokenize": "tokenize_flop_per_img", "vae_train": "vae_train_flop_per_img",
            "transformer_train": "transformer_train_flop_per_img", "sample": "sample_flop_per_img"}
def roofline(rk, rate):
    """(GFLOP/s reached, fraction of the matmul peak of the same dtype) of rq's median rate."""
    if roof is None:
        return None
    kind = next(k for k in FLOP_KEY if rk.startswith(k + "_"))
    gflops = roof[FLOP_KEY[kind]] * rate / 1e9
    peak = roof["matmul2048_bf16_gflop_per_s" if "_bf16_" in rk else "matmul2048_fp32_gflop_per_s"]
    return gflops, gflops / peak
rows, summary = [], {"rounds": rounds, "load_1min_min": min(loads), "load_1min_max": max(loads),
                     "torch": runs[0][1].get("torch"), "measures": {}}
for name, rk, ok in PAIRS:
    pairs = [(r[rk], o[ok]) for r, o in runs if rk in r and ok in o]
    if not pairs:
        rows.append(f"| {name} | - | - | - | - | missing in the results (bf16 needs bfloat16 units) | - | - |")
        continue
    rqv = statistics.median(p[0] for p in pairs)
    ofv = statistics.median(p[1] for p in pairs)
    ratios = [p[0] / p[1] for p in pairs]
    rl = roofline(rk, rqv)
    summary["measures"][name] = {"rq_key": rk, "official_key": ok, "rq_median": rqv, "official_median": ofv,
                                 "ratio_of_medians": rqv / ofv, "median_ratio": statistics.median(ratios),
                                 "ratios": ratios, "rq_gflop_per_s": rl and rl[0], "rq_fraction_of_peak": rl and rl[1]}
    rows.append(f"| {name} | {ofv:.2f} | {rqv:.2f} | {rqv / ofv:.2f} | {statistics.median(ratios):.2f} |"
                f" {min(ratios):.2f}-{max(ratios):.2f} |" + (f" {rl[0]:.1f} | {100 * rl[1]:.0f} % |" if rl else " - | - |"))
guards = {"rq tokenize_bf16_code_agreement": [r.get("tokenize_bf16_code_agreement") for r, _ in runs],
          "official tokenize_tuned_code_agreement": [o.get("tokenize_tuned_code_agreement") for _, o in runs],
          "rq decode_bf16_rel_error": [r.get("decode_bf16_rel_error") for r, _ in runs],
          "rq transformer_bf16_logit_rel_error": [r.get("transformer_bf16_logit_rel_error") for r, _ in runs]}
summary["guards"] = guards
# rq's warm-up (until the JIT compiler settled, BenchTimer) and the JVM's own threads during the timed calls
jvm = {}
for _, rk, _ in PAIRS:
    pre = rk[:-len("_img_per_s")]
    if any(pre + "_warmup_calls" in r for r, _ in runs):
        jvm[pre] = {k: [r.get(pre + "_" + k) for r, _ in runs]
                    for k in ("warmup_calls", "jit_settled", "jit_ms_per_call", "gc_ms_per_call")}
summary["rq_jvm"] = jvm
table = ["| measure (img/s, batch 16) | official median | rq median | ratio of medians | median of round ratios | range"
         " | rq GFLOP/s | of matmul peak |",
         "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |"] + rows
summary["roofline"] = roof
text = "\n".join(table) + "\n\n" + "\n".join(
    f"- {k}: " + ", ".join("-" if v is None else f"{v:.4g}" for v in vs) for k, vs in guards.items()) + \
    ("" if not jvm else "\n\nrq warm-up calls (JIT settled?) and JIT / GC threads' CPU per timed call, ms, per round:\n" +
     "\n".join(f"- {k}: " + ", ".join(f"{c} ({'yes' if st else 'no'}) {j:.2f} / {g:.2f}" for c, st, j, g in
                zip(v["warmup_calls"], v["jit_settled"], v["jit_ms_per_call"], v["gc_ms_per_call"]) if c is not None)
                for k, v in jvm.items())) + \
    f"\n\n{rounds} interleaved round(s); 1-minute load average before the runs: {min(loads):.2f} to {max(loads):.2f}" + \
    f"; official torch {summary['torch']}\n" + ("" if roof is None else
    "FLOP per image (matmul/conv/attention, torch.utils.flop_counter on the official models): " +
    ", ".join(f"{k} {roof[v] / 1e9:.2f} G" for k, v in FLOP_KEY.items()) +
    f"; 2048² matmul peak on {roof['threads']} threads: fp32 {roof['matmul2048_fp32_gflop_per_s']:.1f},"
    f" bf16 {roof['matmul2048_bf16_gflop_per_s']:.1f} GFLOP/s\n")
open(os.path.join(out, "summary.md"), "w").write(text)
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
print(text)
PY
echo "bench-vs-anchor: summary in $OUT/summary.md and summary.json"
