//! Chat templates: the Jinja programs that turn a conversation into a model's prompt text.
//!
//! Models ship their prompt format as a Jinja template (`tokenizer_config.json`,
//! `chat_template.jinja`, or the GGUF key `tokenizer.chat_template`), written for
//! Python's jinja2 as configured by HF transformers' `apply_chat_template`. A prompt that
//! differs by one newline from what the model was trained on measurably degrades its
//! answers, so rendering here reproduces that environment rather than plain Jinja:
//!
//! - `trim_blocks` and `lstrip_blocks` on, a trailing newline of the source dropped;
//! - undefined values lenient, like jinja2's default `Undefined` (printing one gives "",
//!   testing it is false, but reading an attribute of one is an error);
//! - Python string/list/dict methods (`.startswith`, `.strip('\n')`, `.split`, `.items()`)
//!   through minijinja-contrib's `pycompat`;
//! - transformers' globals and filters: `raise_exception`, `strftime_now`, and a `tojson`
//!   that writes like Python's `json.dumps(ensure_ascii=False)` — `", "` and `": "`
//!   separators, no HTML escaping (minijinja's own `tojson` escapes `<`, `>`, `&`, `'`,
//!   which would change tool schemas in the prompt);
//! - the context transformers passes: `messages`, `tools` and `documents` (none),
//!   `add_generation_prompt`, `bos_token`/`eos_token` when known, and `enable_thinking`
//!   only when given (Qwen3's template tests `enable_thinking is defined`);
//! - `{% generation %}` blocks (transformers' assistant-mask extension) render their body.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, ValueKind};
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::llm::load::gguf::{GgufHeader, Value as GgufValue};

/// The name the template is stored under in its environment.
const TEMPLATE_NAME: &str = "chat_template";

/// ChatML, which transformers used as the default template for models without one.
const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// One conversation turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant` (or `tool`, where the template knows it).
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// A message as the template sees it: a mapping whose keys iterate in Python's insertion
/// order (`role`, then `content`), so `message.items()` and `message | tojson` match
/// transformers. (A serialized struct would become a sorted map.)
#[derive(Debug)]
struct MessageValue {
    role: Value,
    content: Value,
}

impl Object for MessageValue {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "role" => Some(self.role.clone()),
            "content" => Some(self.content.clone()),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["role", "content"])
    }
}

/// A compiled chat template with the special-token strings it may reference. Compile once
/// (construction parses the template) and render per request.
#[derive(Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos_token: Option<String>,
    eos_token: Option<String>,
    fallback: bool,
}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source_len", &self.source.len())
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .field("fallback", &self.fallback)
            .finish()
    }
}

fn template_err(e: minijinja::Error) -> Error {
    Error::Template {
        reason: e.to_string(),
    }
}

impl ChatTemplate {
    /// Compile `source`. Fails with [`Error::Template`] on a syntax error.
    pub fn new(
        source: String,
        bos_token: Option<String>,
        eos_token: Option<String>,
    ) -> Result<Self> {
        let mut env = environment();
        env.add_template_owned(TEMPLATE_NAME, rewrite_generation_tags(&source))
            .map_err(template_err)?;
        Ok(ChatTemplate {
            env,
            source,
            bos_token,
            eos_token,
            fallback: false,
        })
    }

    /// The template of an HF model folder: `chat_template.jinja` next to `path` when present
    /// (newer repos keep it there, and transformers prefers it), else the `chat_template`
    /// key of the `tokenizer_config.json` at `path` (a string, or a list of
    /// `{name, template}` from which `default` is taken). BOS/EOS strings come from the
    /// config's `bos_token`/`eos_token`.
    ///
    /// A model without any template gets [`default_chatml`] (see
    /// [`ChatTemplate::is_fallback`]). A missing `tokenizer_config.json` is not an error;
    /// an unreadable or malformed one is.
    pub fn from_tokenizer_config(path: &Path) -> Result<Self> {
        let config: Option<serde_json::Value> = match std::fs::read(path) {
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| Error::corrupt(path, format!("invalid JSON: {e}")))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(path, e)),
        };
        let token = |key: &str| -> Option<String> {
            match config.as_ref()?.get(key)? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
                _ => None,
            }
        };
        let (bos, eos) = (token("bos_token"), token("eos_token"));

        let jinja = path.with_file_name("chat_template.jinja");
        let source = match std::fs::read_to_string(&jinja) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(jinja, e)),
        };
        let source = match source {
            Some(s) => Some(s),
            None => match config.as_ref().and_then(|c| c.get("chat_template")) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(serde_json::Value::Array(named)) => Some(default_of_named(path, named)?),
                Some(_) => {
                    return Err(Error::corrupt(
                        path,
                        "chat_template is neither a string nor a list of named templates",
                    ));
                }
            },
        };
        match source {
            Some(source) => Self::new(source, bos, eos),
            None => Ok(default_chatml().with_tokens(bos, eos)),
        }
    }

    /// The template of a GGUF file (`tokenizer.chat_template`), with BOS/EOS strings taken
    /// from its token list. A file without a template gets [`default_chatml`].
    pub fn from_gguf(header: &GgufHeader) -> Result<Self> {
        let token = |key: &str| -> Option<String> {
            let id = header.get(key)?.as_u64()?;
            let tokens = header.get("tokenizer.ggml.tokens")?.as_array()?;
            tokens
                .get(usize::try_from(id).ok()?)?
                .as_str()
                .map(str::to_string)
        };
        let (bos, eos) = (
            token("tokenizer.ggml.bos_token_id"),
            token("tokenizer.ggml.eos_token_id"),
        );
        match header.get("tokenizer.chat_template") {
            None => Ok(default_chatml().with_tokens(bos, eos)),
            Some(GgufValue::String(source)) => Self::new(source.clone(), bos, eos),
            Some(_) => Err(Error::corrupt(
                &header.path,
                "tokenizer.chat_template is not a string",
            )),
        }
    }

    fn with_tokens(mut self, bos: Option<String>, eos: Option<String>) -> Self {
        self.bos_token = bos;
        self.eos_token = eos;
        self
    }

    /// The template source as the model provided it.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// Whether this is the ChatML fallback because the model had no template of its own.
    pub fn is_fallback(&self) -> bool {
        self.fallback
    }

    /// The prompt text for `messages`. `add_generation_prompt` appends the header of the
    /// assistant's turn (what the model should continue from). `enable_thinking` is passed
    /// to templates that understand it (Qwen3: `Some(false)` writes an empty think block,
    /// so the model answers directly); `None` leaves it undefined, the template's default.
    ///
    /// Errors are [`Error::Template`]: a construct the template cannot evaluate, or its own
    /// `raise_exception` (e.g. "Conversation roles must alternate").
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        enable_thinking: Option<bool>,
    ) -> Result<String> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                Value::from_object(MessageValue {
                    role: Value::from(m.role.as_str()),
                    content: Value::from(m.content.as_str()),
                })
            })
            .collect();
        let mut ctx: Vec<(&str, Value)> = vec![
            ("messages", Value::from(messages)),
            ("tools", Value::from(())),
            ("documents", Value::from(())),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
        ];
        if let Some(bos) = &self.bos_token {
            ctx.push(("bos_token", Value::from(bos.as_str())));
        }
        if let Some(eos) = &self.eos_token {
            ctx.push(("eos_token", Value::from(eos.as_str())));
        }
        if let Some(thinking) = enable_thinking {
            ctx.push(("enable_thinking", Value::from(thinking)));
        }
        let ctx: Value = ctx.into_iter().collect();
        self.env
            .get_template(TEMPLATE_NAME)
            .and_then(|t| t.render(ctx))
            .map_err(template_err)
    }
}

/// The `default` entry of a list of named templates.
fn default_of_named(path: &Path, named: &[serde_json::Value]) -> Result<String> {
    named
        .iter()
        .find(|t| t.get("name").and_then(serde_json::Value::as_str) == Some("default"))
        .and_then(|t| t.get("template")?.as_str())
        .map(str::to_string)
        .ok_or_else(|| Error::Template {
            reason: format!(
                "{} lists named chat templates but none is called \"default\"",
                path.display()
            ),
        })
}

/// ChatML (`<|im_start|>role\ncontent<|im_end|>\n`), for models without a template: what
/// transformers used by default, and the format of SmolLM, Qwen and many fine-tunes.
pub fn default_chatml() -> ChatTemplate {
    let mut t = ChatTemplate::new(CHATML.to_string(), None, Some("<|im_end|>".to_string()))
        // A constant that the unit tests render: it cannot fail to compile.
        .expect("the built-in ChatML template compiles");
    t.fallback = true;
    t
}

/// `text` without `<think>…</think>` blocks, trimmed: the answer of a reasoning model.
///
/// Also removes an unterminated `<think>` block (generation stopped while thinking: all of
/// it is thinking), everything before a `</think>` that has no opening tag (templates that
/// open the block in the prompt, so the output starts inside it), and the empty
/// `<think>\n\n</think>\n\n` Qwen3 writes when thinking is off.
pub fn strip_thinking(text: &str) -> String {
    const OPEN: &str = "<think>";
    const CLOSE: &str = "</think>";
    let mut rest = text;
    if let Some(close) = rest.find(CLOSE)
        && !rest[..close].contains(OPEN)
    {
        rest = &rest[close + CLOSE.len()..];
    }
    let mut out = String::with_capacity(rest.len());
    while let Some(open) = rest.find(OPEN) {
        out.push_str(&rest[..open]);
        let inside = &rest[open + OPEN.len()..];
        match inside.find(CLOSE) {
            Some(close) => rest = &inside[close + CLOSE.len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

/// The environment transformers renders chat templates in (see the module docs).
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(false);
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    minijinja_contrib::add_to_environment(&mut env);
    env.add_filter("tojson", tojson);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    env
}

fn raise_exception(message: String) -> std::result::Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
}

fn strftime_now(format: String) -> Value {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Value::from(strftime(&format, secs))
}

/// Rewrite transformers' `{% generation %}…{% endgeneration %}` (which only marks the
/// assistant's tokens for training masks) as `{% if true %}…{% endif %}`, keeping any
/// whitespace-control markers, so it renders exactly its body.
fn rewrite_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        let Some(end) = tag.find("%}") else {
            break;
        };
        let inner = &tag[2..end];
        let (open_mark, body) = match inner.strip_prefix(['-', '+']) {
            Some(b) => (&inner[..1], b),
            None => ("", inner),
        };
        let (body, close_mark) = match body.strip_suffix(['-', '+']) {
            Some(b) => (b, &body[body.len() - 1..]),
            None => (body, ""),
        };
        let replacement = match body.trim() {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        match replacement {
            Some(r) => out.push_str(&format!("{{%{open_mark} {r} {close_mark}%}}")),
            None => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=indent,
/// separators=separators, sort_keys=sort_keys)`.
fn tojson(value: &Value, kwargs: Kwargs) -> std::result::Result<Value, minijinja::Error> {
    let indent: Option<Value> = kwargs.get("indent")?;
    let separators: Option<Value> = kwargs.get("separators")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    kwargs.assert_all_used()?;
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => match v.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                let n = i64::try_from(v)?;
                Some(" ".repeat(n.max(0) as usize))
            }
        },
    };
    // Python's defaults: (', ', ': ') compact, (',', ': ') when indenting.
    let (item_sep, key_sep) = match separators {
        Some(v) if !v.is_none() => {
            let parts: Vec<String> = v
                .try_iter()?
                .map(|p| p.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        "separators must be two strings",
                    )
                })?;
            match <[String; 2]>::try_from(parts) {
                Ok([a, b]) => (a, b),
                Err(_) => {
                    return Err(minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        "separators must be two strings",
                    ));
                }
            }
        }
        _ if indent.is_some() => (",".to_string(), ": ".to_string()),
        _ => (", ".to_string(), ": ".to_string()),
    };
    let w = JsonWriter {
        indent,
        item_sep,
        key_sep,
        sort_keys: sort_keys.unwrap_or(false),
        ensure_ascii: ensure_ascii.unwrap_or(false),
    };
    let mut out = String::new();
    w.write(&mut out, value, 0)?;
    Ok(Value::from(out))
}

struct JsonWriter {
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
    ensure_ascii: bool,
}

impl JsonWriter {
    fn write(
        &self,
        out: &mut String,
        v: &Value,
        depth: usize,
    ) -> std::result::Result<(), minijinja::Error> {
        if depth > 256 {
            return Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                "tojson: value nested too deeply",
            ));
        }
        match v.kind() {
            ValueKind::Undefined | ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
            ValueKind::Number => out.push_str(&python_number(v)),
            ValueKind::String => self.string(out, v.as_str().unwrap_or_default()),
            ValueKind::Map => {
                let mut keys: Vec<Value> = v.try_iter()?.collect();
                if self.sort_keys {
                    keys.sort();
                }
                let items = keys
                    .into_iter()
                    .map(|k| v.get_item(&k).map(|item| (k, item)))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                self.container(out, '{', '}', &items, depth, |out, (k, item)| {
                    let key = match k.kind() {
                        ValueKind::String => k.as_str().unwrap_or_default().to_string(),
                        ValueKind::Number => python_number(k),
                        ValueKind::Bool => if k.is_true() { "true" } else { "false" }.to_string(),
                        ValueKind::None | ValueKind::Undefined => "null".to_string(),
                        _ => {
                            return Err(minijinja::Error::new(
                                ErrorKind::InvalidOperation,
                                "tojson: keys must be str, int, float, bool or None",
                            ));
                        }
                    };
                    self.string(out, &key);
                    out.push_str(&self.key_sep);
                    self.write(out, item, depth + 1)
                })?;
            }
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<Value> = v.try_iter()?.collect();
                self.container(out, '[', ']', &items, depth, |out, item| {
                    self.write(out, item, depth + 1)
                })?;
            }
            _ => {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("tojson: cannot serialize a {} value", v.kind()),
                ));
            }
        }
        Ok(())
    }

    fn container<T>(
        &self,
        out: &mut String,
        open: char,
        close: char,
        items: &[T],
        depth: usize,
        mut each: impl FnMut(&mut String, &T) -> std::result::Result<(), minijinja::Error>,
    ) -> std::result::Result<(), minijinja::Error> {
        out.push(open);
        if items.is_empty() {
            out.push(close);
            return Ok(());
        }
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(&self.item_sep);
            }
            if let Some(indent) = &self.indent {
                out.push('\n');
                out.push_str(&indent.repeat(depth + 1));
            }
            each(out, item)?;
        }
        if let Some(indent) = &self.indent {
            out.push('\n');
            out.push_str(&indent.repeat(depth));
        }
        out.push(close);
        Ok(())
    }

    /// A JSON string as Python writes it: `"`, `\` and control characters escaped (the
    /// common ones by name, others as lowercase `\u00XX`), everything else literal unless
    /// `ensure_ascii`.
    fn string(&self, out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c if self.ensure_ascii && !c.is_ascii() => {
                    let mut buf = [0u16; 2];
                    for unit in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

/// A number as Python's `json.dumps` writes it: integers plainly, floats by `repr`
/// (`1.0`, `0.1`, `1e+16`, `NaN`, `Infinity`).
fn python_number(v: &Value) -> String {
    if v.is_integer() {
        return v.to_string();
    }
    let Ok(f) = f64::try_from(v.clone()) else {
        return v.to_string();
    };
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Python's repr: the shortest round-tripping digits, positional for exponents in
    // [-4, 16), scientific otherwise.
    let sci = format!("{f:e}"); // e.g. "1.5e-7", shortest round-trip digits
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = format!("{f}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Civil date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// C `strftime` for the directives chat templates use (`%d %b %Y`, `%B %d, %Y`, …), in
/// UTC: the standard library has no time zones, and a template only needs today's date.
/// glibc's `%-d`-style unpadded forms are supported; unknown directives are kept as is.
fn strftime(format: &str, unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (secs / 3600, secs / 60 % 60, secs % 60);
    let weekday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    let yday = days - days_from_civil(year, 1, 1) + 1;
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };

    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let unpadded = chars.next_if_eq(&'-').is_some();
        let num = |n: i64, width: usize| {
            if unpadded {
                n.to_string()
            } else {
                format!("{n:0width$}")
            }
        };
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&num(year.rem_euclid(100), 2)),
            Some('m') => out.push_str(&num(month.into(), 2)),
            Some('d') => out.push_str(&num(day.into(), 2)),
            Some('e') => out.push_str(&format!("{day:>2}")),
            Some('H') => out.push_str(&num(hour, 2)),
            Some('I') => out.push_str(&num(hour12, 2)),
            Some('M') => out.push_str(&num(minute, 2)),
            Some('S') => out.push_str(&num(second, 2)),
            Some('j') => out.push_str(&num(yday, 3)),
            Some('p') => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            Some('B') => out.push_str(MONTHS[month as usize - 1]),
            Some('b' | 'h') => out.push_str(&MONTHS[month as usize - 1][..3]),
            Some('A') => out.push_str(WEEKDAYS[weekday]),
            Some('a') => out.push_str(&WEEKDAYS[weekday][..3]),
            Some('u') => out.push_str(&(weekday + 1).to_string()),
            Some('w') => out.push_str(&((weekday + 1) % 7).to_string()),
            Some('F') => out.push_str(&format!("{year}-{month:02}-{day:02}")),
            Some('D') => out.push_str(&format!("{month:02}/{day:02}/{:02}", year.rem_euclid(100))),
            Some('T') => out.push_str(&format!("{hour:02}:{minute:02}:{second:02}")),
            Some('R') => out.push_str(&format!("{hour:02}:{minute:02}")),
            Some('c') => out.push_str(&format!(
                "{} {} {day:>2} {hour:02}:{minute:02}:{second:02} {year}",
                &WEEKDAYS[weekday][..3],
                &MONTHS[month as usize - 1][..3]
            )),
            Some('Z') => out.push_str("UTC"),
            Some('z') => out.push_str("+0000"),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                if unpadded {
                    out.push('-');
                }
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Days since 1970-01-01 of a civil date (inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, messages: &[Message]) -> Result<String> {
        ChatTemplate::new(source.to_string(), Some("<s>".into()), Some("</s>".into()))?
            .render(messages, true, None)
    }

    #[test]
    fn default_chatml_renders_chatml() {
        let t = default_chatml();
        assert!(t.is_fallback());
        let out = t
            .render(
                &[Message::system("Be brief."), Message::user("Hi")],
                true,
                None,
            )
            .unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let out = t.render(&[Message::user("Hi")], false, None).unwrap();
        assert_eq!(out, "<|im_start|>user\nHi<|im_end|>\n");
    }

    #[test]
    fn whitespace_control_matches_transformers() {
        // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation
        // before one; the source's final newline is dropped.
        let src = "{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}\n";
        assert_eq!(
            render(src, &[Message::user("a"), Message::user("b")]).unwrap(),
            "[a]\n[b]\n"
        );
    }

    #[test]
    fn python_methods_and_special_tokens_are_available() {
        let src = "{{ bos_token }}{% for m in messages %}{{ m.content.strip().upper() }}|{{ m.content.startswith(' x') }}|{{ m.content.split(',')[1] }}{% for k, v in m.items() %};{{ k }}={{ v|trim }}{% endfor %}{% endfor %}{{ eos_token }}";
        assert_eq!(
            render(src, &[Message::user(" x,y ")]).unwrap(),
            "<s>X,Y|True|y ;role=user;content=x,y</s>"
        );
    }

    #[test]
    fn undefined_is_lenient_and_enable_thinking_only_when_given() {
        let src = "{{ nothing }}{% if enable_thinking is defined %}[{{ enable_thinking }}]{% endif %}{% if tools %}T{% endif %}{% for x in missing %}x{% endfor %}.";
        let t = ChatTemplate::new(src.into(), None, None).unwrap();
        assert_eq!(t.render(&[], false, None).unwrap(), ".");
        assert_eq!(t.render(&[], false, Some(false)).unwrap(), "[False].");
        // Booleans print as Python does; an attribute of an undefined value is an error,
        // as in jinja2.
        let t = ChatTemplate::new("{{ nothing.attr }}".into(), None, None).unwrap();
        assert!(matches!(
            t.render(&[], false, None),
            Err(Error::Template { .. })
        ));
    }

    #[test]
    fn raise_exception_and_syntax_errors_are_template_errors() {
        let src = "{% if messages[0].role != 'system' %}{{ raise_exception('System first, please') }}{% endif %}";
        let err = render(src, &[Message::user("hi")]).unwrap_err();
        assert!(
            matches!(&err, Error::Template { reason } if reason.contains("System first, please")),
            "{err}"
        );
        assert!(matches!(
            ChatTemplate::new("{% if %}".into(), None, None),
            Err(Error::Template { .. })
        ));
    }

    #[test]
    fn tojson_writes_like_python_json_dumps() {
        let t = |src: &str| render(src, &[Message::user("a\"<b>\n\u{e9}\u{1}")]).unwrap();
        assert_eq!(
            t("{{ messages[0] | tojson }}"),
            r#"{"role": "user", "content": "a\"<b>\né\u0001"}"#
        );
        assert_eq!(
            t("{{ {'b': [1, 2.5, true, none], 'a': {}} | tojson(sort_keys=true) }}"),
            r#"{"a": {}, "b": [1, 2.5, true, null]}"#
        );
        assert_eq!(
            t("{{ [1, {'k': 'v'}] | tojson(indent=2) }}"),
            "[\n  1,\n  {\n    \"k\": \"v\"\n  }\n]"
        );
        assert_eq!(
            t("{{ ['é'] | tojson(ensure_ascii=true) }}"),
            r#"["\u00e9"]"#
        );
        assert_eq!(
            t("{{ [1.0, 1e20, 0.0001] | tojson }}"),
            "[1.0, 1e+20, 0.0001]"
        );
    }

    #[test]
    fn generation_blocks_render_their_body() {
        let src = "{% for m in messages %}{%- generation -%} {{ m.content }} {%- endgeneration %}{% endfor %}";
        assert_eq!(render(src, &[Message::user("x")]).unwrap(), "x");
    }

    #[test]
    fn strftime_formats_dates() {
        // 2024-07-26 13:05:09 UTC, a Friday.
        let t = 19_930 * 86_400 + 13 * 3600 + 5 * 60 + 9;
        assert_eq!(strftime("%d %b %Y", t), "26 Jul 2024");
        assert_eq!(
            strftime("%B %-d, %Y %H:%M:%S %A %j %%", t),
            "July 26, 2024 13:05:09 Friday 208 %"
        );
        assert_eq!(strftime("%F %I%p %q", 0), "1970-01-01 12AM %q");
        assert_eq!(days_from_civil(2024, 7, 26), 19_930);
        let t = ChatTemplate::new("{{ strftime_now('%Y') }}".into(), None, None).unwrap();
        let year: i64 = t.render(&[], false, None).unwrap().parse().unwrap();
        assert!(year >= 2024);
    }

    #[test]
    fn chat_template_can_cross_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ChatTemplate>();
    }

    #[test]
    fn strip_thinking_removes_reasoning() {
        assert_eq!(strip_thinking("<think>\n\n</think>\n\nParis."), "Paris.");
        assert_eq!(
            strip_thinking("<think>plan\nmore</think>\nAnswer"),
            "Answer"
        );
        assert_eq!(
            strip_thinking("A <think>x</think>B<think>y</think> C"),
            "A B C"
        );
        assert_eq!(strip_thinking("<think>cut off mid-thought"), "");
        assert_eq!(
            strip_thinking("reasoning opened by the prompt</think>\n\nAnswer"),
            "Answer"
        );
        assert_eq!(
            strip_thinking("  no thinking at all \n"),
            "no thinking at all"
        );
        assert_eq!(strip_thinking("Before <think>unterminated"), "Before");
    }

    #[test]
    fn named_template_lists_pick_default() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("tokenizer_config.json");
        std::fs::write(
            &cfg,
            r#"{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ eos_token }}"}],
                "eos_token": {"content": "<e>", "special": true}}"#,
        )
        .unwrap();
        let t = ChatTemplate::from_tokenizer_config(&cfg).unwrap();
        assert_eq!(t.render(&[], false, None).unwrap(), "D<e>");
        // chat_template.jinja next to the config wins.
        std::fs::write(dir.path().join("chat_template.jinja"), "J{{ eos_token }}\n").unwrap();
        let t = ChatTemplate::from_tokenizer_config(&cfg).unwrap();
        assert_eq!(t.render(&[], false, None).unwrap(), "J<e>");
        assert!(!t.is_fallback());
    }

    #[test]
    fn missing_templates_fall_back_and_bad_configs_fail() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("tokenizer_config.json");
        let t = ChatTemplate::from_tokenizer_config(&cfg).unwrap();
        assert!(t.is_fallback());
        std::fs::write(&cfg, r#"{"eos_token": "<e>"}"#).unwrap();
        let t = ChatTemplate::from_tokenizer_config(&cfg).unwrap();
        assert!(t.is_fallback());
        assert_eq!(t.eos_token(), Some("<e>"));
        std::fs::write(&cfg, "{ nope").unwrap();
        assert!(matches!(
            ChatTemplate::from_tokenizer_config(&cfg),
            Err(Error::CorruptModel { .. })
        ));
        std::fs::write(
            &cfg,
            r#"{"chat_template": [{"name": "x", "template": "T"}]}"#,
        )
        .unwrap();
        assert!(matches!(
            ChatTemplate::from_tokenizer_config(&cfg),
            Err(Error::Template { .. })
        ));
    }
}
