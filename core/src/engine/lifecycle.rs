//! How models come and go: loading into a slot (unloading what was there), releasing a
//! model (unloaded, replaced, idle, cancelled while loading), and the idle watch.

use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::slots::{Activity, ActivityGuard, Inner, Loaded, Model, Slot, join_error};
use super::status::{Event, ModelState, ModelStatus, UnloadReason};
use crate::cancel::CancelToken;
use crate::catalog::{Capability, CatalogModel, ModelSource};
use crate::error::{Error, Result};
use crate::hub::SnapshotSpec;
use crate::system::{RamTier, total_memory_bytes};

impl Inner {
    pub(super) fn emit(&self, event: Event) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    /// Record a failure for the model's status, announce it, and hand it back.
    pub(super) fn fail(&self, id: &str, e: Error) -> Error {
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

    pub(super) fn begin(self: &Arc<Self>, id: &str, activity: Activity) -> Result<ActivityGuard> {
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

    pub(super) fn slot(&self, kind: Capability) -> &Slot {
        match kind {
            Capability::Text => &self.text,
            Capability::Audio => &self.audio,
        }
    }

    pub(super) fn is_loaded(&self, id: &str) -> bool {
        [&self.text, &self.audio]
            .iter()
            .any(|s| s.current().is_some_and(|l| l.id == id))
    }

    /// This machine's memory (or the configured figure); `None` when unknown.
    pub(super) fn ram_bytes(&self) -> Option<u64> {
        self.config.ram_bytes.or_else(total_memory_bytes)
    }

    pub(super) fn ram_tier(&self) -> RamTier {
        self.ram_bytes().map_or(RamTier::Small, RamTier::from_bytes)
    }

    pub(super) fn spec(m: &CatalogModel) -> Option<SnapshotSpec> {
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
    pub(super) fn local_path(&self, m: &CatalogModel) -> Option<PathBuf> {
        match &m.source {
            ModelSource::Hub { .. } => self.hub.local_snapshot(&Self::spec(m)?).map(|s| s.path),
            ModelSource::Local { path } => path.exists().then(|| path.clone()),
        }
    }

    pub(super) fn status_of(&self, m: CatalogModel, recommended: &[String; 2]) -> ModelStatus {
        let (activity, progress) = match self.activity.lock().unwrap().get(&m.id) {
            Some(Activity::Downloading { progress, .. }) => {
                (Some(ModelState::Downloading), progress.clone())
            }
            Some(Activity::Loading) => (Some(ModelState::Loading), None),
            Some(Activity::Deleting) | None => (None, None),
        };
        let current = self.slot(m.kind()).current().filter(|l| l.id == m.id);
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
            ModelSource::Local { path } => crate::files::dir_size(path),
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
    pub(super) async fn load_locked(
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
        let (id, kind, precision) = (m.id.clone(), m.kind(), self.config.precision.clone());
        let loaded = tokio::task::spawn_blocking(move || {
            if let Some(hook) = hook {
                hook(&id);
            }
            Model::load(kind, &path, &precision)
        })
        .await
        .map_err(|e| join_error(&m.id, e))
        .and_then(|r| r);
        let model = match loaded {
            Ok(model) if cancel.is_cancelled() => {
                self.release(Some(model), &m.id, UnloadReason::Cancelled, Some(busy))
                    .await;
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
    pub(super) async fn unload_locked(&self, loaded: Arc<Loaded>, reason: UnloadReason) {
        let model = loaded.model.clone().lock_owned().await.take();
        {
            let mut current = self.slot(loaded.kind).current.lock().unwrap();
            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &loaded)) {
                *current = None;
            }
        }
        self.release(model, &loaded.id, reason, None).await;
    }

    /// Free a model that is out of its slot (on a blocking thread: dropping MLX arrays
    /// and clearing MLX's buffer cache give memory back to the system), end the activity
    /// it was part of, then announce it. Every way a model goes ends here.
    async fn release(
        &self,
        model: Option<Model>,
        id: &str,
        reason: UnloadReason,
        activity: Option<ActivityGuard>,
    ) {
        let _ = tokio::task::spawn_blocking(move || {
            drop(model);
            let _ = crate::mlx::memory::clear_cache();
        })
        .await;
        // The activity ends before the event, so a listener asking for the status on it
        // already sees the new state.
        drop(activity);
        self.emit(Event::Unloaded {
            model_id: id.to_string(),
            reason,
        });
    }
}

/// Unload `loaded` once it has been unused for `idle`. The timer restarts with every
/// use; the watcher ends when the model is unloaded by any means.
pub(super) fn spawn_idle_watch(inner: Weak<Inner>, loaded: Weak<Loaded>, idle: Duration) {
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
