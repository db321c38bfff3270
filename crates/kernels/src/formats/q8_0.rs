//! GGUF Q8_0: llama.cpp's 8-bit block format, byte-identical to `quantize_row_q8_0_ref`.
//!
//! - Elements per block: 32. Block bytes: 34 = f16 `d` (little-endian) + 32 × i8 `qs`.
//! - `amax = max|x|`, `d = amax / 127`, `id = 1/d` (0 when `d` is 0),
//!   `qs[j] = roundf(x[j] · id)` (round half away from zero, as C's `roundf`),
//!   `d` stored as f16 (round to nearest even). **`x̂ = d_f16 · qs`**.
//!   Note the codes are computed with the f32 `d`, the stored scale is its f16 rounding: that is
//!   llama.cpp's rule, kept for byte compatibility.
//! - Bits per weight: 8.5.
//! - Divergence: when `1/d` overflows (a block whose max is below ~1e-36), llama.cpp multiplies by
//!   infinity (undefined conversion); here such a block quantizes to zero with `d = 0`.

use super::ggml_blocks::GgufBlock;
use super::{Blocking, FormatInfo, GgufType, Scheme};
use crate::rtn::first_non_finite;
use crate::simd::Isa;
use half::f16;

pub static INFO: FormatInfo = FormatInfo {
    family: "q8_0",
    methods: &["q8_0"],
    name_pattern: "q8_0",
    name_regex: r"^q8_0$",
    bits: &[8],
    blocking: Blocking::Blocks { elements: BLOCK, bytes: BLOCK_BYTES },
    row_multiple: BLOCK,
    row_fallback: None,
    importance: false,
    gptq_target: false,
    gguf: Some(GgufType { name: "Q8_0", type_id: 8, file_type: 7 }),
    decode: "x̂ = d_f16 · qs",
    bits_per_weight: "8.5",
    summary: "GGUF Q8_0: blocks of 32, an f16 scale and 32 signed bytes, byte-identical to llama.cpp",
    parse_name: |name| (name == "q8_0").then_some(Ok(Scheme::Q8_0)),
    from_method: |_, _| Ok(Scheme::Q8_0),
};

/// The format (no parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Q8_0;

impl GgufBlock for Q8_0 {
    fn info() -> &'static FormatInfo {
        &INFO
    }
    const BITS: u32 = 8;
    const BLOCK: usize = BLOCK;
    const BLOCK_BYTES: usize = BLOCK_BYTES;
    unsafe fn quantize(&self, isa: Isa, x: &[f32], codes: &mut [u8], _: Option<&[f32]>, y: &mut [f32]) -> Result<(), usize> {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512 => unsafe { crate::simd::avx2::q8_0_row(x, codes, y) },
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => unsafe { crate::simd::neon::q8_0_row(x, codes, y) },
            _ => quantize_row_ref(x, codes, y),
        }
    }
    fn dequantize_block(y: &[u8], out: &mut [f32]) {
        dequantize_row(y, out)
    }
}

pub const BLOCK: usize = 32;
pub const BLOCK_BYTES: usize = 34;

/// C's `roundf`: nearest integer, halves away from zero.
#[inline(always)]
pub fn roundf(v: f32) -> f32 {
    v.round()
}

#[inline(always)]
pub fn block_scale(amax: f32) -> (f32, f32) {
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    (d, if id.is_finite() { id } else { 0.0 })
}

/// Scalar reference for one row (`x.len()` a multiple of 32), the decoded values into `y`.
/// Returns the offset of a non-finite input.
pub fn quantize_row_ref(x: &[f32], out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    for (b, ((blk, o), yb)) in x.chunks_exact(BLOCK).zip(out.chunks_exact_mut(BLOCK_BYTES)).zip(y.chunks_exact_mut(BLOCK)).enumerate() {
        if let Some(bad) = first_non_finite(blk) {
            return Err(b * BLOCK + bad);
        }
        let amax = blk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let (d, id) = block_scale(amax);
        let dh = f16::from_f32(d);
        o[..2].copy_from_slice(&dh.to_le_bytes());
        let ds = dh.to_f32();
        for (j, (&v, r)) in blk.iter().zip(yb.iter_mut()).enumerate() {
            let q = roundf(v * id) as i8;
            o[2 + j] = q as u8;
            *r = ds * q as f32;
        }
    }
    Ok(())
}

pub fn dequantize_row(blocks: &[u8], out: &mut [f32]) {
    for (blk, o) in blocks.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
        let d = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
        for (j, v) in o.iter_mut().enumerate() {
            *v = d * (blk[2 + j] as i8) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_block_matches_hand_computation() {
        let x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect(); // amax 16
        let mut out = [0u8; BLOCK_BYTES];
        quantize_row_ref(&x, &mut out, &mut [0.0; BLOCK]).unwrap();
        let d = f16::from_le_bytes([out[0], out[1]]).to_f32();
        assert_eq!(d, f16::from_f32(16.0 / 127.0).to_f32());
        assert_eq!(out[2] as i8, -127);
        assert_eq!(out[2 + 16] as i8, 0);
        // x = 1 → 1 · 127/16 = 7.9375 → 8
        assert_eq!(out[2 + 17] as i8, 8);
    }

    #[test]
    fn roundf_rounds_halves_away_from_zero() {
        assert_eq!(roundf(2.5), 3.0);
        assert_eq!(roundf(-2.5), -3.0);
        assert_eq!(roundf(0.49999997), 0.0);
    }
}
