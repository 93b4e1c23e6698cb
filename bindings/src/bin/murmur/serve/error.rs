//! Errors as HTTP: a status and `{"error": {"kind", "message", ...details}}`, where
//! `kind` is stable (clients switch on it) and the details name what the engine's typed
//! error carries (the model, the file, the limit).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use murmur_core::Error;
use serde_json::{Map, Value, json};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    pub details: Map<String, Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            details: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
        .with("limit", limit)
    }

    /// The `{"kind", "message", ...}` object.
    pub fn body(&self) -> Value {
        let mut error = self.details.clone();
        error.insert("kind".into(), self.kind.into());
        error.insert("message".into(), self.message.clone().into());
        error.insert("status".into(), self.status.as_u16().into());
        Value::Object(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.body() }))).into_response()
    }
}

/// The status a client gets for a call it dropped; nobody reads it.
const CLIENT_CLOSED: u16 = 499;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        let message = e.to_string();
        let status = |s: S, kind| Self::new(s, kind, message.clone());
        match &e {
            Error::Io { path, .. } => {
                status(S::INTERNAL_SERVER_ERROR, "io").with("path", path_str(path))
            }
            Error::CorruptModel { path, reason } => {
                status(S::UNPROCESSABLE_ENTITY, "corrupt_model")
                    .with("path", path_str(path))
                    .with("reason", reason.as_str())
            }
            Error::Unsupported { path, what } => status(S::UNPROCESSABLE_ENTITY, "unsupported")
                .with("path", path_str(path))
                .with("what", what.as_str()),
            Error::InvalidArgument { name, reason } => status(S::BAD_REQUEST, "invalid_argument")
                .with("name", name.as_str())
                .with("reason", reason.as_str()),
            Error::Tokenizer(_) => status(S::INTERNAL_SERVER_ERROR, "tokenizer"),
            Error::Template { .. } => status(S::INTERNAL_SERVER_ERROR, "template"),
            Error::PromptTooLong { tokens, limit } => {
                status(S::UNPROCESSABLE_ENTITY, "prompt_too_long")
                    .with("tokens", *tokens)
                    .with("limit", *limit)
            }
            Error::Mlx(_) => status(S::INTERNAL_SERVER_ERROR, "mlx"),
            Error::Download { repo, file, .. } => status(S::BAD_GATEWAY, "download")
                .with("repo", repo.as_str())
                .with("file", file.as_str()),
            Error::Unauthorized { repo } => {
                status(S::BAD_GATEWAY, "hub_unauthorized").with("repo", repo.as_str())
            }
            Error::NotFound { repo, file } => status(S::NOT_FOUND, "hub_not_found")
                .with("repo", repo.as_str())
                .with("file", file.as_str()),
            Error::InsufficientDisk { needed, available } => {
                status(S::INSUFFICIENT_STORAGE, "insufficient_disk")
                    .with("needed", *needed)
                    .with("available", *available)
            }
            Error::Audio { path, .. } => {
                status(S::UNPROCESSABLE_ENTITY, "audio").with("path", path.as_deref().map(path_str))
            }
            Error::Cancelled => status(
                S::from_u16(CLIENT_CLOSED).expect("valid status"),
                "cancelled",
            ),
            Error::Busy { model, state } => status(S::CONFLICT, "busy")
                .with("model", model.as_str())
                .with("state", state.as_str()),
            Error::NotDownloaded { model } => {
                status(S::CONFLICT, "not_downloaded").with("model", model.as_str())
            }
            Error::UnknownModel { id } => {
                status(S::NOT_FOUND, "unknown_model").with("model", id.as_str())
            }
            Error::Offline { repo } => {
                status(S::SERVICE_UNAVAILABLE, "offline").with("repo", repo.as_str())
            }
            Error::Internal { .. } => status(S::INTERNAL_SERVER_ERROR, "internal"),
            _ => status(S::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

fn path_str(p: &std::path::Path) -> String {
    p.display().to_string()
}
