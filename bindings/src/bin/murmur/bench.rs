//! `murmur bench`: the engine's measurements as JSON (see murmur_core::bench), for
//! bench/compare.py to set side by side with Python mlx-lm and mlx-whisper.

use std::path::PathBuf;

use murmur_core::backend::Precision;
use murmur_core::bench::{LlmBenchOptions, bench_llm, bench_whisper};
use murmur_core::whisper::ComputeDtype;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Model folder (mlx-community layout) or .gguf file; with --audio, a Whisper folder.
    #[arg(long)]
    model: PathBuf,
    /// Benchmark transcription of these audio files instead (the model is Whisper).
    #[arg(long, num_args = 1..)]
    audio: Vec<PathBuf>,
    /// Measured runs per prompt length / audio file, after a first run.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Prompt lengths for the prefill rows, comma-separated.
    #[arg(long, default_value = "128,512,2048", value_delimiter = ',')]
    prompt_lens: Vec<usize>,
    /// Tokens generated for the decode row (EOS ignored).
    #[arg(long, default_value_t = 256)]
    decode_tokens: usize,
    /// How a language model's weights are held: `auto` (dense float32 on the CPU
    /// backend when it fits), `as-stored` or `float32`.
    #[arg(long, default_value = "auto")]
    precision: Precision,
    /// Whisper's compute dtype, `float16` or `float32` (default: float16 on Metal and
    /// CUDA, float32 on the CPU backend).
    #[arg(long)]
    dtype: Option<ComputeDtype>,
    /// Also write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn bench(args: BenchArgs) -> murmur_core::Result<()> {
    let text = if args.audio.is_empty() {
        let opts = LlmBenchOptions {
            prompt_lens: args.prompt_lens,
            decode_tokens: args.decode_tokens,
            reps: args.reps,
            precision: args.precision,
        };
        serde_json::to_string_pretty(&bench_llm(&args.model, &opts)?)
    } else {
        serde_json::to_string_pretty(&bench_whisper(
            &args.model,
            &args.audio,
            args.reps,
            args.dtype,
        )?)
    }
    .expect("report serializes");
    println!("{text}");
    if let Some(path) = args.json {
        std::fs::write(&path, text).map_err(|e| murmur_core::Error::Io { path, source: e })?;
    }
    Ok(())
}
