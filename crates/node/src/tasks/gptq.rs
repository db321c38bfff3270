//! `gptqQuantize`: GPTQ onto a registry format that declares itself a GPTQ target.

use arrowquant_kernels::{KernelError, Scheme};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::{held, hold, sync_error, QuantizedChunk};
use crate::convert::{Dtype, Elements, FormatSpec};

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
        return Err(sync_error(
            &env,
            KernelError::InvalidParameter {
                field: "format",
                value: spec.name(),
                allowed,
            },
        ));
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
