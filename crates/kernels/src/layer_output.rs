//! Layer-output quality: how close `ŴX` stays to `WX` on the calibration distribution, computed
//! from the layer's Hessian `H = (1/n) Σ xxᵀ` without the activations.
//!
//! With `E = W − Ŵ` and, summed over the measured rows `w` of `W` (and `e` of `E`):
//!
//! ```text
//! sum_ww = Σ w H wᵀ      (= ‖XWᵀ‖² / n)
//! sum_we = Σ w H eᵀ
//! sum_ee = Σ e H eᵀ      (= ‖X(W−Ŵ)ᵀ‖² / n)
//! tr(W H Ŵᵀ) = sum_ww − sum_we,   tr(Ŵ H Ŵᵀ) = sum_ww − 2·sum_we + sum_ee
//! cosine  = tr(W H Ŵᵀ) / √(tr(W H Wᵀ) · tr(Ŵ H Ŵᵀ))      = cos(XWᵀ, XŴᵀ) over all outputs
//! rel_mse = sum_ee / sum_ww
//! ```
//!
//! The error terms are computed from `E` directly (not as differences of large traces), so a
//! near-exact layer (1 − cos ≈ 1e-6) is still measured to several digits.
//!
//! Cost: `2·cols²` multiply-adds per measured row. Measuring every row would cost as much as
//! GPTQ itself (`rows·cols²`), so a tensor measures at most [`MEASURED_ROWS`] rows: every
//! `stride`-th row of each chunk, `stride = ⌊rows / MEASURED_ROWS⌋` (all rows of a smaller
//! tensor). The sums are a ratio estimate over those rows; the rows depend only on the chunking,
//! which is the same wherever the chunk runs, so the figures are reproducible.
//!
//! `H` is read a block of rows at a time (`crate::hessian`) and `H·x` formed a block of its
//! entries at a time, so a measure holds one block of `H` (≤ 4 MiB), never the matrix.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

use crate::error::{KernelError, Result};
use crate::hessian::{for_each_row_block, HessianSource};

/// Rows a tensor measures at most (give or take one per chunk).
pub const MEASURED_ROWS: usize = 256;

/// The measuring stride for a tensor of `rows` rows.
pub fn stride_for(rows: usize) -> usize {
    (rows / MEASURED_ROWS).max(1)
}

/// Sums over the measured rows of one chunk (add chunks' sums in chunk order to merge).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OutputAcc {
    pub rows: u64,
    pub sum_ww: f64,
    pub sum_we: f64,
    pub sum_ee: f64,
}

impl OutputAcc {
    pub fn merge(&mut self, o: &OutputAcc) {
        self.rows += o.rows;
        self.sum_ww += o.sum_ww;
        self.sum_we += o.sum_we;
        self.sum_ee += o.sum_ee;
    }

    /// cos(XWᵀ, XŴᵀ): 1 when nothing was measured or the layer is exact, 0 when either output
    /// is identically zero but not both.
    pub fn cosine(&self) -> f64 {
        cosine(self.sum_ww, self.sum_we, self.sum_ee)
    }
}

/// The formula of the module comment (also `common/format/quality.ts`'s and the reader's).
pub fn cosine(ww: f64, we: f64, ee: f64) -> f64 {
    if ee <= 0.0 {
        return 1.0;
    }
    let xy = ww - we;
    let yy = (ww - 2.0 * we + ee).max(0.0);
    let denom = (ww * yy).sqrt();
    if !(denom > 0.0) {
        return 0.0;
    }
    (xy / denom).clamp(-1.0, 1.0)
}

/// The measured rows of a chunk, gathered as the chunk is decoded: rows `0, stride, 2·stride, …`,
/// each kept with its error `w − ŵ` (`m × cols` values each, never the decoded chunk).
pub struct MeasuredRows {
    stride: usize,
    cols: usize,
    m: usize,
    picked: Vec<f32>,
    errors: Vec<f32>,
}

impl MeasuredRows {
    /// Room for the measured rows of a `[rows, cols]` chunk, exactly.
    pub fn new(rows: usize, cols: usize, stride: usize) -> MeasuredRows {
        let stride = stride.max(1);
        let n = rows.div_ceil(stride) * cols;
        MeasuredRows { stride, cols, m: 0, picked: Vec::with_capacity(n), errors: Vec::with_capacity(n) }
    }

    /// Whether row `r` of the chunk is measured.
    pub fn wants(&self, r: usize) -> bool {
        r % self.stride == 0
    }

    /// Keep a measured row: `w` as it was, `w_hat` as a reader decodes it.
    pub fn push(&mut self, w: &[f32], w_hat: &[f32]) {
        debug_assert!(w.len() == self.cols && w_hat.len() == self.cols);
        self.picked.extend_from_slice(w);
        self.errors.extend(w.iter().zip(w_hat).map(|(&x, &y)| x - y));
        self.m += 1;
    }

    /// The sums over the rows kept, with the layer's Hessian.
    pub fn finish(&self, h: &dyn HessianSource) -> Result<OutputAcc> {
        measure_rows(&self.picked, &self.errors, self.m, self.cols, h)
    }
}

/// Measure rows `0, stride, 2·stride, …` of a chunk: `w` the original values and `w_hat` what a
/// reader decodes, both `[rows, cols]` row-major; `h` the layer's `[cols, cols]` Hessian.
pub fn measure(w: &[f32], w_hat: &[f32], rows: usize, cols: usize, h: &dyn HessianSource, stride: usize) -> Result<OutputAcc> {
    if w.len() != rows * cols || w_hat.len() != rows * cols {
        return Err(KernelError::ShapeMismatch { rows, cols, expected: rows * cols, actual: w.len().min(w_hat.len()) });
    }
    if h.cols() != cols {
        return Err(KernelError::BufferSize { what: "hessian columns", expected: cols, actual: h.cols() });
    }
    let mut rows_kept = MeasuredRows::new(rows, cols, stride);
    for r in (0..rows).step_by(rows_kept.stride) {
        rows_kept.push(&w[r * cols..(r + 1) * cols], &w_hat[r * cols..(r + 1) * cols]);
    }
    rows_kept.finish(h)
}

/// The sums over `m` measured rows given as they are: `w` the original rows and `e = w − ŵ`
/// (both `m × cols`, row-major). For each block `b` of `H`'s rows, `(H·x)_b = H[b, :]·x` for every
/// measured row at once (two `m × |b|` products), dotted with `x_b`: no `m × cols` product is
/// ever whole.
pub fn measure_rows(w: &[f32], e: &[f32], m: usize, cols: usize, h: &dyn HessianSource) -> Result<OutputAcc> {
    if h.cols() != cols {
        return Err(KernelError::BufferSize { what: "hessian columns", expected: cols, actual: h.cols() });
    }
    for (what, len) in [("measured rows", w.len()), ("measured error rows", e.len())] {
        if len != m * cols {
            return Err(KernelError::BufferSize { what, expected: m * cols, actual: len });
        }
    }
    if m == 0 || cols == 0 {
        return Ok(OutputAcc { rows: m as u64, ..OutputAcc::default() });
    }
    let (wm, em) = (MatRef::from_row_major_slice(w, m, cols), MatRef::from_row_major_slice(e, m, cols));
    // Per measured row: w·Hw, e·Hw, e·He, summed over the blocks in order.
    let mut sums = vec![[0f64; 3]; m];
    let mut hw = vec![0f32; m * crate::hessian::block_rows(cols).min(cols)];
    let mut he = hw.clone();
    for_each_row_block(h, |r0, block| {
        let n = block.len() / cols;
        let hb = MatRef::from_row_major_slice(block, n, cols).transpose();
        for (dst, x) in [(&mut hw, wm), (&mut he, em)] {
            matmul(MatMut::from_row_major_slice_mut(&mut dst[..m * n], m, n), Accum::Replace, x, hb, 1.0f32, Par::Seq);
        }
        for (k, acc) in sums.iter_mut().enumerate() {
            let (wb, eb) = (&w[k * cols + r0..k * cols + r0 + n], &e[k * cols + r0..k * cols + r0 + n]);
            let (hwk, hek) = (&hw[k * n..(k + 1) * n], &he[k * n..(k + 1) * n]);
            acc[0] += dot(wb, hwk);
            acc[1] += dot(eb, hwk);
            acc[2] += dot(eb, hek);
        }
        Ok(())
    })?;
    let mut acc = OutputAcc { rows: m as u64, ..OutputAcc::default() };
    for [ww, we, ee] in sums {
        acc.sum_ww += ww;
        acc.sum_we += we;
        acc.sum_ee += ee;
    }
    Ok(acc)
}

fn dot(x: &[f32], y: &[f32]) -> f64 {
    x.iter().zip(y).map(|(&a, &b)| a as f64 * b as f64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hessian::F32Hessian;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }

    /// X (n × cols), H = XᵀX / n; the cosine of XWᵀ and XŴᵀ computed directly in f64.
    #[test]
    fn equals_the_cosine_of_the_layer_outputs() {
        let (rows, cols, n) = (40, 24, 300);
        let mut s = 7u64;
        let x: Vec<f32> = (0..n * cols).map(|i| lcg(&mut s) * if i % cols == 3 { 20.0 } else { 1.0 }).collect();
        let w: Vec<f32> = (0..rows * cols).map(|_| lcg(&mut s)).collect();
        let w_hat: Vec<f32> = w.iter().map(|v| (v * 8.0).round() / 8.0).collect();
        let mut h = vec![0f32; cols * cols];
        for i in 0..cols {
            for j in 0..cols {
                h[i * cols + j] = ((0..n).map(|k| x[k * cols + i] as f64 * x[k * cols + j] as f64).sum::<f64>() / n as f64) as f32;
            }
        }
        let acc = measure(&w, &w_hat, rows, cols, &F32Hessian::new(&h, cols).unwrap(), 1).unwrap();
        let (mut xy, mut xx, mut yy) = (0f64, 0f64, 0f64);
        for k in 0..n {
            for r in 0..rows {
                let a: f64 = (0..cols).map(|j| x[k * cols + j] as f64 * w[r * cols + j] as f64).sum();
                let b: f64 = (0..cols).map(|j| x[k * cols + j] as f64 * w_hat[r * cols + j] as f64).sum();
                xy += a * b;
                xx += a * a;
                yy += b * b;
            }
        }
        let direct = xy / (xx * yy).sqrt();
        assert!(direct < 0.9999 && direct > 0.9, "{direct}");
        assert!(((1.0 - acc.cosine()) / (1.0 - direct) - 1.0).abs() < 1e-3, "{} vs {direct}", acc.cosine());
        assert!((acc.sum_ww - xx / n as f64).abs() / acc.sum_ww < 1e-5);
    }

    /// A Hessian of several row blocks: the blocked product gives the quadratic forms computed
    /// directly in f64.
    #[test]
    fn blocked_hessians_give_the_direct_figures() {
        let (rows, cols) = (6, 2100); // block_rows(2100) = 499: five blocks, the last short
        let mut s = 11u64;
        let g: Vec<f32> = (0..cols * 8).map(|_| lcg(&mut s)).collect();
        // H = GGᵀ/8 + I/4 (symmetric positive definite), rank-8 plus a ridge.
        let h: Vec<f32> = (0..cols * cols)
            .map(|k| {
                let (i, j) = (k / cols, k % cols);
                (0..8).map(|t| g[i * 8 + t] * g[j * 8 + t]).sum::<f32>() / 8.0 + if i == j { 0.25 } else { 0.0 }
            })
            .collect();
        let w: Vec<f32> = (0..rows * cols).map(|_| lcg(&mut s)).collect();
        let w_hat: Vec<f32> = w.iter().map(|v| (v * 4.0).round() / 4.0).collect();
        let acc = measure(&w, &w_hat, rows, cols, &F32Hessian::new(&h, cols).unwrap(), 1).unwrap();
        let quad = |x: &[f32], y: &[f32]| -> f64 {
            (0..cols).map(|i| x[i] as f64 * (0..cols).map(|j| h[i * cols + j] as f64 * y[j] as f64).sum::<f64>()).sum()
        };
        let (mut ww, mut we, mut ee) = (0f64, 0f64, 0f64);
        for r in 0..rows {
            let wr = &w[r * cols..(r + 1) * cols];
            let er: Vec<f32> = wr.iter().zip(&w_hat[r * cols..(r + 1) * cols]).map(|(a, b)| a - b).collect();
            ww += quad(wr, wr);
            we += quad(&er, wr);
            ee += quad(&er, &er);
        }
        for (got, want) in [(acc.sum_ww, ww), (acc.sum_we, we), (acc.sum_ee, ee)] {
            assert!((got - want).abs() <= 1e-4 * want.abs(), "{got} vs {want}");
        }
    }

    #[test]
    fn exact_layers_and_strides() {
        let (rows, cols) = (10, 4);
        let w: Vec<f32> = (0..rows * cols).map(|i| i as f32 * 0.1 - 1.0).collect();
        let h: Vec<f32> = (0..cols * cols).map(|i| if i % (cols + 1) == 0 { 1.0 } else { 0.0 }).collect();
        let h = F32Hessian::new(&h, cols).unwrap();
        let acc = measure(&w, &w, rows, cols, &h, 3).unwrap();
        assert_eq!((acc.rows, acc.sum_ee, acc.cosine()), (4, 0.0, 1.0));
        // With H = I the figures are the weight cosine over the measured rows 0, 3, 6, 9.
        let neg: Vec<f32> = w.iter().map(|v| -v).collect();
        assert!((measure(&w, &neg, rows, cols, &h, 3).unwrap().cosine() + 1.0).abs() < 1e-12);
        let zero = vec![0f32; rows * cols];
        assert_eq!(measure(&w, &zero, rows, cols, &h, 1).unwrap().cosine(), 0.0);
        assert_eq!(stride_for(100), 1);
        assert_eq!(stride_for(11008), 43);
        let wide = F32Hessian::new(&[1.0; 25], 5).unwrap();
        assert!(measure(&w, &w, rows, cols, &wide, 1).is_err());
    }
}
