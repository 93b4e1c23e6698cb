//! Every committed fuzz corpus (`tests/fuzz/corpus/<target>/`), replayed through its
//! harness on stable Rust: the inputs the fuzzer found interesting, crashes it once found
//! among them, keep passing. `scripts/fuzz.sh` runs the fuzzer itself (nightly).

use std::path::Path;

use murmur_tests::fuzz::TARGETS;

#[test]
fn every_corpus_file_replays_without_a_crash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, harness) in TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every target has a corpus)", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} is empty", dir.display());
        for file in &files {
            let data = std::fs::read(file).unwrap();
            eprintln!("{name}: {}", file.display());
            harness(&data);
        }
        eprintln!("{name}: {} inputs replayed", files.len());
    }
}
