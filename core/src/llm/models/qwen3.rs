//! Qwen3 (0.6B–8B, 4B-Instruct-2507): the Llama-family decoder with an explicit head
//! dimension and RMSNorm over each head of Q and K before RoPE; no attention biases.

use serde::Deserialize;

use super::llama::{Decoder, DecoderSpec};
use super::{LanguageModel, parse_args};
use crate::error::Result;
use crate::nn::{Rope, Weights};

#[derive(Debug, Deserialize)]
struct Args {
    hidden_size: i32,
    num_hidden_layers: usize,
    num_attention_heads: i32,
    num_key_value_heads: i32,
    head_dim: Option<i32>,
    rms_norm_eps: f32,
    rope_theta: f32,
    rope_scaling: Option<serde_json::Value>,
    tie_word_embeddings: Option<bool>,
}

pub fn build(config: &serde_json::Value, w: &mut Weights) -> Result<Box<dyn LanguageModel>> {
    let a: Args = parse_args(config, w.path())?;
    let head_dim = a.head_dim.unwrap_or(a.hidden_size / a.num_attention_heads);
    let spec = DecoderSpec {
        layers: a.num_hidden_layers,
        heads: a.num_attention_heads,
        kv_heads: a.num_key_value_heads,
        head_dim,
        eps: a.rms_norm_eps,
        rope: Rope::new(head_dim, a.rope_theta, false)
            .with_scaling(a.rope_scaling.as_ref(), w.path())?,
        qk_norm: true,
        tie_word_embeddings: a.tie_word_embeddings,
    };
    Ok(Box::new(Decoder::load(spec, w)?))
}
