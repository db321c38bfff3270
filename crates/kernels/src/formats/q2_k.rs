//! GGUF Q2_K: llama.cpp's 2-bit K-quant, byte-identical to ggml's `quantize_row_q2_K_ref` and,
//! with importance, `quantize_q2_K` with `quant_weights`.
//!
//! - Elements per super-block: 256 = 16 sub-blocks of 16. Block bytes: 84 = 16 bytes of 4-bit
//!   scale (low nibble) and min (high nibble) per sub-block, 64 bytes of 2-bit values
//!   (`ggml_blocks::pack_2bit_planes`), f16 `d`, f16 `dmin`.
//! - **`x̂ = (d·sc_j)·q − dmin·m_j`**, `q` in 0..3.
//! - Search, no importance: per sub-block, weights `|x|`, `make_qkx2_quants(nmax 3, rmin −0.5,
//!   rdelta 0.1, 15 steps)` scored by Σw|diff|; scales and mins to 4 bits against their maxima;
//!   values re-rounded. With importance: `w = qw·sqrt(σ² + x²)`, `σ² = Σx²/256`,
//!   `make_qkx3_quants(3, −0.9, 0.05, 36 steps)`, 4-bit scales and mins by `make_qp_quants(15)`.
//! - Bits per weight: 2.625. Rows must be a multiple of 256 (ArrowQuant falls back to Q4_0,
//!   the nearest 32-block type it has; llama.cpp uses IQ4_NL).

use super::ggml_blocks::{pack_2bit_planes, quantize_row_blocks, requantize, two_bits, GgufBlock, KParams};
use super::ggml_search::{fp16_bits, fp16_value, importance_weights, make_qkx_quants, make_qp_quants, nearest_int, sum_squares, MinSearch};
use super::{Blocking, FormatInfo, GgufType, Scheme};
use crate::gptq::{GptqOptions, Prepared};
use crate::quantize::Quantized;
use crate::simd::Isa;

pub const BLOCK: usize = 256;
pub const BLOCK_BYTES: usize = 84;

pub static INFO: FormatInfo = FormatInfo {
    family: "q2_k",
    methods: &["q2_k"],
    name_pattern: "q2_k",
    name_regex: r"^q2_k$",
    bits: &[2],
    blocking: Blocking::Blocks { elements: BLOCK, bytes: BLOCK_BYTES },
    row_multiple: BLOCK,
    row_fallback: Some("q4_0"),
    importance: true,
    gptq_target: true,
    gguf: Some(GgufType { name: "Q2_K", type_id: 10, file_type: 10 }),
    decode: "x̂ = (d·sc_j)·q − dmin·m_j",
    bits_per_weight: "2.625",
    summary: "GGUF Q2_K: super-blocks of 256, sixteen 4-bit sub-block scales and mins, byte-identical to llama.cpp",
    parse_name: |name| (name == "q2_k").then_some(Ok(Scheme::Q2K)),
    from_method: |_, _| Ok(Scheme::Q2K),
};

/// The format (no parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Q2K;

const REF_SEARCH: MinSearch = MinSearch { rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: true };
const IMP_SEARCH: MinSearch = MinSearch { rmin: -0.9, rdelta: 0.05, nstep: 36, use_mad: false };

/// A block's parameters from its stored header bytes (scales 0..16, d and dmin 80..84).
fn params_of(y: &[u8]) -> KParams {
    let mut header = [0u8; 20];
    header[..16].copy_from_slice(&y[..16]);
    header[16..20].copy_from_slice(&y[80..84]);
    let dd = fp16_value(u16::from_le_bytes([y[80], y[81]]));
    let dmin = fp16_value(u16::from_le_bytes([y[82], y[83]]));
    KParams {
        header,
        d: std::array::from_fn(|j| dd * (y[j] & 0xF) as f32),
        m: std::array::from_fn(|j| dmin * (y[j] >> 4) as f32),
        sub: 16,
        nmax: 3,
        offset: 0,
    }
}

/// Pack a super-block: its header and its levels.
pub fn write_block(p: &KParams, levels: &[u8; BLOCK], y: &mut [u8]) {
    y[..16].copy_from_slice(&p.header[..16]);
    y[80..84].copy_from_slice(&p.header[16..20]);
    pack_2bit_planes(levels, &mut y[16..80]);
}

/// Re-round the values with the stored parameters (sub-blocks whose scale reads 0 keep the
/// search's levels) and pack them.
fn finish_block(x: &[f32], levels: &mut [u8; BLOCK], y: &mut [u8]) {
    let p = params_of(y);
    requantize(x, &p, levels);
    write_block(&p, levels, y);
}

/// `quantize_row_q2_K_ref` for one super-block.
pub fn quantize_block_ref(x: &[f32], y: &mut [u8]) {
    let mut levels = [0u8; BLOCK];
    let (mut scales, mut mins) = ([0f32; 16], [0f32; 16]);
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    let mut weights = [0f32; 16];
    for j in 0..16 {
        let xs = &x[16 * j..16 * j + 16];
        for (w, &v) in weights.iter_mut().zip(xs) {
            *w = v.abs();
        }
        (scales[j], mins[j]) = make_qkx_quants(3, xs, &weights, &mut levels[16 * j..16 * j + 16], REF_SEARCH);
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    const Q4SCALE: f32 = 15.0;
    if max_scale > 0.0 {
        let iscale = Q4SCALE / max_scale;
        for j in 0..16 {
            y[j] = nearest_int(iscale * scales[j]) as u8;
        }
        y[80..82].copy_from_slice(&fp16_bits(max_scale / Q4SCALE).to_le_bytes());
    } else {
        y[..16].fill(0);
        y[80..82].copy_from_slice(&fp16_bits(0.0).to_le_bytes());
    }
    if max_min > 0.0 {
        let iscale = Q4SCALE / max_min;
        for j in 0..16 {
            y[j] |= (nearest_int(iscale * mins[j]) << 4) as u8;
        }
        y[82..84].copy_from_slice(&fp16_bits(max_min / Q4SCALE).to_le_bytes());
    } else {
        y[82..84].copy_from_slice(&fp16_bits(0.0).to_le_bytes());
    }
    finish_block(x, &mut levels, y);
}

/// `quantize_row_q2_K_impl`'s search for one super-block, up to the stored parameters: the
/// block's header written into `y`, and the search's levels.
fn search_imp(x: &[f32], qw: &[f32], y: &mut [u8]) -> [u8; BLOCK] {
    let mut levels = [0u8; BLOCK];
    let (mut scales, mut mins, mut sw) = ([0f32; 16], [0f32; 16], [0f32; 16]);
    let sigma2 = sum_squares(x) / BLOCK as f32;
    let mut weights = [0f32; 16];
    for j in 0..16 {
        let xs = &x[16 * j..16 * j + 16];
        importance_weights(&qw[16 * j..16 * j + 16], xs, sigma2, &mut weights);
        sw[j] = weights.iter().fold(0.0f32, |s, &w| s + w);
        (scales[j], mins[j]) = make_qkx_quants(3, xs, &weights, &mut levels[16 * j..16 * j + 16], IMP_SEARCH);
    }
    let (mut ls, mut lm) = ([0u8; 16], [0u8; 16]);
    let dm = make_qp_quants(15, &scales, &mut ls, &sw);
    let mm = make_qp_quants(15, &mins, &mut lm, &sw);
    y[80..82].copy_from_slice(&fp16_bits(dm).to_le_bytes());
    y[82..84].copy_from_slice(&fp16_bits(mm).to_le_bytes());
    for j in 0..16 {
        y[j] = ls[j] | (lm[j] << 4);
    }
    levels
}

/// `quantize_row_q2_K_impl` (with `quant_weights`) for one super-block.
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

/// `dequantize_row_q2_K` for one super-block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = fp16_value(u16::from_le_bytes([y[80], y[81]]));
    let min = fp16_value(u16::from_le_bytes([y[82], y[83]]));
    let qs = &y[16..80];
    for (i, o) in out.iter_mut().enumerate().take(BLOCK) {
        let sc = y[i / 16];
        let (dl, ml) = (d * (sc & 0xF) as f32, min * (sc >> 4) as f32);
        *o = dl * two_bits(qs, i) as f32 - ml;
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

impl GgufBlock for Q2K {
    fn info() -> &'static FormatInfo {
        &INFO
    }
    const BITS: u32 = 2;
    const BLOCK: usize = BLOCK;
    const BLOCK_BYTES: usize = BLOCK_BYTES;
    unsafe fn quantize(&self, isa: Isa, x: &[f32], codes: &mut [u8], importance: Option<&[f32]>, y: &mut [f32]) -> Result<(), usize> {
        // SAFETY: the caller checked `isa.is_available()`.
        unsafe { crate::simd::kquants::quantize_row(crate::simd::kquants::KQuant::Q2K, isa, x, importance, &mut *codes, &mut *y) }
            .unwrap_or_else(|| quantize_row_ref(x, importance, codes, y))
    }
    fn dequantize_block(y: &[u8], out: &mut [f32]) {
        dequantize_block(y, out)
    }
    fn ladder(&self) -> Vec<Scheme> {
        vec![Scheme::Q3K, Scheme::Q4K, Scheme::Q5K, Scheme::Q6K, Scheme::Q8_0]
    }
    /// GPTQ inside the parameters of the importance-weighted search (`gptq::kgrid`).
    fn gptq_onto(&self, w: &[f32], rows: usize, cols: usize, prep: &Prepared, opts: &GptqOptions) -> Option<crate::Result<Quantized>> {
        Some(crate::gptq::kgrid::run(Scheme::Q2K, w, rows, cols, prep, opts))
    }
}
