//! GGUF Q4_0: llama.cpp's 4-bit block format, byte-identical to `quantize_row_q4_0_ref`.
//!
//! - Elements per block: 32. Block bytes: 18 = f16 `d` (little-endian) + 16 bytes of nibbles.
//! - `max` = the element of largest magnitude (the first one on ties, sign kept),
//!   `d = max / −8`, `id = 1/d` (0 when `d` is 0),
//!   `q[j] = min(15, trunc(x[j] · id + 8.5))`, **`x̂ = d_f16 · (q − 8)`**.
//! - Nibble order (llama.cpp's): byte `j` holds element `j` in its low nibble and element `j+16` in
//!   its high nibble.
//! - Bits per weight: 4.5.
//! - A block whose `1/d` overflows (largest magnitude below ~2e-38) is what ggml makes of it on
//!   x86-64: `x·id` is ±inf or NaN, the `(int8_t)` cast of `cvttss2si`'s `INT_MIN` keeps its low
//!   byte, so every code is 0 (and `d` reads 0).

use super::{Blocking, FormatInfo, GgufType, Scheme};
use super::ggml_blocks::{block_weights, quantize_row_blocks, row_sigma2, GgufBlock};
use super::ggml_search::{cvtt_i32, make_qx_quants};

use crate::rtn::first_non_finite;
use crate::simd::Isa;
use half::f16;

pub static INFO: FormatInfo = FormatInfo {
    family: "q4_0",
    methods: &["q4_0"],
    name_pattern: "q4_0",
    name_regex: r"^q4_0$",
    bits: &[4],
    blocking: Blocking::Blocks { elements: BLOCK, bytes: BLOCK_BYTES },
    row_multiple: BLOCK,
    row_fallback: None,
    importance: true,
    gptq_target: false,
    gguf: Some(GgufType { name: "Q4_0", type_id: 2, file_type: 2 }),
    decode: "x̂ = d_f16 · (q − 8)",
    bits_per_weight: "4.5",
    summary: "GGUF Q4_0: blocks of 32, an f16 scale and 16 bytes of nibbles, byte-identical to llama.cpp",
    parse_name: |name| (name == "q4_0").then_some(Ok(Scheme::Q4_0)),
    from_method: |_, _| Ok(Scheme::Q4_0),
};

/// The format (no parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Q4_0;

impl GgufBlock for Q4_0 {
    fn info() -> &'static FormatInfo {
        &INFO
    }
    const BITS: u32 = 4;
    const BLOCK: usize = BLOCK;
    const BLOCK_BYTES: usize = BLOCK_BYTES;
    unsafe fn quantize(&self, isa: Isa, x: &[f32], codes: &mut [u8], importance: Option<&[f32]>, y: &mut [f32]) -> Result<(), usize> {
        if let Some(qw) = importance {
            // SAFETY: the caller checked `isa.is_available()`.
            if let Some(r) = unsafe { crate::simd::kquants::quantize_row_legacy(crate::simd::kquants::Legacy::Q4_0, isa, x, qw, &mut *codes, &mut *y) } {
                return r;
            }
            return quantize_row_weighted(x, qw, codes, y);
        }
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512 => unsafe { crate::simd::avx2::q4_0_row(x, codes, y) },
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => unsafe { crate::simd::neon::q4_0_row(x, codes, y) },
            _ => quantize_row_ref(x, codes, y),
        }
    }
    fn dequantize_block(y: &[u8], out: &mut [f32]) {
        dequantize_row(y, out)
    }
    /// The next GGUF block formats of the legacy family.
    fn ladder(&self) -> Vec<Scheme> {
        vec![Scheme::Q5_0, Scheme::Q8_0]
    }
}

pub const BLOCK: usize = 32;
pub const BLOCK_BYTES: usize = 18;

#[inline(always)]
pub fn block_scale(max: f32) -> (f32, f32) {
    let d = max / -8.0;
    (d, if d != 0.0 { 1.0 / d } else { 0.0 })
}

/// The element rule (shared with SIMD tails): C's `MIN(15, (int8_t)(x·id + 8.5))` as x86-64 runs
/// it (truncation; out of range or NaN: the low byte of `INT_MIN`, 0).
#[inline(always)]
pub fn code(v: f32, id: f32) -> u8 {
    (cvtt_i32(v * id + 8.5) as i8 as i32).min(15) as u8
}

/// Signed value of largest magnitude; the first on ties.
#[inline(always)]
pub fn signed_absmax(blk: &[f32]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in blk {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// Scalar reference of a row (no importance): the blocks' bytes, the decoded values into `y`.
pub fn quantize_row_ref(x: &[f32], out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    for (b, ((blk, o), yb)) in x.chunks_exact(BLOCK).zip(out.chunks_exact_mut(BLOCK_BYTES)).zip(y.chunks_exact_mut(BLOCK)).enumerate() {
        if let Some(bad) = first_non_finite(blk) {
            return Err(b * BLOCK + bad);
        }
        let (d, id) = block_scale(signed_absmax(blk));
        let dh = f16::from_f32(d);
        o[..2].copy_from_slice(&dh.to_le_bytes());
        let ds = dh.to_f32();
        for j in 0..16 {
            let (q0, q1) = (code(blk[j], id), code(blk[j + 16], id));
            o[2 + j] = q0 | (q1 << 4);
            yb[j] = ds * (q0 as f32 - 8.0);
            yb[j + 16] = ds * (q1 as f32 - 8.0);
        }
    }
    Ok(())
}

/// `quantize_row_q4_0_impl` for one block: `make_qx_quants(8)` weighted by `w`.
pub fn quantize_block_weighted(x: &[f32], w: &[f32], y: &mut [u8]) {
    let mut l = [0i8; 32];
    let d = make_qx_quants(8, x, &mut l, Some(w));
    y[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    for j in 0..16 {
        y[2 + j] = (l[j] | (l[j + 16] << 4)) as u8;
    }
}

/// A row with importance `qw` (ggml's `quantize_q4_0` with `quant_weights`: `σ²` over the row).
pub fn quantize_row_weighted(x: &[f32], qw: &[f32], out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    let sigma2 = row_sigma2(x);
    let dequantize = |b: &[u8], o: &mut [f32]| dequantize_row(b, o);
    quantize_row_blocks(x, out, BLOCK, BLOCK_BYTES, |b, xb, yb| quantize_block_weighted(xb, &block_weights(xb, &qw[b * BLOCK..(b + 1) * BLOCK], sigma2), yb), dequantize, y)
}

pub fn dequantize_row(blocks: &[u8], out: &mut [f32]) {
    for (blk, o) in blocks.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
        let d = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
        for j in 0..16 {
            o[j] = d * ((blk[2 + j] & 0x0F) as f32 - 8.0);
            o[j + 16] = d * ((blk[2 + j] >> 4) as f32 - 8.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_magnitude_maps_to_code_zero_and_order_is_llama_cpp() {
        let mut x = [0.0f32; 32];
        x[3] = -4.0; // the signed max: d = 0.5, its code is 0
        x[20] = 2.0; // id = 1/0.5 = 2 → 2·2 + 8.5 = 12.5 → 12, and 0.5·(12 − 8) = 2
        let mut out = [0u8; BLOCK_BYTES];
        quantize_row_ref(&x, &mut out, &mut [0.0; BLOCK]).unwrap();
        assert_eq!(f16::from_le_bytes([out[0], out[1]]).to_f32(), 0.5);
        assert_eq!(out[2 + 3] & 0x0F, 0);
        assert_eq!(out[2 + 4] >> 4, 12); // element 20 lives in byte 4's high nibble
        assert_eq!(out[2] & 0x0F, 8); // zeros map to 8
    }

    #[test]
    fn ties_pick_the_first_element() {
        let mut x = [0.0f32; 32];
        x[1] = 3.0;
        x[5] = -3.0;
        assert_eq!(signed_absmax(&x), 3.0);
    }
}
