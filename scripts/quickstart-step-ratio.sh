#!/usr/bin/env bash
# scripts/quickstart-step-ratio.sh [ROUNDS [MIN_SECONDS]]: step cost of the previous quickstart configs
# (conf/*/quickstart-8x8.yaml) relative to the defaults (16x16x2 codes) (conf/*/quickstart.yaml), measured with `rq bench`
# (fp32, in-process, after warm-up) in interleaved rounds (default, 8x8, default, 8x8, ...):
# stage 1 at the per-rank micro-batch (4 images, 1 thread: what each of the quickstart's 2 ranks runs), stage 2
# at 8 rows (1 thread). Prints each measure's median per config and the 8x8 config/default ratio (> 1: the
# 8x8 config does more per second). Meaningful on an idle machine; under load say the load (printed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${1:-3}"; MIN_SECONDS="${2:-10}"
OUT="$(mktemp -d "${TMPDIR:-/tmp}/rq-qs-ratio-XXXXXX")"
trap 'rm -rf "$OUT"' EXIT
export RQ_JAVA_OPTS="${RQ_JAVA_OPTS:--Xmx3g}"
echo "load before: $(uptime)"
for r in $(seq 1 "$ROUNDS"); do
  for cfg in quickstart quickstart-8x8; do
    "$ROOT/bin/rq" bench --conf "$ROOT/conf/rqvae/$cfg.yaml" --batch 4 --threads 1 --precision fp32 \
      --min-seconds "$MIN_SECONDS" --json "$OUT/s1-$cfg-$r.json" > "$OUT/s1-$cfg-$r.log" 2>&1 \
      || { tail -5 "$OUT/s1-$cfg-$r.log"; exit 1; }
    "$ROOT/bin/rq" bench --conf "$ROOT/conf/rqtransformer/$cfg.yaml" --batch 8 --threads 1 --precision fp32 \
      --min-seconds "$MIN_SECONDS" --json "$OUT/s2-$cfg-$r.json" > "$OUT/s2-$cfg-$r.log" 2>&1 \
      || { tail -5 "$OUT/s2-$cfg-$r.log"; exit 1; }
    echo "round $r $cfg done ($(cut -d' ' -f1-3 /proc/loadavg))"
  done
done
echo "load after: $(uptime)"
python3 - "$OUT" "$ROUNDS" <<'PY'
import glob, json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
for stage in ("s1", "s2"):
    med = {}
    for cfg in ("quickstart", "quickstart-8x8"):
        vals = {}
        for r in range(1, rounds + 1):
            for k, v in json.load(open(f"{out}/{stage}-{cfg}-{r}.json")).items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and "per_s" in k:
                    vals.setdefault(k, []).append(v)
        med[cfg] = {k: statistics.median(v) for k, v in vals.items()}
    for k in med["quickstart"]:
        a, b = med["quickstart"][k], med["quickstart-8x8"].get(k)
        if b is not None:
            print(f"{'stage 1' if stage == 's1' else 'stage 2'} {k:28s} default {a:8.2f}  8x8 {b:8.2f}  ratio {b / a:.2f}")
PY
