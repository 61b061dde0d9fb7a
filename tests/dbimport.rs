//! The importer on the fixture no other test has: a debug export holding historical heap
//! snapshots with their bytes (`tests/fixtures/keepsnap`, made by the official package).
//! A debug import keeps them, as the official importer does; every other mode skips them
//! unread.

use crate::common::*;
use agar::dbimport::{import_export_dir, ImportOptions, ImportSummary};
use agar::model::ArtifactMode;

fn import(mode: ArtifactMode, db: &std::path::Path) -> ImportSummary {
    import_export_dir(
        &fx("keepsnap/export/debug"),
        db,
        &ImportOptions {
            mode: Some(mode),
            block_height: None,
            scratch_dir: None,
            progress: false,
        },
    )
    .unwrap_or_else(|e| panic!("{mode} import: {e}"))
}

#[test]
fn debug_import_keeps_historical_snapshots_like_the_official_importer() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("debug");
    std::fs::create_dir(&dir).unwrap();
    let s = import(ArtifactMode::Debug, &dir.join("swingstore.sqlite"));
    // 18 snapshot records, all with their data: 2 in use and 16 historical ones
    assert_eq!((s.snapshots, s.snapshot_blobs), (18, 18), "{s:?}");
    assert_eq!(s.artifacts_skipped, 0, "{s:?}");
    // row for row what the official importer built from the same export
    let got = ok(&["dump", p(&dir)]);
    let want = std::fs::read_to_string(fx("keepsnap/imported-debug.txt")).unwrap();
    assert_same_dump(&got, &want, "keepsnap debug import");
}

#[test]
fn other_modes_skip_historical_snapshots_unread() {
    let t = tempfile::tempdir().unwrap();
    let s = import(ArtifactMode::Operational, &t.path().join("op.sqlite"));
    // the records are all imported, the historical snapshots' bytes are not
    assert_eq!((s.snapshots, s.snapshot_blobs), (18, 2), "{s:?}");
    assert!(s.artifacts_skipped >= 16, "{s:?}");
}
