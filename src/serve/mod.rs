//! `gcwatch serve`: HTTP requests in, the GreenCloud builder API's answers out, with builds kept under a data dir.
//!
//! # Layout
//!
//! ```text
//! conn (cuttable) ─► request ─► faults (--fail-rate, ...) ─► http (routes, token check) ─► store (records) ─► disk (builds/<id>.zip, .json)
//!                                                                                  └─► builder (one task per build) ─► upload (check, unpack) ─► command (--build-cmd)
//! ```
//!
//! The pure cores are `ids`, `auth`, `faults`, `record`, `store` and the
//! checks of `upload`; `http`, `conn`, `builder`, `command` and `disk` are the
//! shells that do the I/O.

mod auth;
mod builder;
mod command;
mod conn;
mod disk;
mod faults;
mod http;
mod ids;
mod record;
mod store;
mod upload;

use std::future::IntoFuture;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use chrono::Utc;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{spawn_blocking, JoinHandle, JoinSet};

use crate::api::BuildStatus;
use crate::cli::ServeArgs;
use crate::events::{Emitter, Event};

use auth::Credentials;
use conn::{CuttableListener, Cutter};
use disk::DataDir;
use faults::FaultPlan;
use ids::IdGen;
use record::BuildRecord;
use store::Store;

pub use faults::FaultSettings;

/// How long a shutdown waits for open connections before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the emulator is started with; `gcwatch serve`'s flags, or what
/// `--local` chooses.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Port 0 picks a free port.
    pub addr: SocketAddr,
    /// Where builds are kept across restarts; `None` keeps them in a
    /// temporary folder removed at shutdown.
    pub data: Option<PathBuf>,
    pub api_keys: Vec<String>,
    pub tokens: Vec<String>,
    /// Time in PENDING, and at least in BUILDING.
    pub build_delay: Duration,
    pub build_cmd: Option<String>,
    /// Larger uploads get 413.
    pub max_upload_bytes: u64,
    /// How long a token issued by the key exchange is let through.
    pub token_lifetime: Duration,
    /// Failures on purpose; the default injects none.
    pub faults: FaultSettings,
    /// Builds leave PENDING for this status and never end.
    pub hold_in: Option<BuildStatus>,
}

impl Default for ServeOptions {
    /// The defaults of `gcwatch serve`'s flags.
    fn default() -> ServeOptions {
        ServeOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 8787)),
            data: None,
            api_keys: Vec::new(),
            tokens: Vec::new(),
            build_delay: Duration::from_millis(300),
            build_cmd: None,
            max_upload_bytes: 100 << 20,
            token_lifetime: auth::TOKEN_LIFETIME,
            faults: FaultSettings::default(),
            hold_in: None,
        }
    }
}

impl From<&ServeArgs> for ServeOptions {
    fn from(args: &ServeArgs) -> ServeOptions {
        ServeOptions {
            addr: args.addr,
            data: args.data.clone(),
            api_keys: args.api_keys.clone(),
            tokens: args.tokens.clone(),
            build_delay: Duration::from_millis(args.build_delay_ms),
            build_cmd: args.build_cmd.clone(),
            // "MB" as the client's max_zip_mb means it: MiB.
            max_upload_bytes: args.max_upload_mb.saturating_mul(1 << 20),
            token_lifetime: Duration::from_secs(args.token_ttl_secs),
            faults: FaultSettings {
                fail_rate: args.faults.fail_rate,
                latency: Duration::from_millis(args.faults.latency_ms),
                seed: args.faults.seed,
                rate_limit_every: args.faults.rate_limit_every,
                retry_after_secs: args.faults.retry_after_secs,
                reset_upload_every: args.faults.reset_upload_every,
                garbage_every: args.faults.garbage_every,
            },
            hold_in: args.faults.hold_builds_in.as_deref().map(BuildStatus::from),
        }
    }
}

/// Why the emulator could not start. Each comes from the command line (the
/// address, the data dir), so `gcwatch serve` exits 2, bad usage, on all of them.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot use the data dir {path}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot create a temporary data dir")]
    TempDir(#[source] io::Error),
}

impl ServeError {
    /// The process exit code for this error (2: bad usage or config).
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// A running emulator. Stop it with [`Emulator::shutdown`]; dropping it
/// aborts the server and its builds without waiting.
pub struct Emulator {
    url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<io::Result<()>>>,
    temp: Option<TempDir>,
}

impl Emulator {
    /// Prepares the data dir (taking back the builds it holds), binds, and
    /// serves on a spawned task. Builds that were still moving when the data
    /// dir was last used start again from the status they had.
    pub async fn start(opts: ServeOptions) -> Result<Emulator, ServeError> {
        let (temp, root) = match &opts.data {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("gcwatch-serve-")
                    .tempdir()
                    .map_err(ServeError::TempDir)?;
                let root = temp.path().to_path_buf();
                (Some(temp), root)
            }
        };
        let (disk, records) = {
            let path = root.clone();
            spawn_blocking(move || {
                let disk = DataDir::prepare(&path)?;
                let (records, skipped) = disk.load_records()?;
                for s in skipped {
                    tracing::warn!(path = %s.path.display(), reason = s.reason, "skipping a build record that cannot be read");
                }
                Ok((disk, records))
            })
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)))
            .map_err(|source| ServeError::DataDir { path: root, source })?
        };

        let listener = TcpListener::bind(opts.addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: opts.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: opts.addr,
            source,
        })?;

        let shared = Arc::new(Shared {
            disk,
            build_delay: opts.build_delay,
            build_cmd: opts.build_cmd.clone(),
            max_upload_bytes: opts.max_upload_bytes,
            hold_in: opts.hold_in.clone(),
            store: Mutex::new(Store::new(records, IdGen::new())),
            credentials: Mutex::new(Credentials::new(
                opts.api_keys.clone(),
                opts.tokens.clone(),
                opts.token_lifetime,
            )),
            faults: opts.faults.any().then(|| {
                // A seed drawn here is still logged, so that `--seed` can
                // repeat a run that showed something.
                let seed = opts.faults.seed.unwrap_or_else(rand::random);
                tracing::info!(seed, "injecting faults");
                Mutex::new(FaultPlan::new(opts.faults.clone(), seed))
            }),
            builds: Mutex::new(JoinSet::new()),
        });
        let unfinished = lock(&shared.store).unfinished();
        for id in unfinished {
            let line = "the emulator restarted during this build; it starts again".to_string();
            shared.append_log(&id, line).await;
            shared.spawn_build(id, None);
        }

        let app = http::router(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(
            axum::serve(
                CuttableListener(listener),
                app.into_make_service_with_connect_info::<Cutter>(),
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
        );
        Ok(Emulator {
            url: base_url(addr),
            addr,
            shared,
            stop: Some(stop),
            server: Some(server),
            temp,
        })
    }

    /// The base URL, `/v1` included: the value `[api] url` takes.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where builds are kept: `--data`, or the temporary folder.
    pub fn data_dir(&self) -> &Path {
        self.shared.disk.root()
    }

    /// Stops accepting requests, lets open ones finish (for a few seconds at
    /// most), stops running builds and removes what they unpacked.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take() {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the emulator's server failed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "the emulator's server task failed"),
                Err(_) => {
                    server.abort();
                    let _ = server.await;
                }
            }
        }
        // Stopped builds keep the status they had; the next start on the
        // same data dir takes them up again.
        let mut builds = std::mem::take(&mut *lock(&self.shared.builds));
        builds.shutdown().await;
        let disk = self.shared.disk.clone();
        let temp = self.temp.take();
        let _ = spawn_blocking(move || {
            if let Err(e) = disk.clear_work() {
                tracing::warn!(error = %e, "cannot remove unpacked builds");
            }
            drop(temp);
        })
        .await;
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        lock(&self.shared.builds).abort_all();
    }
}

/// Runs `gcwatch serve`: the `listening` event is the first line on stdout,
/// then it serves until SIGINT or SIGTERM, and prints `stopped`.
pub async fn run(args: &ServeArgs, emitter: &Emitter) -> anyhow::Result<()> {
    let emulator = Emulator::start(ServeOptions::from(args)).await?;
    emitter.emit(Event::Listening {
        url: emulator.url().to_string(),
    });
    let signal = stop_signal().await;
    emulator.shutdown().await;
    signal?;
    emitter.emit(Event::Stopped);
    Ok(())
}

async fn stop_signal() -> io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// A listener on every interface is still reached through loopback here.
fn base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/v1", SocketAddr::new(ip, addr.port()))
}

/// What the routes and the build tasks share.
struct Shared {
    disk: DataDir,
    build_delay: Duration,
    build_cmd: Option<String>,
    max_upload_bytes: u64,
    hold_in: Option<BuildStatus>,
    store: Mutex<Store>,
    credentials: Mutex<Credentials>,
    /// `None` when no fault flag was given.
    faults: Option<Mutex<FaultPlan>>,
    builds: Mutex<JoinSet<()>>,
}

/// Locks are held for a lookup or an update, never across an await; a panic
/// elsewhere must not take the emulator down with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn record(&self, id: &str) -> Option<BuildRecord> {
        lock(&self.store).get(id).cloned()
    }

    fn spawn_build(self: &Arc<Self>, id: String, upload: Option<Bytes>) {
        let mut builds = lock(&self.builds);
        // Reap finished builds so the set only holds running ones.
        while builds.try_join_next().is_some() {}
        builds.spawn(builder::drive(self.clone(), id, upload));
    }

    /// Moves build `id` on to `to` with `lines` added to its log, and stores it.
    async fn advance(&self, id: &str, to: BuildStatus, lines: Vec<String>) {
        self.update(id, |record| {
            record.log.extend(lines);
            if let Err(e) = record.advance(to, Utc::now()) {
                tracing::warn!(error = %e, "build timeline not moved");
            }
        })
        .await;
    }

    async fn append_log(&self, id: &str, line: String) {
        self.update(id, |record| record.log.push(line)).await;
    }

    async fn update(&self, id: &str, change: impl FnOnce(&mut BuildRecord)) {
        let record = {
            let mut store = lock(&self.store);
            let Some(record) = store.get_mut(id) else {
                return;
            };
            change(record);
            record.clone()
        };
        // Only a build's own task writes its record after it was created, so
        // writes of one record never race each other.
        let disk = self.disk.clone();
        let saved = spawn_blocking(move || disk.save_record(&record))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)));
        if let Err(e) = saved {
            tracing::warn!(build = id, error = %e, "cannot store a build record");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let cases = [
            ("127.0.0.1:8787", "http://127.0.0.1:8787/v1"),
            ("0.0.0.0:80", "http://127.0.0.1:80/v1"),
            ("[::]:9000", "http://[::1]:9000/v1"),
            ("[::1]:9000", "http://[::1]:9000/v1"),
        ];
        for (addr, want) in cases {
            assert_eq!(base_url(addr.parse().unwrap()), want);
        }
    }

    #[test]
    fn options_from_flags() {
        use clap::Parser;
        let cli = crate::cli::Cli::parse_from([
            "gcwatch",
            "serve",
            "--max-upload-mb",
            "2",
            "--build-delay-ms",
            "50",
        ]);
        let crate::cli::Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        let opts = ServeOptions::from(&args);
        assert_eq!(opts.addr, "127.0.0.1:8787".parse().unwrap());
        assert_eq!(opts.max_upload_bytes, 2 << 20);
        assert_eq!(opts.build_delay, Duration::from_millis(50));
        assert_eq!(opts.token_lifetime, Duration::from_secs(3600));
        assert!(!opts.faults.any());
    }

    #[test]
    fn fault_options_from_flags() {
        use clap::Parser;
        let cli = crate::cli::Cli::parse_from([
            "gcwatch",
            "serve",
            "--fail-rate",
            "0.25",
            "--latency-ms",
            "40",
            "--seed",
            "9",
            "--token-ttl-secs",
            "2",
            "--rate-limit-every",
            "3",
            "--retry-after-secs",
            "5",
            "--reset-upload-every",
            "4",
            "--garbage-every",
            "6",
        ]);
        let crate::cli::Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        let opts = ServeOptions::from(&args);
        assert_eq!(opts.token_lifetime, Duration::from_secs(2));
        assert_eq!(
            opts.faults,
            FaultSettings {
                fail_rate: 0.25,
                latency: Duration::from_millis(40),
                seed: Some(9),
                rate_limit_every: Some(3),
                retry_after_secs: Some(5),
                reset_upload_every: Some(4),
                garbage_every: Some(6),
            }
        );
    }
}
