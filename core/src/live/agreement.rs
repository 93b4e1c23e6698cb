//! LocalAgreement: which words of a growing window's transcript are final.
//!
//! Whisper re-decodes the window each time more audio arrives, and its last words
//! change as it hears more. A word is confirmed when two successive decodes agree on it
//! (on its letters: punctuation and case may settle) and on every word before it (the policy of whisper_streaming's `HypothesisBuffer`
//! and WhisperKit's streaming): once confirmed, it is never taken back. Words are timed
//! in the session's audio, so a decode of a window that starts later (the audio before
//! it trimmed) is matched against the words it overlaps.

/// A word and where it was heard, in seconds of the session's audio.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedWord {
    /// As Whisper decoded it: a leading space, attached punctuation.
    pub text: String,
    pub start: f64,
    pub end: f64,
}

impl TimedWord {
    /// The word for matching across decodes: letters and digits, lowercased.
    fn key(&self) -> String {
        self.text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    }
}

/// How far back (s) a new decode's words may start before the last confirmed word ends
/// and still be taken as new (word timings move by a few frames between decodes).
const OVERLAP_SLACK: f64 = 0.1;

/// Longest run of repeated words looked for where a new decode meets the confirmed text.
const MAX_REPEAT: usize = 5;

/// The confirmed words and the latest unconfirmed hypothesis.
#[derive(Debug, Default)]
pub struct Agreement {
    confirmed: Vec<TimedWord>,
    /// The previous decode's words after the confirmed ones.
    pending: Vec<TimedWord>,
    /// The end of the last confirmed word (s).
    confirmed_until: f64,
}

impl Agreement {
    /// Every confirmed word, in order.
    pub fn confirmed(&self) -> &[TimedWord] {
        &self.confirmed
    }

    /// The unconfirmed words of the latest decode.
    pub fn pending(&self) -> &[TimedWord] {
        &self.pending
    }

    /// Where the confirmed words end (s).
    pub fn confirmed_until(&self) -> f64 {
        self.confirmed_until
    }

    /// Take a new decode of the window (its words timed in the session's audio) and
    /// confirm what it agrees on with the previous one. Returns how many words became
    /// confirmed (the last ones of [`Agreement::confirmed`]).
    pub fn update(&mut self, words: Vec<TimedWord>) -> usize {
        let new = self.after_confirmed(words);
        // Words agree when their letters do: punctuation and case settle as more is
        // heard ("so..." becomes "so"), and the newer decode's form is the one kept.
        let agreed = new
            .iter()
            .zip(&self.pending)
            .take_while(|(a, b)| a.key() == b.key())
            .count();
        self.pending = new;
        self.confirm(agreed)
    }

    /// The audio ended (the session finished, or a pause ended the utterance): the
    /// latest decode (`words`) is final. Returns how many words became confirmed.
    pub fn complete(&mut self, words: Vec<TimedWord>) -> usize {
        self.pending = self.after_confirmed(words);
        self.confirm(self.pending.len())
    }

    /// Confirm the pending words that end by `time` (s), agreed on or not: for a window
    /// that would otherwise outgrow Whisper's. Returns how many.
    pub fn confirm_until(&mut self, time: f64) -> usize {
        let n = self.pending.iter().take_while(|w| w.end <= time).count();
        self.confirm(n)
    }

    /// The first `n` pending words, confirmed.
    fn confirm(&mut self, n: usize) -> usize {
        let taken: Vec<TimedWord> = self.pending.drain(..n).collect();
        if let Some(last) = taken.last() {
            self.confirmed_until = self.confirmed_until.max(last.end);
        }
        self.confirmed.extend(taken);
        n
    }

    /// The words of a decode that come after the confirmed ones: those that start
    /// before the confirmed words end are dropped, and so is a run of words at the seam
    /// repeating the last confirmed words (the window's start re-heard).
    fn after_confirmed(&self, words: Vec<TimedWord>) -> Vec<TimedWord> {
        let mut new: Vec<TimedWord> = words
            .into_iter()
            .filter(|w| w.start > self.confirmed_until - OVERLAP_SLACK)
            .collect();
        let near_seam = new
            .first()
            .is_some_and(|w| (w.start - self.confirmed_until).abs() < 1.0);
        if near_seam && !self.confirmed.is_empty() {
            let most = MAX_REPEAT.min(self.confirmed.len()).min(new.len());
            for n in (1..=most).rev() {
                let tail = &self.confirmed[self.confirmed.len() - n..];
                if tail.iter().zip(&new[..n]).all(|(a, b)| a.key() == b.key()) {
                    new.drain(..n);
                    break;
                }
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(spec: &[(&str, f64)]) -> Vec<TimedWord> {
        spec.iter()
            .map(|&(t, s)| TimedWord {
                text: format!(" {t}"),
                start: s,
                end: s + 0.3,
            })
            .collect()
    }

    fn texts(w: &[TimedWord]) -> Vec<&str> {
        w.iter().map(|w| w.text.trim()).collect()
    }

    #[test]
    fn words_are_confirmed_when_two_decodes_agree_and_never_change() {
        let mut a = Agreement::default();
        assert_eq!(a.update(words(&[("and", 0.0), ("so", 0.4)])), 0);
        assert_eq!(texts(a.pending()), ["and", "so"]);
        // The second decode agrees on "and so", hears more, and changes its last word.
        assert_eq!(
            a.update(words(&[
                ("and", 0.0),
                ("so", 0.4),
                ("my", 0.8),
                ("fell", 1.2)
            ])),
            2
        );
        assert_eq!(texts(a.confirmed()), ["and", "so"]);
        assert_eq!(texts(a.pending()), ["my", "fell"]);
        // A decode that disagrees on "and" cannot take it back.
        let n = a.update(words(&[
            ("an", 0.0),
            ("so", 0.4),
            ("my", 0.8),
            ("fellow", 1.2),
        ]));
        assert_eq!(n, 1);
        assert_eq!(texts(a.confirmed()), ["and", "so", "my"]);
        assert_eq!(texts(a.pending()), ["fellow"]);
        assert_eq!(a.complete(words(&[("fellow", 1.2), ("americans", 1.6)])), 2);
        assert_eq!(
            texts(a.confirmed()),
            ["and", "so", "my", "fellow", "americans"]
        );
        assert!(a.pending().is_empty());
    }

    #[test]
    fn a_window_that_rehears_confirmed_words_does_not_double_them() {
        let mut a = Agreement::default();
        a.complete(words(&[("ask", 0.0), ("not", 0.4), ("what", 0.8)]));
        // The next window starts inside "what" and hears it again, slightly shifted.
        a.update(words(&[("What", 1.05), ("your", 1.3), ("country", 1.7)]));
        assert_eq!(texts(a.pending()), ["your", "country"]);
        // Words starting well before the confirmed end are old words.
        a.update(words(&[("not", 0.4), ("what", 0.8), ("your", 1.3)]));
        assert_eq!(texts(a.confirmed()), ["ask", "not", "what", "your"]);
    }

    #[test]
    fn a_repeated_word_spoken_twice_is_kept() {
        let mut a = Agreement::default();
        a.complete(words(&[("very", 0.0)]));
        // "very" again, but two seconds later: a new word, not the seam.
        a.complete(words(&[("very", 2.0), ("good", 2.4)]));
        assert_eq!(texts(a.confirmed()), ["very", "very", "good"]);
    }
}
