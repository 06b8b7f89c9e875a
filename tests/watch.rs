//! `gcwatch watch` end to end: the real binary, the real emulator, real folders and inotify.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const PY: &[(&str, &str)] = &[
    ("main.py", "print('a1')\n"),
    ("requirements.txt", "\n"),
    (".gitignore", "*.log\n__pycache__/\n"),
];

fn submitted(gc: &mut Gc, function: &str) -> String {
    let v = gc
        .out
        .wait_for(&format!("submitted of {function}"), LONG, |v| {
            is(v, "submitted", Some(function))
        });
    v["build_id"].as_str().unwrap().to_string()
}

fn ended(gc: &mut Gc, build_id: &str, status: &str) -> Value {
    let b = build_id.to_string();
    let s = status.to_string();
    gc.out
        .wait_for(&format!("status {status} of {build_id}"), LONG, move |v| {
            v["event"] == "status" && v["build_id"] == b.as_str() && v["to"] == s.as_str()
        })
}

/// Starts a project with functions `a` and `b`, waits for both initial builds to succeed
/// (in whatever order they come).
fn started(emu: &Emu) -> (Project, Gc, String, String) {
    let project = Project::new(&emu.url).function("a", PY).function("b", PY);
    let mut gc = project.watch(&[]);
    let ready = gc.out.wait_for("ready", LONG, |v| v["event"] == "ready");
    assert_eq!(ready["functions"], 2, "{ready}");
    assert_eq!(ready["files"], 6, "{ready}");
    let mut ids = std::collections::BTreeMap::new();
    while ids.len() < 2 {
        let v = gc
            .out
            .wait_for("the initial submits", LONG, |v| is(v, "submitted", None));
        ids.insert(
            v["function"].as_str().unwrap().to_string(),
            v["build_id"].as_str().unwrap().to_string(),
        );
    }
    let (a, b) = (ids["a"].clone(), ids["b"].clone());
    let mut ended = std::collections::BTreeSet::new();
    while ended.len() < 2 {
        let v = gc.out.wait_for("the initial builds' SUCCESS", LONG, |v| {
            v["event"] == "status" && v["to"] == "SUCCESS"
        });
        ended.insert(v["build_id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        ended,
        [a.clone(), b.clone()].into_iter().collect(),
        "{}",
        gc.out.dump()
    );
    (project, gc, a, b)
}

#[test]
fn initial_builds_ship_the_folder_contents_identical_to_package() {
    let emu = Emu::start(&[]);
    let (project, gc, a, _b) = started(&emu);

    let stored = emu.zip(&a);
    let names: Vec<String> = unzip(&stored).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [".gitignore", "main.py", "requirements.txt"],
        "no folder prefix, sorted"
    );

    let out = project.dir.path().join("a.zip");
    let packaged = project.run(&["package", "a", "--out", out.to_str().unwrap()]);
    assert_eq!(packaged.code, Some(0), "{packaged}");
    assert!(
        std::fs::read(&out).unwrap() == stored,
        "package --out differs from the uploaded zip"
    );

    // The status events went PENDING → BUILDING → SUCCESS, in order, for each build.
    let (code, out) = gc.stop();
    assert_eq!(code, Some(0), "{}", out.dump());
    let statuses: Vec<(Value, Value)> = out
        .events()
        .into_iter()
        .filter(|v| v["event"] == "status" && v["build_id"] == a.as_str())
        .map(|v| (v["from"].clone(), v["to"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (Value::Null, "PENDING".into()),
            ("PENDING".into(), "BUILDING".into()),
            ("BUILDING".into(), "SUCCESS".into())
        ],
        "{}",
        out.dump()
    );
    assert!(
        out.events().last().is_some_and(|v| v["event"] == "stopped"),
        "{}",
        out.dump()
    );
}

#[test]
fn an_edit_rebuilds_only_its_function_plain_write_and_rename() {
    let emu = Emu::start(&[]);
    let (project, mut gc, _a, _b) = started(&emu);

    project.write("functions/a/main.py", "print('a2')\n");
    let second = submitted(&mut gc, "a");
    ended(&mut gc, &second, "SUCCESS");
    assert_eq!(
        entry(&unzip(&emu.zip(&second)), "main.py"),
        Some("print('a2')\n")
    );

    project.write_by_rename("functions/a/main.py", "print('a3')\n");
    let third = submitted(&mut gc, "a");
    ended(&mut gc, &third, "SUCCESS");
    let entries = unzip(&emu.zip(&third));
    assert_eq!(entry(&entries, "main.py"), Some("print('a3')\n"));
    assert!(
        entries.iter().all(|(n, _)| !n.contains(".tmp")),
        "the editor's temp file is gone"
    );

    gc.out
        .none_within("build of b", QUIET, |v| is(v, "submitted", Some("b")));
    assert_eq!(emu.builds_of(&project.id("b")).len(), 1);
    assert_eq!(emu.builds_of(&project.id("a")).len(), 3);
}

#[test]
fn touch_same_bytes_and_ignored_changes_upload_nothing() {
    let emu = Emu::start(&[]);
    let (project, mut gc, _a, _b) = started(&emu);
    let main = project.fn_dir("a").join("main.py");

    // touch: only the mtime changes.
    let file = std::fs::File::options().write(true).open(&main).unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    drop(file);
    gc.out.wait_for("unchanged after touch", LONG, |v| {
        is(v, "unchanged", Some("a"))
    });

    // The same bytes written again.
    project.write("functions/a/main.py", "print('a1')\n");
    gc.out.wait_for("unchanged after rewrite", LONG, |v| {
        is(v, "unchanged", Some("a"))
    });

    // An ignored file: not even a change.
    project.write("functions/a/debug.log", "noise\n");
    project.write("functions/a/__pycache__/main.cpython-311.pyc", "noise\n");
    gc.out
        .none_within("reaction to an ignored file", QUIET, |v| {
            is(v, "submitted", None) || is(v, "change", Some("a")) || is(v, "packaged", None)
        });
    assert_eq!(emu.builds_of(&project.id("a")).len(), 1);
}

#[test]
fn fifty_quick_writes_make_one_build_of_the_last_content() {
    let emu = Emu::start(&[]);
    let (project, mut gc, _a, _b) = started(&emu);

    for i in 0..50 {
        project.write("functions/a/main.py", &format!("print({i})\n"));
    }
    let build = submitted(&mut gc, "a");
    ended(&mut gc, &build, "SUCCESS");
    assert_eq!(
        entry(&unzip(&emu.zip(&build)), "main.py"),
        Some("print(49)\n")
    );
    gc.out
        .none_within("a second build", QUIET, |v| is(v, "submitted", None));
    assert_eq!(emu.builds_of(&project.id("a")).len(), 2);
}

#[test]
fn edits_during_a_build_make_exactly_one_follow_up_after_it() {
    let emu = Emu::start(&["--build-delay-ms", "1500"]);
    let project = Project::new(&emu.url).function("a", PY);
    let mut gc = project.watch(&[]);
    let first = submitted(&mut gc, "a");

    project.write("functions/a/main.py", "print('during 1')\n");
    let queued = gc
        .out
        .wait_for("queued", LONG, |v| is(v, "queued", Some("a")));
    assert_eq!(queued["after"], first.as_str(), "{queued}");
    project.write("functions/a/extra.py", "x = 1\n");
    project.write_by_rename("functions/a/main.py", "print('during 2')\n");

    ended(&mut gc, &first, "SUCCESS");
    let second = submitted(&mut gc, "a");
    ended(&mut gc, &second, "SUCCESS");
    let entries = unzip(&emu.zip(&second));
    assert_eq!(entry(&entries, "main.py"), Some("print('during 2')\n"));
    assert_eq!(entry(&entries, "extra.py"), Some("x = 1\n"));
    gc.out
        .none_within("a third build", QUIET, |v| is(v, "submitted", None));
    assert_eq!(emu.builds_of(&project.id("a")).len(), 2);

    // The follow-up was submitted only after the first build ended.
    let events = gc.out.events();
    let at = |pred: &dyn Fn(&Value) -> bool| events.iter().position(pred).unwrap();
    let first_end =
        at(&|v| v["event"] == "status" && v["build_id"] == first.as_str() && v["to"] == "SUCCESS");
    let second_submit = at(&|v| v["event"] == "submitted" && v["build_id"] == second.as_str());
    assert!(first_end < second_submit, "{}", gc.out.dump());
    let queued_count = events.iter().filter(|v| v["event"] == "queued").count();
    assert_eq!(queued_count, 1, "{}", gc.out.dump());
}

#[test]
fn restart_builds_nothing_unchanged_and_exactly_what_changed_while_stopped() {
    let emu = Emu::start(&[]);
    let (project, gc, _a, _b) = started(&emu);
    let (code, out) = gc.stop();
    assert_eq!(code, Some(0), "{}", out.dump());
    assert!(
        out.events().iter().any(|v| v["event"] == "stopped"),
        "{}",
        out.dump()
    );

    let mut gc = project.watch(&[]);
    gc.out.wait_for("ready", LONG, |v| v["event"] == "ready");
    let unchanged = gc
        .out
        .wait_for("a unchanged", LONG, |v| is(v, "unchanged", None));
    let other = gc
        .out
        .wait_for("b unchanged", LONG, |v| is(v, "unchanged", None));
    assert_ne!(
        unchanged["function"],
        other["function"],
        "{}",
        gc.out.dump()
    );
    gc.out
        .none_within("a build after restart", QUIET, |v| is(v, "submitted", None));
    let (code, out) = gc.stop();
    assert_eq!(code, Some(0), "{}", out.dump());

    project.write("functions/b/main.py", "print('edited while stopped')\n");
    let mut gc = project.watch(&[]);
    let build = submitted(&mut gc, "b");
    ended(&mut gc, &build, "SUCCESS");
    gc.out
        .none_within("a second build", QUIET, |v| is(v, "submitted", None));
    assert_eq!(emu.builds_of(&project.id("a")).len(), 1);
    assert_eq!(emu.builds_of(&project.id("b")).len(), 2);
}

#[test]
fn a_failed_build_shows_its_log_and_the_daemon_goes_on() {
    let emu = Emu::start(&[
        "--build-cmd",
        "echo checking; test ! -f broken || { echo 'found broken'; exit 1; }",
    ]);
    let project = Project::new(&emu.url).function("a", &[("main.py", "x\n"), ("broken", "")]);
    let mut gc = project.watch(&[]);
    let first = submitted(&mut gc, "a");
    ended(&mut gc, &first, "FAILED");
    let log = gc
        .out
        .wait_for("build_log", LONG, |v| is(v, "build_log", Some("a")));
    assert_eq!(log["build_id"], first.as_str());
    gc.out.wait_for("the failing line", LONG, |v| {
        is(v, "build_log", Some("a")) && v["line"].as_str().unwrap_or("").contains("found broken")
    });

    std::fs::remove_file(project.fn_dir("a").join("broken")).unwrap();
    let second = submitted(&mut gc, "a");
    ended(&mut gc, &second, "SUCCESS");
}

#[test]
fn a_zip_without_root_files_fails_in_the_emulator_with_a_reason() {
    let emu = Emu::start(&[]);
    // Everything sits in one sub-folder, so the zip has no file at its root.
    let project = Project::new(&emu.url).function("a", &[("inner/main.py", "x\n")]);
    let mut gc = project.watch(&[]);
    let first = submitted(&mut gc, "a");
    ended(&mut gc, &first, "FAILED");
    gc.out
        .wait_for("a build_log line", LONG, |v| is(v, "build_log", Some("a")));
    project.write("functions/a/main.py", "x\n");
    let second = submitted(&mut gc, "a");
    ended(&mut gc, &second, "SUCCESS");
}

#[test]
fn no_initial_build_waits_for_an_edit() {
    let emu = Emu::start(&[]);
    let project = Project::new(&emu.url).function("a", PY);
    let mut gc = project.watch(&["--no-initial-build"]);
    gc.out.wait_for("ready", LONG, |v| v["event"] == "ready");
    gc.out
        .none_within("an initial build", QUIET, |v| is(v, "submitted", None));
    project.write("functions/a/main.py", "print('now')\n");
    let build = submitted(&mut gc, "a");
    ended(&mut gc, &build, "SUCCESS");
}
