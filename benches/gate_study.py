#!/usr/bin/env python3
"""Which per-layer figure predicts what quantization does to a real model's outputs, and where the
quality gate's thresholds belong (issue 18): all-MiniLM-L6-v2, the real-model bench's model.

    bash scripts/setup-real-model.sh
    .venv-torch/bin/python benches/gate_study.py [--out benches/out/gate-study] [--reuse]

1. Quantizes the model with the CLI once per setting (SETTINGS: 8, 5, 4, 3 and 2 bits, every one
   with the calibration file, no smoothing and `--min-accuracy 0`, so no fallback hides a layer), and reads each
   layer's two figures from the file: the weight cosine and the layer-output cosine
   cos(XWᵀ, XŴᵀ) on the calibration inputs (the `layer_output` column, from the layer's Hessian).
2. End to end, as benches/real_model_quality.py: held-out sentences' mean-pooled embeddings
   against fp32 (1 − cosine, mean over sentences), for the whole quantized model and, for every
   setting, with ONE encoder layer quantized and all the others fp32 (36 layers × settings).
3. Relates them: for the single-layer runs, the rank correlation (Spearman) of each figure's
   1 − cos with the end-to-end 1 − cos, and the log-log slope; then, per candidate threshold on
   each figure, how many layers that break the model alone (end-to-end 1 − cos above a budget)
   it lets through, and how many harmless ones it rejects.

Prints Markdown (also OUT/tables.md) and writes OUT/results.json.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benches"))
sys.path.insert(0, str(ROOT / "docs"))
import real_model_quality as rmq  # noqa: E402
import reference_reader as rr  # noqa: E402

# name, CLI flags (after `quantize MODEL -o F --min-accuracy 0 --calibration CAL`), and whether
# every layer is also scored alone (36 forwards: the settings where layers start to break).
SETTINGS = [
    ("q8_0", ["--method", "q8_0"], False),
    ("q4_0", ["--method", "q4_0"], True),
    ("rtn4-g128", ["--method", "rtn", "--bits", "4", "--group-size", "128"], True),
    ("q3_k", ["--method", "q3_k"], True),
    ("q2_k", ["--method", "q2_k"], True),
    ("rtn2-g128", ["--method", "rtn", "--bits", "2", "--group-size", "128"], True),
    ("r2q-g128", ["--method", "r2q", "--group-size", "128"], True),
    ("gptq2-g128", ["--method", "gptq", "--bits", "2", "--group-size", "128"], False),
    # The edge profile's 2-bit without a calibration file: plain R2Q (no Hessian, no GPTQ).
    ("r2q-g256-plain", ["--method", "r2q", "--group-size", "256", "NOCALIB"], True),
]

# What "breaks the model" means for an embedding model: one layer alone moving the held-out
# sentences' embeddings by more than this (mean 1 − cos). Two budgets are reported.
BUDGETS = (1e-2, 3e-3)


def figures(path: pathlib.Path) -> dict:
    """name -> {weight, output} cosines of each quantized tensor, merged over chunks (FORMAT.md)."""
    import pyarrow.parquet as pq
    rows = pq.read_table(path, columns=["name", "method", "quality", "layer_output"]).to_pylist()
    acc: dict = {}
    for r in rows:
        if r["method"] == "keep":
            continue
        a = acc.setdefault(r["name"], {"xx": 0.0, "yy": 0.0, "xy": 0.0, "ww": 0.0, "we": 0.0, "ee": 0.0, "measured": True})
        q = r["quality"]
        a["xx"] += q["sum_xx"]; a["yy"] += q["sum_yy"]; a["xy"] += q["sum_xy"]
        lo = r["layer_output"]
        if lo is None:
            a["measured"] = False
        else:
            a["ww"] += lo["sum_ww"]; a["we"] += lo["sum_we"]; a["ee"] += lo["sum_ee"]
    out = {}
    for name, a in acc.items():
        weight = a["xy"] / np.sqrt(a["xx"] * a["yy"]) if a["xx"] * a["yy"] > 0 else 1.0
        output = None
        if a["measured"]:
            yy = max(0.0, a["ww"] - 2 * a["we"] + a["ee"])
            output = 1.0 if a["ee"] <= 0 else (a["ww"] - a["we"]) / np.sqrt(a["ww"] * yy) if a["ww"] * yy > 0 else 0.0
        out[name] = {"weight": float(weight), "output": None if output is None else float(output)}
    return out


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=pathlib.Path, default=rmq.DEFAULT_MODEL)
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "benches" / "out" / "gate-study")
    ap.add_argument("--calib-sentences", type=int, default=512)
    ap.add_argument("--heldout-sentences", type=int, default=16, help="generated ones, plus the 32 handwritten")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reuse", action="store_true", help="keep the calibration and Parquet files already in --out")
    ap.add_argument("--tables-only", action="store_true", help="print the tables of OUT/results.json again")
    ap.add_argument("--only", default=None, help="comma-separated settings: run only these, merged into OUT/results.json")
    a = ap.parse_args()
    if a.tables_only:
        md = tables(json.loads((a.out / "results.json").read_text()))
        (a.out / "tables.md").write_text(md)
        print(md)
        return 0
    torch.set_num_threads(a.threads)
    model_dir = a.model.resolve()
    cfg = json.loads((model_dir / "config.json").read_text())
    weights = rmq.read_safetensors(model_dir / "model.safetensors")
    model = rmq.Bert(cfg).eval()
    rmq.load_state(model, weights)
    tok = rmq.tokenizer(model_dir)
    calib = rmq.generated_sentences(a.calib_sentences, seed=1)
    heldout = rmq.generated_sentences(a.heldout_sentences, seed=2, exclude=calib) + rmq.HANDWRITTEN
    a.out.mkdir(parents=True, exist_ok=True)
    calib_path = a.out / "calib.safetensors"
    if not (a.reuse and calib_path.exists()):
        def batches(sentences):
            by_len: dict = {}
            for e in tok.encode_batch(sentences):
                by_len.setdefault(len(e.ids), []).append(e.ids)
            for _, ids in sorted(by_len.items()):
                for i in range(0, len(ids), 64):
                    yield (torch.tensor(ids[i:i + 64]),), {}
        rmq.cc.save(rmq.cc.capture(model, batches(calib), layer_filter=lambda n, m: not n.startswith("pooler")), calib_path)
    reference = rmq.embed(model, tok, heldout)
    # Smoothing off (as `auto` plans text): the figures then describe the formats themselves.
    nospatial = a.out / "no-spatial.yaml"
    nospatial.write_text(rmq.NOSPATIAL_YAML)

    def e2e(tensors: dict) -> float:
        rmq.load_state(model, tensors)
        got = rmq.embed(model, tok, heldout)
        return float(1 - (got * reference).sum(-1).mean())

    layers = [n for n in weights if n.startswith("encoder.layer.") and n.endswith(".weight") and weights[n].ndim == 2]
    only = None if a.only is None else a.only.split(",")
    results: dict = {"settings": {}, "layers": layers}
    if only is not None and (a.out / "results.json").exists():
        results = json.loads((a.out / "results.json").read_text())
    for name, flags, alone in SETTINGS:
        if only is not None and name not in only:
            continue
        path = a.out / f"minilm.{name}.parquet"
        if not (a.reuse and path.exists()):
            t0 = time.perf_counter()
            calibration = [] if "NOCALIB" in flags else ["--calibration", str(calib_path)]
            rmq.quantize(model_dir, path, [f for f in flags if f != "NOCALIB"] + calibration + ["--config", str(nospatial)], a.threads)
            print(f"quantized {name}: {time.perf_counter() - t0:.1f} s", flush=True)
        fig = figures(path)
        deq = {n: rr.dequantize(path, n) for n in layers}
        whole = e2e({**weights, **{n: rr.dequantize(path, n) for n in rr.tensor_names(path)}})
        single = {n: e2e({**weights, n: deq[n]}) for n in layers} if alone else {}
        bits = {r["name"]: r["bits"] for r in rr.tensors(path)}
        results["settings"][name] = {
            "whole_e2e": whole,
            "layers": {n: {**fig[n], "e2e_alone": single.get(n), "bits": bits.get(n)} for n in layers},
        }
        worst = f"; single-layer max {max(single.values()):.3e}" if single else ""
        print(f"{name}: whole-model 1−cos {whole:.3e}{worst}", flush=True)
    restore = dict(weights)
    rmq.load_state(model, restore)
    (a.out / "results.json").write_text(json.dumps(results, indent=1))
    md = tables(results)
    (a.out / "tables.md").write_text(md)
    print(md)
    return 0


def tables(res: dict) -> str:
    out = []
    pts = [(s, n, v) for s, r in res["settings"].items() for n, v in r["layers"].items() if v["e2e_alone"] is not None]
    e2e = np.array([v["e2e_alone"] for _, _, v in pts])
    wt = np.array([1 - v["weight"] for _, _, v in pts])
    # Without a Hessian (the plain setting) the gate judges the weight figure alone.
    op = np.array([1 - (v["output"] if v["output"] is not None else v["weight"]) for _, _, v in pts])
    out.append("Per setting (every layer quantized; per-layer figures over the 36 encoder linear layers):\n")
    out.append("| setting | whole model 1 − cos | worst layer alone 1 − cos | weight cos (min / median) | layer-output cos (min / median) |")
    out.append("|---|---|---|---|---|")
    for s, r in res["settings"].items():
        v = list(r["layers"].values())
        w = [x["weight"] for x in v]; o = [x["output"] for x in v if x["output"] is not None] or [float("nan")]; e = [x["e2e_alone"] for x in v if x["e2e_alone"] is not None]
        worst = f"{max(e):.2e}" if e else "—"
        out.append(f"| {s} | {r['whole_e2e']:.2e} | {worst} | {min(w):.4f} / {np.median(w):.4f} | {min(o):.4f} / {np.median(o):.4f} |")
    pos = (e2e > 0) & (wt > 0) & (op > 0)
    lw, lo, le = np.log10(wt[pos]), np.log10(op[pos]), np.log10(e2e[pos])
    out.append("\nSingle layer quantized, all settings pooled "
               f"({pos.sum()} points): how well each figure ranks and predicts the end-to-end damage:\n")
    out.append("| figure | Spearman ρ with end-to-end 1 − cos | log-log slope | spread of log10(e2e) at fixed figure (residual σ) |")
    out.append("|---|---|---|---|")
    both = np.maximum(wt, op)
    lb = np.log10(both[pos])
    for label, x in (("weight 1 − cos", lw), ("layer-output 1 − cos", lo), ("max of the two (the gate)", lb)):
        slope, icpt = np.polyfit(x, le, 1)
        resid = le - (slope * x + icpt)
        out.append(f"| {label} | {spearman(x, le):.3f} | {slope:.2f} | {resid.std():.3f} |")
    gptq_fit = np.array([s == "r2q-g128" for s, _, _ in pts])  # R2Q with calibration is GPTQ onto its grid
    out.append("\nThe same Spearman ρ by kind of setting:\n")
    out.append("| settings | points | weight | layer-output |")
    out.append("|---|---|---|---|")
    for label, m in (("not fitted to H (q4_0, rtn4, q3_k, q2_k, rtn2, plain r2q)", ~gptq_fit), ("GPTQ onto the R2Q grid (fitted to H)", gptq_fit)):
        out.append(f"| {label} | {int(m.sum())} | {spearman(wt[m], e2e[m]):.3f} | {spearman(op[m], e2e[m]):.3f} |")
    for budget in BUDGETS:
        broken = e2e > budget
        out.append(f"\nA layer **breaks the model** when quantizing it alone costs more than {budget:g} end to end "
                   f"({broken.sum()} of {len(e2e)} layer×setting points). Gate on each figure at threshold τ "
                   "(reject when the figure's cosine < τ): breaking layers let through / harmless layers rejected:\n")
        out.append("| τ | on the weight cosine | on the layer-output cosine | on the lower of the two (the gate) |")
        out.append("|---|---|---|---|")
        for tau in (0.85, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 0.998):
            row = [f"{tau}"]
            for x in (wt, op, both):
                rej = (1 - x) < tau
                row.append(f"{int((broken & ~rej).sum())} / {int((~broken & rej).sum())}")
            out.append("| " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
