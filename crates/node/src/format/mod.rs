//! The Parquet file: a writer class and a reader class over `arrowquant-format`. Rows cross as
//! plain objects; blocking file work runs as `AsyncTask`s. The row structs are in `rows`, the
//! writer in `sink`, the reader in `reader`; the error plumbing both share is here.

use arrowquant_format::{FormatError, Payload};
use napi::bindgen_prelude::*;

mod reader;
mod rows;
mod sink;

// The napi classes and objects are exported by their `#[napi]` attributes; these are for the
// sibling modules.
use rows::{ChunkRowJs, IndexRowJs, TimeGroupJs};

/// A failed file operation: kept until `reject`, where the typed JS error is built.
#[derive(Default)]
pub struct Pending(Option<FormatError>);

impl Pending {
    pub(crate) fn hold(&mut self, e: FormatError) -> Error {
        self.0 = Some(e);
        crate::error::pending()
    }

    pub(crate) fn reject(&mut self, env: Env, err: Error) -> Error {
        self.0
            .take()
            .map_or(err, |e| crate::error::format_to_js(env, &e))
    }
}

/// The bytes of a payload as a Vec (moved when the payload owns its Vec, as the reader's do).
pub(crate) fn payload_vec(p: Payload) -> Vec<u8> {
    p.into_vec::<u8>()
        .unwrap_or_else(|shared| shared.as_slice().to_vec())
}

/// For synchronous calls.
pub(crate) fn sync_js(env: &Env, e: FormatError) -> Error {
    crate::error::format_to_js(*env, &e)
}

pub(crate) fn u64_of(v: f64, field: &str) -> Result<u64> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9007199254740991.0 {
        Ok(v as u64)
    } else {
        Err(Error::new(
            Status::InvalidArg,
            format!("{field} must be a non-negative integer, got {v}"),
        ))
    }
}
