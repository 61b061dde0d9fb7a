//! The command line, one file per command (mirroring `tests/`). `main.rs` only parses
//! and dispatches; each file here turns parsed arguments into library calls and output.

/// `println!` for a person: the formatted line goes through [`agar::term::escape`], so no
/// archive- or script-derived string reaches the terminal raw.
macro_rules! say {
    ($($t:tt)*) => {
        println!("{}", agar::term::escape(&format!($($t)*)))
    };
}

/// `eprintln!` for a person, escaped like [`say!`].
macro_rules! say_err {
    ($($t:tt)*) => {
        eprintln!("{}", agar::term::escape(&format!($($t)*)))
    };
}

/// `writeln!` for a person, escaped like [`say!`].
macro_rules! say_to {
    ($w:expr, $($t:tt)*) => {
        writeln!($w, "{}", agar::term::escape(&format!($($t)*)))
    };
}

pub mod attest;
pub mod backup;
pub mod completions;
pub mod diff;
pub mod digest;
pub mod dump;
pub mod edit;
pub mod explode;
pub mod fetch;
pub mod inspect;
pub mod kv;
pub mod man;
pub mod pack;
pub mod recompress;
pub mod restore;
pub mod status;
pub mod verify;

use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;

use agar::archive::writer::Compression;
use agar::error::exit;

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
    /// Compression threads, 1 to 256 (default: all cores). Output bytes do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
}

impl OutputArgs {
    /// The compression an output name asks for.
    pub fn compression(&self, output: &Path) -> Result<Compression> {
        Compression::from_name(output, self.gzip_level, threads(self.threads)).with_context(|| {
            format!(
                "{}: output name must end in .tar, .tar.gz, .tgz, .tar.zst or .tzst (or be - for stdout)",
                output.display()
            )
        })
    }
}

impl OutputArgs {
    /// The compression for `output` (`-`: an uncompressed tar on stdout), refusing an
    /// existing output unless `--force` (backup).
    pub fn target(&self, output: &Path) -> Result<Compression> {
        if output.as_os_str() == "-" {
            return Ok(Compression::None);
        }
        let compression = self.compression(output)?;
        if output.exists() && !self.force {
            return Err(agar::Error::Refused(format!(
                "{} already exists; pass --force to replace it",
                output.display()
            ))
            .into());
        }
        Ok(compression)
    }
}

fn threads(n: Option<u16>) -> usize {
    n.map(usize::from)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1)
}

/// An archive argument: `-` reads the archive from stdin (a pipe is read once, bounded
/// by its manifest like any archive).
pub fn archive_input(p: &Path) -> std::path::PathBuf {
    if p.as_os_str() == "-" {
        std::path::PathBuf::from("/dev/stdin")
    } else {
        p.to_path_buf()
    }
}

pub fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn note(common: &Common, msg: &str) {
    if !common.quiet {
        say_err!("note: {msg}");
    }
}

/// Print an error for a person (`error: what: why`, each cause once) or, with `--json`,
/// as one JSON object on stderr; return the exit code it maps to.
pub fn report_error(e: &anyhow::Error, json: bool) -> i32 {
    let lib = e.chain().find_map(|c| c.downcast_ref::<agar::Error>());
    let code = lib.map_or(exit::USAGE, agar::Error::exit_code);
    let message = agar::error::display_chain(e.as_ref());
    if json {
        report_error_json(code, &message, lib.and_then(agar::Error::location));
    } else {
        say_err!("error: {message}");
    }
    code
}

/// One JSON object on stderr: `code` (a stable name from the exit-code table),
/// `exit_code`, `message` and `where` (the file, member, key or flag, or null).
pub fn report_error_json(code: i32, message: &str, location: Option<String>) {
    let v = serde_json::json!({
        "code": exit::name(code),
        "exit_code": code,
        "message": message.trim_end(),
        "where": location,
    });
    eprintln!("{v}");
}

/// An archive digest as a flag value: 64 hex digits, with or without `sha256:`;
/// returned lowercase, without the prefix. Rejected at parse time (exit 2).
pub fn parse_digest(s: &str) -> Result<String, String> {
    let hex = s.strip_prefix("sha256:").unwrap_or(s).to_ascii_lowercase();
    if agar::archive::is_sha256_hex(&hex) {
        Ok(hex)
    } else {
        Err(format!(
            "{s:?} is not an archive digest: 64 hex digits, optionally prefixed by sha256:"
        ))
    }
}

/// Process-wide signal behaviour, set first thing in `main`:
/// - SIGPIPE back to the default (the Rust runtime ignores it, so a closed stdout made
///   `println!` panic): `agar … | head -1` ends quietly, as `cat` would;
/// - SIGINT/SIGTERM: a thread removes every registered temporary output
///   (`agar::cleanup`) and exits 130/143.
pub fn install_signal_handlers() {
    // SAFETY: setting a signal's disposition to the default before any other thread runs
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return; // keep the default: die without cleanup, as before
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            agar::cleanup::begin_termination();
            let removed = agar::cleanup::remove_registered();
            let (code, what) = if sig == SIGINT {
                (exit::INTERRUPTED, "interrupted (SIGINT)")
            } else {
                (exit::TERMINATED, "terminated (SIGTERM)")
            };
            eprintln!(
                "\nagar: {what}; removed {} temporary output(s)",
                removed.len()
            );
            std::process::exit(code);
        }
    });
}
