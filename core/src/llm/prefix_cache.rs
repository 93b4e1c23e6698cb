//! The keys and values of a prompt's start, kept per loaded model so that calls sharing
//! that start (every refine in one mode: the template, the system prompt and the task
//! line) skip its prefill.
//!
//! An entry is a compact [`KvCache::snapshot`] per layer; a generation clones it and
//! writes after it, which copies on the first write and leaves the entry intact. Entries
//! live as long as the model (unloading drops them), at most [`PrefixCache::CAPACITY`]
//! of them, the least recently used going first.

use std::sync::Mutex;

use crate::nn::KvCache;

/// Stored prompt prefixes of one model.
#[derive(Default)]
pub struct PrefixCache {
    entries: Mutex<Vec<Entry>>,
}

struct Entry {
    tokens: Vec<u32>,
    layers: Vec<KvCache>,
}

impl PrefixCache {
    /// Entries kept: one per refine mode and a few custom prompts.
    pub const CAPACITY: usize = 8;

    pub fn new() -> Self {
        Self::default()
    }

    /// The longest stored prefix of `prompt`: a copy-on-write clone of its caches and
    /// its length in tokens; `None` when no entry starts `prompt`.
    pub fn lookup(&self, prompt: &[u32]) -> Option<(Vec<KvCache>, usize)> {
        let mut entries = self.lock();
        let best = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.tokens.len() <= prompt.len() && prompt.starts_with(&e.tokens))
            .max_by_key(|(_, e)| e.tokens.len())
            .map(|(i, _)| i)?;
        // Most recently used last.
        let entry = entries.remove(best);
        let found = (entry.layers.clone(), entry.tokens.len());
        entries.push(entry);
        Some(found)
    }

    /// Keep `layers` (snapshots holding exactly `tokens`) for later prompts that start
    /// with `tokens`, replacing an entry for the same tokens.
    pub fn insert(&self, tokens: Vec<u32>, layers: Vec<KvCache>) {
        let mut entries = self.lock();
        entries.retain(|e| e.tokens != tokens);
        if entries.len() >= Self::CAPACITY {
            entries.remove(0);
        }
        entries.push(Entry { tokens, layers });
    }

    /// Drop every entry (their memory goes back to MLX).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Number of stored prefixes.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // The entries stay consistent whatever a panicking holder did: each change is
        // one push, remove or retain.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
