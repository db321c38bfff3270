//! Streaming, atomic writer. Rows are buffered until they hold `row_group_bytes` of payload, then
//! written as one row group, so memory is bounded by one row group whatever the file size. The
//! budget is 1 MiB: a chunk of a large tensor (≥ 1 MiB of payload) closes its row group and goes to
//! the file as soon as it is encoded, while small tensors (norms, biases) still share row groups.
//! Row-group boundaries depend only on the rows, never on timing, so equal inputs give equal bytes.
//! Byte counts are u64/usize on a 64-bit target: files far past 4 GiB are fine.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};

use crate::atomic;
use crate::batch;
use crate::error::{FormatError, Result};
use crate::row::ChunkRow;
use crate::schema::{self, keys, FORMAT_VERSION};

#[derive(Clone, Copy, Debug)]
pub struct WriterOptions {
    /// Payload bytes (codes + scales + zero-points) per row group.
    pub row_group_bytes: usize,
}

impl Default for WriterOptions {
    // Why 1 MiB and not 32: arrow-rs buffers a row group's encoded column chunks (and its page
    // copies) until the group is written. At 32 MiB that held ~60 MiB more at the streaming peak
    // (1.44 GB Dream, RTN INT4: 339 → 281 MiB median, benches/RESULTS.md), and every freed group
    // was re-faulted by the next one. The footer grows with the row groups (≈ 2.6 KB each with
    // 42 leaf columns: 124 groups, ~0.3 MB, for that model).
    fn default() -> Self {
        WriterOptions { row_group_bytes: 1 << 20 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteSummary {
    pub bytes: u64,
    pub rows: u64,
    pub row_groups: u64,
}

pub struct FileWriter {
    path: PathBuf,
    temp: PathBuf,
    writer: Option<ArrowWriter<BufWriter<File>>>,
    options: WriterOptions,
    /// Rows and payload bytes in the row group being written.
    pending_rows: u64,
    pending_bytes: usize,
    /// (tensor_index, chunk_index) of the last row, to enforce model order.
    last: Option<(u32, u32, u32)>,
    rows: u64,
    row_groups: u64,
}

fn properties() -> WriterProperties {
    // Parquet format 2 (data pages V2, whose levels are stored uncompressed ahead of the values,
    // so a reader can skip to the values). Codes are high-entropy, so compression would cost time
    // for little gain; statistics and dictionaries on payload columns are useless. `created_by` is
    // fixed so that the bytes do not depend on which parquet-rs build wrote them.
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_max_row_group_row_count(None)
        .set_created_by(format!("arrowquant format {FORMAT_VERSION}"))
        .build()
}

impl FileWriter {
    /// Start writing `path`. `metadata` goes into the footer (sorted by key), beside the format
    /// version. Nothing appears at `path` until [`FileWriter::finish`] succeeds.
    pub fn create(path: &Path, metadata: &BTreeMap<String, String>, options: WriterOptions) -> Result<FileWriter> {
        let (temp, file) = atomic::create_temp(path)?;
        let mut writer = ArrowWriter::try_new(BufWriter::with_capacity(1 << 20, file), schema::schema(), Some(properties()))
            .map_err(|source| FormatError::Parquet { path: temp.clone(), source })?;
        writer.append_key_value_metadata(KeyValue::new(keys::FORMAT_VERSION.into(), FORMAT_VERSION.to_string()));
        for (k, v) in metadata {
            writer.append_key_value_metadata(KeyValue::new(k.clone(), v.clone()));
        }
        Ok(FileWriter {
            path: path.to_path_buf(),
            temp,
            writer: Some(writer),
            options,
            pending_rows: 0,
            pending_bytes: 0,
            last: None,
            rows: 0,
            row_groups: 0,
        })
    }

    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    fn check_order(&mut self, row: &ChunkRow) -> Result<()> {
        let bad = |detail: String| FormatError::InvalidRow { tensor: row.name.clone(), chunk: row.chunk_index, detail };
        if row.chunk_count == 0 || row.chunk_index >= row.chunk_count {
            return Err(bad(format!("chunk_index {} is not below chunk_count {}", row.chunk_index, row.chunk_count)));
        }
        let expected = match self.last {
            None => (0, 0),
            Some((t, c, n)) if c + 1 < n => (t, c + 1),
            Some((t, _, _)) => (t + 1, 0),
        };
        if (row.tensor_index, row.chunk_index) != expected {
            return Err(bad(format!(
                "rows must come in model order: expected tensor {} chunk {}, got tensor {} chunk {}",
                expected.0, expected.1, row.tensor_index, row.chunk_index
            )));
        }
        self.last = Some((row.tensor_index, row.chunk_index, row.chunk_count));
        Ok(())
    }

    /// Append a row. It is encoded at once into the open row group (its payload moved, not
    /// copied); the row group is closed when it holds `row_group_bytes` of payload.
    pub fn push(&mut self, row: ChunkRow) -> Result<()> {
        if self.writer.is_none() {
            return Err(FormatError::Closed { path: self.path.clone() });
        }
        self.check_order(&row)?;
        let (name, chunk, bytes) = (row.name.clone(), row.chunk_index, row.payload_bytes());
        let batch = batch::to_batch(vec![row]).map_err(|e| FormatError::InvalidRow { tensor: name, chunk, detail: e.to_string() })?;
        let writer = self.writer.as_mut().ok_or_else(|| FormatError::Closed { path: self.path.clone() })?;
        writer.write(&batch).map_err(|source| FormatError::Parquet { path: self.temp.clone(), source })?;
        self.pending_rows += 1;
        self.pending_bytes += bytes;
        if self.pending_bytes >= self.options.row_group_bytes {
            self.flush_row_group()?;
        }
        Ok(())
    }

    fn flush_row_group(&mut self) -> Result<()> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let writer = self.writer.as_mut().ok_or_else(|| FormatError::Closed { path: self.path.clone() })?;
        writer.flush().map_err(|source| FormatError::Parquet { path: self.temp.clone(), source })?;
        self.rows += self.pending_rows;
        self.row_groups += 1;
        self.pending_rows = 0;
        self.pending_bytes = 0;
        Ok(())
    }

    /// Write what is buffered, the footer (with `metadata` added), fsync, and rename into place.
    pub fn finish(&mut self, metadata: &BTreeMap<String, String>) -> Result<WriteSummary> {
        let result = self.finish_inner(metadata);
        if result.is_err() {
            self.abort();
        }
        result
    }

    fn finish_inner(&mut self, metadata: &BTreeMap<String, String>) -> Result<WriteSummary> {
        self.flush_row_group()?;
        let mut writer = self.writer.take().ok_or_else(|| FormatError::Closed { path: self.path.clone() })?;
        for (k, v) in metadata {
            writer.append_key_value_metadata(KeyValue::new(k.clone(), v.clone()));
        }
        let temp = self.temp.clone();
        let buffered = writer.into_inner().map_err(|source| FormatError::Parquet { path: temp.clone(), source })?;
        let file = buffered.into_inner().map_err(|e| FormatError::Io { path: temp.clone(), op: "write", source: e.into_error() })?;
        let bytes = file.metadata().map_err(|source| FormatError::Io { path: temp.clone(), op: "stat", source })?.len();
        atomic::commit(file, &temp, &self.path)?;
        Ok(WriteSummary { bytes, rows: self.rows, row_groups: self.row_groups })
    }

    /// Drop everything written so far and delete the temporary file. Idempotent.
    pub fn abort(&mut self) {
        self.pending_rows = 0;
        if self.writer.take().is_some() || self.temp.exists() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }

    pub fn is_open(&self) -> bool {
        self.writer.is_some()
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.abort();
        }
    }
}
