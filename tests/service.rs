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
