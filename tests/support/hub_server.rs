//! A Hugging Face Hub look-alike on 127.0.0.1 for download tests: the two routes a model
//! download uses, from fixture files held in memory, with knobs to inject the failures
//! a real network has.
//!
//! - `GET /api/models/{org}/{name}/revision/{rev}` → `{"sha": commit, "siblings": [...]}`
//!   with `rfilename`, `size`, `blobId` and, for LFS files, `lfs: {sha256, size}` (the
//!   Hub's `?blobs=true` reply).
//! - `GET /api/models/{org}/{name}/tree/{rev}` → the same files as a tree listing
//!   (`type`, `path`, `size`, `oid`, `lfs: {oid, size}`), which newer Python
//!   huggingface_hub versions read instead.
//! - `GET|HEAD /{org}/{name}/resolve/{rev}/{path}` → the bytes, honouring
//!   `Range: bytes=N-`, with `ETag`, `X-Repo-Commit`, and for LFS files
//!   `X-Linked-Etag`/`X-Linked-Size`, as the Hub sends them.
//!
//! Gated repositories answer 401 (`X-Error-Code: GatedRepo`) unless the request carries
//! the right `Authorization: Bearer`; unknown repositories and files answer 404 with the
//! Hub's error codes. Every request is logged for assertions.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};

type Body = BoxBody<Bytes, std::io::Error>;

/// One file of a fixture repository.
#[derive(Debug, Clone)]
pub struct FixtureFile {
    pub path: String,
    pub bytes: Bytes,
    /// Served as an LFS file (sha256 etag, `X-Linked-*` headers).
    pub lfs: bool,
    pub sha256: String,
    /// The git blob id the Hub lists (here: derived from the content, 40 hex digits).
    pub blob_id: String,
}

impl FixtureFile {
    /// `lfs` as the Hub decides it for model repositories: weights are LFS, small text
    /// files are not.
    pub fn new(path: &str, bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let sha256 = hex(&Sha256::digest(&bytes));
        let lfs = [".safetensors", ".gguf", ".npz", ".bin"]
            .iter()
            .any(|e| path.ends_with(e))
            || bytes.len() > 10 << 20;
        let mut blob = Sha256::new();
        blob.update(format!("blob {}\0", bytes.len()));
        blob.update(&bytes);
        Self {
            path: path.into(),
            lfs,
            blob_id: hex(&blob.finalize())[..40].to_string(),
            sha256,
            bytes,
        }
    }

    /// The blob name huggingface_hub gives it in the cache.
    pub fn etag(&self) -> &str {
        if self.lfs {
            &self.sha256
        } else {
            &self.blob_id
        }
    }
}

/// A repository at one commit.
#[derive(Debug, Clone)]
pub struct FixtureRepo {
    pub id: String,
    pub commit: String,
    pub files: Vec<FixtureFile>,
}

impl FixtureRepo {
    pub fn file(&self, path: &str) -> &FixtureFile {
        self.files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("{path} not in {}", self.id))
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes.len() as u64).sum()
    }
}

/// A failure to inject into the next matching requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (e.g. 503) instead of the file.
    Status(u16),
    /// Send the headers of the full answer, then this many body bytes, then drop the
    /// connection.
    DropAfter(u64),
}

/// What the server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLog {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    repos: HashMap<String, FixtureRepo>,
    gated: HashMap<String, String>,
    faults: Vec<(String, Fault, usize)>,
    chunk: usize,
    chunk_delay: Duration,
    log: Vec<RequestLog>,
}

/// The running server; stops when dropped.
pub struct HubServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl HubServer {
    /// Start on an ephemeral loopback port, on a runtime of its own (so it keeps serving
    /// whatever the test's runtime is doing).
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            chunk: 64 << 10,
            ..State::default()
        }));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown, mut stop) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1");
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (stream, _) = tokio::select! {
                        r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
                        _ = &mut stop => return,
                    };
                    let st = st.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req| handle(st.clone(), req));
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server started");
        Self {
            addr,
            state,
            _shutdown: shutdown,
        }
    }

    /// `http://127.0.0.1:PORT`, for `HF_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serve `files` as repository `id`. The commit hash is derived from the content.
    pub fn add_repo(&self, id: &str, files: Vec<FixtureFile>) -> FixtureRepo {
        let mut h = Sha256::new();
        h.update(id);
        for f in &files {
            h.update(&f.path);
            h.update(&f.sha256);
        }
        let repo = FixtureRepo {
            id: id.into(),
            commit: hex(&h.finalize())[..40].to_string(),
            files,
        };
        self.state
            .lock()
            .unwrap()
            .repos
            .insert(id.into(), repo.clone());
        repo
    }

    /// Serve the files of a folder (plus `extra` files from elsewhere) as repository `id`.
    pub fn add_repo_from_dir(&self, id: &str, dir: &Path, extra: &[(&str, &Path)]) -> FixtureRepo {
        let mut files = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("fixture folder")
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            if e.path().is_file() {
                let name = e.file_name().to_string_lossy().to_string();
                files.push(FixtureFile::new(&name, std::fs::read(e.path()).unwrap()));
            }
        }
        for (name, path) in extra {
            files.push(FixtureFile::new(name, std::fs::read(path).unwrap()));
        }
        self.add_repo(id, files)
    }

    /// Require `Authorization: Bearer {token}` for repository `id`.
    pub fn gate(&self, id: &str, token: &str) {
        self.state
            .lock()
            .unwrap()
            .gated
            .insert(id.into(), token.into());
    }

    /// Apply `fault` to the next `times` requests (file downloads, or repository info for
    /// `Fault::Status`) whose path contains `path_part`.
    pub fn inject(&self, path_part: &str, fault: Fault, times: usize) {
        self.state
            .lock()
            .unwrap()
            .faults
            .push((path_part.into(), fault, times));
    }

    /// Send file bodies in chunks of `chunk` bytes with `delay` between them (slow
    /// network), so a test can act in the middle of a file.
    pub fn throttle(&self, chunk: usize, delay: Duration) {
        let mut s = self.state.lock().unwrap();
        s.chunk = chunk.max(1);
        s.chunk_delay = delay;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RequestLog> {
        self.state.lock().unwrap().log.clone()
    }

    /// File requests (`/resolve/`) so far.
    pub fn file_requests(&self) -> Vec<RequestLog> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.contains("/resolve/"))
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|e: Infallible| match e {})
        .boxed()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("x-error-code", code)
        .header("content-type", "application/json")
        .body(full(format!(r#"{{"error":"{message}"}}"#)))
        .unwrap()
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (range, authorization) = (header("range"), header("authorization"));
    let resp = route(
        &state,
        req.method(),
        &path,
        range.as_deref(),
        authorization.as_deref(),
    );
    state.lock().unwrap().log.push(RequestLog {
        method: req.method().to_string(),
        path,
        range,
        authorization,
        status: resp.status().as_u16(),
    });
    Ok(resp)
}

fn route(
    state: &Arc<Mutex<State>>,
    method: &Method,
    path: &str,
    range: Option<&str>,
    auth: Option<&str>,
) -> Response<Body> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // /api/models/{org}/{name}/revision/{rev}
    if parts.len() >= 6 && parts[0] == "api" && parts[1] == "models" && parts[4] == "revision" {
        let id = format!("{}/{}", parts[2], parts[3]);
        let mut s = state.lock().unwrap();
        if let Some(Fault::Status(code)) = take_fault(&mut s, path) {
            return error(StatusCode::from_u16(code).unwrap(), "", "injected failure");
        }
        let repo = match lookup(&s, &id, auth) {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let rev = parts[5..].join("/");
        if rev != "main" && rev != repo.commit {
            return error(StatusCode::NOT_FOUND, "RevisionNotFound", "Invalid rev id");
        }
        let siblings: Vec<serde_json::Value> = repo
            .files
            .iter()
            .map(|f| {
                let mut v = serde_json::json!({
                    "rfilename": f.path,
                    "size": f.bytes.len(),
                    "blobId": f.blob_id,
                });
                if f.lfs {
                    v["lfs"] = serde_json::json!({"sha256": f.sha256, "size": f.bytes.len(), "pointerSize": 134});
                }
                v
            })
            .collect();
        let body =
            serde_json::json!({"id": id, "modelId": id, "sha": repo.commit, "siblings": siblings});
        return Response::builder()
            .header("content-type", "application/json")
            .body(full(body.to_string()))
            .unwrap();
    }
    // /api/models/{org}/{name}/tree/{rev}?recursive=true: the listing newer huggingface_hub
    // versions read (one page).
    if parts.len() >= 6 && parts[0] == "api" && parts[1] == "models" && parts[4] == "tree" {
        let id = format!("{}/{}", parts[2], parts[3]);
        let s = state.lock().unwrap();
        let repo = match lookup(&s, &id, auth) {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        if parts[5] != "main" && parts[5] != repo.commit {
            return error(StatusCode::NOT_FOUND, "RevisionNotFound", "Invalid rev id");
        }
        let entries: Vec<serde_json::Value> = repo
            .files
            .iter()
            .map(|f| {
                let mut v = serde_json::json!({"type": "file", "oid": f.blob_id, "size": f.bytes.len(), "path": f.path});
                if f.lfs {
                    v["lfs"] = serde_json::json!({"oid": f.sha256, "size": f.bytes.len(), "pointerSize": 134});
                }
                v
            })
            .collect();
        return Response::builder()
            .header("content-type", "application/json")
            .body(full(serde_json::Value::Array(entries).to_string()))
            .unwrap();
    }
    // /{org}/{name}/resolve/{rev}/{path...}
    if parts.len() >= 5 && parts[2] == "resolve" {
        let id = format!("{}/{}", parts[0], parts[1]);
        let mut s = state.lock().unwrap();
        let repo = match lookup(&s, &id, auth) {
            Ok(r) => r.clone(),
            Err(resp) => return resp,
        };
        if parts[3] != "main" && parts[3] != repo.commit {
            return error(StatusCode::NOT_FOUND, "RevisionNotFound", "Invalid rev id");
        }
        let file_path = percent_decode(&parts[4..].join("/"));
        let Some(file) = repo.files.iter().find(|f| f.path == file_path).cloned() else {
            return error(StatusCode::NOT_FOUND, "EntryNotFound", "Entry not found");
        };
        let fault = take_fault(&mut s, path);
        if let Some(Fault::Status(code)) = fault {
            return error(StatusCode::from_u16(code).unwrap(), "", "injected failure");
        }
        let (chunk, delay) = (s.chunk, s.chunk_delay);
        drop(s);
        let len = file.bytes.len() as u64;
        let start = range
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split('-').next())
            .and_then(|n| n.parse::<u64>().ok());
        let mut builder = Response::builder()
            .header(
                "etag",
                format!(
                    "\"{}\"",
                    if file.lfs {
                        &file.sha256
                    } else {
                        &file.blob_id
                    }
                ),
            )
            .header("x-repo-commit", &repo.commit)
            .header("accept-ranges", "bytes")
            .header("content-type", "application/octet-stream");
        if file.lfs {
            builder = builder
                .header("x-linked-etag", format!("\"{}\"", file.sha256))
                .header("x-linked-size", len.to_string());
        }
        let start = match start {
            Some(s) if s >= len => {
                return Response::builder()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header("content-range", format!("bytes */{len}"))
                    .body(full(Bytes::new()))
                    .unwrap();
            }
            Some(s) => {
                builder = builder
                    .status(StatusCode::PARTIAL_CONTENT)
                    .header("content-range", format!("bytes {s}-{}/{len}", len - 1));
                s
            }
            None => 0,
        };
        let body = file.bytes.slice(start as usize..);
        builder = builder.header("content-length", body.len().to_string());
        if method == Method::HEAD {
            return builder.body(full(Bytes::new())).unwrap();
        }
        let drop_after = match fault {
            Some(Fault::DropAfter(n)) => Some(n as usize),
            _ => None,
        };
        if drop_after.is_none() && delay.is_zero() {
            return builder.body(full(body)).unwrap();
        }
        let (mut tx, rx) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(2);
        tokio::spawn(async move {
            let end = drop_after.unwrap_or(body.len()).min(body.len());
            let mut at = 0;
            while at < end {
                let next = (at + chunk).min(end);
                if tx.send(Frame::data(body.slice(at..next))).await.is_err() {
                    return;
                }
                at = next;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
            if drop_after.is_some() {
                // Abort: hyper closes the connection with the body short of its length.
                tx.abort(std::io::Error::other("injected connection drop"));
            }
        });
        builder.body(rx.boxed()).unwrap()
    } else {
        error(StatusCode::NOT_FOUND, "", "no such route")
    }
}

/// The next injected fault for `path`, counting it down.
fn take_fault(s: &mut State, path: &str) -> Option<Fault> {
    let i = s
        .faults
        .iter()
        .position(|(p, _, n)| *n > 0 && path.contains(p.as_str()))?;
    s.faults[i].2 -= 1;
    Some(s.faults[i].1.clone())
}

/// The repository, or the Hub's 401/404 answer.
#[allow(clippy::result_large_err)]
fn lookup<'a>(
    s: &'a State,
    id: &str,
    auth: Option<&str>,
) -> Result<&'a FixtureRepo, Response<Body>> {
    let Some(repo) = s.repos.get(id) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "RepoNotFound",
            "Repository not found",
        ));
    };
    if let Some(token) = s.gated.get(id)
        && auth != Some(format!("Bearer {token}").as_str())
    {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "GatedRepo",
            "Access to this model is restricted; you must be authenticated",
        ));
    }
    Ok(repo)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
