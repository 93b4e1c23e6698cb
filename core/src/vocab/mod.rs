//! The user's vocabulary: words Murmur must spell their way (names, products, jargon)
//! and spoken forms to write differently ("murmur dot app" → "Murmur.app").
//!
//! Dictation gets the user's own words wrong in two ways, and the vocabulary answers
//! both: Whisper mishears a word it has rarely seen (its initial prompt, built by
//! [`Vocabulary::whisper_prompt`], makes it expect the word), and some words are said
//! differently from how they are written (a [`Replacement`], applied to the transcript
//! by [`Vocabulary::apply`]). The cleanup is told the spellings too
//! ([`Vocabulary::spellings`], through [`crate::refine::RefineContext`]).
//!
//! One concept per module:
//! - here: the entries, their validation and editing (add, remove, dedupe);
//! - [`store`]: `vocabulary.json` in Murmur's settings folder (bounded reads, atomic
//!   writes, one writer at a time);
//! - [`csv`]: importing a list of entries from a CSV file;
//! - [`replace`]: applying the vocabulary to a transcript;
//! - [`prompt`]: the Whisper initial prompt and the refine hint.
//!
//! Entries are compared ignoring case (Unicode lowercase) and runs of whitespace, so
//! "MacOS" and "macos" are one term; adding it again respells it. Every entry is checked
//! before it is kept: not blank, no control or bidirectional-override characters, at
//! most [`MAX_ENTRY_CHARS`] characters, and at most [`MAX_ENTRIES`] entries in all, so a
//! vocabulary stays small enough to read, prompt and apply at every dictation.

pub mod csv;
pub mod prompt;
pub mod replace;
pub mod store;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use csv::Imported;
pub use replace::Applied;
pub use store::VocabularyStore;

/// The most characters (Unicode scalar values) one term, spoken or written form holds:
/// a name or a phrase, never a paragraph.
pub const MAX_ENTRY_CHARS: usize = 100;

/// The most entries (terms plus replacements) a vocabulary holds: far more than a person
/// curates, few enough to scan at every dictation.
pub const MAX_ENTRIES: usize = 2_000;

/// The user's vocabulary. Build and edit it through its methods, which validate; the
/// fields are public for reading and for serde (JSON: `{"terms": [...],
/// "replacements": [{"spoken": "...", "written": "..."}]}`), and every use of it
/// ([`Vocabulary::apply`], the prompts) copes with entries that skipped validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Vocabulary {
    /// Words and phrases to spell exactly as given (e.g. "Dashwood", "macOS").
    pub terms: Vec<String>,
    /// Spoken forms to write differently.
    pub replacements: Vec<Replacement>,
}

/// Write `written` wherever the transcript says `spoken`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Replacement {
    /// What is said, e.g. "murmur dot app" (matched by its words, ignoring case and
    /// the punctuation between them).
    pub spoken: String,
    /// What to write instead, e.g. "Murmur.app" (written exactly).
    pub written: String,
}

/// One entry to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Term(String),
    Replacement(Replacement),
}

/// What adding an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum AddOutcome {
    /// A new entry.
    Added,
    /// An entry equal to it ignoring case was there: its spelling (a term's, or a
    /// replacement's written form) is now the one given.
    Updated,
    /// The same entry was already there.
    Unchanged,
}

/// What a removal took out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Removed {
    pub terms: Vec<String>,
    pub replacements: Vec<Replacement>,
}

impl Removed {
    /// Whether nothing matched.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.replacements.is_empty()
    }
}

impl Vocabulary {
    /// An empty vocabulary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries in all (terms plus replacements).
    pub fn len(&self) -> usize {
        self.terms.len() + self.replacements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add a term or a replacement.
    pub fn add(&mut self, entry: Entry) -> Result<AddOutcome> {
        match entry {
            Entry::Term(t) => self.add_term(&t),
            Entry::Replacement(r) => self.add_replacement(&r.spoken, &r.written),
        }
    }

    /// Add a term to spell as given. One equal to it ignoring case is respelled
    /// ([`AddOutcome::Updated`]) rather than added twice.
    pub fn add_term(&mut self, term: &str) -> Result<AddOutcome> {
        let term = clean("term", term, true)?;
        let k = key(&term);
        if let Some(existing) = self.terms.iter_mut().find(|t| key(t) == k) {
            return Ok(respell(existing, term));
        }
        self.check_room()?;
        self.terms.push(term);
        Ok(AddOutcome::Added)
    }

    /// Add a replacement: write `written` where `spoken` is said. A replacement with the
    /// same spoken form (ignoring case) gets the new written form.
    pub fn add_replacement(&mut self, spoken: &str, written: &str) -> Result<AddOutcome> {
        let spoken = clean("spoken", spoken, true)?;
        let written = clean("written", written, false)?;
        let k = key(&spoken);
        if let Some(existing) = self.replacements.iter_mut().find(|r| key(&r.spoken) == k) {
            let spoken_changed = respell(&mut existing.spoken, spoken);
            let written_changed = respell(&mut existing.written, written);
            return Ok(
                if (spoken_changed, written_changed)
                    == (AddOutcome::Unchanged, AddOutcome::Unchanged)
                {
                    AddOutcome::Unchanged
                } else {
                    AddOutcome::Updated
                },
            );
        }
        self.check_room()?;
        self.replacements.push(Replacement { spoken, written });
        Ok(AddOutcome::Added)
    }

    /// Remove the term equal to `entry` and every replacement whose spoken or written
    /// form is `entry` (ignoring case and runs of whitespace), so a replacement can be
    /// removed by either side. An empty [`Removed`] when nothing matched.
    pub fn remove(&mut self, entry: &str) -> Removed {
        let k = key(&collapse_whitespace(entry.trim()));
        let mut removed = Removed::default();
        self.terms.retain(|t| {
            let hit = key(t) == k;
            if hit {
                removed.terms.push(t.clone());
            }
            !hit
        });
        self.replacements.retain(|r| {
            let hit = key(&r.spoken) == k || key(&r.written) == k;
            if hit {
                removed.replacements.push(r.clone());
            }
            !hit
        });
        removed
    }

    /// Whether a term equal to `term` (ignoring case) is here.
    pub fn has_term(&self, term: &str) -> bool {
        let k = key(&collapse_whitespace(term.trim()));
        self.terms.iter().any(|t| key(t) == k)
    }

    /// This vocabulary rebuilt entry by entry through the checks [`Vocabulary::add`]
    /// makes (duplicates merge, the last spelling winning), for one read from a file a
    /// person may have edited. The error names the entry, e.g. `terms[3]`.
    pub fn validated(&self) -> Result<Vocabulary> {
        if self.len() > MAX_ENTRIES {
            return Err(too_many(self.len()));
        }
        let mut out = Vocabulary::new();
        for (i, t) in self.terms.iter().enumerate() {
            out.add_term(t)
                .map_err(|e| rename(e, format!("terms[{i}]")))?;
        }
        for (i, r) in self.replacements.iter().enumerate() {
            out.add_replacement(&r.spoken, &r.written)
                .map_err(|e| rename(e, format!("replacements[{i}]")))?;
        }
        Ok(out)
    }

    fn check_room(&self) -> Result<()> {
        if self.len() >= MAX_ENTRIES {
            return Err(too_many(self.len() + 1));
        }
        Ok(())
    }
}

fn too_many(n: usize) -> Error {
    Error::InvalidArgument {
        name: "vocabulary".into(),
        reason: format!(
            "{n} entries is too many: a vocabulary holds at most {MAX_ENTRIES} terms and replacements in all"
        ),
    }
}

/// `e` with its argument name prefixed by where the argument came from
/// (`terms[3]` + `term` → `terms[3].term`).
fn rename(e: Error, place: String) -> Error {
    match e {
        Error::InvalidArgument { name, reason } => Error::InvalidArgument {
            name: format!("{place}.{name}"),
            reason,
        },
        other => other,
    }
}

/// Set `existing` to `new`, saying whether that changed it.
fn respell(existing: &mut String, new: String) -> AddOutcome {
    if *existing == new {
        AddOutcome::Unchanged
    } else {
        *existing = new;
        AddOutcome::Updated
    }
}

/// The comparison key of a (cleaned) entry: Unicode lowercase. Full case folding
/// ("ß" = "SS") would need Unicode's folding tables; lowercase covers what dictation
/// produces.
pub(crate) fn key(s: &str) -> String {
    s.to_lowercase()
}

/// Characters no entry may hold: control characters (a newline or tab would break the
/// one-line prompts and the CSV form) and the invisible bidirectional embedding,
/// override and isolate marks and U+FEFF, which can make an entry display as something
/// it is not.
pub(crate) fn forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// `raw` checked and normalized for use as the `field` of an entry: trimmed, runs of
/// whitespace made one space. `needs_word`: it must hold a letter or digit (a term or
/// spoken form is matched by its words; a written form may be a symbol). Every check
/// runs on the borrowed input before anything is allocated.
pub(crate) fn clean(field: &str, raw: &str, needs_word: bool) -> Result<String> {
    let invalid = |reason: String| Error::InvalidArgument {
        name: field.into(),
        reason,
    };
    let s = raw.trim();
    if s.is_empty() {
        return Err(invalid("is blank".into()));
    }
    if let Some(c) = s.chars().find(|&c| forbidden(c)) {
        return Err(invalid(format!(
            "holds the control character U+{:04X}; an entry is one line of visible text",
            c as u32
        )));
    }
    // Counting stops past the limit, so a huge input costs no more than a long one.
    if s.chars().nth(MAX_ENTRY_CHARS).is_some() {
        return Err(invalid(format!(
            "is longer than {MAX_ENTRY_CHARS} characters, the most an entry holds"
        )));
    }
    if needs_word && !s.chars().any(char::is_alphanumeric) {
        return Err(invalid(format!("{s:?} holds no letter or digit")));
    }
    Ok(collapse_whitespace(s))
}

/// Runs of whitespace as one space.
pub(crate) fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(e: Error) -> (String, String) {
        match e {
            Error::InvalidArgument { name, reason } => (name, reason),
            other => panic!("not InvalidArgument: {other:?}"),
        }
    }

    #[test]
    fn terms_dedupe_ignoring_case_and_respell() {
        let mut v = Vocabulary::new();
        assert_eq!(v.add_term("  MacOS ").unwrap(), AddOutcome::Added);
        assert_eq!(v.add_term("macOS").unwrap(), AddOutcome::Updated);
        assert_eq!(v.add_term("MACOS").unwrap(), AddOutcome::Updated);
        assert_eq!(v.add_term("MACOS").unwrap(), AddOutcome::Unchanged);
        assert_eq!(
            v.add_term("Jane  \u{2003} Austen").unwrap(),
            AddOutcome::Added
        );
        assert_eq!(v.terms, ["MACOS", "Jane Austen"]);
        assert!(v.has_term("jane austen") && v.has_term(" macos"));
    }

    #[test]
    fn replacements_dedupe_by_spoken_form() {
        let mut v = Vocabulary::new();
        let add = |v: &mut Vocabulary, s, w| v.add_replacement(s, w).unwrap();
        assert_eq!(
            add(&mut v, "murmur dot app", "Murmur.app"),
            AddOutcome::Added
        );
        assert_eq!(
            add(&mut v, "Murmur  Dot App", "Murmur.app"),
            AddOutcome::Updated
        );
        assert_eq!(
            add(&mut v, "Murmur Dot App", "Murmur.app"),
            AddOutcome::Unchanged
        );
        assert_eq!(
            add(&mut v, "murmur dot app", "murmur.app"),
            AddOutcome::Updated
        );
        assert_eq!(v.replacements.len(), 1);
        assert_eq!(v.replacements[0].written, "murmur.app");
        // A written form may be a symbol; a spoken form needs a word.
        assert_eq!(add(&mut v, "smiley face", "🙂"), AddOutcome::Added);
        let (name, _) = invalid(v.add_replacement("🙂", "smile").unwrap_err());
        assert_eq!(name, "spoken");
    }

    #[test]
    fn invalid_entries_name_the_field_and_limit() {
        let mut v = Vocabulary::new();
        for (bad, why) in [
            ("", "blank"),
            ("   \t ", "blank"),
            ("a\nb", "U+000A"),
            ("bell\u{7}", "U+0007"),
            ("evil\u{202E}txt", "U+202E"),
            ("...", "no letter"),
        ] {
            let (name, reason) = invalid(v.add_term(bad).unwrap_err());
            assert_eq!(name, "term");
            assert!(reason.contains(why), "{bad:?}: {reason}");
        }
        let long = "x".repeat(MAX_ENTRY_CHARS + 1);
        let (name, reason) = invalid(v.add_replacement("ok", &long).unwrap_err());
        assert_eq!(name, "written");
        assert!(reason.contains("100"), "{reason}");
        // Exactly the limit is fine, in characters, not bytes.
        v.add_term(&"é".repeat(MAX_ENTRY_CHARS)).unwrap();
        // A gigabyte-long entry is refused without being copied.
        let huge = "a".repeat(1 << 24);
        assert!(v.add_term(&huge).is_err());
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn the_entry_count_is_bounded() {
        let mut v = Vocabulary::new();
        for i in 0..MAX_ENTRIES - 1 {
            v.add_term(&format!("term{i}")).unwrap();
        }
        v.add_replacement("last one", "Last").unwrap();
        let (name, reason) = invalid(v.add_term("one more").unwrap_err());
        assert_eq!(name, "vocabulary");
        assert!(reason.contains("2000"), "{reason}");
        // Respelling an entry adds none, so it is still allowed when full.
        assert_eq!(v.add_term("TERM7").unwrap(), AddOutcome::Updated);
        assert_eq!(v.len(), MAX_ENTRIES);
        let mut big = v.clone();
        big.terms.push("overflow".into());
        assert_eq!(invalid(big.validated().unwrap_err()).0, "vocabulary");
    }

    #[test]
    fn remove_takes_terms_and_either_side_of_replacements() {
        let mut v = Vocabulary::new();
        v.add_term("Murmur.app").unwrap();
        v.add_term("Dashwood").unwrap();
        v.add_replacement("murmur dot app", "Murmur.app").unwrap();
        v.add_replacement("dash would", "Dashwood").unwrap();
        let r = v.remove(" murmur.APP ");
        assert_eq!(r.terms, ["Murmur.app"]);
        assert_eq!(r.replacements.len(), 1);
        let r = v.remove("Dash   Would");
        assert!(r.terms.is_empty() && r.replacements.len() == 1);
        assert!(v.remove("nothing").is_empty());
        assert_eq!(v.terms, ["Dashwood"]);
        assert!(v.replacements.is_empty());
    }

    #[test]
    fn validated_merges_duplicates_and_names_the_bad_entry() {
        let v = Vocabulary {
            terms: vec!["a".into(), " A ".into(), "b".into()],
            replacements: vec![Replacement {
                spoken: "x".into(),
                written: "y".into(),
            }],
        };
        assert_eq!(v.validated().unwrap().terms, ["A", "b"]);
        let bad = Vocabulary {
            terms: vec!["ok".into()],
            replacements: vec![Replacement {
                spoken: "x".into(),
                written: "\u{0}".into(),
            }],
        };
        let (name, _) = invalid(bad.validated().unwrap_err());
        assert_eq!(name, "replacements[0].written");
    }

    #[test]
    fn json_shape() {
        let mut v = Vocabulary::new();
        v.add_term("Dashwood").unwrap();
        v.add_replacement("murmur dot app", "Murmur.app").unwrap();
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "terms": ["Dashwood"],
                "replacements": [{"spoken": "murmur dot app", "written": "Murmur.app"}]
            })
        );
        let back: Vocabulary = serde_json::from_value(json).unwrap();
        assert_eq!(back, v);
        let empty: Vocabulary = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty());
    }
}
