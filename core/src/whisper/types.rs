//! What a transcription takes and gives: its options (mlx-whisper's `transcribe()`
//! arguments and defaults) and its result (segments, words, the transcript). Owned here,
//! beside the decoder, as mlx-whisper's `decoding.py` owns `DecodingOptions`;
//! [`crate::transcribe`] re-exports them.

use serde::{Deserialize, Serialize};

/// Punctuation merged into the following word (word timestamps).
pub const PREPEND_PUNCTUATIONS: &str = "\"'“¿([{-";
/// Punctuation merged into the preceding word.
pub const APPEND_PUNCTUATIONS: &str = "\"'.。,，!！?？:：”)]}、";

/// What to produce from the speech.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Text in the spoken language.
    #[default]
    Transcribe,
    /// English text, whatever the spoken language.
    Translate,
}

impl std::str::FromStr for Task {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "transcribe" => Ok(Task::Transcribe),
            "translate" => Ok(Task::Translate),
            other => Err(crate::Error::InvalidArgument {
                name: "task".into(),
                reason: format!("{other:?} is not transcribe or translate"),
            }),
        }
    }
}

/// Transcription settings; the defaults are mlx-whisper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TranscribeOptions {
    /// Language code (`"en"`) or English name; `None` detects it on the first 30 s.
    pub language: Option<String>,
    pub task: Task,
    /// Fallback schedule: decode at the first temperature, and at the next ones while
    /// the output is too repetitive or too unlikely.
    pub temperatures: Vec<f32>,
    /// Beam search width at temperature 0 (`None`: greedy).
    pub beam_size: Option<usize>,
    /// Candidates sampled at temperatures above 0 (`None`: one).
    pub best_of: Option<usize>,
    /// Beam search patience (finished candidates = beam_size × patience).
    pub patience: Option<f32>,
    /// `None`: rank candidates by log-probability / length; else Google NMT's alpha.
    pub length_penalty: Option<f32>,
    /// Fall back when gzip compression ratio of the text exceeds this.
    pub compression_ratio_threshold: Option<f32>,
    /// Fall back when the average token log-probability is below this.
    pub logprob_threshold: Option<f32>,
    /// A window is silence when its no-speech probability exceeds this and its
    /// log-probability is below `logprob_threshold`.
    pub no_speech_threshold: Option<f32>,
    /// Feed the previous window's text as the prompt of the next.
    pub condition_on_previous_text: bool,
    /// Text to condition the first window on: spelling of names, a vocabulary hint.
    pub initial_prompt: Option<String>,
    /// Word-level timestamps from cross-attention alignment.
    pub word_timestamps: bool,
    pub prepend_punctuations: String,
    pub append_punctuations: String,
    /// Token ids to suppress; `-1` stands for the non-speech symbol list.
    pub suppress_tokens: Vec<i64>,
    /// No blank or end-of-text as a window's first token.
    pub suppress_blank: bool,
    /// Decode text only (no segment timestamps: one segment per window).
    pub without_timestamps: bool,
    /// Latest allowed first timestamp of a window, in seconds.
    pub max_initial_timestamp: Option<f32>,
    /// Most tokens per window (default: 224).
    pub sample_len: Option<usize>,
    /// Seed of the sampling PRNG for temperatures above 0 (results are reproducible).
    pub seed: u64,
}

impl Default for TranscribeOptions {
    fn default() -> Self {
        Self {
            language: None,
            task: Task::Transcribe,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            beam_size: None,
            best_of: None,
            patience: None,
            length_penalty: None,
            compression_ratio_threshold: Some(2.4),
            logprob_threshold: Some(-1.0),
            no_speech_threshold: Some(0.6),
            condition_on_previous_text: true,
            initial_prompt: None,
            word_timestamps: false,
            prepend_punctuations: PREPEND_PUNCTUATIONS.into(),
            append_punctuations: APPEND_PUNCTUATIONS.into(),
            suppress_tokens: vec![-1],
            suppress_blank: true,
            without_timestamps: false,
            max_initial_timestamp: Some(1.0),
            sample_len: None,
            seed: 0,
        }
    }
}

/// One word with its time span (seconds) and the model's confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Word {
    /// The word as decoded, with its leading space and attached punctuation.
    pub word: String,
    pub start: f32,
    pub end: f32,
    pub probability: f32,
}

/// A stretch of speech between two timestamps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Segment {
    pub id: u32,
    /// Mel frame (10 ms) where its window started.
    pub seek: u32,
    /// Seconds from the start of the audio.
    pub start: f32,
    pub end: f32,
    pub text: String,
    /// Token ids including the timestamp tokens.
    pub tokens: Vec<u32>,
    /// The fallback temperature the window was decoded at.
    pub temperature: f32,
    pub avg_logprob: f32,
    pub compression_ratio: f32,
    pub no_speech_prob: f32,
    /// Present when word timestamps were asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub words: Option<Vec<Word>>,
}

/// The result of a transcription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Transcript {
    /// The catalog id of the model that made it (set by [`crate::Engine`]; empty when a
    /// loaded model was called directly).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    pub text: String,
    /// Language code, given or detected.
    pub language: String,
    /// Probability of the detected language (`None` when it was given, or the model
    /// is English-only).
    pub language_probability: Option<f32>,
    pub segments: Vec<Segment>,
    /// Seconds of audio.
    pub duration: f32,
}
