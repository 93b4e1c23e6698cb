//! A reader for GGUF files: the header (metadata and tensor directory) and each
//! tensor's data, turned into MLX arrays.
//!
//! MLX's own GGUF loader cannot list metadata keys and rejects a whole file as soon as
//! one tensor is a k-quant (`Q4_K`, `Q6_K`, ...), which is most GGUF files people have
//! (`Q4_K_M`, `Q5_K_M`). So we read everything ourselves: the full metadata
//! (architecture, hyper-parameters, tokenizer vocabulary, chat template), each tensor's
//! GGML type and offset (parsed and validated in `gguf_parse`, so corrupt or hostile
//! files fail with a clear error), and the tensor data ([`GgufHeader::read_tensor`];
//! block formats are decoded in `gguf_quants`).
//!
//! Format (little-endian): magic `GGUF`, u32 version (2 or 3), u64 tensor count, u64
//! metadata count, the metadata key/values, the tensor infos (name, rank, dims, type,
//! offset), then tensor data aligned to `general.alignment` (default 32).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use mlx_rs::{Array, ArrayElement, ops, transforms};

use super::bounded::{check_fits_in_memory, dim_i32};
pub use super::gguf_quants::GgmlType;
use super::gguf_quants::{self, AFFINE_GROUP_SIZE};
use crate::error::{Error, Result};

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, when it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, when it is numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One entry of the tensor directory.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions in GGUF order (fastest-varying first), as stored.
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset of the data relative to the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements (saturating: absurd dims from a corrupt file then fail the
    /// size check instead of overflowing).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |n, &d| n.saturating_mul(d))
    }

    /// Size of the tensor's data in bytes, when the type is known.
    pub fn n_bytes(&self) -> Option<u64> {
        let (per_block, bytes) = self.ggml_type.block()?;
        Some(self.n_elements().div_ceil(per_block).saturating_mul(bytes))
    }
}

/// The parsed header of a GGUF file.
#[derive(Debug, Clone)]
pub struct GgufHeader {
    pub path: PathBuf,
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    /// Absolute file offset of the tensor data section.
    pub data_offset: u64,
}

impl GgufHeader {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// `general.architecture`, e.g. "llama" or "qwen3".
    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture").and_then(Value::as_str)
    }

    /// An architecture-scoped key: `arch_key("block_count")` reads `<arch>.block_count`.
    pub fn arch_key(&self, key: &str) -> Option<&Value> {
        let arch = self.architecture()?;
        self.get(&format!("{arch}.{key}"))
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Memory the tensors take once loaded as [`Self::read_tensor`] makes them: about
    /// their size in the file, 9 bits per weight for re-quantized formats, f16 for 1-D
    /// block tensors. For refusing a model that cannot fit before reading it.
    pub fn loaded_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .map(|t| {
                let n = t.n_elements();
                match t.ggml_type {
                    _ if t.dims.len() < 2 && t.ggml_type.block().is_some_and(|(b, _)| b > 1) => {
                        n.saturating_mul(2)
                    }
                    ty if ty.block().is_some_and(|(b, _)| b > 1)
                        && gguf_quants::affine_bits(ty).is_none() =>
                    {
                        n.saturating_mul(REQUANT_BITS as u64 + 1) / 8
                    }
                    _ => t.n_bytes().unwrap_or(0),
                }
            })
            .fold(0, u64::saturating_add)
    }
}

/// A GGUF tensor in the form Murmur runs it with MLX.
pub enum GgufTensor {
    /// Float data: `F32`/`F16`/`BF16` as stored, or a 1-D block-format tensor (rare)
    /// dequantized to f16.
    Float(Array),
    /// MLX affine quantization with group size 32: `weight` uint32-packed, `scales`
    /// and `biases` f16, shaped like the tensor with the last axis packed / grouped.
    Quantized {
        weight: Array,
        scales: Array,
        biases: Array,
        bits: i32,
    },
}

/// Bits of the MLX affine quantization (group 32) that the block formats without an MLX
/// equivalent (`Q2_K`, `Q3_K`, `Q6_K`: 16-element sub-blocks; `Q8_K`) are re-quantized to
/// after dequantization. 8 bits: a coarser grid fitted over values already rounded to
/// another grid adds an error of the order of the original quantization. Measured on the
/// tiny llama of tests/llm_gguf.rs with every non-MLX-native tensor re-quantized, the
/// logits move by ~1% of their scale at 8 bits, ~3.5% at 6 and ~20% at 4; 8 bits take 9
/// bits per weight in memory (with the f16 scale and bias per 32) instead of 16 for f16.
pub const REQUANT_BITS: i32 = 8;

/// Rows of a re-quantized tensor are processed in chunks of about this many elements,
/// so the transient f16 copy stays small even for a large embedding table.
const REQUANT_CHUNK_ELEMENTS: usize = 1 << 22;

impl GgufHeader {
    /// Every tensor's type must be one [`Self::read_tensor`] reads: otherwise
    /// [`Error::Unsupported`] naming the type and the first tensor that has it, before
    /// any data is read.
    pub fn check_types(&self) -> Result<()> {
        match self.tensors.iter().find(|t| !t.ggml_type.supported()) {
            Some(t) => Err(self.unsupported_type(t)),
            None => Ok(()),
        }
    }

    fn unsupported_type(&self, t: &TensorInfo) -> Error {
        Error::Unsupported {
            path: self.path.clone(),
            what: format!(
                "GGUF tensor type {} (tensor {}); supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, \
                 Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K",
                t.ggml_type, t.name
            ),
        }
    }

    /// Read tensor `t` of this header from `file` (the file the header came from):
    /// - `F32`, `F16`, `BF16`: as stored;
    /// - `Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`, `Q8_0`, `Q4_K`, `Q5_K`: repacked as MLX affine
    ///   4/5/8-bit arrays ([`gguf_quants::to_affine`]: lossless, bit-identical to MLX's own
    ///   GGUF loader for the three it reads; the k-quants' sub-block scales rounded to f16);
    /// - `Q2_K`, `Q3_K`, `Q6_K`, `Q8_K`: dequantized exactly as llama.cpp does, rounded to
    ///   f16 and re-quantized to [`REQUANT_BITS`]-bit MLX affine arrays (MLX has no
    ///   kernels for GGML's layouts, and f16 would take 2–4× the file's memory).
    ///
    /// 1-D block-format tensors become f16 (norm weights are read whole by the models).
    pub fn read_tensor(&self, file: &mut File, t: &TensorInfo) -> Result<GgufTensor> {
        if !t.ggml_type.supported() {
            return Err(self.unsupported_type(t));
        }
        let data = self.tensor_data(file, t)?;
        let shape = self.mlx_shape(t)?;
        let (path, name) = (self.path.as_path(), t.name.as_str());
        let ty = t.ggml_type;
        let tensor = match ty {
            GgmlType::F32 => GgufTensor::Float(new_array(
                &le_values(&data, f32::from_le_bytes),
                &shape,
                path,
                name,
            )?),
            GgmlType::F16 => GgufTensor::Float(new_array(
                &le_values(&data, f16::from_le_bytes),
                &shape,
                path,
                name,
            )?),
            GgmlType::BF16 => GgufTensor::Float(new_array(
                &le_values(&data, bf16::from_le_bytes),
                &shape,
                path,
                name,
            )?),
            _ if shape.len() < 2 => {
                GgufTensor::Float(new_array(&to_f16(ty, &data), &shape, path, name)?)
            }
            _ if gguf_quants::affine_bits(ty).is_some() => {
                let a =
                    gguf_quants::to_affine(ty, &data).ok_or_else(|| self.unsupported_type(t))?;
                let (weight_shape, group_shape) = packed_shapes(&shape, a.bits);
                GgufTensor::Quantized {
                    weight: new_array(&a.weight, &weight_shape, path, name)?,
                    scales: new_array(&a.scales, &group_shape, path, name)?,
                    biases: new_array(&a.biases, &group_shape, path, name)?,
                    bits: a.bits,
                }
            }
            _ => self.requantize(t, &data, &shape)?,
        };
        Ok(tensor)
    }

    /// Dequantize a block-format matrix to f16 and quantize it to MLX affine
    /// [`REQUANT_BITS`]-bit, a chunk of rows at a time.
    fn requantize(&self, t: &TensorInfo, data: &[u8], shape: &[i32]) -> Result<GgufTensor> {
        let (per_block, block_bytes) = t.ggml_type.block().unwrap_or((1, 1));
        let cols = *shape.last().unwrap_or(&0) as usize;
        let row_bytes = cols / per_block as usize * block_bytes as usize;
        if row_bytes == 0 || data.is_empty() {
            return Err(Error::corrupt(
                &self.path,
                format!("tensor {} is empty", t.name),
            ));
        }
        let chunk_rows = (REQUANT_CHUNK_ELEMENTS / cols).max(1);
        let (mut weights, mut scales, mut biases) = (Vec::new(), Vec::new(), Vec::new());
        for chunk in data.chunks(row_bytes * chunk_rows) {
            let rows = (chunk.len() / row_bytes) as i32;
            let dense = new_array(
                &to_f16(t.ggml_type, chunk),
                &[rows, cols as i32],
                &self.path,
                &t.name,
            )?;
            let (w, s, b) = ops::quantize(&dense, AFFINE_GROUP_SIZE, REQUANT_BITS)?;
            transforms::eval([&w, &s, &b])?;
            weights.push(w);
            scales.push(s);
            biases.push(b);
        }
        let (weight_shape, group_shape) = packed_shapes(shape, REQUANT_BITS);
        let join = |parts: Vec<Array>, shape: &[i32]| -> Result<Array> {
            let joined = match <[Array; 1]>::try_from(parts) {
                Ok([one]) => one,
                Err(parts) => ops::concatenate(&parts, 0)?,
            };
            let joined = joined.reshape(shape)?;
            joined.eval()?;
            Ok(joined)
        };
        Ok(GgufTensor::Quantized {
            weight: join(weights, &weight_shape)?,
            scales: join(scales, &group_shape)?,
            biases: join(biases, &group_shape)?,
            bits: REQUANT_BITS,
        })
    }

    /// The MLX shape of `t` (GGUF dims reversed; checked by [`Self::check_tensor`]).
    fn mlx_shape(&self, t: &TensorInfo) -> Result<Vec<i32>> {
        let bad = || Error::corrupt(&self.path, format!("tensor {} dims {:?}", t.name, t.dims));
        t.dims
            .iter()
            .rev()
            .map(|&d| dim_i32(d).ok_or_else(bad))
            .collect()
    }

    /// The raw bytes of `t`, read from its place in the data section once its entry is
    /// checked again ([`Self::check_tensor`]: `t` may come from anywhere) against the
    /// file as it is now, and its size against memory.
    fn tensor_data(&self, file: &mut File, t: &TensorInfo) -> Result<Vec<u8>> {
        let file_len = file.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        let span = self
            .check_tensor(t, file_len)?
            .ok_or_else(|| self.unsupported_type(t))?;
        let len = span.end - span.start;
        check_fits_in_memory(&self.path, len)?;
        file.seek(SeekFrom::Start(span.start))
            .map_err(|e| Error::io(&self.path, e))?;
        let mut data = vec![0u8; len as usize];
        file.read_exact(&mut data).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Error::corrupt(
                &self.path,
                format!(
                    "tensor {} extends past the end of the file: the file is truncated",
                    t.name
                ),
            ),
            _ => Error::io(&self.path, e),
        })?;
        Ok(data)
    }
}

/// Shapes of the packed weight and of the per-group scales/biases of an affine tensor.
fn packed_shapes(shape: &[i32], bits: i32) -> (Vec<i32>, Vec<i32>) {
    let last = *shape.last().unwrap_or(&0);
    let with_last = |v: i32| {
        let mut s = shape.to_vec();
        if let Some(l) = s.last_mut() {
            *l = v;
        }
        s
    };
    (
        with_last(last / 32 * bits),
        with_last(last / AFFINE_GROUP_SIZE),
    )
}

/// Little-endian values of `N` bytes each.
fn le_values<const N: usize, T>(data: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N)
        .map(|c| from(c.try_into().unwrap_or([0; N])))
        .collect()
}

/// Block-format data dequantized and rounded to f16.
fn to_f16(ty: GgmlType, data: &[u8]) -> Vec<f16> {
    gguf_quants::dequantize_f16(ty, data).unwrap_or_default()
}

/// An MLX array holding a copy of `data`. The element count is checked against the
/// shape here, so a mismatch is an error rather than mlx-rs's assertion (whose i32
/// product would also overflow on tensors of more than 2^31 elements).
fn new_array<T: ArrayElement>(data: &[T], shape: &[i32], path: &Path, name: &str) -> Result<Array> {
    let n = shape.iter().try_fold(1u64, |n, &d| {
        u64::try_from(d).ok().and_then(|d| n.checked_mul(d))
    });
    if n != Some(data.len() as u64) {
        return Err(Error::corrupt(
            path,
            format!(
                "tensor {name}: {} values do not fill shape {shape:?}",
                data.len()
            ),
        ));
    }
    // SAFETY: `data` holds exactly as many `T` as `shape` has elements, `T::DTYPE` is
    // their MLX dtype, and MLX copies the buffer before this call returns.
    Ok(unsafe { Array::from_raw_data(data.as_ptr().cast(), shape, T::DTYPE) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::load::parse_gguf_header;

    /// A minimal GGUF writer for header tests.
    struct Builder(Vec<u8>);

    impl Builder {
        fn new(n_tensors: u64, n_kv: u64) -> Self {
            let mut b = Builder(b"GGUF".to_vec());
            b.u32(3);
            b.u64(n_tensors);
            b.u64(n_kv);
            b
        }
        fn u32(&mut self, v: u32) {
            self.0.extend(v.to_le_bytes());
        }
        fn u64(&mut self, v: u64) {
            self.0.extend(v.to_le_bytes());
        }
        fn str(&mut self, s: &str) {
            self.u64(s.len() as u64);
            self.0.extend(s.as_bytes());
        }
        fn kv_str(&mut self, k: &str, v: &str) {
            self.str(k);
            self.u32(8);
            self.str(v);
        }
        fn kv_u32(&mut self, k: &str, v: u32) {
            self.str(k);
            self.u32(4);
            self.u32(v);
        }
        fn tensor(&mut self, name: &str, dims: &[u64], ty: u32, offset: u64) {
            self.str(name);
            self.u32(dims.len() as u32);
            for d in dims {
                self.u64(*d);
            }
            self.u32(ty);
            self.u64(offset);
        }
        fn write(&self, dir: &Path, extra_data: usize) -> PathBuf {
            let path = dir.join("t.gguf");
            std::fs::write(&path, self.bytes(extra_data)).unwrap();
            path
        }
        /// The file: header, padding to 32, then `extra_data` zero bytes of data.
        fn bytes(&self, extra_data: usize) -> Vec<u8> {
            let mut bytes = self.0.clone();
            bytes.resize(bytes.len().next_multiple_of(32) + extra_data, 0);
            bytes
        }
    }

    fn reason(r: Result<GgufHeader>) -> String {
        match r {
            Err(Error::CorruptModel { reason, .. }) => reason,
            other => panic!("expected CorruptModel, got {other:?}"),
        }
    }

    fn tmpdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "murmur-gguf-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_metadata_arrays_and_tensor_directory() {
        let mut b = Builder::new(1, 3);
        b.kv_str("general.architecture", "qwen3");
        b.kv_u32("qwen3.block_count", 2);
        b.str("tokenizer.ggml.tokens");
        b.u32(9);
        b.u32(8);
        b.u64(2);
        b.str("a");
        b.str("é");
        // Q4_0, 64×2 elements = 4 blocks of 18 bytes.
        b.tensor("blk.0.attn_q.weight", &[64, 2], 2, 0);
        let path = b.write(&tmpdir(), 72);
        let h = GgufHeader::read(&path).unwrap();
        assert_eq!(h.version, 3);
        assert_eq!(h.architecture(), Some("qwen3"));
        assert_eq!(h.arch_key("block_count").and_then(Value::as_u64), Some(2));
        let tokens = h
            .get("tokenizer.ggml.tokens")
            .and_then(Value::as_array)
            .unwrap();
        assert_eq!(
            tokens,
            [Value::String("a".into()), Value::String("é".into())]
        );
        let t = h.tensor("blk.0.attn_q.weight").unwrap();
        assert_eq!(
            (t.ggml_type, t.n_elements(), t.n_bytes()),
            (GgmlType::Q4_0, 128, Some(72))
        );
        assert_eq!(h.data_offset % 32, 0);
    }

    #[test]
    fn tensor_past_end_of_file_is_truncation() {
        let mut b = Builder::new(1, 0);
        b.tensor("w", &[64, 2], 2, 0);
        let path = b.write(&tmpdir(), 71);
        let err = GgufHeader::read(&path).unwrap_err();
        assert!(
            matches!(&err, Error::CorruptModel { reason, .. } if reason.contains("truncated")),
            "{err}"
        );
    }

    #[test]
    fn absurd_counts_fail_without_allocating() {
        let b = Builder::new(u64::MAX / 2, 1);
        let path = b.write(&tmpdir(), 0);
        assert!(matches!(
            GgufHeader::read(&path),
            Err(Error::CorruptModel { .. })
        ));
        let mut b = Builder::new(0, 1);
        b.str("k");
        b.u32(8);
        b.u64(1 << 40); // a string "length" of a terabyte
        let path = b.write(&tmpdir(), 0);
        assert!(matches!(
            GgufHeader::read(&path),
            Err(Error::CorruptModel { .. })
        ));
    }

    #[test]
    fn unknown_version_and_value_type_are_reported() {
        let mut b = Builder(b"GGUF".to_vec());
        b.u32(99);
        b.u64(0);
        b.u64(0);
        assert!(matches!(
            GgufHeader::read(b.write(&tmpdir(), 0)),
            Err(Error::Unsupported { .. })
        ));
        let mut b = Builder::new(0, 1);
        b.str("k");
        b.u32(77);
        assert!(matches!(
            GgufHeader::read(b.write(&tmpdir(), 0)),
            Err(Error::CorruptModel { .. })
        ));
    }

    /// Two F32 tensors of 8 elements (32 bytes each) at `a` and `b`.
    fn two_tensors(a: u64, b: u64) -> Vec<u8> {
        let mut builder = Builder::new(2, 0);
        builder.tensor("a", &[8], 0, a);
        builder.tensor("b", &[8], 0, b);
        builder.bytes(96)
    }

    #[test]
    fn tensor_data_must_be_aligned_and_disjoint() {
        assert!(parse_gguf_header(&two_tensors(0, 32)).is_ok());
        assert!(reason(parse_gguf_header(&two_tensors(0, 16))).contains("alignment 32"));
        assert!(reason(parse_gguf_header(&two_tensors(32, 32))).contains("overlap"));
        assert!(reason(parse_gguf_header(&two_tensors(0, 96))).contains("truncated"));
        let mut b = Builder::new(2, 0);
        b.tensor("a", &[8], 0, 0);
        b.tensor("a", &[8], 0, 32);
        assert!(reason(parse_gguf_header(&b.bytes(64))).contains("duplicate tensor a"));
        let mut b = Builder::new(1, 0);
        b.tensor("a", &[u64::MAX / 2, 4], 0, 0);
        assert!(matches!(
            parse_gguf_header(&b.bytes(64)),
            Err(Error::Unsupported { .. })
        ));
        let mut b = Builder::new(1, 0);
        b.tensor("a", &[1 << 30, 1 << 30, 1 << 30], 0, 0);
        assert!(reason(parse_gguf_header(&b.bytes(64))).contains("overflow"));
        let mut b = Builder::new(1, 0);
        b.tensor("a", &[8, 0], 0, 0);
        assert!(reason(parse_gguf_header(&b.bytes(64))).contains("dims"));
    }

    #[test]
    fn metadata_is_bounded_before_allocating() {
        // A u8 array longer than the value budget, with the bytes to back it.
        let mut b = Builder::new(0, 1);
        b.str("k");
        b.u32(9);
        b.u32(0);
        b.u64(5 << 20);
        assert!(reason(parse_gguf_header(&b.bytes(5 << 20))).contains("at most"));
        // Arrays nested deeper than the limit.
        let mut b = Builder::new(0, 1);
        b.str("k");
        b.u32(9);
        for _ in 0..8 {
            b.u32(9);
            b.u64(1);
        }
        assert!(reason(parse_gguf_header(&b.bytes(64))).contains("nested"));
        let mut b = Builder::new(0, 2);
        b.kv_u32("k", 1);
        b.kv_u32("k", 2);
        assert!(reason(parse_gguf_header(&b.bytes(0))).contains("duplicate metadata key k"));
        let mut b = Builder::new(0, 1);
        b.kv_u32("general.alignment", 24);
        assert!(reason(parse_gguf_header(&b.bytes(0))).contains("general.alignment"));
    }
}
