//! `vocabulary.json` in Murmur's settings folder: the vocabulary kept between runs.
//!
//! The file is the user's own list, so nothing here may lose or mangle it:
//! - a missing file is an empty vocabulary (nothing saved yet); any other file that
//!   cannot be used is an error naming the path — never silently an empty list, which
//!   the next save would write over the user's entries;
//! - reads are bounded: a file over [`MAX_FILE_BYTES`] is refused from its size before
//!   it is read, and the read itself stops past the limit (a file that grows, or a
//!   device node, cannot make it allocate more);
//! - writes are atomic: the JSON goes to a new temporary file in the same folder, is
//!   flushed to disk (`fsync`) and renamed over the old file, and the folder is flushed,
//!   so a crash or a full disk leaves either the old file or the new one, whole;
//! - read-modify-write is serialized ([`VocabularyStore::update`]): one lock per file in
//!   this process (a mutex) and an advisory `flock` on `vocabulary.json.lock` across
//!   processes (the CLI beside the daemon or the app), so concurrent edits never lose
//!   each other's entries.
//!
//! `models.json` (the catalog) is written by write-then-rename too, without the sync or
//! the lock; this module does not share its code since a failed vocabulary save must
//! also never leave its temporary file behind.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::Vocabulary;
use crate::error::{Error, Result};

/// The file's name in the settings folder.
pub const FILE_NAME: &str = "vocabulary.json";

/// The largest `vocabulary.json` read (1 MiB): a full vocabulary ([`super::MAX_ENTRIES`]
/// entries of at most [`super::MAX_ENTRY_CHARS`] characters) is well under it.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The vocabulary file of one settings folder.
#[derive(Debug, Clone)]
pub struct VocabularyStore {
    path: PathBuf,
}

impl VocabularyStore {
    /// The store in `config_dir` (`EngineConfig::config_dir`): `config_dir/vocabulary.json`.
    pub fn new(config_dir: &Path) -> Self {
        Self::at(config_dir.join(FILE_NAME))
    }

    /// A store at an explicit file path.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The JSON file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved vocabulary: empty when the file does not exist; an error naming the
    /// path when it is unreadable, too large, not JSON of the right shape, or holds an
    /// entry the vocabulary refuses.
    pub fn load(&self) -> Result<Vocabulary> {
        let Some(bytes) = read_bounded(&self.path)? else {
            return Ok(Vocabulary::new());
        };
        let corrupt = |reason: String| Error::InvalidArgument {
            name: self.path.display().to_string(),
            reason,
        };
        // A byte-order mark (an editor's, on a file the user opened) is not JSON.
        let json = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let raw: Vocabulary = serde_json::from_slice(json)
            .map_err(|e| corrupt(format!("not a Murmur vocabulary file: {e}")))?;
        raw.validated().map_err(|e| match e {
            Error::InvalidArgument { name, reason } => corrupt(format!("{name} {reason}")),
            other => other,
        })
    }

    /// Write `vocabulary` (validated first: nothing invalid is ever saved) atomically,
    /// creating the folder if needed.
    pub fn save(&self, vocabulary: &Vocabulary) -> Result<()> {
        let checked = vocabulary.validated()?;
        self.locked(|| self.write(&checked))
    }

    /// Read, change with `f`, and write back if `f` changed anything, holding this
    /// file's lock throughout so concurrent updates (threads, engines, processes) apply
    /// one after another. When `f` fails nothing is written.
    pub fn update<T>(&self, f: impl FnOnce(&mut Vocabulary) -> Result<T>) -> Result<T> {
        self.locked(|| {
            let before = self.load()?;
            let mut after = before.clone();
            let out = f(&mut after)?;
            if after != before {
                self.write(&after.validated()?)?;
            }
            Ok(out)
        })
    }

    fn write(&self, vocabulary: &Vocabulary) -> Result<()> {
        let json = serde_json::to_vec_pretty(vocabulary).map_err(|e| Error::Internal {
            what: "saving the vocabulary".into(),
            reason: e.to_string(),
        })?;
        write_atomic(&self.path, &json)
    }

    /// `f` run holding this file's locks: the process-wide mutex, then the
    /// cross-process `flock` (released in the reverse order).
    fn locked<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let mutex = process_lock(&self.path);
        // A poisoned mutex is taken anyway: it guards the file, not data, and a holder
        // that panicked left the file whole (writes are atomic).
        let _guard = mutex.lock().unwrap_or_else(|e| e.into_inner());
        let _flock = file_lock(&self.path)?;
        f()
    }
}

/// The mutex of `path` for this process: one per file, shared by every store and engine
/// on it (an absolute path is the key), forgotten once none holds it.
fn process_lock(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Weak<Mutex<()>>>>> = OnceLock::new();
    let key = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(m) = locks.get(&key).and_then(Weak::upgrade) {
        return m;
    }
    locks.retain(|_, w| w.strong_count() > 0);
    let m = Arc::new(Mutex::new(()));
    locks.insert(key, Arc::downgrade(&m));
    m
}

/// An exclusive `flock` on `<file>.lock` beside `path`, held until the returned file is
/// closed. `None` where the file system has no locks (the process mutex still holds).
fn file_lock(path: &Path) -> Result<Option<File>> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let lock_path = path.with_file_name(name);
        create_parent(&lock_path)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        loop {
            // SAFETY: a valid open descriptor, owned by `file` for the whole call.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Some(file));
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ENOLCK | libc::EOPNOTSUPP | libc::ENOSYS) => return Ok(None),
                _ => return Err(Error::io(&lock_path, err)),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

/// `path`'s bytes, `None` when it does not exist; refused (naming the path) when over
/// [`MAX_FILE_BYTES`], checked from its size before reading and again while reading.
fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let too_large = |size: String| Error::InvalidArgument {
        name: path.display().to_string(),
        reason: format!(
            "is {size} bytes; a vocabulary file holds at most {MAX_FILE_BYTES} (1 MiB)"
        ),
    };
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len > MAX_FILE_BYTES {
        return Err(too_large(len.to_string()));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(format!("over {MAX_FILE_BYTES}")));
    }
    Ok(Some(bytes))
}

fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
        }
        _ => Ok(()),
    }
}

/// Replace `path` with `bytes` so that it is never seen half-written: a fresh temporary
/// file in the same folder (a rename is atomic only within one file system), written and
/// synced, renamed over `path`, and the folder synced so the rename itself survives a
/// crash. On failure the temporary file is removed and `path` is untouched.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    create_parent(path)?;
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = path.with_file_name(name);
    let written = (|| {
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        file.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // Best effort: the new file is complete either way; this makes the rename durable.
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, VocabularyStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = VocabularyStore::new(&dir.path().join("conf"));
        (dir, store)
    }

    fn invalid_name_reason(e: Error) -> (String, String) {
        match e {
            Error::InvalidArgument { name, reason } => (name, reason),
            other => panic!("not InvalidArgument: {other:?}"),
        }
    }

    #[test]
    fn missing_file_is_empty_and_saves_round_trip() {
        let (_dir, store) = store();
        assert!(store.load().unwrap().is_empty());
        let mut v = Vocabulary::new();
        v.add_term("Dashwood").unwrap();
        v.add_replacement("murmur dot app", "Murmur.app").unwrap();
        store.save(&v).unwrap();
        assert_eq!(store.load().unwrap(), v);
        // Only the file and its lock are left in the folder: no temporary files.
        let mut names: Vec<String> = std::fs::read_dir(store.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["vocabulary.json", "vocabulary.json.lock"]);
    }

    #[test]
    fn update_writes_only_on_change_and_not_on_error() {
        let (_dir, store) = store();
        store.update(|v| v.add_term("one")).unwrap();
        let modified = std::fs::metadata(store.path()).unwrap().modified().unwrap();
        let before = std::fs::read(store.path()).unwrap();
        store.update(|v| v.add_term("one")).unwrap();
        let e = store
            .update(|v| {
                v.add_term("two")?;
                v.add_term("")
            })
            .unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }));
        assert_eq!(std::fs::read(store.path()).unwrap(), before);
        assert_eq!(
            std::fs::metadata(store.path()).unwrap().modified().unwrap(),
            modified
        );
    }

    #[test]
    fn corrupt_and_oversized_files_are_errors_naming_the_path() {
        let (_dir, store) = store();
        std::fs::create_dir_all(store.path().parent().unwrap()).unwrap();
        let path = store.path().display().to_string();
        for (text, why) in [
            ("{\"terms\": [", "not a Murmur vocabulary file"),
            ("[1, 2]", "not a Murmur vocabulary file"),
            ("{\"terms\": \"Dashwood\"}", "not a Murmur vocabulary file"),
            ("{\"terms\": [\"a\\u0000b\"]}", "terms[0].term"),
            ("", "not a Murmur vocabulary file"),
        ] {
            std::fs::write(store.path(), text).unwrap();
            let (name, reason) = invalid_name_reason(store.load().unwrap_err());
            assert_eq!(name, path);
            assert!(reason.contains(why), "{text}: {reason}");
            // An update refuses too, and leaves the file as it was.
            assert!(store.update(|v| v.add_term("x")).is_err());
            assert_eq!(std::fs::read_to_string(store.path()).unwrap(), text);
        }
        std::fs::write(store.path(), "\u{FEFF}{\"terms\": [\"Elinor\"]}").unwrap();
        assert_eq!(store.load().unwrap().terms, ["Elinor"]);
        let big = format!(
            "{{\"terms\": [\"a\"], \"pad\": \"{}\"}}",
            "x".repeat(MAX_FILE_BYTES as usize)
        );
        std::fs::write(store.path(), big).unwrap();
        let (name, reason) = invalid_name_reason(store.load().unwrap_err());
        assert_eq!(name, path);
        assert!(reason.contains("at most 1048576"), "{reason}");
    }

    #[test]
    fn a_folder_in_the_way_is_an_io_error() {
        let (_dir, store) = store();
        std::fs::create_dir_all(store.path()).unwrap();
        assert!(matches!(store.load(), Err(Error::Io { .. })));
        let mut v = Vocabulary::new();
        v.add_term("x").unwrap();
        assert!(matches!(store.save(&v), Err(Error::Io { .. })));
        // The failed save left no temporary file.
        let n = std::fs::read_dir(store.path().parent().unwrap())
            .unwrap()
            .count();
        assert_eq!(n, 2, "the folder in the way and the lock file");
    }

    #[test]
    fn concurrent_updates_keep_every_entry() {
        let (_dir, store) = store();
        std::thread::scope(|s| {
            for t in 0..4 {
                let store = store.clone();
                s.spawn(move || {
                    for i in 0..25 {
                        store.update(|v| v.add_term(&format!("t{t}w{i}"))).unwrap();
                    }
                });
            }
        });
        assert_eq!(store.load().unwrap().terms.len(), 100);
    }
}
