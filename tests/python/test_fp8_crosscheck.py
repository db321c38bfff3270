"""FP8 codes equal ml_dtypes' float8_e4m3fn / float8_e5m2 conversion (round to nearest even) of
the scaled values, per tensor and per channel."""
import ml_dtypes
import numpy as np
import pytest

from conftest import awkward

KINDS = {"e4m3": (ml_dtypes.float8_e4m3fn, 448.0), "e5m2": (ml_dtypes.float8_e5m2, 57344.0)}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("per_channel", [False, True])
def test_fp8_matches_ml_dtypes(tmp_path, quantize_raw, kind, per_channel):
    x = awkward(48, 640, 7)
    fmt = f"fp8_{kind}" + ("_channel" if per_channel else "")
    codes, scales = quantize_raw(tmp_path, x, fmt)
    dtype, fmax = KINDS[kind]
    amax = np.abs(x).max(axis=1, keepdims=True) if per_channel else np.abs(x).max()
    scale = (amax / np.float32(fmax)).astype(np.float32)
    np.testing.assert_array_equal(scales, np.asarray(scale, dtype=np.float32).reshape(-1))
    inv = (np.float32(1.0) / scale).astype(np.float32)
    v = (x * inv).astype(np.float32)
    expected = np.clip(v, -fmax, fmax).astype(dtype).view(np.uint8).reshape(-1)
    got = np.frombuffer(codes, dtype=np.uint8)
    mismatch = np.flatnonzero(got != expected)
    assert mismatch.size == 0, f"{fmt}: {mismatch.size} codes differ, first at {mismatch[0]}: value {v.reshape(-1)[mismatch[0]]!r}"
