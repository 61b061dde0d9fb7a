//! Limits that keep round trips closed (issue 10): what edit writes, verify accepts.

use crate::common::*;

/// Heights are bounded to 2^53 - 1 wherever they can be set: at the bound an edit
/// writes an archive verify accepts; one above, every way of setting it is refused.
#[test]
fn heights_above_2_pow_53_minus_1_are_refused_by_edit_and_accepted_up_to_it() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a.tar");
    pack_dir(&fx("tiny/genesis/operational"), &a);
    let max = "9007199254740991";
    let b = d.path().join("b.tar");
    ok(&["edit", p(&a), "-o", p(&b), "--initial-height", max, "-q"]);
    let v = ok(&["verify", p(&b)]);
    assert!(v.contains("OK"), "{v}");
    for args in [
        vec!["--initial-height", "9007199254740992"],
        vec!["--genesis-set", "/initial_height=9007199254740992"],
    ] {
        let c = d.path().join("c.tar");
        let mut all = vec!["edit", p(&a), "-o", p(&c), "-q"];
        all.extend(args.iter().copied());
        let o = agar(&all);
        assert!(!o.status.success(), "{args:?} accepted");
        assert!(stderr(&o).contains("2^53"), "{args:?}: {}", stderr(&o));
        assert!(!c.exists(), "{args:?} left output");
    }
}
