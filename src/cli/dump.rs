//! `agar dump`: the canonical text dump of a swing-store DB.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use agar::error::exit;

#[derive(Args)]
pub struct DumpArgs {
    /// A swing-store directory (holding swingstore.sqlite) or the DB file.
    db: PathBuf,
    /// Write the dump here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace strings longer than N UTF-16 units by "sha256:<hex> len=<bytes>".
    #[arg(long, default_value_t = 0)]
    hash_long: usize,
    /// Also print compressedSize and the gzip blob's SHA-256 of snapshots.
    #[arg(long)]
    include_compressed: bool,
    /// Leave out the schema section.
    #[arg(long)]
    no_schema: bool,
}

pub fn run(a: DumpArgs) -> Result<i32> {
    let opts = agar::dump::DumpOptions {
        hash_long: a.hash_long,
        include_compressed: a.include_compressed,
        schema: !a.no_schema,
    };
    match &a.out {
        Some(p) => {
            let f =
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            let mut w = std::io::BufWriter::new(f);
            agar::dump::dump(&a.db, &mut w, opts)?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            agar::dump::dump(&a.db, &mut w, opts)?;
        }
    }
    Ok(exit::OK)
}
