//! Chat: a conversation answered by a text model, as OpenAI's chat completions define
//! it (messages, sampling, a token budget, stop strings, a seed), with the usage and
//! the reason the answer ended. `refine` is a fixed use of the same model (its own
//! prompt and guard); this is the open one, for clients that bring their own messages.

use serde::{Deserialize, Serialize};

use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::llm::chat::ChatModel;
use crate::llm::chat_template::Message;
use crate::llm::generate::{GenerateOptions, GenerationStats, StopReason};
use crate::llm::sampler::SamplerConfig;
use crate::system::RamTier;

/// A conversation to answer and how. Defaults are OpenAI's (temperature 1, top-p 1, no
/// stop strings); the token budget defaults to the memory tier's ceiling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatOptions {
    /// `system`, `user` and `assistant` turns, in order; at least one.
    pub messages: Vec<Message>,
    /// In [0, 2]; 0 is greedy.
    pub temperature: f32,
    /// In (0, 1].
    pub top_p: f32,
    /// Most tokens to generate; `None`: the memory tier's ceiling. Never past the
    /// model's context either way.
    pub max_tokens: Option<usize>,
    /// Up to [`ChatOptions::MAX_STOPS`] strings that end the answer where they appear
    /// (not included).
    pub stop: Vec<String>,
    /// Fixed seed: the same answer for the same options, model and backend.
    pub seed: Option<u64>,
    /// Let a thinking model think first (its thinking is never returned).
    pub enable_thinking: bool,
    /// Override the memory tier whose ceiling bounds `max_tokens`.
    pub ram_tier: Option<RamTier>,
}

impl Default for ChatOptions {
    fn default() -> Self {
        Self {
            messages: Vec::new(),
            temperature: 1.0,
            top_p: 1.0,
            max_tokens: None,
            stop: Vec::new(),
            seed: None,
            enable_thinking: false,
            ram_tier: None,
        }
    }
}

impl ChatOptions {
    /// OpenAI's limit on stop strings.
    pub const MAX_STOPS: usize = 4;
    /// Longest stop string, in bytes.
    pub const MAX_STOP_BYTES: usize = 256;
    /// Most messages in one conversation.
    pub const MAX_MESSAGES: usize = 4096;
    /// The roles a conversation may hold.
    pub const ROLES: [&'static str; 3] = ["system", "user", "assistant"];

    /// Every setting in range and every message with a known role, checked before a
    /// model is chosen or loaded; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, reason: String| {
            Err(Error::InvalidArgument {
                name: name.into(),
                reason,
            })
        };
        if self.messages.is_empty() {
            return bad("messages", "at least one message is needed".into());
        }
        if self.messages.len() > Self::MAX_MESSAGES {
            return bad(
                "messages",
                format!(
                    "{} messages; at most {}",
                    self.messages.len(),
                    Self::MAX_MESSAGES
                ),
            );
        }
        for (i, m) in self.messages.iter().enumerate() {
            if !Self::ROLES.contains(&m.role.as_str()) {
                return bad(
                    &format!("messages[{i}].role"),
                    format!("{:?} is not one of {}", m.role, Self::ROLES.join(", ")),
                );
            }
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return bad(
                "temperature",
                format!("{} is not in [0, 2]", self.temperature),
            );
        }
        if self.max_tokens == Some(0) {
            return bad("max_tokens", "must be at least 1".into());
        }
        if self.stop.len() > Self::MAX_STOPS {
            return bad(
                "stop",
                format!("{} strings; at most {}", self.stop.len(), Self::MAX_STOPS),
            );
        }
        if let Some(s) = self.stop.iter().find(|s| s.len() > Self::MAX_STOP_BYTES) {
            return bad(
                "stop",
                format!(
                    "a stop string of {} bytes; at most {}",
                    s.len(),
                    Self::MAX_STOP_BYTES
                ),
            );
        }
        self.sampler().validate()
    }

    /// The sampling settings these options ask for (no repetition penalty: OpenAI's
    /// API has none of that kind).
    pub fn sampler(&self) -> SamplerConfig {
        SamplerConfig {
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed,
            ..SamplerConfig::default()
        }
    }
}

/// Why the answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum FinishReason {
    /// The model finished, or a stop string appeared.
    Stop,
    /// The token budget (or the model's context) ran out.
    Length,
    /// The caller cancelled.
    Cancelled,
}

impl From<StopReason> for FinishReason {
    fn from(r: StopReason) -> Self {
        match r {
            StopReason::Eos | StopReason::Stopped => FinishReason::Stop,
            StopReason::MaxTokens => FinishReason::Length,
            StopReason::Cancelled => FinishReason::Cancelled,
        }
    }
}

/// Tokens read and written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// The answer and how it was produced.
#[derive(Debug, Clone, Serialize)]
pub struct ChatResult {
    /// The catalog id of the model that answered (set by [`crate::Engine`]).
    pub model: String,
    /// The answer, without thinking blocks, stop tokens or the stop string.
    pub text: String,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    /// The token budget the answer had.
    pub max_tokens: usize,
    pub stats: GenerationStats,
}

/// Answer `opts.messages` with `model`, streaming the answer to `on_text`.
pub fn chat(
    model: &ChatModel,
    opts: &ChatOptions,
    cancel: &CancelToken,
    on_text: &mut dyn FnMut(&str),
) -> Result<ChatResult> {
    opts.validate()?;
    let tier = opts.ram_tier.unwrap_or_else(RamTier::current);
    let max_tokens = opts.max_tokens.unwrap_or(tier.max_refine_tokens());
    let generate = GenerateOptions {
        max_tokens,
        sampler: opts.sampler(),
        stop: opts.stop.clone(),
        ..GenerateOptions::default()
    };
    let response = model.chat(
        &opts.messages,
        opts.enable_thinking,
        &generate,
        cancel,
        on_text,
    )?;
    let stats = response.stats;
    let (prompt, completion) = (stats.prompt_tokens as u64, stats.generated_tokens as u64);
    Ok(ChatResult {
        model: String::new(),
        text: response.text,
        finish_reason: stats.stop_reason.into(),
        usage: Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        },
        max_tokens,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(json: &str) -> ChatOptions {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_are_openais() {
        let o = opts(r#"{"messages": [{"role": "user", "content": "hi"}]}"#);
        assert_eq!((o.temperature, o.top_p, o.max_tokens), (1.0, 1.0, None));
        assert!(o.validate().is_ok());
    }

    #[test]
    fn bad_settings_name_their_field() {
        let field = |json: &str| match opts(json).validate() {
            Err(Error::InvalidArgument { name, .. }) => name,
            other => panic!("{json}: {other:?}"),
        };
        let user = r#""messages": [{"role": "user", "content": "hi"}]"#;
        assert_eq!(field("{}"), "messages");
        assert_eq!(
            field(r#"{"messages": [{"role": "tool", "content": "x"}]}"#),
            "messages[0].role"
        );
        assert_eq!(
            field(&format!("{{{user}, \"temperature\": 2.5}}")),
            "temperature"
        );
        assert_eq!(field(&format!("{{{user}, \"top_p\": 0}}")), "top_p");
        assert_eq!(
            field(&format!("{{{user}, \"max_tokens\": 0}}")),
            "max_tokens"
        );
        assert_eq!(
            field(&format!(r#"{{{user}, "stop": ["a", "b", "c", "d", "e"]}}"#)),
            "stop"
        );
        let long = "x".repeat(ChatOptions::MAX_STOP_BYTES + 1);
        assert_eq!(field(&format!(r#"{{{user}, "stop": ["{long}"]}}"#)), "stop");
    }

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        assert_eq!(FinishReason::from(StopReason::Eos), FinishReason::Stop);
        assert_eq!(FinishReason::from(StopReason::Stopped), FinishReason::Stop);
        assert_eq!(
            FinishReason::from(StopReason::MaxTokens),
            FinishReason::Length
        );
    }
}
