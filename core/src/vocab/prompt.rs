//! The vocabulary as prompts: Whisper's initial prompt, which makes the model expect
//! the user's words (it conditions on the prompt as on text said just before), and the
//! list of spellings the refine prompt gives the cleanup model
//! ([`crate::refine::RefineContext::vocabulary`], which bounds it there).
//!
//! Both list the same spellings: the terms, then the written forms of replacements (a
//! written form is what should appear in the text, so Whisper may as well produce it),
//! each once ignoring case, in the order the user added them; written forms without a
//! letter or digit (a "🙂") are left out. Whisper reads at most [`WHISPER_PROMPT_TOKENS`] prompt tokens (the caller's
//! closure counts them with the model's tokenizer); entries that do not fit are left out
//! whole, never cut.

use std::collections::HashSet;

use super::{Vocabulary, clean, key};

/// The most prompt tokens Whisper conditions on: half its 448-token text context, less
/// one for the start-of-previous token (`n_text_ctx / 2 - 1`, as OpenAI's decoder cuts).
pub const WHISPER_PROMPT_TOKENS: usize = 223;

/// The longest Whisper prompt built, in characters, whatever the closure says: far more
/// than 223 tokens of any real glossary, and a bound on the work for a closure that
/// accepts everything.
pub const MAX_WHISPER_PROMPT_CHARS: usize = 2_000;

/// Entries in a row that may fail to fit before the list is taken as full: a long entry
/// is skipped for shorter ones after it, but a full prompt does not try all 2,000.
const MAX_MISSES: usize = 16;

impl Vocabulary {
    /// The spellings the prompts list: terms, then written forms holding a letter or
    /// digit, each once (ignoring case), cleaned; unusable entries are skipped.
    pub fn spellings(&self) -> Vec<String> {
        let terms = self
            .terms
            .iter()
            .filter_map(|t| clean("term", t, true).ok());
        let written = self
            .replacements
            .iter()
            .filter_map(|r| clean("written", &r.written, true).ok());
        let mut seen = HashSet::new();
        terms
            .chain(written)
            .filter(|s| seen.insert(key(s)))
            .collect()
    }

    /// Whisper's initial prompt, e.g. `Glossary: Murmur.app, Dashwood, macOS.`, with as
    /// many spellings as `fits` accepts (in order; one that does not fit is skipped). `fits`
    /// gets the whole prompt and says whether it is within the budget, e.g.
    /// `|p| tokenizer.encode(&format!(" {p}")).map_or(false, |t| t.len() <= WHISPER_PROMPT_TOKENS)`.
    /// `None` when the vocabulary lists nothing or nothing fits.
    pub fn whisper_prompt(&self, fits: impl Fn(&str) -> bool) -> Option<String> {
        fill(
            "Glossary: ",
            &self.spellings(),
            MAX_WHISPER_PROMPT_CHARS,
            fits,
        )
    }
}

/// `prefix` and as many `entries` as fit (comma-separated, ending in a full stop) within
/// `max_chars` and `fits`.
fn fill(
    prefix: &str,
    entries: &[String],
    max_chars: usize,
    fits: impl Fn(&str) -> bool,
) -> Option<String> {
    let mut kept = prefix.to_string();
    let mut count = 0;
    let mut misses = 0;
    let mut candidate = String::new();
    for entry in entries {
        candidate.clear();
        candidate.push_str(&kept);
        if count > 0 {
            candidate.push_str(", ");
        }
        candidate.push_str(entry);
        candidate.push('.');
        if candidate.chars().count() <= max_chars && fits(&candidate) {
            candidate.pop();
            std::mem::swap(&mut kept, &mut candidate);
            count += 1;
            misses = 0;
        } else {
            misses += 1;
            if misses == MAX_MISSES {
                break;
            }
        }
    }
    (count > 0).then(|| kept + ".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{MAX_ENTRIES, Replacement};

    fn vocab() -> Vocabulary {
        let mut v = Vocabulary::new();
        for t in ["Dashwood", "Norland", "Elinor", "Marianne"] {
            v.add_term(t).unwrap();
        }
        v.add_replacement("murmur dot app", "Murmur.app").unwrap();
        v.add_replacement("dash would", "DASHWOOD").unwrap();
        v.add_replacement("smiley face", "🙂").unwrap();
        v
    }

    #[test]
    fn spellings_are_terms_then_written_forms_once() {
        assert_eq!(
            vocab().spellings(),
            ["Dashwood", "Norland", "Elinor", "Marianne", "Murmur.app"]
        );
    }

    #[test]
    fn the_whisper_prompt_keeps_what_fits() {
        let v = vocab();
        assert_eq!(
            v.whisper_prompt(|_| true).unwrap(),
            "Glossary: Dashwood, Norland, Elinor, Marianne, Murmur.app."
        );
        // A budget of four "tokens" (words here).
        let words = |n: usize| move |p: &str| p.split_whitespace().count() <= n;
        assert_eq!(
            v.whisper_prompt(words(4)).unwrap(),
            "Glossary: Dashwood, Norland, Elinor."
        );
        assert_eq!(v.whisper_prompt(words(1)), None);
        assert_eq!(v.whisper_prompt(|_| false), None);
        assert_eq!(Vocabulary::new().whisper_prompt(|_| true), None);
        // An entry too long for the budget is skipped for the shorter ones after it.
        let mut v = Vocabulary::new();
        v.add_term("Ann").unwrap();
        v.add_term(&"Long ".repeat(19)).unwrap();
        v.add_term("Bo").unwrap();
        let short = |p: &str| p.len() <= 40;
        assert_eq!(v.whisper_prompt(short).unwrap(), "Glossary: Ann, Bo.");
    }

    #[test]
    fn prompts_are_bounded_for_a_full_vocabulary() {
        let mut v = Vocabulary::new();
        for i in 0..MAX_ENTRIES {
            v.add_term(&format!("Term{i:04}{}", "x".repeat(80)))
                .unwrap();
        }
        let calls = std::cell::Cell::new(0);
        let p = v
            .whisper_prompt(|_| {
                calls.set(calls.get() + 1);
                true
            })
            .unwrap();
        assert!(p.chars().count() <= MAX_WHISPER_PROMPT_CHARS);
        assert!(calls.get() < 50, "{} calls", calls.get());
    }

    #[test]
    fn unusable_entries_are_left_out_of_the_spellings() {
        // Entries that skipped validation.
        let raw = Vocabulary {
            terms: vec!["".into(), "a\u{0}b".into(), "Fine".into()],
            replacements: vec![Replacement {
                spoken: "x".into(),
                written: "\n".into(),
            }],
        };
        assert_eq!(raw.spellings(), ["Fine"]);
        assert_eq!(Vocabulary::new().whisper_prompt(|_| true), None);
    }
}
