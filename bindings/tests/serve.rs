//! `murmur serve` end to end: the real binary started as a daemon in a private temporary
//! home, talked to over its Unix socket (and loopback TCP) by a small HTTP/1.1 client
//! written here, so every byte on the wire is the test's. Real models: SmolLM2-135M
//! (GGUF) for refine and the sidecar protocol, Whisper base (CTranslate2) for transcribe,
//! the SmolLM2 file served by a Hub look-alike for downloads.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use murmur_tests::hub_server::{FixtureFile, HubServer};
use murmur_tests::{fixture, smollm2_gguf};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client: one request per connection, chunked bodies read as they come.

enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Clone)]
enum Target {
    Unix(PathBuf),
    Tcp(String),
}

impl Target {
    fn connect(&self) -> Conn {
        match self {
            Target::Unix(p) => {
                let s = UnixStream::connect(p).expect("connect to the socket");
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                Conn::Unix(s)
            }
            Target::Tcp(a) => {
                let s = TcpStream::connect(a).expect("connect over TCP");
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                Conn::Tcp(s)
            }
        }
    }

    fn host(&self) -> String {
        match self {
            Target::Unix(_) => "localhost".into(),
            Target::Tcp(a) => a.clone(),
        }
    }
}

struct Response {
    status: u16,
    headers: HashMap<String, String>,
    reader: BufReader<Conn>,
    pending: Vec<u8>,
    finished: bool,
}

fn request(
    target: &Target,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut conn = target.connect();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        target.host(),
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    // The server may answer (413) and close before reading everything: ignore EPIPE.
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header line");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').expect("header");
        headers.insert(k.trim().to_lowercase(), v.trim().to_string());
    }
    Response {
        status,
        headers,
        reader,
        pending: Vec::new(),
        finished: false,
    }
}

fn post(target: &Target, path: &str, body: &Value) -> Response {
    request(
        target,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

fn get(target: &Target, path: &str) -> Response {
    request(target, "GET", path, &[], b"")
}

impl Response {
    fn chunked(&self) -> bool {
        self.headers
            .get("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
    }

    /// The next piece of the body, as it arrives; `None` at the end.
    fn next_piece(&mut self) -> Option<Vec<u8>> {
        if self.finished {
            return None;
        }
        if !self.chunked() {
            self.finished = true;
            let mut all = Vec::new();
            match self.headers.get("content-length") {
                Some(n) => {
                    all.resize(n.parse().unwrap(), 0);
                    self.reader.read_exact(&mut all).expect("body");
                }
                None => {
                    self.reader.read_to_end(&mut all).expect("body");
                }
            }
            return Some(all);
        }
        let mut size = String::new();
        self.reader.read_line(&mut size).expect("chunk size");
        let n = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        let mut data = vec![0; n + 2];
        if n == 0 {
            self.finished = true;
            return None;
        }
        self.reader.read_exact(&mut data).expect("chunk");
        data.truncate(n);
        Some(data)
    }

    fn body(mut self) -> Vec<u8> {
        let mut all = std::mem::take(&mut self.pending);
        while let Some(p) = self.next_piece() {
            all.extend(p);
        }
        all
    }

    fn json(self) -> Value {
        let status = self.status;
        let body = self.body();
        serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "status {status}: body is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        })
    }

    /// The next newline-delimited JSON object of a streamed body.
    fn next_line(&mut self) -> Option<Value> {
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                return Some(serde_json::from_slice(&line).expect("an NDJSON line"));
            }
            match self.next_piece() {
                Some(p) => self.pending.extend(p),
                None => {
                    assert!(self.pending.is_empty(), "a partial line at the end");
                    return None;
                }
            }
        }
    }

    fn lines(mut self) -> Vec<Value> {
        std::iter::from_fn(|| self.next_line()).collect()
    }
}

// ---------------------------------------------------------------------------------------
// The daemon, in a temporary home of its own.

fn murmur() -> Command {
    Command::new(env!("CARGO_BIN_EXE_murmur"))
}

struct Home {
    dir: tempfile::TempDir,
    endpoint: Option<String>,
}

impl Home {
    /// Offline, with SmolLM2 registered as the local model `smollm2`.
    fn new() -> Self {
        let home = Self {
            dir: tempfile::tempdir().unwrap(),
            endpoint: None,
        };
        let smol = smollm2_gguf();
        home.cli(&[
            "models",
            "add",
            smol.parent().unwrap().to_str().unwrap(),
            "--id",
            "smollm2",
        ]);
        home
    }

    fn online(endpoint: String) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            endpoint: Some(endpoint),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("MURMUR_CONFIG_DIR", self.path("config"))
            .env("HF_HOME", self.path("hf"))
            .env("HF_HUB_CACHE", self.path("hf/hub"))
            .env("MURMUR_DEFAULT_MODEL", "smollm2")
            .env_remove("MURMUR_SOCKET")
            .env_remove("MURMUR_IDLE_UNLOAD_SECS")
            .env_remove("MURMUR_IDLE_UNLOAD_MINUTES")
            .env_remove("HF_TOKEN");
        match &self.endpoint {
            Some(e) => cmd.env("HF_ENDPOINT", e).env_remove("HF_HUB_OFFLINE"),
            None => cmd.env("HF_HUB_OFFLINE", "1").env_remove("HF_ENDPOINT"),
        };
    }

    fn cli(&self, args: &[&str]) -> String {
        let mut cmd = murmur();
        self.env(&mut cmd);
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "murmur {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into()
    }

    fn socket(&self) -> PathBuf {
        self.path("run/murmur.sock")
    }

    /// `murmur serve --socket <home>/run/murmur.sock ARGS...`, once it is ready.
    fn serve(&self, args: &[&str]) -> Daemon {
        let mut cmd = murmur();
        self.env(&mut cmd);
        let mut child = cmd
            .arg("serve")
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[daemon] {line}");
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let ready = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(Ok(line))) => serde_json::from_str::<Value>(&line).expect("ready line"),
            other => {
                let _ = child.kill();
                panic!(
                    "the daemon did not start ({other:?}): {}",
                    log.lock().unwrap()
                )
            }
        };
        assert_eq!(ready["ready"], true);
        Daemon {
            child,
            ready,
            log,
            socket: self.socket(),
        }
    }
}

struct Daemon {
    child: Child,
    ready: Value,
    log: Arc<Mutex<String>>,
    socket: PathBuf,
}

impl Daemon {
    fn unix(&self) -> Target {
        Target::Unix(self.socket.clone())
    }

    fn tcp(&self) -> Target {
        Target::Tcp(self.ready["tcp"].as_str().expect("a TCP address").into())
    }

    fn token(&self) -> String {
        std::fs::read_to_string(self.ready["token_file"].as_str().unwrap()).unwrap()
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

    /// SIGTERM, and the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Refine `text` greedily (reproducible), collecting the stream.
fn refine_lines(target: &Target, text: &str, max_tokens: usize) -> Vec<Value> {
    let r = post(
        target,
        "/v1/refine",
        &json!({"text": text, "model": "smollm2", "mode": "grammar", "temperature": 0.0, "max_tokens": max_tokens}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    r.lines()
}

/// The streamed tokens joined, and the final `done` line.
fn tokens_and_done(lines: &[Value]) -> (String, Value) {
    assert_eq!(lines[0]["type"], "start", "{lines:?}");
    let last = lines.last().unwrap().clone();
    assert_eq!(last["type"], "done", "{last}");
    let text: String = lines[1..lines.len() - 1]
        .iter()
        .map(|l| {
            assert_eq!(l["type"], "token");
            l["text"].as_str().unwrap()
        })
        .collect();
    (text, last)
}

// ---------------------------------------------------------------------------------------

#[test]
fn socket_folder_and_lock_are_private() {
    let home = Home::new();
    let daemon = home.serve(&[]);
    let socket = home.socket();
    assert!(std::fs::metadata(&socket).unwrap().file_type().is_socket());
    assert_eq!(mode(&socket), 0o600, "socket mode");
    assert_eq!(mode(socket.parent().unwrap()), 0o700, "folder mode");
    assert_eq!(daemon.ready["tcp"], Value::Null, "no TCP unless asked");

    let status = get(&daemon.unix(), "/v1/status");
    assert_eq!(status.status, 200);
    let status = status.json();
    assert_eq!(status["status"], "running");
    assert_eq!(status["loaded"], Value::Null);
    assert_eq!(status["default_model"], "smollm2");
    assert_eq!(status["pid"], daemon.ready["pid"]);

    // A second daemon on the same socket refuses at once and leaves the first alone.
    let mut cmd = murmur();
    home.env(&mut cmd);
    let second = cmd
        .args(["serve", "--socket"])
        .arg(&socket)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("already running"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(get(&daemon.unix(), "/v1/status").status, 200);

    // SIGTERM: a clean exit that removes the socket.
    assert!(daemon.terminate().success());
    assert!(!socket.exists(), "socket removed on exit");

    // A folder others can enter is refused.
    let open = home.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = murmur();
    home.env(&mut cmd);
    let out = cmd
        .args(["serve", "--socket"])
        .arg(open.join("murmur.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("private"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!open.join("murmur.sock").exists());
}

#[test]
fn tcp_needs_the_token() {
    let home = Home::new();
    let token_file = home.path("token");
    let daemon = home.serve(&["--tcp", "--token-file", token_file.to_str().unwrap()]);
    assert_eq!(mode(&token_file), 0o600, "token file mode");
    let token = daemon.token();
    assert_eq!(token.len(), 64);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    let tcp = daemon.tcp();
    assert!(tcp.host().starts_with("127.0.0.1:"), "{}", tcp.host());

    let none = get(&tcp, "/v1/status");
    assert_eq!(none.status, 401);
    assert_eq!(none.json()["error"]["kind"], "unauthorized");
    let wrong = request(
        &tcp,
        "GET",
        "/v1/status",
        &[("Authorization", "Bearer 0123")],
        b"",
    );
    assert_eq!(wrong.status, 401);
    let bearer = format!("Bearer {token}");
    let right = request(
        &tcp,
        "GET",
        "/v1/status",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(right.status, 200);
    assert_eq!(right.json()["status"], "running");
    // Web pages are refused even with the token; the sidecar routes are off by default.
    let page = request(
        &tcp,
        "GET",
        "/v1/status",
        &[("Authorization", &bearer), ("Origin", "http://example.com")],
        b"",
    );
    assert_eq!(page.status, 403);
    assert_eq!(get(&tcp, "/status").status, 404);
    // The socket needs no token.
    assert_eq!(get(&daemon.unix(), "/v1/status").status, 200);
    drop(daemon);

    // Anything but loopback is refused.
    let mut cmd = murmur();
    home.env(&mut cmd);
    let out = cmd
        .args(["serve", "--tcp", "0.0.0.0:0", "--socket"])
        .arg(home.path("run2/murmur.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

#[test]
fn bad_requests_get_typed_errors() {
    let home = Home::new();
    let daemon = home.serve(&["--max-body-bytes", "4096"]);
    let unix = daemon.unix();
    let error = |r: Response, status: u16| {
        assert_eq!(r.status, status);
        let v = r.json();
        assert_eq!(v["error"]["status"], status);
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
        v["error"].clone()
    };

    let big = json!({"text": "x".repeat(10_000)}).to_string();
    let e = error(
        request(
            &unix,
            "POST",
            "/v1/refine",
            &[("Content-Type", "application/json")],
            big.as_bytes(),
        ),
        413,
    );
    assert_eq!(e["kind"], "payload_too_large");
    assert_eq!(e["limit"], 4096);

    let e = error(
        request(
            &unix,
            "POST",
            "/v1/refine",
            &[("Content-Type", "application/json")],
            b"{\"text\": ",
        ),
        400,
    );
    assert_eq!(e["kind"], "bad_request");
    assert!(
        e["message"].as_str().unwrap().contains("malformed JSON"),
        "{e}"
    );
    let e = error(post(&unix, "/v1/refine", &json!({"text": 42})), 400);
    assert!(
        e["message"].as_str().unwrap().contains("invalid type"),
        "{e}"
    );

    let e = error(
        post(&unix, "/v1/refine", &json!({"text": "hi", "mode": "poem"})),
        400,
    );
    assert_eq!(
        (e["kind"].as_str(), e["name"].as_str()),
        (Some("invalid_argument"), Some("mode"))
    );
    let e = error(post(&unix, "/v1/refine", &json!({"text": "  "})), 400);
    assert_eq!(e["name"], "text");
    let e = error(
        post(&unix, "/v1/refine", &json!({"text": "hi", "model": "nope"})),
        404,
    );
    assert_eq!(
        (e["kind"].as_str(), e["model"].as_str()),
        (Some("unknown_model"), Some("nope"))
    );
    // A catalog model not in the (empty, offline) cache: the client can offer a download.
    let e = error(
        post(
            &unix,
            "/v1/refine",
            &json!({"text": "hi", "model": "qwen3-1.7b"}),
        ),
        409,
    );
    assert_eq!(
        (e["kind"].as_str(), e["model"].as_str()),
        (Some("not_downloaded"), Some("qwen3-1.7b"))
    );
    let e = error(get(&unix, "/v1/nothing"), 404);
    assert_eq!(e["kind"], "not_found");
    let e = error(get(&unix, "/v1/refine"), 405);
    assert_eq!(e["kind"], "method_not_allowed");
    let e = error(post(&unix, "/v1/delete", &json!({"model": "smollm2"})), 400);
    assert_eq!(
        e["kind"], "invalid_argument",
        "a local folder is never deleted"
    );
}

#[test]
fn offline_download_streams_a_typed_error() {
    let home = Home::new();
    let daemon = home.serve(&[]);
    let r = post(
        &daemon.unix(),
        "/v1/download",
        &json!({"model": "qwen3-1.7b"}),
    );
    assert_eq!(r.status, 200);
    let lines = r.lines();
    assert_eq!(lines[0], json!({"type": "start", "model": "qwen3-1.7b"}));
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "error");
    assert_eq!(last["error"]["kind"], "offline");
}

#[test]
fn refine_streams_from_the_real_model() {
    let home = Home::new();
    let daemon = home.serve(&[]);
    let unix = daemon.unix();
    let lines = refine_lines(
        &unix,
        "i has went to the store yesterday and buyed three apple",
        48,
    );
    let (streamed, done) = tokens_and_done(&lines);
    assert!(lines.len() > 3, "several tokens streamed: {lines:?}");
    assert_eq!(done["model"], "smollm2");
    assert_eq!(done["text"].as_str().unwrap(), streamed.trim());
    assert!(!streamed.trim().is_empty());
    let stats = &done["stats"];
    assert!(stats["generated_tokens"].as_u64().unwrap() > 0);
    assert!(stats["prompt_tokens"].as_u64().unwrap() > 10);

    // The model stays warm; the non-streaming form answers the same greedy text.
    let status = get(&unix, "/v1/status").json();
    assert_eq!(status["loaded"], "smollm2");
    assert_eq!(status["in_use"], false);
    let one = post(
        &unix,
        "/v1/refine",
        &json!({"text": "i has went to the store yesterday and buyed three apple", "model": "smollm2",
                "mode": "grammar", "temperature": 0.0, "max_tokens": 48, "stream": false}),
    );
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["text"], done["text"]);

    // Models list shows it ready; unload frees it.
    let models = get(&unix, "/v1/models").json();
    let smol = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "smollm2")
        .expect("listed");
    assert_eq!(smol["state"], "ready");
    let unloaded = post(&unix, "/v1/unload", &json!({})).json();
    assert_eq!(unloaded["unloaded"], json!(["smollm2"]));
    assert_eq!(
        get(&unix, "/v1/models/smollm2").json()["state"],
        "downloaded"
    );
}

#[test]
fn two_clients_never_mix_their_streams() {
    let home = Home::new();
    let daemon = home.serve(&[]);
    let unix = daemon.unix();
    let a_text = "my freind dont like the wether today becuase it rain";
    let b_text = "the meeting are moved to thursday and nobody have told me";
    // Alone first: greedy decoding makes these the expected answers.
    let (a_alone, _) = tokens_and_done(&refine_lines(&unix, a_text, 40));
    let (b_alone, _) = tokens_and_done(&refine_lines(&unix, b_text, 40));
    assert_ne!(a_alone, b_alone);

    let (ta, tb) = (unix.clone(), unix.clone());
    let a = std::thread::spawn(move || refine_lines(&ta, a_text, 40));
    let b = std::thread::spawn(move || refine_lines(&tb, b_text, 40));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let (a_streamed, a_done) = tokens_and_done(&a);
    let (b_streamed, b_done) = tokens_and_done(&b);
    assert_eq!(a_streamed, a_alone, "client A got exactly its own tokens");
    assert_eq!(b_streamed, b_alone, "client B got exactly its own tokens");
    assert_eq!(a_done["text"].as_str().unwrap(), a_alone.trim());
    assert_eq!(b_done["text"].as_str().unwrap(), b_alone.trim());
}

#[test]
fn a_client_that_disconnects_cancels_its_generation() {
    let home = Home::new();
    let daemon = home.serve(&[]);
    let unix = daemon.unix();
    let long = json!({
        "text": "a dragon, a lighthouse and a lost key",
        "model": "smollm2",
        "mode": "custom",
        "prompt": "Write a very long, detailed story of at least two thousand words about the user's words.",
        "temperature": 0.8,
        "seed": 7,
        "max_tokens": 2000,
    });
    let mut r = post(&unix, "/v1/refine", &long);
    assert_eq!(r.status, 200);
    assert_eq!(r.next_line().unwrap()["type"], "start");
    assert_eq!(r.next_line().unwrap()["type"], "token");
    let started = Instant::now();
    drop(r);
    assert!(
        daemon.wait_log("cancelled after", Duration::from_secs(30)),
        "the generation was cancelled"
    );
    eprintln!("cancelled {:?} after the disconnect", started.elapsed());
    let status = get(&unix, "/v1/status").json();
    assert_eq!(status["in_use"], false);
    assert_eq!(status["loaded"], "smollm2", "still warm for the next call");

    // A call queued behind another, whose client leaves, never runs.
    let mut first = post(&unix, "/v1/refine", &long);
    assert_eq!(first.next_line().unwrap()["type"], "start");
    assert_eq!(first.next_line().unwrap()["type"], "token");
    let mut queued = post(
        &unix,
        "/v1/refine",
        &json!({"text": "hello there", "model": "smollm2"}),
    );
    let start = queued.next_line().unwrap();
    assert_eq!(
        (start["type"].as_str(), start["queued"].as_bool()),
        (Some("start"), Some(true))
    );
    drop(queued);
    assert!(
        daemon.wait_log("cancelled while queued", Duration::from_secs(30)),
        "the queued call was dropped"
    );
    drop(first);
    assert!(daemon.wait_log("cancelled after", Duration::from_secs(30)));
    // And the engine still answers.
    let (text, _) = tokens_and_done(&refine_lines(&unix, "thanks you", 16));
    assert!(!text.trim().is_empty());
}

#[test]
fn sidecar_protocol_answers_the_seeds_fields() {
    let home = Home::new();
    let daemon = home.serve(&["--tcp", "--sidecar"]);
    let tcp = daemon.tcp();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };

    let status = get(&tcp, "/status");
    assert_eq!(status.status, 200);
    assert_eq!(
        status.json(),
        json!({"status": "running", "model_loaded": false, "model_path": null})
    );

    // `model_path`: the .gguf file, as an app built for mlx-lm would pass a path.
    let gguf = smollm2_gguf().display().to_string();
    let load = post(&tcp, "/load", &json!({"model_path": gguf}));
    assert_eq!(load.status, 200);
    assert_eq!(load.json(), json!({"status": "loaded", "model_path": gguf}));
    assert_eq!(
        get(&tcp, "/status").json(),
        json!({"status": "running", "model_loaded": true, "model_path": gguf})
    );

    let generate = post(
        &tcp,
        "/generate",
        &json!({"prompt": "Fix the grammar: she go to school every days.", "max_tokens": 20, "temperature": 0.0}),
    );
    assert_eq!(generate.status, 200);
    let generated = generate.json();
    assert_eq!(keys(&generated), ["response", "tokens_generated"]);
    let n = generated["tokens_generated"].as_u64().unwrap();
    assert!((1..=20).contains(&n), "{generated}");
    assert!(!generated["response"].as_str().unwrap().trim().is_empty());
    // The Python sidecar's defaults (max_tokens 150, temperature 0.7) when left out.
    let generate = post(&tcp, "/generate", &json!({"prompt": "Say hello."}));
    assert_eq!(generate.status, 200);
    assert!(generate.json()["tokens_generated"].as_u64().unwrap() <= 150);

    let unload = post(&tcp, "/unload", &json!({}));
    assert_eq!(unload.status, 200);
    assert_eq!(
        unload.json(),
        json!({"status": "unloaded", "model_loaded": false})
    );
    assert_eq!(
        get(&tcp, "/status").json(),
        json!({"status": "running", "model_loaded": false, "model_path": null})
    );

    // Errors: FastAPI's `detail`; malformed JSON is a 400; /v1 still needs the token.
    let bad = request(
        &tcp,
        "POST",
        "/load",
        &[("Content-Type", "application/json")],
        b"{",
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["detail"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );
    let missing = post(&tcp, "/load", &json!({"model_path": "/no/such/model"}));
    assert_eq!(missing.status, 400);
    assert!(missing.json()["detail"].is_string());
    assert_eq!(get(&tcp, "/v1/status").status, 401);
}

#[test]
fn download_streams_progress_and_cancels() {
    let server = HubServer::start();
    let gguf = std::fs::read(smollm2_gguf()).unwrap();
    server.add_repo(
        "test-org/SmolLM2-GGUF",
        vec![FixtureFile::new("SmolLM2-135M-Instruct.Q4_1.gguf", gguf)],
    );
    let home = Home::online(server.endpoint());
    let daemon = home.serve(&[]);
    let unix = daemon.unix();
    let added = post(
        &unix,
        "/v1/models/add",
        &json!({"source": "test-org/SmolLM2-GGUF", "id": "smol-hub", "files": ["*.gguf"]}),
    );
    assert_eq!(added.status, 200);
    assert_eq!(added.json()["state"], "not_downloaded");

    // Slow: cancel from a second client in the middle.
    server.throttle(256 << 10, Duration::from_millis(30));
    let mut r = post(&unix, "/v1/download", &json!({"model": "smol-hub"}));
    assert_eq!(r.status, 200);
    assert_eq!(r.next_line().unwrap()["type"], "start");
    let progress = r.next_line().unwrap();
    assert_eq!(progress["type"], "progress");
    assert_eq!(progress["repo"], "test-org/SmolLM2-GGUF");
    assert!(progress["total"].as_u64().unwrap() > 90_000_000);
    let busy = post(&unix, "/v1/delete", &json!({"model": "smol-hub"}));
    assert_eq!(busy.status, 409, "delete is refused while downloading");
    assert_eq!(busy.json()["error"]["kind"], "busy");
    let cancel = post(&unix, "/v1/download/cancel", &json!({"model": "smol-hub"})).json();
    assert_eq!(cancel["cancelled"], true);
    let lines = r.lines();
    let last = lines.last().unwrap();
    assert_eq!(last["error"]["kind"], "cancelled", "{last}");

    // At full speed: progress to 1.0, then done with the model downloaded.
    server.throttle(4 << 20, Duration::ZERO);
    let lines = post(&unix, "/v1/download", &json!({"model": "smol-hub"})).lines();
    let fractions: Vec<f64> = lines
        .iter()
        .filter(|l| l["type"] == "progress")
        .map(|l| l["fraction"].as_f64().unwrap())
        .collect();
    assert!(!fractions.is_empty());
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");
    assert_eq!(*fractions.last().unwrap(), 1.0);
    let done = lines.last().unwrap();
    assert_eq!(done["type"], "done", "{done}");
    assert_eq!(done["model"]["state"], "downloaded");

    // Delete it (idle), and it is gone.
    let deleted = post(&unix, "/v1/delete", &json!({"model": "smol-hub"}));
    assert_eq!(deleted.status, 200);
    assert_eq!(
        get(&unix, "/v1/models/smol-hub").json()["state"],
        "not_downloaded"
    );
}

#[test]
fn transcribe_streams_segments_from_a_path_and_an_upload() {
    let home = Home::new();
    let whisper = fixture("whisper-base-ct2");
    home.cli(&[
        "models",
        "add",
        whisper.to_str().unwrap(),
        "--id",
        "whisper-test",
        "--audio",
    ]);
    // JSON bodies are capped far below the upload (352 kB): uploads have their own limit.
    let daemon = home.serve(&["--max-body-bytes", "65536"]);
    let unix = daemon.unix();
    let wav = fixture("audio/jfk.wav");

    let lines = post(
        &unix,
        "/v1/transcribe",
        &json!({"path": wav, "model": "whisper-test", "language": "en"}),
    )
    .lines();
    assert_eq!(lines[0]["type"], "start");
    let segments: Vec<&Value> = lines.iter().filter(|l| l["type"] == "segment").collect();
    assert!(!segments.is_empty(), "{lines:?}");
    assert!(segments[0]["end"].as_f64().unwrap() > segments[0]["start"].as_f64().unwrap());
    let done = lines.last().unwrap();
    assert_eq!(done["type"], "done", "{done}");
    let text = done["text"].as_str().unwrap().to_lowercase();
    assert!(
        text.contains("ask not what your country can do for you"),
        "{text}"
    );
    assert_eq!(done["segments"].as_array().unwrap().len(), segments.len());
    // Before the segments: the audio's length, the transcript's duration.
    assert_eq!(lines[1]["type"], "audio", "{lines:?}");
    let duration = lines[1]["duration"].as_f64().unwrap();
    assert!(
        (duration - done["duration"].as_f64().unwrap()).abs() < 0.01 && duration > 10.0,
        "{duration} vs {done}"
    );

    // The same audio uploaded as the body; the model stays loaded.
    let bytes = std::fs::read(&wav).unwrap();
    let upload = request(
        &unix,
        "POST",
        "/v1/transcribe?model=whisper-test&language=en&stream=false",
        &[("Content-Type", "audio/wav")],
        &bytes,
    );
    assert_eq!(upload.status, 200);
    let v = upload.json();
    assert_eq!(v["text"], done["text"]);
    assert_eq!(
        get(&unix, "/v1/status").json()["loaded_audio"],
        "whisper-test"
    );

    // Wrong kind of model, and an empty upload.
    let wrong = post(
        &unix,
        "/v1/transcribe",
        &json!({"path": wav, "model": "smollm2"}),
    );
    assert_eq!(wrong.status, 400);
    let empty = request(
        &unix,
        "POST",
        "/v1/transcribe",
        &[("Content-Type", "audio/wav")],
        b"",
    );
    assert_eq!(empty.status, 400);
}

#[test]
fn transcribe_sniffs_json_answers_4xx_for_bad_paths_and_audio_and_cancels_on_disconnect() {
    let home = Home::new();
    let whisper = fixture("whisper-base-ct2");
    home.cli(&[
        "models",
        "add",
        whisper.to_str().unwrap(),
        "--id",
        "whisper-test",
        "--audio",
    ]);
    let daemon = home.serve(&[]);
    let unix = daemon.unix();
    let wav = fixture("audio/jfk.wav");

    // A JSON request sent without a JSON content type (curl -d sends a form type) is a
    // request, not an upload to decode.
    let body = json!({"path": wav, "model": "whisper-test", "language": "en", "stream": false});
    let r = request(&unix, "POST", "/v1/transcribe", &[], body.to_string().as_bytes());
    assert_eq!(r.status, 200);
    let text = r.json()["text"].as_str().unwrap().to_lowercase();
    assert!(text.contains("ask not what your country"), "{text}");
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let missing = json!({"path": home.path("nowhere.wav"), "model": "whisper-test"});
    let r = request(
        &unix,
        "POST",
        "/v1/transcribe",
        &form,
        missing.to_string().as_bytes(),
    );
    // Read as JSON: the path it names is missing (a 404, not an audio error).
    assert_eq!(r.status, 404);
    let v = r.json();
    assert_eq!(v["error"]["kind"], "io", "{v}");
    assert!(v["error"]["path"].as_str().unwrap().ends_with("nowhere.wav"));
    // The same with the JSON content type, and a body that only looks like JSON.
    assert_eq!(post(&unix, "/v1/transcribe", &missing).status, 404);
    let r = request(&unix, "POST", "/v1/transcribe", &[], b"{\"path\": ");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["kind"], "bad_request");

    // Reported: 3 KB of jfk.wav claiming 4,294,967,295 Hz, uploaded, took the daemon
    // down (the resampler allocated 23 GB). Now it is refused and the daemon answers.
    let mut bytes = std::fs::read(&wav).unwrap();
    bytes.truncate(3000);
    bytes[4..8].copy_from_slice(&2992u32.to_le_bytes());
    bytes[74..78].copy_from_slice(&2922u32.to_le_bytes());
    bytes[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    let audio = [("Content-Type", "audio/wav")];
    let r = request(
        &unix,
        "POST",
        "/v1/transcribe?model=whisper-test&stream=false",
        &audio,
        &bytes,
    );
    assert_eq!(r.status, 422);
    let v = r.json();
    assert_eq!(v["error"]["kind"], "audio", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("4294967295 Hz"));
    assert_eq!(get(&unix, "/v1/status").json()["status"], "running");

    // A client that leaves cancels its transcription at once, even while the audio is
    // still being read (20 minutes of speech as FLAC): it was once left running ~40 s.
    let long = home.path("long.flac");
    let ok = Command::new("sox")
        .arg(&wav)
        .arg(&long)
        .args(["repeat", "108"])
        .status()
        .expect("sox is installed")
        .success();
    assert!(ok);
    let mut r = post(
        &unix,
        "/v1/transcribe",
        &json!({"path": long, "model": "whisper-test", "language": "en"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.next_line().unwrap()["type"], "start");
    // The audio's length comes from its header, before any work on it.
    let line = r.next_line().unwrap();
    assert_eq!(line["type"], "audio", "{line}");
    assert!((line["duration"].as_f64().unwrap() - 1199.0).abs() < 0.01, "{line}");
    let started = Instant::now();
    drop(r);
    assert!(
        daemon.wait_log("transcribe with whisper-test cancelled", Duration::from_secs(20)),
        "the transcription was cancelled"
    );
    eprintln!("cancelled {:?} after the disconnect", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let status = get(&unix, "/v1/status").json();
    assert_eq!(status["in_use"], false);
    assert_eq!(status["loaded_audio"], "whisper-test", "still warm");
}
