//! `gcwatch build`, `package`, `builds` and `status`: one-shot commands, their exit codes, and
//! bad config and secrets handling.

mod common;

use common::*;

const FILES: &[(&str, &str)] = &[("main.py", "print(1)\n"), (".gitignore", "*.log\n")];

#[test]
fn build_exits_0_then_skips_unchanged_and_force_rebuilds() {
    let emu = Emu::start(&[]);
    let project = Project::new(&emu.url)
        .function("a", FILES)
        .function("b", FILES);

    let first = project.run(&["build"]);
    assert_eq!(first.code, Some(0), "{first}");
    assert_eq!(first.count("submitted"), 2, "{first}");
    let successes = first
        .events()
        .iter()
        .filter(|v| v["event"] == "status" && v["to"] == "SUCCESS")
        .count();
    assert_eq!(successes, 2, "{first}");

    let again = project.run(&["build"]);
    assert_eq!(again.code, Some(0), "{again}");
    assert_eq!(again.count("submitted"), 0, "{again}");
    assert_eq!(again.count("unchanged"), 2, "{again}");

    let forced = project.run(&["build", "a", "--force"]);
    assert_eq!(forced.code, Some(0), "{forced}");
    assert_eq!(forced.count("submitted"), 1, "{forced}");
    assert_eq!(emu.builds_of(&project.id("a")).len(), 2);
    assert_eq!(emu.builds_of(&project.id("b")).len(), 1);

    let no_wait = project.run(&["build", "b", "--force", "--no-wait"]);
    assert_eq!(no_wait.code, Some(0), "{no_wait}");
    assert_eq!(no_wait.count("submitted"), 1, "{no_wait}");
    assert_eq!(no_wait.count("status"), 0, "{no_wait}");
}

#[test]
fn build_exits_1_when_a_build_fails() {
    let emu = Emu::start(&[
        "--build-cmd",
        "test ! -f broken || { echo 'broken found'; exit 1; }",
    ]);
    let project = Project::new(&emu.url)
        .function("good", FILES)
        .function("bad", &[("main.py", "x\n"), ("broken", "")]);
    let out = project.run(&["build"]);
    assert_eq!(out.code, Some(1), "{out}");
    let events = out.events();
    assert!(
        events
            .iter()
            .any(|v| v["event"] == "status" && v["function"] == "bad" && v["to"] == "FAILED"),
        "{out}"
    );
    assert!(
        events.iter().any(|v| v["event"] == "build_log"
            && v["line"].as_str().unwrap_or("").contains("broken found")),
        "{out}"
    );
    assert!(
        events
            .iter()
            .any(|v| v["event"] == "status" && v["function"] == "good" && v["to"] == "SUCCESS"),
        "{out}"
    );
}

#[test]
fn build_exits_3_when_the_api_is_unreachable() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let project = Project::new(&format!("http://127.0.0.1:{port}/v1")).function("a", FILES);
    let out = project.run(&["build"]);
    assert_eq!(out.code, Some(3), "{out}");
    let errors: Vec<_> = out
        .events()
        .into_iter()
        .filter(|v| v["event"] == "error")
        .collect();
    assert!(
        errors.iter().any(|v| v["retry_in_ms"].is_u64()),
        "retries are announced: {out}"
    );
    assert!(
        errors
            .iter()
            .any(|v| v["message"].as_str().unwrap_or("").contains("cannot reach")),
        "{out}"
    );
}

/// Each bad config exits 2 and names the file and line.
#[test]
fn bad_configs_exit_2_with_file_and_line() {
    let good = "[[functions]]\nname = \"a\"\npath = \"fn/a\"\nid = \"66787c5e84809f8a29ddc2f7\"\n";
    let other = "[[functions]]\nname = \"b\"\npath = \"fn/b\"\nid = \"66787c5e84809f8a29ddc2f8\"\n";
    let cases = [
        (
            "unknown key",
            format!("[watch]\ndebounce = 100\n{good}"),
            ":2:",
            "unknown field",
        ),
        ("malformed TOML", format!("{good}[watch\n"), ":5:", ""),
        (
            "bad id",
            good.replace("66787c5e84809f8a29ddc2f7", "xyz"),
            ":4:",
            "24 hex digits",
        ),
        (
            "missing folder",
            good.replace("fn/a", "fn/missing"),
            ":3:",
            "fn/missing",
        ),
        (
            "duplicate name",
            format!("{good}{}", other.replace("\"b\"", "\"a\"")),
            ":6:",
            "used twice",
        ),
        (
            "nested folders",
            format!("{good}{}", other.replace("fn/b", "fn/a/inner")),
            ":7:",
            "nest",
        ),
    ];
    for (what, text, line, words) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("fn/a/inner")).unwrap();
        std::fs::create_dir_all(dir.path().join("fn/b")).unwrap();
        let config = dir.path().join("greencloud.toml");
        std::fs::write(&config, &text).unwrap();
        let out = std::process::Command::new(BIN)
            .args(["--log-format", "json", "--config"])
            .arg(&config)
            .arg("build")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{what}: {stdout}");
        let message = stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["event"] == "error")
            .map(|v| v["message"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{what}: no error event in {stdout}"));
        assert!(
            message.contains(&format!("greencloud.toml{line}")),
            "{what}: {message}"
        );
        assert!(message.contains(words), "{what}: {message}");
    }
}

#[test]
fn the_api_key_never_appears_in_any_output() {
    const KEY: &str = "gc-key-Zq8secret41Xw";
    let emu = Emu::start(&["--api-key", KEY]);
    let project = Project::new(&emu.url).function("a", FILES);
    let run = |key: &str, args: &[&str]| {
        let output = project
            .command(args)
            .env_remove("GREENCLOUD_TOKEN")
            .env("GREENCLOUD_API_KEY", key)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        (
            output.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    };
    let (code, text) = run(KEY, &["-vvv", "build"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("\"submitted\""), "{text}");
    assert!(!text.contains(KEY), "the key leaked:\n{text}");
    assert!(
        !text.contains("Zq8secret"),
        "part of the key leaked:\n{text}"
    );

    let wrong = "gc-key-Wrong77secretQ";
    let (code, text) = run(wrong, &["-vvv", "build", "--force"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("refused"), "{text}");
    assert!(
        !text.contains(wrong) && !text.contains("Wrong77"),
        "the key leaked:\n{text}"
    );
    assert!(
        !emu.events.seen().join("\n").contains(KEY),
        "the emulator printed the key"
    );
}

#[test]
fn package_lists_sorted_files_and_builds_and_status_read_the_api() {
    let emu = Emu::start(&[]);
    let project = Project::new(&emu.url).function(
        "a",
        &[
            ("main.py", "x\n"),
            ("lib/z.py", "z\n"),
            ("lib/a.py", "a\n"),
            ("debug.log", "no\n"),
            (".gitignore", "*.log\n"),
        ],
    );
    let list = project.run(&["package", "a", "--list"]);
    assert_eq!(list.code, Some(0), "{list}");
    assert_eq!(list.stdout, ".gitignore\nlib/a.py\nlib/z.py\nmain.py\n");

    let summary = project.run(&["package", "a"]);
    let packaged = summary
        .events()
        .into_iter()
        .find(|v| v["event"] == "packaged")
        .expect("packaged");
    assert_eq!(packaged["files"], 4, "{summary}");
    assert_eq!(packaged["hash"].as_str().unwrap().len(), 64, "{summary}");

    let built = project.run(&["build"]);
    assert_eq!(built.code, Some(0), "{built}");
    let build_id = built
        .events()
        .into_iter()
        .find(|v| v["event"] == "submitted")
        .unwrap()["build_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        packaged["hash"],
        built
            .events()
            .into_iter()
            .find(|v| v["event"] == "submitted")
            .unwrap()["hash"]
    );

    let builds = project.run(&["builds"]);
    assert_eq!(builds.code, Some(0), "{builds}");
    let listed: serde_json::Value =
        serde_json::from_str(builds.stdout.trim()).expect("one JSON object");
    assert_eq!(listed["results"][0]["id"], build_id.as_str(), "{builds}");
    assert_eq!(listed["results"][0]["function"], "a", "{builds}");

    let status = project.run(&["status", &build_id]);
    assert_eq!(status.code, Some(0), "{status}");
    let info: serde_json::Value =
        serde_json::from_str(status.stdout.trim()).expect("one JSON object");
    assert_eq!(info["status"], "SUCCESS", "{status}");
    assert_eq!(
        info["timeline"].as_array().map(Vec::len),
        Some(3),
        "{status}"
    );
}
