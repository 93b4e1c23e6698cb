//! The audio of a call that takes some (`POST /v1/transcribe`, `POST /v1/dictate`): the
//! file itself as the body, its options in the query string, or JSON naming a `path` on
//! this machine with the options beside it. One reading for every such route: the same
//! limits (uploads to `--max-upload-bytes`, JSON to `--max-body-bytes`), the same sniffing
//! of JSON sent without its content type, the same answers for paths that are missing,
//! forbidden or folders.

use std::path::{Path, PathBuf};

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use murmur_core::Error;
use murmur_core::audio::AudioInput;
use serde::de::DeserializeOwned;

use super::{ApiError, JsonBody, Shared, body_bytes};

/// A route's JSON request: it names the audio by `path`.
pub trait AudioRequest: DeserializeOwned {
    /// The route, in messages ("transcribe").
    const ROUTE: &'static str;

    /// The audio file the request names.
    fn path(&self) -> Option<&Path>;
}

/// The request's audio, and its JSON body when it sent one (`None`: the body was the
/// audio, and the options are the query string's).
pub async fn read<J: AudioRequest>(
    st: &Shared,
    req: Request,
) -> Result<(Option<J>, AudioInput), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let params = if content_type.starts_with("application/json") {
        let JsonBody(params) = JsonBody::<J>::from_request(req, st).await?;
        params
    } else {
        let bytes = body_bytes(req, st, st.limits.upload).await?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "send the audio file as the body, or JSON with a `path`",
            ));
        }
        // A JSON request sent without its content type (curl -d, a hand-written client)
        // must not be decoded as audio. No audio container starts with `{`, so a body
        // that does is read as a request whatever the header says, unless it is
        // declared audio.
        let declared_audio = content_type.starts_with("audio/")
            || content_type.starts_with("video/")
            || content_type.starts_with("application/octet-stream");
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if declared_audio || first != Some(&b'{') {
            return Ok((None, AudioInput::Encoded(bytes.into())));
        }
        if bytes.len() > st.limits.body {
            return Err(ApiError::too_large(st.limits.body));
        }
        serde_json::from_slice::<J>(&bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is JSON but not a {} request ({e}); send {{\"path\": ...}} as \
                 application/json, or the audio file itself",
                J::ROUTE
            ))
        })?
    };
    let Some(path) = params.path().map(Path::to_path_buf) else {
        return Err(ApiError::bad_request(
            "`path` is required (or send the audio file itself as the body)",
        ));
    };
    Ok((Some(params), at_path(path)?))
}

/// The audio file at `path`. A path that is not there is the client's mistake (404), not
/// the server's (the 500 an I/O error would otherwise be); so is one it may not read
/// (403), and a folder (422, an audio error).
fn at_path(path: PathBuf) -> Result<AudioInput, ApiError> {
    match std::fs::metadata(&path) {
        Err(e) => {
            let status = match e.kind() {
                std::io::ErrorKind::NotFound => Some(StatusCode::NOT_FOUND),
                std::io::ErrorKind::PermissionDenied => Some(StatusCode::FORBIDDEN),
                _ => None,
            };
            let mut err = ApiError::from(Error::Io { path, source: e });
            if let Some(status) = status {
                err.status = status;
            }
            Err(err)
        }
        Ok(meta) if meta.is_dir() => Err(Error::Audio {
            path: Some(path),
            reason: "is a folder, not an audio file".into(),
        }
        .into()),
        Ok(_) => Ok(AudioInput::Path(path)),
    }
}
