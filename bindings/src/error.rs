//! The one error type of the bindings: every variant of [`murmur_core::Error`] with its
//! fields, as a uniffi error enum (Swift: `MurmurError`) and a C error code.

use murmur_core::{Error as CoreError, ErrorKind};

/// Everything that can go wrong, with the data a caller needs to react.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display, Eq)]
pub enum MurmurError {
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// A model file is not what its format promises (truncated, wrong magic, missing keys).
    #[error("{path} is not a valid model file: {reason}")]
    CorruptModel { path: String, reason: String },
    /// The model uses something Murmur does not implement.
    #[error("{path}: unsupported {what}")]
    Unsupported { path: String, what: String },
    /// A setting or argument is outside its valid range; `name` is the setting.
    #[error("invalid {name}: {reason}")]
    InvalidArgument { name: String, reason: String },
    /// A tokenizer could not be built or failed to encode/decode.
    #[error("tokenizer: {message}")]
    Tokenizer { message: String },
    /// A chat template failed to compile or render.
    #[error("chat template: {reason}")]
    Template { reason: String },
    /// The prompt does not fit the model's context window.
    #[error("the prompt has {tokens} tokens; this model's context holds {limit}")]
    PromptTooLong { tokens: u64, limit: u64 },
    /// MLX reported a failure (out of memory, shape mismatch, kernel error).
    #[error("MLX: {message}")]
    Mlx { message: String },
    /// Downloading `file` of `repo` failed (network after retries, size or hash mismatch).
    #[error("downloading {repo}/{file}: {reason}")]
    Download {
        repo: String,
        file: String,
        reason: String,
    },
    /// The Hub refused access: a gated or private repository and no (valid) token.
    #[error(
        "access to {repo} was refused: it is gated or private; set HF_TOKEN to a token that has access"
    )]
    Unauthorized { repo: String },
    /// The repository, revision or file (`file` empty for the repository) does not exist.
    #[error("{repo}{}{file} was not found on the Hub", if file.is_empty() { "" } else { "/" })]
    NotFound { repo: String, file: String },
    /// Not enough free disk space for a download.
    #[error("not enough disk space: {needed} bytes needed, {available} available")]
    InsufficientDisk { needed: u64, available: u64 },
    /// Audio could not be used; `path` is `None` for audio passed in memory.
    #[error("{}: {reason}", path.as_deref().unwrap_or("audio"))]
    Audio {
        path: Option<String>,
        reason: String,
    },
    /// The operation was cancelled through its cancel handle (or Swift task cancellation).
    #[error("cancelled")]
    Cancelled,
    /// The model is downloading, loading or in use (`state` says which).
    #[error("model {model} is busy ({state})")]
    Busy { model: String, state: String },
    /// The model has to be downloaded first.
    #[error("model {model} is not downloaded")]
    NotDownloaded { model: String },
    /// No model has this id, alias or repository.
    #[error("unknown model {id:?}")]
    UnknownModel { id: String },
    /// Offline mode (`HF_HUB_OFFLINE`) and the model is not complete in the cache.
    #[error("offline mode (HF_HUB_OFFLINE) and {repo} is not complete in the local cache")]
    Offline { repo: String },
    /// A background task died (a panic, a runtime shutting down); `what` names it.
    #[error("{what} failed: {reason}")]
    Internal { what: String, reason: String },
    /// The audio is longer than this machine's dictation limit (`limits()`).
    #[error(
        "the audio is {seconds} s or longer; this machine dictates at most {limit_secs} s (its memory tier's limit)"
    )]
    AudioTooLong { seconds: u32, limit_secs: u32 },
}

fn path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

impl From<CoreError> for MurmurError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Io { path: p, source } => Self::Io {
                path: path(&p),
                message: source.to_string(),
            },
            CoreError::CorruptModel { path: p, reason } => Self::CorruptModel {
                path: path(&p),
                reason,
            },
            CoreError::Unsupported { path: p, what } => Self::Unsupported {
                path: path(&p),
                what,
            },
            CoreError::InvalidArgument { name, reason } => Self::InvalidArgument { name, reason },
            CoreError::Tokenizer(message) => Self::Tokenizer { message },
            CoreError::Template { reason } => Self::Template { reason },
            CoreError::PromptTooLong { tokens, limit } => Self::PromptTooLong {
                tokens: tokens as u64,
                limit: limit as u64,
            },
            CoreError::Mlx(message) => Self::Mlx { message },
            CoreError::Download { repo, file, reason } => Self::Download { repo, file, reason },
            CoreError::Unauthorized { repo } => Self::Unauthorized { repo },
            CoreError::NotFound { repo, file } => Self::NotFound { repo, file },
            CoreError::InsufficientDisk { needed, available } => {
                Self::InsufficientDisk { needed, available }
            }
            CoreError::Audio { path: p, reason } => Self::Audio {
                path: p.as_deref().map(path),
                reason,
            },
            CoreError::Cancelled => Self::Cancelled,
            CoreError::Busy { model, state } => Self::Busy { model, state },
            CoreError::NotDownloaded { model } => Self::NotDownloaded { model },
            CoreError::UnknownModel { id } => Self::UnknownModel { id },
            CoreError::Offline { repo } => Self::Offline { repo },
            CoreError::Internal { what, reason } => Self::Internal { what, reason },
            CoreError::AudioTooLong {
                seconds,
                limit_secs,
            } => Self::AudioTooLong {
                seconds,
                limit_secs,
            },
            // `murmur_core::Error` is non-exhaustive: a variant added there later still
            // arrives, with its message, until it gets its own case here.
            other => Self::Internal {
                what: "murmur".into(),
                reason: other.to_string(),
            },
        }
    }
}

/// C error codes (`MurmurStatus` in murmur.h): `0` is success, every other value names
/// one [`MurmurError`] variant (a required pointer that is NULL is an
/// `MURMUR_INVALID_ARGUMENT`); [`MURMUR_PANIC`] reports a panic caught at the boundary.
pub type MurmurStatus = i32;

pub const MURMUR_OK: MurmurStatus = 0;
pub const MURMUR_IO: MurmurStatus = 1;
pub const MURMUR_CORRUPT_MODEL: MurmurStatus = 2;
pub const MURMUR_UNSUPPORTED: MurmurStatus = 3;
pub const MURMUR_INVALID_ARGUMENT: MurmurStatus = 4;
pub const MURMUR_TOKENIZER: MurmurStatus = 5;
pub const MURMUR_TEMPLATE: MurmurStatus = 6;
pub const MURMUR_PROMPT_TOO_LONG: MurmurStatus = 7;
pub const MURMUR_MLX: MurmurStatus = 8;
pub const MURMUR_DOWNLOAD: MurmurStatus = 9;
pub const MURMUR_UNAUTHORIZED: MurmurStatus = 10;
pub const MURMUR_NOT_FOUND: MurmurStatus = 11;
pub const MURMUR_INSUFFICIENT_DISK: MurmurStatus = 12;
pub const MURMUR_AUDIO: MurmurStatus = 13;
pub const MURMUR_CANCELLED: MurmurStatus = 14;
pub const MURMUR_BUSY: MurmurStatus = 15;
pub const MURMUR_NOT_DOWNLOADED: MurmurStatus = 16;
pub const MURMUR_UNKNOWN_MODEL: MurmurStatus = 17;
pub const MURMUR_OFFLINE: MurmurStatus = 18;
pub const MURMUR_INTERNAL: MurmurStatus = 19;
pub const MURMUR_AUDIO_TOO_LONG: MurmurStatus = 20;
pub const MURMUR_PANIC: MurmurStatus = 100;

// The C header's codes are core's `ErrorKind` numbers (cbindgen needs literals here).
const _: () = {
    use ErrorKind as K;
    let pairs = [
        (MURMUR_IO, K::Io),
        (MURMUR_CORRUPT_MODEL, K::CorruptModel),
        (MURMUR_UNSUPPORTED, K::Unsupported),
        (MURMUR_INVALID_ARGUMENT, K::InvalidArgument),
        (MURMUR_TOKENIZER, K::Tokenizer),
        (MURMUR_TEMPLATE, K::Template),
        (MURMUR_PROMPT_TOO_LONG, K::PromptTooLong),
        (MURMUR_MLX, K::Mlx),
        (MURMUR_DOWNLOAD, K::Download),
        (MURMUR_UNAUTHORIZED, K::Unauthorized),
        (MURMUR_NOT_FOUND, K::NotFound),
        (MURMUR_INSUFFICIENT_DISK, K::InsufficientDisk),
        (MURMUR_AUDIO, K::Audio),
        (MURMUR_CANCELLED, K::Cancelled),
        (MURMUR_BUSY, K::Busy),
        (MURMUR_NOT_DOWNLOADED, K::NotDownloaded),
        (MURMUR_UNKNOWN_MODEL, K::UnknownModel),
        (MURMUR_OFFLINE, K::Offline),
        (MURMUR_INTERNAL, K::Internal),
        (MURMUR_AUDIO_TOO_LONG, K::AudioTooLong),
    ];
    let mut i = 0;
    while i < pairs.len() {
        assert!(
            pairs[i].0 == pairs[i].1.code(),
            "a C code differs from core's ErrorKind"
        );
        i += 1;
    }
};

impl MurmurError {
    /// Core's kind of this error (the variant of the same name).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Io { .. } => ErrorKind::Io,
            Self::CorruptModel { .. } => ErrorKind::CorruptModel,
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Self::Tokenizer { .. } => ErrorKind::Tokenizer,
            Self::Template { .. } => ErrorKind::Template,
            Self::PromptTooLong { .. } => ErrorKind::PromptTooLong,
            Self::Mlx { .. } => ErrorKind::Mlx,
            Self::Download { .. } => ErrorKind::Download,
            Self::Unauthorized { .. } => ErrorKind::Unauthorized,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::InsufficientDisk { .. } => ErrorKind::InsufficientDisk,
            Self::Audio { .. } => ErrorKind::Audio,
            Self::Cancelled => ErrorKind::Cancelled,
            Self::Busy { .. } => ErrorKind::Busy,
            Self::NotDownloaded { .. } => ErrorKind::NotDownloaded,
            Self::UnknownModel { .. } => ErrorKind::UnknownModel,
            Self::Offline { .. } => ErrorKind::Offline,
            Self::Internal { .. } => ErrorKind::Internal,
            Self::AudioTooLong { .. } => ErrorKind::AudioTooLong,
        }
    }

    /// The C error code of this variant.
    pub fn code(&self) -> MurmurStatus {
        self.kind().code()
    }
}

/// Only the engine's own errors cross the boundary; uniffi needs this to report a
/// callback that failed on the foreign side.
impl From<uniffi::UnexpectedUniFFICallbackError> for MurmurError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Internal {
            what: "a foreign callback".into(),
            reason: e.reason,
        }
    }
}
