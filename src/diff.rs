//! `agar diff A B`: what changed between two archives (or an archive and an agd export
//! directory, packed to a temporary archive first).
//!
//! The archive manifests list every member's digest, so differences are found from
//! them: genesis.json is compared as JSON (pointer paths) when its digests differ; export
//! data, when its digests differ, is streamed from both archives in lockstep (both are
//! sorted), so kv differences are found in bounded memory; artifacts are listed by their
//! manifest digests. Both archives are still read to their end (B on a second thread),
//! every member checked against its digest while it streams, as `verify` does: a corrupt
//! archive is an error naming the member, never "no differences".

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;

use serde::Serialize;
use serde_json::Value;

use crate::archive::reader::{ArchiveReader, ReadOptions};
use crate::archive::writer::Compression;
use crate::archive::{ArchiveManifest, Member, Provenance};
use crate::edit::show;
use crate::error::{bail, Error, Result};
use crate::model::{family, Family};

#[derive(Debug, Clone, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub a: Value,
    pub b: Value,
}

/// One difference. In JSON, `a` (old) and `b` (new) are the values themselves (a genesis
/// value as JSON, an export-data value as its string), absent on the side that lacks the
/// key; a value longer than [`VALUE_BYTES`] is not held: `a_cut`/`b_cut` give its size
/// and first bytes instead.
#[derive(Debug, Clone, Serialize)]
pub struct ValueChange {
    /// JSON Pointer (genesis) or key (kvStore without `kv.`, metadata records in full).
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a_cut: Option<Cut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b_cut: Option<Cut>,
    /// For a person: each side rendered and cut (None: absent).
    #[serde(skip)]
    pub a_text: Option<String>,
    #[serde(skip)]
    pub b_text: Option<String>,
}

/// A value too long to list whole.
#[derive(Debug, Clone, Serialize)]
pub struct Cut {
    /// Its full size (genesis: canonical JSON text; export data: the string's UTF-8).
    pub bytes: u64,
    /// Its first bytes (at most [`VALUE_BYTES`]), as text.
    pub head: String,
}

/// Longest value listed whole in a diff (the genesis differ's capture cap).
pub const VALUE_BYTES: usize = crate::json::walk::OLD_BYTES;

/// One side of a difference: the JSON value and text for a person, or its cut form.
struct Side {
    value: Option<Value>,
    cut: Option<Cut>,
    text: String,
}

fn cut_head(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(VALUE_BYTES)]);
    s.trim_end_matches('\u{fffd}').to_string()
}

/// A genesis value from its canonical text (the first bytes and the size).
fn genesis_side(o: &crate::json::walk::Old) -> Side {
    let complete = o.head.len() as u64 == o.size;
    let value = complete
        .then(|| serde_json::from_slice::<Value>(&o.head).ok())
        .flatten();
    Side {
        cut: value.is_none().then(|| Cut {
            bytes: o.size,
            head: cut_head(&o.head),
        }),
        value,
        text: o.render(200),
    }
}

/// An export-data value (a string).
fn data_side(v: &str) -> Side {
    let whole = v.len() <= VALUE_BYTES;
    Side {
        value: whole.then(|| Value::String(v.to_string())),
        cut: (!whole).then(|| Cut {
            bytes: v.len() as u64,
            head: cut_head(v.as_bytes()),
        }),
        text: show(v),
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Section {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    /// The first `limit` differences, in key order.
    pub items: Vec<ValueChange>,
    pub truncated: bool,
}

fn split(s: Side) -> (Option<Value>, Option<Cut>, String) {
    (s.value, s.cut, s.text)
}

impl Section {
    fn push(&mut self, limit: usize, key: String, a: Option<Side>, b: Option<Side>) {
        match (&a, &b) {
            (None, _) => self.added += 1,
            (_, None) => self.removed += 1,
            _ => self.changed += 1,
        }
        if self.items.len() < limit {
            let (a, b) = (a.map(split), b.map(split));
            let parts = |s: Option<(Option<Value>, Option<Cut>, String)>| match s {
                Some((v, c, t)) => (v, c, Some(t)),
                None => (None, None, None),
            };
            let ((a, a_cut, a_text), (b, b_cut, b_text)) = (parts(a), parts(b));
            self.items.push(ValueChange {
                key,
                a,
                b,
                a_cut,
                b_cut,
                a_text,
                b_text,
            });
        } else {
            self.truncated = true;
        }
    }
    pub fn is_empty(&self) -> bool {
        self.added + self.removed + self.changed == 0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ArtifactChange {
    pub name: String,
    pub a: Option<Member>,
    pub b: Option<Member>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub a: String,
    pub b: String,
    pub equal: bool,
    /// Manifest fields that differ (chain_id, heights, mode, export-data hash, provenance).
    pub manifest: Vec<FieldChange>,
    pub genesis: Section,
    pub export_manifest_changed: bool,
    pub kv: Section,
    /// Non-kv export-data records (bundle., snapshot., transcript.).
    pub metadata: Section,
    /// `artifact_changes` in JSON (`artifacts` is a count in every command's JSON).
    #[serde(rename = "artifact_changes")]
    pub artifacts: Vec<ArtifactChange>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DiffOptions {
    pub progress: bool,
    /// Most differences listed per section (counts are always exact).
    pub limit: usize,
}

/// An archive path, or an agd export directory packed into a temporary archive.
struct Input {
    path: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Drop for Input {
    fn drop(&mut self) {
        if let Some(t) = &self._tmp {
            crate::cleanup::unregister(t.path());
        }
    }
}

fn prepare(p: &Path, notes: &mut Vec<String>) -> Result<Input> {
    if !p.is_dir() {
        return Ok(Input {
            path: p.to_path_buf(),
            _tmp: None,
        });
    }
    let gpath = p.join("genesis.json");
    let genesis = crate::genesis::CanonicalGenesis::from_path(&gpath, Some(p))?;
    let mut source = crate::exportdir::ExportDir::open(&p.join("swing-store"))?;
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    // removed on SIGINT/SIGTERM too (the signal handler exits without running Drop)
    crate::cleanup::register(tmp.path());
    let out = tmp.path().join("packed.tar");
    let opts = crate::pack::PackOptions {
        compression: Compression::None,
        allow_height_mismatch: true,
        progress: false,
    };
    let s = crate::pack::pack(genesis, &mut source, Some(&out), &opts)?;
    notes.push(format!(
        "{} is an export directory: packed it to a temporary archive (digest {}) for the comparison",
        p.display(),
        s.digest
    ));
    Ok(Input {
        path: out,
        _tmp: Some(tmp),
    })
}

const OWNED_PATHS: [&str; 2] = [
    "/app_state/swingset/swing_store_export_data_hash",
    "/app_state/swingset/swingStoreExportDataHash",
];

fn manifest_fields(a: &ArchiveManifest, b: &ArchiveManifest) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut f = |name: &str, x: Value, y: Value| {
        if x != y {
            out.push(FieldChange {
                field: name.into(),
                a: x,
                b: y,
            });
        }
    };
    f("format", a.format.clone().into(), b.format.clone().into());
    f(
        "chain_id",
        a.chain_id.clone().into(),
        b.chain_id.clone().into(),
    );
    f(
        "initial_height",
        a.initial_height.into(),
        b.initial_height.into(),
    );
    f(
        "export_height",
        a.export_height.into(),
        b.export_height.into(),
    );
    f(
        "artifact_mode",
        a.artifact_mode.clone().into(),
        b.artifact_mode.clone().into(),
    );
    f(
        "swing_store_export_data_hash",
        a.swing_store_export_data_hash.clone().into(),
        b.swing_store_export_data_hash.clone().into(),
    );
    f(
        "export_data_entries",
        a.export_data_entries.into(),
        b.export_data_entries.into(),
    );
    f(
        "genesis.json sha256",
        a.genesis_member().map(|m| m.sha256.hex()).into(),
        b.genesis_member().map(|m| m.sha256.hex()).into(),
    );
    let prov = |p: &Option<Provenance>| match p {
        None => Value::Null,
        Some(p) => {
            serde_json::json!({"parent": p.parent, "edits_sha256": p.edits_sha256, "edits": p.edits})
        }
    };
    f("provenance", prov(&a.provenance), prov(&b.provenance));
    out
}

/// Compare two archives (or export directories).
pub fn diff(a: &Path, b: &Path, opts: &DiffOptions) -> Result<DiffReport> {
    let mut notes = Vec::new();
    let ia = prepare(a, &mut notes)?;
    let ib = prepare(b, &mut notes)?;
    let ropts = ReadOptions {
        fail_fast: true,
        progress: opts.progress,
        keep_genesis: true,
        skip_chain_check: true, // no use for it here
    };
    let ra = ArchiveReader::open(&ia.path, ropts)?;
    let rb = ArchiveReader::open(
        &ib.path,
        ReadOptions {
            progress: false,
            ..ropts
        },
    )?;
    let (ma, mb) = (ra.manifest.clone(), rb.manifest.clone());
    let limit = opts.limit;
    let mut rep = DiffReport {
        a: a.display().to_string(),
        b: b.display().to_string(),
        equal: false,
        manifest: manifest_fields(&ma, &mb),
        genesis: Section::default(),
        export_manifest_changed: ma.members[ma.head_len() - 2].sha256
            != mb.members[mb.head_len() - 2].sha256,
        kv: Section::default(),
        metadata: Section::default(),
        artifacts: Vec::new(),
        notes,
    };
    if matches!((ma.genesis_member(), mb.genesis_member()), (Some(x), Some(y)) if x.sha256 != y.sha256)
    {
        let (ga, gb) = match (&ra.genesis_file, &rb.genesis_file) {
            (Some(x), Some(y)) => (x.reader()?, y.reader()?),
            _ => {
                return Err(Error::Refused(
                    "internal: the readers kept no genesis".into(),
                ))
            }
        };
        let sec = &mut rep.genesis;
        crate::json::diff::diff(ga, gb, &OWNED_PATHS, &mut |(k, x, y)| {
            sec.push(
                limit,
                k,
                x.as_ref().map(genesis_side),
                y.as_ref().map(genesis_side),
            )
        })?;
    }

    rep.artifacts = artifact_changes(&ma, &mb);

    // Both archives are read to their end, B on a thread: every member is checked
    // against its manifest digest (and every artifact against its record) while it
    // streams, as verify does, so a corrupt archive is an error naming the member, never
    // "no differences". The export data is compared in lockstep when its digests differ.
    let data_differs = ma.export_data_member().sha256 != mb.export_data_member().sha256;
    let (tx, rx) = mpsc::sync_channel::<(String, String)>(4096);
    // which side failed first (0: none, 1: A, 2: B); the other side's reader then stops
    // at its next chunk, and the first failure is the one reported
    let failed = std::sync::Arc::new(AtomicU8::new(0));
    let failed_b = failed.clone();
    let handle = std::thread::spawn(move || -> Result<()> {
        let mut rb = rb;
        let res = (|| {
            if data_differs {
                rb.read_export_data(&mut |e, _| {
                    tx.send((e.key.clone(), e.value.clone().unwrap_or_default()))
                        .map_err(|_| Error::invalid("diff", "stopped"))
                })?;
            }
            drop(tx);
            rb.read_artifacts(&mut Cancel(&failed_b))?;
            rb.finish().map(|_| ())
        })();
        if res.is_err() {
            let _ = failed_b.compare_exchange(0, 2, Ordering::SeqCst, Ordering::SeqCst);
        }
        res
    });
    let res_a = read_a(ra, data_differs, &rx, limit, &mut rep, &failed);
    if res_a.is_err() {
        let _ = failed.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst);
    }
    drop(rx);
    let res_b = handle.join().unwrap_or_else(|_| {
        bail(
            b.display().to_string(),
            "internal: the reader thread panicked",
        )
    });
    match (res_a, res_b) {
        (Ok(()), Ok(())) => {}
        (Err(e), Ok(())) | (Ok(()), Err(e)) => return Err(e),
        (Err(ea), Err(eb)) => {
            return Err(if failed.load(Ordering::SeqCst) == 2 {
                eb
            } else {
                ea
            })
        }
    }
    rep.equal = rep.manifest.is_empty()
        && rep.genesis.is_empty()
        && !rep.export_manifest_changed
        && rep.kv.is_empty()
        && rep.metadata.is_empty()
        && rep.artifacts.is_empty();
    if rep.equal && ma != mb {
        // belt and braces: any other manifest difference still counts
        rep.equal = false;
        rep.notes
            .push("the archive manifests differ in a way not listed above".into());
    }
    Ok(rep)
}

/// The artifacts that differ (by manifest digest and size), or are in one archive only.
fn artifact_changes(ma: &ArchiveManifest, mb: &ArchiveManifest) -> Vec<ArtifactChange> {
    let mut out = Vec::new();
    let arts = |m: &ArchiveManifest| -> std::collections::BTreeMap<String, Member> {
        m.artifacts()
            .map(|(n, x)| (n.to_string(), x.clone()))
            .collect()
    };
    let (aa, ab) = (arts(ma), arts(mb));
    let names: std::collections::BTreeSet<&String> = aa.keys().chain(ab.keys()).collect();
    for n in names {
        let (x, y) = (aa.get(n), ab.get(n));
        if x != y {
            out.push(ArtifactChange {
                name: n.clone(),
                a: x.cloned(),
                b: y.cloned(),
            });
        }
    }

    out
}

/// Stops one side's reader once the other side failed (that error is the one reported).
struct Cancel<'a>(&'a AtomicU8);

impl crate::archive::reader::ArtifactSink for Cancel<'_> {
    fn begin(&mut self, _: &crate::model::ArtifactName, _: &Member) -> Result<()> {
        Ok(())
    }
    fn data(&mut self, _: &[u8]) -> Result<()> {
        if self.0.load(Ordering::Relaxed) != 0 {
            return bail("diff", "stopped");
        }
        Ok(())
    }
    fn end(&mut self, _: &crate::model::ArtifactName, _: &Member) -> Result<()> {
        Ok(())
    }
}

/// Read A to its end, comparing its export data with B's entries (from `rx`, in key
/// order) when they differ; fills `rep.kv` and `rep.metadata`.
fn read_a(
    mut ra: ArchiveReader,
    data_differs: bool,
    rx: &mpsc::Receiver<(String, String)>,
    limit: usize,
    rep: &mut DiffReport,
    failed: &AtomicU8,
) -> Result<()> {
    if data_differs {
        // B's entries end early only when B's reader failed: its error is reported then
        let next = || rx.recv().ok();
        let mut peek = next();
        let (mut kv, mut meta) = (Section::default(), Section::default());
        let mut record = |key: &str, x: Option<&str>, y: Option<&str>| {
            let (sec, k) = match family(key) {
                Some(Family::Kv) => (&mut kv, crate::model::kv_store_key(key).unwrap_or(key)),
                _ => (&mut meta, key),
            };
            sec.push(limit, k.to_string(), x.map(data_side), y.map(data_side));
        };
        ra.read_export_data(&mut |e, _| {
            let va = e.value.as_deref().unwrap_or_default();
            loop {
                match &peek {
                    Some((kb, vb)) if kb.as_bytes() < e.key.as_bytes() => {
                        record(kb, None, Some(vb));
                        peek = next();
                    }
                    Some((kb, vb)) if *kb == e.key => {
                        if vb != va {
                            record(kb, Some(va), Some(vb));
                        }
                        peek = next();
                        break;
                    }
                    _ => {
                        record(&e.key, Some(va), None);
                        break;
                    }
                }
            }
            Ok(())
        })?;
        while let Some((kb, vb)) = peek {
            record(&kb, None, Some(&vb));
            peek = next();
        }
        rep.kv = kv;
        rep.metadata = meta;
    }
    ra.read_artifacts(&mut Cancel(failed))?;
    ra.finish()?;
    Ok(())
}
