//! Word timestamps from cross-attention (OpenAI's / mlx-whisper's `timing.py`).
//!
//! Some decoder heads attend to the audio frame being spoken ("alignment heads"). The
//! decoded text is run through the decoder once more with those heads' attention kept;
//! after normalizing each head over the tokens and a median filter along time, dynamic
//! time warping finds the monotonic token → frame path, and each word's start/end is
//! where the path enters its first and leaves its last token. Heuristics from the
//! reference then fix over-long words at pauses and merge punctuation into words.

use mlx_rs::ops::indexing::TryIndexOp;
use mlx_rs::transforms::eval;
use mlx_rs::{Array, Dtype, ops};

use super::WhisperModel;
use super::types::{Segment, TranscribeOptions, Word};
use crate::error::Result;

/// Audio-feature positions per second (20 ms each).
const TOKENS_PER_SECOND: f32 = 50.0;
const MEDFILT_WIDTH: usize = 7;

/// One word with its tokens and timing, before merging into segments.
#[derive(Debug, Clone)]
pub struct WordTiming {
    pub word: String,
    pub tokens: Vec<u32>,
    pub start: f32,
    pub end: f32,
    pub probability: f32,
}

/// Median filter of odd `width` along rows of `x` (`rows × cols`), with reflect
/// padding (scipy's `medfilt` on a reflect-padded array, as the reference does).
fn median_filter(x: &mut [f32], rows: usize, cols: usize, width: usize) {
    let pad = width / 2;
    if cols <= pad {
        return;
    }
    let mut padded = vec![0f32; cols + 2 * pad];
    let mut window = vec![0f32; width];
    for r in 0..rows {
        let row = &mut x[r * cols..(r + 1) * cols];
        for (i, p) in padded.iter_mut().enumerate() {
            // numpy "reflect": -1 → 1, cols → cols - 2.
            let j = i as isize - pad as isize;
            let j = if j < 0 {
                -j
            } else if j >= cols as isize {
                2 * (cols as isize - 1) - j
            } else {
                j
            };
            *p = row[j.clamp(0, cols as isize - 1) as usize];
        }
        for (i, out) in row.iter_mut().enumerate() {
            window.copy_from_slice(&padded[i..i + width]);
            window.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            *out = window[pad];
        }
    }
}

/// Dynamic time warping over a cost matrix (`n × m`); returns the path as
/// `(text_indices, time_indices)`.
pub fn dtw(x: &[f32], n: usize, m: usize) -> (Vec<usize>, Vec<usize>) {
    let w = m + 1;
    let mut cost = vec![f32::INFINITY; (n + 1) * w];
    let mut trace = vec![-1i8; (n + 1) * w];
    cost[0] = 0.0;
    for j in 1..=m {
        for i in 1..=n {
            let c0 = cost[(i - 1) * w + j - 1];
            let c1 = cost[(i - 1) * w + j];
            let c2 = cost[i * w + j - 1];
            let (c, t) = if c0 < c1 && c0 < c2 {
                (c0, 0)
            } else if c1 < c0 && c1 < c2 {
                (c1, 1)
            } else {
                (c2, 2)
            };
            cost[i * w + j] = x[(i - 1) * m + j - 1] + c;
            trace[i * w + j] = t;
        }
    }
    trace[..=m].fill(2);
    for row in trace.chunks_mut(w) {
        row[0] = 1;
    }
    let (mut i, mut j) = (n, m);
    let mut path = Vec::new();
    while i > 0 || j > 0 {
        path.push((i.wrapping_sub(1), j.wrapping_sub(1)));
        match trace[i * w + j] {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    path.reverse();
    path.into_iter().unzip()
}

/// Align `text_tokens` (decoded from the window whose features are given) to audio
/// frames; `num_frames` is the window's length in mel frames.
pub fn find_alignment(
    model: &WhisperModel,
    features: &Array,
    sot_sequence: &[u32],
    language: &str,
    text_tokens: &[u32],
    num_frames: usize,
) -> Result<Vec<WordTiming>> {
    if text_tokens.is_empty() {
        return Ok(Vec::new());
    }
    let tok = model.tokenizer();
    let sp = *tok.special();
    let mut tokens: Vec<u32> = sot_sequence.to_vec();
    tokens.push(sp.no_timestamps);
    tokens.extend_from_slice(text_tokens);
    tokens.push(sp.eot);
    let ids: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
    let dec = &model.model().decoder;
    let mut cache = dec.new_cache(features)?;
    let (logits, qks) = dec.forward(
        &Array::from_slice(&ids, &[1, ids.len() as i32]),
        &mut cache,
        true,
    )?;
    let s = sot_sequence.len() as i32;
    let t = text_tokens.len() as i32;
    let sampled = logits.try_index((0, s..s + t, ..sp.eot as i32))?;
    let probs = ops::softmax_axis(&sampled, -1, true)?;
    let text_ids: Vec<i32> = text_tokens.iter().map(|&x| x as i32).collect();
    let token_probs = probs
        .take_along_axis(Array::from_slice(&text_ids, &[t, 1]), 1)?
        .reshape(&[-1])?;

    let frames = (num_frames / 2).max(1) as i32;
    let heads: Vec<Array> = model
        .alignment_heads()
        .iter()
        .filter(|(l, _)| *l < qks.len())
        .map(|&(l, h)| qks[l].try_index((0, h as i32, .., ..frames)))
        .collect::<std::result::Result<_, _>>()?;
    if heads.is_empty() {
        return Ok(Vec::new());
    }
    let weights = ops::stack(&heads, 0)?.as_dtype(Dtype::Float32)?;
    let weights = ops::softmax_axis(&weights, -1, true)?;
    let mean = weights.mean_axis(-2, true)?;
    let std = weights.var_axis(-2, true, 0)?.sqrt()?;
    let weights = weights.subtract(&mean)?.divide(&std)?;
    eval([&weights, &token_probs])?;
    let shape = weights.shape().to_vec();
    let (n_heads, n_tok, n_frames) = (shape[0] as usize, shape[1] as usize, shape[2] as usize);
    let mut w: Vec<f32> = weights.as_slice::<f32>().to_vec();
    median_filter(&mut w, n_heads * n_tok, n_frames, MEDFILT_WIDTH);
    // Mean over heads, rows from the <|notimestamps|> position to the last text token.
    let rows = n_tok - sot_sequence.len() - 1;
    let mut matrix = vec![0f32; rows * n_frames];
    for h in 0..n_heads {
        for r in 0..rows {
            let src = (h * n_tok + sot_sequence.len() + r) * n_frames;
            for c in 0..n_frames {
                matrix[r * n_frames + c] -= w[src + c] / n_heads as f32;
            }
        }
    }
    let (text_idx, time_idx) = dtw(&matrix, rows, n_frames);

    let mut with_eot = text_tokens.to_vec();
    with_eot.push(sp.eot);
    let (words, word_tokens) = tok.split_to_word_tokens(&with_eot, language);
    if word_tokens.len() <= 1 {
        return Ok(Vec::new());
    }
    let mut boundaries = vec![0usize];
    for wt in &word_tokens[..word_tokens.len() - 1] {
        boundaries.push(boundaries.last().copied().unwrap_or(0) + wt.len());
    }
    let jump_times: Vec<f32> = (0..text_idx.len())
        .filter(|&k| k == 0 || text_idx[k] != text_idx[k - 1])
        .map(|k| time_idx[k] as f32 / TOKENS_PER_SECOND)
        .collect();
    let token_probs: Vec<f32> = token_probs.as_slice::<f32>().to_vec();
    let mut out = Vec::new();
    for k in 0..boundaries.len() - 1 {
        let (i, j) = (boundaries[k], boundaries[k + 1]);
        let (Some(&start), Some(&end)) = (jump_times.get(i), jump_times.get(j)) else {
            break;
        };
        let p = &token_probs[i.min(token_probs.len())..j.min(token_probs.len())];
        let probability = if p.is_empty() {
            0.0
        } else {
            p.iter().sum::<f32>() / p.len() as f32
        };
        out.push(WordTiming {
            word: words[k].clone(),
            tokens: word_tokens[k].clone(),
            start,
            end,
            probability,
        });
    }
    Ok(out)
}

/// Merge leading punctuation (`"¿([{-`) into the next word and trailing punctuation
/// (`.,!?:"')]}、`) into the previous one.
pub fn merge_punctuations(alignment: &mut [WordTiming], prepended: &str, appended: &str) {
    if alignment.len() < 2 {
        return;
    }
    let mut i = alignment.len() as isize - 2;
    let mut j = alignment.len() - 1;
    while i >= 0 {
        let iu = i as usize;
        let prev = alignment[iu].clone();
        if prev.word.starts_with(' ') && prepended.contains(prev.word.trim()) {
            let following = &mut alignment[j];
            following.word = prev.word.clone() + &following.word;
            let mut toks = prev.tokens.clone();
            toks.extend_from_slice(&following.tokens);
            following.tokens = toks;
            alignment[iu].word.clear();
            alignment[iu].tokens.clear();
        } else {
            j = iu;
        }
        i -= 1;
    }
    let (mut i, mut j) = (0usize, 1usize);
    while j < alignment.len() {
        let following = alignment[j].clone();
        if !alignment[i].word.ends_with(' ') && appended.contains(following.word.as_str()) {
            let previous = &mut alignment[i];
            previous.word.push_str(&following.word);
            previous.tokens.extend_from_slice(&following.tokens);
            alignment[j].word.clear();
            alignment[j].tokens.clear();
        } else {
            i = j;
        }
        j += 1;
    }
}

fn round2(x: f32) -> f32 {
    (x * 100.0).round() / 100.0
}

/// Give `segments` (all from one window starting at `time_offset` seconds) their words,
/// adjusting segment bounds to them; punctuation is merged into words as `opts` says.
/// Returns the new last-speech time.
#[allow(clippy::too_many_arguments)]
pub fn add_word_timestamps(
    segments: &mut [Segment],
    model: &WhisperModel,
    features: &Array,
    sot_sequence: &[u32],
    language: &str,
    num_frames: usize,
    time_offset: f32,
    mut last_speech_timestamp: f32,
    opts: &TranscribeOptions,
) -> Result<f32> {
    if segments.is_empty() {
        return Ok(last_speech_timestamp);
    }
    let eot = model.tokenizer().special().eot;
    let per_segment: Vec<Vec<u32>> = segments
        .iter()
        .map(|s| s.tokens.iter().copied().filter(|&t| t < eot).collect())
        .collect();
    let text_tokens: Vec<u32> = per_segment.iter().flatten().copied().collect();
    let mut alignment = find_alignment(
        model,
        features,
        sot_sequence,
        language,
        &text_tokens,
        num_frames,
    )?;
    let mut durations: Vec<f32> = alignment
        .iter()
        .map(|w| w.end - w.start)
        .filter(|d| *d != 0.0)
        .collect();
    durations.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let median = if durations.is_empty() {
        0.0
    } else if durations.len() % 2 == 1 {
        durations[durations.len() / 2]
    } else {
        (durations[durations.len() / 2 - 1] + durations[durations.len() / 2]) / 2.0
    };
    let median_duration = median.min(0.7);
    let max_duration = median_duration * 2.0;

    // Truncate long words at sentence boundaries.
    if !durations.is_empty() {
        let sentence_end = ".。!！?？";
        for i in 1..alignment.len() {
            if alignment[i].end - alignment[i].start > max_duration {
                if sentence_end.contains(alignment[i].word.as_str()) {
                    alignment[i].end = alignment[i].start + max_duration;
                } else if sentence_end.contains(alignment[i - 1].word.as_str()) {
                    alignment[i].start = alignment[i].end - max_duration;
                }
            }
        }
    }
    merge_punctuations(
        &mut alignment,
        &opts.prepend_punctuations,
        &opts.append_punctuations,
    );

    let mut word_index = 0;
    for (segment, text_tokens) in segments.iter_mut().zip(&per_segment) {
        let mut saved = 0;
        let mut words: Vec<Word> = Vec::new();
        while word_index < alignment.len() && saved < text_tokens.len() {
            let timing = &alignment[word_index];
            if !timing.word.is_empty() {
                words.push(Word {
                    word: timing.word.clone(),
                    start: round2(time_offset + timing.start),
                    end: round2(time_offset + timing.end),
                    probability: timing.probability,
                });
            }
            saved += timing.tokens.len();
            word_index += 1;
        }
        if !words.is_empty() {
            // The first and second word after a pause are at most twice the median.
            if words[0].end - last_speech_timestamp > median_duration * 4.0
                && (words[0].end - words[0].start > max_duration
                    || (words.len() > 1 && words[1].end - words[0].start > max_duration * 2.0))
            {
                if words.len() > 1 && words[1].end - words[1].start > max_duration {
                    let boundary = (words[1].end / 2.0).max(words[1].end - max_duration);
                    words[0].end = boundary;
                    words[1].start = boundary;
                }
                words[0].start = (words[0].end - max_duration).max(0.0);
            }
            // Prefer the segment-level start if the first word is too long.
            if segment.start < words[0].end && segment.start - 0.5 > words[0].start {
                words[0].start = (words[0].end - median_duration).min(segment.start).max(0.0);
            } else {
                segment.start = words[0].start;
            }
            let last = words.len() - 1;
            if segment.end > words[last].start && segment.end + 0.5 < words[last].end {
                words[last].end = (words[last].start + median_duration).max(segment.end);
            } else {
                segment.end = words[last].end;
            }
            last_speech_timestamp = segment.end;
        }
        segment.words = Some(words);
    }
    Ok(last_speech_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::whisper::types::{APPEND_PUNCTUATIONS, PREPEND_PUNCTUATIONS};

    #[test]
    fn dtw_follows_the_cheap_diagonal() {
        // 3 tokens × 6 frames; cheap cells on a staircase.
        let mut x = vec![1.0f32; 18];
        for (r, c) in [(0, 0), (0, 1), (1, 2), (1, 3), (2, 4), (2, 5)] {
            x[r * 6 + c] = 0.0;
        }
        let (text, time) = dtw(&x, 3, 6);
        assert_eq!(text, vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(time, vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn median_filter_reflects_at_edges() {
        let mut x = vec![5.0, 1.0, 1.0, 1.0, 9.0];
        median_filter(&mut x, 1, 5, 3);
        assert_eq!(x, vec![1.0, 1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn punctuation_joins_words() {
        let w = |s: &str| WordTiming {
            word: s.into(),
            tokens: vec![1],
            start: 0.0,
            end: 0.0,
            probability: 1.0,
        };
        let mut a = vec![w(" \""), w("Hello"), w(","), w(" world"), w(".")];
        merge_punctuations(&mut a, PREPEND_PUNCTUATIONS, APPEND_PUNCTUATIONS);
        let words: Vec<&str> = a
            .iter()
            .map(|w| w.word.as_str())
            .filter(|w| !w.is_empty())
            .collect();
        assert_eq!(words, vec![" \"Hello,", " world."]);
    }
}
