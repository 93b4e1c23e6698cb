//! Errors as HTTP: a status and `{"error": {"kind", "message", ...details}}`, where
//! `kind` is stable (clients switch on it) and the details name what the engine's typed
//! error carries (the model, the file, the limit). The same object also has OpenAI's
//! fields (`type`, `param`, `code`), so that one error shape serves Murmur's clients and
//! OpenAI's alike, on every route.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use murmur_core::{Error, ErrorKind};
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

    /// A request body that stopped arriving (see `super::body_bytes`).
    pub fn body_timeout(after: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body stalled: nothing arrived for {} s",
                after.as_secs_f64()
            ),
        )
        .with("timeout_secs", after.as_secs_f64())
    }

    /// The `{"kind", "message", "status", ...details, "type", "param", "code"}` object.
    pub fn body(&self) -> Value {
        let mut error = self.details.clone();
        error.insert("kind".into(), self.kind.into());
        error.insert("message".into(), self.message.clone().into());
        error.insert("status".into(), self.status.as_u16().into());
        error.insert("type".into(), self.openai_type().into());
        let param = self.details.get("name").cloned().unwrap_or(Value::Null);
        error.insert("param".into(), param);
        let code = match self.kind {
            "unknown_model" => "model_not_found",
            kind => kind,
        };
        error.insert("code".into(), code.into());
        Value::Object(error)
    }

    /// OpenAI's error category for this status.
    fn openai_type(&self) -> &'static str {
        match self.status.as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 if self.kind != "unknown_model" => "not_found_error",
            409 => "conflict_error",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "server_error",
        }
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
    /// The error's kind (core's `ErrorKind` name), an HTTP status for it, and the
    /// variant's fields beside the message.
    fn from(e: Error) -> Self {
        use StatusCode as S;
        let kind = e.kind();
        let status = match kind {
            ErrorKind::InvalidArgument => S::BAD_REQUEST,
            ErrorKind::CorruptModel
            | ErrorKind::Unsupported
            | ErrorKind::PromptTooLong
            | ErrorKind::Audio => S::UNPROCESSABLE_ENTITY,
            ErrorKind::Download | ErrorKind::Unauthorized => S::BAD_GATEWAY,
            ErrorKind::NotFound | ErrorKind::UnknownModel => S::NOT_FOUND,
            ErrorKind::InsufficientDisk => S::INSUFFICIENT_STORAGE,
            ErrorKind::AudioTooLong => S::PAYLOAD_TOO_LARGE,
            ErrorKind::Cancelled => S::from_u16(CLIENT_CLOSED).expect("valid status"),
            ErrorKind::Busy | ErrorKind::NotDownloaded => S::CONFLICT,
            ErrorKind::Offline => S::SERVICE_UNAVAILABLE,
            ErrorKind::Io
            | ErrorKind::Tokenizer
            | ErrorKind::Template
            | ErrorKind::Mlx
            | ErrorKind::Internal => S::INTERNAL_SERVER_ERROR,
        };
        let api = Self::new(status, kind.name(), e.to_string());
        match &e {
            Error::Io { path, .. } => api.with("path", path_str(path)),
            Error::CorruptModel { path, reason } => api
                .with("path", path_str(path))
                .with("reason", reason.as_str()),
            Error::Unsupported { path, what } => {
                api.with("path", path_str(path)).with("what", what.as_str())
            }
            Error::InvalidArgument { name, reason } => api
                .with("name", name.as_str())
                .with("reason", reason.as_str()),
            Error::PromptTooLong { tokens, limit } => {
                api.with("tokens", *tokens).with("limit", *limit)
            }
            Error::Download { repo, file, .. } | Error::NotFound { repo, file } => {
                api.with("repo", repo.as_str()).with("file", file.as_str())
            }
            Error::Unauthorized { repo } | Error::Offline { repo } => {
                api.with("repo", repo.as_str())
            }
            Error::InsufficientDisk { needed, available } => {
                api.with("needed", *needed).with("available", *available)
            }
            Error::Audio { path, .. } => api.with("path", path.as_deref().map(path_str)),
            Error::Busy { model, state } => api
                .with("model", model.as_str())
                .with("state", state.as_str()),
            Error::NotDownloaded { model } => api.with("model", model.as_str()),
            Error::UnknownModel { id } => api.with("model", id.as_str()),
            Error::AudioTooLong {
                seconds,
                limit_secs,
            } => api
                .with("seconds", *seconds)
                .with("limit_secs", *limit_secs),
            _ => api,
        }
    }
}

fn path_str(p: &std::path::Path) -> String {
    p.display().to_string()
}
