//! Audio in: any common file (WAV, FLAC, MP3, M4A/AAC, OGG/Vorbis) through symphonia,
//! a pure-Rust decoder, or raw PCM from memory (the apps' microphone buffers), turned
//! into what Whisper takes: 16 kHz mono float samples in [-1, 1].
//!
//! Channels are averaged; other sample rates go through rubato's FFT resampler, a
//! band-limited (anti-aliased) synchronous resampler whose delay is removed so the
//! timing of the output matches the input. Every failure is a typed
//! [`Error::Audio`] (or [`Error::Io`] when the file cannot be opened): an empty file,
//! one cut short before its declared length, data no decoder understands.

use std::path::{Path, PathBuf};

use rubato::{FftFixedIn, Resampler};
use serde::{Deserialize, Serialize};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::error::{Error, Result};

/// Whisper's input rate.
pub const SAMPLE_RATE: u32 = 16_000;

/// Audio to transcribe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioInput {
    /// A file in any supported container; the extension is a hint, the content decides.
    Path(PathBuf),
    /// A whole encoded file held in memory (e.g. a recording the app received).
    Encoded(Vec<u8>),
    /// 16 kHz mono float samples, used as they are.
    Pcm16k(Vec<f32>),
    /// Interleaved signed 16-bit PCM at any rate (microphone buffers).
    PcmS16 {
        samples: Vec<i16>,
        sample_rate: u32,
        channels: u16,
    },
    /// Interleaved float PCM at any rate.
    PcmF32 {
        samples: Vec<f32>,
        sample_rate: u32,
        channels: u16,
    },
}

/// Decoded interleaved audio as the file holds it.
#[derive(Debug, Clone)]
pub struct DecodedAudio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: u16,
}

impl DecodedAudio {
    /// Seconds of audio.
    pub fn duration(&self) -> f64 {
        self.samples.len() as f64 / self.channels.max(1) as f64 / self.sample_rate.max(1) as f64
    }
}

fn audio_err(path: Option<&Path>, reason: impl Into<String>) -> Error {
    Error::Audio {
        path: path.map(Path::to_path_buf),
        reason: reason.into(),
    }
}

/// Decode `input` to 16 kHz mono.
pub fn load_16k_mono(input: &AudioInput) -> Result<Vec<f32>> {
    let (samples, path) = match input {
        AudioInput::Pcm16k(s) => {
            check_finite(None, s)?;
            return Ok(s.clone());
        }
        AudioInput::PcmS16 {
            samples,
            sample_rate,
            channels,
        } => {
            let f: Vec<f32> = samples.iter().map(|&s| s as f32 / 32768.0).collect();
            (pcm(None, f, *sample_rate, *channels)?, None)
        }
        AudioInput::PcmF32 {
            samples,
            sample_rate,
            channels,
        } => {
            check_finite(None, samples)?;
            (pcm(None, samples.clone(), *sample_rate, *channels)?, None)
        }
        AudioInput::Path(p) => (decode_file(p)?, Some(p.as_path())),
        AudioInput::Encoded(bytes) => (decode_bytes(bytes.clone(), None)?, None),
    };
    to_16k_mono(path, &samples)
}

fn check_finite(path: Option<&Path>, s: &[f32]) -> Result<()> {
    if s.iter().any(|x| !x.is_finite()) {
        return Err(audio_err(path, "samples contain NaN or infinity"));
    }
    Ok(())
}

fn pcm(
    path: Option<&Path>,
    samples: Vec<f32>,
    sample_rate: u32,
    channels: u16,
) -> Result<DecodedAudio> {
    if sample_rate == 0 {
        return Err(audio_err(path, "sample rate is 0"));
    }
    if channels == 0 {
        return Err(audio_err(path, "channel count is 0"));
    }
    if samples.len() % channels as usize != 0 {
        return Err(audio_err(
            path,
            format!(
                "{} samples do not split into {channels} channels",
                samples.len()
            ),
        ));
    }
    Ok(DecodedAudio {
        samples,
        sample_rate,
        channels,
    })
}

/// Average the channels and resample to 16 kHz.
pub fn to_16k_mono(path: Option<&Path>, audio: &DecodedAudio) -> Result<Vec<f32>> {
    let ch = audio.channels.max(1) as usize;
    let mono: Vec<f32> = if ch == 1 {
        audio.samples.clone()
    } else {
        audio
            .samples
            .chunks_exact(ch)
            .map(|f| f.iter().sum::<f32>() / ch as f32)
            .collect()
    };
    resample(path, &mono, audio.sample_rate, SAMPLE_RATE)
}

/// Resample mono `input` from `from` Hz to `to` Hz (band-limited FFT resampling; the
/// output has `round(len · to / from)` samples, aligned with the input).
pub fn resample(path: Option<&Path>, input: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    if from == to || input.is_empty() {
        return Ok(input.to_vec());
    }
    let err =
        |e: &dyn std::fmt::Display| audio_err(path, format!("resampling {from} Hz → {to} Hz: {e}"));
    let mut r =
        FftFixedIn::<f32>::new(from as usize, to as usize, 1024, 2, 1).map_err(|e| err(&e))?;
    let expected = (input.len() as f64 * to as f64 / from as f64).round() as usize;
    let delay = r.output_delay();
    let mut out = Vec::with_capacity(expected + delay + r.output_frames_max());
    let mut pos = 0;
    while pos + r.input_frames_next() <= input.len() {
        let n = r.input_frames_next();
        let o = r
            .process(&[&input[pos..pos + n]], None)
            .map_err(|e| err(&e))?;
        out.extend_from_slice(&o[0]);
        pos += n;
    }
    if pos < input.len() {
        let o = r
            .process_partial(Some(&[&input[pos..]]), None)
            .map_err(|e| err(&e))?;
        out.extend_from_slice(&o[0]);
    }
    while out.len() < expected + delay {
        let o = r
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| err(&e))?;
        if o[0].is_empty() {
            break;
        }
        out.extend_from_slice(&o[0]);
    }
    out.drain(..delay.min(out.len()));
    out.resize(expected, 0.0);
    Ok(out)
}

/// Decode a whole file to interleaved float samples at its own rate.
pub fn decode_file(path: &Path) -> Result<DecodedAudio> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(audio_err(Some(path), "is a folder, not an audio file"));
    }
    if meta.len() == 0 {
        return Err(audio_err(Some(path), "the file is empty"));
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    decode_stream(mss, path.extension().and_then(|e| e.to_str()), Some(path))
}

/// Decode an encoded file held in memory.
pub fn decode_bytes(bytes: Vec<u8>, extension: Option<&str>) -> Result<DecodedAudio> {
    if bytes.is_empty() {
        return Err(audio_err(None, "the audio buffer is empty"));
    }
    let cursor = std::io::Cursor::new(bytes);
    let mss = MediaSourceStream::new(Box::new(cursor), MediaSourceStreamOptions::default());
    decode_stream(mss, extension, None)
}

fn decode_stream(
    mss: MediaSourceStream,
    extension: Option<&str>,
    path: Option<&Path>,
) -> Result<DecodedAudio> {
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    // Gapless: drop the encoder delay and padding MP3/AAC encoders add (LAME/iTunes
    // headers), so the samples line up with the original recording.
    let format_opts = FormatOptions {
        enable_gapless: true,
        ..FormatOptions::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, mss, &format_opts, &MetadataOptions::default())
        .map_err(|e| audio_err(path, format!("not a supported audio file ({e})")))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| audio_err(path, "no audio track"))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| audio_err(path, format!("unsupported codec ({e})")))?;
    let mut samples: Vec<f32> = Vec::new();
    let mut sample_rate = params.sample_rate.unwrap_or(0);
    let mut channels = params.channels.map(|c| c.count() as u16).unwrap_or(0);
    let mut bad_packets = 0usize;
    let mut good_packets = 0usize;
    let mut last_error = String::new();
    let mut cut_short = false;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                // The normal end of most formats; a short read inside a packet is
                // caught by the length check below.
                break;
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => {
                cut_short = true;
                last_error = e.to_string();
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                good_packets += 1;
                let spec = *buf.spec();
                sample_rate = spec.rate;
                channels = spec.channels.count() as u16;
                let mut sb = SampleBuffer::<f32>::new(buf.capacity() as u64, spec);
                sb.copy_interleaved_ref(buf);
                samples.extend_from_slice(sb.samples());
            }
            Err(SymphoniaError::DecodeError(e)) => {
                // A damaged frame: skip it as players do, but not a damaged file.
                bad_packets += 1;
                last_error = e.to_string();
            }
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(e) => return Err(audio_err(path, format!("decoding failed: {e}"))),
        }
    }
    if good_packets == 0 || samples.is_empty() {
        let why = if last_error.is_empty() {
            "no audio samples in the file".to_string()
        } else {
            format!("no decodable audio ({last_error})")
        };
        return Err(audio_err(path, why));
    }
    if bad_packets > good_packets / 10 + 2 {
        return Err(audio_err(
            path,
            format!(
                "corrupt: {bad_packets} of {} frames could not be decoded ({last_error})",
                bad_packets + good_packets
            ),
        ));
    }
    if cut_short {
        return Err(audio_err(
            path,
            format!("reading stopped early: {last_error}"),
        ));
    }
    let channels = channels.max(1);
    // A file shorter than its header declares was cut off (an interrupted copy or
    // recording); transcribing the rest silently would lose speech.
    if let Some(declared) = params.n_frames {
        let got = (samples.len() / channels as usize) as u64;
        let slack = (declared / 100).max(4096);
        if got + slack < declared {
            return Err(audio_err(
                path,
                format!("truncated: the header declares {declared} frames, the data holds {got}"),
            ));
        }
    }
    if sample_rate == 0 {
        return Err(audio_err(path, "unknown sample rate"));
    }
    check_finite(path, &samples)?;
    Ok(DecodedAudio {
        samples,
        sample_rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_length_and_a_tone() {
        // 1 s of 440 Hz at 48 kHz → 16 kHz: 16000 samples, same tone, same phase.
        let tone = |rate: u32, n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin() * 0.5)
                .collect()
        };
        let out = resample(None, &tone(48_000, 48_000), 48_000, 16_000).unwrap();
        assert_eq!(out.len(), 16_000);
        let want = tone(16_000, 16_000);
        let err: f32 = out[1000..15000]
            .iter()
            .zip(&want[1000..15000])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        // Aligned to within a fraction of a sample (0.5 amplitude; a one-sample shift
        // would be an error of 0.086).
        assert!(err < 0.04, "max error {err}");
    }

    #[test]
    fn malformed_pcm_is_an_audio_error() {
        let bad = AudioInput::PcmS16 {
            samples: vec![0; 3],
            sample_rate: 16_000,
            channels: 2,
        };
        assert!(matches!(load_16k_mono(&bad), Err(Error::Audio { .. })));
        let bad = AudioInput::PcmF32 {
            samples: vec![0.0; 4],
            sample_rate: 0,
            channels: 1,
        };
        assert!(matches!(load_16k_mono(&bad), Err(Error::Audio { .. })));
    }
}
