//! Conventions shared by every command: `-` reads an archive from stdin, output names
//! are case-insensitive, `-o/--output` with no overwrite unless `--force` (dump too).

use crate::common;

use crate::common::edit::{code, ok, pack, run, run_stdin, stderr, stdout};
use std::path::Path;

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

#[test]
fn dash_reads_the_archive_from_stdin() {
    let d = tempfile::tempdir().unwrap();
    let (a, digest) = pack(d.path(), "tiny/genesis/operational", "a.tar.gz");
    let bytes = std::fs::read(&a).unwrap();
    let o = run_stdin(&["digest", "-", "-q"], &bytes);
    ok(&o);
    assert!(stdout(&o).contains(&digest), "{}", stdout(&o));
    ok(&run_stdin(
        &["verify", "-", "--expect", &digest, "-q"],
        &bytes,
    ));
    ok(&run_stdin(&["inspect", "-", "-q"], &bytes));
    let o = run_stdin(&["kv", "get", "-", "runQueue", "-q"], &bytes);
    ok(&o);
    assert_eq!(o.stdout, b"[106,136]\n");
    ok(&run_stdin(&["diff", "-", p(&a), "-q"], &bytes));
    let home = d.path().join("home");
    ok(&run_stdin(
        &[
            "explode",
            "-",
            "--home",
            p(&home),
            "--no-db",
            "--expect",
            &digest,
            "-q",
        ],
        &bytes,
    ));
    assert!(home.join("config/genesis.json").exists());
    // a truncated stream is bad input, as from a file
    let o = run_stdin(&["inspect", "-", "-q"], &bytes[..bytes.len() / 2]);
    assert_ne!(code(&o), 0);
    // edit reads its input twice: refused as a usage error, nothing written
    let out = d.path().join("b.tar");
    let o = run_stdin(
        &["edit", "-", "-o", p(&out), "--kv-set", "runQueue=[]"],
        &bytes,
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(!out.exists());
    let o = run_stdin(&["diff", "-", "-"], &bytes);
    assert_eq!(code(&o), 2);
}

#[test]
fn output_names_are_case_insensitive() {
    let d = tempfile::tempdir().unwrap();
    let (a, digest) = pack(d.path(), "tiny/genesis/operational", "A.TAR.GZ");
    assert_eq!(&std::fs::read(&a).unwrap()[..2], &[0x1f, 0x8b], "gzip");
    let (b, digest2) = pack(d.path(), "tiny/genesis/operational", "B.Tar");
    assert_eq!(digest, digest2);
    assert_ne!(&std::fs::read(&b).unwrap()[..2], &[0x1f, 0x8b]);
    let o = run(&[
        "pack",
        p(&common::fx("tiny/genesis/operational")),
        "-o",
        p(&d.path().join("c.zip")),
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

#[test]
fn dump_writes_with_output_and_refuses_to_overwrite() {
    let d = tempfile::tempdir().unwrap();
    let db = common::fx("tiny/db");
    let out = d.path().join("dump.txt");
    ok(&run(&["dump", p(&db), "-o", p(&out)]));
    let first = std::fs::read(&out).unwrap();
    assert_eq!(first, ok(&run(&["dump", p(&db)])).stdout);
    let o = run(&["dump", p(&db), "--output", p(&out)]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    std::fs::write(&out, b"old").unwrap();
    ok(&run(&["dump", p(&db), "-o", p(&out), "--force"]));
    assert_eq!(std::fs::read(&out).unwrap(), first);
    // a failed dump leaves nothing, not even a temp file
    let bad = d.path().join("bad.sqlite");
    std::fs::write(&bad, b"not a database").unwrap();
    let out2 = d.path().join("dump2.txt");
    let o = run(&["dump", p(&bad), "-o", p(&out2)]);
    assert_ne!(code(&o), 0);
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("dump2"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
