//! Rotary position embeddings and scaled dot-product attention through a KV cache.

use std::path::Path;

use mlx_rs::fast::ScaledDotProductAttentionMask;
use mlx_rs::ops::indexing::TryIndexOp;
use mlx_rs::{Array, fast, ops};

use super::kv_cache::KvCache;
use crate::error::{Error, Result};

/// Rotary position embedding settings for one attention layer.
#[derive(Debug, Clone)]
pub struct Rope {
    pub dims: i32,
    /// Interleaved pairs (GGML/llama.cpp layout) instead of rotate-half (HF layout).
    pub traditional: bool,
    pub base: f32,
    pub scale: f32,
    /// Precomputed frequencies (Llama 3 scaling); when set, `base` is ignored.
    pub freqs: Option<Array>,
}

impl Rope {
    pub fn new(dims: i32, base: f32, traditional: bool) -> Self {
        Self {
            dims,
            traditional,
            base,
            scale: 1.0,
            freqs: None,
        }
    }

    /// Apply to `x` of shape `[B, heads, L, head_dim]` at absolute position `offset`.
    pub fn forward(&self, x: &Array, offset: i32) -> Result<Array> {
        let base = if self.freqs.is_some() {
            None
        } else {
            Some(self.base)
        };
        Ok(fast::rope(
            x,
            self.dims,
            self.traditional,
            base,
            self.scale,
            offset,
            self.freqs.as_ref(),
        )?)
    }

    /// Configure from an HF `rope_scaling` table (`linear`, `llama3`; `default` and
    /// absent mean none). Other kinds are refused rather than silently ignored.
    pub fn with_scaling(
        mut self,
        scaling: Option<&serde_json::Value>,
        path: &Path,
    ) -> Result<Self> {
        let Some(s) = scaling.filter(|s| !s.is_null()) else {
            return Ok(self);
        };
        let kind = s
            .get("rope_type")
            .or_else(|| s.get("type"))
            .and_then(|v| v.as_str())
            .unwrap_or("default");
        let num = |key: &str, default: f64| s.get(key).and_then(|v| v.as_f64()).unwrap_or(default);
        match kind {
            "default" => {}
            "linear" => self.scale = 1.0 / num("factor", 1.0) as f32,
            "llama3" => {
                let factor = num("factor", 8.0);
                let low = num("low_freq_factor", 1.0);
                let high = num("high_freq_factor", 4.0);
                let old_ctx = num("original_max_position_embeddings", 8192.0);
                let low_wavelen = old_ctx / low;
                let high_wavelen = old_ctx / high;
                let base = self.base as f64;
                let freqs: Vec<f32> = (0..self.dims / 2)
                    .map(|i| {
                        let freq = base.powf(2.0 * i as f64 / self.dims as f64);
                        let wavelen = 2.0 * std::f64::consts::PI * freq;
                        let f = if wavelen > low_wavelen {
                            freq * factor
                        } else if wavelen < high_wavelen {
                            freq
                        } else {
                            let smooth = (old_ctx / wavelen - low) / (high - low);
                            freq / ((1.0 - smooth) / factor + smooth)
                        };
                        f as f32
                    })
                    .collect();
                let n = freqs.len() as i32;
                self.freqs = Some(Array::from_slice(&freqs, &[n]));
            }
            other => {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    what: format!("rope_scaling type {other}"),
                });
            }
        }
        Ok(self)
    }
}

/// Which key positions a query may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttnMask {
    /// Causal over everything in the cache.
    Causal,
    /// Causal and at most this many positions back (Gemma 3's local layers).
    Window(i32),
}

/// Scaled dot-product attention of `q, k, v` (`[B, heads, L, head_dim]`, already
/// rotated) through `cache`, which stores this step's keys/values and returns all of
/// them. Handles grouped-query attention without tiling.
pub fn attention(
    q: &Array,
    k: Array,
    v: Array,
    cache: &mut KvCache,
    scale: f32,
    mask: AttnMask,
) -> Result<Array> {
    let l = q.shape()[2];
    let (mut keys, mut values) = cache.update_and_fetch(k, v)?;
    let total = keys.shape()[2];
    if let AttnMask::Window(w) = mask
        && total - l + 1 > w
    {
        // Only the last `w + l - 1` keys can be seen by any query in this step.
        let start = total - (w + l - 1);
        keys = keys.try_index((.., .., start..))?;
        values = values.try_index((.., .., start..))?;
    }
    let total = keys.shape()[2];
    if l == 1 {
        return Ok(fast::scaled_dot_product_attention(
            q, &keys, &values, scale, None, None,
        )?);
    }
    match mask {
        AttnMask::Causal => Ok(fast::scaled_dot_product_attention(
            q,
            &keys,
            &values,
            scale,
            ScaledDotProductAttentionMask::Causal,
            None,
        )?),
        AttnMask::Window(w) => {
            // Query i sits at key position total - l + i; it sees keys j with
            // pos_q - w < j <= pos_q.
            let qpos = ops::arange::<_, i32>(total - l, total, None)?.reshape(&[l, 1])?;
            let kpos = ops::arange::<_, i32>(0, total, None)?.reshape(&[1, total])?;
            let visible = kpos
                .le(&qpos)?
                .logical_and(&kpos.gt(&qpos.subtract(Array::from_int(w))?)?)?;
            Ok(fast::scaled_dot_product_attention(
                q, &keys, &values, scale, &visible, None,
            )?)
        }
    }
}

/// `[B, L, heads·d]` → `[B, heads, L, d]`.
pub fn split_heads(x: &Array, heads: i32) -> Result<Array> {
    let s = x.shape();
    Ok(x.reshape(&[s[0], s[1], heads, -1])?
        .transpose_axes(&[0, 2, 1, 3])?)
}

/// `[B, heads, L, d]` → `[B, L, heads·d]`.
pub fn merge_heads(x: &Array) -> Result<Array> {
    let s = x.shape();
    Ok(x.transpose_axes(&[0, 2, 1, 3])?
        .reshape(&[s[0], s[2], -1])?)
}

/// The sinusoidal position table of Whisper-style audio encoders (`whisper.sinusoids`,
/// also Qwen2.5-Omni's), in float32: `[length, channels]`, sines then cosines. Not
/// stored in mlx-community checkpoints.
pub fn sinusoids(length: i32, channels: i32) -> Result<Array> {
    let half = channels / 2;
    let increment = (10_000f32).ln() / (half - 1) as f32;
    let inv =
        ops::exp(ops::arange::<_, f32>(0, half, None)?.multiply(Array::from_f32(-increment))?)?;
    let t = ops::arange::<_, f32>(0, length, None)?.reshape(&[length, 1])?;
    let scaled = t.multiply(inv.reshape(&[1, half])?)?;
    Ok(ops::concatenate(
        &[ops::sin(&scaled)?, ops::cos(&scaled)?],
        1,
    )?)
}
