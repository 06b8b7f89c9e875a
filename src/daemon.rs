//! The orchestrator of `gcwatch watch`: it creates every channel, spawns every task, and in
//! one loop turns notices, deadlines, shipping progress and signals into actions.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::config::{Config, Function};
use crate::debounce::{Burst, Debouncer};
use crate::events::Event;
use crate::rules::Rules;
use crate::service::{self, Notifier};
use crate::ship::{self, Context, Progress, Request, Shipped};
use crate::snapshot;
use crate::watch::{Backend, Notice, Watcher};

/// How long a running upload may go on after a stop signal.
const UPLOAD_GRACE: Duration = Duration::from_secs(10);
/// How long the start-up check waits for a probe file's event before polling instead.
const PROBE_WAIT: Duration = Duration::from_secs(2);
/// The name of the start-up probe files; changes to them are never routed.
const PROBE_PREFIX: &str = ".gcwatch-probe-";

/// Makes the API client for a config: the `--local` emulator's, or one for `[api]`.
pub type Connect = Arc<dyn Fn(&Config) -> Result<Arc<Client>, String> + Send + Sync>;

pub struct WatchOptions {
    pub initial_build: bool,
}

/// What the daemon does about one function while a build of it may be running.
///
/// 1. `Idle`: a settled burst starts shipping at once.
/// 2. `Busy`: a settled burst only marks the function for one follow-up; any number of
///    further bursts fold into that same follow-up.
/// 3. When shipping ends and a follow-up is due, it starts from the content current then.
#[derive(Debug)]
enum Phase {
    Idle,
    Busy {
        build_id: Option<String>,
        uploading: bool,
        follow_up: bool,
        task: JoinHandle<()>,
    },
}

struct Slot {
    function: Function,
    settings: snapshot::Settings,
    rules: Rules,
    phase: Phase,
    /// Whether the folder was there at the last look; a missing folder is said once.
    present: bool,
}

/// What a burst is about: one function, or the config file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Function(String),
    Config,
}

/// Sent by a shipping task to the loop.
enum Report {
    Progress(String, Progress),
    Done(String),
}

/// The signals the daemon acts on.
struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
    usr1: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }
}

pub struct Daemon {
    config: Config,
    /// The functions named on the command line; empty for all.
    names: Vec<String>,
    connect: Connect,
    ctx: Context,
    slots: Vec<Slot>,
    debouncer: Debouncer<Key>,
    reports_tx: mpsc::UnboundedSender<Report>,
    watcher: Option<Watcher>,
    /// Folders watched for their direct entries only.
    watched_folders: HashSet<PathBuf>,
}

impl Daemon {
    pub fn new(
        config: Config,
        names: Vec<String>,
        connect: Connect,
        ctx: Context,
    ) -> Result<Daemon, String> {
        let functions = config.select(&names)?;
        let slots = functions
            .into_iter()
            .map(|f| new_slot(&config, f))
            .collect::<Result<Vec<_>, String>>()?;
        let debouncer = Debouncer::new(config.watch.debounce, config.watch.max_wait);
        let (reports_tx, _) = mpsc::unbounded_channel();
        Ok(Daemon {
            config,
            names,
            connect,
            ctx,
            slots,
            debouncer,
            reports_tx,
            watcher: None,
            watched_folders: HashSet::new(),
        })
    }

    /// Runs until a stop signal; returns the process exit code.
    pub async fn run(mut self, opts: WatchOptions) -> i32 {
        let (notices_tx, mut notices) = mpsc::unbounded_channel();
        let (reports_tx, mut reports) = mpsc::unbounded_channel();
        self.reports_tx = reports_tx;
        let mut signals = match Signals::install() {
            Ok(s) => s,
            Err(e) => {
                self.emit_error(None, format!("cannot handle signals: {e}"));
                return 3;
            }
        };
        let poll_interval = self.config.watch.debounce.max(Duration::from_millis(500));
        match Watcher::new(self.config.watch.poll, poll_interval, notices_tx) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => {
                self.emit_error(None, e.to_string());
                return 3;
            }
        }
        for i in 0..self.slots.len() {
            self.watch_slot(i);
        }
        let config_dir = self.config.dir.clone();
        self.watch_entries(&config_dir);

        let early = if self.config.watch.poll {
            Vec::new()
        } else {
            self.probe(&mut notices).await
        };
        self.resume();
        self.initial(opts.initial_build).await;
        for notice in early {
            self.on_notice(notice);
        }

        loop {
            let deadline = self.debouncer.next_deadline();
            tokio::select! {
                Some(notice) = notices.recv() => self.on_notice(notice),
                () = sleep_until(deadline) => self.on_due(),
                Some(report) = reports.recv() => self.on_report(report),
                _ = signals.hup.recv() => self.reload(),
                _ = signals.usr1.recv() => self.rescan("a rescan was asked for (SIGUSR1)"),
                _ = signals.int.recv() => break,
                _ = signals.term.recv() => break,
            }
        }

        notify_service(service::Notice::Stopping);
        self.watcher = None;
        self.shutdown(&mut reports, &mut signals).await
    }

    /// Watches a function folder (natively, else by polling) and its parent's entries, so
    /// that the folder is seen again when it is removed and re-created.
    fn watch_slot(&mut self, i: usize) {
        let (name, root) = (
            self.slots[i].function.name.clone(),
            self.slots[i].function.path.clone(),
        );
        if let Some(parent) = root.parent() {
            self.watch_entries(parent);
        }
        let Some(watcher) = &mut self.watcher else {
            return;
        };
        let present = root.is_dir();
        self.slots[i].present = present;
        if !present {
            self.emit_error(
                Some(&name),
                format!(
                    "folder {} is missing; it will be built when it appears",
                    root.display()
                ),
            );
            return;
        }
        match watcher.watch_tree(&root) {
            Ok((Backend::Native, _)) | Ok((Backend::Poll, None)) => {}
            Ok((Backend::Poll, Some(reason))) => self.emit_error(
                Some(&name),
                format!(
                    "cannot watch {} with file system events ({reason}); polling it instead",
                    root.display(),
                ),
            ),
            Err(e) => self.emit_error(Some(&name), e.to_string()),
        }
    }

    /// Watches one folder's direct entries, unless a function's tree watch covers it.
    fn watch_entries(&mut self, folder: &Path) {
        let covered = self
            .slots
            .iter()
            .any(|s| folder.starts_with(&s.function.path));
        if covered || !self.watched_folders.insert(folder.to_path_buf()) {
            return;
        }
        if let Some(watcher) = &mut self.watcher {
            if let Err(e) = watcher.watch_folder(folder) {
                tracing::warn!("{e}");
            }
        }
    }

    /// Checks that events really arrive from each watched file system: a probe file is
    /// written in one function folder per file system; where its event does not come, those
    /// folders are polled instead. Returns the other notices that came meanwhile.
    async fn probe(&mut self, notices: &mut mpsc::UnboundedReceiver<Notice>) -> Vec<Notice> {
        let mut early = Vec::new();
        let mut devices: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, slot) in self.slots.iter().enumerate() {
            if let Ok(meta) = std::fs::metadata(&slot.function.path) {
                devices.entry(meta.dev()).or_default().push(i);
            }
        }
        for indices in devices.into_values() {
            let root = self.slots[indices[0]].function.path.clone();
            let probe = root.join(format!("{PROBE_PREFIX}{}", std::process::id()));
            if std::fs::write(&probe, b"").is_err() {
                continue; // A read-only folder cannot be probed; its watch stays as it is.
            }
            let deadline = tokio::time::Instant::now() + PROBE_WAIT;
            let mut arrived = false;
            while !arrived {
                match tokio::time::timeout_at(deadline, notices.recv()).await {
                    Ok(Some(notice)) => {
                        // Any event from under this folder proves that events arrive; so does
                        // an overflow, which a big tree's own setup can cause and which may
                        // have swallowed the probe's event.
                        arrived = match &notice {
                            Notice::Changed(paths) => paths.iter().any(|p| p.starts_with(&root)),
                            Notice::Rescan(_) => true,
                            Notice::Failed { .. } => false,
                        };
                        early.push(notice);
                    }
                    _ => break,
                }
            }
            let _ = std::fs::remove_file(&probe);
            if arrived {
                continue;
            }
            for &i in &indices {
                let (name, path) = (
                    self.slots[i].function.name.clone(),
                    self.slots[i].function.path.clone(),
                );
                self.emit_error(
                    Some(&name),
                    format!(
                        "no file system events arrive from {} (a network or WSL mount?); polling it instead",
                        path.display()
                    ),
                );
                if let Some(w) = &mut self.watcher {
                    if let Err(e) = w.poll_tree(&path) {
                        self.emit_error(Some(&name), e.to_string());
                    }
                }
            }
        }
        early
    }

    /// Follows again the builds that were submitted but not seen to their end before the
    /// last stop or crash.
    fn resume(&mut self) {
        for i in 0..self.slots.len() {
            let f = &self.slots[i].function;
            let Some(build_id) = self.ctx.journal.unfinished(&f.name, &f.id) else {
                continue;
            };
            let (ctx, tx, name) = (self.ctx.clone(), self.reports_tx.clone(), f.name.clone());
            let id = build_id.clone();
            let task = tokio::spawn(async move {
                ship::follow_build(&ctx, &name, &id, None).await;
                let _ = tx.send(Report::Done(name));
            });
            self.slots[i].phase = Phase::Busy {
                build_id: Some(build_id),
                uploading: false,
                follow_up: false,
                task,
            };
        }
    }

    /// The first snapshots count the files for `ready` and decide the initial builds.
    async fn initial(&mut self, build: bool) {
        let mut files = 0;
        let mut changed = Vec::new();
        let mut unchanged = Vec::new();
        // Every function's walk starts at once; hashing shares the cores.
        let started = Instant::now();
        let walks: Vec<_> = self
            .slots
            .iter()
            .filter(|s| s.present)
            .map(|slot| {
                let (root, settings) = (slot.function.path.clone(), slot.settings.clone());
                let cache = self.ctx.caches.of(&slot.function.name);
                let walk = tokio::task::spawn_blocking(move || {
                    let rules = Rules::load(&root, &settings.rules)?;
                    let mut memory = cache.lock().unwrap_or_else(|e| e.into_inner());
                    let snap = snapshot::take_with(&rules, &settings, &mut memory.stat)?;
                    let seen = (snap.files, snap.hash.to_string());
                    memory.last = Some(snap);
                    Ok::<_, crate::pack::PackError>(seen)
                });
                (slot.function.clone(), walk)
            })
            .collect();
        for (f, walk) in walks {
            let f = &f;
            match walk.await {
                Ok(Ok((count, hash))) => {
                    files += count;
                    if self.ctx.journal.last_hash(&f.name, &f.id).as_deref() == Some(hash.as_str())
                    {
                        unchanged.push(Event::Unchanged {
                            function: f.name.clone(),
                            hash,
                            ms: started.elapsed().as_millis() as u64,
                        });
                    } else {
                        changed.push(f.name.clone());
                    }
                }
                // Let the shipping attempt report the error in its own words.
                _ => changed.push(f.name.clone()),
            }
        }
        self.ctx.emitter.emit(Event::Ready {
            functions: self.slots.len(),
            files,
        });
        notify_service(service::Notice::Ready);
        for event in unchanged {
            self.ctx.emitter.emit(event);
        }
        // The hashes just read make the next start quick; writing them must not delay a build.
        let caches = self.ctx.caches.clone();
        tokio::task::spawn_blocking(move || caches.save());
        if build {
            for name in changed {
                self.due(&name, None);
            }
        }
    }

    fn on_notice(&mut self, notice: Notice) {
        let now = Instant::now();
        match notice {
            Notice::Changed(paths) => {
                for path in paths {
                    if path == self.config.file {
                        self.debouncer.note(Key::Config, "", now);
                    } else if let Some(i) = self.slots.iter().position(|s| s.function.path == path)
                    {
                        self.root_changed(i);
                        self.debouncer.note(
                            Key::Function(self.slots[i].function.name.clone()),
                            ".",
                            now,
                        );
                    } else if let Some((name, rel)) = self.route(&path) {
                        self.debouncer.note(Key::Function(name), &rel, now);
                    }
                }
            }
            Notice::Rescan(why) => self.rescan(&why),
            Notice::Failed { message, paths } => {
                self.emit_error(None, format!("watch error: {message}; rescanning"));
                // Whatever the error touched is looked at again.
                let names: Vec<String> = self
                    .slots
                    .iter()
                    .filter(|s| {
                        paths.is_empty() || paths.iter().any(|p| p.starts_with(&s.function.path))
                    })
                    .map(|s| s.function.name.clone())
                    .collect();
                for name in names {
                    self.debouncer.note(Key::Function(name), ".", now);
                }
            }
        }
    }

    /// Events may have been lost: every function is looked at again. Its hash decides
    /// whether anything is built, so a rescan never builds what did not change.
    fn rescan(&mut self, why: &str) {
        self.emit_error(None, format!("{why}; rescanning every function"));
        let now = Instant::now();
        for i in 0..self.slots.len() {
            self.root_changed(i);
            self.debouncer
                .note(Key::Function(self.slots[i].function.name.clone()), ".", now);
        }
    }

    /// The function folder itself was created, removed or replaced: its watch is put in
    /// place again whenever it is there, since a re-created folder is a new inode.
    fn root_changed(&mut self, i: usize) {
        // Always watched anew: a folder removed and re-created may get its old inode number
        // back, so nothing cheaper tells the two apart.
        let root = self.slots[i].function.path.clone();
        let Some(w) = &mut self.watcher else { return };
        if root.is_dir() {
            if let Err(e) = w.watch_tree(&root) {
                tracing::warn!("{e}");
            }
            self.slots[i].present = true;
        } else {
            w.unwatch(&root);
        }
    }

    /// The function a changed path belongs to and its relative path, if the change matters:
    /// a path that would be shipped, or an ignore file (it changes what would be shipped).
    fn route(&self, path: &Path) -> Option<(String, String)> {
        let slot = self
            .slots
            .iter()
            .find(|s| path.starts_with(&s.function.path))?;
        let rel = path.strip_prefix(&slot.function.path).ok()?;
        if rel.to_str().is_some_and(|r| r.starts_with(PROBE_PREFIX)) {
            return None;
        }
        let rel_text = rel.to_string_lossy().into_owned();
        if slot.rules.note_change(rel) {
            return Some((slot.function.name.clone(), rel_text));
        }
        let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        // A path the rules cannot judge is looked at: a needless check beats a lost edit.
        slot.rules
            .decide(rel, is_dir)
            .map_or(true, |d| d.shipped)
            .then(|| (slot.function.name.clone(), rel_text))
    }

    fn on_due(&mut self) {
        for (key, burst) in self.debouncer.take_due(Instant::now()) {
            match key {
                Key::Config => self.reload(),
                Key::Function(name) => {
                    self.report_change(&name, &burst);
                    self.due(&name, burst.all);
                }
            }
        }
    }

    /// A function's content may have changed: ship it now, or once its running build ends.
    /// `changed` lists the paths that changed, when known: the snapshot is then updated
    /// path by path instead of walked anew.
    fn due(&mut self, name: &str, changed: Option<Vec<String>>) {
        let Some(i) = self.slots.iter().position(|s| s.function.name == name) else {
            return;
        };
        let slot = &mut self.slots[i];
        if !slot.function.path.is_dir() {
            if slot.present {
                slot.present = false;
                let message = format!(
                    "folder {} is gone; it will be built when it comes back",
                    slot.function.path.display()
                );
                self.emit_error(Some(name), message);
            }
            return;
        }
        slot.present = true;
        match &mut slot.phase {
            Phase::Idle => self.start(i, changed),
            Phase::Busy {
                follow_up: true, ..
            } => {}
            Phase::Busy {
                build_id,
                follow_up,
                ..
            } => {
                *follow_up = true;
                let event = Event::Queued {
                    function: name.to_string(),
                    after: build_id.clone(),
                };
                self.ctx.emitter.emit(event);
            }
        }
    }

    fn report_change(&self, name: &str, burst: &Burst) {
        self.ctx.emitter.emit(Event::Change {
            function: name.to_string(),
            paths: burst.paths,
            path: burst.named.first().cloned().unwrap_or_default(),
            named: burst.named.clone(),
        });
    }

    /// Starts shipping one function from the content current now.
    fn start(&mut self, i: usize, changed: Option<Vec<String>>) {
        let slot = &mut self.slots[i];
        let request = Request {
            function: slot.function.clone(),
            settings: slot.settings.clone(),
            last_hash: self
                .ctx
                .journal
                .last_hash(&slot.function.name, &slot.function.id),
            wait: true,
            changed,
        };
        let (ctx, tx, name) = (
            self.ctx.clone(),
            self.reports_tx.clone(),
            slot.function.name.clone(),
        );
        let task = tokio::spawn(async move {
            let progress_tx = tx.clone();
            let progress_name = name.clone();
            let _: Shipped = ship::ship(&ctx, request, move |p| {
                let _ = progress_tx.send(Report::Progress(progress_name.clone(), p));
            })
            .await;
            let _ = tx.send(Report::Done(name));
        });
        slot.phase = Phase::Busy {
            build_id: None,
            uploading: false,
            follow_up: false,
            task,
        };
    }

    fn on_report(&mut self, report: Report) {
        match report {
            Report::Progress(name, progress) => self.on_progress(&name, progress),
            Report::Done(name) => {
                let Some(i) = self.slots.iter().position(|s| s.function.name == name) else {
                    return;
                };
                let phase = std::mem::replace(&mut self.slots[i].phase, Phase::Idle);
                if matches!(
                    phase,
                    Phase::Busy {
                        follow_up: true,
                        ..
                    }
                ) {
                    // The follow-up folds bursts whose paths were not kept: it walks anew.
                    self.due(&name, None);
                }
            }
        }
    }

    fn on_progress(&mut self, name: &str, progress: Progress) {
        let Some(slot) = self.slots.iter_mut().find(|s| s.function.name == name) else {
            return;
        };
        match progress {
            Progress::Uploading => {
                if let Phase::Busy { uploading, .. } = &mut slot.phase {
                    *uploading = true;
                }
            }
            Progress::Submitted { build_id } => {
                if let Phase::Busy {
                    build_id: id,
                    uploading,
                    ..
                } = &mut slot.phase
                {
                    *id = Some(build_id);
                    *uploading = false;
                }
            }
        }
    }

    /// Reads `greencloud.toml` again. A broken one is reported and the running config stays.
    fn reload(&mut self) {
        let config = match Config::load(&self.config.file) {
            Ok(c) => c,
            Err(e) => {
                self.emit_error(
                    None,
                    format!("config not reloaded, keeping the running one: {e}"),
                );
                return;
            }
        };
        if config.api != self.config.api {
            match (self.connect)(&config) {
                Ok(client) => self.ctx.client = client,
                Err(e) => {
                    self.emit_error(
                        None,
                        format!("config not reloaded, keeping the running one: {e}"),
                    );
                    return;
                }
            }
        }
        for (what, changed) in [
            (
                "state_dir",
                config.watch.state_dir != self.config.watch.state_dir,
            ),
            ("poll", config.watch.poll != self.config.watch.poll),
        ] {
            if changed {
                self.emit_error(None, format!("a change of {what} applies after a restart"));
            }
        }
        self.ctx.poll_interval = config.api.poll_interval;
        self.ctx.build_timeout = config.api.build_timeout;
        self.debouncer
            .set_timing(config.watch.debounce, config.watch.max_wait);

        let wanted: Vec<Function> = config
            .functions
            .iter()
            .filter(|f| self.names.is_empty() || self.names.contains(&f.name))
            .cloned()
            .collect();
        // Functions that went away, or whose folder or id changed, stop.
        let mut kept = Vec::new();
        for slot in std::mem::take(&mut self.slots) {
            let same = wanted.iter().any(|f| {
                f.name == slot.function.name
                    && f.path == slot.function.path
                    && f.id == slot.function.id
            });
            if same {
                kept.push(slot);
                continue;
            }
            if let Phase::Busy { task, .. } = &slot.phase {
                task.abort();
            }
            if let Some(w) = &mut self.watcher {
                w.unwatch(&slot.function.path);
            }
            self.debouncer
                .forget(&Key::Function(slot.function.name.clone()));
        }
        self.slots = kept;
        let now = Instant::now();
        for function in wanted {
            match self
                .slots
                .iter()
                .position(|s| s.function.name == function.name)
            {
                Some(i) => {
                    let settings = ship::settings(&config, &function);
                    if settings != self.slots[i].settings {
                        match new_slot(&config, function.clone()) {
                            Ok(fresh) => {
                                // The last snapshot was taken under the old settings.
                                let memory = self.ctx.caches.of(&function.name);
                                memory.lock().unwrap_or_else(|e| e.into_inner()).last = None;
                                self.slots[i].settings = fresh.settings;
                                self.slots[i].rules = fresh.rules;
                                self.slots[i].function = fresh.function;
                                self.debouncer.note(Key::Function(function.name), ".", now);
                            }
                            Err(e) => self.emit_error(Some(&function.name), e),
                        }
                    }
                }
                None => match new_slot(&config, function) {
                    Ok(slot) => {
                        let name = slot.function.name.clone();
                        self.slots.push(slot);
                        self.watch_slot(self.slots.len() - 1);
                        self.debouncer.note(Key::Function(name), ".", now);
                    }
                    Err(e) => self.emit_error(None, e),
                },
            }
        }
        self.config = config;
        self.ctx.emitter.emit(Event::ConfigReloaded {
            functions: self.slots.len(),
        });
    }

    fn emit_error(&self, function: Option<&str>, message: String) {
        self.ctx.emitter.emit(Event::error(function, message));
    }

    /// Lets running uploads finish (for a while), stops every task, saves state, says
    /// `stopped`. A second signal ends it at once.
    async fn shutdown(
        mut self,
        reports: &mut mpsc::UnboundedReceiver<Report>,
        signals: &mut Signals,
    ) -> i32 {
        // What the tasks said before the signal counts: an upload may have just begun.
        while let Ok(report) = reports.try_recv() {
            match report {
                Report::Progress(name, progress) => self.on_progress(&name, progress),
                Report::Done(name) => self.stopped(&name),
            }
        }
        let grace = tokio::time::sleep(UPLOAD_GRACE);
        tokio::pin!(grace);
        while self.uploading() {
            tokio::select! {
                Some(report) = reports.recv() => match report {
                    Report::Progress(name, progress) => self.on_progress(&name, progress),
                    Report::Done(name) => self.stopped(&name),
                },
                () = &mut grace => break,
                _ = signals.int.recv() => return 130,
                _ = signals.term.recv() => return 130,
            }
        }
        let mut tasks = Vec::new();
        for slot in &mut self.slots {
            if let Phase::Busy { task, .. } = std::mem::replace(&mut slot.phase, Phase::Idle) {
                task.abort();
                tasks.push(task);
            }
        }
        // An aborted task drops its temporary zip once it has really stopped.
        for task in tasks {
            let _ = task.await;
        }
        let caches = self.ctx.caches.clone();
        let _ = tokio::task::spawn_blocking(move || caches.save()).await;
        self.ctx.emitter.emit(Event::Stopped);
        0
    }

    /// A task ended while stopping: no follow-up starts.
    fn stopped(&mut self, name: &str) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.function.name == name) {
            slot.phase = Phase::Idle;
        }
    }

    fn uploading(&self) -> bool {
        self.slots.iter().any(|s| {
            matches!(
                s.phase,
                Phase::Busy {
                    uploading: true,
                    ..
                }
            )
        })
    }
}

fn new_slot(config: &Config, function: Function) -> Result<Slot, String> {
    let settings = ship::settings(config, &function);
    let rules = Rules::load(&function.path, &settings.rules)
        .map_err(|e| format!("{}: {e}", function.name))?;
    Ok(Slot {
        function,
        settings,
        rules,
        phase: Phase::Idle,
        present: true,
    })
}

/// Tells systemd (when it started us) how the daemon is doing; a failure only costs a warning.
fn notify_service(notice: service::Notice) {
    if let Err(e) = Notifier::from_env().notify(notice) {
        tracing::warn!("cannot send {} to NOTIFY_SOCKET: {e}", notice.as_str());
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
