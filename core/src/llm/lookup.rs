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
    /// Draft only where drafting is measured to pay ([`Drafter`]); `false`: draft
    /// `max_draft` tokens wherever a match is found (tests, measurements).
    pub adaptive: bool,
}

impl Default for PromptLookup {
    fn default() -> Self {
        Self {
            max_ngram: 4,
            min_ngram: 1,
            max_draft: 16,
            adaptive: true,
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
            adaptive: self.adaptive,
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

/// Decides whether and how much to draft from what drafting has been measured to cost
/// and yield in this generation, so that drafting is used only where it pays.
///
/// A verification pass of `k` drafts costs about `base + beta * k` plain steps: `base`
/// (at least 1) is a pass's fixed cost, `beta` what each drafted token adds. Both are
/// near 1 and 0 where decoding is bound by memory or by the host (a GPU: the pass reads
/// the weights once, as a plain step does); on a small CPU a pass of more than one
/// token costs a fixed ~1.7 steps, then ~0.07 per token (measured with
/// `bench/forward_cost.py`: 1.75x a step at 2 tokens, 1.88x at 5, 2.72x at 17). Each
/// drafted token is right with probability `p` (given the ones before it were), so a
/// pass yields `1 + p + p^2 + ... + p^k` tokens. The length drafted is the one with the
/// best yield per cost; when no length beats a plain step, it decodes plainly
/// (pipelined, which a pass cannot be) and probes with a one-token draft now and then,
/// so that a passage that starts copying is noticed.
///
/// `p` is learnt from the drafts (a moving average). `base` is learnt from wall-clock
/// times too, unless the generation is seeded: then decisions depend on the tokens
/// alone, and a fixed seed gives the same text on every run however loaded the machine.
#[derive(Debug, Clone)]
pub struct Drafter {
    cfg: PromptLookup,
    /// Probability that a drafted token is accepted.
    p: f64,
    /// Fixed cost of a pass, in plain steps.
    base: f64,
    /// Extra cost of one drafted token in a pass, in plain steps.
    beta: f64,
    /// Seconds per plain (pipelined) token, once measured.
    plain_secs: Option<f64>,
    /// Learn costs from wall-clock times (off for seeded generations).
    timed: bool,
    /// Plain steps since the last probe while drafting did not pay.
    idle: usize,
}

impl Drafter {
    /// Weight of the newest observation in the moving averages.
    const RATE: f64 = 0.3;
    /// Expected tokens per plain step's cost a pass must reach to be made.
    const MARGIN: f64 = 1.05;
    /// While drafting does not pay, a one-token probe every this many plain steps.
    const PROBE_EVERY: usize = 16;

    /// `compute_bound`: a pass costs more than a step (the CPU backend), which sets the
    /// costs before they are measured. `timed`: learn the fixed cost from wall-clock
    /// times (not for seeded generations, which must be reproducible).
    pub fn new(cfg: PromptLookup, compute_bound: bool, timed: bool) -> Self {
        let (base, beta) = if compute_bound {
            (1.7, 0.07)
        } else {
            (1.05, 0.01)
        };
        Self {
            cfg: cfg.clamped(),
            p: 0.5,
            base,
            beta,
            plain_secs: None,
            timed,
            idle: 0,
        }
    }

    /// How many tokens are worth drafting now (at most `room`); 0: decode plainly.
    pub fn length(&mut self, room: usize) -> usize {
        let limit = self.cfg.max_draft.min(room);
        if limit == 0 || !self.cfg.adaptive {
            return limit;
        }
        // A pass must beat a plain step by a margin: estimates are noisy, and a pass
        // gives up the overlap of host and device that plain decoding has.
        let (mut best, mut best_gain) = (0, Self::MARGIN);
        let (mut expected, mut pk) = (1.0, 1.0);
        for k in 1..=limit {
            pk *= self.p;
            expected += pk;
            let gain = expected / (self.base + self.beta * k as f64);
            if gain > best_gain {
                (best, best_gain) = (k, gain);
            }
        }
        if best == 0 {
            self.idle += 1;
            if self.idle >= Self::PROBE_EVERY {
                self.idle = 0;
                return 1;
            }
        }
        best
    }

    /// The draft for what follows `history`, at most `room` tokens; empty when drafting
    /// does not pay or nothing matches.
    pub fn propose<'h>(&mut self, history: &'h [u32], room: usize) -> &'h [u32] {
        match self.length(room) {
            0 => &[],
            k => find_draft(history, &self.cfg, k),
        }
    }

    /// A plain token took `secs` (steady state, pipelined).
    pub fn observe_plain(&mut self, secs: f64) {
        if !self.timed {
            return;
        }
        self.plain_secs = Some(match self.plain_secs {
            Some(t) => t + Self::RATE * (secs - t),
            None => secs,
        });
    }

    /// A verification pass of `drafted` tokens, `accepted` of them right, took `secs`.
    pub fn observe_pass(&mut self, drafted: usize, accepted: usize, secs: f64) {
        if drafted == 0 {
            return;
        }
        // Trials: each accepted token, plus the one rejected (if any).
        let trials = accepted + usize::from(accepted < drafted);
        let seen = accepted as f64 / trials as f64;
        self.p += Self::RATE * (seen - self.p);
        self.p = self.p.clamp(0.01, 0.99);
        if let Some(plain) = self.plain_secs.filter(|t| *t > 0.0 && self.timed) {
            let base = (secs / plain - self.beta * drafted as f64).max(1.0);
            self.base += Self::RATE * (base - self.base);
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
            adaptive: true,
        }
        .clamped();
        assert_eq!((c.max_ngram, c.min_ngram, c.max_draft), (1, 1, 64));
    }

    #[test]
    fn drafts_only_where_it_pays() {
        // Unmeasured: a few tokens on a GPU, none on a CPU until drafts are right.
        let mut cpu = Drafter::new(PromptLookup::default(), true, true);
        assert_eq!(cpu.length(100), 0);
        let mut d = Drafter::new(PromptLookup::default(), false, true);
        let first = d.length(100);
        assert!((2..=16).contains(&first), "{first}");
        assert!(d.length(1) <= 1);
        // Passes cost what a plain step does (a GPU) and drafts are right: draft long.
        d.observe_plain(0.005);
        for _ in 0..10 {
            d.observe_pass(16, 16, 0.0052);
        }
        assert_eq!(d.length(100), 16);
        // Drafts that are always wrong: plain decoding, a probe every 16 steps.
        for _ in 0..10 {
            d.observe_pass(4, 0, 0.0052);
        }
        let lens: Vec<usize> = (0..32).map(|_| d.length(100)).collect();
        assert_eq!(lens.iter().filter(|&&k| k > 0).count(), 2, "{lens:?}");
        assert!(lens.iter().all(|&k| k <= 1));
        // A CPU (a pass costs ~1.7 steps): wrong drafts do not pay, text that is
        // copied does, and then long drafts do.
        let mut d = Drafter::new(PromptLookup::default(), true, true);
        d.observe_plain(0.05);
        for _ in 0..10 {
            d.observe_pass(4, 0, 0.09);
        }
        assert_eq!(d.length(100), 0);
        for _ in 0..10 {
            d.observe_pass(8, 8, 0.12);
        }
        let k = d.length(100);
        assert!(k >= 8, "{k}");
        let h = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2];
        assert_eq!(d.propose(&h, 100).len(), k.min(12));
        assert!(d.propose(&h, 1).len() <= 1);
    }

    #[test]
    fn untimed_drafters_decide_from_tokens_alone() {
        let run = |plain: f64, pass: f64| {
            let mut d = Drafter::new(PromptLookup::default(), true, false);
            let mut lens = Vec::new();
            for i in 0..40 {
                d.observe_plain(plain);
                let k = d.length(100);
                lens.push(k);
                if k > 0 {
                    d.observe_pass(k, if i % 3 == 0 { 0 } else { k }, pass);
                }
            }
            lens
        };
        assert_eq!(run(0.05, 0.09), run(0.01, 5.0));
    }
}
