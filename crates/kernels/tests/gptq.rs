//! GPTQ's contract on the Rust side: the output decodes as the plain scheme it targets (RTN, R2Q,
//! HQQ), beats that scheme
//! on the layer output, is independent of the thread count, and bad input is a clear error.

use arrowquant_kernels::gptq::{gptq, GptqOptions};
use arrowquant_kernels::testdata::{hessian_of, layer_output_error, Rng};
use arrowquant_kernels::{dequantize, quantize, HqqSpec, KernelError, R2qSpec, RtnSpec, RunOptions, Scheme, Source};

/// W [rows, cols]; X [n, cols] with correlated channels and two outlier channels; H = XᵀX/n.
fn layer(rows: usize, cols: usize, n: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let w: Vec<f32> = (0..rows * cols).map(|_| (rng.normal() / (cols as f64).sqrt()) as f32).collect();
    let mut x = vec![0f32; n * cols];
    for r in 0..n {
        let common = rng.normal() as f32;
        for c in 0..cols {
            let scale = if c % 97 == 3 { 20.0 } else { 1.0 };
            x[r * cols + c] = scale * (rng.normal() as f32 + 0.7 * common);
        }
    }
    let h = hessian_of(&x, n, cols);
    (w, x, h)
}

#[test]
fn gptq_decodes_as_rtn_beats_rtn_and_ignores_thread_count() {
    let (rows, cols, n) = (40, 200, 300);
    let (w, x, h) = layer(rows, cols, n, 5);
    let rtn = |bits, group| Scheme::Rtn(RtnSpec::new(bits, group, false).unwrap());
    for (spec, act) in [
        (rtn(4, 64), false),
        (rtn(2, 32), false),
        (rtn(4, 128), true),
        (Scheme::R2q(R2qSpec::new(64).unwrap()), false),
        (Scheme::Hqq(HqqSpec::new(2, 64).unwrap()), false),
        (Scheme::R2q(R2qSpec::new(32).unwrap()), true),
    ] {
        let name = spec.name();
        let opts = GptqOptions { act_order: act, static_groups: act, threads: 1, ..GptqOptions::default() };
        let q1 = gptq(&spec, &w, rows, cols, &h, &opts).unwrap();
        let q2 = gptq(&spec, &w, rows, cols, &h, &GptqOptions { threads: 3, ..opts }).unwrap();
        assert_eq!((&q1.codes, &q1.scales, &q1.zeros), (&q2.codes, &q2.scales, &q2.zeros));
        let scheme = spec;
        let mut deq = vec![0f32; rows * cols];
        dequantize(&scheme, rows, cols, &q1.codes, &q1.scales, &q1.zeros, &mut deq).unwrap();
        let r = quantize(&scheme, Source::F32(&w), rows, cols, &RunOptions::default()).unwrap();
        let mut deq_rtn = vec![0f32; rows * cols];
        dequantize(&scheme, rows, cols, &r.codes, &r.scales, &r.zeros, &mut deq_rtn).unwrap();
        let (e_gptq, e_rtn) = (layer_output_error(&x, &w, &deq, n, rows, cols), layer_output_error(&x, &w, &deq_rtn, n, rows, cols));
        assert!(e_gptq < e_rtn, "{name} act={act}: gptq {e_gptq} vs plain {e_rtn}");
        // The weight-space figures it reports are those of its own reconstruction.
        let dot: f64 = w.iter().zip(&deq).map(|(a, b)| *a as f64 * *b as f64).sum();
        let nw: f64 = w.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        let nd: f64 = deq.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        assert!((q1.quality.cosine - dot / (nw * nd)).abs() < 1e-6);
    }
}

#[test]
fn bad_inputs_are_named_errors() {
    let (rows, cols) = (8, 64);
    let (w, _, h) = layer(rows, cols, 100, 1);
    let spec = Scheme::Rtn(RtnSpec::new(4, 32, false).unwrap());
    let opts = GptqOptions::default();
    assert!(matches!(gptq(&Scheme::Q4_0, &w, rows, cols, &h, &opts), Err(KernelError::InvalidParameter { field: "scheme", .. })));
    assert!(matches!(gptq(&spec, &w[1..], rows, cols, &h, &opts), Err(KernelError::ShapeMismatch { .. })));
    assert!(matches!(gptq(&spec, &w, rows, cols, &h[1..], &opts), Err(KernelError::BufferSize { what: "hessian", .. })));
    let act = GptqOptions { act_order: true, ..opts };
    assert!(matches!(gptq(&spec, &w, rows, cols, &h, &act), Err(KernelError::InvalidParameter { field: "act_order", .. })));
    let mut wn = w.clone();
    wn[3 * cols + 9] = f32::NAN;
    assert!(matches!(gptq(&spec, &wn, rows, cols, &h, &opts), Err(KernelError::NonFinite { row: 3, col: 9, .. })));
    // Negative definite after dampening: refused, not quantized with garbage.
    let neg: Vec<f32> = h.iter().map(|v| -v).collect();
    assert!(matches!(gptq(&spec, &w, rows, cols, &neg, &opts), Err(KernelError::NotPositiveDefinite { .. })));
}
