//! Calibrated layer chunks: smoothing stores W·diag(s) and reports quality against W through
//! what a reader decodes (decode / s); GPTQ with the smoothed Hessian beats plain smoothing on
//! the layer output; a shared prepared Hessian gives the same bytes as one-shot GPTQ.

use arrowquant_kernels::gptq::{gptq, prepare, GptqOptions};
use arrowquant_kernels::hessian::F32Hessian;
use arrowquant_kernels::layer::{quantize_layer_chunk, LayerCalibration, OutputMeasure};
use arrowquant_kernels::smoothing::{smooth_hessian, SmoothingSearch};
use arrowquant_kernels::testdata::Rng;
use arrowquant_kernels::{dequantize, QualityAcc, RtnSpec, RunOptions, Scheme, Source};

/// W [rows, cols], H of inputs with a few 30× outlier channels.
fn layer(rows: usize, cols: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let w: Vec<f32> = (0..rows * cols).map(|_| (rng.normal() * 0.05) as f32).collect();
    let scale: Vec<f64> = (0..cols).map(|j| if j % 29 == 0 { 30.0 } else { 1.0 + rng.uniform() }).collect();
    let n = 256;
    let x: Vec<f64> = (0..n * cols).map(|i| scale[i % cols] * rng.normal()).collect();
    let mut h = vec![0f32; cols * cols];
    for a in 0..cols {
        for b in 0..cols {
            h[a * cols + b] = ((0..n).map(|r| x[r * cols + a] * x[r * cols + b]).sum::<f64>() / n as f64) as f32;
        }
    }
    let absmax: Vec<f32> = (0..cols).map(|j| (0..n).map(|r| x[r * cols + j].abs()).fold(0.0, f64::max) as f32).collect();
    (w, h, absmax)
}

/// tr(E H Eᵀ) / tr(W H Wᵀ): the layer-output error per unit of output energy.
fn output_error(w: &[f32], wq: &[f32], h: &[f32], cols: usize) -> f64 {
    let (mut num, mut den) = (0f64, 0f64);
    for (r, q) in w.chunks(cols).zip(wq.chunks(cols)) {
        for a in 0..cols {
            for b in 0..cols {
                let hab = h[a * cols + b] as f64;
                num += (r[a] - q[a]) as f64 * (r[b] - q[b]) as f64 * hab;
                den += r[a] as f64 * r[b] as f64 * hab;
            }
        }
    }
    num / den
}

fn decode_unsmoothed(scheme: &Scheme, q: &arrowquant_kernels::Quantized, rows: usize, cols: usize, s: &[f32]) -> Vec<f32> {
    let mut d = vec![0f32; rows * cols];
    dequantize(scheme, rows, cols, &q.codes, &q.scales, &q.zeros, &mut d).unwrap();
    d.chunks_mut(cols).for_each(|row| row.iter_mut().zip(s).for_each(|(v, s)| *v /= s));
    d
}

#[test]
fn smoothing_and_gptq_through_layer_chunks() {
    let (rows, cols) = (64, 128);
    let (w, h, absmax) = layer(rows, cols, 3);
    let scheme = Scheme::Rtn(RtnSpec::new(4, 32, false).unwrap());
    let opts = RunOptions::default();
    let mut search = SmoothingSearch::new(rows, cols);
    search.add_rows(Source::F32(&w), 0, rows).unwrap();
    let hd: Vec<f32> = (0..cols).map(|j| h[j * cols + j]).collect();
    let choice = search.finish(&scheme, &absmax, &hd, &opts).unwrap();
    let s = choice.scales.clone();
    assert!(choice.alpha.is_some(), "outlier activations: smoothing is chosen");

    // Smoothed RTN: quality is what a reader sees (decode / s) against W.
    let gopts = GptqOptions::default();
    let plain = quantize_layer_chunk(&scheme, Source::F32(&w), rows, cols, &LayerCalibration { hessian: None, channel_scales: Some(&s), gptq: gopts, importance: None, output: None }, &opts).unwrap().quantized;
    let seen = decode_unsmoothed(&scheme, &plain, rows, cols, &s);
    let mut acc = QualityAcc::default();
    w.iter().zip(&seen).for_each(|(&a, &b)| acc.add(a, b));
    assert_eq!(acc.sum_ee, plain.sums.sum_ee);

    // GPTQ on the smoothed layer, with H' = diag(1/s) H diag(1/s), beats smoothed RTN on the output.
    let prep = prepare(&smooth_hessian(&h, &s), cols, &gopts).unwrap();
    let calib = LayerCalibration { hessian: Some(&prep), channel_scales: Some(&s), gptq: gopts, importance: None, output: None };
    let g = quantize_layer_chunk(&scheme, Source::F32(&w), rows, cols, &calib, &opts).unwrap().quantized;
    let gseen = decode_unsmoothed(&scheme, &g, rows, cols, &s);
    let (e_gptq, e_rtn) = (output_error(&w, &gseen, &h, cols), output_error(&w, &seen, &h, cols));
    assert!(e_gptq < e_rtn, "gptq {e_gptq} vs rtn {e_rtn} (both smoothed)");

    // Row chunks with the shared prepared Hessian = one-shot GPTQ of the smoothed weights.
    let ws: Vec<f32> = w.chunks(cols).flat_map(|r| r.iter().zip(&s).map(|(a, b)| a * b)).collect();
    let whole = gptq(&scheme, &ws, rows, cols, &smooth_hessian(&h, &s), &gopts).unwrap();
    let top = quantize_layer_chunk(&scheme, Source::F32(&w[..40 * cols]), 40, cols, &calib, &opts).unwrap().quantized;
    let bottom = quantize_layer_chunk(&scheme, Source::F32(&w[40 * cols..]), rows - 40, cols, &calib, &opts).unwrap().quantized;
    assert_eq!([top.codes, bottom.codes].concat(), whole.codes);
    assert_eq!([top.scales, bottom.scales].concat(), whole.scales);

    // Measured with the layer's Hessian, the chunk's layer-output sums give the output error of
    // what a reader decodes (the smoothed codes divided back), over every row at stride 1 and
    // over rows 0, 5, 10, … at stride 5; the quantized bytes are the same either way.
    let hs = F32Hessian::new(&h, cols).unwrap();
    let output = Some(OutputMeasure { hessian: &hs, stride: 1 });
    let m = quantize_layer_chunk(&scheme, Source::F32(&w), rows, cols, &LayerCalibration { output, ..calib }, &opts).unwrap();
    assert_eq!(m.quantized.codes, g.codes);
    let acc = m.output.expect("measured");
    assert_eq!(acc.rows, rows as u64);
    assert!((acc.sum_ee / acc.sum_ww / e_gptq - 1.0).abs() < 1e-4, "{} vs {e_gptq}", acc.sum_ee / acc.sum_ww);
    let sampled = quantize_layer_chunk(&scheme, Source::F32(&w), rows, cols, &LayerCalibration { output: Some(OutputMeasure { hessian: &hs, stride: 5 }), ..calib }, &opts).unwrap();
    let picked: Vec<f32> = w.chunks(cols).step_by(5).flatten().copied().collect();
    let picked_hat: Vec<f32> = gseen.chunks(cols).step_by(5).flatten().copied().collect();
    let want = output_error(&picked, &picked_hat, &h, cols);
    let got = sampled.output.unwrap();
    assert_eq!(got.rows as usize, rows.div_ceil(5));
    assert!((got.sum_ee / got.sum_ww / want - 1.0).abs() < 1e-4);

    // A wrong number of channel scales is a named error, not a panic.
    let bad = LayerCalibration { hessian: None, channel_scales: Some(&s[1..]), gptq: gopts, importance: None, output: None };
    assert!(quantize_layer_chunk(&scheme, Source::F32(&w), rows, cols, &bad, &opts).is_err());
}
