//! ArrowQuant's quantization kernels: pure Rust, no Node or Python dependencies.
//!
//! - [`formats`]: one module per format, each with its layout, formula, bits per weight, a scalar
//!   reference and a dequantizer.
//! - [`simd`]: AVX2 (x86-64) and NEON (aarch64) kernels, selected at run time.
//! - [`quantize()`]/[`dequantize()`]: whole tensors from f32, f16 or bf16 slices, threaded,
//!   deterministic, with quality metrics computed in the same pass.
//! - [`testdata`]: deterministic synthetic weights with the awkward cases real checkpoints have.

pub mod error;
pub mod formats;
pub mod gptq;
pub mod hessian;
pub mod layer;
pub mod layer_output;
pub mod pack;
pub mod parallel;
pub mod quality;
mod quantize;
pub mod simd;
pub mod smoothing;
pub mod source;
pub mod testdata;

pub use error::{KernelError, Result};
pub use formats::{fp8, hqq, int8_channel, nf4, q4_0, q8_0, r2q, rtn, Format, FormatInfo, Fp8Kind, Fp8Spec, GroupCodec, HqqSpec, Layout, R2qSpec, RtnSpec, Scheme, FAMILIES};
pub use quality::{Quality, QualityAcc};
pub use quantize::{check_importance, compare, dequantize, row_decoder, quantize, quantize_weighted, Quantized, RunOptions};
pub use simd::Isa;
pub use source::Source;
