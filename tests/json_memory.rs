//! Memory stays flat whatever the size of genesis.json or of one of its values: every
//! command runs under an address-space cap (`agar_capped`, 256 MiB) on a generated
//! ~300 MB genesis (a 160 MB string, a 200k-key object, a million-element array), and a
//! small archive whose genesis member declares 300 MiB of one JSON string is refused
//! within the cap.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::common::*;
use sha2::{Digest, Sha256};

/// The tiny fixture genesis with three huge members added at the top level.
fn big_genesis(path: &Path) -> u64 {
    let tiny = std::fs::read_to_string(fx("tiny/genesis/operational/genesis.json")).unwrap();
    let rest = tiny.trim_start().strip_prefix('{').unwrap();
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    // a 160 MB string with escapes and non-ASCII text in it
    w.write_all(b"{\n  \"zz_big\": \"").unwrap();
    let piece = "0123456789abcdef\\\"\\\\\\u00e9\\n<&>\u{e9}\u{1f600}/".repeat(64);
    let mut n = 0;
    while n < 160 << 20 {
        w.write_all(piece.as_bytes()).unwrap();
        n += piece.len();
    }
    // an object of 200k keys in no particular order
    w.write_all(b"\",\n  \"zz_wide\": {").unwrap();
    for i in 0..200_000u64 {
        let k = (i * 2_654_435_761) % 1_000_003;
        let sep = if i > 0 { "," } else { "" };
        write!(
            w,
            "{sep}\n    \"key-{k:07}\": {{\"v\": {i}, \"a\": [true, null]}}"
        )
        .unwrap();
    }
    // a long array of small account-like objects
    w.write_all(b"\n  },\n  \"zz_long\": [").unwrap();
    for i in 0..1_000_000u64 {
        let sep = if i > 0 { "," } else { "" };
        write!(
            w,
            "{sep}{{\"address\":\"agoric1{i:038}\",\"coins\":[{{\"denom\":\"ubld\",\"amount\":\"{}\"}}]}}",
            i * 7919
        )
        .unwrap();
    }
    w.write_all(b"],\n").unwrap();
    w.write_all(rest.as_bytes()).unwrap();
    w.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn capped_ok(args: &[&str]) -> String {
    let o = agar_capped(MEMORY_CAP_BYTES, args);
    assert!(
        !died_of_cap(&o) && o.status.success(),
        "agar {args:?} under a {MEMORY_CAP_BYTES}-byte cap: {:?}\n{}\n{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

#[test]
fn a_300_mb_genesis_packs_verifies_and_inspects_within_the_cap() {
    let t = tempfile::tempdir().unwrap();
    let g = t.path().join("genesis.json");
    let size = big_genesis(&g);
    assert!(size > 250 << 20, "generated only {size} bytes");
    let out = t.path().join("big.tar");
    let ss = fx("tiny/export/operational");
    let d = last_line(&capped_ok(&[
        "pack",
        "--genesis",
        p(&g),
        "--swing-store-export",
        p(&ss),
        "-o",
        p(&out),
        "-q",
    ]));
    assert_eq!(d.len(), 64);
    std::fs::remove_file(&g).unwrap();
    let v = capped_ok(&["verify", p(&out)]);
    assert!(v.contains(&d), "{v}");
    let i = capped_ok(&["inspect", p(&out), "--json"]);
    let j: serde_json::Value = serde_json::from_str(&i).unwrap();
    assert_eq!(j["chain_id"], "fixturegen-tiny");
    assert!(j["genesis_bytes"].as_u64().unwrap() > 250 << 20);
}

#[test]
fn a_small_archive_declaring_a_300_mib_genesis_string_is_refused_within_the_cap() {
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("good.tar");
    pack_dir(&fx("tiny/genesis/debug"), &good);
    let s = craft::split(&std::fs::read(&good).unwrap());
    // genesis.json: one canonical JSON object holding a 300 MiB string (valid, canonical,
    // not a genesis): the reader must stream it, not hold it
    let n: u64 = 300 << 20;
    let head = b"{\"a\":\"";
    let tail = b"\"}\n";
    let size = head.len() as u64 + n + tail.len() as u64;
    let chunk = vec![b'a'; 1 << 20];
    let mut sha = Sha256::new();
    sha.update(head);
    for _ in 0..(n >> 20) {
        sha.update(&chunk);
    }
    sha.update(tail);
    let mut m = s.manifest.clone();
    m.members[0].size = size;
    m.members[0].sha256 = agar::archive::manifest::Sha256Digest::from_hasher(sha);
    let mut contents = s.contents();
    contents[0].1.clear();
    let bytes = craft::rebuild_with(&m, &contents);
    // where the genesis content goes: after the manifest member and the genesis header
    let mb = m.canonical_bytes().len();
    let at = 512 + mb.div_ceil(512) * 512 + 512;
    let out = t.path().join("big-string.tar.gz");
    let mut e = flate2::write::GzEncoder::new(
        BufWriter::new(std::fs::File::create(&out).unwrap()),
        flate2::Compression::fast(),
    );
    e.write_all(&bytes[..at]).unwrap();
    e.write_all(head).unwrap();
    for _ in 0..(n >> 20) {
        e.write_all(&chunk).unwrap();
    }
    e.write_all(tail).unwrap();
    e.write_all(&vec![0u8; (512 - size as usize % 512) % 512])
        .unwrap();
    e.write_all(&bytes[at..]).unwrap();
    e.finish().unwrap().flush().unwrap();
    assert!(std::fs::metadata(&out).unwrap().len() < 4 << 20);
    for cmd in ["verify", "inspect"] {
        let o = agar_capped(MEMORY_CAP_BYTES, &[cmd, p(&out)]);
        assert!(!died_of_cap(&o), "{cmd}: {:?}\n{}", o.status, stderr(&o));
        // verify reports the problem (exit 1), inspect refuses the input (exit 3)
        let want = if cmd == "verify" { 1 } else { 3 };
        assert_eq!(
            o.status.code(),
            Some(want),
            "{cmd}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        let text = format!("{}{}", stdout(&o), stderr(&o));
        assert!(text.contains("app_state.swingset"), "{cmd}: {text}");
    }
}
