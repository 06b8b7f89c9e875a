//! The kernel's inotify limits, provoked for real: a queue that overflows and watches that run
//! out. Lowering the limits needs root; elsewhere the test says so and checks nothing.
//!
//! One test in its own binary, so that the lowered limits meet no other test's daemon.

mod common;

use std::path::Path;

use common::*;

const QUEUE: &str = "/proc/sys/fs/inotify/max_queued_events";
const WATCHES: &str = "/proc/sys/fs/inotify/max_user_watches";

/// Sets a sysctl and puts the old value back when dropped.
struct Lowered {
    path: &'static str,
    old: String,
}

impl Lowered {
    fn set(path: &'static str, value: u32) -> Option<Lowered> {
        let old = std::fs::read_to_string(path).ok()?;
        std::fs::write(path, value.to_string()).ok()?;
        Some(Lowered { path, old })
    }
}

impl Drop for Lowered {
    fn drop(&mut self) {
        let _ = std::fs::write(self.path, self.old.trim());
    }
}

fn can_lower_limits() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && std::fs::OpenOptions::new()
        .write(true)
        .open(Path::new(QUEUE))
        .is_ok()
}

#[test]
fn overflow_and_exhausted_watches_lose_no_change() {
    if !can_lower_limits() {
        eprintln!("skipped: lowering {QUEUE} and {WATCHES} needs root and a writable /proc/sys");
        return;
    }
    let emu = Emu::start(&[]);

    // 1. A queue of 16 events overflows when 500 files appear at once.
    let project = Project::new(&emu.url).function("a", &[("main.py", "x\n")]);
    let mut gc = {
        let _queue = Lowered::set(QUEUE, 16).expect("lower the queue");
        let mut gc = project.watch(&[]);
        gc.out.wait_for("ready", LONG, |v| v["event"] == "ready");
        gc
    };
    gc.out.wait_for("the initial SUCCESS", LONG, |v| {
        is(v, "status", Some("a")) && v["to"] == "SUCCESS"
    });
    for i in 0..500 {
        project.write(&format!("functions/a/many/f{i:03}.txt"), &format!("{i}\n"));
    }
    // Where other processes have used up the machine's watches, the daemon polls from the
    // start and no queue can overflow; either way it must say so and lose nothing.
    let polling = gc.out.events().into_iter().find(|v| {
        v["event"] == "error"
            && v["message"]
                .as_str()
                .unwrap_or("")
                .contains("polling it instead")
    });
    let overflow = match polling {
        Some(polling) => polling,
        None => gc.out.wait_for("word of the overflow", LONG, |v| {
            v["event"] == "error" && v["message"].as_str().unwrap_or("").contains("overflow")
        }),
    };
    let mut last = None;
    let deadline = std::time::Instant::now() + LONG;
    while std::time::Instant::now() < deadline {
        let s = gc.out.wait_for("a build after the overflow", LONG, |v| {
            is(v, "submitted", Some("a"))
        });
        let id = s["build_id"].as_str().unwrap().to_string();
        let files = unzip(&emu.zip(&id))
            .iter()
            .filter(|(n, _)| n.starts_with("many/f"))
            .count();
        last = Some(files);
        if files == 500 {
            break;
        }
    }
    assert_eq!(
        last,
        Some(500),
        "every file is shipped after {overflow}\n{}",
        gc.out.dump()
    );
    drop(gc);

    // 2. With 8 watches allowed, a function of 30 folders is polled instead, and still built.
    let mut files: Vec<(String, String)> = (0..30)
        .map(|i| (format!("d{i}/x.py"), format!("{i}\n")))
        .collect();
    files.push(("main.py".into(), "y\n".into()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let project = Project::new(&emu.url).function("b", &refs);
    let mut gc = {
        let _watches = Lowered::set(WATCHES, 8).expect("lower the watches");
        let mut gc = project.watch(&[]);
        gc.out.wait_for("ready", LONG, |v| v["event"] == "ready");
        gc
    };
    let polled = gc.out.events().into_iter().find(|v| {
        v["event"] == "error"
            && v["message"]
                .as_str()
                .unwrap_or("")
                .contains("polling it instead")
    });
    assert!(
        polled.is_some(),
        "the daemon says it polls\n{}",
        gc.out.dump()
    );
    gc.out.wait_for("the initial SUCCESS", LONG, |v| {
        is(v, "status", Some("b")) && v["to"] == "SUCCESS"
    });
    project.write("functions/b/d29/x.py", "changed\n");
    let s = gc.out.wait_for("a build of the polled folder", LONG, |v| {
        is(v, "submitted", Some("b"))
    });
    let entries = unzip(&emu.zip(s["build_id"].as_str().unwrap()));
    assert_eq!(entry(&entries, "d29/x.py"), Some("changed\n"));
}
