//! Bad input to `agar pack` (issue 7): malformed genesis, export-data lines, unknown
//! families, artifact names that do not parse, manifests pointing outside the export
//! directory, duplicate artifacts. Each must give a clear error naming the file, line or
//! key, the documented exit code (3 bad input, 2 I/O), no panic and no output file.

use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::{json, Value};

struct Case {
    t: tempfile::TempDir,
    n: usize,
}

impl Case {
    fn new() -> Case {
        Case {
            t: tempfile::tempdir().unwrap(),
            n: 0,
        }
    }

    /// A fresh copy of the tiny operational agd export (Go layout).
    fn go_export(&mut self) -> PathBuf {
        self.n += 1;
        let d = self.t.path().join(format!("go{}", self.n));
        copy_dir(&fx("tiny/genesis/operational"), &d);
        d
    }

    /// A fresh copy of the tiny debug JS export (export-kernel-db.js layout) and its genesis.
    fn js_export(&mut self) -> (PathBuf, PathBuf) {
        self.n += 1;
        let d = self.t.path().join(format!("js{}", self.n));
        copy_dir(&fx("tiny/export/debug"), &d.join("ss"));
        let g = d.join("genesis.json");
        std::fs::copy(fx("tiny/genesis/debug/genesis.json"), &g).unwrap();
        (g, d.join("ss"))
    }

    fn out(&self) -> PathBuf {
        self.t.path().join("out.tar.gz")
    }

    /// Run pack with `args` and check exit code, message and no output.
    fn expect(&self, args: &[&str], code: i32, wants: &[&str], what: &str) {
        let out = self.out();
        let mut a: Vec<&str> = vec!["pack"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", p(&out), "-q"]);
        let o = agar(&a);
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{what}: panic\n{err}");
        assert_eq!(o.status.code(), Some(code), "{what}: exit code\n{err}");
        assert!(err.starts_with("error: "), "{what}: {err}");
        for w in wants {
            assert!(err.contains(w), "{what}: want {w:?} in\n{err}");
        }
        assert!(!out.exists(), "{what}: output written");
    }

    fn dir(&self, d: &Path, code: i32, wants: &[&str], what: &str) {
        self.expect(&[p(d)], code, wants, what)
    }
}

type GenesisEdit = Box<dyn Fn(String) -> String>;
type ManifestEdit = Box<dyn Fn(&mut Value)>;

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let s = std::fs::read_to_string(path).unwrap();
    let s2 = f(s.clone());
    assert_ne!(s, s2, "edit of {} changed nothing", path.display());
    std::fs::write(path, s2).unwrap();
}

fn edit_json(path: &Path, f: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn malformed_genesis_is_bad_input_naming_the_field() {
    let mut c = Case::new();
    let cases: Vec<(&str, GenesisEdit, Vec<&str>)> = vec![
        (
            "truncated JSON",
            Box::new(|s: String| s[..s.len() / 2].to_string()),
            vec!["not valid JSON"],
        ),
        ("empty", Box::new(|_| String::new()), vec!["not valid JSON"]),
        (
            "an array",
            Box::new(|_| "[]".into()),
            vec!["not a JSON object"],
        ),
        (
            "duplicate key",
            Box::new(|s: String| {
                s.replacen("\"chain_id\":", "\"chain_id\":\"x\",\"chain_id\":", 1)
            }),
            vec!["duplicate object key", "chain_id"],
        ),
        (
            "no chain_id",
            Box::new(|s: String| s.replacen("\"chain_id\":\"fixturegen-tiny\",", "", 1)),
            vec!["chain_id"],
        ),
        (
            "chain_id a number",
            Box::new(|s: String| {
                s.replacen("\"chain_id\":\"fixturegen-tiny\"", "\"chain_id\":7", 1)
            }),
            vec!["chain_id"],
        ),
        (
            "initial_height 0",
            Box::new(|s: String| s.replacen("\"initial_height\":28", "\"initial_height\":0", 1)),
            vec!["initial_height"],
        ),
        (
            "initial_height negative",
            Box::new(|s: String| s.replacen("\"initial_height\":28", "\"initial_height\":-28", 1)),
            vec!["initial_height"],
        ),
        (
            "initial_height fraction",
            Box::new(|s: String| s.replacen("\"initial_height\":28", "\"initial_height\":28.5", 1)),
            vec!["initial_height"],
        ),
        (
            "initial_height not decimal",
            Box::new(|s: String| {
                s.replacen("\"initial_height\":28", "\"initial_height\":\"0x1c\"", 1)
            }),
            vec!["initial_height"],
        ),
        (
            "initial_height huge",
            Box::new(|s: String| {
                s.replacen(
                    "\"initial_height\":28",
                    "\"initial_height\":184467440737095516160",
                    1,
                )
            }),
            vec!["initial_height"],
        ),
        (
            "no swingset",
            Box::new(|s: String| s.replacen("\"swingset\":", "\"swingsetX\":", 1)),
            vec!["app_state.swingset"],
        ),
        (
            "hash not a string",
            Box::new(|s: String| {
                let i = s.find("\"swing_store_export_data_hash\":\"").unwrap();
                let j = s[i + 32..].find('"').unwrap() + i + 33;
                format!("{}\"swing_store_export_data_hash\":12{}", &s[..i], &s[j..])
            }),
            vec!["swing_store_export_data_hash", "not a string"],
        ),
        (
            "inline data not an array",
            Box::new(|s: String| {
                s.replacen(
                    "\"swing_store_export_data\":[]",
                    "\"swing_store_export_data\":{}",
                    1,
                )
            }),
            vec!["swing_store_export_data", "not an array"],
        ),
        (
            "invalid UTF-8",
            Box::new(|s: String| s.replacen("fixturegen-tiny", "fixturegen-\u{fffd}", 1)),
            vec![],
        ),
        (
            "deep nesting",
            Box::new(|_| "[".repeat(100_000)),
            vec!["not valid JSON"],
        ),
        (
            "trailing garbage",
            Box::new(|s: String| s + "{}"),
            vec!["not valid JSON"],
        ),
        (
            "lone surrogate",
            Box::new(|s: String| s.replacen("fixturegen-tiny", "\\ud800", 1)),
            vec!["not valid JSON"],
        ),
    ];
    for (what, f, wants) in cases {
        let d = c.go_export();
        let g = d.join("genesis.json");
        edit(&g, f);
        if what == "invalid UTF-8" {
            // replace the U+FFFD with a raw invalid byte
            let b = std::fs::read(&g).unwrap();
            let s = String::from_utf8(b)
                .unwrap()
                .replacen('\u{fffd}', "\u{1}", 1);
            let mut b = s.into_bytes();
            let i = b.iter().position(|&x| x == 1).unwrap();
            b[i] = 0xff;
            std::fs::write(&g, b).unwrap();
        }
        let mut w = vec!["genesis.json"];
        w.extend(wants);
        c.dir(&d, 3, &w, what);
    }
    // a genesis that is a directory, or missing: I/O, exit 2
    let d = c.go_export();
    std::fs::remove_file(d.join("genesis.json")).unwrap();
    c.dir(&d, 2, &["genesis.json"], "missing genesis");
    std::fs::create_dir(d.join("genesis.json")).unwrap();
    c.dir(&d, 2, &["genesis.json"], "genesis is a directory");
}

#[test]
fn bad_export_data_lines_name_the_file_line_and_key() {
    let mut c = Case::new();
    let cases: Vec<(&[u8], Vec<&str>)> = vec![
        (b"{\"a\":1}", vec!["expected '['"]),
        (b"[\"kv.x\"]", vec!["kv.x", "deletion"]),
        (b"[\"kv.x\",null]", vec!["kv.x", "deletion"]),
        (b"[\"kv.x\",1]", vec![]),
        (b"[\"kv.x\",\"v\",\"w\"]", vec!["at most two elements"]),
        (b"[\"kv.x\",\"v\"] trailing", vec!["trailing bytes"]),
        (b"", vec!["blank line"]),
        (b"[\"kv.x\",\"\xff\"]", vec!["UTF-8"]),
        (b"[\"kv.x\",\"\\ud800\"]", vec!["surrogate"]),
        (b"[\"kv.x\",\"a\x01b\"]", vec!["control character"]),
        (b"[\"\",\"v\"]", vec!["empty export-data key"]),
        (
            b"[\"foo.bar\",\"x\"]",
            vec!["foo.bar", "unknown export-data family"],
        ),
        (
            b"[\"nodot\",\"x\"]",
            vec!["nodot", "unknown export-data family"],
        ),
        (
            b"[\"snapshot.v1.042\",\"{}\"]",
            vec!["snapshot.v1.042", "canonical decimal"],
        ),
        (b"[\"snapshot.v1.42\",\"not json\"]", vec!["snapshot.v1.42"]),
        (b"[\"transcript.v../..\",\"{}\"]", vec!["transcript.v../.."]),
        (b"[\"bundle.b0-00\",\"b0-00\"]", vec!["bundle.b0-00"]),
        (b"[\"kv.host.height\",\"27\"]", vec!["kv.host.height"]),
    ];
    for (line, wants) in cases {
        let what = String::from_utf8_lossy(line).into_owned();
        let d = c.go_export();
        let f = d.join("swing-store/export-data.jsonl");
        let b = std::fs::read(&f).unwrap();
        // after line 2 (so the message must say line 3)
        let mut nl = b
            .iter()
            .enumerate()
            .filter(|(_, &x)| x == b'\n')
            .map(|(i, _)| i);
        nl.next();
        let at = nl.next().unwrap() + 1;
        let mut nb = b[..at].to_vec();
        nb.extend_from_slice(line);
        nb.push(b'\n');
        nb.extend_from_slice(&b[at..]);
        std::fs::write(&f, nb).unwrap();
        let mut w = vec!["export-data.jsonl: line 3"];
        w.extend(wants);
        c.dir(&d, 3, &w, &what);
    }
    // a duplicated metadata entry and a duplicated kv entry
    for key in ["bundle.b0-", "kv.acceptanceQueue"] {
        let d = c.go_export();
        let f = d.join("swing-store/export-data.jsonl");
        edit(&f, |s| {
            let line = s
                .lines()
                .find(|l| l.starts_with(&format!("[\"{key}")))
                .unwrap()
                .to_string();
            s.replacen(&line, &format!("{line}\n{line}"), 1)
        });
        c.dir(&d, 3, &["export-data.jsonl", key, "duplicate"], key);
    }
}

#[test]
fn artifact_names_that_do_not_parse_are_refused() {
    let mut c = Case::new();
    for name in [
        "snapshot.v1.042",
        "snapshot.v1",
        "../snapshot.v1.42",
        "snapshot.v1.42/..",
        "/snapshot.v1.42",
        "transcript.v1.47.43",
        "bundle.b0-zz",
        "snapshot.v1.42\u{0}",
        "UNTRUSTED-EXPORT-DATA",
        "",
    ] {
        let d = c.go_export();
        edit_json(&d.join("swing-store/export-manifest.json"), |m| {
            m["artifacts"][0][0] = json!(name);
        });
        let want = if name.is_empty() {
            "artifact"
        } else {
            name.trim_end_matches('\0')
        };
        c.dir(&d, 3, &[want], &format!("artifact name {name:?}"));
    }
}

#[test]
fn manifests_pointing_outside_the_export_dir_are_refused() {
    let mut c = Case::new();
    let outside = c.t.path().join("secret");
    std::fs::write(&outside, b"secret").unwrap();
    let cases = [
        "../genesis.json",
        "../../secret",
        "/etc/passwd",
        p(&outside),
        "sub/0-snapshot.v1.42",
        "./0-snapshot.v1.42",
        ".",
        "..",
        "",
        "a\\..\\b",
        "0-snapshot.v1.42\n",
    ];
    for file in cases {
        let d = c.go_export();
        std::fs::create_dir(d.join("swing-store/sub")).unwrap();
        std::fs::copy(
            d.join("swing-store/0-snapshot.v1.42"),
            d.join("swing-store/sub/0-snapshot.v1.42"),
        )
        .unwrap();
        edit_json(&d.join("swing-store/export-manifest.json"), |m| {
            m["artifacts"][0][1] = json!(file);
        });
        c.dir(
            &d,
            3,
            &["export-manifest.json", "not a plain file name"],
            &format!("artifact file {file:?}"),
        );
        // and as the export-data file
        let d = c.go_export();
        edit_json(&d.join("swing-store/export-manifest.json"), |m| {
            m["data"] = json!(file);
        });
        if !file.is_empty() {
            c.dir(
                &d,
                3,
                &["not a plain file name"],
                &format!("data file {file:?}"),
            );
        }
    }
    // symlinks (to a file outside, to one inside), directories and FIFOs are refused
    let d = c.go_export();
    let ss = d.join("swing-store");
    std::os::unix::fs::symlink(&outside, ss.join("link-out")).unwrap();
    std::os::unix::fs::symlink("0-snapshot.v1.42", ss.join("link-in")).unwrap();
    std::fs::create_dir(ss.join("adir")).unwrap();
    let fifo = ss.join("fifo");
    let mut files = vec!["link-out", "link-in", "adir"];
    if have("mkfifo") {
        let st = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(matches!(st, Ok(s) if s.success()), "mkfifo: {st:?}");
        files.push("fifo");
    }
    for f in files {
        let mpath = ss.join("export-manifest.json");
        let orig = std::fs::read(&mpath).unwrap();
        edit_json(&mpath, |m| m["artifacts"][0][1] = json!(f));
        c.dir(
            &d,
            3,
            &[f, "not a regular file"],
            &format!("artifact file {f}"),
        );
        edit_json(&mpath, |m| m["data"] = json!(f));
        c.dir(&d, 3, &[f, "not a regular file"], &format!("data file {f}"));
        std::fs::write(&mpath, orig).unwrap();
    }
    // a manifest naming a file that does not exist: I/O, exit 2
    let d = c.go_export();
    edit_json(&d.join("swing-store/export-manifest.json"), |m| {
        m["artifacts"][0][1] = json!("nonexistent");
    });
    c.dir(&d, 2, &["nonexistent"], "missing artifact file");
}

#[test]
fn js_exports_with_duplicate_artifacts_and_broken_manifests_are_refused() {
    let mut c = Case::new();
    let run = |c: &Case, g: &Path, ss: &Path, code: i32, wants: &[&str], what: &str| {
        c.expect(
            &["--genesis", p(g), "--swing-store-export", p(ss)],
            code,
            wants,
            what,
        )
    };
    // the same artifact name twice (even pointing at the same file)
    let (g, ss) = c.js_export();
    edit_json(&ss.join("export-manifest.json"), |m| {
        let a = m["artifacts"][0].clone();
        m["artifacts"].as_array_mut().unwrap().push(a);
    });
    run(
        &c,
        &g,
        &ss,
        3,
        &["snapshot.v1.42", "listed twice"],
        "duplicate name",
    );
    // the same name for two different files
    let (g, ss) = c.js_export();
    edit_json(&ss.join("export-manifest.json"), |m| {
        let mut a = m["artifacts"][1].clone();
        a[0] = m["artifacts"][0][0].clone();
        m["artifacts"].as_array_mut().unwrap().push(a);
    });
    run(
        &c,
        &g,
        &ss,
        3,
        &["listed twice"],
        "duplicate name, other file",
    );
    // two names for one file: each name's bytes must match its own record
    let (g, ss) = c.js_export();
    edit_json(&ss.join("export-manifest.json"), |m| {
        m["artifacts"][1][1] = m["artifacts"][0][1].clone();
    });
    run(&c, &g, &ss, 3, &["snapshot.v2.40"], "two names one file");
    // broken manifests
    let broken: Vec<(&str, ManifestEdit, &str)> = vec![
        (
            "artifacts not an array",
            Box::new(|m| m["artifacts"] = json!({})),
            "artifacts is not an array",
        ),
        (
            "artifact not a pair",
            Box::new(|m| m["artifacts"][0] = json!(["x"])),
            "artifacts[0]",
        ),
        (
            "artifact names not strings",
            Box::new(|m| m["artifacts"][0] = json!([1, 2])),
            "artifacts[0]",
        ),
        (
            "blockHeight negative",
            Box::new(|m| m["blockHeight"] = json!(-1)),
            "blockHeight",
        ),
        (
            "blockHeight a string",
            Box::new(|m| m["blockHeight"] = json!("27")),
            "blockHeight",
        ),
        (
            "unknown artifactMode",
            Box::new(|m| m["artifactMode"] = json!("everything")),
            "artifactMode",
        ),
        (
            "data not a string",
            Box::new(|m| m["data"] = json!(7)),
            "data is not a string",
        ),
        (
            "not an object",
            Box::new(|m| *m = json!([])),
            "not a JSON object",
        ),
    ];
    for (what, f, want) in broken {
        let (g, ss) = c.js_export();
        edit_json(&ss.join("export-manifest.json"), |m| f(m));
        run(&c, &g, &ss, 3, &["export-manifest.json", want], what);
    }
    let (g, ss) = c.js_export();
    std::fs::write(ss.join("export-manifest.json"), b"{\"artifacts\": [").unwrap();
    run(
        &c,
        &g,
        &ss,
        3,
        &["export-manifest.json", "not valid JSON"],
        "truncated manifest",
    );
    let (g, ss) = c.js_export();
    std::fs::write(
        ss.join("export-manifest.json"),
        b"{\"data\":\"export-data.jsonl\",\"data\":\"export-data.jsonl\"}",
    )
    .unwrap();
    run(
        &c,
        &g,
        &ss,
        3,
        &["duplicate object key"],
        "duplicate manifest key",
    );
}
