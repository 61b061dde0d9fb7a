//! `pack`: any `StateSource` + genesis -> one canonical archive.
//!
//! Pass 1 reads the metadata and every artifact once (validating each against its
//! export-data record and computing member digests, which the archive manifest, the
//! first member, must list). Pass 2 streams the same bytes into the tar writer and
//! re-checks every digest, so a source that changes between passes is caught. The temp
//! file is read back from the disk and verified as `agar verify` would (bar the
//! chain-state check, whose problems are the input's), while it is written where it can
//! be ([`crate::verify::ReadBack`]), and only then renamed over the output (a previous
//! output is never removed before). Memory:
//! metadata records plus one buffer per stream; kv entries are never held unless the
//! source's kv section is unsorted, and then sorted in runs on disk past 32 MiB
//! ([`crate::extsort`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::archive::writer::{ArchiveWriter, Compression, Written};
use crate::archive::*;
use crate::error::{bail, Error, Result};
use crate::genesis::{CanonicalGenesis, EMPTY_EXPORT_DATA_HASH};
use crate::gojson::{self, Entry};
use crate::hashes::ArtifactChecker;
use crate::model::{
    family, kv_key_problem, ArtifactMode, ArtifactName, ArtifactRecord, Family, Metadata,
};
use crate::progress::Progress;
use crate::source::StateSource;

#[derive(Debug, Clone)]
pub struct PackOptions {
    pub compression: Compression,
    pub allow_height_mismatch: bool,
    pub progress: bool,
}

/// What pack did, for humans and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct PackSummary {
    pub digest: String,
    /// The archive written (`-`: stdout); `archive` in JSON, as in every command.
    #[serde(rename = "archive")]
    pub output: Option<String>,
    pub compressed: bool,
    pub chain_id: String,
    pub initial_height: u64,
    pub export_height: u64,
    pub artifact_mode: String,
    pub swing_store_export_data_hash: String,
    pub genesis_sha256: String,
    pub export_data_entries: u64,
    pub kv_entries: u64,
    pub artifacts: usize,
    pub artifact_bytes: u64,
    pub tar_bytes: u64,
    pub file_bytes: u64,
    pub notes: Vec<String>,
}

/// Export data held for the canonical stream: metadata records always; kv entries only
/// when the source's kv section was not sorted.
struct DataPlan {
    meta: Metadata,
    kv_sorted: bool,
    /// The kv entries, sorted (in memory, or in sorted runs on disk past
    /// [`crate::extsort::DEFAULT_BUDGET`]), when the source's were not in order.
    kv_held: Option<crate::extsort::Sorted>,
    /// An older genesis's inline export data: the input genesis itself (on disk), streamed
    /// again one entry at a time whenever the entries are needed, never held.
    inline: Option<CanonicalGenesis>,
    kv_entries: u64,
    /// The largest value's length in bytes.
    largest_value: usize,
}

/// Where pack's messages place an inline export-data entry.
const INLINE_LOC: &str = "genesis.json inline swing_store_export_data";

fn check_kv(loc: &str, e: &Entry) -> Result<()> {
    if let Some(why) = kv_key_problem(&e.key) {
        return bail(format!("{loc}: key {:?}", e.key), why);
    }
    Ok(())
}

/// The canonical export-data digest computed during the scan itself, valid only if every
/// key of the source's stream was strictly greater than the one before (then the stream
/// *is* the canonical stream). Saves one pass over the data for sources that promise
/// canonical order ([`StateSource::canonical_order`]).
struct InlineHash {
    sha: Sha256,
    size: u64,
    entries: u64,
    prev: Option<String>,
    valid: bool,
    line: Vec<u8>,
}

fn scan(
    source: &mut dyn StateSource,
    inline: Option<CanonicalGenesis>,
    mut ih: Option<&mut InlineHash>,
) -> Result<DataPlan> {
    let mut meta = Metadata::default();
    let mut prev: Option<String> = None;
    let mut sorted = true;
    let mut kv_entries = 0u64;
    let mut seen_kv_dups = false;
    let mut largest_value = 0usize;
    let mut handle = |loc: &str, e: Entry, meta: &mut Metadata| -> Result<()> {
        let Some(value) = e.value.as_deref() else {
            return bail(
                format!("{loc}: key {:?}", e.key),
                "an entry without a value (a deletion) cannot be in a full export",
            );
        };
        largest_value = largest_value.max(value.len());
        if let Some(why) = crate::model::entry_size_problem(&e.key, Some(value)) {
            let short: String = e.key.chars().take(80).collect();
            return bail(format!("{loc}: key {short:?}"), why);
        }
        if let Some(h) = ih.as_deref_mut().filter(|h| h.valid) {
            if h.prev
                .as_ref()
                .is_some_and(|p| p.as_bytes() >= e.key.as_bytes())
            {
                h.valid = false;
            } else {
                h.line.clear();
                gojson::encode_entry_into(&mut h.line, e.key.as_bytes(), Some(value.as_bytes()));
                h.sha.update(&h.line);
                h.size += h.line.len() as u64;
                h.entries += 1;
                match &mut h.prev {
                    Some(p) => {
                        p.clear();
                        p.push_str(&e.key);
                    }
                    None => h.prev = Some(e.key.clone()),
                }
            }
        }
        match family(&e.key) {
            Some(Family::Kv) => {
                check_kv(loc, &e)?;
                kv_entries += 1;
                if let Some(p) = &prev {
                    if p.as_bytes() == e.key.as_bytes() {
                        seen_kv_dups = true;
                        return bail(
                            format!("{loc}: key {:?}", e.key),
                            "duplicate export-data key",
                        );
                    }
                    if p.as_bytes() > e.key.as_bytes() {
                        sorted = false;
                    }
                }
                prev = Some(e.key);
            }
            _ => meta.add(loc, &e.key, value)?,
        }
        Ok(())
    };
    match &inline {
        Some(g) => g.inline_export_data(&mut |key, value| {
            let e = Entry {
                key,
                value: Some(value),
            };
            handle(INLINE_LOC, e, &mut meta)
        })?,
        None => source.for_each_entry(&mut |loc, e| handle(loc, e, &mut meta))?,
    }
    let _ = seen_kv_dups;
    meta.check(&source.data_location())?;
    let mut plan = DataPlan {
        meta,
        kv_sorted: sorted,
        kv_held: None,
        inline,
        kv_entries,
        largest_value,
    };
    if !sorted {
        // sort the kv entries: in memory up to a budget, beyond it in runs on disk; a
        // key twice is found when they are first read in order (pass 1's hashing)
        let mut kv =
            crate::extsort::Sorter::new(crate::extsort::DEFAULT_BUDGET, &source.data_location());
        let mut collect = |_: &str, e: Entry| -> Result<()> {
            if family(&e.key) == Some(Family::Kv) {
                kv.push(e.key, e.value.unwrap_or_default())?;
            }
            Ok(())
        };
        match &plan.inline {
            Some(g) => g.inline_export_data(&mut |key, value| {
                let e = Entry {
                    key,
                    value: Some(value),
                };
                collect(INLINE_LOC, e)
            })?,
            None => source.for_each_entry(&mut collect)?,
        }
        plan.kv_held = Some(kv.finish()?);
    }
    Ok(plan)
}

/// Emit the canonical export data (Go-encoded lines, sorted bytewise by key, each
/// handed over in one or more pieces); returns the number of entries.
fn emit_canonical(
    source: &mut dyn StateSource,
    plan: &DataPlan,
    out: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    // a line is handed over in pieces: a 16 MiB value's line (up to 96 MiB) is never held
    let mut line = Vec::new();
    let mut entries = 0u64;
    let mut put = |k: &str, v: &str, out: &mut dyn FnMut(&[u8]) -> Result<()>| -> Result<()> {
        entries += 1;
        gojson::encode_entry_pieces(&mut line, k.as_bytes(), Some(v.as_bytes()), out)
    };
    for (k, v) in plan
        .meta
        .entries
        .iter()
        .filter(|(k, _)| k.as_str() < kv_lower())
    {
        put(k, v, out)?;
    }
    match (&plan.kv_held, &plan.inline) {
        (Some(kv), _) => kv.for_each(&mut |k, v| put(k, v, out))?,
        (None, Some(g)) => g.inline_export_data(&mut |k, v| {
            if family(&k) == Some(Family::Kv) {
                put(&k, &v, out)?;
            }
            Ok(())
        })?,
        (None, None) => {
            debug_assert!(plan.kv_sorted);
            source.for_each_entry(&mut |_, e| {
                if family(&e.key) == Some(Family::Kv) {
                    put(&e.key, e.value.as_deref().unwrap_or_default(), out)?;
                }
                Ok(())
            })?;
        }
    }
    for (k, v) in plan
        .meta
        .entries
        .iter()
        .filter(|(k, _)| k.as_str() > kv_lower())
    {
        put(k, v, out)?;
    }
    Ok(entries)
}

fn kv_lower() -> &'static str {
    crate::model::KV_PREFIX
}

struct HashSink {
    sha: Sha256,
    size: u64,
}

/// Everything needed to write the archive, computed in pass 1.
pub struct Plan {
    pub manifest: ArchiveManifest,
    pub manifest_bytes: Vec<u8>,
    /// The canonical genesis member, on disk (None for a swing-store backup).
    pub genesis: Option<CanonicalGenesis>,
    pub export_manifest_bytes: Vec<u8>,
    pub notes: Vec<String>,
    data: DataPlan,
}

/// The canonical export data of a source, digested while it is scanned.
struct DataDigest {
    data: DataPlan,
    /// hex SHA-256 of the canonical export-data member
    sha: String,
    size: u64,
    entries: u64,
}

fn digest_data(
    source: &mut dyn StateSource,
    inline: Option<CanonicalGenesis>,
) -> Result<DataDigest> {
    let mut ih = InlineHash {
        sha: Sha256::new(),
        size: 0,
        entries: 0,
        prev: None,
        valid: inline.is_none() && source.canonical_order(),
        line: Vec::new(),
    };
    let data = scan(source, inline, ih.valid.then_some(&mut ih))?;
    if ih.valid {
        return Ok(DataDigest {
            data,
            sha: hex::encode(ih.sha.finalize()),
            size: ih.size,
            entries: ih.entries,
        });
    }
    let mut h = HashSink {
        sha: Sha256::new(),
        size: 0,
    };
    let entries = emit_canonical(source, &data, &mut |piece| {
        h.sha.update(piece);
        h.size += piece.len() as u64;
        Ok(())
    })?;
    Ok(DataDigest {
        data,
        sha: hex::encode(h.sha.finalize()),
        size: h.size,
        entries,
    })
}

/// The source's artifacts, each with its export-data record, and the mode they make
/// (refusing a declared mode the artifacts do not satisfy).
fn artifact_set(
    source: &mut dyn StateSource,
    data: &DataPlan,
    notes: &mut Vec<String>,
) -> Result<(BTreeMap<String, ArtifactName>, ArtifactMode)> {
    let mut names: BTreeMap<String, ArtifactName> = BTreeMap::new();
    for n in source.artifact_names() {
        let parsed =
            ArtifactName::parse(&n).map_err(|e| Error::invalid(source.artifact_location(&n), e))?;
        if let Err(e) = data.meta.artifact_record(&parsed) {
            return bail(source.artifact_location(&n), e);
        }
        names.insert(n, parsed);
    }
    let present = names.keys().cloned().collect();
    let mode = data
        .meta
        .infer_mode(&present)
        .map_err(|e| Error::invalid(source.data_location(), e))?;
    if let Some(declared) = source.declared_mode() {
        if !mode.satisfies(declared) && declared != ArtifactMode::Debug {
            let missing: Vec<String> = data
                .meta
                .required_artifacts(declared)
                .difference(&present)
                .take(5)
                .cloned()
                .collect();
            return bail(
                source.data_location(),
                format!("the export says artifactMode {declared}, but it lacks artifacts that mode requires: {}", missing.join(", ")),
            );
        }
        if declared != mode {
            notes.push(format!("artifact mode: the export says {declared}; its artifacts are exactly the {mode} set, so the archive records {mode}"));
        }
    }
    Ok((names, mode))
}

/// Pass 1 over the artifact bytes: check each against its record, return the members.
fn check_artifacts(
    source: &mut dyn StateSource,
    data: &DataPlan,
    names: &BTreeMap<String, ArtifactName>,
    progress: &Progress,
) -> Result<Vec<Member>> {
    let total: u64 = if progress.visible() {
        source.artifact_bytes_hint().unwrap_or(0)
    } else {
        0
    };
    progress.phase("checking artifacts", total);
    let mut artifact_members = Vec::with_capacity(names.len());
    for (n, parsed) in names {
        let rec = data
            .meta
            .artifact_record(parsed)
            .map_err(|e| Error::invalid(source.artifact_location(n), e))?;
        let loc = source.artifact_location(n);
        if let Some((size, sha)) = source.recorded_artifact(n)? {
            // a DB snapshot: not inflated twice; pass 2 proves these while writing
            if let ArtifactRecord::Snapshot(s) = &rec {
                if s.hash != sha {
                    return bail(
                        format!("{loc} (artifact {n})"),
                        format!("the DB records hash {sha}, its export data {}", s.hash),
                    );
                }
            }
            artifact_members.push(Member {
                name: format!("{ARTIFACT_PREFIX}{n}").into(),
                size,
                sha256: Sha256Digest::from_hex(&sha).ok_or_else(|| {
                    Error::invalid(format!("{loc} (artifact {n})"), "recorded hash is not hex")
                })?,
            });
            progress.inc(size);
            continue;
        }
        let mut checker = ArtifactChecker::new(parsed, rec);
        {
            let mut r = source.open_artifact(n)?;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let k = r.read(&mut buf).map_err(|e| Error::io_at(&loc, e))?;
                if k == 0 {
                    break;
                }
                checker
                    .update(&buf[..k])
                    .map_err(|e| Error::io_at(&loc, e))?;
                progress.inc(k as u64);
            }
        }
        let (sha, size, res) = checker.finish();
        res.map_err(|e| Error::invalid(format!("{loc} (artifact {n})"), e))?;
        artifact_members.push(Member {
            name: format!("{ARTIFACT_PREFIX}{n}").into(),
            size,
            sha256: Sha256Digest::from_hex(&sha).expect("a computed digest"),
        });
    }
    progress.finish();
    Ok(artifact_members)
}

/// Pass 1 of `agar backup`: the swing-store alone, no genesis (FORMAT.md, "Swing-store
/// backups"). The export manifest's `blockHeight` and the manifest's `export_height` are
/// the source's `host.height`, as export-kernel-db.js writes it.
pub fn plan_backup(source: &mut dyn StateSource, opts: &PackOptions) -> Result<Plan> {
    let mut notes = Vec::new();
    let progress = Progress::bytes(opts.progress, "export data", 0);
    let dd = digest_data(source, None)?;
    let (names, mode) = artifact_set(source, &dd.data, &mut notes)?;
    let height = source.export_height().unwrap_or(0);
    let artifact_members = check_artifacts(source, &dd.data, &names, &progress)?;
    let art_names: Vec<&str> = names.keys().map(|s| s.as_str()).collect();
    let export_manifest_bytes = export_manifest_bytes(height, mode, &art_names);
    let mut members = backup_head_members(&export_manifest_bytes, dd.size, &dd.sha);
    members.extend(artifact_members);
    let manifest = ArchiveManifest {
        format: BACKUP_FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        chain_id: String::new(),
        initial_height: 0,
        export_height: height,
        artifact_mode: mode.to_string(),
        swing_store_export_data_hash: format!("sha256:{}", dd.sha),
        export_data_entries: dd.entries,
        members,
        provenance: None,
    };
    let manifest_bytes = manifest.canonical_bytes();
    Ok(Plan {
        manifest,
        manifest_bytes,
        genesis: None,
        export_manifest_bytes,
        notes,
        data: dd.data,
    })
}

/// Pass 1: validate everything and compute every member digest.
pub fn plan(
    canonical: CanonicalGenesis,
    source: &mut dyn StateSource,
    opts: &PackOptions,
) -> Result<Plan> {
    let mut notes = Vec::new();
    let genesis = canonical.genesis.clone();
    // what pack writes, verify accepts: a genesis_time agd refuses is bad input
    if let Some(p) = genesis.genesis_time_problem() {
        return bail(&genesis.loc, p);
    }
    let inline = inline_export_data(&canonical, source, &mut notes)?;
    let progress = Progress::bytes(opts.progress, "export data", 0);
    let dd = digest_data(source, inline)?;
    let (names, mode) = artifact_set(source, &dd.data, &mut notes)?;
    let (data, data_sha, entries) = (dd.data, dd.sha, dd.entries);
    let data_hash = format!("sha256:{data_sha}");

    // heights
    let initial_height = genesis.initial_height()?;
    let hash_matches = genesis.export_data_hash()?.as_deref() == Some(data_hash.as_str());
    let export_height = export_height(source, initial_height, hash_matches, opts, &mut notes)?;
    for (what, h) in [
        ("initial_height", initial_height),
        ("export height", export_height),
    ] {
        if let Some(why) = crate::model::height_problem(what, h) {
            return bail("genesis.json", why);
        }
    }

    check_genesis_hash(&genesis, source, &data_hash, entries, &mut notes)?;
    let canonical = canonical.with_export_data_hash(&data_hash)?;

    let artifact_members = check_artifacts(source, &data, &names, &progress)?;

    let art_names: Vec<&str> = names.keys().map(|s| s.as_str()).collect();
    let export_manifest_bytes = export_manifest_bytes(initial_height, mode, &art_names);
    let mut members = head_members(&canonical, &export_manifest_bytes, dd.size, &data_sha);
    members.extend(artifact_members);
    let manifest = ArchiveManifest {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        chain_id: genesis.chain_id()?.to_string(),
        initial_height,
        export_height,
        artifact_mode: mode.to_string(),
        swing_store_export_data_hash: data_hash,
        export_data_entries: entries,
        members,
        provenance: None,
    };
    let manifest_bytes = manifest.canonical_bytes();
    // what pack writes, every reader accepts (member count and name limits)
    crate::archive::reader::parse_manifest("genesis-archive.json", &manifest_bytes)?;
    Ok(Plan {
        manifest,
        manifest_bytes,
        genesis: Some(canonical),
        export_manifest_bytes,
        notes,
        data,
    })
}

/// An older genesis file's inline export data (SDK ≤ 0.47: the entries inside
/// genesis.json), refused when the swing-store export has data too. Returns a second
/// handle on the input genesis to stream the entries from (they are never collected:
/// a mainnet section holds a million entries).
fn inline_export_data(
    canonical: &CanonicalGenesis,
    source: &mut dyn StateSource,
    notes: &mut Vec<String>,
) -> Result<Option<CanonicalGenesis>> {
    let genesis = &canonical.genesis;
    let count = genesis.inline_export_data()?;
    if count == 0 {
        return Ok(None);
    }
    let mut has_data = false;
    source.for_each_entry(&mut |_, _| {
        has_data = true;
        Ok(())
    })?;
    if has_data {
        return bail(
            &genesis.loc,
            format!(
                "carries inline {} entries and the swing-store export also has export data; only one may hold the data",
                genesis.spelling.data_field()
            ),
        );
    }
    notes.push(format!(
        "moved {count} inline {} entries into export-data.jsonl",
        genesis.spelling.data_field()
    ));
    canonical.try_clone().map(Some)
}

/// The height the state was exported at: the source's, checked against the genesis's
/// initial_height (refused on a mismatch unless allowed), or initial_height - 1.
fn export_height(
    source: &mut dyn StateSource,
    initial_height: u64,
    hash_matches: bool,
    opts: &PackOptions,
    notes: &mut Vec<String>,
) -> Result<u64> {
    Ok(match source.export_height() {
        // `agar explode` writes the archive's export manifest, whose blockHeight is the
        // initial_height (FORMAT.md §3); with the genesis hash binding the data to this
        // genesis it is the same state, exported at initial_height - 1.
        Some(h) if h == initial_height && h > 0 && hash_matches => {
            notes.push(format!("the export's blockHeight is initial_height {h}, as in an exploded archive; recorded export height {}", h - 1));
            h - 1
        }
        Some(h) if h + 1 != initial_height => {
            if !opts.allow_height_mismatch {
                return Err(Error::Refused(format!(
                    "height mismatch: {} is {h}, but genesis initial_height {initial_height} needs state at block {} (initial_height - 1). The genesis and the swing-store do not belong together (or the node ran past the export height); pass --allow-height-mismatch only for a rehearsal",
                    source.height_origin(),
                    initial_height.saturating_sub(1)
                )));
            }
            notes.push(format!(
                "height mismatch allowed: export height {h}, initial_height {initial_height}"
            ));
            h
        }
        Some(h) => h,
        None => initial_height - 1,
    })
}

/// The genesis's export-data hash must be the data's (or absent, or the skip-mode empty
/// hash when the source replaces it).
fn check_genesis_hash(
    genesis: &crate::genesis::Genesis,
    source: &mut dyn StateSource,
    data_hash: &str,
    entries: u64,
    notes: &mut Vec<String>,
) -> Result<()> {
    match genesis.export_data_hash()? {
        None => notes.push(format!("genesis had no {}; set it to {data_hash}", genesis.spelling.hash_field())),
        Some(h) if h == data_hash => {}
        Some(h) if h == EMPTY_EXPORT_DATA_HASH && entries > 0 => {
            if !source.replaces_skip_hash() {
                return bail(
                    genesis.field_loc(genesis.spelling.hash_field()),
                    format!("is the hash of empty export data (agd export --swing-store-export-mode skip), but the swing-store export has {entries} entries. Pack from the node's DB with `agar pack --swing-store`, which replaces it, or use a genesis exported together with this swing-store"),
                );
            }
            notes.push(format!("replaced the skip-mode (empty) genesis hash with the real export-data hash {data_hash}"));
        }
        Some(h) => {
            return bail(
                genesis.field_loc(genesis.spelling.hash_field()),
                format!("is {h}, but the swing-store export data hashes to {data_hash}: the genesis and the export data do not belong together (or one was edited without the other)"),
            )
        }
    }
    Ok(())
}

/// The largest export-data value with which pack verifies its output while writing it
/// rather than afterwards.
const CONCURRENT_READ_BACK_MAX_VALUE: usize = 1 << 20;

/// Pass 2: write the archive exactly as planned.
pub fn write(
    plan: &Plan,
    source: &mut dyn StateSource,
    dest: Option<&Path>,
    opts: &PackOptions,
) -> Result<Written> {
    let total: u64 = plan.manifest.members.iter().map(|m| m.size).sum();
    let progress = Progress::bytes(opts.progress, "writing", total);
    let tar_bytes = plan.manifest.tar_bytes(plan.manifest_bytes.len() as u64);
    let mut w = ArchiveWriter::create_sized(dest, opts.compression, tar_bytes)?;
    // the read-back follows the writing on another core (a .tar.gz is read afterwards,
    // and so is an archive with a value past 1 MiB: a reader holds a whole export-data
    // line, up to 6 times the value, which the writer's would double)
    let read_back = match dest {
        Some(out) if plan.data.largest_value <= CONCURRENT_READ_BACK_MAX_VALUE => {
            crate::verify::ReadBack::start(&w, &out.display().to_string())?
        }
        _ => None,
    };
    w.append_bytes(MANIFEST_MEMBER, &plan.manifest_bytes)?;
    if let Some(g) = &plan.genesis {
        let mut r = g.reader()?;
        w.append(GENESIS_MEMBER, g.size, &mut r, &mut |b| {
            progress.inc(b.len() as u64)
        })?;
    }
    w.append_bytes(EXPORT_MANIFEST_MEMBER, &plan.export_manifest_bytes)?;

    // export data: the canonical lines, produced again and checked against pass 1
    let dm = plan.manifest.export_data_member();
    let mut sha = Sha256::new();
    w.begin(EXPORT_DATA_MEMBER, dm.size)?;
    emit_canonical(source, &plan.data, &mut |line| {
        sha.update(line);
        progress.inc(line.len() as u64);
        w.write_data(line)
    })?;
    w.end()?;
    if hex::encode(sha.finalize()) != dm.sha256 {
        return bail(
            source.data_location(),
            "export data changed while packing; nothing was written",
        );
    }
    for m in &plan.manifest.members[plan.manifest.head_len()..] {
        let name = m
            .name
            .strip_prefix(ARTIFACT_PREFIX)
            .unwrap_or(&m.name)
            .to_string();
        let loc = source.artifact_location(&name);
        let mut sha = Sha256::new();
        {
            let mut r = source.open_artifact(&name)?;
            w.append(&m.name, m.size, &mut r, &mut |b| {
                sha.update(b);
                progress.inc(b.len() as u64);
            })?;
        }
        if hex::encode(sha.finalize()) != m.sha256 {
            return bail(
                loc,
                "artifact changed while packing, or its bytes differ from the hash its source records; nothing was written",
            );
        }
    }
    progress.finish();
    let pending = w.finish_pending()?;
    // nothing replaces a previous output until the new one is proven: the source did
    // not change behind the passes' backs, and the archive reads back as `agar verify`
    // would accept it
    source.ensure_unchanged()?;
    match dest {
        Some(out) => crate::verify::persist_verified(pending, out, "packed", read_back),
        None => pending.persist(),
    }
}

/// Plan and write in one go.
pub fn pack(
    genesis: CanonicalGenesis,
    source: &mut dyn StateSource,
    dest: Option<&Path>,
    opts: &PackOptions,
) -> Result<PackSummary> {
    let plan = plan(genesis, source, opts)?;
    let written = write(&plan, source, dest, opts)?;
    Ok(summary(&plan, &written))
}

pub fn summary(plan: &Plan, written: &Written) -> PackSummary {
    let m = &plan.manifest;
    PackSummary {
        digest: written.digest.clone(),
        output: Some(
            written
                .path
                .as_ref()
                .map_or_else(|| "-".to_string(), |p| p.display().to_string()),
        ),
        compressed: written.file_bytes != written.tar_bytes,
        chain_id: m.chain_id.clone(),
        initial_height: m.initial_height,
        export_height: m.export_height,
        artifact_mode: m.artifact_mode.clone(),
        swing_store_export_data_hash: m.swing_store_export_data_hash.clone(),
        genesis_sha256: m
            .genesis_member()
            .map(|g| g.sha256.hex())
            .unwrap_or_default(),
        export_data_entries: m.export_data_entries,
        kv_entries: plan.data.kv_entries,
        artifacts: m.members.len() - m.head_len(),
        artifact_bytes: m.members[m.head_len()..].iter().map(|x| x.size).sum(),
        tar_bytes: written.tar_bytes,
        file_bytes: written.file_bytes,
        notes: plan.notes.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exportdir::ExportDir;
    use std::path::PathBuf;

    /// The export-data hash of the tiny fixture (its genesis states it).
    const TINY_HASH: &str =
        "sha256:b8e9a4e6229d4c5682284121f41b4c2133bfbc86544e2cdd342dce6e593ad5f2";

    fn tiny(rel: &str) -> PathBuf {
        crate::test_fixture("tiny").join(rel)
    }

    /// A reordering of the fixture's entries.
    type Order = fn(&mut Vec<(String, String)>);

    fn opts() -> PackOptions {
        PackOptions {
            compression: Compression::None,
            allow_height_mismatch: false,
            progress: false,
        }
    }

    /// The tiny operational export in memory; each test sets what the source says of
    /// itself and the order its entries come in.
    struct Mem {
        entries: Vec<(String, String)>,
        artifacts: BTreeMap<String, Vec<u8>>,
        height: Option<u64>,
        declared: Option<ArtifactMode>,
        canonical: bool,
        replaces_skip: bool,
        /// what a DB would record of an artifact instead of having it read in pass 1
        recorded: BTreeMap<String, (u64, String)>,
    }

    impl Mem {
        fn operational() -> Mem {
            let mut dir = ExportDir::open(&tiny("export/operational")).unwrap();
            let mut entries = Vec::new();
            dir.for_each_entry(&mut |_, e| {
                entries.push((e.key, e.value.unwrap()));
                Ok(())
            })
            .unwrap();
            let artifacts = dir
                .artifacts
                .iter()
                .map(|(n, p)| (n.clone(), std::fs::read(p).unwrap()))
                .collect();
            Mem {
                entries,
                artifacts,
                height: dir.block_height,
                declared: dir.artifact_mode,
                canonical: false,
                replaces_skip: false,
                recorded: BTreeMap::new(),
            }
        }

        fn sorted(mut self) -> Mem {
            self.entries
                .sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            self
        }
    }

    impl StateSource for Mem {
        fn data_location(&self) -> String {
            "mem/export-data.jsonl".into()
        }
        fn for_each_entry(&mut self, f: &mut dyn FnMut(&str, Entry) -> Result<()>) -> Result<()> {
            for (i, (k, v)) in self.entries.iter().enumerate() {
                let e = Entry {
                    key: k.clone(),
                    value: Some(v.clone()),
                };
                f(&format!("mem/export-data.jsonl:{}", i + 1), e)?;
            }
            Ok(())
        }
        fn artifact_names(&self) -> Vec<String> {
            self.artifacts.keys().cloned().collect()
        }
        fn artifact_location(&self, name: &str) -> String {
            format!("mem/{name}")
        }
        fn open_artifact(&mut self, name: &str) -> Result<Box<dyn Read + '_>> {
            Ok(Box::new(&self.artifacts[name][..]))
        }
        fn declared_mode(&self) -> Option<ArtifactMode> {
            self.declared
        }
        fn export_height(&self) -> Option<u64> {
            self.height
        }
        fn replaces_skip_hash(&self) -> bool {
            self.replaces_skip
        }
        fn canonical_order(&self) -> bool {
            self.canonical
        }
        fn recorded_artifact(&mut self, name: &str) -> Result<Option<(u64, String)>> {
            Ok(self.recorded.get(name).cloned())
        }
    }

    fn genesis() -> CanonicalGenesis {
        CanonicalGenesis::from_path(&tiny("genesis/operational/genesis.json"), None).unwrap()
    }

    /// The tiny genesis with `edit` applied to its JSON.
    fn genesis_with(edit: impl FnOnce(&mut serde_json::Value)) -> CanonicalGenesis {
        let bytes = std::fs::read(tiny("genesis/operational/genesis.json")).unwrap();
        let mut g: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        edit(&mut g);
        let text = serde_json::to_vec(&g).unwrap();
        CanonicalGenesis::canonicalize(std::io::Cursor::new(text), "genesis.json").unwrap()
    }

    /// The canonical export data, written independently of pack: every entry's Go line,
    /// sorted bytewise by key.
    fn canonical_lines(m: &Mem) -> Vec<u8> {
        let mut e = m.entries.clone();
        e.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut out = Vec::new();
        for (k, v) in e {
            gojson::encode_entry_into(&mut out, k.as_bytes(), Some(v.as_bytes()));
        }
        out
    }

    fn emitted(src: &mut Mem, plan: &DataPlan) -> (Vec<u8>, u64) {
        let mut out = Vec::new();
        let n = emit_canonical(src, plan, &mut |p| {
            out.extend_from_slice(p);
            Ok(())
        })
        .unwrap();
        (out, n)
    }

    #[test]
    fn the_export_data_digest_is_the_canonical_streams_in_whatever_order_the_source_gives() {
        let want = canonical_lines(&Mem::operational());
        assert_eq!(
            format!("sha256:{}", crate::hashes::sha256_hex(&want)),
            TINY_HASH
        );
        let kv = |k: &String| k.starts_with("kv.");
        // (how the entries come, whether the kv section is in order)
        let orders: [(&str, Order, bool); 4] = [
            ("as the JS exporter writes them", |_| {}, true),
            (
                "sorted",
                |e| e.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes())),
                true,
            ),
            (
                "kv reversed",
                |e| {
                    e.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                    let kv: Vec<usize> = (0..e.len())
                        .filter(|&i| e[i].0.starts_with("kv."))
                        .collect();
                    let (lo, hi) = (kv[0], kv[kv.len() - 1]);
                    e[lo..=hi].reverse();
                },
                false,
            ),
            (
                "all reversed",
                |e| e.sort_by(|a, b| b.0.as_bytes().cmp(a.0.as_bytes())),
                false,
            ),
        ];
        for (what, order, kv_sorted) in orders {
            for canonical in [false, true] {
                let mut src = Mem::operational();
                order(&mut src.entries);
                src.canonical = canonical;
                let dd = digest_data(&mut src, None).unwrap();
                let at = format!("{what}, canonical order claimed: {canonical}");
                assert_eq!(format!("sha256:{}", dd.sha), TINY_HASH, "{at}");
                assert_eq!(dd.size, want.len() as u64, "{at}");
                assert_eq!(dd.entries, 457, "{at}");
                assert_eq!(dd.data.kv_entries, 409, "{at}");
                assert_eq!(
                    dd.data.largest_value,
                    src.entries.iter().map(|e| e.1.len()).max().unwrap(),
                    "{at}"
                );
                // a kv section in order is never held; one out of order is sorted aside
                assert_eq!(dd.data.kv_sorted, kv_sorted, "{at}");
                assert_eq!(dd.data.kv_held.is_some(), !kv_sorted, "{at}");
                assert_eq!(dd.data.meta.entries.len(), 457 - 409, "{at}");
                assert!(!dd.data.meta.entries.keys().any(kv), "{at}");
                let (bytes, n) = emitted(&mut src, &dd.data);
                assert_eq!((n, bytes == want), (457, true), "{at}");
            }
        }
    }

    #[test]
    fn kv_entries_that_no_export_may_hold_are_refused_where_they_are() {
        let refusal = |src: &mut Mem| {
            let e = digest_data(src, None).err().expect("refused");
            assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
            e.to_string()
        };
        for (key, why) in [
            ("kv.host.height", "host.* keys are node-local"),
            ("kv.local.x", "local.* keys are node-local"),
        ] {
            let mut src = Mem::operational().sorted();
            src.entries.push((key.into(), "1".into()));
            let e = refusal(&mut src);
            let at = format!("mem/export-data.jsonl:458: key {key:?}: ");
            assert!(e.starts_with(&at) && e.contains(why), "{e}");
        }
        // a key twice: where the second is when they are next to each other, else once
        // the kv section is sorted
        let mut src = Mem::operational().sorted();
        let i = src
            .entries
            .iter()
            .position(|e| e.0 == "kv.crankNumber")
            .unwrap();
        src.entries
            .insert(i + 1, ("kv.crankNumber".into(), "0".into()));
        assert_eq!(
            refusal(&mut src),
            format!(
                "mem/export-data.jsonl:{}: key \"kv.crankNumber\": duplicate export-data key",
                i + 2
            )
        );
        let mut src = Mem::operational().sorted();
        src.entries.push(("kv.crankNumber".into(), "0".into()));
        assert_eq!(
            refusal(&mut src),
            "mem/export-data.jsonl: duplicate export-data key \"kv.crankNumber\""
        );
    }

    /// An SDK <= 0.47 genesis carrying the tiny export's entries inline, in `order`.
    fn inline_genesis(order: Order) -> CanonicalGenesis {
        let mut entries = Mem::operational().entries;
        order(&mut entries);
        genesis_with(|g| {
            let sw = g["app_state"]["swingset"].as_object_mut().unwrap();
            sw.remove("swing_store_export_data_hash");
            let list = entries
                .iter()
                .map(|(k, v)| serde_json::json!({"key": k, "value": v}));
            sw.insert("swing_store_export_data".into(), list.collect());
        })
    }

    #[test]
    fn an_older_genesis_inline_export_data_becomes_the_export_data_member() {
        for order in [(|_| {}) as Order, |e| e.reverse()] {
            let mut src = Mem::operational();
            src.entries.clear();
            let p = plan(inline_genesis(order), &mut src, &opts()).unwrap();
            assert_eq!(p.manifest.swing_store_export_data_hash, TINY_HASH);
            assert_eq!(p.manifest.export_data_entries, 457);
            assert_eq!(p.data.kv_entries, 409);
            assert!(p.data.inline.is_some());
            let g = &p.genesis.as_ref().unwrap().genesis;
            assert_eq!(g.export_data_hash().unwrap().as_deref(), Some(TINY_HASH));
            assert_eq!(g.inline_export_data().unwrap(), 0);
            assert_eq!(
                p.notes,
                [
                    "moved 457 inline swing_store_export_data entries into export-data.jsonl",
                    &format!("genesis had no swing_store_export_data_hash; set it to {TINY_HASH}"),
                ]
            );
            let (bytes, n) = emitted(&mut src, &p.data);
            assert_eq!((n, bytes), (457, canonical_lines(&Mem::operational())));
        }
        // the data in both places: refused
        let e = plan(inline_genesis(|_| {}), &mut Mem::operational(), &opts())
            .err()
            .expect("refused");
        assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
        assert_eq!(
            e.to_string(),
            "genesis.json: carries inline swing_store_export_data entries and the swing-store export also has export data; only one may hold the data"
        );
    }

    #[test]
    fn the_export_height_is_the_sources_one_below_initial_height() {
        // (source's height, initial_height, genesis hash = data hash, allowed) -> height
        // and note, or None: refused
        let note_exploded = "the export's blockHeight is initial_height 28, as in an exploded archive; recorded export height 27";
        for (h, ih, matches, allow, want) in [
            (Some(27), 28, true, false, Some((27, None))),
            (Some(27), 28, false, false, Some((27, None))),
            (None, 28, false, false, Some((27, None))),
            (None, 1, true, false, Some((0, None))),
            (Some(0), 1, true, false, Some((0, None))),
            // an exploded archive's export manifest says initial_height
            (Some(28), 28, true, false, Some((27, Some(note_exploded)))),
            (Some(28), 28, false, false, None),
            (
                Some(28),
                28,
                false,
                true,
                Some((
                    28,
                    Some("height mismatch allowed: export height 28, initial_height 28"),
                )),
            ),
            (Some(30), 28, true, false, None),
            (
                Some(30),
                28,
                true,
                true,
                Some((
                    30,
                    Some("height mismatch allowed: export height 30, initial_height 28"),
                )),
            ),
            (Some(26), 28, true, false, None),
            // never below 0
            (Some(0), 0, true, false, None),
        ] {
            let mut src = Mem::operational();
            src.height = h;
            let o = PackOptions {
                allow_height_mismatch: allow,
                ..opts()
            };
            let mut notes = Vec::new();
            let got = export_height(&mut src, ih, matches, &o, &mut notes);
            let at = format!("{h:?} {ih} {matches} {allow}");
            match want {
                Some((n, note)) => {
                    assert_eq!(got.unwrap(), n, "{at}");
                    assert_eq!(notes, note.into_iter().collect::<Vec<_>>(), "{at}");
                }
                None => {
                    let e = got.expect_err("refused");
                    assert_eq!(e.exit_code(), crate::error::exit::REFUSED, "{at}");
                    let want = format!(
                        "height mismatch: the swing-store export's blockHeight (the block it was exported at) is {}, but genesis initial_height {ih} needs state at block {} (initial_height - 1)",
                        h.unwrap(),
                        ih.saturating_sub(1)
                    );
                    assert!(e.to_string().starts_with(&want), "{at}: {e}");
                    assert!(notes.is_empty());
                }
            }
        }
    }

    #[test]
    fn the_genesis_hash_must_be_the_datas_or_absent_or_a_skip_hash_the_source_replaces() {
        let data = TINY_HASH;
        let with = |h: Option<&str>| {
            let h = h.map(str::to_string);
            genesis_with(move |g| {
                let sw = g["app_state"]["swingset"].as_object_mut().unwrap();
                match h {
                    Some(h) => sw.insert("swing_store_export_data_hash".into(), h.into()),
                    None => sw.remove("swing_store_export_data_hash"),
                };
            })
            .genesis
        };
        let check = |h: Option<&str>, entries: u64, replaces: bool| {
            let mut src = Mem::operational();
            src.replaces_skip = replaces;
            let mut notes = Vec::new();
            check_genesis_hash(&with(h), &mut src, data, entries, &mut notes).map(|()| notes)
        };
        assert_eq!(check(Some(data), 457, false).unwrap(), Vec::<String>::new());
        assert_eq!(
            check(None, 457, false).unwrap(),
            [format!(
                "genesis had no swing_store_export_data_hash; set it to {data}"
            )]
        );
        assert_eq!(
            check(Some(EMPTY_EXPORT_DATA_HASH), 457, true).unwrap(),
            [format!(
                "replaced the skip-mode (empty) genesis hash with the real export-data hash {data}"
            )]
        );
        let loc = "genesis.json: swing_store_export_data_hash: ";
        for (h, entries, replaces, why) in [
            (EMPTY_EXPORT_DATA_HASH, 457, false, "is the hash of empty export data (agd export --swing-store-export-mode skip), but the swing-store export has 457 entries"),
            (EMPTY_EXPORT_DATA_HASH, 1, false, "is the hash of empty export data (agd export --swing-store-export-mode skip), but the swing-store export has 1 entries"),
            ("sha256:00", 457, true, "is sha256:00, but the swing-store export data hashes to"),
            ("sha256:00", 457, false, "is sha256:00, but the swing-store export data hashes to"),
        ] {
            let e = check(Some(h), entries, replaces).expect_err("refused");
            assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
            let e = e.to_string();
            assert!(e.starts_with(&format!("{loc}{why}")), "{e}");
        }
    }

    #[test]
    fn a_declared_artifact_mode_the_artifacts_do_not_make_is_refused_or_noted() {
        let (ops, rep, arc, dbg) = (
            ArtifactMode::Operational,
            ArtifactMode::Replay,
            ArtifactMode::Archival,
            ArtifactMode::Debug,
        );
        for declared in [None, Some(ops), Some(dbg), Some(rep), Some(arc)] {
            let mut src = Mem::operational();
            src.declared = declared;
            let dd = digest_data(&mut src, None).unwrap();
            let mut notes = Vec::new();
            let got = artifact_set(&mut src, &dd.data, &mut notes);
            match declared {
                Some(m) if m == rep || m == arc => {
                    let e = got.expect_err("refused").to_string();
                    let want = format!("mem/export-data.jsonl: the export says artifactMode {m}, but it lacks artifacts that mode requires: transcript.");
                    assert!(e.starts_with(&want), "{e}");
                }
                _ => {
                    let (names, mode) = got.unwrap();
                    assert_eq!(mode, ops);
                    assert_eq!(
                        names.keys().cloned().collect::<Vec<_>>(),
                        src.artifact_names()
                    );
                    let note = "artifact mode: the export says debug; its artifacts are exactly the operational set, so the archive records operational";
                    let want: Vec<&str> = if declared == Some(dbg) {
                        vec![note]
                    } else {
                        vec![]
                    };
                    assert_eq!(notes, want, "{declared:?}");
                }
            }
        }
    }

    #[test]
    fn artifacts_a_db_records_are_taken_at_its_word_in_pass_1_if_the_export_data_agrees() {
        let mut src = Mem::operational();
        let snaps: Vec<String> = src
            .artifacts
            .keys()
            .filter(|n| n.starts_with("snapshot."))
            .cloned()
            .collect();
        assert_eq!(snaps.len(), 2);
        // sizes the bytes do not have: pass 1 takes the record, not the bytes
        for n in &snaps {
            let sha = crate::hashes::sha256_hex(&src.artifacts[n]);
            src.recorded.insert(n.clone(), (7, sha));
        }
        let p = plan(genesis(), &mut src, &opts()).unwrap();
        for n in &snaps {
            let m = p
                .manifest
                .members
                .iter()
                .find(|m| *m.name == format!("{ARTIFACT_PREFIX}{n}"))
                .unwrap();
            assert_eq!(m.size, 7);
            assert_eq!(m.sha256.hex(), crate::hashes::sha256_hex(&src.artifacts[n]));
        }
        // a recorded hash the export data does not have
        let n = &snaps[0];
        src.recorded.insert(n.clone(), (7, "00".repeat(32)));
        let e = plan(genesis(), &mut src, &opts()).err().expect("refused");
        assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
        let e = e.to_string();
        assert!(
            e.starts_with(&format!(
                "mem/{n} (artifact {n}): the DB records hash {}, its export data ",
                "00".repeat(32)
            )),
            "{e}"
        );
    }

    #[test]
    fn pack_writes_what_it_planned_and_sums_it_up() {
        let t = tempfile::tempdir().unwrap();
        let art_bytes: u64 = Mem::operational()
            .artifacts
            .values()
            .map(|a| a.len() as u64)
            .sum();
        for (gz, name) in [(false, "out.tar"), (true, "out.tar.gz")] {
            let out = t.path().join(name);
            let o = PackOptions {
                compression: if gz {
                    Compression::Gzip {
                        level: 6,
                        threads: 1,
                    }
                } else {
                    Compression::None
                },
                ..opts()
            };
            let s = pack(genesis(), &mut Mem::operational(), Some(&out), &o).unwrap();
            let file = std::fs::read(&out).unwrap();
            if !gz {
                assert_eq!(s.digest, crate::hashes::sha256_hex(&file));
            }
            assert_eq!(s.output.as_deref(), Some(out.to_str().unwrap()));
            assert_eq!(s.compressed, gz);
            assert_eq!(s.file_bytes, file.len() as u64);
            assert_eq!(s.tar_bytes == s.file_bytes, !gz);
            assert_eq!(
                (s.chain_id.as_str(), s.initial_height, s.export_height),
                ("fixturegen-tiny", 28, 27)
            );
            assert_eq!(
                (
                    s.artifact_mode.as_str(),
                    s.swing_store_export_data_hash.as_str()
                ),
                ("operational", TINY_HASH)
            );
            assert_eq!((s.export_data_entries, s.kv_entries), (457, 409));
            assert_eq!((s.artifacts, s.artifact_bytes), (8, art_bytes));
            assert_eq!(s.notes, Vec::<String>::new());
            let r = crate::verify::verify(&out, Some(&s.digest), false).unwrap();
            assert_eq!(
                (r.ok, r.compressed, r.members),
                (true, gz, 4 + 8),
                "{:?}",
                r.problems
            );
        }
    }

    #[test]
    fn an_exploded_archives_export_manifest_height_is_read_as_one_below() {
        let mut src = Mem::operational();
        src.height = Some(28);
        let p = plan(genesis(), &mut src, &opts()).unwrap();
        assert_eq!(p.manifest.export_height, 27);
        assert_eq!(p.notes, ["the export's blockHeight is initial_height 28, as in an exploded archive; recorded export height 27"]);
        // without the genesis hash binding the data to this genesis: a mismatch
        let g = genesis_with(|g| {
            g["app_state"]["swingset"]
                .as_object_mut()
                .unwrap()
                .remove("swing_store_export_data_hash");
        });
        let e = plan(g, &mut src, &opts()).err().expect("refused");
        assert_eq!(e.exit_code(), crate::error::exit::REFUSED, "{e}");
    }
}
