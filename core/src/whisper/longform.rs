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
use super::mel::{self, FRAMES_PER_SECOND, HOP_LENGTH, N_FRAMES, N_SAMPLES, SAMPLE_RATE};
use super::timestamps::add_word_timestamps;
use super::types::{Segment, Task, TranscribeOptions, Transcript};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// Transcribe 16 kHz mono `samples`, calling `on_segment` for each segment as soon as
/// its window is done.
pub fn transcribe_samples(
    model: &WhisperModel,
    samples: &[f32],
    opts: &TranscribeOptions,
    cancel: &CancelToken,
    on_segment: &mut dyn FnMut(&Segment),
) -> Result<Transcript> {
    validate(opts)?;
    if samples.is_empty() {
        return Err(Error::Audio {
            path: None,
            reason: "there are no samples to transcribe".into(),
        });
    }
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let tok = model.tokenizer();
    let sp = *tok.special();
    let mel = model.log_mel(samples, N_SAMPLES)?;
    let total_frames = mel.shape()[0] as usize;
    let content_frames = total_frames.saturating_sub(N_FRAMES);
    let duration = (content_frames * HOP_LENGTH) as f32 / SAMPLE_RATE as f32;
    let input_stride = N_FRAMES / model.model().dims.n_audio_ctx as usize; // 2
    let time_precision = (input_stride * HOP_LENGTH) as f32 / SAMPLE_RATE as f32; // 0.02 s

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
            let frames = N_FRAMES.min(content_frames);
            let features = model.encode(&mel::window(&mel, 0, frames)?.expand_dims(0)?, cancel)?;
            let (code, p, _) = detect_language(model, &features)?;
            first_features = Some(features);
            (code.to_string(), Some(p))
        }
    };
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

    while seek < content_frames {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let time_offset = (seek * HOP_LENGTH) as f32 / SAMPLE_RATE as f32;
        let segment_size = N_FRAMES.min(content_frames - seek);
        let segment_duration = (segment_size * HOP_LENGTH) as f32 / SAMPLE_RATE as f32;
        let features = match first_features.take().filter(|_| seek == 0) {
            Some(f) => f,
            None => model.encode(
                &mel::window(&mel, seek, segment_size)?.expand_dims(0)?,
                cancel,
            )?,
        };
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
            on_segment(&s);
            segments.push(s);
        }
        if !opts.condition_on_previous_text || result.temperature > 0.5 {
            prompt_reset_since = all_tokens.len();
        }
    }

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

fn validate(opts: &TranscribeOptions) -> Result<()> {
    let bad = |name: &str, reason: &str| {
        Err(Error::InvalidArgument {
            name: name.into(),
            reason: reason.into(),
        })
    };
    if opts.temperatures.is_empty() {
        return bad("temperatures", "the schedule is empty");
    }
    if opts.temperatures.iter().any(|t| !t.is_finite() || *t < 0.0) {
        return bad("temperatures", "must be finite and non-negative");
    }
    if opts.beam_size == Some(0) {
        return bad("beam_size", "must be at least 1");
    }
    if opts.best_of == Some(0) {
        return bad("best_of", "must be at least 1");
    }
    if opts.beam_size.is_some() && opts.best_of.is_some() {
        return bad(
            "beam_size",
            "beam_size and best_of cannot be given together",
        );
    }
    if opts.patience.is_some() && opts.beam_size.is_none() {
        return bad("patience", "requires beam_size");
    }
    Ok(())
}
