"""docs/reference_reader.py's GGUF block decoders against llama.cpp's own dequantizers, for every
GGUF format of the registry (q4_0, q4_1, q5_0, q5_1, q8_0, q2_k … q6_k):

- gguf-py (llama.cpp's numpy port, in the venv): bit-identical float32;
- ggml's C `dequantize_row_*` (tests/python/ggml_oracle.py): bit-identical float32; skipped only
  when scripts/setup-ggml.sh has not built the oracle;
- the TypeScript reader (whose decoding is the Rust dequantizer), on a file holding the same
  blocks: bit-identical (needs node and a built dist/, like test_reference_reader.py).

Blocks: random bytes with finite f16 fields (every other bit pattern is a valid block), edge
blocks (all-zero/all-one payloads, f16 fields at ±0, subnormals, ±1, ±65504), and random bytes with
any f16 (Inf and NaN included: NaN where the others have NaN, every other bit equal)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from gguf import GGMLQuantizationType
from gguf.quants import dequantize as gguf_dequantize

import ggml_oracle as go
from reader_lab import DUMP, GGUF_BLOCKS, GGUF_F16_FIELDS, TS_DTYPES, crafted_row, first_difference, rr, run, write_crafted

FAMILIES = [f for f in rr.FAMILIES.values() if f["gguf"] is not None]
NAMES = [f["family"] for f in FAMILIES]
NEW = {"q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"}

needs_oracle = pytest.mark.skipif(
    not go.available(),
    reason=f"ggml oracle not built ({go.lib_path()} missing): run scripts/setup-ggml.sh, or set GGML_ORACLE_LIB",
)

# f16 bit patterns for the edge blocks: ±0, smallest and largest subnormal, smallest normal, ±1,
# ±65504 (the largest finite), 0.0123.
EDGE_F16 = [0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, np.float16(0.0123).view(np.uint16)]
EDGE_PAYLOAD = [0x00, 0xFF, 0xAA, 0x55, 0x0F, 0xF0]


def finite_f16(rng, n) -> np.ndarray:
    """n random f16 bit patterns, none Inf or NaN (an all-ones exponent loses its top bit)."""
    bits = rng.integers(0, 65536, n, dtype=np.uint16)
    bits[(bits & 0x7C00) == 0x7C00] ^= 0x4000
    return bits


def set_f16(blk: np.ndarray, offset: int, bits: np.ndarray):
    blk[:, offset:offset + 2] = np.asarray(bits, dtype="<u2").view(np.uint8).reshape(-1, 2)


def random_blocks(name, n, rng, finite=True) -> np.ndarray:
    """(n, block bytes) uint8: random payload; f16 fields random (finite unless `finite` is False),
    every third block a plausible scale (|N(0, 1)| · 0.01, either sign)."""
    _, nbytes = GGUF_BLOCKS[name]
    blk = rng.integers(0, 256, (n, nbytes), dtype=np.uint8)
    for off in GGUF_F16_FIELDS[name]:
        bits = finite_f16(rng, n) if finite else rng.integers(0, 65536, n, dtype=np.uint16)
        bits[::3] = (rng.standard_normal(bits[::3].size) * 0.01).astype(np.float16).view(np.uint16)
        set_f16(blk, off, bits)
    return blk


def edge_blocks(name, rng) -> np.ndarray:
    """Every payload pattern (and one random payload) with every f16 value in every f16 field
    (pairs of values where the block has two)."""
    _, nbytes = GGUF_BLOCKS[name]
    fields = GGUF_F16_FIELDS[name]
    values = np.array(EDGE_F16, dtype=np.uint16)
    combos = np.array(np.meshgrid(*[values] * len(fields), indexing="ij")).reshape(len(fields), -1).T
    out = []
    for payload in EDGE_PAYLOAD + [None]:
        blk = (np.full((len(combos), nbytes), payload, dtype=np.uint8) if payload is not None
               else rng.integers(0, 256, (len(combos), nbytes), dtype=np.uint8))
        for k, off in enumerate(fields):
            set_f16(blk, off, combos[:, k])
        out.append(blk)
    return np.concatenate(out)


def reference(name, blk) -> np.ndarray:
    """docs/reference_reader.py: one block per row."""
    elements, _ = GGUF_BLOCKS[name]
    y = rr.decode_chunk(name, blk.shape[0], elements, blk.tobytes(), b"", b"", ctx=name)
    assert y.dtype == np.float32 and y.shape == (blk.shape[0], elements)
    return y


def gguf_py(name, blk) -> np.ndarray:
    family = rr.FAMILIES[name]
    with np.errstate(all="ignore"):
        y = gguf_dequantize(blk, GGMLQuantizationType[family["gguf"]["name"]])
    assert y.dtype == np.float32, f"gguf-py returned {y.dtype}"
    return y.reshape(blk.shape[0], -1)


def oracle(name, blk) -> np.ndarray:
    elements, _ = GGUF_BLOCKS[name]
    qtype = rr.FAMILIES[name]["gguf"]["name"].lower().replace("_k", "_K")  # ggml's type names
    return go.dequantize(qtype, blk.tobytes(), blk.size // GGUF_BLOCKS[name][1] * elements).reshape(blk.shape[0], -1)


def assert_same_bits(name, blk, ours, theirs, who, finite=True, us="reference reader"):
    """Bit-identical; with `finite` no NaN may appear at all (two NaNs are equal otherwise)."""
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape} vs {theirs.shape} ({who})"
    if finite:
        assert not np.isnan(theirs).any(), f"{name}: {who} returned NaN for finite blocks"
    i = first_difference(ours, theirs)
    if i is not None:
        b, j = divmod(i, ours.shape[1])
        pytest.fail(f"{name}: block {b} element {j}: {us} {ours[b, j]!r} "
                    f"({int(ours[b, j:j + 1].view(np.uint32)[0]):#010x}) vs {who} {theirs[b, j]!r} "
                    f"({int(theirs[b, j:j + 1].view(np.uint32)[0]):#010x}); block bytes {blk[b].tobytes().hex()}")


def block_sets(name):
    """(label, blocks, finite) for one format."""
    rng = np.random.default_rng(sum(map(ord, name)))
    n = 2000 if GGUF_BLOCKS[name][0] == 32 else 400
    return [
        ("random", random_blocks(name, n, rng), True),
        ("edge", edge_blocks(name, rng), True),
        ("non-finite", random_blocks(name, n // 4, rng, finite=False), False),
    ]


def test_every_new_format_is_here():
    assert NEW <= set(NAMES), f"missing GGUF formats: {sorted(NEW - set(NAMES))}"
    assert set(NAMES) == set(GGUF_BLOCKS) == set(GGUF_F16_FIELDS)
    for f in FAMILIES:
        assert (f["blocking"]["elements"], f["blocking"]["bytes"]) == GGUF_BLOCKS[f["family"]]


@pytest.mark.parametrize("name", NAMES)
def test_wrong_sizes_are_refused(name):
    """A chunk whose codes are not whole blocks, or which has scales or zeros, or whose rows are
    not whole blocks, is a CorruptFileError naming the scheme's need."""
    elements, nbytes = GGUF_BLOCKS[name]
    blk = random_blocks(name, 2, np.random.default_rng(0)).tobytes()
    assert rr.decode_chunk(name, 2, elements, blk, b"", b"").shape == (2, elements)
    for codes, scales, zeros in [(blk[:-1], b"", b""), (blk + blk[:nbytes], b"", b""), (blk, b"\0" * 4, b""), (blk, b"", b"\0")]:
        with pytest.raises(rr.CorruptFileError, match="the scheme's layout needs"):
            rr.decode_chunk(name, 2, elements, codes, scales, zeros, ctx=name)
    with pytest.raises(rr.CorruptFileError, match=f"divisible by {elements}"):
        rr.decode_chunk(name, 1, elements + 16, blk, b"", b"", ctx=name)


@pytest.mark.parametrize("name", NAMES)
def test_reference_reader_equals_gguf_py(name):
    for label, blk, finite in block_sets(name):
        assert_same_bits(name, blk, reference(name, blk), gguf_py(name, blk), f"gguf-py ({label})", finite)


@needs_oracle
@pytest.mark.parametrize("name", NAMES)
def test_reference_reader_equals_ggml(name):
    for label, blk, finite in block_sets(name):
        assert_same_bits(name, blk, reference(name, blk), oracle(name, blk), f"ggml dequantize_row ({label})", finite)


def test_typescript_reader_equals_gguf_py(lab, tmp_path):
    """The same blocks in a file (one tensor per format and block set, one block per row, two
    chunks): the TypeScript reader (the Rust dequantizer) returns gguf-py's values."""
    rows, expected, ti = [], {}, 0
    for name in NAMES:
        elements, _ = GGUF_BLOCKS[name]
        for label, blk, finite in block_sets(name):
            n = blk.shape[0]
            tensor = f"{name}.{label}"
            half = n // 2
            for ci, (r0, k) in enumerate([(0, half), (half, n - half)]):
                rows.append(crafted_row(ti, tensor, name, [n, elements], (ci, 2, r0, k), blk[r0:r0 + k].tobytes()))
            expected[tensor] = (name, blk, gguf_py(name, blk), finite)
            ti += 1
    path = tmp_path / "gguf_blocks.parquet"
    write_crafted(path, lab.file("dit-rtn4-g128"), rows)
    out = tmp_path / "gguf_blocks.ts"
    run(["node", DUMP, path, out], "TS dump of the GGUF block file")
    index = json.loads((out / "index.json").read_text())
    assert [t["name"] for t in index["tensors"]] == list(expected)
    for entry in index["tensors"]:
        name, blk, want, finite = expected[entry["name"]]
        ts = np.fromfile(out / entry["file"], dtype=TS_DTYPES[entry["dtype"]]).reshape(entry["shape"])
        assert_same_bits(name, blk, ts, want, f"gguf-py ({entry['name']})", finite, us="TypeScript reader")
