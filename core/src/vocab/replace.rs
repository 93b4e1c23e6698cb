//! Applying the vocabulary to a transcript: replacements ("murmur dot app" →
//! "Murmur.app") and the spelling of terms ("MacOS" → "macOS").
//!
//! Matching is by words, so it never changes part of a word: the text is cut at Unicode
//! word boundaries (UAX #29, which keeps "Murmur.app", "don't" and a letter with its
//! combining accents whole), and an entry matches whole segments, compared in Unicode
//! lowercase.
//!
//! - A replacement's spoken form matches its words with anything from whitespace to
//!   the punctuation Whisper writes between spoken words (`murmur, dot app` and `Murmur.
//!   Dot app` both say "murmur dot app"); the match ends at its last word, so punctuation
//!   after it stays.
//! - A term matches its own text exactly but for case and the width of whitespace runs,
//!   and is written as given. Written forms of replacements are not case-fixed that way:
//!   they are often common words ("going to"), and would lower-case a sentence's first
//!   word.
//! - A possessive `'s` / `’s` on the last word is kept ("dashwood's" → "Dashwood's").
//!
//! Overlaps are settled longest first (most words, then most characters; on a tie a
//! replacement before a term, then the earlier entry), and leftmost for one entry.
//! All matches are found in the original text, so nothing written by a replacement is
//! ever matched again. The result depends only on the text and the vocabulary.
//!
//! Cost: one pass to cut and lowercase the text (linear in its size), then, per entry,
//! a try at each place its first word occurs. Entries that skipped validation (the
//! fields are public) are cleaned the same way or skipped, never a panic.
//!
//! Text in different Unicode normal forms (a precomposed "é" and "e" + U+0301) is not
//! equal here: that would need normalization tables the engine does not carry. Whisper
//! writes precomposed text.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use super::{Vocabulary, clean};

/// One change [`Vocabulary::apply`] made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The text that was there.
    pub from: String,
    /// What was written instead.
    pub to: String,
    /// Byte offsets of `to` in the output text.
    pub start: usize,
    pub end: usize,
}

/// What may stand between the words of a spoken form in a transcript besides
/// whitespace: the punctuation Whisper puts between spoken words.
const GAP_PUNCTUATION: &[char] = &[
    ',', '.', ';', ':', '!', '?', '…', '-', '‐', '‑', '–', '—', '"', '\'', '‘', '’', '“', '”', '«',
    '»', '¿', '¡', '、', '。', '，', '！', '？', '；', '：',
];

impl Vocabulary {
    /// `text` with every replacement and term spelling applied, and what changed (in
    /// output order). See the module documentation for the rules.
    pub fn apply(&self, text: &str) -> (String, Vec<Applied>) {
        let patterns = Pattern::all(self);
        if patterns.is_empty() || text.is_empty() {
            return (text.to_string(), Vec::new());
        }
        let tokens = Tokens::new(text);

        // Where each entry's first word occurs (its possessive form included).
        let firsts: HashSet<&str> = patterns.iter().map(|p| p.first()).collect();
        let mut places: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, t) in tokens.list.iter().enumerate() {
            if t.kind == Kind::Space {
                continue;
            }
            let fold = tokens.fold(i);
            for key in [Some(fold), possessive_stem(fold).map(|(stem, _)| stem)]
                .into_iter()
                .flatten()
            {
                if let Some(&k) = firsts.get(key) {
                    places.entry(k).or_default().push(i);
                }
            }
        }

        // Entries in priority order, each taking its leftmost free matches.
        let mut taken = vec![false; tokens.list.len()];
        let mut found: Vec<Match> = Vec::new();
        for (p, pattern) in patterns.iter().enumerate() {
            let Some(starts) = places.get(pattern.first()) else {
                continue;
            };
            for &start in starts {
                if taken[start] {
                    continue;
                }
                let Some((end, end_byte)) = tokens.match_at(pattern, start) else {
                    continue;
                };
                if taken[start..end].iter().any(|&t| t) {
                    continue;
                }
                taken[start..end].iter_mut().for_each(|t| *t = true);
                found.push(Match {
                    pattern: p,
                    start,
                    end_byte,
                });
            }
        }
        found.sort_unstable_by_key(|m| m.start);

        let mut out = String::with_capacity(text.len());
        let mut applied = Vec::new();
        let mut pos = 0;
        for m in found {
            let start_byte = tokens.list[m.start].start;
            out.push_str(&text[pos..start_byte]);
            let from = &text[start_byte..m.end_byte];
            let to = patterns[m.pattern].output.as_str();
            let at = out.len();
            out.push_str(to);
            if from != to {
                applied.push(Applied {
                    from: from.to_string(),
                    to: to.to_string(),
                    start: at,
                    end: out.len(),
                });
            }
            pos = m.end_byte;
        }
        out.push_str(&text[pos..]);
        (out, applied)
    }
}

/// An accepted match: tokens from `start`, ending at byte `end_byte` of the text (inside
/// the last token when a possessive follows).
struct Match {
    pattern: usize,
    start: usize,
    end_byte: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A segment holding a letter or digit.
    Word,
    /// Whitespace.
    Space,
    /// Punctuation, symbols, emoji.
    Other,
}

fn kind(segment: &str) -> Kind {
    if segment.chars().any(char::is_alphanumeric) {
        Kind::Word
    } else if segment.chars().all(char::is_whitespace) {
        Kind::Space
    } else {
        Kind::Other
    }
}

/// Lowercase, character by character (the same mapping for text and entries).
fn fold_into(out: &mut String, s: &str) {
    for c in s.chars() {
        out.extend(c.to_lowercase());
    }
}

/// The possessive suffixes kept after a matched word.
const POSSESSIVE: [&str; 2] = ["'s", "’s"];

/// The stem of a folded word ending in a possessive `'s` or `’s`, and that suffix's
/// length in bytes (the same in the original text: lowercasing `S` keeps one byte).
fn possessive_stem(fold: &str) -> Option<(&str, usize)> {
    POSSESSIVE.iter().find_map(|suffix| {
        fold.strip_suffix(suffix)
            .filter(|stem| !stem.is_empty())
            .map(|stem| (stem, suffix.len()))
    })
}

/// Whether `s` is a possessive suffix in any case.
fn is_possessive(s: &str) -> bool {
    POSSESSIVE.iter().any(|p| s.to_lowercase() == *p)
}

/// A text cut at word boundaries, each segment lowercased once into one buffer.
struct Tokens<'t> {
    text: &'t str,
    folded: String,
    list: Vec<Token>,
}

struct Token {
    kind: Kind,
    start: usize,
    end: usize,
    fold_start: usize,
    fold_end: usize,
}

impl<'t> Tokens<'t> {
    fn new(text: &'t str) -> Self {
        let mut folded = String::with_capacity(text.len());
        let list = text
            .split_word_bound_indices()
            .map(|(start, segment)| {
                let kind = kind(segment);
                let fold_start = folded.len();
                if kind != Kind::Space {
                    fold_into(&mut folded, segment);
                }
                Token {
                    kind,
                    start,
                    end: start + segment.len(),
                    fold_start,
                    fold_end: folded.len(),
                }
            })
            .collect();
        Self { text, folded, list }
    }

    fn fold(&self, i: usize) -> &str {
        let t = &self.list[i];
        &self.folded[t.fold_start..t.fold_end]
    }

    fn kind(&self, i: usize) -> Option<Kind> {
        self.list.get(i).map(|t| t.kind)
    }

    /// What may separate two words of a spoken form.
    fn is_gap(&self, i: usize) -> bool {
        let t = &self.list[i];
        match t.kind {
            Kind::Space => true,
            Kind::Other => self.text[t.start..t.end]
                .chars()
                .all(|c| c.is_whitespace() || GAP_PUNCTUATION.contains(&c)),
            Kind::Word => false,
        }
    }

    /// Whether `pattern` matches from token `start`: the token after the match and the
    /// byte where the match ends.
    fn match_at(&self, pattern: &Pattern, start: usize) -> Option<(usize, usize)> {
        let mut t = start;
        let last = pattern.parts.len() - 1;
        for (k, part) in pattern.parts.iter().enumerate() {
            match part {
                Part::Space => {
                    if self.kind(t) != Some(Kind::Space) {
                        return None;
                    }
                    while self.kind(t) == Some(Kind::Space) {
                        t += 1;
                    }
                }
                Part::Text(want) => {
                    if pattern.spoken && k > 0 {
                        while t < self.list.len() && self.is_gap(t) {
                            t += 1;
                        }
                    }
                    match self.kind(t) {
                        None | Some(Kind::Space) => return None,
                        Some(_) => {}
                    }
                    let fold = self.fold(t);
                    if fold == want {
                        t += 1;
                    } else if k == last
                        && let Some((stem, suffix)) = possessive_stem(fold)
                        && stem == want
                        && let Some(cut) = self.list[t].end.checked_sub(suffix)
                        && self.text.is_char_boundary(cut)
                        && is_possessive(&self.text[cut..self.list[t].end])
                    {
                        // The suffix is cut off the original text, checked to be the
                        // same `'s` there (never a slice through a character).
                        return Some((t + 1, cut));
                    } else {
                        return None;
                    }
                }
            }
        }
        Some((t, self.list[t - 1].end))
    }
}

/// One entry compiled for matching.
struct Pattern {
    /// Lowercased segments: a spoken form's words only; a term's words, punctuation
    /// and (runs of) whitespace. Never empty, never starting with whitespace.
    parts: Vec<Part>,
    /// Gaps of whitespace and punctuation between words are allowed (a spoken form).
    spoken: bool,
    output: String,
    words: usize,
    chars: usize,
}

#[derive(PartialEq, Eq, Hash)]
enum Part {
    Text(String),
    Space,
}

impl Pattern {
    /// Every usable entry, in priority order, each (spoken-ness, parts) once.
    fn all(v: &Vocabulary) -> Vec<Pattern> {
        let mut all: Vec<(Pattern, usize)> = Vec::new();
        for (order, r) in v.replacements.iter().enumerate() {
            let (Ok(spoken), Ok(written)) = (
                clean("spoken", &r.spoken, true),
                clean("written", &r.written, false),
            ) else {
                continue;
            };
            all.extend(Pattern::new(&spoken, written, true).map(|p| (p, order)));
        }
        for (order, t) in v.terms.iter().enumerate() {
            let Ok(term) = clean("term", t, true) else {
                continue;
            };
            all.extend(Pattern::new(&term, term.clone(), false).map(|p| (p, order)));
        }
        all.sort_by_key(|(p, order)| (Reverse(p.words), Reverse(p.chars), !p.spoken, *order));
        let keep: Vec<bool> = {
            let mut seen = HashSet::new();
            all.iter()
                .map(|(p, _)| seen.insert((p.spoken, p.parts.as_slice())))
                .collect()
        };
        all.into_iter()
            .zip(keep)
            .filter_map(|((p, _), keep)| keep.then_some(p))
            .collect()
    }

    fn new(source: &str, output: String, spoken: bool) -> Option<Pattern> {
        let mut parts = Vec::new();
        let (mut words, mut chars) = (0, 0);
        for segment in source.split_word_bounds() {
            match kind(segment) {
                Kind::Space if spoken => {}
                Kind::Space => {
                    if !parts.is_empty() && parts.last() != Some(&Part::Space) {
                        parts.push(Part::Space);
                    }
                }
                Kind::Other if spoken => {}
                k => {
                    let mut fold = String::new();
                    fold_into(&mut fold, segment);
                    words += usize::from(k == Kind::Word);
                    chars += fold.chars().count();
                    parts.push(Part::Text(fold));
                }
            }
        }
        if parts.last() == Some(&Part::Space) {
            parts.pop();
        }
        (!parts.is_empty()).then_some(Pattern {
            parts,
            spoken,
            output,
            words,
            chars,
        })
    }

    fn first(&self) -> &str {
        match &self.parts[0] {
            Part::Text(s) => s,
            // `new` never starts a pattern with whitespace.
            Part::Space => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(terms: &[&str], replacements: &[(&str, &str)]) -> Vocabulary {
        let mut v = Vocabulary::new();
        for t in terms {
            v.add_term(t).unwrap();
        }
        for (s, w) in replacements {
            v.add_replacement(s, w).unwrap();
        }
        v
    }

    /// The output, after checking every `Applied` against it.
    fn apply(v: &Vocabulary, text: &str) -> String {
        let (out, applied) = v.apply(text);
        let mut last = 0;
        for a in &applied {
            assert!(a.start >= last, "in output order: {applied:?}");
            assert_eq!(&out[a.start..a.end], a.to, "{applied:?}");
            assert_ne!(a.from, a.to);
            last = a.end;
        }
        // Deterministic: the same again.
        assert_eq!(v.apply(text), (out.clone(), applied));
        out
    }

    #[test]
    fn a_spoken_form_is_replaced_whole_word_in_any_case() {
        let v = vocab(&[], &[("murmur dot app", "Murmur.app")]);
        let (out, applied) = v.apply("Try murmur dot app today.");
        assert_eq!(out, "Try Murmur.app today.");
        assert_eq!(
            applied,
            [Applied {
                from: "murmur dot app".into(),
                to: "Murmur.app".into(),
                start: 4,
                end: 14
            }]
        );
        assert_eq!(apply(&v, "MURMUR DOT APP"), "Murmur.app");
        assert_eq!(apply(&v, "Murmur Dot App!"), "Murmur.app!");
        // Never inside a word.
        for text in [
            "murmurs dot app",
            "murmur dot apps",
            "xmurmur dot app",
            "murmur dot",
        ] {
            assert_eq!(apply(&v, text), text);
        }
    }

    #[test]
    fn spoken_words_match_across_whitespace_and_whisper_punctuation() {
        let v = vocab(&[], &[("murmur dot app", "Murmur.app")]);
        for (text, want) in [
            ("murmur, dot app", "Murmur.app"),
            ("Murmur. Dot, app.", "Murmur.app."),
            ("murmur -- dot... app?", "Murmur.app?"),
            ("murmur\n\n\tdot   app", "Murmur.app"),
            ("«murmur» dot app", "«Murmur.app"),
            ("murmur dot-app", "Murmur.app"),
        ] {
            assert_eq!(apply(&v, text), want, "{text:?}");
        }
        // Other symbols are not between-word punctuation.
        for text in ["murmur @ dot app", "murmur 👍 dot app", "murmur (dot) app"] {
            assert_eq!(apply(&v, text), text);
        }
    }

    #[test]
    fn longest_first_and_nothing_replaced_twice() {
        let v = vocab(
            &[],
            &[("dot app", ".app"), ("murmur dot app", "Murmur.app")],
        );
        assert_eq!(apply(&v, "murmur dot app or dot app"), "Murmur.app or .app");
        // Chains are not followed: what a replacement wrote is not matched again.
        let v = vocab(&[], &[("alpha", "beta"), ("beta", "gamma")]);
        assert_eq!(apply(&v, "alpha beta"), "beta gamma");
        let v = vocab(&[], &[("cat", "cat cat")]);
        assert_eq!(apply(&v, "cat"), "cat cat");
        // Equal lengths: the earlier entry, leftmost.
        let v = vocab(&[], &[("a b", "X"), ("b c", "Y")]);
        assert_eq!(apply(&v, "a b c"), "X c");
        assert_eq!(apply(&v, "a b a b"), "X X");
        // An entry's repeats do not overlap: leftmost wins.
        let v = vocab(&[], &[("na na", "N")]);
        assert_eq!(apply(&v, "na na na"), "N na");
    }

    #[test]
    fn terms_fix_case_whole_word() {
        let v = vocab(
            &["macOS", "Jane Austen", "C++", "COVID-19", "Murmur.app"],
            &[],
        );
        assert_eq!(
            apply(&v, "MacOS and macos and MACOS, on macOS."),
            "macOS and macOS and macOS, on macOS."
        );
        let (_, applied) = v.apply("macOS");
        assert!(applied.is_empty(), "already right: nothing recorded");
        assert_eq!(apply(&v, "macosx mymacos"), "macosx mymacos");
        assert_eq!(apply(&v, "by jane   austen"), "by Jane Austen");
        assert_eq!(apply(&v, "jane, austen"), "jane, austen");
        assert_eq!(apply(&v, "in c++ or c"), "in C++ or c");
        assert_eq!(apply(&v, "covid-19 cases"), "COVID-19 cases");
        assert_eq!(apply(&v, "see murmur.app."), "see Murmur.app.");
        assert_eq!(apply(&v, "murmur apps"), "murmur apps");
    }

    #[test]
    fn possessives_keep_their_suffix() {
        let v = vocab(&["Dashwood", "Elinor"], &[("dash would", "Dashwood")]);
        assert_eq!(
            apply(&v, "dashwood's and ELINOR’s; dash would's"),
            "Dashwood's and Elinor’s; Dashwood's"
        );
        assert_eq!(apply(&v, "'s dashwoods"), "'s dashwoods");
        assert_eq!(apply(&v, "DASHWOOD'S"), "Dashwood'S");
    }

    #[test]
    fn a_replacement_beats_a_term_of_the_same_length() {
        let v = vocab(&["macOS"], &[("macos", "Mac OS")]);
        assert_eq!(apply(&v, "macos"), "Mac OS");
    }

    #[test]
    fn regex_metacharacters_are_plain_text() {
        let v = vocab(
            &["A.B*", "x+y"],
            &[("(dollar) one", "$1\\0"), ("star [dot]", ".*")],
        );
        assert_eq!(apply(&v, "a.b* aXb ab"), "A.B* aXb ab");
        assert_eq!(apply(&v, "X+Y xy x+yy"), "x+y xy x+yy");
        assert_eq!(apply(&v, "dollar one, star dot"), "$1\\0, .*");
        assert_eq!(apply(&v, "dollarone stardot"), "dollarone stardot");
    }

    #[test]
    fn hostile_text_and_entries_never_panic() {
        let v = vocab(
            &["Café", "שלום", "naïve"],
            &[("שלום עולם", "Hello world"), ("smiley face", "🙂")],
        );
        assert_eq!(apply(&v, ""), "");
        assert_eq!(apply(&v, " \n\t "), " \n\t ");
        assert_eq!(apply(&v, "\u{0}\u{FEFF}\u{202E}"), "\u{0}\u{FEFF}\u{202E}");
        // RTL: the spoken form across Whisper's comma, the term alone.
        assert_eq!(apply(&v, "אמר שלום, עולם!"), "אמר Hello world!");
        assert_eq!(apply(&v, "שלום"), "שלום");
        // Combining marks stay with their letter: "cafe" + U+0301 is the word "café",
        // not "cafe" followed by an accent; "Naïve" decomposed is not "naïve" composed.
        let v2 = vocab(&["Cafe"], &[]);
        assert_eq!(apply(&v2, "cafe\u{301} cafe"), "cafe\u{301} Cafe");
        assert_eq!(apply(&v, "CAFÉ NAÏVE"), "Café naïve");
        // Emoji (modifiers, ZWJ sequences, flags) are left whole around matches.
        let text = "👍🏽 café 👨‍👩‍👧 smiley face 🇫🇷smiley face";
        assert_eq!(apply(&v, text), "👍🏽 Café 👨‍👩‍👧 🙂 🇫🇷🙂");
        // Stray combining marks, lone surrogates' replacement characters, ZWJ alone.
        let odd = "\u{301}\u{301} \u{FFFD} \u{200D} café\u{301}\u{301}";
        assert_eq!(apply(&v, odd), odd);
        // Entries that skipped validation are cleaned or skipped.
        let raw = Vocabulary {
            terms: vec![
                String::new(),
                "  ".into(),
                "a\nb".into(),
                "...".into(),
                " Ok ".into(),
                "x".repeat(500),
            ],
            replacements: vec![
                super::super::Replacement {
                    spoken: String::new(),
                    written: "x".into(),
                },
                super::super::Replacement {
                    spoken: "fine".into(),
                    written: "\u{7}".into(),
                },
                super::super::Replacement {
                    spoken: "fine".into(),
                    written: "Fine!".into(),
                },
                super::super::Replacement {
                    spoken: "fine".into(),
                    written: "Later duplicate".into(),
                },
            ],
        };
        assert_eq!(apply(&raw, "ok fine a\nb"), "Ok Fine! a\nb");
    }

    #[test]
    fn huge_text_is_linear() {
        let v = vocab(&["macOS"], &[("murmur dot app", "Murmur.app")]);
        let text = "say murmur, dot app on macos. ".repeat(40_000); // 1.2 MB
        let t = std::time::Instant::now();
        let (out, applied) = v.apply(&text);
        assert_eq!(applied.len(), 80_000);
        assert_eq!(out, "say Murmur.app on macOS. ".repeat(40_000));
        assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
        // One huge word, and an entry of the most words, over a long run of that word.
        let v = vocab(&["ab ".repeat(33).as_str()], &[]);
        let text = "ab ".repeat(200_000) + &"x".repeat(1 << 20);
        let (out, _) = v.apply(&text);
        assert_eq!(out.len(), text.len());
    }

    #[test]
    fn random_hostile_text_and_entries_never_panic() {
        // Pieces chosen to sit on every boundary rule: letters in three scripts,
        // combining marks, apostrophes, emoji with modifiers and joiners, digits,
        // punctuation Whisper writes and symbols it does not, all kinds of whitespace.
        const PIECES: &[&str] = &[
            "a",
            "B",
            "dash",
            "would",
            "'s",
            "’S",
            "e\u{301}",
            "\u{301}",
            "İ",
            "ß",
            "שלום",
            "مرحبا",
            "東",
            "京",
            "👍🏽",
            "👨‍👩‍👧",
            "🇫🇷",
            "\u{200D}",
            "1",
            "٣",
            ".",
            ",",
            "-",
            "…",
            "(",
            "$",
            "*",
            "\\",
            " ",
            "  ",
            "\n",
            "\t",
            "\u{3000}",
            "\u{FEFF}",
            "\u{202E}",
        ];
        struct Rng(u64);
        impl Rng {
            fn below(&mut self, n: usize) -> usize {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 % n as u64) as usize
            }
            /// Up to `max` pieces (at least `min`).
            fn text(&mut self, min: usize, max: usize) -> String {
                let len = min + self.below(max - min + 1);
                (0..len).map(|_| PIECES[self.below(PIECES.len())]).collect()
            }
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut changes = 0;
        for _ in 0..3_000 {
            let v = Vocabulary {
                terms: (0..3).map(|_| rng.text(1, 4)).collect(),
                replacements: (0..3)
                    .map(|_| super::super::Replacement {
                        spoken: rng.text(1, 5),
                        written: rng.text(1, 3),
                    })
                    .collect(),
            };
            let text = rng.text(0, 60);
            apply(&v, &text);
            changes += v.apply(&text).1.len();
        }
        assert!(changes > 300, "the entries matched only {changes} times");
    }

    #[test]
    fn empty_vocabulary_returns_the_text() {
        let (out, applied) = Vocabulary::new().apply("Some text, as is.");
        assert_eq!(out, "Some text, as is.");
        assert!(applied.is_empty());
    }
}
