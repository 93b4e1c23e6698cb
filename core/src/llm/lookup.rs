//! Prompt-lookup drafting: the text a cleanup model writes is mostly the text it was
//! given, so the prompt itself predicts the next tokens. The last few tokens generated
//! are looked up earlier in the prompt and the output; the tokens that followed that
//! earlier occurrence are the draft, and the generation loop checks the whole draft with
//! one forward pass ([`crate::llm::generate`]).
//!
//! This module only proposes: it holds no model state and never decides what is
//! emitted. How long drafts are adapts to how well they have been doing ([`Drafter`]),
//! so text with little overlap costs few wasted verification passes.

use serde::{Deserialize, Serialize};

/// Prompt-lookup settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PromptLookup {
    /// Longest suffix of the tokens so far that is looked up (tried first).
    pub max_ngram: usize,
    /// Shortest suffix looked up: 1 drafts after any single repeated token.
    pub min_ngram: usize,
    /// Most tokens drafted for one verification pass.
    pub max_draft: usize,
}

impl Default for PromptLookup {
    fn default() -> Self {
        Self {
            max_ngram: 4,
            min_ngram: 1,
            max_draft: 16,
        }
    }
}

impl PromptLookup {
    /// Bounds that keep the search and the verification pass small whatever a request
    /// asks for.
    pub const MAX_NGRAM: usize = 16;
    pub const MAX_DRAFT: usize = 64;

    /// Clamped into a working range: at least a 1-gram and a 1-token draft, at most
    /// [`Self::MAX_NGRAM`] and [`Self::MAX_DRAFT`].
    pub fn clamped(self) -> Self {
        let max_ngram = self.max_ngram.clamp(1, Self::MAX_NGRAM);
        Self {
            max_ngram,
            min_ngram: self.min_ngram.clamp(1, max_ngram),
            max_draft: self.max_draft.clamp(1, Self::MAX_DRAFT),
        }
    }
}

/// The tokens that followed the most recent earlier occurrence of the longest suffix
/// of `history` (between `max_ngram` and `min_ngram` tokens long), at most `limit` of
/// them; empty when no suffix occurs earlier.
pub fn find_draft<'h>(history: &'h [u32], cfg: &PromptLookup, limit: usize) -> &'h [u32] {
    let n_max = cfg.max_ngram.min(history.len().saturating_sub(1));
    if limit == 0 || n_max == 0 {
        return &[];
    }
    for n in (cfg.min_ngram.max(1)..=n_max).rev() {
        let suffix = &history[history.len() - n..];
        // Latest occurrence first: the start `s` of a match ends before the suffix
        // itself, so at least one token follows it.
        for s in (0..history.len() - n).rev() {
            if &history[s..s + n] == suffix {
                let from = s + n;
                let to = (from + limit).min(history.len());
                return &history[from..to];
            }
        }
    }
    &[]
}

/// Draft length that follows how drafts have been doing, and a back-off after drafts
/// that were wholly rejected, so a run without overlap falls back to plain decoding.
#[derive(Debug, Clone)]
pub struct Drafter {
    cfg: PromptLookup,
    /// Tokens to draft next time.
    len: usize,
    /// Plain steps to take before looking up again.
    skip: usize,
    /// Consecutive wholly rejected drafts.
    misses: u32,
}

impl Drafter {
    /// How long the first draft is: verifying a few tokens costs about one plain step.
    const START: usize = 4;
    /// Longest back-off, in plain steps.
    const MAX_SKIP: usize = 8;

    pub fn new(cfg: PromptLookup) -> Self {
        let cfg = cfg.clamped();
        Self {
            len: Self::START.min(cfg.max_draft),
            cfg,
            skip: 0,
            misses: 0,
        }
    }

    /// The draft for what follows `history`, at most `room` tokens; empty while backing
    /// off or when nothing matches.
    pub fn propose<'h>(&mut self, history: &'h [u32], room: usize) -> &'h [u32] {
        if self.skip > 0 {
            self.skip -= 1;
            return &[];
        }
        find_draft(history, &self.cfg, self.len.min(room))
    }

    /// Learn from a verification: `accepted` of `drafted` tokens were right. All right:
    /// draft twice as many next time; some: as many as were right, plus one; none: back
    /// off for 1, 2, 4, … plain steps.
    pub fn observe(&mut self, drafted: usize, accepted: usize) {
        if drafted == 0 {
            return;
        }
        if accepted == drafted {
            self.len = (self.len * 2).min(self.cfg.max_draft);
            self.misses = 0;
        } else if accepted > 0 {
            self.len = (accepted + 1).clamp(2, self.cfg.max_draft);
            self.misses = 0;
        } else {
            self.len = Self::START.min(self.cfg.max_draft);
            self.skip = (1usize << self.misses.min(5)).min(Self::MAX_SKIP);
            self.misses += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_what_followed_the_latest_longest_match() {
        let cfg = PromptLookup {
            min_ngram: 2,
            ..PromptLookup::default()
        };
        // "a b c d e ... a b c" → "d e".
        let h = [1, 2, 3, 4, 5, 9, 1, 2, 3];
        assert_eq!(find_draft(&h, &cfg, 2), &[4, 5]);
        assert_eq!(find_draft(&h, &cfg, 10), &[4, 5, 9, 1, 2, 3]);
        // The longer suffix wins over a later, shorter match.
        let h = [7, 8, 1, 2, 3, 4, 6, 6, 2, 3, 5, 1, 2, 3];
        assert_eq!(find_draft(&h, &cfg, 1), &[4]);
        // Latest occurrence among equal lengths.
        let h = [2, 3, 4, 0, 2, 3, 5, 0, 2, 3];
        assert_eq!(find_draft(&h, &cfg, 1), &[5]);
        // Nothing repeats, or the suffix is shorter than min_ngram.
        assert!(find_draft(&[1, 2, 3, 4], &cfg, 4).is_empty());
        assert!(find_draft(&[1, 2, 1], &cfg, 4).is_empty());
        let one = PromptLookup {
            min_ngram: 1,
            ..cfg
        };
        assert_eq!(find_draft(&[1, 2, 1], &one, 4), &[2, 1]);
        assert!(find_draft(&[], &cfg, 4).is_empty());
        assert!(find_draft(&[5], &one, 4).is_empty());
        assert!(find_draft(&h, &cfg, 0).is_empty());
    }

    #[test]
    fn settings_are_clamped() {
        let c = PromptLookup {
            max_ngram: 0,
            min_ngram: 9,
            max_draft: 1 << 40,
        }
        .clamped();
        assert_eq!((c.max_ngram, c.min_ngram, c.max_draft), (1, 1, 64));
    }

    #[test]
    fn draft_length_adapts_and_backs_off() {
        let mut d = Drafter::new(PromptLookup::default());
        let h = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2];
        assert_eq!(d.propose(&h, 100).len(), 4);
        d.observe(4, 4);
        assert_eq!(d.propose(&h, 100).len(), 8);
        assert_eq!(d.propose(&h, 3).len(), 3);
        d.observe(8, 2);
        assert_eq!(d.propose(&h, 100).len(), 3);
        d.observe(3, 0);
        assert!(d.propose(&h, 100).is_empty());
        assert_eq!(d.propose(&h, 100).len(), 4);
        d.observe(4, 0);
        assert!(d.propose(&h, 100).is_empty());
        assert!(d.propose(&h, 100).is_empty());
        assert_eq!(d.propose(&h, 100).len(), 4);
        d.observe(4, 1);
        assert_eq!(d.propose(&h, 100).len(), 2);
    }
}
