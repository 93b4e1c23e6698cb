//! `POST /v1/chat/completions`: core's [`Engine::chat`](murmur_core::Engine::chat) in
//! OpenAI's shapes, whole or as server-sent `chat.completion.chunk` events.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use murmur_core::CancelToken;
use murmur_core::catalog::Capability;
use murmur_core::chat::{ChatResult, FinishReason};
use serde_json::{Value, json};

use super::requests::ChatCompletionRequest;
use super::{response_id, unix_now};
use crate::serve::stream;
use crate::serve::{ApiError, JsonBody, Shared};

/// What every chunk and the completion share.
#[derive(Clone)]
struct Head {
    id: String,
    created: u64,
    model: String,
}

impl Head {
    fn chunk(&self, delta: Value, finish: Option<FinishReason>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": fingerprint(),
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish.map(finish_reason),
            }],
        })
    }

    fn completion(&self, r: &ChatResult) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": fingerprint(),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": r.text, "refusal": null},
                "logprobs": null,
                "finish_reason": finish_reason(r.finish_reason),
            }],
            "usage": r.usage,
        })
    }
}

/// Which build answered (OpenAI's `system_fingerprint`).
fn fingerprint() -> String {
    format!("murmur-{}", env!("CARGO_PKG_VERSION"))
}

fn finish_reason(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        // Nobody reads it: the client that cancelled has gone.
        FinishReason::Cancelled => "stop",
    }
}

pub async fn completions(
    State(st): State<Shared>,
    body: Result<JsonBody<ChatCompletionRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let JsonBody(req) = body?;
    let call = req.call()?;
    let model = st
        .engine
        .choose_downloaded(call.model.as_deref(), Capability::Text)?
        .id;
    let head = Head {
        id: response_id("chatcmpl"),
        created: unix_now(),
        model: model.clone(),
    };
    let cancel = CancelToken::new();
    let engine = st.engine.clone();
    if !call.stream {
        // The handler is dropped when the client goes away: that cancels too.
        let guard = cancel.drop_guard();
        let result = engine
            .chat(Some(&model), &call.options, |_| {}, &cancel)
            .await;
        guard.disarm();
        return Ok(Json(head.completion(&result?)).into_response());
    }
    let (events, body) = stream::events(Some(&cancel));
    events.send(&head.chunk(json!({"role": "assistant", "content": ""}), None));
    tokio::spawn(async move {
        let (deltas, delta_head) = (events.clone(), head.clone());
        let on_text = move |t: &str| {
            deltas.send(&delta_head.chunk(json!({"content": t}), None));
        };
        match engine
            .chat(Some(&model), &call.options, on_text, &cancel)
            .await
        {
            Ok(r) if r.finish_reason == FinishReason::Cancelled => {
                eprintln!(
                    "murmur serve: chat with {model} cancelled after {} tokens: the client went away",
                    r.usage.completion_tokens
                );
                return;
            }
            Ok(r) => {
                events.send(&head.chunk(json!({}), Some(r.finish_reason)));
                if call.include_usage {
                    let mut usage = head.chunk(json!({}), None);
                    usage["choices"] = json!([]);
                    usage["usage"] = json!(r.usage);
                    events.send(&usage);
                }
            }
            // OpenAI ends a stream that failed with an error event.
            Err(e) => {
                events.send(&json!({"error": ApiError::from(e).body()}));
            }
        }
        events.done();
    });
    Ok(body.into_response())
}
