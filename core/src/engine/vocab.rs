//! The user's vocabulary through the engine: `vocabulary.json` in the engine's settings
//! folder ([`EngineConfig::config_dir`](super::EngineConfig)), read at each call so every
//! face (the app, the CLI, the daemon) sees the others' changes.
//!
//! Every change is one read-modify-write under the file's lock
//! ([`VocabularyStore::update`]: a mutex shared by every engine of this process on that
//! folder, and a `flock` across processes), so concurrent callers never lose each
//! other's entries.

use std::path::{Path, PathBuf};

use super::Engine;
use crate::error::{Error, Result};
use crate::vocab::{AddOutcome, Entry, Imported, Removed, Vocabulary, VocabularyStore, csv};

impl Engine {
    /// The saved vocabulary (empty when none was saved). An unreadable, oversized or
    /// corrupt file is an error naming it, never an empty list.
    pub fn vocabulary(&self) -> Result<Vocabulary> {
        self.vocabulary_store().load()
    }

    /// Where the vocabulary is saved.
    pub fn vocabulary_path(&self) -> PathBuf {
        self.vocabulary_store().path().to_path_buf()
    }

    /// Add a term or a replacement and save (see [`Vocabulary::add`] for the checks and
    /// how duplicates merge).
    pub fn add_vocabulary(&self, entry: Entry) -> Result<AddOutcome> {
        self.vocabulary_store().update(|v| v.add(entry))
    }

    /// Remove the term `entry` and every replacement whose spoken or written form is
    /// `entry` (ignoring case), and save. [`Error::InvalidArgument`] when nothing matched.
    pub fn remove_vocabulary(&self, entry: &str) -> Result<Removed> {
        self.vocabulary_store().update(|v| {
            let removed = v.remove(entry);
            if removed.is_empty() {
                return Err(Error::InvalidArgument {
                    name: "entry".into(),
                    reason: format!("no term or replacement is {:?}", entry.trim()),
                });
            }
            Ok(removed)
        })
    }

    /// Import the entries of a CSV file ([`csv`]'s format) and save: all of them, or
    /// none on an error, which names the file and line.
    pub fn import_vocabulary(&self, path: &Path) -> Result<Imported> {
        // The file is read and checked before the lock is taken.
        let rows = csv::read(path)?;
        self.vocabulary_store().update(|v| {
            csv::import_rows(v, &rows).map_err(|e| match e {
                Error::InvalidArgument { reason, .. } => Error::InvalidArgument {
                    name: path.display().to_string(),
                    reason,
                },
                other => other,
            })
        })
    }

    /// Import the entries of CSV `text` ([`csv`]'s format, e.g. a request body or a
    /// pasted sheet) and save: all of them, or none on an error, which is
    /// [`Error::InvalidArgument`] named `csv` with the line. Bounded as a file is: text
    /// over [`csv::MAX_IMPORT_BYTES`] is refused before it is parsed.
    pub fn import_vocabulary_text(&self, text: &str) -> Result<Imported> {
        if text.len() as u64 > csv::MAX_IMPORT_BYTES {
            return Err(Error::InvalidArgument {
                name: "csv".into(),
                reason: format!(
                    "is {} bytes; a vocabulary CSV file holds at most {} (1 MiB)",
                    text.len(),
                    csv::MAX_IMPORT_BYTES
                ),
            });
        }
        let rows = csv::parse(text)?;
        self.vocabulary_store()
            .update(|v| csv::import_rows(v, &rows))
    }

    fn vocabulary_store(&self) -> VocabularyStore {
        VocabularyStore::new(&self.config().config_dir)
    }
}
