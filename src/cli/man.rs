//! `agar man`: the man pages, generated from the clap definitions.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};

use agar::error::exit;

#[derive(Args)]
pub struct ManArgs {
    /// Write agar.1 and one agar-COMMAND.1 per command into DIR instead of printing
    /// agar.1 on stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Print the man page (roff), or write every page into `--dir`.
pub fn run(a: ManArgs) -> Result<i32> {
    let cmd = crate::Cli::command();
    match a.dir {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            out.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
        }
    }
    Ok(exit::OK)
}
