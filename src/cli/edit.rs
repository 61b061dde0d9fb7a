//! `agar edit`: replayable edits of an archive (see EDITING.md).

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use agar::edit::script::{
    check_kv_key, check_new_kv_key, fund_account_op, read_value_file, replace_account_op,
    replace_validator_op, resolve_bundle, resolve_replacement, set_gov_op, set_unbonding_time_op,
    value_from_bytes,
};
use agar::edit::{EditOptions, Op, Script};
use agar::error::exit;

use super::{note, print_json, Common, OutputArgs};

#[derive(Args)]
pub struct EditArgs {
    /// The input archive.
    input: PathBuf,
    /// Output archive: NAME.tar, NAME.tar.gz / NAME.tgz or NAME.tar.zst / NAME.tzst.
    #[arg(long, short)]
    output: PathBuf,
    /// An edit script (JSON, schemas/edit-script.schema.json). Its ops run first, then the
    /// flags below in the order they are listed here.
    #[arg(long)]
    script: Option<PathBuf>,
    /// A directory whose files the script's file references (value_file, bundle and
    /// artifact files) may also name; by default they must lie inside the script's own
    /// directory. Repeatable.
    #[arg(long, value_name = "DIR", requires = "script")]
    allow_files_in: Vec<PathBuf>,
    /// Refuse unless the input archive's digest is this (also settable in the script;
    /// 64 hex, `sha256:` prefix optional).
    #[arg(long, value_name = "DIGEST", value_parser = super::parse_digest)]
    base: Option<String>,
    /// kv-set: KEY=VALUE, change an existing key (kvStore key, without the export-data
    /// "kv." prefix; a missing key is refused). Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    kv_set: Vec<String>,
    /// kv-set with the value read from a file, byte for byte: KEY=FILE. Repeatable.
    #[arg(long, value_name = "KEY=FILE")]
    kv_set_file: Vec<String>,
    /// kv-add: KEY=VALUE, create a new key (an existing key is refused). Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    kv_add: Vec<String>,
    /// kv-add with the value read from a file, byte for byte: KEY=FILE. Repeatable.
    #[arg(long, value_name = "KEY=FILE")]
    kv_add_file: Vec<String>,
    /// kv-set with the value read from stdin, byte for byte.
    #[arg(long, value_name = "KEY", conflicts_with = "kv_add_stdin")]
    kv_set_stdin: Option<String>,
    /// kv-add with the value read from stdin, byte for byte.
    #[arg(long, value_name = "KEY")]
    kv_add_stdin: Option<String>,
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
    #[arg(long, value_parser = parse_chain_id)]
    chain_id: Option<String>,
    /// set-initial-height (also the export manifest's blockHeight; 1 .. 2^53-1).
    #[arg(long, value_parser = parse_initial_height)]
    initial_height: Option<u64>,
    /// set-genesis-time (RFC 3339).
    #[arg(long, value_parser = parse_genesis_time)]
    genesis_time: Option<String>,
    /// bundle-add: a bundle file, b0 JSON, b1 zip, or the endoZipBase64 JSON of
    /// bundle-source and proposals (its endoZipBase64Sha512 checked); its ID is computed and
    /// printed.
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

fn parse_chain_id(s: &str) -> Result<String, String> {
    agar::edit::check_chain_id(s).map(|_| s.to_string())
}

fn parse_initial_height(s: &str) -> Result<u64, String> {
    let h: u64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a block height (1 .. 2^53-1)"))?;
    if h == 0 {
        return Err("0 is not a block height (1 .. 2^53-1)".into());
    }
    match agar::model::height_problem("initial height", h) {
        Some(why) => Err(why),
        None => Ok(h),
    }
}

fn parse_genesis_time(s: &str) -> Result<String, String> {
    agar::edit::check_genesis_time(s).map(|_| s.to_string())
}

fn split<'a>(flag: &str, s: &'a str, last: bool) -> Result<(&'a str, &'a str)> {
    let r = if last {
        s.rsplit_once('=')
    } else {
        s.split_once('=')
    };
    r.with_context(|| format!("--{flag} {s:?}: expected the form with '='"))
}

/// The key-value edits of the command line, in flag order: `--kv-set`, `--kv-set-file`,
/// `--kv-add`, `--kv-add-file`, the stdin values, `--kv-delete`, `--kv-delete-prefix`.
fn kv_ops(a: &EditArgs, ops: &mut Vec<Op>) -> Result<()> {
    for (flag, list, file_flag, file_list, add) in [
        ("kv-set", &a.kv_set, "kv-set-file", &a.kv_set_file, false),
        ("kv-add", &a.kv_add, "kv-add-file", &a.kv_add_file, true),
    ] {
        for kv in list {
            let (k, v) = split(flag, kv, false)?;
            check_kv_key(&format!("--{flag}"), k)?;
            if add {
                check_new_kv_key(&format!("--{flag}"), k)?;
            }
            ops.push(Op::KvSet {
                key: k.into(),
                value: v.into(),
                value_sha256: None,
                add,
            });
        }
        for kv in file_list {
            let (k, f) = split(file_flag, kv, false)?;
            let loc = format!("--{file_flag}");
            check_kv_key(&loc, k)?;
            if add {
                check_new_kv_key(&loc, k)?;
            }
            let (value, sha) = read_value_file(&loc, &PathBuf::from(f))?;
            ops.push(Op::KvSet {
                key: k.into(),
                value,
                value_sha256: Some(sha),
                add,
            });
        }
    }
    for (flag, key, add) in [
        ("--kv-set-stdin", &a.kv_set_stdin, false),
        ("--kv-add-stdin", &a.kv_add_stdin, true),
    ] {
        let Some(k) = key else { continue };
        check_kv_key(flag, k)?;
        if add {
            check_new_kv_key(flag, k)?;
        }
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .context("reading the value from stdin")?;
        let (value, sha) = value_from_bytes(flag, b)?;
        ops.push(Op::KvSet {
            key: k.clone(),
            value,
            value_sha256: Some(sha),
            add,
        });
    }
    for k in &a.kv_delete {
        check_kv_key("--kv-delete", k)?;
        ops.push(Op::KvDelete { key: k.clone() });
    }
    for p in &a.kv_delete_prefix {
        let (prefix, n) = split("kv-delete-prefix", p, true)?;
        check_kv_key("--kv-delete-prefix", prefix)?;
        let expect_count = n
            .parse()
            .with_context(|| format!("--kv-delete-prefix {p:?}: COUNT must be a number"))?;
        ops.push(Op::KvDeletePrefix {
            prefix: prefix.into(),
            expect_count,
        });
    }
    Ok(())
}

/// The chain-state edits of the command line (issue 17).
fn chain_ops(a: &EditArgs, ops: &mut Vec<Op>) -> Result<()> {
    for f in &a.fund_account {
        let (addr, amount) = split("fund-account", f, false)?;
        ops.push(fund_account_op("--fund-account", addr, amount)?);
    }
    for g in &a.set_gov {
        let (name, value) = split("set-gov", g, false)?;
        ops.push(set_gov_op("--set-gov", name, value)?);
    }
    for r in &a.replace_validator {
        let (old, f) = split("replace-validator", r, false)?;
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {f}"))?;
        ops.push(replace_validator_op(
            "--replace-validator",
            old,
            &text,
            None,
        )?);
    }
    for r in &a.replace_account {
        let (old, new) = split("replace-account", r, false)?;
        ops.push(replace_account_op("--replace-account", old, new, None)?);
    }
    if let Some(d) = &a.set_unbonding_time {
        ops.push(set_unbonding_time_op("--set-unbonding-time", d)?);
    }
    Ok(())
}

fn script_from_args(a: &EditArgs) -> Result<Script> {
    let mut s = match &a.script {
        Some(p) => agar::edit::script::load_script_with(p, &a.allow_files_in)?,
        None => Script::default(),
    };
    kv_ops(a, &mut s.ops)?;
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
    chain_ops(a, &mut s.ops)?;
    if let Some(b) = &a.base {
        s.set_base(b)?;
    }
    Ok(s)
}

pub fn run(a: EditArgs) -> Result<i32> {
    anyhow::ensure!(
        a.input.as_os_str() != "-",
        "edit reads its input archive twice (check, then rewrite), so it cannot come from stdin; save it to a file first"
    );
    let compression = a.out.compression(&a.output)?;
    let script = script_from_args(&a)?;
    anyhow::ensure!(
        !script.ops.is_empty(),
        "no edits given: use --script FILE or edit flags (see agar edit --help)"
    );
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
        say_err!("warning: {w}");
    }
    say!("edited {} -> {}", a.input.display(), s.output);
    say!("changes:");
    for c in &s.changes {
        say!("  {c}");
    }
    say!("parent archive digest:        {}", s.parent);
    say!("edits sha256:                 {}", s.edits_sha256);
    say!("chain_id:                     {}", s.chain_id);
    say!("initial_height:               {}", s.initial_height);
    say!("genesis.json sha256:          {}", s.genesis_sha256);
    say!(
        "swing_store_export_data_hash: {}",
        s.swing_store_export_data_hash
    );
    say!("verified; archive digest (sha256 of the uncompressed tar):");
    say!("{}", s.digest);
    Ok(exit::OK)
}
