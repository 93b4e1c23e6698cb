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

use super::lookup::{Drafter, PromptLookup};
use super::models::LanguageModel;
use super::prefix_cache::PrefixCache;
use super::sampler::{Sampler, SamplerConfig};
use crate::backend::DeviceKind;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::nn::KvCache;

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
    /// Draft tokens from the prompt and verify them in one pass ([`PromptLookup`]);
    /// `None`: plain decoding, one token per forward pass.
    #[serde(default)]
    pub lookup: Option<PromptLookup>,
    /// Text that ends the answer where it appears, not included (OpenAI's `stop`).
    /// Applied to the decoded text by [`super::chat::ChatModel`]; the token loop here
    /// does not read it.
    #[serde(default)]
    pub stop: Vec<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            sampler: SamplerConfig::default(),
            prefill_step: 2048,
            ignore_eos: false,
            lookup: None,
            stop: Vec::new(),
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
    /// What prompt-lookup drafting did (all zero when it was off).
    #[serde(default)]
    pub draft: DraftStats,
    /// Prompt tokens whose keys and values came from the model's prefix cache instead
    /// of being prefilled.
    #[serde(default)]
    pub cached_prompt_tokens: usize,
}

/// Prompt-lookup drafting in one generation: verification passes made, tokens drafted
/// and, of those, accepted (each accepted token is one forward pass saved).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftStats {
    pub verify_steps: usize,
    pub drafted: usize,
    pub accepted: usize,
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

/// Where a prompt's reusable start ends, and the store its keys and values go to and
/// come from ([`PrefixCache`]).
#[derive(Clone, Copy)]
pub struct PrefixReuse<'a> {
    pub store: &'a PrefixCache,
    /// Leading prompt tokens that later prompts are expected to share (0: none).
    pub shared: usize,
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
    on_token: impl FnMut(u32) -> Result<Flow>,
) -> Result<(Vec<u32>, GenerationStats)> {
    generate_with(model, prompt, eos, opts, None, cancel, on_token)
}

/// [`generate`], reusing and storing the keys and values of the prompt's shared start
/// in `prefix`. The prompt is always prefilled in pieces split where the shared start
/// ends, so a generation that finds it stored computes exactly what one that does not
/// would have.
pub fn generate_with(
    model: &dyn LanguageModel,
    prompt: &[u32],
    eos: &HashSet<u32>,
    opts: &GenerateOptions,
    prefix: Option<PrefixReuse<'_>>,
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
    let (head, last) = prompt.split_at(prompt.len() - 1);
    let Some((mut cache, cached)) = prefill(model, head, opts.prefill_step, prefix, cancel)? else {
        let mut s = stats(prompt.len(), 0, start, None, StopReason::Cancelled);
        s.decode_profile = Timers::default().profile();
        return Ok((Vec::new(), s));
    };
    let mut d = Decoding {
        model,
        eos,
        opts,
        cancel,
        sampler: &mut sampler,
        window: if opts.sampler.repetition_penalty != 1.0 {
            opts.sampler.repetition_context
        } else {
            0
        },
        tokens: Vec::new(),
        first_token_at: None,
        timers: Timers::default(),
        draft: DraftStats::default(),
    };
    let reason = match opts.lookup {
        Some(cfg) => d.with_lookup(prompt, &mut cache, cfg, &mut on_token)?,
        None => d.plain(prompt, last[0], &mut cache, &mut on_token)?,
    };
    let mut s = stats(
        prompt.len(),
        d.tokens.len(),
        start,
        d.first_token_at,
        reason,
    );
    s.decode_profile = d.timers.profile();
    s.draft = d.draft;
    s.cached_prompt_tokens = cached;
    Ok((d.tokens, s))
}

/// Fill a fresh cache with `head` (the prompt but its last token): from the longest
/// stored prefix where there is one, then chunk by chunk, materializing the cache after
/// each chunk so the lazy graph stays small. Returns the cache and how many tokens came
/// from the store, or `None` when cancelled.
fn prefill(
    model: &dyn LanguageModel,
    head: &[u32],
    step: usize,
    prefix: Option<PrefixReuse<'_>>,
    cancel: &CancelToken,
) -> Result<Option<(Vec<KvCache>, usize)>> {
    let step = step.max(1);
    let (mut cache, cached) = prefix
        .and_then(|p| p.store.lookup(head))
        .unwrap_or_else(|| (model.new_cache(), 0));
    // The pieces: up to the end of the shared start, then the rest.
    let shared = prefix.map_or(0, |p| p.shared.min(head.len()));
    let cut = shared.max(cached);
    for (i, piece) in [cached..cut, cut..head.len()].into_iter().enumerate() {
        for chunk in head[piece.clone()].chunks(step) {
            if cancel.is_cancelled() {
                return Ok(None);
            }
            let _ = model.forward(&ids_array(chunk), &mut cache, false)?;
            eval(cache.iter().flat_map(|c| c.state()))?;
        }
        if let Some(p) = prefix
            && i == 0
            && shared > cached
        {
            let layers = cache
                .iter()
                .map(KvCache::snapshot)
                .collect::<Result<Vec<_>>>()?;
            eval(layers.iter().flat_map(|c| c.state()))?;
            p.store.insert(head[..shared].to_vec(), layers);
        }
    }
    Ok(Some((cache, cached)))
}

/// One generation's decoding state, shared by the plain and the prompt-lookup loops.
struct Decoding<'a, 's> {
    model: &'a dyn LanguageModel,
    eos: &'a HashSet<u32>,
    opts: &'a GenerateOptions,
    cancel: &'a CancelToken,
    sampler: &'s mut Sampler,
    /// Recent tokens the repetition penalty looks at (0: no penalty).
    window: usize,
    tokens: Vec<u32>,
    first_token_at: Option<Instant>,
    timers: Timers,
    draft: DraftStats,
}

/// What [`Decoding::emit`] decided about a token.
enum Emitted {
    Kept,
    Stop(StopReason),
}

impl Decoding<'_, '_> {
    /// The next token's graph after feeding `y` (`[1]` or `[1, 1]` ids), sampled with
    /// `recent` for the penalty.
    fn step(&mut self, y: &Array, recent: Option<&Array>, cache: &mut [KvCache]) -> Result<Array> {
        let logits = self.model.forward(&y.reshape(&[1, -1])?, cache, false)?;
        self.sampler
            .sample(&logits.try_index((.., -1, ..))?, recent)
    }

    /// Account for one generated token: EOS, the callback's wish and the budget decide
    /// whether to go on.
    fn emit(
        &mut self,
        token: u32,
        on_token: &mut impl FnMut(u32) -> Result<Flow>,
    ) -> Result<Emitted> {
        if self.first_token_at.is_none() {
            self.first_token_at = Some(Instant::now());
        }
        if !self.opts.ignore_eos && self.eos.contains(&token) {
            return Ok(Emitted::Stop(StopReason::Eos));
        }
        self.tokens.push(token);
        let t = Instant::now();
        let flow = on_token(token)?;
        if self.tokens.len() > 1 {
            self.timers.callback += t.elapsed();
        }
        if flow == Flow::Stop {
            return Ok(Emitted::Stop(StopReason::Stopped));
        }
        if self.tokens.len() >= self.opts.max_tokens {
            return Ok(Emitted::Stop(StopReason::MaxTokens));
        }
        Ok(Emitted::Kept)
    }

    /// Pipelined decoding: step N+1's graph is queued before token N is read.
    fn plain(
        &mut self,
        prompt: &[u32],
        last: u32,
        cache: &mut [KvCache],
        on_token: &mut impl FnMut(u32) -> Result<Flow>,
    ) -> Result<StopReason> {
        let window = self.window;
        // Recent tokens for the repetition penalty, kept on the device.
        let mut recent = self.recent_of(prompt)?;
        let mut y = self.step(&ids_array(&[last]), recent.as_ref(), cache)?;
        async_eval([&y])?;
        loop {
            if self.cancel.is_cancelled() {
                return Ok(StopReason::Cancelled);
            }
            if self.tokens.len() >= self.opts.max_tokens {
                return Ok(StopReason::MaxTokens);
            }
            // Queue step N+1 before reading token N.
            let t0 = Instant::now();
            if let Some(r) = recent.take() {
                recent = Some(push_recent(&r, &y, window)?);
            }
            let need_next = self.tokens.len() + 1 < self.opts.max_tokens;
            let (next, t1) = if need_next {
                let next = self.step(&y, recent.as_ref(), cache)?;
                let t1 = Instant::now();
                async_eval([&next])?;
                (Some(next), t1)
            } else {
                (None, Instant::now())
            };
            let t2 = Instant::now();
            let token = read_token(&y)?;
            let t3 = Instant::now();
            if self.first_token_at.is_some() {
                // The first token's wait is prefill; only steady-state decode counts here.
                self.timers.tokens += 1;
                self.timers.build += t1 - t0;
                self.timers.schedule += t2 - t1;
                self.timers.wait += t3 - t2;
            }
            if let Emitted::Stop(reason) = self.emit(token, on_token)? {
                return Ok(reason);
            }
            match next {
                Some(n) => y = n,
                None => return Ok(StopReason::MaxTokens),
            }
        }
    }

    /// Prompt-lookup decoding ([`super::lookup`]): lossless speculative decoding with
    /// the prompt and the output so far as the draft model.
    ///
    /// Each verification pass feeds the drafted tokens after the last emitted one and
    /// samples a token at every position, each with its own repetition-penalty window
    /// (the tokens before that position, drafts included), exactly as plain decoding
    /// would sample there. The sampled tokens are emitted in order while each equals
    /// the draft token fed at that position; the first that differs is emitted too and
    /// ends the pass, and the cache forgets the rejected drafts. Every emitted token is
    /// therefore the model's own sample given the tokens before it, so at temperature
    /// 0 the output is token for token that of plain decoding, and above 0 it has the
    /// same distribution (drafts only decide how many samples one pass yields, never
    /// which). Where nothing is drafted (no match, or drafting measured not to pay:
    /// [`Drafter`]) it decodes as [`Decoding::plain`] does, pipelined.
    fn with_lookup(
        &mut self,
        prompt: &[u32],
        cache: &mut [KvCache],
        cfg: PromptLookup,
        on_token: &mut impl FnMut(u32) -> Result<Flow>,
    ) -> Result<StopReason> {
        // A seeded generation must give the same text on every run: its drafting
        // decisions then ignore wall-clock times.
        let timed = self.opts.sampler.seed.is_none();
        let mut drafter = Drafter::new(cfg, DeviceKind::current() == DeviceKind::Cpu, timed);
        // Prompt and output so far, on the host: what drafts are looked up in, and
        // what the penalty windows are cut from.
        let mut history = prompt.to_vec();
        // The token to feed next is the last of `history`; `queued` holds the sample
        // after it when its step is already queued (plain decoding), so its keys and
        // values are in the cache.
        let mut queued: Option<(Array, Option<Array>)> = None;
        // When the last plain token was read, if the one before was plain too: the
        // steady pipelined rate the drafter weighs passes against.
        let mut last_read: Option<Instant> = None;
        loop {
            if self.cancel.is_cancelled() {
                return Ok(StopReason::Cancelled);
            }
            let left = self.opts.max_tokens - self.tokens.len();
            let t0 = Instant::now();
            if let Some((y, recent)) = queued.take() {
                // Plain decoding, one step ahead: queue the step after `y`, read `y`.
                let recent = match recent {
                    Some(r) => Some(push_recent(&r, &y, self.window)?),
                    None => None,
                };
                let next = if left > 1 {
                    let next = self.step(&y, recent.as_ref(), cache)?;
                    async_eval([&next])?;
                    Some(next)
                } else {
                    None
                };
                let t1 = Instant::now();
                let token = read_token(&y)?;
                let read = Instant::now();
                if self.first_token_at.is_some() {
                    self.timers.tokens += 1;
                    self.timers.build += t1 - t0;
                    self.timers.wait += read - t1;
                }
                if let Some(prev) = last_read.replace(read) {
                    drafter.observe_plain((read - prev).as_secs_f64());
                }
                if let Emitted::Stop(reason) = self.emit(token, on_token)? {
                    return Ok(reason);
                }
                history.push(token);
                let Some(next) = next else {
                    return Ok(StopReason::MaxTokens);
                };
                // `token` is fed already; a draft now continues from `next`, and `next`
                // plus the draft must fit in what is left after `token`.
                let draft = drafter.propose(&history, left - 2);
                if draft.is_empty() {
                    queued = Some((next, recent));
                    continue;
                }
                let draft = draft.to_vec();
                last_read = None;
                let pass = Instant::now();
                let emitted = self.verify(&history, Some(next), &draft, cache)?;
                let secs = pass.elapsed().as_secs_f64();
                drafter.observe_pass(draft.len(), emitted.len() - 1, secs);
                if let Some(reason) = self.emit_verified(&emitted, on_token)? {
                    return Ok(reason);
                }
                history.extend_from_slice(&emitted);
                continue;
            }
            // The last of `history` is not fed yet.
            let draft = drafter.propose(&history, left.saturating_sub(1));
            if draft.is_empty() {
                let recent = self.recent_of(&history)?;
                let y = self.step(
                    &ids_array(&history[history.len() - 1..]),
                    recent.as_ref(),
                    cache,
                )?;
                async_eval([&y])?;
                queued = Some((y, recent));
                continue;
            }
            let draft = draft.to_vec();
            let pass = Instant::now();
            let emitted = self.verify(&history, None, &draft, cache)?;
            drafter.observe_pass(draft.len(), emitted.len() - 1, pass.elapsed().as_secs_f64());
            if let Some(reason) = self.emit_verified(&emitted, on_token)? {
                return Ok(reason);
            }
            history.extend_from_slice(&emitted);
        }
    }

    /// One verification pass: feed `draft` (after the last of `history` when `sampled`
    /// is `None`: it is not fed yet; when `Some`, that token is fed and `sampled` is the
    /// queued sample after it) and return the emitted tokens: the samples up to and
    /// including the first that differs from the draft token fed at its position.
    fn verify(
        &mut self,
        history: &[u32],
        sampled: Option<Array>,
        draft: &[u32],
        cache: &mut [KvCache],
    ) -> Result<Vec<u32>> {
        let t0 = Instant::now();
        let mut fed = Vec::with_capacity(draft.len() + 1);
        if sampled.is_none() {
            fed.push(history[history.len() - 1]);
        }
        fed.extend_from_slice(draft);
        let logits = self.model.forward(&ids_array(&fed), cache, true)?;
        let rows = fed.len() as i32;
        let logits = logits.reshape(&[rows, -1])?;
        // Row i samples after `history` plus the first `skip + i` drafts.
        let skip = usize::from(sampled.is_some());
        let recent = self.recent_rows(history, draft, skip, fed.len())?;
        let verified = self.sampler.sample(&logits, recent.as_ref())?;
        let all = match sampled {
            Some(first) => mlx_rs::ops::concatenate(&[first.reshape(&[-1])?, verified], 0)?,
            None => verified,
        };
        let t1 = Instant::now();
        eval([&all])?;
        let samples: Vec<u32> = all.as_slice::<u32>().to_vec();
        let t2 = Instant::now();
        if self.first_token_at.is_some() {
            self.timers.build += t1 - t0;
            self.timers.wait += t2 - t1;
        }
        let accepted = draft
            .iter()
            .zip(&samples)
            .take_while(|(d, s)| d == s)
            .count();
        // Positions fed this pass beyond those kept: the rejected drafts.
        let rejected = draft.len() - accepted;
        for c in cache.iter_mut() {
            c.trim(rejected as i32);
        }
        self.draft.verify_steps += 1;
        self.draft.drafted += draft.len();
        self.draft.accepted += accepted;
        Ok(samples[..=accepted].to_vec())
    }

    /// Emit a verification's tokens in order; `Some(reason)` when generation ends.
    fn emit_verified(
        &mut self,
        emitted: &[u32],
        on_token: &mut impl FnMut(u32) -> Result<Flow>,
    ) -> Result<Option<StopReason>> {
        for &token in emitted {
            if self.first_token_at.is_some() {
                self.timers.tokens += 1;
            }
            if let Emitted::Stop(reason) = self.emit(token, on_token)? {
                return Ok(Some(reason));
            }
        }
        Ok(None)
    }

    /// The penalty window at the end of `history`, on the device (`None`: no penalty).
    fn recent_of(&self, history: &[u32]) -> Result<Option<Array>> {
        Ok(match self.window {
            0 => None,
            w => Some(ids_array(&history[history.len().saturating_sub(w)..]).reshape(&[-1])?),
        })
    }

    /// Penalty windows for `rows` sampling positions: row `i` sees `history` and the
    /// first `skip + i` tokens of `draft`. Rows shorter than the window are padded with
    /// their own first token (the penalty counts a token once however often it is
    /// listed). `None`: no penalty.
    fn recent_rows(
        &self,
        history: &[u32],
        draft: &[u32],
        skip: usize,
        rows: usize,
    ) -> Result<Option<Array>> {
        let w = self.window;
        if w == 0 {
            return Ok(None);
        }
        let width = w.min(history.len() + skip + rows - 1);
        let mut ids = Vec::with_capacity(rows * width);
        let mut row = Vec::with_capacity(width);
        for i in 0..rows {
            let extra = &draft[..skip + i];
            row.clear();
            let from_history = w.saturating_sub(extra.len()).min(history.len());
            row.extend_from_slice(&history[history.len() - from_history..]);
            row.extend_from_slice(&extra[extra.len().saturating_sub(w)..]);
            let pad = row[0];
            ids.extend(std::iter::repeat_n(pad, width - row.len()).map(|t| t as i32));
            ids.extend(row.iter().map(|&t| t as i32));
        }
        Ok(Some(Array::from_slice(&ids, &[rows as i32, width as i32])))
    }
}

/// `recent` with the token `y` appended, cut to the last `window`.
fn push_recent(recent: &Array, y: &Array, window: usize) -> Result<Array> {
    let joined = mlx_rs::ops::concatenate(&[recent, &y.reshape(&[-1])?], 0)?;
    let n = joined.shape()[0];
    Ok(joined.try_index((n - window as i32).max(0)..)?)
}

fn read_token(y: &Array) -> Result<u32> {
    y.try_item_exact::<u32>()
        .map_err(|e| Error::Mlx(e.to_string()))
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
        decode_profile: DecodeProfile::default(),
        draft: DraftStats::default(),
        cached_prompt_tokens: 0,
    }
}
