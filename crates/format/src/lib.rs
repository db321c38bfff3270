//! The ArrowQuant output file: one Parquet file whose rows are tensor chunks in model order.
//! `docs/FORMAT.md` is the contract; this crate is its implementation.
//!
//! - [`schema`]: the columns and the footer's metadata keys.
//! - [`ChunkRow`]: one row, as the pipeline produces it.
//! - [`FileWriter`]: streams row groups into a temporary file beside the output and, on
//!   [`FileWriter::finish`], fsyncs and renames it into place, so the output path only ever holds
//!   a complete file (and a file already there is untouched until then).
//! - [`FileReader`]: the footer, a payload-free index of every row, and one tensor's chunks.

mod atomic;
mod batch;
mod error;
mod reader;
mod row;
pub mod schema;
mod writer;

pub use error::{FormatError, Result};
pub use reader::{FileReader, IndexRow};
pub use row::{shared_payload, ChunkQuality, ChunkRow, FallbackStep, LayerOutput, Payload, TimeGroupParams};
pub use writer::{FileWriter, WriteSummary, WriterOptions};
