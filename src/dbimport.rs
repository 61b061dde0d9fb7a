//! Import a swing-store export directory on disk into a new `swingstore.sqlite`, the way
//! the official `importSwingStore` + `import-kernel-db.js` do it (spec §6, §7.2), written
//! natively with rusqlite.
//!
//! What comes out equals the official importer's DB row for row and storage class for
//! storage class (checked with the canonical dump, see [`crate::dump`]):
//!
//! * the schema text of spec §1.3, created in the official order in one transaction;
//! * pass 1: `kv.*` entries into `kvStore` in file order (a value-less entry deletes),
//!   `kv.host.*` refused as the kernel facet refuses it; everything else into an
//!   insertion-ordered map (last wins, a value-less entry deletes);
//! * pass 2: the metadata records, in map order: bundles with a NULL blob, snapshots
//!   with NULL sizes and blob, spans (`isCurrent`/`inUse` as 1/NULL);
//! * pass 3: the artifacts, filtered by mode *before* reading (historical spans in
//!   operational, earlier incarnations in replay, historical snapshots except in debug
//!   are skipped unread), each checked against its record;
//! * the completeness check of the requested mode (`debug` checks as operational);
//! * `host.height`, then commit.
//!
//! Differences from the official importer, all on inputs it would also reject or that
//! would crash it:
//!
//! * metadata records must be in the exporter's exact form and cross-consistent
//!   ([`Metadata::add`], [`Metadata::check`]); the official importer accepts some
//!   non-canonical variants (e.g. other JSON field orders) that no exporter writes;
//! * a replay import of a span of a vat without a current span (a `debug` export holding
//!   a terminated vat) fails with a clear error; the official importer crashes with a
//!   `TypeError` there (spec §6.1, §10.21);
//! * artifacts are imported in name order, not manifest order (the result is the same).
//!
//! Memory stays bounded: transcript items go in one at a time; a snapshot is hashed and
//! gzipped while it streams, into memory up to [`SPILL_MEM`] bytes and beyond that into a
//! scratch file, then copied into a `zeroblob` with incremental blob I/O (the DB needs the
//! compressed size before the blob can be written, and compressing twice would double the
//! CPU cost); b1 bundles stream into a `zeroblob` and are validated by reading the blob
//! back. Only b0 bundles are held whole, because the importer's check re-stringifies the
//! parsed JSON text.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, DatabaseName, OpenFlags, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{bail, Error, Result};
use crate::exportdir::ExportDir;
use crate::hashes::{check_b0, check_b1, is_js_whitespace, SpanHasher};
use crate::model::{ArtifactMode, ArtifactName, Family, Metadata};
use crate::progress::Progress;

/// The DB file name inside a swing-store directory.
pub const DB_FILE: &str = "swingstore.sqlite";

/// The schema statements, in the official creation order (spec §1.2, §1.3). SQLite keeps
/// the text after `IF NOT EXISTS` verbatim in `sqlite_master`.
pub const SCHEMA: [&str; 7] = [
    "CREATE TABLE IF NOT EXISTS pendingExports (\n      key TEXT,\n      value TEXT,\n      PRIMARY KEY (key)\n    )",
    "CREATE TABLE IF NOT EXISTS kvStore (\n      key TEXT,\n      value TEXT,\n      PRIMARY KEY (key)\n    )",
    "CREATE TABLE IF NOT EXISTS transcriptItems (\n      vatID TEXT,\n      position INTEGER,\n      item TEXT,\n      incarnation INTEGER,\n      PRIMARY KEY (vatID, position)\n    )",
    "CREATE TABLE IF NOT EXISTS transcriptSpans (\n      vatID TEXT,\n      startPos INTEGER, -- inclusive\n      endPos INTEGER, -- exclusive\n      hash TEXT, -- cumulative hash of this item and previous cumulative hash\n      isCurrent INTEGER CHECK (isCurrent = 1),\n      incarnation INTEGER,\n      PRIMARY KEY (vatID, startPos),\n      UNIQUE (vatID, isCurrent)\n    )",
    "CREATE INDEX IF NOT EXISTS currentTranscriptIndex\n    ON transcriptSpans (vatID, isCurrent)\n  ",
    "CREATE TABLE IF NOT EXISTS snapshots (\n      vatID TEXT,\n      snapPos INTEGER,\n      inUse INTEGER CHECK(inUse = 1),\n      hash TEXT,\n      uncompressedSize INTEGER,\n      compressedSize INTEGER,\n      compressedSnapshot BLOB,\n      PRIMARY KEY (vatID, snapPos),\n      UNIQUE (vatID, inUse)\n    )",
    "CREATE TABLE IF NOT EXISTS bundles (\n      bundleID TEXT,\n      bundle BLOB,\n      PRIMARY KEY (bundleID)\n    )",
];

/// Threads that gzip a snapshot blob (in `explode`, the extraction is mostly done by the
/// time the DB builder compresses the snapshots, so a second core is free).
const SNAPSHOT_GZIP_THREADS: usize = 2;

/// Compressed snapshots up to this size stay in memory before going into the DB.
pub const SPILL_MEM: usize = 4 << 20;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The requested artifact mode (`None`: the manifest's `artifactMode`, else
    /// operational, as import-kernel-db.js does).
    pub mode: Option<ArtifactMode>,
    /// `host.height` to stamp; `None`: the manifest's `blockHeight` (required then).
    /// When both are present they must agree (import-kernel-db.js's height check).
    pub block_height: Option<u64>,
    /// Where large compressed snapshots are staged (same filesystem as the DB is best);
    /// `None`: the system temp dir.
    pub scratch_dir: Option<PathBuf>,
    pub progress: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    /// Not in JSON: the summaries that hold this one name the DB file already (`path`).
    #[serde(skip_serializing)]
    pub db: String,
    pub artifact_mode: String,
    pub host_height: u64,
    pub kv_rows: u64,
    pub transcript_spans: u64,
    pub transcript_items: u64,
    pub snapshots: u64,
    pub snapshot_blobs: u64,
    pub bundles: u64,
    pub artifacts_imported: u64,
    /// Artifacts the mode ignores, skipped without reading (as the official importer).
    pub artifacts_skipped: u64,
    /// Not in JSON: the summaries that hold this one give the DB's size already.
    #[serde(skip_serializing)]
    pub db_bytes: u64,
}

fn sq(loc: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::sqlite(loc, e)
}

/// What an import reads: the export data entries (in file order), then the artifact files
/// (in name order). [`import_export_dir`] reads an export directory on disk; `agar explode`
/// feeds a [`StreamInput`] while it extracts the archive, so the DB is built at the same
/// time (on another thread) instead of from a second read of the extracted files.
/// Receives one export-data entry: (location, key, value).
pub type EntryFn<'a> = dyn FnMut(&str, &str, Option<&str>) -> Result<()> + 'a;

pub trait ImportInput {
    /// Calls `f(location, key, value)` for every entry, in order.
    fn for_each_entry(&mut self, f: &mut EntryFn<'_>) -> Result<()>;
    /// The next artifact (name, file), in name order; `None` after the last.
    fn next_artifact(&mut self) -> Result<Option<(String, PathBuf)>>;
    /// Total artifact bytes, for the progress bar (0: unknown, no bar).
    fn artifact_bytes(&self) -> u64;
    /// The export data's location, for messages.
    fn data_location(&self) -> String;
}

struct DirInput<'a> {
    export: &'a ExportDir,
    data_file: &'a Path,
    next: std::collections::btree_map::Iter<'a, String, PathBuf>,
}

impl ImportInput for DirInput<'_> {
    fn for_each_entry(&mut self, f: &mut EntryFn<'_>) -> Result<()> {
        crate::exportdir::for_each_line(self.data_file, &mut |loc, e| {
            f(loc, &e.key, e.value.as_deref())
        })
    }
    fn next_artifact(&mut self) -> Result<Option<(String, PathBuf)>> {
        Ok(self.next.next().map(|(n, p)| (n.clone(), p.clone())))
    }
    fn artifact_bytes(&self) -> u64 {
        self.export
            .artifacts
            .values()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }
    fn data_location(&self) -> String {
        self.data_file.display().to_string()
    }
}

/// One message of a [`StreamInput`].
pub enum Feed {
    /// A batch of export-data entries, in order.
    Entries(EntryBatch),
    /// No more entries.
    DataEnd,
    /// An artifact file that is complete and verified.
    Artifact(String, PathBuf),
    /// No more artifacts.
    End,
}

/// Export-data entries packed in one string (no allocation per entry).
#[derive(Default)]
pub struct EntryBatch {
    text: String,
    /// (key start, key end = value start, value end, has value)
    spans: Vec<(usize, usize, usize, bool)>,
}

impl EntryBatch {
    /// A batch this big is sent on.
    pub const MAX_BYTES: usize = 1 << 20;
    pub const MAX_ENTRIES: usize = 8192;
    pub fn push(&mut self, key: &str, value: Option<&str>) {
        let a = self.text.len();
        self.text.push_str(key);
        let b = self.text.len();
        self.text.push_str(value.unwrap_or(""));
        self.spans.push((a, b, self.text.len(), value.is_some()));
    }
    pub fn is_full(&self) -> bool {
        self.text.len() >= Self::MAX_BYTES || self.spans.len() >= Self::MAX_ENTRIES
    }
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// An [`ImportInput`] fed through a bounded channel by another thread.
pub struct StreamInput {
    rx: std::sync::mpsc::Receiver<Feed>,
    data_file: PathBuf,
}

impl StreamInput {
    /// `data_file` names the export data in messages (the file being written).
    pub fn new(rx: std::sync::mpsc::Receiver<Feed>, data_file: PathBuf) -> StreamInput {
        StreamInput { rx, data_file }
    }
    fn recv(&self) -> Result<Feed> {
        self.rx.recv().map_err(|_| {
            Error::io_at(
                self.data_location(),
                io::Error::other("the input stopped before its end"),
            )
        })
    }
}

impl ImportInput for StreamInput {
    fn for_each_entry(&mut self, f: &mut EntryFn<'_>) -> Result<()> {
        let shown = self.data_location();
        let mut loc = String::with_capacity(shown.len() + 32);
        let mut lineno = 0u64;
        loop {
            match self.recv()? {
                Feed::Entries(b) => {
                    for &(k, v, e, has) in &b.spans {
                        lineno += 1;
                        loc.clear();
                        {
                            use std::fmt::Write as _;
                            let _ = write!(loc, "{shown}: line {lineno}");
                        }
                        let value = has.then(|| &b.text[v..e]);
                        f(&loc, &b.text[k..v], value)?;
                    }
                }
                Feed::DataEnd => return Ok(()),
                _ => {
                    return bail(
                        &shown,
                        "artifacts arrived before the end of the export data",
                    )
                }
            }
        }
    }
    fn next_artifact(&mut self) -> Result<Option<(String, PathBuf)>> {
        match self.recv()? {
            Feed::Artifact(n, p) => Ok(Some((n, p))),
            Feed::End => Ok(None),
            _ => bail(
                self.data_location(),
                "export data arrived after the artifacts",
            ),
        }
    }
    fn artifact_bytes(&self) -> u64 {
        0
    }
    fn data_location(&self) -> String {
        self.data_file.display().to_string()
    }
}

/// import-kernel-db.js's manifest checks (spec §7.2): the requested mode and height
/// against what the manifest says. Returns the mode and the `host.height` to stamp.
pub fn check_manifest(
    loc: &str,
    has_data: bool,
    artifacts: usize,
    block_height: Option<u64>,
    artifact_mode: Option<ArtifactMode>,
    opts: &ImportOptions,
) -> Result<(ArtifactMode, u64)> {
    if !has_data {
        return bail(
            loc,
            "the manifest names no export data (\"data\"); the importer needs export-data.jsonl",
        );
    }
    if artifacts == 0 {
        return bail(
            loc,
            "the manifest lists no artifacts; the official importer refuses an empty artifact list",
        );
    }
    let host_height = match (opts.block_height, block_height) {
        (Some(h), Some(m)) if h != m => {
            return Err(Error::Refused(format!(
                "{loc}: blockHeight is {m}, but height {h} was requested"
            )))
        }
        (Some(h), _) => h,
        (None, Some(m)) => m,
        (None, None) => {
            return bail(loc, "the manifest has no blockHeight (a Go manifest omits it); give the block height explicitly")
        }
    };
    let mode = opts
        .mode
        .or(artifact_mode)
        .unwrap_or(ArtifactMode::Operational);
    if let Some(have) = artifact_mode {
        if !have.satisfies(mode) {
            return Err(Error::Refused(format!(
                "{loc}: the export holds {have} artifacts, which cannot be imported as {mode} ({} export)",
                // only replay and archival imports need more than any export holds
                match mode {
                    ArtifactMode::Replay => "a replay import needs a replay, archival or debug",
                    _ => "an archival import needs an archival or debug",
                }
            )));
        }
    }
    Ok((mode, host_height))
}

/// Import the export directory `dir` into a new DB file `db_file` (which must not exist).
/// On error the partial file is removed. The file is synced to disk before returning.
pub fn import_export_dir(
    dir: &Path,
    db_file: &Path,
    opts: &ImportOptions,
) -> Result<ImportSummary> {
    let export = ExportDir::open(dir)?;
    let loc = dir
        .join(crate::exportdir::MANIFEST_FILE)
        .display()
        .to_string();
    let (mode, host_height) = check_manifest(
        &loc,
        export.data_file.is_some(),
        export.artifacts.len(),
        export.block_height,
        export.artifact_mode,
        opts,
    )?;
    let data_file = export.data_file.as_deref().expect("checked above");
    let mut input = DirInput {
        export: &export,
        data_file,
        next: export.artifacts.iter(),
    };
    import_stream(&mut input, db_file, mode, host_height, opts)
}

/// Side files SQLite keeps next to a DB (and would apply to a new DB of the same name);
/// the write-ahead log comes first.
pub const DB_SIDE_SUFFIXES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// `DB` + `suffix` (e.g. `swingstore.sqlite-wal`).
pub fn side_file(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The write-ahead log of `db` (`swingstore.sqlite-wal`): present while a node has the
/// DB open, or after it stopped uncleanly.
pub fn wal_file(db: &Path) -> PathBuf {
    side_file(db, DB_SIDE_SUFFIXES[0])
}

/// Import `input` into a new DB file `db_file` (which must not exist), in `mode`, with
/// `host.height` = `host_height` (check them first with [`check_manifest`]). On error
/// the partial file is removed. The file is synced to disk before returning.
pub fn import_stream(
    input: &mut dyn ImportInput,
    db_file: &Path,
    mode: ArtifactMode,
    host_height: u64,
    opts: &ImportOptions,
) -> Result<ImportSummary> {
    if db_file.exists() {
        return Err(Error::Refused(format!(
            "{}: already exists; the importer writes a new DB only",
            db_file.display()
        )));
    }
    let res = import_into(input, db_file, mode, host_height, opts);
    if res.is_err() {
        let _ = std::fs::remove_file(db_file);
        for side in DB_SIDE_SUFFIXES {
            let _ = std::fs::remove_file(side_file(db_file, side));
        }
    }
    res
}

/// The importer, step by step (spec §6): a new DB with the schema in one transaction;
/// the export data (kv rows, then the metadata records); the artifacts the mode keeps;
/// the completeness check; `host.height`; commit and sync.
fn import_into(
    input: &mut dyn ImportInput,
    db_file: &Path,
    mode: ArtifactMode,
    host_height: u64,
    opts: &ImportOptions,
) -> Result<ImportSummary> {
    let dbloc = db_file.display().to_string();
    let conn = create_db(db_file, &dbloc)?;
    let others = import_entries(&conn, input, &dbloc)?;
    let meta = import_records(&conn, &others, &input.data_location(), &dbloc)?;
    let (imported, skipped) = import_artifacts(&conn, input, &meta, mode, opts, &dbloc)?;
    // debug imports are checked as operational (the official importer does the same)
    let checked_as = if mode == ArtifactMode::Debug {
        ArtifactMode::Operational
    } else {
        mode
    };
    assert_complete(&conn, &dbloc, checked_as)?;
    commit_and_sync(conn, db_file, mode, host_height, (imported, skipped))
}

/// Fast, non-persistent settings for the importer's one big transaction (the official
/// importer uses journal_mode=off too); the file is fsynced explicitly at the end. An
/// 8 MiB page cache: rows arrive in key order and append to the B-trees.
pub const IMPORT_PRAGMAS: &str =
    "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8192; PRAGMA temp_store=MEMORY;";

/// A new DB file with the schema, inside one open transaction.
fn create_db(db_file: &Path, dbloc: &str) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        db_file,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sq(dbloc))?;
    conn.execute_batch(IMPORT_PRAGMAS).map_err(sq(dbloc))?;
    conn.execute_batch("BEGIN IMMEDIATE TRANSACTION")
        .map_err(sq(dbloc))?;
    for stmt in SCHEMA {
        conn.execute(stmt, []).map_err(sq(dbloc))?;
    }
    Ok(conn)
}

/// Pass 1: kv rows go in now (a value-less entry deletes); every other entry goes into an
/// insertion-ordered map (last wins, a value-less entry deletes), returned in that order.
fn import_entries(
    conn: &Connection,
    input: &mut dyn ImportInput,
    dbloc: &str,
) -> Result<Vec<(String, String)>> {
    let mut others: HashMap<String, (u64, String)> = HashMap::new();
    let mut seq = 0u64;
    {
        let mut set = conn
            .prepare("INSERT INTO kvStore (key, value) VALUES (?1, ?2) ON CONFLICT DO UPDATE SET value = excluded.value")
            .map_err(sq(dbloc))?;
        let mut del = conn
            .prepare("DELETE FROM kvStore WHERE key = ?1")
            .map_err(sq(dbloc))?;
        input.for_each_entry(&mut |lloc, key, value| {
            // a key without a `.` ("kv") is no kv entry: it fails as an unknown type below
            if let Some(sub) = crate::model::kv_store_key(key) {
                if sub.starts_with("host.") {
                    return bail(
                        format!("{lloc}, key {key:?}"),
                        "host.* keys are node-local and cannot be imported as consensus data (the official importer refuses them: kernelKVStore refuses host keys)",
                    );
                }
                match value {
                    Some(v) => set.execute(params![sub, v]).map(|_| ()),
                    None => del.execute(params![sub]).map(|_| ()),
                }
                .map_err(|er| Error::sqlite(format!("{lloc}, key {key:?}"), er))?;
            } else {
                match value {
                    Some(v) => match others.get_mut(key) {
                        Some(slot) => v.clone_into(&mut slot.1),
                        None => {
                            others.insert(key.to_string(), (seq, v.to_string()));
                            seq += 1;
                        }
                    },
                    None => {
                        others.remove(key);
                    }
                }
            }
            Ok(())
        })?;
    }

    let mut ordered: Vec<(String, (u64, String))> = others.into_iter().collect();
    ordered.sort_by_key(|(_, (s, _))| *s);
    Ok(ordered.into_iter().map(|(k, (_, v))| (k, v)).collect())
}

/// Pass 2: the metadata records, in insertion order: bundles with a NULL blob, snapshots
/// with NULL sizes and blob, spans. Returns the parsed, cross-checked records.
fn import_records(
    conn: &Connection,
    ordered: &[(String, String)],
    dloc: &str,
    dbloc: &str,
) -> Result<Metadata> {
    let mut meta = Metadata::default();
    for (key, value) in ordered {
        if crate::model::family(key).is_none() {
            return bail(
                format!("{dloc}: key {key:?}"),
                "unknown export-data type (expected kv., snapshot., transcript. or bundle.)",
            );
        }
        meta.add(dloc, key, value)?;
    }
    meta.check(dloc)?;
    {
        let mut ins_b = conn
            .prepare("INSERT INTO bundles (bundleID, bundle) VALUES (?1, NULL)")
            .map_err(sq(dbloc))?;
        let mut ins_s = conn
            .prepare("INSERT INTO snapshots (vatID, snapPos, hash, inUse) VALUES (?1, ?2, ?3, ?4)")
            .map_err(sq(dbloc))?;
        let mut ins_t = conn
            .prepare("INSERT INTO transcriptSpans (vatID, startPos, endPos, hash, isCurrent, incarnation) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .map_err(sq(dbloc))?;
        for (key, _) in ordered {
            let kloc = || format!("{dloc}: key {key:?}");
            let parts: Vec<&str> = key.split('.').collect();
            let r = match crate::model::family(key) {
                Some(Family::Bundle) => ins_b.execute(params![parts[1]]),
                Some(Family::Snapshot) if parts[2] == "current" => continue,
                Some(Family::Snapshot) => {
                    let pos = crate::model::parse_pos(parts[2]).unwrap_or(u64::MAX);
                    let rec = &meta.snapshots[&(parts[1].to_string(), pos)];
                    ins_s.execute(params![
                        rec.vat,
                        rec.snap_pos as i64,
                        rec.hash,
                        rec.in_use.then_some(1i64)
                    ])
                }
                Some(Family::Transcript) => {
                    let rec = if parts[2] == "current" {
                        meta.current_span(parts[1])
                    } else {
                        crate::model::parse_pos(parts[2])
                            .and_then(|p| meta.spans.get(&(parts[1].to_string(), p)))
                    }
                    .ok_or_else(|| Error::invalid(kloc(), "span record lost"))?;
                    ins_t.execute(params![
                        rec.vat,
                        rec.start_pos as i64,
                        rec.end_pos as i64,
                        rec.hash,
                        rec.is_current.then_some(1i64),
                        rec.incarnation as i64
                    ])
                }
                _ => continue,
            };
            r.map_err(|e| Error::sqlite(kloc(), e))?;
        }
    }

    Ok(meta)
}

/// Pass 3: the artifacts, each filtered by mode *before* it is read (historical spans in
/// operational, earlier incarnations in replay, historical snapshots except in debug are
/// skipped unread) and checked against its record. Returns (imported, skipped).
fn import_artifacts(
    conn: &Connection,
    input: &mut dyn ImportInput,
    meta: &Metadata,
    mode: ArtifactMode,
    opts: &ImportOptions,
    dbloc: &str,
) -> Result<(u64, u64)> {
    let total = input.artifact_bytes();
    let progress = Progress::bytes(opts.progress && total > 0, "building DB", total);
    let mut imported = 0u64;
    let mut skipped = 0u64;
    // first startPos of each live vat's current incarnation
    let mut inc_start: BTreeMap<&str, u64> = BTreeMap::new();
    for rec in meta.spans.values() {
        if let Some(cur) = meta.current_span(&rec.vat) {
            if rec.incarnation == cur.incarnation {
                let e = inc_start.entry(rec.vat.as_str()).or_insert(rec.start_pos);
                *e = (*e).min(rec.start_pos);
            }
        }
    }
    let mut ins_item = conn
        .prepare("INSERT INTO transcriptItems (vatID, position, item, incarnation) VALUES (?1, ?2, ?3, ?4)")
        .map_err(sq(dbloc))?;
    while let Some((name, path)) = input.next_artifact()? {
        let (name, path) = (&name, &path);
        let aloc = path.display().to_string();
        let parsed = ArtifactName::parse(name).map_err(|e| Error::invalid(&aloc, e))?;
        let fsize = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        match &parsed {
            ArtifactName::Bundle { id } => {
                if !meta.bundles.contains(id) {
                    return bail(&aloc, format!("bundle artifact {name}: missing {id} (no bundle.{id} record in the export data)"));
                }
                import_bundle(conn, id, path, fsize)?;
            }
            ArtifactName::Snapshot { vat, snap_pos } => {
                let Some(rec) = meta.snapshots.get(&(vat.clone(), *snap_pos)) else {
                    return bail(&aloc, format!("snapshot artifact {name}: no snapshot.{vat}.{snap_pos} record in the export data"));
                };
                if !rec.in_use && !mode.keeps_historical_snapshots() {
                    skipped += 1;
                    progress.inc(fsize);
                    continue;
                }
                import_snapshot(conn, name, rec, path, opts.scratch_dir.as_deref())?;
            }
            ArtifactName::Transcript {
                vat,
                start_pos,
                end_pos,
            } => {
                let rec = match meta.spans.get(&(vat.clone(), *start_pos)) {
                    Some(r) if r.end_pos == *end_pos => r,
                    Some(r) => return bail(&aloc, format!("transcript artifact {name}: its span record {} ends at {}, not {end_pos}", r.key(), r.end_pos)),
                    None => return bail(&aloc, format!("transcript artifact {name}: no transcript span record for vat {vat} starting at {start_pos}")),
                };
                let skip = match mode {
                    ArtifactMode::Operational => !rec.is_current,
                    ArtifactMode::Replay => match inc_start.get(vat.as_str()) {
                        Some(s) => rec.start_pos < *s,
                        None => return Err(Error::Refused(format!(
                            "{aloc}: transcript artifact {name}: vat {vat} has no current transcript span (it was terminated), so a replay import cannot place this span (the official importer crashes here with a TypeError). Import this export as operational, archival or debug instead"
                        ))),
                    },
                    ArtifactMode::Archival | ArtifactMode::Debug => false,
                };
                if skip {
                    skipped += 1;
                    progress.inc(fsize);
                    continue;
                }
                import_span(&mut ins_item, name, rec, path)?;
            }
        }
        imported += 1;
        progress.inc(fsize);
    }
    drop(ins_item);
    progress.finish();

    Ok((imported, skipped))
}

/// `host.height`, commit, the summary counts, and the file synced to disk.
fn commit_and_sync(
    conn: Connection,
    db_file: &Path,
    mode: ArtifactMode,
    host_height: u64,
    (imported, skipped): (u64, u64),
) -> Result<ImportSummary> {
    let dbloc = db_file.display().to_string();
    conn.execute(
        "INSERT INTO kvStore (key, value) VALUES ('host.height', ?1) ON CONFLICT DO UPDATE SET value = excluded.value",
        params![host_height.to_string()],
    )
    .map_err(sq(&dbloc))?;
    conn.execute_batch("COMMIT").map_err(sq(&dbloc))?;

    let count = |sql: &str| -> Result<u64> {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(sq(&dbloc))
    };
    let mut s = ImportSummary {
        db: dbloc.clone(),
        artifact_mode: mode.to_string(),
        host_height,
        kv_rows: count("SELECT COUNT(*) FROM kvStore")?,
        transcript_spans: count("SELECT COUNT(*) FROM transcriptSpans")?,
        transcript_items: count("SELECT COUNT(*) FROM transcriptItems")?,
        snapshots: count("SELECT COUNT(*) FROM snapshots")?,
        snapshot_blobs: count(
            "SELECT COUNT(*) FROM snapshots WHERE compressedSnapshot IS NOT NULL",
        )?,
        bundles: count("SELECT COUNT(*) FROM bundles")?,
        artifacts_imported: imported,
        artifacts_skipped: skipped,
        db_bytes: 0,
    };
    conn.close().map_err(|(_, e)| Error::sqlite(&dbloc, e))?;
    let f = File::open(db_file).map_err(|e| Error::io(db_file, e))?;
    f.sync_all().map_err(|e| Error::io(db_file, e))?;
    s.db_bytes = f.metadata().map_err(|e| Error::io(db_file, e))?.len();
    Ok(s)
}

/// `assertComplete(mode)` (spec §6.4) on a swing-store DB, shared by the importer's final
/// check and the exporter's: the first problem, with vats and numbers, if any. Bundles
/// without bytes, then in-use snapshots without bytes, then each live vat's transcript
/// from where `mode` needs it (operational and debug: its current span; replay: the
/// first span of its current incarnation; archival: position 0) to the current end.
/// Text values are read as the official code reads them (lossily).
pub fn completeness_problem(
    conn: &Connection,
    mode: ArtifactMode,
) -> rusqlite::Result<Option<String>> {
    let texts = |sql: &str| -> rusqlite::Result<Vec<String>> {
        let mut st = conn.prepare_cached(sql)?;
        let rows = st.query_map([], |r| Ok(lossy_text(r.get_ref(0)?)))?;
        rows.collect()
    };
    let missing = texts("SELECT bundleID FROM bundles WHERE bundle IS NULL ORDER BY bundleID")?;
    if !missing.is_empty() {
        return Ok(Some(format!("missing bundles for: {}", missing.join(", "))));
    }
    let pruned = texts(
        "SELECT vatID FROM snapshots WHERE inUse = 1 AND compressedSnapshot IS NULL ORDER BY vatID",
    )?;
    if !pruned.is_empty() {
        return Ok(Some(format!(
            "current snapshots are pruned for vats {}",
            pruned.join(", ")
        )));
    }
    let currents: Vec<(String, i64, i64, i64)> = {
        let mut st = conn.prepare_cached("SELECT vatID, startPos, endPos, incarnation FROM transcriptSpans WHERE isCurrent = 1 ORDER BY vatID")?;
        let rows = st.query_map([], |r| {
            Ok((lossy_text(r.get_ref(0)?), r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (vat, start, end, inc) in currents {
        let (from, what) = match mode {
            ArtifactMode::Operational | ArtifactMode::Debug => {
                (start, "incomplete current transcript span")
            }
            ArtifactMode::Replay => (
                conn.query_row(
                    "SELECT MIN(startPos) FROM transcriptSpans WHERE vatID = ?1 AND incarnation = ?2",
                    params![vat, inc],
                    |r| r.get::<_, Option<i64>>(0),
                )?
                .unwrap_or(start),
                "incomplete current incarnation transcript",
            ),
            ArtifactMode::Archival => (0, "incomplete archival transcript"),
        };
        let have: i64 = conn.query_row(
            "SELECT COUNT(*) FROM transcriptItems WHERE vatID = ?1 AND position >= ?2 AND position < ?3",
            params![vat, from, end],
            |r| r.get(0),
        )?;
        if have != end - from {
            return Ok(Some(format!(
                "{what}: vat {vat} has {have} of the {} items of positions {from}..{end}",
                end - from
            )));
        }
    }
    Ok(None)
}

/// A TEXT value as the official code reads it (invalid UTF-8 as U+FFFD); other storage
/// classes as SQLite would print them.
fn lossy_text(v: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(x) => x.to_string(),
        ValueRef::Null => "null".into(),
    }
}

/// The importer's final check (`assertComplete(mode === 'debug' ? 'operational' : mode)`).
fn assert_complete(conn: &Connection, dbloc: &str, mode: ArtifactMode) -> Result<()> {
    match completeness_problem(conn, mode).map_err(sq(dbloc))? {
        None => Ok(()),
        Some(p) => bail(
            dbloc,
            format!("{p}; an {mode} import needs them all (use a weaker --artifact-mode, or an export that holds the missing artifacts)"),
        ),
    }
}

fn import_bundle(conn: &Connection, id: &str, path: &Path, fsize: u64) -> Result<()> {
    let aloc = path.display().to_string();
    if let Some(p) = crate::hashes::sqlite_blob_problem(fsize) {
        return bail(&aloc, format!("bundle.{id}: {p}"));
    }
    if let Some(h) = id.strip_prefix("b0-") {
        if fsize > crate::hashes::MAX_B0_BUNDLE_BYTES {
            return bail(&aloc, format!("bundle.{id}: {fsize} bytes is more than the {}-byte b0 bundle limit (real b0 bundles are a few MB)", crate::hashes::MAX_B0_BUNDLE_BYTES));
        }
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        check_b0(h, &text).map_err(|e| Error::invalid(&aloc, format!("bundle.{id}: {e}")))?;
        let text = String::from_utf8(text)
            .map_err(|_| Error::invalid(&aloc, format!("bundle.{id}: not UTF-8")))?;
        conn.execute(
            "UPDATE bundles SET bundle = ?1 WHERE bundleID = ?2",
            params![text, id],
        )
        .map_err(|e| Error::sqlite(&aloc, e))?;
        return Ok(());
    }
    let h = id.strip_prefix("b1-").unwrap_or("");
    conn.execute(
        "UPDATE bundles SET bundle = zeroblob(?1) WHERE bundleID = ?2",
        params![fsize as i64, id],
    )
    .map_err(|e| Error::sqlite(&aloc, e))?;
    let rowid: i64 = conn
        .query_row(
            "SELECT rowid FROM bundles WHERE bundleID = ?1",
            params![id],
            |r| r.get(0),
        )
        .map_err(|e| Error::sqlite(&aloc, e))?;
    let mut blob = conn
        .blob_open(DatabaseName::Main, "bundles", "bundle", rowid, false)
        .map_err(|e| Error::sqlite(&aloc, e))?;
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let n = copy_exact(&mut f, &mut blob, fsize).map_err(|e| Error::io(path, e))?;
    if n != fsize {
        return bail(&aloc, "the file changed size while it was read");
    }
    blob.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    check_b1(h, &mut blob).map_err(|e| Error::invalid(&aloc, format!("bundle.{id}: {e}")))?;
    Ok(())
}

/// Copy exactly `len` bytes (or until EOF) from `r` to `w`.
fn copy_exact(r: &mut dyn Read, w: &mut dyn Write, len: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = 0u64;
    while done < len {
        let want = buf.len().min((len - done) as usize);
        let n = r.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        w.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(done)
}

/// Compressed bytes: in memory up to [`SPILL_MEM`], then in an anonymous scratch file.
enum Spill {
    Mem(Vec<u8>),
    File(File, u64),
}

struct SpillWriter<'a> {
    spill: Spill,
    scratch: Option<&'a Path>,
}

impl Write for SpillWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Spill::Mem(v) = &mut self.spill {
            if v.len() + buf.len() <= SPILL_MEM {
                v.extend_from_slice(buf);
                return Ok(buf.len());
            }
            let mut f = match self.scratch {
                Some(d) => tempfile::tempfile_in(d)?,
                None => tempfile::tempfile()?,
            };
            f.write_all(v)?;
            let n = v.len() as u64;
            self.spill = Spill::File(f, n);
        }
        match &mut self.spill {
            Spill::File(f, n) => {
                f.write_all(buf)?;
                *n += buf.len() as u64;
                Ok(buf.len())
            }
            Spill::Mem(_) => unreachable!("spilled above"),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn import_snapshot(
    conn: &Connection,
    name: &str,
    rec: &crate::model::SnapshotRecord,
    path: &Path,
    scratch: Option<&Path>,
) -> Result<()> {
    let aloc = path.display().to_string();
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    // gzip level 6 and a Node-like header as the official importer, deflated in parallel
    // (1 MiB chunks on two threads, see `archive::gz`): a valid gzip stream that
    // decompresses to the same snapshot; the compressed bytes are not part of any hash
    // or of the canonical dump
    let mut gz = crate::archive::gz::ParGzWriter::with_os(
        SpillWriter {
            spill: Spill::Mem(Vec::new()),
            scratch,
        },
        6,
        SNAPSHOT_GZIP_THREADS,
        3,
    )
    .map_err(|e| Error::io_at(format!("{aloc}: compressing"), e))?;
    let mut sha = Sha256::new();
    let mut usize_ = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        usize_ += n as u64;
        gz.write_all(&buf[..n])
            .map_err(|e| Error::io_at(format!("{aloc}: compressing"), e))?;
    }
    let got = hex::encode(sha.finalize());
    if got != rec.hash {
        return bail(
            &aloc,
            format!(
                "snapshot {name:?} hash is {got}, metadata says {}",
                rec.hash
            ),
        );
    }
    let w = gz
        .finish()
        .map_err(|e| Error::io_at(format!("{aloc}: compressing"), e))?;
    let csize = match &w.spill {
        Spill::Mem(v) => v.len() as u64,
        Spill::File(_, n) => *n,
    };
    if let Some(p) = crate::hashes::sqlite_blob_problem(csize) {
        return bail(&aloc, format!("snapshot {name}: compressed, {p}"));
    }
    conn.execute(
        "UPDATE snapshots SET uncompressedSize = ?1, compressedSize = ?2, compressedSnapshot = zeroblob(?2) WHERE vatID = ?3 AND snapPos = ?4",
        params![usize_ as i64, csize as i64, rec.vat, rec.snap_pos as i64],
    )
    .map_err(|e| Error::sqlite(&aloc, e))?;
    let rowid: i64 = conn
        .query_row(
            "SELECT rowid FROM snapshots WHERE vatID = ?1 AND snapPos = ?2",
            params![rec.vat, rec.snap_pos as i64],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| Error::sqlite(&aloc, e))?
        .ok_or_else(|| Error::invalid(&aloc, "snapshot row vanished"))?;
    let mut blob = conn
        .blob_open(
            DatabaseName::Main,
            "snapshots",
            "compressedSnapshot",
            rowid,
            false,
        )
        .map_err(|e| Error::sqlite(&aloc, e))?;
    match w.spill {
        Spill::Mem(v) => blob.write_all(&v).map_err(|e| Error::io_at(&aloc, e))?,
        Spill::File(mut sf, n) => {
            sf.seek(SeekFrom::Start(0))
                .map_err(|e| Error::io_at(&aloc, e))?;
            let done = copy_exact(&mut sf, &mut blob, n).map_err(|e| Error::io_at(&aloc, e))?;
            if done != n {
                return bail(&aloc, "scratch file was truncated");
            }
        }
    }
    Ok(())
}

/// Insert a transcript span's items with the official line rules (spec §6.2): split on
/// `\n`, a missing final newline is accepted, each line decoded as UTF-8 (invalid bytes
/// become U+FFFD, as Node does) and `trimEnd()`-ed; then the count and the hash chain
/// must match the record.
/// The next line of a transcript artifact into `line` (cleared first), holding at most
/// `max_item` + 2 bytes of it: one byte past the limit and its newline are enough to
/// refuse an item, so a hostile line never grows memory further.
fn read_item_line(
    r: &mut impl BufRead,
    line: &mut Vec<u8>,
    max_item: u64,
) -> std::io::Result<usize> {
    line.clear();
    r.take(max_item + 2).read_until(b'\n', line)
}

fn import_span(
    ins: &mut rusqlite::Statement<'_>,
    name: &str,
    rec: &crate::model::SpanRecord,
    path: &Path,
) -> Result<()> {
    let aloc = path.display().to_string();
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut line = Vec::new();
    let mut pos = rec.start_pos;
    let mut hash = SpanHasher::new();
    loop {
        let n = read_item_line(&mut r, &mut line, crate::hashes::MAX_TRANSCRIPT_ITEM_BYTES)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        // as Node reads it: valid UTF-8 as is (validated once: the hot path); else each
        // invalid sequence (at most 3 bytes) becomes U+FFFD (3 bytes), which can make it
        // longer, so it is sized before the conversion allocates anything
        let valid = std::str::from_utf8(body).ok();
        let read_len = match valid {
            Some(s) => s.len(),
            None => body
                .utf8_chunks()
                .map(|c| c.valid().len() + if c.invalid().is_empty() { 0 } else { 3 })
                .sum(),
        };
        if let Some(p) = crate::hashes::transcript_item_problem(pos, read_len as u64) {
            return bail(&aloc, format!("transcript artifact {name}: {p}"));
        }
        if pos >= rec.end_pos {
            return bail(&aloc, format!("artifact {name} is not complete: it holds more lines than the {} items of span {}..{} (vat {})", rec.len(), rec.start_pos, rec.end_pos, rec.vat));
        }
        let text = match valid {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => String::from_utf8_lossy(body),
        };
        let item = text.trim_end_matches(is_js_whitespace);
        ins.execute(params![rec.vat, pos as i64, item, rec.incarnation as i64])
            .map_err(|e| Error::sqlite(format!("{aloc}: position {pos}"), e))?;
        hash.push(item.as_bytes());
        pos += 1;
    }
    if pos != rec.end_pos {
        return bail(&aloc, format!("artifact {name} is not complete: it holds {} items, span {}..{} of vat {} needs {}", pos - rec.start_pos, rec.start_pos, rec.end_pos, rec.vat, rec.len()));
    }
    if hash.hex() != rec.hash {
        return bail(
            &aloc,
            format!(
                "artifact {name} hash is {}, metadata says {} (vat {}, span {}..{})",
                hash.hex(),
                rec.hash,
                rec.vat,
                rec.start_pos,
                rec.end_pos
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashes::span_hash;

    /// A one-vat export whose current span holds `items`, with `artifact` as its bytes.
    fn export(dir: &Path, items: &[&str], artifact: &[u8]) {
        let hash = span_hash(items.iter().map(|s| s.as_bytes()));
        let n = items.len();
        let name = format!("transcript.v1.0.{n}");
        std::fs::write(
            dir.join("export-manifest.json"),
            format!("{{\"blockHeight\":5,\"artifactMode\":\"operational\",\"artifacts\":[[\"{name}\",\"{name}\"]],\"data\":\"export-data.jsonl\"}}"),
        )
        .unwrap();
        std::fs::write(
            dir.join("export-data.jsonl"),
            format!("[\"kv.a\",\"1\"]\n[\"kv.b\",\"2\"]\n[\"kv.b\"]\n[\"transcript.v1.current\",\"{{\\\"vatID\\\":\\\"v1\\\",\\\"startPos\\\":0,\\\"endPos\\\":{n},\\\"hash\\\":\\\"{hash}\\\",\\\"isCurrent\\\":1,\\\"incarnation\\\":0}}\"]\n"),
        )
        .unwrap();
        std::fs::write(dir.join(&name), artifact).unwrap();
    }

    fn import(items: &[&str], artifact: &[u8]) -> Result<(ImportSummary, Vec<String>)> {
        let d = tempfile::tempdir().unwrap();
        export(d.path(), items, artifact);
        let db = d.path().join("out.sqlite");
        let s = import_export_dir(d.path(), &db, &defaults());
        if s.is_err() {
            assert!(!db.exists(), "partial DB removed on error");
        }
        let s = s?;
        let c = Connection::open(&db).unwrap();
        let items: Vec<String> = c
            .prepare("SELECT item FROM transcriptItems ORDER BY position")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        Ok((s, items))
    }

    /// Mode and height from the manifest, no progress.
    fn defaults() -> ImportOptions {
        ImportOptions {
            mode: None,
            block_height: None,
            scratch_dir: None,
            progress: false,
        }
    }

    #[test]
    fn a_kv_tag_without_a_key_is_an_error_not_a_panic() {
        for line in ["[\"kv\",\"x\"]", "[\"kv.\",\"x\"]"] {
            let d = tempfile::tempdir().unwrap();
            export(d.path(), &["a"], b"a\n");
            let data = d.path().join("export-data.jsonl");
            let rest = std::fs::read_to_string(&data).unwrap();
            std::fs::write(&data, format!("{line}\n{rest}")).unwrap();
            let db = d.path().join("out.sqlite");
            let res = import_export_dir(d.path(), &db, &defaults());
            if line.starts_with("[\"kv.\"") {
                // `kv.` is the empty kvStore key, which the official importer also stores
                res.unwrap();
                continue;
            }
            let e = res.unwrap_err();
            assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT, "{line}: {e}");
            assert!(e.to_string().contains("\"kv\""), "{line}: {e}");
            assert!(!db.exists());
        }
    }

    #[test]
    fn line_rules_of_the_official_importer() {
        let (s, items) = import(&["a", "b"], b"a\nb\n").unwrap();
        assert_eq!(items, ["a", "b"]);
        assert_eq!((s.kv_rows, s.host_height, s.transcript_items), (2, 5, 2));
        // missing final newline and CRLF are accepted (trimEnd)
        assert_eq!(import(&["a", "b"], b"a\nb").unwrap().1, ["a", "b"]);
        assert_eq!(import(&["a", "b"], b"a\r\nb\r\n").unwrap().1, ["a", "b"]);
        // trailing Unicode whitespace is trimmed before hashing, as trimEnd does
        assert_eq!(
            import(&["a"], "a\u{2028}\u{feff} \n".as_bytes()).unwrap().1,
            ["a"]
        );
        // an extra empty line: one item too many
        let e = import(&["a", "b"], b"a\nb\n\n").unwrap_err().to_string();
        assert!(e.contains("not complete"), "{e}");
        // too few, wrong content
        let e = import(&["a", "b"], b"a\n").unwrap_err().to_string();
        assert!(e.contains("not complete") && e.contains("v1"), "{e}");
        let e = import(&["a", "b"], b"a\nc\n").unwrap_err().to_string();
        assert!(
            e.contains("hash is") && e.contains("transcript.v1.0.2"),
            "{e}"
        );
    }

    /// Invalid UTF-8 is read as Node reads it: one U+FFFD per invalid sequence, and the
    /// item limit counts the replaced form (3 bytes per 1-3 invalid bytes), before the
    /// replacement is allocated.
    #[test]
    fn invalid_utf8_items_become_fffd_and_the_limit_counts_the_replaced_form() {
        let items = import(&["a\u{fffd}b\u{fffd}"], b"a\xffb\xe2\x80\n")
            .unwrap()
            .1;
        assert_eq!(items, ["a\u{fffd}b\u{fffd}"]);
        let max = crate::hashes::MAX_TRANSCRIPT_ITEM_BYTES as usize;
        // a third of the limit, plus one, of invalid bytes: within the limit as bytes,
        // over it once each becomes U+FFFD
        let mut art = vec![0xffu8; max / 3 + 1];
        art.push(b'\n');
        let e = import(&["x"], &art).unwrap_err().to_string();
        assert!(
            e.contains("item at position 0 is longer than 33554432 bytes"),
            "{e}"
        );
    }

    #[test]
    fn encoding_fixtures_import_in_both_layouts() {
        let base = crate::test_fixture("encoding");
        let d = tempfile::tempdir().unwrap();
        let js = import_export_dir(
            &base.join("js-export-debug"),
            &d.path().join("js.sqlite"),
            &ImportOptions {
                mode: None,
                block_height: None,
                scratch_dir: None,
                progress: false,
            },
        )
        .unwrap();
        assert_eq!((js.artifact_mode.as_str(), js.host_height), ("debug", 42));
        assert_eq!(js.bundles, 2);
        // the Go layout has no blockHeight: it must be given
        let go = base.join("genesis-style-swing-store");
        let mut opts = ImportOptions {
            mode: None,
            block_height: None,
            scratch_dir: None,
            progress: false,
        };
        assert!(import_export_dir(&go, &d.path().join("go0.sqlite"), &opts).is_err());
        opts.block_height = Some(42);
        let g = import_export_dir(&go, &d.path().join("go.sqlite"), &opts).unwrap();
        assert_eq!(g.artifact_mode, "operational");
        assert_eq!(g.kv_rows, js.kv_rows);
        // operational vs debug of the same data: debug also holds the historical spans
        assert!(js.transcript_items > g.transcript_items);
    }

    // ---- the importer against the official importer's DBs, and its edges

    use crate::error::exit;

    use crate::test_fixture as fixture;

    /// The canonical dump of a DB file, as `agar dump` writes it by default.
    fn dump_of(db: &Path) -> String {
        let opts = crate::dump::DumpOptions {
            hash_long: 0,
            include_compressed: false,
            schema: true,
        };
        let mut out = Vec::new();
        crate::dump::dump(db, &mut out, opts).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// `got` is `want`, or the first line where they part.
    fn assert_same_dump(got: &str, want: &str, what: &str) {
        let part = got.lines().zip(want.lines()).position(|(a, b)| a != b);
        assert!(
            got == want,
            "{what}: the dumps part at line {part:?} of {}",
            want.lines().count()
        );
    }

    /// The row count a dump states for `table`.
    fn rows(dump: &str, table: &str) -> u64 {
        let head = format!("## {table} (");
        let l = dump.lines().find(|l| l.starts_with(&head)).unwrap();
        l[head.len()..].split(' ').next().unwrap().parse().unwrap()
    }

    fn artifacts_in(dir: &Path) -> u64 {
        crate::exportdir::ExportDir::open(dir)
            .unwrap()
            .artifacts
            .len() as u64
    }

    /// Import `dir` in `mode` (None: the manifest's), without the manifest checks that
    /// would refuse a mode the export cannot satisfy.
    fn import_as(dir: &Path, db: &Path, mode: ArtifactMode) -> Result<ImportSummary> {
        let export = ExportDir::open(dir).unwrap();
        let mut input = DirInput {
            export: &export,
            data_file: export.data_file.as_deref().unwrap(),
            next: export.artifacts.iter(),
        };
        import_stream(&mut input, db, mode, 27, &defaults())
    }

    #[test]
    fn imports_equal_the_official_importers_in_every_mode() {
        let d = tempfile::tempdir().unwrap();
        for (fx, mode) in [
            ("tiny", "operational"),
            ("tiny", "replay"),
            ("tiny", "archival"),
            ("tiny", "debug"),
            ("pruned", "operational"),
            ("pruned", "debug"),
        ] {
            let what = format!("{fx} {mode}");
            let dir = fixture(&format!("{fx}/export/{mode}"));
            let db = d.path().join(format!("{fx}-{mode}.sqlite"));
            let s = import_export_dir(&dir, &db, &defaults()).unwrap();
            let got = dump_of(&db);
            let want = std::fs::read_to_string(fixture(&format!("{fx}/imported-dumps/{mode}.txt")))
                .unwrap();
            assert_same_dump(&got, &want, &what);
            // the summary counts what the DB holds
            assert_eq!(
                (s.artifact_mode.as_str(), s.host_height),
                (mode, 27),
                "{what}"
            );
            assert_eq!(s.kv_rows, rows(&got, "kvStore"), "{what}");
            assert_eq!(s.transcript_spans, rows(&got, "transcriptSpans"), "{what}");
            assert_eq!(s.transcript_items, rows(&got, "transcriptItems"), "{what}");
            assert_eq!(s.snapshots, rows(&got, "snapshots"), "{what}");
            assert_eq!(s.bundles, rows(&got, "bundles"), "{what}");
            assert_eq!(s.snapshot_blobs, 2, "{what}: the in-use snapshots");
            assert_eq!(s.artifacts_imported, artifacts_in(&dir), "{what}");
            assert_eq!(s.artifacts_skipped, 0, "{what}");
            assert_eq!(s.db_bytes, std::fs::metadata(&db).unwrap().len(), "{what}");
            assert_eq!(s.db, db.display().to_string());
        }
    }

    #[test]
    fn a_stronger_export_imported_in_a_weaker_mode_skips_unread_what_the_mode_leaves_out() {
        let d = tempfile::tempdir().unwrap();
        for (export, mode, as_) in [
            ("archival", ArtifactMode::Replay, "replay"),
            ("archival", ArtifactMode::Operational, "operational"),
            ("debug", ArtifactMode::Operational, "operational"),
            ("replay", ArtifactMode::Operational, "operational"),
        ] {
            let what = format!("{export} as {mode}");
            let dir = fixture(&format!("tiny/export/{export}"));
            let db = d.path().join(format!("{export}-{as_}.sqlite"));
            let opts = ImportOptions {
                mode: Some(mode),
                ..defaults()
            };
            let s = import_export_dir(&dir, &db, &opts).unwrap();
            let want = std::fs::read_to_string(fixture(&format!("tiny/imported-dumps/{as_}.txt")))
                .unwrap();
            assert_same_dump(&dump_of(&db), &want, &what);
            let kept = artifacts_in(&fixture(&format!("tiny/export/{as_}")));
            assert_eq!(s.artifacts_imported, kept, "{what}");
            assert_eq!(s.artifacts_skipped, artifacts_in(&dir) - kept, "{what}");
        }
    }

    #[test]
    fn a_replay_import_of_a_terminated_vats_spans_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let dir = fixture("tiny/export/debug");
        let db = d.path().join("out.sqlite");
        let opts = ImportOptions {
            mode: Some(ArtifactMode::Replay),
            ..defaults()
        };
        let e = import_export_dir(&dir, &db, &opts).unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("has no current transcript span (it was terminated), so a replay import cannot place this span"), "{msg}");
        assert!(!db.exists());
    }

    #[test]
    fn an_import_missing_what_its_mode_needs_names_it() {
        let d = tempfile::tempdir().unwrap();
        let op = fixture("tiny/export/operational");
        let tail = |m: &str| {
            format!("; an {m} import needs them all (use a weaker --artifact-mode, or an export that holds the missing artifacts)")
        };
        for (mode, what) in [
            (
                ArtifactMode::Replay,
                "incomplete current incarnation transcript: vat ",
            ),
            (
                ArtifactMode::Archival,
                "incomplete archival transcript: vat ",
            ),
        ] {
            let db = d.path().join(format!("{mode}.sqlite"));
            let e = import_as(&op, &db, mode).unwrap_err();
            assert_eq!(e.exit_code(), exit::BAD_INPUT, "{e}");
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("{}: {what}", db.display())),
                "{msg}"
            );
            assert!(
                msg.contains(" items of positions ") && msg.ends_with(&tail(&mode.to_string())),
                "{msg}"
            );
            assert!(!db.exists());
        }
        // an export without a bundle's or an in-use snapshot's bytes
        let copy = d.path().join("copy");
        std::fs::create_dir(&copy).unwrap();
        for e in std::fs::read_dir(&op).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
        }
        let manifest = copy.join("export-manifest.json");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
        let arts = m["artifacts"].as_array_mut().unwrap();
        let first = |arts: &Vec<serde_json::Value>, p: &str| {
            arts.iter()
                .position(|a| a[0].as_str().unwrap().starts_with(p))
                .unwrap()
        };
        let i = first(arts, "bundle.");
        let bundle = arts.remove(i)[0]
            .as_str()
            .unwrap()
            .trim_start_matches("bundle.")
            .to_string();
        std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
        let db = d.path().join("nobundle.sqlite");
        let e = import_as(&copy, &db, ArtifactMode::Operational)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!(
                "missing bundles for: {bundle}; an operational import needs them all"
            )),
            "{e}"
        );
        let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
        let arts = m["artifacts"].as_array_mut().unwrap();
        let i = first(arts, "snapshot.");
        let snap = arts.remove(i)[0].as_str().unwrap().to_string();
        std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
        let vat = snap.split('.').nth(1).unwrap();
        let db = d.path().join("nosnap.sqlite");
        let e = import_as(&copy, &db, ArtifactMode::Operational)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("current snapshots are pruned for vats {vat}; ")),
            "{e}"
        );
        // a debug import is checked as operational
        let db = d.path().join("debug.sqlite");
        let e = import_as(&copy, &db, ArtifactMode::Debug)
            .unwrap_err()
            .to_string();
        assert!(e.contains("; an operational import needs them all"), "{e}");
    }

    #[test]
    fn the_manifest_checks_of_import_kernel_db() {
        use ArtifactMode::*;
        let o = |mode, block_height| ImportOptions {
            mode,
            block_height,
            scratch_dir: None,
            progress: false,
        };
        let e = check_manifest("m", false, 1, Some(5), None, &o(None, None)).unwrap_err();
        assert_eq!(e.exit_code(), exit::BAD_INPUT);
        assert!(
            e.to_string()
                .starts_with("m: the manifest names no export data"),
            "{e}"
        );
        let e = check_manifest("m", true, 0, Some(5), None, &o(None, None)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("m: the manifest lists no artifacts"),
            "{e}"
        );
        // the height: the requested one, which must agree with the manifest's
        let e = check_manifest("m", true, 1, Some(6), None, &o(None, Some(5))).unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e}");
        assert_eq!(
            e.to_string(),
            "m: blockHeight is 6, but height 5 was requested"
        );
        let ok = |h, mh, mode, am| check_manifest("m", true, 1, mh, am, &o(mode, h)).unwrap();
        assert_eq!(ok(Some(5), Some(5), None, None), (Operational, 5));
        assert_eq!(ok(Some(7), None, None, None), (Operational, 7));
        assert_eq!(ok(None, Some(6), None, None), (Operational, 6));
        let e = check_manifest("m", true, 1, None, None, &o(None, None)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("m: the manifest has no blockHeight"),
            "{e}"
        );
        // the mode: the requested one, else the manifest's, else operational
        assert_eq!(ok(None, Some(6), None, Some(Replay)), (Replay, 6));
        assert_eq!(
            ok(None, Some(6), Some(Operational), Some(Archival)),
            (Operational, 6)
        );
        assert_eq!(ok(None, Some(6), Some(Replay), Some(Debug)), (Replay, 6));
        for (want, have, needs) in [
            (
                Archival,
                Replay,
                "an archival import needs an archival or debug",
            ),
            (
                Replay,
                Operational,
                "a replay import needs a replay, archival or debug",
            ),
        ] {
            let o = o(Some(want), None);
            let e = check_manifest("m", true, 1, Some(6), Some(have), &o).unwrap_err();
            assert!(matches!(e, Error::Refused(_)), "{e}");
            let msg = format!("m: the export holds {have} artifacts, which cannot be imported as {want} ({needs} export)");
            assert_eq!(e.to_string(), msg);
        }
    }

    #[test]
    fn an_item_line_is_read_to_its_newline_or_two_bytes_past_the_item_limit() {
        let mut r = std::io::Cursor::new(b"abc\nlonger than ten bytes\n".to_vec());
        let mut line = b"stale".to_vec();
        assert_eq!(read_item_line(&mut r, &mut line, 10).unwrap(), 4);
        assert_eq!(line, b"abc\n");
        assert_eq!(read_item_line(&mut r, &mut line, 10).unwrap(), 12);
        assert_eq!(line, b"longer than ");
    }

    #[test]
    fn a_stream_input_numbers_entries_across_batches() {
        let (tx, rx) = std::sync::mpsc::sync_channel(8);
        let mut a = EntryBatch::default();
        a.push("kv.a", Some("1"));
        a.push("kv.b", None);
        let mut b = EntryBatch::default();
        b.push("bundle.x", Some(""));
        for f in [
            Feed::Entries(a),
            Feed::Entries(b),
            Feed::DataEnd,
            Feed::Artifact("t".into(), "p".into()),
            Feed::End,
        ] {
            tx.send(f).unwrap();
        }
        let mut s = StreamInput::new(rx, "d.jsonl".into());
        assert_eq!(s.data_location(), "d.jsonl");
        assert_eq!(s.artifact_bytes(), 0);
        let mut seen = Vec::new();
        s.for_each_entry(&mut |loc, k, v| {
            seen.push(format!("{loc} {k} {v:?}"));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                "d.jsonl: line 1 kv.a Some(\"1\")",
                "d.jsonl: line 2 kv.b None",
                "d.jsonl: line 3 bundle.x Some(\"\")"
            ]
        );
        assert_eq!(s.next_artifact().unwrap(), Some(("t".into(), "p".into())));
        assert_eq!(s.next_artifact().unwrap(), None);
        drop(tx);
        let e = s.next_artifact().unwrap_err();
        assert_eq!(e.exit_code(), exit::USAGE);
        assert_eq!(e.to_string(), "d.jsonl: the input stopped before its end");
    }

    #[test]
    fn a_stream_input_refuses_messages_out_of_order() {
        let (tx, rx) = std::sync::mpsc::sync_channel(8);
        tx.send(Feed::Artifact("t".into(), "p".into())).unwrap();
        tx.send(Feed::Entries(EntryBatch::default())).unwrap();
        let mut s = StreamInput::new(rx, "d.jsonl".into());
        let e = s.for_each_entry(&mut |_, _, _| Ok(())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "d.jsonl: artifacts arrived before the end of the export data"
        );
        let e = s.next_artifact().unwrap_err();
        assert_eq!(
            e.to_string(),
            "d.jsonl: export data arrived after the artifacts"
        );
    }

    #[test]
    fn an_entry_batch_is_full_at_its_byte_or_entry_limit() {
        let mut b = EntryBatch::default();
        assert!(b.is_empty() && !b.is_full());
        b.push(&"k".repeat(EntryBatch::MAX_BYTES - 1), None);
        assert!(!b.is_empty() && !b.is_full());
        b.push("k", None);
        assert!(b.is_full());
        let mut b = EntryBatch::default();
        for _ in 0..EntryBatch::MAX_ENTRIES - 1 {
            b.push("", None);
        }
        assert!(!b.is_full());
        b.push("", None);
        assert!(b.is_full());
    }

    #[test]
    fn an_existing_db_is_refused_and_a_failed_import_leaves_no_file_behind() {
        let d = tempfile::tempdir().unwrap();
        export(d.path(), &["a"], b"a\n");
        let db = d.path().join("out.sqlite");
        std::fs::write(&db, b"x").unwrap();
        let e = import_export_dir(d.path(), &db, &defaults()).unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "{}: already exists; the importer writes a new DB only",
                db.display()
            )
        );
        assert_eq!(std::fs::read(&db).unwrap(), b"x");
        std::fs::remove_file(&db).unwrap();
        for side in DB_SIDE_SUFFIXES {
            std::fs::write(side_file(&db, side), b"stale").unwrap();
        }
        export(d.path(), &["a"], b"b\n");
        import_export_dir(d.path(), &db, &defaults()).unwrap_err();
        assert!(!db.exists());
        for side in DB_SIDE_SUFFIXES {
            assert!(!side_file(&db, side).exists(), "{side}");
        }
        assert_eq!(
            wal_file(Path::new("d/x.sqlite")),
            Path::new("d/x.sqlite-wal")
        );
    }

    /// The message of an import of `dir` that fails.
    fn import_error(dir: &Path, db: &Path) -> String {
        import_export_dir(dir, db, &defaults())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn export_data_entries_are_imported_as_the_official_importer_reads_them() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("out.sqlite");
        // host.* keys are refused, naming the line and key
        export(d.path(), &["a"], b"a\n");
        let data = d.path().join("export-data.jsonl");
        let rest = std::fs::read_to_string(&data).unwrap();
        // the import of `text` as the export data, which fails
        let failed = |text: String| {
            std::fs::write(&data, text).unwrap();
            import_error(d.path(), &db)
        };
        let e = failed(format!("[\"kv.host.x\",\"1\"]\n{rest}"));
        assert!(
            e.starts_with(&format!(
                "{}: line 1, key \"kv.host.x\": host.* keys are node-local",
                data.display()
            )),
            "{e}"
        );
        // a metadata record: the last value wins, a value-less entry deletes it
        let (kv, _) = rest.trim_end().rsplit_once('\n').unwrap();
        let record = rest.lines().last().unwrap();
        let wrong = record.replace("\\\"endPos\\\":1", "\\\"endPos\\\":1,\\\"x\\\":0");
        assert_ne!(wrong, record);
        std::fs::write(&data, format!("{kv}\n{wrong}\n{record}\n")).unwrap();
        let s = import_export_dir(d.path(), &db, &defaults()).unwrap();
        assert_eq!(
            (s.kv_rows, s.transcript_spans, s.transcript_items),
            (2, 1, 1)
        );
        std::fs::remove_file(&db).unwrap();
        let e = failed(format!("{kv}\n{record}\n[\"transcript.v1.current\"]\n"));
        assert!(e.contains("transcript artifact transcript.v1.0.1: no transcript span record for vat v1 starting at 0"), "{e}");
        // an unknown family
        let e = failed(format!("{rest}[\"zz.x\",\"1\"]\n"));
        assert!(
            e.starts_with(&format!(
                "{}: key \"zz.x\": unknown export-data type",
                data.display()
            )),
            "{e}"
        );
    }

    #[test]
    fn a_directory_input_counts_its_artifact_bytes_for_the_progress_bar() {
        let dir = fixture("tiny/export/operational");
        let export = ExportDir::open(&dir).unwrap();
        let input = DirInput {
            export: &export,
            data_file: export.data_file.as_deref().unwrap(),
            next: export.artifacts.iter(),
        };
        let want: u64 = export
            .artifacts
            .values()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert!(want > 1000);
        assert_eq!(input.artifact_bytes(), want);
        assert_eq!(
            input.data_location(),
            dir.join("export-data.jsonl").display().to_string()
        );
    }

    /// A one-vat export whose in-use snapshot is `snapshot` (its record states its hash).
    fn snapshot_export(dir: &Path, snapshot: &[u8]) {
        let hash = hex::encode(Sha256::digest(snapshot));
        std::fs::write(
            dir.join("export-manifest.json"),
            "{\"blockHeight\":5,\"artifactMode\":\"operational\",\"artifacts\":[[\"snapshot.v1.1\",\"snapshot.v1.1\"]],\"data\":\"export-data.jsonl\"}",
        )
        .unwrap();
        std::fs::write(
            dir.join("export-data.jsonl"),
            format!("[\"snapshot.v1.1\",\"{{\\\"vatID\\\":\\\"v1\\\",\\\"snapPos\\\":1,\\\"hash\\\":\\\"{hash}\\\",\\\"inUse\\\":1}}\"]\n[\"snapshot.v1.current\",\"snapshot.v1.1\"]\n"),
        )
        .unwrap();
        std::fs::write(dir.join("snapshot.v1.1"), snapshot).unwrap();
    }

    /// The snapshot a DB holds, decompressed, and its two sizes.
    fn snapshot_in(db: &Path) -> (Vec<u8>, u64, u64) {
        let c = Connection::open(db).unwrap();
        let (u, cs, blob): (i64, i64, Vec<u8>) = c
            .query_row(
                "SELECT uncompressedSize, compressedSize, compressedSnapshot FROM snapshots",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(cs as usize, blob.len());
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&blob[..])
            .read_to_end(&mut out)
            .unwrap();
        (out, u as u64, cs as u64)
    }

    #[test]
    fn snapshots_are_gzipped_in_memory_up_to_the_spill_size_and_through_a_scratch_file_past_it() {
        // bytes that do not compress (xorshift)
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let big: Vec<u8> = (0..SPILL_MEM + (1 << 20))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let scratch = tempfile::tempdir().unwrap();
        let unusable = scratch.path().join("missing");
        for (data, spills) in [(&big[..3 << 20], false), (&big[..], true)] {
            let d = tempfile::tempdir().unwrap();
            snapshot_export(d.path(), data);
            // a scratch directory that cannot be used: only a spill needs one
            let db = d.path().join("a.sqlite");
            let opts = ImportOptions {
                scratch_dir: Some(unusable.clone()),
                ..defaults()
            };
            match import_export_dir(d.path(), &db, &opts) {
                Ok(_) => assert!(!spills),
                Err(e) => {
                    assert!(spills, "{e}");
                    assert_eq!(e.exit_code(), exit::USAGE, "{e}");
                    assert!(e.to_string().contains("snapshot.v1.1: compressing"), "{e}");
                }
            }
            let db = d.path().join("b.sqlite");
            let opts = ImportOptions {
                scratch_dir: Some(scratch.path().to_path_buf()),
                ..defaults()
            };
            let s = import_export_dir(d.path(), &db, &opts).unwrap();
            assert_eq!((s.snapshots, s.snapshot_blobs), (1, 1));
            let (got, usize_, csize) = snapshot_in(&db);
            assert!(got == data, "the snapshot decompresses to its bytes");
            assert_eq!(usize_, data.len() as u64);
            assert_eq!(csize > SPILL_MEM as u64, spills, "{csize}");
        }
        // bytes other than the record's hash
        let d = tempfile::tempdir().unwrap();
        snapshot_export(d.path(), b"snap");
        std::fs::write(d.path().join("snapshot.v1.1"), b"snaq").unwrap();
        let e = import_error(d.path(), &d.path().join("c.sqlite"));
        let want = format!(
            "snapshot \"snapshot.v1.1\" hash is {}, metadata says {}",
            hex::encode(Sha256::digest(b"snaq")),
            hex::encode(Sha256::digest(b"snap"))
        );
        assert!(e.ends_with(&want), "{e}");
    }

    #[test]
    fn metadata_rows_go_in_in_export_data_order_as_the_official_importers() {
        let dir = fixture("tiny/export/debug");
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("out.sqlite");
        import_export_dir(&dir, &db, &defaults()).unwrap();
        let mut spans = Vec::new();
        let text = std::fs::read_to_string(dir.join("export-data.jsonl")).unwrap();
        for line in text.lines() {
            let e: Vec<String> = serde_json::from_str(line).unwrap();
            if e[0].starts_with("transcript.") {
                let r: serde_json::Value = serde_json::from_str(&e[1]).unwrap();
                spans.push(format!(
                    "{} {}",
                    r["vatID"].as_str().unwrap(),
                    r["startPos"]
                ));
            }
        }
        assert!(spans.len() > 20);
        let c = Connection::open(&db).unwrap();
        let rows: Vec<String> = c
            .prepare("SELECT vatID, startPos FROM transcriptSpans ORDER BY rowid")
            .unwrap()
            .query_map([], |r| {
                Ok(format!(
                    "{} {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?
                ))
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(rows, spans);
    }

    #[test]
    fn historical_snapshots_are_imported_in_debug_and_skipped_unread_otherwise() {
        let d = tempfile::tempdir().unwrap();
        let (old, cur) = (b"old snapshot".to_vec(), b"current snapshot".to_vec());
        let (h_old, h_cur) = (
            hex::encode(Sha256::digest(&old)),
            hex::encode(Sha256::digest(&cur)),
        );
        std::fs::write(
            d.path().join("export-manifest.json"),
            "{\"blockHeight\":5,\"artifactMode\":\"debug\",\"artifacts\":[[\"snapshot.v1.1\",\"snapshot.v1.1\"],[\"snapshot.v1.2\",\"snapshot.v1.2\"]],\"data\":\"export-data.jsonl\"}",
        )
        .unwrap();
        let rec = |pos: u32, h: &str, in_use: u8| {
            format!("[\"snapshot.v1.{pos}\",\"{{\\\"vatID\\\":\\\"v1\\\",\\\"snapPos\\\":{pos},\\\"hash\\\":\\\"{h}\\\",\\\"inUse\\\":{in_use}}}\"]\n")
        };
        let data = format!(
            "{}{}[\"snapshot.v1.current\",\"snapshot.v1.2\"]\n",
            rec(1, &h_old, 0),
            rec(2, &h_cur, 1)
        );
        std::fs::write(d.path().join("export-data.jsonl"), data).unwrap();
        std::fs::write(d.path().join("snapshot.v1.1"), &old).unwrap();
        std::fs::write(d.path().join("snapshot.v1.2"), &cur).unwrap();
        let db = d.path().join("debug.sqlite");
        let s = import_export_dir(d.path(), &db, &defaults()).unwrap();
        assert_eq!((s.snapshots, s.snapshot_blobs), (2, 2));
        assert_eq!((s.artifacts_imported, s.artifacts_skipped), (2, 0));
        // skipped unread: the historical snapshot's bytes no longer match its record
        std::fs::write(d.path().join("snapshot.v1.1"), b"changed").unwrap();
        let opts = ImportOptions {
            mode: Some(ArtifactMode::Operational),
            ..defaults()
        };
        let s = import_export_dir(d.path(), &d.path().join("op.sqlite"), &opts).unwrap();
        assert_eq!((s.snapshots, s.snapshot_blobs), (2, 1));
        assert_eq!((s.artifacts_imported, s.artifacts_skipped), (1, 1));
    }

    #[test]
    fn a_transcript_artifact_must_end_where_its_span_record_ends() {
        let d = tempfile::tempdir().unwrap();
        export(d.path(), &["a"], b"a\n");
        let m = d.path().join("export-manifest.json");
        let text = std::fs::read_to_string(&m).unwrap();
        std::fs::write(&m, text.replace("transcript.v1.0.1", "transcript.v1.0.2")).unwrap();
        std::fs::rename(
            d.path().join("transcript.v1.0.1"),
            d.path().join("transcript.v1.0.2"),
        )
        .unwrap();
        let e = import_error(d.path(), &d.path().join("out.sqlite"));
        assert!(
            e.ends_with("transcript artifact transcript.v1.0.2: its span record transcript.v1.current ends at 1, not 2"),
            "{e}"
        );
    }

    #[test]
    fn a_b0_bundle_over_its_size_limit_is_refused_before_it_is_read() {
        let max = crate::hashes::MAX_B0_BUNDLE_BYTES;
        let id = format!("b0-{}", "0".repeat(64));
        for (len, over) in [(max, false), (max + 1, true)] {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(
                d.path().join("export-manifest.json"),
                format!("{{\"blockHeight\":5,\"artifactMode\":\"operational\",\"artifacts\":[[\"bundle.{id}\",\"bundle.{id}\"]],\"data\":\"export-data.jsonl\"}}"),
            )
            .unwrap();
            std::fs::write(
                d.path().join("export-data.jsonl"),
                format!("[\"bundle.{id}\",\"{id}\"]\n"),
            )
            .unwrap();
            // sparse: no disk written
            let f = File::create(d.path().join(format!("bundle.{id}"))).unwrap();
            f.set_len(len).unwrap();
            let e = import_error(d.path(), &d.path().join("out.sqlite"));
            let limit =
                format!("bundle.{id}: {len} bytes is more than the {max}-byte b0 bundle limit");
            assert_eq!(e.contains(&limit), over, "{e}");
        }
    }

    #[test]
    fn copy_exact_copies_what_it_is_asked_for_or_up_to_the_end() {
        let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        for (len, want) in [
            (300_000u64, 300_000usize),
            (600_000, 600_000),
            (700_000, 600_000),
        ] {
            let mut out = Vec::new();
            let n = copy_exact(&mut &data[..], &mut out, len).unwrap();
            assert_eq!((n, out.len()), (want as u64, want), "{len}");
            assert_eq!(out, data[..want]);
        }
    }

    #[test]
    fn a_transcript_item_at_the_item_limit_is_imported_whole() {
        let max = crate::hashes::MAX_TRANSCRIPT_ITEM_BYTES as usize;
        let item = "x".repeat(max);
        let mut art = item.clone().into_bytes();
        art.extend_from_slice(b"\nb\n");
        let (s, items) = import(&[&item, "b"], &art).unwrap();
        assert_eq!(s.transcript_items, 2);
        assert!(items[0] == item && items[1] == "b");
    }
}
