//! OpenAI's API on the daemon, so that any OpenAI client (the `openai` Python and npm
//! packages, curl scripts, apps with a "custom endpoint" setting) talks to the local
//! engine. Same listeners and rules as Murmur's routes: the Unix socket, and loopback TCP
//! with the daemon's bearer token as the API key.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /v1/chat/completions` | OpenAI's JSON (`model`, `messages`, `temperature`, `top_p`, `max_tokens` / `max_completion_tokens`, `stop`, `seed`, `stream`, `stream_options`) | `chat.completion`, or `chat.completion.chunk` events then `[DONE]` (`chat.rs`) |
//! | `POST /v1/audio/transcriptions` | multipart: `file`, `model`, `language`, `prompt`, `temperature`, `response_format` (json, text, srt, vtt, verbose_json), `timestamp_granularities[]`, `stream` | the transcript in that format, or `transcript.text.delta` events then `transcript.text.done` (`audio.rs`) |
//! | `POST /v1/audio/translations` | multipart: `file`, `model`, `prompt`, `temperature`, `response_format` | the English text in that format |
//! | `GET /v1/models`, `GET /v1/models/{id}` | | `{"object": "list", "data": [...]}` / one model |
//!
//! Models are named by catalog id or alias (`murmur models`); `whisper-1`, the name
//! OpenAI's clients use for speech, means the engine's default speech model, and a chat
//! request without a model (which OpenAI refuses) gets the default text model, as
//! Murmur's own routes do. Errors have
//! OpenAI's shape (`error.message`, `type`, `param`, `code`) as well as Murmur's.
//!
//! `GET /v1/models` is both APIs' route: it answers OpenAI's list object, and each entry
//! carries Murmur's whole model status beside OpenAI's four fields, so both kinds of
//! client read what they expect from the one answer.

mod audio;
mod chat;
pub mod requests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use murmur_core::engine::ModelStatus;
use serde_json::Value;

use super::{AppState, Shared};

pub fn routes(state: &AppState) -> Router<Shared> {
    Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route(
            "/v1/audio/transcriptions",
            post(audio::transcriptions).layer(DefaultBodyLimit::max(state.limits.upload)),
        )
        .route(
            "/v1/audio/translations",
            post(audio::translations).layer(DefaultBodyLimit::max(state.limits.upload)),
        )
}

/// Seconds since 1970, OpenAI's `created`.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A response id unique to this daemon's life: `prefix-<pid><count><start time>`.
fn response_id(prefix: &str) -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{:x}{n:06x}{:x}", std::process::id(), unix_now())
}

/// A model as OpenAI lists it (`id`, `object`, `created`: when it was downloaded, else 0,
/// `owned_by`), followed by Murmur's status fields.
pub fn model_object(status: ModelStatus) -> Value {
    let created = status
        .path
        .as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let mut v = serde_json::to_value(status).expect("model statuses serialize");
    if let Value::Object(fields) = &mut v {
        fields.insert("object".into(), "model".into());
        fields.insert("created".into(), created.into());
        fields.insert("owned_by".into(), "murmur".into());
    }
    v
}

/// OpenAI's list object of `models`.
pub fn model_list(models: Vec<ModelStatus>) -> Value {
    let data: Vec<Value> = models.into_iter().map(model_object).collect();
    serde_json::json!({"object": "list", "data": data})
}
