//! `compareQuality`: the quality figures of a reconstruction against its source bytes (`verify`).

use arrowquant_kernels::KernelError;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::{held, hold, sync_error};
use crate::convert::{Dtype, Elements, KernelOptions, QualityFigures};

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
