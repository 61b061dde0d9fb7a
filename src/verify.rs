//! `verify`, `digest` and `inspect`: read an archive through the closed-world reader
//! and report.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::Serialize;

use crate::archive::is_sha256_hex;
use crate::archive::reader::{ArchiveReader, NullSink, ReadOptions};
use crate::archive::writer::{ArchiveWriter, Pending, Written};
use crate::error::{Error, Result};
use crate::model::ArtifactName;

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub archive: String,
    /// "genesis archive" or "swing-store backup" (once the manifest is read).
    pub kind: Option<String>,
    pub ok: bool,
    /// Archive digest: SHA-256 of the uncompressed tar stream.
    pub digest: Option<String>,
    pub expected: Option<String>,
    pub genesis_sha256: Option<String>,
    pub swing_store_export_data_hash: Option<String>,
    pub chain_id: Option<String>,
    pub initial_height: Option<u64>,
    pub export_height: Option<u64>,
    pub artifact_mode: Option<String>,
    /// Where an edited archive came from (parent digest, edits hash); null for pack.
    pub provenance: Option<crate::archive::Provenance>,
    pub members: usize,
    pub compressed: bool,
    pub problems: Vec<String>,
}

/// Read the whole archive, collecting every problem. Structural errors (truncation,
/// unexpected members) end the read and are reported as the last problem.
pub fn verify(path: &Path, expect: Option<&str>, progress: bool) -> Result<VerifyReport> {
    let loc = path.display().to_string();
    verify_input(&loc, || crate::remote::open(path), expect, progress)
}

/// [`verify`] on an input opened by `open` (a file, a URL, a tee into a download).
pub fn verify_input(
    loc: &str,
    open: impl FnOnce() -> Result<crate::remote::Input>,
    expect: Option<&str>,
    progress: bool,
) -> Result<VerifyReport> {
    let opts = ReadOptions {
        fail_fast: false,
        progress,
        keep_genesis: false,
        skip_chain_check: false,
    };
    verify_with(loc, open, expect, opts)
}

/// [`verify_input`] with the reader's options.
fn verify_with(
    loc: &str,
    open: impl FnOnce() -> Result<crate::remote::Input>,
    expect: Option<&str>,
    opts: ReadOptions,
) -> Result<VerifyReport> {
    if let Some(e) = expect {
        if !is_sha256_hex(e) {
            return Err(Error::invalid(
                "--expect",
                format!("{e:?} is not a lowercase 64-hex SHA-256 digest"),
            ));
        }
    }
    let mut rep = VerifyReport {
        archive: loc.to_string(),
        kind: None,
        ok: false,
        digest: None,
        expected: expect.map(str::to_string),
        genesis_sha256: None,
        swing_store_export_data_hash: None,
        chain_id: None,
        initial_height: None,
        export_height: None,
        artifact_mode: None,
        provenance: None,
        members: 0,
        compressed: false,
        problems: Vec::new(),
    };
    let mut r = match open().and_then(|i| ArchiveReader::open_input(loc, i, opts)) {
        Ok(r) => r,
        Err(e @ (Error::Io { .. } | Error::IoAt { .. })) => return Err(e),
        Err(e) => {
            rep.problems.push(e.to_string());
            return Ok(rep);
        }
    };
    rep.compressed = r.compressed;
    rep.members = r.manifest.members.len() + 1;
    rep.kind = Some(r.manifest.kind().to_string());
    rep.genesis_sha256 = r.manifest.genesis_member().map(|m| m.sha256.hex());
    rep.swing_store_export_data_hash = Some(r.manifest.swing_store_export_data_hash.clone());
    if !r.manifest.is_backup() {
        rep.chain_id = Some(r.manifest.chain_id.clone());
        rep.initial_height = Some(r.manifest.initial_height);
    }
    rep.export_height = Some(r.manifest.export_height);
    rep.provenance = r.manifest.provenance.clone();
    rep.artifact_mode = Some(r.manifest.artifact_mode.clone());
    // a genesis_time agd refuses: a problem of the archive, the reading goes on
    if let Some(p) = r.genesis.genesis_time_problem() {
        rep.problems
            .push(format!("{loc}: member genesis.json: {p}"));
    }
    let body = r
        .read_export_data(&mut |_, _| Ok(()))
        .map(|_| ())
        .and_then(|_| r.read_artifacts(&mut NullSink));
    if let Err(e) = body {
        if is_io(&e) {
            return Err(e);
        }
        rep.problems.append(&mut r.problems);
        rep.problems.push(e.to_string());
        return Ok(rep);
    }
    let chain = r.consistency.take().unwrap_or_default();
    match r.finish() {
        Ok(res) => {
            rep.problems.extend(res.problems);
            rep.problems.extend(chain_problems(&chain));
            if let Some(e) = expect {
                if e != res.digest {
                    rep.problems.push(format!(
                        "{}: archive digest is {}, but --expect says {e}",
                        rep.archive, res.digest
                    ));
                }
            }
            rep.digest = Some(res.digest);
        }
        Err(e) if is_io(&e) => return Err(e),
        Err(e) => rep.problems.push(e.to_string()),
    }
    rep.ok = rep.problems.is_empty();
    Ok(rep)
}

/// A disk or OS failure while reading: an error of the run (exit 2), not a problem of
/// the archive.
fn is_io(e: &Error) -> bool {
    matches!(e, Error::Io { .. } | Error::IoAt { .. })
}

/// Verify a finished archive still in its temp file as `agar verify` would, bar the
/// chain-state check (`READ_BACK`; its digest must be the one the writer computed while
/// writing), and only then move it into place: the report of `read_back` where one
/// followed the writing, else a read of the file now. A bug that writes a non-canonical
/// archive fails here, the temp file is removed and whatever was at the output path
/// before is untouched. `what` names the archive in the message ("packed", "edited").
/// Output to stdout cannot be read back and is not verified.
pub fn persist_verified(
    pending: Pending,
    output: &Path,
    what: &str,
    read_back: Option<ReadBack>,
) -> Result<Written> {
    if let Some(tmp) = pending.temp_path() {
        let mut rep = match read_back {
            Some(rb) => rb.finish()?,
            None => {
                let loc = tmp.display().to_string();
                verify_with(&loc, || crate::remote::open(tmp), None, READ_BACK)?
            }
        };
        let digest = &pending.written.digest;
        match &rep.digest {
            Some(d) if d != digest => rep.problems.push(format!(
                "it reads back with the digest {d}, but {digest} was written"
            )),
            _ => {}
        }
        if !rep.problems.is_empty() {
            return Err(Error::invalid(
                output.display().to_string(),
                format!(
                    "the {what} archive failed verification, so it was discarded and nothing was written (this is a bug in agar; please report it): {}",
                    rep.problems.join("; ")
                ),
            ));
        }
    }
    pending.persist()
}

/// What a read-back checks: everything verify does but the chain state, whose problems
/// are the input genesis's own (pack copies it as exported; verify reports them on the
/// archive), not a writing bug.
const READ_BACK: ReadOptions = ReadOptions {
    fail_fast: false,
    progress: false,
    keep_genesis: false,
    skip_chain_check: true,
};

/// The verification of an archive while it is being written, on its own thread, from
/// the file ([`ArchiveWriter::tail_reader`]): it costs no wall time where a core is
/// free, where reading it back afterwards costs a second pass.
pub struct ReadBack(std::thread::JoinHandle<Result<VerifyReport>>);

impl ReadBack {
    /// Start following `w`'s output; None where it cannot be followed (stdout, or a
    /// `.tar.gz` whose index is written last: [`persist_verified`] reads it afterwards).
    pub fn start(w: &ArchiveWriter, loc: &str) -> Result<Option<ReadBack>> {
        let Some(r) = w.tail_reader()? else {
            return Ok(None);
        };
        let loc = loc.to_string();
        let h = std::thread::Builder::new()
            .name("read-back".into())
            .spawn(move || {
                let input = crate::remote::Input {
                    reader: Box::new(r),
                    len: None,
                    regular_file: false,
                };
                verify_with(&loc, || Ok(input), None, READ_BACK)
            })
            .map_err(|e| Error::io_at("starting the read-back thread", e))?;
        Ok(Some(ReadBack(h)))
    }

    fn finish(self) -> Result<VerifyReport> {
        self.0.join().unwrap_or_else(|_| {
            Err(Error::io_at(
                "the read-back thread",
                io::Error::other("it panicked"),
            ))
        })
    }
}

/// How verify prefixes a chain-state consistency problem.
pub const CHAIN_PROBLEM_PREFIX: &str = "genesis.json: chain state: ";

/// The chain-state consistency problems as verify lists them.
pub fn chain_problems(c: &crate::chain::check::Report) -> Vec<String> {
    c.problems
        .iter()
        .map(|p| format!("{CHAIN_PROBLEM_PREFIX}{p}"))
        .collect()
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct KindStats {
    pub count: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VatInfo {
    pub vat: String,
    pub current_span: Option<String>,
    pub incarnation: Option<u64>,
    pub spans_recorded: usize,
    pub span_artifacts: Vec<String>,
    pub snapshots_recorded: usize,
    pub snapshot_in_use: Option<String>,
    pub snapshot_artifacts: Vec<String>,
    pub terminated: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    pub archive: String,
    /// "genesis archive" or "swing-store backup" (chain_id, initial_height and the
    /// genesis fields are then empty, export_height is the DB's host.height).
    pub kind: String,
    pub compressed: bool,
    /// "tar", "gzip" or "zstd" (from the magic bytes).
    pub compression: &'static str,
    pub file_bytes: u64,
    pub chain_id: String,
    pub initial_height: u64,
    pub export_height: u64,
    pub genesis_time: Option<String>,
    pub artifact_mode: String,
    pub swing_store_export_data_hash: String,
    /// Empty for a swing-store backup (no genesis): null in JSON.
    #[serde(serialize_with = "empty_as_null")]
    pub genesis_sha256: String,
    pub genesis_bytes: u64,
    pub export_data_entries: u64,
    pub export_data_bytes: u64,
    pub kv_entries: u64,
    /// `artifacts_by_kind` in JSON (`artifacts` is a count in every command's JSON).
    #[serde(rename = "artifacts_by_kind")]
    pub artifacts: BTreeMap<String, KindStats>,
    pub vats: Vec<VatInfo>,
    pub bundles: Vec<String>,
    pub provenance: Option<crate::archive::Provenance>,
    /// The chain-state consistency check of genesis.json (its problems are also listed
    /// under `problems`).
    pub consistency: crate::chain::check::Report,
    /// Whether artifact members were read and verified (`--verify`).
    pub artifacts_verified: bool,
    pub digest: Option<String>,
    pub problems: Vec<String>,
}

/// Summarise an archive. Reads and checks the manifest, genesis and export data; with
/// `full`, also every artifact (and then knows the digest).
pub fn inspect(path: &Path, full: bool, progress: bool) -> Result<InspectReport> {
    let mut r = ArchiveReader::open(
        path,
        ReadOptions {
            fail_fast: true,
            progress,
            keep_genesis: false,
            skip_chain_check: false,
        },
    )?;
    let mut kv = 0u64;
    r.read_export_data(&mut |e, _| {
        if e.key.starts_with("kv.") {
            kv += 1;
        }
        Ok(())
    })?;
    let meta = r.meta.clone().unwrap_or_default();
    let m = r.manifest.clone();
    let mut artifacts: BTreeMap<String, KindStats> = BTreeMap::new();
    let mut by_vat: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for (name, mem) in m.artifacts() {
        let parsed = ArtifactName::parse(name).map_err(|e| Error::invalid(&r.path, e))?;
        let s = artifacts.entry(parsed.kind().to_string()).or_default();
        s.count += 1;
        s.bytes += mem.size;
        match parsed {
            ArtifactName::Transcript { vat, .. } => {
                by_vat.entry(vat).or_default().0.push(name.to_string())
            }
            ArtifactName::Snapshot { vat, .. } => {
                by_vat.entry(vat).or_default().1.push(name.to_string())
            }
            ArtifactName::Bundle { .. } => {}
        }
    }
    let mut vat_ids: std::collections::BTreeSet<String> =
        meta.spans.keys().map(|(v, _)| v.clone()).collect();
    vat_ids.extend(meta.snapshots.keys().map(|(v, _)| v.clone()));
    let vats = vat_ids
        .into_iter()
        .map(|vat| {
            let cur = meta.current_span(&vat);
            let (spans, snaps) = by_vat.remove(&vat).unwrap_or_default();
            VatInfo {
                current_span: cur.map(|c| format!("{}..{}", c.start_pos, c.end_pos)),
                incarnation: cur.map(|c| c.incarnation),
                spans_recorded: meta.spans_of(&vat),
                span_artifacts: spans,
                snapshots_recorded: meta.snapshots_of(&vat),
                snapshot_in_use: meta
                    .current_snapshot
                    .get(&vat)
                    .map(|p| format!("snapshot.{vat}.{p}")),
                snapshot_artifacts: snaps,
                terminated: cur.is_none(),
                vat,
            }
        })
        .collect();
    let genesis_time = r.genesis.genesis_time().map(str::to_string);
    let time_problem = r.genesis.genesis_time_problem();
    let consistency = r.consistency.take().unwrap_or_default();
    let (compressed, file_bytes, compression) = (r.compressed, r.file_bytes, r.format.name());
    let (digest, mut problems, verified) = if full {
        r.read_artifacts(&mut NullSink)?;
        let res = r.finish()?;
        (Some(res.digest), res.problems, true)
    } else {
        (None, std::mem::take(&mut r.problems), false)
    };
    problems.extend(chain_problems(&consistency));
    if let Some(p) = time_problem {
        problems.push(format!("{}: member genesis.json: {p}", path.display()));
    }
    Ok(InspectReport {
        archive: path.display().to_string(),
        kind: m.kind().to_string(),
        compressed,
        compression,
        file_bytes,
        chain_id: m.chain_id.clone(),
        initial_height: m.initial_height,
        export_height: m.export_height,
        genesis_time,
        artifact_mode: m.artifact_mode.clone(),
        swing_store_export_data_hash: m.swing_store_export_data_hash.clone(),
        genesis_sha256: m
            .genesis_member()
            .map(|g| g.sha256.hex())
            .unwrap_or_default(),
        genesis_bytes: m.genesis_member().map_or(0, |g| g.size),
        export_data_entries: m.export_data_entries,
        export_data_bytes: m.export_data_member().size,
        kv_entries: kv,
        artifacts,
        vats,
        bundles: meta.bundles.iter().cloned().collect(),
        provenance: m.provenance.clone(),
        consistency,
        artifacts_verified: verified,
        digest,
        problems,
    })
}

fn empty_as_null<S: serde::Serializer>(v: &str, s: S) -> std::result::Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        s.serialize_str(v)
    }
}
