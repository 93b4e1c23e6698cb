//! Streaming responses: newline-delimited JSON, one object per line, written as soon as
//! it is produced. The response body owns a [`CancelOnDrop`]: when the client goes away,
//! hyper drops the body and the operation behind it is cancelled.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use murmur_core::CancelToken;
use serde::Serialize;
use tokio::sync::mpsc;

/// Cancels its token when dropped, unless disarmed.
pub struct CancelOnDrop(Option<CancelToken>);

impl CancelOnDrop {
    pub fn new(token: &CancelToken) -> Self {
        Self(Some(token.clone()))
    }

    /// The operation finished: dropping no longer cancels anything.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take()
            && !token.is_cancelled()
        {
            token.cancel();
        }
    }
}

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

/// The reading end, as a response body.
pub struct NdjsonBody {
    rx: mpsc::UnboundedReceiver<Bytes>,
    _cancel: Option<CancelOnDrop>,
}

impl futures_core::Stream for NdjsonBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|line| line.map(Ok))
    }
}

impl IntoResponse for NdjsonBody {
    fn into_response(self) -> Response {
        (
            [
                (header::CONTENT_TYPE, "application/x-ndjson"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(self),
        )
            .into_response()
    }
}

/// A streamed response; `cancel` (when given) fires if the client disconnects before
/// the stream ends.
pub fn channel(cancel: Option<&CancelToken>) -> (Lines, NdjsonBody) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Lines(tx),
        NdjsonBody {
            rx,
            _cancel: cancel.map(CancelOnDrop::new),
        },
    )
}
