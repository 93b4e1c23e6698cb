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
use murmur_core::catalog::{Capability, CatalogModel};
use murmur_core::engine::ModelState;
use murmur_core::{CancelToken, Engine, Error};
use serde_json::{Value, json};

use super::requests::{GenerateRequest, LoadRequest, invalid_path};
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

async fn load(
    State(st): State<Shared>,
    body: Result<JsonBody<LoadRequest>, ApiError>,
) -> SidecarResult {
    let JsonBody(req) = body?;
    let model_path = req.model_path.clone();
    let engine = &st.engine;
    // Known before this call? `find_or_add` registers what it does not know (a path for
    // this run, a repository for good); a load that fails must take that back.
    let known = engine.resolve(&model_path).is_ok_and(|m| !m.transient);
    let mut registered = None;
    let loaded = async {
        let m = find_model(engine, &req)?;
        registered = Some(m.id.clone());
        check_model(engine, &m, &model_path).await?;
        super::api::load_model(engine, &m.id).await
    }
    .await;
    if let Err(e) = loaded {
        if let Some(id) = registered.filter(|_| !known) {
            // A path is known again the next time it is named; a repository id is added
            // again. Refused only while the model is in use (then it stays).
            let _ = engine.remove_model(&id);
        }
        return Err(SidecarError(given_path(e.into(), &model_path)));
    }
    let id = registered.expect("a model loaded");
    *st.sidecar_model.lock().unwrap() = Some((id, model_path.clone()));
    Ok(Json(json!({"status": "loaded", "model_path": model_path})))
}

/// The model a sidecar `model_path` names: a model file or folder, a catalog id or a
/// repository (added the first time).
fn find_model(engine: &Engine, req: &LoadRequest) -> Result<CatalogModel, Error> {
    let given = req.path()?;
    engine
        .find_or_add(given, Capability::Text)
        .map_err(|e| match e {
            Error::UnknownModel { .. } => invalid_path(format!(
                "{given} is neither a model file or folder on this machine, a model id, nor a repository id like org/name"
            )),
            Error::InvalidArgument { reason, .. } => invalid_path(reason),
            other => other,
        })
}

/// Refuse a speech model, and download a repository that is not complete (as mlx-lm
/// did on first load).
async fn check_model(engine: &Engine, m: &CatalogModel, given: &str) -> Result<(), Error> {
    if m.kind() != Capability::Text {
        return Err(invalid_path(format!(
            "{given} is a speech model; the sidecar protocol generates text"
        )));
    }
    if engine.model(&m.id)?.state == ModelState::NotDownloaded {
        let cancel = CancelToken::new();
        let guard = cancel.drop_guard();
        engine.download(&m.id, |_| {}, &cancel).await?;
        guard.disarm();
    }
    Ok(())
}

/// `e` as the answer to a `/load` of `given`: the message names the path as the client
/// gave it (the engine's own names the absolute path, or a model id), and the details
/// carry it as `model_path`.
fn given_path(mut e: ApiError, given: &str) -> ApiError {
    if e.details.get("name").and_then(|n| n.as_str()) != Some("model_path") {
        e.message = format!("cannot load {given}: {}", e.message);
    }
    e.with("model_path", given)
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
    let opts = req.options();
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
