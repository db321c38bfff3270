//! Lane vectors for algorithms written once and instantiated per ISA: f32 lanes with the
//! operations the GGUF K-quant searches need, each with exactly the IEEE semantics of the scalar
//! C they transcribe (no FMA, correctly rounded division and square root, C's `MIN`/`MAX`
//! argument order, ggml's `nearest_int` on the float bits), so a lane computes bit for bit what
//! the scalar reference computes for its element.
//!
//! Implementations: AVX2 (8 lanes), AVX-512 (16 lanes), NEON (8 lanes as two `float32x4_t`), a
//! portable array (8 lanes, for testing the algorithms on any machine), and [`Pair`], which runs
//! two vectors side by side (twice the lanes: two independent dependency chains per operation,
//! which hides the latency of the serial sums the searches are made of).
//!
//! Values of these types exist only inside kernels whose ISA was checked at run time (every
//! constructor is `unsafe`); the arithmetic operators are therefore implemented as safe traits.
//! Generic code is `#[inline(always)]` all the way down to a `#[target_feature]` entry point, so
//! the intrinsics inline into it.

#![allow(clippy::missing_safety_doc)]

use std::ops::{Add, Div, Mul, Neg, Sub};

/// ggml's rounding constant, 1.5·2²³: `v + M` has `round_half_even(v)` in its low mantissa bits.
pub const MAGIC: f32 = 12_582_912.0;
/// Below this magnitude `(v + M) − M` is exactly ggml's `nearest_int(v)` (its own assert bound).
pub const FAST_ROUND_LIMIT: f32 = 4_194_303.0;

/// Per-lane booleans.
pub trait Mask: Copy {
    /// Lane count.
    const LEN: u32;
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    /// `self & !o`
    fn andnot(self, o: Self) -> Self;
    fn not(self) -> Self;
    fn any(self) -> bool;
    /// Lane `k` in bit `k`.
    fn bits(self) -> u64;
}

/// f32 lanes. Comparisons are C's: ordered (false when either side is NaN), except `ne`.
pub trait F32s: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> + Neg<Output = Self> {
    const N: usize;
    type M: Mask;
    unsafe fn splat(v: f32) -> Self;
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn store(self, p: *mut f32);
    /// Lane `k` = `base[idx[k]]` (`idx` points at `N` offsets).
    unsafe fn gather(base: *const f32, idx: *const i32) -> Self;
    /// Lanes holding integral values in 0..=255 as `N` bytes.
    unsafe fn store_u8(self, p: *mut u8);
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    /// C's `MIN(self, o)`: `self < o ? self : o`.
    fn min_c(self, o: Self) -> Self;
    /// C's `MAX(self, o)`: `self > o ? self : o`.
    fn max_c(self, o: Self) -> Self;
    fn lt(self, o: Self) -> Self::M;
    fn gt(self, o: Self) -> Self::M;
    fn le(self, o: Self) -> Self::M;
    fn eq(self, o: Self) -> Self::M;
    /// C's `!=` (true when unordered).
    fn ne(self, o: Self) -> Self::M;
    /// `m ? a : b` per lane.
    fn select(m: Self::M, a: Self, b: Self) -> Self;
    /// `nearest_int(v)` as a float, exact for `|v| <= FAST_ROUND_LIMIT` only: `(v + M) − M`.
    fn round_fast(self) -> Self;
    /// Round toward zero (C's float → int truncation, on values an int holds).
    fn trunc(self) -> Self;
    /// `nearest_int(v)` as a float for every `v` (its wrapped result beyond 2²² and for
    /// infinities and NaN): the low 23 bits of `v + M` under `M`'s exponent, minus `M`.
    fn nearest(self) -> Self;

    #[inline(always)]
    unsafe fn zero() -> Self {
        Self::splat(0.0)
    }
    /// Groups of `NE` consecutive values at `base + idx[k]` (lane `k`), transposed: vector `i`
    /// holds element `i` of every lane's group. Gathers by default.
    #[inline(always)]
    unsafe fn load_transposed<const NE: usize>(base: *const f32, idx: *const i32) -> [Self; NE] {
        let mut t = [Self::zero(); NE];
        for (i, v) in t.iter_mut().enumerate() {
            *v = Self::gather(base.add(i), idx);
        }
        t
    }
    /// `lo <= self <= hi` as C's `MAX(lo, MIN(hi, self))` on integral values.
    #[inline(always)]
    fn clamp_c(self, lo: Self, hi: Self) -> Self {
        self.min_c(hi).max_c(lo)
    }
    /// Horizontal sum of the lanes (f32, in an order of the implementation's choosing).
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        let mut a = [0f32; 64];
        self.store(a.as_mut_ptr());
        a[..Self::N].iter().fold(0.0, |s, &v| s + v)
    }
    /// Horizontal maximum (of lanes holding no NaN).
    #[inline(always)]
    unsafe fn hmax(self) -> f32 {
        let mut a = [0f32; 64];
        self.store(a.as_mut_ptr());
        a[..Self::N].iter().fold(f32::NEG_INFINITY, |s, &v| s.max(v))
    }
}

/// Two vectors as one of twice the lanes (lanes `0..V::N` in `.0`).
#[derive(Clone, Copy)]
pub struct Pair<V>(pub V, pub V);

#[derive(Clone, Copy)]
pub struct PairMask<M>(pub M, pub M);

impl<M: Mask> Mask for PairMask<M> {
    const LEN: u32 = 2 * M::LEN;
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        PairMask(self.0.and(o.0), self.1.and(o.1))
    }
    #[inline(always)]
    fn or(self, o: Self) -> Self {
        PairMask(self.0.or(o.0), self.1.or(o.1))
    }
    #[inline(always)]
    fn andnot(self, o: Self) -> Self {
        PairMask(self.0.andnot(o.0), self.1.andnot(o.1))
    }
    #[inline(always)]
    fn not(self) -> Self {
        PairMask(self.0.not(), self.1.not())
    }
    #[inline(always)]
    fn any(self) -> bool {
        self.0.or(self.1).any()
    }
    #[inline(always)]
    fn bits(self) -> u64 {
        self.0.bits() | (self.1.bits() << M::LEN)
    }
}

macro_rules! pair_binop {
    ($tr:ident, $f:ident) => {
        impl<V: F32s> $tr for Pair<V> {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                Pair(self.0.$f(o.0), self.1.$f(o.1))
            }
        }
    };
}
pair_binop!(Add, add);
pair_binop!(Sub, sub);
pair_binop!(Mul, mul);
pair_binop!(Div, div);

impl<V: F32s> Neg for Pair<V> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Pair(-self.0, -self.1)
    }
}

impl<V: F32s> F32s for Pair<V> {
    const N: usize = 2 * V::N;
    type M = PairMask<V::M>;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Pair(V::splat(v), V::splat(v))
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Pair(V::load(p), V::load(p.add(V::N)))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        self.0.store(p);
        self.1.store(p.add(V::N));
    }
    #[inline(always)]
    unsafe fn gather(base: *const f32, idx: *const i32) -> Self {
        Pair(V::gather(base, idx), V::gather(base, idx.add(V::N)))
    }
    #[inline(always)]
    unsafe fn store_u8(self, p: *mut u8) {
        self.0.store_u8(p);
        self.1.store_u8(p.add(V::N));
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        Pair(self.0.sqrt(), self.1.sqrt())
    }
    #[inline(always)]
    fn abs(self) -> Self {
        Pair(self.0.abs(), self.1.abs())
    }
    #[inline(always)]
    fn min_c(self, o: Self) -> Self {
        Pair(self.0.min_c(o.0), self.1.min_c(o.1))
    }
    #[inline(always)]
    fn max_c(self, o: Self) -> Self {
        Pair(self.0.max_c(o.0), self.1.max_c(o.1))
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Self::M {
        PairMask(self.0.lt(o.0), self.1.lt(o.1))
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Self::M {
        PairMask(self.0.gt(o.0), self.1.gt(o.1))
    }
    #[inline(always)]
    fn le(self, o: Self) -> Self::M {
        PairMask(self.0.le(o.0), self.1.le(o.1))
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Self::M {
        PairMask(self.0.eq(o.0), self.1.eq(o.1))
    }
    #[inline(always)]
    fn ne(self, o: Self) -> Self::M {
        PairMask(self.0.ne(o.0), self.1.ne(o.1))
    }
    #[inline(always)]
    fn select(m: Self::M, a: Self, b: Self) -> Self {
        Pair(V::select(m.0, a.0, b.0), V::select(m.1, a.1, b.1))
    }
    #[inline(always)]
    fn round_fast(self) -> Self {
        Pair(self.0.round_fast(), self.1.round_fast())
    }
    #[inline(always)]
    fn trunc(self) -> Self {
        Pair(self.0.trunc(), self.1.trunc())
    }
    #[inline(always)]
    fn nearest(self) -> Self {
        Pair(self.0.nearest(), self.1.nearest())
    }
    #[inline(always)]
    unsafe fn load_transposed<const NE: usize>(base: *const f32, idx: *const i32) -> [Self; NE] {
        let (a, b) = (V::load_transposed::<NE>(base, idx), V::load_transposed::<NE>(base, idx.add(V::N)));
        let mut t = [Self::zero(); NE];
        for i in 0..NE {
            t[i] = Pair(a[i], b[i]);
        }
        t
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        (self.0 + self.1).hsum()
    }
    #[inline(always)]
    unsafe fn hmax(self) -> f32 {
        self.0.max_c(self.1).hmax()
    }
}

// ---------------------------------------------------------------------------------------------
// Portable: plain f32 arithmetic on an array (what the scalar references do, lane by lane).

/// Eight f32 lanes in an array; the algorithms' reference instantiation for tests.
#[derive(Clone, Copy)]
pub struct Portable(pub [f32; 8]);

#[derive(Clone, Copy)]
pub struct PortableMask(pub u8);

impl Mask for PortableMask {
    const LEN: u32 = 8;
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        PortableMask(self.0 & o.0)
    }
    #[inline(always)]
    fn or(self, o: Self) -> Self {
        PortableMask(self.0 | o.0)
    }
    #[inline(always)]
    fn andnot(self, o: Self) -> Self {
        PortableMask(self.0 & !o.0)
    }
    #[inline(always)]
    fn not(self) -> Self {
        PortableMask(!self.0)
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

impl Portable {
    #[inline(always)]
    fn map(self, f: impl Fn(f32) -> f32) -> Self {
        Portable(self.0.map(f))
    }
    #[inline(always)]
    fn zip(self, o: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        Portable(std::array::from_fn(|k| f(self.0[k], o.0[k])))
    }
    #[inline(always)]
    fn test(self, o: Self, f: impl Fn(f32, f32) -> bool) -> PortableMask {
        PortableMask((0..8).fold(0u8, |m, k| m | ((f(self.0[k], o.0[k]) as u8) << k)))
    }
}

macro_rules! portable_binop {
    ($tr:ident, $f:ident, $op:tt) => {
        impl $tr for Portable {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                self.zip(o, |a, b| a $op b)
            }
        }
    };
}
portable_binop!(Add, add, +);
portable_binop!(Sub, sub, -);
portable_binop!(Mul, mul, *);
portable_binop!(Div, div, /);

impl Neg for Portable {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        self.map(|v| -v)
    }
}

impl F32s for Portable {
    const N: usize = 8;
    type M = PortableMask;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Portable([v; 8])
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Portable(std::array::from_fn(|k| *p.add(k)))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        for k in 0..8 {
            *p.add(k) = self.0[k];
        }
    }
    #[inline(always)]
    unsafe fn gather(base: *const f32, idx: *const i32) -> Self {
        Portable(std::array::from_fn(|k| *base.offset(*idx.add(k) as isize)))
    }
    #[inline(always)]
    unsafe fn store_u8(self, p: *mut u8) {
        for k in 0..8 {
            *p.add(k) = self.0[k] as u8;
        }
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        self.map(f32::sqrt)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        self.map(f32::abs)
    }
    #[inline(always)]
    fn min_c(self, o: Self) -> Self {
        self.zip(o, |a, b| if a < b { a } else { b })
    }
    #[inline(always)]
    fn max_c(self, o: Self) -> Self {
        self.zip(o, |a, b| if a > b { a } else { b })
    }
    #[inline(always)]
    fn lt(self, o: Self) -> PortableMask {
        self.test(o, |a, b| a < b)
    }
    #[inline(always)]
    fn gt(self, o: Self) -> PortableMask {
        self.test(o, |a, b| a > b)
    }
    #[inline(always)]
    fn le(self, o: Self) -> PortableMask {
        self.test(o, |a, b| a <= b)
    }
    #[inline(always)]
    fn eq(self, o: Self) -> PortableMask {
        self.test(o, |a, b| a == b)
    }
    #[inline(always)]
    fn ne(self, o: Self) -> PortableMask {
        self.test(o, |a, b| a != b)
    }
    #[inline(always)]
    fn select(m: PortableMask, a: Self, b: Self) -> Self {
        Portable(std::array::from_fn(|k| if m.0 >> k & 1 != 0 { a.0[k] } else { b.0[k] }))
    }
    #[inline(always)]
    fn round_fast(self) -> Self {
        self.map(|v| (v + MAGIC) - MAGIC)
    }
    #[inline(always)]
    fn trunc(self) -> Self {
        self.map(f32::trunc)
    }
    #[inline(always)]
    fn nearest(self) -> Self {
        self.map(|v| f32::from_bits(((v + MAGIC).to_bits() & 0x007f_ffff) | 0x4b00_0000) - MAGIC)
    }
}

// ---------------------------------------------------------------------------------------------
// x86-64: AVX2 and AVX-512.

#[cfg(target_arch = "x86_64")]
pub use x86::{Avx2F32x8, Avx512F32x16};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;

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
}

// ---------------------------------------------------------------------------------------------
// aarch64: NEON, two float32x4_t per vector.

#[cfg(target_arch = "aarch64")]
pub use arm::NeonF32x8;

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::*;
    use std::arch::aarch64::*;

    /// Eight lanes in two `float32x4_t`.
    #[derive(Clone, Copy)]
    pub struct NeonF32x8(pub float32x4_t, pub float32x4_t);

    #[derive(Clone, Copy)]
    pub struct NeonMask(pub uint32x4_t, pub uint32x4_t);

    impl Mask for NeonMask {
        const LEN: u32 = 8;
        #[inline(always)]
        fn and(self, o: Self) -> Self {
            unsafe { NeonMask(vandq_u32(self.0, o.0), vandq_u32(self.1, o.1)) }
        }
        #[inline(always)]
        fn or(self, o: Self) -> Self {
            unsafe { NeonMask(vorrq_u32(self.0, o.0), vorrq_u32(self.1, o.1)) }
        }
        #[inline(always)]
        fn andnot(self, o: Self) -> Self {
            unsafe { NeonMask(vbicq_u32(self.0, o.0), vbicq_u32(self.1, o.1)) }
        }
        #[inline(always)]
        fn not(self) -> Self {
            unsafe { NeonMask(vmvnq_u32(self.0), vmvnq_u32(self.1)) }
        }
        #[inline(always)]
        fn any(self) -> bool {
            unsafe { vmaxvq_u32(vorrq_u32(self.0, self.1)) != 0 }
        }
        #[inline(always)]
        fn bits(self) -> u64 {
            unsafe {
                let w = vld1q_u32([1u32, 2, 4, 8].as_ptr());
                let lo = vaddvq_u32(vandq_u32(self.0, w)) as u64;
                let hi = vaddvq_u32(vandq_u32(self.1, w)) as u64;
                lo | (hi << 4)
            }
        }
    }

    macro_rules! neon_binop {
        ($tr:ident, $f:ident, $i:ident) => {
            impl $tr for NeonF32x8 {
                type Output = Self;
                #[inline(always)]
                fn $f(self, o: Self) -> Self {
                    unsafe { NeonF32x8($i(self.0, o.0), $i(self.1, o.1)) }
                }
            }
        };
    }
    neon_binop!(Add, add, vaddq_f32);
    neon_binop!(Sub, sub, vsubq_f32);
    neon_binop!(Mul, mul, vmulq_f32);
    neon_binop!(Div, div, vdivq_f32);

    impl Neg for NeonF32x8 {
        type Output = Self;
        #[inline(always)]
        fn neg(self) -> Self {
            unsafe { NeonF32x8(vnegq_f32(self.0), vnegq_f32(self.1)) }
        }
    }

    impl F32s for NeonF32x8 {
        const N: usize = 8;
        type M = NeonMask;
        #[inline(always)]
        unsafe fn splat(v: f32) -> Self {
            NeonF32x8(vdupq_n_f32(v), vdupq_n_f32(v))
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            NeonF32x8(vld1q_f32(p), vld1q_f32(p.add(4)))
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            vst1q_f32(p, self.0);
            vst1q_f32(p.add(4), self.1);
        }
        #[inline(always)]
        unsafe fn gather(base: *const f32, idx: *const i32) -> Self {
            let a: [f32; 8] = std::array::from_fn(|k| *base.offset(*idx.add(k) as isize));
            Self::load(a.as_ptr())
        }
        #[inline(always)]
        unsafe fn store_u8(self, p: *mut u8) {
            let w = vcombine_u16(vmovn_u32(vcvtq_u32_f32(self.0)), vmovn_u32(vcvtq_u32_f32(self.1)));
            vst1_u8(p, vmovn_u16(w));
        }
        #[inline(always)]
        fn sqrt(self) -> Self {
            unsafe { NeonF32x8(vsqrtq_f32(self.0), vsqrtq_f32(self.1)) }
        }
        #[inline(always)]
        fn abs(self) -> Self {
            unsafe { NeonF32x8(vabsq_f32(self.0), vabsq_f32(self.1)) }
        }
        // FMIN/FMAX propagate NaN and order signed zeros: select on the comparison instead.
        #[inline(always)]
        fn min_c(self, o: Self) -> Self {
            unsafe { NeonF32x8(vbslq_f32(vcltq_f32(self.0, o.0), self.0, o.0), vbslq_f32(vcltq_f32(self.1, o.1), self.1, o.1)) }
        }
        #[inline(always)]
        fn max_c(self, o: Self) -> Self {
            unsafe { NeonF32x8(vbslq_f32(vcgtq_f32(self.0, o.0), self.0, o.0), vbslq_f32(vcgtq_f32(self.1, o.1), self.1, o.1)) }
        }
        #[inline(always)]
        fn lt(self, o: Self) -> NeonMask {
            unsafe { NeonMask(vcltq_f32(self.0, o.0), vcltq_f32(self.1, o.1)) }
        }
        #[inline(always)]
        fn gt(self, o: Self) -> NeonMask {
            unsafe { NeonMask(vcgtq_f32(self.0, o.0), vcgtq_f32(self.1, o.1)) }
        }
        #[inline(always)]
        fn le(self, o: Self) -> NeonMask {
            unsafe { NeonMask(vcleq_f32(self.0, o.0), vcleq_f32(self.1, o.1)) }
        }
        #[inline(always)]
        fn eq(self, o: Self) -> NeonMask {
            unsafe { NeonMask(vceqq_f32(self.0, o.0), vceqq_f32(self.1, o.1)) }
        }
        #[inline(always)]
        fn ne(self, o: Self) -> NeonMask {
            unsafe { NeonMask(vmvnq_u32(vceqq_f32(self.0, o.0)), vmvnq_u32(vceqq_f32(self.1, o.1))) }
        }
        #[inline(always)]
        fn select(m: NeonMask, a: Self, b: Self) -> Self {
            unsafe { NeonF32x8(vbslq_f32(m.0, a.0, b.0), vbslq_f32(m.1, a.1, b.1)) }
        }
        #[inline(always)]
        fn round_fast(self) -> Self {
            unsafe {
                let m = vdupq_n_f32(MAGIC);
                NeonF32x8(vsubq_f32(vaddq_f32(self.0, m), m), vsubq_f32(vaddq_f32(self.1, m), m))
            }
        }
        #[inline(always)]
        fn trunc(self) -> Self {
            unsafe { NeonF32x8(vrndq_f32(self.0), vrndq_f32(self.1)) }
        }
        #[inline(always)]
        fn nearest(self) -> Self {
            unsafe {
                let m = vdupq_n_f32(MAGIC);
                let f = |v: float32x4_t| {
                    let t = vreinterpretq_u32_f32(vaddq_f32(v, m));
                    let b = vorrq_u32(vandq_u32(t, vdupq_n_u32(0x007f_ffff)), vdupq_n_u32(0x4b00_0000));
                    vsubq_f32(vreinterpretq_f32_u32(b), m)
                };
                NeonF32x8(f(self.0), f(self.1))
            }
        }
        #[inline(always)]
        unsafe fn hsum(self) -> f32 {
            vaddvq_f32(vaddq_f32(self.0, self.1))
        }
        #[inline(always)]
        unsafe fn hmax(self) -> f32 {
            vmaxvq_f32(vmaxq_f32(self.0, self.1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::ggml_search::nearest_int;

    #[test]
    fn nearest_matches_ggml_on_every_class() {
        let vals = [0.0f32, -0.0, 0.5, 1.5, 2.5, -0.5, -1.5, 3.49, -3.51, 4194303.0, 4194304.5, -4194305.0, 1e9, -1e9, 3e38, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e-40];
        for v in vals {
            let p = unsafe { Portable::splat(v) };
            assert_eq!(p.nearest().0[0], nearest_int(v) as f32, "{v}");
            if v.abs() <= FAST_ROUND_LIMIT {
                assert_eq!(p.round_fast().0[0], nearest_int(v) as f32, "{v}");
            }
        }
    }
}
