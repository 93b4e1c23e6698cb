//! Safetensors files, validated before MLX reads them.
//!
//! The format is an 8-byte little-endian header length, a JSON header mapping each tensor
//! name to its dtype, shape and `data_offsets` (relative to the end of the header), then
//! the data. MLX's reader trusts all of it; a hostile header could make it allocate the
//! header length it states or read tensors from the wrong place. So the header is parsed
//! and checked here first — length bounded by the file and by upstream's 100 MB limit,
//! known dtypes, sizes equal to dtype × shape with checked arithmetic, data inside the
//! file, no two tensors overlapping — and MLX's result is compared with it.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::ops::Range;
use std::path::Path;

use mlx_rs::{Array, Dtype};
use serde::Deserialize;

use super::bounded::{bytes_of, check_fits_in_memory, elements};
use crate::error::{Error, Result};

/// Most bytes a header may take (the `safetensors` crate's limit).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// One tensor of a safetensors file.
#[derive(Debug, Clone, PartialEq)]
pub struct SafetensorsTensor {
    pub name: String,
    /// As the file spells it: `F16`, `BF16`, `U32`, ...
    pub dtype: String,
    pub shape: Vec<u64>,
    /// Absolute byte range of the data in the file.
    pub data: Range<u64>,
}

/// The validated header of a safetensors file.
#[derive(Debug, Clone, PartialEq)]
pub struct SafetensorsHeader {
    pub tensors: Vec<SafetensorsTensor>,
    /// `__metadata__` (e.g. `{"format": "mlx"}`).
    pub metadata: BTreeMap<String, String>,
}

impl SafetensorsHeader {
    /// Bytes of tensor data: what loading the file takes in memory.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes_where(|_| true)
    }

    /// Bytes of the tensors `keep` names.
    pub fn data_bytes_where(&self, keep: impl Fn(&str) -> bool) -> u64 {
        self.tensors
            .iter()
            .filter(|t| keep(&t.name))
            .map(|t| t.data.end - t.data.start)
            .fold(0, u64::saturating_add)
    }
}

/// Parse and validate the header of a safetensors file held in memory (`bytes`: the
/// whole file). Also the fuzz entry point for safetensors: never touches MLX, never
/// allocates in proportion to a length or shape in the bytes; the loaders run the same
/// parser on the file's first bytes. Errors name `<memory>`.
pub fn parse_safetensors_header(bytes: &[u8]) -> Result<SafetensorsHeader> {
    parse(bytes, bytes.len() as u64, Path::new("<memory>"))
}

/// Read and validate the header of the safetensors file at `path` (only its first
/// bytes are read).
pub fn read_safetensors_header(path: &Path) -> Result<SafetensorsHeader> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut prefix = Vec::new();
    let mut read = |n: u64, prefix: &mut Vec<u8>| {
        (&mut file)
            .take(n)
            .read_to_end(prefix)
            .map_err(|e| Error::io(path, e))
    };
    read(8, &mut prefix)?;
    if let Ok(len) = <[u8; 8]>::try_from(prefix.as_slice()) {
        // Only as much as the parser accepts: it reports a larger length itself.
        read(u64::from_le_bytes(len).min(MAX_HEADER_BYTES), &mut prefix)?;
    }
    parse(&prefix, file_len, path)
}

/// Load the tensors of the safetensors file at `path` with MLX, once its header is
/// valid and its data fits in memory; MLX's arrays must be the ones the header
/// describes.
pub fn load_safetensors(path: &Path) -> Result<HashMap<String, Array>> {
    load_safetensors_where(path, |_| true)
}

/// [`load_safetensors`] of the tensors `keep` names only: the others are never read
/// (MLX reads a tensor's data when it is first evaluated) nor counted against memory.
pub fn load_safetensors_where(
    path: &Path,
    keep: impl Fn(&str) -> bool,
) -> Result<HashMap<String, Array>> {
    let header = read_safetensors_header(path)?;
    check_fits_in_memory(path, header.data_bytes_where(&keep))?;
    let mut arrays =
        Array::load_safetensors(path).map_err(|e| Error::corrupt(path, e.to_string()))?;
    let same = arrays.len() == header.tensors.len()
        && header.tensors.iter().all(|t| {
            arrays.get(&t.name).is_some_and(|a| {
                a.shape()
                    .iter()
                    .map(|&d| d as u64)
                    .eq(t.shape.iter().copied())
                    && dtype_size(&t.dtype).is_some_and(|(_, d)| d == a.dtype())
            })
        });
    if !same {
        return Err(Error::corrupt(
            path,
            "MLX read tensors other than the header describes",
        ));
    }
    arrays.retain(|name, _| keep(name));
    Ok(arrays)
}

/// A header entry as the file states it.
#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// The one safetensors header parser: `bytes` starts at the beginning of a file of
/// `file_len` bytes and holds at least its header.
fn parse(bytes: &[u8], file_len: u64, path: &Path) -> Result<SafetensorsHeader> {
    let corrupt = |reason: String| Error::corrupt(path, reason);
    let len = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| corrupt("no 8-byte header length: the file is truncated".into()))?;
    if len > MAX_HEADER_BYTES {
        return Err(corrupt(format!(
            "safetensors header length {len} exceeds the {MAX_HEADER_BYTES}-byte limit"
        )));
    }
    let data_start = 8 + len;
    let json = bytes
        .get(8..data_start as usize)
        .filter(|_| data_start <= file_len)
        .ok_or_else(|| {
            corrupt(format!(
                "safetensors header length {len} runs past the end of the file ({file_len} \
                 bytes): the file is truncated"
            ))
        })?;
    let entries: BTreeMap<String, serde_json::Value> = serde_json::from_slice(json)
        .map_err(|e| corrupt(format!("safetensors header is not a JSON object: {e}")))?;
    let mut header = SafetensorsHeader {
        tensors: Vec::with_capacity(entries.len()),
        metadata: BTreeMap::new(),
    };
    for (name, value) in entries {
        if name == "__metadata__" {
            // MLX writes `null` when there is none.
            header.metadata = serde_json::from_value::<Option<_>>(value)
                .map(Option::unwrap_or_default)
                .map_err(|e| corrupt(format!("__metadata__ is not a map of strings: {e}")))?;
            continue;
        }
        let entry: Entry =
            serde_json::from_value(value).map_err(|e| corrupt(format!("tensor {name}: {e}")))?;
        header
            .tensors
            .push(tensor(name, entry, data_start, file_len, path)?);
    }
    check_overlaps(&mut header.tensors, path)?;
    Ok(header)
}

/// One entry, checked: known dtype, MLX-sized dimensions, `data_offsets` exactly
/// dtype × shape bytes, inside the file.
fn tensor(
    name: String,
    e: Entry,
    data_start: u64,
    file_len: u64,
    path: &Path,
) -> Result<SafetensorsTensor> {
    let (size, _) = dtype_size(&e.dtype).ok_or_else(|| Error::Unsupported {
        path: path.to_path_buf(),
        what: format!("safetensors dtype {} (tensor {name})", e.dtype),
    })?;
    if let Some(d) = e.shape.iter().find(|&&d| d > i32::MAX as u64) {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: format!("tensor {name} with dimension {d} (MLX takes up to 2^31 − 1)"),
        });
    }
    let [begin, end] = e.data_offsets;
    let need = elements(e.shape.iter().copied()).and_then(|n| bytes_of(n, size));
    if begin > end || need != Some(end - begin) {
        return Err(Error::corrupt(
            path,
            format!(
                "tensor {name}: data_offsets [{begin}, {end}] do not hold {} {:?}",
                e.dtype, e.shape
            ),
        ));
    }
    let data = match (data_start.checked_add(begin), data_start.checked_add(end)) {
        (Some(start), Some(stop)) if stop <= file_len => start..stop,
        _ => {
            return Err(Error::corrupt(
                path,
                format!(
                    "tensor {name} (bytes {begin}..{end} of the data) extends past the end of \
                     the file ({file_len} bytes): the file is truncated"
                ),
            ));
        }
    };
    Ok(SafetensorsTensor {
        name,
        dtype: e.dtype,
        shape: e.shape,
        data,
    })
}

/// No two tensors may share bytes (sorts `tensors` by offset).
fn check_overlaps(tensors: &mut [SafetensorsTensor], path: &Path) -> Result<()> {
    tensors.sort_unstable_by_key(|t| (t.data.start, t.data.end));
    let non_empty: Vec<&SafetensorsTensor> =
        tensors.iter().filter(|t| !t.data.is_empty()).collect();
    for pair in non_empty.windows(2) {
        if pair[0].data.end > pair[1].data.start {
            return Err(Error::corrupt(
                path,
                format!("tensors {} and {} overlap", pair[0].name, pair[1].name),
            ));
        }
    }
    Ok(())
}

/// Bytes per element and MLX dtype of the safetensors dtypes MLX reads.
fn dtype_size(dtype: &str) -> Option<(u64, Dtype)> {
    Some(match dtype {
        "BOOL" => (1, Dtype::Bool),
        "U8" => (1, Dtype::Uint8),
        "I8" => (1, Dtype::Int8),
        "U16" => (2, Dtype::Uint16),
        "I16" => (2, Dtype::Int16),
        "F16" => (2, Dtype::Float16),
        "BF16" => (2, Dtype::Bfloat16),
        "U32" => (4, Dtype::Uint32),
        "I32" => (4, Dtype::Int32),
        "F32" => (4, Dtype::Float32),
        "U64" => (8, Dtype::Uint64),
        "I64" => (8, Dtype::Int64),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: usize) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend(header.as_bytes());
        b.resize(b.len() + data, 0);
        b
    }

    fn reason(bytes: &[u8]) -> String {
        match parse_safetensors_header(bytes) {
            Err(Error::CorruptModel { reason, .. }) => reason,
            other => panic!("expected CorruptModel, got {other:?}"),
        }
    }

    #[test]
    fn valid_header_parses() {
        let h = parse_safetensors_header(&file(r#"{"__metadata__":null}"#, 0)).unwrap();
        assert!(h.tensors.is_empty() && h.metadata.is_empty());
        let h = parse_safetensors_header(&file(
            r#"{"__metadata__":{"format":"mlx"},"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"U32","shape":[1],"data_offsets":[12,16]}}"#,
            16,
        ))
        .unwrap();
        assert_eq!(h.tensors.len(), 2);
        assert_eq!(h.metadata["format"], "mlx");
        assert_eq!(h.data_bytes(), 16);
    }

    #[test]
    fn lying_headers_are_corrupt() {
        let mut huge = file("{}", 0);
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(reason(&huge).contains("exceeds"));
        let mut past = file("{}", 0);
        past[..8].copy_from_slice(&1000u64.to_le_bytes());
        assert!(reason(&past).contains("truncated"));
        assert!(reason(&[1, 2]).contains("truncated"));
        let entry = |dtype: &str, shape: &str, offsets: &str| {
            format!(r#"{{"w":{{"dtype":"{dtype}","shape":{shape},"data_offsets":{offsets}}}}}"#)
        };
        for (header, data, want) in [
            (entry("F32", "[2,2]", "[0,12]"), 16, "do not hold"),
            (entry("F32", "[2,2]", "[8,0]"), 16, "do not hold"),
            (
                entry("F32", "[2147483647,2147483647,2147483647,4]", "[0,16]"),
                16,
                "do not hold",
            ),
            (entry("F32", "[2,2]", "[0,16]"), 15, "truncated"),
            (entry("F32", "[-2,2]", "[0,16]"), 16, "tensor w"),
            ("[1,2]".to_string(), 0, "not a JSON object"),
        ] {
            let r = reason(&file(&header, data));
            assert!(r.contains(want), "{header}: {r}");
        }
        let overlap = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
        assert!(reason(&file(overlap, 12)).contains("overlap"));
        let odd = file(&entry("F8_E5M2", "[2]", "[0,2]"), 2);
        assert!(matches!(
            parse_safetensors_header(&odd),
            Err(Error::Unsupported { .. })
        ));
    }
}
