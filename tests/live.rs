//! Live transcription on real models and speech: Whisper base (CTranslate2 fixture) and
//! the real SmolLM2-135M GGUF, fed in 100 ms chunks through `Engine::live` — confirmed
//! text never changes and adds up to the final transcript (no word lost or doubled at
//! chunk, window or utterance boundaries), the final words are the batch transcript's,
//! pauses end utterances and are cleaned up while the audio comes, silence gives no
//! text, microphone formats are converted, and cancel, drop and the length limit stop
//! the work.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use murmur_core::audio::AudioInput;
use murmur_core::dictate::normalized_words as words;
use murmur_core::dictate::{DictateOptions, DictateResult, WarningCode};
use murmur_core::live::{LiveEvent, LiveOptions, PcmFormat};
use murmur_core::{CancelToken, Engine, Error};
use murmur_tests::{check_edits, dictation_engine, fixture, fixture_dictate_options, fixture_pcm};

fn engine(dir: &Path) -> Engine {
    dictation_engine(dir)
}

fn dictate_options() -> DictateOptions {
    fixture_dictate_options()
}

fn options() -> LiveOptions {
    LiveOptions {
        dictate: dictate_options(),
        ..LiveOptions::default()
    }
}

fn pcm_of(relative: &str) -> Vec<f32> {
    fixture_pcm(relative)
}

const JFK: &str = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

/// An event and how much audio had been pushed when it came (s).
type Log = Arc<Mutex<Vec<(f64, LiveEvent)>>>;

/// What a session reported and returned.
struct Run {
    events: Vec<(f64, LiveEvent)>,
    result: DictateResult,
}

impl Run {
    fn confirmed(&self) -> String {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                LiveEvent::Confirmed { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Seconds of audio each confirmed word was behind the audio pushed when it came.
    fn lags(&self) -> Vec<f64> {
        self.events
            .iter()
            .filter_map(|(pushed, e)| match e {
                LiveEvent::Confirmed { end, .. } => Some(pushed - end),
                _ => None,
            })
            .collect()
    }
}

/// How fast a test feeds its audio.
#[derive(Clone, Copy)]
enum Pace {
    /// All of it, as fast as pushes go.
    Flood,
    /// A second of audio at a time, each once the one before is decoded: as fast as
    /// this machine decodes, so a slow or busy machine sees the same decodes as a fast
    /// one, just later.
    Lockstep,
}

/// Feed `samples` (interleaved, in `format`) to a live session in 100 ms chunks at
/// `pace`, then finish.
async fn stream_with(engine: &Engine, opts: &LiveOptions, samples: &[f32], pace: Pace) -> Run {
    let log: Log = Arc::default();
    let pushed = Arc::new(Mutex::new(0.0f64));
    let (l, p) = (log.clone(), pushed.clone());
    let session = engine
        .live(
            opts,
            move |e| l.lock().unwrap().push((*p.lock().unwrap(), e)),
            &CancelToken::new(),
        )
        .await
        .unwrap();
    let frame = opts.format.channels as usize;
    let chunk = opts.format.sample_rate as usize / 10 * frame;
    for (i, piece) in samples.chunks(chunk).enumerate() {
        session.push_f32(piece).unwrap();
        *pushed.lock().unwrap() = session.audio_secs();
        if matches!(pace, Pace::Lockstep) && i % 10 == 9 {
            let t = Instant::now();
            // The worker decodes once a step (1 s) more than it has decoded is there.
            while session.audio_secs() - session.decoded_secs() >= 1.0 {
                assert!(
                    t.elapsed() < Duration::from_secs(120),
                    "the decoder stalled"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    let result = session.finish().await.unwrap();
    let events = std::mem::take(&mut *log.lock().unwrap());
    Run { events, result }
}

/// Every invariant of a session's events: confirmed text adds up to the transcript (so
/// none was taken back, lost or doubled), partial text only ever follows it, the final
/// event is the result, and the clean text is an edit of the transcript.
fn check_run(run: &Run) {
    let r = &run.result;
    assert_eq!(
        run.confirmed().trim(),
        r.transcript,
        "confirmed ≠ transcript"
    );
    let Some((_, LiveEvent::Final { result })) = run.events.last() else {
        panic!("the last event is not the final one")
    };
    assert_eq!(result.text, r.text);
    // Partial text is what follows the confirmed text: no partial repeats the last
    // confirmed word as its first (the seam never doubles).
    let mut confirmed = String::new();
    for (_, e) in &run.events {
        match e {
            LiveEvent::Confirmed { text, .. } => confirmed.push_str(text),
            LiveEvent::Partial { text } if !text.is_empty() => {
                let (c, p) = (words(&confirmed), words(text));
                assert!(
                    c.last() != p.first(),
                    "partial {text:?} after {confirmed:?}"
                );
            }
            _ => {}
        }
    }
    // The clean text is an edit of the transcript (each piece's cleanup, or the piece
    // lightly cleaned where the guard refused it), and the edits undo to it.
    let (t, s) = (words(&r.text), words(&r.transcript));
    let new = t.iter().filter(|w| !s.contains(w)).count();
    assert!(
        new * 5 <= t.len().max(5),
        "{:?} vs {:?}",
        r.text,
        r.transcript
    );
    check_edits(r);
}

async fn batch(engine: &Engine, pcm: Vec<f32>, opts: &DictateOptions) -> DictateResult {
    engine
        .dictate(AudioInput::Pcm16k(pcm), opts, |_| {}, &CancelToken::new())
        .await
        .unwrap()
}

/// Word errors of `hyp` against `reference` (Levenshtein over normalized words).
fn word_errors(hyp: &str, reference: &str) -> usize {
    let (h, r) = (words(hyp), words(reference));
    let mut row: Vec<usize> = (0..=r.len()).collect();
    for (i, hw) in h.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, rw) in r.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(hw != rw)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[r.len()]
}

/// The LibriVox fixture's reference text of a clip.
fn librivox_reference(id: &str) -> String {
    let all = std::fs::read_to_string(fixture("audio/librivox/transcription")).unwrap();
    let line = all.lines().find(|l| l.contains(id)).unwrap();
    line.replace("<s>", "")
        .split("</s>")
        .next()
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jfk_in_100_ms_chunks_confirms_as_it_goes_and_ends_as_the_batch_does() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let pcm = pcm_of("audio/jfk.wav");
    let want = batch(&engine, pcm.clone(), &dictate_options()).await;
    let t = Instant::now();
    let run = stream_with(&engine, &options(), &pcm, Pace::Lockstep).await;
    eprintln!("streamed in {:?}", t.elapsed());
    for (at, e) in &run.events {
        eprintln!("{at:6.2} {e:?}");
    }
    check_run(&run);
    let r = &run.result;
    assert_eq!(
        words(&r.transcript),
        words(&want.transcript),
        "{}",
        r.transcript
    );
    // Words were confirmed while the audio came, not only at the end.
    let lags = run.lags();
    eprintln!(
        "lags {lags:?}, finish {:.2} s vs dictate {:.2} s",
        r.timings.finish_secs, want.timings.finish_secs
    );
    assert!(
        run.events
            .iter()
            .any(|(at, e)| matches!(e, LiveEvent::Confirmed { .. }) && *at < 10.0),
        "nothing confirmed before the end"
    );
}

/// A dictation with a pause, as a microphone gives it (48 kHz stereo, 16-bit): JFK,
/// three seconds of silence, then five LibriVox sentences read on (25 s). The pause ends
/// the first utterance, which is cleaned up while the second is spoken; the long second
/// one is decoded in windows restarted after its confirmed sentences; no word is lost
/// or doubled, and the words are the batch transcript's (or no further from what was
/// read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_ends_an_utterance_cleaned_up_while_the_next_is_spoken() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let ids = ["0870", "0880", "0890", "0920", "0930"];
    let mut reading = Vec::new();
    let mut reference = String::new();
    for id in ids {
        let name = format!("sense_and_sensibility_01_austen_64kb-{id}");
        reading.extend(pcm_of(&format!("audio/librivox/{name}.wav")));
        reading.extend(std::iter::repeat_n(0.0f32, 4_800));
        reference.push_str(&librivox_reference(&name));
        reference.push(' ');
    }
    let jfk = pcm_of("audio/jfk.wav");
    let mut pcm = jfk.clone();
    pcm.extend(std::iter::repeat_n(0.0f32, 3 * 16_000));
    let pause_end = pcm.len() as f64 / 16_000.0;
    pcm.extend_from_slice(&reading);
    let reference = format!("{JFK} {reference}");

    let no_cleanup = DictateOptions {
        refine: None,
        ..dictate_options()
    };
    let batch_text = format!(
        "{} {}",
        batch(&engine, jfk, &no_cleanup).await.transcript,
        batch(&engine, reading, &no_cleanup).await.transcript
    );

    // 48 kHz stereo 16-bit, the right channel a quieter copy.
    let up = murmur_core::audio::resample(None, &pcm, 16_000, 48_000).unwrap();
    let stereo: Vec<f32> = up
        .iter()
        .flat_map(|&x| {
            let q = |v: f32| (v * 32767.0).round() / 32767.0;
            [q(x), q(x * 0.5)]
        })
        .collect();
    let opts = LiveOptions {
        format: PcmFormat {
            sample_rate: 48_000,
            channels: 2,
        },
        ..options()
    };
    let run = stream_with(&engine, &opts, &stereo, Pace::Lockstep).await;
    for (at, e) in &run.events {
        if !matches!(e, LiveEvent::Final { .. }) {
            eprintln!("{at:6.2} {e:?}");
        }
    }
    check_run(&run);
    let r = &run.result;
    let (live_errors, batch_errors) = (
        word_errors(&r.transcript, &reference),
        word_errors(&batch_text, &reference),
    );
    eprintln!(
        "live: {}\nbatch: {batch_text}\nerrors {live_errors} vs {batch_errors}",
        r.transcript
    );
    assert!(
        words(&r.transcript) == words(&batch_text) || live_errors <= batch_errors,
        "live {:?} ({live_errors} errors) vs batch {batch_text:?} ({batch_errors})",
        r.transcript
    );
    // The first utterance was cleaned up before the audio ended.
    let first_refined = run
        .events
        .iter()
        .find_map(|(at, e)| matches!(e, LiveEvent::Refined { .. }).then_some(*at))
        .expect("a cleanup");
    assert!(
        first_refined < r.audio_secs - 1.0,
        "first cleanup at {first_refined:.1} s of {:.1}",
        r.audio_secs
    );
    // The pause was not decoded: no segment lies in it.
    assert!(
        r.speech_secs < r.audio_secs - 2.0,
        "{} of {}",
        r.speech_secs,
        r.audio_secs
    );
    for s in &r.segments {
        assert!(
            s.end as f64 <= 11.5 || s.start as f64 >= pause_end - 0.5,
            "{s:?} lies in the pause"
        );
    }
    eprintln!(
        "finish → final {:.2} s; lags {:?}",
        r.timings.finish_secs,
        run.lags()
    );
}

/// Silence and noise: nothing is decoded, no text, and the text model is never loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_and_noise_give_no_text() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let mut pcm = vec![0.0f32; 3 * 16_000];
    let mut x = 12345u32;
    pcm.extend((0..3 * 16_000).map(|_| {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        ((x >> 16) as f32 / 32768.0 - 1.0) * 0.01
    }));
    let run = stream_with(&engine, &options(), &pcm, Pace::Flood).await;
    let r = &run.result;
    assert_eq!((r.text.as_str(), r.transcript.as_str()), ("", ""));
    assert!(r.warnings.iter().any(|w| w.code == WarningCode::NoSpeech));
    assert!(r.text_model.is_none());
    assert!(
        !run.events
            .iter()
            .any(|(_, e)| matches!(e, LiveEvent::Confirmed { .. } | LiveEvent::Refined { .. }))
    );
    assert_eq!(engine.status().loaded, None);
}

/// A cancel stops the session: pushes and `finish` are refused as cancelled, and no
/// event comes after it; dropping a session does the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_drop_stop_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let pcm = pcm_of("audio/jfk.wav");
    for drop_it in [false, true] {
        let count = Arc::new(Mutex::new(0usize));
        let c = count.clone();
        let session = engine
            .live(
                &options(),
                move |_| *c.lock().unwrap() += 1,
                &CancelToken::new(),
            )
            .await
            .unwrap();
        for piece in pcm[..5 * 16_000].chunks(1_600) {
            session.push_f32(piece).unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Let a decode start.
        tokio::time::sleep(Duration::from_millis(300)).await;
        if drop_it {
            drop(session);
        } else {
            session.cancel();
            assert!(matches!(
                session.push_f32(&pcm[..1_600]),
                Err(Error::Cancelled)
            ));
            assert!(matches!(session.finish().await, Err(Error::Cancelled)));
        }
        // A decode in flight stops at its next step; nothing is reported after it.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let seen = *count.lock().unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(*count.lock().unwrap(), seen, "events after the stop");
    }
    // The engine is free for the next call at once.
    let t = Instant::now();
    let r = batch(
        &engine,
        pcm,
        &DictateOptions {
            refine: None,
            ..dictate_options()
        },
    )
    .await;
    assert!(r.transcript.contains("ask not what your country"));
    eprintln!("next dictation in {:?}", t.elapsed());
}

/// Bad options and missing models are refused when the session starts; audio past the
/// machine's limit is refused with the audio before it kept; a finished session takes no
/// more audio and cannot finish twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_starts_the_length_limit_and_a_finished_session() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let never = CancelToken::new();
    for (format, field) in [((0, 1), "format"), ((16_000, 0), "format")] {
        let opts = LiveOptions {
            format: PcmFormat {
                sample_rate: format.0,
                channels: format.1,
            },
            ..options()
        };
        let e = engine.live(&opts, |_| {}, &never).await.err().unwrap();
        assert!(
            matches!(&e, Error::InvalidArgument { name, .. } if name == field),
            "{e:?}"
        );
    }
    let opts = LiveOptions {
        dictate: DictateOptions {
            speech_model: Some("whisper-tiny".into()),
            ..dictate_options()
        },
        ..options()
    };
    let e = engine.live(&opts, |_| {}, &never).await.err().unwrap();
    assert!(matches!(e, Error::NotDownloaded { .. }), "{e:?}");

    // 8 GB: six minutes. Silence up to the limit is taken (and never decoded), the
    // next second is refused, and the session still finishes with what it had.
    let limit = engine.limits().max_recording_secs as usize;
    let session = engine.live(&options(), |_| {}, &never).await.unwrap();
    let minute = vec![0.0f32; 60 * 16_000];
    for _ in 0..limit / 60 {
        session.push_f32(&minute).unwrap();
    }
    let e = session.push_f32(&minute[..16_000]).unwrap_err();
    assert!(
        matches!(e, Error::AudioTooLong { limit_secs, .. } if limit_secs as usize == limit),
        "{e:?}"
    );
    assert!(session.push_f32(&minute[..16]).is_err());
    let r = session.finish().await.unwrap();
    assert_eq!(r.audio_secs, limit as f64);
    assert!(r.text.is_empty());
    let again = session.finish().await.unwrap_err();
    assert!(
        matches!(&again, Error::InvalidArgument { name, .. } if name == "session"),
        "{again:?}"
    );
    assert!(matches!(
        session.push_f32(&minute[..16]),
        Err(Error::InvalidArgument { .. })
    ));

    // One buffer longer than the limit (48 kHz stereo, 7 minutes): converted only up to
    // the limit, which is kept; the push is refused.
    let opts = LiveOptions {
        format: PcmFormat {
            sample_rate: 48_000,
            channels: 2,
        },
        ..options()
    };
    let session = engine.live(&opts, |_| {}, &never).await.unwrap();
    let huge = vec![0i16; 7 * 60 * 48_000 * 2];
    let e = session.push_i16(&huge).unwrap_err();
    assert!(
        matches!(e, Error::AudioTooLong { seconds: 420, limit_secs } if limit_secs as usize == limit),
        "{e:?}"
    );
    let r = session.finish().await.unwrap();
    assert_eq!(r.audio_secs, limit as f64);
}
