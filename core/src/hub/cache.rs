//! The Hugging Face cache layout, byte for byte what Python's `huggingface_hub` writes, so
//! models downloaded by Murmur, `mlx_lm` or `huggingface-cli` are shared:
//!
//! ```text
//! <cache>/models--org--name/blobs/<etag>                 file contents (etag: sha256 for
//!                                                        LFS files, git blob id otherwise)
//! <cache>/models--org--name/blobs/<etag>.incomplete      a partial download, resumed with Range
//! <cache>/models--org--name/snapshots/<commit>/<file>    relative symlink to ../../blobs/<etag>
//! <cache>/models--org--name/refs/<revision>              the commit a branch or tag pointed at
//! <cache>/.locks/models--org--name/<etag>.lock           flock()ed while a blob is written
//! ```
//!
//! Folder names come from `hf-hub`'s `Repo::folder_name` and refs are written by its
//! `CacheRepo::create_ref`, so the Rust crates agree on the layout too.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use hf_hub::{Repo, RepoType};

use super::names::{check_revision, is_commit_hash};

/// A Hugging Face hub cache folder (`$HF_HUB_CACHE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubCache {
    root: PathBuf,
}

impl HubCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder Python's `huggingface_hub` uses: `$HF_HUB_CACHE`, else the legacy
    /// `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else
    /// `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
    pub fn from_env() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let root = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .unwrap_or_else(|| hf_home().join("hub"));
        Self::new(root)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The cache of one model repository.
    pub fn repo(&self, repo_id: &str) -> RepoCache {
        let repo = Repo::new(repo_id.to_string(), RepoType::Model);
        let folder = repo.folder_name();
        RepoCache {
            dir: self.root.join(&folder),
            locks: self.root.join(".locks").join(&folder),
            hf: hf_hub::Cache::new(self.root.clone()),
            repo_id: repo_id.to_string(),
        }
    }
}

/// `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
pub fn hf_home() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("HF_HOME").unwrap_or_else(|| {
        var("XDG_CACHE_HOME")
            .or_else(|| var("HOME").map(|h| h.join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("huggingface")
    })
}

/// One repository's corner of the cache.
#[derive(Debug, Clone)]
pub struct RepoCache {
    dir: PathBuf,
    locks: PathBuf,
    hf: hf_hub::Cache,
    repo_id: String,
}

impl RepoCache {
    /// `models--org--name`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn blob_path(&self, etag: &str) -> PathBuf {
        self.dir.join("blobs").join(etag)
    }

    /// Where a blob is written until it is complete and verified.
    pub fn incomplete_path(&self, etag: &str) -> PathBuf {
        self.dir.join("blobs").join(format!("{etag}.incomplete"))
    }

    pub fn lock_path(&self, etag: &str) -> PathBuf {
        self.locks.join(format!("{etag}.lock"))
    }

    pub fn snapshot_dir(&self, commit: &str) -> PathBuf {
        self.dir.join("snapshots").join(commit)
    }

    pub fn ref_path(&self, revision: &str) -> PathBuf {
        self.dir.join("refs").join(revision)
    }

    /// The commit `revision` resolves to locally: a commit hash with a snapshot folder is
    /// itself, a branch or tag is what its ref file says.
    ///
    /// Only a valid revision name is looked up, and only a commit hash read from a ref
    /// file is believed: either could otherwise point outside the cache.
    pub fn resolve_revision(&self, revision: &str) -> Option<String> {
        check_revision(revision).ok()?;
        if is_commit_hash(revision) && self.snapshot_dir(revision).is_dir() {
            return Some(revision.to_string());
        }
        let mut commit = String::new();
        File::open(self.ref_path(revision))
            .ok()?
            .take(128)
            .read_to_string(&mut commit)
            .ok()?;
        let commit = commit.trim();
        is_commit_hash(commit).then(|| commit.to_string())
    }

    /// Point `snapshots/<commit>/<file>` at `blobs/<etag>` with a relative symlink, as
    /// huggingface_hub does (replacing whatever was there).
    pub fn link(&self, commit: &str, file: &str, etag: &str) -> io::Result<PathBuf> {
        let dst = self.snapshot_dir(commit).join(file);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let depth = 2 + file.matches('/').count();
        let target = PathBuf::from("../".repeat(depth)).join("blobs").join(etag);
        match std::fs::remove_file(&dst) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        symlink(&target, &dst)?;
        Ok(dst)
    }

    /// Record that `revision` (a branch or tag) is at `commit`. Nothing is written for a
    /// commit hash: Python does not write `refs/<commit>` either.
    pub fn write_ref(&self, revision: &str, commit: &str) -> io::Result<()> {
        if revision == commit {
            return Ok(());
        }
        let repo = Repo::with_revision(self.repo_id.clone(), RepoType::Model, revision.to_string());
        self.hf.repo(repo).create_ref(commit)
    }

    /// Bytes this repository takes on disk (blobs, partial downloads included; symlinks
    /// are not followed, so shared blobs count once).
    pub fn size_on_disk(&self) -> u64 {
        crate::files::dir_size(&self.dir)
    }

    /// Delete the repository's folder and its lock files.
    pub fn remove(&self) -> io::Result<()> {
        for dir in [&self.dir, &self.locks] {
            match std::fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Open (creating) and exclusively `flock` the lock file of `etag`, without blocking:
    /// `Ok(None)` when another process or task holds it. huggingface_hub's `filelock`
    /// uses the same `flock`, so Murmur and Python never write one blob at once.
    pub fn try_lock(&self, etag: &str) -> io::Result<Option<BlobLock>> {
        let path = self.lock_path(etag);
        std::fs::create_dir_all(&self.locks)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid open descriptor; LOCK_NB keeps the call from blocking.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc != 0 {
                let err = io::Error::last_os_error();
                return if err.kind() == io::ErrorKind::WouldBlock {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        }
        Ok(Some(BlobLock { _file: file }))
    }
}

/// A held blob lock; released when dropped (closing the descriptor drops the flock).
#[derive(Debug)]
pub struct BlobLock {
    _file: File,
}

#[cfg(unix)]
fn symlink(target: &Path, dst: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, dst)
}

#[cfg(not(unix))]
fn symlink(target: &Path, dst: &Path) -> io::Result<()> {
    // Without symlinks huggingface_hub copies the blob; do the same.
    let blob = dst.parent().unwrap_or(Path::new(".")).join(target);
    std::fs::copy(blob, dst).map(|_| ())
}

/// Every file of a snapshot folder, as repository paths with `/` separators, symlinks
/// resolved: `(path, Some(size))`, or `None` for a link whose blob is missing.
pub(crate) fn snapshot_files(dir: &Path) -> Vec<(String, Option<u64>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Option<u64>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(base, &path, out);
                continue;
            }
            let rel = path.strip_prefix(base).unwrap_or(&path);
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, std::fs::metadata(&path).ok().map(|m| m.len())));
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_huggingface_hub() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HubCache::new(dir.path());
        let repo = cache.repo("mlx-community/Qwen3-1.7B-4bit");
        assert_eq!(
            repo.dir(),
            dir.path().join("models--mlx-community--Qwen3-1.7B-4bit")
        );
        assert_eq!(
            repo.lock_path("abc"),
            dir.path()
                .join(".locks/models--mlx-community--Qwen3-1.7B-4bit/abc.lock")
        );
        let commit = "0123456789abcdef0123456789abcdef01234567";
        std::fs::create_dir_all(repo.dir().join("blobs")).unwrap();
        std::fs::write(repo.blob_path("e1"), b"hello").unwrap();
        std::fs::write(repo.blob_path("e2"), b"nested").unwrap();
        let a = repo.link(commit, "config.json", "e1").unwrap();
        let b = repo.link(commit, "sub/dir/x.json", "e2").unwrap();
        assert_eq!(std::fs::read_link(&a).unwrap(), Path::new("../../blobs/e1"));
        assert_eq!(
            std::fs::read_link(&b).unwrap(),
            Path::new("../../../../blobs/e2")
        );
        assert_eq!(std::fs::read(&b).unwrap(), b"nested");
        // Linking again replaces the link.
        repo.link(commit, "config.json", "e2").unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"nested");

        assert_eq!(repo.resolve_revision("main"), None);
        repo.write_ref("main", commit).unwrap();
        assert_eq!(
            std::fs::read_to_string(repo.ref_path("main")).unwrap(),
            commit
        );
        assert_eq!(repo.resolve_revision("main").as_deref(), Some(commit));
        assert_eq!(repo.resolve_revision(commit).as_deref(), Some(commit));
        repo.write_ref(commit, commit).unwrap();
        assert!(!repo.ref_path(commit).exists());

        let files = snapshot_files(&repo.snapshot_dir(commit));
        assert_eq!(
            files,
            vec![
                ("config.json".to_string(), Some(6)),
                ("sub/dir/x.json".to_string(), Some(6))
            ]
        );
        std::fs::remove_file(repo.blob_path("e2")).unwrap();
        assert_eq!(
            snapshot_files(&repo.snapshot_dir(commit))[0].1,
            None,
            "dangling link"
        );
        assert_eq!(repo.size_on_disk(), 5 + 40, "the blob left and the ref");

        let lock = repo.try_lock("e1").unwrap().expect("free");
        assert!(repo.try_lock("e1").unwrap().is_none(), "held");
        drop(lock);
        assert!(repo.try_lock("e1").unwrap().is_some());
        repo.remove().unwrap();
        assert!(!repo.dir().exists() && !repo.lock_path("e1").exists());
    }
}
