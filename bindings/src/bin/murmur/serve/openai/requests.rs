//! The OpenAI routes' requests and the checks each meets before the engine is asked
//! anything: pure functions of the bytes (or form fields), with no axum, engine or daemon
//! state, so that the fuzz harness compiles this file on its own beside `requests.rs`.
//!
//! OpenAI refuses arguments it does not know (`Unrecognized request argument supplied`),
//! and so does Murmur; arguments it knows but Murmur cannot honour (several choices,
//! log-probabilities, tools, JSON mode, images) are refused the same way, naming the
//! argument, rather than silently giving a different answer. Arguments that change
//! nothing here (`user`, `store`, `metadata`, a zero penalty) are accepted.

use murmur_core::Error;
use murmur_core::chat::ChatOptions;
use murmur_core::llm::chat_template::Message;
use murmur_core::transcribe::{Task, TranscribeOptions};
use serde::Deserialize;
use serde_json::{Map, Value};

fn invalid(param: &str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        name: param.into(),
        reason: reason.into(),
    }
}

fn unsupported(param: &str, what: &str) -> Error {
    invalid(param, format!("{what} is not supported by Murmur"))
}

/// `"stop"`: one string or a list of them.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Clone, Default)]
pub struct StreamOptions {
    pub include_usage: Option<bool>,
}

/// One message as OpenAI sends it: its content a string or a list of parts.
#[derive(Deserialize, Clone)]
pub struct MessageIn {
    pub role: String,
    pub content: Option<Value>,
    /// A participant's name: accepted, not used.
    #[allow(dead_code)]
    pub name: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `POST /v1/chat/completions`.
#[derive(Deserialize, Clone)]
pub struct ChatCompletionRequest {
    pub model: Option<String>,
    pub messages: Option<Vec<MessageIn>>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub max_tokens: Option<u64>,
    pub max_completion_tokens: Option<u64>,
    pub stop: Option<Stop>,
    pub seed: Option<i64>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
    pub n: Option<u64>,
    pub frequency_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
    pub logprobs: Option<bool>,
    pub top_logprobs: Option<u64>,
    pub logit_bias: Option<Map<String, Value>>,
    pub response_format: Option<Value>,
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Option<Value>,
    pub functions: Option<Vec<Value>>,
    pub function_call: Option<Value>,
    pub modalities: Option<Vec<String>>,
    pub audio: Option<Value>,
    pub prediction: Option<Value>,
    pub web_search_options: Option<Value>,
    /// Everything else: the arguments below are accepted and change nothing; any other
    /// is refused.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Arguments OpenAI knows that change nothing about Murmur's answer.
const NO_EFFECT: &[&str] = &[
    "user",
    "store",
    "metadata",
    "service_tier",
    "parallel_tool_calls",
    "reasoning_effort",
    "safety_identifier",
    "prompt_cache_key",
    "verbosity",
];

/// A validated chat request: the model named, core's options, and how to answer.
#[derive(Debug, Clone)]
pub struct ChatCall {
    /// `None`: the engine's default text model.
    pub model: Option<String>,
    pub options: ChatOptions,
    pub stream: bool,
    /// Streaming: a last chunk with the usage (`stream_options.include_usage`).
    pub include_usage: bool,
}

impl ChatCompletionRequest {
    pub fn call(&self) -> Result<ChatCall, Error> {
        if let Some(k) = self.other.keys().find(|k| !NO_EFFECT.contains(&k.as_str())) {
            return Err(invalid(k, "Unrecognized request argument supplied"));
        }
        // OpenAI requires a model; Murmur's routes all let the engine choose, and so does
        // this one (the default text model) when the field is left out or blank.
        let model = self
            .model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        let messages = self
            .messages
            .as_ref()
            .ok_or_else(|| invalid("messages", "`messages` is required"))?;
        self.refuse_unsupported()?;
        let messages = messages
            .iter()
            .enumerate()
            .map(|(i, m)| message(i, m))
            .collect::<Result<Vec<_>, _>>()?;
        let stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        };
        let max_tokens = self.max_completion_tokens.or(self.max_tokens);
        let defaults = ChatOptions::default();
        let options = ChatOptions {
            messages,
            temperature: self.temperature.unwrap_or(defaults.temperature),
            top_p: self.top_p.unwrap_or(defaults.top_p),
            max_tokens: max_tokens.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            stop,
            seed: self.seed.map(|s| s as u64),
            ..defaults
        };
        options.validate().map_err(|e| match e {
            // OpenAI's name for the budget is whichever the request used.
            Error::InvalidArgument { name, reason } if name == "max_tokens" => invalid(
                if self.max_completion_tokens.is_some() {
                    "max_completion_tokens"
                } else {
                    "max_tokens"
                },
                reason,
            ),
            other => other,
        })?;
        let stream = self.stream.unwrap_or(false);
        let include_usage = self
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        if self.stream_options.is_some() && !stream {
            return Err(invalid(
                "stream_options",
                "`stream_options` is only allowed when `stream` is true",
            ));
        }
        Ok(ChatCall {
            model: model.map(str::to_string),
            options,
            stream,
            include_usage,
        })
    }

    /// Arguments OpenAI knows that would ask for something Murmur does not do.
    fn refuse_unsupported(&self) -> Result<(), Error> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(unsupported("n", "more than one choice"));
        }
        for (name, v) in [
            ("frequency_penalty", self.frequency_penalty),
            ("presence_penalty", self.presence_penalty),
        ] {
            if v.is_some_and(|v| v != 0.0) {
                return Err(unsupported(name, "a non-zero penalty"));
            }
        }
        if self.logprobs == Some(true) || self.top_logprobs.is_some_and(|n| n > 0) {
            return Err(unsupported("logprobs", "log-probabilities"));
        }
        if self.logit_bias.as_ref().is_some_and(|b| !b.is_empty()) {
            return Err(unsupported("logit_bias", "a logit bias"));
        }
        if let Some(f) = &self.response_format {
            let kind = f.get("type").and_then(Value::as_str);
            if kind != Some("text") {
                return Err(unsupported(
                    "response_format",
                    "a response format other than `text`",
                ));
            }
        }
        let some = |v: &Option<Vec<Value>>| v.as_ref().is_some_and(|v| !v.is_empty());
        if some(&self.tools) || some(&self.functions) {
            return Err(unsupported("tools", "tool and function calling"));
        }
        for (name, v) in [
            ("tool_choice", &self.tool_choice),
            ("function_call", &self.function_call),
        ] {
            if v.as_ref().is_some_and(|v| v != "none" && v != "auto") {
                return Err(unsupported(name, "tool and function calling"));
            }
        }
        if let Some(m) = &self.modalities
            && m.iter().any(|m| m != "text")
        {
            return Err(unsupported("modalities", "output other than text"));
        }
        for (name, v, what) in [
            ("audio", &self.audio, "audio output"),
            ("prediction", &self.prediction, "predicted outputs"),
            ("web_search_options", &self.web_search_options, "web search"),
        ] {
            if v.as_ref().is_some_and(|v| !v.is_null()) {
                return Err(unsupported(name, what));
            }
        }
        Ok(())
    }
}

/// Message `i` as core's: `developer` is OpenAI's newer name for `system`; content is a
/// string or text parts (joined by newlines, as OpenAI reads them).
fn message(i: usize, m: &MessageIn) -> Result<Message, Error> {
    let role = match m.role.as_str() {
        "developer" => "system",
        r @ ("system" | "user" | "assistant") => r,
        "tool" | "function" => {
            return Err(unsupported(
                &format!("messages[{i}].role"),
                "tool and function calling",
            ));
        }
        other => {
            return Err(invalid(
                &format!("messages[{i}].role"),
                format!("{other:?} is not one of system, developer, user, assistant"),
            ));
        }
    };
    if let Some(k) = m.other.keys().find(|k| k.as_str() != "refusal") {
        let what = if k == "tool_calls" || k == "function_call" {
            return Err(unsupported(
                &format!("messages[{i}].{k}"),
                "tool and function calling",
            ));
        } else {
            "Unrecognized request argument supplied"
        };
        return Err(invalid(&format!("messages[{i}].{k}"), what));
    }
    let param = format!("messages[{i}].content");
    let content = match &m.content {
        None | Some(Value::Null) => {
            return Err(invalid(&param, "a message needs its content"));
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let kind = part.get("type").and_then(Value::as_str);
                match (kind, part.get("text").and_then(Value::as_str)) {
                    (Some("text"), Some(t)) => texts.push(t),
                    (Some("text"), None) => {
                        return Err(invalid(
                            &format!("{param}[{j}].text"),
                            "a text part needs its `text`",
                        ));
                    }
                    (Some(other), _) => {
                        return Err(unsupported(
                            &format!("{param}[{j}].type"),
                            &format!("content of type {other:?} (Murmur's chat reads text)"),
                        ));
                    }
                    (None, _) => {
                        return Err(invalid(
                            &format!("{param}[{j}].type"),
                            "every content part needs a `type`",
                        ));
                    }
                }
            }
            texts.join("\n")
        }
        Some(_) => {
            return Err(invalid(&param, "content is a string or a list of parts"));
        }
    };
    Ok(Message::new(role, content))
}

/// OpenAI's formats for a transcription or translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    Json,
    Text,
    Srt,
    Vtt,
    VerboseJson,
}

impl ResponseFormat {
    fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "json" => Self::Json,
            "text" => Self::Text,
            "srt" => Self::Srt,
            "vtt" => Self::Vtt,
            "verbose_json" => Self::VerboseJson,
            other => {
                return Err(invalid(
                    "response_format",
                    format!("{other:?} is not one of json, text, srt, verbose_json, vtt"),
                ));
            }
        })
    }
}

/// A validated transcription or translation request (the form's fields; the file apart).
#[derive(Debug, Clone)]
pub struct AudioCall {
    /// The speech model named; `None` for OpenAI's `whisper-1`, which means the
    /// engine's default speech model here.
    pub model: Option<String>,
    pub transcribe: TranscribeOptions,
    pub format: ResponseFormat,
    pub segments: bool,
    pub words: bool,
    pub stream: bool,
}

/// The name OpenAI's clients use for Whisper: the engine's default speech model here.
pub const OPENAI_WHISPER: &str = "whisper-1";

/// The form fields every audio route takes, besides `file`, and those only transcription
/// takes.
const AUDIO_FIELDS: &[&str] = &["model", "prompt", "response_format", "temperature"];
const TRANSCRIPTION_FIELDS: &[&str] = &[
    "language",
    "timestamp_granularities[]",
    "timestamp_granularities",
    "stream",
    "chunking_strategy",
    "include[]",
];

/// The form fields of `POST /v1/audio/transcriptions` (`task` transcribe) or
/// `/v1/audio/translations` (translate), `file` excluded, in order; a field may repeat
/// (`timestamp_granularities[]`).
pub fn audio_call(task: Task, fields: &[(String, String)]) -> Result<AudioCall, Error> {
    let translate = task == Task::Translate;
    for (k, _) in fields {
        let known = AUDIO_FIELDS.contains(&k.as_str())
            || (!translate && TRANSCRIPTION_FIELDS.contains(&k.as_str()));
        if !known {
            return Err(invalid(k, "Unrecognized request argument supplied"));
        }
    }
    let one = |name: &str| -> Result<Option<&str>, Error> {
        let mut values = fields.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.trim());
        if values.next().is_some() {
            return Err(invalid(name, "given more than once"));
        }
        Ok(first.filter(|v| !v.is_empty()))
    };
    let model = one("model")?.ok_or_else(|| invalid("model", "`model` is required"))?;
    let format = one("response_format")?
        .map(ResponseFormat::parse)
        .transpose()?
        .unwrap_or(ResponseFormat::Json);
    let temperature = one("temperature")?
        .map(|t| {
            t.parse::<f32>()
                .ok()
                .filter(|t| (0.0..=1.0).contains(t))
                .ok_or_else(|| invalid("temperature", format!("{t:?} is not a number in [0, 1]")))
        })
        .transpose()?;
    let stream = match one("stream")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(invalid("stream", format!("{other:?} is not true or false"))),
    };
    if let Some(c) = one("chunking_strategy")?
        && c != "auto"
    {
        return Err(unsupported(
            "chunking_strategy",
            "a chunking strategy other than auto",
        ));
    }
    if one("include[]")?.is_some() {
        return Err(unsupported(
            "include[]",
            "extra outputs (log-probabilities)",
        ));
    }
    let mut segments = false;
    let mut words = false;
    for (k, v) in fields {
        if k.starts_with("timestamp_granularities") {
            match v.trim() {
                "segment" => segments = true,
                "word" => words = true,
                other => {
                    return Err(invalid(
                        "timestamp_granularities[]",
                        format!("{other:?} is not one of word, segment"),
                    ));
                }
            }
        }
    }
    if (segments || words) && format != ResponseFormat::VerboseJson {
        return Err(invalid(
            "timestamp_granularities[]",
            "timestamps need `response_format` verbose_json",
        ));
    }
    if stream && !matches!(format, ResponseFormat::Json | ResponseFormat::Text) {
        return Err(invalid(
            "stream",
            "streaming answers with text deltas: use response_format json or text",
        ));
    }
    let defaults = TranscribeOptions::default();
    let transcribe = TranscribeOptions {
        language: one("language")?.map(str::to_string),
        task,
        // OpenAI: at 0 (the default) the temperature rises while the text is unlikely,
        // which is Whisper's fallback schedule; above 0, that temperature alone.
        temperatures: match temperature {
            Some(t) if t > 0.0 => vec![t],
            _ => defaults.temperatures.clone(),
        },
        initial_prompt: one("prompt")?.map(str::to_string),
        word_timestamps: words,
        ..defaults
    };
    transcribe.validate()?;
    Ok(AudioCall {
        model: Some(model.to_string()).filter(|m| m != OPENAI_WHISPER),
        transcribe,
        format,
        // verbose_json has segments unless only words were asked for (OpenAI's rule).
        segments: segments || !words,
        words,
        stream,
    })
}

/// The route's body (`/v1/chat/completions`) or form fields (the audio routes, written
/// `key=value&...`) through every check made before the engine: for fuzzing.
#[cfg_attr(
    not(test),
    allow(dead_code, reason = "the entry point of fuzz targets")
)]
pub fn check(route: &str, body: &[u8]) -> Result<(), String> {
    let text = |e: Error| e.to_string();
    match route {
        "/v1/chat/completions" => {
            let req: ChatCompletionRequest =
                serde_json::from_slice(body).map_err(|e| e.to_string())?;
            req.call().map_err(text)?;
        }
        "/v1/audio/transcriptions" | "/v1/audio/translations" => {
            let task = if route.ends_with("translations") {
                Task::Translate
            } else {
                Task::Transcribe
            };
            let fields: Vec<(String, String)> = String::from_utf8_lossy(body)
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            audio_call(task, &fields).map_err(text)?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(json: &str) -> Result<ChatCall, String> {
        let req: ChatCompletionRequest = serde_json::from_str(json).map_err(|e| e.to_string())?;
        req.call().map_err(|e| match e {
            Error::InvalidArgument { name, .. } => name,
            other => other.to_string(),
        })
    }

    const HI: &str = r#""model": "m", "messages": [{"role": "user", "content": "hi"}]"#;

    #[test]
    fn a_plain_request_reads_as_core_options() {
        let c = chat(&format!(
            r#"{{{HI}, "temperature": 0, "max_completion_tokens": 9, "stop": "\n", "seed": -1,
                "stream": true, "stream_options": {{"include_usage": true}}, "user": "u", "n": 1}}"#
        ))
        .unwrap();
        assert_eq!(c.model.as_deref(), Some("m"));
        assert_eq!(c.options.temperature, 0.0);
        assert_eq!(c.options.max_tokens, Some(9));
        assert_eq!(c.options.stop, vec!["\n".to_string()]);
        assert_eq!(c.options.seed, Some(u64::MAX));
        assert!(c.stream && c.include_usage);
    }

    #[test]
    fn content_parts_and_developer_messages() {
        let c = chat(
            r#"{"model": "m", "messages": [{"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}"#,
        )
        .unwrap();
        assert_eq!(c.options.messages[0], Message::new("system", "be brief"));
        assert_eq!(c.options.messages[1].content, "a\nb");
    }

    #[test]
    fn unknown_and_unsupported_arguments_are_named() {
        for (extra, param) in [
            (r#""frobnicate": 1"#, "frobnicate"),
            (r#""n": 2"#, "n"),
            (r#""logprobs": true"#, "logprobs"),
            (r#""tools": [{"type": "function"}]"#, "tools"),
            (
                r#""response_format": {"type": "json_object"}"#,
                "response_format",
            ),
            (r#""frequency_penalty": 0.5"#, "frequency_penalty"),
            (r#""temperature": 3"#, "temperature"),
            (r#""max_tokens": 0"#, "max_tokens"),
            (r#""max_completion_tokens": 0"#, "max_completion_tokens"),
            (r#""stop": ["a", "b", "c", "d", "e"]"#, "stop"),
            (
                r#""stream_options": {"include_usage": true}"#,
                "stream_options",
            ),
        ] {
            assert_eq!(
                chat(&format!("{{{HI}, {extra}}}")).err().as_deref(),
                Some(param),
                "{extra}"
            );
        }
        // Without a model, the engine's default answers (OpenAI would refuse).
        let c = chat(r#"{"messages": [{"role": "user", "content": "hi"}], "model": " "}"#).unwrap();
        assert_eq!(c.model, None);
        assert_eq!(chat(r#"{"model": "m"}"#).unwrap_err(), "messages");
        assert_eq!(
            chat(r#"{"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#)
                .unwrap_err(),
            "messages[0].content[0].type"
        );
        assert_eq!(
            chat(r#"{"model": "m", "messages": [{"role": "tool", "content": "x"}]}"#).unwrap_err(),
            "messages[0].role"
        );
        assert_eq!(
            chat(r#"{"model": "m", "messages": [{"role": "user"}]}"#).unwrap_err(),
            "messages[0].content"
        );
    }

    #[test]
    fn the_fuzz_entry_point_reads_bodies_and_forms() {
        let body = format!("{{{HI}}}");
        assert!(check("/v1/chat/completions", body.as_bytes()).is_ok());
        assert!(check("/v1/chat/completions", b"{").is_err());
        assert!(
            check(
                "/v1/audio/transcriptions",
                b"model=whisper-1&response_format=srt"
            )
            .is_ok()
        );
        assert!(check("/v1/audio/translations", b"model=m&language=en").is_err());
        assert!(check("/v1/other", b"\xff").is_ok());
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn audio_fields_read_as_transcribe_options() {
        let c = audio_call(
            Task::Transcribe,
            &form(&[
                ("model", "whisper-1"),
                ("language", "en"),
                ("prompt", "Dashwood"),
                ("response_format", "verbose_json"),
                ("timestamp_granularities[]", "word"),
                ("temperature", "0.2"),
            ]),
        )
        .unwrap();
        assert_eq!(c.model, None);
        assert_eq!(c.format, ResponseFormat::VerboseJson);
        assert!(c.words && !c.segments);
        assert_eq!(c.transcribe.temperatures, vec![0.2]);
        assert_eq!(c.transcribe.language.as_deref(), Some("en"));
        assert_eq!(c.transcribe.initial_prompt.as_deref(), Some("Dashwood"));
        assert!(c.transcribe.word_timestamps);
        let t = audio_call(Task::Translate, &form(&[("model", "base")])).unwrap();
        assert_eq!(t.model.as_deref(), Some("base"));
        assert_eq!(t.transcribe.task, Task::Translate);
        assert!(t.segments && !t.words);
    }

    #[test]
    fn bad_audio_fields_are_named() {
        let param = |task, pairs: &[(&str, &str)]| match audio_call(task, &form(pairs)) {
            Err(Error::InvalidArgument { name, .. }) => name,
            other => panic!("{pairs:?}: {other:?}"),
        };
        let t = Task::Transcribe;
        assert_eq!(param(t, &[]), "model");
        assert_eq!(
            param(t, &[("model", "m"), ("response_format", "xml")]),
            "response_format"
        );
        assert_eq!(
            param(t, &[("model", "m"), ("temperature", "7")]),
            "temperature"
        );
        assert_eq!(
            param(t, &[("model", "m"), ("temperature", "NaN")]),
            "temperature"
        );
        assert_eq!(
            param(t, &[("model", "m"), ("timestamp_granularities[]", "word")]),
            "timestamp_granularities[]"
        );
        assert_eq!(
            param(
                t,
                &[
                    ("model", "m"),
                    ("stream", "true"),
                    ("response_format", "srt")
                ]
            ),
            "stream"
        );
        assert_eq!(param(t, &[("model", "m"), ("model", "n")]), "model");
        assert_eq!(param(t, &[("model", "m"), ("colour", "red")]), "colour");
        assert_eq!(
            param(Task::Translate, &[("model", "m"), ("language", "en")]),
            "language"
        );
    }
}
