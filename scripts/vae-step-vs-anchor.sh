#!/usr/bin/env bash
# scripts/vae-step-vs-anchor.sh: the RQ-VAE training step (bench64, batch 16) of this checkout against the
# official step, interleaved in one session (docs/performance-history.md "Session 14: the RQ-VAE training step").
#
#   scripts/vae-step-vs-anchor.sh [--rounds N] [--threads T] [--steps S] [--switch KEY] [--out DIR]
#
# Each round runs, order alternating (A B, B A, ...): the official step (scripts/anchor_vae_step_cpu.py: fp32,
# then --tuned = channels_last + bfloat16 autocast; medians of S steps after 2 untimed ones) and ours
# (scripts/VaeStepAb.java in fp32, then bf16: KEY=false and KEY=true alternating step by step in one JVM,
# medians of S steps each). Prints per round and as medians over rounds, for wall time and for the calling
# thread's CPU time per step: the official/ours ratios (ours with KEY on and off; > 1: ours faster) and ours'
# on/off ratio, with the 1-minute load before each run. Ratios of wall times need an idle machine (2 threads);
# the thread CPU ratios hold at any load, but only with --threads 1.
#
#   --rounds N   rounds (default 3)
#   --threads T  intra-op threads of both sides (default 2)
#   --steps S    timed steps per variant and run (default 5)
#   --switch KEY the per-call switch of ours to A/B (default rq.vae.upsample_transposed)
#   --out DIR    raw outputs (default target/vae-step-vs-anchor-<time>)
# Needs the reference environment of scripts/bench-vs-anchor.sh (${TMPDIR:-/tmp}/rq-anchor: venv + official).
# About 90 s per round on the idle 2-core machine at 2 threads (an estimate from 1-thread runs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=3 THREADS=2 STEPS=5 KEY=rq.vae.upsample_transposed OUT=
while (($#)); do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --switch) KEY=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "vae-step-vs-anchor: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
WORK=${TMPDIR:-/tmp}/rq-anchor
PY=$WORK/venv/bin/python
[[ -x $PY && -d $WORK/official/rqvae ]] || {
  echo "vae-step-vs-anchor: no reference environment in $WORK (build it with shared/anchor/setup.sh)" >&2; exit 2; }
OUT=${OUT:-$ROOT/target/vae-step-vs-anchor-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
cd "$ROOT"
bin/rq --help >/dev/null # builds first when sources changed, and writes spark-jobs/target/classpath.txt
# ours with bin/rq's malloc setting (SparkSessions.MALLOC_TUNABLES); the official code with glibc's defaults, as users run it
RQ_MALLOC=${GLIBC_TUNABLES:-glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864}
CP="rq-model/target/classes:$(cat spark-jobs/target/classpath.txt)"
echo "vae-step-vs-anchor: $ROUNDS round(s), $THREADS threads, $STEPS steps, switch $KEY, raw outputs in $OUT"

official() { # $1 round
  local v
  for v in fp32 tuned; do
    echo "official-$v-$1 $(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/load.txt"
    (cd scripts && "$PY" anchor_vae_step_cpu.py "$WORK/official" "$THREADS" "$STEPS" $([[ $v == tuned ]] && echo --tuned)) \
      >"$OUT/official-$v-$1.out" 2>&1 || { echo "vae-step-vs-anchor: see $OUT/official-$v-$1.out" >&2; exit 1; }
  done
}

ours() { # $1 round
  local p
  for p in fp32 bf16; do
    echo "ours-$p-$1 $(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/load.txt"
    GLIBC_TUNABLES=$RQ_MALLOC java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true -Xmx3g -cp "$CP" scripts/VaeStepAb.java \
      conf/rqvae/bench64.yaml "$p" "$THREADS" "$STEPS" "$KEY=false" "$KEY=true" >"$OUT/ours-$p-$1.out" 2>&1 || {
      echo "vae-step-vs-anchor: see $OUT/ours-$p-$1.out" >&2; exit 1; }
  done
}

for ((i = 1; i <= ROUNDS; i++)); do
  if ((i % 2)); then official "$i"; ours "$i"; else ours "$i"; official "$i"; fi
  echo "  round $i done"
done

python3 - "$OUT" "$ROUNDS" "$KEY" <<'PY'
import re, statistics, sys
out, rounds, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def official(v, i, col):  # median wall or thread cpu ms per step
    t = open(f"{out}/official-{v}-{i}.out").read()
    m = re.search(r"wall ([0-9.]+) ms, thread cpu ([0-9.]+)", t)
    return float(m.group(1 if col == "wall" else 2))
def ours(p, i, col):  # (off, on) median wall or thread cpu ms per step
    t = open(f"{out}/ours-{p}-{i}.out").read()
    pat = r"=%s\s+median wall\s+([0-9.]+) ms\s+thread cpu\s+([0-9.]+)"
    g = 1 if col == "wall" else 2
    return tuple(float(re.search(re.escape(key) + pat % v, t).group(g)) for v in ("false", "true"))
loads = {l.split()[0]: l.split()[1] for l in open(f"{out}/load.txt")}
for col in ("wall", "thread cpu"):
    print(f"\n{col} ms per step (ratios > 1: ours faster; thread cpu holds under load only at --threads 1)")
    print(f"| round | official fp32 | ours fp32 {key}=false / true | official/ours (false, true) "
          f"| official tuned | ours bf16 false / true | tuned/ours bf16 (false, true) | load |")
    print("| --- | ---: | ---: | --- | ---: | ---: | --- | --- |")
    cols = {k: [] for k in ("f_off", "f_on", "b_off", "b_on", "onoff_f", "onoff_b")}
    for i in range(1, rounds + 1):
        of, ot = official("fp32", i, col), official("tuned", i, col)
        (f0, f1), (b0, b1) = ours("fp32", i, col), ours("bf16", i, col)
        cols["f_off"].append(of / f0); cols["f_on"].append(of / f1)
        cols["b_off"].append(ot / b0); cols["b_on"].append(ot / b1)
        cols["onoff_f"].append(f0 / f1); cols["onoff_b"].append(b0 / b1)
        ld = "/".join(loads.get(f"{s}-{i}", "?") for s in ("official-fp32", "ours-fp32", "official-tuned", "ours-bf16"))
        print(f"| {i} | {of:.0f} | {f0:.0f} / {f1:.0f} | {of/f0:.3f}, {of/f1:.3f} | {ot:.0f} | {b0:.0f} / {b1:.0f} "
              f"| {ot/b0:.3f}, {ot/b1:.3f} | {ld} |")
    m = {k: statistics.median(v) for k, v in cols.items()}
    print(f"{col}, medians of the round ratios: fp32 official/ours {m['f_off']:.3f} ({key}=false) -> {m['f_on']:.3f}"
          f" (true); bf16 tuned/ours {m['b_off']:.3f} -> {m['b_on']:.3f}; ours true vs false: fp32 {m['onoff_f']:.3f},"
          f" bf16 {m['onoff_b']:.3f}")
PY
