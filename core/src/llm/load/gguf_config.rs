//! The transformer hyper-parameters a GGUF file's metadata states, as llama.cpp's
//! converter writes them (`<arch>.block_count`, ...): the basis of the `config.json`
//! equivalent GGUF models load with (`gguf_names`) and of `inspect_gguf`'s report.

use serde::{Deserialize, Serialize};

use super::gguf::{GgufHeader, Value};
use crate::error::{Error, Result};

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

impl ModelConfig {
    /// Read the configuration from GGUF metadata (`<arch>.block_count`, ...), as
    /// llama.cpp's converter writes it.
    pub fn from_gguf(h: &GgufHeader) -> Result<Self> {
        let missing = |key: &str| Error::corrupt(&h.path, format!("missing metadata key {key}"));
        let arch = h
            .architecture()
            .ok_or_else(|| missing("general.architecture"))?
            .to_string();
        let uint = |key: &str| -> Result<usize> {
            h.arch_key(key)
                .and_then(Value::as_u64)
                .map(|v| v as usize)
                .ok_or_else(|| missing(&format!("{arch}.{key}")))
        };
        let opt_uint = |key: &str| h.arch_key(key).and_then(Value::as_u64).map(|v| v as usize);
        let opt_float = |key: &str| h.arch_key(key).and_then(Value::as_f64).map(|v| v as f32);

        let hidden_size = uint("embedding_length")?;
        let num_attention_heads = uint("attention.head_count")?;
        if num_attention_heads == 0 || hidden_size % num_attention_heads != 0 {
            return Err(Error::corrupt(
                &h.path,
                format!(
                    "{num_attention_heads} attention heads do not divide hidden size {hidden_size}"
                ),
            ));
        }
        let vocab_size = match opt_uint("vocab_size") {
            Some(v) => v,
            None => h
                .get("tokenizer.ggml.tokens")
                .and_then(Value::as_array)
                .map(<[Value]>::len)
                .ok_or_else(|| missing(&format!("{arch}.vocab_size")))?,
        };
        Ok(Self {
            hidden_size,
            num_hidden_layers: uint("block_count")?,
            intermediate_size: uint("feed_forward_length")?,
            num_attention_heads,
            num_key_value_heads: opt_uint("attention.head_count_kv").unwrap_or(num_attention_heads),
            head_dim: opt_uint("attention.key_length").unwrap_or(hidden_size / num_attention_heads),
            rms_norm_eps: opt_float("attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
            rope_theta: opt_float("rope.freq_base").unwrap_or(10_000.0),
            vocab_size,
            max_position_embeddings: opt_uint("context_length").unwrap_or(2048),
            tie_word_embeddings: h.tensor("output.weight").is_none(),
            model_type: arch,
        })
    }
}
