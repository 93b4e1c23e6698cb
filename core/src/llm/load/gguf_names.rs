//! llama.cpp's GGUF tensor names and metadata, translated to the Hugging Face names and
//! `config.json` fields the model files use, so one model file serves both formats.

use serde_json::json;

use super::gguf::GgufHeader;
use super::gguf_config::ModelConfig;
use crate::error::{Error, Result};

/// HF name of a GGUF tensor (or of its `.scales`/`.biases` companions from MLX's
/// loader), or `None` for tensors we recompute (`rope_freqs`).
pub fn hf_name(arch: &str, name: &str) -> Option<String> {
    let (stem, suffix) = name.rsplit_once('.')?;
    let mapped = match stem {
        "token_embd" => "model.embed_tokens".to_string(),
        "output_norm" => "model.norm".to_string(),
        "output" => "lm_head".to_string(),
        "rope_freqs" => return None,
        _ => {
            let rest = stem.strip_prefix("blk.")?;
            let (layer, part) = rest.split_once('.')?;
            let hf = match (part, arch) {
                ("attn_norm", _) => "input_layernorm",
                ("ffn_norm", "gemma3") => "pre_feedforward_layernorm",
                ("ffn_norm", _) => "post_attention_layernorm",
                ("post_attention_norm", _) => "post_attention_layernorm",
                ("post_ffw_norm", _) => "post_feedforward_layernorm",
                ("attn_q", _) => "self_attn.q_proj",
                ("attn_k", _) => "self_attn.k_proj",
                ("attn_v", _) => "self_attn.v_proj",
                ("attn_output", _) => "self_attn.o_proj",
                ("attn_q_norm", _) => "self_attn.q_norm",
                ("attn_k_norm", _) => "self_attn.k_norm",
                ("ffn_gate", _) => "mlp.gate_proj",
                ("ffn_up", _) => "mlp.up_proj",
                ("ffn_down", _) => "mlp.down_proj",
                _ => part, // unknown: kept, and reported as unexpected by the model
            };
            format!("model.layers.{layer}.{hf}")
        }
    };
    Some(format!("{mapped}.{suffix}"))
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
