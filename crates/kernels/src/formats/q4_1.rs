//! GGUF Q4_1: llama.cpp's 4-bit block format with a minimum, byte-identical to ggml's
//! `quantize_row_q4_1_ref` and, with importance, `quantize_q4_1` with `quant_weights`.
//!
//! - Elements per block: 32. Block bytes: 20 = f16 `d`, f16 `m` (little-endian), 16 bytes of
//!   nibbles (byte `j`: element `j` low, element `j+16` high).
//! - **`x̂ = q·d + m`**, `q` in 0..15.
//! - Reference: `d = (max − min)/15`, `id = 1/d` (0 when `d` is 0), `m = min`,
//!   `q = min(15, trunc((x − min)·id + 0.5))`. With importance: `w = qw·sqrt(σ² + x²)` with
//!   `σ² = Σx²/cols` over the whole row, `make_qkx3_quants(15, −0.9, 0.05, 36 steps)`.
//! - Bits per weight: 5.

use super::ggml_blocks::{pack_nibbles_32, quantize_row_legacy, GgufBlock};
use super::ggml_search::{cvtt_i32, fp16_bits, fp16_value, make_qkx_quants, MinSearch};
use super::{Blocking, FormatInfo, GgufType, Scheme};
use crate::simd::Isa;

pub const BLOCK: usize = 32;
pub const BLOCK_BYTES: usize = 20;

pub static INFO: FormatInfo = FormatInfo {
    family: "q4_1",
    methods: &["q4_1"],
    name_pattern: "q4_1",
    name_regex: r"^q4_1$",
    bits: &[4],
    blocking: Blocking::Blocks { elements: BLOCK, bytes: BLOCK_BYTES },
    row_multiple: BLOCK,
    row_fallback: None,
    importance: true,
    gptq_target: false,
    gguf: Some(GgufType { name: "Q4_1", type_id: 3, file_type: 3 }),
    decode: "x̂ = q·d + m",
    bits_per_weight: "5",
    summary: "GGUF Q4_1: blocks of 32, an f16 scale and minimum and 16 bytes of nibbles, byte-identical to llama.cpp",
    parse_name: |name| (name == "q4_1").then_some(Ok(Scheme::Q4_1)),
    from_method: |_, _| Ok(Scheme::Q4_1),
};

/// The format (no parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Q4_1;

pub(crate) const IMP_SEARCH: MinSearch = MinSearch { rmin: -0.9, rdelta: 0.05, nstep: 36, use_mad: false };

/// `(min, max)` as the C scans them (from ±FLT_MAX).
pub(crate) fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// `quantize_row_q4_1_ref` for one block.
pub fn quantize_block_ref(x: &[f32], y: &mut [u8]) {
    let (min, max) = min_max(x);
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    y[0..2].copy_from_slice(&fp16_bits(d).to_le_bytes());
    y[2..4].copy_from_slice(&fp16_bits(min).to_le_bytes());
    let levels: [u8; 32] = std::array::from_fn(|j| (cvtt_i32((x[j] - min) * id + 0.5) as i8 as i32).min(15) as u8);
    pack_nibbles_32(&levels, &mut y[4..20]);
}

/// `quantize_row_q4_1_impl` for one block: `w` are its element weights.
pub fn quantize_block_weighted(x: &[f32], w: &[f32], y: &mut [u8]) {
    let mut levels = [0u8; 32];
    let (d, the_min) = make_qkx_quants(15, x, w, &mut levels, IMP_SEARCH);
    y[0..2].copy_from_slice(&fp16_bits(d).to_le_bytes());
    y[2..4].copy_from_slice(&fp16_bits(-the_min).to_le_bytes());
    pack_nibbles_32(&levels, &mut y[4..20]);
}

/// `dequantize_row_q4_1` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = fp16_value(u16::from_le_bytes([y[0], y[1]]));
    let m = fp16_value(u16::from_le_bytes([y[2], y[3]]));
    for j in 0..16 {
        out[j] = (y[4 + j] & 0x0F) as f32 * d + m;
        out[j + 16] = (y[4 + j] >> 4) as f32 * d + m;
    }
}

/// Scalar reference of a row (`importance`: ggml's weighted search).
pub fn quantize_row_ref(x: &[f32], importance: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    quantize_row_legacy(x, importance, out, BLOCK_BYTES, quantize_block_ref, quantize_block_weighted, dequantize_block, y)
}

impl GgufBlock for Q4_1 {
    fn info() -> &'static FormatInfo {
        &INFO
    }
    const BITS: u32 = 4;
    const BLOCK: usize = BLOCK;
    const BLOCK_BYTES: usize = BLOCK_BYTES;
    unsafe fn quantize(&self, isa: Isa, x: &[f32], codes: &mut [u8], importance: Option<&[f32]>, y: &mut [f32]) -> Result<(), usize> {
        use crate::simd::kquants::{quantize_row_legacy, quantize_row_legacy_plain, Legacy};
        // SAFETY: the caller checked `isa.is_available()`.
        let simd = match importance {
            Some(qw) => unsafe { quantize_row_legacy(Legacy::Q4_1, isa, x, qw, &mut *codes, &mut *y) },
            None => unsafe { quantize_row_legacy_plain(Legacy::Q4_1, isa, x, &mut *codes, &mut *y) },
        };
        simd.unwrap_or_else(|| quantize_row_ref(x, importance, codes, y))
    }
    fn dequantize_block(y: &[u8], out: &mut [f32]) {
        dequantize_block(y, out)
    }
    fn ladder(&self) -> Vec<Scheme> {
        vec![Scheme::Q5_1, Scheme::Q8_0]
    }
}
