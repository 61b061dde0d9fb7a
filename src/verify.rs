//! `verify`, `digest` and `inspect`: read an archive through the closed-world reader
//! and report.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::archive::is_sha256_hex;
use crate::archive::reader::{ArchiveReader, NullSink, ReadOptions};
use crate::error::{Error, Result};
use crate::model::ArtifactName;

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub archive: String,
    pub ok: bool,
    /// Archive digest: SHA-256 of the uncompressed tar stream.
    pub digest: Option<String>,
    pub expected: Option<String>,
    pub genesis_sha256: Option<String>,
    pub swing_store_export_data_hash: Option<String>,
    pub chain_id: Option<String>,
    pub initial_height: Option<u64>,
    pub artifact_mode: Option<String>,
    pub members: usize,
    pub compressed: bool,
    pub problems: Vec<String>,
}

/// Read the whole archive, collecting every problem. Structural errors (truncation,
/// unexpected members) end the read and are reported as the last problem.
pub fn verify(path: &Path, expect: Option<&str>, progress: bool) -> Result<VerifyReport> {
    if let Some(e) = expect {
        if !is_sha256_hex(e) {
            return Err(Error::invalid(
                "--expect",
                format!("{e:?} is not a lowercase 64-hex SHA-256 digest"),
            ));
        }
    }
    let mut rep = VerifyReport {
        archive: path.display().to_string(),
        ok: false,
        digest: None,
        expected: expect.map(str::to_string),
        genesis_sha256: None,
        swing_store_export_data_hash: None,
        chain_id: None,
        initial_height: None,
        artifact_mode: None,
        members: 0,
        compressed: false,
        problems: Vec::new(),
    };
    let opts = ReadOptions {
        fail_fast: false,
        progress,
        keep_genesis: false,
    };
    let mut r = match ArchiveReader::open(path, opts) {
        Ok(r) => r,
        Err(e @ Error::Io { .. }) => return Err(e),
        Err(e) => {
            rep.problems.push(e.to_string());
            return Ok(rep);
        }
    };
    rep.compressed = r.compressed;
    rep.members = r.manifest.members.len() + 1;
    rep.genesis_sha256 = Some(r.manifest.members[0].sha256.clone());
    rep.swing_store_export_data_hash = Some(r.manifest.swing_store_export_data_hash.clone());
    rep.chain_id = Some(r.manifest.chain_id.clone());
    rep.initial_height = Some(r.manifest.initial_height);
    rep.artifact_mode = Some(r.manifest.artifact_mode.clone());
    let body = r
        .read_export_data(&mut |_, _| Ok(()))
        .map(|_| ())
        .and_then(|_| r.read_artifacts(&mut NullSink));
    if let Err(e) = body {
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
        Err(e) => rep.problems.push(e.to_string()),
    }
    rep.ok = rep.problems.is_empty();
    Ok(rep)
}

/// The chain-state consistency problems as verify lists them.
pub fn chain_problems(c: &crate::chain::check::Report) -> Vec<String> {
    c.problems
        .iter()
        .map(|p| format!("genesis.json: chain state: {p}"))
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
    pub compressed: bool,
    pub file_bytes: u64,
    pub chain_id: String,
    pub initial_height: u64,
    pub export_height: u64,
    pub genesis_time: Option<String>,
    pub artifact_mode: String,
    pub swing_store_export_data_hash: String,
    pub genesis_sha256: String,
    pub genesis_bytes: u64,
    pub export_data_entries: u64,
    pub export_data_bytes: u64,
    pub kv_entries: u64,
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
                spans_recorded: meta.spans.keys().filter(|(v, _)| *v == vat).count(),
                span_artifacts: spans,
                snapshots_recorded: meta.snapshots.keys().filter(|(v, _)| *v == vat).count(),
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
    let consistency = r.consistency.take().unwrap_or_default();
    let (compressed, file_bytes) = (r.compressed, r.file_bytes);
    let (digest, mut problems, verified) = if full {
        r.read_artifacts(&mut NullSink)?;
        let res = r.finish()?;
        (Some(res.digest), res.problems, true)
    } else {
        (None, std::mem::take(&mut r.problems), false)
    };
    problems.extend(chain_problems(&consistency));
    Ok(InspectReport {
        archive: path.display().to_string(),
        compressed,
        file_bytes,
        chain_id: m.chain_id.clone(),
        initial_height: m.initial_height,
        export_height: m.export_height,
        genesis_time,
        artifact_mode: m.artifact_mode.clone(),
        swing_store_export_data_hash: m.swing_store_export_data_hash.clone(),
        genesis_sha256: m.members[0].sha256.clone(),
        genesis_bytes: m.members[0].size,
        export_data_entries: m.export_data_entries,
        export_data_bytes: m.members[2].size,
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
