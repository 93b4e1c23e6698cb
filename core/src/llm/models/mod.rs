//! Model architectures, one file each, behind one trait and a `model_type` registry.
//! Every architecture gets its dimensions from [`spec`]: read once from `config.json` and
//! validated (ranges, how they fit together, against the tensors) before anything is
//! allocated, so each file only reads the keys that are its own.

pub mod dims;
pub mod gemma3;
pub mod llama;
pub mod qwen2;
pub mod qwen2_5_omni;
pub mod qwen3;
mod trace;

use std::path::Path;

use mlx_rs::Array;
use mlx_rs::ops::indexing::TryIndexOp;

use self::dims::{BadKey, Defaults, Dims, RawDims, check_scalars, layer_count};
use crate::error::{Error, Result};
use crate::nn::{Embedding, KvCache, Linear, RmsNorm, Weights};

/// A decoder-only language model ready to run.
///
/// (Not `Send` itself: a view of a model, such as [`qwen2_5_omni::WithAudio`], borrows it;
/// models that are kept are `Box<dyn LanguageModel + Send>`.)
pub trait LanguageModel {
    /// Run `ids` (`[B, L]` int32) through the model, appending to `cache`, and return
    /// logits: `[B, L, vocab]` when `all_positions`, else only the last position
    /// `[B, 1, vocab]` (which skips the output projection for the rest of a prompt).
    fn forward(&self, ids: &Array, cache: &mut [KvCache], all_positions: bool) -> Result<Array>;

    /// One cache per attention layer.
    fn new_cache(&self) -> Vec<KvCache>;

    /// The model as a listener (Qwen2.5-Omni's thinker), for transcription and audio
    /// prompts; `None` for text-only models.
    fn thinker(&self) -> Option<&qwen2_5_omni::Thinker> {
        None
    }
}

/// Builds an architecture from its whole config (each reads its text part through
/// [`text_config`]) and validated dimensions.
type Constructor =
    fn(&serde_json::Value, &Dims, &mut Weights) -> Result<Box<dyn LanguageModel + Send>>;

/// `config.json`'s `model_type` → constructor, and the dimensions the architecture
/// assumes when its configs leave them out. Aliases map to the same file.
const REGISTRY: &[(&str, Constructor, Defaults)] = &[
    ("qwen3", qwen3::build, Defaults::NONE),
    ("llama", llama::build, Defaults::NONE),
    ("mistral", llama::build, Defaults::NONE),
    ("smollm3", llama::build, Defaults::NONE),
    ("qwen2", qwen2::build, Defaults::NONE),
    ("gemma3", gemma3::build, gemma3::DEFAULTS),
    ("gemma3_text", gemma3::build, gemma3::DEFAULTS),
    ("qwen2_5_omni", qwen2_5_omni::build, Defaults::NONE),
];

/// Model types Murmur can run.
pub fn supported_model_types() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|(name, ..)| *name)
}

/// What a `config.json` says about a model, validated: the architecture and its
/// dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub model_type: String,
    pub dims: Dims,
}

/// The text model's part of a config: multimodal checkpoints nest it (Gemma 3 in
/// `text_config`, Qwen2.5-Omni in `thinker_config.text_config`).
pub(crate) fn text_config(config: &serde_json::Value) -> &serde_json::Value {
    config
        .get("thinker_config")
        .and_then(|t| t.get("text_config"))
        .or_else(|| config.get("text_config"))
        .unwrap_or(config)
}

/// A checkpoint's tensor name → the name the architecture reads, or `None` for tensors
/// of parts Murmur does not run, which are then never read (Qwen2.5-Omni's talker).
pub fn checkpoint_name<'a>(model_type: &str, name: &'a str) -> Option<&'a str> {
    match model_type {
        "qwen2_5_omni" => qwen2_5_omni::checkpoint_name(name),
        _ => Some(name),
    }
}

/// A config key that is wrong, as the [`Error::CorruptModel`] of the model at `path`.
pub(crate) fn bad_config(path: &Path, e: BadKey) -> Error {
    Error::corrupt(path, format!("bad config: {} {}", e.key, e.reason))
}

/// Map a parsed `config.json` to its [`ModelSpec`]: a supported `model_type`, every
/// dimension in range and consistent, every scalar the architectures read finite and
/// positive. Pure (no MLX, no allocation beyond the spec); `path` names the model in
/// errors.
pub fn spec(config: &serde_json::Value, path: &Path) -> Result<ModelSpec> {
    let model_type = config
        .get("model_type")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Error::corrupt(path, "config has no model_type"))?;
    let (.., defaults) = registered(model_type, path)?;
    let text = text_config(config);
    check_scalars(text).map_err(|e| bad_config(path, e))?;
    let dims = RawDims::from_config(text)
        .and_then(|raw| raw.validate(*defaults))
        .map_err(|e| bad_config(path, e))?;
    Ok(ModelSpec {
        model_type: model_type.to_string(),
        dims,
    })
}

/// `config.json`'s bytes → validated [`ModelSpec`], exactly as [`build`] maps a config
/// before it touches a tensor. Also the fuzz entry point for configs: never calls MLX,
/// never allocates in proportion to the numbers in the file.
pub fn parse_model_config(json: &[u8]) -> Result<ModelSpec> {
    let path = Path::new("config.json");
    let config = crate::files::parse_json(path, json)?;
    spec(&config, path)
}

fn registered(
    model_type: &str,
    path: &Path,
) -> Result<&'static (&'static str, Constructor, Defaults)> {
    REGISTRY
        .iter()
        .find(|(name, ..)| *name == model_type)
        .ok_or_else(|| Error::Unsupported {
            path: path.to_path_buf(),
            what: format!(
                "model_type {model_type:?} (supported: {})",
                supported_model_types().collect::<Vec<_>>().join(", ")
            ),
        })
}

/// Build the model `config["model_type"]` names from `weights`: the config is mapped and
/// validated ([`spec`]) and compared with the tensors' shapes first; every tensor the
/// architecture needs must be present, and none may be left over.
pub fn build(
    config: &serde_json::Value,
    weights: &mut Weights,
) -> Result<Box<dyn LanguageModel + Send>> {
    let path = weights.path().to_path_buf();
    let spec = spec(config, &path)?;
    let model_type = spec.model_type.as_str();
    spec.dims
        .check_tensors(
            |name| weights.logical_shape(name),
            layer_count(weights.names()),
        )
        .map_err(|e| bad_config(&path, e))?;
    let (_, constructor, _) = registered(model_type, &path)?;
    let model = constructor(config, &spec.dims, weights)?;
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
    let logits = match lm_head {
        Some(head) => head.forward(&h)?,
        None => embed.as_linear(&h)?,
    };
    trace::activation("logits", &logits);
    Ok(logits)
}

/// Parse an architecture's arguments from `config.json`.
pub(crate) fn parse_args<T: serde::de::DeserializeOwned>(
    config: &serde_json::Value,
    path: &Path,
) -> Result<T> {
    T::deserialize(config).map_err(|e| Error::corrupt(path, format!("config.json: {e}")))
}
