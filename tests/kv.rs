//! `agar kv get|list`: exact values, prefixes, JSON, missing keys.

use crate::common::edit::*;
use std::path::Path;

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

#[test]
fn get_prints_exact_values() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar.gz");
    let o = run(&["kv", "get", p(&a), "edge.ctl.newlines"]);
    ok(&o);
    assert_eq!(o.stdout, b"multi\nline\r\nvalue\n\n");
    assert!(
        stderr(&o).contains("not read or verified"),
        "{}",
        stderr(&o)
    );
    let o = run(&["kv", "get", p(&a), "edge.html", "--json", "-q"]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["value"], "<script>alert(\"x&y\")</script> a>b<c&d");
    assert_eq!(v["artifacts_verified"], false);
    // keys are kvStore keys: the export-data "kv." prefix is not part of them
    let o = run(&["kv", "get", p(&a), "kv.looks-like-prefix", "-q"]);
    ok(&o);
    let o = run(&["kv", "get", p(&a), "no.such.key", "-q"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("no kvStore key"));
}

#[test]
fn list_prefix_and_json() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let ms = members(&a);
    let data = std::str::from_utf8(member(&ms, "swing-store/export-data.jsonl")).unwrap();
    let want: Vec<(String, String)> = data
        .lines()
        .map(|l| serde_json::from_str::<(String, String)>(l).unwrap())
        .filter(|(k, _)| k.starts_with("kv.v1."))
        .map(|(k, v)| (k[3..].to_string(), v))
        .collect();
    assert!(want.len() > 3);
    let o = run(&["kv", "list", p(&a), "--prefix", "v1.", "--json", "-q"]);
    ok(&o);
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let got: Vec<(String, String)> = got["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["key"].as_str().unwrap().into(),
                x["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(got, want);
    let o = run(&["kv", "list", p(&a), "--prefix", "v1.", "--keys", "-q"]);
    let lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        want.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
    );
    let all = stdout(&run(&["kv", "list", p(&a), "-q"]));
    assert_eq!(
        all.lines().count(),
        data.lines().filter(|l| l.starts_with("[\"kv.")).count()
    );
    assert!(all.contains("runQueue\t[106,136]\n"));
    // values that would break the line format are JSON strings
    assert!(all.contains("edge.ctl.nul\t\"a\\u0000b\"\n"), "{all}");
    let o = run(&[
        "kv",
        "list",
        p(&a),
        "--prefix",
        "nothing.here",
        "--json",
        "-q",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["entries"], serde_json::json!([]));
    assert_eq!(v["count"], 0);
    assert_eq!(v["prefix"], "nothing.here");
    let o = run(&[
        "kv",
        "list",
        p(&a),
        "--prefix",
        "v1.",
        "--keys",
        "--json",
        "-q",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["archive"], p(&a));
    assert_eq!(v["count"], want.len());
    assert_eq!(v["artifacts_verified"], false);
    let keys: Vec<&str> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        want.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()
    );
}
