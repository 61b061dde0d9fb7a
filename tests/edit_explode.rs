//! Edits are visible in the node home explode builds (issue 5 with issue 3): the kvStore
//! in swingstore.sqlite holds the edited values, the genesis carries the recomputed hash.

use crate::common::*;

#[test]
fn kv_edits_and_height_change_reach_the_sqlite_db() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("base.tar.gz");
    pack_dir(&repo("examples/tiny-export"), &base);
    let edited = t.path().join("edited.tar.gz");
    let out = ok(&[
        "edit",
        p(&base),
        "-o",
        p(&edited),
        "--kv-set",
        "runQueue=[]",
        "--kv-delete",
        "edge.ascii",
        "--initial-height",
        "40",
        "-q",
    ]);
    let digest = last_line(&out);
    ok(&["verify", p(&edited), "--expect", &digest]);
    let home = t.path().join("home");
    // the height change moves the DB's host.height to the new initial height
    ok(&["explode", p(&edited), "--home", p(&home), "--db", "-q"]);
    let db = rusqlite::Connection::open_with_flags(
        home.join("data/agoric/swingstore.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let get = |k: &str| -> Option<String> {
        db.query_row("SELECT value FROM kvStore WHERE key = ?", [k], |r| r.get(0))
            .ok()
    };
    assert_eq!(get("runQueue").as_deref(), Some("[]"));
    assert_eq!(get("edge.ascii"), None);
    assert_eq!(get("host.height").as_deref(), Some("40"));
    assert!(get("edge.cjk").is_some(), "untouched keys stay");
    // the exploded genesis carries the hash of the exploded export data, and the
    // export manifest the new block height
    let data = std::fs::read(home.join("config/swing-store/export-data.jsonl")).unwrap();
    let hash = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data))
    );
    let g: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("config/genesis.json")).unwrap()).unwrap();
    assert_eq!(
        g["app_state"]["swingset"]["swing_store_export_data_hash"],
        hash.as_str()
    );
    assert_eq!(g["initial_height"], 40);
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(home.join("config/swing-store/export-manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["blockHeight"], 40);
    // packing the exploded config/ gives the edited archive back, member for member;
    // only the archive manifest differs: a fresh pack records no edit provenance
    let again = t.path().join("again.tar");
    pack_dir(&home.join("config"), &again);
    let a = tar_members(&gunzip(&std::fs::read(&edited).unwrap()));
    let b = tar_members(&std::fs::read(&again).unwrap());
    assert_eq!(a[1..], b[1..]);
    let ma: serde_json::Value = serde_json::from_slice(&a[0].1).unwrap();
    let mb: serde_json::Value = serde_json::from_slice(&b[0].1).unwrap();
    assert_eq!(ma["members"], mb["members"]);
    assert_eq!(ma["provenance"]["parent"].as_str().map(str::len), Some(64));
    assert!(mb["provenance"].is_null());
}
