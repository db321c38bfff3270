//! GGUF Q5_1: llama.cpp's 5-bit block format with a minimum, byte-identical to ggml's
//! `quantize_row_q5_1_ref` and, with importance, `quantize_q5_1` with `quant_weights`.
//!
//! - Elements per block: 32. Block bytes: 24 = f16 `d`, f16 `m`, 4 bytes `qh` (the fifth bits,
//!   little-endian u32, bit `j` = element `j`), 16 bytes of low nibbles (as Q4_1).
//! - **`x̂ = q·d + m`**, `q` in 0..31.
//! - Reference: `d = (max − min)/31`, `q = trunc((x − min)·id + 0.5)` (no clamp, as the C).
//!   With importance as Q4_1 with `nmax` 31.
//! - Bits per weight: 6.

use super::ggml_blocks::{fifth_bits, five_bit_levels, pack_nibbles_32, quantize_row_legacy, GgufBlock};
use super::ggml_search::{cvtt_i32, fp16_bits, fp16_value, make_qkx_quants};
use super::q4_1::{min_max, IMP_SEARCH};
use super::{Blocking, FormatInfo, GgufType, Scheme};
use crate::simd::Isa;

pub const BLOCK: usize = 32;
pub const BLOCK_BYTES: usize = 24;

pub static INFO: FormatInfo = FormatInfo {
    family: "q5_1",
    methods: &["q5_1"],
    name_pattern: "q5_1",
    name_regex: r"^q5_1$",
    bits: &[5],
    blocking: Blocking::Blocks { elements: BLOCK, bytes: BLOCK_BYTES },
    row_multiple: BLOCK,
    row_fallback: None,
    importance: true,
    gptq_target: false,
    gguf: Some(GgufType { name: "Q5_1", type_id: 7, file_type: 9 }),
    decode: "x̂ = q·d + m",
    bits_per_weight: "6",
    summary: "GGUF Q5_1: blocks of 32, an f16 scale and minimum and 5-bit values, byte-identical to llama.cpp",
    parse_name: |name| (name == "q5_1").then_some(Ok(Scheme::Q5_1)),
    from_method: |_, _| Ok(Scheme::Q5_1),
};

/// The format (no parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Q5_1;

fn store(levels: &[u8; 32], y: &mut [u8]) {
    y[4..8].copy_from_slice(&fifth_bits(levels));
    pack_nibbles_32(levels, &mut y[8..24]);
}

/// `quantize_row_q5_1_ref` for one block.
pub fn quantize_block_ref(x: &[f32], y: &mut [u8]) {
    let (min, max) = min_max(x);
    let d = (max - min) / 31.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    y[0..2].copy_from_slice(&fp16_bits(d).to_le_bytes());
    y[2..4].copy_from_slice(&fp16_bits(min).to_le_bytes());
    let levels: [u8; 32] = std::array::from_fn(|j| cvtt_i32((x[j] - min) * id + 0.5) as u8);
    store(&levels, y);
}

/// `quantize_row_q5_1_impl` for one block: `w` are its element weights.
pub fn quantize_block_weighted(x: &[f32], w: &[f32], y: &mut [u8]) {
    let mut levels = [0u8; 32];
    let (d, the_min) = make_qkx_quants(31, x, w, &mut levels, IMP_SEARCH);
    y[0..2].copy_from_slice(&fp16_bits(d).to_le_bytes());
    y[2..4].copy_from_slice(&fp16_bits(-the_min).to_le_bytes());
    store(&levels, y);
}

/// `dequantize_row_q5_1` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = fp16_value(u16::from_le_bytes([y[0], y[1]]));
    let m = fp16_value(u16::from_le_bytes([y[2], y[3]]));
    for (o, &q) in out.iter_mut().zip(five_bit_levels(&y[8..24], &y[4..8]).iter()) {
        *o = q as f32 * d + m;
    }
}

/// Scalar reference of a row (`importance`: ggml's weighted search).
pub fn quantize_row_ref(x: &[f32], importance: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    quantize_row_legacy(x, importance, out, BLOCK_BYTES, quantize_block_ref, quantize_block_weighted, dequantize_block, y)
}

impl GgufBlock for Q5_1 {
    fn info() -> &'static FormatInfo {
        &INFO
    }
    const BITS: u32 = 5;
    const BLOCK: usize = BLOCK;
    const BLOCK_BYTES: usize = BLOCK_BYTES;
    unsafe fn quantize(&self, isa: Isa, x: &[f32], codes: &mut [u8], importance: Option<&[f32]>, y: &mut [f32]) -> Result<(), usize> {
        use crate::simd::kquants::{quantize_row_legacy, quantize_row_legacy_plain, Legacy};
        // SAFETY: the caller checked `isa.is_available()`.
        let simd = match importance {
            Some(qw) => unsafe { quantize_row_legacy(Legacy::Q5_1, isa, x, qw, &mut *codes, &mut *y) },
            None => unsafe { quantize_row_legacy_plain(Legacy::Q5_1, isa, x, &mut *codes, &mut *y) },
        };
        simd.unwrap_or_else(|| quantize_row_ref(x, importance, codes, y))
    }
    fn dequantize_block(y: &[u8], out: &mut [f32]) {
        dequantize_block(y, out)
    }
    fn ladder(&self) -> Vec<Scheme> {
        vec![Scheme::Q8_0]
    }
}
