//! GPTQ onto the GGUF K-quant grids: the result is an ordinary block of the format (same size,
//! decodes with the format's own dequantizer), is independent of the thread count, and keeps
//! less layer-output error than the format quantized with importance (llama.cpp's imatrix path:
//! the same diag(H) the GPTQ search weighs by) and than without.

use arrowquant_kernels::gptq::{gptq, GptqOptions};
use arrowquant_kernels::testdata::{hessian_of, layer_output_error, linear_weight, Rng};
use arrowquant_kernels::{dequantize, quantize_weighted, RunOptions, Scheme, Source};

/// X [n, cols] with correlated channels and outlier channels (as DiT activations have), H = XᵀX/n.
fn activations(cols: usize, n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut x = vec![0f32; n * cols];
    for r in 0..n {
        let common = rng.normal() as f32;
        for c in 0..cols {
            let scale = if c % 61 == 7 { 15.0 } else { 1.0 + (c % 5) as f32 * 0.3 };
            x[r * cols + c] = scale * (rng.normal() as f32 + 0.6 * common);
        }
    }
    let h = hessian_of(&x, n, cols);
    (x, h)
}

fn decoded(scheme: &Scheme, codes: &[u8], rows: usize, cols: usize) -> Vec<f32> {
    let mut y = vec![0f32; rows * cols];
    dequantize(scheme, rows, cols, codes, &[], &[], &mut y).unwrap();
    y
}

#[test]
fn gptq_onto_k_grids_beats_the_importance_search_at_the_same_size() {
    let (rows, cols, n) = (48, 512, 700);
    let w = linear_weight(rows, cols, 21);
    let (x, h) = activations(cols, n, 22);
    let diag: Vec<f32> = (0..cols).map(|j| h[j * cols + j]).collect();
    for scheme in [Scheme::Q2K, Scheme::Q3K, Scheme::Q4K, Scheme::Q5K, Scheme::Q6K] {
        let name = scheme.name();
        for act in [false, true] {
            let opts = GptqOptions { act_order: act, static_groups: act, threads: 1, ..GptqOptions::default() };
            let g = gptq(&scheme, &w, rows, cols, &h, &opts).unwrap();
            let g3 = gptq(&scheme, &w, rows, cols, &h, &GptqOptions { threads: 3, ..opts }).unwrap();
            assert_eq!(g.codes, g3.codes, "{name}: thread count changed the bytes");
            let plain = quantize_weighted(&scheme, Source::F32(&w), rows, cols, &RunOptions::default(), None).unwrap();
            let imp = quantize_weighted(&scheme, Source::F32(&w), rows, cols, &RunOptions::default(), Some(&diag)).unwrap();
            assert_eq!(g.codes.len(), imp.codes.len(), "{name}: not the format's size");
            let e = |codes: &[u8]| layer_output_error(&x, &w, &decoded(&scheme, codes, rows, cols), n, rows, cols);
            let (e_gptq, e_imp, e_plain) = (e(&g.codes), e(&imp.codes), e(&plain.codes));
            eprintln!("{name} act_order={act}: layer-output error gptq {e_gptq:.5}, +importance {e_imp:.5}, plain {e_plain:.5}");
            assert!(e_gptq < e_imp, "{name} act={act}: GPTQ {e_gptq} not below the importance search's {e_imp}");
            // The figures it reports are those of its own reconstruction.
            let y = decoded(&scheme, &g.codes, rows, cols);
            let dot: f64 = w.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).sum();
            let (nw, ny) = (w.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt(), y.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt());
            assert!((g.quality.cosine - dot / (nw * ny)).abs() < 1e-6, "{name}: reported cosine");
        }
    }
}

#[test]
fn rows_that_are_not_whole_super_blocks_are_refused() {
    let (rows, cols) = (4, 320);
    let w = linear_weight(rows, cols, 3);
    let (_, h) = activations(cols, 50, 4);
    let e = gptq(&Scheme::Q4K, &w, rows, cols, &h, &GptqOptions::default()).unwrap_err();
    assert!(e.to_string().contains("256"), "{e}");
}
