//! Importing entries from a CSV file: a glossary kept in a spreadsheet, or exported from
//! another dictation app.
//!
//! Each row is one entry: one field is a term (`Dashwood`), two are a replacement
//! (`murmur dot app,Murmur.app`). Accepted: an optional header row (`term`, or
//! `spoken,written`), fields quoted with `"` (holding commas, `""` for a quote, spaces
//! around the quotes ignored), a UTF-8 byte-order mark, CRLF line ends, blank lines, `#`
//! comment lines, and trailing empty fields (a one-column row of a two-column sheet
//! ends in a comma). Every error names the line.
//!
//! A small parser rather than the `csv` crate: the format taken is a narrow slice of CSV
//! (one or two fields of at most [`super::MAX_ENTRY_CHARS`] characters on one line — a
//! quoted field never spans lines, since an entry holds no newline), and a few dozen
//! lines here check each limit where it applies and word each error for the person who
//! made the file, without a new crate in core's dependencies.
//!
//! Bounded before any work: a file over [`MAX_IMPORT_BYTES`] or [`MAX_IMPORT_LINES`]
//! lines is refused whole. An import is all or nothing: every row is checked first, and
//! the vocabulary changes only if all of them (and the total of entries) are acceptable.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{AddOutcome, Entry, MAX_ENTRIES, Replacement, Vocabulary, clean};
use crate::error::{Error, Result};

/// The largest CSV file imported (1 MiB, the limit of `vocabulary.json` itself).
pub const MAX_IMPORT_BYTES: u64 = 1 << 20;

/// The most lines a CSV file may have, comments and blank lines included: room for a
/// full vocabulary ([`MAX_ENTRIES`]) with plenty of comments.
pub const MAX_IMPORT_LINES: usize = 4 * MAX_ENTRIES;

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    /// New terms.
    pub terms_added: usize,
    /// New replacements.
    pub replacements_added: usize,
    /// Rows that respelled an entry already there.
    pub updated: usize,
    /// Rows equal to an entry already there (or to an earlier row).
    pub unchanged: usize,
}

/// One checked row and the line it came from (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub entry: Entry,
}

/// Read and check the rows of the CSV file at `path` (nothing is imported yet). Errors
/// are [`Error::Io`] for an unreadable file and [`Error::InvalidArgument`] naming the
/// file and line otherwise.
pub fn read(path: &Path) -> Result<Vec<Row>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let invalid = |reason: String| Error::InvalidArgument {
        name: path.display().to_string(),
        reason,
    };
    let too_large = |size: String| {
        invalid(format!(
            "is {size} bytes; a vocabulary CSV file holds at most {MAX_IMPORT_BYTES} (1 MiB)"
        ))
    };
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len > MAX_IMPORT_BYTES {
        return Err(too_large(len.to_string()));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_IMPORT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_IMPORT_BYTES {
        return Err(too_large(format!("over {MAX_IMPORT_BYTES}")));
    }
    utf8(&bytes).and_then(parse).map_err(|e| match e {
        Error::InvalidArgument { reason, .. } => invalid(reason),
        other => other,
    })
}

/// CSV bytes as text: an error for bytes that are not UTF-8 is [`Error::InvalidArgument`]
/// named `csv` whose reason names the line, as [`parse`]'s do. For CSV that arrives as
/// bytes other than a file's (a request body).
pub fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        at(
            line,
            "not UTF-8 text (save the file as UTF-8 CSV)".to_string(),
        )
    })
}

/// The checked rows of CSV `text`. An error is [`Error::InvalidArgument`] named `csv`
/// whose reason starts with the line, e.g. `line 3: 3 fields; …`.
pub fn parse(text: &str) -> Result<Vec<Row>> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    if lines > MAX_IMPORT_LINES {
        return Err(at(
            0,
            format!(
                "{lines} lines is too many; a vocabulary CSV file holds at most {MAX_IMPORT_LINES}"
            ),
        ));
    }
    let mut rows = Vec::new();
    let mut seen_record = false;
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut fields = split_fields(line).map_err(|reason| at(n, reason))?;
        while fields.len() > 1 && fields.last().is_some_and(|f| f.trim().is_empty()) {
            fields.pop();
        }
        let first = !seen_record;
        seen_record = true;
        if first && is_header(&fields) {
            continue;
        }
        let entry = match fields.as_slice() {
            [term] => Entry::Term(clean("term", term, true).map_err(|e| at_field(n, e))?),
            [spoken, written] => {
                let spoken = clean("spoken", spoken, true).map_err(|e| at_field(n, e))?;
                let written = clean("written", written, false).map_err(|e| at_field(n, e))?;
                Entry::Replacement(Replacement { spoken, written })
            }
            more => {
                return Err(at(
                    n,
                    format!(
                        "{} fields; a row holds a term, or a spoken form and its written form",
                        more.len()
                    ),
                ));
            }
        };
        if rows.len() >= MAX_ENTRIES {
            return Err(at(
                n,
                format!("more than {MAX_ENTRIES} entries, the most a vocabulary holds"),
            ));
        }
        rows.push(Row { line: n, entry });
    }
    Ok(rows)
}

/// Add `rows` to `vocabulary`: all of them or, on an error (which names the row's line),
/// none.
pub fn import_rows(vocabulary: &mut Vocabulary, rows: &[Row]) -> Result<Imported> {
    let mut next = vocabulary.clone();
    let mut counts = Imported::default();
    for row in rows {
        let is_term = matches!(row.entry, Entry::Term(_));
        match next
            .add(row.entry.clone())
            .map_err(|e| at_field(row.line, e))?
        {
            AddOutcome::Added if is_term => counts.terms_added += 1,
            AddOutcome::Added => counts.replacements_added += 1,
            AddOutcome::Updated => counts.updated += 1,
            AddOutcome::Unchanged => counts.unchanged += 1,
        }
    }
    *vocabulary = next;
    Ok(counts)
}

/// Whether `fields` is the header row: `term`, or `spoken,written` (any case).
fn is_header(fields: &[String]) -> bool {
    let is = |f: &String, name: &str| f.trim().eq_ignore_ascii_case(name);
    match fields {
        [t] => is(t, "term"),
        [s, w] => is(s, "spoken") && is(w, "written"),
        _ => false,
    }
}

/// The fields of one line, unquoted. A quoted field may hold commas and `""`; spaces
/// around it are ignored; anything else after its closing quote is an error. At most a
/// few fields are taken (a row has two), so a line of commas costs nothing.
fn split_fields(line: &str) -> std::result::Result<Vec<String>, String> {
    const MAX_FIELDS: usize = 16;
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        if fields.len() == MAX_FIELDS {
            return Err(format!(
                "more than {MAX_FIELDS} fields; a row holds a term, or a spoken form and its written form"
            ));
        }
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => {
                        return Err(
                            "a quoted field has no closing quote (a field cannot span lines)"
                                .into(),
                        );
                    }
                }
                if field.len() > 4 * super::MAX_ENTRY_CHARS {
                    return Err(format!(
                        "a field is longer than {} characters, the most an entry holds",
                        super::MAX_ENTRY_CHARS
                    ));
                }
            }
            while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => {
                    return Err(format!(
                        "{c:?} after a closing quote; write a quote inside a quoted field as \"\""
                    ));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => {
                        return Err(
                            "a quote inside an unquoted field; quote the whole field and write the quote as \"\""
                                .into(),
                        );
                    }
                    Some(c) => field.push(c),
                }
                if field.len() > 4 * super::MAX_ENTRY_CHARS {
                    return Err(format!(
                        "a field is longer than {} characters, the most an entry holds",
                        super::MAX_ENTRY_CHARS
                    ));
                }
            }
            fields.push(field);
        }
    }
}

fn at(line: usize, reason: String) -> Error {
    Error::InvalidArgument {
        name: "csv".into(),
        reason: if line == 0 {
            reason
        } else {
            format!("line {line}: {reason}")
        },
    }
}

/// An entry's validation error, placed at `line`: `line 4: written is blank`.
fn at_field(line: usize, e: Error) -> Error {
    match e {
        Error::InvalidArgument { name, reason } => at(line, format!("{name} {reason}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(s: &str) -> Entry {
        Entry::Term(s.into())
    }

    fn repl(s: &str, w: &str) -> Entry {
        Entry::Replacement(Replacement {
            spoken: s.into(),
            written: w.into(),
        })
    }

    fn entries(text: &str) -> Vec<(usize, Entry)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|r| (r.line, r.entry))
            .collect()
    }

    fn error(text: &str) -> String {
        match parse(text).unwrap_err() {
            Error::InvalidArgument { name, reason } => {
                assert_eq!(name, "csv");
                reason
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rows_headers_quotes_comments_and_line_ends() {
        let text = "\u{FEFF}spoken,written\r\n\
                    # names\r\n\
                    \r\n\
                    Dashwood\r\n\
                    murmur dot app, Murmur.app\r\n\
                    \"smith, john\",\"John \"\"Jack\"\" Smith\"\r\n\
                    \x20 \"macOS\"  \r\n\
                    Elinor,\n\
                    Marianne,,\n";
        assert_eq!(
            entries(text),
            [
                (4, term("Dashwood")),
                (5, repl("murmur dot app", "Murmur.app")),
                (6, repl("smith, john", "John \"Jack\" Smith")),
                (7, term("macOS")),
                (8, term("Elinor")),
                (9, term("Marianne")),
            ]
        );
        // A header only counts as the first record; later, "term" is a term.
        assert_eq!(entries("# c\nterm\nterm\n"), [(3, term("term"))]);
        assert_eq!(entries("Term\n"), []);
        assert_eq!(entries(""), []);
        assert_eq!(entries("\u{FEFF}"), []);
    }

    #[test]
    fn errors_name_the_line() {
        for (text, want) in [
            ("ok\n\"open", "line 2: a quoted field has no closing quote"),
            ("a,b,c", "line 1: 3 fields"),
            ("\"a\"b", "line 1: 'b' after a closing quote"),
            ("x\nab\"c\n", "line 2: a quote inside an unquoted field"),
            (",written", "line 1: spoken is blank"),
            ("\"\" , x", "line 1: spoken is blank"),
            ("...\n", "line 1: term \"...\" holds no letter"),
            (
                "x,\"a\u{7}\"",
                "line 1: written holds the control character U+0007",
            ),
            (&",".repeat(10_000), "line 1: more than 16 fields"),
        ] {
            let got = error(text);
            assert!(
                got.starts_with(want) || got.contains(want),
                "{text:.40?}: {got}"
            );
        }
        let long = format!("ok\n\n{}\n", "y".repeat(101));
        assert!(error(&long).starts_with("line 3: term is longer than 100"));
        let very_long = format!("\"{}\"", "y".repeat(100_000));
        assert!(error(&very_long).starts_with("line 1: a field is longer"));
    }

    #[test]
    fn sizes_are_checked_before_work() {
        let many_lines = "\n".repeat(MAX_IMPORT_LINES);
        assert!(error(&many_lines).contains("lines is too many"));
        let many_rows: String = (0..=MAX_ENTRIES).map(|i| format!("w{i}\n")).collect();
        assert!(error(&many_rows).starts_with(&format!("line {}: more than", MAX_ENTRIES + 1)));
    }

    #[test]
    fn import_is_all_or_nothing_and_counts() {
        let mut v = Vocabulary::new();
        v.add_term("DASHWOOD").unwrap();
        let rows = parse("Dashwood\nElinor\nelinor\nmurmur dot app,Murmur.app\n").unwrap();
        let got = import_rows(&mut v, &rows).unwrap();
        assert_eq!(
            got,
            Imported {
                terms_added: 1,
                replacements_added: 1,
                updated: 2,
                unchanged: 0
            }
        );
        assert_eq!(v.terms, ["Dashwood", "elinor"]);
        // Too many in all: nothing is added.
        let mut full = Vocabulary::new();
        for i in 0..MAX_ENTRIES - 1 {
            full.add_term(&format!("t{i}")).unwrap();
        }
        let before = full.clone();
        let rows = parse("new one\nnew two\n").unwrap();
        let e = import_rows(&mut full, &rows).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        assert_eq!(full, before);
    }
}
