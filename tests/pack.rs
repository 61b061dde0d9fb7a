//! `agar pack` / `verify` / `digest` / `inspect` on the real fixtures (issue 2).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn tiny(rel: &str) -> std::path::PathBuf {
    fx(&format!("tiny/{rel}"))
}

#[test]
fn go_and_js_layouts_give_one_digest_in_every_agd_mode() {
    let t = tempfile::tempdir().unwrap();
    for mode in ["operational", "debug"] {
        let go = pack_dir(
            &tiny(&format!("genesis/{mode}")),
            &t.path().join(format!("go-{mode}.tar.gz")),
        );
        let js = pack_js(
            &tiny(&format!("genesis/{mode}/genesis.json")),
            &tiny(&format!("export/{mode}")),
            &t.path().join(format!("js-{mode}.tar.gz")),
        );
        assert_eq!(go, js, "mode {mode}");
    }
}

#[test]
fn export_data_member_hash_is_the_fixture_genesis_hash() {
    let t = tempfile::tempdir().unwrap();
    for fxname in ["tiny", "pruned"] {
        let out = t.path().join(format!("{fxname}.tar"));
        pack_js(
            &fx(&format!("{fxname}/genesis/operational/genesis.json")),
            &fx(&format!("{fxname}/export/operational")),
            &out,
        );
        let members = tar_members(&std::fs::read(&out).unwrap());
        let (_, data) = members
            .iter()
            .find(|(n, _)| n == "swing-store/export-data.jsonl")
            .unwrap();
        // shared/fixtures/README.md: genesis hash for tiny and pruned (Go >= 1.22 encoding)
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data)),
            "b8e9a4e6229d4c5682284121f41b4c2133bfbc86544e2cdd342dce6e593ad5f2"
        );
        // and it is byte-identical to agd's genesis-layout file
        assert_eq!(
            data,
            &std::fs::read(fx(&format!(
                "{fxname}/genesis/operational/swing-store/export-data.jsonl"
            )))
            .unwrap()
        );
    }
}

#[test]
fn go_canonical_encoding_vectors_from_the_encoding_fixture() {
    // JS-written export data, re-encoded with our Go encoder and sorted, must equal the
    // Go-canonical file checked with real Go (spec §12).
    let js = std::fs::read(fx("encoding/js-export-debug/export-data.jsonl")).unwrap();
    let mut lines: Vec<(String, Vec<u8>)> = js
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let e = agar::gojson::decode_line(l).unwrap();
            let enc =
                agar::gojson::encode_entry(e.key.as_bytes(), e.value.as_deref().map(str::as_bytes));
            (e.key, enc)
        })
        .collect();
    lines.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let out: Vec<u8> = lines.into_iter().flat_map(|(_, l)| l).collect();
    let want = std::fs::read(fx("encoding/go-canonical-export-data.jsonl")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&want)
    );
    assert_eq!(
        sha256_file(&fx("encoding/go-canonical-export-data.jsonl")),
        "5e77fd641cfaa4533c9fd9fa3cc2eac7289481c5c9c11d58f77b3b3bbc3cbb37"
    );
    // the tiny fixture's edge cases, line by line against agd's layout
    let js = std::fs::read_to_string(tiny("export/operational/export-data.jsonl")).unwrap();
    let go =
        std::fs::read_to_string(tiny("genesis/operational/swing-store/export-data.jsonl")).unwrap();
    let go_lines: std::collections::BTreeSet<&str> = go.lines().collect();
    for l in js.lines() {
        let e = agar::gojson::decode_line(l.as_bytes()).unwrap();
        let enc =
            agar::gojson::encode_entry(e.key.as_bytes(), e.value.as_deref().map(str::as_bytes));
        let enc = String::from_utf8(enc).unwrap();
        assert!(
            go_lines.contains(enc.trim_end_matches('\n')),
            "{l} -> {enc}"
        );
    }
}

#[test]
fn packing_twice_is_byte_identical_and_gzip_digest_matches_stock_tools() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a.tar.gz");
    let b = t.path().join("b.tgz");
    let da = pack_dir(&tiny("genesis/debug"), &a);
    let db = last_line(&ok(&[
        "pack",
        p(&tiny("genesis/debug")),
        "-o",
        p(&b),
        "--threads",
        "1",
        "-q",
    ]));
    assert_eq!(da, db);
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "gzip bytes differ between thread counts"
    );
    let plain = gunzip(&std::fs::read(&a).unwrap());
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&plain)),
        da
    );
    if have("gzip") && have("sha256sum") {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("gzip -dc '{}' | sha256sum", a.display()))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .unwrap(),
            da
        );
    }
    // an uncompressed archive of the same state has the same digest and equals the gunzip
    let c = t.path().join("c.tar");
    assert_eq!(pack_dir(&tiny("genesis/debug"), &c), da);
    assert_eq!(std::fs::read(&c).unwrap(), plain);
    // stdout output is the same tar
    let o = agar(&["pack", p(&tiny("genesis/debug")), "-o", "-", "-q"]);
    assert!(o.status.success());
    assert_eq!(o.stdout, plain);
}

#[test]
fn members_are_canonical_and_readable_by_independent_readers() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("x.tar");
    pack_dir(&tiny("genesis/debug"), &out);
    let bytes = std::fs::read(&out).unwrap();
    let members = tar_members(&bytes);
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..4],
        [
            "genesis-archive.json",
            "genesis.json",
            "swing-store/export-manifest.json",
            "swing-store/export-data.jsonl"
        ]
    );
    let arts: Vec<&str> = names[4..].to_vec();
    let mut sorted = arts.clone();
    sorted.sort();
    assert_eq!(arts, sorted);
    assert_eq!(arts.len(), 30);
    // every artifact is byte-identical to the official export's file
    for (n, data) in &members[4..] {
        let file = n.strip_prefix("swing-store/").unwrap();
        assert_eq!(
            data,
            &std::fs::read(tiny(&format!("export/debug/{file}"))).unwrap(),
            "{n}"
        );
    }
    // genesis member equals `jq -S -c -M .` of the input (golden output of jq 1.6)
    assert_eq!(
        members[1].1,
        std::fs::read(fx("jq/tiny-debug.jq.json")).unwrap()
    );
    // the export manifest is what the JS importer and agd's Go reader accept
    let em: serde_json::Value = serde_json::from_slice(&members[2].1).unwrap();
    assert_eq!(em["blockHeight"], 28);
    assert_eq!(em["data"], "export-data.jsonl");
    assert_eq!(em["artifacts"].as_array().unwrap().len(), 30);
    assert_eq!(em["artifactMode"], "debug");
    // archive manifest lists sizes and digests of members 2..n
    let am: serde_json::Value = serde_json::from_slice(&members[0].1).unwrap();
    let listed = am["members"].as_array().unwrap();
    assert_eq!(listed.len(), members.len() - 1);
    for (l, (n, data)) in listed.iter().zip(&members[1..]) {
        assert_eq!(l["name"], n.as_str());
        assert_eq!(l["size"], data.len() as u64);
        assert_eq!(
            l["sha256"],
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data)).as_str()
        );
    }
    assert_eq!(am["export_height"], 27);
    assert_eq!(am["initial_height"], 28);
    assert!(am["provenance"].is_null());
    // GNU tar and Python's tarfile list the same names (long b1 names via PAX)
    if have("tar") {
        let o = std::process::Command::new("tar")
            .arg("tf")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success());
        let listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(listed, names);
    }
    if have("python3") {
        let o = std::process::Command::new("python3")
            .arg("-c")
            .arg("import sys,tarfile; t=tarfile.open(sys.argv[1]); print('\\n'.join(m.name for m in t.getmembers() if m.isfile()))")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(listed, names);
    }
}

#[test]
fn genesis_canonical_form_equals_jq_on_edge_cases() {
    let want = std::fs::read(fx("jq/edge-genesis.jq.json")).unwrap();
    let parsed =
        agar::genesis::CanonicalGenesis::from_path(&fx("jq/edge-genesis.json"), None).unwrap();
    let mut got = Vec::new();
    parsed.copy_to(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
    if have("jq") {
        let o = std::process::Command::new("jq")
            .args(["-S", "-c", "-M", "."])
            .arg(fx("jq/edge-genesis.json"))
            .output()
            .unwrap();
        assert_eq!(
            o.stdout, want,
            "installed jq disagrees with the stored jq 1.6 output"
        );
    }
}

#[test]
fn camel_case_genesis_keeps_its_spelling() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("c.tar");
    let d = pack_js(
        &tiny("genesis/operational/genesis.camelcase.json"),
        &tiny("export/operational"),
        &out,
    );
    let snake = pack_js(
        &tiny("genesis/operational/genesis.json"),
        &tiny("export/operational"),
        &t.path().join("s.tar"),
    );
    assert_ne!(d, snake, "the spelling is part of the genesis bytes");
    let members = tar_members(&std::fs::read(&out).unwrap());
    assert_eq!(
        members[1].1,
        std::fs::read(fx("jq/tiny-operational-camel.jq.json")).unwrap()
    );
    ok(&["verify", p(&out), "--expect", &d]);
}

#[test]
fn inline_export_data_is_moved_into_the_export_data_member() {
    let t = tempfile::tempdir().unwrap();
    // an older-format genesis: entries inline, no hash; the swing-store dir has no data
    let (gpath, ss) = inline_export(t.path(), &[]);
    let d = pack_js(&gpath, &ss, &t.path().join("inline.tar"));
    let reference = pack_js(
        &tiny("genesis/operational/genesis.json"),
        &tiny("export/operational"),
        &t.path().join("ref.tar"),
    );
    assert_eq!(
        d, reference,
        "inline data packs to the same archive as the hash form"
    );
}

#[test]
fn encoding_fixture_dialects_pack_and_verify() {
    let t = tempfile::tempdir().unwrap();
    // a minimal genesis for the encoding store (blockHeight 42)
    let g = serde_json::json!({"chain_id": "enc", "initial_height": "43", "genesis_time": "2026-01-01T00:00:00Z",
        "app_state": {"swingset": {"swing_store_export_data": [], "swing_store_export_data_hash": "sha256:5e77fd641cfaa4533c9fd9fa3cc2eac7289481c5c9c11d58f77b3b3bbc3cbb37"}}});
    let gpath = t.path().join("g.json");
    std::fs::write(&gpath, serde_json::to_vec(&g).unwrap()).unwrap();
    let js = pack_js(
        &gpath,
        &fx("encoding/js-export-debug"),
        &t.path().join("js.tar"),
    );
    let go = pack_js(
        &gpath,
        &fx("encoding/genesis-style-swing-store"),
        &t.path().join("go.tar"),
    );
    assert_ne!(
        js, go,
        "debug export has two more transcript spans than the operational one"
    );
    let info = ok(&["inspect", p(&t.path().join("js.tar")), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(
        v["artifact_mode"], "archival",
        "the debug export of this store holds exactly the archival set"
    );
    assert_eq!(v["initial_height"], 43);
    ok(&["verify", p(&t.path().join("go.tar")), "--expect", &go]);
}

#[test]
fn json_output_and_digest_command() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("a.tar.gz");
    let s = ok(&[
        "pack",
        p(&tiny("genesis/operational")),
        "-o",
        p(&out),
        "--json",
        "-q",
    ]);
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["chain_id"], "fixturegen-tiny");
    assert_eq!(v["initial_height"], 28);
    assert_eq!(v["artifact_mode"], "operational");
    assert_eq!(v["artifacts"], 8);
    assert_eq!(v["export_data_entries"], 457);
    assert_eq!(
        v["swing_store_export_data_hash"],
        "sha256:b8e9a4e6229d4c5682284121f41b4c2133bfbc86544e2cdd342dce6e593ad5f2"
    );
    let digest = v["digest"].as_str().unwrap().to_string();
    let d = ok(&["digest", p(&out)]);
    assert!(
        d.contains(&format!("archive digest:               {digest}")),
        "{d}"
    );
    assert!(
        d.contains("swing_store_export_data_hash: sha256:b8e9a4e6"),
        "{d}"
    );
    let genesis_sha = v["genesis_sha256"].as_str().unwrap();
    assert!(d.contains(genesis_sha));
    // the genesis member digest is the `jq -S -c -M . genesis.json | sha256sum` value
    assert_eq!(genesis_sha, sha256_file(&fx("jq/tiny-operational.jq.json")));
    let insp = ok(&["inspect", p(&out), "--json"]);
    let iv: serde_json::Value = serde_json::from_str(&insp).unwrap();
    assert_eq!(iv["vats"].as_array().unwrap().len(), 5);
    assert_eq!(iv["artifacts_by_kind"]["transcript"]["count"], 4);
    assert_eq!(iv["bundles"].as_array().unwrap().len(), 2);
}

/// Format stability: the canonical archive of the tiny fixture. If this changes, the
/// archive format changed: every published digest would change, so FORMAT.md's version
/// must be bumped too.
#[test]
fn format_is_stable_tiny_golden_digest() {
    let t = tempfile::tempdir().unwrap();
    let d = pack_dir(&tiny("genesis/operational"), &t.path().join("g.tar"));
    assert_eq!(
        d,
        "1f1a87da701c28e59f42699da64f1746871f3814dcd936e6b2239f0ce3a2b7da"
    );
    let ex = pack_dir(&repo("examples/tiny-export"), &t.path().join("e.tar"));
    assert_eq!(
        ex, d,
        "examples/tiny-export is the tiny fixture's agd export"
    );
}

fn write_fixture_copy(dst: &Path) {
    copy_dir(&tiny("genesis/operational"), dst);
}

#[test]
fn pack_refuses_broken_inputs_and_leaves_no_output() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out.tar.gz");
    let check = |dir: &Path, want: &str, code: i32| {
        let o = agar(&["pack", p(dir), "-o", p(&out), "-q"]);
        assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(want),
            "want {want:?} in:\n{}",
            stderr(&o)
        );
        assert!(!out.exists(), "partial output left behind");
        let leftovers: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("agar-tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temp files left behind");
    };
    // corrupted artifact: one byte flipped in a transcript span
    let d = t.path().join("corrupt");
    write_fixture_copy(&d);
    let f = d.join("swing-store/2-transcript.v1.43.47");
    let mut b = std::fs::read(&f).unwrap();
    b[10] ^= 0x20;
    std::fs::write(&f, b).unwrap();
    check(&d, "transcript.v1.43.47", 3);
    // corrupted snapshot
    let d = t.path().join("corrupt-snap");
    write_fixture_copy(&d);
    let f = d.join("swing-store/0-snapshot.v1.42");
    let mut b = std::fs::read(&f).unwrap();
    b[100] ^= 1;
    std::fs::write(&f, b).unwrap();
    check(&d, "snapshot bytes hash to", 3);
    // missing artifact (removed from the manifest and the directory)
    let d = t.path().join("missing");
    write_fixture_copy(&d);
    let mpath = d.join("swing-store/export-manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    m["artifacts"]
        .as_array_mut()
        .unwrap()
        .retain(|a| a[0] != "snapshot.v2.40");
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    std::fs::remove_file(d.join("swing-store/1-snapshot.v2.40")).unwrap();
    check(&d, "snapshot.v2.40", 3);
    // a file the manifest names but that is gone
    let d = t.path().join("gone");
    write_fixture_copy(&d);
    std::fs::remove_file(d.join("swing-store/1-snapshot.v2.40")).unwrap();
    check(&d, "1-snapshot.v2.40", 2);
    // a kv.host. key in export data (genesis hash recomputed so that only the key is wrong)
    let d = t.path().join("host");
    write_fixture_copy(&d);
    let dpath = d.join("swing-store/export-data.jsonl");
    let mut data = std::fs::read_to_string(&dpath).unwrap();
    data = data.replacen(
        "[\"kv.activityhash\"",
        "[\"kv.host.height\",\"27\"]\n[\"kv.activityhash\"",
        1,
    );
    std::fs::write(&dpath, &data).unwrap();
    check(&d, "kv.host.height", 3);
    // a genesis whose hash disagrees with the export data
    let d = t.path().join("hash");
    write_fixture_copy(&d);
    let gp = d.join("genesis.json");
    let g = std::fs::read_to_string(&gp)
        .unwrap()
        .replace("b8e9a4e6229d", "b8e9a4e6229e");
    std::fs::write(&gp, g).unwrap();
    check(&d, "do not belong together", 3);
    // a JS export whose height does not match the genesis
    let o = agar(&[
        "pack",
        "--genesis",
        p(&fx("encoding/../tiny/genesis/operational/genesis.json")),
        "--swing-store-export",
        p(&fx("encoding/js-export-debug")),
        "-o",
        p(&out),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("height mismatch"), "{}", stderr(&o));
    assert!(!out.exists());
    // an existing output is not overwritten without --force
    std::fs::write(&out, b"precious").unwrap();
    let o = agar(&["pack", p(&tiny("genesis/operational")), "-o", p(&out), "-q"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    ok(&[
        "pack",
        p(&tiny("genesis/operational")),
        "-o",
        p(&out),
        "-q",
        "--force",
    ]);
}

#[test]
fn verify_catches_a_flipped_byte_in_every_member_kind_and_a_wrong_expect() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("a.tar");
    let digest = pack_dir(&tiny("genesis/debug"), &out);
    ok(&["verify", p(&out), "--expect", &digest]);
    let bytes = std::fs::read(&out).unwrap();
    let wrong = "0".repeat(64);
    let o = agar(&["verify", p(&out), "--expect", &wrong]);
    assert_eq!(o.status.code(), Some(4), "a digest mismatch is refused");
    assert!(stdout(&o).contains("--expect"), "{}", stdout(&o));
    // locate members with the tar crate and flip one content byte in each kind
    let mut a = tar::Archive::new(&bytes[..]);
    let mut spots = Vec::new();
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        spots.push((name, e.raw_file_position(), e.size()));
    }
    let kinds = [
        "genesis-archive.json",
        "genesis.json",
        "export-manifest.json",
        "export-data.jsonl",
        "bundle.b0",
        "bundle.b1",
        "snapshot.",
        "transcript.",
    ];
    for kind in kinds {
        let (name, pos, size) = spots
            .iter()
            .find(|(n, _, _)| n.contains(kind))
            .unwrap()
            .clone();
        let mut b = bytes.clone();
        let at = (pos + size / 2) as usize;
        b[at] ^= 0x01;
        let f = t.path().join("flipped.tar");
        std::fs::write(&f, &b).unwrap();
        let o = agar(&["verify", p(&f)]);
        assert_eq!(o.status.code(), Some(1), "{kind}: {}", stdout(&o));
        let text = stdout(&o);
        let short = name.rsplit('/').next().unwrap();
        assert!(
            text.contains(short),
            "{kind}: problem does not name {name}:\n{text}"
        );
        assert!(text.contains("FAIL"), "{text}");
    }
    // a flipped byte in a header
    let (_, pos, _) = spots[5].clone();
    let mut b = bytes.clone();
    b[pos as usize - 512 + 3] ^= 0x01;
    let f = t.path().join("hdr.tar");
    std::fs::write(&f, &b).unwrap();
    let o = agar(&["verify", p(&f)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("checksum") || stdout(&o).contains("header"),
        "{}",
        stdout(&o)
    );
}

/// An older-format export (SDK <= 0.47): the tiny operational export's entries plus
/// `extra`, inline in genesis.json (sorted as an export lists them, no hash); the
/// swing-store dir keeps its artifacts and has no export data. Returns (genesis, dir).
fn inline_export(t: &Path, extra: &[(String, String)]) -> (PathBuf, PathBuf) {
    let mut g: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tiny("genesis/operational/genesis.json")).unwrap())
            .unwrap();
    let data = std::fs::read_to_string(tiny("export/operational/export-data.jsonl")).unwrap();
    let mut entries: Vec<(String, String)> = data
        .lines()
        .map(|l| {
            let e = agar::gojson::decode_line(l.as_bytes()).unwrap();
            (e.key, e.value.unwrap())
        })
        .chain(extra.iter().cloned())
        .collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let sw = g["app_state"]["swingset"].as_object_mut().unwrap();
    sw.insert("swing_store_export_data".into(), "@INLINE@".into());
    sw.remove("swing_store_export_data_hash");
    // written as text, entry by entry: a serde_json tree of a large section is not needed
    let text = serde_json::to_string(&g).unwrap();
    let (head, tail) = text.split_once("\"@INLINE@\"").unwrap();
    let gpath = t.join("genesis.json");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&gpath).unwrap());
    f.write_all(head.as_bytes()).unwrap();
    f.write_all(b"[").unwrap();
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            f.write_all(b",").unwrap();
        }
        serde_json::to_writer(&mut f, &serde_json::json!({"key": k, "value": v})).unwrap();
    }
    f.write_all(b"]").unwrap();
    f.write_all(tail.as_bytes()).unwrap();
    f.flush().unwrap();
    let ss = t.join("ss");
    copy_dir(&tiny("export/operational"), &ss);
    std::fs::remove_file(ss.join("export-data.jsonl")).unwrap();
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ss.join("export-manifest.json")).unwrap()).unwrap();
    m.as_object_mut().unwrap().remove("data");
    std::fs::write(
        ss.join("export-manifest.json"),
        serde_json::to_vec(&m).unwrap(),
    )
    .unwrap();
    (gpath, ss)
}

fn pack_args<'a>(g: &'a Path, ss: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "pack",
        "--genesis",
        p(g),
        "--swing-store-export",
        p(ss),
        "-o",
        p(out),
        "-q",
    ]
}

/// issue 10: pack collected an older genesis's inline export data into a Vec (a
/// mainnet section is about a million entries). 48 values of 4 MiB (192 MiB of inline
/// data, more than the cap leaves once pack's own buffers are counted) pack under the
/// 256 MiB address-space cap, streamed one entry at a time, and the archive verifies.
#[test]
fn a_large_inline_export_data_section_packs_within_the_memory_cap() {
    let t = tempfile::tempdir().unwrap();
    let extra: Vec<(String, String)> = (0..48)
        .map(|i| (format!("kv.zz.big.{i:02}"), "v".repeat(4 << 20)))
        .collect();
    let (g, ss) = inline_export(t.path(), &extra);
    assert!(std::fs::metadata(&g).unwrap().len() > 192 << 20);
    let out = t.path().join("inline.tar");
    let o = agar_capped(MEMORY_CAP_BYTES, &pack_args(&g, &ss, &out));
    assert!(
        !died_of_cap(&o),
        "pack died under the {MEMORY_CAP_BYTES}-byte cap ({:?}): {}",
        o.status,
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = ok(&["verify", p(&out), "--json"]);
    let rep: serde_json::Value = serde_json::from_str(&v).unwrap();
    assert_eq!(rep["ok"], true, "{v}");
    let data = std::fs::read_to_string(tiny("export/operational/export-data.jsonl")).unwrap();
    let got = ok(&["inspect", p(&out), "--json"]);
    let rep: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(
        rep["export_data_entries"],
        data.lines().count() as u64 + 48,
        "{got}"
    );
}

/// issue 10's boundary: a kv value of exactly the largest accepted size
/// (MAX_VALUE_BYTES, 16 MiB) made of `<`, which Go's encoding escapes 6 times
/// (`\u003c`, a 96 MiB line), packs, verifies and is imported by explode into the DB
/// byte for byte; one byte more is refused by pack with a message naming the key and
/// the limit, and nothing is written.
#[test]
fn the_largest_value_of_go_escaped_bytes_round_trips_and_one_more_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let max = agar::model::MAX_VALUE_BYTES;
    let key = "kv.zz.boundary";
    let (g, ss) = inline_export(t.path(), &[(key.into(), "<".repeat(max))]);
    let out = t.path().join("max.tar");
    let o = agar_capped(MEMORY_CAP_BYTES, &pack_args(&g, &ss, &out));
    assert_eq!(o.status.code(), Some(0), "{:?}: {}", o.status, stderr(&o));
    let o = agar_capped(MEMORY_CAP_BYTES, &["verify", p(&out)]);
    assert_eq!(o.status.code(), Some(0), "{:?}: {}", o.status, stdout(&o));
    let home = t.path().join("home");
    let o = agar_capped(
        MEMORY_CAP_BYTES,
        &["explode", "--db", "--home", p(&home), "-q", p(&out)],
    );
    assert_eq!(o.status.code(), Some(0), "{:?}: {}", o.status, stderr(&o));
    let db = rusqlite::Connection::open_with_flags(
        home.join("data/agoric/swingstore.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let (len, all_lt): (i64, bool) = db
        .query_row(
            "SELECT length(value), value = ?2 FROM kvStore WHERE key = ?1",
            rusqlite::params![&key["kv.".len()..], "<".repeat(max)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((len, all_lt), (max as i64, true));

    let t2 = tempfile::tempdir().unwrap();
    let (g, ss) = inline_export(t2.path(), &[(key.into(), "<".repeat(max + 1))]);
    let out = t2.path().join("over.tar");
    let o = agar_capped(MEMORY_CAP_BYTES, &pack_args(&g, &ss, &out));
    assert_eq!(o.status.code(), Some(3), "{:?}: {}", o.status, stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(key) && e.contains(&format!("at most {max} are accepted")),
        "{e}"
    );
    assert!(!out.exists());
}

/// pack reads back what it wrote before it moves it into place (issue 18): a byte that
/// reaches the file other than it was hashed (a failing disk, a writer bug) is caught,
/// whether the read-back follows the writing (.tar, .tar.zst) or comes after it
/// (.tar.gz, whose chunk index is written last); the previous output stays untouched.
#[test]
fn pack_reads_back_its_output_and_keeps_the_previous_one_when_a_byte_is_wrong() {
    let t = tempfile::tempdir().unwrap();
    for ext in ["tar", "tar.zst", "tar.gz"] {
        let out = t.path().join(format!("out.{ext}"));
        let src = tiny("genesis/operational");
        pack_dir(&src, &out);
        let before = std::fs::read(&out).unwrap();
        // a byte in the middle of the file: inside a member's data or compressed stream
        let at = (before.len() / 2).to_string();
        let o = Command::new(bin())
            .args(["pack", p(&src), "-o", p(&out), "--force", "-q"])
            .env("AGAR_TEST_FLIP_OUTPUT_BYTE", &at)
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{ext}: {err}");
        assert!(
            err.contains("packed archive failed verification, so it was discarded"),
            "{ext}: {err}"
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            before,
            "{ext}: previous output changed"
        );
        let left: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("agar-tmp"))
            .collect();
        assert!(left.is_empty(), "{ext}: temp files left: {left:?}");
    }
}

/// The read-back also checks that the archive reads back with the digest the writer
/// computed and reports: a hashing bug that left every byte right but the reported
/// digest wrong would otherwise publish a hash nobody can reproduce.
#[test]
fn pack_refuses_an_archive_whose_digest_is_not_the_one_it_computed() {
    let t = tempfile::tempdir().unwrap();
    for ext in ["tar", "tar.gz"] {
        let out = t.path().join(format!("out.{ext}"));
        let o = Command::new(bin())
            .args(["pack", p(&tiny("genesis/operational")), "-o", p(&out), "-q"])
            .env("AGAR_TEST_WRONG_DIGEST", "1")
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{ext}: {err}");
        assert!(
            err.contains("packed archive failed verification")
                && err.contains("it reads back with the digest"),
            "{ext}: {err}"
        );
        assert!(!out.exists(), "{ext}");
    }
}

/// A bare output name (`-o out.tar`) is written in the current directory, and a stale
/// temp file a killed run left there (its process gone) is removed, as in any other
/// output directory.
#[test]
fn a_bare_output_name_cleans_stale_temp_files_in_the_current_directory() {
    let t = tempfile::tempdir().unwrap();
    // a PID that cannot be running: above the kernel's pid_max (at most 2^22)
    let stale = t.path().join(".out.tar.agar-tmp-4999999-Ab12Cd");
    std::fs::write(&stale, b"x").unwrap();
    let src = tiny("genesis/operational");
    let o = Command::new(bin())
        .current_dir(t.path())
        .args(["pack", p(&src), "-o", "out.tar", "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stale.exists(), "the stale temp file is still there");
    let left: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["out.tar"]);
}

/// verify's report says what the manifest says (member count with the manifest itself,
/// chain ID, heights), and damage found at the very end (a corrupt end-of-archive
/// marker) is a problem of the archive (exit 1), listed in the report.
#[test]
fn verify_reports_the_manifest_and_lists_a_corrupt_end_marker_as_a_problem() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a.tar");
    pack_dir(&tiny("genesis/operational"), &a);
    let o = Command::new(bin())
        .args(["verify", p(&a), "--json", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let m: serde_json::Value =
        serde_json::from_slice(&tar_members(&std::fs::read(&a).unwrap())[0].1).unwrap();
    assert_eq!(j["members"], m["members"].as_array().unwrap().len() + 1);
    assert_eq!(j["chain_id"], m["chain_id"]);
    assert_eq!(j["initial_height"], m["initial_height"]);
    assert_eq!(j["export_height"], m["export_height"]);
    // inspect counts the kv entries and the artifacts by kind, with their bytes
    let o = Command::new(bin())
        .args(["inspect", p(&a), "--json", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let i: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let members = tar_members(&std::fs::read(&a).unwrap());
    let data = &members
        .iter()
        .find(|(n, _)| n == "swing-store/export-data.jsonl")
        .unwrap()
        .1;
    let kv = data
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"[\"kv."))
        .count();
    assert!(kv > 1);
    assert_eq!(i["kv_entries"], kv);
    let mut by_kind = std::collections::BTreeMap::<String, (u64, u64)>::new();
    for mem in &m["members"].as_array().unwrap()[3..] {
        let name = mem["name"].as_str().unwrap();
        let kind = name
            .strip_prefix("swing-store/")
            .unwrap()
            .split('.')
            .next()
            .unwrap();
        let e = by_kind.entry(kind.to_string()).or_default();
        e.0 += 1;
        e.1 += mem["size"].as_u64().unwrap();
    }
    assert!(by_kind.values().any(|&(n, _)| n > 1));
    let got: std::collections::BTreeMap<String, (u64, u64)> = i["artifacts_by_kind"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                (v["count"].as_u64().unwrap(), v["bytes"].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, by_kind);
    // a byte of the end-of-archive marker
    let mut bytes = std::fs::read(&a).unwrap();
    let n = bytes.len();
    bytes[n - 700] = 1;
    let b = t.path().join("b.tar");
    std::fs::write(&b, &bytes).unwrap();
    let o = Command::new(bin())
        .args(["verify", p(&b), "--json", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["ok"], false);
    let problems = j["problems"].to_string();
    assert!(
        problems.contains("end-of-archive marker is corrupt"),
        "{problems}"
    );
}
