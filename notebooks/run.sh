#!/usr/bin/env bash
# notebooks/run.sh [OUT]: executes every notebook of notebooks/ against the outputs of
# notebooks/pipeline.sh (default OUT: runs/notebooks) and fails on any error. Run by .ci/run.
#   1. the kernel: Debian packages (Jupyter nbconvert/nbclient, ipykernel, pandas, matplotlib, numpy),
#      installed with apt-get when missing
#   2. committed notebooks must carry no outputs (strip them: see notebooks/README.md)
#   3. the pipeline run (skips what is done)
#   4. each notebook executed with nbconvert into OUT/executed/ (a cell error fails the script)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT/runs/notebooks}" && cd "${1:-$ROOT/runs/notebooks}" && pwd)"
PY=/usr/bin/python3
if ! "$PY" -c 'import nbconvert, nbclient, ipykernel, pandas, matplotlib, numpy' 2>/dev/null; then
  echo "notebooks: installing the Jupyter kernel from Debian packages" >&2
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends jupyter-nbconvert python3-nbclient python3-ipykernel \
    python3-pandas python3-matplotlib python3-numpy >/dev/null
fi
"$PY" - "$ROOT"/notebooks/*.ipynb <<'PY'
import sys, nbformat
bad = [p for p in sys.argv[1:] for c in nbformat.read(p, as_version=4).cells
       if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
if bad:
    sys.exit("notebooks with outputs (strip them: jupyter nbconvert --clear-output --inplace notebooks/*.ipynb): "
             + ", ".join(sorted(set(bad))))
PY
"$ROOT/notebooks/pipeline.sh" "$OUT"
export RQ_NOTEBOOK_RUN="$OUT"
for nb in "$ROOT"/notebooks/*.ipynb; do
  echo "notebooks: executing $(basename "$nb")" >&2
  start=$(date +%s)
  (cd "$ROOT/notebooks" && "$PY" -m nbconvert --to notebook --execute --ExecutePreprocessor.timeout=1800 \
      --ExecutePreprocessor.kernel_name=python3 --output-dir "$OUT/executed" "$nb")
  echo "notebooks: $(basename "$nb") ran in $(( $(date +%s) - start )) s" >&2
done
echo "notebooks: all executed without errors; results in $OUT/executed" >&2
