//! `ParquetSource`: an open file's footer metadata and payload-free index, and its chunks'
//! payloads on request.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrowquant_format::{ChunkRow, FileReader, IndexRow};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::{payload_vec, IndexRowJs, Pending, TimeGroupJs};

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
