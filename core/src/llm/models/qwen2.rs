//! Qwen2 / Qwen2.5: the Llama-family decoder with biases on the Q, K and V projections
//! (picked up from the checkpoint) and rotate-half RoPE.

use serde::Deserialize;

use super::dims::Dims;
use super::llama::{Decoder, DecoderSpec};
use super::{LanguageModel, parse_args};
use crate::error::Result;
use crate::nn::{Rope, Weights};

#[derive(Debug, Deserialize)]
struct Args {
    rms_norm_eps: f32,
    #[serde(default = "default_theta")]
    rope_theta: f32,
    #[serde(default)]
    rope_traditional: bool,
    rope_scaling: Option<serde_json::Value>,
    tie_word_embeddings: Option<bool>,
}

fn default_theta() -> f32 {
    1_000_000.0
}

pub fn build(
    config: &serde_json::Value,
    dims: &Dims,
    w: &mut Weights,
) -> Result<Box<dyn LanguageModel + Send>> {
    Ok(Box::new(decoder(super::text_config(config), dims, w)?))
}

/// The Qwen2 decoder of a text config (also Qwen2.5-Omni's language model).
pub fn decoder(config: &serde_json::Value, dims: &Dims, w: &mut Weights) -> Result<Decoder> {
    let a: Args = parse_args(config, w.path())?;
    let rope = Rope::new(dims.head_dim, a.rope_theta, a.rope_traditional)
        .with_scaling(a.rope_scaling.as_ref(), w.path())?;
    let spec = DecoderSpec::new(dims, a.rms_norm_eps, rope, false, a.tie_word_embeddings);
    Decoder::load(spec, w)
}
