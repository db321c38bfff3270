//! The async exports: each validates its arguments on the JS thread, runs the kernel on a worker
//! thread with the input buffer borrowed (not copied), and hands the output vectors to JS
//! without copying. One file per export family; the error plumbing every task shares is here.

use arrowquant_kernels::KernelError;
use napi::bindgen_prelude::*;

use crate::error;

mod chunk;
mod compare;
mod dequantize;
mod gptq;
mod payload;
mod quantize;

pub use chunk::QuantizedChunk;
pub use compare::compare_quality;
pub use dequantize::dequantize;
pub use gptq::{gptq_quantize, GptqOptionsJs};
pub use payload::payload_size;
pub use quantize::{quantize, quantize_chunk};

/// Keep the typed error for `reject` (which has the `Env` to build it) and fail the task.
pub(crate) fn hold(slot: &mut Option<KernelError>, e: KernelError) -> Error {
    *slot = Some(e);
    error::pending()
}

/// In `reject`: the typed JS error for what `hold` kept, else the error as it came.
pub(crate) fn held(slot: &mut Option<KernelError>, env: Env, err: Error) -> Error {
    slot.take().map_or(err, |e| error::to_js(env, &e))
}

pub(crate) fn sync_error(env: &Env, e: KernelError) -> Error {
    error::to_js(*env, &e)
}
