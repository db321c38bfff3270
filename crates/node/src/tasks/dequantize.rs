//! `dequantize`: a stored payload back to f32 values.

use arrowquant_kernels::{dequantize as dequantize_kernel, KernelError, Scheme};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::{held, hold, sync_error};
use crate::convert::FormatSpec;

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
