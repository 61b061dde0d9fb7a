//! The streaming JSON layer (src/json) against the tree-based reference
//! (tests/common/reference.rs): generated documents, every fixture genesis, edge cases;
//! the canonical checker accepts exactly canonical text; rewrites and the lockstep differ
//! agree with what a tree would say.

use crate::common;

use std::io::Cursor;

use crate::common::reference;
use agar::json::walk::{walk, Action, Edit, Element, Hook};
use proptest::prelude::*;

fn streaming(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    agar::json::canon::canonicalize(Cursor::new(text), "t", &mut out)
        .map(|_| out)
        .map_err(|e| e.to_string())
}

/// Both refuse, or both give the same bytes.
fn check_same(text: &[u8]) -> Option<Vec<u8>> {
    let r = reference::canonical(text);
    let s = streaming(text);
    match (&r, &s) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(b),
                "input {:?}",
                String::from_utf8_lossy(text)
            );
            Some(a.clone())
        }
        (Err(_), Err(_)) => None,
        _ => panic!(
            "reference {r:?} vs streaming {s:?} on {:?}",
            String::from_utf8_lossy(text)
        ),
    }
}

/// The canonical checker accepts exactly the canonical text, and copies it unchanged.
fn check_walk(text: &[u8], canonical: Option<&[u8]>) {
    let is_canonical = canonical == Some(text);
    let mut copy = Vec::new();
    let w = walk(text, "t", Some(&mut copy), &[], None);
    assert_eq!(
        w.is_ok(),
        is_canonical,
        "checker on {:?}: {:?}",
        String::from_utf8_lossy(text),
        w.err()
    );
    if is_canonical {
        assert_eq!(copy, text);
    }
}

#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(Vec<(char, u8)>),
    Arr(Vec<J>),
    Obj(Vec<(Vec<(char, u8)>, J)>),
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-0".to_string()),
        Just("-0.0".to_string()),
        Just("1e2".to_string()),
        Just("1E2".to_string()),
        Just("1e+2".to_string()),
        Just("1E-2".to_string()),
        Just("-1.50e007".to_string()),
        Just("12345678901234567890123".to_string()),
        Just("18446744073709551615".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("1.0".to_string()),
        Just("1e400".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        (any::<u32>(), 0u32..1000).prop_map(|(a, b)| format!("{a}.{b:03}")),
    ]
}

fn chr() -> impl Strategy<Value = (char, u8)> {
    let c = prop_oneof![
        4 => proptest::char::range('a', 'e'),
        1 => any::<char>(),
        2 => proptest::sample::select(vec![
            '"', '\\', '/', '\u{0}', '\u{1f}', '\u{7f}', '\u{8}', '\t', '\n', '\u{c}', '\r',
            '\u{2028}', 'é', '😀', '\u{ffff}', '\u{10ffff}', '<', '&',
        ]),
    ];
    (c, 0u8..4)
}

fn key() -> impl Strategy<Value = Vec<(char, u8)>> {
    prop_oneof![
        // a small pool: duplicates and shared prefixes happen
        3 => proptest::collection::vec((proptest::char::range('a', 'c'), 0u8..4), 0..3),
        1 => proptest::collection::vec(chr(), 0..6),
    ]
}

fn json() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        number().prop_map(J::Num),
        proptest::collection::vec(chr(), 0..12).prop_map(J::Str),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(J::Arr),
            proptest::collection::vec((key(), inner), 0..8).prop_map(J::Obj),
        ]
    })
}

fn put_str(out: &mut String, s: &[(char, u8)]) {
    out.push('"');
    for &(c, style) in s {
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '/' => Some("\\/"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            _ => None,
        };
        let raw_ok = !matches!(c, '"' | '\\') && c >= ' ';
        let u = |upper: bool, out: &mut String| {
            let mut b = [0u16; 2];
            for unit in c.encode_utf16(&mut b) {
                if upper {
                    out.push_str(&format!("\\u{unit:04X}"));
                } else {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        };
        match style {
            0 if raw_ok => out.push(c),
            0 | 1 => match short {
                Some(s) => out.push_str(s),
                None => u(false, out),
            },
            2 => u(false, out),
            _ => u(true, out),
        }
    }
    out.push('"');
}

fn render(j: &J, ws: &[&str], i: &mut usize, out: &mut String) {
    let w = |out: &mut String, i: &mut usize| {
        out.push_str(ws[*i % ws.len()]);
        *i += 1;
    };
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) => out.push_str(n),
        J::Str(s) => put_str(out, s),
        J::Arr(a) => {
            out.push('[');
            for (k, x) in a.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                w(out, i);
                render(x, ws, i, out);
                w(out, i);
            }
            out.push(']');
        }
        J::Obj(m) => {
            out.push('{');
            for (k, (key, x)) in m.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                w(out, i);
                put_str(out, key);
                w(out, i);
                out.push(':');
                w(out, i);
                render(x, ws, i, out);
            }
            w(out, i);
            out.push('}');
        }
    }
}

fn text_of(j: &J, pretty: bool) -> String {
    let ws: &[&str] = if pretty {
        &["", " ", "\n  ", "\t", "\r\n"]
    } else {
        &[""]
    };
    let mut s = String::new();
    render(j, ws, &mut 0, &mut s);
    if pretty {
        s.push('\n');
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn streaming_equals_the_tree_reference(j in json(), pretty in any::<bool>()) {
        let text = text_of(&j, pretty);
        let canon = check_same(text.as_bytes());
        check_walk(text.as_bytes(), canon.as_deref());
        if let Some(c) = &canon {
            // canonical output is a fixed point, and the checker accepts it
            prop_assert_eq!(streaming(c).unwrap(), c.clone());
            check_walk(c, Some(c));
            // a document differs from itself nowhere
            let mut n = 0;
            agar::json::diff::diff(&c[..], &c[..], &[], &mut |_| n += 1).unwrap();
            prop_assert_eq!(n, 0);
        }
    }

    #[test]
    fn damaged_documents_are_refused_alike(j in json(), cut in any::<prop::sample::Index>(), byte in any::<u8>(), mode in 0u8..3) {
        let mut text = text_of(&j, true).into_bytes();
        let at = cut.index(text.len().max(1));
        match mode {
            0 => text.truncate(at),
            1 => { if at < text.len() { text[at] = byte } }
            _ => text.insert(at.min(text.len()), byte),
        }
        let canon = check_same(&text);
        check_walk(&text, canon.as_deref());
    }

    #[test]
    fn lockstep_diff_finds_exactly_the_changed_leaves(j in json(), k in json()) {
        // two documents {"a": j, "b": ...}: the differ's pointers equal a tree diff's
        let (Some(a), Some(b)) = (check_same(text_of(&j, false).as_bytes()), check_same(text_of(&k, false).as_bytes())) else {
            return Ok(());
        };
        let va: serde_json::Value = serde_json::from_slice(&a).unwrap();
        let vb: serde_json::Value = serde_json::from_slice(&b).unwrap();
        let mut want = Vec::new();
        tree_diff(&mut String::new(), &va, &vb, &mut want);
        let mut got = Vec::new();
        agar::json::diff::diff(&a[..], &b[..], &[], &mut |(p, x, y)| got.push((p, x.is_some(), y.is_some()))).unwrap();
        prop_assert_eq!(got, want);
    }
}

fn tree_diff(
    path: &mut String,
    a: &serde_json::Value,
    b: &serde_json::Value,
    out: &mut Vec<(String, bool, bool)>,
) {
    use serde_json::Value;
    if a == b {
        return;
    }
    let len = path.len();
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                path.push('/');
                path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => tree_diff(path, va, vb, out),
                    (va, vb) => out.push((path.clone(), va.is_some(), vb.is_some())),
                }
                path.truncate(len);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                path.push_str(&format!("/{i}"));
                match (x.get(i), y.get(i)) {
                    (Some(va), Some(vb)) => tree_diff(path, va, vb, out),
                    (va, vb) => out.push((path.clone(), va.is_some(), vb.is_some())),
                }
                path.truncate(len);
            }
        }
        _ => out.push((path.clone(), true, true)),
    }
}

#[test]
fn every_fixture_genesis_equals_the_reference() {
    let mut n = 0;
    let mut stack = vec![common::fx("")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".json") && name.contains("genesis") {
                let text = std::fs::read(&p).unwrap();
                let c = check_same(&text).unwrap_or_else(|| panic!("{} refused", p.display()));
                check_walk(&text, Some(&c));
                check_walk(&c, Some(&c));
                n += 1;
            }
        }
    }
    // tiny and pruned (both modes, both spellings), jq edge cases, the two real files
    assert!(n >= 11, "only {n} fixture genesis files found");
}

#[test]
fn edge_cases_equal_the_reference() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let deep_obj = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    let cases: Vec<String> = vec![
        "{}".into(),
        "[]".into(),
        "\"\"".into(),
        " 0 ".into(),
        "{\"a\":1,\"a\":1}".into(),
        "{\"a\":{\"x\":1,\"x\":2}}".into(),
        "{\"\\u0061\":1,\"a\":2}".into(),
        "{\"b\":1,\"a\":2,\"\":3,\"\\u00e9\":4,\"\\\"\":5}".into(),
        "\"\\ud800\"".into(),
        "\"\\udc00\"".into(),
        "\"\\ud83d\\ude00\"".into(),
        "\"\\ud83d\\u0041\"".into(),
        "\"\u{7f}\"".into(),
        "[1,]".into(),
        "{\"a\":1,}".into(),
        "[01]".into(),
        "[1.]".into(),
        "[.5]".into(),
        "[1e]".into(),
        "[-]".into(),
        "[+1]".into(),
        "[NaN]".into(),
        "[tru]".into(),
        "[true false]".into(),
        "{\"a\" 1}".into(),
        "{1:2}".into(),
        "\u{feff}{}".into(),
        "{} x".into(),
        "".into(),
        "   ".into(),
        deep(127),
        deep(128),
        deep_obj(126),
        deep_obj(127),
        deep_obj(128),
    ];
    for c in cases {
        let canon = check_same(c.as_bytes());
        check_walk(c.as_bytes(), canon.as_deref());
    }
    // invalid UTF-8 in a string, raw control characters
    for bad in [
        &b"\"\xff\""[..],
        b"\"\xc3\"",
        b"\"\xed\xa0\x80\"",
        b"\"\xf4\x90\x80\x80\"",
        b"\"a\x01\"",
        b"\"\xe2\x82\"",
    ] {
        assert!(check_same(bad).is_none());
    }
}

#[test]
fn wide_objects_spill_to_disk_and_still_sort_and_refuse_duplicates() {
    // past the in-memory index limit: sorted runs on disk, merged
    let n = agar::json::canon::SPILL_KEYS * 2 + 77;
    let mut keys: Vec<String> = (0..n)
        .map(|i| format!("k{:x}", i.wrapping_mul(2654435761) % 1_000_003))
        .collect();
    keys.sort();
    keys.dedup();
    let mut shuffled = keys.clone();
    // a deterministic shuffle
    let mut s = 12345u64;
    for i in (1..shuffled.len()).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        shuffled.swap(i, (s >> 33) as usize % (i + 1));
    }
    let mut text = String::from("{\"wide\":{");
    for (i, k) in shuffled.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!("\"{k}\":[{i},{{\"z\":1,\"a\":2}}]"));
    }
    text.push_str("},\"a\":0}");
    check_same(text.as_bytes()).expect("valid");
    // one duplicate, far apart (in different runs)
    let dup = text.replacen(
        "{\"wide\":{",
        &format!("{{\"wide\":{{\"{}\":null,", shuffled[shuffled.len() - 1]),
        1,
    );
    let e = streaming(dup.as_bytes()).unwrap_err();
    assert!(e.contains("duplicate object key"), "{e}");
    assert!(reference::canonical(dup.as_bytes()).is_err());
}

#[test]
fn rewrites_insert_replace_delete_at_pointer_paths() {
    let doc = b"{\"a\":{\"b\":[1,2,3],\"d\":\"x\"},\"z\":null}\n";
    let set = |p: &str, v: &str| Edit {
        pointer: p.into(),
        tokens: agar::edit::pointer::tokens(p).unwrap(),
        action: Action::Set(v.as_bytes().to_vec()),
    };
    let del = |p: &str| Edit {
        pointer: p.into(),
        tokens: agar::edit::pointer::tokens(p).unwrap(),
        action: Action::Delete,
    };
    let run = |edits: Vec<Edit>| -> Result<(String, Vec<Option<String>>), String> {
        let mut out = Vec::new();
        let w = walk(&doc[..], "t", Some(&mut out), &edits, None).map_err(|e| e.to_string())?;
        // the output is canonical
        walk(&out[..], "t", None, &[], None).unwrap();
        Ok((
            String::from_utf8(out).unwrap(),
            w.old
                .iter()
                .map(|o| o.as_ref().map(|o| o.render(100)))
                .collect(),
        ))
    };
    let (o, old) = run(vec![
        set("/a/c", "true"),
        set("/a/b/1", "{\"k\":0}"),
        set("/0", "\"first\""),
    ])
    .unwrap();
    assert_eq!(
        o,
        "{\"0\":\"first\",\"a\":{\"b\":[1,{\"k\":0},3],\"c\":true,\"d\":\"x\"},\"z\":null}\n"
    );
    assert_eq!(old, vec![None, Some("2".into()), None]);
    let (o, old) = run(vec![del("/a/d"), del("/a/b/0"), set("/zz", "[]")]).unwrap();
    assert_eq!(o, "{\"a\":{\"b\":[2,3]},\"z\":null,\"zz\":[]}\n");
    assert_eq!(old, vec![Some("\"x\"".into()), Some("1".into()), None]);
    let (o, _) = run(vec![set("/a/b/-", "4")]).unwrap();
    assert_eq!(o, "{\"a\":{\"b\":[1,2,3,4],\"d\":\"x\"},\"z\":null}\n");
    let (o, _) = run(vec![set("/a/b/3", "4")]).unwrap();
    assert_eq!(o, "{\"a\":{\"b\":[1,2,3,4],\"d\":\"x\"},\"z\":null}\n");
    let (o, old) = run(vec![set("/a", "0")]).unwrap();
    assert_eq!(o, "{\"a\":0,\"z\":null}\n");
    assert_eq!(old, vec![Some("{\"b\":[1,2,3],\"d\":\"x\"}".into())]);
    for (edits, want) in [
        (vec![set("/a/b/9", "0")], "out of range"),
        (vec![del("/a/b/3")], "out of range"),
        (vec![set("/nope/x", "0")], "does not exist"),
        (vec![del("/a/nope")], "does not exist"),
        (vec![set("/a/d/x", "0")], "not an object or array"),
        (vec![set("/a/b/x", "0")], "not an array index"),
    ] {
        let e = run(edits).unwrap_err();
        assert!(e.contains(want), "{e}");
    }
}

/// `doc` rewritten with `f` hooked on the array at `/v`.
fn walk_hooked(doc: &[u8], f: &mut dyn FnMut(u64, &[u8]) -> agar::Result<Element>) -> String {
    let mut out = Vec::new();
    walk(
        doc,
        "t",
        Some(&mut out),
        &[],
        Some(Hook {
            tokens: vec!["v".into()],
            f,
        }),
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_hook_sees_each_array_element_and_may_replace_or_remove_it() {
    let doc = b"{\"v\":[{\"n\":1},{\"n\":2},{\"n\":3}],\"w\":[0]}\n";
    let mut seen = Vec::new();
    let mut f = |i: u64, el: &[u8]| -> agar::Result<Element> {
        seen.push((i, String::from_utf8_lossy(el).into_owned()));
        Ok(match i {
            0 => Element::Replace(b"{\"n\":10}".to_vec()),
            1 => Element::Remove,
            _ => Element::Keep,
        })
    };
    assert_eq!(
        walk_hooked(doc, &mut f),
        "{\"v\":[{\"n\":10},{\"n\":3}],\"w\":[0]}\n"
    );
    assert_eq!(
        seen,
        vec![
            (0, "{\"n\":1}".to_string()),
            (1, "{\"n\":2}".to_string()),
            (2, "{\"n\":3}".to_string())
        ]
    );
}

#[test]
fn the_hook_may_splice_elements_in_before_after_or_instead() {
    // the hook writes several elements in one's place: an insertion before (0), after
    // (2, the last), and a removal that leaves two others (1)
    let doc = b"{\"v\":[1,2,3],\"w\":[0]}\n";
    let mut f = |i: u64, el: &[u8]| -> agar::Result<Element> {
        Ok(Element::Splice(match i {
            0 => vec![b"0".to_vec(), el.to_vec()],
            1 => vec![b"20".to_vec(), b"21".to_vec()],
            _ => vec![el.to_vec(), b"4".to_vec()],
        }))
    };
    assert_eq!(
        walk_hooked(doc, &mut f),
        "{\"v\":[0,1,20,21,3,4],\"w\":[0]}\n"
    );
}

#[test]
fn genesis_fields_and_the_initial_height_type() {
    for (text, string) in [
        (
            "{\"app_state\":{\"swingset\":{}},\"chain_id\":\"c\",\"initial_height\":\"7\"}",
            true,
        ),
        (
            "{\"app_state\":{\"swingset\":{}},\"chain_id\":\"c\",\"initial_height\":7}",
            false,
        ),
    ] {
        let g = agar::genesis::CanonicalGenesis::canonicalize(Cursor::new(text), "g").unwrap();
        assert_eq!(g.genesis.initial_height, 7);
        assert_eq!(g.genesis.height_is_string, string);
        assert_eq!(g.genesis.chain_id, "c");
        let g2 = g.with_export_data_hash("sha256:00").unwrap();
        let mut b = Vec::new();
        g2.copy_to(&mut b).unwrap();
        let h = if string { "\"7\"" } else { "7" };
        assert_eq!(
            String::from_utf8(b).unwrap(),
            format!("{{\"app_state\":{{\"swingset\":{{\"swing_store_export_data\":[],\"swing_store_export_data_hash\":\"sha256:00\"}}}},\"chain_id\":\"c\",\"initial_height\":{h}}}\n")
        );
        assert_eq!(
            g2.genesis.export_data_hash().unwrap().as_deref(),
            Some("sha256:00")
        );
    }
    for (text, want) in [
        ("[]", "not a JSON object"),
        ("{\"chain_id\":\"c\",\"initial_height\":1}", "no app_state.swingset"),
        ("{\"app_state\":{\"swingset\":{}},\"initial_height\":1}", "chain_id"),
        ("{\"app_state\":{\"swingset\":{}},\"chain_id\":\"c\",\"initial_height\":9007199254740992}", "initial_height"),
        ("{\"app_state\":{\"swingset\":{}},\"chain_id\":\"c\",\"initial_height\":\"0\"}", "initial_height"),
        ("{\"app_state\":{\"swingset\":{\"swingStoreExportData\":[],\"swing_store_export_data\":[]}},\"chain_id\":\"c\",\"initial_height\":1}", "both snake_case and camelCase"),
    ] {
        let e = agar::genesis::CanonicalGenesis::canonicalize(Cursor::new(text), "g")
            .err()
            .unwrap_or_else(|| panic!("{text} accepted"))
            .to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
}

/// A document of `n` bytes and more: big containers nested in objects (their ends are
/// recorded by the first skip and reused by the inner indexes), long strings with
/// escapes, 0x7f, non-ASCII and surrogate pairs, keys needing escapes.
fn big_doc(pad: &str) -> String {
    let pieces = [
        "a",
        "\\\"",
        "\\\\",
        "\\n",
        "\\u0001",
        "\\u007f",
        "\u{7f}",
        "é",
        "€",
        "😀",
        "\\ud83d\\ude00",
        "\\u00e9",
        "\\/",
        "abcdefghijklmnop",
        "{",
        "]",
    ];
    let mut x: u64 = 99;
    let mut rnd = |n: usize| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize % n
    };
    let mut arr = String::from("[");
    let mut i = 0;
    while arr.len() < 400_000 {
        if i > 0 {
            arr.push(',');
        }
        i += 1;
        arr.push_str(&format!(
            "{{\"k\\u00{:02x}{}\":\"",
            0x20 + rnd(0x5f),
            rnd(50)
        ));
        for _ in 0..rnd(if i % 7 == 0 { 3000 } else { 30 }) {
            arr.push_str(pieces[rnd(pieces.len())]);
        }
        arr.push_str("\",\"b\":{\"z\":[1,-2.5E3,\"x\"],\"a\":true},\"a\":null}");
    }
    arr.push(']');
    format!(
        "{{\"pad\":\"{pad}\",\"m\":{{\"y\":{{\"w\":{arr},\"v\":{{\"s\":{arr}}}}},\"x\":{arr}}},\"a\":{arr}}}"
    )
}

#[test]
fn big_nested_containers_and_strings_across_the_read_buffer_equal_the_reference() {
    let doc = big_doc("");
    let c = check_same(doc.as_bytes()).expect("valid");
    check_walk(&c, Some(&c));
    // an escape, a multi-byte character, 0x7f at every position around the 1 MiB buffer
    // edge (the first read), in a string the root's skip crosses it in
    for piece in ["\\\"", "\\u00e9", "\\ud83d\\ude00", "😀", "\u{7f}", "\\\\"] {
        for k in 0..8 {
            let p = "p".repeat((1 << 20) - 8 - k - 1);
            let d = big_doc(&format!("{p}{piece}{}", "r".repeat(40)));
            check_same(d.as_bytes()).expect("valid");
        }
    }
    // damaged around buffer edges and inside the big containers: refused alike
    let mut x: u64 = 5;
    let mut at: Vec<usize> = (1..2).flat_map(|m| (m << 20) - 4..(m << 20) + 4).collect();
    for _ in 0..40 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        at.push((x >> 33) as usize % c.len());
    }
    // (and the canonical text, through the checker)
    for b in [doc.as_bytes(), &c[..]] {
        for (i, &a) in at.iter().enumerate() {
            let mut d = b.to_vec();
            let a = a.min(d.len() - 1);
            match i % 3 {
                0 => d.truncate(a),
                1 => d[a] = [b'"', b'\\', 0x01, 0xff, b'}', b'['][i % 6],
                _ => d.insert(a, [b'"', 0xc3, b']', b'{', 0x7f][i % 5]),
            }
            let canon = check_same(&d);
            check_walk(&d, canon.as_deref());
        }
    }
}

#[test]
fn errors_found_by_the_lax_skip_keep_their_message_and_byte() {
    let doc = big_doc("");
    let err = |t: &str| streaming(t.as_bytes()).unwrap_err();
    // cut inside a string deep in a big container; cut between values
    let s = doc.find("abcdefghijklmnop").unwrap() + 3;
    assert_eq!(
        err(&doc[..s]),
        format!("t: not valid JSON: end of input inside a string at byte {s}")
    );
    let s = doc.find("\"a\":true}").unwrap() + 4;
    assert_eq!(
        err(&doc[..s]),
        format!("t: not valid JSON: unexpected end of input inside an object or array at byte {s}")
    );
    // a backslash as the last byte: the error is at the backslash
    assert_eq!(
        err("{\"a\":\"x\\"),
        "t: not valid JSON: end of input inside a string at byte 7"
    );
    assert_eq!(
        err("{\"a\":[\"x\\"),
        "t: not valid JSON: end of input inside a string at byte 8"
    );
    // strict errors inside a container whose end an outer skip recorded
    let bad = doc.replacen("\\u00e9", "\\u00g9", 1);
    let at = doc.find("\\u00e9").unwrap();
    assert_eq!(
        err(&bad),
        format!("t: not valid JSON: invalid \\u escape at byte {at}")
    );
    let bad = doc.replacen("\u{7f}", "\u{1}", 1);
    let at = doc.find('\u{7f}').unwrap();
    assert_eq!(
        err(&bad),
        format!("t: not valid JSON: control character byte 0x01 in a string at byte {at}")
    );
    let mut bad = doc.clone().into_bytes();
    let at = doc.find('€').unwrap() + 1;
    bad[at] = b'a';
    assert_eq!(
        streaming(&bad).unwrap_err(),
        format!(
            "t: not valid JSON: invalid UTF-8 in a string at byte {}",
            at - 1
        )
    );
    let bad = doc.replacen("\\ud83d\\ude00", "\\ud83d\\u0041", 1);
    let at = doc.find("\\ud83d\\ude00").unwrap();
    assert_eq!(
        err(&bad),
        format!("t: not valid JSON: invalid surrogate pair in a \\u escape at byte {at}")
    );
}

#[test]
fn objects_either_side_of_the_one_pass_limit_equal_the_reference() {
    // Small objects below the genesis fields are canonicalised in one strict pass into
    // memory; past 64 KiB of input, or at any error, they are read again the two-pass
    // way. Sizes straddling the limit, at two depths, with members out of order, must
    // give the same bytes as the tree reference either way.
    for pad in [
        (64 << 10) - 200,
        (64 << 10) - 40,
        (64 << 10) - 20,
        64 << 10,
        (64 << 10) + 20,
        (64 << 10) + 200,
    ] {
        let p = "p".repeat(pad);
        let inner =
            format!("{{\"z\":[3,{{\"y\":1,\"b\":2}}],\"pad\":\"{p}\",\"a\":\"\\u00e9\\u007f\"}}");
        for doc in [
            format!("{{\"x\":{inner},\"w\":0}}"),
            format!("{{\"x\":{{\"q\":[{inner},{inner}],\"c\":{inner}}}}}"),
        ] {
            let c = check_same(doc.as_bytes()).expect("valid");
            check_walk(&c, Some(&c));
        }
    }
    // one value whose escaped form outgrows the attempt's output bound (raw 0x7f is
    // written as six bytes), and one long string in a small object
    for doc in [
        format!(
            "{{\"x\":{{\"s\":\"{}\",\"a\":1}}}}",
            "\u{7f}".repeat(60 << 10)
        ),
        format!("{{\"x\":{{\"s\":\"{}\",\"a\":1}}}}", "s".repeat(1 << 20)),
    ] {
        check_same(doc.as_bytes()).expect("valid");
    }
    // errors inside a small object are reported as the two-pass reader always did: the
    // duplicate at its second value
    let e = streaming(b"{\"x\":{\"b\":1,\"a\":2,\"b\":3}}").unwrap_err();
    assert!(
        e.contains("duplicate object key \"b\"") && e.contains("at byte 22"),
        "{e}"
    );
    let e = streaming(b"{\"x\":{\"b\":1,\"a\":2x}}").unwrap_err();
    assert!(
        e.contains("expected ',' or '}' after an object member at byte 17"),
        "{e}"
    );
}

#[test]
fn captured_fields_decode_escape_runs_in_both_readers() {
    // runs of two-byte escapes are copied as they are to the output, and decoded for the
    // genesis fields: by the canonicaliser (lax input) and the canonical walker alike
    use agar::json::Slot;
    let doc = br#"{"chain_id":"a\"\\\n\t\r\b\fz\u00e9\"","initial_height":"1"}"#;
    let want = "a\"\\\n\t\r\u{8}\u{c}z\u{e9}\"";
    let mut out = Vec::new();
    let (f, _, _) = agar::json::canon::canonicalize(Cursor::new(&doc[..]), "t", &mut out).unwrap();
    assert_eq!(f.get(Slot::ChainId).and_then(|c| c.as_str()), Some(want));
    assert_eq!(
        out,
        b"{\"chain_id\":\"a\\\"\\\\\\n\\t\\r\\b\\fz\xc3\xa9\\\"\",\"initial_height\":\"1\"}\n"
    );
    let w = walk(&out[..], "t", None, &[], None).unwrap();
    assert_eq!(
        w.fields.get(Slot::ChainId).and_then(|c| c.as_str()),
        Some(want)
    );
    check_same(doc).expect("valid");
}
