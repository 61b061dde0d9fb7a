//! `agar pack --swing-store`: the archive packed straight from a DB equals the archive
//! packed from the official export of that DB, in every artifact mode; failing modes fail
//! as the official exporter does; the DB is never written and no side files appear.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MODES: [&str; 4] = ["operational", "replay", "archival", "debug"];
const EMPTY_HASH: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn fixture(fx: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(fx)
}

fn genesis(fx: &str) -> PathBuf {
    fixture(fx).join("genesis/operational/genesis.json")
}

fn agar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agar"))
        .args(args)
        .output()
        .expect("run agar")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A scratch copy of a fixture DB (the fixture files must never be opened in place).
fn db_copy(fx: &str) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("agoric");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::copy(
        fixture(fx).join("db/swingstore.sqlite"),
        dir.join("swingstore.sqlite"),
    )
    .expect("copy db");
    (t, dir)
}

/// The digest line (last line of stdout) of a successful pack.
fn digest(o: &Output) -> String {
    assert!(
        o.status.success(),
        "pack failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let d = out.lines().last().unwrap_or_default().to_string();
    assert_eq!(d.len(), 64, "no digest in {out}");
    d
}

fn pack_db(db: &Path, genesis: &Path, mode: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "pack",
        "--swing-store",
        s(db),
        "--genesis",
        s(genesis),
        "--artifact-mode",
        mode,
        "-o",
        s(out),
        "-q",
    ];
    args.extend_from_slice(extra);
    agar(&args)
}

fn pack_export(fx: &str, mode: &str, out: &Path) -> Output {
    let exp = fixture(fx).join("export").join(mode);
    agar(&[
        "pack",
        "--swing-store-export",
        s(&exp),
        "--genesis",
        s(&genesis(fx)),
        "-o",
        s(out),
        "-q",
    ])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn every_fixture_and_mode_matches_the_official_export() {
    for fx in ["tiny", "pruned"] {
        let (t, db) = db_copy(fx);
        for mode in MODES {
            let ours = t.path().join(format!("db-{mode}.tar"));
            let o = pack_db(&db, &genesis(fx), mode, &ours, &[]);
            let official = fixture(fx).join("export").join(mode);
            if official.is_dir() {
                let theirs = t.path().join(format!("ex-{mode}.tar"));
                assert_eq!(
                    digest(&o),
                    digest(&pack_export(fx, mode, &theirs)),
                    "{fx} {mode}: archive from the DB differs from the archive from the official export"
                );
            } else {
                // the official exporter failed in this mode (results.json)
                let results: serde_json::Value = serde_json::from_slice(
                    &std::fs::read(fixture(fx).join("results.json")).expect("results.json"),
                )
                .expect("json");
                let err = results["exports"][mode]["error"]
                    .as_str()
                    .expect("official error recorded");
                let head = err.split(':').next().unwrap_or_default();
                assert_eq!(o.status.code(), Some(3), "{fx} {mode}: {}", stderr(&o));
                let e = stderr(&o);
                assert!(
                    e.contains(head),
                    "{fx} {mode}: {e:?} lacks the official meaning {head:?}"
                );
                assert!(e.contains("vat v1"), "{fx} {mode}: {e:?} names no vat");
                assert!(!ours.exists(), "{fx} {mode}: output written on failure");
            }
        }
    }
}

#[test]
fn home_form_and_db_file_path_work() {
    let (t, db) = db_copy("tiny");
    let home = t.path().join("home");
    std::fs::create_dir_all(home.join("data")).expect("mkdir");
    std::fs::create_dir_all(home.join("config")).expect("mkdir");
    std::fs::rename(&db, home.join("data/agoric")).expect("mv");
    std::fs::copy(genesis("tiny"), home.join("config/genesis.json")).expect("cp");
    let a = t.path().join("a.tar");
    let o = agar(&["pack", "--home", s(&home), "-o", s(&a), "-q"]);
    let b = t.path().join("b.tar");
    let file = home.join("data/agoric/swingstore.sqlite");
    let o2 = pack_db(&file, &genesis("tiny"), "operational", &b, &[]);
    let c = t.path().join("c.tar");
    assert_eq!(digest(&o), digest(&o2));
    assert_eq!(digest(&o), digest(&pack_export("tiny", "operational", &c)));
}

#[test]
fn no_side_files_and_db_bytes_unchanged() {
    let (t, db) = db_copy("tiny");
    let file = db.join("swingstore.sqlite");
    let before = std::fs::read(&file).expect("read");
    assert_eq!(before[18], 2, "fixture should be a WAL-mode DB");
    for mode in MODES {
        let out = t.path().join(format!("{mode}.tar"));
        digest(&pack_db(&db, &genesis("tiny"), mode, &out, &[]));
    }
    let names: Vec<String> = std::fs::read_dir(&db)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["swingstore.sqlite".to_string()],
        "side files appeared"
    );
    assert_eq!(
        std::fs::read(&file).expect("read"),
        before,
        "DB bytes changed"
    );
}

#[test]
fn reads_committed_data_from_the_wal_of_a_running_node() {
    let (t, db) = db_copy("tiny");
    let file = db.join("swingstore.sqlite");
    // a "node" holding the DB open in WAL mode with a commit not yet checkpointed
    let node = rusqlite::Connection::open(&file).expect("open");
    node.pragma_update(None, "journal_mode", "wal")
        .expect("wal");
    node.pragma_update(None, "wal_autocheckpoint", 0)
        .expect("no checkpoint");
    node.execute(
        "UPDATE kvStore SET value = '99' WHERE key = 'host.height'",
        [],
    )
    .expect("update");
    assert!(db.join("swingstore.sqlite-wal").exists());
    let out = t.path().join("x.tar");
    let o = pack_db(&db, &genesis("tiny"), "operational", &out, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("host.height") && e.contains("is 99") && e.contains("28"),
        "{e}"
    );
    drop(node);
}

fn edited_genesis(dir: &Path, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let mut g: serde_json::Value =
        serde_json::from_slice(&std::fs::read(genesis("tiny")).expect("read")).expect("json");
    edit(&mut g);
    let p = dir.join("genesis-edited.json");
    std::fs::write(&p, serde_json::to_vec(&g).expect("json")).expect("write");
    p
}

#[test]
fn height_mismatch_is_refused_with_both_heights() {
    let (t, db) = db_copy("tiny");
    let g = edited_genesis(t.path(), |g| {
        g["initial_height"] = serde_json::Value::String("31".into())
    });
    let out = t.path().join("x.tar");
    let o = pack_db(&db, &g, "operational", &out, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("host.height")
            && e.contains("is 27")
            && e.contains("31")
            && e.contains("block 30"),
        "{e}"
    );
    assert!(!out.exists());
    let o = pack_db(&db, &g, "operational", &out, &["--allow-height-mismatch"]);
    digest(&o);
}

#[test]
fn skip_mode_genesis_hash_is_replaced() {
    let (t, db) = db_copy("tiny");
    let g = edited_genesis(t.path(), |g| {
        g["app_state"]["swingset"]["swing_store_export_data_hash"] =
            serde_json::Value::String(EMPTY_HASH.into())
    });
    let out = t.path().join("x.tar");
    let o = agar(&[
        "pack",
        "--swing-store",
        s(&db),
        "--genesis",
        s(&g),
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("replaced the skip-mode (empty) genesis hash"),
        "{}",
        stderr(&o)
    );
    let reference = t.path().join("ref.tar");
    assert_eq!(
        digest(&o),
        digest(&pack_export("tiny", "operational", &reference)),
        "the replaced hash must give the genesis agd exports with the data"
    );
    // an export directory cannot vouch for the data, so it refuses the empty hash
    let exp = fixture("tiny").join("export/operational");
    let o = agar(&[
        "pack",
        "--swing-store-export",
        s(&exp),
        "--genesis",
        s(&g),
        "-o",
        s(&t.path().join("y.tar")),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

#[test]
fn input_forms_are_mutually_exclusive() {
    let (t, db) = db_copy("tiny");
    let out = t.path().join("x.tar");
    let exp = fixture("tiny").join("export/operational");
    let o = agar(&[
        "pack",
        "--swing-store",
        s(&db),
        "--swing-store-export",
        s(&exp),
        "--genesis",
        s(&genesis("tiny")),
        "-o",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--swing-store-export and --swing-store"),
        "{}",
        stderr(&o)
    );
    let o = agar(&[
        "pack",
        "--swing-store",
        s(&db),
        "--home",
        s(t.path()),
        "-o",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--swing-store and --home"),
        "{}",
        stderr(&o)
    );
    let o = agar(&["pack", "--swing-store", s(&db), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("needs --genesis"), "{}", stderr(&o));
    let o = agar(&[
        "pack",
        "--swing-store-export",
        s(&exp),
        "--genesis",
        s(&genesis("tiny")),
        "--artifact-mode",
        "replay",
        "-o",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--artifact-mode only applies"),
        "{}",
        stderr(&o)
    );
    let o = pack_db(&db, &genesis("tiny"), "everything", &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
}

/// Rewrite the snapshots table as the older schema "1A" (extra CHECK).
fn make_schema_1a(file: &Path) {
    let c = rusqlite::Connection::open(file).expect("open");
    let sql: String = c
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'snapshots'",
            [],
            |r| r.get(0),
        )
        .expect("schema");
    let sql_1a = sql.replace(
        "UNIQUE (vatID, inUse)\n    )",
        "UNIQUE (vatID, inUse),\n      CHECK(compressedSnapshot is not null or inUse is null)\n    )",
    );
    assert_ne!(sql, sql_1a);
    c.execute_batch(&format!(
        "BEGIN; ALTER TABLE snapshots RENAME TO s_old; {}; INSERT INTO snapshots SELECT * FROM s_old; DROP TABLE s_old; COMMIT; PRAGMA journal_mode=delete;",
        sql_1a
    ))
    .expect("rewrite");
}

#[test]
fn schema_1a_reads_like_1b() {
    let (t, db) = db_copy("tiny");
    make_schema_1a(&db.join("swingstore.sqlite"));
    for mode in ["operational", "debug"] {
        let out = t.path().join(format!("{mode}.tar"));
        let o = agar(&[
            "pack",
            "--swing-store",
            s(&db),
            "--genesis",
            s(&genesis("tiny")),
            "--artifact-mode",
            mode,
            "-o",
            s(&out),
        ]);
        assert!(stderr(&o).contains("\"1A\""), "{}", stderr(&o));
        let r = t.path().join(format!("ref-{mode}.tar"));
        assert_eq!(digest(&o), digest(&pack_export("tiny", mode, &r)), "{mode}");
    }
}

#[test]
fn pruned_bundles_and_snapshots_fail_like_the_exporter() {
    let (t, db) = db_copy("tiny");
    let file = db.join("swingstore.sqlite");
    {
        let c = rusqlite::Connection::open(&file).expect("open");
        c.execute(
            "UPDATE snapshots SET compressedSnapshot = NULL WHERE inUse = 1 AND vatID = 'v2'",
            [],
        )
        .expect("prune snapshot");
    }
    let out = t.path().join("x.tar");
    let o = pack_db(&db, &genesis("tiny"), "operational", &out, &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("current snapshots are pruned for vats v2"),
        "{}",
        stderr(&o)
    );
    let id: String = {
        let c = rusqlite::Connection::open(&file).expect("open");
        let id: String = c
            .query_row(
                "SELECT bundleID FROM bundles ORDER BY bundleID LIMIT 1",
                [],
                |r| r.get(0),
            )
            .expect("bundle");
        c.execute(
            "UPDATE bundles SET bundle = NULL WHERE bundleID = ?1",
            [&id],
        )
        .expect("prune bundle");
        id
    };
    // bundles are checked first, as in the official assertComplete
    let o = pack_db(&db, &genesis("tiny"), "archival", &out, &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains(&format!("missing bundles for: {id}")),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

#[test]
fn debug_skips_a_historical_span_with_a_missing_item_and_archival_refuses() {
    // as the official exporter: debug exports the historical spans that are complete
    // (the others are pruned), archival needs them all
    let (t, db) = db_copy("tiny");
    let file = db.join("swingstore.sqlite");
    let members = |p: &Path| -> Vec<String> {
        let f = std::fs::File::open(p).expect("open archive");
        tar::Archive::new(f)
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect()
    };
    let full = t.path().join("full.tar");
    digest(&pack_db(&db, &genesis("tiny"), "debug", &full, &[]));
    let name = {
        let c = rusqlite::Connection::open(&file).expect("open");
        let (vat, start, end): (String, i64, i64) = c
            .query_row(
                "SELECT vatID, startPos, endPos FROM transcriptSpans WHERE isCurrent IS NULL AND endPos - startPos >= 3 ORDER BY vatID, startPos LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("a historical span of 3+ items");
        c.execute(
            "DELETE FROM transcriptItems WHERE vatID = ?1 AND position = ?2",
            rusqlite::params![vat, start + (end - start) / 2],
        )
        .expect("delete item");
        format!("swing-store/transcript.{vat}.{start}.{end}")
    };
    let out = t.path().join("x.tar");
    digest(&pack_db(&db, &genesis("tiny"), "debug", &out, &[]));
    let before = members(&full);
    let after = members(&out);
    assert!(before.contains(&name), "{name} in {before:?}");
    let mut want = before.clone();
    want.retain(|m| m != &name);
    assert_eq!(after, want);
    let o = pack_db(
        &db,
        &genesis("tiny"),
        "archival",
        &t.path().join("a.tar"),
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

/// kvStore keys whose SQLite order (memcmp of the stored bytes) differs from the order
/// of their decoded export-data keys: a lone surrogate (`ED A0 80`, what better-sqlite3
/// stores for one) sorts before U+E000 (`EE 80 80`) in the DB, but decodes to three
/// U+FFFD (`EF BF BD`, as the official exporter reads it back), which sorts after it.
/// The DB source promises canonical order; pack must notice the promise broken, and the
/// archive must equal the one packed from the same data as a JS export, where the kv
/// section comes in the same (unsorted) order.
#[test]
fn a_db_whose_key_order_differs_from_the_decoded_order_packs_canonically() {
    let (t, db) = db_copy("tiny");
    {
        let c = rusqlite::Connection::open(db.join("swingstore.sqlite")).unwrap();
        c.execute_batch(
            "INSERT INTO kvStore (key, value) VALUES (CAST(x'7a7a2eeda080' AS TEXT), 'lone surrogate');
             INSERT INTO kvStore (key, value) VALUES (CAST(x'7a7a2eee8080' AS TEXT), 'private use');",
        )
        .unwrap();
    }
    assert!(!db.join("swingstore.sqlite-wal").exists());
    // the genesis cannot know the new hash: let pack set it
    let g = edited_genesis(t.path(), |g| {
        g["app_state"]["swingset"]
            .as_object_mut()
            .unwrap()
            .remove("swing_store_export_data_hash");
    });
    let from_db = t.path().join("db.tar");
    let d1 = digest(&pack_db(&db, &g, "operational", &from_db, &[]));
    // the same state as a JS export: the official export plus the two entries, at the
    // end of the kv section in the exporter's (SQLite) order
    let exp = t.path().join("export");
    let src = fixture("tiny").join("export/operational");
    std::fs::create_dir(&exp).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), exp.join(e.file_name())).unwrap();
    }
    let data = std::fs::read_to_string(src.join("export-data.jsonl")).unwrap();
    let mut lines: Vec<String> = data.lines().map(str::to_string).collect();
    let end_of_kv = lines.iter().rposition(|l| l.starts_with("[\"kv.")).unwrap() + 1;
    lines.insert(end_of_kv, "[\"kv.zz.\u{e000}\",\"private use\"]".into());
    lines.insert(
        end_of_kv,
        "[\"kv.zz.\u{fffd}\u{fffd}\u{fffd}\",\"lone surrogate\"]".into(),
    );
    std::fs::write(exp.join("export-data.jsonl"), lines.join("\n") + "\n").unwrap();
    let from_export = t.path().join("export.tar");
    let o = agar(&[
        "pack",
        "--swing-store-export",
        s(&exp),
        "--genesis",
        s(&g),
        "-o",
        s(&from_export),
        "-q",
    ]);
    assert_eq!(digest(&o), d1);
    // and the archive holds the keys in bytewise order of their decoded form
    let o = agar(&["kv", "list", s(&from_db), "--prefix", "zz."]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = String::from_utf8_lossy(&o.stdout).into_owned();
    let a = listed.find('\u{e000}').expect("U+E000 key listed");
    let b = listed.find('\u{fffd}').expect("U+FFFD key listed");
    assert!(a < b, "{listed}");
}

/// Pass 1 takes a DB snapshot's size and hash from its row instead of inflating it
/// (pass 2 inflates it once, while writing). A blob that does not match its row must
/// still be refused, with nothing written: a different content of the recorded size,
/// and the recorded size off by one.
#[test]
fn a_snapshot_blob_that_differs_from_its_row_is_refused() {
    use std::io::Write;
    for case in ["content", "size"] {
        let (t, db) = db_copy("tiny");
        let c = rusqlite::Connection::open(db.join("swingstore.sqlite")).expect("open");
        let (rowid, size): (i64, i64) = c
            .query_row(
                "SELECT rowid, uncompressedSize FROM snapshots WHERE inUse = 1 LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("an in-use snapshot");
        match case {
            "content" => {
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(&vec![b'x'; size as usize]).expect("gzip");
                let blob = gz.finish().expect("gzip");
                c.execute(
                    "UPDATE snapshots SET compressedSnapshot = ?1 WHERE rowid = ?2",
                    rusqlite::params![blob, rowid],
                )
                .expect("update");
            }
            _ => {
                c.execute(
                    "UPDATE snapshots SET uncompressedSize = uncompressedSize + 1 WHERE rowid = ?1",
                    [rowid],
                )
                .expect("update");
            }
        }
        drop(c);
        let out = t.path().join("x.tar.gz");
        let o = pack_db(&db, &genesis("tiny"), "operational", &out, &[]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{case}: {e}");
        assert!(e.contains("snapshot."), "{case}: names the artifact: {e}");
        assert!(!out.exists(), "{case}: nothing written");
        let left: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|d| d.unwrap().file_name())
            .filter(|n| n.to_string_lossy().contains("agar-tmp"))
            .collect();
        assert!(left.is_empty(), "{case}: temp files left: {left:?}");
    }
}
