//! The formats ArrowQuant writes. Each file holds one format: its block layout, formula and bits
//! per weight in the module comment, a scalar reference quantizer (`quantize_row_ref`) and a
//! dequantizer. SIMD variants live in `crate::simd` and are tested equal to these references.

pub mod codec;
pub mod fp8;
pub mod hqq;
pub mod int8_channel;
pub mod nf4;
pub mod q4_0;
pub mod q8_0;
pub mod r2q;
pub mod rtn;

use crate::error::{KernelError, Result};
pub use codec::GroupCodec;
pub use fp8::Fp8Kind;
pub use hqq::HqqSpec;
pub use r2q::R2qSpec;
pub use rtn::RtnSpec;

/// A quantization format with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Rtn(RtnSpec),
    Int8PerChannel,
    Nf4,
    Fp8 { kind: Fp8Kind, per_channel: bool },
    Q8_0,
    Q4_0,
    Hqq(HqqSpec),
    R2q(R2qSpec),
}

/// Sizes of a quantized `[rows, cols]` tensor's buffers. Every format stores the same number of
/// code bytes, scales and zero-points per row, so work can be split at any row boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub rows: usize,
    pub cols: usize,
    pub row_code_bytes: usize,
    pub row_scales: usize,
    pub row_zeros: usize,
    /// Scales stored once for the whole tensor (FP8 per-tensor), after the per-row ones.
    pub tensor_scales: usize,
}

impl Layout {
    pub fn code_bytes(&self) -> usize {
        self.rows * self.row_code_bytes
    }
    pub fn scales(&self) -> usize {
        self.rows * self.row_scales + self.tensor_scales
    }
    pub fn zeros(&self) -> usize {
        self.rows * self.row_zeros
    }
    /// Storage bits per weight (codes, scales as f32, zero-points as u8).
    pub fn bits_per_weight(&self) -> f64 {
        let bytes = self.code_bytes() + 4 * self.scales() + self.zeros();
        8.0 * bytes as f64 / (self.rows * self.cols).max(1) as f64
    }
}

impl Scheme {
    /// Parse a format name as the CLI and config spell it: `rtn` needs `bits`/`group`/`symmetric`,
    /// `hqq` `bits`/`group`, `r2q` `group`;
    /// the others are fixed (`int8_channel`, `nf4`, `fp8_e4m3`, `fp8_e5m2` (+`_channel`), `q8_0`, `q4_0`).
    pub fn parse(name: &str, bits: u32, group: usize, symmetric: bool) -> Result<Scheme> {
        Ok(match name {
            "rtn" => Scheme::Rtn(RtnSpec::new(bits, group, symmetric)?),
            "int8_channel" => Scheme::Int8PerChannel,
            "nf4" => Scheme::Nf4,
            "fp8_e4m3" => Scheme::Fp8 { kind: Fp8Kind::E4M3, per_channel: false },
            "fp8_e4m3_channel" => Scheme::Fp8 { kind: Fp8Kind::E4M3, per_channel: true },
            "fp8_e5m2" => Scheme::Fp8 { kind: Fp8Kind::E5M2, per_channel: false },
            "fp8_e5m2_channel" => Scheme::Fp8 { kind: Fp8Kind::E5M2, per_channel: true },
            "q8_0" => Scheme::Q8_0,
            "q4_0" => Scheme::Q4_0,
            "hqq" => Scheme::Hqq(HqqSpec::new(bits, group)?),
            "r2q" => Scheme::R2q(R2qSpec::new(group)?),
            other => {
                return Err(KernelError::InvalidParameter {
                    field: "format",
                    value: other.to_string(),
                    allowed: "rtn, hqq, r2q, int8_channel, nf4, fp8_e4m3[_channel], fp8_e5m2[_channel], q8_0, q4_0",
                })
            }
        })
    }

    /// Canonical name, e.g. `rtn_int4_g128_asym`, `q4_0`, `fp8_e4m3_channel`.
    /// The inverse of [`Scheme::name`]: parse a canonical name as stored in files
    /// (`rtn_int4_g128_asym`, `q4_0`, `fp8_e4m3_channel`, ...).
    pub fn from_name(name: &str) -> Result<Scheme> {
        if let Some(rest) = name.strip_prefix("rtn_int") {
            let parts: Vec<&str> = rest.split('_').collect();
            if let [bits, group, sym] = parts[..] {
                let bits = bits.parse::<u32>().ok();
                let group = group.strip_prefix('g').and_then(|g| g.parse::<usize>().ok());
                let symmetric = match sym {
                    "sym" => Some(true),
                    "asym" => Some(false),
                    _ => None,
                };
                if let (Some(bits), Some(group), Some(symmetric)) = (bits, group, symmetric) {
                    return Ok(Scheme::Rtn(RtnSpec::new(bits, group, symmetric)?));
                }
            }
            return Err(KernelError::InvalidParameter {
                field: "scheme",
                value: name.to_string(),
                allowed: "rtn_int<bits>_g<group>_<sym|asym>",
            });
        }
        let grouped = |prefix: &str| -> Option<(u32, usize)> {
            let rest = name.strip_prefix(prefix)?;
            let (bits, group) = rest.split_once("_g")?;
            Some((if bits.is_empty() { 2 } else { bits.parse().ok()? }, group.parse().ok()?))
        };
        if name.starts_with("hqq_int") || name.starts_with("r2q_") {
            return match (grouped("hqq_int"), grouped("r2q")) {
                (Some((bits, group)), _) => Ok(Scheme::Hqq(HqqSpec::new(bits, group)?)),
                (_, Some((_, group))) => Ok(Scheme::R2q(R2qSpec::new(group)?)),
                _ => Err(KernelError::InvalidParameter { field: "scheme", value: name.to_string(), allowed: "hqq_int<bits>_g<group> or r2q_g<group>" }),
            };
        }
        Scheme::parse(name, 0, 0, false)
    }

    pub fn name(&self) -> String {
        match self {
            Scheme::Rtn(s) => {
                format!("rtn_int{}_g{}_{}", s.bits, s.group, if s.symmetric { "sym" } else { "asym" })
            }
            Scheme::Int8PerChannel => "int8_channel".into(),
            Scheme::Nf4 => "nf4".into(),
            Scheme::Fp8 { kind, per_channel } => format!(
                "fp8_{}{}",
                if *kind == Fp8Kind::E4M3 { "e4m3" } else { "e5m2" },
                if *per_channel { "_channel" } else { "" }
            ),
            Scheme::Q8_0 => "q8_0".into(),
            Scheme::Q4_0 => "q4_0".into(),
            Scheme::Hqq(s) => format!("hqq_int{}_g{}", s.bits, s.group),
            Scheme::R2q(s) => format!("r2q_g{}", s.group),
        }
    }

    /// Nominal code bits (what the fallback ladder and reports speak of).
    pub fn bits(&self) -> u32 {
        match self {
            Scheme::Rtn(s) => s.bits,
            Scheme::Nf4 | Scheme::Q4_0 => 4,
            Scheme::Int8PerChannel | Scheme::Fp8 { .. } | Scheme::Q8_0 => 8,
            Scheme::Hqq(s) => s.bits,
            Scheme::R2q(_) => 2,
        }
    }

    pub fn layout(&self, rows: usize, cols: usize) -> Result<Layout> {
        let l = |row_code_bytes, row_scales, row_zeros, tensor_scales| Layout {
            rows,
            cols,
            row_code_bytes,
            row_scales,
            row_zeros,
            tensor_scales,
        };
        Ok(match self {
            Scheme::Rtn(s) => {
                let g = s.groups_per_row(cols);
                l(s.row_code_bytes(cols), g, if s.symmetric { 0 } else { g }, 0)
            }
            Scheme::Hqq(s) => l(s.row_code_bytes(cols), 2 * s.groups_per_row(cols), 0, 0),
            Scheme::R2q(s) => l(s.row_code_bytes(cols), 2 * s.groups_per_row(cols), 0, 0),
            Scheme::Int8PerChannel => l(cols, 1, 0, 0),
            Scheme::Nf4 => l(nf4::row_code_bytes(cols), cols.div_ceil(nf4::BLOCK), 0, 0),
            Scheme::Fp8 { per_channel: true, .. } => l(cols, 1, 0, 0),
            Scheme::Fp8 { per_channel: false, .. } => l(cols, 0, 0, 1),
            Scheme::Q8_0 | Scheme::Q4_0 => {
                if !cols.is_multiple_of(32) {
                    return Err(KernelError::RowLength { format: if *self == Scheme::Q8_0 { "q8_0" } else { "q4_0" }, multiple: 32, cols });
                }
                let block_bytes = if *self == Scheme::Q8_0 { q8_0::BLOCK_BYTES } else { q4_0::BLOCK_BYTES };
                l(cols / 32 * block_bytes, 0, 0, 0)
            }
        })
    }
}
