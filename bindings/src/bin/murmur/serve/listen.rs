//! The accept loop: HTTP/1.1 connections served by hyper, with the limits a daemon
//! anyone on the machine can connect to needs (opening a connection takes no token).
//!
//! `axum::serve` had none of them: a connection that sent half a request head was kept
//! forever, so about 20,000 of them used up the file descriptors and the daemon stopped
//! answering on every listener. Here:
//!
//! - a request head must arrive within `header_timeout` of the connection (or of the
//!   previous response: hyper starts that timer whenever it waits for a head, so it is
//!   also how long an idle keep-alive connection stays open);
//! - a stalled body fails with 408 after `body_timeout` (enforced where bodies are read,
//!   `super::body_bytes`, as only the handler knows it is waiting for one);
//! - each listener serves at most `max_connections` at once; past that a new connection
//!   is answered 503 and closed at once, so a flood on one listener leaves the other,
//!   and the connections already open, working.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, watch};

use super::ApiError;

/// What a connection may cost.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// The longest wait for a whole request head (and an idle keep-alive connection).
    pub header_timeout: Duration,
    /// The longest pause while a request body is read.
    pub body_timeout: Duration,
    /// Connections open at once, per listener.
    pub max_connections: usize,
}

/// A listening socket: TCP or Unix.
pub trait Listener: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Io>> + Send;
    /// Write what fits without waiting (the refusal of a connection over the cap).
    fn try_write(io: &Self::Io, bytes: &[u8]);
}

impl Listener for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<Self::Io> {
        let (stream, _) = tokio::net::TcpListener::accept(self).await?;
        // Streamed tokens are small writes: send each at once.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    fn try_write(io: &Self::Io, bytes: &[u8]) {
        let _ = io.try_write(bytes);
    }
}

impl Listener for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;

    async fn accept(&mut self) -> io::Result<Self::Io> {
        Ok(tokio::net::UnixListener::accept(self).await?.0)
    }

    fn try_write(io: &Self::Io, bytes: &[u8]) {
        let _ = io.try_write(bytes);
    }
}

/// Serve `app` on `listener` until `shutdown` turns true, then let the open connections
/// finish their requests (graceful: no new request is read) and return when they are
/// all closed; the caller bounds how long it waits.
pub async fn serve<L: Listener>(
    mut listener: L,
    name: &'static str,
    app: Router,
    limits: ConnLimits,
    shutdown: watch::Receiver<bool>,
) {
    let cap = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(cap));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let refusal = refusal(cap);
    let (mut refused, mut last_note) = (0u64, None::<Instant>);
    // Notes on stderr at most once a second: a flood must not become a flood of logs.
    let mut note = |what: String| {
        if last_note.is_none_or(|t: Instant| t.elapsed() >= Duration::from_secs(1)) {
            last_note = Some(Instant::now());
            eprintln!("murmur serve: {name}: {what}");
        }
    };
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = super::wait_for(shutdown.clone()) => break,
        };
        let io = match accepted {
            Ok(io) => io,
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                // Out of descriptors or memory: give open connections time to close
                // rather than spin.
                note(format!("accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            L::try_write(&io, &refusal);
            refused += 1;
            note(format!(
                "{cap} connections open; refusing new ones ({refused} so far)"
            ));
            continue;
        };
        // With upgrades: `GET /v1/live` turns its connection into a WebSocket (the
        // connection's task, and its permit, end there; `live.rs` counts sessions).
        let conn = http
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(app.clone()))
            .with_upgrades();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = super::wait_for(stop) => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
    drop(listener);
    // Every permit back: every connection closed.
    let _ = permits.acquire_many(cap as u32).await;
}

/// Errors that concern the one connection being accepted, not the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// The whole 503 answer to a connection over the cap, written before its request is
/// read (there is nothing to wait for: it is refused whatever it asks).
fn refusal(cap: usize) -> Vec<u8> {
    let body = serde_json::json!({
        "error": ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            format!("this listener already has {cap} connections open; retry shortly"),
        )
        .with("limit", cap)
        .body()
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Raise this process's open-file limit to its hard limit: the connection caps, not an
/// arbitrary default soft limit (often 256 on macOS, 1024 on Linux), decide how many
/// clients the daemon serves. Best effort: a failure leaves the limit as it was.
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    let mut want = lim.rlim_max;
    if cfg!(target_vendor = "apple") {
        // macOS refuses a soft limit above OPEN_MAX even when the hard one is unlimited.
        want = want.min(10240);
    }
    if want > lim.rlim_cur {
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
    }
}
