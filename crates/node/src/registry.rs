//! The format registry for JavaScript: the families' static facts, and the description of one
//! concrete format (canonical name, bits, group size, row rule, ladder), so the TypeScript
//! planner and the GGUF exporter read what the kernels declare instead of restating it.

use arrowquant_kernels::formats::{Blocking, FormatInfo};
use arrowquant_kernels::FAMILIES;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::FormatSpec;
use crate::tasks::sync_error;

#[napi(object)]
pub struct GgufTypeJs {
    /// ggml's type name (`Q4_0`).
    pub name: String,
    /// `ggml_type` (ggml.h).
    pub type_id: u32,
    /// `llama_ftype` for `general.file_type` when most tensors have this type.
    pub file_type: u32,
}

#[napi(object)]
pub struct FormatFamilyJs {
    pub family: String,
    /// Config `method` names selecting this family.
    pub methods: Vec<String>,
    pub name_pattern: String,
    pub name_regex: String,
    pub bits: Vec<u32>,
    /// "groups" | "blocks" | "fixed_groups" | "per_row" | "per_tensor"
    pub blocking: String,
    /// Allowed group sizes ("groups"), or the fixed block size (one entry); empty otherwise.
    pub group_sizes: Vec<u32>,
    /// Bytes per block ("blocks" only).
    pub block_bytes: Option<u32>,
    pub row_multiple: u32,
    /// The format for rows that are not a multiple of `row_multiple` (null: keep the tensor).
    pub row_fallback: Option<String>,
    /// Weighs its search by per-column importance when given.
    pub importance: bool,
    pub gptq_target: bool,
    pub gguf: Option<GgufTypeJs>,
    pub decode: String,
    pub bits_per_weight: String,
    pub summary: String,
}

#[napi(object)]
pub struct FormatDescriptionJs {
    /// Canonical name, as files store it.
    pub scheme: String,
    pub family: String,
    /// The config method that selects exactly this format without calibration.
    pub method: String,
    pub bits: u32,
    /// The file's `group_size` (0: none).
    pub group_size: u32,
    pub row_multiple: u32,
    /// The format for rows that are not a multiple of `row_multiple` (null: keep the tensor).
    pub row_fallback: Option<String>,
    /// Weighs its search by per-column importance when given.
    pub importance: bool,
    pub gptq_target: bool,
    pub gguf: Option<GgufTypeJs>,
    /// Canonical names of the quality-gate ladder above this format, in order.
    pub fallback: Vec<String>,
}

fn gguf(info: &FormatInfo) -> Option<GgufTypeJs> {
    info.gguf.map(|g| GgufTypeJs { name: g.name.into(), type_id: g.type_id, file_type: g.file_type })
}

/// Every format family the kernels know, in the docs' order.
#[napi]
pub fn format_registry() -> Vec<FormatFamilyJs> {
    FAMILIES
        .iter()
        .map(|f| {
            let (blocking, group_sizes, block_bytes) = match f.blocking {
                Blocking::Groups { sizes } => ("groups", sizes.iter().map(|&s| s as u32).collect(), None),
                Blocking::Blocks { elements, bytes } => ("blocks", vec![elements as u32], Some(bytes as u32)),
                Blocking::FixedGroups { elements } => ("fixed_groups", vec![elements as u32], None),
                Blocking::PerRow => ("per_row", vec![], None),
                Blocking::PerTensor => ("per_tensor", vec![], None),
            };
            FormatFamilyJs {
                family: f.family.into(),
                methods: f.methods.iter().map(|m| m.to_string()).collect(),
                name_pattern: f.name_pattern.into(),
                name_regex: f.name_regex.into(),
                bits: f.bits.to_vec(),
                blocking: blocking.into(),
                group_sizes,
                block_bytes,
                row_multiple: f.row_multiple as u32,
                row_fallback: f.row_fallback.map(String::from),
                importance: f.importance,
                gptq_target: f.gptq_target,
                gguf: gguf(f),
                decode: f.decode.into(),
                bits_per_weight: f.bits_per_weight.into(),
                summary: f.summary.into(),
            }
        })
        .collect()
}

/// The concrete format `spec` names (a canonical name, or a method with its parameters).
#[napi]
pub fn describe_format(env: Env, spec: FormatSpec) -> Result<FormatDescriptionJs> {
    let scheme = spec.to_scheme().map_err(|e| sync_error(&env, e))?;
    let (f, info) = (scheme.format(), scheme.info());
    Ok(FormatDescriptionJs {
        scheme: f.name(),
        family: info.family.into(),
        method: f.method().into(),
        bits: f.bits(),
        group_size: f.group_size() as u32,
        row_multiple: info.row_multiple as u32,
        row_fallback: info.row_fallback.map(String::from),
        importance: info.importance,
        gptq_target: info.gptq_target,
        gguf: gguf(info),
        fallback: f.fallback().iter().map(|s| s.name()).collect(),
    })
}
