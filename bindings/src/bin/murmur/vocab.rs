//! `murmur vocab`: the user's vocabulary (terms spelled their way, spoken forms
//! replaced) on the command line. Mapping only: every check and decision is the
//! engine's.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use murmur_core::Result;
use murmur_core::vocab::{AddOutcome, Entry, Replacement, Vocabulary};

use crate::models::engine;

#[derive(Args)]
pub struct VocabArgs {
    #[command(subcommand)]
    action: Option<VocabAction>,
}

#[derive(Subcommand)]
enum VocabAction {
    /// Add a term to spell exactly as given (`murmur vocab add macOS`), or a replacement
    /// (`murmur vocab add --spoken "murmur dot app" --written Murmur.app`).
    Add {
        /// The term, e.g. a name Whisper mishears.
        #[arg(required_unless_present = "spoken", conflicts_with = "spoken")]
        term: Option<String>,
        /// What is said (matched by its words, ignoring case and punctuation between them).
        #[arg(long, requires = "written")]
        spoken: Option<String>,
        /// What to write where it is said.
        #[arg(long, requires = "spoken")]
        written: Option<String>,
    },
    /// Remove a term, or every replacement whose spoken or written form this is.
    Remove { entry: String },
    /// List the terms and replacements (the default).
    List {
        /// Print the vocabulary as JSON (the shape of vocabulary.json).
        #[arg(long)]
        json: bool,
    },
    /// Import a CSV file: one field a row is a term, two are `spoken,written`; an
    /// optional header row, quoted fields, `#` comments. All rows or none.
    Import { file: PathBuf },
}

/// `murmur vocab [add|remove|list|import]`.
pub fn run(args: VocabArgs) -> Result<()> {
    let engine = engine()?;
    match args.action.unwrap_or(VocabAction::List { json: false }) {
        VocabAction::Add {
            term,
            spoken,
            written,
        } => {
            let entry = match (term, spoken, written) {
                (_, Some(spoken), Some(written)) => {
                    Entry::Replacement(Replacement { spoken, written })
                }
                (term, _, _) => Entry::Term(term.unwrap_or_default()),
            };
            let shown = describe(&entry);
            let outcome = engine.add_vocabulary(entry)?;
            println!(
                "{} {shown}",
                match outcome {
                    AddOutcome::Added => "added",
                    AddOutcome::Updated => "updated",
                    AddOutcome::Unchanged => "already there:",
                }
            );
        }
        VocabAction::Remove { entry } => {
            let removed = engine.remove_vocabulary(&entry)?;
            for t in removed.terms {
                println!("removed term {t}");
            }
            for r in removed.replacements {
                println!("removed replacement {} → {}", r.spoken, r.written);
            }
        }
        VocabAction::List { json } => list(&engine.vocabulary()?, json),
        VocabAction::Import { file } => {
            let n = engine.import_vocabulary(&file)?;
            println!(
                "imported {}: {} and {} added, {} updated, {} unchanged",
                file.display(),
                count(n.terms_added, "term"),
                count(n.replacements_added, "replacement"),
                n.updated,
                n.unchanged
            );
        }
    }
    Ok(())
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn describe(entry: &Entry) -> String {
    match entry {
        Entry::Term(t) => format!("term {}", t.trim()),
        Entry::Replacement(r) => {
            format!("replacement {} → {}", r.spoken.trim(), r.written.trim())
        }
    }
}

fn list(v: &Vocabulary, json: bool) {
    // Written as one block, ignoring a closed pipe (`murmur vocab list | head`).
    let mut out = String::new();
    if json {
        out = serde_json::to_string_pretty(v).expect("a vocabulary serializes") + "\n";
    } else if v.is_empty() {
        out.push_str("the vocabulary is empty: add a term with `murmur vocab add TERM`\n");
    } else {
        let _ = writeln!(out, "terms ({}):", v.terms.len());
        for t in &v.terms {
            let _ = writeln!(out, "  {t}");
        }
        let _ = writeln!(out, "replacements ({}):", v.replacements.len());
        for r in &v.replacements {
            let _ = writeln!(out, "  {} → {}", r.spoken, r.written);
        }
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
}
