//! Confined inputs (issue 13): pack and diff read regular files only (no device, no FIFO,
//! no symlink leading out of the export directory) with size caps; edit-script file
//! references stay inside the script's directory (or one named with --allow-files-in) and
//! their content is never printed; reading commands write nothing, not even scratch files
//! for large b1 bundles.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Run agar, killing it if it has not finished within a minute (a FIFO read would hang).
fn agar_within(args: &[&str]) -> Output {
    let mut c = Command::new(bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while c.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = c.kill();
            panic!("agar {args:?} hung (blocked on a FIFO or device?)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    c.wait_with_output().unwrap()
}

/// A copy of the tiny agd export directory (genesis.json + swing-store/).
fn export_copy(root: &Path, name: &str) -> PathBuf {
    let d = root.join(name);
    copy_dir(&fx("tiny/genesis/operational"), &d);
    d
}

fn refused_input(o: &Output, what: &str, want: &str) {
    let e = stderr(o);
    assert!(
        matches!(o.status.code(), Some(2..=4)),
        "{what}: exit {:?}\n{e}",
        o.status.code()
    );
    assert!(e.contains(want), "{what}: {want:?} not in {e}");
}

#[test]
fn pack_and_diff_read_regular_files_inside_the_export_only() {
    let w = tempfile::tempdir().unwrap();
    let out = w.path().join("out.tar");
    let secret = w.path().join("secret.json");
    std::fs::write(&secret, "{\"secret\":1}").unwrap();
    let good = export_copy(w.path(), "good");
    let digest = pack_dir(&good, &w.path().join("good.tar"));

    // genesis.json: a link to /dev/zero, to a file outside, a FIFO, a device named directly
    type Make = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Make, &str)> = vec![
        (
            "genesis.json -> /dev/zero",
            Box::new(|d: &Path| {
                std::fs::remove_file(d.join("genesis.json")).unwrap();
                std::os::unix::fs::symlink("/dev/zero", d.join("genesis.json")).unwrap();
            }),
            "outside",
        ),
        (
            "genesis.json -> a file outside",
            Box::new(|d: &Path| {
                std::fs::remove_file(d.join("genesis.json")).unwrap();
                std::os::unix::fs::symlink("../secret.json", d.join("genesis.json")).unwrap();
            }),
            "outside",
        ),
        (
            "genesis.json a FIFO",
            Box::new(|d: &Path| {
                std::fs::remove_file(d.join("genesis.json")).unwrap();
                mkfifo(&d.join("genesis.json"));
            }),
            "FIFO",
        ),
        (
            "export-manifest.json -> /dev/zero",
            Box::new(|d: &Path| {
                let m = d.join("swing-store/export-manifest.json");
                std::fs::remove_file(&m).unwrap();
                std::os::unix::fs::symlink("/dev/zero", &m).unwrap();
            }),
            "outside",
        ),
        (
            "export-manifest.json a FIFO",
            Box::new(|d: &Path| {
                let m = d.join("swing-store/export-manifest.json");
                std::fs::remove_file(&m).unwrap();
                mkfifo(&m);
            }),
            "FIFO",
        ),
    ];
    for (i, (what, make, want)) in cases.iter().enumerate() {
        let d = export_copy(w.path(), &format!("case{i}"));
        make(&d);
        let o = agar_within(&["pack", p(&d), "-o", p(&out), "-q"]);
        refused_input(&o, what, want);
        assert!(!out.exists(), "{what}: output left behind");
        // diff with an export directory reads the same way
        let o = agar_within(&["diff", p(&d), p(&w.path().join("good.tar")), "-q"]);
        refused_input(&o, &format!("diff {what}"), want);
    }
    // a device or FIFO named on the command line is refused too (promptly)
    let o = agar_within(&[
        "pack",
        "--genesis",
        "/dev/zero",
        "--swing-store-export",
        p(&good.join("swing-store")),
        "-o",
        p(&out),
        "-q",
    ]);
    refused_input(&o, "--genesis /dev/zero", "device");
    let fifo = w.path().join("g.fifo");
    mkfifo(&fifo);
    let o = agar_within(&[
        "pack",
        "--genesis",
        p(&fifo),
        "--swing-store-export",
        p(&good.join("swing-store")),
        "-o",
        p(&out),
        "-q",
    ]);
    refused_input(&o, "--genesis FIFO", "FIFO");
    assert!(!out.exists());
    // a link that stays inside the export directory is fine
    let d = export_copy(w.path(), "inner-link");
    std::fs::rename(d.join("genesis.json"), d.join("real-genesis.json")).unwrap();
    std::os::unix::fs::symlink("real-genesis.json", d.join("genesis.json")).unwrap();
    assert_eq!(pack_dir(&d, &out), digest);
}

/// A script directory with a kv-add `value_file` reference to `name`.
fn script_with(dir: &Path, op: serde_json::Value) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let s = dir.join("edits.json");
    std::fs::write(
        &s,
        serde_json::to_vec(&serde_json::json!({ "edits": [op] })).unwrap(),
    )
    .unwrap();
    s
}

#[test]
fn edit_script_file_references_stay_inside_and_are_never_printed() {
    let w = tempfile::tempdir().unwrap();
    let a = w.path().join("in.tar");
    pack_dir(&fx("tiny/genesis/operational"), &a);
    let out = w.path().join("out.tar");
    let secret_text = "TOPSECRET-priv-validator-key-0123456789";
    let secret = w.path().join("priv_validator_key.json");
    std::fs::write(&secret, secret_text).unwrap();
    let sdir = w.path().join("scripts");
    let edit = |script: &Path, extra: &[&str]| {
        let mut args = vec![
            "edit",
            p(&a),
            "-o",
            p(&out),
            "--script",
            p(script),
            "--force",
        ];
        args.extend_from_slice(extra);
        agar_within(&args)
    };
    let kv =
        |f: &str| serde_json::json!({"op": "kv-add", "key": "agarTest.value", "value_file": f});
    // outside the script's directory: .., an absolute path, /proc, a link out
    std::fs::create_dir_all(&sdir).unwrap();
    std::os::unix::fs::symlink(&secret, sdir.join("link")).unwrap();
    for (f, what) in [
        ("../priv_validator_key.json", ".."),
        (p(&secret), "absolute"),
        ("/proc/self/environ", "/proc"),
        ("link", "symlink out"),
    ] {
        let s = script_with(&sdir, kv(f));
        let o = edit(&s, &[]);
        assert_eq!(o.status.code(), Some(4), "{what}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains("outside the script's directory"), "{what}: {e}");
        assert!(!e.contains(secret_text) && !stdout(&o).contains(secret_text));
        assert!(!out.exists(), "{what}");
        // bundle and artifact references are confined the same way
        for op in [
            serde_json::json!({"op": "bundle-add", "file": f}),
            serde_json::json!({"op": "artifact-replace", "name": "snapshot.v1.42", "file": f}),
        ] {
            let s = script_with(&sdir, op);
            let o = edit(&s, &[]);
            assert_eq!(o.status.code(), Some(4), "{what}: {}", stderr(&o));
            assert!(stderr(&o).contains("outside the script's directory"));
        }
    }
    // a FIFO beside the script: refused at once
    mkfifo(&sdir.join("fifo"));
    let s = script_with(&sdir, kv("fifo"));
    let o = edit(&s, &[]);
    assert!(stderr(&o).contains("FIFO"), "{}", stderr(&o));
    // --allow-files-in names a trusted directory: then the file is used, but its content
    // is never printed (only its size and digest)
    let s = script_with(&sdir, kv("../priv_validator_key.json"));
    let o = edit(&s, &["--allow-files-in", p(w.path())]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (so, se) = (stdout(&o), stderr(&o));
    assert!(
        !so.contains("TOPSECRET") && !se.contains("TOPSECRET"),
        "{so}\n{se}"
    );
    assert!(
        so.contains(&format!("{} bytes", secret_text.len()))
            || se.contains(&format!("{} bytes", secret_text.len())),
        "{so}\n{se}"
    );
    // a file beside the script needs no flag
    std::fs::write(sdir.join("value.txt"), "beside-value").unwrap();
    let s = script_with(&sdir, kv("value.txt"));
    let o = edit(&s, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("beside-value") && !stderr(&o).contains("beside-value"));
}

// ---- a b1 bundle over 8 MiB: verify/inspect/digest write nothing and stay bounded ----

fn crc32(b: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(b);
    c.sum()
}

/// A STORED zip (the endo bundle layout): local entries, central directory, end record.
fn stored_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let off = z.len() as u32;
        let (crc, n) = (crc32(data), data.len() as u32);
        let head = |sig: u32, central: bool| {
            let mut h = Vec::new();
            h.extend(sig.to_le_bytes());
            if central {
                h.extend(20u16.to_le_bytes());
            }
            h.extend(10u16.to_le_bytes()); // version needed
            h.extend(0u16.to_le_bytes()); // flags
            h.extend(0u16.to_le_bytes()); // STORED
            h.extend(0u32.to_le_bytes()); // time, date
            h.extend(crc.to_le_bytes());
            h.extend(n.to_le_bytes());
            h.extend(n.to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes()); // extra
            if central {
                h.extend(0u16.to_le_bytes()); // comment
                h.extend(0u16.to_le_bytes()); // disk
                h.extend(0u16.to_le_bytes()); // internal attrs
                h.extend(0u32.to_le_bytes()); // external attrs
                h.extend(off.to_le_bytes());
            }
            h.extend(name.as_bytes());
            h
        };
        z.extend(head(0x0403_4b50, false));
        z.extend_from_slice(data);
        central.extend(head(0x0201_4b50, true));
    }
    let cd_off = z.len() as u32;
    z.extend(&central);
    z.extend(0x0605_4b50u32.to_le_bytes());
    z.extend([0u8; 4]);
    z.extend((files.len() as u16).to_le_bytes());
    z.extend((files.len() as u16).to_le_bytes());
    z.extend((central.len() as u32).to_le_bytes());
    z.extend(cd_off.to_le_bytes());
    z.extend(0u16.to_le_bytes());
    z
}

fn sha512_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha512};
    hex::encode(Sha512::digest(b))
}

#[test]
fn reading_commands_write_nothing_for_a_large_b1_bundle() {
    let w = tempfile::tempdir().unwrap();
    let a = w.path().join("in.tar");
    pack_dir(&fx("tiny/genesis/operational"), &a);
    // a 9 MiB module (incompressible-looking text, so the archive is large too)
    let mut module = Vec::with_capacity(9 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while module.len() < 9 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        module.extend_from_slice(format!("export const v{:x} = {};\n", x, x % 1000).as_bytes());
    }
    let cmap = serde_json::to_vec(&serde_json::json!({
        "entry": {"compartment": "c", "module": "./m.js"},
        "compartments": {"c": {"name": "c", "label": "c", "location": "c",
            "modules": {"./m.js": {"location": "m.js", "parser": "pre-mjs-json", "sha512": sha512_hex(&module)}}}}
    }))
    .unwrap();
    let zip = stored_zip(&[("compartment-map.json", &cmap), ("c/m.js", &module)]);
    assert!(zip.len() > 8 << 20);
    let bundle = w.path().join("big.zip");
    std::fs::write(&bundle, &zip).unwrap();
    let big = w.path().join("big.tar");
    let o = agar(&[
        "edit",
        p(&a),
        "-o",
        p(&big),
        "--bundle-add",
        p(&bundle),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = format!("b1-{}", sha512_hex(&cmap));
    assert!(
        stderr(&o).contains(&id) || stdout(&o).contains(&id) || {
            // the ID is in the archive either way
            let m = std::fs::read(&big).unwrap();
            m.windows(id.len()).any(|w| w == id.as_bytes())
        }
    );
    let tmp = w.path().join("tmpdir");
    std::fs::create_dir(&tmp).unwrap();
    for cmd in [&["verify"][..], &["inspect"], &["digest"]] {
        let mut args: Vec<&str> = cmd.to_vec();
        args.extend([p(&big), "-q"]);
        let o = Command::new("prlimit")
            .arg(format!("--as={MEMORY_CAP_BYTES}"))
            .arg("--")
            .arg(bin())
            .args(&args)
            .env("TMPDIR", &tmp)
            .env("MALLOC_ARENA_MAX", "2")
            .output()
            .expect("run prlimit (util-linux)");
        assert!(
            !died_of_cap(&o),
            "{cmd:?} died of the memory cap: {}",
            stderr(&o)
        );
        assert!(o.status.success(), "{cmd:?}: {}", stderr(&o));
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(left.is_empty(), "{cmd:?} wrote into TMPDIR: {left:?}");
    }
    // a damaged module byte is still caught, streaming
    let mut bad = zip.clone();
    let at = bad.len() / 2;
    bad[at] ^= 1;
    std::fs::write(&bundle, &bad).unwrap();
    let o = agar(&[
        "edit",
        p(&a),
        "-o",
        p(&w.path().join("bad.tar")),
        "--bundle-add",
        p(&bundle),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("CRC"), "{}", stderr(&o));
}
