//! The engine's public calls: models and their files, loading, refining and
//! transcribing, status and events.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::broadcast;

use super::config::EngineConfig;
use super::slots::{Activity, Inner, Loaded, Model, Slot, Use, join_error};
use super::status::{ActiveDownload, EngineStatus, Event, MemoryUsage, ModelStatus, UnloadReason};
use crate::audio::{AudioInput, AudioStream};
use crate::cancel::CancelToken;
use crate::catalog::{AddModel, Capability, Catalog, CatalogModel, ModelSource};
use crate::error::{Error, Result};
use crate::hub::{DownloadProgress, Hub, SnapshotSpec};
use crate::refine::{RefineOptions, RefineResult};
use crate::transcribe::listen::transcribe_listening;
use crate::transcribe::{Segment, TranscribeEvent, TranscribeOptions, Transcript};
use crate::whisper::longform::transcribe_stream;

/// The engine. Cheap to clone (one `Arc`); `Send + Sync`. Async methods need a tokio
/// runtime; events go to every [`Engine::subscribe`]r.
#[derive(Clone)]
pub struct Engine {
    pub(super) inner: Arc<Inner>,
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
    /// The model `id` names: a catalog id, alias or repository id, or the path of a model
    /// file or folder on disk (known for this run from then on: [`Catalog::local`]).
    pub fn resolve(&self, id: &str) -> Result<CatalogModel> {
        let found = self.inner.catalog.read().unwrap().resolve(id).cloned();
        match found {
            Err(Error::UnknownModel { .. }) if std::path::Path::new(id.trim()).exists() => self
                .inner
                .catalog
                .write()
                .unwrap()
                .local(std::path::Path::new(id.trim())),
            other => other,
        }
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

    /// The model a call that names none uses for `kind`, one rule for every face: the
    /// configured default, else the loaded model of that kind, else one already on disk
    /// (the recommendation when it is, else the largest that fits this machine's memory),
    /// else the recommendation (downloaded on first use). A user who added a model and
    /// named no default gets that model, not a download.
    pub fn default_for(&self, kind: Capability) -> Result<CatalogModel> {
        let configured = match kind {
            Capability::Text => &self.inner.config.default_model,
            Capability::Audio => &self.inner.config.default_audio_model,
        };
        if let Some(id) = configured {
            return self.resolve(id);
        }
        if let Some(loaded) = self.inner.slot(kind).current() {
            return self.resolve(&loaded.id);
        }
        let recommended = match kind {
            Capability::Text => self.recommended_model(),
            Capability::Audio => self.recommended_audio_model(),
        };
        let ram = self.inner.ram_bytes();
        let models = self.inner.catalog.read().unwrap().models().to_vec();
        let on_disk: Vec<CatalogModel> = models
            .into_iter()
            .filter(|m| m.kind() == kind && !m.transient)
            .filter(|m| self.inner.local_path(m).is_some())
            .collect();
        if on_disk.iter().any(|m| m.id == recommended.id) {
            return Ok(recommended);
        }
        Ok(on_disk
            .into_iter()
            .filter(|m| ram.is_none_or(|ram| m.ram_bytes.is_none_or(|need| need <= ram)))
            .max_by_key(|m| m.ram_bytes.or(m.download_bytes).unwrap_or(0))
            .unwrap_or(recommended))
    }

    /// The model `source` names ([`Engine::resolve`]: an id, alias, repository id or a
    /// path), or, for a repository id the catalog does not know, that repository added
    /// as a `capability` model (saved for next time).
    pub fn find_or_add(&self, source: &str, capability: Capability) -> Result<CatalogModel> {
        match self.resolve(source) {
            Err(Error::UnknownModel { .. }) if source.contains('/') => Ok(self
                .add_model(&AddModel {
                    source: source.to_string(),
                    id: None,
                    capability: Some(capability),
                    files: None,
                })?
                .model),
            other => other,
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
                    // What a user's repository holds is known now: its files, not its
                    // name, say what it is for.
                    let arch = crate::catalog::read_model_type(&snapshot.path);
                    let capability = crate::catalog::detect_capability(&snapshot.path);
                    inner.catalog.write().unwrap().update(&m.id, |e| {
                        e.download_bytes = Some(snapshot.bytes);
                        if let Some(arch) = arch {
                            e.architecture = arch;
                        }
                        if let Some(c) = capability {
                            e.capabilities = crate::catalog::capabilities_of(c, &e.architecture);
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
    /// with [`Error::Busy`] while it downloads, loads or works on a call, and with
    /// [`Error::NotDownloaded`] when nothing of it is in the cache. Local-folder models
    /// are never deleted (see [`Engine::remove_model`]).
    pub async fn delete(&self, id: &str) -> Result<()> {
        let m = self.resolve(id)?;
        let Some(repo) = m.repo().map(str::to_string) else {
            return Err(Error::InvalidArgument {
                name: "model".into(),
                reason: format!("{} is a local folder; Murmur does not delete it", m.id),
            });
        };
        // Nothing of it in the cache: saying "deleted" would mislead.
        if !self.inner.hub.cache().repo(&repo).dir().exists() {
            return Err(Error::NotDownloaded { model: m.id });
        }
        let busy = self.inner.begin(&m.id, Activity::Deleting)?;
        let inner = self.inner.clone();
        let id = m.id.clone();
        let kind = m.kind();
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
        self.acquire(&m, m.kind(), cancel).await.map(drop)
    }

    /// Unload the loaded models, each after its running call finishes, and free MLX's
    /// cache. Returns the ids of the models unloaded (text first).
    pub async fn unload(&self) -> Result<Vec<String>> {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for kind in [Capability::Text, Capability::Audio] {
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

    /// Refine `text` with a text model (`None`: [`Engine::default_for`]), loading it first
    /// if needed; the result names the model. The refined text
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
        // Bad settings fail before a model is chosen, downloaded or loaded for them.
        opts.validate()?;
        let m = self.choose(model, Capability::Text)?;
        let (text, mut opts) = (text.to_string(), opts.clone());
        // The token ceiling is the engine's memory tier's (its configured memory, the one
        // `Engine::limits` reports), unless the call names a tier.
        opts.ram_tier.get_or_insert(self.inner.ram_tier());
        let mut result = self
            .run(
                &m,
                Capability::Text,
                cancel,
                move |model, cancel| match model {
                    Model::Chat(chat) => {
                        crate::refine::refine(chat, &text, &opts, cancel, &mut on_text)
                    }
                    Model::Whisper(_) => unreachable!("the text slot holds chat models"),
                },
            )
            .await?;
        result.model = m.id;
        Ok(result)
    }

    /// Transcribe `audio` with a speech model (`None`: [`Engine::default_for`]), loading it
    /// first if needed; the result names the model and its text is trimmed (Whisper's
    /// starts with a space). Segments stream to `on_segment` (called on a blocking
    /// thread) as each window is decoded; `cancel` stops between encoder blocks and
    /// decoding steps, or ends a call still reading its audio, loading its model or
    /// queued behind another, with [`Error::Cancelled`].
    pub async fn transcribe(
        &self,
        model: Option<&str>,
        audio: AudioInput,
        opts: &TranscribeOptions,
        mut on_segment: impl FnMut(&Segment) + Send + 'static,
        cancel: &CancelToken,
    ) -> Result<Transcript> {
        let on_event = move |e: TranscribeEvent<'_>| {
            if let TranscribeEvent::Segment(s) = e {
                on_segment(s)
            }
        };
        self.transcribe_with_events(model, audio, opts, on_event, cancel)
            .await
    }

    /// [`Engine::transcribe`], also reporting the audio's duration to `on_event`
    /// ([`TranscribeEvent::Duration`]): the declared one (PCM's length, a container's
    /// header) before the model is loaded, and the real one when the end of the audio
    /// shows it differs, so that a client can show progress without reading the audio
    /// itself.
    ///
    /// The audio is a stream: it is opened and read up to its first samples before
    /// anything else (unreadable audio fails fast, without loading a model), then read
    /// window by window as the transcription needs it, so memory does not grow with its
    /// length and `cancel` is seen between packets while reading.
    pub async fn transcribe_with_events(
        &self,
        model: Option<&str>,
        audio: AudioInput,
        opts: &TranscribeOptions,
        mut on_event: impl FnMut(TranscribeEvent<'_>) + Send + 'static,
        cancel: &CancelToken,
    ) -> Result<Transcript> {
        let m = self.choose_transcriber(model)?;
        let token = cancel.clone();
        let opening = tokio::task::spawn_blocking(move || {
            let mut stream = AudioStream::open_owned(audio)?;
            stream.prime(&token)?;
            if let Some(d) = stream.declared_duration() {
                on_event(TranscribeEvent::Duration(d));
            }
            Ok::<_, Error>((stream, on_event))
        });
        let (stream, mut on_event) = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(Error::Cancelled),
            opened = opening => opened.map_err(|e| join_error(&m.id, e))??,
        };
        let opts = opts.clone();
        // A model that listens (Qwen2.5-Omni) is a text model: it is loaded once, in the
        // text slot, for transcribing and refining alike.
        let mut transcript = self
            .run(&m, m.kind(), cancel, move |model, cancel| match model {
                Model::Whisper(whisper) => {
                    transcribe_stream(whisper, stream, &opts, cancel, &mut on_event)
                }
                Model::Chat(chat) => {
                    transcribe_listening(chat, stream, &opts, cancel, &mut on_event)
                }
            })
            .await?;
        transcript.model = m.id;
        transcript.text = transcript.text.trim().to_string();
        Ok(transcript)
    }

    /// The model [`Engine::transcribe`] uses: a named model that takes audio (a speech
    /// model, or a text model that listens, such as Qwen2.5-Omni), else
    /// [`Engine::choose`]'s speech model.
    pub fn choose_transcriber(&self, id: Option<&str>) -> Result<CatalogModel> {
        if let Some(id) = id.map(str::trim).filter(|id| !id.is_empty()) {
            let m = self.resolve(id)?;
            if m.has(Capability::Audio) {
                return Ok(m);
            }
        }
        self.choose(id, Capability::Audio)
    }

    /// The model a call that names `id` (or none) uses for `kind`: the named one, else
    /// [`Engine::default_for`].
    /// Refused when it is of the other kind. Every face asks this one rule.
    pub fn choose(&self, id: Option<&str>, kind: Capability) -> Result<CatalogModel> {
        let id = id.map(str::trim).filter(|id| !id.is_empty());
        let m = match id {
            Some(id) => self.resolve(id)?,
            None => self.default_for(kind)?,
        };
        if m.kind() != kind {
            let (what, needs) = match kind {
                Capability::Text => ("a speech model", "refining needs a text model"),
                Capability::Audio if m.has(Capability::Audio) => (
                    "a text model that listens",
                    "it transcribes through `transcribe`; dictation and live \
                     transcription need a Whisper model",
                ),
                Capability::Audio => ("a text model", "transcribing needs a speech model"),
            };
            return Err(Error::InvalidArgument {
                name: "model".into(),
                reason: format!("{} is {what}; {needs}", m.id),
            });
        }
        Ok(m)
    }

    /// [`Engine::choose`], refused with [`Error::NotDownloaded`] when the model is not
    /// complete on disk: for a caller that must answer before any work starts.
    pub fn choose_downloaded(&self, id: Option<&str>, kind: Capability) -> Result<CatalogModel> {
        self.downloaded(self.choose(id, kind)?)
    }

    /// [`Engine::choose_transcriber`], refused with [`Error::NotDownloaded`] as
    /// [`Engine::choose_downloaded`] is.
    pub fn choose_downloaded_transcriber(&self, id: Option<&str>) -> Result<CatalogModel> {
        self.downloaded(self.choose_transcriber(id)?)
    }

    fn downloaded(&self, m: CatalogModel) -> Result<CatalogModel> {
        match self.inner.local_path(&m) {
            Some(_) => Ok(m),
            None => Err(Error::NotDownloaded { model: m.id }),
        }
    }

    /// Run `work` on the loaded model `m` (loading it if needed) on the blocking pool,
    /// after the calls queued before it.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        m: &CatalogModel,
        kind: Capability,
        cancel: &CancelToken,
        work: impl FnOnce(&Model, &CancelToken) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let mut work = Some(work);
        loop {
            let (loaded, usage) = self.acquire(m, kind, cancel).await?;
            // Queued behind another call: a cancel while waiting ends this one.
            let guard = tokio::select! {
                g = loaded.model.clone().lock_owned() => g,
                _ = cancel.cancelled() => return Err(Error::Cancelled),
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
        kind: Capability,
        cancel: &CancelToken,
    ) -> Result<(Arc<Loaded>, Use)> {
        let lock = self.inner.slot(kind).lock.clone();
        let mut slot = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(Error::Cancelled),
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
            _ = cancel.cancelled() => Err(Error::Cancelled),
        }
    }
}
