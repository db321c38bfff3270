"""docs/reference_reader.py (pyarrow + numpy, written from docs/FORMAT.md) against the TypeScript
reader (dist/common/format/reader.js, whose quantized path is the Rust dequantizer): bit-identical
values for every tensor of files quantized with every scheme, from synthetic DiT (diffusers),
Dream (sharded) and hand-made edge-case models; plus the source bytes, the footer, the file-level
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

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = ROOT / "dist" / "cli" / "main.js"
SYNTH = ROOT / "dist" / "tools" / "synth" / "cli.js"
TS_READER = ROOT / "dist" / "common" / "format" / "reader.js"
DUMP = ROOT / "tests" / "python" / "dump_ts_tensors.mjs"

_spec = importlib.util.spec_from_file_location("reference_reader", ROOT / "docs" / "reference_reader.py")
rr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rr)

TS_DTYPES = {
    "Float32Array": np.float32, "Float64Array": np.float64, "BigInt64Array": np.int64,
    "BigUint64Array": np.uint64, "Int32Array": np.int32, "Uint32Array": np.uint32, "Int16Array": np.int16,
    "Uint16Array": np.uint16, "Int8Array": np.int8, "Uint8Array": np.uint8,
}
# What the Python reader returns for each kept dtype.
KEPT_NUMPY = {
    "F64": np.float64, "F32": np.float32, "F16": np.float32, "BF16": np.float32, "I64": np.int64,
    "U64": np.uint64, "I32": np.int32, "U32": np.uint32, "I16": np.int16, "U16": np.uint16, "I8": np.int8,
    "U8": np.uint8, "BOOL": np.bool_, "F8_E4M3": np.uint8, "F8_E5M2": np.uint8,
}
ST_NUMPY = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "U64": "<u8", "I32": "<i4",
    "U32": "<u4", "I16": "<i2", "U16": "<u2", "I8": "i1", "U8": "u1", "BOOL": "u1", "F8_E4M3": "u1", "F8_E5M2": "u1",
}


# ---------------------------------------------------------------------------------------------
# Tools: node, the CLI, the synthetic models
# ---------------------------------------------------------------------------------------------

def require_tools():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the reference reader is checked against the TypeScript reader, which needs node")
    for p in (CLI, SYNTH, TS_READER):
        if not p.exists():
            pytest.fail(f"{p} is missing: build the project first (npm run build); these tests need dist/")
    return node


def run(cmd, what):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"{what} failed (exit {r.returncode}): {' '.join(map(str, cmd))}\n{r.stderr[-3000:]}\n{r.stdout[-2000:]}")
    return r


def write_safetensors(path: pathlib.Path, tensors: dict[str, tuple[str, tuple, bytes]]):
    header, blobs, off = {}, [], 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path: pathlib.Path) -> dict[str, tuple[str, tuple, bytes]]:
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        out[name] = (e["dtype"], tuple(e["shape"]), data[8 + n + b:8 + n + en])
    return out


def source_tensors(model: pathlib.Path) -> dict[tuple[str | None, str], tuple[str, tuple, bytes]]:
    """(component, name) -> (dtype, shape, raw bytes), parsed from the model's safetensors files."""
    out = {}
    if model.is_file():
        files = [(None, model)]
    elif (model / "model_index.json").exists():
        files = [(p.parent.name, p) for p in sorted(model.glob("*/*.safetensors"))]
    else:
        files = [(None, p) for p in sorted(model.glob("*.safetensors"))]
    for component, p in files:
        for name, v in read_safetensors(p).items():
            out[(component, name)] = v
    return out


def source_values(dtype: str, raw: bytes, shape) -> np.ndarray:
    """Source values the way ArrowQuant's readers widen them (floats to f32, F64 kept)."""
    a = np.frombuffer(raw, dtype=ST_NUMPY[dtype])
    if dtype == "F16":
        a = a.astype(np.float32)
    elif dtype == "BF16":
        a = (a.astype(np.uint32) << 16).view(np.float32)
    elif dtype == "BOOL":
        a = a.astype(np.bool_)
    return a.reshape(shape)


def awkward_rows(rows, cols, seed):
    """Weights with the cases where rounding rules differ, for any shape (conftest.awkward needs 32 | cols)."""
    flat = awkward(1, -(-rows * cols // 32) * 32, seed).reshape(-1)[: rows * cols].copy()
    flat[: min(40, flat.size)] = 0.0  # an all-zero start (a zero group/block)
    if flat.size > 100:
        flat[60:70] = np.float32(1e-41)  # subnormals
    return flat.reshape(rows, cols)


def edge_model(path: pathlib.Path):
    """One safetensors file with the awkward shapes and every dtype safetensors has."""
    rng = np.random.default_rng(11)
    f32 = lambda a: np.asarray(a, dtype="<f4").tobytes()  # noqa: E731
    f16 = lambda a: np.asarray(a, dtype="<f2").tobytes()  # noqa: E731
    bf16 = lambda a: np.asarray(a, dtype=ml_dtypes.bfloat16).tobytes()  # noqa: E731
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-40, 65504.0, 1.0, -2.5], dtype=np.float32)
    t = {
        # 700 rows x 2 KiB: chunk_mib 1 cuts it into 512 + 188 rows (two chunks).
        "layers.0.big.weight": ("F32", (700, 512), f32(awkward_rows(700, 512, 1))),
        "layers.0.bf16.weight": ("BF16", (96, 160), bf16(awkward_rows(96, 160, 2))),
        "layers.0.f16.weight": ("F16", (33, 100), f16(awkward_rows(33, 100, 3))),  # q4_0/q8_0 -> rtn
        "layers.0.conv.weight": ("F32", (64, 16, 3, 3), f32(awkward_rows(1024, 9, 4))),  # rows of 3
        "layers.0.wide.weight": ("F32", (3, 1000), f32(awkward_rows(3, 1000, 5))),  # tail groups everywhere
        "layers.0.tall.weight": ("F16", (2000, 1), f16(rng.standard_normal((2000, 1)))),  # rows of 1
        "layers.0.three_d.weight": ("F32", (4, 16, 40), f32(awkward_rows(64, 40, 6))),
        "layers.0.zero.weight": ("F32", (32, 64), f32(np.zeros((32, 64)))),
        "layers.0.norm.weight": ("F32", (300,), f32(np.concatenate([specials, rng.standard_normal(292)]))),
        "layers.0.norm16.weight": ("F16", (8,), f16(specials)),
        "layers.0.norm_bf16.weight": ("BF16", (8,), bf16(specials)),
        "layers.1.to_f16": ("F32", (64, 40), f32(rng.standard_normal((64, 40)) * 100)),
        "layers.1.to_bf16": ("F32", (50, 30), f32(rng.standard_normal((50, 30)))),
        "layers.1.to_f32": ("F16", (20, 70), f16(rng.standard_normal((20, 70)))),
        "layers.2.tiny.weight": ("F32", (16, 16), f32(rng.standard_normal((16, 16)))),
        "scalar": ("F32", (), f32(3.5)),
        "empty": ("F32", (0, 8), b""),
        "empty_cols": ("F16", (8, 0), b""),
        "empty_1d": ("BF16", (0,), b""),
        "ids": ("I64", (2, 3), np.array([0, -1, 2**62, -(2**63), 5, 6], dtype="<i8").tobytes()),
        "u64": ("U64", (4,), np.array([0, 1, 2**64 - 1, 2**63], dtype="<u8").tobytes()),
        "i32": ("I32", (3, 3), np.arange(-4, 5, dtype="<i4").tobytes()),
        "u32": ("U32", (5,), np.array([0, 1, 2**32 - 1, 7, 9], dtype="<u4").tobytes()),
        "i16": ("I16", (7,), np.array([-32768, -1, 0, 1, 32767, 5, 6], dtype="<i2").tobytes()),
        "u16": ("U16", (2, 2), np.array([0, 65535, 3, 4], dtype="<u2").tobytes()),
        "i8": ("I8", (6,), np.array([-128, -1, 0, 1, 127, 3], dtype="i1").tobytes()),
        "u8": ("U8", (3, 4), np.arange(250, 262, dtype=np.int64).astype(np.uint8).tobytes()),
        "mask": ("BOOL", (5,), bytes([0, 1, 1, 0, 1])),
        "fp8a": ("F8_E4M3", (4,), bytes([0x00, 0x7E, 0x80, 0x7F])),
        "fp8b": ("F8_E5M2", (2, 2), bytes([0x3C, 0x7B, 0xFC, 0x01])),
        "f64": ("F64", (2, 3), np.array([0.1, -0.0, np.nan, np.inf, 1e300, 5e-324], dtype="<f8").tobytes()),
    }
    write_safetensors(path, t)


def big_model(path: pathlib.Path):
    """A 34 MiB kept tensor between two quantized ones: with chunk_mib 1 it is 34 chunks, and the
    writer's 32 MiB row-group budget splits it across row groups 0 and 1."""
    rng = np.random.default_rng(5)
    t = {
        "layers.0.before.weight": ("F32", (64, 256), rng.standard_normal((64, 256)).astype("<f4").tobytes()),
        "layers.0.huge.bias": ("F32", (34 * 262144,), rng.standard_normal(34 * 262144).astype("<f4").tobytes()),
        "layers.0.after.weight": ("F16", (128, 96), rng.standard_normal((128, 96)).astype("<f2").tobytes()),
    }
    write_safetensors(path, t)


EDGE_CONFIG = """\
chunk_mib: 1
preserve:
  'to_f16$': float16
  'to_bf16$': bfloat16
  'to_f32$': float32
"""

MODELS = {
    "dit": lambda d: run(["node", SYNTH, "--preset", "dit", "--scale", "tiny", "--layout", "diffusers", "--seed", "1", "-q", "-o", d], "synth dit"),
    "dream": lambda d: run(["node", SYNTH, "--preset", "dream", "--scale", "tiny", "--layout", "sharded", "--seed", "2", "-q", "-o", d], "synth dream"),
    "edge": lambda d: edge_model(d / "model.safetensors"),
    "big": lambda d: big_model(d / "model.safetensors"),
}


def q(method, bits=None, group=None):
    args = ["--method", method]
    if bits:
        args += ["--bits", str(bits)]
    if group:
        args += ["--group-size", str(group)]
    return args


FALLBACK = ["--min-accuracy", "0.999", "--bits", "2"]
RUNS = {
    "dit-rtn4-g128": ("dit", q("rtn", 4, 128)),
    "dit-rtn2-g32": ("dit", q("rtn", 2, 32)),
    "dit-rtn8-g256": ("dit", q("rtn", 8, 256)),
    "dit-sym4-g32": ("dit", q("rtn_sym", 4, 32)),
    "dit-nf4": ("dit", q("nf4")),
    "dit-fp8_e4m3": ("dit", q("fp8_e4m3")),
    "dit-fp8_e5m2": ("dit", q("fp8_e5m2")),
    "dit-q4_0": ("dit", q("q4_0")),
    "dit-q8_0": ("dit", q("q8_0")),
    "dit-int8_channel": ("dit", q("int8_channel")),
    "dit-fallback": ("dit", FALLBACK + ["--group-size", "32"]),
    # min_accuracy 1: even INT8 fails, so tensors end at the last rung (kept in the source dtype).
    "dit-fallback-keep": ("dit", ["--min-accuracy", "1", "--bits", "2", "--group-size", "64"]),
    "dream-rtn4-g64": ("dream", q("rtn", 4, 64)),
    "dream-sym2-g256": ("dream", q("rtn_sym", 2, 256)),
    "dream-sym8-g128": ("dream", q("rtn_sym", 8, 128)),
    "dream-nf4": ("dream", q("nf4")),
    "dream-q4_0": ("dream", q("q4_0") + ["--mode", "streaming"]),
    "dream-q8_0": ("dream", q("q8_0")),
    "dream-fp8_e5m2": ("dream", q("fp8_e5m2")),
    "dream-int8_channel": ("dream", q("int8_channel")),
    "dream-fallback": ("dream", FALLBACK + ["--group-size", "256"]),
    "edge-rtn4-g128": ("edge", q("rtn", 4, 128)),
    "edge-rtn2-g32": ("edge", q("rtn", 2, 32)),
    "edge-rtn8-g256": ("edge", q("rtn", 8, 256)),
    "edge-sym2-g64": ("edge", q("rtn_sym", 2, 64)),
    "edge-sym4-g256": ("edge", q("rtn_sym", 4, 256)),
    "edge-sym8-g32": ("edge", q("rtn_sym", 8, 32)),
    "edge-nf4": ("edge", q("nf4")),
    "edge-fp8_e4m3": ("edge", q("fp8_e4m3")),
    "edge-fp8_e5m2": ("edge", q("fp8_e5m2")),
    "edge-q4_0": ("edge", q("q4_0")),
    "edge-q8_0": ("edge", q("q8_0")),
    "edge-int8_channel": ("edge", q("int8_channel")),
    "edge-fallback": ("edge", FALLBACK),
    "big-rtn4": ("big", q("rtn", 4, 128)),
}
CONFIGS = {"edge": EDGE_CONFIG, "big": "chunk_mib: 1\n"}


class Lab:
    """Models, quantized files and TS dumps, each made once per session on first use."""

    def __init__(self, root: pathlib.Path):
        require_tools()
        self.root = root
        self._models: dict[str, pathlib.Path] = {}
        self._runs: dict[str, pathlib.Path] = {}
        self._dumps: dict[str, tuple[pathlib.Path, dict]] = {}

    def model(self, name) -> pathlib.Path:
        if name not in self._models:
            d = self.root / "models" / name
            d.mkdir(parents=True)
            MODELS[name](d)
            self._models[name] = d if name in ("dit", "dream") else d / "model.safetensors"
        return self._models[name]

    def quantize(self, model_name, args, out: pathlib.Path) -> pathlib.Path:
        cmd = ["node", CLI, "quantize", self.model(model_name), "-o", out, *args]
        if model_name in CONFIGS:
            cfg = self.root / f"{model_name}.yaml"
            cfg.write_text(CONFIGS[model_name])
            cmd += ["--config", cfg]
        run(cmd, f"quantize {out.name}")
        return out

    def file(self, run_id) -> pathlib.Path:
        if run_id not in self._runs:
            model_name, args = RUNS[run_id]
            self._runs[run_id] = self.quantize(model_name, args, self.root / f"{run_id}.parquet")
        return self._runs[run_id]

    def dump(self, run_id, path=None) -> tuple[pathlib.Path, dict]:
        if run_id not in self._dumps:
            out = self.root / f"{run_id}.ts"
            run(["node", DUMP, path or self.file(run_id), out], f"TS dump of {run_id}")
            self._dumps[run_id] = (out, json.loads((out / "index.json").read_text()))
        return self._dumps[run_id]

    def ts_values(self, run_id, entry) -> np.ndarray:
        out, _ = self.dump(run_id)
        a = np.fromfile(out / entry["file"], dtype=TS_DTYPES[entry["dtype"]])
        assert a.size == entry["elements"]
        return a.reshape(entry["shape"])


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    return Lab(tmp_path_factory.mktemp("reference_reader"))


# ---------------------------------------------------------------------------------------------
# Comparison helpers
# ---------------------------------------------------------------------------------------------

def first_difference(py: np.ndarray, ts: np.ndarray) -> int | None:
    """Flat index of the first element whose bits differ (two NaNs of any payload are equal)."""
    a, b = py.reshape(-1), ts.reshape(-1)
    if a.dtype.kind == "f":
        u = {4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
        diff = (a.view(u) != b.view(u)) & ~(np.isnan(a) & np.isnan(b))
    else:
        diff = a.view(np.uint8 if a.dtype == np.bool_ else a.dtype) != b
    idx = np.flatnonzero(diff)
    return int(idx[0]) if idx.size else None


def assert_bit_equal(py: np.ndarray, ts: np.ndarray, ctx: str):
    assert py.shape == ts.shape, f"{ctx}: shape {py.shape} (Python) != {ts.shape} (TS)"
    i = first_difference(py, ts)
    if i is not None:
        a, b = py.reshape(-1)[i], ts.reshape(-1)[i]
        bits = lambda v: hex(int(np.asarray(v).view({4: np.uint32, 8: np.uint64, 2: np.uint16, 1: np.uint8}[np.asarray(v).dtype.itemsize])))  # noqa: E731
        where = np.unravel_index(i, py.shape) if py.ndim else ()
        pytest.fail(f"{ctx}: first differing element {i} (index {tuple(int(x) for x in where)}): "
                    f"Python {a!r} ({bits(a)}) vs TS {b!r} ({bits(b)})")


def cosine(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x.astype(np.float64).reshape(-1), y.astype(np.float64).reshape(-1)
    nx, ny = np.sqrt((x * x).sum()), np.sqrt((y * y).sum())
    if nx == 0 or ny == 0:
        return 1.0 if nx == ny else 0.0
    return float((x * y).sum() / (nx * ny))


def file_rows(path, columns=None):
    return pq.read_table(path, columns=columns).to_pylist()


def min_cosine_for(bits: int) -> float:
    return {2: 0.5, 4: 0.9, 8: 0.99}[bits]


# ---------------------------------------------------------------------------------------------
# Python reader == TypeScript reader
# ---------------------------------------------------------------------------------------------

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
            assert c > min_cosine_for(t["bits"]), f"{ctx}: cosine {c}"
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
    assert required <= seen, f"not covered: {sorted(required - seen)}"


# ---------------------------------------------------------------------------------------------
# Crafted files: every scheme (also the fp8 *_channel ones the CLI cannot choose), random codes
# ---------------------------------------------------------------------------------------------

def layout_sizes(scheme, rows, cols):
    """(code bytes, scales, zeros) of `rows` rows, per FORMAT.md."""
    m = rr._RTN.match(scheme)
    if m:
        bits, g, sym = int(m.group(1)), int(m.group(2)), m.group(3) == "sym"
        groups = -(-cols // g)
        rc = (cols // g) * (g * bits // 8) + -(-(cols % g) * bits // 8)
        return rows * rc, rows * groups, 0 if sym else rows * groups
    return {
        "int8_channel": (rows * cols, rows, 0),
        "nf4": (rows * ((cols // 64) * 32 + -(-(cols % 64) // 2)), rows * -(-cols // 64), 0),
        "fp8_e4m3": (rows * cols, 1, 0), "fp8_e5m2": (rows * cols, 1, 0),
        "fp8_e4m3_channel": (rows * cols, rows, 0), "fp8_e5m2_channel": (rows * cols, rows, 0),
        "q8_0": (rows * cols // 32 * 34, 0, 0), "q4_0": (rows * cols // 32 * 18, 0, 0),
    }[scheme]


def crafted_file(path, template, rng):
    schemes = [f"rtn_int{b}_g{g}_{s}" for b in (2, 4, 8) for g in (32, 64, 128, 256) for s in ("asym", "sym")]
    schemes += ["int8_channel", "nf4", "fp8_e4m3", "fp8_e4m3_channel", "fp8_e5m2", "fp8_e5m2_channel", "q8_0", "q4_0"]
    special = np.array([0.0, -0.0, 1e-42, 1e-38, 3.4e38, 1.0, 0.5, -7.25], dtype=np.float32)
    rows_out = []
    for ti, scheme in enumerate(schemes):
        shape = [7, 96] if scheme.startswith("q") else [7, 2, 83]  # 83: short tail groups/blocks
        rows, cols = shape[0], math.prod(shape[1:])  # the 2-D view: first dimension, the rest
        for ci, (r0, n) in enumerate([(0, rows // 2), (rows // 2, rows - rows // 2)]):  # two chunks
            nc, ns, nz = layout_sizes(scheme, n, cols)
            codes = rng.integers(0, 256, nc, dtype=np.uint8)
            if scheme in ("q8_0", "q4_0"):
                d = rng.integers(0, 65536, nc // (34 if scheme == "q8_0" else 18), dtype=np.uint16)
                d[::7] = np.float16(0.0123).view(np.uint16)
                blk = codes.reshape(d.size, -1)
                blk[:, :2] = d.astype("<u2").view(np.uint8).reshape(-1, 2)
            scales = np.abs(rng.standard_normal(ns)).astype(np.float32) * np.float32(0.01)
            scales[: min(ns, special.size)] = special[: min(ns, special.size)]
            rows_out.append({
                "tensor_index": ti, "name": f"crafted.{scheme}", "component": None, "shape": shape,
                "source_dtype": "F32", "chunk_index": ci, "chunk_count": 2, "row_start": r0, "row_count": n,
                "method": "crafted", "scheme": scheme, "bits": 8, "group_size": 0, "requested_bits": 8,
                "codes": codes.tobytes(), "scales": scales.astype("<f4").tobytes(),
                "zeros": rng.integers(0, 256, nz, dtype=np.uint8).tobytes(),
                "quality": {k: 0 for k in ("elements", "cosine", "rel_mse", "sqnr_db", "max_abs_err", "sum_xx", "sum_yy", "sum_xy", "sum_ee")},
                "fallbacks": [], "channel_scales": None, "time_groups": None,
            })
    schema = pq.read_schema(template).with_metadata({b"arrowquant.format_version": b"1"})
    pq.write_table(pa.Table.from_pylist(rows_out, schema=schema), path, compression="none", use_dictionary=False)
    return schemes


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


# ---------------------------------------------------------------------------------------------
# The file: rules, footer, fallbacks, row groups, determinism
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("run_id", ["dit-nf4", "dream-fallback", "edge-fp8_e4m3", "big-rtn4"])
def test_file_level_rules(lab, run_id):
    path = lab.file(run_id)
    pf = pq.ParquetFile(path)
    md = pf.metadata
    assert md.created_by == "arrowquant format 1"
    assert pf.schema_arrow.names == rr.REQUIRED_COLUMNS[:14] + ["codes", "scales", "zeros", "quality", "fallbacks", "channel_scales", "time_groups"]
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
        assert r["channel_scales"] is None and r["time_groups"] is None
        next_row += r["row_count"]
        if r["chunk_index"] + 1 == r["chunk_count"]:
            shape = r["shape"]
            rows_2d = math.prod(shape) if len(shape) <= 1 else (shape[0] if math.prod(shape) else 0)
            assert next_row == rows_2d
            expect_t, expect_c, next_row = expect_t + 1, 0, 0
        else:
            expect_c += 1
    # Row groups: each closes once its payload reaches 32 MiB.
    payload = [0] * md.num_row_groups
    for rg in range(md.num_row_groups):
        t = pf.read_row_group(rg, columns=["codes", "scales", "zeros"])
        payload[rg] = sum(sum(len(v) for v in t.column(c).to_pylist()) for c in ("codes", "scales", "zeros"))
    assert all(p >= 32 << 20 for p in payload[:-1])
    if run_id == "big-rtn4":
        assert md.num_row_groups == 2


def test_footer_metadata(lab):
    path = lab.file("dit-q4_0")
    meta = rr.metadata(path)
    assert meta["arrowquant.format_version"] == "1"
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
    assert index["metadata"]["arrowquant.format_version"] == "1"
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
    assert by_name["layers.0.huge.bias"]["row_groups"] == [0, 1]
    assert by_name["layers.0.after.weight"]["row_groups"] == [1]
    calls = []
    original = pq.ParquetFile.read_row_group

    def spy(self, i, columns=None, **kw):
        calls.append((i, tuple(columns or ())))
        return original(self, i, columns=columns, **kw)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    for name, groups in [("layers.0.after.weight", {1}), ("layers.0.before.weight", {0}), ("layers.0.huge.bias", {0, 1})]:
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
    v2 = tmp_path / "v2.parquet"
    pq.write_table(table.replace_schema_metadata({**meta, b"arrowquant.format_version": b"2"}), v2)
    with pytest.raises(rr.NotArrowQuantError, match="format version '2' is not supported"):
        rr.tensor_names(v2)
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
