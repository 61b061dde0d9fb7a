//! The `edit`, `diff` and `kv` subcommands (kept out of main.rs so it stays thin).

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use agar::edit::script::{
    check_kv_key, fund_account_op, read_value_file, replace_account_op, replace_validator_op,
    resolve_bundle, resolve_replacement, set_gov_op, set_unbonding_time_op, value_from_bytes,
};
use agar::edit::{EditOptions, Op, Script};
use agar::error::exit;

use crate::{note, print_json, Common, OutputArgs};

#[derive(Args)]
pub struct EditArgs {
    /// The input archive.
    input: PathBuf,
    /// Output archive: NAME.tar, NAME.tar.gz or NAME.tgz.
    #[arg(long, short)]
    output: PathBuf,
    /// An edit script (JSON, schemas/edit-script.schema.json). Its ops run first, then the
    /// flags below in the order they are listed here.
    #[arg(long)]
    script: Option<PathBuf>,
    /// Refuse unless the input archive's digest is this (also settable in the script).
    #[arg(long)]
    base: Option<String>,
    /// kv-set: KEY=VALUE (kvStore key, without the export-data "kv." prefix). Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    kv_set: Vec<String>,
    /// kv-set with the value read from a file, byte for byte: KEY=FILE. Repeatable.
    #[arg(long, value_name = "KEY=FILE")]
    kv_set_file: Vec<String>,
    /// kv-set with the value read from stdin, byte for byte.
    #[arg(long, value_name = "KEY")]
    kv_set_stdin: Option<String>,
    /// kv-delete: KEY (must exist). Repeatable.
    #[arg(long, value_name = "KEY")]
    kv_delete: Vec<String>,
    /// kv-delete-prefix: PREFIX=COUNT, refused unless exactly COUNT keys match.
    #[arg(long, value_name = "PREFIX=COUNT")]
    kv_delete_prefix: Vec<String>,
    /// genesis-set: POINTER=JSON (RFC 6901 pointer, JSON value; number literals kept).
    #[arg(long, value_name = "POINTER=JSON")]
    genesis_set: Vec<String>,
    /// genesis-delete: POINTER.
    #[arg(long, value_name = "POINTER")]
    genesis_delete: Vec<String>,
    /// set-chain-id.
    #[arg(long)]
    chain_id: Option<String>,
    /// set-initial-height (also the export manifest's blockHeight).
    #[arg(long)]
    initial_height: Option<u64>,
    /// set-genesis-time (RFC 3339).
    #[arg(long)]
    genesis_time: Option<String>,
    /// bundle-add: a b0 (JSON) or b1 (zip) bundle file; its ID is computed and printed.
    #[arg(long, value_name = "FILE")]
    bundle_add: Vec<PathBuf>,
    /// artifact-replace: NAME=FILE (snapshot.<vat>.<pos> or transcript.<vat>.<start>.<end>).
    #[arg(long, value_name = "NAME=FILE")]
    artifact_replace: Vec<String>,
    /// fund-account: ADDRESS=AMOUNTDENOM[,AMOUNTDENOM...] added to the bank balance and
    /// the supply (e.g. agoric1...=1000000000000ubld). Repeatable.
    #[arg(long, value_name = "ADDRESS=AMOUNTDENOM")]
    fund_account: Vec<String>,
    /// set-gov: NAME=VALUE (voting_period=60s, min_deposit=1ubld, quorum=0.000000000000000001,
    /// threshold, veto_threshold, max_deposit_period, expedited_*). Repeatable.
    #[arg(long, value_name = "NAME=VALUE")]
    set_gov: Vec<String>,
    /// set-unbonding-time: a duration (60s, 10m, 2h, 21d).
    #[arg(long, value_name = "DURATION")]
    set_unbonding_time: Option<String>,
    /// replace-validator: OLD=KEYFILE (OLD: operator address or moniker; KEYFILE: the new
    /// node's priv_validator_key.json, of which only the public key is read). Repeatable.
    #[arg(long, value_name = "OLD=KEYFILE")]
    replace_validator: Vec<String>,
    /// replace-account: OLD=NEW account address, everywhere it is an address. Repeatable.
    #[arg(long, value_name = "OLD=NEW")]
    replace_account: Vec<String>,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    common: Common,
}

fn split<'a>(flag: &str, s: &'a str, last: bool) -> Result<(&'a str, &'a str)> {
    let r = if last {
        s.rsplit_once('=')
    } else {
        s.split_once('=')
    };
    r.with_context(|| format!("--{flag} {s:?}: expected the form with '='"))
}

fn script_from_args(a: &EditArgs) -> Result<Script> {
    let mut s = match &a.script {
        Some(p) => agar::edit::script::load_script(p)?,
        None => Script::default(),
    };
    for kv in &a.kv_set {
        let (k, v) = split("kv-set", kv, false)?;
        check_kv_key("--kv-set", k)?;
        s.ops.push(Op::KvSet {
            key: k.into(),
            value: v.into(),
            value_sha256: None,
        });
    }
    for kv in &a.kv_set_file {
        let (k, f) = split("kv-set-file", kv, false)?;
        check_kv_key("--kv-set-file", k)?;
        let (value, sha) = read_value_file("--kv-set-file", &PathBuf::from(f))?;
        s.ops.push(Op::KvSet {
            key: k.into(),
            value,
            value_sha256: Some(sha),
        });
    }
    if let Some(k) = &a.kv_set_stdin {
        check_kv_key("--kv-set-stdin", k)?;
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .context("reading the value from stdin")?;
        let (value, sha) = value_from_bytes("--kv-set-stdin", b)?;
        s.ops.push(Op::KvSet {
            key: k.clone(),
            value,
            value_sha256: Some(sha),
        });
    }
    for k in &a.kv_delete {
        check_kv_key("--kv-delete", k)?;
        s.ops.push(Op::KvDelete { key: k.clone() });
    }
    for p in &a.kv_delete_prefix {
        let (prefix, n) = split("kv-delete-prefix", p, true)?;
        check_kv_key("--kv-delete-prefix", prefix)?;
        let expect_count = n
            .parse()
            .with_context(|| format!("--kv-delete-prefix {p:?}: COUNT must be a number"))?;
        s.ops.push(Op::KvDeletePrefix {
            prefix: prefix.into(),
            expect_count,
        });
    }
    for g in &a.genesis_set {
        let (pointer, json) = split("genesis-set", g, false)?;
        let value =
            agar::genesis::parse_strict(&format!("--genesis-set {pointer}"), json.as_bytes())?;
        s.ops.push(Op::GenesisSet {
            pointer: pointer.into(),
            value,
        });
    }
    for p in &a.genesis_delete {
        s.ops.push(Op::GenesisDelete { pointer: p.clone() });
    }
    if let Some(c) = &a.chain_id {
        s.ops.push(Op::SetChainId(c.clone()));
    }
    if let Some(h) = a.initial_height {
        s.ops.push(Op::SetInitialHeight(h));
    }
    if let Some(t) = &a.genesis_time {
        s.ops.push(Op::SetGenesisTime(t.clone()));
    }
    for f in &a.bundle_add {
        s.ops
            .push(Op::BundleAdd(resolve_bundle("--bundle-add", f)?));
    }
    for r in &a.artifact_replace {
        let (name, f) = split("artifact-replace", r, false)?;
        s.ops.push(Op::ArtifactReplace(resolve_replacement(
            "--artifact-replace",
            name,
            &PathBuf::from(f),
        )?));
    }
    for f in &a.fund_account {
        let (addr, amount) = split("fund-account", f, false)?;
        s.ops.push(fund_account_op("--fund-account", addr, amount)?);
    }
    for g in &a.set_gov {
        let (name, value) = split("set-gov", g, false)?;
        s.ops.push(set_gov_op("--set-gov", name, value)?);
    }
    for r in &a.replace_validator {
        let (old, f) = split("replace-validator", r, false)?;
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {f}"))?;
        s.ops.push(replace_validator_op(
            "--replace-validator",
            old,
            &text,
            None,
        )?);
    }
    for r in &a.replace_account {
        let (old, new) = split("replace-account", r, false)?;
        s.ops
            .push(replace_account_op("--replace-account", old, new, None)?);
    }
    if let Some(d) = &a.set_unbonding_time {
        s.ops
            .push(set_unbonding_time_op("--set-unbonding-time", d)?);
    }
    if let Some(b) = &a.base {
        s.set_base(b)?;
    }
    Ok(s)
}

pub fn cmd_edit(a: EditArgs) -> Result<i32> {
    let compression = a.out.compression(&a.output)?;
    let script = script_from_args(&a)?;
    for op in &script.ops {
        if let Op::BundleAdd(f) = op {
            note(
                &a.common,
                &format!("bundle {} is {}", f.file.display(), f.record_hash),
            );
        }
    }
    let opts = EditOptions {
        compression,
        progress: !a.common.quiet,
        force: a.out.force,
    };
    let s = agar::edit::edit(&a.input, &a.output, &script, &opts)?;
    if a.common.json {
        print_json(&s)?;
        return Ok(exit::OK);
    }
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    println!("edited {} -> {}", a.input.display(), s.output);
    println!("changes:");
    for c in &s.changes {
        println!("  {c}");
    }
    println!("parent archive digest:        {}", s.parent);
    println!("edits sha256:                 {}", s.edits_sha256);
    println!("chain_id:                     {}", s.chain_id);
    println!("initial_height:               {}", s.initial_height);
    println!("genesis.json sha256:          {}", s.genesis_sha256);
    println!(
        "swing_store_export_data_hash: {}",
        s.swing_store_export_data_hash
    );
    println!("verified; archive digest (sha256 of the uncompressed tar):");
    println!("{}", s.digest);
    Ok(exit::OK)
}

#[derive(Args)]
pub struct DiffArgs {
    /// The old archive (or agd export directory).
    a: PathBuf,
    /// The new archive (or agd export directory).
    b: PathBuf,
    /// Most differences listed per section (counts are always complete).
    #[arg(long, default_value_t = 200)]
    limit: usize,
    #[command(flatten)]
    common: Common,
}

pub fn cmd_diff(a: DiffArgs) -> Result<i32> {
    let rep = agar::diff::diff(
        &a.a,
        &a.b,
        &agar::diff::DiffOptions {
            progress: !a.common.quiet,
            limit: a.limit,
        },
    )?;
    for n in &rep.notes {
        note(&a.common, n);
    }
    if a.common.json {
        print_json(&rep)?;
    } else {
        print_diff(&rep)?;
    }
    Ok(if rep.equal { exit::OK } else { exit::PROBLEMS })
}

fn print_diff(r: &agar::diff::DiffReport) -> Result<()> {
    let mut o = std::io::stdout().lock();
    if r.equal {
        writeln!(o, "no differences: {} and {} have the same archive manifest (member digests; run agar verify on each to check the bytes)", r.a, r.b)?;
        return Ok(());
    }
    writeln!(o, "--- {}\n+++ {}", r.a, r.b)?;
    if !r.manifest.is_empty() {
        writeln!(o, "archive manifest:")?;
        for f in &r.manifest {
            let c = |v: &serde_json::Value| agar::genesis::canonical_bytes(v);
            let (x, y) = (c(&f.a), c(&f.b));
            writeln!(
                o,
                "  {}: {} -> {}",
                f.field,
                String::from_utf8_lossy(&x[..x.len() - 1]),
                String::from_utf8_lossy(&y[..y.len() - 1])
            )?;
        }
    }
    let section =
        |o: &mut dyn Write, title: &str, s: &agar::diff::Section| -> std::io::Result<()> {
            if s.is_empty() {
                return Ok(());
            }
            writeln!(
                o,
                "{title}: {} added, {} removed, {} changed",
                s.added, s.removed, s.changed
            )?;
            for it in &s.items {
                match (&it.a, &it.b) {
                    (None, Some(b)) => writeln!(o, "  + {} = {b}", it.key)?,
                    (Some(a), None) => writeln!(o, "  - {} (was {a})", it.key)?,
                    (Some(a), Some(b)) => writeln!(o, "  ~ {}: {a} -> {b}", it.key)?,
                    (None, None) => {}
                }
            }
            if s.truncated {
                writeln!(o, "  … (more not listed; raise --limit or use --json)")?;
            }
            Ok(())
        };
    section(&mut o, "genesis.json", &r.genesis)?;
    section(&mut o, "kvStore", &r.kv)?;
    section(&mut o, "export-data records", &r.metadata)?;
    if r.export_manifest_changed {
        writeln!(o, "export-manifest.json differs")?;
    }
    if !r.artifacts.is_empty() {
        writeln!(o, "artifacts ({} differ):", r.artifacts.len())?;
        for c in &r.artifacts {
            match (&c.a, &c.b) {
                (None, Some(b)) => {
                    writeln!(o, "  + {} ({} bytes, sha256 {})", c.name, b.size, b.sha256)?
                }
                (Some(a), None) => {
                    writeln!(o, "  - {} ({} bytes, sha256 {})", c.name, a.size, a.sha256)?
                }
                (Some(a), Some(b)) => writeln!(
                    o,
                    "  ~ {}: sha256 {} -> {} ({} -> {} bytes)",
                    c.name, a.sha256, b.sha256, a.size, b.size
                )?,
                (None, None) => {}
            }
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum KvCmd {
    /// Print one kvStore value (exactly, followed by a newline).
    Get {
        archive: PathBuf,
        /// kvStore key, without the export-data "kv." prefix.
        key: String,
        #[command(flatten)]
        common: Common,
    },
    /// List kvStore keys and values (key TAB value; values with control characters or
    /// tabs are printed as JSON strings).
    List {
        archive: PathBuf,
        #[arg(long, default_value = "")]
        prefix: String,
        /// Keys only.
        #[arg(long)]
        keys: bool,
        #[command(flatten)]
        common: Common,
    },
}

fn plain(s: &str) -> String {
    if s.chars().any(char::is_control) || s.starts_with('"') || s.trim() != s || s.is_empty() {
        serde_json::to_string(s).unwrap_or_default()
    } else {
        s.to_string()
    }
}

pub fn cmd_kv(c: KvCmd) -> Result<i32> {
    match c {
        KvCmd::Get {
            archive,
            key,
            common,
        } => {
            let v = agar::kv::get(&archive, &key, !common.quiet)?;
            note(&common, agar::kv::NOT_VERIFIED_NOTE);
            if common.json {
                print_json(
                    &serde_json::json!({"key": key, "value": v, "found": v.is_some(), "artifacts_verified": false}),
                )?;
            }
            match v {
                Some(v) => {
                    if !common.json {
                        let mut o = std::io::stdout().lock();
                        o.write_all(v.as_bytes())?;
                        o.write_all(b"\n")?;
                    }
                    Ok(exit::OK)
                }
                None => {
                    if !common.json {
                        eprintln!("{}: no kvStore key {key:?}", archive.display());
                    }
                    Ok(exit::PROBLEMS)
                }
            }
        }
        KvCmd::List {
            archive,
            prefix,
            keys,
            common,
        } => {
            let mut o = std::io::BufWriter::new(std::io::stdout().lock());
            let mut n = 0u64;
            if common.json {
                writeln!(o, "[")?;
            }
            agar::kv::for_each(&archive, &prefix, !common.quiet, &mut |k, v| {
                let r = if common.json {
                    let sep = if n == 0 { "" } else { ",\n" };
                    let item = if keys {
                        serde_json::to_string(k).unwrap_or_default()
                    } else {
                        serde_json::json!({"key": k, "value": v}).to_string()
                    };
                    write!(o, "{sep}  {item}")
                } else if keys {
                    writeln!(o, "{}", plain(k))
                } else {
                    writeln!(o, "{}\t{}", plain(k), plain(v))
                };
                n += 1;
                r.map_err(|e| agar::Error::io("stdout", e))
            })?;
            if common.json {
                writeln!(o, "{}]", if n == 0 { "" } else { "\n" })?;
            }
            o.flush()?;
            note(
                &common,
                &format!("{n} keys; {}", agar::kv::NOT_VERIFIED_NOTE),
            );
            Ok(exit::OK)
        }
    }
}
