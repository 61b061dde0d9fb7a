//! `agar digest`: the archive digest and the two hashes the chain checks.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use agar::error::exit;

use super::{print_json, Common};

#[derive(Args)]
pub struct DigestArgs {
    archive: PathBuf,
    #[command(flatten)]
    common: Common,
}

pub fn run(a: DigestArgs) -> Result<i32> {
    let common = &a.common;
    let rep = agar::verify::verify(&super::archive_input(&a.archive), None, !common.quiet)?;
    if common.json {
        print_json(&serde_json::json!({
            "archive": rep.archive,
            "digest": rep.digest,
            "genesis_sha256": rep.genesis_sha256,
            "swing_store_export_data_hash": rep.swing_store_export_data_hash,
            "ok": rep.ok,
            "problems": rep.problems,
        }))?;
    } else {
        for p in &rep.problems {
            say_err!("FAIL {p}");
        }
        if let Some(g) = &rep.genesis_sha256 {
            say!("genesis.json sha256:          {g}");
        }
        if let Some(h) = &rep.swing_store_export_data_hash {
            say!("swing_store_export_data_hash: {h}");
        }
        if let Some(d) = &rep.digest {
            say!("archive digest:               {d}");
        }
    }
    Ok(if rep.ok { exit::OK } else { exit::PROBLEMS })
}
