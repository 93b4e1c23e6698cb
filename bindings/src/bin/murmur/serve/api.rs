//! Murmur's own routes, under `/v1`. Calls name models in the body (ids may contain
//! `/`), answer JSON, and stream newline-delimited JSON where they take long:
//!
//! | route | body | answer |
//! |---|---|---|
//! | `GET /v1/status` | | version, pid, what is loaded/loading/downloading, memory |
//! | `GET /v1/models`, `GET /v1/models/{id}` | | `{"object": "list", "data": [...]}` / one model: each its status (state, sizes, RAM, recommended) with OpenAI's `id`, `object`, `created`, `owned_by` |
//! | `POST /v1/models/add` | `{source, id?, audio?, files?}` | the added model |
//! | `POST /v1/models/remove` | `{model}` | the forgotten model |
//! | `POST /v1/download` | `{model, background?}` | stream: `start`, `progress`…, `done` / `error` |
//! | `POST /v1/download/cancel` | `{model}` | `{cancelled}` |
//! | `POST /v1/delete` | `{model}` | `{deleted}` (409 `busy` while in use) |
//! | `POST /v1/load` | `{model?}` | the loaded model |
//! | `POST /v1/unload` | | `{unloaded: [ids]}` |
//! | `POST /v1/refine` | `{text, model?, mode?, prompt?, temperature?, ..., stream?}` | stream: `start`, `token`…, `done` / `error` |
//! | `POST /v1/transcribe` | `{path, model?, language?, ...}` or the audio file itself | stream: `start`, `audio` (its `duration`), `segment`… and `progress` (`elapsed`, every 0.5 s), `done` / `error` |
//! | `POST /v1/dictate` | `{path, transcribe?, refine?, vad?, vocabulary?, app_name?, selected_text?, speech_model?, text_model?, stream?}` or the audio file itself (options in the query: `speech_model`, `text_model`, `language`, `refine=false`, `vad=false`, `vocabulary=false`, `mode`, `prompt`, `temperature`, `app_name`, `selected_text`, `stream`) | the `DictateResult` (`text`, `transcript`, `edits`, `timings`, `warnings`, ...); with `stream`: `event` lines `stage`, `duration`, `segment`…, `text`…, `progress`, then `result` / `error` (`dictate.rs`) |
//! | `GET /v1/limits` | | `{ram_tier, max_recording_secs, max_refine_tokens}` |
//! | `GET /v1/live` (WebSocket; format in the query: `sample_rate`, `channels`, `encoding`) | a text message of options (`/v1/dictate`'s, `format`, `encoding`, `step_ms`), binary PCM, `{"type": "finish"}` | text messages `partial`, `confirmed`, `refined`…, then `final` (the `DictateResult`) / `error` (`live.rs`) |
//! | `GET /v1/vocabulary` | | `{terms, replacements: [{spoken, written}]}` |
//! | `POST /v1/vocabulary` | `{term}` or `{spoken, written}` | `{outcome: added/updated/unchanged, vocabulary}` |
//! | `DELETE /v1/vocabulary?entry=TEXT` | | `{removed: {terms, replacements}, vocabulary}` (400 when nothing matched) |
//! | `POST /v1/vocabulary/import` | CSV (`term` or `spoken,written` rows) | `{imported: {terms_added, replacements_added, updated, unchanged}, vocabulary}` |
//! | `GET /v1/events` | | stream of engine events |
//! | `POST /v1/shutdown` | | `{status: "shutting_down"}` |
//!
//! A streamed call that fails after it started ends with
//! `{"type": "error", "error": {kind, message, status, ...}}`; one that fails before
//! answers the HTTP status with `{"error": {...}}`. Dropping the connection cancels.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use murmur_core::catalog::Capability;
use murmur_core::engine::ModelState;
use murmur_core::llm::generate::StopReason;
use murmur_core::transcribe::{Task, TranscribeEvent, TranscribeOptions};
use murmur_core::{CancelToken, Error};
use serde::Deserialize;
use serde_json::{Value, json};

use super::audio::{self, AudioRequest};
use super::requests::{AddRequest, ModelRequest, RefineRequest};
use super::stream::{self, Lines};
use super::{ApiError, AppState, JsonBody};

type Shared = Arc<AppState>;
type ApiResult<T = Json<Value>> = Result<T, ApiError>;

pub fn routes(state: &Shared) -> Router<Shared> {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/models", get(models))
        .route("/v1/models/{id}", get(model))
        .route("/v1/models/add", post(add_model))
        .route("/v1/models/remove", post(remove_model))
        .route("/v1/download", post(download))
        .route("/v1/download/cancel", post(cancel_download))
        .route("/v1/delete", post(delete))
        .route("/v1/load", post(load))
        .route("/v1/unload", post(unload))
        .route("/v1/refine", post(refine))
        .route(
            "/v1/transcribe",
            post(transcribe).layer(DefaultBodyLimit::max(state.limits.upload)),
        )
        .route("/v1/events", get(events))
        .route("/v1/shutdown", post(shutdown))
}

/// `value` (an object) with `"type": kind` added in front.
fn tagged(kind: &str, value: impl serde::Serialize) -> Value {
    stream::tagged("type", kind, value)
}

/// A call's result line: `{"type": "done", "model": ..., <the result's fields>}`.
fn done_line(model: &str, value: impl serde::Serialize) -> Value {
    let mut v = tagged("done", value);
    v["model"] = model.into();
    v
}

/// The same as a plain JSON response (no `type`).
fn done_json(model: &str, value: impl serde::Serialize) -> axum::response::Response {
    let mut v = done_line(model, value);
    v.as_object_mut().expect("object").remove("type");
    Json(v).into_response()
}

fn error_line(e: impl Into<ApiError>) -> Value {
    json!({"type": "error", "error": e.into().body()})
}

fn to_json(v: impl serde::Serialize) -> Json<Value> {
    Json(serde_json::to_value(v).expect("serializes"))
}

async fn status(State(st): State<Shared>) -> Json<Value> {
    let engine = &st.engine;
    let s = engine.status();
    let mut v = tagged("status", &s);
    let obj = v.as_object_mut().expect("object");
    obj.remove("type");
    let default_model = engine
        .default_for(Capability::Text)
        .unwrap_or_else(|_| engine.recommended_model());
    let default_audio_model = engine
        .default_for(Capability::Audio)
        .unwrap_or_else(|_| engine.recommended_audio_model());
    obj.extend([
        ("status".into(), "running".into()),
        ("version".into(), env!("CARGO_PKG_VERSION").into()),
        ("pid".into(), std::process::id().into()),
        (
            "uptime_secs".into(),
            st.started.elapsed().as_secs_f64().into(),
        ),
        ("socket".into(), st.socket.display().to_string().into()),
        ("tcp".into(), st.tcp.map(|a| a.to_string()).into()),
        ("default_model".into(), default_model.id.into()),
        ("default_audio_model".into(), default_audio_model.id.into()),
        (
            "recommended_model".into(),
            engine.recommended_model().id.into(),
        ),
    ]);
    Json(v)
}

/// OpenAI's list object (`openai/mod.rs` says why one answer serves both APIs).
async fn models(State(st): State<Shared>) -> Json<Value> {
    Json(super::openai::model_list(st.engine.models()))
}

async fn model(State(st): State<Shared>, Path(id): Path<String>) -> ApiResult {
    Ok(Json(super::openai::model_object(st.engine.model(&id)?)))
}

async fn add_model(State(st): State<Shared>, JsonBody(req): JsonBody<AddRequest>) -> ApiResult {
    let status = st.engine.add_model(&req.into_add())?;
    Ok(to_json(status))
}

/// The model a [`ModelRequest`] must name (400 when it names none).
fn named(req: &ModelRequest) -> Result<&str, ApiError> {
    req.id().map_err(ApiError::bad_request)
}

async fn remove_model(
    State(st): State<Shared>,
    JsonBody(req): JsonBody<ModelRequest>,
) -> ApiResult {
    let m = st.engine.remove_model(named(&req)?)?;
    Ok(Json(json!({"removed": m.id})))
}

async fn download(
    State(st): State<Shared>,
    JsonBody(req): JsonBody<ModelRequest>,
) -> ApiResult<Response> {
    let status = st.engine.model(named(&req)?)?;
    if status.state == ModelState::Downloading {
        return Err(Error::Busy {
            model: status.model.id,
            state: "downloading".into(),
        }
        .into());
    }
    let id = status.model.id.clone();
    let cancel = CancelToken::new();
    let (lines, body) = stream::channel((!req.background).then_some(&cancel));
    lines.send(&json!({"type": "start", "model": id}));
    let engine = st.engine.clone();
    tokio::spawn(async move {
        let progress = lines.clone();
        let (mut last, mut file) = (None::<Instant>, String::new());
        let on_progress = move |p: &murmur_core::hub::DownloadProgress| {
            // A line per file, per 100 ms, and at the end: enough for a progress bar.
            if p.file != file
                || p.bytes == p.total
                || last.is_none_or(|t| t.elapsed() >= Duration::from_millis(100))
            {
                file.clone_from(&p.file);
                last = Some(Instant::now());
                let mut line = tagged("progress", p);
                line["fraction"] = p.fraction().into();
                progress.send(&line);
            }
        };
        let line = match engine.download(&id, on_progress, &cancel).await {
            Ok(status) => json!({"type": "done", "model": status}),
            Err(e) => error_line(e),
        };
        lines.send(&line);
    });
    Ok(body.into_response())
}

async fn cancel_download(
    State(st): State<Shared>,
    JsonBody(req): JsonBody<ModelRequest>,
) -> ApiResult {
    let id = st.engine.resolve(named(&req)?)?.id;
    Ok(Json(
        json!({"model": id, "cancelled": st.engine.cancel_download(&id)}),
    ))
}

async fn delete(State(st): State<Shared>, JsonBody(req): JsonBody<ModelRequest>) -> ApiResult {
    let id = st.engine.resolve(named(&req)?)?.id;
    st.engine.delete(&id).await?;
    Ok(Json(json!({"deleted": id})))
}

async fn load(State(st): State<Shared>, JsonBody(req): JsonBody<ModelRequest>) -> ApiResult {
    let kind = match req.model.as_deref().filter(|m| !m.trim().is_empty()) {
        Some(id) => st.engine.resolve(id)?.kind(),
        None => Capability::Text,
    };
    let id = st.engine.choose_downloaded(req.model.as_deref(), kind)?.id;
    load_model(&st.engine, &id).await?;
    Ok(to_json(st.engine.model(&id)?))
}

/// Load `id`; a request dropped before it is done (hyper drops the handler when its
/// client goes away) cancels the load.
pub(super) async fn load_model(engine: &murmur_core::Engine, id: &str) -> Result<(), Error> {
    let cancel = CancelToken::new();
    let guard = cancel.drop_guard();
    let loaded = engine.load(id, &cancel).await;
    guard.disarm();
    loaded
}

async fn unload(State(st): State<Shared>) -> ApiResult {
    let ids = st.engine.unload().await?;
    if !ids.is_empty() {
        give_back_freed_memory();
    }
    Ok(Json(json!({"unloaded": ids})))
}

/// After an unload: hand the heap freed with the model back to the system. glibc keeps
/// freed memory in its arenas for reuse, so without this a daemon asked to free its
/// memory would still show (and hold) hundreds of MB.
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

async fn shutdown(State(st): State<Shared>) -> Json<Value> {
    st.shutdown();
    Json(json!({"status": "shutting_down"}))
}

async fn refine(
    State(st): State<Shared>,
    JsonBody(req): JsonBody<RefineRequest>,
) -> ApiResult<Response> {
    let opts = req.options()?;
    let model = st
        .engine
        .choose_downloaded(req.model.as_deref(), Capability::Text)?
        .id;
    let cancel = CancelToken::new();
    let engine = st.engine.clone();
    if req.stream == Some(false) {
        // The handler is dropped when the client goes away: that cancels too.
        let guard = cancel.drop_guard();
        let result = engine
            .refine(Some(&model), &req.text, &opts, |_| {}, &cancel)
            .await;
        guard.disarm();
        log_cancel(&model, &result);
        return Ok(done_json(&model, result?));
    }
    let (lines, body) = stream::channel(Some(&cancel));
    lines.send(&json!({"type": "start", "model": model, "queued": engine.status().in_use}));
    tokio::spawn(async move {
        let tokens: Lines = lines.clone();
        let on_text = move |t: &str| {
            tokens.send(&json!({"type": "token", "text": t}));
        };
        let result = engine
            .refine(Some(&model), &req.text, &opts, on_text, &cancel)
            .await;
        log_cancel(&model, &result);
        let line = match result {
            Ok(result) => done_line(&model, result),
            Err(e) => error_line(e),
        };
        lines.send(&line);
    });
    Ok(body.into_response())
}

/// Say so when a refine stopped because its client went away.
pub fn log_cancel(model: &str, result: &murmur_core::Result<murmur_core::refine::RefineResult>) {
    match result {
        Ok(r) if r.stats.stop_reason == StopReason::Cancelled => eprintln!(
            "murmur serve: refine with {model} cancelled after {} tokens: the client went away",
            r.stats.generated_tokens
        ),
        Err(Error::Cancelled) => {
            eprintln!(
                "murmur serve: refine with {model} cancelled while queued: the client went away"
            )
        }
        _ => {}
    }
}

#[derive(Deserialize, Default)]
struct TranscribeRequest {
    /// An audio file on this machine (JSON bodies); uploads send the file as the body.
    path: Option<std::path::PathBuf>,
    model: Option<String>,
    language: Option<String>,
    /// `transcribe` (default) or `translate` (to English).
    task: Option<Task>,
    beam_size: Option<usize>,
    /// One fixed temperature instead of the fallback schedule.
    temperature: Option<f32>,
    word_timestamps: Option<bool>,
    initial_prompt: Option<String>,
    stream: Option<bool>,
}

impl AudioRequest for TranscribeRequest {
    const ROUTE: &'static str = "transcribe";

    fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }
}

async fn transcribe(
    State(st): State<Shared>,
    query: Result<Query<TranscribeRequest>, QueryRejection>,
    req: Request,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (params, audio) = match audio::read::<TranscribeRequest>(&st, req).await? {
        (Some(json), audio) => (json, audio),
        (None, upload) => (query, upload),
    };
    let mut opts = TranscribeOptions {
        language: params.language.filter(|l| !l.trim().is_empty()),
        task: params.task.unwrap_or_default(),
        beam_size: params.beam_size,
        word_timestamps: params.word_timestamps.unwrap_or(false),
        initial_prompt: params.initial_prompt,
        ..TranscribeOptions::default()
    };
    if let Some(t) = params.temperature {
        opts.temperatures = vec![t];
    }
    let model = st
        .engine
        .choose_downloaded_transcriber(params.model.as_deref())?
        .id;
    let cancel = CancelToken::new();
    let engine = st.engine.clone();
    let log_cancel = |model: &str, result: &murmur_core::Result<_>| {
        if matches!(result, Err(Error::Cancelled)) {
            eprintln!("murmur serve: transcribe with {model} cancelled: the client went away");
        }
    };
    if params.stream == Some(false) {
        let guard = cancel.drop_guard();
        let result = engine
            .transcribe(Some(&model), audio, &opts, |_| {}, &cancel)
            .await;
        guard.disarm();
        log_cancel(&model, &result);
        return Ok(done_json(&model, result?));
    }
    let (lines, body) = stream::channel(Some(&cancel));
    lines.send(&json!({"type": "start", "model": model, "queued": engine.status().in_use}));
    tokio::spawn(async move {
        // Progress lines until the transcript is done (see `stream::heartbeat`).
        let ticker = stream::heartbeat(&lines, "type");
        // The engine reads the audio as a stream and says how long it is: from its
        // header or length before the model is loaded (so before any segment), and again
        // at its end if that differs. The client shows progress against the latest.
        let events = lines.clone();
        let on_event = move |e: TranscribeEvent<'_>| match e {
            TranscribeEvent::Duration(d) => {
                events.send(&json!({"type": "audio", "duration": d}));
            }
            TranscribeEvent::Segment(s) => {
                events.send(&tagged("segment", s));
            }
        };
        let result = engine
            .transcribe_with_events(Some(&model), audio, &opts, on_event, &cancel)
            .await;
        log_cancel(&model, &result);
        let line = match result {
            Ok(transcript) => done_line(&model, transcript),
            Err(e) => error_line(e),
        };
        ticker.abort();
        let _ = ticker.await; // so that no progress line follows the last one
        lines.send(&line);
    });
    Ok(body.into_response())
}

async fn events(State(st): State<Shared>) -> Response {
    let mut rx = st.engine.subscribe();
    let (lines, body) = stream::channel(None);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                event = rx.recv() => match event {
                    Ok(e) => {
                        if !lines.send(&e) {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                },
                _ = lines.closed() => return,
            }
        }
    });
    body.into_response()
}
