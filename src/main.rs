use clap::Parser;

use gcwatch::cli::Cli;

fn main() {
    let cli = Cli::parse();
    let _ = cli;
}
