//! The archive reader's one-pass check of the genesis member: canonical form, fields
//! against the manifest, digest, in one stream.

use crate::common::*;

fn verify_text(path: &std::path::Path) -> (Option<i32>, String) {
    let o = agar(&["verify", p(path)]);
    (o.status.code(), format!("{}{}", stdout(&o), stderr(&o)))
}

#[test]
fn a_genesis_member_that_is_valid_json_but_not_canonical_is_a_problem_verify_reports() {
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("good.tar");
    pack_dir(&fx("tiny/genesis/debug"), &good);
    let s = craft::split(&std::fs::read(&good).unwrap());
    let g = s.contents()[0].1.clone();
    let text = String::from_utf8(g.clone()).unwrap();
    for (what, bad, want) in [
        ("a space", text.replacen("{", "{ ", 1), "at byte 1"),
        ("no final newline", text.trim_end().to_string(), "newline"),
        (
            "an uppercase \\u escape",
            text.replacen("\"fixturegen-tiny\"", "\"fixturegen-tin\\u0079\"", 1),
            "escape",
        ),
        (
            "an exponent without sign",
            text.replacen("\"initial_height\":28}", "\"initial_height\":28e0}", 1),
            "exponent",
        ),
        (
            "keys out of order",
            text.replacen("{\"app_hash\":", "{\"zz\":1,\"app_hash\":", 1),
            "sorted order",
        ),
    ] {
        assert!(bad.as_bytes() != &g[..], "{what}: no change");
        let mut c = s.contents();
        c[0].1 = bad.into_bytes();
        let out = t.path().join("bad.tar");
        std::fs::write(&out, craft::rebuild(&s.manifest, &c)).unwrap();
        let (code, text) = verify_text(&out);
        assert_eq!(code, Some(1), "{what}: {text}");
        assert!(text.contains("not in canonical form"), "{what}: {text}");
        assert!(text.contains(want), "{what}: {text}");
        // explode stops at the first problem and writes nothing
        let home = t.path().join("home");
        let o = agar(&["explode", p(&out), "--home", p(&home), "-q"]);
        assert_eq!(o.status.code(), Some(3), "{what}: {}", stderr(&o));
        assert!(!home.join("config").join("genesis.json").exists());
    }
}
