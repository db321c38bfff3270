//! Kernel errors become JS `Error`s with `code = "ArrowQuantKernelError"`, `kind` (the variant
//! name) and the variant's fields (`index`, `row`, `col`, `field`, ...), so the TypeScript side
//! can build typed errors without parsing messages.

use arrowquant_kernels::KernelError;
use napi::{Env, Error, JsValue, Status};

pub const CODE: &str = "ArrowQuantKernelError";

/// Build the rejection value for `e`.
pub fn to_js(env: Env, e: &KernelError) -> Error {
    match build(env, e) {
        Ok(err) => err,
        Err(fallback) => fallback,
    }
}

fn build(env: Env, e: &KernelError) -> napi::Result<Error> {
    let js = napi::JsError::from(Error::new(CODE, e.to_string())).into_unknown(env);
    let mut obj = js.coerce_to_object()?;
    obj.set("kind", e.kind())?;
    match e {
        KernelError::NonFinite {
            index,
            row,
            col,
            value,
        } => {
            obj.set("index", *index as f64)?;
            obj.set("row", *row as f64)?;
            obj.set("col", *col as f64)?;
            obj.set("value", *value as f64)?;
        }
        KernelError::ShapeMismatch {
            expected, actual, ..
        }
        | KernelError::BufferSize {
            expected, actual, ..
        } => {
            obj.set("expected", *expected as f64)?;
            obj.set("actual", *actual as f64)?;
        }
        KernelError::InvalidParameter { field, value, .. } => {
            obj.set("field", *field)?;
            obj.set("value", value.as_str())?;
        }
        KernelError::RowLength { cols, multiple, .. } => {
            obj.set("cols", *cols as f64)?;
            obj.set("multiple", *multiple as f64)?;
        }
        KernelError::NotPositiveDefinite { column } => {
            obj.set("column", *column as f64)?;
        }
        KernelError::Read(_) | KernelError::ThreadPool(_) => {}
    }
    Ok(Error::from(obj.to_unknown()))
}

/// Placeholder carried from `compute` to `reject`, where the typed error is built.
pub fn pending() -> Error {
    Error::new(Status::GenericFailure, "arrowquant kernel error")
}

pub const FORMAT_CODE: &str = "ArrowQuantFormatError";

/// File errors: `code = "ArrowQuantFormatError"`, `kind` (variant) and `path` when there is one.
pub fn format_to_js(env: Env, e: &arrowquant_format::FormatError) -> Error {
    let build = || -> napi::Result<Error> {
        let js = napi::JsError::from(Error::new(FORMAT_CODE, e.to_string())).into_unknown(env);
        let mut obj = js.coerce_to_object()?;
        obj.set("kind", e.kind())?;
        use arrowquant_format::FormatError as F;
        if let F::Io { path, .. }
        | F::Parquet { path, .. }
        | F::NotArrowQuant { path, .. }
        | F::Corrupt { path, .. }
        | F::Closed { path } = e
        {
            obj.set("path", path.to_string_lossy().as_ref())?;
        }
        Ok(Error::from(obj.to_unknown()))
    };
    build().unwrap_or_else(|fallback| fallback)
}
