//! Loading model files into MLX arrays.

pub mod gguf;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlx_rs::io::GgufFile;
use serde::Serialize;

use self::gguf::{GgmlType, GgufHeader};
use super::config::ModelConfig;
use crate::error::{Error, Result};

/// How a quantized tensor is laid out in MLX (affine quantization).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quantization {
    pub bits: u32,
    pub group_size: u32,
}

/// One tensor of a model as MLX holds it after loading.
#[derive(Debug, Clone, Serialize)]
pub struct TensorSummary {
    pub name: String,
    /// Shape of the MLX array (packed for quantized tensors).
    pub shape: Vec<i32>,
    /// MLX dtype of the array, e.g. `uint32` for packed quantized weights.
    pub dtype: String,
    /// The GGML type the tensor was stored as.
    pub ggml_type: String,
    /// Present when MLX holds the tensor quantized (with `.scales` and `.biases`).
    pub quantization: Option<Quantization>,
}

/// What a GGUF model file contains, as read by MLX's GGUF loader.
#[derive(Debug, Clone, Serialize)]
pub struct GgufReport {
    pub path: PathBuf,
    pub architecture: String,
    pub config: ModelConfig,
    pub metadata_keys: usize,
    /// Number of GGUF tensors per GGML type, e.g. `{"Q4_1": 210, "F32": 61}`.
    pub ggml_types: BTreeMap<String, usize>,
    /// Number of MLX arrays (a quantized tensor becomes weight, scales and biases).
    pub mlx_arrays: usize,
    pub tensors: Vec<TensorSummary>,
}

/// Load a GGUF model through MLX and report its configuration and tensors.
///
/// The header is read and validated first (so truncated or foreign files fail with
/// [`Error::CorruptModel`]), then every tensor is loaded by MLX and its array checked
/// against the directory.
pub fn inspect_gguf(path: impl AsRef<Path>) -> Result<GgufReport> {
    let path = path.as_ref();
    let header = GgufHeader::read(path)?;
    let config = ModelConfig::from_gguf(&header)?;
    if let Some(t) = header.tensors.iter().find(|t| !t.ggml_type.mlx_native()) {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: format!("tensor type {:?} (tensor {})", t.ggml_type, t.name),
        });
    }

    let file = GgufFile::load(path).map_err(|e| Error::corrupt(path, e.to_string()))?;
    let mut arrays = file.arrays().map_err(|e| Error::Mlx(e.to_string()))?;
    let mlx_arrays = arrays.len();
    let mut ggml_types = BTreeMap::new();
    let mut tensors = Vec::with_capacity(header.tensors.len());
    for info in &header.tensors {
        *ggml_types.entry(ggml_name(info.ggml_type)).or_insert(0) += 1;
        let weight = arrays.remove(&info.name).ok_or_else(|| {
            Error::corrupt(path, format!("MLX did not load tensor {}", info.name))
        })?;
        let base = info.name.strip_suffix(".weight").unwrap_or(&info.name);
        let quantization = match arrays.remove(&format!("{base}.scales")) {
            Some(scales) => {
                // GGUF quantizes in groups of 32 along the input dimension.
                let group_size = 32u32;
                let in_features = *scales.shape().last().unwrap_or(&0) as u32 * group_size;
                let packed = *weight.shape().last().unwrap_or(&0) as u32;
                if in_features == 0 || (packed * 32) % in_features != 0 {
                    return Err(Error::corrupt(
                        path,
                        format!("tensor {} has inconsistent scales", info.name),
                    ));
                }
                Some(Quantization {
                    bits: packed * 32 / in_features,
                    group_size,
                })
            }
            None => None,
        };
        tensors.push(TensorSummary {
            name: info.name.clone(),
            shape: weight.shape().to_vec(),
            dtype: format!("{:?}", weight.dtype()).to_lowercase(),
            ggml_type: ggml_name(info.ggml_type),
            quantization,
        });
    }
    Ok(GgufReport {
        path: path.to_path_buf(),
        architecture: config.model_type.clone(),
        config,
        metadata_keys: header.metadata.len(),
        ggml_types,
        mlx_arrays,
        tensors,
    })
}

fn ggml_name(t: GgmlType) -> String {
    match t {
        GgmlType::Q4_0 => "Q4_0".into(),
        GgmlType::Q4_1 => "Q4_1".into(),
        GgmlType::Q5_0 => "Q5_0".into(),
        GgmlType::Q5_1 => "Q5_1".into(),
        GgmlType::Q8_0 => "Q8_0".into(),
        GgmlType::Q8_1 => "Q8_1".into(),
        GgmlType::Q2K => "Q2_K".into(),
        GgmlType::Q3K => "Q3_K".into(),
        GgmlType::Q4K => "Q4_K".into(),
        GgmlType::Q5K => "Q5_K".into(),
        GgmlType::Q6K => "Q6_K".into(),
        GgmlType::Q8K => "Q8_K".into(),
        other => format!("{other:?}"),
    }
}
