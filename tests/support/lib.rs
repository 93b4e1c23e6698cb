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
