"""GPTQ speed against a torch-CPU implementation of the same published algorithm (Frantar et al.
2022, the reference `fasterquant` loop: dead columns, dampening 0.01·mean(diag H), Cholesky of
the inverse, column blocks of 128 with lazy batch updates, group parameters recomputed at each
group start), onto ArrowQuant's asymmetric RTN grid, both on the same number of threads. Prints
the layer-output error of each (and RTN's) so "same error" is checked in the same run.

Needs torch. PyPI has only the CUDA build for Linux x86-64; it runs on CPU but needs its CUDA
libraries installed (`pip install torch` pulls them, ~3 GB). In a separate venv:

    python3 -m venv /tmp/torch-bench && /tmp/torch-bench/bin/pip install torch numpy pyarrow
    /tmp/torch-bench/bin/python benches/gptq_torch.py --sizes 4096x4096 --threads 2
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from gptq_reference import arrowquant_gptq, output_error, rtn, synthetic_layer


def grid(x: torch.Tensor, bits: int):
    """ArrowQuant's asymmetric RTN grid for groups `x` ([rows, g]): scale, 1/scale, zero-point."""
    qmax = float(2 ** bits - 1)
    lo = torch.clamp(x.min(dim=1).values, max=0)
    hi = torch.clamp(x.max(dim=1).values, min=0)
    scale = (hi - lo) / qmax
    inv = torch.where(torch.isfinite(1 / scale), 1 / scale, torch.zeros_like(scale))
    zero = torch.clamp(torch.round(-lo * inv), 0, qmax)
    return scale[:, None], inv[:, None], zero[:, None], qmax


def quant(w: torch.Tensor, p) -> torch.Tensor:
    scale, inv, zero, qmax = p
    q = torch.clamp(torch.round(w * inv) + zero, 0, qmax)
    return (q - zero) * scale


@torch.no_grad()
def gptq_torch(W: np.ndarray, H: np.ndarray, bits: int, group: int, blocksize: int = 128, percdamp: float = 0.01) -> np.ndarray:
    W = torch.from_numpy(W).float().clone()
    H = torch.from_numpy(H).double().clone()
    cols = W.shape[1]
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += percdamp * torch.mean(torch.diag(H)) * torch.eye(cols, dtype=H.dtype)
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True).float()
    Q = torch.zeros_like(W)
    p = None
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].clone()
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = i1 + i
            if col % group == 0:
                end = min(col + group, cols)
                p = grid(torch.cat([W1[:, i:], W[:, i2:end]], dim=1)[:, : end - col], bits)
            w = W1[:, i]
            q = quant(w[:, None], p)[:, 0]
            Q[:, col] = q
            err = (w - q) / Hinv1[i, i]
            W1[:, i:] -= err[:, None] @ Hinv1[i, i:][None, :]
            Err1[:, i] = err
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    return Q.numpy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4096x4096")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__} on CPU ({torch.get_num_threads()} threads) vs ArrowQuant ({args.threads} threads); median of {args.repeats}")
    print(f"{'layer':>10} {'scheme':>10} {'RTN':>9} {'torch':>9} {'ours':>9} {'torch s':>8} {'ours s':>8} {'speedup':>8}")
    for k, size in enumerate(args.sizes.split(",")):
        o, i = (int(v) for v in size.split("x"))
        W, X, H = synthetic_layer(o, i, n=max(2 * i, 1024), seed=k)
        for bits, group in ((4, 128), (2, 128)):
            t_torch, t_ours = [], []
            for _ in range(args.repeats):
                t = time.perf_counter()
                ref = gptq_torch(W, H, bits, group)
                t_torch.append(time.perf_counter() - t)
                ours, secs = arrowquant_gptq(W, H, bits, group, False, threads=args.threads)
                t_ours.append(secs)
            e_rtn, e_t, e_o = output_error(X, W, rtn(W, bits, group, False)), output_error(X, W, ref), output_error(X, W, ours)
            tt, to = float(np.median(t_torch)), float(np.median(t_ours))
            print(f"{size:>10} {f'int{bits} g{group}':>10} {e_rtn:9.5f} {e_t:9.5f} {e_o:9.5f} {tt:8.2f} {to:8.2f} {tt / to:7.2f}x")


if __name__ == "__main__":
    main()
