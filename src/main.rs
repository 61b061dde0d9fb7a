//! The `agar` command line: parsing and dispatch only; each command lives in
//! `src/cli/<command>.rs`. Exit codes: see README.md.

mod cli;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use agar::error::exit;

/// The package version and, when built from git, the commit (build.rs).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), env!("AGAR_VERSION_SUFFIX"));

#[derive(Parser)]
#[command(
    name = "agar",
    version = VERSION,
    about = "Agoric genesis archive: pack, verify, inspect, edit and explode swing-store genesis exports"
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Pack an agd export (genesis.json + swing-store/) into one canonical archive and
    /// print its digest.
    Pack(cli::pack::PackArgs),
    /// Check everything an archive guarantees; exit 0 only if all holds.
    Verify(cli::verify::VerifyArgs),
    /// Print the archive digest, the genesis.json member SHA-256 and the export-data hash.
    Digest(cli::digest::DigestArgs),
    /// Rebuild a node home from an archive: config/genesis.json, config/swing-store/ and
    /// data/agoric/swingstore.sqlite (what the official importer would build).
    Explode(cli::explode::ExplodeArgs),
    /// Print the canonical text dump of a swing-store DB (the oracle's format), for
    /// diffing two DBs.
    Dump(cli::dump::DumpArgs),
    /// Summarise an archive: chain, heights, mode, artifacts, vats, bundles.
    Inspect(cli::inspect::InspectArgs),
    /// Apply replayable edits (kvStore, genesis, artifacts) and recompute every dependent
    /// hash; print the new digest last. See EDITING.md.
    Edit(Box<cli::edit::EditArgs>),
    /// Compare two archives (or an archive and an agd export directory). Exit 0 equal,
    /// 1 different, 2 usage/IO error, 3 bad input.
    Diff(cli::diff::DiffArgs),
    /// Read kvStore values from an archive.
    #[command(subcommand)]
    Kv(cli::kv::KvCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(cli::completions::CompletionsArgs),
    /// Print the man page (roff) on stdout, or write all pages with --dir.
    Man(cli::man::ManArgs),
}

fn run(cli: Cli) -> Result<i32> {
    match cli.cmd {
        Cmd::Pack(a) => cli::pack::run(a),
        Cmd::Verify(a) => cli::verify::run(a),
        Cmd::Digest(a) => cli::digest::run(a),
        Cmd::Explode(a) => cli::explode::run(a),
        Cmd::Dump(a) => cli::dump::run(a),
        Cmd::Inspect(a) => cli::inspect::run(a),
        Cmd::Edit(a) => cli::edit::run(*a),
        Cmd::Diff(a) => cli::diff::run(a),
        Cmd::Kv(c) => cli::kv::run(c),
        Cmd::Completions(a) => cli::completions::run(a),
        Cmd::Man(a) => cli::man::run(a),
    }
}

fn main() -> ExitCode {
    cli::install_signal_handlers();
    // `--json` anywhere before `--` asks for errors as one JSON object too.
    let json = std::env::args_os()
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit()
            }
            let text = e.render().to_string();
            if json {
                cli::report_error_json(exit::USAGE, &text, None);
            } else {
                // clap quotes the offending value: escaped like every other output
                for line in text.lines() {
                    eprintln!("{}", agar::term::escape(line));
                }
            }
            return ExitCode::from(exit::USAGE as u8);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => ExitCode::from(cli::report_error(&e, json) as u8),
    }
}
