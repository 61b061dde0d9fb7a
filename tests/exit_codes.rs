//! One exit-code contract for every command (README "Exit codes", `agar::error::exit`):
//! each command against each failure class, and the README table against the code.

use crate::common;

use crate::common::edit::{code, pack, run, stderr, stdout};
use std::path::{Path, PathBuf};

use agar::error::exit;

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

struct Fx {
    _d: tempfile::TempDir,
    dir: PathBuf,
    /// a valid archive and its digest
    a: PathBuf,
    digest: String,
    /// a second, different valid archive
    b: PathBuf,
    /// a file that is not an archive
    garbage: PathBuf,
    /// the valid archive with one byte of an artifact flipped
    corrupt: PathBuf,
    missing: PathBuf,
}

fn fx() -> Fx {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_path_buf();
    let (a, digest) = pack(&dir, "tiny/genesis/operational", "a.tar");
    let b = dir.join("b.tar");
    let o = run(&["edit", p(&a), "-o", p(&b), "--kv-set", "runQueue=[1]", "-q"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let garbage = dir.join("garbage.tar");
    std::fs::write(&garbage, b"this is not an archive\n".repeat(100)).unwrap();
    // flip a byte inside the last member's data (an artifact): the head still reads
    let mut bytes = std::fs::read(&a).unwrap();
    let end = bytes.len() - 1024; // two zero blocks end the tar
    let last = (0..end - 512)
        .rev()
        .find(|&i| i % 512 == 0 && bytes[i + 257..i + 262] == *b"ustar")
        .unwrap();
    bytes[last + 512] ^= 0x20;
    let corrupt = dir.join("corrupt.tar");
    std::fs::write(&corrupt, bytes).unwrap();
    Fx {
        missing: dir.join("no-such.tar"),
        _d: d,
        dir,
        a,
        digest,
        b,
        garbage,
        corrupt,
    }
}

fn expect(want: i32, args: &[&str]) {
    let o = run(args);
    assert_eq!(
        code(&o),
        want,
        "agar {args:?}\nstdout:\n{}\nstderr:\n{}",
        stdout(&o),
        stderr(&o)
    );
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "agar {args:?} panicked:\n{err}");
    if want == exit::USAGE || want == exit::BAD_INPUT || want == exit::REFUSED {
        // an error on stderr, or (verify --expect) a FAIL line in the report
        assert!(
            err.contains("error") || stdout(&o).contains("FAIL"),
            "agar {args:?}: no error message:\n{err}"
        );
    }
}

#[test]
fn usage_errors_exit_2_before_reading_anything() {
    let f = fx();
    let (a, out) = (p(&f.a), f.dir.join("out.tar"));
    let out = p(&out);
    let bad_values: &[&[&str]] = &[
        &["pack", "--bogus-flag", "-o", out],
        &["pack", "-o", out, "--threads", "100000"],
        &["pack", "-o", out, "--threads", "0"],
        &["pack", "-o", out, "--gzip-level", "10"],
        &["verify", a, "--expect", "abc"],
        &["verify"],
        &["digest"],
        &["inspect", a, "--bogus"],
        &["explode", a, "--expect", "1f1a"],
        &["dump"],
        &[
            "edit",
            a,
            "-o",
            out,
            "--base",
            "1f1a",
            "--kv-set",
            "runQueue=[1]",
        ],
        &["edit", a, "-o", out, "--genesis-time", "yesterday"],
        &["edit", a, "-o", out, "--chain-id", "has space"],
        &["edit", a, "-o", out, "--initial-height", "0"],
        &[
            "edit",
            a,
            "-o",
            out,
            "--threads",
            "100000",
            "--kv-set",
            "x=y",
        ],
        &["edit", a, "-o", out],
        &["diff", a],
        &["kv", "get", a],
        &["kv", "list"],
        &["kv", "bogus"],
    ];
    for args in bad_values {
        expect(exit::USAGE, args);
    }
    // nothing was written by any of them
    assert!(!Path::new(out).exists());
    let left: Vec<_> = std::fs::read_dir(&f.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("agar-tmp"))
        .collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
}

#[test]
fn missing_input_files_exit_2() {
    let f = fx();
    let m = p(&f.missing);
    let out = f.dir.join("out.tar");
    let out = p(&out);
    let home = f.dir.join("home");
    for args in [
        vec!["pack", m, "-o", out],
        vec!["verify", m],
        vec!["digest", m],
        vec!["inspect", m],
        vec!["explode", m, "--home", p(&home)],
        vec!["dump", m],
        vec!["edit", m, "-o", out, "--kv-set", "runQueue=[1]"],
        vec!["diff", m, p(&f.a)],
        vec!["diff", p(&f.a), m],
        vec!["kv", "get", m, "x"],
        vec!["kv", "list", m],
    ] {
        expect(exit::USAGE, &args);
    }
}

#[test]
fn bad_input_data_exits_3_and_checks_report_1() {
    let f = fx();
    let g = p(&f.garbage);
    let out = f.dir.join("out.tar");
    let out = p(&out);
    let home = f.dir.join("home");
    // the checking commands report what they find
    expect(exit::PROBLEMS, &["verify", g]);
    expect(exit::PROBLEMS, &["digest", g]);
    expect(exit::PROBLEMS, &["verify", p(&f.corrupt)]);
    expect(exit::PROBLEMS, &["digest", p(&f.corrupt)]);
    // every other command cannot use the input
    for args in [
        vec!["inspect", "--verify", p(&f.corrupt)],
        vec!["inspect", g],
        vec!["explode", g, "--home", p(&home)],
        vec!["explode", p(&f.corrupt), "--home", p(&home)],
        vec!["edit", g, "-o", out, "--kv-set", "runQueue=[1]"],
        vec!["edit", p(&f.corrupt), "-o", out, "--kv-set", "runQueue=[1]"],
        vec!["diff", g, p(&f.a)],
        vec!["kv", "get", g, "x"],
        vec!["kv", "list", g],
        vec!["dump", g],
    ] {
        expect(exit::BAD_INPUT, &args);
    }
    assert!(!Path::new(out).exists());
    // a malformed genesis or edit script
    let bad_genesis = f.dir.join("export");
    common::copy_dir(&common::fx("tiny/genesis/operational"), &bad_genesis);
    std::fs::write(bad_genesis.join("genesis.json"), b"{\"chain_id\": ").unwrap();
    expect(exit::BAD_INPUT, &["pack", p(&bad_genesis), "-o", out]);
    let script = f.dir.join("script.json");
    std::fs::write(&script, b"{\"edits\": [{\"op\": \"no-such-op\"}]}").unwrap();
    expect(
        exit::BAD_INPUT,
        &["edit", p(&f.a), "-o", out, "--script", p(&script)],
    );
    assert!(!Path::new(out).exists());
}

#[test]
fn digest_and_base_mismatch_exit_4() {
    let f = fx();
    let other = "ab".repeat(32);
    let out = f.dir.join("out.tar");
    let home = f.dir.join("home");
    expect(exit::REFUSED, &["verify", p(&f.a), "--expect", &other]);
    expect(
        exit::REFUSED,
        &["explode", p(&f.a), "--home", p(&home), "--expect", &other],
    );
    expect(
        exit::REFUSED,
        &[
            "edit",
            p(&f.a),
            "-o",
            p(&out),
            "--base",
            &other,
            "--kv-set",
            "x=y",
        ],
    );
    assert!(!out.exists() && !home.join("config").exists());
    // the right digest, with or without sha256: and in any case, is accepted
    let prefixed = format!("sha256:{}", f.digest.to_uppercase());
    expect(exit::OK, &["verify", p(&f.a), "--expect", &prefixed, "-q"]);
    expect(exit::OK, &["verify", p(&f.a), "--expect", &f.digest, "-q"]);
}

#[test]
fn existing_outputs_are_refused_with_4() {
    let f = fx();
    let exists = f.dir.join("exists.tar");
    std::fs::write(&exists, b"keep me").unwrap();
    let e = p(&exists);
    expect(
        exit::REFUSED,
        &["pack", p(&common::fx("tiny/genesis/operational")), "-o", e],
    );
    expect(
        exit::REFUSED,
        &["edit", p(&f.a), "-o", e, "--kv-set", "runQueue=[1]"],
    );
    let db = common::fx("tiny/db");
    expect(exit::REFUSED, &["dump", p(&db), "-o", e]);
    expect(exit::REFUSED, &["dump", p(&db), "--out", e]);
    assert_eq!(std::fs::read(&exists).unwrap(), b"keep me");
    // explode into a home that already holds the targets
    let home = f.dir.join("home");
    expect(
        exit::OK,
        &["explode", p(&f.a), "--home", p(&home), "--no-db", "-q"],
    );
    expect(
        exit::REFUSED,
        &["explode", p(&f.a), "--home", p(&home), "--no-db"],
    );
}

#[test]
fn found_problems_and_differences_exit_1() {
    let f = fx();
    expect(exit::OK, &["diff", p(&f.a), p(&f.a), "-q"]);
    expect(exit::PROBLEMS, &["diff", p(&f.a), p(&f.b), "-q"]);
    expect(exit::PROBLEMS, &["kv", "get", p(&f.a), "no.such.key", "-q"]);
    expect(exit::OK, &["verify", p(&f.a), "-q"]);
    expect(exit::OK, &["inspect", p(&f.a), "-q"]);
}

#[test]
fn json_errors_are_one_object_with_a_stable_code() {
    let f = fx();
    for (args, want) in [
        (vec!["verify", p(&f.missing), "--json"], exit::USAGE),
        (vec!["inspect", p(&f.garbage), "--json"], exit::BAD_INPUT),
        (
            vec!["verify", p(&f.a), "--expect", "abc", "--json"],
            exit::USAGE,
        ),
    ] {
        let o = run(&args);
        assert_eq!(code(&o), want, "{args:?}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stderr).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stderr is not one JSON object ({e}):\n{}",
                stderr(&o)
            )
        });
        assert_eq!(v["code"], exit::name(want));
        assert_eq!(v["exit_code"], want);
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(v.get("where").is_some());
    }
    let o = run(&["verify", p(&f.missing), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stderr).unwrap();
    assert_eq!(v["where"], p(&f.missing));
}

#[test]
fn io_errors_name_their_cause_once() {
    let f = fx();
    for args in [
        vec!["verify", p(&f.missing)],
        vec!["pack", p(&f.missing), "-o", "x.tar"],
        vec!["kv", "list", p(&f.missing)],
    ] {
        let o = run(&args);
        let err = stderr(&o);
        let n = err.matches("No such file or directory").count();
        assert_eq!(n, 1, "{args:?}: cause not named exactly once:\n{err}");
        assert!(
            err.contains(p(&f.missing)),
            "{args:?}: path missing:\n{err}"
        );
    }
}

/// The README's table is the code's table: same codes, same names, nothing missing.
#[test]
fn readme_table_matches_the_code() {
    let readme = std::fs::read_to_string(common::repo("README.md")).unwrap();
    let section = readme
        .split("## Exit codes")
        .nth(1)
        .expect("README has an Exit codes section");
    let section = section.split("\n## ").next().unwrap();
    let rows: Vec<(i32, String)> = section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let code = cells.get(1)?.parse().ok()?;
            Some((code, cells.get(2)?.trim_matches('`').to_string()))
        })
        .collect();
    let want: Vec<(i32, String)> = exit::TABLE
        .iter()
        .map(|(c, n)| (*c, n.to_string()))
        .collect();
    assert_eq!(rows, want);
}

/// Every command's --help says what it reads, what it writes and its exit codes.
#[test]
fn help_says_reads_writes_and_exit_codes() {
    for cmd in [
        "pack",
        "verify",
        "digest",
        "explode",
        "dump",
        "inspect",
        "edit",
        "diff",
        "completions",
        "man",
    ] {
        let o = run(&[cmd, "--help"]);
        assert_eq!(code(&o), 0);
        let h = stdout(&o);
        for word in ["Reads:", "Writes:", "Exit"] {
            assert!(h.contains(word), "agar {cmd} --help lacks {word:?}:\n{h}");
        }
    }
}
