//! The engine: the one place that owns models — which are on disk, which is loaded,
//! what each is doing — and the entry point every face of Murmur (CLI, Swift, C, the
//! daemon) calls.
//!
//! State machine, per model, as in the seeds:
//!
//! ```text
//! NotDownloaded ─download→ Downloading ─done→ Downloaded ─load→ Loading ─done→ Ready
//!       ↑                  │ failed/cancelled      ↑  ↑           │ failed        │
//!       └──────────────────┘                       │  └───────────┘               │
//!       ↑ delete                                   └──── unload / idle timeout ───┘
//! ```
//!
//! A failure leaves the model where it was and records the error (in its status and as
//! an [`Event::Error`]). States are not stored: each is read off the facts (an active
//! download or load, the loaded model, a complete snapshot in the cache), so they cannot
//! drift from the disk.
//!
//! Concurrency: two slots, one text model and one speech model, can be loaded at once
//! (dictation transcribes, then refines); loading another model of a kind unloads the
//! first, after its running call finishes. Lifecycle changes are serialized by one async
//! lock per slot, so concurrent callers share one load. Calls on a loaded model are
//! serialized by its own lock and run on the blocking pool (MLX work is blocking; a model
//! keeps no lazy array, so any thread may run it). Loads and unloads run in spawned
//! tasks: a caller that gives up waiting never leaves a half-done transition behind.
//! After `idle_unload` without use a model is unloaded and MLX's buffer cache cleared;
//! the next call loads it again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard, broadcast};

use crate::audio::AudioInput;
use crate::cancel::CancelToken;
use crate::catalog::{AddModel, Capability, Catalog, CatalogModel, ModelSource};
use crate::error::{Error, Result};
use crate::hub::{DownloadProgress, Hub, HubConfig, SnapshotSpec};
use crate::llm::chat::ChatModel;
use crate::refine::{RefineOptions, RefineResult};
use crate::system::{RamTier, total_memory_bytes};
use crate::transcribe::{Segment, TranscribeOptions, Transcript};
use crate::whisper::WhisperModel;
use crate::whisper::longform::transcribe_samples;

/// The seeds' default model unload timeout.
pub const DEFAULT_IDLE_UNLOAD: Duration = Duration::from_secs(5 * 60);

/// Called on the loading thread before a model's files are read (with its id): lets a
/// test hold a load open to observe the `Loading` state, or an app log load starts.
pub type LoadHook = Arc<dyn Fn(&str) + Send + Sync>;

/// Engine settings.
#[derive(Clone)]
pub struct EngineConfig {
    /// Hub endpoint, token, cache folder, offline mode, retries.
    pub hub: HubConfig,
    /// Murmur's own settings folder; the user's added models live in `models.json` here.
    pub config_dir: PathBuf,
    /// Unload the loaded model after this long unused (`None`: never).
    pub idle_unload: Option<Duration>,
    /// The text model `refine(None, ..)` uses when none is loaded (default: the
    /// recommendation for this machine's RAM).
    pub default_model: Option<String>,
    /// The speech model `transcribe(None, ..)` uses when none is loaded (default: the
    /// recommendation for this machine's RAM).
    pub default_audio_model: Option<String>,
    /// Physical memory to base the recommendation on (default: this machine's).
    pub ram_bytes: Option<u64>,
    pub load_hook: Option<LoadHook>,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("hub", &self.hub)
            .field("config_dir", &self.config_dir)
            .field("idle_unload", &self.idle_unload)
            .field("default_model", &self.default_model)
            .field("default_audio_model", &self.default_audio_model)
            .field("ram_bytes", &self.ram_bytes)
            .field("load_hook", &self.load_hook.as_ref().map(|_| "<hook>"))
            .finish()
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self::from_env()
    }
}

impl EngineConfig {
    /// Hugging Face settings from the environment ([`HubConfig::from_env`]), Murmur's
    /// folder from `$MURMUR_CONFIG_DIR` (else the platform's config folder), the idle
    /// timeout from `$MURMUR_IDLE_UNLOAD_SECS` (0: never; default 5 minutes) and the
    /// default models from `$MURMUR_DEFAULT_MODEL` and `$MURMUR_DEFAULT_AUDIO_MODEL`.
    pub fn from_env() -> Self {
        use crate::hub::var;
        let idle_unload = match var("MURMUR_IDLE_UNLOAD_SECS").and_then(|s| s.parse::<f64>().ok()) {
            Some(s) if s <= 0.0 => None,
            Some(s) => Some(Duration::from_secs_f64(s)),
            None => Some(DEFAULT_IDLE_UNLOAD),
        };
        Self {
            hub: HubConfig::from_env(),
            config_dir: var("MURMUR_CONFIG_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(default_config_dir),
            idle_unload,
            default_model: var("MURMUR_DEFAULT_MODEL"),
            default_audio_model: var("MURMUR_DEFAULT_AUDIO_MODEL"),
            ram_bytes: None,
            load_hook: None,
        }
    }

    /// Where the user's added models are saved.
    pub fn user_models_path(&self) -> PathBuf {
        self.config_dir.join("models.json")
    }
}

fn default_config_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    if cfg!(target_vendor = "apple") {
        return home.join("Library/Application Support/Murmur");
    }
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"))
        .join("murmur")
}

/// Where a model is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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

/// What happened, for UIs and logs: the seeds' `MlxModelStateEvent`
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

/// Something a model is busy with, which excludes the others.
enum Activity {
    Downloading {
        cancel: CancelToken,
        progress: Option<DownloadProgress>,
    },
    Loading,
    Deleting,
}

impl Activity {
    fn name(&self) -> &'static str {
        match self {
            Activity::Downloading { .. } => "downloading",
            Activity::Loading => "loading",
            Activity::Deleting => "deleting",
        }
    }
}

/// Which slot a model loads into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Audio,
}

impl Kind {
    fn of(m: &CatalogModel) -> Self {
        if m.has(Capability::Audio) && !m.has(Capability::Text) {
            Kind::Audio
        } else {
            Kind::Text
        }
    }
}

/// A loaded model of either kind.
enum Model {
    Chat(ChatModel),
    Whisper(WhisperModel),
}

impl Model {
    fn load(kind: Kind, path: &Path) -> Result<Self> {
        Ok(match kind {
            Kind::Text => Model::Chat(ChatModel::load(path)?),
            Kind::Audio => Model::Whisper(WhisperModel::load(path)?),
        })
    }
}

/// A loaded model.
struct Loaded {
    id: String,
    kind: Kind,
    /// `None` once unloaded: a caller that got this `Loaded` just before an unload finds
    /// the model gone and asks for a fresh load.
    model: Arc<AsyncMutex<Option<Model>>>,
    last_used: Mutex<Instant>,
    /// Calls holding or waiting for the model.
    users: AtomicUsize,
}

impl Loaded {
    fn touch(&self) {
        *self.last_used.lock().unwrap() = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_used.lock().unwrap().elapsed()
    }

    fn users(&self) -> usize {
        self.users.load(Ordering::SeqCst)
    }
}

/// Counts one call as a user of a loaded model; marks the use when dropped (which
/// restarts the idle timer).
struct Use(Arc<Loaded>);

impl Use {
    fn new(loaded: &Arc<Loaded>) -> Self {
        loaded.users.fetch_add(1, Ordering::SeqCst);
        loaded.touch();
        Use(loaded.clone())
    }
}

impl Drop for Use {
    fn drop(&mut self) {
        self.0.touch();
        self.0.users.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Where one kind of model is loaded.
#[derive(Default)]
struct Slot {
    /// Lifecycle lock and the loaded model.
    lock: Arc<AsyncMutex<Option<Arc<Loaded>>>>,
    /// The same model, readable without awaiting (for status).
    current: Mutex<Option<Arc<Loaded>>>,
}

impl Slot {
    fn current(&self) -> Option<Arc<Loaded>> {
        self.current.lock().unwrap().clone()
    }
}

struct Inner {
    config: EngineConfig,
    hub: Hub,
    catalog: RwLock<Catalog>,
    activity: Mutex<HashMap<String, Activity>>,
    errors: Mutex<HashMap<String, String>>,
    text: Slot,
    audio: Slot,
    events: broadcast::Sender<Event>,
}

/// Removes an activity when dropped, however the operation ended.
struct ActivityGuard {
    inner: Arc<Inner>,
    id: String,
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        self.inner.activity.lock().unwrap().remove(&self.id);
    }
}

/// The engine. Cheap to clone (one `Arc`); `Send + Sync`. Async methods need a tokio
/// runtime; events go to every [`Engine::subscribe`]r.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `config`'s cache and settings. Nothing is loaded or downloaded.
    pub fn new(config: EngineConfig) -> Result<Self> {
        let hub = Hub::new(config.hub.clone())?;
        let catalog = Catalog::load(&config.user_models_path())?;
        let (events, _) = broadcast::channel(1024);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                hub,
                catalog: RwLock::new(catalog),
                activity: Mutex::new(HashMap::new()),
                errors: Mutex::new(HashMap::new()),
                text: Slot::default(),
                audio: Slot::default(),
                events,
            }),
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// Events from now on. A receiver that falls more than 1024 events behind skips
    /// the oldest (`RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// The catalog entry `id` (an id, alias or repository id) names.
    pub fn resolve(&self, id: &str) -> Result<CatalogModel> {
        self.inner.catalog.read().unwrap().resolve(id).cloned()
    }

    /// Every built-in and user model with its state, size on disk and recommendation.
    pub fn models(&self) -> Vec<ModelStatus> {
        let models = self.inner.catalog.read().unwrap().models().to_vec();
        let recommended = self.recommended_ids();
        models
            .into_iter()
            .map(|m| self.inner.status_of(m, &recommended))
            .collect()
    }

    /// One model's status.
    pub fn model(&self, id: &str) -> Result<ModelStatus> {
        let m = self.resolve(id)?;
        Ok(self.inner.status_of(m, &self.recommended_ids()))
    }

    fn recommended_ids(&self) -> [String; 2] {
        [
            self.recommended_model().id,
            self.recommended_audio_model().id,
        ]
    }

    /// The text model recommended for this machine's RAM (≤ 8 GB → Qwen3 1.7B,
    /// 9–16 GB → Qwen3 4B, more → Qwen3 8B).
    pub fn recommended_model(&self) -> CatalogModel {
        self.inner
            .catalog
            .read()
            .unwrap()
            .recommended(self.inner.ram_tier())
            .clone()
    }

    /// The speech model recommended for this machine's RAM (≤ 8 GB → Whisper base,
    /// more → Whisper large-v3 turbo).
    pub fn recommended_audio_model(&self) -> CatalogModel {
        self.inner
            .catalog
            .read()
            .unwrap()
            .recommended_audio(self.inner.ram_tier())
            .clone()
    }

    /// The text model a call that names none uses when none is loaded: the configured
    /// default, else the recommendation.
    pub fn default_model(&self) -> Result<CatalogModel> {
        match &self.inner.config.default_model {
            Some(id) => self.resolve(id),
            None => Ok(self.recommended_model()),
        }
    }

    /// The speech model a call that names none uses when none is loaded: the
    /// configured default, else the recommendation.
    pub fn default_audio_model(&self) -> Result<CatalogModel> {
        match &self.inner.config.default_audio_model {
            Some(id) => self.resolve(id),
            None => Ok(self.recommended_audio_model()),
        }
    }

    /// Add a model by repository id or local folder (saved for next time).
    pub fn add_model(&self, add: &AddModel) -> Result<ModelStatus> {
        let m = self.inner.catalog.write().unwrap().add(add)?;
        self.model(&m.id)
    }

    /// Forget a user-added model (its files are left alone; [`Engine::delete`] first to
    /// remove a downloaded one).
    pub fn remove_model(&self, id: &str) -> Result<CatalogModel> {
        let m = self.resolve(id)?;
        if self.inner.activity.lock().unwrap().contains_key(&m.id) || self.inner.is_loaded(&m.id) {
            return Err(Error::Busy {
                model: m.id,
                state: "in use".into(),
            });
        }
        self.inner.catalog.write().unwrap().remove(&m.id)
    }

    /// The folder of a downloaded model (for loading it elsewhere, e.g. a transcriber).
    pub fn model_path(&self, id: &str) -> Result<PathBuf> {
        let m = self.resolve(id)?;
        self.inner
            .local_path(&m)
            .ok_or(Error::NotDownloaded { model: m.id })
    }

    /// Download a model's files into the Hugging Face cache (a no-op for a complete
    /// one, a resume for a partial one). `on_progress` runs on the calling task;
    /// `cancel` stops it at once with [`Error::Cancelled`] (so does
    /// [`Engine::cancel_download`]). Refused with [`Error::Busy`] while the model is
    /// already downloading or being deleted.
    pub async fn download(
        &self,
        id: &str,
        mut on_progress: impl FnMut(&DownloadProgress) + Send,
        cancel: &CancelToken,
    ) -> Result<ModelStatus> {
        let m = self.resolve(id)?;
        let ModelSource::Hub { repo, revision } = &m.source else {
            // A local folder is already where it will be loaded from.
            return self.model(&m.id);
        };
        let busy = self.inner.begin(
            &m.id,
            Activity::Downloading {
                cancel: cancel.clone(),
                progress: None,
            },
        )?;
        self.inner.emit(Event::DownloadStarted {
            model_id: m.id.clone(),
        });
        let spec = SnapshotSpec {
            repo: repo.clone(),
            revision: revision.clone(),
            files: m.files.clone(),
            required: m.required.clone(),
        };
        let inner = &self.inner;
        let mut report = |p: &DownloadProgress| {
            if let Some(Activity::Downloading { progress, .. }) =
                inner.activity.lock().unwrap().get_mut(&m.id)
            {
                *progress = Some(p.clone());
            }
            inner.emit(Event::DownloadProgress {
                model_id: m.id.clone(),
                progress: p.fraction(),
                detail: p.clone(),
            });
            on_progress(p);
        };
        let outcome = inner.hub.download(&spec, &mut report, cancel).await;
        // The activity ends before the outcome is announced, so a listener that asks for
        // the status on an event already sees the new state.
        drop(busy);
        match outcome {
            Ok(snapshot) => {
                inner.errors.lock().unwrap().remove(&m.id);
                if !m.builtin {
                    let arch = crate::catalog::read_model_type(&snapshot.path);
                    inner.catalog.write().unwrap().update(&m.id, |e| {
                        e.download_bytes = Some(snapshot.bytes);
                        if let Some(arch) = arch {
                            e.architecture = arch;
                        }
                    })?;
                }
                inner.emit(Event::DownloadCompleted {
                    model_id: m.id.clone(),
                    bytes: snapshot.bytes,
                });
                self.model(&m.id)
            }
            Err(Error::Cancelled) => {
                inner.emit(Event::DownloadCancelled {
                    model_id: m.id.clone(),
                });
                Err(Error::Cancelled)
            }
            Err(e) => Err(inner.fail(&m.id, e)),
        }
    }

    /// Cancel a running download of `id`; `false` when there is none.
    pub fn cancel_download(&self, id: &str) -> bool {
        let Ok(m) = self.resolve(id) else {
            return false;
        };
        match self.inner.activity.lock().unwrap().get(&m.id) {
            Some(Activity::Downloading { cancel, .. }) => {
                cancel.cancel();
                true
            }
            _ => false,
        }
    }

    /// Delete a downloaded model from the cache (the whole `models--org--name` folder,
    /// partial downloads included). A loaded but idle model is unloaded first; refused
    /// with [`Error::Busy`] while it downloads, loads or works on a call. Local-folder
    /// models are never deleted (see [`Engine::remove_model`]).
    pub async fn delete(&self, id: &str) -> Result<()> {
        let m = self.resolve(id)?;
        let Some(repo) = m.repo().map(str::to_string) else {
            return Err(Error::InvalidArgument {
                name: "model".into(),
                reason: format!("{} is a local folder; Murmur does not delete it", m.id),
            });
        };
        let busy = self.inner.begin(&m.id, Activity::Deleting)?;
        let inner = self.inner.clone();
        let id = m.id.clone();
        let kind = Kind::of(&m);
        // Detached, so a caller that stops waiting cannot leave the model half-deleted.
        tokio::spawn(async move {
            let mut slot = inner.slot(kind).lock.clone().lock_owned().await;
            if let Some(loaded) = slot.as_ref().filter(|l| l.id == id) {
                if loaded.users() > 0 {
                    return Err(Error::Busy {
                        model: id,
                        state: "in use".into(),
                    });
                }
                let loaded = slot.take().expect("checked");
                inner.unload_locked(loaded, UnloadReason::Deleted).await;
            }
            drop(slot);
            let cache = inner.hub.cache().repo(&repo);
            let dir = cache.dir().to_path_buf();
            let removed = tokio::task::spawn_blocking(move || cache.remove()).await;
            drop(busy);
            removed
                .map_err(|e| join_error(&id, e))?
                .map_err(|e| Error::io(dir, e))?;
            inner.errors.lock().unwrap().remove(&id);
            inner.emit(Event::Deleted { model_id: id });
            Ok(())
        })
        .await
        .map_err(|e| join_error(&m.id, e))?
    }

    /// Load a model (unloading any other of its kind: text or speech). Concurrent loads
    /// of one model share the work; returns once it is ready.
    ///
    /// `cancel` ends the call at once with [`Error::Cancelled`], also while it waits for
    /// another load. The reading already under way finishes on its thread (MLX reads the
    /// weights in one evaluation) and is then dropped: the model goes back to Downloaded
    /// (an [`Event::Unloaded`] with [`UnloadReason::Cancelled`]) and its memory is freed.
    pub async fn load(&self, id: &str, cancel: &CancelToken) -> Result<()> {
        let m = self.resolve(id)?;
        self.acquire(&m, Kind::of(&m), cancel).await.map(drop)
    }

    /// Unload the loaded models, each after its running call finishes, and free MLX's
    /// cache. Returns the ids of the models unloaded (text first).
    pub async fn unload(&self) -> Result<Vec<String>> {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for kind in [Kind::Text, Kind::Audio] {
                let mut slot = inner.slot(kind).lock.clone().lock_owned().await;
                if let Some(loaded) = slot.take() {
                    ids.push(loaded.id.clone());
                    inner.unload_locked(loaded, UnloadReason::Requested).await;
                }
            }
            ids
        })
        .await
        .map_err(|e| join_error("", e))
    }

    /// The engine's state: what is loaded, loading, downloading, and MLX's memory.
    pub fn status(&self) -> EngineStatus {
        let (text, audio) = (self.inner.text.current(), self.inner.audio.current());
        let activity = self.inner.activity.lock().unwrap();
        EngineStatus {
            loaded: text.as_ref().map(|l| l.id.clone()),
            loaded_audio: audio.as_ref().map(|l| l.id.clone()),
            in_use: [&text, &audio]
                .iter()
                .any(|l| l.as_ref().is_some_and(|l| l.users() > 0)),
            loading: activity
                .iter()
                .find(|(_, a)| matches!(a, Activity::Loading))
                .map(|(id, _)| id.clone()),
            downloads: activity
                .iter()
                .filter_map(|(id, a)| match a {
                    Activity::Downloading { progress, .. } => Some(ActiveDownload {
                        model_id: id.clone(),
                        progress: progress.clone(),
                    }),
                    _ => None,
                })
                .collect(),
            idle_unload_secs: self.inner.config.idle_unload.map(|d| d.as_secs_f64()),
            memory: MemoryUsage::current(),
        }
    }

    /// Refine `text` with a text model (`None`: the loaded one, else the configured
    /// default, else the recommendation), loading it first if needed. The refined text
    /// streams to `on_text` (called on a blocking thread) as it is generated; `cancel`
    /// stops generation within one token (the result then has `StopReason::Cancelled`),
    /// or ends a call still loading its model or queued behind another with
    /// [`Error::Cancelled`] (a load it started is dropped, as in [`Engine::load`]).
    pub async fn refine(
        &self,
        model: Option<&str>,
        text: &str,
        opts: &RefineOptions,
        mut on_text: impl FnMut(&str) + Send + 'static,
        cancel: &CancelToken,
    ) -> Result<RefineResult> {
        let m = self.model_for(model, Kind::Text)?;
        let (text, opts) = (text.to_string(), opts.clone());
        self.run(&m, Kind::Text, cancel, move |model, cancel| match model {
            Model::Chat(chat) => crate::refine::refine(chat, &text, &opts, cancel, &mut on_text),
            Model::Whisper(_) => unreachable!("the text slot holds chat models"),
        })
        .await
    }

    /// Transcribe `audio` with a speech model (`None`: the loaded one, else the
    /// configured default, else the recommendation), loading it first if needed.
    /// Segments stream to `on_segment` (called on a blocking thread) as each window is
    /// decoded; `cancel` stops within one decoding step, or ends a call still loading
    /// its model or queued behind another, with [`Error::Cancelled`].
    pub async fn transcribe(
        &self,
        model: Option<&str>,
        audio: AudioInput,
        opts: &TranscribeOptions,
        mut on_segment: impl FnMut(&Segment) + Send + 'static,
        cancel: &CancelToken,
    ) -> Result<Transcript> {
        let m = self.model_for(model, Kind::Audio)?;
        // Decode the audio first: unreadable audio fails fast, without loading a model.
        let samples = tokio::task::spawn_blocking(move || crate::audio::load_16k_mono(&audio))
            .await
            .map_err(|e| join_error(&m.id, e))??;
        let opts = opts.clone();
        self.run(&m, Kind::Audio, cancel, move |model, cancel| match model {
            Model::Whisper(whisper) => {
                transcribe_samples(whisper, &samples, &opts, cancel, &mut on_segment)
            }
            Model::Chat(_) => unreachable!("the audio slot holds speech models"),
        })
        .await
    }

    /// The model a call names, or the default for `kind`; refused when it is of the
    /// other kind.
    fn model_for(&self, id: Option<&str>, kind: Kind) -> Result<CatalogModel> {
        let m = match id {
            Some(id) => self.resolve(id)?,
            None => match self.inner.slot(kind).current() {
                Some(l) => self.resolve(&l.id)?,
                None => match kind {
                    Kind::Text => self.default_model()?,
                    Kind::Audio => self.default_audio_model()?,
                },
            },
        };
        if Kind::of(&m) != kind {
            let (what, needs) = match kind {
                Kind::Text => ("a speech model", "refining needs a text model"),
                Kind::Audio => ("a text model", "transcribing needs a speech model"),
            };
            return Err(Error::InvalidArgument {
                name: "model".into(),
                reason: format!("{} is {what}; {needs}", m.id),
            });
        }
        Ok(m)
    }

    /// Run `work` on the loaded model `m` (loading it if needed) on the blocking pool,
    /// after the calls queued before it.
    async fn run<T: Send + 'static>(
        &self,
        m: &CatalogModel,
        kind: Kind,
        cancel: &CancelToken,
        work: impl FnOnce(&Model, &CancelToken) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let mut work = Some(work);
        loop {
            let (loaded, usage) = self.acquire(m, kind, cancel).await?;
            // Queued behind another call: a cancel while waiting ends this one.
            let guard = tokio::select! {
                g = loaded.model.clone().lock_owned() => g,
                _ = crate::hub::cancelled(cancel) => return Err(Error::Cancelled),
            };
            if guard.is_none() {
                // Unloaded while we queued: load it again.
                drop(usage);
                continue;
            }
            let (work, cancel) = (work.take().expect("runs once"), cancel.clone());
            return tokio::task::spawn_blocking(move || {
                let _usage = usage;
                work(guard.as_ref().expect("checked above"), &cancel)
            })
            .await
            .map_err(|e| join_error(&m.id, e))?;
        }
    }

    /// The loaded model `m`, loading it into `kind`'s slot if needed, counted as in use.
    /// A cancel returns at once (a token cancelled beforehand always does); a load it
    /// started goes on in its own task, which sees the token and drops the model when
    /// the reading ends. A load that finished first is reported as done.
    async fn acquire(
        &self,
        m: &CatalogModel,
        kind: Kind,
        cancel: &CancelToken,
    ) -> Result<(Arc<Loaded>, Use)> {
        let lock = self.inner.slot(kind).lock.clone();
        let mut slot = tokio::select! {
            biased;
            _ = crate::hub::cancelled(cancel) => return Err(Error::Cancelled),
            slot = lock.lock_owned() => slot,
        };
        if let Some(loaded) = slot.as_ref().filter(|l| l.id == m.id) {
            return Ok((loaded.clone(), Use::new(loaded)));
        }
        let (inner, m, token) = (self.inner.clone(), m.clone(), cancel.clone());
        let load = tokio::spawn(async move {
            let loaded = inner.load_locked(&mut slot, &m, &token).await?;
            let usage = Use::new(&loaded);
            Ok((loaded, usage))
        });
        tokio::select! {
            biased;
            done = load => done.map_err(|e| join_error("", e))?,
            _ = crate::hub::cancelled(cancel) => Err(Error::Cancelled),
        }
    }
}

fn join_error(id: &str, e: tokio::task::JoinError) -> Error {
    Error::Internal {
        what: if id.is_empty() {
            "an engine task".into()
        } else {
            format!("the task for {id}")
        },
        reason: if e.is_panic() {
            "it panicked".into()
        } else {
            "it was cancelled".into()
        },
    }
}

impl Inner {
    fn emit(&self, event: Event) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    /// Record a failure for the model's status, announce it, and hand it back.
    fn fail(&self, id: &str, e: Error) -> Error {
        let msg = e.to_string();
        self.errors
            .lock()
            .unwrap()
            .insert(id.to_string(), msg.clone());
        self.emit(Event::Error {
            model_id: id.to_string(),
            error: msg,
        });
        e
    }

    fn begin(self: &Arc<Self>, id: &str, activity: Activity) -> Result<ActivityGuard> {
        let mut map = self.activity.lock().unwrap();
        if let Some(current) = map.get(id) {
            return Err(Error::Busy {
                model: id.to_string(),
                state: current.name().into(),
            });
        }
        map.insert(id.to_string(), activity);
        Ok(ActivityGuard {
            inner: self.clone(),
            id: id.to_string(),
        })
    }

    fn slot(&self, kind: Kind) -> &Slot {
        match kind {
            Kind::Text => &self.text,
            Kind::Audio => &self.audio,
        }
    }

    fn is_loaded(&self, id: &str) -> bool {
        [&self.text, &self.audio]
            .iter()
            .any(|s| s.current().is_some_and(|l| l.id == id))
    }

    fn ram_tier(&self) -> RamTier {
        self.config
            .ram_bytes
            .or_else(total_memory_bytes)
            .map_or(RamTier::Small, RamTier::from_bytes)
    }

    fn spec(m: &CatalogModel) -> Option<SnapshotSpec> {
        match &m.source {
            ModelSource::Hub { repo, revision } => Some(SnapshotSpec {
                repo: repo.clone(),
                revision: revision.clone(),
                files: m.files.clone(),
                required: m.required.clone(),
            }),
            ModelSource::Local { .. } => None,
        }
    }

    /// The folder to load `m` from, when it is complete on disk.
    fn local_path(&self, m: &CatalogModel) -> Option<PathBuf> {
        match &m.source {
            ModelSource::Hub { .. } => self.hub.local_snapshot(&Self::spec(m)?).map(|s| s.path),
            ModelSource::Local { path } => path.is_dir().then(|| path.clone()),
        }
    }

    fn status_of(&self, m: CatalogModel, recommended: &[String; 2]) -> ModelStatus {
        let (activity, progress) = match self.activity.lock().unwrap().get(&m.id) {
            Some(Activity::Downloading { progress, .. }) => {
                (Some(ModelState::Downloading), progress.clone())
            }
            Some(Activity::Loading) => (Some(ModelState::Loading), None),
            Some(Activity::Deleting) | None => (None, None),
        };
        let current = self.slot(Kind::of(&m)).current().filter(|l| l.id == m.id);
        let path = self.local_path(&m);
        let state = activity.unwrap_or(if current.is_some() {
            ModelState::Ready
        } else if path.is_some() {
            ModelState::Downloaded
        } else {
            ModelState::NotDownloaded
        });
        let disk_bytes = match &m.source {
            ModelSource::Hub { repo, .. } => self.hub.cache().repo(repo).size_on_disk(),
            ModelSource::Local { path } => local_size(path),
        };
        ModelStatus {
            state,
            in_use: current.is_some_and(|l| l.users() > 0),
            recommended: recommended.contains(&m.id),
            disk_bytes,
            path,
            progress,
            last_error: self.errors.lock().unwrap().get(&m.id).cloned(),
            model: m,
        }
    }

    /// Load `m` into the slot (held by the caller), unloading what is there first.
    /// Cancelled before it starts, it leaves the slot as it is; cancelled while reading,
    /// it drops what it read.
    async fn load_locked(
        self: &Arc<Self>,
        slot: &mut OwnedMutexGuard<Option<Arc<Loaded>>>,
        m: &CatalogModel,
        cancel: &CancelToken,
    ) -> Result<Arc<Loaded>> {
        let path = self.local_path(m).ok_or_else(|| Error::NotDownloaded {
            model: m.id.clone(),
        })?;
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let busy = self.begin(&m.id, Activity::Loading)?;
        if let Some(old) = slot.take() {
            // One model of a kind at a time: free the old one before reading the new one.
            self.unload_locked(old, UnloadReason::Replaced).await;
        }
        self.emit(Event::LoadingStarted {
            model_id: m.id.clone(),
        });
        let started = Instant::now();
        let hook = self.config.load_hook.clone();
        let (id, kind) = (m.id.clone(), Kind::of(m));
        let loaded = tokio::task::spawn_blocking(move || {
            if let Some(hook) = hook {
                hook(&id);
            }
            Model::load(kind, &path)
        })
        .await
        .map_err(|e| join_error(&m.id, e))
        .and_then(|r| r);
        let model = match loaded {
            Ok(model) if cancel.is_cancelled() => {
                let _ = tokio::task::spawn_blocking(move || {
                    drop(model);
                    let _ = crate::mlx::memory::clear_cache();
                })
                .await;
                drop(busy);
                self.emit(Event::Unloaded {
                    model_id: m.id.clone(),
                    reason: UnloadReason::Cancelled,
                });
                return Err(Error::Cancelled);
            }
            Ok(model) => model,
            Err(e) => {
                drop(busy);
                // Loading → Downloaded: nothing is stored; MLX may hold scratch buffers.
                let _ = crate::mlx::memory::clear_cache();
                return Err(self.fail(&m.id, e));
            }
        };
        let loaded = Arc::new(Loaded {
            id: m.id.clone(),
            kind,
            model: Arc::new(AsyncMutex::new(Some(model))),
            last_used: Mutex::new(Instant::now()),
            users: AtomicUsize::new(0),
        });
        **slot = Some(loaded.clone());
        *self.slot(kind).current.lock().unwrap() = Some(loaded.clone());
        drop(busy);
        self.errors.lock().unwrap().remove(&m.id);
        self.emit(Event::LoadingCompleted {
            model_id: m.id.clone(),
            load_ms: started.elapsed().as_millis() as u64,
        });
        if let Some(idle) = self.config.idle_unload {
            spawn_idle_watch(Arc::downgrade(self), Arc::downgrade(&loaded), idle);
        }
        Ok(loaded)
    }

    /// Drop a model taken out of the slot (by a caller holding the slot lock), once its
    /// running call is done, and give MLX's cached buffers back to the system.
    async fn unload_locked(&self, loaded: Arc<Loaded>, reason: UnloadReason) {
        let model = loaded.model.clone().lock_owned().await.take();
        {
            let mut current = self.slot(loaded.kind).current.lock().unwrap();
            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &loaded)) {
                *current = None;
            }
        }
        let _ = tokio::task::spawn_blocking(move || {
            drop(model);
            let _ = crate::mlx::memory::clear_cache();
        })
        .await;
        self.emit(Event::Unloaded {
            model_id: loaded.id.clone(),
            reason,
        });
    }
}

/// Unload `loaded` once it has been unused for `idle`. The timer restarts with every
/// use; the watcher ends when the model is unloaded by any means.
fn spawn_idle_watch(inner: Weak<Inner>, loaded: Weak<Loaded>, idle: Duration) {
    tokio::spawn(async move {
        loop {
            let wait = {
                let Some(l) = loaded.upgrade() else { return };
                let unused = l.idle_for();
                if l.users() > 0 {
                    Some(idle)
                } else if unused < idle {
                    Some(idle - unused)
                } else {
                    None
                }
            };
            if let Some(wait) = wait {
                tokio::time::sleep(wait).await;
                continue;
            }
            let (Some(inner), Some(l)) = (inner.upgrade(), loaded.upgrade()) else {
                return;
            };
            let mut slot = inner.slot(l.kind).lock.clone().lock_owned().await;
            if !slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &l)) {
                return;
            }
            if l.users() > 0 || l.idle_for() < idle {
                continue;
            }
            let l = slot.take().expect("checked");
            inner.unload_locked(l, UnloadReason::Idle).await;
            return;
        }
    });
}

fn local_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                local_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(dir: &Path, ram_gib: u64) -> Engine {
        let mut config = EngineConfig::from_env();
        config.hub.cache_dir = dir.join("hub");
        config.hub.offline = true;
        config.config_dir = dir.join("conf");
        config.ram_bytes = Some(ram_gib << 30);
        Engine::new(config).unwrap()
    }

    #[test]
    fn fresh_engine_lists_every_model_not_downloaded() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path(), 16);
        let models = e.models();
        assert!(models.len() >= 11);
        assert!(
            models
                .iter()
                .all(|m| m.state == ModelState::NotDownloaded && m.disk_bytes == 0)
        );
        let rec: Vec<&str> = models
            .iter()
            .filter(|m| m.recommended)
            .map(|m| m.model.id.as_str())
            .collect();
        assert_eq!(
            rec,
            ["qwen3-4b", "whisper-large-v3-turbo"],
            "one of each kind"
        );
        assert_eq!(engine(dir.path(), 8).recommended_model().id, "qwen3-1.7b");
        assert_eq!(
            engine(dir.path(), 8).recommended_audio_model().id,
            "whisper-base"
        );
        assert_eq!(engine(dir.path(), 64).recommended_model().id, "qwen3-8b");
        let s = e.status();
        assert!(s.loaded.is_none() && s.downloads.is_empty());
        assert_eq!(
            s.idle_unload_secs,
            e.config().idle_unload.map(|d| d.as_secs_f64())
        );
    }

    #[test]
    fn events_serialize_like_the_seeds() {
        let e = Event::Unloaded {
            model_id: "qwen3-1.7b".into(),
            reason: UnloadReason::Idle,
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event_type"], "unloaded");
        assert_eq!(json["model_id"], "qwen3-1.7b");
        assert_eq!(e.model_id(), "qwen3-1.7b");
    }

    #[tokio::test]
    async fn unknown_and_missing_models_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path(), 8);
        assert!(matches!(
            e.load("nope", &CancelToken::new()).await,
            Err(Error::UnknownModel { .. })
        ));
        assert!(matches!(
            e.load("qwen3-0.6b", &CancelToken::new()).await,
            Err(Error::NotDownloaded { .. })
        ));
        assert!(matches!(
            e.load("whisper-tiny", &CancelToken::new()).await,
            Err(Error::NotDownloaded { .. })
        ));
        // Each call refuses a model of the other kind before touching the disk.
        let err = e
            .transcribe(
                Some("qwen3-0.6b"),
                AudioInput::Pcm16k(vec![0.0; 16_000]),
                &TranscribeOptions::default(),
                |_| {},
                &CancelToken::new(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { name, .. } if name == "model"),
            "{err:?}"
        );
        let err = e
            .refine(
                Some("whisper-base"),
                "text",
                &RefineOptions::default(),
                |_| {},
                &CancelToken::new(),
            )
            .await
            .unwrap_err();
        assert!(matches!(&err, Error::InvalidArgument { .. }), "{err:?}");
        assert!(matches!(
            e.download("qwen3-0.6b", |_| {}, &CancelToken::new()).await,
            Err(Error::Offline { .. })
        ));
        assert!(e.unload().await.unwrap().is_empty());
    }
}
