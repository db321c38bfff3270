//! One row chunk of a calibrated layer: optional spatial smoothing (`W' = W·diag(s)`, stored with
//! its channel scales) and optional GPTQ with the layer's prepared Hessian (of the smoothed
//! inputs when smoothing), or, without GPTQ, per-column importance for the formats that weigh
//! their search by it (the GGUF K-quants: llama.cpp's imatrix). Quality is always measured
//! against the *original* weights, through what a reader decodes: `x̂_ij = decode(W')_ij / s_j`.

use crate::error::{KernelError, Result};
use crate::formats::Scheme;
use crate::gptq::{gptq_prepared, GptqOptions, Prepared};
use crate::quality::QualityAcc;
use crate::quantize::{dequantize, quantize_weighted, Quantized, RunOptions};
use crate::source::Source;

pub struct LayerCalibration<'a> {
    /// GPTQ's factored Hessian (of `x / s` when `channel_scales` is set).
    pub hessian: Option<&'a Prepared>,
    pub channel_scales: Option<&'a [f32]>,
    pub gptq: GptqOptions,
    /// Per-column importance of the layer's inputs (of `x / s` when smoothing), used where there
    /// is no GPTQ.
    pub importance: Option<&'a [f32]>,
}

pub fn quantize_layer_chunk(scheme: &Scheme, src: Source<'_>, rows: usize, cols: usize, calib: &LayerCalibration<'_>, opts: &RunOptions) -> Result<Quantized> {
    if src.len() != rows * cols {
        return Err(KernelError::ShapeMismatch { rows, cols, expected: rows * cols, actual: src.len() });
    }
    let mut scratch = Vec::new();
    let w = src.segment_f32(0, src.len(), &mut scratch);
    if let Some(bad) = w.iter().position(|v| !v.is_finite()) {
        return Err(KernelError::NonFinite { index: bad, row: bad / cols.max(1), col: bad % cols.max(1), value: w[bad] });
    }
    let scaled: Option<Vec<f32>> = match calib.channel_scales {
        Some(s) if s.len() != cols => return Err(KernelError::BufferSize { what: "channel scales", expected: cols, actual: s.len() }),
        Some(s) => Some(w.chunks(cols.max(1)).flat_map(|row| row.iter().zip(s).map(|(w, s)| w * s)).collect()),
        None => None,
    };
    let target: &[f32] = scaled.as_deref().unwrap_or(w);
    let mut q = match calib.hessian {
        Some(prep) => gptq_prepared(scheme, target, rows, cols, prep, &GptqOptions { threads: opts.threads, ..calib.gptq })?,
        None => quantize_weighted(scheme, Source::F32(target), rows, cols, opts, calib.importance)?,
    };
    if let Some(s) = calib.channel_scales {
        let mut deq = vec![0f32; rows * cols];
        dequantize(scheme, rows, cols, &q.codes, &q.scales, &q.zeros, &mut deq)?;
        let mut acc = QualityAcc::default();
        for (row, orig) in deq.chunks(cols.max(1)).zip(w.chunks(cols.max(1))) {
            for ((&d, &x), &sj) in row.iter().zip(orig).zip(s) {
                acc.add(x, d / sj);
            }
        }
        q.quality = acc.finish();
        q.sums = acc;
    }
    Ok(q)
}
