//! Results depend only on the input: not on the thread count, the order chunks finish, or the
//! source dtype's path through the converter.

mod common;

use arrowquant_kernels::testdata::linear_weight;
use arrowquant_kernels::*;
use common::*;
use half::{bf16, f16};

#[test]
fn thread_count_does_not_change_anything() {
    // Enough rows for many chunks, so threads really interleave.
    let (rows, cols) = (300, 1088);
    let w = linear_weight(rows, cols, 7);
    // Under qemu-user (scripts/test-arm64.sh sets ARROWQUANT_EMULATED) every run is ~30× slower
    // and this test took ~5 minutes: there one interleaving (3 threads, once) holds the NEON
    // kernels to the 1-thread bytes; the chunking itself is the same code the native run covers.
    let emulated = std::env::var_os("ARROWQUANT_EMULATED").is_some();
    let (thread_counts, repeats): (&[usize], usize) = if emulated { (&[3], 1) } else { (&[2, 3, 0], 2) };
    for scheme in all_schemes().iter().filter(|s| supports(s, cols)) {
        let one = quantize(scheme, Source::F32(&w), rows, cols, &RunOptions { threads: 1, isa: None }).unwrap();
        for &threads in thread_counts {
            for _ in 0..repeats {
                let many = quantize(scheme, Source::F32(&w), rows, cols, &RunOptions { threads, isa: None }).unwrap();
                assert_eq!(many, one, "{} with {threads} threads", scheme.name());
            }
        }
    }
}

#[test]
fn half_precision_sources_equal_their_f32_widening() {
    let (rows, cols) = (16, 640);
    let w = linear_weight(rows, cols, 11);
    let h: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    let b: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
    let hw: Vec<f32> = h.iter().map(|v| v.to_f32()).collect();
    let bw: Vec<f32> = b.iter().map(|v| v.to_f32()).collect();
    for scheme in all_schemes().iter().filter(|s| supports(s, cols)) {
        let opts = RunOptions { threads: 2, isa: None };
        assert_eq!(
            quantize(scheme, Source::F16(&h), rows, cols, &opts).unwrap(),
            quantize(scheme, Source::F32(&hw), rows, cols, &opts).unwrap(),
            "{} f16",
            scheme.name()
        );
        assert_eq!(
            quantize(scheme, Source::Bf16(&b), rows, cols, &opts).unwrap(),
            quantize(scheme, Source::F32(&bw), rows, cols, &opts).unwrap(),
            "{} bf16",
            scheme.name()
        );
    }
}
