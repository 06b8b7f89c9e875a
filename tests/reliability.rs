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

/// Waits until each of `functions` had a build end in SUCCESS, in whatever order.
fn all_succeed(gc: &mut Gc, functions: &[&str]) {
    let mut left: Vec<String> = functions.iter().map(|f| f.to_string()).collect();
    while !left.is_empty() {
        let v = gc.out.wait_for(&format!("SUCCESS of {left:?}"), LONG, |v| {
            v["event"] == "status" && v["to"] == "SUCCESS"
        });
        left.retain(|f| v["function"] != f.as_str());
    }
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

/// The emulator's build records for a function, read from its data dir (the API itself
/// misbehaves on purpose in these tests), oldest first.
fn records(emu: &Emu, function_id: &str) -> Vec<Value> {
    let mut out: Vec<Value> = std::fs::read_dir(emu.data_dir.join("builds"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
                .filter(|v: &Value| v["functionId"] == function_id)
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|v| v["seq"].as_u64());
    out
}

fn last_status(record: &Value) -> &str {
    record["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .and_then(|e| e["status"].as_str())
        .unwrap_or("")
}

/// Every file under `dir`, relative, with its content.
fn files_on_disk(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn files_in_zip(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = unzip(zip)
        .into_iter()
        .filter(|(n, _)| !n.ends_with('/'))
        .collect();
    out.sort();
    out
}

/// 200 edits across three functions (plain writes, editor renames, a sub-folder removed and
/// re-created, once a whole function folder) against an API that answers 30% of requests 503
/// with 200 ms latency: every function's last build holds exactly what is on disk.
#[test]
fn an_edit_storm_against_a_flaky_api_ends_in_the_final_content() {
    let emu = Emu::start(&["--fail-rate", "0.3", "--latency-ms", "200", "--seed", "42"]);
    let names = ["s1", "s2", "s3"];
    let mut project = Project::new(&emu.url);
    // Under load a request to the misbehaving emulator has been seen to stall; the daemon
    // must get over that too, by timing it out and trying again.
    project.api.push_str("request_timeout_secs = 3\n");
    for name in names {
        project = project.function(
            name,
            &[("main.py", "print(0)\n"), ("pkg/util.py", "u = 0\n")],
        );
    }
    let started = std::time::Instant::now();
    let mut gc = project.watch(&[]);
    gc.out.wait_for("ready", LONG, |v| v["event"] == "ready");

    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut edits = 0;
    for batch in 0..20 {
        for i in 0..10 {
            let f = names[(next() % 3) as usize];
            let edit = batch * 10 + i;
            match next() % 10 {
                0..=4 => project.write(
                    &format!("functions/{f}/main.py"),
                    &format!("print({edit})\n"),
                ),
                5..=7 => project.write_by_rename(
                    &format!("functions/{f}/pkg/util.py"),
                    &format!("u = {edit}\n"),
                ),
                8 => {
                    let pkg = project.fn_dir(f).join("pkg");
                    let _ = std::fs::remove_dir_all(&pkg);
                    project.write(
                        &format!("functions/{f}/pkg/util.py"),
                        &format!("u = {edit}\n"),
                    );
                }
                _ => project.write(
                    &format!("functions/{f}/extra{}.py", edit % 4),
                    &format!("e = {edit}\n"),
                ),
            }
            edits += 1;
        }
        if batch == 10 {
            // Once, a whole function folder goes and comes back.
            let dir = project.fn_dir("s2");
            std::fs::remove_dir_all(&dir).unwrap();
            project.write("functions/s2/main.py", "print('reborn')\n");
            project.write("functions/s2/pkg/util.py", "u = 'reborn'\n");
            edits += 1;
        }
        // Pace the batches by the daemon's progress, not by a clock: edits land while
        // uploads and builds are under way.
        gc.out
            .wait_for("a submit", LONG, |v| v["event"] == "submitted");
    }

    // Settle: every function's newest build holds what is on disk, and has ended.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    for name in names {
        let id = project.id(name);
        loop {
            let want = files_on_disk(&project.fn_dir(name));
            let newest = records(&emu, &id).pop();
            let done = newest.as_ref().is_some_and(|r| {
                let zip = emu.zip(r["id"].as_str().unwrap());
                files_in_zip(&zip) == want && last_status(r) == "SUCCESS"
            });
            if done {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: the last build does not hold the final content\n{}",
                gc.out.dump()
            );
            // Wait for the daemon's next step on this function.
            gc.out.wait_for("progress", LONG, |v| {
                v["function"] == name && v["event"] == "status"
            });
        }
    }

    // Never two builds of one function in flight: each began after the previous one ended.
    let mut builds = 0;
    for name in names {
        let all = records(&emu, &project.id(name));
        builds += all.len();
        for pair in all.windows(2) {
            let ended = pair[0]["timeline"].as_array().unwrap().last().unwrap()["time"]
                .as_str()
                .unwrap();
            let began = pair[1]["createdAt"].as_str().unwrap();
            assert!(
                began >= ended,
                "{name}: {} began at {began}, before {} ended at {ended}",
                pair[1]["id"],
                pair[0]["id"]
            );
        }
    }
    let retries = gc
        .out
        .events()
        .iter()
        .filter(|v| v["retry_in_ms"].is_u64())
        .count();
    assert!(
        gc.child.try_wait().unwrap().is_none(),
        "the daemon is still running"
    );
    eprintln!(
        "storm: {edits} edits, {builds} builds, {retries} retries, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn an_expiring_token_is_renewed_and_a_refused_key_is_reported_once() {
    const KEY: &str = "gc-key-reliability";
    let emu = Emu::start(&["--api-key", KEY, "--token-ttl-secs", "1"]);
    let project = Project::new(&emu.url).function("a", PY);
    let mut cmd = project.command(&[]);
    cmd.env_remove("GREENCLOUD_TOKEN")
        .env("GREENCLOUD_API_KEY", KEY)
        .arg("watch");
    let mut gc = Gc::spawn(cmd);
    status_of(&mut gc, "a", "SUCCESS");
    // The token lives one second: no auth error while it expires.
    gc.out.none_within(
        "an auth error",
        std::time::Duration::from_millis(1500),
        |v| v["event"] == "error",
    );
    project.write("functions/a/main.py", "print('later')\n");
    gc.out.wait_for("a build on a renewed token", LONG, |v| {
        is(v, "submitted", Some("a"))
    });
    status_of(&mut gc, "a", "SUCCESS");

    // One daemon per project: the first one stops before the one with a wrong key starts.
    drop(gc);
    let mut cmd = project.command(&[]);
    cmd.env_remove("GREENCLOUD_TOKEN")
        .env("GREENCLOUD_API_KEY", "wrong-key")
        .arg("watch");
    let mut bad = Gc::spawn(cmd);
    project.write("functions/a/main.py", "print('refused')\n");
    let error = bad
        .out
        .wait_for("the refusal", LONG, |v| v["event"] == "error");
    assert!(
        error["message"].as_str().unwrap().contains("refused"),
        "{error}"
    );
    assert!(
        error["retry_in_ms"].is_null(),
        "a refused key is not retried: {error}"
    );
    bad.out.none_within("a retry loop", QUIET, |v| {
        v["event"] == "error" && v["message"].as_str().unwrap_or("").contains("refused")
    });
    assert!(
        bad.child.try_wait().unwrap().is_none(),
        "the daemon is still running"
    );
}

#[test]
fn rate_limits_and_reset_uploads_are_retried() {
    // Every second request is a 429 with Retry-After: 2.
    let emu = Emu::start(&["--rate-limit-every", "2", "--retry-after-secs", "2"]);
    let project = Project::new(&emu.url).function("a", PY);
    let mut gc = project.watch(&[]);
    let retry = gc.out.wait_for("a 429 retry", LONG, |v| {
        v["event"] == "error" && v["retry_in_ms"].is_u64()
    });
    assert!(
        retry["retry_in_ms"].as_u64().unwrap() >= 2000,
        "Retry-After is honoured: {retry}"
    );
    status_of(&mut gc, "a", "SUCCESS");
    drop(gc);

    // 429 without Retry-After: backoff.
    let emu = Emu::start(&["--rate-limit-every", "2"]);
    let project = Project::new(&emu.url).function("a", PY);
    let mut gc = project.watch(&[]);
    gc.out.wait_for("a 429 retry", LONG, |v| {
        v["event"] == "error" && v["retry_in_ms"].is_u64()
    });
    status_of(&mut gc, "a", "SUCCESS");
    drop(gc);

    // Every second upload has its connection cut halfway: the retry sends it whole.
    let emu = Emu::start(&["--reset-upload-every", "2"]);
    let project = Project::new(&emu.url).function("a", PY).function("b", PY);
    let mut gc = project.watch(&[]);
    let mut ids = Vec::new();
    while ids.len() < 2 {
        let s = gc
            .out
            .wait_for("the submits", LONG, |v| is(v, "submitted", None));
        ids.push(s["build_id"].as_str().unwrap().to_string());
    }
    let retried = gc
        .out
        .events()
        .iter()
        .any(|v| v["event"] == "error" && v["retry_in_ms"].is_u64());
    assert!(retried, "one upload was cut and retried\n{}", gc.out.dump());
    let out = project.dir.path().join("a.zip");
    project.run(&["package", "a", "--out", out.to_str().unwrap()]);
    let a = gc
        .out
        .events()
        .into_iter()
        .find(|v| is(v, "submitted", Some("a")))
        .unwrap();
    assert!(
        emu.zip(a["build_id"].as_str().unwrap()) == std::fs::read(&out).unwrap(),
        "the stored zip is intact"
    );
}

#[test]
fn unknown_statuses_and_html_answers_are_reported_without_hanging() {
    // A build that stays in a status gcwatch does not know, past the build timeout.
    let emu = Emu::start(&["--hold-builds-in", "QUEUED_REMOTE"]);
    let mut project = Project::new(&emu.url).function("a", PY);
    project.api.push_str("build_timeout_secs = 1\n");
    project.save_config();
    let mut gc = project.watch(&[]);
    status_of(&mut gc, "a", "QUEUED_REMOTE");
    gc.out.wait_for("the timeout", LONG, |v| {
        is(v, "error", Some("a"))
            && v["message"]
                .as_str()
                .unwrap_or("")
                .contains("QUEUED_REMOTE")
    });
    project.write("functions/a/main.py", "print('on')\n");
    gc.out
        .wait_for("the next build", LONG, |v| is(v, "submitted", Some("a")));
    drop(gc);

    // Every third answer is an HTML page from a "proxy".
    let emu = Emu::start(&["--garbage-every", "3"]);
    let project = Project::new(&emu.url).function("a", PY).function("b", PY);
    let mut gc = project.watch(&[]);
    let error = gc
        .out
        .wait_for("the HTML answer", LONG, |v| v["event"] == "error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("html"),
        "the body is quoted: {error}"
    );
    all_succeed(&mut gc, &["a", "b"]);
}

#[test]
fn sigterm_during_an_upload_finishes_it_and_leaves_no_temp_file() {
    let emu = Emu::start(&["--latency-ms", "3000"]);
    let project = Project::new(&emu.url).function("a", PY);
    let mut gc = project.watch(&[]);
    gc.out
        .wait_for("packaged", LONG, |v| is(v, "packaged", Some("a")));
    let scratch = project.dir.path().join(".gcwatch/tmp");
    let scratch_while_running: Vec<_> = std::fs::read_dir(&scratch).unwrap().flatten().collect();
    assert_eq!(
        scratch_while_running.len(),
        1,
        "one scratch folder while running"
    );
    let asked = std::time::Instant::now();
    let (code, out) = gc.stop();
    assert_eq!(code, Some(0), "{}", out.dump());
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(11),
        "{:?}",
        asked.elapsed()
    );
    let events = out.events();
    assert!(
        events.iter().any(|v| is(v, "submitted", Some("a"))),
        "the upload finished\n{}",
        out.dump()
    );
    assert!(
        events.last().is_some_and(|v| v["event"] == "stopped"),
        "{}",
        out.dump()
    );
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
}

#[test]
fn a_build_submitted_before_a_crash_is_followed_after_the_restart() {
    let emu = Emu::start(&["--build-delay-ms", "500"]);
    let project = Project::new(&emu.url).function("a", PY);
    let mut gc = project.watch(&[]);
    let submitted = gc
        .out
        .wait_for("submitted", LONG, |v| is(v, "submitted", Some("a")));
    gc.signal(libc::SIGKILL);
    let _ = gc.child.wait();
    let id = submitted["build_id"].as_str().unwrap().to_string();

    let mut gc = project.watch(&[]);
    let end = gc.out.wait_for("the resumed build's end", LONG, |v| {
        v["event"] == "status" && v["build_id"] == id.as_str() && v["to"] == "SUCCESS"
    });
    assert_eq!(end["function"], "a");
    gc.out
        .none_within("a second build of the same content", QUIET, |v| {
            is(v, "submitted", None)
        });
}

#[test]
fn poll_mode_sees_edits_without_file_system_events() {
    let emu = Emu::start(&[]);
    let project = Project::new(&emu.url)
        .function("a", PY)
        .with_watch("poll = true\n");
    let mut gc = project.watch(&[]);
    status_of(&mut gc, "a", "SUCCESS");
    project.write("functions/a/main.py", "print('polled')\n");
    let s = gc.out.wait_for("a build found by polling", LONG, |v| {
        is(v, "submitted", Some("a"))
    });
    let entries = unzip(&emu.zip(s["build_id"].as_str().unwrap()));
    assert_eq!(entry(&entries, "main.py"), Some("print('polled')\n"));
}
