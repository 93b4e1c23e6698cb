//! Tokenizing a chat prompt so that only the template's markers become control tokens.
//!
//! HF tokenizers match added tokens (`<|im_end|>`, `<|eot_id|>`, `<think>`) anywhere in
//! the text before the model's own splitting, so a message that spells one out would be
//! encoded as the real control token and steer the model (end the user's turn, start an
//! assistant turn it wrote itself). Message text is therefore encoded as literal text:
//! the normalizer, pre-tokenizer and model alone, never the added vocabulary.

use std::ops::Range;

use tokenizers::{
    Model, Normalizer, OffsetType, PreTokenizedString, PreTokenizer, normalizer::NormalizedString,
};

use super::chat_template::RenderedPrompt;
use super::tokenizer::Tokenizer;
use crate::error::{Error, Result};

fn tok_err(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(format!("encoding failed: {e}"))
}

impl Tokenizer {
    /// Token ids of a rendered prompt: the same ids as encoding its whole text when no
    /// added token falls inside message text (the common case, so prompts match the
    /// reference tokenization exactly); otherwise template and message pieces are encoded
    /// apart, the message pieces as literal text.
    pub fn encode_prompt(&self, prompt: &RenderedPrompt) -> Result<Vec<u32>> {
        let hf = self.hf();
        let whole = hf.encode(prompt.text.as_str(), false).map_err(tok_err)?;
        let added = hf.get_added_tokens_decoder();
        let injected =
            whole
                .get_ids()
                .iter()
                .zip(whole.get_offsets())
                .any(|(id, &(start, end))| {
                    added.contains_key(id) && overlaps(&prompt.literal, start..end)
                });
        if !injected {
            return Ok(whole.get_ids().to_vec());
        }
        let mut ids = Vec::new();
        let mut at = 0;
        for range in &prompt.literal {
            if range.start > at {
                let template = hf
                    .encode(&prompt.text[at..range.start], false)
                    .map_err(tok_err)?;
                ids.extend_from_slice(template.get_ids());
            }
            ids.extend(self.encode_literal(&prompt.text[range.clone()])?);
            at = range.end;
        }
        if at < prompt.text.len() {
            let template = hf.encode(&prompt.text[at..], false).map_err(tok_err)?;
            ids.extend_from_slice(template.get_ids());
        }
        Ok(ids)
    }

    /// Token ids of `text` as plain text: a control token's spelling becomes the ordinary
    /// tokens of its characters.
    pub fn encode_literal(&self, text: &str) -> Result<Vec<u32>> {
        let hf = self.hf();
        let mut normalized = NormalizedString::from(text);
        if let Some(n) = hf.get_normalizer() {
            n.normalize(&mut normalized).map_err(tok_err)?;
        }
        let mut pieces = PreTokenizedString::from(normalized);
        if let Some(p) = hf.get_pre_tokenizer() {
            p.pre_tokenize(&mut pieces).map_err(tok_err)?;
        }
        let model = hf.get_model();
        pieces
            .tokenize(|piece| model.tokenize(piece.get()))
            .map_err(tok_err)?;
        let encoding = pieces
            .into_encoding(None, 0, OffsetType::None)
            .map_err(tok_err)?;
        Ok(encoding.get_ids().to_vec())
    }
}

fn overlaps(ranges: &[Range<usize>], token: Range<usize>) -> bool {
    ranges
        .iter()
        .any(|r| token.start < r.end && r.start < token.end)
}
