//! Text ⇄ token ids, for HF `tokenizer.json` files and for the vocabulary embedded in GGUF
//! models, plus streaming detokenization.
//!
//! Both sources end up as a [`tokenizers::Tokenizer`] (HF's Rust implementation), so
//! encoding is bit-for-bit what `transformers` does for the same pipeline. What this
//! module adds:
//!
//! - [`Tokenizer::from_gguf`] rebuilds a byte-level BPE pipeline from GGUF metadata the
//!   way llama.cpp interprets it (the `tokenizer.ggml.pre` name selects the split regexes
//!   the original `tokenizer.json` used), so a GGUF model needs no separate tokenizer file.
//! - Special-token knowledge the raw tokenizer lacks: BOS/EOS ids (from GGUF keys, or from
//!   the `tokenizer_config.json` / `generation_config.json` next to a `tokenizer.json`).
//! - [`StreamDecoder`], which turns a stream of generated ids into text chunks that are
//!   always valid UTF-8 and concatenate to exactly `decode(all ids)`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use crate::error::{Error, Result};
use crate::llm::load::gguf::{GgufHeader, Value};

/// GGUF `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
const TOKEN_TYPE_CONTROL: u64 = 3;
const TOKEN_TYPE_USER_DEFINED: u64 = 4;

/// The split regex of GPT-2's byte-level BPE (what HF's `ByteLevel(use_regex=true)` uses).
const GPT2_REGEX: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Llama 3's split regex, as in its `tokenizer.json` (numbers in groups of up to three).
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2/Qwen3's split regex, as in their `tokenizer.json` (every digit on its own).
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Splits every digit off on its own (HF's `Digits(individual_digits=true)`).
const DIGITS_REGEX: &str = r"\p{N}";

/// How a GGUF `tokenizer.ggml.pre` name pre-tokenizes: the regexes applied in order (each
/// isolates its matches), whether text is NFC-normalized first and whether whole words
/// found in the vocabulary skip the merges.
struct PreTokenizerFlavour {
    regexes: &'static [&'static str],
    nfc: bool,
    ignore_merges: bool,
}

impl PreTokenizerFlavour {
    /// The flavour for a `tokenizer.ggml.pre` value, following llama.cpp's `llama_vocab::load`
    /// (which names the regex list) and the original HF `tokenizer.json` of each family
    /// (which the regexes were copied from; they are used here in their original form,
    /// since `fancy-regex` supports the `(?i:…)` groups llama.cpp had to rewrite).
    fn named(pre: Option<&str>) -> Option<Self> {
        let f = |regexes, nfc, ignore_merges| {
            Some(PreTokenizerFlavour {
                regexes,
                nfc,
                ignore_merges,
            })
        };
        match pre {
            // No name: files converted before llama.cpp recorded one. HF's GGUF converter
            // then uses plain GPT-2 byte-level splitting, and so do we.
            None
            | Some("default" | "gpt2" | "gpt-2" | "phi-2" | "mpt" | "olmo" | "roberta-bpe") => {
                f(&[GPT2_REGEX], false, false)
            }
            // StarCoder-style: digits individually, then GPT-2 (SmolLM/SmolLM2's tokenizer.json
            // is `Digits(individual_digits) + ByteLevel`).
            Some(
                "smollm" | "starcoder" | "refact" | "codeshell" | "command-r" | "exaone"
                | "minerva-7b",
            ) => f(&[DIGITS_REGEX, GPT2_REGEX], false, false),
            Some("llama3" | "llama-v3" | "llama-bpe" | "falcon3") => {
                f(&[LLAMA3_REGEX], false, true)
            }
            Some("dbrx" | "smaug-bpe") => f(&[LLAMA3_REGEX], false, false),
            // Qwen2/2.5/3 tokenizer.json files NFC-normalize before splitting.
            Some("qwen2" | "deepseek-r1-qwen" | "megrez") => f(&[QWEN2_REGEX], true, false),
            Some("stablelm2") => f(&[QWEN2_REGEX], false, false),
            Some(_) => None,
        }
    }

    fn pre_tokenizer(&self) -> std::result::Result<Sequence, tokenizers::Error> {
        let mut steps = Vec::with_capacity(self.regexes.len() + 1);
        for regex in self.regexes {
            let split = Split::new(
                SplitPattern::Regex((*regex).to_string()),
                SplitDelimiterBehavior::Isolated,
                false,
            )?;
            steps.push(PreTokenizerWrapper::from(split));
        }
        // Byte-to-unicode mapping only: the splitting was done above.
        steps.push(PreTokenizerWrapper::from(ByteLevel::new(
            false, false, false,
        )));
        Ok(Sequence::new(steps))
    }
}

/// A tokenizer with its special-token ids. Cheap to clone (the vocabulary is shared), so a
/// [`StreamDecoder`] can own one.
#[derive(Clone)]
pub struct Tokenizer {
    inner: Arc<tokenizers::Tokenizer>,
    bos: Option<u32>,
    eos: Vec<u32>,
    /// Sorted ids of the added tokens flagged special (control tokens).
    special: Vec<u32>,
    /// GGUF `add_bos_token` / `add_eos_token`: applied by [`Tokenizer::encode`] when
    /// special tokens are requested (`tokenizer.json` files carry this in their
    /// post-processor instead).
    prepend_bos: bool,
    append_eos: bool,
}

impl fmt::Debug for Tokenizer {
    // The derived form would print the whole vocabulary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("special_tokens", &self.special.len())
            .finish()
    }
}

/// A token id stored under `key` in GGUF metadata: `None` when absent or `-1` (llama.cpp's
/// "none", written as `u32::MAX` or a signed -1); an error when not below `n_tokens`.
fn gguf_token_id(header: &GgufHeader, key: &str, n_tokens: u64) -> Result<Option<u32>> {
    match header.get(key) {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(id) if id < n_tokens => Ok(Some(id as u32)),
            Some(id) if id == u64::from(u32::MAX) => Ok(None),
            None if matches!(v, Value::I32(-1) | Value::I64(-1)) => Ok(None),
            _ => Err(Error::corrupt(
                &header.path,
                format!("{key} = {v:?} is not a token id below {n_tokens}"),
            )),
        },
    }
}

fn tok_err(context: impl fmt::Display, e: impl fmt::Display) -> Error {
    Error::Tokenizer(format!("{context}: {e}"))
}

impl Tokenizer {
    /// Load an HF `tokenizer.json`.
    ///
    /// BOS/EOS come from `tokenizer_config.json` (`bos_token`, `eos_token`) and
    /// `generation_config.json` (`bos_token_id`, `eos_token_id`, which may list several
    /// ids) in the same folder when present: `tokenizer.json` alone does not say which
    /// tokens end a turn.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let inner = tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| {
            tok_err(
                format_args!("{} is not a valid tokenizer.json", path.display()),
                e,
            )
        })?;
        let mut tok = Self::wrap(inner);
        if let Some(dir) = path.parent() {
            tok.read_sibling_configs(dir)?;
        }
        Ok(tok)
    }

    fn wrap(inner: tokenizers::Tokenizer) -> Self {
        let special: BTreeSet<u32> = inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| id)
            .collect();
        Tokenizer {
            inner: Arc::new(inner),
            bos: None,
            eos: Vec::new(),
            special: special.into_iter().collect(),
            prepend_bos: false,
            append_eos: false,
        }
    }

    /// Fill BOS/EOS from `tokenizer_config.json` and `generation_config.json` in `dir`.
    /// Missing files are fine; unreadable or malformed ones are errors, since they mean a
    /// broken download rather than a model without the information.
    fn read_sibling_configs(&mut self, dir: &Path) -> Result<()> {
        let read_json = |name: &str| crate::files::read_json_opt(&dir.join(name));
        if let Some(cfg) = read_json("tokenizer_config.json")? {
            let token = |key: &str| token_content(cfg.get(key)?).and_then(|t| self.token_to_id(t));
            let (bos, eos) = (token("bos_token"), token("eos_token"));
            self.bos = bos;
            self.eos.extend(eos);
        }
        if let Some(cfg) = read_json("generation_config.json")? {
            if let Some(id) = cfg.get("bos_token_id").and_then(json_id) {
                self.bos.get_or_insert(id);
            }
            match cfg.get("eos_token_id") {
                Some(serde_json::Value::Array(ids)) => {
                    self.eos.extend(ids.iter().filter_map(json_id))
                }
                Some(v) => self.eos.extend(json_id(v)),
                None => {}
            }
        }
        self.dedup_eos();
        Ok(())
    }

    fn dedup_eos(&mut self) {
        let mut seen = BTreeSet::new();
        self.eos.retain(|id| seen.insert(*id));
    }

    /// Build a byte-level BPE tokenizer from a GGUF file's `tokenizer.ggml.*` metadata.
    ///
    /// Supports `tokenizer.ggml.model = "gpt2"` (GPT-2-style byte-level BPE, used by
    /// SmolLM, Llama 3, Qwen and most recent models) with the pre-tokenizer flavours named
    /// by `tokenizer.ggml.pre` (`gpt2`, `smollm`/`starcoder`, `llama-bpe`/`llama3`,
    /// `qwen2`, and close relatives). Control tokens (type 3) become special added tokens
    /// and user-defined ones (type 4, e.g. Qwen's `<think>`) plain added tokens, so both
    /// are matched whole in the input instead of being split by BPE.
    ///
    /// SentencePiece vocabularies (`"llama"`, Llama 2 / Mistral) and others are reported
    /// as [`Error::Unsupported`].
    pub fn from_gguf(header: &GgufHeader) -> Result<Self> {
        let path = header.path.as_path();
        let corrupt = |reason: String| Error::corrupt(path, reason);
        let unsupported = |what: String| Error::Unsupported {
            path: path.to_path_buf(),
            what,
        };

        let model = header
            .get("tokenizer.ggml.model")
            .ok_or_else(|| corrupt("no tokenizer.ggml.model: the file has no tokenizer".into()))?
            .as_str()
            .ok_or_else(|| corrupt("tokenizer.ggml.model is not a string".into()))?;
        if model != "gpt2" {
            return Err(unsupported(format!(
                "tokenizer model \"{model}\" (only GPT-2-style byte-level BPE, \"gpt2\", is implemented)"
            )));
        }
        let pre = match header.get("tokenizer.ggml.pre") {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| corrupt("tokenizer.ggml.pre is not a string".into()))?,
            ),
        };
        let flavour = PreTokenizerFlavour::named(pre).ok_or_else(|| {
            unsupported(format!(
                "pre-tokenizer \"{}\" (tokenizer.ggml.pre)",
                pre.unwrap_or("")
            ))
        })?;

        let string_array = |key: &str| -> Result<Vec<&str>> {
            header
                .get(key)
                .ok_or_else(|| corrupt(format!("{key} is missing")))?
                .as_array()
                .ok_or_else(|| corrupt(format!("{key} is not an array")))?
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| corrupt(format!("{key} holds a non-string")))
                })
                .collect()
        };
        let tokens = string_array("tokenizer.ggml.tokens")?;
        let merges = string_array("tokenizer.ggml.merges")?;
        if tokens.is_empty() {
            return Err(corrupt("tokenizer.ggml.tokens is empty".into()));
        }
        if u32::try_from(tokens.len()).is_err() {
            return Err(corrupt(format!(
                "{} tokens do not fit u32 ids",
                tokens.len()
            )));
        }
        let types: Vec<u64> = match header.get("tokenizer.ggml.token_type") {
            None => vec![1; tokens.len()],
            Some(v) => {
                let arr = v
                    .as_array()
                    .ok_or_else(|| corrupt("tokenizer.ggml.token_type is not an array".into()))?;
                if arr.len() != tokens.len() {
                    return Err(corrupt(format!(
                        "tokenizer.ggml.token_type has {} entries for {} tokens",
                        arr.len(),
                        tokens.len()
                    )));
                }
                arr.iter()
                    .map(|t| {
                        t.as_u64().ok_or_else(|| {
                            corrupt("tokenizer.ggml.token_type holds a non-integer".into())
                        })
                    })
                    .collect::<Result<_>>()?
            }
        };

        // A duplicated token string keeps its first id, as llama.cpp's text → id map does.
        let mut vocab = Vocab::default();
        vocab.reserve(tokens.len());
        for (id, tok) in tokens.iter().enumerate() {
            vocab.entry((*tok).to_string()).or_insert(id as u32);
        }
        let merges = merges
            .iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| {
                        corrupt(format!(
                            "merge {m:?} is not two tokens separated by a space"
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(flavour.ignore_merges)
            .build()
            .map_err(|e| corrupt(format!("inconsistent BPE vocabulary: {e}")))?;

        let mut inner = tokenizers::Tokenizer::new(bpe);
        if flavour.nfc {
            inner.with_normalizer(Some(NFC));
        }
        let pre_tokenizer = flavour
            .pre_tokenizer()
            .map_err(|e| tok_err("building the pre-tokenizer", e))?;
        inner.with_pre_tokenizer(Some(pre_tokenizer));
        inner.with_decoder(Some(ByteLevelDecoder::default()));

        let added = |ty: u64, special: bool| -> Vec<AddedToken> {
            tokens
                .iter()
                .zip(&types)
                .filter(|(_, t)| **t == ty)
                .map(|(tok, _)| AddedToken::from(*tok, special).normalized(false))
                .collect()
        };
        inner.add_special_tokens(&added(TOKEN_TYPE_CONTROL, true));
        inner.add_tokens(&added(TOKEN_TYPE_USER_DEFINED, false));

        let mut tok = Self::wrap(inner);
        let n_tokens = tokens.len() as u64;
        tok.bos = gguf_token_id(header, "tokenizer.ggml.bos_token_id", n_tokens)?;
        tok.add_gguf_end_tokens(header, n_tokens)?;
        let flag = |key: &str| header.get(key).and_then(Value::as_bool);
        // llama.cpp's default for BPE vocabularies is to add no BOS unless told to.
        tok.prepend_bos =
            flag("tokenizer.ggml.add_bos_token").unwrap_or(false) && tok.bos.is_some();
        tok.append_eos =
            flag("tokenizer.ggml.add_eos_token").unwrap_or(false) && !tok.eos.is_empty();
        Ok(tok)
    }

    /// Add the end-of-generation ids a GGUF file names (EOS, plus end-of-turn and
    /// end-of-message where the model has separate ones: Llama 3's `<|eot_id|>`,
    /// `<|eom_id|>`), for a tokenizer of `n_tokens` ids. GGUF models whose tokenizer comes
    /// from a `tokenizer.json` beside the file use this too.
    pub fn add_gguf_end_tokens(&mut self, header: &GgufHeader, n_tokens: u64) -> Result<()> {
        for key in [
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.eot_token_id",
            "tokenizer.ggml.eom_token_id",
        ] {
            self.eos.extend(gguf_token_id(header, key, n_tokens)?);
        }
        self.dedup_eos();
        Ok(())
    }

    /// Token ids of `text`. With `add_special_tokens`, the tokens the model expects around
    /// a sequence (e.g. a BOS) are added; chat-templated text already contains its special
    /// tokens as text (matched whole either way), so it is usually encoded without.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| tok_err("encoding failed", e))?;
        let ids = encoding.get_ids();
        let mut out = Vec::with_capacity(ids.len() + 2);
        if add_special_tokens && self.prepend_bos {
            out.extend(self.bos);
        }
        out.extend_from_slice(ids);
        if add_special_tokens && self.append_eos {
            out.extend(self.eos.first());
        }
        Ok(out)
    }

    /// Text of `ids`. Ids with no token decode to nothing, as in HF: a model's embedding
    /// table is often padded past the vocabulary (Qwen3: 151,936 rows for 151,669 tokens),
    /// and a sampler that picks such an id must not abort a generation.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| tok_err("decoding failed", e))
    }

    /// The id of a token given in its vocabulary form (byte-level BPE vocabularies spell a
    /// leading space `Ġ`), or of an added token such as `<|im_end|>`.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The vocabulary form of a token id.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Number of tokens, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The beginning-of-sequence id, when the model has one.
    pub fn bos_token_id(&self) -> Option<u32> {
        self.bos
    }

    /// Ids that end a generation (EOS and end-of-turn tokens); empty when unknown.
    pub fn eos_token_ids(&self) -> &[u32] {
        &self.eos
    }

    /// Ids of the special (control) tokens, sorted: what `skip_special_tokens` removes.
    pub fn special_token_ids(&self) -> &[u32] {
        &self.special
    }

    /// Whether `id` is a special (control) token.
    pub fn is_special(&self, id: u32) -> bool {
        self.special.binary_search(&id).is_ok()
    }

    /// The underlying HF tokenizer, for what this wrapper does not expose (offsets, batches).
    pub fn hf(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// A [`StreamDecoder`] over this tokenizer.
    pub fn stream_decoder(&self, skip_special_tokens: bool) -> StreamDecoder {
        StreamDecoder::new(self).skip_special_tokens(skip_special_tokens)
    }
}

/// A token's text in a `tokenizer_config.json`: a plain string or an AddedToken object.
fn token_content(v: &serde_json::Value) -> Option<&str> {
    match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Object(o) => o.get("content")?.as_str(),
        _ => None,
    }
}

fn json_id(v: &serde_json::Value) -> Option<u32> {
    v.as_u64().and_then(|id| u32::try_from(id).ok())
}

/// Incremental detokenization for streaming generated text.
///
/// Decoding tokens one by one and concatenating is wrong twice over: a byte-level token
/// may hold only part of a UTF-8 character (emoji and CJK often span two or three
/// tokens), and some decoders change a token's text depending on what precedes it (a
/// SentencePiece `▁` becomes a space except at the start). So each step decodes a short
/// window — the tokens of the last emitted chunk (the *prefix*) plus the tokens not yet
/// emitted — and emits what the window's text adds to the prefix's text, but only once
/// that text does not end in U+FFFD (an incomplete character). Work per token is
/// proportional to the window, which stays a few tokens long, not to the whole output.
///
/// The chunks concatenate to exactly `decode(all ids)` for any valid UTF-8 output.
#[derive(Debug)]
pub struct StreamDecoder {
    tokenizer: Tokenizer,
    skip_special_tokens: bool,
    /// `ids[..read]` have been emitted (they are the prefix context); `ids[read..]` not yet.
    ids: Vec<u32>,
    read: usize,
    /// `decode(ids[..read])`, cached.
    prefix_text: String,
}

/// Pending tokens after which the decoder stops waiting for a character to complete: no
/// UTF-8 character spans more than 4 byte-level tokens, so this only happens when the
/// model emits invalid byte sequences. Emitting them (as U+FFFD) keeps the window bounded.
const MAX_PENDING: usize = 8;

impl StreamDecoder {
    /// A decoder that keeps special tokens in the text (so the chunks add up to
    /// `decode(ids, false)`). It holds a clone of `tokenizer`, which shares the vocabulary.
    pub fn new(tokenizer: &Tokenizer) -> Self {
        StreamDecoder {
            tokenizer: tokenizer.clone(),
            skip_special_tokens: false,
            ids: Vec::new(),
            read: 0,
            prefix_text: String::new(),
        }
    }

    /// Leave special tokens (`<|im_end|>`, …) out of the text, as `decode(ids, true)` does.
    pub fn skip_special_tokens(mut self, skip: bool) -> Self {
        self.skip_special_tokens = skip;
        self
    }

    /// Feed one generated id; returns the text it completes, if any. Ids with no token
    /// decode to nothing (see [`Tokenizer::decode`]).
    pub fn push(&mut self, id: u32) -> Option<String> {
        self.ids.push(id);
        let text = self.decode_window();
        let pending = self.ids.len() - self.read;
        if text.len() <= self.prefix_text.len() && pending < MAX_PENDING {
            return None;
        }
        if text.ends_with('\u{FFFD}') && pending < MAX_PENDING {
            return None;
        }
        let chunk = suffix_after(&text, &self.prefix_text).to_string();
        // The just-emitted tokens become the context for the next step.
        self.ids.drain(..self.read);
        self.read = self.ids.len();
        self.prefix_text = self.decode_window();
        (!chunk.is_empty()).then_some(chunk)
    }

    /// Flush what is still held back (an incomplete character at the end of the output is
    /// emitted as U+FFFD, as `decode` would) and reset for a new sequence.
    pub fn finish(&mut self) -> Option<String> {
        let chunk = if self.read < self.ids.len() {
            let text = self.decode_window();
            suffix_after(&text, &self.prefix_text).to_string()
        } else {
            String::new()
        };
        self.reset();
        (!chunk.is_empty()).then_some(chunk)
    }

    /// Forget all state, ready for a new sequence.
    fn reset(&mut self) {
        self.ids.clear();
        self.read = 0;
        self.prefix_text.clear();
    }

    fn decode_window(&self) -> String {
        // The byte-level and SentencePiece decoders cannot fail; if a custom decoder
        // does, treating the window as empty only delays text until `finish`.
        self.tokenizer
            .decode(&self.ids, self.skip_special_tokens)
            .unwrap_or_default()
    }
}

/// The part of `text` after `prefix`. Decoders keep the prefix's text stable when tokens
/// are appended; should one not, emit from the first difference (at a character
/// boundary) rather than slice inside a character.
fn suffix_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    if let Some(rest) = text.strip_prefix(prefix) {
        return rest;
    }
    let common = text
        .char_indices()
        .zip(prefix.chars())
        .take_while(|((_, a), b)| a == b)
        .last()
        .map_or(0, |((i, c), _)| i + c.len_utf8());
    &text[common..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    /// A GGUF header in memory with a toy byte-level vocabulary: the bytes of "ab é"
    /// (é is two bytes, Ã + ©) and a few merges, plus control and user-defined tokens.
    fn toy_header(pre: Option<&str>, extra: &[(&str, Value)]) -> GgufHeader {
        let tokens = [
            "<s>", "</s>", "a", "b", "Ġ", "Ã", "©", "ab", "Ġa", "Ã©", "1", "2", "12", "<think>",
        ];
        let types = [3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4];
        let merges = ["a b", "Ġ a", "Ã ©", "1 2"];
        let strs =
            |v: &[&str]| Value::Array(v.iter().map(|s| Value::String(s.to_string())).collect());
        let mut metadata = BTreeMap::from([
            (
                "tokenizer.ggml.model".to_string(),
                Value::String("gpt2".into()),
            ),
            ("tokenizer.ggml.tokens".to_string(), strs(&tokens)),
            ("tokenizer.ggml.merges".to_string(), strs(&merges)),
            (
                "tokenizer.ggml.token_type".to_string(),
                Value::Array(types.iter().map(|t| Value::I32(*t)).collect()),
            ),
            ("tokenizer.ggml.bos_token_id".to_string(), Value::U32(0)),
            ("tokenizer.ggml.eos_token_id".to_string(), Value::U32(1)),
        ]);
        if let Some(pre) = pre {
            metadata.insert("tokenizer.ggml.pre".into(), Value::String(pre.into()));
        }
        for (k, v) in extra {
            metadata.insert(k.to_string(), v.clone());
        }
        GgufHeader {
            path: PathBuf::from("toy.gguf"),
            version: 3,
            metadata,
            tensors: Vec::new(),
            data_offset: 0,
        }
    }

    #[test]
    fn gguf_byte_level_bpe_round_trips() {
        let tok = Tokenizer::from_gguf(&toy_header(Some("gpt2"), &[])).unwrap();
        assert_eq!(tok.vocab_size(), 14);
        assert_eq!(tok.encode("ab a", false).unwrap(), [7, 8]);
        assert_eq!(tok.encode("é", false).unwrap(), [9]);
        // Control and user-defined tokens are matched whole, not split into a/b/…
        assert_eq!(tok.encode("<s>ab</s>", false).unwrap(), [0, 7, 1]);
        assert_eq!(tok.encode("<think>a", false).unwrap(), [13, 2]);
        assert_eq!(tok.decode(&[0, 7, 8, 9, 1], false).unwrap(), "<s>ab aé</s>");
        assert_eq!(tok.decode(&[0, 7, 8, 9, 1], true).unwrap(), "ab aé");
        // <think> is user-defined: not special, so it survives skip_special_tokens.
        assert_eq!(tok.decode(&[13, 7], true).unwrap(), "<think>ab");
        assert_eq!(tok.special_token_ids(), [0, 1]);
        assert_eq!(
            (tok.bos_token_id(), tok.eos_token_ids()),
            (Some(0), &[1][..])
        );
        assert_eq!(tok.token_to_id("Ġa"), Some(8));
        assert_eq!(tok.id_to_token(9).as_deref(), Some("Ã©"));
        // Unknown ids decode to nothing rather than failing.
        assert_eq!(tok.decode(&[7, 999], false).unwrap(), "ab");
    }

    #[test]
    fn pre_tokenizer_flavour_decides_digit_splitting() {
        // GPT-2 keeps digit runs together (so the "1 2" merge applies); SmolLM splits
        // every digit.
        let gpt2 = Tokenizer::from_gguf(&toy_header(Some("gpt2"), &[])).unwrap();
        assert_eq!(gpt2.encode("12", false).unwrap(), [12]);
        let smollm = Tokenizer::from_gguf(&toy_header(Some("smollm"), &[])).unwrap();
        assert_eq!(smollm.encode("12", false).unwrap(), [10, 11]);
        let missing = Tokenizer::from_gguf(&toy_header(None, &[])).unwrap();
        assert_eq!(missing.encode("12", false).unwrap(), [12]);
    }

    #[test]
    fn add_bos_token_applies_only_with_special_tokens() {
        let h = toy_header(
            Some("gpt2"),
            &[("tokenizer.ggml.add_bos_token", Value::Bool(true))],
        );
        let tok = Tokenizer::from_gguf(&h).unwrap();
        assert_eq!(tok.encode("ab", true).unwrap(), [0, 7]);
        assert_eq!(tok.encode("ab", false).unwrap(), [7]);
        let tok = Tokenizer::from_gguf(&toy_header(Some("gpt2"), &[])).unwrap();
        assert_eq!(tok.encode("ab", true).unwrap(), [7]);
    }

    #[test]
    fn unsupported_and_corrupt_metadata_are_typed_errors() {
        let h = toy_header(
            Some("gpt2"),
            &[("tokenizer.ggml.model", Value::String("llama".into()))],
        );
        assert!(
            matches!(Tokenizer::from_gguf(&h), Err(Error::Unsupported { what, .. }) if what.contains("llama"))
        );
        let h = toy_header(Some("some-new-model"), &[]);
        assert!(
            matches!(Tokenizer::from_gguf(&h), Err(Error::Unsupported { what, .. }) if what.contains("some-new-model"))
        );
        let mut h = toy_header(Some("gpt2"), &[]);
        h.metadata.remove("tokenizer.ggml.model");
        assert!(matches!(
            Tokenizer::from_gguf(&h),
            Err(Error::CorruptModel { .. })
        ));
        let h = toy_header(
            Some("gpt2"),
            &[(
                "tokenizer.ggml.merges",
                Value::Array(vec![Value::String("a x".into())]),
            )],
        );
        assert!(matches!(
            Tokenizer::from_gguf(&h),
            Err(Error::CorruptModel { .. })
        ));
        let h = toy_header(
            Some("gpt2"),
            &[("tokenizer.ggml.eos_token_id", Value::U32(500))],
        );
        assert!(matches!(
            Tokenizer::from_gguf(&h),
            Err(Error::CorruptModel { .. })
        ));
        let h = toy_header(
            Some("gpt2"),
            &[(
                "tokenizer.ggml.token_type",
                Value::Array(vec![Value::I32(1)]),
            )],
        );
        assert!(matches!(
            Tokenizer::from_gguf(&h),
            Err(Error::CorruptModel { .. })
        ));
    }

    #[test]
    fn from_file_reports_missing_and_malformed_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("tokenizer.json");
        assert!(matches!(
            Tokenizer::from_file(&missing),
            Err(Error::Io { .. })
        ));
        std::fs::write(&missing, "{ not json").unwrap();
        assert!(matches!(
            Tokenizer::from_file(&missing),
            Err(Error::Tokenizer(_))
        ));
    }

    #[test]
    fn stream_decoder_holds_split_characters() {
        // "é" as two tokens of one byte each: nothing until the second arrives.
        let tok = Tokenizer::from_gguf(&toy_header(Some("gpt2"), &[])).unwrap();
        let mut s = tok.stream_decoder(false);
        assert_eq!(s.push(7).as_deref(), Some("ab"));
        assert_eq!(s.push(4).as_deref(), Some(" "));
        assert_eq!(s.push(5), None);
        assert_eq!(s.push(6).as_deref(), Some("é"));
        assert_eq!(s.push(1).as_deref(), Some("</s>"));
        assert_eq!(s.finish(), None);
        // A dangling partial character is flushed by finish, as decode would show it.
        assert_eq!(s.push(5), None);
        assert_eq!(s.finish().as_deref(), Some("\u{FFFD}"));
    }

    #[test]
    fn stream_decoder_window_stays_bounded_on_invalid_bytes() {
        let tok = Tokenizer::from_gguf(&toy_header(Some("gpt2"), &[])).unwrap();
        let mut s = tok.stream_decoder(false);
        let mut out = String::new();
        for _ in 0..100 {
            out.extend(s.push(5)); // a lone lead byte, never completed
            assert!(s.ids.len() <= 2 * MAX_PENDING);
        }
        out.extend(s.finish());
        assert_eq!(out, tok.decode(&[5; 100], false).unwrap());
    }

    #[test]
    fn every_named_pre_tokenizer_compiles() {
        for pre in [
            "default",
            "gpt2",
            "gpt-2",
            "phi-2",
            "mpt",
            "olmo",
            "roberta-bpe",
            "smollm",
            "starcoder",
            "refact",
            "codeshell",
            "command-r",
            "exaone",
            "minerva-7b",
            "llama3",
            "llama-v3",
            "llama-bpe",
            "falcon3",
            "dbrx",
            "smaug-bpe",
            "qwen2",
            "deepseek-r1-qwen",
            "megrez",
            "stablelm2",
        ] {
            let flavour = PreTokenizerFlavour::named(Some(pre)).unwrap();
            assert!(flavour.pre_tokenizer().is_ok(), "{pre}");
            let tok = Tokenizer::from_gguf(&toy_header(Some(pre), &[])).unwrap();
            assert_eq!(
                tok.decode(&tok.encode("ab aé", false).unwrap(), false)
                    .unwrap(),
                "ab aé"
            );
        }
    }

    #[test]
    fn tokenizer_and_stream_decoder_can_cross_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Tokenizer>();
        assert_send_sync::<StreamDecoder>();
    }

    #[test]
    fn suffix_after_never_splits_characters() {
        assert_eq!(suffix_after("héllo", "hé"), "llo");
        assert_eq!(suffix_after("hallo", "hé"), "allo");
        assert_eq!(suffix_after("é", "e"), "é");
    }
}
