//! The user's vocabulary end to end: on real speech with Whisper base (a name it
//! mishears without the vocabulary and gets right with it), and through the engine on
//! real files (the store's round trip, concurrent adds, corrupt and oversized files,
//! CSV imports).
//!
//! The speech case: LibriVox's "And Mr. John Dashwood had then leisure…" (Sense and
//! Sensibility) heard from 0.91 s, as a dictation that starts on the name. Whisper base
//! hears "One dash would then leisure…" there; with the vocabulary's glossary as its
//! initial prompt it writes "Dashwood had then leisure…". (The whole clip is transcribed
//! right either way: "Mr. John" before the name is context enough.)

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use murmur_core::audio::{AudioInput, load_16k_mono};
use murmur_core::transcribe::{TranscribeOptions, transcribe};
use murmur_core::vocab::prompt::WHISPER_PROMPT_TOKENS;
use murmur_core::vocab::{
    AddOutcome, Entry, Imported, MAX_ENTRIES, Replacement, Vocabulary, VocabularyStore,
};
use murmur_core::whisper::WhisperModel;
use murmur_core::{CancelToken, Engine, EngineConfig, Error};
use murmur_tests::fixture;

// ---------------------------------------------------------------------------------------
// Real speech.

/// Where the clip is cut: inside "John", so the dictation starts on "Dashwood" with a
/// syllable's worth of the word before it (0.89–0.93 s all give the same mishearing).
const CUT_SAMPLES: usize = 14_560;

fn model() -> MutexGuard<'static, WhisperModel> {
    static MODEL: OnceLock<Mutex<WhisperModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            Mutex::new(WhisperModel::load(&fixture("whisper-base-ct2")).expect("whisper base"))
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn dashwood_clip() -> AudioInput {
    let path = fixture("audio/librivox/sense_and_sensibility_01_austen_64kb-0870.wav");
    let samples = load_16k_mono(&AudioInput::Path(path)).expect("decode the clip");
    AudioInput::Pcm16k(samples[CUT_SAMPLES..].to_vec())
}

fn transcribe_with(m: &WhisperModel, prompt: Option<String>) -> String {
    let opts = TranscribeOptions {
        language: Some("en".into()),
        initial_prompt: prompt,
        ..TranscribeOptions::default()
    };
    let t = Instant::now();
    let out = transcribe(m, &dashwood_clip(), &opts, &CancelToken::new(), &mut |_| {})
        .expect("transcribe");
    eprintln!("transcribed in {:.2?}: {:?}", t.elapsed(), out.text);
    out.text.trim().to_string()
}

/// The transcript without a vocabulary, made once for the tests that need it.
fn plain_transcript() -> String {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| transcribe_with(&model(), None)).clone()
}

/// Lowercase words, punctuation dropped.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// A user's vocabulary with the name among other entries.
fn user_vocabulary() -> Vocabulary {
    let mut v = Vocabulary::new();
    v.add_term("Murmur.app").unwrap();
    v.add_term("Dashwood").unwrap();
    v.add_term("macOS").unwrap();
    v.add_replacement("murmur dot app", "Murmur.app").unwrap();
    v
}

/// Whether `prompt` fits Whisper's prompt budget, counted as the decoder encodes it.
fn fits(m: &WhisperModel, prompt: &str) -> bool {
    m.tokenizer()
        .encode(&format!(" {}", prompt.trim()))
        .is_ok_and(|t| t.len() <= WHISPER_PROMPT_TOKENS)
}

#[test]
fn whisper_mishears_the_name_without_the_vocabulary_and_gets_it_with_its_prompt() {
    let without = plain_transcript();
    let w = words(&without);
    assert!(
        !w.contains(&"dashwood".to_string()) && w.windows(2).any(|p| p == ["dash", "would"]),
        "without the vocabulary Whisper base should hear \"dash would\": {without:?}"
    );

    let m = model();
    let prompt = user_vocabulary()
        .whisper_prompt(|p| fits(&m, p))
        .expect("the vocabulary fits the prompt");
    assert_eq!(prompt, "Glossary: Murmur.app, Dashwood, macOS.");
    let with = transcribe_with(&m, Some(prompt));
    assert!(
        with.contains("Dashwood had then leisure to consider"),
        "with the vocabulary's prompt: {with:?}"
    );
    assert!(!words(&with).contains(&"dash".to_string()), "{with:?}");
}

#[test]
fn a_replacement_fixes_the_misheard_words_of_the_real_transcript() {
    let text = plain_transcript();
    let mut v = user_vocabulary();
    v.add_replacement("dash would", "Dashwood").unwrap();
    let (fixed, applied) = v.apply(&text);
    assert!(
        fixed.contains("Dashwood then leisure to consider"),
        "{text:?} → {fixed:?}"
    );
    assert_eq!(applied.len(), 1, "{applied:?}");
    let a = &applied[0];
    assert_eq!(a.from.to_lowercase(), "dash would");
    assert_eq!(
        (a.to.as_str(), &fixed[a.start..a.end]),
        ("Dashwood", "Dashwood")
    );
    // The same text and vocabulary always give the same result.
    assert_eq!(v.apply(&text), (fixed, applied));
}

#[test]
fn a_full_vocabulary_keeps_the_prompt_within_whispers_budget() {
    let mut v = Vocabulary::new();
    for i in 0..MAX_ENTRIES {
        v.add_term(&format!("Xyzzyplugh{i}")).unwrap();
    }
    let m = model();
    let prompt = v.whisper_prompt(|p| fits(&m, p)).unwrap();
    let tokens = m.tokenizer().encode(&format!(" {prompt}")).unwrap().len();
    assert!(tokens <= WHISPER_PROMPT_TOKENS, "{tokens} tokens");
    assert!(
        tokens > WHISPER_PROMPT_TOKENS - 12,
        "only {tokens} tokens used"
    );
    assert!(prompt.starts_with("Glossary: Xyzzyplugh0, Xyzzyplugh1,"));
}

// ---------------------------------------------------------------------------------------
// Through the engine, on real files.

fn engine(config_dir: &Path) -> Engine {
    let mut config = EngineConfig::from_env();
    config.hub.cache_dir = config_dir.join("hub");
    config.hub.offline = true;
    config.config_dir = config_dir.to_path_buf();
    Engine::new(config).unwrap()
}

fn invalid(e: Error) -> (String, String) {
    match e {
        Error::InvalidArgument { name, reason } => (name, reason),
        other => panic!("not InvalidArgument: {other:?}"),
    }
}

fn term(s: &str) -> Entry {
    Entry::Term(s.into())
}

#[test]
fn the_vocabulary_is_saved_and_read_back_by_another_engine() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("not yet created");
    let e = engine(&conf);
    assert!(e.vocabulary().unwrap().is_empty());
    assert!(!e.vocabulary_path().exists(), "reading creates nothing");
    assert_eq!(
        e.add_vocabulary(term("Dashwood")).unwrap(),
        AddOutcome::Added
    );
    assert_eq!(
        e.add_vocabulary(Entry::Replacement(Replacement {
            spoken: "murmur dot app".into(),
            written: "Murmur.app".into(),
        }))
        .unwrap(),
        AddOutcome::Added
    );
    assert_eq!(
        e.add_vocabulary(term("DASHWOOD")).unwrap(),
        AddOutcome::Updated
    );
    assert_eq!(e.vocabulary_path(), conf.join("vocabulary.json"));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(e.vocabulary_path()).unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "terms": ["DASHWOOD"],
            "replacements": [{"spoken": "murmur dot app", "written": "Murmur.app"}]
        })
    );
    let other = engine(&conf);
    assert_eq!(other.vocabulary().unwrap(), e.vocabulary().unwrap());
    let removed = other.remove_vocabulary("murmur.app").unwrap();
    assert_eq!(removed.replacements.len(), 1);
    assert!(e.vocabulary().unwrap().replacements.is_empty());
    let (name, _) = invalid(e.remove_vocabulary("never added").unwrap_err());
    assert_eq!(name, "entry");
    // Invalid entries are refused before anything is written.
    let before = std::fs::read(e.vocabulary_path()).unwrap();
    let (name, reason) = invalid(e.add_vocabulary(term("tab\there")).unwrap_err());
    assert_eq!((name.as_str(), reason.contains("U+0009")), ("term", true));
    assert_eq!(std::fs::read(e.vocabulary_path()).unwrap(), before);
}

#[test]
fn concurrent_adds_through_engines_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = engine(dir.path());
    let b = engine(dir.path());
    std::thread::scope(|s| {
        for t in 0..6 {
            // Clones of one engine and a second engine on the same folder.
            let e = if t % 2 == 0 { a.clone() } else { b.clone() };
            s.spawn(move || {
                for i in 0..20 {
                    let entry = if i % 4 == 0 {
                        Entry::Replacement(Replacement {
                            spoken: format!("spoken {t} {i}"),
                            written: format!("W{t}.{i}"),
                        })
                    } else {
                        term(&format!("Term{t}x{i}"))
                    };
                    assert_eq!(e.add_vocabulary(entry).unwrap(), AddOutcome::Added);
                }
            });
        }
    });
    let v = a.vocabulary().unwrap();
    assert_eq!((v.terms.len(), v.replacements.len()), (90, 30));
    assert!(v.has_term("term5x19") && v.has_term("TERM0X1"));
    // Nothing but the file and its lock is left in the folder (no temporary files).
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "hub")
        .collect();
    names.sort();
    assert_eq!(names, ["vocabulary.json", "vocabulary.json.lock"]);
}

#[test]
fn a_corrupt_vocabulary_file_is_an_error_naming_it_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let path = e.vocabulary_path();
    for text in [
        "{\"terms\": [\"Dashwood\",",
        "not json at all",
        "{\"terms\": [\"Dashwood\"], \"replacements\": [{\"spoken\": \"x\"}]}",
        "{\"terms\": [\"\"]}",
    ] {
        std::fs::write(&path, text).unwrap();
        let (name, reason) = invalid(e.vocabulary().unwrap_err());
        assert_eq!(name, path.display().to_string(), "{reason}");
        // A change refuses too: the user's file is never replaced by an empty list.
        let err = e.add_vocabulary(term("Elinor")).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}

#[test]
fn an_oversized_vocabulary_file_is_refused_from_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    // 4 GiB, sparse: refused from its size, never read.
    let file = std::fs::File::create(e.vocabulary_path()).unwrap();
    file.set_len(4 << 30).unwrap();
    let t = Instant::now();
    let (name, reason) = invalid(e.vocabulary().unwrap_err());
    assert_eq!(name, e.vocabulary_path().display().to_string());
    assert!(
        reason.contains("4294967296 bytes") && reason.contains("1 MiB"),
        "{reason}"
    );
    assert!(t.elapsed().as_secs() < 2);
    // Just over the limit, with valid JSON in it.
    let json = format!(
        "{{\"terms\": [\"a\"], \"replacements\": []}}{}",
        " ".repeat(1 << 20)
    );
    std::fs::write(e.vocabulary_path(), json).unwrap();
    assert!(
        invalid(e.vocabulary().unwrap_err())
            .1
            .contains("at most 1048576")
    );
}

#[test]
fn a_csv_file_is_imported_whole() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir.path().join("conf"));
    e.add_vocabulary(term("dashwood")).unwrap();
    let csv = dir.path().join("glossary.csv");
    std::fs::write(
        &csv,
        "\u{FEFF}spoken,written\r\n\
         # Sense and Sensibility\r\n\
         Dashwood\r\n\
         Norland\r\n\
         \r\n\
         dash would,Dashwood\r\n\
         \"murmur, dot app\",\"Murmur.app\"\r\n\
         \"say \"\"hi\"\"\",Hi!\r\n",
    )
    .unwrap();
    assert_eq!(
        e.import_vocabulary(&csv).unwrap(),
        Imported {
            terms_added: 1,
            replacements_added: 3,
            updated: 1,
            unchanged: 0
        }
    );
    let v = e.vocabulary().unwrap();
    assert_eq!(v.terms, ["Dashwood", "Norland"]);
    assert_eq!(
        v.replacements[2],
        Replacement {
            spoken: "say \"hi\"".into(),
            written: "Hi!".into()
        }
    );
    // Importing again changes nothing.
    let again = e.import_vocabulary(&csv).unwrap();
    assert_eq!((again.unchanged, again.updated), (5, 0));
    assert_eq!(
        v.apply("murmur dot app for mrs dash would.").0,
        "Murmur.app for mrs Dashwood."
    );
}

#[test]
fn csv_import_errors_name_the_file_and_line_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir.path().join("conf"));
    e.add_vocabulary(term("Elinor")).unwrap();
    let before = std::fs::read(e.vocabulary_path()).unwrap();
    let write = |name: &str, bytes: &[u8]| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            write("fields.csv", b"Marianne\nNorland\na,b,c\n"),
            "line 3: 3 fields",
        ),
        (
            write("quote.csv", b"ok\n\n\"never closed\n"),
            "line 3: a quoted field has no closing quote",
        ),
        (
            write("latin1.csv", b"ok\ncaf\xe9\n"),
            "line 2: not UTF-8 text",
        ),
        (
            write("long.csv", format!("x,{}\n", "y".repeat(101)).as_bytes()),
            "line 1: written is longer than 100 characters",
        ),
        (
            write("control.csv", b"fine\n\"bell\x07\"\n"),
            "line 2: term holds the control character U+0007",
        ),
        (
            write(
                "rows.csv",
                (0..=MAX_ENTRIES)
                    .map(|i| format!("w{i}\n"))
                    .collect::<String>()
                    .as_bytes(),
            ),
            "line 2001: more than 2000 entries",
        ),
        (
            write("lines.csv", "#\n".repeat(10_000).as_bytes()),
            "10001 lines is too many",
        ),
    ];
    for (path, want) in &cases {
        let (name, reason) = invalid(e.import_vocabulary(path).unwrap_err());
        assert_eq!(name, path.display().to_string());
        assert!(reason.starts_with(want), "{}: {reason}", path.display());
    }
    // Over the size limit (sparse): refused from its size.
    let big = dir.path().join("big.csv");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((1 << 20) + 1)
        .unwrap();
    assert!(
        invalid(e.import_vocabulary(&big).unwrap_err())
            .1
            .contains("1048577 bytes")
    );
    // A device that never ends is cut at the limit.
    #[cfg(target_os = "linux")]
    assert!(
        invalid(e.import_vocabulary(Path::new("/dev/zero")).unwrap_err())
            .1
            .contains("over 1048576")
    );
    // Missing files and folders are I/O errors naming them.
    for p in [dir.path().join("missing.csv"), dir.path().to_path_buf()] {
        match e.import_vocabulary(&p).unwrap_err() {
            Error::Io { path, .. } => assert_eq!(path, p),
            other => panic!("{other:?}"),
        }
    }
    // A valid file that would take the vocabulary past its limit: nothing is added.
    let full: String = (0..MAX_ENTRIES).map(|i| format!("w{i}\n")).collect();
    let full = write("full.csv", full.as_bytes());
    let (_, reason) = invalid(e.import_vocabulary(&full).unwrap_err());
    assert!(reason.starts_with("line 2000:"), "{reason}");
    assert_eq!(std::fs::read(e.vocabulary_path()).unwrap(), before);
}

/// CSV as text (a request body, a pasted sheet): the same rows as a file, errors named
/// `csv` with the line, all or nothing, bounded as a file is.
#[test]
fn csv_text_is_imported_as_a_file_is() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir.path().join("conf"));
    let n = e
        .import_vocabulary_text("term\nDashwood\n\"Norland, Park\"\ndash would,Dashwood\n")
        .unwrap();
    assert_eq!(
        n,
        Imported {
            terms_added: 2,
            replacements_added: 1,
            updated: 0,
            unchanged: 0
        }
    );
    assert_eq!(e.vocabulary().unwrap().terms, ["Dashwood", "Norland, Park"]);
    let before = std::fs::read(e.vocabulary_path()).unwrap();
    let (name, reason) = invalid(
        e.import_vocabulary_text("fine\none,two,three\n")
            .unwrap_err(),
    );
    assert_eq!(
        (name.as_str(), reason.starts_with("line 2: 3 fields")),
        ("csv", true)
    );
    let (name, reason) = invalid(murmur_core::vocab::csv::utf8(b"ok\ncaf\xe9\n").unwrap_err());
    assert_eq!(
        (name.as_str(), reason.starts_with("line 2: not UTF-8")),
        ("csv", true)
    );
    let big = "w\n".repeat((1 << 19) + 1);
    let (_, reason) = invalid(e.import_vocabulary_text(&big).unwrap_err());
    assert!(reason.contains("1048578 bytes"), "{reason}");
    assert_eq!(std::fs::read(e.vocabulary_path()).unwrap(), before);
}

#[test]
fn the_store_works_on_its_own_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = VocabularyStore::at(dir.path().join("elsewhere.json"));
    let mut v = user_vocabulary();
    store.save(&v).unwrap();
    assert_eq!(store.load().unwrap(), v);
    v.terms.push("bad\u{0}".into());
    assert!(
        store.save(&v).is_err(),
        "an invalid vocabulary is never saved"
    );
    assert_eq!(store.load().unwrap(), user_vocabulary());
}
