//! The Parquet file: a writer class and a reader class over `arrowquant-format`. Rows cross as
//! plain objects; blocking file work runs as `AsyncTask`s.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrowquant_format::{
    ChunkQuality, ChunkRow, FallbackStep, FileReader, FileWriter, FormatError, IndexRow, Payload,
    TimeGroupParams, WriterOptions,
};
use napi::bindgen_prelude::*;

// Chunk quality crosses as the kernels' figures plus the sums behind them.
use crate::convert::QualityFigures;
use napi_derive::napi;

/// A failed file operation: kept until `reject`, where the typed JS error is built.
#[derive(Default)]
pub struct Pending(Option<FormatError>);

impl Pending {
    fn hold(&mut self, e: FormatError) -> Error {
        self.0 = Some(e);
        crate::error::pending()
    }

    fn reject(&mut self, env: Env, err: Error) -> Error {
        self.0
            .take()
            .map_or(err, |e| crate::error::format_to_js(env, &e))
    }
}

/// The bytes of a payload as a Vec (moved when the payload owns its Vec, as the reader's do).
fn payload_vec(p: Payload) -> Vec<u8> {
    p.into_vec::<u8>()
        .unwrap_or_else(|shared| shared.as_slice().to_vec())
}

/// For synchronous calls.
fn sync_js(env: &Env, e: FormatError) -> Error {
    crate::error::format_to_js(*env, &e)
}

fn u64_of(v: f64, field: &str) -> Result<u64> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9007199254740991.0 {
        Ok(v as u64)
    } else {
        Err(Error::new(
            Status::InvalidArg,
            format!("{field} must be a non-negative integer, got {v}"),
        ))
    }
}

#[napi(object)]
pub struct FallbackStepJs {
    pub from_scheme: String,
    pub to_scheme: String,
    pub from_bits: u32,
    pub to_bits: u32,
    pub cosine: f64,
    pub threshold: f64,
}

#[napi(object)]
pub struct TimeGroupJs {
    pub t_start: i32,
    pub t_end: i32,
    pub scale: f64,
    pub zero_point: f64,
}

/// One row of the file, as JS builds it (see `arrowquant_format::ChunkRow`).
#[napi(object)]
pub struct ChunkRowJs {
    pub tensor_index: u32,
    pub name: String,
    pub component: Option<String>,
    pub shape: Vec<f64>,
    pub source_dtype: String,
    pub chunk_index: u32,
    pub chunk_count: u32,
    pub row_start: f64,
    pub row_count: f64,
    pub method: String,
    pub scheme: String,
    pub bits: u32,
    pub group_size: u32,
    pub requested_bits: u32,
    /// Payload, for `push`; `pushQuantized`/`pushKept` take it from a native handle instead.
    pub codes: Option<Buffer>,
    pub scales: Option<Buffer>,
    pub zeros: Option<Buffer>,
    pub quality: QualityFigures,
    pub fallbacks: Vec<FallbackStepJs>,
    pub channel_scales: Option<Buffer>,
    pub time_groups: Option<Vec<TimeGroupJs>>,
}

#[napi(object)]
pub struct IndexRowJs {
    pub row_group: u32,
    pub tensor_index: u32,
    pub name: String,
    pub component: Option<String>,
    pub shape: Vec<f64>,
    pub source_dtype: String,
    pub chunk_index: u32,
    pub chunk_count: u32,
    pub row_start: f64,
    pub row_count: f64,
    pub method: String,
    pub scheme: String,
    pub bits: u32,
    pub group_size: u32,
    pub requested_bits: u32,
    pub quality: QualityFigures,
    pub fallbacks: Vec<FallbackStepJs>,
    pub stored_bytes: f64,
}

impl From<ChunkQuality> for QualityFigures {
    fn from(q: ChunkQuality) -> Self {
        QualityFigures {
            elements: q.elements as f64,
            cosine: q.cosine,
            rel_mse: q.rel_mse,
            sqnr_db: q.sqnr_db,
            max_abs_err: q.max_abs_err,
            sum_xx: q.sum_xx,
            sum_yy: q.sum_yy,
            sum_xy: q.sum_xy,
            sum_ee: q.sum_ee,
        }
    }
}

impl From<FallbackStep> for FallbackStepJs {
    fn from(f: FallbackStep) -> Self {
        FallbackStepJs {
            from_scheme: f.from_scheme,
            to_scheme: f.to_scheme,
            from_bits: f.from_bits,
            to_bits: f.to_bits,
            cosine: f.cosine,
            threshold: f.threshold,
        }
    }
}

impl ChunkRowJs {
    /// The row with the payload copied out of JS memory (it outlives this call on another thread).
    fn to_row(&self) -> Result<ChunkRow> {
        let copy = |b: &Option<Buffer>, what: &str| {
            b.as_ref()
                .map(|b| Payload::from_vec(b.to_vec()))
                .ok_or_else(|| {
                    Error::new(
                        Status::InvalidArg,
                        format!(
                            "row {:?} chunk {} has no {what}",
                            self.name, self.chunk_index
                        ),
                    )
                })
        };
        let (codes, scales, zeros) = (
            copy(&self.codes, "codes")?,
            copy(&self.scales, "scales")?,
            copy(&self.zeros, "zeros")?,
        );
        self.to_row_with(codes, scales, zeros)
    }

    fn to_row_with(&self, codes: Payload, scales: Payload, zeros: Payload) -> Result<ChunkRow> {
        let q = &self.quality;
        Ok(ChunkRow {
            tensor_index: self.tensor_index,
            name: self.name.clone(),
            component: self.component.clone(),
            shape: self
                .shape
                .iter()
                .map(|&d| u64_of(d, "shape"))
                .collect::<Result<_>>()?,
            source_dtype: self.source_dtype.clone(),
            chunk_index: self.chunk_index,
            chunk_count: self.chunk_count,
            row_start: u64_of(self.row_start, "rowStart")?,
            row_count: u64_of(self.row_count, "rowCount")?,
            method: self.method.clone(),
            scheme: self.scheme.clone(),
            bits: self.bits,
            group_size: self.group_size,
            requested_bits: self.requested_bits,
            codes,
            scales,
            zeros,
            quality: ChunkQuality {
                elements: u64_of(q.elements, "quality.elements")?,
                cosine: q.cosine,
                rel_mse: q.rel_mse,
                sqnr_db: q.sqnr_db,
                max_abs_err: q.max_abs_err,
                sum_xx: q.sum_xx,
                sum_yy: q.sum_yy,
                sum_xy: q.sum_xy,
                sum_ee: q.sum_ee,
            },
            fallbacks: self
                .fallbacks
                .iter()
                .map(|f| FallbackStep {
                    from_scheme: f.from_scheme.clone(),
                    to_scheme: f.to_scheme.clone(),
                    from_bits: f.from_bits,
                    to_bits: f.to_bits,
                    cosine: f.cosine,
                    threshold: f.threshold,
                })
                .collect(),
            channel_scales: self.channel_scales.as_ref().map(|b| b.to_vec()),
            time_groups: self.time_groups.as_ref().map(|gs| {
                gs.iter()
                    .map(|g| TimeGroupParams {
                        t_start: g.t_start,
                        t_end: g.t_end,
                        scale: g.scale as f32,
                        zero_point: g.zero_point as f32,
                    })
                    .collect()
            }),
        })
    }
}

#[napi(object)]
pub struct WriteSummaryJs {
    pub bytes: f64,
    pub rows: f64,
    pub row_groups: f64,
}

type SharedWriter = Arc<Mutex<FileWriter>>;

/// Streams rows into a temporary file; `finish` renames it over the output path.
#[napi]
pub struct ParquetSink {
    writer: SharedWriter,
    temp: String,
}

pub enum SinkOp {
    Push(Option<ChunkRow>),
    Finish(BTreeMap<String, String>),
}

pub struct SinkTask {
    writer: SharedWriter,
    op: SinkOp,
    failed: Pending,
}

#[napi]
impl Task for SinkTask {
    type Output = Option<arrowquant_format::WriteSummary>;
    type JsValue = Option<WriteSummaryJs>;

    fn compute(&mut self) -> Result<Self::Output> {
        let mut w = self
            .writer
            .lock()
            .map_err(|_| Error::from_reason("the Parquet writer panicked"))?;
        let result = match &mut self.op {
            SinkOp::Push(row) => {
                let row = row
                    .take()
                    .ok_or_else(|| Error::from_reason("row already written"))?;
                w.push(row).map(|_| None).inspect_err(|_| w.abort())
            }
            SinkOp::Finish(meta) => w.finish(meta).map(Some),
        };
        result.map_err(|e| self.failed.hold(e))
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<Self::JsValue> {
        Err(self.failed.reject(env, err))
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> Result<Self::JsValue> {
        Ok(out.map(|s| WriteSummaryJs {
            bytes: s.bytes as f64,
            rows: s.rows as f64,
            row_groups: s.row_groups as f64,
        }))
    }
}

#[napi]
impl ParquetSink {
    /// Create the temporary file beside `path`. `metadata` goes into the footer.
    #[napi(factory)]
    pub fn create(
        env: Env,
        path: String,
        metadata: HashMap<String, String>,
        row_group_bytes: Option<f64>,
    ) -> Result<ParquetSink> {
        let mut options = WriterOptions::default();
        if let Some(b) = row_group_bytes {
            options.row_group_bytes = u64_of(b, "rowGroupBytes")? as usize;
        }
        let meta: BTreeMap<String, String> = metadata.into_iter().collect();
        let writer = FileWriter::create(&PathBuf::from(&path), &meta, options)
            .map_err(|e| sync_js(&env, e))?;
        let temp = writer.temp_path().to_string_lossy().into_owned();
        Ok(ParquetSink {
            writer: Arc::new(Mutex::new(writer)),
            temp,
        })
    }

    #[napi(getter)]
    pub fn temp_path(&self) -> String {
        self.temp.clone()
    }

    /// Append one row (rows must come in model order). A failure aborts the file.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn push(&self, row: ChunkRowJs) -> Result<AsyncTask<SinkTask>> {
        let row = row.to_row()?;
        Ok(AsyncTask::new(SinkTask {
            writer: self.writer.clone(),
            op: SinkOp::Push(Some(row)),
            failed: Pending::default(),
        }))
    }

    /// Append a row whose payload is a quantized chunk held in Rust (moved, not copied).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn push_quantized(
        &self,
        row: ChunkRowJs,
        chunk: &crate::tasks::QuantizedChunk,
    ) -> Result<AsyncTask<SinkTask>> {
        let (codes, scales, zeros) = chunk.take()?;
        let row = row.to_row_with(
            Payload::from_vec(codes),
            Payload::from_vec(scales),
            Payload::from_vec(zeros),
        )?;
        Ok(AsyncTask::new(SinkTask {
            writer: self.writer.clone(),
            op: SinkOp::Push(Some(row)),
            failed: Pending::default(),
        }))
    }

    /// Append a kept row whose payload is the source chunk itself (moved out of the handle).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn push_kept(
        &self,
        row: ChunkRowJs,
        chunk: &crate::source::SourceChunk,
    ) -> Result<AsyncTask<SinkTask>> {
        let empty = || Payload::from_vec(Vec::<u8>::new());
        let row = row.to_row_with(chunk.take_payload()?, empty(), empty())?;
        Ok(AsyncTask::new(SinkTask {
            writer: self.writer.clone(),
            op: SinkOp::Push(Some(row)),
            failed: Pending::default(),
        }))
    }

    /// Write the footer with `metadata` added, fsync, and rename into place.
    #[napi(ts_return_type = "Promise<WriteSummaryJs>")]
    pub fn finish(&self, metadata: HashMap<String, String>) -> AsyncTask<SinkTask> {
        AsyncTask::new(SinkTask {
            writer: self.writer.clone(),
            op: SinkOp::Finish(metadata.into_iter().collect()),
            failed: Pending::default(),
        })
    }

    /// Delete the temporary file; the output path is left as it was. Idempotent.
    #[napi]
    pub fn abort(&self) {
        // Even after a panic elsewhere poisoned the lock, the temporary file must go.
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .abort();
    }
}

impl From<IndexRow> for IndexRowJs {
    fn from(r: IndexRow) -> Self {
        IndexRowJs {
            row_group: r.row_group as u32,
            tensor_index: r.tensor_index,
            name: r.name,
            component: r.component,
            shape: r.shape.iter().map(|&d| d as f64).collect(),
            source_dtype: r.source_dtype,
            chunk_index: r.chunk_index,
            chunk_count: r.chunk_count,
            row_start: r.row_start as f64,
            row_count: r.row_count as f64,
            method: r.method,
            scheme: r.scheme,
            bits: r.bits,
            group_size: r.group_size,
            requested_bits: r.requested_bits,
            quality: r.quality.into(),
            fallbacks: r.fallbacks.into_iter().map(Into::into).collect(),
            stored_bytes: r.stored_bytes as f64,
        }
    }
}

/// An open file: footer metadata and the payload-free index, read once.
#[napi]
pub struct ParquetSource {
    reader: Arc<FileReader>,
    index: Arc<Vec<IndexRow>>,
    file_bytes: u64,
}

pub struct OpenTask(PathBuf, Pending);

#[napi]
impl Task for OpenTask {
    type Output = (FileReader, Vec<IndexRow>, u64);
    type JsValue = ParquetSource;

    fn compute(&mut self) -> Result<Self::Output> {
        let run = || {
            let reader = FileReader::open(&self.0)?;
            let index = reader.index()?;
            let bytes = reader.file_bytes()?;
            Ok((reader, index, bytes))
        };
        run().map_err(|e| self.1.hold(e))
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<Self::JsValue> {
        Err(self.1.reject(env, err))
    }

    fn resolve(
        &mut self,
        _env: Env,
        (reader, index, file_bytes): Self::Output,
    ) -> Result<Self::JsValue> {
        Ok(ParquetSource {
            reader: Arc::new(reader),
            index: Arc::new(index),
            file_bytes,
        })
    }
}

/// A tensor's chunk rows with payload.
pub struct ChunksTask {
    reader: Arc<FileReader>,
    index: Arc<Vec<IndexRow>>,
    tensor: u32,
    /// One chunk, or all of them.
    chunk: Option<u32>,
    failed: Pending,
}

#[napi(object)]
pub struct ChunkPayloadJs {
    pub chunk_index: u32,
    pub row_start: f64,
    pub row_count: f64,
    pub scheme: String,
    pub codes: Buffer,
    pub scales: Buffer,
    pub zeros: Buffer,
    pub channel_scales: Option<Buffer>,
    pub time_groups: Option<Vec<TimeGroupJs>>,
}

#[napi]
impl Task for ChunksTask {
    type Output = Vec<ChunkRow>;
    type JsValue = Vec<ChunkPayloadJs>;

    fn compute(&mut self) -> Result<Self::Output> {
        let result = match self.chunk {
            Some(c) => self
                .reader
                .tensor_chunk(&self.index, self.tensor, c)
                .map(|r| vec![r]),
            None => self.reader.tensor_chunks(&self.index, self.tensor),
        };
        result.map_err(|e| self.failed.hold(e))
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<Self::JsValue> {
        Err(self.failed.reject(env, err))
    }

    fn resolve(&mut self, _env: Env, rows: Self::Output) -> Result<Self::JsValue> {
        Ok(rows
            .into_iter()
            .map(|r| ChunkPayloadJs {
                chunk_index: r.chunk_index,
                row_start: r.row_start as f64,
                row_count: r.row_count as f64,
                scheme: r.scheme,
                codes: payload_vec(r.codes).into(),
                scales: payload_vec(r.scales).into(),
                zeros: payload_vec(r.zeros).into(),
                channel_scales: r.channel_scales.map(Into::into),
                time_groups: r.time_groups.map(|gs| {
                    gs.into_iter()
                        .map(|g| TimeGroupJs {
                            t_start: g.t_start,
                            t_end: g.t_end,
                            scale: g.scale as f64,
                            zero_point: g.zero_point as f64,
                        })
                        .collect()
                }),
            })
            .collect())
    }
}

#[napi]
impl ParquetSource {
    #[napi(ts_return_type = "Promise<ParquetSource>")]
    pub fn open(path: String) -> AsyncTask<OpenTask> {
        AsyncTask::new(OpenTask(PathBuf::from(path), Pending::default()))
    }

    #[napi(getter)]
    pub fn metadata(&self) -> HashMap<String, String> {
        self.reader
            .key_value_metadata()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    #[napi(getter)]
    pub fn file_bytes(&self) -> f64 {
        self.file_bytes as f64
    }

    #[napi(getter)]
    pub fn row_groups(&self) -> u32 {
        self.reader.row_groups() as u32
    }

    #[napi]
    pub fn index(&self) -> Vec<IndexRowJs> {
        self.index.iter().cloned().map(Into::into).collect()
    }

    #[napi(ts_return_type = "Promise<ChunkPayloadJs[]>")]
    pub fn tensor_chunks(&self, tensor_index: u32) -> AsyncTask<ChunksTask> {
        AsyncTask::new(ChunksTask {
            reader: self.reader.clone(),
            index: self.index.clone(),
            tensor: tensor_index,
            chunk: None,
            failed: Pending::default(),
        })
    }

    /// One chunk of a tensor (only its row group is read).
    #[napi(ts_return_type = "Promise<ChunkPayloadJs[]>")]
    pub fn tensor_chunk(&self, tensor_index: u32, chunk_index: u32) -> AsyncTask<ChunksTask> {
        AsyncTask::new(ChunksTask {
            reader: self.reader.clone(),
            index: self.index.clone(),
            tensor: tensor_index,
            chunk: Some(chunk_index),
            failed: Pending::default(),
        })
    }
}
