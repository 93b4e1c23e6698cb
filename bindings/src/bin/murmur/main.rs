//! The `murmur` command line.

mod bench;
mod models;
mod serve;
mod transcribe;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use murmur_core::CancelToken;
use murmur_core::llm::chat::ChatModel;
use murmur_core::refine::{RefineMode, RefineOptions, refine};

#[derive(Parser)]
#[command(
    name = "murmur",
    version,
    about = "On-device speech-to-text and text refinement"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure load time, prefill and decode speed and memory of a model (JSON).
    Bench(bench::BenchArgs),
    /// Refine text (punctuation, grammar, fillers...) with a local LLM, streaming the
    /// result to stdout. Reads the text from the argument or, without one, stdin.
    Refine {
        /// The text; read from stdin when absent.
        text: Option<String>,
        /// Model id or alias (`murmur models`), folder (mlx-community layout) or .gguf
        /// file. Default: $MURMUR_MODEL, else the configured default, else the model
        /// recommended for this machine's RAM (downloaded on first use).
        #[arg(long, env = "MURMUR_MODEL")]
        model: Option<String>,
        #[arg(long, value_enum, default_value_t = Mode::Clean)]
        mode: Mode,
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
        /// Print generation statistics to stderr.
        #[arg(long)]
        stats: bool,
    },
    /// List the models (state, sizes, RAM, the recommended one), or add/remove your own.
    Models(models::ModelsArgs),
    /// Download a model from Hugging Face into the shared cache (Ctrl-C cancels; run it
    /// again to resume).
    Download(models::DownloadArgs),
    /// Delete a downloaded model from the cache.
    Delete(models::DeleteArgs),
    /// Transcribe speech (WAV, FLAC, MP3, M4A, OGG) with a Whisper model, streaming
    /// segments as they are decoded (txt, srt, vtt or json).
    Transcribe(transcribe::TranscribeArgs),
    /// Run the engine as a local daemon (HTTP on a private Unix socket) that keeps the
    /// model warm between clients and unloads it when idle.
    Serve(serve::ServeArgs),
    /// Report what MLX computes on here: version, device, the BLAS behind float32
    /// matrix products (library, threads), and the precision models load in.
    Doctor {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Load a GGUF model through MLX and report its configuration and tensors.
    Inspect {
        /// Path to a .gguf file.
        model: PathBuf,
        /// Print the full report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    murmur_core::platform::tune_mlx_env();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { model, json } => inspect(&model, json),
        Command::Doctor { json } => {
            doctor(json);
            Ok(())
        }
        Command::Bench(args) => bench::bench(args),
        Command::Transcribe(args) => transcribe::run(args),
        Command::Models(args) => models::models(args),
        Command::Download(args) => models::download(args),
        Command::Delete(args) => models::delete(args),
        Command::Serve(args) => serve::run(args),
        Command::Refine {
            text,
            model,
            mode,
            prompt,
            temperature,
            top_p,
            repetition_penalty,
            max_tokens,
            seed,
            stats,
        } => {
            let mode = match mode {
                Mode::Clean => RefineMode::CleanUpTranscript,
                Mode::Grammar => RefineMode::FixGrammar,
                Mode::Concise => RefineMode::MakeConcise,
                Mode::Custom => RefineMode::Custom(prompt.unwrap_or_default()),
            };
            let opts = RefineOptions {
                mode,
                temperature,
                top_p,
                repetition_penalty,
                max_tokens,
                seed,
                ..RefineOptions::default()
            };
            models::model_path(model.as_deref())
                .and_then(|path| run_refine(text, &path, &opts, stats))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("murmur: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Clean up a dictated transcript.
    Clean,
    /// Fix spelling and grammar.
    Grammar,
    /// Make it concise.
    Concise,
    /// Use --prompt as the system prompt.
    Custom,
}

fn run_refine(
    text: Option<String>,
    model: &std::path::Path,
    opts: &RefineOptions,
    stats: bool,
) -> murmur_core::Result<()> {
    let text = match text {
        Some(t) => t,
        None => {
            if std::io::stdin().is_terminal() {
                eprintln!("murmur: reading the text to refine from stdin (end with Ctrl-D)");
            }
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| murmur_core::Error::Io {
                    path: "<stdin>".into(),
                    source: e,
                })?;
            s
        }
    };
    let model = ChatModel::load(model)?;
    let mut out = std::io::stdout().lock();
    let result = refine(&model, &text, opts, &CancelToken::new(), &mut |chunk| {
        let _ = out.write_all(chunk.as_bytes());
        let _ = out.flush();
    })?;
    let _ = writeln!(out);
    if stats {
        let s = &result.stats;
        eprintln!(
            "murmur: {} prompt tokens, {} generated (budget {}), first token {:.0} ms, prefill {:.1} tok/s, decode {:.1} tok/s, stop: {:?}",
            s.prompt_tokens,
            s.generated_tokens,
            result.max_tokens,
            s.time_to_first_token.as_secs_f64() * 1000.0,
            s.prefill_tokens_per_sec,
            s.decode_tokens_per_sec,
            s.stop_reason
        );
    }
    Ok(())
}

fn doctor(json: bool) {
    let r = murmur_core::backend::BackendReport::probe();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).expect("report serializes")
        );
        return;
    }
    println!("murmur {}", env!("CARGO_PKG_VERSION"));
    println!("MLX {} on {} ({:?})", r.mlx_version, r.device, r.kind);
    match &r.blas {
        Some(b) => println!(
            "BLAS: {} [{}]{}",
            b.name,
            b.library.display(),
            b.threads
                .map(|n| format!(", {n} threads"))
                .unwrap_or_default()
        ),
        None => println!("BLAS: none linked"),
    }
    println!("Whisper computes in {}", r.whisper_dtype);
    println!("language models: {}", r.llm_weights);
}

fn inspect(model: &std::path::Path, json: bool) -> murmur_core::Result<()> {
    let report = murmur_core::llm::load::inspect_gguf(model)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
        return Ok(());
    }
    let c = &report.config;
    println!("{}", report.path.display());
    println!(
        "  architecture {}: {} layers, hidden {}, {} heads / {} KV heads (head dim {}), ffn {}, vocab {}, rope theta {}, context {}, tied embeddings: {}",
        report.architecture,
        c.num_hidden_layers,
        c.hidden_size,
        c.num_attention_heads,
        c.num_key_value_heads,
        c.head_dim,
        c.intermediate_size,
        c.vocab_size,
        c.rope_theta,
        c.max_position_embeddings,
        c.tie_word_embeddings
    );
    let types: Vec<String> = report
        .ggml_types
        .iter()
        .map(|(t, n)| format!("{n} {t}"))
        .collect();
    println!(
        "  {} tensors ({}) loaded by MLX as {} arrays; {} metadata keys",
        report.tensors.len(),
        types.join(", "),
        report.mlx_arrays,
        report.metadata_keys
    );
    for t in report.tensors.iter().take(12) {
        let q = t
            .quantization
            .map(|q| format!(" ({}-bit, group {})", q.bits, q.group_size))
            .unwrap_or_default();
        println!(
            "  {:<28} {:<6} {:?} {}{}",
            t.name, t.ggml_type, t.shape, t.dtype, q
        );
    }
    if report.tensors.len() > 12 {
        println!("  ... and {} more", report.tensors.len() - 12);
    }
    Ok(())
}
