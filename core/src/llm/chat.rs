//! A chat model ready to answer: weights, tokenizer, chat template and stop tokens,
//! loaded from an mlx-community folder or a GGUF file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::chat_template::{ChatTemplate, Message, RenderedPrompt};
use super::generate::{Flow, GenerateOptions, GenerationStats, PrefixReuse, generate_with};
use super::load::{load_gguf, load_safetensors_dir};
use super::models::{self, LanguageModel};
use super::prefix_cache::PrefixCache;
use super::stop::StopMatcher;
use super::thinking::ThinkFilter;
use super::tokenizer::{StreamDecoder, Tokenizer};
use crate::backend::Precision;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::nn::Weights;

/// The on-disk format a model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFormat {
    Safetensors,
    Gguf,
}

/// What was loaded.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub format: ModelFormat,
    pub model_type: String,
    /// Rows of the embedding table: every token id must be below this.
    pub vocab_size: usize,
    /// Longest sequence the model was trained for (prompt plus answer).
    pub context_length: usize,
    pub eos_token_ids: Vec<u32>,
    /// How the weights are held: [`Precision::AsStored`] or [`Precision::Float32`]
    /// (what [`Precision::Auto`] resolved to).
    pub precision: Precision,
}

/// How to load a chat model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LoadOptions {
    pub precision: Precision,
}

/// The text and measurements of one chat turn.
#[derive(Debug, Clone, Serialize)]
pub struct ChatResponse {
    /// The answer, without thinking blocks or stop tokens.
    pub text: String,
    pub stats: GenerationStats,
}

pub struct ChatModel {
    model: Box<dyn LanguageModel + Send>,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    eos: HashSet<u32>,
    info: ModelInfo,
    /// Keys and values of prompt starts that calls share (a refine mode's template,
    /// system prompt and task line), dropped with the model.
    prefixes: PrefixCache,
}

/// What a model's files hold, before the model is built.
struct Source {
    path: PathBuf,
    format: ModelFormat,
    config: serde_json::Value,
    weights: Weights,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    eos: HashSet<u32>,
}

impl Source {
    fn safetensors(dir: &Path) -> Result<Self> {
        let (config, weights) = load_safetensors_dir(dir)?;
        // The tokenizer reads tokenizer_config.json and generation_config.json; config.json
        // may name end tokens of its own.
        let mut eos = HashSet::new();
        collect_ids(&config, &mut eos);
        Ok(Self {
            path: dir.to_path_buf(),
            format: ModelFormat::Safetensors,
            tokenizer: Tokenizer::from_file(&dir.join("tokenizer.json"))?,
            template: ChatTemplate::from_tokenizer_config(&dir.join("tokenizer_config.json"))?,
            config,
            weights,
            eos,
        })
    }

    fn gguf(file: &Path) -> Result<Self> {
        let (config, weights, header) = load_gguf(file)?;
        let dir = file.parent().unwrap_or(Path::new("."));
        // A tokenizer.json next to the file wins over the GGUF's own vocabulary.
        let (tokenizer, template) = if dir.join("tokenizer.json").is_file() {
            let mut tokenizer = Tokenizer::from_file(&dir.join("tokenizer.json"))?;
            // The file's own end tokens still end generation.
            tokenizer.add_gguf_end_tokens(&header, tokenizer.vocab_size() as u64)?;
            (
                tokenizer,
                ChatTemplate::from_tokenizer_config(&dir.join("tokenizer_config.json"))?,
            )
        } else {
            (
                Tokenizer::from_gguf(&header)?,
                ChatTemplate::from_gguf(&header)?,
            )
        };
        let eos = HashSet::new();
        Ok(Self {
            path: file.to_path_buf(),
            format: ModelFormat::Gguf,
            config,
            weights,
            tokenizer,
            template,
            eos,
        })
    }
}

/// `weights` converted as `precision` asks for this model's size on this backend, and
/// what that resolved to.
fn with_precision(weights: Weights, precision: Precision) -> (Weights, Precision) {
    match precision.dense_dtype(weights.dense_f32_bytes()) {
        Some(dtype) => (weights.densify(Some(dtype)), Precision::Float32),
        None => (weights, Precision::AsStored),
    }
}

/// Turn-end markers of the chat formats we know; each present in the vocabulary stops
/// generation even when the config only names the document EOS.
const TURN_END_TOKENS: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<end_of_turn>",
    "<|end|>",
    "<|endoftext|>",
];

impl ChatModel {
    /// Load from a model folder (`config.json` + safetensors, or one `.gguf` file in
    /// it) or a `.gguf` file.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with(path, &LoadOptions::default())
    }

    pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Self> {
        crate::backend::configure_blas();
        let gguf = if path.is_file() {
            Some(path.to_path_buf())
        } else if path.join("config.json").is_file() {
            None
        } else if path.is_dir() {
            Some(single_gguf(path)?)
        } else {
            return Err(Error::io(
                path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        };
        let src = match gguf {
            Some(file) => Source::gguf(&file)?,
            None => Source::safetensors(path)?,
        };
        let (mut weights, precision) = with_precision(src.weights, opts.precision);
        let model = models::build(&src.config, &mut weights)?;
        let mut m = Self::assemble(
            &src.path,
            src.format,
            &src.config,
            model,
            src.tokenizer,
            src.template,
            src.eos,
        )?;
        m.info.precision = precision;
        Ok(m)
    }

    fn assemble(
        path: &Path,
        format: ModelFormat,
        config: &serde_json::Value,
        model: Box<dyn LanguageModel + Send>,
        tokenizer: Tokenizer,
        template: ChatTemplate,
        mut eos: HashSet<u32>,
    ) -> Result<Self> {
        eos.extend(tokenizer.eos_token_ids());
        for t in TURN_END_TOKENS {
            if template.source().contains(t)
                && let Some(id) = tokenizer.token_to_id(t)
            {
                eos.insert(id);
            }
        }
        if eos.is_empty() {
            return Err(Error::corrupt(path, "no end-of-sequence token is known"));
        }
        let mut ids: Vec<u32> = eos.iter().copied().collect();
        ids.sort_unstable();
        let info = ModelInfo {
            path: path.to_path_buf(),
            format,
            model_type: config["model_type"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            vocab_size: config
                .get("vocab_size")
                .or_else(|| models::text_config(config).get("vocab_size"))
                .and_then(|v| v.as_u64())
                .map_or(tokenizer.vocab_size(), |v| v as usize),
            context_length: config
                .get("max_position_embeddings")
                .or_else(|| models::text_config(config).get("max_position_embeddings"))
                .and_then(|v| v.as_u64())
                .unwrap_or(4096) as usize,
            eos_token_ids: ids,
            precision: Precision::AsStored,
        };
        Ok(Self {
            model,
            tokenizer,
            template,
            eos,
            info,
            prefixes: PrefixCache::new(),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The prompt tokens for `messages`, rendered with the model's chat template.
    pub fn prompt_tokens(&self, messages: &[Message], enable_thinking: bool) -> Result<Vec<u32>> {
        Ok(self.prompt(messages, enable_thinking, 0)?.0)
    }

    /// The prompt tokens for `messages` and how many of them later calls are expected
    /// to share: everything before the last message's content and its first
    /// `shared_content` bytes (a fixed task line, say). The count is where the two
    /// tokenizations agree, so it never splits a token differently than the prompt does.
    pub fn prompt(
        &self,
        messages: &[Message],
        enable_thinking: bool,
        shared_content: usize,
    ) -> Result<(Vec<u32>, usize)> {
        let prompt = self
            .template
            .render_marked(messages, true, Some(enable_thinking))?;
        // The template writes BOS itself where the model wants one; message text stays
        // literal (a `<|im_end|>` typed by the user is not the control token).
        let ids = self.tokenizer.encode_prompt(&prompt)?;
        let Some(last) = prompt.literal.last() else {
            return Ok((ids, 0));
        };
        let mut end = last.start + shared_content.min(last.len());
        while !prompt.text.is_char_boundary(end) {
            end -= 1;
        }
        let head = RenderedPrompt {
            text: prompt.text[..end].to_string(),
            literal: prompt
                .literal
                .iter()
                .filter(|r| r.start < end)
                .map(|r| r.start..r.end.min(end))
                .collect(),
        };
        let head = self.tokenizer.encode_prompt(&head)?;
        let shared = ids.iter().zip(&head).take_while(|(a, b)| a == b).count();
        Ok((ids, shared))
    }

    /// The stored prompt starts (see [`PrefixCache`]): for measuring and for freeing
    /// their memory.
    pub fn prefix_cache(&self) -> &PrefixCache {
        &self.prefixes
    }

    /// Answer `messages`, streaming text to `on_text` as it is decoded (valid UTF-8,
    /// thinking blocks held back). Stops on EOS, `opts.max_tokens` or `cancel`.
    pub fn chat(
        &self,
        messages: &[Message],
        enable_thinking: bool,
        opts: &GenerateOptions,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse> {
        self.chat_sharing(messages, 0, enable_thinking, opts, cancel, on_text)
    }

    /// [`ChatModel::chat`], with the prompt's start up to the first `shared_content`
    /// bytes of the last message's content kept for later calls (and taken from
    /// earlier ones): their prefill is done once per model.
    pub fn chat_sharing(
        &self,
        messages: &[Message],
        shared_content: usize,
        enable_thinking: bool,
        opts: &GenerateOptions,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse> {
        let (prompt, shared) = self.prompt(messages, enable_thinking, shared_content)?;
        self.complete_sharing(&prompt, shared, opts, cancel, on_text)
    }

    /// Continue raw prompt tokens (no template), streaming visible text.
    pub fn complete(
        &self,
        prompt: &[u32],
        opts: &GenerateOptions,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse> {
        self.complete_sharing(prompt, 0, opts, cancel, on_text)
    }

    /// [`ChatModel::complete`], reusing (or storing) the keys and values of the first
    /// `shared` prompt tokens.
    pub fn complete_sharing(
        &self,
        prompt: &[u32],
        shared: usize,
        opts: &GenerateOptions,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse> {
        self.complete_on(self.model.as_ref(), prompt, shared, opts, cancel, on_text)
    }

    /// Whether the model takes audio (Qwen2.5-Omni).
    pub fn listens(&self) -> bool {
        self.model.thinker().is_some()
    }

    /// Answer `messages` whose last message is about `audio` (16 kHz mono samples):
    /// the audio goes at the end of that message, between the model's audio markers,
    /// as Qwen2.5-Omni's chat template puts it. The recording is encoded whole (any
    /// length: [`crate::llm::models::qwen2_5_omni::audio`]) and its tokens are
    /// prefilled in chunks like any prompt. A model that does not take audio is
    /// [`Error::Unsupported`].
    pub fn listen(
        &self,
        messages: &[Message],
        audio: &[f32],
        opts: &GenerateOptions,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse> {
        let thinker = self.model.thinker().ok_or_else(|| Error::Unsupported {
            path: self.info.path.clone(),
            what: format!(
                "audio input ({} models take text only)",
                self.info.model_type
            ),
        })?;
        let name = |id: Option<u32>| id.and_then(|id| self.tokenizer.id_to_token(id));
        let (start, end) = thinker.audio_markers();
        let audio_token = thinker.audio_token();
        let audio_name = name(Some(audio_token)).ok_or_else(|| {
            Error::corrupt(
                &self.info.path,
                format!("the tokenizer has no token {audio_token} for the audio"),
            )
        })?;
        let marker = format!(
            "{}{audio_name}{}",
            name(start).unwrap_or_default(),
            name(end).unwrap_or_default()
        );
        let mut messages = messages.to_vec();
        let last = messages.last_mut().ok_or_else(|| Error::InvalidArgument {
            name: "messages".into(),
            reason: "no message to attach the audio to".into(),
        })?;
        last.content.push_str(&marker);
        let mut prompt = self.template.render_marked(&messages, true, Some(false))?;
        // The marker is the template's doing, not the user's text: its special tokens
        // are tokenized as such.
        let at = prompt
            .literal
            .last()
            .and_then(|r| prompt.text[r.clone()].rfind(&marker).map(|i| r.start + i))
            .ok_or_else(|| Error::corrupt(&self.info.path, "the chat template drops the audio"))?;
        if let Some(r) = prompt.literal.last_mut() {
            let tail = at + marker.len()..r.end;
            r.end = at;
            if !tail.is_empty() {
                prompt.literal.push(tail);
            }
        }
        let ids = self.tokenizer.encode_prompt(&prompt)?;
        let place = ids
            .iter()
            .position(|&id| id == audio_token)
            .ok_or_else(|| Error::corrupt(&self.info.path, "the audio marker did not tokenize"))?;
        // A recording too long for the context is refused before it is encoded.
        let frames = audio.len().div_ceil(crate::audio::mel::HOP_LENGTH);
        let expected = thinker.audio_config().tokens_for_frames(frames);
        if ids.len() + expected >= self.info.context_length {
            return Err(Error::PromptTooLong {
                tokens: ids.len() + expected,
                limit: self.info.context_length,
            });
        }
        let features = thinker.encode_audio(audio, cancel)?;
        let n = features.shape()[0] as usize;
        let mut expanded = Vec::with_capacity(ids.len() + n);
        expanded.extend_from_slice(&ids[..place]);
        expanded.extend(std::iter::repeat_n(audio_token, n));
        expanded.extend_from_slice(&ids[place + 1..]);
        let model = thinker.with_audio(place, features);
        self.complete_on(&model, &expanded, 0, opts, cancel, on_text)
    }

    fn complete_on(
        &self,
        model: &dyn LanguageModel,
        prompt: &[u32],
        shared: usize,
        opts: &GenerateOptions,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse> {
        if let Some(&id) = prompt
            .iter()
            .find(|&&id| id as usize >= self.info.vocab_size)
        {
            // A token the embedding table has no row for (a mismatched tokenizer):
            // gathering it would read out of bounds.
            return Err(Error::InvalidArgument {
                name: "prompt".into(),
                reason: format!(
                    "token id {id} is outside the model's vocabulary of {}",
                    self.info.vocab_size
                ),
            });
        }
        if prompt.len() >= self.info.context_length {
            return Err(Error::PromptTooLong {
                tokens: prompt.len(),
                limit: self.info.context_length,
            });
        }
        // Never past the context window: a huge `max_tokens` from a request would grow
        // the KV cache until memory runs out on a model that never says EOS.
        let room = self.info.context_length - prompt.len();
        let capped;
        let opts = if opts.max_tokens > room {
            capped = GenerateOptions {
                max_tokens: room,
                ..opts.clone()
            };
            &capped
        } else {
            opts
        };
        let mut decoder = StreamDecoder::new(&self.tokenizer);
        let mut filter = ThinkFilter::default();
        let mut stop = StopMatcher::new(&opts.stop);
        let mut text = String::new();
        // Thinking is hidden first, so a stop string inside a thinking block is not one.
        let mut emit = |chunk: &str, text: &mut String, stop: &mut StopMatcher| {
            let visible = stop.push(&filter.push(chunk));
            if !visible.is_empty() {
                on_text(&visible);
                text.push_str(&visible);
            }
        };
        // Only a start worth a stored copy of its keys and values is kept.
        let prefix = (shared >= MIN_SHARED_TOKENS).then_some(PrefixReuse {
            store: &self.prefixes,
            shared,
        });
        let (_, stats) = generate_with(model, prompt, &self.eos, opts, prefix, cancel, |id| {
            if let Some(chunk) = decoder.push(id) {
                emit(&chunk, &mut text, &mut stop);
            }
            Ok(if stop.stopped() {
                Flow::Stop
            } else {
                Flow::Continue
            })
        })?;
        if let Some(chunk) = decoder.finish() {
            emit(&chunk, &mut text, &mut stop);
        }
        // The thinking filter's and then the stop matcher's held-back ends.
        let mut rest = stop.push(&filter.finish());
        rest.push_str(&stop.finish());
        if !rest.is_empty() {
            on_text(&rest);
            text.push_str(&rest);
        }
        Ok(ChatResponse { text, stats })
    }
}

/// Shortest prompt start kept in the prefix cache.
const MIN_SHARED_TOKENS: usize = 16;

fn single_gguf(dir: &Path) -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::corrupt(
            dir,
            "neither config.json nor a .gguf file in the folder",
        )),
        n => Err(Error::InvalidArgument {
            name: "model".into(),
            reason: format!("{} holds {n} .gguf files; name one", dir.display()),
        }),
    }
}

/// `eos_token_id` as an integer or a list of integers.
fn collect_ids(config: &serde_json::Value, into: &mut HashSet<u32>) {
    match config.get("eos_token_id") {
        Some(serde_json::Value::Number(n)) => into.extend(n.as_u64().map(|v| v as u32)),
        Some(serde_json::Value::Array(a)) => {
            into.extend(a.iter().filter_map(|v| v.as_u64()).map(|v| v as u32))
        }
        _ => {}
    }
}
