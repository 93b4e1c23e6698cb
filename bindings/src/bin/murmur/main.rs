//! The `murmur` command line.

mod bench;
mod chat;
mod dictate;
mod live;
mod models;
mod refine;
mod serve;
mod transcribe;
mod vocab;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Refine(refine::RefineArgs),
    /// Chat: one message (or stdin) answered by a local text model, streamed to stdout,
    /// with OpenAI's settings (temperature, top-p, max tokens, stop strings, seed).
    Chat(chat::ChatArgs),
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
    /// Dictate: audio (a file, or `-` for stdin) to clean text in one call. The speech is
    /// found (silence and long pauses skipped), transcribed with your vocabulary, cleaned
    /// up by a local LLM and checked; prints the text (or the whole result as JSON, with
    /// the edits from the transcript, timings and warnings).
    Dictate(dictate::DictateArgs),
    /// Live transcription: raw PCM from stdin (`sox -d -t raw -r 16000 -e signed -b 16
    /// -c 1 - | murmur live`) or a file fed at real-time pace (`--simulate`). The text is
    /// shown as it is heard; when the audio ends (end of input, or Ctrl-C; twice cancels)
    /// the clean text is printed (json: every event as a line, the result last).
    Live(live::LiveArgs),
    /// This machine's dictation limits, by its memory tier: the longest recording
    /// `dictate` takes and the refine token ceiling ($MURMUR_RAM_BYTES plans for less
    /// memory).
    Limits {
        /// Print the limits as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Your vocabulary for dictation: terms to spell your way (`murmur vocab add macOS`)
    /// and spoken forms to write differently (`murmur vocab add --spoken "murmur dot app"
    /// --written Murmur.app`), kept in vocabulary.json.
    Vocab(vocab::VocabArgs),
    /// Run the engine as a local daemon (HTTP on a private Unix socket) that keeps the
    /// model warm between clients and unloads it when idle.
    ///
    /// Routes (JSON; long calls stream newline-delimited JSON, and a client that
    /// disconnects cancels its call): GET /v1/status, GET /v1/models[/ID], POST
    /// /v1/models/add, /v1/models/remove, /v1/download, /v1/download/cancel, /v1/delete,
    /// /v1/load, /v1/unload, /v1/refine, /v1/transcribe, /v1/dictate, GET /v1/limits,
    /// GET/POST/DELETE /v1/vocabulary, POST /v1/vocabulary/import, GET /v1/events, POST
    /// /v1/shutdown; GET /v1/live is a WebSocket (audio in, text out as it is heard).
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
        Command::Refine(args) => refine::run(args),
        Command::Chat(args) => chat::run(args),
        Command::Vocab(args) => vocab::run(args),
        Command::Dictate(args) => dictate::run(args),
        Command::Live(args) => live::run(args),
        Command::Limits { json } => dictate::limits(json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("murmur: {e}");
            ExitCode::FAILURE
        }
    }
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
