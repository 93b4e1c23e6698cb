//! The C ABI over the same engine calls (header: `bindings/include/murmur.h`, generated
//! by cbindgen from this file; `scripts/test-bindings.sh` fails when it is stale).
//!
//! Conventions:
//! - Every fallible function returns a `MurmurStatus` (`MURMUR_OK` = 0, else the code of
//!   one `MurmurError` variant) and, when `error_message` is not NULL, stores a message
//!   there on failure (free it with `murmur_string_free`; it is set to NULL on success).
//! - Every string or buffer Murmur returns has a matching `murmur_*_free`; strings passed
//!   in are UTF-8, NUL-terminated and only borrowed for the call.
//! - Calls block the calling thread; the work runs on Murmur's internal tokio runtime.
//!   (A live session's pushes only convert and append the samples: they never wait for
//!   a model, so an audio thread may make them.)
//! - Callbacks are a function pointer plus a `user_data` pointer handed back unchanged.
//!   They run on Murmur's threads (so must be thread-safe), receive data borrowed for
//!   the call only, and must not call back into the same engine.
//! - No Rust panic crosses the boundary: it becomes `MURMUR_PANIC`.

use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::{Arc, Mutex, PoisonError};

use murmur_core::CancelToken;
use murmur_core::audio::AudioInput;
use murmur_core::engine::{Event, LiveSession};
use murmur_core::live::LiveEvent;

use crate::error::{MURMUR_OK, MURMUR_PANIC, MurmurError, MurmurStatus};
use crate::runtime::{block_on, runtime};
use crate::types;

type Result<T, E = MurmurError> = std::result::Result<T, E>;

/// An engine (opaque). Create with `murmur_engine_new`, release with `murmur_engine_free`.
pub struct MurmurEngine {
    engine: murmur_core::Engine,
}

/// A cancellation token (opaque): pass it to a long call and cancel it from any thread.
pub struct MurmurCancelToken {
    token: CancelToken,
}

/// An event subscription (opaque); `murmur_subscription_free` stops it.
pub struct MurmurSubscription {
    task: tokio::task::AbortHandle,
}

/// A live transcription (opaque): start it with `murmur_engine_live_start`, push audio
/// as it comes, `murmur_live_finish` it, and release it with `murmur_live_free`.
pub struct MurmurLiveSession {
    session: Arc<LiveSession>,
    /// The caller's callback; `murmur_live_free` takes it away (after a call running
    /// now returns), so that none runs once the session is freed.
    callback: Arc<Mutex<Option<LiveCallback>>>,
}

type LiveCallback = (unsafe extern "C" fn(*const c_char, *mut c_void), UserData);

/// Engine settings. NULL strings, a negative `offline`, a negative `idle_unload_secs` and
/// a zero `ram_bytes` take the environment's or the built-in default.
#[repr(C)]
pub struct MurmurEngineConfig {
    /// The Hugging Face cache folder.
    pub cache_dir: *const c_char,
    /// Murmur's settings folder (added models are remembered there).
    pub config_dir: *const c_char,
    pub endpoint: *const c_char,
    pub token: *const c_char,
    /// 1: never touch the network; 0: online; negative: `$HF_HUB_OFFLINE`.
    pub offline: i32,
    /// Unload a model after this many seconds unused; 0: never; negative: default.
    pub idle_unload_secs: f64,
    pub default_model: *const c_char,
    pub default_audio_model: *const c_char,
    pub ram_bytes: u64,
}

/// What refinement does with the text.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MurmurRefineMode {
    MurmurRefineCleanUpTranscript = 0,
    MurmurRefineFixGrammar = 1,
    MurmurRefineMakeConcise = 2,
    /// Uses `custom_prompt` as the system prompt.
    MurmurRefineCustom = 3,
}

/// Refine settings; start from `murmur_refine_options_default()`.
#[repr(C)]
pub struct MurmurRefineOptions {
    /// The text model (id, alias, repository or path); NULL: the configured default, else
    /// the loaded one, else one on disk, else the recommendation.
    pub model: *const c_char,
    pub mode: MurmurRefineMode,
    pub custom_prompt: *const c_char,
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: u32,
    pub min_p: f32,
    pub repetition_penalty: f32,
    /// 0: from the input length and the machine's RAM.
    pub max_tokens: u32,
    pub has_seed: bool,
    pub seed: u64,
    pub enable_thinking: bool,
    /// Draft tokens from the input and verify them in one pass (same text at
    /// temperature 0, same distribution above it, fewer forward passes). Default true.
    pub prompt_lookup: bool,
}

/// Why generation ended.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MurmurStopReason {
    MurmurStopEos = 0,
    MurmurStopMaxTokens = 1,
    MurmurStopStopped = 2,
    MurmurStopCancelled = 3,
}

/// The refined text and how it was produced; free with `murmur_refine_result_free`.
#[repr(C)]
pub struct MurmurRefineResult {
    /// The id of the model that refined (the engine's choice when none was named).
    pub model: *mut c_char,
    pub text: *mut c_char,
    pub max_tokens: u64,
    pub prompt_tokens: u64,
    pub generated_tokens: u64,
    pub time_to_first_token_secs: f64,
    pub decode_tokens_per_sec: f64,
    pub stop_reason: MurmurStopReason,
    /// Prompt-lookup tokens drafted, and of those accepted (forward passes saved).
    pub drafted_tokens: u64,
    pub accepted_tokens: u64,
    /// Prompt tokens taken from the model's prefix cache instead of prefilled.
    pub cached_prompt_tokens: u64,
}

/// Transcription settings; start from `murmur_transcribe_options_default()`.
#[repr(C)]
pub struct MurmurTranscribeOptions {
    /// The speech model (id, alias, repository or path); NULL: chosen as for refining.
    pub model: *const c_char,
    /// Language code ("en"); NULL: detect.
    pub language: *const c_char,
    /// Translate to English instead of transcribing.
    pub translate: bool,
    /// Beam search width; 0: greedy.
    pub beam_size: u32,
    pub word_timestamps: bool,
    pub initial_prompt: *const c_char,
    pub without_timestamps: bool,
}

/// A stretch of speech (seconds). Borrowed in callbacks; owned by a `MurmurTranscript`.
#[repr(C)]
pub struct MurmurSegment {
    pub id: u32,
    pub start: f32,
    pub end: f32,
    pub text: *mut c_char,
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
}

/// A transcription; free with `murmur_transcript_free`.
#[repr(C)]
pub struct MurmurTranscript {
    /// The id of the speech model that transcribed.
    pub model: *mut c_char,
    /// The transcript, trimmed.
    pub text: *mut c_char,
    pub language: *mut c_char,
    pub segments: *mut MurmurSegment,
    pub segment_count: usize,
    /// Seconds of audio.
    pub duration: f32,
}

/// Dictation settings; start from `murmur_dictate_options_default()` (cleanup, voice
/// activity trimming and the vocabulary on). The models and language given here win over
/// those of `transcribe` and `refine_options`, which hold the rest of each stage's
/// settings.
#[repr(C)]
pub struct MurmurDictateOptions {
    /// The speech model; NULL: `transcribe.model`, else chosen as for transcribing.
    pub speech_model: *const c_char,
    /// The text model of the cleanup; NULL: `refine_options.model`, else chosen as for
    /// refining.
    pub text_model: *const c_char,
    /// Language code ("en"); NULL: `transcribe.language`, else detected.
    pub language: *const c_char,
    /// Clean the transcript up (checked to be an edit of it); false: the transcript with
    /// the vocabulary's replacements is the text.
    pub refine: bool,
    pub refine_options: MurmurRefineOptions,
    pub transcribe: MurmurTranscribeOptions,
    /// Trim silence and long pauses before transcribing (silence alone gives no text).
    pub vad: bool,
    /// Use the user's vocabulary (its words in the prompts, its replacements applied).
    pub vocabulary: bool,
    /// The app the text is dictated into, and the text selected there (may be NULL):
    /// context for the cleanup.
    pub app_name: *const c_char,
    pub selected_text: *const c_char,
}

/// Seconds each stage of a dictation took (0 for a stage that did not run).
#[repr(C)]
pub struct MurmurStageTimings {
    pub decode_audio_secs: f64,
    pub vad_secs: f64,
    pub transcribe_secs: f64,
    pub refine_secs: f64,
    pub total_secs: f64,
    /// From the end of the audio to the result: the wait after the user stops talking
    /// (`total_secs` for a dictation, which gets the audio whole; from
    /// `murmur_live_finish` for a live session, which works while the audio comes).
    pub finish_secs: f64,
}

/// A dictation; free with `murmur_dictate_result_free`.
#[repr(C)]
pub struct MurmurDictateResult {
    /// The final text: cleaned up, the vocabulary applied; empty when there was no speech.
    pub text: *mut c_char,
    /// Whisper's transcript, as it came.
    pub transcript: *mut c_char,
    pub language: *mut c_char,
    /// The models used; `text_model` is NULL when there was no cleanup.
    pub speech_model: *mut c_char,
    pub text_model: *mut c_char,
    /// Seconds of audio, and of it the speech that was transcribed.
    pub audio_secs: f64,
    pub speech_secs: f64,
    pub timings: MurmurStageTimings,
    /// The whole result as JSON (the daemon's `/v1/dictate` shape): `edits` (character
    /// offsets), `warnings` (`code`, `message`), `segments`, `refine_stats` and the fields
    /// above.
    pub json: *mut c_char,
}

/// A stage of a dictation.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MurmurDictateStage {
    MurmurDictateDecodingAudio = 0,
    MurmurDictateDetectingSpeech = 1,
    MurmurDictateTranscribing = 2,
    MurmurDictateRefining = 3,
}

/// The kind of a `MurmurDictateEvent`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MurmurDictateEventKind {
    /// A stage began (`stage`).
    MurmurDictateEventStage = 0,
    /// The audio's length is known (`seconds`), before the models load.
    MurmurDictateEventDuration = 1,
    /// A transcribed segment (`segment`), timed in the original audio.
    MurmurDictateEventSegment = 2,
    /// Cleaned-up text as it is generated (`text`), before the check that it is an edit
    /// of the transcript: the result's `text` is what counts.
    MurmurDictateEventText = 3,
}

/// What a dictation reports as it works, borrowed for the callback. Fields that do not
/// apply to `kind` are zero or NULL.
#[repr(C)]
pub struct MurmurDictateEvent {
    pub kind: MurmurDictateEventKind,
    pub stage: MurmurDictateStage,
    pub seconds: f64,
    pub segment: *const MurmurSegment,
    pub text: *const c_char,
}

/// Live transcription settings; start from `murmur_live_options_default()` (the dictation
/// defaults, 16 kHz mono, a decode every 1000 ms of new audio).
#[repr(C)]
pub struct MurmurLiveOptions {
    /// Models, transcription, cleanup, voice activity, vocabulary and app context, as for
    /// a dictation.
    pub dictate: MurmurDictateOptions,
    /// The format of the pushed samples: frames per second, and interleaved channels
    /// per frame (averaged to mono).
    pub sample_rate: u32,
    pub channels: u16,
    /// Least new audio (ms) between two decodes of the utterance so far; 100 to 10000.
    pub step_ms: u32,
}

/// A machine's memory class: up to 8 GB, 9 to 16 GB, more.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MurmurRamTier {
    MurmurRamTierSmall = 0,
    MurmurRamTierMedium = 1,
    MurmurRamTierLarge = 2,
}

/// What a dictation may ask of this machine, by its memory tier.
#[repr(C)]
pub struct MurmurLimits {
    pub ram_tier: MurmurRamTier,
    /// Longest audio a dictation takes, in seconds.
    pub max_recording_secs: u32,
    /// Most tokens a refine generates.
    pub max_refine_tokens: u32,
}

/// What adding a vocabulary entry did.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MurmurAddOutcome {
    /// A new entry.
    MurmurAddAdded = 0,
    /// An entry equal to it ignoring case was respelled.
    MurmurAddUpdated = 1,
    /// The same entry was already there.
    MurmurAddUnchanged = 2,
}

/// What importing a vocabulary CSV file did.
#[repr(C)]
pub struct MurmurImported {
    pub terms_added: u64,
    pub replacements_added: u64,
    /// Rows that respelled an entry already there.
    pub updated: u64,
    /// Rows equal to an entry already there (or to an earlier row).
    pub unchanged: u64,
}

/// Download progress, borrowed for the callback.
#[repr(C)]
pub struct MurmurDownloadProgress {
    pub repo: *const c_char,
    pub file: *const c_char,
    pub file_index: u64,
    pub file_count: u64,
    pub bytes: u64,
    pub total: u64,
    pub bytes_per_sec: f64,
    pub fraction: f64,
}

/// The kind of a `MurmurEvent`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MurmurEventKind {
    MurmurEventDownloadStarted = 0,
    MurmurEventDownloadProgress = 1,
    MurmurEventDownloadCompleted = 2,
    MurmurEventDownloadCancelled = 3,
    MurmurEventLoadingStarted = 4,
    MurmurEventLoadingCompleted = 5,
    MurmurEventUnloaded = 6,
    MurmurEventDeleted = 7,
    MurmurEventError = 8,
}

/// An engine event, borrowed for the callback. Fields that do not apply to `kind` are
/// zero or NULL: `progress` (download progress), `bytes` (download completed), `load_ms`
/// (loading completed), `unload_reason` (unloaded: 0 requested, 1 idle, 2 replaced,
/// 3 deleted, 4 load cancelled), `message` (error).
#[repr(C)]
pub struct MurmurEvent {
    pub kind: MurmurEventKind,
    pub model_id: *const c_char,
    pub progress: f64,
    pub bytes: u64,
    pub load_ms: u64,
    pub unload_reason: u32,
    pub message: *const c_char,
}

/// Receives each piece of refined text, in order.
pub type MurmurTokenCallback =
    Option<unsafe extern "C" fn(text: *const c_char, user_data: *mut c_void)>;
/// Receives each transcript segment as its window is decoded, in order.
pub type MurmurSegmentCallback =
    Option<unsafe extern "C" fn(segment: *const MurmurSegment, user_data: *mut c_void)>;
/// Receives what a dictation reports, in order.
pub type MurmurDictateCallback =
    Option<unsafe extern "C" fn(event: *const MurmurDictateEvent, user_data: *mut c_void)>;
/// Receives what a live session reports, in order, as a JSON object (borrowed for the
/// call) whose `type` says what it is: `{"type": "partial", "text"}` (the words after the
/// confirmed ones, which may change; each replaces the last), `{"type": "confirmed",
/// "text", "start", "end"}` (words that never change: all confirmed texts joined are the
/// transcript), `{"type": "refined", "transcript", "text"}` (a confirmed stretch and its
/// cleanup), `{"type": "final", "result"}` (the result, as `MurmurDictateResult.json`;
/// last).
pub type MurmurLiveCallback =
    Option<unsafe extern "C" fn(event_json: *const c_char, user_data: *mut c_void)>;
/// Receives download progress.
pub type MurmurProgressCallback =
    Option<unsafe extern "C" fn(progress: *const MurmurDownloadProgress, user_data: *mut c_void)>;
/// Receives engine events.
pub type MurmurEventCallback =
    Option<unsafe extern "C" fn(event: *const MurmurEvent, user_data: *mut c_void)>;

/// The caller's `user_data`, handed back to its callback on Murmur's threads (the caller
/// promised thread safety by passing a callback).
#[derive(Clone, Copy)]
struct UserData(*mut c_void);
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}
impl UserData {
    fn get(self) -> *mut c_void {
        self.0
    }
}

// --- helpers ---------------------------------------------------------------------------

/// Run `f`, turning its error or panic into a status and message.
fn call(error_message: *mut *mut c_char, f: impl FnOnce() -> Result<()>) -> MurmurStatus {
    let (status, message) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => (MURMUR_OK, None),
        Ok(Err(e)) => (e.code(), Some(e.to_string())),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            (MURMUR_PANIC, Some(format!("murmur panicked: {what}")))
        }
    };
    if !error_message.is_null() {
        // SAFETY: the caller passes NULL or a valid `char **`.
        unsafe { *error_message = message.map_or(ptr::null_mut(), c_string) };
    }
    status
}

fn c_string(s: impl Into<Vec<u8>>) -> *mut c_char {
    let mut bytes: Vec<u8> = s.into();
    bytes.retain(|&b| b != 0);
    CString::new(bytes).expect("NULs removed").into_raw()
}

fn null(name: &str) -> MurmurError {
    MurmurError::InvalidArgument {
        name: name.into(),
        reason: "must not be NULL".into(),
    }
}

/// A borrowed C string; `None` for NULL.
unsafe fn opt_str<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller passes a NUL-terminated string that outlives the call.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map(Some)
        .map_err(|_| MurmurError::InvalidArgument {
            name: name.into(),
            reason: "is not UTF-8".into(),
        })
}

unsafe fn req_str<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    unsafe { opt_str(p, name) }?.ok_or_else(|| null(name))
}

unsafe fn engine_ref<'a>(engine: *const MurmurEngine) -> Result<&'a murmur_core::Engine> {
    // SAFETY: NULL or a pointer from `murmur_engine_new` not yet freed.
    unsafe { engine.as_ref() }
        .map(|e| &e.engine)
        .ok_or_else(|| null("engine"))
}

unsafe fn cancel_token(cancel: *const MurmurCancelToken) -> CancelToken {
    // SAFETY: NULL or a live token from `murmur_cancel_token_new`.
    unsafe { cancel.as_ref() }
        .map(|c| c.token.clone())
        .unwrap_or_default()
}

unsafe fn out<T>(p: *mut T, name: &str, value: T) -> Result<()> {
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: checked non-NULL; the caller passes a writable pointer.
    unsafe { p.write(value) };
    Ok(())
}

/// `count` values at `p`, borrowed for the call: NULL, a misaligned pointer or a count
/// past what memory can hold are refused rather than read.
unsafe fn slice<'a, T>(p: *const T, count: usize, name: &str) -> Result<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    let invalid = |reason: &str| MurmurError::InvalidArgument {
        name: name.into(),
        reason: reason.into(),
    };
    if p.is_null() {
        return Err(invalid("is NULL with a nonzero count"));
    }
    if !p.is_aligned() {
        return Err(invalid("is not aligned for its type"));
    }
    if count > isize::MAX as usize / size_of::<T>().max(1) {
        return Err(invalid("has a count larger than memory"));
    }
    // SAFETY: non-NULL, aligned, a size in range; the caller passes `count` values.
    Ok(unsafe { std::slice::from_raw_parts(p, count) })
}

fn json(value: serde_json::Result<String>) -> Result<*mut c_char> {
    value.map(c_string).map_err(|e| MurmurError::Internal {
        what: "JSON".into(),
        reason: e.to_string(),
    })
}

// --- defaults --------------------------------------------------------------------------

/// Settings that take everything from the environment.
#[unsafe(no_mangle)]
pub extern "C" fn murmur_engine_config_default() -> MurmurEngineConfig {
    MurmurEngineConfig {
        cache_dir: ptr::null(),
        config_dir: ptr::null(),
        endpoint: ptr::null(),
        token: ptr::null(),
        offline: -1,
        idle_unload_secs: -1.0,
        default_model: ptr::null(),
        default_audio_model: ptr::null(),
        ram_bytes: 0,
    }
}

/// The engine's refine defaults (clean up a transcript, temperature 0.7, top-p 0.8,
/// repetition penalty 1.15, automatic token budget).
#[unsafe(no_mangle)]
pub extern "C" fn murmur_refine_options_default() -> MurmurRefineOptions {
    let d = types::RefineOptions::default();
    MurmurRefineOptions {
        model: ptr::null(),
        mode: MurmurRefineMode::MurmurRefineCleanUpTranscript,
        custom_prompt: ptr::null(),
        temperature: d.temperature,
        top_p: d.top_p,
        top_k: d.top_k,
        min_p: d.min_p,
        repetition_penalty: d.repetition_penalty,
        max_tokens: 0,
        has_seed: false,
        seed: 0,
        enable_thinking: d.enable_thinking,
        prompt_lookup: d.prompt_lookup,
    }
}

/// mlx-whisper's defaults (detect the language, greedy with temperature fallback).
#[unsafe(no_mangle)]
pub extern "C" fn murmur_transcribe_options_default() -> MurmurTranscribeOptions {
    MurmurTranscribeOptions {
        model: ptr::null(),
        language: ptr::null(),
        translate: false,
        beam_size: 0,
        word_timestamps: false,
        initial_prompt: ptr::null(),
        without_timestamps: false,
    }
}

/// The engine's dictation defaults: cleanup on (the refine defaults), voice-activity
/// trimming on, the user's vocabulary on, the transcription defaults.
#[unsafe(no_mangle)]
pub extern "C" fn murmur_dictate_options_default() -> MurmurDictateOptions {
    let d = types::DictateOptions::default();
    MurmurDictateOptions {
        speech_model: ptr::null(),
        text_model: ptr::null(),
        language: ptr::null(),
        refine: d.refine,
        refine_options: murmur_refine_options_default(),
        transcribe: murmur_transcribe_options_default(),
        vad: d.vad,
        vocabulary: d.vocabulary,
        app_name: ptr::null(),
        selected_text: ptr::null(),
    }
}

/// The live transcription defaults: the dictation defaults (cleanup, voice-activity
/// trimming and the vocabulary on), 16 kHz mono samples, a decode every 1000 ms of new
/// audio.
#[unsafe(no_mangle)]
pub extern "C" fn murmur_live_options_default() -> MurmurLiveOptions {
    let d = types::LiveOptions::default();
    let format = d.format.unwrap_or_default();
    MurmurLiveOptions {
        dictate: murmur_dictate_options_default(),
        sample_rate: format.sample_rate,
        channels: format.channels,
        step_ms: d.step_ms,
    }
}

// --- engine ----------------------------------------------------------------------------

/// Create an engine (`config` may be NULL: all defaults). Nothing is loaded.
///
/// # Safety
/// `config` is NULL or valid; `out_engine` is writable; strings are NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_new(
    config: *const MurmurEngineConfig,
    out_engine: *mut *mut MurmurEngine,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let mut c = types::EngineConfig::default();
        if let Some(cfg) = config.as_ref() {
            let s = |p, n| opt_str(p, n).map(|s| s.map(str::to_string));
            c.cache_dir = s(cfg.cache_dir, "cache_dir")?;
            c.config_dir = s(cfg.config_dir, "config_dir")?;
            c.endpoint = s(cfg.endpoint, "endpoint")?;
            c.token = s(cfg.token, "token")?;
            c.offline = (cfg.offline >= 0).then_some(cfg.offline != 0);
            c.idle_unload_secs = (cfg.idle_unload_secs >= 0.0).then_some(cfg.idle_unload_secs);
            c.default_model = s(cfg.default_model, "default_model")?;
            c.default_audio_model = s(cfg.default_audio_model, "default_audio_model")?;
            c.ram_bytes = (cfg.ram_bytes > 0).then_some(cfg.ram_bytes);
        }
        // Inside the runtime: the engine's clients may want one while being built.
        let _rt = runtime().enter();
        let engine = murmur_core::Engine::new(c.to_core()?)?;
        out(
            out_engine,
            "out_engine",
            Box::into_raw(Box::new(MurmurEngine { engine })),
        )
    })
}

/// Release an engine (NULL is ignored). Loaded models are freed once no call uses them.
///
/// # Safety
/// `engine` is NULL or from `murmur_engine_new`, and not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_free(engine: *mut MurmurEngine) {
    if !engine.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: from Box::into_raw in murmur_engine_new.
            let engine = unsafe { Box::from_raw(engine) };
            let _rt = runtime().enter();
            drop(engine);
        }));
    }
}

/// Add a model by repository id or local folder; `id` may be NULL (derived from the
/// name). `out_id` (may be NULL) receives the model's id.
///
/// # Safety
/// Valid engine; NUL-terminated strings; `out_id` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_add_model(
    engine: *const MurmurEngine,
    source: *const c_char,
    id: *const c_char,
    out_id: *mut *mut c_char,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        let add = types::AddModel {
            source: req_str(source, "source")?.to_string(),
            id: opt_str(id, "id")?.map(str::to_string),
            ..Default::default()
        };
        let m = engine.add_model(&add.into())?;
        if !out_id.is_null() {
            out_id.write(c_string(m.model.id));
        }
        Ok(())
    })
}

/// Every model with its state, as a JSON array (the CLI's `murmur models --json`).
///
/// # Safety
/// Valid engine; `out_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_models_json(
    engine: *const MurmurEngine,
    out_json: *mut *mut c_char,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        let _rt = runtime().enter();
        out(
            out_json,
            "out_json",
            json(serde_json::to_string(&engine.models()))?,
        )
    })
}

/// The engine's state (loaded models, downloads, memory) as a JSON object.
///
/// # Safety
/// Valid engine; `out_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_status_json(
    engine: *const MurmurEngine,
    out_json: *mut *mut c_char,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        out(
            out_json,
            "out_json",
            json(serde_json::to_string(&engine.status()))?,
        )
    })
}

/// The id of the text model recommended for this machine's RAM.
///
/// # Safety
/// Valid engine; `out_id` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_recommended_model(
    engine: *const MurmurEngine,
    out_id: *mut *mut c_char,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        out(out_id, "out_id", c_string(engine.recommended_model().id))
    })
}

/// Download a model into the Hugging Face cache, reporting progress to `on_progress`
/// (may be NULL). `cancel` (may be NULL) stops it with `MURMUR_CANCELLED`.
///
/// # Safety
/// Valid engine and strings; `cancel` NULL or live; `on_progress` thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_download(
    engine: *const MurmurEngine,
    model: *const c_char,
    on_progress: MurmurProgressCallback,
    user_data: *mut c_void,
    cancel: *const MurmurCancelToken,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?.clone();
        let model = req_str(model, "model")?.to_string();
        let cancel = cancel_token(cancel);
        let ud = UserData(user_data);
        block_on(async move {
            let report = move |p: &murmur_core::hub::DownloadProgress| {
                let Some(cb) = on_progress else { return };
                let (repo, file) = (c_string(p.repo.as_str()), c_string(p.file.as_str()));
                let c = MurmurDownloadProgress {
                    repo,
                    file,
                    file_index: p.file_index as u64,
                    file_count: p.file_count as u64,
                    bytes: p.bytes,
                    total: p.total,
                    bytes_per_sec: p.bytes_per_sec,
                    fraction: p.fraction(),
                };
                // SAFETY: the caller's callback with its own user data.
                cb(&c, ud.get());
                drop(CString::from_raw(repo));
                drop(CString::from_raw(file));
            };
            engine.download(&model, report, &cancel).await?;
            Ok(())
        })
    })
}

/// Delete a downloaded model from the cache (refused with `MURMUR_BUSY` while in use).
///
/// # Safety
/// Valid engine and string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_delete(
    engine: *const MurmurEngine,
    model: *const c_char,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?.clone();
        let model = req_str(model, "model")?.to_string();
        block_on(async move { Ok(engine.delete(&model).await?) })
    })
}

/// Load a model (text or speech), replacing the loaded one of its kind. `cancel` (may
/// be NULL) ends the call at once with `MURMUR_CANCELLED`; what was being read is then
/// dropped and the model stays downloaded, not loaded.
///
/// # Safety
/// Valid engine and string; `cancel` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_load(
    engine: *const MurmurEngine,
    model: *const c_char,
    cancel: *const MurmurCancelToken,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?.clone();
        let model = req_str(model, "model")?.to_string();
        let cancel = cancel_token(cancel);
        block_on(async move { Ok(engine.load(&model, &cancel).await?) })
    })
}

/// Unload every loaded model (after its running call) and free MLX's cache.
///
/// # Safety
/// Valid engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_unload(
    engine: *const MurmurEngine,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?.clone();
        block_on(async move { engine.unload().await.map(drop).map_err(Into::into) })
    })
}

unsafe fn refine_options(options: *const MurmurRefineOptions) -> Result<types::RefineOptions> {
    let mut opts = types::RefineOptions::default();
    // SAFETY: NULL or valid, with NUL-terminated strings.
    if let Some(o) = unsafe { options.as_ref() } {
        opts.model = unsafe { opt_str(o.model, "model") }?.map(str::to_string);
        opts.mode = Some(match o.mode {
            MurmurRefineMode::MurmurRefineCleanUpTranscript => types::RefineMode::CleanUpTranscript,
            MurmurRefineMode::MurmurRefineFixGrammar => types::RefineMode::FixGrammar,
            MurmurRefineMode::MurmurRefineMakeConcise => types::RefineMode::MakeConcise,
            MurmurRefineMode::MurmurRefineCustom => types::RefineMode::Custom {
                prompt: unsafe { req_str(o.custom_prompt, "custom_prompt") }?.to_string(),
            },
        });
        opts.temperature = o.temperature;
        opts.top_p = o.top_p;
        opts.top_k = o.top_k;
        opts.min_p = o.min_p;
        opts.repetition_penalty = o.repetition_penalty;
        opts.max_tokens = (o.max_tokens > 0).then_some(o.max_tokens);
        opts.seed = o.has_seed.then_some(o.seed);
        opts.enable_thinking = o.enable_thinking;
        opts.prompt_lookup = o.prompt_lookup;
    }
    Ok(opts)
}

/// Refine `text`, streaming the refined text to `on_token` (may be NULL). `options` may
/// be NULL (defaults); `cancel` (may be NULL) stops generation within one token (the
/// result's `stop_reason` is then `MurmurStopCancelled`). On success `*out_result`
/// holds the result: free it with `murmur_refine_result_free`.
///
/// # Safety
/// Valid engine and strings; `options`, `cancel` NULL or valid; `out_result` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_refine(
    engine: *const MurmurEngine,
    text: *const c_char,
    options: *const MurmurRefineOptions,
    on_token: MurmurTokenCallback,
    user_data: *mut c_void,
    cancel: *const MurmurCancelToken,
    out_result: *mut *mut MurmurRefineResult,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?.clone();
        let text = req_str(text, "text")?.to_string();
        if out_result.is_null() {
            return Err(null("out_result"));
        }
        let opts = refine_options(options)?;
        let cancel = cancel_token(cancel);
        let ud = UserData(user_data);
        let r = block_on(async move {
            let on_text = c_tokens(on_token, ud);
            let core = opts.to_core();
            Ok(engine
                .refine(opts.model.as_deref(), &text, &core, on_text, &cancel)
                .await?)
        })?;
        let result = MurmurRefineResult {
            max_tokens: r.max_tokens as u64,
            prompt_tokens: r.stats.prompt_tokens as u64,
            generated_tokens: r.stats.generated_tokens as u64,
            time_to_first_token_secs: r.stats.time_to_first_token.as_secs_f64(),
            decode_tokens_per_sec: r.stats.decode_tokens_per_sec,
            drafted_tokens: r.stats.draft.drafted as u64,
            accepted_tokens: r.stats.draft.accepted as u64,
            cached_prompt_tokens: r.stats.cached_prompt_tokens as u64,
            stop_reason: match r.stats.stop_reason {
                types::StopReason::Eos => MurmurStopReason::MurmurStopEos,
                types::StopReason::MaxTokens => MurmurStopReason::MurmurStopMaxTokens,
                types::StopReason::Stopped => MurmurStopReason::MurmurStopStopped,
                types::StopReason::Cancelled => MurmurStopReason::MurmurStopCancelled,
            },
            model: c_string(r.model),
            text: c_string(r.text),
        };
        out_result.write(Box::into_raw(Box::new(result)));
        Ok(())
    })
}

/// The text callback of a generation: each piece to the caller's `on_token` (if any),
/// NUL-terminated (a NUL inside the text is dropped).
fn c_tokens(on_token: MurmurTokenCallback, ud: UserData) -> impl FnMut(&str) + Send + 'static {
    move |t: &str| {
        if let Some(cb) = on_token {
            let t = CString::new(t.replace('\0', "")).expect("NULs removed");
            // SAFETY: the caller's callback with its own user data.
            unsafe { cb(t.as_ptr(), ud.get()) };
        }
    }
}

/// Answer a conversation, streaming the answer to `on_token` (may be NULL). `request_json`
/// is `{"model"?, "messages": [{"role", "content"}], "temperature"?, "top_p"?,
/// "max_tokens"?, "stop"?, "seed"?, "enable_thinking"?}` (OpenAI's defaults: temperature 1,
/// top-p 1; the budget the RAM tier's ceiling); `cancel` (may be NULL) stops generation
/// within one token (`finish_reason` is then `cancelled`). On success `*out_result_json`
/// is `{"model", "text", "finish_reason" (stop, length, cancelled), "usage":
/// {"prompt_tokens", "completion_tokens", "total_tokens"}, "max_tokens", "stats"}`: free it
/// with `murmur_string_free`.
///
/// # Safety
/// Valid engine and string; `cancel` NULL or valid; `out_result_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_chat(
    engine: *const MurmurEngine,
    request_json: *const c_char,
    on_token: MurmurTokenCallback,
    user_data: *mut c_void,
    cancel: *const MurmurCancelToken,
    out_result_json: *mut *mut c_char,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    #[derive(serde::Deserialize)]
    struct Request {
        model: Option<String>,
        #[serde(flatten)]
        options: murmur_core::chat::ChatOptions,
    }
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?.clone();
        let json = req_str(request_json, "request_json")?;
        if out_result_json.is_null() {
            return Err(null("out_result_json"));
        }
        let req: Request =
            serde_json::from_str(json).map_err(|e| MurmurError::InvalidArgument {
                name: "request_json".into(),
                reason: e.to_string(),
            })?;
        let cancel = cancel_token(cancel);
        let ud = UserData(user_data);
        let r = block_on(async move {
            let on_text = c_tokens(on_token, ud);
            Ok(engine
                .chat(req.model.as_deref(), &req.options, on_text, &cancel)
                .await?)
        })?;
        let json = serde_json::to_string(&r).expect("chat results serialize");
        out_result_json.write(c_string(json));
        Ok(())
    })
}

/// Release a refine result (NULL is ignored).
///
/// # Safety
/// NULL or a result from `murmur_engine_refine`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_refine_result_free(result: *mut MurmurRefineResult) {
    if !result.is_null() {
        // SAFETY: both allocations were made by this library.
        let r = unsafe { Box::from_raw(result) };
        unsafe {
            murmur_string_free(r.model);
            murmur_string_free(r.text);
        }
    }
}

unsafe fn transcribe_options(
    options: *const MurmurTranscribeOptions,
) -> Result<types::TranscribeOptions> {
    let mut opts = types::TranscribeOptions::default();
    if let Some(o) = unsafe { options.as_ref() } {
        opts.model = unsafe { opt_str(o.model, "model") }?.map(str::to_string);
        opts.language = unsafe { opt_str(o.language, "language") }?.map(str::to_string);
        opts.task = Some(if o.translate {
            types::TranscribeTask::Translate
        } else {
            types::TranscribeTask::Transcribe
        });
        opts.beam_size = (o.beam_size > 0).then_some(o.beam_size);
        opts.word_timestamps = o.word_timestamps;
        opts.initial_prompt =
            unsafe { opt_str(o.initial_prompt, "initial_prompt") }?.map(str::to_string);
        opts.without_timestamps = o.without_timestamps;
    }
    Ok(opts)
}

fn segment(s: &murmur_core::transcribe::Segment) -> MurmurSegment {
    MurmurSegment {
        id: s.id,
        start: s.start,
        end: s.end,
        text: c_string(s.text.as_str()),
        avg_logprob: s.avg_logprob,
        no_speech_prob: s.no_speech_prob,
    }
}

fn transcribe(
    engine: &murmur_core::Engine,
    audio: AudioInput,
    opts: types::TranscribeOptions,
    on_segment: MurmurSegmentCallback,
    ud: UserData,
    cancel: CancelToken,
) -> Result<*mut MurmurTranscript> {
    let engine = engine.clone();
    let t = block_on(async move {
        let on_segment = move |s: &murmur_core::transcribe::Segment| {
            if let Some(cb) = on_segment {
                let c = segment(s);
                // SAFETY: the caller's callback with its own user data; the text is ours.
                unsafe {
                    cb(&c, ud.get());
                    murmur_string_free(c.text);
                }
            }
        };
        let core = opts.to_core();
        Ok(engine
            .transcribe(opts.model.as_deref(), audio, &core, on_segment, &cancel)
            .await?)
    })?;
    let segments: Box<[MurmurSegment]> = t.segments.iter().map(segment).collect();
    let segment_count = segments.len();
    Ok(Box::into_raw(Box::new(MurmurTranscript {
        model: c_string(t.model),
        text: c_string(t.text),
        language: c_string(t.language),
        segments: Box::into_raw(segments).cast(),
        segment_count,
        duration: t.duration,
    })))
}

/// Transcribe an audio file (WAV, FLAC, MP3, M4A, OGG), streaming each segment to
/// `on_segment` (may be NULL). `options` and `cancel` may be NULL. On success
/// `*out_transcript` must be freed with `murmur_transcript_free`.
///
/// # Safety
/// Valid engine and strings; `options`, `cancel` NULL or valid; `out_transcript` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_transcribe_file(
    engine: *const MurmurEngine,
    path: *const c_char,
    options: *const MurmurTranscribeOptions,
    on_segment: MurmurSegmentCallback,
    user_data: *mut c_void,
    cancel: *const MurmurCancelToken,
    out_transcript: *mut *mut MurmurTranscript,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        let audio = AudioInput::Path(req_str(path, "path")?.into());
        if out_transcript.is_null() {
            return Err(null("out_transcript"));
        }
        let t = transcribe(
            engine,
            audio,
            transcribe_options(options)?,
            on_segment,
            UserData(user_data),
            cancel_token(cancel),
        )?;
        out_transcript.write(t);
        Ok(())
    })
}

/// Transcribe interleaved float PCM (`sample_count` values, any rate and channel
/// count; 16000 and 1 are used as they are). Otherwise as `murmur_engine_transcribe_file`.
///
/// # Safety
/// `samples` points to `sample_count` floats; the rest as `murmur_engine_transcribe_file`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_transcribe_pcm(
    engine: *const MurmurEngine,
    samples: *const f32,
    sample_count: usize,
    sample_rate: u32,
    channels: u16,
    options: *const MurmurTranscribeOptions,
    on_segment: MurmurSegmentCallback,
    user_data: *mut c_void,
    cancel: *const MurmurCancelToken,
    out_transcript: *mut *mut MurmurTranscript,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        if samples.is_null() && sample_count > 0 {
            return Err(null("samples"));
        }
        if out_transcript.is_null() {
            return Err(null("out_transcript"));
        }
        let samples = if sample_count == 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(samples, sample_count).to_vec()
        };
        let audio = AudioInput::PcmF32 {
            samples,
            sample_rate,
            channels,
        };
        let t = transcribe(
            engine,
            audio,
            transcribe_options(options)?,
            on_segment,
            UserData(user_data),
            cancel_token(cancel),
        )?;
        out_transcript.write(t);
        Ok(())
    })
}

/// Release a transcript (NULL is ignored).
///
/// # Safety
/// NULL or a transcript from `murmur_engine_transcribe_*`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_transcript_free(transcript: *mut MurmurTranscript) {
    if transcript.is_null() {
        return;
    }
    // SAFETY: every allocation below was made by `transcribe` above.
    unsafe {
        let t = Box::from_raw(transcript);
        murmur_string_free(t.model);
        murmur_string_free(t.text);
        murmur_string_free(t.language);
        let segments = Box::from_raw(ptr::slice_from_raw_parts_mut(t.segments, t.segment_count));
        for s in segments.iter() {
            murmur_string_free(s.text);
        }
    }
}

// --- dictation ---------------------------------------------------------------------------

unsafe fn dictate_options(options: *const MurmurDictateOptions) -> Result<types::DictateOptions> {
    let mut opts = types::DictateOptions::default();
    // SAFETY: NULL or valid, with NUL-terminated strings.
    if let Some(o) = unsafe { options.as_ref() } {
        let s = |p, n| unsafe { opt_str(p, n) }.map(|s| s.map(str::to_string));
        opts.speech_model = s(o.speech_model, "speech_model")?;
        opts.text_model = s(o.text_model, "text_model")?;
        opts.language = s(o.language, "language")?;
        opts.refine = o.refine;
        opts.refine_options = unsafe { refine_options(&o.refine_options) }?;
        opts.transcribe_options = unsafe { transcribe_options(&o.transcribe) }?;
        opts.vad = o.vad;
        opts.vocabulary = o.vocabulary;
        opts.app_name = s(o.app_name, "app_name")?;
        opts.selected_text = s(o.selected_text, "selected_text")?;
    }
    Ok(opts)
}

fn dictate_event(
    e: murmur_core::dictate::DictateEvent<'_>,
    cb: unsafe extern "C" fn(*const MurmurDictateEvent, *mut c_void),
    ud: UserData,
) {
    use murmur_core::dictate::{DictateEvent as E, DictateStage as S};
    let mut c = MurmurDictateEvent {
        kind: MurmurDictateEventKind::MurmurDictateEventStage,
        stage: MurmurDictateStage::MurmurDictateDecodingAudio,
        seconds: 0.0,
        segment: ptr::null(),
        text: ptr::null(),
    };
    let (mut seg, mut text) = (None, None);
    match e {
        E::Stage(stage) => {
            c.stage = match stage {
                S::DecodingAudio => MurmurDictateStage::MurmurDictateDecodingAudio,
                S::DetectingSpeech => MurmurDictateStage::MurmurDictateDetectingSpeech,
                S::Transcribing => MurmurDictateStage::MurmurDictateTranscribing,
                S::Refining => MurmurDictateStage::MurmurDictateRefining,
            }
        }
        E::Duration(seconds) => {
            c.kind = MurmurDictateEventKind::MurmurDictateEventDuration;
            c.seconds = seconds;
        }
        E::Segment(s) => {
            c.kind = MurmurDictateEventKind::MurmurDictateEventSegment;
            seg = Some(segment(s));
        }
        E::RefineText(t) => {
            c.kind = MurmurDictateEventKind::MurmurDictateEventText;
            text = Some(CString::new(t.replace('\0', "")).expect("NULs removed"));
        }
    }
    c.segment = seg
        .as_ref()
        .map_or(ptr::null(), |s| s as *const MurmurSegment);
    c.text = text.as_ref().map_or(ptr::null(), |t| t.as_ptr());
    // SAFETY: the caller's callback with its own user data; `c` and what it points to
    // outlive the call.
    unsafe { cb(&c, ud.get()) };
    if let Some(s) = seg {
        // SAFETY: made by `segment` above.
        unsafe { murmur_string_free(s.text) };
    }
}

fn dictate(
    engine: &murmur_core::Engine,
    audio: AudioInput,
    opts: types::DictateOptions,
    on_event: MurmurDictateCallback,
    ud: UserData,
    cancel: CancelToken,
) -> Result<*mut MurmurDictateResult> {
    let engine = engine.clone();
    let r = block_on(async move {
        let on_event = move |e: murmur_core::dictate::DictateEvent<'_>| {
            if let Some(cb) = on_event {
                dictate_event(e, cb, ud);
            }
        };
        Ok(engine
            .dictate(audio, &opts.to_core(), on_event, &cancel)
            .await?)
    })?;
    dictate_result(r)
}

/// A dictation's result as C owns it (`murmur_dictate_result_free`).
fn dictate_result(r: murmur_core::dictate::DictateResult) -> Result<*mut MurmurDictateResult> {
    let json = json(serde_json::to_string(&r))?;
    let t = r.timings;
    Ok(Box::into_raw(Box::new(MurmurDictateResult {
        text: c_string(r.text),
        transcript: c_string(r.transcript),
        language: c_string(r.language),
        speech_model: c_string(r.speech_model),
        text_model: r.text_model.map_or(ptr::null_mut(), c_string),
        audio_secs: r.audio_secs,
        speech_secs: r.speech_secs,
        timings: MurmurStageTimings {
            decode_audio_secs: t.decode_audio_secs,
            vad_secs: t.vad_secs,
            transcribe_secs: t.transcribe_secs,
            refine_secs: t.refine_secs,
            total_secs: t.total_secs,
            finish_secs: t.finish_secs,
        },
        json,
    })))
}

/// Dictate an audio file (WAV, FLAC, MP3, M4A, OGG) in one call: the speech in it,
/// transcribed with the user's vocabulary, cleaned up and checked to be an edit of the
/// transcript. Progress goes to `on_event` (may be NULL). `options` and `cancel` may be
/// NULL. Audio longer than `murmur_engine_limits` allows fails with
/// `MURMUR_AUDIO_TOO_LONG` before any model is loaded. On success `*out_result` must be
/// freed with `murmur_dictate_result_free`.
///
/// # Safety
/// Valid engine and strings; `options`, `cancel` NULL or valid; `out_result` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_dictate_file(
    engine: *const MurmurEngine,
    path: *const c_char,
    options: *const MurmurDictateOptions,
    on_event: MurmurDictateCallback,
    user_data: *mut c_void,
    cancel: *const MurmurCancelToken,
    out_result: *mut *mut MurmurDictateResult,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        let audio = AudioInput::Path(req_str(path, "path")?.into());
        if out_result.is_null() {
            return Err(null("out_result"));
        }
        let r = dictate(
            engine,
            audio,
            dictate_options(options)?,
            on_event,
            UserData(user_data),
            cancel_token(cancel),
        )?;
        out_result.write(r);
        Ok(())
    })
}

/// Dictate interleaved float PCM (`sample_count` values, any rate and channel count).
/// Otherwise as `murmur_engine_dictate_file`.
///
/// # Safety
/// `samples` points to `sample_count` floats; the rest as `murmur_engine_dictate_file`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_dictate_pcm(
    engine: *const MurmurEngine,
    samples: *const f32,
    sample_count: usize,
    sample_rate: u32,
    channels: u16,
    options: *const MurmurDictateOptions,
    on_event: MurmurDictateCallback,
    user_data: *mut c_void,
    cancel: *const MurmurCancelToken,
    out_result: *mut *mut MurmurDictateResult,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        if samples.is_null() && sample_count > 0 {
            return Err(null("samples"));
        }
        if out_result.is_null() {
            return Err(null("out_result"));
        }
        let samples = if sample_count == 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(samples, sample_count).to_vec()
        };
        let audio = AudioInput::PcmF32 {
            samples,
            sample_rate,
            channels,
        };
        let r = dictate(
            engine,
            audio,
            dictate_options(options)?,
            on_event,
            UserData(user_data),
            cancel_token(cancel),
        )?;
        out_result.write(r);
        Ok(())
    })
}

/// Release a dictation result (NULL is ignored).
///
/// # Safety
/// NULL or a result from `murmur_engine_dictate_*` or `murmur_live_finish`, not used
/// afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_dictate_result_free(result: *mut MurmurDictateResult) {
    if result.is_null() {
        return;
    }
    // SAFETY: every allocation was made by `dictate` above (`text_model` may be NULL).
    unsafe {
        let r = Box::from_raw(result);
        murmur_string_free(r.text);
        murmur_string_free(r.transcript);
        murmur_string_free(r.language);
        murmur_string_free(r.speech_model);
        murmur_string_free(r.text_model);
        murmur_string_free(r.json);
    }
}

/// This machine's dictation limits (by its memory tier, or the engine's `ram_bytes`).
///
/// # Safety
/// Valid engine; `out_limits` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_limits(
    engine: *const MurmurEngine,
    out_limits: *mut MurmurLimits,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let l = engine_ref(engine)?.limits();
        let ram_tier = match l.ram_tier {
            types::RamTier::Small => MurmurRamTier::MurmurRamTierSmall,
            types::RamTier::Medium => MurmurRamTier::MurmurRamTierMedium,
            types::RamTier::Large => MurmurRamTier::MurmurRamTierLarge,
        };
        out(
            out_limits,
            "out_limits",
            MurmurLimits {
                ram_tier,
                max_recording_secs: l.max_recording_secs,
                max_refine_tokens: l.max_refine_tokens,
            },
        )
    })
}

// --- live transcription ------------------------------------------------------------------

unsafe fn live_options(options: *const MurmurLiveOptions) -> Result<types::LiveOptions> {
    let mut opts = types::LiveOptions::default();
    // SAFETY: NULL or valid, with NUL-terminated strings.
    if let Some(o) = unsafe { options.as_ref() } {
        opts.dictate = unsafe { dictate_options(&o.dictate) }?;
        opts.format = Some(types::PcmFormat {
            sample_rate: o.sample_rate,
            channels: o.channels,
        });
        opts.step_ms = o.step_ms;
    }
    Ok(opts)
}

unsafe fn live_ref<'a>(session: *const MurmurLiveSession) -> Result<&'a MurmurLiveSession> {
    // SAFETY: NULL or a pointer from `murmur_engine_live_start` not yet freed.
    unsafe { session.as_ref() }.ok_or_else(|| null("session"))
}

/// Hand a live event to the caller's callback as JSON, unless the session was freed.
fn live_event(e: &LiveEvent, callback: &Mutex<Option<LiveCallback>>) {
    let callback = callback.lock().unwrap_or_else(PoisonError::into_inner);
    let Some((cb, ud)) = *callback else { return };
    // A JSON string escapes NUL, so it always makes a C string.
    let Ok(json) = serde_json::to_string(e).map(|j| CString::new(j).expect("JSON has no NUL"))
    else {
        return;
    };
    // SAFETY: the caller's callback with its own user data; the JSON outlives the call.
    unsafe { cb(json.as_ptr(), ud.get()) };
}

/// Start a live transcription: text while the user is still speaking, and the cleanup
/// done by the time they stop. `options` may be NULL (16 kHz mono, the dictation
/// defaults). The options are checked and the models chosen now: a bad format or step is
/// `MURMUR_INVALID_ARGUMENT`, a model not on disk `MURMUR_NOT_DOWNLOADED`, before the
/// user speaks; the speech model then loads in the background (a failure there stops
/// the session: pushes are refused and `murmur_live_finish` returns it). `on_event` (may
/// be NULL) receives the session's events as JSON (see `MurmurLiveCallback`) on Murmur's
/// threads; it must not call the session's functions. On success `*out_session` must be
/// released with `murmur_live_free`.
///
/// # Safety
/// Valid engine; `options` NULL or valid; `on_event` thread-safe; `out_session` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_live_start(
    engine: *const MurmurEngine,
    options: *const MurmurLiveOptions,
    on_event: MurmurLiveCallback,
    user_data: *mut c_void,
    out_session: *mut *mut MurmurLiveSession,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?.clone();
        if out_session.is_null() {
            return Err(null("out_session"));
        }
        let opts = live_options(options)?.to_core();
        let callback = Arc::new(Mutex::new(on_event.map(|cb| (cb, UserData(user_data)))));
        let gate = callback.clone();
        let session = block_on(async move {
            let on_event = move |e: LiveEvent| live_event(&e, &gate);
            Ok(engine.live(&opts, on_event, &CancelToken::new()).await?)
        })?;
        out_session.write(Box::into_raw(Box::new(MurmurLiveSession {
            session: Arc::new(session),
            callback,
        })));
        Ok(())
    })
}

/// Append `sample_count` interleaved float samples in the session's format. Returns at
/// once (the samples are converted and appended; decoding runs on Murmur's threads).
/// `MURMUR_AUDIO_TOO_LONG` once this machine's recording limit is reached (the audio
/// before it is kept: `murmur_live_finish` gives its text); `MURMUR_INVALID_ARGUMENT`
/// after `murmur_live_finish`, or once the session stopped on an error (a model that
/// failed to load: `murmur_live_finish` returns that error); `MURMUR_CANCELLED` after a
/// cancel.
///
/// # Safety
/// A live session; `samples` points to `sample_count` floats (NULL when 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_live_push_f32(
    session: *const MurmurLiveSession,
    samples: *const f32,
    sample_count: usize,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let s = live_ref(session)?;
        let samples = slice(samples, sample_count, "samples")?;
        Ok(s.session.push_f32(samples)?)
    })
}

/// Append `sample_count` interleaved signed 16-bit samples; as `murmur_live_push_f32`.
///
/// # Safety
/// A live session; `samples` points to `sample_count` values (NULL when 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_live_push_i16(
    session: *const MurmurLiveSession,
    samples: *const i16,
    sample_count: usize,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let s = live_ref(session)?;
        let samples = slice(samples, sample_count, "samples")?;
        Ok(s.session.push_i16(samples)?)
    })
}

/// Seconds of audio the session has received (0 for NULL).
///
/// # Safety
/// NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_live_audio_secs(session: *const MurmurLiveSession) -> f64 {
    // SAFETY: NULL or a live session.
    unsafe { session.as_ref() }.map_or(0.0, |s| s.session.audio_secs())
}

/// End the audio and wait for the result (blocking): the last words decoded and cleaned
/// up, the whole text checked. The result is also sent to the callback as the `final`
/// event, before this returns. A second call is `MURMUR_INVALID_ARGUMENT`; a cancel
/// (from another thread, during the wait too) gives `MURMUR_CANCELLED`. On success
/// `*out_result` must be freed with `murmur_dictate_result_free`.
///
/// # Safety
/// A live session; `out_result` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_live_finish(
    session: *const MurmurLiveSession,
    out_result: *mut *mut MurmurDictateResult,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let session = live_ref(session)?.session.clone();
        if out_result.is_null() {
            return Err(null("out_result"));
        }
        let r = block_on(async move { Ok(session.finish().await?) })?;
        out_result.write(dictate_result(r)?);
        Ok(())
    })
}

/// Stop a live session, from any thread (NULL is ignored): the work stops, pushes are
/// refused and `murmur_live_finish` (a waiting one too) returns `MURMUR_CANCELLED`.
///
/// # Safety
/// NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_live_cancel(session: *const MurmurLiveSession) {
    // SAFETY: NULL or a live session.
    if let Some(s) = unsafe { session.as_ref() } {
        s.session.cancel();
    }
}

/// Release a live session (NULL is ignored), cancelling it if it has not finished. Once
/// this returns, its callback is not called again (a call running meanwhile is waited
/// for), so `user_data` may be freed.
///
/// # Safety
/// NULL or from `murmur_engine_live_start`; no other call on it is running (a
/// `murmur_live_finish` waiting in another thread must be cancelled and have returned
/// first); not used afterwards; not called from the session's callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_live_free(session: *mut MurmurLiveSession) {
    if session.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: from Box::into_raw in murmur_engine_live_start.
        let s = unsafe { Box::from_raw(session) };
        s.session.cancel();
        *s.callback.lock().unwrap_or_else(PoisonError::into_inner) = None;
        let _rt = runtime().enter();
        drop(s);
    }));
}

// --- vocabulary ----------------------------------------------------------------------------

/// The user's saved vocabulary as JSON: `{"terms": [...], "replacements": [{"spoken",
/// "written"}]}` (empty lists when none was saved).
///
/// # Safety
/// Valid engine; `out_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_vocabulary_json(
    engine: *const MurmurEngine,
    out_json: *mut *mut c_char,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        if out_json.is_null() {
            return Err(null("out_json"));
        }
        let v = engine.vocabulary()?;
        out_json.write(json(serde_json::to_string(&v))?);
        Ok(())
    })
}

fn add_outcome(o: types::AddOutcome) -> MurmurAddOutcome {
    match o {
        types::AddOutcome::Added => MurmurAddOutcome::MurmurAddAdded,
        types::AddOutcome::Updated => MurmurAddOutcome::MurmurAddUpdated,
        types::AddOutcome::Unchanged => MurmurAddOutcome::MurmurAddUnchanged,
    }
}

/// Add a term to spell as given ("Dashwood"); one equal to it ignoring case is
/// respelled. `out_outcome` (may be NULL) receives what was done.
///
/// # Safety
/// Valid engine and string; `out_outcome` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_add_vocabulary_term(
    engine: *const MurmurEngine,
    term: *const c_char,
    out_outcome: *mut MurmurAddOutcome,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        let term = req_str(term, "term")?.to_string();
        let o = engine.add_vocabulary(murmur_core::vocab::Entry::Term(term))?;
        if !out_outcome.is_null() {
            out_outcome.write(add_outcome(o));
        }
        Ok(())
    })
}

/// Add a replacement: write `written` where `spoken` is said ("murmur dot app" →
/// "Murmur.app"). `out_outcome` (may be NULL) receives what was done.
///
/// # Safety
/// Valid engine and strings; `out_outcome` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_add_vocabulary_replacement(
    engine: *const MurmurEngine,
    spoken: *const c_char,
    written: *const c_char,
    out_outcome: *mut MurmurAddOutcome,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        let r = murmur_core::vocab::Replacement {
            spoken: req_str(spoken, "spoken")?.to_string(),
            written: req_str(written, "written")?.to_string(),
        };
        let o = engine.add_vocabulary(murmur_core::vocab::Entry::Replacement(r))?;
        if !out_outcome.is_null() {
            out_outcome.write(add_outcome(o));
        }
        Ok(())
    })
}

/// Remove the term `entry` and every replacement whose spoken or written form is `entry`
/// (ignoring case); `MURMUR_INVALID_ARGUMENT` when nothing matched. `out_removed_json`
/// (may be NULL) receives what was removed: `{"terms": [...], "replacements": [...]}`.
///
/// # Safety
/// Valid engine and string; `out_removed_json` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_remove_vocabulary(
    engine: *const MurmurEngine,
    entry: *const c_char,
    out_removed_json: *mut *mut c_char,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        let removed = engine.remove_vocabulary(req_str(entry, "entry")?)?;
        if !out_removed_json.is_null() {
            out_removed_json.write(json(serde_json::to_string(&removed))?);
        }
        Ok(())
    })
}

/// Import the entries of a CSV file (rows `term` or `spoken,written`, an optional header,
/// `#` comments): all of them, or none on an error naming the line. `out_imported` (may
/// be NULL) receives the counts.
///
/// # Safety
/// Valid engine and string; `out_imported` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_import_vocabulary(
    engine: *const MurmurEngine,
    path: *const c_char,
    out_imported: *mut MurmurImported,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        let path = req_str(path, "path")?;
        let i = types::Imported::from(engine.import_vocabulary(std::path::Path::new(path))?);
        if !out_imported.is_null() {
            out_imported.write(MurmurImported {
                terms_added: i.terms_added,
                replacements_added: i.replacements_added,
                updated: i.updated,
                unchanged: i.unchanged,
            });
        }
        Ok(())
    })
}

// --- events ------------------------------------------------------------------------------

/// Deliver engine events to `on_event` (on a Murmur thread, in order) until the
/// subscription is freed with `murmur_subscription_free`.
///
/// # Safety
/// Valid engine; `on_event` thread-safe; `out_subscription` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_engine_subscribe(
    engine: *const MurmurEngine,
    on_event: MurmurEventCallback,
    user_data: *mut c_void,
    out_subscription: *mut *mut MurmurSubscription,
    error_message: *mut *mut c_char,
) -> MurmurStatus {
    call(error_message, || unsafe {
        let engine = engine_ref(engine)?;
        let cb = on_event.ok_or_else(|| null("on_event"))?;
        if out_subscription.is_null() {
            return Err(null("out_subscription"));
        }
        let mut rx = engine.subscribe();
        let ud = UserData(user_data);
        let task = runtime().spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match rx.recv().await {
                    Ok(event) => deliver(&event, cb, ud),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        });
        out_subscription.write(Box::into_raw(Box::new(MurmurSubscription {
            task: task.abort_handle(),
        })));
        Ok(())
    })
}

fn deliver(event: &Event, cb: unsafe extern "C" fn(*const MurmurEvent, *mut c_void), ud: UserData) {
    let model_id = CString::new(event.model_id().replace('\0', "")).expect("NULs removed");
    let mut c = MurmurEvent {
        kind: MurmurEventKind::MurmurEventDownloadStarted,
        model_id: model_id.as_ptr(),
        progress: 0.0,
        bytes: 0,
        load_ms: 0,
        unload_reason: 0,
        message: ptr::null(),
    };
    let mut message = None;
    c.kind = match event {
        Event::DownloadStarted { .. } => MurmurEventKind::MurmurEventDownloadStarted,
        Event::DownloadProgress { progress, .. } => {
            c.progress = *progress;
            MurmurEventKind::MurmurEventDownloadProgress
        }
        Event::DownloadCompleted { bytes, .. } => {
            c.bytes = *bytes;
            MurmurEventKind::MurmurEventDownloadCompleted
        }
        Event::DownloadCancelled { .. } => MurmurEventKind::MurmurEventDownloadCancelled,
        Event::LoadingStarted { .. } => MurmurEventKind::MurmurEventLoadingStarted,
        Event::LoadingCompleted { load_ms, .. } => {
            c.load_ms = *load_ms;
            MurmurEventKind::MurmurEventLoadingCompleted
        }
        Event::Unloaded { reason, .. } => {
            c.unload_reason = *reason as u32;
            MurmurEventKind::MurmurEventUnloaded
        }
        Event::Deleted { .. } => MurmurEventKind::MurmurEventDeleted,
        Event::Error { error, .. } => {
            message = Some(CString::new(error.replace('\0', "")).expect("NULs removed"));
            MurmurEventKind::MurmurEventError
        }
    };
    c.message = message.as_ref().map_or(ptr::null(), |m| m.as_ptr());
    // SAFETY: the caller's callback with its own user data; `c` outlives the call.
    unsafe { cb(&c, ud.get()) };
}

/// Stop a subscription and release it (NULL is ignored).
///
/// # Safety
/// NULL or from `murmur_engine_subscribe`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_subscription_free(subscription: *mut MurmurSubscription) {
    if !subscription.is_null() {
        // SAFETY: from Box::into_raw in murmur_engine_subscribe.
        let s = unsafe { Box::from_raw(subscription) };
        s.task.abort();
    }
}

// --- cancellation, strings, version ----------------------------------------------------

/// A new cancellation token; free with `murmur_cancel_token_free`.
#[unsafe(no_mangle)]
pub extern "C" fn murmur_cancel_token_new() -> *mut MurmurCancelToken {
    Box::into_raw(Box::new(MurmurCancelToken {
        token: CancelToken::new(),
    }))
}

/// Cancel the calls given this token (from any thread; NULL is ignored).
///
/// # Safety
/// NULL or a live token.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_cancel_token_cancel(token: *const MurmurCancelToken) {
    // SAFETY: NULL or a live token.
    if let Some(t) = unsafe { token.as_ref() } {
        t.token.cancel();
    }
}

/// Release a token (NULL is ignored) once no running call uses it.
///
/// # Safety
/// NULL or from `murmur_cancel_token_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_cancel_token_free(token: *mut MurmurCancelToken) {
    if !token.is_null() {
        // SAFETY: from Box::into_raw in murmur_cancel_token_new.
        drop(unsafe { Box::from_raw(token) });
    }
}

/// Release a string returned by Murmur (NULL is ignored).
///
/// # Safety
/// NULL or a string from this library, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn murmur_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: made by CString::into_raw in this library.
        drop(unsafe { CString::from_raw(s) });
    }
}

/// The library version (a static string: do not free).
#[unsafe(no_mangle)]
pub extern "C" fn murmur_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
