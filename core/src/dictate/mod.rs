//! Dictation in one call: audio in; the transcript, the clean text, the edits between
//! them, per-stage timings and warnings out.
//!
//! [`crate::Engine::dictate`] runs the stages, each written once elsewhere:
//! 1. decode the audio (any container or PCM), refusing audio longer than the machine's
//!    [`crate::system::Limits`] before any work;
//! 2. find the speech ([`crate::vad`]): silence and noise alone give empty text and a
//!    warning, never Whisper's invented "Thank you."; long pauses are skipped;
//! 3. transcribe the speech, the user's vocabulary ([`crate::vocab`]) in Whisper's prompt;
//! 4. apply the vocabulary's replacements;
//! 5. clean the text up with a language model that is told the transcript is material to
//!    edit ([`crate::refine`]), then check that the output is an edit of it ([`guard`]):
//!    wrappers are stripped, answers and rewrites fall back to the transcript;
//! 6. apply the replacements again, and list the word edits ([`edits`]).
//!
//! This module owns the options and the result; the engine owns the running.

pub mod edits;
pub mod guard;

use serde::{Deserialize, Serialize};

pub use self::edits::{Edit, EditKind, word_edits};
pub use self::guard::normalized_words;
use crate::error::Result;
use crate::llm::generate::GenerationStats;
use crate::refine::{RefineContext, RefineOptions};
use crate::transcribe::{Segment, TranscribeOptions};
use crate::vad::VadOptions;

/// What `dictate` does. The defaults are a dictation app's: voice-activity trimming on,
/// the user's vocabulary on, cleanup on (the refine defaults), Whisper's defaults.
///
/// In JSON: `{"transcribe": {...}, "refine": {...} | null, "vad": {...} | null,
/// "vocabulary": true, "app_name": "Mail", "selected_text": "...", "speech_model": ...,
/// "text_model": ...}`; a missing key takes its default, `null` turns a stage off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DictateOptions {
    /// The speech model (`None`: [`crate::Engine::default_for`]).
    pub speech_model: Option<String>,
    /// The text model of the cleanup (`None`: the default).
    pub text_model: Option<String>,
    pub transcribe: TranscribeOptions,
    /// The cleanup; `None`: the transcript (with the vocabulary's replacements) is the
    /// text.
    pub refine: Option<RefineOptions>,
    /// Voice-activity trimming; `None`: the whole audio goes to Whisper.
    pub vad: Option<VadOptions>,
    /// Use the user's vocabulary: its words in Whisper's and the cleanup's prompts, its
    /// replacements on the transcript and the clean text.
    pub vocabulary: bool,
    /// The app the text is dictated into; reaches the cleanup's prompt.
    pub app_name: Option<String>,
    /// The text selected in that app; reaches the cleanup's prompt.
    pub selected_text: Option<String>,
}

impl Default for DictateOptions {
    fn default() -> Self {
        Self {
            speech_model: None,
            text_model: None,
            transcribe: TranscribeOptions::default(),
            refine: Some(RefineOptions::default()),
            vad: Some(VadOptions::default()),
            vocabulary: true,
            app_name: None,
            selected_text: None,
        }
    }
}

impl DictateOptions {
    /// Every setting in range, checked before any audio is read or a model loaded.
    pub fn validate(&self) -> Result<()> {
        self.transcribe.validate()?;
        if let Some(vad) = &self.vad {
            vad.validate()?;
        }
        if let Some(refine) = &self.refine {
            refine.validate()?;
        }
        self.context().validate()
    }

    /// The cleanup's context: the refine options' own, with the app and selection given
    /// here in their place when set (the vocabulary is added by the engine).
    pub fn context(&self) -> RefineContext {
        let mut c = self
            .refine
            .as_ref()
            .map(|r| r.context.clone())
            .unwrap_or_default();
        if self.app_name.is_some() {
            c.app_name.clone_from(&self.app_name);
        }
        if self.selected_text.is_some() {
            c.selected_text.clone_from(&self.selected_text);
        }
        c
    }
}

/// Where a dictation is, for progress and streaming (JSON: `"decoding_audio"`,
/// `"detecting_speech"`, `"transcribing"`, `"refining"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum DictateStage {
    DecodingAudio,
    DetectingSpeech,
    Transcribing,
    Refining,
}

/// What `dictate` reports while it works.
#[derive(Debug, Clone, Copy)]
pub enum DictateEvent<'a> {
    /// A stage began.
    Stage(DictateStage),
    /// The audio's length, once it is known (before the models load).
    Duration(f64),
    /// A transcribed segment, timed in the original audio.
    Segment(&'a Segment),
    /// Cleaned-up text as it is generated (before the guard's check).
    RefineText(&'a str),
}

/// Seconds each stage took. A stage that did not run took 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct StageTimings {
    /// Reading and decoding the audio to 16 kHz mono.
    pub decode_audio_secs: f64,
    /// Finding the speech.
    pub vad_secs: f64,
    /// Transcribing it (loading the speech model, when it was not loaded, included).
    pub transcribe_secs: f64,
    /// Cleaning it up (loading the text model, when it was not loaded, included).
    pub refine_secs: f64,
    /// From the call to the result.
    pub total_secs: f64,
    /// From the end of the audio to the result: the wait a user has after they stop
    /// talking. All of `total_secs` for `dictate` (it gets the audio whole); from
    /// `finish()` for a live session, which works while the audio comes.
    pub finish_secs: f64,
}

/// What a warning is about, for apps that act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum WarningCode {
    /// No speech was found (silence or noise): the text is empty.
    NoSpeech,
    /// The cleanup's output was not an edit of the transcript (an answer, a rewrite):
    /// the text is the transcript with the vocabulary applied.
    CleanupRejected,
    /// Words the model put around the text ("Sure! Here's …") were removed.
    CleanupTrimmed,
    /// The cleanup stopped at its token budget: the text may be cut short, so the
    /// transcript was used.
    CleanupTruncated,
    /// Not every vocabulary word fit Whisper's prompt; the first ones were used.
    VocabularyTruncated,
}

/// A warning: its code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Warning {
    pub code: WarningCode,
    pub message: String,
}

impl Warning {
    pub fn new(code: WarningCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// What `dictate` returns.
#[derive(Debug, Clone, Serialize)]
pub struct DictateResult {
    /// The final text: cleaned up, the vocabulary applied. Empty when there was no speech.
    pub text: String,
    /// Whisper's transcript, as it came.
    pub transcript: String,
    /// The spoken language (detected or given).
    pub language: String,
    /// The word edits from `transcript` to `text`.
    pub edits: Vec<Edit>,
    pub timings: StageTimings,
    pub warnings: Vec<Warning>,
    /// Seconds of audio, and of it the speech that was transcribed.
    pub audio_secs: f64,
    pub speech_secs: f64,
    /// The transcript's segments (the vocabulary's replacements applied, as in `text`
    /// without a cleanup), timed in the original audio, words included (pauses skipped
    /// by the voice-activity trimming are accounted for).
    pub segments: Vec<Segment>,
    /// The models used (catalog ids); `text_model` is `None` when there was no cleanup.
    pub speech_model: String,
    pub text_model: Option<String>,
    /// The cleanup's generation figures.
    pub refine_stats: Option<GenerationStats>,
}
