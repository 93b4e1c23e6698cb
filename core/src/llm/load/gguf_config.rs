//! The transformer hyper-parameters a GGUF file's metadata states, as llama.cpp's
//! converter writes them (`<arch>.block_count`, ...): the basis of the `config.json`
//! equivalent GGUF models load with (`gguf_names`) and of `inspect_gguf`'s report.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::gguf::{GgufHeader, Value};
use super::gguf_names;
use crate::error::{Error, Result};
use crate::llm::models::dims::{BadKey, Defaults, RawDims, layer_count};

/// Hyper-parameters of a decoder-only transformer from GGUF metadata, named as in
/// Hugging Face `config.json` (mlx-community folders are read from their own
/// `config.json` by each architecture's file, not through this type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub model_type: String,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub intermediate_size: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f32,
    pub rope_theta: f32,
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
}

/// GGUF metadata keys (after `<arch>.`) of the config.json dimensions, for naming the
/// key a file really has in errors.
const GGUF_KEYS: &[(&str, &str)] = &[
    ("hidden_size", "embedding_length"),
    ("num_hidden_layers", "block_count"),
    ("intermediate_size", "feed_forward_length"),
    ("num_attention_heads", "attention.head_count"),
    ("num_key_value_heads", "attention.head_count_kv"),
    ("head_dim", "attention.key_length"),
    ("vocab_size", "vocab_size"),
];

impl ModelConfig {
    /// Read the configuration from GGUF metadata (`<arch>.block_count`, ...), as
    /// llama.cpp's converter writes it, validated like a `config.json`
    /// ([`crate::llm::models::dims`]: ranges, consistency, and against the tensors'
    /// shapes), so `inspect` and loading reject the same files.
    pub fn from_gguf(h: &GgufHeader) -> Result<Self> {
        let arch = h
            .architecture()
            .ok_or_else(|| Error::corrupt(&h.path, "missing metadata key general.architecture"))?
            .to_string();
        let bad = |e: BadKey| {
            let gguf = GGUF_KEYS.iter().find(|(hf, _)| *hf == e.key);
            let key = gguf.map_or(e.key.to_string(), |(_, g)| format!("{arch}.{g}"));
            Error::corrupt(&h.path, format!("bad config: {key} {}", e.reason))
        };
        let raw = raw_dims(h).map_err(bad)?;
        let dims = raw.validate(Defaults::NONE).map_err(bad)?;
        for (key, v) in [
            ("intermediate_size", raw.intermediate_size),
            ("vocab_size", raw.vocab_size),
        ] {
            if v.is_none() {
                return Err(bad(BadKey {
                    key,
                    reason: "is missing".into(),
                }));
            }
        }
        // Each tensor under its HF name (a tensor without one, `rope_freqs`, is left out
        // with its own shape, not paired with the next tensor's).
        let shapes: HashMap<String, Vec<u64>> = h
            .tensors
            .iter()
            .filter_map(|t| {
                let hf = gguf_names::hf_name(&arch, &t.name)?;
                Some((hf, t.dims.iter().rev().copied().collect()))
            })
            .collect();
        dims.check_tensors(
            |name| shapes.get(name).cloned(),
            layer_count(shapes.keys().map(String::as_str)),
        )
        .map_err(bad)?;
        let float = |key: &str, default: f32| -> Result<f32> {
            let v = h.arch_key(key).map_or(Some(default as f64), Value::as_f64);
            v.filter(|v| v.is_finite() && *v >= 0.0)
                .map(|v| v as f32)
                .ok_or_else(|| Error::corrupt(&h.path, format!("bad config: {arch}.{key} = {v:?}")))
        };
        let rope_theta = float("rope.freq_base", 10_000.0)?;
        if rope_theta == 0.0 {
            return Err(Error::corrupt(
                &h.path,
                format!("bad config: {arch}.rope.freq_base = 0"),
            ));
        }
        let context = h.arch_key("context_length").and_then(Value::as_u64);
        Ok(Self {
            hidden_size: dims.hidden_size as usize,
            num_hidden_layers: dims.layers,
            intermediate_size: dims.intermediate_size.unwrap_or_default() as usize,
            num_attention_heads: dims.heads as usize,
            num_key_value_heads: dims.kv_heads as usize,
            head_dim: dims.head_dim as usize,
            rms_norm_eps: float("attention.layer_norm_rms_epsilon", 1e-5)?,
            rope_theta,
            vocab_size: dims.vocab_size.unwrap_or_default() as usize,
            max_position_embeddings: context.map_or(2048, |c| c.clamp(1, i32::MAX as u64) as usize),
            tie_word_embeddings: h.tensor("output.weight").is_none(),
            model_type: arch,
        })
    }
}

/// The dimensions GGUF metadata states, under their config.json names. The vocabulary
/// size falls back to the tokenizer's token count.
fn raw_dims(h: &GgufHeader) -> std::result::Result<RawDims, BadKey> {
    let int = |hf: &'static str| -> std::result::Result<Option<i64>, BadKey> {
        let (_, key) = GGUF_KEYS
            .iter()
            .find(|(k, _)| *k == hf)
            .copied()
            .unwrap_or((hf, hf));
        match h.arch_key(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|v| i64::try_from(v).ok())
                .map(Some)
                .ok_or_else(|| BadKey {
                    key: hf,
                    reason: format!("= {v:?} is not a non-negative integer"),
                }),
        }
    };
    let tokens = h.get("tokenizer.ggml.tokens").and_then(Value::as_array);
    Ok(RawDims {
        hidden_size: int("hidden_size")?,
        num_hidden_layers: int("num_hidden_layers")?,
        num_attention_heads: int("num_attention_heads")?,
        num_key_value_heads: int("num_key_value_heads")?,
        head_dim: int("head_dim")?,
        vocab_size: match int("vocab_size")? {
            Some(v) => Some(v),
            None => tokens.map(|t| t.len() as i64),
        },
        intermediate_size: int("intermediate_size")?,
    })
}

/// A `config.json` equivalent for the GGUF's architecture.
pub fn config_json(h: &GgufHeader) -> Result<serde_json::Value> {
    let c = ModelConfig::from_gguf(h)?;
    let mut config = json!({
        "model_type": c.model_type,
        "hidden_size": c.hidden_size,
        "num_hidden_layers": c.num_hidden_layers,
        "intermediate_size": c.intermediate_size,
        "num_attention_heads": c.num_attention_heads,
        "num_key_value_heads": c.num_key_value_heads,
        "head_dim": c.head_dim,
        "rms_norm_eps": c.rms_norm_eps,
        "rope_theta": c.rope_theta,
        "vocab_size": c.vocab_size,
        "max_position_embeddings": c.max_position_embeddings,
        "tie_word_embeddings": c.tie_word_embeddings,
    });
    match c.model_type.as_str() {
        // llama.cpp permutes Llama's Q/K rows so its interleaved ("normal") RoPE
        // matches; with those weights MLX's traditional RoPE is the right one.
        "llama" => config["rope_traditional"] = json!(true),
        "qwen2" | "qwen3" => {}
        "gemma3" => {
            let window = h
                .arch_key("attention.sliding_window")
                .and_then(|v| v.as_u64())
                .unwrap_or(512);
            config["sliding_window"] = json!(window);
            config["query_pre_attn_scalar"] = json!(c.head_dim);
            // llama.cpp's converter already added Gemma's +1 to every norm weight.
            config["norm_weights_include_unit_offset"] = json!(true);
        }
        other => {
            return Err(Error::Unsupported {
                path: h.path.clone(),
                what: format!(
                    "GGUF architecture {other:?} (supported: llama, qwen2, qwen3, gemma3)"
                ),
            });
        }
    }
    Ok(config)
}
