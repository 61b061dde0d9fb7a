//! `agar pack`: an agd export, a swing-store export or a halted node's DB into one
//! canonical archive.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use agar::archive::writer::Compression;
use agar::dbexport::DbExport;
use agar::error::exit;
use agar::exportdir::ExportDir;
use agar::genesis::CanonicalGenesis;
use agar::model::ArtifactMode;
use agar::pack::{PackOptions, PackSummary};
use agar::source::StateSource;

use super::{note, Common, OutputArgs};

#[derive(Args)]
pub struct PackArgs {
    /// An agd export directory (holding genesis.json and swing-store/).
    export_dir: Option<PathBuf>,
    /// The genesis file (with --swing-store-export, or to override EXPORT_DIR/genesis.json).
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// A swing-store export directory, JS (export-kernel-db.js) or Go (agd) layout.
    #[arg(long)]
    swing_store_export: Option<PathBuf>,
    /// Pack straight from a halted node's swing-store DB: the directory holding
    /// swingstore.sqlite (NODE_HOME/data/agoric) or the file itself; needs --genesis.
    /// Read-only, creates no files next to the DB.
    #[arg(long, value_name = "DIR_OR_FILE")]
    swing_store: Option<PathBuf>,
    /// A node home: like --swing-store HOME/data/agoric, with --genesis defaulting to
    /// HOME/config/genesis.json.
    #[arg(long, value_name = "DIR")]
    home: Option<PathBuf>,
    /// With --swing-store/--home: which artifacts to export: operational (default),
    /// replay, archival or debug (as `agd export`/export-kernel-db.js --artifact-mode).
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    artifact_mode: Option<ArtifactMode>,
    /// Output: NAME.tar, NAME.tar.gz / NAME.tgz, NAME.tar.zst / NAME.tzst, or - for an
    /// uncompressed tar on stdout.
    #[arg(long, short)]
    output: PathBuf,
    /// Pack even if the export height is not initial_height - 1 (rehearsals only).
    #[arg(long)]
    allow_height_mismatch: bool,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    common: Common,
}

fn parse_mode(s: &str) -> std::result::Result<ArtifactMode, String> {
    s.parse()
}

/// The three input forms of `pack`, mutually exclusive.
enum PackInput {
    /// `EXPORT_DIR` (genesis.json + swing-store/)
    ExportDir(PathBuf),
    /// `--swing-store-export DIR --genesis FILE`
    SwingStoreExport(PathBuf),
    /// `--swing-store DIR_OR_FILE --genesis FILE` or `--home DIR`
    Db(PathBuf),
}

fn pack_input(a: &PackArgs) -> Result<(PackInput, PathBuf)> {
    let mut given = Vec::new();
    if a.export_dir.is_some() {
        given.push("EXPORT_DIR");
    }
    if a.swing_store_export.is_some() {
        given.push("--swing-store-export");
    }
    if a.swing_store.is_some() {
        given.push("--swing-store");
    }
    if a.home.is_some() {
        given.push("--home");
    }
    if given.len() > 1 {
        anyhow::bail!(
            "give one input, not {}: EXPORT_DIR (an agd export), --swing-store-export DIR --genesis FILE (a swing-store export), or --swing-store DIR_OR_FILE --genesis FILE / --home DIR (a halted node's DB)",
            given.join(" and ")
        );
    }
    if a.artifact_mode.is_some() && a.swing_store.is_none() && a.home.is_none() {
        anyhow::bail!("--artifact-mode only applies to --swing-store/--home (an export directory's artifacts are whatever it holds)");
    }
    Ok(
        match (&a.export_dir, &a.swing_store_export, &a.swing_store, &a.home) {
            (Some(d), ..) => (
                PackInput::ExportDir(d.join("swing-store")),
                a.genesis.clone().unwrap_or_else(|| d.join("genesis.json")),
            ),
            (_, Some(s), ..) => (
                PackInput::SwingStoreExport(s.clone()),
                a.genesis
                    .clone()
                    .context("--swing-store-export needs --genesis FILE")?,
            ),
            (_, _, Some(db), _) => (
                PackInput::Db(db.clone()),
                a.genesis.clone().context(
                    "--swing-store needs --genesis FILE (the genesis.json agd exported at the halt height)",
                )?,
            ),
            (_, _, _, Some(h)) => (
                PackInput::Db(h.join("data").join("agoric")),
                a.genesis
                    .clone()
                    .unwrap_or_else(|| h.join("config").join("genesis.json")),
            ),
            _ => anyhow::bail!("nothing to pack: give an agd export directory (EXPORT_DIR), --genesis FILE --swing-store-export DIR, or --genesis FILE --swing-store DIR_OR_FILE (or --home DIR) to pack from a halted node's DB"),
        },
    )
}

pub fn run(a: PackArgs) -> Result<i32> {
    let (input, genesis_path) = pack_input(&a)?;
    let to_stdout = a.output.as_os_str() == "-";
    let compression = if to_stdout {
        Compression::None
    } else {
        a.out.compression(&a.output)?
    };
    if !to_stdout && a.output.exists() && !a.out.force {
        return Err(agar::Error::Refused(format!(
            "{} already exists; pass --force to replace it",
            a.output.display()
        ))
        .into());
    }
    // a regular file only; inside the export directory unless named with --genesis
    let within = match (&a.export_dir, &a.genesis) {
        (Some(d), None) => Some(d.as_path()),
        _ => None,
    };
    let genesis = CanonicalGenesis::from_path(&genesis_path, within)
        .with_context(|| format!("reading genesis {}", genesis_path.display()))?;
    let opts = PackOptions {
        compression,
        allow_height_mismatch: a.allow_height_mismatch,
        progress: !a.common.quiet,
    };
    let dest = (!to_stdout).then_some(a.output.as_path());
    let summary = match input {
        PackInput::ExportDir(d) | PackInput::SwingStoreExport(d) => {
            let mut source = ExportDir::open(&d)
                .with_context(|| format!("opening swing-store export {}", d.display()))?;
            agar::pack::pack(genesis, &mut source, dest, &opts)?
        }
        PackInput::Db(db) => {
            let mode = a.artifact_mode.unwrap_or(ArtifactMode::Operational);
            let mut source = DbExport::open(&db, mode)
                .with_context(|| format!("opening swing-store DB {}", db.display()))?;
            for n in source.notes() {
                note(&a.common, &format!("{}: {n}", source.data_location()));
            }
            // pack checks that the DB did not change before the output is put in place; an
            // error while something else opened the DB (SQLite then reads pages the other
            // process is rewriting: "malformed", bad hashes) is reported as that
            let res =
                agar::pack::pack(genesis, &mut source, dest, &opts).map_err(|e| source.explain(e));
            match res {
                Ok(s) => s,
                Err(e) => {
                    if a.home.is_some() && a.genesis.is_none() {
                        if let agar::Error::Refused(m) = &e {
                            if m.starts_with("height mismatch") {
                                return Err(anyhow::Error::new(e).context(format!(
                                    "the genesis defaulted to {}; pass --genesis with the genesis.json agd exported at the halt height",
                                    genesis_path.display()
                                )));
                            }
                        }
                    }
                    return Err(e.into());
                }
            }
        }
    };
    report_pack(&a.common, &summary, to_stdout)?;
    Ok(exit::OK)
}

fn report_pack(common: &Common, s: &PackSummary, to_stdout: bool) -> Result<()> {
    for n in &s.notes {
        note(common, n);
    }
    if common.json {
        let text = serde_json::to_string_pretty(s)?;
        // JSON for machines: not escaped for a terminal
        if to_stdout {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
        return Ok(());
    }
    let lines = [
        format!(
            "output:            {}",
            match s.output.as_deref() {
                None | Some("-") => "stdout",
                Some(x) => x,
            }
        ),
        format!("chain_id:          {}", s.chain_id),
        format!(
            "initial_height:    {} (state exported at {})",
            s.initial_height, s.export_height
        ),
        format!("artifact mode:     {}", s.artifact_mode),
        format!(
            "export data:       {} entries ({} kv)",
            s.export_data_entries, s.kv_entries
        ),
        format!(
            "artifacts:         {} ({} bytes)",
            s.artifacts, s.artifact_bytes
        ),
        format!(
            "archive:           {} bytes tar, {} bytes on disk",
            s.tar_bytes, s.file_bytes
        ),
        format!("genesis.json sha256:          {}", s.genesis_sha256),
        format!(
            "swing_store_export_data_hash: {}",
            s.swing_store_export_data_hash
        ),
        "archive digest (sha256 of the uncompressed tar):".to_string(),
        s.digest.clone(),
    ];
    for l in lines {
        if to_stdout {
            say_err!("{l}");
        } else {
            say!("{l}");
        }
    }
    Ok(())
}
