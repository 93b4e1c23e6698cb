//! Which names — from the user, from files in the cache, from the Hub's replies — may
//! become parts of a cache path.
//!
//! A revision is joined to `refs/`, a ref file's contents to `snapshots/`, and each
//! listed file name to the snapshot folder: a `..` in any of them would read or write
//! outside the cache (`models add org/repo@../../..`). Each is checked where it enters,
//! with the same rules Git and the Hub apply to their own names.

use crate::error::{Error, Result};

/// Longest revision or file path accepted (Git refuses longer ref names on most systems).
const MAX_NAME: usize = 1024;

/// Largest repository listing read from the Hub: the biggest real listings (thousands
/// of files) are a few MB; more is a broken or hostile server, not a model.
pub(crate) const MAX_REPO_INFO_BYTES: usize = 64 << 20;

/// A 40-digit hexadecimal commit hash, as the Hub and Git name commits.
pub(crate) fn is_commit_hash(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A branch, tag or commit the way users name one (`main`, `v1.0`, `refs/pr/3`, a hash):
/// Git's ref-name rules, which also keep it a plain relative path under `refs/`.
pub fn check_revision(revision: &str) -> Result<()> {
    let bad = |why: &str| Error::InvalidArgument {
        name: "revision".into(),
        reason: format!("{revision:?} {why}"),
    };
    if revision.is_empty() || revision.len() > MAX_NAME {
        return Err(bad("is empty or too long"));
    }
    if !revision
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./+".contains(&b))
    {
        return Err(bad(
            "has characters a branch, tag or commit name cannot have",
        ));
    }
    if revision.ends_with(".lock")
        || revision
            .split('/')
            .any(|part| part.is_empty() || part.starts_with('.'))
    {
        return Err(bad(
            "is not a branch, tag or commit name (no `..`, `./` or `//`)",
        ));
    }
    Ok(())
}

/// A file path as the Hub lists it (`config.json`, `onnx/model.onnx`): relative, with
/// no `.`/`..` parts, backslashes or control characters.
pub(crate) fn check_repo_file(repo: &str, path: &str) -> Result<()> {
    let ok = !path.is_empty()
        && path.len() <= MAX_NAME
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if ok {
        return Ok(());
    }
    Err(Error::Download {
        repo: repo.into(),
        file: path.escape_debug().to_string(),
        reason: "the Hub listed a file name that is not a plain relative path".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_are_branch_tag_or_commit_names_only() {
        for good in [
            "main",
            "v1.0",
            "refs/pr/3",
            "release-2024_01",
            &"a".repeat(40),
        ] {
            assert!(check_revision(good).is_ok(), "{good}");
        }
        for bad in [
            "", "../../..", "..", "a/../b", "/etc", "a//b", "a/", ".hidden", "x.lock", "a b",
            "a\\b", "a\0b", "a:b",
        ] {
            assert!(check_revision(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn listed_files_stay_inside_the_snapshot() {
        for good in ["config.json", "onnx/model.onnx", ".gitattributes"] {
            assert!(check_repo_file("o/r", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "./a",
            "a\\b",
            "a\nb",
        ] {
            assert!(check_repo_file("o/r", bad).is_err(), "{bad:?}");
        }
    }
}
