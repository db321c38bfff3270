//! Group codecs: the formats whose every group is "fit parameters to the group, then map each
//! element to the nearest of a few levels" (RTN, HQQ, R2Q). One trait lets the plain row
//! quantizer and GPTQ (which refits a group's parameters on the error-updated weights at each
//! group start) share the same encode/decode rules, so a GPTQ result decodes exactly like the
//! plain format it targets.
//!
//! Storage of a row, for every codec: codes packed per group with `crate::pack` at `bits()`
//! (each group starts on a byte boundary), then `scales_per_group()` f32 values per group in the
//! scales buffer, and `zeros_per_group()` u8 values per group in the zero-points buffer.

use super::RowLayout;
use crate::pack::{pack, packed_len, unpack_one};

pub trait GroupCodec: Sync {
    type Params: Copy + Send + Sync;
    fn bits(&self) -> u32;
    fn group(&self) -> usize;
    fn scales_per_group(&self) -> usize;
    fn zeros_per_group(&self) -> usize;
    /// Parameters for one group of finite values.
    fn fit(&self, x: &[f32]) -> Self::Params;
    /// The code of the level nearest to `x` (ties as the format's comment says).
    fn encode(&self, p: &Self::Params, x: f32) -> u8;
    fn decode(&self, p: &Self::Params, code: u8) -> f32;
    /// Write `p` to `scales` (length `scales_per_group`) and `zeros` (length `zeros_per_group`).
    fn store(&self, p: &Self::Params, scales: &mut [f32], zeros: &mut [u8]);
    /// Read back what `store` wrote.
    fn load(&self, scales: &[f32], zeros: &[u8]) -> Self::Params;

    /// Parameters for group `index` of a row (its columns start at `index · group()`): codecs
    /// whose fit weighs columns differently (the K-quants' importance) need to know which.
    fn fit_group(&self, x: &[f32], _index: usize) -> Self::Params {
        self.fit(x)
    }
    /// The code of `x` at position `i` within its group (formats whose sub-blocks carry their own
    /// scales need the position).
    fn encode_at(&self, p: &Self::Params, _i: usize, x: f32) -> u8 {
        self.encode(p, x)
    }
    fn decode_at(&self, p: &Self::Params, _i: usize, code: u8) -> f32 {
        self.decode(p, code)
    }
    /// Code bytes of a group of `n` values.
    fn group_code_bytes(&self, n: usize) -> usize {
        packed_len(n, self.bits())
    }
    /// Write one group: its codes (`codes`: `group_code_bytes` bytes) and its parameters.
    fn write_group(&self, p: &Self::Params, q: &[u8], codes: &mut [u8], scales: &mut [f32], zeros: &mut [u8]) {
        pack(self.bits(), q, codes);
        self.store(p, scales, zeros);
    }

    fn groups_per_row(&self, cols: usize) -> usize {
        cols.div_ceil(self.group())
    }
    fn row_code_bytes(&self, cols: usize) -> usize {
        let (g, b) = (self.group(), self.bits());
        (cols / g) * packed_len(g, b) + packed_len(cols % g, b)
    }
}

/// A row's buffer sizes for a codec.
pub fn row_layout<C: GroupCodec>(codec: &C, cols: usize) -> RowLayout {
    let g = codec.groups_per_row(cols);
    RowLayout { code_bytes: codec.row_code_bytes(cols), scales: g * codec.scales_per_group(), zeros: g * codec.zeros_per_group() }
}

/// Scalar quantizer of one row through a codec, its decoded values into `y` (decoded from the
/// parameters as `store` wrote them, so they are [`dequantize_row`]'s bit for bit). Returns the
/// offset of a non-finite input.
pub fn quantize_row<C: GroupCodec>(codec: &C, x: &[f32], codes: &mut [u8], scales: &mut [f32], zeros: &mut [u8], y: &mut [f32]) -> std::result::Result<(), usize> {
    let (g, bits) = (codec.group(), codec.bits());
    let (sp, zp) = (codec.scales_per_group(), codec.zeros_per_group());
    let mut q = vec![0u8; g];
    let mut code_off = 0;
    for (k, (grp, yg)) in x.chunks(g).zip(y.chunks_mut(g)).enumerate() {
        if let Some(bad) = grp.iter().position(|v| !v.is_finite()) {
            return Err(k * g + bad);
        }
        let p = codec.fit(grp);
        for (qi, &v) in q.iter_mut().zip(grp) {
            *qi = codec.encode(&p, v);
        }
        let nb = packed_len(grp.len(), bits);
        pack(bits, &q[..grp.len()], &mut codes[code_off..code_off + nb]);
        code_off += nb;
        let (s, z) = (&mut scales[k * sp..(k + 1) * sp], &mut zeros[k * zp..(k + 1) * zp]);
        codec.store(&p, s, z);
        let stored = codec.load(s, z);
        for (o, &qi) in yg.iter_mut().zip(&q) {
            *o = codec.decode(&stored, qi);
        }
    }
    Ok(())
}

/// Decode one row written by [`quantize_row`] (or by GPTQ onto the same codec).
pub fn dequantize_row<C: GroupCodec>(codec: &C, codes: &[u8], scales: &[f32], zeros: &[u8], out: &mut [f32]) {
    let (g, bits) = (codec.group(), codec.bits());
    let (sp, zp) = (codec.scales_per_group(), codec.zeros_per_group());
    let mut code_off = 0;
    for (k, grp) in out.chunks_mut(g).enumerate() {
        let p = codec.load(&scales[k * sp..(k + 1) * sp], &zeros[k * zp..(k + 1) * zp]);
        let nb = packed_len(grp.len(), bits);
        let packed = &codes[code_off..code_off + nb];
        for (i, o) in grp.iter_mut().enumerate() {
            *o = codec.decode(&p, unpack_one(bits, packed, i));
        }
        code_off += nb;
    }
}

/// Quantize `x` as one row and decode it again (for the formats' tests): the decoded values,
/// checked equal bit for bit to those the quantizer handed over, and their quality in f64.
#[cfg(test)]
pub(crate) fn roundtrip<C: GroupCodec>(codec: &C, x: &[f32]) -> (Vec<f32>, crate::quality::QualityAcc) {
    let g = codec.groups_per_row(x.len());
    let mut codes = vec![0; codec.row_code_bytes(x.len())];
    let mut scales = vec![0.0; g * codec.scales_per_group()];
    let mut zeros = vec![0; g * codec.zeros_per_group()];
    let mut handed = vec![0.0; x.len()];
    quantize_row(codec, x, &mut codes, &mut scales, &mut zeros, &mut handed).unwrap();
    let mut y = vec![0.0; x.len()];
    dequantize_row(codec, &codes, &scales, &zeros, &mut y);
    assert_eq!(handed.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "the quantizer's values are the decoder's");
    let mut acc = crate::quality::QualityAcc::default();
    x.iter().zip(&y).for_each(|(&a, &b)| acc.add(a, b));
    (y, acc)
}
