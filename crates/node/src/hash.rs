//! BLAKE3 of source files, fed the bytes the pipeline reads anyway (no second pass over the
//! model). BLAKE3 rather than SHA-256: on the machines we measured, Node's SHA-256 runs at
//! ~1.5 GB/s on the JS thread, which alone would double a quantization job; BLAKE3 is several
//! times faster and `b3sum` (Debian package `b3sum`) lets users check the figure.

use napi_derive::napi;

#[napi]
pub struct Blake3Hasher(blake3::Hasher);

#[napi]
impl Blake3Hasher {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Blake3Hasher(blake3::Hasher::new())
    }

    #[napi]
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Hex digest of everything fed so far.
    #[napi]
    pub fn hex(&self) -> String {
        self.0.finalize().to_hex().to_string()
    }
}
