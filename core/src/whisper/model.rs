//! Whisper's encoder-decoder transformer (OpenAI's architecture, as mlx-whisper's
//! `whisper.py`): two convolutions and pre-norm self-attention blocks over the log-mel
//! spectrogram; a decoder of pre-norm blocks with causal self-attention, cross-attention
//! to the audio features and a GELU MLP, its token embedding tied to the output.
//!
//! Decoding keeps everything on the device: the self-attention keys/values in
//! [`KvCache`]s that grow in place, and the cross-attention keys/values computed once
//! per audio window ([`Decoder::cross_kv`]) and reused by every step.

use mlx_rs::ops::indexing::TryIndexOp;
use mlx_rs::{Array, Dtype, fast, ops};

use super::load::Dims;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::nn::{
    AttnMask, Embedding, KvCache, LayerNorm, Linear, Projections, Weights, attention, gelu,
    merge_heads, sinusoids, split_heads,
};

/// MLX's LayerNorm default.
const LN_EPS: f32 = 1e-5;

struct SelfAttention {
    qkv: Projections,
    out: Linear,
}

struct CrossAttention {
    query: Linear,
    kv: Projections,
    out: Linear,
}

struct Block {
    attn: SelfAttention,
    attn_ln: LayerNorm,
    cross: Option<(CrossAttention, LayerNorm)>,
    mlp1: Linear,
    mlp2: Linear,
    mlp_ln: LayerNorm,
}

/// `prefix.{parts}` as one fused projection: CTranslate2 checkpoints store them fused
/// already (`prefix.{fused}`), mlx-community ones apart (OpenAI's names; the key
/// projection has no bias, so the fused bias carries zeros there, as CTranslate2's does).
fn projections(w: &mut Weights, prefix: &str, parts: &[&str], fused: &str) -> Result<Projections> {
    let stored = format!("{prefix}.{fused}");
    if w.contains(&format!("{stored}.weight")) {
        return Projections::load_stored(w, &stored, parts.len() as i32);
    }
    let names: Vec<String> = parts.iter().map(|p| format!("{prefix}.{p}")).collect();
    Projections::load(w, &names)
}

impl Block {
    fn load(w: &mut Weights, p: &str, cross: bool) -> Result<Self> {
        let cross = if cross {
            Some((
                CrossAttention {
                    query: w.linear(&format!("{p}.cross_attn.query"))?,
                    kv: projections(w, &format!("{p}.cross_attn"), &["key", "value"], "kv")?,
                    out: w.linear(&format!("{p}.cross_attn.out"))?,
                },
                w.layer_norm(&format!("{p}.cross_attn_ln"), LN_EPS)?,
            ))
        } else {
            None
        };
        Ok(Self {
            attn: SelfAttention {
                qkv: projections(w, &format!("{p}.attn"), &["query", "key", "value"], "qkv")?,
                out: w.linear(&format!("{p}.attn.out"))?,
            },
            attn_ln: w.layer_norm(&format!("{p}.attn_ln"), LN_EPS)?,
            cross,
            mlp1: w.linear(&format!("{p}.mlp1"))?,
            mlp2: w.linear(&format!("{p}.mlp2"))?,
            mlp_ln: w.layer_norm(&format!("{p}.mlp_ln"), LN_EPS)?,
        })
    }

    fn mlp(&self, x: &Array) -> Result<Array> {
        self.mlp2
            .forward(&gelu(&self.mlp1.forward(&self.mlp_ln.forward(x)?)?)?)
    }
}

pub struct Encoder {
    conv1_w: Array,
    conv1_b: Array,
    conv2_w: Array,
    conv2_b: Array,
    positional: Array,
    blocks: Vec<Block>,
    ln_post: LayerNorm,
    heads: i32,
    scale: f32,
}

impl Encoder {
    fn load(w: &mut Weights, dims: &Dims, dtype: Dtype) -> Result<Self> {
        let positional = match w.take_opt("encoder.positional_embedding") {
            Some(p) => p,
            None => sinusoids(dims.n_audio_ctx, dims.n_audio_state)?.as_dtype(dtype)?,
        };
        let blocks = (0..dims.n_audio_layer)
            .map(|i| Block::load(w, &format!("encoder.blocks.{i}"), false))
            .collect::<Result<_>>()?;
        Ok(Self {
            conv1_w: w.take("encoder.conv1.weight")?,
            conv1_b: w.take("encoder.conv1.bias")?,
            conv2_w: w.take("encoder.conv2.weight")?,
            conv2_b: w.take("encoder.conv2.bias")?,
            positional,
            blocks,
            ln_post: w.layer_norm("encoder.ln_post", LN_EPS)?,
            heads: dims.n_audio_head,
            scale: ((dims.n_audio_state / dims.n_audio_head) as f32).powf(-0.5),
        })
    }

    /// Audio features `[B, n_audio_ctx, state]` of mel windows `[B, N_FRAMES, n_mels]`.
    ///
    /// Each block is evaluated before the next is queued and `cancel` is checked between
    /// them: as one lazy graph the encoder cannot be interrupted, and it is most of a
    /// window's work for large models on a CPU (seconds). The evaluations only add a
    /// synchronisation per block; the arithmetic is the same.
    pub fn forward(&self, mel: &Array, cancel: &CancelToken) -> Result<Array> {
        let x = ops::conv1d(mel, &self.conv1_w, 1, 1, 1, 1)?.add(&self.conv1_b)?;
        let x = gelu(&x)?;
        let x = ops::conv1d(&x, &self.conv2_w, 2, 1, 1, 1)?.add(&self.conv2_b)?;
        let mut x = gelu(&x)?.add(&self.positional)?;
        for b in &self.blocks {
            let parts = b.attn.qkv.forward(&b.attn_ln.forward(&x)?)?;
            let (q, k, v) = (
                split_heads(&parts[0], self.heads)?,
                split_heads(&parts[1], self.heads)?,
                split_heads(&parts[2], self.heads)?,
            );
            let o = fast::scaled_dot_product_attention(&q, &k, &v, self.scale, None, None)?;
            x = x.add(&b.attn.out.forward(&merge_heads(&o)?)?)?;
            x = x.add(&b.mlp(&x)?)?;
            mlx_rs::transforms::eval([&x])?;
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
        }
        self.ln_post.forward(&x)
    }
}

/// Per-window decoder state: self-attention caches and the audio's cross-attention
/// keys/values, one entry per layer.
pub struct DecoderCache {
    pub(crate) self_attn: Vec<KvCache>,
    pub(crate) cross: Vec<(Array, Array)>,
}

impl DecoderCache {
    /// Tokens already in the cache (the position of the next one).
    pub fn offset(&self) -> i32 {
        self.self_attn.first().map_or(0, |c| c.offset())
    }

    /// Reorder the batch (beam search); cross-attention is the same audio for every
    /// row and needs no reordering.
    pub fn select_batch(&mut self, indices: &Array) -> Result<()> {
        for c in &mut self.self_attn {
            c.select_batch(indices)?;
        }
        Ok(())
    }

    /// Arrays to evaluate to materialize the caches.
    pub fn state(&self) -> impl Iterator<Item = &Array> {
        self.self_attn
            .iter()
            .flat_map(|c| c.state())
            .chain(self.cross.iter().flat_map(|(k, v)| [k, v]))
    }
}

pub struct Decoder {
    token_embedding: Embedding,
    positional: Array,
    blocks: Vec<Block>,
    ln: LayerNorm,
    heads: i32,
    scale: f32,
}

impl Decoder {
    fn load(w: &mut Weights, dims: &Dims) -> Result<Self> {
        let blocks = (0..dims.n_text_layer)
            .map(|i| Block::load(w, &format!("decoder.blocks.{i}"), true))
            .collect::<Result<_>>()?;
        Ok(Self {
            token_embedding: w.embedding("decoder.token_embedding")?,
            positional: w.take("decoder.positional_embedding")?,
            blocks,
            ln: w.layer_norm("decoder.ln", LN_EPS)?,
            heads: dims.n_text_head,
            scale: ((dims.n_text_state / dims.n_text_head) as f32).powf(-0.5),
        })
    }

    /// A fresh cache for `features` (`[B, n_audio_ctx, state]`): the cross-attention
    /// keys and values of every layer, computed once.
    pub fn new_cache(&self, features: &Array) -> Result<DecoderCache> {
        let mut cross = Vec::with_capacity(self.blocks.len());
        for b in &self.blocks {
            let (c, _) = b
                .cross
                .as_ref()
                .expect("decoder blocks have cross-attention");
            let parts = c.kv.forward(features)?;
            cross.push((
                split_heads(&parts[0], self.heads)?,
                split_heads(&parts[1], self.heads)?,
            ));
        }
        Ok(DecoderCache {
            self_attn: self.blocks.iter().map(|_| KvCache::new()).collect(),
            cross,
        })
    }

    /// Run `tokens` (`[B, L]` int32) through the decoder, appending to `cache`, and
    /// return float32 logits `[B, L, n_vocab]`. With `cross_qk`, also the pre-softmax
    /// cross-attention scores of every layer (`[B, heads, L, n_audio_ctx]`), which word
    /// timestamps align on.
    pub fn forward(
        &self,
        tokens: &Array,
        cache: &mut DecoderCache,
        cross_qk: bool,
    ) -> Result<(Array, Vec<Array>)> {
        let l = tokens.shape()[1];
        let offset = cache.offset();
        let pos = self.positional.try_index(offset..offset + l)?;
        let mut x = self.token_embedding.forward(tokens)?.add(&pos)?;
        let mut qks = Vec::new();
        for (i, b) in self.blocks.iter().enumerate() {
            let parts = b.attn.qkv.forward(&b.attn_ln.forward(&x)?)?;
            let q = split_heads(&parts[0], self.heads)?;
            let k = split_heads(&parts[1], self.heads)?;
            let v = split_heads(&parts[2], self.heads)?;
            let o = attention(
                &q,
                k,
                v,
                &mut cache.self_attn[i],
                self.scale,
                AttnMask::Causal,
            )?;
            x = x.add(&b.attn.out.forward(&merge_heads(&o)?)?)?;

            let (c, ln) = b
                .cross
                .as_ref()
                .expect("decoder blocks have cross-attention");
            let q = split_heads(&c.query.forward(&ln.forward(&x)?)?, self.heads)?;
            let (ck, cv) = &cache.cross[i];
            let o = if cross_qk {
                let qk = ops::matmul(
                    &q.multiply(Array::from_f32(self.scale).as_dtype(q.dtype())?)?,
                    ck.transpose_axes(&[0, 1, 3, 2])?,
                )?;
                let w = ops::softmax_axis(&qk.as_dtype(Dtype::Float32)?, -1, true)?;
                qks.push(qk);
                ops::matmul(&w.as_dtype(cv.dtype())?, cv)?
            } else {
                fast::scaled_dot_product_attention(&q, ck, cv, self.scale, None, None)?
            };
            x = x.add(&c.out.forward(&merge_heads(&o)?)?)?;
            x = x.add(&b.mlp(&x)?)?;
        }
        let x = self.ln.forward(&x)?;
        let logits = self
            .token_embedding
            .as_linear(&x)?
            .as_dtype(Dtype::Float32)?;
        Ok((logits, qks))
    }
}

/// Encoder and decoder of one checkpoint.
pub struct Whisper {
    pub encoder: Encoder,
    pub decoder: Decoder,
    pub dims: Dims,
    pub dtype: Dtype,
}

impl Whisper {
    /// Build from `w` (names as [`super::load`] produces them).
    pub fn build(w: &mut Weights, dims: Dims, dtype: Dtype) -> Result<Self> {
        Ok(Self {
            encoder: Encoder::load(w, &dims, dtype)?,
            decoder: Decoder::load(w, &dims)?,
            dims,
            dtype,
        })
    }
}
