//! The integration suite: one test binary (cargo's own testsuite layout), one module per
//! command or concern, each driving the real `agar` binary on real fixtures. One binary
//! instead of ~35 saves compiling `common` and linking the library 35 times, which dominated
//! CI time. Run one module with `cargo test --profile ci --test suite <module>::`.
//!
//! A new file in `tests/` must be declared below: `every_test_file_is_in_the_suite` fails
//! otherwise (with `autotests = false`, cargo would silently skip it).

mod common;

mod attest;
mod backup;
mod bad_input;
mod bounds;
mod chain;
mod compression;
mod confine;
mod conventions;
mod dbimport;
mod diff;
mod edit;
mod edit_explode;
mod exit_codes;
mod explode;
mod explode_home;
mod explode_hostile;
mod gen_mainnet;
mod hostile;
mod json_archive;
mod json_canon;
mod json_memory;
mod kv;
mod memory;
mod pack;
mod pack_db_opened;
mod pack_from_db;
mod pack_source;
mod props;
mod rehearsal;
mod remote;
mod schemas;
mod signals;
mod term_safety;
mod toolchain;

/// Every `tests/*.rs` file is a module of this suite, so none is silently left out.
#[test]
fn every_test_file_is_in_the_suite() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(module) = name.strip_suffix(".rs") else {
            continue;
        };
        if module != "main" && !main.lines().any(|l| l == format!("mod {module};")) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "not declared in tests/main.rs: {missing:?}"
    );
}
