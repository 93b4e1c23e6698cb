//! Decoding one 30 s window: language detection, greedy / sampled / beam-search
//! decoding with Whisper's logit rules, as OpenAI's and mlx-whisper's `decoding.py`.
//!
//! The rules, applied to every step's logits in this order:
//! - blank suppression: no `" "` or end-of-text as the first sampled token;
//! - token suppression: the non-speech symbols and the task/control tokens;
//! - timestamp rules: timestamps come in pairs (except right before end-of-text), never
//!   decrease, the first token is a timestamp no later than `max_initial_timestamp`,
//!   and when the timestamps together are more probable than any single text token a
//!   timestamp must be sampled.
//!
//! Greedy and sampled decoding are pipelined like the LLM loop (`llm::generate`): the
//! forward pass of step N+1 is queued on the device before the host reads token N, so
//! the host-side rule bookkeeping overlaps with the device computing. Only the sampled
//! token and its log-probability cross to the host per step; the keys/values stay on
//! the device.

use std::io::Write;

use mlx_rs::ops::indexing::{IndexOp, TryIndexOp};
use mlx_rs::transforms::{async_eval, eval};
use mlx_rs::{Array, ops};

use super::WhisperModel;
use super::mel::CHUNK_LENGTH;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// How to decode one window (the per-window part of `TranscribeOptions`).
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    pub translate: bool,
    /// Language token; `None` uses English's slot (callers detect first).
    pub language: Option<u32>,
    pub temperature: f32,
    /// Most tokens to sample (default: half the text context, 224).
    pub sample_len: Option<usize>,
    /// Independent samples at `temperature > 0`; the most likely one wins.
    pub best_of: Option<usize>,
    /// Beam search at `temperature == 0`.
    pub beam_size: Option<usize>,
    pub patience: Option<f32>,
    /// `None`: rank by log-probability / length; else Google NMT's penalty alpha.
    pub length_penalty: Option<f32>,
    /// Previous text (after `<|startofprev|>`).
    pub prompt: Vec<u32>,
    /// Forced start of this window's text.
    pub prefix: Vec<u32>,
    /// Token ids to suppress (already resolved: non-speech list plus controls).
    pub suppress_tokens: Vec<u32>,
    pub suppress_blank: bool,
    pub without_timestamps: bool,
    pub max_initial_timestamp: Option<f32>,
    /// Seed of the sampling PRNG (temperature > 0).
    pub seed: u64,
}

/// What decoding one window produced.
#[derive(Debug, Clone)]
pub struct DecodingResult {
    /// Sampled tokens, without the prompt and the end-of-text.
    pub tokens: Vec<u32>,
    pub text: String,
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
    pub temperature: f32,
    pub compression_ratio: f32,
}

/// `len(text) / len(zlib(text))`: high for repetitive (looping) output.
pub fn compression_ratio(text: &str) -> f32 {
    if text.is_empty() {
        return 0.0;
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = z
        .write_all(text.as_bytes())
        .and_then(|_| z.finish())
        .map(|c| c.len())
        .unwrap_or(text.len());
    text.len() as f32 / compressed.max(1) as f32
}

/// Every language's probability, in token order.
pub type LanguageProbs = Vec<(&'static str, f32)>;

/// The spoken language of one window: `(code, probability)` of the best and every
/// language's probability, in token order.
pub fn detect_language(
    model: &WhisperModel,
    features: &Array,
) -> Result<(&'static str, f32, LanguageProbs)> {
    let tok = model.tokenizer();
    if !tok.is_multilingual() {
        return Ok(("en", 1.0, vec![("en", 1.0)]));
    }
    let dec = &model.model().decoder;
    let mut cache = dec.new_cache(features)?;
    let sot = Array::from_slice(&[tok.special().sot as i32], &[1, 1]);
    let (logits, _) = dec.forward(&sot, &mut cache, false)?;
    let langs: Vec<(u32, &'static str)> = tok.language_tokens().collect();
    let first = langs[0].0 as i32;
    let n = langs.len() as i32;
    // Only language tokens compete; they are contiguous.
    let lang_logits = logits.try_index((0, 0, first..first + n))?;
    let probs = ops::softmax_axis(&lang_logits, -1, true)?;
    eval([&probs])?;
    let probs: Vec<f32> = probs.as_slice::<f32>().to_vec();
    let all: Vec<(&'static str, f32)> = langs
        .iter()
        .map(|&(_, c)| c)
        .zip(probs.iter().copied())
        .collect();
    let (code, p) =
        all.iter().copied().fold(
            ("en", f32::MIN),
            |best, cur| if cur.1 > best.1 { cur } else { best },
        );
    Ok((code, p, all))
}

/// Logit rules shared by every decoding strategy.
struct Rules {
    n_vocab: usize,
    sample_begin: usize,
    eot: u32,
    no_timestamps: u32,
    timestamp_begin: u32,
    /// Added to every step's logits (suppressed tokens).
    suppress: Array,
    /// Added at the first sampled position (blank suppression), on top of `suppress`.
    suppress_first: Option<Array>,
    timestamps: bool,
    max_initial_timestamp_index: Option<u32>,
    /// `arange(n_vocab) < timestamp_begin`, for the "timestamps are more likely" rule.
    text_columns: Array,
}

impl Rules {
    fn new(model: &WhisperModel, opts: &DecodeOptions, sample_begin: usize) -> Result<Self> {
        let tok = model.tokenizer();
        let sp = *tok.special();
        let n_vocab = model.model().dims.n_vocab as usize;
        let mut mask = vec![0f32; n_vocab];
        for &t in &opts.suppress_tokens {
            if let Some(m) = mask.get_mut(t as usize) {
                *m = f32::NEG_INFINITY;
            }
        }
        let suppress = Array::from_slice(&mask, &[1, n_vocab as i32]);
        let suppress_first = if opts.suppress_blank {
            let mut first = mask.clone();
            for t in tok.encode(" ")?.into_iter().chain([sp.eot]) {
                first[t as usize] = f32::NEG_INFINITY;
            }
            Some(Array::from_slice(&first, &[1, n_vocab as i32]))
        } else {
            None
        };
        let precision = CHUNK_LENGTH as f32 / model.model().dims.n_audio_ctx as f32;
        let text_columns = ops::arange::<_, i32>(0, n_vocab as i32, None)?
            .lt(Array::from_int(sp.timestamp_begin as i32))?
            .reshape(&[1, n_vocab as i32])?;
        Ok(Self {
            n_vocab,
            sample_begin,
            eot: sp.eot,
            no_timestamps: sp.no_timestamps,
            timestamp_begin: sp.timestamp_begin,
            suppress,
            suppress_first,
            timestamps: !opts.without_timestamps,
            max_initial_timestamp_index: opts
                .max_initial_timestamp
                .filter(|t| *t > 0.0)
                .map(|t| (t / precision).round() as u32),
            text_columns,
        })
    }

    /// Apply the rules to `logits` (`[G, n_vocab]`) given each row's sampled tokens.
    fn apply(&self, logits: &Array, sampled: &[Vec<u32>]) -> Result<Array> {
        let first = sampled[0].is_empty();
        let logits = match (&self.suppress_first, first) {
            (Some(m), true) => logits.add(m)?,
            _ => logits.add(&self.suppress)?,
        };
        if !self.timestamps {
            return Ok(logits);
        }
        let v = self.n_vocab;
        let tb = self.timestamp_begin as usize;
        let mut mask = vec![0f32; sampled.len() * v];
        for (row, seq) in sampled.iter().enumerate() {
            let m = &mut mask[row * v..(row + 1) * v];
            m[self.no_timestamps as usize] = f32::NEG_INFINITY;
            let last_ts = seq.last().is_some_and(|&t| t >= self.timestamp_begin);
            let penultimate_ts = seq.len() < 2 || seq[seq.len() - 2] >= self.timestamp_begin;
            if last_ts {
                if penultimate_ts {
                    m[tb..].fill(f32::NEG_INFINITY);
                } else {
                    m[..self.eot as usize].fill(f32::NEG_INFINITY);
                }
            }
            // Timestamps never decrease, and a segment has a nonzero length (OpenAI's
            // rule; mlx-whisper 0.4.3 compares positions instead of values here, which
            // disables it).
            if let Some(&last) = seq.iter().rev().find(|&&t| t >= self.timestamp_begin) {
                let upto = if last_ts && !penultimate_ts {
                    last
                } else {
                    last + 1
                } as usize;
                m[tb..upto.min(v)].fill(f32::NEG_INFINITY);
            }
            if seq.is_empty() {
                m[..tb].fill(f32::NEG_INFINITY);
                if let Some(i) = self.max_initial_timestamp_index {
                    let last_allowed = tb + i as usize;
                    if last_allowed + 1 < v {
                        m[last_allowed + 1..].fill(f32::NEG_INFINITY);
                    }
                }
            }
        }
        let g = sampled.len() as i32;
        let host = Array::from_slice(&mask, &[g, v as i32]);
        let logprobs = logits.subtract(logits.logsumexp_axis(-1, true)?)?;
        let ts = logprobs
            .try_index((.., tb as i32..))?
            .logsumexp_axis(-1, true)?;
        let max_text = logprobs.try_index((.., ..tb as i32))?.max_axis(-1, true)?;
        let force = ts.gt(&max_text)?.logical_and(&self.text_columns)?;
        let out = logits.add(&host)?;
        Ok(ops::select(
            &force,
            Array::from_f32(f32::NEG_INFINITY),
            &out,
        )?)
    }
}

/// Decode one window from its audio features (`[1, n_audio_ctx, state]`).
pub fn decode(
    model: &WhisperModel,
    features: &Array,
    opts: &DecodeOptions,
    cancel: &CancelToken,
) -> Result<DecodingResult> {
    let tok = model.tokenizer();
    let sp = *tok.special();
    let dims = model.model().dims;
    let n_ctx = dims.n_text_ctx as usize;
    let sample_len = opts.sample_len.unwrap_or(n_ctx / 2).max(1);
    if opts.beam_size.is_some() && opts.best_of.is_some() {
        return Err(Error::InvalidArgument {
            name: "beam_size".into(),
            reason: "beam_size and best_of cannot be given together".into(),
        });
    }
    if let Some(a) = opts.length_penalty
        && !(0.0..=1.0).contains(&a)
    {
        return Err(Error::InvalidArgument {
            name: "length_penalty".into(),
            reason: "must be between 0 and 1".into(),
        });
    }

    // Initial tokens: [<|startofprev|> prompt…] sot language task [notimestamps] prefix…
    let mut initial = Vec::new();
    if !opts.prompt.is_empty() {
        initial.push(sp.sot_prev);
        let keep = n_ctx / 2 - 1;
        initial.extend_from_slice(&opts.prompt[opts.prompt.len().saturating_sub(keep)..]);
    }
    let sot_index = initial.len();
    initial.extend(tok.sot_sequence(opts.language, opts.translate));
    if opts.without_timestamps {
        initial.push(sp.no_timestamps);
    }
    if !opts.prefix.is_empty() {
        let max_prefix = (n_ctx / 2).saturating_sub(sample_len);
        initial.extend_from_slice(&opts.prefix[opts.prefix.len().saturating_sub(max_prefix)..]);
    }
    let sample_begin = initial.len();
    let rules = Rules::new(model, opts, sample_begin)?;

    let beam = opts.temperature == 0.0 && opts.beam_size.is_some_and(|b| b > 1);
    let groups = if beam {
        opts.beam_size.unwrap_or(1)
    } else if opts.temperature > 0.0 {
        opts.best_of.unwrap_or(1).max(1)
    } else {
        1
    };
    let dec = &model.model().decoder;
    let features = if groups > 1 {
        let s = features.shape();
        ops::broadcast_to(features, &[groups as i32, s[1], s[2]])?
    } else {
        features.clone()
    };
    let mut cache = dec.new_cache(&features)?;
    let ids: Vec<i32> = (0..groups)
        .flat_map(|_| initial.iter().map(|&t| t as i32))
        .collect();
    let prompt = Array::from_slice(&ids, &[groups as i32, initial.len() as i32]);
    let (logits, _) = dec.forward(&prompt, &mut cache, false)?;
    let probs_at_sot = ops::softmax_axis(&logits.try_index((0, sot_index as i32))?, -1, true)?;
    let no_speech = probs_at_sot.try_index(sp.no_speech as i32)?;
    let last = logits.try_index((.., -1))?;

    let max_total = n_ctx;
    let (seqs, sums) = if beam {
        let beam_size = opts.beam_size.unwrap_or(1);
        beam_search(
            dec,
            &rules,
            &mut cache,
            last,
            beam_size,
            opts.patience,
            sample_len,
            max_total,
            cancel,
        )?
    } else {
        sample(
            dec, &rules, &mut cache, last, groups, opts, sample_len, max_total, cancel,
        )?
    };
    eval([&no_speech])?;
    let no_speech_prob = no_speech.item_cast::<f32>();

    // Rank the candidates: sum of log-probabilities over a length penalty.
    let score = |i: usize| {
        let len = seqs[i].len() as f32;
        let penalty = match opts.length_penalty {
            None => len,
            Some(a) => ((5.0 + len) / 6.0).powf(a),
        };
        sums[i] / penalty
    };
    let best = (0..seqs.len())
        .max_by(|&a, &b| {
            score(a)
                .partial_cmp(&score(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .unwrap_or(0);
    let tokens = seqs[best].clone();
    let text = tok.decode(&tokens).trim().to_string();
    Ok(DecodingResult {
        avg_logprob: sums[best] / (tokens.len() + 1) as f32,
        no_speech_prob,
        temperature: opts.temperature,
        compression_ratio: compression_ratio(&text),
        tokens,
        text,
    })
}

/// Greedy (`temperature == 0`) or sampled decoding of `groups` rows, pipelined. Returns
/// each row's tokens (up to end-of-text) and summed log-probability.
#[allow(clippy::too_many_arguments)]
fn sample(
    dec: &super::model::Decoder,
    rules: &Rules,
    cache: &mut super::model::DecoderCache,
    first_logits: Array,
    groups: usize,
    opts: &DecodeOptions,
    sample_len: usize,
    max_total: usize,
    cancel: &CancelToken,
) -> Result<(Vec<Vec<u32>>, Vec<f32>)> {
    let eot = rules.eot;
    let mut key = if opts.temperature > 0.0 {
        Some(mlx_rs::random::key(opts.seed)?)
    } else {
        None
    };
    let mut seqs: Vec<Vec<u32>> = vec![Vec::new(); groups];
    let mut sums = vec![0f32; groups];
    let mut done = vec![false; groups];
    let eot_arr = Array::from_int(eot as i32);

    // Choose the next tokens from (already rule-filtered) logits; finished rows repeat
    // end-of-text.
    let mut select = |filtered: &Array, prev: Option<&Array>| -> Result<(Array, Array)> {
        let next = match key.take() {
            None => ops::indexing::argmax_axis(filtered, -1, None)?,
            Some(k) => {
                let (next_key, sub) = mlx_rs::random::split(&k, 2)?;
                key = Some(next_key);
                let scaled = filtered.multiply(Array::from_f32(1.0 / opts.temperature))?;
                mlx_rs::random::categorical(&scaled, -1, None, &sub)?
            }
        };
        let next = match prev {
            Some(p) => ops::select(&p.eq(&eot_arr)?, &eot_arr, &next)?,
            None => next,
        };
        let next = next.as_dtype(mlx_rs::Dtype::Int32)?;
        let logprobs = filtered.subtract(filtered.logsumexp_axis(-1, true)?)?;
        let lp = logprobs
            .take_along_axis(&next.reshape(&[-1, 1])?, -1)?
            .reshape(&[-1])?;
        Ok((next, lp))
    };

    let filtered = rules.apply(&first_logits, &seqs)?;
    let (mut tok, mut lp) = select(&filtered, None)?;
    async_eval([&tok, &lp])?;
    let initial_len = rules.sample_begin;
    loop {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let produced = seqs[0].len() + 1;
        // Queue the next forward pass before reading this step's tokens.
        let more = produced < sample_len && initial_len + produced < max_total;
        let next_logits = if more {
            let (l, _) = dec.forward(&tok.reshape(&[groups as i32, 1])?, cache, false)?;
            let l = l.try_index((.., -1))?;
            async_eval([&l])?;
            Some(l)
        } else {
            None
        };
        let toks: Vec<i32> = tok.as_slice::<i32>().to_vec();
        let lps: Vec<f32> = lp.as_slice::<f32>().to_vec();
        for r in 0..groups {
            if !done[r] {
                sums[r] += lps[r];
                seqs[r].push(toks[r] as u32);
                if toks[r] as u32 == eot {
                    done[r] = true;
                }
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        let Some(next_logits) = next_logits else {
            break;
        };
        // Rows that finished keep their sequence; the rules look at the live ones.
        let filtered = rules.apply(&next_logits, &seqs)?;
        let prev = tok.clone();
        let (t, l) = select(&filtered, Some(&prev))?;
        async_eval([&t, &l])?;
        tok = t;
        lp = l;
    }
    for s in &mut seqs {
        if let Some(i) = s.iter().position(|&t| t == eot) {
            s.truncate(i);
        }
    }
    Ok((seqs, sums))
}

/// OpenAI's beam search: each beam proposes its `beam_size + 1` best continuations,
/// the best `beam_size` unfinished ones survive, finished ones are collected until
/// `beam_size × patience` of them exist.
#[allow(clippy::too_many_arguments)]
fn beam_search(
    dec: &super::model::Decoder,
    rules: &Rules,
    cache: &mut super::model::DecoderCache,
    first_logits: Array,
    beam_size: usize,
    patience: Option<f32>,
    sample_len: usize,
    max_total: usize,
    cancel: &CancelToken,
) -> Result<(Vec<Vec<u32>>, Vec<f32>)> {
    let eot = rules.eot;
    let max_candidates = ((beam_size as f32) * patience.unwrap_or(1.0))
        .round()
        .max(1.0) as usize;
    let mut beams: Vec<Vec<u32>> = vec![Vec::new(); beam_size];
    let mut sums = vec![0f32; beam_size];
    let mut finished: Vec<(Vec<u32>, f32)> = Vec::new();
    let mut logits = first_logits;
    let k = (beam_size + 1) as i32;
    for step in 0..sample_len {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let filtered = rules.apply(&logits, &beams)?;
        let logprobs = filtered.subtract(filtered.logsumexp_axis(-1, true)?)?;
        // Top k per beam: the k largest via a partition of the negated values.
        let idx = ops::argpartition_axis(&logprobs.negative()?, k - 1, -1)?.try_index((.., ..k))?;
        let vals = logprobs.take_along_axis(&idx, -1)?;
        let idx = idx.as_dtype(mlx_rs::Dtype::Int32)?;
        eval([&idx, &vals])?;
        let idx: Vec<i32> = idx.as_slice::<i32>().to_vec();
        let vals: Vec<f32> = vals.as_slice::<f32>().to_vec();
        // Candidates, deduplicated by sequence (the first step's beams are identical).
        let mut candidates: Vec<(Vec<u32>, f32, usize)> = Vec::new();
        for b in 0..beam_size {
            for j in 0..k as usize {
                let t = idx[b * k as usize + j] as u32;
                let score = sums[b] + vals[b * k as usize + j];
                let mut seq = beams[b].clone();
                seq.push(t);
                if !candidates.iter().any(|(s, _, _)| *s == seq) {
                    candidates.push((seq, score, b));
                }
            }
        }
        candidates.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
        let mut next = Vec::new();
        for (seq, score, src) in candidates {
            if seq.last() == Some(&eot) {
                if finished.len() < max_candidates {
                    finished.push((seq[..seq.len() - 1].to_vec(), score));
                }
            } else {
                next.push((seq, score, src));
                if next.len() == beam_size {
                    break;
                }
            }
        }
        let too_long = rules.sample_begin + step + 2 > max_total;
        if finished.len() >= max_candidates || next.is_empty() || too_long || step + 1 == sample_len
        {
            // Fill up with the live beams when not enough finished.
            for (seq, score, _) in next {
                if finished.len() >= max_candidates {
                    break;
                }
                finished.push((seq, score));
            }
            break;
        }
        while next.len() < beam_size {
            let dup = next[0].clone();
            next.push(dup);
        }
        let sources: Vec<i32> = next.iter().map(|(_, _, s)| *s as i32).collect();
        if sources.iter().enumerate().any(|(i, &s)| s != i as i32) {
            cache.select_batch(&Array::from_slice(&sources, &[beam_size as i32]))?;
        }
        let last: Vec<i32> = next
            .iter()
            .map(|(s, _, _)| *s.last().expect("non-empty") as i32)
            .collect();
        beams = next.iter().map(|(s, _, _)| s.clone()).collect();
        sums = next.iter().map(|(_, s, _)| *s).collect();
        let (l, _) = dec.forward(
            &Array::from_slice(&last, &[beam_size as i32, 1]),
            cache,
            false,
        )?;
        logits = l.index((.., -1));
    }
    if finished.is_empty() {
        finished = beams.into_iter().zip(sums).collect();
    }
    Ok(finished.into_iter().unzip())
}
