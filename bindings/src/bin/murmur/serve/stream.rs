//! Streaming responses: newline-delimited JSON, one object per line, written as soon as
//! it is produced. The response body holds the call's cancel guard: when the client goes
//! away, hyper drops the body and the operation behind it is cancelled.

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use murmur_core::CancelToken;
use serde::Serialize;
use tokio::sync::mpsc;

/// The writing end of a streamed response. Cheap to clone; sending after the client
/// left is a no-op that returns `false`.
#[derive(Clone)]
pub struct Lines(mpsc::UnboundedSender<Bytes>);

impl Lines {
    pub fn send(&self, value: &impl Serialize) -> bool {
        let mut line = serde_json::to_vec(value).expect("stream events serialize");
        line.push(b'\n');
        self.0.send(Bytes::from(line)).is_ok()
    }

    /// Resolves when the response body is gone (the client disconnected).
    pub async fn closed(&self) {
        self.0.closed().await
    }
}

/// A streamed response and its writer; `cancel` (when given) fires when the body is
/// dropped: the client disconnected, or the stream ended.
pub fn channel(cancel: Option<&CancelToken>) -> (Lines, Response) {
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let guard = cancel.map(CancelToken::drop_guard);
    let lines = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        let line = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(line), (rx, guard)))
    });
    let response = (
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(lines),
    )
        .into_response();
    (Lines(tx), response)
}
