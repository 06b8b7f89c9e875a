use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use gcwatch::cli::{Cli, ColorChoice, Command};
use gcwatch::commands::{self, exit};
use gcwatch::config::Config;
use gcwatch::events::{Emitter, Event};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Commands that print and end behave like other tools in a pipe (`| head`): a closed
    // pipe ends them quietly. The daemons keep Rust's default and carry on without stdout.
    if !matches!(cli.command, Command::Watch(_) | Command::Serve(_)) {
        // SAFETY: setting a signal's disposition before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    init_tracing(
        cli.verbose,
        cli.quiet,
        use_color(cli.color, std::io::stderr().is_terminal()),
    );
    let color = use_color(cli.color, std::io::stdout().is_terminal());
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
    if let Some(code) = run_without_config(&cli, &emitter) {
        return code;
    }
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
        Command::Serve(_) | Command::Init(_) | Command::Completions(_) | Command::Man => {
            unreachable!("handled above")
        }
    }
}

/// The commands that need no config: `init` writes one, the others only describe gcwatch.
fn run_without_config(cli: &Cli, emitter: &Emitter) -> Option<i32> {
    let mut stdout = std::io::stdout().lock();
    let code = match &cli.command {
        Command::Init(args) => {
            let target = cli
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from("greencloud.toml"));
            match gcwatch::init::run(&target, &args.folders) {
                Ok(report) => {
                    let _ = writeln!(stdout, "{report}");
                    exit::OK
                }
                Err(message) => {
                    emitter.emit(Event::error(None, message));
                    exit::BAD_INPUT
                }
            }
        }
        Command::Completions(args) => {
            gcwatch::manual::completions(args.shell, &mut stdout);
            exit::OK
        }
        Command::Man => match gcwatch::manual::man_page(&mut stdout) {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("gcwatch: cannot write the man page: {e}");
                exit::BAD_INPUT
            }
        },
        _ => return None,
    };
    Some(code)
}

fn load_config(cli: &Cli) -> Result<Config, String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current folder: {e}"))?;
    let file = Config::locate(cli.config.as_deref(), &cwd).map_err(|e| e.to_string())?;
    Config::load(&file).map_err(|e| e.to_string())
}

/// Colour for a stream: as `--color` says, or in `auto` only on a terminal without `NO_COLOR`.
fn use_color(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// Diagnostics go to stderr, so that stdout carries event lines only.
fn init_tracing(verbose: u8, quiet: bool, color: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("gcwatch={level},error")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(color)
        .init();
}
