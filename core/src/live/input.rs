//! A live session's audio in: the app's buffers, in whatever format its microphone
//! gives (any rate, `f32` or `i16`, mono or interleaved), to 16 kHz mono.

use serde::{Deserialize, Serialize};

use crate::audio::{SAMPLE_RATE, StreamResampler, limits};
use crate::error::{Error, Result};

/// The format of the samples a session is fed. The default is Whisper's: 16 kHz mono.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PcmFormat {
    /// Frames per second.
    pub sample_rate: u32,
    /// Interleaved channels per frame (averaged to mono).
    pub channels: u16,
}

impl Default for PcmFormat {
    fn default() -> Self {
        Self {
            sample_rate: SAMPLE_RATE,
            channels: 1,
        }
    }
}

/// Turns pushed buffers into 16 kHz mono, keeping a frame split across two pushes.
pub struct PcmConverter {
    channels: usize,
    /// Samples of an incomplete frame left by the last push.
    partial: Vec<f32>,
    resampler: StreamResampler,
}

impl PcmConverter {
    /// A converter for `format`, refused when its rate or channel count is out of range.
    pub fn new(format: PcmFormat) -> Result<Self> {
        limits::check_channels(None, format.channels as usize).map_err(as_argument)?;
        let resampler =
            StreamResampler::new(None, format.sample_rate, SAMPLE_RATE).map_err(as_argument)?;
        Ok(Self {
            channels: format.channels as usize,
            partial: Vec::new(),
            resampler,
        })
    }

    /// Float samples in [-1, 1]; appends the 16 kHz mono result to `out`. A sample that
    /// is not finite counts as silence and loud ones are clipped, so no buffer can put a
    /// NaN into the models.
    pub fn push_f32(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<()> {
        self.push(samples.iter().copied(), samples.len(), out)
    }

    /// Signed 16-bit samples; as [`PcmConverter::push_f32`].
    pub fn push_i16(&mut self, samples: &[i16], out: &mut Vec<f32>) -> Result<()> {
        let f = samples.iter().map(|&s| s as f32 / 32768.0);
        self.push(f, samples.len(), out)
    }

    /// The resampler's tail, at the end of the audio.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<()> {
        self.partial.clear();
        self.resampler.finish(out)
    }

    fn push(
        &mut self,
        samples: impl Iterator<Item = f32>,
        len: usize,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let clean = |x: f32| {
            if x.is_finite() {
                x.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        };
        let mut mono = Vec::with_capacity((self.partial.len() + len) / self.channels + 1);
        for x in samples {
            self.partial.push(clean(x));
            if self.partial.len() == self.channels {
                mono.push(self.partial.iter().sum::<f32>() / self.channels as f32);
                self.partial.clear();
            }
        }
        self.resampler.push(&mono, out)
    }
}

/// A format error is the caller's argument, named as such.
fn as_argument(e: Error) -> Error {
    match e {
        Error::Audio { reason, .. } => Error::InvalidArgument {
            name: "format".into(),
            reason,
        },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_48k_i16_becomes_16k_mono_across_split_frames() {
        let mut c = PcmConverter::new(PcmFormat {
            sample_rate: 48_000,
            channels: 2,
        })
        .unwrap();
        // One second of a 440 Hz tone on the left, silence on the right, pushed in
        // pieces of odd lengths (frames split across pushes).
        let frames: Vec<i16> = (0..48_000)
            .flat_map(|i| {
                let v = (i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin();
                [(v * 16_000.0) as i16, 0]
            })
            .collect();
        let mut out = Vec::new();
        for piece in frames.chunks(1001) {
            c.push_i16(piece, &mut out).unwrap();
        }
        c.finish(&mut out).unwrap();
        assert_eq!(out.len(), 16_000);
        let peak = out[2000..14_000].iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!((peak - 0.244).abs() < 0.01, "{peak}");
    }

    #[test]
    fn bad_formats_and_samples_are_handled() {
        for (sample_rate, channels) in [(0, 1), (16_000, 0), (16_000, 65_535), (u32::MAX, 1)] {
            let e = PcmConverter::new(PcmFormat {
                sample_rate,
                channels,
            });
            assert!(
                matches!(&e, Err(Error::InvalidArgument { name, .. }) if name == "format"),
                "{sample_rate} {channels}"
            );
        }
        let mut c = PcmConverter::new(PcmFormat::default()).unwrap();
        let mut out = Vec::new();
        c.push_f32(&[f32::NAN, f32::INFINITY, 7.0, -0.5], &mut out)
            .unwrap();
        assert_eq!(out, [0.0, 0.0, 1.0, -0.5]);
    }
}
