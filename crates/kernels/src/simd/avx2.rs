//! AVX2 kernels (x86-64, picked at run time). Each follows its scalar reference step for step with
//! the same f32 operations in the same order (no FMA on any path that feeds a code), so codes and
//! scales are bit-identical to the reference; only the quality sums are accumulated in a different
//! order (f32 lanes per group), which changes them by rounding.

#![allow(clippy::missing_safety_doc)]

use std::arch::x86_64::*;

use crate::pack::{pack, packed_len};
use crate::quality::QualityAcc;
use crate::{q4_0, q8_0, rtn};
use half::f16;

#[inline(always)]
unsafe fn hmin(v: __m256) -> f32 {
    let m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_min_ss(m, _mm_shuffle_ps(m, m, 1));
    _mm_cvtss_f32(m)
}

#[inline(always)]
unsafe fn hmax(v: __m256) -> f32 {
    let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    _mm_cvtss_f32(m)
}

#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

/// Running quality sums in f32 lanes for one group.
struct LaneQuality {
    xx: __m256,
    yy: __m256,
    xy: __m256,
    ee: __m256,
    emax: __m256,
}

impl LaneQuality {
    #[inline(always)]
    unsafe fn new() -> Self {
        let z = _mm256_setzero_ps();
        LaneQuality { xx: z, yy: z, xy: z, ee: z, emax: z }
    }

    #[inline(always)]
    unsafe fn add(&mut self, x: __m256, y: __m256) {
        let e = _mm256_sub_ps(x, y);
        self.xx = _mm256_add_ps(self.xx, _mm256_mul_ps(x, x));
        self.yy = _mm256_add_ps(self.yy, _mm256_mul_ps(y, y));
        self.xy = _mm256_add_ps(self.xy, _mm256_mul_ps(x, y));
        self.ee = _mm256_add_ps(self.ee, _mm256_mul_ps(e, e));
        self.emax = _mm256_max_ps(self.emax, _mm256_andnot_ps(_mm256_set1_ps(-0.0), e));
    }

    /// Fold lanes (plus a scalar tail's sums) into the f64 accumulator.
    #[inline(always)]
    unsafe fn flush(&self, n: usize, tail: &TailQuality, acc: &mut QualityAcc) {
        acc.add_partial(
            n,
            hsum(self.xx) + tail.xx,
            hsum(self.yy) + tail.yy,
            hsum(self.xy) + tail.xy,
            hsum(self.ee) + tail.ee,
            hmax(self.emax).max(tail.emax),
        );
    }
}

/// The same sums for elements handled one at a time.
#[derive(Default)]
struct TailQuality {
    xx: f32,
    yy: f32,
    xy: f32,
    ee: f32,
    emax: f32,
}

impl TailQuality {
    #[inline(always)]
    fn add(&mut self, x: f32, y: f32) {
        let e = x - y;
        self.xx += x * x;
        self.yy += y * y;
        self.xy += x * y;
        self.ee += e * e;
        self.emax = self.emax.max(e.abs());
    }
}

/// Non-zero lanes where `v` is NaN or ±Inf (v·0 is NaN exactly then).
#[inline(always)]
unsafe fn non_finite_mask(v: __m256) -> __m256 {
    let t = _mm256_mul_ps(v, _mm256_setzero_ps());
    _mm256_cmp_ps::<_CMP_UNORD_Q>(t, t)
}

/// 32 i32 codes (four vectors, each 0..=255) → 32 bytes in element order.
#[inline(always)]
unsafe fn pack_i32x32_to_u8(q: [__m256i; 4]) -> __m256i {
    let a = _mm256_packus_epi32(q[0], q[1]);
    let b = _mm256_packus_epi32(q[2], q[3]);
    let c = _mm256_packus_epi16(a, b);
    _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// Store 32 byte-codes (each < 2^BITS) packed LSB-first: 32, 16 or 8 bytes.
#[inline(always)]
unsafe fn store_packed<const BITS: u32>(bytes: __m256i, out: *mut u8) {
    match BITS {
        8 => _mm256_storeu_si256(out as *mut __m256i, bytes),
        4 => {
            // b[2i] + 16·b[2i+1] in each 16-bit lane, then narrow to bytes.
            let w = _mm256_maddubs_epi16(bytes, _mm256_set1_epi16(0x1001));
            let n = _mm256_packus_epi16(w, w);
            let n = _mm256_permute4x64_epi64::<0b1000>(n);
            _mm_storeu_si128(out as *mut __m128i, _mm256_castsi256_si128(n));
        }
        2 => {
            let w = _mm256_maddubs_epi16(bytes, _mm256_set1_epi16(0x0401)); // b0 + 4·b1
            let d = _mm256_madd_epi16(w, _mm256_set1_epi32(0x0010_0001)); // + 16·(b2 + 4·b3)
            let n = _mm256_packus_epi32(d, d);
            let n = _mm256_packus_epi16(n, n);
            let n = _mm256_permutevar8x32_epi32(n, _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4));
            _mm_storel_epi64(out as *mut __m128i, _mm256_castsi256_si128(n));
        }
        _ => unreachable!(),
    }
}

/// RTN, one group of any length. Same contract as `rtn::quantize_row_ref` for one group:
/// writes `packed_len(x.len(), BITS)` code bytes, returns (scale, zero) or the offset of a
/// non-finite input.
#[target_feature(enable = "avx2")]
pub unsafe fn rtn_group<const BITS: u32>(
    x: &[f32],
    symmetric: bool,
    codes: &mut [u8],
    acc: &mut QualityAcc,
) -> Result<(f32, u8), usize> {
    let n = x.len();
    let n8 = n & !7;
    let p = x.as_ptr();
    let (mut vmin, mut vmax) = (_mm256_set1_ps(f32::INFINITY), _mm256_set1_ps(f32::NEG_INFINITY));
    let mut bad = _mm256_setzero_ps();
    let mut i = 0;
    while i < n8 {
        let v = _mm256_loadu_ps(p.add(i));
        vmin = _mm256_min_ps(vmin, v);
        vmax = _mm256_max_ps(vmax, v);
        bad = _mm256_or_ps(bad, non_finite_mask(v));
        i += 8;
    }
    if _mm256_movemask_ps(bad) != 0 || x[n8..].iter().any(|v| !v.is_finite()) {
        return Err(rtn::first_non_finite(x).unwrap_or(0));
    }
    let (mut min, mut max) = (hmin(vmin), hmax(vmax));
    for &v in &x[n8..] {
        min = min.min(v);
        max = max.max(v);
    }
    let gp = rtn::group_params(BITS, symmetric, min, max);

    let (inv, zero, lo, hi, scale) = (
        _mm256_set1_ps(gp.inv),
        _mm256_set1_ps(gp.zero),
        _mm256_set1_ps(gp.lo_code),
        _mm256_set1_ps(gp.hi_code),
        _mm256_set1_ps(gp.scale),
    );
    let mut lq = LaneQuality::new();
    let n32 = n & !31;
    let out = codes.as_mut_ptr();
    let mut i = 0;
    while i < n32 {
        let mut q = [_mm256_setzero_si256(); 4];
        for (k, qk) in q.iter_mut().enumerate() {
            let v = _mm256_loadu_ps(p.add(i + 8 * k));
            let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(v, inv));
            let c = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, zero), lo), hi);
            lq.add(v, _mm256_mul_ps(_mm256_sub_ps(c, zero), scale));
            *qk = _mm256_cvtps_epi32(c);
        }
        store_packed::<BITS>(pack_i32x32_to_u8(q), out.add(i * BITS as usize / 8));
        i += 32;
    }
    let mut tail = TailQuality::default();
    if n32 < n {
        let mut q = [0u8; 32];
        for (qi, &v) in q.iter_mut().zip(&x[n32..]) {
            let c = rtn::quantize_one(&gp, v);
            tail.add(v, rtn::dequantize_one(gp.scale, gp.zero, c));
            *qi = c as u8;
        }
        let start = n32 * BITS as usize / 8;
        let end = start + packed_len(n - n32, BITS);
        pack(BITS, &q[..n - n32], &mut codes[start..end]);
    }
    lq.flush(n, &tail, acc);
    Ok((gp.scale, gp.zero as u8))
}

/// Q8_0, one row (length a multiple of 32).
#[target_feature(enable = "avx2")]
pub unsafe fn q8_0_row(x: &[f32], out: &mut [u8], acc: &mut QualityAcc) -> Result<(), usize> {
    let sign = _mm256_set1_ps(-0.0);
    let half = _mm256_set1_ps(0.5);
    let one = _mm256_set1_ps(1.0);
    for (b, (blk, o)) in x.chunks_exact(q8_0::BLOCK).zip(out.chunks_exact_mut(q8_0::BLOCK_BYTES)).enumerate() {
        let p = blk.as_ptr();
        let v = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)), _mm256_loadu_ps(p.add(16)), _mm256_loadu_ps(p.add(24))];
        let bad = _mm256_or_ps(
            _mm256_or_ps(non_finite_mask(v[0]), non_finite_mask(v[1])),
            _mm256_or_ps(non_finite_mask(v[2]), non_finite_mask(v[3])),
        );
        if _mm256_movemask_ps(bad) != 0 {
            return Err(b * q8_0::BLOCK + rtn::first_non_finite(blk).unwrap_or(0));
        }
        let a = _mm256_max_ps(
            _mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
            _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])),
        );
        let (d, id) = q8_0::block_scale(hmax(a));
        let dh = f16::from_f32(d);
        o[..2].copy_from_slice(&dh.to_le_bytes());
        let (idv, dsv) = (_mm256_set1_ps(id), _mm256_set1_ps(dh.to_f32()));
        let mut lq = LaneQuality::new();
        let mut q = [_mm256_setzero_si256(); 4];
        for k in 0..4 {
            // roundf: truncate, then step away from zero when the dropped fraction is >= 1/2.
            let s = _mm256_mul_ps(v[k], idv);
            let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(s);
            let frac = _mm256_andnot_ps(sign, _mm256_sub_ps(s, t));
            let away = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(frac, half), _mm256_or_ps(one, _mm256_and_ps(s, sign)));
            let r = _mm256_add_ps(t, away);
            lq.add(v[k], _mm256_mul_ps(dsv, r));
            q[k] = _mm256_cvtps_epi32(r);
        }
        let w = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        let w = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(o.as_mut_ptr().add(2) as *mut __m256i, w);
        lq.flush(q8_0::BLOCK, &TailQuality::default(), acc);
    }
    Ok(())
}

/// Q4_0, one row (length a multiple of 32).
#[target_feature(enable = "avx2")]
pub unsafe fn q4_0_row(x: &[f32], out: &mut [u8], acc: &mut QualityAcc) -> Result<(), usize> {
    let sign = _mm256_set1_ps(-0.0);
    for (b, (blk, o)) in x.chunks_exact(q4_0::BLOCK).zip(out.chunks_exact_mut(q4_0::BLOCK_BYTES)).enumerate() {
        let p = blk.as_ptr();
        let v = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)), _mm256_loadu_ps(p.add(16)), _mm256_loadu_ps(p.add(24))];
        let bad = _mm256_or_ps(
            _mm256_or_ps(non_finite_mask(v[0]), non_finite_mask(v[1])),
            _mm256_or_ps(non_finite_mask(v[2]), non_finite_mask(v[3])),
        );
        if _mm256_movemask_ps(bad) != 0 {
            return Err(b * q4_0::BLOCK + rtn::first_non_finite(blk).unwrap_or(0));
        }
        let abs = [
            _mm256_andnot_ps(sign, v[0]),
            _mm256_andnot_ps(sign, v[1]),
            _mm256_andnot_ps(sign, v[2]),
            _mm256_andnot_ps(sign, v[3]),
        ];
        let amax = hmax(_mm256_max_ps(_mm256_max_ps(abs[0], abs[1]), _mm256_max_ps(abs[2], abs[3])));
        // The reference keeps the first element reaching the maximum magnitude, with its sign.
        let max = if amax == 0.0 {
            0.0
        } else {
            let am = _mm256_set1_ps(amax);
            let mut mask = 0u32;
            for (k, a) in abs.iter().enumerate() {
                mask |= (_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(*a, am)) as u32) << (8 * k);
            }
            blk[mask.trailing_zeros() as usize]
        };
        let (d, id) = q4_0::block_scale(max);
        let dh = f16::from_f32(d);
        o[..2].copy_from_slice(&dh.to_le_bytes());
        let (idv, dsv, bias, eight) =
            (_mm256_set1_ps(id), _mm256_set1_ps(dh.to_f32()), _mm256_set1_ps(8.5), _mm256_set1_epi32(8));
        let mut lq = LaneQuality::new();
        let mut q = [_mm256_setzero_si256(); 4];
        for k in 0..4 {
            let c = _mm256_min_epi32(_mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v[k], idv), bias)), _mm256_set1_epi32(15));
            lq.add(v[k], _mm256_mul_ps(dsv, _mm256_cvtepi32_ps(_mm256_sub_epi32(c, eight))));
            q[k] = c;
        }
        let bytes = pack_i32x32_to_u8(q);
        let lo = _mm256_castsi256_si128(bytes);
        let hi = _mm256_extracti128_si256::<1>(bytes);
        let nib = _mm_or_si128(lo, _mm_slli_epi16::<4>(hi));
        _mm_storeu_si128(o.as_mut_ptr().add(2) as *mut __m128i, nib);
        lq.flush(q4_0::BLOCK, &TailQuality::default(), acc);
    }
    Ok(())
}
