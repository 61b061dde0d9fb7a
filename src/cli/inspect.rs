//! `agar inspect`: summarise an archive.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use agar::error::exit;

use super::{print_json, Common};

#[derive(Args)]
pub struct InspectArgs {
    archive: PathBuf,
    /// Also read and verify every artifact (and print the archive digest).
    #[arg(long)]
    verify: bool,
    #[command(flatten)]
    common: Common,
}

pub fn run(a: InspectArgs) -> Result<i32> {
    let common = &a.common;
    let r = agar::verify::inspect(&super::archive_input(&a.archive), a.verify, !common.quiet)?;
    if common.json {
        print_json(&r)?;
    } else {
        say!(
            "archive:        {} ({} bytes{})",
            r.archive,
            r.file_bytes,
            if r.compressed {
                format!(", {}", r.compression)
            } else {
                String::new()
            }
        );
        if r.kind == "swing-store backup" {
            say!("kind:           swing-store backup (no genesis)");
            say!("host.height:    {}", r.export_height);
        } else {
            say!("chain_id:       {}", r.chain_id);
            say!("initial_height: {}", r.initial_height);
            say!("export height:  {}", r.export_height);
        }
        if let Some(t) = &r.genesis_time {
            say!("genesis_time:   {t}");
        }
        say!("artifact mode:  {}", r.artifact_mode);
        if !r.genesis_sha256.is_empty() {
            say!(
                "genesis.json:   {} bytes, sha256 {}",
                r.genesis_bytes,
                r.genesis_sha256
            );
        }
        say!(
            "export data:    {} entries ({} kv), {} bytes, {}",
            r.export_data_entries,
            r.kv_entries,
            r.export_data_bytes,
            r.swing_store_export_data_hash
        );
        for (k, s) in &r.artifacts {
            say!(
                "{:<15} {} artifacts, {} bytes",
                format!("{k}s:"),
                s.count,
                s.bytes
            );
        }
        say!("vats:");
        for v in &r.vats {
            say!(
                "  {:<6} {} incarnation {} spans {}/{} recorded as artifacts, snapshot {}{}",
                v.vat,
                v.current_span
                    .as_deref()
                    .map_or("terminated".to_string(), |s| format!("current span {s},")),
                v.incarnation.map_or("-".into(), |i| i.to_string()),
                v.span_artifacts.len(),
                v.spans_recorded,
                v.snapshot_in_use.as_deref().unwrap_or("none"),
                if v.snapshots_recorded > 0 {
                    format!(" ({} snapshot records)", v.snapshots_recorded)
                } else {
                    String::new()
                }
            );
        }
        say!("bundles:");
        for b in &r.bundles {
            say!("  {b}");
        }
        if !r.consistency.checked.is_empty() {
            say!("chain state:");
            for c in &r.consistency.checked {
                say!("  {c}");
            }
        }
        if let Some(p) = &r.provenance {
            say!(
                "edited from:    {} (edits sha256 {})",
                p.parent,
                p.edits_sha256
            );
        }
        match &r.digest {
            Some(d) => say!("archive digest: {d}"),
            None => {
                say!("(artifact members not read; `agar verify` checks them and prints the digest)")
            }
        }
        for p in &r.problems {
            say!("FAIL {p}");
        }
    }
    Ok(if r.problems.is_empty() {
        exit::OK
    } else {
        exit::PROBLEMS
    })
}
