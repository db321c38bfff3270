//! `payloadSize`: what a format stores for a tensor shape, from the kernels' layout alone.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::sync_error;
use crate::convert::FormatSpec;

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
