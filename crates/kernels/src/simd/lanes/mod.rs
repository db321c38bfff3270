//! Lane vectors for algorithms written once and instantiated per ISA: f32 lanes with the
//! operations the GGUF K-quant searches need, each with exactly the IEEE semantics of the scalar
//! C they transcribe (no FMA, correctly rounded division and square root, C's `MIN`/`MAX`
//! argument order, ggml's `nearest_int` on the float bits), so a lane computes bit for bit what
//! the scalar reference computes for its element.
//!
//! Implementations: AVX2 (8 lanes), AVX-512 (16 lanes), NEON (8 lanes as two `float32x4_t`), a
//! portable array (8 lanes, for testing the algorithms on any machine), and [`Pair`], which runs
//! two vectors side by side (twice the lanes: two independent dependency chains per operation,
//! which hides the latency of the serial sums the searches are made of). One file each: `pair.rs`,
//! `portable.rs`, `avx2.rs`, `avx512.rs`, `neon.rs`; the trait and its rounding constants here.
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

mod pair;
mod portable;
pub use pair::{Pair, PairMask};
pub use portable::{Portable, PortableMask};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
pub use {avx2::Avx2F32x8, avx512::Avx512F32x16};

#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(target_arch = "aarch64")]
pub use neon::NeonF32x8;

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
