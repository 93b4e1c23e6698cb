//! Speech to text: the public entry point over [`crate::whisper`] and [`crate::audio`].
//!
//! [`transcribe`] takes any [`AudioInput`] (a file in any common container, or raw PCM
//! from a microphone), streams [`Segment`]s to a callback as each 30 s window is
//! decoded, and returns the whole [`Transcript`]. Options and defaults are
//! mlx-whisper's `transcribe()` (the option and result types live with the decoder, in
//! [`crate::whisper::types`], as mlx-whisper's `decoding.py` owns them).
//! [`transcribe_and_refine`] runs a chat model over the text afterwards, as the apps'
//! "dictate and clean up" flow does. The writers turn a transcript into plain text, SRT,
//! WebVTT or JSON, whole or segment by segment ([`Writer`]).

pub mod listen;
mod writers;

use serde::Serialize;

pub use self::writers::{Format, Writer, format_timestamp, to_json, to_srt, to_txt, to_vtt};
use crate::audio::{AudioInput, AudioStream};
use crate::cancel::CancelToken;
use crate::error::Result;
use crate::llm::chat::ChatModel;
use crate::refine::{RefineOptions, RefineResult, refine};
use crate::whisper::WhisperModel;
pub use crate::whisper::longform::TranscribeEvent;
use crate::whisper::longform::transcribe_stream;
pub use crate::whisper::types::{Segment, Task, TranscribeOptions, Transcript, Word};

/// Transcribe `audio` with `model`, calling `on_segment` with each segment as soon as
/// its window is decoded. The audio is streamed (a window at a time, whatever its
/// length); `cancel` stops within one decoding step or packet
/// ([`crate::Error::Cancelled`]).
pub fn transcribe(
    model: &WhisperModel,
    audio: &AudioInput,
    opts: &TranscribeOptions,
    cancel: &CancelToken,
    on_segment: &mut dyn FnMut(&Segment),
) -> Result<Transcript> {
    transcribe_with_events(model, audio, opts, cancel, &mut |e| {
        if let TranscribeEvent::Segment(s) = e {
            on_segment(s)
        }
    })
}

/// [`transcribe`], reporting the audio's duration too ([`TranscribeEvent`]): the
/// declared one before any work, and the real one when the end shows it differs.
pub fn transcribe_with_events(
    model: &WhisperModel,
    audio: &AudioInput,
    opts: &TranscribeOptions,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(TranscribeEvent<'_>),
) -> Result<Transcript> {
    let stream = AudioStream::open(audio)?;
    if let Some(d) = stream.declared_duration() {
        on_event(TranscribeEvent::Duration(d));
    }
    transcribe_stream(model, stream, opts, cancel, on_event)
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
