//! `agar explode` on a realistic validator home (issue 13): the restart recipe runs as
//! documented; Cosmos state, symlinked or non-directory `config/`, `data/`,
//! `data/agoric/`, a `--force` that cannot move every target, and a home locked by another
//! run are refused before anything is written (every file byte-identical); stale-temp
//! cleanup removes only agar's own exact naming; concurrent explodes never mix two
//! archives in one home.

use std::collections::BTreeMap;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::*;

fn write(p: &Path, c: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, c).unwrap();
}

/// A validator home as a running (or just stopped) node leaves it: keys, configs, the
/// address book, an old genesis, CometBFT and app databases, state-sync snapshots, a
/// priv_validator_state.json that has signed, and an old swing-store DB.
fn validator_home(root: &Path) -> PathBuf {
    let h = root.join("agoric-home");
    for (f, c) in [
        (
            "config/config.toml",
            "moniker = \"val\"\n[p2p]\nseeds = \"\"\n",
        ),
        (
            "config/app.toml",
            "minimum-gas-prices = \"\"\n[state-sync]\nsnapshot-interval = 1000\n",
        ),
        ("config/client.toml", "chain-id = \"agoric-3\"\n"),
        (
            "config/node_key.json",
            "{\"priv_key\":{\"type\":\"tendermint/PrivKeyEd25519\",\"value\":\"NODEKEY\"}}",
        ),
        (
            "config/priv_validator_key.json",
            "{\"address\":\"ABC\",\"priv_key\":{\"value\":\"SECRET\"}}",
        ),
        (
            "config/addrbook.json",
            "{\"key\":\"k\",\"addrs\":[{\"addr\":{\"id\":\"x\"}}]}",
        ),
        (
            "config/genesis.json",
            "{\"chain_id\":\"agoric-old\",\"initial_height\":\"1\"}",
        ),
        (
            "data/priv_validator_state.json",
            "{\n  \"height\": \"12345\",\n  \"round\": 0,\n  \"step\": 3\n}",
        ),
        ("data/application.db/000005.ldb", "app state"),
        ("data/application.db/CURRENT", "MANIFEST-000004\n"),
        ("data/blockstore.db/000007.ldb", "blocks"),
        ("data/state.db/000003.log", "state"),
        ("data/evidence.db/000001.log", "evidence"),
        ("data/tx_index.db/000001.log", "txs"),
        ("data/cs.wal/wal", "consensus wal"),
        ("data/snapshots/metadata.db/CURRENT", "snapshot metadata"),
        ("data/agoric/swingstore.sqlite", "old swing-store db"),
        ("data/agoric/swingstore.sqlite-wal", "old wal"),
        ("data/agoric/flight-recorder.bin", "old recorder"),
    ] {
        write(&h.join(f), c);
    }
    h
}

/// What `agd tendermint unsafe-reset-all --home H --keep-addr-book` does (cometbft
/// `cmd/cometbft/commands/reset.go`: `resetAll`): remove all of `data/` (`os.RemoveAll`),
/// recreate it (0700), and write a reset `priv_validator_state.json` (height 0) next to
/// the kept `priv_validator_key.json`; `config/` (keys, configs, address book, genesis)
/// is not touched.
fn unsafe_reset_all(home: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let data = home.join("data");
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        data.join("priv_validator_state.json"),
        "{\n  \"height\": \"0\",\n  \"round\": 0,\n  \"step\": 0\n}",
    )
    .unwrap();
}

fn archive(dir: &Path, mode: &str) -> (PathBuf, String) {
    let out = dir.join(format!("{mode}.tar"));
    let d = pack_js(
        &fx("tiny/genesis/operational/genesis.json"),
        &fx(&format!("tiny/export/{mode}")),
        &out,
    );
    (out, d)
}

fn explode(a: &Path, home: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["explode", p(a), "--home", p(home), "-q"];
    args.extend_from_slice(extra);
    agar(&args)
}

/// Require a refusal (exit 4) that left `home` exactly as it was; returns stderr.
fn refused(a: &Path, home: &Path, extra: &[&str], what: &str) -> String {
    let before = tree(home);
    let o = explode(a, home, extra);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(4), "{what}: {e}\n{}", stdout(&o));
    assert!(e.contains("nothing was"), "{what}: {e}");
    assert_eq!(tree(home), before, "{what}: the home changed");
    e
}

#[test]
fn restart_recipe_runs_on_a_real_validator_home() {
    let w = tempfile::tempdir().unwrap();
    let (a, digest) = archive(w.path(), "operational");
    let home = validator_home(w.path());
    let h = p(&home).to_string();

    // 0. the node's state is there: refused, with the exact commands, whatever the flags
    for extra in [
        &["--expect", &digest, "--force"][..],
        &[],
        &["--db", "--force"],
        &["--no-db"],
    ] {
        let e = refused(&a, &home, extra, &format!("cosmos state {extra:?}"));
        for want in [
            "application.db".to_string(),
            "blockstore.db".into(),
            "state.db".into(),
            "evidence.db".into(),
            "tx_index.db".into(),
            "cs.wal".into(),
            "snapshots".into(),
            "(height 12345)".into(),
            "stop agd".into(),
            format!("agd tendermint unsafe-reset-all --home {h} --keep-addr-book"),
            format!("agar explode {} --home {h} --expect ", p(&a)),
            " --force".into(),
            format!("agd start --home {h}"),
            "--allow-cosmos-state".into(),
        ] {
            assert!(e.contains(&want), "{extra:?}: {want:?} not in {e}");
        }
    }
    // with --expect the refusal names the agreed digest in the command to run
    let e = refused(&a, &home, &["--expect", &digest], "expect in recipe");
    assert!(e.contains(&format!("--expect {digest} --force")), "{e}");
    // each kind of Cosmos state alone is enough
    for only in [
        "application.db",
        "blockstore.db",
        "state.db",
        "evidence.db",
        "tx_index.db",
        "cs.wal",
        "snapshots",
    ] {
        let one = w.path().join(format!("one-{only}"));
        write(&one.join("config/priv_validator_key.json"), "{}");
        write(&one.join(format!("data/{only}/x")), "x");
        let e = refused(&a, &one, &["--force"], only);
        assert!(e.contains(only), "{e}");
    }

    // 1. stop agd (nothing runs here); 2. agd tendermint unsafe-reset-all --keep-addr-book
    unsafe_reset_all(&home);
    let reset = tree(&home);
    // a validator home always has config/genesis.json: without --force it is refused
    let e = refused(&a, &home, &["--expect", &digest], "no --force");
    assert!(
        e.contains("config/genesis.json") && e.contains("--force"),
        "{e}"
    );
    // 3. agar explode ARCHIVE --home H --expect DIGEST --force
    let o = explode(&a, &home, &["--expect", &digest, "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("no DB written"), "{out}");
    assert!(
        out.contains(&format!("replaced {h}/config/genesis.json")),
        "{out}"
    );
    let after = tree(&home);
    // every file but the two targets is byte-identical to the reset home
    let untouched = |t: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        t.iter()
            .filter(|(k, _)| !(*k == "config/genesis.json" || k.starts_with("config/swing-store")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(untouched(&after), untouched(&reset));
    for k in [
        "config/priv_validator_key.json",
        "config/node_key.json",
        "config/addrbook.json",
        "config/config.toml",
        "config/app.toml",
        "config/client.toml",
        "data/priv_validator_state.json",
    ] {
        assert_eq!(after.get(k), reset.get(k), "{k}");
        assert!(after.contains_key(k), "{k}");
    }
    // data/ holds only the reset priv_validator_state.json: agd's InitGenesis builds
    // data/agoric from config/swing-store
    let data: Vec<&String> = after.keys().filter(|k| k.starts_with("data/")).collect();
    assert_eq!(data, vec!["data/priv_validator_state.json"]);
    // the targets are the archive's
    let d: serde_json::Value =
        serde_json::from_str(&ok(&["digest", p(&a), "--json", "-q"])).unwrap();
    assert_eq!(
        after["config/genesis.json"],
        format!("file {}", d["genesis_sha256"].as_str().unwrap())
    );
    assert_eq!(
        after["config/swing-store/export-data.jsonl"],
        format!(
            "file {}",
            sha256_file(&fx(
                "tiny/genesis/operational/swing-store/export-data.jsonl"
            ))
        )
    );
    assert!(!after.keys().any(|k| k.contains(".agar-tmp")));
    // 4. agd start: reads config/genesis.json and config/swing-store (not run here).
    // explode again with --db (a restore without InitChain, or inspection): the DB is
    // added, and still nothing else changes
    let o = explode(&a, &home, &["--expect", &digest, "--force", "--db"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let again = tree(&home);
    assert!(again.contains_key("data/agoric/swingstore.sqlite"));
    let untouched_db = |t: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        untouched(t)
            .into_iter()
            .filter(|(k, _)| !k.starts_with("data/agoric"))
            .collect()
    };
    assert_eq!(untouched_db(&again), untouched_db(&reset));
}

#[test]
fn priv_validator_state_at_height_zero_is_not_state() {
    let w = tempfile::tempdir().unwrap();
    let (a, _) = archive(w.path(), "operational");
    let home = validator_home(w.path());
    unsafe_reset_all(&home);
    let o = explode(&a, &home, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // a state file that is not a reset one is refused
    for (body, why) in [
        ("{\"height\":\"1\",\"round\":0,\"step\":0}", "(height 1)"),
        ("not json", "not JSON"),
    ] {
        std::fs::write(home.join("data/priv_validator_state.json"), body).unwrap();
        let e = refused(&a, &home, &["--force"], why);
        assert!(e.contains(why), "{e}");
    }
    // --allow-cosmos-state writes anyway, with a warning, and keeps the state
    let o = explode(&a, &home, &["--force", "--allow-cosmos-state"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("unsafe-reset-all"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(home.join("data/priv_validator_state.json")).unwrap(),
        "not json"
    );
}

#[test]
fn symlinked_or_non_directory_home_dirs_are_refused() {
    let w = tempfile::tempdir().unwrap();
    let (a, _) = archive(w.path(), "operational");
    let outside = w.path().join("outside");
    write(&outside.join("genesis.json"), "outside genesis");
    write(&outside.join("agoric/swingstore.sqlite"), "outside db");
    let outside_before = tree(&outside);
    let fresh = |name: &str| {
        let h = w.path().join(name);
        write(&h.join("config/priv_validator_key.json"), "{\"k\":1}");
        write(
            &h.join("data/priv_validator_state.json"),
            "{\"height\":\"0\"}",
        );
        h
    };
    // config/ a symlink to a directory outside the home
    let h = fresh("cfg-link");
    std::fs::rename(h.join("config"), h.join("real-config")).unwrap();
    std::os::unix::fs::symlink(&outside, h.join("config")).unwrap();
    let e = refused(&a, &h, &["--force"], "config symlink");
    assert!(e.contains("symbolic link"), "{e}");
    // data/ and data/agoric/ links matter where the DB is written
    let h = fresh("data-link");
    std::fs::remove_dir_all(h.join("data")).unwrap();
    std::os::unix::fs::symlink(&outside, h.join("data")).unwrap();
    let e = refused(&a, &h, &["--db"], "data symlink");
    assert!(e.contains("symbolic link"), "{e}");
    let h = fresh("agoric-link");
    std::os::unix::fs::symlink(outside.join("agoric"), h.join("data/agoric")).unwrap();
    let e = refused(&a, &h, &["--db", "--force"], "data/agoric symlink");
    assert!(e.contains("symbolic link"), "{e}");
    // not directories
    let h = fresh("cfg-file");
    std::fs::remove_dir_all(h.join("config")).unwrap();
    write(&h.join("config"), "a file");
    let e = refused(&a, &h, &["--force"], "config file");
    assert!(e.contains("not a directory"), "{e}");
    let h = fresh("agoric-file");
    write(&h.join("data/agoric"), "a file");
    let e = refused(&a, &h, &["--db", "--force"], "data/agoric file");
    assert!(e.contains("not a directory"), "{e}");
    // Cosmos state behind a symlinked data/ is still seen
    let h = fresh("state-behind-link");
    let elsewhere = w.path().join("elsewhere-data");
    write(&elsewhere.join("application.db/CURRENT"), "x");
    std::fs::remove_dir_all(h.join("data")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, h.join("data")).unwrap();
    let e = refused(&a, &h, &[], "state behind data link");
    assert!(e.contains("application.db"), "{e}");
    assert_eq!(
        tree(&outside),
        outside_before,
        "a file outside the home changed"
    );
}

/// Set or clear the immutable inode flag (as `chattr +i` does; needs root).
fn set_immutable(p: &Path, on: bool) -> bool {
    Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .arg(p)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn force_changes_nothing_unless_every_move_can_be_made() {
    let w = tempfile::tempdir().unwrap();
    let (a, _) = archive(w.path(), "debug");
    let home = validator_home(w.path());
    unsafe_reset_all(&home);
    write(
        &home.join("config/swing-store/export-data.jsonl"),
        "old data",
    );
    write(&home.join("data/agoric/swingstore.sqlite"), "old db");
    write(&home.join("data/agoric/swingstore.sqlite-wal"), "old wal");

    // an unmovable -wal: immutable (root), so the rename would fail after the old DB had
    // been moved aside
    let wal = home.join("data/agoric/swingstore.sqlite-wal");
    if set_immutable(&wal, true) {
        let e = refused(&a, &home, &["--force", "--db"], "immutable -wal");
        set_immutable(&wal, false);
        assert!(
            e.contains("swingstore.sqlite-wal") && e.contains("immutable"),
            "{e}"
        );
    } else {
        eprintln!("chattr +i not permitted here (not root): the immutable -wal case is not run; the type cases below are");
    }
    // a -wal that is a directory
    std::fs::remove_file(&wal).unwrap();
    write(&wal.join("x"), "x");
    let e = refused(&a, &home, &["--force", "--db"], "-wal directory");
    assert!(e.contains("not a regular file"), "{e}");
    std::fs::remove_dir_all(&wal).unwrap();
    write(&wal, "old wal");
    // a genesis.json that is a directory: the final rename could not replace it
    std::fs::remove_file(home.join("config/genesis.json")).unwrap();
    write(&home.join("config/genesis.json/x"), "x");
    let e = refused(&a, &home, &["--force", "--db"], "genesis.json directory");
    assert!(
        e.contains("config/genesis.json") && e.contains("not a regular file"),
        "{e}"
    );
    let e = refused(&a, &home, &["--force"], "genesis.json directory, no DB");
    assert!(e.contains("not a regular file"), "{e}");
    // swing-store that is a file
    std::fs::remove_dir_all(home.join("config/genesis.json")).unwrap();
    std::fs::remove_dir_all(home.join("config/swing-store")).unwrap();
    write(&home.join("config/swing-store"), "a file");
    let e = refused(&a, &home, &["--force"], "swing-store file");
    assert!(e.contains("not a directory"), "{e}");
    std::fs::remove_file(home.join("config/swing-store")).unwrap();
    // once the home is sane, --force replaces every target and nothing else
    let before = tree(&home);
    let o = explode(&a, &home, &["--force", "--db"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = tree(&home);
    assert!(!after.contains_key("data/agoric/swingstore.sqlite-wal"));
    for (k, v) in &before {
        if k.starts_with("data/agoric/swingstore.sqlite") {
            continue;
        }
        assert_eq!(after.get(k), Some(v), "{k}");
    }
}

#[test]
fn stale_cleanup_removes_only_agars_exact_naming_of_dead_processes() {
    let w = tempfile::tempdir().unwrap();
    let (a, _) = archive(w.path(), "operational");
    let home = validator_home(w.path());
    unsafe_reset_all(&home);
    let me = std::process::id();
    let keep = [
        ".agar-tmp-explode-backup/keep.txt".to_string(),
        ".agar-tmp-explode-4999999-abcdefg/keep.txt".into(),
        ".agar-tmp-explode-4999999-abc/keep.txt".into(),
        format!(".agar-tmp-explode-{me}-abcdef/keep.txt"),
        ".agar-tmp-explode-04999999-abcdef/keep.txt".into(),
    ];
    for k in &keep {
        write(&home.join("config").join(k), "operator data");
    }
    // an entry of the exact naming that is not a directory is not agar's either
    write(
        &home.join("config/.agar-tmp-explode-4999998-abcdef"),
        "a file",
    );
    // pid 4999999 is above the kernel's pid_max (at most 2^22), so it is not alive
    let stale = home.join("config/.agar-tmp-explode-4999999-abCD12");
    write(&stale.join("swing-store/export-data.jsonl"), "partial");
    let o = explode(&a, &home, &["--force", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(!stale.exists());
    assert_eq!(
        j["removed_stale"],
        serde_json::json!([stale.display().to_string()])
    );
    for k in &keep {
        assert_eq!(
            std::fs::read_to_string(home.join("config").join(k)).unwrap(),
            "operator data",
            "{k}"
        );
    }
    assert!(home
        .join("config/.agar-tmp-explode-4999998-abcdef")
        .is_file());
}

#[test]
fn a_locked_home_is_refused() {
    let w = tempfile::tempdir().unwrap();
    let (a, _) = archive(w.path(), "operational");
    let home = validator_home(w.path());
    unsafe_reset_all(&home);
    let d = std::fs::File::open(&home).unwrap();
    // SAFETY: flock on an owned, open descriptor.
    assert_eq!(unsafe { libc::flock(d.as_raw_fd(), libc::LOCK_EX) }, 0);
    let e = refused(&a, &home, &["--force", "--db"], "locked");
    assert!(e.contains("another agar explode is running"), "{e}");
    drop(d);
    let o = explode(&a, &home, &["--force", "--db"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn concurrent_explodes_never_leave_a_mixed_home() {
    let w = tempfile::tempdir().unwrap();
    let (a, _) = archive(w.path(), "operational");
    let (b, _) = archive(w.path(), "debug");
    let base = w.path().join("base");
    write(&base.join("config/priv_validator_key.json"), "{\"k\":1}");
    write(&base.join("config/genesis.json"), "old");
    write(
        &base.join("data/priv_validator_state.json"),
        "{\"height\":\"0\"}",
    );
    let reference = |x: &Path, name: &str| {
        let h = w.path().join(name);
        copy_dir(&base, &h);
        let o = explode(x, &h, &["--force", "--db"]);
        assert!(o.status.success(), "{}", stderr(&o));
        tree(&h)
    };
    let (ta, tb) = (reference(&a, "ref-a"), reference(&b, "ref-b"));
    assert_ne!(ta, tb);
    let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..50 {
        let h = w.path().join(format!("pair-{i}"));
        copy_dir(&base, &h);
        let spawn = |x: &Path| {
            Command::new(bin())
                .args(["explode", p(x), "--home", p(&h), "--force", "--db", "-q"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (ca, cb) = (spawn(&a), spawn(&b));
        let (oa, ob) = (
            ca.wait_with_output().unwrap(),
            cb.wait_with_output().unwrap(),
        );
        for o in [&oa, &ob] {
            let code = o.status.code();
            assert!(
                code == Some(0)
                    || (code == Some(4) && stderr(o).contains("another agar explode is running")),
                "pair {i}: {code:?} {}",
                stderr(o)
            );
        }
        assert!(
            oa.status.success() || ob.status.success(),
            "pair {i}: both failed"
        );
        let t = tree(&h);
        let which = if t == ta {
            "a"
        } else if t == tb {
            "b"
        } else {
            panic!("pair {i}: the home is neither archive's: {t:#?}")
        };
        let key = format!(
            "{which} ({}/{})",
            oa.status.code().unwrap_or(-1),
            ob.status.code().unwrap_or(-1)
        );
        *outcomes.entry(key).or_default() += 1;
    }
    eprintln!("outcomes of 50 concurrent pairs: {outcomes:?}");
}
