//! What a format is: the static facts the registry declares about a family of formats
//! ([`FormatInfo`]), and the behaviour of one concrete format ([`Format`]). Every consumer — the
//! row quantizer, the dequantizer, GPTQ, the binding, the TypeScript planner, the GGUF exporter,
//! the docs tables and `docs/reference_reader.py` (through `docs/formats.json`) — reads these, so
//! a format is declared once, in its own module.

use crate::error::Result;
use crate::gptq::{GptqOptions, Prepared};
use crate::quantize::Quantized;
use crate::simd::Isa;

use super::Scheme;

/// How a family cuts a row into the units that share parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocking {
    /// Groups of a configurable size along a row (the last one may be shorter).
    Groups { sizes: &'static [usize] },
    /// Fixed blocks of `elements` stored in `bytes` (codes and parameters together, GGUF style).
    Blocks { elements: usize, bytes: usize },
    /// Fixed blocks of `elements` along a row, parameters in the scales buffer (the last one may
    /// be shorter).
    FixedGroups { elements: usize },
    /// One set of parameters per row (output channel).
    PerRow,
    /// One set of parameters for the whole tensor.
    PerTensor,
}

impl Blocking {
    /// The `group_size` a file records for a format with this blocking (0: no groups).
    pub fn group_size(&self, configured: usize) -> usize {
        match *self {
            Blocking::Groups { .. } => configured,
            Blocking::Blocks { elements, .. } | Blocking::FixedGroups { elements } => elements,
            Blocking::PerRow | Blocking::PerTensor => 0,
        }
    }
}

/// A GGUF tensor type (ggml.h's `ggml_type`) and the `general.file_type` (llama.cpp's
/// `llama_ftype`) a file mostly made of it declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GgufType {
    pub name: &'static str,
    pub type_id: u32,
    pub file_type: u32,
}

/// The static facts of one family of formats. Canonical names of a family match `name_regex`
/// (Python `re` syntax, named groups `bits`, `group`, `symmetric`).
#[derive(Debug)]
pub struct FormatInfo {
    /// Family name, as the docs and `docs/formats.json` list it.
    pub family: &'static str,
    /// The config/CLI `method` names that select this family without calibration.
    pub methods: &'static [&'static str],
    /// Canonical names, for humans: `rtn_int{bits}_g{group}_{sym|asym}`, `q4_0`.
    pub name_pattern: &'static str,
    /// Canonical names, for machines (anchored; named groups for the parameters).
    pub name_regex: &'static str,
    /// Code bit widths the family can have.
    pub bits: &'static [u32],
    pub blocking: Blocking,
    /// Row lengths must be a multiple of this (1: any length).
    pub row_multiple: usize,
    /// Where a row's length is not a multiple of `row_multiple`: the format to use instead
    /// (llama.cpp's choice for GGUF, e.g. Q4_K → Q5_0), or `None` to keep the tensor in its
    /// source dtype.
    pub row_fallback: Option<&'static str>,
    /// The search weighs elements by per-column importance when given (llama.cpp's imatrix:
    /// each input column's mean x²); without, it is the format's plain reference.
    pub importance: bool,
    /// GPTQ can quantize onto this family's grid (`Format::gptq` is implemented).
    pub gptq_target: bool,
    pub gguf: Option<GgufType>,
    /// The decode formula, as FORMAT.md states it.
    pub decode: &'static str,
    /// Storage bits per weight (formula; `g` is the group size, `cols` the row length).
    pub bits_per_weight: &'static str,
    /// One line for the docs tables.
    pub summary: &'static str,
    /// Parse a canonical name of this family (`None`: not one of this family's names).
    pub parse_name: fn(&str) -> Option<Result<Scheme>>,
    /// The format a config `method` of this family (one of `methods`) selects with these
    /// parameters (parameters a family does not take are ignored).
    pub from_method: fn(&str, &MethodParams) -> Result<Scheme>,
}

/// The parameters a config gives a method (`bit_width`, `group_size`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodParams {
    pub bits: u32,
    pub group: usize,
    pub symmetric: bool,
}

/// Sizes of one row of a format's buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowLayout {
    pub code_bytes: usize,
    pub scales: usize,
    pub zeros: usize,
}

/// What a row's kernel gets besides its values.
#[derive(Clone, Copy, Debug, Default)]
pub struct RowContext<'a> {
    /// The per-tensor scale, where the format has one (FP8 per tensor).
    pub tensor_scale: f32,
    /// Per-column importance (one weight per column, every row the same), for formats whose
    /// registry entry says `importance`; others ignore it.
    pub importance: Option<&'a [f32]>,
}

/// Output slices of one row.
pub struct RowOut<'a> {
    pub codes: &'a mut [u8],
    pub scales: &'a mut [f32],
    pub zeros: &'a mut [u8],
}

/// Behaviour of one concrete format (a family with its parameters bound).
pub trait Format: Sync {
    fn info(&self) -> &'static FormatInfo;
    /// Canonical name, as files store it (`rtn_int4_g128_asym`, `q4_0`).
    fn name(&self) -> String;
    /// Nominal code bits (what the fallback ladder and the reports speak of).
    fn bits(&self) -> u32;
    /// The file's `group_size` column: elements sharing parameters along a row, 0 when none.
    fn group_size(&self) -> usize;
    /// The config `method` that selects exactly this format without calibration.
    fn method(&self) -> &'static str {
        self.info().methods[0]
    }
    /// Per-row buffer sizes for a row of `cols` elements (`cols` fits `row_multiple`).
    fn row_layout(&self, cols: usize) -> RowLayout;
    /// Scales stored once for the whole tensor, after the per-row ones (FP8 per-tensor: 1).
    fn tensor_scales(&self) -> usize {
        0
    }
    /// The per-tensor scale for a tensor of largest magnitude `absmax` (when `tensor_scales` > 0).
    fn tensor_scale(&self, _absmax: f32) -> f32 {
        0.0
    }
    /// Quantize row `x` with the kernel for `isa`, given the row's context (per-tensor scale,
    /// importance), and write into `y` (`x.len()` values) the row as a reader decodes it: bit for
    /// bit what [`Format::dequantize_row`] gives from the codes, scales and zero-points written
    /// (the caller measures the quality figures on it, in the canonical order).
    ///
    /// A row holding a NaN or an infinity is an error carrying the offset of the first one. A
    /// kernel whose search does not depend on finiteness may skip that check and return `Ok`
    /// with codes of no meaning (the AVX2/NEON RTN, INT8 per channel, Q4_0 and Q8_0 rows):
    /// `quantize()` finds such rows from their Σx², which is not finite exactly then (or when a
    /// square overflows f32, which is allowed).
    ///
    /// # Safety
    /// `isa.is_available()` must be true: the SIMD kernels are compiled with `#[target_feature]`.
    unsafe fn quantize_row(&self, isa: Isa, x: &[f32], out: RowOut<'_>, ctx: &RowContext<'_>, y: &mut [f32]) -> std::result::Result<(), usize>;
    /// One row's values from its codes, scales and zero-points.
    fn dequantize_row(&self, codes: &[u8], scales: &[f32], zeros: &[u8], tensor_scale: f32, out: &mut [f32]);
    /// The quality-gate ladder above this format: the formats to try next, in order, when this
    /// one's accuracy is below the threshold.
    fn fallback(&self) -> Vec<Scheme> {
        Vec::new()
    }
    /// GPTQ onto this format's grid (`None`: not a GPTQ target, see `FormatInfo::gptq_target`).
    fn gptq(&self, _w: &[f32], _rows: usize, _cols: usize, _prep: &Prepared, _opts: &GptqOptions) -> Option<Result<Quantized>> {
        None
    }
}
