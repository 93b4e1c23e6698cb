//! Streaming responses: newline-delimited JSON, one object per line (Murmur's routes), or
//! server-sent events, one `data:` JSON object per event (the OpenAI routes), written as
//! soon as each is produced. The response body holds the call's cancel guard: when the
//! client goes away, hyper drops the body and the operation behind it is cancelled.

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use murmur_core::CancelToken;
use serde::Serialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How a stream frames each object.
#[derive(Clone, Copy)]
enum Framing {
    /// `{...}\n` (`application/x-ndjson`).
    Lines,
    /// `data: {...}\n\n` (`text/event-stream`).
    Events,
}

/// The writing end of a streamed response. Cheap to clone; sending after the client
/// left is a no-op that returns `false`.
#[derive(Clone)]
pub struct Lines(mpsc::UnboundedSender<Bytes>, Framing);

impl Lines {
    pub fn send(&self, value: &impl Serialize) -> bool {
        let json = serde_json::to_vec(value).expect("stream events serialize");
        let framed = match self.1 {
            Framing::Lines => [json.as_slice(), b"\n"].concat(),
            Framing::Events => [b"data: ".as_slice(), &json, b"\n\n"].concat(),
        };
        self.0.send(Bytes::from(framed)).is_ok()
    }

    /// An event stream's end: `data: [DONE]` (OpenAI's marker).
    pub fn done(&self) -> bool {
        self.0.send(Bytes::from_static(b"data: [DONE]\n\n")).is_ok()
    }

    /// Resolves when the response body is gone (the client disconnected).
    pub async fn closed(&self) {
        self.0.closed().await
    }
}

/// A streamed response and its writer; `cancel` (when given) fires when the body is
/// dropped: the client disconnected, or the stream ended.
pub fn channel(cancel: Option<&CancelToken>) -> (Lines, Response) {
    framed(cancel, Framing::Lines)
}

/// [`channel`] as server-sent events (`text/event-stream`): each [`Lines::send`] is one
/// `data:` event; end it with [`Lines::done`].
pub fn events(cancel: Option<&CancelToken>) -> (Lines, Response) {
    framed(cancel, Framing::Events)
}

fn framed(cancel: Option<&CancelToken>, framing: Framing) -> (Lines, Response) {
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let guard = cancel.map(CancelToken::drop_guard);
    let lines = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        let line = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(line), (rx, guard)))
    });
    let response = (
        [
            (
                header::CONTENT_TYPE,
                match framing {
                    Framing::Lines => "application/x-ndjson",
                    Framing::Events => "text/event-stream",
                },
            ),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(lines),
    )
        .into_response();
    (Lines(tx, framing), response)
}

/// `value` (an object) with `key: kind` added in front: `{"type": "segment", ...}` on
/// the older streams, `{"event": "segment", ...}` on dictation's.
pub fn tagged(key: &str, kind: &str, value: impl Serialize) -> Value {
    let mut out = serde_json::Map::new();
    out.insert(key.into(), kind.into());
    match serde_json::to_value(value).expect("stream events serialize") {
        Value::Object(fields) => out.extend(fields),
        other => {
            out.insert("value".into(), other);
        }
    }
    Value::Object(out)
}

/// A line `{key: "progress", "elapsed": seconds}` every half second until the returned
/// task is aborted (or the client is gone). hyper only notices a client that went away
/// when it writes, and a call's own lines can be many seconds apart (reading the audio,
/// a model load, the queue, a 30 s window): without these, a disconnect's cancel waited
/// for the next line. Abort and await the task before the last line, so that no progress
/// line follows it.
pub fn heartbeat(lines: &Lines, key: &'static str) -> JoinHandle<()> {
    let (lines, started) = (lines.clone(), Instant::now());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.tick().await;
        loop {
            tick.tick().await;
            let elapsed = started.elapsed().as_secs_f64();
            if !lines.send(&json!({key: "progress", "elapsed": elapsed})) {
                return;
            }
        }
    })
}
