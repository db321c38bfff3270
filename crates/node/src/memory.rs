//! The addon's allocator: mimalloc (see lib.rs for why), counted. Every allocation adds to a live
//! byte count whose high-water mark is kept, and allocations of 1 MiB or more are remembered by
//! size, so `nativeMemory()` can say what the native side held at its peak (chunk buffers, row
//! groups, Hessians) — the figure streaming mode's memory bound is about. Counting costs two
//! relaxed atomic operations per allocation; the large-allocation table is touched only by
//! allocations of at least 1 MiB, which the pipeline makes a few per chunk.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use napi_derive::napi;

pub struct Counted(pub mimalloc::MiMalloc);

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

const LARGE: usize = 1 << 20;
const SLOTS: usize = 512;
/// Live large allocations: (address, size); address 0 = free slot.
static TABLE: [(AtomicUsize, AtomicUsize); SLOTS] = [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; SLOTS];
/// The sizes in the table when the peak was last raised by a large allocation.
static AT_PEAK: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static SNAPSHOT: AtomicBool = AtomicBool::new(false);

fn remember(ptr: usize, size: usize) {
    for (addr, len) in &TABLE {
        if addr.compare_exchange(0, ptr, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            len.store(size, Ordering::Release);
            return;
        }
    }
}

fn forget(ptr: usize) {
    for (addr, len) in &TABLE {
        if addr.load(Ordering::Acquire) == ptr {
            len.store(0, Ordering::Release);
            addr.store(0, Ordering::Release);
            return;
        }
    }
}

fn added(size: usize, ptr: usize) {
    if size >= LARGE {
        remember(ptr, size);
    }
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    if live > PEAK.fetch_max(live, Ordering::Relaxed) && size >= LARGE && !SNAPSHOT.swap(true, Ordering::Acquire) {
        // One snapshot at a time; a racing one is skipped (the next large allocation retries).
        for (slot, (_, len)) in AT_PEAK.iter().zip(&TABLE) {
            slot.store(len.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        SNAPSHOT.store(false, Ordering::Release);
    }
}

fn removed(size: usize, ptr: usize) {
    if size >= LARGE {
        forget(ptr);
    }
    LIVE.fetch_sub(size, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            added(layout.size(), p as usize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            added(layout.size(), p as usize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        removed(layout.size(), ptr as usize);
        unsafe { self.0.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            removed(layout.size(), ptr as usize);
            added(new_size, p as usize);
        }
        p
    }
}

#[napi(object)]
pub struct NativeMemory {
    /// Bytes the addon holds now.
    pub live: f64,
    /// The most it held since it was loaded (or since `resetNativePeak`).
    pub peak: f64,
    /// Sizes of the allocations of at least 1 MiB live when the peak was last raised by one,
    /// largest first.
    pub large_at_peak: Vec<f64>,
}

#[napi]
pub fn native_memory() -> NativeMemory {
    let mut large: Vec<f64> = AT_PEAK.iter().map(|s| s.load(Ordering::Relaxed)).filter(|&s| s > 0).map(|s| s as f64).collect();
    large.sort_by(|a, b| b.total_cmp(a));
    NativeMemory { live: LIVE.load(Ordering::Relaxed) as f64, peak: PEAK.load(Ordering::Relaxed) as f64, large_at_peak: large }
}

/// Start a new high-water mark from what is live now.
#[napi]
pub fn reset_native_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    for s in &AT_PEAK {
        s.store(0, Ordering::Relaxed);
    }
}
