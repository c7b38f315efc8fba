#!/usr/bin/env bash
# scripts/bf16-loss-seeds.sh: the noise floor of issue 12's bf16 stage-1 loss guard ("bf16 training ends
# the quickstart schedule within 2 % of the fp32 loss"): fp32 and bf16 `rq train-vae` on the quickstart
# config for several seeds (train.seed: initial weights, data order, augmentation), then per seed the
# ratio bf16 / fp32 of the mean loss over the same final window of logged steps, and the mean and the
# spread (min..max, sample standard deviation) of those ratios over the seeds. It also prints, for each
# seed and precision, the mean loss of each 100-step window, to show how much one run's loss moves
# between windows. Quality numbers: they do not depend on the machine's load.
#
#   scripts/bf16-loss-seeds.sh [--out DIR] [--seeds "1 2 3"] [--max-steps N] [--window N] [--workers W]
#
#   --out DIR        outputs (default target/bf16-loss-seeds-<time>); a rerun into it skips finished runs
#   --seeds LIST     seeds (default "1 2 3")
#   --max-steps N    override train.max_steps (default: the config's 1,100; small N for a quick check)
#   --window N       final window in logged steps (default 10 = the last 100 steps at log_every 10)
#   --workers W      ranks (default 2, as the quickstart)
# RQ_JAVA_OPTS is passed to every run (e.g. -Xmx3g). About 2 x 3.5 min per seed on an idle 2-core machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=
SEEDS="1 2 3"
STEPS=
WINDOW=10
WORKERS=2
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) OUT=$2; shift 2 ;;
    --seeds) SEEDS=$2; shift 2 ;;
    --max-steps) STEPS=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bf16-loss-seeds: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
OUT=${OUT:-$ROOT/target/bf16-loss-seeds-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export RQ_LOG_DIR="$OUT/logs"
CONF=conf/rqvae/quickstart.yaml
echo "bf16-loss-seeds: commit $(git log --oneline -1 2>/dev/null || cat COMMIT 2>/dev/null || echo '?');" \
  "$CONF sha1 $(sha1sum $CONF | cut -c1-12); seeds $SEEDS; RQ_JAVA_OPTS=${RQ_JAVA_OPTS:-}; outputs in $OUT" \
  | tee -a "$OUT/header.txt"
bin/rq --help >/dev/null # builds first when sources changed
SET=(); [[ -n $STEPS ]] && SET=(--max-steps "$STEPS")
t0=$(date +%s)
for seed in $SEEDS; do
  for p in fp32 bf16; do
    run="$OUT/$p-seed$seed"
    if [[ -f $run.done ]]; then echo "skip $p seed $seed (done)"; continue; fi
    rm -rf "$run"
    echo "[$(( $(date +%s) - t0 )) s] $p seed $seed ($(uptime | sed 's/.*load/load/'))"
    bin/rq train-vae --conf "$CONF" --data data/emoji/train --out "$run" --workers "$WORKERS" \
      --precision "$p" --seed "$seed" "${SET[@]}" >"$run.out" 2>&1 || { tail -5 "$run.out"; exit 1; }
    touch "$run.done"
  done
done
echo "[$(( $(date +%s) - t0 )) s] done ($(uptime | sed 's/.*load/load/'))"

python3 - "$OUT" "$WINDOW" $SEEDS <<'PY' | tee "$OUT/summary.txt"
import glob, json, os, statistics, sys
out, window, seeds = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def losses(run):
    rows = {}
    for f in sorted(glob.glob(os.path.join(run, "metrics", "*.jsonl"))) or [os.path.join(run, "metrics.jsonl")]:
        for line in open(f):
            line = line.strip()
            if line:
                j = json.loads(line)
                if "loss" in j:
                    rows[j["step"]] = j["loss"]
    return rows

ratios = []
print(f"final window: the last {window} logged steps common to both runs of a seed")
for s in seeds:
    l32, l16 = losses(os.path.join(out, f"fp32-seed{s}")), losses(os.path.join(out, f"bf16-seed{s}"))
    common = sorted(set(l32) & set(l16))[-window:]
    m32, m16 = statistics.mean(l32[k] for k in common), statistics.mean(l16[k] for k in common)
    ratios.append(m16 / m32)
    print(f"seed {s}: steps {common[0]}..{common[-1]}: fp32 {m32:.5f}  bf16 {m16:.5f}  bf16/fp32 {m16 / m32:.4f}"
          f" ({100 * (m16 / m32 - 1):+.2f} %)")
    for name, l in (("fp32", l32), ("bf16", l16)):
        wins = {}
        for k, v in l.items():
            wins.setdefault((k - 1) // 100, []).append(v)
        print(f"    {name} 100-step window means: " + " ".join(f"{statistics.mean(v):.4f}" for _, v in sorted(wins.items())))
sd = statistics.stdev(ratios) if len(ratios) > 1 else float("nan")
print(f"bf16/fp32 final-window loss ratio over {len(ratios)} seeds: mean {statistics.mean(ratios):.4f}"
      f" ({100 * (statistics.mean(ratios) - 1):+.2f} %), min {min(ratios):.4f}, max {max(ratios):.4f}, sd {sd:.4f};"
      f" guard (within 2 %): {'holds' if abs(statistics.mean(ratios) - 1) <= 0.02 else 'FAILS'} on the mean,"
      f" {sum(abs(r - 1) <= 0.02 for r in ratios)} of {len(ratios)} seeds within 2 %")
PY
