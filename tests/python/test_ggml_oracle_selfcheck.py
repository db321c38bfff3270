"""The ggml oracle itself is sane: block sizes, hand-computed blocks, round trips, the documented
relation between ggml's quantize_row_<t>_ref and quantize_<t>(..., imatrix=NULL), and agreement with
gguf-py (llama.cpp's own numpy port) where gguf-py implements a type.

Skipped (with what to run) when scripts/setup-ggml.sh has not built the library."""
import pathlib
import re
import subprocess

import numpy as np
import pytest
from gguf import GGMLQuantizationType
from gguf.quants import dequantize as gguf_dequantize
from gguf.quants import quantize as gguf_quantize

import ggml_oracle as go
from conftest import awkward

ROOT = pathlib.Path(__file__).resolve().parents[2]

needs_lib = pytest.mark.skipif(
    not go.available(),
    reason=f"ggml oracle not built ({go.lib_path()} missing): run scripts/setup-ggml.sh, or set GGML_ORACLE_LIB",
)

LEGACY = ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0"]
KQUANTS = ["q2_K", "q3_K", "q4_K", "q5_K", "q6_K"]

# (elements per block, bytes per block) as GGUF defines them.
BLOCKS = {
    "q4_0": (32, 18), "q4_1": (32, 20), "q5_0": (32, 22), "q5_1": (32, 24), "q8_0": (32, 34),
    "q2_K": (256, 84), "q3_K": (256, 110), "q4_K": (256, 144), "q5_K": (256, 176), "q6_K": (256, 210),
}

# Relative RMS error of dequantize(quantize(x)) on N(0,1) data: well above what ggml reaches
# (q8_0 0.005, q6_K 0.018, q5_K 0.036, q4_K 0.071, q3_K 0.15, q2_K 0.29), well below noise.
MAX_REL_RMSE = {
    "q8_0": 0.01, "q6_K": 0.03, "q5_0": 0.06, "q5_1": 0.06, "q5_K": 0.06,
    "q4_0": 0.12, "q4_1": 0.12, "q4_K": 0.1, "q3_K": 0.2, "q2_K": 0.35,
}


def gaussian(rows, cols, seed):
    return np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)


def positive_imatrix(cols, seed):
    return np.exp(np.random.default_rng(seed).standard_normal(cols)).astype(np.float32)


def test_pinned_version_matches_setup_script():
    script = (ROOT / "scripts" / "setup-ggml.sh").read_text()
    assert re.search(rf"^LCP_VERSION={re.escape(go.PINNED_VERSION)}$", script, re.M)


@needs_lib
def test_version_names_the_pinned_sdist():
    assert go.version().startswith(f"llama-cpp-python {go.PINNED_VERSION}; llama.cpp ")


@needs_lib
@pytest.mark.parametrize("qtype", list(BLOCKS))
def test_block_sizes(qtype):
    elems, nbytes = BLOCKS[qtype]
    assert go.block_size(qtype) == elems
    assert go.type_size(qtype) == nbytes
    assert go.row_size(qtype, 4 * elems) == 4 * nbytes
    assert len(go.quantize(qtype, gaussian(3, 2 * 256, 1))) == 3 * 2 * (256 // elems) * nbytes


@needs_lib
def test_q8_0_known_block():
    # amax 127 makes d exactly 1 (fp16 0x3c00) and 1/d exactly 1; roundf rounds halves away from 0.
    x = np.zeros(32, dtype=np.float32)
    x[:8] = [127.0, -127.0, 2.5, -2.5, 0.49, -0.5, 1.5, 100.4]
    want = bytes([0x00, 0x3C]) + bytes(np.array([127, -127, 3, -3, 0, -1, 2, 100] + [0] * 24, dtype=np.int8).tobytes())
    assert go.quantize("q8_0", x.reshape(1, 32)) == want
    np.testing.assert_array_equal(go.dequantize("q8_0", want, 32)[:8], [127, -127, 3, -3, 0, -1, 2, 100])


@needs_lib
def test_q4_0_known_block():
    # The signed value of largest magnitude is -8, so d = -8/-8 = 1 and q = min(15, (int8)(x + 8.5)).
    x = np.zeros(32, dtype=np.float32)
    x[:6] = [-8.0, 7.0, 7.9, 0.5, -0.5, -3.0]   # -> 0, 15, 15 (16 clamped), 9, 8, 5
    x[16:19] = [0.49, 1.0, -7.6]                # -> 8, 9, 0 (0.9 truncates)
    lo = [0, 15, 15, 9, 8, 5] + [8] * 10
    hi = [8, 9, 0] + [8] * 13
    want = bytes([0x00, 0x3C]) + bytes(l | (h << 4) for l, h in zip(lo, hi))
    assert go.quantize("q4_0", x.reshape(1, 32)) == want


@needs_lib
@pytest.mark.parametrize("qtype", LEGACY + KQUANTS)
def test_api_without_imatrix_is_ref(qtype):
    """ggml's quantize_<t>(..., NULL) forwards to quantize_row_<t>_ref for every type here, and so
    does ggml_quantize_chunk; the _impl paths (with their own weights when quant_weights is NULL)
    are reached only with an imatrix."""
    x = awkward(9, 1536, 7)
    ref = go.quantize(qtype, x, mode="ref")
    assert go.quantize(qtype, x, mode="api") == ref
    assert go.quantize(qtype, x, mode="chunk") == ref


@needs_lib
@pytest.mark.parametrize("qtype", LEGACY + KQUANTS)
def test_chunk_with_imatrix_is_api(qtype):
    x, w = gaussian(5, 1024, 3), positive_imatrix(1024, 4)
    assert go.quantize(qtype, x, imatrix=w, mode="chunk") == go.quantize(qtype, x, imatrix=w, mode="api")


@needs_lib
@pytest.mark.parametrize("qtype", LEGACY + KQUANTS)
@pytest.mark.parametrize("with_imatrix", [False, True])
def test_round_trip_is_close(qtype, with_imatrix):
    x = gaussian(8, 1024, 11)
    w = positive_imatrix(1024, 12) if with_imatrix else None
    y = go.dequantize(qtype, go.quantize(qtype, x, imatrix=w), x.size).reshape(x.shape)
    rel = float(np.sqrt(np.mean((y - x) ** 2) / np.mean(x ** 2)))
    assert rel < MAX_REL_RMSE[qtype], rel
    # and every block is reproduced from its own data, not a neighbour's
    zeroed = x.copy()
    zeroed[:, :256] = 0
    y0 = go.dequantize(qtype, go.quantize(qtype, zeroed, imatrix=w), x.size).reshape(x.shape)
    assert not y0[:, :256].any()


@needs_lib
@pytest.mark.parametrize("qtype", LEGACY + KQUANTS)
def test_imatrix_lowers_weighted_error(qtype):
    x, w = gaussian(8, 1024, 21), positive_imatrix(1024, 22)
    ref = go.quantize(qtype, x)
    imat = go.quantize(qtype, x, imatrix=w)
    if qtype == "q8_0":
        assert imat == ref  # quantize_q8_0 ignores quant_weights
        return
    assert imat != ref

    def werr(blob):
        y = go.dequantize(qtype, blob, x.size).reshape(x.shape)
        return float(np.sum(w * (y - x) ** 2))

    assert werr(imat) < werr(ref)


@needs_lib
@pytest.mark.parametrize("qtype", LEGACY + KQUANTS)
def test_dequantize_matches_gguf_py_bitwise(qtype):
    x = awkward(6, 1536, 5)
    blob = go.quantize(qtype, x)
    ours = go.dequantize(qtype, blob, x.size)
    theirs = gguf_dequantize(np.frombuffer(blob, dtype=np.uint8).reshape(6, -1), GGMLQuantizationType[qtype.upper()])
    np.testing.assert_array_equal(ours.view(np.uint32), theirs.astype(np.float32).reshape(-1).view(np.uint32))


@needs_lib
@pytest.mark.parametrize("qtype", LEGACY)
def test_legacy_ref_matches_gguf_py(qtype):
    # gguf-py ports only the legacy reference quantizers (its K-quant quantize is not implemented).
    x = awkward(33, 1152, 2)
    assert go.quantize(qtype, x) == gguf_quantize(x, GGMLQuantizationType[qtype.upper()]).tobytes()


@needs_lib
def test_bad_input_is_an_error_not_an_abort():
    x = gaussian(2, 256, 0)
    with pytest.raises(go.OracleError, match="unknown type"):
        go.quantize("q7_K", x)
    with pytest.raises(go.OracleError, match="no imatrix"):
        go.quantize("q4_K", x, imatrix=np.ones(256, np.float32), mode="ref")
    with pytest.raises(go.OracleError, match="block size"):
        go.quantize("q4_K", gaussian(2, 96, 0))
    with pytest.raises(go.OracleError, match="mode"):
        go.quantize("q4_K", x, mode="fast")
    assert go.quantize("Q4_K", x) == go.quantize("q4_k", x) == go.quantize("q4_K", x)


CLIS = [go.lib_path().parent / name for name in ("ggml_oracle", "ggml_oracle_O3")]


@needs_lib
@pytest.mark.skipif(not all(p.is_file() for p in CLIS), reason="the ggml_oracle CLIs are not beside the library")
@pytest.mark.parametrize("qtype", LEGACY + KQUANTS)
def test_cli_and_its_O3_build_give_the_library_bytes(tmp_path, qtype):
    """The CLI (same -O2 objects) and ggml_oracle_O3 (ggml-quants.c at -O3, vectorised loops) write
    the library's bytes: -ffp-contract=off keeps the optimisation level from changing results."""
    x, w = awkward(4, 1024, 9), positive_imatrix(1024, 10)
    (tmp_path / "x.f32").write_bytes(x.astype("<f4").tobytes())
    (tmp_path / "w.f32").write_bytes(w.astype("<f4").tobytes())
    for cli in CLIS:
        for mode, extra, want in [("ref", [], go.quantize(qtype, x)), ("api", [str(tmp_path / "w.f32")], go.quantize(qtype, x, imatrix=w))]:
            out = tmp_path / f"{cli.name}-{mode}.bin"
            subprocess.run([str(cli), "quantize", qtype, mode, str(tmp_path / "x.f32"), "4", "1024", *extra, str(out)], check=True)
            assert out.read_bytes() == want, (cli.name, mode)
        deq = tmp_path / f"{cli.name}.f32"  # of the api (imatrix) blocks written last
        subprocess.run([str(cli), "dequantize", qtype, str(out), str(x.size), str(deq)], check=True)
        assert deq.read_bytes() == go.dequantize(qtype, want, x.size).tobytes()
