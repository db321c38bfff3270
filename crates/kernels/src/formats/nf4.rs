//! NF4: 4-bit NormalFloat with the bitsandbytes code book, absmax scale per block.
//!
//! - Elements per block: 64 consecutive elements of a row (the last block of a row may be shorter;
//!   with a row length divisible by 64 this is exactly bitsandbytes' flat blockwise layout).
//! - `absmax = max|x|`, `v = x / absmax`, `q` = index of the code-book entry nearest to `v`
//!   (bitsandbytes' decision thresholds, the midpoints between entries, compared with `>`),
//!   **`x̂ = NF4[q] · absmax`**.
//! - Packing (bitsandbytes'): the first element of each pair in the **high** nibble.
//! - Storage per block: 32 code bytes + one f32 absmax. Bits per weight: 4 + 32/64 = 4.5.

// The code book and thresholds are quoted digit for digit from bitsandbytes.
#![allow(clippy::excessive_precision)]

use super::{Blocking, Format, FormatInfo, RowContext, RowLayout, RowOut, RtnSpec, Scheme};
use crate::rtn::first_non_finite;
use crate::simd::Isa;

pub static INFO: FormatInfo = FormatInfo {
    family: "nf4",
    methods: &["nf4"],
    name_pattern: "nf4",
    name_regex: r"^nf4$",
    bits: &[4],
    blocking: Blocking::FixedGroups { elements: BLOCK },
    row_multiple: 1,
    row_fallback: None,
    importance: false,
    gptq_target: false,
    gguf: None,
    decode: "x̂ = NF4[q] · absmax",
    bits_per_weight: "4.5",
    summary: "4-bit NormalFloat, bitsandbytes' code book, an absmax per block of 64",
    parse_name: |name| (name == "nf4").then_some(Ok(Scheme::Nf4)),
    from_method: |_, _| Ok(Scheme::Nf4),
};

/// The format (no parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nf4;

impl Format for Nf4 {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }
    fn name(&self) -> String {
        INFO.family.into()
    }
    fn bits(&self) -> u32 {
        4
    }
    fn group_size(&self) -> usize {
        BLOCK
    }
    fn row_layout(&self, cols: usize) -> RowLayout {
        RowLayout { code_bytes: row_code_bytes(cols), scales: cols.div_ceil(BLOCK), zeros: 0 }
    }
    unsafe fn quantize_row(&self, isa: Isa, x: &[f32], out: RowOut<'_>, _: &RowContext<'_>, y: &mut [f32]) -> Result<(), usize> {
        match isa {
            #[cfg(target_arch = "x86_64")]
            // No AVX-512 kernel: an AVX-512 CPU runs the AVX2 one.
            Isa::Avx2 | Isa::Avx512 => unsafe { quantize_row_avx2(x, out.codes, out.scales, y) },
            _ => quantize_row_ref(x, out.codes, out.scales, y),
        }
    }
    fn dequantize_row(&self, codes: &[u8], scales: &[f32], _: &[u8], _: f32, out: &mut [f32]) {
        dequantize_row(codes, scales, out)
    }
    /// The 8-bit integer grid with the same block size.
    fn fallback(&self) -> Vec<Scheme> {
        vec![Scheme::Rtn(RtnSpec { bits: 8, group: BLOCK, symmetric: false })]
    }
}

pub const BLOCK: usize = 64;

/// bitsandbytes' NF4 code book (quantiles of N(0,1) normalised to [−1, 1], with an exact zero).
pub const CODE_BOOK: [f32; 16] = [
    -1.0,
    -0.696_192_800_998_687_7,
    -0.525_073_051_452_636_7,
    -0.394_917_488_098_144_53,
    -0.284_441_381_692_886_35,
    -0.184_773_430_228_233_34,
    -0.091_050_036_251_544_95,
    0.0,
    0.079_580_299_556_255_34,
    0.160_930_201_411_247_25,
    0.246_112_301_945_686_34,
    0.337_915_241_718_292_24,
    0.440_709_829_330_444_34,
    0.562_617_003_917_694_1,
    0.722_956_836_223_602_3,
    1.0,
];

/// bitsandbytes' `dQuantizeNF4` thresholds (midpoints between neighbouring entries), ascending.
pub const THRESHOLDS: [f32; 15] = [
    -0.848_096_400_499_343_9,
    -0.610_632_926_225_662_2,
    -0.459_995_269_775_390_6,
    -0.339_679_434_895_515_44,
    -0.234_607_405_960_559_84,
    -0.137_911_739_233_136_18,
    -0.045_525_018_125_772_476,
    0.039_790_149_778_127_67,
    0.120_255_250_483_751_3,
    0.203_521_251_678_466_8,
    0.292_013_771_831_989_3,
    0.389_312_535_524_368_3,
    0.501_663_416_624_069_2,
    0.642_786_920_070_648_2,
    0.861_478_418_111_801_1,
];

#[inline(always)]
pub fn block_inv(absmax: f32) -> f32 {
    let inv = 1.0 / absmax;
    if inv.is_finite() {
        inv
    } else {
        0.0
    }
}

/// Code of a normalised value: how many thresholds it exceeds (the decision tree, flattened).
#[inline(always)]
pub fn code(v: f32) -> u8 {
    THRESHOLDS.iter().map(|&t| (v > t) as u8).sum()
}

pub fn row_code_bytes(cols: usize) -> usize {
    let full = cols / BLOCK;
    full * BLOCK / 2 + (cols % BLOCK).div_ceil(2)
}

/// Scalar reference (also the production path: written so the compiler vectorizes the code
/// search and the decoding; see `quantize_row` for the AVX2 build of the same code): codes, one
/// absmax per block, the decoded values into `y`.
pub fn quantize_row_ref(x: &[f32], codes: &mut [u8], scales: &mut [f32], y: &mut [f32]) -> Result<(), usize> {
    quantize_row_body(x, codes, scales, y)
}

/// The same code compiled for AVX2 (`#[target_feature]` multiversioning, chosen at run time).
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub unsafe fn quantize_row_avx2(x: &[f32], codes: &mut [u8], scales: &mut [f32], y: &mut [f32]) -> Result<(), usize> {
    quantize_row_body(x, codes, scales, y)
}

#[inline(always)]
fn quantize_row_body(x: &[f32], codes: &mut [u8], scales: &mut [f32], y: &mut [f32]) -> Result<(), usize> {
    let mut off = 0;
    for (b, (blk, yb)) in x.chunks(BLOCK).zip(y.chunks_mut(BLOCK)).enumerate() {
        if let Some(bad) = first_non_finite(blk) {
            return Err(b * BLOCK + bad);
        }
        let absmax = blk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let inv = block_inv(absmax);
        let mut q = [0u8; BLOCK];
        for (qi, &v) in q.iter_mut().zip(blk) {
            *qi = code(v * inv);
        }
        for (o, &qi) in yb.iter_mut().zip(&q) {
            *o = CODE_BOOK[qi as usize] * absmax;
        }
        for pair in q[..blk.len()].chunks(2) {
            codes[off] = (pair[0] << 4) | pair.get(1).copied().unwrap_or(0);
            off += 1;
        }
        scales[b] = absmax;
    }
    Ok(())
}

pub fn dequantize_row(codes: &[u8], scales: &[f32], out: &mut [f32]) {
    let mut off = 0;
    for (b, blk) in out.chunks_mut(BLOCK).enumerate() {
        for pair in blk.chunks_mut(2) {
            let byte = codes[off];
            pair[0] = CODE_BOOK[(byte >> 4) as usize] * scales[b];
            if let Some(v) = pair.get_mut(1) {
                *v = CODE_BOOK[(byte & 0x0F) as usize] * scales[b];
            }
            off += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_midpoints_of_the_code_book() {
        for i in 0..15 {
            let mid = (CODE_BOOK[i] + CODE_BOOK[i + 1]) / 2.0;
            assert!((mid - THRESHOLDS[i]).abs() < 1e-6, "threshold {i}");
        }
    }

    #[test]
    fn code_book_entries_map_to_themselves() {
        for (i, &c) in CODE_BOOK.iter().enumerate() {
            assert_eq!(code(c) as usize, i);
        }
    }

    #[test]
    fn first_element_goes_to_high_nibble() {
        let mut x = vec![0.0f32; 64];
        x[0] = 1.0;
        x[1] = -1.0;
        let mut codes = vec![0u8; 32];
        let mut scales = vec![0.0f32; 1];
        quantize_row_ref(&x, &mut codes, &mut scales, &mut [0.0; 64]).unwrap();
        assert_eq!(codes[0], 0xF0);
        assert_eq!(codes[1], 0x77);
        assert_eq!(scales[0], 1.0);
    }
}
