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
use crate::llm::load::bounded::{bytes_of, check_fits_in_memory, elements};
use crate::llm::load::read_small_json;
use crate::llm::load::safetensors::load_safetensors;
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

impl Dims {
    /// Every dimension positive and below a bound far above real Whisper models (so
    /// nothing derived from them overflows or allocates absurdly), the heads dividing
    /// the widths: a bad `config.json` or `model.bin` fails here naming the key, before
    /// any tensor is read, instead of dividing by zero or failing inside MLX.
    pub fn validate(&self, path: &Path) -> Result<()> {
        const STATE: i32 = 1 << 14;
        let bounds = [
            ("n_mels", self.n_mels, 1 << 10),
            ("n_audio_ctx", self.n_audio_ctx, 1 << 16),
            ("n_audio_state", self.n_audio_state, STATE),
            ("n_audio_head", self.n_audio_head, 1 << 10),
            ("n_audio_layer", self.n_audio_layer, 1 << 8),
            ("n_vocab", self.n_vocab, 1 << 20),
            ("n_text_ctx", self.n_text_ctx, 1 << 16),
            ("n_text_state", self.n_text_state, STATE),
            ("n_text_head", self.n_text_head, 1 << 10),
            ("n_text_layer", self.n_text_layer, 1 << 8),
        ];
        let bad = |reason: String| Error::corrupt(path, format!("bad config: {reason}"));
        for (key, v, max) in bounds {
            if !(1..=max).contains(&v) {
                return Err(bad(format!("{key} = {v} is out of range (1..={max})")));
            }
        }
        for (state, head, s, h) in [
            (
                "n_audio_state",
                "n_audio_head",
                self.n_audio_state,
                self.n_audio_head,
            ),
            (
                "n_text_state",
                "n_text_head",
                self.n_text_state,
                self.n_text_head,
            ),
        ] {
            if s % h != 0 {
                return Err(bad(format!("{head} = {h} does not divide {state} = {s}")));
            }
        }
        Ok(())
    }
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
    let config = read_small_json(&config_path)?;
    let dims = Dims::deserialize(&config)
        .map_err(|e| Error::corrupt(&config_path, format!("config.json: {e}")))?;
    dims.validate(&config_path)?;
    let (quant, quant_overrides) = QuantSpec::from_config(&config, &config_path)?;
    let st = dir.join("weights.safetensors");
    let arrays = if st.is_file() {
        load_safetensors(&st)?
    } else {
        read_npz(&dir.join("weights.npz"))?
    };
    check_mlx_tensors(&dims, &arrays, dir)?;
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

/// The checkpoint's tensors must agree with its config where it is cheap to see: the
/// token embedding's rows are the vocabulary, and each side has as many blocks as the
/// config says (a config claiming more or fewer would otherwise fail later, less clearly).
fn check_mlx_tensors(dims: &Dims, arrays: &HashMap<String, Array>, dir: &Path) -> Result<()> {
    let bad = |reason: String| Error::corrupt(dir, format!("bad config: {reason}"));
    if let Some(emb) = arrays.get("decoder.token_embedding.weight")
        && emb.shape().first() != Some(&dims.n_vocab)
    {
        return Err(bad(format!(
            "n_vocab = {} but decoder.token_embedding.weight has shape {:?}",
            dims.n_vocab,
            emb.shape()
        )));
    }
    for (side, key, n) in [
        ("encoder", "n_audio_layer", dims.n_audio_layer),
        ("decoder", "n_text_layer", dims.n_text_layer),
    ] {
        let prefix = format!("{side}.blocks.");
        let mut blocks: Vec<&str> = arrays
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix)?.split('.').next())
            .collect();
        blocks.sort_unstable();
        blocks.dedup();
        if blocks.len() != n as usize {
            return Err(bad(format!(
                "{key} = {n} but the weights hold {} {side} blocks",
                blocks.len()
            )));
        }
    }
    Ok(())
}

/// Arrays of an `.npz` archive (what `mx.savez` / `np.savez` write): a zip of `.npy`
/// files, stored or deflated. The sizes the archive declares must fit in memory, and no
/// entry may inflate beyond its declared size.
pub fn read_npz(path: &Path) -> Result<HashMap<String, Array>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| Error::corrupt(path, format!("not a zip archive: {e}")))?;
    let mut declared = 0u64;
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| Error::corrupt(path, format!("zip entry {i}: {e}")))?;
        declared = declared.saturating_add(entry.size());
    }
    check_fits_in_memory(path, declared)?;
    let mut out = HashMap::new();
    for i in 0..zip.len() {
        let entry = zip
            .by_index(i)
            .map_err(|e| Error::corrupt(path, format!("zip entry {i}: {e}")))?;
        let name = entry.name().trim_end_matches(".npy").to_string();
        let size = entry.size();
        let mut bytes = Vec::new();
        entry
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::corrupt(path, format!("{name}: {e}")))?;
        if bytes.len() as u64 != size {
            return Err(Error::corrupt(
                path,
                format!(
                    "{name}: {} bytes where the archive declares {size}",
                    bytes.len()
                ),
            ));
        }
        out.insert(
            name.clone(),
            parse_npy(&bytes).map_err(|r| Error::corrupt(path, format!("{name}: {r}")))?,
        );
    }
    Ok(out)
}

/// One `.npy` array (little-endian, C order).
pub fn parse_npy(bytes: &[u8]) -> std::result::Result<Array, String> {
    let (shape, dtype, data) = parse_npy_header(bytes)?;
    Ok(array_from_bytes(data, &shape, dtype))
}

/// The header of one `.npy` array: shape, dtype and exactly the data bytes they need
/// (checked without overflow). Also the fuzz entry point for `.npy`: never touches MLX.
pub fn parse_npy_header(bytes: &[u8]) -> std::result::Result<(Vec<i32>, Dtype, &[u8]), String> {
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
    let data_start = start + header_len;
    let header = bytes
        .get(start..data_start)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated .npy header")?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header
            .get(i..)?
            .trim_start()
            .strip_prefix(':')?
            .trim_start();
        Some(rest)
    };
    let descr = field("descr").ok_or("no descr")?;
    let descr = descr.trim_start_matches(['\'', '"']);
    let descr = &descr[..descr.find(['\'', '"']).ok_or("bad descr")?];
    if field("fortran_order").is_some_and(|f| f.starts_with("True")) {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape_text = field("shape").ok_or("no shape")?;
    let shape_text = shape_text
        .strip_prefix('(')
        .and_then(|t| t.get(..t.find(')')?))
        .ok_or("bad shape")?;
    let shape: Vec<i32> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i32>()
                .ok()
                .filter(|&d| d >= 0)
                .ok_or_else(|| format!("bad shape {shape_text:?}"))
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
    let data = &bytes[data_start..];
    let need = elements(shape.iter().map(|&d| d as u64)).and_then(|n| bytes_of(n, size));
    match need.and_then(|n| data.get(..usize::try_from(n).ok()?)) {
        Some(data) => Ok((shape, dtype, data)),
        None => Err(format!(
            "truncated: {} bytes for shape {shape:?} of {descr}",
            data.len()
        )),
    }
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
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let b = self.bytes(N)?;
        Ok(b.try_into().unwrap_or([0; N]))
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// A u16 length that counts a trailing NUL, then the bytes.
    fn string(&mut self) -> Result<String> {
        let n = self.u16()? as usize;
        let b = self.bytes(n)?;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        String::from_utf8(b.to_vec()).map_err(|_| Error::corrupt(self.path, "a name is not UTF-8"))
    }
}

/// A parsed CTranslate2 `model.bin`: its variables (validated shapes and byte ranges
/// into the bytes it was parsed from) and aliases.
#[derive(Debug, Clone, PartialEq)]
pub struct Ct2Model {
    pub version: u32,
    /// The model spec's name (always `WhisperSpec` once parsed).
    pub spec: String,
    pub variables: HashMap<String, Ct2Variable>,
    pub aliases: HashMap<String, String>,
}

/// One variable of a CTranslate2 model.
#[derive(Debug, Clone, PartialEq)]
pub struct Ct2Variable {
    /// Every dimension within `0..=i32::MAX`.
    pub shape: Vec<i32>,
    /// CTranslate2's type code: 0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16.
    pub dtype: u8,
    /// Exactly shape × element size bytes, inside the parsed bytes.
    pub data: std::ops::Range<usize>,
}

/// Largest rank accepted (CTranslate2 writes at most 4).
const CT2_MAX_RANK: u8 = 8;

/// Parse and validate a CTranslate2 `model.bin` held in memory: header, variable table
/// (each variable's shape × type must equal its byte count, checked without overflow)
/// and aliases. Also the fuzz entry point for CTranslate2: never touches MLX, never
/// allocates in proportion to a number in the bytes; the loader runs the same parser.
/// Errors name `<memory>`.
pub fn parse_ctranslate2(bytes: &[u8]) -> Result<Ct2Model> {
    parse_ct2(bytes, Path::new("<memory>"))
}

/// The one `model.bin` parser; `path` names the file in errors.
fn parse_ct2(data: &[u8], path: &Path) -> Result<Ct2Model> {
    let mut r = Reader { path, data, pos: 0 };
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
    let mut variables = HashMap::new();
    for _ in 0..count {
        let (name, var) = ct2_variable(&mut r, version)?;
        if variables.insert(name.clone(), var).is_some() {
            return Err(Error::corrupt(path, format!("duplicate variable {name}")));
        }
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
    Ok(Ct2Model {
        version,
        spec,
        variables,
        aliases,
    })
}

/// One entry of the variable table: name, rank, dims, type, byte count, data.
fn ct2_variable(r: &mut Reader, version: u32) -> Result<(String, Ct2Variable)> {
    let path = r.path;
    let name = r.string()?;
    let rank = r.u8()?;
    if rank > CT2_MAX_RANK {
        return Err(Error::corrupt(path, format!("{name}: rank {rank}")));
    }
    let mut shape = Vec::with_capacity(rank as usize);
    for _ in 0..rank {
        let d = r.u32()?;
        let d = i32::try_from(d).map_err(|_| {
            Error::corrupt(path, format!("{name}: dimension {d} (at most 2^31 − 1)"))
        })?;
        shape.push(d);
    }
    let dtype = if version >= 4 { r.u8()? } else { 0 };
    let elem: u64 = match dtype {
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
    let nbytes = r.u32()? as usize;
    let start = r.pos;
    r.bytes(nbytes)?;
    let need = elements(shape.iter().map(|&d| d as u64)).and_then(|n| bytes_of(n, elem));
    if need != Some(nbytes as u64) {
        return Err(Error::corrupt(
            path,
            format!("{name}: {nbytes} bytes for shape {shape:?} of type {dtype}"),
        ));
    }
    let var = Ct2Variable {
        shape,
        dtype,
        data: start..start + nbytes,
    };
    Ok((name, var))
}

impl Ct2Model {
    fn var(&self, name: &str, path: &Path) -> Result<&Ct2Variable> {
        self.variables
            .get(name)
            .ok_or_else(|| Error::corrupt(path, format!("missing {name}")))
    }

    /// An integer variable holding exactly one value.
    fn scalar(&self, data: &[u8], name: &str, path: &Path) -> Result<i64> {
        let v = self.var(name, path)?;
        let b = &data[v.data.clone()];
        let value = match (v.dtype, b) {
            (1, &[x]) => x as i8 as i64,
            (2, &[a, b]) => i16::from_le_bytes([a, b]) as i64,
            (3, &[a, b, c, d]) => i32::from_le_bytes([a, b, c, d]) as i64,
            _ => {
                return Err(Error::corrupt(
                    path,
                    format!("{name} is not one integer (shape {:?})", v.shape),
                ));
            }
        };
        Ok(value)
    }

    /// The shape of `name`, which must have `rank` dimensions.
    fn shape(&self, name: &str, rank: usize, path: &Path) -> Result<&[i32]> {
        let v = self.var(name, path)?;
        if v.shape.len() != rank {
            return Err(Error::corrupt(
                path,
                format!("{name} has shape {:?}, not {rank} dimensions", v.shape),
            ));
        }
        Ok(&v.shape)
    }

    /// The model's dimensions, from the shapes of its tensors and its head counts,
    /// consistent with each other ([`Dims::validate`]).
    fn dims(&self, data: &[u8], path: &Path) -> Result<Dims> {
        let conv1 = self.shape("encoder/conv1/weight", 3, path)?;
        let enc_pos = self.shape("encoder/position_encodings/encodings", 2, path)?;
        let dec_pos = self.shape("decoder/position_encodings/encodings", 2, path)?;
        let emb = self.shape("decoder/embeddings/weight", 2, path)?;
        let heads = |name: &str| -> Result<i32> {
            let n = self.scalar(data, name, path)?;
            i32::try_from(n).map_err(|_| Error::corrupt(path, format!("bad config: {name} = {n}")))
        };
        let count_layers = |side: &str| {
            (0..)
                .take_while(|i| {
                    self.variables
                        .contains_key(&format!("{side}/layer_{i}/ffn/linear_0/weight"))
                })
                .count() as i32
        };
        let dims = Dims {
            n_mels: conv1[1],
            n_audio_ctx: enc_pos[0],
            n_audio_state: enc_pos[1],
            n_audio_head: heads("encoder/num_heads")?,
            n_audio_layer: count_layers("encoder"),
            n_vocab: emb[0],
            n_text_ctx: dec_pos[0],
            n_text_state: emb[1],
            n_text_head: heads("decoder/num_heads")?,
            n_text_layer: count_layers("decoder"),
        };
        dims.validate(path)?;
        if conv1[0] != dims.n_audio_state || dec_pos[1] != dims.n_text_state {
            return Err(Error::corrupt(
                path,
                format!(
                    "encoder/conv1/weight {conv1:?} and decoder/position_encodings {dec_pos:?} \
                     do not match the model's widths {dims:?}"
                ),
            ));
        }
        Ok(dims)
    }
}

fn load_ctranslate2(path: &Path) -> Result<Checkpoint> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    check_fits_in_memory(path, len)?;
    let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let model = parse_ct2(&data, path)?;
    let dims = model.dims(&data, path)?;
    let vars = &model.variables;
    for unsupported in ["decoder/alibi", "decoder/scale_embeddings"] {
        if vars.contains_key(unsupported) && model.scalar(&data, unsupported, path)? != 0 {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: unsupported.into(),
            });
        }
    }
    let array = |name: &str| -> Result<Array> {
        let v = model.var(name, path)?;
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
            let rows = v.shape.first().copied().unwrap_or(0);
            let scales: i64 = s.shape.iter().map(|&d| d as i64).product();
            if !matches!(s.dtype, 0 | 4) || scales != rows as i64 {
                return Err(Error::corrupt(
                    path,
                    format!(
                        "{scale_name} {:?} does not scale {name} {:?}",
                        s.shape, v.shape
                    ),
                ));
            }
            let sd = if s.dtype == 4 {
                Dtype::Float16
            } else {
                Dtype::Float32
            };
            let scale = array_from_bytes(&data[s.data.clone()], &s.shape, sd);
            let scale = scale.as_dtype(Dtype::Float32)?.reshape(&[-1, 1])?;
            return Ok(a.as_dtype(Dtype::Float32)?.divide(&scale)?);
        }
        Ok(a)
    };
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
    for (side, layers) in [
        ("encoder", dims.n_audio_layer),
        ("decoder", dims.n_text_layer),
    ] {
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

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Dims = Dims {
        n_mels: 80,
        n_audio_ctx: 1500,
        n_audio_state: 512,
        n_audio_head: 8,
        n_audio_layer: 6,
        n_vocab: 51865,
        n_text_ctx: 448,
        n_text_state: 512,
        n_text_head: 8,
        n_text_layer: 6,
    };

    #[test]
    fn dims_out_of_range_or_not_dividing_are_bad_configs() {
        let p = Path::new("config.json");
        assert!(BASE.validate(p).is_ok());
        for (dims, key) in [
            (
                Dims {
                    n_audio_head: 0,
                    ..BASE
                },
                "n_audio_head",
            ),
            (
                Dims {
                    n_text_head: 7,
                    ..BASE
                },
                "n_text_head = 7 does not divide",
            ),
            (
                Dims {
                    n_vocab: -1,
                    ..BASE
                },
                "n_vocab",
            ),
            (
                Dims {
                    n_text_layer: 1 << 30,
                    ..BASE
                },
                "n_text_layer",
            ),
        ] {
            match dims.validate(p) {
                Err(Error::CorruptModel { reason, .. }) => {
                    assert!(reason.contains(key), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    fn npy(header: &str, data: usize) -> Vec<u8> {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((header.len() as u16).to_le_bytes());
        b.extend(header.as_bytes());
        b.resize(b.len() + data, 0);
        b
    }

    #[test]
    fn npy_header_sizes_are_checked() {
        let ok = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            24,
        );
        let (shape, dtype, data) = parse_npy_header(&ok).unwrap();
        assert_eq!((shape, dtype, data.len()), (vec![2, 3], Dtype::Float32, 24));
        for (header, data) in [
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                23,
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }",
                24,
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647, 2147483647), }",
                0,
            ),
            ("{'descr': '<f4', 'shape': 2", 0),
            ("{'descr': '<f4', 'fortran_order': False, 'shape'", 0),
        ] {
            assert!(parse_npy_header(&npy(header, data)).is_err(), "{header}");
        }
        let mut long = npy("{}", 0);
        long[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(parse_npy_header(&long).is_err());
    }

    #[test]
    fn ctranslate2_table_rejects_overflowing_dims() {
        let mut b = 6u32.to_le_bytes().to_vec();
        let name = |b: &mut Vec<u8>, s: &str| {
            b.extend(((s.len() + 1) as u16).to_le_bytes());
            b.extend(s.as_bytes());
            b.push(0);
        };
        name(&mut b, "WhisperSpec");
        b.extend(1u32.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        name(&mut b, "w");
        b.push(2);
        b.extend(0x7FFF_FFFFu32.to_le_bytes());
        b.extend(0x7FFF_FFFFu32.to_le_bytes());
        b.push(0);
        b.extend(4u32.to_le_bytes());
        b.extend([0; 4]);
        match parse_ctranslate2(&b) {
            Err(Error::CorruptModel { reason, .. }) => {
                assert!(reason.contains("4 bytes"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}
