//! Packaging through the binary: zips every reader accepts, reproducible bytes and hashes, modes,
//! zip64, links, special and unreadable files, files changing meanwhile, limits, and `explain`.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// No API is asked by `package` or `explain`; this URL is never reached.
const NO_API: &str = "http://127.0.0.1:9/v1";

/// Runs `gcwatch ARGS` for `project`, in `cwd`, killing it if it runs past `limit`.
fn run_within(project: &Project, cwd: &Path, args: &[&str], limit: Duration) -> Output {
    let mut child = project
        .command(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gcwatch");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = wait_exit(&mut child, limit);
    Output {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// `gcwatch package NAME --out FILE`: the zip's bytes and the reported hash.
fn package(project: &Project, name: &str) -> (Vec<u8>, String, Output) {
    let out_dir = tempfile::tempdir().unwrap();
    let zip = out_dir.path().join(format!("{name}.zip"));
    let out = run_within(
        project,
        project.dir.path(),
        &["package", name, "--out", zip.to_str().unwrap()],
        LONG,
    );
    assert_eq!(out.code, Some(0), "{out}");
    let hash = out
        .events()
        .iter()
        .find(|v| v["event"] == "packaged")
        .and_then(|v| v["hash"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no packaged event\n{out}"));
    (fs::read(&zip).unwrap(), hash, out)
}

/// Runs a zip reader; a missing one is a failure that says what to install.
fn reader(program: &str, package: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): install it (Debian package `{package}`)")
        })
}

/// Checks `zip` with Info-ZIP, Python's zipfile and libarchive; each must accept it and list
/// exactly `names`.
fn assert_readers_accept(zip: &Path, names: &BTreeSet<String>) {
    let path = zip.to_str().unwrap();
    let lines = |out: &std::process::Output, who: &str| -> BTreeSet<String> {
        assert!(
            out.status.success(),
            "{who} rejected {path}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let tested = reader("unzip", "unzip", &["-tq", path]);
    lines(&tested, "unzip -t");
    let listed = lines(&reader("unzip", "unzip", &["-Z1", path]), "unzip -Z1");
    let python = lines(
        &reader(
            "python3",
            "python3",
            &[
                "-c",
                "import sys, zipfile\n\
                 z = zipfile.ZipFile(sys.argv[1])\n\
                 bad = z.testzip()\n\
                 assert bad is None, 'bad entry: %s' % bad\n\
                 print('\\n'.join(z.namelist()))",
                path,
            ],
        ),
        "python3 zipfile",
    );
    let bsdtar = lines(
        &reader("bsdtar", "libarchive-tools", &["-tf", path]),
        "bsdtar -tf",
    );
    // bsdtar shows folders without their trailing slash on some versions.
    let bare = |set: &BTreeSet<String>| -> BTreeSet<String> {
        set.iter()
            .map(|n| n.trim_end_matches('/').to_string())
            .collect()
    };
    for (who, got) in [("unzip", &listed), ("python3 zipfile", &python)] {
        assert_eq!(got, names, "{who} listed other names in {path}");
    }
    assert_eq!(bare(&bsdtar), bare(names), "bsdtar listed other names");
}

/// The names the zip should hold: `--list`'s files and their folders.
fn expected_names(files: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in files {
        names.insert(file.to_string());
        let mut parent = Path::new(file).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            names.insert(format!("{}/", p.display()));
            parent = p.parent();
        }
    }
    names
}

/// Bytes that deflate does not shrink: a zip limit test must not depend on compression.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

fn write_bytes(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A function folder with a bit of everything a zip reader could trip over.
fn varied(project: Project, name: &str) -> Project {
    let project = project.function(
        name,
        &[
            ("main.py", "print('hello')\n"),
            ("empty.txt", ""),
            ("lib/util.py", "def f():\n    return 1\n"),
            ("lib/deep/er/data.json", "{\"a\": [1, 2, 3]}\n"),
            ("héllo wörld.txt", "unicode name\n"),
            ("run.sh", "#!/bin/sh\necho run\n"),
            (".gitignore", "*.log\n"),
            ("debug.log", "not shipped\n"),
        ],
    );
    let dir = project.fn_dir(name);
    write_bytes(&dir.join("assets/logo.png"), &noise(50_000, 7));
    write_bytes(&dir.join("assets/big.bin"), &noise(300_000, 11));
    chmod(&dir.join("run.sh"), 0o755);
    fs::create_dir_all(dir.join("empty/inner")).unwrap();
    project
}

const VARIED_FILES: &[&str] = &[
    ".gitignore",
    "assets/big.bin",
    "assets/logo.png",
    "empty.txt",
    "héllo wörld.txt",
    "lib/deep/er/data.json",
    "lib/util.py",
    "main.py",
    "run.sh",
];

#[test]
fn every_zip_passes_three_independent_readers() {
    let project = varied(Project::new(NO_API), "a");
    let (zip, _, _) = package(&project, "a");
    let file = project.dir.path().join("a.zip");
    fs::write(&file, &zip).unwrap();
    let mut names = expected_names(VARIED_FILES);
    names.insert("empty/".to_string());
    names.insert("empty/inner/".to_string());
    assert_readers_accept(&file, &names);
}

#[test]
fn same_tree_same_bytes_and_hash_across_runs_copies_and_umasks() {
    let project = varied(Project::new(NO_API), "a")
        .function("copy", &[])
        .function("strict", &[]);
    let (first, hash, _) = package(&project, "a");
    let (second, hash2, _) = package(&project, "a");
    assert_eq!(hash, hash2, "two runs gave two hashes");
    assert!(first == second, "two runs gave different zips");

    let functions = project.dir.path().join("functions");
    for (name, script) in [
        ("copy", "rm -rf copy && cp -r a copy"),
        ("strict", "umask 077 && rm -rf strict && cp -r a strict"),
    ] {
        let status = Command::new("sh")
            .current_dir(&functions)
            .args(["-c", script])
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
        let (zip, copy_hash, _) = package(&project, name);
        assert_eq!(copy_hash, hash, "`{script}` changed the hash");
        assert!(zip == first, "`{script}` changed the zip's bytes");
    }
    let mode = fs::metadata(functions.join("strict/main.py"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "umask 077 should have made the copy 0600"
    );

    // Each kind of change shows in the hash.
    let strict = project.fn_dir("strict");
    type Change<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let changes: [Change; 3] = [
        (
            "a one-byte change",
            Box::new(|| fs::write(strict.join("main.py"), "print('hellO')\n").unwrap()),
        ),
        (
            "a rename",
            Box::new(|| fs::rename(strict.join("empty.txt"), strict.join("empty2.txt")).unwrap()),
        ),
        (
            "chmod +x",
            Box::new(|| chmod(&strict.join("lib/util.py"), 0o700)),
        ),
    ];
    let mut seen = vec![hash];
    for (what, change) in changes {
        change();
        let (_, changed, _) = package(&project, "strict");
        assert!(
            !seen.contains(&changed),
            "{what} left the hash as it was ({changed})"
        );
        seen.push(changed);
    }
}

#[test]
fn modes_and_empty_folders_survive_unzip() {
    let project = varied(Project::new(NO_API), "a");
    let (zip, _, _) = package(&project, "a");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a.zip");
    fs::write(&file, zip).unwrap();
    let into = tmp.path().join("out");
    let out = reader(
        "unzip",
        "unzip",
        &["-q", file.to_str().unwrap(), "-d", into.to_str().unwrap()],
    );
    assert!(out.status.success(), "{out:?}");
    let mode = |rel: &str| fs::metadata(into.join(rel)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("run.sh"), 0o755, "{}", listing(&into));
    assert_eq!(mode("main.py"), 0o644, "{}", listing(&into));
    assert!(into.join("empty/inner").is_dir(), "{}", listing(&into));
    let run = Command::new(into.join("run.sh")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "run\n");
}

#[test]
fn seventy_thousand_files_make_a_zip64_archive_every_reader_counts() {
    const FOLDERS: usize = 70;
    const PER_FOLDER: usize = 1000;
    // Creating 70,000 files on a disk file system can take a minute on a small VM; in memory
    // it takes a second or two, and what is measured is packaging, not the disk.
    let shm = Path::new("/dev/shm");
    let base = match shm.is_dir() && tempfile::tempdir_in(shm).is_ok() {
        true => shm.to_path_buf(),
        false => std::env::temp_dir(),
    };
    let project = Project::new_in(NO_API, &base)
        .function("many", &[])
        .with_watch("max_files = 100000\n");
    let dir = project.fn_dir("many");
    let started = Instant::now();
    for f in 0..FOLDERS {
        let folder = dir.join(format!("d{f:02}"));
        fs::create_dir_all(&folder).unwrap();
        for i in 0..PER_FOLDER {
            fs::write(folder.join(format!("f{i:04}.txt")), format!("{f} {i}\n")).unwrap();
        }
    }
    let created = started.elapsed();
    let started = Instant::now();
    let (zip, _, out) = package(&project, "many");
    let took = started.elapsed();
    println!(
        "70,000 files: written in {created:.1?}, packaged in {took:.1?}, zip of {} bytes",
        zip.len()
    );
    let packaged = out
        .events()
        .into_iter()
        .find(|v| v["event"] == "packaged")
        .unwrap();
    assert_eq!(packaged["files"], 70_000, "{out}");

    let file = project.dir.path().join("many.zip");
    fs::write(&file, &zip).unwrap();
    // The end of central directory record cannot count 70,070 entries: zip64's must.
    let zip64_eocd_locator = [0x50, 0x4b, 0x06, 0x07];
    assert!(
        zip[zip.len().saturating_sub(200)..]
            .windows(4)
            .any(|w| w == zip64_eocd_locator),
        "no zip64 end of central directory locator"
    );
    let mut names = BTreeSet::new();
    for f in 0..FOLDERS {
        names.insert(format!("d{f:02}/"));
        for i in 0..PER_FOLDER {
            names.insert(format!("d{f:02}/f{i:04}.txt"));
        }
    }
    let started = Instant::now();
    assert_readers_accept(&file, &names);
    println!("70,000 files: three readers in {:.1?}", started.elapsed());
}

/// The `skipped_path` events of an output, by path.
fn skipped(out: &Output) -> Vec<(String, String)> {
    out.events()
        .iter()
        .filter(|v| v["event"] == "skipped_path")
        .map(|v| {
            (
                v["path"].as_str().unwrap_or("").to_string(),
                v["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn listed(out: &Output) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| !l.starts_with('{'))
        .map(str::to_string)
        .collect()
}

#[test]
fn links_inside_are_followed_loops_outside_and_dangling_ones_are_skipped() {
    let project = Project::new(NO_API).function("a", &[("main.py", "main\n"), ("lib/x.py", "x\n")]);
    let dir = project.fn_dir("a");
    let outside = project.dir.path().join("outside.txt");
    fs::write(&outside, "from outside\n").unwrap();
    symlink("main.py", dir.join("alias.py")).unwrap();
    symlink(".", dir.join("loop")).unwrap();
    symlink(&outside, dir.join("out.txt")).unwrap();
    symlink("missing.txt", dir.join("dangling.txt")).unwrap();

    let out = run_within(
        &project,
        project.dir.path(),
        &["package", "a", "--list"],
        LONG,
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        listed(&out),
        ["alias.py", "lib/x.py", "main.py"],
        "{out}\n{}",
        project.listing()
    );
    let skips = skipped(&out);
    for (path, reason) in [
        ("loop", "loop"),
        ("out.txt", "outside"),
        ("dangling.txt", "dangling"),
    ] {
        assert!(
            skips.iter().any(|(p, r)| p == path && r.contains(reason)),
            "no skipped_path for {path} ({reason})\n{out}"
        );
    }
    let (zip, _, _) = package(&project, "a");
    assert_eq!(entry(&unzip(&zip), "alias.py"), Some("main\n"));

    let project = project.with_watch("follow_external_symlinks = true\n");
    let (zip, _, out) = package(&project, "a");
    let entries = unzip(&zip);
    assert_eq!(entry(&entries, "out.txt"), Some("from outside\n"), "{out}");
    assert!(entry(&entries, "dangling.txt").is_none(), "{out}");
    assert!(
        skipped(&out).iter().any(|(p, _)| p == "dangling.txt"),
        "a dangling link is skipped even when following external links\n{out}"
    );
}

#[test]
fn a_fifo_does_not_block_packaging() {
    let project = Project::new(NO_API).function("a", &[("main.py", "main\n")]);
    let fifo = project.fn_dir("a").join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    let out = run_within(
        &project,
        project.dir.path(),
        &["package", "a", "--list"],
        LONG,
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(listed(&out), ["main.py"], "{out}");
    assert!(
        skipped(&out)
            .iter()
            .any(|(p, r)| p == "pipe" && r.contains("FIFO")),
        "{out}"
    );
}

#[test]
fn an_unreadable_file_fails_the_build_and_nothing_is_uploaded() {
    if unsafe { libc::geteuid() } == 0 {
        println!("skipped: running as root, which can read a file without read permission");
        return;
    }
    let emu = Emu::start(&[]);
    let project = Project::new(&emu.url).function("a", &[("main.py", "main\n"), ("secret", "s")]);
    chmod(&project.fn_dir("a").join("secret"), 0o000);
    let out = project.run(&["build", "a"]);
    assert_eq!(out.code, Some(2), "{out}");
    assert!(
        out.events().iter().any(
            |v| v["event"] == "error" && v["message"].as_str().unwrap_or("").contains("secret")
        ),
        "the error should name the file\n{out}"
    );
    assert!(emu.builds_of(&project.id("a")).is_empty(), "{out}");
}

/// A file appended to while it is packaged: packaging starts over as needed, and whatever zip
/// comes out holds exactly the content its hash says.
#[test]
fn a_file_growing_during_packaging_never_gives_a_mixed_zip() {
    use gcwatch::pack;
    use gcwatch::snapshot::{self, Settings};

    let root = tempfile::tempdir().unwrap();
    let big = root.path().join("big.log.txt");
    fs::write(&big, noise(8 << 20, 3)).unwrap();
    fs::write(root.path().join("other.txt"), "other\n").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let big = big.clone();
        thread::spawn(move || {
            use std::io::Write;
            let mut file = fs::OpenOptions::new().append(true).open(&big).unwrap();
            let chunk = noise(4096, 5);
            let started = Instant::now();
            let mut appended = 0;
            // Appends for a while, then lets the file settle so that a later attempt succeeds.
            // The byte cap keeps the disk from being flooded for the tests that run after.
            while !stop.load(Ordering::Relaxed)
                && started.elapsed() < Duration::from_millis(150)
                && appended < 1024
            {
                file.write_all(&chunk).unwrap();
                appended += 1;
                thread::yield_now();
            }
            appended
        })
    };
    let tmp = tempfile::tempdir().unwrap();
    let result = pack::package(root.path(), &Settings::default(), tmp.path());
    stop.store(true, Ordering::Relaxed);
    let appended = writer.join().unwrap();
    let package = match result {
        Ok(p) => p,
        Err(pack::PackError::Unsettled { .. }) => {
            println!("packaging gave up after {appended} appends: allowed, nothing shipped");
            return;
        }
        Err(e) => panic!("packaging failed: {e}"),
    };
    println!("{appended} appends while packaging");

    // Unpack the zip and snapshot what came out: the same tree hash, or the zip is mixed.
    let bytes = fs::read(package.zip.path()).unwrap();
    let unpacked = tempfile::tempdir().unwrap();
    for (name, content) in unzip(&bytes) {
        write_bytes(&unpacked.path().join(name), &content);
    }
    let again = snapshot::take(unpacked.path(), &Settings::default()).unwrap();
    assert_eq!(
        again.hash, package.snapshot.hash,
        "the zip's content does not match its hash"
    );
    let size = fs::metadata(&big).unwrap().len();
    let zipped = again
        .entries
        .iter()
        .find(|e| e.path == "big.log.txt")
        .unwrap();
    match &zipped.kind {
        snapshot::EntryKind::File { size: got, .. } => {
            assert!(*got <= size && *got >= 8 << 20, "size {got} of {size}")
        }
        other => panic!("{other:?}"),
    }
}

fn error_message(out: &Output) -> String {
    out.events()
        .iter()
        .filter(|v| v["event"] == "error")
        .filter_map(|v| v["message"].as_str().map(str::to_string))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn over_max_files_nothing_is_uploaded_and_the_largest_are_named() {
    let emu = Emu::start(&[]);
    let project = Project::new(&emu.url)
        .function(
            "a",
            &[
                ("main.py", "main\n"),
                ("node_modules/x/a.js", "a"),
                ("node_modules/x/b.js", "b"),
                ("node_modules/y/c.js", "c"),
            ],
        )
        .with_watch("max_files = 3\n");
    let out = project.run(&["build", "a"]);
    assert_eq!(out.code, Some(2), "{out}");
    let message = error_message(&out);
    assert!(message.contains("max_files"), "{out}");
    assert!(message.contains("node_modules"), "{out}");
    assert!(emu.builds_of(&project.id("a")).is_empty(), "{out}");
}

#[test]
fn over_max_zip_mb_nothing_is_uploaded_and_the_largest_are_named() {
    let emu = Emu::start(&[]);
    let project = Project::new(&emu.url)
        .function("a", &[("main.py", "main\n")])
        .with_watch("max_zip_mb = 1\n");
    write_bytes(
        &project.fn_dir("a").join("data/blob.bin"),
        &noise(1_500_000, 9),
    );
    let out = project.run(&["build", "a"]);
    assert_eq!(out.code, Some(2), "{out}");
    let message = error_message(&out);
    assert!(message.contains("max_zip_mb"), "{out}");
    assert!(message.contains("data/blob.bin"), "{out}");
    assert!(emu.builds_of(&project.id("a")).is_empty(), "{out}");
}

/// `gcwatch explain` for `paths` in `cwd`, as JSON objects.
fn explain(project: &Project, cwd: &Path, paths: &[&str]) -> (Vec<Value>, Output) {
    let mut args = vec!["explain"];
    args.extend(paths);
    let out = run_within(project, cwd, &args, LONG);
    assert_eq!(out.code, Some(0), "{out}");
    let answers = out.events();
    assert_eq!(answers.len(), paths.len(), "{out}");
    (answers, out)
}

#[test]
fn explain_names_the_deciding_rule() {
    let project = Project::new(NO_API).function(
        "a",
        &[
            ("main.py", "main\n"),
            (
                ".gitignore",
                "# logs\n*.log\n!keep.log\nbuild/\n!build/x.js\n",
            ),
            ("sub/.gitignore", "*.md\n"),
            ("sub/notes.md", "n"),
            ("debug.log", "d"),
            ("keep.log", "k"),
            ("build/x.js", "x"),
            ("cache.tmp", "c"),
            ("x.test", "t"),
            ("main.py.swp", "s"),
        ],
    );
    project.write(".gitignore", "*.tmp\n");
    let status = Command::new("git")
        .current_dir(project.dir.path())
        .args(["init", "-q"])
        .status()
        .expect("git");
    assert!(status.success());
    let project = project.with_watch("ignore = [\"*.test\"]\n");

    let (answers, out) = explain(
        &project,
        project.dir.path(),
        &[
            "functions/a/sub/notes.md",
            "functions/a/cache.tmp",
            "functions/a/x.test",
            "functions/a/main.py.swp",
            "functions/a/keep.log",
            "functions/a/debug.log",
            "functions/a/build/x.js",
            "functions/a/main.py",
            "greencloud.toml",
        ],
    );
    /// Shipped, rule kind, pattern, and the ignore file and line where one decided.
    type Want<'a> = (bool, &'a str, &'a str, Option<(&'a str, u64)>);
    let want: &[Want] = &[
        (
            false,
            "ignore_file",
            "*.md",
            Some(("functions/a/sub/.gitignore", 1)),
        ),
        (false, "ignore_file", "*.tmp", Some((".gitignore", 1))),
        (false, "config", "*.test", None),
        (false, "default", "*.swp", None),
        (
            true,
            "ignore_file",
            "!keep.log",
            Some(("functions/a/.gitignore", 3)),
        ),
        (
            false,
            "ignore_file",
            "*.log",
            Some(("functions/a/.gitignore", 2)),
        ),
        // `!build/x.js` cannot re-include a file of an excluded folder, as with git.
        (
            false,
            "ignore_file",
            "build/",
            Some(("functions/a/.gitignore", 4)),
        ),
    ];
    for (answer, (shipped, kind, pattern, file)) in answers.iter().zip(want) {
        let context = format!("{answer}\n{out}");
        assert_eq!(answer["function"], "a", "{context}");
        assert_eq!(answer["shipped"], *shipped, "{context}");
        assert_eq!(answer["rule_kind"], *kind, "{context}");
        assert_eq!(answer["pattern"], *pattern, "{context}");
        if let Some((file, line)) = file {
            assert_eq!(answer["file"], *file, "{context}");
            assert_eq!(answer["line"], *line, "{context}");
        }
    }
    assert_eq!(answers[6]["via"], "build/", "{out}");
    assert_eq!(answers[7]["shipped"], true, "{out}");
    assert_eq!(answers[7]["rule_kind"], "none", "{out}");
    assert_eq!(answers[8]["function"], Value::Null, "{out}");
    assert_eq!(answers[8]["rule_kind"], "outside", "{out}");

    // Shipped by the rules, skipped by packaging: explain says so too.
    let dir = project.fn_dir("a");
    symlink("missing", dir.join("dangling")).unwrap();
    symlink(".", dir.join("loop")).unwrap();
    symlink("main.py", dir.join("alias.py")).unwrap();
    let c = std::ffi::CString::new(dir.join("pipe").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    let (answers, out) = explain(&project, &dir, &["dangling", "loop", "pipe", "alias.py"]);
    for (answer, reason) in answers.iter().zip(["dangling", "loop", "FIFO"]) {
        assert_eq!(answer["shipped"], false, "{answer}\n{out}");
        assert_eq!(answer["rule_kind"], "skipped", "{answer}\n{out}");
        assert!(
            answer["rule"].as_str().unwrap_or("").contains(reason),
            "{answer}\n{out}"
        );
    }
    assert_eq!(answers[3]["shipped"], true, "{out}");

    // Relative to the current folder, and one line per path in human format.
    let cwd: PathBuf = project.fn_dir("a");
    let out = {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(&cwd)
            .args(["--config", project.config().to_str().unwrap()])
            .args(["explain", "debug.log", "main.py"])
            .env("NO_COLOR", "1");
        cmd.output().unwrap()
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "debug.log  a  not shipped  .gitignore:2 (*.log)",
            "main.py  a  shipped  no rule matched",
        ],
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_name_that_is_not_utf8_is_skipped_with_a_warning_not_dropped_silently() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let project = Project::new(NO_API).function("a", &[("main.py", "main\n")]);
    let bad = project.fn_dir("a").join(OsStr::from_bytes(b"caf\xe9.txt"));
    fs::write(&bad, "latin-1 name\n").unwrap();
    let out = run_within(
        &project,
        project.dir.path(),
        &["package", "a", "--list"],
        LONG,
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(listed(&out), ["main.py"], "{out}");
    assert!(
        skipped(&out)
            .iter()
            .any(|(p, r)| p.starts_with("caf") && r.contains("UTF-8")),
        "{out}"
    );
}
