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
