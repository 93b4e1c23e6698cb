//! Whisper base (the real CTranslate2 fixture) on real speech.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use murmur_core::CancelToken;
use murmur_core::audio::AudioInput;
use murmur_core::transcribe::{TranscribeOptions, Transcript, transcribe};
use murmur_core::whisper::WhisperModel;
use murmur_tests::fixture;

const JFK: &str =
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

/// One model for the whole binary: loading costs a second and 145 MB.
fn model() -> MutexGuard<'static, WhisperModel> {
    static MODEL: OnceLock<Mutex<WhisperModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let t = Instant::now();
            let m = WhisperModel::load(&fixture("whisper-base-ct2")).expect("load whisper base");
            eprintln!("loaded whisper base in {:.2?}", t.elapsed());
            Mutex::new(m)
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn run(m: &WhisperModel, audio: AudioInput, opts: &TranscribeOptions) -> Transcript {
    let t = Instant::now();
    let out = transcribe(m, &audio, opts, &CancelToken::new(), &mut |_| {}).expect("transcribe");
    eprintln!("transcribed in {:.2?}: {:?}", t.elapsed(), out.text);
    out
}

fn jfk() -> PathBuf {
    fixture("audio/jfk.wav")
}

#[test]
fn jfk_exact_text() {
    let m = model();
    let t = run(&m, AudioInput::Path(jfk()), &TranscribeOptions::default());
    assert_eq!(t.text.trim(), JFK);
    assert_eq!(t.language, "en");
}

#[test]
fn zz_profile() {
    use murmur_core::mlx::transforms::eval;
    let m = model();
    let samples = murmur_core::audio::load_16k_mono(&AudioInput::Path(jfk())).unwrap();
    let t = Instant::now();
    let mel = m.log_mel(&samples, 480000).unwrap();
    eval([&mel]).unwrap();
    eprintln!("mel {:?} {:.2?}", mel.shape(), t.elapsed());
    let w = murmur_core::whisper::mel::window(&mel, 0, 1100).unwrap().expand_dims(0).unwrap();
    for _ in 0..2 {
        let t = Instant::now();
        let f = m.encode(&w).unwrap();
        eval([&f]).unwrap();
        eprintln!("encode {:?} {:.2?}", f.shape(), t.elapsed());
    }
    let f = m.encode(&w).unwrap();
    let dec = &m.model().decoder;
    let t = Instant::now();
    let mut cache = dec.new_cache(&f).unwrap();
    eval(cache.state()).unwrap();
    eprintln!("cross kv {:.2?}", t.elapsed());
    let ids = murmur_core::mlx::Array::from_slice(&[50258i32, 50259, 50359], &[1, 3]);
    let t = Instant::now();
    let (l, _) = dec.forward(&ids, &mut cache, false).unwrap();
    eval([&l]).unwrap();
    eprintln!("prefill {:.2?}", t.elapsed());
    for _ in 0..5 {
        let t = Instant::now();
        let ids = murmur_core::mlx::Array::from_slice(&[440i32], &[1, 1]);
        let (l, _) = dec.forward(&ids, &mut cache, false).unwrap();
        eval([&l]).unwrap();
        eprintln!("step {:.2?}", t.elapsed());
    }
}
