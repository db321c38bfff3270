use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, FormatError>;

/// Every error names the file it concerns and what was being done to it.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{path}: cannot {op}: {source}")]
    Io { path: PathBuf, op: &'static str, source: std::io::Error },

    #[error("{path}: {source}")]
    Parquet { path: PathBuf, source: parquet::errors::ParquetError },

    #[error("{path}: not an ArrowQuant file: {detail}")]
    NotArrowQuant { path: PathBuf, detail: String },

    #[error("{path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },

    #[error("invalid row for tensor {tensor:?} chunk {chunk}: {detail}")]
    InvalidRow { tensor: String, chunk: u32, detail: String },

    #[error("the writer for {path} was already finished or aborted")]
    Closed { path: PathBuf },
}

impl FormatError {
    pub fn kind(&self) -> &'static str {
        match self {
            FormatError::Io { .. } => "Io",
            FormatError::Parquet { .. } => "Parquet",
            FormatError::NotArrowQuant { .. } => "NotArrowQuant",
            FormatError::Corrupt { .. } => "Corrupt",
            FormatError::InvalidRow { .. } => "InvalidRow",
            FormatError::Closed { .. } => "Closed",
        }
    }
}
