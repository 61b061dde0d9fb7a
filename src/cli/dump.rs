//! `agar dump`: the canonical text dump of a swing-store DB.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use agar::error::exit;

#[derive(Args)]
pub struct DumpArgs {
    /// A swing-store directory (holding swingstore.sqlite) or the DB file.
    db: PathBuf,
    /// Write the dump to this file instead of stdout (`-`: stdout). An existing file is
    /// refused (exit 4) unless --force; a failed dump leaves no file behind.
    #[arg(long, short, visible_alias = "out", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace OUTPUT if it exists.
    #[arg(long)]
    force: bool,
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
    match a.output.as_deref().filter(|p| p.as_os_str() != "-") {
        Some(p) => {
            if p.exists() && !a.force {
                return Err(agar::Error::Refused(format!(
                    "{} already exists; pass --force to replace it",
                    p.display()
                ))
                .into());
            }
            // written next to the target and renamed into place only when complete
            let tmp = agar::archive::writer::temp_next_to(p)?;
            let tmp_path = tmp.path().to_path_buf();
            let mut w = std::io::BufWriter::new(tmp);
            agar::dump::dump(&a.db, &mut w, opts)?;
            let tmp = w
                .into_inner()
                .map_err(|e| agar::Error::io(p, e.into_error()))?;
            tmp.persist(p).map_err(|e| agar::Error::io(p, e.error))?;
            agar::cleanup::unregister(&tmp_path);
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            agar::dump::dump(&a.db, &mut w, opts)?;
        }
    }
    Ok(exit::OK)
}
