"""docs/reference_reader.py on whole files: row-group layout and file-level rules, footer
metadata, fallback records, partial reads, determinism, qualified names, errors and its
command line (the models and runs come from reader_lab.Lab, shared with test_reference_reader.py).
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
    ROOT,
    assert_bit_equal,
    cosine,
    file_rows,
    q,
    rr,
    run,
)


@pytest.mark.parametrize("run_id", ["dit-nf4", "dream-fallback", "edge-fp8_e4m3", "big-rtn4"])
def test_file_level_rules(lab, run_id):
    path = lab.file(run_id)
    pf = pq.ParquetFile(path)
    md = pf.metadata
    assert md.created_by == "arrowquant format 3"
    assert md.format_version == "2.6"
    assert pf.schema_arrow.names == rr.REQUIRED_COLUMNS[:14] + ["codes", "scales", "zeros", "quality", "fallbacks", "channel_scales", "time_groups", "layer_output"]
    for rg in range(md.num_row_groups):
        for c in range(md.row_group(rg).num_columns):
            col = md.row_group(rg).column(c)
            assert col.compression == "UNCOMPRESSED" and not col.is_stats_set and not col.has_dictionary_page, col.path_in_schema
    rows = file_rows(path, ["tensor_index", "chunk_index", "chunk_count", "row_start", "row_count", "shape",
                            "channel_scales", "time_groups", "fallbacks"])
    expect_t, expect_c, next_row = 0, 0, 0
    for r in rows:
        assert (r["tensor_index"], r["chunk_index"]) == (expect_t, expect_c)
        assert r["row_start"] == next_row
        assert r["channel_scales"] is None and r["time_groups"] is None  # no calibration in these runs
        next_row += r["row_count"]
        if r["chunk_index"] + 1 == r["chunk_count"]:
            shape = r["shape"]
            rows_2d = math.prod(shape) if len(shape) <= 1 else (shape[0] if math.prod(shape) else 0)
            assert next_row == rows_2d
            expect_t, expect_c, next_row = expect_t + 1, 0, 0
        else:
            expect_c += 1
    # Row groups: each closes once its payload reaches 1 MiB.
    payload = [0] * md.num_row_groups
    for rg in range(md.num_row_groups):
        t = pf.read_row_group(rg, columns=["codes", "scales", "zeros"])
        payload[rg] = sum(sum(len(v) for v in t.column(c).to_pylist()) for c in ("codes", "scales", "zeros"))
    assert all(p >= 1 << 20 for p in payload[:-1])
    if run_id == "big-rtn4":
        assert md.num_row_groups == 4


def test_footer_metadata(lab):
    path = lab.file("dit-q4_0")
    meta = rr.metadata(path)
    assert meta["arrowquant.format_version"] == "3"
    cfg = meta["arrowquant.config"]
    assert cfg["method"] == "q4_0" and "num_threads" not in cfg and "enable_streaming" not in cfg
    assert meta["arrowquant.modality"] == "image" and meta["arrowquant.modality_reason"]
    model = lab.model("dit")
    sources = meta["arrowquant.sources"]
    assert [s["file"] for s in sources] == ["text_encoder/model.safetensors", "transformer/diffusion_pytorch_model.safetensors",
                                            "vae/diffusion_pytorch_model.safetensors"]
    for s in sources:
        assert s["bytes"] == (model / s["file"]).stat().st_size
        assert len(s["blake3"]) == 64 and int(s["blake3"], 16) >= 0
    summary = meta["arrowquant.summary"]
    info = rr.tensors(path)
    assert summary["tensors"] == len(info)
    assert summary["kept"] == sum(t["method"] == "keep" for t in info)
    assert summary["quantized"] == summary["tensors"] - summary["kept"]
    # The TS reader sees the same footer.
    _, index = lab.dump("dit-q4_0")
    assert index["metadata"]["arrowquant.format_version"] == "3"
    assert json.loads(index["metadata"]["arrowquant.config"]) == cfg


@pytest.mark.parametrize("run_id, threshold", [("dit-fallback", 0.999), ("dream-fallback", 0.999), ("dit-fallback-keep", 1.0)])
def test_fallback_records(lab, run_id, threshold):
    path = lab.file(run_id)
    info = rr.tensors(path)
    assert any(t["fallbacks"] for t in info), f"min_accuracy {threshold} at 2 bits should make tensors fall back"
    if threshold == 1.0:
        assert any(t["method"] == "keep" and t["fallbacks"] for t in info), "no tensor reached the last rung"
    for t in info:
        steps = t["fallbacks"]
        if t["method"] == "keep" and not steps:
            continue  # kept by a rule: requested_bits are the source dtype's
        assert t["requested_bits"] == 2, t["name"]
        if not steps:
            assert t["bits"] == 2 and t["quality"]["cosine"] >= threshold
            continue
        for a, b in zip(steps, steps[1:]):
            assert a["to_scheme"] == b["from_scheme"] and a["to_bits"] == b["from_bits"]
        assert steps[0]["from_bits"] == 2 and steps[-1]["to_scheme"] == t["scheme"] and steps[-1]["to_bits"] == t["bits"]
        assert all(s["cosine"] < s["threshold"] == threshold for s in steps)
        if t["method"] == "keep":
            assert t["scheme"] == f"keep_{t['source_dtype']}" and [s["from_bits"] for s in steps] == [2, 4, 8]
        else:
            assert t["quality"]["cosine"] >= threshold
    # The list is the same on every chunk row of a tensor.
    per_tensor = {}
    for r in file_rows(path, ["tensor_index", "fallbacks"]):
        assert per_tensor.setdefault(r["tensor_index"], r["fallbacks"]) == r["fallbacks"]


def test_reads_only_the_row_groups_of_the_tensor(lab, monkeypatch):
    path = lab.file("big-rtn4")
    by_name = {t["name"]: t for t in rr.tensors(path)}
    assert by_name["layers.0.before.weight"]["row_groups"] == [0]
    assert by_name["layers.0.huge.bias"]["row_groups"] == [0, 1, 2]
    assert by_name["layers.0.after.weight"]["row_groups"] == [3]
    calls = []
    original = pq.ParquetFile.read_row_group

    def spy(self, i, columns=None, **kw):
        calls.append((i, tuple(columns or ())))
        return original(self, i, columns=columns, **kw)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    for name, groups in [("layers.0.after.weight", {3}), ("layers.0.before.weight", {0}), ("layers.0.huge.bias", {0, 1, 2})]:
        calls.clear()
        rr.dequantize(path, name)
        assert {i for i, cols in calls if "codes" in cols} == groups, name
        assert all("codes" not in cols for i, cols in calls if i not in groups)


def test_output_is_deterministic(lab):
    a = lab.quantize("dream", q("rtn", 4, 64) + ["--mode", "streaming", "--threads", "1"], lab.root / "det-a.parquet")
    b = lab.quantize("dream", q("rtn", 4, 64) + ["--mode", "threaded", "--threads", "2"], lab.root / "det-b.parquet")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() == lab.file("dream-rtn4-g64").read_bytes()


# ---------------------------------------------------------------------------------------------
# Names and errors
# ---------------------------------------------------------------------------------------------

def test_qualified_names_and_ambiguity(lab, tmp_path):
    """Two pipeline components with the same tensor names (as SDXL's text_encoder and
    text_encoder_2 have): bare names are ambiguous, "component/name" is not."""
    src = lab.model("dit")
    model = tmp_path / "pipe"
    shutil.copytree(src, model)
    shutil.copytree(src / "text_encoder", model / "text_encoder_2")
    index = json.loads((src / "model_index.json").read_text())
    index["text_encoder_2"] = ["transformers", "CLIPTextModelWithProjection"]
    (model / "model_index.json").write_text(json.dumps(index))
    out = tmp_path / "pipe.parquet"
    run(["node", CLI, "quantize", model, "-o", out, "--method", "rtn"], "quantize the two-encoder pipeline")
    names = rr.tensor_names(out)
    qualified = rr.tensor_names(out, qualified=True)
    assert len(set(qualified)) == len(qualified) and len(set(names)) < len(names)
    dup = "text_model.encoder.layers.0.self_attn.q_proj.weight"
    with pytest.raises(rr.UnknownTensorError, match="ambiguous"):
        rr.dequantize(out, dup)
    a = rr.dequantize(out, f"text_encoder/{dup}")
    b = rr.dequantize(out, f"text_encoder_2/{dup}")
    assert_bit_equal(a, b, "same weights in both components")


def test_unknown_tensor_name(lab):
    with pytest.raises(rr.UnknownTensorError, match="no tensor named 'no.such.tensor'"):
        rr.dequantize(lab.file("dit-nf4"), "no.such.tensor")


def test_not_an_arrowquant_file(tmp_path):
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), plain)
    for fn in (rr.tensor_names, lambda p: rr.dequantize(p, "a")):
        with pytest.raises(rr.NotArrowQuantError, match="arrowquant.format_version"):
            fn(plain)
    text = tmp_path / "text.parquet"
    text.write_text("not parquet at all")
    with pytest.raises(rr.NotArrowQuantError, match="not readable as Parquet"):
        rr.tensor_names(text)


def test_wrong_format_version_and_unknown_scheme(lab, tmp_path):
    table = pq.read_table(lab.file("dit-rtn4-g128"))
    # The footer keys live in the Parquet key-value metadata, not in the embedded Arrow schema.
    assert table.schema.metadata is None or b"arrowquant.format_version" not in table.schema.metadata
    meta = dict(pq.ParquetFile(lab.file("dit-rtn4-g128")).metadata.metadata)
    meta.pop(b"ARROW:schema")
    v3 = tmp_path / "v3.parquet"
    pq.write_table(table.replace_schema_metadata({**meta, b"arrowquant.format_version": b"4"}), v3)
    with pytest.raises(rr.NotArrowQuantError, match="format version '4' is not supported"):
        rr.tensor_names(v3)
    # Version 1 files (no hqq/r2q, no smoothing or time groups) are still read.
    v1 = tmp_path / "v1.parquet"
    pq.write_table(table.replace_schema_metadata({**meta, b"arrowquant.format_version": b"1"}), v1)
    assert rr.tensor_names(v1) == rr.tensor_names(lab.file("dit-rtn4-g128"))
    # A scheme from a future version.
    i = table.schema.get_field_index("scheme")
    schemes = table.column("scheme").to_pylist()
    target = next(k for k, s in enumerate(schemes) if s.startswith("rtn_"))
    schemes[target] = "rtn_int3_g128_asym"
    odd = tmp_path / "odd.parquet"
    odd_table = table.set_column(i, table.schema.field(i), pa.array(schemes, pa.string()))
    pq.write_table(odd_table.replace_schema_metadata(meta), odd)
    name = table.column("name")[target].as_py()
    with pytest.raises(rr.UnknownSchemeError, match="unknown scheme 'rtn_int3_g128_asym'"):
        rr.dequantize(odd, name)


def test_command_line(lab):
    import sys
    path = lab.file("dit-nf4")
    r = run([sys.executable, ROOT / "docs" / "reference_reader.py", path], "reference_reader.py FILE")
    assert "transformer/transformer_blocks.0.attn.to_q.weight" in r.stdout
    r = run([sys.executable, ROOT / "docs" / "reference_reader.py", path, "transformer_blocks.0.attn.to_q.weight"], "reference_reader.py FILE NAME")
    assert "shape [144, 144], float32, scheme nf4" in r.stdout
    bad = subprocess.run([sys.executable, ROOT / "docs" / "reference_reader.py", path, "nope"], capture_output=True, text=True)
    assert bad.returncode == 1 and "no tensor named 'nope'" in bad.stderr
