//! Reusable read buffers. Reads of multi-MiB chunks into fresh allocations spent more time
//! faulting in and zeroing pages than copying bytes; buffers that come back here are reused.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
}

/// Buffers kept for reuse; beyond this they are freed. Idle memory is at most KEEP chunks,
/// shared by all files (a per-file pool kept ~100 MiB per shard alive on a 7B model).
const KEEP: usize = 2;

/// Buffers larger than this (a whole-tensor read) are freed, not kept.
const MAX_POOLED: usize = 256 << 20;

impl BufferPool {
    pub fn new() -> Arc<BufferPool> {
        Arc::new(BufferPool::default())
    }

    /// The process-wide pool every `SourceFile` draws from.
    pub fn global() -> Arc<BufferPool> {
        static GLOBAL: std::sync::OnceLock<Arc<BufferPool>> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(BufferPool::new).clone()
    }

    /// A buffer of exactly `len` bytes (contents unspecified until written).
    pub fn get(self: &Arc<Self>, len: usize) -> PooledBuf {
        let mut v = {
            let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
            // Prefer a buffer that is big enough; otherwise take any (it grows once).
            match free.iter().position(|b| b.capacity() >= len) {
                Some(i) => free.swap_remove(i),
                None => free.pop().unwrap_or_default(),
            }
        };
        v.resize(len, 0);
        PooledBuf { data: v, pool: Some(self.clone()) }
    }
}

/// A buffer that returns to its pool when dropped (unless taken with `into_vec`).
pub struct PooledBuf {
    data: Vec<u8>,
    pool: Option<Arc<BufferPool>>,
}

impl PooledBuf {
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Keep the bytes; the buffer leaves the pool for good.
    pub fn into_vec(mut self) -> Vec<u8> {
        self.pool = None;
        std::mem::take(&mut self.data)
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Deref for PooledBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let mut free = pool.free.lock().unwrap_or_else(|p| p.into_inner());
            if free.len() < KEEP && self.data.capacity() > 0 && self.data.capacity() <= MAX_POOLED {
                free.push(std::mem::take(&mut self.data));
            }
        }
    }
}
