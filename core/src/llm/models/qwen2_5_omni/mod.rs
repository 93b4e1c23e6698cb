//! Qwen2.5-Omni's thinker: an audio encoder ([`audio`]) whose tokens are spliced into the
//! prompt of a Qwen2.5 language model. The talker (speech output), the code-to-waveform
//! model and the vision encoder of Qwen's checkpoints are not loaded at all
//! ([`checkpoint_name`]).
//!
//! Positions: the thinker uses multimodal RoPE, whose three position components (time,
//! height, width) are equal for text and audio alone, so it is the ordinary RoPE of the
//! Qwen2 decoder over consecutive positions.

pub mod audio;

use mlx_rs::Array;
use mlx_rs::ops;
use mlx_rs::ops::indexing::TryIndexOp;
use serde::Deserialize;

use self::audio::{AudioConfig, AudioEncoder};
use super::dims::Dims;
use super::llama::Decoder;
use super::{LanguageModel, parse_args, qwen2};
use crate::audio::mel;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::nn::{KvCache, Weights};

/// Sample rate the encoder's spectrogram is computed at.
pub const SAMPLE_RATE: u32 = mel::SAMPLE_RATE;

/// A tensor name of a Qwen2.5-Omni checkpoint → the thinker's name for it, or `None` for
/// the parts Murmur does not run (Qwen's own checkpoints carry the talker, the
/// token-to-waveform model and a vision encoder; the MLX conversions only the thinker).
pub fn checkpoint_name(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("thinker.")?;
    (!rest.starts_with("visual.")).then_some(rest)
}

#[derive(Debug, Deserialize)]
struct ThinkerArgs {
    audio_config: AudioConfig,
    audio_token_index: u32,
    #[serde(default)]
    audio_start_token_id: Option<u32>,
    #[serde(default)]
    audio_end_token_id: Option<u32>,
}

/// The thinker: listens and answers in text.
pub struct Thinker {
    text: Decoder,
    audio: AudioEncoder,
    audio_token: u32,
    audio_start: Option<u32>,
    audio_end: Option<u32>,
}

pub fn build(
    config: &serde_json::Value,
    dims: &Dims,
    w: &mut Weights,
) -> Result<Box<dyn LanguageModel + Send>> {
    let thinker = config
        .get("thinker_config")
        .filter(|t| t.is_object())
        .ok_or_else(|| Error::corrupt(w.path(), "config has no thinker_config (Qwen2.5-Omni)"))?;
    let a: ThinkerArgs = parse_args(thinker, w.path())?;
    a.audio_config
        .validate(dims.hidden_size)
        .map_err(|e| Error::corrupt(w.path(), format!("bad config: {e}")))?;
    let vocab = dims.vocab_size.unwrap_or(i32::MAX) as u32;
    for (key, id) in [
        ("audio_token_index", Some(a.audio_token_index)),
        ("audio_start_token_id", a.audio_start_token_id),
        ("audio_end_token_id", a.audio_end_token_id),
    ] {
        if id.is_some_and(|id| id >= vocab) {
            return Err(Error::corrupt(
                w.path(),
                format!("bad config: thinker_config.{key} is outside the vocabulary of {vocab}"),
            ));
        }
    }
    let text = qwen2::decoder(super::text_config(config), dims, w)?;
    let audio = AudioEncoder::load(w, "audio_tower", a.audio_config)?;
    Ok(Box::new(Thinker {
        text,
        audio,
        audio_token: a.audio_token_index,
        audio_start: a.audio_start_token_id,
        audio_end: a.audio_end_token_id,
    }))
}

impl LanguageModel for Thinker {
    fn forward(&self, ids: &Array, cache: &mut [KvCache], all_positions: bool) -> Result<Array> {
        self.text.forward(ids, cache, all_positions)
    }

    fn new_cache(&self) -> Vec<KvCache> {
        self.text.new_cache()
    }

    fn thinker(&self) -> Option<&Thinker> {
        Some(self)
    }
}

impl Thinker {
    /// The id of `<|AUDIO|>`, which the chat template writes where the audio goes.
    pub fn audio_token(&self) -> u32 {
        self.audio_token
    }

    /// `<|audio_bos|>` and `<|audio_eos|>`, when the config names them.
    pub fn audio_markers(&self) -> (Option<u32>, Option<u32>) {
        (self.audio_start, self.audio_end)
    }

    pub fn audio_config(&self) -> &AudioConfig {
        self.audio.config()
    }

    /// The 128-bin log-mel spectrogram `[frames, bins]` of 16 kHz mono `samples` as the
    /// encoder expects it: Whisper's, in float32, over the recording alone (no padding to
    /// 30 s; the end padded to a whole hop).
    pub fn mel(&self, samples: &[f32]) -> Result<Array> {
        let hop = mel::HOP_LENGTH;
        let padding = (hop - samples.len() % hop) % hop;
        mel::log_mel_spectrogram(samples, self.audio.config().num_mel_bins as usize, padding)
    }

    /// Audio tokens `[N, hidden]` of 16 kHz mono `samples`, in the embeddings' dtype.
    pub fn encode_audio(&self, samples: &[f32], cancel: &CancelToken) -> Result<Array> {
        let features = self.audio.forward(&self.mel(samples)?, cancel)?;
        let dtype = self
            .text
            .embed(&Array::from_slice(&[0u32], &[1, 1]))?
            .dtype();
        Ok(features.as_dtype(dtype)?)
    }

    /// This model with `features` (`[N, hidden]`) standing in for prompt positions
    /// `start..start + N`: run a prompt holding `N` placeholder ids there through it
    /// ([`crate::llm::generate::generate`]), prefilled in chunks of any size.
    pub fn with_audio(&self, start: usize, features: Array) -> WithAudio<'_> {
        WithAudio {
            thinker: self,
            start,
            features,
        }
    }
}

/// A [`Thinker`] whose prompt holds audio tokens at fixed positions.
pub struct WithAudio<'a> {
    thinker: &'a Thinker,
    start: usize,
    features: Array,
}

impl LanguageModel for WithAudio<'_> {
    fn forward(&self, ids: &Array, cache: &mut [KvCache], all_positions: bool) -> Result<Array> {
        let offset = cache.first().map_or(0, |c| c.offset()).max(0) as usize;
        let len = ids.shape().get(1).copied().unwrap_or(0).max(0) as usize;
        let n = self.features.shape()[0] as usize;
        let (from, to) = (offset.max(self.start), (offset + len).min(self.start + n));
        let h = self.thinker.text.embed(ids)?;
        if from >= to {
            return self
                .thinker
                .text
                .forward_embeddings(h, cache, all_positions);
        }
        // Positions from..to of this piece are audio: splice those feature rows in.
        let (a, b) = ((from - offset) as i32, (to - offset) as i32);
        let audio = self
            .features
            .try_index((from - self.start) as i32..(to - self.start) as i32)?
            .expand_dims(0)?;
        let h = ops::concatenate(
            &[
                h.try_index((.., ..a, ..))?,
                audio,
                h.try_index((.., b.., ..))?,
            ],
            1,
        )?;
        self.thinker
            .text
            .forward_embeddings(h, cache, all_positions)
    }

    fn new_cache(&self) -> Vec<KvCache> {
        self.thinker.new_cache()
    }
}
