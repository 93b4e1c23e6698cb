//! Parsing and validating a GGUF header — metadata and tensor directory — from any
//! reader: the file itself ([`GgufHeader::read`]) or bytes in memory
//! ([`parse_gguf_header`], the fuzz entry point). One parser for both.
//!
//! A GGUF header is untrusted input that states its own counts, lengths, dimensions and
//! offsets. Each is checked before it is used: counts and lengths against the bytes left
//! in the file and fixed limits (so nothing is allocated in proportion to a lying
//! number), tensor sizes with checked arithmetic, every tensor's data aligned, inside the
//! file and not overlapping another's (a shifted offset would otherwise load garbage
//! weights that run and print nonsense).

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::ops::Range;
use std::path::Path;

use super::bounded::{bytes_of, dim_i32, elements, span_end};
use super::gguf::{GgmlType, GgufHeader, TensorInfo, Value};

use crate::error::{Error, Result};

/// Most bytes a header (metadata and tensor directory) may take. Real ones take a few MB:
/// a 262k-token vocabulary with scores, types and merges is ~20 MB.
pub const MAX_HEADER_BYTES: u64 = 256 << 20;
/// Far above real files (a few hundred to a few thousand tensors, ~40 metadata keys).
const MAX_TENSORS: u64 = 1 << 16;
const MAX_KEYS: u64 = 1 << 16;
/// Array items across all metadata. Each becomes a 32-byte [`Value`], so this bounds
/// memory (128 MiB) where the byte limit alone would not; vocabularies take ~1M.
const MAX_VALUES: u64 = 1 << 22;
/// GGML tensors have at most 4 dimensions.
const MAX_RANK: u32 = 4;
const MAX_ALIGNMENT: u64 = 1 << 16;
const DEFAULT_ALIGNMENT: u64 = 32;
const MAX_NESTING: u32 = 4;

/// Parse and validate a GGUF header held in memory: `bytes` is the whole file (tensor
/// offsets are checked against its length). Also the fuzz entry point for GGUF: never
/// touches MLX, never allocates in proportion to a count or length in the bytes;
/// [`GgufHeader::read`] runs the same parser on the file. Errors name `<memory>`.
pub fn parse_gguf_header(bytes: &[u8]) -> Result<GgufHeader> {
    parse(bytes, bytes.len() as u64, Path::new("<memory>"))
}

/// The one GGUF header parser: `file_len` is the size of the file `inner` reads from
/// its start, `path` names it in errors.
pub(super) fn parse(inner: impl Read, file_len: u64, path: &Path) -> Result<GgufHeader> {
    let mut r = Reader {
        inner,
        path,
        file_len,
        pos: 0,
        values_left: MAX_VALUES,
    };
    let header = r.header()?;
    header.validate(file_len)?;
    Ok(header)
}

struct Reader<'a, R> {
    inner: R,
    path: &'a Path,
    file_len: u64,
    /// Bytes read so far.
    pos: u64,
    /// Metadata array items still allowed ([`MAX_VALUES`]).
    values_left: u64,
}

impl<R: Read> Reader<'_, R> {
    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::corrupt(self.path, reason)
    }

    /// The next `n` bytes must lie inside the file and inside [`MAX_HEADER_BYTES`].
    fn claim(&self, n: u64, what: &str) -> Result<()> {
        if span_end(self.pos, n, self.file_len).is_none() {
            return Err(self.corrupt(format!(
                "{what} runs past the end of the file ({} bytes): the file is truncated or \
                 corrupt",
                self.file_len
            )));
        }
        if span_end(self.pos, n, MAX_HEADER_BYTES).is_none() {
            return Err(self.corrupt(format!(
                "{what} goes beyond the {} MiB a GGUF header may take",
                MAX_HEADER_BYTES >> 20
            )));
        }
        Ok(())
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        self.claim(buf.len() as u64, what)?;
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                self.corrupt("the header ends early: the file is truncated")
            }
            _ => Error::io(self.path, e),
        })?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.fill(&mut buf, "the header")?;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }

    /// A count of items taking at least `min_item_bytes` each: at most `max`, and
    /// their bytes must fit in what is left of the file.
    fn count(&mut self, what: &str, min_item_bytes: u64, max: u64) -> Result<u64> {
        let n = self.u64()?;
        if n > max {
            return Err(self.corrupt(format!("implausible {what} {n} (at most {max})")));
        }
        self.claim(n * min_item_bytes, &format!("{what} {n}"))?;
        Ok(n)
    }

    fn string(&mut self) -> Result<String> {
        let len = self.u64()?;
        self.claim(len, &format!("a string of {len} bytes"))?;
        let mut buf = vec![0u8; len as usize];
        self.fill(&mut buf, "a string")?;
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
            9 => self.array(depth)?,
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.bytes()?)),
            12 => Value::F64(f64::from_le_bytes(self.bytes()?)),
            t => return Err(self.corrupt(format!("unknown metadata value type {t}"))),
        })
    }

    fn array(&mut self, depth: u32) -> Result<Value> {
        if depth >= MAX_NESTING {
            return Err(self.corrupt("metadata arrays nested too deeply"));
        }
        let item_ty = self.u32()?;
        let min_bytes = encoded_size(item_ty)
            .ok_or_else(|| self.corrupt(format!("unknown metadata value type {item_ty}")))?;
        let n = self.count("array length", min_bytes, self.values_left)?;
        self.values_left -= n;
        let mut items = Vec::with_capacity(n as usize);
        for _ in 0..n {
            items.push(self.value(item_ty, depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn tensor_info(&mut self) -> Result<TensorInfo> {
        let name = self.string()?;
        let rank = self.u32()?;
        if !(1..=MAX_RANK).contains(&rank) {
            return Err(self.corrupt(format!(
                "tensor {name} has rank {rank} (GGML tensors have 1 to {MAX_RANK})"
            )));
        }
        let dims = (0..rank).map(|_| self.u64()).collect::<Result<Vec<_>>>()?;
        Ok(TensorInfo {
            name,
            dims,
            ggml_type: GgmlType::from_u32(self.u32()?),
            offset: self.u64()?,
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
        // Smallest encodings: a tensor info with an empty name and rank 0 takes 24 bytes,
        // a key/value with an empty key and a u8 value 13.
        let n_tensors = self.count("tensor count", 24, MAX_TENSORS)?;
        let n_kv = self.count("metadata count", 13, MAX_KEYS)?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = self.string()?;
            let ty = self.u32()?;
            let value = self.value(ty, 0)?;
            if metadata.contains_key(&key) {
                return Err(self.corrupt(format!("duplicate metadata key {key}")));
            }
            metadata.insert(key, value);
        }
        let tensors = (0..n_tensors)
            .map(|_| self.tensor_info())
            .collect::<Result<Vec<_>>>()?;
        let alignment = alignment(&metadata).map_err(|r| self.corrupt(r))?;
        Ok(GgufHeader {
            path: self.path.to_path_buf(),
            version,
            metadata,
            tensors,
            data_offset: self.pos.next_multiple_of(alignment),
        })
    }
}

/// Fewest bytes a value of metadata type `ty` takes in the file; `None` for unknown types.
fn encoded_size(ty: u32) -> Option<u64> {
    Some(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10..=12 => 8,
        9 => 12,
        _ => return None,
    })
}

/// `general.alignment` (default 32): a power of two up to [`MAX_ALIGNMENT`].
fn alignment(metadata: &BTreeMap<String, Value>) -> std::result::Result<u64, String> {
    let Some(v) = metadata.get("general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match v.as_u64() {
        Some(a) if a.is_power_of_two() && a <= MAX_ALIGNMENT => Ok(a),
        _ => Err(format!(
            "invalid general.alignment {v:?} (a power of two up to {MAX_ALIGNMENT})"
        )),
    }
}

impl GgufHeader {
    /// The alignment of tensor data (validated when the header was parsed).
    pub fn alignment(&self) -> u64 {
        alignment(&self.metadata).unwrap_or(DEFAULT_ALIGNMENT)
    }

    /// The directory as a whole: unique names, every tensor valid
    /// ([`Self::check_tensor`]), no two tensors' data overlapping.
    fn validate(&self, file_len: u64) -> Result<()> {
        let mut names = HashSet::with_capacity(self.tensors.len());
        let mut spans = Vec::with_capacity(self.tensors.len());
        for t in &self.tensors {
            if !names.insert(t.name.as_str()) {
                return Err(self.corrupt(format!("duplicate tensor {}", t.name)));
            }
            if let Some(span) = self.check_tensor(t, file_len)? {
                spans.push((span, t.name.as_str()));
            }
        }
        spans.sort_unstable_by_key(|(span, _)| span.start);
        for pair in spans.windows(2) {
            let ((a, a_name), (b, b_name)) = (&pair[0], &pair[1]);
            if a.end > b.start {
                return Err(self.corrupt(format!(
                    "tensors {a_name} and {b_name} overlap (bytes {a:?} and {b:?} of the file)"
                )));
            }
        }
        Ok(())
    }

    /// One tensor's entry: dimensions non-zero and within MLX's `i32`, whole blocks per
    /// row, its size computed without overflow, its data aligned and inside the file.
    /// Returns the data's byte range in the file, or `None` for a type whose block size
    /// is unknown (reported by [`Self::check_types`]).
    pub(super) fn check_tensor(&self, t: &TensorInfo, file_len: u64) -> Result<Option<Range<u64>>> {
        let name = &t.name;
        if t.dims.is_empty() || t.dims.contains(&0) {
            return Err(self.corrupt(format!("tensor {name} has dims {:?}", t.dims)));
        }
        if let Some(&d) = t.dims.iter().find(|&&d| dim_i32(d).is_none()) {
            return Err(Error::Unsupported {
                path: self.path.clone(),
                what: format!("tensor {name} with dimension {d} (MLX takes up to 2^31 − 1)"),
            });
        }
        let Some((per_block, block_bytes)) = t.ggml_type.block() else {
            return Ok(None);
        };
        if t.dims[0] % per_block != 0 {
            return Err(self.corrupt(format!(
                "tensor {name} ({}, dims {:?}) does not hold whole {per_block}-element blocks per \
                 row",
                t.ggml_type, t.dims
            )));
        }
        let size = elements(t.dims.iter().copied())
            .and_then(|n| bytes_of(n / per_block, block_bytes))
            .ok_or_else(|| self.corrupt(format!("tensor {name}: dims {:?} overflow", t.dims)))?;
        let alignment = self.alignment();
        if t.offset % alignment != 0 {
            return Err(self.corrupt(format!(
                "tensor {name}: data offset {} is not a multiple of the alignment {alignment}",
                t.offset
            )));
        }
        let start = self.data_offset.checked_add(t.offset);
        match start.and_then(|s| span_end(s, size, file_len).map(|end| s..end)) {
            Some(span) => Ok(Some(span)),
            None => Err(self.corrupt(format!(
                "tensor {name} ({size} bytes at offset {}) extends past the end of the file \
                 ({file_len} bytes): the file is truncated",
                t.offset
            ))),
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::corrupt(&self.path, reason)
    }
}

impl GgufHeader {
    /// Read and validate the header of the GGUF file at `path` (the parser of
    /// [`parse_gguf_header`], reading the file's first bytes only).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        parse(
            std::io::BufReader::with_capacity(1 << 16, file),
            file_len,
            path,
        )
    }
}
