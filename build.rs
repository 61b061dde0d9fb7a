//! Puts the git commit into `agar --version` when built from a git checkout (DB bytes
//! are only promised to match within one agar version, so the exact build matters).
//! Without git, or outside a repository (a crates.io tarball), the version is the
//! package version alone.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let o = Command::new("git").args(args).output().ok()?;
    if !o.status.success() {
        return None;
    }
    let s = String::from_utf8(o.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    let suffix = commit.map_or(String::new(), |c| format!(" (git {c})"));
    println!("cargo:rustc-env=AGAR_VERSION_SUFFIX={suffix}");
    // rebuild when HEAD moves: HEAD itself, the branch it names, packed refs. Only
    // paths that exist: cargo treats a missing one as changed on every build, which
    // recompiled the crate on every cargo command in a repository without packed-refs.
    // A branch with no loose ref file yet (all refs packed) gets one in its folder when
    // it moves, so that folder is watched instead.
    let watch = |path: &Path| {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    };
    for p in ["HEAD", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", p]) {
            watch(Path::new(&path));
        }
    }
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(path) = git(&["rev-parse", "--git-path", &r]) {
            let path = Path::new(&path);
            match path.parent() {
                Some(dir) if !path.exists() => watch(dir),
                _ => watch(path),
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
