//! The tokio runtime every binding runs the engine on: the engine's background tasks
//! (idle unload, loads) need one that outlives any single call, and C callers have none.

use std::future::Future;
use std::sync::OnceLock;

use crate::error::MurmurError;

/// The shared multi-threaded runtime, started on first use. MLX work itself runs on its
/// blocking pool, so two workers are plenty for the async side.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("murmur")
            .enable_all()
            .build()
            .expect("start the murmur runtime")
    })
}

/// Run `work` on the shared runtime and wait for it from any async context.
pub async fn spawn<T: Send + 'static>(
    work: impl Future<Output = Result<T, MurmurError>> + Send + 'static,
) -> Result<T, MurmurError> {
    runtime().spawn(work).await.map_err(join_error)?
}

/// Run `work` on the shared runtime and block the calling (foreign) thread until it is
/// done. Works from any thread, engine callbacks included (it never enters the runtime).
pub fn block_on<T: Send + 'static>(
    work: impl Future<Output = Result<T, MurmurError>> + Send + 'static,
) -> Result<T, MurmurError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv().unwrap_or_else(|_| {
        Err(MurmurError::Internal {
            what: "a murmur call".into(),
            reason: "it panicked".into(),
        })
    })
}

fn join_error(e: tokio::task::JoinError) -> MurmurError {
    MurmurError::Internal {
        what: "a murmur call".into(),
        reason: if e.is_panic() {
            "it panicked".into()
        } else {
            "it was cancelled".into()
        },
    }
}
