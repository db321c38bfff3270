//! `quantize` (a JS buffer in, the payload out as JS buffers) and `quantizeChunk` (a source
//! chunk held in Rust in, a `QuantizedChunk` handle out, so the payload never crosses into JS).

use arrowquant_kernels::{quantize as quantize_kernel, KernelError, Scheme};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::{held, hold, sync_error, QuantizedChunk};
use crate::convert::{Dtype, Elements, FormatSpec, KernelOptions, QualityFigures};

#[napi(object)]
pub struct QuantizeResult {
    /// Canonical format name, e.g. "rtn_int4_g128_asym".
    pub scheme: String,
    pub bits: u32,
    pub codes: Buffer,
    pub scales: Float32Array,
    pub zeros: Buffer,
    pub bits_per_weight: f64,
    pub quality: QualityFigures,
}

pub struct QuantizeTask {
    input: Buffer,
    dtype: Dtype,
    rows: usize,
    cols: usize,
    scheme: Scheme,
    options: arrowquant_kernels::RunOptions,
    error: Option<KernelError>,
}

pub struct QuantizeOutput(arrowquant_kernels::Quantized);

/// Quantize raw little-endian bytes of `dtype` (shared by the Buffer and the native-handle entry points).
fn quantize_bytes(
    bytes: &[u8],
    dtype: Dtype,
    rows: usize,
    cols: usize,
    scheme: &Scheme,
    options: &arrowquant_kernels::RunOptions,
) -> std::result::Result<arrowquant_kernels::Quantized, KernelError> {
    let elements = Elements::new(bytes, dtype)?;
    quantize_kernel(scheme, elements.source(), rows, cols, options)
}

#[napi]
impl Task for QuantizeTask {
    type Output = QuantizeOutput;
    type JsValue = QuantizeResult;

    fn compute(&mut self) -> Result<Self::Output> {
        let out = quantize_bytes(
            &self.input,
            self.dtype,
            self.rows,
            self.cols,
            &self.scheme,
            &self.options,
        );
        out.map(QuantizeOutput)
            .map_err(|e| hold(&mut self.error, e))
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> Result<Self::JsValue> {
        let q = out.0;
        Ok(QuantizeResult {
            scheme: self.scheme.name(),
            bits: self.scheme.bits(),
            bits_per_weight: q.layout.bits_per_weight(),
            quality: q.sums.into(),
            codes: q.codes.into(),
            scales: Float32Array::new(q.scales),
            zeros: q.zeros.into(),
        })
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<Self::JsValue> {
        Err(held(&mut self.error, env, err))
    }
}

/// Quantize a row-major `[rows, cols]` tensor given as raw little-endian bytes of `dtype`
/// ("F32", "F16" or "BF16").
#[napi]
pub fn quantize(
    env: Env,
    input: Buffer,
    dtype: String,
    rows: u32,
    cols: u32,
    format: FormatSpec,
    options: Option<KernelOptions>,
) -> Result<AsyncTask<QuantizeTask>> {
    let dtype = Dtype::parse(&dtype).map_err(|e| sync_error(&env, e))?;
    let scheme = format.to_scheme().map_err(|e| sync_error(&env, e))?;
    let options = options
        .unwrap_or_default()
        .to_run_options()
        .map_err(|e| sync_error(&env, e))?;
    Ok(AsyncTask::new(QuantizeTask {
        input,
        dtype,
        rows: rows as usize,
        cols: cols as usize,
        scheme,
        options,
        error: None,
    }))
}

pub struct QuantizeChunkTask {
    data: std::sync::Arc<arrowquant_source::PooledBuf>,
    dtype: Dtype,
    rows: usize,
    cols: usize,
    scheme: Scheme,
    options: arrowquant_kernels::RunOptions,
    error: Option<KernelError>,
}

#[napi]
impl Task for QuantizeChunkTask {
    type Output = arrowquant_kernels::Quantized;
    type JsValue = QuantizedChunk;

    fn compute(&mut self) -> Result<Self::Output> {
        let out = quantize_bytes(
            &self.data,
            self.dtype,
            self.rows,
            self.cols,
            &self.scheme,
            &self.options,
        );
        out.map_err(|e| hold(&mut self.error, e))
    }

    fn resolve(&mut self, _env: Env, q: Self::Output) -> Result<Self::JsValue> {
        Ok(q.into())
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<Self::JsValue> {
        Err(held(&mut self.error, env, err))
    }
}

/// Quantize a source chunk held in Rust (see `SourceFile.read`); the result stays in Rust too.
#[napi]
pub fn quantize_chunk(
    env: Env,
    chunk: &crate::source::SourceChunk,
    dtype: String,
    rows: u32,
    cols: u32,
    format: FormatSpec,
    options: Option<KernelOptions>,
) -> Result<AsyncTask<QuantizeChunkTask>> {
    let dtype = Dtype::parse(&dtype).map_err(|e| sync_error(&env, e))?;
    let scheme = format.to_scheme().map_err(|e| sync_error(&env, e))?;
    let options = options
        .unwrap_or_default()
        .to_run_options()
        .map_err(|e| sync_error(&env, e))?;
    Ok(AsyncTask::new(QuantizeChunkTask {
        data: chunk.shared()?,
        dtype,
        rows: rows as usize,
        cols: cols as usize,
        scheme,
        options,
        error: None,
    }))
}
