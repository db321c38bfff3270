//! Calibrated layers: a layer's Hessian (factored once, lazily, on a worker thread, then shared
//! by all of its row chunks; read a block at a time, from the calibration file or held bytes),
//! its spatial-smoothing factors, and the α search. Conversions only; the logic is
//! `arrowquant_kernels::{gptq, layer, smoothing}`.

use std::sync::{Arc, OnceLock};

use arrowquant_kernels::gptq::{prepare_smoothed, GptqOptions, Prepared};
use arrowquant_kernels::hessian::diagonal;
use arrowquant_kernels::layer::{quantize_layer_chunk, LayerCalibration as KernelLayer, LayerChunk, OutputMeasure};
use arrowquant_kernels::layer_output::stride_for;
use arrowquant_kernels::smoothing::SmoothingSearch as KernelSearch;
use arrowquant_kernels::{KernelError, Scheme};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{Dtype, Elements, FormatSpec, KernelOptions};
use crate::hessian::{Hessian, SharedHessian};
use crate::source::SourceChunk;
use crate::tasks::{held, hold, sync_error, GptqOptionsJs, QuantizedChunk};

struct Shared {
    cols: usize,
    /// The Hessian GPTQ factors (once, lazily), dropped once factored.
    hessian: std::sync::Mutex<Option<SharedHessian>>,
    channel_scales: Option<Vec<f32>>,
    gptq: GptqOptions,
    prepared: OnceLock<std::result::Result<Prepared, KernelError>>,
    /// Per-column importance for the formats that weigh their search by it (without GPTQ).
    importance: Option<Vec<f32>>,
    /// The Hessian kept for the layer-output figures and the measuring stride; `None`: weight
    /// figures only.
    output: Option<(SharedHessian, usize)>,
}

impl Shared {
    fn output(&self) -> Option<OutputMeasure<'_>> {
        self.output.as_ref().map(|(h, stride)| OutputMeasure { hessian: h.as_ref(), stride: *stride })
    }

    fn prepared(&self) -> std::result::Result<Option<&Prepared>, KernelError> {
        let has_hessian = self.prepared.get().is_some()
            || self.hessian.lock().map(|h| h.is_some()).unwrap_or(false);
        if !has_hessian {
            return Ok(None);
        }
        let r = self.prepared.get_or_init(|| {
            let h = self.hessian.lock().ok().and_then(|mut h| h.take()).ok_or(KernelError::InvalidParameter {
                field: "hessian",
                value: "released".into(),
                allowed: "a Hessian still held",
            })?;
            prepare_smoothed(h.as_ref(), self.channel_scales.as_deref(), &self.gptq)
        });
        r.as_ref().map(Some).map_err(Clone::clone)
    }
}

/// The diagonal of a layer's Hessian: the per-column mean x² the GGUF formats weigh their
/// search by, the statistic llama.cpp's imatrix collects. Only `cols` values are read.
#[napi]
pub fn hessian_diagonal(env: Env, hessian: &Hessian) -> Result<Float32Array> {
    diagonal(hessian.source()?.as_ref()).map(Float32Array::new).map_err(|e| sync_error(&env, e))
}

/// One layer's calibration as the kernels use it: create once per tensor, pass to every
/// `quantizeLayerChunk` of the tensor.
#[napi]
pub struct LayerCalibration {
    /// `None` once released; tasks already running keep their own reference.
    shared: std::sync::Mutex<Option<Arc<Shared>>>,
}

impl LayerCalibration {
    fn get(&self) -> Result<Arc<Shared>> {
        self.shared
            .lock()
            .map_err(|_| Error::from_reason("poisoned"))?
            .clone()
            .ok_or_else(|| Error::from_reason("layer calibration already released"))
    }
}

#[napi]
impl LayerCalibration {
    /// `hessian`: the layer's `[cols, cols]` f32 Hessian (a `Hessian`: in the calibration file,
    /// or bytes held), or null. GPTQ runs when `hessian` and `gptq` are both
    /// given. `measureRows`: the tensor's row count, to measure each chunk's layer-output figures
    /// with `hessian` (which may then come without `gptq`). `channelScales`: smoothing factors
    /// `s` (`cols` values) or null. `importance`: per-column importance of the layer's inputs
    /// (llama.cpp's imatrix, or `hessianDiagonal`: mean x² per column) for the formats that weigh
    /// their search by it, where no GPTQ runs; with smoothing it is divided by s² here, as the
    /// inputs the codes see are x / s.
    #[napi(factory)]
    pub fn create(
        env: Env,
        cols: u32,
        hessian: Option<&Hessian>,
        channel_scales: Option<Float32Array>,
        gptq: Option<GptqOptionsJs>,
        importance: Option<Float32Array>,
        measure_rows: Option<u32>,
    ) -> Result<Self> {
        let run_gptq = gptq.is_some();
        let g = gptq.unwrap_or_default();
        let act_order = g.act_order.unwrap_or(false);
        let opts = GptqOptions {
            damp: g.damp.unwrap_or(0.01),
            act_order,
            static_groups: act_order,
            threads: 0,
        };
        let cols = cols as usize;
        if let Some(s) = &channel_scales {
            if s.len() != cols {
                return Err(sync_error(
                    &env,
                    KernelError::BufferSize {
                        what: "channel scales",
                        expected: cols,
                        actual: s.len(),
                    },
                ));
            }
            if let Some(bad) = s.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(sync_error(
                    &env,
                    KernelError::InvalidParameter {
                        field: "channel scales",
                        value: format!("{} at channel {bad}", s[bad]),
                        allowed: "finite values > 0",
                    },
                ));
            }
        }
        let hessian = hessian.map(Hessian::source).transpose()?;
        if let Some(h) = &hessian {
            if h.cols() != cols {
                return Err(sync_error(&env, KernelError::BufferSize { what: "hessian columns", expected: cols, actual: h.cols() }));
            }
        }
        let output = match (measure_rows, &hessian) {
            (Some(rows), Some(h)) => Some((h.clone(), stride_for(rows as usize))),
            (Some(_), None) => {
                return Err(sync_error(&env, KernelError::InvalidParameter { field: "measureRows", value: "set without a Hessian".into(), allowed: "a Hessian to measure with" }));
            }
            _ => None,
        };
        let hessian = if run_gptq { hessian } else { None };
        let mut importance = importance.map(|v| v.to_vec());
        if let Some(imp) = &mut importance {
            arrowquant_kernels::check_importance(imp, cols).map_err(|e| sync_error(&env, e))?;
            if let Some(s) = &channel_scales {
                imp.iter_mut().zip(s.iter()).for_each(|(v, s)| *v /= s * s);
            }
        }
        let shared = Shared {
            cols,
            hessian: std::sync::Mutex::new(hessian),
            channel_scales: channel_scales.map(|s| s.to_vec()),
            gptq: opts,
            prepared: OnceLock::new(),
            importance,
            output,
        };
        Ok(LayerCalibration {
            shared: std::sync::Mutex::new(Some(Arc::new(shared))),
        })
    }

    /// Free the Hessian and its factorisation now rather than at the next GC (idempotent).
    #[napi]
    pub fn release(&self) {
        if let Ok(mut s) = self.shared.lock() {
            s.take();
        }
    }
}

pub struct LayerChunkTask {
    data: Arc<arrowquant_source::PooledBuf>,
    dtype: Dtype,
    rows: usize,
    cols: usize,
    scheme: Scheme,
    layer: Arc<Shared>,
    options: arrowquant_kernels::RunOptions,
    error: Option<KernelError>,
}

#[napi]
impl Task for LayerChunkTask {
    type Output = LayerChunk;
    type JsValue = QuantizedChunk;

    fn compute(&mut self) -> Result<Self::Output> {
        let run = || {
            if self.layer.cols != self.cols {
                return Err(KernelError::BufferSize {
                    what: "calibration columns",
                    expected: self.cols,
                    actual: self.layer.cols,
                });
            }
            let elements = Elements::new(&self.data, self.dtype)?;
            let calib = KernelLayer {
                hessian: self.layer.prepared()?,
                channel_scales: self.layer.channel_scales.as_deref(),
                gptq: self.layer.gptq,
                importance: self.layer.importance.as_deref(),
                output: self.layer.output(),
            };
            quantize_layer_chunk(
                &self.scheme,
                elements.source(),
                self.rows,
                self.cols,
                &calib,
                &self.options,
            )
        };
        run().map_err(|e| hold(&mut self.error, e))
    }

    fn resolve(&mut self, _env: Env, c: Self::Output) -> Result<Self::JsValue> {
        Ok(QuantizedChunk::from(c.quantized).with_output(c.output))
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<Self::JsValue> {
        Err(held(&mut self.error, env, err))
    }
}

/// Quantize a row chunk of a calibrated layer (GPTQ when the layer has a Hessian; smoothed when
/// it has channel scales). The result stays in Rust, like `quantizeChunk`'s.
#[napi]
pub fn quantize_layer_chunk_task(
    env: Env,
    chunk: &SourceChunk,
    dtype: String,
    rows: u32,
    cols: u32,
    format: FormatSpec,
    layer: &LayerCalibration,
    options: Option<KernelOptions>,
) -> Result<AsyncTask<LayerChunkTask>> {
    let dtype = Dtype::parse(&dtype).map_err(|e| sync_error(&env, e))?;
    let scheme = format.to_scheme().map_err(|e| sync_error(&env, e))?;
    let options = options
        .unwrap_or_default()
        .to_run_options()
        .map_err(|e| sync_error(&env, e))?;
    Ok(AsyncTask::new(LayerChunkTask {
        data: chunk.shared()?,
        dtype,
        rows: rows as usize,
        cols: cols as usize,
        scheme,
        layer: layer.get()?,
        options,
        error: None,
    }))
}

#[napi(object)]
pub struct SmoothingChoiceJs {
    /// The α chosen, or null when smoothing did not lower the estimated error.
    pub alpha: Option<f64>,
    pub scales: Float32Array,
    pub error_unsmoothed: f64,
    pub error_chosen: f64,
}

/// Spatial-smoothing α search over one pass of a tensor's row chunks (in order).
#[napi]
pub struct SmoothingSearch {
    inner: KernelSearch,
}

#[napi]
impl SmoothingSearch {
    #[napi(constructor)]
    pub fn new(rows: u32, cols: u32) -> Self {
        SmoothingSearch {
            inner: KernelSearch::new(rows as usize, cols as usize),
        }
    }

    #[napi]
    pub fn add_chunk(
        &mut self,
        env: Env,
        chunk: &SourceChunk,
        dtype: String,
        row_start: u32,
        rows: u32,
    ) -> Result<()> {
        let dtype = Dtype::parse(&dtype).map_err(|e| sync_error(&env, e))?;
        let data = chunk.shared()?;
        let elements = Elements::new(&data, dtype).map_err(|e| sync_error(&env, e))?;
        self.inner
            .add_rows(elements.source(), row_start as usize, rows as usize)
            .map_err(|e| sync_error(&env, e))
    }

    /// `actAbsmax[j]` = max |x_j| over the calibration; `hessian`: the layer's `[cols, cols]` f32
    /// Hessian (only its diagonal is used), or null to use `actAbsmax²` in its place.
    #[napi]
    pub fn finish(
        &self,
        env: Env,
        format: FormatSpec,
        act_absmax: Float32Array,
        hessian: Option<&Hessian>,
        options: Option<KernelOptions>,
    ) -> Result<SmoothingChoiceJs> {
        let scheme = format.to_scheme().map_err(|e| sync_error(&env, e))?;
        let opts = options
            .unwrap_or_default()
            .to_run_options()
            .map_err(|e| sync_error(&env, e))?;
        let cols = act_absmax.len();
        let diag: Vec<f32> = match hessian {
            Some(h) => {
                let h = h.source()?;
                if h.cols() != cols {
                    return Err(sync_error(&env, KernelError::BufferSize { what: "hessian columns", expected: cols, actual: h.cols() }));
                }
                diagonal(h.as_ref()).map_err(|e| sync_error(&env, e))?
            }
            None => act_absmax.iter().map(|a| a * a).collect(),
        };
        let c = self
            .inner
            .finish(&scheme, &act_absmax, &diag, &opts)
            .map_err(|e| sync_error(&env, e))?;
        Ok(SmoothingChoiceJs {
            alpha: c.alpha.map(f64::from),
            scales: Float32Array::new(c.scales),
            error_unsmoothed: c.error_unsmoothed,
            error_chosen: c.error_chosen,
        })
    }
}
