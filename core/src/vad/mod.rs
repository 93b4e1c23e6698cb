//! Voice-activity detection: where a recording holds speech, so dictation can trim the
//! silence around it, skip the silence inside it, and return no text at all for a
//! recording without speech (Whisper, given silence or noise, invents "Thank you.").
//!
//! The detector is Silero VAD (MIT): a small STFT + convolution + LSTM network that
//! gives each 32 ms chunk of 16 kHz audio a speech probability. Its weights ship inside
//! the library (`core/assets/silero_vad_16k.safetensors`, 1.2 MB, from the
//! `silero-vad` 6.2.3 wheel unchanged; `silero_vad.LICENSE` beside it), so it works
//! offline on first use with nothing to download. That file is the checkpoint the
//! wheel ships for its tinygrad port; the wheel's ONNX and TorchScript models (what
//! `load_silero_vad()` runs) hold different trained values for the same architecture,
//! so probabilities differ from theirs by up to ~0.7 on a chunk, while the regions
//! agree within a few chunks (≤ 128 ms on the goldens, which record both:
//! `scripts/goldens/silero_vad.py`).
//!
//! - [`Vad::probabilities`]: one probability per 512 samples (`model.rs` has how, and
//!   its speed: about half a second for five minutes of audio on two x86 cores);
//! - [`Vad::speech`] / [`speech_regions`]: those probabilities → speech regions, by
//!   Silero's own policy (`regions.rs`) under [`VadOptions`];
//! - [`compact`]: the regions joined with short gaps, and a [`TimeMap`] back.
//!
//! Audio is 16 kHz mono `f32` (what [`crate::audio`] produces). Samples that are NaN or
//! infinite count as silence (0), and the rest are clamped to ±[`MAX_AMPLITUDE`]: one
//! bad sample from a broken source must not poison the LSTM state (a NaN would make
//! every later probability NaN) or fail a dictation; audio that is all NaN is silence.

mod compact;
mod lstm;
mod model;
mod regions;
mod weights;

use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

pub use self::compact::{Compacted, DEFAULT_GAP, Span, TimeMap, compact};
pub use self::regions::speech_regions;
use self::weights::SileroWeights;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// The rate the detector takes (and every sample index here counts in).
pub const SAMPLE_RATE: u32 = 16_000;
/// Samples per chunk: one probability each (32 ms).
pub const CHUNK_SAMPLES: usize = 512;
/// Largest sample magnitude the network sees: 16 × full scale, so real audio is never
/// touched, and small enough that no sum inside the network can overflow `f32`.
pub const MAX_AMPLITUDE: f32 = 16.0;
/// Longest duration any option takes, in milliseconds (10 minutes): larger values are
/// unit mistakes, and every duration stays a small sample count.
const MAX_MS: u32 = 600_000;

/// The weights, embedded (see the module docs for their provenance).
static WEIGHTS: &[u8] = include_bytes!("../../assets/silero_vad_16k.safetensors");
/// What errors about the embedded weights call the file.
const EMBEDDED_NAME: &str = "silero_vad_16k.safetensors (embedded)";

/// What the network sees of one sample (see the module docs).
pub(crate) fn sanitize(x: f32) -> f32 {
    if x.is_finite() {
        x.clamp(-MAX_AMPLITUDE, MAX_AMPLITUDE)
    } else {
        0.0
    }
}

/// How probabilities become speech regions. The defaults are for Whisper, as
/// faster-whisper's VAD filter sets them: a pause must last 2 s to end a region (pauses
/// to think are not the end of speech), and 400 ms of audio stay on each side, so
/// Whisper hears the soft consonants at the edges of words (with Silero's own 30 ms,
/// Whisper base heard "What is the capital of France?" as "… capital and friends?").
/// [`VadOptions::silero`] is Silero's `get_speech_timestamps` policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VadOptions {
    /// Probability at which speech starts, in (0, 1). Default 0.5.
    pub threshold: f32,
    /// Probability below which silence starts, in (0, `threshold`]; `None`: `threshold
    /// − 0.15`, at least 0.01 (Silero's default).
    pub neg_threshold: Option<f32>,
    /// Shortest speech kept, ms: a region must last longer. Default 250.
    pub min_speech_ms: u32,
    /// Silence that ends a region, ms; shorter pauses stay inside it. Default 2000.
    pub min_silence_ms: u32,
    /// Audio kept on each side of a region, ms. Default 400.
    pub speech_pad_ms: u32,
}

impl Default for VadOptions {
    fn default() -> Self {
        Self {
            min_silence_ms: 2000,
            speech_pad_ms: 400,
            ..Self::silero()
        }
    }
}

impl VadOptions {
    /// Silero's own policy (`get_speech_timestamps`' defaults): threshold 0.5, speech
    /// longer than 250 ms, regions ended by 100 ms of silence, 30 ms of pad.
    pub fn silero() -> Self {
        Self {
            threshold: 0.5,
            neg_threshold: None,
            min_speech_ms: 250,
            min_silence_ms: 100,
            speech_pad_ms: 30,
        }
    }

    /// Every value in its range; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let invalid = |name: &str, reason: String| {
            Err(Error::InvalidArgument {
                name: name.into(),
                reason,
            })
        };
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return invalid(
                "threshold",
                format!("{} is not between 0 and 1 (exclusive)", self.threshold),
            );
        }
        if let Some(neg) = self.neg_threshold
            && !(neg > 0.0 && neg <= self.threshold)
        {
            return invalid(
                "neg_threshold",
                format!(
                    "{neg} is not above 0 and at most threshold ({})",
                    self.threshold
                ),
            );
        }
        for (name, ms) in [
            ("min_speech_ms", self.min_speech_ms),
            ("min_silence_ms", self.min_silence_ms),
            ("speech_pad_ms", self.speech_pad_ms),
        ] {
            if ms > MAX_MS {
                return invalid(name, format!("{ms} ms is more than {MAX_MS} ms"));
            }
        }
        Ok(())
    }

    /// The exit threshold in force: [`VadOptions::neg_threshold`] or its default.
    pub fn neg_threshold(&self) -> f32 {
        self.neg_threshold
            .unwrap_or((self.threshold - 0.15).max(0.01))
    }
}

/// A stretch of speech: samples `start..end` of 16 kHz audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpeechRegion {
    pub start: usize,
    pub end: usize,
}

impl SpeechRegion {
    pub fn start_secs(&self) -> f64 {
        self.start as f64 / SAMPLE_RATE as f64
    }

    pub fn end_secs(&self) -> f64 {
        self.end as f64 / SAMPLE_RATE as f64
    }

    /// Samples in the region.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The detector: its weights, loaded once. Plain data (`Send + Sync`, MLX arrays are
/// made per call), so one instance serves every thread at once: [`Vad::shared`].
#[derive(Clone)]
pub struct Vad {
    weights: SileroWeights,
}

impl std::fmt::Debug for Vad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vad").finish_non_exhaustive()
    }
}

impl Vad {
    /// The detector with the embedded weights. Parsing and checking them takes about a
    /// millisecond; [`Vad::shared`] does it once per process.
    pub fn new() -> Result<Vad> {
        Self::parse(WEIGHTS, Path::new(EMBEDDED_NAME))
    }

    /// The detector with other Silero VAD weights in the same layout (a safetensors file
    /// held in memory; errors name it `<memory>`).
    pub fn from_safetensors(bytes: &[u8]) -> Result<Vad> {
        Self::parse(bytes, Path::new("<memory>"))
    }

    fn parse(bytes: &[u8], label: &Path) -> Result<Vad> {
        Ok(Vad {
            weights: SileroWeights::parse(bytes, label)?,
        })
    }

    /// One detector with the embedded weights for the whole process.
    pub fn shared() -> Result<&'static Vad> {
        static SHARED: OnceLock<Vad> = OnceLock::new();
        if let Some(v) = SHARED.get() {
            return Ok(v);
        }
        let vad = Vad::new()?;
        Ok(SHARED.get_or_init(|| vad))
    }

    /// The embedded weights file, byte for byte (for provenance checks).
    pub fn embedded_weights() -> &'static [u8] {
        WEIGHTS
    }

    /// The speech probability of each 512-sample chunk of `pcm16k` (16 kHz mono), in
    /// order; a last partial chunk is zero-padded, so there are `len.div_ceil(512)`.
    /// Empty audio gives none. `cancel` is checked every few hundred chunks.
    pub fn probabilities(&self, pcm16k: &[f32], cancel: &CancelToken) -> Result<Vec<f32>> {
        model::probabilities(&self.weights, pcm16k, cancel)
    }

    /// The speech regions of `pcm16k` under `opts` (validated first), in order, not
    /// overlapping, within the audio. Empty when there is no speech.
    pub fn speech(
        &self,
        pcm16k: &[f32],
        opts: &VadOptions,
        cancel: &CancelToken,
    ) -> Result<Vec<SpeechRegion>> {
        opts.validate()?;
        let probs = self.probabilities(pcm16k, cancel)?;
        speech_regions(&probs, pcm16k.len(), opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn the_detector_can_be_shared_across_threads() {
        assert_send_sync::<Vad>();
        let vad = Vad::shared().unwrap();
        assert!(std::ptr::eq(vad, Vad::shared().unwrap()));
        let noise: Vec<f32> = (0..16_000)
            .map(|i| ((i * 7919) % 200) as f32 / 2000.0 - 0.05)
            .collect();
        let want = vad.probabilities(&noise, &CancelToken::new()).unwrap();
        std::thread::scope(|s| {
            let runs: Vec<_> = (0..2)
                .map(|_| s.spawn(|| vad.probabilities(&noise, &CancelToken::new()).unwrap()))
                .collect();
            for r in runs {
                assert_eq!(r.join().unwrap(), want);
            }
        });
    }

    #[test]
    fn options_are_range_checked_by_name() {
        let name = |o: VadOptions| match o.validate() {
            Err(Error::InvalidArgument { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        let d = VadOptions::default;
        assert!(d().validate().is_ok());
        for t in [0.0, 1.0, -0.5, f32::NAN, f32::INFINITY] {
            assert_eq!(
                name(VadOptions {
                    threshold: t,
                    ..d()
                }),
                "threshold"
            );
        }
        for n in [0.0, 0.6, f32::NAN] {
            let o = VadOptions {
                neg_threshold: Some(n),
                ..d()
            };
            assert_eq!(name(o), "neg_threshold");
        }
        let o = VadOptions {
            min_silence_ms: MAX_MS + 1,
            ..d()
        };
        assert_eq!(name(o), "min_silence_ms");
        let o = VadOptions {
            speech_pad_ms: u32::MAX,
            ..d()
        };
        assert_eq!(name(o), "speech_pad_ms");
        let o = VadOptions {
            min_speech_ms: MAX_MS + 1,
            ..d()
        };
        assert_eq!(name(o), "min_speech_ms");
    }

    #[test]
    fn options_default_from_partial_json() {
        let o: VadOptions = serde_json::from_str(r#"{"min_silence_ms": 1500}"#).unwrap();
        assert_eq!(
            o,
            VadOptions {
                min_silence_ms: 1500,
                ..VadOptions::default()
            }
        );
        assert_eq!(o.neg_threshold(), 0.35);
        let back: VadOptions = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
        let low = VadOptions {
            threshold: 0.1,
            ..o
        };
        assert_eq!(low.neg_threshold(), 0.01);
    }

    #[test]
    fn hostile_samples_are_tamed() {
        assert_eq!(sanitize(f32::NAN), 0.0);
        assert_eq!(sanitize(f32::NEG_INFINITY), 0.0);
        assert_eq!(sanitize(1e30), MAX_AMPLITUDE);
        assert_eq!(sanitize(-0.25), -0.25);
    }

    #[test]
    fn region_helpers() {
        let r = SpeechRegion {
            start: 8000,
            end: 24_000,
        };
        assert_eq!((r.start_secs(), r.end_secs(), r.len()), (0.5, 1.5, 16_000));
        assert!(!r.is_empty());
    }
}
