//! INT8 per output channel (per row), symmetric, two's-complement codes.
//!
//! - Elements per block: one whole row (output channel) of the `[rows, cols]` weight.
//! - `scale = max|x| / 127`, `q = clamp(rne(x / scale), −127, 127)` stored as i8,
//!   **`x̂ = q · scale`**. This is RTN symmetric 8-bit with the group spanning the row, and it
//!   shares its parameter and element rules (`rtn::group_params`, `rtn::quantize_one`).
//! - Bits per weight: 8 + 32/cols.

use super::{Blocking, Format, FormatInfo, RowContext, RowLayout, RowOut, Scheme};
use crate::rtn::{dequantize_one, first_non_finite, group_params, quantize_one};
use crate::simd::Isa;

pub static INFO: FormatInfo = FormatInfo {
    family: "int8_channel",
    methods: &["int8_channel"],
    name_pattern: "int8_channel",
    name_regex: r"^int8_channel$",
    bits: &[8],
    blocking: Blocking::PerRow,
    row_multiple: 1,
    row_fallback: None,
    importance: false,
    gptq_target: false,
    gguf: None,
    decode: "x̂ = q · scale, q signed",
    bits_per_weight: "8 + 32/cols",
    summary: "symmetric 8-bit integers, one scale per output channel",
    parse_name: |name| (name == "int8_channel").then_some(Ok(Scheme::Int8PerChannel)),
    from_method: |_, _| Ok(Scheme::Int8PerChannel),
};

/// The format (no parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int8Channel;

impl Format for Int8Channel {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }
    fn name(&self) -> String {
        INFO.family.into()
    }
    fn bits(&self) -> u32 {
        8
    }
    fn group_size(&self) -> usize {
        0
    }
    fn row_layout(&self, cols: usize) -> RowLayout {
        RowLayout { code_bytes: cols, scales: 1, zeros: 0 }
    }
    unsafe fn quantize_row(&self, isa: Isa, x: &[f32], out: RowOut<'_>, _: &RowContext<'_>, y: &mut [f32]) -> Result<(), usize> {
        if isa == Isa::Scalar {
            return quantize_row_ref(x, out.codes, &mut out.scales[0], y);
        }
        // RTN symmetric 8-bit with one group spanning the row, then offset-binary → i8. RTN's
        // `(q − 128)·scale` is the `q_i8·scale` decoded here (the same integer times the scale).
        crate::rtn::row_simd(isa, 8, x.len().max(1), true, x, out.codes, out.scales, &mut [], y)?;
        out.codes.iter_mut().for_each(|c| *c ^= 0x80);
        Ok(())
    }
    fn dequantize_row(&self, codes: &[u8], scales: &[f32], _: &[u8], _: f32, out: &mut [f32]) {
        dequantize_row(codes, scales[0], out)
    }
}

/// Scalar reference of a row: codes, the row's scale, the decoded values into `y`.
pub fn quantize_row_ref(x: &[f32], codes: &mut [u8], scale: &mut f32, y: &mut [f32]) -> Result<(), usize> {
    if let Some(bad) = first_non_finite(x) {
        return Err(bad);
    }
    let min = x.iter().copied().fold(f32::INFINITY, f32::min);
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let p = group_params(8, true, min, max);
    for ((c, o), &v) in codes.iter_mut().zip(y.iter_mut()).zip(x) {
        let q = quantize_one(&p, v);
        *o = dequantize_one(p.scale, p.zero, q);
        *c = (q as u8) ^ 0x80; // offset-binary → two's complement
    }
    *scale = p.scale;
    Ok(())
}

pub fn dequantize_row(codes: &[u8], scale: f32, out: &mut [f32]) {
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = (c as i8) as f32 * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_map_to_plus_minus_127() {
        let x = [-2.0f32, 0.0, 1.0, 2.0, 0.5];
        let mut codes = [0u8; 5];
        let mut scale = 0.0;
        quantize_row_ref(&x, &mut codes, &mut scale, &mut [0.0; 5]).unwrap();
        assert_eq!(scale, 2.0 / 127.0);
        let q: Vec<i8> = codes.iter().map(|&c| c as i8).collect();
        assert_eq!(q, vec![-127, 0, 64, 127, 32]);
    }
}
