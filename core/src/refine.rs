//! Refining a transcript with a chat model: built-in modes, the seeds' generation
//! settings, and a token budget sized to the input and the machine's RAM.

use serde::{Deserialize, Serialize};

use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::llm::chat::ChatModel;
use crate::llm::chat_template::Message;
use crate::llm::generate::{GenerateOptions, GenerationStats};
use crate::llm::sampler::SamplerConfig;
use crate::system::RamTier;

/// What to do with the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "prompt")]
pub enum RefineMode {
    /// Punctuation, capitalization, filler words and false starts of dictated speech.
    CleanUpTranscript,
    /// Spelling and grammar, nothing else.
    FixGrammar,
    /// Shorter, same meaning.
    MakeConcise,
    /// The caller's own system prompt; blank: no system message, the text goes to the
    /// model as it is.
    Custom(String),
}

impl RefineMode {
    /// The system prompt for this mode.
    pub fn system_prompt(&self) -> &str {
        match self {
            RefineMode::CleanUpTranscript => {
                "You clean up speech-to-text transcripts. Add punctuation and capitalization, \
                 remove filler words (um, uh, like, you know), stutters and false starts, and fix \
                 obvious transcription errors. Keep the speaker's words, meaning, language and \
                 tone; do not summarize, answer, or add anything. Reply with the cleaned text only."
            }
            RefineMode::FixGrammar => {
                "You fix spelling and grammar. Correct mistakes in the user's text without \
                 changing its meaning, tone, language or formatting. Reply with the corrected \
                 text only."
            }
            RefineMode::MakeConcise => {
                "You make text concise. Rewrite the user's text to be shorter and clearer while \
                 keeping every important point, its language and tone. Reply with the rewritten \
                 text only."
            }
            RefineMode::Custom(prompt) => prompt,
        }
    }

    /// The user turn: the text framed as material to work on, so small models rewrite
    /// it instead of answering it as if it were addressed to them.
    pub fn user_message(&self, text: &str) -> String {
        let task = match self {
            RefineMode::CleanUpTranscript => "Clean up this transcript",
            RefineMode::FixGrammar => "Fix the spelling and grammar of this text",
            RefineMode::MakeConcise => "Make this text concise",
            RefineMode::Custom(_) => return text.to_string(),
        };
        format!("{task}:\n\n{text}")
    }
}

/// Refine settings; defaults are the seeds' (temperature 0.7, top-p 0.8, repetition
/// penalty 1.15, thinking off, dynamic token budget).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RefineOptions {
    pub mode: RefineMode,
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: usize,
    pub min_p: f32,
    pub repetition_penalty: f32,
    /// `None`: input tokens × 1.3, capped by the RAM tier.
    pub max_tokens: Option<usize>,
    pub seed: Option<u64>,
    pub enable_thinking: bool,
    /// Override the RAM tier used for the token ceiling.
    pub ram_tier: Option<RamTier>,
}

impl Default for RefineOptions {
    fn default() -> Self {
        Self {
            mode: RefineMode::CleanUpTranscript,
            temperature: 0.7,
            top_p: 0.8,
            top_k: 0,
            min_p: 0.0,
            repetition_penalty: 1.15,
            max_tokens: None,
            seed: None,
            enable_thinking: false,
            ram_tier: None,
        }
    }
}

/// The refined text and how it was produced.
#[derive(Debug, Clone, Serialize)]
pub struct RefineResult {
    pub text: String,
    pub max_tokens: usize,
    pub stats: GenerationStats,
}

/// Smallest budget: very short inputs still need room for punctuation and casing.
const MIN_TOKENS: usize = 32;

/// The seeds' dynamic budget: `input × 1.3`, at least [`MIN_TOKENS`], at most the
/// RAM tier's ceiling.
pub fn dynamic_max_tokens(input_tokens: usize, tier: RamTier) -> usize {
    (input_tokens * 13)
        .div_ceil(10)
        .max(MIN_TOKENS)
        .min(tier.max_refine_tokens())
}

/// Refine `text` with `model`, streaming the refined text to `on_text`. Returns only
/// the refined text: never the prompt, role markers or thinking.
pub fn refine(
    model: &ChatModel,
    text: &str,
    opts: &RefineOptions,
    cancel: &CancelToken,
    on_text: &mut dyn FnMut(&str),
) -> Result<RefineResult> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::InvalidArgument {
            name: "text".into(),
            reason: "there is nothing to refine".into(),
        });
    }
    let tier = opts.ram_tier.unwrap_or_else(RamTier::current);
    let input_tokens = model.tokenizer().encode(text, false)?.len();
    let max_tokens = opts
        .max_tokens
        .unwrap_or_else(|| dynamic_max_tokens(input_tokens, tier));
    // A custom mode with a blank prompt sends the text alone, as a plain chat turn (what
    // the predecessors' sidecar `/generate` did); the template may add its own default.
    let system = opts.mode.system_prompt().trim();
    let mut messages = Vec::with_capacity(2);
    if !system.is_empty() {
        messages.push(Message::new("system", system));
    }
    messages.push(Message::new("user", opts.mode.user_message(text)));
    let generate = GenerateOptions {
        max_tokens,
        sampler: SamplerConfig {
            temperature: opts.temperature,
            top_p: opts.top_p,
            top_k: opts.top_k,
            min_p: opts.min_p,
            repetition_penalty: opts.repetition_penalty,
            seed: opts.seed,
            ..SamplerConfig::default()
        },
        ..GenerateOptions::default()
    };
    let response = model.chat(&messages, opts.enable_thinking, &generate, cancel, on_text)?;
    Ok(RefineResult {
        text: response.text.trim().to_string(),
        max_tokens,
        stats: response.stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_input_times_1_3_capped_by_tier() {
        assert_eq!(dynamic_max_tokens(100, RamTier::Large), 130);
        assert_eq!(dynamic_max_tokens(101, RamTier::Large), 132);
        assert_eq!(dynamic_max_tokens(5, RamTier::Small), MIN_TOKENS);
        assert_eq!(dynamic_max_tokens(10_000, RamTier::Small), 1536);
        assert_eq!(dynamic_max_tokens(10_000, RamTier::Medium), 2048);
        assert_eq!(dynamic_max_tokens(10_000, RamTier::Large), 3072);
    }

    #[test]
    fn defaults_are_the_seeds() {
        let o = RefineOptions::default();
        assert_eq!(
            (
                o.temperature,
                o.top_p,
                o.repetition_penalty,
                o.enable_thinking
            ),
            (0.7, 0.8, 1.15, false)
        );
        assert_eq!(o.max_tokens, None);
    }
}
