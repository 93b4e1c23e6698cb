//! Model architectures, one file each, behind one trait and a `model_type` registry.

pub mod gemma3;
pub mod llama;
pub mod qwen2;
pub mod qwen3;

use std::path::Path;

use mlx_rs::Array;

use crate::error::{Error, Result};
use crate::nn::KvCache;
use mlx_rs::ops::indexing::TryIndexOp;

use crate::nn::{Embedding, Linear, RmsNorm, Weights};

/// A decoder-only language model ready to run.
pub trait LanguageModel: Send {
    /// Run `ids` (`[B, L]` int32) through the model, appending to `cache`, and return
    /// logits: `[B, L, vocab]` when `all_positions`, else only the last position
    /// `[B, 1, vocab]` (which skips the output projection for the rest of a prompt).
    fn forward(&self, ids: &Array, cache: &mut [KvCache], all_positions: bool) -> Result<Array>;

    /// One cache per attention layer.
    fn new_cache(&self) -> Vec<KvCache>;
}

type Constructor = fn(&serde_json::Value, &mut Weights) -> Result<Box<dyn LanguageModel>>;

/// `config.json`'s `model_type` → constructor. Aliases map to the same file.
const REGISTRY: &[(&str, Constructor)] = &[
    ("qwen3", qwen3::build),
    ("llama", llama::build),
    ("mistral", llama::build),
    ("smollm3", llama::build),
    ("qwen2", qwen2::build),
    ("gemma3", gemma3::build),
    ("gemma3_text", gemma3::build),
];

/// Model types Murmur can run.
pub fn supported_model_types() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|(name, _)| *name)
}

/// Build the model `config["model_type"]` names from `weights`; every tensor the
/// architecture needs must be present, and none may be left over.
pub fn build(config: &serde_json::Value, weights: &mut Weights) -> Result<Box<dyn LanguageModel>> {
    let path = weights.path().to_path_buf();
    let model_type = config
        .get("model_type")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Error::corrupt(&path, "config has no model_type"))?;
    let (_, constructor) = REGISTRY
        .iter()
        .find(|(name, _)| *name == model_type)
        .ok_or_else(|| Error::Unsupported {
            path: path.clone(),
            what: format!(
                "model_type {model_type:?} (supported: {})",
                supported_model_types().collect::<Vec<_>>().join(", ")
            ),
        })?;
    let model = constructor(config, weights)?;
    weights.materialize()?;
    let leftover = weights.leftover();
    if !leftover.is_empty() {
        return Err(Error::corrupt(
            &path,
            format!(
                "{} unexpected tensors for {model_type}, e.g. {}",
                leftover.len(),
                leftover[0]
            ),
        ));
    }
    Ok(model)
}

/// The decoders' last step: keep the last position unless all are wanted, the final
/// norm, then the output projection (the embedding table when tied).
pub(crate) fn output_logits(
    mut h: Array,
    all_positions: bool,
    norm: &RmsNorm,
    lm_head: Option<&Linear>,
    embed: &Embedding,
) -> Result<Array> {
    if !all_positions && h.shape()[1] > 1 {
        h = h.try_index((.., -1.., ..))?;
    }
    let h = norm.forward(&h)?;
    match lm_head {
        Some(head) => head.forward(&h),
        None => embed.as_linear(&h),
    }
}

/// Parse an architecture's arguments from `config.json`.
pub(crate) fn parse_args<T: serde::de::DeserializeOwned>(
    config: &serde_json::Value,
    path: &Path,
) -> Result<T> {
    T::deserialize(config).map_err(|e| Error::corrupt(path, format!("config.json: {e}")))
}
