//! `agar explode`: rebuild a node home from an archive.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use agar::error::exit;

use super::{note, print_json, Common};

#[derive(Args)]
pub struct ExplodeArgs {
    /// The archive (.tar or .tar.gz).
    archive: PathBuf,
    /// The node home to write into (default: $HOME/.agoric).
    #[arg(long)]
    home: Option<PathBuf>,
    /// Artifact mode of the DB: operational, replay, archival or debug (default: the
    /// archive's mode; a mode stronger than the archive's is refused).
    #[arg(long)]
    artifact_mode: Option<agar::model::ArtifactMode>,
    /// Replace the targets (genesis.json, swing-store/, swingstore.sqlite and its
    /// -wal/-shm/-journal) if they exist. Nothing else is touched.
    #[arg(long)]
    force: bool,
    /// Write only config/ (genesis.json and swing-store/), no DB.
    #[arg(long)]
    no_db: bool,
    /// The agreed archive digest (64 hex, `sha256:` prefix optional): refuse, writing
    /// nothing, if the archive's differs (exit 4).
    #[arg(long, value_name = "DIGEST", value_parser = super::parse_digest)]
    expect: Option<String>,
    #[command(flatten)]
    common: Common,
}

pub fn run(a: ExplodeArgs) -> Result<i32> {
    let home = match a.home {
        Some(h) => h,
        None => PathBuf::from(
            std::env::var_os("HOME").context("--home not given and $HOME is not set")?,
        )
        .join(".agoric"),
    };
    let opts = agar::explode::ExplodeOptions {
        archive: super::archive_input(&a.archive),
        home,
        mode: a.artifact_mode,
        force: a.force,
        no_db: a.no_db,
        progress: !a.common.quiet,
        expect: a.expect.clone(),
    };
    let s = agar::explode::explode(&opts)?;
    for w in &s.warnings {
        say_err!("warning: {w}");
    }
    if a.common.json {
        print_json(&s)?;
        return Ok(exit::OK);
    }
    say!("exploded {} into {}", s.archive, s.home);
    say!("archive digest:  {}", s.digest);
    say!(
        "chain_id:        {} (initial_height {}, state exported at {}, archive mode {})",
        s.chain_id,
        s.initial_height,
        s.export_height,
        s.archive_artifact_mode
    );
    say!(
        "wrote {}  {} bytes  sha256 {}",
        s.genesis.path,
        s.genesis.bytes,
        s.genesis.sha256
    );
    say!(
        "wrote {}/  {} files ({} artifacts), {} bytes, export data {}",
        s.swing_store.path,
        s.swing_store.files,
        s.swing_store.artifacts,
        s.swing_store.bytes,
        s.swing_store.export_data_hash
    );
    match &s.db {
        Some(d) => {
            say!("wrote {}  {} bytes  sha256 {}", d.path, d.bytes, d.sha256);
            say!(
                "      mode {}, host.height {}, {} kv rows, {} spans, {} items, {} snapshots ({} with data), {} bundles",
                d.import.artifact_mode,
                d.import.host_height,
                d.import.kv_rows,
                d.import.transcript_spans,
                d.import.transcript_items,
                d.import.snapshots,
                d.import.snapshot_blobs,
                d.import.bundles
            );
        }
        None => say!("no DB written (--no-db)"),
    }
    for r in &s.replaced {
        say!("replaced {r}");
    }
    for r in &s.removed_stale {
        note(
            &a.common,
            &format!("removed stale temp dir of an interrupted run: {r}"),
        );
    }
    Ok(exit::OK)
}
