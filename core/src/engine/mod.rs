//! The engine: the one place that owns models — which are on disk, which is loaded,
//! what each is doing — and the entry point every face of Murmur (CLI, Swift, C, the
//! daemon) calls.
//!
//! State machine, per model, as in the Python sidecars Murmur replaces (crate docs):
//!
//! ```text
//! NotDownloaded ─download→ Downloading ─done→ Downloaded ─load→ Loading ─done→ Ready
//!       ↑                  │ failed/cancelled      ↑  ↑           │ failed        │
//!       └──────────────────┘                       │  └───────────┘               │
//!       ↑ delete                                   └──── unload / idle timeout ───┘
//! ```
//!
//! A failure leaves the model where it was and records the error (in its status and as
//! an [`Event::Error`]). States are not stored: each is read off the facts (an active
//! download or load, the loaded model, a complete snapshot in the cache), so they cannot
//! drift from the disk.
//!
//! Concurrency: two slots, one text model and one speech model, can be loaded at once
//! (dictation transcribes, then refines); loading another model of a kind unloads the
//! first, after its running call finishes. Lifecycle changes are serialized by one async
//! lock per slot, so concurrent callers share one load. Calls on a loaded model are
//! serialized by its own lock and run on the blocking pool (MLX work is blocking; a model
//! keeps no lazy array, so any thread may run it). Loads and unloads run in spawned
//! tasks: a caller that gives up waiting never leaves a half-done transition behind.
//! After `idle_unload` without use a model is unloaded and MLX's buffer cache cleared;
//! the next call loads it again.

mod api;
mod chat;
mod config;
mod dictate;
mod lifecycle;
mod live;
mod slots;
mod status;
mod vocab;

pub use api::Engine;
pub use config::{DEFAULT_IDLE_UNLOAD, EngineConfig, LoadHook, ModelPrecision};
pub use live::LiveSession;
pub use status::{
    ActiveDownload, EngineStatus, Event, MemoryUsage, ModelState, ModelStatus, UnloadReason,
};

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::audio::AudioInput;
    use crate::cancel::CancelToken;
    use crate::error::Error;
    use crate::refine::RefineOptions;
    use crate::transcribe::TranscribeOptions;

    fn engine(dir: &Path, ram_gib: u64) -> Engine {
        let mut config = EngineConfig::from_env();
        config.hub.cache_dir = dir.join("hub");
        config.hub.offline = true;
        config.config_dir = dir.join("conf");
        config.ram_bytes = Some(ram_gib << 30);
        Engine::new(config).unwrap()
    }

    #[test]
    fn fresh_engine_lists_every_model_not_downloaded() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path(), 16);
        let models = e.models();
        assert!(models.len() >= 11);
        assert!(
            models
                .iter()
                .all(|m| m.state == ModelState::NotDownloaded && m.disk_bytes == 0)
        );
        let rec: Vec<&str> = models
            .iter()
            .filter(|m| m.recommended)
            .map(|m| m.model.id.as_str())
            .collect();
        assert_eq!(
            rec,
            ["qwen3-4b", "whisper-large-v3-turbo"],
            "one of each kind"
        );
        assert_eq!(engine(dir.path(), 8).recommended_model().id, "qwen3-1.7b");
        assert_eq!(
            engine(dir.path(), 8).recommended_audio_model().id,
            "whisper-base"
        );
        assert_eq!(engine(dir.path(), 64).recommended_model().id, "qwen3-8b");
        let s = e.status();
        assert!(s.loaded.is_none() && s.downloads.is_empty());
        assert_eq!(
            s.idle_unload_secs,
            e.config().idle_unload.map(|d| d.as_secs_f64())
        );
    }

    #[test]
    fn events_serialize_like_the_seeds() {
        let e = Event::Unloaded {
            model_id: "qwen3-1.7b".into(),
            reason: UnloadReason::Idle,
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event_type"], "unloaded");
        assert_eq!(json["model_id"], "qwen3-1.7b");
        assert_eq!(e.model_id(), "qwen3-1.7b");
    }

    #[tokio::test]
    async fn unknown_and_missing_models_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path(), 8);
        assert!(matches!(
            e.load("nope", &CancelToken::new()).await,
            Err(Error::UnknownModel { .. })
        ));
        assert!(matches!(
            e.load("qwen3-0.6b", &CancelToken::new()).await,
            Err(Error::NotDownloaded { .. })
        ));
        assert!(matches!(
            e.load("whisper-tiny", &CancelToken::new()).await,
            Err(Error::NotDownloaded { .. })
        ));
        // Each call refuses a model of the other kind before touching the disk.
        let err = e
            .transcribe(
                Some("qwen3-0.6b"),
                AudioInput::Pcm16k(vec![0.0; 16_000]),
                &TranscribeOptions::default(),
                |_| {},
                &CancelToken::new(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { name, .. } if name == "model"),
            "{err:?}"
        );
        let err = e
            .refine(
                Some("whisper-base"),
                "text",
                &RefineOptions::default(),
                |_| {},
                &CancelToken::new(),
            )
            .await
            .unwrap_err();
        assert!(matches!(&err, Error::InvalidArgument { .. }), "{err:?}");
        assert!(matches!(
            e.download("qwen3-0.6b", |_| {}, &CancelToken::new()).await,
            Err(Error::Offline { .. })
        ));
        assert!(e.unload().await.unwrap().is_empty());
    }
}
