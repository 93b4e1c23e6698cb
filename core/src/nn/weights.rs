//! A model's tensors by name, handed to the layers that use them: each layer file
//! takes its own, so leftovers can be reported and every missing tensor names itself.
//! Weights can be converted as they are taken (dense float32 on MLX's CPU backend:
//! [`crate::backend::Precision`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mlx_rs::{Array, Dtype};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default affine quantization of a checkpoint (`config.json` → `quantization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantSpec {
    pub group_size: i32,
    pub bits: i32,
}

impl QuantSpec {
    /// A checkpoint's quantization from its `config.json`: the `quantization` table
    /// (mlx-lm; `quantization_config` in some conversions) gives the default, and nested
    /// tables per layer override it.
    pub fn from_config(
        config: &serde_json::Value,
        path: &Path,
    ) -> Result<(Option<QuantSpec>, HashMap<String, QuantSpec>)> {
        let Some(q) = config
            .get("quantization")
            .or_else(|| config.get("quantization_config"))
        else {
            return Ok((None, HashMap::new()));
        };
        let spec = |v: &serde_json::Value| -> Option<QuantSpec> {
            Some(QuantSpec {
                group_size: i32::try_from(v.get("group_size")?.as_i64()?).ok()?,
                bits: i32::try_from(v.get("bits")?.as_i64()?).ok()?,
            })
        };
        let default =
            spec(q).ok_or_else(|| Error::corrupt(path, "quantization lacks group_size or bits"))?;
        let overrides: HashMap<String, QuantSpec> = q
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| spec(v).map(|s| (k.clone(), s)))
                    .collect()
            })
            .unwrap_or_default();
        for s in std::iter::once(&default).chain(overrides.values()) {
            s.check(path)?;
        }
        Ok((Some(default), overrides))
    }

    /// Bits and group sizes MLX's affine kernels take; anything else would fail inside
    /// MLX or make the packed-size arithmetic meaningless (zero bits divide by zero).
    fn check(self, path: &Path) -> Result<()> {
        if [2, 3, 4, 5, 6, 8].contains(&self.bits) && [32, 64, 128].contains(&self.group_size) {
            return Ok(());
        }
        Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: format!(
                "quantization of {} bits in groups of {} (MLX takes 2, 3, 4, 5, 6 or 8 bits in \
                 groups of 32, 64 or 128)",
                self.bits, self.group_size
            ),
        })
    }
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
                        elements.saturating_mul(32 * 4) / q.bits as u64
                    }
                    _ => elements.saturating_mul(4),
                }
            })
            .fold(0u64, u64::saturating_add)
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

    /// Names of the tensors not taken yet.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.arrays.keys().map(String::as_str)
    }

    /// The shape tensor `name` has as the model sees it, without reading its data: as
    /// stored when dense; when quantized, the packed last axis replaced by the scales'
    /// groups × group size. For comparing a config with its checkpoint.
    pub fn logical_shape(&self, name: &str) -> Option<Vec<u64>> {
        let a = self.arrays.get(name)?;
        let mut shape: Vec<u64> = a.shape().iter().map(|&d| d.max(0) as u64).collect();
        let prefix = name.strip_suffix(".weight").unwrap_or(name);
        if let (Ok(Some(q)), Some(scales)) = (
            self.quant_for(prefix),
            self.arrays.get(&format!("{prefix}.scales")),
        ) && let (Some(last), Some(&groups)) = (shape.last_mut(), scales.shape().last())
        {
            *last = (groups.max(0) as u64).saturating_mul(q.group_size as u64);
        }
        Some(shape)
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
    pub(super) fn take_stored(&mut self, name: &str) -> Option<Array> {
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

    /// Materialize `arrays` too: arrays a layer derives from the tensors it took (a
    /// transposed convolution, a computed table) and keeps.
    pub fn keep<'a>(&mut self, arrays: impl IntoIterator<Item = &'a Array>) {
        self.used.extend(arrays.into_iter().cloned());
    }

    /// Names of tensors nobody consumed (sorted), for diagnostics.
    pub fn leftover(&self) -> Vec<String> {
        let mut v: Vec<String> = self.arrays.keys().cloned().collect();
        v.sort();
        v
    }

    /// Quantization of the layer at `prefix`: present when `prefix.scales` exists.
    pub(super) fn quant_for(&self, prefix: &str) -> Result<Option<QuantSpec>> {
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
}

pub(crate) fn is_float(d: Dtype) -> bool {
    matches!(
        d,
        Dtype::Float16 | Dtype::Bfloat16 | Dtype::Float32 | Dtype::Float64
    )
}

/// Packed weights must agree with their scales: `in = scales_cols × group` and
/// `packed_cols × 32 = in × bits`. A mismatch means the config lies about the checkpoint.
pub(super) fn check_packed(
    path: &Path,
    prefix: &str,
    w: &Array,
    scales: &Array,
    q: QuantSpec,
) -> Result<()> {
    // In i64: hostile shapes and specs must not overflow the i32 products.
    let packed = i64::from(*w.shape().last().unwrap_or(&0));
    let groups = i64::from(*scales.shape().last().unwrap_or(&0));
    let (group, bits) = (i64::from(q.group_size), i64::from(q.bits));
    if w.dtype() != Dtype::Uint32 || packed * 32 != groups * group * bits {
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
