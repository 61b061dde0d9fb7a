//! Memory bounds (issue 10): small crafted archives that declare huge JSON members
//! (metadata records, b0 bundles, the archive manifest), many members or many spans
//! must be refused or processed by every reading command within
//! [`MEMORY_CAP_BYTES`] of address space, never die of it. Each case runs the real
//! binary under `RLIMIT_AS` (`agar_capped`).
//!
//! `AGAR_MEMORY_BIN=path` runs the cases against another build (to see a fix's
//! "before"); by default they run the binary under test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::craft;
use crate::common::*;

fn bin_under_test() -> String {
    std::env::var("AGAR_MEMORY_BIN").unwrap_or_else(|_| bin().to_string())
}

/// `agar_capped`, for the binary under test.
fn capped(args: &[&str]) -> Output {
    if std::env::var("AGAR_MEMORY_BIN").is_err() {
        return agar_capped(MEMORY_CAP_BYTES, args);
    }
    Command::new("prlimit")
        .arg(format!("--as={MEMORY_CAP_BYTES}"))
        .arg("--")
        .arg(bin_under_test())
        .args(args)
        .env("NO_COLOR", "1")
        .env("MALLOC_ARENA_MAX", "2")
        .output()
        .expect("run prlimit")
}

/// The tiny debug fixture as a canonical tar, cut into members.
fn base(t: &Path) -> craft::Split {
    let a = t.join("base.tar");
    pack_dir(&fx("tiny/genesis/debug"), &a);
    let s = craft::split(&std::fs::read(&a).unwrap());
    std::fs::remove_file(a).unwrap();
    s
}

/// A consistent archive (manifest, headers, digests, genesis hash and entry count all
/// agree) with the export data replaced by `data`.
fn with_export_data(s: &craft::Split, data: Vec<u8>) -> Vec<u8> {
    let mut m = s.manifest.clone();
    let mut members = s.contents();
    let old = m.swing_store_export_data_hash.clone();
    let new = format!("sha256:{}", craft::sha256_hex(&data));
    let g = String::from_utf8(members[0].1.clone()).unwrap();
    assert!(g.contains(&old));
    members[0].1 = g.replace(&old, &new).into_bytes();
    m.swing_store_export_data_hash = new;
    m.export_data_entries = data.iter().filter(|&&b| b == b'\n').count() as u64;
    members[2].1 = data;
    craft::rebuild(&m, &members)
}

/// The export data of `s` with the line of `key` replaced by `line`.
fn replace_line(s: &craft::Split, key: &str, line: &[u8]) -> Vec<u8> {
    let data = &s.parts[s.find("export-data.jsonl")].content;
    let prefix = format!("[{}", serde_json::to_string(key).unwrap());
    let mut out = Vec::new();
    let mut found = false;
    for l in data.split_inclusive(|&b| b == b'\n') {
        if l.starts_with(prefix.as_bytes()) && l[prefix.len()] == b',' {
            out.extend_from_slice(line);
            out.push(b'\n');
            found = true;
        } else {
            out.extend_from_slice(l);
        }
    }
    assert!(found, "no line for {key}");
    out
}

fn write_gz(t: &Path, name: &str, tar: &[u8]) -> PathBuf {
    let p = t.join(name);
    std::fs::write(&p, craft::gz(tar)).unwrap();
    if let Ok(keep) = std::env::var("AGAR_MEMORY_KEEP") {
        std::fs::copy(&p, Path::new(&keep).join(name)).unwrap();
    }
    p
}

fn text(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// Run every reading command on `archive` under the cap: none may die of it; each must
/// refuse it (a documented non-zero exit) saying `why`.
fn every_reader_within_cap(t: &Path, archive: &Path, why: &str) {
    let a = p(archive);
    let home = t.join("home");
    let good = t.join("good.tar");
    if !good.exists() {
        pack_dir(&fx("tiny/genesis/debug"), &good);
    }
    let runs: Vec<(&str, Vec<&str>)> = vec![
        ("verify", vec!["verify", a]),
        ("inspect", vec!["inspect", a]),
        ("digest", vec!["digest", a]),
        ("kv get", vec!["kv", "get", a, "activityhash"]),
        ("explode", vec!["explode", "--home", p(&home), "-q", a]),
        ("diff", vec!["diff", p(&good), a]),
    ];
    for (what, args) in runs {
        let o = capped(&args);
        let out = text(&o);
        assert!(
            !died_of_cap(&o),
            "{what} died under the {MEMORY_CAP_BYTES}-byte cap ({:?}):\n{}",
            o.status,
            &out[..out.len().min(2000)]
        );
        assert!(
            !o.status.success(),
            "{what} accepted a hostile archive:\n{out}"
        );
        assert!(out.contains(why), "{what}: expected {why:?} in:\n{out}");
    }
}

#[test]
fn a_legitimate_small_archive_fits_under_the_cap() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("tiny.tar.gz");
    pack_dir(&fx("tiny/genesis/debug"), &a);
    for args in [
        vec!["verify", p(&a)],
        vec!["inspect", p(&a)],
        vec!["digest", p(&a)],
        vec!["kv", "get", p(&a), "activityhash"],
        vec!["diff", p(&a), p(&a)],
    ] {
        let o = capped(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
    }
    let home = t.path().join("home");
    let o = capped(&["explode", "--home", p(&home), "-q", p(&a)]);
    assert_eq!(o.status.code(), Some(0), "explode: {}", text(&o));
}

/// A 12 MB transcript span record (a JSON array of zeros inside the record): parsed as
/// a JSON tree it cost about 60 bytes per input byte.
#[test]
fn a_huge_metadata_record_is_refused_within_the_cap() {
    let t = tempfile::tempdir().unwrap();
    let s = base(t.path());
    let mut value = String::from("{\"vatID\":\"v1\",\"startPos\":0,\"x\":[");
    value.push_str(&"0,".repeat(6 << 20));
    value.push_str("0]}");
    let line = serde_json::to_vec(&["transcript.v1.0", value.as_str()]).unwrap();
    let tar = with_export_data(&s, replace_line(&s, "transcript.v1.0", &line));
    let a = write_gz(t.path(), "record.tar.gz", &tar);
    assert!(std::fs::metadata(&a).unwrap().len() < 1_000_000);
    every_reader_within_cap(t.path(), &a, "at most 1048576 are accepted");
}

/// A 120 MB b0 bundle (one long `source`): the check held it three times over
/// (the text, the parsed source, the rebuilt text).
#[test]
fn a_huge_b0_bundle_is_refused_within_the_cap() {
    let t = tempfile::tempdir().unwrap();
    let s = base(t.path());
    let mut members = s.contents();
    let i = members
        .iter()
        .position(|(n, _)| n.contains("bundle.b0-"))
        .unwrap();
    let mut b = br#"{"moduleFormat":"nestedEvaluate","source":""#.to_vec();
    b.resize(b.len() + (120 << 20), b'a');
    b.extend_from_slice(br#""}"#);
    members[i].1 = b;
    let tar = craft::rebuild(&s.manifest, &members);
    drop(members);
    let a = write_gz(t.path(), "b0.tar.gz", &tar);
    assert!(std::fs::metadata(&a).unwrap().len() < 2_000_000);
    // verify reads on past the bundle and reports it
    let o = capped(&["verify", p(&a)]);
    assert!(!died_of_cap(&o), "verify died of the cap: {}", text(&o));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("b0 bundle is 125829165 bytes"),
        "{}",
        text(&o)
    );
    let home = t.path().join("home");
    let o = capped(&["explode", "--home", p(&home), "-q", p(&a)]);
    assert!(!died_of_cap(&o), "explode died of the cap: {}", text(&o));
    assert!(!o.status.success());
    assert!(
        text(&o).contains("b0 bundle is 125829165 bytes"),
        "{}",
        text(&o)
    );
}

/// An archive manifest listing `n` artifact members named like real ones (sorted,
/// valid), as the first member of a gzip file; nothing follows it. Each member is
/// about 100 bytes of JSON, so this is a small file declaring a huge manifest.
fn manifest_only(s: &craft::Split, n: usize) -> Vec<u8> {
    let mut m = s.manifest.clone();
    m.members.truncate(3);
    let z = agar::archive::Sha256Digest([0u8; 32]);
    for i in 0..n {
        m.members.push(agar::archive::Member {
            name: format!("swing-store/snapshot.v1.{}", 1_000_000 + i).into(),
            size: 0,
            sha256: z,
        });
    }
    let mb = m.canonical_bytes();
    let mut out =
        agar::archive::tar::member_header(agar::archive::MANIFEST_MEMBER, mb.len() as u64);
    out.extend_from_slice(&mb);
    out
}

/// 1.1 M members (over the 1 Mi cap): refused while the list is read, within the cap
/// (as a JSON tree, 2 M members took 2.7 GB). Every reading command opens archives
/// through the same reader; verify, kv and explode are run (each parses ~140 MB).
#[test]
fn a_manifest_with_too_many_members_is_refused_within_the_cap() {
    let t = tempfile::tempdir().unwrap();
    let s = base(t.path());
    let a = write_gz(t.path(), "many.tar.gz", &manifest_only(&s, 1_100_000));
    let home = t.path().join("home");
    for args in [
        vec!["verify", p(&a)],
        vec!["kv", "get", p(&a), "activityhash"],
        vec!["explode", "--home", p(&home), "-q", p(&a)],
    ] {
        let o = capped(&args);
        assert!(!died_of_cap(&o), "{args:?} died of the cap: {}", text(&o));
        assert!(!o.status.success());
        assert!(
            text(&o).contains("more than 1048576 members"),
            "{}",
            text(&o)
        );
    }
}

/// A manifest at the member cap is parsed within the memory cap (then refused: the
/// 1 Mi members it declares are not in the file).
#[test]
fn a_manifest_at_the_member_cap_is_parsed_within_the_cap() {
    let t = tempfile::tempdir().unwrap();
    let s = base(t.path());
    let a = write_gz(t.path(), "max.tar.gz", &manifest_only(&s, (1 << 20) - 3));
    let o = capped(&["verify", p(&a)]);
    assert!(!died_of_cap(&o), "verify died of the cap: {}", text(&o));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // past the parse: the size checks that follow it refuse the archive
    assert!(
        text(&o).contains("decompression bomb") || text(&o).contains("truncated"),
        "{}",
        text(&o)
    );
}

/// An export-data line over the line limit (a 200 MB line of one value): refused when
/// the limit is reached, not read whole.
#[test]
fn an_export_data_line_over_the_limit_is_refused_within_the_cap() {
    let t = tempfile::tempdir().unwrap();
    let s = base(t.path());
    let mut line = br#"["kv.activityhash",""#.to_vec();
    line.resize(line.len() + (200 << 20), b'a');
    line.extend_from_slice(br#""]"#);
    let tar = with_export_data(&s, replace_line(&s, "kv.activityhash", &line));
    drop(line);
    let a = write_gz(t.path(), "line.tar.gz", &tar);
    drop(tar);
    every_reader_within_cap(t.path(), &a, "-byte limit");
}

/// A JS-layout replay export: the tiny replay fixture plus vat `v9` with `n` historical
/// one-item spans and a current one, all of one incarnation (so all required).
fn many_spans_export(dir: &Path, n: usize) {
    copy_dir(&fx("tiny/export/replay"), dir);
    let hash = agar::hashes::span_hash([&b"x"[..]]);
    let mut data = std::fs::read_to_string(dir.join("export-data.jsonl")).unwrap();
    let mpath = dir.join("export-manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let arts = m["artifacts"].as_array_mut().unwrap();
    for i in 0..=n {
        let current = i == n;
        let key = if current {
            "transcript.v9.current".to_string()
        } else {
            format!("transcript.v9.{i}")
        };
        let value = format!(
            "{{\"vatID\":\"v9\",\"startPos\":{i},\"endPos\":{},\"hash\":\"{hash}\",\"isCurrent\":{},\"incarnation\":0}}",
            i + 1,
            current as u8
        );
        data.push_str(&serde_json::to_string(&[key, value]).unwrap());
        data.push('\n');
        let name = format!("transcript.v9.{i}.{}", i + 1);
        std::fs::write(dir.join(&name), "x\n").unwrap();
        arts.push(serde_json::json!([name, name]));
    }
    std::fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    // the genesis that goes with it: the canonical export data's hash
    let mut entries: Vec<agar::gojson::Entry> = data
        .lines()
        .map(|l| agar::gojson::decode_line(l.as_bytes()).unwrap())
        .collect();
    entries.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
    let mut canon = Vec::new();
    for e in &entries {
        agar::gojson::encode_entry_into(
            &mut canon,
            e.key.as_bytes(),
            e.value.as_deref().map(str::as_bytes),
        );
    }
    std::fs::write(dir.join("export-data.jsonl"), data).unwrap();
    let g = std::fs::read_to_string(fx("tiny/genesis/operational/genesis.json")).unwrap();
    let old = "sha256:b8e9a4e6229d4c5682284121f41b4c2133bfbc86544e2cdd342dce6e593ad5f2";
    assert!(g.contains(old));
    let g = g.replace(old, &format!("sha256:{}", craft::sha256_hex(&canon)));
    std::fs::write(dir.join("genesis.json"), g).unwrap();
}

/// 20 k transcript spans of one vat: pack, verify, inspect and explode complete and
/// agree, explode within the memory cap. (explode looked up the vat's current span by
/// scanning its spans once per span: quadratic, 96-171 s for 80 k spans.)
#[test]
fn an_archive_with_20k_spans_verifies_and_explodes_within_the_cap() {
    const N: usize = 20_000;
    let t = tempfile::tempdir().unwrap();
    let ss = t.path().join("ss");
    many_spans_export(&ss, N);
    let a = t.path().join("spans.tar.gz");
    let digest = pack_js(&ss.join("genesis.json"), &ss, &a);
    std::fs::remove_dir_all(&ss).unwrap();
    if let Ok(keep) = std::env::var("AGAR_MEMORY_KEEP") {
        std::fs::copy(&a, Path::new(&keep).join("spans.tar.gz")).unwrap();
    }
    let o = capped(&["verify", p(&a)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stdout(&o).contains(&digest));
    let o = capped(&["inspect", "--json", p(&a)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let home = t.path().join("home");
    let o = capped(&["explode", "--home", p(&home), "--db", "--json", "-q", p(&a)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["digest"], digest.as_str(), "{v}");
    let spans = v["db"]["transcript_spans"].as_u64().unwrap();
    assert!(spans > N as u64, "{v}");
    let items = v["db"]["transcript_items"].as_u64().unwrap();
    assert!(items > N as u64, "{v}");
    let files = std::fs::read_dir(home.join("config/swing-store"))
        .unwrap()
        .count();
    assert!(files > N + 2, "{files} files");
}

/// One byte over SQLite's largest value (`SQLITE_MAX_LENGTH`): explode could not insert it.
const OVER_SQLITE: u64 = agar::hashes::SQLITE_MAX_LENGTH + 1;

/// Feed `f` `len` bytes of a repeated 4 KiB pattern of letters (no newline, no
/// whitespace), 1 MiB at a time: compresses about 1000:1, well within the reader's
/// bomb check, without being held anywhere.
fn letters(len: u64, f: &mut dyn FnMut(&[u8])) {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let pattern: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'a' + (x % 26) as u8
        })
        .collect();
    let buf = pattern.repeat(256);
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        f(&buf[..n]);
        left -= n as u64;
    }
}

/// Produces a member's content, chunk by chunk, into the callback.
type Generator<'a> = &'a dyn Fn(&mut dyn FnMut(&[u8]));

/// A consistent `.tar.zst` archive: `members` (genesis first) with member `big`'s
/// content produced by `gen` (called twice: to hash it, then to write it), streamed
/// through agar's own writer so that nothing large is held.
fn write_with_big_member(
    path: &Path,
    manifest: &agar::archive::ArchiveManifest,
    members: &[(String, Vec<u8>)],
    big: usize,
    gen: Generator,
) {
    use sha2::{Digest, Sha256};
    let mut sha = Sha256::new();
    let mut size = 0u64;
    gen(&mut |c| {
        sha.update(c);
        size += c.len() as u64;
    });
    let mut m = manifest.clone();
    m.members = members
        .iter()
        .enumerate()
        .map(|(i, (n, c))| agar::archive::Member {
            name: n.as_str().into(),
            size: if i == big { size } else { c.len() as u64 },
            sha256: if i == big {
                agar::archive::Sha256Digest::from_hex(&hex::encode(sha.clone().finalize())).unwrap()
            } else {
                agar::archive::Sha256Digest::of(c)
            },
        })
        .collect();
    let mb = m.canonical_bytes();
    let mut w = agar::archive::writer::ArchiveWriter::create_sized(
        Some(path),
        agar::archive::writer::Compression::Zstd { threads: 2 },
        m.tar_bytes(mb.len() as u64),
    )
    .unwrap();
    w.append_bytes(agar::archive::MANIFEST_MEMBER, &mb).unwrap();
    for (i, (n, c)) in members.iter().enumerate() {
        if i == big {
            w.begin(n, size).unwrap();
            gen(&mut |c| w.write_data(c).unwrap());
            w.end().unwrap();
        } else {
            w.append_bytes(n, c).unwrap();
        }
    }
    w.finish().unwrap();
}

/// The tiny debug archive with transcript.v1.0.7's first item replaced by `len` letters
/// (the span record, export data, genesis and manifest rehashed to match), as .tar.zst.
fn archive_with_item_of(t: &Path, len: u64) -> PathBuf {
    let s = base(t);
    let span = "swing-store/transcript.v1.0.7";
    let old = s.parts[s.find(span)].content.clone();
    let nl = old.iter().position(|&b| b == b'\n').unwrap();
    let rest = old[nl + 1..].to_vec();
    let gen = |f: &mut dyn FnMut(&[u8])| {
        letters(len, f);
        f(b"\n");
        f(&rest);
    };
    let mut item = sha2::Sha256::default();
    letters(len, &mut |c| sha2::Digest::update(&mut item, c));
    let mut chain = agar::hashes::SpanHasher::new();
    chain.push_digest(sha2::Digest::finalize(item));
    for it in rest.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        chain.push(it);
    }
    // the span record carries the new hash; genesis and manifest the new data hash
    let data = &s.parts[s.find("export-data.jsonl")].content;
    let line = data
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"[\"transcript.v1.0\","))
        .unwrap();
    let e = agar::gojson::decode_line(line).unwrap();
    let v = e.value.unwrap();
    let old_hash = v.split("\"hash\":\"").nth(1).unwrap()[..64].to_string();
    let new_value = v.replace(&old_hash, chain.hex());
    let mut new_line = agar::gojson::encode_entry(e.key.as_bytes(), Some(new_value.as_bytes()));
    assert_eq!(new_line.pop(), Some(b'\n'));
    let tar = with_export_data(&s, replace_line(&s, "transcript.v1.0", &new_line));
    let s2 = craft::split(&tar);
    let members = s2.contents();
    let big = members.iter().position(|(n, _)| n == span).unwrap();
    let a = t.join(format!("item-{len}.tar.zst"));
    write_with_big_member(&a, &s2.manifest, &members, big, &gen);
    assert!(std::fs::metadata(&a).unwrap().len() < 4_000_000);
    a
}

/// issue 10: a transcript item over the limit (once SQLite's 1e9 bytes, which explode
/// would have held whole: a 1 MB archive cost a GB) is refused by verify while it
/// streams and hashes it, and by explode before it reads past the limit, in the same
/// words, within the cap.
#[test]
fn a_transcript_item_over_the_limit_fails_verify_and_explode_within_the_cap() {
    let t = tempfile::tempdir().unwrap();
    let max = agar::hashes::MAX_TRANSCRIPT_ITEM_BYTES;
    let a = archive_with_item_of(t.path(), max + 1);
    let span = "swing-store/transcript.v1.0.7";
    let why = agar::hashes::transcript_item_problem(0, max + 1).unwrap();
    assert!(
        why.starts_with(&format!("item at position 0 is longer than {max} bytes")),
        "{why}"
    );
    let o = capped(&["verify", p(&a)]);
    assert!(!died_of_cap(&o), "verify died of the cap: {}", text(&o));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(span) && text(&o).contains(&why),
        "{}",
        text(&o)
    );
    // the only problem: the rest of the crafted archive is consistent
    assert!(text(&o).contains(": 1 problem(s)"), "{}", text(&o));
    let home = t.path().join("home");
    let o = capped(&["explode", "--db", "--home", p(&home), "-q", p(&a)]);
    assert!(!died_of_cap(&o), "explode died of the cap: {}", text(&o));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains(&why), "{}", text(&o));
    assert!(!home.join("data/agoric/swingstore.sqlite").exists());
}

/// The largest item accepted goes into the DB within the cap, byte for byte.
#[test]
fn a_transcript_item_of_the_largest_size_explodes_within_the_cap() {
    let t = tempfile::tempdir().unwrap();
    let max = agar::hashes::MAX_TRANSCRIPT_ITEM_BYTES;
    let a = archive_with_item_of(t.path(), max);
    let o = capped(&["verify", p(&a)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let home = t.path().join("home");
    let o = capped(&["explode", "--db", "--home", p(&home), "-q", p(&a)]);
    assert!(!died_of_cap(&o), "explode died of the cap: {}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let db = rusqlite::Connection::open(home.join("data/agoric/swingstore.sqlite")).unwrap();
    let (len, head): (i64, String) = db
        .query_row(
            "SELECT length(item), substr(item, 1, 64) FROM transcriptItems WHERE vatID = 'v1' AND position = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let mut want = Vec::new();
    letters(64, &mut |c| want.extend_from_slice(c));
    assert_eq!((len as u64, head.as_bytes()), (max, &want[..]));
}

/// issue 10: the same for a b1 bundle blob over SQLite's limit.
#[test]
fn a_b1_bundle_over_sqlites_limit_fails_verify_within_the_cap() {
    let t = tempfile::tempdir().unwrap();
    let s = base(t.path());
    let members = s.contents();
    let big = members
        .iter()
        .position(|(n, _)| n.contains("bundle.b1-"))
        .unwrap();
    let id = members[big].0.rsplit("bundle.").next().unwrap().to_string();
    let a = t.path().join("b1.tar.zst");
    write_with_big_member(&a, &s.manifest, &members, big, &|f| letters(OVER_SQLITE, f));
    assert!(std::fs::metadata(&a).unwrap().len() < 4_000_000);

    let o = capped(&["verify", p(&a)]);
    assert!(!died_of_cap(&o), "verify died of the cap: {}", text(&o));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let why = format!(
        "bundle.{id}: {}",
        agar::hashes::sqlite_blob_problem(OVER_SQLITE).unwrap()
    );
    assert!(
        why.ends_with("1000000001 bytes is more than SQLite's 1000000000-byte value limit"),
        "{why}"
    );
    assert!(text(&o).contains(&why), "{}", text(&o));
    assert!(text(&o).contains(": 1 problem(s)"), "{}", text(&o));
}

#[test]
fn a_genesis_of_deeply_nested_small_objects_packs_within_the_cap() {
    // The canonicaliser reads a small object in one pass into memory and keeps one copy
    // of each open level's output: the worst case is the deepest nesting with the most
    // output per level (raw 0x7f, written as the six bytes \u007f, just under the
    // attempt's 64 KiB input limit). Each of the 118 levels also has members out of order.
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("state");
    copy_dir(&fx("tiny/genesis/debug"), &dir);
    let g = std::fs::read_to_string(dir.join("genesis.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&g).unwrap();
    let mut deep = serde_json::json!({"z": 1, "s": "\u{7f}".repeat(60 << 10), "a": 2});
    for i in 0..118 {
        deep = serde_json::json!({"z": i, "next": deep, "a": [i]});
    }
    v["app_state"]["zz_deep"] = deep;
    std::fs::write(dir.join("genesis.json"), serde_json::to_vec(&v).unwrap()).unwrap();
    let out = t.path().join("deep.tar");
    let o = capped(&["pack", p(&dir), "-o", p(&out), "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    // the member is the canonical form: keys sorted at every level, 0x7f escaped
    let o = capped(&["verify", p(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    let tar = std::fs::read(&out).unwrap();
    let s = craft::split(&tar);
    let member = String::from_utf8(s.contents()[0].1.clone()).unwrap();
    assert!(member.contains("\"zz_deep\":{\"a\":[117],\"next\":{\"a\":[116],"));
    assert!(member.contains(&format!(
        "{{\"a\":2,\"s\":\"{}\",\"z\":1}}",
        "\\u007f".repeat(60 << 10)
    )));
}
