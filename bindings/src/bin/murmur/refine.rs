//! `murmur refine`: text in, refined text streamed out, through the engine (so it gets
//! the engine's model choice, cancellation and memory handling).

use std::io::{IsTerminal, Read, Write};

use clap::Args;
use murmur_core::backend::Precision;
use murmur_core::catalog::Capability;
use murmur_core::refine::{RefineMode, RefineOptions};
use murmur_core::{CancelToken, Engine, EngineConfig, Error, Result};

use crate::models::{ready_model, runtime};

#[derive(Args)]
pub struct RefineArgs {
    /// The text; read from stdin when absent.
    text: Option<String>,
    /// Model id or alias (`murmur models`), folder (mlx-community layout) or .gguf
    /// file. Default: $MURMUR_MODEL, else the loaded or configured default, else the model
    /// recommended for this machine's RAM (downloaded on first use).
    #[arg(long, env = "MURMUR_MODEL")]
    model: Option<String>,
    /// `clean` (a dictated transcript), `grammar`, `concise` or `custom` (with --prompt).
    #[arg(long, default_value = "clean")]
    mode: String,
    /// System prompt for `--mode custom`.
    #[arg(long, required_if_eq("mode", "custom"))]
    prompt: Option<String>,
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    #[arg(long, default_value_t = 0.8)]
    top_p: f32,
    #[arg(long, default_value_t = 1.15)]
    repetition_penalty: f32,
    /// Default: input tokens × 1.3, capped by this machine's RAM tier.
    #[arg(long)]
    max_tokens: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// Decode one token per forward pass instead of drafting from the input
    /// (prompt-lookup decoding gives the same text at temperature 0, the same
    /// distribution above it).
    #[arg(long)]
    no_prompt_lookup: bool,
    /// How the model's weights are held: `auto` (dense float32 on the CPU backend when
    /// it fits), `as-stored` or `float32`.
    #[arg(long, default_value = "auto")]
    precision: Precision,
    /// Print generation statistics to stderr.
    #[arg(long)]
    stats: bool,
}

pub fn run(args: RefineArgs) -> Result<()> {
    let opts = RefineOptions {
        mode: RefineMode::parse(Some(&args.mode), args.prompt)?,
        temperature: args.temperature,
        top_p: args.top_p,
        repetition_penalty: args.repetition_penalty,
        max_tokens: args.max_tokens,
        seed: args.seed,
        prompt_lookup: !args.no_prompt_lookup,
        ..RefineOptions::default()
    };
    let text = match args.text {
        Some(t) => t,
        None => read_stdin()?,
    };
    let mut config = EngineConfig::from_env();
    config.precision.text = args.precision;
    let engine = Engine::new(config)?;
    let model = ready_model(&engine, args.model.as_deref(), Capability::Text)?;
    let cancel = cancel_on_ctrl_c();
    let result =
        runtime()?.block_on(engine.refine(Some(&model.id), &text, &opts, print_piece, &cancel))?;
    println!();
    if args.stats {
        let s = &result.stats;
        eprintln!(
            "murmur: {}: {} prompt tokens, {} generated (budget {}), first token {:.0} ms, prefill {:.1} tok/s, decode {:.1} tok/s, stop: {:?}",
            result.model,
            s.prompt_tokens,
            s.generated_tokens,
            result.max_tokens,
            s.time_to_first_token.as_secs_f64() * 1000.0,
            s.prefill_tokens_per_sec,
            s.decode_tokens_per_sec,
            s.stop_reason
        );
        if s.draft.verify_steps > 0 || s.cached_prompt_tokens > 0 {
            eprintln!(
                "murmur: prompt lookup: {} of {} drafted tokens accepted in {} passes; {} prompt tokens from the prefix cache",
                s.draft.accepted, s.draft.drafted, s.draft.verify_steps, s.cached_prompt_tokens
            );
        }
    }
    Ok(())
}

/// Write a piece of generated text to stdout at once (the terminal shows it as it comes).
pub fn print_piece(piece: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(piece.as_bytes());
    let _ = out.flush();
}

pub fn read_stdin() -> Result<String> {
    if std::io::stdin().is_terminal() {
        eprintln!("murmur: reading the text from stdin (end with Ctrl-D)");
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| Error::Io {
            path: "<stdin>".into(),
            source: e,
        })?;
    Ok(s)
}

/// A token that Ctrl-C cancels (the work stops at its next check and the command ends
/// with what it has), watched on a thread of its own.
pub fn cancel_on_ctrl_c() -> CancelToken {
    let cancel = CancelToken::new();
    let token = cancel.clone();
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    token.cancel();
                }
            });
        }
    });
    cancel
}
