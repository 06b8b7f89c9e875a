use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use gcwatch::cli::{Cli, ColorChoice, Command};
use gcwatch::commands::{self, exit};
use gcwatch::config::Config;
use gcwatch::events::{Emitter, Event};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let emitter = Emitter::stdout(cli.log_format, color, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gcwatch: cannot start the runtime: {e}");
            return ExitCode::from(exit::API as u8);
        }
    };
    let code = runtime.block_on(run(cli, emitter));
    // Blocking tasks (a walk, a zip) must not hold the exit up once the answer is known.
    runtime.shutdown_background();
    ExitCode::from(code as u8)
}

async fn run(cli: Cli, emitter: Emitter) -> i32 {
    if let Command::Serve(args) = &cli.command {
        return match gcwatch::serve::run(args, &emitter).await {
            Ok(()) => exit::OK,
            Err(e) => {
                emitter.emit(Event::error(None, format!("{e:#}")));
                exit::BAD_INPUT
            }
        };
    }
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(message) => {
            emitter.emit(Event::error(None, message));
            return exit::BAD_INPUT;
        }
    };
    match cli.command {
        Command::Watch(args) => commands::watch(config, args, emitter).await,
        Command::Build(args) => commands::build(config, args, emitter).await,
        Command::Package(args) => commands::package(&config, &args, &emitter),
        Command::Explain(args) => commands::explain(&config, &args, &emitter),
        Command::Builds(args) => commands::builds(config, args, emitter).await,
        Command::Status(args) => commands::status(config, args, emitter).await,
        Command::Serve(_) => unreachable!("handled above"),
    }
}

fn load_config(cli: &Cli) -> Result<Config, String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current folder: {e}"))?;
    let file = Config::locate(cli.config.as_deref(), &cwd).map_err(|e| e.to_string())?;
    Config::load(&file).map_err(|e| e.to_string())
}

/// Diagnostics go to stderr, so that stdout carries event lines only.
fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("gcwatch={level},warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
