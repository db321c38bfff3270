//! SIMD kernels of the GGUF K-quants (Q2_K…Q6_K), bit-identical to the scalar references in
//! `formats::q*_k` (and so to ggml's C), with and without importance; and of the legacy GGUF block
//! formats' importance searches (Q4_0, Q4_1, Q5_0, Q5_1) and plain rounding (Q4_1, Q5_0, Q5_1),
//! in `legacy.rs`.
//!
//! Shape of every kernel, per row:
//! 1. **Search** (the costly part): ggml's per-sub-block parameter search, one sub-block per
//!    lane. The sub-blocks of a row are taken [`F32s::N`] at a time and transposed (element `i`
//!    of every lane is one vector; `F32s::load_transposed`), then `search.rs` runs the
//!    reference's operations lane by lane. The lane type is a [`Pair`] (or a pair of pairs) of the
//!    ISA's vector, so two or four independent dependency chains hide the latency of the serial
//!    sums. NaN/Inf inputs are detected in these transposes and reported as the reference does.
//! 2. **Super-block parameters**: the reference's code on the sub-block results (max, 6-bit or
//!    4-bit codes, f16 rounding); with importance, `make_qp_quants`/`make_qx_quants` over each
//!    super-block's scales run in lanes too (one super-block per lane).
//! 3. **Levels and bytes**: each value re-rounded with the stored parameters (contiguous values
//!    of one sub-block per vector), packed, and the values the bytes decode to stored into the
//!    row's `y` (the dequantizer's operations, so its bits).
//!
//! A super-block whose search could leave the exact range of the fast rounding (`bad` lanes; only
//! absurd inputs) is redone with the scalar reference. The algorithms are written once over
//! [`F32s`] and instantiated for AVX2, AVX-512 and NEON by `#[target_feature]` entry points; the
//! tests also run them on portable lanes (`quantize_row_portable`).

mod legacy;
mod q2k;
mod q3k;
mod q45k;
mod q6k;
mod search;

use crate::simd::lanes::{F32s, Mask, Pair};
use crate::simd::Isa;

/// The K-quant formats with SIMD kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KQuant {
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
}

/// Quantize one row (a whole number of 256-value super-blocks) of `kind` with the kernel for
/// `isa`, as `formats::q*_k::quantize_row_ref` would (bytes and decoded values `y`, bit for bit).
/// `None` where `isa` has no kernel (scalar).
///
/// # Safety
/// `isa.is_available()` must hold.
pub unsafe fn quantize_row(kind: KQuant, isa: Isa, x: &[f32], importance: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Option<Result<(), usize>> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(unsafe { entry::avx2(kind, x, importance, out, y) }),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(unsafe { entry::avx512(kind, x, importance, out, y) }),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => Some(unsafe { entry::neon(kind, x, importance, out, y) }),
        _ => None,
    }
}

pub use legacy::Legacy;

/// Quantize one row of a legacy block format (`Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`) with per-column
/// importance `qw`, as the format's scalar reference would; `None` where `isa` has no kernel.
///
/// # Safety
/// `isa.is_available()` must hold.
pub unsafe fn quantize_row_legacy(kind: Legacy, isa: Isa, x: &[f32], qw: &[f32], out: &mut [u8], y: &mut [f32]) -> Option<Result<(), usize>> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(unsafe { entry::avx2_legacy(kind, x, qw, out, y) }),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(unsafe { entry::avx512_legacy(kind, x, qw, out, y) }),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => Some(unsafe { entry::neon_legacy(kind, x, qw, out, y) }),
        _ => None,
    }
}

/// `quantize_row_ref` of Q4_1, Q5_0 or Q5_1 (no importance) with the kernel for `isa`; `None`
/// where `isa` has none (and for Q4_0, whose kernels are `simd::avx2`/`simd::neon`).
///
/// # Safety
/// `isa.is_available()` must hold.
pub unsafe fn quantize_row_legacy_plain(kind: Legacy, isa: Isa, x: &[f32], out: &mut [u8], y: &mut [f32]) -> Option<Result<(), usize>> {
    if kind == Legacy::Q4_0 {
        return None;
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(unsafe { entry::avx2_legacy_plain(kind, x, out, y) }),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(unsafe { entry::avx512_legacy_plain(kind, x, out, y) }),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => Some(unsafe { entry::neon_legacy_plain(kind, x, out, y) }),
        _ => None,
    }
}

/// [`quantize_row_legacy_plain`] on portable lanes (tests).
#[doc(hidden)]
pub fn quantize_row_legacy_plain_portable(kind: Legacy, x: &[f32], out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    unsafe { legacy::row_ref::<crate::simd::lanes::Portable>(kind, x, out, y) }
}

/// [`quantize_row_legacy`] on portable lanes (tests).
#[doc(hidden)]
pub fn quantize_row_legacy_portable(kind: Legacy, x: &[f32], qw: &[f32], out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    unsafe { legacy::row::<crate::simd::lanes::Portable>(kind, x, qw, out, y) }
}

/// The same algorithms on [`crate::simd::lanes::Portable`] lanes (plain f32 arithmetic): lets the
/// tests hold the lane algorithms equal to the references on any machine.
#[doc(hidden)]
pub fn quantize_row_portable(kind: KQuant, x: &[f32], importance: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    unsafe { row::<crate::simd::lanes::Portable>(kind, x, importance, out, y) }
}

#[inline(always)]
unsafe fn row<V: F32s>(kind: KQuant, x: &[f32], imp: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    match kind {
        KQuant::Q2K => q2k::row::<V>(x, imp, out, y),
        KQuant::Q3K => q3k::row::<V>(x, imp, out, y),
        KQuant::Q4K => q45k::row::<V, false>(x, imp, out, y),
        KQuant::Q5K => q45k::row::<V, true>(x, imp, out, y),
        KQuant::Q6K => q6k::row::<V>(x, imp, out, y),
    }
}

/// `#[target_feature]` entry points, one per (ISA, format), so each format's kernel is its own
/// function compiled for its ISA.
mod entry {
    #![allow(clippy::missing_safety_doc)]
    use super::*;

    macro_rules! entries {
        ($name:ident, $feat:literal, $v:ty) => {
            pub unsafe fn $name(kind: KQuant, x: &[f32], imp: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
                #[target_feature(enable = $feat)]
                unsafe fn q2(x: &[f32], imp: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
                    unsafe { row::<$v>(KQuant::Q2K, x, imp, out, y) }
                }
                #[target_feature(enable = $feat)]
                unsafe fn q3(x: &[f32], imp: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
                    unsafe { row::<$v>(KQuant::Q3K, x, imp, out, y) }
                }
                #[target_feature(enable = $feat)]
                unsafe fn q4(x: &[f32], imp: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
                    unsafe { row::<$v>(KQuant::Q4K, x, imp, out, y) }
                }
                #[target_feature(enable = $feat)]
                unsafe fn q5(x: &[f32], imp: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
                    unsafe { row::<$v>(KQuant::Q5K, x, imp, out, y) }
                }
                #[target_feature(enable = $feat)]
                unsafe fn q6(x: &[f32], imp: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
                    unsafe { row::<$v>(KQuant::Q6K, x, imp, out, y) }
                }
                unsafe {
                    match kind {
                        KQuant::Q2K => q2(x, imp, out, y),
                        KQuant::Q3K => q3(x, imp, out, y),
                        KQuant::Q4K => q4(x, imp, out, y),
                        KQuant::Q5K => q5(x, imp, out, y),
                        KQuant::Q6K => q6(x, imp, out, y),
                    }
                }
            }
        };
    }

    macro_rules! legacy_entry {
        ($name:ident, $feat:literal, $v:ty) => {
            #[target_feature(enable = $feat)]
            pub unsafe fn $name(kind: Legacy, x: &[f32], qw: &[f32], out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
                unsafe { legacy::row::<$v>(kind, x, qw, out, y) }
            }
        };
    }

    macro_rules! legacy_plain_entry {
        ($name:ident, $feat:literal, $v:ty) => {
            #[target_feature(enable = $feat)]
            pub unsafe fn $name(kind: Legacy, x: &[f32], out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
                unsafe { legacy::row_ref::<$v>(kind, x, out, y) }
            }
        };
    }

    #[cfg(target_arch = "x86_64")]
    legacy_plain_entry!(avx2_legacy_plain, "avx2,fma,f16c", crate::simd::lanes::Avx2F32x8);
    #[cfg(target_arch = "x86_64")]
    legacy_plain_entry!(avx512_legacy_plain, "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c", crate::simd::lanes::Avx512F32x16);
    #[cfg(target_arch = "aarch64")]
    legacy_plain_entry!(neon_legacy_plain, "neon", crate::simd::lanes::NeonF32x8);

    #[cfg(target_arch = "x86_64")]
    legacy_entry!(avx2_legacy, "avx2,fma,f16c", crate::simd::lanes::Avx2F32x8);
    #[cfg(target_arch = "x86_64")]
    legacy_entry!(avx512_legacy, "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c", crate::simd::lanes::Avx512F32x16);
    #[cfg(target_arch = "aarch64")]
    legacy_entry!(neon_legacy, "neon", crate::simd::lanes::NeonF32x8);

    #[cfg(target_arch = "x86_64")]
    entries!(avx2, "avx2,fma,f16c", crate::simd::lanes::Avx2F32x8);
    #[cfg(target_arch = "x86_64")]
    entries!(avx512, "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c", crate::simd::lanes::Avx512F32x16);
    #[cfg(target_arch = "aarch64")]
    entries!(neon, "neon", crate::simd::lanes::NeonF32x8);
}

// ------------------------------------------------------------------------------------------------
// Shared pieces.

/// Super-block length of every K-quant.
pub(crate) const QK: usize = 256;

/// After the search phase: `bad` (from [`transpose_checked`]) says whether some value of the row
/// may be NaN or infinite; then the offset of the first, as the reference reports it. (Kernels
/// check lazily, in the transposes the search does anyway; nothing before depends on finiteness.)
#[inline(always)]
pub(crate) fn check_finite(maybe: bool, x: &[f32]) -> Result<(), usize> {
    match maybe.then(|| crate::rtn::first_non_finite(x)).flatten() {
        Some(i) => Err(i),
        None => Ok(()),
    }
}

/// Offsets for a gather of lanes `first..first + V::N` out of `count` items `stride` apart;
/// lanes past the end repeat the last item (their results are ignored). Returns the number of
/// real lanes.
#[inline(always)]
pub(crate) fn lane_offsets<V: F32s>(first: usize, count: usize, stride: usize, idx: &mut [i32; 64]) -> usize {
    for (k, o) in idx.iter_mut().enumerate().take(V::N) {
        *o = ((first + k).min(count - 1) * stride) as i32;
    }
    (count - first).min(V::N)
}

/// Store the first `n` lanes of `v` into `dst`.
#[inline(always)]
pub(crate) unsafe fn store_lanes<V: F32s>(v: V, dst: &mut [f32], n: usize) {
    let mut t = [0f32; 64];
    v.store(t.as_mut_ptr());
    dst[..n].copy_from_slice(&t[..n]);
}

/// Element `i` of each of the lanes' groups (`idx` from [`lane_offsets`]), for `i` in `0..NE`.
#[inline(always)]
pub(crate) unsafe fn transpose<V: F32s, const NE: usize>(base: &[f32], idx: &[i32; 64]) -> [V; NE] {
    V::load_transposed::<NE>(base.as_ptr(), idx.as_ptr())
}

/// [`transpose`], also or-ing into `bad` the lanes where a value is NaN or infinite.
#[inline(always)]
pub(crate) unsafe fn transpose_checked<V: F32s, const NE: usize>(base: &[f32], idx: &[i32; 64], bad: &mut V::M) -> [V; NE] {
    let t: [V; NE] = transpose(base, idx);
    for v in &t {
        // v − v is 0 exactly when v is finite.
        #[allow(clippy::eq_op)]
        let z = *v - *v;
        *bad = bad.or(z.ne(z));
    }
    t
}

/// Q2_K/Q3_K's low two bits of 256 levels (`ggml_blocks::pack_2bit_planes`' layout), written so
/// it vectorizes.
#[inline(always)]
pub(crate) fn pack_2bit(lv: &[u8; QK], qs: &mut [u8]) {
    let qs = &mut qs[..64];
    for h in 0..2 {
        let (d, s) = (&mut qs[32 * h..32 * h + 32], &lv[128 * h..128 * h + 128]);
        for l in 0..32 {
            d[l] = s[l] | (s[l + 32] << 2) | (s[l + 64] << 4) | (s[l + 96] << 6);
        }
    }
}

/// Per super-block `factor·Σx²/256` (the importance searches' σ², `factor` 1 or 2), summed in
/// index order as the reference does, one super-block per lane.
#[inline(always)]
pub(crate) unsafe fn block_sigma2<P: F32s>(x: &[f32], nsb: usize, factor: f32) -> Vec<f32> {
    let mut out = vec![0f32; nsb];
    let mut idx = [0i32; 64];
    for b0 in (0..nsb).step_by(P::N) {
        let n = lane_offsets::<P>(b0, nsb, QK, &mut idx);
        let mut s = P::zero();
        for i in 0..QK {
            let v = P::gather(x.as_ptr().add(i), idx.as_ptr());
            s = s + v * v;
        }
        store_lanes(P::splat(factor) * s / P::splat(QK as f32), &mut out[b0..], n);
    }
    out
}

/// A mask with no lane set.
#[inline(always)]
pub(crate) unsafe fn no_lanes<V: F32s>() -> V::M {
    V::zero().lt(V::zero())
}

/// Lanes → booleans per super-block: super-block of lane `k` is `(first + k) / per_block`.
#[inline(always)]
pub(crate) fn mark_blocks<M: Mask>(m: M, first: usize, n: usize, per_block: usize, flags: &mut [bool]) {
    let mut bits = m.bits();
    while bits != 0 {
        let k = bits.trailing_zeros() as usize;
        if k < n {
            flags[(first + k) / per_block] = true;
        }
        bits &= bits - 1;
    }
}

/// Redo one super-block with the scalar reference (`quantize(values, bytes)`), its decoded values
/// (`dequantize`'s) into `y`.
pub(crate) fn reference_block(xb: &[f32], bytes: &mut [u8], yb: &mut [f32], quantize: impl FnOnce(&[f32], &mut [u8]), dequantize: impl Fn(&[u8], &mut [f32])) {
    quantize(xb, bytes);
    dequantize(bytes, yb);
}

/// The lane type of the searches: two vectors side by side.
pub(crate) type Lanes2<V> = Pair<V>;
/// Four vectors side by side (the coordinate descents, whose chains run through a division).
pub(crate) type Lanes4<V> = Pair<Pair<V>>;
