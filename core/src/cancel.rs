//! Cooperative cancellation shared by every long operation (generation, transcription,
//! downloads, loads): cheap to clone, safe to trigger from any thread. Blocking work
//! checks [`CancelToken::is_cancelled`] between steps; async code awaits
//! [`CancelToken::cancelled`], which wakes at once (tokio-util's `CancellationToken`).

use tokio_util::sync::{CancellationToken, DropGuard};

#[derive(Debug, Clone, Default)]
pub struct CancelToken(CancellationToken);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the operation holding a clone of this token to stop at its next check.
    pub fn cancel(&self) {
        self.0.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Completes as soon as the token is cancelled (at once when it already is).
    pub async fn cancelled(&self) {
        self.0.cancelled().await
    }

    /// A token cancelled with this one, which can also be cancelled alone (a live
    /// session's own stop, under its caller's token).
    pub fn child(&self) -> Self {
        Self(self.0.child_token())
    }

    /// A guard that cancels the token when dropped, unless [`DropGuard::disarm`]ed: a
    /// request handler holds one so that a client going away cancels its work.
    pub fn drop_guard(&self) -> DropGuard {
        self.0.clone().drop_guard()
    }
}
