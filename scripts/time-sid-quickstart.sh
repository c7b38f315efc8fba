#!/usr/bin/env bash
# Times rq sid-quickstart from scratch (fresh output folder; Fashion-MNIST from the Debian package):
#   scripts/time-sid-quickstart.sh [out-dir]        (default: a new temporary folder)
# Prints the load before and after, the wall time of the whole command (JVM start and Spark session
# included), the stage times and the report's headline numbers. The goal is <= 5 minutes on 2 cores.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$(mktemp -d)/sid-quickstart}
if [[ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  apt-get install -y dataset-fashion-mnist >/dev/null
fi
"$ROOT/bin/rq" --version >/dev/null   # builds once, outside the timing
echo "load before: $(uptime)"
T0=$(date +%s.%N)
"$ROOT/bin/rq" sid-quickstart --out "$OUT"
T1=$(date +%s.%N)
echo "load after: $(uptime)"
python3 - "$OUT/report.json" "$T0" "$T1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("wall time of bin/rq sid-quickstart: %.0f s" % (float(sys.argv[3]) - float(sys.argv[2])))
for k, v in r["summary"].items():
    if k.startswith("stage "):
        print("  %-28s %s" % (k[6:], v))
for m, s in r["methods"].items():
    st, co = s["statistics"], s["collisions"]
    print("%-10s unique-sid %.4f, collisions %.4f, largest %d, recon MSE %.6f, cosine %.4f, purity %s, perplexity %s"
          % (m, co["unique_sid_ratio"], co["collision_rate"], co["largest_group"], st["reconstruction_mse"],
             st["cosine_similarity"], ["%.3f" % p for p in (st.get("prefix_purity") or [])],
             ["%.0f" % p for p in st["perplexity"]]))
PY
# per-level code usage of the RQ-VAE during training (every 50th step's histogram over its global batch)
python3 - "$OUT/train-rqvae" <<'PY'
import glob, json, sys
rows = [json.loads(l) for f in sorted(glob.glob(sys.argv[1] + "/metrics/steps-*.jsonl")) for l in open(f) if l.strip()]
rows.sort(key=lambda n: n["step"])
print("rqvae training: step, recon MSE, per-level perplexity / codes used of this step's batch, dead fraction")
for n in rows:
    if n["step"] % 50 == 0 or n["step"] == 1 or n["step"] == rows[-1]["step"]:
        print("  %4d%s recon %.6f  ppl %s  used %s  dead %.3f" % (n["step"], " (warm-up)" if n.get("warmup") else "",
              n["recon_loss"], "/".join("%.0f" % p for p in n["perplexity"]),
              "/".join("%.2f" % u for u in n["used_fraction"]), n["dead_fraction"]))
PY
