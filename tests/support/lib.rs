//! Helpers for Murmur's end-to-end tests: locating the real fixtures that
//! `scripts/fixtures.sh` fetches into the cache folder.

use std::path::PathBuf;

/// The fixtures folder: `$MURMUR_FIXTURES`, else `$MURMUR_CACHE/fixtures`, else the
/// default cache locations `scripts/lib.sh` uses.
pub fn fixtures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MURMUR_FIXTURES") {
        return dir.into();
    }
    if let Some(cache) = std::env::var_os("MURMUR_CACHE") {
        return PathBuf::from(cache).join("fixtures");
    }
    let system = PathBuf::from("/var/cache/murmur/fixtures");
    if system.is_dir() {
        return system;
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/murmur/fixtures")
}

/// Path of one fixture. Panics with the command to run when it is missing, so a test
/// never silently passes without its data.
pub fn fixture(relative: &str) -> PathBuf {
    let path = fixtures_dir().join(relative);
    assert!(
        path.exists(),
        "fixture {} is missing: run scripts/fixtures.sh (or scripts/test.sh)",
        path.display()
    );
    path
}

/// The real SmolLM2-135M-Instruct model (Q4_1 GGUF).
pub fn smollm2_gguf() -> PathBuf {
    fixture("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// A Hugging Face Hub look-alike on 127.0.0.1 for download tests.
pub mod hub_server;

/// The fuzz harnesses (tests/fuzz), also replayed by `cargo test`.
pub mod fuzz;

/// The real Qwen3 tokenizer (`tokenizer.json`, `tokenizer_config.json`).
pub fn qwen3_tokenizer_dir() -> PathBuf {
    fixture("qwen3-tokenizer")
}

/// A committed golden file under tests/goldens/ (made by the scripts in
/// scripts/goldens/), parsed as JSON.
pub fn golden_json(relative: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("goldens")
        .join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON list of token ids.
pub fn json_ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("a JSON list of ids")
        .iter()
        .map(|x| x.as_u64().expect("an id") as u32)
        .collect()
}

/// A JSON list of numbers as f32.
pub fn json_floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("a JSON list of numbers")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

/// Index of the largest value (the last one on ties; goldens keep clear margins).
pub fn argmax(v: &[f32]) -> u32 {
    (0..v.len())
        .max_by(|&a, &b| v[a].total_cmp(&v[b]))
        .expect("non-empty") as u32
}

/// Max |got − want| relative to the reference's largest magnitude.
pub fn rel_diff(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "lengths differ");
    let scale = want.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-3);
    let diff = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

/// A dictation test's engine: on its own folders under `dir`, offline, no default models
/// and no idle unload, with an 8 GB machine's limits (6 minutes of audio).
pub fn dictation_engine(dir: &std::path::Path) -> murmur_core::Engine {
    let mut c = murmur_core::EngineConfig::from_env();
    c.hub.cache_dir = dir.join("hub");
    c.hub.offline = true;
    c.config_dir = dir.join("config");
    c.idle_unload = None;
    c.default_model = None;
    c.default_audio_model = None;
    c.ram_bytes = Some(8 << 30);
    murmur_core::Engine::new(c).unwrap()
}

/// Dictation with the fixture models (Whisper base, SmolLM2-135M), English, and a
/// deterministic (greedy) cleanup.
pub fn fixture_dictate_options() -> murmur_core::dictate::DictateOptions {
    use murmur_core::dictate::DictateOptions;
    use murmur_core::refine::RefineOptions;
    use murmur_core::transcribe::TranscribeOptions;
    let path = |p: PathBuf| p.to_str().unwrap().to_string();
    DictateOptions {
        speech_model: Some(path(fixture("whisper-base-ct2"))),
        text_model: Some(path(smollm2_gguf())),
        transcribe: TranscribeOptions {
            language: Some("en".into()),
            ..TranscribeOptions::default()
        },
        refine: Some(RefineOptions {
            temperature: 0.0,
            ..RefineOptions::default()
        }),
        ..DictateOptions::default()
    }
}

/// A fixture audio file as 16 kHz mono samples.
pub fn fixture_pcm(relative: &str) -> Vec<f32> {
    let audio = murmur_core::audio::AudioInput::Path(fixture(relative));
    murmur_core::audio::load_16k_mono(&audio).unwrap()
}

fn chars(s: &str, start: u32, end: u32) -> String {
    s.chars()
        .skip(start as usize)
        .take((end - start) as usize)
        .collect()
}

/// Every edit names the text it covers in both texts, and undoing them all gives the
/// transcript back.
pub fn check_edits(r: &murmur_core::dictate::DictateResult) {
    for e in &r.edits {
        assert_eq!(
            chars(&r.transcript, e.before_start, e.before_end),
            e.before,
            "{e:?}"
        );
        assert_eq!(chars(&r.text, e.after_start, e.after_end), e.after, "{e:?}");
    }
    let mut text: Vec<char> = r.text.chars().collect();
    for murmur_core::dictate::Edit {
        after_start,
        after_end,
        before,
        ..
    } in r.edits.iter().rev()
    {
        text.splice(*after_start as usize..*after_end as usize, before.chars());
    }
    assert_eq!(text.into_iter().collect::<String>(), r.transcript);
}

/// The `murmur` CLI at `exe` (a test's `env!("CARGO_BIN_EXE_murmur")`) with `args`, on
/// the config folder `config`, offline, none of the user's model or memory settings.
pub fn murmur_command(exe: &str, config: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(exe);
    cmd.env("MURMUR_CONFIG_DIR", config)
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", config.join("hf"))
        .env_remove("MURMUR_WHISPER_MODEL")
        .env_remove("MURMUR_MODEL")
        .env_remove("MURMUR_DEFAULT_MODEL")
        .env_remove("MURMUR_DEFAULT_AUDIO_MODEL")
        .env_remove("MURMUR_RAM_BYTES")
        .args(args);
    cmd
}

/// `dir` made a model folder holding tests/goldens/omni/tiny's thinker with a real
/// vocabulary: Qwen's BPE with Qwen2.5-Omni's audio tokens (151646-151648, which
/// Qwen2.5's tokenizer calls `<|object_ref_start|>`, ... and the Omni tokenizer renames), a ChatML template, and a random embedding table of the real
/// vocabulary size (tied to the output). Weights are random, so what it says is noise:
/// this checks the plumbing around the model, not its words.
pub fn omni_listening_model(dir: &std::path::Path) -> PathBuf {
    use murmur_core::mlx::{Array, Dtype, random};
    use serde_json::Value;
    let tok_dir = qwen3_tokenizer_dir();
    let rename = [
        ("<|object_ref_start|>", "<|AUDIO|>"),
        ("<|object_ref_end|>", "<|audio_bos|>"),
        ("<|box_start|>", "<|audio_eos|>"),
    ];
    let mut tokenizer = std::fs::read_to_string(tok_dir.join("tokenizer.json")).unwrap();
    let mut tok_config = std::fs::read_to_string(tok_dir.join("tokenizer_config.json")).unwrap();
    for (from, to) in rename {
        tokenizer = tokenizer.replace(from, to);
        tok_config = tok_config.replace(from, to);
    }
    let mut tok_config: Value = serde_json::from_str(&tok_config).unwrap();
    tok_config["chat_template"] =
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n\
        {{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}\
        <|im_start|>assistant\n{% endif %}"
            .into();
    std::fs::write(dir.join("tokenizer.json"), tokenizer).unwrap();
    std::fs::write(dir.join("tokenizer_config.json"), tok_config.to_string()).unwrap();
    let vocab = 151_936;
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("goldens/omni/tiny");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    let t = &mut config["thinker_config"];
    t["audio_token_index"] = 151_646.into();
    t["audio_start_token_id"] = 151_647.into();
    t["audio_end_token_id"] = 151_648.into();
    t["text_config"]["vocab_size"] = vocab.into();
    t["text_config"]["tie_word_embeddings"] = true.into();
    config["eos_token_id"] = 151_645.into();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut w = Array::load_safetensors(src.join("model.safetensors")).unwrap();
    random::seed(11).unwrap();
    let table = random::normal::<f32>(&[vocab, 128], None, None, None)
        .unwrap()
        .multiply(Array::from_f32(0.05))
        .unwrap()
        .as_dtype(Dtype::Float16)
        .unwrap();
    w.insert("thinker.model.embed_tokens.weight".into(), table);
    w.remove("thinker.lm_head.weight");
    Array::save_safetensors(&w, None, dir.join("model.safetensors")).unwrap();
    dir.to_path_buf()
}

/// The speech a Qwen2.5-Omni golden clip was taken on (scripts/goldens/omni.py): its
/// fixture files joined and cut to the golden's sample count.
pub fn omni_clip(golden: &serde_json::Value) -> Vec<f32> {
    let mut samples: Vec<f32> = golden["files"]
        .as_array()
        .expect("the clip's files")
        .iter()
        .flat_map(|f| fixture_pcm(f.as_str().expect("a file name")))
        .collect();
    samples.truncate(golden["samples"].as_u64().expect("the sample count") as usize);
    samples
}
