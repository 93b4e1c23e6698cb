//! Throughput and memory measurements of the LLM engine, defined exactly like
//! `bench/bench_mlx_lm.py` measures Python mlx-lm, so the two can be compared row by
//! row on the same machine, the same MLX build and the same model folder.
//!
//! - load: [`ChatModel::load`] wall time (weights materialized, tokenizer, template).
//! - prefill at N: a prompt of N token ids (`1000 + (i·7919) mod m`, `m = min(50000,
//!   vocab − 1000)`), one generated
//!   token; tokens/s = N / time to first token.
//! - decode: a 128-token prompt, `decode_tokens` generated with EOS ignored; tokens/s
//!   over the tokens after the first.
//! - sampler: the refine defaults (temperature 0.7, top-p 0.8, repetition penalty 1.15
//!   over 20 tokens), fixed seed.
//! - memory: MLX active memory after load; peak over the measured runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::llm::chat::ChatModel;
use crate::llm::generate::GenerateOptions;
use crate::llm::sampler::SamplerConfig;

/// What to measure.
#[derive(Debug, Clone)]
pub struct LlmBenchOptions {
    pub prompt_lens: Vec<usize>,
    pub decode_tokens: usize,
}

impl Default for LlmBenchOptions {
    fn default() -> Self {
        Self {
            prompt_lens: vec![128, 512, 2048],
            decode_tokens: 256,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PrefillResult {
    pub ttft_s: f64,
    pub tokens_per_sec: f64,
}

/// One run's measurements, with the same field names as the Python script's JSON.
#[derive(Debug, Clone, Serialize)]
pub struct LlmBenchReport {
    #[serde(rename = "impl")]
    pub implementation: String,
    pub version: String,
    pub device: String,
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
    let model = ChatModel::load(path)?;
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
        let s = run(n, 1)?.stats;
        let ttft = s.time_to_first_token.as_secs_f64();
        prefill.insert(
            n.to_string(),
            PrefillResult {
                ttft_s: ttft,
                tokens_per_sec: n as f64 / ttft,
            },
        );
    }
    let s = run(128, opts.decode_tokens)?.stats;
    Ok(LlmBenchReport {
        implementation: "murmur".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        device: format!("{:?}", mlx_rs::Device::default()),
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
