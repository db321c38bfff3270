//! Tensor-level entry points: quantize a `[rows, cols]` tensor into a [`Quantized`], dequantize it
//! back. Work is cut into row chunks whose boundaries depend only on the shape (never on the
//! thread count); each chunk's quality is computed independently and the partials are merged in
//! chunk order, and the first error in chunk order wins. So codes, scales, metrics and errors are
//! the same whatever the number of threads or the order in which chunks finish.

use rayon::prelude::*;

use crate::error::{KernelError, Result};
use crate::formats::{rtn, Layout, RowContext, RowOut, Scheme};
use crate::parallel::{pool, resolve_threads};
use crate::quality::{row_sums, Quality, QualityAcc, CANONICAL_BLOCK};
use crate::simd::{prefetch, Isa};
use crate::source::Source;

/// Elements per work chunk (rounded to whole rows): big enough to amortise scheduling, small
/// enough that two threads share a few-MiB tensor.
const CHUNK_ELEMS: usize = 1 << 16;

#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Worker threads; 0 = all cores, 1 = the calling thread only.
    pub threads: usize,
    /// Kernel ISA; `None` picks the best this CPU has.
    pub isa: Option<Isa>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { threads: 1, isa: None }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    pub layout: Layout,
    pub codes: Vec<u8>,
    pub scales: Vec<f32>,
    pub zeros: Vec<u8>,
    pub quality: Quality,
    /// The raw sums behind `quality`, so callers can merge the figures of a tensor's chunks.
    pub sums: QualityAcc,
}

fn check_shape(src_len: usize, rows: usize, cols: usize) -> Result<()> {
    let expected = rows.saturating_mul(cols);
    if expected != src_len {
        return Err(KernelError::ShapeMismatch { rows, cols, expected, actual: src_len });
    }
    Ok(())
}

fn non_finite(src: &Source<'_>, cols: usize, index: usize) -> KernelError {
    KernelError::NonFinite { index, row: index / cols.max(1), col: index % cols.max(1), value: src.get_f32(index) }
}

fn resolve_isa(opts: &RunOptions) -> Result<Isa> {
    let isa = opts.isa.unwrap_or_else(Isa::best);
    if !isa.is_available() {
        return Err(KernelError::InvalidParameter {
            field: "isa",
            value: isa.to_string(),
            allowed: "an instruction set this CPU supports",
        });
    }
    Ok(isa)
}

/// Row chunks `(first_row, rows)` for a tensor: boundaries depend on the shape only.
fn row_chunks(rows: usize, rows_per_chunk: usize) -> Vec<(usize, usize)> {
    (0..rows).step_by(rows_per_chunk.max(1)).map(|r0| (r0, rows_per_chunk.min(rows - r0))).collect()
}

/// Split a buffer holding `per_row` items per row into one slice per chunk.
fn split_by_chunks<'a, T>(mut buf: &'a mut [T], per_row: usize, chunks: &[(usize, usize)]) -> Vec<&'a mut [T]> {
    chunks
        .iter()
        .map(|&(_, n)| {
            let (head, rest) = std::mem::take(&mut buf).split_at_mut(n * per_row);
            buf = rest;
            head
        })
        .collect()
}

/// Run `f` over work items on `threads` threads; results come back in item order.
fn run_chunks<I: Send, T: Send>(items: Vec<I>, threads: usize, f: impl Fn(I) -> T + Sync + Send) -> Result<Vec<T>> {
    if threads <= 1 || items.len() <= 1 {
        Ok(items.into_iter().map(f).collect())
    } else {
        Ok(pool(threads)?.install(|| items.into_par_iter().map(f).collect()))
    }
}

/// Largest magnitude of the whole tensor (FP8 per-tensor scale), with the non-finite check.
fn tensor_absmax(src: &Source<'_>, rows: usize, cols: usize, rpc: usize, threads: usize) -> Result<f32> {
    let parts = run_chunks(row_chunks(rows, rpc), threads, |(r0, n)| {
        let mut scratch = Vec::new();
        let x = src.segment_f32(r0 * cols, (r0 + n) * cols, &mut scratch);
        match rtn::first_non_finite(x) {
            Some(bad) => Err(r0 * cols + bad),
            None => Ok(x.iter().fold(0.0f32, |m, v| m.max(v.abs()))),
        }
    })?;
    let mut amax = 0.0f32;
    for p in parts {
        amax = amax.max(p.map_err(|i| non_finite(src, cols, i))?);
    }
    Ok(amax)
}

/// Quantize `src` (row-major `[rows, cols]`) with `scheme`.
pub fn quantize(scheme: &Scheme, src: Source<'_>, rows: usize, cols: usize, opts: &RunOptions) -> Result<Quantized> {
    quantize_weighted(scheme, src, rows, cols, opts, None)
}

/// Check per-column importance weights: one finite, non-negative value per column.
pub fn check_importance(importance: &[f32], cols: usize) -> Result<()> {
    if importance.len() != cols {
        return Err(KernelError::BufferSize { what: "importance", expected: cols, actual: importance.len() });
    }
    if let Some(bad) = importance.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err(KernelError::InvalidParameter { field: "importance", value: format!("{} at column {bad}", importance[bad]), allowed: "finite values ≥ 0 (mean x² of each input column)" });
    }
    Ok(())
}

/// [`quantize`] with per-column importance (llama.cpp's imatrix: mean x² of each input column),
/// which formats whose registry entry says `importance` weigh their search by; the others
/// ignore it.
pub fn quantize_weighted(scheme: &Scheme, src: Source<'_>, rows: usize, cols: usize, opts: &RunOptions, importance: Option<&[f32]>) -> Result<Quantized> {
    check_shape(src.len(), rows, cols)?;
    if let Some(imp) = importance {
        check_importance(imp, cols)?;
    }
    let importance = importance.filter(|_| scheme.info().importance);
    let layout = scheme.layout(rows, cols)?;
    let isa = resolve_isa(opts)?;
    let threads = resolve_threads(opts.threads);
    let rpc = (CHUNK_ELEMS / cols.max(1)).max(1);

    let mut codes = vec![0u8; layout.code_bytes()];
    let mut scales = vec![0f32; layout.scales()];
    let mut zeros = vec![0u8; layout.zeros()];
    let format = scheme.format();
    let tensor_scale = if layout.tensor_scales > 0 && rows > 0 {
        let s = format.tensor_scale(tensor_absmax(&src, rows, cols, rpc, threads)?);
        scales[layout.rows * layout.row_scales] = s;
        s
    } else {
        0.0
    };

    // Each chunk gets its own disjoint output slices.
    let chunks = row_chunks(rows, rpc);
    let (row_codes, row_scales, row_zeros) = (layout.row_code_bytes, layout.row_scales, layout.row_zeros);
    let items: Vec<_> = chunks
        .iter()
        .copied()
        .zip(split_by_chunks(&mut codes, row_codes, &chunks))
        .zip(split_by_chunks(&mut scales[..rows * row_scales], row_scales, &chunks))
        .zip(split_by_chunks(&mut zeros, row_zeros, &chunks))
        .collect();

    let results = run_chunks(items, threads, |((((r0, n), codes), scales), zeros)| {
        let mut acc = QualityAcc::default();
        let mut scratch = Vec::new();
        let mut decoded = vec![0f32; cols];
        for i in 0..n {
            let row = r0 + i;
            let x = src.segment_f32(row * cols, (row + 1) * cols, &mut scratch);
            let (c, s, z) = (i * row_codes..(i + 1) * row_codes, i * row_scales..(i + 1) * row_scales, i * row_zeros..(i + 1) * row_zeros);
            let out = RowOut { codes: &mut codes[c], scales: &mut scales[s], zeros: &mut zeros[z] };
            // SAFETY: `resolve_isa` checked that this CPU runs `isa`.
            unsafe { format.quantize_row(isa, x, out, &RowContext { tensor_scale, importance }, &mut decoded) }.map_err(|off| row * cols + off)?;
            let next = if row + 1 < rows { src.bytes((row + 1) * cols, (row + 2) * cols) } else { &[] };
            acc.merge(&row_quality(isa, x, &decoded, next).map_err(|off| row * cols + off)?);
        }
        Ok::<_, usize>(acc)
    })?;

    let mut acc = QualityAcc::default();
    for r in results {
        acc.merge(&r.map_err(|i| non_finite(&src, cols, i))?);
    }
    Ok(Quantized { layout, codes, scales, zeros, quality: acc.finish(), sums: acc })
}

/// The figures of row `x` from its decoded values `y` (what the kernel handed over, bit for bit
/// what a reader decodes), in the canonical order: the same bits whichever ISA (or machine of a
/// fleet) quantized the row. Σx² is not finite exactly when the row holds a NaN or an infinity,
/// or a square overflows f32 (|x| > 1.8e19, allowed): the first is the error kernels that skip
/// the check leave to this, with the offset of the first such value.
///
/// The row is measured block after block while the cache lines of `next` (the next row's source
/// bytes) are asked for, a share per block. Merged in order, the blocks' sums are the row's bit
/// for bit: the row's f64 sums are the blocks' added in order from 0, and each block's own are
/// `0 + its value`, which is its value (block sums are never −0); the max and the count do not
/// depend on grouping.
#[inline]
fn row_quality(isa: Isa, x: &[f32], y: &[f32], next: &[u8]) -> std::result::Result<QualityAcc, usize> {
    let per_block = next.len().div_ceil(x.len().div_ceil(CANONICAL_BLOCK).max(1));
    let mut sums = QualityAcc::default();
    for (k, (xb, yb)) in x.chunks(CANONICAL_BLOCK).zip(y.chunks(CANONICAL_BLOCK)).enumerate() {
        prefetch(next.get(k * per_block..).map_or(&[], |rest| &rest[..per_block.min(rest.len())]));
        sums.merge(&row_sums(isa, xb, yb));
    }
    if !sums.sum_xx.is_finite() {
        if let Some(bad) = rtn::first_non_finite(x) {
            return Err(bad);
        }
    }
    Ok(trusted_row_quality(x, y, sums))
}

/// Below this mean square (of the values, or of the errors), the canonical row sums, whose lanes
/// are f32, cannot be trusted: products of values under ~1e-19 underflow f32 (to subnormals, then
/// zero), and beyond ~1e18 they overflow. Such rows are rare (an all-but-zero tensor, a row
/// reconstructed almost exactly, absurd magnitudes).
const F32_SUMS_MIN_MEAN_SQUARE: f64 = 1e-30;

/// A row's canonical sums, or, when f32 sums cannot be trusted (see
/// [`F32_SUMS_MIN_MEAN_SQUARE`]), the row measured again in f64 from its decoded values `y`, so
/// the figures are right, and equal across ISAs, on every input.
fn trusted_row_quality(x: &[f32], y: &[f32], sums: QualityAcc) -> QualityAcc {
    let floor = sums.n as f64 * F32_SUMS_MIN_MEAN_SQUARE;
    let overflowed = !(sums.sum_xx + sums.sum_yy + sums.sum_ee).is_finite();
    if sums.n == 0 || (sums.sum_xx >= floor && sums.sum_ee >= floor && !overflowed) {
        return sums;
    }
    let mut exact = QualityAcc::default();
    x.iter().zip(y).for_each(|(a, b)| exact.add(*a, *b));
    exact
}

/// Reconstruct f32 values from quantized buffers (any ISA produced them: the layout is the same).
pub fn dequantize(scheme: &Scheme, rows: usize, cols: usize, codes: &[u8], scales: &[f32], zeros: &[u8], out: &mut [f32]) -> Result<()> {
    let decode = row_decoder(scheme, rows, cols, codes, scales, zeros)?;
    if out.len() != rows * cols {
        return Err(KernelError::BufferSize { what: "output", expected: rows * cols, actual: out.len() });
    }
    for (r, o) in out.chunks_mut(cols.max(1)).enumerate().take(rows) {
        decode(r, o);
    }
    Ok(())
}

/// [`dequantize`] one row at a time: the buffers are checked once, then `decode(r, out)` writes
/// row `r` (`cols` values) into `out` (for callers that need rows, not the whole tensor).
pub fn row_decoder<'a>(scheme: &'a Scheme, rows: usize, cols: usize, codes: &'a [u8], scales: &'a [f32], zeros: &'a [u8]) -> Result<impl Fn(usize, &mut [f32]) + 'a> {
    let layout = scheme.layout(rows, cols)?;
    for (what, expected, actual) in [
        ("codes", layout.code_bytes(), codes.len()),
        ("scales", layout.scales(), scales.len()),
        ("zero-points", layout.zeros(), zeros.len()),
    ] {
        if expected != actual {
            return Err(KernelError::BufferSize { what, expected, actual });
        }
    }
    let (rc, rs, rz) = (layout.row_code_bytes, layout.row_scales, layout.row_zeros);
    let tensor_scale = if rows > 0 && scales.len() > rows * rs { scales[rows * rs] } else { 0.0 };
    Ok(move |r: usize, o: &mut [f32]| {
        scheme.format().dequantize_row(&codes[r * rc..(r + 1) * rc], &scales[r * rs..(r + 1) * rs], &zeros[r * rz..(r + 1) * rz], tensor_scale, o);
    })
}

/// Quality of a reconstruction `recon` against the source values (what `verify` recomputes from
/// a written file). Same sums and chunking as [`quantize`], so the figures are thread-independent.
pub fn compare(src: Source<'_>, recon: &[f32], cols: usize, opts: &RunOptions) -> Result<QualityAcc> {
    if src.len() != recon.len() {
        return Err(KernelError::BufferSize { what: "reconstruction", expected: src.len(), actual: recon.len() });
    }
    let threads = resolve_threads(opts.threads);
    let items: Vec<(usize, usize)> = (0..src.len()).step_by(CHUNK_ELEMS.max(1)).map(|s| (s, (s + CHUNK_ELEMS).min(src.len()))).collect();
    let parts = run_chunks(items, threads, |(s, e)| {
        let mut scratch = Vec::new();
        let x = src.segment_f32(s, e, &mut scratch);
        let mut acc = QualityAcc::default();
        if let Some(bad) = rtn::first_non_finite(x) {
            return Err(s + bad);
        }
        for (&a, &b) in x.iter().zip(&recon[s..e]) {
            acc.add(a, b);
        }
        Ok(acc)
    })?;
    let mut acc = QualityAcc::default();
    for p in parts {
        acc.merge(&p.map_err(|i| non_finite(&src, cols, i))?);
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::awkward_weight;

    /// Measured block by block (prefetching the next row), a row's sums are `row_sums`' of the
    /// whole row, bit for bit, on every ISA and length; a NaN or infinity is reported where it is.
    #[test]
    fn row_quality_is_the_whole_row_sums() {
        for n in [1usize, 16, 255, 256, 257, 1000, 4096 + 7] {
            let x = awkward_weight(1, n, n as u64);
            let y: Vec<f32> = x.iter().enumerate().map(|(k, v)| if k % 3 == 0 { *v } else { v * 0.99 }).collect();
            let next = Source::F32(&x).bytes(0, n / 2);
            for isa in Isa::available() {
                let got = row_quality(isa, &x, &y, next).unwrap();
                let want = trusted_row_quality(&x, &y, row_sums(isa, &x, &y));
                let bits = |a: &QualityAcc| (a.n, a.sum_xx.to_bits(), a.sum_yy.to_bits(), a.sum_xy.to_bits(), a.sum_ee.to_bits(), a.max_abs_err.to_bits());
                assert_eq!(bits(&got), bits(&want), "{isa}, n = {n}");
            }
        }
        let mut x = awkward_weight(1, 600, 1);
        x[517] = f32::INFINITY;
        x[530] = f32::NAN;
        for isa in Isa::available() {
            assert_eq!(row_quality(isa, &x, &x.clone(), &[]), Err(517), "{isa}");
        }
    }
}
