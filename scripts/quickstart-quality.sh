#!/usr/bin/env bash
# scripts/quickstart-quality.sh [OUTDIR [quickstart options...]]: the quickstart as a new user meets it, measured end to end
# (issue #15 item 2): clones this repository's HEAD into an empty folder, runs `time bin/rq quickstart`
# there with the defaults, then prints the wall time, the validation PSNR, the held-out bits per code and
# the machine's load, checks the targets (total <= 7 min on 2 cores, PSNR >= 23 dB) and copies the
# reconstruction and sample grids (and each sample as OUTDIR/sample-images/class-C/I.png) to OUTDIR (default: runs/quickstart-quality) for docs/quickstart.md.
# Options after OUTDIR go to `bin/rq quickstart` (a candidate config, e.g. `--set model.ddconfig.ch=64`).
# Meaningful only on an idle machine: the load average is printed before and after.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT/runs/quickstart-quality}" && cd "${1:-$ROOT/runs/quickstart-quality}" && pwd)"
shift $(( $# > 0 ? 1 : 0 ))
CLONE="$(mktemp -d "${TMPDIR:-/tmp}/rq-quickstart-XXXXXX")"
trap 'rm -rf "$CLONE"' EXIT
echo "load before: $(uptime)"
git clone -q --no-hardlinks "$ROOT" "$CLONE/rq"
cd "$CLONE/rq"
echo "commit: $(git log --oneline -1)"
start=$(date +%s)
echo "options: ${*:-(defaults)}"
bin/rq quickstart --out "$CLONE/qs" "$@" > "$OUT/quickstart.log" 2>&1 || { tail -5 "$OUT/quickstart.log"; exit 1; }
total=$(( $(date +%s) - start ))
echo "load after:  $(uptime)"
cp "$CLONE/qs/eval/comparison.png" "$OUT/comparison.png"
cp "$CLONE/qs/eval/samples.png" "$OUT/samples.png" 2>/dev/null || true
cp "$CLONE/qs/quickstart.json" "$OUT/quickstart.json"
if [[ -d "$CLONE/qs/samples/images" ]]; then        # one PNG per sample, for scripts/FaceCount.java
  rm -rf "$OUT/sample-images"; cp -r "$CLONE/qs/samples/images" "$OUT/sample-images"
  find "$OUT/sample-images" -name '.*.crc' -delete
fi
python3 - "$CLONE/qs/quickstart.json" "$total" <<'PY'
import json, sys
q = json.load(open(sys.argv[1])); total = int(sys.argv[2])
psnr = q["psnr_validation"]
s2 = q.get("stage2", {})
print(f"quickstart (fresh clone, including bin/rq's build): {total // 60}m{total % 60:02d}s;"
      f" precision stage 1 {q.get('precision', 'fp32')}, stage 2 {s2.get('precision', 'fp32')}")
for name, st in q["stages"].items():
    print(f"  {name:18s} {st['status']:8s} {st['seconds']:8.1f} s")
print(f"validation PSNR: mean {psnr['mean']:.2f} dB, median {psnr['median']:.2f}, min {psnr['min']:.2f},"
      f" max {psnr['max']:.2f} (n = {psnr['n']})")
ppl = q.get("code_usage_validation", {}).get("perplexity")
print(f"codebook usage perplexity per depth (validation): {ppl}")
if s2:
    print(f"stage 2: held-out {s2['held_out_mean_bits_per_code']:.3f} bits/code (per depth"
          f" {s2['held_out_bits_per_code']}; uniform {s2['uniform_bits_per_code']})")
print(("PASS" if psnr["mean"] >= 23 else "FAIL") + f": PSNR >= 23 dB ({psnr['mean']:.2f})")
print(("PASS" if total <= 420 else "FAIL") + f": wall time <= 7 min ({total} s)")
PY
echo "grids: $OUT/comparison.png (originals above their reconstructions), $OUT/samples.png (one row per class)"
