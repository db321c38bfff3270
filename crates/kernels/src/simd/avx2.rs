//! AVX2 kernels (x86-64, picked at run time). Each follows its scalar reference step for step with
//! the same f32 operations in the same order (no FMA on any path that feeds a code or a decoded
//! value), so codes, scales and the decoded row it hands over are bit-identical to the
//! reference's.

#![allow(clippy::missing_safety_doc)]

use std::arch::x86_64::*;

use crate::pack::{pack, packed_len};
use crate::{q4_0, q8_0, rtn};

/// f32 → f16 bits (round to nearest even, as `half::f16::from_f32`) and back, with F16C.
#[inline(always)]
unsafe fn f32_to_f16(v: f32) -> (u16, f32) {
    let h = _mm_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT }>(_mm_set_ss(v));
    (_mm_extract_epi16::<0>(h) as u16, _mm_cvtss_f32(_mm_cvtph_ps(h)))
}

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

/// RTN over one row: groups of `group` elements (any length; the last may be shorter). Same
/// contract as `rtn::quantize_row_ref`, `zeros` written only when not symmetric, except that NaN
/// and infinities are not checked for (nothing here depends on finiteness): their codes mean
/// nothing, and `quantize()` reports them from the row's Σx².
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn rtn_row<const BITS: u32>(
    x: &[f32],
    group: usize,
    symmetric: bool,
    codes: &mut [u8],
    scales: &mut [f32],
    zeros: &mut [u8],
    y: &mut [f32],
) -> Result<(), usize> {
    // The groups' stores into `y` go through raw pointers.
    assert_eq!(y.len(), x.len(), "decoded row of the row's length");
    let mut off = 0;
    for (g, (grp, yg)) in x.chunks(group).zip(y.chunks_mut(group)).enumerate() {
        let nb = packed_len(grp.len(), BITS);
        let (scale, zero) = rtn_group::<BITS>(grp, symmetric, &mut codes[off..off + nb], yg);
        scales[g] = scale;
        if !symmetric {
            zeros[g] = zero;
        }
        off += nb;
    }
    Ok(())
}

/// RTN, one group of any length: writes `packed_len(x.len(), BITS)` code bytes and the decoded
/// values `(q − zero)·scale` into `y`, returns (scale, zero).
#[inline(always)]
unsafe fn rtn_group<const BITS: u32>(x: &[f32], symmetric: bool, codes: &mut [u8], y: &mut [f32]) -> (f32, u8) {
    let n = x.len();
    let n8 = n & !7;
    let p = x.as_ptr();
    let (mut vmin, mut vmax) = (_mm256_set1_ps(f32::INFINITY), _mm256_set1_ps(f32::NEG_INFINITY));
    let mut i = 0;
    while i < n8 {
        let v = _mm256_loadu_ps(p.add(i));
        vmin = _mm256_min_ps(vmin, v);
        vmax = _mm256_max_ps(vmax, v);
        i += 8;
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
    let n32 = n & !31;
    let (out, yp) = (codes.as_mut_ptr(), y.as_mut_ptr());
    let mut i = 0;
    while i < n32 {
        let mut q = [_mm256_setzero_si256(); 4];
        for (k, qk) in q.iter_mut().enumerate() {
            let v = _mm256_loadu_ps(p.add(i + 8 * k));
            let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(v, inv));
            let c = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, zero), lo), hi);
            _mm256_storeu_ps(yp.add(i + 8 * k), _mm256_mul_ps(_mm256_sub_ps(c, zero), scale));
            *qk = _mm256_cvtps_epi32(c);
        }
        store_packed::<BITS>(pack_i32x32_to_u8(q), out.add(i * BITS as usize / 8));
        i += 32;
    }
    if n32 < n {
        let mut q = [0u8; 32];
        for ((qi, o), &v) in q.iter_mut().zip(&mut y[n32..]).zip(&x[n32..]) {
            let c = rtn::quantize_one(&gp, v);
            *o = rtn::dequantize_one(gp.scale, gp.zero, c);
            *qi = c as u8;
        }
        let start = n32 * BITS as usize / 8;
        let end = start + packed_len(n - n32, BITS);
        pack(BITS, &q[..n - n32], &mut codes[start..end]);
    }
    (gp.scale, gp.zero as u8)
}

/// Lane k = max over the lanes of `a[k]` (eight horizontal reductions sharing their shuffles).
#[inline(always)]
unsafe fn hmax8(a: &[__m256; 8]) -> __m256 {
    let pair = |x: __m256, y: __m256| _mm256_max_ps(_mm256_unpacklo_ps(x, y), _mm256_unpackhi_ps(x, y));
    let (b01, b23, b45, b67) = (pair(a[0], a[1]), pair(a[2], a[3]), pair(a[4], a[5]), pair(a[6], a[7]));
    let c0 = _mm256_max_ps(_mm256_shuffle_ps::<0x44>(b01, b23), _mm256_shuffle_ps::<0xEE>(b01, b23));
    let c1 = _mm256_max_ps(_mm256_shuffle_ps::<0x44>(b45, b67), _mm256_shuffle_ps::<0xEE>(b45, b67));
    _mm256_max_ps(_mm256_permute2f128_ps::<0x20>(c0, c1), _mm256_permute2f128_ps::<0x31>(c0, c1))
}

/// Q4_0 scales of eight consecutive blocks at once: (d as f16 bits, d as f16 widened, 1/d).
/// Same values as `q4_0::block_scale(q4_0::signed_absmax(block))` per block.
#[inline(always)]
unsafe fn q4_0_scales8(blocks: &[f32]) -> ([u16; 8], __m256, __m256) {
    let p = blocks.as_ptr();
    let (mut hi, mut lo) = ([_mm256_setzero_ps(); 8], [_mm256_setzero_ps(); 8]);
    for k in 0..8 {
        let v = [_mm256_loadu_ps(p.add(32 * k)), _mm256_loadu_ps(p.add(32 * k + 8)), _mm256_loadu_ps(p.add(32 * k + 16)), _mm256_loadu_ps(p.add(32 * k + 24))];
        hi[k] = _mm256_max_ps(_mm256_max_ps(v[0], v[1]), _mm256_max_ps(v[2], v[3]));
        lo[k] = _mm256_min_ps(_mm256_min_ps(v[0], v[1]), _mm256_min_ps(v[2], v[3]));
        lo[k] = _mm256_sub_ps(_mm256_setzero_ps(), lo[k]); // −min, so one max-reduction serves both
    }
    let (pos, neg) = (hmax8(&hi), hmax8(&lo)); // per block: largest value, −(smallest value)
    // The signed max is the larger side; +0 for an all-zero block (the reference's initial value).
    let mut max = [0f32; 8];
    _mm256_storeu_ps(
        max.as_mut_ptr(),
        _mm256_and_ps(
            _mm256_blendv_ps(_mm256_sub_ps(_mm256_setzero_ps(), neg), pos, _mm256_cmp_ps::<_CMP_GT_OQ>(pos, neg)),
            _mm256_cmp_ps::<_CMP_GT_OQ>(_mm256_max_ps(pos, neg), _mm256_setzero_ps()),
        ),
    );
    // Equal magnitudes on both sides: the reference keeps whichever comes first (rare).
    let ties = _mm256_movemask_ps(_mm256_and_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(pos, neg), _mm256_cmp_ps::<_CMP_GT_OQ>(pos, _mm256_setzero_ps())));
    let mut t = ties as u32;
    while t != 0 {
        let k = t.trailing_zeros() as usize;
        max[k] = q4_0::signed_absmax(&blocks[32 * k..32 * k + 32]);
        t &= t - 1;
    }
    let d = _mm256_mul_ps(_mm256_loadu_ps(max.as_ptr()), _mm256_set1_ps(-0.125)); // == max / −8, exactly
    // id = 1/d, 0 where d is 0; an overflowing 1/d stays infinite, as in the reference.
    let id = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1.0), d), _mm256_cmp_ps::<_CMP_NEQ_OQ>(d, _mm256_setzero_ps()));
    let h = _mm256_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT }>(d);
    let mut bits = [0u16; 8];
    _mm_storeu_si128(bits.as_mut_ptr() as *mut __m128i, h);
    (bits, _mm256_cvtph_ps(h), id)
}

/// Q8_0 scales of eight consecutive blocks at once: (d as f16 bits, d as f16 widened, 1/d), the
/// same values as `q8_0::block_scale` per block (a vector divide rounds exactly like a scalar one).
#[inline(always)]
unsafe fn q8_0_scales8(blocks: &[f32]) -> ([u16; 8], __m256, __m256) {
    let p = blocks.as_ptr();
    let sign = _mm256_set1_ps(-0.0);
    let mut a = [_mm256_setzero_ps(); 8];
    for (k, ak) in a.iter_mut().enumerate() {
        let abs = |o: usize| _mm256_andnot_ps(sign, _mm256_loadu_ps(p.add(32 * k + o)));
        *ak = _mm256_max_ps(_mm256_max_ps(abs(0), abs(8)), _mm256_max_ps(abs(16), abs(24)));
    }
    let d = _mm256_div_ps(hmax8(&a), _mm256_set1_ps(127.0));
    let id = _mm256_div_ps(_mm256_set1_ps(1.0), d);
    let usable = _mm256_and_ps(
        _mm256_cmp_ps::<_CMP_NEQ_OQ>(d, _mm256_setzero_ps()),
        _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_andnot_ps(sign, id), _mm256_set1_ps(f32::INFINITY)),
    );
    let h = _mm256_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT }>(d);
    let mut bits = [0u16; 8];
    _mm_storeu_si128(bits.as_mut_ptr() as *mut __m128i, h);
    (bits, _mm256_cvtph_ps(h), _mm256_and_ps(id, usable))
}

/// Quantize one Q8_0 block given its scale; its decoded values `d·q` into `y`.
#[inline(always)]
unsafe fn q8_0_block(blk: &[f32], dh: u16, idv: __m256, dsv: __m256, o: &mut [u8], y: &mut [f32]) {
    let (p, yp) = (blk.as_ptr(), y.as_mut_ptr());
    o[..2].copy_from_slice(&dh.to_le_bytes());
    let sign = _mm256_set1_ps(-0.0);
    // roundf(s) == trunc(s + copysign(0.49999997, s)) for every f32: the largest float below ½
    // never carries a value under ½ across an integer, and a true half still rounds up to one.
    let below_half = _mm256_set1_ps(0.499_999_97);
    let mut q = [_mm256_setzero_si256(); 4];
    for (k, qk) in q.iter_mut().enumerate() {
        let v = _mm256_loadu_ps(p.add(8 * k));
        let s = _mm256_mul_ps(v, idv);
        let r = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(_mm256_add_ps(
            s,
            _mm256_or_ps(below_half, _mm256_and_ps(s, sign)),
        ));
        *qk = _mm256_cvtps_epi32(r);
        // From the integer code, as the reader converts it: `r` is −0 where a negative value
        // rounds to 0, the reader's code 0 is +0.
        _mm256_storeu_ps(yp.add(8 * k), _mm256_mul_ps(dsv, _mm256_cvtepi32_ps(*qk)));
    }
    let w = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    let w = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(o.as_mut_ptr().add(2) as *mut __m256i, w);
}

/// Q8_0, one row (length a multiple of 32), scales eight blocks at a time; the decoded values
/// into `y`. NaN and infinities are not checked for (nothing here depends on finiteness): their
/// codes mean nothing, and `quantize()` reports them from the row's Σx².
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn q8_0_row(x: &[f32], out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    const B: usize = q8_0::BLOCK;
    const BYTES: usize = q8_0::BLOCK_BYTES;
    let n_blocks = x.len() / B;
    let mut b = 0;
    while b < n_blocks {
        let batch = (n_blocks - b).min(8);
        if batch == 8 {
            let (bits, ds, id) = q8_0_scales8(&x[b * B..(b + 8) * B]);
            for k in 0..8 {
                let sel = _mm256_set1_epi32(k as i32);
                let (idv, dsv) = (_mm256_permutevar8x32_ps(id, sel), _mm256_permutevar8x32_ps(ds, sel));
                let i = b + k;
                q8_0_block(&x[i * B..(i + 1) * B], bits[k], idv, dsv, &mut out[i * BYTES..(i + 1) * BYTES], &mut y[i * B..(i + 1) * B]);
            }
        } else {
            for i in b..b + batch {
                let blk = &x[i * B..(i + 1) * B];
                let (d, id) = q8_0::block_scale(blk.iter().fold(0.0f32, |m, v| m.max(v.abs())));
                let (dh, ds) = f32_to_f16(d);
                q8_0_block(blk, dh, _mm256_set1_ps(id), _mm256_set1_ps(ds), &mut out[i * BYTES..(i + 1) * BYTES], &mut y[i * B..(i + 1) * B]);
            }
        }
        b += batch;
    }
    Ok(())
}

/// Quantize one Q4_0 block given its scale; its decoded values `d·(q − 8)` into `y`.
#[inline(always)]
unsafe fn q4_0_block(blk: &[f32], dh: u16, idv: __m256, dsv: __m256, o: &mut [u8], y: &mut [f32]) {
    let (p, yp) = (blk.as_ptr(), y.as_mut_ptr());
    o[..2].copy_from_slice(&dh.to_le_bytes());
    let (bias, eight, fifteen) = (_mm256_set1_ps(8.5), _mm256_set1_epi32(8), _mm256_set1_epi32(15));
    let mut q = [_mm256_setzero_si256(); 4];
    for (k, qk) in q.iter_mut().enumerate() {
        let v = _mm256_loadu_ps(p.add(8 * k));
        // cvttps gives INT_MIN where the reference's cast keeps a low byte of 0: clamp to 0..15.
        let c = _mm256_max_epi32(_mm256_min_epi32(_mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v, idv), bias)), fifteen), _mm256_setzero_si256());
        _mm256_storeu_ps(yp.add(8 * k), _mm256_mul_ps(dsv, _mm256_cvtepi32_ps(_mm256_sub_epi32(c, eight))));
        *qk = c;
    }
    let bytes = pack_i32x32_to_u8(q);
    let nib = _mm_or_si128(_mm256_castsi256_si128(bytes), _mm_slli_epi16::<4>(_mm256_extracti128_si256::<1>(bytes)));
    _mm_storeu_si128(o.as_mut_ptr().add(2) as *mut __m128i, nib);
}

/// Q4_0, one row (length a multiple of 32): scales eight blocks at a time, so the divisions and
/// f16 conversions run as vectors and their latency overlaps the quantization of other blocks;
/// the decoded values into `y`. NaN and infinities as in [`q8_0_row`].
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn q4_0_row(x: &[f32], out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    const B: usize = q4_0::BLOCK;
    let n_blocks = x.len() / B;
    let mut b = 0;
    while b < n_blocks {
        let batch = (n_blocks - b).min(8);
        if batch == 8 {
            let (bits, ds, id) = q4_0_scales8(&x[b * B..(b + 8) * B]);
            for k in 0..8 {
                let sel = _mm256_set1_epi32(k as i32);
                let (idv, dsv) = (_mm256_permutevar8x32_ps(id, sel), _mm256_permutevar8x32_ps(ds, sel));
                let blk = &x[(b + k) * B..(b + k + 1) * B];
                q4_0_block(blk, bits[k], idv, dsv, &mut out[(b + k) * q4_0::BLOCK_BYTES..(b + k + 1) * q4_0::BLOCK_BYTES], &mut y[(b + k) * B..(b + k + 1) * B]);
            }
        } else {
            for k in b..b + batch {
                let blk = &x[k * B..(k + 1) * B];
                let (d, id) = q4_0::block_scale(q4_0::signed_absmax(blk));
                let (dh, ds) = f32_to_f16(d);
                q4_0_block(blk, dh, _mm256_set1_ps(id), _mm256_set1_ps(ds), &mut out[k * q4_0::BLOCK_BYTES..(k + 1) * q4_0::BLOCK_BYTES], &mut y[k * B..(k + 1) * B]);
            }
        }
        b += batch;
    }
    Ok(())
}
