//! Spatial smoothing (SmoothQuant, Xiao et al. 2023; DiTAS for diffusion transformers): move
//! quantization difficulty from activations to weights with one factor per input channel,
//! `y = x·Wᵀ = (x / s)·(W·diag(s))ᵀ`, where
//!
//!   `s_j = max|X_j|^α / max|W_j|^(1−α)`
//!
//! (`max|X_j|` from the calibration's `act_absmax`, `max|W_j|` over the weight's rows; `s_j = 1`
//! where either is zero; clamped to [1e-4, 1e4]). α is searched per layer over
//! `ALPHAS` = 0, 0.1, …, 1 by an estimate of the layer's output error per calibration sample
//! under W-quantization with the layer's scheme and 8-bit per-tensor activations:
//!
//!   `err(α) = Σ_r Σ_j (W'_rj − Q(W')_rj)² · H_jj / s_j²  +  (Δ²/12) · Σ_j s_j² · Σ_r W_rj²`,
//!   `Δ = 2 · max_j(max|X_j| / s_j) / 255`
//!
//! (the first term is the weight error seen through the diagonal of the input Hessian, the
//! second the output noise of uniform activation rounding). The weight term is measured on a
//! deterministic sample of rows (every `stride`-th row, at most `SAMPLE_ROWS`) and scaled to
//! all rows. The unsmoothed layer (`s = 1`) is scored the same way and wins ties, so a layer is
//! only smoothed when the estimate says it helps.

use crate::error::{KernelError, Result};
use crate::formats::Scheme;
use crate::quantize::{dequantize, quantize, RunOptions};
use crate::source::Source;

pub const SAMPLE_ROWS: usize = 256;
pub const ACT_LEVELS: f64 = 255.0;
const S_MIN: f32 = 1e-4;
const S_MAX: f32 = 1e4;

/// Accumulates what the α search needs from one pass over a tensor's row chunks.
pub struct SmoothingSearch {
    rows: usize,
    cols: usize,
    stride: usize,
    col_absmax: Vec<f32>,
    col_sumsq: Vec<f64>,
    /// Sampled rows (every `stride`-th), in row order.
    sample: Vec<f32>,
    next_row: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SmoothingChoice {
    /// `None`: smoothing did not help this layer; store it unsmoothed.
    pub alpha: Option<f32>,
    pub scales: Vec<f32>,
    /// Estimated output error without smoothing and with the chosen α.
    pub error_unsmoothed: f64,
    pub error_chosen: f64,
}

pub const ALPHAS: [f32; 11] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// `s_j` for one α.
pub fn factors(alpha: f32, act_absmax: &[f32], w_absmax: &[f32]) -> Vec<f32> {
    act_absmax
        .iter()
        .zip(w_absmax)
        .map(|(&a, &m)| {
            if a > 0.0 && m > 0.0 {
                (a.powf(alpha) / m.powf(1.0 - alpha)).clamp(S_MIN, S_MAX)
            } else {
                1.0
            }
        })
        .collect()
}

/// `H' = diag(1/s)·H·diag(1/s)`: the Hessian of the smoothed inputs `x / s`.
pub fn smooth_hessian(h: &[f32], s: &[f32]) -> Vec<f32> {
    let n = s.len();
    let mut out = vec![0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = h[i * n + j] / s[i] / s[j];
        }
    }
    out
}

impl SmoothingSearch {
    pub fn new(rows: usize, cols: usize) -> Self {
        let stride = rows.div_ceil(SAMPLE_ROWS).max(1);
        SmoothingSearch { rows, cols, stride, col_absmax: vec![0.0; cols], col_sumsq: vec![0.0; cols], sample: Vec::new(), next_row: 0 }
    }

    /// Feed the next rows (chunks must arrive in order, starting at row 0).
    pub fn add_rows(&mut self, src: Source<'_>, row_start: usize, rows: usize) -> Result<()> {
        let cols = self.cols;
        if row_start != self.next_row || row_start + rows > self.rows || src.len() != rows * cols {
            return Err(KernelError::InvalidParameter {
                field: "rows",
                value: format!("{row_start}+{rows} (expected start {}, {} elements)", self.next_row, src.len()),
                allowed: "the tensor's row chunks in order",
            });
        }
        let mut scratch = Vec::new();
        for r in 0..rows {
            let x = src.segment_f32(r * cols, (r + 1) * cols, &mut scratch);
            if let Some(bad) = x.iter().position(|v| !v.is_finite()) {
                return Err(KernelError::NonFinite { index: r * cols + bad, row: row_start + r, col: bad, value: x[bad] });
            }
            for (j, &v) in x.iter().enumerate() {
                self.col_absmax[j] = self.col_absmax[j].max(v.abs());
                self.col_sumsq[j] += (v as f64) * (v as f64);
            }
            if (row_start + r).is_multiple_of(self.stride) {
                self.sample.extend_from_slice(x);
            }
        }
        self.next_row += rows;
        Ok(())
    }

    /// Estimated output error of quantizing the layer smoothed by `s` (see the module comment).
    fn estimate(&self, scheme: &Scheme, s: &[f32], act_absmax: &[f32], h_diag: &[f32], opts: &RunOptions) -> Result<f64> {
        let cols = self.cols;
        let n = self.sample.len() / cols.max(1);
        let scaled: Vec<f32> = self.sample.chunks(cols).flat_map(|row| row.iter().zip(s).map(|(w, s)| w * s)).collect();
        let q = quantize(scheme, Source::F32(&scaled), n, cols, opts)?;
        let mut deq = vec![0f32; scaled.len()];
        dequantize(scheme, n, cols, &q.codes, &q.scales, &q.zeros, &mut deq)?;
        let weights: Vec<f64> = (0..cols).map(|j| h_diag[j] as f64 / (s[j] as f64 * s[j] as f64)).collect();
        let mut werr = 0.0f64;
        for (row, qrow) in scaled.chunks(cols).zip(deq.chunks(cols)) {
            for j in 0..cols {
                let e = (row[j] - qrow[j]) as f64;
                werr += e * e * weights[j];
            }
        }
        werr *= self.rows as f64 / n.max(1) as f64;
        let amax = act_absmax.iter().zip(s).map(|(&a, &s)| a as f64 / s as f64).fold(0.0, f64::max);
        let delta = 2.0 * amax / ACT_LEVELS;
        let wnorm: f64 = (0..cols).map(|j| (s[j] as f64).powi(2) * self.col_sumsq[j]).sum();
        Ok(werr + delta * delta / 12.0 * wnorm)
    }

    /// Search α. `act_absmax[j]` = max over the calibration of |x_j|, `h_diag[j]` = H_jj.
    pub fn finish(&self, scheme: &Scheme, act_absmax: &[f32], h_diag: &[f32], opts: &RunOptions) -> Result<SmoothingChoice> {
        for (what, v) in [("act_absmax", act_absmax), ("hessian diagonal", h_diag)] {
            if v.len() != self.cols {
                return Err(KernelError::BufferSize { what, expected: self.cols, actual: v.len() });
            }
            if let Some(bad) = v.iter().position(|x| !x.is_finite() || *x < 0.0) {
                return Err(KernelError::InvalidParameter { field: what, value: format!("{} at channel {bad}", v[bad]), allowed: "finite values ≥ 0" });
            }
        }
        if self.next_row != self.rows {
            return Err(KernelError::InvalidParameter { field: "rows", value: self.next_row.to_string(), allowed: "every row of the tensor before finish" });
        }
        let ones = vec![1.0f32; self.cols];
        let base = self.estimate(scheme, &ones, act_absmax, h_diag, opts)?;
        let mut best = SmoothingChoice { alpha: None, scales: ones, error_unsmoothed: base, error_chosen: base };
        for alpha in ALPHAS {
            let s = factors(alpha, act_absmax, &self.col_absmax);
            let e = self.estimate(scheme, &s, act_absmax, h_diag, opts)?;
            if e < best.error_chosen {
                best = SmoothingChoice { alpha: Some(alpha), scales: s, error_unsmoothed: base, error_chosen: e };
            }
        }
        Ok(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::RtnSpec;
    use crate::testdata::Rng;

    #[test]
    fn smooths_a_layer_with_activation_outliers_and_not_one_without() {
        let (rows, cols) = (96, 256);
        let mut rng = Rng::new(7);
        let w: Vec<f32> = (0..rows * cols).map(|_| (rng.normal() * 0.05) as f32).collect();
        let scheme = Scheme::Rtn(RtnSpec::new(4, 64, false).unwrap());
        let opts = RunOptions::default();
        // Activation outliers (100× on a few channels): smoothing must help and must pick α > 0.
        let act: Vec<f32> = (0..cols).map(|j| if j % 37 == 0 { 100.0 } else { 1.0 }).collect();
        let hd: Vec<f32> = act.iter().map(|a| a * a / 9.0).collect();
        let mut search = SmoothingSearch::new(rows, cols);
        search.add_rows(Source::F32(&w[..40 * cols]), 0, 40).unwrap();
        search.add_rows(Source::F32(&w[40 * cols..]), 40, rows - 40).unwrap();
        let c = search.finish(&scheme, &act, &hd, &opts).unwrap();
        assert!(c.alpha.unwrap() > 0.0 && c.error_chosen < 0.5 * c.error_unsmoothed, "{:?} {} {}", c.alpha, c.error_chosen, c.error_unsmoothed);
        assert!(c.scales[0] > c.scales[1]);
        // Flat activations and 8-bit weights: nothing to move, the layer stays unsmoothed.
        let flat = vec![1.0f32; cols];
        let int8 = Scheme::Rtn(RtnSpec::new(8, 64, false).unwrap());
        let mut s2 = SmoothingSearch::new(rows, cols);
        s2.add_rows(Source::F32(&w), 0, rows).unwrap();
        let c2 = s2.finish(&int8, &flat, &flat, &opts).unwrap();
        assert!(c2.error_chosen <= c2.error_unsmoothed);
    }

    #[test]
    fn chunks_must_arrive_in_order() {
        let mut s = SmoothingSearch::new(4, 2);
        assert!(s.add_rows(Source::F32(&[1.0; 4]), 2, 2).is_err());
        s.add_rows(Source::F32(&[1.0; 4]), 0, 2).unwrap();
        let scheme = Scheme::Rtn(RtnSpec::new(4, 32, false).unwrap());
        assert!(s.finish(&scheme, &[1.0, 1.0], &[1.0, 1.0], &RunOptions::default()).is_err(), "rows 2..4 missing");
    }
}
