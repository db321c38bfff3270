//! Reading a model's files: positioned reads of byte ranges (a chunk of a tensor, never a whole
//! file) and a BLAKE3 hash of each file fed by those same reads when they walk the file front to
//! back, so hashing costs no second pass. Reads that are not part of the in-order walk (fallback
//! re-reads) skip the hash.
//!
//! BLAKE3 rather than SHA-256: SHA-256 runs at ~1.5 GB/s here, which alone would double a
//! quantization job; BLAKE3 is several times faster, and `b3sum` checks the recorded figure.

mod pool;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub use pool::{BufferPool, PooledBuf};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: cannot {op}: {source}")]
    Io { path: PathBuf, op: &'static str, source: std::io::Error },
    #[error("{path}: file ended at byte {at} while reading {length} bytes at {offset} (was it changed while reading?)")]
    ShortRead { path: PathBuf, offset: u64, length: usize, at: u64 },
    #[error("{path}: hashed read at {offset} but the hash has reached {hashed}; reads must walk the file in order")]
    OutOfOrder { path: PathBuf, offset: u64, hashed: u64 },
}

/// Hashing runs on its own thread, fed in read order, so it overlaps reading and quantizing. The
/// thread starts with the first hashed read: a file only read at random (a calibration file
/// whose Hessians the kernels read in blocks) never has one.
struct HashState {
    /// Bytes sent to the hasher so far (the in-order walk's position).
    sent: u64,
    tx: Option<SyncSender<Arc<PooledBuf>>>,
    worker: Option<JoinHandle<blake3::Hasher>>,
    /// Set by `blake3_hex`, which ends the walk.
    done: Option<blake3::Hasher>,
}

fn start_hashing() -> std::io::Result<(SyncSender<Arc<PooledBuf>>, JoinHandle<blake3::Hasher>)> {
    // Bounded: if hashing falls behind, reads wait rather than pile up buffers.
    let (tx, rx) = sync_channel::<Arc<PooledBuf>>(2);
    let worker = std::thread::Builder::new().name("arrowquant-hash".into()).spawn(move || {
        let mut h = blake3::Hasher::new();
        for buf in rx {
            h.update(&buf);
        }
        h
    })?;
    Ok((tx, worker))
}

pub struct SourceFile {
    path: PathBuf,
    file: File,
    size: u64,
    pool: Arc<BufferPool>,
    hash: Mutex<HashState>,
}

impl SourceFile {
    pub fn open(path: &Path) -> Result<SourceFile, SourceError> {
        let io = |op| move |source| SourceError::Io { path: path.to_path_buf(), op, source };
        let file = File::open(path).map_err(io("open"))?;
        let size = file.metadata().map_err(io("stat"))?.len();
        Ok(SourceFile {
            path: path.to_path_buf(),
            file,
            size,
            pool: BufferPool::global(),
            hash: Mutex::new(HashState { sent: 0, tx: None, worker: None, done: None }),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read `length` bytes at `offset` into a pooled buffer. With `hash`, the bytes must continue
    /// the in-order walk (offset = bytes hashed so far) and are queued for the file's hash.
    pub fn read(&self, offset: u64, length: usize, hash: bool) -> Result<Arc<PooledBuf>, SourceError> {
        let mut buf = self.pool.get(length);
        self.read_into(offset, buf.as_mut_slice())?;
        let buf = Arc::new(buf);
        if hash {
            let mut h = self.hash.lock().unwrap_or_else(|p| p.into_inner());
            if h.sent != offset || h.done.is_some() {
                return Err(SourceError::OutOfOrder { path: self.path.clone(), offset, hashed: h.sent });
            }
            if h.tx.is_none() {
                let (tx, worker) = start_hashing().map_err(|source| SourceError::Io { path: self.path.clone(), op: "start the hashing thread for", source })?;
                (h.tx, h.worker) = (Some(tx), Some(worker));
            }
            h.sent += length as u64;
            if let Some(tx) = &h.tx {
                // The hashing thread only stops when `tx` is dropped, so this cannot fail.
                let _ = tx.send(buf.clone());
            }
        }
        Ok(buf)
    }

    /// Fill `out` with the bytes at `offset` (outside the hashed walk).
    pub fn read_into(&self, offset: u64, out: &mut [u8]) -> Result<(), SourceError> {
        let length = out.len();
        let mut done = 0usize;
        while done < length {
            match self.file.read_at(&mut out[done..], offset + done as u64) {
                Ok(0) => return Err(SourceError::ShortRead { path: self.path.clone(), offset, length, at: offset + done as u64 }),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => return Err(SourceError::Io { path: self.path.clone(), op: "read", source }),
            }
        }
        Ok(())
    }

    /// Bytes fed to the hash so far.
    pub fn hashed(&self) -> u64 {
        self.hash.lock().unwrap_or_else(|p| p.into_inner()).sent
    }

    /// Hex BLAKE3 of the bytes hashed so far. Ends the walk: later hashed reads are refused.
    pub fn blake3_hex(&self) -> String {
        let mut h = self.hash.lock().unwrap_or_else(|p| p.into_inner());
        h.tx = None;
        if let Some(worker) = h.worker.take() {
            h.done = Some(worker.join().unwrap_or_default());
        }
        // Nothing hashed: the hash of no bytes.
        h.done.get_or_insert_with(blake3::Hasher::new).finalize().to_hex().to_string()
    }
}

impl Drop for SourceFile {
    fn drop(&mut self) {
        let h = self.hash.get_mut().unwrap_or_else(|p| p.into_inner());
        h.tx = None;
        if let Some(worker) = h.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn in_order_reads_hash_the_whole_file_and_rereads_do_not() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        f.write_all(&data).unwrap();
        let s = SourceFile::open(f.path()).unwrap();
        assert_eq!(&s.read(0, 40_000, true).unwrap()[..], &data[..40_000]);
        assert_eq!(&s.read(10, 5, false).unwrap()[..], &data[10..15]);
        assert_eq!(&s.read(40_000, 60_000, true).unwrap()[..], &data[40_000..]);
        assert_eq!(s.hashed(), 100_000);
        assert_eq!(s.blake3_hex(), blake3::hash(&data).to_hex().to_string());
        let err = s.read(0, 10, true).err().unwrap().to_string();
        assert!(err.contains("must walk the file in order"), "{err}");
        let err = s.read(99_990, 20, false).err().unwrap().to_string();
        assert!(err.contains("file ended at byte 100000"), "{err}");
        // A file never read in order hashes as no bytes (its thread never started).
        let t = SourceFile::open(f.path()).unwrap();
        assert_eq!(&t.read(5, 5, false).unwrap()[..], &data[5..10]);
        assert!(t.hash.lock().unwrap().worker.is_none());
        assert_eq!(t.blake3_hex(), blake3::hash(b"").to_hex().to_string());
        assert!(t.read(0, 10, true).is_err());
    }
}
