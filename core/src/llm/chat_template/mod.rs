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

mod marked;
mod strftime;
mod tojson;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::llm::load::gguf::{GgufHeader, Value as GgufValue};

pub use marked::RenderedPrompt;

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
        let config = crate::files::read_json_opt(path)?;
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

/// The environment transformers renders chat templates in (see the module docs).
/// Instructions one rendering may run. A template is part of a model file, so it may be
/// hostile (`{% for i in range(99999) %}{% for j in range(99999) %}`); real ones render a
/// dictation prompt in a few thousand.
const TEMPLATE_FUEL: u64 = 5_000_000;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(false);
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    minijinja_contrib::add_to_environment(&mut env);
    env.add_filter("tojson", tojson::tojson);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    env
}

fn raise_exception(message: String) -> std::result::Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
}

/// transformers' `strftime_now`: Python's `datetime.now().strftime(format)`, which is
/// the C library's `strftime` on local time.
fn strftime_now(format: String) -> std::result::Result<Value, minijinja::Error> {
    strftime::now_local(&format)
        .map(Value::from)
        .ok_or_else(|| {
            minijinja::Error::new(ErrorKind::InvalidOperation, "invalid strftime format")
        })
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
        // The closing `%}` comes after the opening `{%` (in `{%}` they share the `%`).
        let Some(end) = tag[2..].find("%}").map(|e| e + 2) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, messages: &[Message]) -> Result<String> {
        ChatTemplate::new(source.to_string(), Some("<s>".into()), Some("</s>".into()))?
            .render(messages, true, None)
    }

    #[test]
    fn a_tag_whose_percent_signs_overlap_is_left_to_the_parser() {
        // Found by the chat_template fuzz target: `{%}` sliced [2..1] and panicked.
        for source in ["{%}", "a{%}b%}", "{%-}", "{%generation%}{%}"] {
            let _ = ChatTemplate::new(source.into(), None, None);
        }
        assert_eq!(rewrite_generation_tags("{%}x%}"), "{%}x%}");
    }

    #[test]
    fn a_template_that_never_ends_runs_out_of_fuel() {
        let endless =
            "{% for i in range(99999) %}{% for j in range(99999) %}.{% endfor %}{% endfor %}";
        let err = render(endless, &[Message::user("Hi")]).unwrap_err();
        assert!(matches!(err, Error::Template { .. }), "{err}");
        assert!(err.to_string().contains("fuel"), "{err}");
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
    fn strftime_now_renders_this_year() {
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
