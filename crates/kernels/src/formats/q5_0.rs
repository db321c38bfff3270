//! GGUF Q5_0: llama.cpp's 5-bit block format, byte-identical to ggml's `quantize_row_q5_0_ref`
//! and, with importance, `quantize_q5_0` with `quant_weights`.
//!
//! - Elements per block: 32. Block bytes: 22 = f16 `d`, 4 bytes `qh` (fifth bits, little-endian
//!   u32, bit `j` = element `j`), 16 bytes of low nibbles (byte `j`: element `j` low, `j+16` high).
//! - **`x̂ = (q − 16)·d`**, `q` in 0..31.
//! - Reference: `max` = the element of largest magnitude (first on ties, sign kept),
//!   `d = max/−16`, `id = 1/d` (0 when `d` is 0), `q = min(31, trunc(x·id + 16.5))`. With
//!   importance: `w = qw·sqrt(σ² + x²)`, `σ² = Σx²/cols` over the row, `make_qx_quants(16)`.
//! - Bits per weight: 5.5.

use super::ggml_blocks::{fifth_bits, five_bit_levels, pack_nibbles_32, quantize_row_legacy, GgufBlock};
use super::ggml_search::{cvtt_i32, fp16_bits, fp16_value, make_qx_quants};
use super::q4_0::signed_absmax;
use super::{Blocking, FormatInfo, GgufType, Scheme};
use crate::simd::Isa;

pub const BLOCK: usize = 32;
pub const BLOCK_BYTES: usize = 22;

pub static INFO: FormatInfo = FormatInfo {
    family: "q5_0",
    methods: &["q5_0"],
    name_pattern: "q5_0",
    name_regex: r"^q5_0$",
    bits: &[5],
    blocking: Blocking::Blocks { elements: BLOCK, bytes: BLOCK_BYTES },
    row_multiple: BLOCK,
    row_fallback: None,
    importance: true,
    gptq_target: false,
    gguf: Some(GgufType { name: "Q5_0", type_id: 6, file_type: 8 }),
    decode: "x̂ = (q − 16)·d",
    bits_per_weight: "5.5",
    summary: "GGUF Q5_0: blocks of 32, an f16 scale and 5-bit values, byte-identical to llama.cpp",
    parse_name: |name| (name == "q5_0").then_some(Ok(Scheme::Q5_0)),
    from_method: |_, _| Ok(Scheme::Q5_0),
};

/// The format (no parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Q5_0;

fn store(levels: &[u8; 32], y: &mut [u8]) {
    y[2..6].copy_from_slice(&fifth_bits(levels));
    pack_nibbles_32(levels, &mut y[6..22]);
}

/// `quantize_row_q5_0_ref` for one block.
pub fn quantize_block_ref(x: &[f32], y: &mut [u8]) {
    let d = signed_absmax(x) / -16.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    y[0..2].copy_from_slice(&fp16_bits(d).to_le_bytes());
    let levels: [u8; 32] = std::array::from_fn(|j| (cvtt_i32(x[j] * id + 16.5) as i8 as i32).min(31) as u8);
    store(&levels, y);
}

/// `quantize_row_q5_0_impl` for one block: `w` are its element weights.
pub fn quantize_block_weighted(x: &[f32], w: &[f32], y: &mut [u8]) {
    let mut l = [0i8; 32];
    let d = make_qx_quants(16, x, &mut l, Some(w));
    y[0..2].copy_from_slice(&fp16_bits(d).to_le_bytes());
    store(&std::array::from_fn(|j| l[j] as u8), y);
}

/// `dequantize_row_q5_0` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = fp16_value(u16::from_le_bytes([y[0], y[1]]));
    for (o, &q) in out.iter_mut().zip(five_bit_levels(&y[6..22], &y[2..6]).iter()) {
        *o = (q as i32 - 16) as f32 * d;
    }
}

/// Scalar reference of a row (`importance`: ggml's weighted search).
pub fn quantize_row_ref(x: &[f32], importance: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    quantize_row_legacy(x, importance, out, BLOCK_BYTES, quantize_block_ref, quantize_block_weighted, dequantize_block, y)
}

impl GgufBlock for Q5_0 {
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
            Some(qw) => unsafe { quantize_row_legacy(Legacy::Q5_0, isa, x, qw, &mut *codes, &mut *y) },
            None => unsafe { quantize_row_legacy_plain(Legacy::Q5_0, isa, x, &mut *codes, &mut *y) },
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
