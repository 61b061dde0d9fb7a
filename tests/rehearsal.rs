//! Runs examples/rehearsal.sh (the operator's rehearsal) end to end on the shipped example.

use crate::common::edit::*;
use std::process::Command;

#[test]
fn rehearsal_script_runs() {
    let d = tempfile::tempdir().unwrap();
    let work = d.path().join("work");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rehearsal.sh");
    let o = Command::new("bash")
        .arg(&script)
        .arg(&work)
        .env("AGAR", BIN)
        .output()
        .expect("run bash");
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "rehearsal failed:\n{out}\n{}",
        stderr(&o)
    );
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("rehearsal OK: published "), "{last}");
    let words: Vec<&str> = last.split_whitespace().collect();
    let (published, edited) = (words[3].trim_end_matches(','), words[5]);
    assert_eq!(published, tar_digest(&work.join("genesis.tar.gz")));
    assert_eq!(edited, tar_digest(&work.join("edited.tar.gz")));
    assert_eq!(edited, tar_digest(&work.join("validator2.tar")));
    assert_ne!(published, edited);
    // the script's kv edit is in the edited archive, and its provenance names the parent
    let g = run(&[
        "kv",
        "get",
        work.join("edited.tar.gz").to_str().unwrap(),
        "gcActions",
        "-q",
    ]);
    assert_eq!(ok(&g).stdout, b"[]\n");
    // both throwaway validators attested, and the threshold of 2 held
    assert!(
        out.contains("2 distinct principal(s) of the 2 required") && !out.contains("NOT"),
        "{out}"
    );
    let m = check_consistent(&work.join("edited.tar.gz"));
    assert_eq!(m["provenance"]["parent"], published);
    // step 7: the reset node home holds the edited archive's config and kept its key; no
    // DB (agd builds it at InitGenesis)
    let home = work.join("node-home");
    assert_eq!(
        std::fs::read_to_string(home.join("config/priv_validator_key.json")).unwrap(),
        "{\"priv_key\":\"rehearsal\"}\n"
    );
    assert!(home.join("config/swing-store/export-data.jsonl").is_file());
    assert!(!home.join("data/agoric").exists());
}
