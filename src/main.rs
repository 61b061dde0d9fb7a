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
    #[command(flatten)]
    remote: cli::fetch::RemoteArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Pack an agd export (genesis.json + swing-store/) into one canonical archive and
    /// print its digest.
    #[command(
        after_help = "Reads: EXPORT_DIR, or --genesis with --swing-store-export / --swing-store / --home (read-only).\nWrites: OUTPUT only (through a temp file renamed into place; - writes the tar to stdout).\nExit: 0 packed; 2 usage/IO; 3 bad export or genesis; 4 refused (OUTPUT exists, height mismatch)."
    )]
    Pack(cli::pack::PackArgs),
    /// Check everything an archive guarantees; exit 0 only if all holds.
    #[command(
        after_help = "Reads: ARCHIVE (- for stdin), every byte. Writes: nothing.\nExit: 0 everything holds; 1 problems (FAIL lines); 2 usage/IO; 4 digest differs from --expect."
    )]
    Verify(cli::verify::VerifyArgs),
    /// Print the archive digest, the genesis.json member SHA-256 and the export-data hash.
    #[command(
        after_help = "Reads: ARCHIVE (- for stdin), every byte. Writes: nothing.\nExit: 0 ok; 1 problems; 2 usage/IO."
    )]
    Digest(cli::digest::DigestArgs),
    /// Verify an archive and write a statement that you did (in-toto Statement v1),
    /// signed with your SSH key as `ssh-keygen -Y sign -n agar-archive` would.
    #[command(
        after_help = "Reads: ARCHIVE (- for stdin, or a URL), every byte; the key. Writes: STATEMENT.json and STATEMENT.json.sig (nothing if the archive does not verify).\nExit: 0 attested; 1 archive problems; 2 usage/IO; 4 wrong passphrase, output exists, --expect mismatch."
    )]
    Attest(Box<cli::attest::AttestArgs>),
    /// Download an archive over http(s), verifying it on the way; the file appears only
    /// once it verified. Resumes dropped connections.
    #[command(
        after_help = "Reads: URL (and --mirror URLs). Writes: OUTPUT only, renamed into place once verified.\nExit: 0 fetched; 1 archive problems; 2 usage/network; 4 output exists or --expect mismatch."
    )]
    Fetch(cli::fetch::FetchArgs),
    /// Rebuild a node home from an archive for a genesis restart: config/genesis.json and
    /// config/swing-store/ (and with --db data/agoric/swingstore.sqlite). Refuses a home
    /// holding Cosmos state; the recipe: stop agd, `agd tendermint unsafe-reset-all --home H
    /// --keep-addr-book`, `agar explode ARCHIVE --home H --expect DIGEST --force`, `agd start`.
    #[command(
        after_help = "Reads: ARCHIVE (- for stdin, or a URL); HOME's layout. Writes: HOME/config/genesis.json, HOME/config/swing-store/ (with --db HOME/data/agoric/swingstore.sqlite), nothing else.\nExit: 0 written; 2 usage/IO; 3 bad archive; 4 refused (Cosmos state in HOME, targets exist, --expect mismatch, locked home, mode)."
    )]
    Explode(cli::explode::ExplodeArgs),
    /// Print the canonical text dump of a swing-store DB (the oracle's format), for
    /// diffing two DBs.
    #[command(
        after_help = "Reads: the DB (read-only). Writes: stdout, or --output FILE (refused if it exists unless --force).\nExit: 0 ok; 2 usage/IO; 3 not a swing-store DB; 4 output exists."
    )]
    Dump(cli::dump::DumpArgs),
    /// Summarise an archive: chain, heights, mode, artifacts, vats, bundles.
    #[command(
        after_help = "Reads: ARCHIVE (- for stdin); artifacts only with --verify. Writes: nothing.\nExit: 0 ok; 1 problems listed; 2 usage/IO; 3 unreadable or corrupt archive."
    )]
    Inspect(cli::inspect::InspectArgs),
    /// Apply replayable edits (kvStore, genesis, artifacts) and recompute every dependent
    /// hash; print the new digest last. See EDITING.md.
    #[command(
        after_help = "Reads: INPUT twice (a file, not stdin), --script and the files it names. Writes: OUTPUT only (temp file, verified, renamed into place).\nExit: 0 edited; 2 usage/IO (bad flag values, no edits); 3 bad archive or script; 4 refused (OUTPUT exists, base mismatch, kv-set of a missing key, kv-add of an existing key, owned fields)."
    )]
    Edit(Box<cli::edit::EditArgs>),
    /// Compare two archives (or an archive and an agd export directory). Exit 0 equal,
    /// 1 different, 2 usage/IO error, 3 bad input.
    #[command(
        after_help = "Reads: A and B (one may be - for stdin, or an agd export directory), every byte, each member checked against its digest. Writes: nothing.\nExit: 0 equal; 1 different; 2 usage/IO; 3 an input is corrupt or not an archive."
    )]
    Diff(cli::diff::DiffArgs),
    /// Read kvStore values from an archive.
    #[command(subcommand)]
    Kv(cli::kv::KvCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    #[command(after_help = "Reads: nothing. Writes: stdout. Exit: 0; 2 unknown shell.")]
    Completions(cli::completions::CompletionsArgs),
    /// Print the man page (roff) on stdout, or write all pages with --dir.
    #[command(
        after_help = "Reads: nothing. Writes: stdout, or DIR/agar.1 and DIR/agar-COMMAND.1. Exit: 0; 2 IO."
    )]
    Man(cli::man::ManArgs),
    /// Rewrite an archive as .tar, .tar.gz or .tar.zst: same tar stream, same digest;
    /// the result is verified before it is moved into place.
    #[command(
        after_help = "Reads: IN (- for stdin, or a URL), every byte. Writes: OUTPUT only, renamed into place once verified.\nExit: 0 written; 1 problems; 2 usage/IO; 3 bad archive; 4 output exists."
    )]
    Recompress(cli::recompress::RecompressArgs),
    /// Back up a node's swing-store DB alone into one canonical archive (docs/backup.md).
    #[command(
        after_help = "Reads: HOME/data/agoric/swingstore.sqlite (read-only). Writes: OUTPUT only (temp file renamed into place).\nExit: 0 written; 2 usage/IO; 3 incomplete DB for the mode; 4 output exists."
    )]
    Backup(cli::backup::BackupArgs),
    /// Rebuild a node's swing-store DB from a backup or a genesis archive, atomically,
    /// keeping the old one (docs/backup.md).
    #[command(
        after_help = "Reads: ARCHIVE (or a URL). Writes: HOME/data/agoric/swingstore.sqlite only; the old DB moves to a dated directory beside it.\nExit: 0 restored; 2 usage/IO; 3 bad archive; 4 refused (running node, mode, digest, height)."
    )]
    Restore(cli::restore::RestoreArgs),
    /// Show a node's swing-store DB: host.height, possible backup modes, sizes, whether a
    /// process holds it open.
    #[command(
        after_help = "Reads: HOME/data/agoric (read-only). Writes: nothing.\nExit: 0; 2 usage/IO; 3 not a swing-store DB."
    )]
    Status(cli::status::StatusArgs),
}

fn run(cli: Cli) -> Result<i32> {
    cli.remote.configure();
    match cli.cmd {
        Cmd::Pack(a) => cli::pack::run(a),
        Cmd::Verify(a) => cli::verify::run(a),
        Cmd::Digest(a) => cli::digest::run(a),
        Cmd::Attest(a) => cli::attest::cmd_attest(*a),
        Cmd::Fetch(a) => cli::fetch::cmd_fetch(a),
        Cmd::Explode(a) => cli::explode::run(a),
        Cmd::Dump(a) => cli::dump::run(a),
        Cmd::Inspect(a) => cli::inspect::run(a),
        Cmd::Edit(a) => cli::edit::run(*a),
        Cmd::Diff(a) => cli::diff::run(a),
        Cmd::Kv(c) => cli::kv::run(c),
        Cmd::Completions(a) => cli::completions::run(a),
        Cmd::Man(a) => cli::man::run(a),
        Cmd::Recompress(a) => cli::recompress::cmd_recompress(a),
        Cmd::Backup(a) => cli::backup::cmd_backup(a),
        Cmd::Restore(a) => cli::restore::cmd_restore(a),
        Cmd::Status(a) => cli::status::cmd_status(a),
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
    let result = run(cli);
    // interrupted: the signal handler is cleaning up and exits 130/143; whatever the
    // command ran into meanwhile (its temp files removed under it) is not the outcome
    while agar::cleanup::terminating() {
        std::thread::park();
    }
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => ExitCode::from(cli::report_error(&e, json) as u8),
    }
}
