//! Reading Whisper checkpoints into MLX arrays under one set of names, from either
//! on-disk layout users have:
//!
//! - **mlx-community** (what mlx-whisper downloads): `config.json` with OpenAI's
//!   `ModelDimensions` keys (plus `quantization` when quantized) and
//!   `weights.safetensors` or `weights.npz`, tensors named as in OpenAI's model
//!   (`encoder.blocks.0.attn.query.weight`, …), convolutions in MLX's `[out, k, in]`.
//! - **CTranslate2 / faster-whisper** (`model.bin`, any Systran/faster-whisper repo): a
//!   flat list of named variables (format in `shared/docs/fixtures.md`), PyTorch conv
//!   layout `[out, in, k]`, fused projections, fp16/fp32 or int8 with per-row scales.
//!
//! Both end up with the names [`super::model`] reads. The layouts differ in which
//! projections are stored fused: CTranslate2 stores self-attention Q/K/V as one layer
//! (`attn.qkv`) and cross-attention K/V as another (`cross_attn.kv`); mlx-community keeps
//! OpenAI's separate layers, which the model fuses as it loads them
//! ([`crate::nn::Projections`]).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use mlx_rs::{Array, Dtype};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::QuantSpec;
use crate::nn::weights::is_float;

/// OpenAI's `ModelDimensions`, the keys of an mlx-community `config.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dims {
    pub n_mels: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_vocab: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
}

/// The on-disk layout a model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightFormat {
    /// `config.json` + `weights.safetensors` / `weights.npz` (mlx-whisper).
    MlxCommunity,
    /// `model.bin` (CTranslate2, faster-whisper).
    CTranslate2,
}

/// Tensors under the model's names, with what is needed to build it.
pub struct Checkpoint {
    pub path: PathBuf,
    pub format: WeightFormat,
    pub dims: Dims,
    pub arrays: HashMap<String, Array>,
    pub quant: Option<QuantSpec>,
    pub quant_overrides: HashMap<String, QuantSpec>,
    /// `(layer, head)` pairs of the decoder's cross-attention heads that track time
    /// (word timestamps); `None`: the checkpoint does not say.
    pub alignment_heads: Option<Vec<(usize, usize)>>,
}

/// Load whichever layout `path` holds (a folder, or a `model.bin` / weights file in
/// one), cast floating-point tensors to `dtype`.
pub fn load_checkpoint(path: &Path, dtype: Dtype) -> Result<Checkpoint> {
    let dir = if path.is_file() {
        path.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        path.to_path_buf()
    };
    if !dir.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    let mut ck = if dir.join("model.bin").is_file() && !has_mlx_weights(&dir) {
        load_ctranslate2(&dir.join("model.bin"))?
    } else if has_mlx_weights(&dir) {
        load_mlx_community(&dir)?
    } else {
        return Err(Error::corrupt(
            &dir,
            "no Whisper weights: expected model.bin (CTranslate2) or config.json with \
             weights.safetensors / weights.npz (mlx-community)",
        ));
    };
    for a in ck.arrays.values_mut() {
        if is_float(a.dtype()) && a.dtype() != dtype {
            *a = a.as_dtype(dtype)?;
        }
    }
    Ok(ck)
}

fn has_mlx_weights(dir: &Path) -> bool {
    dir.join("config.json").is_file()
        && (dir.join("weights.safetensors").is_file() || dir.join("weights.npz").is_file())
}

// ---------------------------------------------------------------------------------
// mlx-community

fn load_mlx_community(dir: &Path) -> Result<Checkpoint> {
    let config_path = dir.join("config.json");
    let config = crate::files::read_json(&config_path)?;
    let dims = Dims::deserialize(&config)
        .map_err(|e| Error::corrupt(&config_path, format!("config.json: {e}")))?;
    let st = dir.join("weights.safetensors");
    let arrays = if st.is_file() {
        Array::load_safetensors(&st).map_err(|e| Error::corrupt(&st, e.to_string()))?
    } else {
        read_npz(&dir.join("weights.npz"))?
    };
    let (quant, quant_overrides) = QuantSpec::from_config(&config, &config_path)?;
    let alignment_heads = config
        .get("alignment_heads")
        .and_then(|v| serde_json::from_value::<Vec<(usize, usize)>>(v.clone()).ok());
    Ok(Checkpoint {
        path: dir.to_path_buf(),
        format: WeightFormat::MlxCommunity,
        dims,
        arrays,
        quant,
        quant_overrides,
        alignment_heads,
    })
}

/// Arrays of an `.npz` archive (what `mx.savez` / `np.savez` write): a zip of `.npy`
/// files, stored or deflated.
pub fn read_npz(path: &Path) -> Result<HashMap<String, Array>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| Error::corrupt(path, format!("not a zip archive: {e}")))?;
    let mut out = HashMap::new();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| Error::corrupt(path, format!("zip entry {i}: {e}")))?;
        let name = entry.name().trim_end_matches(".npy").to_string();
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| Error::corrupt(path, format!("{name}: {e}")))?;
        out.insert(
            name.clone(),
            parse_npy(&bytes).map_err(|r| Error::corrupt(path, format!("{name}: {r}")))?,
        );
    }
    Ok(out)
}

/// One `.npy` array (little-endian, C order).
pub fn parse_npy(bytes: &[u8]) -> std::result::Result<Array, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not an .npy array".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated .npy header")?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[i..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr").ok_or("no descr")?;
    let descr = descr.trim_start_matches(['\'', '"']);
    let descr = &descr[..descr.find(['\'', '"']).ok_or("bad descr")?];
    if field("fortran_order").is_some_and(|f| f.starts_with("True")) {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape_text = field("shape").ok_or("no shape")?;
    let shape_text = &shape_text[1..shape_text.find(')').ok_or("bad shape")?];
    let shape: Vec<i32> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i32>()
                .map_err(|_| format!("bad shape {shape_text:?}"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let (dtype, size) = match descr {
        "<f2" => (Dtype::Float16, 2),
        "<f4" => (Dtype::Float32, 4),
        "<u4" => (Dtype::Uint32, 4),
        "<i4" => (Dtype::Int32, 4),
        "<i8" => (Dtype::Int64, 8),
        "|u1" => (Dtype::Uint8, 1),
        "|i1" => (Dtype::Int8, 1),
        "<V2" | "|V2" => (Dtype::Bfloat16, 2),
        other => return Err(format!("unsupported dtype {other}")),
    };
    let data = &bytes[start + header_len..];
    let count: usize = shape.iter().map(|&d| d as usize).product();
    if data.len() < count * size {
        return Err(format!(
            "truncated: {} bytes for {count} elements",
            data.len()
        ));
    }
    Ok(array_from_bytes(&data[..count * size], &shape, dtype))
}

/// An MLX array holding a copy of little-endian `data`.
fn array_from_bytes(data: &[u8], shape: &[i32], dtype: Dtype) -> Array {
    // SAFETY: `data` holds exactly `product(shape)` elements of `dtype` (checked by the
    // callers); MLX copies the buffer, so its alignment and lifetime do not matter.
    unsafe { Array::from_raw_data(data.as_ptr().cast(), shape, dtype) }
}

// ---------------------------------------------------------------------------------
// CTranslate2

/// A `model.bin` reader that fails with a typed error on truncation instead of
/// panicking.
struct Reader<'a> {
    path: &'a Path,
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                Error::corrupt(
                    self.path,
                    format!("truncated at byte {} (wanted {n} more)", self.pos),
                )
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A u16 length that counts a trailing NUL, then the bytes.
    fn string(&mut self) -> Result<String> {
        let n = self.u16()? as usize;
        let b = self.bytes(n)?;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        String::from_utf8(b.to_vec()).map_err(|_| Error::corrupt(self.path, "a name is not UTF-8"))
    }
}

/// One variable of a CTranslate2 model.
struct Variable {
    shape: Vec<i32>,
    dtype: u8,
    data: std::ops::Range<usize>,
}

fn load_ctranslate2(path: &Path) -> Result<Checkpoint> {
    let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut r = Reader {
        path,
        data: &data,
        pos: 0,
    };
    let version = r.u32()?;
    if !(1..=6).contains(&version) {
        return Err(Error::corrupt(
            path,
            format!("not a CTranslate2 model (version {version})"),
        ));
    }
    let spec = if version >= 2 {
        r.string()?
    } else {
        String::new()
    };
    if version >= 2 && spec != "WhisperSpec" {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: format!("CTranslate2 model type {spec:?} (expected WhisperSpec)"),
        });
    }
    let _revision = if version >= 2 { r.u32()? } else { 1 };
    let count = r.u32()?;
    let mut vars: HashMap<String, Variable> = HashMap::new();
    for _ in 0..count {
        let name = r.string()?;
        let rank = r.u8()? as usize;
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(r.u32()? as i32);
        }
        let dtype = if version >= 4 { r.u8()? } else { 0 };
        let nbytes = r.u32()? as usize;
        let start = r.pos;
        r.bytes(nbytes)?;
        let elem = match dtype {
            0 | 3 => 4,
            1 => 1,
            2 | 4 | 5 => 2,
            other => {
                return Err(Error::corrupt(
                    path,
                    format!("{name}: unknown data type {other}"),
                ));
            }
        };
        let count: usize = shape.iter().map(|&d| d as usize).product();
        if count * elem != nbytes {
            return Err(Error::corrupt(
                path,
                format!("{name}: {nbytes} bytes for shape {shape:?} of type {dtype}"),
            ));
        }
        vars.insert(
            name,
            Variable {
                shape,
                dtype,
                data: start..start + nbytes,
            },
        );
    }
    let mut aliases = HashMap::new();
    if version >= 3 && r.pos < data.len() {
        let n = r.u32()?;
        for _ in 0..n {
            let alias = r.string()?;
            let target = r.string()?;
            aliases.insert(alias, target);
        }
    }
    let _ = aliases; // The only alias in Whisper specs is the tied output projection.

    let scalar = |name: &str| -> Result<i64> {
        let v = vars
            .get(name)
            .ok_or_else(|| Error::corrupt(path, format!("missing {name}")))?;
        let b = &data[v.data.clone()];
        Ok(match v.dtype {
            1 => b[0] as i8 as i64,
            2 => i16::from_le_bytes([b[0], b[1]]) as i64,
            3 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => return Err(Error::corrupt(path, format!("{name} is not an integer"))),
        })
    };
    let array = |name: &str| -> Result<Array> {
        let v = vars
            .get(name)
            .ok_or_else(|| Error::corrupt(path, format!("missing tensor {name}")))?;
        let bytes = &data[v.data.clone()];
        let dtype = match v.dtype {
            0 => Dtype::Float32,
            1 => Dtype::Int8,
            2 => Dtype::Int16,
            3 => Dtype::Int32,
            4 => Dtype::Float16,
            _ => Dtype::Bfloat16,
        };
        let a = array_from_bytes(bytes, &v.shape, dtype);
        // int8 weights come with per-row scales: w = q / scale.
        let scale_name = format!("{}_scale", name);
        if v.dtype == 1
            && let Some(s) = vars.get(&scale_name)
        {
            let sd = if s.dtype == 4 {
                Dtype::Float16
            } else {
                Dtype::Float32
            };
            let scale = array_from_bytes(&data[s.data.clone()], &s.shape, sd);
            let scale = scale.as_dtype(Dtype::Float32)?;
            let scale = if scale.ndim() == 1 {
                scale.reshape(&[-1, 1])?
            } else {
                scale
            };
            return Ok(a.as_dtype(Dtype::Float32)?.divide(&scale)?);
        }
        Ok(a)
    };
    let count_layers = |side: &str| {
        (0..)
            .take_while(|i| vars.contains_key(&format!("{side}/layer_{i}/ffn/linear_0/weight")))
            .count() as i32
    };
    for unsupported in ["decoder/alibi", "decoder/scale_embeddings"] {
        if vars.contains_key(unsupported) && scalar(unsupported)? != 0 {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: unsupported.into(),
            });
        }
    }

    let mut arrays = HashMap::new();
    let mut put = |name: String, a: Array| {
        arrays.insert(name, a);
    };
    // Convolutions: PyTorch [out, in, k] → MLX [out, k, in].
    for c in ["conv1", "conv2"] {
        put(
            format!("encoder.{c}.weight"),
            array(&format!("encoder/{c}/weight"))?.transpose_axes(&[0, 2, 1])?,
        );
        put(
            format!("encoder.{c}.bias"),
            array(&format!("encoder/{c}/bias"))?,
        );
    }
    put(
        "encoder.positional_embedding".into(),
        array("encoder/position_encodings/encodings")?,
    );
    put(
        "decoder.positional_embedding".into(),
        array("decoder/position_encodings/encodings")?,
    );
    put(
        "decoder.token_embedding.weight".into(),
        array("decoder/embeddings/weight")?,
    );
    let norm = |put: &mut dyn FnMut(String, Array), to: &str, from: &str| -> Result<()> {
        put(format!("{to}.weight"), array(&format!("{from}/gamma"))?);
        put(format!("{to}.bias"), array(&format!("{from}/beta"))?);
        Ok(())
    };
    let linear = |put: &mut dyn FnMut(String, Array), to: &str, from: &str| -> Result<()> {
        put(format!("{to}.weight"), array(&format!("{from}/weight"))?);
        put(format!("{to}.bias"), array(&format!("{from}/bias"))?);
        Ok(())
    };
    norm(&mut put, "encoder.ln_post", "encoder/layer_norm")?;
    norm(&mut put, "decoder.ln", "decoder/layer_norm")?;
    let (n_audio_layer, n_text_layer) = (count_layers("encoder"), count_layers("decoder"));
    for (side, layers) in [("encoder", n_audio_layer), ("decoder", n_text_layer)] {
        for i in 0..layers {
            let (to, from) = (format!("{side}.blocks.{i}"), format!("{side}/layer_{i}"));
            norm(
                &mut put,
                &format!("{to}.attn_ln"),
                &format!("{from}/self_attention/layer_norm"),
            )?;
            linear(
                &mut put,
                &format!("{to}.attn.qkv"),
                &format!("{from}/self_attention/linear_0"),
            )?;
            linear(
                &mut put,
                &format!("{to}.attn.out"),
                &format!("{from}/self_attention/linear_1"),
            )?;
            norm(
                &mut put,
                &format!("{to}.mlp_ln"),
                &format!("{from}/ffn/layer_norm"),
            )?;
            linear(
                &mut put,
                &format!("{to}.mlp1"),
                &format!("{from}/ffn/linear_0"),
            )?;
            linear(
                &mut put,
                &format!("{to}.mlp2"),
                &format!("{from}/ffn/linear_1"),
            )?;
            if side == "decoder" {
                norm(
                    &mut put,
                    &format!("{to}.cross_attn_ln"),
                    &format!("{from}/attention/layer_norm"),
                )?;
                linear(
                    &mut put,
                    &format!("{to}.cross_attn.query"),
                    &format!("{from}/attention/linear_0"),
                )?;
                linear(
                    &mut put,
                    &format!("{to}.cross_attn.kv"),
                    &format!("{from}/attention/linear_1"),
                )?;
                linear(
                    &mut put,
                    &format!("{to}.cross_attn.out"),
                    &format!("{from}/attention/linear_2"),
                )?;
            }
        }
    }
    let shape = |name: &str| vars.get(name).map(|v| v.shape.clone()).unwrap_or_default();
    let conv1 = shape("encoder/conv1/weight");
    let enc_pos = shape("encoder/position_encodings/encodings");
    let dec_pos = shape("decoder/position_encodings/encodings");
    let emb = shape("decoder/embeddings/weight");
    if conv1.len() != 3 || enc_pos.len() != 2 || dec_pos.len() != 2 || emb.len() != 2 {
        return Err(Error::corrupt(
            path,
            "unexpected encoder/decoder tensor shapes",
        ));
    }
    let dims = Dims {
        n_mels: conv1[1],
        n_audio_ctx: enc_pos[0],
        n_audio_state: enc_pos[1],
        n_audio_head: scalar("encoder/num_heads")? as i32,
        n_audio_layer,
        n_vocab: emb[0],
        n_text_ctx: dec_pos[0],
        n_text_state: emb[1],
        n_text_head: scalar("decoder/num_heads")? as i32,
        n_text_layer,
    };
    // faster-whisper repos keep the alignment heads in the config.json beside model.bin.
    let config = path.with_file_name("config.json");
    let alignment_heads = std::fs::read_to_string(&config)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|c| {
            serde_json::from_value::<Vec<(usize, usize)>>(c.get("alignment_heads")?.clone()).ok()
        });
    Ok(Checkpoint {
        path: path.to_path_buf(),
        format: WeightFormat::CTranslate2,
        dims,
        arrays,
        quant: None,
        quant_overrides: HashMap::new(),
        alignment_heads,
    })
}
