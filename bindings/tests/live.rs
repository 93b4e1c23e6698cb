//! Live transcription end to end, on the real binary, Whisper base (CTranslate2) and
//! SmolLM2 with JFK's speech:
//!
//! - `murmur live`: a file fed at 4× real-time pace as JSON events, raw 48 kHz stereo
//!   16-bit PCM on stdin, Ctrl-C as finish and twice as cancel, and its errors;
//! - `murmur serve`'s WebSocket, `GET /v1/live`: JFK streamed in 100 ms frames over the
//!   Unix socket (options first) and over TCP (format in the query, the token needed),
//!   typed errors for bad requests and limits, and a client that leaves cancelling its
//!   session's work.
//!
//! In every session the confirmed texts add up to the final transcript: no word is taken
//! back, lost or doubled.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use murmur_core::audio::{AudioInput, load_16k_mono};
use murmur_core::dictate::normalized_words as words;
use murmur_tests::{fixture, smollm2_gguf};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

const PHRASE: &str = "ask not what your country";

/// 8 GiB: the memory tier whose longest dictation is 6 minutes.
const EIGHT_GIB: &str = "8589934592";

fn says(text: &str, phrase: &str) -> bool {
    words(text).join(" ").contains(phrase)
}

/// JFK, 16 kHz mono.
fn jfk() -> Vec<f32> {
    load_16k_mono(&AudioInput::Path(fixture("audio/jfk.wav"))).unwrap()
}

/// `pcm` (16 kHz mono) as a microphone at 48 kHz stereo would give it: linearly
/// interpolated, the right channel at half the left's level, signed 16-bit.
fn stereo_48k_i16(pcm: &[f32]) -> Vec<i16> {
    let mut out = Vec::with_capacity(pcm.len() * 6);
    for (i, &x) in pcm.iter().enumerate() {
        let next = pcm.get(i + 1).copied().unwrap_or(x);
        for k in 0..3 {
            let v = x + (next - x) * k as f32 / 3.0;
            let s = (v * 32767.0).clamp(-32768.0, 32767.0) as i16;
            out.extend([s, s / 2]);
        }
    }
    out
}

fn s16le(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

fn f32le(samples: &[f32]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// The confirmed events' texts, joined.
fn confirmed(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "confirmed")
        .map(|e| e["text"].as_str().unwrap())
        .collect()
}

/// The events of a session that finished: known types only, timed confirmed text, the
/// `final` one last, and the confirmed texts adding up to its transcript. Returns the
/// result.
fn check_events(events: &[Value]) -> Value {
    for e in events {
        match e["type"].as_str().unwrap() {
            "partial" => assert!(e["text"].is_string(), "{e}"),
            "confirmed" => {
                let (start, end) = (e["start"].as_f64().unwrap(), e["end"].as_f64().unwrap());
                assert!(0.0 <= start && start <= end, "{e}");
            }
            "refined" => assert!(e["transcript"].is_string() && e["text"].is_string(), "{e}"),
            "final" => {}
            other => panic!("unexpected event {other}: {e}"),
        }
    }
    let last = events.last().expect("events");
    assert_eq!(last["type"], "final", "{events:?}");
    assert_eq!(
        events.iter().filter(|e| e["type"] == "final").count(),
        1,
        "{events:?}"
    );
    let result = last["result"].clone();
    let transcript = result["transcript"].as_str().unwrap();
    assert_eq!(confirmed(events).trim(), transcript, "{events:?}");
    result
}

// ---------------------------------------------------------------------------------------
// `murmur live`

fn command(config: &Path, args: &[&str]) -> Command {
    murmur_tests::murmur_command(env!("CARGO_BIN_EXE_murmur"), config, args)
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `murmur live` with Whisper base, English, and ARGS.
fn live_args<'a>(whisper: &'a Path, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "live",
        "--speech-model",
        path_str(whisper),
        "--language",
        "en",
    ];
    args.extend(more);
    args
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

#[test]
fn live_simulates_jfk_as_json_events_that_add_up_to_the_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let (whisper, smol) = (fixture("whisper-base-ct2"), smollm2_gguf());
    let wav = fixture("audio/jfk.wav");
    let args = live_args(
        &whisper,
        &[
            "--simulate",
            path_str(&wav),
            "--speed",
            "4",
            "--format",
            "json",
            "--text-model",
            path_str(&smol),
            "--temperature",
            "0",
            "--timings",
        ],
    );
    let started = Instant::now();
    let out = command(dir.path(), &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "murmur live --simulate in {:?}\n{stderr}",
        started.elapsed()
    );
    assert!(out.status.success(), "{stderr}");
    let events = json_lines(&out.stdout);
    let r = check_events(&events);
    let transcript = r["transcript"].as_str().unwrap();
    assert!(says(transcript, PHRASE), "{r}");
    assert!(!r["text"].as_str().unwrap().is_empty(), "{r}");
    assert!(
        (r["audio_secs"].as_f64().unwrap() - 11.0).abs() < 0.1,
        "{r}"
    );
    assert!(r["timings"]["finish_secs"].as_f64().unwrap() > 0.0, "{r}");
    assert_eq!(r["text_model"], path_str(&smol), "{r}");
    // The cleanup's pieces came as `refined` events.
    assert!(events.iter().any(|e| e["type"] == "refined"), "{events:?}");
    assert!(stderr.contains("timings: decode "), "{stderr}");
    assert!(stderr.contains("after the audio ended"), "{stderr}");
}

#[test]
fn live_reads_raw_48k_stereo_pcm_from_stdin_and_refuses_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let whisper = fixture("whisper-base-ct2");
    let bytes = s16le(&stereo_48k_i16(&jfk()));
    let args = live_args(
        &whisper,
        &[
            "--rate",
            "48000",
            "--channels",
            "2",
            "--no-refine",
            "--timings",
        ],
    );
    let started = Instant::now();
    let mut child = command(dir.path(), &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Odd-sized writes: samples and frames split across reads.
    let feeder = std::thread::spawn(move || {
        for piece in bytes.chunks(4001) {
            stdin.write_all(piece).unwrap();
        }
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!(
        "murmur live < 48 kHz stereo in {:?}: {stdout}{stderr}",
        started.elapsed()
    );
    assert!(out.status.success(), "{stderr}");
    // The text alone on stdout (no cleanup: the transcript), the timings on stderr.
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(says(&stdout, PHRASE), "{stdout}");
    assert!(says(&stdout, "and so my fellow americans"), "{stdout}");
    assert!(stderr.contains("(11.0 s of audio"), "{stderr}");

    // Settings are refused before any audio is read or model loaded: exit status 1 with
    // the typed error, 2 for usage errors (clap's).
    let fails = |more: &[&str], code: i32, needle: &str| {
        let out = command(dir.path(), &live_args(&whisper, more))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{more:?}: {stderr}");
        assert!(stderr.contains(needle), "{more:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{more:?}");
    };
    fails(&["--rate", "0"], 1, "murmur: invalid format");
    fails(&["--channels", "0"], 1, "murmur: invalid format");
    fails(&["--step-ms", "5"], 1, "step_ms");
    fails(&["--mode", "poem"], 1, "invalid mode");
    fails(&["--simulate", "/no/such.wav"], 1, "/no/such.wav");
    fails(&["--encoding", "u8"], 2, "s16le or f32le");
    fails(&["--speed", "2"], 2, "--simulate");
    fails(&["--simulate", "a.wav", "--rate", "8000"], 2, "--rate");
    fails(&["--simulate", "a.wav", "--speed", "0"], 2, "--speed");
}

/// A `murmur live --format json` reading 16 kHz mono s16le JFK from a stdin left open,
/// once its first event is out: the session is running and listening for Ctrl-C.
fn running_live(config: &Path, whisper: &Path) -> (Child, BufReader<std::process::ChildStdout>) {
    let args = live_args(whisper, &["--no-refine", "--format", "json"]);
    let mut child = command(config, &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pcm: Vec<i16> = jfk().iter().map(|x| (x * 32767.0) as i16).collect();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(&s16le(&pcm))
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("{\"type\":"), "{first:?}");
    (child, stdout)
}

fn interrupt(child: &Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

fn finish(child: Child, mut stdout: BufReader<std::process::ChildStdout>) -> Output {
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let mut out = child.wait_with_output().unwrap();
    out.stdout = rest;
    out
}

#[test]
fn ctrl_c_finishes_the_live_audio_and_twice_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let whisper = fixture("whisper-base-ct2");

    // Ctrl-C with stdin still open: the audio so far is finished into the text.
    let started = Instant::now();
    let (child, stdout) = running_live(dir.path(), &whisper);
    interrupt(&child);
    let out = finish(child, stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("Ctrl-C once: {:?} {stderr}", started.elapsed());
    assert!(out.status.success(), "{stderr}");
    let events = json_lines(&out.stdout);
    let last = events.last().expect("events after Ctrl-C");
    assert_eq!(last["type"], "final", "{events:?}");
    assert!(
        says(last["result"]["transcript"].as_str().unwrap(), PHRASE),
        "{last}"
    );

    // Twice: cancelled, no result.
    let started = Instant::now();
    let (child, stdout) = running_live(dir.path(), &whisper);
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&child);
    let out = finish(child, stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("Ctrl-C twice: {:?} {stderr}", started.elapsed());
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("murmur: cancelled"), "{stderr}");
    assert!(
        json_lines(&out.stdout).iter().all(|e| e["type"] != "final"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn live_stops_at_the_recording_limit_and_prints_the_text_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let whisper = fixture("whisper-base-ct2");
    // JFK, then silence past 6 minutes (the limit at 8 GiB).
    let mut pcm: Vec<i16> = jfk().iter().map(|x| (x * 32767.0) as i16).collect();
    pcm.resize(361 * 16_000, 0);
    let bytes = s16le(&pcm);
    let started = Instant::now();
    let mut child = command(dir.path(), &live_args(&whisper, &["--no-refine"]))
        .env("MURMUR_RAM_BYTES", EIGHT_GIB)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The command stops reading at the limit: the rest of the writes may fail.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&bytes);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!(
        "murmur live past the limit in {:?}: {stdout}{stderr}",
        started.elapsed()
    );
    // The text of the audio before the limit, and the limit as the error.
    assert!(says(&stdout, PHRASE), "{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("this machine dictates at most 360 s"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------
// `murmur serve`'s `GET /v1/live`

/// A daemon in a private home, offline, with SmolLM2 (`smollm2`, the default text model)
/// and Whisper base (`whisper-test`) registered.
struct Daemon {
    child: Child,
    home: tempfile::TempDir,
    ready: Value,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    fn start(args: &[&str]) -> Self {
        let home = tempfile::tempdir().unwrap();
        let env = |cmd: &mut Command| {
            cmd.env("MURMUR_CONFIG_DIR", home.path().join("config"))
                .env("HF_HOME", home.path().join("hf"))
                .env("HF_HUB_CACHE", home.path().join("hf/hub"))
                .env("HF_HUB_OFFLINE", "1")
                .env_remove("HF_ENDPOINT")
                .env_remove("MURMUR_DEFAULT_MODEL")
                .env_remove("MURMUR_DEFAULT_AUDIO_MODEL")
                .env_remove("MURMUR_SOCKET")
                .env_remove("MURMUR_IDLE_UNLOAD_SECS")
                .env_remove("MURMUR_IDLE_UNLOAD_MINUTES")
                .env("MURMUR_RAM_BYTES", EIGHT_GIB);
        };
        let smol = smollm2_gguf();
        let whisper = fixture("whisper-base-ct2");
        for add in [
            vec![
                "models",
                "add",
                path_str(smol.parent().unwrap()),
                "--id",
                "smollm2",
            ],
            vec![
                "models",
                "add",
                path_str(&whisper),
                "--id",
                "whisper-test",
                "--audio",
            ],
        ] {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_murmur"));
            env(&mut cmd);
            let out = cmd.args(&add).output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_murmur"));
        env(&mut cmd);
        let mut child = cmd
            .env("MURMUR_DEFAULT_MODEL", "smollm2")
            .env("MURMUR_DEFAULT_AUDIO_MODEL", "whisper-test")
            .args(["serve", "--socket"])
            .arg(home.path().join("run/murmur.sock"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (stderr, sink) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[daemon] {line}");
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let ready = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(Ok(line))) => serde_json::from_str::<Value>(&line).unwrap(),
            other => {
                let _ = child.kill();
                panic!(
                    "the daemon did not start ({other:?}): {}",
                    log.lock().unwrap()
                )
            }
        };
        Self {
            child,
            home,
            ready,
            log,
        }
    }

    fn socket(&self) -> PathBuf {
        self.home.path().join("run/murmur.sock")
    }

    fn tcp(&self) -> String {
        self.ready["tcp"].as_str().unwrap().to_string()
    }

    fn token(&self) -> String {
        std::fs::read_to_string(self.ready["token_file"].as_str().unwrap()).unwrap()
    }

    /// A plain HTTP request over the socket: the status and the JSON body.
    fn http(&self, path: &str, headers: &str) -> (u16, Value) {
        let mut s = std::os::unix::net::UnixStream::connect(self.socket()).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let status = raw.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = raw.split_once("\r\n\r\n").unwrap().1;
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn in_use(&self) -> bool {
        let (status, v) = self.http("/v1/status", "");
        assert_eq!(status, 200);
        v["in_use"].as_bool().unwrap()
    }

    /// Wait until the daemon's log contains `needle`.
    fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log.lock().unwrap().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebSocket to `/v1/live?QUERY` over the daemon's Unix socket.
async fn ws_unix(
    d: &Daemon,
    query: &str,
) -> Result<WebSocketStream<tokio::net::UnixStream>, tungstenite::Error> {
    let stream = tokio::net::UnixStream::connect(d.socket()).await.unwrap();
    let req = format!("ws://localhost/v1/live{query}")
        .into_client_request()
        .unwrap();
    Ok(client_async(req, stream).await?.0)
}

/// A WebSocket to `/v1/live?QUERY` over TCP, with `token` as the bearer token.
async fn ws_tcp(
    d: &Daemon,
    query: &str,
    token: Option<&str>,
) -> Result<WebSocketStream<tokio::net::TcpStream>, tungstenite::Error> {
    let stream = tokio::net::TcpStream::connect(d.tcp()).await.unwrap();
    let mut req = format!("ws://{}/v1/live{query}", d.tcp())
        .into_client_request()
        .unwrap();
    if let Some(token) = token {
        req.headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    }
    Ok(client_async(req, stream).await?.0)
}

/// Every event until the server closes, and its close frame.
async fn until_close<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
) -> (Vec<Value>, Option<CloseFrame>) {
    let mut events = Vec::new();
    let read = async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Text(t)) => events.push(serde_json::from_str(t.as_str()).unwrap()),
                Ok(Message::Close(frame)) => return frame,
                Ok(_) => {}
                Err(e) => panic!("the WebSocket failed: {e} after {events:?}"),
            }
        }
        None
    };
    let frame = tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("the server closes");
    (events, frame)
}

/// The error a session ended with, and its close code.
async fn refused<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocketStream<S>) -> (Value, u16) {
    let (events, frame) = until_close(&mut ws).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "error", "{events:?}");
    let code = frame.map(|f| u16::from(f.code)).unwrap_or(0);
    (events[0]["error"].clone(), code)
}

/// What a streamed session gave: its events (each with the time it came), when the
/// client sent `finish`, and the close frame.
struct Streamed {
    events: Vec<(Instant, Value)>,
    finished_at: Instant,
    close: Option<CloseFrame>,
}

impl Streamed {
    fn values(&self) -> Vec<Value> {
        self.events.iter().map(|(_, e)| e.clone()).collect()
    }
}

/// Send `options` (if any), then `audio` in frames of `frame` bytes, one every
/// `pace`, then `finish`, reading the events meanwhile.
async fn stream<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    ws: WebSocketStream<S>,
    options: Option<Value>,
    audio: &[u8],
    frame: usize,
    pace: Duration,
) -> Streamed {
    let (mut tx, mut rx) = ws.split();
    let reader = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(msg) = rx.next().await {
            match msg.expect("the WebSocket works") {
                Message::Text(t) => {
                    events.push((Instant::now(), serde_json::from_str(t.as_str()).unwrap()))
                }
                Message::Close(frame) => return (events, frame),
                _ => {}
            }
        }
        (events, None)
    });
    if let Some(o) = options {
        tx.send(Message::text(o.to_string())).await.unwrap();
    }
    let started = tokio::time::Instant::now();
    for (i, piece) in audio.chunks(frame).enumerate() {
        tx.send(Message::binary(piece.to_vec())).await.unwrap();
        tokio::time::sleep_until(started + pace * (i as u32 + 1)).await;
    }
    tx.send(Message::text(r#"{"type": "finish"}"#))
        .await
        .unwrap();
    let finished_at = Instant::now();
    let (events, close) = tokio::time::timeout(Duration::from_secs(120), reader)
        .await
        .expect("the session ends")
        .unwrap();
    Streamed {
        events,
        finished_at,
        close,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_websocket_streams_jfk_and_ends_with_the_result() {
    let d = Daemon::start(&["--tcp"]);

    // Over the socket: options first (48 kHz stereo, a greedy cleanup), then 100 ms
    // frames at 1.5× real time, then finish.
    let ws = ws_unix(&d, "").await.unwrap();
    let options = json!({
        "format": {"sample_rate": 48000, "channels": 2},
        "speech_model": "whisper-test",
        "text_model": "smollm2",
        "transcribe": {"language": "en"},
        "refine": {"temperature": 0.0},
    });
    let audio = s16le(&stereo_48k_i16(&jfk()));
    let frame = 48_000 / 10 * 2 * 2;
    let started = Instant::now();
    let s = stream(ws, Some(options), &audio, frame, Duration::from_millis(66)).await;
    eprintln!(
        "streamed over the socket in {:?} (finish sent after {:?})",
        started.elapsed(),
        s.finished_at - started
    );
    for (at, e) in &s.events {
        eprintln!(
            "{:6.2} {}",
            (*at - started).as_secs_f64(),
            e.to_string().chars().take(160).collect::<String>()
        );
    }
    let events = s.values();
    let r = check_events(&events);
    let transcript = r["transcript"].as_str().unwrap();
    assert!(says(transcript, PHRASE), "{r}");
    assert!(says(transcript, "and so my fellow americans"), "{r}");
    assert_eq!(
        (&r["speech_model"], &r["text_model"], &r["language"]),
        (&json!("whisper-test"), &json!("smollm2"), &json!("en")),
        "{r}"
    );
    assert!(
        (r["audio_secs"].as_f64().unwrap() - 11.0).abs() < 0.1,
        "{r}"
    );
    assert!(r["timings"]["finish_secs"].as_f64().unwrap() > 0.0, "{r}");
    assert!(!r["text"].as_str().unwrap().is_empty(), "{r}");
    // Partial and confirmed text came as the session went (on a busy 2-core machine
    // perhaps only after `finish`: how far decoding keeps up is core's tests' concern).
    for kind in ["partial", "confirmed", "refined"] {
        assert!(
            events.iter().any(|e| e["type"] == kind),
            "no {kind}: {events:?}"
        );
    }
    let early = s
        .events
        .iter()
        .filter(|(at, _)| *at < s.finished_at)
        .count();
    eprintln!(
        "{early} events before finish, {} after",
        s.events.len() - early
    );
    let close = s.close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1000, "{close:?}");
    assert!(d.wait_log(
        "live session finished: 11.0 s of audio",
        Duration::from_secs(5)
    ));

    // Over TCP with the token: the format from the query (16 kHz mono float), no
    // cleanup, the first 4 s of JFK.
    let token = d.token();
    let ws = ws_tcp(
        &d,
        "?sample_rate=16000&channels=1&encoding=f32le",
        Some(&token),
    )
    .await
    .unwrap();
    let options = json!({"refine": null, "transcribe": {"language": "en"}});
    let pcm = jfk();
    let audio = f32le(&pcm[..4 * 16_000]);
    let started = Instant::now();
    let s = stream(
        ws,
        Some(options),
        &audio,
        1600 * 4,
        Duration::from_millis(50),
    )
    .await;
    eprintln!("streamed over TCP in {:?}", started.elapsed());
    let events = s.values();
    let r = check_events(&events);
    assert!(
        says(r["transcript"].as_str().unwrap(), "so my fellow"),
        "{r}"
    );
    assert_eq!(r["text"], r["transcript"], "{r}");
    assert_eq!(r["text_model"], Value::Null, "{r}");
    assert!(events.iter().all(|e| e["type"] != "refined"), "{events:?}");
    assert_eq!(u16::from(s.close.unwrap().code), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_websocket_refuses_bad_requests_with_typed_errors() {
    let d = Daemon::start(&[
        "--tcp",
        "--max-live-sessions",
        "2",
        "--body-timeout-secs",
        "1",
    ]);
    let whisper_only = json!({"speech_model": "whisper-test", "refine": null});

    // On TCP the upgrade needs the token, as every /v1 call: refused as HTTP.
    for token in [None, Some("0123")] {
        match ws_tcp(&d, "", token).await {
            Err(tungstenite::Error::Http(r)) => {
                assert_eq!(r.status(), 401, "{token:?}");
                let body: Value = serde_json::from_slice(r.body().as_deref().unwrap()).unwrap();
                assert_eq!(body["error"]["kind"], "unauthorized");
            }
            other => panic!("{token:?}: not refused: {:?}", other.map(|_| ())),
        }
    }
    // A bad query, and a plain GET, are refused before the upgrade with the JSON error.
    match ws_unix(&d, "?encoding=u8").await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 400),
        other => panic!("not refused: {:?}", other.map(|_| ())),
    }
    match ws_unix(&d, "?sample_rate=0").await {
        Err(tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), 400);
            let body: Value = serde_json::from_slice(r.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["error"]["kind"], "invalid_argument", "{body}");
        }
        other => panic!("not refused: {:?}", other.map(|_| ())),
    }
    let (status, body) = d.http("/v1/live", "");
    assert!((400..500).contains(&status), "{status} {body}");
    assert_eq!(body["error"]["kind"], "bad_request", "{body}");

    // Bad options: malformed, out of range, an unknown model, a model not downloaded.
    let cases = [
        (json!("{\"format\": "), "bad_request"),
        (json!({"step_ms": 5, "refine": null}), "invalid_argument"),
        (json!({"refine": {"mode": "poem"}}), "bad_request"),
        (json!({"refine": {"temperature": -1}}), "invalid_argument"),
        (
            json!({"speech_model": "no-such-model", "refine": null}),
            "unknown_model",
        ),
        (
            json!({"speech_model": "whisper-large-v3-turbo", "refine": null}),
            "not_downloaded",
        ),
    ];
    for (options, kind) in cases {
        let mut ws = ws_unix(&d, "").await.unwrap();
        let text = match &options {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        ws.send(Message::text(text)).await.unwrap();
        let (error, code) = refused(ws).await;
        assert_eq!(error["kind"], kind, "{options}: {error}");
        assert!(
            error["message"].is_string() && error["status"].is_u64(),
            "{error}"
        );
        assert_eq!(code, 1008, "{options}: {error}");
    }

    // Audio that is not whole samples: an odd byte count of s16le.
    let mut ws = ws_unix(&d, "").await.unwrap();
    ws.send(Message::text(whisper_only.to_string()))
        .await
        .unwrap();
    ws.send(Message::binary(vec![0u8; 3201])).await.unwrap();
    let (error, code) = refused(ws).await;
    assert_eq!(
        (error["kind"].as_str(), code),
        (Some("invalid_argument"), 1008),
        "{error}"
    );
    assert!(
        error["reason"].as_str().unwrap().contains("whole samples"),
        "{error}"
    );

    // A text message after the audio that is not `finish`.
    let mut ws = ws_unix(&d, "").await.unwrap();
    ws.send(Message::binary(vec![0u8; 3200])).await.unwrap();
    ws.send(Message::text("{\"refine\": null}")).await.unwrap();
    let (error, _) = refused(ws).await;
    assert_eq!(error["kind"], "bad_request", "{error}");

    // A message over 1 MiB.
    let mut ws = ws_unix(&d, "").await.unwrap();
    let _ = ws.send(Message::binary(vec![0u8; (1 << 20) + 2])).await;
    let (error, code) = refused(ws).await;
    assert_eq!(
        (error["kind"].as_str(), code),
        (Some("payload_too_large"), 1009),
        "{error}"
    );
    assert_eq!(error["limit"], 1 << 20, "{error}");

    // A client that sends nothing for --body-timeout-secs.
    let started = Instant::now();
    let ws = ws_unix(&d, "").await.unwrap();
    let (error, _) = refused(ws).await;
    assert_eq!(error["kind"], "request_timeout", "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Audio past the recording limit (6 minutes at 8 GiB), 30 s a message: the server
    // takes no more, finishes with the audio it had (silence: no text), then the error.
    let mut ws = ws_unix(&d, "").await.unwrap();
    ws.send(Message::text(whisper_only.to_string()))
        .await
        .unwrap();
    let half_minute = vec![0u8; 30 * 32_000];
    for _ in 0..13 {
        if ws.send(Message::binary(half_minute.clone())).await.is_err() {
            break;
        }
    }
    let (events, frame) = until_close(&mut ws).await;
    let [.., last, error] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(last["type"], "final", "{events:?}");
    assert!(
        last["result"]["audio_secs"].as_f64().unwrap() <= 360.0,
        "{last}"
    );
    assert_eq!(last["result"]["warnings"][0]["code"], "no_speech", "{last}");
    assert_eq!(error["type"], "error", "{events:?}");
    assert_eq!(error["error"]["kind"], "audio_too_long", "{error}");
    assert_eq!(error["error"]["limit_secs"], 360, "{error}");
    assert_eq!(frame.map(|f| u16::from(f.code)), Some(1009));

    // Two sessions at once (--max-live-sessions 2); a third is refused until one ends.
    let mut a = ws_unix(&d, "").await.unwrap();
    let b = ws_unix(&d, "").await.unwrap();
    match ws_unix(&d, "").await {
        Err(tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), 503);
            let body: Value = serde_json::from_slice(r.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["error"]["kind"], "too_many_sessions", "{body}");
            assert_eq!(body["error"]["limit"], 2, "{body}");
        }
        other => panic!("not refused: {:?}", other.map(|_| ())),
    }
    // Finishing with no audio: no text, a `no_speech` warning.
    a.send(Message::text(whisper_only.to_string()))
        .await
        .unwrap();
    a.send(Message::text("finish")).await.unwrap();
    let (events, frame) = until_close(&mut a).await;
    let r = check_events(&events);
    assert_eq!(r["text"], "", "{r}");
    assert_eq!(r["warnings"][0]["code"], "no_speech", "{r}");
    assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000));
    drop(a);
    let c = ws_unix(&d, "")
        .await
        .expect("a session ended: room for one more");

    // The daemon shutting down ends the open sessions with an error.
    let (status, _) = d.http("/v1/status", "");
    assert_eq!(status, 200);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(d.child.id() as i32, libc::SIGTERM) };
    for ws in [b, c] {
        let (error, code) = refused(ws).await;
        assert_eq!(
            (error["kind"].as_str(), code),
            (Some("shutting_down"), 1001),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_client_that_disconnects_cancels_its_session() {
    let d = Arc::new(Daemon::start(&[]));
    let options = json!({
        "speech_model": "whisper-test",
        "transcribe": {"language": "en"},
        "refine": null,
    });
    let pcm: Vec<i16> = jfk().iter().map(|x| (x * 32767.0) as i16).collect();
    let bytes = s16le(&pcm);
    // The first 4 s, until they are decoded (the model loaded)...
    let mut ws = ws_unix(&d, "").await.unwrap();
    ws.send(Message::text(options.to_string())).await.unwrap();
    let (head, rest) = bytes.split_at(4 * 32_000);
    for piece in head.chunks(3200) {
        ws.send(Message::binary(piece.to_vec())).await.unwrap();
    }
    let first = tokio::time::timeout(Duration::from_secs(60), ws.next())
        .await
        .expect("an event");
    assert!(matches!(first, Some(Ok(Message::Text(_)))), "{first:?}");
    // ... then the rest of JFK and JFK again at once: a window of 18 s to decode,
    // seconds of work. The client leaves while Whisper is at it.
    for piece in rest.chunks(3200).chain(bytes.chunks(3200)) {
        ws.send(Message::binary(piece.to_vec())).await.unwrap();
    }
    let busy = {
        let d = d.clone();
        tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            while !d.in_use() {
                assert!(start.elapsed() < Duration::from_secs(20), "never decoding");
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    busy.await.unwrap();
    let left = Instant::now();
    drop(ws);
    // The work stops: the speech model goes idle within moments (the decode it was in
    // is cancelled) and stays idle, where the session's 18 s would keep it decoding, step
    // after step, for many seconds (allowances for a busy 2-core machine).
    let idle = {
        let d = d.clone();
        tokio::task::spawn_blocking(move || {
            while d.in_use() {
                assert!(left.elapsed() < Duration::from_secs(3), "still decoding");
                std::thread::sleep(Duration::from_millis(20));
            }
            let idle = left.elapsed();
            for _ in 0..30 {
                assert!(!d.in_use(), "decoding again after the cancel");
                std::thread::sleep(Duration::from_millis(100));
            }
            idle
        })
        .await
        .unwrap()
    };
    eprintln!("the speech model idle {idle:?} after the client left");
    assert!(
        d.wait_log(
            "live session cancelled: the client went away",
            Duration::from_secs(1)
        ),
        "the daemon did not notice"
    );

    // And a new session runs at once.
    let started = Instant::now();
    let ws = ws_unix(&d, "").await.unwrap();
    let audio = s16le(&pcm[..3 * 16_000]);
    let s = stream(ws, Some(options), &audio, 3200, Duration::from_millis(20)).await;
    let r = check_events(&s.values());
    eprintln!(
        "a new session in {:?}: {}",
        started.elapsed(),
        r["transcript"]
    );
    assert!(says(r["transcript"].as_str().unwrap(), "and so"), "{r}");
}
