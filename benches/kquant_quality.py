#!/usr/bin/env python3
"""Layer-output error of GGUF K-quant files, from the calibration Hessians: for every layer with
`<p>.hessian` in the calibration file, the relative error of its outputs on the calibration
distribution, ‖X(W − Ŵ)ᵀ‖² / ‖XWᵀ‖² = tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) with H = (1/n)·Σxxᵀ — computed from
H alone, no activations needed.

    benches/kquant_quality.py MODEL CALIB NAME=FILE.parquet [NAME=FILE.parquet ...] [--scheme q4_k]

MODEL: the source model (safetensors file or directory); CALIB: its calibration file; each
NAME=FILE: a quantized file to score. Only layers every file stored in `--scheme` are compared
(rows that do not split into super-blocks fall back to another type and are left out). Prints one
line per layer and a summary; exits 1 if `--expect-below A,B` is given and file A's error is not
below file B's on every layer. Needs numpy and pyarrow (the project's .venv) and
docs/reference_reader.py.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import struct
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import reference_reader as rr  # noqa: E402

ST = {"F32": "<f4", "F16": "<f2", "BF16": "<u2"}


def safetensors(path: pathlib.Path):
    """name -> (dtype, shape, offset, length) and the file's bytes (memory-mapped)."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    (n,) = struct.unpack("<Q", bytes(data[:8]))
    header = json.loads(bytes(data[8:8 + n]))
    return {k: v for k, v in header.items() if k != "__metadata__"}, data, 8 + n


def values(entry, data, start) -> np.ndarray:
    b, e = entry["data_offsets"]
    raw = np.asarray(data[start + b:start + e])
    a = raw.view(ST[entry["dtype"]])
    if entry["dtype"] == "BF16":
        a = (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float64).reshape(entry["shape"][0], -1)


def source_weights(model: pathlib.Path):
    files = [model] if model.is_file() else sorted(model.rglob("*.safetensors"))
    out = {}
    for f in files:
        header, data, start = safetensors(f)
        for name, e in header.items():
            if e["dtype"] in ST and len(e["shape"]) >= 2:
                out[name] = (e, data, start)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=pathlib.Path)
    ap.add_argument("calibration", type=pathlib.Path)
    ap.add_argument("files", nargs="+", help="NAME=FILE.parquet")
    ap.add_argument("--scheme", default="q4_k")
    ap.add_argument("--expect-below", default=None, help="A,B: fail unless A's error < B's on every layer")
    args = ap.parse_args()
    runs = dict(f.split("=", 1) for f in args.files)
    calib, cdata, cstart = safetensors(args.calibration)
    weights = source_weights(args.model)
    index = {name: {t["name"]: t for t in rr.tensors(path)} for name, path in runs.items()}

    rows = []
    for wname, (entry, data, start) in weights.items():
        p = wname[: -len(".weight")] if wname.endswith(".weight") else wname
        if f"{p}.hessian" not in calib:
            continue
        if not all(index[r].get(wname, {}).get("scheme") == args.scheme for r in runs):
            continue
        w = values(entry, data, start)
        h = values(calib[f"{p}.hessian"], cdata, cstart)
        base = np.einsum("ij,jk,ik->", w, h, w)
        errs = {}
        for r, path in runs.items():
            d = w - rr.dequantize(path, wname).astype(np.float64).reshape(w.shape)
            errs[r] = float(np.einsum("ij,jk,ik->", d, h, d) / base)
        rows.append((wname, w.shape, errs))

    if not rows:
        print(f"no layer has a Hessian and {args.scheme} in every file", file=sys.stderr)
        return 1
    names = list(runs)
    print(f"layer-output relative MSE per layer ({args.scheme}; lower is better)")
    print(f"{'layer':60s} " + " ".join(f"{n:>14s}" for n in names))
    for wname, shape, errs in rows:
        print(f"{wname[:60]:60s} " + " ".join(f"{errs[n]:14.6f}" for n in names))
    print(f"{'geometric mean over ' + str(len(rows)) + ' layers':60s} " + " ".join(f"{np.exp(np.mean([np.log(max(e[n], 1e-30)) for _, _, e in rows])):14.6f}" for n in names))
    if args.expect_below:
        a, b = args.expect_below.split(",")
        worse = [w for w, _, e in rows if not e[a] < e[b]]
        print(f"{a} below {b} on {len(rows) - len(worse)}/{len(rows)} layers" + (f"; not on: {', '.join(worse)}" if worse else ""))
        return 1 if worse else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
