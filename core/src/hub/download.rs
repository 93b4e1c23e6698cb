//! The transfer itself: requests with cancellation at every await, classification of
//! failures into "retry" and "stop", and the per-file loop that resumes `.incomplete`
//! blobs with Range, hashes as it writes, and only renames a blob into place once its
//! size and sha256 are right.

use std::future::Future;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::cache::{BlobLock, RepoCache};
use super::progress::{DownloadProgress, RateMeter};
use super::{DISK_MARGIN, Hub, RepoFile, RepoInfo, RetryPolicy};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// Prefix of the reason of a [`Error::Download`] whose cause is that the endpoint could
/// not be reached at all (so a cached snapshot may stand in).
pub(crate) const UNREACHABLE: &str = "the Hub cannot be reached";

/// An attempt moving at least this much resets the retry count.
const PROGRESS_RESETS_RETRIES: u64 = 1 << 20;

/// How a request failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth another attempt (network trouble, 5xx, 429, a short or corrupt body).
    Transient(String),
    /// Final: typed (401, 404, cancelled, disk) or not worth repeating.
    Fatal(Error),
}

impl Failure {
    pub(crate) fn into_error(self, repo: &str, file: &str) -> Error {
        match self {
            Failure::Transient(reason) => Error::Download {
                repo: repo.into(),
                file: file.into(),
                reason,
            },
            Failure::Fatal(e) => e,
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Fatal(e)
    }
}

/// Resolves when `token` is cancelled (checked every 20 ms: `CancelToken` is a flag).
async fn sleep_or_cancel(d: Duration, cancel: &CancelToken) -> Result<()> {
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = cancel.cancelled() => Err(Error::Cancelled),
    }
}

fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    policy
        .initial_backoff
        .saturating_mul(1 << attempt.min(16))
        .min(policy.max_backoff)
}

/// Run `f`, retrying transient failures per `policy`.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    cancel: &CancelToken,
    mut f: F,
) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Err(Failure::Transient(_)) if attempt < policy.max_retries => {
                sleep_or_cancel(backoff(policy, attempt), cancel).await?;
                attempt += 1;
            }
            r => return r,
        }
    }
}

fn classify(e: reqwest::Error) -> Failure {
    // The URL never carries the token (it travels in a header), so it may be shown.
    let e = e.without_url();
    if e.is_connect() {
        Failure::Transient(format!("{UNREACHABLE}: {e}"))
    } else if e.is_timeout() || e.is_request() || e.is_body() || e.is_decode() {
        Failure::Transient(format!("{e}"))
    } else {
        Failure::Fatal(Error::Download {
            repo: String::new(),
            file: String::new(),
            reason: e.to_string(),
        })
    }
}

/// Send, unless cancelled first.
pub(crate) async fn send(
    req: reqwest::RequestBuilder,
    cancel: &CancelToken,
) -> Result<reqwest::Response, Failure> {
    tokio::select! {
        r = req.send() => r.map_err(classify),
        _ = cancel.cancelled() => Err(Failure::Fatal(Error::Cancelled)),
    }
}

/// Map an unsuccessful status to a failure, the way huggingface_hub reads the Hub's
/// `X-Error-Code` header.
pub(crate) fn check_status(
    resp: &reqwest::Response,
    repo: &str,
    file: &str,
) -> Result<(), Failure> {
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let code = resp
        .headers()
        .get("x-error-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let not_found = || {
        Failure::Fatal(Error::NotFound {
            repo: repo.into(),
            file: file.into(),
        })
    };
    Err(match (status.as_u16(), code) {
        (_, "RepoNotFound" | "RevisionNotFound") => Failure::Fatal(Error::NotFound {
            repo: repo.into(),
            file: String::new(),
        }),
        (_, "EntryNotFound") | (404, _) => not_found(),
        (_, "GatedRepo") | (401 | 403, _) => {
            Failure::Fatal(Error::Unauthorized { repo: repo.into() })
        }
        (408 | 429, _) | (500..=599, _) => Failure::Transient(format!("HTTP {status}")),
        _ => Failure::Fatal(Error::Download {
            repo: repo.into(),
            file: file.into(),
            reason: format!("HTTP {status}"),
        }),
    })
}

/// The whole body, unless cancelled first.
/// The whole body of a small reply, refused past `limit` bytes (a server that never
/// stops sending must not fill memory).
pub(crate) async fn read_body(
    mut resp: reqwest::Response,
    repo: &str,
    limit: usize,
    cancel: &CancelToken,
) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    loop {
        let chunk = tokio::select! {
            c = resp.chunk() => c.map_err(classify)?,
            _ = cancel.cancelled() => return Err(Failure::Fatal(Error::Cancelled)),
        };
        match chunk {
            Some(c) if body.len() + c.len() > limit => {
                return Err(Failure::Fatal(Error::Download {
                    repo: repo.into(),
                    file: String::new(),
                    reason: format!("the Hub's reply is larger than {limit} bytes"),
                }));
            }
            Some(c) => body.extend_from_slice(&c),
            None => return Ok(body),
        }
    }
}

/// Percent-encode a repository path for a URL, keeping `/` (as `quote(path)` does).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

/// A sha256 of the bytes of a partial file, kept in step with its length.
#[derive(Clone, Default)]
struct PartHash {
    sha: Sha256,
    len: u64,
}

impl PartHash {
    /// Hash the first `len` bytes of `path` (on a blocking thread: it may be gigabytes).
    async fn of_prefix(path: PathBuf, len: u64) -> Result<Self> {
        tokio::task::spawn_blocking(move || {
            let mut h = PartHash::default();
            let file = std::fs::File::open(&path).map_err(io_err(&path))?;
            let mut reader = io::BufReader::with_capacity(1 << 20, file).take(len);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = reader.read(&mut buf).map_err(io_err(&path))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            Ok(h)
        })
        .await
        .map_err(|e| Error::Internal {
            what: "hashing a partial download".into(),
            reason: e.to_string(),
        })?
    }

    fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.len += bytes.len() as u64;
    }

    fn hex(&self) -> String {
        self.sha
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// One download of a set of files of one commit.
pub(crate) struct Transfer<'a> {
    hub: &'a Hub,
    info: &'a RepoInfo,
    revision: &'a str,
    files: Vec<RepoFile>,
    repo: RepoCache,
    on_progress: &'a mut (dyn FnMut(&DownloadProgress) + Send),
    cancel: &'a CancelToken,
    done: u64,
    total: u64,
    meter: RateMeter,
    last_report: Option<Instant>,
}

impl<'a> Transfer<'a> {
    pub(crate) fn new(
        hub: &'a Hub,
        info: &'a RepoInfo,
        revision: &'a str,
        files: Vec<RepoFile>,
        on_progress: &'a mut (dyn FnMut(&DownloadProgress) + Send),
        cancel: &'a CancelToken,
    ) -> Self {
        Self {
            repo: hub.cache().repo(&info.repo),
            total: files.iter().map(|f| f.size).sum(),
            hub,
            info,
            revision,
            files,
            on_progress,
            cancel,
            done: 0,
            meter: RateMeter::new(Duration::from_secs(3)),
            last_report: None,
        }
    }

    fn blob_complete(&self, f: &RepoFile) -> bool {
        std::fs::metadata(self.repo.blob_path(&f.etag))
            .is_ok_and(|m| m.is_file() && m.len() == f.size)
    }

    /// Download every missing blob, then link the snapshot and write the ref: the last
    /// step, so a snapshot never looks complete before all its files are.
    pub(crate) async fn run(mut self) -> Result<()> {
        let needed: u64 = self
            .files
            .iter()
            .filter(|f| !self.blob_complete(f))
            .map(|f| {
                f.size
                    .saturating_sub(file_len(&self.repo.incomplete_path(&f.etag)))
            })
            .sum();
        if needed > 0 {
            let root = self.hub.cache().root();
            let available = self.hub.free_space(root).map_err(io_err(root))?;
            if available < needed + DISK_MARGIN {
                return Err(Error::InsufficientDisk {
                    needed: needed + DISK_MARGIN,
                    available,
                });
            }
        }
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let files = std::mem::take(&mut self.files);
        let count = files.len();
        for (i, f) in files.iter().enumerate() {
            self.fetch(i, count, f).await?;
            self.done += f.size;
        }
        let commit = &self.info.commit;
        for f in &files {
            self.repo
                .link(commit, &f.path, &f.etag)
                .map_err(io_err(&self.repo.snapshot_dir(commit)))?;
        }
        self.repo
            .write_ref(self.revision, commit)
            .map_err(io_err(&self.repo.ref_path(self.revision)))
    }

    fn report(&mut self, index: usize, count: usize, f: &RepoFile, file_bytes: u64, force: bool) {
        let now = Instant::now();
        if !force
            && self
                .last_report
                .is_some_and(|t| now.duration_since(t) < self.hub.config().progress_interval)
        {
            return;
        }
        self.last_report = Some(now);
        let p = DownloadProgress {
            repo: self.info.repo.clone(),
            file: f.path.clone(),
            file_index: index,
            file_count: count,
            file_bytes,
            file_total: f.size,
            bytes: self.done + file_bytes,
            total: self.total,
            bytes_per_sec: self.meter.bytes_per_sec(),
        };
        (self.on_progress)(&p);
    }

    async fn fetch(&mut self, index: usize, count: usize, f: &RepoFile) -> Result<()> {
        if self.blob_complete(f) {
            self.report(index, count, f, f.size, true);
            return Ok(());
        }
        let _lock = lock_blob(&self.repo, &f.etag, self.cancel).await?;
        // Another process may have finished it while we waited.
        if self.blob_complete(f) {
            self.report(index, count, f, f.size, true);
            return Ok(());
        }
        let blobs = self.repo.dir().join("blobs");
        std::fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        let part = self.repo.incomplete_path(&f.etag);
        let mut hash = PartHash::default();
        let mut attempt = 0u32;
        let mut reported = false;
        loop {
            let mut have = file_len(&part);
            if have > f.size {
                truncate(&part)?;
                have = 0;
            }
            if f.sha256.is_some() && hash.len != have {
                hash = if have == 0 {
                    PartHash::default()
                } else {
                    PartHash::of_prefix(part.clone(), have).await?
                };
            }
            if !reported {
                self.report(index, count, f, have, true);
                reported = true;
            }
            let outcome = if have < f.size {
                self.transfer_once(index, count, f, &part, have, &mut hash)
                    .await
            } else {
                Ok(())
            };
            let outcome = outcome.and_then(|()| self.verify(f, &part, &hash));
            match outcome {
                Ok(()) => break,
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient(reason)) => {
                    if file_len(&part).saturating_sub(have) >= PROGRESS_RESETS_RETRIES {
                        attempt = 0;
                    }
                    if attempt >= self.hub.config().retry.max_retries {
                        return Err(Error::Download {
                            repo: self.info.repo.clone(),
                            file: f.path.clone(),
                            reason,
                        });
                    }
                    sleep_or_cancel(backoff(&self.hub.config().retry, attempt), self.cancel)
                        .await?;
                    attempt += 1;
                }
            }
        }
        let blob = self.repo.blob_path(&f.etag);
        std::fs::rename(&part, &blob).map_err(io_err(&blob))?;
        self.report(index, count, f, f.size, true);
        Ok(())
    }

    /// Size, then sha256 for LFS files. A mismatch deletes the partial file and counts
    /// as transient: the next attempt starts over.
    fn verify(&self, f: &RepoFile, part: &Path, hash: &PartHash) -> Result<(), Failure> {
        let len = file_len(part);
        if len != f.size {
            truncate(part)?;
            return Err(Failure::Transient(format!(
                "size mismatch: {len} bytes, the Hub says {}",
                f.size
            )));
        }
        if let Some(expected) = &f.sha256 {
            let got = hash.hex();
            if !got.eq_ignore_ascii_case(expected) {
                truncate(part)?;
                return Err(Failure::Transient(format!(
                    "sha256 mismatch: got {got}, the Hub says {expected}"
                )));
            }
        }
        Ok(())
    }

    /// One GET of the rest of `f` into `part`, appending from `have`.
    async fn transfer_once(
        &mut self,
        index: usize,
        count: usize,
        f: &RepoFile,
        part: &Path,
        have: u64,
        hash: &mut PartHash,
    ) -> Result<(), Failure> {
        let config = self.hub.config();
        let url = format!(
            "{}/{}/resolve/{}/{}",
            config.endpoint,
            self.info.repo,
            self.info.commit,
            encode_path(&f.path)
        );
        let mut req = self.hub.request(&url, reqwest::Method::GET);
        if have > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let mut resp = send(req, self.cancel).await?;
        let status = resp.status();
        if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
            truncate(part)?;
            return Err(Failure::Transient(
                "the server refused to resume; starting over".into(),
            ));
        }
        check_status(&resp, &self.info.repo, &f.path)?;
        let mut offset = have;
        if have > 0 && status == reqwest::StatusCode::PARTIAL_CONTENT {
            let start = resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok());
            if start != Some(have) {
                truncate(part)?;
                return Err(Failure::Transient(
                    "the server resumed at the wrong offset; starting over".into(),
                ));
            }
        } else {
            // A full body (the server ignored Range, or there was nothing to resume).
            offset = 0;
        }
        let file = if offset == 0 {
            *hash = PartHash::default();
            std::fs::File::create(part)
        } else {
            std::fs::OpenOptions::new().append(true).open(part)
        }
        .map_err(io_err(part))?;
        let mut out = io::BufWriter::with_capacity(1 << 20, file);
        let streamed: Result<(), Failure> = async {
            loop {
                let chunk = tokio::select! {
                    c = resp.chunk() => c.map_err(classify)?,
                    _ = self.cancel.cancelled() => return Err(Failure::Fatal(Error::Cancelled)),
                };
                let Some(chunk) = chunk else { return Ok(()) };
                if offset + chunk.len() as u64 > f.size {
                    return Err(Failure::Transient(format!(
                        "the server sent more than the {} bytes listed",
                        f.size
                    )));
                }
                out.write_all(&chunk).map_err(io_err(part))?;
                hash.update(&chunk);
                offset += chunk.len() as u64;
                self.meter.add(chunk.len() as u64);
                self.report(index, count, f, offset, false);
            }
        }
        .await;
        // Whatever happened, what was received stays on disk, in step with the hash, so
        // the next attempt (or the next download) resumes from it.
        out.flush().map_err(io_err(part))?;
        streamed?;
        if offset < f.size {
            return Err(Failure::Transient(format!(
                "the connection closed after {offset} of {} bytes",
                f.size
            )));
        }
        Ok(())
    }
}

/// The blob's lock, waiting (cancellably) while another task or process holds it. A free
/// function: a future borrowing the whole `Transfer` would not be `Send`.
async fn lock_blob(repo: &RepoCache, etag: &str, cancel: &CancelToken) -> Result<BlobLock> {
    loop {
        let path = repo.lock_path(etag);
        match repo.try_lock(etag).map_err(io_err(&path))? {
            Some(lock) => return Ok(lock),
            None => sleep_or_cancel(Duration::from_millis(100), cancel).await?,
        }
    }
}

fn truncate(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_like_huggingface_hub() {
        assert_eq!(
            encode_path("sub/model 1.safetensors"),
            "sub/model%201.safetensors"
        );
        assert_eq!(encode_path("a+b#c?.json"), "a%2Bb%23c%3F.json");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        let b: Vec<u64> = (0..4).map(|a| backoff(&p, a).as_millis() as u64).collect();
        assert_eq!(b, [100, 200, 350, 350]);
    }
}
