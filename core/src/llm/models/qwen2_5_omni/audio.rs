//! Qwen2.5-Omni's audio encoder (the thinker's `audio_tower`): Whisper's encoder run on
//! 2-second pieces of a recording of any length.
//!
//! As transformers' `Qwen2_5OmniAudioEncoder` defines it: the 128-bin log-mel
//! spectrogram is cut into chunks of `2 · n_window` frames; each chunk goes through the two
//! convolutions on its own (the second halves it), gets sinusoidal positions from 0, and
//! attends only to itself; the tokens of all chunks are then averaged in pairs, normalized
//! and projected to the language model's width. About 25 tokens per second of audio.
//!
//! Because no chunk sees another, chunks are batched in groups and any length works in
//! bounded memory — mlx-lm-omni 0.1.3 instead attends across the whole recording (and
//! failed past 15 s). Checkpoints store the convolutions either in MLX's `[out, k, in]`
//! layout (the MLX conversions) or PyTorch's `[out, in, k]` (Qwen's own, and the 7B 4-bit
//! conversion): the layout is told apart by shape at load time.

use mlx_rs::ops::indexing::TryIndexOp;
use mlx_rs::{Array, Dtype, fast, ops};
use serde::Deserialize;

use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::nn::{
    LayerNorm, Linear, Projections, Weights, gelu, merge_heads, sinusoids, split_heads,
};

/// LayerNorm epsilon of the encoder (PyTorch's default, which transformers uses).
const LN_EPS: f32 = 1e-5;
/// Full chunks encoded per batch: bounds the scratch memory of long recordings.
const CHUNKS_PER_BATCH: i32 = 32;

/// `thinker_config.audio_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct AudioConfig {
    pub num_mel_bins: i32,
    pub d_model: i32,
    pub encoder_layers: i32,
    pub encoder_attention_heads: i32,
    pub encoder_ffn_dim: i32,
    pub n_window: i32,
    pub max_source_positions: i32,
    pub output_dim: i32,
}

impl AudioConfig {
    /// Every number in range and consistent (bounds far above Qwen2.5-Omni-7B's 128 bins,
    /// width 1280, 32 layers of 20 heads), so none becomes a huge allocation or a
    /// division by zero. Errors name the key.
    pub fn validate(&self, text_hidden: i32) -> std::result::Result<(), String> {
        let range = |key: &str, v: i32, lo: i32, hi: i32| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "audio_config.{key} = {v} is out of range ({lo}..={hi})"
                ))
            }
        };
        range("num_mel_bins", self.num_mel_bins, 1, 512)?;
        range("d_model", self.d_model, 4, 1 << 14)?;
        range("encoder_layers", self.encoder_layers, 1, 256)?;
        range(
            "encoder_attention_heads",
            self.encoder_attention_heads,
            1,
            256,
        )?;
        range("encoder_ffn_dim", self.encoder_ffn_dim, 1, 1 << 17)?;
        range("n_window", self.n_window, 1, 4096)?;
        range(
            "max_source_positions",
            self.max_source_positions,
            1,
            1 << 16,
        )?;
        range("output_dim", self.output_dim, 1, 1 << 16)?;
        if self.d_model % self.encoder_attention_heads != 0 {
            return Err(format!(
                "audio_config.encoder_attention_heads = {} does not divide d_model {}",
                self.encoder_attention_heads, self.d_model
            ));
        }
        if self.d_model % 2 != 0 {
            return Err(format!("audio_config.d_model = {} is odd", self.d_model));
        }
        if self.n_window > self.max_source_positions {
            return Err(format!(
                "audio_config.max_source_positions = {} is below n_window {}",
                self.max_source_positions, self.n_window
            ));
        }
        if self.output_dim != text_hidden {
            return Err(format!(
                "audio_config.output_dim = {} but the language model's hidden_size is {text_hidden}",
                self.output_dim
            ));
        }
        Ok(())
    }

    /// Mel frames per chunk.
    pub fn chunk_frames(&self) -> i32 {
        2 * self.n_window
    }

    /// Audio tokens the encoder makes of `frames` mel frames: the second convolution
    /// rounds each chunk's half up, the pooling rounds the whole down.
    pub fn tokens_for_frames(&self, frames: usize) -> usize {
        frames.div_ceil(2) / 2
    }
}

struct Layer {
    qkv: Projections,
    out: Linear,
    attn_ln: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    final_ln: LayerNorm,
}

pub struct AudioEncoder {
    cfg: AudioConfig,
    conv1_w: Array,
    conv1_b: Array,
    conv2_w: Array,
    conv2_b: Array,
    /// Positions `0..n_window`: every chunk starts again at 0.
    positional: Array,
    layers: Vec<Layer>,
    ln_post: LayerNorm,
    proj: Linear,
}

/// A convolution weight in MLX's `[out, k, in]` layout, whichever layout it was stored
/// in; any other shape is a corrupt model naming the tensor.
fn conv_weight(w: &mut Weights, name: &str, out: i32, input: i32) -> Result<Array> {
    let weight = w.take(name)?;
    let shape = weight.shape().to_vec();
    if shape == [out, 3, input] {
        Ok(weight)
    } else if shape == [out, input, 3] {
        Ok(weight.swap_axes(1, 2)?)
    } else {
        Err(Error::corrupt(
            w.path(),
            format!("{name} is shaped {shape:?}, not [{out}, 3, {input}] or [{out}, {input}, 3]"),
        ))
    }
}

/// The logical shape of `name` must be `want` (checked before the encoder runs, so a
/// lying checkpoint is a load error rather than an MLX failure mid-transcription).
fn expect_shape(w: &Weights, name: &str, want: &[i32]) -> Result<()> {
    let want: Vec<u64> = want.iter().map(|&d| d as u64).collect();
    match w.logical_shape(name) {
        Some(shape) if shape == want => Ok(()),
        Some(shape) => Err(Error::corrupt(
            w.path(),
            format!("{name} is shaped {shape:?}, not {want:?}"),
        )),
        None => Err(Error::corrupt(w.path(), format!("missing tensor {name}"))),
    }
}

impl AudioEncoder {
    /// The encoder under `prefix` (`audio_tower`).
    pub fn load(w: &mut Weights, prefix: &str, cfg: AudioConfig) -> Result<Self> {
        let (d, ffn) = (cfg.d_model, cfg.encoder_ffn_dim);
        let mut layers = Vec::with_capacity(cfg.encoder_layers as usize);
        for i in 0..cfg.encoder_layers {
            let p = format!("{prefix}.layers.{i}");
            for (name, shape) in [
                ("self_attn.q_proj", [d, d]),
                ("self_attn.k_proj", [d, d]),
                ("self_attn.v_proj", [d, d]),
                ("self_attn.out_proj", [d, d]),
                ("fc1", [ffn, d]),
                ("fc2", [d, ffn]),
            ] {
                expect_shape(w, &format!("{p}.{name}.weight"), &shape)?;
            }
            layers.push(Layer {
                qkv: Projections::load(
                    w,
                    &["q_proj", "k_proj", "v_proj"].map(|n| format!("{p}.self_attn.{n}")),
                )?,
                out: w.linear(&format!("{p}.self_attn.out_proj"))?,
                attn_ln: w.layer_norm(&format!("{p}.self_attn_layer_norm"), LN_EPS)?,
                fc1: w.linear(&format!("{p}.fc1"))?,
                fc2: w.linear(&format!("{p}.fc2"))?,
                final_ln: w.layer_norm(&format!("{p}.final_layer_norm"), LN_EPS)?,
            });
        }
        expect_shape(w, &format!("{prefix}.proj.weight"), &[cfg.output_dim, d])?;
        let conv1_w = conv_weight(w, &format!("{prefix}.conv1.weight"), d, cfg.num_mel_bins)?;
        let conv2_w = conv_weight(w, &format!("{prefix}.conv2.weight"), d, d)?;
        // The table transformers computes (and never stores): float32 sinusoids.
        let positional = sinusoids(cfg.n_window, d)?.as_dtype(conv1_w.dtype())?;
        // Unused by transcription: the embeddings of Qwen's own audio start/end markers.
        w.take_opt(&format!("{prefix}.audio_bos_eos_token.weight"));
        let encoder = Self {
            conv1_b: w.take(&format!("{prefix}.conv1.bias"))?,
            conv2_b: w.take(&format!("{prefix}.conv2.bias"))?,
            conv1_w,
            conv2_w,
            positional,
            layers,
            ln_post: w.layer_norm(&format!("{prefix}.ln_post"), LN_EPS)?,
            proj: w.linear(&format!("{prefix}.proj"))?,
            cfg,
        };
        // The swapped convolutions and the positions are derived arrays: they are
        // what the model keeps, so they are what loading materializes.
        w.keep([&encoder.conv1_w, &encoder.conv2_w, &encoder.positional]);
        Ok(encoder)
    }

    pub fn config(&self) -> &AudioConfig {
        &self.cfg
    }

    /// The dtype the encoder computes in (its weights').
    pub fn dtype(&self) -> Dtype {
        self.conv1_w.dtype()
    }

    /// Audio tokens `[N, output_dim]` of a log-mel spectrogram `[frames, num_mel_bins]`.
    /// Chunks are encoded in batches, each evaluated before the next is queued, with
    /// `cancel` checked between them.
    pub fn forward(&self, mel: &Array, cancel: &CancelToken) -> Result<Array> {
        let shape = mel.shape();
        if shape.len() != 2 || shape[1] != self.cfg.num_mel_bins || shape[0] < 2 {
            return Err(Error::InvalidArgument {
                name: "mel".into(),
                reason: format!(
                    "shaped {shape:?}, not [frames >= 2, {}]",
                    self.cfg.num_mel_bins
                ),
            });
        }
        let mel = mel.as_dtype(self.dtype())?;
        let (frames, window) = (shape[0], self.cfg.chunk_frames());
        let full = frames / window;
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < full {
            let n = CHUNKS_PER_BATCH.min(full - start);
            let x = mel
                .try_index(start * window..(start + n) * window)?
                .reshape(&[n, window, self.cfg.num_mel_bins])?;
            pieces.push(self.chunks(&x)?);
            mlx_rs::transforms::eval(pieces.last())?;
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            start += n;
        }
        if frames % window != 0 {
            let x = mel.try_index(full * window..)?;
            pieces.push(self.chunks(&x.expand_dims(0)?)?);
        }
        let tokens = if pieces.len() == 1 {
            pieces.pop().expect("one piece")
        } else {
            ops::concatenate(&pieces, 0)?
        };
        // Average neighbouring tokens in pairs (a trailing odd one is dropped).
        let pairs = tokens.shape()[0] / 2;
        let x = tokens
            .try_index(..2 * pairs)?
            .reshape(&[pairs, 2, self.cfg.d_model])?
            .mean_axis(1, None)?;
        let x = self.proj.forward(&self.ln_post.forward(&x)?)?;
        mlx_rs::transforms::eval([&x])?;
        Ok(x)
    }

    /// Tokens `[n · ⌈len/2⌉, d_model]` of `n` chunks `[n, len, num_mel_bins]`, each
    /// convolved and attending on its own.
    fn chunks(&self, x: &Array) -> Result<Array> {
        let x = gelu(&ops::conv1d(x, &self.conv1_w, 1, 1, 1, 1)?.add(&self.conv1_b)?)?;
        let x = gelu(&ops::conv1d(&x, &self.conv2_w, 2, 1, 1, 1)?.add(&self.conv2_b)?)?;
        let (n, len) = (x.shape()[0], x.shape()[1]);
        let mut x = x.add(self.positional.try_index(..len)?)?;
        let heads = self.cfg.encoder_attention_heads;
        let scale = ((self.cfg.d_model / heads) as f32).powf(-0.5);
        for l in &self.layers {
            let parts = l.qkv.forward(&l.attn_ln.forward(&x)?)?;
            let (q, k, v) = (
                split_heads(&parts[0], heads)?,
                split_heads(&parts[1], heads)?,
                split_heads(&parts[2], heads)?,
            );
            let o = fast::scaled_dot_product_attention(&q, &k, &v, scale, None, None)?;
            x = x.add(&l.out.forward(&merge_heads(&o)?)?)?;
            let h = gelu(&l.fc1.forward(&l.final_ln.forward(&x)?)?)?;
            x = x.add(&l.fc2.forward(&h)?)?;
        }
        Ok(x.reshape(&[n * len, self.cfg.d_model])?)
    }
}
