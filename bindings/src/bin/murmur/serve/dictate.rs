//! Dictation over HTTP: `POST /v1/dictate` (core's `Engine::dictate`: audio to clean
//! text, with the edits, timings and warnings) and `GET /v1/limits` (the memory tier's
//! limits). The audio comes as `POST /v1/transcribe`'s does (`audio.rs`).
//!
//! The answer is the `DictateResult` as JSON; with `stream`, newline-delimited JSON
//! events tagged by `event`: `stage`, `duration`, `segment`, `text` (the cleanup as it is
//! generated), `progress` (`elapsed`, every 0.5 s, so a client that left is noticed), then
//! `result` (the `DictateResult`'s fields) or `error` (the error's fields).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use murmur_core::catalog::Capability;
use murmur_core::dictate::{DictateEvent, DictateResult};
use murmur_core::system::Limits;
use murmur_core::{CancelToken, Error};
use serde_json::{Value, json};

use super::audio::{self, AudioRequest};
use super::requests::{DictateQuery, DictateRequest};
use super::stream::{self, tagged};
use super::{ApiError, AppState};

type Shared = Arc<AppState>;

pub fn routes(state: &Shared) -> Router<Shared> {
    Router::new()
        .route(
            "/v1/dictate",
            post(dictate).layer(DefaultBodyLimit::max(state.limits.upload)),
        )
        .route("/v1/limits", get(limits))
}

impl AudioRequest for DictateRequest {
    const ROUTE: &'static str = "dictate";

    fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }
}

async fn limits(State(st): State<Shared>) -> Json<Limits> {
    Json(st.engine.limits())
}

async fn dictate(
    State(st): State<Shared>,
    query: Result<Query<DictateQuery>, QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (mut opts, stream, audio) = match audio::read::<DictateRequest>(&st, req).await? {
        (Some(json), audio) => (json.options()?, json.stream, audio),
        (None, upload) => (query.options()?, query.stream, upload),
    };
    // The models are chosen now, and must be on disk: a call answers at once rather than
    // start a download (`POST /v1/download` does that).
    let engine = st.engine.clone();
    let speech = engine.choose_downloaded(opts.speech_model.as_deref(), Capability::Audio)?;
    opts.speech_model = Some(speech.id);
    if opts.refine.is_some() {
        let text = engine.choose_downloaded(opts.text_model.as_deref(), Capability::Text)?;
        opts.text_model = Some(text.id);
    }
    let cancel = CancelToken::new();
    if stream != Some(true) {
        // The handler is dropped when the client goes away: that cancels too.
        let guard = cancel.drop_guard();
        let result = engine.dictate(audio, &opts, |_| {}, &cancel).await;
        guard.disarm();
        log_cancel(&result);
        return Ok(Json(result?).into_response());
    }
    let (lines, body) = stream::channel(Some(&cancel));
    tokio::spawn(async move {
        let ticker = stream::heartbeat(&lines, "event");
        let events = lines.clone();
        let on_event = move |e: DictateEvent<'_>| {
            events.send(&event_line(e));
        };
        let result = engine.dictate(audio, &opts, on_event, &cancel).await;
        log_cancel(&result);
        let line = match result {
            Ok(result) => tagged("event", "result", result),
            Err(e) => tagged("event", "error", ApiError::from(e).body()),
        };
        ticker.abort();
        let _ = ticker.await; // so that no progress line follows the last one
        lines.send(&line);
    });
    Ok(body.into_response())
}

/// A dictation event as its stream line.
fn event_line(e: DictateEvent<'_>) -> Value {
    match e {
        DictateEvent::Stage(stage) => json!({"event": "stage", "stage": stage}),
        DictateEvent::Duration(seconds) => json!({"event": "duration", "seconds": seconds}),
        DictateEvent::Segment(segment) => tagged("event", "segment", segment),
        DictateEvent::RefineText(delta) => json!({"event": "text", "delta": delta}),
    }
}

/// Say so when a dictation stopped because its client went away.
fn log_cancel(result: &murmur_core::Result<DictateResult>) {
    if matches!(result, Err(Error::Cancelled)) {
        eprintln!("murmur serve: dictate cancelled: the client went away");
    }
}
