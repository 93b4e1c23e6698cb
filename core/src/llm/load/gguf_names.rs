//! llama.cpp's GGUF tensor names and metadata, translated to the Hugging Face names and
//! `config.json` fields the model files use, so one model file serves both formats.

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
