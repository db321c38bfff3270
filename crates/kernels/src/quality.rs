//! Quality of a quantization, measured on each row as it is quantized: the kernel hands over the
//! row's decoded values (what a reader gets from the file), and the row's sums are taken while it
//! is still in cache (no second read of the weights).
//!
//! For input x and its dequantized reconstruction y over n elements:
//! - cosine similarity  = Σxy / sqrt(Σx² · Σy²)
//! - relative MSE       = Σ(x−y)² / Σx²
//! - SQNR (dB)          = 10·log10(Σx² / Σ(x−y)²)
//! - max abs error      = max |x−y|
//!
//! A row's sums are taken in f32 in one canonical order ([`row_sums_reference`]: 16 lanes, a
//! fixed reduction tree) that the SIMD kernels (`simd/row_sums.rs`) follow operation for
//! operation, so the figures are the same bits on every ISA and architecture, then folded into f64.
//! Rows are merged in a fixed order by the callers, so figures never depend on thread count either.

use crate::simd::Isa;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QualityAcc {
    pub n: u64,
    pub sum_xx: f64,
    pub sum_yy: f64,
    pub sum_xy: f64,
    pub sum_ee: f64,
    pub max_abs_err: f32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quality {
    pub elements: u64,
    pub cosine: f64,
    pub rel_mse: f64,
    /// +inf when the reconstruction is exact.
    pub sqnr_db: f64,
    pub max_abs_err: f64,
}

impl QualityAcc {
    #[inline]
    pub fn add(&mut self, x: f32, y: f32) {
        let (xd, yd) = (x as f64, y as f64);
        let e = x - y;
        self.n += 1;
        self.sum_xx += xd * xd;
        self.sum_yy += yd * yd;
        self.sum_xy += xd * yd;
        self.sum_ee += (xd - yd) * (xd - yd);
        self.max_abs_err = self.max_abs_err.max(e.abs());
    }

    /// Fold in one block's f32 partial sums (the canonical row sums' blocks).
    #[inline]
    pub fn add_partial(&mut self, n: usize, xx: f32, yy: f32, xy: f32, ee: f32, max_abs_err: f32) {
        self.n += n as u64;
        self.sum_xx += xx as f64;
        self.sum_yy += yy as f64;
        self.sum_xy += xy as f64;
        self.sum_ee += ee as f64;
        self.max_abs_err = self.max_abs_err.max(max_abs_err);
    }

    pub fn merge(&mut self, other: &QualityAcc) {
        self.n += other.n;
        self.sum_xx += other.sum_xx;
        self.sum_yy += other.sum_yy;
        self.sum_xy += other.sum_xy;
        self.sum_ee += other.sum_ee;
        self.max_abs_err = self.max_abs_err.max(other.max_abs_err);
    }

    pub fn finish(&self) -> Quality {
        let denom = (self.sum_xx * self.sum_yy).sqrt();
        // An all-zero tensor reconstructed exactly is a perfect match; one reconstructed as
        // non-zero (or a non-zero one reconstructed as zero) has no direction in common.
        let cosine = if denom > 0.0 {
            (self.sum_xy / denom).clamp(-1.0, 1.0)
        } else if self.sum_ee == 0.0 {
            1.0
        } else {
            0.0
        };
        let rel_mse = if self.sum_xx > 0.0 {
            self.sum_ee / self.sum_xx
        } else if self.sum_ee == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        let sqnr_db = if self.sum_ee == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (self.sum_xx / self.sum_ee).log10()
        };
        Quality { elements: self.n, cosine, rel_mse, sqnr_db, max_abs_err: self.max_abs_err as f64 }
    }
}

/// Lanes of the canonical row sums: element `k` of a block goes to lane `k % 16`.
pub const CANONICAL_LANES: usize = 16;
/// Elements per block of the canonical row sums: each block's f32 lane sums are reduced and
/// folded into f64, which keeps the f32 rounding of a long row at that of 16 terms per lane.
pub const CANONICAL_BLOCK: usize = 256;

/// The sums of a row `x` against its reconstruction `y`, in the canonical order every ISA's
/// kernel reproduces bit for bit:
/// - the row is cut into blocks of [`CANONICAL_BLOCK`] elements from its start (the last may be
///   shorter); within a block, lane `j` (0..16) sums, in f32 and in increasing `k`, the terms of
///   the block's elements `k ≡ j (mod 16)`: `x·x`, `y·y`, `x·y` and `e·e` with `e = x − y` (each
///   product rounded, then added: no FMA);
/// - a block's lanes are reduced by a fixed tree ([`reduce_lanes`]: lane `j` + lane `j + 8`, then
///   `+4`, `+2`, `+1`), converted to f64 and added to the row's sums, block after block;
/// - the largest `|e|`, NaN errors skipped.
pub fn row_sums_reference(x: &[f32], y: &[f32]) -> QualityAcc {
    assert_eq!(x.len(), y.len(), "row sums of unequal lengths");
    let mut acc = QualityAcc::default();
    for (xb, yb) in x.chunks(CANONICAL_BLOCK).zip(y.chunks(CANONICAL_BLOCK)) {
        let mut l = [[0f32; CANONICAL_LANES]; 5];
        for (k, (&a, &b)) in xb.iter().zip(yb).enumerate() {
            let j = k % CANONICAL_LANES;
            let e = a - b;
            l[0][j] += a * a;
            l[1][j] += b * b;
            l[2][j] += a * b;
            l[3][j] += e * e;
            if e.abs() > l[4][j] {
                l[4][j] = e.abs();
            }
        }
        reduce_lanes(xb.len(), &l[0], &l[1], &l[2], &l[3], &l[4], &mut acc);
    }
    acc
}

/// The canonical reduction of one block's 16 lane sums (and lane maxima) of `n` elements, folded
/// into `acc`: lane `j` + lane `j + 8`, then [`tree8`].
#[inline(always)]
pub(crate) fn reduce_lanes(n: usize, xx: &[f32; 16], yy: &[f32; 16], xy: &[f32; 16], ee: &[f32; 16], emax: &[f32; 16], acc: &mut QualityAcc) {
    let half = |v: &[f32; 16]| -> [f32; 8] { std::array::from_fn(|j| v[j] + v[j + 8]) };
    let m: [f32; 8] = std::array::from_fn(|j| max_c(emax[j], emax[j + 8]));
    acc.add_partial(n, tree8(&half(xx)), tree8(&half(yy)), tree8(&half(xy)), tree8(&half(ee)), max8(&m));
}

/// The canonical tree after its first step, on the 8 lanes `a[j]` = lane `j` + lane `j + 8`: then
/// `+4`, `+2`, `+1` (the SIMD kernels take the first step as one vector addition).
#[inline(always)]
pub(crate) fn tree8(a: &[f32; 8]) -> f32 {
    let b: [f32; 4] = std::array::from_fn(|j| a[j] + a[j + 4]);
    (b[0] + b[2]) + (b[1] + b[3])
}

/// The largest of 8 lane maxima. Any order gives the same value: they are never NaN (NaN errors
/// are skipped) nor −0 (they start at +0 and take absolute values).
#[inline(always)]
pub(crate) fn max8(a: &[f32; 8]) -> f32 {
    let b: [f32; 4] = std::array::from_fn(|j| max_c(a[j], a[j + 4]));
    max_c(max_c(b[0], b[2]), max_c(b[1], b[3]))
}

/// C's `MAX`, one instruction on x86-64 (where `f32::max`'s NaN rule costs three).
#[inline(always)]
fn max_c(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// [`row_sums_reference`] on `isa`'s kernel (the same bits on every ISA).
pub fn row_sums(isa: Isa, x: &[f32], y: &[f32]) -> QualityAcc {
    assert_eq!(x.len(), y.len(), "row sums of unequal lengths");
    match isa {
        // SAFETY (every arm): the caller checked that this CPU runs `isa` (`Isa::is_available`),
        // as for every kernel.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { crate::simd::row_sums::avx2(x, y) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { crate::simd::row_sums::avx512(x, y) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => unsafe { crate::simd::row_sums::neon(x, y) },
        _ => row_sums_reference(x, y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::awkward_weight;

    /// Every ISA here, and the portable lanes, give the reference's bits on rows of every length
    /// mod 16 and on awkward values (outliers, zeros, subnormals, ties).
    #[test]
    fn row_sums_are_the_same_bits_on_every_isa() {
        for n in [1usize, 7, 15, 16, 17, 31, 32, 33, 100, 255, 256, 257, 1000, 3072 + 5] {
            for seed in 0..4u64 {
                let x = awkward_weight(1, n, seed);
                // A reconstruction with small errors, some exact, one NaN-free outlier.
                let y: Vec<f32> = x.iter().enumerate().map(|(k, v)| if k % 5 == 0 { *v } else { v * (1.0 + 0.01 * ((k % 7) as f32 - 3.0)) }).collect();
                let want = row_sums_reference(&x, &y);
                let bits = |a: &QualityAcc| (a.n, a.sum_xx.to_bits(), a.sum_yy.to_bits(), a.sum_xy.to_bits(), a.sum_ee.to_bits(), a.max_abs_err.to_bits());
                assert_eq!(bits(&crate::simd::row_sums::portable(&x, &y)), bits(&want), "portable lanes, n = {n}, seed {seed}");
                for isa in Isa::available() {
                    assert_eq!(bits(&row_sums(isa, &x, &y)), bits(&want), "{isa}, n = {n}, seed {seed}");
                }
            }
        }
        for isa in Isa::available() {
            assert_eq!(row_sums(isa, &[], &[]), QualityAcc::default(), "{isa}: an empty row");
        }
    }
}
