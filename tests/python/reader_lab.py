"""Shared by the reference-reader tests: the models and quantize runs (`Lab`), safetensors
read/write, bit-exact comparison and crafted-file helpers."""
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


def ggml_model(path: pathlib.Path):
    """Only rows of whole GGUF super-blocks (multiples of 256), so every GGUF format quantizes
    every quantizable tensor itself (no other scheme stands in for rows that do not fit)."""
    f32 = lambda a: np.asarray(a, dtype="<f4").tobytes()  # noqa: E731
    t = {
        # 600 rows x 2 KiB: chunk_mib 1 cuts it into 512 + 88 rows (two chunks).
        "layers.0.big.weight": ("F32", (600, 512), f32(awkward_rows(600, 512, 7))),
        "layers.0.f16.weight": ("F16", (40, 256), np.asarray(awkward_rows(40, 256, 8), dtype="<f2").tobytes()),
        "layers.0.bf16.weight": ("BF16", (24, 768), np.asarray(awkward_rows(24, 768, 9), dtype=ml_dtypes.bfloat16).tobytes()),
        "layers.0.conv.weight": ("F32", (16, 32, 2, 4), f32(awkward_rows(16, 256, 10))),  # rows of 32·2·4 = 256
        "layers.0.zero.weight": ("F32", (8, 256), f32(np.zeros((8, 256)))),
        "layers.0.norm.weight": ("F32", (256,), f32(np.linspace(-1, 1, 256))),  # 1-D: kept
    }
    write_safetensors(path, t)


def big_model(path: pathlib.Path):
    """A 3 MiB kept tensor between two quantized ones: with chunk_mib 1 it is 3 chunks of 1 MiB,
    and the writer's 1 MiB row-group budget closes a row group after each (the first shares
    row group 0 with the tensor before it)."""
    rng = np.random.default_rng(5)
    t = {
        "layers.0.before.weight": ("F32", (64, 256), rng.standard_normal((64, 256)).astype("<f4").tobytes()),
        "layers.0.huge.bias": ("F32", (3 * 262144,), rng.standard_normal(3 * 262144).astype("<f4").tobytes()),
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
    # With synthetic calibration (docs/CALIBRATION.md) beside it: GPTQ, smoothing, time groups.
    "ditcal": lambda d: run(["node", SYNTH, "--preset", "dit", "--scale", "tiny", "--layout", "diffusers", "--seed", "4", "-q", "-o", d,
                             "--calibration", d.parent / "ditcal.calib.safetensors", "--time-groups", "5"], "synth dit + calibration"),
    "edge": lambda d: edge_model(d / "model.safetensors"),
    "ggml": lambda d: ggml_model(d / "model.safetensors"),
    "big": lambda d: big_model(d / "model.safetensors"),
}


def q(method, bits=None, group=None):
    # The lab covers every scheme's decoding: the seeds' 0.85 keeps the 2-bit schemes in the files
    # (the local profile's 0.97 sends them to 4 bits) and still mixes in fallback rungs.
    args = ["--method", method, "--min-accuracy", "0.85"]
    if bits:
        args += ["--bits", str(bits)]
    if group:
        args += ["--group-size", str(group)]
    return args


FALLBACK = ["--method", "rtn", "--min-accuracy", "0.999", "--bits", "2"]
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
    "dit-fallback-keep": ("dit", ["--method", "rtn", "--min-accuracy", "1", "--bits", "2", "--group-size", "64"]),
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
    "dit-hqq4-g128": ("dit", q("hqq", 4, 128)),
    "dream-hqq2-g64": ("dream", q("hqq", 2, 64)),
    "dream-r2q-g64": ("dream", q("r2q", None, 64)),
    "edge-hqq8-g32": ("edge", q("hqq", 8, 32)),
    "edge-r2q-g256": ("edge", q("r2q", None, 256)),
    # The GGUF formats beyond q4_0/q8_0: each on the all-256 model, and two on the edge model
    # (rows that do not fit get the RTN stand-in the planner chooses).
    **{f"ggml-{m}": ("ggml", q(m)) for m in ("q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k")},
    "edge-q4_k": ("edge", q("q4_k")),
    "edge-q4_1": ("edge", q("q4_1")),
    # Calibrated: "{calib}" is the model's calibration file. Smoothing and time groups are on
    # (local profile); fallbacks (min_accuracy 0.85) mix in gptq INT4/INT8 rungs.
    "ditcal-gptq4-g64": ("ditcal", q("gptq", 4, 64) + ["--calibration", "{calib}"]),
    "ditcal-gptq2-g32": ("ditcal", q("gptq", 2, 32) + ["--calibration", "{calib}"]),
    "ditcal-r2q-g128": ("ditcal", q("r2q", None, 128) + ["--calibration", "{calib}"]),
    "ditcal-hqq2-g64": ("ditcal", q("hqq", 2, 64) + ["--calibration", "{calib}"]),
    "ditcal-auto": ("ditcal", q("auto") + ["--calibration", "{calib}"]),
}
CONFIGS = {"edge": EDGE_CONFIG, "big": "chunk_mib: 1\n", "ggml": "chunk_mib: 1\n"}


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
            self._models[name] = d if name in ("dit", "dream", "ditcal") else d / "model.safetensors"
        return self._models[name]

    def quantize(self, model_name, args, out: pathlib.Path) -> pathlib.Path:
        model = self.model(model_name)
        calib = str(self.root / "models" / f"{model_name}.calib.safetensors")
        cmd = ["node", CLI, "quantize", model, "-o", out, *[calib if a == "{calib}" else a for a in args]]
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


def min_cosine_for(bits: int, method: str = "rtn") -> float:
    # GPTQ trades weight error for layer-output error: its weight cosine may sit just above
    # min_accuracy (0.85 in these runs) where RTN's would be higher.
    return {2: 0.5, 3: 0.8, 4: 0.85 if method == "gptq" else 0.9, 5: 0.95, 6: 0.97, 8: 0.99}[bits]


# ---------------------------------------------------------------------------------------------
# Python reader == TypeScript reader
# ---------------------------------------------------------------------------------------------

# GGUF block formats, per FORMAT.md's "Sizes per row": (elements, bytes) of a block.
GGUF_BLOCKS = {
    "q8_0": (32, 34), "q4_0": (32, 18), "q4_1": (32, 20), "q5_0": (32, 22), "q5_1": (32, 24),
    "q2_k": (256, 84), "q3_k": (256, 110), "q4_k": (256, 144), "q5_k": (256, 176), "q6_k": (256, 210),
}
# GGUF block formats: byte offsets of each block's float16 fields (d, and m/dmin where the format
# has one), per FORMAT.md's block layouts.
GGUF_F16_FIELDS = {
    "q8_0": (0,), "q4_0": (0,), "q4_1": (0, 2), "q5_0": (0,), "q5_1": (0, 2),
    "q2_k": (80, 82), "q3_k": (108,), "q4_k": (0, 2), "q5_k": (0, 2), "q6_k": (208,),
}


def layout_sizes(scheme, rows, cols):
    """(code bytes, scales, zeros) of `rows` rows, per FORMAT.md (written independently of the
    reader's decoders: a second reading of the same page)."""
    family, p = rr.parse_scheme(scheme)
    name = family["family"]
    if name in ("rtn", "hqq", "r2q"):
        bits, g = p.get("bits", 2), p["group"]
        groups = -(-cols // g)
        rc = (cols // g) * (g * bits // 8) + -(-(cols % g) * bits // 8)
        if name == "rtn":
            return rows * rc, rows * groups, 0 if p["symmetric"] else rows * groups
        return rows * rc, rows * 2 * groups, 0  # HQQ and R2Q: two f32 per group, no zero-points
    if name in GGUF_BLOCKS:  # GGUF blocks: everything inside the blocks, whole blocks per row
        elements, nbytes = GGUF_BLOCKS[name]
        assert (family["blocking"]["elements"], family["blocking"]["bytes"]) == (elements, nbytes), name
        assert cols % elements == 0, f"{scheme}: a row of {cols} is not whole blocks of {elements}"
        return rows * (cols // elements) * nbytes, 0, 0
    return {
        "int8_channel": (rows * cols, rows, 0),
        "nf4": (rows * ((cols // 64) * 32 + -(-(cols % 64) // 2)), rows * -(-cols // 64), 0),
        "fp8": (rows * cols, 1, 0),
        "fp8_channel": (rows * cols, rows, 0),
    }[name]


def all_schemes():
    """Every canonical name the registry (docs/formats.json) allows."""
    out = []
    for f in rr.FAMILIES.values():
        if f["blocking"]["kind"] == "groups":
            sym = ["asym", "sym"] if f["family"] == "rtn" else [None]
            for b in f["bits"]:
                for g in f["blocking"]["sizes"]:
                    for s in sym:
                        out.append(f["name_pattern"].replace("{bits}", str(b)).replace("{group}", str(g)).replace("{sym|asym}", s or ""))
        elif f["family"].startswith("fp8"):
            out += [f["name_pattern"].replace("{e4m3|e5m2}", k) for k in ("e4m3", "e5m2")]
        else:
            out.append(f["name_pattern"])
    for name in out:
        assert rr.parse_scheme(name) is not None, name
    return out


def crafted_file(path, template, rng):
    schemes = all_schemes()
    special = np.array([0.0, -0.0, 1e-42, 1e-38, 3.4e38, 1.0, 0.5, -7.25], dtype=np.float32)
    rows_out = []
    for ti, scheme in enumerate(schemes):
        family, _ = rr.parse_scheme(scheme)
        multiple = family["row_multiple"]  # GGUF blocks: whole blocks per row (32 or 256)
        # 83: short tail groups/blocks; block formats: at least 96 columns and two blocks per row.
        shape = [7, 2, 83] if multiple == 1 else [7, -(-max(96, 2 * multiple) // multiple) * multiple]
        rows, cols = shape[0], math.prod(shape[1:])  # the 2-D view: first dimension, the rest
        # Every third tensor smoothed (factors incl. subnormal and huge) and with time groups.
        smoothing = groups = None
        if ti % 3 == 1:
            s = np.exp(rng.standard_normal(cols) * 2).astype(np.float32)
            s[:4] = np.array([1e-40, 3e38, 1.0, 0.3], dtype=np.float32)
            smoothing = s.astype("<f4").tobytes()
            groups = [{"t_start": 0, "t_end": 400, "scale": 0.031, "zero_point": 128.0},
                      {"t_start": 400, "t_end": 1000, "scale": 0.07, "zero_point": 3.0}]
        for ci, (r0, n) in enumerate([(0, rows // 2), (rows // 2, rows - rows // 2)]):  # two chunks
            nc, ns, nz = layout_sizes(scheme, n, cols)
            codes = rng.integers(0, 256, nc, dtype=np.uint8)
            if scheme in GGUF_F16_FIELDS:  # random f16 fields (incl. Inf/NaN), every 7th block a plain one
                blk = codes.reshape(nc // family["blocking"]["bytes"], -1)
                for off in GGUF_F16_FIELDS[scheme]:
                    d = rng.integers(0, 65536, blk.shape[0], dtype=np.uint16)
                    d[::7] = np.float16(0.0123).view(np.uint16)
                    blk[:, off:off + 2] = d.astype("<u2").view(np.uint8).reshape(-1, 2)
            scales = np.abs(rng.standard_normal(ns)).astype(np.float32) * np.float32(0.01)
            if scheme.startswith("hqq"):  # (scale, zero) pairs: zero-points anywhere, not only in [0, qmax]
                scales[1::2] = (rng.standard_normal(ns // 2) * 8).astype(np.float32)
            scales[: min(ns, special.size)] = special[: min(ns, special.size)]
            rows_out.append(crafted_row(ti, f"crafted.{scheme}", scheme, shape, (ci, 2, r0, n), codes.tobytes(),
                                        scales.astype("<f4").tobytes(), rng.integers(0, 256, nz, dtype=np.uint8).tobytes(),
                                        smoothing, groups))
    write_crafted(path, template, rows_out)
    return schemes


def crafted_row(tensor_index, name, scheme, shape, chunk, codes: bytes, scales: bytes = b"", zeros: bytes = b"",
                channel_scales=None, time_groups=None) -> dict:
    """One row of a hand-made file; `chunk` = (chunk_index, chunk_count, row_start, row_count)."""
    ci, count, r0, n = chunk
    return {
        "tensor_index": tensor_index, "name": name, "component": None, "shape": shape,
        "source_dtype": "F32", "chunk_index": ci, "chunk_count": count, "row_start": r0, "row_count": n,
        "method": "crafted", "scheme": scheme, "bits": 8, "group_size": 0, "requested_bits": 8,
        "codes": codes, "scales": scales, "zeros": zeros,
        "quality": {k: 0 for k in ("elements", "cosine", "rel_mse", "sqnr_db", "max_abs_err", "sum_xx", "sum_yy", "sum_xy", "sum_ee")},
        "fallbacks": [], "channel_scales": channel_scales, "time_groups": time_groups,
    }


def write_crafted(path, template, rows: list[dict]):
    """Write `rows` with the schema of `template` (a file the CLI wrote), as format version 2."""
    schema = pq.read_schema(template).with_metadata({b"arrowquant.format_version": b"2"})
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression="none", use_dictionary=False)


