//! The one-pass quality figures equal figures recomputed from the dequantized tensor, quality
//! orders as expected across bit widths, and bad input is reported with its position.

mod common;

use arrowquant_kernels::testdata::linear_weight;
use arrowquant_kernels::*;
use common::*;

fn recomputed(w: &[f32], y: &[f32]) -> Quality {
    let mut acc = QualityAcc::default();
    for (&a, &b) in w.iter().zip(y) {
        acc.add(a, b);
    }
    acc.finish()
}

#[test]
fn one_pass_metrics_match_the_dequantized_tensor() {
    let (rows, cols) = (24, 320);
    let w = linear_weight(rows, cols, 3);
    for scheme in all_schemes().iter().filter(|s| supports(s, cols)) {
        for isa in Isa::available() {
            let q = quantize(scheme, Source::F32(&w), rows, cols, &RunOptions { threads: 1, isa: Some(isa) }).unwrap();
            let mut y = vec![0f32; w.len()];
            dequantize(scheme, rows, cols, &q.codes, &q.scales, &q.zeros, &mut y).unwrap();
            assert_quality_close(&q.quality, &recomputed(&w, &y), &format!("{} on {isa}", scheme.name()));
        }
    }
}

#[test]
fn more_bits_means_better_quality() {
    let (rows, cols) = (64, 512);
    let w = linear_weight(rows, cols, 5);
    let sqnr = |bits| {
        let s = Scheme::Rtn(RtnSpec::new(bits, 64, false).unwrap());
        quantize(&s, Source::F32(&w), rows, cols, &RunOptions::default()).unwrap().quality.sqnr_db
    };
    let (s2, s4, s8) = (sqnr(2), sqnr(4), sqnr(8));
    // Each extra bit is worth ~6 dB on a uniform grid.
    assert!(s4 > s2 + 8.0 && s8 > s4 + 20.0, "sqnr 2/4/8 bits: {s2} {s4} {s8}");
    let q4 = quantize(&Scheme::Q4_0, Source::F32(&w), rows, cols, &RunOptions::default()).unwrap().quality;
    let q8 = quantize(&Scheme::Q8_0, Source::F32(&w), rows, cols, &RunOptions::default()).unwrap().quality;
    assert!(q4.cosine > 0.98 && q8.cosine > 0.9999, "q4_0 {} q8_0 {}", q4.cosine, q8.cosine);
}

#[test]
fn nan_and_inf_are_reported_with_row_and_column() {
    let (rows, cols) = (40, 256);
    for scheme in all_schemes() {
        for isa in Isa::available() {
            for (pos, bad) in [(3 * 256 + 17, f32::NAN), (39 * 256 + 255, f32::INFINITY), (0, f32::NEG_INFINITY)] {
                let mut w = linear_weight(rows, cols, 9);
                w[pos] = bad;
                let err = quantize(&scheme, Source::F32(&w), rows, cols, &RunOptions { threads: 2, isa: Some(isa) }).unwrap_err();
                match err {
                    KernelError::NonFinite { index, row, col, value } => {
                        assert_eq!((index, row, col), (pos, pos / cols, pos % cols), "{} on {isa}", scheme.name());
                        assert_eq!(value.to_bits(), bad.to_bits());
                    }
                    other => panic!("{}: expected NonFinite, got {other}", scheme.name()),
                }
            }
        }
    }
}

#[test]
fn shape_and_buffer_errors_name_the_problem() {
    let w = vec![0.5f32; 100];
    let e = quantize(&Scheme::Q4_0, Source::F32(&w), 10, 11, &RunOptions::default()).unwrap_err();
    assert!(e.to_string().contains("shape 10x11 needs 110"), "{e}");
    let e = quantize(&Scheme::Q4_0, Source::F32(&w), 4, 25, &RunOptions::default()).unwrap_err();
    assert!(matches!(e, KernelError::RowLength { multiple: 32, cols: 25, .. }), "{e}");
    let mut out = vec![0f32; 64];
    let e = dequantize(&Scheme::Q8_0, 2, 32, &[0u8; 10], &[], &[], &mut out).unwrap_err();
    assert!(matches!(e, KernelError::BufferSize { what: "codes", expected: 68, actual: 10 }), "{e}");
    assert!(Scheme::parse("int3", 4, 128, false).is_err());
}

#[test]
fn empty_tensors_quantize_to_empty_buffers() {
    for scheme in all_schemes() {
        // 256 columns: a row length every format accepts (the K-quants need whole super-blocks).
        let q = quantize(&scheme, Source::F32(&[]), 0, 256, &RunOptions { threads: 2, isa: None }).unwrap();
        assert!(q.codes.is_empty(), "{}", scheme.name());
        assert_eq!(q.quality.elements, 0);
    }
}

#[test]
fn canonical_names_parse_back() {
    use arrowquant_kernels::Scheme;
    for (name, bits, group, sym) in [
        ("rtn", 2, 32, false),
        ("rtn", 4, 128, true),
        ("rtn", 8, 256, false),
        ("int8_channel", 8, 0, false),
        ("nf4", 4, 0, false),
        ("fp8_e4m3", 8, 0, false),
        ("fp8_e5m2_channel", 8, 0, false),
        ("q8_0", 8, 0, false),
        ("q4_0", 4, 0, false),
        ("hqq", 2, 64, false),
        ("hqq", 4, 128, false),
        ("r2q", 2, 256, false),
    ] {
        let scheme = Scheme::parse(name, bits, group.max(32), sym).unwrap();
        assert_eq!(Scheme::from_name(&scheme.name()).unwrap(), scheme, "{}", scheme.name());
    }
    for bad in ["rtn_int3_g128_asym", "rtn_int4_g100_asym", "rtn_int4_128_asym", "rtn_int4_g128_x", "int4", "hqq_int3_g64", "hqq_int2_64", "r2q_g100", "r2q_64"] {
        assert!(Scheme::from_name(bad).is_err(), "{bad} parsed");
    }
}

#[test]
fn compare_matches_the_quantizer_own_figures() {
    use arrowquant_kernels::{compare, dequantize, quantize, RunOptions, Scheme, Source};
    let (rows, cols) = (37, 200);
    let w = arrowquant_kernels::testdata::linear_weight(rows, cols, 11);
    let scheme = Scheme::parse("rtn", 4, 64, false).unwrap();
    let opts = RunOptions { threads: 2, isa: None };
    let q = quantize(&scheme, Source::F32(&w), rows, cols, &opts).unwrap();
    let mut recon = vec![0f32; rows * cols];
    dequantize(&scheme, rows, cols, &q.codes, &q.scales, &q.zeros, &mut recon).unwrap();
    let acc = compare(Source::F32(&w), &recon, cols, &opts).unwrap();
    let again = acc.finish();
    assert!((again.cosine - q.quality.cosine).abs() < 1e-6, "{} vs {}", again.cosine, q.quality.cosine);
    assert!((again.sqnr_db - q.quality.sqnr_db).abs() < 1e-3);
    assert_eq!(acc.n, q.sums.n);
    let mut bad = w.clone();
    bad[3 * cols + 5] = f32::NAN;
    match compare(Source::F32(&bad), &recon, cols, &opts) {
        Err(arrowquant_kernels::KernelError::NonFinite { row: 3, col: 5, .. }) => {}
        other => panic!("expected NonFinite at (3,5), got {other:?}"),
    }
}
