//! Audio in: any common file (WAV, FLAC, MP3, M4A/AAC, OGG/Vorbis) through symphonia,
//! a pure-Rust decoder, or raw PCM from memory (the apps' microphone buffers), turned
//! into what Whisper takes: 16 kHz mono float samples in [-1, 1].
//!
//! Audio is a stream ([`AudioStream`]): decoded a packet at a time, channels averaged,
//! the rate converted chunk by chunk (`resample`), so a three-hour file costs the
//! memory of a few seconds of it and a cancel lands between packets. Nothing a file
//! says is trusted: rates, channel counts and sizes from headers are bounded (`limits`,
//! `preflight`) and a decoder panic is caught, so bad audio is a typed
//! [`crate::Error::Audio`] (or [`crate::Error::Io`] when the file cannot be opened),
//! never a crash or an allocation the size of a lie. [`load_16k_mono`] and the
//! whole-file helpers collect the same stream, for callers that want every sample.

mod decode;
pub mod limits;
pub mod mel;
mod preflight;
mod resample;
mod stream;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use self::decode::{Block, PacketDecoder};
pub use self::resample::{StreamResampler, resample};
pub use self::stream::{AudioStream, BufferedStream};
use crate::cancel::CancelToken;
use crate::error::Result;

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

/// Decode `input` whole to 16 kHz mono (the stream, collected).
pub fn load_16k_mono(input: &AudioInput) -> Result<Vec<f32>> {
    collect(AudioStream::open(input)?, usize::MAX)
}

/// Pull `stream` to its end, or until `max` samples.
fn collect(mut stream: AudioStream<'_>, max: usize) -> Result<Vec<f32>> {
    let never = CancelToken::new();
    let mut out = Vec::new();
    while out.len() < max {
        match stream.next_chunk(&never)? {
            Some(chunk) => out.extend_from_slice(&chunk),
            None => break,
        }
    }
    out.truncate(max);
    Ok(out)
}

/// Decode and resample encoded `bytes` (any supported container; `extension` is a
/// hint) through the same streaming path as a transcription, stopping after
/// `max_seconds` of 16 kHz output: bounded work for any input, which is what a fuzzer
/// needs. Pure: no files, no global state.
pub fn decode_prefix(bytes: &[u8], extension: Option<&str>, max_seconds: f32) -> Result<Vec<f32>> {
    let max = (max_seconds.max(0.0) as f64 * SAMPLE_RATE as f64) as usize;
    collect(AudioStream::open_encoded(bytes.to_vec(), extension)?, max)
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

/// Decode a whole file to interleaved float samples at its own rate.
pub fn decode_file(path: &Path) -> Result<DecodedAudio> {
    let meta = std::fs::metadata(path).map_err(|e| crate::Error::io(path, e))?;
    if meta.is_dir() {
        return Err(limits::audio_err(
            Some(path),
            "is a folder, not an audio file",
        ));
    }
    if meta.len() == 0 {
        return Err(limits::audio_err(Some(path), "the file is empty"));
    }
    let file = std::fs::File::open(path).map_err(|e| crate::Error::io(path, e))?;
    let ext = path.extension().and_then(|e| e.to_str());
    decode_all(PacketDecoder::open(Box::new(file), ext, Some(path))?)
}

/// Decode an encoded file held in memory, whole, at its own rate.
pub fn decode_bytes(bytes: Vec<u8>, extension: Option<&str>) -> Result<DecodedAudio> {
    if bytes.is_empty() {
        return Err(limits::audio_err(None, "the audio buffer is empty"));
    }
    let cursor = std::io::Cursor::new(bytes);
    decode_all(PacketDecoder::open(Box::new(cursor), extension, None)?)
}

fn decode_all(mut decoder: PacketDecoder) -> Result<DecodedAudio> {
    let never = CancelToken::new();
    let mut samples = Vec::new();
    let (mut sample_rate, mut channels) = (0, 0);
    while let Some(block) = decoder.next_block(&never)? {
        samples.extend_from_slice(block.samples);
        (sample_rate, channels) = (block.sample_rate, block.channels as u16);
    }
    Ok(DecodedAudio {
        samples,
        sample_rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn malformed_pcm_is_an_audio_error() {
        let bad = AudioInput::PcmS16 {
            samples: vec![0; 3],
            sample_rate: 16_000,
            channels: 2,
        };
        assert!(matches!(load_16k_mono(&bad), Err(Error::Audio { .. })));
        for (rate, channels) in [(0, 1), (u32::MAX, 1), (16_000, 0), (16_000, 1000)] {
            let bad = AudioInput::PcmF32 {
                samples: vec![0.0; 4000],
                sample_rate: rate,
                channels,
            };
            assert!(
                matches!(load_16k_mono(&bad), Err(Error::Audio { .. })),
                "{rate} Hz, {channels} channels"
            );
        }
    }

    #[test]
    fn pcm_streams_to_the_samples_of_a_whole_conversion() {
        let stereo: Vec<f32> = (0..(44_100 * 3 + 5) * 2)
            .map(|i| ((i / 2) as f32 * 0.01).sin() * if i % 2 == 0 { 0.5 } else { 0.25 })
            .collect();
        let input = AudioInput::PcmF32 {
            samples: stereo.clone(),
            sample_rate: 44_100,
            channels: 2,
        };
        let streamed = load_16k_mono(&input).unwrap();
        let whole = to_16k_mono(
            None,
            &DecodedAudio {
                samples: stereo,
                sample_rate: 44_100,
                channels: 2,
            },
        )
        .unwrap();
        assert!(streamed == whole);
    }
}
