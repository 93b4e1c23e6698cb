//! The JSON bodies of serve's routes, and the checks each meets before the engine is
//! asked anything: pure functions of the bytes, with no axum, engine or daemon state, so
//! that a fuzz target can compile this file on its own (`#[path = ...] mod requests;`,
//! with serde, serde_json and murmur-core) and call [`check`] on any input. The handlers
//! (`api.rs`, `sidecar.rs`) read their bodies through the same functions.

use murmur_core::Error;
use murmur_core::catalog::{AddModel, Capability};
use murmur_core::dictate::DictateOptions;
use murmur_core::refine::{RefineMode, RefineOptions};
use murmur_core::transcribe::TranscribeOptions;
use murmur_core::vocab::{Entry, Replacement};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A JSON request body as every route reads it: an empty (or blank) body reads as `{}`;
/// anything that is not JSON of the expected shape is refused with serde's message (the
/// daemon answers it as a 400).
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| format!("malformed JSON body: {e}"))
}

/// `route`'s body (`/v1/refine`, `/load`, ...: the paths of `api.rs` and `sidecar.rs`)
/// through its parse and every check made before the engine: for fuzzing. Routes without
/// a body, and unknown ones, accept anything.
#[cfg_attr(
    not(test),
    allow(dead_code, reason = "the entry point of fuzz targets")
)]
pub fn check(route: &str, body: &[u8]) -> Result<(), String> {
    let text = |e: Error| e.to_string();
    match route {
        "/v1/models/add" => {
            let _ = parse_body::<AddRequest>(body)?.into_add();
        }
        "/v1/models/remove" | "/v1/download" | "/v1/download/cancel" | "/v1/delete" => {
            parse_body::<ModelRequest>(body)?.id()?;
        }
        "/v1/load" => {
            parse_body::<ModelRequest>(body)?;
        }
        "/v1/refine" => {
            parse_body::<RefineRequest>(body)?.options().map_err(text)?;
        }
        "/v1/dictate" => {
            parse_body::<DictateRequest>(body)?
                .options()
                .map_err(text)?;
        }
        "/v1/vocabulary" => {
            parse_body::<VocabularyRequest>(body)?
                .entry()
                .map_err(text)?;
        }
        "/load" => {
            parse_body::<LoadRequest>(body)?.path().map_err(text)?;
        }
        "/generate" => {
            parse_body::<GenerateRequest>(body)?
                .options()
                .validate()
                .map_err(text)?;
        }
        _ => {}
    }
    Ok(())
}

/// `POST /v1/models/add`.
#[derive(Deserialize)]
pub struct AddRequest {
    pub source: String,
    pub id: Option<String>,
    #[serde(default)]
    pub audio: bool,
    pub files: Option<Vec<String>>,
}

impl AddRequest {
    pub fn into_add(self) -> AddModel {
        AddModel {
            source: self.source,
            id: self.id,
            capability: self.audio.then_some(Capability::Audio),
            files: self.files,
        }
    }
}

/// `{model}`: remove, download (with `background`), cancel, delete, load.
#[derive(Deserialize)]
pub struct ModelRequest {
    pub model: Option<String>,
    /// Downloads: keep going when the client disconnects.
    #[serde(default)]
    pub background: bool,
}

impl ModelRequest {
    /// The model named, which these routes need.
    pub fn id(&self) -> Result<&str, String> {
        self.model
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .ok_or_else(|| "`model` is required".to_string())
    }
}

/// `POST /v1/refine`.
#[derive(Deserialize)]
pub struct RefineRequest {
    pub text: String,
    pub model: Option<String>,
    /// `clean` (default), `grammar`, `concise` or `custom` (with `prompt`): read here so
    /// a bad one is a typed error (`RefineMode::parse`), not a JSON one.
    pub mode: Option<String>,
    pub prompt: Option<String>,
    /// `temperature`, `top_p`, `max_tokens`, `seed`...: core's `RefineOptions`, flat.
    #[serde(flatten)]
    pub options: RefineOptions,
    /// `false`: one JSON answer instead of a stream.
    pub stream: Option<bool>,
}

impl RefineRequest {
    /// The options the call asks for (its mode parsed, every setting in range), refused
    /// when there is no text to refine.
    pub fn options(&self) -> Result<RefineOptions, Error> {
        let opts = RefineOptions {
            mode: RefineMode::parse(self.mode.as_deref(), self.prompt.clone())?,
            ..self.options.clone()
        };
        if self.text.trim().is_empty() {
            return Err(Error::InvalidArgument {
                name: "text".into(),
                reason: "there is nothing to refine".into(),
            });
        }
        opts.validate()?;
        Ok(opts)
    }
}

/// `POST /v1/dictate` with a JSON body: an audio file on this machine, and core's
/// `DictateOptions` in its own serde shape beside it (`transcribe`, `refine` (`null`: no
/// cleanup), `vad` (`null`: none), `vocabulary`, `app_name`, `selected_text`,
/// `speech_model`, `text_model`; a missing key takes its default).
#[derive(Deserialize)]
pub struct DictateRequest {
    pub path: Option<std::path::PathBuf>,
    #[serde(flatten)]
    pub options: DictateOptions,
    /// `true`: a stream of events ending with the result.
    pub stream: Option<bool>,
}

impl DictateRequest {
    /// The options asked for, every setting in range.
    pub fn options(&self) -> Result<DictateOptions, Error> {
        self.options.validate()?;
        Ok(self.options.clone())
    }
}

/// `POST /v1/dictate` with the audio file as the body: the options in the query string,
/// flat. `temperature` is the cleanup's; `refine=false`, `vad=false` and
/// `vocabulary=false` turn those stages off.
#[derive(Deserialize, Default)]
pub struct DictateQuery {
    pub speech_model: Option<String>,
    pub text_model: Option<String>,
    pub language: Option<String>,
    pub refine: Option<bool>,
    pub vad: Option<bool>,
    pub vocabulary: Option<bool>,
    /// `clean` (default), `grammar`, `concise` or `custom` (with `prompt`).
    pub mode: Option<String>,
    pub prompt: Option<String>,
    pub temperature: Option<f32>,
    pub app_name: Option<String>,
    pub selected_text: Option<String>,
    pub stream: Option<bool>,
}

impl DictateQuery {
    /// The options asked for (core's defaults for what is not named), every setting in
    /// range.
    pub fn options(&self) -> Result<DictateOptions, Error> {
        let defaults = DictateOptions::default();
        let mode = RefineMode::parse(self.mode.as_deref(), self.prompt.clone())?;
        let refine = defaults
            .refine
            .filter(|_| self.refine != Some(false))
            .map(|r| RefineOptions {
                mode,
                temperature: self.temperature.unwrap_or(r.temperature),
                ..r
            });
        let given = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let opts = DictateOptions {
            speech_model: given(&self.speech_model),
            text_model: given(&self.text_model),
            transcribe: TranscribeOptions {
                language: given(&self.language),
                ..defaults.transcribe
            },
            refine,
            vad: defaults.vad.filter(|_| self.vad != Some(false)),
            vocabulary: self.vocabulary.unwrap_or(defaults.vocabulary),
            app_name: self.app_name.clone(),
            selected_text: self.selected_text.clone(),
        };
        opts.validate()?;
        Ok(opts)
    }
}

/// `POST /v1/vocabulary`: `{"term": "Dashwood"}`, or `{"spoken": "murmur dot app",
/// "written": "Murmur.app"}`.
#[derive(Deserialize)]
pub struct VocabularyRequest {
    pub term: Option<String>,
    pub spoken: Option<String>,
    pub written: Option<String>,
}

impl VocabularyRequest {
    /// The entry to add (its words are checked by the vocabulary itself).
    pub fn entry(self) -> Result<Entry, Error> {
        match (self.term, self.spoken, self.written) {
            (Some(term), None, None) => Ok(Entry::Term(term)),
            (None, Some(spoken), Some(written)) => {
                Ok(Entry::Replacement(Replacement { spoken, written }))
            }
            _ => Err(Error::InvalidArgument {
                name: "entry".into(),
                reason: "give a term, {\"term\": \"Dashwood\"}, or a replacement, \
                         {\"spoken\": \"murmur dot app\", \"written\": \"Murmur.app\"}"
                    .into(),
            }),
        }
    }
}

/// The sidecar's `POST /load`.
#[derive(Deserialize)]
pub struct LoadRequest {
    pub model_path: String,
}

impl LoadRequest {
    /// The path, id or repository given, refused when it is empty, or when it is
    /// plainly a path and nothing is there.
    pub fn path(&self) -> Result<&str, Error> {
        let given = self.model_path.trim();
        if given.is_empty() {
            return Err(invalid_path("`model_path` is empty".into()));
        }
        let path = std::path::Path::new(given);
        let looks_like_path = path.is_absolute()
            || given.starts_with('.')
            || given.starts_with('~')
            || path
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("gguf"));
        if looks_like_path && !path.exists() {
            return Err(invalid_path(format!(
                "there is no file or folder at {}; give a model file (.gguf) or folder on this machine, a model id, or a repository id like org/name",
                self.model_path
            )));
        }
        Ok(&self.model_path)
    }
}

/// An [`Error::InvalidArgument`] about the sidecar's `model_path`.
pub fn invalid_path(reason: String) -> Error {
    Error::InvalidArgument {
        name: "model_path".into(),
        reason,
    }
}

/// The sidecar's `POST /generate`, with the Python sidecar's defaults.
#[derive(Deserialize)]
pub struct GenerateRequest {
    pub prompt: String,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    #[serde(default = "default_temperature")]
    pub temperature: f32,
}

fn default_max_tokens() -> usize {
    150
}

fn default_temperature() -> f32 {
    0.7
}

impl GenerateRequest {
    /// The sidecar's sampling: the chat template with thinking off, top-p 0.8 and
    /// repetition penalty 1.15; the prompt is the whole user turn.
    pub fn options(&self) -> RefineOptions {
        RefineOptions {
            mode: RefineMode::Custom(String::new()),
            temperature: self.temperature,
            top_p: 0.8,
            repetition_penalty: 1.15,
            max_tokens: Some(self.max_tokens),
            enable_thinking: false,
            ..RefineOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_bodies_are_refused_not_panicked_on() {
        let deep = "[".repeat(100_000);
        let refused: &[(&str, &[u8])] = &[
            ("/v1/refine", b"{\"text\": "),
            ("/v1/refine", deep.as_bytes()),
            ("/v1/refine", b"{\"text\": \"  \"}"),
            ("/v1/refine", b"{\"text\": \"hi\", \"mode\": \"poem\"}"),
            ("/v1/refine", b"{\"text\": \"hi\", \"temperature\": -1}"),
            ("/v1/refine", b"{\"text\": \"hi\", \"max_tokens\": 1e300}"),
            ("/v1/delete", b""),
            ("/v1/download", b"{\"model\": \"  \"}"),
            ("/v1/models/add", b"{\"source\": 7}"),
            ("/load", b"{\"model_path\": \"\"}"),
            ("/load", b"{\"model_path\": \"/no/such/model.gguf\"}"),
            ("/generate", b"{}"),
            ("/v1/dictate", b"{\"refine\": {\"mode\": \"poem\"}}"),
            ("/v1/dictate", b"{\"refine\": {\"temperature\": -1}}"),
            ("/v1/dictate", b"{\"vad\": {\"threshold\": 7}}"),
            ("/v1/dictate", b"{\"app_name\": 7}"),
            ("/v1/vocabulary", b"{}"),
            ("/v1/vocabulary", b"{\"term\": \"a\", \"spoken\": \"b\"}"),
            ("/v1/vocabulary", b"{\"spoken\": \"b\"}"),
        ];
        for (route, body) in refused {
            assert!(
                check(route, body).is_err(),
                "{route} {:?}",
                String::from_utf8_lossy(body)
            );
        }
        let taken: &[(&str, &[u8])] = &[
            (
                "/v1/refine",
                b"{\"text\": \"hi\", \"mode\": \"grammar\", \"max_tokens\": 4}",
            ),
            ("/v1/load", b"  "),
            ("/v1/delete", b"{\"model\": \"smollm2\"}"),
            ("/load", b"{\"model_path\": \"org/name\"}"),
            ("/generate", b"{\"prompt\": \"hi\"}"),
            ("/v1/status", b"anything"),
            ("/v1/dictate", b""),
            (
                "/v1/dictate",
                b"{\"path\": \"/a.wav\", \"refine\": null, \"vad\": null, \"stream\": true}",
            ),
            ("/v1/vocabulary", b"{\"term\": \"Dashwood\"}"),
            ("/v1/vocabulary", b"{\"spoken\": \"x\", \"written\": \"y\"}"),
        ];
        for (route, body) in taken {
            assert_eq!(check(route, body), Ok(()), "{route}");
        }
    }
}
