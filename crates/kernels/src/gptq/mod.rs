//! GPTQ (Frantar et al., 2022) onto a group codec's grid (RTN, HQQ or R2Q, `crate::formats::codec`): quantize a linear layer's weight one
//! input column at a time and push each column's rounding error onto the columns not yet
//! quantized, weighted by the inverse Hessian of the layer's inputs, so the layer's *output*
//! error ‖X(W − Ŵ)ᵀ‖ is small rather than the weight error.
//!
//! - Input: `W` `[rows = out, cols = in]` f32 and `H = (1/n)·Σ x xᵀ` `[in, in]` over the captured
//!   input rows (any positive scale of H gives the same result).
//! - Preprocessing as published: dead inputs (`H_jj = 0`) get `H_jj = 1` and `W[:, j] = 0`;
//!   optional act-order (columns by decreasing `H_jj`); dampening `λ = damp·mean(diag H)` on the
//!   diagonal; `Hinv` = upper Cholesky factor of `H⁻¹`.
//! - For column `j`: `q = quant(w_j)`, `e = (w_j − q̂) / Hinv_jj`, `w_{j+1..} −= e · Hinv_{j, j+1..}`.
//!   Group parameters (the codec's fit: RTN min/max, HQQ's optimised scale/zero, R2Q's two
//!   magnitudes) are computed at each group start on the
//!   weights as updated so far; with act-order the groups are static (computed up front on the
//!   original weights, in original column order), so the file layout is the plain format's.
//! - Output: exactly the layout of the target scheme (codes, scales, zero-points), so every
//!   reader dequantizes it as that scheme (`rtn_int4_g128_asym`, `hqq_int2_g64`, `r2q_g64`); the
//!   quality figures compare with the original weights.
//!
//! Rows are independent given `Hinv`, so this runs row tiles in parallel and does the
//! published algorithm's lazy block updates implicitly: each tile streams `Hinv` once.

mod axpy;
pub(crate) mod kgrid;
mod linalg;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::error::{KernelError, Result};
use crate::formats::{GroupCodec, Scheme};
use crate::hessian::{for_each_row_block, F32Hessian, HessianSource};
use linalg::FactorError;
use crate::parallel::{pool, resolve_threads};
use crate::quality::QualityAcc;
use crate::quantize::Quantized;

#[derive(Clone, Copy, Debug)]
pub struct GptqOptions {
    /// Dampening as a fraction of the mean diagonal of H (published default 0.01).
    pub damp: f64,
    /// Quantize columns in order of decreasing H_jj (needs `static_groups`).
    pub act_order: bool,
    /// Group parameters from the original weights, computed up front.
    pub static_groups: bool,
    /// 0 = all cores.
    pub threads: usize,
}

impl Default for GptqOptions {
    fn default() -> Self {
        GptqOptions { damp: 0.01, act_order: false, static_groups: false, threads: 0 }
    }
}

/// Rows processed together (one rayon task): the trailing update of each column block is a
/// `TILE × BLOCK` by `BLOCK × rest` matrix product.
const TILE: usize = 32;
/// Columns per block (the published lazy batch size): inside a block errors are pushed column
/// by column; onto the columns after it, once per block as a matrix product.
const BLOCK: usize = 128;

/// A layer's Hessian made ready for GPTQ: computed once per layer and shared by all of its row
/// chunks (the Cholesky factorisation costs O(cols³); the chunks only read it).
pub struct Prepared {
    cols: usize,
    act_order: bool,
    /// Column processing order (identity without act-order).
    perm: Vec<usize>,
    /// Upper Cholesky factor of the dampened inverse Hessian, permuted, f32, row-major.
    hinv: Vec<f32>,
    dead: Vec<bool>,
    /// diag(H) in column order: the per-column importance the K-quant grids weigh their
    /// parameter search by (llama.cpp's imatrix is the same statistic).
    h_diag: Vec<f32>,
}

impl Prepared {
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// diag(H), column order.
    pub fn h_diag(&self) -> &[f32] {
        &self.h_diag
    }
}

/// Check `h` (`[cols, cols]`) and factor it as GPTQ needs (dead columns, act-order, dampening,
/// Cholesky of the inverse).
pub fn prepare(h: &[f32], cols: usize, opts: &GptqOptions) -> Result<Prepared> {
    prepare_smoothed(&F32Hessian::new(h, cols)?, None, opts)
}

/// [`prepare`] of the smoothed Hessian `diag(1/s)·H·diag(1/s)` (`crate::smoothing::smooth_hessian`)
/// without making it: each value is formed, bit for bit as that function forms it, as the
/// factorisation reads it (a smoothed copy of a 4864-input Hessian is 90 MiB). `h` is read a
/// block of rows at a time, twice (`crate::hessian`): only the factor's buffer is ever whole.
pub fn prepare_smoothed(h: &dyn HessianSource, s: Option<&[f32]>, opts: &GptqOptions) -> Result<Prepared> {
    prepare_with(h, s, opts, linalg::inverse_upper_factor_f32)
}

/// [`prepare_smoothed`] with the factorisation given (the tests compare precisions).
fn prepare_with(
    h: &dyn HessianSource,
    s: Option<&[f32]>,
    opts: &GptqOptions,
    factor: impl Fn(usize, &linalg::Fill<'_>) -> std::result::Result<Vec<f32>, FactorError>,
) -> Result<Prepared> {
    let cols = h.cols();
    if let Some(s) = s {
        if s.len() != cols {
            return Err(KernelError::BufferSize { what: "channel scales", expected: cols, actual: s.len() });
        }
    }
    check_options(opts)?;
    let value = |v: f32, i: usize, j: usize| match s {
        Some(s) => v / s[i] / s[j],
        None => v,
    };
    // Pass 1: finiteness and the diagonal.
    let mut h_diag = vec![0f32; cols];
    for_each_row_block(h, |r0, block| {
        for (k, row) in block.chunks_exact(cols).enumerate() {
            let i = r0 + k;
            if let Some(j) = (0..cols).find(|&j| !value(row[j], i, j).is_finite()) {
                // Not `NonFinite`, which callers report as a bad *weight*.
                return Err(KernelError::InvalidParameter { field: "hessian", value: format!("{} at row {i}, column {j}", value(row[j], i, j)), allowed: "finite values" });
            }
            h_diag[i] = value(row[i], i, i);
        }
        Ok(())
    })?;
    // The dead-column fix, the permutation and the dampening are applied as the matrix is read
    // into the factorisation (no f64 copies of H: at 4864 inputs each would be 190 MB).
    let dead: Vec<bool> = h_diag.iter().map(|&d| d == 0.0).collect();
    let diag = |j: usize| if dead[j] { 1.0 } else { h_diag[j] as f64 };
    let mut perm: Vec<usize> = (0..cols).collect();
    if opts.act_order {
        // Stable: ties keep column order, so the result does not depend on the sort.
        perm.sort_by(|&a, &b| diag(b).total_cmp(&diag(a)).then(a.cmp(&b)));
    }
    let mean_diag = perm.iter().map(|&p| diag(p)).sum::<f64>() / cols.max(1) as f64;
    let lambda = opts.damp * mean_diag;
    let mut pos = vec![0usize; cols];
    perm.iter().enumerate().for_each(|(a, &p)| pos[p] = a);
    // Pass 2: H' = (P H Pᵀ)[a][b] = H[perm a][perm b]; each a < b is taken from row perm[a].
    let fill = |put: &mut linalg::Put<'_>| {
        for_each_row_block(h, |r0, block| {
            for (k, row) in block.chunks_exact(cols).enumerate() {
                let i = r0 + k;
                let a = pos[i];
                for (j, &v) in row.iter().enumerate() {
                    let b = pos[j];
                    if a < b {
                        put(a, b, value(v, i, j) as f64);
                    } else if a == b {
                        put(a, a, diag(i) + lambda);
                    }
                }
            }
            Ok(())
        })
    };
    let hinv = factor(cols, &fill).map_err(|e| match e {
        FactorError::NotPositive(c) => KernelError::NotPositiveDefinite { column: perm[c.min(cols - 1)] },
        FactorError::Fill(e) => e,
    })?;
    Ok(Prepared { cols, act_order: opts.act_order, perm, hinv, dead, h_diag })
}

fn check_options(opts: &GptqOptions) -> Result<()> {
    if opts.act_order && !opts.static_groups {
        return Err(KernelError::InvalidParameter {
            field: "act_order",
            value: "true".into(),
            allowed: "act_order needs static_groups (the file stores groups in column order)",
        });
    }
    if !(opts.damp.is_finite() && opts.damp >= 0.0) {
        return Err(KernelError::InvalidParameter { field: "damp", value: opts.damp.to_string(), allowed: "a finite value ≥ 0" });
    }
    Ok(())
}

/// GPTQ-quantize `w` (`[rows, cols]`, row-major) with the Hessian `h` (`[cols, cols]`) onto the
/// grid of `scheme` (RTN, HQQ or R2Q).
pub fn gptq(scheme: &Scheme, w: &[f32], rows: usize, cols: usize, h: &[f32], opts: &GptqOptions) -> Result<Quantized> {
    if w.len() != rows * cols {
        return Err(KernelError::ShapeMismatch { rows, cols, expected: rows * cols, actual: w.len() });
    }
    check_options(opts)?;
    let prep = prepare(h, cols, opts)?;
    gptq_prepared(scheme, w, rows, cols, &prep, opts)
}

/// [`gptq`] with a Hessian already [`prepare`]d (one layer's row chunks share it). `opts` must
/// have the `act_order` the Hessian was prepared with; `threads` and `static_groups` apply here.
pub fn gptq_prepared(scheme: &Scheme, w: &[f32], rows: usize, cols: usize, prep: &Prepared, opts: &GptqOptions) -> Result<Quantized> {
    if prep.cols != cols {
        return Err(KernelError::BufferSize { what: "hessian columns", expected: cols, actual: prep.cols });
    }
    if prep.act_order != opts.act_order {
        return Err(KernelError::InvalidParameter { field: "act_order", value: opts.act_order.to_string(), allowed: "the act_order the Hessian was prepared with" });
    }
    scheme.format().gptq(w, rows, cols, prep, opts).unwrap_or_else(|| Err(KernelError::InvalidParameter { field: "scheme", value: scheme.name(), allowed: gptq_targets() }))
}

/// "GPTQ targets the rtn, hqq or r2q grids", from the registry.
fn gptq_targets() -> &'static str {
    static CELL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CELL.get_or_init(|| format!("GPTQ targets the {} grids", crate::formats::gptq_families()))
}

/// GPTQ onto a group codec's grid (each codec's `Format::gptq` calls this).
pub(crate) fn run<C: GroupCodec>(spec: &C, scheme: &Scheme, w: &[f32], rows: usize, cols: usize, prep: &Prepared, opts: &GptqOptions) -> Result<Quantized> {
    if w.len() != rows * cols {
        return Err(KernelError::ShapeMismatch { rows, cols, expected: rows * cols, actual: w.len() });
    }
    check_options(opts)?;
    if let Some(bad) = w.iter().position(|v| !v.is_finite()) {
        return Err(KernelError::NonFinite { index: bad, row: bad / cols.max(1), col: bad % cols.max(1), value: w[bad] });
    }
    let layout = scheme.layout(rows, cols)?;
    let group = spec.group();
    let (sp, zp) = (spec.scales_per_group(), spec.zeros_per_group());
    let row_code_bytes = layout.row_code_bytes;
    let (row_scales, row_zeros) = (layout.row_scales, layout.row_zeros);

    let mut codes = vec![0u8; layout.code_bytes()];
    let mut scales = vec![0f32; layout.scales()];
    let mut zeros = vec![0u8; layout.zeros()];

    let tiles: Vec<usize> = (0..rows).step_by(TILE).collect();
    let run_tile = |r0: usize| -> (Vec<u8>, Vec<f32>, Vec<u8>, QualityAcc) {
        let n = TILE.min(rows - r0);
        // Working rows in processing (permuted) order, row-major n × cols; dead inputs zeroed.
        let (perm, dead) = (&prep.perm, &prep.dead);
        let mut work: Vec<f32> = (0..n)
            .flat_map(|t| perm.iter().map(move |&c| if dead[c] { 0.0 } else { w[(r0 + t) * cols + c] }))
            .collect();
        // Static groups: parameters from the (dead-zeroed) original weights, per original group.
        let mut params: Vec<Vec<C::Params>> = (0..n)
            .map(|t| {
                if !opts.static_groups {
                    return Vec::new();
                }
                let row: Vec<f32> = (0..cols).map(|c| if prep.dead[c] { 0.0 } else { w[(r0 + t) * cols + c] }).collect();
                row.chunks(group).enumerate().map(|(g, x)| spec.fit_group(x, g)).collect()
            })
            .collect();
        let mut q = vec![vec![0u8; cols]; n];
        let mut current: Vec<Option<C::Params>> = vec![None; n];
        let hinv_all = MatRef::from_row_major_slice(&prep.hinv, cols, cols);
        let mut errs = vec![0f32; n * BLOCK];
        for b0 in (0..cols).step_by(BLOCK) {
            let b1 = (b0 + BLOCK).min(cols);
            for p in b0..b1 {
                let c = prep.perm[p];
                let d = prep.hinv[p * cols + p];
                let hrow = &prep.hinv[p * cols + p + 1..p * cols + b1];
                for t in 0..n {
                    let row = &mut work[t * cols..(t + 1) * cols];
                    let gp = if opts.static_groups {
                        params[t][c / group]
                    } else {
                        // No act-order here, so p == c. At a group start every column ≥ p has
                        // received the updates of all columns < p (block updates are applied at
                        // block ends, and groups never straddle a block start mid-block).
                        if c % group == 0 {
                            let end = (p + group).min(cols);
                            let gp = spec.fit_group(&row[p..end], c / group);
                            current[t] = Some(gp);
                            params[t].push(gp);
                        }
                        current[t].expect("group parameters set at the group start")
                    };
                    let x = row[p];
                    let code = spec.encode_at(&gp, c % group, x);
                    q[t][c] = code;
                    let err = (x - spec.decode_at(&gp, c % group, code)) / d;
                    errs[t * BLOCK + (p - b0)] = err;
                    axpy::axpy_neg(&mut row[p + 1..b1], err, hrow);
                }
            }
            if b1 < cols {
                // work[:, b1..] −= E · Hinv[b0..b1, b1..]
                let width = b1 - b0;
                let e = MatRef::from_row_major_slice(&errs[..n * BLOCK], n, BLOCK).subcols(0, width);
                let h = hinv_all.submatrix(b0, b1, width, cols - b1);
                let dst = MatMut::from_row_major_slice_mut(&mut work, n, cols).subcols_mut(b1, cols - b1);
                matmul(dst, Accum::Add, e, h, -1.0f32, Par::Seq);
            }
        }
        // Pack in the scheme's layout and measure against the original weights.
        let mut tcodes = vec![0u8; n * row_code_bytes];
        let mut tscales = vec![0f32; n * row_scales];
        let mut tzeros = vec![0u8; n * row_zeros];
        let mut acc = QualityAcc::default();
        for t in 0..n {
            let mut off = 0;
            for (g, gq) in q[t].chunks(group).enumerate() {
                let gp = params[t][g];
                let nb = spec.group_code_bytes(gq.len());
                let (s0, z0) = (t * row_scales + g * sp, t * row_zeros + g * zp);
                let codes = &mut tcodes[t * row_code_bytes + off..t * row_code_bytes + off + nb];
                spec.write_group(&gp, gq, codes, &mut tscales[s0..s0 + sp], &mut tzeros[z0..z0 + zp]);
                off += nb;
                for (k, &code) in gq.iter().enumerate() {
                    let col = g * group + k;
                    acc.add(w[(r0 + t) * cols + col], spec.decode_at(&gp, k, code));
                }
            }
        }
        (tcodes, tscales, tzeros, acc)
    };

    let threads = resolve_threads(opts.threads);
    let parts: Vec<_> = if threads <= 1 || tiles.len() <= 1 {
        tiles.iter().map(|&r0| run_tile(r0)).collect()
    } else {
        pool(threads)?.install(|| tiles.par_iter().map(|&r0| run_tile(r0)).collect())
    };
    let mut acc = QualityAcc::default();
    for (i, (c, s, z, a)) in parts.into_iter().enumerate() {
        let r0 = tiles[i];
        codes[r0 * row_code_bytes..r0 * row_code_bytes + c.len()].copy_from_slice(&c);
        scales[r0 * row_scales..r0 * row_scales + s.len()].copy_from_slice(&s);
        zeros[r0 * row_zeros..r0 * row_zeros + z.len()].copy_from_slice(&z);
        acc.merge(&a);
    }
    Ok(Quantized { layout, codes, scales, zeros, quality: acc.finish(), sums: acc })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::RtnSpec;
    use crate::testdata::{hessian_of, layer_output_error, Rng};

    /// X `[n, cols]`: correlated channels, every 61st channel 30× larger (the outlier channels of
    /// real activations), a few nearly dead; H = XᵀX/n.
    fn outlier_layer(cols: usize, n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = Rng::new(seed);
        let mut x = vec![0f32; n * cols];
        for r in 0..n {
            let common = rng.normal() as f32;
            for c in 0..cols {
                let scale = if c % 61 == 5 { 30.0 } else if c % 97 == 11 { 1e-3 } else { 1.0 };
                x[r * cols + c] = scale * (rng.normal() as f32 + 0.8 * common);
            }
        }
        let h = hessian_of(&x, n, cols);
        (x, h)
    }

    fn f64_factor(n: usize, fill: &linalg::Fill<'_>) -> std::result::Result<Vec<f32>, FactorError> {
        linalg::inverse_upper_factor::<f64>(n, fill).map(|u| u.into_iter().map(|v| v as f32).collect())
    }

    /// The f32 factor against the f64 one on an outlier-heavy Hessian: the factor and GPTQ's
    /// layer-output error within 1e-4 (relative; measured 3e-6 and 3e-7).
    #[test]
    fn the_f32_factor_keeps_gptq_s_output_error() {
        let (cols, rows, n) = (384, 64, 1200);
        let (x, h) = outlier_layer(cols, n, 41);
        let opts = GptqOptions { threads: 1, ..Default::default() };
        for damp in [0.01, 0.001] {
            let opts = GptqOptions { damp, ..opts };
            let p32 = prepare(&h, cols, &opts).unwrap();
            let p64 = prepare_with(&F32Hessian::new(&h, cols).unwrap(), None, &opts, f64_factor).unwrap();
            let (num, den) = p32.hinv.iter().zip(&p64.hinv).fold((0f64, 0f64), |(a, b), (u, v)| (a + ((u - v) as f64).powi(2), b + (*v as f64).powi(2)));
            let rel = (num / den).sqrt();
            assert!(rel < 1e-4, "damp {damp}: factor relative error {rel}");
            let mut rng = Rng::new(7);
            let w: Vec<f32> = (0..rows * cols).map(|_| (rng.normal() / (cols as f64).sqrt()) as f32).collect();
            let scheme = Scheme::Rtn(RtnSpec::new(4, 128, false).unwrap());
            let err = |p: &Prepared| {
                let q = gptq_prepared(&scheme, &w, rows, cols, p, &opts).unwrap();
                let mut wq = vec![0f32; rows * cols];
                crate::dequantize(&scheme, rows, cols, &q.codes, &q.scales, &q.zeros, &mut wq).unwrap();
                layer_output_error(&x, &w, &wq, n, rows, cols)
            };
            let (e32, e64) = (err(&p32), err(&p64));
            assert!((e32 - e64).abs() <= 1e-4 * e64, "damp {damp}: output error {e32} (f32) vs {e64} (f64)");
            eprintln!("damp {damp}: factor rel. error {rel:.2e}, output error f32 {e32:.6e} f64 {e64:.6e}");
        }
    }

    /// A Hessian of several row blocks, read from little-endian bytes (as from the calibration
    /// file): the factor is, bit for bit, the one of the matrix given entry by entry.
    #[test]
    fn block_reads_give_the_entrywise_factor() {
        let cols = 1100; // two row blocks
        let (_, h) = outlier_layer(cols, 300, 3);
        let bytes: Vec<u8> = h.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut rng = Rng::new(4);
        let s: Vec<f32> = (0..cols).map(|_| (0.5 + rng.normal().abs()) as f32).collect();
        let opts = GptqOptions { act_order: true, static_groups: true, threads: 1, ..Default::default() };
        let p = prepare_smoothed(&crate::hessian::LeBytesHessian::new(&bytes, cols).unwrap(), Some(&s), &opts).unwrap();
        let value = |i: usize, j: usize| h[i * cols + j] / s[i] / s[j];
        let diag = |j: usize| if p.dead[j] { 1.0 } else { value(j, j) as f64 };
        let lambda = opts.damp * (0..cols).map(diag).sum::<f64>() / cols as f64;
        let entry = |a: usize, b: usize| if a == b { diag(p.perm[a]) + lambda } else { value(p.perm[a], p.perm[b]) as f64 };
        let want = linalg::inverse_upper_factor_f32(cols, &linalg::fill_from(cols, entry)).unwrap();
        assert!(p.hinv.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()));
        assert_ne!(p.perm, (0..cols).collect::<Vec<_>>());
    }

    /// Smoothing folded into the read: the same factor, bit for bit, as factoring the smoothed copy.
    #[test]
    fn smoothed_in_the_read_equals_the_smoothed_copy() {
        let cols = 200;
        let (_, h) = outlier_layer(cols, 400, 5);
        let mut rng = Rng::new(9);
        let s: Vec<f32> = (0..cols).map(|_| (0.25 + rng.normal().abs()) as f32).collect();
        for act_order in [false, true] {
            let opts = GptqOptions { act_order, static_groups: act_order, threads: 1, ..Default::default() };
            let a = prepare_smoothed(&F32Hessian::new(&h, cols).unwrap(), Some(&s), &opts).unwrap();
            let b = prepare(&crate::smoothing::smooth_hessian(&h, &s), cols, &opts).unwrap();
            assert_eq!((&a.perm, &a.dead, &a.h_diag), (&b.perm, &b.dead, &b.h_diag));
            assert!(a.hinv.iter().zip(&b.hinv).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
        assert!(matches!(prepare_smoothed(&F32Hessian::new(&h, cols).unwrap(), Some(&s[1..]), &GptqOptions::default()), Err(KernelError::BufferSize { what: "channel scales", .. })));
    }
}
