"""docs/reference_reader.py (pyarrow + numpy, written from docs/FORMAT.md) against the TypeScript
reader (dist/common/format/reader.js, whose quantized path is the Rust dequantizer): bit-identical
values for every tensor of files quantized with every scheme, from synthetic DiT (diffusers),
Dream (sharded) and hand-made edge-case models (one with rows of whole 256-element super-blocks,
for the GGUF K-quants); plus the source bytes, the footer, the file-level
rules and the reader's errors.

Needs node and a built dist/ (npm run build): missing either is a failure, never a skip.
"""
from __future__ import annotations

import importlib.util
import json
import math
import pathlib
import shutil
import struct
import subprocess

import ml_dtypes
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import awkward
from reader_lab import (
    CLI,
    DUMP,
    KEPT_NUMPY,
    RUNS,
    TS_DTYPES,
    assert_bit_equal,
    cosine,
    crafted_file,
    file_rows,
    min_cosine_for,
    rr,
    run,
    source_tensors,
    source_values,
)


@pytest.mark.parametrize("run_id", list(RUNS))
def test_python_reader_equals_typescript_reader(lab, run_id):
    path = lab.file(run_id)
    _, index = lab.dump(run_id)
    ts_tensors = index["tensors"]
    assert rr.tensor_names(path) == [t["name"] for t in ts_tensors]
    assert [t["tensor_index"] for t in rr.tensors(path)] == list(range(len(ts_tensors)))
    for entry in ts_tensors:
        py = rr.dequantize(path, entry["name"])
        ts = lab.ts_values(run_id, entry)
        ctx = f"{run_id}: {entry['name']} ({entry['scheme']}, source {entry['sourceDtype']})"
        assert py.shape == tuple(entry["shape"]), ctx
        if entry["scheme"].startswith("keep_"):
            want = KEPT_NUMPY[entry["scheme"][5:]]
        else:
            want = np.float32
        assert py.dtype == want, f"{ctx}: Python returned {py.dtype}, expected {np.dtype(want)}"
        assert_bit_equal(py, ts, ctx)
        qualified = entry["name"] if entry["component"] is None else f"{entry['component']}/{entry['name']}"
        check_layer_columns(path, qualified, entry, ctx)


def check_layer_columns(path, name, entry, ctx):
    """Smoothing factors and time-group lookups: the same from both readers."""
    s = rr.channel_scales(path, name)
    if entry["channelScales"] is None:
        assert s is None, ctx
    else:
        assert_bit_equal(s, np.array(entry["channelScales"], dtype=np.float32), f"{ctx}: channel scales")
    for t, scale, zero in entry["activation"]:
        assert rr.activation_params(path, name, t) == (scale, zero), f"{ctx}: timestep {t}"
    if not entry["activation"]:
        assert rr.activation_params(path, name, 0) is None, ctx


@pytest.mark.parametrize("run_id", list(RUNS))
def test_values_match_the_source(lab, run_id):
    """Bit-exact kept tensors equal the source bytes; converted ones equal numpy's rounding;
    quantized ones are close, and the file's quality figures describe the reconstruction."""
    path = lab.file(run_id)
    model_name, _ = RUNS[run_id]
    src = source_tensors(lab.model(model_name))
    info = rr.tensors(path)
    rows_by_tensor = {}
    for r in file_rows(path, ["tensor_index", "codes", "chunk_index"]):
        rows_by_tensor.setdefault(r["tensor_index"], []).append(r)
    assert len(info) == len(src)
    for t in info:
        dtype, shape, raw = src[(t["component"], t["name"])]
        ctx = f"{run_id}: {t['name']} ({t['scheme']})"
        assert t["source_dtype"] == dtype and tuple(t["shape"]) == shape, ctx
        y = rr.dequantize(path, t["name"] if t["component"] is None else f"{t['component']}/{t['name']}")
        x = source_values(dtype, raw, shape)
        codes = b"".join(r["codes"] for r in sorted(rows_by_tensor[t["tensor_index"]], key=lambda r: r["chunk_index"]))
        qual = t["quality"]
        assert qual["elements"] == math.prod(shape), ctx
        if t["scheme"] == f"keep_{dtype}":
            assert codes == raw, f"{ctx}: kept bytes differ from the source"
            assert_bit_equal(y, x, ctx)
            assert qual["sum_xx"] == qual["sum_ee"] == 0 and qual["cosine"] == 1, ctx
        elif t["scheme"].startswith("keep_"):  # a preserve rule converted it
            target = t["scheme"][5:]
            xf = x.astype(np.float32)
            expected = {"F16": xf.astype("<f2"), "BF16": xf.astype(ml_dtypes.bfloat16), "F32": xf.astype("<f4")}[target]
            assert codes == expected.tobytes(), f"{ctx}: converted bytes differ from numpy's rounding"
            assert cosine(y, x) > 0.999 and abs(qual["cosine"] - cosine(y, x)) < 1e-6, ctx
        else:
            c = cosine(y, x)
            # With a Hessian the gate judged the layer-output cosine: a weight cosine far below it
            # is fine where the inputs carry no energy (an RGB conv_in's 27 columns).
            # Where the gate judged it, the promise is min_accuracy (fallbacks went up to more bits).
            if t["layer_output"]:
                floor = rr.metadata(path)["arrowquant.config"]["min_accuracy"]
                assert t["accuracy"]["cosine"] >= floor, f"{ctx}: layer-output cosine {t['accuracy']['cosine']} < {floor}"
            else:
                assert c > min_cosine_for(t["bits"], t["method"]), f"{ctx}: cosine {c}"
            assert abs(qual["cosine"] - c) < 1e-4, f"{ctx}: file says cosine {qual['cosine']}, reconstruction has {c}"
            err = np.abs(y.astype(np.float64) - x.astype(np.float64)).max() if x.size else 0.0
            assert math.isclose(qual["max_abs_err"], err, rel_tol=1e-5, abs_tol=1e-12), f"{ctx}: max_abs_err"


def test_every_scheme_is_covered(lab):
    seen = set()
    for run_id in RUNS:
        seen |= {r["scheme"] for r in file_rows(lab.file(run_id), ["scheme"])}
    required = {"nf4", "fp8_e4m3", "fp8_e5m2", "q4_0", "q8_0", "int8_channel"}
    required |= {f"rtn_int{b}_g{g}_{s}" for b, g, s in [
        (2, 32, "asym"), (4, 128, "asym"), (8, 256, "asym"), (4, 64, "asym"),
        (2, 64, "sym"), (4, 32, "sym"), (8, 32, "sym"), (2, 256, "sym"), (4, 256, "sym"), (8, 128, "sym")]}
    required |= {f"keep_{d}" for d in KEPT_NUMPY}
    required |= {"hqq_int4_g128", "hqq_int2_g64", "hqq_int8_g32", "r2q_g64", "r2q_g256", "r2q_g128"}
    required |= {"q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"}
    assert required <= seen, f"not covered: {sorted(required - seen)}"


# ---------------------------------------------------------------------------------------------
# Crafted files: every scheme (also the fp8 *_channel ones the CLI cannot choose), random codes
# ---------------------------------------------------------------------------------------------

def test_crafted_random_codes_every_scheme(lab, tmp_path):
    """Random codes, zero-points and scales (zeros, subnormals, huge, random f16 `d` incl. NaN/Inf
    patterns) in a file written with pyarrow: the decoders agree bit for bit on every input, not
    only on what the quantizer happens to produce."""
    path = tmp_path / "crafted.parquet"
    schemes = crafted_file(path, lab.file("dit-rtn4-g128"), np.random.default_rng(3))
    out = tmp_path / "crafted.ts"
    run(["node", DUMP, path, out], "TS dump of the crafted file")
    index = json.loads((out / "index.json").read_text())
    assert [t["scheme"] for t in index["tensors"]] == schemes
    for entry in index["tensors"]:
        ts = np.fromfile(out / entry["file"], dtype=TS_DTYPES[entry["dtype"]]).reshape(entry["shape"])
        assert_bit_equal(rr.dequantize(path, entry["name"]), ts, f"crafted {entry['scheme']}")
        check_layer_columns(path, entry["name"], entry, f"crafted {entry['scheme']}")
    assert sum(e["channelScales"] is not None for e in index["tensors"]) >= 10


# ---------------------------------------------------------------------------------------------
# The file: rules, footer, fallbacks, row groups, determinism
# ---------------------------------------------------------------------------------------------


def test_the_reader_decodes_every_family_of_the_registry():
    """docs/formats.json is generated from the kernels' registry (a Rust test keeps it current);
    a family the reader cannot decode is a drift this catches before any file has one."""
    assert set(rr.DECODERS) == set(rr.FAMILIES), f"no decoder for {set(rr.FAMILIES) - set(rr.DECODERS)}; unused {set(rr.DECODERS) - set(rr.FAMILIES)}"
    for f in rr.FAMILIES.values():
        assert rr.parse_scheme(f["name_pattern"]) is None or "{" not in f["name_pattern"]
