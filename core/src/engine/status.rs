//! What the engine reports: each model's state and status, the engine's, and the
//! events it announces.

use std::path::PathBuf;

use serde::Serialize;

use crate::catalog::CatalogModel;
use crate::hub::DownloadProgress;

/// Where a model is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ModelState {
    NotDownloaded,
    Downloading,
    Downloaded,
    Loading,
    Ready,
}

/// A model and what it is doing now.
#[derive(Debug, Clone, Serialize)]
pub struct ModelStatus {
    #[serde(flatten)]
    pub model: CatalogModel,
    pub state: ModelState,
    /// Loaded and working on (or queued for) a call.
    pub in_use: bool,
    /// The automatic recommendation for this machine.
    pub recommended: bool,
    /// Bytes the model takes in the cache (partial downloads included).
    pub disk_bytes: u64,
    /// The folder to load, when downloaded.
    pub path: Option<PathBuf>,
    /// The latest progress, while downloading.
    pub progress: Option<DownloadProgress>,
    /// The last failure of a download or load, until one succeeds.
    pub last_error: Option<String>,
}

/// MLX's memory use, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MemoryUsage {
    /// Held by live arrays (the loaded model's weights, a running generation).
    pub active_bytes: u64,
    /// The most ever held at once.
    pub peak_bytes: u64,
    /// Freed buffers MLX keeps for reuse (released by unloading).
    pub cache_bytes: u64,
}

impl MemoryUsage {
    pub fn current() -> Self {
        use crate::mlx::memory;
        Self {
            active_bytes: memory::active_memory().unwrap_or(0) as u64,
            peak_bytes: memory::peak_memory().unwrap_or(0) as u64,
            cache_bytes: memory::cache_memory().unwrap_or(0) as u64,
        }
    }
}

/// A download in progress.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveDownload {
    pub model_id: String,
    pub progress: Option<DownloadProgress>,
}

/// The engine as a whole.
#[derive(Debug, Clone, Serialize)]
pub struct EngineStatus {
    /// The loaded text model.
    pub loaded: Option<String>,
    /// The loaded speech model.
    pub loaded_audio: Option<String>,
    /// Whether a loaded model is working on (or has queued) a call.
    pub in_use: bool,
    /// A model being loaded.
    pub loading: Option<String>,
    pub downloads: Vec<ActiveDownload>,
    /// Seconds unused before a model is unloaded (`None`: never).
    pub idle_unload_secs: Option<f64>,
    pub memory: MemoryUsage,
}

/// Why a model was unloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum UnloadReason {
    /// [`Engine::unload`].
    Requested,
    /// Unused for the idle timeout.
    Idle,
    /// Another model was loaded in its place.
    Replaced,
    /// The model was deleted.
    Deleted,
    /// Its load was cancelled: it never became ready (Loading → Downloaded).
    Cancelled,
}

/// What happened, for UIs and logs: the Python sidecars' `MlxModelStateEvent`
/// (`{"event_type": "download_progress", "model_id": ..., "progress": 0.42}`) plus the
/// details a progress bar or log wants.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event_type", rename_all = "snake_case")]
pub enum Event {
    DownloadStarted {
        model_id: String,
    },
    DownloadProgress {
        model_id: String,
        /// Overall fraction done, 0.0–1.0.
        progress: f64,
        detail: DownloadProgress,
    },
    DownloadCompleted {
        model_id: String,
        bytes: u64,
    },
    DownloadCancelled {
        model_id: String,
    },
    LoadingStarted {
        model_id: String,
    },
    LoadingCompleted {
        model_id: String,
        load_ms: u64,
    },
    Unloaded {
        model_id: String,
        reason: UnloadReason,
    },
    Deleted {
        model_id: String,
    },
    Error {
        model_id: String,
        error: String,
    },
}

impl Event {
    pub fn model_id(&self) -> &str {
        match self {
            Event::DownloadStarted { model_id }
            | Event::DownloadProgress { model_id, .. }
            | Event::DownloadCompleted { model_id, .. }
            | Event::DownloadCancelled { model_id }
            | Event::LoadingStarted { model_id }
            | Event::LoadingCompleted { model_id, .. }
            | Event::Unloaded { model_id, .. }
            | Event::Deleted { model_id }
            | Event::Error { model_id, .. } => model_id,
        }
    }
}
