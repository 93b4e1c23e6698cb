//! The engine end to end on real models served by a Hub look-alike on 127.0.0.1: the
//! state machine and events of the Python sidecars Murmur replaces (see core's crate docs), on-demand loading with a real refine (SmolLM2-135M,
//! GGUF), one shared load for concurrent callers, busy refusals, idle unload and reload,
//! failures that keep the previous state, offline mode; a Whisper model (CTranslate2
//! layout, as Systran's repositories hold it) transcribing beside the text model.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use murmur_core::audio::AudioInput;
use murmur_core::catalog::{AddModel, Capability};
use murmur_core::engine::{Event, ModelState, UnloadReason};
use murmur_core::hub::RetryPolicy;
use murmur_core::refine::{RefineMode, RefineOptions};
use murmur_core::transcribe::TranscribeOptions;
use murmur_core::{CancelToken, Engine, EngineConfig, Error};
use murmur_tests::hub_server::{FixtureFile, FixtureRepo, HubServer};
use murmur_tests::{fixture, qwen3_tokenizer_dir, smollm2_gguf};
use tokio::sync::broadcast;

const SMOL_REPO: &str = "test-org/SmolLM2-135M-Instruct-GGUF";
const QWEN_REPO: &str = "test-org/Tiny-Qwen3-4bit";
const WHISPER_REPO: &str = "test-org/faster-whisper-base";
const JFK: &str = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

/// The SmolLM2 GGUF read and hashed once for every server in this binary.
fn smollm2_file() -> FixtureFile {
    static FILE: OnceLock<FixtureFile> = OnceLock::new();
    FILE.get_or_init(|| {
        FixtureFile::new(
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            std::fs::read(smollm2_gguf()).unwrap(),
        )
    })
    .clone()
}

/// Whisper base in the CTranslate2 layout, read and hashed once.
fn whisper_files() -> Vec<FixtureFile> {
    static FILES: OnceLock<Vec<FixtureFile>> = OnceLock::new();
    FILES
        .get_or_init(|| {
            let dir = fixture("whisper-base-ct2");
            [
                "config.json",
                "model.bin",
                "tokenizer.json",
                "vocabulary.txt",
            ]
            .into_iter()
            .map(|name| FixtureFile::new(name, std::fs::read(dir.join(name)).unwrap()))
            .collect()
        })
        .clone()
}

struct World {
    server: HubServer,
    dir: tempfile::TempDir,
    smol: FixtureRepo,
}

impl World {
    fn new() -> Self {
        let server = HubServer::start();
        let smol = server.add_repo(
            SMOL_REPO,
            vec![smollm2_file(), FixtureFile::new("README.md", "SmolLM2")],
        );
        let mut whisper = whisper_files();
        whisper.push(FixtureFile::new("README.md", "faster-whisper base"));
        server.add_repo(WHISPER_REPO, whisper);
        let tok = qwen3_tokenizer_dir();
        let goldens = Path::new(env!("CARGO_MANIFEST_DIR")).join("goldens/llm/qwen3");
        server.add_repo_from_dir(
            QWEN_REPO,
            &goldens,
            &[
                ("tokenizer.json", &tok.join("tokenizer.json")),
                ("tokenizer_config.json", &tok.join("tokenizer_config.json")),
            ],
        );
        Self {
            server,
            dir: tempfile::tempdir().unwrap(),
            smol,
        }
    }

    fn config(&self) -> EngineConfig {
        let mut c = EngineConfig::from_env();
        c.hub.cache_dir = self.dir.path().join("hub");
        c.hub.endpoint = self.server.endpoint();
        c.hub.token = None;
        c.hub.offline = false;
        c.hub.retry = RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        };
        c.hub.free_space = None;
        c.config_dir = self.dir.path().join("config");
        c.idle_unload = None;
        c.default_model = None;
        c.ram_bytes = Some(8 << 30);
        c.load_hook = None;
        c
    }

    /// An engine knowing the test models as user models `smol`, `qwen-tiny` and
    /// `whisper`.
    fn engine(&self, config: EngineConfig) -> Engine {
        let engine = Engine::new(config).unwrap();
        if engine.resolve("smol").is_err() {
            for (repo, id, files) in [
                (SMOL_REPO, "smol", Some(vec!["*.gguf".to_string()])),
                (QWEN_REPO, "qwen-tiny", None),
                (WHISPER_REPO, "whisper", None),
            ] {
                engine
                    .add_model(&AddModel {
                        source: repo.into(),
                        id: Some(id.into()),
                        capability: None,
                        files,
                    })
                    .unwrap();
            }
        }
        engine
    }
}

fn opts(max_tokens: usize) -> RefineOptions {
    RefineOptions {
        mode: RefineMode::FixGrammar,
        // Greedy: sampled tokens differ between CPUs' float paths, and these tests
        // must not depend on which machine runs them.
        temperature: 0.0,
        seed: Some(7),
        max_tokens: Some(max_tokens),
        ..RefineOptions::default()
    }
}

/// Make every load of `id` wait on its thread (up to 30 s) for a message on the returned
/// sender; the counter counts those loads.
fn hold_loads_of(
    config: &mut EngineConfig,
    id: &'static str,
) -> (mpsc::Sender<()>, Arc<Mutex<usize>>) {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let calls = Arc::new(Mutex::new(0));
    let c = calls.clone();
    config.load_hook = Some(Arc::new(move |loading: &str| {
        if loading == id {
            *c.lock().unwrap() += 1;
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
        }
    }));
    (release_tx, calls)
}

/// Wait (bounded) for the first event matching `f`, returning the events seen.
async fn wait_for(
    rx: &mut broadcast::Receiver<Event>,
    what: &str,
    f: impl Fn(&Event) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) => {
                let hit = f(&e);
                seen.push(e);
                if hit {
                    return seen;
                }
            }
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("event stream ended waiting for {what}: {e}"),
            Err(_) => panic!("no {what} within 60 s; saw {seen:?}"),
        }
    }
}

fn drain(rx: &mut broadcast::Receiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_then_refine_on_demand_then_unload() {
    let world = World::new();
    let engine = world.engine(world.config());
    let mut events = engine.subscribe();
    let smol = engine.model("smol").unwrap();
    assert_eq!(smol.state, ModelState::NotDownloaded);
    assert_eq!(smol.model.capabilities, vec![Capability::Text]);
    assert!(!smol.model.builtin);

    let mut fractions = Vec::new();
    let status = engine
        .download(
            "smol",
            |p| fractions.push(p.fraction()),
            &CancelToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(status.state, ModelState::Downloaded);
    let gguf = smollm2_file();
    let path = status.path.clone().unwrap();
    assert_eq!(
        path,
        world.dir.path().join(format!(
            "hub/models--test-org--SmolLM2-135M-Instruct-GGUF/snapshots/{}",
            world.smol.commit
        ))
    );
    assert!(
        !path.join("README.md").exists(),
        "only the files the model needs"
    );
    assert_eq!(
        std::fs::metadata(path.join(&gguf.path)).unwrap().len(),
        gguf.bytes.len() as u64
    );
    assert_eq!(
        engine.model("smol").unwrap().model.download_bytes,
        Some(gguf.bytes.len() as u64),
        "learnt and saved"
    );
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]) && fractions.last() == Some(&1.0));

    let seen = drain(&mut events);
    assert_eq!(
        seen.first(),
        Some(&Event::DownloadStarted {
            model_id: "smol".into()
        })
    );
    assert!(
        matches!(seen.last(), Some(Event::DownloadCompleted { model_id, bytes }) if model_id == "smol" && *bytes == gguf.bytes.len() as u64)
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::DownloadProgress { progress, .. } if *progress == 1.0))
    );

    // Refine loads on demand, streams, and leaves the model ready.
    let streamed = Arc::new(Mutex::new(String::new()));
    let sink = streamed.clone();
    let result = engine
        .refine(
            Some("smol"),
            "i has went to the store",
            &opts(6),
            move |t| sink.lock().unwrap().push_str(t),
            &CancelToken::new(),
        )
        .await
        .unwrap();
    assert!(!result.text.is_empty());
    assert_eq!(streamed.lock().unwrap().trim(), result.text);
    let seen = drain(&mut events);
    assert!(
        matches!(&seen[..], [Event::LoadingStarted { model_id }, Event::LoadingCompleted { model_id: done, .. }] if model_id == "smol" && done == "smol"),
        "{seen:?}"
    );
    assert_eq!(engine.model("smol").unwrap().state, ModelState::Ready);
    let status = engine.status();
    assert_eq!(status.loaded.as_deref(), Some("smol"));
    assert!(!status.in_use);
    assert!(
        status.memory.active_bytes > 0 && status.memory.peak_bytes >= status.memory.active_bytes
    );

    // `None` means the loaded model; the second refine does not load again.
    engine
        .refine(
            None,
            "me and him goes",
            &opts(2),
            |_| {},
            &CancelToken::new(),
        )
        .await
        .unwrap();
    assert!(
        !drain(&mut events)
            .iter()
            .any(|e| matches!(e, Event::LoadingStarted { .. }))
    );

    assert_eq!(engine.unload().await.unwrap(), ["smol"]);
    assert_eq!(
        drain(&mut events),
        [Event::Unloaded {
            model_id: "smol".into(),
            reason: UnloadReason::Requested
        }]
    );
    assert_eq!(engine.model("smol").unwrap().state, ModelState::Downloaded);
    assert_eq!(engine.status().loaded, None);

    // Deleting: back to NotDownloaded, the repository folder gone.
    engine.delete("smol").await.unwrap();
    assert_eq!(
        engine.model("smol").unwrap().state,
        ModelState::NotDownloaded
    );
    assert!(
        !world
            .dir
            .path()
            .join("hub/models--test-org--SmolLM2-135M-Instruct-GGUF")
            .exists()
    );
    assert!(matches!(
        engine.refine(Some("smol"), "text", &opts(4), |_| {}, &CancelToken::new()).await,
        Err(Error::NotDownloaded { model }) if model == "smol"
    ));
    // Deleting what is not there says so rather than "deleted".
    assert!(matches!(
        engine.delete("smol").await,
        Err(Error::NotDownloaded { model }) if model == "smol"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_loads_share_one_and_busy_models_refuse_delete() {
    let world = World::new();
    let engine = world.engine(world.config());
    engine
        .download("qwen-tiny", |_| {}, &CancelToken::new())
        .await
        .unwrap();

    // Hold the load open on its thread until we let it go.
    let mut config = world.config();
    let (release_tx, calls) = hold_loads_of(&mut config, "qwen-tiny");
    let engine = world.engine(config);
    let mut events = engine.subscribe();
    let first = tokio::spawn({
        let e = engine.clone();
        async move { e.load("qwen-tiny", &CancelToken::new()).await }
    });
    let mut seen = wait_for(&mut events, "loading_started", |e| {
        matches!(e, Event::LoadingStarted { .. })
    })
    .await;
    let second = tokio::spawn({
        let e = engine.clone();
        async move { e.load("Tiny-Qwen3-4bit", &CancelToken::new()).await }
    });

    assert_eq!(
        engine.model("qwen-tiny").unwrap().state,
        ModelState::Loading
    );
    assert_eq!(engine.status().loading.as_deref(), Some("qwen-tiny"));
    let err = engine.delete("qwen-tiny").await.unwrap_err();
    assert!(
        matches!(&err, Error::Busy { model, state } if model == "qwen-tiny" && state == "loading"),
        "{err:?}"
    );
    let err = engine
        .download("qwen-tiny", |_| {}, &CancelToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Busy { .. }));

    release_tx.send(()).unwrap();
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    assert_eq!(*calls.lock().unwrap(), 1, "one load for both callers");
    seen.extend(drain(&mut events));
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, Event::LoadingStarted { .. }))
            .count(),
        1,
        "{seen:?}"
    );
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, Event::LoadingCompleted { .. }))
            .count(),
        1
    );
    assert_eq!(engine.model("qwen-tiny").unwrap().state, ModelState::Ready);

    // A model working on a call refuses delete; an idle loaded one is unloaded and
    // deleted.
    engine
        .download("smol", |_| {}, &CancelToken::new())
        .await
        .unwrap();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let working = tokio::spawn({
        let e = engine.clone();
        async move {
            let mut first = true;
            // Several tokens, so visible text arrives even if the first is held back.
            let opts = opts(8);
            e.refine(
                Some("smol"),
                "she dont like it",
                &opts,
                move |_| {
                    if first {
                        first = false;
                        let _ = started_tx.send(());
                        let _ = go_rx.recv_timeout(Duration::from_secs(30));
                    }
                },
                &CancelToken::new(),
            )
            .await
        }
    });
    let started =
        tokio::task::spawn_blocking(move || started_rx.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap();
    if started.is_err() {
        panic!("the call never streamed text: {:?}", working.await.unwrap());
    }
    let unloaded_qwen = drain(&mut events);
    assert!(
        unloaded_qwen.contains(&Event::Unloaded {
            model_id: "qwen-tiny".into(),
            reason: UnloadReason::Replaced
        }),
        "one text model at a time: {unloaded_qwen:?}"
    );
    assert!(engine.model("smol").unwrap().in_use && engine.status().in_use);
    let err = engine.delete("smol").await.unwrap_err();
    assert!(
        matches!(&err, Error::Busy { state, .. } if state == "in use"),
        "{err:?}"
    );
    // A second call queues behind the first; cancelling it while it waits ends it.
    let cancel = CancelToken::new();
    let queued = tokio::spawn({
        let (e, cancel) = (engine.clone(), cancel.clone());
        async move {
            e.refine(Some("smol"), "two", &opts(2), |_| {}, &cancel)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!queued.is_finished(), "calls on one model are serialized");
    cancel.cancel();
    let queued = tokio::time::timeout(Duration::from_secs(5), queued)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(queued, Err(Error::Cancelled)), "{queued:?}");

    go_tx.send(()).unwrap();
    working.await.unwrap().unwrap();
    assert!(!engine.model("smol").unwrap().in_use);
    engine.delete("smol").await.unwrap();
    let seen = drain(&mut events);
    assert_eq!(
        seen,
        [
            Event::Unloaded {
                model_id: "smol".into(),
                reason: UnloadReason::Deleted
            },
            Event::Deleted {
                model_id: "smol".into()
            }
        ]
    );
    assert_eq!(engine.status().loaded, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_load_returns_at_once_and_drops_what_it_read() {
    let world = World::new();
    let engine = world.engine(world.config());
    for id in ["qwen-tiny", "smol"] {
        engine
            .download(id, |_| {}, &CancelToken::new())
            .await
            .unwrap();
    }
    // Hold qwen-tiny's reading open on its thread until we let it go.
    let mut config = world.config();
    let (release_tx, _) = hold_loads_of(&mut config, "qwen-tiny");
    let engine = world.engine(config);
    engine.load("smol", &CancelToken::new()).await.unwrap();

    // Cancelled before it starts: nothing happens, the loaded model stays.
    let cancelled = CancelToken::new();
    cancelled.cancel();
    assert!(matches!(
        engine.load("qwen-tiny", &cancelled).await,
        Err(Error::Cancelled)
    ));
    assert_eq!(engine.status().loaded.as_deref(), Some("smol"));

    // Cancelled while reading: the call returns at once, the reading ends on its thread
    // and is dropped.
    let mut events = engine.subscribe();
    let cancel = CancelToken::new();
    let load = tokio::spawn({
        let (e, cancel) = (engine.clone(), cancel.clone());
        async move { e.load("qwen-tiny", &cancel).await }
    });
    wait_for(&mut events, "loading_started", |e| {
        matches!(e, Event::LoadingStarted { .. })
    })
    .await;
    cancel.cancel();
    let returned = tokio::time::timeout(Duration::from_secs(5), load)
        .await
        .expect("the call returns while the reading is still held")
        .unwrap();
    assert!(matches!(returned, Err(Error::Cancelled)), "{returned:?}");
    assert_eq!(
        engine.model("qwen-tiny").unwrap().state,
        ModelState::Loading,
        "still reading"
    );
    assert!(matches!(
        engine.delete("qwen-tiny").await,
        Err(Error::Busy { .. })
    ));
    release_tx.send(()).unwrap();
    let seen = wait_for(
        &mut events,
        "unloaded",
        |e| matches!(e, Event::Unloaded { model_id, .. } if model_id == "qwen-tiny"),
    )
    .await;
    assert!(
        matches!(
            seen.last(),
            Some(Event::Unloaded {
                reason: UnloadReason::Cancelled,
                ..
            })
        ),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::LoadingCompleted { .. })),
        "{seen:?}"
    );
    assert_eq!(
        engine.model("qwen-tiny").unwrap().state,
        ModelState::Downloaded
    );
    assert_eq!(engine.model("qwen-tiny").unwrap().last_error, None);
    assert_eq!(engine.status().loaded, None, "smol made room for it");

    // Nothing is left behind: the next load reads it afresh.
    release_tx.send(()).unwrap();
    engine.load("qwen-tiny", &CancelToken::new()).await.unwrap();
    assert_eq!(engine.model("qwen-tiny").unwrap().state, ModelState::Ready);
    assert_eq!(engine.status().loaded.as_deref(), Some("qwen-tiny"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_unload_fires_after_the_last_use_and_the_next_call_reloads() {
    let world = World::new();
    let mut config = world.config();
    config.idle_unload = Some(Duration::from_millis(1500));
    let engine = world.engine(config);
    engine
        .download("qwen-tiny", |_| {}, &CancelToken::new())
        .await
        .unwrap();
    let mut events = engine.subscribe();
    engine.load("qwen-tiny", &CancelToken::new()).await.unwrap();
    let loaded_at = Instant::now();

    // Each use restarts the timer: keep using it for longer than the timeout.
    while loaded_at.elapsed() < Duration::from_millis(2500) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        engine.load("qwen-tiny", &CancelToken::new()).await.unwrap();
    }
    let last_use = Instant::now();
    assert!(
        !drain(&mut events)
            .iter()
            .any(|e| matches!(e, Event::Unloaded { .. })),
        "unloaded while in use"
    );
    assert_eq!(engine.model("qwen-tiny").unwrap().state, ModelState::Ready);

    let seen = wait_for(&mut events, "the idle unload", |e| {
        matches!(e, Event::Unloaded { .. })
    })
    .await;
    assert_eq!(
        seen.last(),
        Some(&Event::Unloaded {
            model_id: "qwen-tiny".into(),
            reason: UnloadReason::Idle
        })
    );
    assert!(
        last_use.elapsed() >= Duration::from_millis(1500),
        "not before the timeout"
    );
    assert_eq!(
        engine.model("qwen-tiny").unwrap().state,
        ModelState::Downloaded
    );
    assert_eq!(engine.status().loaded, None);

    engine.load("qwen-tiny", &CancelToken::new()).await.unwrap();
    let seen = drain(&mut events);
    assert!(
        seen.iter().any(
            |e| matches!(e, Event::LoadingCompleted { model_id, .. } if model_id == "qwen-tiny")
        )
    );
    assert_eq!(engine.model("qwen-tiny").unwrap().state, ModelState::Ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_can_be_cancelled_and_is_refused_to_delete_meanwhile() {
    let world = World::new();
    world.server.throttle(256 << 10, Duration::from_millis(20));
    let engine = world.engine(world.config());
    let mut events = engine.subscribe();
    let running = tokio::spawn({
        let e = engine.clone();
        async move { e.download("smol", |_| {}, &CancelToken::new()).await }
    });
    wait_for(
        &mut events,
        "download progress",
        |e| matches!(e, Event::DownloadProgress { detail, .. } if detail.file_bytes > 0),
    )
    .await;
    let status = engine.model("smol").unwrap();
    assert_eq!(status.state, ModelState::Downloading);
    assert!(status.progress.is_some());
    assert_eq!(engine.status().downloads.len(), 1);
    let err = engine.delete("smol").await.unwrap_err();
    assert!(
        matches!(&err, Error::Busy { state, .. } if state == "downloading"),
        "{err:?}"
    );
    assert!(matches!(
        engine.load("smol", &CancelToken::new()).await,
        Err(Error::NotDownloaded { .. })
    ));

    assert!(engine.cancel_download("smol"));
    assert!(matches!(running.await.unwrap(), Err(Error::Cancelled)));
    wait_for(&mut events, "download_cancelled", |e| {
        matches!(e, Event::DownloadCancelled { .. })
    })
    .await;
    let status = engine.model("smol").unwrap();
    assert_eq!(status.state, ModelState::NotDownloaded, "back where it was");
    assert!(
        status.disk_bytes > 0,
        "the partial download stays for a resume"
    );
    assert_eq!(status.last_error, None, "a cancel is not a failure");

    world.server.throttle(1 << 20, Duration::ZERO);
    engine
        .download("smol", |_| {}, &CancelToken::new())
        .await
        .unwrap();
    let ranged = world
        .server
        .file_requests()
        .into_iter()
        .filter(|r| r.range.is_some())
        .count();
    assert_eq!(ranged, 1, "the second download resumed");
    assert_eq!(engine.model("smol").unwrap().state, ModelState::Downloaded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_keep_the_previous_state_and_report_the_error() {
    let world = World::new();
    world.server.gate(SMOL_REPO, "hf_engine_test_token");
    let engine = world.engine(world.config());
    let mut events = engine.subscribe();

    let err = engine
        .download("smol", |_| {}, &CancelToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let status = engine.model("smol").unwrap();
    assert_eq!(status.state, ModelState::NotDownloaded);
    assert_eq!(status.last_error.as_deref(), Some(err.to_string().as_str()));
    let seen = wait_for(&mut events, "error", |e| matches!(e, Event::Error { .. })).await;
    assert!(
        matches!(seen.last(), Some(Event::Error { model_id, error }) if model_id == "smol" && error.contains("HF_TOKEN"))
    );

    // With the token it works, and the error is cleared.
    let mut config = world.config();
    config.hub.token = Some("hf_engine_test_token".into());
    let engine = world.engine(config);
    engine
        .download("smol", |_| {}, &CancelToken::new())
        .await
        .unwrap();
    assert_eq!(engine.model("smol").unwrap().last_error, None);

    // A local folder that is not a loadable model: Loading → Downloaded, with the error.
    let broken: PathBuf = world.dir.path().join("broken-model");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("config.json"), r#"{"model_type": "qwen3"}"#).unwrap();
    engine
        .add_model(&AddModel {
            source: broken.display().to_string(),
            id: Some("broken".into()),
            ..AddModel::default()
        })
        .unwrap();
    assert_eq!(
        engine.model("broken").unwrap().state,
        ModelState::Downloaded
    );
    let mut events = engine.subscribe();
    assert!(engine.load("broken", &CancelToken::new()).await.is_err());
    let status = engine.model("broken").unwrap();
    assert_eq!(status.state, ModelState::Downloaded);
    assert!(status.last_error.is_some());
    let seen = drain(&mut events);
    assert!(
        matches!(&seen[..], [Event::LoadingStarted { .. }, Event::Error { model_id, .. }] if model_id == "broken"),
        "{seen:?}"
    );
    assert!(
        matches!(
            engine.delete("broken").await,
            Err(Error::InvalidArgument { .. })
        ),
        "never deletes user folders"
    );
    assert!(broken.join("config.json").exists());
    engine.remove_model("broken").unwrap();
    assert!(matches!(
        engine.model("broken"),
        Err(Error::UnknownModel { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_mode_works_from_a_complete_cache_only() {
    let world = World::new();
    let engine = world.engine(world.config());
    engine
        .download("qwen-tiny", |_| {}, &CancelToken::new())
        .await
        .unwrap();
    drop(engine);

    let mut config = world.config();
    config.hub.offline = true;
    config.hub.endpoint = "http://127.0.0.1:1".into();
    let engine = world.engine(config);
    let before = world.server.requests().len();
    assert_eq!(
        engine.model("qwen-tiny").unwrap().state,
        ModelState::Downloaded
    );
    let status = engine
        .download("qwen-tiny", |_| {}, &CancelToken::new())
        .await
        .unwrap();
    assert_eq!(status.state, ModelState::Downloaded);
    engine.load("qwen-tiny", &CancelToken::new()).await.unwrap();
    assert_eq!(engine.model("qwen-tiny").unwrap().state, ModelState::Ready);

    let err = engine
        .download("smol", |_| {}, &CancelToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Offline { repo } if repo == SMOL_REPO),
        "{err:?}"
    );
    assert_eq!(
        engine.model("smol").unwrap().state,
        ModelState::NotDownloaded
    );
    assert_eq!(
        world.server.requests().len(),
        before,
        "no request reached the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcribe_loads_a_speech_model_beside_the_text_model() {
    let world = World::new();
    let engine = world.engine(world.config());
    let m = engine.model("whisper").unwrap();
    assert_eq!(
        (m.model.capabilities.clone(), m.state),
        (vec![Capability::Audio], ModelState::NotDownloaded),
        "a whisper repository is a speech model"
    );
    let status = engine
        .download("whisper", |_| {}, &CancelToken::new())
        .await
        .unwrap();
    assert_eq!(status.state, ModelState::Downloaded);
    let path = status.path.unwrap();
    assert!(path.join("model.bin").is_file() && !path.join("README.md").exists());
    engine
        .download("smol", |_| {}, &CancelToken::new())
        .await
        .unwrap();
    engine.load("smol", &CancelToken::new()).await.unwrap();
    let mut events = engine.subscribe();

    // Unreadable audio is refused before any model is loaded.
    let err = engine
        .transcribe(
            Some("whisper"),
            AudioInput::Encoded(b"RIFF\x10\0\0\0WAVEjunk".to_vec()),
            &TranscribeOptions::default(),
            |_| {},
            &CancelToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Audio { .. }), "{err:?}");
    assert_eq!(drain(&mut events), []);
    assert_eq!(
        engine.model("whisper").unwrap().state,
        ModelState::Downloaded
    );

    // On demand: the first transcription loads Whisper into its own slot; the text
    // model stays loaded (dictation transcribes, then refines).
    let segments = Arc::new(Mutex::new(Vec::new()));
    let sink = segments.clone();
    let topts = TranscribeOptions {
        language: Some("en".into()),
        ..TranscribeOptions::default()
    };
    let t = engine
        .transcribe(
            Some("whisper"),
            AudioInput::Path(fixture("audio/jfk.wav")),
            &topts,
            move |s| sink.lock().unwrap().push(s.text.clone()),
            &CancelToken::new(),
        )
        .await
        .unwrap();
    // The words of the sentence (punctuation varies with the options: tests/whisper.rs
    // checks it token for token against mlx-whisper).
    let words = |s: &str| {
        s.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(words(&t.text), words(JFK), "{:?}", t.text);
    assert_eq!((t.language.as_str(), t.model.as_str()), ("en", "whisper"));
    assert_eq!(
        segments.lock().unwrap().concat().trim(),
        t.text,
        "segments streamed as decoded, the text trimmed"
    );
    let seen = drain(&mut events);
    assert!(
        seen.iter().any(
            |e| matches!(e, Event::LoadingCompleted { model_id, .. } if model_id == "whisper")
        ),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|e| matches!(e, Event::Unloaded { .. })),
        "{seen:?}"
    );
    let status = engine.status();
    assert_eq!(
        (status.loaded.as_deref(), status.loaded_audio.as_deref()),
        (Some("smol"), Some("whisper"))
    );
    assert_eq!(engine.model("whisper").unwrap().state, ModelState::Ready);
    assert_eq!(engine.model("smol").unwrap().state, ModelState::Ready);

    // `None` means the loaded speech model; bad audio is a typed error that leaves it
    // loaded and ready.
    let err = engine
        .transcribe(
            None,
            AudioInput::Encoded(b"RIFF\x10\0\0\0WAVEjunk".to_vec()),
            &topts,
            |_| {},
            &CancelToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Audio { .. }), "{err:?}");
    assert_eq!(engine.model("whisper").unwrap().state, ModelState::Ready);
    // A speech model is no text model.
    let err = engine
        .refine(
            Some("whisper"),
            "text",
            &opts(4),
            |_| {},
            &CancelToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");

    assert_eq!(engine.unload().await.unwrap(), ["smol", "whisper"]);
    let status = engine.status();
    assert_eq!((status.loaded, status.loaded_audio), (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_naming_no_model_takes_the_default_then_the_loaded_then_one_on_disk() {
    let world = World::new();
    let engine = world.engine(world.config());
    // Nothing on disk: the recommendation for 8 GB (downloaded on first use).
    assert_eq!(
        engine.default_for(Capability::Text).unwrap().id,
        "qwen3-1.7b"
    );
    assert_eq!(
        engine.default_for(Capability::Audio).unwrap().id,
        "whisper-base"
    );
    for id in ["smol", "qwen-tiny", "whisper"] {
        engine
            .download(id, |_| {}, &CancelToken::new())
            .await
            .unwrap();
    }
    // On disk, nothing loaded, no default: a downloaded model of the right kind, not
    // the recommendation the user never downloaded.
    let on_disk = engine.default_for(Capability::Text).unwrap().id;
    assert!(
        ["smol", "qwen-tiny"].contains(&on_disk.as_str()),
        "{on_disk}"
    );
    assert_eq!(engine.default_for(Capability::Audio).unwrap().id, "whisper");
    // Loaded wins over on disk, and the result names the model that answered.
    let r = engine
        .refine(
            Some("smol"),
            "hello there",
            &opts(4),
            |_| {},
            &CancelToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.model, "smol");
    let r = engine
        .refine(None, "hello there", &opts(4), |_| {}, &CancelToken::new())
        .await
        .unwrap();
    assert_eq!(r.model, "smol");
    assert_eq!(engine.default_for(Capability::Text).unwrap().id, "smol");
    // A configured default wins over the loaded model.
    let mut config = world.config();
    config.default_model = Some("qwen-tiny".into());
    config.default_audio_model = Some("whisper".into());
    let configured = world.engine(config);
    assert_eq!(
        configured.default_for(Capability::Text).unwrap().id,
        "qwen-tiny"
    );
    configured.load("smol", &CancelToken::new()).await.unwrap();
    assert_eq!(
        configured.default_for(Capability::Text).unwrap().id,
        "qwen-tiny"
    );
    assert_eq!(
        configured.choose(None, Capability::Text).unwrap().id,
        "qwen-tiny"
    );
    // A model file named by its path works wherever an id does.
    let gguf = world
        .dir
        .path()
        .join("hub")
        .join(format!("models--{}", SMOL_REPO.replace('/', "--")));
    let file = walk_for(&gguf, "gguf").expect("the downloaded GGUF");
    let r = engine
        .refine(
            Some(file.to_str().unwrap()),
            "hello there",
            &opts(4),
            |_| {},
            &CancelToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.model, file.display().to_string());
    engine.unload().await.unwrap();
    configured.unload().await.unwrap();
}

/// The first file under `dir` with extension `ext`.
fn walk_for(dir: &Path, ext: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let p = entry.path();
        match p.is_dir() {
            true => walk_for(&p, ext),
            false => p.extension().is_some_and(|x| x == ext).then_some(p),
        }
    })
}
