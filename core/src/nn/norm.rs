//! Normalization layers: RMSNorm (the decoders) and LayerNorm (Whisper).

use mlx_rs::{Array, fast};

use super::weights::Weights;
use crate::error::Result;

pub struct RmsNorm {
    pub(super) weight: Array,
    pub(super) eps: f32,
}

impl RmsNorm {
    pub fn forward(&self, x: &Array) -> Result<Array> {
        Ok(fast::rms_norm(x, Some(&self.weight), self.eps)?)
    }

    /// Gemma stores `w` and normalizes with `1 + w`; fold the offset in once at load.
    pub fn with_unit_offset(mut self) -> Result<Self> {
        self.weight = self
            .weight
            .add(Array::from_f32(1.0))?
            .as_dtype(self.weight.dtype())?;
        Ok(self)
    }
}

/// `(x - mean) / sqrt(var + eps) · w + b` over the last axis (Whisper's LayerNorm).
pub struct LayerNorm {
    pub(super) weight: Array,
    pub(super) bias: Array,
    pub(super) eps: f32,
}

impl LayerNorm {
    pub fn forward(&self, x: &Array) -> Result<Array> {
        Ok(fast::layer_norm(x, &self.weight, &self.bias, self.eps)?)
    }
}

impl Weights {
    /// An RMSNorm `prefix.weight`.
    pub fn rms_norm(&mut self, prefix: &str, eps: f32) -> Result<RmsNorm> {
        Ok(RmsNorm {
            weight: self.take(&format!("{prefix}.weight"))?,
            eps,
        })
    }

    /// A LayerNorm `prefix.{weight,bias}`.
    pub fn layer_norm(&mut self, prefix: &str, eps: f32) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: self.take(&format!("{prefix}.weight"))?,
            bias: self.take(&format!("{prefix}.bias"))?,
            eps,
        })
    }
}
