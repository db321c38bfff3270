//! GGUF Q3_K: llama.cpp's 3-bit K-quant, byte-identical to ggml's `quantize_row_q3_K_ref` and,
//! with importance, `quantize_q3_K` with `quant_weights`.
//!
//! - Elements per super-block: 256 = 16 sub-blocks of 16. Block bytes: 110 = 32 bytes `hmask`
//!   (the third bit: value `j` in bit `j / 32` of byte `j mod 32`), 64 bytes of the low two bits
//!   (`ggml_blocks::pack_2bit_planes`), 12 bytes of sixteen 6-bit signed scales (low nibbles in
//!   bytes 0..8, two high bits per scale in bytes 8..12), f16 `d`.
//! - **`x̂ = (d·(sc_j − 32))·(q − 4)`**, `q` in 0..7.
//! - Search, no importance: per sub-block `make_q3_quants(nmax 4)` (coordinate descent weighted by
//!   `x²`), the scales to 6 bits against the largest magnitude (`d = max/−32`), values re-rounded.
//!   With importance: `w = qw·sqrt(σ² + x²)`, `σ² = 2·Σx²/256`, `make_qx_quants(4)` per sub-block
//!   and `make_qx_quants(32)` for the scales, weighted by each sub-block's Σw.
//! - Bits per weight: 3.4375. Rows must be a multiple of 256 (ArrowQuant falls back to Q4_0).

use super::ggml_blocks::{pack_2bit_planes, quantize_row_blocks, requantize, two_bits, GgufBlock, KParams};
use super::ggml_search::{fp16_bits, fp16_value, importance_weights, make_q3_quants, make_qx_quants, nearest_int, sum_squares};
use super::{Blocking, FormatInfo, GgufType, Scheme};
use crate::gptq::{GptqOptions, Prepared};
use crate::quantize::Quantized;
use crate::simd::Isa;

pub const BLOCK: usize = 256;
pub const BLOCK_BYTES: usize = 110;

pub static INFO: FormatInfo = FormatInfo {
    family: "q3_k",
    methods: &["q3_k"],
    name_pattern: "q3_k",
    name_regex: r"^q3_k$",
    bits: &[3],
    blocking: Blocking::Blocks { elements: BLOCK, bytes: BLOCK_BYTES },
    row_multiple: BLOCK,
    row_fallback: Some("q4_0"),
    importance: true,
    gptq_target: true,
    gguf: Some(GgufType { name: "Q3_K", type_id: 11, file_type: 11 }),
    decode: "x̂ = (d·(sc_j − 32))·(q − 4)",
    bits_per_weight: "3.4375",
    summary: "GGUF Q3_K: super-blocks of 256, sixteen 6-bit sub-block scales, byte-identical to llama.cpp",
    parse_name: |name| (name == "q3_k").then_some(Ok(Scheme::Q3K)),
    from_method: |_, _| Ok(Scheme::Q3K),
};

/// The format (no parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Q3K;

const SCALES: std::ops::Range<usize> = 96..108;

/// Store sub-block `j`'s 6-bit scale code `l` (0..63) as the C does.
fn store_scale(s: &mut [u8], j: usize, l: i32) {
    if j < 8 {
        s[j] = (l & 0xF) as u8;
    } else {
        s[j - 8] |= ((l & 0xF) << 4) as u8;
    }
    s[j % 4 + 8] |= ((l >> 4) << (2 * (j / 4))) as u8;
}

/// Sub-block `j`'s signed scale (−32..31).
#[inline(always)]
pub fn scale(s: &[u8], j: usize) -> i8 {
    let lo = if j < 8 { s[j] & 0xF } else { s[j - 8] >> 4 };
    ((lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) as i8).wrapping_sub(32)
}

/// A block's parameters from its stored header bytes (scales 96..108, d 108..110).
fn params_of(y: &[u8]) -> KParams {
    let mut header = [0u8; 20];
    header[..14].copy_from_slice(&y[96..110]);
    let dd = fp16_value(u16::from_le_bytes([y[108], y[109]]));
    KParams { header, d: std::array::from_fn(|j| dd * scale(&y[SCALES], j) as f32), m: [0.0; 16], sub: 16, nmax: 7, offset: 4 }
}

/// Pack a super-block: its header (scales, d), the third bits into `hmask`, the low two bits.
pub fn write_block(p: &KParams, levels: &[u8; BLOCK], y: &mut [u8]) {
    y[96..110].copy_from_slice(&p.header[..14]);
    let hmask = &mut y[..32];
    hmask.fill(0);
    let mut low = *levels;
    for (j, l) in low.iter_mut().enumerate() {
        if *l > 3 {
            hmask[j % 32] |= 1 << (j / 32);
            *l -= 4;
        }
    }
    pack_2bit_planes(&low, &mut y[32..96]);
}

/// Re-round with the stored scales and write the block.
fn finish_block(x: &[f32], levels: &mut [u8; BLOCK], y: &mut [u8]) {
    let p = params_of(y);
    requantize(x, &p, levels);
    write_block(&p, levels, y);
}

/// Sub-block levels from a search that returns `int8_t` levels already offset by `nmax` (0..7).
fn as_levels(l: &[i8; BLOCK]) -> [u8; BLOCK] {
    std::array::from_fn(|i| l[i] as u8)
}

/// `quantize_row_q3_K_ref` for one super-block.
pub fn quantize_block_ref(x: &[f32], y: &mut [u8]) {
    let mut l8 = [0i8; BLOCK];
    let mut scales = [0f32; 16];
    let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
    for j in 0..16 {
        scales[j] = make_q3_quants(4, &x[16 * j..16 * j + 16], &mut l8[16 * j..16 * j + 16]);
        if scales[j].abs() > amax {
            amax = scales[j].abs();
            max_scale = scales[j];
        }
    }
    y[SCALES].fill(0);
    if max_scale != 0.0 {
        let iscale = -32.0f32 / max_scale;
        for j in 0..16 {
            // `int8_t l = nearest_int(...)` wraps, then is clamped and offset.
            let l = (nearest_int(iscale * scales[j]) as i8 as i32).clamp(-32, 31) + 32;
            store_scale(&mut y[SCALES], j, l);
        }
        y[108..110].copy_from_slice(&fp16_bits(1.0 / iscale).to_le_bytes());
    } else {
        y[108..110].copy_from_slice(&fp16_bits(0.0).to_le_bytes());
    }
    let mut levels = as_levels(&l8);
    finish_block(x, &mut levels, y);
}

/// `quantize_row_q3_K_impl`'s search for one super-block, up to the stored parameters: the
/// block's header written into `y`, and the search's levels.
fn search_imp(x: &[f32], qw: &[f32], y: &mut [u8]) -> [u8; BLOCK] {
    let mut l8 = [0i8; BLOCK];
    let (mut scales, mut sw) = ([0f32; 16], [0f32; 16]);
    let sigma2 = 2.0 * sum_squares(x) / BLOCK as f32;
    let mut weights = [0f32; 16];
    for j in 0..16 {
        let xs = &x[16 * j..16 * j + 16];
        importance_weights(&qw[16 * j..16 * j + 16], xs, sigma2, &mut weights);
        sw[j] = weights.iter().fold(0.0f32, |s, &w| s + w);
        scales[j] = make_qx_quants(4, xs, &mut l8[16 * j..16 * j + 16], Some(&weights));
    }
    y[SCALES].fill(0);
    let mut ls = [0i8; 16];
    let d_block = make_qx_quants(32, &scales, &mut ls, Some(&sw));
    for (j, &l) in ls.iter().enumerate() {
        store_scale(&mut y[SCALES], j, l as i32);
    }
    y[108..110].copy_from_slice(&fp16_bits(d_block).to_le_bytes());
    as_levels(&l8)
}

/// `quantize_row_q3_K_impl` (with `quant_weights`) for one super-block.
pub fn quantize_block_imp(x: &[f32], qw: &[f32], y: &mut [u8]) {
    let mut levels = search_imp(x, qw, y);
    finish_block(x, &mut levels, y);
}

/// GPTQ's parameters for a super-block (`gptq::kgrid`): the importance-weighted search's.
pub fn gptq_params(x: &[f32], qw: &[f32]) -> KParams {
    let mut y = [0u8; BLOCK_BYTES];
    search_imp(x, qw, &mut y);
    params_of(&y)
}

/// `dequantize_row_q3_K` for one super-block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d_all = fp16_value(u16::from_le_bytes([y[108], y[109]]));
    let (hmask, qs, s) = (&y[..32], &y[32..96], &y[SCALES]);
    for (i, o) in out.iter_mut().enumerate().take(BLOCK) {
        let dl = d_all * scale(s, i / 16) as f32;
        let high = if hmask[i % 32] & (1 << (i / 32)) != 0 { 0 } else { 4 };
        *o = dl * (two_bits(qs, i) as i32 - high) as f32;
    }
}

/// Scalar reference of a row (`importance`: ggml's weighted search).
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

impl GgufBlock for Q3K {
    fn info() -> &'static FormatInfo {
        &INFO
    }
    const BITS: u32 = 3;
    const BLOCK: usize = BLOCK;
    const BLOCK_BYTES: usize = BLOCK_BYTES;
    unsafe fn quantize(&self, isa: Isa, x: &[f32], codes: &mut [u8], importance: Option<&[f32]>, y: &mut [f32]) -> Result<(), usize> {
        // SAFETY: the caller checked `isa.is_available()`.
        unsafe { crate::simd::kquants::quantize_row(crate::simd::kquants::KQuant::Q3K, isa, x, importance, &mut *codes, &mut *y) }
            .unwrap_or_else(|| quantize_row_ref(x, importance, codes, y))
    }
    fn dequantize_block(y: &[u8], out: &mut [f32]) {
        dequantize_block(y, out)
    }
    fn ladder(&self) -> Vec<Scheme> {
        vec![Scheme::Q4K, Scheme::Q5K, Scheme::Q6K, Scheme::Q8_0]
    }
    /// GPTQ inside the parameters of the importance-weighted search (`gptq::kgrid`).
    fn gptq_onto(&self, w: &[f32], rows: usize, cols: usize, prep: &Prepared, opts: &GptqOptions) -> Option<crate::Result<Quantized>> {
        Some(crate::gptq::kgrid::run(Scheme::Q3K, w, rows, cols, prep, opts))
    }
}
