//! Live transcription: text while the user is still speaking, and the cleanup done by
//! the time they stop.
//!
//! An app opens a session ([`crate::Engine::live`]), feeds it its microphone's buffers
//! as they come ([`input`]: any rate, `f32` or `i16`, mono or interleaved) and ends it
//! with `finish()`. While the audio comes, the session:
//! 1. finds the speech ([`crate::vad`]): silence is never decoded (no invented text),
//!    and a pause of [`crate::vad::VadOptions::min_silence_ms`] ends an utterance;
//! 2. decodes the utterance so far with Whisper each time [`LiveOptions::step_ms`] more
//!    of it has arrived, the user's vocabulary and the text confirmed before it in the
//!    prompt; the words two successive decodes agree on are confirmed and never change
//!    again ([`agreement`]), the rest is partial text that may; a long utterance's
//!    confirmed audio is trimmed from the window so it stays within Whisper's 30 s;
//! 3. cleans up each confirmed sentence in the background (the same cleanup and guard as
//!    [`crate::dictate`]), so at `finish()` only the last words are left to decode and
//!    clean up.
//!
//! The final result is a [`DictateResult`], as `dictate` gives: the text is an edit of the
//! whole transcript (the guard checks it whole as well as piece by piece), with the edits,
//! timings (`finish_secs`: from `finish()` to the result) and warnings.

pub mod agreement;
pub mod input;

use serde::{Deserialize, Serialize};

pub use self::agreement::{Agreement, TimedWord};
pub use self::input::{PcmConverter, PcmFormat};
use crate::dictate::{DictateOptions, DictateResult};
use crate::error::{Error, Result};

/// What a live session does: `dictate`'s options (models, transcription, cleanup, voice
/// activity, vocabulary, app context), the format of the audio it is fed, and how often
/// it decodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveOptions {
    #[serde(flatten)]
    pub dictate: DictateOptions,
    /// The format of the pushed samples. Default 16 kHz mono.
    pub format: PcmFormat,
    /// Least new audio (ms) between two decodes of the utterance. Default 1000: partial
    /// text a second behind at worst on a fast machine; a slower one decodes as often
    /// as it can. Within 100..=10 000.
    pub step_ms: u32,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            dictate: DictateOptions::default(),
            format: PcmFormat::default(),
            step_ms: 1000,
        }
    }
}

impl LiveOptions {
    /// Every setting in range, checked before the session starts.
    pub fn validate(&self) -> Result<()> {
        self.dictate.validate()?;
        PcmConverter::new(self.format)?;
        if !(100..=10_000).contains(&self.step_ms) {
            return Err(Error::InvalidArgument {
                name: "step_ms".into(),
                reason: format!("{} ms is not within 100..=10000", self.step_ms),
            });
        }
        Ok(())
    }
}

/// What a live session reports. In JSON: `{"type": "partial", "text": ...}`,
/// `{"type": "confirmed", "text": ..., "start": ..., "end": ...}`, `{"type": "refined",
/// "transcript": ..., "text": ...}`, `{"type": "final", "result": {...}}`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// The words heard after the confirmed ones, as the latest decode has them: they may
    /// change. Each replaces the last (empty when every word heard is confirmed).
    Partial { text: String },
    /// Words that will not change, following the ones confirmed before (the text keeps
    /// Whisper's leading space between words); timed in seconds of the session's audio.
    Confirmed { text: String, start: f64, end: f64 },
    /// A confirmed stretch of the transcript (whole sentences) and its cleanup.
    Refined { transcript: String, text: String },
    /// The session's result (also what `finish()` returns).
    Final { result: Box<DictateResult> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_from_json_and_are_checked() {
        let o: LiveOptions =
            serde_json::from_str(r#"{"format": {"sample_rate": 48000}, "refine": null}"#).unwrap();
        assert_eq!(o.format.sample_rate, 48_000);
        assert_eq!(o.format.channels, 1);
        assert!(o.dictate.refine.is_none() && o.dictate.vad.is_some());
        assert!(o.validate().is_ok());
        let bad = LiveOptions {
            step_ms: 50,
            ..LiveOptions::default()
        };
        assert!(
            matches!(bad.validate(), Err(Error::InvalidArgument { name, .. }) if name == "step_ms")
        );
        let json = serde_json::to_value(LiveEvent::Confirmed {
            text: " ask".into(),
            start: 1.0,
            end: 1.5,
        })
        .unwrap();
        assert_eq!(json["type"], "confirmed");
        assert_eq!(json["text"], " ask");
    }
}
