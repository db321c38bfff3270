//! Reading an ArrowQuant file: the footer metadata, a payload-free index of all rows (one pass
//! over the small columns), and the full rows of one tensor (only its row groups are read).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;
use std::sync::Arc;

use crate::batch::Columns;
use crate::error::{FormatError, Result};
use crate::row::{ChunkQuality, ChunkRow, FallbackStep, LayerOutput, Payload};
use crate::schema::{keys, INDEX_COLUMNS, OPTIONAL_COLUMNS, READABLE_VERSIONS};

/// A row without its payload columns, plus where it lives.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexRow {
    pub row_group: usize,
    pub tensor_index: u32,
    pub name: String,
    pub component: Option<String>,
    pub shape: Vec<u64>,
    pub source_dtype: String,
    pub chunk_index: u32,
    pub chunk_count: u32,
    pub row_start: u64,
    pub row_count: u64,
    pub method: String,
    pub scheme: String,
    pub bits: u32,
    pub group_size: u32,
    pub requested_bits: u32,
    pub quality: ChunkQuality,
    pub fallbacks: Vec<FallbackStep>,
    pub layer_output: Option<LayerOutput>,
    /// Compressed size of this row group's column chunks, for size reporting.
    pub stored_bytes: u64,
}

pub struct FileReader {
    path: PathBuf,
    metadata: Arc<ParquetMetaData>,
    kv: BTreeMap<String, String>,
}

impl FileReader {
    pub fn open(path: &Path) -> Result<FileReader> {
        let file = File::open(path).map_err(|source| FormatError::Io { path: path.into(), op: "open", source })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| match source {
            parquet::errors::ParquetError::EOF(_) | parquet::errors::ParquetError::General(_) => {
                FormatError::NotArrowQuant { path: path.into(), detail: source.to_string() }
            }
            source => FormatError::Parquet { path: path.into(), source },
        })?;
        let metadata = builder.metadata().clone();
        let kv: BTreeMap<String, String> = metadata
            .file_metadata()
            .key_value_metadata()
            .map(|kvs| kvs.iter().filter_map(|kv| kv.value.clone().map(|v| (kv.key.clone(), v))).collect())
            .unwrap_or_default();
        match kv.get(keys::FORMAT_VERSION) {
            Some(v) if READABLE_VERSIONS.contains(&v.as_str()) => {}
            Some(v) => {
                return Err(FormatError::NotArrowQuant {
                    path: path.into(),
                    detail: format!("format version {v} is not supported (this reader knows {})", READABLE_VERSIONS.join(", ")),
                })
            }
            None => {
                return Err(FormatError::NotArrowQuant {
                    path: path.into(),
                    detail: format!("the footer has no {} key", keys::FORMAT_VERSION),
                })
            }
        }
        Ok(FileReader { path: path.into(), metadata, kv })
    }

    pub fn key_value_metadata(&self) -> &BTreeMap<String, String> {
        &self.kv
    }

    pub fn row_groups(&self) -> usize {
        self.metadata.num_row_groups()
    }

    pub fn file_bytes(&self) -> Result<u64> {
        std::fs::metadata(&self.path)
            .map(|m| m.len())
            .map_err(|source| FormatError::Io { path: self.path.clone(), op: "stat", source })
    }

    fn corrupt(&self, detail: impl std::fmt::Display) -> FormatError {
        FormatError::Corrupt { path: self.path.clone(), detail: detail.to_string() }
    }

    fn read(&self, row_groups: Vec<usize>, columns: Option<&[&str]>) -> Result<Vec<RecordBatch>> {
        let file = File::open(&self.path).map_err(|source| FormatError::Io { path: self.path.clone(), op: "open", source })?;
        let parquet_err = |source| FormatError::Parquet { path: self.path.clone(), source };
        let mut builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_err)?.with_row_groups(row_groups);
        if let Some(columns) = columns {
            let schema = builder.parquet_schema();
            let find = |name: &str| (0..schema.root_schema().get_fields().len()).find(|&i| schema.root_schema().get_fields()[i].name() == name);
            let roots: Vec<usize> = columns
                .iter()
                .filter_map(|name| match find(name) {
                    Some(i) => Some(Ok(i)),
                    None if OPTIONAL_COLUMNS.contains(name) => None,
                    None => Some(Err(self.corrupt(format!("column {name:?} is missing")))),
                })
                .collect::<Result<_>>()?;
            let mask = ProjectionMask::roots(schema, roots);
            builder = builder.with_projection(mask);
        }
        let reader = builder.with_batch_size(8192).build().map_err(parquet_err)?;
        reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.corrupt(e))
    }

    /// Every row without payload, in file order.
    pub fn index(&self) -> Result<Vec<IndexRow>> {
        let mut out = Vec::new();
        for rg in 0..self.row_groups() {
            let stored = self.metadata.row_group(rg).compressed_size().max(0) as u64;
            let rows_in_group = self.metadata.row_group(rg).num_rows().max(1) as u64;
            for batch in self.read(vec![rg], Some(INDEX_COLUMNS))? {
                let c = Columns::new(&batch);
                for i in 0..batch.num_rows() {
                    out.push(self.index_row(&c, i, rg, stored / rows_in_group).map_err(|e| self.corrupt(e))?);
                }
            }
        }
        Ok(out)
    }

    fn index_row(&self, c: &Columns<'_>, i: usize, row_group: usize, stored_bytes: u64) -> std::result::Result<IndexRow, String> {
        Ok(IndexRow {
            row_group,
            tensor_index: c.u32("tensor_index", i)?,
            name: c.string("name", i)?,
            component: c.str("component", i)?,
            shape: c.shape(i)?,
            source_dtype: c.string("source_dtype", i)?,
            chunk_index: c.u32("chunk_index", i)?,
            chunk_count: c.u32("chunk_count", i)?,
            row_start: c.u64("row_start", i)?,
            row_count: c.u64("row_count", i)?,
            method: c.string("method", i)?,
            scheme: c.string("scheme", i)?,
            bits: c.u32("bits", i)?,
            group_size: c.u32("group_size", i)?,
            requested_bits: c.u32("requested_bits", i)?,
            quality: c.quality(i)?,
            fallbacks: c.fallbacks(i)?,
            layer_output: c.layer_output(i)?,
            stored_bytes,
        })
    }

    /// The full rows of tensor `tensor_index`, in chunk order. `index` is this file's
    /// [`FileReader::index`] (pass it to avoid re-reading).
    pub fn tensor_chunks(&self, index: &[IndexRow], tensor_index: u32) -> Result<Vec<ChunkRow>> {
        self.read_chunks(index, tensor_index, None)
    }

    /// One chunk row of a tensor (reads only the row group holding it: memory stays bounded
    /// by a row group however large the tensor).
    pub fn tensor_chunk(&self, index: &[IndexRow], tensor_index: u32, chunk_index: u32) -> Result<ChunkRow> {
        self.read_chunks(index, tensor_index, Some(chunk_index))?
            .pop()
            .ok_or_else(|| self.corrupt(format!("tensor {tensor_index} has no chunk {chunk_index}")))
    }

    fn read_chunks(&self, index: &[IndexRow], tensor_index: u32, chunk: Option<u32>) -> Result<Vec<ChunkRow>> {
        let wanted = |r: &IndexRow| r.tensor_index == tensor_index && chunk.is_none_or(|c| r.chunk_index == c);
        let mut groups: Vec<usize> = index.iter().filter(|r| wanted(r)).map(|r| r.row_group).collect();
        groups.dedup();
        if groups.is_empty() {
            return Err(self.corrupt(format!("no tensor with index {tensor_index}{}", chunk.map(|c| format!(" chunk {c}")).unwrap_or_default())));
        }
        let mut rows = Vec::new();
        for batch in self.read(groups, None)? {
            let c = Columns::new(&batch);
            for i in 0..batch.num_rows() {
                if c.u32("tensor_index", i).map_err(|e| self.corrupt(e))? != tensor_index {
                    continue;
                }
                if chunk.is_some_and(|k| c.u32("chunk_index", i).ok() != Some(k)) {
                    continue;
                }
                rows.push(self.chunk_row(&c, i).map_err(|e| self.corrupt(e))?);
            }
        }
        rows.sort_by_key(|r| r.chunk_index);
        Ok(rows)
    }

    fn chunk_row(&self, c: &Columns<'_>, i: usize) -> std::result::Result<ChunkRow, String> {
        let r = self.index_row(c, i, 0, 0)?;
        Ok(ChunkRow {
            tensor_index: r.tensor_index,
            name: r.name,
            component: r.component,
            shape: r.shape,
            source_dtype: r.source_dtype,
            chunk_index: r.chunk_index,
            chunk_count: r.chunk_count,
            row_start: r.row_start,
            row_count: r.row_count,
            method: r.method,
            scheme: r.scheme,
            bits: r.bits,
            group_size: r.group_size,
            requested_bits: r.requested_bits,
            codes: Payload::from_vec(c.bytes("codes", i)?.unwrap_or_default()),
            scales: Payload::from_vec(c.bytes("scales", i)?.unwrap_or_default()),
            zeros: Payload::from_vec(c.bytes("zeros", i)?.unwrap_or_default()),
            quality: r.quality,
            fallbacks: r.fallbacks,
            channel_scales: c.bytes("channel_scales", i)?,
            time_groups: c.time_groups(i)?,
            layer_output: r.layer_output,
        })
    }
}
