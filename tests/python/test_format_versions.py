"""Format version 3 (a Parquet format 2 file with data pages V2) read by three independent
readers, and files of version 2 (tests/fixtures/format-v2, written before) still read, with the
tensors a version-3 file of the same model holds."""
import json
import pathlib
import struct
import subprocess
import sys

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs"))
import reference_reader as rr  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "format-v2"
CLI = ROOT / "dist" / "cli" / "main.js"
RUNS = {"q4_k": ["--method", "q4_k"], "rtn4": ["--method", "rtn", "--bits", "4"]}


@pytest.fixture(scope="module")
def v3(tmp_path_factory):
    out = tmp_path_factory.mktemp("v3")
    files = {}
    for name, flags in RUNS.items():
        f = out / f"{name}.v3.parquet"
        subprocess.run(["node", str(CLI), "quantize", str(FIXTURES / "model.safetensors"), "-o", str(f), *flags, "--min-accuracy", "0", "-q"], check=True)
        files[name] = f
    return files


def first_page_type(path: pathlib.Path) -> int:
    """The page type of the first column chunk's first page (Parquet's PageHeader, thrift compact
    protocol: field 1 is the type, an i32 zigzag varint; 0 = DATA_PAGE, 3 = DATA_PAGE_V2)."""
    col = pq.ParquetFile(path).metadata.row_group(0).column(0)
    with open(path, "rb") as fh:
        fh.seek(col.data_page_offset)
        head = fh.read(16)
    assert head[0] == 0x15, f"{path}: page header does not start with field 1 (i32): {head[:4].hex()}"
    v, shift, i = 0, 0, 1
    while True:
        b = head[i]
        v |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            break
        shift += 7
    return (v >> 1) ^ -(v & 1)


@pytest.mark.parametrize("name", RUNS)
def test_version_3_is_a_parquet_2_file_with_v2_data_pages(v3, name):
    f = v3[name]
    meta = pq.ParquetFile(f).metadata
    assert meta.format_version == "2.6"
    assert meta.metadata[b"arrowquant.format_version"] == b"3"
    assert first_page_type(f) == 3  # DATA_PAGE_V2
    assert first_page_type(FIXTURES / f"{name}.v2.parquet") == 0  # the old files: DATA_PAGE
    # Deterministic: the same run twice gives the same bytes.
    again = f.with_name(f"{name}.again.parquet")
    subprocess.run(["node", str(CLI), "quantize", str(FIXTURES / "model.safetensors"), "-o", str(again), *RUNS[name], "--min-accuracy", "0", "-q"], check=True)
    assert again.read_bytes() == f.read_bytes()


@pytest.mark.parametrize("name", RUNS)
def test_duckdb_pyarrow_and_the_reference_reader_read_the_same_rows(v3, name):
    f = v3[name]
    table = pq.read_table(f)
    con = duckdb.connect()
    rows = con.execute(f"select name, chunk_index, scheme, codes, scales, zeros from read_parquet('{f}') order by tensor_index, chunk_index").fetchall()
    assert len(rows) == table.num_rows
    by_arrow = {(r["name"], r["chunk_index"]): r for r in table.select(["name", "chunk_index", "scheme", "codes", "scales", "zeros"]).to_pylist()}
    for name_, chunk, scheme, codes, scales, zeros in rows:
        a = by_arrow[(name_, chunk)]
        assert (scheme, bytes(codes), bytes(scales), bytes(zeros)) == (a["scheme"], a["codes"], a["scales"], a["zeros"])
    assert rr.metadata(f)["arrowquant.format_version"] == "3"
    for t in rr.tensor_names(f):
        assert np.isfinite(rr.dequantize(f, t)).all()


@pytest.mark.parametrize("name", RUNS)
def test_version_2_files_still_read_and_hold_what_version_3_holds(v3, name):
    old, new = FIXTURES / f"{name}.v2.parquet", v3[name]
    assert rr.metadata(old)["arrowquant.format_version"] == "2"
    assert rr.tensor_names(old) == rr.tensor_names(new)
    for t in rr.tensor_names(old):
        np.testing.assert_array_equal(rr.dequantize(old, t), rr.dequantize(new, t), err_msg=t)
    # The TypeScript reader (native, parquet-rs) opens both too, with the same tensors.
    inspect = lambda f: json.loads(subprocess.run(["node", str(CLI), "inspect", "--json", str(f)], check=True, capture_output=True, text=True).stdout)
    a, b = inspect(old), inspect(new)
    assert a["metadata"]["arrowquant.format_version"] == "2" and b["metadata"]["arrowquant.format_version"] == "3"
    strip = lambda t: {k: v for k, v in t.items() if k not in ("quality",)}
    assert [strip(t) for t in a["tensors"]] == [strip(t) for t in b["tensors"]]


def test_the_fixture_model_is_what_the_readme_says():
    raw = (FIXTURES / "model.safetensors").read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    assert {k: v["shape"] for k, v in header.items()} == {
        "blocks.0.attn.to_q.weight": [32, 256],
        "blocks.0.norm.weight": [256],
        "blocks.0.ff.net.2.weight": [16, 512],
    }
