//! How gcwatch fits the way people run it: under systemd, in a terminal, `init`, completions.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use common::*;

const PY: &[(&str, &str)] = &[("main.py", "print('a1')\n"), ("requirements.txt", "\n")];

/// The next datagram on `socket` within `within`, or a panic saying what was expected.
fn datagram(socket: &UnixDatagram, within: Duration, expected: &str, gc: &Gc) -> String {
    socket.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 256];
    match socket.recv(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(e) => panic!(
            "no {expected} on NOTIFY_SOCKET within {within:?} ({e})\n{}",
            gc.out.dump()
        ),
    }
}

#[test]
fn systemd_hears_ready_after_ready_and_stopping_after_sigterm() {
    let emu = Emu::start(&[]);
    let project = Project::new(&emu.url).function("a", PY);
    let sock_dir = tempfile::tempdir().unwrap();
    let sock_path = sock_dir.path().join("notify");
    let socket = UnixDatagram::bind(&sock_path).unwrap();

    let mut cmd = project.command(&[]);
    cmd.env("NOTIFY_SOCKET", &sock_path)
        .arg("watch")
        .arg("--no-initial-build");
    let mut gc = Gc::spawn(cmd);

    let first = datagram(&socket, LONG, "READY=1", &gc);
    assert_eq!(first, "READY=1", "{}", gc.out.dump());
    // READY=1 is sent after the `ready` line is written, so the line is already there.
    gc.out
        .wait_for("ready", Duration::from_secs(5), |v| v["event"] == "ready");

    gc.signal(libc::SIGTERM);
    let second = datagram(&socket, LONG, "STOPPING=1", &gc);
    assert_eq!(second, "STOPPING=1", "{}", gc.out.dump());
    let (code, out) = gc.stop();
    assert_eq!(code, Some(0), "{}", out.dump());
    assert!(
        out.events().iter().any(|v| v["event"] == "stopped"),
        "{}",
        out.dump()
    );
}

/// Runs the binary in `dir` with `args`, colours off, to its end.
fn run_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run gcwatch")
}

fn show(output: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn init_writes_a_config_that_loads_once_the_ids_are_filled_in_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (rel, content) in [
        ("functions/hello/main.py", "print('hi')\n"),
        ("functions/api/go.mod", "module api\n"),
        ("web/package.json", "{}\n"),
        ("docs/README.md", "not a function\n"),
    ] {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    let first = run_in(root, &["init"]);
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    let said = String::from_utf8_lossy(&first.stdout);
    for name in ["hello", "api", "web"] {
        assert!(said.contains(name), "{name} not reported\n{}", show(&first));
    }
    assert!(said.contains("FILL-IN"), "{}", show(&first));
    let config = root.join("greencloud.toml");
    let written = std::fs::read_to_string(&config).unwrap();
    assert_eq!(written.matches("[[functions]]").count(), 3, "{written}");
    assert!(!written.contains("docs"), "{written}");

    // As written, the placeholders are refused with a message saying what to do.
    let unfilled = run_in(root, &["package", "hello"]);
    assert_eq!(unfilled.status.code(), Some(2), "{}", show(&unfilled));
    assert!(
        String::from_utf8_lossy(&unfilled.stdout).contains("fill in"),
        "{}",
        show(&unfilled)
    );

    let mut filled = written.clone();
    for n in 1..=3 {
        filled = filled.replacen("FILL-IN-24-HEX-DIGIT-ID", &format!("{n:024x}"), 1);
    }
    std::fs::write(&config, &filled).unwrap();
    for name in ["hello", "api", "web"] {
        let package = run_in(root, &["--log-format", "json", "package", name]);
        assert_eq!(package.status.code(), Some(0), "{}", show(&package));
        assert!(
            String::from_utf8_lossy(&package.stdout).contains("\"packaged\""),
            "{}",
            show(&package)
        );
    }

    let again = run_in(root, &["init"]);
    assert_eq!(again.status.code(), Some(2), "{}", show(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("already exists"),
        "{}",
        show(&again)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), filled);
}

#[test]
fn bash_accepts_the_bash_completions() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_in(dir.path(), &["completions", "bash"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let script = dir.path().join("gcwatch.bash");
    std::fs::write(&script, &output.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("run bash -n");
    assert!(
        check.status.success(),
        "bash -n refused the script:\n{}\n--- script\n{}",
        String::from_utf8_lossy(&check.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("complete -F"));
}

/// A tmux server of the test's own (its socket in a temp dir) with one 200×50 pane.
struct Tmux {
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    fn start() -> Tmux {
        let found = std::process::Command::new("tmux").arg("-V").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "this test needs tmux to give gcwatch a real terminal: install it (apt-get install tmux)"
        );
        let dir = tempfile::tempdir().unwrap();
        let tmux = Tmux {
            socket: dir.path().join("tmux.sock"),
            _dir: dir,
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "50",
            "bash --norc --noprofile",
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux");
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Types `line` and Enter into the pane.
    fn type_line(&self, line: &str) {
        self.run(&["send-keys", "-l", line]);
        self.run(&["send-keys", "Enter"]);
    }

    /// The pane's text with its escape codes, once a line starts with `marker` (so the typed
    /// command, which contains it too, does not count), polling tmux, the program that owns
    /// the screen, until the deadline.
    fn screen_with(&self, marker: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let screen = self.run(&["capture-pane", "-p", "-e", "-S", "-200"]);
            if screen.lines().any(|l| l.starts_with(marker)) {
                return screen;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {marker:?} on the terminal within {within:?}; it shows:\n{screen}"
            );
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

#[test]
fn colours_on_a_terminal_and_none_in_a_file_or_under_no_color() {
    let emu = Emu::start(&[]);
    let project = Project::new(&emu.url).function("a", PY);
    let dir = project.dir.path().display().to_string();
    let tmux = Tmux::start();
    let env = format!("env -u NO_COLOR -u RUST_LOG GREENCLOUD_TOKEN={TOKEN}");
    let gcwatch = format!("{env} {BIN}");
    tmux.type_line(&format!("cd '{dir}'"));

    tmux.type_line(&format!("{gcwatch} build --force; echo TERMINAL-DONE-$?"));
    let screen = tmux.screen_with("TERMINAL-DONE-", LONG);
    assert!(screen.contains("TERMINAL-DONE-0"), "{screen}");
    let success = screen
        .lines()
        .find(|l| l.contains("SUCCESS"))
        .unwrap_or_else(|| panic!("no SUCCESS line:\n{screen}"));
    assert!(
        success.contains("\x1b[32mSUCCESS"),
        "SUCCESS is not green on a terminal: {success:?}\n{screen}"
    );

    tmux.type_line(&format!(
        "{gcwatch} build --force > piped.txt; echo PIPED-DONE-$?"
    ));
    let screen = tmux.screen_with("PIPED-DONE-", LONG);
    assert!(screen.contains("PIPED-DONE-0"), "{screen}");
    let piped = std::fs::read_to_string(project.dir.path().join("piped.txt")).unwrap();
    assert!(piped.contains("SUCCESS"), "{piped}");
    assert!(!piped.contains('\x1b'), "escape codes in a file: {piped:?}");

    tmux.type_line(&format!(
        "{env} NO_COLOR=1 {BIN} build --force; echo NO-COLOR-DONE-$?"
    ));
    let screen = tmux.screen_with("NO-COLOR-DONE-", LONG);
    // Only what this last run printed: the lines after its command line.
    let (_, last_run) = screen
        .rsplit_once("NO_COLOR=1")
        .unwrap_or_else(|| panic!("the NO_COLOR=1 command line is not on screen:\n{screen}"));
    let success = last_run
        .lines()
        .find(|l| l.contains("SUCCESS"))
        .unwrap_or_else(|| panic!("no SUCCESS line:\n{screen}"));
    assert!(
        !success.contains("\x1b["),
        "colour despite NO_COLOR: {success:?}\n{screen}"
    );

    // A zip large enough for the progress bar goes up through the counting stream intact.
    let big = vec![7u8; 3 << 20];
    std::fs::write(project.fn_dir("a").join("big.png"), &big).unwrap();
    tmux.type_line(&format!("{gcwatch} build --force; echo BIG-DONE-$?"));
    let screen = tmux.screen_with("BIG-DONE-", LONG);
    assert!(screen.contains("BIG-DONE-0"), "{screen}");
    let (_, last_run) = screen.rsplit_once("BIG-DONE-$?").unwrap();
    let submitted = last_run
        .lines()
        .find(|l| l.contains("submitted build "))
        .unwrap_or_else(|| panic!("no submitted line:\n{screen}"));
    let build_id = submitted
        .split("submitted build ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    let stored = unzip(&emu.zip(build_id));
    assert_eq!(entry_bytes(&stored, "big.png"), Some(&big[..]), "{screen}");
    assert!(
        !last_run.contains("uploading ["),
        "the bar is cleared once done:\n{screen}"
    );
}

fn entry_bytes<'a>(entries: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    entries
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, c)| c.as_slice())
}
