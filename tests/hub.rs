//! Downloads from a real HTTP server on 127.0.0.1 that speaks the Hub's protocol
//! (`murmur_tests::hub_server`), into a temporary Hugging Face cache: the layout Python
//! writes, progress, cancellation, resume, retries, auth, 404s, disk space, offline mode.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use murmur_core::catalog::{TEXT_FILES, TEXT_REQUIRED};
use murmur_core::hub::{DownloadProgress, Hub, HubConfig, RetryPolicy, SnapshotSpec};
use murmur_core::{CancelToken, Error};
use murmur_tests::hub_server::{Fault, FixtureFile, FixtureRepo, HubServer};
use murmur_tests::qwen3_tokenizer_dir;

fn goldens(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("goldens/llm")
        .join(name)
}

fn config(server: &HubServer, cache: &Path) -> HubConfig {
    HubConfig {
        cache_dir: cache.to_path_buf(),
        endpoint: server.endpoint(),
        token: None,
        offline: false,
        retry: RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
        },
        read_timeout: Duration::from_secs(10),
        progress_interval: Duration::ZERO,
        free_space: None,
    }
}

fn spec(repo: &FixtureRepo) -> SnapshotSpec {
    SnapshotSpec {
        repo: repo.id.clone(),
        revision: "main".into(),
        files: TEXT_FILES.iter().map(|s| s.to_string()).collect(),
        required: TEXT_REQUIRED.iter().map(|s| s.to_string()).collect(),
    }
}

/// The tiny Qwen3 golden model plus the real Qwen3 tokenizer, as the Hub would list them.
fn qwen3_repo(server: &HubServer, id: &str) -> FixtureRepo {
    let tok = qwen3_tokenizer_dir();
    server.add_repo_from_dir(
        id,
        &goldens("qwen3"),
        &[
            ("tokenizer.json", &tok.join("tokenizer.json")),
            ("tokenizer_config.json", &tok.join("tokenizer_config.json")),
        ],
    )
}

/// A repository with one 1 MiB weights file (deterministic bytes) and small text files.
fn weights_repo(server: &HubServer, id: &str) -> FixtureRepo {
    let weights: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    server.add_repo(
        id,
        vec![
            FixtureFile::new("config.json", r#"{"model_type":"qwen3"}"#),
            FixtureFile::new("model.safetensors", weights),
            FixtureFile::new("tokenizer.json", r#"{"model":{}}"#),
            FixtureFile::new("tokenizer_config.json", "{}"),
            FixtureFile::new("README.md", "not wanted"),
        ],
    )
}

#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<DownloadProgress>>>);

impl Recorder {
    fn callback(&self) -> impl FnMut(&DownloadProgress) + Send + use<> {
        let r = self.0.clone();
        move |p: &DownloadProgress| r.lock().unwrap().push(p.clone())
    }

    fn all(&self) -> Vec<DownloadProgress> {
        self.0.lock().unwrap().clone()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

#[test]
fn full_download_writes_the_huggingface_hub_layout() {
    let server = HubServer::start();
    let repo = qwen3_repo(&server, "mlx-community/Tiny-Qwen3-4bit");
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(config(&server, cache.path())).unwrap();
    let progress = Recorder::default();
    let snapshot = rt()
        .block_on(hub.download(&spec(&repo), &mut progress.callback(), &CancelToken::new()))
        .unwrap();

    // The exact files Python's huggingface_hub would leave for these allow-patterns.
    let wanted = [
        "config.json",
        "model.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ];
    let root = cache.path().join("models--mlx-community--Tiny-Qwen3-4bit");
    let mut expected: Vec<String> = vec![format!("refs/main")];
    for name in wanted {
        let f = repo.file(name);
        expected.push(format!("blobs/{}", f.etag()));
        expected.push(format!("snapshots/{}/{name}", repo.commit));
    }
    expected.sort();
    assert_eq!(
        tree(&root),
        expected,
        "golden.json is not a model file, and nothing is left .incomplete"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("refs/main")).unwrap(),
        repo.commit
    );
    for name in wanted {
        let f = repo.file(name);
        let link = root.join("snapshots").join(&repo.commit).join(name);
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("../../blobs").join(f.etag()),
            "{name}"
        );
        assert_eq!(std::fs::read(&link).unwrap(), f.bytes.as_ref(), "{name}");
        // LFS files are stored under their sha256, others under the git blob id.
        assert_eq!(f.etag().len(), if f.lfs { 64 } else { 40 });
    }
    assert!(repo.file("model.safetensors").lfs && !repo.file("config.json").lfs);
    assert!(
        cache
            .path()
            .join(".locks/models--mlx-community--Tiny-Qwen3-4bit")
            .is_dir()
    );

    assert_eq!(snapshot.commit, repo.commit);
    assert_eq!(snapshot.path, root.join("snapshots").join(&repo.commit));
    assert_eq!(snapshot.files, wanted.map(String::from).to_vec());
    let total: u64 = wanted.iter().map(|n| repo.file(n).bytes.len() as u64).sum();
    assert_eq!(snapshot.bytes, total);

    // Progress: overall bytes never go back, every report has the right total, it ends
    // at the total, and each file reports its end.
    let reports = progress.all();
    assert!(
        reports.len() >= wanted.len() * 2,
        "{} reports",
        reports.len()
    );
    assert!(
        reports.windows(2).all(|w| w[0].bytes <= w[1].bytes),
        "monotonic"
    );
    assert!(
        reports
            .iter()
            .all(|p| p.total == total && p.file_count == wanted.len())
    );
    let last = reports.last().unwrap();
    assert_eq!((last.bytes, last.fraction()), (total, 1.0));
    for name in wanted {
        let size = repo.file(name).bytes.len() as u64;
        assert!(
            reports
                .iter()
                .any(|p| p.file == name && p.file_bytes == size && p.file_total == size)
        );
    }

    // Again: complete in the cache, so only the listing is asked for.
    let before = server.file_requests().len();
    assert_eq!(before, wanted.len());
    let again = rt()
        .block_on(hub.download(&spec(&repo), &mut |_| {}, &CancelToken::new()))
        .unwrap();
    assert_eq!(again, snapshot);
    assert_eq!(server.file_requests().len(), before);
    assert_eq!(hub.local_snapshot(&spec(&repo)), Some(snapshot));
}

#[test]
fn cancel_mid_file_leaves_nothing_complete_and_the_next_download_resumes() {
    let server = HubServer::start();
    let repo = weights_repo(&server, "org/slow");
    server.throttle(16 << 10, Duration::from_millis(10));
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(config(&server, cache.path())).unwrap();
    let weights = repo.file("model.safetensors").clone();

    let cancel = CancelToken::new();
    let trigger = cancel.clone();
    let mut seen = Vec::new();
    let result = rt().block_on(hub.download(
        &spec(&repo),
        &mut |p: &DownloadProgress| {
            seen.push(p.clone());
            if p.file == "model.safetensors" && p.file_bytes >= 256 << 10 {
                trigger.cancel();
            }
        },
        &cancel,
    ));
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");

    let root = cache.path().join("models--org--slow");
    let partial = root
        .join("blobs")
        .join(format!("{}.incomplete", weights.sha256));
    let have = std::fs::metadata(&partial)
        .expect("the partial file stays for a resume")
        .len();
    assert!(
        have >= 256 << 10 && have < weights.bytes.len() as u64,
        "{have}"
    );
    assert_eq!(
        std::fs::read(&partial).unwrap(),
        &weights.bytes[..have as usize],
        "the partial bytes are right"
    );
    assert!(
        !root.join("refs").exists() && !root.join("snapshots").exists(),
        "nothing looks complete"
    );
    assert!(!root.join("blobs").join(&weights.sha256).exists());
    assert_eq!(hub.local_snapshot(&spec(&repo)), None);

    server.throttle(64 << 10, Duration::ZERO);
    let progress = Recorder::default();
    let snapshot = rt()
        .block_on(hub.download(&spec(&repo), &mut progress.callback(), &CancelToken::new()))
        .unwrap();
    let weights_requests: Vec<_> = server
        .file_requests()
        .into_iter()
        .filter(|r| r.path.ends_with("model.safetensors"))
        .collect();
    assert_eq!(weights_requests.len(), 2);
    assert_eq!(
        weights_requests[1].range.as_deref(),
        Some(format!("bytes={have}-").as_str())
    );
    assert_eq!(weights_requests[1].status, 206);
    assert_eq!(
        std::fs::read(snapshot.path.join("model.safetensors")).unwrap(),
        weights.bytes.as_ref()
    );
    assert!(!partial.exists());
    // The resumed download reports the bytes already there from its first report.
    let first_weights = progress
        .all()
        .into_iter()
        .find(|p| p.file == "model.safetensors")
        .unwrap();
    assert_eq!(first_weights.file_bytes, have);
}

#[test]
fn a_dropped_connection_is_resumed_with_range() {
    let server = HubServer::start();
    let repo = weights_repo(&server, "org/flaky");
    server.inject("model.safetensors", Fault::DropAfter(300_000), 1);
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(config(&server, cache.path())).unwrap();
    let progress = Recorder::default();
    let snapshot = rt()
        .block_on(hub.download(&spec(&repo), &mut progress.callback(), &CancelToken::new()))
        .unwrap();
    let weights = repo.file("model.safetensors");
    assert_eq!(
        std::fs::read(snapshot.path.join("model.safetensors")).unwrap(),
        weights.bytes.as_ref()
    );
    let requests: Vec<_> = server
        .file_requests()
        .into_iter()
        .filter(|r| r.path.ends_with("model.safetensors"))
        .collect();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].range, None);
    let resumed_at: u64 = requests[1]
        .range
        .as_deref()
        .unwrap()
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(resumed_at > 0 && resumed_at <= 300_000, "{resumed_at}");
    let reports = progress.all();
    assert!(
        reports.windows(2).all(|w| w[0].bytes <= w[1].bytes),
        "monotonic across the resume"
    );
    assert_eq!(reports.last().unwrap().bytes, reports.last().unwrap().total);
}

#[test]
fn server_errors_are_retried_then_reported() {
    let server = HubServer::start();
    let repo = weights_repo(&server, "org/unstable");
    server.inject("/config.json", Fault::Status(503), 2);
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(config(&server, cache.path())).unwrap();
    rt().block_on(hub.download(&spec(&repo), &mut |_| {}, &CancelToken::new()))
        .unwrap();
    let config_requests = |s: &HubServer| {
        s.file_requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/config.json"))
            .count()
    };
    assert_eq!(config_requests(&server), 3, "two 503s, then success");

    // Past the retries: a typed error naming the file, and no snapshot.
    let server = HubServer::start();
    let repo = weights_repo(&server, "org/down");
    server.inject("model.safetensors", Fault::Status(500), 10);
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(config(&server, cache.path())).unwrap();
    let err = rt()
        .block_on(hub.download(&spec(&repo), &mut |_| {}, &CancelToken::new()))
        .unwrap_err();
    match &err {
        Error::Download { repo, file, reason } => {
            assert_eq!(
                (repo.as_str(), file.as_str()),
                ("org/down", "model.safetensors")
            );
            assert!(reason.contains("500"), "{reason}");
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(
        server
            .file_requests()
            .into_iter()
            .filter(|r| r.path.ends_with("model.safetensors"))
            .count(),
        4,
        "one attempt and three retries"
    );
    assert_eq!(hub.local_snapshot(&spec(&repo)), None);
}

#[test]
fn a_corrupt_transfer_fails_the_sha256_check() {
    let server = HubServer::start();
    let mut file = FixtureFile::new("model.safetensors", vec![7u8; 50_000]);
    file.sha256 = "0".repeat(64); // the listing promises other bytes
    let repo = server.add_repo(
        "org/corrupt",
        vec![
            FixtureFile::new("config.json", "{}"),
            file,
            FixtureFile::new("tokenizer.json", "{}"),
            FixtureFile::new("tokenizer_config.json", "{}"),
        ],
    );
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = config(&server, cache.path());
    cfg.retry.max_retries = 1;
    let hub = Hub::new(cfg).unwrap();
    let err = rt()
        .block_on(hub.download(&spec(&repo), &mut |_| {}, &CancelToken::new()))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Download { reason, .. } if reason.contains("sha256 mismatch")),
        "{err:?}"
    );
    let blobs = cache.path().join("models--org--corrupt/blobs");
    assert!(
        !blobs.join("0".repeat(64)).exists()
            && !blobs
                .join(format!("{}.incomplete", "0".repeat(64)))
                .exists()
    );
    assert_eq!(hub.local_snapshot(&spec(&repo)), None);
}

#[test]
fn a_gated_repo_needs_the_token_which_is_sent_as_bearer_and_never_shown() {
    const TOKEN: &str = "hf_murmur_test_secret_token";
    let server = HubServer::start();
    let repo = weights_repo(&server, "org/gated");
    server.gate("org/gated", TOKEN);
    let cache = tempfile::tempdir().unwrap();

    let hub = Hub::new(config(&server, cache.path())).unwrap();
    let err = rt()
        .block_on(hub.download(&spec(&repo), &mut |_| {}, &CancelToken::new()))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unauthorized { repo } if repo == "org/gated"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("HF_TOKEN"),
        "the message says what to do: {err}"
    );

    let mut cfg = config(&server, cache.path());
    cfg.token = Some("hf_wrong".into());
    let err = rt()
        .block_on(
            Hub::new(cfg)
                .unwrap()
                .download(&spec(&repo), &mut |_| {}, &CancelToken::new()),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }));
    assert!(!format!("{err} {err:?}").contains("hf_wrong"));

    let mut cfg = config(&server, cache.path());
    cfg.token = Some(TOKEN.into());
    assert!(
        !format!("{cfg:?}").contains(TOKEN),
        "Debug redacts the token"
    );
    let hub = Hub::new(cfg).unwrap();
    let before = server.requests().len();
    rt().block_on(hub.download(&spec(&repo), &mut |_| {}, &CancelToken::new()))
        .unwrap();
    let authed = &server.requests()[before..];
    assert!(authed.len() >= 5, "{authed:?}");
    for r in authed {
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{}",
            r.path
        );
    }
}

#[test]
fn missing_repos_revisions_and_files_are_not_found() {
    let server = HubServer::start();
    let repo = weights_repo(&server, "org/present");
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(config(&server, cache.path())).unwrap();
    let run =
        |spec: &SnapshotSpec| rt().block_on(hub.download(spec, &mut |_| {}, &CancelToken::new()));

    let mut missing = spec(&repo);
    missing.repo = "org/absent".into();
    assert!(
        matches!(run(&missing), Err(Error::NotFound { repo, file }) if repo == "org/absent" && file.is_empty())
    );

    let mut bad_rev = spec(&repo);
    bad_rev.revision = "v9".into();
    assert!(matches!(run(&bad_rev), Err(Error::NotFound { .. })));

    // A file the model cannot do without is not in the repository.
    let mut needs_more = spec(&repo);
    needs_more.required.push("chat_template.jinja".into());
    assert!(
        matches!(run(&needs_more), Err(Error::NotFound { file, .. }) if file == "chat_template.jinja")
    );

    // A listed file the server then says is gone.
    server.inject("tokenizer.json", Fault::Status(404), 1);
    assert!(
        matches!(run(&spec(&repo)), Err(Error::NotFound { file, .. }) if file == "tokenizer.json")
    );
    assert_eq!(hub.local_snapshot(&spec(&repo)), None);
}

#[test]
fn not_enough_disk_space_is_refused_before_any_transfer() {
    let server = HubServer::start();
    let repo = weights_repo(&server, "org/big");
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = config(&server, cache.path());
    let probed = Arc::new(Mutex::new(None));
    let p = probed.clone();
    cfg.free_space = Some(Arc::new(move |path: &Path| {
        *p.lock().unwrap() = Some(path.to_path_buf());
        Ok(50_000_000)
    }));
    let hub = Hub::new(cfg).unwrap();
    let err = rt()
        .block_on(hub.download(&spec(&repo), &mut |_| {}, &CancelToken::new()))
        .unwrap_err();
    let wanted = repo.total_bytes() - repo.file("README.md").bytes.len() as u64;
    match err {
        Error::InsufficientDisk { needed, available } => {
            assert_eq!(needed, wanted + 100_000_000, "size + 100 MB");
            assert_eq!(available, 50_000_000);
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(probed.lock().unwrap().as_deref(), Some(cache.path()));
    assert!(server.file_requests().is_empty(), "nothing was transferred");
}

#[test]
fn offline_mode_serves_a_complete_cache_without_network() {
    let server = HubServer::start();
    let repo = weights_repo(&server, "org/cached");
    let other = weights_repo(&server, "org/never-downloaded");
    let cache = tempfile::tempdir().unwrap();
    let online = Hub::new(config(&server, cache.path())).unwrap();
    let snapshot = rt()
        .block_on(online.download(&spec(&repo), &mut |_| {}, &CancelToken::new()))
        .unwrap();
    let mut cfg = config(&server, cache.path());
    drop(server);
    // No network from here on: nothing listens on port 1.
    cfg.endpoint = "http://127.0.0.1:1".into();
    cfg.offline = true;
    let offline = Hub::new(cfg.clone()).unwrap();
    let cached = rt()
        .block_on(offline.download(&spec(&repo), &mut |_| {}, &CancelToken::new()))
        .unwrap();
    assert_eq!(cached, snapshot);
    let err = rt()
        .block_on(offline.download(&spec(&other), &mut |_| {}, &CancelToken::new()))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Offline { repo } if repo == "org/never-downloaded"),
        "{err:?}"
    );
    assert!(matches!(
        rt().block_on(offline.repo_info("org/cached", "main", &CancelToken::new())),
        Err(Error::Offline { .. })
    ));

    // Online but the Hub is failing: like huggingface_hub, a complete cached copy will do.
    let server = HubServer::start();
    server.add_repo(&repo.id, repo.files.clone());
    server.add_repo(&other.id, other.files.clone());
    server.inject("/api/models/", Fault::Status(502), 100);
    // The cached repository comes from the cache; the other fails with `why`.
    let cached_only = |hub: &Hub, why: &str| {
        let get = |r: &FixtureRepo| {
            rt().block_on(hub.download(&spec(r), &mut |_| {}, &CancelToken::new()))
        };
        assert_eq!(get(&repo).unwrap(), snapshot);
        let err = get(&other).unwrap_err();
        assert!(
            matches!(&err, Error::Download { reason, .. } if reason.contains(why)),
            "{err:?}"
        );
    };
    cached_only(&Hub::new(config(&server, cache.path())).unwrap(), "502");

    // Online but unreachable: the same, and anything else is a download error saying the
    // Hub cannot be reached.
    cfg.offline = false;
    cached_only(&Hub::new(cfg).unwrap(), "cannot be reached");
}

/// Python's `huggingface_hub` and Murmur share one cache: Python downloads through the
/// same server into one cache and reads Murmur's offline, and the two trees are
/// identical. Needs a Python with huggingface_hub, so a plain `cargo test` skips it;
/// scripts/test.sh runs it (`--include-ignored`, with MURMUR_PYTHON from
/// scripts/py-hub.sh).
#[test]
#[ignore = "needs MURMUR_PYTHON, a Python with huggingface_hub"]
fn python_huggingface_hub_shares_the_cache() {
    let python =
        std::env::var("MURMUR_PYTHON").expect("set MURMUR_PYTHON to a Python with huggingface_hub");
    let server = HubServer::start();
    let repo = qwen3_repo(&server, "mlx-community/Tiny-Qwen3-4bit");
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let hub = Hub::new(config(&server, ours.path())).unwrap();
    let snapshot = rt()
        .block_on(hub.download(&spec(&repo), &mut |_| {}, &CancelToken::new()))
        .unwrap();

    let patterns = serde_json::to_string(TEXT_FILES).unwrap();
    let script = format!(
        "import json, sys\nfrom huggingface_hub import snapshot_download\n\
         p = snapshot_download('{id}', allow_patterns=json.loads('{patterns}'), cache_dir=sys.argv[1])\n\
         q = snapshot_download('{id}', allow_patterns=json.loads('{patterns}'), cache_dir=sys.argv[2], local_files_only=True)\n\
         print(p); print(q)",
        id = repo.id
    );
    let out = std::process::Command::new(python)
        .args([
            "-c",
            &script,
            theirs.path().to_str().unwrap(),
            ours.path().to_str().unwrap(),
        ])
        .env("HF_ENDPOINT", server.endpoint())
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_XET", "1")
        .env_remove("HF_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        Path::new(lines[1]),
        snapshot.path,
        "Python finds Murmur's snapshot offline"
    );
    let folder = "models--mlx-community--Tiny-Qwen3-4bit";
    // huggingface_hub ≥ 2 also caches the listing in `trees/<commit>.json`.
    let python_tree: Vec<String> = tree(&theirs.path().join(folder))
        .into_iter()
        .filter(|p| !p.starts_with("trees/"))
        .collect();
    assert_eq!(
        python_tree,
        tree(&ours.path().join(folder)),
        "identical layouts"
    );
    for f in &snapshot.files {
        let rel = Path::new("snapshots").join(&repo.commit).join(f);
        assert_eq!(
            std::fs::read_link(theirs.path().join(folder).join(&rel)).unwrap(),
            std::fs::read_link(ours.path().join(folder).join(&rel)).unwrap(),
            "{f}"
        );
    }
    // And Murmur, offline, finds Python's download complete.
    let mut cfg = config(&server, theirs.path());
    cfg.offline = true;
    let from_python = Hub::new(cfg)
        .unwrap()
        .local_snapshot(&spec(&repo))
        .expect("complete");
    assert_eq!(from_python.files, snapshot.files);
}

/// Names that would leave the cache are refused wherever they come from: a revision the
/// user typed, a ref file's contents, a file name in the Hub's listing.
#[test]
fn names_that_would_leave_the_cache_are_refused() {
    let server = HubServer::start();
    let repo = qwen3_repo(&server, "org/model");
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(config(&server, cache.path())).unwrap();

    // A revision like `../../..` never reaches the network or the file system.
    let traversal = SnapshotSpec {
        revision: "../../..".into(),
        ..spec(&repo)
    };
    let err = rt()
        .block_on(hub.download(&traversal, &mut |_| {}, &CancelToken::new()))
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument { ref name, .. } if name == "revision"),
        "{err}"
    );
    assert!(server.requests().is_empty(), "nothing was asked of the Hub");
    assert_eq!(hub.local_snapshot(&traversal), None);

    // A ref file pointing outside `snapshots/` is not believed: the snapshot is not found
    // there, and a fresh download writes a correct ref.
    let snapshot = rt()
        .block_on(hub.download(&spec(&repo), &mut |_| {}, &CancelToken::new()))
        .unwrap();
    let refs = cache.path().join("models--org--model/refs/main");
    std::fs::write(&refs, "../../../../tmp").unwrap();
    assert_eq!(hub.local_snapshot(&spec(&repo)), None);
    let again = rt()
        .block_on(hub.download(&spec(&repo), &mut |_| {}, &CancelToken::new()))
        .unwrap();
    assert_eq!(again, snapshot);
    assert_eq!(std::fs::read_to_string(&refs).unwrap(), repo.commit);

    // A listing with a file name that climbs out of the snapshot is refused whole.
    let evil = server.add_repo(
        "org/evil",
        vec![
            FixtureFile::new("config.json", r#"{"model_type":"qwen3"}"#),
            FixtureFile::new("../../../../escaped.json", "{}"),
        ],
    );
    let err = rt()
        .block_on(hub.download(&spec(&evil), &mut |_| {}, &CancelToken::new()))
        .unwrap_err();
    assert!(matches!(err, Error::Download { .. }), "{err}");
    assert!(
        err.to_string().contains("not a plain relative path"),
        "{err}"
    );
    assert!(!cache.path().join("escaped.json").exists());
    assert!(!cache.path().parent().unwrap().join("escaped.json").exists());
}
