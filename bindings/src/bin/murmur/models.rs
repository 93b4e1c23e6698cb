//! `murmur models`, `murmur download`, `murmur delete`: the model manager on the command
//! line. Mapping only: every decision is the engine's.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use murmur_core::catalog::{AddModel, Capability, CatalogModel};
use murmur_core::engine::{ModelState, ModelStatus};
use murmur_core::hub::DownloadProgress;
use murmur_core::{CancelToken, Engine, EngineConfig, Error, Result};

#[derive(Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    action: Option<ModelsAction>,
    /// Print the list as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Add a model by Hugging Face repository id (org/name[@revision]) or local folder.
    Add {
        source: String,
        /// The id to refer to it by (default: its name, lower-cased).
        #[arg(long)]
        id: Option<String>,
        /// A speech-to-text (Whisper) model rather than a text model.
        #[arg(long)]
        audio: bool,
        /// Download only files matching these patterns (repeatable), e.g. one GGUF file.
        #[arg(long = "file")]
        files: Vec<String>,
    },
    /// Forget a model you added (its files stay; `murmur delete` removes them).
    Remove { id: String },
}

#[derive(Args)]
pub struct DownloadArgs {
    /// Model id, alias or repository id (see `murmur models`).
    id: String,
}

#[derive(Args)]
pub struct DeleteArgs {
    /// Model id, alias or repository id.
    id: String,
}

pub fn engine() -> Result<Engine> {
    Engine::new(EngineConfig::from_env())
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            path: "<tokio runtime>".into(),
            source: e,
        })
}

/// `murmur models [add|remove]`.
pub fn models(args: ModelsArgs) -> Result<()> {
    let engine = engine()?;
    match args.action {
        None => list(&engine, args.json),
        Some(ModelsAction::Add {
            source,
            id,
            audio,
            files,
        }) => {
            let status = engine.add_model(&AddModel {
                source,
                id,
                capability: audio.then_some(Capability::Audio),
                files: (!files.is_empty()).then_some(files),
            })?;
            println!("added {} ({})", status.model.id, state_name(status.state));
            Ok(())
        }
        Some(ModelsAction::Remove { id }) => {
            let m = engine.remove_model(&id)?;
            println!("removed {}", m.id);
            Ok(())
        }
    }
}

fn list(engine: &Engine, json: bool) -> Result<()> {
    let models = engine.models();
    // Written as one block, ignoring a closed pipe (`murmur models | head`).
    let mut out = String::new();
    if json {
        out = serde_json::to_string_pretty(&models).expect("statuses serialize") + "\n";
    } else {
        table(engine, &models, &mut out);
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(())
}

fn table(engine: &Engine, models: &[ModelStatus], out: &mut String) {
    let h = [
        "ID", "KIND", "STATE", "DOWNLOAD", "ON DISK", "RAM", "SOURCE",
    ];
    let _ = writeln!(
        out,
        "  {:<24} {:<6} {:<15} {:>9} {:>9} {:>8}  {}",
        h[0], h[1], h[2], h[3], h[4], h[5], h[6]
    );
    for s in models {
        let m = &s.model;
        let kind = if m.has(Capability::Audio) {
            "audio"
        } else {
            "text"
        };
        let source = match &m.source {
            murmur_core::catalog::ModelSource::Hub { repo, .. } => repo.clone(),
            murmur_core::catalog::ModelSource::Local { path } => path.display().to_string(),
        };
        let _ = writeln!(
            out,
            "{} {:<24} {:<6} {:<15} {:>9} {:>9} {:>8}  {}",
            if s.recommended { "*" } else { " " },
            m.id,
            kind,
            state_name(s.state),
            m.download_bytes.map(bytes).unwrap_or_else(|| "?".into()),
            if s.disk_bytes > 0 {
                bytes(s.disk_bytes)
            } else {
                "-".into()
            },
            m.ram_bytes.map(bytes).unwrap_or_else(|| "?".into()),
            source
        );
        if let Some(e) = &s.last_error {
            let _ = writeln!(out, "    last error: {e}");
        }
    }
    let _ = writeln!(
        out,
        "\n* recommended for this machine's memory. Cache: {}",
        engine.hub().cache().root().display()
    );
}

fn state_name(s: ModelState) -> &'static str {
    match s {
        ModelState::NotDownloaded => "not downloaded",
        ModelState::Downloading => "downloading",
        ModelState::Downloaded => "downloaded",
        ModelState::Loading => "loading",
        ModelState::Ready => "ready",
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `murmur download ID`: a progress bar on a terminal, plain lines otherwise; Ctrl-C
/// cancels (the partial file stays and the next download resumes it).
pub fn download(args: DownloadArgs) -> Result<()> {
    let engine = engine()?;
    let status = fetch(&engine, &args.id)?;
    println!(
        "{} is downloaded: {} in {}",
        status.model.id,
        bytes(status.disk_bytes),
        status
            .path
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    Ok(())
}

/// The model a command names (an id, alias, repository or path; `None`: the engine's
/// choice for `kind`), downloaded first with progress on stderr when it is a Hub model
/// not complete yet.
pub fn ready_model(engine: &Engine, model: Option<&str>, kind: Capability) -> Result<CatalogModel> {
    ready(engine, engine.choose(model, kind)?)
}

/// `m`, downloaded first if it is not on disk yet.
pub fn ready(engine: &Engine, m: CatalogModel) -> Result<CatalogModel> {
    if engine.model_path(&m.id).is_err() {
        fetch(engine, &m.id)?;
    }
    Ok(m)
}

/// Download `id` with a progress display; Ctrl-C cancels cleanly.
fn fetch(engine: &Engine, id: &str) -> Result<ModelStatus> {
    let model = engine.resolve(id)?;
    let cancel = CancelToken::new();
    let rt = runtime()?;
    rt.block_on(async {
        let on_ctrl_c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_ctrl_c.cancel();
            }
        });
        let mut display = Display::new(&model.id);
        let result = engine
            .download(&model.id, |p| display.update(p), &cancel)
            .await;
        display.finish(result.is_ok());
        result
    })
}

/// `murmur delete ID`.
pub fn delete(args: DeleteArgs) -> Result<()> {
    let engine = engine()?;
    let model = engine.resolve(&args.id)?;
    runtime()?.block_on(engine.delete(&model.id))?;
    println!("deleted {}", model.id);
    Ok(())
}

/// Progress output: indicatif on a terminal, a line every few seconds (and per file)
/// otherwise, so logs stay readable.
enum Display {
    Bar(ProgressBar),
    Lines {
        id: String,
        file: String,
        last: Option<Instant>,
    },
}

impl Display {
    fn new(id: &str) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {wide_msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(id.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            Display::Bar(bar)
        } else {
            Display::Lines {
                id: id.into(),
                file: String::new(),
                last: None,
            }
        }
    }

    fn update(&mut self, p: &DownloadProgress) {
        match self {
            Display::Bar(bar) => {
                bar.set_length(p.total);
                bar.set_position(p.bytes);
                bar.set_message(format!(
                    "{} ({}/{})",
                    p.file,
                    p.file_index + 1,
                    p.file_count
                ));
            }
            Display::Lines { id, file, last } => {
                let new_file = *file != p.file;
                if new_file
                    || last.is_none_or(|t| t.elapsed() >= Duration::from_secs(2))
                    || p.bytes == p.total
                {
                    *file = p.file.clone();
                    *last = Some(Instant::now());
                    eprintln!(
                        "{id}: {:5.1}% {} / {} ({}/s) {} [{}/{}]",
                        p.fraction() * 100.0,
                        bytes(p.bytes),
                        bytes(p.total),
                        bytes(p.bytes_per_sec as u64),
                        p.file,
                        p.file_index + 1,
                        p.file_count
                    );
                }
            }
        }
    }

    fn finish(&mut self, ok: bool) {
        if let Display::Bar(bar) = self {
            if ok {
                bar.finish_and_clear();
            } else {
                bar.abandon();
            }
        }
    }
}
