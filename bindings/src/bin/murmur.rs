//! The `murmur` command line.

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
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { model, json } => inspect(&model, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("murmur: {e}");
            ExitCode::FAILURE
        }
    }
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
