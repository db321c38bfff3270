//! The async exports: each validates its arguments on the JS thread, runs the kernel on a worker
//! thread with the input buffer borrowed (not copied), and hands the output vectors to JS
//! without copying.

use arrowquant_kernels::{
    dequantize as dequantize_kernel, quantize as quantize_kernel, KernelError, Scheme,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{Dtype, Elements, FormatSpec, KernelOptions, QualityFigures};
use crate::error;

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

/// Keep the typed error for `reject` (which has the `Env` to build it) and fail the task.
pub(crate) fn hold(slot: &mut Option<KernelError>, e: KernelError) -> Error {
    *slot = Some(e);
    error::pending()
}

/// In `reject`: the typed JS error for what `hold` kept, else the error as it came.
pub(crate) fn held(slot: &mut Option<KernelError>, env: Env, err: Error) -> Error {
    slot.take().map_or(err, |e| error::to_js(env, &e))
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

pub(crate) fn sync_error(env: &Env, e: KernelError) -> Error {
    error::to_js(*env, &e)
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

pub struct DequantizeTask {
    scheme: Scheme,
    rows: usize,
    cols: usize,
    codes: Buffer,
    scales: Float32Array,
    zeros: Buffer,
    error: Option<KernelError>,
}

#[napi]
impl Task for DequantizeTask {
    type Output = Vec<f32>;
    type JsValue = Float32Array;

    fn compute(&mut self) -> Result<Self::Output> {
        let mut out = vec![0f32; self.rows * self.cols];
        dequantize_kernel(
            &self.scheme,
            self.rows,
            self.cols,
            &self.codes,
            &self.scales,
            &self.zeros,
            &mut out,
        )
        .map(|_| out)
        .map_err(|e| hold(&mut self.error, e))
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> Result<Self::JsValue> {
        Ok(Float32Array::new(out))
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<Self::JsValue> {
        Err(held(&mut self.error, env, err))
    }
}

/// Reconstruct f32 values of a tensor quantized with `format`.
#[napi]
pub fn dequantize(
    env: Env,
    format: FormatSpec,
    rows: u32,
    cols: u32,
    codes: Buffer,
    scales: Float32Array,
    zeros: Buffer,
) -> Result<AsyncTask<DequantizeTask>> {
    let scheme = format.to_scheme().map_err(|e| sync_error(&env, e))?;
    Ok(AsyncTask::new(DequantizeTask {
        scheme,
        rows: rows as usize,
        cols: cols as usize,
        codes,
        scales,
        zeros,
        error: None,
    }))
}

pub struct CompareTask {
    input: Buffer,
    dtype: Dtype,
    cols: usize,
    recon: Float32Array,
    options: arrowquant_kernels::RunOptions,
    error: Option<KernelError>,
}

#[napi]
impl Task for CompareTask {
    type Output = arrowquant_kernels::QualityAcc;
    type JsValue = QualityFigures;

    fn compute(&mut self) -> Result<Self::Output> {
        let run = || {
            let elements = Elements::new(&self.input, self.dtype)?;
            arrowquant_kernels::compare(elements.source(), &self.recon, self.cols, &self.options)
        };
        run().map_err(|e| hold(&mut self.error, e))
    }

    fn resolve(&mut self, _env: Env, acc: Self::Output) -> Result<Self::JsValue> {
        Ok(acc.into())
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<Self::JsValue> {
        Err(held(&mut self.error, env, err))
    }
}

/// Quality of `recon` (f32) as a reconstruction of the raw source bytes (`verify`).
#[napi]
pub fn compare_quality(
    env: Env,
    input: Buffer,
    dtype: String,
    cols: u32,
    recon: Float32Array,
    options: Option<KernelOptions>,
) -> Result<AsyncTask<CompareTask>> {
    let dtype = Dtype::parse(&dtype).map_err(|e| sync_error(&env, e))?;
    let options = options
        .unwrap_or_default()
        .to_run_options()
        .map_err(|e| sync_error(&env, e))?;
    Ok(AsyncTask::new(CompareTask {
        input,
        dtype,
        cols: cols as usize,
        recon,
        options,
        error: None,
    }))
}

/// A quantized chunk held in Rust until the Parquet writer takes it (no copy through JS).
#[napi]
pub struct QuantizedChunk {
    inner: std::sync::Mutex<Option<arrowquant_kernels::Quantized>>,
    quality: arrowquant_kernels::QualityAcc,
    payload_bytes: u32,
}

impl From<arrowquant_kernels::Quantized> for QuantizedChunk {
    fn from(q: arrowquant_kernels::Quantized) -> Self {
        let payload = q.codes.len() + 4 * q.scales.len() + q.zeros.len();
        QuantizedChunk {
            quality: q.sums,
            payload_bytes: payload as u32,
            inner: std::sync::Mutex::new(Some(q)),
        }
    }
}

impl QuantizedChunk {
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

#[napi(object)]
pub struct PayloadSize {
    pub code_bytes: f64,
    pub scales: f64,
    pub zeros: f64,
    /// codes + 4·scales + zeros.
    pub bytes: f64,
}

/// The payload a scheme stores for `rows × cols` (from the kernels' layout, no data read).
#[napi]
pub fn payload_size(env: Env, format: FormatSpec, rows: u32, cols: u32) -> Result<PayloadSize> {
    let scheme = format.to_scheme().map_err(|e| sync_error(&env, e))?;
    let l = scheme
        .layout(rows as usize, cols as usize)
        .map_err(|e| sync_error(&env, e))?;
    let (c, s, z) = (l.code_bytes() as f64, l.scales() as f64, l.zeros() as f64);
    Ok(PayloadSize {
        code_bytes: c,
        scales: s,
        zeros: z,
        bytes: c + 4.0 * s + z,
    })
}

#[napi(object)]
#[derive(Clone, Default)]
pub struct GptqOptionsJs {
    /// Dampening as a fraction of mean(diag H) (default 0.01).
    pub damp: Option<f64>,
    /// Quantize columns by decreasing H_jj, with static groups (default false).
    pub act_order: Option<bool>,
    /// 0 = all cores (default 0).
    pub threads: Option<u32>,
}

pub struct GptqTask {
    weights: Buffer,
    dtype: Dtype,
    rows: usize,
    cols: usize,
    hessian: Float32Array,
    spec: Scheme,
    options: arrowquant_kernels::gptq::GptqOptions,
    error: Option<KernelError>,
}

#[napi]
impl Task for GptqTask {
    type Output = arrowquant_kernels::Quantized;
    type JsValue = QuantizedChunk;

    fn compute(&mut self) -> Result<Self::Output> {
        let run = || {
            let elements = Elements::new(&self.weights, self.dtype)?;
            let src = elements.source();
            let mut scratch = Vec::new();
            let w = src.segment_f32(0, src.len(), &mut scratch).to_vec();
            arrowquant_kernels::gptq::gptq(
                &self.spec,
                &w,
                self.rows,
                self.cols,
                &self.hessian,
                &self.options,
            )
        };
        run().map_err(|e| hold(&mut self.error, e))
    }

    fn resolve(&mut self, _env: Env, q: Self::Output) -> Result<Self::JsValue> {
        Ok(q.into())
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<Self::JsValue> {
        Err(held(&mut self.error, env, err))
    }
}

/// GPTQ a `[rows, cols]` weight (raw `dtype` bytes) with the layer's input Hessian `[cols, cols]`
/// onto the grid `format` (`{name: "rtn", bits, groupSize, symmetric}`, `hqq`, `r2q`); the result
/// decodes as that scheme.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn gptq_quantize(
    env: Env,
    weights: Buffer,
    dtype: String,
    rows: u32,
    cols: u32,
    hessian: Float32Array,
    format: FormatSpec,
    options: Option<GptqOptionsJs>,
) -> Result<AsyncTask<GptqTask>> {
    let dtype = Dtype::parse(&dtype).map_err(|e| sync_error(&env, e))?;
    let spec = format.to_scheme().map_err(|e| sync_error(&env, e))?;
    if !spec.info().gptq_target {
        let allowed = "a format whose registry entry is a GPTQ target (docs/FORMAT.md)";
        return Err(sync_error(&env, KernelError::InvalidParameter { field: "format", value: spec.name(), allowed }));
    }
    let o = options.unwrap_or_default();
    let act_order = o.act_order.unwrap_or(false);
    let options = arrowquant_kernels::gptq::GptqOptions {
        damp: o.damp.unwrap_or(0.01),
        act_order,
        static_groups: act_order,
        threads: o.threads.unwrap_or(0) as usize,
    };
    Ok(AsyncTask::new(GptqTask {
        weights,
        dtype,
        rows: rows as usize,
        cols: cols as usize,
        hessian,
        spec,
        options,
        error: None,
    }))
}
