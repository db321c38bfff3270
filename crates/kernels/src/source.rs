//! Input weights as they sit in a safetensors file: f32, f16 or bf16, borrowed, never copied
//! whole. Kernels consume f32; [`Source::segment_f32`] converts one bounded segment at a time
//! into a caller-owned scratch buffer (the half crate's slice conversion uses F16C when present).

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    Bf16(&'a [bf16]),
}

impl<'a> Source<'a> {
    pub fn len(&self) -> usize {
        match self {
            Source::F32(s) => s.len(),
            Source::F16(s) => s.len(),
            Source::Bf16(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A sub-range of the same source (for splitting work by rows).
    pub fn slice(&self, start: usize, end: usize) -> Source<'a> {
        match self {
            Source::F32(s) => Source::F32(&s[start..end]),
            Source::F16(s) => Source::F16(&s[start..end]),
            Source::Bf16(s) => Source::Bf16(&s[start..end]),
        }
    }

    /// Elements `start..end` as f32: borrowed directly for f32 input, otherwise converted into
    /// `scratch` (which is grown to the segment length and reused across calls).
    pub fn segment_f32<'s>(&'s self, start: usize, end: usize, scratch: &'s mut Vec<f32>) -> &'s [f32] {
        match self {
            Source::F32(s) => &s[start..end],
            Source::F16(s) => {
                scratch.resize(end - start, 0.0);
                s[start..end].convert_to_f32_slice(scratch);
                scratch
            }
            Source::Bf16(s) => {
                scratch.resize(end - start, 0.0);
                s[start..end].convert_to_f32_slice(scratch);
                scratch
            }
        }
    }

    /// The bytes of elements `start..end` as they sit in memory (for cache hints).
    pub fn bytes(&self, start: usize, end: usize) -> &'a [u8] {
        fn raw<T>(s: &[T]) -> &[u8] {
            // SAFETY: f32, f16 and bf16 are plain 4- or 2-byte values without padding, so their
            // memory is `size_of_val(s)` initialised bytes, borrowed for as long as `s` is.
            unsafe { std::slice::from_raw_parts(s.as_ptr() as *const u8, std::mem::size_of_val(s)) }
        }
        match self {
            Source::F32(s) => raw(&s[start..end]),
            Source::F16(s) => raw(&s[start..end]),
            Source::Bf16(s) => raw(&s[start..end]),
        }
    }

    /// One element as f32 (used only on error paths and in references).
    pub fn get_f32(&self, i: usize) -> f32 {
        match self {
            Source::F32(s) => s[i],
            Source::F16(s) => s[i].to_f32(),
            Source::Bf16(s) => s[i].to_f32(),
        }
    }
}
