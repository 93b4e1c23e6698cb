//! Qwen2.5-Omni's thinker against mlx-lm-omni 0.1.3 (with the fixes listed in
//! scripts/goldens/omni.py) on the same random weights and the same real speech.
//!
//! tests/goldens/omni/{tiny,tiny-8bit}: a scaled-down Qwen2.5-Omni-3B (2 audio layers of
//! width 64, 2 text layers of width 128, vocabulary 1024) in the layout of the MLX
//! conversions, dense (stored in bfloat16, run in float32) and 8-bit; the reference's
//! log-mel statistics, audio tokens, prompt logits and greedy continuations for 10.27 s,
//! 20.5 s and 40 s of speech.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use murmur_core::CancelToken;
use murmur_core::error::Error;
use murmur_core::llm::generate::{GenerateOptions, generate};
use murmur_core::llm::load::load_safetensors_dir;
use murmur_core::llm::models::{self, LanguageModel};
use murmur_core::llm::sampler::SamplerConfig;
use murmur_core::mlx::ops::indexing::TryIndexOp;
use murmur_core::mlx::{Array, Dtype};
use murmur_tests::{argmax, fixture_pcm, json_floats, json_ids, rel_diff};
use serde_json::Value;

const CLIPS: [&str; 3] = ["10s", "20s", "40s"];

fn golden_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("goldens/omni")
        .join(name)
}

fn golden(name: &str) -> Value {
    let text = std::fs::read_to_string(golden_dir(name).join("golden.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The model in `dir`, every weight dense float32 as Murmur runs models on the CPU.
fn load(dir: &Path) -> murmur_core::Result<Box<dyn LanguageModel + Send>> {
    let (config, weights) = load_safetensors_dir(dir)?;
    let mut weights = weights.densify(Some(Dtype::Float32));
    models::build(&config, &mut weights)
}

fn to_vec(a: &Array) -> Vec<f32> {
    a.as_dtype(Dtype::Float32)
        .unwrap()
        .as_slice::<f32>()
        .to_vec()
}

/// The prompt of a clip: text ids, `n` placeholders where the audio goes, text ids.
fn prompt(g: &Value, placeholder: u32, n: usize) -> (Vec<u32>, usize) {
    let before = json_ids(&g["prompt_before"]);
    let start = before.len();
    let mut ids = before;
    ids.extend(std::iter::repeat_n(placeholder, n));
    ids.extend(json_ids(&g["prompt_after"]));
    (ids, start)
}

fn ids_array(ids: &[u32]) -> Array {
    let x: Vec<i32> = ids.iter().map(|&t| t as i32).collect();
    Array::from_slice(&x, &[1, x.len() as i32])
}

/// All positions' logits of `ids` fed in pieces of `step` through one cache.
fn logits(model: &dyn LanguageModel, ids: &[u32], step: usize) -> Vec<Vec<f32>> {
    let mut cache = model.new_cache();
    let mut rows = Vec::new();
    for piece in ids.chunks(step) {
        let out = model.forward(&ids_array(piece), &mut cache, true).unwrap();
        for i in 0..piece.len() as i32 {
            rows.push(to_vec(&out.try_index((0, i)).unwrap()));
        }
    }
    rows
}

fn greedy(model: &dyn LanguageModel, ids: &[u32], n: usize, prefill_step: usize) -> Vec<u32> {
    let opts = GenerateOptions {
        max_tokens: n,
        sampler: SamplerConfig {
            temperature: 0.0,
            ..SamplerConfig::default()
        },
        prefill_step,
        ignore_eos: true,
        ..GenerateOptions::default()
    };
    let cancel = CancelToken::new();
    generate(model, ids, &HashSet::new(), &opts, &cancel, |_| {
        Ok(murmur_core::llm::generate::Flow::Continue)
    })
    .unwrap()
    .0
}

/// Every clip of golden `name` through the model in `dir`.
fn check(name: &str, dir: &Path) {
    let golden = golden(name);
    let model = load(dir).unwrap_or_else(|e| panic!("{name}: {e}"));
    let thinker = model.thinker().expect("an Omni model listens");
    // The quantized model's golden has no features file.
    let features = Array::load_safetensors(golden_dir(name).join("features.safetensors")).ok();
    let cancel = CancelToken::new();
    for clip_name in CLIPS {
        let g = &golden["clips"][clip_name];
        let what = format!("{name}/{clip_name}");
        let samples = murmur_tests::omni_clip(g);
        assert_eq!(
            samples.len() as u64,
            g["samples"].as_u64().unwrap(),
            "{what}"
        );
        let sum: f64 = samples.iter().map(|&x| x as f64).sum();
        assert!(
            (sum - g["sample_sum"].as_f64().unwrap()).abs() < 1e-3,
            "{what}: not the same audio"
        );

        // The spectrogram: float32 throughout, no 30 s padding.
        let mel = thinker.mel(&samples).unwrap();
        assert_eq!(
            mel.shape()[0] as u64,
            g["mel_frames"].as_u64().unwrap(),
            "{what}: frames"
        );
        let mel_sum: f64 = to_vec(&mel).iter().map(|&x| x as f64).sum();
        let want_sum = g["mel_sum"].as_f64().unwrap();
        assert!(
            (mel_sum - want_sum).abs() < 1e-5 * want_sum.abs().max(1.0) + 0.5,
            "{what}: mel sum {mel_sum} vs {want_sum}"
        );
        let probe = &g["mel_probe"];
        let bins = json_ids(&probe["bins"]);
        for (r, row) in json_ids(&probe["frames"])
            .iter()
            .zip(probe["values"].as_array().unwrap())
        {
            let want = json_floats(row);
            for (&c, want) in bins.iter().zip(want) {
                let got = mel
                    .try_index((*r as i32, c as i32))
                    .unwrap()
                    .item_cast::<f32>();
                assert!(
                    (got - want).abs() < 1e-4,
                    "{what}: mel[{r}, {c}] = {got}, want {want}"
                );
            }
        }

        // The audio tower: chunked, per-chunk attention, any length.
        let audio = thinker.encode_audio(&samples, &cancel).unwrap();
        let n = g["audio_tokens"].as_u64().unwrap() as usize;
        assert_eq!(audio.shape()[0] as usize, n, "{what}: audio tokens");
        assert_eq!(
            thinker
                .audio_config()
                .tokens_for_frames(mel.shape()[0] as usize),
            n,
            "{what}: token count formula"
        );
        if let Some(f) = &features {
            let want = to_vec(&f[clip_name]);
            let d = rel_diff(&to_vec(&audio), &want);
            assert!(
                d < 1e-4,
                "{what}: audio tokens differ by {d} of their scale"
            );
        }

        // The prompt with the audio spliced in: one pass, and in pieces whose
        // boundaries fall inside the audio (the reference broke there; seed bug 6).
        let (ids, start) = prompt(g, thinker.audio_token(), n);
        let listening = thinker.with_audio(start, audio);
        let all = logits(&listening, &ids, ids.len());
        let last = all.last().unwrap();
        let d = rel_diff(last, &json_floats(&g["logits_last"]));
        assert!(d < 1e-3, "{what}: last logits differ by {d} of their scale");
        let want_argmax = json_ids(&g["argmax_all"]);
        let got_argmax: Vec<u32> = all.iter().map(|r| argmax(r)).collect();
        let same = got_argmax
            .iter()
            .zip(&want_argmax)
            .filter(|(a, b)| a == b)
            .count();
        assert!(
            same * 100 >= want_argmax.len() * 99 && got_argmax.last() == want_argmax.last(),
            "{what}: {same} of {} argmaxes agree",
            want_argmax.len()
        );
        let pieces = logits(&listening, &ids, 97);
        let d = rel_diff(pieces.last().unwrap(), last);
        assert!(
            d < 1e-4,
            "{what}: chunked prefill changed the logits by {d}"
        );

        let want = json_ids(&g["greedy_ids"]);
        assert_eq!(
            greedy(&listening, &ids, want.len(), 2048),
            want,
            "{what}: greedy"
        );
        assert_eq!(
            greedy(&listening, &ids, want.len(), 97),
            want,
            "{what}: greedy, chunked"
        );
    }
}

#[test]
fn tiny_thinker_matches_the_reference_on_10_20_and_40_s_of_speech() {
    check("tiny", &golden_dir("tiny"));
}

#[test]
fn eight_bit_thinker_matches_the_reference() {
    check("tiny-8bit", &golden_dir("tiny-8bit"));
}

/// Qwen's own checkpoints (seed bug 5): convolutions in PyTorch's `[out, in, k]` layout,
/// and the talker, token-to-waveform model and vision encoder beside the thinker. The
/// layout is detected and the other parts are never read: same results as the MLX
/// conversion.
#[test]
fn qwen_checkpoint_layout_with_talker_loads_the_same_thinker() {
    let tmp = tempfile::tempdir().unwrap();
    let src = golden_dir("tiny");
    std::fs::copy(src.join("config.json"), tmp.path().join("config.json")).unwrap();
    let mut arrays = Array::load_safetensors(src.join("model.safetensors")).unwrap();
    for conv in ["conv1", "conv2"] {
        let name = format!("thinker.audio_tower.{conv}.weight");
        let w = arrays.remove(&name).unwrap().swap_axes(1, 2).unwrap();
        arrays.insert(name, w);
    }
    let extra = Array::from_slice(&[1f32; 64], &[8, 8]);
    for name in [
        "talker.codec_head.weight",
        "token2wav.code2wav_dit_model.proj.weight",
        "thinker.visual.blocks.0.attn.qkv.weight",
        "thinker.audio_tower.audio_bos_eos_token.weight",
    ] {
        arrays.insert(name.to_string(), extra.clone());
    }
    Array::save_safetensors(&arrays, None, tmp.path().join("model.safetensors")).unwrap();
    std::fs::copy(src.join("golden.json"), tmp.path().join("golden.json")).unwrap();
    check("tiny", tmp.path());
}

/// A folder holding the tiny model with `edit` applied to its config and weights.
fn edited(
    dir: &Path,
    edit_config: impl FnOnce(&mut Value),
    edit_weights: impl FnOnce(&mut HashMap<String, Array>),
) -> PathBuf {
    let src = golden_dir("tiny");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    edit_config(&mut config);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut arrays = Array::load_safetensors(src.join("model.safetensors")).unwrap();
    edit_weights(&mut arrays);
    Array::save_safetensors(&arrays, None, dir.join("model.safetensors")).unwrap();
    dir.to_path_buf()
}

fn expect_corrupt(dir: &Path, words: &[&str]) {
    match load(dir) {
        Err(Error::CorruptModel { reason, .. }) => {
            for w in words {
                assert!(reason.contains(w), "{reason:?} lacks {w:?}");
            }
        }
        Err(e) => panic!("expected CorruptModel mentioning {words:?}, got {e}"),
        Ok(_) => panic!("expected CorruptModel mentioning {words:?}, loaded"),
    }
}

/// Hostile configs and weights are load errors naming what is wrong, before any audio.
#[test]
fn bad_audio_configs_and_tensors_are_corrupt_models() {
    let tmp = tempfile::tempdir().unwrap();
    let audio = |key: &'static str, v: Value| {
        move |c: &mut Value| c["thinker_config"]["audio_config"][key] = v
    };
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            "heads",
            Box::new(audio("encoder_attention_heads", 5.into())),
            vec!["encoder_attention_heads", "does not divide"],
        ),
        (
            "window",
            Box::new(audio("n_window", 0.into())),
            vec!["n_window", "out of range"],
        ),
        (
            "huge",
            Box::new(audio("encoder_layers", 1_000_000_000.into())),
            vec!["encoder_layers", "out of range"],
        ),
        (
            "out",
            Box::new(audio("output_dim", 64.into())),
            vec!["output_dim", "hidden_size"],
        ),
        (
            "layers",
            Box::new(audio("encoder_layers", 3.into())),
            vec!["missing tensor", "audio_tower.layers.2"],
        ),
        (
            "token",
            Box::new(|c: &mut Value| c["thinker_config"]["audio_token_index"] = 5000.into()),
            vec!["audio_token_index", "vocabulary"],
        ),
        (
            "no-thinker",
            Box::new(|c: &mut Value| {
                let t = c["thinker_config"].take();
                c["text_config"] = t["text_config"].clone();
            }),
            vec!["thinker_config"],
        ),
    ];
    for (name, edit, words) in cases {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        expect_corrupt(&edited(&dir, edit, |_| {}), &words);
    }
    let dir = tmp.path().join("conv");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = edited(
        &dir,
        |_| {},
        |w| {
            w.insert(
                "thinker.audio_tower.conv1.weight".into(),
                Array::from_slice(&[0f32; 64 * 5 * 128], &[64, 5, 128]),
            );
        },
    );
    expect_corrupt(&bad, &["audio_tower.conv1.weight", "[64, 5, 128]"]);
}

/// One load of a model that listens serves `transcribe` (through the text slot, no
/// speech model) and `refine`; its prompt holds exactly the audio's tokens; a recording
/// of silence is never shown to it; a model that only reads cannot transcribe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listening_model_transcribes_and_refines_in_one_load() {
    use murmur_core::audio::AudioInput;
    use murmur_core::catalog::{AddModel, Capability};
    use murmur_core::llm::chat::ChatModel;
    use murmur_core::llm::chat_template::Message;
    use murmur_core::refine::RefineOptions;
    use murmur_core::transcribe::TranscribeOptions;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("omni");
    std::fs::create_dir_all(&dir).unwrap();
    murmur_tests::omni_listening_model(&dir);

    // The prompt: the template's tokens, with <|AUDIO|> replaced by one placeholder per
    // audio token (10.27 s: 257).
    let chat = ChatModel::load(&dir).unwrap();
    assert!(chat.listens());
    let samples = fixture_pcm("audio/jfk.wav");
    let messages = [Message::user("Transcribe this.")];
    let text_only = chat.prompt_tokens(&messages, false).unwrap().len();
    let opts = GenerateOptions {
        max_tokens: 3,
        ..GenerateOptions::default()
    };
    let heard = chat
        .listen(&messages, &samples, &opts, &CancelToken::new(), &mut |_| {})
        .unwrap();
    let n = samples.len().div_ceil(160).div_ceil(2) / 2;
    assert_eq!(n, 275, "11 s of audio");
    // + <|audio_bos|>, the audio, <|audio_eos|>
    assert_eq!(heard.stats.prompt_tokens, text_only + 2 + n);
    // 25 minutes do not fit the 32,768-token context: a typed refusal (made before the
    // audio is encoded).
    let long = vec![0.01f32; 25 * 60 * 16_000];
    match chat.listen(&messages, &long, &opts, &CancelToken::new(), &mut |_| {}) {
        Err(murmur_core::Error::PromptTooLong { tokens, limit }) => {
            assert!(tokens > limit && limit == 32_768, "{tokens} {limit}")
        }
        other => panic!("{:?}", other.map(|r| r.text)),
    }
    drop(chat);

    let engine = murmur_tests::dictation_engine(tmp.path());
    let id = engine
        .add_model(&AddModel {
            source: dir.display().to_string(),
            id: Some("tiny-omni".into()),
            capability: None,
            files: None,
        })
        .unwrap()
        .model
        .id;
    let m = engine.resolve(&id).unwrap();
    assert!(m.has(Capability::Audio) && m.has(Capability::Text), "{m:?}");

    let cancel = CancelToken::new();
    let opts = TranscribeOptions {
        sample_len: Some(8),
        ..TranscribeOptions::default()
    };
    let segments = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = segments.clone();
    let t = engine
        .transcribe(
            Some(&id),
            AudioInput::Path(murmur_tests::fixture("audio/jfk.wav")),
            &opts,
            move |s| seen.lock().unwrap().push(s.clone()),
            &cancel,
        )
        .await
        .unwrap();
    assert_eq!(t.model, "tiny-omni");
    assert!((t.duration - 11.0).abs() < 0.01, "{}", t.duration);
    assert_eq!(segments.lock().unwrap().len(), t.segments.len());
    assert!(t.segments.len() <= 1);
    let status = engine.status();
    assert_eq!(status.loaded.as_deref(), Some("tiny-omni"));
    assert_eq!(
        status.loaded_audio, None,
        "no speech model is loaded for it"
    );

    // Ten seconds of digital silence: the model is never asked, nothing is invented.
    let silence = AudioInput::Pcm16k(vec![0.0; 160_000]);
    let quiet = engine
        .transcribe(Some(&id), silence, &opts, |_| {}, &cancel)
        .await
        .unwrap();
    assert!(
        quiet.text.is_empty() && quiet.segments.is_empty(),
        "{quiet:?}"
    );

    // The same loaded model refines.
    let refined = engine
        .refine(
            Some(&id),
            "so um this is a test",
            &RefineOptions {
                max_tokens: Some(4),
                ..RefineOptions::default()
            },
            |_| {},
            &cancel,
        )
        .await
        .unwrap();
    assert_eq!(refined.model, "tiny-omni");
    assert_eq!(engine.status().loaded.as_deref(), Some("tiny-omni"));

    // Dictation needs Whisper: a clear error, not a panic.
    let err = engine.choose(Some(&id), Capability::Audio).unwrap_err();
    assert!(err.to_string().contains("Whisper"), "{err}");
}
