//! `gcwatch serve` over real HTTP: the binary in, its answers and its data dir out.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use chrono::DateTime;
use gcwatch::api::{is_object_id, BuildStatus};
use serde_json::Value;

use common::{statuses, zip_of, Api, Emu, F1, F2};

fn is_lower_hex_id(id: &str) -> bool {
    is_object_id(id) && !id.bytes().any(|b| b.is_ascii_uppercase())
}

fn error_of(response: reqwest::blocking::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().expect("a JSON error body");
    let error = body["error"].as_str().expect("an error field").to_string();
    assert!(!error.is_empty());
    (status, error)
}

#[test]
fn a_build_goes_pending_building_success_and_its_zip_is_stored() {
    let emu = Emu::start(&[]);
    let api = emu.api();
    let upload = zip_of(&[
        ("main.go", "package main"),
        ("lib/", ""),
        ("lib/a.go", "package lib"),
    ]);

    let id = api.submit(F1, upload.clone());
    assert!(is_lower_hex_id(&id), "{id}");
    let info = api.wait_for_end(&id);

    assert_eq!(info.status, BuildStatus::Success, "{info:?}");
    assert_eq!(info.function_id, F1);
    assert_eq!(info.arch, vec!["amd64"]);
    assert_eq!(
        statuses(&info),
        vec![
            BuildStatus::Pending,
            BuildStatus::Building,
            BuildStatus::Success
        ]
    );
    let times: Vec<_> = info
        .timeline
        .iter()
        .map(|entry| DateTime::parse_from_rfc3339(&entry.time).expect("RFC 3339"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "{:?}",
        info.timeline
    );
    assert!(
        info.log
            .iter()
            .any(|line| line.contains("unpacked 2 files")),
        "{:?}",
        info.log
    );

    let builds = emu.data_dir.join("builds");
    assert_eq!(fs::read(builds.join(format!("{id}.zip"))).unwrap(), upload);
    assert!(builds.join(format!("{id}.json")).is_file());
}

#[test]
fn bad_submissions_get_400_with_a_reason() {
    let emu = Emu::start(&[]);
    let api = emu.api();
    let zip = zip_of(&[("main.go", "package main")]);
    let octet = Some("application/octet-stream");
    // (what, path and query, content type, body, what the error mentions)
    let cases = [
        (
            "no arch",
            "/build/66787c5e84809f8a29ddc2f7",
            octet,
            zip.clone(),
            "arch",
        ),
        (
            "other arch",
            "/build/66787c5e84809f8a29ddc2f7?arch=arm64",
            octet,
            zip.clone(),
            "arm64",
        ),
        (
            "empty arch",
            "/build/66787c5e84809f8a29ddc2f7?arch=",
            octet,
            zip.clone(),
            "arch",
        ),
        (
            "zip content type",
            "/build/66787c5e84809f8a29ddc2f7?arch=amd64",
            Some("application/zip"),
            zip.clone(),
            "Content-Type",
        ),
        (
            "no content type",
            "/build/66787c5e84809f8a29ddc2f7?arch=amd64",
            None,
            zip.clone(),
            "Content-Type",
        ),
        (
            "empty body",
            "/build/66787c5e84809f8a29ddc2f7?arch=amd64",
            octet,
            Vec::new(),
            "empty",
        ),
        (
            "short function id",
            "/build/66787c5e?arch=amd64",
            octet,
            zip.clone(),
            "24 hex",
        ),
        (
            "function id not hex",
            "/build/66787c5e84809f8a29ddc2fz?arch=amd64",
            octet,
            zip.clone(),
            "24 hex",
        ),
    ];
    for (what, path, content_type, body, says) in cases {
        let (status, error) = error_of(api.post(path, content_type, body));
        assert_eq!(status, 400, "{what}: {error}");
        assert!(
            error.contains(says),
            "{what}: {error:?} should mention {says:?}"
        );
    }
    assert_eq!(
        api.list("?limit=10")["totalCount"],
        0,
        "nothing was accepted"
    );
}

#[test]
fn uploads_over_the_limit_get_413() {
    let emu = Emu::start(&["--max-upload-mb", "1"]);
    let api = emu.api();
    let response = api.post(
        &format!("/build/{F1}?arch=amd64"),
        Some("application/octet-stream"),
        vec![0u8; (1 << 20) + 1],
    );
    let (status, error) = error_of(response);
    assert_eq!(status, 413, "{error}");
    assert!(error.contains("1.0 MiB"), "{error}");

    // Right at the limit is still accepted (and fails later, not being a zip).
    let id = api.submit(F1, vec![0u8; 1 << 20]);
    assert_eq!(api.wait_for_end(&id).status, BuildStatus::Failed);
}

#[test]
fn only_the_given_tokens_are_let_through() {
    let emu = Emu::start(&["--token", "good"]);
    let none = Api::new(&emu.url, None);
    let cases = [
        (None, 401),
        (Some("Bearer bad"), 401),
        (Some("bad"), 401),
        (Some("Bearer "), 401),
        (Some("Basic good"), 401),
        (Some("Bearer good"), 200),
        (Some("bearer good"), 200),
        (Some("good"), 200),
    ];
    for (header, want) in cases {
        let api = none.with_header(header);
        let response = api.get("/build/list");
        assert_eq!(
            response.status().as_u16(),
            want,
            "Authorization: {header:?}"
        );
        let response = api.get(&format!("/build/{F1}"));
        let want_build = if want == 200 { 404 } else { 401 };
        assert_eq!(
            response.status().as_u16(),
            want_build,
            "Authorization: {header:?}"
        );
        let response = api.post(
            &format!("/build/{F1}?arch=amd64"),
            Some("application/octet-stream"),
            zip_of(&[("main.go", "")]),
        );
        let want_submit = if want == 200 { 201 } else { 401 };
        assert_eq!(
            response.status().as_u16(),
            want_submit,
            "Authorization: {header:?}"
        );
        if want == 401 {
            let (_, error) = error_of(response);
            assert!(error.to_lowercase().contains("token"), "{error}");
        }
    }

    // The tokens were fixed by the operator: no key opens the door.
    let (status, error) = error_of(none.exchange("any-key"));
    assert_eq!(status, 401, "{error}");
}

#[test]
fn api_keys_are_exchanged_for_tokens_that_work() {
    let emu = Emu::start(&["--api-key", "k1", "--api-key", "k2"]);
    let anonymous = Api::new(&emu.url, None);

    let response = anonymous.exchange("k2");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    assert!(body["expiresIn"].as_u64().unwrap() > 0, "{body}");
    let token = body["accessToken"].as_str().unwrap();
    assert!(!token.is_empty());

    let api = anonymous.with_header(Some(&format!("Bearer {token}")));
    assert_eq!(api.get("/build/list").status(), 200);
    assert_eq!(
        anonymous
            .with_header(Some(token))
            .get("/build/list")
            .status(),
        200
    );
    assert_eq!(
        anonymous
            .with_header(Some("Bearer made-up"))
            .get("/build/list")
            .status(),
        401
    );

    for key in ["k3", ""] {
        let (status, error) = error_of(anonymous.exchange(key));
        assert_eq!(status, 401, "key {key:?}: {error}");
    }
    let response = anonymous.post(
        "/auth/apiKey",
        Some("application/json"),
        b"{not json".to_vec(),
    );
    assert_eq!(error_of(response).0, 400);

    // Tokens are secrets: they never reach the emulator's output.
    assert!(!emu.stderr().contains(token));
    assert!(!emu.events.seen().join("\n").contains(token));
}

#[test]
fn with_no_keys_and_no_tokens_anything_non_empty_goes() {
    let emu = Emu::start(&[]);
    let anonymous = Api::new(&emu.url, None);
    assert_eq!(anonymous.exchange("whatever").status(), 200);
    assert_eq!(
        anonymous
            .with_header(Some("Bearer x"))
            .get("/build/list")
            .status(),
        200
    );
    assert_eq!(
        anonymous.with_header(Some("x")).get("/build/list").status(),
        200
    );
    assert_eq!(
        anonymous
            .with_header(Some("Bearer "))
            .get("/build/list")
            .status(),
        401
    );
    assert_eq!(anonymous.get("/build/list").status(), 401);
}

#[test]
fn unknown_builds_are_404_and_malformed_ids_400() {
    let emu = Emu::start(&[]);
    let api = emu.api();
    let (status, error) = error_of(api.get("/build/66787d8f694aa083bbdf9aa9"));
    assert_eq!(status, 404, "{error}");
    let (status, error) = error_of(api.get("/build/not-an-id"));
    assert_eq!(status, 400, "{error}");
    // "list" is the list route, never a build id.
    assert_eq!(api.list("")["totalCount"], 0);
    let (status, _) = error_of(api.get("/no/such/route"));
    assert_eq!(status, 404);
}

#[test]
fn list_pages_are_newest_first_and_filter_by_function() {
    let emu = Emu::start(&[]);
    let api = emu.api();
    let zip = zip_of(&[("main.go", "")]);
    // Oldest first: F1, F2, F1, F1, F2.
    let ids: Vec<String> = [F1, F2, F1, F1, F2]
        .iter()
        .map(|f| api.submit(f, zip.clone()))
        .collect();
    let page_ids = |list: &Value| -> Vec<String> {
        list["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let cases = [
        // (query, pageCount, pageSize, totalCount, ids on the page)
        ("", 5, 1, 5, vec![4]),
        ("?page=1&limit=2", 3, 2, 5, vec![4, 3]),
        ("?page=2&limit=2", 3, 2, 5, vec![2, 1]),
        ("?page=3&limit=2", 3, 2, 5, vec![0]),
        ("?page=4&limit=2", 3, 2, 5, vec![]),
        ("?limit=10", 1, 10, 5, vec![4, 3, 2, 1, 0]),
        (&*format!("?functionId={F1}&limit=2"), 2, 2, 3, vec![3, 2]),
        (
            &*format!("?functionId={F1}&limit=2&page=2"),
            2,
            2,
            3,
            vec![0],
        ),
        (&*format!("?functionId={F2}&limit=5"), 1, 5, 2, vec![4, 1]),
        ("?functionId=666db024694aa083bbdf9aa5", 0, 1, 0, vec![]),
    ];
    for (query, page_count, page_size, total, want) in cases {
        let list = api.list(query);
        assert_eq!(list["pageCount"], page_count, "{query}: {list}");
        assert_eq!(list["pageSize"], page_size, "{query}: {list}");
        assert_eq!(list["totalCount"], total, "{query}: {list}");
        let want: Vec<String> = want.iter().map(|&i| ids[i].clone()).collect();
        assert_eq!(page_ids(&list), want, "{query}");
    }
    let row = &api.list("")["results"][0];
    assert_eq!(row["functionId"], F2);
    assert!(
        row["status"].is_string()
            && DateTime::parse_from_rfc3339(row["createdAt"].as_str().unwrap()).is_ok(),
        "{row}"
    );

    for query in [
        "?page=0",
        "?limit=0",
        "?limit=abc",
        "?page=-1",
        "?functionId=nope",
    ] {
        let (status, error) = error_of(api.get(&format!("/build/list{query}")));
        assert_eq!(status, 400, "{query}: {error}");
    }
}

#[test]
fn uploads_that_are_not_a_function_folder_fail_with_a_reason() {
    let emu = Emu::start(&[]);
    let api = emu.api();
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "folder zipped",
            zip_of(&[("hello/", ""), ("hello/main.go", "package main")]),
            "not the folder itself",
        ),
        ("not a zip", b"just some bytes".to_vec(), "not a zip"),
        ("no entries", zip_of(&[]), "no entries"),
        (
            "parent dir",
            zip_of(&[("main.go", ""), ("../evil", "x")]),
            "`..`",
        ),
        (
            "absolute",
            zip_of(&[("main.go", ""), ("/etc/evil", "x")]),
            "absolute",
        ),
        (
            "backslash",
            zip_of(&[("main.go", ""), ("lib\\a.go", "x")]),
            "backslash",
        ),
    ];
    let ids: Vec<String> = cases
        .iter()
        .map(|(_, upload, _)| api.submit(F1, upload.clone()))
        .collect();
    for ((what, _, says), id) in cases.iter().zip(&ids) {
        let info = api.wait_for_end(id);
        assert_eq!(info.status, BuildStatus::Failed, "{what}: {info:?}");
        assert_eq!(
            statuses(&info),
            vec![
                BuildStatus::Pending,
                BuildStatus::Building,
                BuildStatus::Failed
            ],
            "{what}"
        );
        assert!(
            info.log.iter().any(|line| line.contains(says)),
            "{what}: {:?} should say {says:?}",
            info.log
        );
    }
    let folder = api.build(&ids[0]);
    assert!(
        folder.log.iter().any(|line| line.contains("hello/")),
        "{:?}",
        folder.log
    );
}

#[test]
fn a_failing_build_command_fails_the_build_with_its_output() {
    let emu = Emu::start(&["--build-cmd", "echo compiling; echo oops >&2; exit 1"]);
    let api = emu.api();
    let id = api.submit(F1, zip_of(&[("main.go", "package main")]));
    let info = api.wait_for_end(&id);
    assert_eq!(info.status, BuildStatus::Failed, "{info:?}");
    for line in ["compiling", "oops", "build command exited with status 1"] {
        assert!(
            info.log.iter().any(|l| l == line),
            "{line:?} in {:?}",
            info.log
        );
    }
    assert!(
        !emu.data_dir.join("work").join(&id).exists(),
        "{}",
        emu.report()
    );
}

#[test]
fn a_build_command_runs_in_the_unpacked_upload() {
    let emu = Emu::start(&[
        "--build-cmd",
        "test -f main.go && test -f lib/a.go && echo \"built $GCWATCH_FUNCTION_ID\"",
    ]);
    let api = emu.api();
    let id = api.submit(
        F1,
        zip_of(&[("main.go", "package main"), ("lib/a.go", "package lib")]),
    );
    let info = api.wait_for_end(&id);
    assert_eq!(info.status, BuildStatus::Success, "{info:?}");
    assert!(info.log.contains(&format!("built {F1}")), "{:?}", info.log);
    assert!(
        !emu.data_dir.join("work").join(&id).exists(),
        "{}",
        emu.report()
    );
}

#[test]
fn builds_survive_a_restart_on_the_same_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    let emu = Emu::start_in(&data, &[]);
    let api = emu.api();
    let first = api.submit(F1, zip_of(&[("main.go", "package main")]));
    let before = api.wait_for_end(&first);
    emu.stop();

    let emu = Emu::start_in(&data, &[]);
    let api = emu.api();
    let after = api.build(&first);
    assert_eq!(
        serde_json::to_value(&after).unwrap(),
        serde_json::to_value(&before).unwrap()
    );

    let second = api.submit(F2, zip_of(&[("main.go", "package main")]));
    assert_ne!(second, first);
    let list = api.list("?limit=10");
    assert_eq!(list["totalCount"], 2);
    assert_eq!(list["results"][0]["id"], second.as_str());
    assert_eq!(list["results"][1]["id"], first.as_str());
}

#[test]
fn a_build_interrupted_by_a_stop_starts_again_on_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    // A build delay long enough that the build is still PENDING at the stop.
    let emu = Emu::start_in(&data, &["--build-delay-ms", "600000"]);
    let id = emu.api().submit(F1, zip_of(&[("main.go", "package main")]));
    assert_eq!(emu.api().build(&id).status, BuildStatus::Pending);
    emu.stop();

    let emu = Emu::start_in(&data, &[]);
    let info = emu.api().wait_for_end(&id);
    assert_eq!(info.status, BuildStatus::Success, "{info:?}");
    assert!(
        info.log.iter().any(|line| line.contains("restarted")),
        "{:?}",
        info.log
    );
}

#[test]
fn a_busy_address_exits_2_with_a_clear_error() {
    let emu = Emu::start(&[]);
    let addr = emu
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_string();
    let tmp = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "serve",
        "--addr",
        &addr,
        "--data",
        &tmp.path().display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (mut child, mut stdout, stderr) = common::spawn(&args);
    let status = common::wait_exit(&mut child, common::PATIENCE);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
    let stderr = stderr.all(common::PATIENCE);
    assert_eq!(status.code(), Some(2), "{out}{stderr}");
    // The error is an `error` line on stdout, like every other line gcwatch prints.
    assert!(
        out.contains("error: cannot listen on") && out.contains(&addr),
        "{out}{stderr}"
    );
}

/// The status codes of `n` list requests in a row.
fn list_codes(api: &Api, n: usize) -> Vec<u16> {
    (0..n)
        .map(|_| api.get("/build/list").status().as_u16())
        .collect()
}

#[test]
fn with_fail_rate_1_every_request_gets_503_json() {
    let emu = Emu::start(&["--fail-rate", "1"]);
    let api = emu.api();
    let zip = zip_of(&[("main.go", "package main")]);
    let responses = [
        api.get("/build/list"),
        api.get("/build/66787c5e84809f8a29ddc2f7"),
        api.exchange("any key"),
        api.post(
            &format!("/build/{F1}?arch=amd64"),
            Some("application/octet-stream"),
            zip,
        ),
        api.get("/no/such/route"),
    ];
    for response in responses {
        let content_type = response.headers()["content-type"].clone();
        assert_eq!(content_type, "application/json");
        let (status, error) = error_of(response);
        assert_eq!(status, 503, "{error}");
    }
    // The upload was refused before its handler ran: nothing is stored.
    let stored = fs::read_dir(emu.data_dir.join("builds")).unwrap().count();
    assert_eq!(stored, 0, "{}", common::listing(&emu.data_dir));
}

#[test]
fn a_seed_repeats_the_same_failures() {
    let flags = ["--fail-rate", "0.3", "--seed", "7"];
    let first = list_codes(&Emu::start(&flags).api(), 50);
    let second = list_codes(&Emu::start(&flags).api(), 50);
    assert_eq!(first, second);
    assert!(
        first.iter().all(|code| [200, 503].contains(code)),
        "{first:?}"
    );
    let failed = first.iter().filter(|code| **code == 503).count();
    assert!((8..=22).contains(&failed), "{failed} of 50: {first:?}");
}

#[test]
fn latency_delays_every_answer() {
    let emu = Emu::start(&["--latency-ms", "300"]);
    let api = emu.api();
    for _ in 0..2 {
        let started = Instant::now();
        assert_eq!(api.get("/build/list").status(), 200);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
    }
}

#[test]
fn an_issued_token_expires_after_token_ttl_secs() {
    let emu = Emu::start(&["--api-key", "k", "--token-ttl-secs", "1"]);
    let anonymous = Api::new(&emu.url, None);
    let response = anonymous.exchange("k");
    let issued = Instant::now();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    assert_eq!(body["expiresIn"], 1, "{body}");
    let token = body["accessToken"].as_str().unwrap();
    let api = anonymous.with_header(Some(&format!("Bearer {token}")));
    assert_eq!(api.get("/build/list").status(), 200);

    let refused = common::poll_until(Duration::from_secs(5), || {
        let response = api.get("/build/list");
        match response.status().as_u16() {
            401 => Ok(response),
            other => Err(format!("status {other}")),
        }
    });
    assert!(issued.elapsed() >= Duration::from_millis(900));
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    assert!(!error_of(refused).1.is_empty());
    // A new exchange gives a token that works again.
    assert_eq!(anonymous.exchange("k").status(), 200);
}

#[test]
fn every_nth_request_gets_429_with_retry_after_when_asked() {
    let emu = Emu::start(&["--rate-limit-every", "2", "--retry-after-secs", "3"]);
    let api = emu.api();
    for n in 1..=6 {
        let response = api.get("/build/list");
        if n % 2 == 0 {
            assert_eq!(response.headers()["retry-after"], "3", "request {n}");
            assert_eq!(error_of(response).0, 429, "request {n}");
        } else {
            assert_eq!(response.status(), 200, "request {n}");
        }
    }

    let emu = Emu::start(&["--rate-limit-every", "3"]);
    let api = emu.api();
    assert_eq!(list_codes(&api, 6), [200, 200, 429, 200, 200, 429]);
    let response = api.get("/build/list");
    assert_eq!(response.status(), 200);
    let response = api.get("/build/list");
    assert_eq!(response.status(), 200);
    let response = api.get("/build/list");
    assert!(response.headers().get("retry-after").is_none());
    assert_eq!(error_of(response).0, 429);
}

#[test]
fn a_reset_upload_gets_no_answer_and_stores_nothing() {
    let emu = Emu::start(&["--reset-upload-every", "2"]);
    let api = emu.api();
    let path = format!("/build/{F1}?arch=amd64");
    let first = api.submit(F1, zip_of(&[("main.go", "package main")]));

    // Large enough that the cut comes while the body is still coming.
    let big = vec![b'x'; 4 << 20];
    match api.try_post(&path, "application/octet-stream", big) {
        Ok(response) => panic!("an answer to a cut upload: {}", response.status()),
        Err(e) => assert!(!e.is_status(), "{e}"),
    }

    let third = api.submit(F1, zip_of(&[("main.go", "package main")]));
    // A small upload, all of it sent before the cut, gets no answer either.
    let small = zip_of(&[("main.go", "package main")]);
    if let Ok(response) = api.try_post(&path, "application/octet-stream", small) {
        panic!("an answer to a cut upload: {}", response.status());
    }

    let ids: Vec<_> = emu
        .builds_of(F1)
        .iter()
        .map(|build| build["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, [third.clone(), first.clone()]);
    let mut zips: Vec<_> = fs::read_dir(emu.data_dir.join("builds"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".zip"))
        .collect();
    zips.sort();
    let mut want = vec![format!("{first}.zip"), format!("{third}.zip")];
    want.sort();
    assert_eq!(zips, want);
    assert_eq!(api.wait_for_end(&third).status, BuildStatus::Success);
}

#[test]
fn a_garbage_answer_is_an_html_502() {
    let emu = Emu::start(&["--garbage-every", "2"]);
    let api = emu.api();
    assert_eq!(api.get("/build/list").status(), 200);
    let response = api.get("/build/list");
    assert_eq!(response.status(), 502);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let body = response.text().unwrap();
    assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
    assert!(serde_json::from_str::<Value>(&body).is_err());
    assert_eq!(api.get("/build/list").status(), 200);
}

#[test]
fn fault_flags_out_of_range_are_refused() {
    for flags in [
        &["--fail-rate", "1.5"][..],
        &["--fail-rate", "-0.1"],
        &["--fail-rate", "NaN"],
        &["--rate-limit-every", "0"],
        &["--retry-after-secs", "3"],
        &["--hold-builds-in", "SUCCESS"],
        &["--hold-builds-in", ""],
    ] {
        let output = std::process::Command::new(common::BIN)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(flags)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        assert!(!output.stderr.is_empty(), "{flags:?}");
    }
}

#[test]
fn held_builds_stay_in_the_status_given() {
    for held in ["QUEUED_REMOTE", "BUILDING"] {
        let emu = Emu::start(&["--hold-builds-in", held]);
        let api = emu.api();
        let id = api.submit(F1, zip_of(&[("main.go", "package main")]));
        let info = common::poll_until(common::PATIENCE, || {
            let info = api.build(&id);
            if info
                .log
                .iter()
                .any(|line| line.contains("--hold-builds-in"))
            {
                Ok(info)
            } else {
                Err(format!("{info:?}"))
            }
        });
        assert_eq!(info.status, BuildStatus::from(held));
        assert_eq!(
            statuses(&info),
            vec![BuildStatus::Pending, BuildStatus::from(held)]
        );
        assert!(!info.status.is_final());
    }
}
