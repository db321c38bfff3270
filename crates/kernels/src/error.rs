//! Errors a kernel can return. Each names where in the input the problem is, so the caller
//! (which knows the tensor and file) can produce a message a user can act on.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum KernelError {
    /// A NaN or infinity in the weights. `index` is the flat element index in the input slice.
    #[error("non-finite value {value} at element {index} (row {row}, column {col})")]
    NonFinite { index: usize, row: usize, col: usize, value: f32 },

    /// The input length does not match the shape the caller gave.
    #[error("input has {actual} elements but shape {rows}x{cols} needs {expected}")]
    ShapeMismatch { rows: usize, cols: usize, expected: usize, actual: usize },

    /// The format cannot represent this shape (e.g. GGUF blocks need rows divisible by 32).
    #[error("{format} needs a row length divisible by {multiple}, got {cols}")]
    RowLength { format: &'static str, multiple: usize, cols: usize },

    /// A parameter outside what the format supports.
    #[error("invalid {field}: {value} ({allowed})")]
    InvalidParameter { field: &'static str, value: String, allowed: &'static str },

    /// A packed buffer handed to a dequantizer has the wrong size.
    #[error("{what} has {actual} bytes/elements, expected {expected}")]
    BufferSize { what: &'static str, expected: usize, actual: usize },

    /// A calibration Hessian (after dampening) is not positive definite.
    #[error("the Hessian is not positive definite at column {column} even after dampening (calibration data degenerate?)")]
    NotPositiveDefinite { column: usize },

    /// An input read from a file (a calibration Hessian) could not be read; names the file.
    #[error("{0}")]
    Read(String),

    /// The thread pool could not be built.
    #[error("thread pool: {0}")]
    ThreadPool(String),
}

impl KernelError {
    /// Stable short name for bindings (becomes the JS error's `kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            KernelError::NonFinite { .. } => "NonFinite",
            KernelError::ShapeMismatch { .. } => "ShapeMismatch",
            KernelError::RowLength { .. } => "RowLength",
            KernelError::InvalidParameter { .. } => "InvalidParameter",
            KernelError::BufferSize { .. } => "BufferSize",
            KernelError::NotPositiveDefinite { .. } => "NotPositiveDefinite",
            KernelError::Read(_) => "Read",
            KernelError::ThreadPool(_) => "ThreadPool",
        }
    }
}

pub type Result<T> = std::result::Result<T, KernelError>;
