"""Helpers shared by the notebooks: where the repository and the pipeline outputs are, running `bin/rq`,
Spark SQL through `rq query` into pandas, training metrics and checkpoint tensors.

Python side only (pandas, numpy, matplotlib from Debian packages); every table is read through `rq query`,
so no PyArrow is needed. See notebooks/README.md.
"""
import io
import json
import os
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
RUN = Path(os.environ.get("RQ_NOTEBOOK_RUN", REPO / "runs" / "notebooks")).resolve()
RQ = REPO / "bin" / "rq"


def rq(*args, capture=True):
    """Runs `bin/rq args...`; returns its stdout; raises with rq's one-line error when it fails."""
    env = dict(os.environ)
    env.setdefault("RQ_JAVA_OPTS", "-Xmx3g")
    p = subprocess.run([str(RQ), *map(str, args)], cwd=REPO, env=env, text=True,
                       stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE)
    if p.returncode != 0:
        lines = [l for l in p.stderr.splitlines() if l.startswith("rq")]
        raise RuntimeError(f"bin/rq {args[0]} exited with {p.returncode}: "
                           + (lines[-1] if lines else p.stderr[-2000:]))
    return p.stdout


def ensure_pipeline():
    """Creates the notebook inputs with notebooks/pipeline.sh unless they exist (a few minutes)."""
    if not (RUN / "quickstart" / "report.html").exists() or not (RUN / "vae-lr3e-4" / "report.html").exists():
        subprocess.run([str(REPO / "notebooks" / "pipeline.sh"), str(RUN)], check=True, cwd=REPO)
    return RUN


def query(tables, **statements):
    """Spark SQL over tables ({name: uri}) in one `rq query` session: one DataFrame per keyword statement.

    Arrays come back as JSON text (use `parse_json`), binary columns as base64."""
    with tempfile.TemporaryDirectory() as d:
        args = ["query"]
        for name, uri in tables.items():
            args += ["--table", f"{name}={uri}"]
        for key, sql in statements.items():
            args += ["--sql", sql, "--output", str(Path(d) / f"{key}.csv")]
        rq(*args)
        return {key: pd.read_csv(Path(d) / f"{key}.csv") for key in statements}


def parse_json(series):
    """A column of JSON text (arrays from `rq query`) as Python values."""
    return series.map(json.loads)


def read_jsonl(path):
    """A JSON-lines file (metrics.jsonl, heldout.jsonl) as a DataFrame."""
    return pd.read_json(path, lines=True)


def read_metrics(run):
    """The logged training steps of a run directory: metrics.jsonl, or its rolled parts metrics/*.jsonl."""
    run = Path(run)
    parts = sorted((run / "metrics").glob("*.jsonl")) if (run / "metrics").is_dir() else []
    files = parts + ([run / "metrics.jsonl"] if (run / "metrics.jsonl").exists() else [])
    if not files:
        raise FileNotFoundError(f"{run}: no metrics.jsonl (not a training run?)")
    df = pd.concat([pd.read_json(f, lines=True) for f in files], ignore_index=True)
    return df.drop_duplicates("step", keep="last").sort_values("step").reset_index(drop=True)


def checkpoints(run):
    """The committed checkpoints of a run: step, files and sizes, from each manifest.json."""
    rows = []
    for d in sorted((Path(run) / "checkpoints").glob("step-*")):
        if d.name.endswith(".tmp") or not (d / "manifest.json").exists():
            continue
        m = json.loads((d / "manifest.json").read_text())
        rows.append({"step": m.get("step"), "dir": d.name, "kind": m.get("kind"),
                     "MB": round(sum(f.get("bytes", 0) for f in m.get("files", {}).values()) / 1e6, 2),
                     "model sha256": m.get("files", {}).get("model.safetensors", {}).get("sha256", "")[:12]})
    return pd.DataFrame(rows)


_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32,
           "I16": np.int16, "U8": np.uint8, "BF16": None}


def safetensors(path, names=None):
    """Tensors of a .safetensors file as numpy arrays (all, or those in `names`)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, t in header.items():
            if name == "__metadata__" or (names is not None and name not in names):
                continue
            if _DTYPES.get(t["dtype"]) is None:
                raise ValueError(f"{name}: dtype {t['dtype']} not supported here")
            b, e = t["data_offsets"]
            f.seek(base + b)
            out[name] = np.frombuffer(f.read(e - b), dtype=_DTYPES[t["dtype"]]).reshape(t["shape"])
        return out


def flatten(d, prefix=""):
    """A nested dict as {dotted.key: value} (to compare run configurations)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, list) else v
    return out
