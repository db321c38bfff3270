//! JS-facing data structs and their conversions to kernel types.

use arrowquant_kernels::formats::MethodParams;
use arrowquant_kernels::{Isa, KernelError, Quality, QualityAcc, RunOptions, Scheme};
use half::{bf16, f16};
use napi_derive::napi;

/// Which format, as the config and CLI name it.
#[napi(object)]
#[derive(Clone)]
pub struct FormatSpec {
    /// A canonical name (`rtn_int4_g128_asym`, `q4_0`), or a config method of the format
    /// registry (`rtn`, `rtn_sym`, `hqq`, `nf4`, ...) with `bits`, `groupSize`, `symmetric`.
    pub name: String,
    pub bits: Option<u32>,
    pub group_size: Option<u32>,
    pub symmetric: Option<bool>,
}

#[napi(object)]
#[derive(Clone, Default)]
pub struct KernelOptions {
    /// 0 = all cores (default 1).
    pub threads: Option<u32>,
    /// Force an ISA ("scalar", "avx2", "avx512", "neon"); default: the best available.
    pub isa: Option<String>,
}

#[napi(object)]
pub struct QualityFigures {
    pub elements: f64,
    pub cosine: f64,
    pub rel_mse: f64,
    pub sqnr_db: f64,
    pub max_abs_err: f64,
    /// The sums behind the figures (Σx², Σy², Σxy, Σ(x−y)²), so a tensor's chunks can be merged.
    pub sum_xx: f64,
    pub sum_yy: f64,
    pub sum_xy: f64,
    pub sum_ee: f64,
}

/// A chunk's layer-output sums (`arrowquant_kernels::layer_output`): `rows` measured rows,
/// Σ wHwᵀ, Σ wHeᵀ, Σ eHeᵀ with e = w − ŵ, and the chunk's own cosine from them.
#[napi(object)]
pub struct LayerOutputFigures {
    pub rows: f64,
    pub cosine: f64,
    pub sum_ww: f64,
    pub sum_we: f64,
    pub sum_ee: f64,
}

impl From<arrowquant_kernels::layer_output::OutputAcc> for LayerOutputFigures {
    fn from(a: arrowquant_kernels::layer_output::OutputAcc) -> Self {
        LayerOutputFigures { rows: a.rows as f64, cosine: a.cosine(), sum_ww: a.sum_ww, sum_we: a.sum_we, sum_ee: a.sum_ee }
    }
}

impl From<QualityAcc> for QualityFigures {
    fn from(acc: QualityAcc) -> Self {
        let q: Quality = acc.finish();
        QualityFigures {
            elements: q.elements as f64,
            cosine: q.cosine,
            rel_mse: q.rel_mse,
            sqnr_db: q.sqnr_db,
            max_abs_err: q.max_abs_err,
            sum_xx: acc.sum_xx,
            sum_yy: acc.sum_yy,
            sum_xy: acc.sum_xy,
            sum_ee: acc.sum_ee,
        }
    }
}

impl FormatSpec {
    /// A config method (`rtn`, `hqq`) with the given parameters (defaults: 4 bits, groups of 128,
    /// asymmetric), or a canonical name as files store it (`rtn_int4_g128_asym`, `q4_0`).
    pub fn to_scheme(&self) -> Result<Scheme, KernelError> {
        let params = MethodParams {
            bits: self.bits.unwrap_or(4),
            group: self.group_size.unwrap_or(128) as usize,
            symmetric: self.symmetric.unwrap_or(false),
        };
        Scheme::resolve(&self.name, &params)
    }
}

impl KernelOptions {
    pub fn to_run_options(&self) -> Result<RunOptions, KernelError> {
        let isa = match &self.isa {
            None => None,
            Some(name) => Some(
                Isa::parse(name).ok_or_else(|| KernelError::InvalidParameter {
                    field: "isa",
                    value: name.clone(),
                    allowed: Isa::names(),
                })?,
            ),
        };
        Ok(RunOptions {
            threads: self.threads.unwrap_or(1) as usize,
            isa,
        })
    }
}

/// Source dtype of raw tensor bytes.
#[derive(Clone, Copy)]
pub enum Dtype {
    F32,
    F16,
    Bf16,
}

impl Dtype {
    pub fn parse(s: &str) -> Result<Dtype, KernelError> {
        match s {
            "F32" | "f32" | "float32" => Ok(Dtype::F32),
            "F16" | "f16" | "float16" => Ok(Dtype::F16),
            "BF16" | "bf16" | "bfloat16" => Ok(Dtype::Bf16),
            other => Err(KernelError::InvalidParameter {
                field: "dtype",
                value: other.to_string(),
                allowed: "F32, F16 or BF16",
            }),
        }
    }

    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::Bf16 => 2,
        }
    }
}

/// Raw little-endian bytes viewed as typed elements: borrowed when the bytes are aligned (the
/// usual case for Node buffers), copied once into an aligned vector otherwise.
pub enum Elements<'a> {
    F32(std::borrow::Cow<'a, [f32]>),
    F16(std::borrow::Cow<'a, [f16]>),
    Bf16(std::borrow::Cow<'a, [bf16]>),
}

fn view<T: bytemuck::Pod>(bytes: &[u8]) -> std::borrow::Cow<'_, [T]> {
    match bytemuck::try_cast_slice(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(
            bytes
                .chunks_exact(size_of::<T>())
                .map(bytemuck::pod_read_unaligned)
                .collect(),
        ),
    }
}

impl<'a> Elements<'a> {
    pub fn new(bytes: &'a [u8], dtype: Dtype) -> Result<Self, KernelError> {
        if !bytes.len().is_multiple_of(dtype.size()) {
            return Err(KernelError::BufferSize {
                what: "input bytes",
                expected: bytes.len() / dtype.size() * dtype.size(),
                actual: bytes.len(),
            });
        }
        Ok(match dtype {
            Dtype::F32 => Elements::F32(view(bytes)),
            Dtype::F16 => Elements::F16(view(bytes)),
            Dtype::Bf16 => Elements::Bf16(view(bytes)),
        })
    }

    pub fn source(&self) -> arrowquant_kernels::Source<'_> {
        use arrowquant_kernels::Source;
        match self {
            Elements::F32(v) => Source::F32(v),
            Elements::F16(v) => Source::F16(v),
            Elements::Bf16(v) => Source::Bf16(v),
        }
    }
}
