//! `agar backup`, `agar restore` and `agar status` on the real fixtures (tiny: a full DB,
//! pruned: a validator's pruned DB): round trips against the official importer's DBs,
//! determinism, refusals that leave the home byte-identical, running-node detection, a
//! crashed node's WAL, and kills at every phase of a restore.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("AGAR_TEST_ABORT_AT")
        .env_remove("AGAR_TEST_DELAY_MS")
        .env_remove("AGAR_TEST_FAIL_AT")
        .output()
        .expect("run agar")
}

fn must(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// A node home holding `fixture`'s DB and the files restore must never touch.
fn node_home(root: &Path, fixture: &str) -> PathBuf {
    let h = root.to_path_buf();
    for d in ["config", "data/agoric", "data/application.db"] {
        std::fs::create_dir_all(h.join(d)).unwrap();
    }
    for (f, c) in [
        ("config/priv_validator_key.json", "{\"secret\":1}"),
        ("config/genesis.json", "{\"chain_id\":\"x\"}"),
        ("config/app.toml", "x = 1\n"),
        ("data/priv_validator_state.json", "{\"height\":\"27\"}"),
        ("data/application.db/000001.log", "cosmos"),
        ("data/agoric/notes.txt", "other data/agoric content"),
    ] {
        std::fs::write(h.join(f), c).unwrap();
    }
    std::fs::copy(
        fx(&format!("{fixture}/db/swingstore.sqlite")),
        h.join("data/agoric/swingstore.sqlite"),
    )
    .unwrap();
    h
}

fn db_of(home: &Path) -> PathBuf {
    home.join("data/agoric/swingstore.sqlite")
}

fn backup(home: &Path, out: &Path, mode: Option<&str>) -> String {
    let mut args = vec!["backup", "--home", p(home), "-o", p(out), "-q", "--force"];
    if let Some(m) = mode {
        args.extend(["--artifact-mode", m]);
    }
    last_line(&must(run(&args), "backup"))
}

fn restore(archive: &Path, home: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["restore", p(archive), "--home", p(home), "-q"];
    args.extend_from_slice(extra);
    run(&args)
}

fn dump(home: &Path) -> String {
    must(run(&["dump", p(&home.join("data/agoric"))]), "dump")
}

fn status_json(home: &Path) -> serde_json::Value {
    serde_json::from_str(&must(
        run(&["status", "--home", p(home), "--json"]),
        "status",
    ))
    .unwrap()
}

fn official_dump(fixture: &str, mode: &str) -> String {
    std::fs::read_to_string(fx(&format!("{fixture}/imported-dumps/{mode}.txt"))).unwrap()
}

fn manifest(archive: &Path) -> serde_json::Value {
    let bytes = std::fs::read(archive).unwrap();
    let members = tar_members(&bytes);
    assert_eq!(members[0].0, "genesis-archive.json");
    serde_json::from_slice(&members[0].1).unwrap()
}

/// Files other than the DB and its side files (and restore's kept-old dirs).
fn others(t: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    t.iter()
        .filter(|(k, _)| {
            !k.starts_with("data/agoric/swingstore")
                && !k.starts_with("data/agoric/.agar-tmp-restore-")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

const MODES: [(&str, &[&str]); 2] = [
    ("tiny", &["operational", "replay", "archival", "debug"]),
    ("pruned", &["operational", "debug"]),
];

#[test]
fn backup_restore_equals_the_official_import_in_every_mode() {
    let w = tempfile::tempdir().unwrap();
    for (fixture, modes) in MODES {
        let home = node_home(&w.path().join(fixture), fixture);
        let before = tree(&home);
        for mode in modes {
            let b = w.path().join(format!("{fixture}-{mode}.tar"));
            let digest = backup(&home, &b, Some(mode));
            // read-only: not a byte of the home changed, no -wal/-shm appeared
            assert_eq!(
                tree(&home),
                before,
                "{fixture} {mode}: backup wrote to the home"
            );
            let m = manifest(&b);
            assert_eq!(m["format"], "agar-swing-store-backup");
            assert_eq!(m["export_height"], 27);
            assert!(m.get("chain_id").is_none() && m.get("initial_height").is_none());
            assert_eq!(m["members"][0]["name"], "swing-store/export-manifest.json");

            // restore into a fresh home in the backup's mode: the official importer's DB
            let r = node_home(&w.path().join(format!("r-{fixture}-{mode}")), fixture);
            let rbefore = tree(&r);
            let o = restore(&b, &r, &["--expect", &digest, "--height", "27"]);
            must(o, "restore");
            assert_eq!(
                dump(&r),
                official_dump(fixture, mode),
                "{fixture} {mode}: restored DB differs from the official importer's"
            );
            assert_eq!(others(&tree(&r)), others(&rbefore), "{fixture} {mode}");
            // one state, one digest: a backup of the restored DB is the same archive
            let b2 = w.path().join(format!("{fixture}-{mode}-again.tar"));
            assert_eq!(backup(&r, &b2, Some(mode)), digest, "{fixture} {mode}");
        }
    }
}

#[test]
fn backups_are_deterministic_and_read_like_archives() {
    let w = tempfile::tempdir().unwrap();
    let home = node_home(&w.path().join("h"), "tiny");
    let a = w.path().join("a.tar");
    let b = w.path().join("b.tar.gz");
    let d = backup(&home, &a, None);
    assert_eq!(
        backup(&home, &b, None),
        d,
        "compression must not change the digest"
    );
    assert_eq!(backup(&home, &a, None), d, "same DB, same digest");
    // a copy of the DB elsewhere (another file, another mtime) gives the same digest
    let home2 = node_home(&w.path().join("h2"), "tiny");
    assert_eq!(backup(&home2, &w.path().join("c.tar"), None), d);
    assert_eq!(sha256_file(&a), d, "digest = sha256 of the tar");
    assert_eq!(manifest(&a)["artifact_mode"], "replay", "default mode");
    let op = w.path().join("op.tar");
    let dop = backup(&home, &op, Some("operational"));
    assert_ne!(dop, d);

    // verify, digest, inspect, kv, diff
    let v = must(run(&["verify", p(&b), "--expect", &d]), "verify");
    assert!(v.contains(&format!("archive digest: {d}")), "{v}");
    let j: serde_json::Value =
        serde_json::from_str(&must(run(&["verify", p(&a), "--json"]), "verify --json")).unwrap();
    assert_eq!(j["kind"], "swing-store backup");
    assert_eq!(j["genesis_sha256"], serde_json::Value::Null);
    let dg = must(run(&["digest", p(&a)]), "digest");
    assert!(dg.contains(&d) && !dg.contains("genesis.json"), "{dg}");
    let i: serde_json::Value = serde_json::from_str(&must(
        run(&["inspect", p(&a), "--verify", "--json"]),
        "inspect",
    ))
    .unwrap();
    assert_eq!(i["kind"], "swing-store backup");
    assert_eq!(i["export_height"], 27);
    assert_eq!(i["digest"], d.as_str());
    let text = must(run(&["inspect", p(&a)]), "inspect");
    assert!(text.contains("host.height:    27"), "{text}");
    let kv = must(run(&["kv", "get", p(&a), "crankNumber", "-q"]), "kv get");
    assert_eq!(kv, "114\n");
    let list = must(
        run(&["kv", "list", p(&a), "--prefix", "edge.ctl", "-q"]),
        "kv list",
    );
    assert!(list.lines().count() >= 3, "{list}");
    let same = run(&["diff", p(&a), p(&b), "-q"]);
    assert_eq!(same.status.code(), Some(0), "{}", stdout(&same));
    let dif = run(&["diff", p(&a), p(&op), "--json", "-q"]);
    assert_eq!(dif.status.code(), Some(1));
    let dj: serde_json::Value = serde_json::from_slice(&dif.stdout).unwrap();
    assert!(
        !dj["artifact_changes"].as_array().unwrap().is_empty(),
        "{dj}"
    );

    // a corrupted backup is named as such
    let mut bytes = std::fs::read(&a).unwrap();
    let n = bytes.len();
    bytes[n - 3000] ^= 1;
    let bad = w.path().join("bad.tar");
    std::fs::write(&bad, bytes).unwrap();
    let o = run(&["verify", p(&bad)]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("FAIL"), "{}", stdout(&o));

    // the manifest follows its schema
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo("schemas/genesis-archive.schema.json")).unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(v.is_valid(&manifest(&a)));
    let mut broken = manifest(&a);
    broken["chain_id"] = "x".into();
    assert!(!v.is_valid(&broken), "a backup manifest has no chain_id");

    // explode and edit refuse a backup (exit 4), pointing at restore
    let e = run(&["explode", p(&a), "--home", p(&w.path().join("x"))]);
    assert_eq!(e.status.code(), Some(4));
    assert!(stderr(&e).contains("agar restore"), "{}", stderr(&e));
    assert!(!w.path().join("x").exists());
    let e = run(&[
        "edit",
        p(&a),
        "-o",
        p(&w.path().join("e.tar")),
        "--kv-set",
        "a=b",
    ]);
    assert_eq!(e.status.code(), Some(4), "{}", stderr(&e));
}

#[test]
fn backup_refuses_a_mode_the_db_cannot_give_with_the_official_wording() {
    let w = tempfile::tempdir().unwrap();
    let home = node_home(&w.path().join("h"), "pruned");
    let out = w.path().join("b.tar");
    let try_mode = |mode: &str| {
        run(&[
            "backup",
            "--home",
            p(&home),
            "-o",
            p(&out),
            "--artifact-mode",
            mode,
        ])
    };
    // default replay on a pruned validator DB
    let o = run(&["backup", "--home", p(&home), "-o", p(&out)]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(
        err.contains("incomplete current incarnation transcript")
            && err.contains("weaker --artifact-mode"),
        "{err}"
    );
    assert!(!out.exists());
    let o = try_mode("archival");
    let err = stderr(&o);
    assert!(err.contains("incomplete archival transcript"), "{err}");
    // an existing output is kept without --force
    std::fs::write(&out, "keep").unwrap();
    let o = try_mode("operational");
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
}

#[test]
fn status_reports_height_modes_sizes_and_holder() {
    let w = tempfile::tempdir().unwrap();
    for (fixture, possible) in [
        (
            "tiny",
            ["operational", "replay", "archival", "debug"].as_slice(),
        ),
        ("pruned", ["operational", "debug"].as_slice()),
    ] {
        let home = node_home(&w.path().join(fixture), fixture);
        let before = tree(&home);
        let j = status_json(&home);
        assert_eq!(tree(&home), before, "status wrote to the home");
        assert_eq!(j["host_height"], 27);
        assert_eq!(
            j["db_bytes"],
            std::fs::metadata(db_of(&home)).unwrap().len()
        );
        assert_eq!(j["wal_bytes"], serde_json::Value::Null);
        assert_eq!(j["journal_mode"], "wal");
        assert_eq!(j["node"], serde_json::Value::Null);
        let ok: Vec<&str> = j["modes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["possible"] == true)
            .map(|m| m["mode"].as_str().unwrap())
            .collect();
        assert_eq!(ok, possible, "{fixture}");
        if fixture == "pruned" {
            let why = j["modes"][1]["reason"].as_str().unwrap();
            assert!(
                why.contains("incomplete current incarnation transcript"),
                "{why}"
            );
        }
    }
}

/// Hold the DB open the way a running node does (WAL mode, a read done).
fn open_like_a_node(db: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(db).unwrap();
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM kvStore", [], |r| r.get(0))
        .unwrap();
    assert!(n > 0);
    c
}

#[test]
fn refusals_leave_the_home_byte_identical() {
    let w = tempfile::tempdir().unwrap();
    let src = node_home(&w.path().join("src"), "tiny");
    let op = w.path().join("op.tar");
    let dop = backup(&src, &op, Some("operational"));
    let home = node_home(&w.path().join("h"), "pruned");
    let before = tree(&home);
    let zeros = "0".repeat(64);
    for (args, code, says) in [
        (vec!["--artifact-mode", "replay"], 4, "stronger"),
        (vec!["--artifact-mode", "archival"], 4, "operational"),
        (vec!["--expect", zeros.as_str()], 4, "--expect"),
        (vec!["--expect", "abc"], 3, "64-hex"),
        (vec!["--height", "26"], 4, "host.height 27"),
    ] {
        let o = restore(&op, &home, &args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
        assert_eq!(tree(&home), before, "{args:?} changed the home");
    }
    // a damaged archive: refused at the damaged member, nothing written
    let mut bytes = std::fs::read(&op).unwrap();
    let n = bytes.len();
    bytes[n - 2000] ^= 1;
    let bad = w.path().join("bad.tar");
    std::fs::write(&bad, bytes).unwrap();
    let o = restore(&bad, &home, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(tree(&home), before);
    // not a node home: nothing created
    let o = restore(&op, &w.path().join("nohome"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!w.path().join("nohome").exists());

    // a running node: refused by restore; status names the process; backup reads a
    // consistent snapshot and says so
    let conn = open_like_a_node(&db_of(&home));
    let running = tree(&home);
    let o = restore(&op, &home, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("process {}", std::process::id())) && err.contains("stop it"),
        "{err}"
    );
    assert_eq!(tree(&home), running);
    let s = status_json(&home);
    assert!(
        s["node"]
            .as_str()
            .unwrap()
            .contains(&format!("process {}", std::process::id())),
        "{s}"
    );
    let o = run(&[
        "backup",
        "--home",
        p(&home),
        "-o",
        p(&w.path().join("live.tar")),
        "--artifact-mode",
        "operational",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the last block it had committed"),
        "{}",
        stderr(&o)
    );
    drop(conn);
    // once the node is gone the same restore goes through
    must(restore(&op, &home, &["--expect", &dop]), "restore");
    assert_eq!(dump(&home), official_dump("tiny", "operational"));
}

#[test]
fn restore_replaces_only_the_db_and_keeps_the_old_one() {
    let w = tempfile::tempdir().unwrap();
    let src = node_home(&w.path().join("src"), "tiny");
    let b = w.path().join("b.tar.gz");
    let d = backup(&src, &b, None);
    let home = node_home(&w.path().join("h"), "pruned");
    std::fs::write(db_of(&home).with_extension("sqlite-journal"), "stale").unwrap();
    let before = tree(&home);
    let o = run(&[
        "restore",
        p(&b),
        "--home",
        p(&home),
        "--expect",
        &d,
        "--json",
        "-q",
    ]);
    let j: serde_json::Value = serde_json::from_str(&must(o, "restore")).unwrap();
    let after = tree(&home);
    assert_eq!(others(&after), others(&before), "only the DB may change");
    assert_eq!(j["import"]["host_height"], 27);
    assert_eq!(j["kind"], "swing-store backup");
    // the old DB and its journal, byte for byte, in one dated dir beside the new DB
    let kept = PathBuf::from(j["old_kept"].as_str().unwrap());
    let name = kept.file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with("swingstore-before-restore-") && name.ends_with('Z'),
        "{name}"
    );
    assert_eq!(kept.parent().unwrap(), home.join("data/agoric"));
    let rel = format!("data/agoric/{name}");
    assert_eq!(
        after[&format!("{rel}/swingstore.sqlite")],
        before["data/agoric/swingstore.sqlite"]
    );
    assert_eq!(
        after[&format!("{rel}/swingstore.sqlite-journal")],
        before["data/agoric/swingstore.sqlite-journal"]
    );
    assert!(!after.contains_key("data/agoric/swingstore.sqlite-journal"));
    assert_eq!(dump(&home), official_dump("tiny", "replay"));
    // a weaker mode is fine; --discard-old keeps nothing
    let before2 = tree(&home);
    must(
        restore(
            &b,
            &home,
            &["--artifact-mode", "operational", "--discard-old"],
        ),
        "restore --discard-old",
    );
    let after2 = tree(&home);
    assert_eq!(
        after2
            .keys()
            .filter(|k| k.contains("before-restore"))
            .count(),
        before2
            .keys()
            .filter(|k| k.contains("before-restore"))
            .count()
    );
    assert_eq!(dump(&home), official_dump("tiny", "operational"));
}

#[test]
fn restore_accepts_a_genesis_archive_at_its_export_height() {
    let w = tempfile::tempdir().unwrap();
    let g = w.path().join("g.tar");
    must(
        run(&[
            "pack",
            "--genesis",
            p(&fx("tiny/genesis/operational/genesis.json")),
            "--swing-store-export",
            p(&fx("tiny/export/operational")),
            "-o",
            p(&g),
            "-q",
        ]),
        "pack",
    );
    let home = node_home(&w.path().join("h"), "pruned");
    let o = restore(&g, &home, &["--height", "28"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let o = run(&["restore", p(&g), "--home", p(&home), "--height", "27"]);
    let out = must(o, "restore");
    assert!(out.contains("genesis archive"), "{out}");
    // host.height = the export height (27), so the DB is exactly the official import
    assert_eq!(dump(&home), official_dump("tiny", "operational"));
}

/// A crashed node: the DB file plus a -wal holding committed transactions (a copy taken
/// while the writer still had them only in its WAL).
fn crashed_home(root: &Path) -> PathBuf {
    let scratch = root.join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let db = scratch.join("swingstore.sqlite");
    std::fs::copy(fx("tiny/db/swingstore.sqlite"), &db).unwrap();
    let home = node_home(&root.join("h"), "tiny");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "PRAGMA wal_autocheckpoint=0; UPDATE kvStore SET value='28' WHERE key='host.height'; INSERT INTO kvStore VALUES ('crash.marker', 'in the WAL only');",
    )
    .unwrap();
    for suffix in ["", "-wal"] {
        std::fs::copy(
            format!("{}{suffix}", db.display()),
            format!("{}{suffix}", db_of(&home).display()),
        )
        .unwrap();
    }
    drop(c);
    home
}

#[test]
fn a_crashed_nodes_wal_is_backed_up_and_kept_on_restore() {
    let w = tempfile::tempdir().unwrap();
    let home = crashed_home(w.path());
    let s = status_json(&home);
    assert_eq!(s["host_height"], 28, "read through the WAL");
    assert!(s["wal_bytes"].as_u64().unwrap() > 0);
    assert!(
        s["notes"].to_string().contains("did not stop cleanly"),
        "{s}"
    );
    let b = w.path().join("b.tar");
    backup(&home, &b, Some("operational"));
    assert_eq!(manifest(&b)["export_height"], 28);
    let kv = must(run(&["kv", "get", p(&b), "crash.marker", "-q"]), "kv");
    assert_eq!(kv, "in the WAL only\n");

    // restore a clean backup over it: the old DB and its WAL are kept together
    let clean = w.path().join("clean.tar");
    let src = node_home(&w.path().join("src"), "tiny");
    backup(&src, &clean, Some("operational"));
    let before = tree(&home);
    let j: serde_json::Value = serde_json::from_str(&must(
        run(&["restore", p(&clean), "--home", p(&home), "--json", "-q"]),
        "restore",
    ))
    .unwrap();
    let kept = PathBuf::from(j["old_kept"].as_str().unwrap());
    let rel = format!(
        "data/agoric/{}",
        kept.file_name().unwrap().to_str().unwrap()
    );
    let after = tree(&home);
    for f in ["swingstore.sqlite", "swingstore.sqlite-wal"] {
        assert_eq!(
            after[&format!("{rel}/{f}")],
            before[&format!("data/agoric/{f}")],
            "{f}"
        );
    }
    assert!(!after.contains_key("data/agoric/swingstore.sqlite-wal"));
    assert!(!after.contains_key("data/agoric/swingstore.sqlite-shm"));
    assert_eq!(dump(&home), official_dump("tiny", "operational"));
    // the kept copy is the crashed DB, WAL included
    let old = status_json(&home);
    assert!(
        old["kept_old"]
            .to_string()
            .contains("swingstore-before-restore-"),
        "{old}"
    );
}

/// What the DB location holds after an interrupted restore.
fn placement(home: &Path, old: &BTreeMap<String, String>, new_dump: &str) -> &'static str {
    let t = tree(home);
    let at = |k: &str| t.get(&format!("data/agoric/swingstore.sqlite{k}")).cloned();
    let was = |k: &str| {
        old.get(&format!("data/agoric/swingstore.sqlite{k}"))
            .cloned()
    };
    if ["", "-wal", "-shm", "-journal"]
        .iter()
        .all(|s| at(s) == was(s))
    {
        "old"
    } else if at("-wal").is_none() && at("-journal").is_none() && dump(home) == new_dump {
        "new"
    } else {
        "mixed"
    }
}

fn kept_dirs(home: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(home.join("data/agoric"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("swingstore-before-restore-")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_killed_restore_leaves_the_old_db_or_the_new_one_complete() {
    let w = tempfile::tempdir().unwrap();
    let src = node_home(&w.path().join("src"), "tiny");
    let b = w.path().join("b.tar");
    backup(&src, &b, Some("replay"));
    let new_dump = official_dump("tiny", "replay");
    // every phase of restore, in order; the process exits there at once (no cleanup,
    // no destructors), as a kill would
    let phases = [
        ("opened", "old"),
        ("export-data", "old"),
        ("artifact", "old"),
        ("finished", "old"),
        ("db", "old"),
        ("kept-old", "old"),
        ("removed-side", "old"),
        ("renamed", "new"),
    ];
    for (phase, want) in phases {
        let home = node_home(&w.path().join(phase), "pruned");
        let before = tree(&home);
        let o = Command::new(bin())
            .args(["restore", p(&b), "--home", p(&home), "-q"])
            .env("AGAR_TEST_ABORT_AT", phase)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(137), "{phase}: {}", stderr(&o));
        assert_eq!(
            placement(&home, &before, &new_dump),
            want,
            "killed at {phase}"
        );
        assert_eq!(others(&tree(&home)), others(&before), "{phase}");
        // a kept copy, once made, is complete
        for k in kept_dirs(&home) {
            let kt = tree(&k);
            assert_eq!(
                kt["swingstore.sqlite"],
                before["data/agoric/swingstore.sqlite"]
            );
        }
        // the rerun removes the dead run's temp dir and completes
        let o = run(&["restore", p(&b), "--home", p(&home)]);
        let err = stderr(&o);
        must(o, "rerun");
        assert!(err.contains("interrupted restore"), "{phase}: {err}");
        assert_eq!(dump(&home), new_dump, "{phase}");
        assert!(
            !tree(&home).keys().any(|k| k.contains(".agar-tmp-restore-")),
            "{phase}"
        );
    }

    // with a crashed node's WAL the side files go before the new DB appears: killed
    // between the two, the location holds the old main file without its WAL (the
    // documented window of a few unlink calls) and the kept copy is complete
    let home = crashed_home(&w.path().join("wal"));
    let before = tree(&home);
    let o = Command::new(bin())
        .args(["restore", p(&b), "--home", p(&home), "-q"])
        .env("AGAR_TEST_ABORT_AT", "removed-side")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(137));
    assert_eq!(placement(&home, &before, &new_dump), "mixed");
    let kept = kept_dirs(&home);
    assert_eq!(kept.len(), 1);
    let kt = tree(&kept[0]);
    assert_eq!(
        kt["swingstore.sqlite"],
        before["data/agoric/swingstore.sqlite"]
    );
    assert_eq!(
        kt["swingstore.sqlite-wal"],
        before["data/agoric/swingstore.sqlite-wal"]
    );
    must(run(&["restore", p(&b), "--home", p(&home)]), "rerun");
    assert_eq!(dump(&home), new_dump);
}

#[test]
fn example_script_runs() {
    let d = tempfile::tempdir().unwrap();
    let o = Command::new("bash")
        .arg(repo("examples/backup-restore.sh"))
        .arg(d.path().join("work"))
        .env("AGAR", bin())
        .env("DB", fx("tiny/db/swingstore.sqlite"))
        .output()
        .expect("run bash");
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(
        out.lines().last().unwrap().starts_with("backup-restore OK"),
        "{out}"
    );
}
