//! `murmur transcribe`: speech to text with a Whisper model, segments streamed as they
//! are decoded, optionally refined by a chat model.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use murmur_core::audio::AudioInput;
use murmur_core::llm::chat::ChatModel;
use murmur_core::refine::{RefineMode, RefineOptions};
use murmur_core::transcribe::{
    Segment, Task, TranscribeOptions, format_timestamp, to_json, to_srt, to_txt, to_vtt,
    transcribe, transcribe_and_refine,
};
use murmur_core::whisper::{ComputeDtype, WhisperLoadOptions, WhisperModel};
use murmur_core::{CancelToken, Error, Result};

#[derive(Args)]
pub struct TranscribeArgs {
    /// Audio file: WAV, FLAC, MP3, M4A/AAC or OGG (any rate and channel count).
    file: PathBuf,
    /// Whisper model: a catalog id or alias (`whisper-base`, `turbo`...; downloaded on
    /// first use) or a folder in the CTranslate2/faster-whisper (model.bin) or
    /// mlx-community (config.json + weights) layout. Default: $MURMUR_WHISPER_MODEL,
    /// else $MURMUR_DEFAULT_AUDIO_MODEL, else the one recommended for this machine's RAM.
    #[arg(long, env = "MURMUR_WHISPER_MODEL")]
    model: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Txt)]
    format: Format,
    /// Write the result here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Spoken language (code or name); detected when absent.
    #[arg(long)]
    language: Option<String>,
    #[arg(long, value_enum, default_value_t = TaskArg::Transcribe)]
    task: TaskArg,
    /// Beam search with this many beams (default: greedy).
    #[arg(long)]
    beam_size: Option<usize>,
    /// Candidates per sampled fallback temperature.
    #[arg(long)]
    best_of: Option<usize>,
    /// One fixed temperature instead of the 0.0…1.0 fallback schedule.
    #[arg(long)]
    temperature: Option<f32>,
    /// Word-level timestamps (JSON output lists the words).
    #[arg(long)]
    word_timestamps: bool,
    /// Text to condition on: names, spellings, vocabulary.
    #[arg(long)]
    initial_prompt: Option<String>,
    /// Decode each window independently of the previous text.
    #[arg(long)]
    no_condition_on_previous_text: bool,
    /// The file holds raw little-endian signed 16-bit mono PCM at this rate.
    #[arg(long, value_name = "RATE")]
    raw_s16le: Option<u32>,
    /// Compute in float16 (the default on Metal and CUDA; on the CPU backend float32
    /// is the default and much faster).
    #[arg(long, conflicts_with = "fp32")]
    fp16: bool,
    /// Compute in float32 (the default on the CPU backend).
    #[arg(long)]
    fp32: bool,
    /// Refine the transcript afterwards with this chat model (a catalog id or alias, a
    /// folder or a .gguf file).
    #[arg(long)]
    refine_model: Option<String>,
    /// Sampling temperature of the refinement (default: the seeds' 0.7; 0 is greedy).
    #[arg(long, value_name = "T")]
    refine_temperature: Option<f32>,
    /// Print progress and timing to stderr.
    #[arg(long)]
    verbose: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Txt,
    Srt,
    Vtt,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum TaskArg {
    Transcribe,
    Translate,
}

pub fn run(args: TranscribeArgs) -> Result<()> {
    let path = crate::models::audio_model_path(args.model.as_deref())?;
    let started = std::time::Instant::now();
    let model = WhisperModel::load_with(
        &path,
        &WhisperLoadOptions {
            dtype: match (args.fp16, args.fp32) {
                (true, _) => Some(ComputeDtype::Float16),
                (_, true) => Some(ComputeDtype::Float32),
                _ => None,
            },
            ..WhisperLoadOptions::default()
        },
    )?;
    if args.verbose {
        eprintln!("murmur: model loaded in {:.2?}", started.elapsed());
    }
    let audio = match args.raw_s16le {
        Some(rate) => {
            let bytes = std::fs::read(&args.file).map_err(|e| Error::Io {
                path: args.file.clone(),
                source: e,
            })?;
            AudioInput::PcmS16 {
                samples: bytes
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect(),
                sample_rate: rate,
                channels: 1,
            }
        }
        None => AudioInput::Path(args.file.clone()),
    };
    let mut opts = TranscribeOptions {
        language: args.language.clone(),
        task: match args.task {
            TaskArg::Transcribe => Task::Transcribe,
            TaskArg::Translate => Task::Translate,
        },
        beam_size: args.beam_size,
        best_of: args.best_of,
        word_timestamps: args.word_timestamps,
        initial_prompt: args.initial_prompt.clone(),
        condition_on_previous_text: !args.no_condition_on_previous_text,
        ..TranscribeOptions::default()
    };
    if let Some(t) = args.temperature {
        opts.temperatures = vec![t];
    }

    let cancel = CancelToken::new();
    {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        cancel.cancel();
                    }
                });
            }
        });
    }

    // Stream what can be streamed to stdout; files and JSON are written at the end.
    let streaming =
        args.output.is_none() && args.format != Format::Json && args.refine_model.is_none();
    let mut out = std::io::stdout().lock();
    let mut cue = 0usize;
    if streaming && args.format == Format::Vtt {
        let _ = write!(out, "WEBVTT\n\n");
    }
    let verbose = args.verbose;
    let format = args.format;
    let mut on_segment = |s: &Segment| {
        if verbose || !streaming {
            eprintln!(
                "[{} --> {}] {}",
                format_timestamp(s.start, '.'),
                format_timestamp(s.end, '.'),
                s.text.trim()
            );
        }
        if !streaming || s.text.trim().is_empty() {
            return;
        }
        cue += 1;
        let text = s.text.trim();
        let _ = match format {
            Format::Txt => writeln!(out, "{text}"),
            Format::Srt => write!(
                out,
                "{cue}\n{} --> {}\n{text}\n\n",
                format_timestamp(s.start, ','),
                format_timestamp(s.end, ',')
            ),
            Format::Vtt => write!(
                out,
                "{} --> {}\n{text}\n\n",
                format_timestamp(s.start, '.'),
                format_timestamp(s.end, '.')
            ),
            Format::Json => Ok(()),
        };
        let _ = out.flush();
    };

    let (transcript, refined) = match &args.refine_model {
        None => (
            transcribe(&model, &audio, &opts, &cancel, &mut on_segment)?,
            None,
        ),
        Some(id) => {
            let chat = ChatModel::load(&crate::models::model_path(Some(id))?)?;
            let defaults = RefineOptions::default();
            let refine_opts = RefineOptions {
                mode: RefineMode::CleanUpTranscript,
                temperature: args.refine_temperature.unwrap_or(defaults.temperature),
                ..defaults
            };
            let r = transcribe_and_refine(
                &model,
                &audio,
                &opts,
                &chat,
                &refine_opts,
                &cancel,
                &mut on_segment,
                &mut |_| {},
            )?;
            (r.transcript, r.refined.map(|r| r.text))
        }
    };
    if verbose {
        eprintln!(
            "murmur: {:.1} s of audio ({}{}) in {:.2?}",
            transcript.duration,
            transcript.language,
            transcript
                .language_probability
                .map(|p| format!(", p={p:.2}"))
                .unwrap_or_default(),
            started.elapsed()
        );
    }
    if streaming {
        return Ok(());
    }
    let mut text = match args.format {
        Format::Txt => to_txt(&transcript),
        Format::Srt => to_srt(&transcript),
        Format::Vtt => to_vtt(&transcript),
        Format::Json => {
            let mut v = serde_json::to_value(&transcript).unwrap_or_default();
            if let Some(r) = &refined {
                v["refined_text"] = serde_json::Value::String(r.clone());
            }
            serde_json::to_string_pretty(&v).unwrap_or_else(|_| to_json(&transcript)) + "\n"
        }
    };
    if args.format == Format::Txt
        && let Some(r) = &refined
    {
        text = format!("{r}\n");
    }
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?,
        None => {
            let _ = out.write_all(text.as_bytes());
        }
    }
    Ok(())
}
