#!/usr/bin/env python3
"""Reference reader for ArrowQuant files (format versions 1 and 2), written from docs/FORMAT.md alone.

Needs only pyarrow and numpy, and `formats.json` beside this file (the format registry, generated
from the kernels: which families exist, the regular expression that parses each family's canonical
names, block sizes and row-length rules). Each family's decoder is a function below. Every scheme is decoded with vectorized float32 arithmetic in the
same order as the Rust dequantizer (for the GGUF block formats, ggml's dequantize_row_*), so the
values are bit-identical to what ArrowQuant's own readers return.

    tensor_names(path)            -> list[str]      bare tensor names, in model order
    tensor_names(path, qualified=True)              "component/name" for diffusers pipelines
    dequantize(path, name)        -> numpy.ndarray  the tensor in its original shape
    tensors(path)                 -> list[dict]     per-tensor index with merged quality figures
    metadata(path)                -> dict           the footer keys (JSON values decoded)
    activation_params(path, name, timestep) -> (scale, zero_point) | None
                                                    time-aware input-activation parameters
    channel_scales(path, name)    -> numpy.ndarray | None   spatial-smoothing factors s

Only the row groups that hold the requested tensor are read, so memory stays bounded by a few
row groups whatever the file size.

Command line:  python docs/reference_reader.py FILE [NAME]
"""
from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

FORMAT_VERSION = "2"
READABLE_VERSIONS = ("1", "2", "3")
VERSION_KEY = b"arrowquant.format_version"

# Columns without per-chunk payload: enough to list tensors and find their row groups.
INDEX_COLUMNS = [
    "tensor_index", "name", "component", "shape", "source_dtype", "chunk_index", "chunk_count",
    "row_start", "row_count", "method", "scheme", "bits", "group_size", "requested_bits",
    "quality", "fallbacks",
]
# Index columns added within version 2; a file written before them reads as all null.
OPTIONAL_INDEX_COLUMNS = ["layer_output"]
PAYLOAD_COLUMNS = ["codes", "scales", "zeros"]
REQUIRED_COLUMNS = INDEX_COLUMNS + PAYLOAD_COLUMNS + ["channel_scales", "time_groups"]


class ArrowQuantError(Exception):
    """Base class of every error this reader raises."""


class NotArrowQuantError(ArrowQuantError):
    """The file is not an ArrowQuant file, or of a format version this reader does not know."""


class UnknownTensorError(ArrowQuantError, LookupError):
    """No tensor of that name (or the bare name is ambiguous across pipeline components)."""


class UnknownSchemeError(ArrowQuantError):
    """A scheme name this reader (format version 2) does not know."""


class CorruptFileError(ArrowQuantError):
    """The rows of a tensor contradict the format (sizes, chunk order, ...)."""


# --------------------------------------------------------------------------------------------
# Code books
# --------------------------------------------------------------------------------------------

# NF4 (bitsandbytes), as f32 bit patterns: index = 4-bit code.
NF4_CODE_BOOK = np.array(
    [
        0xBF800000, 0xBF3239B1, 0xBF066B30, 0xBECA32A0, 0xBE91A24D, 0xBE3D353F, 0xBDBA7871, 0x00000000,
        0x3DA2FAFF, 0x3E24CAE3, 0x3E7C04DD, 0x3EAD033A, 0x3EE1A4B8, 0x3F1007AB, 0x3F3913B3, 0x3F800000,
    ],
    dtype=np.uint32,
).view(np.float32)


def _fp8_table(mbits: int, bias: int) -> np.ndarray:
    """Value of each of the 256 FP8 codes, from the fields (FORMAT.md, FP8). Exact in float32."""
    code = np.arange(256, dtype=np.int64)
    mag = code & 0x7F
    e = mag >> mbits
    m = (mag & ((1 << mbits) - 1)).astype(np.float64)
    sub = m * np.ldexp(1.0, 1 - bias - mbits)
    norm = (1.0 + m / (1 << mbits)) * np.ldexp(1.0, (e - bias).astype(np.int64))
    v = np.where(e == 0, sub, norm)
    v = np.where(code & 0x80, -v, v)  # negation keeps -0.0 for code 0x80
    return v.astype(np.float32)


FP8_TABLES = {"e4m3": _fp8_table(3, 7), "e5m2": _fp8_table(2, 15)}

# Kept tensors: stored dtype -> (bytes per element, numpy dtype of the stored little-endian bytes).
KEPT_DTYPES = {
    "F64": (8, "<f8"), "F32": (4, "<f4"), "F16": (2, "<f2"), "BF16": (2, "<u2"),
    "I64": (8, "<i8"), "U64": (8, "<u8"), "I32": (4, "<i4"), "U32": (4, "<u4"),
    "I16": (2, "<i2"), "U16": (2, "<u2"), "I8": (1, "i1"), "U8": (1, "u1"),
    "BOOL": (1, "?"), "F8_E4M3": (1, "u1"), "F8_E5M2": (1, "u1"),
}

# The format registry (docs/formats.json): family name -> its entry, and the compiled name regexes.
REGISTRY_PATH = Path(__file__).with_name("formats.json")
FAMILIES = {f["family"]: f for f in json.loads(REGISTRY_PATH.read_text(encoding="utf-8"))["families"]}
_NAME_RES = [(re.compile(f["name_regex"]), f) for f in FAMILIES.values()]
KNOWN_SCHEMES = ", ".join(f["name_pattern"] for f in FAMILIES.values()) + ", keep_<DTYPE>"


def parse_scheme(scheme: str):
    """(family entry, parameters) of a canonical scheme name, or None. Parameters: the regex's
    named groups, `bits` and `group` as int, `symmetric` as bool, where the family has them."""
    for regex, family in _NAME_RES:
        m = regex.match(scheme)
        if m:
            params = dict(m.groupdict())
            for k in ("bits", "group"):
                if k in params:
                    params[k] = int(params[k])
            if "symmetric" in params:
                params["symmetric"] = params["symmetric"] == "sym"
            return family, params
    return None


# --------------------------------------------------------------------------------------------
# Opening a file
# --------------------------------------------------------------------------------------------

def _open(path) -> pq.ParquetFile:
    try:
        pf = pq.ParquetFile(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (OSError, ValueError) as e:  # pyarrow raises ArrowInvalid (a ValueError) for non-Parquet
        raise NotArrowQuantError(f"{path}: not an ArrowQuant file (not readable as Parquet: {e})") from e
    kv = pf.metadata.metadata or {}
    version = kv.get(VERSION_KEY)
    if version is None:
        raise NotArrowQuantError(
            f"{path}: not an ArrowQuant file (the Parquet footer has no {VERSION_KEY.decode()} key)")
    if version.decode("utf-8", "replace") not in READABLE_VERSIONS:
        raise NotArrowQuantError(
            f"{path}: ArrowQuant format version {version.decode('utf-8', 'replace')!r} is not supported "
            f"(this reader knows versions {', '.join(READABLE_VERSIONS)})")
    names = set(pf.schema_arrow.names)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise NotArrowQuantError(f"{path}: not an ArrowQuant file (columns {missing} are missing)")
    return pf


def metadata(path) -> dict:
    """The footer's key-value metadata (ArrowQuant keys only; JSON values decoded)."""
    pf = _open(path)
    out = {}
    for k, v in (pf.metadata.metadata or {}).items():
        key = k.decode()
        if not key.startswith("arrowquant."):
            continue
        text = v.decode()
        out[key] = json.loads(text) if key in ("arrowquant.config", "arrowquant.sources", "arrowquant.summary") else text
    return out


def _index_rows(pf: pq.ParquetFile, columns=INDEX_COLUMNS):
    """Every row (payload columns excluded), in file order, with its row group."""
    for rg in range(pf.metadata.num_row_groups):
        t = pf.read_row_group(rg, columns=list(columns))
        for row in t.to_pylist():
            row["row_group"] = rg
            yield row


def _tensor_rows(pf: pq.ParquetFile):
    """Index rows grouped by tensor, in model order (tensor_index 0, 1, ...)."""
    present = set(pf.schema_arrow.names)
    columns = INDEX_COLUMNS + [c for c in OPTIONAL_INDEX_COLUMNS if c in present]
    by_tensor: dict[int, list[dict]] = {}
    for row in _index_rows(pf, columns):
        by_tensor.setdefault(row["tensor_index"], []).append(row)
    return [by_tensor[i] for i in sorted(by_tensor)]


def tensor_names(path, qualified: bool = False) -> list[str]:
    """Tensor names in model order. With `qualified`, a tensor of a diffusers pipeline component
    is named "component/name" (bare names can repeat across components)."""
    pf = _open(path)
    names = []
    for row in _index_rows(pf, ["tensor_index", "name", "component", "chunk_index"]):
        if row["chunk_index"] != 0:
            continue
        if row["tensor_index"] != len(names):
            raise CorruptFileError(f"{path}: tensor_index {row['tensor_index']} out of model order")
        c = row["component"]
        names.append(f"{c}/{row['name']}" if qualified and c is not None else row["name"])
    return names


def merge_quality(parts) -> dict:
    """A tensor's figures from its chunks' `quality` structs (FORMAT.md, Quality)."""
    n = 0
    xx = yy = xy = ee = mx = 0.0
    for q in parts:
        n += q["elements"]
        xx += q["sum_xx"]
        yy += q["sum_yy"]
        xy += q["sum_xy"]
        ee += q["sum_ee"]
        mx = max(mx, q["max_abs_err"])
    denom = math.sqrt(xx * yy)
    cosine = min(1.0, max(-1.0, xy / denom)) if denom > 0 else (1.0 if ee == 0 else 0.0)
    rel_mse = ee / xx if xx > 0 else (0.0 if ee == 0 else math.inf)
    sqnr_db = math.inf if ee == 0 else (10 * math.log10(xx / ee) if xx > 0 else -math.inf)
    return {"elements": n, "cosine": cosine, "rel_mse": rel_mse, "sqnr_db": sqnr_db, "max_abs_err": mx,
            "sum_xx": xx, "sum_yy": yy, "sum_xy": xy, "sum_ee": ee}


def merge_layer_output(parts):
    """A tensor's layer-output figures from its chunks' `layer_output` structs (FORMAT.md,
    Quality), or None unless every chunk has one."""
    parts = list(parts)
    if not parts or any(p is None for p in parts):
        return None
    rows = sum(p["rows"] for p in parts)
    ww = we = ee = 0.0
    for p in parts:
        ww += p["sum_ww"]
        we += p["sum_we"]
        ee += p["sum_ee"]
    if ee <= 0:
        cosine = 1.0
    else:
        yy = max(0.0, ww - 2 * we + ee)
        denom = math.sqrt(ww * yy)
        cosine = min(1.0, max(-1.0, (ww - we) / denom)) if denom > 0 else 0.0
    return {"rows": rows, "cosine": cosine, "rel_mse": ee / ww if ww > 0 else 0.0, "sum_ww": ww, "sum_we": we, "sum_ee": ee}


def tensors(path) -> list[dict]:
    """One dict per tensor, in model order: the index columns of its first chunk, its chunk
    count, the row groups holding it, its merged quality figures, its merged layer-output
    figures (None when not measured) and `accuracy`: what `min_accuracy` judged (the lower of
    the layer-output cosine, where measured, and the weight cosine) and which it was."""
    pf = _open(path)
    out = []
    for rows in _tensor_rows(pf):
        r0 = rows[0]
        info = {k: r0[k] for k in ("tensor_index", "name", "component", "shape", "source_dtype", "method",
                                   "scheme", "bits", "group_size", "requested_bits", "fallbacks")}
        info["chunks"] = len(rows)
        info["row_groups"] = sorted({r["row_group"] for r in rows})
        info["quality"] = merge_quality(r["quality"] for r in rows)
        info["layer_output"] = merge_layer_output(r.get("layer_output") for r in rows)
        lo = info["layer_output"]
        wc = info["quality"]["cosine"]
        info["accuracy"] = {"basis": "layer_output", "cosine": lo["cosine"]} if lo and lo["cosine"] <= wc else {"basis": "weight", "cosine": wc}
        out.append(info)
    return out


def _find(pf: pq.ParquetFile, path, name: str) -> list[dict]:
    """Index rows of the tensor called `name` (bare, or "component/name")."""
    matches: dict[int, list[dict]] = {}
    qualified: dict[int, list[dict]] = {}
    for row in _index_rows(pf, ["tensor_index", "name", "component"]):
        if row["name"] == name:
            matches.setdefault(row["tensor_index"], []).append(row)
        elif row["component"] is not None and name == f"{row['component']}/{row['name']}":
            qualified.setdefault(row["tensor_index"], []).append(row)
    found = matches or qualified
    if not found:
        raise UnknownTensorError(f"{path}: no tensor named {name!r}")
    if len(found) > 1:
        options = ", ".join(f"{rows[0]['component']}/{rows[0]['name']}" for rows in found.values())
        raise UnknownTensorError(f"{path}: tensor name {name!r} is ambiguous; use one of: {options}")
    return next(iter(found.values()))


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------

def _unpack_lsb(b: np.ndarray, bits: int) -> np.ndarray:
    """LSB-first codes of `bits` bits from bytes (last axis): element k of a byte is bits k*bits.."""
    if bits == 8:
        return b
    per = 8 // bits
    mask = (1 << bits) - 1
    parts = [(b >> (k * bits)) & mask for k in range(per)]
    return np.stack(parts, axis=-1).reshape(*b.shape[:-1], b.shape[-1] * per)


def _unpack_grouped(codes: np.ndarray, rows: int, cols: int, group: int, unpack, group_bytes: int, tail_bytes: int):
    """Codes of a row laid out as whole groups, each starting on a byte boundary, then a short
    tail group: returns the (rows, cols) code array."""
    full, tail = divmod(cols, group)
    c = codes.reshape(rows, full * group_bytes + tail_bytes)
    parts = []
    if full:
        parts.append(unpack(c[:, : full * group_bytes]))  # groups hold whole bytes: no padding
    if tail:
        parts.append(unpack(c[:, full * group_bytes:])[:, :tail])
    return np.concatenate(parts, axis=1) if parts else np.zeros((rows, 0), np.uint8)


def _check(what, actual, expected, ctx):
    if actual != expected:
        raise CorruptFileError(f"{ctx}: {what} holds {actual} bytes, the scheme's layout needs {expected}")


def _f32(buf: bytes) -> np.ndarray:
    return np.frombuffer(buf, dtype="<f4").astype(np.float32)


def _expand(per_group: np.ndarray, cols: int, group: int) -> np.ndarray:
    """Broadcast (rows, groups) parameters to (rows, cols)."""
    return per_group[:, np.arange(cols) // group]


def decode_chunk(scheme: str, rows: int, cols: int, codes: bytes, scales: bytes, zeros: bytes, ctx: str = "") -> np.ndarray:
    """Dequantize one chunk (a run of `rows` whole rows of a `cols`-wide 2-D view) -> float32 (rows, cols)."""
    with np.errstate(all="ignore"):  # IEEE results (overflow to inf, inf * 0 = NaN) are the contract
        return _decode_chunk(scheme, rows, cols, codes, scales, zeros, ctx)


def _decode_chunk(scheme, rows, cols, codes, scales, zeros, ctx):
    parsed = parse_scheme(scheme)
    if parsed is None:
        raise UnknownSchemeError(f"{ctx}: unknown scheme {scheme!r} (known: {KNOWN_SCHEMES})")
    family, params = parsed
    decoder = DECODERS.get(family["family"])
    if decoder is None:
        raise UnknownSchemeError(f"{ctx}: this reader has no decoder for the {family['family']} family ({scheme!r})")
    if cols % family["row_multiple"]:
        raise CorruptFileError(f"{ctx}: {scheme} needs a row length divisible by {family['row_multiple']}, got {cols}")
    raw = np.frombuffer(codes, dtype=np.uint8)
    return decoder(family, params, rows, cols, raw, codes, scales, zeros, ctx)


def _grouped_codes(raw, rows, cols, group, bits, codes, ctx):
    """Codes packed LSB-first per group (RTN, HQQ, R2Q): the (rows, cols) code array."""
    gbytes = group * bits // 8
    tbytes = -(-(cols % group) * bits // 8)
    _check("codes", len(codes), rows * ((cols // group) * gbytes + tbytes), ctx)
    return _unpack_grouped(raw, rows, cols, group, lambda b: _unpack_lsb(b, bits), gbytes, tbytes)


def _decode_rtn(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    bits, group, sym = p["bits"], p["group"], p["symmetric"]
    groups = -(-cols // group)
    q = _grouped_codes(raw, rows, cols, group, bits, codes, ctx)
    _check("scales", len(scales), rows * groups * 4, ctx)
    _check("zeros", len(zeros), 0 if sym else rows * groups, ctx)
    s = _f32(scales).reshape(rows, groups)
    if sym:
        z = np.float32(1 << (bits - 1))
    else:
        z = _expand(np.frombuffer(zeros, dtype=np.uint8).reshape(rows, groups).astype(np.float32), cols, group)
    return (q.astype(np.float32) - z) * _expand(s, cols, group)


def _two_params(p, rows, cols, raw, codes, scales, zeros, ctx, bits):
    """Codes packed as RTN and two f32 per group: (scale, zero) for HQQ, (alpha1, alpha2) for R2Q."""
    group = p["group"]
    groups = -(-cols // group)
    q = _grouped_codes(raw, rows, cols, group, bits, codes, ctx)
    _check("scales", len(scales), rows * groups * 8, ctx)
    _check("zeros", len(zeros), 0, ctx)
    ps = _f32(scales).reshape(rows, groups, 2)
    return q, _expand(ps[:, :, 0], cols, group), _expand(ps[:, :, 1], cols, group)


def _decode_hqq(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    q, scale, zero = _two_params(p, rows, cols, raw, codes, scales, zeros, ctx, p["bits"])
    return (q.astype(np.float32) - zero) * scale


def _decode_r2q(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    q, a1, a2 = _two_params(p, rows, cols, raw, codes, scales, zeros, ctx, 2)
    return np.where(q & 2, a1, -a1) + np.where(q & 1, a2, -a2)  # ±alpha1 ± alpha2


def _decode_int8_channel(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    _check("codes", len(codes), rows * cols, ctx)
    _check("scales", len(scales), rows * 4, ctx)
    _check("zeros", len(zeros), 0, ctx)
    return raw.view(np.int8).reshape(rows, cols).astype(np.float32) * _f32(scales).reshape(rows, 1)


def _decode_nf4(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    block = family["blocking"]["elements"]
    blocks = -(-cols // block)
    tbytes = -(-(cols % block) // 2)
    _check("codes", len(codes), rows * ((cols // block) * (block // 2) + tbytes), ctx)
    _check("scales", len(scales), rows * blocks * 4, ctx)
    _check("zeros", len(zeros), 0, ctx)

    def unpack_hi_first(b):
        return np.stack([b >> 4, b & 0x0F], axis=-1).reshape(*b.shape[:-1], b.shape[-1] * 2)

    q = _unpack_grouped(raw, rows, cols, block, unpack_hi_first, block // 2, tbytes)
    return NF4_CODE_BOOK[q] * _expand(_f32(scales).reshape(rows, blocks), cols, block)


def _decode_fp8(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    _check("codes", len(codes), rows * cols, ctx)
    _check("zeros", len(zeros), 0, ctx)
    if family["blocking"]["kind"] == "per_row":
        _check("scales", len(scales), rows * 4, ctx)
        scale = _f32(scales).reshape(rows, 1)
    else:
        _check("scales", len(scales), 4, ctx)  # one scale for the whole chunk
        scale = _f32(scales)[0]
    return FP8_TABLES[p["kind"]][raw].reshape(rows, cols) * scale


def _ggml_blocks(family, rows, cols, raw, codes, scales, zeros, ctx):
    """A GGUF block format's blocks as a (blocks, block bytes) array, sizes checked."""
    elements, nbytes = family["blocking"]["elements"], family["blocking"]["bytes"]
    _check("codes", len(codes), rows * (cols // elements) * nbytes, ctx)
    _check("scales", len(scales), 0, ctx)
    _check("zeros", len(zeros), 0, ctx)
    return raw.reshape(rows * cols // elements, nbytes)


def _f16_at(blk, offset):
    """The little-endian f16 at byte `offset` of every block, as f32 (blocks, 1)."""
    return np.ascontiguousarray(blk[:, offset:offset + 2]).view("<f2").astype(np.float32)


def _nibbles_32(qs):
    """The 32 4-bit levels of a legacy GGUF block's 16 bytes (ggml's order: byte `j` holds element
    `j` in its low nibble, element `j + 16` in its high nibble): (blocks, 32) uint8."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1)


def _fifth_bits(qh):
    """Q5_0/Q5_1: bit `j` of the little-endian u32 `qh` (4 bytes per block) is element `j`'s
    fifth bit; returned as 0 or 16, (blocks, 32) uint8."""
    return np.unpackbits(qh, axis=1, bitorder="little") << 4


def _planes(b, width):
    """K-quant bit planes: `b` is (blocks, groups, n) bytes; each byte holds 8/width values at bit
    offsets 0, width, 2·width, ...; value (g, k, l) = bits k·width.. of byte (g, l). Returns
    (blocks, groups·(8/width)·n) uint8 in that (g, k, l) order."""
    shifts = np.arange(0, 8, width, dtype=np.uint8).reshape(1, 1, -1, 1)
    v = (b[:, :, None, :] >> shifts) & ((1 << width) - 1)
    return v.reshape(b.shape[0], -1)


def _scale_min_k4(s):
    """Q4_K/Q5_K: the eight 6-bit (scale, min) pairs of the 12 scale bytes (ggml's
    get_scale_min_k4): sub-blocks 0-3 in the low six bits of bytes 0-3 (scales) and 4-7 (mins);
    sub-blocks 4-7 take their low four bits from the nibbles of bytes 8-11 (scale low, min high)
    and their top two bits from the top bits of bytes 0-3 (scales) and 4-7 (mins)."""
    sc = np.concatenate([s[:, 0:4] & 63, (s[:, 8:12] & 0x0F) | ((s[:, 0:4] >> 6) << 4)], axis=1)
    m = np.concatenate([s[:, 4:8] & 63, (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)], axis=1)
    return sc, m


def _per_sub(params, q, sub):
    """(blocks, subs) parameters against (blocks, subs·sub) values: both as (blocks, subs, ·)."""
    return params[:, :, None], q.reshape(q.shape[0], -1, sub)


def _decode_q8_0(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    blk = _ggml_blocks(family, rows, cols, raw, codes, scales, zeros, ctx)
    qs = np.ascontiguousarray(blk[:, 2:]).view(np.int8).astype(np.float32)
    return (_f16_at(blk, 0) * qs).reshape(rows, cols)


def _decode_q4_0(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    blk = _ggml_blocks(family, rows, cols, raw, codes, scales, zeros, ctx)
    q = _nibbles_32(blk[:, 2:]).astype(np.float32)
    return (_f16_at(blk, 0) * (q - np.float32(8.0))).reshape(rows, cols)


def _decode_q4_1(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    # Block: d f16, m f16, 16 bytes of nibbles. ggml: x0*d + m (the product is exact, the sum rounds).
    blk = _ggml_blocks(family, rows, cols, raw, codes, scales, zeros, ctx)
    q = _nibbles_32(blk[:, 4:]).astype(np.float32)
    return (q * _f16_at(blk, 0) + _f16_at(blk, 2)).reshape(rows, cols)


def _decode_q5_0(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    # Block: d f16, qh (4 bytes), 16 bytes of low nibbles. ggml: (q - 16)*d.
    blk = _ggml_blocks(family, rows, cols, raw, codes, scales, zeros, ctx)
    q = (_nibbles_32(blk[:, 6:]) | _fifth_bits(blk[:, 2:6])).astype(np.float32)
    return ((q - np.float32(16.0)) * _f16_at(blk, 0)).reshape(rows, cols)


def _decode_q5_1(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    # Block: d f16, m f16, qh (4 bytes), 16 bytes of low nibbles. ggml: q*d + m.
    blk = _ggml_blocks(family, rows, cols, raw, codes, scales, zeros, ctx)
    q = (_nibbles_32(blk[:, 8:]) | _fifth_bits(blk[:, 4:8])).astype(np.float32)
    return (q * _f16_at(blk, 0) + _f16_at(blk, 2)).reshape(rows, cols)


def _decode_q2_k(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    # Super-block: 16 scale bytes (scale low nibble, min high), 64 bytes of 2-bit planes, d, dmin.
    # ggml: dl = d*sc, ml = dmin*m per sub-block of 16; x = dl*q - ml.
    blk = _ggml_blocks(family, rows, cols, raw, codes, scales, zeros, ctx)
    sc = blk[:, 0:16]
    dl = _f16_at(blk, 80) * (sc & 0x0F).astype(np.float32)
    ml = _f16_at(blk, 82) * (sc >> 4).astype(np.float32)
    q = _planes(blk[:, 16:80].reshape(-1, 2, 32), 2).astype(np.float32)
    dl, q = _per_sub(dl, q, 16)
    return (dl * q - ml[:, :, None]).reshape(rows, cols)


def _q3_k_scales(s):
    """Q3_K's sixteen 6-bit scales from 12 bytes, minus 32: the low nibbles of bytes 0-7 (scales
    0-7), their high nibbles (8-15); two top bits each from bytes 8-11 (scale j: bits 2·(j/4) of
    byte 8 + j mod 4). (blocks, 16) float32 in -32..31."""
    low = np.concatenate([s[:, 0:8] & 0x0F, s[:, 0:8] >> 4], axis=1)
    high = _planes(s[:, None, 8:12], 2)  # (j/4, j mod 4) order = j
    return ((low | (high << 4)).astype(np.int16) - 32).astype(np.float32)


def _decode_q3_k(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    # Super-block: hmask (32 bytes), 64 bytes of 2-bit planes, 12 scale bytes, d.
    # ggml: dl = d*(sc - 32) per sub-block of 16; x = dl*(q - (hmask bit ? 0 : 4)).
    blk = _ggml_blocks(family, rows, cols, raw, codes, scales, zeros, ctx)
    dl = _f16_at(blk, 108) * _q3_k_scales(blk[:, 96:108])
    low = _planes(blk[:, 32:96].reshape(-1, 2, 32), 2).astype(np.int16)
    high = _planes(blk[:, None, 0:32], 1).astype(np.int16)  # value i: bit i/32 of hmask[i mod 32]
    dl, q = _per_sub(dl, (low - 4 * (1 - high)).astype(np.float32), 16)
    return (dl * q).reshape(rows, cols)


def _k_affine(blk, q, rows, cols):
    """Q4_K/Q5_K: d, dmin at bytes 0-3, the 12 scale bytes at 4-15; ggml's
    x = (d*sc)*q - (dmin*m) per sub-block of 32 in float32 (the products are exact, the
    subtraction rounds)."""
    sc, m = _scale_min_k4(blk[:, 4:16])
    d1 = _f16_at(blk, 0) * sc.astype(np.float32)
    m1 = _f16_at(blk, 2) * m.astype(np.float32)
    d1, q = _per_sub(d1, q, 32)
    return (d1 * q - m1[:, :, None]).reshape(rows, cols)


def _decode_q4_k(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    # Super-block: d, dmin, 12 scale bytes, 128 bytes of nibbles (byte 32c+l: value 64c+l low,
    # 64c+32+l high).
    blk = _ggml_blocks(family, rows, cols, raw, codes, scales, zeros, ctx)
    q = _planes(blk[:, 16:144].reshape(-1, 4, 32), 4).astype(np.float32)
    return _k_affine(blk, q, rows, cols)


def _decode_q5_k(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    # Super-block: d, dmin, 12 scale bytes, qh (32 bytes: value 32j+l's fifth bit is bit j of
    # qh[l]), 128 bytes of low nibbles as Q4_K.
    blk = _ggml_blocks(family, rows, cols, raw, codes, scales, zeros, ctx)
    low = _planes(blk[:, 48:176].reshape(-1, 4, 32), 4)
    high = _planes(blk[:, None, 16:48], 1)
    return _k_affine(blk, (low | (high << 4)).astype(np.float32), rows, cols)


def _decode_q6_k(family, p, rows, cols, raw, codes, scales, zeros, ctx):
    # Super-block: ql (128 bytes), qh (64), 16 int8 scales, d. Per half h of 128 values: nibble k
    # of ql[64h + m] is value 128h + 64k + m; bits 2s.. of qh[32h + l] are value 128h + 32s + l's
    # top two bits. ggml: x = (d*sc)*(q - 32) per sub-block of 16.
    blk = _ggml_blocks(family, rows, cols, raw, codes, scales, zeros, ctx)
    low = _planes(blk[:, 0:128].reshape(-1, 2, 64), 4)
    high = _planes(blk[:, 128:192].reshape(-1, 2, 32), 2)
    q = ((low | (high << 4)).astype(np.int16) - 32).astype(np.float32)
    d = _f16_at(blk, 208) * np.ascontiguousarray(blk[:, 192:208]).view(np.int8).astype(np.float32)
    d, q = _per_sub(d, q, 16)
    return (d * q).reshape(rows, cols)


# One decoder per family of formats.json; a family without one is refused by name.
DECODERS = {
    "rtn": _decode_rtn,
    "hqq": _decode_hqq,
    "r2q": _decode_r2q,
    "int8_channel": _decode_int8_channel,
    "nf4": _decode_nf4,
    "fp8": _decode_fp8,
    "fp8_channel": _decode_fp8,
    "q8_0": _decode_q8_0,
    "q4_0": _decode_q4_0,
    "q4_1": _decode_q4_1,
    "q5_0": _decode_q5_0,
    "q5_1": _decode_q5_1,
    "q2_k": _decode_q2_k,
    "q3_k": _decode_q3_k,
    "q4_k": _decode_q4_k,
    "q5_k": _decode_q5_k,
    "q6_k": _decode_q6_k,
}


def _decode_kept(dtype: str, data: bytes, ctx: str) -> np.ndarray:
    if dtype not in KEPT_DTYPES:
        raise UnknownSchemeError(f"{ctx}: kept dtype {dtype!r} is not known (known: {', '.join(KEPT_DTYPES)})")
    _, stored = KEPT_DTYPES[dtype]
    a = np.frombuffer(data, dtype=stored)
    if dtype == "F16":
        return a.astype(np.float32)
    if dtype == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.dtype(stored).newbyteorder("="))  # a writeable native-order copy


def _read_chunks(pf: pq.ParquetFile, index_rows: list[dict]) -> list[dict]:
    """Full rows (payload included) of one tensor, reading only its row groups."""
    t_index = index_rows[0]["tensor_index"]
    out = []
    for rg in sorted({r["row_group"] for r in index_rows}):
        t = pf.read_row_group(rg, columns=INDEX_COLUMNS + PAYLOAD_COLUMNS + ["channel_scales", "time_groups"])
        t = t.filter(pc.equal(t.column("tensor_index"), t_index))
        out.extend(t.to_pylist())
    out = sorted(out, key=lambda r: r["chunk_index"])
    for r in out:
        # A tensor's channel_scales and time_groups are the same on every chunk row (FORMAT.md).
        if r["channel_scales"] != out[0]["channel_scales"] or r["time_groups"] != out[0]["time_groups"]:
            raise CorruptFileError(f"tensor {r['name']!r} chunk {r['chunk_index']}: channel_scales/time_groups "
                                   f"differ from chunk {out[0]['chunk_index']}'s")
    return out


def _smoothing(first: dict, cols: int, ctx: str):
    """The spatial-smoothing factors s (float32, one per column), or None."""
    cs = first["channel_scales"]
    if cs is None:
        return None
    if first["method"] == "keep":
        raise CorruptFileError(f"{ctx}: a kept tensor has channel_scales")
    _check("channel_scales", len(cs), cols * 4, ctx)
    return _f32(cs)


def channel_scales(path, name: str):
    """Spatial-smoothing factors of a quantized tensor (the codes encode W·diag(s)), or None."""
    pf = _open(path)
    chunks = _read_chunks(pf, _find(pf, path, name))
    shape = [int(d) for d in chunks[0]["shape"]]
    cols = 1 if len(shape) <= 1 else int(np.prod(shape[1:], dtype=np.int64))
    return _smoothing(chunks[0], cols, f"{path}: tensor {name!r}")


def activation_params(path, name: str, timestep: int):
    """(scale, zero_point) of the tensor's 8-bit input activations at `timestep`: the group with
    t_start <= timestep < t_end. None when the tensor has no time groups."""
    pf = _open(path)
    chunks = _read_chunks(pf, _find(pf, path, name))
    groups = chunks[0]["time_groups"]
    if groups is None:
        return None
    for g in groups:
        if g["t_start"] <= timestep < g["t_end"]:
            return float(np.float32(g["scale"])), float(np.float32(g["zero_point"]))
    spans = ", ".join(f"[{g['t_start']}, {g['t_end']})" for g in groups)
    raise LookupError(f"{path}: tensor {name!r}: timestep {timestep} is in no time group ({spans})")


def dequantize(path, name: str) -> np.ndarray:
    """The tensor `name` in its original shape: float32 for quantized tensors and for kept
    F32/F16/BF16; kept F64 as float64; kept integers and BOOL in their own dtype; kept F8_* as
    their raw uint8 codes."""
    pf = _open(path)
    chunks = _read_chunks(pf, _find(pf, path, name))
    first = chunks[0]
    ctx = f"{path}: tensor {first['name']!r}"
    shape = tuple(int(d) for d in first["shape"])
    elements = math.prod(shape)
    # 2-D view (FORMAT.md): rows = first dimension, cols = product of the others.
    rows, cols = (elements, 1) if len(shape) <= 1 else ((shape[0] if elements else 0), int(np.prod(shape[1:], dtype=np.int64)))

    # Chunks: 0..chunk_count-1, contiguous runs of whole rows covering the 2-D view.
    count = first["chunk_count"]
    if [c["chunk_index"] for c in chunks] != list(range(count)):
        raise CorruptFileError(f"{ctx}: chunks {[c['chunk_index'] for c in chunks]} are not 0..{count - 1}")
    start = 0
    for c in chunks:
        if c["row_start"] != start or c["scheme"] != first["scheme"] or c["method"] != first["method"]:
            raise CorruptFileError(f"{ctx}: chunk {c['chunk_index']} does not continue the previous one")
        start += c["row_count"]
    if start != rows:
        raise CorruptFileError(f"{ctx}: chunks cover {start} rows, the shape {list(shape)} has {rows}")

    scheme = first["scheme"]
    if first["method"] == "keep" or scheme.startswith("keep_"):
        if not (first["method"] == "keep" and scheme.startswith("keep_")):
            raise CorruptFileError(f"{ctx}: method {first['method']!r} does not match scheme {scheme!r}")
        dtype = scheme[len("keep_"):]
        data = b"".join(c["codes"] for c in chunks)
        size = KEPT_DTYPES.get(dtype, (1, None))[0]
        if dtype in KEPT_DTYPES and len(data) != elements * size:
            raise CorruptFileError(f"{ctx}: kept codes hold {len(data)} bytes, {dtype} × {list(shape)} needs {elements * size}")
        return _decode_kept(dtype, data, ctx).reshape(shape)

    out = np.empty((rows, cols), dtype=np.float32)
    for c in chunks:
        r0, n = c["row_start"], c["row_count"]
        out[r0:r0 + n] = decode_chunk(scheme, n, cols, c["codes"], c["scales"], c["zeros"],
                                      f"{ctx} chunk {c['chunk_index']}")
    s = _smoothing(first, cols, ctx)
    if s is not None:
        with np.errstate(all="ignore"):
            out /= s  # the codes encode W·diag(s): x = decoded / s_j (float32 division)
    return out.reshape(shape)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def _main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or argv[0] in ("-h", "--help"):
        print("usage: python reference_reader.py FILE [NAME]\n"
              "  FILE        list the tensors (model order)\n"
              "  FILE NAME   dequantize one tensor and print its statistics", file=sys.stderr)
        return 2
    path = argv[0]
    try:
        if len(argv) == 1:
            meta = metadata(path)
            print(f"{path}: ArrowQuant format {meta['arrowquant.format_version']}, "
                  f"modality {meta.get('arrowquant.modality')}")
            for t in tensors(path):
                q = t["quality"]
                name = f"{t['component']}/{t['name']}" if t["component"] else t["name"]
                print(f"{t['tensor_index']:5d}  {name}  {'x'.join(map(str, t['shape'])) or 'scalar'}  "
                      f"{t['source_dtype']}  {t['scheme']}  chunks={t['chunks']}  cosine={q['cosine']:.5f}")
            return 0
        name = argv[1]
        x = dequantize(path, name)
        info = next(t for t in tensors(path) if t["name"] == name or f"{t['component']}/{t['name']}" == name)
        print(f"{name}: shape {list(x.shape)}, {x.dtype}, scheme {info['scheme']} (source {info['source_dtype']})")
        if x.size:
            v = x.astype(np.float64)
            print(f"  min {v.min():.6g}  max {v.max():.6g}  mean {v.mean():.6g}  std {v.std():.6g}")
        q = info["quality"]
        print(f"  quality: cosine {q['cosine']:.6f}  sqnr {q['sqnr_db']:.2f} dB  max_abs_err {q['max_abs_err']:.3g}")
        for f in info["fallbacks"]:
            print(f"  fallback {f['from_scheme']} -> {f['to_scheme']} (cosine {f['cosine']:.5f} < {f['threshold']})")
        return 0
    except ArrowQuantError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
