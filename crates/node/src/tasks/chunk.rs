//! `QuantizedChunk`: a quantized payload kept in Rust until the Parquet writer moves it out.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{LayerOutputFigures, QualityFigures};
use arrowquant_kernels::layer_output::OutputAcc;

/// A quantized chunk held in Rust until the Parquet writer takes it (no copy through JS).
#[napi]
pub struct QuantizedChunk {
    inner: std::sync::Mutex<Option<arrowquant_kernels::Quantized>>,
    quality: arrowquant_kernels::QualityAcc,
    /// Layer-output sums, when the chunk was measured with its layer's Hessian.
    output: Option<OutputAcc>,
    payload_bytes: u32,
}

impl From<arrowquant_kernels::Quantized> for QuantizedChunk {
    fn from(q: arrowquant_kernels::Quantized) -> Self {
        let payload = q.codes.len() + 4 * q.scales.len() + q.zeros.len();
        QuantizedChunk {
            quality: q.sums,
            output: None,
            payload_bytes: payload as u32,
            inner: std::sync::Mutex::new(Some(q)),
        }
    }
}

impl QuantizedChunk {
    pub fn with_output(mut self, output: Option<OutputAcc>) -> Self {
        self.output = output;
        self
    }

    /// The codes, scales (as little-endian bytes) and zero-points, moved out. Releases the handle.
    pub fn take(&self) -> Result<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let q = self
            .inner
            .lock()
            .map_err(|_| Error::from_reason("poisoned"))?
            .take();
        let q =
            q.ok_or_else(|| Error::from_reason("quantized chunk already written or released"))?;
        let scales = q.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
        Ok((q.codes, scales, q.zeros))
    }

    fn with<T>(&self, f: impl FnOnce(&arrowquant_kernels::Quantized) -> T) -> Result<T> {
        let g = self
            .inner
            .lock()
            .map_err(|_| Error::from_reason("poisoned"))?;
        g.as_ref()
            .map(f)
            .ok_or_else(|| Error::from_reason("quantized chunk already written or released"))
    }
}

#[napi]
impl QuantizedChunk {
    #[napi(getter)]
    pub fn quality(&self) -> QualityFigures {
        self.quality.into()
    }

    /// The layer-output figures, when measured (a calibrated layer with its Hessian).
    #[napi(getter)]
    pub fn layer_output(&self) -> Option<LayerOutputFigures> {
        self.output.map(Into::into)
    }

    /// Bytes of codes + scales + zero-points.
    #[napi(getter)]
    pub fn payload_bytes(&self) -> u32 {
        self.payload_bytes
    }

    #[napi]
    pub fn codes(&self) -> Result<Buffer> {
        self.with(|q| q.codes.clone().into())
    }

    /// Scales as little-endian f32 bytes.
    #[napi]
    pub fn scales(&self) -> Result<Buffer> {
        self.with(|q| {
            q.scales
                .iter()
                .flat_map(|s| s.to_le_bytes())
                .collect::<Vec<u8>>()
                .into()
        })
    }

    #[napi]
    pub fn zeros(&self) -> Result<Buffer> {
        self.with(|q| q.zeros.clone().into())
    }

    /// Free the buffers now (a rejected fallback rung). Idempotent.
    #[napi]
    pub fn release(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.take();
        }
    }
}
