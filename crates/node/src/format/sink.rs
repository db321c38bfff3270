//! `ParquetSink`: streams rows into a temporary file and renames it into place on `finish`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrowquant_format::{ChunkRow, FileWriter, Payload, WriterOptions};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::{sync_js, u64_of, ChunkRowJs, Pending};

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
