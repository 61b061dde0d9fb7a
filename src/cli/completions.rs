//! `agar completions SHELL`: generated from the clap definitions, so it never drifts
//! from the real flags.

use anyhow::Result;
use clap::{Args, CommandFactory};
use std::io::Write;

use agar::error::exit;

#[derive(Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

/// Print the completion script for SHELL on stdout, e.g.
/// `agar completions bash > ~/.local/share/bash-completion/completions/agar`.
pub fn run(a: CompletionsArgs) -> Result<i32> {
    let mut cmd = crate::Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(a.shell, &mut cmd, "agar", &mut out);
    out.flush()?;
    Ok(exit::OK)
}
