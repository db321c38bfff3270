"""ggml's own quantization code (ggml-base's scalar reference, built by scripts/setup-ggml.sh) as a
test oracle, through ctypes.

    import ggml_oracle as go
    blob = go.quantize("q4_K", x)                     # quantize_row_q4_K_ref, row by row
    blob = go.quantize("q4_K", x, imatrix=w)          # quantize_q4_K(x, ..., w)
    y = go.dequantize("q4_K", blob, x.size)           # dequantize_row_q4_K

Modes: "ref" = quantize_row_<t>_ref row by row (no imatrix); "api" = quantize_<t>(src, dst, rows,
cols, imatrix or NULL), which with NULL forwards to the same _ref code for every type here, and with
an imatrix runs ggml's quantize_row_<t>_impl; "chunk" = ggml_quantize_chunk (llama-quantize's entry
point, a switch over quantize_<t>). The default picks "ref" without an imatrix and "api" with one.

The library is $GGML_ORACLE_LIB if set, else <repo>/.cache/ggml/<PINNED_VERSION>/out/libggml_oracle.so.
"""
from __future__ import annotations

import ctypes
import os
import pathlib

import numpy as np

# Must match LCP_VERSION in scripts/setup-ggml.sh (test_ggml_oracle_selfcheck.py checks it).
PINNED_VERSION = "0.3.36"
ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_LIB = ROOT / ".cache" / "ggml" / PINNED_VERSION / "out" / "libggml_oracle.so"

TYPES = ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K")
MODES = ("ref", "api", "chunk")


class OracleUnavailable(RuntimeError):
    pass


class OracleError(ValueError):
    pass


_lib = None


def lib_path() -> pathlib.Path:
    env = os.environ.get("GGML_ORACLE_LIB")
    return pathlib.Path(env) if env else DEFAULT_LIB


def load() -> ctypes.CDLL:
    """The loaded library; OracleUnavailable (with what to run) when it is not built."""
    global _lib
    if _lib is not None:
        return _lib
    path = lib_path()
    if not path.is_file():
        raise OracleUnavailable(f"ggml oracle not built ({path} missing): run scripts/setup-ggml.sh")
    lib = ctypes.CDLL(str(path))
    c_str, i64, vp, fp = ctypes.c_char_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p
    for name, args, res in [
        ("oracle_version", [], c_str),
        ("oracle_last_error", [], c_str),
        ("oracle_type_names", [], c_str),
        ("oracle_block_size", [c_str], i64),
        ("oracle_type_size", [c_str], i64),
        ("oracle_row_size", [c_str, i64], i64),
        ("oracle_quantize_mode", [c_str, c_str, fp, i64, i64, fp, vp], i64),
        ("oracle_dequantize", [c_str, vp, i64, fp], i64),
    ]:
        f = getattr(lib, name)
        f.argtypes, f.restype = args, res
    _lib = lib
    return lib


def available() -> bool:
    try:
        load()
        return True
    except OracleUnavailable:
        return False


def _check(n: int) -> int:
    if n < 0:
        raise OracleError(load().oracle_last_error().decode())
    return n


def version() -> str:
    return load().oracle_version().decode()


def block_size(qtype: str) -> int:
    """Elements per block (32 or 256)."""
    return _check(load().oracle_block_size(qtype.encode()))


def type_size(qtype: str) -> int:
    """Bytes per block."""
    return _check(load().oracle_type_size(qtype.encode()))


def row_size(qtype: str, n: int) -> int:
    return _check(load().oracle_row_size(qtype.encode(), n))


def quantize(qtype: str, x: np.ndarray, imatrix: np.ndarray | None = None, mode: str | None = None) -> bytes:
    """x: 2-D float32 (rows, cols), cols a multiple of the block size; imatrix: cols positive
    float32 values (one per column, as llama.cpp's imatrix stores them) or None."""
    lib = load()
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D, got shape {x.shape}")
    rows, cols = x.shape
    if mode is None:
        mode = "ref" if imatrix is None else "api"
    imp = None
    if imatrix is not None:
        imatrix = np.ascontiguousarray(imatrix, dtype=np.float32).reshape(-1)
        if imatrix.size != cols:
            raise ValueError(f"imatrix has {imatrix.size} values, x has {cols} columns")
        imp = imatrix.ctypes.data
    out = np.empty(rows * row_size(qtype, cols), dtype=np.uint8)
    n = _check(lib.oracle_quantize_mode(qtype.encode(), mode.encode(), x.ctypes.data, rows, cols, imp, out.ctypes.data))
    assert n == out.size, (n, out.size)
    return out.tobytes()


def dequantize(qtype: str, data: bytes, n: int) -> np.ndarray:
    """n float32 values from n/block_size blocks of `data`."""
    lib = load()
    need = row_size(qtype, n)
    if len(data) != need:
        raise ValueError(f"{qtype}: {n} values take {need} bytes, got {len(data)}")
    src = np.frombuffer(data, dtype=np.uint8)
    out = np.empty(n, dtype=np.float32)
    _check(lib.oracle_dequantize(qtype.encode(), src.ctypes.data, n, out.ctypes.data))
    return out
