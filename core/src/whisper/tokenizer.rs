//! Whisper's tokenizer: GPT-2 byte-level BPE for text, plus the special tokens
//! (start of transcript, languages, tasks, timestamps) whose ids follow from the
//! vocabulary size alone.
//!
//! The text vocabulary is read from whatever the model folder ships: an HF
//! `tokenizer.json` (faster-whisper repos), CTranslate2's `vocabulary.txt` /
//! `vocabulary.json`, or a tiktoken file (`multilingual.tiktoken` / `gpt2.tiktoken`,
//! what mlx-whisper bundles). All are the same ranked byte sequences, so one small
//! tiktoken-style BPE (merge the adjacent pair whose concatenation ranks lowest) encodes
//! them identically. Encoding is only needed for prompts and the suppression lists, so
//! simplicity wins over speed here; decoding is a table lookup.
//!
//! Special ids are laid out as OpenAI's `get_encoding` does: `eot`, `sot`, one token per
//! language, `translate`, `transcribe`, `startoflm`, `startofprev`, `nospeech`,
//! `notimestamps`, then 1501 timestamps `<|0.00|>`…`<|30.00|>`. Deriving them from
//! `n_vocab` (not from token strings) makes every vocabulary source agree, including
//! ones that lack the timestamp tokens.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::error::{Error, Result};

/// Language codes and English names in Whisper's token order (`<|en|>` first). Large-v3
/// models have 100 languages; the others use the first 99.
pub const LANGUAGES: &[(&str, &str)] = &[
    ("en", "english"),
    ("zh", "chinese"),
    ("de", "german"),
    ("es", "spanish"),
    ("ru", "russian"),
    ("ko", "korean"),
    ("fr", "french"),
    ("ja", "japanese"),
    ("pt", "portuguese"),
    ("tr", "turkish"),
    ("pl", "polish"),
    ("ca", "catalan"),
    ("nl", "dutch"),
    ("ar", "arabic"),
    ("sv", "swedish"),
    ("it", "italian"),
    ("id", "indonesian"),
    ("hi", "hindi"),
    ("fi", "finnish"),
    ("vi", "vietnamese"),
    ("he", "hebrew"),
    ("uk", "ukrainian"),
    ("el", "greek"),
    ("ms", "malay"),
    ("cs", "czech"),
    ("ro", "romanian"),
    ("da", "danish"),
    ("hu", "hungarian"),
    ("ta", "tamil"),
    ("no", "norwegian"),
    ("th", "thai"),
    ("ur", "urdu"),
    ("hr", "croatian"),
    ("bg", "bulgarian"),
    ("lt", "lithuanian"),
    ("la", "latin"),
    ("mi", "maori"),
    ("ml", "malayalam"),
    ("cy", "welsh"),
    ("sk", "slovak"),
    ("te", "telugu"),
    ("fa", "persian"),
    ("lv", "latvian"),
    ("bn", "bengali"),
    ("sr", "serbian"),
    ("az", "azerbaijani"),
    ("sl", "slovenian"),
    ("kn", "kannada"),
    ("et", "estonian"),
    ("mk", "macedonian"),
    ("br", "breton"),
    ("eu", "basque"),
    ("is", "icelandic"),
    ("hy", "armenian"),
    ("ne", "nepali"),
    ("mn", "mongolian"),
    ("bs", "bosnian"),
    ("kk", "kazakh"),
    ("sq", "albanian"),
    ("sw", "swahili"),
    ("gl", "galician"),
    ("mr", "marathi"),
    ("pa", "punjabi"),
    ("si", "sinhala"),
    ("km", "khmer"),
    ("sn", "shona"),
    ("yo", "yoruba"),
    ("so", "somali"),
    ("af", "afrikaans"),
    ("oc", "occitan"),
    ("ka", "georgian"),
    ("be", "belarusian"),
    ("tg", "tajik"),
    ("sd", "sindhi"),
    ("gu", "gujarati"),
    ("am", "amharic"),
    ("yi", "yiddish"),
    ("lo", "lao"),
    ("uz", "uzbek"),
    ("fo", "faroese"),
    ("ht", "haitian creole"),
    ("ps", "pashto"),
    ("tk", "turkmen"),
    ("nn", "nynorsk"),
    ("mt", "maltese"),
    ("sa", "sanskrit"),
    ("lb", "luxembourgish"),
    ("my", "myanmar"),
    ("bo", "tibetan"),
    ("tl", "tagalog"),
    ("mg", "malagasy"),
    ("as", "assamese"),
    ("tt", "tatar"),
    ("haw", "hawaiian"),
    ("ln", "lingala"),
    ("ha", "hausa"),
    ("ba", "bashkir"),
    ("jw", "javanese"),
    ("su", "sundanese"),
    ("yue", "cantonese"),
];

/// GPT-2's pre-tokenization regex (tiktoken's `gpt2` / `multilingual` pattern).
const SPLIT_REGEX: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Number of timestamp tokens: 0.00 s to 30.00 s in 0.02 s steps.
pub const TIMESTAMP_TOKENS: u32 = 1501;

/// Longest piece merged at once (see [`WhisperTokenizer::encode`]).
const MAX_PIECE: usize = 256;

/// Ids of the special tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialTokens {
    pub eot: u32,
    pub sot: u32,
    pub translate: u32,
    pub transcribe: u32,
    pub sot_lm: u32,
    pub sot_prev: u32,
    pub no_speech: u32,
    pub no_timestamps: u32,
    pub timestamp_begin: u32,
}

/// Text ⇄ token ids for one Whisper model.
#[derive(Clone)]
pub struct WhisperTokenizer {
    encoder: HashMap<Vec<u8>, u32>,
    /// Bytes of every text token (ids below `eot`).
    decoder: Vec<Vec<u8>>,
    split: fancy_regex::Regex,
    special: SpecialTokens,
    multilingual: bool,
    num_languages: usize,
    source: PathBuf,
}

impl std::fmt::Debug for WhisperTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperTokenizer")
            .field("text_tokens", &self.decoder.len())
            .field("multilingual", &self.multilingual)
            .field("num_languages", &self.num_languages)
            .field("source", &self.source)
            .finish()
    }
}

/// Vocabulary files looked for in a model folder, in order of preference.
pub const VOCABULARY_FILES: &[&str] = &[
    "tokenizer.json",
    "vocabulary.json",
    "vocabulary.txt",
    "multilingual.tiktoken",
    "gpt2.tiktoken",
];

impl WhisperTokenizer {
    /// The tokenizer for a model with `n_vocab` logits, from the first vocabulary file
    /// found in `dir` (see [`VOCABULARY_FILES`]).
    pub fn from_dir(dir: &Path, n_vocab: usize) -> Result<Self> {
        let multilingual = n_vocab >= 51865;
        for name in VOCABULARY_FILES {
            // An English-only model cannot use the multilingual vocabulary and vice versa.
            if (*name == "multilingual.tiktoken" && !multilingual)
                || (*name == "gpt2.tiktoken" && multilingual)
            {
                continue;
            }
            let path = dir.join(name);
            if path.is_file() {
                return Self::from_file(&path, n_vocab);
            }
        }
        // mlx-community repositories carry no vocabulary (mlx-whisper ships its own):
        // use the embedded copy of OpenAI's.
        Self::embedded(n_vocab)
    }

    /// OpenAI's vocabulary for a model with `n_vocab` logits (multilingual or English),
    /// embedded in the library (core/assets/whisper).
    pub fn embedded(n_vocab: usize) -> Result<Self> {
        let (name, gz): (&str, &[u8]) = if n_vocab >= 51865 {
            (
                "multilingual.tiktoken",
                include_bytes!("../../assets/whisper/multilingual.tiktoken.gz"),
            )
        } else {
            (
                "gpt2.tiktoken",
                include_bytes!("../../assets/whisper/gpt2.tiktoken.gz"),
            )
        };
        let path = Path::new("<embedded>").join(name);
        let text = embedded_text(gz).map_err(|e| Error::corrupt(&path, e))?;
        Self::from_ranks(&path, parse_tiktoken(&path, &text)?, n_vocab)
    }

    /// Load a vocabulary file (`tokenizer.json`, `vocabulary.txt`, `vocabulary.json` or
    /// `*.tiktoken`) for a model with `n_vocab` logits.
    pub fn from_file(path: &Path, n_vocab: usize) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::corrupt(path, "vocabulary is not UTF-8"))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let ranked: Vec<(Vec<u8>, u32)> = if name.ends_with(".tiktoken") {
            parse_tiktoken(path, &text)?
        } else if name.ends_with(".txt") {
            text.lines()
                .enumerate()
                .map(|(i, t)| (byte_level_decode(t), i as u32))
                .collect()
        } else {
            let json = crate::files::parse_json(path, text.as_bytes())?;
            parse_json_vocab(path, &json)?
        };
        Self::from_ranks(path, ranked, n_vocab)
    }

    fn from_ranks(path: &Path, ranked: Vec<(Vec<u8>, u32)>, n_vocab: usize) -> Result<Self> {
        let multilingual = n_vocab >= 51865;
        let eot: u32 = if multilingual { 50257 } else { 50256 };
        let num_languages = n_vocab
            .checked_sub(51765 + usize::from(multilingual))
            .filter(|n| (1..=LANGUAGES.len()).contains(n))
            .ok_or_else(|| {
                Error::corrupt(
                    path,
                    format!("n_vocab {n_vocab} is not a Whisper vocabulary size"),
                )
            })?;
        let mut decoder = vec![Vec::new(); eot as usize];
        let mut encoder = HashMap::with_capacity(eot as usize);
        for (bytes, id) in ranked {
            if id < eot {
                encoder.insert(bytes.clone(), id);
                decoder[id as usize] = bytes;
            }
        }
        // Every byte must be encodable; one token may be empty (rank 50256 of the
        // multilingual vocabulary is).
        let empty = decoder.iter().filter(|b| b.is_empty()).count();
        if let Some(b) = (0..=255u8).find(|b| !encoder.contains_key(&[*b][..])) {
            return Err(Error::corrupt(
                path,
                format!("vocabulary has no token for byte {b:#04x}"),
            ));
        }
        if empty > 1 {
            return Err(Error::corrupt(
                path,
                format!("vocabulary lacks {empty} of the {eot} text tokens"),
            ));
        }
        let sot = eot + 1;
        let translate = sot + 1 + num_languages as u32;
        let special = SpecialTokens {
            eot,
            sot,
            translate,
            transcribe: translate + 1,
            sot_lm: translate + 2,
            sot_prev: translate + 3,
            no_speech: translate + 4,
            no_timestamps: translate + 5,
            timestamp_begin: translate + 6,
        };
        if special.timestamp_begin + TIMESTAMP_TOKENS != n_vocab as u32 {
            return Err(Error::corrupt(
                path,
                format!("n_vocab {n_vocab} does not fit Whisper's special-token layout"),
            ));
        }
        let split = fancy_regex::Regex::new(SPLIT_REGEX)
            .map_err(|e| Error::Tokenizer(format!("split regex: {e}")))?;
        Ok(Self {
            encoder,
            decoder,
            split,
            special,
            multilingual,
            num_languages,
            source: path.to_path_buf(),
        })
    }

    pub fn special(&self) -> &SpecialTokens {
        &self.special
    }

    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    pub fn num_languages(&self) -> usize {
        self.num_languages
    }

    /// The vocabulary file this tokenizer was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Token id of a language code (`"en"`) or English name (`"english"`).
    pub fn language_token(&self, language: &str) -> Option<u32> {
        language_index(language)
            .filter(|&i| i < self.num_languages)
            .map(|i| self.special.sot + 1 + i as u32)
    }

    /// Ids and codes of every language this model knows, in token order.
    pub fn language_tokens(&self) -> impl Iterator<Item = (u32, &'static str)> + '_ {
        LANGUAGES[..self.num_languages]
            .iter()
            .enumerate()
            .map(|(i, (code, _))| (self.special.sot + 1 + i as u32, *code))
    }

    /// `[sot, language, task]` (English-only models: `[sot]`).
    pub fn sot_sequence(&self, language: Option<u32>, translate: bool) -> Vec<u32> {
        let mut seq = vec![self.special.sot];
        if self.multilingual {
            seq.push(language.unwrap_or(self.special.sot + 1));
            seq.push(if translate {
                self.special.translate
            } else {
                self.special.transcribe
            });
        }
        seq
    }

    /// Encode text (no special tokens).
    ///
    /// A piece longer than [`MAX_PIECE`] bytes (one "word" of thousands of letters, as a
    /// hostile prompt can hold) is merged in slices of that size: byte-pair merging is
    /// quadratic in the piece's length, and no real token is that long.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        for piece in self.split.find_iter(text) {
            let piece = piece.map_err(|e| Error::Tokenizer(format!("splitting text: {e}")))?;
            let mut rest = piece.as_str();
            while !rest.is_empty() {
                let mut end = rest.len().min(MAX_PIECE);
                while !rest.is_char_boundary(end) {
                    end -= 1;
                }
                self.bpe(&rest.as_bytes()[..end], &mut out)?;
                rest = &rest[end..];
            }
        }
        Ok(out)
    }

    /// tiktoken's byte-pair merge: repeatedly join the adjacent pair whose
    /// concatenation has the lowest rank.
    fn bpe(&self, piece: &[u8], out: &mut Vec<u32>) -> Result<()> {
        if let Some(&id) = self.encoder.get(piece) {
            out.push(id);
            return Ok(());
        }
        let mut parts: Vec<&[u8]> = (0..piece.len()).map(|i| &piece[i..i + 1]).collect();
        loop {
            let mut best: Option<(u32, usize)> = None;
            for i in 0..parts.len().saturating_sub(1) {
                let joined = [parts[i], parts[i + 1]].concat();
                if let Some(&rank) = self.encoder.get(&joined)
                    && best.is_none_or(|(r, _)| rank < r)
                {
                    best = Some((rank, i));
                }
            }
            let Some((_, i)) = best else { break };
            let start = parts[i].as_ptr() as usize - piece.as_ptr() as usize;
            let len = parts[i].len() + parts[i + 1].len();
            parts[i] = &piece[start..start + len];
            parts.remove(i + 1);
        }
        for p in parts {
            let id = self.encoder.get(p).copied().ok_or_else(|| {
                Error::Tokenizer(format!("byte sequence {p:?} is not in the vocabulary"))
            })?;
            out.push(id);
        }
        Ok(())
    }

    /// Bytes of the text tokens among `ids` (special and timestamp tokens are skipped).
    pub fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        for &id in ids {
            if let Some(b) = self.decoder.get(id as usize) {
                out.extend_from_slice(b);
            }
        }
        out
    }

    /// Text of the text tokens among `ids` (invalid UTF-8 becomes U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids)).into_owned()
    }

    /// Like [`decode`](Self::decode) but writes special tokens as `<|…|>` and timestamps
    /// as `<|1.08|>`.
    pub fn decode_with_timestamps(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            match self.decoder.get(id as usize) {
                Some(b) => bytes.extend_from_slice(b),
                None => bytes.extend_from_slice(self.special_name(id).as_bytes()),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn special_name(&self, id: u32) -> String {
        let s = &self.special;
        if id >= s.timestamp_begin {
            return format!("<|{:.2}|>", (id - s.timestamp_begin) as f32 * 0.02);
        }
        let name = match id {
            _ if id == s.eot => "endoftext",
            _ if id == s.sot => "startoftranscript",
            _ if id == s.translate => "translate",
            _ if id == s.transcribe => "transcribe",
            _ if id == s.sot_lm => "startoflm",
            _ if id == s.sot_prev => "startofprev",
            _ if id == s.no_speech => "nospeech",
            _ if id == s.no_timestamps => "notimestamps",
            _ if id > s.sot && id < s.translate => LANGUAGES[(id - s.sot - 1) as usize].0,
            _ => "unknown",
        };
        format!("<|{name}|>")
    }

    /// Tokens that would start speaker tags or non-speech annotations (`♪`, `(`,
    /// `[DAVID]`…), which Whisper's reference suppresses by default (`suppress_tokens
    /// = "-1"`), keeping basic punctuation. Same list as OpenAI's `non_speech_tokens`.
    pub fn non_speech_tokens(&self) -> Result<Vec<u32>> {
        let mut symbols: Vec<String> = "\"#()*+/:;<=>@[\\]^_`{|}~「」『』"
            .chars()
            .map(String::from)
            .collect();
        symbols.extend(
            "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪"
                .split(' ')
                .map(String::from),
        );
        let miscellaneous: Vec<String> = "♩♪♫♬♭♮♯".chars().map(String::from).collect();
        let mut result = vec![self.encode(" -")?[0], self.encode(" '")?[0]];
        for symbol in symbols.iter().chain(&miscellaneous) {
            let misc = miscellaneous.contains(symbol);
            for text in [symbol.clone(), format!(" {symbol}")] {
                let tokens = self.encode(&text)?;
                if tokens.len() == 1 || misc {
                    result.push(tokens[0]);
                }
            }
        }
        result.sort_unstable();
        result.dedup();
        Ok(result)
    }

    /// Split tokens into words at spaces and punctuation (OpenAI's
    /// `split_tokens_on_spaces`); languages written without spaces split at every
    /// complete character sequence instead.
    pub fn split_to_word_tokens(
        &self,
        tokens: &[u32],
        language: &str,
    ) -> (Vec<String>, Vec<Vec<u32>>) {
        if matches!(language, "zh" | "ja" | "th" | "lo" | "my" | "yue") {
            return self.split_tokens_on_unicode(tokens);
        }
        let (subwords, subword_tokens) = self.split_tokens_on_unicode(tokens);
        let mut words: Vec<String> = Vec::new();
        let mut word_tokens: Vec<Vec<u32>> = Vec::new();
        for (subword, toks) in subwords.into_iter().zip(subword_tokens) {
            let special = toks[0] >= self.special.eot;
            let with_space = subword.starts_with(' ');
            let trimmed = subword.trim();
            let punctuation =
                trimmed.len() == 1 && trimmed.chars().all(|c| c.is_ascii_punctuation());
            if special || with_space || punctuation || words.is_empty() {
                words.push(subword);
                word_tokens.push(toks);
            } else {
                words.last_mut().expect("non-empty").push_str(&subword);
                word_tokens.last_mut().expect("non-empty").extend(toks);
            }
        }
        (words, word_tokens)
    }

    fn split_tokens_on_unicode(&self, tokens: &[u32]) -> (Vec<String>, Vec<Vec<u32>>) {
        let full = self.decode_with_timestamps(tokens);
        let full: Vec<char> = full.chars().collect();
        let mut words = Vec::new();
        let mut word_tokens = Vec::new();
        let mut current: Vec<u32> = Vec::new();
        let mut offset = 0usize;
        for &t in tokens {
            current.push(t);
            let decoded = self.decode_with_timestamps(&current);
            let chars: Vec<char> = decoded.chars().collect();
            let complete = match chars.iter().position(|&c| c == '\u{fffd}') {
                None => true,
                Some(i) => full.get(offset + i) == Some(&'\u{fffd}'),
            };
            if complete {
                offset += chars.len();
                words.push(decoded);
                word_tokens.push(std::mem::take(&mut current));
            }
        }
        (words, word_tokens)
    }
}

/// Index of a language code or English name in [`LANGUAGES`].
pub fn language_index(language: &str) -> Option<usize> {
    let l = language.trim().to_lowercase();
    LANGUAGES
        .iter()
        .position(|(code, name)| *code == l || *name == l)
}

/// The text of an embedded gzip-compressed vocabulary.
pub fn embedded_text(gz: &[u8]) -> std::result::Result<String, String> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut text)
        .map_err(|e| format!("embedded vocabulary: {e}"))?;
    Ok(text)
}

fn parse_tiktoken(path: &Path, text: &str) -> Result<Vec<(Vec<u8>, u32)>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut it = line.split_whitespace();
            let (Some(token), Some(rank)) = (it.next(), it.next()) else {
                return Err(Error::corrupt(path, format!("bad tiktoken line {line:?}")));
            };
            let bytes = if token.trim_matches('=').is_empty() {
                Ok(Vec::new())
            } else {
                b64.decode(token)
            };
            let bytes =
                bytes.map_err(|e| Error::corrupt(path, format!("bad base64 {token:?}: {e}")))?;
            let rank = rank
                .parse()
                .map_err(|_| Error::corrupt(path, format!("bad rank in {line:?}")))?;
            Ok((bytes, rank))
        })
        .collect()
}

/// `tokenizer.json` (`model.vocab`) or a CTranslate2 `vocabulary.json` (a list).
fn parse_json_vocab(path: &Path, json: &serde_json::Value) -> Result<Vec<(Vec<u8>, u32)>> {
    if let Some(list) = json.as_array() {
        return Ok(list
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_str().map(|t| (byte_level_decode(t), i as u32)))
            .collect());
    }
    let vocab = json
        .get("model")
        .and_then(|m| m.get("vocab"))
        .and_then(|v| v.as_object())
        .ok_or_else(|| Error::corrupt(path, "tokenizer.json has no model.vocab"))?;
    Ok(vocab
        .iter()
        .filter_map(|(t, id)| id.as_u64().map(|id| (byte_level_decode(t), id as u32)))
        .collect())
}

/// GPT-2's byte ↔ printable-character table, inverted: the characters of a
/// byte-level token string back to bytes. Characters outside the table (special
/// tokens such as `<|endoftext|>` are plain ASCII and map to themselves) are kept as
/// UTF-8.
fn byte_level_decode(token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(token.len());
    for c in token.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out
}

/// Printable bytes stand for themselves; the other 68 bytes are mapped, in order, to
/// U+0100 and up (GPT-2's `bytes_to_unicode`).
fn char_to_byte(c: char) -> Option<u8> {
    const fn printable(b: u32) -> bool {
        (b >= b'!' as u32 && b <= b'~' as u32)
            || (b >= 0xA1 && b <= 0xAC)
            || (b >= 0xAE && b <= 0xFF)
    }
    const SHIFTED: [u8; 68] = {
        let mut table = [0u8; 68];
        let mut b = 0u32;
        let mut n = 0;
        while b < 256 {
            if !printable(b) {
                table[n] = b as u8;
                n += 1;
            }
            b += 1;
        }
        table
    };
    let cp = c as u32;
    if cp < 256 && printable(cp) {
        return Some(cp as u8);
    }
    SHIFTED.get(cp.checked_sub(256)? as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_table_roundtrips_every_byte() {
        // 'Ġ' (U+0120) is the space byte, 'Ċ' (U+010A) the newline.
        assert_eq!(byte_level_decode("Ġhello"), b" hello");
        assert_eq!(byte_level_decode("Ċ"), b"\n");
        assert_eq!(byte_level_decode("<|endoftext|>"), b"<|endoftext|>");
    }

    #[test]
    fn embedded_vocabularies_are_openais() {
        use sha2::{Digest, Sha256};
        for (gz, sha) in [
            (
                &include_bytes!("../../assets/whisper/multilingual.tiktoken.gz")[..],
                "b34b360dbb493e781e479794586d661700670d65564001f23024971d1f2fa126",
            ),
            (
                &include_bytes!("../../assets/whisper/gpt2.tiktoken.gz")[..],
                "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
            ),
        ] {
            let text = embedded_text(gz).unwrap();
            let hex: String = Sha256::digest(text.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(hex, sha);
        }
        // A folder without a vocabulary gets the embedded one of the right kind.
        let dir = tempfile::tempdir().unwrap();
        let multi = WhisperTokenizer::from_dir(dir.path(), 51865).unwrap();
        assert!(multi.is_multilingual());
        assert_eq!(
            multi.source(),
            Path::new("<embedded>/multilingual.tiktoken")
        );
        let en = WhisperTokenizer::from_dir(dir.path(), 51864).unwrap();
        assert!(!en.is_multilingual());
        assert_eq!(multi.encode(" Hello world").unwrap(), [2425, 1002]);
    }

    #[test]
    fn a_huge_word_encodes_in_linear_time_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let tok = WhisperTokenizer::from_dir(dir.path(), 51865).unwrap();
        // One 200,000-letter "word" (with a 2-byte letter so slices meet at char
        // boundaries): merging it whole would take hours.
        let word = "aé".repeat(100_000);
        let ids = tok.encode(&word).unwrap();
        assert_eq!(tok.decode(&ids), word);
    }

    #[test]
    fn languages_resolve_by_code_and_name() {
        assert_eq!(language_index("en"), Some(0));
        assert_eq!(language_index("English"), Some(0));
        assert_eq!(language_index("yue"), Some(99));
        assert_eq!(language_index("klingon"), None);
    }
}
