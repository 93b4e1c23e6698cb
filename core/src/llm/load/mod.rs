//! Loading model files into MLX arrays: mlx-community safetensors folders (single or
//! sharded, dense or affine-quantized) and GGUF files (llama.cpp names and metadata,
//! translated to the Hugging Face names and config the model files expect).

pub mod bounded;
pub mod gguf;
mod gguf_config;
mod gguf_names;
mod gguf_parse;
pub mod gguf_quants;
mod inspect;
pub mod safetensors;

pub use gguf_config::ModelConfig;
pub use gguf_parse::{MAX_HEADER_BYTES, parse_gguf_header};
pub use inspect::{GgufReport, TensorSummary, inspect_gguf};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use self::bounded::check_fits_in_memory;
use self::gguf::{GgufHeader, GgufTensor};
use self::safetensors::{load_safetensors_where, read_safetensors_header};
use crate::error::{Error, Result};
use crate::files::parse_json;
use crate::llm::models::checkpoint_name;
use crate::nn::{QuantSpec, Weights};

/// Largest JSON side file (`config.json`, the shard index) read whole: real ones take a
/// few KB, so anything this large is not one.
const MAX_JSON_BYTES: u64 = 16 << 20;

/// Read `config.json` of a model folder.
pub fn read_config(dir: &Path) -> Result<serde_json::Value> {
    read_small_json(&dir.join("config.json"))
}

/// A small JSON file, refused as corrupt above [`MAX_JSON_BYTES`] before it is read.
pub fn read_small_json(path: &Path) -> Result<serde_json::Value> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if len > MAX_JSON_BYTES {
        return Err(Error::corrupt(
            path,
            format!("{len} bytes is far too large for this JSON file"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_json(path, &bytes)
}

/// The safetensors files of a model folder: the shards named by
/// `model.safetensors.index.json` when present, else every `*.safetensors` file.
fn safetensors_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    let mut files: Vec<PathBuf> = if index.is_file() {
        let json = read_small_json(&index)?;
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

/// Load an mlx-community model folder: `config.json` plus safetensors weights. The
/// config is validated ([`crate::llm::models::spec`]) and every shard's header
/// ([`safetensors`]) before any weight is read, and the weights must fit in memory.
pub fn load_safetensors_dir(dir: &Path) -> Result<(serde_json::Value, Weights)> {
    let config = read_config(dir)?;
    let spec = crate::llm::models::spec(&config, dir)?;
    // Tensors of parts the architecture does not run are neither read nor counted.
    let model_type = spec.model_type.as_str();
    let name = move |stored: &str| checkpoint_name(model_type, stored).map(str::to_string);
    let files = safetensors_files(dir)?;
    let mut needed = 0u64;
    for file in &files {
        let header = read_safetensors_header(file)?;
        needed = needed.saturating_add(header.data_bytes_where(|n| name(n).is_some()));
    }
    check_fits_in_memory(dir, needed)?;
    let mut arrays = HashMap::new();
    for file in &files {
        for (stored, array) in load_safetensors_where(file, |n| name(n).is_some())? {
            let renamed = name(&stored).unwrap_or_else(|| stored.clone());
            if arrays.insert(renamed, array).is_some() {
                return Err(Error::corrupt(
                    file,
                    format!("tensor {stored} appears twice among the shards"),
                ));
            }
        }
    }
    let (quant, overrides) = QuantSpec::from_config(&config, dir)?;
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
/// it rejects whole files as soon as they hold a k-quant. The header and the config it
/// states are validated, and the tensors must fit in memory, before any data is read.
pub fn load_gguf(path: &Path) -> Result<(serde_json::Value, Weights, GgufHeader)> {
    let header = GgufHeader::read(path)?;
    header.check_types()?;
    let config = gguf_config::config_json(&header)?;
    check_fits_in_memory(path, header.loaded_bytes())?;
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
