//! The FFI layer on the real SmolLM2-135M fixture: the uniffi `Engine` (callback order,
//! events, cancellation, typed errors), every core error mapped with its fields, and the
//! C ABI (status codes, messages, callbacks with user data, frees).

use std::ffi::{CStr, CString, c_char, c_void};
use std::path::PathBuf;
use std::ptr;
use std::sync::{Arc, Mutex};

use murmur_core::Error as CoreError;
use murmur_ffi::c_api::*;
use murmur_ffi::engine::{EventListener, TokenListener};
use murmur_ffi::error::*;
use murmur_ffi::types::*;
use murmur_ffi::{CancelHandle, Engine, MurmurError};
use murmur_tests::fixture;

fn config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig {
        cache_dir: Some(dir.join("hub").display().to_string()),
        config_dir: Some(dir.join("config").display().to_string()),
        offline: Some(true),
        idle_unload_secs: Some(0.0),
        ram_bytes: Some(8 << 30),
        ..EngineConfig::default()
    }
}

fn engine(dir: &std::path::Path) -> Arc<Engine> {
    let e = Engine::new(config(dir)).unwrap();
    e.add_model(AddModel {
        source: fixture("smollm2").display().to_string(),
        id: Some("smol".into()),
        ..AddModel::default()
    })
    .unwrap();
    e
}

fn greedy(max_tokens: u32) -> RefineOptions {
    RefineOptions {
        model: Some("smol".into()),
        mode: Some(RefineMode::FixGrammar),
        temperature: 0.0,
        max_tokens: Some(max_tokens),
        seed: Some(7),
        ..RefineOptions::default()
    }
}

#[derive(Default)]
struct Tokens {
    seen: Mutex<Vec<String>>,
    cancel_after: Option<(usize, Arc<CancelHandle>)>,
}

impl TokenListener for Tokens {
    fn on_token(&self, text: String) {
        let mut seen = self.seen.lock().unwrap();
        seen.push(text);
        if let Some((n, handle)) = &self.cancel_after {
            if seen.len() == *n {
                handle.cancel();
            }
        }
    }
}

#[derive(Default)]
struct Events(Mutex<Vec<EngineEvent>>);

impl EventListener for Events {
    fn on_event(&self, event: EngineEvent) {
        self.0.lock().unwrap().push(event);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refine_streams_tokens_in_order_and_events_follow_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let events = Arc::new(Events::default());
    let sub = e.subscribe(events.clone());
    let tokens = Arc::new(Tokens::default());
    let r = e
        .refine(
            "i has a apple and he have two".into(),
            greedy(24),
            Some(tokens.clone()),
            None,
        )
        .await
        .unwrap();
    let seen = tokens.seen.lock().unwrap().clone();
    assert!(seen.len() > 1, "streamed in pieces: {seen:?}");
    assert_eq!(seen.concat().trim(), r.text);
    assert!(r.stats.generated_tokens > 0 && r.stats.generated_tokens <= 24);
    assert_eq!(e.status().loaded.as_deref(), Some("smol"));
    assert_eq!(e.model("smol".into()).unwrap().state, ModelState::Ready);
    assert_eq!(e.unload().await.unwrap(), vec!["smol".to_string()]);
    // Events arrive on the runtime: wait for the unload to be delivered.
    for _ in 0..200 {
        if events.0.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let got = events.0.lock().unwrap().clone();
    assert!(
        matches!(
            got.as_slice(),
            [
                EngineEvent::LoadingStarted { model_id: a },
                EngineEvent::LoadingCompleted { model_id: b, .. },
                EngineEvent::Unloaded { model_id: c, reason: UnloadReason::Requested },
            ] if a == "smol" && b == "smol" && c == "smol"
        ),
        "{got:?}"
    );
    sub.cancel();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_stops_generation_within_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let handle = CancelHandle::new();
    let tokens = Arc::new(Tokens {
        cancel_after: Some((3, handle.clone())),
        ..Tokens::default()
    });
    let mut opts = greedy(300);
    opts.mode = Some(RefineMode::Custom {
        prompt: "Write a very long story about the sea.".into(),
    });
    let r = e
        .refine(
            "Tell me a long story about a ship.".into(),
            opts,
            Some(tokens.clone()),
            Some(handle.clone()),
        )
        .await
        .unwrap();
    assert_eq!(r.stats.stop_reason, StopReason::Cancelled);
    assert!(handle.is_cancelled());
    let n = tokens.seen.lock().unwrap().len();
    assert!((3..=4).contains(&n), "{n} tokens after cancelling at 3");
    assert!(r.stats.generated_tokens < 300);
    // The engine is ready for the next call.
    assert!(!e.status().in_use);
    let again = e
        .refine("hello world".into(), greedy(8), None, None)
        .await
        .unwrap();
    assert_ne!(again.stats.stop_reason, StopReason::Cancelled);
}

#[tokio::test(flavor = "multi_thread")]
async fn engine_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let mut opts = greedy(8);
    opts.model = Some("nope".into());
    assert_eq!(
        e.refine("hi".into(), opts, None, None).await.unwrap_err(),
        MurmurError::UnknownModel { id: "nope".into() }
    );
    assert_eq!(
        e.load("qwen3-0.6b".into(), None).await.unwrap_err(),
        MurmurError::NotDownloaded {
            model: "qwen3-0.6b".into()
        }
    );
    let cancelled = CancelHandle::new();
    cancelled.cancel();
    assert_eq!(
        e.load("qwen3-0.6b".into(), Some(cancelled))
            .await
            .unwrap_err(),
        MurmurError::Cancelled
    );
    assert!(matches!(
        e.download("qwen3-0.6b".into(), None, None).await,
        Err(MurmurError::Offline { .. })
    ));
    let bad = dir.path().join("bad.wav");
    std::fs::write(&bad, b"RIFF$\0\0\0WAVEfmt not audio").unwrap();
    let whisper = e
        .add_model(AddModel {
            source: fixture("whisper-base-ct2").display().to_string(),
            id: Some("whisper-fixture".into()),
            ..AddModel::default()
        })
        .unwrap();
    assert_eq!(whisper.capabilities, vec![Capability::Audio]);
    let err = e
        .transcribe(
            AudioSource::File {
                path: bad.display().to_string(),
            },
            TranscribeOptions {
                model: Some("whisper-fixture".into()),
                ..TranscribeOptions::default()
            },
            None,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MurmurError::Audio { path: Some(p), .. } if *p == bad.display().to_string()),
        "{err:?}"
    );
    assert_eq!(err.code(), MURMUR_AUDIO);
}

#[test]
fn every_core_error_maps_with_its_fields_and_its_own_code() {
    let p = PathBuf::from("/m/model.gguf");
    let s = |x: &str| x.to_string();
    let cases: Vec<(CoreError, MurmurError, MurmurStatus)> = vec![
        (
            CoreError::Io {
                path: p.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
            },
            MurmurError::Io {
                path: s("/m/model.gguf"),
                message: s("gone"),
            },
            MURMUR_IO,
        ),
        (
            CoreError::CorruptModel {
                path: p.clone(),
                reason: s("bad magic"),
            },
            MurmurError::CorruptModel {
                path: s("/m/model.gguf"),
                reason: s("bad magic"),
            },
            MURMUR_CORRUPT_MODEL,
        ),
        (
            CoreError::Unsupported {
                path: p.clone(),
                what: s("Q3_K"),
            },
            MurmurError::Unsupported {
                path: s("/m/model.gguf"),
                what: s("Q3_K"),
            },
            MURMUR_UNSUPPORTED,
        ),
        (
            CoreError::InvalidArgument {
                name: s("top_p"),
                reason: s("> 1"),
            },
            MurmurError::InvalidArgument {
                name: s("top_p"),
                reason: s("> 1"),
            },
            MURMUR_INVALID_ARGUMENT,
        ),
        (
            CoreError::Tokenizer(s("bad json")),
            MurmurError::Tokenizer {
                message: s("bad json"),
            },
            MURMUR_TOKENIZER,
        ),
        (
            CoreError::Template { reason: s("raise") },
            MurmurError::Template { reason: s("raise") },
            MURMUR_TEMPLATE,
        ),
        (
            CoreError::PromptTooLong {
                tokens: 9000,
                limit: 8192,
            },
            MurmurError::PromptTooLong {
                tokens: 9000,
                limit: 8192,
            },
            MURMUR_PROMPT_TOO_LONG,
        ),
        (
            CoreError::Mlx(s("oom")),
            MurmurError::Mlx { message: s("oom") },
            MURMUR_MLX,
        ),
        (
            CoreError::Download {
                repo: s("o/r"),
                file: s("f"),
                reason: s("sha"),
            },
            MurmurError::Download {
                repo: s("o/r"),
                file: s("f"),
                reason: s("sha"),
            },
            MURMUR_DOWNLOAD,
        ),
        (
            CoreError::Unauthorized { repo: s("o/r") },
            MurmurError::Unauthorized { repo: s("o/r") },
            MURMUR_UNAUTHORIZED,
        ),
        (
            CoreError::NotFound {
                repo: s("o/r"),
                file: s(""),
            },
            MurmurError::NotFound {
                repo: s("o/r"),
                file: s(""),
            },
            MURMUR_NOT_FOUND,
        ),
        (
            CoreError::InsufficientDisk {
                needed: 10,
                available: 5,
            },
            MurmurError::InsufficientDisk {
                needed: 10,
                available: 5,
            },
            MURMUR_INSUFFICIENT_DISK,
        ),
        (
            CoreError::Audio {
                path: None,
                reason: s("empty"),
            },
            MurmurError::Audio {
                path: None,
                reason: s("empty"),
            },
            MURMUR_AUDIO,
        ),
        (
            CoreError::Audio {
                path: Some(p.clone()),
                reason: s("codec"),
            },
            MurmurError::Audio {
                path: Some(s("/m/model.gguf")),
                reason: s("codec"),
            },
            MURMUR_AUDIO,
        ),
        (
            CoreError::Cancelled,
            MurmurError::Cancelled,
            MURMUR_CANCELLED,
        ),
        (
            CoreError::Busy {
                model: s("m"),
                state: s("loading"),
            },
            MurmurError::Busy {
                model: s("m"),
                state: s("loading"),
            },
            MURMUR_BUSY,
        ),
        (
            CoreError::NotDownloaded { model: s("m") },
            MurmurError::NotDownloaded { model: s("m") },
            MURMUR_NOT_DOWNLOADED,
        ),
        (
            CoreError::UnknownModel { id: s("x") },
            MurmurError::UnknownModel { id: s("x") },
            MURMUR_UNKNOWN_MODEL,
        ),
        (
            CoreError::Offline { repo: s("o/r") },
            MurmurError::Offline { repo: s("o/r") },
            MURMUR_OFFLINE,
        ),
        (
            CoreError::Internal {
                what: s("load"),
                reason: s("panic"),
            },
            MurmurError::Internal {
                what: s("load"),
                reason: s("panic"),
            },
            MURMUR_INTERNAL,
        ),
    ];
    let mut codes = std::collections::BTreeSet::new();
    for (core, want, code) in cases {
        let message = core.to_string();
        let got = MurmurError::from(core);
        assert_eq!(got, want);
        assert_eq!(got.code(), code, "{got:?}");
        // Swift and C see the engine's own wording.
        assert_eq!(got.to_string(), message);
        codes.insert(code);
    }
    // 19 variants, 19 distinct non-zero codes.
    assert_eq!(codes.len(), 19);
    assert!(!codes.contains(&MURMUR_OK));
}

// --- the C ABI ---------------------------------------------------------------------------

unsafe extern "C" fn collect(text: *const c_char, user_data: *mut c_void) {
    let out = unsafe { &*(user_data as *const Mutex<Vec<String>>) };
    let text = unsafe { CStr::from_ptr(text) }
        .to_str()
        .unwrap()
        .to_string();
    out.lock().unwrap().push(text);
}

fn take_string(p: *mut c_char) -> String {
    assert!(!p.is_null());
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
    unsafe { murmur_string_free(p) };
    s
}

#[test]
fn c_abi_refines_reports_errors_and_frees() {
    let dir = tempfile::tempdir().unwrap();
    let cstr = |s: &str| CString::new(s).unwrap();
    let (hub, conf) = (
        cstr(&dir.path().join("hub").display().to_string()),
        cstr(&dir.path().join("conf").display().to_string()),
    );
    let mut cfg = murmur_engine_config_default();
    cfg.cache_dir = hub.as_ptr();
    cfg.config_dir = conf.as_ptr();
    cfg.offline = 1;
    cfg.idle_unload_secs = 0.0;
    let mut engine = ptr::null_mut();
    let mut err = ptr::null_mut();
    unsafe {
        assert_eq!(murmur_engine_new(&cfg, &mut engine, &mut err), MURMUR_OK);
        assert!(err.is_null());
        let src = cstr(&fixture("smollm2").display().to_string());
        let id = cstr("smol");
        let mut out_id = ptr::null_mut();
        assert_eq!(
            murmur_engine_add_model(engine, src.as_ptr(), id.as_ptr(), &mut out_id, &mut err),
            MURMUR_OK
        );
        assert_eq!(take_string(out_id), "smol");

        let mut json = ptr::null_mut();
        assert_eq!(
            murmur_engine_models_json(engine, &mut json, &mut err),
            MURMUR_OK
        );
        let models: serde_json::Value = serde_json::from_str(&take_string(json)).unwrap();
        assert!(models.as_array().unwrap().iter().any(|m| m["id"] == "smol"));

        // Refine with a token callback and user data.
        let mut opts = murmur_refine_options_default();
        opts.model = id.as_ptr();
        opts.mode = MurmurRefineMode::MurmurRefineFixGrammar;
        opts.temperature = 0.0;
        opts.max_tokens = 16;
        let tokens = Mutex::new(Vec::<String>::new());
        let text = cstr("i has a apple");
        let mut result = ptr::null_mut();
        let st = murmur_engine_refine(
            engine,
            text.as_ptr(),
            &opts,
            Some(collect),
            &tokens as *const _ as *mut c_void,
            ptr::null(),
            &mut result,
            &mut err,
        );
        assert_eq!(st, MURMUR_OK);
        let r = &*result;
        let refined = CStr::from_ptr(r.text).to_str().unwrap().to_string();
        assert_eq!(tokens.lock().unwrap().concat().trim(), refined);
        assert!(r.generated_tokens > 0 && r.generated_tokens <= 16);
        murmur_refine_result_free(result);

        // A cancelled token.
        let cancel = murmur_cancel_token_new();
        murmur_cancel_token_cancel(cancel);
        let mut result = ptr::null_mut();
        let st = murmur_engine_refine(
            engine,
            text.as_ptr(),
            &opts,
            None,
            ptr::null_mut(),
            cancel,
            &mut result,
            &mut err,
        );
        if st == MURMUR_OK {
            assert_eq!((*result).stop_reason, MurmurStopReason::MurmurStopCancelled);
            murmur_refine_result_free(result);
        } else {
            assert_eq!(st, MURMUR_CANCELLED);
            assert_eq!(take_string(err), "cancelled");
            err = ptr::null_mut();
        }
        assert_eq!(
            murmur_engine_load(engine, id.as_ptr(), cancel, &mut err),
            MURMUR_CANCELLED
        );
        assert_eq!(take_string(err), "cancelled");
        err = ptr::null_mut();
        murmur_cancel_token_free(cancel);

        // Errors: code and message; NULL arguments are refused, not dereferenced.
        let nope = cstr("nope");
        opts.model = nope.as_ptr();
        let st = murmur_engine_refine(
            engine,
            text.as_ptr(),
            &opts,
            None,
            ptr::null_mut(),
            ptr::null(),
            &mut result,
            &mut err,
        );
        assert_eq!(st, MURMUR_UNKNOWN_MODEL);
        assert!(take_string(err).contains("nope"));
        assert_eq!(
            murmur_engine_load(engine, ptr::null(), ptr::null(), &mut err),
            MURMUR_INVALID_ARGUMENT
        );
        assert!(take_string(err).contains("model"));
        assert_eq!(
            murmur_engine_load(ptr::null(), nope.as_ptr(), ptr::null(), ptr::null_mut()),
            MURMUR_INVALID_ARGUMENT
        );
        let bad = dir.path().join("bad.wav");
        std::fs::write(&bad, b"RIFF$\0\0\0WAVEfmt not audio").unwrap();
        let whisper = cstr(&fixture("whisper-base-ct2").display().to_string());
        assert_eq!(
            murmur_engine_add_model(
                engine,
                whisper.as_ptr(),
                ptr::null(),
                ptr::null_mut(),
                &mut err
            ),
            MURMUR_OK
        );
        let bad = cstr(&bad.display().to_string());
        let mut transcript = ptr::null_mut();
        let mut topts = murmur_transcribe_options_default();
        let wid = cstr("whisper-base-ct2");
        topts.model = wid.as_ptr();
        let st = murmur_engine_transcribe_file(
            engine,
            bad.as_ptr(),
            &topts,
            None,
            ptr::null_mut(),
            ptr::null(),
            &mut transcript,
            &mut err,
        );
        assert_eq!(st, MURMUR_AUDIO);
        let _ = take_string(err);

        // Chat: JSON in, tokens to the callback, JSON out; bad requests are typed.
        let tokens = Mutex::new(Vec::<String>::new());
        let request = cstr(
            r#"{"model": "smol", "messages": [{"role": "user", "content": "What is the capital of France?"}],
                "temperature": 0, "max_tokens": 24, "stop": ["Paris"]}"#,
        );
        let mut json = ptr::null_mut();
        let st = murmur_engine_chat(
            engine,
            request.as_ptr(),
            Some(collect),
            &tokens as *const _ as *mut c_void,
            ptr::null(),
            &mut json,
            &mut err,
        );
        assert_eq!(st, MURMUR_OK);
        let answer: serde_json::Value = serde_json::from_str(&take_string(json)).unwrap();
        assert_eq!(answer["model"], "smol");
        assert_eq!(answer["finish_reason"], "stop");
        assert_eq!(answer["text"], tokens.lock().unwrap().concat());
        assert!(
            answer["text"].as_str().unwrap().contains("capital"),
            "{answer}"
        );
        assert!(
            !answer["text"].as_str().unwrap().contains("Paris"),
            "{answer}"
        );
        let usage = &answer["usage"];
        assert_eq!(
            usage["total_tokens"].as_u64().unwrap(),
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        );
        for (bad, code) in [
            ("{\"messages\": 3}", MURMUR_INVALID_ARGUMENT),
            (
                "{\"model\": \"smol\", \"messages\": []}",
                MURMUR_INVALID_ARGUMENT,
            ),
            (
                "{\"model\": \"nope\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}",
                MURMUR_UNKNOWN_MODEL,
            ),
        ] {
            let bad = cstr(bad);
            let st = murmur_engine_chat(
                engine,
                bad.as_ptr(),
                None,
                ptr::null_mut(),
                ptr::null(),
                &mut json,
                &mut err,
            );
            assert_eq!(st, code);
            let _ = take_string(err);
        }

        let mut status = ptr::null_mut();
        assert_eq!(
            murmur_engine_status_json(engine, &mut status, ptr::null_mut()),
            MURMUR_OK
        );
        let status: serde_json::Value = serde_json::from_str(&take_string(status)).unwrap();
        assert_eq!(status["loaded"], "smol");
        assert_eq!(murmur_engine_unload(engine, ptr::null_mut()), MURMUR_OK);
        murmur_engine_free(engine);
        assert!(!CStr::from_ptr(murmur_version()).to_bytes().is_empty());
    }
}

// --- downloads against a Hub look-alike on 127.0.0.1 ---------------------------------------

#[derive(Default)]
struct Progress(Mutex<Vec<DownloadProgress>>);

impl murmur_ffi::engine::DownloadListener for Progress {
    fn on_progress(&self, progress: DownloadProgress) {
        self.0.lock().unwrap().push(progress);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn download_reports_progress_in_order_and_hub_errors_are_typed() {
    use murmur_tests::hub_server::{FixtureFile, HubServer};
    let server = HubServer::start();
    let bytes: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    server.add_repo("test-org/tiny", vec![FixtureFile::new("model.gguf", bytes)]);
    server.add_repo(
        "test-org/gated",
        vec![FixtureFile::new("model.gguf", vec![1u8; 10])],
    );
    server.gate("test-org/gated", "secret");
    // Slow enough for several progress reports (one per 100 ms).
    server.throttle(64 << 10, std::time::Duration::from_millis(20));
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::new(EngineConfig {
        offline: Some(false),
        endpoint: Some(server.endpoint()),
        ..config(dir.path())
    })
    .unwrap();
    let add = |source: &str, id: &str| {
        e.add_model(AddModel {
            source: source.into(),
            id: Some(id.into()),
            capability: Some(Capability::Text),
            files: Some(vec!["*.gguf".into()]),
        })
        .unwrap()
    };
    assert_eq!(
        add("test-org/tiny", "fx-small").state,
        ModelState::NotDownloaded
    );
    add("test-org/gated", "fx-gated");
    add("test-org/missing", "fx-missing");

    let events = Arc::new(Events::default());
    let sub = e.subscribe(events.clone());
    let progress = Arc::new(Progress::default());
    let info = e
        .download("fx-small".into(), Some(progress.clone()), None)
        .await
        .unwrap();
    assert_eq!(info.state, ModelState::Downloaded);
    assert!(info.disk_bytes >= 1_500_000, "{}", info.disk_bytes);
    let seen = progress.0.lock().unwrap().clone();
    assert!(seen.len() >= 2, "{} reports", seen.len());
    assert!(seen.windows(2).all(|w| w[0].bytes <= w[1].bytes));
    let last = seen.last().unwrap();
    assert_eq!(
        (last.bytes, last.total, last.fraction),
        (1_500_000, 1_500_000, 1.0)
    );

    // A cancelled handle: a typed error, and the model stays as it was.
    let handle = CancelHandle::new();
    handle.cancel();
    assert_eq!(
        e.download("fx-small".into(), None, Some(handle))
            .await
            .unwrap_err(),
        MurmurError::Cancelled
    );
    assert_eq!(
        e.model("fx-small".into()).unwrap().state,
        ModelState::Downloaded
    );
    assert!(matches!(
        e.download("fx-gated".into(), None, None).await,
        Err(MurmurError::Unauthorized { repo }) if repo == "test-org/gated"
    ));
    assert!(matches!(
        e.download("fx-missing".into(), None, None).await,
        Err(MurmurError::NotFound { repo, .. }) if repo == "test-org/missing"
    ));
    e.delete("fx-small".into()).await.unwrap();
    assert_eq!(
        e.model("fx-small".into()).unwrap().state,
        ModelState::NotDownloaded
    );

    for _ in 0..200 {
        if events
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, EngineEvent::Deleted { .. }))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let got = events.0.lock().unwrap().clone();
    let tiny: Vec<&EngineEvent> = got
        .iter()
        .filter(|e| match e {
            EngineEvent::DownloadStarted { model_id }
            | EngineEvent::DownloadProgress { model_id, .. }
            | EngineEvent::DownloadCompleted { model_id, .. }
            | EngineEvent::Deleted { model_id } => model_id == "fx-small",
            _ => false,
        })
        .collect();
    assert!(
        matches!(tiny.first(), Some(EngineEvent::DownloadStarted { .. })),
        "{tiny:?}"
    );
    let completed = tiny
        .iter()
        .position(|e| {
            matches!(
                e,
                EngineEvent::DownloadCompleted {
                    bytes: 1_500_000,
                    ..
                }
            )
        })
        .expect("completed");
    assert!(
        tiny[1..completed]
            .iter()
            .all(|e| matches!(e, EngineEvent::DownloadProgress { .. }))
    );
    assert!(matches!(tiny.last(), Some(EngineEvent::Deleted { .. })));
    assert!(
        got.iter()
            .any(|e| matches!(e, EngineEvent::Error { model_id, .. } if model_id == "fx-gated"))
    );
    sub.cancel();
}
