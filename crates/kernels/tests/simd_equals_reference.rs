//! Every SIMD kernel this CPU can run produces the scalar reference's codes, scales, zero-points
//! and quality sums bit for bit, on shared generated data with outliers, zeros, subnormals,
//! constant groups and ties, over many shapes.

mod common;

use arrowquant_kernels::testdata::awkward_weight;
use arrowquant_kernels::*;
use common::*;
use proptest::prelude::*;

fn check(scheme: &Scheme, rows: usize, cols: usize, seed: u64) {
    let w = awkward_weight(rows, cols, seed);
    let reference = quantize(scheme, Source::F32(&w), rows, cols, &RunOptions { threads: 1, isa: Some(Isa::Scalar) }).unwrap();
    for isa in Isa::available().into_iter().filter(|i| *i != Isa::Scalar) {
        let what = format!("{} on {isa}, {rows}x{cols}, seed {seed}", scheme.name());
        let got = quantize(scheme, Source::F32(&w), rows, cols, &RunOptions { threads: 1, isa: Some(isa) }).unwrap();
        if got.codes != reference.codes {
            let i = got.codes.iter().zip(&reference.codes).position(|(a, b)| a != b).unwrap();
            panic!("{what}: code byte {i} is {:#04x}, reference {:#04x}", got.codes[i], reference.codes[i]);
        }
        assert_eq!(got.scales.iter().map(|s| s.to_bits()).collect::<Vec<_>>(), reference.scales.iter().map(|s| s.to_bits()).collect::<Vec<_>>(), "{what}: scales");
        assert_eq!(got.zeros, reference.zeros, "{what}: zero-points");
        // The figures are taken from the decoded row in one canonical order on every ISA
        // (quality::row_sums_reference): the same bits, so a mixed fleet writes the same file.
        let bits = |a: &QualityAcc| (a.n, a.sum_xx.to_bits(), a.sum_yy.to_bits(), a.sum_xy.to_bits(), a.sum_ee.to_bits(), a.max_abs_err.to_bits());
        assert_eq!(bits(&got.sums), bits(&reference.sums), "{what}: quality sums");
    }
}

#[test]
fn every_scheme_on_awkward_shapes() {
    // Row lengths: multiples of every group, not a multiple of 128 (as in real DiT layers), odd.
    for &(rows, cols) in &[(3, 256), (5, 96), (2, 1152), (4, 200), (1, 37), (7, 3072)] {
        for scheme in all_schemes().iter().filter(|s| supports(s, cols)) {
            check(scheme, rows, cols, rows as u64 * 1000 + cols as u64);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_shapes_and_seeds(rows in 1usize..6, cols_32 in 1usize..40, extra in 0usize..32, seed in any::<u64>(), pick in 0usize..64) {
        let schemes = all_schemes();
        let scheme = schemes[pick % schemes.len()];
        // A row length the format takes: whole blocks (rounded up to its row multiple), plus a
        // ragged tail where the format allows one.
        let multiple = scheme.info().row_multiple;
        let base = (cols_32 * 32).div_ceil(multiple) * multiple;
        let cols = base + if supports(&scheme, base + extra) { extra } else { 0 };
        check(&scheme, rows, cols, seed);
    }
}

/// Cases the property test found, kept as plain tests so they run every time.
#[test]
fn found_by_the_property_test() {
    // When each kernel summed quality in its own order: cosine 0.9929496867 on AVX2 against
    // 0.9929507467 (now the same bits).
    let q3_k = all_schemes().into_iter().find(|s| s.name() == "q3_k").expect("q3_k in the registry");
    check(&q3_k, 3, 256, 2226483056275816985);
}

/// The comparison above is only meaningful if a SIMD kernel actually ran.
#[test]
fn a_simd_isa_is_available_where_the_architecture_guarantees_one() {
    eprintln!("available ISAs: {:?}", Isa::available());
    #[cfg(target_arch = "aarch64")]
    assert!(Isa::available().contains(&Isa::Neon));
    #[cfg(target_arch = "x86_64")]
    assert_eq!(Isa::available().contains(&Isa::Avx2), std::is_x86_feature_detected!("avx2"));
}

/// An all-but-zero tensor (every value under 1e-19, where products underflow f32), or a huge one
/// (squares overflow f32): every ISA reports the quality a reader would measure from the decoded
/// values in f64, and so they agree.
/// (Found by the property test above: 1x32 of subnormals, cosine 1 on AVX2, 0.93 in truth.)
#[test]
fn quality_of_tiny_tensors_is_measured_in_f64_on_every_isa() {
    let (rows, cols) = (2, 256);
    for &magnitude in &[1e-25f32, 1e-39, 1e25] {
        let w: Vec<f32> = awkward_weight(rows, cols, 7).iter().map(|v| v * magnitude).collect();
        for scheme in all_schemes().iter().filter(|s| supports(s, cols)) {
            for isa in Isa::available() {
                let what = format!("{} on {isa}, values ~{magnitude:e}", scheme.name());
                let q = quantize(scheme, Source::F32(&w), rows, cols, &RunOptions { threads: 1, isa: Some(isa) }).unwrap();
                let mut y = vec![0f32; rows * cols];
                dequantize(scheme, rows, cols, &q.codes, &q.scales, &q.zeros, &mut y).unwrap();
                if y.iter().any(|v| !v.is_finite()) {
                    continue; // an f16 block scale cannot hold 1e25 (Q4_0/Q8_0): nothing to measure
                }
                let mut truth = QualityAcc::default();
                w.iter().zip(&y).for_each(|(a, b)| truth.add(*a, *b));
                assert_quality_close(&q.quality, &truth.finish(), &what);
            }
        }
    }
}
