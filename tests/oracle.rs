//! The ignore rules against git itself: generated trees and `.gitignore` files in, `gcwatch`'s
//! shipped files compared with `git ls-files --others --exclude-standard` out.
//!
//! `GCWATCH_ORACLE_CASES=5000 cargo test --test oracle` runs more cases than the default;
//! `GCWATCH_ORACLE_SEED=N` runs the one case with that seed.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::BIN;
use gcwatch::snapshot::{self, Settings};

/// Cases run unless `GCWATCH_ORACLE_CASES` says otherwise.
const DEFAULT_CASES: u64 = 200;
/// Every this many cases goes through the binary (`package --list`) rather than the library.
const BINARY_EVERY: u64 = 10;

/// The function folder, inside the work tree: `work/fn`. No generated pattern meant for the
/// parent ignore files can match `work` or `fn` (git would then list nothing, while a function
/// folder named in the config is never excluded itself).
const FUNCTION: &str = "work/fn";

/// File names: ordinary ones, ones patterns must escape (`#`, `!`, a trailing space), and ones
/// shared with folder names so that trailing-`/` patterns have something to tell apart.
const FILE_NAMES: &[&str] = &[
    "a", "b", "ab", "x.log", "y.txt", "main.py", "#c", "!d", "t ", "k.tmp", "build", "lib.rs", "Z",
    "bb",
];
const DIR_NAMES: &[&str] = &["a", "b", "build", "lib", "sub", "x.log", "deep", "#c", "!d"];

/// A small deterministic PRNG (SplitMix64): no extra crates, the same trees on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One generated case: the ignore files written (path relative to the work tree, content).
struct Case {
    seed: u64,
    ignore_files: Vec<(String, String)>,
}

/// Writes files and folders under `dir` (`rel` from the function folder), up to depth 3.
fn tree(rng: &mut Rng, dir: &Path, depth: u32, folders: &mut Vec<String>, rel: &str) {
    fs::create_dir_all(dir).unwrap();
    let entries = 1 + rng.below(5);
    for _ in 0..entries {
        if depth < 3 && rng.chance(35) {
            let name = rng.pick(DIR_NAMES);
            let path = dir.join(name);
            if path.exists() {
                continue;
            }
            let sub = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            folders.push(sub.clone());
            tree(rng, &path, depth + 1, folders, &sub);
        } else {
            let name = rng.pick(FILE_NAMES);
            let path = dir.join(name);
            if !path.exists() {
                fs::write(path, name).unwrap();
            }
        }
    }
}

/// A name as a pattern atom: escaped where git would read it otherwise.
fn literal(name: &str) -> String {
    let mut out = String::new();
    if name.starts_with('#') || name.starts_with('!') {
        out.push('\\');
    }
    out.push_str(name.trim_end_matches(' '));
    if name.ends_with(' ') {
        out.push_str("\\ ");
    }
    out
}

/// One pattern atom (no slash). `wide` allows atoms that match almost anything.
fn atom(rng: &mut Rng, wide: bool) -> String {
    let globs: &[&str] = if wide {
        &[
            "*.log", "*.txt", "a*", "?b", "[ab]", "[a-c]*", "[!a]*", "*", "b?", "*b",
        ]
    } else {
        &["*.log", "*.txt", "a*", "?b", "[ab]", "[a-c]", "b?", "*b"]
    };
    if rng.chance(55) {
        let names: Vec<&str> = FILE_NAMES.iter().chain(DIR_NAMES).copied().collect();
        literal(rng.pick(&names))
    } else {
        rng.pick(globs).to_string()
    }
}

/// The lines of one ignore file. `prefix` is the function folder (or one of its folders)
/// relative to the file's folder, "" for a file inside; anchored patterns go through it.
fn ignore_lines(rng: &mut Rng, prefix: &str, wide: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let count = 1 + rng.below(6);
    for _ in 0..count {
        let dir = literal(rng.pick(DIR_NAMES));
        let a = atom(rng, wide);
        let body = match rng.below(10) {
            0 | 1 => a,
            2 => format!("/{prefix}{a}"),
            3 => format!("{prefix}{dir}/{a}"),
            4 => format!("**/{a}"),
            5 => format!("{prefix}{dir}/**"),
            6 => format!("{prefix}{dir}/**/{a}"),
            7 => format!("{a}/"),
            8 => {
                // A negation under an excluded folder: git cannot re-include it.
                lines.push(format!("{prefix}{dir}/"));
                format!("!{prefix}{dir}/{a}")
            }
            _ => {
                lines.push(format!("# {a}"));
                String::new()
            }
        };
        let mut line = body;
        if !line.is_empty() && rng.chance(25) && !line.starts_with('!') {
            line.insert(0, '!');
        }
        if !line.is_empty() && rng.chance(10) {
            line.push_str("  ");
        }
        lines.push(line);
    }
    lines
}

/// Builds case `seed` under `top` (a fresh git work tree).
fn generate(seed: u64, top: &Path) -> Case {
    let mut rng = Rng(seed);
    let root = top.join(FUNCTION);
    let mut folders = Vec::new();
    tree(&mut rng, &root, 0, &mut folders, "");
    let mut ignore_files = Vec::new();
    let mut write = |rel: String, lines: Vec<String>| {
        let content = lines.join("\n") + "\n";
        fs::write(top.join(&rel), &content).unwrap();
        ignore_files.push((rel, content));
    };
    // Parent folders up to the work tree root.
    if rng.chance(50) {
        write(
            ".gitignore".into(),
            ignore_lines(&mut rng, "work/fn/", false),
        );
    }
    if rng.chance(50) {
        write(
            "work/.gitignore".into(),
            ignore_lines(&mut rng, "fn/", false),
        );
    }
    if rng.chance(90) {
        write(
            format!("{FUNCTION}/.gitignore"),
            ignore_lines(&mut rng, "", true),
        );
    }
    for folder in folders {
        if rng.chance(40) {
            write(
                format!("{FUNCTION}/{folder}/.gitignore"),
                ignore_lines(&mut rng, "", true),
            );
        }
    }
    Case { seed, ignore_files }
}

fn git(top: &Path, home: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .current_dir(top)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "core.excludesFile=/dev/null"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git ({e}): install git to run the oracle test"));
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// What git would add: the untracked, not ignored files of the function folder.
fn git_files(top: &Path, home: &Path) -> BTreeSet<String> {
    let out = git(
        top,
        home,
        &[
            "ls-files",
            "-z",
            "--others",
            "--exclude-standard",
            "--",
            FUNCTION,
        ],
    );
    out.split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let p = String::from_utf8(p.to_vec()).unwrap();
            p.strip_prefix(&format!("{FUNCTION}/")).unwrap().to_string()
        })
        .filter(|p| !always_ignored(p))
        .collect()
}

/// The built-in defaults: never shipped, whatever git says. The generator makes none of these
/// names, so this only guards against a change of the name lists.
fn always_ignored(path: &str) -> bool {
    path.split('/').any(|name| {
        name == ".git"
            || name.ends_with(".swp")
            || name.ends_with(".swx")
            || name.ends_with('~')
            || name.starts_with(".#")
            || name == "4913"
            || name == ".DS_Store"
    })
}

fn library_files(top: &Path) -> BTreeSet<String> {
    let snapshot = snapshot::take(&top.join(FUNCTION), &Settings::default())
        .unwrap_or_else(|e| panic!("snapshot failed: {e}"));
    snapshot
        .entries
        .iter()
        .filter(|e| !e.is_dir())
        .map(|e| e.path.clone())
        .collect()
}

fn binary_files(top: &Path) -> BTreeSet<String> {
    fs::write(
        top.join("greencloud.toml"),
        format!(
            "[[functions]]\nname = \"fn\"\npath = \"{FUNCTION}\"\nid = \"{:024x}\"\n",
            1
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .current_dir(top)
        .args(["--log-format", "json", "package", "fn", "--list"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gcwatch package --list failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('{'))
        .map(str::to_string)
        .collect()
}

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| match e.file_type().unwrap().is_dir() {
            true => count_files(&e.path()),
            false => 1,
        })
        .sum()
}

fn describe(case: &Case, top: &Path, ours: &BTreeSet<String>, git: &BTreeSet<String>) -> String {
    let mut out = format!("case seed {}\n", case.seed);
    out.push_str("tree:\n");
    for line in common::listing(&top.join(FUNCTION)).lines() {
        out.push_str(&format!("  {line:?}\n"));
    }
    for (path, content) in &case.ignore_files {
        out.push_str(&format!("{path}:\n"));
        for (i, line) in content.lines().enumerate() {
            out.push_str(&format!("  {:>2}: {line:?}\n", i + 1));
        }
    }
    out.push_str(&format!(
        "shipped by gcwatch, not listed by git: {:?}\n",
        ours.difference(git).collect::<Vec<_>>()
    ));
    out.push_str(&format!(
        "listed by git, not shipped by gcwatch: {:?}\n",
        git.difference(ours).collect::<Vec<_>>()
    ));
    out
}

#[test]
fn shipped_files_equal_what_git_would_add() {
    let (first, cases) = match std::env::var("GCWATCH_ORACLE_SEED") {
        Ok(seed) => (seed.parse().expect("GCWATCH_ORACLE_SEED is a number"), 1),
        Err(_) => (
            1,
            std::env::var("GCWATCH_ORACLE_CASES")
                .ok()
                .map(|n| n.parse().expect("GCWATCH_ORACLE_CASES is a number"))
                .unwrap_or(DEFAULT_CASES),
        ),
    };
    let home = tempfile::tempdir().unwrap();
    // Thousands of small trees: in memory where there is a tmpfs, as disks on small VMs make
    // file creation, not the rules, the cost.
    let shm = Path::new("/dev/shm");
    let base = match shm.is_dir() && tempfile::tempdir_in(shm).is_ok() {
        true => shm.to_path_buf(),
        false => std::env::temp_dir(),
    };
    let started = Instant::now();
    let mut through_binary = 0;
    // How much the rules excluded, to show that the cases test something.
    let (mut listed, mut excluded) = (0, 0);
    for seed in first..first + cases {
        let top = tempfile::tempdir_in(&base).unwrap();
        git(top.path(), home.path(), &["init", "-q"]);
        let case = generate(seed, top.path());
        let want = git_files(top.path(), home.path());
        let got = if seed % BINARY_EVERY == 0 {
            through_binary += 1;
            binary_files(top.path())
        } else {
            library_files(top.path())
        };
        let all = count_files(&top.path().join(FUNCTION));
        listed += want.len();
        excluded += all - want.len();
        if got != want {
            panic!(
                "gcwatch and git disagree (rerun with GCWATCH_ORACLE_SEED={seed})\n{}",
                describe(&case, top.path(), &got, &want)
            );
        }
    }
    println!(
        "{cases} oracle cases ({through_binary} through the binary) agreed with git in {:.1?}: \
         {listed} files shipped, {excluded} excluded",
        started.elapsed()
    );
    assert!(
        cases < 20 || excluded > listed / 10,
        "the generated rules exclude too little to test anything"
    );
}
