//! `murmur vocab` end to end: the real binary in a private settings folder — adding,
//! listing (text and JSON), importing, removing, the errors it prints, and several
//! processes adding at once (the store's cross-process lock).

use std::path::Path;
use std::process::{Command, Output};

fn murmur(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_murmur"))
        .env("MURMUR_CONFIG_DIR", config)
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", config.join("hf"))
        .args(args)
        .output()
        .unwrap()
}

/// stdout of a command that must succeed.
fn ok(config: &Path, args: &[&str]) -> String {
    let out = murmur(config, args);
    assert!(
        out.status.success(),
        "murmur {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// stderr of a command that must fail.
fn fails(config: &Path, args: &[&str]) -> String {
    let out = murmur(config, args);
    assert!(!out.status.success(), "murmur {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn vocab_add_list_import_remove() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    assert!(ok(&conf, &["vocab"]).contains("the vocabulary is empty"));
    assert_eq!(ok(&conf, &["vocab", "add", "macos"]), "added term macos\n");
    assert_eq!(
        ok(&conf, &["vocab", "add", "macOS"]),
        "updated term macOS\n"
    );
    assert_eq!(
        ok(
            &conf,
            &[
                "vocab",
                "add",
                "--spoken",
                "murmur dot app",
                "--written",
                "Murmur.app"
            ]
        ),
        "added replacement murmur dot app → Murmur.app\n"
    );
    // Half a replacement, or nothing, is a usage error; a blank term the engine's.
    fails(&conf, &["vocab", "add", "--spoken", "x"]);
    fails(&conf, &["vocab", "add"]);
    assert!(fails(&conf, &["vocab", "add", " "]).contains("murmur: invalid term: is blank"));

    let csv = dir.path().join("names.csv");
    std::fs::write(
        &csv,
        "term\nDashwood\n\"Norland, Park\"\ndash would,Dashwood\n",
    )
    .unwrap();
    assert_eq!(
        ok(&conf, &["vocab", "import", csv.to_str().unwrap()]),
        format!(
            "imported {}: 2 terms and 1 replacement added, 0 updated, 0 unchanged\n",
            csv.display()
        )
    );
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "fine\none,two,three\n").unwrap();
    let err = fails(&conf, &["vocab", "import", bad.to_str().unwrap()]);
    assert!(
        err.contains(&format!("invalid {}: line 2: 3 fields", bad.display())),
        "{err}"
    );

    assert_eq!(
        ok(&conf, &["vocab", "list"]),
        "terms (3):\n  macOS\n  Dashwood\n  Norland, Park\n\
         replacements (2):\n  murmur dot app → Murmur.app\n  dash would → Dashwood\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&conf, &["vocab", "list", "--json"])).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "terms": ["macOS", "Dashwood", "Norland, Park"],
            "replacements": [
                {"spoken": "murmur dot app", "written": "Murmur.app"},
                {"spoken": "dash would", "written": "Dashwood"}
            ]
        })
    );
    // By the written form: the term and the replacement that writes it.
    assert_eq!(
        ok(&conf, &["vocab", "remove", "dashwood"]),
        "removed term Dashwood\nremoved replacement dash would → Dashwood\n"
    );
    assert!(
        fails(&conf, &["vocab", "remove", "dashwood"])
            .contains("no term or replacement is \"dashwood\"")
    );

    // A corrupt file is reported with its path and left alone.
    let file = conf.join("vocabulary.json");
    std::fs::write(&file, "{oops").unwrap();
    let err = fails(&conf, &["vocab", "add", "Elinor"]);
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{oops");
}

#[test]
fn processes_adding_at_once_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    let children: Vec<_> = (0..8)
        .map(|i| {
            let script = (0..5)
                .map(|j| {
                    format!(
                        "{} vocab add Name{i}x{j} >/dev/null || exit 1",
                        env!("CARGO_BIN_EXE_murmur")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .env("MURMUR_CONFIG_DIR", &conf)
                .env("HF_HUB_OFFLINE", "1")
                .env("HF_HOME", conf.join("hf"))
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let json: serde_json::Value =
        serde_json::from_str(&ok(&conf, &["vocab", "list", "--json"])).unwrap();
    assert_eq!(json["terms"].as_array().unwrap().len(), 40, "{json}");
}
