//! Loading model files into MLX arrays: mlx-community safetensors folders (single or
//! sharded, dense or affine-quantized) and GGUF files (llama.cpp names and metadata,
//! translated to the Hugging Face names and config the model files expect).

pub mod gguf;
mod gguf_names;
pub mod gguf_quants;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use mlx_rs::Array;
use serde::Serialize;

use self::gguf::{GgufHeader, GgufTensor};
use super::config::ModelConfig;
use super::layers::{QuantSpec, Weights};
use crate::error::{Error, Result};

/// Read `config.json` of a model folder.
pub fn read_config(dir: &Path) -> Result<serde_json::Value> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::corrupt(&path, format!("invalid JSON: {e}")))
}

/// The safetensors files of a model folder: the shards named by
/// `model.safetensors.index.json` when present, else every `*.safetensors` file.
fn safetensors_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    let mut files: Vec<PathBuf> = if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(&index, format!("invalid JSON: {e}")))?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::corrupt(&index, "no weight_map"))?;
        let mut names: Vec<&str> = map.values().filter_map(|v| v.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names.into_iter().map(|n| dir.join(n)).collect()
    } else {
        std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect()
    };
    files.sort();
    if files.is_empty() {
        return Err(Error::corrupt(dir, "no .safetensors weights in the folder"));
    }
    for f in &files {
        if !f.is_file() {
            return Err(Error::corrupt(
                dir,
                format!("missing weight shard {}", f.display()),
            ));
        }
    }
    Ok(files)
}

/// The checkpoint's quantization: `config.json` → `quantization` (mlx-lm) or
/// `quantization_config`, with per-layer overrides as nested tables.
fn quantization(
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
            group_size: v.get("group_size")?.as_i64()? as i32,
            bits: v.get("bits")?.as_i64()? as i32,
        })
    };
    let default =
        spec(q).ok_or_else(|| Error::corrupt(path, "quantization lacks group_size or bits"))?;
    let overrides = q
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| spec(v).map(|s| (k.clone(), s)))
                .collect()
        })
        .unwrap_or_default();
    Ok((Some(default), overrides))
}

/// Load an mlx-community model folder: `config.json` plus safetensors weights.
pub fn load_safetensors_dir(dir: &Path) -> Result<(serde_json::Value, Weights)> {
    let config = read_config(dir)?;
    let mut arrays = HashMap::new();
    for file in safetensors_files(dir)? {
        let loaded =
            Array::load_safetensors(&file).map_err(|e| Error::corrupt(&file, e.to_string()))?;
        arrays.extend(loaded);
    }
    let (quant, overrides) = quantization(&config, dir)?;
    Ok((
        config,
        Weights::new(dir, arrays, quant).with_overrides(overrides),
    ))
}

/// Load a GGUF model: every tensor read by our GGUF reader
/// ([`GgufHeader::read_tensor`]: floats as stored; `Q4_0`/`Q4_1`/`Q5_0`/`Q5_1`/`Q8_0`/
/// `Q4_K`/`Q5_K` repacked as MLX affine 4/5/8-bit arrays; `Q2_K`/`Q3_K`/`Q6_K`/`Q8_K`
/// dequantized and re-quantized to 8-bit), renamed to Hugging Face names, and a
/// `config.json` equivalent built from the metadata. MLX's own GGUF loader is not used:
/// it rejects whole files as soon as they hold a k-quant.
pub fn load_gguf(path: &Path) -> Result<(serde_json::Value, Weights, GgufHeader)> {
    let header = GgufHeader::read(path)?;
    header.check_types()?;
    let config = gguf_names::config_json(&header)?;
    let arch = config["model_type"].as_str().unwrap_or_default();
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut arrays = HashMap::with_capacity(header.tensors.len() * 3);
    let mut overrides = HashMap::new();
    for t in &header.tensors {
        let Some(hf) = gguf_names::hf_name(arch, &t.name) else {
            continue; // e.g. rope_freqs: recomputed from the config
        };
        match header.read_tensor(&mut file, t)? {
            GgufTensor::Float(array) => {
                arrays.insert(hf, array);
            }
            GgufTensor::Quantized {
                weight,
                scales,
                biases,
                bits,
            } => {
                let prefix = hf.strip_suffix(".weight").unwrap_or(&hf).to_string();
                arrays.insert(format!("{prefix}.scales"), scales);
                arrays.insert(format!("{prefix}.biases"), biases);
                arrays.insert(hf, weight);
                let group_size = gguf_quants::AFFINE_GROUP_SIZE;
                overrides.insert(prefix, QuantSpec { group_size, bits });
            }
        }
    }
    let weights = Weights::new(path, arrays, None).with_overrides(overrides);
    Ok((config, weights, header))
}

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
            GgufTensor::Quantized { weight, bits, .. } => {
                let group_size = gguf_quants::AFFINE_GROUP_SIZE as u32;
                (
                    weight,
                    Some(Quantization {
                        bits: bits as u32,
                        group_size,
                    }),
                )
            }
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
