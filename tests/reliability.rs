//! The daemon stays up and loses nothing: an API that is down, crashes at any moment,
//! re-created folders, config edits, rescans and builds that never end.

mod common;

use common::*;
use serde_json::Value;

const PY: &[(&str, &str)] = &[("main.py", "print(0)\n"), (".gitignore", "*.log\n")];

fn status_of(gc: &mut Gc, function: &str, to: &'static str) -> Value {
    let f = function.to_string();
    gc.out
        .wait_for(&format!("{function} → {to}"), LONG, move |v| {
            is(v, "status", Some(&f)) && v["to"] == to
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_api_that_is_down_at_start_is_waited_for() {
    let port = free_port();
    let project = Project::new(&format!("http://127.0.0.1:{port}/v1")).function("a", PY);
    let mut gc = project.watch(&[]);
    let error = gc.out.wait_for("a retry announcement", LONG, |v| {
        v["event"] == "error" && v["retry_in_ms"].is_u64()
    });
    assert!(
        error["message"].as_str().unwrap().contains("cannot reach"),
        "{error}"
    );

    let data = tempfile::tempdir().unwrap();
    let emu = Emu::start_at(&format!("127.0.0.1:{port}"), data.path(), &[]);
    let submitted = gc.out.wait_for("the submit once the API is up", LONG, |v| {
        is(v, "submitted", Some("a"))
    });
    status_of(&mut gc, "a", "SUCCESS");
    assert_eq!(emu.builds_of(&project.id("a")).len(), 1, "{submitted}");
}

#[test]
fn a_build_past_its_timeout_is_reported_and_the_daemon_goes_on() {
    let emu = Emu::start(&["--build-delay-ms", "60000"]);
    let mut project = Project::new(&emu.url).function("a", PY);
    project.api.push_str("build_timeout_secs = 1\n");
    project.save_config();
    let mut gc = project.watch(&[]);
    let error = gc
        .out
        .wait_for("the timeout", LONG, |v| is(v, "error", Some("a")));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("did not end within 1 s"),
        "{error}"
    );

    // The next edit is built all the same (and times out the same way).
    project.write("functions/a/main.py", "print('next')\n");
    gc.out
        .wait_for("the next submit", LONG, |v| is(v, "submitted", Some("a")));

    let out = project.run(&["build", "--force"]);
    assert_eq!(out.code, Some(1), "a timed-out build exits 1: {out}");
}

#[test]
fn a_removed_and_recreated_folder_is_watched_again() {
    let emu = Emu::start(&[]);
    let project = Project::new(&emu.url).function("a", PY);
    let mut gc = project.watch(&[]);
    status_of(&mut gc, "a", "SUCCESS");

    let dir = project.fn_dir("a");
    std::fs::remove_dir_all(&dir).unwrap();
    gc.out.wait_for("word that the folder is gone", LONG, |v| {
        is(v, "error", Some("a")) && v["message"].as_str().unwrap_or("").contains("is gone")
    });
    std::fs::create_dir(&dir).unwrap();
    project.write("functions/a/main.py", "print('back')\n");
    let submitted = gc.out.wait_for("a build of the new folder", LONG, |v| {
        is(v, "submitted", Some("a"))
    });
    status_of(&mut gc, "a", "SUCCESS");
    let entries = unzip(&emu.zip(submitted["build_id"].as_str().unwrap()));
    assert_eq!(entry(&entries, "main.py"), Some("print('back')\n"));

    // The new folder's own changes arrive too.
    project.write("functions/a/lib.py", "x = 2\n");
    let submitted = gc.out.wait_for("a build after an edit in it", LONG, |v| {
        is(v, "submitted", Some("a"))
    });
    let entries = unzip(&emu.zip(submitted["build_id"].as_str().unwrap()));
    assert_eq!(entry(&entries, "lib.py"), Some("x = 2\n"));
}

#[test]
fn config_edits_reload_and_broken_ones_keep_the_running_config() {
    let emu = Emu::start(&[]);
    let project = Project::new(&emu.url).function("a", PY);
    let mut gc = project.watch(&[]);
    status_of(&mut gc, "a", "SUCCESS");

    // A new function appears in the config: it is watched and built.
    let good = std::fs::read_to_string(project.config()).unwrap();
    project.write("functions/c/main.py", "print('c')\n");
    let with_c = format!(
        "{good}[[functions]]\nname = \"c\"\npath = \"functions/c\"\nid = \"{:024x}\"\n",
        99
    );
    std::fs::write(project.config(), &with_c).unwrap();
    let reloaded = gc
        .out
        .wait_for("config_reloaded", LONG, |v| v["event"] == "config_reloaded");
    assert_eq!(reloaded["functions"], 2, "{reloaded}");
    status_of(&mut gc, "c", "SUCCESS");

    // A broken edit is an error; the daemon keeps the running config and keeps building.
    project.write_by_rename("greencloud.toml", &format!("{with_c}\n[watch\n"));
    let error = gc.out.wait_for("the broken config's error", LONG, |v| {
        v["event"] == "error"
            && v["message"]
                .as_str()
                .unwrap_or("")
                .contains("config not reloaded")
    });
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("greencloud.toml:"),
        "{error}"
    );
    project.write("functions/c/main.py", "print('c2')\n");
    gc.out.wait_for("a build after the broken edit", LONG, |v| {
        is(v, "submitted", Some("c"))
    });
    status_of(&mut gc, "c", "SUCCESS");

    // Removing a function stops it.
    std::fs::write(project.config(), &good).unwrap();
    let reloaded = gc
        .out
        .wait_for("config_reloaded", LONG, |v| v["event"] == "config_reloaded");
    assert_eq!(reloaded["functions"], 1, "{reloaded}");
    project.write("functions/c/main.py", "print('c3')\n");
    gc.out
        .none_within("a build of a removed function", QUIET, |v| {
            is(v, "submitted", Some("c"))
        });
}

#[test]
fn a_rescan_builds_nothing_unchanged_and_the_daemon_goes_on() {
    let emu = Emu::start(&[]);
    let project = Project::new(&emu.url).function("a", PY);
    let mut gc = project.watch(&[]);
    status_of(&mut gc, "a", "SUCCESS");
    gc.signal(libc::SIGUSR1);
    let error = gc
        .out
        .wait_for("the rescan", LONG, |v| v["event"] == "error");
    assert!(
        error["message"].as_str().unwrap().contains("rescanning"),
        "{error}"
    );
    gc.out.wait_for("unchanged after the rescan", LONG, |v| {
        is(v, "unchanged", Some("a"))
    });
    project.write("functions/a/main.py", "print('after')\n");
    gc.out.wait_for("a build after the rescan", LONG, |v| {
        is(v, "submitted", Some("a"))
    });
}

/// `kill -9` at moments picked from the daemon's own progress, round after round; then the
/// state still loads, the last build holds the last content, and nothing unchanged is rebuilt.
#[test]
fn kill_9_at_any_moment_loses_no_edit() {
    const ROUNDS: usize = 20;
    const MOMENTS: [&str; 5] = ["ready", "change", "packaged", "submitted", "status"];
    let emu = Emu::start(&["--build-delay-ms", "100"]);
    let project = Project::new(&emu.url).function("a", PY);
    // A fixed xorshift sequence: the moments differ from round to round and run to run alike.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = Vec::new();
    for round in 0..ROUNDS {
        let mut gc = project.watch(&[]);
        let ready = gc.out.wait_for("ready", LONG, |v| v["event"] == "ready");
        project.write("functions/a/main.py", &format!("print({round})\n"));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let moment = MOMENTS[(seed % MOMENTS.len() as u64) as usize];
        if moment != "ready" {
            gc.out.wait_for(moment, LONG, |v| is(v, moment, Some("a")));
        }
        gc.signal(libc::SIGKILL);
        let _ = gc.child.wait();
        kills.push(moment);
        let bad_state = gc.out.events().into_iter().find(|v| {
            v["event"] == "error" && v["message"].as_str().unwrap_or("").contains("state file")
        });
        assert!(bad_state.is_none(), "round {round}: {bad_state:?}\n{ready}");
    }

    // Settle: run until the newest build has ended and the content is unchanged.
    let last = format!("print({})\n", ROUNDS - 1);
    let mut gc = project.watch(&[]);
    gc.out.wait_for("ready", LONG, |v| v["event"] == "ready");
    let api = emu.api();
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let newest = emu.builds_of(&project.id("a"))[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let info = api.wait_for_end(&newest);
        let content = unzip(&emu.zip(&newest));
        if entry(&content, "main.py") == Some(last.as_str()) {
            assert_eq!(info.status.as_str(), "SUCCESS", "{}", gc.out.dump());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the last edit was never built; kills at {kills:?}\n{}",
            gc.out.dump()
        );
        gc.out.wait_for("a build of the last edit", LONG, |v| {
            is(v, "submitted", Some("a"))
        });
    }
    let (code, out) = gc.stop();
    assert_eq!(code, Some(0), "{}", out.dump());

    let mut gc = project.watch(&[]);
    gc.out
        .wait_for("unchanged", LONG, |v| is(v, "unchanged", Some("a")));
    gc.out
        .none_within("a rebuild of unchanged content", QUIET, |v| {
            is(v, "submitted", None)
        });
}
