//! `murmur chat`: one turn of a conversation with a local text model (core's
//! `Engine::chat`, the capability behind `POST /v1/chat/completions`), the answer
//! streamed to stdout.

use clap::Args;
use murmur_core::catalog::Capability;
use murmur_core::chat::{ChatOptions, FinishReason};
use murmur_core::llm::chat_template::Message;
use murmur_core::{Error, Result};

use crate::models::{engine, ready_model, runtime};
use crate::refine::{cancel_on_ctrl_c, print_piece, read_stdin};

#[derive(Args)]
pub struct ChatArgs {
    /// The user's message; read from stdin when absent.
    message: Option<String>,
    /// Model id or alias (`murmur models`), folder or .gguf file. Default: $MURMUR_MODEL,
    /// else the loaded or configured default, else the model recommended for this
    /// machine's RAM.
    #[arg(long, env = "MURMUR_MODEL")]
    model: Option<String>,
    /// A system message before the user's.
    #[arg(long)]
    system: Option<String>,
    /// In [0, 2]; 0 is greedy.
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Default: the memory tier's ceiling (`murmur limits`).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Text that ends the answer (not printed); up to 4.
    #[arg(long)]
    stop: Vec<String>,
    #[arg(long)]
    seed: Option<u64>,
    /// Let a thinking model think first (its thinking is not printed).
    #[arg(long)]
    think: bool,
}

pub fn run(args: ChatArgs) -> Result<()> {
    let message = match args.message {
        Some(m) => m,
        None => read_stdin()?,
    };
    let mut messages = Vec::with_capacity(2);
    if let Some(system) = args.system {
        messages.push(Message::system(system));
    }
    messages.push(Message::user(message));
    let opts = ChatOptions {
        messages,
        temperature: args.temperature,
        top_p: args.top_p,
        max_tokens: args.max_tokens,
        stop: args.stop,
        seed: args.seed,
        enable_thinking: args.think,
        ram_tier: None,
    };
    // Bad settings fail before a model is loaded for them.
    opts.validate()?;
    let engine = engine()?;
    let model = ready_model(&engine, args.model.as_deref(), Capability::Text)?;
    let cancel = cancel_on_ctrl_c();
    let result = runtime()?.block_on(engine.chat(Some(&model.id), &opts, print_piece, &cancel))?;
    println!();
    match result.finish_reason {
        FinishReason::Cancelled => Err(Error::Cancelled),
        FinishReason::Length => {
            eprintln!(
                "murmur: the answer reached its budget of {} tokens (--max-tokens)",
                result.max_tokens
            );
            Ok(())
        }
        FinishReason::Stop => Ok(()),
    }
}
