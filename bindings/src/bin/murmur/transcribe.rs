//! `murmur transcribe`: speech to text with a Whisper model through the engine, segments
//! streamed as they are decoded (core's writers), optionally refined by a chat model.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use murmur_core::audio::AudioInput;
use murmur_core::catalog::Capability;
use murmur_core::engine::{Event, ModelPrecision};
use murmur_core::refine::{RefineMode, RefineOptions};
use murmur_core::transcribe::{Format, Segment, Task, TranscribeOptions, Writer, format_timestamp};
use murmur_core::whisper::ComputeDtype;
use murmur_core::{Engine, EngineConfig, Error, Result};

use crate::models::{ready, ready_model, runtime};
use crate::refine::cancel_on_ctrl_c;

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
    /// `txt`, `srt`, `vtt` or `json`.
    #[arg(long, default_value = "txt")]
    format: Format,
    /// Write the result here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Spoken language (code or name); detected when absent.
    #[arg(long)]
    language: Option<String>,
    /// `transcribe`, or `translate` (to English).
    #[arg(long, default_value = "transcribe")]
    task: Task,
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
    /// Sampling temperature of the refinement (default: the Python sidecars' 0.7; 0 is greedy).
    #[arg(long, value_name = "T")]
    refine_temperature: Option<f32>,
    /// Print progress and timing to stderr.
    #[arg(long)]
    verbose: bool,
}

pub fn run(args: TranscribeArgs) -> Result<()> {
    let mut config = EngineConfig::from_env();
    config.precision = ModelPrecision {
        speech_dtype: match (args.fp16, args.fp32) {
            (true, _) => Some(ComputeDtype::Float16),
            (_, true) => Some(ComputeDtype::Float32),
            _ => None,
        },
        ..ModelPrecision::default()
    };
    let engine = Engine::new(config)?;
    let started = std::time::Instant::now();
    // A speech model, or a text model that listens (Qwen2.5-Omni).
    let model = ready(&engine, engine.choose_transcriber(args.model.as_deref())?)?;
    let refine_model = args
        .refine_model
        .as_deref()
        .map(|id| ready_model(&engine, Some(id), Capability::Text))
        .transpose()?;
    let rt = runtime()?;
    if args.verbose {
        let mut events = engine.subscribe();
        rt.spawn(async move {
            while let Ok(e) = events.recv().await {
                if let Event::LoadingCompleted { model_id, load_ms } = e {
                    eprintln!("murmur: {model_id} loaded in {load_ms} ms");
                }
            }
        });
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
        task: args.task,
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
    let cancel = cancel_on_ctrl_c();

    // Stream what can be streamed to stdout; files, JSON and refined text are written
    // at the end.
    let streaming = args.output.is_none() && args.format != Format::Json && refine_model.is_none();
    let mut writer = Writer::new(args.format);
    if streaming {
        print!("{}", writer.header());
    }
    let verbose = args.verbose;
    let on_segment = move |s: &Segment| {
        if verbose || !streaming {
            eprintln!(
                "[{} --> {}] {}",
                format_timestamp(s.start, '.'),
                format_timestamp(s.end, '.'),
                s.text.trim()
            );
        }
        if streaming {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(writer.segment(s).as_bytes());
            let _ = out.flush();
        }
    };
    let transcript =
        rt.block_on(engine.transcribe(Some(&model.id), audio, &opts, on_segment, &cancel))?;
    let refined = match &refine_model {
        Some(m) if !transcript.text.trim().is_empty() => {
            let defaults = RefineOptions::default();
            let refine_opts = RefineOptions {
                mode: RefineMode::CleanUpTranscript,
                temperature: args.refine_temperature.unwrap_or(defaults.temperature),
                ..defaults
            };
            let r = rt.block_on(engine.refine(
                Some(&m.id),
                &transcript.text,
                &refine_opts,
                |_| {},
                &cancel,
            ))?;
            Some(r.text)
        }
        _ => None,
    };
    if args.verbose {
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
    let text = match (&refined, args.format) {
        (Some(r), Format::Txt) => format!("{r}\n"),
        (Some(r), Format::Json) => {
            let mut v = serde_json::to_value(&transcript).unwrap_or_default();
            v["refined_text"] = serde_json::Value::String(r.clone());
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
        (_, Format::Json) => Writer::new(Format::Json).finish(&transcript) + "\n",
        _ => Writer::new(args.format).finish(&transcript),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?,
        None => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
    }
    Ok(())
}
