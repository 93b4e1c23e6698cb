//! The live-transcription benchmark: what a user waits for after they stop talking, live
//! versus `dictate`, and how far the confirmed text trails the voice.
//!
//! Per clip, after one warm-up of each: `runs` alternating pairs of a live session fed
//! 100 ms chunks at real-time pace (`speed` × faster, for slow machines' CI) and a
//! `dictate` call on the same samples. Reported per run and as medians: the time from
//! `finish()` (the end of the audio) to the final result, live and `dictate` (for which
//! it is the whole call), their ratio; the lag of each confirmed stretch (the audio
//! pushed when it was reported minus the end of its last word, in seconds of audio) as
//! median, 90th percentile and maximum; whether the two transcripts have the same words.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::median;
use crate::audio::AudioInput;
use crate::cancel::CancelToken;
use crate::dictate::{DictateOptions, DictateResult, normalized_words};
use crate::engine::Engine;
use crate::error::Result;
use crate::live::{LiveEvent, LiveOptions};

/// What [`bench_live`] runs.
#[derive(Debug, Clone)]
pub struct LiveBenchOptions {
    pub live: LiveOptions,
    /// Alternating live/dictate pairs per clip, after a warm-up of each.
    pub runs: usize,
    /// Pace of the pushes: 1.0 is real time.
    pub speed: f64,
}

/// One live run.
#[derive(Debug, Clone, Serialize)]
pub struct LiveRun {
    /// `finish()` to the final result (s).
    pub finish_s: f64,
    /// `dictate` on the same samples (s): its whole call.
    pub dictate_s: f64,
    /// Confirmed text's lag behind the audio (s of audio): median, p90, max.
    pub lag_median_s: f64,
    pub lag_p90_s: f64,
    pub lag_max_s: f64,
    /// Confirmed events and partial events.
    pub confirmed_events: usize,
    pub partial_events: usize,
    /// Cleanups done before `finish()`.
    pub cleanups_before_finish: usize,
}

/// One clip's runs and medians.
#[derive(Debug, Clone, Serialize)]
pub struct LiveClip {
    pub audio_s: f64,
    pub runs: Vec<LiveRun>,
    pub finish_median_s: f64,
    pub dictate_median_s: f64,
    /// live ÷ dictate, of the medians (below 1: live is done sooner).
    pub ratio: f64,
    pub lag_median_s: f64,
    pub live_transcript: String,
    pub dictate_transcript: String,
    pub same_words: bool,
}

/// [`bench_live`]'s report.
#[derive(Debug, Clone, Serialize)]
pub struct LiveBenchReport {
    pub version: String,
    pub device: String,
    pub speech_model: String,
    pub text_model: Option<String>,
    pub runs: usize,
    pub speed: f64,
    pub step_ms: u32,
    pub clips: BTreeMap<String, LiveClip>,
}

/// Run the benchmark on `clips` (name, 16 kHz mono samples) with `engine`.
pub async fn bench_live(
    engine: &Engine,
    clips: &[(String, Vec<f32>)],
    opts: &LiveBenchOptions,
) -> Result<LiveBenchReport> {
    opts.live.validate()?;
    let mut live = opts.live.clone();
    live.format = Default::default();
    let mut report = LiveBenchReport {
        version: env!("CARGO_PKG_VERSION").to_string(),
        device: format!("{:?}", mlx_rs::Device::default()),
        speech_model: String::new(),
        text_model: None,
        runs: opts.runs,
        speed: opts.speed,
        step_ms: live.step_ms,
        clips: BTreeMap::new(),
    };
    for (name, pcm) in clips {
        // Warm-up: models loaded, kernels compiled, prefixes cached.
        once_live(engine, &live, pcm, f64::INFINITY).await?;
        once_dictate(engine, &live.dictate, pcm).await?;
        let mut runs = Vec::new();
        let mut last = None;
        for _ in 0..opts.runs.max(1) {
            let (run, result) = once_live(engine, &live, pcm, opts.speed).await?;
            let d = once_dictate(engine, &live.dictate, pcm).await?;
            runs.push(LiveRun {
                dictate_s: d.timings.total_secs,
                ..run
            });
            report.speech_model.clone_from(&result.speech_model);
            report.text_model.clone_from(&result.text_model);
            last = Some((result, d));
        }
        let (l, d) = last.expect("one run at least");
        let finish = median(runs.iter().map(|r| r.finish_s).collect());
        let dictate = median(runs.iter().map(|r| r.dictate_s).collect());
        report.clips.insert(
            name.clone(),
            LiveClip {
                audio_s: pcm.len() as f64 / 16_000.0,
                finish_median_s: finish,
                dictate_median_s: dictate,
                ratio: finish / dictate,
                lag_median_s: median(runs.iter().map(|r| r.lag_median_s).collect()),
                same_words: normalized_words(&l.transcript) == normalized_words(&d.transcript),
                live_transcript: l.transcript,
                dictate_transcript: d.transcript,
                runs,
            },
        );
    }
    Ok(report)
}

async fn once_dictate(
    engine: &Engine,
    opts: &DictateOptions,
    pcm: &[f32],
) -> Result<DictateResult> {
    let audio = AudioInput::Pcm16k(pcm.to_vec());
    engine
        .dictate(audio, opts, |_| {}, &CancelToken::new())
        .await
}

/// One live session over `pcm` at `speed` × real time (infinite: as fast as pushes go).
async fn once_live(
    engine: &Engine,
    opts: &LiveOptions,
    pcm: &[f32],
    speed: f64,
) -> Result<(LiveRun, DictateResult)> {
    let pushed = Arc::new(Mutex::new(0.0f64));
    let log = Arc::new(Mutex::new(Vec::new()));
    let (p, l) = (pushed.clone(), log.clone());
    let on_event = move |e: LiveEvent| {
        let at = *p.lock().unwrap();
        let entry = match e {
            LiveEvent::Confirmed { end, .. } => Some(('c', at - end)),
            LiveEvent::Partial { .. } => Some(('p', 0.0)),
            LiveEvent::Refined { .. } => Some(('r', at)),
            LiveEvent::Final { .. } => None,
        };
        l.lock().unwrap().extend(entry);
    };
    let session = engine.live(opts, on_event, &CancelToken::new()).await?;
    let pace = Duration::from_secs_f64(0.1 / speed);
    let start = tokio::time::Instant::now();
    for (i, chunk) in pcm.chunks(1_600).enumerate() {
        session.push_f32(chunk)?;
        *pushed.lock().unwrap() = session.audio_secs();
        if speed.is_finite() {
            tokio::time::sleep_until(start + pace * (i as u32 + 1)).await;
        }
    }
    let audio_s = session.audio_secs();
    let result = session.finish().await?;
    let log = log.lock().unwrap().clone();
    let mut lags: Vec<f64> = log.iter().filter(|e| e.0 == 'c').map(|e| e.1).collect();
    lags.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        lags.get(((lags.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let run = LiveRun {
        finish_s: result.timings.finish_secs,
        dictate_s: 0.0,
        lag_median_s: pick(0.5),
        lag_p90_s: pick(0.9),
        lag_max_s: lags.last().copied().unwrap_or(0.0),
        confirmed_events: lags.len(),
        partial_events: log.iter().filter(|e| e.0 == 'p').count(),
        cleanups_before_finish: log.iter().filter(|e| e.0 == 'r' && e.1 < audio_s).count(),
    };
    Ok((run, result))
}
