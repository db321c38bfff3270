//! The quality sums of one row, in the canonical order of [`crate::quality::row_sums_reference`],
//! on lane vectors: every ISA computes the same f32 operations in the same order, so the figures
//! (and the files they are written into) are the same bits on AVX2, AVX-512, NEON and the scalar
//! reference. A mixed fleet of x86-64 and aarch64 workers writes the local run's bytes.
//!
//! Within each block of 256 elements, canonical lane `j` (0..16) holds the terms of the elements
//! `k ≡ j (mod 16)`, added in increasing `k`. A vector of `V::N` lanes covers canonical lanes
//! `c·N .. (c+1)·N` of each run of 16 elements as its `c`-th accumulator (AVX-512: one; AVX2 and
//! NEON's 8-lane vectors: two), so each lane performs exactly the reference's additions. A
//! block's 16 lane sums are then reduced by the reference's fixed tree and folded into f64.

use crate::quality::{max8, reduce_lanes, tree8, QualityAcc, CANONICAL_BLOCK, CANONICAL_LANES};
use crate::simd::lanes::F32s;

/// Accumulators of 16 canonical lanes as `16 / V::N` vectors (`V::N` is 8 or 16).
struct Sums<V: F32s, const K: usize> {
    xx: [V; K],
    yy: [V; K],
    xy: [V; K],
    ee: [V; K],
    emax: [V; K],
}

impl<V: F32s, const K: usize> Sums<V, K> {
    #[inline(always)]
    unsafe fn new() -> Self {
        let z = [V::zero(); K];
        Sums { xx: z, yy: z, xy: z, ee: z, emax: z }
    }

    /// Add the 16 elements at `x`, `y`.
    #[inline(always)]
    unsafe fn add16(&mut self, x: *const f32, y: *const f32) {
        for c in 0..K {
            let (a, b) = (V::load(x.add(c * V::N)), V::load(y.add(c * V::N)));
            let e = a - b;
            self.xx[c] = self.xx[c] + a * a;
            self.yy[c] = self.yy[c] + b * b;
            self.xy[c] = self.xy[c] + a * b;
            self.ee[c] = self.ee[c] + e * e;
            // `e > m ? e : m`: a NaN error is skipped, as in the reference.
            self.emax[c] = e.abs().max_c(self.emax[c]);
        }
    }

    #[inline(always)]
    unsafe fn lanes(v: &[V; K]) -> [f32; CANONICAL_LANES] {
        let mut out = [0f32; CANONICAL_LANES];
        for (c, vc) in v.iter().enumerate() {
            vc.store(out.as_mut_ptr().add(c * V::N));
        }
        out
    }

    /// Fold the block's `n` elements into `acc` by the canonical tree (`quality::reduce_lanes`).
    /// With two vectors of 8 lanes its first step, lane `j` + lane `j + 8`, is one vector
    /// addition (and the maxima one vector maximum), which leaves 8 lanes for [`tree8`].
    #[inline(always)]
    unsafe fn reduce(&self, n: usize, acc: &mut QualityAcc) {
        if K != 2 {
            return reduce_lanes(n, &Self::lanes(&self.xx), &Self::lanes(&self.yy), &Self::lanes(&self.xy), &Self::lanes(&self.ee), &Self::lanes(&self.emax), acc);
        }
        let eight = |v: V| {
            let mut a = [0f32; 8];
            v.store(a.as_mut_ptr());
            a
        };
        let half = |v: &[V; K]| tree8(&eight(v[0] + v[1]));
        acc.add_partial(n, half(&self.xx), half(&self.yy), half(&self.xy), half(&self.ee), max8(&eight(self.emax[0].max_c(self.emax[1]))));
    }
}

/// The canonical sums of `x` against `y` (same length) on lanes `V` (8 or 16 of them).
#[inline(always)]
pub(crate) unsafe fn row_sums<V: F32s, const K: usize>(x: &[f32], y: &[f32]) -> QualityAcc {
    debug_assert_eq!(K * V::N, CANONICAL_LANES);
    debug_assert_eq!(x.len(), y.len());
    let mut acc = QualityAcc::default();
    for (xb, yb) in x.chunks(CANONICAL_BLOCK).zip(y.chunks(CANONICAL_BLOCK)) {
        let n = xb.len();
        let whole = n / CANONICAL_LANES * CANONICAL_LANES;
        let mut s = Sums::<V, K>::new();
        let mut i = 0;
        while i < whole {
            s.add16(xb.as_ptr().add(i), yb.as_ptr().add(i));
            i += CANONICAL_LANES;
        }
        if whole < n {
            // The tail, zero-padded: a zero term leaves a lane sum unchanged (sums are never -0).
            let (mut tx, mut ty) = ([0f32; CANONICAL_LANES], [0f32; CANONICAL_LANES]);
            tx[..n - whole].copy_from_slice(&xb[whole..]);
            ty[..n - whole].copy_from_slice(&yb[whole..]);
            s.add16(tx.as_ptr(), ty.as_ptr());
        }
        s.reduce(n, &mut acc);
    }
    acc
}

/// `#[target_feature]` entry points per ISA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn avx2(x: &[f32], y: &[f32]) -> QualityAcc {
    unsafe { row_sums::<crate::simd::lanes::Avx2F32x8, 2>(x, y) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
pub unsafe fn avx512(x: &[f32], y: &[f32]) -> QualityAcc {
    unsafe { row_sums::<crate::simd::lanes::Avx512F32x16, 1>(x, y) }
}

#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
pub unsafe fn neon(x: &[f32], y: &[f32]) -> QualityAcc {
    unsafe { row_sums::<crate::simd::lanes::NeonF32x8, 2>(x, y) }
}

/// The portable lanes (plain arrays), for testing the lane algorithm on any machine.
pub fn portable(x: &[f32], y: &[f32]) -> QualityAcc {
    // SAFETY: Portable's constructors need no CPU feature.
    unsafe { row_sums::<crate::simd::lanes::Portable, 2>(x, y) }
}
