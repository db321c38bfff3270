"""`arrowquant export`: GGUF read back with gguf-py (llama.cpp's own reader) and safetensors read
back with the `safetensors` package, against docs/reference_reader.py and the source model."""
import subprocess

import ml_dtypes
import numpy as np
import pyarrow.parquet as pq
import pytest
from gguf import GGUFReader
from gguf.quants import dequantize as gguf_dequantize
from safetensors.numpy import load_file

from reader_lab import CLI, ROOT, SYNTH, require_tools, rr, run, source_tensors, source_values


def export(*args):
    return subprocess.run(["node", CLI, "export", *map(str, args)], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    require_tools()
    d = tmp_path_factory.mktemp("export")
    run(["node", SYNTH, "--preset", "dream", "--scale", "tiny", "--seed", "3", "-q", "-o", d / "dream",
         "--calibration", d / "dream.calib.safetensors", "--time-groups", "2"], "synth dream")
    run(["node", SYNTH, "--preset", "dit", "--scale", "tiny", "--layout", "diffusers", "--seed", "3", "-q", "-o", d / "dit"], "synth dit")
    for name, model, args in [
        ("q4_0", "dream", ["--method", "q4_0"]),
        ("q8_0", "dream", ["--method", "q8_0"]),
        ("rtn", "dream", ["--method", "rtn", "--bits", "4"]),
        # GGUF formats are planned without smoothing, so the smoothed file is an INT8 one
        ("smoothed", "dream", ["--method", "rtn", "--bits", "8", "--calibration", d / "dream.calib.safetensors"]),
        ("dit", "dit", ["--method", "rtn", "--bits", "4"]),
    ]:
        run(["node", CLI, "quantize", d / model, "-o", d / f"{name}.parquet", "--quiet", *args], f"quantize {name}")
    return d


def codes_of(path, name):
    rows = [r for r in pq.read_table(path, columns=["name", "chunk_index", "codes"]).to_pylist() if r["name"] == name]
    return b"".join(r["codes"] for r in sorted(rows, key=lambda r: r["chunk_index"]))


@pytest.mark.parametrize("scheme", ["q4_0", "q8_0"])
def test_gguf_blocks_are_byte_for_byte_and_read_back_with_gguf_py(models, scheme):
    src, out = models / f"{scheme}.parquet", models / f"{scheme}.gguf"
    r = export(src, "--to", "gguf", "-o", out)
    assert r.returncode == 0, r.stderr
    g = GGUFReader(str(out))
    fields = {k: f for k, f in g.fields.items()}
    assert bytes(fields["general.architecture"].parts[-1]).decode() == "arrowquant"
    assert int(fields["general.alignment"].parts[-1][0]) == 32
    assert [t.name for t in g.tensors] == rr.tensor_names(src)
    types = set()
    for t in g.tensors:
        info = next(x for x in rr.tensors(src) if x["name"] == t.name)
        ours = rr.dequantize(src, t.name)
        assert list(reversed([int(d) for d in t.shape])) == list(info["shape"]) or (info["shape"] == [] and list(t.shape) == [1])
        types.add(t.tensor_type.name)
        if info["scheme"] == scheme:
            assert t.tensor_type.name == scheme.upper()
            assert bytes(np.asarray(t.data).view(np.uint8).tobytes()) == codes_of(src, t.name), t.name
            values = gguf_dequantize(t.data, t.tensor_type).reshape(ours.shape)
        else:  # kept in the source dtype
            assert t.tensor_type.name == info["scheme"][5:], t.name
            values = gguf_dequantize(t.data, t.tensor_type).reshape(ours.shape) if t.tensor_type.name == "BF16" else np.asarray(t.data).reshape(ours.shape)
        assert np.array_equal(values.astype(ours.dtype).view(np.uint8), ours.view(np.uint8)), t.name
    assert scheme.upper() in types


def test_formats_gguf_cannot_hold_are_refused_unless_reencoded(models):
    src = models / "rtn.parquet"
    out = models / "rtn.gguf"
    r = export(src, "--to", "gguf", "-o", out)
    assert r.returncode == 1
    assert "have no GGUF form" in r.stderr and "rtn_int4_g128_asym" in r.stderr and "--reencode" in r.stderr
    assert not out.exists() and not list(models.glob(".rtn.gguf*"))
    for kind, want in (("f16", "F16"), ("q8_0", "Q8_0")):
        r = export(src, "--to", "gguf", "-o", out, "--reencode", kind)
        assert r.returncode == 0, r.stderr
        assert "re-encoded" in r.stderr
        g = GGUFReader(str(out))
        for t in g.tensors:
            info = next(x for x in rr.tensors(src) if x["name"] == t.name)
            if info["method"] == "keep":
                continue
            assert t.tensor_type.name == want
            ours = rr.dequantize(src, t.name)
            got = gguf_dequantize(t.data, t.tensor_type).reshape(ours.shape)
            if want == "F16":
                assert np.array_equal(got, ours.astype(np.float16).astype(np.float32)), t.name
            else:  # Q8_0 of the dequantized values: close, not exact
                assert np.abs(got - ours).max() <= np.abs(ours).max() / 100, t.name


def test_smoothed_tensors_and_pipelines_need_a_decision(models):
    r = export(models / "smoothed.parquet", "--to", "gguf", "-o", models / "s.gguf")
    assert r.returncode == 1 and "W·diag(s)" in r.stderr
    r = export(models / "smoothed.parquet", "--to", "gguf", "-o", models / "s.gguf", "--reencode", "f32")
    assert r.returncode == 0, r.stderr
    assert "time-aware activation parameters" in r.stderr
    g = GGUFReader(str(models / "s.gguf"))
    for t in g.tensors:  # smoothed tensors come out divided back: the reference reader's values
        ours = rr.dequantize(models / "smoothed.parquet", t.name)
        if t.tensor_type.name == "F32":
            assert np.array_equal(np.asarray(t.data).reshape(ours.shape), ours), t.name
    r = export(models / "dit.parquet", "--to", "gguf", "-o", models / "dit.gguf", "--reencode", "f16")
    assert r.returncode == 1 and "choose one with --component" in r.stderr and "transformer" in r.stderr
    r = export(models / "dit.parquet", "--to", "gguf", "-o", models / "dit.gguf", "--reencode", "f16", "--component", "transformer")
    assert r.returncode == 0, r.stderr
    names = [t.name for t in GGUFReader(str(models / "dit.gguf")).tensors]
    assert names == [x["name"] for x in rr.tensors(models / "dit.parquet") if x["component"] == "transformer"]


def test_safetensors_export_is_loadable_and_matches_the_source(models):
    out = models / "dit-dequantized"
    r = export(models / "dit.parquet", "--to", "safetensors", "-o", out)
    assert r.returncode == 0, r.stderr
    src = source_tensors(models / "dit")
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.safetensors"))
    sources = sorted(s["file"] for s in rr.metadata(models / "dit.parquet")["arrowquant.sources"])
    assert written == sources
    seen = 0
    for p in out.rglob("*.safetensors"):
        component = p.parent.name
        loaded = load_file(str(p))
        for name, arr in loaded.items():
            dtype, shape, raw = src[(component, name)]
            assert tuple(arr.shape) == shape, name
            info = next(x for x in rr.tensors(models / "dit.parquet") if x["name"] == name and x["component"] == component)
            if info["method"] == "keep":
                assert arr.tobytes() == raw, f"{name}: kept bytes"
            else:
                ours = rr.dequantize(models / "dit.parquet", f"{component}/{name}")
                target = {"F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16}[dtype]
                assert arr.tobytes() == ours.astype(target).tobytes(), f"{name}: values"
                x = source_values(dtype, raw, shape).astype(np.float64).ravel()
                y = ours.astype(np.float64).ravel()
                assert np.dot(x, y) / np.linalg.norm(x) / np.linalg.norm(y) > 0.9
            seen += 1
    assert seen == len(src)
