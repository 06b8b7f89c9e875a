//! A `--build-cmd` and an unpacked upload in, the build's log lines and verdict out.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Bounds on one build command, so a runaway cannot hang or flood the emulator.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub max_lines: usize,
    pub max_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(600),
            max_lines: 2000,
            max_line_bytes: 4096,
        }
    }
}

/// How long output is still read after the command exited: background
/// processes it left behind are killed then, but one that escaped its
/// process group could hold the pipe open for ever.
const DRAIN: Duration = Duration::from_secs(2);

/// What a build command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub log: Vec<String>,
    pub success: bool,
}

/// Log lines, bounded in number and length; what does not fit is counted.
#[derive(Debug)]
pub struct LogLines {
    lines: Vec<String>,
    omitted: usize,
    limits: Limits,
}

impl LogLines {
    pub fn new(limits: Limits) -> LogLines {
        LogLines {
            lines: Vec::new(),
            omitted: 0,
            limits,
        }
    }

    pub fn push(&mut self, raw: &[u8]) {
        if self.lines.len() >= self.limits.max_lines {
            self.omitted += 1;
            return;
        }
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let mut line = String::from_utf8_lossy(raw).into_owned();
        if line.len() > self.limits.max_line_bytes {
            let mut cut = self.limits.max_line_bytes;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push_str(" […]");
        }
        self.lines.push(line);
    }

    pub fn finish(mut self, last: String) -> Vec<String> {
        if self.omitted > 0 {
            self.lines
                .push(format!("[{} more lines of output omitted]", self.omitted));
        }
        self.lines.push(last);
        self.lines
    }
}

/// Runs `sh -c CMD` in `dir` with `env` added, stdout and stderr merged
/// line by line into the log, and ends with a line on how it exited.
pub async fn run(cmd: &str, dir: &Path, env: &[(&str, &str)], limits: Limits) -> Outcome {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Outcome {
                log: vec![format!("cannot start the build command: {e}")],
                success: false,
            }
        }
    };
    let mut group = Group(child.id());

    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(read_lines(
            out,
            tx.clone(),
            limits.max_line_bytes,
        )));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(read_lines(
            err,
            tx.clone(),
            limits.max_line_bytes,
        )));
    }
    drop(tx);

    let mut log = LogLines::new(limits);
    let deadline = tokio::time::sleep(limits.timeout);
    tokio::pin!(deadline);
    let mut exit: Option<Result<ExitStatus, String>> = None;
    let mut timed_out = false;
    let mut open = true;
    // Until the command exited and its output is read (or the drain time is up).
    while open || exit.is_none() {
        tokio::select! {
            line = rx.recv(), if open => match line {
                Some(line) => log.push(&line),
                None => open = false,
            },
            status = child.wait(), if exit.is_none() => {
                exit = Some(status.map_err(|e| e.to_string()));
                group.kill();
                deadline.as_mut().reset(Instant::now() + DRAIN);
            }
            () = &mut deadline => {
                if exit.is_some() {
                    break;
                }
                timed_out = true;
                group.kill();
                exit = Some(child.wait().await.map_err(|e| e.to_string()));
                deadline.as_mut().reset(Instant::now() + DRAIN);
            }
        }
    }
    for reader in readers {
        reader.abort();
    }
    let exit = exit.unwrap_or_else(|| Err("no exit status".to_string()));
    group.disarm();

    let (success, last) = match (timed_out, exit) {
        (true, _) => (
            false,
            format!(
                "build command timed out after {} s and was killed",
                limits.timeout.as_secs()
            ),
        ),
        (false, Ok(status)) if status.success() => {
            (true, "build command exited with status 0".into())
        }
        (false, Ok(status)) => (false, describe_failure(status)),
        (false, Err(e)) => (false, format!("cannot wait for the build command: {e}")),
    };
    Outcome {
        log: log.finish(last),
        success,
    }
}

fn describe_failure(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("build command exited with status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("build command was killed by signal {signal}");
        }
    }
    format!("build command failed: {status}")
}

/// Sends each line (at most `max` bytes of it) until end of file.
async fn read_lines(stream: impl AsyncRead + Unpin, tx: mpsc::Sender<Vec<u8>>, max: usize) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        let mut complete = false;
        // Read a line piecewise so one endless line cannot take all memory.
        while !complete {
            let available = match reader.fill_buf().await {
                Ok([]) | Err(_) => break,
                Ok(bytes) => bytes,
            };
            let (take, found) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (available.len(), false),
            };
            let room = (max + 1).saturating_sub(line.len()).min(take);
            line.extend_from_slice(&available[..room]);
            reader.consume(take);
            complete = found;
        }
        if line.is_empty() && !complete {
            return;
        }
        if tx.send(line).await.is_err() {
            return;
        }
    }
}

/// The build command's process group: killed as a whole, so that what the
/// command started in the background does not outlive the build, including
/// when the build task itself is dropped at shutdown.
struct Group(Option<u32>);

impl Group {
    fn kill(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.and_then(|pid| i32::try_from(pid).ok()) {
            // SAFETY: kill(2) takes plain integers and touches no memory of ours.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_lines: usize, max_line_bytes: usize) -> Limits {
        Limits {
            timeout: Duration::from_secs(10),
            max_lines,
            max_line_bytes,
        }
    }

    #[test]
    fn log_lines_are_bounded() {
        let mut log = LogLines::new(limits(2, 5));
        for raw in [
            &b"hello\n"[..],
            b"long line here\r\n",
            b"dropped\n",
            b"also\n",
        ] {
            log.push(raw);
        }
        assert_eq!(
            log.finish("end".into()),
            vec![
                "hello",
                "long  […]",
                "[2 more lines of output omitted]",
                "end"
            ]
        );
    }

    #[test]
    fn lines_are_cut_on_char_boundaries() {
        let mut log = LogLines::new(limits(5, 5));
        log.push("ééé\n".as_bytes());
        log.push(b"\xffok\n");
        log.push(b"\xff ok\n");
        assert_eq!(
            log.finish("end".into()),
            vec!["éé […]", "\u{fffd}ok", "\u{fffd} o […]", "end"]
        );
    }

    #[tokio::test]
    async fn output_and_exit_status_become_the_log() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.go"), "x").unwrap();
        let cases = [
            (
                "ls; echo to-stderr >&2",
                true,
                vec!["main.go", "to-stderr", "build command exited with status 0"],
            ),
            (
                "echo \"$GCWATCH_BUILD_ID\"; exit 3",
                false,
                vec!["b1", "build command exited with status 3"],
            ),
            (
                "kill -9 $$",
                false,
                vec!["build command was killed by signal 9"],
            ),
        ];
        for (cmd, success, want) in cases {
            let got = run(
                cmd,
                dir.path(),
                &[("GCWATCH_BUILD_ID", "b1")],
                Limits::default(),
            )
            .await;
            // stdout and stderr race each other; the exit line always comes last.
            assert_eq!(
                (got.success, got.log.len()),
                (success, want.len()),
                "{cmd}: {:?}",
                got.log
            );
            for line in &want {
                assert!(got.log.iter().any(|l| l == line), "{cmd}: {:?}", got.log);
            }
            assert_eq!(
                got.log.last().map(String::as_str),
                want.last().copied(),
                "{cmd}"
            );
        }
    }

    #[tokio::test]
    async fn a_command_past_its_time_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let short = Limits {
            timeout: Duration::from_millis(200),
            ..Limits::default()
        };
        let started = Instant::now();
        let got = run("echo started; sleep 30 & sleep 30", dir.path(), &[], short).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(!got.success);
        assert_eq!(got.log.first().map(String::as_str), Some("started"));
        assert!(
            got.log.last().unwrap().contains("timed out"),
            "{:?}",
            got.log
        );
    }

    #[tokio::test]
    async fn background_processes_do_not_hold_the_build() {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let got = run("sleep 30 & echo done", dir.path(), &[], Limits::default()).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(got.success, "{:?}", got.log);
        assert_eq!(got.log, vec!["done", "build command exited with status 0"]);
    }
}
