//! `agar explode`: rebuild a node home from an archive.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use agar::error::exit;

use super::{note, print_json, Common};

#[derive(Args)]
pub struct ExplodeArgs {
    /// The archive (.tar, .tar.gz or .tar.zst, recognised by its first bytes; - for stdin; or a URL).
    archive: PathBuf,
    /// The node home to write into (default: $HOME/.agoric).
    #[arg(long)]
    home: Option<PathBuf>,
    /// Artifact mode of the DB: operational, replay, archival or debug (default: the
    /// archive's mode; a mode stronger than the archive's is refused).
    #[arg(long)]
    artifact_mode: Option<agar::model::ArtifactMode>,
    /// Replace the targets (genesis.json, swing-store/, and with --db swingstore.sqlite and
    /// its -wal/-shm/-journal) if they exist, after checking that every one can be moved.
    /// Nothing else is touched. A validator home always has config/genesis.json, so the
    /// restart recipe passes it.
    #[arg(long)]
    force: bool,
    /// Also build data/agoric/swingstore.sqlite (what the official importer builds from
    /// config/swing-store). Off by default: on a genesis restart agd's InitGenesis erases
    /// data/agoric and re-imports config/swing-store itself (operational mode), so a DB
    /// built here would cost time and disk only to be replaced. Use it to restore a node
    /// without InitChain, or to inspect the state (agar dump).
    #[arg(long, conflicts_with = "no_db")]
    db: bool,
    /// Write only config/ (genesis.json and swing-store/), no DB: the default.
    #[arg(long)]
    no_db: bool,
    /// Write even though HOME/data holds Cosmos state (application.db, blockstore.db,
    /// state.db, evidence.db, tx_index.db, cs.wal, snapshots/, a priv_validator_state.json
    /// above height 0). Without it such a home is refused (exit 4) with the commands of
    /// the restart recipe: agd skips InitGenesis on a non-empty state, so it would not
    /// read what explode writes.
    #[arg(long)]
    allow_cosmos_state: bool,
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
        no_db: !a.db,
        progress: !a.common.quiet,
        expect: a.expect.clone(),
        allow_cosmos_state: a.allow_cosmos_state,
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
        None => say!("no DB written (agd builds data/agoric from config/swing-store at InitGenesis; --db builds it now)"),
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
