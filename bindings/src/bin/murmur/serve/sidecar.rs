//! The predecessors' Python sidecar protocol (FastAPI + mlx-lm), bodies and fields as
//! the Python mlx-lm sidecar defined them, so apps built for it switch without code changes:
//!
//! ```text
//! GET  /status   → {"status": "running", "model_loaded": bool, "model_path": str|null}
//! POST /load     {"model_path": "..."} → {"status": "loaded", "model_path": "..."}
//! POST /generate {"prompt": "...", "max_tokens": 150, "temperature": 0.7}
//!                → {"response": "...", "tokens_generated": int}
//! POST /unload   → {"status": "unloaded", "model_loaded": false}
//! ```
//!
//! `model_path` is a model folder or `.gguf` file (registered as a local model the
//! first time), a catalog id, or a Hugging Face repository id (downloaded on first
//! load, as mlx-lm does). `/generate` applies the chat template with thinking off,
//! top-p 0.8 and repetition penalty 1.15, on the loaded model (reloaded if the idle
//! timeout unloaded it). Errors answer FastAPI's `{"detail": "..."}` beside Murmur's
//! `{"error": {...}}`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use murmur_core::catalog::Capability;
use murmur_core::engine::ModelState;
use murmur_core::refine::{RefineMode, RefineOptions};
use murmur_core::{CancelToken, Engine};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, JsonBody};

type Shared = Arc<AppState>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/status", get(status))
        .route("/load", post(load))
        .route("/generate", post(generate))
        .route("/unload", post(unload))
}

/// An [`ApiError`] with FastAPI's `detail` beside it.
struct SidecarError(ApiError);

impl<E: Into<ApiError>> From<E> for SidecarError {
    fn from(e: E) -> Self {
        SidecarError(e.into())
    }
}

impl IntoResponse for SidecarError {
    fn into_response(self) -> Response {
        let e = self.0;
        (
            e.status,
            Json(json!({"detail": e.message, "error": e.body()})),
        )
            .into_response()
    }
}

type SidecarResult = Result<Json<Value>, SidecarError>;

async fn status(State(st): State<Shared>) -> Json<Value> {
    let loaded = st.engine.status().loaded;
    let given = st.sidecar_model.lock().unwrap().clone();
    let model_path = loaded.as_ref().and_then(|id| match given {
        Some((gid, path)) if gid == *id => Some(path),
        _ => st
            .engine
            .model(id)
            .ok()
            .and_then(|s| s.path)
            .map(|p| p.display().to_string()),
    });
    Json(json!({
        "status": "running",
        "model_loaded": loaded.is_some(),
        "model_path": model_path,
    }))
}

#[derive(Deserialize)]
struct LoadRequest {
    model_path: String,
}

async fn load(
    State(st): State<Shared>,
    body: Result<JsonBody<LoadRequest>, ApiError>,
) -> SidecarResult {
    let JsonBody(LoadRequest { model_path }) = body?;
    let id = model_id(&st.engine, &model_path).await?;
    super::api::load_model(&st.engine, &id).await?;
    *st.sidecar_model.lock().unwrap() = Some((id, model_path.clone()));
    Ok(Json(json!({"status": "loaded", "model_path": model_path})))
}

/// The catalog id for a sidecar `model_path` (a model file or folder, a catalog id or a
/// repository, added the first time), downloading a repository that is not complete.
async fn model_id(engine: &Engine, given: &str) -> Result<String, ApiError> {
    if given.trim().is_empty() {
        return Err(ApiError::bad_request("`model_path` is empty"));
    }
    let m = engine.find_or_add(given, Capability::Text)?;
    if engine.model(&m.id)?.state == ModelState::NotDownloaded {
        let cancel = CancelToken::new();
        let guard = cancel.drop_guard();
        engine.download(&m.id, |_| {}, &cancel).await?;
        guard.disarm();
    }
    Ok(m.id)
}

#[derive(Deserialize)]
struct GenerateRequest {
    prompt: String,
    #[serde(default = "default_max_tokens")]
    max_tokens: usize,
    #[serde(default = "default_temperature")]
    temperature: f32,
}

fn default_max_tokens() -> usize {
    150
}

fn default_temperature() -> f32 {
    0.7
}

async fn generate(
    State(st): State<Shared>,
    body: Result<JsonBody<GenerateRequest>, ApiError>,
) -> SidecarResult {
    let JsonBody(req) = body?;
    let model = st.engine.status().loaded.or_else(|| {
        st.sidecar_model
            .lock()
            .unwrap()
            .as_ref()
            .map(|(id, _)| id.clone())
    });
    let Some(model) = model else {
        return Err(ApiError::bad_request("No model loaded").into());
    };
    let opts = RefineOptions {
        // The prompt is the whole user turn, as the sidecar sent it.
        mode: RefineMode::Custom(String::new()),
        temperature: req.temperature,
        top_p: 0.8,
        repetition_penalty: 1.15,
        max_tokens: Some(req.max_tokens),
        enable_thinking: false,
        ..RefineOptions::default()
    };
    let cancel = CancelToken::new();
    // Dropped with this handler when the client disconnects: generation stops.
    let guard = cancel.drop_guard();
    let result = st
        .engine
        .refine(Some(&model), &req.prompt, &opts, |_| {}, &cancel)
        .await;
    guard.disarm();
    super::api::log_cancel(&model, &result);
    let result = result?;
    Ok(Json(json!({
        "response": result.text,
        "tokens_generated": result.stats.generated_tokens,
    })))
}

async fn unload(State(st): State<Shared>) -> SidecarResult {
    st.engine.unload().await?;
    *st.sidecar_model.lock().unwrap() = None;
    Ok(Json(json!({"status": "unloaded", "model_loaded": false})))
}
