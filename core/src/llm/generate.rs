//! The generation loop: chunked prefill, then pipelined decoding.
//!
//! Decoding never waits on the host between tokens when it need not: step N+1's graph
//! is built and queued (`async_eval`) before the host reads token N, so graph building
//! and detokenization overlap with the device computing the next step, as mlx-lm's
//! `generate_step` does. Sampling runs on the device, and the recent-token window for
//! the repetition penalty is kept there too.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mlx_rs::Array;
use mlx_rs::ops::indexing::TryIndexOp;
use mlx_rs::transforms::{async_eval, eval};
use serde::{Deserialize, Serialize};

use super::models::LanguageModel;
use super::sampler::{Sampler, SamplerConfig};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// How to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateOptions {
    /// Upper bound on generated tokens (the stop token not included).
    pub max_tokens: usize,
    pub sampler: SamplerConfig,
    /// Prompt tokens per prefill chunk: bounds the attention scratch memory of long
    /// prompts.
    pub prefill_step: usize,
    /// Keep going past end-of-sequence tokens (benchmarks).
    pub ignore_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            sampler: SamplerConfig::default(),
            prefill_step: 2048,
            ignore_eos: false,
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum StopReason {
    /// The model produced an end-of-sequence token.
    Eos,
    /// `max_tokens` reached.
    MaxTokens,
    /// The caller's callback asked to stop (e.g. a stop string matched).
    Stopped,
    /// The cancellation token fired.
    Cancelled,
}

/// Measurements of one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// Start → first generated token available (prefill plus one step).
    pub time_to_first_token: Duration,
    /// Prompt tokens per second over the time to first token.
    pub prefill_tokens_per_sec: f64,
    /// Generated tokens per second after the first one.
    pub decode_tokens_per_sec: f64,
    pub stop_reason: StopReason,
    /// Where the host's time went per decoded token.
    pub decode_profile: DecodeProfile,
}

/// Host-side time per decoded token, averaged: what the decode loop spends building
/// the next step's graph (model + sampler), handing it to MLX (`async_eval`), waiting
/// for the current token (`item`, i.e. the device being behind), and in the caller's
/// callback (detokenization, streaming). When `wait` dominates, the device is the
/// bottleneck; when `build + schedule` do, the host is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecodeProfile {
    pub tokens: usize,
    pub build_ms: f64,
    pub schedule_ms: f64,
    pub wait_ms: f64,
    pub callback_ms: f64,
}

#[derive(Default)]
struct Timers {
    tokens: usize,
    build: Duration,
    schedule: Duration,
    wait: Duration,
    callback: Duration,
}

impl Timers {
    fn profile(&self) -> DecodeProfile {
        let per = |d: Duration| {
            if self.tokens == 0 {
                0.0
            } else {
                d.as_secs_f64() * 1e3 / self.tokens as f64
            }
        };
        DecodeProfile {
            tokens: self.tokens,
            build_ms: per(self.build),
            schedule_ms: per(self.schedule),
            wait_ms: per(self.wait),
            callback_ms: per(self.callback),
        }
    }
}

/// What the token callback wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Generate from `prompt` until EOS, `max_tokens`, a stop from `on_token`, or
/// cancellation (checked before every token, so it takes effect within one token).
/// `on_token` sees each generated id in order (stop tokens excluded).
pub fn generate(
    model: &dyn LanguageModel,
    prompt: &[u32],
    eos: &HashSet<u32>,
    opts: &GenerateOptions,
    cancel: &CancelToken,
    mut on_token: impl FnMut(u32) -> Result<Flow>,
) -> Result<(Vec<u32>, GenerationStats)> {
    // Generation runs on MLX's default stream. A dedicated stream, as mlx-lm uses, was
    // measured 2-3x slower on CUDA (H200: 78 vs 238 tok/s on Qwen3-0.6B): see
    // BENCHMARKS.md.
    if prompt.is_empty() {
        return Err(Error::InvalidArgument {
            name: "prompt".into(),
            reason: "it is empty".into(),
        });
    }
    let start = Instant::now();
    let mut sampler = Sampler::new(opts.sampler.clone())?;
    let window = if opts.sampler.repetition_penalty != 1.0 {
        opts.sampler.repetition_context
    } else {
        0
    };
    let mut cache = model.new_cache();

    // Prefill everything but the last prompt token, chunk by chunk, materializing the
    // cache after each chunk so the lazy graph stays small.
    let step = opts.prefill_step.max(1);
    let (head, last) = prompt.split_at(prompt.len() - 1);
    for chunk in head.chunks(step) {
        if cancel.is_cancelled() {
            return Ok((
                Vec::new(),
                stats(
                    prompt.len(),
                    0,
                    start,
                    None,
                    StopReason::Cancelled,
                    &Timers::default(),
                ),
            ));
        }
        let _ = model.forward(&ids_array(chunk), &mut cache, false)?;
        eval(cache.iter().flat_map(|c| c.state()))?;
    }

    // Recent tokens for the repetition penalty, kept on the device.
    let mut recent = match window {
        0 => None,
        w => Some(ids_array(&prompt[prompt.len().saturating_sub(w)..]).reshape(&[-1])?),
    };
    let mut next_step = |y: &Array, recent: Option<&Array>, cache: &mut Vec<_>| -> Result<Array> {
        let logits = model.forward(&y.reshape(&[1, -1])?, cache, false)?;
        sampler.sample(&logits.try_index((.., -1, ..))?, recent)
    };

    let mut y = next_step(&ids_array(last), recent.as_ref(), &mut cache)?;
    async_eval([&y])?;
    let mut tokens = Vec::new();
    let mut first_token_at = None;
    let mut t = Timers::default();
    let reason = loop {
        if cancel.is_cancelled() {
            break StopReason::Cancelled;
        }
        if tokens.len() >= opts.max_tokens {
            break StopReason::MaxTokens;
        }
        // Queue step N+1 before reading token N.
        let t0 = Instant::now();
        if let Some(r) = recent.take() {
            let joined = mlx_rs::ops::concatenate(&[&r, &y.reshape(&[-1])?], 0)?;
            let n = joined.shape()[0];
            recent = Some(joined.try_index((n - window as i32).max(0)..)?);
        }
        let need_next = tokens.len() + 1 < opts.max_tokens;
        let (next, t1) = if need_next {
            let next = next_step(&y, recent.as_ref(), &mut cache)?;
            let t1 = Instant::now();
            async_eval([&next])?;
            (Some(next), t1)
        } else {
            (None, Instant::now())
        };
        let t2 = Instant::now();
        let token = y
            .try_item_exact::<u32>()
            .map_err(|e| Error::Mlx(e.to_string()))?;
        let t3 = Instant::now();
        if first_token_at.is_none() {
            first_token_at = Some(t3);
        } else {
            // The first token's wait is prefill; only steady-state decode counts here.
            t.tokens += 1;
            t.build += t1 - t0;
            t.schedule += t2 - t1;
            t.wait += t3 - t2;
        }
        if !opts.ignore_eos && eos.contains(&token) {
            break StopReason::Eos;
        }
        tokens.push(token);
        let flow = on_token(token)?;
        if t.tokens > 0 {
            t.callback += t3.elapsed();
        }
        if flow == Flow::Stop {
            break StopReason::Stopped;
        }
        match next {
            Some(n) => y = n,
            None => break StopReason::MaxTokens,
        }
    };
    let s = stats(
        prompt.len(),
        tokens.len(),
        start,
        first_token_at,
        reason,
        &t,
    );
    Ok((tokens, s))
}

fn ids_array(ids: &[u32]) -> Array {
    let ids: Vec<i32> = ids.iter().map(|&t| t as i32).collect();
    Array::from_slice(&ids, &[1, ids.len() as i32])
}

fn stats(
    prompt: usize,
    generated: usize,
    start: Instant,
    first: Option<Instant>,
    reason: StopReason,
    timers: &Timers,
) -> GenerationStats {
    let end = Instant::now();
    let ttft = first.map_or(end - start, |f| f - start);
    let decode = first.map_or(Duration::ZERO, |f| end - f);
    let rate = |n: usize, d: Duration| {
        if d.is_zero() {
            0.0
        } else {
            n as f64 / d.as_secs_f64()
        }
    };
    GenerationStats {
        prompt_tokens: prompt,
        generated_tokens: generated,
        time_to_first_token: ttft,
        prefill_tokens_per_sec: rate(prompt, ttft),
        decode_tokens_per_sec: rate(generated.saturating_sub(1), decode),
        stop_reason: reason,
        decode_profile: timers.profile(),
    }
}
