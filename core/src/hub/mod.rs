//! Downloading models from the Hugging Face Hub into the standard cache.
//!
//! The protocol is huggingface_hub's: `GET {endpoint}/api/models/{repo}/revision/{rev}`
//! lists the commit and the files (sizes, git blob ids, LFS sha256), then each file comes
//! from `{endpoint}/{repo}/resolve/{commit}/{file}`. The files land in the layout Python
//! writes ([`cache`]), so Python tools and Murmur share one copy.
//!
//! Why not `hf-hub`'s own downloader: it cannot be cancelled, does not verify sha256,
//! resumes with a private trailing-counter format Python does not understand, and writes
//! each file's ref as soon as that file is done, so an interrupted multi-file download
//! looks complete. Here the transfer is reqwest (rustls) with per-byte progress,
//! cancellation at any await, retries with backoff, Range resume of Python-compatible
//! `.incomplete` files, size and sha256 checks, and the snapshot links and ref written
//! only after every file is verified. `hf-hub` still supplies the cache naming.

pub mod cache;
mod download;
pub mod names;
pub mod progress;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use cache::{HubCache, RepoCache, hf_home};
pub use progress::DownloadProgress;

use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::files::glob_match;

/// The public Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Free space a download must leave on the disk, as in the Python sidecars Murmur replaces.
pub const DISK_MARGIN: u64 = 100 * 1_000_000;

/// A probe for the free bytes of the file system holding a path (a test or embedding
/// hook; the default asks `statvfs`).
pub type FreeSpaceFn = Arc<dyn Fn(&Path) -> std::io::Result<u64> + Send + Sync>;

/// How transient failures (connection errors, dropped connections, timeouts, HTTP 5xx,
/// 429) are retried: up to `max_retries` more attempts per file, waiting
/// `initial_backoff`, doubled each time up to `max_backoff`. Each retry resumes where the
/// last attempt stopped. An attempt that moved at least 1 MiB resets the count, so a long
/// download on a flaky network keeps going while a dead one still fails fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// Where and how to download.
#[derive(Clone)]
pub struct HubConfig {
    /// The hub cache folder ([`HubCache::from_env`] by default).
    pub cache_dir: PathBuf,
    /// `HF_ENDPOINT`; no trailing slash.
    pub endpoint: String,
    /// `HF_TOKEN` (or the token file `huggingface-cli login` writes). Sent only as an
    /// `Authorization: Bearer` header to the endpoint; never logged or put in an error.
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE`: never touch the network; only complete cached snapshots count.
    pub offline: bool,
    pub retry: RetryPolicy,
    /// A connection that delivers nothing for this long counts as failed (and is retried).
    pub read_timeout: Duration,
    /// Least time between two progress reports of one download (the first and last
    /// report of each file are always made).
    pub progress_interval: Duration,
    /// Replaces the `statvfs` free-space probe (tests use it to simulate a full disk).
    pub free_space: Option<FreeSpaceFn>,
}

impl fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubConfig")
            .field("cache_dir", &self.cache_dir)
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("offline", &self.offline)
            .field("retry", &self.retry)
            .field("read_timeout", &self.read_timeout)
            .field("progress_interval", &self.progress_interval)
            .field("free_space", &self.free_space.as_ref().map(|_| "<hook>"))
            .finish()
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        Self::from_env()
    }
}

impl HubConfig {
    /// The settings huggingface_hub reads: `HF_HUB_CACHE`/`HF_HOME`, `HF_ENDPOINT`,
    /// `HF_TOKEN` (else `HF_TOKEN_PATH` or `$HF_HOME/token`) and `HF_HUB_OFFLINE`.
    pub fn from_env() -> Self {
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| {
                let path = var("HF_TOKEN_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| hf_home().join("token"));
                std::fs::read_to_string(path)
                    .ok()
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
            });
        Self {
            cache_dir: HubCache::from_env().root().to_path_buf(),
            endpoint: var("HF_ENDPOINT")
                .unwrap_or_else(|| DEFAULT_ENDPOINT.into())
                .trim_end_matches('/')
                .to_string(),
            token,
            offline: var("HF_HUB_OFFLINE").is_some_and(|v| is_truthy(&v)),
            retry: RetryPolicy::default(),
            read_timeout: Duration::from_secs(60),
            progress_interval: Duration::from_millis(100),
            free_space: None,
        }
    }
}

/// An environment variable's trimmed value; unset and blank read the same.
pub(crate) fn var(key: &str) -> Option<String> {
    std::env::var(key)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// huggingface_hub's truthy environment values.
pub(crate) fn is_truthy(v: &str) -> bool {
    matches!(v.to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
}

/// One file of a repository at a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoFile {
    /// Path inside the repository.
    pub path: String,
    pub size: u64,
    /// The blob name in the cache: the LFS sha256, else the git blob id.
    pub etag: String,
    /// The content's sha256 (LFS files only), checked after download.
    pub sha256: Option<String>,
}

/// A repository at one commit, as the Hub lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoInfo {
    pub repo: String,
    pub commit: String,
    pub files: Vec<RepoFile>,
}

/// What to download from a repository: `files` are glob patterns of the wanted files;
/// `required` patterns must each match a file for the snapshot to count as complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSpec {
    pub repo: String,
    pub revision: String,
    pub files: Vec<String>,
    pub required: Vec<String>,
}

/// A complete snapshot in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub repo: String,
    pub commit: String,
    /// `snapshots/<commit>`: the model folder to load.
    pub path: PathBuf,
    /// Repository paths of its files.
    pub files: Vec<String>,
    /// Their total size.
    pub bytes: u64,
}

#[derive(Deserialize)]
struct ApiRepoInfo {
    sha: String,
    #[serde(default)]
    siblings: Vec<ApiSibling>,
}

#[derive(Deserialize)]
struct ApiSibling {
    rfilename: String,
    size: Option<u64>,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    lfs: Option<ApiLfs>,
}

#[derive(Deserialize)]
struct ApiLfs {
    sha256: String,
    size: u64,
}

/// A Hugging Face Hub client bound to one cache.
#[derive(Debug, Clone)]
pub struct Hub {
    config: HubConfig,
    cache: HubCache,
    client: reqwest::Client,
}

impl Hub {
    pub fn new(config: HubConfig) -> Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("murmur/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(config.read_timeout)
            .build()
            .map_err(|e| Error::Download {
                repo: String::new(),
                file: String::new(),
                reason: format!("HTTP client: {e}"),
            })?;
        Ok(Self {
            cache: HubCache::new(&config.cache_dir),
            config,
            client,
        })
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    pub fn cache(&self) -> &HubCache {
        &self.cache
    }

    /// The repository's files at `revision`, from the Hub.
    pub async fn repo_info(
        &self,
        repo: &str,
        revision: &str,
        cancel: &CancelToken,
    ) -> Result<RepoInfo> {
        names::check_revision(revision)?;
        if self.config.offline {
            return Err(Error::Offline { repo: repo.into() });
        }
        let url = format!(
            "{}/api/models/{}/revision/{}?blobs=true",
            self.config.endpoint,
            repo,
            encode_revision(revision)
        );
        let body = download::with_retries(&self.config.retry, cancel, || async {
            let resp = download::send(self.request(&url, reqwest::Method::GET), cancel).await?;
            download::check_status(&resp, repo, "")?;
            download::read_body(resp, repo, names::MAX_REPO_INFO_BYTES, cancel).await
        })
        .await
        .map_err(|f| f.into_error(repo, ""))?;
        let info: ApiRepoInfo = serde_json::from_slice(&body).map_err(|e| Error::Download {
            repo: repo.into(),
            file: String::new(),
            reason: format!("malformed repository info: {e}"),
        })?;
        let files = info
            .siblings
            .into_iter()
            .map(|s| {
                let (size, etag, sha256) = match s.lfs {
                    Some(lfs) => (lfs.size, lfs.sha256.clone(), Some(lfs.sha256)),
                    None => (s.size.unwrap_or(0), s.blob_id.unwrap_or_default(), None),
                };
                RepoFile {
                    path: s.rfilename,
                    size,
                    etag,
                    sha256,
                }
            })
            .collect::<Vec<_>>();
        if !names::is_commit_hash(&info.sha) {
            return Err(Error::Download {
                repo: repo.into(),
                file: String::new(),
                reason: format!("the Hub named the commit {:?}, not a commit hash", info.sha),
            });
        }
        for f in &files {
            names::check_repo_file(repo, &f.path)?;
        }
        if let Some(bad) = files
            .iter()
            .find(|f| f.etag.is_empty() || f.etag.contains(['/', '\\', '.']))
        {
            return Err(Error::Download {
                repo: repo.into(),
                file: bad.path.clone(),
                reason: "the Hub listed the file without a usable blob id".into(),
            });
        }
        Ok(RepoInfo {
            repo: repo.into(),
            commit: info.sha,
            files,
        })
    }

    /// The complete snapshot of `spec` already in the cache, if any (never touches the
    /// network).
    pub fn local_snapshot(&self, spec: &SnapshotSpec) -> Option<Snapshot> {
        let repo = self.cache.repo(&spec.repo);
        let commit = repo.resolve_revision(&spec.revision)?;
        let dir = repo.snapshot_dir(&commit);
        let files = cache::snapshot_files(&dir);
        complete_snapshot(spec, &commit, &dir, &files)
    }

    /// Download the files of `spec` (those its patterns select) into the cache, and
    /// return the complete snapshot. Files already in the cache are not downloaded again;
    /// partial ones are resumed. `on_progress` sees every change at most every
    /// `progress_interval`; `cancel` stops it at any point with [`Error::Cancelled`],
    /// leaving resumable `.incomplete` files and nothing that looks complete.
    ///
    /// Offline, or when the Hub cannot be asked (unreachable, failing, refusing a stale
    /// token), a complete cached snapshot is returned as it is.
    pub async fn download(
        &self,
        spec: &SnapshotSpec,
        on_progress: &mut (dyn FnMut(&DownloadProgress) + Send),
        cancel: &CancelToken,
    ) -> Result<Snapshot> {
        if self.config.offline {
            return self.local_snapshot(spec).ok_or_else(|| Error::Offline {
                repo: spec.repo.clone(),
            });
        }
        let info = match self.repo_info(&spec.repo, &spec.revision, cancel).await {
            Ok(info) => info,
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) => {
                // Like huggingface_hub: when the Hub cannot be asked (no network, down,
                // a token that no longer works), a complete cached copy will do.
                return match self.local_snapshot(spec) {
                    Some(snapshot) => Ok(snapshot),
                    None => Err(match e {
                        Error::Download { reason, .. } => Error::Download {
                            repo: spec.repo.clone(),
                            file: String::new(),
                            reason,
                        },
                        e => e,
                    }),
                };
            }
        };
        let wanted: Vec<RepoFile> = info
            .files
            .iter()
            .filter(|f| spec.files.iter().any(|p| glob_match(p, &f.path)))
            .cloned()
            .collect();
        for pattern in &spec.required {
            if !wanted.iter().any(|f| glob_match(pattern, &f.path)) {
                return Err(Error::NotFound {
                    repo: spec.repo.clone(),
                    file: pattern.clone(),
                });
            }
        }
        download::Transfer::new(self, &info, &spec.revision, wanted, on_progress, cancel)
            .run()
            .await?;
        self.local_snapshot(&SnapshotSpec {
            revision: info.commit.clone(),
            ..spec.clone()
        })
        .ok_or_else(|| Error::Download {
            repo: spec.repo.clone(),
            file: String::new(),
            reason: "the snapshot is incomplete after the download".into(),
        })
    }

    fn request(&self, url: &str, method: reqwest::Method) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .request(method, url)
            // Sizes and hashes are of the stored bytes: no transparent compression.
            .header(reqwest::header::ACCEPT_ENCODING, "identity");
        if let Some(token) = &self.config.token {
            // reqwest drops this header on redirects to another host (the CDN).
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
            value.set_sensitive(true);
            req = req.header(reqwest::header::AUTHORIZATION, value);
        }
        req
    }

    fn free_space(&self, path: &Path) -> std::io::Result<u64> {
        match &self.config.free_space {
            Some(f) => f(path),
            None => free_space(path),
        }
    }
}

/// A branch name may contain `/`; the Hub wants it percent-encoded in API paths.
fn encode_revision(revision: &str) -> String {
    revision.replace('/', "%2F")
}

/// Whether the files of a snapshot folder make `spec` complete: every required pattern
/// matched, no link dangling, and every shard a safetensors index names present.
fn complete_snapshot(
    spec: &SnapshotSpec,
    commit: &str,
    dir: &Path,
    files: &[(String, Option<u64>)],
) -> Option<Snapshot> {
    let mine: Vec<&(String, Option<u64>)> = files
        .iter()
        .filter(|(p, _)| spec.files.iter().any(|pat| glob_match(pat, p)))
        .collect();
    if mine.is_empty() || mine.iter().any(|(_, size)| size.is_none()) {
        return None;
    }
    if !spec
        .required
        .iter()
        .all(|pat| mine.iter().any(|(p, _)| glob_match(pat, p)))
    {
        return None;
    }
    for (index, _) in mine
        .iter()
        .filter(|(p, _)| p.ends_with(".safetensors.index.json"))
    {
        let bytes = std::fs::read(dir.join(index)).ok()?;
        let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let shards = json.get("weight_map")?.as_object()?;
        let base = index
            .rsplit_once('/')
            .map(|(d, _)| format!("{d}/"))
            .unwrap_or_default();
        for shard in shards.values().filter_map(|v| v.as_str()) {
            let shard = format!("{base}{shard}");
            if !mine.iter().any(|(p, _)| *p == shard) {
                return None;
            }
        }
    }
    Some(Snapshot {
        repo: spec.repo.clone(),
        commit: commit.to_string(),
        path: dir.to_path_buf(),
        files: mine.iter().map(|(p, _)| p.clone()).collect(),
        bytes: mine.iter().filter_map(|(_, s)| *s).sum(),
    })
}

/// Free bytes for unprivileged users on the file system holding `path` (or its nearest
/// existing ancestor: the cache folder may not exist yet).
pub fn free_space(path: &Path) -> std::io::Result<u64> {
    let mut probe = path;
    while !probe.exists() {
        match probe.parent() {
            Some(p) if !p.as_os_str().is_empty() => probe = p,
            _ => {
                probe = Path::new(".");
                break;
            }
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(probe.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: `stat` is a plain C struct filled by statvfs; `c` is NUL-terminated.
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::statvfs(c.as_ptr(), &mut stat) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
        Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
    }
    #[cfg(not(unix))]
    {
        let _ = probe;
        Ok(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_is_reported_for_missing_folders() {
        let dir = tempfile::tempdir().unwrap();
        let n = free_space(&dir.path().join("not/yet/there")).unwrap();
        assert!(n > 0);
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let mut c = HubConfig::from_env();
        c.token = Some("hf_secret_value".into());
        let s = format!("{c:?}");
        assert!(
            !s.contains("hf_secret_value") && s.contains("<redacted>"),
            "{s}"
        );
    }

    #[test]
    fn truthy_values_follow_huggingface_hub() {
        for v in ["1", "true", "ON", "yes"] {
            assert!(is_truthy(v));
        }
        for v in ["0", "false", "off", ""] {
            assert!(!is_truthy(v));
        }
    }
}
