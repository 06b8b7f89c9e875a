//! Helpers for the integration tests: the real binary in, its event lines and an HTTP handle on its API out.
//!
//! Nothing here sleeps to wait for something: every wait has a deadline and
//! ends as soon as what it waits for is seen; a wait that times out panics
//! with everything seen so far.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use gcwatch::api::{BuildInfo, BuildStatus};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;
use tempfile::TempDir;
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

pub const BIN: &str = env!("CARGO_BIN_EXE_gcwatch");

/// How long any one wait in these tests may take before it is a failure.
pub const PATIENCE: Duration = Duration::from_secs(20);

mod project;
#[allow(unused_imports)]
pub use project::*;

pub const F1: &str = "66787c5e84809f8a29ddc2f7";
pub const F2: &str = "666da32e84809f8a29ddc2e0";

/// JSON event lines read from a child's stdout on a thread of their own.
pub struct EventLines {
    rx: Receiver<String>,
    seen: Vec<String>,
}

impl EventLines {
    pub fn new(stdout: impl Read + Send + 'static) -> EventLines {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        EventLines {
            rx,
            seen: Vec::new(),
        }
    }

    /// Every line read so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// The next line, as JSON.
    pub fn next(&mut self, timeout: Duration) -> Value {
        self.try_next(timeout).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The next line, as JSON, or what went wrong with everything seen so far.
    pub fn try_next(&mut self, timeout: Duration) -> Result<Value, String> {
        let line = match self.rx.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "no event line within {timeout:?}; seen:\n{}",
                    self.seen.join("\n")
                ))
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(format!("stdout closed; seen:\n{}", self.seen.join("\n")))
            }
        };
        self.seen.push(line.clone());
        serde_json::from_str(&line).map_err(|e| {
            format!(
                "not a JSON event line ({e}): {line:?}; seen:\n{}",
                self.seen.join("\n")
            )
        })
    }

    /// The next event named `event`, skipping others.
    pub fn wait_for(&mut self, event: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "no {event:?} event within {timeout:?}; seen:\n{}",
                    self.seen.join("\n")
                );
            }
            let value = self.next(left);
            if value["event"] == event {
                return value;
            }
        }
    }
}

/// `gcwatch serve` running as a child process; killed when dropped.
pub struct Emu {
    pub url: String,
    pub data_dir: PathBuf,
    pub events: EventLines,
    child: Child,
    args: Vec<String>,
    stderr: Stderr,
    _tmp: Option<TempDir>,
}

impl Emu {
    /// An emulator with a fresh data dir of its own, started with `extra` flags.
    pub fn start(extra: &[&str]) -> Emu {
        let tmp = tempfile::tempdir().unwrap();
        let mut emu = Emu::start_in(&tmp.path().join("data"), extra);
        emu._tmp = Some(tmp);
        emu
    }

    /// An emulator on `data_dir`, which outlives it.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Emu {
        Emu::start_at("127.0.0.1:0", data_dir, extra)
    }

    /// An emulator on a given address (a port chosen earlier) and data dir.
    pub fn start_at(addr: &str, data_dir: &Path, extra: &[&str]) -> Emu {
        let mut args: Vec<String> = ["--log-format", "json", "serve", "--addr", addr]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(["--data".to_string(), data_dir.display().to_string()]);
        if !extra.contains(&"--build-delay-ms") {
            args.extend(["--build-delay-ms".to_string(), "50".to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let (child, stdout, stderr) = spawn(&args);
        let mut events = EventLines::new(stdout);
        let first = match events.try_next(PATIENCE) {
            Ok(first) => first,
            Err(e) => panic!(
                "{e}\ncommand: {BIN} {}\nstderr:\n{}",
                args.join(" "),
                stderr.all(PATIENCE)
            ),
        };
        assert_eq!(first["event"], "listening", "first line: {first}");
        let url = first["url"].as_str().expect("a url field").to_string();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with("/v1"),
            "{url}"
        );
        Emu {
            url,
            data_dir: data_dir.to_path_buf(),
            events,
            child,
            args,
            stderr,
            _tmp: None,
        }
    }

    pub fn api(&self) -> Api {
        Api::new(&self.url, Some("any-token"))
    }

    /// The zip stored for a build.
    pub fn zip(&self, build_id: &str) -> Vec<u8> {
        let path = self.data_dir.join("builds").join(format!("{build_id}.zip"));
        fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), self.report()))
    }

    /// Every build the emulator holds for a function id, newest first.
    pub fn builds_of(&self, function_id: &str) -> Vec<Value> {
        let list = self
            .api()
            .list(&format!("?limit=1000&functionId={function_id}"));
        list["results"].as_array().cloned().unwrap_or_default()
    }

    /// Stops it the way a user does (SIGTERM) and checks it says `stopped` and exits 0.
    pub fn stop(mut self) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child; it touches no memory.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        self.events.wait_for("stopped", PATIENCE);
        let status = wait_exit(&mut self.child, PATIENCE);
        assert!(
            status.success(),
            "exit status {status}; stderr:\n{}",
            self.stderr()
        );
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// What a failing test prints: the command, the events, stderr, the data dir.
    pub fn report(&self) -> String {
        format!(
            "command: {BIN} {}\nevents:\n{}\nstderr:\n{}\ndata dir:\n{}",
            self.args.join(" "),
            self.events.seen().join("\n"),
            self.stderr(),
            listing(&self.data_dir)
        )
    }
}

impl Drop for Emu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("{}", self.report());
        }
    }
}

/// A child's stderr, collected on a thread as it comes.
pub struct Stderr {
    text: Arc<Mutex<String>>,
    closed: Receiver<()>,
}

impl Stderr {
    /// What was collected so far.
    pub fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// Everything, once the child closed its stderr (or `timeout` passed).
    pub fn all(&self, timeout: Duration) -> String {
        let _ = self.closed.recv_timeout(timeout);
        self.text()
    }
}

/// Starts the binary with `args`, stdout piped for events, stderr collected.
pub fn spawn(args: &[String]) -> (Child, ChildStdout, Stderr) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "gcwatch=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let text = Arc::new(Mutex::new(String::new()));
    let (done, closed) = mpsc::channel();
    let sink = text.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let _ = done.send(());
    });
    (child, stdout, Stderr { text, closed })
}

/// Waits for `child` to exit, killing it past `timeout`: the wait is on the kernel's word
/// that it exited (a pidfd becomes readable), not on pauses between looks.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    // SAFETY: pidfd_open on our own child's pid; the descriptor is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) } as i32;
    assert!(fd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd; then closing the descriptor we opened.
    let ready = unsafe { libc::poll(&mut poll, 1, ms) };
    unsafe { libc::close(fd) };
    if ready <= 0 {
        let _ = child.kill();
        panic!("the child did not exit within {timeout:?}");
    }
    child.wait().unwrap()
}

/// Every path under `root`, one a line.
pub fn listing(root: &Path) -> String {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            out.push(entry.path().display().to_string());
            if entry.path().is_dir() {
                walk(&entry.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out.sort();
    out.join("\n")
}

/// An HTTP handle on the emulator's API.
pub struct Api {
    pub url: String,
    token: Option<String>,
    client: Client,
}

impl Api {
    pub fn new(url: &str, token: Option<&str>) -> Api {
        Api {
            url: url.to_string(),
            token: token.map(str::to_string),
            client: Client::builder().timeout(PATIENCE).build().unwrap(),
        }
    }

    /// The same API with another `Authorization` header value, or none.
    pub fn with_header(&self, token: Option<&str>) -> Api {
        Api::new(&self.url, token)
    }

    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.token {
            Some(value) => request.header("Authorization", value),
            None => request,
        }
    }

    pub fn get(&self, path: &str) -> Response {
        self.authorized(self.client.get(format!("{}{path}", self.url)))
            .send()
            .unwrap()
    }

    pub fn post(&self, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Response {
        let mut request = self.client.post(format!("{}{path}", self.url)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        self.authorized(request).send().unwrap()
    }

    /// A POST that may get no answer at all (a cut connection).
    pub fn try_post(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Result<Response> {
        let request = self
            .client
            .post(format!("{}{path}", self.url))
            .header("Content-Type", content_type)
            .body(body);
        self.authorized(request).send()
    }

    pub fn exchange(&self, key: &str) -> Response {
        self.client
            .post(format!("{}/auth/apiKey", self.url))
            .json(&serde_json::json!({ "key": key }))
            .send()
            .unwrap()
    }

    /// Submits `upload` for `function_id` and returns the new build's id.
    pub fn submit(&self, function_id: &str, upload: Vec<u8>) -> String {
        let response = self.post(
            &format!("/build/{function_id}?arch=amd64"),
            Some("application/octet-stream"),
            upload,
        );
        let status = response.status();
        let body: Value = response.json().unwrap();
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("an id").to_string()
    }

    pub fn build(&self, id: &str) -> BuildInfo {
        let response = self.get(&format!("/build/{id}"));
        assert_eq!(response.status(), 200, "GET /build/{id}");
        response.json().unwrap()
    }

    pub fn list(&self, query: &str) -> Value {
        let response = self.get(&format!("/build/list{query}"));
        let status = response.status();
        let body: Value = response.json().unwrap();
        assert_eq!(status, 200, "list{query}: {body}");
        body
    }

    /// Polls build `id` until it ends; panics with the statuses seen past the deadline.
    pub fn wait_for_end(&self, id: &str) -> BuildInfo {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        loop {
            let info = self.build(id);
            if seen.last() != Some(&info.status) {
                seen.push(info.status.clone());
            }
            if info.status.is_final() {
                return info;
            }
            assert!(
                Instant::now() < deadline,
                "build {id} did not end within {PATIENCE:?}; statuses seen {seen:?}; last {info:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Calls `probe` until it gives `Some`, at most for `timeout`; panics past it
/// with what `probe` last said.
pub fn poll_until<T>(timeout: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) => assert!(
                Instant::now() < deadline,
                "still not there after {timeout:?}: {last}"
            ),
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A zip of `entries` made in memory; names ending in `/` are folders.
pub fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in entries {
        if name.ends_with('/') {
            zip.add_directory(*name, SimpleFileOptions::default())
                .unwrap();
        } else {
            zip.start_file(*name, SimpleFileOptions::default()).unwrap();
            zip.write_all(content.as_bytes()).unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

/// The statuses of a timeline, in order.
pub fn statuses(info: &BuildInfo) -> Vec<BuildStatus> {
    info.timeline
        .iter()
        .map(|entry| entry.status.clone())
        .collect()
}
