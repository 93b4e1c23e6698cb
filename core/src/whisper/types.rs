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

/// Largest beam or best-of candidate count: each candidate is a decoder batch row with
/// its own KV cache, so a request's `beam_size` must not size memory (faster-whisper uses
/// 5; 32 is far past any gain).
pub const MAX_CANDIDATES: usize = 32;
/// Longest temperature schedule (mlx-whisper's default has 6 steps).
pub const MAX_TEMPERATURES: usize = 32;

impl TranscribeOptions {
    /// Every option in its range; the error names the option. Checked before any audio
    /// is read or a model loaded.
    pub fn validate(&self) -> crate::error::Result<()> {
        let bad = |name: &str, reason: String| {
            Err(crate::error::Error::InvalidArgument {
                name: name.into(),
                reason,
            })
        };
        let t = &self.temperatures;
        if t.is_empty() || t.len() > MAX_TEMPERATURES {
            return bad(
                "temperatures",
                format!("give 1 to {MAX_TEMPERATURES} temperatures, not {}", t.len()),
            );
        }
        if t.iter().any(|t| !t.is_finite() || *t < 0.0) {
            return bad("temperatures", "must be finite and non-negative".into());
        }
        for (name, n) in [("beam_size", self.beam_size), ("best_of", self.best_of)] {
            if let Some(n) = n.filter(|n| !(1..=MAX_CANDIDATES).contains(n)) {
                return bad(name, format!("{n} (must be 1 to {MAX_CANDIDATES})"));
            }
        }
        if self.beam_size.is_some() && self.best_of.is_some() {
            return bad(
                "beam_size",
                "beam_size and best_of cannot be given together".into(),
            );
        }
        if self.patience.is_some() && self.beam_size.is_none() {
            return bad("patience", "requires beam_size".into());
        }
        if let Some(p) = self
            .patience
            .filter(|p| !(p.is_finite() && *p > 0.0 && *p <= 8.0))
        {
            return bad("patience", format!("{p} (must be above 0, at most 8)"));
        }
        for (name, value) in [
            ("length_penalty", self.length_penalty),
            (
                "compression_ratio_threshold",
                self.compression_ratio_threshold,
            ),
            ("logprob_threshold", self.logprob_threshold),
            ("no_speech_threshold", self.no_speech_threshold),
            ("max_initial_timestamp", self.max_initial_timestamp),
        ] {
            if let Some(v) = value.filter(|v| !v.is_finite()) {
                return bad(name, format!("{v} (must be a finite number)"));
            }
        }
        if self
            .suppress_tokens
            .iter()
            .any(|&t| t < -1 || t > u32::MAX as i64)
        {
            return bad(
                "suppress_tokens",
                "token ids are 0 or more (-1: the defaults)".into(),
            );
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_that_would_size_memory_or_poison_decoding_are_refused() {
        assert!(TranscribeOptions::default().validate().is_ok());
        let named = |o: TranscribeOptions| match o.validate() {
            Err(crate::error::Error::InvalidArgument { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        let d = TranscribeOptions::default;
        assert_eq!(
            named(TranscribeOptions {
                beam_size: Some(1_000_000_000),
                ..d()
            }),
            "beam_size"
        );
        assert_eq!(
            named(TranscribeOptions {
                best_of: Some(0),
                ..d()
            }),
            "best_of"
        );
        assert_eq!(
            named(TranscribeOptions {
                temperatures: vec![0.0; 1000],
                ..d()
            }),
            "temperatures"
        );
        assert_eq!(
            named(TranscribeOptions {
                beam_size: Some(5),
                patience: Some(f32::NAN),
                ..d()
            }),
            "patience"
        );
        assert_eq!(
            named(TranscribeOptions {
                no_speech_threshold: Some(f32::INFINITY),
                ..d()
            }),
            "no_speech_threshold"
        );
        assert_eq!(
            named(TranscribeOptions {
                suppress_tokens: vec![-7],
                ..d()
            }),
            "suppress_tokens"
        );
    }
}
