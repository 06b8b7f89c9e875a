use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use gcwatch::cli::{Cli, Command};
use gcwatch::events::Emitter;
use gcwatch::serve::{self, ServeError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("gcwatch: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let emitter = Emitter::stdout(cli.log_format, false, cli.quiet);
    let result = match &cli.command {
        Command::Serve(args) => runtime.block_on(serve::run(args, &emitter)),
        _ => {
            eprintln!("gcwatch: this command is not available yet");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gcwatch: error: {e:#}");
            // A failed bind or an unusable data dir is bad usage (SPEC §1: 2).
            let code = e
                .downcast_ref::<ServeError>()
                .map_or(1, ServeError::exit_code);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}

/// Diagnostics go to stderr, so stdout holds nothing but event lines.
fn init_tracing(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
