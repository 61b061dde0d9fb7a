//! `agar restore`: rebuild a node's swing-store DB from a backup (or a genesis archive's
//! swing-store), atomically (docs/backup.md).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use agar::backup::RestoreOptions;
use agar::error::exit;
use agar::model::ArtifactMode;

use super::{note, print_json, Common};

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup (agar backup) or genesis archive (.tar or .tar.gz).
    archive: PathBuf,
    /// The node home; only HOME/data/agoric/swingstore.sqlite (and its -wal/-shm/-journal)
    /// is replaced.
    #[arg(long, value_name = "DIR")]
    home: PathBuf,
    /// Artifact mode of the new DB (default: the archive's; a stronger one is refused).
    #[arg(long, value_name = "MODE")]
    artifact_mode: Option<ArtifactMode>,
    /// The archive digest you recorded at backup time (64 hex): refused, nothing written,
    /// if the archive's differs.
    #[arg(long, value_name = "DIGEST")]
    expect: Option<String>,
    /// The host.height the restored state must have (the block the node's Cosmos state is
    /// at): refused, nothing written, if the archive's differs.
    #[arg(long, value_name = "N")]
    height: Option<u64>,
    /// Delete the replaced DB instead of keeping it in
    /// data/agoric/swingstore-before-restore-<UTC time>/.
    #[arg(long)]
    discard_old: bool,
    #[command(flatten)]
    common: Common,
}

pub fn cmd_restore(a: RestoreArgs) -> Result<i32> {
    let s = agar::backup::restore(&RestoreOptions {
        archive: a.archive,
        home: a.home,
        mode: a.artifact_mode,
        expect: a.expect,
        height: a.height,
        discard_old: a.discard_old,
        progress: !a.common.quiet,
    })?;
    for n in &s.notes {
        note(&a.common, n);
    }
    for r in &s.removed_stale {
        note(
            &a.common,
            &format!("removed the temp dir of an interrupted restore: {r}"),
        );
    }
    if a.common.json {
        print_json(&s)?;
        return Ok(exit::OK);
    }
    println!("restored {} ({}) into {}", s.archive, s.kind, s.db);
    println!("archive digest:  {}", s.digest);
    println!(
        "wrote {}  {} bytes  sha256 {}",
        s.db, s.db_bytes, s.db_sha256
    );
    let i = &s.import;
    println!(
        "      mode {} (archive {}), host.height {}, {} kv rows, {} spans, {} items, {} snapshots ({} with data), {} bundles",
        i.artifact_mode,
        s.archive_artifact_mode,
        i.host_height,
        i.kv_rows,
        i.transcript_spans,
        i.transcript_items,
        i.snapshots,
        i.snapshot_blobs,
        i.bundles
    );
    match (&s.old_kept, s.replaced.is_empty()) {
        (Some(d), _) => println!("the replaced DB is kept in {d}/"),
        (None, false) => println!("the replaced DB was deleted (--discard-old)"),
        (None, true) => println!("there was no DB before"),
    }
    Ok(exit::OK)
}
