//! The voice-activity detector (Silero VAD, embedded) on real audio: the embedded
//! weights are the wheel's, probabilities equal the reference's (goldens from
//! scripts/goldens/silero_vad.py), regions follow the reference's policy, silence and
//! noise hold no speech, speech with long pauses gives one region per utterance,
//! compaction maps times back, and hostile input neither panics nor yields NaN.
//! No Whisper model: fast.

use std::time::Instant;

use murmur_core::audio::{AudioInput, decode_file, load_16k_mono};
use murmur_core::vad::{
    CHUNK_SAMPLES, DEFAULT_GAP, SpeechRegion, Vad, VadOptions, compact, speech_regions,
};
use murmur_core::{CancelToken, Error};
use murmur_tests::{fixture, golden_json, json_floats};
use sha2::{Digest, Sha256};

const GOLDENS: [&str; 4] = ["jfk", "librivox_0870", "noise", "pauses"];
/// Probabilities must match the reference within this: float32 MLX and BLAS against a
/// float64 reference differ by under 1e-6 here (the goldens are rounded to 6 decimals);
/// the margin is for other BLAS builds and the GPU backends.
const TOLERANCE: f32 = 1e-4;
const RATE: usize = 16_000;

fn vad() -> &'static Vad {
    Vad::shared().expect("the embedded weights load")
}

fn none() -> CancelToken {
    CancelToken::new()
}

fn wav(relative: &str) -> Vec<f32> {
    load_16k_mono(&AudioInput::Path(fixture(relative))).expect("decode")
}

fn librivox(n: u32) -> Vec<f32> {
    wav(&format!(
        "audio/librivox/sense_and_sensibility_01_austen_64kb-0{n}.wav"
    ))
}

/// The golden's input, built as scripts/goldens/silero_vad.py builds it.
fn golden_input(name: &str) -> Vec<f32> {
    match name {
        "jfk" => wav("audio/jfk.wav"),
        "librivox_0870" => librivox(870),
        // 48 kHz mono, decimated by 3 as the reference's own helpers do.
        "noise" => {
            let d = decode_file(&fixture("audio/alsa/Noise.wav")).unwrap();
            assert_eq!((d.sample_rate, d.channels), (48_000, 1));
            d.samples.iter().step_by(3).copied().collect()
        }
        "pauses" => pauses().0,
        _ => unreachable!(),
    }
}

/// jfk, 5 s of zeros, LibriVox 0870, 5 s of zeros, LibriVox 0890; and where each clip
/// lies in it.
fn pauses() -> (Vec<f32>, Vec<(usize, usize)>) {
    let mut pcm = Vec::new();
    let mut clips = Vec::new();
    for (i, clip) in [wav("audio/jfk.wav"), librivox(870), librivox(890)]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            pcm.resize(pcm.len() + 5 * RATE, 0.0);
        }
        clips.push((pcm.len(), pcm.len() + clip.len()));
        pcm.extend(clip);
    }
    (pcm, clips)
}

/// Regions as `[[start, end], …]` JSON.
fn json_regions(v: &serde_json::Value) -> Vec<SpeechRegion> {
    v.as_array()
        .expect("a list of regions")
        .iter()
        .map(|r| SpeechRegion {
            start: r[0].as_u64().unwrap() as usize,
            end: r[1].as_u64().unwrap() as usize,
        })
        .collect()
}

/// The reference's option names → ours.
fn options(v: &serde_json::Value) -> VadOptions {
    let mut o = VadOptions::silero();
    let ms = |key: &str| v.get(key).map(|x| x.as_u64().unwrap() as u32);
    if let Some(x) = ms("min_silence_duration_ms") {
        o.min_silence_ms = x;
    }
    if let Some(x) = ms("speech_pad_ms") {
        o.speech_pad_ms = x;
    }
    if let Some(x) = ms("min_speech_duration_ms") {
        o.min_speech_ms = x;
    }
    o
}

/// Options for dictation: pauses to think stay inside the speech.
fn dictation() -> VadOptions {
    VadOptions {
        min_silence_ms: 2000,
        speech_pad_ms: 200,
        ..VadOptions::silero()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn embedded_weights_are_the_wheels() {
    let wheel = std::fs::read(fixture("silero-vad/silero_vad_16k.safetensors")).unwrap();
    let embedded = Vad::embedded_weights();
    assert_eq!(embedded.len(), 1_239_748);
    assert!(
        embedded == wheel.as_slice(),
        "core/assets differs from the wheel's file"
    );
    let sha = sha256_hex(embedded);
    for name in GOLDENS {
        let g = golden_json(&format!("vad/{name}.json"));
        assert_eq!(
            g["weights_sha256"],
            sha.as_str(),
            "{name} was made with other weights"
        );
    }
}

#[test]
fn probabilities_match_the_reference() {
    for name in GOLDENS {
        let g = golden_json(&format!("vad/{name}.json"));
        let pcm = golden_input(name);
        assert_eq!(pcm.len() as u64, g["samples"].as_u64().unwrap(), "{name}");
        let want = json_floats(&g["probabilities"]);
        let got = vad().probabilities(&pcm, &none()).unwrap();
        assert_eq!(got.len(), pcm.len().div_ceil(CHUNK_SAMPLES), "{name}");
        assert_eq!(got.len(), want.len(), "{name}");
        let (worst, at) = got
            .iter()
            .zip(&want)
            .enumerate()
            .map(|(i, (a, b))| ((a - b).abs(), i))
            .fold((0f32, 0), |m, x| if x.0 > m.0 { x } else { m });
        eprintln!(
            "{name}: {} chunks, max |diff| {worst:.2e} at chunk {at}",
            got.len()
        );
        assert!(worst <= TOLERANCE, "{name}: chunk {at} differs by {worst}");
    }
}

#[test]
fn regions_follow_the_reference_policy() {
    for name in GOLDENS {
        let g = golden_json(&format!("vad/{name}.json"));
        let probs = json_floats(&g["probabilities"]);
        let samples = g["samples"].as_u64().unwrap() as usize;
        let pcm = golden_input(name);
        let computed = vad().probabilities(&pcm, &none()).unwrap();
        for case in g["timestamps"].as_array().unwrap() {
            let opts = options(&case["options"]);
            let want = json_regions(&case["regions"]);
            // The policy alone, on the reference's probabilities: exactly the same.
            assert_eq!(
                speech_regions(&probs, samples, &opts).unwrap(),
                want,
                "{name} {opts:?}"
            );
            // And end to end on Murmur's own probabilities.
            assert_eq!(
                speech_regions(&computed, samples, &opts).unwrap(),
                want,
                "{name} {opts:?} (computed)"
            );
        }
    }
}

#[test]
fn digital_silence_has_no_speech() {
    let pcm = vec![0f32; 10 * RATE];
    let probs = vad().probabilities(&pcm, &none()).unwrap();
    assert!(probs.iter().all(|&p| p < 0.1), "{probs:?}");
    for opts in [VadOptions::silero(), dictation()] {
        assert!(vad().speech(&pcm, &opts, &none()).unwrap().is_empty());
    }
}

/// Seeded white noise, uniform in ±`peak`.
fn white_noise(n: usize, peak: f32, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * peak
        })
        .collect()
}

#[test]
fn noise_has_no_speech() {
    // Room noise to a loud fan: -50, -40 and -30 dBFS RMS (uniform noise: RMS = peak/√3).
    for (db, seed) in [(-50.0f32, 1), (-40.0, 2), (-30.0, 3)] {
        let peak = 10f32.powf(db / 20.0) * 3f32.sqrt();
        let pcm = white_noise(10 * RATE, peak, seed);
        for opts in [VadOptions::silero(), dictation()] {
            let r = vad().speech(&pcm, &opts, &none()).unwrap();
            assert!(r.is_empty(), "{db} dBFS white noise: {r:?}");
        }
    }
    // The ALSA test noise, resampled properly this time.
    let pcm = wav("audio/alsa/Noise.wav");
    assert!(pcm.len() > RATE);
    for opts in [VadOptions::silero(), dictation()] {
        let r = vad().speech(&pcm, &opts, &none()).unwrap();
        assert!(r.is_empty(), "Noise.wav: {r:?}");
    }
}

#[test]
fn speech_with_long_pauses_gives_one_region_per_clip() {
    let (pcm, clips) = pauses();
    let opts = dictation();
    let regions = vad().speech(&pcm, &opts, &none()).unwrap();
    eprintln!("clips {clips:?}\nregions {regions:?}");
    assert_eq!(regions.len(), clips.len(), "{regions:?}");
    let pad = opts.speech_pad_ms as usize * 16;
    for (r, &(start, end)) in regions.iter().zip(&clips) {
        // Within its clip (plus the padding), and covering the clip's own speech.
        assert!(
            r.start + pad >= start && r.end <= end + pad,
            "{r:?} vs {start}..{end}"
        );
        assert!(
            r.len() as f64 > 0.8 * (end - start) as f64,
            "{r:?} vs {start}..{end}"
        );
    }
    // The clips alone give the same speech, shifted.
    for &(start, end) in &clips {
        let alone = vad().speech(&pcm[start..end], &opts, &none()).unwrap();
        assert_eq!(alone.len(), 1);
        let r = regions
            .iter()
            .find(|r| r.start < end && r.end > start)
            .unwrap();
        assert!(r.start <= start + alone[0].start + 512, "{r:?} {alone:?}");
        assert!(
            r.end + 512 >= (start + alone[0].end).min(end),
            "{r:?} {alone:?}"
        );
    }
    // Default options split at short pauses, but never find speech in the long ones.
    let fine = vad().speech(&pcm, &VadOptions::silero(), &none()).unwrap();
    assert!(fine.len() >= clips.len());
    for w in clips.windows(2) {
        let (quiet_from, quiet_to) = (w[0].1 + 480, w[1].0 - 480);
        assert!(
            fine.iter()
                .all(|r| r.end <= quiet_from || r.start >= quiet_to),
            "speech found in the pause {quiet_from}..{quiet_to}: {fine:?}"
        );
    }
}

#[test]
fn compacted_speech_is_shorter_and_maps_back() {
    let (pcm, _) = pauses();
    let regions = vad().speech(&pcm, &dictation(), &none()).unwrap();
    let c = compact(&pcm, &regions, DEFAULT_GAP);
    eprintln!(
        "{:.2} s compacted to {:.2} s",
        pcm.len() as f64 / RATE as f64,
        c.pcm.len() as f64 / RATE as f64
    );
    // Two 5 s pauses become 0.3 s each, less what the padding keeps.
    assert!(c.pcm.len() + 9 * RATE < pcm.len());
    assert_eq!(c.map.compacted_len(), c.pcm.len());
    // Each region's start, found in the compacted audio, maps back to itself.
    for r in &regions {
        let span = c
            .map
            .spans()
            .iter()
            .find(|s| s.original <= r.start && r.start < s.original + s.len)
            .expect("every region is kept");
        let at = span.compacted + (r.start - span.original);
        assert_eq!(c.pcm[at], pcm[r.start]);
        let back = c.map.to_original(at as f64 / RATE as f64);
        assert!(
            (back - r.start_secs()).abs() < 1e-3,
            "{back} vs {}",
            r.start_secs()
        );
    }
    // Speech detected again in the compacted audio lands, mapped back, where it was
    // found in the original: within two chunks, as the chunk grid moves with the cuts.
    // (A minimum silence shorter than the 0.7 s that is left of each pause, so that
    // every utterance starts a region again.)
    let again_opts = VadOptions {
        min_silence_ms: 250,
        ..dictation()
    };
    let again = vad().speech(&c.pcm, &again_opts, &none()).unwrap();
    for r in &regions {
        let back = again
            .iter()
            .map(|a| c.map.to_original(a.start_secs()))
            .min_by(|a, b| {
                (a - r.start_secs())
                    .abs()
                    .total_cmp(&(b - r.start_secs()).abs())
            })
            .expect("speech is found again");
        eprintln!(
            "region at {:.3} s found again at {back:.3} s",
            r.start_secs()
        );
        assert!(
            (back - r.start_secs()).abs() <= 0.064,
            "{back} vs {}",
            r.start_secs()
        );
    }
}

#[test]
fn hostile_samples_neither_panic_nor_make_nan() {
    let opts = VadOptions::silero();
    assert!(vad().probabilities(&[], &none()).unwrap().is_empty());
    assert!(vad().speech(&[], &opts, &none()).unwrap().is_empty());
    let one = vad().probabilities(&[0.5], &none()).unwrap();
    assert_eq!(one.len(), 1);
    assert!(one[0].is_finite());
    assert!(vad().speech(&[0.5], &opts, &none()).unwrap().is_empty());

    // Speech with NaN, infinities and absurd values spattered over it.
    let mut pcm = wav("audio/jfk.wav");
    let clean = vad().speech(&pcm, &opts, &none()).unwrap();
    for (i, x) in pcm.iter_mut().enumerate().step_by(997) {
        *x = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -f32::MAX][i % 5];
    }
    let probs = vad().probabilities(&pcm, &none()).unwrap();
    assert!(probs.iter().all(|p| (0.0..=1.0).contains(p)), "{probs:?}");
    let regions = vad().speech(&pcm, &opts, &none()).unwrap();
    assert!(!regions.is_empty());
    assert!(regions.windows(2).all(|w| w[0].end <= w[1].start));
    assert!(
        regions
            .iter()
            .all(|r| r.start < r.end && r.end <= pcm.len())
    );
    assert!(!clean.is_empty());

    // Nothing but NaN is silence.
    let nan = vec![f32::NAN; 3 * RATE];
    let probs = vad().probabilities(&nan, &none()).unwrap();
    assert!(probs.iter().all(|p| p.is_finite()));
    assert!(vad().speech(&nan, &opts, &none()).unwrap().is_empty());
}

#[test]
fn invalid_options_and_cancellation_are_typed_errors() {
    let pcm = vec![0f32; RATE];
    let bad = VadOptions {
        threshold: 2.0,
        ..VadOptions::silero()
    };
    match vad().speech(&pcm, &bad, &none()) {
        Err(Error::InvalidArgument { name, .. }) => assert_eq!(name, "threshold"),
        other => panic!("{other:?}"),
    }
    let cancel = CancelToken::new();
    cancel.cancel();
    assert!(matches!(
        vad().probabilities(&pcm, &cancel),
        Err(Error::Cancelled)
    ));
    assert!(matches!(
        vad().speech(&pcm, &VadOptions::silero(), &cancel),
        Err(Error::Cancelled)
    ));
}

#[test]
fn damaged_weight_files_are_refused() {
    let good = Vad::embedded_weights();
    assert!(Vad::from_safetensors(good).is_ok());
    for bytes in [
        &good[..good.len() - 1],
        &good[..100],
        &good[..0],
        b"not a safetensors file at all".as_slice(),
    ] {
        match Vad::from_safetensors(bytes) {
            Err(Error::CorruptModel { .. }) => {}
            other => panic!("{} bytes: {other:?}", bytes.len()),
        }
    }
    // A header that promises more than the file holds.
    let mut lying = good.to_vec();
    lying[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(
        Vad::from_safetensors(&lying),
        Err(Error::CorruptModel { .. })
    ));
}

/// The speed figure for the module docs: `cargo test --release -p murmur-tests --test
/// vad -- --ignored --nocapture`.
#[test]
#[ignore]
fn speed_of_five_minutes() {
    let jfk = wav("audio/jfk.wav");
    let pcm: Vec<f32> = jfk.iter().cycle().take(300 * RATE).copied().collect();
    vad().probabilities(&pcm[..RATE], &none()).unwrap();
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let probs = vad().probabilities(&pcm, &none()).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(probs.len(), 9375);
    }
    eprintln!("probabilities of 300 s of audio: {best:.3} s (best of 3)");
}
