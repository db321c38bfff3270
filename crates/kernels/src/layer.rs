//! One row chunk of a calibrated layer: optional spatial smoothing (`W' = W·diag(s)`, stored with
//! its channel scales) and optional GPTQ with the layer's prepared Hessian (of the smoothed
//! inputs when smoothing), or, without GPTQ, per-column importance for the formats that weigh
//! their search by it (the GGUF K-quants: llama.cpp's imatrix). Quality is always measured
//! against the *original* weights, through what a reader decodes: `x̂_ij = decode(W')_ij / s_j`;
//! with the layer's Hessian at hand, also on its outputs (`crate::layer_output`).

use crate::error::{KernelError, Result};
use crate::formats::Scheme;
use crate::gptq::{gptq_prepared, GptqOptions, Prepared};
use crate::layer_output::{MeasuredRows, OutputAcc};
use crate::quality::QualityAcc;
use crate::quantize::{quantize_weighted, row_decoder, Quantized, RunOptions};
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
    if let Some(s) = calib.channel_scales {
        if s.len() != cols {
            return Err(KernelError::BufferSize { what: "channel scales", expected: cols, actual: s.len() });
        }
    }
    let mut q = {
        // The smoothed copy lives only while quantizing.
        let scaled: Option<Vec<f32>> = calib.channel_scales.map(|s| w.chunks(cols.max(1)).flat_map(|row| row.iter().zip(s).map(|(w, s)| w * s)).collect());
        let target: &[f32] = scaled.as_deref().unwrap_or(w);
        match calib.hessian {
            Some(prep) => gptq_prepared(scheme, target, rows, cols, prep, &GptqOptions { threads: opts.threads, ..calib.gptq })?,
            None => quantize_weighted(scheme, Source::F32(target), rows, cols, opts, calib.importance)?,
        }
    };
    // What a reader decodes, `decode(W') / s`, row by row where a figure needs it: every row for
    // the smoothed weight figures, the measured rows for the layer-output ones (whose originals
    // and errors are gathered, `m × cols`, not the decoded tensor).
    let mut output = None;
    if calib.channel_scales.is_some() || calib.output.is_some() {
        let decode = row_decoder(scheme, rows, cols, &q.codes, &q.scales, &q.zeros)?;
        let mut measured = calib.output.map(|m| MeasuredRows::new(rows, cols, m.stride));
        let mut acc = QualityAcc::default();
        let mut row = vec![0f32; cols];
        for r in 0..rows {
            let wanted = measured.as_ref().is_some_and(|g| g.wants(r));
            if calib.channel_scales.is_none() && !wanted {
                continue;
            }
            decode(r, &mut row);
            let wr = &w[r * cols..(r + 1) * cols];
            if let Some(s) = calib.channel_scales {
                row.iter_mut().zip(s).for_each(|(d, &sj)| *d /= sj);
                wr.iter().zip(&row).for_each(|(&x, &d)| acc.add(x, d));
            }
            if let Some(g) = measured.as_mut().filter(|_| wanted) {
                g.push(wr, &row);
            }
        }
        if calib.channel_scales.is_some() {
            q.quality = acc.finish();
            q.sums = acc;
        }
        if let (Some(m), Some(g)) = (calib.output, measured) {
            output = Some(g.finish(m.hessian)?);
        }
    }
    Ok(LayerChunk { quantized: q, output })
}
