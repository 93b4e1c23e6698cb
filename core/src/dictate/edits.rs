//! The word-level edits between a transcript and its final text, for clients to show
//! ("um" struck out, "their" → "there") and to undo one by one.
//!
//! Words are runs of non-whitespace, so punctuation travels with its word: "france" →
//! "France?" is one replacement. Offsets count characters (Unicode scalar values), the
//! one unit Swift (`unicodeScalars`), JavaScript (`Array.from`), Python and C callers can
//! all index without knowing UTF-8 or UTF-16.

use serde::{Deserialize, Serialize};
use similar::{Algorithm, DiffOp, capture_diff_slices_deadline};
use std::time::{Duration, Instant};

/// What an edit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum EditKind {
    /// Words added (`before` is empty).
    Insert,
    /// Words removed (`after` is empty).
    Delete,
    /// Words changed.
    Replace,
}

/// One change from the transcript to the final text. `before_start..before_end` are
/// character offsets into the transcript, `after_start..after_end` into the final text;
/// an insertion's empty `before` range (and a deletion's empty `after` range) sits where
/// the words were added (or removed), and the words an insertion or deletion covers
/// include the whitespace that separated them from their neighbour. Putting `before`
/// back over the `after` range of each edit, last first, restores the transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Edit {
    pub kind: EditKind,
    pub before_start: u32,
    pub before_end: u32,
    pub after_start: u32,
    pub after_end: u32,
    /// The transcript's words in the range (with the whitespace between them).
    pub before: String,
    /// The final text's words in the range.
    pub after: String,
}

/// A word and where it lies, in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word<'a> {
    pub text: &'a str,
    pub start: usize,
    pub end: usize,
}

/// The whitespace-separated words of `text` with their character offsets.
pub(crate) fn words(text: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None; // (byte start, char start)
    let mut chars = 0;
    for (byte, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some((b, s)) = current.take() {
                out.push(Word {
                    text: &text[b..byte],
                    start: s,
                    end: chars,
                });
            }
        } else if current.is_none() {
            current = Some((byte, chars));
        }
        chars += 1;
    }
    if let Some((b, s)) = current {
        out.push(Word {
            text: &text[b..],
            start: s,
            end: chars,
        });
    }
    out
}

/// How long a diff may search before settling for a coarser (still correct) answer:
/// texts here are at most a long dictation, but a hostile pair must not take minutes.
const DIFF_DEADLINE: Duration = Duration::from_millis(500);

/// The diff of two token lists, bounded in time.
pub(crate) fn diff<T: Eq + std::hash::Hash + Ord>(a: &[T], b: &[T]) -> Vec<DiffOp> {
    capture_diff_slices_deadline(Algorithm::Myers, a, b, Some(Instant::now() + DIFF_DEADLINE))
}

/// The edits that turn `before`'s words into `after`'s, in order.
pub fn word_edits(before: &str, after: &str) -> Vec<Edit> {
    let (a, b) = (words(before), words(after));
    let a_text: Vec<&str> = a.iter().map(|w| w.text).collect();
    let b_text: Vec<&str> = b.iter().map(|w| w.text).collect();
    let end_of = |ws: &[Word], text: &str| ws.last().map_or(text.chars().count(), |w| w.end);
    // Where an empty range at word index `i` sits: before word i, else after the last.
    let at =
        |ws: &[Word], i: usize, text: &str| ws.get(i).map_or_else(|| end_of(ws, text), |w| w.start);
    // The range of `n` words from index `i`. An insertion or deletion also takes the
    // whitespace that separates its words from the next word (from the previous one at
    // the end), so that undoing it leaves the words spaced as they were.
    let span = |ws: &[Word], text: &str, i: usize, n: usize, whole: bool| {
        if n == 0 {
            let p = at(ws, i, text);
            return (p, p, String::new());
        }
        let (mut s, mut e) = (ws[i].start, ws[i + n - 1].end);
        if whole {
            if let Some(next) = ws.get(i + n) {
                e = next.start;
            } else if i > 0 {
                s = ws[i - 1].end;
            }
        }
        (s, e, text.chars().skip(s).take(e - s).collect::<String>())
    };
    let mut edits = Vec::new();
    for op in diff(&a_text, &b_text) {
        let (kind, (oi, on), (ni, nn)) = match op {
            DiffOp::Equal { .. } => continue,
            DiffOp::Delete {
                old_index,
                old_len,
                new_index,
            } => (EditKind::Delete, (old_index, old_len), (new_index, 0)),
            DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => (EditKind::Insert, (old_index, 0), (new_index, new_len)),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => (
                EditKind::Replace,
                (old_index, old_len),
                (new_index, new_len),
            ),
        };
        let whole = kind != EditKind::Replace;
        let (bs, be, before_words) = span(&a, before, oi, on, whole);
        let (as_, ae, after_words) = span(&b, after, ni, nn, whole);
        edits.push(Edit {
            kind,
            before_start: bs as u32,
            before_end: be as u32,
            after_start: as_ as u32,
            after_end: ae as u32,
            before: before_words,
            after: after_words,
        });
    }
    edits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Put each edit's `before` back over its `after` range, last first.
    fn undo(after: &str, edits: &[Edit]) -> String {
        let mut chars: Vec<char> = after.chars().collect();
        for e in edits.iter().rev() {
            let replacement: Vec<char> = e.before.chars().collect();
            chars.splice(e.after_start as usize..e.after_end as usize, replacement);
        }
        chars.into_iter().collect()
    }

    fn squash(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn a_cleanup_becomes_deletes_and_replacements() {
        let before = "um so what is the capital of france";
        let after = "So, what is the capital of France?";
        let e = word_edits(before, after);
        let kinds: Vec<_> = e
            .iter()
            .map(|e| (e.kind, e.before.as_str(), e.after.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (EditKind::Replace, "um so", "So,"),
                (EditKind::Replace, "france", "France?"),
            ]
        );
        assert_eq!((e[0].before_start, e[0].before_end), (0, 5));
        assert_eq!((e[1].after_start, e[1].after_end), (27, 34));
        assert_eq!(squash(&undo(after, &e)), before);
    }

    #[test]
    fn inserts_and_deletes_sit_between_words() {
        let e = word_edits("ask not what", "ask what you");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].kind, EditKind::Delete);
        assert_eq!(
            (
                e[0].before_start,
                e[0].before_end,
                e[0].after_start,
                e[0].after_end
            ),
            (4, 8, 4, 4)
        );
        assert_eq!(e[0].before, "not ");
        assert_eq!(e[1].kind, EditKind::Insert);
        assert_eq!((e[1].before_start, e[1].before_end), (12, 12));
        assert_eq!((e[1].after_start, e[1].after_end), (8, 12));
        assert_eq!(e[1].after, " you");
        assert_eq!(undo("ask what you", &e), "ask not what");
    }

    #[test]
    fn offsets_count_characters_not_bytes() {
        let before = "café crème brûlée 🎉 ok";
        let after = "Café crème brûlée 🎉 OK.";
        let e = word_edits(before, after);
        assert_eq!(e.len(), 2);
        assert_eq!((e[1].before_start, e[1].before_end), (20, 22));
        assert_eq!(e[1].after, "OK.");
        assert_eq!(undo(after, &e), before);
        let (a, b) = ("ask what now", "ask what");
        assert_eq!(undo(b, &word_edits(a, b)), a);
        let (a, b) = ("one two three four", "zero one three five four six");
        assert_eq!(undo(b, &word_edits(a, b)), a);
    }

    #[test]
    fn identical_empty_and_whitespace_texts() {
        assert!(word_edits("same words", "same   words").is_empty());
        assert!(word_edits("", "").is_empty());
        let e = word_edits("", "Hello.");
        assert_eq!(
            (e[0].kind, e[0].before_start, e[0].after_end),
            (EditKind::Insert, 0, 6)
        );
        let e = word_edits("  gone  ", "");
        assert_eq!(
            (e[0].kind, e[0].before_start, e[0].before_end),
            (EditKind::Delete, 2, 6)
        );
    }

    #[test]
    fn long_unrelated_texts_finish() {
        let a: String = (0..20_000).map(|i| format!("a{} ", i % 97)).collect();
        let b: String = (0..20_000).map(|i| format!("b{} ", i % 89)).collect();
        let t = Instant::now();
        let e = word_edits(&a, &b);
        assert!(!e.is_empty());
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    }
}
