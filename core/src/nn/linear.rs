//! Linear and embedding layers, dense or affine-quantized, and the fusion of layers
//! that read the same input into one matrix product.

use mlx_rs::{Array, Dtype, ops};

use super::weights::{QuantSpec, Weights, check_packed};
use crate::error::Error;
use crate::error::Result;

pub(super) struct Quantized {
    pub(super) scales: Array,
    pub(super) biases: Option<Array>,
    pub(super) spec: QuantSpec,
}

impl Weights {
    /// A linear layer `prefix.{weight,scales,biases,bias}`.
    pub fn linear(&mut self, prefix: &str) -> Result<Linear> {
        let bias = self.take_opt(&format!("{prefix}.bias"));
        let Some(spec) = self.quant_for(prefix)? else {
            let weight = self.take(&format!("{prefix}.weight"))?;
            return Ok(Linear {
                weight,
                bias,
                quant: None,
            });
        };
        let path = self.path().to_path_buf();
        let mark = self.mark();
        let mut part = |what: &str| {
            self.take_stored(&format!("{prefix}.{what}"))
                .ok_or_else(|| Error::corrupt(&path, format!("missing tensor {prefix}.{what}")))
        };
        let weight = part("weight")?;
        let scales = part("scales")?;
        let biases = part("biases").ok();
        check_packed(&path, prefix, &weight, &scales, spec)?;
        if let Some(dtype) = self.dense_dtype() {
            // In `dtype` throughout: the scales and biases convert exactly, and MLX's
            // CPU backend has no fast half-precision arithmetic.
            let biases = biases.map(|b| b.as_dtype(dtype)).transpose()?;
            let weight = ops::dequantize(
                &weight,
                &scales.as_dtype(dtype)?,
                biases.as_ref(),
                spec.group_size,
                spec.bits,
            )?;
            // Only the dense copy is materialized and kept.
            self.replace_since(mark, [&weight]);
            return Ok(Linear {
                weight,
                bias,
                quant: None,
            });
        }
        Ok(Linear {
            weight,
            bias,
            quant: Some(Quantized {
                scales,
                biases,
                spec,
            }),
        })
    }

    /// An embedding table `prefix.{weight,scales,biases}`.
    pub fn embedding(&mut self, prefix: &str) -> Result<Embedding> {
        let Linear { weight, quant, .. } = self.linear(prefix)?;
        Ok(Embedding { weight, quant })
    }
}

/// `y = x Wᵀ + b`, with W dense or affine-quantized.
pub struct Linear {
    pub(super) weight: Array,
    pub(super) bias: Option<Array>,
    pub(super) quant: Option<Quantized>,
}

impl Linear {
    /// Stack layers that read the same input into one (outputs concatenated), so one
    /// matmul kernel replaces several: Q/K/V and gate/up projections each run as a
    /// single launch per token. Row-wise quantization makes this exact. `None` when
    /// the parts differ in quantization or dtype; parts without a bias get zeros.
    pub fn fuse(parts: &[&Linear]) -> Result<Option<Linear>> {
        let first = parts[0];
        let same = parts.iter().all(|p| {
            p.weight.dtype() == first.weight.dtype()
                && match (&p.quant, &first.quant) {
                    (Some(a), Some(b)) => {
                        a.spec == b.spec
                            && a.biases.is_some() == b.biases.is_some()
                            && a.scales.dtype() == b.scales.dtype()
                    }
                    (None, None) => true,
                    _ => false,
                }
        });
        if !same {
            return Ok(None);
        }
        let cat = |f: &dyn Fn(&Linear) -> Option<&Array>| -> Result<Option<Array>> {
            let arrays: Option<Vec<&Array>> = parts.iter().map(|p| f(p)).collect();
            arrays
                .map(|a| ops::concatenate(&a, 0))
                .transpose()
                .map_err(Into::into)
        };
        let weight = cat(&|p| Some(&p.weight))?.expect("every layer has a weight");
        // A part without a bias (Whisper's key projection) contributes zeros.
        let bias = match parts.iter().find_map(|p| p.bias.as_ref()) {
            None => None,
            Some(any) => {
                let filled = parts
                    .iter()
                    .map(|p| match &p.bias {
                        Some(b) => Ok(b.clone()),
                        None => ops::zeros_dtype(&[p.out_features()], any.dtype()),
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Some(ops::concatenate(&filled, 0)?)
            }
        };
        let quant = match &first.quant {
            Some(q) => Some(Quantized {
                scales: cat(&|p| p.quant.as_ref().map(|q| &q.scales))?.expect("checked above"),
                biases: cat(&|p| p.quant.as_ref().and_then(|q| q.biases.as_ref()))?,
                spec: q.spec,
            }),
            None => None,
        };
        // Left lazy: the caller hands the result to `Weights::replace_since`, so the
        // concatenation runs inside the one load-time `eval` (and the parts' buffers
        // are freed as it goes, rather than held beside the fused copy).
        Ok(Some(Linear {
            weight,
            bias,
            quant,
        }))
    }

    /// Every array the layer holds.
    pub fn arrays(&self) -> impl Iterator<Item = &Array> {
        [Some(&self.weight), self.bias.as_ref()]
            .into_iter()
            .chain(
                self.quant
                    .iter()
                    .flat_map(|q| [Some(&q.scales), q.biases.as_ref()]),
            )
            .flatten()
    }

    /// Output features.
    pub fn out_features(&self) -> i32 {
        self.weight.shape()[0]
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let y = times_transposed(x, &self.weight, self.quant.as_ref())?;
        Ok(match &self.bias {
            Some(b) => y.add(b)?,
            None => y,
        })
    }
}

/// A token embedding table (dense or quantized), also usable as a tied output head.
pub struct Embedding {
    pub(super) weight: Array,
    pub(super) quant: Option<Quantized>,
}

impl Embedding {
    /// Look up rows for `ids` (any shape) → `ids.shape + [hidden]`.
    pub fn forward(&self, ids: &Array) -> Result<Array> {
        match &self.quant {
            None => Ok(self.weight.take_axis(ids, 0)?),
            Some(q) => {
                let w = self.weight.take_axis(ids, 0)?;
                let s = q.scales.take_axis(ids, 0)?;
                let b = q.biases.as_ref().map(|b| b.take_axis(ids, 0)).transpose()?;
                Ok(ops::dequantize(
                    &w,
                    &s,
                    b.as_ref(),
                    q.spec.group_size,
                    q.spec.bits,
                )?)
            }
        }
    }

    /// Use the table as the output projection (tied embeddings): `x Eᵀ`.
    pub fn as_linear(&self, x: &Array) -> Result<Array> {
        times_transposed(x, &self.weight, self.quant.as_ref())
    }

    /// Element type of the activations this table produces.
    pub fn dtype(&self) -> Dtype {
        match &self.quant {
            Some(q) => q.scales.dtype(),
            None => self.weight.dtype(),
        }
    }
}

/// `x Wᵀ` for a dense or affine-quantized `W`.
fn times_transposed(x: &Array, w: &Array, quant: Option<&Quantized>) -> Result<Array> {
    Ok(match quant {
        Some(q) => ops::quantized_matmul(
            x,
            w,
            &q.scales,
            q.biases.as_ref(),
            true,
            q.spec.group_size,
            q.spec.bits,
        )?,
        None => ops::matmul(x, w.t())?,
    })
}

/// Layers that read the same input (Q/K/V, gate/up, Whisper's cross-attention K/V),
/// fused into one matmul when their quantization matches: one kernel launch per token
/// instead of several (decode is launch-bound).
pub enum Projections {
    Fused { proj: Linear, splits: Vec<i32> },
    Separate(Vec<Linear>),
}

impl Projections {
    /// The layers `prefixes`, fused when they can be.
    pub fn load(w: &mut Weights, prefixes: &[String]) -> Result<Self> {
        let mark = w.mark();
        let parts = prefixes
            .iter()
            .map(|p| w.linear(p))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Linear> = parts.iter().collect();
        Ok(match Linear::fuse(&refs)? {
            Some(proj) => {
                w.replace_since(mark, proj.arrays());
                let sizes: Vec<i32> = parts.iter().map(Linear::out_features).collect();
                Self::fused(proj, &sizes)
            }
            None => Projections::Separate(parts),
        })
    }

    /// `n` equal parts a checkpoint already stores fused as one layer `prefix`
    /// (CTranslate2's `attn.qkv`).
    pub fn load_stored(w: &mut Weights, prefix: &str, n: i32) -> Result<Self> {
        let proj = w.linear(prefix)?;
        let part = proj.out_features() / n;
        Ok(Self::fused(proj, &vec![part; n as usize]))
    }

    fn fused(proj: Linear, sizes: &[i32]) -> Self {
        let splits = sizes
            .iter()
            .scan(0, |end, s| {
                *end += s;
                Some(*end)
            })
            .take(sizes.len() - 1)
            .collect();
        Projections::Fused { proj, splits }
    }

    /// Every part's output, in order.
    pub fn forward(&self, x: &Array) -> Result<Vec<Array>> {
        match self {
            Projections::Fused { proj, splits } => {
                Ok(proj.forward(x)?.split_at_indices(splits, -1)?)
            }
            Projections::Separate(parts) => parts.iter().map(|p| p.forward(x)).collect(),
        }
    }
}
