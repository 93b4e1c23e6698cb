//! Throughput and memory measurements of the LLM engine, defined exactly like
//! `bench/bench_mlx_lm.py` measures Python mlx-lm, so the two can be compared row by
//! row on the same machine, the same MLX build and the same model folder.
//!
//! - load: [`ChatModel::load_with`] wall time (weights materialized, tokenizer, template).
//! - prefill at N: a prompt of N token ids (`1000 + (i·7919) mod m`, `m = min(50000,
//!   vocab − 1000)`), one generated token; tokens/s = N / time to first token, the
//!   median of `reps` runs after a first run at that length (reported apart as
//!   `first_ttft_s`: it includes compiling kernels for the new shapes).
//! - decode: a 128-token prompt, `decode_tokens` generated with EOS ignored; tokens/s
//!   over the tokens after the first.
//! - sampler: the refine defaults (temperature 0.7, top-p 0.8, repetition penalty 1.15
//!   over 20 tokens), fixed seed.
//! - memory: MLX active memory after load; peak over the measured runs.
//! - Whisper ([`bench_whisper`], like `bench/bench_mlx_whisper.py`): load, then per
//!   audio file one warm-up transcription and the median wall time of `reps` more
//!   (default options: language detection, timestamps, temperature fallback).
//! - Dictation ([`bench_dictation`], like `bench/bench_dictation.py`): Whisper and a chat
//!   model loaded, then per audio file the whole pipeline — decode the file, transcribe,
//!   refine the transcript (the refine defaults, fixed seed) — one first run, then the
//!   medians of `reps` more, per stage and in total; on the same transcript, prompt
//!   lookup on vs off (tokens/s, acceptance), time to first token with the prefix cache
//!   cold vs warm, and the greedy text with lookup on vs off. The report carries the
//!   exact messages, prompt and settings, for the Python side to use verbatim.
//! - Live transcription ([`live::bench_live`]): on the engine, the same audio fed to a
//!   live session at real-time pace and given whole to `dictate`, alternating: the wait
//!   after the end of the audio for each, and how far confirmed text trails the audio.

pub mod live;
pub mod synthetic;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::audio::AudioInput;
use crate::backend::Precision;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::llm::chat::{ChatModel, LoadOptions};
use crate::llm::chat_template::Message;
use crate::llm::generate::{DraftStats, GenerateOptions, GenerationStats};
use crate::llm::lookup::PromptLookup;
use crate::llm::sampler::SamplerConfig;
use crate::refine::{RefineMode, RefineOptions, RefineResult, refine, refine_prompt};
use crate::transcribe::{TranscribeOptions, Transcript};
use crate::whisper::longform::transcribe_samples;
use crate::whisper::{ComputeDtype, WhisperLoadOptions, WhisperModel};

/// What to measure.
#[derive(Debug, Clone)]
pub struct LlmBenchOptions {
    pub prompt_lens: Vec<usize>,
    pub decode_tokens: usize,
    /// Measured runs per prompt length (after one first run).
    pub reps: usize,
    /// How the weights are held (see [`Precision`]).
    pub precision: Precision,
}

impl Default for LlmBenchOptions {
    fn default() -> Self {
        Self {
            prompt_lens: vec![128, 512, 2048],
            decode_tokens: 256,
            reps: 3,
            precision: Precision::Auto,
        }
    }
}

/// The BLAS serving float32 matrix products, as `murmur doctor` names it.
fn blas_name() -> Option<String> {
    crate::backend::blas().map(|b| b.name)
}

#[derive(Debug, Clone, Serialize)]
pub struct PrefillResult {
    /// Median time to first token over the measured runs.
    pub ttft_s: f64,
    pub tokens_per_sec: f64,
    /// The first run at this length (new shapes: kernel compilation included).
    pub first_ttft_s: f64,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// One run's measurements, with the same field names as the Python script's JSON.
#[derive(Debug, Clone, Serialize)]
pub struct LlmBenchReport {
    #[serde(rename = "impl")]
    pub implementation: String,
    pub version: String,
    pub device: String,
    /// How the weights were held: `as_stored` or `float32`.
    pub precision: Precision,
    pub blas: Option<String>,
    pub load_s: f64,
    pub ttft_128_s: Option<f64>,
    pub prefill: BTreeMap<String, PrefillResult>,
    pub decode_tokens: usize,
    pub decode_tokens_per_sec: f64,
    /// Host time per decoded token (see [`crate::llm::generate::DecodeProfile`]).
    pub decode_profile: crate::llm::generate::DecodeProfile,
    pub active_memory_bytes: usize,
    pub peak_memory_bytes: usize,
}

/// The benchmark's deterministic prompt of `n` token ids for a `vocab`-sized model.
pub fn prompt_ids(n: usize, vocab: usize) -> Vec<u32> {
    let m = 50000.min(vocab.saturating_sub(1000)).max(1);
    (0..n).map(|i| 1000 + ((i * 7919) % m) as u32).collect()
}

fn mlx_err(e: mlx_rs::error::Exception) -> Error {
    Error::Mlx(e.what().to_string())
}

/// Measure the model at `path` (see the module docs for the definitions).
pub fn bench_llm(path: &Path, opts: &LlmBenchOptions) -> Result<LlmBenchReport> {
    let t = Instant::now();
    let model = ChatModel::load_with(
        path,
        &LoadOptions {
            precision: opts.precision,
        },
    )?;
    let load_s = t.elapsed().as_secs_f64();
    let active = mlx_rs::memory::active_memory().map_err(mlx_err)?;
    let cancel = CancelToken::new();
    let run = |n_prompt: usize, max_tokens: usize| {
        let opts = GenerateOptions {
            max_tokens,
            sampler: SamplerConfig {
                temperature: 0.7,
                top_p: 0.8,
                repetition_penalty: 1.15,
                repetition_context: 20,
                seed: Some(0),
                ..SamplerConfig::default()
            },
            ignore_eos: true,
            ..GenerateOptions::default()
        };
        model.complete(
            &prompt_ids(n_prompt, model.info().vocab_size),
            &opts,
            &cancel,
            &mut |_| {},
        )
    };
    // Warm-up (kernel compilation, allocator), as both sides do.
    run(32, 4)?;
    mlx_rs::memory::reset_peak_memory().map_err(mlx_err)?;
    let mut prefill = BTreeMap::new();
    for &n in &opts.prompt_lens {
        let ttft = || -> Result<f64> { Ok(run(n, 1)?.stats.time_to_first_token.as_secs_f64()) };
        let first = ttft()?;
        let ttft = median(
            (0..opts.reps.max(1))
                .map(|_| ttft())
                .collect::<Result<Vec<_>>>()?,
        );
        prefill.insert(
            n.to_string(),
            PrefillResult {
                ttft_s: ttft,
                tokens_per_sec: n as f64 / ttft,
                first_ttft_s: first,
            },
        );
    }
    let s = run(128, opts.decode_tokens)?.stats;
    Ok(LlmBenchReport {
        implementation: "murmur".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        device: format!("{:?}", mlx_rs::Device::default()),
        precision: model.info().precision,
        blas: blas_name(),
        load_s,
        ttft_128_s: prefill.get("128").map(|p| p.ttft_s),
        prefill,
        decode_tokens: s.generated_tokens,
        decode_tokens_per_sec: s.decode_tokens_per_sec,
        decode_profile: s.decode_profile.clone(),
        active_memory_bytes: active,
        peak_memory_bytes: mlx_rs::memory::peak_memory().map_err(mlx_err)?,
    })
}

/// One audio file's Whisper measurements.
#[derive(Debug, Clone, Serialize)]
pub struct WhisperAudioResult {
    pub audio_s: f64,
    /// The first transcription (kernel compilation included).
    pub first_s: f64,
    /// Median wall time of the measured transcriptions.
    pub transcribe_s: f64,
    /// Audio seconds per wall second.
    pub realtime_factor: f64,
    pub segments: usize,
    pub text: String,
}

/// Whisper measurements, with the same field names as `bench/bench_mlx_whisper.py`.
#[derive(Debug, Clone, Serialize)]
pub struct WhisperBenchReport {
    #[serde(rename = "impl")]
    pub implementation: String,
    pub device: String,
    pub dtype: ComputeDtype,
    pub blas: Option<String>,
    pub load_s: f64,
    pub audio: BTreeMap<String, WhisperAudioResult>,
    pub active_memory_bytes: usize,
    pub peak_memory_bytes: usize,
}

/// Load the Whisper model at `path` (computing in `dtype`, or the platform's default)
/// and time transcriptions of each file in `audio` (default options), `reps` times after
/// a first run.
pub fn bench_whisper(
    path: &Path,
    audio: &[PathBuf],
    reps: usize,
    dtype: Option<ComputeDtype>,
) -> Result<WhisperBenchReport> {
    let t = Instant::now();
    let model = WhisperModel::load_with(
        path,
        &WhisperLoadOptions {
            dtype,
            ..WhisperLoadOptions::default()
        },
    )?;
    let load_s = t.elapsed().as_secs_f64();
    let active = mlx_rs::memory::active_memory().map_err(mlx_err)?;
    mlx_rs::memory::reset_peak_memory().map_err(mlx_err)?;
    let cancel = CancelToken::new();
    let mut results = BTreeMap::new();
    for file in audio {
        let samples = crate::audio::load_16k_mono(&AudioInput::Path(file.clone()))?;
        let run = || -> Result<(f64, Transcript)> {
            let t = Instant::now();
            let out = transcribe_samples(
                &model,
                &samples,
                &TranscribeOptions::default(),
                &cancel,
                &mut |_| {},
            )?;
            Ok((t.elapsed().as_secs_f64(), out))
        };
        let (first_s, out) = run()?;
        let times = (0..reps.max(1))
            .map(|_| run().map(|(s, _)| s))
            .collect::<Result<Vec<_>>>()?;
        let transcribe_s = median(times);
        results.insert(
            file.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string(),
            WhisperAudioResult {
                audio_s: out.duration as f64,
                first_s,
                transcribe_s,
                realtime_factor: out.duration as f64 / transcribe_s,
                segments: out.segments.len(),
                text: out.text,
            },
        );
    }
    Ok(WhisperBenchReport {
        implementation: "murmur".into(),
        device: format!("{:?}", mlx_rs::Device::default()),
        dtype: model.info().dtype,
        blas: blas_name(),
        load_s,
        audio: results,
        active_memory_bytes: active,
        peak_memory_bytes: mlx_rs::memory::peak_memory().map_err(mlx_err)?,
    })
}

// ---------------------------------------------------------------------------------------
// Dictation: audio → transcript → refined text, warm, per stage.
// ---------------------------------------------------------------------------------------

/// What [`bench_dictation`] measures.
#[derive(Debug, Clone)]
pub struct DictationBenchOptions {
    /// Measured pipelines per clip, after one first pipeline (reported apart); also the
    /// runs per side of the prompt-lookup and prefix-cache comparisons.
    pub reps: usize,
    /// The transcription settings (default: [`TranscribeOptions::default`], which are
    /// mlx-whisper's `transcribe()` defaults).
    pub transcribe: TranscribeOptions,
    /// The refine settings: the refine defaults (clean-up mode, temperature 0.7, top-p
    /// 0.8, repetition penalty 1.15 over 20 tokens, prompt lookup on, the dynamic token
    /// budget) with a fixed seed.
    pub refine: RefineOptions,
    /// Whisper's compute dtype (`None`: the platform's default).
    pub whisper_dtype: Option<ComputeDtype>,
    /// How the language model's weights are held.
    pub precision: Precision,
    /// Also compare prompt lookup on/off, time to first token with the prefix cache cold
    /// and warm, and greedy text with lookup on/off ([`DictationClip::lookup`],
    /// [`DictationClip::prefix_cache`], [`DictationClip::greedy`]).
    pub comparisons: bool,
}

impl Default for DictationBenchOptions {
    fn default() -> Self {
        Self {
            reps: 3,
            transcribe: TranscribeOptions::default(),
            refine: RefineOptions {
                seed: Some(0),
                ..RefineOptions::default()
            },
            whisper_dtype: None,
            precision: Precision::Auto,
            comparisons: true,
        }
    }
}

/// One pipeline's wall times (seconds) and its refinement's generation figures.
#[derive(Debug, Clone, Serialize)]
pub struct DictationRun {
    /// The audio file read and decoded to 16 kHz mono.
    pub decode_s: f64,
    /// Whisper on the samples.
    pub transcribe_s: f64,
    /// The refine call: chat template, tokenization, prefill, generation.
    pub refine_s: f64,
    /// The three, back to back.
    pub total_s: f64,
    pub ttft_s: f64,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// Generated tokens per second after the first one.
    pub decode_tokens_per_sec: f64,
    /// Prompt tokens whose keys and values came from the prefix cache.
    pub cached_prompt_tokens: usize,
    pub draft: DraftStats,
}

/// Medians of one refine configuration over its runs.
#[derive(Debug, Clone, Serialize)]
pub struct RefineSide {
    pub refine_s: f64,
    pub ttft_s: f64,
    pub generated_tokens: f64,
    pub decode_tokens_per_sec: f64,
    /// Summed over the runs.
    pub draft: DraftStats,
    /// `accepted / drafted` over the runs (`None` when nothing was drafted).
    pub acceptance: Option<f64>,
    /// Accepted drafts per verification pass over the runs.
    pub accepted_per_verify: Option<f64>,
    pub runs: Vec<DictationRun>,
    /// The refined text of the first run.
    pub text: String,
}

/// Prompt lookup on (refine's default: adaptive, drafting where its cost model says it
/// pays), off, and eager (`PromptLookup { adaptive: false }`: `max_draft` tokens wherever
/// a match is found, what the drafts alone are worth) on the same transcript, alternating,
/// prefix cache warm.
#[derive(Debug, Clone, Serialize)]
pub struct LookupComparison {
    pub on: RefineSide,
    pub off: RefineSide,
    pub eager: RefineSide,
    /// `on.decode_tokens_per_sec / off.decode_tokens_per_sec`.
    pub decode_speedup: f64,
    /// `off.refine_s / on.refine_s`.
    pub refine_speedup: f64,
    /// `eager.decode_tokens_per_sec / off.decode_tokens_per_sec`.
    pub eager_decode_speedup: f64,
}

/// Time to first token with the refine mode's prefix cache emptied first
/// ([`crate::llm::prefix_cache::PrefixCache::clear`]) and right after, on the same
/// prompt (one generated token each).
#[derive(Debug, Clone, Serialize)]
pub struct PrefixCacheComparison {
    pub prompt_tokens: usize,
    pub uncached_ttft_s: f64,
    pub cached_ttft_s: f64,
    /// `uncached_ttft_s / cached_ttft_s`.
    pub speedup: f64,
    /// What each run reported as taken from the cache: 0 for the cold runs.
    pub uncached_cached_tokens: Vec<usize>,
    pub cached_cached_tokens: Vec<usize>,
    pub uncached_runs_s: Vec<f64>,
    pub cached_runs_s: Vec<f64>,
}

/// Greedy (temperature 0) refinement of the same transcript with prompt lookup off, on
/// (adaptive) and eager: lossless drafting must give the same text (eager drafting makes
/// the check bite: the adaptive drafter may not draft at all). One run each (prefix
/// cache warm), so its rates are indicative only.
#[derive(Debug, Clone, Serialize)]
pub struct GreedyCheck {
    pub lookup_off: String,
    pub lookup_on: String,
    pub lookup_eager: String,
    /// All three texts equal.
    pub identical: bool,
    pub lookup_off_run: DictationRun,
    pub lookup_on_run: DictationRun,
    pub lookup_eager_run: DictationRun,
}

/// One clip's measurements.
#[derive(Debug, Clone, Serialize)]
pub struct DictationClip {
    pub audio_s: f64,
    /// The first pipeline (kernel compilation and the prefix cache's first fill included).
    pub first: DictationRun,
    pub runs: Vec<DictationRun>,
    /// Medians over `runs`.
    pub decode_s: f64,
    pub transcribe_s: f64,
    pub refine_s: f64,
    pub total_s: f64,
    pub ttft_s: f64,
    pub generated_tokens: f64,
    pub decode_tokens_per_sec: f64,
    pub transcript: String,
    /// The refined text of the first measured run.
    pub refined: String,
    /// The refinement's token budget (`RefineOptions::max_tokens`, or the dynamic one).
    pub max_tokens: usize,
    /// Exactly what the chat model was given: the messages, and the prompt they render
    /// to with the model's chat template (text and token ids).
    pub messages: Vec<Message>,
    pub prompt_text: String,
    pub prompt_tokens: Vec<u32>,
    pub lookup: Option<LookupComparison>,
    pub prefix_cache: Option<PrefixCacheComparison>,
    pub greedy: Option<GreedyCheck>,
}

/// The settings of the whole run, for the Python side to use verbatim.
#[derive(Debug, Clone, Serialize)]
pub struct DictationSettings {
    /// `"mode"` (and `"prompt"` for a custom mode), flat.
    #[serde(flatten)]
    pub mode: RefineMode,
    /// The system message (absent when blank).
    pub system: String,
    /// The user message is this followed by the transcript.
    pub user_prefix: String,
    pub enable_thinking: bool,
    /// `temperature`, `top_p`, ..., `seed`, flat.
    #[serde(flatten)]
    pub sampler: SamplerConfig,
    pub prompt_lookup: bool,
    pub prompt_lookup_settings: PromptLookup,
    /// `None`: per clip, input tokens × 1.3 (at least 32, at most the RAM tier's ceiling).
    pub max_tokens: Option<usize>,
    pub transcribe: TranscribeOptions,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadedModel {
    pub path: PathBuf,
    pub load_s: f64,
    /// Whisper's compute dtype, or how the language model's weights are held.
    pub dtype: String,
}

/// [`bench_dictation`]'s report.
#[derive(Debug, Clone, Serialize)]
pub struct DictationBenchReport {
    #[serde(rename = "impl")]
    pub implementation: String,
    pub version: String,
    pub device: String,
    pub blas: Option<String>,
    pub whisper: LoadedModel,
    pub llm: LoadedModel,
    pub settings: DictationSettings,
    pub reps: usize,
    pub clips: BTreeMap<String, DictationClip>,
    pub peak_memory_bytes: usize,
}

/// Load Whisper from `whisper` and the chat model from `llm`, then per audio file time
/// the dictation pipeline (decode, transcribe, refine) warm: one first pipeline, then
/// `opts.reps` more, and (with `opts.comparisons`) prompt lookup on/off, the prefix
/// cache cold/warm and the greedy lossless check on that clip's transcript.
pub fn bench_dictation(
    whisper: &Path,
    llm: &Path,
    audio: &[PathBuf],
    opts: &DictationBenchOptions,
) -> Result<DictationBenchReport> {
    opts.transcribe.validate()?;
    opts.refine.validate()?;
    let t = Instant::now();
    let wmodel = WhisperModel::load_with(
        whisper,
        &WhisperLoadOptions {
            dtype: opts.whisper_dtype,
            ..WhisperLoadOptions::default()
        },
    )?;
    let whisper_load_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let chat = ChatModel::load_with(
        llm,
        &LoadOptions {
            precision: opts.precision,
        },
    )?;
    let llm_load_s = t.elapsed().as_secs_f64();
    mlx_rs::memory::reset_peak_memory().map_err(mlx_err)?;
    let cancel = CancelToken::new();
    let reps = opts.reps.max(1);

    let refine_with = |text: &str, ro: &RefineOptions, lookup: Lookup| {
        refine_as(&chat, text, ro, lookup, &cancel)
    };
    let pipeline = |file: &Path| -> Result<(DictationRun, Transcript, Option<RefineResult>)> {
        let t0 = Instant::now();
        let samples = crate::audio::load_16k_mono(&AudioInput::Path(file.to_path_buf()))?;
        let t1 = Instant::now();
        let transcript =
            transcribe_samples(&wmodel, &samples, &opts.transcribe, &cancel, &mut |_| {})?;
        let t2 = Instant::now();
        let refined = match transcript.text.trim() {
            "" => None,
            text => Some(refine_with(text, &opts.refine, Lookup::AsOptions)?.1),
        };
        let t3 = Instant::now();
        let mut run = run_of(refined.as_ref(), (t3 - t2).as_secs_f64());
        run.decode_s = (t1 - t0).as_secs_f64();
        run.transcribe_s = (t2 - t1).as_secs_f64();
        run.total_s = (t3 - t0).as_secs_f64();
        Ok((run, transcript, refined))
    };

    let mut clips = BTreeMap::new();
    for file in audio {
        let (first, transcript, _) = pipeline(file)?;
        let mut runs = Vec::with_capacity(reps);
        let mut refined = None;
        for _ in 0..reps {
            let (run, _, r) = pipeline(file)?;
            runs.push(run);
            refined.get_or_insert(r);
        }
        let text = transcript.text.trim().to_string();
        let (messages, _) = refine_prompt(&opts.refine, &text);
        let prompt_tokens = chat.prompt_tokens(&messages, opts.refine.enable_thinking)?;
        let refined = refined.flatten();
        let max_tokens = refined.as_ref().map_or(0, |r| r.max_tokens);
        let m = |f: fn(&DictationRun) -> f64| median(runs.iter().map(f).collect());
        let mut clip = DictationClip {
            audio_s: transcript.duration as f64,
            decode_s: m(|r| r.decode_s),
            transcribe_s: m(|r| r.transcribe_s),
            refine_s: m(|r| r.refine_s),
            total_s: m(|r| r.total_s),
            ttft_s: m(|r| r.ttft_s),
            generated_tokens: m(|r| r.generated_tokens as f64),
            decode_tokens_per_sec: m(|r| r.decode_tokens_per_sec),
            first,
            runs,
            refined: refined.map(|r| r.text).unwrap_or_default(),
            max_tokens,
            prompt_text: chat.tokenizer().decode(&prompt_tokens, false)?,
            prompt_tokens,
            messages,
            transcript: text,
            lookup: None,
            prefix_cache: None,
            greedy: None,
        };
        if opts.comparisons && !clip.transcript.is_empty() {
            let text = clip.transcript.clone();
            let base = RefineOptions {
                max_tokens: Some(max_tokens),
                ..opts.refine.clone()
            };
            clip.lookup = Some(compare_lookup(&text, &base, reps, &refine_with)?);
            clip.prefix_cache = Some(compare_prefix_cache(
                &chat,
                &text,
                &opts.refine,
                reps,
                &refine_with,
            )?);
            clip.greedy = Some(greedy_check(&text, &base, &refine_with)?);
        }
        clips.insert(
            file.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string(),
            clip,
        );
    }
    let r = &opts.refine;
    let sampler = r.sampler();
    Ok(DictationBenchReport {
        implementation: "murmur".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        device: format!("{:?}", mlx_rs::Device::default()),
        blas: blas_name(),
        whisper: LoadedModel {
            path: whisper.to_path_buf(),
            load_s: whisper_load_s,
            dtype: serde_json::to_value(wmodel.info().dtype)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
        },
        llm: LoadedModel {
            path: llm.to_path_buf(),
            load_s: llm_load_s,
            dtype: serde_json::to_value(chat.info().precision)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
        },
        settings: DictationSettings {
            mode: r.mode.clone(),
            system: refine_prompt(r, "")
                .0
                .iter()
                .find(|m| m.role == "system")
                .map(|m| m.content.clone())
                .unwrap_or_default(),
            user_prefix: r.mode.user_message(""),
            enable_thinking: r.enable_thinking,
            sampler,
            prompt_lookup: r.prompt_lookup,
            prompt_lookup_settings: PromptLookup::default(),
            max_tokens: r.max_tokens,
            transcribe: opts.transcribe.clone(),
        },
        reps,
        clips,
        peak_memory_bytes: mlx_rs::memory::peak_memory().map_err(mlx_err)?,
    })
}

/// A run's refine figures (no audio stages) from a refine result that took `refine_s`.
fn run_of(r: Option<&RefineResult>, refine_s: f64) -> DictationRun {
    let s = r.map(|r| &r.stats);
    DictationRun {
        decode_s: 0.0,
        transcribe_s: 0.0,
        refine_s,
        total_s: refine_s,
        ttft_s: s.map_or(0.0, |s| s.time_to_first_token.as_secs_f64()),
        prompt_tokens: s.map_or(0, |s| s.prompt_tokens),
        generated_tokens: s.map_or(0, |s| s.generated_tokens),
        decode_tokens_per_sec: s.map_or(0.0, |s| s.decode_tokens_per_sec),
        cached_prompt_tokens: s.map_or(0, |s| s.cached_prompt_tokens),
        draft: s.map(|s| s.draft).unwrap_or_default(),
    }
}

/// Which prompt lookup a measured refine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// As `RefineOptions::prompt_lookup` says (on: the adaptive default).
    AsOptions,
    Off,
    On,
    /// `PromptLookup { adaptive: false, ..default }`.
    Eager,
}

/// Refine `text` with `lookup`, timed. [`Lookup::Eager`] is not a refine option: it
/// builds the call as [`refine`] does (the same messages, shared prompt start, sampler
/// and `opts.max_tokens`, which must be set) with the drafter's cost model off.
fn refine_as(
    chat: &ChatModel,
    text: &str,
    opts: &RefineOptions,
    lookup: Lookup,
    cancel: &CancelToken,
) -> Result<(f64, RefineResult)> {
    let t = Instant::now();
    if lookup != Lookup::Eager {
        let opts = RefineOptions {
            prompt_lookup: match lookup {
                Lookup::Off => false,
                Lookup::On => true,
                _ => opts.prompt_lookup,
            },
            ..opts.clone()
        };
        let r = refine(chat, text, &opts, cancel, &mut |_| {})?;
        return Ok((t.elapsed().as_secs_f64(), r));
    }
    let text = text.trim();
    let max_tokens = opts.max_tokens.ok_or_else(|| Error::InvalidArgument {
        name: "max_tokens".into(),
        reason: "an eager-lookup refine needs a fixed budget".into(),
    })?;
    let generate = GenerateOptions {
        max_tokens,
        sampler: opts.sampler(),
        lookup: Some(PromptLookup {
            adaptive: false,
            ..PromptLookup::default()
        }),
        ..GenerateOptions::default()
    };
    let (messages, shared) = refine_prompt(opts, text);
    let r = chat.chat_sharing(
        &messages,
        shared,
        opts.enable_thinking,
        &generate,
        cancel,
        &mut |_| {},
    )?;
    let s = t.elapsed().as_secs_f64();
    Ok((
        s,
        RefineResult {
            model: String::new(),
            text: r.text.trim().to_string(),
            max_tokens,
            stats: r.stats,
        },
    ))
}

type RefineFn<'a> = dyn Fn(&str, &RefineOptions, Lookup) -> Result<(f64, RefineResult)> + 'a;

fn side_of(runs: Vec<DictationRun>, text: String) -> RefineSide {
    let m = |f: fn(&DictationRun) -> f64| median(runs.iter().map(f).collect());
    let draft = runs.iter().fold(DraftStats::default(), |a, r| DraftStats {
        verify_steps: a.verify_steps + r.draft.verify_steps,
        drafted: a.drafted + r.draft.drafted,
        accepted: a.accepted + r.draft.accepted,
    });
    RefineSide {
        refine_s: m(|r| r.refine_s),
        ttft_s: m(|r| r.ttft_s),
        generated_tokens: m(|r| r.generated_tokens as f64),
        decode_tokens_per_sec: m(|r| r.decode_tokens_per_sec),
        acceptance: (draft.drafted > 0).then(|| draft.accepted as f64 / draft.drafted as f64),
        accepted_per_verify: (draft.verify_steps > 0)
            .then(|| draft.accepted as f64 / draft.verify_steps as f64),
        draft,
        runs,
        text,
    }
}

fn compare_lookup(
    text: &str,
    base: &RefineOptions,
    reps: usize,
    refine_with: &RefineFn<'_>,
) -> Result<LookupComparison> {
    let kinds = [Lookup::On, Lookup::Off, Lookup::Eager];
    let mut runs: [Vec<DictationRun>; 3] = Default::default();
    let mut texts: [Option<String>; 3] = Default::default();
    for _ in 0..reps {
        for (i, &lookup) in kinds.iter().enumerate() {
            let (s, r) = refine_with(text, base, lookup)?;
            runs[i].push(run_of(Some(&r), s));
            texts[i].get_or_insert(r.text);
        }
    }
    let [on, off, eager] = runs;
    let [on_text, off_text, eager_text] = texts;
    let on = side_of(on, on_text.unwrap_or_default());
    let off = side_of(off, off_text.unwrap_or_default());
    let eager = side_of(eager, eager_text.unwrap_or_default());
    Ok(LookupComparison {
        decode_speedup: ratio(on.decode_tokens_per_sec, off.decode_tokens_per_sec),
        refine_speedup: ratio(off.refine_s, on.refine_s),
        eager_decode_speedup: ratio(eager.decode_tokens_per_sec, off.decode_tokens_per_sec),
        on,
        off,
        eager,
    })
}

fn compare_prefix_cache(
    chat: &ChatModel,
    text: &str,
    base: &RefineOptions,
    reps: usize,
    refine_with: &RefineFn<'_>,
) -> Result<PrefixCacheComparison> {
    let ro = RefineOptions {
        max_tokens: Some(1),
        ..base.clone()
    };
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut prompt_tokens = 0;
    for _ in 0..reps {
        chat.prefix_cache().clear();
        let (_, r) = refine_with(text, &ro, Lookup::AsOptions)?;
        cold.push(r.stats.clone());
        let (_, r) = refine_with(text, &ro, Lookup::AsOptions)?;
        prompt_tokens = r.stats.prompt_tokens;
        warm.push(r.stats);
    }
    let ttft = |v: &[GenerationStats]| {
        v.iter()
            .map(|s| s.time_to_first_token.as_secs_f64())
            .collect::<Vec<_>>()
    };
    let (uncached, cached) = (median(ttft(&cold)), median(ttft(&warm)));
    Ok(PrefixCacheComparison {
        prompt_tokens,
        uncached_ttft_s: uncached,
        cached_ttft_s: cached,
        speedup: ratio(uncached, cached),
        uncached_cached_tokens: cold.iter().map(|s| s.cached_prompt_tokens).collect(),
        cached_cached_tokens: warm.iter().map(|s| s.cached_prompt_tokens).collect(),
        uncached_runs_s: ttft(&cold),
        cached_runs_s: ttft(&warm),
    })
}

fn greedy_check(
    text: &str,
    base: &RefineOptions,
    refine_with: &RefineFn<'_>,
) -> Result<GreedyCheck> {
    let greedy = RefineOptions {
        temperature: 0.0,
        ..base.clone()
    };
    let (off_s, off) = refine_with(text, &greedy, Lookup::Off)?;
    let (on_s, on) = refine_with(text, &greedy, Lookup::On)?;
    let (eager_s, eager) = refine_with(text, &greedy, Lookup::Eager)?;
    Ok(GreedyCheck {
        identical: off.text == on.text && off.text == eager.text,
        lookup_off_run: run_of(Some(&off), off_s),
        lookup_on_run: run_of(Some(&on), on_s),
        lookup_eager_run: run_of(Some(&eager), eager_s),
        lookup_off: off.text,
        lookup_on: on.text,
        lookup_eager: eager.text,
    })
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}
