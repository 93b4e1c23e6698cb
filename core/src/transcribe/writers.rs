//! Transcripts as plain text, SubRip, WebVTT or JSON: whole, or segment by segment as
//! they are decoded (mlx-whisper keeps its writers apart the same way, in `writers.py`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::whisper::types::{Segment, Transcript};

/// `HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` (WebVTT).
pub fn format_timestamp(seconds: f32, decimal_marker: char) -> String {
    let ms = (seconds.max(0.0) as f64 * 1000.0).round() as u64;
    let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}{decimal_marker}{ms:03}")
}

/// The formats a transcript is written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Plain text, one segment per line.
    #[default]
    Txt,
    /// SubRip subtitles.
    Srt,
    /// WebVTT subtitles.
    Vtt,
    /// mlx-whisper's result shape: text, segments, language (written whole).
    Json,
}

impl std::str::FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "txt" | "text" => Ok(Format::Txt),
            "srt" => Ok(Format::Srt),
            "vtt" | "webvtt" => Ok(Format::Vtt),
            "json" => Ok(Format::Json),
            other => Err(Error::InvalidArgument {
                name: "format".into(),
                reason: format!("{other:?} is not txt, srt, vtt or json"),
            }),
        }
    }
}

/// Writes a transcript in one format segment by segment, as the segments are decoded
/// (JSON has no per-segment form: it is written whole by [`Writer::finish`]).
#[derive(Debug, Clone)]
pub struct Writer {
    format: Format,
    cues: usize,
}

impl Writer {
    pub fn new(format: Format) -> Self {
        Self { format, cues: 0 }
    }

    /// What comes before the first segment.
    pub fn header(&self) -> &'static str {
        match self.format {
            Format::Vtt => "WEBVTT\n\n",
            _ => "",
        }
    }

    /// The text for one more segment (empty for a blank segment, and for JSON).
    pub fn segment(&mut self, s: &Segment) -> String {
        let text = s.text.trim();
        if text.is_empty() || self.format == Format::Json {
            return String::new();
        }
        self.cues += 1;
        let cue = |marker| {
            format!(
                "{} --> {}\n{}\n\n",
                format_timestamp(s.start, marker),
                format_timestamp(s.end, marker),
                text.replace("-->", "->")
            )
        };
        match self.format {
            Format::Txt => format!("{text}\n"),
            Format::Srt => format!("{}\n{}", self.cues, cue(',')),
            Format::Vtt => cue('.'),
            Format::Json => String::new(),
        }
    }

    /// The whole transcript in this format (the streamed pieces, concatenated, for the
    /// text formats).
    pub fn finish(mut self, t: &Transcript) -> String {
        if self.format == Format::Json {
            return serde_json::to_string_pretty(t).unwrap_or_else(|_| "{}".into());
        }
        let mut out = self.header().to_string();
        for s in &t.segments {
            out.push_str(&self.segment(s));
        }
        out
    }
}

/// Plain text, one segment per line.
pub fn to_txt(t: &Transcript) -> String {
    Writer::new(Format::Txt).finish(t)
}

/// SubRip subtitles.
pub fn to_srt(t: &Transcript) -> String {
    Writer::new(Format::Srt).finish(t)
}

/// WebVTT subtitles.
pub fn to_vtt(t: &Transcript) -> String {
    Writer::new(Format::Vtt).finish(t)
}

/// The whole transcript as JSON (mlx-whisper's result shape: text, segments, language).
pub fn to_json(t: &Transcript) -> String {
    Writer::new(Format::Json).finish(t)
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
