//! The orchestrator of `gcwatch watch`: it creates every channel, spawns every task, and in
//! one loop turns notices, deadlines, shipping progress and signals into actions.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{Config, Function};
use crate::debounce::{Burst, Debouncer};
use crate::events::Event;
use crate::rules::Rules;
use crate::service::{self, Notifier};
use crate::ship::{self, Context, Progress, Request, Shipped};
use crate::snapshot;
use crate::state::{State, StateStore};
use crate::watch::{self, Notice, Watcher};

/// How long a running upload may go on after a stop signal.
const UPLOAD_GRACE: Duration = Duration::from_secs(10);

pub struct WatchOptions {
    pub names: Vec<String>,
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
}

/// Sent by a shipping task to the loop.
enum Report {
    Progress(String, Progress),
    Done(String, Shipped),
}

pub struct Daemon {
    config: Config,
    ctx: Context,
    store: StateStore,
    state: State,
    slots: Vec<Slot>,
    debouncer: Debouncer<String>,
    reports_tx: mpsc::UnboundedSender<Report>,
}

impl Daemon {
    pub fn new(
        config: Config,
        ctx: Context,
        store: StateStore,
        names: &[String],
    ) -> Result<Daemon, String> {
        let functions = config.select(names)?;
        let (state, warning) = store.load();
        if let Some(w) = warning {
            ctx.emitter.emit(Event::error(None, w));
        }
        let slots = functions
            .into_iter()
            .map(|function| {
                let settings = ship::settings(&config, &function);
                let rules = Rules::load(&function.path, &settings.rules)
                    .map_err(|e| format!("{}: {e}", function.name))?;
                Ok(Slot {
                    function,
                    settings,
                    rules,
                    phase: Phase::Idle,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let debouncer = Debouncer::new(config.watch.debounce, config.watch.max_wait);
        let (reports_tx, _) = mpsc::unbounded_channel();
        Ok(Daemon {
            config,
            ctx,
            store,
            state,
            slots,
            debouncer,
            reports_tx,
        })
    }

    /// Runs until a stop signal; returns the process exit code.
    pub async fn run(mut self, opts: WatchOptions) -> i32 {
        let (notices_tx, mut notices) = mpsc::unbounded_channel();
        let (reports_tx, mut reports) = mpsc::unbounded_channel();
        self.reports_tx = reports_tx;
        let mut sigint = signal(SignalKind::interrupt()).expect("SIGINT handler");
        let mut sigterm = signal(SignalKind::terminate()).expect("SIGTERM handler");

        let mode = if self.config.watch.poll {
            watch::Mode::Poll {
                interval: self.config.watch.debounce.max(Duration::from_millis(500)),
            }
        } else {
            watch::Mode::Native
        };
        let mut watcher = match Watcher::new(mode, notices_tx) {
            Ok(w) => w,
            Err(e) => {
                self.ctx.emitter.emit(Event::error(None, e.to_string()));
                return 3;
            }
        };
        for slot in &self.slots {
            if let Err(e) = watcher.watch_tree(&slot.function.path) {
                self.ctx
                    .emitter
                    .emit(Event::error(Some(&slot.function.name), e.to_string()));
                return 3;
            }
        }

        // The first snapshots count the files for `ready` and decide the initial builds.
        let mut files = 0;
        let mut changed = Vec::new();
        let mut unchanged = Vec::new();
        for slot in &self.slots {
            let f = &slot.function;
            let root = f.path.clone();
            let settings = slot.settings.clone();
            let started = Instant::now();
            match tokio::task::spawn_blocking(move || snapshot::take(&root, &settings)).await {
                Ok(Ok(snap)) => {
                    files += snap.files;
                    let hash = snap.hash.to_string();
                    if self.state.last_hash(&f.name, &f.id) == Some(hash.as_str()) {
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
        for name in &changed {
            if opts.initial_build {
                self.start(name);
            }
        }
        if !opts.initial_build {
            for slot in &self.slots {
                let f = &slot.function;
                if changed.contains(&f.name) {
                    tracing::info!(function = %f.name, "differs from the last submitted build; not built (--no-initial-build)");
                }
            }
        }

        loop {
            let deadline = self.debouncer.next_deadline();
            tokio::select! {
                Some(notice) = notices.recv() => self.on_notice(notice),
                () = sleep_until(deadline) => self.on_due(),
                Some(report) = reports.recv() => self.on_report(report),
                _ = sigint.recv() => break,
                _ = sigterm.recv() => break,
            }
        }

        notify_service(service::Notice::Stopping);
        drop(watcher);
        self.shutdown(&mut reports, &mut sigint, &mut sigterm).await
    }

    fn on_notice(&mut self, notice: Notice) {
        let now = Instant::now();
        match notice {
            Notice::Changed(paths) => {
                for path in paths {
                    if let Some((name, rel)) = self.route(&path) {
                        self.debouncer.note(name, &rel, now);
                    }
                }
            }
            Notice::Rescan(why) => {
                self.ctx.emitter.emit(Event::error(
                    None,
                    format!("{why}; rescanning every function"),
                ));
                for slot in &self.slots {
                    self.debouncer.note(slot.function.name.clone(), ".", now);
                }
            }
            Notice::Failed { message, paths } => {
                self.ctx
                    .emitter
                    .emit(Event::error(None, format!("watch error: {message}")));
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
                    self.debouncer.note(name, ".", now);
                }
            }
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
        if rel.as_os_str().is_empty() {
            return Some((slot.function.name.clone(), ".".to_string()));
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
        for (name, burst) in self.debouncer.take_due(Instant::now()) {
            self.report_change(&name, &burst);
            let Some(slot) = self.slots.iter_mut().find(|s| s.function.name == name) else {
                continue;
            };
            match &mut slot.phase {
                Phase::Idle => self.start(&name),
                Phase::Busy {
                    build_id,
                    follow_up,
                    ..
                } => {
                    if !*follow_up {
                        *follow_up = true;
                        self.ctx.emitter.emit(Event::Queued {
                            function: name.clone(),
                            after: build_id.clone(),
                        });
                    }
                }
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
    fn start(&mut self, name: &str) {
        let Some(slot) = self.slots.iter_mut().find(|s| s.function.name == name) else {
            return;
        };
        let request = Request {
            function: slot.function.clone(),
            settings: slot.settings.clone(),
            last_hash: self
                .state
                .last_hash(&slot.function.name, &slot.function.id)
                .map(str::to_string),
            wait: true,
        };
        let ctx = self.ctx.clone();
        let tx = self.reports_tx.clone();
        let name = name.to_string();
        let task = tokio::spawn(async move {
            let progress_tx = tx.clone();
            let progress_name = name.clone();
            let shipped = ship::ship(&ctx, request, move |p| {
                let _ = progress_tx.send(Report::Progress(progress_name.clone(), p));
            })
            .await;
            let _ = tx.send(Report::Done(name, shipped));
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
            Report::Progress(name, progress) => {
                let Some(slot) = self.slots.iter_mut().find(|s| s.function.name == name) else {
                    return;
                };
                match progress {
                    Progress::Uploading => {
                        if let Phase::Busy { uploading, .. } = &mut slot.phase {
                            *uploading = true;
                        }
                    }
                    Progress::Submitted { build_id, hash } => {
                        if let Phase::Busy {
                            build_id: id,
                            uploading,
                            ..
                        } = &mut slot.phase
                        {
                            *id = Some(build_id.clone());
                            *uploading = false;
                        }
                        self.state
                            .record_submit(&name, &slot.function.id, &hash, &build_id);
                        self.save_state();
                    }
                    Progress::Status { build_id, status } => {
                        self.state.record_status(&name, &build_id, &status);
                        if status.is_final() {
                            self.save_state();
                        }
                    }
                }
            }
            Report::Done(name, _shipped) => {
                let Some(slot) = self.slots.iter_mut().find(|s| s.function.name == name) else {
                    return;
                };
                let follow_up = matches!(
                    slot.phase,
                    Phase::Busy {
                        follow_up: true,
                        ..
                    }
                );
                slot.phase = Phase::Idle;
                if follow_up {
                    self.start(&name);
                }
            }
        }
    }

    fn save_state(&self) {
        if let Err(e) = self.store.save(&self.state) {
            self.ctx.emitter.emit(Event::error(None, e.to_string()));
        }
    }

    /// Lets running uploads finish (for a while), saves state, says `stopped`.
    async fn shutdown(
        mut self,
        reports: &mut mpsc::UnboundedReceiver<Report>,
        sigint: &mut tokio::signal::unix::Signal,
        sigterm: &mut tokio::signal::unix::Signal,
    ) -> i32 {
        let grace = tokio::time::sleep(UPLOAD_GRACE);
        tokio::pin!(grace);
        while self.uploading() {
            tokio::select! {
                Some(report) = reports.recv() => self.on_report_stopping(report),
                () = &mut grace => break,
                _ = sigint.recv() => return 130,
                _ = sigterm.recv() => return 130,
            }
        }
        for slot in &mut self.slots {
            if let Phase::Busy { task, .. } = &slot.phase {
                task.abort();
            }
            slot.phase = Phase::Idle;
        }
        self.save_state();
        self.ctx.emitter.emit(Event::Stopped);
        0
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

    /// While stopping, progress is recorded but no follow-up starts.
    fn on_report_stopping(&mut self, report: Report) {
        match report {
            Report::Progress(..) => self.on_report(report),
            Report::Done(name, _) => {
                if let Some(slot) = self.slots.iter_mut().find(|s| s.function.name == name) {
                    slot.phase = Phase::Idle;
                }
            }
        }
    }
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
