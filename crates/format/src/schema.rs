//! Columns of the ArrowQuant file (format version 3) and the footer's metadata keys.
//! Field order is part of the format; readers select columns by name.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};

/// Version 2 = version 1 plus the `hqq_*`/`r2q_*` schemes and the `channel_scales` and
/// `time_groups` columns in use (null in every version-1 file). Version 3 = version 2 written as
/// a Parquet format 2 file (data pages V2); columns and rules unchanged. Readers accept all three.
pub const FORMAT_VERSION: &str = "3";
pub const READABLE_VERSIONS: [&str; 3] = ["1", "2", "3"];

/// Footer key-value metadata keys.
pub mod keys {
    pub const FORMAT_VERSION: &str = "arrowquant.format_version";
    pub const CONFIG: &str = "arrowquant.config";
    pub const MODALITY: &str = "arrowquant.modality";
    pub const SOURCES: &str = "arrowquant.sources";
    pub const SUMMARY: &str = "arrowquant.summary";
}

/// Columns without per-chunk payload: what `inspect` reads.
pub const INDEX_COLUMNS: &[&str] = &[
    "tensor_index",
    "name",
    "component",
    "shape",
    "source_dtype",
    "chunk_index",
    "chunk_count",
    "row_start",
    "row_count",
    "method",
    "scheme",
    "bits",
    "group_size",
    "requested_bits",
    "quality",
    "fallbacks",
    "layer_output",
];

/// Index columns a file may lack (written before they were added): read as null.
pub const OPTIONAL_COLUMNS: &[&str] = &["layer_output"];

pub fn quality_fields() -> Fields {
    Fields::from(vec![
        Field::new("elements", DataType::Int64, false),
        Field::new("cosine", DataType::Float64, false),
        Field::new("rel_mse", DataType::Float64, false),
        Field::new("sqnr_db", DataType::Float64, false),
        Field::new("max_abs_err", DataType::Float64, false),
        Field::new("sum_xx", DataType::Float64, false),
        Field::new("sum_yy", DataType::Float64, false),
        Field::new("sum_xy", DataType::Float64, false),
        Field::new("sum_ee", DataType::Float64, false),
    ])
}

pub fn layer_output_fields() -> Fields {
    Fields::from(vec![
        Field::new("rows", DataType::Int64, false),
        Field::new("cosine", DataType::Float64, false),
        Field::new("sum_ww", DataType::Float64, false),
        Field::new("sum_we", DataType::Float64, false),
        Field::new("sum_ee", DataType::Float64, false),
    ])
}

pub fn fallback_fields() -> Fields {
    Fields::from(vec![
        Field::new("from_scheme", DataType::Utf8, false),
        Field::new("to_scheme", DataType::Utf8, false),
        Field::new("from_bits", DataType::Int32, false),
        Field::new("to_bits", DataType::Int32, false),
        Field::new("cosine", DataType::Float64, false),
        Field::new("threshold", DataType::Float64, false),
    ])
}

pub fn time_group_fields() -> Fields {
    Fields::from(vec![
        Field::new("t_start", DataType::Int32, false),
        Field::new("t_end", DataType::Int32, false),
        Field::new("scale", DataType::Float32, false),
        Field::new("zero_point", DataType::Float32, false),
    ])
}

pub fn list_item(fields: Fields) -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(fields), false))
}

pub fn shape_item() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Int64, false))
}

/// The Arrow schema of every ArrowQuant file.
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("tensor_index", DataType::Int32, false),
                Field::new("name", DataType::Utf8, false),
                Field::new("component", DataType::Utf8, true),
                Field::new("shape", DataType::List(shape_item()), false),
                Field::new("source_dtype", DataType::Utf8, false),
                Field::new("chunk_index", DataType::Int32, false),
                Field::new("chunk_count", DataType::Int32, false),
                Field::new("row_start", DataType::Int64, false),
                Field::new("row_count", DataType::Int64, false),
                Field::new("method", DataType::Utf8, false),
                Field::new("scheme", DataType::Utf8, false),
                Field::new("bits", DataType::Int32, false),
                Field::new("group_size", DataType::Int32, false),
                Field::new("requested_bits", DataType::Int32, false),
                Field::new("codes", DataType::Binary, false),
                Field::new("scales", DataType::Binary, false),
                Field::new("zeros", DataType::Binary, false),
                Field::new("quality", DataType::Struct(quality_fields()), false),
                Field::new("fallbacks", DataType::List(list_item(fallback_fields())), false),
                Field::new("channel_scales", DataType::Binary, true),
                Field::new("time_groups", DataType::List(list_item(time_group_fields())), true),
                Field::new("layer_output", DataType::Struct(layer_output_fields()), true),
            ]))
        })
        .clone()
}
