#!/usr/bin/env python3
"""Layer-output error of quantization candidates, by row length: what `method: auto`'s strategy
table chooses between (benches/RESULTS.md, "auto at the bit width").

    .venv/bin/python benches/layer_error_by_width.py MODEL CALIB --out DIR [--runs NAME,...] [--threads 2] [--reuse]

Quantizes MODEL with the CLI once per configuration (RUNS; `node dist/cli/main.js quantize MODEL
-o F --min-accuracy 0 --quiet ...`), then for every layer with `<p>.hessian` in CALIB computes the
relative layer-output error tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) = ‖X(W − Ŵ)ᵀ‖² / ‖XWᵀ‖² (Ŵ dequantized with
docs/reference_reader.py, smoothing divided out) and prints, per run and per row length (the
weight's 2-D view columns, which decides the formats a row fits: Q4_K/Q2_K need multiples of 256,
Q4_0/Q8_0 of 32), the geometric mean of the error, the schemes and the bits per weight (codes +
scales of those layers over their weights). Needs numpy and pyarrow (the project's .venv).
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import struct
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import reference_reader as rr  # noqa: E402

# name -> flags; "{calib}" is the calibration file. Explicit methods plan spatial smoothing where
# the profile enables it (local: yes) and the format can carry it (not GGUF); "{nospatial}" turns
# it off.
RUNS = {
    # 2 bits
    "q2_k": ["--method", "q2_k"],
    "q2_k+imp": ["--method", "q2_k", "--calibration", "{calib}"],
    "gptq→q2_k": ["--method", "gptq", "--gptq-format", "q2_k", "--calibration", "{calib}"],
    "rtn2 g64": ["--method", "rtn", "--bits", "2", "--group-size", "64"],
    "hqq2 g64": ["--method", "hqq", "--bits", "2", "--group-size", "64"],
    "hqq2 g128": ["--method", "hqq", "--bits", "2", "--group-size", "128"],
    "r2q g128": ["--method", "r2q", "--group-size", "128"],
    "hqq2 g64 smoothed": ["--method", "hqq", "--bits", "2", "--group-size", "64", "--calibration", "{calib}"],
    "gptq→rtn2 g64": ["--config", "{nospatial}", "--method", "gptq", "--bits", "2", "--group-size", "64", "--calibration", "{calib}"],
    "gptq→rtn2 g64 smoothed": ["--method", "gptq", "--bits", "2", "--group-size", "64", "--calibration", "{calib}"],
    "gptq→hqq2 g64": ["--config", "{nospatial}", "--method", "gptq", "--gptq-format", "hqq", "--bits", "2", "--group-size", "64", "--calibration", "{calib}"],
    "gptq→hqq2 g64 smoothed": ["--method", "gptq", "--gptq-format", "hqq", "--bits", "2", "--group-size", "64", "--calibration", "{calib}"],
    "gptq→hqq2 g128 smoothed": ["--method", "gptq", "--gptq-format", "hqq", "--bits", "2", "--group-size", "128", "--calibration", "{calib}"],
    "gptq→r2q g128": ["--config", "{nospatial}", "--method", "r2q", "--group-size", "128", "--calibration", "{calib}"],
    "gptq→r2q g128 smoothed": ["--method", "r2q", "--group-size", "128", "--calibration", "{calib}"],
    # 4 bits
    "q4_k": ["--method", "q4_k"],
    "q4_k+imp": ["--method", "q4_k", "--calibration", "{calib}"],
    "gptq→q4_k": ["--method", "gptq", "--gptq-format", "q4_k", "--calibration", "{calib}"],
    "q4_0": ["--method", "q4_0"],
    "q4_0+imp": ["--method", "q4_0", "--calibration", "{calib}"],
    "rtn4 g128": ["--method", "rtn", "--bits", "4", "--group-size", "128"],
    "hqq4 g128": ["--method", "hqq", "--bits", "4", "--group-size", "128"],
    "gptq→rtn4 g128": ["--config", "{nospatial}", "--method", "gptq", "--bits", "4", "--group-size", "128", "--calibration", "{calib}"],
    "gptq→rtn4 g128 smoothed": ["--method", "gptq", "--bits", "4", "--group-size", "128", "--calibration", "{calib}"],
    "gptq→hqq4 g128 smoothed": ["--method", "gptq", "--gptq-format", "hqq", "--bits", "4", "--group-size", "128", "--calibration", "{calib}"],
    # 8 bits
    "q8_0": ["--method", "q8_0"],
    "rtn8 g128": ["--method", "rtn", "--bits", "8", "--group-size", "128"],
    "int8_channel": ["--method", "int8_channel"],
    "hqq8 g128": ["--method", "hqq", "--bits", "8", "--group-size", "128"],
    "gptq→rtn8 g128 smoothed": ["--method", "gptq", "--bits", "8", "--group-size", "128", "--calibration", "{calib}"],
    # auto, as planned by this build
    "auto2": ["--bits", "2"],
    "auto2+cal": ["--bits", "2", "--calibration", "{calib}"],
    "auto4": ["--bits", "4"],
    "auto4+cal": ["--bits", "4", "--calibration", "{calib}"],
    "auto8": ["--bits", "8"],
    "auto8+cal": ["--bits", "8", "--calibration", "{calib}"],
}
NOSPATIAL_YAML = "# benches/layer_error_by_width.py: no spatial smoothing\nenable_spatial: false\n"


def read_safetensors(path: pathlib.Path):
    """name -> float64 array (F32/F16/BF16), metadata excluded; whole file read."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        buf = np.frombuffer(raw, dtype=np.uint8, count=end - b, offset=8 + n + b)
        if e["dtype"] == "F32":
            a = buf.view("<f4")
        elif e["dtype"] == "F16":
            a = buf.view("<f2")
        elif e["dtype"] == "BF16":
            a = (buf.view("<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            continue
        out[name] = a.astype(np.float64).reshape(e["shape"])
    return out


def model_weights(model: pathlib.Path):
    """The model's float weights by their name in the quantized file (`component/name` in a pipeline)."""
    files = [model] if model.is_file() else sorted(model.rglob("*.safetensors"))
    out = {}
    for f in files:
        comp = None if model.is_file() or f.parent == model else f.parent.relative_to(model).as_posix()
        for name, a in read_safetensors(f).items():
            if a.ndim >= 2:
                out[(comp, name)] = a.reshape(a.shape[0], -1)
    return out


def payload_bytes(path: pathlib.Path) -> dict:
    import pyarrow.parquet as pq
    t = pq.read_table(path, columns=["component", "name", "codes", "scales", "zeros"])
    cols = {c: t.column(c).to_pylist() for c in ("component", "name", "codes", "scales", "zeros")}
    out = {}
    for i, name in enumerate(cols["name"]):
        key = (cols["component"][i] or None, name)
        out[key] = out.get(key, 0) + sum(len(cols[c][i] or b"") for c in ("codes", "scales", "zeros"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=pathlib.Path)
    ap.add_argument("calibration", type=pathlib.Path)
    ap.add_argument("--out", type=pathlib.Path, required=True)
    ap.add_argument("--runs", default=",".join(RUNS), help="comma-separated names from RUNS")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reuse", action="store_true", help="keep Parquet files already in --out")
    a = ap.parse_args()
    names = [n.strip() for n in a.runs.split(",")]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise SystemExit(f"no run named {', '.join(unknown)}")
    a.out.mkdir(parents=True, exist_ok=True)
    nospatial = a.out / "no-spatial.yaml"
    nospatial.write_text(NOSPATIAL_YAML)

    calib = read_safetensors(a.calibration)
    weights = model_weights(a.model)
    layers = []  # (component, weight name, H)
    for (comp, name), w in weights.items():
        if not name.endswith(".weight"):
            continue
        key = f"{comp}/{name[:-7]}.hessian" if comp else f"{name[:-7]}.hessian"
        if key in calib and calib[key].shape == (w.shape[1], w.shape[1]):
            layers.append((comp, name, calib[key]))

    results = {}
    for run in names:
        path = a.out / f"{run.replace('→', '-').replace('+', '-').replace(' ', '-')}.parquet"
        if not (a.reuse and path.exists()):
            flags = [f.replace("{calib}", str(a.calibration)).replace("{nospatial}", str(nospatial)) for f in RUNS[run]]
            cmd = ["node", str(ROOT / "dist" / "cli" / "main.js"), "quantize", str(a.model), "-o", str(path),
                   "--min-accuracy", "0", "--threads", str(a.threads), "--quiet", *flags]
            t0 = time.perf_counter()
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
            print(f"quantized {run}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        index = {((t.get("component") or None), t["name"]): t for t in rr.tensors(path)}
        sizes = payload_bytes(path)
        by_cols = {}
        for comp, name, h in layers:
            t = index[(comp, name)]
            if t["method"] == "keep":
                continue
            w = weights[(comp, name)]
            full = f"{comp}/{name}" if comp else name
            wq = rr.dequantize(path, full).astype(np.float64).reshape(w.shape)
            d = w - wq
            err = float(((d @ h) * d).sum() / ((w @ h) * w).sum())
            g = by_cols.setdefault(w.shape[1], {"errors": [], "schemes": set(), "bytes": 0, "weights": 0})
            g["errors"].append(err)
            g["schemes"].add(f"{t['scheme']} ({t['method']})")
            g["bytes"] += sizes[(comp, name)]
            g["weights"] += w.size
        results[run] = by_cols
        print(f"scored {run}", file=sys.stderr)

    widths = sorted({c for r in results.values() for c in r})
    lines = ["Geometric mean of the relative layer-output error (×10⁻³) / bits per weight, per row length "
             "(layers with a Hessian; count in brackets):", ""]
    lines.append("| run | " + " | ".join(f"{c} ({max(len(results[r].get(c, {}).get('errors', [])) for r in results)})" for c in widths) + " |")
    lines.append("|---|" + "---|" * len(widths))
    for run, by_cols in results.items():
        cells = []
        for c in widths:
            g = by_cols.get(c)
            if not g:
                cells.append("—")
                continue
            gm = math.exp(sum(math.log(max(e, 1e-30)) for e in g["errors"]) / len(g["errors"]))
            cells.append(f"{1e3 * gm:.3f} / {8 * g['bytes'] / g['weights']:.3f}")
        lines.append(f"| {run} | " + " | ".join(cells) + " |")
    lines += ["", "Schemes (method) per row length:", ""]
    lines.append("| run | " + " | ".join(str(c) for c in widths) + " |")
    lines.append("|---|" + "---|" * len(widths))
    for run, by_cols in results.items():
        lines.append(f"| {run} | " + " | ".join(", ".join(sorted(by_cols[c]["schemes"])) if c in by_cols else "—" for c in widths) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    (a.out / "tables.md").write_text(text)
    (a.out / "results.json").write_text(json.dumps(
        {run: {str(c): {"errors": g["errors"], "schemes": sorted(g["schemes"]), "bpw": 8 * g["bytes"] / g["weights"]}
               for c, g in by_cols.items()} for run, by_cols in results.items()}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
