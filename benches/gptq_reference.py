"""A straightforward numpy implementation of GPTQ as published (Frantar et al. 2022, the
reference `fasterquant`): dead columns, optional act-order, dampening 0.01·mean(diag H),
Cholesky of the inverse, column blocks of 128 with lazy batch updates, group parameters
recomputed on the updated weights at each group start. Onto ArrowQuant's RTN grid (FORMAT.md)
so results compare code for code.

Also the benchmark: layer-output error ||X(W − Ŵ)ᵀ|| / ||XWᵀ|| of RTN, this reference and
ArrowQuant's Rust GPTQ on synthetic layers with correlated, outlier-heavy activations.

    python benches/gptq_reference.py [--sizes 512x768,4096x4096] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import reference_reader as rr  # noqa: E402


def grid_params(x: np.ndarray, bits: int, sym: bool):
    """Per-row parameters of ArrowQuant's RTN grid for the group `x` ([rows, g]), float32."""
    x = x.astype(np.float32)
    mn, mx = x.min(axis=1), x.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if sym:
            qpos = np.float32(2 ** (bits - 1) - 1)
            zero = np.full(x.shape[0], 2 ** (bits - 1), dtype=np.float32)
            scale = (np.maximum(np.maximum(-mn, mx), 0).astype(np.float32) / qpos).astype(np.float32)
            inv = (np.float32(1) / scale).astype(np.float32)
            inv = np.where(np.isfinite(inv), inv, np.float32(0))
            lo, hi = zero - qpos, zero + qpos
        else:
            qmax = np.float32(2 ** bits - 1)
            lo_v, hi_v = np.minimum(mn, 0), np.maximum(mx, 0)
            scale = ((hi_v - lo_v) / qmax).astype(np.float32)
            inv = (np.float32(1) / scale).astype(np.float32)
            inv = np.where(np.isfinite(inv), inv, np.float32(0))
            zero = np.clip(np.rint(-lo_v * inv), 0, qmax).astype(np.float32)
            lo, hi = np.float32(0), qmax
    return scale, inv, zero, lo, hi


def quant(w: np.ndarray, params) -> tuple[np.ndarray, np.ndarray]:
    """Codes and dequantized values of `w` ([rows, k]) with per-row `params`."""
    scale, inv, zero, lo, hi = (p[:, None] if np.ndim(p) == 1 else p for p in params)
    q = np.clip(np.rint(w.astype(np.float32) * inv) + zero, lo, hi).astype(np.float32)
    return q, ((q - zero) * scale).astype(np.float32)


def rtn(W: np.ndarray, bits: int, group: int, sym: bool) -> np.ndarray:
    out = np.empty_like(W, dtype=np.float32)
    for g0 in range(0, W.shape[1], group):
        out[:, g0:g0 + group] = quant(W[:, g0:g0 + group], grid_params(W[:, g0:g0 + group], bits, sym))[1]
    return out


def gptq_reference(W, H, bits, group, sym, blocksize=128, percdamp=0.01, act_order=False):
    """Returns the dequantized weight (float32, original column order)."""
    W = W.astype(np.float32).copy()
    H = H.astype(np.float64).copy()
    cols = W.shape[1]
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    static = None
    if act_order:  # static groups: parameters from the original weights, original column order
        static = [grid_params(W[:, g0:g0 + group], bits, sym) for g0 in range(0, cols, group)]
        perm = np.argsort(-np.diag(H), kind="stable")
        W, H = W[:, perm], H[perm][:, perm]
        invperm = np.argsort(perm)
    damp = percdamp * np.mean(np.diag(H))
    H[np.diag_indices(cols)] += damp
    L = np.linalg.cholesky(H)
    Hinv = np.linalg.inv(L).T @ np.linalg.inv(L)
    Hinv = np.linalg.cholesky(Hinv).T.astype(np.float32)  # upper factor
    Q = np.zeros_like(W)
    params = None
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].copy()
        Q1 = np.zeros_like(W1)
        Err1 = np.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = i1 + i
            if act_order:
                params = static[perm[col] // group]
            elif col % group == 0:
                # group start: parameters on the weights as updated so far (within the block: W1)
                end = min(col + group, cols)
                seg = np.concatenate([W1[:, i:], W[:, i2:end]], axis=1)[:, : end - col]
                params = grid_params(seg, bits, sym)
            w = W1[:, i]
            q = quant(w[:, None], params)[1][:, 0]
            Q1[:, i] = q
            err = (w - q) / Hinv1[i, i]
            W1[:, i:] -= np.outer(err, Hinv1[i, i:])
            Err1[:, i] = err
        Q[:, i1:i2] = Q1
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    if act_order:
        Q = Q[:, invperm]
    return Q


def synthetic_layer(out_f: int, in_f: int, n: int, seed: int):
    """W heavy-tailed; X correlated across channels with a few outlier channels (as in LLM/DiT
    activations); H = XᵀX / n."""
    rng = np.random.default_rng(seed)
    W = (rng.standard_t(4, size=(out_f, in_f)) / np.sqrt(in_f)).astype(np.float32)
    mix = rng.standard_normal((in_f, in_f)).astype(np.float32) / np.sqrt(in_f)
    X = rng.standard_normal((n, in_f)).astype(np.float32) @ (np.eye(in_f, dtype=np.float32) + 0.5 * mix)
    outliers = rng.choice(in_f, size=max(1, in_f // 100), replace=False)
    X[:, outliers] *= 20
    H = (X.T.astype(np.float64) @ X.astype(np.float64) / n).astype(np.float32)
    return W, X, H


def output_error(X, W, Wq) -> float:
    return float(np.linalg.norm(X @ (W - Wq).T) / np.linalg.norm(X @ W.T))


def arrowquant_gptq(W, H, bits, group, sym, act_order=False, threads=2):
    exe = ROOT / "target" / "release" / "examples" / "gptq_raw"
    if not exe.exists():
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "arrowquant-kernels", "--example", "gptq_raw"], cwd=ROOT, check=True)
    rows, cols = W.shape
    with tempfile.TemporaryDirectory() as d:
        wf, hf, out = os.path.join(d, "w.f32"), os.path.join(d, "h.f32"), os.path.join(d, "o")
        W.astype("<f4").tofile(wf)
        H.astype("<f4").tofile(hf)
        r = subprocess.run([str(exe), str(bits), str(group), "sym" if sym else "asym", "1" if act_order else "0", wf, str(rows), str(cols), hf, str(threads), out],
                           capture_output=True, text=True, check=True)
        codes, scales, zeros = (Path(f"{out}.{e}").read_bytes() for e in ("codes", "scales", "zeros"))
    scheme = f"rtn_int{bits}_g{group}_{'sym' if sym else 'asym'}"
    return rr.decode_chunk(scheme, rows, cols, codes, scales, zeros), float(r.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="512x768,1024x1152,4096x4096")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    print(f"# GPTQ layer-output error ||X(W-Ŵ)ᵀ||/||XWᵀ|| (lower is better); times in s; threads={args.threads}")
    print(f"{'layer':>10} {'scheme':>20} {'RTN':>9} {'ref GPTQ':>9} {'ours':>9} {'ours/ref':>9} {'ref s':>8} {'ours s':>8} {'speedup':>8}")
    for k, size in enumerate(args.sizes.split(",")):
        o, i = (int(v) for v in size.split("x"))
        W, X, H = synthetic_layer(o, i, n=max(2 * i, 1024), seed=k)
        for bits, group, act in ((4, 128, False), (2, 128, False), (4, 128, True)):
            e_rtn = output_error(X, W, rtn(W, bits, group, False))
            t = time.perf_counter()
            ref = gptq_reference(W, H, bits, group, False, act_order=act)
            t_ref = time.perf_counter() - t
            ours, t_ours = arrowquant_gptq(W, H, bits, group, False, act_order=act, threads=args.threads)
            e_ref, e_ours = output_error(X, W, ref), output_error(X, W, ours)
            name = f"int{bits} g{group}{' act' if act else ''}"
            print(f"{size:>10} {name:>20} {e_rtn:9.5f} {e_ref:9.5f} {e_ours:9.5f} {e_ours / e_ref:9.4f} {t_ref:8.2f} {t_ours:8.2f} {t_ref / t_ours:7.1f}x")


if __name__ == "__main__":
    main()
