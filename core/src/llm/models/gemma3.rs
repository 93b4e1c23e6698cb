//! Gemma 3 (text: 1B, 4B): sandwich-normed blocks (norms before and after both
//! attention and MLP) with `1 + w` RMSNorm, per-head Q/K norms, a GeGLU MLP, embeddings
//! scaled by √hidden, and local sliding-window layers interleaved with global ones
//! (every `sliding_window_pattern`-th layer is global).

use mlx_rs::{Array, Dtype};
use serde::Deserialize;

use super::dims::{Defaults, Dims};
use super::{LanguageModel, output_logits, parse_args, trace};
use crate::error::Result;
use crate::nn::{
    AttnMask, Embedding, KvCache, Linear, Projections, RmsNorm, Rope, Weights, attention,
    gelu_approx,
};

#[derive(Debug, Deserialize)]
struct Args {
    #[serde(default = "d_eps")]
    rms_norm_eps: f32,
    #[serde(default = "d_theta")]
    rope_theta: f32,
    #[serde(default = "d_local_theta")]
    rope_local_base_freq: f32,
    #[serde(default = "d_head_dim_f")]
    query_pre_attn_scalar: f32,
    #[serde(default = "d_window")]
    sliding_window: i32,
    #[serde(default = "d_pattern")]
    sliding_window_pattern: usize,
    rope_scaling: Option<serde_json::Value>,
    /// Set for GGUF files, whose converter already added the `+ 1`.
    #[serde(default)]
    norm_weights_include_unit_offset: bool,
}

/// mlx-lm's defaults for the dimensions Gemma 3 configs may leave out.
pub const DEFAULTS: Defaults = Defaults {
    heads: Some(4),
    kv_heads: Some(1),
    head_dim: Some(256),
};

fn d_head_dim_f() -> f32 {
    256.0
}
fn d_eps() -> f32 {
    1e-6
}
fn d_theta() -> f32 {
    1_000_000.0
}
fn d_local_theta() -> f32 {
    10_000.0
}
fn d_window() -> i32 {
    512
}
fn d_pattern() -> usize {
    6
}

struct Block {
    qkv: Projections,
    o: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    rope: Rope,
    mask: AttnMask,
    gate_up: Projections,
    down: Linear,
    input_norm: RmsNorm,
    post_attn_norm: RmsNorm,
    pre_ffn_norm: RmsNorm,
    post_ffn_norm: RmsNorm,
}

pub struct Gemma3 {
    heads: i32,
    kv_heads: i32,
    head_dim: i32,
    scale: f32,
    embed_scale: f32,
    embed: Embedding,
    blocks: Vec<Block>,
    norm: RmsNorm,
    lm_head: Option<Linear>,
}

pub fn build(
    config: &serde_json::Value,
    dims: &Dims,
    w: &mut Weights,
) -> Result<Box<dyn LanguageModel + Send>> {
    let config = super::text_config(config);
    let a: Args = parse_args(config, w.path())?;
    let eps = a.rms_norm_eps;
    let offset = !a.norm_weights_include_unit_offset;
    let norm = |w: &mut Weights, name: &str| {
        let n = w.rms_norm(name, eps)?;
        if offset { n.with_unit_offset() } else { Ok(n) }
    };
    let mut blocks = Vec::with_capacity(dims.layers);
    for i in 0..dims.layers {
        let p = format!("model.layers.{i}");
        let sliding = (i + 1) % a.sliding_window_pattern != 0;
        let rope = if sliding {
            Rope::new(dims.head_dim, a.rope_local_base_freq, false)
        } else {
            Rope::new(dims.head_dim, a.rope_theta, false)
                .with_scaling(a.rope_scaling.as_ref(), w.path())?
        };
        blocks.push(Block {
            qkv: Projections::load(
                w,
                &["q_proj", "k_proj", "v_proj"].map(|n| format!("{p}.self_attn.{n}")),
            )?,
            o: w.linear(&format!("{p}.self_attn.o_proj"))?,
            q_norm: norm(w, &format!("{p}.self_attn.q_norm"))?,
            k_norm: norm(w, &format!("{p}.self_attn.k_norm"))?,
            rope,
            mask: if sliding {
                AttnMask::Window(a.sliding_window)
            } else {
                AttnMask::Causal
            },
            gate_up: Projections::load(
                w,
                &["gate_proj", "up_proj"].map(|n| format!("{p}.mlp.{n}")),
            )?,
            down: w.linear(&format!("{p}.mlp.down_proj"))?,
            input_norm: norm(w, &format!("{p}.input_layernorm"))?,
            post_attn_norm: norm(w, &format!("{p}.post_attention_layernorm"))?,
            pre_ffn_norm: norm(w, &format!("{p}.pre_feedforward_layernorm"))?,
            post_ffn_norm: norm(w, &format!("{p}.post_feedforward_layernorm"))?,
        });
    }
    let lm_head = if w.contains("lm_head.weight") {
        Some(w.linear("lm_head")?)
    } else {
        None
    };
    Ok(Box::new(Gemma3 {
        heads: dims.heads,
        kv_heads: dims.kv_heads,
        head_dim: dims.head_dim,
        scale: a.query_pre_attn_scalar.powf(-0.5),
        // mlx-lm rounds √hidden to bfloat16 before scaling; match it exactly.
        embed_scale: bf16_round((dims.hidden_size as f32).sqrt()),
        embed: w.embedding("model.embed_tokens")?,
        norm: norm(w, "model.norm")?,
        blocks,
        lm_head,
    }))
}

/// Round to the nearest bfloat16 (ties to even), returned as f32.
fn bf16_round(x: f32) -> f32 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) & 0xffff_0000;
    f32::from_bits(rounded)
}

/// `x + y`, computed in f32 and clipped when activations are f16 (Gemma's residual
/// stream overflows half precision otherwise).
fn residual(x: &Array, y: &Array) -> Result<Array> {
    if x.dtype() != Dtype::Float16 {
        return Ok(x.add(y)?);
    }
    let bound = Array::from_f32(65504.0);
    let sum = x
        .as_dtype(Dtype::Float32)?
        .add(y.as_dtype(Dtype::Float32)?)?;
    Ok(mlx_rs::ops::clip(&sum, (&bound.negative()?, &bound))?.as_dtype(Dtype::Float16)?)
}

impl Gemma3 {
    fn attention(&self, blk: &Block, x: &Array, cache: &mut KvCache) -> Result<Array> {
        let (b, l) = (x.shape()[0], x.shape()[1]);
        let qkv = blk.qkv.forward(x)?;
        let heads = |y: &Array, n: i32| -> Result<Array> {
            Ok(y.reshape(&[b, l, n, self.head_dim])?
                .transpose_axes(&[0, 2, 1, 3])?)
        };
        let offset = cache.offset();
        let q = blk
            .rope
            .forward(&blk.q_norm.forward(&heads(&qkv[0], self.heads)?)?, offset)?;
        let k = blk.rope.forward(
            &blk.k_norm.forward(&heads(&qkv[1], self.kv_heads)?)?,
            offset,
        )?;
        let v = heads(&qkv[2], self.kv_heads)?;
        let o = attention(&q, k, v, cache, self.scale, blk.mask)?;
        blk.o.forward(&o.transpose_axes(&[0, 2, 1, 3])?.reshape(&[
            b,
            l,
            self.heads * self.head_dim,
        ])?)
    }
}

impl LanguageModel for Gemma3 {
    fn forward(&self, ids: &Array, cache: &mut [KvCache], all_positions: bool) -> Result<Array> {
        let mut h = self.embed.forward(ids)?;
        h = h.multiply(Array::from_f32(self.embed_scale).as_dtype(h.dtype())?)?;
        trace::activation("embed", &h);
        for (i, (blk, cache)) in self.blocks.iter().zip(cache.iter_mut()).enumerate() {
            let r = self.attention(blk, &blk.input_norm.forward(&h)?, cache)?;
            trace::activation(&format!("block {i} attention"), &r);
            h = residual(&h, &blk.post_attn_norm.forward(&r)?)?;
            let x = blk.pre_ffn_norm.forward(&h)?;
            let gate_up = blk.gate_up.forward(&x)?;
            let r = blk
                .down
                .forward(&gelu_approx(&gate_up[0])?.multiply(&gate_up[1])?)?;
            trace::activation(&format!("block {i} mlp"), &r);
            h = residual(&h, &blk.post_ffn_norm.forward(&r)?)?;
        }
        output_logits(
            h,
            all_positions,
            &self.norm,
            self.lm_head.as_ref(),
            &self.embed,
        )
    }

    fn new_cache(&self) -> Vec<KvCache> {
        self.blocks.iter().map(|_| KvCache::new()).collect()
    }
}
