//! Stop strings: text that ends an answer where it appears (OpenAI's `stop`), found in
//! the decoded text as it streams. A stop string can arrive split over several tokens,
//! so the end of the text that could still become one is held back until the next
//! piece shows whether it does; nothing past a stop string is ever emitted.

/// Streams text through, cutting it at the first stop string.
#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    /// Text received but not yet emitted: the longest end of it that is a proper start
    /// of some stop string.
    held: String,
    stopped: bool,
}

impl StopMatcher {
    /// `stops`: empty strings are ignored (they would match everywhere).
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
            stopped: false,
        }
    }

    /// Whether a stop string has been seen (everything after it was dropped).
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// The text of `chunk` that is safe to emit now. After a stop string, always empty.
    pub fn push(&mut self, chunk: &str) -> String {
        if self.stopped {
            return String::new();
        }
        if self.stops.is_empty() {
            return chunk.to_string();
        }
        self.held.push_str(chunk);
        // The earliest stop string in the held text ends it.
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s)).min() {
            self.stopped = true;
            let out = self.held[..at].to_string();
            self.held.clear();
            return out;
        }
        let keep = self.partial_suffix_len();
        let cut = self.held.len() - keep;
        let out = self.held[..cut].to_string();
        self.held.drain(..cut);
        out
    }

    /// What is still held when the text ends (no stop string followed).
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Bytes at the end of the held text that start some stop string (on a char
    /// boundary), so they may still turn into one.
    fn partial_suffix_len(&self) -> usize {
        let text = &self.held;
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        let mut best = 0;
        for (start, _) in text.char_indices().rev() {
            let n = text.len() - start;
            if n >= longest {
                break;
            }
            let tail = &text[start..];
            if self.stops.iter().any(|s| s.starts_with(tail)) {
                best = n;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut out = String::new();
        for p in pieces {
            out.push_str(&m.push(p));
        }
        out.push_str(&m.finish());
        (out, m.stopped())
    }

    #[test]
    fn cuts_at_a_stop_split_over_pieces() {
        assert_eq!(
            run(&["END"], &["one two E", "N", "D three"]),
            ("one two ".into(), true)
        );
        assert_eq!(run(&["\n\n"], &["a\n", "\nb"]), ("a".into(), true));
    }

    #[test]
    fn releases_a_false_start() {
        assert_eq!(run(&["END"], &["an E", "ND", ""]), ("an ".into(), true));
        assert_eq!(run(&["END"], &["an E", "nd"]), ("an End".into(), false));
        assert_eq!(run(&["END"], &["ENDING"]), ("".into(), true));
        assert_eq!(run(&["xyz"], &["x"]), ("x".into(), false));
    }

    #[test]
    fn earliest_of_several_stops_wins_and_nothing_follows() {
        let stops: Vec<String> = ["b", "abc"].iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        assert_eq!(m.push("zzab"), "zza");
        assert!(m.stopped());
        assert_eq!(m.push("more"), "");
        assert_eq!(m.finish(), "");
    }

    #[test]
    fn multibyte_text_is_never_split_inside_a_character() {
        assert_eq!(run(&["é!"], &["café", "!"]), ("caf".into(), true));
        assert_eq!(run(&["日本"], &["今日", "は"]), ("今日は".into(), false));
        assert_eq!(run(&[""], &["any"]), ("any".into(), false));
    }
}
