#!/usr/bin/env bash
# scripts/bf16-guards.sh: the bf16 quality guards of issue 12 on the quickstart, end to end, as a table.
#
#   scripts/bf16-guards.sh [--out DIR] [--vae-steps N] [--stage2-steps N] [--workers W]
#
# 1. fp32: `bin/rq quickstart --out DIR/fp32` (stage 1 on conf/rqvae/quickstart.yaml, tokenize, decode,
#    stage 2 on conf/rqtransformer/quickstart.yaml, samples; W ranks).
# 2. bf16 stage 1: `bin/rq train-vae --precision bf16` with the same config, data and ranks.
# 3. bf16 stage 2: `bin/rq train-transformer --precision bf16` on the fp32 quickstart's token table and
#    RQ-VAE (the same inputs as the fp32 stage 2, so that only the precision differs).
# 4. scripts/Bf16Guards.java on the fp32 stage-1 checkpoint: every validation image encoded, quantized
#    and decoded in fp32 and in bf16, in one process: PSNR of both and the fraction of equal codes.
# Prints the table of the four guards (goals: PSNR within 0.1 dB, >= 95 % equal codes, final training
# loss within 2 %, held-out bits/code within 1 %) and writes it to DIR/summary.txt. "Final loss" is the
# mean loss of the last 10 logged steps (one logged step of a batch of 8 is too noisy to compare); the
# last logged step's loss is printed too. Quality numbers: they do not depend on the machine's load.
# Long: the quickstart plus about 60 % of it again (about 20 min on an idle 2-core machine).
#
#   --out DIR          outputs (default target/bf16-guards-<time>); reruns into it resume/skip finished runs
#   --vae-steps N      override train.max_steps of stage 1 (both precisions; for a quick check of the script)
#   --stage2-steps N   override train.max_steps of stage 2 (both precisions)
#   --workers W        ranks (default 2, as the quickstart)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=
VAE_STEPS=
S2_STEPS=
WORKERS=2
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) OUT=$2; shift 2 ;;
    --vae-steps) VAE_STEPS=$2; shift 2 ;;
    --stage2-steps) S2_STEPS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "bf16-guards: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
OUT=${OUT:-$ROOT/target/bf16-guards-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export RQ_LOG_DIR="$OUT/logs"
VAE_CONF=conf/rqvae/quickstart.yaml
S2_CONF=conf/rqtransformer/quickstart.yaml
echo "bf16-guards: commit $(git log --oneline -1 2>/dev/null || echo '?'); $VAE_CONF sha1 $(sha1sum $VAE_CONF | cut -c1-12),"\
  "$S2_CONF sha1 $(sha1sum $S2_CONF | cut -c1-12); outputs in $OUT" | tee "$OUT/header.txt"
echo "load before: $(uptime)" | tee -a "$OUT/header.txt"
bin/rq --help >/dev/null # builds first when sources changed
VAE_SET=(); [[ -n $VAE_STEPS ]] && VAE_SET=(--max-steps "$VAE_STEPS")
S2_SET=(); [[ -n $S2_STEPS ]] && S2_SET=(--stage2-max-steps "$S2_STEPS")
S2_SET_T=(); [[ -n $S2_STEPS ]] && S2_SET_T=(--max-steps "$S2_STEPS")
t0=$(date +%s)

step() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
step "fp32 quickstart"
bin/rq quickstart --out "$OUT/fp32" --conf "$VAE_CONF" --stage2-conf "$S2_CONF" --workers "$WORKERS" \
  "${VAE_SET[@]}" "${S2_SET[@]}" >"$OUT/fp32.out" 2>&1 || { tail -5 "$OUT/fp32.out"; exit 1; }
CKPT=$(ls -d "$OUT/fp32/train/checkpoints"/step-* | sort | tail -1)
step "bf16 stage 1 (train-vae --precision bf16)"
bin/rq train-vae --conf "$VAE_CONF" --data data/emoji/train --out "$OUT/bf16/train" --workers "$WORKERS" \
  --precision bf16 "${VAE_SET[@]}" >"$OUT/bf16-train.out" 2>&1 || { tail -5 "$OUT/bf16-train.out"; exit 1; }
step "bf16 stage 2 (train-transformer --precision bf16 on the fp32 tokens)"
bin/rq train-transformer --conf "$S2_CONF" --tokens "$OUT/fp32/tokens" --vae "$CKPT" --out "$OUT/bf16/stage2" \
  --workers "$WORKERS" --precision bf16 "${S2_SET_T[@]}" >"$OUT/bf16-stage2.out" 2>&1 \
  || { tail -5 "$OUT/bf16-stage2.out"; exit 1; }
step "fp32 vs bf16 tokenize + decode of the validation split ($CKPT)"
CP="$ROOT/spark-jobs/target/classes:$(cat "$ROOT/spark-jobs/target/classpath.txt")"
OPENS="--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED"
# shellcheck disable=SC2086
java -Xmx3g $OPENS -Dai.djl.offline=true -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" -cp "$CP" \
  "$ROOT/scripts/Bf16Guards.java" "$CKPT" "$ROOT/data/emoji/validation" 16 >"$OUT/codec.out" 2>"$OUT/codec.err" \
  || { tail -5 "$OUT/codec.err"; exit 1; }
step "done"
echo "load after: $(uptime)" | tee -a "$OUT/header.txt"

python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]

def losses(run):
    rows = []
    for f in sorted(glob.glob(os.path.join(run, "metrics", "*.jsonl"))) or [os.path.join(run, "metrics.jsonl")]:
        for line in open(f):
            line = line.strip()
            if line:
                j = json.loads(line)
                if "loss" in j:
                    rows.append((j["step"], j["loss"]))
    rows.sort()
    return rows

def heldout(run):
    last = [json.loads(l) for l in open(os.path.join(run, "heldout.jsonl")) if l.strip()][-1]
    return last["step"], statistics.mean(last["bits_per_code"])

codec = {}
for line in open(os.path.join(out, "codec.out")):
    p = line.split()
    if p and p[0] == "PSNR":
        codec[p[1]] = float(p[2])
    elif p and p[0] == "CODES":
        codec["codes"] = float(p[3])
        codec["codes_n"] = int(p[2])
l32, l16 = losses(os.path.join(out, "fp32", "train")), losses(os.path.join(out, "bf16", "train"))
m32, m16 = statistics.mean(l for _, l in l32[-10:]), statistics.mean(l for _, l in l16[-10:])
s32, b32 = heldout(os.path.join(out, "fp32", "stage2"))
s16, b16 = heldout(os.path.join(out, "bf16", "stage2"))
dpsnr = codec["bf16"] - codec["fp32"]
rows = [
    ("validation PSNR, fp32 checkpoint (dB)", f"{codec['fp32']:.3f}", f"{codec['bf16']:.3f}",
     f"{dpsnr:+.3f} dB", "within 0.1 dB", abs(dpsnr) <= 0.1),
    ("codes equal to the fp32 codes", "", f"{100 * codec['codes']:.2f} %",
     f"of {codec['codes_n']}", ">= 95 %", codec["codes"] >= 0.95),
    (f"stage-1 final loss (mean of last 10 logged, to step {l32[-1][0]})", f"{m32:.5f}", f"{m16:.5f}",
     f"{100 * (m16 / m32 - 1):+.2f} %", "within 2 %", abs(m16 / m32 - 1) <= 0.02),
    ("stage-1 last logged loss", f"{l32[-1][1]:.5f}", f"{l16[-1][1]:.5f}", f"{100 * (l16[-1][1] / l32[-1][1] - 1):+.2f} %",
     "(noisy)", None),
    (f"stage-2 held-out bits/code (step {s32}/{s16})", f"{b32:.4f}", f"{b16:.4f}", f"{100 * (b16 / b32 - 1):+.2f} %",
     "within 1 %", abs(b16 / b32 - 1) <= 0.01),
]
lines = ["| guard | fp32 | bf16 | difference | goal | |", "| --- | --- | --- | --- | --- | --- |"]
for r in rows:
    lines.append("| " + " | ".join(r[:5]) + " | " + ("" if r[5] is None else ("PASS" if r[5] else "FAIL")) + " |")
text = "\n".join(lines)
open(os.path.join(out, "summary.txt"), "w").write(open(os.path.join(out, "header.txt")).read() + text + "\n")
print(text)
PY
