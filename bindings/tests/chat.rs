//! `murmur chat` end to end: the real binary, the real SmolLM2-135M GGUF, greedy.

use std::io::Write;
use std::process::{Command, Stdio};

use murmur_tests::smollm2_gguf;

fn chat(config: &std::path::Path, args: &[&str]) -> Command {
    murmur_tests::murmur_command(env!("CARGO_BIN_EXE_murmur"), config, args)
}

#[test]
fn chat_answers_stops_at_a_stop_string_and_refuses_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let model = smollm2_gguf();
    let model = model.to_str().unwrap();
    let question = "What is the capital of France?";
    let out = chat(
        dir.path(),
        &[
            "chat",
            "--model",
            model,
            "--temperature",
            "0",
            "--max-tokens",
            "24",
            question,
        ],
    )
    .output()
    .unwrap();
    let free = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(free.contains("Paris"), "{free}");

    // The same answer cut before its first "Paris", the message read from stdin.
    let mut child = chat(
        dir.path(),
        &[
            "chat",
            "--model",
            model,
            "--temperature",
            "0",
            "--max-tokens",
            "24",
            "--stop",
            "Paris",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(question.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let cut = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert_eq!(
        cut.trim_end(),
        free[..free.find("Paris").unwrap()].trim_end()
    );

    let out = chat(
        dir.path(),
        &["chat", "--model", model, "--temperature", "3", "hi"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("invalid temperature"), "{stderr}");
}
