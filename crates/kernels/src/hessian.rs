//! A layer's Hessian `H` (`[cols, cols]` f32, row-major) as the kernels read it: a block of rows
//! at a time, from memory or straight from the calibration file, so no kernel needs the whole
//! matrix resident (at 4864 inputs it is 90 MiB, and GPTQ's factor of it is another 90 MiB).
//!
//! GPTQ's preparation reads it twice (its diagonal and finiteness, then the scatter into the
//! factor's buffer) and each measured chunk once (`crate::layer_output`). Reading from the file
//! costs a pread from the page cache per block; the same blocked code runs on a Hessian held
//! in memory (one that came over the wire), so the figures do not depend on where it lives.

use crate::error::{KernelError, Result};

/// Bytes a block of rows holds at most (at least one row): a fixed function of `cols`, so the
/// blocks, and with them every figure's summation order, are the same wherever a layer runs.
pub const BLOCK_BYTES: usize = 4 << 20;

/// Rows per block for a `cols`-input Hessian.
pub fn block_rows(cols: usize) -> usize {
    (BLOCK_BYTES / (4 * cols.max(1))).max(1)
}

/// Somewhere a Hessian's values can be read from.
pub trait HessianSource: Sync {
    /// The matrix is `cols × cols`.
    fn cols(&self) -> usize;
    /// Values `first .. first + out.len()` of the row-major matrix into `out`.
    fn read_values(&self, first: usize, out: &mut [f32]) -> Result<()>;
}

/// A Hessian already parsed into f32 values.
pub struct F32Hessian<'a> {
    values: &'a [f32],
    cols: usize,
}

impl<'a> F32Hessian<'a> {
    pub fn new(values: &'a [f32], cols: usize) -> Result<Self> {
        check_len("hessian", values.len(), cols * cols)?;
        Ok(F32Hessian { values, cols })
    }
}

impl HessianSource for F32Hessian<'_> {
    fn cols(&self) -> usize {
        self.cols
    }
    fn read_values(&self, first: usize, out: &mut [f32]) -> Result<()> {
        let src = self.values.get(first..first + out.len()).ok_or(KernelError::BufferSize { what: "hessian values", expected: first + out.len(), actual: self.values.len() })?;
        out.copy_from_slice(src);
        Ok(())
    }
}

/// A Hessian as the calibration file stores it: little-endian f32 bytes (any alignment).
pub struct LeBytesHessian<'a> {
    bytes: &'a [u8],
    cols: usize,
}

impl<'a> LeBytesHessian<'a> {
    pub fn new(bytes: &'a [u8], cols: usize) -> Result<Self> {
        check_len("hessian bytes", bytes.len(), 4 * cols * cols)?;
        Ok(LeBytesHessian { bytes, cols })
    }
}

impl HessianSource for LeBytesHessian<'_> {
    fn cols(&self) -> usize {
        self.cols
    }
    fn read_values(&self, first: usize, out: &mut [f32]) -> Result<()> {
        let src = self.bytes.get(4 * first..4 * (first + out.len())).ok_or(KernelError::BufferSize { what: "hessian bytes", expected: 4 * (first + out.len()), actual: self.bytes.len() })?;
        decode_le_f32(src, out);
        Ok(())
    }
}

/// Little-endian f32 bytes into values (`out.len() · 4` bytes).
pub fn decode_le_f32(bytes: &[u8], out: &mut [f32]) {
    for (v, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

fn check_len(what: &'static str, actual: usize, expected: usize) -> Result<()> {
    if actual != expected {
        return Err(KernelError::BufferSize { what, expected, actual });
    }
    Ok(())
}

/// Call `f(first_row, rows)` for each block of rows in order, `rows` holding
/// `block_rows(cols)` rows (fewer in the last block) read into one reused buffer.
pub fn for_each_row_block(h: &dyn HessianSource, mut f: impl FnMut(usize, &[f32]) -> Result<()>) -> Result<()> {
    let cols = h.cols();
    let per = block_rows(cols);
    let mut buf = vec![0f32; per.min(cols) * cols];
    let mut r0 = 0;
    while r0 < cols {
        let n = per.min(cols - r0);
        let block = &mut buf[..n * cols];
        h.read_values(r0 * cols, block)?;
        f(r0, block)?;
        r0 += n;
    }
    Ok(())
}

/// diag(H): `cols` reads of one value each.
pub fn diagonal(h: &dyn HessianSource) -> Result<Vec<f32>> {
    let cols = h.cols();
    let mut d = vec![0f32; cols];
    for (j, v) in d.iter_mut().enumerate() {
        h.read_values(j * cols + j, std::slice::from_mut(v))?;
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_matrix_in_order() {
        let cols = 1100; // block_rows = 953: two blocks, the second short
        let v: Vec<f32> = (0..cols * cols).map(|i| i as f32).collect();
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        // Misaligned on purpose: the bytes view starts one byte into its buffer.
        let mut shifted = vec![0u8; bytes.len() + 1];
        shifted[1..].copy_from_slice(&bytes);
        for h in [&F32Hessian::new(&v, cols).unwrap() as &dyn HessianSource, &LeBytesHessian::new(&shifted[1..], cols).unwrap()] {
            let mut seen = Vec::new();
            for_each_row_block(h, |r0, rows| {
                assert_eq!(rows[0], (r0 * cols) as f32);
                seen.push((r0, rows.len() / cols));
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, vec![(0, block_rows(cols)), (block_rows(cols), cols - block_rows(cols))]);
            assert_eq!(diagonal(h).unwrap()[7], (7 * cols + 7) as f32);
        }
        assert!(matches!(F32Hessian::new(&v[1..], cols), Err(KernelError::BufferSize { .. })));
        assert!(matches!(LeBytesHessian::new(&bytes[4..], cols), Err(KernelError::BufferSize { what: "hessian bytes", .. })));
    }
}
