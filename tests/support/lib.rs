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

/// The real Qwen3 tokenizer (`tokenizer.json`, `tokenizer_config.json`).
pub fn qwen3_tokenizer_dir() -> PathBuf {
    fixture("qwen3-tokenizer")
}
