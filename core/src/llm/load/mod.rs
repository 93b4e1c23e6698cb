//! Loading model files into MLX arrays: mlx-community safetensors folders (single or
//! sharded, dense or affine-quantized) and GGUF files (llama.cpp names and metadata,
//! translated to the Hugging Face names and config the model files expect).

pub mod gguf;
mod gguf_names;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use mlx_rs::Array;

use mlx_rs::io::GgufFile;
use serde::Serialize;

use self::gguf::{GgmlType, GgufHeader};
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

/// Load a GGUF model: its tensors through MLX's GGUF loader, renamed to Hugging Face
/// names, and a `config.json` equivalent built from the metadata.
pub fn load_gguf(path: &Path) -> Result<(serde_json::Value, Weights, GgufHeader)> {
    let header = GgufHeader::read(path)?;
    if let Some(t) = header.tensors.iter().find(|t| !t.ggml_type.mlx_native()) {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: format!(
                "GGUF tensor type {} (tensor {}); use a Q4_0, Q4_1, Q8_0, F16 or F32 file",
                ggml_name(t.ggml_type),
                t.name
            ),
        });
    }
    let config = gguf_names::config_json(&header)?;
    let arch = config["model_type"].as_str().unwrap_or_default();
    let file = GgufFile::load(path).map_err(|e| Error::corrupt(path, e.to_string()))?;
    let loaded = file.arrays().map_err(|e| Error::Mlx(e.to_string()))?;
    let mut arrays = HashMap::with_capacity(loaded.len());
    let mut overrides = HashMap::new();
    for (name, array) in loaded {
        let Some(hf) = gguf_names::hf_name(arch, &name) else {
            continue; // e.g. rope_freqs: recomputed from the config
        };
        arrays.insert(hf, array);
    }
    for t in &header.tensors {
        let bits = match t.ggml_type {
            GgmlType::Q4_0 | GgmlType::Q4_1 => 4,
            GgmlType::Q8_0 => 8,
            _ => continue,
        };
        if let Some(hf) = gguf_names::hf_name(arch, &t.name) {
            let prefix = hf.strip_suffix(".weight").unwrap_or(&hf).to_string();
            overrides.insert(
                prefix,
                QuantSpec {
                    group_size: 32,
                    bits,
                },
            );
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
