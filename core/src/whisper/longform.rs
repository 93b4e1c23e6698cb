//! Long-form transcription: a 30 s window slides over the recording, and each window's
//! decoded timestamps say where the next one starts (mlx-whisper's `transcribe.py`).
//!
//! A window that ends inside speech (its last segment has an opening timestamp but no
//! closing one) is cut at its last complete segment, and the next window starts there,
//! so the unfinished words are decoded again from their beginning rather than lost or
//! duplicated. Windows whose no-speech probability is high and whose text is unlikely
//! are skipped. Each window is encoded once and the features reused by language
//! detection (when they are the same frames), every fallback temperature and word
//! alignment.

use mlx_rs::Array;

use super::WhisperModel;
use super::decode::{DecodeOptions, DecodingResult, decode, detect_language};
use super::mel::{self, FRAMES_PER_SECOND, HOP_LENGTH, N_FFT, N_FRAMES, SAMPLE_RATE};
use super::timestamps::add_word_timestamps;
use super::types::{Segment, Task, TranscribeOptions, Transcript};
use crate::audio::{AudioStream, BufferedStream};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// What a transcription reports while it runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TranscribeEvent<'a> {
    /// Seconds of audio. Sent before the first segment when the input says how long it
    /// is (PCM; a container's header), and again when the end of the stream is reached
    /// if the header had it wrong or said nothing: a listener keeps the latest.
    Duration(f64),
    /// A segment, as soon as its window is decoded.
    Segment(&'a Segment),
}

/// Transcribe 16 kHz mono `samples`, calling `on_segment` for each segment as soon as
/// its window is done.
pub fn transcribe_samples(
    model: &WhisperModel,
    samples: &[f32],
    opts: &TranscribeOptions,
    cancel: &CancelToken,
    on_segment: &mut dyn FnMut(&Segment),
) -> Result<Transcript> {
    opts.validate()?;
    let stream = AudioStream::from_16k(samples)?;
    transcribe_stream(model, stream, opts, cancel, &mut |e| {
        if let TranscribeEvent::Segment(s) = e {
            on_segment(s)
        }
    })
}

/// Transcribe a stream, pulling its audio a window at a time: memory stays that of
/// one 30 s window however long the recording, and `cancel` is checked while reading
/// (between packets), before each window and inside the encoder and decoder.
/// `on_event` gets segments as their windows are done and, before the first of them,
/// the exact duration when it differs from what `stream` declared (the caller reports
/// the declared one: it knows it before this starts).
pub fn transcribe_stream(
    model: &WhisperModel,
    stream: AudioStream<'_>,
    opts: &TranscribeOptions,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(TranscribeEvent<'_>),
) -> Result<Transcript> {
    opts.validate()?;
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let tok = model.tokenizer();
    let sp = *tok.special();
    let mut reported = stream.declared_duration();
    let mut report_duration =
        |total: Option<usize>, on_event: &mut dyn FnMut(TranscribeEvent<'_>)| {
            let Some(total) = total else { return };
            let exact = total as f64 / SAMPLE_RATE as f64;
            if reported.is_none_or(|d| (d - exact).abs() > 1e-3) {
                reported = Some(exact);
                on_event(TranscribeEvent::Duration(exact));
            }
        };
    let mut windows = Windows::new(stream, model.model().dims.n_mels as usize);
    let input_stride = N_FRAMES / model.model().dims.n_audio_ctx as usize; // 2
    let time_precision = (input_stride * HOP_LENGTH) as f32 / SAMPLE_RATE as f32; // 0.02 s

    // The first window: needed by language detection, and the check that there is audio.
    let Some(first) = windows.at(0, cancel)? else {
        return Err(Error::Audio {
            path: windows.path(),
            reason: "there are no samples to transcribe".into(),
        });
    };
    // Known now when the audio is one window long or its loudest frame was measured.
    report_duration(windows.total(), on_event);

    // Language: given, English for English-only models, or detected on the first 30 s.
    let mut first_features: Option<Array> = None;
    let (language, language_probability) = match &opts.language {
        Some(l) => {
            tok.language_token(l)
                .ok_or_else(|| Error::InvalidArgument {
                    name: "language".into(),
                    reason: format!("{l:?} is not a language this model knows"),
                })?;
            let idx = super::tokenizer::language_index(l).unwrap_or(0);
            (super::tokenizer::LANGUAGES[idx].0.to_string(), None)
        }
        None if !tok.is_multilingual() => ("en".to_string(), None),
        None => {
            // Detect on the first window exactly as it will be decoded, and keep its
            // features for decoding. (mlx-whisper encodes the first 30 s of the padded
            // spectrogram separately, which for clips under 30 s differs only in the
            // padding frames and costs a second encoder pass.)
            let features = model.encode(&first.mel.expand_dims(0)?, cancel)?;
            let (code, p, _) = detect_language(model, &features)?;
            first_features = Some(features);
            (code.to_string(), Some(p))
        }
    };
    let mut next_window = Some(first);
    let language_token = tok.language_token(&language);
    let translate = opts.task == Task::Translate;
    let sot_sequence = tok.sot_sequence(language_token, translate);

    let mut suppress: Vec<u32> = Vec::new();
    for &t in &opts.suppress_tokens {
        if t == -1 {
            suppress.extend_from_slice(model.non_speech_tokens());
        } else if t >= 0 {
            suppress.push(t as u32);
        }
    }
    suppress.extend([
        sp.transcribe,
        sp.translate,
        sp.sot,
        sp.sot_prev,
        sp.sot_lm,
        sp.no_speech,
    ]);
    suppress.sort_unstable();
    suppress.dedup();

    let initial_prompt_tokens = match &opts.initial_prompt {
        Some(p) if !p.trim().is_empty() => tok.encode(&format!(" {}", p.trim()))?,
        _ => Vec::new(),
    };
    let mut all_tokens: Vec<u32> = initial_prompt_tokens.clone();
    let mut prompt_reset_since = 0usize;
    let mut segments: Vec<Segment> = Vec::new();
    let mut seek = 0usize;
    let mut last_speech_timestamp = 0f32;
    let mut window_index = 0u64;

    loop {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let window = match next_window.take() {
            Some(w) if w.seek == seek => w,
            _ => match windows.at(seek, cancel)? {
                Some(w) => w,
                None => break,
            },
        };
        let segment_size = window.frames;
        if segment_size == 0 {
            break;
        }
        let time_offset = (seek * HOP_LENGTH) as f32 / SAMPLE_RATE as f32;
        let segment_duration = (segment_size * HOP_LENGTH) as f32 / SAMPLE_RATE as f32;
        let features = match first_features.take().filter(|_| seek == 0) {
            Some(f) => f,
            None => model.encode(&window.mel.expand_dims(0)?, cancel)?,
        };
        drop(window);
        let base = DecodeOptions {
            translate,
            language: language_token,
            temperature: 0.0,
            sample_len: opts.sample_len,
            best_of: opts.best_of,
            beam_size: opts.beam_size,
            patience: opts.patience,
            length_penalty: opts.length_penalty,
            prompt: all_tokens[prompt_reset_since..].to_vec(),
            prefix: Vec::new(),
            suppress_tokens: suppress.clone(),
            suppress_blank: opts.suppress_blank,
            without_timestamps: opts.without_timestamps,
            max_initial_timestamp: opts.max_initial_timestamp,
            seed: opts.seed.wrapping_add(window_index),
        };
        window_index += 1;
        let result = decode_with_fallback(model, &features, &base, opts, cancel)?;

        if let Some(threshold) = opts.no_speech_threshold {
            let mut skip = result.no_speech_prob > threshold;
            if let Some(lp) = opts.logprob_threshold
                && result.avg_logprob > lp
            {
                skip = false;
            }
            if skip {
                seek += segment_size;
                continue;
            }
        }

        let previous_seek = seek;
        let tokens = &result.tokens;
        let is_ts = |t: u32| t >= sp.timestamp_begin;
        let single_timestamp_ending = tokens.len() >= 2
            && !is_ts(tokens[tokens.len() - 2])
            && is_ts(tokens[tokens.len() - 1]);
        let consecutive: Vec<usize> = (1..tokens.len())
            .filter(|&i| is_ts(tokens[i - 1]) && is_ts(tokens[i]))
            .collect();
        let mut current: Vec<Segment> = Vec::new();
        let make = |start: f32, end: f32, toks: &[u32]| {
            let text_tokens: Vec<u32> = toks.iter().copied().filter(|&t| t < sp.eot).collect();
            Segment {
                id: 0,
                seek: previous_seek as u32,
                start,
                end,
                text: tok.decode(&text_tokens),
                tokens: toks.to_vec(),
                temperature: result.temperature,
                avg_logprob: result.avg_logprob,
                compression_ratio: result.compression_ratio,
                no_speech_prob: result.no_speech_prob,
                words: None,
            }
        };
        if !consecutive.is_empty() {
            let mut slices = consecutive.clone();
            if single_timestamp_ending {
                slices.push(tokens.len());
            }
            let mut last_slice = 0;
            for &cur in &slices {
                let part = &tokens[last_slice..cur];
                let start_pos = part[0].saturating_sub(sp.timestamp_begin) as f32;
                let end_pos = part[part.len() - 1].saturating_sub(sp.timestamp_begin) as f32;
                current.push(make(
                    time_offset + start_pos * time_precision,
                    time_offset + end_pos * time_precision,
                    part,
                ));
                last_slice = cur;
            }
            if single_timestamp_ending {
                seek += segment_size;
            } else {
                // Cut at the last complete segment; the next window starts there.
                let last_ts = tokens[last_slice - 1].saturating_sub(sp.timestamp_begin) as usize;
                seek += last_ts * input_stride;
            }
        } else {
            let mut dur = segment_duration;
            if let Some(&last) = tokens.iter().rev().find(|&&t| is_ts(t))
                && last != sp.timestamp_begin
            {
                dur = (last - sp.timestamp_begin) as f32 * time_precision;
            }
            current.push(make(time_offset, time_offset + dur, tokens));
            seek += segment_size;
        }

        if opts.word_timestamps {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            last_speech_timestamp = add_word_timestamps(
                &mut current,
                model,
                &features,
                &sot_sequence,
                &language,
                segment_size,
                time_offset,
                last_speech_timestamp,
                opts,
            )?;
            if !single_timestamp_ending
                && let Some(end) = last_word_end(&current)
                && end > time_offset
            {
                seek = (end * FRAMES_PER_SECOND as f32).round() as usize;
            }
            if let Some(end) = last_word_end(&current) {
                last_speech_timestamp = end;
            }
        }
        // A window must advance, whatever its timestamps said.
        if seek <= previous_seek {
            seek = previous_seek + segment_size;
        }

        // Instantaneous or empty segments are kept (for ids) but blanked.
        for s in &mut current {
            if s.start == s.end || s.text.trim().is_empty() {
                s.text.clear();
                s.tokens.clear();
                if s.words.is_some() {
                    s.words = Some(Vec::new());
                }
            }
        }
        for mut s in current {
            s.id = segments.len() as u32;
            all_tokens.extend_from_slice(&s.tokens);
            on_event(TranscribeEvent::Segment(&s));
            segments.push(s);
        }
        if !opts.condition_on_previous_text || result.temperature > 0.5 {
            prompt_reset_since = all_tokens.len();
        }
    }

    let content_frames = windows.content_frames().unwrap_or(seek);
    let duration = (content_frames * HOP_LENGTH) as f32 / SAMPLE_RATE as f32;
    report_duration(windows.total(), on_event);
    let text = tok.decode(&all_tokens[initial_prompt_tokens.len().min(all_tokens.len())..]);
    Ok(Transcript {
        model: String::new(),
        text,
        language,
        language_probability,
        segments,
        duration,
    })
}

/// One 30 s window of log-mel frames, as the encoder takes it.
struct Window {
    /// Its first frame.
    seek: usize,
    /// Frames of audio in it (the rest is zero padding).
    frames: usize,
    /// `[N_FRAMES, n_mels]`.
    mel: Array,
}

/// The log-mel windows of a stream, computed as the seek position asks for them: only
/// the samples from the current window on are kept, and each window's spectrogram is
/// computed from them alone.
///
/// Frames are computed exactly as over the whole recording (mlx-whisper's reflect
/// padding at the start, silence after the end). The one whole-recording quantity is
/// the clamp 8 decades below the loudest frame: for audio of one window that frame is
/// in the window; for longer audio it can be anywhere, so the recording is first read
/// through once on its own ([`Windows::measure_peak`]: a fresh stream, nothing kept)
/// to find it. That costs a second decode of long audio, not memory, and keeps every
/// transcript identical to the whole-recording computation: a clamp taken from the
/// part heard so far changes the frames of quiet passages (digital silence, a fade)
/// whenever something louder comes later, and with them the text.
struct Windows<'a> {
    audio: BufferedStream<'a>,
    n_mels: usize,
    /// The loudest `log10` mel value of the whole recording, once known.
    peak: Option<f32>,
    /// Samples in the recording, once known (its end read, or the peak measured).
    total: Option<usize>,
}

/// Frames per batch of the peak measurement (a minute of audio: a 20 MB scratch).
const PEAK_BATCH: usize = 6_000;

impl<'a> Windows<'a> {
    fn new(stream: AudioStream<'a>, n_mels: usize) -> Self {
        Self {
            audio: BufferedStream::new(stream),
            n_mels,
            peak: None,
            total: None,
        }
    }

    fn path(&self) -> Option<std::path::PathBuf> {
        self.audio.stream().path().map(|p| p.to_path_buf())
    }

    /// Samples in the stream, once known.
    fn total(&self) -> Option<usize> {
        self.total.or_else(|| self.audio.total())
    }

    /// Frames of audio (mlx-whisper's `content_frames`), once known.
    fn content_frames(&self) -> Option<usize> {
        self.total().map(|t| t / HOP_LENGTH)
    }

    /// The window starting at frame `seek`, or `None` when the audio ends before it.
    /// Seek positions must not go back: what comes before `seek` is let go of.
    fn at(&mut self, seek: usize, cancel: &CancelToken) -> Result<Option<Window>> {
        let half = N_FFT / 2;
        // Frame i covers samples [i·160 − 200, i·160 + 200).
        self.audio
            .discard_before((seek * HOP_LENGTH).saturating_sub(half));
        // A few frames past the window, to know whether it is the last one.
        self.audio
            .fill_to((seek + N_FRAMES + 3) * HOP_LENGTH + half, cancel)?;
        let (frames, end) = match self.audio.total() {
            Some(total) => {
                let content = total / HOP_LENGTH;
                // Under 10 ms of audio is still a (silent, frameless) first window, as
                // in the reference; only no audio at all is none.
                if total == 0 || (seek >= content && seek > 0) {
                    return Ok(None);
                }
                let frames = N_FRAMES.min(content.saturating_sub(seek));
                // The last window also takes in the frames after the content that still
                // overlap the audio: the loudest frame may be one of them.
                let end = if seek + frames >= content {
                    audible_frames(total).max(seek + frames)
                } else {
                    seek + frames
                };
                (frames, end)
            }
            None => (N_FRAMES, seek + N_FRAMES),
        };
        let log_spec = log_spec(&self.audio, seek, end, self.n_mels)?;
        let peak = match self.peak {
            Some(p) => p,
            // The whole recording is in this window.
            None if self.audio.total().is_some() => {
                let p = log_spec.max(None)?.item_cast::<f32>();
                self.peak = Some(p);
                p
            }
            None => self.measure_peak(cancel)?,
        };
        let mel = mel::normalize(&log_spec, peak)?;
        Ok(Some(Window {
            seek,
            frames,
            mel: mel::window(&mel, 0, frames)?,
        }))
    }

    /// Read the recording through on a fresh stream for its loudest frame (and its
    /// length), in batches of [`PEAK_BATCH`] frames, keeping nothing.
    fn measure_peak(&mut self, cancel: &CancelToken) -> Result<f32> {
        let half = N_FFT / 2;
        let mut audio = BufferedStream::new(self.audio.stream().reopen()?);
        let (mut peak, mut frame) = (f32::NEG_INFINITY, 0);
        let total = loop {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            audio.discard_before((frame * HOP_LENGTH).saturating_sub(half));
            audio.fill_to((frame + PEAK_BATCH + 3) * HOP_LENGTH + half, cancel)?;
            let end = match audio.total() {
                Some(total) if frame >= audible_frames(total) => break total,
                Some(total) => audible_frames(total).min(frame + PEAK_BATCH),
                None => frame + PEAK_BATCH,
            };
            let spec = log_spec(&audio, frame, end, self.n_mels)?;
            peak = peak.max(spec.max(None)?.item_cast::<f32>());
            frame = end;
        };
        self.peak = Some(peak);
        self.total = Some(total);
        Ok(peak)
    }
}

/// Frames that overlap the audio: frame i covers samples from i·160 − 200, so those up
/// to `(total + 200) / 160`, rounded up. Every later frame is silence.
fn audible_frames(total: usize) -> usize {
    (total + N_FFT / 2).div_ceil(HOP_LENGTH)
}

/// `log10` mel power of frames `[first, end)` of the buffered audio: reflected before
/// its start (numpy's "reflect", as mlx-whisper pads), silent after its end.
fn log_spec(audio: &BufferedStream<'_>, first: usize, end: usize, n_mels: usize) -> Result<Array> {
    let start = (first * HOP_LENGTH) as isize - (N_FFT / 2) as isize;
    let len = (end - first - 1) * HOP_LENGTH + N_FFT;
    let x: Vec<f32> = (0..len as isize)
        .map(|k| audio.sample((start + k).unsigned_abs()))
        .collect();
    mel::log10_mel(&x, end - first, n_mels)
}

fn last_word_end(segments: &[Segment]) -> Option<f32> {
    segments
        .iter()
        .rev()
        .flat_map(|s| s.words.iter().flatten().rev())
        .map(|w| w.end)
        .next()
        .or_else(|| segments.last().map(|s| s.end))
}

/// Decode at each temperature of the schedule until the result is neither too
/// repetitive (compression ratio) nor too unlikely (average log-probability), unless
/// the window is silence.
fn decode_with_fallback(
    model: &WhisperModel,
    features: &Array,
    base: &DecodeOptions,
    opts: &TranscribeOptions,
    cancel: &CancelToken,
) -> Result<DecodingResult> {
    let mut result = None;
    for (i, &t) in opts.temperatures.iter().enumerate() {
        let mut o = base.clone();
        o.temperature = t;
        o.seed = base.seed.wrapping_mul(31).wrapping_add(i as u64);
        if t > 0.0 {
            o.beam_size = None;
            o.patience = None;
        } else {
            o.best_of = None;
        }
        let r = decode(model, features, &o, cancel)?;
        let mut needs_fallback = false;
        if let Some(c) = opts.compression_ratio_threshold
            && r.compression_ratio > c
        {
            needs_fallback = true;
        }
        if let Some(lp) = opts.logprob_threshold
            && r.avg_logprob < lp
        {
            needs_fallback = true;
        }
        if let Some(ns) = opts.no_speech_threshold
            && r.no_speech_prob > ns
        {
            needs_fallback = false;
        }
        result = Some(r);
        if !needs_fallback {
            break;
        }
    }
    result.ok_or_else(|| Error::InvalidArgument {
        name: "temperatures".into(),
        reason: "the schedule is empty".into(),
    })
}

#[cfg(test)]
mod tests {
    use mlx_rs::transforms::eval;

    use super::*;
    use crate::whisper::mel::{N_SAMPLES, log_mel_spectrogram};

    /// 70 s that make the whole-recording clamp matter: quiet noise broken by digital
    /// silence, and only after 60 s a sound 40 dB louder.
    fn quiet_then_loud() -> Vec<f32> {
        let mut state = 12345u32;
        (0..70 * 16_000)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (state >> 8) as f32 / (1 << 24) as f32 - 0.5;
                let t = i as f32 / 16_000.0;
                match i / 16_000 {
                    s if s % 7 == 3 => 0.0,
                    s if s >= 60 => 0.8 * (2.0 * std::f32::consts::PI * 440.0 * t).sin(),
                    _ => 0.01 * noise,
                }
            })
            .collect()
    }

    fn values(a: &Array) -> Vec<f32> {
        eval([a]).unwrap();
        a.as_slice::<f32>().to_vec()
    }

    #[test]
    fn streamed_windows_equal_windows_of_the_whole_spectrogram() {
        let audio = quiet_then_loud();
        for len in [audio.len(), 20 * 16_000 + 77, 150] {
            let audio = &audio[..len];
            let whole = log_mel_spectrogram(audio, 80, N_SAMPLES).unwrap();
            let content = audio.len() / HOP_LENGTH;
            let mut windows = Windows::new(AudioStream::from_16k(audio).unwrap(), 80);
            let never = CancelToken::new();
            // Seeks as long-form decoding makes them: forward, by less than a window.
            for seek in [0, 1, 2_345, 3_000, 5_999, 6_500] {
                let Some(w) = windows.at(seek, &never).unwrap() else {
                    assert!(seek >= content, "{len}: no window at {seek}");
                    continue;
                };
                let frames = N_FRAMES.min(content - seek);
                assert_eq!(w.frames, frames, "{len} @ {seek}");
                let want = mel::window(&whole, seek, frames).unwrap();
                assert!(
                    values(&w.mel) == values(&want),
                    "{len} samples, window at {seek}: not the whole spectrogram's"
                );
            }
            assert_eq!(windows.total(), Some(len));
        }
    }

    #[test]
    fn a_cancel_stops_the_peak_measurement() {
        let audio = quiet_then_loud();
        let mut windows = Windows::new(AudioStream::from_16k(&audio).unwrap(), 80);
        let cancelled = CancelToken::new();
        cancelled.cancel();
        assert!(matches!(windows.at(0, &cancelled), Err(Error::Cancelled)));
    }
}
