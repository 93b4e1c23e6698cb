//! One error type for the whole engine, with variants a caller can act on.

use std::path::PathBuf;

/// Result alias used throughout `murmur-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine. Variants carry the data a caller needs
/// to react (which file, which key), not just a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A model file exists but its contents are not what its format promises
    /// (truncated, wrong magic, inconsistent sizes, missing tensors or keys).
    #[error("{path} is not a valid model file: {reason}")]
    CorruptModel { path: PathBuf, reason: String },
    /// The model is well-formed but uses something Murmur does not implement.
    #[error("{path}: unsupported {what}")]
    Unsupported { path: PathBuf, what: String },
    /// MLX reported a failure (out of memory, shape mismatch, kernel error).
    #[error("MLX: {0}")]
    Mlx(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::CorruptModel {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl From<mlx_rs::error::Exception> for Error {
    fn from(e: mlx_rs::error::Exception) -> Self {
        Error::Mlx(e.what().to_string())
    }
}
