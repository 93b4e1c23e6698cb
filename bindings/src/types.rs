//! Records and enums of the Swift API where a `murmur-core` type cannot cross as it is
//! (paths as strings, sizes as u64, durations as seconds, a flatter shape). Core's plain
//! types (`Capability`, `ModelState`, `UnloadReason`, `StopReason`, `Transcript`,
//! `Segment`, `Word`, the dictation's `Edit`, `EditKind`, `StageTimings`, `Warning`,
//! `WarningCode`, `DictateStage`, `Limits`, `RamTier`, the vocabulary's `Vocabulary`,
//! `Replacement`, `AddOutcome`, `Removed`, live transcription's `PcmFormat`, chat's
//! `FinishReason` and `Usage`) cross as they are: they derive uniffi's traits in core (its
//! `uniffi` feature).

use std::path::PathBuf;

use murmur_core::audio::AudioInput;
pub use murmur_core::catalog::Capability;
use murmur_core::catalog::{self, ModelSource};
pub use murmur_core::chat::{FinishReason, Usage};
use murmur_core::dictate;
pub use murmur_core::dictate::{DictateStage, Edit, EditKind, StageTimings, Warning, WarningCode};
use murmur_core::engine::{self, Event};
pub use murmur_core::engine::{ModelState, UnloadReason};
use murmur_core::hub;
use murmur_core::live;
pub use murmur_core::live::PcmFormat;
use murmur_core::llm::chat_template::Message;
use murmur_core::llm::generate;
pub use murmur_core::llm::generate::StopReason;
use murmur_core::refine;
pub use murmur_core::system::{Limits, RamTier};
use murmur_core::transcribe;
pub use murmur_core::transcribe::{Segment, Transcript, Word};
use murmur_core::vad::VadOptions;
use murmur_core::vocab;
pub use murmur_core::vocab::{AddOutcome, Removed, Replacement, Vocabulary};

fn path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Engine settings; every field left `nil` takes the environment's or the built-in default
/// (see `EngineConfig::from_env` in murmur-core).
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct EngineConfig {
    /// The Hugging Face cache folder (default: `$HF_HUB_CACHE`, `$HF_HOME/hub`, ~/.cache/huggingface/hub).
    #[uniffi(default)]
    pub cache_dir: Option<String>,
    /// Murmur's settings folder, where added models are remembered.
    #[uniffi(default)]
    pub config_dir: Option<String>,
    /// The Hub endpoint (default `$HF_ENDPOINT`, else huggingface.co).
    #[uniffi(default)]
    pub endpoint: Option<String>,
    /// A Hub token for gated repositories (default `$HF_TOKEN`).
    #[uniffi(default)]
    pub token: Option<String>,
    /// Never touch the network (default `$HF_HUB_OFFLINE`).
    #[uniffi(default)]
    pub offline: Option<bool>,
    /// Unload a model after this many seconds unused; 0 never (default 300).
    #[uniffi(default)]
    pub idle_unload_secs: Option<f64>,
    /// The text model `refine` uses when none is named (before a loaded one).
    #[uniffi(default)]
    pub default_model: Option<String>,
    /// The speech model `transcribe` uses when none is named (before a loaded one).
    #[uniffi(default)]
    pub default_audio_model: Option<String>,
    /// Physical memory to base recommendations on (default: this machine's).
    #[uniffi(default)]
    pub ram_bytes: Option<u64>,
}

impl EngineConfig {
    /// The core configuration: the environment's, with the fields given here replacing it.
    /// An idle timeout out of range is refused (it would panic in `Duration`).
    pub fn to_core(&self) -> Result<engine::EngineConfig, murmur_core::Error> {
        let mut c = engine::EngineConfig::from_env();
        if let Some(d) = &self.cache_dir {
            c.hub.cache_dir = PathBuf::from(d);
        }
        if let Some(d) = &self.config_dir {
            c.config_dir = PathBuf::from(d);
        }
        if let Some(e) = &self.endpoint {
            c.hub.endpoint = e.clone();
        }
        if self.token.is_some() {
            c.hub.token = self.token.clone();
        }
        if let Some(o) = self.offline {
            c.hub.offline = o;
        }
        if let Some(s) = self.idle_unload_secs {
            c.idle_unload = engine::EngineConfig::idle_unload_from_secs("idle_unload_secs", s)?;
        }
        if self.default_model.is_some() {
            c.default_model = self.default_model.clone();
        }
        if self.default_audio_model.is_some() {
            c.default_audio_model = self.default_audio_model.clone();
        }
        if self.ram_bytes.is_some() {
            c.ram_bytes = self.ram_bytes;
        }
        Ok(c)
    }
}

/// Progress of a download.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DownloadProgress {
    pub repo: String,
    /// The file being transferred, and its place among the download's files.
    pub file: String,
    pub file_index: u64,
    pub file_count: u64,
    pub file_bytes: u64,
    pub file_total: u64,
    /// Bytes of all files so far, and their total.
    pub bytes: u64,
    pub total: u64,
    pub bytes_per_sec: f64,
    /// Overall fraction done, 0–1.
    pub fraction: f64,
}

impl From<&hub::DownloadProgress> for DownloadProgress {
    fn from(p: &hub::DownloadProgress) -> Self {
        Self {
            repo: p.repo.clone(),
            file: p.file.clone(),
            file_index: p.file_index as u64,
            file_count: p.file_count as u64,
            file_bytes: p.file_bytes,
            file_total: p.file_total,
            bytes: p.bytes,
            total: p.total,
            bytes_per_sec: p.bytes_per_sec,
            fraction: p.fraction(),
        }
    }
}

/// A model the engine knows, and what it is doing now.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ModelInfo {
    /// Canonical id, e.g. `qwen3-1.7b`.
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    /// The Hugging Face repository and revision (`nil` for a local folder).
    pub repo: Option<String>,
    pub revision: Option<String>,
    /// The folder a local model lives in (`nil` for Hub models).
    pub local_folder: Option<String>,
    pub capabilities: Vec<Capability>,
    /// `config.json`'s `model_type`, empty when unknown.
    pub architecture: String,
    pub download_bytes: Option<u64>,
    pub ram_bytes: Option<u64>,
    pub description: String,
    /// `false` for models the user added.
    pub builtin: bool,
    pub state: ModelState,
    pub in_use: bool,
    /// The automatic recommendation for this machine.
    pub recommended: bool,
    pub disk_bytes: u64,
    /// The folder to load, when downloaded.
    pub path: Option<String>,
    pub progress: Option<DownloadProgress>,
    pub last_error: Option<String>,
}

impl From<engine::ModelStatus> for ModelInfo {
    fn from(s: engine::ModelStatus) -> Self {
        let m = s.model;
        let (repo, revision, local_folder) = match &m.source {
            ModelSource::Hub { repo, revision } => {
                (Some(repo.clone()), Some(revision.clone()), None)
            }
            ModelSource::Local { path: p } => (None, None, Some(path(p))),
        };
        Self {
            id: m.id,
            name: m.name,
            aliases: m.aliases,
            repo,
            revision,
            local_folder,
            capabilities: m.capabilities,
            architecture: m.architecture,
            download_bytes: m.download_bytes,
            ram_bytes: m.ram_bytes,
            description: m.description,
            builtin: m.builtin,
            state: s.state,
            in_use: s.in_use,
            recommended: s.recommended,
            disk_bytes: s.disk_bytes,
            path: s.path.as_deref().map(path),
            progress: s.progress.as_ref().map(Into::into),
            last_error: s.last_error,
        }
    }
}

/// A model to add by repository id or local folder.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct AddModel {
    /// `org/name`, `org/name@revision`, or a path to a model file (`.gguf`) or folder.
    pub source: String,
    /// The id to use (default: the repository's or folder's name, lower-cased).
    #[uniffi(default)]
    pub id: Option<String>,
    /// What it is for (default: read from its files; a repository not downloaded yet goes
    /// by its name until its download completes).
    #[uniffi(default)]
    pub capability: Option<Capability>,
    /// Glob patterns of the files to download (default: those of its capability).
    #[uniffi(default)]
    pub files: Option<Vec<String>>,
}

impl From<AddModel> for catalog::AddModel {
    fn from(a: AddModel) -> Self {
        Self {
            source: a.source,
            id: a.id,
            capability: a.capability,
            files: a.files,
        }
    }
}

/// MLX's memory use, in bytes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MemoryUsage {
    pub active_bytes: u64,
    pub peak_bytes: u64,
    pub cache_bytes: u64,
}

/// A download in progress.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ActiveDownload {
    pub model_id: String,
    pub progress: Option<DownloadProgress>,
}

/// The engine as a whole.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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
    /// Seconds unused before a model is unloaded (`nil`: never).
    pub idle_unload_secs: Option<f64>,
    pub memory: MemoryUsage,
}

impl From<engine::EngineStatus> for EngineStatus {
    fn from(s: engine::EngineStatus) -> Self {
        Self {
            loaded: s.loaded,
            loaded_audio: s.loaded_audio,
            in_use: s.in_use,
            loading: s.loading,
            downloads: s
                .downloads
                .into_iter()
                .map(|d| ActiveDownload {
                    model_id: d.model_id,
                    progress: d.progress.as_ref().map(Into::into),
                })
                .collect(),
            idle_unload_secs: s.idle_unload_secs,
            memory: MemoryUsage {
                active_bytes: s.memory.active_bytes,
                peak_bytes: s.memory.peak_bytes,
                cache_bytes: s.memory.cache_bytes,
            },
        }
    }
}

/// What happened in the engine (downloads, loads, unloads, failures), for UIs and logs.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum EngineEvent {
    DownloadStarted {
        model_id: String,
    },
    DownloadProgress {
        model_id: String,
        progress: DownloadProgress,
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
        message: String,
    },
}

impl From<Event> for EngineEvent {
    fn from(e: Event) -> Self {
        match e {
            Event::DownloadStarted { model_id } => Self::DownloadStarted { model_id },
            Event::DownloadProgress {
                model_id, detail, ..
            } => Self::DownloadProgress {
                model_id,
                progress: (&detail).into(),
            },
            Event::DownloadCompleted { model_id, bytes } => {
                Self::DownloadCompleted { model_id, bytes }
            }
            Event::DownloadCancelled { model_id } => Self::DownloadCancelled { model_id },
            Event::LoadingStarted { model_id } => Self::LoadingStarted { model_id },
            Event::LoadingCompleted { model_id, load_ms } => {
                Self::LoadingCompleted { model_id, load_ms }
            }
            Event::Unloaded { model_id, reason } => Self::Unloaded { model_id, reason },
            Event::Deleted { model_id } => Self::Deleted { model_id },
            Event::Error { model_id, error } => Self::Error {
                model_id,
                message: error,
            },
        }
    }
}

/// What `refine` does with the text.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Enum)]
pub enum RefineMode {
    /// Punctuation, capitalization, filler words and false starts of dictated speech.
    #[default]
    CleanUpTranscript,
    /// Spelling and grammar, nothing else.
    FixGrammar,
    /// Shorter, same meaning.
    MakeConcise,
    /// The caller's own system prompt.
    Custom { prompt: String },
}

impl From<RefineMode> for refine::RefineMode {
    fn from(m: RefineMode) -> Self {
        match m {
            RefineMode::CleanUpTranscript => Self::CleanUpTranscript,
            RefineMode::FixGrammar => Self::FixGrammar,
            RefineMode::MakeConcise => Self::MakeConcise,
            RefineMode::Custom { prompt } => Self::Custom(prompt),
        }
    }
}

/// Refine settings; the defaults are the engine's (temperature 0.7, top-p 0.8,
/// repetition penalty 1.15, a token budget from the input length and the RAM).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RefineOptions {
    /// The text model (id, alias, repository or path); `nil`: the configured default, else
    /// the loaded one, else one on disk, else the recommendation.
    #[uniffi(default)]
    pub model: Option<String>,
    /// `nil`: clean up a transcript.
    #[uniffi(default)]
    pub mode: Option<RefineMode>,
    #[uniffi(default = 0.7)]
    pub temperature: f32,
    #[uniffi(default = 0.8)]
    pub top_p: f32,
    /// 0: off.
    #[uniffi(default = 0)]
    pub top_k: u32,
    #[uniffi(default = 0.0)]
    pub min_p: f32,
    #[uniffi(default = 1.15)]
    pub repetition_penalty: f32,
    /// `nil`: input tokens × 1.3, capped by the RAM tier.
    #[uniffi(default)]
    pub max_tokens: Option<u32>,
    #[uniffi(default)]
    pub seed: Option<u64>,
    #[uniffi(default = false)]
    pub enable_thinking: bool,
    /// Draft tokens from the input and verify them in one pass: the same text at
    /// temperature 0 and the same distribution above it, in fewer forward passes.
    #[uniffi(default = true)]
    pub prompt_lookup: bool,
}

impl Default for RefineOptions {
    fn default() -> Self {
        let d = refine::RefineOptions::default();
        Self {
            model: None,
            mode: None,
            temperature: d.temperature,
            top_p: d.top_p,
            top_k: d.top_k as u32,
            min_p: d.min_p,
            repetition_penalty: d.repetition_penalty,
            max_tokens: d.max_tokens.map(|t| t as u32),
            seed: d.seed,
            enable_thinking: d.enable_thinking,
            prompt_lookup: d.prompt_lookup,
        }
    }
}

impl RefineOptions {
    pub fn to_core(&self) -> refine::RefineOptions {
        refine::RefineOptions {
            mode: self.mode.clone().unwrap_or_default().into(),
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k as usize,
            min_p: self.min_p,
            repetition_penalty: self.repetition_penalty,
            max_tokens: self.max_tokens.map(|t| t as usize),
            seed: self.seed,
            enable_thinking: self.enable_thinking,
            prompt_lookup: self.prompt_lookup,
            ..refine::RefineOptions::default()
        }
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

/// A conversation to answer and how; the defaults are OpenAI's (temperature 1, top-p 1,
/// no stop strings) and the token budget the RAM tier's ceiling.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChatOptions {
    /// The text model (id, alias, repository or path); `nil`: chosen as for refine.
    #[uniffi(default)]
    pub model: Option<String>,
    pub messages: Vec<ChatMessage>,
    #[uniffi(default = 1.0)]
    pub temperature: f32,
    #[uniffi(default = 1.0)]
    pub top_p: f32,
    /// `nil`: the RAM tier's ceiling.
    #[uniffi(default)]
    pub max_tokens: Option<u32>,
    /// Up to 4 strings that end the answer where they appear (not included).
    #[uniffi(default)]
    pub stop: Vec<String>,
    #[uniffi(default)]
    pub seed: Option<u64>,
    #[uniffi(default = false)]
    pub enable_thinking: bool,
}

impl ChatOptions {
    pub fn to_core(&self) -> murmur_core::chat::ChatOptions {
        murmur_core::chat::ChatOptions {
            messages: self
                .messages
                .iter()
                .map(|m| Message::new(m.role.clone(), m.content.clone()))
                .collect(),
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_tokens.map(|t| t as usize),
            stop: self.stop.clone(),
            seed: self.seed,
            enable_thinking: self.enable_thinking,
            ram_tier: None,
        }
    }
}

/// The answer and how it was produced.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChatResult {
    /// The model that answered (the engine's choice when the call named none).
    pub model: String,
    pub text: String,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    /// The token budget used.
    pub max_tokens: u64,
    pub stats: GenerationStats,
}

impl From<murmur_core::chat::ChatResult> for ChatResult {
    fn from(r: murmur_core::chat::ChatResult) -> Self {
        Self {
            stats: (&r.stats).into(),
            max_tokens: r.max_tokens as u64,
            finish_reason: r.finish_reason,
            usage: r.usage,
            model: r.model,
            text: r.text,
        }
    }
}

/// Measurements of one generation.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct GenerationStats {
    pub prompt_tokens: u64,
    pub generated_tokens: u64,
    pub time_to_first_token_secs: f64,
    pub prefill_tokens_per_sec: f64,
    pub decode_tokens_per_sec: f64,
    pub stop_reason: StopReason,
    /// Prompt-lookup tokens drafted, and of those accepted (forward passes saved).
    pub drafted_tokens: u64,
    pub accepted_tokens: u64,
    /// Prompt tokens taken from the model's prefix cache instead of prefilled.
    pub cached_prompt_tokens: u64,
}

impl From<&generate::GenerationStats> for GenerationStats {
    fn from(s: &generate::GenerationStats) -> Self {
        Self {
            prompt_tokens: s.prompt_tokens as u64,
            generated_tokens: s.generated_tokens as u64,
            time_to_first_token_secs: s.time_to_first_token.as_secs_f64(),
            prefill_tokens_per_sec: s.prefill_tokens_per_sec,
            decode_tokens_per_sec: s.decode_tokens_per_sec,
            stop_reason: s.stop_reason,
            drafted_tokens: s.draft.drafted as u64,
            accepted_tokens: s.draft.accepted as u64,
            cached_prompt_tokens: s.cached_prompt_tokens as u64,
        }
    }
}

/// The refined text and how it was produced.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RefineResult {
    /// The model that refined (the engine's choice when the call named none).
    pub model: String,
    pub text: String,
    /// The token budget used.
    pub max_tokens: u64,
    pub stats: GenerationStats,
}

impl From<refine::RefineResult> for RefineResult {
    fn from(r: refine::RefineResult) -> Self {
        Self {
            stats: (&r.stats).into(),
            max_tokens: r.max_tokens as u64,
            model: r.model,
            text: r.text,
        }
    }
}

/// Audio to transcribe: a file, an encoded file in memory, or raw PCM.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum AudioSource {
    /// A file in any supported container (WAV, FLAC, MP3, M4A, OGG).
    File { path: String },
    /// A whole encoded file held in memory.
    Encoded { data: Vec<u8> },
    /// 16 kHz mono float samples.
    Pcm16k { samples: Vec<f32> },
    /// Interleaved float PCM at any rate and channel count.
    PcmF32 {
        samples: Vec<f32>,
        sample_rate: u32,
        channels: u16,
    },
    /// Interleaved signed 16-bit PCM at any rate and channel count.
    PcmS16 {
        samples: Vec<i16>,
        sample_rate: u32,
        channels: u16,
    },
}

impl From<AudioSource> for AudioInput {
    fn from(a: AudioSource) -> Self {
        match a {
            AudioSource::File { path } => Self::Path(path.into()),
            AudioSource::Encoded { data } => Self::Encoded(data),
            AudioSource::Pcm16k { samples } => Self::Pcm16k(samples),
            AudioSource::PcmF32 {
                samples,
                sample_rate,
                channels,
            } => Self::PcmF32 {
                samples,
                sample_rate,
                channels,
            },
            AudioSource::PcmS16 {
                samples,
                sample_rate,
                channels,
            } => Self::PcmS16 {
                samples,
                sample_rate,
                channels,
            },
        }
    }
}

/// What to produce from speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, uniffi::Enum)]
pub enum TranscribeTask {
    /// Text in the spoken language.
    #[default]
    Transcribe,
    /// English text, whatever the spoken language.
    Translate,
}

/// Transcription settings; the defaults are mlx-whisper's.
#[derive(Debug, Clone, PartialEq, Default, uniffi::Record)]
pub struct TranscribeOptions {
    /// The speech model (id, alias, repository or path); `nil`: chosen as for refining.
    #[uniffi(default)]
    pub model: Option<String>,
    /// Language code (`"en"`); `nil` detects it.
    #[uniffi(default)]
    pub language: Option<String>,
    /// `nil`: transcribe.
    #[uniffi(default)]
    pub task: Option<TranscribeTask>,
    /// Beam search width (`nil`: greedy).
    #[uniffi(default)]
    pub beam_size: Option<u32>,
    /// Word-level timestamps.
    #[uniffi(default = false)]
    pub word_timestamps: bool,
    /// Spelling of names, a vocabulary hint.
    #[uniffi(default)]
    pub initial_prompt: Option<String>,
    /// Fallback temperatures (`nil`: 0, 0.2, … 1.0).
    #[uniffi(default)]
    pub temperatures: Option<Vec<f32>>,
    /// Text only, one segment per 30 s window.
    #[uniffi(default = false)]
    pub without_timestamps: bool,
}

impl TranscribeOptions {
    pub fn to_core(&self) -> transcribe::TranscribeOptions {
        let d = transcribe::TranscribeOptions::default();
        transcribe::TranscribeOptions {
            language: self.language.clone(),
            task: match self.task.unwrap_or_default() {
                TranscribeTask::Transcribe => transcribe::Task::Transcribe,
                TranscribeTask::Translate => transcribe::Task::Translate,
            },
            beam_size: self.beam_size.map(|b| b as usize),
            word_timestamps: self.word_timestamps,
            initial_prompt: self.initial_prompt.clone(),
            temperatures: self.temperatures.clone().unwrap_or(d.temperatures.clone()),
            without_timestamps: self.without_timestamps,
            ..d
        }
    }
}

/// What `dictate` does; the defaults are core's (`murmur_core::dictate::DictateOptions`):
/// cleanup on with the refine defaults, voice-activity trimming on, the user's vocabulary
/// on, Whisper's defaults.
///
/// The models and the language given here win over those of the transcribe and refine
/// options, which hold the rest of each stage's settings.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DictateOptions {
    /// The speech model (id, alias, repository or path); `nil`: the transcribe options'
    /// model, else chosen as `transcribe` chooses.
    #[uniffi(default)]
    pub speech_model: Option<String>,
    /// The text model of the cleanup; `nil`: the refine options' model, else chosen as
    /// `refine` chooses.
    #[uniffi(default)]
    pub text_model: Option<String>,
    /// The spoken language (`"en"`); `nil`: the transcribe options' language, else
    /// detected.
    #[uniffi(default)]
    pub language: Option<String>,
    /// Clean the transcript up with the text model (checked to be an edit of it); `false`:
    /// the transcript, with the vocabulary's replacements, is the text.
    #[uniffi(default = true)]
    pub refine: bool,
    /// The cleanup's settings (mode, temperature, token budget, …).
    #[uniffi(default)]
    pub refine_options: RefineOptions,
    /// Whisper's settings (beam size, temperatures, an initial prompt of your own, …).
    #[uniffi(default)]
    pub transcribe_options: TranscribeOptions,
    /// Trim silence and long pauses before transcribing (silence alone gives no text).
    #[uniffi(default = true)]
    pub vad: bool,
    /// Use the user's vocabulary: its words in the prompts, its replacements applied.
    #[uniffi(default = true)]
    pub vocabulary: bool,
    /// The app the text is dictated into (for the cleanup's prompt).
    #[uniffi(default)]
    pub app_name: Option<String>,
    /// The text selected in that app (for the cleanup's prompt).
    #[uniffi(default)]
    pub selected_text: Option<String>,
}

impl Default for DictateOptions {
    fn default() -> Self {
        let d = dictate::DictateOptions::default();
        Self {
            speech_model: d.speech_model,
            text_model: d.text_model,
            language: d.transcribe.language,
            refine: d.refine.is_some(),
            refine_options: RefineOptions::default(),
            transcribe_options: TranscribeOptions::default(),
            vad: d.vad.is_some(),
            vocabulary: d.vocabulary,
            app_name: d.app_name,
            selected_text: d.selected_text,
        }
    }
}

impl DictateOptions {
    pub fn to_core(&self) -> dictate::DictateOptions {
        let mut transcribe = self.transcribe_options.to_core();
        if self.language.is_some() {
            transcribe.language.clone_from(&self.language);
        }
        dictate::DictateOptions {
            speech_model: self
                .speech_model
                .clone()
                .or_else(|| self.transcribe_options.model.clone()),
            text_model: self
                .text_model
                .clone()
                .or_else(|| self.refine_options.model.clone()),
            transcribe,
            refine: self.refine.then(|| self.refine_options.to_core()),
            vad: self.vad.then(VadOptions::default),
            vocabulary: self.vocabulary,
            app_name: self.app_name.clone(),
            selected_text: self.selected_text.clone(),
        }
    }
}

/// What `dictate` reports while it works (`DictateListener`).
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum DictateEvent {
    /// A stage began.
    Stage { stage: DictateStage },
    /// The audio's length in seconds, once known (before the models load).
    Duration { seconds: f64 },
    /// A transcribed segment, timed in the original audio.
    Segment { segment: Segment },
    /// Cleaned-up text as it is generated (before the check that it is an edit of the
    /// transcript: the result's `text` is what counts).
    Text { delta: String },
}

impl From<dictate::DictateEvent<'_>> for DictateEvent {
    fn from(e: dictate::DictateEvent<'_>) -> Self {
        match e {
            dictate::DictateEvent::Stage(stage) => Self::Stage { stage },
            dictate::DictateEvent::Duration(seconds) => Self::Duration { seconds },
            dictate::DictateEvent::Segment(s) => Self::Segment { segment: s.clone() },
            dictate::DictateEvent::RefineText(t) => Self::Text {
                delta: t.to_string(),
            },
        }
    }
}

/// What `dictate` returns.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DictateResult {
    /// The final text: cleaned up, the vocabulary applied. Empty when there was no speech.
    pub text: String,
    /// Whisper's transcript, as it came.
    pub transcript: String,
    /// The spoken language (detected or given).
    pub language: String,
    /// The word edits from `transcript` to `text` (offsets in Unicode scalars).
    pub edits: Vec<Edit>,
    pub timings: StageTimings,
    pub warnings: Vec<Warning>,
    /// Seconds of audio, and of it the speech that was transcribed.
    pub audio_secs: f64,
    pub speech_secs: f64,
    /// The transcript's segments, timed in the original audio.
    pub segments: Vec<Segment>,
    /// The models used; `text_model` is `nil` when there was no cleanup.
    pub speech_model: String,
    pub text_model: Option<String>,
    /// The cleanup's generation figures (`nil` when there was no cleanup).
    pub refine_stats: Option<GenerationStats>,
}

impl From<dictate::DictateResult> for DictateResult {
    fn from(r: dictate::DictateResult) -> Self {
        Self {
            refine_stats: r.refine_stats.as_ref().map(Into::into),
            text: r.text,
            transcript: r.transcript,
            language: r.language,
            edits: r.edits,
            timings: r.timings,
            warnings: r.warnings,
            audio_secs: r.audio_secs,
            speech_secs: r.speech_secs,
            segments: r.segments,
            speech_model: r.speech_model,
            text_model: r.text_model,
        }
    }
}

/// What a live transcription does (`Engine.live`): `dictate`'s options (models,
/// transcription, cleanup, voice activity, vocabulary, app context), the format of the
/// pushed samples, and how often the speech so far is decoded. The defaults are core's
/// (`murmur_core::live::LiveOptions`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct LiveOptions {
    /// Models, transcription, cleanup, voice activity, vocabulary and app context, as for
    /// `dictate`.
    #[uniffi(default)]
    pub dictate: DictateOptions,
    /// The format of the pushed samples (any rate, interleaved channels); `nil`: 16 kHz
    /// mono.
    #[uniffi(default)]
    pub format: Option<PcmFormat>,
    /// Least new audio (ms) between two decodes of the utterance so far: partial text is
    /// at most this far behind on a fast machine (a slower one decodes as often as it
    /// can). Within 100...10000.
    #[uniffi(default = 1000)]
    pub step_ms: u32,
}

impl Default for LiveOptions {
    fn default() -> Self {
        let d = live::LiveOptions::default();
        Self {
            dictate: DictateOptions::default(),
            format: None,
            step_ms: d.step_ms,
        }
    }
}

impl LiveOptions {
    pub fn to_core(&self) -> live::LiveOptions {
        live::LiveOptions {
            dictate: self.dictate.to_core(),
            format: self.format.unwrap_or_default(),
            step_ms: self.step_ms,
        }
    }
}

/// What a live transcription reports while the audio comes (`LiveListener`), in order.
// `Final` is large, and uniffi cannot box a record; each event is moved once, to Swift.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum LiveEvent {
    /// The words heard after the confirmed ones, as the latest decode has them: they may
    /// still change. Each replaces the previous partial text (empty when every word heard
    /// is confirmed).
    Partial { text: String },
    /// Words that will not change, following those confirmed before: all confirmed texts
    /// joined are the transcript (each keeps Whisper's leading space). Timed in seconds
    /// of the session's audio.
    Confirmed { text: String, start: f64, end: f64 },
    /// A confirmed stretch of the transcript (whole sentences) and its cleanup, done while
    /// the audio still comes (the final result's `text` is what counts).
    Refined { transcript: String, text: String },
    /// The session's result, as `finish` returns it. Last.
    Final { result: DictateResult },
}

impl From<live::LiveEvent> for LiveEvent {
    fn from(e: live::LiveEvent) -> Self {
        match e {
            live::LiveEvent::Partial { text } => Self::Partial { text },
            live::LiveEvent::Confirmed { text, start, end } => Self::Confirmed { text, start, end },
            live::LiveEvent::Refined { transcript, text } => Self::Refined { transcript, text },
            live::LiveEvent::Final { result } => Self::Final {
                result: (*result).into(),
            },
        }
    }
}

/// What importing a vocabulary CSV file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Imported {
    /// New terms.
    pub terms_added: u64,
    /// New replacements.
    pub replacements_added: u64,
    /// Rows that respelled an entry already there.
    pub updated: u64,
    /// Rows equal to an entry already there (or to an earlier row).
    pub unchanged: u64,
}

impl From<vocab::Imported> for Imported {
    fn from(i: vocab::Imported) -> Self {
        Self {
            terms_added: i.terms_added as u64,
            replacements_added: i.replacements_added as u64,
            updated: i.updated as u64,
            unchanged: i.unchanged as u64,
        }
    }
}
