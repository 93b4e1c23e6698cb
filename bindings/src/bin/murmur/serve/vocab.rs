//! The user's vocabulary over HTTP, mapping the engine's calls (every check and the
//! file's lock are the engine's): `GET /v1/vocabulary`, `POST /v1/vocabulary` (a term or
//! a replacement), `DELETE /v1/vocabulary?entry=TEXT`, `POST /v1/vocabulary/import` (a
//! CSV body). Each change answers what it did and the vocabulary after it.
//!
//! The vocabulary is a file under a lock that other processes (the app, the CLI) take
//! too, so each call runs on the blocking pool rather than on a connection's thread.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use murmur_core::vocab::Vocabulary;
use murmur_core::vocab::csv::{self, MAX_IMPORT_BYTES};
use murmur_core::{Engine, Error};
use serde::Deserialize;
use serde_json::{Value, json};

use super::requests::VocabularyRequest;
use super::{ApiError, AppState, JsonBody, body_bytes};

type Shared = Arc<AppState>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/vocabulary", get(list).post(add).delete(remove))
        .route("/v1/vocabulary/import", post(import))
}

/// `work` on the engine's vocabulary, on the blocking pool.
async fn blocking<T: Send + 'static>(
    st: &Shared,
    work: impl FnOnce(&Engine) -> murmur_core::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let engine = st.engine.clone();
    let done = tokio::task::spawn_blocking(move || work(&engine))
        .await
        .map_err(|e| Error::Internal {
            what: "vocabulary".into(),
            reason: e.to_string(),
        })??;
    Ok(done)
}

/// `work`'s answer as `{key: <what it did>, "vocabulary": <the vocabulary after>}`.
async fn changed<T: serde::Serialize + Send + 'static>(
    st: &Shared,
    key: &'static str,
    work: impl FnOnce(&Engine) -> murmur_core::Result<T> + Send + 'static,
) -> Result<Json<Value>, ApiError> {
    let (done, vocabulary) = blocking(st, move |e| Ok((work(e)?, e.vocabulary()?))).await?;
    Ok(Json(json!({key: done, "vocabulary": vocabulary})))
}

async fn list(State(st): State<Shared>) -> Result<Json<Vocabulary>, ApiError> {
    Ok(Json(blocking(&st, Engine::vocabulary).await?))
}

async fn add(
    State(st): State<Shared>,
    JsonBody(req): JsonBody<VocabularyRequest>,
) -> Result<Json<Value>, ApiError> {
    let entry = req.entry()?;
    changed(&st, "outcome", move |e| e.add_vocabulary(entry)).await
}

#[derive(Deserialize)]
struct RemoveQuery {
    entry: Option<String>,
}

async fn remove(
    State(st): State<Shared>,
    query: Result<Query<RemoveQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Some(entry) = query.entry else {
        return Err(ApiError::bad_request(
            "`entry` is required: DELETE /v1/vocabulary?entry=TEXT",
        ));
    };
    changed(&st, "removed", move |e| e.remove_vocabulary(&entry)).await
}

async fn import(State(st): State<Shared>, req: Request) -> Result<Json<Value>, ApiError> {
    // The body is the CSV file, bounded as a file is.
    let bytes = body_bytes(req, &st, MAX_IMPORT_BYTES as usize).await?;
    let text = csv::utf8(&bytes)?.to_string();
    changed(&st, "imported", move |e| e.import_vocabulary_text(&text)).await
}
