//! Audio as a stream: any [`AudioInput`] pulled as 16 kHz mono chunks, so that hours
//! of audio never sit in memory whole.
//!
//! Files are decoded a packet at a time, channels averaged and the rate converted as
//! the packets arrive (the same arithmetic as converting the whole file at once, so the
//! samples are identical). In-memory inputs are read in one-second pieces. The
//! [`CancelToken`] is checked between packets, so a cancel lands within milliseconds
//! even while decoding. [`BufferedStream`] keeps the part a reader still needs and
//! drops what it has passed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::decode::PacketDecoder;
use super::limits::{audio_err, check_channels, check_sample_rate};
use super::resample::StreamResampler;
use super::{AudioInput, SAMPLE_RATE};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// Samples per piece read from an in-memory 16 kHz input (one second).
const PIECE: usize = SAMPLE_RATE as usize;

/// A pull source of 16 kHz mono samples over any [`AudioInput`]. Borrows in-memory
/// samples (`'a`); files and encoded bytes are owned. [`AudioStream::reopen`] starts
/// over from the beginning without copying the input.
pub struct AudioStream<'a> {
    input: Input<'a>,
    source: Source<'a>,
    path: Option<PathBuf>,
    /// A chunk read ahead by [`AudioStream::prime`].
    primed: Option<Vec<f32>>,
    produced: u64,
    ended: bool,
    declared: Option<f64>,
}

enum Source<'a> {
    /// Already 16 kHz mono.
    Mono16k {
        samples: Shared<'a, f32>,
        pos: usize,
    },
    /// Interleaved PCM at any rate.
    Pcm {
        samples: Pcm<'a>,
        rate: u32,
        channels: usize,
        /// Frames read so far.
        pos: usize,
        resampler: StreamResampler,
    },
    /// A file or encoded bytes; the resampler is made for the first packet's rate.
    Decoded {
        decoder: Box<PacketDecoder>,
        resampler: Option<StreamResampler>,
    },
}

/// Samples borrowed from the caller, or owned and shared between the streams reading
/// them (a reopened stream reads the same memory).
#[derive(Clone)]
enum Shared<'a, T> {
    Borrowed(&'a [T]),
    Owned(Arc<Vec<T>>),
}

impl<T> std::ops::Deref for Shared<'_, T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            Shared::Borrowed(s) => s,
            Shared::Owned(v) => v,
        }
    }
}

/// Encoded bytes shared by the decoders reading them.
#[derive(Clone)]
struct Bytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Clone)]
enum Pcm<'a> {
    S16(Shared<'a, i16>),
    F32(Shared<'a, f32>),
}

impl Pcm<'_> {
    fn len(&self) -> usize {
        match self {
            Pcm::S16(s) => s.len(),
            Pcm::F32(s) => s.len(),
        }
    }
}

/// An [`AudioInput`], borrowed or shared: what a stream starts from, and starts over
/// from.
#[derive(Clone)]
enum Input<'a> {
    Path(PathBuf),
    Encoded(Bytes, Option<String>),
    Mono16k(Shared<'a, f32>),
    Pcm(Pcm<'a>, u32, u16),
}

impl AudioStream<'static> {
    /// A stream that owns `input` (nothing is copied).
    pub fn open_owned(input: AudioInput) -> Result<Self> {
        let own = |v| Shared::Owned(Arc::new(v));
        Self::build(match input {
            AudioInput::Path(p) => Input::Path(p),
            AudioInput::Encoded(b) => Input::Encoded(Bytes(Arc::new(b)), None),
            AudioInput::Pcm16k(s) => Input::Mono16k(own(s)),
            AudioInput::PcmS16 {
                samples,
                sample_rate,
                channels,
            } => Input::Pcm(
                Pcm::S16(Shared::Owned(Arc::new(samples))),
                sample_rate,
                channels,
            ),
            AudioInput::PcmF32 {
                samples,
                sample_rate,
                channels,
            } => Input::Pcm(Pcm::F32(own(samples)), sample_rate, channels),
        })
    }

    /// Encoded bytes in any supported container; `extension` is a hint.
    pub fn open_encoded(bytes: Vec<u8>, extension: Option<&str>) -> Result<Self> {
        Self::build(Input::Encoded(
            Bytes(Arc::new(bytes)),
            extension.map(str::to_string),
        ))
    }
}

impl<'a> AudioStream<'a> {
    /// A stream over `input`, borrowing in-memory samples (encoded bytes are copied:
    /// the decoder owns its source).
    pub fn open(input: &'a AudioInput) -> Result<Self> {
        Self::build(match input {
            AudioInput::Path(p) => Input::Path(p.clone()),
            AudioInput::Encoded(b) => Input::Encoded(Bytes(Arc::new(b.clone())), None),
            AudioInput::Pcm16k(s) => Input::Mono16k(Shared::Borrowed(s)),
            AudioInput::PcmS16 {
                samples,
                sample_rate,
                channels,
            } => Input::Pcm(Pcm::S16(Shared::Borrowed(samples)), *sample_rate, *channels),
            AudioInput::PcmF32 {
                samples,
                sample_rate,
                channels,
            } => Input::Pcm(Pcm::F32(Shared::Borrowed(samples)), *sample_rate, *channels),
        })
    }

    /// 16 kHz mono samples from memory, as they are.
    pub fn from_16k(samples: &'a [f32]) -> Result<Self> {
        Self::build(Input::Mono16k(Shared::Borrowed(samples)))
    }

    /// A fresh stream over the same input, from its beginning (a file is opened
    /// again; memory is shared, not copied).
    pub fn reopen(&self) -> Result<Self> {
        Self::build(self.input.clone())
    }

    /// Open the source and check what can be checked before reading: a file's header
    /// and container, PCM's rate, channels and values.
    fn build(input: Input<'a>) -> Result<Self> {
        let mut path = None;
        let source = match input.clone() {
            Input::Path(p) => {
                let meta = std::fs::metadata(&p).map_err(|e| Error::io(&p, e))?;
                if meta.is_dir() {
                    return Err(audio_err(Some(&p), "is a folder, not an audio file"));
                }
                if meta.len() == 0 {
                    return Err(audio_err(Some(&p), "the file is empty"));
                }
                let file = std::fs::File::open(&p).map_err(|e| Error::io(&p, e))?;
                let ext = p.extension().and_then(|e| e.to_str());
                let decoder = PacketDecoder::open(Box::new(file), ext, Some(&p))?;
                path = Some(p);
                Source::Decoded {
                    decoder: Box::new(decoder),
                    resampler: None,
                }
            }
            Input::Encoded(bytes, ext) => {
                if bytes.0.is_empty() {
                    return Err(audio_err(None, "the audio buffer is empty"));
                }
                let cursor = std::io::Cursor::new(bytes);
                let decoder = PacketDecoder::open(Box::new(cursor), ext.as_deref(), None)?;
                Source::Decoded {
                    decoder: Box::new(decoder),
                    resampler: None,
                }
            }
            Input::Mono16k(samples) => {
                if samples.is_empty() {
                    return Err(audio_err(None, "there are no samples to transcribe"));
                }
                check_finite(&samples)?;
                Source::Mono16k { samples, pos: 0 }
            }
            Input::Pcm(samples, rate, channels) => {
                if let Pcm::F32(s) = &samples {
                    check_finite(s)?;
                }
                pcm(samples, rate, channels)?
            }
        };
        let declared = match &source {
            Source::Mono16k { samples, .. } => Some(samples.len() as f64 / SAMPLE_RATE as f64),
            Source::Pcm {
                samples,
                rate,
                channels,
                ..
            } => Some((samples.len() / channels) as f64 / *rate as f64),
            Source::Decoded { decoder, .. } => decoder.declared_duration(),
        };
        Ok(Self {
            input,
            source,
            path,
            primed: None,
            produced: 0,
            ended: false,
            declared,
        })
    }

    /// The file this stream reads, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Seconds of audio, as known before reading: exact for PCM, the header's claim for
    /// a file (`None` when its container does not say).
    pub fn declared_duration(&self) -> Option<f64> {
        self.declared
    }

    /// 16 kHz samples returned so far.
    pub fn samples_read(&self) -> u64 {
        self.produced
    }

    /// Whether the end was reached (every sample returned, the file checked whole).
    pub fn ended(&self) -> bool {
        self.ended && self.primed.is_none()
    }

    /// Read ahead until the first samples, so that audio which decodes to nothing fails
    /// now rather than later (e.g. before a model is loaded for it).
    pub fn prime(&mut self, cancel: &CancelToken) -> Result<()> {
        if self.primed.is_none() && !self.ended {
            self.primed = self.read(cancel)?;
        }
        Ok(())
    }

    /// The next non-empty chunk of 16 kHz mono samples, or `None` at the end.
    pub fn next_chunk(&mut self, cancel: &CancelToken) -> Result<Option<Vec<f32>>> {
        let chunk = match self.primed.take() {
            Some(c) => Some(c),
            None if self.ended => None,
            None => self.read(cancel)?,
        };
        if let Some(c) = &chunk {
            self.produced += c.len() as u64;
        }
        Ok(chunk)
    }

    fn read(&mut self, cancel: &CancelToken) -> Result<Option<Vec<f32>>> {
        let mut out = Vec::new();
        while out.is_empty() {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let more = match &mut self.source {
                Source::Mono16k { samples, pos } => {
                    let end = (*pos + PIECE).min(samples.len());
                    out.extend_from_slice(&samples[*pos..end]);
                    *pos = end;
                    end < samples.len()
                }
                Source::Pcm {
                    samples,
                    rate,
                    channels,
                    pos,
                    resampler,
                } => {
                    let frames = samples.len() / *channels;
                    let end = (*pos + *rate as usize).min(frames);
                    let range = *pos * *channels..end * *channels;
                    let mono = match samples {
                        Pcm::S16(s) => mix(&s[range], *channels, |x| x as f32 / 32768.0),
                        Pcm::F32(s) => mix(&s[range], *channels, |x| x),
                    };
                    *pos = end;
                    resampler.push(&mono, &mut out)?;
                    if end == frames {
                        resampler.finish(&mut out)?;
                    }
                    end < frames
                }
                Source::Decoded { decoder, resampler } => match decoder.next_block(cancel)? {
                    Some(block) => {
                        let r = match resampler {
                            Some(r) => r,
                            None => resampler.insert(StreamResampler::new(
                                self.path.as_deref(),
                                block.sample_rate,
                                SAMPLE_RATE,
                            )?),
                        };
                        let mono = mix(block.samples, block.channels, |x| x);
                        r.push(&mono, &mut out)?;
                        true
                    }
                    None => {
                        if let Some(r) = resampler {
                            r.finish(&mut out)?;
                        }
                        false
                    }
                },
            };
            if !more {
                self.ended = true;
                break;
            }
        }
        if out.is_empty() && self.produced == 0 && self.primed.is_none() {
            // Decoded, but too short to make one 16 kHz sample.
            return Err(audio_err(
                self.path.as_deref(),
                "no audio could be decoded: shorter than one 16 kHz sample",
            ));
        }
        Ok((!out.is_empty()).then_some(out))
    }
}

fn pcm(samples: Pcm<'_>, rate: u32, channels: u16) -> Result<Source<'_>> {
    check_sample_rate(None, rate)?;
    check_channels(None, channels as usize)?;
    if samples.len() % channels as usize != 0 {
        return Err(audio_err(
            None,
            format!(
                "{} samples do not split into {channels} channels",
                samples.len()
            ),
        ));
    }
    if samples.len() == 0 {
        return Err(audio_err(None, "there are no samples to transcribe"));
    }
    Ok(Source::Pcm {
        samples,
        rate,
        channels: channels as usize,
        pos: 0,
        resampler: StreamResampler::new(None, rate, SAMPLE_RATE)?,
    })
}

/// Average interleaved frames of `channels` samples into mono.
fn mix<T: Copy>(samples: &[T], channels: usize, to_f32: impl Fn(T) -> f32) -> Vec<f32> {
    if channels == 1 {
        return samples.iter().map(|&x| to_f32(x)).collect();
    }
    samples
        .chunks_exact(channels)
        .map(|f| f.iter().map(|&x| to_f32(x)).sum::<f32>() / channels as f32)
        .collect()
}

pub(crate) fn check_finite(s: &[f32]) -> Result<()> {
    if s.iter().any(|x| !x.is_finite()) {
        return Err(audio_err(None, "samples contain NaN or infinity"));
    }
    Ok(())
}

/// An [`AudioStream`] read on demand into a buffer addressed by absolute sample
/// position, keeping only what the reader has not yet let go of.
pub struct BufferedStream<'a> {
    stream: AudioStream<'a>,
    buf: Vec<f32>,
    /// Absolute position of `buf[0]`.
    start: usize,
}

impl<'a> BufferedStream<'a> {
    pub fn new(stream: AudioStream<'a>) -> Self {
        Self {
            stream,
            buf: Vec::new(),
            start: 0,
        }
    }

    pub fn stream(&self) -> &AudioStream<'a> {
        &self.stream
    }

    /// Read until `end` samples have been read or the stream ended.
    pub fn fill_to(&mut self, end: usize, cancel: &CancelToken) -> Result<()> {
        while self.start + self.buf.len() < end {
            match self.stream.next_chunk(cancel)? {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok(())
    }

    /// The total length, once the stream has ended.
    pub fn total(&self) -> Option<usize> {
        self.stream.ended().then_some(self.start + self.buf.len())
    }

    /// Let go of everything before `pos`.
    pub fn discard_before(&mut self, pos: usize) {
        let n = pos.saturating_sub(self.start).min(self.buf.len());
        self.buf.drain(..n);
        self.start += n;
    }

    /// The sample at absolute position `i`: 0.0 past what has been read (the silence
    /// after the end). Panics for a position already let go of.
    pub fn sample(&self, i: usize) -> f32 {
        assert!(i >= self.start, "sample {i} was discarded");
        self.buf.get(i - self.start).copied().unwrap_or(0.0)
    }
}
