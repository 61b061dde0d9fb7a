//! `agar diff`: reports exactly the edits applied, exit codes 0/1/2/3.

use crate::common::edit::*;
use serde_json::Value;
use std::path::Path;

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

fn diff_json(a: &Path, b: &Path) -> (i32, Value) {
    let o = run(&["diff", p(a), p(b), "--json", "-q"]);
    let c = code(&o);
    assert!(c == 0 || c == 1, "diff exit {c}: {}", stderr(&o));
    (c, serde_json::from_slice(&o.stdout).unwrap())
}

fn keys(section: &Value) -> Vec<(String, bool, bool)> {
    section["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap().to_string(),
                i.get("a").is_some() || i.get("a_cut").is_some(),
                i.get("b").is_some() || i.get("b_cut").is_some(),
            )
        })
        .collect()
}

#[test]
fn equal_archives_exit_0() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar.gz");
    let (b, _) = pack(d.path(), "tiny/genesis/operational", "b.tar");
    let (c, j) = diff_json(&a, &b);
    assert_eq!(c, 0);
    assert_eq!(j["equal"], true);
    // an archive against the export directory it was packed from
    let o = run(&["diff", p(&a), p(&fixture("tiny/genesis/operational")), "-q"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("no differences"));
}

#[test]
fn diff_reports_exactly_the_edits() {
    let d = tempfile::tempdir().unwrap();
    let (a, a_digest) = pack(d.path(), "tiny/genesis/operational", "a.tar.gz");
    let bundle = d.path().join("bundle.json");
    std::fs::write(
        &bundle,
        br#"{"moduleFormat":"nestedEvaluate","source":"function getExport(){return {}}","sourceMap":"//# sourceURL=x"}"#,
    )
    .unwrap();
    let id = "b0-f2b272a02ac9ed6c7fbcb31542d84846ab37d1867464683d8ca8f28b96736637";
    let snap = d.path().join("snap.bin");
    std::fs::write(&snap, b"new snapshot").unwrap();
    let b = d.path().join("b.tar.gz");
    let o = run(&[
        "edit",
        p(&a),
        "-o",
        p(&b),
        "--kv-set",
        "runQueue=[136,136]",
        "--kv-add",
        "added.key=v",
        "--kv-delete",
        "gcActions",
        "--genesis-set",
        "/app_state/bank/params/default_send_enabled=false",
        "--initial-height",
        "29",
        "--bundle-add",
        p(&bundle),
        "--artifact-replace",
        &format!("snapshot.v1.42={}", p(&snap)),
        "-q",
    ]);
    ok(&o);
    let (c, j) = diff_json(&a, &b);
    assert_eq!(c, 1);
    assert_eq!(j["equal"], false);
    assert_eq!(
        keys(&j["kv"]),
        vec![
            ("added.key".into(), false, true),
            ("gcActions".into(), true, false),
            ("runQueue".into(), true, true)
        ]
    );
    // the value itself (a kvStore value is a string), not JSON text of it
    assert_eq!(j["kv"]["items"][2]["b"], "[136,136]");
    assert_eq!(
        keys(&j["genesis"]),
        vec![
            (
                "/app_state/bank/params/default_send_enabled".into(),
                true,
                true
            ),
            ("/initial_height".into(), true, true)
        ]
    );
    assert_eq!(
        keys(&j["metadata"]),
        vec![
            (format!("bundle.{id}"), false, true),
            ("snapshot.v1.42".into(), true, true)
        ]
    );
    let arts: Vec<(String, bool, bool)> = j["artifact_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap().to_string(),
                !x["a"].is_null(),
                !x["b"].is_null(),
            )
        })
        .collect();
    assert_eq!(
        arts,
        vec![
            (format!("bundle.{id}"), false, true),
            ("snapshot.v1.42".into(), true, true)
        ]
    );
    let fields: Vec<&str> = j["manifest"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec![
            "initial_height",
            "swing_store_export_data_hash",
            "export_data_entries",
            "genesis.json sha256",
            "provenance"
        ]
    );
    let prov = j["manifest"].as_array().unwrap().last().unwrap();
    assert_eq!(prov["b"]["parent"], Value::String(a_digest));
    assert_eq!(j["export_manifest_changed"], true);

    // a genesis-only edit: export data not opened, kv section empty
    let g = d.path().join("g.tar");
    ok(&run(&[
        "edit",
        p(&a),
        "-o",
        p(&g),
        "--genesis-time",
        "2030-01-01T00:00:00Z",
        "-q",
    ]));
    let (c, j) = diff_json(&a, &g);
    assert_eq!(c, 1);
    assert_eq!(
        keys(&j["genesis"]),
        vec![("/genesis_time".into(), true, true)]
    );
    assert_eq!(j["kv"]["items"].as_array().unwrap().len(), 0);
    assert_eq!(j["artifact_changes"].as_array().unwrap().len(), 0);
    assert_eq!(j["export_manifest_changed"], false);

    // human output names the changes
    let o = run(&["diff", p(&a), p(&b), "-q"]);
    assert_eq!(code(&o), 1);
    let s = stdout(&o);
    assert!(
        s.contains("~ runQueue: \"[106,136]\" -> \"[136,136]\""),
        "{s}"
    );
    assert!(s.contains("- gcActions"), "{s}");
    assert!(s.contains(&format!("+ bundle.{id}")), "{s}");
}

#[test]
fn diff_errors() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let o = run(&["diff", p(&a), p(&d.path().join("missing.tar"))]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let junk = d.path().join("junk.tar");
    std::fs::write(&junk, vec![b'x'; 2048]).unwrap();
    let o = run(&["diff", p(&a), p(&junk)]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
}

/// diff reads both archives to the end and checks every member against its manifest
/// digest while streaming: a corrupt archive whose manifest still matches is bad input
/// (exit 3, the member named), never "no differences", on either side and from stdin.
#[test]
fn corrupt_archive_with_a_matching_manifest_exits_3() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let good = std::fs::read(&a).unwrap();
    // flip one byte inside the data of the last member (an artifact); the manifest,
    // genesis and export data are untouched, so manifests compare equal
    let end = good.len() - 1024;
    let last = (0..end - 512)
        .rev()
        .find(|&i| i % 512 == 0 && good[i + 257..i + 262] == *b"ustar")
        .unwrap();
    let name = String::from_utf8_lossy(&good[last..last + 100])
        .trim_end_matches('\0')
        .to_string();
    let mut bad = good.clone();
    bad[last + 512] ^= 0x20;
    let corrupt = d.path().join("corrupt.tar");
    std::fs::write(&corrupt, &bad).unwrap();
    // and a corrupt export-data member (same size): a kv value's byte changed
    let (b, _) = pack(d.path(), "tiny/genesis/operational", "b.tar");
    let mut bad_data = std::fs::read(&b).unwrap();
    let at = bad_data.windows(9).position(|w| w == b"gcActions").unwrap();
    bad_data[at] = b'G';
    let corrupt_data = d.path().join("corrupt-data.tar");
    std::fs::write(&corrupt_data, &bad_data).unwrap();
    for (x, y, member) in [
        (&a, &corrupt, name.as_str()),
        (&corrupt, &a, name.as_str()),
        (&a, &corrupt_data, "export-data.jsonl"),
        (&corrupt_data, &a, "export-data.jsonl"),
    ] {
        for json in [false, true] {
            let mut args = vec!["diff", p(x), p(y), "-q"];
            if json {
                args.push("--json");
            }
            let o = run(&args);
            assert_eq!(code(&o), 3, "{args:?}: {}{}", stdout(&o), stderr(&o));
            assert!(!stdout(&o).contains("no differences"), "{args:?}");
            assert!(
                stderr(&o).contains(member),
                "{args:?}: member not named: {}",
                stderr(&o)
            );
        }
    }
    // from stdin too
    let o = run_stdin(&["diff", p(&a), "-", "-q"], &bad);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains(&name), "{}", stderr(&o));
    // the error says what to do, not only what is wrong
    assert!(
        stderr(&o).contains("Do not use this archive") && stderr(&o).contains("--expect"),
        "{}",
        stderr(&o)
    );
    // and a different archive on stdin is compared (B is read once, never reopened)
    let e = d.path().join("e.tar");
    ok(&run(&[
        "edit",
        p(&a),
        "-o",
        p(&e),
        "--kv-set",
        "runQueue=[1]",
        "-q",
    ]));
    let o = run_stdin(
        &["diff", p(&a), "-", "--json", "-q"],
        &std::fs::read(&e).unwrap(),
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stdout(&o).contains("runQueue"), "{}", stdout(&o));
}
