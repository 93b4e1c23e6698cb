//! The Swift face of [`murmur_core::Engine`]: one uniffi object whose methods map 1:1 to
//! the engine's, callback traits for streamed tokens, segments, download progress,
//! live transcription and engine events, a cancel handle for every long call, and the
//! live session object.

use std::sync::{Arc, Mutex};

use murmur_core::CancelToken;
use tokio::sync::broadcast::error::RecvError;

use crate::error::MurmurError;
use crate::runtime::{runtime, spawn};
use crate::types::{
    AddModel, AddOutcome, AudioSource, ChatOptions, ChatResult, DictateEvent, DictateOptions,
    DictateResult, DownloadProgress, EngineConfig, EngineEvent, EngineStatus, Imported, Limits,
    LiveEvent, LiveOptions, ModelInfo, RefineOptions, RefineResult, Removed, Segment,
    TranscribeOptions, Transcript, Vocabulary,
};

type Result<T, E = MurmurError> = std::result::Result<T, E>;

/// The text callback of a generation: each piece to `listener`, if there is one.
fn tokens_to(listener: Option<Arc<dyn TokenListener>>) -> impl FnMut(&str) + Send + 'static {
    move |t: &str| {
        if let Some(l) = &listener {
            l.on_token(t.to_string());
        }
    }
}

/// Stops a long call (download, refine, transcribe) it was passed to: generation stops
/// within one token, transcription within one decoding step, a download at once.
/// Thread-safe; cancelling twice, or after the call ended, is harmless.
#[derive(Debug, Default, uniffi::Object)]
pub struct CancelHandle {
    token: CancelToken,
}

#[uniffi::export]
impl CancelHandle {
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Ask the call to stop.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

impl CancelHandle {
    /// The core token behind this handle.
    pub fn token(&self) -> &CancelToken {
        &self.token
    }
}

fn token(cancel: Option<Arc<CancelHandle>>) -> CancelToken {
    cancel.map(|c| c.token.clone()).unwrap_or_default()
}

/// Receives download progress (on an engine thread).
#[uniffi::export(with_foreign)]
pub trait DownloadListener: Send + Sync {
    fn on_progress(&self, progress: DownloadProgress);
}

/// Receives refined text as it is generated, in order (on an engine thread).
#[uniffi::export(with_foreign)]
pub trait TokenListener: Send + Sync {
    fn on_token(&self, text: String);
}

/// Receives transcript segments as each window is decoded, in order (on an engine thread).
#[uniffi::export(with_foreign)]
pub trait SegmentListener: Send + Sync {
    fn on_segment(&self, segment: Segment);
}

/// Receives what a dictation reports as it works, in order (on an engine thread): each
/// stage as it begins, the audio's length, transcript segments, cleaned-up text.
#[uniffi::export(with_foreign)]
pub trait DictateListener: Send + Sync {
    fn on_event(&self, event: DictateEvent);
}

/// Receives what a live transcription reports, in order (on an engine thread): partial
/// and confirmed text while the audio comes, cleaned-up stretches, then the final result.
#[uniffi::export(with_foreign)]
pub trait LiveListener: Send + Sync {
    fn on_event(&self, event: LiveEvent);
}

/// Receives engine events: downloads, loads, unloads, deletions, failures.
#[uniffi::export(with_foreign)]
pub trait EventListener: Send + Sync {
    fn on_event(&self, event: EngineEvent);
}

/// An event subscription; events stop when it is cancelled or released.
#[derive(uniffi::Object)]
pub struct Subscription {
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

#[uniffi::export]
impl Subscription {
    /// Stop delivering events.
    pub fn cancel(&self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// A live transcription (`Engine.live`): push the microphone's samples as they come, then
/// `finish`. Thread-safe: push from the audio thread, cancel or finish from another.
/// Releasing it cancels the session.
#[derive(uniffi::Object)]
pub struct LiveSession {
    inner: murmur_core::engine::LiveSession,
}

#[uniffi::export(async_runtime = "tokio")]
impl LiveSession {
    /// Append interleaved float samples in the session's format. Refused with
    /// `AudioTooLong` once this machine's recording limit is reached (the audio before it
    /// is kept: `finish` gives its text), with `InvalidArgument` (`session`) after
    /// `finish` or once the session stopped on an error (`finish` says which), with
    /// `Cancelled` after a cancel.
    pub fn push(&self, samples: Vec<f32>) -> Result<()> {
        Ok(self.inner.push_f32(&samples)?)
    }

    /// Append interleaved signed 16-bit samples; as `push`.
    pub fn push_i16(&self, samples: Vec<i16>) -> Result<()> {
        Ok(self.inner.push_i16(&samples)?)
    }

    /// Seconds of audio received so far.
    pub fn audio_secs(&self) -> f64 {
        self.inner.audio_secs()
    }

    /// End the audio and wait for the result: the last words decoded and cleaned up, the
    /// whole text checked (also sent to the listener as `LiveEvent.final`). A second
    /// call is refused with `InvalidArgument`; a cancel gives `Cancelled`.
    pub async fn finish(self: Arc<Self>) -> Result<DictateResult> {
        spawn(async move { Ok(self.inner.finish().await?.into()) }).await
    }

    /// Stop the session: pushes are refused and `finish` gives `Cancelled`.
    pub fn cancel(&self) {
        self.inner.cancel();
    }
}

/// Murmur's engine: models, downloads, loading, refinement, transcription, dictation and
/// the user's vocabulary. Cheap to share between threads; calls on one model run one at
/// a time.
#[derive(uniffi::Object)]
pub struct Engine {
    inner: murmur_core::Engine,
}

impl Engine {
    /// The core engine behind this object.
    pub fn core(&self) -> &murmur_core::Engine {
        &self.inner
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Engine {
    /// An engine over `config` (fields left `nil` come from the environment). Nothing is
    /// loaded or downloaded.
    #[uniffi::constructor]
    pub fn new(config: EngineConfig) -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            inner: murmur_core::Engine::new(config.to_core()?)?,
        }))
    }

    /// Every built-in and added model with its state.
    pub fn models(&self) -> Vec<ModelInfo> {
        self.inner.models().into_iter().map(Into::into).collect()
    }

    /// One model by id, alias or repository.
    pub fn model(&self, id: String) -> Result<ModelInfo> {
        Ok(self.inner.model(&id)?.into())
    }

    /// The text model recommended for this machine's RAM.
    pub fn recommended_model(&self) -> Result<ModelInfo> {
        self.model(self.inner.recommended_model().id)
    }

    /// The speech model recommended for this machine's RAM.
    pub fn recommended_audio_model(&self) -> Result<ModelInfo> {
        self.model(self.inner.recommended_audio_model().id)
    }

    /// Add a model by repository id or local folder (remembered in the config folder).
    pub fn add_model(&self, model: AddModel) -> Result<ModelInfo> {
        Ok(self.inner.add_model(&model.into())?.into())
    }

    /// Forget an added model (its files stay).
    pub fn remove_model(&self, id: String) -> Result<()> {
        self.inner.remove_model(&id).map(drop).map_err(Into::into)
    }

    /// Download a model into the Hugging Face cache (resuming a partial download),
    /// reporting progress to `listener`.
    pub async fn download(
        &self,
        model: String,
        listener: Option<Arc<dyn DownloadListener>>,
        cancel: Option<Arc<CancelHandle>>,
    ) -> Result<ModelInfo> {
        let engine = self.inner.clone();
        let cancel = token(cancel);
        spawn(async move {
            let on_progress = move |p: &murmur_core::hub::DownloadProgress| {
                if let Some(l) = &listener {
                    l.on_progress(p.into());
                }
            };
            Ok(engine.download(&model, on_progress, &cancel).await?.into())
        })
        .await
    }

    /// Cancel a running download of `model`; `false` when there is none.
    pub fn cancel_download(&self, model: String) -> bool {
        self.inner.cancel_download(&model)
    }

    /// Delete a downloaded model from the cache (refused while it is busy).
    pub async fn delete(&self, model: String) -> Result<()> {
        let engine = self.inner.clone();
        spawn(async move { Ok(engine.delete(&model).await?) }).await
    }

    /// Load a model (text or speech), replacing the loaded one of its kind. A cancel
    /// ends the call at once with `.cancelled`; what was being read is then dropped and
    /// the model stays downloaded, not loaded.
    pub async fn load(&self, model: String, cancel: Option<Arc<CancelHandle>>) -> Result<()> {
        let engine = self.inner.clone();
        let cancel = token(cancel);
        spawn(async move { Ok(engine.load(&model, &cancel).await?) }).await
    }

    /// Unload every loaded model once its running call finishes; returns their ids.
    pub async fn unload(&self) -> Result<Vec<String>> {
        let engine = self.inner.clone();
        spawn(async move { Ok(engine.unload().await?) }).await
    }

    /// What is loaded, loading and downloading, and MLX's memory use.
    pub fn status(&self) -> EngineStatus {
        self.inner.status().into()
    }

    /// Refine `text` (loading the model first if needed), streaming the refined text to
    /// `listener`. A cancel stops generation within one token: the result then has
    /// `stopReason == .cancelled` (or, still queued, the call fails with `.cancelled`).
    pub async fn refine(
        &self,
        text: String,
        options: RefineOptions,
        listener: Option<Arc<dyn TokenListener>>,
        cancel: Option<Arc<CancelHandle>>,
    ) -> Result<RefineResult> {
        let engine = self.inner.clone();
        let cancel = token(cancel);
        spawn(async move {
            let on_text = tokens_to(listener);
            let opts = options.to_core();
            let r = engine
                .refine(options.model.as_deref(), &text, &opts, on_text, &cancel)
                .await?;
            Ok(r.into())
        })
        .await
    }

    /// Answer `options.messages` (loading the model first if needed), streaming the answer
    /// to `listener`. A cancel stops generation within one token: the result then has
    /// `finishReason == .cancelled` (or, still queued, the call fails with `.cancelled`).
    pub async fn chat(
        &self,
        options: ChatOptions,
        listener: Option<Arc<dyn TokenListener>>,
        cancel: Option<Arc<CancelHandle>>,
    ) -> Result<ChatResult> {
        let engine = self.inner.clone();
        let cancel = token(cancel);
        spawn(async move {
            let on_text = tokens_to(listener);
            let opts = options.to_core();
            let r = engine
                .chat(options.model.as_deref(), &opts, on_text, &cancel)
                .await?;
            Ok(r.into())
        })
        .await
    }

    /// Transcribe `audio` (loading the speech model first if needed), streaming each
    /// segment to `listener` as its window is decoded. A cancel ends the call with
    /// `.cancelled` within one decoding step.
    pub async fn transcribe(
        &self,
        audio: AudioSource,
        options: TranscribeOptions,
        listener: Option<Arc<dyn SegmentListener>>,
        cancel: Option<Arc<CancelHandle>>,
    ) -> Result<Transcript> {
        let engine = self.inner.clone();
        let cancel = token(cancel);
        spawn(async move {
            let on_segment = move |s: &murmur_core::transcribe::Segment| {
                if let Some(l) = &listener {
                    l.on_segment(s.clone());
                }
            };
            let opts = options.to_core();
            let t = engine
                .transcribe(
                    options.model.as_deref(),
                    audio.into(),
                    &opts,
                    on_segment,
                    &cancel,
                )
                .await?;
            Ok(t)
        })
        .await
    }

    /// Dictate `audio` in one call: the speech found in it (voice-activity trimming),
    /// transcribed with the user's vocabulary, cleaned up by the text model and checked to
    /// be an edit of the transcript; the result has the text, the transcript, the word
    /// edits between them, per-stage timings and warnings. Progress goes to `listener`.
    /// Audio longer than `limits()` allows fails with `AudioTooLong` before any model is
    /// loaded. A cancel ends the call with `.cancelled`.
    pub async fn dictate(
        &self,
        audio: AudioSource,
        options: DictateOptions,
        listener: Option<Arc<dyn DictateListener>>,
        cancel: Option<Arc<CancelHandle>>,
    ) -> Result<DictateResult> {
        let engine = self.inner.clone();
        let cancel = token(cancel);
        spawn(async move {
            let on_event = move |e: murmur_core::dictate::DictateEvent<'_>| {
                if let Some(l) = &listener {
                    l.on_event(e.into());
                }
            };
            let opts = options.to_core();
            let r = engine
                .dictate(audio.into(), &opts, on_event, &cancel)
                .await?;
            Ok(r.into())
        })
        .await
    }

    /// Start a live transcription: text while the user is still speaking, and the
    /// cleanup done by the time they stop. The options are checked and the models chosen
    /// now (each must be downloaded: `NotDownloaded` now, not after the user has spoken);
    /// the speech model loads in the background. Push audio to the returned session as it
    /// comes and `finish` it; `listener` gets partial, confirmed and cleaned-up text, then
    /// the final result.
    pub async fn live(
        &self,
        options: LiveOptions,
        listener: Option<Arc<dyn LiveListener>>,
    ) -> Result<Arc<LiveSession>> {
        let engine = self.inner.clone();
        spawn(async move {
            let on_event = move |e: murmur_core::live::LiveEvent| {
                if let Some(l) = &listener {
                    l.on_event(e.into());
                }
            };
            let inner = engine
                .live(&options.to_core(), on_event, &CancelToken::new())
                .await?;
            Ok(Arc::new(LiveSession { inner }))
        })
        .await
    }

    /// This machine's dictation limits (by its memory tier): the longest recording
    /// `dictate` takes, and the cleanup's token ceiling.
    pub fn limits(&self) -> Limits {
        self.inner.limits()
    }

    /// The user's saved vocabulary (shared with the CLI and the daemon on this machine's
    /// settings folder); empty when none was saved.
    pub fn vocabulary(&self) -> Result<Vocabulary> {
        Ok(self.inner.vocabulary()?)
    }

    /// Add a term to spell as given ("Dashwood", "macOS"); one equal to it ignoring case
    /// is respelled (`updated`).
    pub fn add_vocabulary_term(&self, term: String) -> Result<AddOutcome> {
        Ok(self
            .inner
            .add_vocabulary(murmur_core::vocab::Entry::Term(term))?)
    }

    /// Add a replacement: write `written` where `spoken` is said ("murmur dot app" →
    /// "Murmur.app"); one with the same spoken form gets the new written form.
    pub fn add_vocabulary_replacement(
        &self,
        spoken: String,
        written: String,
    ) -> Result<AddOutcome> {
        Ok(self
            .inner
            .add_vocabulary(murmur_core::vocab::Entry::Replacement(
                murmur_core::vocab::Replacement { spoken, written },
            ))?)
    }

    /// Remove the term `entry` and every replacement whose spoken or written form is
    /// `entry` (ignoring case); `InvalidArgument` when nothing matched.
    pub fn remove_vocabulary(&self, entry: String) -> Result<Removed> {
        Ok(self.inner.remove_vocabulary(&entry)?)
    }

    /// Import the entries of a CSV file (rows `term` or `spoken,written`, an optional
    /// header, `#` comments): all of them, or none on an error naming the line.
    pub fn import_vocabulary(&self, path: String) -> Result<Imported> {
        Ok(self
            .inner
            .import_vocabulary(std::path::Path::new(&path))?
            .into())
    }

    /// Deliver engine events to `listener` (in order, on an engine thread) until the
    /// returned subscription is cancelled or released. A listener that falls more than
    /// 1024 events behind misses the oldest.
    pub fn subscribe(&self, listener: Arc<dyn EventListener>) -> Arc<Subscription> {
        let mut rx = self.inner.subscribe();
        let task = runtime().spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(event) => listener.on_event(event.into()),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        });
        Arc::new(Subscription {
            task: Mutex::new(Some(task.abort_handle())),
        })
    }
}

/// The version of the Murmur library.
#[uniffi::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
