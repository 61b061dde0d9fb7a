//! `agar kv`: read kvStore values from an archive.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use agar::error::exit;

use super::{note, print_json, Common};

#[derive(Subcommand)]
pub enum KvCmd {
    /// Print one kvStore value (exactly, followed by a newline).
    Get {
        archive: PathBuf,
        /// kvStore key, without the export-data "kv." prefix.
        key: String,
        #[command(flatten)]
        common: Common,
    },
    /// List kvStore keys and values (key TAB value; values with control characters or
    /// tabs are printed as JSON strings).
    List {
        archive: PathBuf,
        #[arg(long, default_value = "")]
        prefix: String,
        /// Keys only.
        #[arg(long)]
        keys: bool,
        #[command(flatten)]
        common: Common,
    },
}

/// A key or value as one terminal-safe field: as is when plain, else as a JSON string
/// whose remaining C1/bidi characters are escaped too (agar::term).
fn plain(s: &str) -> String {
    if s.chars()
        .any(|c| c.is_control() || agar::term::needs_escape(c))
        || s.starts_with('"')
        || s.trim() != s
        || s.is_empty()
    {
        agar::term::escape(&serde_json::to_string(s).unwrap_or_default()).into_owned()
    } else {
        s.to_string()
    }
}

pub fn run(c: KvCmd) -> Result<i32> {
    match c {
        KvCmd::Get {
            archive,
            key,
            common,
        } => {
            let v = agar::kv::get(&super::archive_input(&archive), &key, !common.quiet)?;
            note(&common, agar::kv::NOT_VERIFIED_NOTE);
            if common.json {
                print_json(
                    &serde_json::json!({"key": key, "value": v, "found": v.is_some(), "artifacts_verified": false}),
                )?;
            }
            match v {
                Some(v) => {
                    if !common.json {
                        // exact bytes for a pipe; escaped for a person at a terminal
                        let mut o = std::io::stdout().lock();
                        if o.is_terminal() {
                            o.write_all(agar::term::escape(&v).as_bytes())?;
                        } else {
                            o.write_all(v.as_bytes())?;
                        }
                        o.write_all(b"\n")?;
                    }
                    Ok(exit::OK)
                }
                None => {
                    if !common.json {
                        say_err!("{}: no kvStore key {key:?}", archive.display());
                    }
                    Ok(exit::PROBLEMS)
                }
            }
        }
        KvCmd::List {
            archive,
            prefix,
            keys,
            common,
        } => {
            let mut o = std::io::BufWriter::new(std::io::stdout().lock());
            let mut n = 0u64;
            // --json: one object, streamed (a prefix can match a million keys):
            // {"archive", "prefix", "entries": [{"key","value"}…] or "keys": […],
            //  "count", "artifacts_verified": false}
            if common.json {
                writeln!(
                    o,
                    "{{\n  \"archive\": {},\n  \"prefix\": {},\n  \"{}\": [",
                    serde_json::to_string(&archive.display().to_string())?,
                    serde_json::to_string(&prefix)?,
                    if keys { "keys" } else { "entries" }
                )?;
            }
            agar::kv::for_each(
                &super::archive_input(&archive),
                &prefix,
                !common.quiet,
                &mut |k, v| {
                    let r = if common.json {
                        let sep = if n == 0 { "" } else { ",\n" };
                        let item = if keys {
                            serde_json::to_string(k).unwrap_or_default()
                        } else {
                            serde_json::json!({"key": k, "value": v}).to_string()
                        };
                        write!(o, "{sep}    {item}")
                    } else if keys {
                        writeln!(o, "{}", plain(k))
                    } else {
                        writeln!(o, "{}\t{}", plain(k), plain(v))
                    };
                    n += 1;
                    r.map_err(|e| agar::Error::io("stdout", e))
                },
            )?;
            if common.json {
                writeln!(
                    o,
                    "{}  ],\n  \"count\": {n},\n  \"artifacts_verified\": false\n}}",
                    if n == 0 { "" } else { "\n" }
                )?;
            }
            o.flush()?;
            note(
                &common,
                &format!("{n} keys; {}", agar::kv::NOT_VERIFIED_NOTE),
            );
            Ok(exit::OK)
        }
    }
}
