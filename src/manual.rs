//! The command line's definitions in, shell completion scripts and the man page out.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "gcwatch", out);
}

/// Writes the man page, `gcwatch(1)` in roff, to `out`.
pub fn man_page(out: &mut dyn Write) -> io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_man_page_name_every_command() {
        let mut bash = Vec::new();
        completions(Shell::Bash, &mut bash);
        let bash = String::from_utf8(bash).unwrap();
        let mut man = Vec::new();
        man_page(&mut man).unwrap();
        let man = String::from_utf8(man).unwrap();
        for command in [
            "watch", "build", "package", "builds", "status", "serve", "init",
        ] {
            assert!(bash.contains(command), "bash completions lack {command}");
            assert!(man.contains(command), "man page lacks {command}");
        }
        assert!(man.starts_with(".ie"), "{}", &man[..man.len().min(80)]);
    }
}
