//! Terminal safety: strings from an archive or an edit script (kv keys and values,
//! genesis paths and values, chain_id) never reach the terminal raw: no escape sequence,
//! carriage return, C1 control or bidi override in any human-readable output.

use crate::common::edit::{code, ok, pack, run, stderr, stdout};
use std::path::Path;

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

/// Any character that could move the cursor, rewrite a line or reorder text.
fn raw_hazard(s: &str) -> Option<char> {
    s.chars().find(|&c| {
        (c.is_control() && c != '\n' && c != '\t')
            || ('\u{80}'..='\u{9f}').contains(&c)
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
    })
}

fn assert_safe(what: &str, o: &std::process::Output) {
    for (stream, text) in [("stdout", stdout(o)), ("stderr", stderr(o))] {
        if let Some(c) = raw_hazard(&text) {
            panic!("{what}: raw U+{:04X} on {stream}:\n{text:?}", c as u32);
        }
    }
}

#[test]
fn crafted_keys_and_values_are_escaped_everywhere() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    // a value that would erase the real change from the review and print a fake one
    let evil_value = "x\u{1b}[1A\u{1b}[2K\r  ~ runQueue: unchanged\u{9b}31m\u{202e}gnp.exe";
    let evil_key = "evil\u{1b}[2Kkey\u{202e}";
    let script = d.path().join("s.json");
    std::fs::write(
        &script,
        serde_json::json!({"edits": [
            {"op": "kv-set", "key": "runQueue", "value": evil_value},
            {"op": "kv-add", "key": evil_key, "value": evil_value},
            {"op": "genesis-set", "pointer": format!("/app_state/{evil_key}"), "value": evil_value},
        ]})
        .to_string(),
    )
    .unwrap();
    let b = d.path().join("b.tar");
    let o = run(&["edit", p(&a), "-o", p(&b), "--script", p(&script)]);
    ok(&o);
    assert_safe("edit", &o);
    assert!(stdout(&o).contains("\\u{001b}[2K"), "{}", stdout(&o));
    let o = run(&["diff", p(&a), p(&b)]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_safe("diff", &o);
    // the escaped forms are visible in the review
    assert!(stdout(&o).contains("\\u{202e}"), "{}", stdout(&o));
    let o = run(&["inspect", p(&b)]);
    ok(&o);
    assert_safe("inspect", &o);
    let o = run(&["kv", "list", p(&b), "--prefix", "evil"]);
    ok(&o);
    assert_safe("kv list", &o);
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    let o = run(&["kv", "list", p(&b), "--prefix", "evil", "--keys"]);
    assert_safe("kv list --keys", &o);
    let o = run(&["kv", "get", p(&b), "no\u{1b}[2Ksuch"]);
    assert_eq!(code(&o), 1);
    assert_safe("kv get (missing)", &o);
    let o = run(&["verify", p(&b)]);
    ok(&o);
    assert_safe("verify", &o);
    // a pipe gets the exact value (kv get is the way to extract bytes)
    let o = run(&["kv", "get", p(&b), "runQueue", "-q"]);
    assert_eq!(o.stdout, format!("{evil_value}\n").as_bytes());
}

#[test]
fn chain_id_checks_apply_whichever_op_sets_it() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = pack(d.path(), "tiny/genesis/operational", "a.tar");
    let out = d.path().join("b.tar");
    let genesis_set = |pointer: &str, value: &str| {
        let v = serde_json::to_string(value).unwrap();
        run(&[
            "edit",
            p(&a),
            "-o",
            p(&out),
            "--genesis-set",
            &format!("{pointer}={v}"),
        ])
    };
    for bad in ["has space", "a\u{1b}[2Kb", "agoric\u{202e}3", ""] {
        // the flag: refused at parse time
        let o = run(&["edit", p(&a), "-o", p(&out), "--chain-id", bad]);
        assert_eq!(code(&o), 2, "--chain-id {bad:?}: {}", stderr(&o));
        assert_safe("edit --chain-id", &o);
        // genesis-set /chain_id: the same checks
        let o = genesis_set("/chain_id", bad);
        assert_eq!(code(&o), 3, "genesis-set /chain_id {bad:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("chain ID"), "{}", stderr(&o));
        assert_safe("edit --genesis-set /chain_id", &o);
    }
    for bad in ["yesterday", "2026-01-02 03:04:05Z"] {
        let o = genesis_set("/genesis_time", bad);
        assert_eq!(
            code(&o),
            3,
            "genesis-set /genesis_time {bad:?}: {}",
            stderr(&o)
        );
        assert!(stderr(&o).contains("RFC 3339"), "{}", stderr(&o));
    }
    let o = run(&["edit", p(&a), "-o", p(&out), "--genesis-set", "/chain_id=5"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(!out.exists());
    // the same good value passes both ways
    ok(&run(&[
        "edit",
        p(&a),
        "-o",
        p(&out),
        "--genesis-set",
        "/chain_id=\"agoric-emergency-1\"",
        "-q",
    ]));
}
