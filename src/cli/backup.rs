//! `agar backup`: a canonical archive of a node's swing-store alone (docs/backup.md).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use agar::backup::{BackupOptions, BackupSummary};
use agar::error::exit;
use agar::model::ArtifactMode;

use super::{note, Common, OutputArgs};

#[derive(Args)]
pub struct BackupArgs {
    /// The node home; the DB read is HOME/data/agoric/swingstore.sqlite (read-only).
    #[arg(long, value_name = "DIR")]
    home: PathBuf,
    /// Output: NAME.tar, NAME.tar.gz / NAME.tgz, or - for an uncompressed tar on stdout.
    #[arg(long, short)]
    output: PathBuf,
    /// Which artifacts to keep: operational, replay (default, as the runbook advises),
    /// archival or debug; refused with the official exporter's message if the DB cannot
    /// produce it (a pruned validator DB only has operational).
    #[arg(long, value_name = "MODE", default_value_t = ArtifactMode::Replay)]
    artifact_mode: ArtifactMode,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    common: Common,
}

pub fn cmd_backup(a: BackupArgs) -> Result<i32> {
    let to_stdout = a.output.as_os_str() == "-";
    let compression = a.out.target(&a.output)?;
    let s = agar::backup::backup(&BackupOptions {
        home: a.home,
        output: (!to_stdout).then_some(a.output),
        mode: a.artifact_mode,
        compression,
        progress: !a.common.quiet,
    })?;
    report(&a.common, &s, to_stdout)?;
    Ok(exit::OK)
}

fn report(common: &Common, s: &BackupSummary, to_stdout: bool) -> Result<()> {
    for n in &s.notes {
        note(common, n);
    }
    let say = |l: String| {
        if to_stdout {
            eprintln!("{l}");
        } else {
            println!("{l}");
        }
    };
    if common.json {
        say(serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    say(format!(
        "output:            {}",
        s.output.as_deref().unwrap_or("stdout")
    ));
    say(format!("swing-store DB:    {}", s.db));
    say(format!("host.height:       {}", s.host_height));
    say(format!(
        "artifact mode:     {} (requested {})",
        s.artifact_mode, s.requested_mode
    ));
    say(format!(
        "export data:       {} entries",
        s.export_data_entries
    ));
    say(format!(
        "artifacts:         {} ({} bytes)",
        s.artifacts, s.artifact_bytes
    ));
    say(format!(
        "archive:           {} bytes tar, {} bytes on disk",
        s.tar_bytes, s.file_bytes
    ));
    say(format!(
        "swing_store_export_data_hash: {}",
        s.swing_store_export_data_hash
    ));
    say("archive digest (sha256 of the uncompressed tar):".to_string());
    say(s.digest.clone());
    Ok(())
}
