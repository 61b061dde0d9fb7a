//! The command line, one file per command (mirroring `tests/`). `main.rs` only parses
//! and dispatches; each file here turns parsed arguments into library calls and output.

pub mod diff;
pub mod digest;
pub mod dump;
pub mod edit;
pub mod explode;
pub mod inspect;
pub mod kv;
pub mod pack;
pub mod verify;

use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;

use agar::archive::writer::Compression;

#[derive(Args, Clone)]
pub struct Common {
    /// Print one JSON object instead of human-readable text.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars or notes on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// How an archive is written (pack, edit).
#[derive(Args, Clone, Copy)]
pub struct OutputArgs {
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// gzip level for .tar.gz output (the digest does not depend on it).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub gzip_level: u32,
    /// Compression threads (default: all cores). Output bytes do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}

impl OutputArgs {
    /// The compression an output name asks for.
    pub fn compression(&self, output: &Path) -> Result<Compression> {
        Compression::from_name(output, self.gzip_level, threads(self.threads)).with_context(|| {
            format!(
                "{}: output name must end in .tar, .tar.gz or .tgz (or be - for stdout)",
                output.display()
            )
        })
    }
}

fn threads(n: Option<usize>) -> usize {
    n.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
    .max(1)
}

pub fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn note(common: &Common, msg: &str) {
    if !common.quiet {
        eprintln!("note: {msg}");
    }
}
