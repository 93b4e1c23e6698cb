//! What a GGUF model file holds, as Murmur loads it into MLX (`murmur inspect`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::gguf::{GgufHeader, GgufTensor};
use super::gguf_config::ModelConfig;
use super::gguf_quants;
use crate::error::{Error, Result};
use crate::nn::QuantSpec;

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
    pub quantization: Option<QuantSpec>,
}

/// What a GGUF model file contains, as Murmur loads it into MLX.
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

/// Load a GGUF model's tensors as [`load_gguf`] does and report its configuration and
/// the MLX arrays (one tensor at a time, so only one is in memory at once).
///
/// The header is read and validated first (so truncated or foreign files fail with
/// [`Error::CorruptModel`], unsupported tensor types with [`Error::Unsupported`]), then
/// every tensor is read and converted.
pub fn inspect_gguf(path: impl AsRef<Path>) -> Result<GgufReport> {
    let path = path.as_ref();
    let header = GgufHeader::read(path)?;
    let config = ModelConfig::from_gguf(&header)?;
    header.check_types()?;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut mlx_arrays = 0;
    let mut ggml_types = BTreeMap::new();
    let mut tensors = Vec::with_capacity(header.tensors.len());
    for info in &header.tensors {
        *ggml_types.entry(info.ggml_type.to_string()).or_insert(0) += 1;
        let (weight, quantization) = match header.read_tensor(&mut file, info)? {
            GgufTensor::Float(array) => (array, None),
            GgufTensor::Quantized { weight, bits, .. } => (
                weight,
                Some(QuantSpec {
                    bits,
                    group_size: gguf_quants::AFFINE_GROUP_SIZE,
                }),
            ),
        };
        mlx_arrays += if quantization.is_some() { 3 } else { 1 };
        tensors.push(TensorSummary {
            name: info.name.clone(),
            shape: weight.shape().to_vec(),
            dtype: format!("{:?}", weight.dtype()).to_lowercase(),
            ggml_type: info.ggml_type.to_string(),
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
