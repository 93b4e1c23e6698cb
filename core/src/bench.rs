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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::audio::AudioInput;
use crate::backend::Precision;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::llm::chat::{ChatModel, LoadOptions};
use crate::llm::generate::GenerateOptions;
use crate::llm::sampler::SamplerConfig;
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
