//! Project helpers of the integration tests: temp project folders with a `greencloud.toml`,
//! `gcwatch` runs against them, and their JSON event lines read with deadlines.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::BIN;
/// The token every project run sends; the emulator accepts any non-empty one.
pub const TOKEN: &str = "test-token";

/// Lines of one child's stdout (or stderr), kept in order; `wait_for` consumes up to a match.
pub struct Lines {
    label: String,
    rx: Receiver<String>,
    /// Every line seen so far.
    pub seen: Vec<String>,
    /// Lines before this index were consumed by earlier waits.
    pos: usize,
}

impl Lines {
    pub fn read(label: &str, source: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(source).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            label: label.to_string(),
            rx,
            seen: Vec::new(),
            pos: 0,
        }
    }

    /// Reads one more line, waiting at most until `deadline`; `None` at the deadline or EOF.
    fn pull(&mut self, deadline: Instant) -> Option<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(line) => {
                self.seen.push(line);
                Some(())
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Consumes lines up to the next JSON event `pred` accepts; `None` if none came by `deadline`.
    fn next_match(&mut self, deadline: Instant, pred: &impl Fn(&Value) -> bool) -> Option<Value> {
        loop {
            while self.pos < self.seen.len() {
                self.pos += 1;
                match serde_json::from_str::<Value>(&self.seen[self.pos - 1]) {
                    Ok(v) if pred(&v) => return Some(v),
                    _ => {}
                }
            }
            self.pull(deadline)?;
        }
    }

    /// The next unconsumed JSON event that `pred` accepts, within `within`; panics with
    /// everything seen otherwise.
    pub fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        self.next_match(deadline, &pred).unwrap_or_else(|| {
            panic!(
                "{}: no {what} within {within:?}; lines seen:\n{}",
                self.label,
                self.seen.join("\n")
            )
        })
    }

    /// Asserts that no event `pred` accepts arrives within `window` (a quiet window, not a sleep:
    /// it fails as soon as one arrives).
    pub fn none_within(&mut self, what: &str, window: Duration, pred: impl Fn(&Value) -> bool) {
        if let Some(v) = self.next_match(Instant::now() + window, &pred) {
            panic!(
                "{}: unexpected {what}: {v}\nlines seen:\n{}",
                self.label,
                self.seen.join("\n")
            );
        }
    }

    /// Reads until EOF (the child exited) or the deadline.
    pub fn drain(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.pull(deadline).is_some() {}
    }

    /// Every JSON event seen so far.
    pub fn events(&self) -> Vec<Value> {
        self.seen
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn dump(&self) -> String {
        format!("{}:\n{}", self.label, self.seen.join("\n"))
    }
}

/// `v["event"] == name` and, when given, `v["function"] == function`.
pub fn is(v: &Value, name: &str, function: Option<&str>) -> bool {
    v["event"] == name && function.is_none_or(|f| v["function"] == f)
}

/// A project folder with a `greencloud.toml` and its function folders.
pub struct Project {
    pub dir: tempfile::TempDir,
    functions: Vec<String>,
    pub url: String,
    /// Extra lines for the `[watch]` table.
    pub watch: String,
    /// Extra lines for the `[api]` table.
    pub api: String,
}

impl Project {
    pub fn new(url: &str) -> Project {
        Project::new_in(url, &std::env::temp_dir())
    }

    /// A project in a new folder under `base`.
    pub fn new_in(url: &str, base: &Path) -> Project {
        Project {
            dir: tempfile::tempdir_in(base).unwrap(),
            functions: Vec::new(),
            url: url.to_string(),
            watch: "debounce_ms = 100\nmax_wait_ms = 2000\n".to_string(),
            api: "poll_interval_ms = 50\n".to_string(),
        }
    }

    /// Adds a function folder `functions/NAME` holding `files`.
    pub fn function(mut self, name: &str, files: &[(&str, &str)]) -> Project {
        for (path, content) in files {
            self.write(&format!("functions/{name}/{path}"), content);
        }
        std::fs::create_dir_all(self.fn_dir(name)).unwrap();
        self.functions.push(name.to_string());
        self.save_config();
        self
    }

    pub fn with_watch(mut self, lines: &str) -> Project {
        self.watch.push_str(lines);
        self.save_config();
        self
    }

    pub fn save_config(&self) {
        let mut text = format!(
            "[api]\nurl = \"{}\"\n{}\n[watch]\n{}\n",
            self.url, self.api, self.watch
        );
        for name in &self.functions {
            text.push_str(&format!(
                "[[functions]]\nname = \"{name}\"\npath = \"functions/{name}\"\nid = \"{}\"\n\n",
                self.id(name)
            ));
        }
        std::fs::write(self.config(), text).unwrap();
    }

    /// A function's id: fixed per name, 24 hex digits.
    pub fn id(&self, name: &str) -> String {
        let n = self
            .functions
            .iter()
            .position(|f| f == name)
            .expect("known function")
            + 1;
        format!("{n:024x}")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("greencloud.toml")
    }

    pub fn fn_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("functions").join(name)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Saves like many editors do: write a temp file beside the target, rename it over.
    pub fn write_by_rename(&self, rel: &str, content: &str) {
        let path = self.dir.path().join(rel);
        let tmp = path.with_file_name(format!(
            ".{}.tmp{}",
            path.file_name().unwrap().to_string_lossy(),
            std::process::id()
        ));
        std::fs::write(&tmp, content).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }

    /// Runs `gcwatch --config … --log-format json ARGS` to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run gcwatch");
        Output {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(self.config())
            .args(["--log-format", "json"])
            .args(args)
            .env("GREENCLOUD_TOKEN", TOKEN)
            .env_remove("GREENCLOUD_API_KEY")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Starts `gcwatch watch ARGS`.
    pub fn watch(&self, args: &[&str]) -> Gc {
        let mut cmd = self.command(&[]);
        cmd.arg("watch").args(args);
        Gc::spawn(cmd)
    }

    pub fn listing(&self) -> String {
        let mut out = String::new();
        for entry in walk(self.dir.path()) {
            out.push_str(&format!(
                "{}\n",
                entry.strip_prefix(self.dir.path()).unwrap().display()
            ));
        }
        out
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.clone());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk(&p));
            }
        }
    }
    out.sort();
    out
}

pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn count(&self, event: &str) -> usize {
        self.events().iter().filter(|v| v["event"] == event).count()
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A running `gcwatch watch`, killed on drop.
pub struct Gc {
    pub child: Child,
    pub out: Lines,
}

impl Gc {
    pub fn spawn(mut cmd: Command) -> Gc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn gcwatch watch");
        let out = Lines::read("gcwatch watch", child.stdout.take().unwrap());
        Gc { child, out }
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code.
    pub fn stop(mut self) -> (Option<i32>, Lines) {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut out =
                    std::mem::replace(&mut self.out, Lines::read("none", std::io::empty()));
                out.drain(Duration::from_secs(5));
                return (status.code(), out);
            }
            if Instant::now() > deadline {
                panic!(
                    "gcwatch did not exit within 15 s of SIGTERM\n{}",
                    self.out.dump()
                );
            }
            // Waiting on a child process has no event line to wait for; this polls its exit.
            self.out.drain(Duration::from_millis(20));
        }
    }
}

impl Drop for Gc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The names and contents of a zip's entries, in stored order.
pub fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a valid zip");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            (entry.name().to_string(), content)
        })
        .collect()
}

pub fn entry<'a>(entries: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a str> {
    entries
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, c)| std::str::from_utf8(c).unwrap())
}

pub const LONG: Duration = Duration::from_secs(30);
pub const QUIET: Duration = Duration::from_millis(1500);
