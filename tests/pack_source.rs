//! pack against sources that change between its passes, through the library with
//! test-only `StateSource` wrappers (no environment hooks): the second pass's rechecks
//! and the unchanged-DB check must refuse to put such an archive in place, and a previous
//! output must survive untouched.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::common::*;
use agar::archive::writer::Compression;
use agar::dbexport::DbExport;
use agar::exportdir::ExportDir;
use agar::genesis::CanonicalGenesis;
use agar::gojson::Entry;
use agar::model::ArtifactMode;
use agar::pack::{plan, write, PackOptions};
use agar::source::StateSource;

/// What a [`Changing`] source changes once armed (after pack's first pass).
#[derive(Clone, PartialEq)]
enum Change {
    /// One kv value, same length (so only the digest can tell).
    Data,
    /// The first byte of every artifact, same length.
    Artifact,
    /// Creates `wal` next to the DB (what a node that opens it does) when pass 2 opens
    /// artifact `last`, after every read already happened: only the final check sees it.
    NodeOpensDb { last: String, wal: PathBuf },
}

struct Changing<S> {
    inner: S,
    change: Change,
    armed: bool,
}

struct FlipFirst<R> {
    inner: R,
    first: bool,
}

impl<R: Read> Read for FlipFirst<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.first && n > 0 {
            buf[0] ^= 0x01;
            self.first = false;
        }
        Ok(n)
    }
}

impl<S: StateSource> StateSource for Changing<S> {
    fn data_location(&self) -> String {
        self.inner.data_location()
    }
    fn for_each_entry(
        &mut self,
        f: &mut dyn FnMut(&str, Entry) -> agar::Result<()>,
    ) -> agar::Result<()> {
        let change = self.armed && self.change == Change::Data;
        self.inner.for_each_entry(&mut |loc, mut e| {
            if change && e.key == "kv.crankNumber" {
                assert_eq!(e.value.as_deref(), Some("114"));
                e.value = Some("115".into());
            }
            f(loc, e)
        })
    }
    fn artifact_names(&self) -> Vec<String> {
        self.inner.artifact_names()
    }
    fn artifact_location(&self, name: &str) -> String {
        self.inner.artifact_location(name)
    }
    fn open_artifact(&mut self, name: &str) -> agar::Result<Box<dyn Read + '_>> {
        let flip = self.armed && self.change == Change::Artifact;
        let r = self.inner.open_artifact(name)?;
        if let Change::NodeOpensDb { last, wal } = &self.change {
            if self.armed && name == last {
                std::fs::write(wal, b"").unwrap();
            }
        }
        Ok(Box::new(FlipFirst {
            inner: r,
            first: flip,
        }))
    }
    fn declared_mode(&self) -> Option<ArtifactMode> {
        self.inner.declared_mode()
    }
    fn export_height(&self) -> Option<u64> {
        self.inner.export_height()
    }
    fn replaces_skip_hash(&self) -> bool {
        self.inner.replaces_skip_hash()
    }
    fn height_origin(&self) -> String {
        self.inner.height_origin()
    }
    fn canonical_order(&self) -> bool {
        self.inner.canonical_order()
    }
    fn ensure_unchanged(&self) -> agar::Result<()> {
        self.inner.ensure_unchanged()
    }
}

fn genesis(path: &Path) -> CanonicalGenesis {
    CanonicalGenesis::from_path(path, None).unwrap()
}

fn opts() -> PackOptions {
    PackOptions {
        compression: Compression::None,
        allow_height_mismatch: false,
        progress: false,
    }
}

/// A directory holding a previous archive `out.tar`; returns it and the output path.
fn previous_output() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out.tar");
    std::fs::write(&out, b"the previous archive").unwrap();
    (t, out)
}

/// The output directory holds the previous archive, untouched, and nothing else.
fn assert_previous_kept(dir: &Path, out: &Path) {
    assert_eq!(std::fs::read(out).unwrap(), b"the previous archive");
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["out.tar"], "temp files left behind");
}

#[test]
fn a_source_that_changes_between_passes_is_refused_and_the_previous_output_kept() {
    for (change, want) in [
        (Change::Data, "export data changed while packing"),
        (Change::Artifact, "artifact changed while packing"),
    ] {
        let (t, out) = previous_output();
        let mut src = Changing {
            inner: ExportDir::open(&fx("tiny/export/debug")).unwrap(),
            change,
            armed: false,
        };
        let pl = plan(
            genesis(&fx("tiny/genesis/debug/genesis.json")),
            &mut src,
            &opts(),
        )
        .unwrap();
        src.armed = true;
        let e = write(&pl, &mut src, Some(&out), &opts())
            .expect_err("a changed source must not be packed");
        assert!(e.to_string().contains(want), "{e}");
        assert_previous_kept(t.path(), &out);
        // unchanged, the same plan writes and replaces the previous output
        src.armed = false;
        let w = write(&pl, &mut src, Some(&out), &opts()).unwrap();
        assert_eq!(w.digest, sha256_file(&out));
    }
}

#[test]
fn a_db_opened_by_another_process_while_packing_is_refused_before_the_rename() {
    let (t, out) = previous_output();
    let w = tempfile::tempdir().unwrap();
    let db = w.path().join("swingstore.sqlite");
    std::fs::copy(fx("tiny/db/swingstore.sqlite"), &db).unwrap();
    let inner = DbExport::open(&db, ArtifactMode::Operational).unwrap();
    let last = inner.artifact_names().last().unwrap().clone();
    let mut src = Changing {
        inner,
        change: Change::NodeOpensDb {
            last,
            wal: w.path().join("swingstore.sqlite-wal"),
        },
        armed: false,
    };
    let g = genesis(&fx("tiny/genesis/operational/genesis.json"));
    let pl = plan(g, &mut src, &opts()).unwrap();
    src.armed = true;
    let e = write(&pl, &mut src, Some(&out), &opts())
        .expect_err("a DB opened meanwhile must not be packed");
    assert_eq!(e.exit_code(), agar::error::exit::REFUSED, "{e}");
    assert!(e.to_string().contains("opened by another process"), "{e}");
    assert_previous_kept(t.path(), &out);
}
