//! The slot machinery: one slot per kind of model (text, speech), the loaded model it
//! holds, the calls using it, and the activity (download, load, delete) each model is
//! busy with.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex as AsyncMutex, broadcast};

use super::config::{EngineConfig, ModelPrecision};
use super::status::Event;
use crate::cancel::CancelToken;
use crate::catalog::{Capability, Catalog};
use crate::error::{Error, Result};
use crate::hub::{DownloadProgress, Hub};
use crate::llm::chat::{ChatModel, LoadOptions};
use crate::whisper::{WhisperLoadOptions, WhisperModel};

/// Something a model is busy with, which excludes the others.
pub(super) enum Activity {
    Downloading {
        cancel: CancelToken,
        progress: Option<DownloadProgress>,
    },
    Loading,
    Deleting,
}

impl Activity {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Activity::Downloading { .. } => "downloading",
            Activity::Loading => "loading",
            Activity::Deleting => "deleting",
        }
    }
}

/// A loaded model of either kind.
pub(super) enum Model {
    Chat(ChatModel),
    Whisper(WhisperModel),
}

impl Model {
    pub(super) fn load(kind: Capability, path: &Path, precision: &ModelPrecision) -> Result<Self> {
        Ok(match kind {
            Capability::Text => Model::Chat(ChatModel::load_with(
                path,
                &LoadOptions {
                    precision: precision.text,
                },
            )?),
            Capability::Audio => Model::Whisper(WhisperModel::load_with(
                path,
                &WhisperLoadOptions {
                    dtype: precision.speech_dtype,
                    ..WhisperLoadOptions::default()
                },
            )?),
        })
    }
}

/// A loaded model.
pub(super) struct Loaded {
    pub(super) id: String,
    pub(super) kind: Capability,
    /// `None` once unloaded: a caller that got this `Loaded` just before an unload finds
    /// the model gone and asks for a fresh load.
    pub(super) model: Arc<AsyncMutex<Option<Model>>>,
    pub(super) last_used: Mutex<Instant>,
    /// Calls holding or waiting for the model.
    pub(super) users: AtomicUsize,
}

impl Loaded {
    pub(super) fn touch(&self) {
        *self.last_used.lock().unwrap() = Instant::now();
    }

    pub(super) fn idle_for(&self) -> Duration {
        self.last_used.lock().unwrap().elapsed()
    }

    pub(super) fn users(&self) -> usize {
        self.users.load(Ordering::SeqCst)
    }
}

/// Counts one call as a user of a loaded model; marks the use when dropped (which
/// restarts the idle timer).
pub(super) struct Use(Arc<Loaded>);

impl Use {
    pub(super) fn new(loaded: &Arc<Loaded>) -> Self {
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
pub(super) struct Slot {
    /// Lifecycle lock and the loaded model.
    pub(super) lock: Arc<AsyncMutex<Option<Arc<Loaded>>>>,
    /// The same model, readable without awaiting (for status).
    pub(super) current: Mutex<Option<Arc<Loaded>>>,
}

impl Slot {
    pub(super) fn current(&self) -> Option<Arc<Loaded>> {
        self.current.lock().unwrap().clone()
    }
}

pub(super) struct Inner {
    pub(super) config: EngineConfig,
    pub(super) hub: Hub,
    pub(super) catalog: RwLock<Catalog>,
    pub(super) activity: Mutex<HashMap<String, Activity>>,
    pub(super) errors: Mutex<HashMap<String, String>>,
    pub(super) text: Slot,
    pub(super) audio: Slot,
    pub(super) events: broadcast::Sender<Event>,
}

/// Removes an activity when dropped, however the operation ended.
pub(super) struct ActivityGuard {
    pub(super) inner: Arc<Inner>,
    pub(super) id: String,
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        self.inner.activity.lock().unwrap().remove(&self.id);
    }
}

/// A task of the engine that did not finish (it panicked or was cancelled), as an
/// [`Error::Internal`] naming the model it worked for.
pub(super) fn join_error(id: &str, e: tokio::task::JoinError) -> Error {
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
