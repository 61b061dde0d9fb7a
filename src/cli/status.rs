//! `agar status`: what a node's swing-store DB holds and could be backed up as
//! (docs/backup.md; what the runbook uses db-get.js for).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use agar::error::exit;

use super::{print_json, Common};

#[derive(Args)]
pub struct StatusArgs {
    /// The node home (its DB is HOME/data/agoric/swingstore.sqlite, opened read-only).
    #[arg(long, value_name = "DIR")]
    home: PathBuf,
    #[command(flatten)]
    common: Common,
}

fn size(n: Option<u64>) -> String {
    n.map_or("absent".into(), |n| format!("{n} bytes"))
}

pub fn cmd_status(a: StatusArgs) -> Result<i32> {
    let r = agar::backup::status(&a.home)?;
    if a.common.json {
        print_json(&r)?;
        return Ok(exit::OK);
    }
    println!("swing-store DB:  {}", r.db);
    println!(
        "host.height:     {}",
        r.host_height
            .map_or("absent (read as 0)".to_string(), |h| h.to_string())
    );
    println!(
        "sizes:           DB {} bytes ({} journal mode), -wal {}, -shm {}, -journal {}",
        r.db_bytes,
        r.journal_mode,
        size(r.wal_bytes),
        size(r.shm_bytes),
        size(r.journal_bytes)
    );
    println!(
        "held open by:    {}",
        r.node
            .as_deref()
            .unwrap_or("no process (the node is stopped)")
    );
    println!("backup modes:");
    for m in &r.modes {
        match &m.reason {
            None => println!("  {:<12} possible", m.mode),
            Some(why) => println!("  {:<12} not possible: {why}", m.mode),
        }
    }
    for d in &r.kept_old {
        println!("kept old DB:     {d}");
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    Ok(exit::OK)
}
