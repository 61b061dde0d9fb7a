//! An honest toolchain and install: `rust-version` is exactly what the locked
//! dependencies need, the README says so (and what the tests need); completions, man
//! pages and `--version` come from the binary.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn parse_version(v: &str) -> (u64, u64, u64) {
    let mut it = v.split('.').map(|x| x.parse::<u64>().unwrap());
    (
        it.next().unwrap(),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// The newest `rust-version` among the packages reachable from agar (normal and build
/// dependencies; with `dev`, the test dependencies too) on this host, per Cargo.lock.
fn needed(meta: &Value, dev: bool) -> ((u64, u64, u64), String) {
    let pk: BTreeMap<&str, &Value> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root = meta["resolve"]["root"].as_str().unwrap();
    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for d in nodes[id]["deps"].as_array().unwrap() {
            let only_dev = d["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["kind"] == "dev");
            if only_dev && (id != root || !dev) {
                continue;
            }
            stack.push(d["pkg"].as_str().unwrap());
        }
    }
    seen.remove(root);
    seen.iter()
        .filter_map(|id| {
            let p = pk[id];
            let v = p["rust_version"].as_str()?;
            Some((parse_version(v), p["name"].as_str().unwrap().to_string()))
        })
        .max()
        .unwrap()
}

#[test]
fn rust_version_is_what_the_lock_needs() {
    let host = String::from_utf8(
        Command::new(cargo())
            .arg("-vV")
            .output()
            .expect("cargo -vV")
            .stdout,
    )
    .unwrap();
    let host = host
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("host line")
        .to_string();
    let o = Command::new(cargo())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--filter-platform",
            &host,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let meta: Value = serde_json::from_slice(&o.stdout).unwrap();
    let ours = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "agar")
        .unwrap()["rust_version"]
        .as_str()
        .expect("Cargo.toml sets rust-version")
        .to_string();
    let (build, by) = needed(&meta, false);
    let (test, test_by) = needed(&meta, true);
    let show = |v: (u64, u64, u64)| format!("{}.{}", v.0, v.1);
    assert_eq!(
        parse_version(&ours),
        build,
        "rust-version {ours} but {by} needs {}",
        show(build)
    );
    let readme = std::fs::read_to_string(common::repo("README.md")).unwrap();
    assert!(
        readme.contains(&format!("Rust {}+ to build", show(build))),
        "README must say Rust {}+ to build",
        show(build)
    );
    assert!(
        readme.contains(&format!("tests needs Rust {}+", show(test))),
        "README must say the tests need Rust {}+ ({test_by})",
        show(test)
    );
    assert!(readme.contains("cargo install --locked --path ."));
}

#[test]
fn completions_for_every_shell_and_man_pages() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = common::agar(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", common::stderr(&o));
        let text = common::stdout(&o);
        // every command is completed
        for cmd in ["pack", "verify", "explode", "edit", "diff", "kv", "dump"] {
            assert!(text.contains(cmd), "{shell} completions lack {cmd}");
        }
        assert!(text.contains("kv-add"), "{shell} completions lack --kv-add");
    }
    let o = common::agar(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    let man = common::ok(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH agar 1"),
        "{man}"
    );
    assert!(man.contains("explode"));
    let d = tempfile::tempdir().unwrap();
    common::ok(&["man", "--dir", d.path().to_str().unwrap()]);
    for page in ["agar.1", "agar-pack.1", "agar-edit.1", "agar-kv.1"] {
        let text = std::fs::read_to_string(d.path().join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
}

#[test]
fn version_names_the_git_commit_when_built_from_git() {
    let v = common::ok(&["--version"]);
    assert!(
        v.starts_with(&format!("agar {}", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match head {
        Ok(o) if o.status.success() => {
            let c = String::from_utf8(o.stdout).unwrap();
            // the binary was built from this checkout (build.rs reruns when HEAD moves)
            assert!(v.contains(&format!("(git {})", c.trim())), "{v} vs {c}");
        }
        // no git, or not a checkout: the plain package version, nothing invented
        _ => assert_eq!(v.trim(), format!("agar {}", env!("CARGO_PKG_VERSION"))),
    }
}
