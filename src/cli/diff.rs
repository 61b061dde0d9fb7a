//! `agar diff`: compare two archives (or an archive and an agd export directory).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use agar::error::exit;

use super::{note, print_json, Common};

#[derive(Args)]
pub struct DiffArgs {
    /// The old archive (or agd export directory).
    a: PathBuf,
    /// The new archive (or agd export directory).
    b: PathBuf,
    /// Most differences listed per section (counts are always complete).
    #[arg(long, default_value_t = 200)]
    limit: usize,
    #[command(flatten)]
    common: Common,
}

pub fn run(a: DiffArgs) -> Result<i32> {
    anyhow::ensure!(
        a.a.as_os_str() != "-" || a.b.as_os_str() != "-",
        "only one of the two archives can be read from stdin (-)"
    );
    let rep = agar::diff::diff(
        &super::archive_input(&a.a),
        &super::archive_input(&a.b),
        &agar::diff::DiffOptions {
            progress: !a.common.quiet,
            limit: a.limit,
        },
    )?;
    for n in &rep.notes {
        note(&a.common, n);
    }
    if a.common.json {
        print_json(&rep)?;
    } else {
        print_diff(&rep)?;
    }
    Ok(if rep.equal { exit::OK } else { exit::PROBLEMS })
}

fn print_diff(r: &agar::diff::DiffReport) -> Result<()> {
    let mut o = std::io::stdout().lock();
    if r.equal {
        say_to!(o, "no differences: {} and {} are the same archive (every member read and checked against its digest)", r.a, r.b)?;
        return Ok(());
    }
    say_to!(o, "--- {}", r.a)?;
    say_to!(o, "+++ {}", r.b)?;
    if !r.manifest.is_empty() {
        say_to!(o, "archive manifest:")?;
        for f in &r.manifest {
            let c = |v: &serde_json::Value| agar::genesis::canonical_bytes(v);
            let (x, y) = (c(&f.a), c(&f.b));
            say_to!(
                o,
                "  {}: {} -> {}",
                f.field,
                String::from_utf8_lossy(&x[..x.len() - 1]),
                String::from_utf8_lossy(&y[..y.len() - 1])
            )?;
        }
    }
    let section =
        |o: &mut dyn Write, title: &str, s: &agar::diff::Section| -> std::io::Result<()> {
            if s.is_empty() {
                return Ok(());
            }
            say_to!(
                o,
                "{title}: {} added, {} removed, {} changed",
                s.added,
                s.removed,
                s.changed
            )?;
            for it in &s.items {
                match (&it.a_text, &it.b_text) {
                    (None, Some(b)) => say_to!(o, "  + {} = {b}", it.key)?,
                    (Some(a), None) => say_to!(o, "  - {} (was {a})", it.key)?,
                    (Some(a), Some(b)) => say_to!(o, "  ~ {}: {a} -> {b}", it.key)?,
                    (None, None) => {}
                }
            }
            if s.truncated {
                say_to!(o, "  … (more not listed; raise --limit or use --json)")?;
            }
            Ok(())
        };
    section(&mut o, "genesis.json", &r.genesis)?;
    section(&mut o, "kvStore", &r.kv)?;
    section(&mut o, "export-data records", &r.metadata)?;
    if r.export_manifest_changed {
        say_to!(o, "export-manifest.json differs")?;
    }
    if !r.artifacts.is_empty() {
        say_to!(o, "artifacts ({} differ):", r.artifacts.len())?;
        for c in &r.artifacts {
            match (&c.a, &c.b) {
                (None, Some(b)) => {
                    say_to!(o, "  + {} ({} bytes, sha256 {})", c.name, b.size, b.sha256)?
                }
                (Some(a), None) => {
                    say_to!(o, "  - {} ({} bytes, sha256 {})", c.name, a.size, a.sha256)?
                }
                (Some(a), Some(b)) => say_to!(
                    o,
                    "  ~ {}: sha256 {} -> {} ({} -> {} bytes)",
                    c.name,
                    a.sha256,
                    b.sha256,
                    a.size,
                    b.size
                )?,
                (None, None) => {}
            }
        }
    }
    Ok(())
}
