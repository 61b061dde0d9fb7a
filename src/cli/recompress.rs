//! The `recompress` subcommand: the same archive in another container.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use agar::error::exit;

use super::{print_json, Common, OutputArgs};

#[derive(Args)]
pub struct RecompressArgs {
    /// The input archive (.tar, .tar.gz or .tar.zst, recognised by its first bytes).
    input: PathBuf,
    /// Output: NAME.tar, NAME.tar.gz / NAME.tgz or NAME.tar.zst / NAME.tzst. The tar
    /// stream, and so the archive digest, does not change.
    #[arg(long, short)]
    output: PathBuf,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    common: Common,
}

pub fn cmd_recompress(a: RecompressArgs) -> Result<i32> {
    let compression = a.out.compression(&a.output)?;
    if a.output.exists() && !a.out.force {
        return Err(agar::Error::Refused(format!(
            "{} already exists; pass --force to replace it",
            a.output.display()
        ))
        .into());
    }
    let s = agar::recompress::recompress(&a.input, &a.output, compression, !a.common.quiet)?;
    if a.common.json {
        print_json(&s)?;
    } else {
        println!(
            "{} ({}, {} bytes) -> {} ({} bytes); tar stream {} bytes, verified",
            s.input, s.input_format, s.input_bytes, s.output, s.output_bytes, s.tar_bytes
        );
        println!("archive digest (sha256 of the uncompressed tar):");
        println!("{}", s.digest);
    }
    Ok(exit::OK)
}
