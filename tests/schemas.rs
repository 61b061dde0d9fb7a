//! The JSON members agar writes validate against the schemas in schemas/.

use crate::common::*;

fn schema(name: &str) -> jsonschema::Validator {
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo(&format!("schemas/{name}"))).unwrap()).unwrap();
    jsonschema::validator_for(&s).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn assert_valid(v: &jsonschema::Validator, doc: &serde_json::Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

#[test]
fn archive_members_validate() {
    let t = tempfile::tempdir().unwrap();
    let manifest = schema("genesis-archive.schema.json");
    let genesis = schema("genesis.schema.json");
    let em = schema("export-manifest.schema.json");
    let line = schema("export-data-line.schema.json");
    for (g, ss) in [
        (
            "tiny/genesis/debug/genesis.json",
            "tiny/genesis/debug/swing-store",
        ),
        (
            "tiny/genesis/operational/genesis.camelcase.json",
            "tiny/export/operational",
        ),
    ] {
        let out = t.path().join("a.tar");
        let _ = std::fs::remove_file(&out);
        pack_js(&fx(g), &fx(ss), &out);
        let members = tar_members(&std::fs::read(&out).unwrap());
        let json =
            |i: usize| -> serde_json::Value { serde_json::from_slice(&members[i].1).unwrap() };
        assert_valid(&manifest, &json(0), "genesis-archive.json");
        assert_valid(&genesis, &json(1), "genesis.json");
        assert_valid(&em, &json(2), "export-manifest.json");
        for l in members[3]
            .1
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
        {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            assert_valid(&line, &v, &String::from_utf8_lossy(l));
        }
    }
    // and the schemas are not vacuous: a broken manifest fails
    let mut bad = serde_json::json!({"format": "agar-genesis-archive", "version": 2});
    assert!(!manifest.is_valid(&bad));
    bad["version"] = 1.into();
    assert!(!manifest.is_valid(&bad), "missing required keys must fail");
    assert!(!line.is_valid(&serde_json::json!(["kv.host.height", "27"])));
    assert!(!line.is_valid(&serde_json::json!(["other.x", "1"])));
}

/// Command outputs (--json) and --json errors validate against their schemas.
#[test]
fn command_outputs_and_errors_validate() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a.tar");
    pack_dir(&fx("tiny/genesis/operational"), &a);
    let a = p(&a);
    let list = schema("kv-list.schema.json");
    for args in [
        vec!["kv", "list", a, "--json", "-q"],
        vec!["kv", "list", a, "--json", "--keys", "--prefix", "v1.", "-q"],
        vec!["kv", "list", a, "--json", "--prefix", "nothing.here", "-q"],
    ] {
        let doc: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
        assert_valid(&list, &doc, &format!("{args:?}"));
    }
    let get = schema("kv-get.schema.json");
    for key in ["runQueue", "no.such.key"] {
        let o = agar(&["kv", "get", a, key, "--json", "-q"]);
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_valid(&get, &doc, key);
    }
    let err = schema("cli-error.schema.json");
    let missing = t.path().join("missing.tar");
    let garbage = t.path().join("garbage.tar");
    std::fs::write(&garbage, b"not an archive").unwrap();
    for args in [
        vec!["verify", p(&missing), "--json"],
        vec!["inspect", p(&garbage), "--json"],
        vec!["verify", a, "--expect", "nope", "--json"],
        vec![
            "edit",
            a,
            "-o",
            p(&garbage),
            "--kv-set",
            "runQueue=[]",
            "--json",
        ],
    ] {
        let o = agar(&args);
        assert!(!o.status.success(), "{args:?}");
        let doc: serde_json::Value = serde_json::from_slice(&o.stderr)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stderr(&o)));
        assert_valid(&err, &doc, &format!("{args:?}"));
        assert_eq!(doc["exit_code"], o.status.code().unwrap());
    }
}

fn json_of(o: &std::process::Output, stderr_side: bool, what: &str) -> serde_json::Value {
    let bytes = if stderr_side { &o.stderr } else { &o.stdout };
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "{what}: not one JSON object ({e}): {}",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// Every command's --json output validates against its schema, on real output of the
/// binary: success and failure shapes, nulls, and diff values as JSON values.
#[test]
fn every_command_json_output_validates() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let a = d.join("a.tar.gz");
    let pack_s = schema("pack.schema.json");
    let o = agar(&[
        "pack",
        p(&fx("tiny/genesis/operational")),
        "-o",
        p(&a),
        "--json",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc = json_of(&o, false, "pack");
    assert_valid(&pack_s, &doc, "pack");
    assert_eq!(doc["archive"], p(&a));
    // to stdout: the tar on stdout, the JSON on stderr
    let o = agar(&[
        "pack",
        p(&fx("tiny/genesis/operational")),
        "-o",
        "-",
        "--json",
        "-q",
    ]);
    let doc = json_of(&o, true, "pack -o -");
    assert_valid(&pack_s, &doc, "pack -o -");
    assert_eq!(doc["archive"], "-");

    let verify_s = schema("verify.schema.json");
    let digest_s = schema("digest.schema.json");
    let garbage = d.join("garbage.tar");
    std::fs::write(&garbage, b"not an archive".repeat(100)).unwrap();
    for (f, ok_) in [(&a, true), (&garbage, false)] {
        let o = agar(&["verify", p(f), "--json", "-q"]);
        let doc = json_of(&o, false, "verify");
        assert_valid(&verify_s, &doc, "verify");
        assert_eq!(doc["ok"], ok_);
        let o = agar(&["digest", p(f), "--json", "-q"]);
        let doc = json_of(&o, false, "digest");
        assert_valid(&digest_s, &doc, "digest");
    }

    let edit_s = schema("edit.schema.json");
    let e = d.join("e.tar");
    let long = "x".repeat(1000);
    let o = agar(&[
        "edit",
        p(&a),
        "-o",
        p(&e),
        "--json",
        "-q",
        "--kv-set",
        "runQueue=[1]",
        "--kv-add",
        &format!("agar.long={long}"),
        "--genesis-set",
        "/app_state/agar_test={\"n\":1.50}",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc = json_of(&o, false, "edit");
    assert_valid(&edit_s, &doc, "edit");
    assert_eq!(doc["archive"], p(&e));

    let inspect_s = schema("inspect.schema.json");
    for args in [
        vec!["inspect", p(&e), "--json", "-q"],
        vec!["inspect", p(&e), "--verify", "--json", "-q"],
    ] {
        let doc = json_of(&agar(&args), false, "inspect");
        assert_valid(&inspect_s, &doc, &format!("{args:?}"));
    }

    let explode_s = schema("explode.schema.json");
    for (i, db) in [false, true].into_iter().enumerate() {
        let home = d.join(format!("home{i}"));
        let mut args = vec!["explode", p(&a), "--home", p(&home), "--json", "-q"];
        if db {
            args.push("--db");
        }
        let o = agar(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let doc = json_of(&o, false, "explode");
        assert_valid(&explode_s, &doc, &format!("{args:?}"));
        assert_eq!(doc["db"].is_null(), !db);
    }

    let diff_s = schema("diff.schema.json");
    let doc = json_of(
        &agar(&["diff", p(&a), p(&a), "--json", "-q"]),
        false,
        "diff equal",
    );
    assert_valid(&diff_s, &doc, "diff equal");
    let doc = json_of(
        &agar(&["diff", p(&a), p(&e), "--json", "-q"]),
        false,
        "diff",
    );
    assert_valid(&diff_s, &doc, "diff");
    // values are JSON values, not JSON text in strings
    let item = |sec: &str, key: &str| -> serde_json::Value {
        doc[sec]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["key"] == key)
            .unwrap_or_else(|| panic!("{sec} {key}: {doc:#}"))
            .clone()
    };
    let rq = item("kv", "runQueue");
    assert_eq!(rq["a"], "[106,136]");
    assert_eq!(rq["b"], "[1]");
    let g = item("genesis", "/app_state/agar_test");
    assert!(g.get("a").is_none(), "added: no old value");
    assert!(g["b"].is_object(), "{g}");
    assert_eq!(g["b"]["n"].to_string(), "1.50", "number literal kept");
    // a long value is not listed whole: its size and first bytes
    let l = item("kv", "agar.long");
    assert!(l.get("b").is_none());
    assert_eq!(l["b_cut"]["bytes"], 1000);
    assert!(l["b_cut"]["head"].as_str().unwrap().len() <= 256);
}

/// One vocabulary: a field name shared by commands means the same in every schema
/// (schemas/vocabulary.schema.json), and every name two commands share is in it.
#[test]
fn shared_field_names_mean_the_same() {
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(repo(&format!("schemas/{name}"))).unwrap()).unwrap()
    };
    let vocab = read("vocabulary.schema.json");
    let defs = vocab["$defs"].as_object().unwrap();
    // a definition with null allowed (a command that can lack the value) means the same
    fn without_null(v: &serde_json::Value) -> serde_json::Value {
        let mut v = v.clone();
        if let Some(t) = v.get_mut("type") {
            if let Some(a) = t.as_array() {
                let rest: Vec<_> = a.iter().filter(|x| *x != "null").cloned().collect();
                *t = if rest.len() == 1 {
                    rest[0].clone()
                } else {
                    rest.into()
                };
            }
        }
        if let Some(e) = v.get_mut("enum").and_then(|e| e.as_array_mut()) {
            e.retain(|x| !x.is_null());
        }
        v
    }
    fn walk(v: &serde_json::Value, at: &str, out: &mut Vec<(String, String, serde_json::Value)>) {
        if let Some(ps) = v.get("properties").and_then(|p| p.as_object()) {
            for (k, d) in ps {
                out.push((at.to_string(), k.clone(), d.clone()));
                walk(d, &format!("{at}/{k}"), out);
            }
        }
        for k in ["items", "additionalProperties"] {
            if let Some(x) = v.get(k).filter(|x| x.is_object()) {
                walk(x, &format!("{at}/{k}"), out);
            }
        }
    }
    let commands = [
        "pack", "verify", "digest", "inspect", "explode", "edit", "diff", "kv-list", "kv-get",
    ];
    let mut top: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for c in commands {
        let s = read(&format!("{c}.schema.json"));
        let mut props = Vec::new();
        walk(&s, c, &mut props);
        for (at, name, def) in &props {
            if at == c {
                top.entry(name.clone()).or_default().push(c);
            }
            if let Some(want) = defs.get(name) {
                assert_eq!(
                    without_null(def),
                    *want,
                    "{at}/{name}: differs from schemas/vocabulary.schema.json"
                );
            }
            // the synonyms the vocabulary replaced
            for (old, new) in [
                ("output", "archive"),
                ("archive_artifact_mode", "artifact_mode"),
                ("export_data_hash", "swing_store_export_data_hash"),
                ("db_bytes", "bytes"),
            ] {
                assert_ne!(name, old, "{at}: say {new:?}, not {old:?}");
            }
        }
    }
    for (name, cs) in &top {
        if cs.len() > 1 {
            assert!(
                defs.contains_key(name),
                "{name:?} is used by {cs:?} but is not in schemas/vocabulary.schema.json"
            );
        }
    }
    // the README lists exactly the vocabulary
    let readme = std::fs::read_to_string(repo("schemas/README.md")).unwrap();
    let section = readme
        .split("## Vocabulary")
        .nth(1)
        .expect("a Vocabulary section");
    let listed: std::collections::BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next().map(str::to_string))
        .collect();
    let want: std::collections::BTreeSet<String> = defs.keys().cloned().collect();
    assert_eq!(listed, want, "schemas/README.md Vocabulary table");
}
