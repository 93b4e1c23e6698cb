//! `POST /v1/audio/transcriptions` and `/v1/audio/translations`: an uploaded file through
//! core's dictation pipeline without the cleanup (so the voice-activity trimming and the
//! user's vocabulary apply, as on `/v1/dictate`), answered in OpenAI's formats. A model
//! that listens (Qwen2.5-Omni) transcribes the file through core's `transcribe` instead.

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use murmur_core::CancelToken;
use murmur_core::audio::AudioInput;
use murmur_core::catalog::Capability;
use murmur_core::dictate::{DictateEvent, DictateOptions, DictateResult};
use murmur_core::transcribe::{Segment, Task, TranscribeOptions, Transcript, to_srt, to_vtt};
use murmur_core::whisper::tokenizer::LANGUAGES;
use serde_json::{Value, json};

use super::requests::{AudioCall, ResponseFormat, audio_call};
use crate::serve::stream;
use crate::serve::{ApiError, Shared, body_bytes};

/// Form fields besides the file, and the bytes each may hold: a prompt is short (Whisper
/// reads at most 224 tokens of it), and a form of thousands of fields is no request.
const MAX_FIELDS: usize = 32;
const MAX_FIELD_BYTES: usize = 64 << 10;

pub async fn transcriptions(State(st): State<Shared>, req: Request) -> Result<Response, ApiError> {
    answer(st, req, Task::Transcribe).await
}

pub async fn translations(State(st): State<Shared>, req: Request) -> Result<Response, ApiError> {
    answer(st, req, Task::Translate).await
}

/// The form: its `file`, and its other fields in order.
struct Form {
    file: Bytes,
    fields: Vec<(String, String)>,
}

/// Reads the multipart form (the whole body within the upload limit first, as every
/// upload is read, with its stall timeout).
async fn form(st: &Shared, req: Request) -> Result<Form, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let boundary = multer::parse_boundary(&content_type).map_err(|_| {
        ApiError::bad_request(
            "send the audio as multipart/form-data with a `file` field (and `model`)",
        )
    })?;
    let body = body_bytes(req, st, st.limits.upload).await?;
    let malformed = |e: multer::Error| ApiError::bad_request(format!("malformed form: {e}"));
    let mut parts = multer::Multipart::new(
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) }),
        boundary,
    );
    let (mut file, mut fields) = (None, Vec::new());
    while let Some(field) = parts.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            if file.is_some() {
                return Err(field_error("file", "given more than once"));
            }
            file = Some(field.bytes().await.map_err(malformed)?);
            continue;
        }
        if fields.len() == MAX_FIELDS {
            return Err(ApiError::bad_request(format!(
                "the form has more than {MAX_FIELDS} fields"
            )));
        }
        let value = field.bytes().await.map_err(malformed)?;
        if value.len() > MAX_FIELD_BYTES {
            return Err(field_error(
                &name,
                &format!("{} bytes; at most {MAX_FIELD_BYTES}", value.len()),
            ));
        }
        let value = String::from_utf8(value.to_vec())
            .map_err(|_| field_error(&name, "is not UTF-8 text"))?;
        fields.push((name, value));
    }
    let file = file
        .filter(|f| !f.is_empty())
        .ok_or_else(|| field_error("file", "the form needs the audio in a `file` field"))?;
    Ok(Form { file, fields })
}

fn field_error(name: &str, reason: &str) -> ApiError {
    ApiError::from(murmur_core::Error::InvalidArgument {
        name: name.into(),
        reason: reason.into(),
    })
}

async fn answer(st: Shared, req: Request, task: Task) -> Result<Response, ApiError> {
    let form = form(&st, req).await?;
    let call = audio_call(task, &form.fields)?;
    // The model is checked before the audio is decoded (an unknown one is a 404 at once).
    let chosen = st
        .engine
        .choose_downloaded_transcriber(call.model.as_deref())?;
    let listens = chosen.kind() == Capability::Text;
    let model = chosen.id;
    let audio = AudioInput::Encoded(form.file.to_vec());
    if listens {
        return listened(st, call, task, model, audio).await;
    }
    let opts = DictateOptions {
        speech_model: Some(model),
        transcribe: call.transcribe.clone(),
        refine: None,
        ..DictateOptions::default()
    };
    let cancel = CancelToken::new();
    let engine = st.engine.clone();
    if !call.stream {
        let guard = cancel.drop_guard();
        let result = engine.dictate(audio, &opts, |_| {}, &cancel).await;
        guard.disarm();
        return Ok(render(&call, task, &Heard::dictated(&result?)));
    }
    let (events, body) = stream::events(Some(&cancel));
    tokio::spawn(async move {
        let deltas = events.clone();
        let on_event = move |e: DictateEvent<'_>| {
            if let DictateEvent::Segment(s) = e {
                deltas.send(&json!({"type": "transcript.text.delta", "delta": s.text}));
            }
        };
        match engine.dictate(audio, &opts, on_event, &cancel).await {
            Ok(r) => {
                events.send(&json!({"type": "transcript.text.done", "text": r.text}));
            }
            Err(murmur_core::Error::Cancelled) => return,
            Err(e) => {
                events.send(&json!({"type": "error", "error": ApiError::from(e).body()}));
            }
        }
        events.done();
    });
    Ok(body.into_response())
}

/// A model that listens (Qwen2.5-Omni) transcribes the file itself, through core's
/// `transcribe` (dictation's voice-activity trimming and vocabulary replacements are
/// Whisper's pipeline): its segments stream as deltas like Whisper's.
async fn listened(
    st: Shared,
    call: AudioCall,
    task: Task,
    model: String,
    audio: AudioInput,
) -> Result<Response, ApiError> {
    let opts = TranscribeOptions {
        task,
        ..call.transcribe.clone()
    };
    let cancel = CancelToken::new();
    let engine = st.engine.clone();
    if !call.stream {
        let guard = cancel.drop_guard();
        let result = engine
            .transcribe(Some(&model), audio, &opts, |_| {}, &cancel)
            .await;
        guard.disarm();
        return Ok(render(&call, task, &Heard::transcribed(&result?)));
    }
    let (events, body) = stream::events(Some(&cancel));
    tokio::spawn(async move {
        let deltas = events.clone();
        let on_segment = move |s: &Segment| {
            deltas.send(&json!({"type": "transcript.text.delta", "delta": s.text}));
        };
        match engine
            .transcribe(Some(&model), audio, &opts, on_segment, &cancel)
            .await
        {
            Ok(t) => {
                events.send(&json!({"type": "transcript.text.done", "text": t.text}));
            }
            Err(murmur_core::Error::Cancelled) => return,
            Err(e) => {
                events.send(&json!({"type": "error", "error": ApiError::from(e).body()}));
            }
        }
        events.done();
    });
    Ok(body.into_response())
}

/// What either pipeline heard, as the formats need it.
struct Heard {
    transcript: Transcript,
}

impl Heard {
    fn dictated(r: &DictateResult) -> Self {
        Self {
            transcript: Transcript {
                model: String::new(),
                text: r.text.clone(),
                language: r.language.clone(),
                language_probability: None,
                segments: r.segments.clone(),
                duration: r.audio_secs as f32,
            },
        }
    }

    fn transcribed(t: &Transcript) -> Self {
        Self {
            transcript: t.clone(),
        }
    }
}

/// The result in the format asked for.
fn render(call: &AudioCall, task: Task, heard: &Heard) -> Response {
    let r = &heard.transcript;
    let text = |body: String| ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body);
    let transcript = || r.clone();
    // OpenAI bills whisper by the second; its answers say how many.
    let usage = json!({"type": "duration", "seconds": (r.duration as f64).ceil() as u64});
    match call.format {
        ResponseFormat::Json => axum::Json(json!({"text": r.text, "usage": usage})).into_response(),
        ResponseFormat::Text => text(format!("{}\n", r.text)).into_response(),
        ResponseFormat::Srt => text(to_srt(&transcript())).into_response(),
        ResponseFormat::Vtt => (
            [(header::CONTENT_TYPE, "text/vtt; charset=utf-8")],
            to_vtt(&transcript()),
        )
            .into_response(),
        ResponseFormat::VerboseJson => axum::Json(verbose(call, task, r, usage)).into_response(),
    }
}

/// OpenAI's `verbose_json`: the language by its English name, the duration, and the
/// segments and words asked for (`timestamp_granularities[]`).
fn verbose(call: &AudioCall, task: Task, r: &Transcript, usage: Value) -> Value {
    let language = LANGUAGES
        .iter()
        .find(|(code, _)| *code == r.language)
        .map_or(r.language.as_str(), |(_, name)| name);
    let mut v = json!({
        "task": match task {
            Task::Transcribe => "transcribe",
            Task::Translate => "translate",
        },
        "language": language,
        "duration": r.duration,
        "text": r.text,
        "usage": usage,
    });
    if call.segments {
        v["segments"] = r
            .segments
            .iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "seek": s.seek,
                    "start": s.start,
                    "end": s.end,
                    "text": s.text,
                    "tokens": s.tokens,
                    "temperature": s.temperature,
                    "avg_logprob": s.avg_logprob,
                    "compression_ratio": s.compression_ratio,
                    "no_speech_prob": s.no_speech_prob,
                })
            })
            .collect();
    }
    if call.words {
        v["words"] = r
            .segments
            .iter()
            .flat_map(|s| s.words.iter().flatten())
            .map(|w| json!({"word": w.word.trim(), "start": w.start, "end": w.end}))
            .collect();
    }
    v
}
