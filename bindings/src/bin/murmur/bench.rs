//! `murmur bench`: the engine's measurements as JSON (see murmur_core::bench), for
//! bench/compare.py (and bench/compare_dictation.py) to set side by side with Python
//! mlx-lm and mlx-whisper.

use std::path::PathBuf;

use murmur_core::audio::{AudioInput, load_16k_mono};
use murmur_core::backend::Precision;
use murmur_core::bench::live::{LiveBenchOptions, LiveBenchReport, bench_live};
use murmur_core::bench::{
    DictationBenchOptions, DictationBenchReport, LlmBenchOptions, bench_dictation, bench_llm,
    bench_whisper,
};
use murmur_core::live::LiveOptions;
use murmur_core::refine::RefineOptions;
use murmur_core::whisper::ComputeDtype;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Model folder (mlx-community layout) or .gguf file; with --audio, a Whisper folder
    /// (with --dictation, the chat model that refines).
    #[arg(long)]
    model: PathBuf,
    /// Benchmark transcription of these audio files instead (the model is Whisper).
    #[arg(long, num_args = 1..)]
    audio: Vec<PathBuf>,
    /// Benchmark dictation on the --audio files: decode, transcribe with --whisper,
    /// refine with --model (the refine defaults, seed 0), per stage; plus prompt lookup
    /// on/off/eager, the prefix cache cold/warm and a greedy lookup check per clip.
    #[arg(long, requires_all = ["whisper", "audio"])]
    dictation: bool,
    /// Benchmark live transcription on the --audio files, on the engine: each fed to a
    /// live session at real-time pace (see --speed) and given whole to `dictate`,
    /// alternating --reps times after a warm-up; the wait after the audio ends for each
    /// and the lag of the confirmed text. --whisper and --model (the cleanup; with
    /// --no-refine, none) as for --dictation.
    #[arg(long, requires_all = ["whisper", "audio"], conflicts_with = "dictation")]
    live: bool,
    /// --live: push the audio this many times faster than real time.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// --live: no cleanup (the transcript alone).
    #[arg(long)]
    no_refine: bool,
    /// The Whisper model of --dictation (folder: CTranslate2 or mlx-community layout).
    #[arg(long)]
    whisper: Option<PathBuf>,
    /// --dictation: refine with plain decoding (prompt lookup off) in the pipeline runs.
    #[arg(long)]
    no_prompt_lookup: bool,
    /// --dictation: skip the lookup, prefix-cache and greedy comparisons.
    #[arg(long)]
    no_comparisons: bool,
    /// Measured runs per prompt length / audio file, after a first run.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Prompt lengths for the prefill rows, comma-separated.
    #[arg(long, default_value = "128,512,2048", value_delimiter = ',')]
    prompt_lens: Vec<usize>,
    /// Tokens generated for the decode row (EOS ignored).
    #[arg(long, default_value_t = 256)]
    decode_tokens: usize,
    /// How a language model's weights are held: `auto` (dense float32 on the CPU
    /// backend when it fits), `as-stored` or `float32`.
    #[arg(long, default_value = "auto")]
    precision: Precision,
    /// Whisper's compute dtype, `float16` or `float32` (default: float16 on Metal and
    /// CUDA, float32 on the CPU backend).
    #[arg(long)]
    dtype: Option<ComputeDtype>,
    /// The report is JSON on stdout; also write it to this file (`--json` alone: stdout
    /// only).
    #[arg(long, num_args = 0..=1, default_missing_value = "-")]
    json: Option<PathBuf>,
}

pub fn bench(args: BenchArgs) -> murmur_core::Result<()> {
    let text = if args.live {
        let report = live(&args)?;
        summarize_live(&report);
        serde_json::to_string_pretty(&report)
    } else if args.dictation {
        let whisper = args.whisper.as_deref().expect("clap requires --whisper");
        let mut opts = DictationBenchOptions {
            reps: args.reps,
            whisper_dtype: args.dtype,
            precision: args.precision,
            comparisons: !args.no_comparisons,
            ..DictationBenchOptions::default()
        };
        opts.refine.prompt_lookup = !args.no_prompt_lookup;
        let report = bench_dictation(whisper, &args.model, &args.audio, &opts)?;
        summarize(&report);
        serde_json::to_string_pretty(&report)
    } else if args.audio.is_empty() {
        let opts = LlmBenchOptions {
            prompt_lens: args.prompt_lens,
            decode_tokens: args.decode_tokens,
            reps: args.reps,
            precision: args.precision,
        };
        serde_json::to_string_pretty(&bench_llm(&args.model, &opts)?)
    } else {
        serde_json::to_string_pretty(&bench_whisper(
            &args.model,
            &args.audio,
            args.reps,
            args.dtype,
        )?)
    }
    .expect("report serializes");
    println!("{text}");
    if let Some(path) = args.json.filter(|p| p.as_os_str() != "-") {
        std::fs::write(&path, text).map_err(|e| murmur_core::Error::Io { path, source: e })?;
    }
    Ok(())
}

/// `--live`: the engine on the given models, English, greedy cleanup.
fn live(args: &BenchArgs) -> murmur_core::Result<LiveBenchReport> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return Err(murmur_core::Error::InvalidArgument {
            name: "speed".into(),
            reason: format!("{} is not a positive number", args.speed),
        });
    }
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let mut opts = LiveBenchOptions {
        live: LiveOptions::default(),
        runs: args.reps,
        speed: args.speed,
    };
    let d = &mut opts.live.dictate;
    d.speech_model = args.whisper.as_deref().map(path);
    d.text_model = Some(path(&args.model));
    d.transcribe.language = Some("en".into());
    d.vocabulary = false;
    d.refine = (!args.no_refine).then(|| RefineOptions {
        temperature: 0.0,
        ..RefineOptions::default()
    });
    let mut clips = Vec::new();
    for a in &args.audio {
        let pcm = load_16k_mono(&AudioInput::Path(a.clone()))?;
        let name = a
            .file_name()
            .map_or_else(|| path(a), |n| n.to_string_lossy().into_owned());
        clips.push((name, pcm));
    }
    crate::models::runtime()?.block_on(async {
        let engine = crate::models::engine()?;
        bench_live(&engine, &clips, &opts).await
    })
}

fn summarize_live(r: &LiveBenchReport) {
    eprintln!(
        "live vs dictate on {} ({} runs, {}x real time, step {} ms):",
        r.device, r.runs, r.speed, r.step_ms
    );
    for (name, c) in &r.clips {
        eprintln!(
            "  {name} ({:.1} s): after the audio ends, live {:.2} s vs dictate {:.2} s \
             ({:.2}x); confirmed text {:.2} s behind (median); same words: {}",
            c.audio_s, c.finish_median_s, c.dictate_median_s, c.ratio, c.lag_median_s, c.same_words
        );
    }
}

/// A few lines per clip on stderr, for a reader (stdout has the JSON).
fn summarize(r: &DictationBenchReport) {
    eprintln!(
        "dictation on {} (Whisper {} in {}, LLM {} as {}), medians of {} runs:",
        r.device,
        r.whisper.path.display(),
        r.whisper.dtype,
        r.llm.path.display(),
        r.llm.dtype,
        r.reps
    );
    for (name, c) in &r.clips {
        eprintln!(
            "  {name} ({:.1} s): decode {:.3} s, transcribe {:.3} s, refine {:.3} s \
             ({:.0} tokens, {:.1} tok/s, first token {:.3} s), total {:.3} s",
            c.audio_s,
            c.decode_s,
            c.transcribe_s,
            c.refine_s,
            c.generated_tokens,
            c.decode_tokens_per_sec,
            c.ttft_s,
            c.total_s
        );
        if let Some(l) = &c.lookup {
            eprintln!(
                "    prompt lookup on/off/eager: {:.1} / {:.1} / {:.1} tok/s, accepted {}/{} \
                 drafted (eager {}/{})",
                l.on.decode_tokens_per_sec,
                l.off.decode_tokens_per_sec,
                l.eager.decode_tokens_per_sec,
                l.on.draft.accepted,
                l.on.draft.drafted,
                l.eager.draft.accepted,
                l.eager.draft.drafted
            );
        }
        if let Some(p) = &c.prefix_cache {
            eprintln!(
                "    first token, prefix cache cold/warm: {:.3} / {:.3} s ({:.2}x; {:?} tokens cached)",
                p.uncached_ttft_s, p.cached_ttft_s, p.speedup, p.cached_cached_tokens
            );
        }
        if let Some(g) = &c.greedy {
            eprintln!("    greedy, lookup off = on = eager: {}", g.identical);
        }
    }
}
