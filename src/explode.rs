//! `agar explode`: rebuild a node home from an archive.
//!
//! Writes exactly three targets in `HOME` and nothing else:
//!
//! * `config/genesis.json`: the archive's canonical genesis member;
//! * `config/swing-store/`: the swing-store export agd's InitGenesis reads (the archive's
//!   export-manifest.json, export-data.jsonl and artifact files named as artifacts);
//! * `data/agoric/swingstore.sqlite`: the DB the official importer would build from it,
//!   with `host.height` = `initial_height` (unless `--no-db`).
//!
//! Safety design (see docs/explode.md):
//!
//! 1. Everything is checked before anything is created: the archive's head, the mode,
//!    then, under the home's exclusive lock (held for the whole run), the home itself
//!    ([`crate::home`]): real directories only, no Cosmos state (unless allowed), which
//!    targets exist (refused unless `--force`) and, with `--force`, that every one of them
//!    can be moved.
//! 2. The archive streams into a private temp dir `config/.agar-tmp-explode-<pid>-<rand>/`
//!    while the reader verifies every member (fail-fast). At the same time a DB thread
//!    builds the DB from what is extracted (entries, then each verified artifact file)
//!    into `data/agoric/.agar-tmp-explode-<pid>-<rand>/`. The end of the archive is
//!    checked, the DB finished, and every file and dir fsynced, before the first rename.
//! 3. Then the targets are renamed into place, DB first, `config/swing-store` second and
//!    `config/genesis.json` last: genesis.json is the commit point. A replaced target is
//!    first moved into the temp dir and deleted with it.
//! 4. On an error the temp dirs (and any dir explode created) are removed, so `HOME` is as
//!    it was. On a kill, temp dirs `.agar-tmp-explode-<pid>-<random>` may remain; the
//!    next explode removes those (of exactly that naming) whose process is gone. A kill during the renames (a
//!    window of three `rename` calls) can leave some targets new and some old or absent;
//!    rerun the same explode with `--force` to complete it.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::archive::reader::{ArchiveReader, ArtifactSink, ReadOptions};
use crate::archive::{Member, EXPORT_DATA_FILE, EXPORT_DATA_MEMBER};
use crate::dbimport::{self, EntryBatch, Feed, ImportOptions, ImportSummary, StreamInput, DB_FILE};
use crate::error::{Error, Result};
use crate::exportdir::MANIFEST_FILE;
use crate::model::{ArtifactMode, ArtifactName};

pub use crate::dbimport::DB_SIDE_SUFFIXES;
/// Prefix of explode's temp dirs (inside `config/` and `data/agoric/`).
pub use crate::home::TMP_PREFIX;

#[derive(Debug, Clone)]
pub struct ExplodeOptions {
    pub archive: PathBuf,
    pub home: PathBuf,
    /// Requested artifact mode for the DB (default: the archive's).
    pub mode: Option<ArtifactMode>,
    pub force: bool,
    pub no_db: bool,
    pub progress: bool,
    /// The archive digest the operator agreed on: refuse (before anything is moved into
    /// place) if the archive's digest differs.
    pub expect: Option<String>,
    /// Write even though `HOME/data` holds Cosmos state (agd then skips InitGenesis and
    /// does not read what explode writes); without it such a home is refused.
    pub allow_cosmos_state: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct WrittenFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SwingStoreDir {
    pub path: String,
    pub files: u64,
    pub bytes: u64,
    pub artifacts: u64,
    /// `sha256:` of export-data.jsonl, = genesis `swing_store_export_data_hash`.
    #[serde(rename = "swing_store_export_data_hash")]
    pub export_data_hash: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DbInfo {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    #[serde(flatten)]
    pub import: ImportSummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplodeSummary {
    pub archive: String,
    pub digest: String,
    pub chain_id: String,
    pub initial_height: u64,
    pub export_height: u64,
    /// The archive's artifact mode (`artifact_mode` in every command's JSON).
    #[serde(rename = "artifact_mode")]
    pub archive_artifact_mode: String,
    pub home: String,
    /// `genesis_file` in JSON (the file written; `genesis` means other things elsewhere).
    #[serde(rename = "genesis_file")]
    pub genesis: WrittenFile,
    pub swing_store: SwingStoreDir,
    pub db: Option<DbInfo>,
    /// Targets that existed and were replaced (`--force`).
    pub replaced: Vec<String>,
    /// Stale temp dirs of earlier, killed runs that were removed.
    pub removed_stale: Vec<String>,
    pub warnings: Vec<String>,
}

/// Test hooks, compiled only with the `test-hooks` feature (the test suite turns it on;
/// release builds have none): `AGAR_TEST_FAIL_AT=<phase>` makes explode fail with an
/// error at that phase (normal cleanup runs); `AGAR_TEST_ABORT_AT=<phase>` exits the
/// process there at once (like a kill: no cleanup); `AGAR_TEST_PAUSE_AT=<phase>` prints
/// `agar: paused at <phase>` on stderr and waits there forever, so a test can SIGKILL the
/// process at exactly that point. Phases: opened, export-data, artifact (after the first
/// artifact), artifacts, finished, db, synced, renamed-db, renamed-swing-store, done.
#[cfg(feature = "test-hooks")]
pub(crate) fn checkpoint(phase: &str) -> Result<()> {
    let hook = |name: &str| std::env::var(name).is_ok_and(|p| p == phase);
    if hook("AGAR_TEST_PAUSE_AT") {
        eprintln!("agar: paused at {phase}");
        loop {
            std::thread::park();
        }
    }
    if hook("AGAR_TEST_ABORT_AT") {
        // like a kill: no cleanup, no destructors (and no core dump, unlike abort())
        eprintln!("agar: AGAR_TEST_ABORT_AT={phase}: exiting without cleanup");
        std::process::exit(137);
    }
    if hook("AGAR_TEST_FAIL_AT") {
        return Err(Error::io_at(
            format!("AGAR_TEST_FAIL_AT={phase}"),
            std::io::Error::other("injected failure"),
        ));
    }
    Ok(())
}

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(crate) fn checkpoint(_phase: &str) -> Result<()> {
    Ok(())
}

struct Targets {
    config: PathBuf,
    data: PathBuf,
    genesis: PathBuf,
    swing_store: PathBuf,
    db_dir: PathBuf,
    db: PathBuf,
}

impl Targets {
    fn new(home: &Path) -> Targets {
        let config = home.join("config");
        let data = home.join("data");
        let db_dir = data.join("agoric");
        Targets {
            data,
            genesis: config.join("genesis.json"),
            swing_store: config.join("swing-store"),
            db: db_dir.join(DB_FILE),
            config,
            db_dir,
        }
    }
    fn db_side(&self) -> Vec<PathBuf> {
        DB_SIDE_SUFFIXES
            .iter()
            .map(|s| crate::dbimport::side_file(&self.db, s))
            .collect()
    }
    /// Every target `--force` may move or replace, with what it must be.
    fn moves(&self, no_db: bool) -> Vec<(PathBuf, crate::home::Kind)> {
        use crate::home::Kind;
        let mut all = vec![
            (self.genesis.clone(), Kind::File),
            (self.swing_store.clone(), Kind::Dir),
        ];
        if !no_db {
            all.push((self.db.clone(), Kind::File));
            all.extend(self.db_side().into_iter().map(|p| (p, Kind::File)));
        }
        all
    }
    /// Every path explode would replace, that exists now.
    fn existing(&self, no_db: bool) -> Vec<PathBuf> {
        let mut all = vec![self.genesis.clone(), self.swing_store.clone()];
        if !no_db {
            all.push(self.db.clone());
            all.extend(self.db_side());
        }
        all.into_iter()
            .filter(|p| fs::symlink_metadata(p).is_ok())
            .collect()
    }
}

/// Create `dir` and missing parents; remember which ones were created.
fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    let mut missing = Vec::new();
    let mut p = dir;
    while fs::symlink_metadata(p).is_err() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(q) if !q.as_os_str().is_empty() => p = q,
            _ => break,
        }
    }
    for d in missing.into_iter().rev() {
        fs::create_dir(&d).map_err(|e| Error::io(&d, e))?;
        created.push(d);
    }
    Ok(())
}

pub(crate) fn sync_dir(d: &Path) -> Result<()> {
    File::open(d)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(d, e))
}

fn temp_dir_in(parent: &Path) -> Result<PathBuf> {
    temp_dir_with(parent, TMP_PREFIX)
}

/// A new dir `<prefix><pid>-<random>` in `parent`, kept (removed by the caller).
pub(crate) fn temp_dir_with(parent: &Path, prefix: &str) -> Result<PathBuf> {
    let t = tempfile::Builder::new()
        .prefix(&format!("{prefix}{}-", std::process::id()))
        .tempdir_in(parent)
        .map_err(|e| Error::io(parent, e))?;
    Ok(t.keep())
}

/// Writes verified artifact members into files named as the artifacts (and hands each
/// finished file to the DB builder).
pub(crate) struct FileSink<'a> {
    dir: PathBuf,
    cur: Option<(PathBuf, BufWriter<File>)>,
    files: u64,
    bytes: u64,
    first_done: bool,
    /// fsync each file (explode: the files are targets); not for scratch files
    sync: bool,
    db: &'a mut DbBuild,
}

/// The DB build, running on its own thread while the archive is extracted: the export
/// data entries and then each finished artifact file are sent to it through a bounded
/// channel ([`dbimport::StreamInput`]), so the import overlaps decompression and checking
/// and reads nothing twice but the artifact files (from the page cache).
pub(crate) struct DbBuild {
    tx: Option<SyncSender<Feed>>,
    handle: Option<JoinHandle<Result<ImportSummary>>>,
    batch: EntryBatch,
    /// set when a send failed: the builder stopped on an error of its own
    stopped: bool,
}

impl Drop for DbBuild {
    fn drop(&mut self) {
        // never leave the builder running behind a cleanup
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl DbBuild {
    /// Start the builder thread: a new DB `db_file` from what is fed to it (entries named
    /// after `data_loc` in messages), in `mode`, with `host.height` = `height`.
    pub(crate) fn start(
        data_loc: PathBuf,
        db_file: PathBuf,
        mode: ArtifactMode,
        height: u64,
        iopts: ImportOptions,
    ) -> Result<DbBuild> {
        let (tx, rx) = sync_channel(8);
        let mut input = StreamInput::new(rx, data_loc);
        let handle = std::thread::Builder::new()
            .name("agar-db".into())
            .spawn(move || dbimport::import_stream(&mut input, &db_file, mode, height, &iopts))
            .map_err(|e| Error::io_at("starting the DB builder thread", e))?;
        let mut db = DbBuild::none();
        db.tx = Some(tx);
        db.handle = Some(handle);
        Ok(db)
    }

    fn none() -> DbBuild {
        DbBuild {
            tx: None,
            handle: None,
            batch: EntryBatch::default(),
            stopped: false,
        }
    }
    fn send(&mut self, f: Feed) -> Result<()> {
        if let Some(tx) = &self.tx {
            if tx.send(f).is_err() {
                self.stopped = true;
                return Err(Error::io_at(
                    "building the DB",
                    std::io::Error::other("the DB builder stopped"),
                ));
            }
        }
        Ok(())
    }
    pub(crate) fn entry(&mut self, key: &str, value: Option<&str>) -> Result<()> {
        if self.tx.is_none() {
            return Ok(());
        }
        self.batch.push(key, value);
        if self.batch.is_full() {
            let b = std::mem::take(&mut self.batch);
            self.send(Feed::Entries(b))?;
        }
        Ok(())
    }
    pub(crate) fn data_end(&mut self) -> Result<()> {
        if !self.batch.is_empty() {
            let b = std::mem::take(&mut self.batch);
            self.send(Feed::Entries(b))?;
        }
        self.send(Feed::DataEnd)
    }
    /// Wait for the builder; `None` if there is none.
    pub(crate) fn finish(&mut self) -> Option<Result<ImportSummary>> {
        if self.tx.is_some() {
            let _ = self.send(Feed::End);
        }
        self.tx = None;
        let h = self.handle.take()?;
        Some(h.join().unwrap_or_else(|_| {
            Err(Error::io_at(
                "building the DB",
                std::io::Error::other("the DB builder thread panicked"),
            ))
        }))
    }
    /// Stop the builder after an error of the extraction (it sees its input end early and
    /// removes its partial file). If the error was only that the builder had stopped,
    /// the builder's own error is the one to report.
    pub(crate) fn abort(&mut self, e: Error) -> Error {
        self.tx = None;
        let stopped = self.stopped;
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(Err(dbe))) if stopped => dbe,
            _ => e,
        }
    }
}

impl<'a> FileSink<'a> {
    pub(crate) fn new(dir: PathBuf, db: &'a mut DbBuild) -> FileSink<'a> {
        FileSink {
            dir,
            cur: None,
            files: 0,
            bytes: 0,
            first_done: false,
            sync: true,
            db,
        }
    }

    /// Files only the DB builder reads, deleted afterwards: not fsynced (restore).
    pub(crate) fn scratch(dir: PathBuf, db: &'a mut DbBuild) -> FileSink<'a> {
        FileSink {
            sync: false,
            ..FileSink::new(dir, db)
        }
    }
}

impl ArtifactSink for FileSink<'_> {
    fn begin(&mut self, name: &ArtifactName, _m: &Member) -> Result<()> {
        let p = self.dir.join(name.to_string());
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        self.cur = Some((p, BufWriter::with_capacity(1 << 20, f)));
        Ok(())
    }
    fn data(&mut self, chunk: &[u8]) -> Result<()> {
        if let Some((p, w)) = self.cur.as_mut() {
            w.write_all(chunk).map_err(|e| Error::io(p.as_path(), e))?;
        }
        Ok(())
    }
    fn end(&mut self, _name: &ArtifactName, m: &Member) -> Result<()> {
        if let Some((p, w)) = self.cur.take() {
            let f = w
                .into_inner()
                .map_err(|e| Error::io(p.as_path(), e.into_error()))?;
            if self.sync {
                f.sync_all().map_err(|e| Error::io(&p, e))?;
            }
            self.files += 1;
            self.bytes += m.size;
            self.db.send(Feed::Artifact(_name.to_string(), p))?;
        }
        if !self.first_done {
            self.first_done = true;
            checkpoint("artifact")?;
        }
        Ok(())
    }
}

/// The export manifest the reader checked, generated into a new file (never held).
fn write_export_manifest(p: &Path, reader: &ArchiveReader) -> Result<()> {
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(p)
        .map_err(|e| Error::io(p, e))?;
    let mut w = BufWriter::new(f);
    reader
        .write_export_manifest(&mut w)
        .map_err(|e| Error::io(p, e))?;
    let f = w.into_inner().map_err(|e| Error::io(p, e.into_error()))?;
    f.sync_all().map_err(|e| Error::io(p, e))
}

pub(crate) fn file_sha256(p: &Path) -> Result<(u64, String)> {
    let mut f = File::open(p).map_err(|e| Error::io(p, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(|e| Error::io(p, e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex::encode(h.finalize())))
}

/// Everything that exists only until the final renames, removed on error.
struct Scratch {
    created_dirs: Vec<PathBuf>,
    tmp_cfg: Option<PathBuf>,
    tmp_db: Option<PathBuf>,
}

impl Scratch {
    fn cleanup(&mut self) {
        for d in [self.tmp_cfg.take(), self.tmp_db.take()]
            .into_iter()
            .flatten()
        {
            let _ = fs::remove_dir_all(&d);
        }
        for d in self.created_dirs.drain(..).rev() {
            let _ = fs::remove_dir(&d);
        }
    }
}

pub fn explode(opts: &ExplodeOptions) -> Result<ExplodeSummary> {
    let t = Targets::new(&opts.home);
    let ropts = ReadOptions {
        fail_fast: true,
        progress: opts.progress,
        keep_genesis: true,
        skip_chain_check: true, // no use for it here
    };
    let reader = ArchiveReader::open(&opts.archive, ropts)?;
    if reader.manifest.is_backup() {
        return Err(Error::Refused(format!(
            "{}: is a swing-store backup (no genesis.json); explode builds a node home from a genesis archive. Restore the backup into the node's DB with `agar restore {} --home DIR` (see docs/backup.md)",
            opts.archive.display(),
            opts.archive.display()
        )));
    }
    let archive_mode = reader.manifest.mode()?;
    let mode = opts.mode.unwrap_or(archive_mode);
    if !archive_mode.satisfies(mode) {
        return Err(Error::Refused(format!(
            "{}: the archive holds {archive_mode} artifacts; {} {mode} DB needs transcript spans it does not contain (artifact mode {mode} is stronger than {archive_mode}). Use --artifact-mode {archive_mode} (or weaker), or an archive packed from {} {mode} export",
            opts.archive.display(),
            article(mode),
            article(mode)
        )));
    }
    let mut scratch = Scratch {
        created_dirs: Vec::new(),
        tmp_cfg: None,
        tmp_db: None,
    };
    // The home: created if missing (and removed again on failure), then locked for the
    // whole run and inspected before anything is written (crate::home).
    match fs::metadata(&opts.home) {
        Ok(md) if !md.is_dir() => {
            return Err(Error::Refused(format!(
                "{}: the home is not a directory; nothing was written",
                opts.home.display()
            )))
        }
        Ok(_) => {}
        Err(_) => create_dirs(&opts.home, &mut scratch.created_dirs)?,
    }
    // A failed lock leaves a home this run created in place: the run holding the lock
    // may be writing into it.
    let _lock = crate::home::lock(&opts.home)?;
    let warnings = match inspect_home(opts, &t) {
        Ok(w) => w,
        Err(e) => {
            scratch.cleanup();
            return Err(e);
        }
    };
    if let Err(e) = checkpoint("opened") {
        scratch.cleanup();
        return Err(e);
    }

    let mut removed_stale = Vec::new();
    crate::home::remove_stale(&t.config, &mut removed_stale);
    if !opts.no_db {
        crate::home::remove_stale(&t.db_dir, &mut removed_stale);
    }

    let res = build_and_place(opts, &t, reader, mode, &mut scratch);
    match res {
        Ok(mut s) => {
            s.removed_stale = removed_stale;
            s.warnings.extend(warnings);
            Ok(s)
        }
        Err((e, placed)) => {
            if placed.is_empty() {
                scratch.cleanup();
                return Err(e);
            }
            // Some targets are already in place: leave the temp dirs (they hold the
            // targets not yet placed and what was replaced) and say what happened.
            let kept: Vec<String> = [&scratch.tmp_cfg, &scratch.tmp_db]
                .into_iter()
                .flatten()
                .map(|p| p.display().to_string())
                .collect();
            Err(e.context(&format!(
                "explode failed after placing {} (the other targets are unchanged or missing; temp dirs kept: {}); rerun the same command with --force to complete it",
                placed.join(", "),
                kept.join(", ")
            )))
        }
    }
}

/// Everything explode checks in the home before it writes anything: `config/` (and, for
/// the DB, `data/` and `data/agoric/`) are real directories; no Cosmos state (unless
/// allowed, then a warning is returned); existing targets only with `--force`, and then
/// only if every one of them can be moved.
fn inspect_home(opts: &ExplodeOptions, t: &Targets) -> Result<Vec<String>> {
    crate::home::check_dir(&t.config)?;
    if !opts.no_db && crate::home::check_dir(&t.data)? {
        crate::home::check_dir(&t.db_dir)?;
    }
    let mut warnings = Vec::new();
    // read (never written) through a symlinked data/ too: the state behind it counts
    let cosmos = if t.data.is_dir() {
        crate::home::cosmos_state(&t.data)
    } else {
        Vec::new()
    };
    if !cosmos.is_empty() {
        if !opts.allow_cosmos_state {
            return Err(crate::home::cosmos_state_refusal(
                &opts.home,
                &opts.archive,
                opts.expect.as_deref(),
                &cosmos,
            ));
        }
        warnings.push(format!(
            "{} hold(s) Cosmos state (--allow-cosmos-state): agd runs InitGenesis, and so reads the new genesis.json and swing-store, only on an empty Cosmos state. Reset it first, keeping keys and the address book: agd tendermint unsafe-reset-all --home {} --keep-addr-book",
            cosmos.join(", "),
            opts.home.display()
        ));
    }
    let existing = t.existing(opts.no_db);
    if !existing.is_empty() && !opts.force {
        let list: Vec<String> = existing.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Refused(format!(
            "{} already exist(s); nothing was written. Pass --force to replace exactly these paths (nothing else in {} is touched)",
            list.join(", "),
            opts.home.display()
        )));
    }
    crate::home::check_moves(&t.moves(opts.no_db))?;
    Ok(warnings)
}

type Placed = Vec<String>;

fn article(m: ArtifactMode) -> &'static str {
    match m {
        ArtifactMode::Operational | ArtifactMode::Archival => "an",
        _ => "a",
    }
}

/// Make an error from the DB build name archive members instead of temp paths.
fn relocate(e: Error, tmp_ss: &Path, archive: &Path) -> Error {
    let from = format!("{}/", tmp_ss.display());
    let to = format!("{}: member swing-store/", archive.display());
    let fix = |s: String| {
        s.replace(&from, &to)
            .replace(&tmp_ss.display().to_string(), &to)
    };
    match e {
        Error::Invalid { location, message } => Error::Invalid {
            location: fix(location),
            message: fix(message),
        },
        Error::Refused(m) => Error::Refused(fix(m)),
        Error::Sqlite { location, source } => Error::Sqlite {
            location: fix(location),
            source,
        },
        other => other,
    }
}

fn build_and_place(
    opts: &ExplodeOptions,
    t: &Targets,
    reader: ArchiveReader,
    mode: ArtifactMode,
    scratch: &mut Scratch,
) -> std::result::Result<ExplodeSummary, (Error, Placed)> {
    let none = |e: Error| (e, Vec::new());
    let staged = stage_head(t, &reader, scratch).map_err(none)?;
    let data_path = staged.ss.join(EXPORT_DATA_FILE);

    // the DB builder starts now and is fed while the archive is extracted
    let (mut db, tmp_db_file) =
        start_db(opts, t, &reader, mode, &staged.ss, &data_path, scratch).map_err(none)?;

    let manifest = reader.manifest.head();
    let export_manifest_len = manifest.members[1].size;
    let extracted = extract(opts, reader, mode, &staged.ss, &data_path, &mut db);
    let (sink_files, sink_bytes, result) = match extracted {
        Ok(x) => x,
        Err(e) => return Err(none(relocate(db.abort(e), &staged.ss, &opts.archive))),
    };
    let db_info = finish_db(db, tmp_db_file.as_ref(), t)
        .map_err(|e| none(relocate(e, &staged.ss, &opts.archive)))?;
    sync_dir(&staged.ss).map_err(none)?;
    sync_dir(&staged.cfg).map_err(none)?;
    checkpoint("synced").map_err(none)?;

    let replaced = commit(opts, t, tmp_db_file.as_ref(), &staged)?;
    // success: only the (now empty or replaced-content) temp dirs remain to remove
    scratch.created_dirs.clear();
    scratch.cleanup();

    let warnings = Vec::new();
    let ss_bytes = export_manifest_len
        + manifest.member(EXPORT_DATA_MEMBER).map_or(0, |m| m.size)
        + sink_bytes;
    Ok(ExplodeSummary {
        archive: opts.archive.display().to_string(),
        digest: result.digest,
        chain_id: manifest.chain_id.clone(),
        initial_height: manifest.initial_height,
        export_height: manifest.export_height,
        archive_artifact_mode: manifest.artifact_mode.clone(),
        home: opts.home.display().to_string(),
        genesis: WrittenFile {
            path: t.genesis.display().to_string(),
            bytes: staged.genesis_size,
            sha256: staged.genesis_sha256,
        },
        swing_store: SwingStoreDir {
            path: t.swing_store.display().to_string(),
            files: sink_files + 2,
            bytes: ss_bytes,
            artifacts: sink_files,
            export_data_hash: manifest.swing_store_export_data_hash.clone(),
        },
        db: db_info,
        replaced,
        removed_stale: Vec::new(),
        warnings,
    })
}

/// The temp dir in `config/` holding genesis.json and the swing-store dir being built.
struct Staged {
    cfg: PathBuf,
    ss: PathBuf,
    genesis: PathBuf,
    genesis_size: u64,
    genesis_sha256: String,
}

/// Create the temp dir in `config/` with genesis.json (copied from the reader's kept
/// genesis) and the swing-store dir with its export manifest.
fn stage_head(t: &Targets, reader: &ArchiveReader, scratch: &mut Scratch) -> Result<Staged> {
    create_dirs(&t.config, &mut scratch.created_dirs)?;
    let tmp_cfg = temp_dir_in(&t.config)?;
    scratch.tmp_cfg = Some(tmp_cfg.clone());
    let tmp_ss = tmp_cfg.join("swing-store");
    fs::create_dir(&tmp_ss).map_err(|e| Error::io(&tmp_ss, e))?;
    let tmp_genesis = tmp_cfg.join("genesis.json");
    let (genesis_size, genesis_sha256) = match &reader.genesis_file {
        Some(g) => {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp_genesis)
                .map_err(|e| Error::io(&tmp_genesis, e))?;
            g.copy_to(&mut f)?;
            f.sync_all().map_err(|e| Error::io(&tmp_genesis, e))?;
            (g.size, g.sha256.clone())
        }
        None => {
            return Err(Error::Refused(
                "internal: the reader kept no genesis".into(),
            ))
        }
    };
    write_export_manifest(&tmp_ss.join(MANIFEST_FILE), reader)?;
    Ok(Staged {
        cfg: tmp_cfg,
        ss: tmp_ss,
        genesis: tmp_genesis,
        genesis_size,
        genesis_sha256,
    })
}

/// Start the DB builder (unless `--no-db`) in a temp dir beside the DB's place: returns
/// it and (temp dir, DB file in it).
#[allow(clippy::type_complexity)]
fn start_db(
    opts: &ExplodeOptions,
    t: &Targets,
    reader: &ArchiveReader,
    mode: ArtifactMode,
    tmp_ss: &Path,
    data_path: &Path,
    scratch: &mut Scratch,
) -> Result<(DbBuild, Option<(PathBuf, PathBuf)>)> {
    if opts.no_db {
        return Ok((DbBuild::none(), None));
    }
    create_dirs(&t.db_dir, &mut scratch.created_dirs)?;
    let tmp_db = temp_dir_in(&t.db_dir)?;
    scratch.tmp_db = Some(tmp_db.clone());
    let dbf = tmp_db.join(DB_FILE);
    let iopts = ImportOptions {
        mode: Some(mode),
        block_height: Some(reader.manifest.initial_height),
        scratch_dir: Some(tmp_db.clone()),
        progress: false,
    };
    // import-kernel-db.js's manifest checks, on the export manifest explode writes
    // (the reader checked it is the canonical one for these height and mode)
    let (imode, height) = dbimport::check_manifest(
        &tmp_ss.join(MANIFEST_FILE).display().to_string(),
        true,
        reader.manifest.artifacts().count(),
        Some(reader.manifest.initial_height).filter(|h| *h > 0),
        reader.manifest.mode().ok(),
        &iopts,
    )
    .map_err(|e| relocate(e, tmp_ss, &opts.archive))?;
    let db = DbBuild::start(data_path.to_path_buf(), dbf.clone(), imode, height, iopts)?;
    Ok((db, Some((tmp_db, dbf))))
}

/// Wait for the DB builder and describe the DB it built (None with `--no-db`).
fn finish_db(
    mut db: DbBuild,
    tmp_db_file: Option<&(PathBuf, PathBuf)>,
    t: &Targets,
) -> Result<Option<DbInfo>> {
    let imp = match db.finish() {
        None => return Ok(None),
        Some(r) => r?,
    };
    checkpoint("db")?;
    let Some((tmp_db, dbf)) = tmp_db_file else {
        return Err(Error::io_at(
            "building the DB",
            std::io::Error::other("DB file lost"),
        ));
    };
    let (bytes, sha) = file_sha256(dbf)?;
    let info = DbInfo {
        path: t.db.display().to_string(),
        bytes,
        sha256: sha,
        import: ImportSummary {
            db: t.db.display().to_string(),
            ..imp
        },
    };
    sync_dir(tmp_db)?;
    Ok(Some(info))
}

/// Commit: the renames, DB first, swing-store second, genesis.json last; what was in
/// their way is moved into the temp dirs. Returns the paths replaced; an error carries
/// the paths already placed.
fn commit(
    opts: &ExplodeOptions,
    t: &Targets,
    tmp_db_file: Option<&(PathBuf, PathBuf)>,
    staged: &Staged,
) -> std::result::Result<Vec<String>, (Error, Placed)> {
    let mut placed: Placed = Vec::new();
    let mut replaced = Vec::new();
    let fail = |e: Error, placed: &Placed| (e, placed.clone());
    if let Some((tmp_db, dbf)) = tmp_db_file {
        let old = tmp_db.join("replaced");
        let mut moved_any = false;
        for p in std::iter::once(t.db.clone()).chain(t.db_side()) {
            if fs::symlink_metadata(&p).is_ok() {
                if !moved_any {
                    fs::create_dir(&old).map_err(|e| fail(Error::io(&old, e), &placed))?;
                    moved_any = true;
                }
                let to = old.join(p.file_name().unwrap_or_default());
                fs::rename(&p, &to).map_err(|e| fail(Error::io(&p, e), &placed))?;
                replaced.push(p.display().to_string());
            }
        }
        fs::rename(dbf, &t.db).map_err(|e| fail(Error::io(&t.db, e), &placed))?;
        placed.push(t.db.display().to_string());
        checkpoint("renamed-db").map_err(|e| fail(e, &placed))?;
    }
    if fs::symlink_metadata(&t.swing_store).is_ok() {
        let to = staged.cfg.join("replaced-swing-store");
        fs::rename(&t.swing_store, &to).map_err(|e| fail(Error::io(&t.swing_store, e), &placed))?;
        replaced.push(t.swing_store.display().to_string());
    }
    fs::rename(&staged.ss, &t.swing_store)
        .map_err(|e| fail(Error::io(&t.swing_store, e), &placed))?;
    placed.push(t.swing_store.display().to_string());
    checkpoint("renamed-swing-store").map_err(|e| fail(e, &placed))?;
    if fs::symlink_metadata(&t.genesis).is_ok() {
        replaced.push(t.genesis.display().to_string());
    }
    fs::rename(&staged.genesis, &t.genesis).map_err(|e| fail(Error::io(&t.genesis, e), &placed))?;
    placed.push(t.genesis.display().to_string());
    // make the renames durable (after all of them, to keep the rename window short)
    sync_dir(&t.config).map_err(|e| fail(e, &placed))?;
    if !opts.no_db {
        sync_dir(&t.db_dir).map_err(|e| fail(e, &placed))?;
    }
    checkpoint("done").map_err(|e| fail(e, &placed))?;
    Ok(replaced)
}

/// A replay DB cannot place a span of a vat without a current span (a terminated vat in
/// a debug archive): refuse it (the official importer crashes on it with a TypeError).
/// Call after `read_export_data`.
pub(crate) fn check_replay_placeable(
    reader: &ArchiveReader,
    mode: ArtifactMode,
    archive: &Path,
) -> Result<()> {
    if mode != ArtifactMode::Replay {
        return Ok(());
    }
    if let Some(meta) = reader.meta.as_ref() {
        for (name, _) in reader.manifest.artifacts() {
            if let Ok(ArtifactName::Transcript { vat, .. }) = ArtifactName::parse(name) {
                if meta.current_span(&vat).is_none() {
                    return Err(Error::Refused(format!(
                        "{}: member swing-store/{name}: vat {vat} has no current transcript span (it was terminated), so a replay DB cannot place this span (the official importer crashes on such an export with a TypeError). Use the artifact mode operational, archival or debug instead",
                        archive.display()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Stream the archive into `tmp_ss` (export data, then artifacts) while the reader checks
/// every member, feeding `db` as it goes; then check the end of the archive. Returns the
/// artifact files and bytes written and the reader's result.
fn extract(
    opts: &ExplodeOptions,
    mut reader: ArchiveReader,
    mode: ArtifactMode,
    tmp_ss: &Path,
    data_path: &Path,
    db: &mut DbBuild,
) -> Result<(u64, u64, crate::archive::reader::ReadResult)> {
    {
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(data_path)
            .map_err(|e| Error::io(data_path, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut sha = Sha256::new();
        reader.read_export_data(&mut |e, line| {
            sha.update(line);
            w.write_all(line).map_err(|er| Error::io(data_path, er))?;
            db.entry(&e.key, e.value.as_deref())
        })?;
        db.data_end()?;
        let f = w
            .into_inner()
            .map_err(|e| Error::io(data_path, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io(data_path, e))?;
        let got = hex::encode(sha.finalize());
        let want = reader
            .manifest
            .member(EXPORT_DATA_MEMBER)
            .map(|m| m.sha256.hex())
            .unwrap_or_default();
        if got != want {
            return Err(Error::invalid(
                format!("{}: member {EXPORT_DATA_MEMBER}", opts.archive.display()),
                format!(
                    "the written export data hashes to {got}, the archive manifest says {want}"
                ),
            ));
        }
    }
    if !opts.no_db {
        check_replay_placeable(&reader, mode, &opts.archive)?;
    }
    checkpoint("export-data")?;

    let mut sink = FileSink::new(tmp_ss.to_path_buf(), db);
    reader.read_artifacts(&mut sink)?;
    checkpoint("artifacts")?;
    let (files, bytes) = (sink.files, sink.bytes);
    let result = finish_expected(reader, &opts.archive, opts.expect.as_deref())?;
    Ok((files, bytes, result))
}

/// Read the end of the archive (fail-fast) and check the digest against `--expect`.
pub(crate) fn finish_expected(
    reader: ArchiveReader,
    archive: &Path,
    expect: Option<&str>,
) -> Result<crate::archive::reader::ReadResult> {
    let result = reader.finish()?;
    if !result.problems.is_empty() {
        return Err(Error::invalid(
            archive.display().to_string(),
            result.problems.join("; "),
        ));
    }
    if let Some(want) = expect {
        if want != result.digest {
            return Err(Error::Refused(format!(
                "{}: archive digest is {}, but --expect says {want}; nothing was written. Get the archive the validators agreed on",
                archive.display(),
                result.digest
            )));
        }
    }
    checkpoint("finished")?;
    Ok(result)
}
