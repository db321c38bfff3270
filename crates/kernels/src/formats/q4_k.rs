//! GGUF Q4_K: llama.cpp's 4-bit K-quant, byte-identical to ggml's `quantize_row_q4_K_ref` and,
//! with importance, `quantize_q4_K` with `quant_weights`.
//!
//! - Elements per super-block: 256 = 8 sub-blocks of 32. Block bytes: 144 = f16 `d`, f16 `dmin`
//!   (little-endian), 12 bytes of eight 6-bit scales and mins (`ggml_blocks::pack_scale_min_k4`),
//!   128 bytes of nibbles (byte `32·c + l` holds value `64·c + l` low and `64·c + 32 + l` high).
//! - **`x̂ = (d·sc_j)·q − dmin·m_j`** for sub-block `j` (its 6-bit scale `sc_j` and min `m_j`).
//! - Search, no importance (ggml's reference): per sub-block, weights `av_x + |x|`
//!   (`av_x = sqrt(Σx²/32)`), `make_qkx2_quants(nmax 15, rmin −1, rdelta 0.1, 20 steps)`; the
//!   sub-block scales and mins quantized to 6 bits against their maxima; the values re-rounded
//!   with the stored parameters.
//! - With importance `qw` (per column): `w = qw·sqrt(σ² + x²)`, `σ² = 2·Σx²/256` over the
//!   super-block, `make_qkx3_quants(15, −0.9, 0.05, 36 steps)`, and the 6-bit scales and mins
//!   chosen by `make_qp_quants(63)` weighted by each sub-block's Σw.
//! - Bits per weight: 4.5. Rows must be a multiple of 256 (llama.cpp falls back to Q5_0).

use super::ggml_blocks::{k4_search_imp, k4_search_ref, quantize_row_blocks, requantize, scale_min_k4, GgufBlock, KParams};
use super::ggml_search::{fp16_value, MinSearch};
use super::{Blocking, FormatInfo, GgufType, Scheme};
use crate::gptq::{GptqOptions, Prepared};
use crate::quantize::Quantized;
use crate::simd::Isa;

pub const BLOCK: usize = 256;
pub const BLOCK_BYTES: usize = 144;

pub static INFO: FormatInfo = FormatInfo {
    family: "q4_k",
    methods: &["q4_k"],
    name_pattern: "q4_k",
    name_regex: r"^q4_k$",
    bits: &[4],
    blocking: Blocking::Blocks { elements: BLOCK, bytes: BLOCK_BYTES },
    row_multiple: BLOCK,
    row_fallback: Some("q5_0"),
    importance: true,
    gptq_target: true,
    gguf: Some(GgufType { name: "Q4_K", type_id: 12, file_type: 14 }),
    decode: "x̂ = (d·sc_j)·q − dmin·m_j",
    bits_per_weight: "4.5",
    summary: "GGUF Q4_K: super-blocks of 256, eight 6-bit sub-block scales and mins, byte-identical to llama.cpp",
    parse_name: |name| (name == "q4_k").then_some(Ok(Scheme::Q4K)),
    from_method: |_, _| Ok(Scheme::Q4K),
};

/// The format (no parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Q4K;

const REF_SEARCH: MinSearch = MinSearch { rmin: -1.0, rdelta: 0.1, nstep: 20, use_mad: false };

/// Pack a super-block: its header (d, dmin, scales) and its levels.
pub fn write_block(p: &KParams, levels: &[u8; BLOCK], y: &mut [u8]) {
    y[..16].copy_from_slice(&p.header[..16]);
    let q = &mut y[16..];
    for c in 0..4 {
        for l in 0..32 {
            q[32 * c + l] = levels[64 * c + l] | (levels[64 * c + 32 + l] << 4);
        }
    }
}

/// Re-round every value with the stored parameters and write the block (the tail shared by
/// both searches).
fn finish_block(x: &[f32], levels: &mut [u8; BLOCK], p: &KParams, y: &mut [u8]) {
    requantize(x, p, levels);
    write_block(p, levels, y);
}

/// `quantize_row_q4_K_ref` for one super-block.
pub fn quantize_block_ref(x: &[f32], y: &mut [u8]) {
    let (p, mut levels) = k4_search_ref(x, 15, REF_SEARCH);
    finish_block(x, &mut levels, &p, y);
}

/// `quantize_row_q4_K_impl`'s search for one super-block (`qw`: its 256 importance
/// weights), up to the stored parameters: those parameters and the search's levels.
pub fn search_imp(x: &[f32], qw: &[f32]) -> (KParams, [u8; BLOCK]) {
    k4_search_imp(x, qw, 15, false)
}

/// `quantize_row_q4_K_impl` (with `quant_weights`) for one super-block.
pub fn quantize_block_imp(x: &[f32], qw: &[f32], y: &mut [u8]) {
    let (p, mut levels) = search_imp(x, qw);
    finish_block(x, &mut levels, &p, y);
}

/// GPTQ's parameters for a super-block (`gptq::kgrid`): the importance-weighted search's.
pub fn gptq_params(x: &[f32], qw: &[f32]) -> KParams {
    search_imp(x, qw).0
}

/// `dequantize_row_q4_K` for one super-block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = fp16_value(u16::from_le_bytes([y[0], y[1]]));
    let min = fp16_value(u16::from_le_bytes([y[2], y[3]]));
    let (scales, q) = (&y[4..16], &y[16..]);
    for c in 0..4 {
        let (sc1, m1) = scale_min_k4(2 * c, scales);
        let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
        let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
        let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
        for l in 0..32 {
            out[64 * c + l] = d1 * (q[32 * c + l] & 0xF) as f32 - m1;
            out[64 * c + 32 + l] = d2 * (q[32 * c + l] >> 4) as f32 - m2;
        }
    }
}

/// Scalar reference of a row: ggml's reference search, or with `importance` its weighted one.
pub fn quantize_row_ref(x: &[f32], importance: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    quantize_row_blocks(
        x,
        out,
        BLOCK,
        BLOCK_BYTES,
        |b, xb, yb| match importance {
            Some(qw) => quantize_block_imp(xb, &qw[b * BLOCK..(b + 1) * BLOCK], yb),
            None => quantize_block_ref(xb, yb),
        },
        dequantize_block,
        y,
    )
}

impl GgufBlock for Q4K {
    fn info() -> &'static FormatInfo {
        &INFO
    }
    const BITS: u32 = 4;
    const BLOCK: usize = BLOCK;
    const BLOCK_BYTES: usize = BLOCK_BYTES;
    unsafe fn quantize(&self, isa: Isa, x: &[f32], codes: &mut [u8], importance: Option<&[f32]>, y: &mut [f32]) -> Result<(), usize> {
        // SAFETY: the caller checked `isa.is_available()`.
        unsafe { crate::simd::kquants::quantize_row(crate::simd::kquants::KQuant::Q4K, isa, x, importance, &mut *codes, &mut *y) }
            .unwrap_or_else(|| quantize_row_ref(x, importance, codes, y))
    }
    fn dequantize_block(y: &[u8], out: &mut [f32]) {
        dequantize_block(y, out)
    }
    /// Up the K family, then Q8_0.
    fn ladder(&self) -> Vec<Scheme> {
        vec![Scheme::Q5K, Scheme::Q6K, Scheme::Q8_0]
    }
    /// GPTQ inside the parameters of the importance-weighted search (`gptq::kgrid`).
    fn gptq_onto(&self, w: &[f32], rows: usize, cols: usize, prep: &Prepared, opts: &GptqOptions) -> Option<crate::Result<Quantized>> {
        Some(crate::gptq::kgrid::run(Scheme::Q4K, w, rows, cols, prep, opts))
    }
}
