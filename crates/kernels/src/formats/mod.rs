//! The formats ArrowQuant writes, and their registry. Each module holds one format family: its
//! block layout, formula and bits per weight in the module comment, its [`FormatInfo`] (the
//! static facts every consumer reads), a scalar reference quantizer, a dequantizer and its
//! [`Format`] implementation (which picks the SIMD kernel for an ISA). SIMD variants are tested
//! equal to the references.
//!
//! Adding a format: its module, one [`Scheme`] variant, one arm in [`Scheme::format`] and one
//! entry in [`FAMILIES`] (all in this file); `docs/ARCHITECTURE.md` lists the rest.

pub mod codec;
mod format;
pub mod fp8;
pub mod ggml_blocks;
pub mod ggml_search;
pub mod hqq;
pub mod int8_channel;
pub mod nf4;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;
pub mod r2q;
pub mod registry;
pub mod rtn;

use std::sync::OnceLock;

use crate::error::{KernelError, Result};
pub use codec::GroupCodec;
pub use format::{Blocking, Format, FormatInfo, GgufType, MethodParams, RowContext, RowLayout, RowOut};
pub use fp8::{Fp8Kind, Fp8Spec};
pub use hqq::HqqSpec;
pub use r2q::R2qSpec;
pub use rtn::RtnSpec;

/// A concrete format: a family with its parameters bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Rtn(RtnSpec),
    Int8PerChannel,
    Nf4,
    Fp8(Fp8Spec),
    Q8_0,
    Q4_0,
    Hqq(HqqSpec),
    R2q(R2qSpec),
    Q4_1,
    Q5_0,
    Q5_1,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
}

/// Every family, in the order the docs list them.
pub static FAMILIES: &[&FormatInfo] = &[
    &rtn::INFO,
    &hqq::INFO,
    &r2q::INFO,
    &nf4::INFO,
    &fp8::INFO_TENSOR,
    &q4_0::INFO,
    &q8_0::INFO,
    &int8_channel::INFO,
    &fp8::INFO_CHANNEL,
    &q4_1::INFO,
    &q5_0::INFO,
    &q5_1::INFO,
    &q2_k::INFO,
    &q3_k::INFO,
    &q4_k::INFO,
    &q5_k::INFO,
    &q6_k::INFO,
];

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

/// `"a, b or c"` of a list, built once per list and kept for the process (error messages name
/// what is allowed, and `KernelError` holds `&'static str`).
fn listed(cell: &'static OnceLock<String>, items: impl FnOnce() -> Vec<String>) -> &'static str {
    cell.get_or_init(|| {
        let items = items();
        match items.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {}", rest.join(", "), last),
            Some((last, _)) => last.clone(),
            None => String::new(),
        }
    })
}

/// Every config method name the registry knows.
pub fn method_names() -> &'static str {
    static CELL: OnceLock<String> = OnceLock::new();
    listed(&CELL, || FAMILIES.iter().flat_map(|f| f.methods.iter().map(|m| m.to_string())).collect())
}

/// The families GPTQ can target, for error messages.
pub fn gptq_families() -> &'static str {
    static CELL: OnceLock<String> = OnceLock::new();
    listed(&CELL, || FAMILIES.iter().filter(|f| f.gptq_target).map(|f| f.family.to_string()).collect())
}

impl Scheme {
    /// The format behind this scheme.
    pub fn format(&self) -> &dyn Format {
        match self {
            Scheme::Rtn(s) => s,
            Scheme::Int8PerChannel => &int8_channel::Int8Channel,
            Scheme::Nf4 => &nf4::Nf4,
            Scheme::Fp8(s) => s,
            Scheme::Q8_0 => &q8_0::Q8_0,
            Scheme::Q4_0 => &q4_0::Q4_0,
            Scheme::Hqq(s) => s,
            Scheme::R2q(s) => s,
            Scheme::Q4_1 => &q4_1::Q4_1,
            Scheme::Q5_0 => &q5_0::Q5_0,
            Scheme::Q5_1 => &q5_1::Q5_1,
            Scheme::Q2K => &q2_k::Q2K,
            Scheme::Q3K => &q3_k::Q3K,
            Scheme::Q4K => &q4_k::Q4K,
            Scheme::Q5K => &q5_k::Q5K,
            Scheme::Q6K => &q6_k::Q6K,
        }
    }

    pub fn info(&self) -> &'static FormatInfo {
        self.format().info()
    }

    /// A format as a config names it: `method` (`rtn`, `rtn_sym`, `hqq`, `q4_0`, ...) with the
    /// parameters it takes (`bits`, `group`, `symmetric`; ignored by fixed formats).
    pub fn parse(method: &str, bits: u32, group: usize, symmetric: bool) -> Result<Scheme> {
        let family = FAMILIES.iter().find(|f| f.methods.contains(&method)).ok_or_else(|| KernelError::InvalidParameter {
            field: "format",
            value: method.to_string(),
            allowed: method_names(),
        })?;
        (family.from_method)(method, &MethodParams { bits, group, symmetric })
    }

    /// A format as a caller names it: a config method with its parameters (`rtn` with `bits`,
    /// `group`, `symmetric`), or a canonical name, which carries its own (`rtn_int4_g128_asym`).
    pub fn resolve(name: &str, params: &MethodParams) -> Result<Scheme> {
        if let Some(f) = FAMILIES.iter().find(|f| f.methods.contains(&name)) {
            return (f.from_method)(name, params);
        }
        FAMILIES.iter().find_map(|f| (f.parse_name)(name)).unwrap_or_else(|| {
            static CELL: OnceLock<String> = OnceLock::new();
            let allowed = CELL.get_or_init(|| format!("a method ({}) or a canonical name ({})", method_names(), canonical_patterns()));
            Err(KernelError::InvalidParameter { field: "format", value: name.to_string(), allowed })
        })
    }

    /// Every format the registry can build: each family's methods at each of its bit widths and
    /// group sizes (fixed formats once).
    pub fn all() -> Vec<Scheme> {
        let mut out: Vec<Scheme> = Vec::new();
        for f in FAMILIES {
            let groups: &[usize] = match f.blocking {
                Blocking::Groups { sizes } => sizes,
                _ => &[0],
            };
            for method in f.methods {
                for &bits in f.bits {
                    for &group in groups {
                        if let Ok(s) = (f.from_method)(method, &MethodParams { bits, group, symmetric: false }) {
                            if !out.contains(&s) {
                                out.push(s);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The inverse of [`Scheme::name`]: parse a canonical name as stored in files
    /// (`rtn_int4_g128_asym`, `q4_0`, `fp8_e4m3_channel`, ...).
    pub fn from_name(name: &str) -> Result<Scheme> {
        FAMILIES.iter().find_map(|f| (f.parse_name)(name)).unwrap_or_else(|| {
            Err(KernelError::InvalidParameter { field: "scheme", value: name.to_string(), allowed: canonical_patterns() })
        })
    }

    /// Canonical name, e.g. `rtn_int4_g128_asym`, `q4_0`, `fp8_e4m3_channel`.
    pub fn name(&self) -> String {
        self.format().name()
    }

    /// Nominal code bits (what the fallback ladder and reports speak of).
    pub fn bits(&self) -> u32 {
        self.format().bits()
    }

    pub fn layout(&self, rows: usize, cols: usize) -> Result<Layout> {
        let info = self.info();
        if !cols.is_multiple_of(info.row_multiple) {
            return Err(KernelError::RowLength { format: info.family, multiple: info.row_multiple, cols });
        }
        let f = self.format();
        let row = f.row_layout(cols);
        Ok(Layout { rows, cols, row_code_bytes: row.code_bytes, row_scales: row.scales, row_zeros: row.zeros, tensor_scales: f.tensor_scales() })
    }
}

/// Every family's canonical-name pattern, for error messages.
fn canonical_patterns() -> &'static str {
    static CELL: OnceLock<String> = OnceLock::new();
    listed(&CELL, || FAMILIES.iter().map(|f| f.name_pattern.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_a_method_and_unique_names() {
        let mut seen = std::collections::HashSet::new();
        for f in FAMILIES {
            assert!(!f.methods.is_empty(), "{}", f.family);
            for m in f.methods {
                assert!(seen.insert(*m), "method {m} is claimed by two families");
            }
        }
    }

    #[test]
    fn every_format_round_trips_its_name_and_fits_its_family() {
        let all = Scheme::all();
        assert!(all.len() > 40, "{} formats", all.len());
        for s in all {
            assert_eq!(Scheme::from_name(&s.name()).unwrap(), s);
            let info = s.info();
            assert!(info.bits.contains(&s.bits()), "{}", s.name());
            assert!(info.methods.contains(&s.format().method()), "{}", s.name());
            let re_ok = match info.blocking {
                Blocking::Groups { sizes } => sizes.contains(&s.format().group_size()),
                Blocking::Blocks { elements, .. } | Blocking::FixedGroups { elements } => s.format().group_size() == elements,
                Blocking::PerRow | Blocking::PerTensor => s.format().group_size() == 0,
            };
            assert!(re_ok, "{}: group size {}", s.name(), s.format().group_size());
            for rung in s.format().fallback() {
                assert!(rung.bits() > s.bits(), "{} falls back to {} with no more bits", s.name(), rung.name());
            }
        }
    }

    #[test]
    fn unknown_names_list_what_exists() {
        let e = Scheme::parse("int3", 4, 128, false).unwrap_err().to_string();
        assert!(e.contains("rtn") && e.contains("q4_0"), "{e}");
        let e = Scheme::from_name("rtn_int3_g128_asym").unwrap_err().to_string();
        assert!(e.contains("bits"), "{e}");
        let e = Scheme::from_name("q9_9").unwrap_err().to_string();
        assert!(e.contains("rtn_int{bits}"), "{e}");
    }
}
