//! Parsed commands in, work done and an exit code out: `watch`, `build`, `package`, `explain`,
//! `builds`, `status`. Each one's failures map to the exit codes of the contract.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};

use crate::api::{is_object_id, BuildStatus, BuildSummary, ListQuery};
use crate::cli::{BuildArgs, BuildsArgs, ExplainArgs, PackageArgs, StatusArgs, WatchArgs};
use crate::client::{ApiError, Client, Credentials, RetryPolicy};
use crate::config::{ApiConfig, Config};
use crate::daemon::{Connect, Daemon, WatchOptions};
use crate::events::paint_status;
use crate::events::{human_bytes, Emitter, Event, LogFormat};
use crate::pack::{self, PackError};
use crate::rules::{Decision, Rule, Rules};
use crate::serve::{Emulator, ServeOptions};
use crate::ship::{self, Caches, Context, Request, Scratch, Shipped};
use crate::snapshot;
use crate::state::{self, Journal, StateStore};

/// Exit codes, as the README documents them.
pub mod exit {
    pub const OK: i32 = 0;
    pub const BUILD_FAILED: i32 = 1;
    pub const BAD_INPUT: i32 = 2;
    pub const API: i32 = 3;
    pub const INTERRUPTED: i32 = 130;
}

/// Attempts a one-shot command makes before it reports the API unreachable.
const ONE_SHOT_ATTEMPTS: u32 = 5;

/// The API a command talks to, and where its state is kept.
struct Target {
    client: Arc<Client>,
    store: StateStore,
    /// Keeps the in-process emulator running while the target lives.
    _emulator: Option<Emulator>,
}

/// Connects to `[api] url`, or starts the in-process emulator for `--local`.
async fn connect(
    config: &Config,
    local: bool,
    retry: RetryPolicy,
    emitter: &Emitter,
) -> Result<Target, (i32, String)> {
    let state_dir = &config.watch.state_dir;
    state::ensure_dir(state_dir).map_err(|e| (exit::BAD_INPUT, e.to_string()))?;
    let mut api = config.api.clone();
    let (credentials, emulator, state_file) = if local {
        let options = ServeOptions {
            addr: ([127, 0, 0, 1], 0).into(),
            data: Some(state_dir.join("local")),
            max_upload_bytes: config.watch.max_zip_bytes.max(100 << 20),
            ..ServeOptions::default()
        };
        let emulator = Emulator::start(options).await.map_err(|e| {
            let e = anyhow::Error::from(e);
            (exit::API, format!("cannot start the local emulator: {e:#}"))
        })?;
        emitter.emit(Event::Listening {
            url: emulator.url().to_string(),
        });
        api.url = emulator.url().to_string();
        // The local emulator accepts any non-empty token.
        let credentials = Credentials {
            token: Some("local".to_string()),
            api_key: None,
        };
        (credentials, Some(emulator), "state-local.json")
    } else {
        (Credentials::from_env(&api), None, "state.json")
    };
    let client = new_client(&api, credentials, retry, emitter).map_err(|e| (exit::API, e))?;
    let store =
        StateStore::open(state_dir, state_file).map_err(|e| (exit::BAD_INPUT, e.to_string()))?;
    Ok(Target {
        client: Arc::new(client),
        store,
        _emulator: emulator,
    })
}

/// A client for `api` whose retries are announced as `error` events.
fn new_client(
    api: &ApiConfig,
    credentials: Credentials,
    retry: RetryPolicy,
    emitter: &Emitter,
) -> Result<Client, String> {
    let emitter = emitter.clone();
    Ok(Client::new(api, credentials, retry)
        .map_err(|e| e.to_string())?
        .with_retry_hook(Arc::new(move |e: &ApiError, pause: Duration| {
            let function = ship::FUNCTION.try_with(String::clone).ok();
            emitter.emit(ship::retry_event(function.as_deref(), e, pause));
        })))
}

/// A client for `[api]` with the credentials its environment variables hold.
fn remote_client(config: &Config, retry: RetryPolicy, emitter: &Emitter) -> Result<Client, String> {
    new_client(
        &config.api,
        Credentials::from_env(&config.api),
        retry,
        emitter,
    )
}

/// What `watch` and `build` share: the API, a scratch folder for zips, and the shipping
/// context. The first two must live as long as the command.
async fn prepare(
    config: &Config,
    local: bool,
    retry: RetryPolicy,
    emitter: &Emitter,
) -> Result<(Target, Scratch, Context), (i32, String)> {
    let target = connect(config, local, retry, emitter).await?;
    let state_dir = &config.watch.state_dir;
    let scratch = Scratch::create(state_dir)
        .map_err(|e| (exit::BAD_INPUT, format!("{}: {e}", state_dir.display())))?;
    let ctx = context(config, &target, emitter, &scratch);
    Ok((target, scratch, ctx))
}

/// Everything shipping needs, with the state loaded (a warning about it said first).
fn context(config: &Config, target: &Target, emitter: &Emitter, scratch: &Scratch) -> Context {
    let (journal, warning) = Journal::open(target.store.clone());
    if let Some(w) = warning {
        emitter.emit(Event::error(None, w));
    }
    let client = target.client.clone();
    Context {
        journal: Arc::new(journal),
        caches: Arc::new(Caches::new(config.watch.state_dir.join("cache"))),
        client,
        emitter: emitter.clone(),
        poll_interval: config.api.poll_interval,
        build_timeout: config.api.build_timeout,
        tmp_dir: scratch.path().to_path_buf(),
        reported_skips: Arc::new(Mutex::new(HashSet::new())),
    }
}

fn fail(emitter: &Emitter, (code, message): (i32, String)) -> i32 {
    emitter.emit(Event::error(None, message));
    code
}

pub async fn watch(config: Config, args: WatchArgs, emitter: Emitter) -> i32 {
    if let Err(message) = config.select(&args.names) {
        return fail(&emitter, (exit::BAD_INPUT, message));
    }
    let _lock = match state::Lock::take(&config.watch.state_dir) {
        Ok(lock) => lock,
        Err(message) => return fail(&emitter, (exit::BAD_INPUT, message)),
    };
    let (target, _scratch, ctx) =
        match prepare(&config, args.local, RetryPolicy::forever(), &emitter).await {
            Ok(prepared) => prepared,
            Err(e) => return fail(&emitter, e),
        };
    // A reloaded config with new [api] settings gets a new client; `--local` keeps its emulator.
    let connect: Connect = match args.local {
        true => {
            let client = target.client.clone();
            Arc::new(move |_: &Config| Ok(client.clone()))
        }
        false => {
            let emitter = emitter.clone();
            Arc::new(move |config: &Config| {
                remote_client(config, RetryPolicy::forever(), &emitter).map(Arc::new)
            })
        }
    };
    let daemon = match Daemon::new(config, args.names, connect, ctx) {
        Ok(d) => d,
        Err(message) => return fail(&emitter, (exit::BAD_INPUT, message)),
    };
    daemon
        .run(WatchOptions {
            initial_build: !args.no_initial_build,
        })
        .await
}

/// Ships every selected function at once, waits, and sums up the outcomes in an exit code.
pub async fn build(config: Config, args: BuildArgs, emitter: Emitter) -> i32 {
    let functions = match config.select(&args.names) {
        Ok(f) => f,
        Err(message) => return fail(&emitter, (exit::BAD_INPUT, message)),
    };
    let retry = RetryPolicy::bounded(ONE_SHOT_ATTEMPTS);
    let (_target, _scratch, ctx) = match prepare(&config, args.local, retry, &emitter).await {
        Ok(prepared) => prepared,
        Err(e) => return fail(&emitter, e),
    };
    let mut tasks = Vec::new();
    for function in functions {
        let request = Request {
            settings: ship::settings(&config, &function),
            last_hash: match args.force {
                true => None,
                false => ctx.journal.last_hash(&function.name, &function.id),
            },
            wait: !args.no_wait,
            changed: None,
            function,
        };
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            ship::ship(&ctx, request, |_| {}).await
        }));
    }
    let mut sigint = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let mut sigterm = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
    let outcomes = tokio::select! {
        outcomes = futures_util::future::join_all(tasks) => outcomes,
        _ = sigint.recv() => return interrupted(aborts),
        _ = sigterm.recv() => return interrupted(aborts),
    };
    ctx.caches.save();
    outcomes
        .into_iter()
        .map(|o| outcome_code(&o.unwrap_or(Shipped::PackFailed)))
        .max()
        .unwrap_or(exit::OK)
}

/// Stops every shipping task (their temporary zips are removed as they drop) and says so.
fn interrupted(tasks: Vec<tokio::task::AbortHandle>) -> i32 {
    for task in tasks {
        task.abort();
    }
    exit::INTERRUPTED
}

/// The exit code one outcome calls for; the worst one of a run wins (API 3 > input 2 > build 1).
fn outcome_code(outcome: &Shipped) -> i32 {
    match outcome {
        Shipped::Unchanged | Shipped::Submitted | Shipped::Ended(BuildStatus::Success) => exit::OK,
        Shipped::Ended(_) | Shipped::TimedOut => exit::BUILD_FAILED,
        Shipped::PackFailed => exit::BAD_INPUT,
        Shipped::ApiFailed { .. } => exit::API,
    }
}

/// Packages one function without uploading.
pub fn package(config: &Config, args: &PackageArgs, emitter: &Emitter) -> i32 {
    let function = match config.function(&args.name) {
        Ok(f) => f,
        Err(message) => return fail(emitter, (exit::BAD_INPUT, message)),
    };
    let settings = ship::settings(config, function);
    let started = Instant::now();
    // The zip is written beside its destination so that moving it there is a rename.
    let tmp_dir = match &args.out {
        Some(out) => std::path::absolute(out)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(std::env::temp_dir),
        None => std::env::temp_dir(),
    };
    if let Err(e) = state::ensure_dir(&config.watch.state_dir) {
        return fail(emitter, (exit::BAD_INPUT, e.to_string()));
    }
    let caches = Caches::new(config.watch.state_dir.join("cache"));
    let cache = caches.of(&function.name);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if args.hash_only {
        let snapshot = Rules::load(&function.path, &settings.rules)
            .map_err(PackError::from)
            .and_then(|rules| snapshot::take_with(&rules, &settings, &mut cache.stat));
        drop(cache);
        return match snapshot {
            Ok(snapshot) => {
                caches.save();
                println!("{}", snapshot.hash);
                exit::OK
            }
            Err(e) => fail(
                emitter,
                (exit::BAD_INPUT, format!("{}: {e}", function.name)),
            ),
        };
    }
    let packaged =
        pack::package_changed(&function.path, &settings, &tmp_dir, None, &mut cache, None);
    drop(cache);
    caches.save();
    let packaged = match packaged {
        Ok(pack::Outcome::Packaged(p)) => p,
        Ok(pack::Outcome::Unchanged(_)) => unreachable!("no last hash to compare with"),
        Err(e) => {
            return fail(
                emitter,
                (exit::BAD_INPUT, format!("{}: {e}", function.name)),
            )
        }
    };
    if let Some(out) = &args.out {
        if let Err(e) = packaged.zip.persist(out) {
            return fail(
                emitter,
                (
                    exit::BAD_INPUT,
                    format!("cannot write {}: {}", out.display(), e.error),
                ),
            );
        }
    }
    let packaged = (packaged.snapshot, packaged.bytes);
    let (snapshot, bytes) = (&packaged.0, packaged.1);
    for skipped in &snapshot.skipped {
        emitter.emit(Event::SkippedPath {
            function: function.name.clone(),
            path: skipped.path.clone(),
            reason: skipped.reason.to_string(),
        });
    }
    if args.list {
        let mut out = std::io::stdout().lock();
        for entry in &snapshot.entries {
            if let snapshot::EntryKind::File { .. } = entry.kind {
                let _ = writeln!(out, "{}", entry.path);
            }
        }
        return exit::OK;
    }
    let ms = started.elapsed().as_millis() as u64;
    match emitter.format() {
        LogFormat::Json => emitter.emit(Event::Packaged {
            function: function.name.clone(),
            hash: snapshot.hash.to_string(),
            files: snapshot.files,
            bytes,
            ms,
        }),
        LogFormat::Human => {
            println!("function  {}", function.name);
            println!("hash      {}", snapshot.hash);
            println!("files     {}", snapshot.files);
            println!("zip       {} bytes ({})", bytes, human_bytes(bytes));
            if let Some(out) = &args.out {
                println!("written   {}", out.display());
            }
        }
    }
    exit::OK
}

/// Says for each path which function it belongs to, whether it is shipped, and the rule that
/// decided. A path in no function folder is reported as such and is not an error: exit 0 unless
/// the config's rules cannot be read (2).
pub fn explain(config: &Config, args: &ExplainArgs, emitter: &Emitter) -> i32 {
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(e) => {
            return fail(
                emitter,
                (
                    exit::BAD_INPUT,
                    format!("cannot read the current folder: {e}"),
                ),
            )
        }
    };
    let mut loaded: HashMap<String, Rules> = HashMap::new();
    let mut code = exit::OK;
    for given in &args.paths {
        let full = resolve(&cwd.join(given));
        let function = config.functions.iter().find(|f| full.starts_with(&f.path));
        let verdict = match function {
            None => Verdict::Outside,
            Some(function) => {
                if !loaded.contains_key(&function.name) {
                    let settings = ship::settings(config, function);
                    match Rules::load(&function.path, &settings.rules) {
                        Ok(rules) => {
                            loaded.insert(function.name.clone(), rules);
                        }
                        Err(e) => {
                            code = exit::BAD_INPUT;
                            emitter.emit(Event::error(Some(&function.name), e.to_string()));
                            continue;
                        }
                    }
                }
                let rules = &loaded[&function.name];
                match full.strip_prefix(&function.path) {
                    Ok(rel) if rel.as_os_str().is_empty() => Verdict::FunctionFolder,
                    Ok(rel) => {
                        let is_dir =
                            given.as_os_str().as_encoded_bytes().ends_with(b"/") || full.is_dir();
                        let settings = ship::settings(config, function);
                        match rules.decide(rel, is_dir) {
                            Ok(decision) if decision.shipped => {
                                match snapshot::skip_reason(rules.root(), &full, &settings) {
                                    Some(reason) => Verdict::Skipped(reason),
                                    None => Verdict::Decided(decision),
                                }
                            }
                            Ok(decision) => Verdict::Decided(decision),
                            Err(e) => {
                                code = exit::BAD_INPUT;
                                emitter.emit(Event::error(Some(&function.name), e.to_string()));
                                continue;
                            }
                        }
                    }
                    Err(_) => Verdict::Outside,
                }
            }
        };
        let explained = Explained {
            path: given.display().to_string(),
            function: function.map(|f| f.name.clone()),
            verdict,
        };
        match emitter.format() {
            LogFormat::Json => println!("{}", explained.to_json(&cwd)),
            LogFormat::Human => println!("{}", explained.to_human(&cwd)),
        }
    }
    code
}

/// `path` (absolute) with its folder made canonical, the last name kept as it is: a link is
/// explained as the link, not as its target, since the link's name is what would be shipped.
fn resolve(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => match std::fs::canonicalize(parent) {
            Ok(parent) => parent.join(name),
            Err(_) => resolve(parent).join(name),
        },
        _ => std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

/// One path's answer from `explain`.
struct Explained {
    /// As given on the command line.
    path: String,
    function: Option<String>,
    verdict: Verdict,
}

enum Verdict {
    /// In no function folder of the config.
    Outside,
    /// A function folder itself: its contents are what is shipped.
    FunctionFolder,
    Decided(Decision),
    /// The rules ship it, but packaging skips it: a link or special file, or its name.
    Skipped(snapshot::SkipReason),
}

impl Explained {
    fn shipped(&self) -> Option<bool> {
        match &self.verdict {
            Verdict::Outside => None,
            Verdict::FunctionFolder => Some(true),
            Verdict::Decided(d) => Some(d.shipped),
            Verdict::Skipped(_) => Some(false),
        }
    }

    fn to_human(&self, cwd: &Path) -> String {
        let function = self.function.as_deref().unwrap_or("-");
        let shipped = match self.shipped() {
            None => "not in any function folder",
            Some(true) => "shipped",
            Some(false) => "not shipped",
        };
        let why = match &self.verdict {
            Verdict::Outside => String::new(),
            Verdict::FunctionFolder => "the function folder itself (its contents)".to_string(),
            Verdict::Skipped(reason) => format!("skipped: {reason}"),
            Verdict::Decided(Decision { rule: None, .. }) => "no rule matched".to_string(),
            Verdict::Decided(Decision {
                rule: Some(rule),
                via,
                ..
            }) => {
                let rule = match rule {
                    Rule::Default(pattern) => format!("built-in default ({pattern})"),
                    Rule::StateDir => "the state dir".to_string(),
                    Rule::Config(pattern) => format!("config ignore ({pattern})"),
                    Rule::IgnoreFile {
                        file,
                        line,
                        pattern,
                    } => format!("{}:{line} ({pattern})", shown(file, cwd)),
                };
                match via {
                    Some(via) => format!("{rule}, on folder {}/", via.display()),
                    None => rule,
                }
            }
        };
        [self.path.as_str(), function, shipped, why.as_str()]
            .iter()
            .filter(|part| !part.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("  ")
    }

    fn to_json(&self, cwd: &Path) -> serde_json::Value {
        let mut value = serde_json::json!({
            "path": self.path,
            "function": self.function,
            "shipped": self.shipped(),
        });
        let (kind, rule) = match &self.verdict {
            Verdict::Outside => ("outside", None),
            Verdict::FunctionFolder => ("function_folder", None),
            Verdict::Skipped(reason) => ("skipped", Some(format!("skipped: {reason}"))),
            Verdict::Decided(Decision { rule: None, .. }) => ("none", None),
            Verdict::Decided(Decision {
                rule: Some(rule),
                via,
                ..
            }) => {
                if let Some(via) = via {
                    value["via"] = format!("{}/", via.display()).into();
                }
                match rule {
                    Rule::Default(pattern) => {
                        value["pattern"] = (*pattern).into();
                        ("default", Some(format!("built-in default ({pattern})")))
                    }
                    Rule::StateDir => ("state_dir", Some("the state dir".to_string())),
                    Rule::Config(pattern) => {
                        value["pattern"] = pattern.as_str().into();
                        ("config", Some(format!("config ignore ({pattern})")))
                    }
                    Rule::IgnoreFile {
                        file,
                        line,
                        pattern,
                    } => {
                        let file = shown(file, cwd);
                        value["file"] = file.as_str().into();
                        value["line"] = (*line).into();
                        value["pattern"] = pattern.as_str().into();
                        ("ignore_file", Some(format!("{file}:{line} ({pattern})")))
                    }
                }
            }
        };
        value["rule"] = rule.into();
        value["rule_kind"] = kind.into();
        value
    }
}

/// `file` relative to the current folder when it is inside it, else as it is (absolute).
fn shown(file: &Path, cwd: &Path) -> String {
    let cwd = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
    file.strip_prefix(&cwd)
        .unwrap_or(file)
        .display()
        .to_string()
}

/// Lists builds: one function's, or every function's of the project, newest first.
pub async fn builds(config: Config, args: BuildsArgs, emitter: Emitter) -> i32 {
    let functions = match &args.name {
        Some(name) => match config.function(name) {
            Ok(f) => vec![f.clone()],
            Err(message) => return fail(&emitter, (exit::BAD_INPUT, message)),
        },
        None => config.functions.clone(),
    };
    let target = match connect_quietly(&config, args.local).await {
        Ok(t) => t,
        Err(e) => return fail(&emitter, e),
    };
    // Each function's newest page × limit builds hold every row of the merged page asked for.
    let wanted = args.page.saturating_mul(args.limit);
    let mut rows: Vec<BuildSummary> = Vec::new();
    let mut total = 0;
    for function in &functions {
        let query = ListQuery {
            page: Some(1),
            limit: Some(wanted),
            function_id: Some(function.id.clone()),
        };
        match target.client.list(&query).await {
            Ok(list) => {
                total += list.total_count;
                rows.extend(list.results);
            }
            Err(e) => return fail(&emitter, (exit::API, e.to_string())),
        }
    }
    rows.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let start = ((args.page - 1) * args.limit) as usize;
    let page: Vec<&BuildSummary> = rows.iter().skip(start).take(args.limit as usize).collect();
    let name_of = |id: &str| {
        functions
            .iter()
            .find(|f| f.id == id)
            .map_or(id.to_string(), |f| f.name.clone())
    };
    match emitter.format() {
        LogFormat::Json => {
            let value = serde_json::json!({
                "page": args.page,
                "limit": args.limit,
                "totalCount": total,
                "pageCount": total.div_ceil(args.limit),
                "results": page.iter().map(|b| serde_json::json!({
                    "id": b.id,
                    "function": name_of(&b.function_id),
                    "functionId": b.function_id,
                    "status": b.status,
                    "createdAt": b.created_at,
                })).collect::<Vec<_>>(),
            });
            println!("{value}");
        }
        LogFormat::Human => {
            let width = page
                .iter()
                .map(|b| name_of(&b.function_id).len())
                .max()
                .unwrap_or(8)
                .max(8);
            let status_width = page
                .iter()
                .map(|b| b.status.as_str().len())
                .max()
                .unwrap_or(0)
                .max(8);
            println!(
                "{:<24}  {:<width$}  {:<status_width$}  CREATED",
                "BUILD", "FUNCTION", "STATUS"
            );
            for b in &page {
                println!(
                    "{:<24}  {:<width$}  {}  {}",
                    b.id,
                    name_of(&b.function_id),
                    paint_status(
                        emitter.color(),
                        &b.status,
                        &format!("{:<status_width$}", b.status.as_str())
                    ),
                    b.created_at
                );
            }
            println!(
                "page {} of {}, {} build(s) in all",
                args.page,
                total.div_ceil(args.limit).max(1),
                total
            );
        }
    }
    exit::OK
}

/// Shows one build: status, timeline and log.
pub async fn status(config: Config, args: StatusArgs, emitter: Emitter) -> i32 {
    if !is_object_id(&args.build_id) {
        return fail(
            &emitter,
            (
                exit::BAD_INPUT,
                format!("{:?} is not a build id (24 hex digits)", args.build_id),
            ),
        );
    }
    let target = match connect_quietly(&config, args.local).await {
        Ok(t) => t,
        Err(e) => return fail(&emitter, e),
    };
    let info = match target.client.build(&args.build_id).await {
        Ok(info) => info,
        Err(e) => return fail(&emitter, (exit::API, e.to_string())),
    };
    let function = config
        .functions
        .iter()
        .find(|f| f.id == info.function_id)
        .map_or(info.function_id.clone(), |f| f.name.clone());
    match emitter.format() {
        LogFormat::Json => {
            let mut value = serde_json::to_value(&info).unwrap_or_default();
            value["id"] = args.build_id.clone().into();
            value["function"] = function.into();
            println!("{value}");
        }
        LogFormat::Human => {
            println!("build     {}", args.build_id);
            println!("function  {function} ({})", info.function_id);
            let color = emitter.color();
            let status = paint_status(color, &info.status, info.status.as_str());
            println!("status    {status}");
            println!("arch      {}", info.arch.join(", "));
            println!("timeline");
            for step in &info.timeline {
                let status = paint_status(color, &step.status, step.status.as_str());
                println!("  {}  {status}", step.time);
            }
            println!("log");
            for line in &info.log {
                println!("  {line}");
            }
        }
    }
    exit::OK
}

/// Like `connect`, but a local emulator is only read, so its `listening` line is not shown.
async fn connect_quietly(config: &Config, local: bool) -> Result<Target, (i32, String)> {
    let silent = Emitter::to_writer(LogFormat::Json, false, true, Box::new(std::io::sink()));
    connect(
        config,
        local,
        RetryPolicy::bounded(ONE_SHOT_ATTEMPTS),
        &silent,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_outcome_decides_the_exit_code() {
        let cases = [
            (vec![], 0),
            (
                vec![Shipped::Unchanged, Shipped::Ended(BuildStatus::Success)],
                0,
            ),
            (vec![Shipped::Submitted], 0),
            (
                vec![Shipped::Unchanged, Shipped::Ended(BuildStatus::Failed)],
                1,
            ),
            (vec![Shipped::TimedOut], 1),
            (
                vec![Shipped::PackFailed, Shipped::Ended(BuildStatus::Failed)],
                2,
            ),
            (
                vec![Shipped::ApiFailed { submitted: false }, Shipped::PackFailed],
                3,
            ),
        ];
        for (outcomes, want) in cases {
            let got = outcomes.iter().map(outcome_code).max().unwrap_or(0);
            assert_eq!(got, want, "{outcomes:?}");
        }
    }
}
