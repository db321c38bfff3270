"""The `layer_output` column (docs/FORMAT.md, Quality) read with pyarrow and checked with numpy
against the calibration file's Hessians, and files written before the column existed (the same
file with the column dropped) still read in docs/reference_reader.py and the CLI."""
import json
import subprocess

import numpy as np
import pyarrow.parquet as pq
import pytest
from safetensors.numpy import load_file

from reader_lab import CLI, ROOT, SYNTH, require_tools, rr, run, source_tensors, source_values


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    require_tools()
    d = tmp_path_factory.mktemp("layer-output")
    run(["node", SYNTH, "--preset", "dream", "--scale", "tiny", "--seed", "4", "-q", "-o", d / "dream",
         "--calibration", d / "calib.safetensors"], "synth dream")
    run(["node", CLI, "quantize", d / "dream", "-o", d / "q.parquet", "--method", "q4_0", "--calibration",
         d / "calib.safetensors", "--min-accuracy", "0", "--quiet"], "quantize")
    return d


def test_the_sums_are_the_layer_outputs_of_what_the_reader_decodes(calibrated):
    d = calibrated
    h_all = load_file(str(d / "calib.safetensors"))
    src = source_tensors(d / "dream")
    rows = pq.read_table(d / "q.parquet", columns=["name", "chunk_index", "row_start", "row_count", "layer_output"]).to_pylist()
    checked = 0
    for t in rr.tensors(d / "q.parquet"):
        h = h_all.get(t["name"].removesuffix(".weight") + ".hessian")
        if t["method"] == "keep" or h is None:
            assert t["layer_output"] is None and t["accuracy"]["basis"] == "weight", t["name"]
            continue
        dtype, shape, raw = src[(None, t["name"])]
        w = source_values(dtype, raw, shape).astype(np.float64).reshape(shape[0], -1)
        wq = rr.dequantize(d / "q.parquet", t["name"]).astype(np.float64).reshape(w.shape)
        stride = max(1, shape[0] // 256)
        picked = [c["row_start"] + k for c in rows if c["name"] == t["name"] for k in range(0, c["row_count"], stride)]
        ws, es = w[picked], (w - wq)[picked]
        hd = h.astype(np.float64)
        ww, we, ee = ((ws @ hd) * ws).sum(), ((ws @ hd) * es).sum(), ((es @ hd) * es).sum()
        lo = t["layer_output"]
        assert lo["rows"] == len(picked), t["name"]
        for got, want in ((lo["sum_ww"], ww), (lo["sum_we"], we), (lo["sum_ee"], ee)):
            assert abs(got - want) <= 1e-4 * abs(ww), (t["name"], got, want)
        direct = (ww - we) / np.sqrt(ww * (ww - 2 * we + ee))
        assert abs((1 - lo["cosine"]) / (1 - direct) - 1) < 1e-3, (t["name"], lo["cosine"], direct)
        wc = t["quality"]["cosine"]
        assert t["accuracy"] == ({"basis": "layer_output", "cosine": lo["cosine"]} if lo["cosine"] <= wc else {"basis": "weight", "cosine": wc})
        checked += 1
    assert checked >= 10


def test_a_file_without_the_column_reads_as_unmeasured(calibrated, tmp_path):
    d = calibrated
    pf = pq.ParquetFile(d / "q.parquet")
    table = pf.read().drop_columns(["layer_output"])
    old = tmp_path / "old.parquet"
    meta = {k: v for k, v in pf.metadata.metadata.items() if not k.startswith(b"ARROW:")}
    codec = pf.metadata.row_group(0).column(0).compression  # the codecs our reader is built with
    pq.write_table(table.replace_schema_metadata(meta), old, compression="none" if codec == "UNCOMPRESSED" else codec.lower())
    assert "layer_output" not in pq.ParquetFile(old).schema_arrow.names
    for t in rr.tensors(old):
        assert t["layer_output"] is None and t["accuracy"]["basis"] == "weight"
    name = next(t["name"] for t in rr.tensors(d / "q.parquet") if t["layer_output"])
    assert np.array_equal(rr.dequantize(old, name), rr.dequantize(d / "q.parquet", name))
    r = subprocess.run(["node", str(CLI), "inspect", str(old), "--json"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tensors = json.loads(r.stdout)["tensors"]
    assert all("layerOutput" not in t and t["accuracy"]["basis"] == "weight" for t in tensors)
    new = json.loads(subprocess.run(["node", str(CLI), "inspect", str(d / "q.parquet"), "--json"], cwd=ROOT, capture_output=True, text=True).stdout)
    assert any(t.get("layerOutput") for t in new["tensors"]) and new["totals"]["measured"] > 0
