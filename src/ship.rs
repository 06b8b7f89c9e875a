//! One function in, one finished attempt to ship it out: snapshot → compare with what was last
//! submitted → zip → submit → follow, reporting each step as an event.
//!
//! `watch` and `build` both run this; the orchestrator decides when.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api::BuildStatus;
use crate::client::{ApiError, Client};
use crate::config::{Config, Function};
use crate::events::{Emitter, Event};
use crate::follow;
use crate::pack::{self, Memory, Outcome, PackError, Package, Previous};
use crate::progress::UploadBar;
use crate::rules::RuleSettings;
use crate::snapshot::{Settings, Skipped, Snapshot};
use crate::statcache::StatCache;
use crate::state::Journal;

/// What one function needs to be packaged the same way by every caller.
pub fn settings(config: &Config, function: &Function) -> Settings {
    let mut patterns = config.watch.ignore.clone();
    patterns.extend(function.ignore.iter().cloned());
    Settings {
        rules: RuleSettings {
            ignore_files: config.watch.ignore_files.clone(),
            patterns,
            state_dir: Some(config.watch.state_dir.clone()),
        },
        follow_external_symlinks: config.watch.follow_external_symlinks,
        max_files: config.watch.max_files,
        max_zip_bytes: config.watch.max_zip_bytes,
    }
}

/// Everything a shipping attempt shares with the others.
#[derive(Clone)]
pub struct Context {
    pub client: Arc<Client>,
    pub emitter: Emitter,
    pub poll_interval: Duration,
    pub build_timeout: Duration,
    /// Where zips wait for their upload: outside every watched folder.
    pub tmp_dir: PathBuf,
    /// What was last submitted; written before each `submitted` line.
    pub journal: Arc<Journal>,
    /// Each function's stat cache, so that only changed files are read.
    pub caches: Arc<Caches>,
    /// Skipped paths already reported, so each warning is said once per run.
    pub reported_skips: Arc<Mutex<HashSet<(String, String)>>>,
}

/// What the caller asks of one attempt.
#[derive(Debug, Clone)]
pub struct Request {
    pub function: Function,
    pub settings: Settings,
    /// The hash last submitted; `None` ships whatever is there.
    pub last_hash: Option<String>,
    /// Follow the build to its end, or return once it is submitted.
    pub wait: bool,
    /// The paths (relative) that changed since the last snapshot, when they are known and
    /// few; `None` walks the whole folder.
    pub changed: Option<Vec<String>>,
}

/// Steps the orchestrator keeps track of, sent as they happen.
#[derive(Debug, Clone)]
pub enum Progress {
    Uploading,
    Submitted { build_id: String },
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Shipped {
    Unchanged,
    /// Submitted and not followed (`--no-wait`).
    Submitted,
    Ended(BuildStatus),
    TimedOut,
    /// Packaging failed; nothing was uploaded.
    PackFailed,
    /// The API failed; `submitted` tells whether the build was created before it did.
    ApiFailed {
        submitted: bool,
    },
}

tokio::task_local! {
    /// The function whose request is being retried, for the `error` event that says so.
    pub static FUNCTION: String;
}

/// Runs one attempt. Every outcome has been reported as an event when this returns.
pub async fn ship(ctx: &Context, req: Request, on: impl Fn(Progress)) -> Shipped {
    let name = req.function.name.clone();
    FUNCTION
        .scope(name.clone(), ship_scoped(ctx, req, on))
        .await
}

async fn ship_scoped(ctx: &Context, req: Request, on: impl Fn(Progress)) -> Shipped {
    let name = req.function.name.clone();
    let started = Instant::now();
    let packed = {
        let req = req.clone();
        let tmp_dir = ctx.tmp_dir.clone();
        let memory = ctx.caches.of(&name);
        tokio::task::spawn_blocking(move || {
            // Someone may have removed the state dir while the daemon runs.
            let _ = std::fs::create_dir_all(&tmp_dir);
            let last = req.last_hash.as_deref().and_then(|h| h.parse().ok());
            let mut memory = memory.lock().unwrap_or_else(|e| e.into_inner());
            let outcome = pack::package_changed(
                &req.function.path,
                &req.settings,
                &tmp_dir,
                last.as_ref(),
                &mut memory,
                req.changed.as_deref(),
            )?;
            let kept = tmp_dir.join(format!("last-{}.zip", req.function.name));
            Ok::<_, PackError>(keep(outcome, kept, &mut memory))
        })
        .await
    };
    let ms = started.elapsed().as_millis() as u64;
    let (snapshot, zip, bytes) = match packed {
        Ok(Ok(Packed::Unchanged(summary))) => {
            report_skips(ctx, &name, &summary.skipped);
            ctx.emitter.emit(Event::Unchanged {
                function: name,
                hash: summary.hash,
                ms,
            });
            return Shipped::Unchanged;
        }
        Ok(Ok(Packed::Zip {
            summary,
            zip,
            bytes,
        })) => (summary, zip, bytes),
        Ok(Err(e)) => {
            ctx.emitter.emit(Event::error(Some(&name), with_causes(&e)));
            return Shipped::PackFailed;
        }
        Err(e) => {
            ctx.emitter
                .emit(Event::error(Some(&name), format!("packaging stopped: {e}")));
            return Shipped::PackFailed;
        }
    };
    report_skips(ctx, &name, &snapshot.skipped);
    let hash = snapshot.hash;
    // Said before `packaged` is printed, so that a stop signal that follows the line finds
    // the upload under way and lets it finish.
    on(Progress::Uploading);
    ctx.emitter.emit(Event::Packaged {
        function: name.clone(),
        hash: hash.clone(),
        files: snapshot.files,
        bytes,
        ms,
    });

    let bar = UploadBar::start(&ctx.emitter, &name, bytes);
    let submitted = ctx
        .client
        .submit_with_progress(
            &req.function.id,
            &req.function.arch,
            zip.path(),
            bar.as_ref().map(UploadBar::callback),
        )
        .await;
    drop(bar);
    let build_id = match submitted {
        Ok(id) => id,
        Err(e) => {
            ctx.emitter
                .emit(Event::error(Some(&name), format!("upload failed: {e}")));
            return Shipped::ApiFailed { submitted: false };
        }
    };
    drop(zip);
    if let Err(e) = ctx
        .journal
        .record_submit(&name, &req.function.id, &hash, &build_id)
    {
        ctx.emitter.emit(Event::error(Some(&name), e.to_string()));
    }
    ctx.emitter.emit(Event::Submitted {
        function: name.clone(),
        build_id: build_id.clone(),
        hash,
        bytes,
    });
    on(Progress::Submitted {
        build_id: build_id.clone(),
    });
    if !req.wait {
        return Shipped::Submitted;
    }
    follow_scoped(ctx, &name, &build_id, Some((started, bytes))).await
}

/// Follows a submitted build to its end, reporting each status and, on FAILED, the log.
pub async fn follow_build(
    ctx: &Context,
    name: &str,
    build_id: &str,
    shipped: Option<(Instant, u64)>,
) -> Shipped {
    FUNCTION
        .scope(
            name.to_string(),
            follow_scoped(ctx, name, build_id, shipped),
        )
        .await
}
/// `shipped` (when packaging started, the zip's size) adds a summary to the final status.
async fn follow_scoped(
    ctx: &Context,
    name: &str,
    build_id: &str,
    shipped: Option<(Instant, u64)>,
) -> Shipped {
    let outcome = follow::follow(
        &ctx.client,
        build_id,
        ctx.poll_interval,
        ctx.build_timeout,
        |t| {
            if let Err(e) = ctx.journal.record_status(name, build_id, &t.to) {
                ctx.emitter.emit(Event::error(Some(name), e.to_string()));
            }
            let summary = shipped.filter(|_| t.to.is_final());
            ctx.emitter.emit(Event::Status {
                function: name.to_string(),
                build_id: build_id.to_string(),
                from: t.from,
                to: t.to,
                elapsed_ms: t.elapsed_ms,
                total_ms: summary.map(|(started, _)| started.elapsed().as_millis() as u64),
                bytes: summary.map(|(_, bytes)| bytes),
            });
        },
    )
    .await;
    match outcome {
        Ok(follow::Outcome::Ended(info)) => {
            if info.status == BuildStatus::Failed {
                for line in info.log {
                    ctx.emitter.emit(Event::BuildLog {
                        function: name.to_string(),
                        build_id: build_id.to_string(),
                        line,
                    });
                }
            }
            Shipped::Ended(info.status)
        }
        Ok(follow::Outcome::TimedOut(last)) => {
            let last = last.map_or("no status".to_string(), |s| s.to_string());
            ctx.emitter.emit(Event::error(
                Some(name),
                format!(
                    "build {build_id} did not end within {} s (last seen: {last}); no longer following it",
                    ctx.build_timeout.as_secs()
                ),
            ));
            Shipped::TimedOut
        }
        Err(e) => {
            ctx.emitter.emit(Event::error(
                Some(name),
                format!("following build {build_id} failed: {e}"),
            ));
            Shipped::ApiFailed { submitted: true }
        }
    }
}

/// An error with the causes behind it, as one line: "cannot create …: Permission denied".
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    text
}

/// A packaging's result, its zip where the upload reads it.
enum Packed {
    Unchanged(Summary),
    Zip {
        summary: Summary,
        zip: Zip,
        bytes: u64,
    },
}

/// What the events need of a snapshot; the snapshot itself stays with the function's
/// memory, for the next packaging to update.
struct Summary {
    hash: String,
    files: usize,
    skipped: Vec<Skipped>,
}

impl Summary {
    fn of(snapshot: &Snapshot) -> Summary {
        Summary {
            hash: snapshot.hash.to_string(),
            files: snapshot.files,
            skipped: snapshot.skipped.clone(),
        }
    }
}

/// The zip to upload: kept as the function's last zip (the next packaging copies from it),
/// or, where it could not be kept, a temporary file removed after the upload.
enum Zip {
    Kept(PathBuf),
    Temporary(tempfile::NamedTempFile),
}

impl Zip {
    fn path(&self) -> &Path {
        match self {
            Zip::Kept(path) => path,
            Zip::Temporary(file) => file.path(),
        }
    }
}

/// Moves a new zip to `kept` and remembers it and the snapshot for the next packaging.
fn keep(outcome: Outcome, kept: PathBuf, memory: &mut Memory) -> Packed {
    let Package {
        snapshot,
        zip,
        bytes,
        index,
        ..
    } = match outcome {
        Outcome::Unchanged(snapshot) => {
            let summary = Summary::of(&snapshot);
            memory.last = Some(snapshot);
            return Packed::Unchanged(summary);
        }
        Outcome::Packaged(package) => package,
    };
    let zip = match zip.persist(&kept) {
        Ok(_) => {
            memory.previous = Some(Previous {
                path: kept.clone(),
                index,
            });
            Zip::Kept(kept)
        }
        Err(e) => {
            memory.previous = None;
            Zip::Temporary(e.file)
        }
    };
    let summary = Summary::of(&snapshot);
    memory.last = Some(snapshot);
    Packed::Zip {
        summary,
        zip,
        bytes,
    }
}

fn report_skips(ctx: &Context, name: &str, skipped: &[Skipped]) {
    let mut reported = ctx.reported_skips.lock().unwrap_or_else(|e| e.into_inner());
    for skipped in skipped {
        let key = (name.to_string(), skipped.path.clone());
        if reported.insert(key) {
            ctx.emitter.emit(Event::SkippedPath {
                function: name.to_string(),
                path: skipped.path.clone(),
                reason: skipped.reason.to_string(),
            });
        }
    }
}

/// Turns an API error into the words of an `error` event with its retry hint.
pub fn retry_event(function: Option<&str>, error: &ApiError, pause: Duration) -> Event {
    Event::Error {
        message: error.to_string(),
        function: function.map(str::to_string),
        retry_in_ms: Some(pause.as_millis() as u64),
    }
}

/// A folder of this process's own for zips waiting for their upload, inside the state dir:
/// outside every function folder, and found again after a crash. Removed when dropped;
/// the folders of processes that no longer run are removed when the next one starts.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub fn create(state_dir: &Path) -> std::io::Result<Scratch> {
        let parent = state_dir.join("tmp");
        if let Ok(entries) = std::fs::read_dir(&parent) {
            for entry in entries.flatten() {
                let pid = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<i32>().ok());
                if pid.is_some_and(|pid| !process_runs(pid)) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = parent.join(std::process::id().to_string());
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(Scratch { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn process_runs(pid: i32) -> bool {
    // Signal 0 checks that the process exists without touching it.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// What packaging remembers of every function in one run: stat caches loaded from `dir` on
/// first use and saved back there, and each function's last zip (kept in memory only).
#[derive(Debug)]
pub struct Caches {
    dir: PathBuf,
    loaded: Mutex<HashMap<String, Arc<Mutex<Memory>>>>,
}

impl Caches {
    pub fn new(dir: PathBuf) -> Caches {
        Caches {
            dir,
            loaded: Mutex::default(),
        }
    }

    /// What packaging remembers of one function.
    pub fn of(&self, function: &str) -> Arc<Mutex<Memory>> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded
            .entry(function.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Memory {
                    stat: StatCache::load(&self.file(function)),
                    previous: None,
                    last: None,
                }))
            })
            .clone()
    }

    /// Writes every loaded cache back; a failure costs only speed next time.
    pub fn save(&self) {
        let loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        for (function, cache) in loaded.iter() {
            let memory = cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = memory.stat.save(&self.file(function)) {
                tracing::warn!("cannot save the stat cache of {function}: {e}");
            }
        }
    }

    fn file(&self, function: &str) -> PathBuf {
        self.dir.join(format!("{function}.bin"))
    }
}
