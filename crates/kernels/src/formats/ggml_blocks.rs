//! What the GGUF block formats share: the row driver (non-finite check, block loop, the decoded
//! blocks handed over) and the bit layouts several formats use (2-bit planes of Q2_K/Q3_K, the
//! 6-bit scale/min pairs of Q4_K/Q5_K, the fifth-bit word of Q5_0/Q5_1).

use super::ggml_search::{fp16_bits, fp16_value, importance_weights, make_qkx_quants, make_qp_quants, nearest_int, sum_squares, MinSearch};
use super::{Format, FormatInfo, RowContext, RowLayout, RowOut, Scheme};
use crate::gptq::{GptqOptions, Prepared};
use crate::quantize::Quantized;
use crate::simd::Isa;
use crate::rtn::first_non_finite;

/// What is particular to one GGUF block format. The rest of its [`Format`] — canonical name,
/// layout (whole blocks per row, no separate scales), the file's group size, decoding block by
/// block — is the same for every one of them and comes from the blanket impl below.
pub trait GgufBlock: Sync {
    fn info() -> &'static FormatInfo;
    const BITS: u32;
    /// Values per block, and its bytes.
    const BLOCK: usize;
    const BLOCK_BYTES: usize;
    /// Quantize a row of whole blocks with the kernel for `isa` (importance: the search's
    /// per-column weights, where the format uses them), the decoded values into `y`
    /// (`dequantize_block`'s, bit for bit). Errors as [`Format::quantize_row`]'s.
    ///
    /// # Safety
    /// `isa.is_available()` must be true.
    unsafe fn quantize(&self, isa: Isa, x: &[f32], codes: &mut [u8], importance: Option<&[f32]>, y: &mut [f32]) -> Result<(), usize>;
    /// One block's values.
    fn dequantize_block(y: &[u8], out: &mut [f32]);
    /// The quality-gate ladder above the format.
    fn ladder(&self) -> Vec<Scheme> {
        Vec::new()
    }
    /// GPTQ onto the format's grid, where it is a GPTQ target.
    fn gptq_onto(&self, _w: &[f32], _rows: usize, _cols: usize, _prep: &Prepared, _opts: &GptqOptions) -> Option<crate::Result<Quantized>> {
        None
    }
}

impl<T: GgufBlock> Format for T {
    fn info(&self) -> &'static FormatInfo {
        T::info()
    }
    fn name(&self) -> String {
        T::info().family.into()
    }
    fn bits(&self) -> u32 {
        T::BITS
    }
    fn group_size(&self) -> usize {
        T::BLOCK
    }
    fn row_layout(&self, cols: usize) -> RowLayout {
        RowLayout { code_bytes: cols / T::BLOCK * T::BLOCK_BYTES, scales: 0, zeros: 0 }
    }
    unsafe fn quantize_row(&self, isa: Isa, x: &[f32], out: RowOut<'_>, ctx: &RowContext<'_>, y: &mut [f32]) -> Result<(), usize> {
        // SAFETY: forwarded from the caller.
        unsafe { self.quantize(isa, x, out.codes, ctx.importance, y) }
    }
    fn dequantize_row(&self, codes: &[u8], _: &[f32], _: &[u8], _: f32, out: &mut [f32]) {
        dequantize_row_blocks(codes, out, T::BLOCK, T::BLOCK_BYTES, T::dequantize_block)
    }
    fn fallback(&self) -> Vec<Scheme> {
        self.ladder()
    }
    fn gptq(&self, w: &[f32], rows: usize, cols: usize, prep: &Prepared, opts: &GptqOptions) -> Option<crate::Result<Quantized>> {
        self.gptq_onto(w, rows, cols, prep, opts)
    }
}

/// Quantize a row of whole blocks with `quantize(block index, values, block bytes)`, each block
/// decoded into `y` by `dequantize` (so `y` is what a reader gets from the bytes written).
/// Returns the offset of the first non-finite value.
pub fn quantize_row_blocks(
    x: &[f32],
    out: &mut [u8],
    block: usize,
    block_bytes: usize,
    mut quantize: impl FnMut(usize, &[f32], &mut [u8]),
    dequantize: impl Fn(&[u8], &mut [f32]),
    y: &mut [f32],
) -> Result<(), usize> {
    if let Some(bad) = first_non_finite(x) {
        return Err(bad);
    }
    for (b, ((xb, ob), yb)) in x.chunks_exact(block).zip(out.chunks_exact_mut(block_bytes)).zip(y.chunks_exact_mut(block)).enumerate() {
        quantize(b, xb, ob);
        dequantize(ob, yb);
    }
    Ok(())
}

/// The legacy formats' importance weights of one block of 32: `w = qw·sqrt(σ² + x²)`, with `σ²`
/// the row's (their `quantize_row_*_impl`).
pub fn block_weights(x: &[f32], qw: &[f32], sigma2: f32) -> [f32; 32] {
    let mut w = [0f32; 32];
    importance_weights(qw, x, sigma2, &mut w);
    w
}

/// `σ² = Σx²/cols` over the whole row (the legacy formats' `quantize_row_*_impl`).
pub fn row_sigma2(x: &[f32]) -> f32 {
    sum_squares(x) / x.len() as f32
}

/// A row of a legacy block format (blocks of 32): `reference` per block, or, with importance,
/// `weighted` with each block's weights from the row's `σ²`.
#[allow(clippy::too_many_arguments)]
pub fn quantize_row_legacy(
    x: &[f32],
    importance: Option<&[f32]>,
    out: &mut [u8],
    block_bytes: usize,
    reference: impl Fn(&[f32], &mut [u8]),
    weighted: impl Fn(&[f32], &[f32], &mut [u8]),
    dequantize: impl Fn(&[u8], &mut [f32]),
    y: &mut [f32],
) -> Result<(), usize> {
    let sigma2 = importance.map(|_| row_sigma2(x));
    let quantize = |b: usize, xb: &[f32], yb: &mut [u8]| match (importance, sigma2) {
        (Some(qw), Some(s2)) => weighted(xb, &block_weights(xb, &qw[32 * b..32 * (b + 1)], s2), yb),
        _ => reference(xb, yb),
    };
    quantize_row_blocks(x, out, 32, block_bytes, quantize, dequantize, y)
}

/// Decode a row of whole blocks.
pub fn dequantize_row_blocks(codes: &[u8], out: &mut [f32], block: usize, block_bytes: usize, dequantize: impl Fn(&[u8], &mut [f32])) {
    for (cb, ob) in codes.chunks_exact(block_bytes).zip(out.chunks_exact_mut(block)) {
        dequantize(cb, ob);
    }
}

/// Q2_K/Q3_K's low two bits of 256 levels: byte `32·(j/128)/… ` — for each half of 128 values,
/// byte `l` holds levels `l`, `l+32`, `l+64`, `l+96` at bit offsets 0, 2, 4, 6.
pub fn pack_2bit_planes(levels: &[u8; 256], qs: &mut [u8]) {
    for j in (0..256).step_by(128) {
        for l in 0..32 {
            qs[j / 4 + l] = levels[j + l] | (levels[j + l + 32] << 2) | (levels[j + l + 64] << 4) | (levels[j + l + 96] << 6);
        }
    }
}

/// The two bits of value `i` (0..256) in [`pack_2bit_planes`]' layout.
#[inline(always)]
pub fn two_bits(qs: &[u8], i: usize) -> u8 {
    let (half, r) = (i / 128, i % 128);
    (qs[32 * half + r % 32] >> (2 * (r / 32))) & 3
}

/// Q4_K/Q5_K: eight 6-bit scales and mins in 12 bytes (ggml's layout: the first four of each
/// whole, the high two bits of the last four in the top bits of the first eight bytes).
pub fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for j in 0..8 {
        if j < 4 {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4);
            s[j - 4] |= (ls[j] >> 4) << 6;
            s[j] |= (lm[j] >> 4) << 6;
        }
    }
    s
}

/// ggml's `get_scale_min_k4`: sub-block `j`'s 6-bit (scale, min).
#[inline(always)]
pub fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Q5_0/Q5_1: the fifth bits of 32 levels as a little-endian u32 (bit `j` = level `j`).
#[inline(always)]
pub fn fifth_bits(levels: &[u8; 32]) -> [u8; 4] {
    let mut qh = 0u32;
    for (j, &l) in levels.iter().enumerate() {
        qh |= (((l & 0x10) >> 4) as u32) << j;
    }
    qh.to_le_bytes()
}

/// Q5_0/Q5_1's 32 levels from nibbles (`qs[j]`: level `j` low, level `j+16` high) and `qh`.
#[inline(always)]
pub fn five_bit_levels(qs: &[u8], qh: &[u8]) -> [u8; 32] {
    let qh = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    let mut l = [0u8; 32];
    for j in 0..16 {
        l[j] = (qs[j] & 0x0F) | ((((qh >> j) << 4) & 0x10) as u8);
        l[j + 16] = (qs[j] >> 4) | (((qh >> (j + 12)) & 0x10) as u8);
    }
    l
}

/// Nibbles of 32 levels: byte `j` holds level `j` low and level `j+16` high (Q4_0/Q4_1/Q5_x).
#[inline(always)]
pub fn pack_nibbles_32(levels: &[u8; 32], qs: &mut [u8]) {
    for j in 0..16 {
        qs[j] = (levels[j] & 0x0F) | ((levels[j + 16] & 0x0F) << 4);
    }
}

/// A K-quant super-block's parameters as GPTQ rounds inside them: the block's stored header
/// bytes, and per sub-block the decoded scale `d_j` (and min `m_j`) exactly as the dequantizer
/// computes them, so `decode` reproduces the file's values bit for bit.
#[derive(Clone, Copy, Debug)]
pub struct KParams {
    /// The block's bytes that are not levels (d, dmin, scales), in the format's own order.
    pub header: [u8; 20],
    pub d: [f32; 16],
    pub m: [f32; 16],
    /// Values per sub-block (16 or 32).
    pub sub: usize,
    /// Largest level.
    pub nmax: i32,
    /// Level offset of symmetric formats (`x̂ = d_j·(q − offset)`, Q3_K 4, Q6_K 32); 0 for the
    /// affine ones (`x̂ = d_j·q − m_j`).
    pub offset: i32,
}

impl KParams {
    /// The level of `x` at position `i` of the super-block: the formats' own re-rounding rule (a
    /// sub-block whose scale reads 0 takes the level that decodes to its constant).
    #[inline]
    pub fn encode(&self, i: usize, x: f32) -> u8 {
        let j = i / self.sub;
        let d = self.d[j];
        if d == 0.0 {
            return self.offset as u8;
        }
        if self.offset == 0 {
            nearest_int((x + self.m[j]) / d).clamp(0, self.nmax) as u8
        } else {
            (nearest_int(x / d).clamp(-self.offset, self.nmax - self.offset) + self.offset) as u8
        }
    }
    #[inline]
    pub fn decode(&self, i: usize, q: u8) -> f32 {
        let j = i / self.sub;
        if self.offset == 0 {
            self.d[j] * q as f32 - self.m[j]
        } else {
            self.d[j] * (q as i32 - self.offset) as f32
        }
    }
}

/// Q4_K/Q5_K parameters from the 6-bit codes and the f32 super-block scales: the 16-byte header
/// (f16 `d`, f16 `dmin`, packed scales and mins) and each sub-block's `d·sc_j`, `dmin·m_j`.
pub fn k4_params(ls: &[u8; 8], lm: &[u8; 8], d: f32, dmin: f32, nmax: i32) -> KParams {
    let mut header = [0u8; 20];
    let (db, mb) = (fp16_bits(d), fp16_bits(dmin));
    header[0..2].copy_from_slice(&db.to_le_bytes());
    header[2..4].copy_from_slice(&mb.to_le_bytes());
    header[4..16].copy_from_slice(&pack_scale_min_k4(ls, lm));
    let (dd, dm) = (fp16_value(db), fp16_value(mb));
    let (mut ds, mut ms) = ([0f32; 16], [0f32; 16]);
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, &header[4..16]);
        ds[j] = dd * sc as f32;
        ms[j] = dm * m as f32;
    }
    KParams { header, d: ds, m: ms, sub: 32, nmax, offset: 0 }
}

/// Q4_K/Q5_K's reference search (`quantize_row_q4_K_ref`/`q5_K_ref` up to the stored parameters):
/// per sub-block of 32, weights `av_x + |x|` and `make_qkx2_quants(nmax, search)`; the sub-block
/// scales and mins to 6 bits against their maxima. The parameters and the search's levels.
pub fn k4_search_ref(x: &[f32], nmax: i32, search: MinSearch) -> (KParams, [u8; 256]) {
    let mut levels = [0u8; 256];
    let (mut scales, mut mins) = ([0f32; 8], [0f32; 8]);
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    let mut weights = [0f32; 32];
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let av_x = (sum_squares(xs) / 32.0).sqrt();
        for (w, &v) in weights.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        (scales[j], mins[j]) = make_qkx_quants(nmax, xs, &weights, &mut levels[32 * j..32 * j + 32], search);
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    // `uint8_t ls = nearest_int(...)` wraps, then MIN(63, ls).
    let ls: [u8; 8] = std::array::from_fn(|j| (nearest_int(inv_scale * scales[j]) as u8).min(63));
    let lm: [u8; 8] = std::array::from_fn(|j| (nearest_int(inv_min * mins[j]) as u8).min(63));
    (k4_params(&ls, &lm, max_scale / 63.0, max_min / 63.0, nmax), levels)
}

/// Q4_K/Q5_K's importance-weighted search (`quantize_row_q4_K_impl`/`q5_K_impl` up to the stored
/// parameters; `qw`: the super-block's 256 importance weights): `w = qw·sqrt(σ² + x²)` with
/// `σ² = 2·Σx²/256`, `make_qkx3_quants(nmax, −0.9, 0.05, 36 steps)`, then the 6-bit scales and mins
/// by `make_qp_quants(63)` weighted by each sub-block's Σw. `clamp_codes`: Q5_K's impl clamps the
/// codes to 63 (Q4_K's does not).
pub fn k4_search_imp(x: &[f32], qw: &[f32], nmax: i32, clamp_codes: bool) -> (KParams, [u8; 256]) {
    const SEARCH: MinSearch = MinSearch { rmin: -0.9, rdelta: 0.05, nstep: 36, use_mad: false };
    let mut levels = [0u8; 256];
    let (mut scales, mut mins, mut sw) = ([0f32; 8], [0f32; 8], [0f32; 8]);
    let sigma2 = 2.0 * sum_squares(x) / 256.0;
    let mut weights = [0f32; 32];
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        importance_weights(&qw[32 * j..32 * j + 32], xs, sigma2, &mut weights);
        sw[j] = weights.iter().fold(0.0f32, |s, &w| s + w);
        (scales[j], mins[j]) = make_qkx_quants(nmax, xs, &weights, &mut levels[32 * j..32 * j + 32], SEARCH);
    }
    let (mut ls, mut lm) = ([0u8; 8], [0u8; 8]);
    let d_block = make_qp_quants(63, &scales, &mut ls, &sw);
    let m_block = make_qp_quants(63, &mins, &mut lm, &sw);
    if clamp_codes {
        ls.iter_mut().chain(lm.iter_mut()).for_each(|l| *l = (*l).min(63));
    }
    (k4_params(&ls, &lm, d_block, m_block, nmax), levels)
}

/// Re-round a super-block's values with its stored parameters, as ggml does after the search:
/// sub-blocks whose scale reads 0 keep the search's levels.
pub fn requantize(x: &[f32], p: &KParams, levels: &mut [u8; 256]) {
    for j in 0..256 / p.sub {
        if p.d[j] == 0.0 {
            continue;
        }
        for i in p.sub * j..p.sub * (j + 1) {
            levels[i] = p.encode(i, x[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_bit_planes_round_trip() {
        let levels: [u8; 256] = std::array::from_fn(|i| ((i * 7 + i / 13) % 4) as u8);
        let mut qs = [0u8; 64];
        pack_2bit_planes(&levels, &mut qs);
        for (i, &l) in levels.iter().enumerate() {
            assert_eq!(two_bits(&qs, i), l, "{i}");
        }
    }

    #[test]
    fn scale_min_pairs_round_trip() {
        let ls: [u8; 8] = std::array::from_fn(|j| (j * 9 % 64) as u8);
        let lm: [u8; 8] = std::array::from_fn(|j| (63 - j * 5) as u8);
        let s = pack_scale_min_k4(&ls, &lm);
        for j in 0..8 {
            assert_eq!(scale_min_k4(j, &s), (ls[j], lm[j]));
        }
    }

    #[test]
    fn five_bit_levels_round_trip() {
        let levels: [u8; 32] = std::array::from_fn(|j| (j * 11 % 32) as u8);
        let mut qs = [0u8; 16];
        pack_nibbles_32(&levels, &mut qs);
        assert_eq!(five_bit_levels(&qs, &fifth_bits(&levels)), levels);
    }
}
