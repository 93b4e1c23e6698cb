//! The JSON bodies of serve's routes, and the checks each meets before the engine is
//! asked anything: pure functions of the bytes, with no axum, engine or daemon state, so
//! that a fuzz target can compile this file on its own (`#[path = ...] mod requests;`,
//! with serde, serde_json and murmur-core) and call [`check`] on any input. The handlers
//! (`api.rs`, `sidecar.rs`, `live.rs`) read their bodies through the same functions.

use murmur_core::Error;
use murmur_core::catalog::{AddModel, Capability};
use murmur_core::dictate::DictateOptions;
use murmur_core::live::{LiveOptions, PcmFormat};
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
        "/v1/live" => {
            // A binary message (audio), then a text one: options or `finish`.
            let _ = (
                PcmEncoding::S16le.samples(body),
                PcmEncoding::F32le.samples(body),
            );
            if !is_finish(body) {
                let (opts, _) = live_options(body, &LiveQuery::default())?;
                opts.validate().map_err(text)?;
            }
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

/// How the samples of live audio are written: `s16le` (signed 16-bit, the default: what
/// microphones and `sox -e signed -b 16` give) or `f32le` (32-bit float in [-1, 1]), both
/// little-endian and interleaved. Read from `GET /v1/live`'s query or options message,
/// and from `murmur live --encoding`.
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PcmEncoding {
    #[default]
    S16le,
    F32le,
}

/// Samples decoded from bytes in a [`PcmEncoding`].
#[derive(Debug, PartialEq)]
pub enum PcmSamples {
    I16(Vec<i16>),
    F32(Vec<f32>),
}

impl PcmEncoding {
    /// Bytes per sample.
    pub fn sample_bytes(self) -> usize {
        match self {
            Self::S16le => 2,
            Self::F32le => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::S16le => "s16le",
            Self::F32le => "f32le",
        }
    }

    /// `bytes` as samples: whole samples only, so a message that ends inside one is
    /// refused (a stream reader keeps such a tail for its next read instead).
    pub fn samples(self, bytes: &[u8]) -> Result<PcmSamples, String> {
        let n = self.sample_bytes();
        if !bytes.chunks_exact(n).remainder().is_empty() {
            return Err(format!(
                "{} bytes are not whole {} samples ({n} bytes each)",
                bytes.len(),
                self.name()
            ));
        }
        Ok(match self {
            Self::S16le => PcmSamples::I16(
                bytes
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect(),
            ),
            Self::F32le => PcmSamples::F32(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
        })
    }
}

impl std::str::FromStr for PcmEncoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "s16le" => Ok(Self::S16le),
            "f32le" => Ok(Self::F32le),
            _ => Err(format!("{s:?} is not an encoding: give s16le or f32le")),
        }
    }
}

/// `GET /v1/live?sample_rate=&channels=&encoding=`: the audio's format when the client
/// sends no options message, or one without a `format`. Default 16 kHz mono `s16le`.
#[derive(Deserialize, Default, Clone, Copy)]
pub struct LiveQuery {
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub encoding: Option<PcmEncoding>,
}

impl LiveQuery {
    /// The format and encoding the query asks for.
    pub fn format(&self) -> (PcmFormat, PcmEncoding) {
        let default = PcmFormat::default();
        let format = PcmFormat {
            sample_rate: self.sample_rate.unwrap_or(default.sample_rate),
            channels: self.channels.unwrap_or(default.channels),
        };
        (format, self.encoding.unwrap_or_default())
    }

    /// The options of a session that sent no options message (core's defaults, the
    /// query's format).
    pub fn options(&self) -> (LiveOptions, PcmEncoding) {
        let (format, encoding) = self.format();
        let opts = LiveOptions {
            format,
            ..LiveOptions::default()
        };
        (opts, encoding)
    }
}

/// Whether a live session's text message ends the audio: `{"type": "finish"}`, or just
/// `finish`.
pub fn is_finish(message: &[u8]) -> bool {
    let text = String::from_utf8_lossy(message);
    let text = text.trim();
    if text == "finish" {
        return true;
    }
    #[derive(Deserialize)]
    struct Tagged {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_str::<Tagged>(text).is_ok_and(|t| t.kind == "finish")
}

/// A live session's options message: core's `LiveOptions` (`dictate`'s options flat,
/// `format`, `step_ms`) and an `encoding`; what it leaves out of the format (`format`,
/// `encoding`) is the query's. Not yet validated (see `LiveOptions::validate`).
pub fn live_options(
    message: &[u8],
    query: &LiveQuery,
) -> Result<(LiveOptions, PcmEncoding), String> {
    let mut value: serde_json::Value = parse_body(message)?;
    let Some(fields) = value.as_object_mut() else {
        return Err("the options message must be a JSON object".into());
    };
    let encoding = match fields.remove("encoding") {
        None => None,
        Some(e) => Some(
            serde_json::from_value::<PcmEncoding>(e)
                .map_err(|e| format!("`encoding`: {e}; give \"s16le\" or \"f32le\""))?,
        ),
    };
    let has_format = fields.contains_key("format");
    let mut opts: LiveOptions =
        serde_json::from_value(value).map_err(|e| format!("malformed options: {e}"))?;
    let (format, default_encoding) = query.format();
    if !has_format {
        opts.format = format;
    }
    Ok((opts, encoding.unwrap_or(default_encoding)))
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
            ("/v1/live", b"[1, 2]"),
            ("/v1/live", b"{\"step_ms\": 5}"),
            ("/v1/live", b"{\"encoding\": \"u8\"}"),
            ("/v1/live", b"{\"format\": {\"sample_rate\": 0}}"),
            ("/v1/live", b"{\"format\": {\"channels\": 70000}}"),
            ("/v1/live", b"{\"refine\": {\"mode\": \"poem\"}}"),
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
            ("/v1/live", b""),
            ("/v1/live", b"finish"),
            ("/v1/live", b"{\"type\": \"finish\"}"),
            (
                "/v1/live",
                b"{\"format\": {\"sample_rate\": 48000, \"channels\": 2}, \"refine\": null, \"encoding\": \"f32le\"}",
            ),
        ];
        for (route, body) in taken {
            assert_eq!(check(route, body), Ok(()), "{route}");
        }
    }

    #[test]
    fn live_options_take_the_query_format_unless_they_give_one() {
        let query = LiveQuery {
            sample_rate: Some(48_000),
            channels: Some(2),
            encoding: Some(PcmEncoding::F32le),
        };
        let (opts, encoding) = live_options(b"{\"refine\": null}", &query).unwrap();
        assert_eq!((opts.format.sample_rate, opts.format.channels), (48_000, 2));
        assert_eq!(encoding, PcmEncoding::F32le);
        assert!(opts.dictate.refine.is_none());
        let given = br#"{"format": {"sample_rate": 44100}, "encoding": "s16le", "step_ms": 500}"#;
        let (opts, encoding) = live_options(given, &query).unwrap();
        assert_eq!((opts.format.sample_rate, opts.format.channels), (44_100, 1));
        assert_eq!((encoding, opts.step_ms), (PcmEncoding::S16le, 500));
        assert!(opts.dictate.refine.is_some());
        let (opts, encoding) = LiveQuery::default().options();
        assert_eq!(opts.format, PcmFormat::default());
        assert_eq!(encoding, PcmEncoding::S16le);
        assert!(is_finish(b" finish\n") && is_finish(br#"{"type": "finish"}"#));
        assert!(!is_finish(b"{}") && !is_finish(br#"{"type": "start"}"#));
    }

    #[test]
    fn pcm_bytes_decode_to_whole_samples_only() {
        let bytes = [0x01, 0x80, 0xff, 0x7f];
        assert_eq!(
            PcmEncoding::S16le.samples(&bytes),
            Ok(PcmSamples::I16(vec![i16::MIN + 1, i16::MAX]))
        );
        assert_eq!(
            PcmEncoding::F32le.samples(&0.5f32.to_le_bytes()),
            Ok(PcmSamples::F32(vec![0.5]))
        );
        assert!(PcmEncoding::S16le.samples(&bytes[..3]).is_err());
        assert!(PcmEncoding::F32le.samples(&bytes[..2]).is_err());
        assert_eq!("f32le".parse(), Ok(PcmEncoding::F32le));
        assert!("u8".parse::<PcmEncoding>().is_err());
    }
}
