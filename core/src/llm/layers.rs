//! Building blocks shared by the model files: weights by name, (quantized) linear and
//! embedding layers, RMSNorm, RoPE and attention.
//!
//! Layers are plain structs of MLX arrays that call MLX ops directly (no module system):
//! the forward pass is a short, readable function per architecture, and quantized and
//! dense weights go through the same code.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mlx_rs::fast::ScaledDotProductAttentionMask;
use mlx_rs::ops::indexing::TryIndexOp;
use mlx_rs::{Array, Dtype, fast, ops};

use super::kv_cache::KvCache;
use crate::error::{Error, Result};

/// Default affine quantization of a checkpoint (`config.json` → `quantization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuantSpec {
    pub group_size: i32,
    pub bits: i32,
}

/// A model's tensors by name, consumed as the model is built so leftovers can be
/// reported and every missing tensor names itself in the error.
pub struct Weights {
    path: PathBuf,
    arrays: HashMap<String, Array>,
    /// Default quantization; `None` for dense checkpoints. Per-layer overrides come
    /// from `overrides` (mlx-lm writes them into the same `quantization` table).
    quant: Option<QuantSpec>,
    overrides: HashMap<String, QuantSpec>,
    /// Everything handed to the model, so loading can materialize it in one `eval`.
    used: Vec<Array>,
    /// Convert every weight to this dtype as it is taken (quantized ones dequantized):
    /// see [`crate::backend::Precision`].
    dense: Option<Dtype>,
}

impl Weights {
    pub fn new(
        path: impl Into<PathBuf>,
        arrays: HashMap<String, Array>,
        quant: Option<QuantSpec>,
    ) -> Self {
        Self {
            path: path.into(),
            arrays,
            quant,
            overrides: HashMap::new(),
            used: Vec::new(),
            dense: None,
        }
    }

    /// Hand every weight out as dense `dtype` (`None`: as stored). Quantized layers are
    /// dequantized with their scales and biases converted to `dtype` first, as
    /// `mx.dequantize(w, scales.astype(dtype), biases.astype(dtype), ...)` does in the
    /// reference (scripts/goldens/llm_models.py).
    pub fn densify(mut self, dtype: Option<Dtype>) -> Self {
        self.dense = dtype;
        self
    }

    /// The dtype weights are handed out in, when they are converted.
    pub fn dense_dtype(&self) -> Option<Dtype> {
        self.dense
    }

    /// Bytes the model's weights would take as dense float32: quantized tensors at
    /// their unpacked size, their scales and biases not counted.
    pub fn dense_f32_bytes(&self) -> u64 {
        self.arrays
            .iter()
            .filter(|(name, _)| {
                let quant_part = |suffix: &str| {
                    name.strip_suffix(suffix).is_some_and(|p| {
                        self.arrays.contains_key(&format!("{p}.weight"))
                            && self.arrays.contains_key(&format!("{p}.scales"))
                    })
                };
                !quant_part(".scales") && !quant_part(".biases")
            })
            .map(|(name, a)| {
                let elements = a.size() as u64;
                let prefix = name.strip_suffix(".weight").unwrap_or(name);
                match self.quant_for(prefix) {
                    Ok(Some(q)) if a.dtype() == Dtype::Uint32 && q.bits > 0 => {
                        elements * 32 / q.bits as u64 * 4
                    }
                    _ => elements * 4,
                }
            })
            .sum()
    }

    pub fn with_overrides(mut self, overrides: HashMap<String, QuantSpec>) -> Self {
        self.overrides = overrides;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn contains(&self, name: &str) -> bool {
        self.arrays.contains_key(name)
    }

    /// Remove and return a tensor, or a [`Error::CorruptModel`] naming it.
    pub fn take(&mut self, name: &str) -> Result<Array> {
        self.take_opt(name)
            .ok_or_else(|| Error::corrupt(&self.path, format!("missing tensor {name}")))
    }

    pub fn take_opt(&mut self, name: &str) -> Option<Array> {
        let a = self.arrays.remove(name)?;
        let a = match self.dense {
            Some(dtype) if is_float(a.dtype()) && a.dtype() != dtype => {
                // A cast the load-time `eval` runs; an error here is a broken tensor.
                a.as_dtype(dtype).unwrap_or(a)
            }
            _ => a,
        };
        self.used.push(a.clone());
        Some(a)
    }

    /// Remove a tensor as stored (no dense conversion), for quantization parts.
    fn take_stored(&mut self, name: &str) -> Option<Array> {
        let a = self.arrays.remove(name)?;
        self.used.push(a.clone());
        Some(a)
    }

    /// Read every tensor the model took into memory now, so a corrupt or truncated
    /// file fails at load time (not mid-answer) and the first request is not slowed
    /// by disk reads.
    pub fn materialize(&mut self) -> Result<()> {
        let used = std::mem::take(&mut self.used);
        mlx_rs::transforms::eval(used.iter())
            .map_err(|e| Error::corrupt(&self.path, format!("reading weights: {e}")))
    }

    /// How many tensors have been taken so far (for [`Weights::replace_since`]).
    pub fn mark(&self) -> usize {
        self.used.len()
    }

    /// Replace the tensors taken since `mark` with `arrays` derived from them (a fused
    /// layer), so loading materializes only what the model keeps. Every array a
    /// model holds must reach `materialize`: MLX streams belong to the thread that
    /// made them, and an array left lazy here could not be evaluated on another.
    pub fn replace_since<'a>(&mut self, mark: usize, arrays: impl IntoIterator<Item = &'a Array>) {
        self.used.truncate(mark);
        self.used.extend(arrays.into_iter().cloned());
    }

    /// Names of tensors nobody consumed (sorted), for diagnostics.
    pub fn leftover(&self) -> Vec<String> {
        let mut v: Vec<String> = self.arrays.keys().cloned().collect();
        v.sort();
        v
    }

    /// Quantization of the layer at `prefix`: present when `prefix.scales` exists.
    fn quant_for(&self, prefix: &str) -> Result<Option<QuantSpec>> {
        if !self.contains(&format!("{prefix}.scales")) {
            return Ok(None);
        }
        self.overrides
            .get(prefix)
            .copied()
            .or(self.quant)
            .map(Some)
            .ok_or_else(|| {
                Error::corrupt(
                    &self.path,
                    format!("{prefix} is quantized but the config has no quantization"),
                )
            })
    }

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
        let path = self.path.clone();
        let mut part = |what: &str| {
            self.take_stored(&format!("{prefix}.{what}"))
                .ok_or_else(|| Error::corrupt(&path, format!("missing tensor {prefix}.{what}")))
        };
        let weight = part("weight")?;
        let scales = part("scales")?;
        let biases = part("biases").ok();
        check_packed(&self.path, prefix, &weight, &scales, spec)?;
        if let Some(dtype) = self.dense {
            let mark = self.used.len() - 2 - usize::from(biases.is_some());
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
            self.used.truncate(mark);
            self.used.push(weight.clone());
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

    pub fn rms_norm(&mut self, prefix: &str, eps: f32) -> Result<RmsNorm> {
        Ok(RmsNorm {
            weight: self.take(&format!("{prefix}.weight"))?,
            eps,
        })
    }
}

fn is_float(d: Dtype) -> bool {
    matches!(
        d,
        Dtype::Float16 | Dtype::Bfloat16 | Dtype::Float32 | Dtype::Float64
    )
}

/// Packed weights must agree with their scales: `in = scales_cols × group` and
/// `packed_cols × 32 = in × bits`. A mismatch means the config lies about the checkpoint.
fn check_packed(path: &Path, prefix: &str, w: &Array, scales: &Array, q: QuantSpec) -> Result<()> {
    let packed = *w.shape().last().unwrap_or(&0);
    let groups = *scales.shape().last().unwrap_or(&0);
    if w.dtype() != Dtype::Uint32 || packed * 32 != groups * q.group_size * q.bits {
        return Err(Error::corrupt(
            path,
            format!(
                "{prefix}: packed weight {:?} ({:?}) does not match scales {:?} at {} bits, group {}",
                w.shape(),
                w.dtype(),
                scales.shape(),
                q.bits,
                q.group_size
            ),
        ));
    }
    Ok(())
}

struct Quantized {
    scales: Array,
    biases: Option<Array>,
    spec: QuantSpec,
}

/// `y = x Wᵀ + b`, with W dense or affine-quantized.
pub struct Linear {
    weight: Array,
    bias: Option<Array>,
    quant: Option<Quantized>,
}

impl Linear {
    /// Stack layers that read the same input into one (outputs concatenated), so one
    /// matmul kernel replaces several: Q/K/V and gate/up projections each run as a
    /// single launch per token. Row-wise quantization makes this exact. `None` when
    /// the parts differ in quantization or dtype.
    pub fn fuse(parts: &[&Linear]) -> Result<Option<Linear>> {
        let first = parts[0];
        let same = parts.iter().all(|p| {
            p.weight.dtype() == first.weight.dtype()
                && p.bias.is_some() == first.bias.is_some()
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
        let bias = cat(&|p| p.bias.as_ref())?;
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
        let y = match &self.quant {
            Some(q) => ops::quantized_matmul(
                x,
                &self.weight,
                &q.scales,
                q.biases.as_ref(),
                true,
                q.spec.group_size,
                q.spec.bits,
            )?,
            None => ops::matmul(x, self.weight.t())?,
        };
        Ok(match &self.bias {
            Some(b) => y.add(b)?,
            None => y,
        })
    }
}

/// A token embedding table (dense or quantized), also usable as a tied output head.
pub struct Embedding {
    weight: Array,
    quant: Option<Quantized>,
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
        match &self.quant {
            None => Ok(ops::matmul(x, self.weight.t())?),
            Some(q) => Ok(ops::quantized_matmul(
                x,
                &self.weight,
                &q.scales,
                q.biases.as_ref(),
                true,
                q.spec.group_size,
                q.spec.bits,
            )?),
        }
    }

    /// Element type of the activations this table produces.
    pub fn dtype(&self) -> Dtype {
        match &self.quant {
            Some(q) => q.scales.dtype(),
            None => self.weight.dtype(),
        }
    }
}

pub struct RmsNorm {
    weight: Array,
    eps: f32,
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

type Exception = mlx_rs::error::Exception;
type Unary = Box<dyn for<'a> FnMut(&'a Array) -> std::result::Result<Array, Exception>>;
type Binary =
    Box<dyn for<'a> FnMut((&'a Array, &'a Array)) -> std::result::Result<Array, Exception>>;

thread_local! {
    // Compiled closures are built once per thread and reused: creating one costs tens
    // of microseconds, which per layer and token is more than the graph it replaces.
    // (They are not `Send`, hence thread-local rather than stored in the model.)
    static SWIGLU: RefCell<Option<Binary>> = const { RefCell::new(None) };
    static GELU_APPROX: RefCell<Option<Unary>> = const { RefCell::new(None) };
    static GELU: RefCell<Option<Unary>> = const { RefCell::new(None) };
}

/// Apply the unary function `f`, compiled on this thread's first call and cached in
/// `cell` for the later ones.
fn compiled_unary(
    cell: &'static std::thread::LocalKey<RefCell<Option<Unary>>>,
    f: fn(&Array) -> std::result::Result<Array, Exception>,
    x: &Array,
) -> Result<Array> {
    cell.with_borrow_mut(|c| {
        let compiled =
            c.get_or_insert_with(|| Box::new(mlx_rs::transforms::compile::compile(f, true)));
        Ok(compiled(x)?)
    })
}

/// `silu(gate) · x`, the SwiGLU gate of Llama-family MLPs, compiled into one fused
/// kernel (mlx-lm compiles the same function; separately it costs an extra kernel
/// launch and a round trip through memory per layer and token).
pub fn swiglu(gate: &Array, x: &Array) -> Result<Array> {
    fn f((g, x): (&Array, &Array)) -> std::result::Result<Array, Exception> {
        g.multiply(mlx_rs::ops::sigmoid(g)?)?.multiply(x)
    }
    SWIGLU.with_borrow_mut(|c| {
        let compiled =
            c.get_or_insert_with(|| Box::new(mlx_rs::transforms::compile::compile(f, true)));
        Ok(compiled((gate, x))?)
    })
}

/// GELU, tanh approximation (Gemma's `gelu_pytorch_tanh`), computed in `x`'s own
/// dtype as mlx-lm does (mlx-rs's version promotes bf16 activations to f32, which
/// changes results), and compiled into one fused kernel.
pub fn gelu_approx(x: &Array) -> Result<Array> {
    fn f(x: &Array) -> std::result::Result<Array, Exception> {
        let c = |v: f32| Array::from_f32(v).as_dtype(x.dtype());
        let cubic = x.power(&c(3.0)?)?;
        let inner = c((2.0 / std::f32::consts::PI).sqrt())?
            .multiply(x.add(c(0.044715)?.multiply(&cubic)?)?)?;
        c(0.5)?
            .multiply(x)?
            .multiply(c(1.0)?.add(mlx_rs::ops::tanh(&inner)?)?)
    }
    compiled_unary(&GELU_APPROX, f, x)
}

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

/// `(x - mean) / sqrt(var + eps) · w + b` over the last axis (Whisper's LayerNorm).
pub struct LayerNorm {
    weight: Array,
    bias: Array,
    eps: f32,
}

impl LayerNorm {
    pub fn forward(&self, x: &Array) -> Result<Array> {
        Ok(fast::layer_norm(x, &self.weight, &self.bias, self.eps)?)
    }
}

impl Weights {
    /// A LayerNorm `prefix.{weight,bias}`.
    pub fn layer_norm(&mut self, prefix: &str, eps: f32) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: self.take(&format!("{prefix}.weight"))?,
            bias: self.take(&format!("{prefix}.bias"))?,
            eps,
        })
    }
}

/// Exact GELU, `x · (1 + erf(x / √2)) / 2`, computed in `x`'s own dtype as MLX's Python
/// `nn.gelu` does (mlx-rs's `nn::gelu` promotes half-precision activations to f32),
/// compiled into one fused kernel.
pub fn gelu(x: &Array) -> Result<Array> {
    fn f(x: &Array) -> std::result::Result<Array, Exception> {
        let c = |v: f32| Array::from_f32(v).as_dtype(x.dtype());
        let erf = mlx_rs::ops::erf(x.divide(c(std::f32::consts::SQRT_2)?)?)?;
        x.multiply(c(1.0)?.add(erf)?)?.divide(c(2.0)?)
    }
    compiled_unary(&GELU, f, x)
}
