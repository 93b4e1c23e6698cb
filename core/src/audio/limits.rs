//! What audio Murmur accepts, checked before anything is sized from it.
//!
//! A header is the file's claim, not a fact: a 3 KB WAV can declare 4,294,967,295 Hz,
//! and a resampler built for that rate allocates until the process dies. Every rate,
//! channel count and buffer size read from a header or passed in with raw PCM goes
//! through these checks first, with checked arithmetic, so the worst a file can do is
//! be refused with [`Error::Audio`].

use std::path::Path;

use crate::error::{Error, Result};

/// Lowest accepted sample rate. Below 1 kHz no speech band is left (telephony, the
/// poorest audio Whisper is used on, is 8 kHz), so a lower rate is a broken header.
pub const MIN_SAMPLE_RATE: u32 = 1_000;

/// Highest accepted sample rate: 384 kHz, the top rate of studio converters and
/// "hi-res" PCM. It also bounds the resampler, whose FFT length is the input rate over
/// its common divisor with 16 kHz: at most 384,000 points (a few MB), where an
/// unbounded rate reaches gigabytes.
pub const MAX_SAMPLE_RATE: u32 = 384_000;

/// Most channels accepted: symphonia's channel map cannot describe more, so no decoded
/// file has more; raw PCM from memory is held to the same limit so that every input
/// path accepts the same audio.
pub const MAX_CHANNELS: u16 = 32;

/// Most samples (frames × channels) one decoded packet may hold. The largest packet a
/// supported codec makes is a FLAC block: 65,535 frames × 8 channels ≈ 524k samples;
/// this leaves room for 32 channels of it (16 MB of float samples).
pub const MAX_PACKET_SAMPLES: u64 = 1 << 21;

pub(crate) fn audio_err(path: Option<&Path>, reason: impl Into<String>) -> Error {
    Error::Audio {
        path: path.map(Path::to_path_buf),
        reason: reason.into(),
    }
}

/// Refuse a sample rate outside [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`].
pub fn check_sample_rate(path: Option<&Path>, rate: u32) -> Result<()> {
    if rate == 0 {
        return Err(audio_err(path, "the sample rate is 0"));
    }
    if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
        return Err(audio_err(
            path,
            format!(
                "a sample rate of {rate} Hz is outside the supported {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz"
            ),
        ));
    }
    Ok(())
}

/// Refuse a channel count outside 1..=[`MAX_CHANNELS`].
pub fn check_channels(path: Option<&Path>, channels: usize) -> Result<()> {
    if channels == 0 {
        return Err(audio_err(path, "the channel count is 0"));
    }
    if channels > MAX_CHANNELS as usize {
        return Err(audio_err(
            path,
            format!("{channels} channels is more than the supported {MAX_CHANNELS}"),
        ));
    }
    Ok(())
}

/// The sample count of a packet of `frames` frames of `channels` channels, refused when
/// it overflows or exceeds [`MAX_PACKET_SAMPLES`] (checked before the buffer is made).
pub fn packet_samples(path: Option<&Path>, frames: u64, channels: usize) -> Result<usize> {
    match frames.checked_mul(channels as u64) {
        Some(n) if n <= MAX_PACKET_SAMPLES => Ok(n as usize),
        _ => Err(audio_err(
            path,
            format!(
                "a packet of {frames} frames × {channels} channels is larger than any supported codec makes"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_refuse_what_headers_can_claim() {
        for bad in [0, 1, 999, 384_001, u32::MAX] {
            assert!(check_sample_rate(None, bad).is_err(), "{bad}");
        }
        for good in [1_000, 8_000, 44_100, 384_000] {
            check_sample_rate(None, good).unwrap();
        }
        assert!(check_channels(None, 0).is_err());
        assert!(check_channels(None, 33).is_err());
        check_channels(None, 2).unwrap();
        assert!(packet_samples(None, u64::MAX, 2).is_err());
        assert!(packet_samples(None, MAX_PACKET_SAMPLES, 2).is_err());
        assert_eq!(packet_samples(None, 65_535, 8).unwrap(), 524_280);
    }
}
