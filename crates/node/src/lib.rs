//! Node binding for `arrowquant-kernels` and `arrowquant-format`: data structs, conversions and
//! exports only. All logic lives in those crates. Heavy calls run as `AsyncTask`s on libuv's thread pool (and the
//! kernels' own rayon pool), so the JS event loop never blocks on quantization.

/// mimalloc rather than glibc malloc: the pipeline allocates and frees many multi-MiB buffers,
/// which glibc returns to the kernel (munmap) and faults in again each time. With glibc the
/// Parquet writer spent ~45% of its time in page faults and ran at 0.40 GB/s to tmpfs; with
/// mimalloc 0.95 GB/s (crates/format/examples/write_speed.rs). Its purge delay is set to 10 ms
/// where the addon is loaded (common/native.ts): mimalloc 3's default of 1000 ms kept freed chunk
/// buffers resident and made up ~100 MB of a streaming run's peak.
/// Counted (memory.rs), so the native side's peak can be reported.
#[global_allocator]
static GLOBAL: memory::Counted = memory::Counted(mimalloc::MiMalloc);

pub mod calibration;
pub mod memory;
mod convert;
mod error;
mod format;
pub mod hessian;
mod registry;
mod source;
mod tasks;
mod wire;

use arrowquant_kernels::Isa;
use napi_derive::napi;

pub use registry::{describe_format, format_registry};
pub use tasks::{
    compare_quality, dequantize, gptq_quantize, payload_size, quantize, quantize_chunk,
};

#[napi(object)]
pub struct CpuFeatures {
    /// The ISA kernels use by default on this CPU ("avx512", "avx2", "neon" or "scalar").
    pub best: String,
    /// Every ISA this CPU can run, the scalar reference first.
    pub available: Vec<String>,
    pub arch: String,
}

#[napi]
pub fn cpu_features() -> CpuFeatures {
    CpuFeatures {
        best: Isa::best().to_string(),
        available: Isa::available().iter().map(|i| i.to_string()).collect(),
        arch: std::env::consts::ARCH.to_string(),
    }
}
