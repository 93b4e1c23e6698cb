//! A reader for the GGUF container's header: metadata and tensor directory.
//!
//! MLX's own GGUF loader turns tensors into arrays, but it cannot list metadata keys and
//! fails on whole files that contain k-quants. Reading the header ourselves gives us the
//! full metadata (architecture, hyper-parameters, tokenizer vocabulary, chat template)
//! and each tensor's GGML type and offset, and lets corrupt files fail with a clear error
//! before MLX sees them.
//!
//! Format (little-endian): magic `GGUF`, u32 version (2 or 3), u64 tensor count, u64
//! metadata count, the metadata key/values, the tensor infos (name, rank, dims, type,
//! offset), then tensor data aligned to `general.alignment` (default 32).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

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

/// GGML tensor types, as numbered in the GGUF specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    Q8K,
    BF16,
    /// A type this reader does not name (i-quants and newer): kept by number.
    Other(u32),
}

impl GgmlType {
    fn from_u32(v: u32) -> Self {
        match v {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            9 => Self::Q8_1,
            10 => Self::Q2K,
            11 => Self::Q3K,
            12 => Self::Q4K,
            13 => Self::Q5K,
            14 => Self::Q6K,
            15 => Self::Q8K,
            30 => Self::BF16,
            n => Self::Other(n),
        }
    }

    /// (elements per block, bytes per block), for computing a tensor's byte size.
    pub fn block(self) -> Option<(u64, u64)> {
        Some(match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Q4_0 => (32, 18),
            Self::Q4_1 => (32, 20),
            Self::Q5_0 => (32, 22),
            Self::Q5_1 => (32, 24),
            Self::Q8_0 => (32, 34),
            Self::Q8_1 => (32, 40),
            Self::Q2K => (256, 84),
            Self::Q3K => (256, 110),
            Self::Q4K => (256, 144),
            Self::Q5K => (256, 176),
            Self::Q6K => (256, 210),
            Self::Q8K => (256, 292),
            Self::Other(_) => return None,
        })
    }

    /// Whether MLX 0.32's GGUF loader can load this type (others make it reject the file).
    pub fn mlx_native(self) -> bool {
        matches!(
            self,
            Self::F32 | Self::F16 | Self::BF16 | Self::Q4_0 | Self::Q4_1 | Self::Q8_0
        )
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
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Size of the tensor's data in bytes, when the type is known.
    pub fn n_bytes(&self) -> Option<u64> {
        let (per_block, bytes) = self.ggml_type.block()?;
        Some(self.n_elements().div_ceil(per_block) * bytes)
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
    /// Read and validate the header of the GGUF file at `path`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut r = Reader {
            inner: BufReader::with_capacity(1 << 16, file),
            path,
            file_len,
        };
        let header = r.header()?;
        header.check_sizes(file_len)?;
        Ok(header)
    }

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

    /// Every tensor must lie inside the file: a truncated download fails here instead
    /// of inside MLX with a less helpful message.
    fn check_sizes(&self, file_len: u64) -> Result<()> {
        for t in &self.tensors {
            let Some(size) = t.n_bytes() else { continue };
            let end = self
                .data_offset
                .checked_add(t.offset)
                .and_then(|o| o.checked_add(size));
            if end.is_none_or(|end| end > file_len) {
                return Err(Error::corrupt(
                    &self.path,
                    format!(
                        "tensor {} ({size} bytes at offset {}) extends past the end of the file \
                         ({file_len} bytes): the file is truncated",
                        t.name, t.offset
                    ),
                ));
            }
        }
        Ok(())
    }
}

struct Reader<'a, R> {
    inner: R,
    path: &'a Path,
    file_len: u64,
}

impl<R: Read + Seek> Reader<'_, R> {
    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::corrupt(self.path, reason)
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                self.corrupt("the header ends early: the file is truncated")
            } else {
                Error::io(self.path, e)
            }
        })?;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }

    /// A count that must be plausible for the file's size: each counted item takes at
    /// least `min_item_bytes`, so a corrupt count cannot make us allocate gigabytes.
    fn count(&mut self, what: &str, min_item_bytes: u64) -> Result<usize> {
        let n = self.u64()?;
        if n.saturating_mul(min_item_bytes) > self.file_len {
            return Err(self.corrupt(format!(
                "implausible {what} {n} for a {}-byte file: the file is truncated or corrupt",
                self.file_len
            )));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String> {
        let len = self.count("string length", 1)?;
        let mut buf = vec![0u8; len];
        self.inner.read_exact(&mut buf).map_err(|_| {
            self.corrupt("a string runs past the end of the file: the file is truncated")
        })?;
        String::from_utf8(buf).map_err(|_| self.corrupt("a metadata string is not UTF-8"))
    }

    fn value(&mut self, ty: u32, depth: u32) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(u8::from_le_bytes(self.bytes()?)),
            1 => Value::I8(i8::from_le_bytes(self.bytes()?)),
            2 => Value::U16(u16::from_le_bytes(self.bytes()?)),
            3 => Value::I16(i16::from_le_bytes(self.bytes()?)),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(i32::from_le_bytes(self.bytes()?)),
            6 => Value::F32(f32::from_le_bytes(self.bytes()?)),
            7 => Value::Bool(u8::from_le_bytes(self.bytes()?) != 0),
            8 => Value::String(self.string()?),
            9 => {
                if depth > 4 {
                    return Err(self.corrupt("metadata arrays nested too deeply"));
                }
                let item_ty = self.u32()?;
                let n = self.count("array length", 1)?;
                let mut items = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    items.push(self.value(item_ty, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.bytes()?)),
            12 => Value::F64(f64::from_le_bytes(self.bytes()?)),
            t => return Err(self.corrupt(format!("unknown metadata value type {t}"))),
        })
    }

    fn header(&mut self) -> Result<GgufHeader> {
        if &self.bytes::<4>()? != b"GGUF" {
            return Err(self.corrupt("not a GGUF file (bad magic)"));
        }
        let version = self.u32()?;
        if !(2..=3).contains(&version) {
            return Err(Error::Unsupported {
                path: self.path.to_path_buf(),
                what: format!("GGUF version {version}"),
            });
        }
        let n_tensors = self.count("tensor", 24)?;
        let n_kv = self.count("metadata", 12)?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = self.string()?;
            let ty = self.u32()?;
            let value = self.value(ty, 0)?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let name = self.string()?;
            let rank = self.u32()?;
            if rank > 8 {
                return Err(self.corrupt(format!("tensor {name} has rank {rank}")));
            }
            let dims = (0..rank).map(|_| self.u64()).collect::<Result<Vec<_>>>()?;
            let ggml_type = GgmlType::from_u32(self.u32()?);
            let offset = self.u64()?;
            tensors.push(TensorInfo {
                name,
                dims,
                ggml_type,
                offset,
            });
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(Value::as_u64)
            .unwrap_or(32);
        if alignment == 0 || !alignment.is_power_of_two() {
            return Err(self.corrupt(format!("invalid alignment {alignment}")));
        }
        let pos = self
            .inner
            .stream_position()
            .map_err(|e| Error::io(self.path, e))?;
        Ok(GgufHeader {
            path: self.path.to_path_buf(),
            version,
            metadata,
            tensors,
            data_offset: pos.next_multiple_of(alignment),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let mut bytes = self.0.clone();
            bytes.resize(bytes.len().next_multiple_of(32) + extra_data, 0);
            std::fs::write(&path, bytes).unwrap();
            path
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
}
