//! Whisper speech recognition on MLX: checkpoint loading (mlx-community and
//! CTranslate2 layouts), the log-mel front end, the encoder-decoder model, window
//! decoding (greedy, sampling, beam search), word timestamps and long-form
//! transcription. The public entry point is [`crate::transcribe`].

pub mod decode;
pub mod load;
pub mod longform;
/// The spectrogram lives with the audio code: Qwen2.5-Omni's encoder takes the same one.
pub use crate::audio::mel;
pub mod model;
pub mod timestamps;
pub mod tokenizer;
pub mod types;

use std::path::{Path, PathBuf};

use mlx_rs::{Array, Dtype};
use serde::{Deserialize, Serialize};

use self::load::{Dims, WeightFormat, load_checkpoint};
use self::model::Whisper;
use self::tokenizer::WhisperTokenizer;
use crate::backend::{DeviceKind, Precision};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::nn::{QuantSpec, Weights};

/// Element type the model computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComputeDtype {
    Float16,
    Float32,
}

impl ComputeDtype {
    fn mlx(self) -> Dtype {
        match self {
            ComputeDtype::Float16 => Dtype::Float16,
            ComputeDtype::Float32 => Dtype::Float32,
        }
    }

    /// Half precision on the GPU backends (what mlx-whisper uses by default); float32
    /// on the CPU backend, where MLX has no fast half-precision kernels and float32
    /// matrix products go through an optimized BLAS (3.7× faster on JFK here).
    pub fn platform_default() -> Self {
        if DeviceKind::current().fast_half() {
            ComputeDtype::Float16
        } else {
            ComputeDtype::Float32
        }
    }
}

impl std::str::FromStr for ComputeDtype {
    type Err = Error;

    /// `float16` (`fp16`, `f16`) or `float32` (`fp32`, `f32`).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "float16" | "fp16" | "f16" => Ok(ComputeDtype::Float16),
            "float32" | "fp32" | "f32" => Ok(ComputeDtype::Float32),
            other => Err(Error::InvalidArgument {
                name: "dtype".into(),
                reason: format!("{other:?} is not float16 or float32"),
            }),
        }
    }
}

/// How to load a model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WhisperLoadOptions {
    /// `None`: [`ComputeDtype::platform_default`].
    pub dtype: Option<ComputeDtype>,
    /// A vocabulary file to use instead of the one found next to the weights
    /// (`tokenizer.json`, `vocabulary.txt/json`, `*.tiktoken`): mlx-community folders
    /// ship none, mlx-whisper bundles `multilingual.tiktoken`.
    pub tokenizer: Option<PathBuf>,
    /// Quantized checkpoints: [`Precision::Auto`] dequantizes them to the compute dtype
    /// on the CPU backend (whose quantized kernels are slow) when that fits in memory.
    pub precision: Precision,
}

/// What was loaded.
#[derive(Debug, Clone, Serialize)]
pub struct WhisperInfo {
    pub path: PathBuf,
    pub format: WeightFormat,
    pub dims: Dims,
    pub dtype: ComputeDtype,
    pub quantization: Option<QuantSpec>,
    pub multilingual: bool,
    pub num_languages: usize,
    /// The vocabulary file in use.
    pub vocabulary: PathBuf,
    pub alignment_heads: Vec<(usize, usize)>,
}

/// A Whisper model ready to transcribe: weights on the device, tokenizer and the
/// settings decoding needs. Holds no global state; share it by reference.
pub struct WhisperModel {
    model: Whisper,
    tokenizer: WhisperTokenizer,
    alignment_heads: Vec<(usize, usize)>,
    non_speech: Vec<u32>,
    info: WhisperInfo,
}

impl WhisperModel {
    /// Load a model folder (or a file in it): `model.bin` (CTranslate2 / faster-whisper)
    /// or `config.json` + `weights.safetensors`/`weights.npz` (mlx-community).
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with(path, &WhisperLoadOptions::default())
    }

    pub fn load_with(path: &Path, opts: &WhisperLoadOptions) -> Result<Self> {
        crate::backend::configure_blas();
        let dtype = opts.dtype.unwrap_or_else(ComputeDtype::platform_default);
        let ck = load_checkpoint(path, dtype.mlx())?;
        let dims = ck.dims;
        let positive = [
            dims.n_mels,
            dims.n_audio_ctx,
            dims.n_audio_state,
            dims.n_audio_head,
            dims.n_audio_layer,
            dims.n_vocab,
            dims.n_text_ctx,
            dims.n_text_state,
            dims.n_text_head,
            dims.n_text_layer,
        ];
        if positive.iter().any(|&d| d <= 0)
            || dims.n_audio_state % dims.n_audio_head != 0
            || dims.n_text_state % dims.n_text_head != 0
        {
            return Err(Error::corrupt(
                &ck.path,
                format!("inconsistent dimensions {dims:?}"),
            ));
        }
        let dir = if ck.path.is_file() {
            ck.path.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else {
            ck.path.clone()
        };
        let tokenizer = match &opts.tokenizer {
            Some(file) => WhisperTokenizer::from_file(file, dims.n_vocab as usize)?,
            None => WhisperTokenizer::from_dir(&dir, dims.n_vocab as usize)?,
        };
        let alignment_heads = ck.alignment_heads.clone().unwrap_or_else(|| {
            // The reference's default: every head of the second half of the layers.
            let layers = dims.n_text_layer as usize;
            (layers / 2..layers)
                .flat_map(|l| (0..dims.n_text_head as usize).map(move |h| (l, h)))
                .collect()
        });
        let weights =
            Weights::new(&ck.path, ck.arrays, ck.quant).with_overrides(ck.quant_overrides);
        let dense = match ck.quant {
            Some(_) => opts
                .precision
                .dense_dtype(weights.dense_f32_bytes())
                .map(|_| dtype.mlx()),
            None => None,
        };
        let mut weights = weights.densify(dense);
        let model = Whisper::build(&mut weights, dims, dtype.mlx())?;
        weights.materialize()?;
        let leftover = weights.leftover();
        if !leftover.is_empty() {
            return Err(Error::corrupt(
                &ck.path,
                format!(
                    "{} unexpected tensors, e.g. {}",
                    leftover.len(),
                    leftover[0]
                ),
            ));
        }
        let non_speech = tokenizer.non_speech_tokens()?;
        let info = WhisperInfo {
            path: ck.path.clone(),
            format: ck.format,
            dims,
            dtype,
            quantization: ck.quant,
            multilingual: tokenizer.is_multilingual(),
            num_languages: tokenizer.num_languages(),
            vocabulary: tokenizer.source().to_path_buf(),
            alignment_heads: alignment_heads.clone(),
        };
        Ok(Self {
            model,
            tokenizer,
            alignment_heads,
            non_speech,
            info,
        })
    }

    pub fn info(&self) -> &WhisperInfo {
        &self.info
    }

    pub fn tokenizer(&self) -> &WhisperTokenizer {
        &self.tokenizer
    }

    pub fn model(&self) -> &Whisper {
        &self.model
    }

    /// `(layer, head)` pairs used for word timestamps.
    pub fn alignment_heads(&self) -> &[(usize, usize)] {
        &self.alignment_heads
    }

    /// The default suppression list (`suppress_tokens = "-1"`).
    pub fn non_speech_tokens(&self) -> &[u32] {
        &self.non_speech
    }

    /// Audio features `[B, n_audio_ctx, state]` of mel windows `[B, N_FRAMES, n_mels]`,
    /// computed block by block: `cancel` ends it with [`Error::Cancelled`] between two
    /// blocks.
    pub fn encode(&self, mel: &Array, cancel: &CancelToken) -> Result<Array> {
        let mel = mel.as_dtype(self.model.dtype)?;
        self.model.encoder.forward(&mel, cancel)
    }

    /// Log-mel spectrogram `[frames, n_mels]` of 16 kHz samples with `padding` zero
    /// samples appended, at this model's mel resolution.
    pub fn log_mel(&self, samples: &[f32], padding: usize) -> Result<Array> {
        mel::log_mel_spectrogram(samples, self.model.dims.n_mels as usize, padding)
    }
}
