//! The GGUF K-quant kernels, and the legacy GGUF formats' importance kernels, on every ISA this CPU runs (AVX2, AVX-512, NEON) and
//! the same lane algorithms on portable lanes, against the scalar references: identical bytes
//! and decoded values, with and without importance (random, with zeros, huge and tiny values), on
//! realistic and adversarial tensors; quality sums the same bits.

mod common;

use arrowquant_kernels::simd::kquants::{quantize_row_legacy_plain_portable, quantize_row_legacy_portable, quantize_row_portable, KQuant, Legacy};
use arrowquant_kernels::testdata::{awkward_weight, linear_weight, Rng};
use arrowquant_kernels::*;
use common::*;

const KQUANTS: &[(&str, KQuant)] = &[("q2_k", KQuant::Q2K), ("q3_k", KQuant::Q3K), ("q4_k", KQuant::Q4K), ("q5_k", KQuant::Q5K), ("q6_k", KQuant::Q6K)];
/// The legacy block formats, whose importance searches have kernels.
const LEGACY: &[(&str, Legacy)] = &[("q4_0", Legacy::Q4_0), ("q4_1", Legacy::Q4_1), ("q5_0", Legacy::Q5_0), ("q5_1", Legacy::Q5_1)];

/// Every kind of per-column importance a caller can pass (finite, ≥ 0).
fn importance(cols: usize, seed: u64, shape: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..cols)
        .map(|c| match shape {
            0 => (rng.normal() as f32).exp(),
            1 => if c % 7 == 0 { 0.0 } else { rng.uniform() as f32 },
            2 => if c % 13 == 1 { 1e30 } else if c % 13 == 2 { 1e-30 } else { (rng.uniform() * 3.0) as f32 },
            3 => 0.0,
            4 => if c % 3 == 0 { f32::MAX } else { 1.0 },
            _ => if c % 97 == 3 { 500.0 } else { (rng.uniform() * 0.1) as f32 },
        })
        .collect()
}

/// Tensors with what a search can trip on, one case per row.
fn adversarial(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut w = awkward_weight(rows, cols, seed);
    let mut rng = Rng::new(seed ^ 0xa5a5);
    for r in 0..rows {
        let row = &mut w[r * cols..(r + 1) * cols];
        match r % 16 {
            0 => row.fill(0.0),
            1 => row.fill(-0.731),
            2 => row.iter_mut().enumerate().for_each(|(i, v)| *v = f32::from_bits(1 + (i as u32 * 7919) % 0x7F_FFFF) * if i % 3 == 0 { -1.0 } else { 1.0 }),
            3 => row.iter_mut().enumerate().for_each(|(i, v)| *v = ((i % 17) as f32 - 8.0) * 0.5),
            4 => {
                row.iter_mut().for_each(|v| *v = 1e-3 * rng.normal() as f32);
                let k = rng.below(cols);
                row[k] = 40.0;
            }
            5 => row.iter_mut().enumerate().for_each(|(i, v)| *v = if i % 2 == 0 { 65504.0 } else { -60000.0 + i as f32 }),
            6 => row.iter_mut().for_each(|v| *v = (rng.uniform() as f32) * 3.0 + 0.5),
            7 => row.iter_mut().for_each(|v| *v = -(rng.uniform() as f32) * 2.0 - 0.1),
            8 => row.iter_mut().enumerate().for_each(|(i, v)| *v = if i % 16 == 5 { 1.0 } else { 0.0 }),
            9 => row.iter_mut().enumerate().for_each(|(i, v)| *v = if (i / 32) % 2 == 0 { 1e-20 * rng.normal() as f32 } else { 2.0 * rng.normal() as f32 }),
            10 => row.iter_mut().enumerate().for_each(|(i, v)| *v = if (i / 16) % 3 == 0 { 0.0 } else { 0.25 * (i % 5) as f32 - 0.5 }),
            11 => row.iter_mut().enumerate().for_each(|(i, v)| *v = if i % 11 == 0 { 3e38 } else if i % 11 == 1 { -3e38 } else { rng.normal() as f32 }),
            12 => row.iter_mut().enumerate().for_each(|(i, v)| *v = if i % 5 == 0 { 1e30 * rng.normal() as f32 } else { 1e-30 * rng.normal() as f32 }),
            13 => row.iter_mut().enumerate().for_each(|(i, v)| *v = f32::from_bits(0x0080_0000 + i as u32) * if i % 2 == 0 { 1.0 } else { -1e10 }),
            14 => row.iter_mut().enumerate().for_each(|(i, v)| *v = (i % 4) as f32 * 1e-12 + if i % 64 == 0 { 1.0 } else { 0.0 }),
            _ => {}
        }
    }
    w
}

fn first_difference(a: &[u8], b: &[u8], row_bytes: usize) -> String {
    let i = a.iter().zip(b).position(|(x, y)| x != y).unwrap();
    format!("byte {i} (row {}, byte {} of the row) is {:#04x}, reference {:#04x}", i / row_bytes, i % row_bytes, a[i], b[i])
}

fn check(name: &str, w: &[f32], rows: usize, cols: usize, imp: Option<&[f32]>, what: &str) {
    let scheme = Scheme::from_name(name).unwrap();
    let reference = quantize_weighted(&scheme, Source::F32(w), rows, cols, &RunOptions { threads: 1, isa: Some(Isa::Scalar) }, imp).unwrap();
    let row_bytes = reference.codes.len() / rows;
    for isa in Isa::available().into_iter().filter(|i| *i != Isa::Scalar) {
        let got = quantize_weighted(&scheme, Source::F32(w), rows, cols, &RunOptions { threads: 1, isa: Some(isa) }, imp).unwrap();
        if got.codes != reference.codes {
            panic!("{name} on {isa}, {what}: {}", first_difference(&got.codes, &reference.codes, row_bytes));
        }
        // The figures come from the decoded rows in the canonical order: the same bits.
        assert_eq!(sum_bits(&got.sums), sum_bits(&reference.sums), "{name} on {isa}, {what}: quality sums");
    }
    let mut codes = vec![0u8; reference.codes.len()];
    let mut y = vec![0f32; w.len()];
    let rows_of = |r: usize| (&w[r * cols..(r + 1) * cols], r * row_bytes..(r + 1) * row_bytes, r * cols..(r + 1) * cols);
    let portable = if let Some(&(_, kind)) = KQUANTS.iter().find(|(n, _)| *n == name) {
        (0..rows).for_each(|r| quantize_row_portable(kind, rows_of(r).0, imp, &mut codes[rows_of(r).1], &mut y[rows_of(r).2]).unwrap());
        true
    } else if let Some(&(_, kind)) = LEGACY.iter().find(|(n, _)| *n == name) {
        match imp {
            Some(qw) => (0..rows).for_each(|r| quantize_row_legacy_portable(kind, rows_of(r).0, qw, &mut codes[rows_of(r).1], &mut y[rows_of(r).2]).unwrap()),
            None if kind != Legacy::Q4_0 => (0..rows).for_each(|r| quantize_row_legacy_plain_portable(kind, rows_of(r).0, &mut codes[rows_of(r).1], &mut y[rows_of(r).2]).unwrap()),
            None => return,
        }
        true
    } else {
        false
    };
    if portable {
        if codes != reference.codes {
            panic!("{name} on portable lanes, {what}: {}", first_difference(&codes, &reference.codes, row_bytes));
        }
        let mut decoded = vec![0f32; w.len()];
        dequantize(&scheme, rows, cols, &codes, &[], &[], &mut decoded).unwrap();
        if let Some(i) = (0..y.len()).find(|&i| !same_value(y[i], decoded[i])) {
            panic!("{name} on portable lanes, {what}: decoded value {i} is {:e} ({:#010x}), the dequantizer's {:e} ({:#010x})", y[i], y[i].to_bits(), decoded[i], decoded[i].to_bits());
        }
    }
}

/// The sums' bits (NaN sums, from an importance of `f32::MAX`, compare equal).
fn sum_bits(a: &QualityAcc) -> [u64; 6] {
    let b = |v: f64| if v.is_nan() { u64::MAX } else { v.to_bits() };
    [a.n, b(a.sum_xx), b(a.sum_yy), b(a.sum_xy), b(a.sum_ee), b(a.max_abs_err as f64)]
}

fn names() -> Vec<&'static str> {
    KQUANTS.iter().map(|(n, _)| *n).chain(LEGACY.iter().map(|(n, _)| *n)).collect()
}

#[test]
fn realistic_weights_with_and_without_importance() {
    for (rows, cols, seed) in [(6, 4096, 1u64), (3, 256, 2), (5, 768, 3), (2, 2816, 4)] {
        let w = linear_weight(rows, cols, seed);
        for name in names() {
            check(name, &w, rows, cols, None, &format!("{rows}x{cols} seed {seed}"));
            for shape in 0..6 {
                let imp = importance(cols, seed * 10 + shape as u64, shape);
                check(name, &w, rows, cols, Some(&imp), &format!("{rows}x{cols} seed {seed}, importance shape {shape}"));
            }
        }
    }
}

#[test]
fn adversarial_tensors_with_and_without_importance() {
    for (cols, seed) in [(512usize, 11u64), (1280, 12), (256, 13)] {
        let rows = 16;
        let w = adversarial(rows, cols, seed);
        for name in names() {
            check(name, &w, rows, cols, None, &format!("adversarial {rows}x{cols} seed {seed}"));
            for shape in 0..6 {
                let imp = importance(cols, seed * 10 + shape as u64, shape);
                check(name, &w, rows, cols, Some(&imp), &format!("adversarial {rows}x{cols} seed {seed}, importance shape {shape}"));
            }
        }
    }
}

#[test]
fn many_random_seeds() {
    for seed in 0..40u64 {
        let mut rng = Rng::new(seed);
        let (rows, cols) = (1 + rng.below(4), 256 * (1 + rng.below(9)));
        let w = if seed % 3 == 0 { adversarial(rows, cols, seed) } else { awkward_weight(rows, cols, seed) };
        let imp = importance(cols, seed, seed as usize % 6);
        for name in names() {
            check(name, &w, rows, cols, None, &format!("{rows}x{cols} seed {seed}"));
            check(name, &w, rows, cols, Some(&imp), &format!("{rows}x{cols} seed {seed}, importance"));
        }
    }
}

/// A NaN or infinity is reported at its offset, as by the reference.
#[test]
fn non_finite_values_are_reported_where_they_are() {
    let (rows, cols) = (3, 512);
    for name in names() {
        let scheme = Scheme::from_name(name).unwrap();
        for (pos, bad) in [(700usize, f32::NAN), (1023, f32::INFINITY), (1, f32::NEG_INFINITY)] {
            let mut w = linear_weight(rows, cols, 5);
            w[pos] = bad;
            for isa in Isa::available() {
                let e = quantize(&scheme, Source::F32(&w), rows, cols, &RunOptions { threads: 1, isa: Some(isa) }).unwrap_err();
                assert!(e.to_string().contains(&format!("index {pos}")) || e.to_string().contains(&pos.to_string()), "{name} on {isa}: {e}");
            }
        }
    }
}

/// The AVX-512 kernels must have run where the CPU has AVX-512.
#[test]
fn avx512_is_exercised_where_available() {
    #[cfg(target_arch = "x86_64")]
    {
        let has = std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512vl") && std::is_x86_feature_detected!("avx512dq");
        assert_eq!(Isa::available().contains(&Isa::Avx512), has);
        eprintln!("available ISAs: {:?}", Isa::available());
    }
}
