//! Checked arithmetic for the numbers model files state about themselves (counts,
//! dimensions, sizes, offsets), and the one memory check every loader runs before it
//! reads weights.
//!
//! Every reader (GGUF, safetensors, CTranslate2, `.npy`) computes sizes through these
//! helpers, so a lying header fails with a typed error instead of an overflow panic, an
//! abort on a huge allocation, or MLX reading garbage.

use std::path::Path;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Elements of a tensor with dimensions `dims`: `None` when the product overflows.
pub fn elements(dims: impl IntoIterator<Item = u64>) -> Option<u64> {
    dims.into_iter().try_fold(1u64, |n, d| n.checked_mul(d))
}

/// Bytes of `elements` items of `item_bytes` each: `None` when it overflows.
pub fn bytes_of(elements: u64, item_bytes: u64) -> Option<u64> {
    elements.checked_mul(item_bytes)
}

/// End of the `len` bytes at `offset`, when they lie within the first `limit` bytes.
pub fn span_end(offset: u64, len: u64, limit: u64) -> Option<u64> {
    offset.checked_add(len).filter(|&end| end <= limit)
}

/// A dimension as MLX takes it (`i32`): `None` for zero or anything above `i32::MAX`
/// (a zero-sized weight is never real, and MLX shapes are 32-bit).
pub fn dim_i32(d: u64) -> Option<i32> {
    i32::try_from(d).ok().filter(|&d| d > 0)
}

/// Physical memory, read once (the loaders ask for every tensor).
fn ram_bytes() -> Option<u64> {
    static RAM: OnceLock<Option<u64>> = OnceLock::new();
    *RAM.get_or_init(crate::system::total_memory_bytes)
}

/// Refuse, with [`Error::Unsupported`], to load `needed` bytes of weights that cannot
/// fit in this machine's physical memory. MLX does not fail cleanly when the system runs
/// out of memory (it can be killed or crash mid-load), so a model that clearly cannot
/// fit is refused before anything is read. Unknown memory size: no check.
pub fn check_fits_in_memory(path: &Path, needed: u64) -> Result<()> {
    fits(path, needed, ram_bytes())
}

fn fits(path: &Path, needed: u64, ram: Option<u64>) -> Result<()> {
    match ram {
        Some(ram) if needed > ram => Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: format!(
                "model size: loading it needs {} of memory and this machine has {}",
                gib(needed),
                gib(ram)
            ),
        }),
        _ => Ok(()),
    }
}

/// Bytes as GiB with one decimal, for messages.
fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_reports_overflow_instead_of_wrapping() {
        assert_eq!(elements([2, 3, 4]), Some(24));
        assert_eq!(elements([]), Some(1));
        assert_eq!(elements([u64::MAX, 2]), None);
        assert_eq!(bytes_of(u64::MAX / 2, 4), None);
        assert_eq!(span_end(10, 5, 15), Some(15));
        assert_eq!(span_end(10, 6, 15), None);
        assert_eq!(span_end(u64::MAX, 1, u64::MAX), None);
        assert_eq!(dim_i32(0), None);
        assert_eq!(dim_i32(1 << 31), None);
        assert_eq!(dim_i32(7), Some(7));
    }

    #[test]
    fn a_model_larger_than_memory_is_unsupported() {
        let p = Path::new("m.gguf");
        assert!(fits(p, 10 << 30, Some(16 << 30)).is_ok());
        assert!(fits(p, u64::MAX, None).is_ok());
        match fits(p, 352 << 30, Some(16 << 30)) {
            Err(Error::Unsupported { what, .. }) => {
                assert!(
                    what.contains("352.0 GiB") && what.contains("16.0 GiB"),
                    "{what}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
