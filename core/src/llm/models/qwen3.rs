//! Qwen3 (0.6B–8B, 4B-Instruct-2507): the Llama-family decoder with an explicit head
//! dimension and RMSNorm over each head of Q and K before RoPE; no attention biases.

use serde::Deserialize;

use super::dims::Dims;
use super::llama::{Decoder, DecoderSpec};
use super::{LanguageModel, parse_args};
use crate::error::Result;
use crate::nn::{Rope, Weights};

#[derive(Debug, Deserialize)]
struct Args {
    rms_norm_eps: f32,
    rope_theta: f32,
    rope_scaling: Option<serde_json::Value>,
    tie_word_embeddings: Option<bool>,
}

pub fn build(
    config: &serde_json::Value,
    dims: &Dims,
    w: &mut Weights,
) -> Result<Box<dyn LanguageModel + Send>> {
    let config = super::text_config(config);
    let a: Args = parse_args(config, w.path())?;
    let rope = Rope::new(dims.head_dim, a.rope_theta, false)
        .with_scaling(a.rope_scaling.as_ref(), w.path())?;
    let spec = DecoderSpec::new(dims, a.rms_norm_eps, rope, true, a.tie_word_embeddings);
    Ok(Box::new(Decoder::load(spec, w)?))
}
