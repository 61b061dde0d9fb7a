//! `agar verify`: check everything an archive guarantees.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use agar::error::exit;

use super::{print_json, Common};

#[derive(Args)]
pub struct VerifyArgs {
    archive: PathBuf,
    /// The archive digest you were told (64 hex, `sha256:` prefix optional); a different
    /// digest is refused (exit 4).
    #[arg(long, value_name = "DIGEST", value_parser = super::parse_digest)]
    expect: Option<String>,
    #[command(flatten)]
    attest: super::attest::CheckArgs,
    #[command(flatten)]
    common: Common,
}

pub fn run(a: VerifyArgs) -> Result<i32> {
    let common = &a.common;
    let rep = agar::verify::verify(
        &super::archive_input(&a.archive),
        a.expect.as_deref(),
        !common.quiet,
    )?;
    let att = super::attest::check(&rep, &a.attest)?;
    let attested = !matches!(&att, Some(a) if !a.met);
    if common.json {
        let mut v = serde_json::to_value(&rep)?;
        if let Some(a) = &att {
            v["attestations"] = serde_json::to_value(a)?;
            v["ok"] = serde_json::Value::Bool(rep.ok && attested);
        }
        print_json(&v)?;
    } else {
        for p in &rep.problems {
            say!("FAIL {p}");
        }
        if rep.ok {
            say!("OK {}: {} members verified", rep.archive, rep.members);
            if let Some(d) = &rep.digest {
                say!("archive digest: {d}");
            }
        } else {
            say!(
                "{}: {} problem(s); do not use this archive",
                rep.archive,
                rep.problems.len()
            );
        }
        if let Some(a) = &att {
            super::attest::print_report(a);
        }
    }
    let mismatch = rep.expected.is_some() && rep.digest.is_some() && rep.expected != rep.digest;
    Ok(if rep.ok && attested {
        exit::OK
    } else if mismatch {
        exit::REFUSED
    } else {
        exit::PROBLEMS
    })
}
