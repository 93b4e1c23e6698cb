//! Key/value cache for one attention layer.
//!
//! Keys and values live in pre-allocated buffers `[B, kv_heads, capacity, head_dim]`
//! that grow in steps of [`KvCache::STEP`] positions. Each step writes its new
//! positions with a slice update, so decoding does not concatenate (and copy) the
//! whole history per token.
//!
//! MLX arrays are values: a slice update makes a new array and reuses the old buffer
//! only when nothing else holds it. So a cache made from a [`KvCache::snapshot`] shares
//! the snapshot's memory until its first write, and that write leaves the snapshot as
//! it was (copy on write), which is what lets a prompt prefix be prefilled once and
//! reused by later generations.

use mlx_rs::Array;
use mlx_rs::ops::indexing::{TryIndexMutOp, TryIndexOp};
use mlx_rs::ops::{concatenate, zeros_dtype};

use crate::error::Result;

#[derive(Default, Clone)]
pub struct KvCache {
    keys: Option<Array>,
    values: Option<Array>,
    offset: i32,
}

impl KvCache {
    /// Growth step in positions (as mlx-lm).
    pub const STEP: i32 = 256;

    pub fn new() -> Self {
        Self::default()
    }

    /// Number of positions stored so far (the absolute position of the next token).
    pub fn offset(&self) -> i32 {
        self.offset
    }

    /// Store `k`/`v` (`[B, kv_heads, L, head_dim]`) at the current offset and return
    /// views of everything stored, `[B, kv_heads, offset + L, head_dim]`.
    pub fn update_and_fetch(&mut self, k: Array, v: Array) -> Result<(Array, Array)> {
        let prev = self.offset;
        let l = k.shape()[2];
        let capacity = self.keys.as_ref().map_or(0, |a| a.shape()[2]);
        if prev + l > capacity {
            let grow = (l + Self::STEP - 1) / Self::STEP * Self::STEP;
            let ks = k.shape();
            let vs = v.shape();
            let new_k = zeros_dtype(&[ks[0], ks[1], grow, ks[3]], k.dtype())?;
            let new_v = zeros_dtype(&[vs[0], vs[1], grow, vs[3]], v.dtype())?;
            match (self.keys.take(), self.values.take()) {
                (Some(old_k), Some(old_v)) => {
                    // Drop the unused tail before growing so buffers stay contiguous.
                    let old_k = old_k.try_index((.., .., ..prev))?;
                    let old_v = old_v.try_index((.., .., ..prev))?;
                    self.keys = Some(concatenate(&[old_k, new_k], 2)?);
                    self.values = Some(concatenate(&[old_v, new_v], 2)?);
                }
                _ => {
                    self.keys = Some(new_k);
                    self.values = Some(new_v);
                }
            }
        }
        self.offset = prev + l;
        let end = self.offset;
        let keys = self.keys.as_mut().expect("allocated above");
        let values = self.values.as_mut().expect("allocated above");
        keys.try_index_mut((.., .., prev..end), &k)?;
        values.try_index_mut((.., .., prev..end), &v)?;
        Ok((
            keys.try_index((.., .., ..end))?,
            values.try_index((.., .., ..end))?,
        ))
    }

    /// Forget the last `n` positions (drafted tokens that were rejected): the next
    /// update writes over them.
    pub fn trim(&mut self, n: i32) {
        self.offset = (self.offset - n.clamp(0, self.offset)).max(0);
    }

    /// A cache holding the positions stored so far in compact arrays (no spare
    /// capacity), to be cloned into later generations. Lazy: evaluate its
    /// [`KvCache::state`] to materialize it.
    pub fn snapshot(&self) -> Result<KvCache> {
        let end = self.offset;
        let compact = |a: &Option<Array>| -> Result<Option<Array>> {
            a.as_ref()
                .map(|a| Ok(a.try_index((.., .., ..end))?.contiguous()?))
                .transpose()
        };
        Ok(KvCache {
            keys: compact(&self.keys)?,
            values: compact(&self.values)?,
            offset: end,
        })
    }

    /// The arrays to evaluate to materialize the cache (after a prefill chunk).
    pub fn state(&self) -> impl Iterator<Item = &Array> {
        self.keys.iter().chain(self.values.iter())
    }

    /// Reorder the batch rows (beam search): row `i` becomes the old row `indices[i]`
    /// (`indices` is an int32 vector of length B).
    pub fn select_batch(&mut self, indices: &Array) -> Result<()> {
        for buf in [&mut self.keys, &mut self.values].into_iter().flatten() {
            *buf = buf.take_axis(indices, 0)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlx_rs::ops::indexing::IndexOp;

    fn seq(start: i32, l: i32) -> Array {
        let data: Vec<f32> = (start..start + l)
            .flat_map(|p| [p as f32, -(p as f32)])
            .collect();
        Array::from_slice(&data, &[1, 1, l, 2])
    }

    #[test]
    fn grows_in_steps_and_keeps_history() {
        let mut c = KvCache::new();
        let (k, _) = c.update_and_fetch(seq(0, 3), seq(0, 3)).unwrap();
        assert_eq!(k.shape(), [1, 1, 3, 2]);
        assert_eq!(c.keys.as_ref().unwrap().shape()[2], KvCache::STEP);
        for p in 3..300 {
            c.update_and_fetch(seq(p, 1), seq(p, 1)).unwrap();
        }
        let (k, v) = c.update_and_fetch(seq(300, 5), seq(300, 5)).unwrap();
        assert_eq!(c.offset(), 305);
        assert_eq!(k.shape(), [1, 1, 305, 2]);
        assert_eq!(c.keys.as_ref().unwrap().shape()[2], 2 * KvCache::STEP);
        let positions: Vec<f32> = k
            .index((.., .., .., 0))
            .reshape(&[305])
            .unwrap()
            .as_slice()
            .to_vec();
        assert_eq!(positions, (0..305).map(|p| p as f32).collect::<Vec<_>>());
        assert_eq!(v.index((0, 0, 304, 1)).item_cast::<f32>(), -304.0);
    }

    #[test]
    fn trim_rewrites_and_snapshots_are_copy_on_write() {
        let mut c = KvCache::new();
        c.update_and_fetch(seq(0, 10), seq(0, 10)).unwrap();
        let snap = c.snapshot().unwrap();
        assert_eq!(snap.keys.as_ref().unwrap().shape(), [1, 1, 10, 2]);
        // Rejected drafts: positions 7..10 are dropped and written again.
        c.trim(3);
        assert_eq!(c.offset(), 7);
        let (k, _) = c.update_and_fetch(seq(100, 2), seq(100, 2)).unwrap();
        let first: Vec<f32> = k.index((0, 0, .., 0)).as_slice().to_vec();
        assert_eq!(first, [0., 1., 2., 3., 4., 5., 6., 100., 101.]);
        // A cache restored from the snapshot grows on its own; the snapshot is unchanged.
        let mut r = snap.clone();
        r.trim(4);
        let (k, _) = r.update_and_fetch(seq(50, 300), seq(50, 300)).unwrap();
        assert_eq!(k.shape(), [1, 1, 306, 2]);
        assert_eq!(k.index((0, 0, 6, 0)).item_cast::<f32>(), 50.0);
        let kept: Vec<f32> = snap
            .keys
            .as_ref()
            .unwrap()
            .index((0, 0, .., 0))
            .as_slice()
            .to_vec();
        assert_eq!(kept, (0..10).map(|p| p as f32).collect::<Vec<_>>());
        c.trim(1000);
        assert_eq!(c.offset(), 0);
    }
}
