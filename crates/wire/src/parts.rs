//! A chunk's source bytes (whole tensor rows) cut into parts of about `part_bytes`, each one
//! Arrow IPC stream (schema, one record batch, end-of-stream) of `weights: FixedSizeBinary(row
//! bytes)`, one record per row: the wire form `common/cluster/arrow-codec.ts` documents and the
//! worker decodes with apache-arrow. A row larger than a part goes alone.
//!
//! The rows are handed to arrow-rs as a zero-copy slice of the caller's buffer, so the IPC
//! writer's copy into the message is the only one.

use std::sync::Arc;

use arrow_array::{FixedSizeBinaryArray, RecordBatch};
use arrow_buffer::Buffer;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema};

use crate::{Result, WireError};

/// Rows per part: as many whole rows as fit in `part_bytes`, at least one.
pub fn rows_per_part(row_bytes: usize, part_bytes: usize) -> usize {
    (part_bytes / row_bytes).max(1)
}

/// `(first row, row count)` of each part of `rows` rows (one empty part for zero rows, so a
/// receiver always gets a last part).
pub fn part_ranges(rows: usize, row_bytes: usize, part_bytes: usize) -> Vec<(usize, usize)> {
    if rows == 0 {
        return vec![(0, 0)];
    }
    let per = rows_per_part(row_bytes, part_bytes);
    (0..rows).step_by(per).map(|r| (r, per.min(rows - r))).collect()
}

pub(crate) fn check_rows(len: usize, row_bytes: usize) -> Result<()> {
    if row_bytes == 0 || i32::try_from(row_bytes).is_err() || len % row_bytes != 0 {
        return Err(WireError::NotWholeRows { len, row_bytes });
    }
    Ok(())
}

/// Append one part's IPC stream to `out` (which may already hold a header's room).
pub(crate) fn write_part_ipc(out: Vec<u8>, rows: Buffer, row_bytes: usize) -> Result<Vec<u8>> {
    check_rows(rows.len(), row_bytes)?;
    let width = row_bytes as i32;
    let schema = Arc::new(Schema::new(vec![Field::new("weights", DataType::FixedSizeBinary(width), false)]));
    let array = FixedSizeBinaryArray::try_new(width, rows, None)?;
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(array)])?;
    let mut writer = StreamWriter::try_new(out, &schema)?;
    writer.write(&batch)?;
    writer.finish()?;
    Ok(writer.into_inner()?)
}

/// One part's Arrow IPC stream on its own.
pub fn part_ipc(rows: Buffer, row_bytes: usize) -> Result<Vec<u8>> {
    write_part_ipc(Vec::new(), rows, row_bytes)
}
