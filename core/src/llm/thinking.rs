//! Reasoning models' `<think>…</think>` blocks: hidden from a text stream as it is
//! generated ([`ThinkFilter`]), or removed from a finished text ([`strip_thinking`]) —
//! one implementation for both.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// Hides `<think>…</think>` blocks from a text stream, holding back only what could
/// still turn out to be the start of a tag, and the blank lines after a block.
#[derive(Debug, Default)]
pub struct ThinkFilter {
    pending: String,
    thinking: bool,
}

impl ThinkFilter {
    /// A filter for output that starts inside a thinking block (a template that opens
    /// the block in the prompt) when `inside`.
    pub fn new(inside: bool) -> Self {
        Self {
            pending: String::new(),
            thinking: inside,
        }
    }

    /// The visible part of `chunk` that can be released now.
    pub fn push(&mut self, chunk: &str) -> String {
        self.pending.push_str(chunk);
        let mut out = String::new();
        loop {
            let tag = if self.thinking { CLOSE } else { OPEN };
            if let Some(i) = self.pending.find(tag) {
                if !self.thinking {
                    out.push_str(&self.pending[..i]);
                }
                self.pending.drain(..i + tag.len());
                self.thinking = !self.thinking;
                if !self.thinking {
                    // Drop the blank lines that follow a thinking block.
                    let trimmed = self.pending.trim_start_matches('\n').len();
                    self.pending.drain(..self.pending.len() - trimmed);
                }
                continue;
            }
            // Keep a suffix that may be a partial tag; release the rest.
            let keep = (1..tag.len())
                .rev()
                .find(|&n| self.pending.ends_with(&tag[..n]))
                .unwrap_or(0);
            let cut = self.pending.len() - keep;
            if !self.thinking {
                out.push_str(&self.pending[..cut]);
            }
            self.pending.drain(..cut);
            return out;
        }
    }

    /// What is still held back, at the end of the stream (nothing while thinking: an
    /// unterminated block is all thinking).
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        if self.thinking { String::new() } else { rest }
    }
}

/// `text` without `<think>…</think>` blocks, trimmed: the answer of a reasoning model.
///
/// Also removes an unterminated `<think>` block (generation stopped while thinking: all of
/// it is thinking), everything before a `</think>` that has no opening tag (templates that
/// open the block in the prompt, so the output starts inside it), and the empty
/// `<think>\n\n</think>\n\n` Qwen3 writes when thinking is off.
pub fn strip_thinking(text: &str) -> String {
    let inside = text
        .find(CLOSE)
        .is_some_and(|close| !text[..close].contains(OPEN));
    let mut filter = ThinkFilter::new(inside);
    let mut out = filter.push(text);
    out.push_str(&filter.finish());
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str]) -> String {
        let mut f = ThinkFilter::default();
        let mut out: String = chunks.iter().map(|c| f.push(c)).collect();
        out.push_str(&f.finish());
        out
    }

    #[test]
    fn think_blocks_are_hidden_across_chunk_boundaries() {
        assert_eq!(
            run(&["<thi", "nk>\nplan</th", "ink>\n\nHello", " world"]),
            "Hello world"
        );
        assert_eq!(run(&["Hi <", "b>there</b>"]), "Hi <b>there</b>");
        assert_eq!(run(&["a <think>x</think>b"]), "a b");
        assert_eq!(run(&["<think>never closed"]), "");
        assert_eq!(run(&["ends with <"]), "ends with <");
    }

    #[test]
    fn strip_thinking_removes_reasoning() {
        assert_eq!(strip_thinking("<think>\n\n</think>\n\nParis."), "Paris.");
        assert_eq!(
            strip_thinking("<think>plan\nmore</think>\nAnswer"),
            "Answer"
        );
        assert_eq!(
            strip_thinking("A <think>x</think>B<think>y</think> C"),
            "A B C"
        );
        assert_eq!(strip_thinking("<think>cut off mid-thought"), "");
        assert_eq!(
            strip_thinking("reasoning opened by the prompt</think>\n\nAnswer"),
            "Answer"
        );
        assert_eq!(
            strip_thinking("  no thinking at all \n"),
            "no thinking at all"
        );
        assert_eq!(strip_thinking("Before <think>unterminated"), "Before");
    }
}
