//! `murmur bench`: the engine's measurements as JSON (see murmur_core::bench), for
//! bench/compare.py to set side by side with Python mlx-lm.

use std::path::PathBuf;

use murmur_core::bench::{LlmBenchOptions, bench_llm};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Model folder (mlx-community layout) or .gguf file.
    #[arg(long)]
    model: PathBuf,
    /// Prompt lengths for the prefill rows, comma-separated.
    #[arg(long, default_value = "128,512,2048", value_delimiter = ',')]
    prompt_lens: Vec<usize>,
    /// Tokens generated for the decode row (EOS ignored).
    #[arg(long, default_value_t = 256)]
    decode_tokens: usize,
    /// Also write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn bench(args: BenchArgs) -> murmur_core::Result<()> {
    let opts = LlmBenchOptions {
        prompt_lens: args.prompt_lens,
        decode_tokens: args.decode_tokens,
    };
    let report = bench_llm(&args.model, &opts)?;
    let text = serde_json::to_string_pretty(&report).expect("report serializes");
    println!("{text}");
    if let Some(path) = args.json {
        std::fs::write(&path, text).map_err(|e| murmur_core::Error::Io { path, source: e })?;
    }
    Ok(())
}
