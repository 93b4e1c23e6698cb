//! Dictation in one call on real models and speech: Whisper base (CTranslate2 fixture)
//! and the real SmolLM2-135M GGUF, through `Engine::dictate` — clean text and its edits,
//! no text on silence or noise, every word kept across long pauses, dictated questions
//! and commands kept as the speaker's words, the memory tier's length limit enforced
//! before any work.

use std::path::Path;
use std::sync::{Arc, Mutex};

use murmur_core::audio::AudioInput;
use murmur_core::dictate::guard::light_cleanup;
use murmur_core::dictate::normalized_words as words;
use murmur_core::dictate::{DictateEvent, DictateOptions, DictateResult, WarningCode};
use murmur_core::{CancelToken, Engine, Error};
use murmur_tests::{check_edits, dictation_engine, fixture, fixture_dictate_options, fixture_pcm};

const JFK: &str = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

fn engine(dir: &Path) -> Engine {
    dictation_engine(dir)
}

fn options() -> DictateOptions {
    fixture_dictate_options()
}

fn pcm_of(relative: &str) -> Vec<f32> {
    fixture_pcm(relative)
}

async fn dictate(engine: &Engine, audio: AudioInput, opts: &DictateOptions) -> DictateResult {
    engine
        .dictate(audio, opts, |_| {}, &CancelToken::new())
        .await
        .unwrap()
}

/// The text a dictation ends with is the model's cleanup when the guard took it, else the
/// transcript lightly cleaned; either way the speaker's words.
fn check_cleanup(r: &DictateResult) {
    let rejected = r.warnings.iter().any(|w| {
        matches!(
            w.code,
            WarningCode::CleanupRejected | WarningCode::CleanupTruncated
        )
    });
    if rejected {
        assert_eq!(r.text, light_cleanup(&r.transcript, &r.language));
    }
    let (t, s) = (words(&r.text), words(&r.transcript));
    let new = t.iter().filter(|w| !s.contains(w)).count();
    assert!(
        new * 5 <= t.len().max(5),
        "{:?} is not an edit of {:?}",
        r.text,
        r.transcript
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jfk_to_clean_text_with_edits_timings_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let r = engine
        .dictate(
            AudioInput::Path(fixture("audio/jfk.wav")),
            &options(),
            move |e| {
                sink.lock().unwrap().push(match e {
                    DictateEvent::Stage(s) => format!("{s:?}"),
                    DictateEvent::Duration(_) => "duration".into(),
                    DictateEvent::Segment(_) => "segment".into(),
                    DictateEvent::RefineText(_) => "text".into(),
                })
            },
            &CancelToken::new(),
        )
        .await
        .unwrap();
    // Whisper's punctuation may differ with the pauses shortened; the words may not.
    assert_eq!(words(&r.transcript), words(JFK), "{}", r.transcript);
    assert_eq!(r.language, "en");
    assert!(!r.text.is_empty());
    check_cleanup(&r);
    check_edits(&r);
    assert!((r.audio_secs - 11.0).abs() < 0.1, "{}", r.audio_secs);
    assert!(
        r.speech_secs <= r.audio_secs && r.speech_secs > 8.0,
        "{}",
        r.speech_secs
    );
    let t = r.timings;
    for (name, secs) in [
        ("decode", t.decode_audio_secs),
        ("vad", t.vad_secs),
        ("transcribe", t.transcribe_secs),
        ("refine", t.refine_secs),
    ] {
        assert!(secs > 0.0, "{name} took no time");
    }
    assert!(t.total_secs >= t.decode_audio_secs + t.vad_secs + t.transcribe_secs + t.refine_secs);
    assert!(r.segments.iter().all(|s| s.start >= 0.0 && s.end <= 11.1));
    assert!(r.text_model.as_deref().is_some_and(|m| !m.is_empty()));
    let stats = r.refine_stats.as_ref().unwrap();
    assert!(stats.generated_tokens > 0);
    let events = events.lock().unwrap().clone();
    let stages: Vec<&str> = events
        .iter()
        .filter(|e| !matches!(e.as_str(), "segment" | "text" | "duration"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        stages,
        [
            "DecodingAudio",
            "DetectingSpeech",
            "Transcribing",
            "Refining"
        ]
    );
    assert!(events.iter().any(|e| e == "segment") && events.iter().any(|e| e == "duration"));

    // Without the cleanup, the text is the transcript.
    let plain = dictate(
        &engine,
        AudioInput::Path(fixture("audio/jfk.wav")),
        &DictateOptions {
            refine: None,
            ..options()
        },
    )
    .await;
    assert_eq!(
        (plain.text.as_str(), plain.edits.len()),
        (r.transcript.as_str(), 0)
    );
    assert_eq!((plain.text_model, plain.timings.refine_secs), (None, 0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_and_noise_give_no_text_and_load_no_text_model() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    // Seeded white noise at about -30 dBFS (xorshift, uniform in ±0.055).
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<f32> = (0..160_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.11
        })
        .collect();
    for (name, audio) in [
        ("10 s of silence", AudioInput::Pcm16k(vec![0.0; 160_000])),
        ("10 s of white noise", AudioInput::Pcm16k(noise)),
        (
            "alsa's Noise.wav",
            AudioInput::Path(fixture("audio/alsa/Noise.wav")),
        ),
    ] {
        let r = dictate(&engine, audio, &options()).await;
        assert_eq!(r.text, "", "{name}: {:?}", r.transcript);
        assert_eq!(r.transcript, "", "{name}");
        assert_eq!(
            r.warnings.iter().map(|w| w.code).collect::<Vec<_>>(),
            [WarningCode::NoSpeech],
            "{name}"
        );
        assert!(r.edits.is_empty() && r.segments.is_empty() && r.text_model.is_none());
        assert_eq!(r.speech_secs, 0.0);
    }
    // Nothing was worth loading a model for.
    let status = engine.status();
    assert_eq!((status.loaded, status.loaded_audio), (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_pauses_are_skipped_and_every_word_kept() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let clips = [
        "audio/jfk.wav",
        "audio/librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
        "audio/librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
    ];
    let no_refine = DictateOptions {
        refine: None,
        vad: None,
        ..options()
    };
    let mut joined = Vec::new();
    let mut alone = Vec::new();
    let mut spans = Vec::new();
    for (i, clip) in clips.iter().enumerate() {
        if i > 0 {
            joined.extend(std::iter::repeat_n(0.0f32, 5 * 16_000));
        }
        let pcm = pcm_of(clip);
        let start = joined.len() as f32 / 16_000.0;
        spans.push((start, start + pcm.len() as f32 / 16_000.0));
        joined.extend_from_slice(&pcm);
        alone.extend(words(
            &dictate(&engine, AudioInput::Pcm16k(pcm), &no_refine)
                .await
                .text,
        ));
    }
    let audio_secs = joined.len() as f64 / 16_000.0;
    let r = dictate(
        &engine,
        AudioInput::Pcm16k(joined),
        &DictateOptions {
            refine: None,
            ..options()
        },
    )
    .await;
    assert_eq!(words(&r.transcript), alone, "{}", r.transcript);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // The 10 s of pauses were not transcribed, and the segments are timed in the original.
    assert!(
        r.speech_secs < audio_secs - 8.0,
        "{} of {audio_secs}",
        r.speech_secs
    );
    let last = r.segments.last().unwrap();
    assert!(last.end as f64 <= audio_secs + 0.1 && last.end as f64 > audio_secs - 2.0);
    // No segment lies in a pause.
    for s in &r.segments {
        assert!(
            spans.iter().any(|&(a, b)| s.end > a && s.start < b),
            "{s:?} vs {spans:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dictated_questions_and_commands_stay_the_speakers_words() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    for (clip, foreign) in [
        ("question", ["paris", "capital of france is"]),
        ("command", ["ocean", "waves"]),
    ] {
        let audio = AudioInput::Path(fixture(&format!("dictations/{clip}.wav")));
        let r = dictate(&engine, audio, &options()).await;
        let spoken = std::fs::read_to_string(fixture(&format!("dictations/{clip}.txt"))).unwrap();
        // Whisper heard (nearly) what was said…
        let heard = words(&r.transcript);
        let said = words(&spoken);
        let common = heard.iter().filter(|w| said.contains(w)).count();
        assert!(
            common * 10 >= said.len() * 7,
            "{:?} for {spoken:?}",
            r.transcript
        );
        // …and the text is that, cleaned: no answer, no poem.
        check_cleanup(&r);
        check_edits(&r);
        let text = r.text.to_lowercase();
        for f in foreign {
            assert!(!text.contains(f), "{clip}: {:?} ({:?})", r.text, r.warnings);
        }
        assert!(text.starts_with(&heard[0]), "{clip}: {:?}", r.text);
    }
}

/// The user's vocabulary in one call: a LibriVox clip cut just before "Dashwood"
/// (tests/vocab.rs found the cut) is heard as "dash would" without the word, and spelled
/// right with it in the vocabulary; a replacement then writes a spoken form its way, in
/// the transcript and in the clean text, and the edits show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_vocabulary_spells_their_words() {
    use murmur_core::vocab::{Entry, Replacement};
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let pcm = pcm_of("audio/librivox/sense_and_sensibility_01_austen_64kb-0870.wav");
    let cut = AudioInput::Pcm16k(pcm[14_560..].to_vec());
    let opts = DictateOptions {
        refine: None,
        ..options()
    };
    let without = dictate(&engine, cut.clone(), &opts).await;
    assert!(without.text.contains("dash would"), "{}", without.text);
    engine
        .add_vocabulary(Entry::Term("Dashwood".into()))
        .unwrap();
    let with = dictate(&engine, cut.clone(), &opts).await;
    assert!(with.transcript.contains("Dashwood"), "{}", with.transcript);
    // Off for one call, the vocabulary is not used.
    let off = dictate(
        &engine,
        cut.clone(),
        &DictateOptions {
            vocabulary: false,
            ..opts.clone()
        },
    )
    .await;
    assert_eq!(off.transcript, without.transcript);

    // A replacement: "prudently" as the user writes it, in the text (with cleanup: the
    // guard compares against the replaced transcript).
    engine
        .add_vocabulary(Entry::Replacement(Replacement {
            spoken: "prudently".into(),
            written: "PRUDENTLY".into(),
        }))
        .unwrap();
    let r = dictate(&engine, cut, &options()).await;
    assert!(r.transcript.contains("prudently"), "{}", r.transcript);
    assert!(
        r.text.contains("PRUDENTLY"),
        "{} ({:?})",
        r.text,
        r.warnings
    );
    assert!(
        r.edits
            .iter()
            .any(|e| e.before.contains("prudently") && e.after.contains("PRUDENTLY")),
        "{:?}",
        r.edits
    );
    check_edits(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_past_the_memory_tiers_limit_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let limits = engine.limits();
    assert_eq!(
        (limits.max_recording_secs, limits.max_refine_tokens),
        (360, 1536)
    );
    let too_long = (limits.max_recording_secs as usize + 2) * 16_000;
    // PCM: its length is known.
    let err = engine
        .dictate(
            AudioInput::PcmS16 {
                samples: vec![0; too_long],
                sample_rate: 16_000,
                channels: 1,
            },
            &options(),
            |_| {},
            &CancelToken::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AudioTooLong { limit_secs: 360, seconds } if seconds >= 362),
        "{err:?}"
    );
    // A WAV whose header says 400 s but which holds one: refused on the header's word.
    let mut wav = wav_header(400 * 16_000 * 2);
    wav.extend(std::iter::repeat_n(0u8, 16_000 * 2));
    let err = engine
        .dictate(
            AudioInput::Encoded(wav),
            &options(),
            |_| {},
            &CancelToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AudioTooLong { .. }), "{err:?}");
    // Bad options and a cancelled call fail first too; nothing was loaded for any of it.
    let bad = DictateOptions {
        app_name: Some("x".repeat(1000)),
        ..options()
    };
    let err = engine
        .dictate(
            AudioInput::Pcm16k(vec![0.0; 16_000]),
            &bad,
            |_| {},
            &CancelToken::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument { ref name, .. } if name == "app_name"),
        "{err:?}"
    );
    let cancel = CancelToken::new();
    cancel.cancel();
    let err = engine
        .dictate(
            AudioInput::Path(fixture("audio/jfk.wav")),
            &options(),
            |_| {},
            &cancel,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    let status = engine.status();
    assert_eq!((status.loaded, status.loaded_audio), (None, None));
}

/// A 16 kHz mono s16 WAV header declaring `data_bytes` of samples.
fn wav_header(data_bytes: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(44);
    h.extend(b"RIFF");
    h.extend((36 + data_bytes).to_le_bytes());
    h.extend(b"WAVEfmt ");
    h.extend(16u32.to_le_bytes());
    h.extend(1u16.to_le_bytes());
    h.extend(1u16.to_le_bytes());
    h.extend(16_000u32.to_le_bytes());
    h.extend(32_000u32.to_le_bytes());
    h.extend(2u16.to_le_bytes());
    h.extend(16u16.to_le_bytes());
    h.extend(b"data");
    h.extend(data_bytes.to_le_bytes());
    h
}
