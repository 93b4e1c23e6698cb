//! `murmur live`: live transcription (the engine's `live` session): raw PCM from stdin
//! (`sox -d -t raw -r 16000 -e signed -b 16 -c 1 - | murmur live`) or an audio file fed
//! at a microphone's pace (`--simulate`), the text shown while it is heard and the clean
//! text printed as soon as the audio ends. Mapping only: every stage and decision is the
//! engine's.
//!
//! The audio comes from a thread of its own (a blocking read of stdin, or the file
//! decoded and paced), so that a first Ctrl-C (the user stopped talking: finish) and a
//! second (cancel) are heard even while stdin is silent.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use murmur_core::audio::{AudioInput, AudioStream, SAMPLE_RATE};
use murmur_core::dictate::DictateResult;
use murmur_core::engine::LiveSession;
use murmur_core::live::{LiveEvent, LiveOptions, PcmFormat};
use murmur_core::{CancelToken, Engine, Error, Result};
use tokio::sync::mpsc;

use crate::dictate::{self, DictationArgs};
use crate::models::{engine, runtime};
use crate::serve::requests::{PcmEncoding, PcmSamples};

/// Audio pushed per `--simulate` chunk: 100 ms, a microphone buffer's order of size.
const SIMULATE_CHUNK: usize = SAMPLE_RATE as usize / 10;

/// Bytes read from stdin at most per push (1 s of 16 kHz mono 16-bit audio): a pipe
/// gives what has arrived, a file is fed a second at a time.
const READ_BYTES: usize = 32 << 10;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LiveFormat {
    /// The text as it is heard, on stderr when it is a terminal; the final clean text on
    /// stdout.
    Txt,
    /// Every event as a line of JSON on stdout (`partial`, `confirmed`, `refined`), the
    /// `final` one (the whole result) last.
    Json,
}

#[derive(Args)]
pub struct LiveArgs {
    /// Frames per second of the PCM on stdin.
    #[arg(long, value_name = "HZ", default_value_t = PcmFormat::default().sample_rate)]
    rate: u32,
    /// Interleaved channels of the PCM on stdin (averaged to mono).
    #[arg(long, default_value_t = PcmFormat::default().channels)]
    channels: u16,
    /// Samples of the PCM on stdin, little-endian: `s16le` (signed 16-bit) or `f32le`
    /// (float in [-1, 1]).
    #[arg(long, value_name = "s16le|f32le", default_value = "s16le")]
    encoding: PcmEncoding,
    /// Instead of stdin: decode this audio file (WAV, FLAC, MP3, M4A/AAC, OGG) and feed
    /// it in 100 ms chunks at real-time pace, as a microphone would.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["rate", "channels", "encoding"])]
    simulate: Option<PathBuf>,
    /// With --simulate: feed the file this many times faster than real time.
    #[arg(long, value_name = "X", default_value_t = 1.0, requires = "simulate", value_parser = parse_speed)]
    speed: f64,
    #[command(flatten)]
    dictation: DictationArgs,
    /// Least new audio (ms) between two decodes, 100 to 10000 (default: the engine's,
    /// 1000).
    #[arg(long, value_name = "MS")]
    step_ms: Option<u32>,
    /// `txt` (the text live on a terminal, the final text on stdout) or `json` (every
    /// event as a JSON line).
    #[arg(long, default_value = "txt")]
    format: LiveFormat,
    /// Print how long each stage took, and the wait after the audio ended, to stderr.
    #[arg(long)]
    timings: bool,
}

/// `--speed`: above 0, at most 1000.
fn parse_speed(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 1000.0 => Ok(x),
        _ => Err(format!(
            "{s} is not a speed: give a number above 0, at most 1000"
        )),
    }
}

/// Where the audio comes from, opened and checked before any model is fetched.
enum Source {
    Stdin(PcmEncoding),
    File {
        stream: Box<AudioStream<'static>>,
        speed: f64,
    },
}

impl Source {
    fn open(args: &LiveArgs) -> Result<Self> {
        if let Some(path) = &args.simulate {
            let stream = Box::new(AudioStream::open_owned(AudioInput::Path(path.clone()))?);
            return Ok(Self::File {
                stream,
                speed: args.speed,
            });
        }
        if std::io::stdin().is_terminal() {
            return Err(Error::InvalidArgument {
                name: "stdin".into(),
                reason: "`murmur live` reads raw PCM from stdin, which is a terminal: pipe a \
                         microphone in (sox -d -t raw -r 16000 -e signed -b 16 -c 1 - | \
                         murmur live), or give --simulate FILE"
                    .into(),
            });
        }
        Ok(Self::Stdin(args.encoding))
    }

    /// The audio's format as the session is fed it: files decode to 16 kHz mono.
    fn format(args: &LiveArgs) -> PcmFormat {
        match args.simulate {
            Some(_) => PcmFormat::default(),
            None => PcmFormat {
                sample_rate: args.rate,
                channels: args.channels,
            },
        }
    }

    /// Produce the audio on a thread of its own, into the returned channel (closed at
    /// the end; the thread stops when the channel's receiver is gone).
    fn spawn(self) -> mpsc::Receiver<Result<PcmSamples>> {
        let (tx, rx) = mpsc::channel(64);
        std::thread::spawn(move || match self {
            Self::Stdin(encoding) => read_stdin(encoding, &tx),
            Self::File { stream, speed } => play(*stream, speed, &tx),
        });
        rx
    }
}

/// Whole samples from stdin as they arrive; a sample split across two reads is kept
/// for the next.
fn read_stdin(encoding: PcmEncoding, tx: &mpsc::Sender<Result<PcmSamples>>) {
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; READ_BYTES];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.blocking_send(Err(Error::Io {
                    path: "<stdin>".into(),
                    source: e,
                }));
                return;
            }
        };
        pending.extend_from_slice(&buf[..n]);
        let whole = pending.len() - pending.len() % encoding.sample_bytes();
        let samples = encoding.samples(&pending[..whole]);
        pending.drain(..whole);
        let samples = samples.expect("whole samples");
        if tx.blocking_send(Ok(samples)).is_err() {
            return;
        }
    }
    if !pending.is_empty() {
        eprintln!(
            "murmur: warning: stdin ended inside a sample ({} stray bytes left out)",
            pending.len()
        );
    }
}

/// The file's 16 kHz mono audio in 100 ms chunks, each sent when a microphone would
/// have recorded it (`speed` times faster).
fn play(mut stream: AudioStream<'static>, speed: f64, tx: &mpsc::Sender<Result<PcmSamples>>) {
    let never = CancelToken::new();
    let started = Instant::now();
    let (mut sent, mut pending) = (0usize, Vec::new());
    loop {
        while pending.len() < SIMULATE_CHUNK {
            match stream.next_chunk(&never) {
                Ok(Some(chunk)) => pending.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
        if pending.is_empty() {
            return;
        }
        let piece: Vec<f32> = pending.drain(..SIMULATE_CHUNK.min(pending.len())).collect();
        sent += piece.len();
        let due = started + Duration::from_secs_f64(sent as f64 / SAMPLE_RATE as f64 / speed);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        if tx.blocking_send(Ok(PcmSamples::F32(piece))).is_err() {
            return;
        }
    }
}

/// `murmur live`.
pub fn run(args: LiveArgs) -> Result<()> {
    // Settings and the audio's source first: a bad one is refused before any model is
    // fetched.
    let mut opts = LiveOptions {
        dictate: args.dictation.options()?,
        format: Source::format(&args),
        step_ms: args.step_ms.unwrap_or(LiveOptions::default().step_ms),
    };
    opts.validate()?;
    let source = Source::open(&args)?;
    let engine = engine()?;
    args.dictation.ready_models(&engine, &mut opts.dictate)?;
    let screen = Arc::new(Mutex::new(Screen::new(args.format)));
    let ended = runtime()?.block_on(live(&engine, &opts, source, args.format, &screen))?;
    screen.lock().unwrap().clear();
    let r = &ended.result;
    let mut err = String::new();
    if args.format == LiveFormat::Txt {
        err.push_str(&dictate::warnings(r));
    }
    if args.timings {
        err.push_str(&format!(
            "{}; the text {:.2} s after the audio ended\n",
            dictate::timings(r),
            r.timings.finish_secs
        ));
    }
    let _ = std::io::stderr().lock().write_all(err.as_bytes());
    if args.format == LiveFormat::Txt {
        let _ = std::io::stdout()
            .lock()
            .write_all(dictate::text_line(r).as_bytes());
    }
    // The text of the audio before the limit is out; the limit is still an error.
    match ended.too_long {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A session's result, and the length limit when the audio reached it.
struct Ended {
    result: DictateResult,
    too_long: Option<Error>,
}

/// The session: audio pushed as it comes until it ends (end of input, or Ctrl-C), then
/// finished. A second Ctrl-C cancels.
async fn live(
    engine: &Engine,
    opts: &LiveOptions,
    source: Source,
    format: LiveFormat,
    screen: &Arc<Mutex<Screen>>,
) -> Result<Ended> {
    let (stop, cancel) = ctrl_c(screen.clone())?;
    let shown = screen.clone();
    let on_event = move |e: LiveEvent| match format {
        LiveFormat::Json => {
            let line = serde_json::to_string(&e).expect("live events serialize") + "\n";
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
        LiveFormat::Txt => shown.lock().unwrap().event(&e),
    };
    let session = engine.live(opts, on_event, &cancel).await?;
    screen
        .lock()
        .unwrap()
        .note("murmur: listening (Ctrl-C finishes, twice cancels)");
    let mut audio = source.spawn();
    let mut too_long = None;
    loop {
        tokio::select! {
            piece = audio.recv() => match piece {
                None => break,
                Some(Err(e)) => return Err(e),
                Some(Ok(samples)) => match push(&session, samples) {
                    Ok(()) => {}
                    Err(e @ Error::AudioTooLong { .. }) => {
                        screen.lock().unwrap().note(&format!("murmur: {e}; finishing with the audio before it"));
                        too_long = Some(e);
                        break;
                    }
                    // The session stopped on an error: `finish` says which.
                    Err(Error::InvalidArgument { name, .. }) if name == "session" => break,
                    Err(e) => return Err(e),
                },
            },
            _ = stop.cancelled() => break,
        }
    }
    let result = session.finish().await?;
    Ok(Ended { result, too_long })
}

fn push(session: &LiveSession, samples: PcmSamples) -> Result<()> {
    match samples {
        PcmSamples::I16(s) => session.push_i16(&s),
        PcmSamples::F32(s) => session.push_f32(&s),
    }
}

/// Two tokens: the first Ctrl-C (SIGINT) cancels `stop` (the audio ends: finish), a
/// second one `cancel` (the session stops). One signal stream, caught from now on, so a
/// second Ctrl-C right after the first is not lost; watched by a task of the current
/// runtime.
fn ctrl_c(screen: Arc<Mutex<Screen>>) -> Result<(CancelToken, CancelToken)> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupts = signal(SignalKind::interrupt()).map_err(|e| Error::Io {
        path: "<signals>".into(),
        source: e,
    })?;
    let (stop, cancel) = (CancelToken::new(), CancelToken::new());
    let (s, c) = (stop.clone(), cancel.clone());
    tokio::spawn(async move {
        if interrupts.recv().await.is_none() {
            return;
        }
        s.cancel();
        screen
            .lock()
            .unwrap()
            .note("murmur: finishing (Ctrl-C again cancels)");
        if interrupts.recv().await.is_some() {
            c.cancel();
        }
    });
    Ok((stop, cancel))
}

/// What a terminal shows while the audio comes: one line, rewritten, with the end of
/// the confirmed text and the partial text after it (dimmed: it may still change), and
/// notes above it. Nothing when stderr is not a terminal.
struct Screen {
    /// stderr is a terminal: notes are shown.
    terminal: bool,
    /// The live line is shown too (`--format txt`).
    live: bool,
    confirmed: String,
    partial: String,
    drawn: bool,
}

impl Screen {
    fn new(format: LiveFormat) -> Self {
        let terminal = std::io::stderr().is_terminal();
        Self {
            terminal,
            live: terminal && format == LiveFormat::Txt,
            confirmed: String::new(),
            partial: String::new(),
            drawn: false,
        }
    }

    fn event(&mut self, e: &LiveEvent) {
        match e {
            LiveEvent::Confirmed { text, .. } => self.confirmed.push_str(text),
            LiveEvent::Partial { text } => self.partial.clone_from(text),
            LiveEvent::Refined { .. } | LiveEvent::Final { .. } => return,
        }
        self.draw();
    }

    fn draw(&mut self) {
        if !self.live {
            return;
        }
        // Control characters would break the line; the text has none, but be sure.
        let clean = |s: &str| -> Vec<char> {
            s.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect()
        };
        let mut confirmed = clean(&self.confirmed);
        let mut partial = clean(&self.partial);
        if confirmed.iter().all(|c| c.is_whitespace()) {
            confirmed.clear();
            while partial.first().is_some_and(|c| c.is_whitespace()) {
                partial.remove(0);
            }
        }
        while confirmed.first().is_some_and(|c| c.is_whitespace()) {
            confirmed.remove(0);
        }
        let room = terminal_width().saturating_sub(1);
        let skip = (confirmed.len() + partial.len()).saturating_sub(room);
        let c: String = confirmed.iter().skip(skip).collect();
        let p: String = partial
            .iter()
            .skip(skip.saturating_sub(confirmed.len()))
            .collect();
        eprint!("\r\x1b[K{c}\x1b[2m{p}\x1b[0m");
        self.drawn = true;
    }

    /// Take the live line off the screen.
    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[K");
            self.drawn = false;
        }
    }

    /// A message on a line of its own (on a terminal, above the live line).
    fn note(&mut self, message: &str) {
        if !self.terminal {
            return;
        }
        self.clear();
        eprintln!("{message}");
        if !self.confirmed.is_empty() || !self.partial.is_empty() {
            self.draw();
        }
    }
}

/// Columns of the terminal on stderr (80 when it does not say).
fn terminal_width() -> usize {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass, and nothing else.
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    match ok && size.ws_col > 0 {
        true => size.ws_col as usize,
        false => 80,
    }
}
