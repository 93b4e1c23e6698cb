//! Llama (SmolLM2/SmolLM3, Llama 3.x, Mistral): pre-norm decoder with grouped-query
//! attention, RoPE and a SwiGLU MLP.
//!
//! The [`Decoder`] here is also the body of Qwen2 (biased Q/K/V) and Qwen3 (per-head
//! Q/K RMSNorm): those files only translate their configs into a [`DecoderSpec`].

use mlx_rs::Array;
use serde::Deserialize;

use super::dims::Dims;
use super::{LanguageModel, output_logits, parse_args, trace};
use crate::error::Result;
use crate::nn::{
    AttnMask, Embedding, KvCache, Linear, Projections, RmsNorm, Rope, Weights, attention, swiglu,
};

#[derive(Debug, Deserialize)]
struct Args {
    #[serde(default = "default_eps")]
    rms_norm_eps: f32,
    #[serde(default = "default_theta")]
    rope_theta: f32,
    #[serde(default)]
    rope_traditional: bool,
    rope_scaling: Option<serde_json::Value>,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    tie_word_embeddings: Option<bool>,
}

fn default_eps() -> f32 {
    1e-6
}
fn default_theta() -> f32 {
    10_000.0
}

pub fn build(
    config: &serde_json::Value,
    dims: &Dims,
    w: &mut Weights,
) -> Result<Box<dyn LanguageModel + Send>> {
    let config = super::text_config(config);
    let a: Args = parse_args(config, w.path())?;
    let rope = Rope::new(dims.head_dim, a.rope_theta, a.rope_traditional)
        .with_scaling(a.rope_scaling.as_ref(), w.path())?;
    let spec = DecoderSpec::new(dims, a.rms_norm_eps, rope, false, a.tie_word_embeddings);
    // Biases are picked up when present; the flags only document intent.
    let _ = (a.attention_bias, a.mlp_bias);
    Ok(Box::new(Decoder::load(spec, w)?))
}

/// The shape of a Llama-family decoder.
pub struct DecoderSpec {
    pub layers: usize,
    pub heads: i32,
    pub kv_heads: i32,
    pub head_dim: i32,
    pub eps: f32,
    pub rope: Rope,
    /// Qwen3: RMSNorm over each head of Q and K before RoPE.
    pub qk_norm: bool,
    /// `None`: tie when the checkpoint has no `lm_head`.
    pub tie_word_embeddings: Option<bool>,
}

impl DecoderSpec {
    /// The decoder of validated `dims` (Qwen3: `qk_norm`).
    pub fn new(
        dims: &Dims,
        eps: f32,
        rope: Rope,
        qk_norm: bool,
        tie_word_embeddings: Option<bool>,
    ) -> Self {
        Self {
            layers: dims.layers,
            heads: dims.heads,
            kv_heads: dims.kv_heads,
            head_dim: dims.head_dim,
            eps,
            rope,
            qk_norm,
            tie_word_embeddings,
        }
    }
}

struct Attention {
    qkv: Projections,
    o: Linear,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
}

struct Block {
    attn: Attention,
    gate_up: Projections,
    down: Linear,
    input_norm: RmsNorm,
    post_attn_norm: RmsNorm,
}

pub struct Decoder {
    spec: DecoderSpec,
    embed: Embedding,
    blocks: Vec<Block>,
    norm: RmsNorm,
    lm_head: Option<Linear>,
}

impl Decoder {
    pub fn load(spec: DecoderSpec, w: &mut Weights) -> Result<Self> {
        let eps = spec.eps;
        let mut blocks = Vec::with_capacity(spec.layers);
        for i in 0..spec.layers {
            let p = format!("model.layers.{i}");
            let (q_norm, k_norm) = if spec.qk_norm {
                (
                    Some(w.rms_norm(&format!("{p}.self_attn.q_norm"), eps)?),
                    Some(w.rms_norm(&format!("{p}.self_attn.k_norm"), eps)?),
                )
            } else {
                (None, None)
            };
            blocks.push(Block {
                attn: Attention {
                    qkv: Projections::load(
                        w,
                        &["q_proj", "k_proj", "v_proj"].map(|n| format!("{p}.self_attn.{n}")),
                    )?,
                    o: w.linear(&format!("{p}.self_attn.o_proj"))?,
                    q_norm,
                    k_norm,
                },
                gate_up: Projections::load(
                    w,
                    &["gate_proj", "up_proj"].map(|n| format!("{p}.mlp.{n}")),
                )?,
                down: w.linear(&format!("{p}.mlp.down_proj"))?,
                input_norm: w.rms_norm(&format!("{p}.input_layernorm"), eps)?,
                post_attn_norm: w.rms_norm(&format!("{p}.post_attention_layernorm"), eps)?,
            });
        }
        let tie = spec.tie_word_embeddings == Some(true) || !w.contains("lm_head.weight");
        let lm_head = if tie {
            // A tied checkpoint may still carry a copy of the head; mlx-lm drops it too.
            for suffix in ["weight", "scales", "biases"] {
                w.take_opt(&format!("lm_head.{suffix}"));
            }
            None
        } else {
            Some(w.linear("lm_head")?)
        };
        Ok(Self {
            embed: w.embedding("model.embed_tokens")?,
            norm: w.rms_norm("model.norm", eps)?,
            blocks,
            lm_head,
            spec,
        })
    }

    fn attention(&self, a: &Attention, x: &Array, cache: &mut KvCache) -> Result<Array> {
        let (b, l) = (x.shape()[0], x.shape()[1]);
        let s = &self.spec;
        let heads = |y: &Array, n: i32, norm: &Option<RmsNorm>| -> Result<Array> {
            let y = y.reshape(&[b, l, n, s.head_dim])?;
            let y = match norm {
                Some(norm) => norm.forward(&y)?,
                None => y,
            };
            Ok(y.transpose_axes(&[0, 2, 1, 3])?)
        };
        let offset = cache.offset();
        let qkv = a.qkv.forward(x)?;
        let q = s
            .rope
            .forward(&heads(&qkv[0], s.heads, &a.q_norm)?, offset)?;
        let k = s
            .rope
            .forward(&heads(&qkv[1], s.kv_heads, &a.k_norm)?, offset)?;
        let v = heads(&qkv[2], s.kv_heads, &None)?;
        let scale = (s.head_dim as f32).powf(-0.5);
        let o = attention(&q, k, v, cache, scale, AttnMask::Causal)?;
        let o = o
            .transpose_axes(&[0, 2, 1, 3])?
            .reshape(&[b, l, s.heads * s.head_dim])?;
        a.o.forward(&o)
    }
}

impl Decoder {
    /// Token embeddings `[B, L, hidden]` of `ids`.
    pub fn embed(&self, ids: &Array) -> Result<Array> {
        self.embed.forward(ids)
    }

    /// [`LanguageModel::forward`] from embeddings rather than ids: how models that
    /// splice other inputs (Qwen2.5-Omni's audio) into the text run the decoder.
    pub fn forward_embeddings(
        &self,
        mut h: Array,
        cache: &mut [KvCache],
        all_positions: bool,
    ) -> Result<Array> {
        trace::activation("embed", &h);
        for (i, (block, cache)) in self.blocks.iter().zip(cache.iter_mut()).enumerate() {
            let r = self.attention(&block.attn, &block.input_norm.forward(&h)?, cache)?;
            trace::activation(&format!("block {i} attention"), &r);
            h = h.add(&r)?;
            let x = block.post_attn_norm.forward(&h)?;
            let gate_up = block.gate_up.forward(&x)?;
            let r = block.down.forward(&swiglu(&gate_up[0], &gate_up[1])?)?;
            trace::activation(&format!("block {i} mlp"), &r);
            h = h.add(&r)?;
        }
        output_logits(
            h,
            all_positions,
            &self.norm,
            self.lm_head.as_ref(),
            &self.embed,
        )
    }
}

impl LanguageModel for Decoder {
    fn forward(&self, ids: &Array, cache: &mut [KvCache], all_positions: bool) -> Result<Array> {
        self.forward_embeddings(self.embed(ids)?, cache, all_positions)
    }

    fn new_cache(&self) -> Vec<KvCache> {
        (0..self.spec.layers).map(|_| KvCache::new()).collect()
    }
}
