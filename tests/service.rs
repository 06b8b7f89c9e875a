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
