//! Quality of a quantization, accumulated while quantizing (no second read of the weights).
//!
//! For input x and its dequantized reconstruction y over n elements:
//! - cosine similarity  = Σxy / sqrt(Σx² · Σy²)
//! - relative MSE       = Σ(x−y)² / Σx²
//! - SQNR (dB)          = 10·log10(Σx² / Σ(x−y)²)
//! - max abs error      = max |x−y|
//!
//! Sums are kept in f64. Kernels accumulate a group in f32 lanes and fold it in here, so a SIMD
//! kernel and its scalar reference agree to rounding, not bit for bit. Partial results are merged
//! in a fixed order by the callers, so figures never depend on thread count.

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

    /// Fold in one group's f32 partial sums (what the SIMD kernels produce).
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

/// f32 sums of a bounded run of elements (a block or a few groups), folded into a
/// [`QualityAcc`] by the caller. Lets hot loops accumulate in registers and vectorize.
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockSums {
    pub xx: f32,
    pub yy: f32,
    pub xy: f32,
    pub ee: f32,
    pub emax: f32,
}

impl BlockSums {
    #[inline(always)]
    pub fn add(&mut self, x: f32, y: f32) {
        let e = x - y;
        self.xx += x * x;
        self.yy += y * y;
        self.xy += x * y;
        self.ee += e * e;
        self.emax = self.emax.max(e.abs());
    }

    #[inline(always)]
    pub fn fold_into(&self, n: usize, acc: &mut QualityAcc) {
        acc.add_partial(n, self.xx, self.yy, self.xy, self.ee, self.emax);
    }
}
