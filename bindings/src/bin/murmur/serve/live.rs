//! Live transcription over a WebSocket, `GET /v1/live` (core's `Engine::live`): the client
//! streams its microphone's audio and gets the text back while the user is still
//! speaking, then the clean text moments after they stop.
//!
//! The protocol, in order:
//!
//! 1. Connect: a WebSocket upgrade of `GET /v1/live` (on TCP with the bearer token, as
//!    every `/v1` call). The query may give the audio's format:
//!    `?sample_rate=48000&channels=2&encoding=s16le|f32le` (default 16 kHz mono `s16le`).
//! 2. Optionally, first: a text message with the session's options, core's `LiveOptions`
//!    in JSON: `POST /v1/dictate`'s options (`speech_model`, `text_model`, `transcribe`,
//!    `refine` (`null`: no cleanup), `vad` (`null`: none), `vocabulary`, `app_name`,
//!    `selected_text`), `format` (`{"sample_rate", "channels"}`), `step_ms`, and an
//!    `encoding`; what it leaves out is the query's (format, encoding) or core's default.
//! 3. Binary messages: interleaved little-endian samples in that format, whole samples
//!    each (an odd byte count in `s16le` is an error), at most [`MAX_MESSAGE_BYTES`].
//! 4. The text message `{"type": "finish"}` (or just `finish`): the audio has ended.
//!
//! The server sends each event as a JSON text message, as core serializes `LiveEvent`:
//! `{"type": "partial", "text"}` (the unconfirmed words after the confirmed ones; each
//! replaces the last), `{"type": "confirmed", "text", "start", "end"}` (words appended
//! for good, with Whisper's leading spaces), `{"type": "refined", "transcript", "text"}`
//! (a confirmed stretch and its cleanup), and after `finish` `{"type": "final",
//! "result"}` (the `DictateResult`, as `POST /v1/dictate` answers it), then a normal close
//! (1000).
//!
//! An error (bad options, a model not downloaded, a malformed message, ...) is sent as
//! `{"type": "error", "error": {kind, message, status, ...}}` (the HTTP routes' error
//! body), then a close frame: 1008 for the client's mistakes, 1009 past a size limit,
//! 1011 for the server's failures, 1001 when the daemon shuts down. At the machine's
//! recording limit the server reads no more audio: it finishes with what it had (the
//! `final` event), then sends the `audio_too_long` error and closes (1009). A client that
//! sends nothing for `--body-timeout-secs` gets a `request_timeout` error.
//!
//! A client that closes or disconnects before `final` cancels the session: its work
//! stops. What can be refused before the upgrade is answered as HTTP, as on every route:
//! 401 without the token on TCP, 400 for a bad query or a request that is not a
//! WebSocket upgrade, 503 past `--max-live-sessions`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use murmur_core::dictate::DictateResult;
use murmur_core::engine::LiveSession;
use murmur_core::live::LiveEvent;
use murmur_core::{CancelToken, Error};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout};

use super::requests::{LiveQuery, PcmEncoding, PcmSamples, is_finish, live_options};
use super::{ApiError, AppState, wait_for};

type Shared = Arc<AppState>;

/// The largest message a client may send: 1 MiB, over 5 s of 48 kHz stereo float audio
/// (microphones deliver buffers of tens of milliseconds).
const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// How long the close handshake may take before the connection is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

pub fn routes() -> Router<Shared> {
    Router::new().route("/v1/live", get(live))
}

async fn live(
    State(st): State<Shared>,
    query: Result<Query<LiveQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    // A bad format in the query is refused now, as HTTP, whatever follows.
    query.options().0.validate()?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::new(
            e.status(),
            "bad_request",
            format!("{}: /v1/live is a WebSocket", e.body_text()),
        )
    })?;
    let permit = st
        .live_sessions
        .clone()
        .try_acquire_owned()
        .map_err(|_| too_many_sessions(st.limits.live_sessions))?;
    Ok(upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let mut conn = Conn {
                shutdown: st.shutdown.subscribe(),
                stall: st.limits.body_timeout,
                socket,
                st,
            };
            let end = conn.session(query).await;
            // The session and its work are over; the close handshake needs no permit
            // (so a client that has its close frame may start another at once).
            drop(permit);
            conn.end(end).await;
        }))
}

fn too_many_sessions(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_sessions",
        format!("{limit} live sessions are open (--max-live-sessions); retry shortly"),
    )
    .with("limit", limit)
}

/// How a session ended.
enum End {
    /// The `final` event was sent.
    Finished(Box<DictateResult>),
    /// Tell the client this, then close.
    Failed(ApiError),
    /// The client closed or disconnected (the session, dropped, is cancelled).
    Gone,
}

impl From<Error> for End {
    fn from(e: Error) -> Self {
        Self::Failed(e.into())
    }
}

/// A client's message that matters to the session: audio, or text.
enum Incoming {
    Audio(axum::body::Bytes),
    Text(String),
}

/// One client's connection and what it may cost.
struct Conn {
    st: Shared,
    socket: WebSocket,
    shutdown: watch::Receiver<bool>,
    /// The longest silence from the client, and the longest a send may wait.
    stall: Duration,
}

impl Conn {
    /// The whole session: options, audio, finish. Returns how it ended (the session,
    /// dropped with this function's locals, stops its work).
    async fn session(&mut self, query: LiveQuery) -> End {
        let mut deadline = Instant::now() + self.stall;
        let first = match self.next(&mut deadline).await {
            Ok(m) => m,
            Err(end) => return end,
        };
        let (mut opts, mut encoding) = query.options();
        let (mut audio, mut finish) = (None, false);
        match first {
            Incoming::Audio(bytes) => audio = Some(bytes),
            Incoming::Text(t) if is_finish(t.as_bytes()) => finish = true,
            Incoming::Text(t) => {
                if t.len() > self.st.limits.body {
                    return End::Failed(ApiError::too_large(self.st.limits.body));
                }
                (opts, encoding) = match live_options(t.as_bytes(), &query) {
                    Ok(o) => o,
                    Err(e) => return End::Failed(ApiError::bad_request(e)),
                };
            }
        }
        let (tx, mut events) = mpsc::unbounded_channel();
        let on_event = move |e: LiveEvent| {
            let _ = tx.send(e);
        };
        let session = match self
            .st
            .engine
            .live(&opts, on_event, &CancelToken::new())
            .await
        {
            Ok(s) => s,
            Err(e) => return e.into(),
        };
        let mut too_long = None;
        if let Some(bytes) = audio
            && let Err(end) = push(&session, encoding, &bytes, &mut finish, &mut too_long)
        {
            return end;
        }
        // The audio, until `finish`, the limit, or the session stopped.
        while !finish && too_long.is_none() {
            tokio::select! {
                Some(e) = events.recv() => {
                    if let Err(end) = self.send_event(&e).await {
                        return end;
                    }
                }
                msg = self.socket.recv() => {
                    deadline = Instant::now() + self.stall;
                    match read(msg) {
                        Ok(None) => {}
                        Ok(Some(Incoming::Audio(bytes))) => {
                            if let Err(end) =
                                push(&session, encoding, &bytes, &mut finish, &mut too_long)
                            {
                                return end;
                            }
                        }
                        Ok(Some(Incoming::Text(t))) if is_finish(t.as_bytes()) => finish = true,
                        Ok(Some(Incoming::Text(_))) => {
                            return End::Failed(ApiError::bad_request(
                                "after the audio starts, the only text message is \
                                 {\"type\": \"finish\"}; options go first",
                            ));
                        }
                        Err(end) => return end,
                    }
                }
                _ = sleep_until(deadline) => return End::Failed(ApiError::body_timeout(self.stall)),
                _ = wait_for(self.shutdown.clone()) => return shutting_down(),
            }
        }
        // The last words: the events keep coming until the result; messages after
        // `finish` are ignored, but a client that leaves still cancels.
        let finished = session.finish();
        tokio::pin!(finished);
        let result = loop {
            tokio::select! {
                r = &mut finished => break r,
                Some(e) = events.recv() => {
                    if let Err(end) = self.send_event(&e).await {
                        return end;
                    }
                }
                msg = self.socket.recv() => {
                    if let Err(end) = read(msg) {
                        return end;
                    }
                }
                _ = wait_for(self.shutdown.clone()) => return shutting_down(),
            }
        };
        // Every event was sent before `finish` returned: the `final` one is among them.
        while let Ok(e) = events.try_recv() {
            if let Err(end) = self.send_event(&e).await {
                return end;
            }
        }
        match (result, too_long) {
            (Err(e), _) | (Ok(_), Some(e)) => e.into(),
            (Ok(result), None) => End::Finished(Box::new(result)),
        }
    }

    /// The client's next audio or text message (pings and pongs skipped), by
    /// `deadline`.
    async fn next(&mut self, deadline: &mut Instant) -> Result<Incoming, End> {
        loop {
            tokio::select! {
                msg = self.socket.recv() => {
                    *deadline = Instant::now() + self.stall;
                    if let Some(m) = read(msg)? {
                        return Ok(m);
                    }
                }
                _ = sleep_until(*deadline) => {
                    return Err(End::Failed(ApiError::body_timeout(self.stall)));
                }
                _ = wait_for(self.shutdown.clone()) => return Err(shutting_down()),
            }
        }
    }

    /// An event as a text message; a client that does not take it within the stall
    /// time is gone.
    async fn send_event(&mut self, e: &LiveEvent) -> Result<(), End> {
        let text = serde_json::to_string(e).expect("live events serialize");
        match timeout(self.stall, self.socket.send(Message::text(text))).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    /// Tell the client how the session ended, close, and log it.
    async fn end(&mut self, end: End) {
        match end {
            End::Finished(r) => {
                eprintln!(
                    "murmur serve: live session finished: {:.1} s of audio, {} words, the \
                     result {:.2} s after finish",
                    r.audio_secs,
                    r.transcript.split_whitespace().count(),
                    r.timings.finish_secs
                );
                self.close(close_code::NORMAL, "finished").await;
            }
            End::Failed(e) => {
                eprintln!(
                    "murmur serve: live session failed: {} ({})",
                    e.message, e.kind
                );
                let line = json!({"type": "error", "error": e.body()}).to_string();
                let sent = timeout(self.stall, self.socket.send(Message::text(line))).await;
                if matches!(sent, Ok(Ok(()))) {
                    let code = match e.status.as_u16() {
                        _ if e.kind == "shutting_down" => close_code::AWAY,
                        413 => close_code::SIZE,
                        400..=499 => close_code::POLICY,
                        _ => close_code::ERROR,
                    };
                    self.close(code, e.kind).await;
                }
            }
            End::Gone => {
                eprintln!("murmur serve: live session cancelled: the client went away");
            }
        }
    }

    /// Send a close frame and give the client a moment to answer it.
    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        if let Ok(Ok(())) = timeout(CLOSE_WAIT, self.socket.send(Message::Close(Some(frame)))).await
        {
            let drain = async { while let Some(Ok(_)) = self.socket.recv().await {} };
            let _ = timeout(CLOSE_WAIT, drain).await;
        }
    }
}

/// A received message: audio or text (`None` for pings and pongs), or how the session
/// ends when the client closed, left, or sent what could not be read.
fn read(msg: Option<Result<Message, axum::Error>>) -> Result<Option<Incoming>, End> {
    match msg {
        Some(Ok(Message::Binary(bytes))) => Ok(Some(Incoming::Audio(bytes))),
        Some(Ok(Message::Text(t))) => Ok(Some(Incoming::Text(t.as_str().to_string()))),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(None),
        Some(Ok(Message::Close(_))) | None => Err(End::Gone),
        Some(Err(e)) => Err(read_error(e)),
    }
}

/// A message that could not be read: the client left (without a close frame), sent one
/// past [`MAX_MESSAGE_BYTES`], or did not speak WebSocket.
fn read_error(e: axum::Error) -> End {
    use tungstenite::Error as Ws;
    use tungstenite::error::ProtocolError;
    let e = match e.into_inner().downcast::<Ws>() {
        Ok(e) => *e,
        Err(e) => {
            return End::Failed(ApiError::bad_request(format!(
                "could not read the message: {e}"
            )));
        }
    };
    match e {
        Ws::ConnectionClosed
        | Ws::AlreadyClosed
        | Ws::Io(_)
        | Ws::Protocol(ProtocolError::ResetWithoutClosingHandshake) => End::Gone,
        Ws::Capacity(e) => End::Failed(
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("{e}: a message holds at most {MAX_MESSAGE_BYTES} bytes"),
            )
            .with("limit", MAX_MESSAGE_BYTES),
        ),
        e => End::Failed(ApiError::bad_request(format!(
            "could not read the message: {e}"
        ))),
    }
}

/// Push a binary message's samples. At the machine's recording limit `too_long` gets the
/// error (the audio before it is kept); a session stopped on an error sets `finish`
/// (whose result gives the error); samples that are not whole, or refused, end it.
fn push(
    session: &LiveSession,
    encoding: PcmEncoding,
    bytes: &[u8],
    finish: &mut bool,
    too_long: &mut Option<Error>,
) -> Result<(), End> {
    let pushed = match encoding.samples(bytes) {
        Ok(PcmSamples::I16(s)) => session.push_i16(&s),
        Ok(PcmSamples::F32(s)) => session.push_f32(&s),
        Err(reason) => Err(Error::InvalidArgument {
            name: "audio".into(),
            reason: format!("a binary message must hold whole samples: {reason}"),
        }),
    };
    match pushed {
        Ok(()) => {}
        Err(e @ Error::AudioTooLong { .. }) => *too_long = Some(e),
        Err(Error::InvalidArgument { name, .. }) if name == "session" => *finish = true,
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn shutting_down() -> End {
    End::Failed(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "shutting_down",
        "the daemon is shutting down",
    ))
}
