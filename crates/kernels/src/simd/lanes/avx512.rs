//! AVX-512 lanes: sixteen f32 in a `__m512` (AVX-512F, masks in `__mmask16`).

use super::{F32s, Mask, MAGIC};
use std::arch::x86_64::*;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// Sixteen lanes in a `__m512` (AVX-512F).
#[derive(Clone, Copy)]
pub struct Avx512F32x16(pub __m512);

#[derive(Clone, Copy)]
pub struct Avx512Mask(pub __mmask16);

impl Mask for Avx512Mask {
    const LEN: u32 = 16;
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        Avx512Mask(self.0 & o.0)
    }
    #[inline(always)]
    fn or(self, o: Self) -> Self {
        Avx512Mask(self.0 | o.0)
    }
    #[inline(always)]
    fn andnot(self, o: Self) -> Self {
        Avx512Mask(self.0 & !o.0)
    }
    #[inline(always)]
    fn not(self) -> Self {
        Avx512Mask(!self.0)
    }
    #[inline(always)]
    fn any(self) -> bool {
        self.0 != 0
    }
    #[inline(always)]
    fn bits(self) -> u64 {
        self.0 as u64
    }
}

macro_rules! avx512_binop {
    ($tr:ident, $f:ident, $i:ident) => {
        impl $tr for Avx512F32x16 {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                unsafe { Avx512F32x16($i(self.0, o.0)) }
            }
        }
    };
}
avx512_binop!(Add, add, _mm512_add_ps);
avx512_binop!(Sub, sub, _mm512_sub_ps);
avx512_binop!(Mul, mul, _mm512_mul_ps);
avx512_binop!(Div, div, _mm512_div_ps);

impl Neg for Avx512F32x16 {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        unsafe { Avx512F32x16(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(self.0), _mm512_set1_epi32(i32::MIN)))) }
    }
}

impl F32s for Avx512F32x16 {
    const N: usize = 16;
    type M = Avx512Mask;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Avx512F32x16(_mm512_set1_ps(v))
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Avx512F32x16(_mm512_loadu_ps(p))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        _mm512_storeu_ps(p, self.0)
    }
    #[inline(always)]
    unsafe fn gather(base: *const f32, idx: *const i32) -> Self {
        Avx512F32x16(_mm512_i32gather_ps::<4>(_mm512_loadu_si512(idx as *const __m512i), base))
    }
    #[inline(always)]
    unsafe fn store_u8(self, p: *mut u8) {
        _mm_storeu_si128(p as *mut __m128i, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(self.0)))
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        unsafe { Avx512F32x16(_mm512_sqrt_ps(self.0)) }
    }
    #[inline(always)]
    fn abs(self) -> Self {
        unsafe { Avx512F32x16(_mm512_abs_ps(self.0)) }
    }
    // VMINPS/VMAXPS (no SAE) are C's `a < b ? a : b` / `a > b ? a : b`, as with AVX2.
    #[inline(always)]
    fn min_c(self, o: Self) -> Self {
        unsafe { Avx512F32x16(_mm512_min_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn max_c(self, o: Self) -> Self {
        unsafe { Avx512F32x16(_mm512_max_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Avx512Mask {
        unsafe { Avx512Mask(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(self.0, o.0)) }
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Avx512Mask {
        unsafe { Avx512Mask(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(self.0, o.0)) }
    }
    #[inline(always)]
    fn le(self, o: Self) -> Avx512Mask {
        unsafe { Avx512Mask(_mm512_cmp_ps_mask::<_CMP_LE_OQ>(self.0, o.0)) }
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Avx512Mask {
        unsafe { Avx512Mask(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(self.0, o.0)) }
    }
    #[inline(always)]
    fn ne(self, o: Self) -> Avx512Mask {
        unsafe { Avx512Mask(_mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(self.0, o.0)) }
    }
    #[inline(always)]
    fn select(m: Avx512Mask, a: Self, b: Self) -> Self {
        unsafe { Avx512F32x16(_mm512_mask_blend_ps(m.0, b.0, a.0)) }
    }
    #[inline(always)]
    fn round_fast(self) -> Self {
        unsafe {
            let m = _mm512_set1_ps(MAGIC);
            Avx512F32x16(_mm512_sub_ps(_mm512_add_ps(self.0, m), m))
        }
    }
    #[inline(always)]
    fn trunc(self) -> Self {
        unsafe { Avx512F32x16(_mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(self.0)) }
    }
    #[inline(always)]
    fn nearest(self) -> Self {
        unsafe {
            let m = _mm512_set1_ps(MAGIC);
            let t = _mm512_castps_si512(_mm512_add_ps(self.0, m));
            // (t & 0x007fffff) | 0x4b000000 in one ternary-logic op: bit = mask ? t : c.
            let b = _mm512_ternarylogic_epi32::<0xCA>(_mm512_set1_epi32(0x007f_ffff), t, _mm512_set1_epi32(0x4b00_0000));
            Avx512F32x16(_mm512_sub_ps(_mm512_castsi512_ps(b), m))
        }
    }
    /// Sixteen groups at a time: sixteen rows of 16 loaded whole and transposed in registers
    /// (unpack, in-lane shuffles, then 128-bit lane shuffles), cheaper than gathers.
    #[inline(always)]
    unsafe fn load_transposed<const NE: usize>(base: *const f32, idx: *const i32) -> [Self; NE] {
        let mut t = [Self::zero(); NE];
        if NE % 16 != 0 {
            for (i, v) in t.iter_mut().enumerate() {
                *v = Self::gather(base.add(i), idx);
            }
            return t;
        }
        for c in (0..NE).step_by(16) {
            let mut r = [_mm512_setzero_ps(); 16];
            for (k, rk) in r.iter_mut().enumerate() {
                *rk = _mm512_loadu_ps(base.offset(*idx.add(k) as isize).add(c));
            }
            let mut a = [_mm512_setzero_ps(); 16];
            for k in 0..8 {
                a[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
                a[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
            }
            // b[4k + m], 128-bit lane l: element 4l + m of rows 4k..4k+3.
            let mut b = [_mm512_setzero_ps(); 16];
            for k in 0..4 {
                b[4 * k] = _mm512_shuffle_ps::<0x44>(a[4 * k], a[4 * k + 2]);
                b[4 * k + 1] = _mm512_shuffle_ps::<0xEE>(a[4 * k], a[4 * k + 2]);
                b[4 * k + 2] = _mm512_shuffle_ps::<0x44>(a[4 * k + 1], a[4 * k + 3]);
                b[4 * k + 3] = _mm512_shuffle_ps::<0xEE>(a[4 * k + 1], a[4 * k + 3]);
            }
            for m in 0..4 {
                let c0 = _mm512_shuffle_f32x4::<0x44>(b[m], b[4 + m]);
                let c1 = _mm512_shuffle_f32x4::<0xEE>(b[m], b[4 + m]);
                let c2 = _mm512_shuffle_f32x4::<0x44>(b[8 + m], b[12 + m]);
                let c3 = _mm512_shuffle_f32x4::<0xEE>(b[8 + m], b[12 + m]);
                t[c + m] = Avx512F32x16(_mm512_shuffle_f32x4::<0x88>(c0, c2));
                t[c + 4 + m] = Avx512F32x16(_mm512_shuffle_f32x4::<0xDD>(c0, c2));
                t[c + 8 + m] = Avx512F32x16(_mm512_shuffle_f32x4::<0x88>(c1, c3));
                t[c + 12 + m] = Avx512F32x16(_mm512_shuffle_f32x4::<0xDD>(c1, c3));
            }
        }
        t
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        _mm512_reduce_add_ps(self.0)
    }
    #[inline(always)]
    unsafe fn hmax(self) -> f32 {
        _mm512_reduce_max_ps(self.0)
    }
}
