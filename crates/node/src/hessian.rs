//! A layer's Hessian as a native handle: where it lives (a range of the calibration file, or
//! bytes that came over the wire), not a copy of it. The kernels read it a block of rows at a
//! time (`arrowquant_kernels::hessian`), so a file-backed Hessian is never resident whole.

use std::sync::{Arc, Mutex};

use arrowquant_kernels::hessian::{decode_le_f32, HessianSource, LeBytesHessian};
use arrowquant_kernels::KernelError;
use arrowquant_source::{PooledBuf, SourceFile};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::source::{SourceChunk, SourceFileJs};
use crate::tasks::sync_error;

/// `[cols, cols]` little-endian f32 at `offset` of a file, read on demand.
struct FileHessian {
    file: Arc<SourceFile>,
    offset: u64,
    cols: usize,
}

impl HessianSource for FileHessian {
    fn cols(&self) -> usize {
        self.cols
    }
    fn read_values(&self, first: usize, out: &mut [f32]) -> arrowquant_kernels::Result<()> {
        // Read straight into the values' bytes, then fix the byte order where the host's differs.
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(out);
        self.file.read_into(self.offset + 4 * first as u64, bytes).map_err(|e| KernelError::Read(format!("calibration Hessian: {e}")))?;
        if cfg!(target_endian = "big") {
            let raw = bytes.to_vec();
            decode_le_f32(&raw, out);
        }
        Ok(())
    }
}

/// Bytes held in memory.
struct HeldHessian {
    bytes: Arc<PooledBuf>,
    cols: usize,
}

impl HessianSource for HeldHessian {
    fn cols(&self) -> usize {
        self.cols
    }
    fn read_values(&self, first: usize, out: &mut [f32]) -> arrowquant_kernels::Result<()> {
        LeBytesHessian::new(&self.bytes, self.cols)?.read_values(first, out)
    }
}

pub type SharedHessian = Arc<dyn HessianSource + Send + Sync>;

/// A layer's `[cols, cols]` f32 Hessian: `Hessian.inFile(file, offset, cols)` (the calibration
/// file's tensor, read a block at a time as the kernels need it) or `Hessian.held(chunk, cols)`
/// (bytes a worker received).
#[napi]
pub struct Hessian {
    /// `None` once released; layers made from it keep their own reference.
    source: Mutex<Option<SharedHessian>>,
}

impl Hessian {
    fn new(source: SharedHessian) -> Hessian {
        Hessian { source: Mutex::new(Some(source)) }
    }

    /// The Hessian itself; an error once `release()` was called.
    pub fn source(&self) -> Result<SharedHessian> {
        // Nothing panics while the lock is held, so a poisoned lock still holds a valid value.
        let source = self.source.lock().unwrap_or_else(|p| p.into_inner()).clone();
        source.ok_or_else(|| Error::from_reason("Hessian: already released (release() was called on this handle)"))
    }
}

fn size_error(what: &'static str, expected: usize, actual: usize) -> KernelError {
    KernelError::BufferSize { what, expected, actual }
}

#[napi]
impl Hessian {
    /// The `cols²·4` bytes at `offset` of `file`; errors when the file is shorter.
    #[napi(factory)]
    pub fn in_file(env: Env, #[napi(ts_arg_type = "SourceFile")] file: &SourceFileJs, offset: f64, cols: u32) -> Result<Hessian> {
        let file = file.file();
        let cols = cols as usize;
        let end = offset as u64 + 4 * (cols as u64) * (cols as u64);
        if end > file.size() {
            return Err(sync_error(&env, KernelError::Read(format!("{}: the Hessian ends at byte {end}, after the file's end at {}", file.path().display(), file.size()))));
        }
        Ok(Hessian::new(Arc::new(FileHessian { file, offset: offset as u64, cols })))
    }

    /// The bytes of `chunk` (kept while the Hessian lives).
    #[napi(factory)]
    pub fn held(env: Env, chunk: &SourceChunk, cols: u32) -> Result<Hessian> {
        let bytes = chunk.shared()?;
        let cols = cols as usize;
        if bytes.len() != 4 * cols * cols {
            return Err(sync_error(&env, size_error("hessian bytes", 4 * cols * cols, bytes.len())));
        }
        Ok(Hessian::new(Arc::new(HeldHessian { bytes, cols })))
    }

    #[napi(getter)]
    pub fn cols(&self) -> Result<u32> {
        Ok(self.source()?.cols() as u32)
    }

    /// Drop this handle's reference now rather than at the next GC (a held Hessian's bytes are
    /// 90 MiB at 4864 inputs; layers made from it keep theirs). Idempotent.
    #[napi]
    pub fn release(&self) {
        self.source.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}
