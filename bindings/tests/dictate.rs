//! `murmur dictate` and `murmur limits` end to end: the real binary in a private settings
//! folder, on jfk.wav with Whisper base and SmolLM2 — the whole result as JSON, the text
//! alone without the cleanup (from a file and from stdin), and the errors it prints.

use murmur_core::dictate::normalized_words as words;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use murmur_tests::{fixture, smollm2_gguf};
use serde_json::Value;

const JFK: &str = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

fn command(config: &Path, args: &[&str]) -> Command {
    murmur_tests::murmur_command(env!("CARGO_BIN_EXE_murmur"), config, args)
}

fn murmur(config: &Path, args: &[&str]) -> Output {
    let started = Instant::now();
    let out = command(config, args).output().unwrap();
    eprintln!("murmur {args:?}: {:?}", started.elapsed());
    out
}

/// stdout and stderr of a command that must succeed.
fn ok(out: Output) -> (String, String) {
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

#[test]
fn dictate_jfk_as_json_and_as_text_without_the_cleanup() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    let whisper = fixture("whisper-base-ct2");
    let wav = fixture("audio/jfk.wav");
    let (speech, text) = (whisper.to_str().unwrap(), smollm2_gguf());
    let base = [
        "dictate",
        wav.to_str().unwrap(),
        "--speech-model",
        speech,
        "--language",
        "en",
    ];

    // The whole result, cleaned up greedily, with the timings on stderr.
    let mut args = base.to_vec();
    args.extend([
        "--text-model",
        text.to_str().unwrap(),
        "--temperature",
        "0",
        "--format",
        "json",
        "--timings",
        "--edits",
    ]);
    let (stdout, stderr) = ok(murmur(&conf, &args));
    let r: Value = serde_json::from_str(&stdout).unwrap();
    let transcript = r["transcript"].as_str().unwrap();
    assert_eq!(words(transcript), words(JFK), "{r}");
    assert!(!r["text"].as_str().unwrap().is_empty());
    assert!(
        r["text_model"].is_string() && r["refine_stats"].is_object(),
        "{r}"
    );
    assert!(r["timings"]["refine_secs"].as_f64().unwrap() > 0.0);
    assert!(stderr.contains("timings: decode "), "{stderr}");
    // One `edit:` line on stderr per edit; warnings are in the JSON, not on stderr.
    let edits = r["edits"].as_array().unwrap().len();
    assert_eq!(stderr.matches("edit: ").count(), edits, "{stderr}");
    assert!(!stderr.contains("warning:"), "{stderr}");

    // Without the cleanup the text is the transcript (no vocabulary here), from the file
    // and from stdin alike.
    let mut args = base.to_vec();
    args.push("--no-refine");
    let (stdout, stderr) = ok(murmur(&conf, &args));
    assert_eq!(stdout, format!("{transcript}\n"));
    assert_eq!(stderr, "");
    args[1] = "-";
    let mut child = command(&conf, &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&wav).unwrap())
        .unwrap();
    let (stdout, _) = ok(child.wait_with_output().unwrap());
    assert_eq!(stdout, format!("{transcript}\n"));

    // Errors print as every command's do, exit status 1; usage errors are clap's (2).
    let fails = |args: &[&str], code: i32, needle: &str| {
        let out = murmur(&conf, args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    };
    let missing = dir.path().join("missing.wav");
    let missing = missing.to_str().unwrap();
    fails(
        &["dictate", missing, "--speech-model", speech, "--no-refine"],
        1,
        "missing.wav: No such file",
    );
    fails(
        &["dictate", missing, "--mode", "poem"],
        1,
        "murmur: invalid mode: \"poem\" is not one of",
    );
    fails(&["dictate", missing, "--mode", "custom"], 2, "--prompt");
    fails(&["dictate", missing, "--format", "srt"], 2, "--format");
}

#[test]
fn limits_follow_the_memory_murmur_plans_for() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    let mut cmd = command(&conf, &["limits", "--json"]);
    let (stdout, _) = ok(cmd.env("MURMUR_RAM_BYTES", "8589934592").output().unwrap());
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"ram_tier": "small", "max_recording_secs": 360, "max_refine_tokens": 1536})
    );
    let mut cmd = command(&conf, &["limits"]);
    let (stdout, _) = ok(cmd.env("MURMUR_RAM_BYTES", "17179869184").output().unwrap());
    assert_eq!(
        stdout,
        "memory tier: medium\nlongest dictation: 480 s (8 min)\nrefine token ceiling: 2048\n"
    );
}
