//! Helpers for the edit, diff, kv and rehearsal tests (on top of the shared ones).
#![allow(dead_code)]

pub use super::{fx as fixture, stderr, stdout};

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

pub const BIN: &str = env!("CARGO_BIN_EXE_agar");

/// All members of an archive (plain or gzip) as (name, bytes), in order.
pub fn members(path: &Path) -> Vec<(String, Vec<u8>)> {
    let raw = std::fs::read(path).unwrap();
    if raw.starts_with(&[0x1f, 0x8b]) {
        super::tar_members(&super::gunzip(&raw))
    } else {
        super::tar_members(&raw)
    }
}

pub fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run agar")
}

pub fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut c = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agar");
    c.stdin.take().unwrap().write_all(input).unwrap();
    c.wait_with_output().unwrap()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// The last stdout line (where pack and edit print the digest).
pub fn last_line(o: &Output) -> String {
    stdout(o).lines().last().unwrap_or_default().to_string()
}

pub fn ok(o: &Output) -> &Output {
    assert!(
        o.status.success(),
        "agar failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    o
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Pack a fixture export (`tiny/genesis/operational` etc.) into `dir/name`; return the path
/// and digest.
pub fn pack(dir: &Path, export: &str, name: &str) -> (PathBuf, String) {
    let out = dir.join(name);
    let o = run(&[
        "pack",
        fixture(export).to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    ok(&o);
    (out, last_line(&o))
}

/// The sha256 of the whole uncompressed tar stream (the archive digest), independently.
pub fn tar_digest(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap();
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut d = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut d)
            .unwrap();
        sha256_hex(&d)
    } else {
        sha256_hex(&raw)
    }
}

pub fn member<'a>(ms: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &ms.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no member {name}"))
        .1
}

pub fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap()
}

/// Files in `dir` (to check that refused edits leave nothing behind).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every recomputed value of an archive checked independently of agar: the export-data
/// member hashes to the genesis hash and the manifest hash; every member digest in the
/// manifest matches; `agar verify` passes.
pub fn check_consistent(path: &Path) -> serde_json::Value {
    let ms = members(path);
    let manifest = json(member(&ms, "genesis-archive.json"));
    let data = member(&ms, "swing-store/export-data.jsonl");
    let want = format!("sha256:{}", sha256_hex(data));
    let genesis = json(member(&ms, "genesis.json"));
    assert_eq!(
        genesis["app_state"]["swingset"]["swing_store_export_data_hash"],
        serde_json::Value::String(want.clone())
    );
    assert_eq!(
        manifest["swing_store_export_data_hash"],
        serde_json::Value::String(want)
    );
    for m in manifest["members"].as_array().unwrap() {
        let name = m["name"].as_str().unwrap();
        assert_eq!(
            m["sha256"].as_str().unwrap(),
            sha256_hex(member(&ms, name)),
            "member {name}"
        );
    }
    let em = json(member(&ms, "swing-store/export-manifest.json"));
    // initial_height is a string in SDK ≤ 0.47 exports, a number in 0.50+
    let h = &genesis["initial_height"];
    let h = h
        .as_str()
        .map_or(h.clone(), |s| serde_json::json!(s.parse::<u64>().unwrap()));
    assert_eq!(em["blockHeight"], h);
    let v = run(&["verify", path.to_str().unwrap(), "-q"]);
    ok(&v);
    manifest
}
