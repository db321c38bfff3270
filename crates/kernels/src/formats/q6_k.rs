//! GGUF Q6_K: llama.cpp's 6-bit K-quant, byte-identical to ggml's `quantize_row_q6_K_ref` and,
//! with importance, `quantize_q6_K` with `quant_weights`.
//!
//! - Elements per super-block: 256 = 16 sub-blocks of 16. Block bytes: 210 = 128 bytes `ql` (low
//!   nibbles), 64 bytes `qh` (high two bits), 16 signed 8-bit sub-block scales, f16 `d`.
//!   For each half `h` of 128 values and `l` in 0..32: `ql[64h + l]` holds values `128h + l`
//!   (low) and `128h + 64 + l` (high), `ql[64h + 32 + l]` values `128h + 32 + l` and
//!   `128h + 96 + l`; `qh[32h + l]` the high bits of the four at bits 0, 2, 4, 6.
//! - **`x̂ = (d·sc_j)·(q − 32)`**, `q` in 0..63.
//! - Search: per sub-block `make_qx_quants(nmax 32, rmse_type 1)` weighted by `x²` (or, with
//!   importance, by the importance itself), the sub-block scales to 8 bits against the largest
//!   magnitude (`d = max/−128`), then the values re-rounded with the stored scales.
//! - Bits per weight: 6.5625. Rows must be a multiple of 256 (llama.cpp falls back to Q8_0).

use super::ggml_blocks::{quantize_row_blocks, requantize, GgufBlock, KParams};
use super::ggml_search::{fp16_bits, fp16_value, make_qx_quants, nearest_int, GROUP_MAX_EPS};
use super::{Blocking, FormatInfo, GgufType, Scheme};
use crate::gptq::{GptqOptions, Prepared};
use crate::quantize::Quantized;
use crate::simd::Isa;

pub const BLOCK: usize = 256;
pub const BLOCK_BYTES: usize = 210;

pub static INFO: FormatInfo = FormatInfo {
    family: "q6_k",
    methods: &["q6_k"],
    name_pattern: "q6_k",
    name_regex: r"^q6_k$",
    bits: &[6],
    blocking: Blocking::Blocks { elements: BLOCK, bytes: BLOCK_BYTES },
    row_multiple: BLOCK,
    row_fallback: Some("q8_0"),
    importance: true,
    gptq_target: true,
    gguf: Some(GgufType { name: "Q6_K", type_id: 14, file_type: 18 }),
    decode: "x̂ = (d·sc_j)·(q − 32)",
    bits_per_weight: "6.5625",
    summary: "GGUF Q6_K: super-blocks of 256, sixteen 8-bit sub-block scales, byte-identical to llama.cpp",
    parse_name: |name| (name == "q6_k").then_some(Ok(Scheme::Q6K)),
    from_method: |_, _| Ok(Scheme::Q6K),
};

/// The format (no parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Q6K;

/// A block's parameters from its stored header bytes (scales 192..208, d 208..210).
fn params_of(y: &[u8]) -> KParams {
    let mut header = [0u8; 20];
    header[..18].copy_from_slice(&y[192..210]);
    let dd = fp16_value(u16::from_le_bytes([y[208], y[209]]));
    KParams { header, d: std::array::from_fn(|j| dd * y[192 + j] as i8 as f32), m: [0.0; 16], sub: 16, nmax: 63, offset: 32 }
}

/// Pack a super-block: its levels (low nibbles, high two bits) and its header.
pub fn write_block(p: &KParams, levels: &[u8; BLOCK], y: &mut [u8]) {
    let lv = |i: usize| levels[i];
    for h in 0..2 {
        let j = 128 * h;
        for l in 0..32 {
            let (q1, q2, q3, q4) = (lv(j + l) & 0xF, lv(j + l + 32) & 0xF, lv(j + l + 64) & 0xF, lv(j + l + 96) & 0xF);
            y[64 * h + l] = q1 | (q3 << 4);
            y[64 * h + l + 32] = q2 | (q4 << 4);
            y[128 + 32 * h + l] = (lv(j + l) >> 4) | ((lv(j + l + 32) >> 4) << 2) | ((lv(j + l + 64) >> 4) << 4) | ((lv(j + l + 96) >> 4) << 6);
        }
    }
    y[192..210].copy_from_slice(&p.header[..18]);
}

/// The search of one super-block (`quantize_row_q6_K_ref` with `qw = None`, `_impl` with
/// `quant_weights`) up to the stored parameters: the header written into `y` and the search's
/// levels; `None` for a block of (almost) zeros, which is stored as zeros.
fn search(x: &[f32], qw: Option<&[f32]>, y: &mut [u8]) -> Option<[u8; BLOCK]> {
    let mut levels = [0i8; BLOCK];
    let mut scales = [0f32; 16];
    let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
    for ib in 0..16 {
        let r = 16 * ib..16 * ib + 16;
        let scale = make_qx_quants(32, &x[r.clone()], &mut levels[r.clone()], qw.map(|w| &w[r]));
        scales[ib] = scale;
        if scale.abs() > max_abs_scale {
            max_abs_scale = scale.abs();
            max_scale = scale;
        }
    }
    if max_abs_scale < GROUP_MAX_EPS {
        return None;
    }
    let iscale = -128.0f32 / max_scale;
    y[208..210].copy_from_slice(&fp16_bits(1.0 / iscale).to_le_bytes());
    for ib in 0..16 {
        y[192 + ib] = nearest_int(iscale * scales[ib]).min(127) as i8 as u8;
    }
    Some(std::array::from_fn(|i| levels[i] as u8))
}

/// One super-block: `quantize_row_q6_K_ref` (`qw = None`) or `_impl` with `quant_weights`.
pub fn quantize_block(x: &[f32], qw: Option<&[f32]>, y: &mut [u8]) {
    let Some(mut levels) = search(x, qw, y) else {
        y[..BLOCK_BYTES].fill(0);
        return;
    };
    let p = params_of(y);
    requantize(x, &p, &mut levels);
    write_block(&p, &levels, y);
}

/// GPTQ's parameters for a super-block (`gptq::kgrid`): the importance-weighted search's (a
/// block of zeros: all scales 0).
pub fn gptq_params(x: &[f32], qw: &[f32]) -> KParams {
    let mut y = [0u8; BLOCK_BYTES];
    if search(x, Some(qw), &mut y).is_none() {
        y.fill(0);
    }
    params_of(&y)
}

/// `dequantize_row_q6_K` for one super-block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = fp16_value(u16::from_le_bytes([y[208], y[209]]));
    let (ql, qh, sc) = (&y[..128], &y[128..192], &y[192..208]);
    for h in 0..2 {
        for l in 0..32 {
            let is = l / 16;
            let qhl = qh[32 * h + l];
            let q1 = ((ql[64 * h + l] & 0xF) | ((qhl & 3) << 4)) as i8 - 32;
            let q2 = ((ql[64 * h + l + 32] & 0xF) | (((qhl >> 2) & 3) << 4)) as i8 - 32;
            let q3 = ((ql[64 * h + l] >> 4) | (((qhl >> 4) & 3) << 4)) as i8 - 32;
            let q4 = ((ql[64 * h + l + 32] >> 4) | (((qhl >> 6) & 3) << 4)) as i8 - 32;
            let s = |k: usize| sc[8 * h + is + k] as i8 as f32;
            out[128 * h + l] = d * s(0) * q1 as f32;
            out[128 * h + l + 32] = d * s(2) * q2 as f32;
            out[128 * h + l + 64] = d * s(4) * q3 as f32;
            out[128 * h + l + 96] = d * s(6) * q4 as f32;
        }
    }
}

/// Scalar reference of a row (`importance`: ggml's weighted search).
pub fn quantize_row_ref(x: &[f32], importance: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    quantize_row_blocks(x, out, BLOCK, BLOCK_BYTES, |b, xb, yb| quantize_block(xb, importance.map(|w| &w[b * BLOCK..(b + 1) * BLOCK]), yb), dequantize_block, y)
}

impl GgufBlock for Q6K {
    fn info() -> &'static FormatInfo {
        &INFO
    }
    const BITS: u32 = 6;
    const BLOCK: usize = BLOCK;
    const BLOCK_BYTES: usize = BLOCK_BYTES;
    unsafe fn quantize(&self, isa: Isa, x: &[f32], codes: &mut [u8], importance: Option<&[f32]>, y: &mut [f32]) -> Result<(), usize> {
        // SAFETY: the caller checked `isa.is_available()`.
        unsafe { crate::simd::kquants::quantize_row(crate::simd::kquants::KQuant::Q6K, isa, x, importance, &mut *codes, &mut *y) }
            .unwrap_or_else(|| quantize_row_ref(x, importance, codes, y))
    }
    fn dequantize_block(y: &[u8], out: &mut [f32]) {
        dequantize_block(y, out)
    }
    fn ladder(&self) -> Vec<Scheme> {
        vec![Scheme::Q8_0]
    }
    /// GPTQ inside the parameters of the importance-weighted search (`gptq::kgrid`).
    fn gptq_onto(&self, w: &[f32], rows: usize, cols: usize, prep: &Prepared, opts: &GptqOptions) -> Option<crate::Result<Quantized>> {
        Some(crate::gptq::kgrid::run(Scheme::Q6K, w, rows, cols, prep, opts))
    }
}
