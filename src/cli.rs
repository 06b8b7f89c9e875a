//! The command line: global flags and one subcommand per command.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::events::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "gcwatch",
    version,
    about = "Watch GreenCloud function folders, build what changed, follow each build to its end"
)]
pub struct Cli {
    /// The config file [default: the first greencloud.toml in this folder or its parents]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// How event lines are written
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// Colour the status words: auto means on a terminal only, and never when NO_COLOR is set
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// More diagnostics on stderr (repeat for more)
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings, errors and the lines scripts wait for
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch the function folders and build every change (the daemon)
    Watch(WatchArgs),
    /// Build what changed once, wait for the builds, exit (for CI and scripts)
    Build(BuildArgs),
    /// Package one function without uploading: hash, file count, zip size
    Package(PackageArgs),
    /// Say for each path which function it belongs to, whether it is shipped, and which rule decided
    Explain(ExplainArgs),
    /// List builds through the API
    Builds(BuildsArgs),
    /// Show one build's details through the API
    Status(StatusArgs),
    /// Run the local emulator of the GreenCloud builder API
    Serve(ServeArgs),
    /// Write a commented greencloud.toml here for the given (or found) function folders
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish) to stdout
    Completions(CompletionsArgs),
    /// Print the man page (roff) to stdout
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only these functions [default: all]
    pub names: Vec<String>,
    /// Use an emulator started inside this process instead of [api] url
    #[arg(long)]
    pub local: bool,
    /// Do not build at start; only build what changes from now on
    #[arg(long)]
    pub no_initial_build: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Only these functions [default: all]
    pub names: Vec<String>,
    /// Use an emulator started inside this process instead of [api] url
    #[arg(long)]
    pub local: bool,
    /// Submit even the functions whose hash equals the last submitted one
    #[arg(long)]
    pub force: bool,
    /// Submit and exit without waiting for the builds to end
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The function to package
    pub name: String,
    /// Write the zip to this file
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the packaged paths, one a line, sorted
    #[arg(long)]
    pub list: bool,
    /// Print only the tree hash; no zip is made
    #[arg(long, conflicts_with_all = ["out", "list"])]
    pub hash_only: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Paths to explain, relative to the current folder
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildsArgs {
    /// Only this function's builds [default: every function of the project]
    pub name: Option<String>,
    /// Page to show, from 1
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub page: u64,
    /// Builds per page
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    /// Ask the emulator kept in <state_dir>/local instead of [api] url
    #[arg(long)]
    pub local: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The build's id (24 hex digits)
    pub build_id: String,
    /// Ask the emulator kept in <state_dir>/local instead of [api] url
    #[arg(long)]
    pub local: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free one
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub addr: SocketAddr,
    /// Keep builds and uploads in this folder across restarts
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Accept this API key (repeatable); with no key and no token, any is accepted
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,
    /// Accept this access token (repeatable)
    #[arg(long = "token", value_name = "TOKEN")]
    pub tokens: Vec<String>,
    /// Time each build spends in PENDING and in BUILDING
    #[arg(long, default_value_t = 300)]
    pub build_delay_ms: u64,
    /// Run this with `sh -c` in the unpacked upload during BUILDING; its exit status decides the build
    #[arg(long, value_name = "CMD")]
    pub build_cmd: Option<String>,
    /// Answer larger uploads with 413
    #[arg(long, default_value_t = 100)]
    pub max_upload_mb: u64,
    /// Tokens issued by the key exchange expire after this many seconds
    #[arg(long, value_name = "N", default_value_t = 3600)]
    pub token_ttl_secs: u64,
    /// Failures on purpose (boxed: they would make `serve` the one large command)
    #[command(flatten)]
    pub faults: Box<FaultArgs>,
}

/// `gcwatch serve`'s flags that misbehave on purpose.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Faults on purpose")]
pub struct FaultArgs {
    /// Answer this share of requests (0.0 to 1.0) with 503, before their handler runs
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_rate)]
    pub fail_rate: f64,
    /// Delay every answer by this many milliseconds
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub latency_ms: u64,
    /// Seed the choice of failed requests, so that a run repeats [default: from entropy]
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Answer every Nth request (2, 4, 6... for N = 2) with 429
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_limit_every: Option<u64>,
    /// Send `Retry-After: S` with those 429s [default: no Retry-After]
    #[arg(long, value_name = "S", requires = "rate_limit_every")]
    pub retry_after_secs: Option<u64>,
    /// Cut the connection of every Nth build upload while its body is read: no answer, nothing stored
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub reset_upload_every: Option<u64>,
    /// Answer every Nth request with an HTML page and 502, as a broken proxy would
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub garbage_every: Option<u64>,
    /// Builds leave PENDING for STATUS and never end: BUILDING, or a status gcwatch does not know (e.g. QUEUED_REMOTE)
    #[arg(long, value_name = "STATUS", value_parser = parse_held_status)]
    pub hold_builds_in: Option<String>,
}

/// A status a build can be held in: any but PENDING, SUCCESS and FAILED.
fn parse_held_status(value: &str) -> Result<String, String> {
    match value {
        "PENDING" | "SUCCESS" | "FAILED" => Err(format!(
            "{value} is not a status to hold builds in; use BUILDING or one gcwatch does not know"
        )),
        _ if value.is_empty() || value.contains(char::is_whitespace) => Err(format!(
            "expected a status word such as BUILDING or QUEUED_REMOTE, got {value:?}"
        )),
        _ => Ok(value.to_string()),
    }
}

/// A share from 0.0 to 1.0.
fn parse_rate(value: &str) -> Result<f64, String> {
    let rate: f64 = value
        .parse()
        .map_err(|_| format!("expected a number from 0.0 to 1.0, got {value:?}"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("expected a number from 0.0 to 1.0, got {value}"))
    }
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Function folders [default: the sub-folders, and their sub-folders, that look like functions]
    pub folders: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    pub shell: clap_complete::Shell,
}
