//! The `agar` command line: a thin layer over the library. Exit codes: see README.md.

mod cli;
use cli::edit as cli_edit;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use agar::archive::writer::Compression;
use agar::dbexport::DbExport;
use agar::error::exit;
use agar::exportdir::ExportDir;
use agar::genesis::CanonicalGenesis;
use agar::model::ArtifactMode;
use agar::pack::{PackOptions, PackSummary};
use agar::source::StateSource;

#[derive(Parser)]
#[command(
    name = "agar",
    version,
    about = "Agoric genesis archive: pack, verify, inspect, edit and explode swing-store genesis exports"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Common {
    /// Print one JSON object instead of human-readable text.
    #[arg(long, global = true)]
    json: bool,
    /// No progress bars or notes on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Pack an agd export (genesis.json + swing-store/) into one canonical archive and
    /// print its digest.
    Pack(PackArgs),
    /// Check everything an archive guarantees; exit 0 only if all holds.
    Verify {
        archive: PathBuf,
        /// The archive digest you were told (64 hex); verification fails if it differs.
        #[arg(long)]
        expect: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Print the archive digest, the genesis.json member SHA-256 and the export-data hash.
    Digest {
        archive: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Rebuild a node home from an archive: config/genesis.json, config/swing-store/ and
    /// data/agoric/swingstore.sqlite (what the official importer would build).
    Explode(ExplodeArgs),
    /// Print the canonical text dump of a swing-store DB (the oracle's format), for
    /// diffing two DBs.
    Dump(DumpArgs),
    /// Summarise an archive: chain, heights, mode, artifacts, vats, bundles.
    Inspect {
        archive: PathBuf,
        /// Also read and verify every artifact (and print the archive digest).
        #[arg(long)]
        verify: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Apply replayable edits (kvStore, genesis, artifacts) and recompute every dependent
    /// hash; print the new digest last. See EDITING.md.
    Edit(Box<cli_edit::EditArgs>),
    /// Compare two archives (or an archive and an agd export directory). Exit 0 equal,
    /// 1 different, 2 usage/IO error, 3 bad input.
    Diff(cli_edit::DiffArgs),
    /// Read kvStore values from an archive.
    #[command(subcommand)]
    Kv(cli_edit::KvCmd),
}

#[derive(Args)]
struct PackArgs {
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
    /// Output: NAME.tar, NAME.tar.gz / NAME.tgz, or - for an uncompressed tar on stdout.
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

/// How an archive is written (pack, edit).
#[derive(Args, Clone, Copy)]
pub struct OutputArgs {
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// gzip level for .tar.gz output (the digest does not depend on it).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub gzip_level: u32,
    /// Compression threads (default: all cores). Output bytes do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}

impl OutputArgs {
    /// The compression an output name asks for.
    pub fn compression(&self, output: &Path) -> Result<Compression> {
        Compression::from_name(output, self.gzip_level, threads(self.threads)).with_context(|| {
            format!(
                "{}: output name must end in .tar, .tar.gz or .tgz (or be - for stdout)",
                output.display()
            )
        })
    }
}

#[derive(Args)]
struct ExplodeArgs {
    /// The archive (.tar or .tar.gz).
    archive: PathBuf,
    /// The node home to write into (default: $HOME/.agoric).
    #[arg(long)]
    home: Option<PathBuf>,
    /// Artifact mode of the DB: operational, replay, archival or debug (default: the
    /// archive's mode; a mode stronger than the archive's is refused).
    #[arg(long)]
    artifact_mode: Option<agar::model::ArtifactMode>,
    /// Replace the targets (genesis.json, swing-store/, swingstore.sqlite and its
    /// -wal/-shm/-journal) if they exist. Nothing else is touched.
    #[arg(long)]
    force: bool,
    /// Write only config/ (genesis.json and swing-store/), no DB.
    #[arg(long)]
    no_db: bool,
    /// The agreed archive digest (64 hex): refuse, writing nothing, if the archive's differs.
    #[arg(long, value_name = "DIGEST")]
    expect: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct DumpArgs {
    /// A swing-store directory (holding swingstore.sqlite) or the DB file.
    db: PathBuf,
    /// Write the dump here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace strings longer than N UTF-16 units by "sha256:<hex> len=<bytes>".
    #[arg(long, default_value_t = 0)]
    hash_long: usize,
    /// Also print compressedSize and the gzip blob's SHA-256 of snapshots.
    #[arg(long)]
    include_compressed: bool,
    /// Leave out the schema section.
    #[arg(long)]
    no_schema: bool,
}

fn parse_mode(s: &str) -> std::result::Result<ArtifactMode, String> {
    s.parse()
}

fn threads(n: Option<usize>) -> usize {
    n.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
    .max(1)
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn note(common: &Common, msg: &str) {
    if !common.quiet {
        eprintln!("note: {msg}");
    }
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

fn cmd_pack(a: PackArgs) -> Result<i32> {
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
    let genesis = CanonicalGenesis::from_path(&genesis_path)?;
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
            let res = agar::pack::pack(genesis, &mut source, dest, &opts);
            if res.is_ok() {
                if let Err(e) = source.ensure_unchanged() {
                    // the archive was written from a DB that something else opened
                    if let Some(out) = dest {
                        let _ = std::fs::remove_file(out);
                    }
                    return Err(e.into());
                }
            }
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
            s.output.as_deref().unwrap_or("stdout")
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
            eprintln!("{l}");
        } else {
            println!("{l}");
        }
    }
    Ok(())
}

fn cmd_verify(archive: &Path, expect: Option<&str>, common: &Common) -> Result<i32> {
    let rep = agar::verify::verify(archive, expect, !common.quiet)?;
    if common.json {
        print_json(&rep)?;
    } else {
        for p in &rep.problems {
            println!("FAIL {p}");
        }
        if rep.ok {
            println!("OK {}: {} members verified", rep.archive, rep.members);
            if let Some(d) = &rep.digest {
                println!("archive digest: {d}");
            }
        } else {
            println!(
                "{}: {} problem(s); do not use this archive",
                rep.archive,
                rep.problems.len()
            );
        }
    }
    Ok(if rep.ok { exit::OK } else { exit::PROBLEMS })
}

fn cmd_digest(archive: &Path, common: &Common) -> Result<i32> {
    let rep = agar::verify::verify(archive, None, !common.quiet)?;
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
            eprintln!("FAIL {p}");
        }
        if let (Some(g), Some(h)) = (&rep.genesis_sha256, &rep.swing_store_export_data_hash) {
            println!("genesis.json sha256:          {g}");
            println!("swing_store_export_data_hash: {h}");
        }
        if let Some(d) = &rep.digest {
            println!("archive digest:               {d}");
        }
    }
    Ok(if rep.ok { exit::OK } else { exit::PROBLEMS })
}

fn cmd_inspect(archive: &Path, full: bool, common: &Common) -> Result<i32> {
    let r = agar::verify::inspect(archive, full, !common.quiet)?;
    if common.json {
        print_json(&r)?;
    } else {
        println!(
            "archive:        {} ({} bytes{})",
            r.archive,
            r.file_bytes,
            if r.compressed { ", gzip" } else { "" }
        );
        println!("chain_id:       {}", r.chain_id);
        println!("initial_height: {}", r.initial_height);
        println!("export height:  {}", r.export_height);
        if let Some(t) = &r.genesis_time {
            println!("genesis_time:   {t}");
        }
        println!("artifact mode:  {}", r.artifact_mode);
        println!(
            "genesis.json:   {} bytes, sha256 {}",
            r.genesis_bytes, r.genesis_sha256
        );
        println!(
            "export data:    {} entries ({} kv), {} bytes, {}",
            r.export_data_entries,
            r.kv_entries,
            r.export_data_bytes,
            r.swing_store_export_data_hash
        );
        for (k, s) in &r.artifacts {
            println!(
                "{:<15} {} artifacts, {} bytes",
                format!("{k}s:"),
                s.count,
                s.bytes
            );
        }
        println!("vats:");
        for v in &r.vats {
            println!(
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
        println!("bundles:");
        for b in &r.bundles {
            println!("  {b}");
        }
        if !r.consistency.checked.is_empty() {
            println!("chain state:");
            for c in &r.consistency.checked {
                println!("  {c}");
            }
        }
        if let Some(p) = &r.provenance {
            println!(
                "edited from:    {} (edits sha256 {})",
                p.parent, p.edits_sha256
            );
        }
        match &r.digest {
            Some(d) => println!("archive digest: {d}"),
            None => println!(
                "(artifact members not read; `agar verify` checks them and prints the digest)"
            ),
        }
        for p in &r.problems {
            println!("FAIL {p}");
        }
    }
    Ok(if r.problems.is_empty() {
        exit::OK
    } else {
        exit::PROBLEMS
    })
}

fn cmd_explode(a: ExplodeArgs) -> Result<i32> {
    let home = match a.home {
        Some(h) => h,
        None => PathBuf::from(
            std::env::var_os("HOME").context("--home not given and $HOME is not set")?,
        )
        .join(".agoric"),
    };
    if let Some(e) = &a.expect {
        anyhow::ensure!(
            agar::archive::is_sha256_hex(e),
            "--expect {e:?} is not a lowercase 64-hex archive digest"
        );
    }
    let opts = agar::explode::ExplodeOptions {
        archive: a.archive,
        home,
        mode: a.artifact_mode,
        force: a.force,
        no_db: a.no_db,
        progress: !a.common.quiet,
        expect: a.expect.clone(),
    };
    let s = agar::explode::explode(&opts)?;
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    if a.common.json {
        print_json(&s)?;
        return Ok(exit::OK);
    }
    println!("exploded {} into {}", s.archive, s.home);
    println!("archive digest:  {}", s.digest);
    println!(
        "chain_id:        {} (initial_height {}, state exported at {}, archive mode {})",
        s.chain_id, s.initial_height, s.export_height, s.archive_artifact_mode
    );
    println!(
        "wrote {}  {} bytes  sha256 {}",
        s.genesis.path, s.genesis.bytes, s.genesis.sha256
    );
    println!(
        "wrote {}/  {} files ({} artifacts), {} bytes, export data {}",
        s.swing_store.path,
        s.swing_store.files,
        s.swing_store.artifacts,
        s.swing_store.bytes,
        s.swing_store.export_data_hash
    );
    match &s.db {
        Some(d) => {
            println!("wrote {}  {} bytes  sha256 {}", d.path, d.bytes, d.sha256);
            println!(
                "      mode {}, host.height {}, {} kv rows, {} spans, {} items, {} snapshots ({} with data), {} bundles",
                d.import.artifact_mode,
                d.import.host_height,
                d.import.kv_rows,
                d.import.transcript_spans,
                d.import.transcript_items,
                d.import.snapshots,
                d.import.snapshot_blobs,
                d.import.bundles
            );
        }
        None => println!("no DB written (--no-db)"),
    }
    for r in &s.replaced {
        println!("replaced {r}");
    }
    for r in &s.removed_stale {
        note(
            &a.common,
            &format!("removed stale temp dir of an interrupted run: {r}"),
        );
    }
    Ok(exit::OK)
}

fn cmd_dump(a: DumpArgs) -> Result<i32> {
    let opts = agar::dump::DumpOptions {
        hash_long: a.hash_long,
        include_compressed: a.include_compressed,
        schema: !a.no_schema,
    };
    match &a.out {
        Some(p) => {
            let f =
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            let mut w = std::io::BufWriter::new(f);
            agar::dump::dump(&a.db, &mut w, opts)?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            agar::dump::dump(&a.db, &mut w, opts)?;
        }
    }
    Ok(exit::OK)
}

fn run(cli: Cli) -> Result<i32> {
    match cli.cmd {
        Cmd::Pack(a) => cmd_pack(a),
        Cmd::Verify {
            archive,
            expect,
            common,
        } => cmd_verify(&archive, expect.as_deref(), &common),
        Cmd::Digest { archive, common } => cmd_digest(&archive, &common),
        Cmd::Explode(a) => cmd_explode(a),
        Cmd::Dump(a) => cmd_dump(a),
        Cmd::Inspect {
            archive,
            verify,
            common,
        } => cmd_inspect(&archive, verify, &common),
        Cmd::Edit(a) => cli_edit::cmd_edit(*a),
        Cmd::Diff(a) => cli_edit::cmd_diff(a),
        Cmd::Kv(c) => cli_edit::cmd_kv(c),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            let code = e
                .chain()
                .find_map(|c| c.downcast_ref::<agar::Error>())
                .map_or(exit::USAGE, |e| e.exit_code());
            ExitCode::from(code as u8)
        }
    }
}
