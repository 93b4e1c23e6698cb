//! `murmur serve`: the engine as a small local daemon that keeps a model warm between
//! short-lived clients (Raycast commands, scripts) and unloads it when idle.
//!
//! Transport: HTTP/1.1 with JSON bodies on a Unix socket in a private folder (the
//! folder 0700, the socket 0600: only this user can connect). With `--tcp` it also
//! listens on loopback TCP, where every `/v1` call needs the random bearer token written
//! to a 0600 file; `--sidecar` adds the Python sidecar's routes there (`GET /status`,
//! `POST /load`, `POST /generate`, `POST /unload`, bodies as the Python mlx-lm sidecar defined them).
//! Long calls stream newline-delimited JSON; a client that disconnects cancels its call.
//! Live transcription is a WebSocket (`GET /v1/live`, `live.rs`): audio in, text out.
//!
//! Mapping only: every decision (queueing, loading, idle unload, busy refusals) is the
//! engine's. See `api.rs` for the routes (dictation in `dictate.rs`, live transcription
//! in `live.rs`, the vocabulary in `vocab.rs`, OpenAI's API in `openai/`).

mod api;
mod audio;
mod dictate;
mod error;
mod listen;
mod live;
mod openai;
pub mod requests;
mod sidecar;
mod stream;
mod vocab;

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use clap::Args;
use futures_util::StreamExt;
use murmur_core::catalog::Capability;
use murmur_core::{Engine, EngineConfig, Error, Result};
use serde::de::DeserializeOwned;
use tokio::sync::{Semaphore, watch};

pub use error::ApiError;
use listen::ConnLimits;

#[derive(Args)]
pub struct ServeArgs {
    /// The Unix socket to listen on. Default: $MURMUR_SOCKET, else `murmur.sock` in
    /// `~/Library/Caches/Murmur/serve` (macOS) or `$XDG_RUNTIME_DIR/murmur` (else
    /// `~/.cache/murmur/serve`). Its folder must be private to this user (0700).
    #[arg(long, env = "MURMUR_SOCKET")]
    socket: Option<PathBuf>,
    /// Also listen on loopback TCP (default 127.0.0.1 on a free port). Every `/v1`
    /// call there needs `Authorization: Bearer <token>`, the token being in --token-file.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:0")]
    tcp: Option<SocketAddr>,
    /// Where to write the TCP bearer token (mode 0600). Default: `murmur.token` beside
    /// the socket.
    #[arg(long, requires = "tcp")]
    token_file: Option<PathBuf>,
    /// On the TCP listener, also answer the Python sidecar's protocol (GET /status,
    /// POST /load, POST /generate, POST /unload) for apps built for it. Those routes
    /// take no token, as the sidecar's never did.
    #[arg(long, requires = "tcp")]
    sidecar: bool,
    /// Unload the model after this many minutes unused (0: never; at most 525600, a
    /// year). Default: $MURMUR_IDLE_UNLOAD_SECS, else 5 minutes.
    #[arg(long, env = "MURMUR_IDLE_UNLOAD_MINUTES", value_name = "MINUTES")]
    idle_unload_minutes: Option<String>,
    /// The text model used when a call names none: a model id or alias, a repository id
    /// (added as `murmur models add` would) or a model file or folder. Checked at start.
    /// Default: $MURMUR_DEFAULT_MODEL, else the engine's rule (the loaded model, one on
    /// disk, else the one recommended for this machine's memory).
    #[arg(long)]
    default_model: Option<String>,
    /// Largest JSON request body, in bytes (larger: 413).
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Largest uploaded audio file, in bytes (larger: 413).
    #[arg(long, default_value_t = 512 << 20)]
    max_upload_bytes: usize,
    /// Close a connection whose request head has not arrived within this many seconds
    /// (of connecting, or of its previous response: an idle keep-alive connection).
    #[arg(long, default_value = "10", value_name = "SECS", value_parser = parse_secs)]
    header_timeout_secs: Duration,
    /// Answer 408 when a request body stalls this many seconds between two pieces.
    #[arg(long, default_value = "30", value_name = "SECS", value_parser = parse_secs)]
    body_timeout_secs: Duration,
    /// Connections open at once on each listener (socket, TCP); one more is answered
    /// 503 and closed, leaving the other listener and the open connections alone.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65536))]
    max_connections: u32,
    /// Live transcriptions (`GET /v1/live`) at once; one more is refused with 503. Each
    /// holds its audio (up to the memory tier's longest dictation) and shares the models
    /// with every other call.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    max_live_sessions: u32,
}

/// A timeout in seconds: a number above 0 and at most an hour (fractions allowed, so
/// tests can use short ones).
fn parse_secs(s: &str) -> std::result::Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 3600.0) {
        return Err(format!(
            "{s} is out of range: give seconds above 0, at most 3600"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// What every handler shares.
pub struct AppState {
    pub engine: Engine,
    pub limits: Limits,
    pub started: Instant,
    pub socket: PathBuf,
    pub tcp: Option<SocketAddr>,
    /// The sidecar protocol's last `POST /load`: (model id, `model_path` as given).
    pub sidecar_model: Mutex<Option<(String, String)>>,
    /// A permit per live session (`--max-live-sessions`): a WebSocket leaves the
    /// connection cap once upgraded, so sessions are counted here.
    pub live_sessions: Arc<Semaphore>,
    shutdown: watch::Sender<bool>,
}

impl AppState {
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

#[derive(Clone, Copy)]
pub struct Limits {
    pub body: usize,
    pub upload: usize,
    /// The longest pause between two pieces of a request body ([`body_bytes`]), and
    /// between two messages of a live session's client.
    pub body_timeout: Duration,
    /// Live sessions at once (`--max-live-sessions`).
    pub live_sessions: usize,
}

type Shared = Arc<AppState>;

/// The default socket: in a folder of its own, private to this user.
pub fn default_socket_path() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let home = var("HOME").unwrap_or_default();
    let dir = if cfg!(target_vendor = "apple") {
        home.join("Library/Caches/Murmur/serve")
    } else if let Some(runtime) = var("XDG_RUNTIME_DIR") {
        runtime.join("murmur")
    } else {
        var("XDG_CACHE_HOME")
            .unwrap_or_else(|| home.join(".cache"))
            .join("murmur/serve")
    };
    dir.join("murmur.sock")
}

fn io_err(path: impl Into<PathBuf>, e: std::io::Error) -> Error {
    Error::Io {
        path: path.into(),
        source: e,
    }
}

fn invalid(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        name: name.into(),
        reason: reason.into(),
    }
}

/// Create `dir` (0700) or check that an existing one belongs to this user and nobody
/// else can enter it; a folder Murmur made for itself is tightened back to 0700.
fn private_dir(dir: &Path, ours: bool) -> Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err(dir, e))?;
        return Ok(());
    }
    let meta = std::fs::metadata(dir).map_err(|e| io_err(dir, e))?;
    // SAFETY: getuid cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    if !meta.is_dir() || meta.uid() != uid {
        return Err(invalid(
            "socket",
            format!("{} is not a folder owned by this user", dir.display()),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        if !ours {
            return Err(invalid(
                "socket",
                format!(
                    "{} can be entered by other users (mode {:o}); put the socket in a private (0700) folder",
                    dir.display(),
                    meta.mode() & 0o777
                ),
            ));
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err(dir, e))?;
    }
    Ok(())
}

/// Hold an exclusive lock beside the socket for the daemon's life, so two daemons never
/// fight over one socket (a second one exits at once). The holder removes the file as it
/// exits ([`Cleanup`]); a lock taken on a file removed meanwhile is retried on the new
/// one, so two daemons can never each hold a lock of their own.
fn lock(socket: &Path) -> Result<(PathBuf, File)> {
    let path = socket.with_extension("lock");
    // Each retry follows an exiting daemon's removal; a few are plenty (and a file
    // system whose inode numbers never match must not loop forever).
    for attempt in 0.. {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        // SAFETY: a plain flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(Error::Busy {
                model: "murmur serve".into(),
                state: format!("already running on {}", socket.display()),
            });
        }
        let held = file.metadata().map_err(|e| io_err(&path, e))?;
        let named = std::fs::metadata(&path).ok();
        if attempt >= 8 || named.is_some_and(|n| n.ino() == held.ino() && n.dev() == held.dev()) {
            return Ok((path, file));
        }
    }
    unreachable!("the loop returns")
}

/// The files a daemon creates beside its socket (the lock, the token, the socket),
/// removed when it stops: after a clean shutdown and on every start-up failure alike, so
/// that a daemon that could not start leaves nothing behind. The lock goes last, while
/// still held.
#[derive(Default)]
struct Cleanup {
    files: Vec<PathBuf>,
    lock: Option<(PathBuf, File)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in self.files.iter().rev() {
            let _ = std::fs::remove_file(path);
        }
        if let Some((path, file)) = self.lock.take() {
            let _ = std::fs::remove_file(path);
            drop(file);
        }
    }
}

/// 32 random bytes as hex.
fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| io_err("/dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Write `contents` to a fresh file only this user can read.
fn write_private(path: &Path, contents: &str) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err(path, e)),
        _ => {}
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    f.write_all(contents.as_bytes())
        .map_err(|e| io_err(path, e))
}

/// `murmur serve`.
pub fn run(args: ServeArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| io_err("<tokio runtime>", e))?;
    let result = rt.block_on(serve(args));
    // A generation still running was cancelled with its connection: give it a moment.
    rt.shutdown_timeout(Duration::from_secs(2));
    result
}

/// The engine's settings from the environment and the arguments, every one checked:
/// a daemon refuses at start what it would otherwise ignore or trip over later.
fn engine_config(args: &ServeArgs) -> Result<EngineConfig> {
    let mut config = EngineConfig::try_from_env()?;
    if let Some(minutes) = &args.idle_unload_minutes {
        config.idle_unload = idle_unload_minutes(minutes)?;
    }
    if args.default_model.is_some() {
        config.default_model = args.default_model.clone();
    }
    Ok(config)
}

/// `--idle-unload-minutes` (or `$MURMUR_IDLE_UNLOAD_MINUTES`): 0 is never.
fn idle_unload_minutes(given: &str) -> Result<Option<Duration>> {
    const NAME: &str = "--idle-unload-minutes ($MURMUR_IDLE_UNLOAD_MINUTES)";
    let max = EngineConfig::MAX_IDLE_UNLOAD.as_secs() / 60;
    let minutes = given
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|m| (0.0..=max as f64).contains(m))
        .ok_or_else(|| {
            invalid(
                NAME,
                format!(
                    "{given:?} is not a number of minutes from 0 (never unload) to {max} (a year)"
                ),
            )
        })?;
    EngineConfig::idle_unload_from_secs(NAME, minutes * 60.0)
}

/// Resolve the configured default models now, so that a daemon started with one it
/// cannot use says so and exits, rather than showing another default in its status and
/// answering 404 to the first call. A path or an unknown repository id is registered
/// as [`Engine::find_or_add`] does, so the status and every call see the same model.
fn check_defaults(engine: &Engine, args: &ServeArgs) -> Result<()> {
    let config = engine.config();
    let text_name = match args.default_model {
        Some(_) => "--default-model",
        None => "MURMUR_DEFAULT_MODEL",
    };
    let defaults = [
        (&config.default_model, Capability::Text, text_name),
        (
            &config.default_audio_model,
            Capability::Audio,
            "MURMUR_DEFAULT_AUDIO_MODEL",
        ),
    ];
    for (given, kind, name) in defaults {
        let Some(given) = given else { continue };
        let m = engine.find_or_add(given, kind).map_err(|e| match e {
            Error::UnknownModel { .. } => invalid(
                name,
                format!(
                    "{given:?} is not a model: give a model id or alias (`murmur models`), a repository id like org/name, or a model file or folder"
                ),
            ),
            Error::InvalidArgument { reason, .. } => invalid(name, format!("{given:?}: {reason}")),
            other => other,
        })?;
        if m.kind() != kind {
            let what = match kind {
                Capability::Text => "a speech model; the default for refining must be a text model",
                Capability::Audio => {
                    "a text model; the default for transcribing must be a speech model"
                }
            };
            return Err(invalid(name, format!("{given:?} is {what}")));
        }
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<()> {
    // Everything that can be refused without touching the disk, first.
    let config = engine_config(&args)?;
    if let Some(addr) = args.tcp
        && !addr.ip().is_loopback()
    {
        return Err(invalid(
            "tcp",
            format!("{addr} is not a loopback address; murmur serve only listens on this machine"),
        ));
    }
    listen::raise_fd_limit();
    let ours = args.socket.is_none();
    let socket = args.socket.clone().unwrap_or_else(default_socket_path);
    let dir = socket
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    private_dir(&dir, ours)?;
    let mut files = Cleanup::default();
    files.lock = Some(lock(&socket)?);
    let engine = Engine::new(config)?;
    check_defaults(&engine, &args)?;

    // TCP before the socket: a port already taken fails before a client could find a
    // socket that no daemon will answer.
    let mut tcp = None;
    let mut token_file = None;
    if let Some(addr) = args.tcp {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| io_err(addr.to_string(), e))?;
        let token = random_token()?;
        let path = args
            .token_file
            .clone()
            .unwrap_or_else(|| dir.join("murmur.token"));
        write_private(&path, &token)?;
        files.files.push(path.clone());
        token_file = Some(path);
        tcp = Some((listener, token));
    }
    // We hold the lock, so a socket file left here is a dead daemon's.
    if let Ok(meta) = std::fs::symlink_metadata(&socket) {
        if !meta.file_type().is_socket() {
            return Err(invalid(
                "socket",
                format!("{} exists and is not a socket", socket.display()),
            ));
        }
        std::fs::remove_file(&socket).map_err(|e| io_err(&socket, e))?;
    }
    let unix = tokio::net::UnixListener::bind(&socket).map_err(|e| io_err(&socket, e))?;
    files.files.push(socket.clone());
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io_err(&socket, e))?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let tcp_addr = match &tcp {
        Some((l, _)) => Some(l.local_addr().map_err(|e| io_err("tcp", e))?),
        None => None,
    };
    let conn_limits = ConnLimits {
        header_timeout: args.header_timeout_secs,
        body_timeout: args.body_timeout_secs,
        max_connections: args.max_connections as usize,
    };
    let state = Arc::new(AppState {
        engine,
        limits: Limits {
            body: args.max_body_bytes,
            upload: args.max_upload_bytes,
            body_timeout: conn_limits.body_timeout,
            live_sessions: args.max_live_sessions as usize,
        },
        started: Instant::now(),
        socket: socket.clone(),
        tcp: tcp_addr,
        sidecar_model: Mutex::new(None),
        live_sessions: Arc::new(Semaphore::new(args.max_live_sessions as usize)),
        shutdown: shutdown_tx,
    });

    let mut servers = tokio::task::JoinSet::new();
    servers.spawn(listen::serve(
        unix,
        "socket",
        unix_router(state.clone()),
        conn_limits,
        shutdown_rx.clone(),
    ));
    if let Some((listener, token)) = tcp {
        servers.spawn(listen::serve(
            listener,
            "tcp",
            tcp_router(state.clone(), token, args.sidecar),
            conn_limits,
            shutdown_rx.clone(),
        ));
    }

    let signal = catch_signals()?;
    let signals = state.clone();
    tokio::spawn(async move {
        signal.await;
        eprintln!("murmur serve: shutting down");
        signals.shutdown();
    });

    // One line on stdout says where we listen; logs go to stderr.
    let ready = serde_json::json!({
        "ready": true,
        "pid": std::process::id(),
        "version": env!("CARGO_PKG_VERSION"),
        "socket": socket,
        "tcp": tcp_addr.map(|a| a.to_string()),
        "token_file": token_file,
        "sidecar": args.sidecar,
    });
    println!("{ready}");
    let _ = std::io::stdout().flush();
    eprintln!(
        "murmur serve: listening on {}{}",
        socket.display(),
        tcp_addr
            .map(|a| format!(" and http://{a}"))
            .unwrap_or_default()
    );

    // Wait for shutdown, then give open connections a moment to finish; `files`
    // removes the socket, token and lock as it goes.
    wait_for(shutdown_rx).await;
    let drain = async { while servers.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(Duration::from_secs(3), drain).await;
    drop(files);
    Ok(())
}

async fn wait_for(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// SIGINT and SIGTERM, caught from the moment this returns: it is called before the
/// ready line, so that a supervisor that stops the daemon as soon as it is ready gets a
/// clean exit (socket, token and lock removed), not the default action of the signal.
fn catch_signals() -> Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).map_err(|e| io_err("<signals>", e))?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| io_err("<signals>", e))?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

/// Murmur's own routes (`/v1/...`; the table is in `api.rs`).
fn routes(state: &Shared) -> Router<Shared> {
    api::routes(state)
        .merge(dictate::routes(state))
        .merge(live::routes())
        .merge(vocab::routes())
        .merge(openai::routes(state))
}

fn unix_router(state: Shared) -> Router {
    routes(&state)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits.body))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

fn tcp_router(state: Shared, token: String, sidecar: bool) -> Router {
    let token = Arc::new(token);
    let mut app = routes(&state).layer(middleware::from_fn(move |req, next| {
        let token = token.clone();
        async move { require_token(&token, req, next).await }
    }));
    if sidecar {
        app = app.merge(sidecar::routes());
    }
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits.body))
        .layer(middleware::from_fn(loopback_only))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route {} {}", req.method(), req.uri().path()),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let started = Instant::now();
    let response = next.run(req).await;
    eprintln!(
        "murmur serve: {method} {path} -> {} ({:.0} ms)",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
}

/// Compare in time independent of where the strings differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(token: &str, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if same_secret(g.as_bytes(), token.as_bytes()) => next.run(req).await,
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the bearer token is wrong (see the daemon's token file)",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this call needs `Authorization: Bearer <token>` (see the daemon's token file)",
        )
        .into_response(),
    }
}

/// On TCP, refuse what a web page could send: anything with an `Origin`, or a `Host`
/// that is not a loopback name (DNS rebinding).
async fn loopback_only(headers: HeaderMap, req: Request, next: Next) -> Response {
    if headers.contains_key(header::ORIGIN) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "requests from web pages are refused",
        )
        .into_response();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    let loopback = name.is_empty()
        || name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("Host {host:?} is not this machine"),
        )
        .into_response();
    }
    next.run(req).await
}

/// A JSON request body: 413 past the size limit, 408 when it stalls, 400 with serde's
/// message when it is not JSON or not the expected shape ([`requests::parse_body`]: an
/// empty body reads as `{}`).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Shared> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state, state.limits.body).await?;
        requests::parse_body(&bytes)
            .map(JsonBody)
            .map_err(ApiError::bad_request)
    }
}

/// The whole body, within `limit` bytes (413 past it: at once when `Content-Length`
/// says so). A body that stalls for [`Limits::body_timeout`] between two pieces is a
/// 408: hyper's header timeout ends at the head, and a client that sends a head and then
/// a trickle (or nothing) would otherwise hold its connection and this handler forever.
pub async fn body_bytes(req: Request, state: &Shared, limit: usize) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    let timeout = state.limits.body_timeout;
    let mut body = req.into_body().into_data_stream();
    let mut all = BytesMut::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    loop {
        let piece = match tokio::time::timeout(timeout, body.next()).await {
            Err(_) => return Err(ApiError::body_timeout(timeout)),
            Ok(None) => return Ok(all.freeze()),
            Ok(Some(Err(e))) => {
                return Err(ApiError::bad_request(format!(
                    "could not read the request body: {e}"
                )));
            }
            Ok(Some(Ok(piece))) => piece,
        };
        if all.len() + piece.len() > limit {
            return Err(ApiError::too_large(limit));
        }
        all.extend_from_slice(&piece);
    }
}
