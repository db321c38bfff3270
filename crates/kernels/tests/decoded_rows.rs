//! The decoded row every kernel hands over (`Format::quantize_row`'s `y`, which `quantize()`
//! measures the quality figures on) is, bit for bit, what `dequantize` makes of the codes, scales
//! and zero-points the kernel wrote: for every scheme, on every ISA this CPU runs, with and
//! without importance, on awkward data (outliers, zeros, subnormals, ties, constant groups), on
//! all-zero, tiny and huge rows.

mod common;

use arrowquant_kernels::formats::{RowContext, RowOut};
use arrowquant_kernels::testdata::{awkward_weight, Rng};
use arrowquant_kernels::*;
use common::*;

/// Quantize `w` row by row with the kernel for `isa` (as `quantize()` does), keeping each row's
/// decoded values; then dequantize the buffers and compare.
fn check(scheme: &Scheme, isa: Isa, w: &[f32], rows: usize, cols: usize, importance: Option<&[f32]>, what: &str) {
    let layout = scheme.layout(rows, cols).unwrap();
    let format = scheme.format();
    let (rc, rs, rz) = (layout.row_code_bytes, layout.row_scales, layout.row_zeros);
    let mut codes = vec![0u8; layout.code_bytes()];
    let mut scales = vec![0f32; layout.scales()];
    let mut zeros = vec![0u8; layout.zeros()];
    let tensor_scale = if layout.tensor_scales > 0 {
        let s = format.tensor_scale(w.iter().fold(0.0f32, |m, v| m.max(v.abs())));
        scales[rows * rs] = s;
        s
    } else {
        0.0
    };
    let importance = importance.filter(|_| scheme.info().importance);
    let mut handed = vec![0f32; w.len()];
    for r in 0..rows {
        let out = RowOut { codes: &mut codes[r * rc..(r + 1) * rc], scales: &mut scales[r * rs..(r + 1) * rs], zeros: &mut zeros[r * rz..(r + 1) * rz] };
        // SAFETY: `isa` is one of `Isa::available()`.
        unsafe { format.quantize_row(isa, &w[r * cols..(r + 1) * cols], out, &RowContext { tensor_scale, importance }, &mut handed[r * cols..(r + 1) * cols]) }.unwrap();
    }
    let mut decoded = vec![0f32; w.len()];
    dequantize(scheme, rows, cols, &codes, &scales, &zeros, &mut decoded).unwrap();
    if let Some(i) = (0..w.len()).find(|&i| !same_value(handed[i], decoded[i])) {
        panic!(
            "{} on {isa}, {what}: element {i} (row {}, column {}) was handed over as {:e} ({:#010x}), decodes to {:e} ({:#010x}); x = {:e}",
            scheme.name(),
            i / cols,
            i % cols,
            handed[i],
            handed[i].to_bits(),
            decoded[i],
            decoded[i].to_bits(),
            w[i]
        );
    }
}

/// Every scheme that takes rows of `cols`, on every ISA, with importance for those that use it.
fn check_all(w: &[f32], rows: usize, cols: usize, what: &str) {
    let mut rng = Rng::new(cols as u64);
    let imp: Vec<f32> = (0..cols).map(|c| if c % 7 == 0 { 0.0 } else { (rng.normal() as f32).exp() }).collect();
    for scheme in all_schemes().iter().filter(|s| supports(s, cols)) {
        for isa in Isa::available() {
            check(scheme, isa, w, rows, cols, None, what);
            if scheme.info().importance {
                check(scheme, isa, w, rows, cols, Some(&imp), &format!("{what}, importance"));
            }
        }
    }
}

#[test]
fn decoded_rows_equal_the_dequantizer_on_awkward_shapes() {
    // Multiples of every block, not a multiple of 128, odd (ragged groups), a long row.
    for &(rows, cols) in &[(3, 256), (5, 96), (2, 1152), (4, 200), (1, 37), (2, 4096)] {
        let w = awkward_weight(rows, cols, rows as u64 * 7 + cols as u64);
        check_all(&w, rows, cols, &format!("{rows}x{cols}"));
    }
}

#[test]
fn decoded_rows_equal_the_dequantizer_on_degenerate_rows() {
    let (rows, cols) = (6, 512);
    let base = awkward_weight(rows, cols, 3);
    let mut w = base.clone();
    w[..cols].fill(0.0); // an all-zero row
    w[cols..2 * cols].iter_mut().enumerate().for_each(|(i, v)| *v = if i % 2 == 0 { -0.0 } else { 0.0 }); // signed zeros
    w[2 * cols..3 * cols].iter_mut().enumerate().for_each(|(i, v)| *v = if (i / 32) % 2 == 0 { 0.0 } else { -1e-3 * (i % 5) as f32 }); // zero blocks beside small negatives
    w[3 * cols..4 * cols].fill(-0.731); // constant
    w[4 * cols..5 * cols].iter_mut().enumerate().for_each(|(i, v)| *v = f32::from_bits(1 + i as u32 * 7919) * if i % 3 == 0 { -1.0 } else { 1.0 }); // subnormals
    w[5 * cols..].iter_mut().enumerate().for_each(|(i, v)| *v = if i % 11 == 0 { 3e38 } else if i % 11 == 1 { -2e38 } else { base[5 * cols + i] }); // near f32::MAX
    check_all(&w, rows, cols, "degenerate rows");
    for magnitude in [1e-39f32, 1e-25, 1e25] {
        let scaled: Vec<f32> = base.iter().map(|v| v * magnitude).collect();
        check_all(&scaled, rows, cols, &format!("values ~{magnitude:e}"));
    }
}
