//! GGUF Q5_K: llama.cpp's 5-bit K-quant, byte-identical to ggml's `quantize_row_q5_K_ref` and,
//! with importance, `quantize_q5_K` with `quant_weights`.
//!
//! - Elements per super-block: 256 = 8 sub-blocks of 32. Block bytes: 176 = f16 `d`, f16 `dmin`,
//!   12 bytes of 6-bit scales and mins (as Q4_K), 32 bytes `qh` of fifth bits (value `64·c + l`
//!   in bit `2c` of `qh[l]`, value `64·c + 32 + l` in bit `2c + 1`), 128 bytes of low nibbles
//!   (as Q4_K's).
//! - **`x̂ = (d·sc_j)·q − dmin·m_j`**, `q` in 0..31.
//! - Search as Q4_K with `nmax` 31; the reference's candidate scan is `rmin −0.5, rdelta 0.1,
//!   15 steps`.
//! - Bits per weight: 5.5. Rows must be a multiple of 256 (llama.cpp falls back to Q5_1).

use super::ggml_blocks::{k4_search_imp, k4_search_ref, quantize_row_blocks, requantize, scale_min_k4, GgufBlock, KParams};
use super::ggml_search::{fp16_value, MinSearch};
use super::{Blocking, FormatInfo, GgufType, Scheme};
use crate::gptq::{GptqOptions, Prepared};
use crate::quantize::Quantized;
use crate::simd::Isa;

pub const BLOCK: usize = 256;
pub const BLOCK_BYTES: usize = 176;

pub static INFO: FormatInfo = FormatInfo {
    family: "q5_k",
    methods: &["q5_k"],
    name_pattern: "q5_k",
    name_regex: r"^q5_k$",
    bits: &[5],
    blocking: Blocking::Blocks { elements: BLOCK, bytes: BLOCK_BYTES },
    row_multiple: BLOCK,
    row_fallback: Some("q5_1"),
    importance: true,
    gptq_target: true,
    gguf: Some(GgufType { name: "Q5_K", type_id: 13, file_type: 16 }),
    decode: "x̂ = (d·sc_j)·q − dmin·m_j",
    bits_per_weight: "5.5",
    summary: "GGUF Q5_K: super-blocks of 256, 5-bit values, eight 6-bit sub-block scales and mins, byte-identical to llama.cpp",
    parse_name: |name| (name == "q5_k").then_some(Ok(Scheme::Q5K)),
    from_method: |_, _| Ok(Scheme::Q5K),
};

/// The format (no parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Q5K;

const REF_SEARCH: MinSearch = MinSearch { rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: false };

/// Pack a super-block: its header (d, dmin, scales) and its levels.
pub fn write_block(p: &KParams, levels: &[u8; BLOCK], y: &mut [u8]) {
    y[..16].copy_from_slice(&p.header[..16]);
    let (qh, ql) = y[16..].split_at_mut(32);
    qh.fill(0);
    for c in 0..4 {
        for l in 0..32 {
            let (mut l1, mut l2) = (levels[64 * c + l], levels[64 * c + 32 + l]);
            if l1 > 15 {
                l1 -= 16;
                qh[l] |= 1 << (2 * c);
            }
            if l2 > 15 {
                l2 -= 16;
                qh[l] |= 2 << (2 * c);
            }
            ql[32 * c + l] = l1 | (l2 << 4);
        }
    }
}

/// Re-round every value with the stored parameters and write the block (the tail shared by
/// both searches).
fn finish_block(x: &[f32], levels: &mut [u8; BLOCK], p: &KParams, y: &mut [u8]) {
    requantize(x, p, levels);
    write_block(p, levels, y);
}

/// `quantize_row_q5_K_ref` for one super-block.
pub fn quantize_block_ref(x: &[f32], y: &mut [u8]) {
    let (p, mut levels) = k4_search_ref(x, 31, REF_SEARCH);
    finish_block(x, &mut levels, &p, y);
}

/// `quantize_row_q5_K_impl`'s search for one super-block (`qw`: its 256 importance
/// weights), up to the stored parameters: those parameters and the search's levels.
pub fn search_imp(x: &[f32], qw: &[f32]) -> (KParams, [u8; BLOCK]) {
    k4_search_imp(x, qw, 31, true)
}

/// `quantize_row_q5_K_impl` (with `quant_weights`) for one super-block.
pub fn quantize_block_imp(x: &[f32], qw: &[f32], y: &mut [u8]) {
    let (p, mut levels) = search_imp(x, qw);
    finish_block(x, &mut levels, &p, y);
}

/// GPTQ's parameters for a super-block (`gptq::kgrid`): the importance-weighted search's.
pub fn gptq_params(x: &[f32], qw: &[f32]) -> KParams {
    search_imp(x, qw).0
}

/// `dequantize_row_q5_K` for one super-block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = fp16_value(u16::from_le_bytes([y[0], y[1]]));
    let min = fp16_value(u16::from_le_bytes([y[2], y[3]]));
    let (scales, qh, ql) = (&y[4..16], &y[16..48], &y[48..]);
    for c in 0..4 {
        let (sc1, m1) = scale_min_k4(2 * c, scales);
        let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
        let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
        let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
        for l in 0..32 {
            let hi1 = if qh[l] & (1 << (2 * c)) != 0 { 16 } else { 0 };
            let hi2 = if qh[l] & (2 << (2 * c)) != 0 { 16 } else { 0 };
            out[64 * c + l] = d1 * ((ql[32 * c + l] & 0xF) + hi1) as f32 - m1;
            out[64 * c + 32 + l] = d2 * ((ql[32 * c + l] >> 4) + hi2) as f32 - m2;
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

impl GgufBlock for Q5K {
    fn info() -> &'static FormatInfo {
        &INFO
    }
    const BITS: u32 = 5;
    const BLOCK: usize = BLOCK;
    const BLOCK_BYTES: usize = BLOCK_BYTES;
    unsafe fn quantize(&self, isa: Isa, x: &[f32], codes: &mut [u8], importance: Option<&[f32]>, y: &mut [f32]) -> Result<(), usize> {
        // SAFETY: the caller checked `isa.is_available()`.
        unsafe { crate::simd::kquants::quantize_row(crate::simd::kquants::KQuant::Q5K, isa, x, importance, &mut *codes, &mut *y) }
            .unwrap_or_else(|| quantize_row_ref(x, importance, codes, y))
    }
    fn dequantize_block(y: &[u8], out: &mut [f32]) {
        dequantize_block(y, out)
    }
    /// Up the K family, then Q8_0.
    fn ladder(&self) -> Vec<Scheme> {
        vec![Scheme::Q6K, Scheme::Q8_0]
    }
    /// GPTQ inside the parameters of the importance-weighted search (`gptq::kgrid`).
    fn gptq_onto(&self, w: &[f32], rows: usize, cols: usize, prep: &Prepared, opts: &GptqOptions) -> Option<crate::Result<Quantized>> {
        Some(crate::gptq::kgrid::run(Scheme::Q5K, w, rows, cols, prep, opts))
    }
}
