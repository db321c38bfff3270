"""`arrowquant quantize --method q*_k|q*_0|q*_1` end to end against ggml's own C code: every
tensor's codes in the Parquet file equal what ggml's quantize_<type> writes for the same values,
without and with an importance matrix (written by gguf-py as llama-imatrix writes it, and in the
legacy .dat format); rows that do not split into blocks take llama.cpp's fallback types (or are
kept); and `export --to gguf` writes a file gguf-py reads back with the same types and bytes.

Needs dist/ (npm run build) and ggml's oracle (scripts/setup-ggml.sh); skipped only without the
oracle.
"""
from __future__ import annotations

import struct

import ml_dtypes
import numpy as np
import pyarrow.parquet as pq
import pytest

import ggml_oracle as go
from reader_lab import CLI, awkward_rows, require_tools, run, source_values, write_safetensors

GGML_NAME = {"q2_k": "q2_K", "q3_k": "q3_K", "q4_k": "q4_K", "q5_k": "q5_K", "q6_k": "q6_K",
             "q4_0": "q4_0", "q4_1": "q4_1", "q5_0": "q5_0", "q5_1": "q5_1", "q8_0": "q8_0"}


@pytest.fixture(scope="module")
def oracle():
    try:
        go.load()
    except go.OracleUnavailable as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Matrices of whole super-blocks in f32/f16/bf16, one of 96 columns (K types fall back to a
    32-block type), one of 1000 (no GGUF block fits: kept), and a norm."""
    d = tmp_path_factory.mktemp("gguf-e2e")
    t = {
        "blk.0.attn_q.weight": ("F32", (48, 512), awkward_rows(48, 512, 1).astype("<f4").tobytes()),
        "blk.0.ffn_down.weight": ("F16", (32, 768), awkward_rows(32, 768, 2).astype("<f2").tobytes()),
        "blk.0.attn_v.weight": ("BF16", (40, 256), awkward_rows(40, 256, 3).astype(ml_dtypes.bfloat16).tobytes()),
        "blk.0.odd.weight": ("F32", (64, 96), awkward_rows(64, 96, 4).astype("<f4").tobytes()),
        "blk.0.ragged.weight": ("F32", (48, 1000), awkward_rows(48, 1000, 5).astype("<f4").tobytes()),
        "blk.0.norm.weight": ("F32", (512,), np.linspace(0.5, 1.5, 512, dtype="<f4").tobytes()),
    }
    write_safetensors(d / "model.safetensors", t)
    rng = np.random.default_rng(9)
    importance = {name: (rng.random(shape[-1] if len(shape) == 2 else 96) * 3 + 0.01).astype(np.float32)
                  for name, (_, shape, _) in t.items() if len(shape) == 2}
    importance["blk.0.attn_q.weight"][::17] = 0.0  # columns that never fire
    return d, t, importance


def write_imatrix_gguf(path, importance, counts=7.0):
    """What llama-imatrix writes: general.type imatrix, <name>.in_sum2 (raw sums) and <name>.counts."""
    import gguf
    w = gguf.GGUFWriter(str(path), arch="imatrix")
    w.add_string("general.type", "imatrix")
    w.add_array("imatrix.datasets", ["calibration.txt"])
    w.add_uint32("imatrix.chunk_count", 3)
    w.add_uint32("imatrix.chunk_size", 512)
    for name, v in importance.items():
        w.add_tensor(f"{name}.in_sum2", (v * np.float32(counts)).reshape(1, -1).astype(np.float32))
        w.add_tensor(f"{name}.counts", np.array([[counts]], dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_imatrix_dat(path, importance, ncall=4):
    """The legacy format: values stored as mean * ncall."""
    with open(path, "wb") as f:
        f.write(struct.pack("<i", len(importance)))
        for name, v in sorted(importance.items()):
            f.write(struct.pack("<i", len(name)) + name.encode())
            f.write(struct.pack("<ii", ncall, v.size))
            f.write((v * np.float32(ncall)).astype("<f4").tobytes())
        f.write(struct.pack("<i", 3) + struct.pack("<i", 8) + b"data.txt")


def tensor_codes(parquet, name):
    rows = [r for r in pq.read_table(parquet, columns=["name", "chunk_index", "scheme", "codes"]).to_pylist() if r["name"] == name]
    rows.sort(key=lambda r: r["chunk_index"])
    return rows[0]["scheme"], b"".join(r["codes"] for r in rows)


def quantize(d, out, *args):
    require_tools()
    run(["node", CLI, "quantize", d, "-o", out, "--min-accuracy", "0", *args], f"quantize {' '.join(map(str, args))}")


@pytest.mark.parametrize("method", ["q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0"])
@pytest.mark.parametrize("imatrix", [None, "gguf", "dat"])
def test_cli_codes_equal_ggml(oracle, model, tmp_path, method, imatrix):
    d, tensors, importance = model
    args = ["--method", method]
    if imatrix == "gguf":
        write_imatrix_gguf(tmp_path / "m.imatrix.gguf", importance)
        args += ["--imatrix", tmp_path / "m.imatrix.gguf"]
    elif imatrix == "dat":
        write_imatrix_dat(tmp_path / "m.imatrix.dat", importance)
        args += ["--imatrix", tmp_path / "m.imatrix.dat"]
    out = tmp_path / "out.parquet"
    quantize(d, out, *args)
    fallback = {"q2_k": "q4_0", "q3_k": "q4_0", "q4_k": "q5_0", "q5_k": "q5_1", "q6_k": "q8_0"}
    for name, (dtype, shape, raw) in tensors.items():
        if len(shape) != 2:
            continue
        scheme, codes = tensor_codes(out, name)
        cols = shape[1]
        expected = method if cols % (256 if method.endswith("_k") else 32) == 0 else fallback.get(method)
        if cols % 32 != 0:
            expected = None
        if expected is None:
            assert scheme.startswith("keep_"), f"{name}: {scheme}, expected kept"
            continue
        assert scheme == expected, f"{name}: {scheme}, expected {expected}"
        x = source_values(dtype, raw, shape).astype(np.float32)
        # What llama-quantize hands ggml: the file's sums divided by its counts (or ncall), in f32.
        imp = None
        if imatrix == "gguf":
            imp = (importance[name] * np.float32(7.0)) / np.float32(7.0)
        elif imatrix == "dat":
            imp = (importance[name] * np.float32(4)) / np.float32(4)
        want = go.quantize(GGML_NAME[expected], x, imatrix=imp)
        assert codes == want, f"{method} imatrix={imatrix}: {name} ({expected}) differs from ggml at byte {next(i for i, (a, b) in enumerate(zip(codes, want)) if a != b)}"


def test_importance_changes_the_k_quant_bytes_and_both_imatrix_formats_agree(oracle, model, tmp_path):
    d, _, importance = model
    write_imatrix_gguf(tmp_path / "a.gguf", importance)
    write_imatrix_dat(tmp_path / "a.dat", importance)
    quantize(d, tmp_path / "plain.parquet", "--method", "q4_k")
    quantize(d, tmp_path / "g.parquet", "--method", "q4_k", "--imatrix", tmp_path / "a.gguf")
    quantize(d, tmp_path / "d.parquet", "--method", "q4_k", "--imatrix", tmp_path / "a.dat")
    name = "blk.0.attn_q.weight"
    assert tensor_codes(tmp_path / "g.parquet", name) == tensor_codes(tmp_path / "d.parquet", name)
    assert tensor_codes(tmp_path / "g.parquet", name) != tensor_codes(tmp_path / "plain.parquet", name)


def test_an_imatrix_of_another_model_is_refused(model, tmp_path):
    d, _, _ = model
    write_imatrix_gguf(tmp_path / "other.gguf", {"blk.9.attn_k.weight": np.ones(4096, np.float32)})
    require_tools()
    import subprocess
    r = subprocess.run(["node", CLI, "quantize", d, "-o", tmp_path / "x.parquet", "--method", "q4_k", "--imatrix", tmp_path / "other.gguf"],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "another model" in r.stderr and "other.gguf" in r.stderr, r.stderr
    assert not (tmp_path / "x.parquet").exists()
    # Right names, wrong width: named too.
    write_imatrix_gguf(tmp_path / "narrow.gguf", {"blk.0.attn_q.weight": np.ones(100, np.float32)})
    r = subprocess.run(["node", CLI, "quantize", d, "-o", tmp_path / "x.parquet", "--method", "q4_k", "--imatrix", tmp_path / "narrow.gguf"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "blk.0.attn_q.weight" in r.stderr and "512" in r.stderr, r.stderr


def test_gguf_export_of_every_format_reads_back_in_gguf_py(oracle, model, tmp_path):
    import gguf
    d, tensors, _ = model
    for method in ["q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q4_1", "q5_0", "q5_1"]:
        out = tmp_path / f"{method}.parquet"
        quantize(d, out, "--method", method)
        g = tmp_path / f"{method}.gguf"
        run(["node", CLI, "export", out, "--to", "gguf", "-o", g], f"export {method}")
        r = gguf.GGUFReader(str(g))
        by_name = {t.name: t for t in r.tensors}
        for name, (dtype, shape, raw) in tensors.items():
            if len(shape) != 2:
                continue
            scheme, codes = tensor_codes(out, name)
            t = by_name[name]
            if scheme.startswith("keep_"):
                assert t.tensor_type.name == dtype.upper().replace("BF16", "BF16"), f"{name}: {t.tensor_type.name}"
                continue
            assert t.tensor_type.name == scheme.upper(), f"{method}: {name} is {t.tensor_type.name} in the GGUF, {scheme} in the file"
            assert bytes(t.data.tobytes()) == codes, f"{method}: {name} bytes differ"
            deq = gguf.quants.dequantize(t.data, t.tensor_type).reshape(shape)
            ours = go.dequantize(GGML_NAME[scheme], codes, shape[0] * shape[1]).reshape(shape)
            assert np.array_equal(deq.view(np.uint32), ours.view(np.uint32)), f"{method}: {name} gguf-py dequantizes differently"
