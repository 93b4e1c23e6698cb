//! Reading what model folders hold, with the errors every loader reports alike.

use std::path::Path;

use crate::error::{Error, Result};

/// A JSON file: a missing or unreadable one is [`Error::Io`], malformed JSON is
/// [`Error::CorruptModel`] naming the file.
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_json(path, &text)
}

/// A JSON file that may be absent (`None`); present but unreadable or malformed is an
/// error, since it means a broken download rather than a model without the information.
pub fn read_json_opt(path: &Path) -> Result<Option<serde_json::Value>> {
    match std::fs::read(path) {
        Ok(bytes) => parse_json(path, &bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// JSON read from `path`.
pub fn parse_json(path: &Path, bytes: &[u8]) -> Result<serde_json::Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::corrupt(path, format!("invalid JSON: {e}")))
}

/// Bytes of every regular file below `dir` (0 when it cannot be read); links are not
/// followed, so a Hub snapshot's blobs count once, in `blobs/`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// `fnmatch`-style matching as huggingface_hub's `allow_patterns` do it: `*` matches any
/// run of characters (slashes included), `?` any one character; `a|b` matches either
/// (a required file that comes in two layouts).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    pattern.split('|').any(|p| glob_match_one(p, text))
}

fn glob_match_one(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
