//! `agar edit`: every operation on the fixtures, recomputed hashes checked independently,
//! determinism, base, refusals leaving nothing behind.

use crate::common::edit::*;
use serde_json::{json, Value};
use std::path::Path;

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

fn kv_get(archive: &Path, key: &str) -> Option<Vec<u8>> {
    let o = run(&["kv", "get", p(archive), key, "-q"]);
    match code(&o) {
        0 => {
            let mut v = o.stdout.clone();
            assert_eq!(v.pop(), Some(b'\n'));
            Some(v)
        }
        1 => None,
        c => panic!("kv get exit {c}: {}", stderr(&o)),
    }
}

#[test]
fn kv_ops_are_visible_and_hashes_recomputed() {
    let d = tempfile::tempdir().unwrap();
    let (a, a_digest) = pack(d.path(), "tiny/genesis/operational", "a.tar.gz");
    let vfile = d.path().join("value.txt");
    std::fs::write(&vfile, b"from a file\nwith \"quotes\" <&>\n").unwrap();
    let b = d.path().join("b.tar");
    let o = run_stdin(
        &[
            "edit",
            p(&a),
            "-o",
            p(&b),
            "--kv-set",
            "runQueue=[136,136]",
            "--kv-add",
            "brand.new=x=y",
            "--kv-add-file",
            &format!("edge.file={}", p(&vfile)),
            "--kv-add-stdin",
            "edge.stdin",
            "--kv-delete",
            "gcActions",
            "-q",
        ],
        "stdin value \u{2028}".as_bytes(),
    );
    ok(&o);
    let digest = last_line(&o);
    assert_eq!(digest.len(), 64);
    assert_eq!(digest, tar_digest(&b));
    assert_eq!(kv_get(&b, "runQueue").unwrap(), b"[136,136]");
    assert_eq!(kv_get(&b, "brand.new").unwrap(), b"x=y");
    assert_eq!(
        kv_get(&b, "edge.file").unwrap(),
        b"from a file\nwith \"quotes\" <&>\n"
    );
    assert_eq!(
        kv_get(&b, "edge.stdin").unwrap(),
        "stdin value \u{2028}".as_bytes()
    );
    assert_eq!(kv_get(&b, "gcActions"), None);
    assert_eq!(
        kv_get(&a, "gcActions").unwrap(),
        b"[\"v1 dropExport ko10\"]"
    );
    // untouched keys unchanged
    assert_eq!(kv_get(&b, "crankNumber"), kv_get(&a, "crankNumber"));

    let m = check_consistent(&b);
    let ma = check_consistent(&a);
    assert_ne!(
        m["swing_store_export_data_hash"],
        ma["swing_store_export_data_hash"]
    );
    // entry count: +3 added, -1 deleted
    assert_eq!(
        m["export_data_entries"].as_u64().unwrap(),
        ma["export_data_entries"].as_u64().unwrap() + 2
    );
    // export data is still sorted bytewise with the new keys in place
    let ms = members(&b);
    let keys: Vec<String> = std::str::from_utf8(member(&ms, "swing-store/export-data.jsonl"))
        .unwrap()
        .lines()
        .map(json_key)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(keys.contains(&"kv.brand.new".to_string()));
    // provenance
    let prov = &m["provenance"];
    assert_eq!(prov["parent"], Value::String(a_digest));
    let edits = &prov["edits"];
    assert_eq!(
        edits[0],
        json!({"op": "kv-set", "key": "runQueue", "value": "[136,136]"})
    );
    assert_eq!(
        edits[2]["value_sha256"],
        Value::String(sha256_hex(&std::fs::read(&vfile).unwrap()))
    );
    assert!(
        edits[2].get("value").is_none(),
        "file contents are by digest"
    );
    let canon = serde_json::to_string(edits).unwrap() + "\n";
    assert_eq!(
        prov["edits_sha256"],
        Value::String(sha256_hex(canon.as_bytes()))
    );
}

fn json_key(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap();
    v[0].as_str().unwrap().to_string()
}

#[test]
fn script_is_deterministic_and_base_is_enforced() {
    let d = tempfile::tempdir().unwrap();
    let (a, a_digest) = pack(d.path(), "tiny/genesis/debug", "a.tar.gz");
    let sdir = d.path().join("edits");
    std::fs::create_dir(&sdir).unwrap();
    std::fs::write(sdir.join("v.txt"), b"file value").unwrap();
    let script = format!(
        r#"{{"base": "{a_digest}", "edits": [
          {{"op": "kv-set", "key": "runQueue", "value": "[136,136]"}},
          {{"op": "kv-add", "key": "edge.from-file", "value_file": "v.txt"}},
          {{"op": "kv-delete-prefix", "prefix": "edge.key.", "expect_count": 9}},
          {{"op": "genesis-set", "pointer": "/app_state/bank/params/big", "value": 12345678901234567890123.50}},
          {{"op": "genesis-delete", "pointer": "/app_version"}},
          {{"op": "set-chain-id", "value": "agoric-rehearsal-2"}},
          {{"op": "set-genesis-time", "value": "2026-03-04T05:06:07Z"}}
        ]}}"#
    );
    let sfile = sdir.join("edits.json");
    std::fs::write(&sfile, &script).unwrap();
    let n_edge_keys = stdout(ok(&run(&[
        "kv",
        "list",
        p(&a),
        "--prefix",
        "edge.key.",
        "--keys",
        "-q",
    ])))
    .lines()
    .count();
    assert_eq!(n_edge_keys, 9, "fixture assumption");

    let b1 = d.path().join("b1.tar.gz");
    let b2 = d.path().join("b2.tar");
    let o1 = run(&["edit", p(&a), "-o", p(&b1), "--script", p(&sfile), "-q"]);
    ok(&o1);
    // the same script from another directory (paths relative to the script), plain tar
    let o2 = std::process::Command::new(BIN)
        .current_dir(d.path())
        .args([
            "edit",
            "a.tar.gz",
            "-o",
            "b2.tar",
            "--script",
            "edits/edits.json",
            "-q",
        ])
        .output()
        .unwrap();
    ok(&o2);
    assert_eq!(last_line(&o1), last_line(&o2));
    assert_eq!(tar_digest(&b1), tar_digest(&b2));

    let m = check_consistent(&b1);
    assert_eq!(m["chain_id"], "agoric-rehearsal-2");
    let ms = members(&b1);
    let g = std::str::from_utf8(member(&ms, "genesis.json")).unwrap();
    assert!(
        g.contains("\"big\":12345678901234567890123.50"),
        "number literal kept"
    );
    assert!(g.contains("\"genesis_time\":\"2026-03-04T05:06:07Z\""));
    assert!(!g.contains("app_version"));
    assert_eq!(
        stdout(ok(&run(&[
            "kv",
            "list",
            p(&b1),
            "--prefix",
            "edge.key.",
            "-q"
        ]))),
        ""
    );
    assert_eq!(kv_get(&b1, "edge.from-file").unwrap(), b"file value");

    // a script whose base does not match is refused, and leaves nothing
    let (c, _) = pack(d.path(), "tiny/genesis/operational", "c.tar.gz");
    let before = listing(d.path());
    let out = d.path().join("refused.tar.gz");
    let o = run(&["edit", p(&c), "-o", p(&out), "--script", p(&sfile)]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("base"), "{}", stderr(&o));
    assert_eq!(listing(d.path()), before);
    // --base on the command line too
    let o = run(&[
        "edit",
        p(&c),
        "-o",
        p(&out),
        "--kv-delete",
        "gcActions",
        "--base",
        &a_digest,
    ]);
    assert_eq!(code(&o), 4);
    assert_eq!(listing(d.path()), before);
}

#[test]
fn initial_height_updates_export_manifest() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let b = d.path().join("b.tar");
    let o = run(&["edit", p(&a), "-o", p(&b), "--initial-height", "1000", "-q"]);
    ok(&o);
    let m = check_consistent(&b);
    assert_eq!(m["initial_height"], 1000);
    let ms = members(&b);
    let em = json(member(&ms, "swing-store/export-manifest.json"));
    assert_eq!(em["blockHeight"], 1000);
    assert_eq!(json(member(&ms, "genesis.json"))["initial_height"], 1000);
    // the export data (and so its hash) is untouched by a genesis-only edit
    assert_eq!(
        member(&ms, "swing-store/export-data.jsonl"),
        member(&members(&a), "swing-store/export-data.jsonl")
    );
    // set through a pointer too
    let c = d.path().join("c.tar");
    ok(&run(&[
        "edit",
        p(&a),
        "-o",
        p(&c),
        "--genesis-set",
        "/initial_height=1000",
        "-q",
    ]));
    let mc = check_consistent(&c);
    assert_eq!(mc["initial_height"], 1000);
}

/// SDK <= 0.47 exports carry `initial_height` as a JSON string (e.g. agoric-3's
/// `"initial_height": "2115669"`, tests/fixtures/real): every edit that sets the height
/// keeps the input's JSON type.
#[test]
fn initial_height_edits_keep_a_string_a_string() {
    let d = tempfile::tempdir().unwrap();
    let mut g: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture("tiny/genesis/operational/genesis.json")).unwrap(),
    )
    .unwrap();
    g["initial_height"] = serde_json::Value::String("28".into());
    let gp = d.path().join("genesis-string-height.json");
    std::fs::write(&gp, serde_json::to_vec(&g).unwrap()).unwrap();
    let a = d.path().join("a.tar");
    ok(&run(&[
        "pack",
        p(&fixture("tiny/genesis/operational")),
        "--genesis",
        p(&gp),
        "-o",
        p(&a),
        "-q",
    ]));
    assert_eq!(
        json(member(&members(&a), "genesis.json"))["initial_height"],
        "28"
    );
    let b = d.path().join("b.tar");
    ok(&run(&[
        "edit",
        p(&a),
        "-o",
        p(&b),
        "--initial-height",
        "1000",
        "-q",
    ]));
    let m = check_consistent(&b);
    assert_eq!(m["initial_height"], 1000);
    let ms = members(&b);
    assert_eq!(json(member(&ms, "genesis.json"))["initial_height"], "1000");
    assert_eq!(
        json(member(&ms, "swing-store/export-manifest.json"))["blockHeight"],
        1000
    );
    // the same through a script
    let script = d.path().join("e.json");
    std::fs::write(
        &script,
        r#"{"edits": [{"op": "set-initial-height", "value": 2000}]}"#,
    )
    .unwrap();
    let c = d.path().join("c.tar");
    ok(&run(&[
        "edit",
        p(&a),
        "-o",
        p(&c),
        "--script",
        p(&script),
        "-q",
    ]));
    assert_eq!(
        json(member(&members(&c), "genesis.json"))["initial_height"],
        "2000"
    );
}

#[test]
fn bundle_add_and_artifact_replace() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar.gz");
    let bundle = d.path().join("bundle.json");
    // spec §4.3 example: b0-f2b272a0…
    std::fs::write(
        &bundle,
        br#"{"moduleFormat":"nestedEvaluate","source":"function getExport(){return {}}","sourceMap":"//# sourceURL=x"}"#,
    )
    .unwrap();
    let id = "b0-f2b272a02ac9ed6c7fbcb31542d84846ab37d1867464683d8ca8f28b96736637";
    let snap = d.path().join("snap.bin");
    std::fs::write(&snap, b"replacement heap snapshot bytes").unwrap();
    let span = d.path().join("span.txt");
    let items = [
        "{\"d\":[\"one\"]}",
        "{\"d\":[\"two\"]}",
        "{\"d\":[\"three\"]}",
        "{\"d\":[\"four\"]}",
    ];
    std::fs::write(&span, items.join("\n") + "\n").unwrap();
    let b = d.path().join("b.tar.gz");
    let o = run(&[
        "edit",
        p(&a),
        "-o",
        p(&b),
        "--bundle-add",
        p(&bundle),
        "--artifact-replace",
        &format!("snapshot.v1.42={}", p(&snap)),
        "--artifact-replace",
        &format!("transcript.v1.43.47={}", p(&span)),
        "--kv-add",
        &format!("namedBundleID.new={id}"),
    ]);
    ok(&o);
    let err = stderr(&o);
    assert!(err.contains(id), "bundle ID printed: {err}");
    assert!(err.contains("snapshotID"), "§9.3 warning: {err}");
    assert!(
        err.contains("nothing references the new bundle"),
        "§9.4 warning: {err}"
    );
    let m = check_consistent(&b);
    let ms = members(&b);
    assert_eq!(
        member(&ms, &format!("swing-store/bundle.{id}")),
        std::fs::read(&bundle).unwrap()
    );
    let data = std::str::from_utf8(member(&ms, "swing-store/export-data.jsonl")).unwrap();
    assert!(data.contains(&format!("[\"bundle.{id}\",\"{id}\"]")));
    let snap_hash = sha256_hex(b"replacement heap snapshot bytes");
    assert!(
        data.contains(&format!("\\\"hash\\\":\\\"{snap_hash}\\\"")),
        "snapshot record"
    );
    // span hash recomputed independently (spec §4.1)
    let mut h = sha256_hex(b"start of transcript span");
    for it in items {
        h = sha256_hex(format!("{h}{}", sha256_hex(it.as_bytes())).as_bytes());
    }
    let line = data
        .lines()
        .find(|l| l.starts_with("[\"transcript.v1.current\""))
        .unwrap();
    assert!(line.contains(&h), "{line}");
    let em = json(member(&ms, "swing-store/export-manifest.json"));
    assert!(em["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x[0] == format!("bundle.{id}")));
    assert_eq!(m["members"].as_array().unwrap().len(), 3 + 9);

    // a span with the wrong number of items is refused (it would move later positions)
    let bad = d.path().join("bad.txt");
    std::fs::write(&bad, "a\nb\n").unwrap();
    let out = d.path().join("x.tar.gz");
    let o = run(&[
        "edit",
        p(&a),
        "-o",
        p(&out),
        "--artifact-replace",
        &format!("transcript.v1.43.47={}", p(&bad)),
    ]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("holds 2 items"), "{}", stderr(&o));
    assert!(!out.exists());
    // adding a bundle that is already there is refused
    let o = run(&["edit", p(&b), "-o", p(&out), "--bundle-add", p(&bundle)]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(!out.exists());
    // bundles cannot be replaced in place
    let o = run(&[
        "edit",
        p(&b),
        "-o",
        p(&out),
        "--artifact-replace",
        &format!("bundle.{id}={}", p(&bundle)),
    ]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    // replacing an artifact the archive does not hold
    let o = run(&[
        "edit",
        p(&a),
        "-o",
        p(&out),
        "--artifact-replace",
        &format!("snapshot.v9.1={}", p(&snap)),
    ]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(!out.exists());
}

/// The three forms people hold a bundle in: the endoZipBase64 JSON that bundle-source and
/// governance proposals produce (real mainnet bundles) adds exactly what its zip adds.
#[test]
fn bundle_add_takes_endo_zip_base64_json() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let real = fixture("real/bundles");
    for id in [
        "b1-81c0224cb5466dfa9b5d14bc94d19ed1b0ca7aa47d22dadd0f538f14a59d70a596aa37850ec89aba796873f912708bd6144a91693e643af7a98602c70fbe052f",
        "b1-4c70b44626c0756a1a8587b250509d7743edb97ba680c6784ec0ce4aa469a71829afef0d0abc7ab91544aad3be3d07ecc54b3a7f01a1957ae1aa4532bcb775e1",
    ] {
        let zip = real.join(format!("{id}.zip"));
        let json_bundle = real.join(format!("{id}.json"));
        let mut digests = Vec::new();
        for (form, f) in [("zip", &zip), ("json", &json_bundle)] {
            let out = d.path().join(format!("{form}.tar"));
            let _ = std::fs::remove_file(&out);
            let o = run(&["edit", p(&a), "-o", p(&out), "--bundle-add", p(f)]);
            ok(&o);
            assert!(stderr(&o).contains(id), "{form}: ID printed: {}", stderr(&o));
            let ms = members(&out);
            // the artifact is the zip, whichever form was given
            assert!(
                member(&ms, &format!("swing-store/bundle.{id}")) == std::fs::read(&zip).unwrap(),
                "{form}: artifact bytes"
            );
            check_consistent(&out);
            digests.push(last_line(&o));
        }
        assert_eq!(digests[0], digests[1], "{id}: same archive from zip and JSON");
        // the same through a script op
        let script = d.path().join("s.json");
        std::fs::write(
            &script,
            json!({"edits": [{"op": "bundle-add", "file": p(&json_bundle)}]}).to_string(),
        )
        .unwrap();
        let out = d.path().join("script.tar");
        let _ = std::fs::remove_file(&out);
        let o = run(&[
            "edit", p(&a), "-o", p(&out), "--script", p(&script),
            "--allow-files-in", p(&real),
        ]);
        ok(&o);
        assert_eq!(last_line(&o), digests[0]);
    }
    // b0 JSON still works (spec §4.3 example)
    let b0 = d.path().join("b0.json");
    std::fs::write(
        &b0,
        br#"{"moduleFormat":"nestedEvaluate","source":"function getExport(){return {}}","sourceMap":"//# sourceURL=x"}"#,
    )
    .unwrap();
    let out = d.path().join("b0.tar");
    let o = run(&["edit", p(&a), "-o", p(&out), "--bundle-add", p(&b0)]);
    ok(&o);
    assert!(
        stderr(&o).contains("b0-f2b272a02ac9ed6c7fbcb31542d84846ab37d1867464683d8ca8f28b96736637")
    );

    // a wrong endoZipBase64Sha512 is refused as bad input, naming the file and both hashes
    let id = "81c0224cb5466dfa9b5d14bc94d19ed1b0ca7aa47d22dadd0f538f14a59d70a596aa37850ec89aba796873f912708bd6144a91693e643af7a98602c70fbe052f";
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(real.join(format!("b1-{id}.json"))).unwrap())
            .unwrap();
    let wrong_hash = "0".repeat(128);
    v["endoZipBase64Sha512"] = json!(wrong_hash);
    let wrong = d.path().join("wrong.json");
    std::fs::write(&wrong, v.to_string()).unwrap();
    let before = listing(d.path());
    let out = d.path().join("wrong.tar");
    for json_flag in [false, true] {
        let mut args = vec!["edit", p(&a), "-o", p(&out), "--bundle-add", p(&wrong)];
        if json_flag {
            args.push("--json");
        }
        let o = run(&args);
        assert_eq!(code(&o), 3, "{}", stderr(&o));
        let err = stderr(&o);
        for want in [
            "wrong.json",
            "endoZipBase64Sha512",
            &wrong_hash,
            id,
            "bundle-source",
        ] {
            assert!(err.contains(want), "{want:?} missing: {err}");
        }
        assert!(!err.contains("panicked"));
    }
    // a corrupted base64 text is refused too, and neither leaves anything behind
    v["endoZipBase64Sha512"] = json!(id);
    let b64 = v["endoZipBase64"].as_str().unwrap().to_string();
    v["endoZipBase64"] = json!(format!("{}*{}", &b64[..1000], &b64[1001..]));
    std::fs::write(&wrong, v.to_string()).unwrap();
    let o = run(&["edit", p(&a), "-o", p(&out), "--bundle-add", p(&wrong)]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a base64 character"),
        "{}",
        stderr(&o)
    );
    assert_eq!(listing(d.path()), before);
}

#[test]
fn refused_operations_leave_no_output() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar.gz");
    let out = d.path().join("out.tar.gz");
    let before = listing(d.path());
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--kv-set", "host.height=5"], 4, "host.*"),
        (vec!["--kv-delete", "local.thing"], 4, "local.*"),
        (vec!["--kv-delete", "no.such.key"], 4, "does not exist"),
        (
            vec!["--kv-delete-prefix", "edge.key.=3"],
            4,
            "expect_count is 3",
        ),
        (
            vec![
                "--genesis-set",
                "/app_state/swingset/swing_store_export_data_hash=\"sha256:00\"",
            ],
            4,
            "agar owns",
        ),
        (
            vec!["--genesis-delete", "/app_state/swingset"],
            4,
            "agar owns",
        ),
        (
            vec!["--genesis-set", "/no/such/parent=1"],
            3,
            "does not exist",
        ),
        (
            vec!["--genesis-set", "/x={\"a\":1,\"a\":2}"],
            3,
            "duplicate",
        ),
        // bad flag values and no edits at all are usage errors, caught before reading
        (vec!["--genesis-time", "yesterday"], 2, "RFC 3339"),
        // RFC 3339 in shape, but no such instant: agd would refuse to start on it
        (
            vec!["--genesis-time", "2026-13-45T99:99:99Z"],
            2,
            "RFC 3339",
        ),
        (
            vec!["--genesis-time", "2025-02-29T00:00:00Z"],
            2,
            "RFC 3339",
        ),
        // the same rule whichever op sets it
        (
            vec!["--genesis-set", "/genesis_time=\"2026-13-45T99:99:99Z\""],
            3,
            "RFC 3339",
        ),
        (
            vec!["--genesis-set", "/genesis_time=1"],
            3,
            "must be a JSON string",
        ),
        (vec!["--initial-height", "0"], 2, "--initial-height"),
        (vec![], 2, "no edits"),
    ];
    for (args, want, msg) in cases {
        let mut all = vec!["edit", p(&a), "-o", p(&out)];
        all.extend(args.iter().copied());
        let o = run(&all);
        assert_eq!(code(&o), want, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{args:?}: {}", stderr(&o));
        assert_eq!(listing(d.path()), before, "{args:?} left files behind");
    }
    // existing output without --force
    std::fs::write(&out, b"keep me").unwrap();
    let o = run(&["edit", p(&a), "-o", p(&out), "--kv-delete", "gcActions"]);
    assert_eq!(code(&o), 4);
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    ok(&run(&[
        "edit",
        p(&a),
        "-o",
        p(&out),
        "--kv-delete",
        "gcActions",
        "--force",
        "-q",
    ]));
    check_consistent(&out);
    // a corrupt input is refused before anything is written
    let mut bytes = std::fs::read(&a).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    let bad = d.path().join("bad.tar.gz");
    std::fs::write(&bad, &bytes).unwrap();
    let out2 = d.path().join("out2.tar.gz");
    let o = run(&["edit", p(&bad), "-o", p(&out2), "--kv-delete", "gcActions"]);
    assert_ne!(code(&o), 0);
    assert!(!out2.exists());
}

#[test]
fn edits_compose_in_order() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let s = d.path().join("s.json");
    std::fs::write(
        &s,
        r#"{"edits": [
          {"op": "kv-add", "key": "zz.temp", "value": "1"},
          {"op": "kv-delete", "key": "zz.temp"},
          {"op": "kv-add", "key": "edge.key.extra", "value": "2"},
          {"op": "kv-delete-prefix", "prefix": "edge.key.", "expect_count": 10},
          {"op": "kv-add", "key": "edge.key.after", "value": "3"}
        ]}"#,
    )
    .unwrap();
    let b = d.path().join("b.tar");
    ok(&run(&["edit", p(&a), "-o", p(&b), "--script", p(&s), "-q"]));
    check_consistent(&b);
    assert_eq!(kv_get(&b, "zz.temp"), None);
    let keys = stdout(ok(&run(&[
        "kv",
        "list",
        p(&b),
        "--prefix",
        "edge.key.",
        "--keys",
        "-q",
    ])));
    assert_eq!(keys, "edge.key.after\n");
    // unknown op and unknown fields are rejected with their position
    std::fs::write(
        &s,
        r#"{"edits": [{"op": "kv-set", "key": "a", "value": "b", "extra": 1}]}"#,
    )
    .unwrap();
    let o = run(&[
        "edit",
        p(&a),
        "-o",
        p(&d.path().join("c.tar")),
        "--script",
        p(&s),
    ]);
    assert_eq!(code(&o), 3);
    assert!(
        stderr(&o).contains("edits[0]") && stderr(&o).contains("extra"),
        "{}",
        stderr(&o)
    );
}

/// kv-set changes an existing key and refuses a missing one; kv-add creates one and
/// refuses an existing one; a key written with the export-data "kv." prefix gets a hint.
#[test]
fn kv_set_changes_kv_add_creates() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let out = d.path().join("b.tar");
    let script = d.path().join("s.json");
    std::fs::write(
        &script,
        r#"{"edits": [{"op": "kv-set", "key": "typo.gcActions", "value": "[]"}]}"#,
    )
    .unwrap();
    let before = listing(d.path());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--kv-set", "no.such.key=1"], "use kv-add"),
        (
            vec!["--kv-set", "kv.gcActions=[]"],
            "did you mean \"gcActions\"",
        ),
        (vec!["--kv-delete", "kv.gcActions"], "\"kv.\" prefix"),
        (vec!["--kv-add", "gcActions=[]"], "use kv-set"),
        (
            vec!["--kv-add", "kv.brand.new=1"],
            "drop it (\"brand.new\")",
        ),
        (vec!["--kv-add-file", "kv.brand.new=/dev/null"], "drop it"),
        (vec!["--script", p(&script)], "use kv-add"),
    ];
    for (args, msg) in cases {
        let mut all = vec!["edit", p(&a), "-o", p(&out)];
        all.extend(args.iter().copied());
        let o = run(&all);
        assert_eq!(code(&o), 4, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{args:?}: {}", stderr(&o));
        assert_eq!(listing(d.path()), before, "{args:?} left files behind");
    }
    // a script kv-add with the prefix is refused while parsing, naming the edit
    std::fs::write(
        &script,
        r#"{"edits": [{"op": "kv-add", "key": "kv.x", "value": "1"}]}"#,
    )
    .unwrap();
    let o = run(&["edit", p(&a), "-o", p(&out), "--script", p(&script)]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("edits[0] (kv-add)"), "{}", stderr(&o));
    // add then set then delete of the same key compose; the change lines name the op
    std::fs::write(
        &script,
        r#"{"edits": [
          {"op": "kv-add", "key": "brand.new", "value": "1"},
          {"op": "kv-set", "key": "brand.new", "value": "2"},
          {"op": "kv-set", "key": "gcActions", "value": "[]"}
        ]}"#,
    )
    .unwrap();
    let o = run(&["edit", p(&a), "-o", p(&out), "--script", p(&script)]);
    let text = stdout(ok(&o));
    assert!(text.contains("kv-add \"brand.new\": added"), "{text}");
    assert!(
        text.contains("kv-set \"brand.new\": \"1\" -> \"2\""),
        "{text}"
    );
    assert_eq!(kv_get(&out, "brand.new").unwrap(), b"2");
    assert_eq!(kv_get(&out, "gcActions").unwrap(), b"[]");
}

/// A genesis-set says whether it changed anything: the same value again is "unchanged",
/// another value of the same length is "old -> new".
#[test]
fn genesis_set_says_unchanged_only_for_the_same_value() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let ms = members(&a);
    let chain = json(member(&ms, "genesis.json"))["chain_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut other = chain.clone();
    let last = if other.ends_with('x') { "y" } else { "x" };
    other.pop();
    other.push_str(last);
    let b = d.path().join("b.tar");
    let o = run(&[
        "edit",
        p(&a),
        "-o",
        p(&b),
        "--genesis-set",
        &format!("/chain_id={}", json!(chain)),
        "--genesis-set",
        &format!("/chain_id={}", json!(other)),
        "--json",
    ]);
    ok(&o);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["changes"],
        json!([
            format!("genesis /chain_id: unchanged ({})", json!(chain)),
            format!("genesis /chain_id: {} -> {}", json!(chain), json!(other)),
        ])
    );
}

fn edit_json(input: &Path, out: &Path, args: &[&str]) -> Value {
    let mut all = vec!["edit", p(input), "-o", p(out), "--force", "--json"];
    all.extend_from_slice(args);
    let o = run(&all);
    ok(&o);
    serde_json::from_slice(&o.stdout).unwrap()
}

fn height_warnings(v: &Value) -> Vec<String> {
    v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .filter(|w| w.starts_with("initial_height is now"))
        .collect()
}

/// `agar edit INPUT -o OUT ARGS` fails with exit `want` and a message containing `msg`,
/// and leaves no OUT.
fn refused_with(input: &Path, out: &Path, args: &[&str], want: i32, msg: &str) {
    let mut all = vec!["edit", p(input), "-o", p(out)];
    all.extend_from_slice(args);
    let o = run(&all);
    assert_eq!(code(&o), want, "{args:?}: {}", stderr(&o));
    assert!(stderr(&o).contains(msg), "{args:?}: {}", stderr(&o));
    assert!(!out.exists(), "{args:?}");
}

/// edit warns when a new initial_height no longer follows the export height, and only
/// then: not for an unchanged height, nor for a height set back to export + 1 on an
/// archive packed off by a few blocks (a rehearsal). The summary counts the artifacts.
#[test]
fn a_height_that_does_not_follow_the_export_is_warned_about_and_only_that() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let ms = members(&a);
    let h = json(member(&ms, "genesis.json"))["initial_height"]
        .as_u64()
        .unwrap();
    let export = json(member(&ms, "genesis-archive.json"))["export_height"]
        .as_u64()
        .unwrap();
    assert_eq!(export + 1, h, "fixture assumption");
    let artifacts = ms
        .iter()
        .filter(|(n, _)| n.starts_with("swing-store/") && !n.starts_with("swing-store/export-"))
        .count();
    assert!(artifacts > 0);
    let out = d.path().join("out.tar");

    let v = edit_json(&a, &out, &["--initial-height", &(h + 10).to_string()]);
    assert_eq!(
        height_warnings(&v),
        [format!(
            "initial_height is now {}, but the swing-store state was exported at block {export} (normally initial_height - 1); export-manifest blockHeight follows initial_height",
            h + 10
        )]
    );
    assert_eq!(v["artifacts"], artifacts);

    let v = edit_json(&a, &out, &["--kv-delete", "gcActions"]);
    assert!(height_warnings(&v).is_empty(), "{v}");
    // a deletion alone is a kvStore edit too
    assert_eq!(
        v["warnings"],
        json!(["kvStore edits change what the kernel reads at startup, not what a replay would reproduce: vat state is also held in transcripts and heap snapshots (spec §9.1). Review them with agar diff"])
    );

    // a rehearsal export made 6 blocks before the genesis's height, packed anyway, then
    // set to the export height + 1: nothing to warn about
    let src = d.path().join("export");
    crate::common::copy_dir(&fixture("tiny/genesis/operational"), &src);
    let em_path = src.join("swing-store/export-manifest.json");
    let mut em: Value = serde_json::from_slice(&std::fs::read(&em_path).unwrap()).unwrap();
    em["blockHeight"] = json!(h - 6);
    std::fs::write(&em_path, serde_json::to_vec(&em).unwrap()).unwrap();
    let off = d.path().join("off.tar");
    ok(&run(&[
        "pack",
        p(&src),
        "--allow-height-mismatch",
        "-o",
        p(&off),
        "-q",
    ]));
    assert_eq!(
        json(member(&members(&off), "genesis-archive.json"))["export_height"],
        h - 6
    );
    let v = edit_json(&off, &out, &["--initial-height", &(h - 5).to_string()]);
    assert!(height_warnings(&v).is_empty(), "{v}");
    let v = edit_json(&off, &out, &["--initial-height", &(h - 4).to_string()]);
    assert_eq!(height_warnings(&v).len(), 1, "{v}");
}

/// A script's set-initial-height is held to the same range as the flag (1 .. 2^53-1).
#[test]
fn a_script_height_out_of_range_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    for h in ["0", "9007199254740992"] {
        let sfile = d.path().join("edits.json");
        std::fs::write(
            &sfile,
            format!(r#"{{"edits": [{{"op": "set-initial-height", "value": {h}}}]}}"#),
        )
        .unwrap();
        refused_with(
            &a,
            &d.path().join("out.tar"),
            &["--script", p(&sfile)],
            3,
            &format!("{h} is not a valid initial height (1 .. 2^53-1)"),
        );
    }
}

/// An artifact-replace names an artifact the archive holds; a kv-set value that names a
/// bundle the edited archive lacks is warned about, one it holds is not.
#[test]
fn replacements_and_bundle_references_are_checked_against_the_archive() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let f = d.path().join("t.txt");
    std::fs::write(&f, b"[]\n").unwrap();
    let out = d.path().join("out.tar");
    refused_with(
        &a,
        &out,
        &[
            "--artifact-replace",
            &format!("transcript.v9.0.1={}", p(&f)),
        ],
        3,
        "artifact-replace transcript.v9.0.1: the archive has no such artifact member",
    );

    let held = std::str::from_utf8(member(&members(&a), "swing-store/export-data.jsonl"))
        .unwrap()
        .lines()
        .map(json_key)
        .find_map(|k| k.strip_prefix("bundle.").map(str::to_string))
        .unwrap();
    let missing = format!("b0-{}", "0".repeat(64));
    let v = edit_json(
        &a,
        &out,
        &[
            "--kv-set",
            &format!("runQueue={{\"bundleID\":\"{missing}\",\"also\":\"{held}\"}}"),
        ],
    );
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(
        warnings,
        [
            format!("kv-set \"runQueue\" references bundle {missing}, which the edited archive does not hold; add it with bundle-add or the kernel will fail to load it").as_str(),
            "kvStore edits change what the kernel reads at startup, not what a replay would reproduce: vat state is also held in transcripts and heap snapshots (spec §9.1). Review them with agar diff",
        ]
    );
}

/// `--base` must agree with a script's own base.
#[test]
fn base_flag_must_agree_with_the_scripts_base() {
    let d = tempfile::tempdir().unwrap();
    let (a, digest) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let sfile = d.path().join("edits.json");
    std::fs::write(
        &sfile,
        format!(r#"{{"base": "{digest}", "edits": [{{"op": "kv-delete", "key": "gcActions"}}]}}"#),
    )
    .unwrap();
    let out = d.path().join("out.tar");
    let edit = |base: &str| {
        let o = run(&[
            "edit",
            p(&a),
            "-o",
            p(&out),
            "--script",
            p(&sfile),
            "--base",
            base,
            "--force",
            "-q",
        ]);
        (code(&o), stderr(&o))
    };
    assert_eq!(edit(&digest).0, 0);
    let other = if digest.starts_with('1') { "2" } else { "1" }.repeat(64);
    let (c, e) = edit(&other);
    assert_eq!(c, 4, "{e}");
    assert!(e.contains("differs from the script's base"), "{e}");
}

/// A bundle file that is neither a b0 bundle nor endoZipBase64 JSON is refused by the b0
/// check (bad input, exit 3); a file that cannot be read is an I/O error (exit 2).
#[test]
fn a_bundle_file_that_is_not_a_bundle_or_cannot_be_read_is_refused_as_such() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let out = d.path().join("out.tar");
    let bad = d.path().join("b.json");
    std::fs::write(&bad, br#"{"moduleFormat": 5"#).unwrap();
    refused_with(
        &a,
        &out,
        &["--bundle-add", p(&bad)],
        3,
        "b0 bundle does not start with {\"moduleFormat\":",
    );
    // a regular file whose first read fails
    refused_with(
        &a,
        &out,
        &["--bundle-add", "/proc/self/mem"],
        2,
        "error: /proc/self/mem: Input/output error (os error 5)",
    );
}

/// A script named without a directory (`--script edits.json`, run from its directory)
/// finds the files it names beside it.
#[test]
fn a_bare_script_name_finds_its_files_in_the_current_directory() {
    let d = tempfile::tempdir().unwrap();
    pack(d.path(), "tiny/genesis/operational", "a.tar");
    std::fs::write(d.path().join("v.txt"), b"from beside").unwrap();
    std::fs::write(
        d.path().join("edits.json"),
        br#"{"edits": [{"op": "kv-add", "key": "edge.beside", "value_file": "v.txt"}]}"#,
    )
    .unwrap();
    let o = std::process::Command::new(crate::common::bin())
        .current_dir(d.path())
        .args([
            "edit",
            "a.tar",
            "-o",
            "b.tar",
            "--script",
            "edits.json",
            "-q",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        kv_get(&d.path().join("b.tar"), "edge.beside").unwrap(),
        b"from beside"
    );
}
