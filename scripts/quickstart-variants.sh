#!/usr/bin/env bash
# scripts/quickstart-variants.sh OUT STEPS NAME [--set key=value ...] : one stage-1 variant of the quickstart
# RQ-VAE, trained for a fixed number of steps (the cosine schedule is fitted to STEPS) and measured by the
# quickstart's own tokenize + decode stages: prints the validation PSNR (mean over the 186 images), the
# usage perplexity per depth and the median training step time. PSNR per fixed number of steps does not
# depend on the machine's load; the step time does (compare variants only within one run, interleaved).
# Example (docs/quickstart-history.md, "What limits the PSNR: measured per fixed number of steps (session 4)"):
#   scripts/quickstart-variants.sh runs/qs-variants 300 d4 --set "model.hparams.code_shape=[8,8,4]"
#   scripts/quickstart-variants.sh runs/qs-variants 300 d8
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$1"; STEPS="$2"; NAME="$3"; shift 3
export RQ_JAVA_OPTS="${RQ_JAVA_OPTS:--Xmx3g}"
mkdir -p "$OUT"
start=$(date +%s)
"$ROOT/bin/rq" quickstart --out "$OUT/$NAME" --workers "${RQ_WORKERS:-2}" --no-stage2 --max-steps "$STEPS" "$@" \
  > "$OUT/$NAME.log" 2>&1 || { tail -5 "$OUT/$NAME.log"; exit 1; }
python3 - "$OUT/$NAME" "$NAME" "$STEPS" "$(( $(date +%s) - start ))" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import glob, json, statistics, sys
run, name, steps, secs, load = sys.argv[1:]
q = json.load(open(f"{run}/quickstart.json"))
times = []
for f in glob.glob(f"{run}/train/metrics/*.jsonl"):
    for line in open(f):
        r = json.loads(line)
        if r.get("event") == "step":
            times.append(r["step_seconds"])
ppl = q.get("code_usage_validation", {}).get("perplexity")
print(f"{name}: {steps} steps, validation PSNR {q['psnr_validation']['mean']:.2f} dB"
      f" (median {q['psnr_validation']['median']:.2f}), usage perplexity per depth {ppl},"
      f" median step {statistics.median(times):.3f} s, wall {secs} s, load {load}")
PY
