//! The fuzz harnesses: one function per target, taking the fuzzer's bytes.
//!
//! `tests/fuzz/fuzz_targets/*.rs` are one-line cargo-fuzz wrappers around these, and
//! `tests/fuzz_corpora.rs` replays every committed corpus file through the same
//! functions on stable Rust in CI, so a crash the fuzzer once found stays fixed. A
//! harness returns normally for any input: a typed error is the expected answer to
//! garbage; a panic, an abort, a hang or an allocation past libFuzzer's limit is a bug.

use std::sync::OnceLock;

/// The daemon's request bodies and their checks: pure functions the handlers call.
#[path = "../../bindings/src/bin/murmur/serve/requests.rs"]
#[allow(dead_code)]
mod serve_requests;

/// The OpenAI routes' requests and form fields, likewise.
#[path = "../../bindings/src/bin/murmur/serve/openai/requests.rs"]
#[allow(dead_code)]
mod openai_requests;

use murmur_core::llm::chat_template::{ChatTemplate, Message};
use murmur_core::llm::load::ModelConfig;
use murmur_core::llm::load::parse_gguf_header;
use murmur_core::llm::load::safetensors::parse_safetensors_header;
use murmur_core::llm::models::{dims::layer_count, parse_model_config};
use murmur_core::llm::tokenizer::Tokenizer;

/// A harness: the fuzzer's bytes in, nothing out.
pub type Harness = fn(&[u8]);

/// Every target, by name: the corpus folder under `tests/fuzz/corpus/` and its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("chat_template", chat_template),
    ("ctranslate2", ctranslate2),
    ("gguf", gguf),
    ("safetensors", safetensors),
    ("audio", audio),
    ("requests", requests),
];

/// Split at the first NUL: two inputs from one byte string.
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The audio target's set-up: a panic that the decoder contains (symphonia has a few, e.g.
/// an ADTS frame count that steps by 0; `audio::decode` catches them and answers
/// `Error::Audio`, which is what a caller sees) is reported but not counted as a crash.
/// libfuzzer-sys's hook would abort on any panic, contained or not; one that escapes a
/// harness still aborts, through libfuzzer-sys's own catch.
pub fn init_audio() {
    std::panic::set_hook(Box::new(|info| eprintln!("contained panic: {info}")));
}

/// What every target loads once before the first input (libFuzzer's initialize hook),
/// so that no input is charged for it: the real Qwen3 tokenizer.
pub fn init() {
    qwen3();
}

fn qwen3() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        Tokenizer::from_file(&crate::fixture("qwen3-tokenizer/tokenizer.json"))
            .expect("the Qwen3 tokenizer fixture loads")
    })
}

/// A chat template (model files carry them, so they may be hostile) rendering a message
/// (user text, so it may be hostile), then the prompt tokenized. Whatever the template
/// does, message text never yields an added token.
pub fn chat_template(data: &[u8]) {
    let (source, content) = split(data);
    let source = String::from_utf8_lossy(source).into_owned();
    let content = String::from_utf8_lossy(content).into_owned();
    let Ok(template) = ChatTemplate::new(source, Some("<s>".into()), Some("</s>".into())) else {
        return;
    };
    let messages = [
        Message::system("Fix the text."),
        Message::user(content.clone()),
    ];
    let Ok(prompt) = template.render_marked(&messages, true, Some(false)) else {
        return;
    };
    let tok = qwen3();
    let _ = tok.encode_prompt(&prompt);
    let added = tok.hf().get_added_tokens_decoder();
    let literal = tok
        .encode_literal(&content)
        .expect("literal encoding never fails");
    assert!(
        literal.iter().all(|id| !added.contains_key(id)),
        "message text became a control token"
    );
}

/// A CTranslate2 `model.bin` (Whisper weights as faster-whisper ships them).
pub fn ctranslate2(data: &[u8]) {
    let _ = murmur_core::whisper::load::parse_ctranslate2(data);
}

/// A GGUF file: the header (metadata, tensor table), then everything read from it before
/// a weight is: the model's dimensions, its tokenizer (vocabulary, merges, token types)
/// and its chat template, each used once.
pub fn gguf(data: &[u8]) {
    let Ok(header) = parse_gguf_header(data) else {
        return;
    };
    let _ = header.check_types();
    let _ = ModelConfig::from_gguf(&header);
    if let Ok(tok) = Tokenizer::from_gguf(&header) {
        let _ = tok.encode("Hello <|im_end|> world", true);
        let _ = tok.encode_literal("Hello <|im_end|> world");
        let _ = tok.decode(&[0, 1, 2, 3], true);
    }
    if let Ok(template) = ChatTemplate::from_gguf(&header) {
        let _ = template.render_marked(&[Message::user("Hi")], true, Some(false));
    }
}

/// A `config.json` and a safetensors file (split at the first NUL): both parsed as the
/// loader does, then the dimensions checked against the tensors' shapes.
pub fn safetensors(data: &[u8]) {
    let (config, tensors) = split(data);
    let spec = parse_model_config(config);
    let header = parse_safetensors_header(tensors);
    if let (Ok(spec), Ok(header)) = (spec, header) {
        let shape = |name: &str| {
            header
                .tensors
                .iter()
                .find(|t| t.name == name)
                .map(|t| t.shape.clone())
        };
        let layers = layer_count(header.tensors.iter().map(|t| t.name.as_str()));
        let _ = spec.dims.check_tensors(shape, layers);
    }
}

/// Encoded audio of any container (WAV, FLAC, MP3, Ogg/Vorbis, MP4/AAC), the extension
/// hint before the first NUL: decoded and resampled to 16 kHz mono through the streaming
/// path a transcription uses, up to 30 s of output (a window).
pub fn audio(data: &[u8]) {
    let (hint, bytes) = split(data);
    let hint = std::str::from_utf8(hint).ok().filter(|h| h.len() <= 8);
    if let Ok(samples) = murmur_core::audio::decode_prefix(bytes, hint, 30.0) {
        assert!(samples.len() <= 30 * 16_000, "more than was asked for");
        assert!(
            samples.iter().all(|s| s.is_finite()),
            "a sample is not finite"
        );
    }
}

/// A request body as the daemon's routes read it, and every check it meets before a model
/// is touched: `/v1/refine`'s options (core's `RefineOptions`, flat, with its mode and
/// prompt), `/v1/transcribe`'s (`TranscribeOptions`), `/v1/dictate`'s (`DictateOptions`)
/// and `/v1/vocabulary`'s entries, a model source with its
/// revision (`/v1/models`), an idle timeout, the OpenAI routes' bodies and form fields.
/// Also the query string of an upload.
pub fn requests(data: &[u8]) {
    use murmur_core::EngineConfig;
    use murmur_core::refine::{RefineMode, RefineOptions};
    use murmur_core::transcribe::TranscribeOptions;
    // The OpenAI routes: a chat body, and form fields written `key=value&...`.
    for route in [
        "/v1/chat/completions",
        "/v1/audio/transcriptions",
        "/v1/audio/translations",
    ] {
        let _ = openai_requests::check(route, data);
    }
    let text = String::from_utf8_lossy(data);
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data)
        .or_else(|_| serde_urlencoded_to_json(&text))
    else {
        return;
    };
    if let Ok(opts) = serde_json::from_value::<RefineOptions>(body.clone())
        && opts.validate().is_ok()
    {
        let _ = opts.mode.user_message("text");
    }
    let field = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let _ = RefineMode::parse(field("mode").as_deref(), field("prompt"));
    if let Ok(opts) = serde_json::from_value::<TranscribeOptions>(body.clone()) {
        let _ = opts.validate();
    }
    if let Some(source) = field("model")
        && let Some((_, revision)) = source.split_once('@')
    {
        let _ = murmur_core::hub::names::check_revision(revision);
    }
    // Every route's body as the daemon reads it (serve/requests.rs, compiled in here).
    for route in [
        "/v1/models/add",
        "/v1/models/remove",
        "/v1/download",
        "/v1/delete",
        "/v1/load",
        "/v1/refine",
        "/v1/dictate",
        "/v1/vocabulary",
        "/v1/live",
        "/load",
        "/generate",
    ] {
        let _ = serve_requests::check(route, data);
    }
    if let Some(secs) = body.get("idle").and_then(|v| v.as_f64()) {
        let _ = EngineConfig::idle_unload_from_secs("idle", secs);
    }
}

/// `a=1&b=x` as a JSON object of strings and numbers (how the upload route's query
/// string reaches the same option types).
fn serde_urlencoded_to_json(query: &str) -> Result<serde_json::Value, ()> {
    let mut map = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or(())?;
        let value = match v.parse::<f64>() {
            Ok(n) => serde_json::json!(n),
            Err(_) => serde_json::json!(v),
        };
        map.insert(k.to_string(), value);
    }
    Ok(serde_json::Value::Object(map))
}
