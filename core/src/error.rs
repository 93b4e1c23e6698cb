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
    /// A setting or argument is outside its valid range (e.g. a negative sampling
    /// temperature, logits of the wrong rank). `name` is the setting or argument.
    #[error("invalid {name}: {reason}")]
    InvalidArgument { name: String, reason: String },
    /// A tokenizer could not be built (malformed `tokenizer.json`) or failed to
    /// encode/decode. The message names the file where one is involved.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A chat template failed to compile or render (syntax error, an unsupported
    /// construct, or the template's own `raise_exception`, e.g. for a bad role order).
    #[error("chat template: {reason}")]
    Template { reason: String },
    /// The prompt does not fit the model's context window.
    #[error("the prompt has {tokens} tokens; this model's context holds {limit}")]
    PromptTooLong { tokens: usize, limit: usize },
    /// MLX reported a failure (out of memory, shape mismatch, kernel error).
    #[error("MLX: {0}")]
    Mlx(String),
    /// Downloading `file` of `repo` failed for a reason other than the typed ones below
    /// (network error after the retries, a size or sha256 mismatch, a malformed Hub reply).
    #[error("downloading {repo}/{file}: {reason}")]
    Download {
        repo: String,
        file: String,
        reason: String,
    },
    /// The Hub refused access (HTTP 401/403): a gated or private repository and no token,
    /// or a token without access. The token itself never appears in any error.
    #[error(
        "access to {repo} was refused: it is gated or private; set HF_TOKEN to a token that has access"
    )]
    Unauthorized { repo: String },
    /// The repository, revision or file does not exist on the Hub (`file` is empty when
    /// the repository or revision itself is missing).
    #[error("{repo}{}{file} was not found on the Hub", if file.is_empty() { "" } else { "/" })]
    NotFound { repo: String, file: String },
    /// Not enough free disk space for a download: `needed` includes a 100 MB margin.
    #[error("not enough disk space: {needed} bytes needed, {available} available")]
    InsufficientDisk { needed: u64, available: u64 },
    /// Audio could not be used: an empty, truncated or corrupt file, an unsupported
    /// codec or container, or a malformed PCM buffer. `path` is `None` for audio
    /// passed in memory.
    #[error("{}: {reason}", .path.as_ref().map_or_else(|| "audio".to_string(), |p| p.display().to_string()))]
    Audio {
        path: Option<PathBuf>,
        reason: String,
    },
    /// The operation was cancelled through its `CancelToken`.
    #[error("cancelled")]
    Cancelled,
    /// The model is downloading, loading or in use, so the operation is refused now
    /// (`state` says which); try again when it is idle.
    #[error("model {model} is busy ({state})")]
    Busy { model: String, state: String },
    /// The model has to be downloaded before it can be loaded or used.
    #[error("model {model} is not downloaded")]
    NotDownloaded { model: String },
    /// No catalog or user model has this id, alias or repository.
    #[error("unknown model {id:?}")]
    UnknownModel { id: String },
    /// Offline mode (`HF_HUB_OFFLINE`) and the model is not complete in the cache.
    #[error("offline mode (HF_HUB_OFFLINE) and {repo} is not complete in the local cache")]
    Offline { repo: String },
    /// A background task of the engine (a load, an unload, generation) died: a panic in
    /// it, or its runtime shutting down. `what` names the task.
    #[error("{what} failed: {reason}")]
    Internal { what: String, reason: String },

    /// Audio longer than this machine's dictation limit ([`crate::system::Limits`]):
    /// refused before any work, never cut short silently.
    #[error(
        "the audio is {seconds} s or longer; this machine dictates at most {limit_secs} s (its memory tier's limit)"
    )]
    AudioTooLong { seconds: u32, limit_secs: u32 },
}

/// What kind of failure an [`Error`] is: one name and one number per variant (new
/// kinds go last, so numbers never change), the
/// same on every face — the daemon's `error.kind`, the C status codes (`MURMUR_IO` =
/// 1, …) and the Raycast client's `MurmurError.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Io,
    CorruptModel,
    Unsupported,
    InvalidArgument,
    Tokenizer,
    Template,
    PromptTooLong,
    Mlx,
    Download,
    Unauthorized,
    NotFound,
    InsufficientDisk,
    Audio,
    Cancelled,
    Busy,
    NotDownloaded,
    UnknownModel,
    Offline,
    Internal,
    AudioTooLong,
}

impl ErrorKind {
    /// The stable name, e.g. `not_downloaded` (what JSON shows).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::CorruptModel => "corrupt_model",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Tokenizer => "tokenizer",
            ErrorKind::Template => "template",
            ErrorKind::PromptTooLong => "prompt_too_long",
            ErrorKind::Mlx => "mlx",
            ErrorKind::Download => "download",
            ErrorKind::Unauthorized => "hub_unauthorized",
            ErrorKind::NotFound => "hub_not_found",
            ErrorKind::InsufficientDisk => "insufficient_disk",
            ErrorKind::Audio => "audio",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Busy => "busy",
            ErrorKind::NotDownloaded => "not_downloaded",
            ErrorKind::UnknownModel => "unknown_model",
            ErrorKind::Offline => "offline",
            ErrorKind::Internal => "internal",
            ErrorKind::AudioTooLong => "audio_too_long",
        }
    }

    /// The stable number, 1 up in declaration order (the C status code; 0 is success).
    pub const fn code(self) -> i32 {
        self as i32 + 1
    }
}

impl Error {
    /// This error's kind (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
            Error::CorruptModel { .. } => ErrorKind::CorruptModel,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Error::Tokenizer(_) => ErrorKind::Tokenizer,
            Error::Template { .. } => ErrorKind::Template,
            Error::PromptTooLong { .. } => ErrorKind::PromptTooLong,
            Error::Mlx(_) => ErrorKind::Mlx,
            Error::Download { .. } => ErrorKind::Download,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::InsufficientDisk { .. } => ErrorKind::InsufficientDisk,
            Error::Audio { .. } => ErrorKind::Audio,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::NotDownloaded { .. } => ErrorKind::NotDownloaded,
            Error::UnknownModel { .. } => ErrorKind::UnknownModel,
            Error::Offline { .. } => ErrorKind::Offline,
            Error::Internal { .. } => ErrorKind::Internal,
            Error::AudioTooLong { .. } => ErrorKind::AudioTooLong,
        }
    }

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
