//! Encoded audio to samples, one packet at a time, through symphonia (pure Rust: WAV,
//! FLAC, MP3, M4A/AAC, OGG/Vorbis).
//!
//! Nothing a file says is trusted: [`super::preflight`] checks the header fields
//! symphonia would size buffers from, every rate and channel count (the container's and
//! each decoded packet's) goes through [`super::limits`], and a panic inside symphonia
//! on malformed data becomes an [`Error::Audio`] instead of taking the process down.
//! Damaged frames are skipped as players do, but a file that is mostly damage, decodes
//! to nothing, stops early or holds less than its header declares is refused when its
//! end is reached: transcribing the rest silently would lose speech.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::limits::{audio_err, check_channels, check_sample_rate, packet_samples};
use super::preflight;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// Undecodable packets in a row, with none decoded yet, after which the data is taken
/// for garbage rather than read to its end.
const GARBAGE_PACKETS: usize = 256;

/// One decoded packet: interleaved samples at the file's own rate.
pub struct Block<'a> {
    pub samples: &'a [f32],
    pub sample_rate: u32,
    pub channels: usize,
}

/// A file's audio track, decoded on demand.
pub struct PacketDecoder {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    path: Option<PathBuf>,
    /// The rate the container declares (validated), if any.
    header_rate: Option<u32>,
    /// The frame count the container declares, if any.
    declared_frames: Option<u64>,
    /// Rate and channels of the decoded packets: fixed by the first one.
    spec: Option<(u32, usize)>,
    buf: Option<SampleBuffer<f32>>,
    frames: u64,
    good: usize,
    bad: usize,
    last_error: String,
    ended: bool,
}

impl PacketDecoder {
    /// Probe `source` (the extension, when given, is a hint; the content decides) and
    /// get its audio track ready. Fails on anything that is not audio Murmur can use.
    pub fn open(
        mut source: Box<dyn MediaSource>,
        extension: Option<&str>,
        path: Option<&Path>,
    ) -> Result<Self> {
        preflight::check(source.as_mut(), path)?;
        let mss = MediaSourceStream::new(source, MediaSourceStreamOptions::default());
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
        let probed = guarded(path, "reading the header", || {
            symphonia::default::get_probe().format(
                &hint,
                mss,
                &format_opts,
                &MetadataOptions::default(),
            )
        })?
        .map_err(|e| audio_err(path, format!("not a supported audio file ({e})")))?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| audio_err(path, "no audio track"))?;
        let track_id = track.id;
        let params = track.codec_params.clone();
        if let Some(rate) = params.sample_rate {
            check_sample_rate(path, rate)?;
        }
        let channels = params.channels.map(|c| c.count());
        if let Some(ch) = channels {
            check_channels(path, ch)?;
        }
        if let Some(frames) = params.max_frames_per_packet {
            packet_samples(path, frames, channels.unwrap_or(1))?;
        }
        let decoder = guarded(path, "starting the decoder", || {
            symphonia::default::get_codecs().make(&params, &DecoderOptions::default())
        })?
        .map_err(|e| audio_err(path, format!("unsupported codec ({e})")))?;
        Ok(Self {
            format,
            decoder,
            track_id,
            path: path.map(Path::to_path_buf),
            header_rate: params.sample_rate,
            declared_frames: params.n_frames,
            spec: None,
            buf: None,
            frames: 0,
            good: 0,
            bad: 0,
            last_error: String::new(),
            ended: false,
        })
    }

    /// Seconds of audio the container declares (frames and rate from its header), when
    /// it does: known before any packet is decoded, but only a claim.
    pub fn declared_duration(&self) -> Option<f64> {
        let (frames, rate) = (self.declared_frames?, self.header_rate?);
        (frames > 0).then(|| frames as f64 / rate as f64)
    }

    /// The next packet with samples, or `None` at the end of the track (after checking
    /// that the track as a whole was sound). `cancel` is checked before every packet.
    pub fn next_block(&mut self, cancel: &CancelToken) -> Result<Option<Block<'_>>> {
        if self.ended {
            return Ok(None);
        }
        let path = self.path.as_deref();
        loop {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let packet = match guarded(path, "reading a packet", || self.format.next_packet())? {
                Ok(p) => p,
                // The normal end of most formats; a short read inside a packet is caught
                // by the length check at the end.
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return self.end(false);
                }
                Err(SymphoniaError::ResetRequired) => return self.end(false),
                Err(e) => {
                    self.last_error = e.to_string();
                    return self.end(true);
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoder = &mut self.decoder;
            let decoded = guarded(path, "decoding a packet", || {
                decoder.decode(&packet).map(|buf| {
                    let spec = *buf.spec();
                    (spec, buf.capacity() as u64, buf.frames())
                })
            })?;
            let (spec, capacity, frames) = match decoded {
                Ok(d) => d,
                Err(SymphoniaError::DecodeError(e)) => {
                    // A damaged frame: skip it as players do, but not a damaged file.
                    self.bad += 1;
                    self.last_error = e.to_string();
                    if self.good == 0 && self.bad >= GARBAGE_PACKETS {
                        return Err(self.no_audio());
                    }
                    continue;
                }
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return self.end(false);
                }
                Err(e) => return Err(audio_err(path, format!("decoding failed: {e}"))),
            };
            self.good += 1;
            let channels = spec.channels.count();
            match self.spec {
                None => {
                    check_sample_rate(path, spec.rate)?;
                    check_channels(path, channels)?;
                    self.spec = Some((spec.rate, channels));
                }
                Some(s) if s != (spec.rate, channels) => {
                    return Err(audio_err(
                        path,
                        format!(
                            "the format changes mid-stream ({} Hz × {} → {} Hz × {channels})",
                            s.0, s.1, spec.rate
                        ),
                    ));
                }
                Some(_) => {}
            }
            if frames == 0 {
                continue;
            }
            // Sized (and checked) for the decoder's largest packet, made once.
            let needed = packet_samples(path, capacity, channels)?;
            if self.buf.as_ref().is_none_or(|b| b.capacity() < needed) {
                self.buf = Some(SampleBuffer::new(capacity, spec));
            }
            let buf = self.buf.as_mut().expect("made above");
            // Interleave the samples the decoder holds for this packet.
            guarded(path, "copying samples", || {
                buf.copy_interleaved_ref(self.decoder.last_decoded())
            })?;
            self.frames += frames as u64;
            let samples = buf.samples();
            if samples.iter().any(|x| !x.is_finite()) {
                return Err(audio_err(path, "samples contain NaN or infinity"));
            }
            return Ok(Some(Block {
                samples,
                sample_rate: spec.rate,
                channels,
            }));
        }
    }

    fn no_audio(&self) -> Error {
        let why = if self.last_error.is_empty() {
            "no audio could be decoded: the file holds no samples".to_string()
        } else {
            format!("no audio could be decoded ({})", self.last_error)
        };
        audio_err(self.path.as_deref(), why)
    }

    /// The end of the track: refuse one that was empty, mostly damaged, cut off or
    /// shorter than its header declares.
    fn end(&mut self, cut_short: bool) -> Result<Option<Block<'_>>> {
        self.ended = true;
        let path = self.path.as_deref();
        if self.good == 0 || self.frames == 0 {
            return Err(self.no_audio());
        }
        let (good, bad) = (self.good, self.bad);
        if bad > good / 10 + 2 {
            return Err(audio_err(
                path,
                format!(
                    "corrupt: {bad} of {} frames could not be decoded ({})",
                    bad + good,
                    self.last_error
                ),
            ));
        }
        if cut_short {
            return Err(audio_err(
                path,
                format!("reading stopped early: {}", self.last_error),
            ));
        }
        // A file shorter than its header declares was cut off (an interrupted copy or
        // recording).
        if let Some(declared) = self.declared_frames {
            let slack = (declared / 100).max(4096);
            if self.frames + slack < declared {
                return Err(audio_err(
                    path,
                    format!(
                        "truncated: the header declares {declared} frames, the data holds {}",
                        self.frames
                    ),
                ));
            }
        }
        Ok(None)
    }
}

/// Run `f`, turning a panic (symphonia asserts on some malformed input) into an
/// [`Error::Audio`] naming what was being done.
fn guarded<T>(path: Option<&Path>, what: &str, f: impl FnOnce() -> T) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "malformed data".into());
        audio_err(path, format!("{what} failed on malformed data ({msg})"))
    })
}
