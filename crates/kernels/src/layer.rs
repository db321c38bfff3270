//! One row chunk of a calibrated layer: optional spatial smoothing (`W' = W·diag(s)`, stored with
//! its channel scales) and optional GPTQ with the layer's prepared Hessian (of the smoothed
//! inputs when smoothing), or, without GPTQ, per-column importance for the formats that weigh
//! their search by it (the GGUF K-quants: llama.cpp's imatrix). Quality is always measured
//! against the *original* weights, through what a reader decodes: `x̂_ij = decode(W')_ij / s_j`;
//! with the layer's Hessian at hand, also on its outputs (`crate::layer_output`).

use crate::error::{KernelError, Result};
use crate::formats::Scheme;
use crate::gptq::{gptq_prepared, GptqOptions, Prepared};
use crate::layer_output::{self, OutputAcc};
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
    /// The layer's (unsmoothed) Hessian and measuring stride: measure the chunk's layer-output
    /// figures too.
    pub output: Option<OutputMeasure<'a>>,
}

#[derive(Clone, Copy)]
pub struct OutputMeasure<'a> {
    /// `[cols, cols]`, of the original inputs `x`.
    pub hessian: &'a dyn crate::hessian::HessianSource,
    pub stride: usize,
}

/// A quantized chunk and, when measured, its layer-output sums.
pub struct LayerChunk {
    pub quantized: Quantized,
    pub output: Option<OutputAcc>,
}

pub fn quantize_layer_chunk(scheme: &Scheme, src: Source<'_>, rows: usize, cols: usize, calib: &LayerCalibration<'_>, opts: &RunOptions) -> Result<LayerChunk> {
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
    // What a reader decodes, where a figure needs it: `decode(W') / s`.
    let decoded = if calib.channel_scales.is_some() || calib.output.is_some() {
        let mut deq = vec![0f32; rows * cols];
        dequantize(scheme, rows, cols, &q.codes, &q.scales, &q.zeros, &mut deq)?;
        if let Some(s) = calib.channel_scales {
            deq.chunks_mut(cols.max(1)).for_each(|row| row.iter_mut().zip(s).for_each(|(d, &sj)| *d /= sj));
        }
        Some(deq)
    } else {
        None
    };
    if let (Some(_), Some(deq)) = (calib.channel_scales, &decoded) {
        let mut acc = QualityAcc::default();
        w.iter().zip(deq).for_each(|(&x, &d)| acc.add(x, d));
        q.quality = acc.finish();
        q.sums = acc;
    }
    let output = match (calib.output, &decoded) {
        (Some(m), Some(deq)) => Some(layer_output::measure(w, deq, rows, cols, m.hessian, m.stride)?),
        _ => None,
    };
    Ok(LayerChunk { quantized: q, output })
}
