//! `murmur dictate`: audio to clean text in one call (the engine's `dictate`: speech found,
//! transcribed with the user's vocabulary, cleaned up and checked), and `murmur limits`,
//! this machine's dictation limits. Mapping only: every stage and decision is the
//! engine's. The model and cleanup flags ([`DictationArgs`]) and the result's printing
//! are shared with `murmur live`.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use murmur_core::audio::AudioInput;
use murmur_core::catalog::Capability;
use murmur_core::dictate::{DictateEvent, DictateOptions, DictateResult, DictateStage, EditKind};
use murmur_core::refine::{RefineMode, RefineOptions};
use murmur_core::transcribe::{TranscribeOptions, format_timestamp};
use murmur_core::{Engine, Error, Result};

use crate::models::{engine, ready_model, runtime};
use crate::refine::cancel_on_ctrl_c;

/// The most bytes read from stdin (`murmur dictate -`): `murmur serve`'s default upload
/// limit. The engine then refuses audio longer than this machine's limit.
const MAX_STDIN_BYTES: u64 = 512 << 20;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// The final text.
    Txt,
    /// The whole result: text, transcript, edits, timings, warnings, segments.
    Json,
}

#[derive(Args)]
pub struct DictateArgs {
    /// Audio file: WAV, FLAC, MP3, M4A/AAC or OGG (any rate and channel count); `-` reads
    /// it from stdin.
    file: PathBuf,
    #[command(flatten)]
    dictation: DictationArgs,
    /// `txt` (the final text; warnings on stderr) or `json` (the whole result).
    #[arg(long, default_value = "txt")]
    format: OutputFormat,
    /// Print the word edits from the transcript to the text to stderr.
    #[arg(long)]
    edits: bool,
    /// Print how long each stage took to stderr.
    #[arg(long)]
    timings: bool,
}

/// The models and options of a dictation, shared by `murmur dictate` and `murmur live`.
#[derive(Args)]
pub struct DictationArgs {
    /// Whisper model: a catalog id or alias, or a model folder (downloaded on first use).
    /// Default: $MURMUR_WHISPER_MODEL, else $MURMUR_DEFAULT_AUDIO_MODEL, else the one
    /// recommended for this machine's RAM.
    #[arg(long, env = "MURMUR_WHISPER_MODEL")]
    speech_model: Option<String>,
    /// The cleanup's text model: a catalog id or alias, a folder or a .gguf file.
    /// Default: $MURMUR_MODEL, else the configured default, else the one recommended for
    /// this machine's RAM.
    #[arg(long = "text-model", visible_alias = "model", env = "MURMUR_MODEL")]
    text_model: Option<String>,
    /// Spoken language (code or name); detected when absent.
    #[arg(long)]
    language: Option<String>,
    /// No cleanup: the text is the transcript, with the vocabulary's replacements.
    #[arg(long)]
    no_refine: bool,
    /// Transcribe the whole audio, without finding the speech in it first.
    #[arg(long)]
    no_vad: bool,
    /// Leave your vocabulary (`murmur vocab`) out of this dictation.
    #[arg(long)]
    no_vocabulary: bool,
    /// The app the text is dictated into (the cleanup's prompt names it).
    #[arg(long, value_name = "NAME")]
    app: Option<String>,
    /// The text selected in that app, which the dictation may refer to.
    #[arg(long, value_name = "TEXT")]
    selected_text: Option<String>,
    /// The cleanup: `clean` (a dictated transcript), `grammar`, `concise` or `custom`
    /// (with --prompt).
    #[arg(long, default_value = "clean")]
    mode: String,
    /// System prompt for `--mode custom`.
    #[arg(long, required_if_eq("mode", "custom"))]
    prompt: Option<String>,
    /// Sampling temperature of the cleanup (default 0.7; 0 is greedy).
    #[arg(long, value_name = "T")]
    temperature: Option<f32>,
    /// Seed of the cleanup's sampling (the same text on every run).
    #[arg(long)]
    seed: Option<u64>,
}

impl DictationArgs {
    /// The options asked for, every setting checked: a bad one is refused before any
    /// audio is read or model fetched. The models are chosen by [`Self::ready_models`].
    pub fn options(&self) -> Result<DictateOptions> {
        let refine = match self.no_refine {
            true => None,
            false => {
                let defaults = RefineOptions::default();
                Some(RefineOptions {
                    mode: RefineMode::parse(Some(&self.mode), self.prompt.clone())?,
                    temperature: self.temperature.unwrap_or(defaults.temperature),
                    seed: self.seed,
                    ..defaults
                })
            }
        };
        let defaults = DictateOptions::default();
        let opts = DictateOptions {
            transcribe: TranscribeOptions {
                language: self.language.clone(),
                ..TranscribeOptions::default()
            },
            refine,
            vad: defaults.vad.filter(|_| !self.no_vad),
            vocabulary: !self.no_vocabulary,
            app_name: self.app.clone(),
            selected_text: self.selected_text.clone(),
            ..defaults
        };
        opts.validate()?;
        Ok(opts)
    }

    /// Choose the speech model, and the text model when there is a cleanup, into `opts`,
    /// downloading them (with progress) when they are not on disk.
    pub fn ready_models(&self, engine: &Engine, opts: &mut DictateOptions) -> Result<()> {
        opts.speech_model =
            Some(ready_model(engine, self.speech_model.as_deref(), Capability::Audio)?.id);
        if opts.refine.is_some() {
            opts.text_model =
                Some(ready_model(engine, self.text_model.as_deref(), Capability::Text)?.id);
        }
        Ok(())
    }
}

/// `murmur dictate`.
pub fn run(args: DictateArgs) -> Result<()> {
    // Settings first: a bad one is refused before any audio is read or model fetched.
    let mut opts = args.dictation.options()?;
    let audio = read_audio(&args.file)?;
    let engine = engine()?;
    args.dictation.ready_models(&engine, &mut opts)?;
    let progress = std::io::stderr().is_terminal();
    let on_event = move |e: DictateEvent<'_>| {
        if progress {
            show_progress(e);
        }
    };
    let cancel = cancel_on_ctrl_c();
    let r = runtime()?.block_on(engine.dictate(audio, &opts, on_event, &cancel))?;
    print_result(&r, &args);
    Ok(())
}

/// The file, or stdin's bytes for `-`.
fn read_audio(file: &std::path::Path) -> Result<AudioInput> {
    if file.as_os_str() != "-" {
        return Ok(AudioInput::Path(file.to_path_buf()));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Error::InvalidArgument {
            name: "file".into(),
            reason: "`-` reads the audio from stdin, which is a terminal: pipe a file in".into(),
        });
    }
    let io = |e| Error::Io {
        path: "<stdin>".into(),
        source: e,
    };
    let mut bytes = Vec::new();
    stdin
        .lock()
        .take(MAX_STDIN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_STDIN_BYTES {
        return Err(Error::InvalidArgument {
            name: "file".into(),
            reason: format!("stdin holds more than {MAX_STDIN_BYTES} bytes of audio"),
        });
    }
    Ok(AudioInput::Encoded(bytes))
}

/// What a terminal shows while the dictation works: each stage, the audio's length, and
/// the segments as they are transcribed.
fn show_progress(e: DictateEvent<'_>) {
    match e {
        DictateEvent::Stage(stage) => eprintln!(
            "murmur: {}",
            match stage {
                DictateStage::DecodingAudio => "reading the audio…",
                DictateStage::DetectingSpeech => "finding the speech…",
                DictateStage::Transcribing => "transcribing…",
                DictateStage::Refining => "cleaning up…",
            }
        ),
        DictateEvent::Duration(secs) => eprintln!("murmur: {secs:.1} s of audio"),
        DictateEvent::Segment(s) => eprintln!(
            "[{} --> {}] {}",
            format_timestamp(s.start, '.'),
            format_timestamp(s.end, '.'),
            s.text.trim()
        ),
        DictateEvent::RefineText(_) => {}
    }
}

fn print_result(r: &DictateResult, args: &DictateArgs) {
    let mut err = String::new();
    if args.format == OutputFormat::Txt {
        err.push_str(&warnings(r));
    }
    if args.edits {
        for e in &r.edits {
            let kind = match e.kind {
                EditKind::Insert => "insert",
                EditKind::Delete => "delete",
                EditKind::Replace => "replace",
            };
            err.push_str(&format!(
                "edit: {kind} {:?} → {:?} (transcript {}..{}, text {}..{})\n",
                e.before, e.after, e.before_start, e.before_end, e.after_start, e.after_end
            ));
        }
    }
    if args.timings {
        err.push_str(&timings(r));
        err.push('\n');
    }
    let _ = std::io::stderr().lock().write_all(err.as_bytes());
    // Written as one block, ignoring a closed pipe.
    let out = match args.format {
        OutputFormat::Json => {
            serde_json::to_string_pretty(r).expect("a dictation serializes") + "\n"
        }
        OutputFormat::Txt => text_line(r),
    };
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
}

/// The result's warnings, a `warning: ` line each.
pub fn warnings(r: &DictateResult) -> String {
    r.warnings
        .iter()
        .map(|w| format!("warning: {}\n", w.message))
        .collect()
}

/// How long each stage took, on one line (without its newline).
pub fn timings(r: &DictateResult) -> String {
    let t = &r.timings;
    format!(
        "timings: decode {:.2} s, speech detection {:.2} s, transcription {:.2} s, \
         cleanup {:.2} s, total {:.2} s ({:.1} s of audio, {:.1} s of speech)",
        t.decode_audio_secs,
        t.vad_secs,
        t.transcribe_secs,
        t.refine_secs,
        t.total_secs,
        r.audio_secs,
        r.speech_secs
    )
}

/// The final text and its newline; nothing when there is no text.
pub fn text_line(r: &DictateResult) -> String {
    match r.text.is_empty() {
        true => String::new(),
        false => format!("{}\n", r.text),
    }
}

/// `murmur limits`: what a dictation may ask of this machine, by its memory tier.
pub fn limits(json: bool) -> Result<()> {
    let l = engine()?.limits();
    let out = if json {
        serde_json::to_string_pretty(&l).expect("limits serialize") + "\n"
    } else {
        let tier = serde_json::to_value(l.ram_tier).expect("a tier serializes");
        format!(
            "memory tier: {}\nlongest dictation: {} s ({} min)\nrefine token ceiling: {}\n",
            tier.as_str().unwrap_or_default(),
            l.max_recording_secs,
            l.max_recording_secs as f64 / 60.0,
            l.max_refine_tokens
        )
    };
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(())
}
