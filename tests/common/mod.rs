//! Helpers shared by the integration tests: run the real binary on fixtures.
#![allow(dead_code)]

pub mod craft;

pub mod edit;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_agar")
}

pub fn fx(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn agar(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run agar")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run agar, require exit 0, return stdout.
pub fn ok(args: &[&str]) -> String {
    let o = agar(args);
    assert!(
        o.status.success(),
        "agar {args:?} failed ({:?}):\n{}\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// The digest pack prints alone on its last stdout line.
pub fn last_line(s: &str) -> String {
    s.lines().last().unwrap_or_default().trim().to_string()
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Pack `genesis` + swing-store export `ss` into `out`, return the printed digest.
pub fn pack_js(genesis: &Path, ss: &Path, out: &Path) -> String {
    let s = ok(&[
        "pack",
        "--genesis",
        p(genesis),
        "--swing-store-export",
        p(ss),
        "-o",
        p(out),
        "-q",
    ]);
    let d = last_line(&s);
    assert_eq!(d.len(), 64, "digest line: {s}");
    d
}

pub fn pack_dir(dir: &Path, out: &Path) -> String {
    last_line(&ok(&["pack", p(dir), "-o", p(out), "-q"]))
}

pub fn sha256_file(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(std::fs::read(path).expect("read")))
}

/// Copy a directory tree (regular files only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
            let mut perm = std::fs::metadata(&t).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&t, perm).unwrap();
        }
    }
}

/// The members of a plain tar archive as (name, bytes), read with the `tar` crate
/// (an independent reader).
pub fn tar_members(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            (name, v)
        })
        .collect()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut v = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut v)
        .unwrap();
    v
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Address-space cap used by the memory tests (issue 10: any archive costs a reading
/// command at most 256 MiB, whatever it declares).
pub const MEMORY_CAP_BYTES: u64 = 256 << 20;

/// Run agar under an address-space limit (`RLIMIT_AS`, set by `prlimit` from util-linux,
/// which CI has). glibc reserves 64 MiB of address space per malloc arena and thread,
/// so the run pins `MALLOC_ARENA_MAX=2`, as an operator would under a tight cap; a run
/// that needs more than `cap` dies with an allocation failure (exit 134 or a signal)
/// instead of growing.
pub fn agar_capped(cap: u64, args: &[&str]) -> Output {
    Command::new("prlimit")
        .arg(format!("--as={cap}"))
        .arg("--")
        .arg(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .env("MALLOC_ARENA_MAX", "2")
        .output()
        .expect("run prlimit (util-linux) to cap agar's address space")
}

/// True when the capped run died of the cap (allocation failure, abort or a signal)
/// rather than exiting with one of agar's documented codes.
pub fn died_of_cap(o: &Output) -> bool {
    !matches!(o.status.code(), Some(0..=4))
}

/// Every entry under `dir`: relative path -> "dir" / "file <sha256>" / "link <target>"
/// (to check that a command left a tree byte-identical).
pub fn tree(dir: &Path) -> std::collections::BTreeMap<String, String> {
    use sha2::{Digest, Sha256};
    fn walk(base: &Path, d: &Path, out: &mut std::collections::BTreeMap<String, String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let md = std::fs::symlink_metadata(&p).unwrap();
            if md.file_type().is_symlink() {
                out.insert(rel, format!("link {:?}", std::fs::read_link(&p).unwrap()));
            } else if md.is_dir() {
                out.insert(rel, "dir".into());
                walk(base, &p, out);
            } else {
                let b = std::fs::read(&p).unwrap();
                out.insert(rel, format!("file {}", hex::encode(Sha256::digest(&b))));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
