//! Speech to text: the public entry point over [`crate::whisper`] and [`crate::audio`].
//!
//! [`transcribe`] takes any [`AudioInput`] (a file in any common container, or raw PCM
//! from a microphone), streams [`Segment`]s to a callback as each 30 s window is
//! decoded, and returns the whole [`Transcript`]. Options and defaults are
//! mlx-whisper's `transcribe()`. [`transcribe_and_refine`] runs a chat model over the
//! text afterwards, as the apps' "dictate and clean up" flow does. The writers turn a
//! transcript into plain text, SRT, WebVTT or JSON.

use serde::{Deserialize, Serialize};

use crate::audio::{self, AudioInput};
use crate::cancel::CancelToken;
use crate::error::Result;
use crate::llm::chat::ChatModel;
use crate::refine::{RefineOptions, RefineResult, refine};
use crate::whisper::WhisperModel;
use crate::whisper::longform::transcribe_samples;
use crate::whisper::timestamps::{APPEND_PUNCTUATIONS, PREPEND_PUNCTUATIONS};

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
pub struct Word {
    /// The word as decoded, with its leading space and attached punctuation.
    pub word: String,
    pub start: f32,
    pub end: f32,
    pub probability: f32,
}

/// A stretch of speech between two timestamps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub id: usize,
    /// Mel frame (10 ms) where its window started.
    pub seek: usize,
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
pub struct Transcript {
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

/// Transcribe `audio` with `model`, calling `on_segment` with each segment as soon as
/// its window is decoded. `cancel` stops within one decoding step
/// ([`crate::Error::Cancelled`]).
pub fn transcribe(
    model: &WhisperModel,
    audio: &AudioInput,
    opts: &TranscribeOptions,
    cancel: &CancelToken,
    on_segment: &mut dyn FnMut(&Segment),
) -> Result<Transcript> {
    let samples = audio::load_16k_mono(audio)?;
    transcribe_samples(model, &samples, opts, cancel, on_segment)
}

/// A transcript and its refined text.
#[derive(Debug, Clone, Serialize)]
pub struct RefinedTranscript {
    pub transcript: Transcript,
    /// `None` when the transcript was empty (nothing to refine).
    pub refined: Option<RefineResult>,
}

/// Transcribe, then refine the text with a chat model (punctuation, fillers, grammar,
/// per `refine_opts.mode`), streaming segments and then refined text.
#[allow(clippy::too_many_arguments)]
pub fn transcribe_and_refine(
    model: &WhisperModel,
    audio: &AudioInput,
    opts: &TranscribeOptions,
    chat: &ChatModel,
    refine_opts: &RefineOptions,
    cancel: &CancelToken,
    on_segment: &mut dyn FnMut(&Segment),
    on_text: &mut dyn FnMut(&str),
) -> Result<RefinedTranscript> {
    let transcript = transcribe(model, audio, opts, cancel, on_segment)?;
    let refined = if transcript.text.trim().is_empty() {
        None
    } else {
        Some(refine(
            chat,
            &transcript.text,
            refine_opts,
            cancel,
            on_text,
        )?)
    };
    Ok(RefinedTranscript {
        transcript,
        refined,
    })
}

// ---------------------------------------------------------------------------------
// Writers

/// `HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` (WebVTT).
pub fn format_timestamp(seconds: f32, decimal_marker: char) -> String {
    let ms = (seconds.max(0.0) as f64 * 1000.0).round() as u64;
    let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}{decimal_marker}{ms:03}")
}

fn cues(t: &Transcript) -> impl Iterator<Item = &Segment> {
    t.segments.iter().filter(|s| !s.text.trim().is_empty())
}

/// Plain text, one segment per line.
pub fn to_txt(t: &Transcript) -> String {
    cues(t).map(|s| format!("{}\n", s.text.trim())).collect()
}

/// SubRip subtitles.
pub fn to_srt(t: &Transcript) -> String {
    cues(t)
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{}\n{} --> {}\n{}\n\n",
                i + 1,
                format_timestamp(s.start, ','),
                format_timestamp(s.end, ','),
                s.text.trim().replace("-->", "->")
            )
        })
        .collect()
}

/// WebVTT subtitles.
pub fn to_vtt(t: &Transcript) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for s in cues(t) {
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            format_timestamp(s.start, '.'),
            format_timestamp(s.end, '.'),
            s.text.trim().replace("-->", "->")
        ));
    }
    out
}

/// The whole transcript as JSON (mlx-whisper's result shape: text, segments, language).
pub fn to_json(t: &Transcript) -> String {
    serde_json::to_string_pretty(t).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_to_milliseconds() {
        assert_eq!(format_timestamp(0.0, ','), "00:00:00,000");
        assert_eq!(format_timestamp(3.0, '.'), "00:00:03.000");
        assert_eq!(format_timestamp(61.0016, ','), "00:01:01,002");
        assert_eq!(format_timestamp(3725.25, ','), "01:02:05,250");
    }
}
