//! AVX2 lanes: eight f32 in a `__m256`.

use super::{F32s, Mask, MAGIC};
use std::arch::x86_64::*;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// Eight lanes in a `__m256` (AVX2).
#[derive(Clone, Copy)]
pub struct Avx2F32x8(pub __m256);

/// All-ones lanes where true.
#[derive(Clone, Copy)]
pub struct Avx2Mask(pub __m256);

impl Mask for Avx2Mask {
    const LEN: u32 = 8;
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        unsafe { Avx2Mask(_mm256_and_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn or(self, o: Self) -> Self {
        unsafe { Avx2Mask(_mm256_or_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn andnot(self, o: Self) -> Self {
        unsafe { Avx2Mask(_mm256_andnot_ps(o.0, self.0)) }
    }
    #[inline(always)]
    fn not(self) -> Self {
        unsafe { Avx2Mask(_mm256_xor_ps(self.0, _mm256_castsi256_ps(_mm256_set1_epi32(-1)))) }
    }
    #[inline(always)]
    fn any(self) -> bool {
        unsafe { _mm256_movemask_ps(self.0) != 0 }
    }
    #[inline(always)]
    fn bits(self) -> u64 {
        unsafe { _mm256_movemask_ps(self.0) as u32 as u64 }
    }
}

macro_rules! avx2_binop {
    ($tr:ident, $f:ident, $i:ident) => {
        impl $tr for Avx2F32x8 {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                unsafe { Avx2F32x8($i(self.0, o.0)) }
            }
        }
    };
}
avx2_binop!(Add, add, _mm256_add_ps);
avx2_binop!(Sub, sub, _mm256_sub_ps);
avx2_binop!(Mul, mul, _mm256_mul_ps);
avx2_binop!(Div, div, _mm256_div_ps);

impl Neg for Avx2F32x8 {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        unsafe { Avx2F32x8(_mm256_xor_ps(self.0, _mm256_set1_ps(-0.0))) }
    }
}

impl F32s for Avx2F32x8 {
    const N: usize = 8;
    type M = Avx2Mask;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Avx2F32x8(_mm256_set1_ps(v))
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Avx2F32x8(_mm256_loadu_ps(p))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        _mm256_storeu_ps(p, self.0)
    }
    #[inline(always)]
    unsafe fn gather(base: *const f32, idx: *const i32) -> Self {
        Avx2F32x8(_mm256_i32gather_ps::<4>(base, _mm256_loadu_si256(idx as *const __m256i)))
    }
    #[inline(always)]
    unsafe fn store_u8(self, p: *mut u8) {
        let i = _mm256_cvttps_epi32(self.0);
        let w = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256::<1>(i));
        _mm_storel_epi64(p as *mut __m128i, _mm_packus_epi16(w, w));
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        unsafe { Avx2F32x8(_mm256_sqrt_ps(self.0)) }
    }
    #[inline(always)]
    fn abs(self) -> Self {
        unsafe { Avx2F32x8(_mm256_andnot_ps(_mm256_set1_ps(-0.0), self.0)) }
    }
    // MINPS/MAXPS are exactly C's `a < b ? a : b` / `a > b ? a : b`.
    #[inline(always)]
    fn min_c(self, o: Self) -> Self {
        unsafe { Avx2F32x8(_mm256_min_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn max_c(self, o: Self) -> Self {
        unsafe { Avx2F32x8(_mm256_max_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Avx2Mask {
        unsafe { Avx2Mask(_mm256_cmp_ps::<_CMP_LT_OQ>(self.0, o.0)) }
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Avx2Mask {
        unsafe { Avx2Mask(_mm256_cmp_ps::<_CMP_GT_OQ>(self.0, o.0)) }
    }
    #[inline(always)]
    fn le(self, o: Self) -> Avx2Mask {
        unsafe { Avx2Mask(_mm256_cmp_ps::<_CMP_LE_OQ>(self.0, o.0)) }
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Avx2Mask {
        unsafe { Avx2Mask(_mm256_cmp_ps::<_CMP_EQ_OQ>(self.0, o.0)) }
    }
    #[inline(always)]
    fn ne(self, o: Self) -> Avx2Mask {
        unsafe { Avx2Mask(_mm256_cmp_ps::<_CMP_NEQ_UQ>(self.0, o.0)) }
    }
    #[inline(always)]
    fn select(m: Avx2Mask, a: Self, b: Self) -> Self {
        unsafe { Avx2F32x8(_mm256_blendv_ps(b.0, a.0, m.0)) }
    }
    #[inline(always)]
    fn round_fast(self) -> Self {
        unsafe {
            let m = _mm256_set1_ps(MAGIC);
            Avx2F32x8(_mm256_sub_ps(_mm256_add_ps(self.0, m), m))
        }
    }
    #[inline(always)]
    fn trunc(self) -> Self {
        unsafe { Avx2F32x8(_mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(self.0)) }
    }
    #[inline(always)]
    fn nearest(self) -> Self {
        unsafe {
            let m = _mm256_set1_ps(MAGIC);
            let t = _mm256_castps_si256(_mm256_add_ps(self.0, m));
            let b = _mm256_or_si256(_mm256_and_si256(t, _mm256_set1_epi32(0x007f_ffff)), _mm256_set1_epi32(0x4b00_0000));
            Avx2F32x8(_mm256_sub_ps(_mm256_castsi256_ps(b), m))
        }
    }
    /// Eight groups at a time: eight rows of 8 loaded whole and transposed in registers.
    #[inline(always)]
    unsafe fn load_transposed<const NE: usize>(base: *const f32, idx: *const i32) -> [Self; NE] {
        let mut t = [Self::zero(); NE];
        if NE % 8 != 0 {
            for (i, v) in t.iter_mut().enumerate() {
                *v = Self::gather(base.add(i), idx);
            }
            return t;
        }
        for c in (0..NE).step_by(8) {
            let mut r = [_mm256_setzero_ps(); 8];
            for (k, rk) in r.iter_mut().enumerate() {
                *rk = _mm256_loadu_ps(base.offset(*idx.add(k) as isize).add(c));
            }
            let mut a = [_mm256_setzero_ps(); 8];
            for k in 0..4 {
                a[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
                a[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
            }
            // b[4k + m], 128-bit half h: element 4h + m of rows 4k..4k+3.
            let mut b = [_mm256_setzero_ps(); 8];
            for k in 0..2 {
                b[4 * k] = _mm256_shuffle_ps::<0x44>(a[4 * k], a[4 * k + 2]);
                b[4 * k + 1] = _mm256_shuffle_ps::<0xEE>(a[4 * k], a[4 * k + 2]);
                b[4 * k + 2] = _mm256_shuffle_ps::<0x44>(a[4 * k + 1], a[4 * k + 3]);
                b[4 * k + 3] = _mm256_shuffle_ps::<0xEE>(a[4 * k + 1], a[4 * k + 3]);
            }
            for m in 0..4 {
                t[c + m] = Avx2F32x8(_mm256_permute2f128_ps::<0x20>(b[m], b[4 + m]));
                t[c + 4 + m] = Avx2F32x8(_mm256_permute2f128_ps::<0x31>(b[m], b[4 + m]));
            }
        }
        t
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(self.0), _mm256_extractf128_ps::<1>(self.0));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
    }
    #[inline(always)]
    unsafe fn hmax(self) -> f32 {
        let s = _mm_max_ps(_mm256_castps256_ps128(self.0), _mm256_extractf128_ps::<1>(self.0));
        let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_max_ss(s, _mm_shuffle_ps::<1>(s, s)))
    }
}
