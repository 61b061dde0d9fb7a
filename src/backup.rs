//! Swing-store backup and restore, natively: what the runbook "backup of the Agoric
//! JavaScript VM State" does with `export-kernel-db.js` / `import-kernel-db.js` and
//! `db-get.js` (docs/backup.md).
//!
//! * [`backup`]: `HOME/data/agoric/swingstore.sqlite` → a canonical archive of the
//!   swing-store alone (format `agar-swing-store-backup`, FORMAT.md), read-only, through
//!   the same native exporter as `pack --swing-store` ([`crate::dbexport`]).
//! * [`restore`]: an archive (a backup, or a genesis archive's swing-store) → a new
//!   `HOME/data/agoric/swingstore.sqlite` built by the native importer
//!   ([`crate::dbimport`]), with `host.height` = the height the state was taken at. Nothing
//!   else in `HOME` is read or written.
//! * [`status`]: `host.height`, the modes a backup could be made in (the official
//!   completeness rules, by opening the DB with [`DbExport`] in each mode), DB and WAL
//!   sizes, and whether a process holds the DB open.
//!
//! Restore's placement (docs/backup.md, "Atomicity"): the new DB is built and fsynced in
//! a temp dir beside the old one; the old DB and its `-wal`/`-shm`/`-journal` are
//! hard-linked into a named, dated directory `swingstore-before-restore-<UTC>` (no data is
//! copied, the old files stay in place); the old side files are unlinked; the new DB is
//! renamed over the old one (one atomic `rename`); the dated directory is kept unless
//! `--discard-old`.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::archive::reader::{ArchiveReader, ReadOptions};
use crate::archive::writer::Compression;
use crate::archive::EXPORT_DATA_FILE;
use crate::dbexport::{DbExport, OpenMode};
use crate::dbimport::{self, side_file, ImportOptions, ImportSummary, DB_FILE};
use crate::error::{Error, Result};
use crate::explode::{
    check_replay_placeable, checkpoint, file_sha256, finish_expected, sync_dir, temp_dir_with,
    DbBuild, FileSink,
};
use crate::home::remove_stale_with;
use crate::model::ArtifactMode;
use crate::pack::PackOptions;
use crate::source::StateSource;

/// Prefix of restore's temp dir inside `data/agoric/`.
pub const TMP_PREFIX: &str = ".agar-tmp-restore-";
/// Prefix of the dated directory the replaced DB is kept in.
pub const OLD_PREFIX: &str = "swingstore-before-restore-";

/// `HOME/data/agoric`.
pub fn db_dir(home: &Path) -> PathBuf {
    home.join("data").join("agoric")
}

/// `HOME/data/agoric/swingstore.sqlite`.
pub fn db_path(home: &Path) -> PathBuf {
    db_dir(home).join(DB_FILE)
}

// ---------------------------------------------------------------- node detection

/// SQLite's lock bytes on the DB file (unix VFS): PENDING_BYTE at 1 GiB, then RESERVED,
/// then the 510-byte SHARED range.
const DB_LOCK_START: i64 = 0x4000_0000;
const DB_LOCK_LEN: i64 = 512;
/// The WAL-index (`-shm`) lock bytes: 8 WAL locks at 120, the DMS byte at 128 (held
/// shared by every connection that has the WAL open).
const SHM_LOCK_START: i64 = 120;
const SHM_LOCK_LEN: i64 = 9;

/// A process holding a POSIX lock that conflicts with a write lock on `[start, start+len)`
/// of `p` (F_GETLK: queries only, takes nothing, writes nothing).
fn lock_holder(p: &Path, start: i64, len: i64) -> Option<u32> {
    use std::os::unix::io::AsRawFd;
    let f = fs::File::open(p).ok()?;
    // SAFETY: a zeroed flock is a valid value; F_GETLK only fills it in.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    fl.l_start = start as _;
    fl.l_len = len as _;
    // SAFETY: valid fd and pointer to a flock for the duration of the call.
    let rc = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETLK, &mut fl) };
    (rc == 0 && i32::from(fl.l_type) != libc::F_UNLCK).then_some(fl.l_pid as u32)
}

fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Who holds the DB open, if anyone: a SQLite lock on the DB file or its `-shm`
/// (a connection in WAL mode holds one as long as it is open), or, on Linux, any other
/// process with the DB, `-wal` or `-shm` open (`/proc/*/fd`). `None` when nothing is
/// found. Reads nothing but metadata and locks; creates nothing.
pub fn node_holding(db: &Path) -> Option<String> {
    let shm = side_file(db, "-shm");
    for (p, start, len) in [
        (db.to_path_buf(), DB_LOCK_START, DB_LOCK_LEN),
        (shm, SHM_LOCK_START, SHM_LOCK_LEN),
    ] {
        if let Some(pid) = lock_holder(&p, start, len) {
            return Some(format!(
                "process {pid} ({}) holds a SQLite lock on {}",
                comm(pid),
                p.display()
            ));
        }
    }
    let mut names: Vec<PathBuf> = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let p = side_file(db, suffix);
        if let Ok(c) = fs::canonicalize(&p) {
            names.push(c);
        }
    }
    if names.is_empty() {
        return None;
    }
    let me = std::process::id();
    let procs = fs::read_dir("/proc").ok()?;
    for e in procs.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = fs::read_dir(e.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = fs::read_link(fd.path()) {
                if let Some(n) = names.iter().find(|n| **n == target) {
                    return Some(format!(
                        "process {pid} ({}) has {} open",
                        comm(pid),
                        n.display()
                    ));
                }
            }
        }
    }
    None
}

fn file_len(p: &Path) -> Option<u64> {
    fs::symlink_metadata(p).ok().map(|m| m.len())
}

// ---------------------------------------------------------------- backup

#[derive(Debug, Clone)]
pub struct BackupOptions {
    pub home: PathBuf,
    /// None: an uncompressed tar on stdout.
    pub output: Option<PathBuf>,
    pub mode: ArtifactMode,
    pub compression: Compression,
    pub progress: bool,
}

/// What backup did, for humans and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    pub digest: String,
    pub output: Option<String>,
    pub compressed: bool,
    pub db: String,
    /// The DB's `host.height` (the last block the node committed).
    pub host_height: u64,
    /// The mode recorded: the strongest whose artifact set the backup holds exactly.
    pub artifact_mode: String,
    pub requested_mode: String,
    pub swing_store_export_data_hash: String,
    pub export_data_entries: u64,
    pub artifacts: usize,
    pub artifact_bytes: u64,
    pub tar_bytes: u64,
    pub file_bytes: u64,
    /// A process that held the DB open while it was read (the backup is then the last
    /// block committed when it started), or null.
    pub node: Option<String>,
    pub notes: Vec<String>,
}

/// Back up `HOME/data/agoric/swingstore.sqlite` into one canonical archive.
pub fn backup(opts: &BackupOptions) -> Result<BackupSummary> {
    let db = db_path(&opts.home);
    if fs::symlink_metadata(&db).is_err() {
        return Err(Error::io_at(
            format!(
                "{}: no swing-store DB (is {} a node home? the DB is HOME/data/agoric/{DB_FILE})",
                db.display(),
                opts.home.display()
            ),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    let node = node_holding(&db);
    let mut notes = Vec::new();
    let mut src = DbExport::open(&db, opts.mode)?;
    notes.extend(
        src.notes()
            .iter()
            .map(|n| format!("{}: {n}", src.data_location())),
    );
    if let Some(n) = &node {
        notes.push(format!("{n}: the backup is the state of the last block it had committed when the backup started (one read transaction); the runbook backs up a stopped node"));
    }
    if src.open_mode() == OpenMode::Wal && node.is_none() {
        notes.push(format!("{} exists but no process holds the DB: the node stopped uncleanly; the backup includes what the WAL holds", side_file(src.path(), "-wal").display()));
    }
    let popts = PackOptions {
        compression: opts.compression,
        allow_height_mismatch: false,
        progress: opts.progress,
    };
    let plan = crate::pack::plan_backup(&mut src, &popts)?;
    let written = crate::pack::write(&plan, &mut src, opts.output.as_deref(), &popts)?;
    if let Err(e) = src.ensure_unchanged() {
        if let Some(out) = &opts.output {
            let _ = fs::remove_file(out);
        }
        return Err(e);
    }
    notes.extend(plan.notes.iter().cloned());
    let m = &plan.manifest;
    Ok(BackupSummary {
        digest: written.digest.clone(),
        output: written.path.as_ref().map(|p| p.display().to_string()),
        compressed: written.file_bytes != written.tar_bytes,
        db: src.path().display().to_string(),
        host_height: m.export_height,
        artifact_mode: m.artifact_mode.clone(),
        requested_mode: opts.mode.to_string(),
        swing_store_export_data_hash: m.swing_store_export_data_hash.clone(),
        export_data_entries: m.export_data_entries,
        artifacts: m.members.len() - m.head_len(),
        artifact_bytes: m.members[m.head_len()..].iter().map(|x| x.size).sum(),
        tar_bytes: written.tar_bytes,
        file_bytes: written.file_bytes,
        node,
        notes,
    })
}

// ---------------------------------------------------------------- restore

#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub archive: PathBuf,
    pub home: PathBuf,
    /// Default: the archive's mode. A stronger one is refused.
    pub mode: Option<ArtifactMode>,
    /// The archive digest the operator expects (refused, nothing written, if it differs).
    pub expect: Option<String>,
    /// The `host.height` the operator expects the restored state to have.
    pub height: Option<u64>,
    /// Delete the replaced DB instead of keeping it in the dated directory.
    pub discard_old: bool,
    pub progress: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreSummary {
    pub archive: String,
    pub digest: String,
    /// "swing-store backup" or "genesis archive".
    pub kind: String,
    pub archive_artifact_mode: String,
    pub home: String,
    pub db: String,
    pub db_bytes: u64,
    pub db_sha256: String,
    pub import: ImportSummary,
    /// Where the replaced DB (and its -wal/-shm/-journal) was kept; null if there was none
    /// or `--discard-old`.
    pub old_kept: Option<String>,
    /// The replaced files (the DB and side files that existed).
    pub replaced: Vec<String>,
    pub removed_stale: Vec<String>,
    pub notes: Vec<String>,
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time (UTC; civil-from-days, proleptic Gregorian).
fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A new, dated directory beside the DB for the replaced files.
fn old_dir_name(dir: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let base = format!("{OLD_PREFIX}{}", utc_stamp(secs));
    let mut p = dir.join(&base);
    let mut i = 2;
    while fs::symlink_metadata(&p).is_ok() {
        p = dir.join(format!("{base}-{i}"));
        i += 1;
    }
    p
}

fn refuse_running(db: &Path) -> Result<()> {
    if let Some(who) = node_holding(db) {
        return Err(Error::Refused(format!(
            "{who}: the node (or another program) is using the swing-store DB; stop it before restoring. Nothing was written"
        )));
    }
    Ok(())
}

/// Rebuild `HOME/data/agoric/swingstore.sqlite` from an archive (see the module docs).
pub fn restore(opts: &RestoreOptions) -> Result<RestoreSummary> {
    let dir = db_dir(&opts.home);
    let db = dir.join(DB_FILE);
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        _ => {
            return Err(Error::io_at(
                format!("{}: not a directory (is {} a node home? restore writes HOME/data/agoric/{DB_FILE} and creates no directories)", dir.display(), opts.home.display()),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ))
        }
    }
    if let Some(e) = &opts.expect {
        if !crate::archive::is_sha256_hex(e) {
            return Err(Error::invalid(
                "--expect",
                format!("{e:?} is not a lowercase 64-hex archive digest"),
            ));
        }
    }
    refuse_running(&db)?;
    let ropts = ReadOptions {
        fail_fast: true,
        progress: opts.progress,
        keep_genesis: false,
        skip_chain_check: false,
    };
    let reader = ArchiveReader::open(&opts.archive, ropts)?;
    let archive_mode = reader.manifest.mode()?;
    let mode = opts.mode.unwrap_or(archive_mode);
    if !archive_mode.satisfies(mode) {
        return Err(Error::Refused(format!(
            "{}: artifact mode {mode} is stronger than the {}'s {archive_mode} (operational < replay < archival): a {mode} DB needs transcript spans it does not contain. Use --artifact-mode {archive_mode} (or weaker). Nothing was written",
            opts.archive.display(),
            reader.manifest.kind()
        )));
    }
    // the height the state was taken at: host.height of a backup, the export height of a
    // genesis archive (initial_height - 1)
    let height = reader.manifest.export_height;
    if let Some(h) = opts.height {
        if h != height {
            return Err(Error::Refused(format!(
                "{}: the {} holds the state at host.height {height}, but --height says {h}. Nothing was written",
                opts.archive.display(),
                reader.manifest.kind()
            )));
        }
    }
    let mut notes = Vec::new();
    if !reader.manifest.is_backup() {
        notes.push(format!("restored the swing-store of a genesis archive (chain {}, initial_height {}) with host.height {height}, the height it was exported at; a node that starts the new chain from this genesis rebuilds data/agoric itself (or use agar explode)", reader.manifest.chain_id, reader.manifest.initial_height));
    }
    let mut removed_stale = Vec::new();
    remove_stale_with(&dir, TMP_PREFIX, &mut removed_stale);
    let tmp = temp_dir_with(&dir, TMP_PREFIX)?;
    if let Err(e) = checkpoint("opened") {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let res = build_and_place(opts, &dir, &db, &tmp, reader, mode, height);
    match res {
        Ok((imp, digest, kind, placed)) => {
            let _ = fs::remove_dir_all(&tmp);
            let (db_bytes, db_sha256) = file_sha256(&db)?;
            Ok(RestoreSummary {
                archive: opts.archive.display().to_string(),
                digest,
                kind,
                archive_artifact_mode: archive_mode.to_string(),
                home: opts.home.display().to_string(),
                db: db.display().to_string(),
                db_bytes,
                db_sha256,
                import: ImportSummary {
                    db: db.display().to_string(),
                    ..imp
                },
                old_kept: placed.old_kept,
                replaced: placed.replaced,
                removed_stale,
                notes,
            })
        }
        Err((e, committed)) => {
            if !committed {
                let _ = fs::remove_dir_all(&tmp);
            }
            Err(e)
        }
    }
}

struct Placed {
    old_kept: Option<String>,
    replaced: Vec<String>,
}

type BuildResult = std::result::Result<(ImportSummary, String, String, Placed), (Error, bool)>;

fn build_and_place(
    opts: &RestoreOptions,
    dir: &Path,
    db: &Path,
    tmp: &Path,
    mut reader: ArchiveReader,
    mode: ArtifactMode,
    height: u64,
) -> BuildResult {
    let pre = |e: Error| (e, false);
    let kind = reader.manifest.kind().to_string();
    let arts = tmp.join("artifacts");
    fs::create_dir(&arts).map_err(|e| pre(Error::io(&arts, e)))?;
    let new_db = tmp.join(DB_FILE);
    let iopts = ImportOptions {
        mode: Some(mode),
        block_height: Some(height),
        scratch_dir: Some(tmp.to_path_buf()),
        progress: false,
    };
    let em_loc = format!(
        "{}: member swing-store/export-manifest.json",
        opts.archive.display()
    );
    // import-kernel-db.js's checks on the export manifest
    let (imode, h) = dbimport::check_manifest(
        &em_loc,
        true,
        reader.manifest.artifacts().count(),
        reader.manifest.is_backup().then_some(height),
        Some(reader.manifest.mode().map_err(pre)?),
        &iopts,
    )
    .map_err(pre)?;
    let data_loc = PathBuf::from(format!(
        "{}: member swing-store/{EXPORT_DATA_FILE}",
        opts.archive.display()
    ));
    let mut build = DbBuild::start(data_loc, new_db.clone(), imode, h, iopts).map_err(pre)?;

    let extracted = (|| -> Result<String> {
        reader.read_export_data(&mut |e, _| build.entry(&e.key, e.value.as_deref()))?;
        build.data_end()?;
        check_replay_placeable(&reader, mode, &opts.archive)?;
        checkpoint("export-data")?;
        let mut sink = FileSink::scratch(arts.clone(), &mut build);
        reader.read_artifacts(&mut sink)?;
        Ok(finish_expected(reader, &opts.archive, opts.expect.as_deref())?.digest)
    })();
    let digest = match extracted {
        Ok(d) => d,
        Err(e) => return Err(pre(build.abort(e))),
    };
    let imp = match build.finish() {
        Some(Ok(imp)) => imp,
        Some(Err(e)) => return Err(pre(e)),
        None => {
            return Err(pre(Error::io_at(
                "building the DB",
                std::io::Error::other("no DB builder"),
            )))
        }
    };
    fs::remove_dir_all(&arts).map_err(|e| pre(Error::io(&arts, e)))?;
    sync_dir(tmp).map_err(pre)?;
    checkpoint("db").map_err(pre)?;
    // the node may have been started meanwhile
    refuse_running(db).map_err(pre)?;

    let placed = place(opts, dir, db, &new_db)?;
    Ok((imp, digest, kind, placed))
}

/// Placement: keep the old DB (hard links in a dated dir) and remove its side files,
/// then rename the new DB into place. The error's flag says whether the old DB was
/// already touched.
fn place(
    opts: &RestoreOptions,
    dir: &Path,
    db: &Path,
    new_db: &Path,
) -> std::result::Result<Placed, (Error, bool)> {
    let pre = |e: Error| (e, false);
    let existing: Vec<PathBuf> = std::iter::once(db.to_path_buf())
        .chain(dbimport::DB_SIDE_SUFFIXES.iter().map(|s| side_file(db, s)))
        .filter(|p| fs::symlink_metadata(p).is_ok())
        .collect();
    let mut old_kept = None;
    if !existing.is_empty() {
        // keep the old DB: hard links in a dated dir (the old files stay in place)
        let od = old_dir_name(dir);
        fs::create_dir(&od).map_err(|e| pre(Error::io(&od, e)))?;
        for p in &existing {
            let to = od.join(p.file_name().unwrap_or_default());
            if let Err(e) = fs::hard_link(p, &to) {
                let _ = fs::remove_dir_all(&od);
                return Err(pre(Error::io_at(
                    format!("keeping {} as {} (hard link)", p.display(), to.display()),
                    e,
                )));
            }
        }
        sync_dir(&od).map_err(pre)?;
        sync_dir(dir).map_err(pre)?;
        old_kept = Some(od);
        checkpoint("kept-old").map_err(pre)?;
        // side files of the old DB must go before the new DB appears (SQLite would
        // apply an old -wal or -journal to it); -shm first, -wal last
        for suffix in ["-shm", "-journal", "-wal"] {
            let p = side_file(db, suffix);
            if fs::symlink_metadata(&p).is_ok() {
                fs::remove_file(&p).map_err(|e| (Error::io(&p, e), true))?;
            }
        }
        checkpoint("removed-side").map_err(|e| (e, true))?;
    }
    fs::rename(new_db, db).map_err(|e| (Error::io(db, e), true))?;
    sync_dir(dir).map_err(|e| (e, true))?;
    checkpoint("renamed").map_err(|e| (e, true))?;
    if opts.discard_old {
        if let Some(od) = old_kept.take() {
            fs::remove_dir_all(&od).map_err(|e| (Error::io(&od, e), true))?;
            sync_dir(dir).map_err(|e| (e, true))?;
        }
    }
    Ok(Placed {
        old_kept: old_kept.map(|p| p.display().to_string()),
        replaced: existing.iter().map(|p| p.display().to_string()).collect(),
    })
}

// ---------------------------------------------------------------- status

#[derive(Debug, Clone, Serialize)]
pub struct ModeStatus {
    pub mode: String,
    /// A backup in this mode would succeed.
    pub possible: bool,
    /// Why not (the official exporter's completeness message), if not.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub home: String,
    pub db: String,
    pub db_bytes: u64,
    /// Sizes of the side files, null when absent.
    pub wal_bytes: Option<u64>,
    pub shm_bytes: Option<u64>,
    pub journal_bytes: Option<u64>,
    /// "wal" (file header says WAL) or "rollback".
    pub journal_mode: String,
    /// `host.height`: the last block the node committed (null if absent).
    pub host_height: Option<u64>,
    pub modes: Vec<ModeStatus>,
    /// The process holding the DB open, if any.
    pub node: Option<String>,
    /// Dated directories of DBs replaced by earlier restores.
    pub kept_old: Vec<String>,
    pub notes: Vec<String>,
}

/// What the runbook uses `db-get.js` for, and more (see the module docs).
pub fn status(home: &Path) -> Result<StatusReport> {
    let db = db_path(home);
    let dir = db_dir(home);
    let md = fs::metadata(&db).map_err(|e| {
        Error::io_at(
            format!(
                "{}: no swing-store DB (is {} a node home?)",
                db.display(),
                home.display()
            ),
            e,
        )
    })?;
    let node = node_holding(&db);
    let mut header = [0u8; 20];
    {
        use std::io::Read;
        let mut f = fs::File::open(&db).map_err(|e| Error::io(&db, e))?;
        let _ = f.read(&mut header).map_err(|e| Error::io(&db, e))?;
    }
    let wal_header = header[18] == 2 || header[19] == 2;
    let mut modes = Vec::new();
    let mut host_height = None;
    let mut notes = Vec::new();
    for m in [
        ArtifactMode::Operational,
        ArtifactMode::Replay,
        ArtifactMode::Archival,
        ArtifactMode::Debug,
    ] {
        match DbExport::open(&db, m) {
            Ok(src) => {
                host_height = src.host_height();
                if notes.is_empty() {
                    notes.extend(src.notes().iter().cloned());
                }
                src.ensure_unchanged()?;
                modes.push(ModeStatus {
                    mode: m.to_string(),
                    possible: true,
                    reason: None,
                });
            }
            Err(Error::Invalid { location, message })
                if message.starts_with("the DB cannot produce an export") =>
            {
                let _ = location;
                modes.push(ModeStatus {
                    mode: m.to_string(),
                    possible: false,
                    reason: Some(message),
                });
            }
            Err(e) => return Err(e),
        }
    }
    let wal = side_file(&db, "-wal");
    if wal.exists() && node.is_none() {
        notes.push(format!(
            "{} exists but no process holds the DB: the node did not stop cleanly (its last commits are in the WAL; SQLite applies them when the DB is next opened)",
            wal.display()
        ));
    }
    let mut kept_old: Vec<String> = fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().as_bytes().starts_with(OLD_PREFIX.as_bytes()))
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default();
    kept_old.sort();
    if let Ok(rd) = fs::read_dir(&dir) {
        for e in rd.flatten() {
            if e.file_name().as_bytes().starts_with(TMP_PREFIX.as_bytes()) {
                notes.push(format!(
                    "{}: temp dir of an interrupted restore (the next restore removes it)",
                    e.path().display()
                ));
            }
        }
    }
    Ok(StatusReport {
        home: home.display().to_string(),
        db: db.display().to_string(),
        db_bytes: md.len(),
        wal_bytes: file_len(&wal),
        shm_bytes: file_len(&side_file(&db, "-shm")),
        journal_bytes: file_len(&side_file(&db, "-journal")),
        journal_mode: if wal_header { "wal" } else { "rollback" }.into(),
        host_height,
        modes,
        node,
        kept_old,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        // 2000-02-29 12:34:56 UTC (leap day)
        assert_eq!(utc_stamp(951_827_696), "20000229T123456Z");
        // 2026-11-30 16:10:00 UTC
        assert_eq!(utc_stamp(1_796_055_000), "20261130T161000Z");
    }
}
