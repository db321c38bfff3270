//! Model file reads as native handles: the bytes stay in Rust (no JS Buffer, no GC pressure)
//! from the read through quantization or into the Parquet writer. `release()` frees a handle's
//! memory at once rather than whenever the JS object is collected.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrowquant_source::{PooledBuf, SourceError, SourceFile};
use napi::bindgen_prelude::*;
use napi_derive::napi;

fn source_error(e: SourceError) -> Error {
    Error::new(Status::GenericFailure, e.to_string())
}

#[napi(js_name = "SourceFile")]
pub struct SourceFileJs(Arc<SourceFile>);

impl SourceFileJs {
    pub(crate) fn file(&self) -> Arc<SourceFile> {
        self.0.clone()
    }
}

/// A chunk of source bytes held in Rust.
#[napi]
pub struct SourceChunk {
    data: Mutex<Option<Arc<PooledBuf>>>,
    length: u32,
}

impl SourceChunk {
    /// The bytes, shared (the caller keeps them alive while it works).
    pub fn shared(&self) -> Result<Arc<PooledBuf>> {
        self.data
            .lock()
            .map_err(|_| Error::from_reason("poisoned"))?
            .clone()
            .ok_or_else(|| Error::from_reason("source chunk already released"))
    }

    /// The bytes as a file payload, without a copy (the pooled buffer goes back to the pool when
    /// the writer has encoded it). Releases the handle.
    pub fn take_payload(&self) -> Result<arrowquant_format::Payload> {
        let arc = self
            .data
            .lock()
            .map_err(|_| Error::from_reason("poisoned"))?
            .take()
            .ok_or_else(|| Error::from_reason("source chunk already released"))?;
        Ok(arrowquant_format::shared_payload(arc))
    }
}

#[napi]
impl SourceChunk {
    #[napi(getter)]
    pub fn length(&self) -> u32 {
        self.length
    }

    /// A chunk holding a copy of `bytes` (a worker's chunk that arrived over the wire).
    #[napi(factory)]
    pub fn from_bytes(bytes: Buffer) -> SourceChunk {
        let mut buf = arrowquant_source::BufferPool::global().get(bytes.len());
        buf.as_mut_slice().copy_from_slice(&bytes);
        SourceChunk {
            length: bytes.len() as u32,
            data: Mutex::new(Some(Arc::new(buf))),
        }
    }

    /// A copy of the bytes as a Buffer (for executors that ship them elsewhere, and tests).
    #[napi]
    pub fn bytes(&self) -> Result<Buffer> {
        Ok(self.shared()?.to_vec().into())
    }

    /// Free the bytes now. Idempotent; tasks already holding them keep them until they finish.
    #[napi]
    pub fn release(&self) {
        if let Ok(mut d) = self.data.lock() {
            d.take();
        }
    }
}

pub struct ReadTask {
    file: Arc<SourceFile>,
    offset: u64,
    length: usize,
    hash: bool,
}

#[napi]
impl Task for ReadTask {
    type Output = Arc<PooledBuf>;
    type JsValue = SourceChunk;

    fn compute(&mut self) -> Result<Self::Output> {
        self.file
            .read(self.offset, self.length, self.hash)
            .map_err(source_error)
    }

    fn resolve(&mut self, _env: Env, data: Self::Output) -> Result<Self::JsValue> {
        Ok(SourceChunk {
            length: data.len() as u32,
            data: Mutex::new(Some(data)),
        })
    }
}

#[napi]
impl SourceFileJs {
    #[napi(factory)]
    pub fn open(path: String) -> Result<SourceFileJs> {
        SourceFile::open(&PathBuf::from(path))
            .map(|f| SourceFileJs(Arc::new(f)))
            .map_err(source_error)
    }

    #[napi(getter)]
    pub fn size(&self) -> f64 {
        self.0.size() as f64
    }

    /// Read `length` bytes at `offset` off the JS thread. `hash`: continue the in-order walk that
    /// hashes the file (reads with `hash` must be issued one after another, front to back).
    #[napi(ts_return_type = "Promise<SourceChunk>")]
    pub fn read(&self, offset: f64, length: u32, hash: bool) -> AsyncTask<ReadTask> {
        AsyncTask::new(ReadTask {
            file: self.0.clone(),
            offset: offset as u64,
            length: length as usize,
            hash,
        })
    }

    #[napi(getter)]
    pub fn hashed_bytes(&self) -> f64 {
        self.0.hashed() as f64
    }

    #[napi]
    pub fn blake3_hex(&self) -> String {
        self.0.blake3_hex()
    }
}
