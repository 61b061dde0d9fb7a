//! Hostile and broken archives (issue 7): every corruption, truncation, appended byte,
//! reordering, duplicate, hostile name and hostile entry type must make `agar verify`
//! fail (exit 1) with a message naming the member, never succeed, never panic, and never
//! write anything.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::craft;
use crate::common::*;

struct Fx {
    t: tempfile::TempDir,
    tar: Vec<u8>,
    gz: Vec<u8>,
    digest: String,
}

/// The tiny debug export packed as .tar and .tar.gz: every member kind (b0 and b1
/// bundles, snapshots, transcript spans, a PAX header for the long b1 name).
fn fixture() -> Fx {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("good.tar");
    let digest = pack_dir(&fx("tiny/genesis/debug"), &a);
    let g = t.path().join("good.tar.gz");
    assert_eq!(pack_dir(&fx("tiny/genesis/debug"), &g), digest);
    let fx = Fx {
        tar: std::fs::read(&a).unwrap(),
        gz: std::fs::read(&g).unwrap(),
        digest,
        t,
    };
    std::fs::remove_file(a).unwrap();
    std::fs::remove_file(g).unwrap();
    fx
}

/// Verify `bytes` from a fresh directory, with the working directory another fresh
/// directory; return (exit code, stdout + stderr). Asserts no panic and that nothing
/// was written anywhere near.
fn verify_bytes(root: &Path, bytes: &[u8], name: &str) -> (i32, String) {
    let dir = tempfile::tempdir_in(root).unwrap();
    let cwd = tempfile::tempdir_in(root).unwrap();
    let f = dir.path().join(name);
    std::fs::write(&f, bytes).unwrap();
    let o = Command::new(bin())
        .args(["verify", p(&f)])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!text.contains("panicked"), "panic:\n{text}");
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "verify wrote into its working directory"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "verify wrote next to the archive"
    );
    assert!(!root.join("evil").exists() && !dir.path().join("evil").exists());
    (o.status.code().unwrap_or(-1), text)
}

/// Verify must fail with exit 1; returns the output.
fn reject(root: &Path, bytes: &[u8], name: &str, what: &str) -> String {
    let (code, text) = verify_bytes(root, bytes, name);
    assert_eq!(code, 1, "{what}: expected exit 1, got {code}:\n{text}");
    assert!(text.contains("FAIL"), "{what}: {text}");
    text
}

fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap()
}

#[test]
fn the_fixture_verifies_and_splits_back_byte_identically() {
    let f = fixture();
    let s = craft::split(&f.tar);
    assert_eq!(s.join(), f.tar);
    assert_eq!(
        craft::rebuild(&s.manifest, &s.contents()),
        f.tar,
        "rebuild of an unchanged member list is the canonical archive"
    );
    for (bytes, name) in [(&f.tar, "a.tar"), (&f.gz, "a.tar.gz")] {
        let (code, text) = verify_bytes(f.t.path(), bytes, name);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains(&f.digest));
    }
    // a different gzip compressor is fine: the digest is of the tar stream
    let (code, text) = verify_bytes(f.t.path(), &craft::gz(&f.tar), "b.tar.gz");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&f.digest));
}

#[test]
fn truncated_tar_at_every_block_and_sampled_offsets_is_an_error() {
    let f = fixture();
    let n = f.tar.len();
    let mut cuts: Vec<usize> = (0..n).step_by(512).collect();
    for b in (0..n).step_by(512 * 7) {
        cuts.extend([b + 1, b + 100, b + 511]);
    }
    cuts.extend([n - 1, n - 512, n - 1024 + 1]);
    cuts.retain(|&c| c < n);
    cuts.sort();
    cuts.dedup();
    for &c in &cuts {
        let text = reject(f.t.path(), &f.tar[..c], "cut.tar", &format!("cut at {c}"));
        assert!(text.contains("truncated"), "cut at {c}: {text}");
    }
    eprintln!("{} truncations of the {n}-byte tar rejected", cuts.len());
}

#[test]
fn truncated_gzip_at_every_block_trailer_byte_and_sampled_offsets_is_an_error() {
    let f = fixture();
    let n = f.gz.len();
    let mut cuts: Vec<usize> = (0..n).step_by(512).collect();
    cuts.extend(n.saturating_sub(64)..n);
    cuts.extend((0..60).map(|i| (i * 7919 + 13) % n));
    cuts.extend(0..12);
    cuts.sort();
    cuts.dedup();
    for &c in &cuts {
        let text = reject(
            f.t.path(),
            &f.gz[..c],
            "cut.tar.gz",
            &format!("gz cut at {c}"),
        );
        assert!(
            text.contains("truncated") || text.contains("gzip") || text.contains("corrupt"),
            "gz cut at {c}: {text}"
        );
    }
    eprintln!("{} truncations of the {n}-byte tar.gz rejected", cuts.len());
}

#[test]
fn truncation_through_a_pipe_is_an_error() {
    // no file size to compare with: the stream itself must end early
    let f = fixture();
    for (bytes, cut) in [
        (&f.tar, f.tar.len() - 1024),
        (&f.tar, f.tar.len() / 2),
        (&f.gz, f.gz.len() - 4),
    ] {
        let mut c = Command::new(bin())
            .args(["verify", "/dev/stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let data = bytes[..cut].to_vec();
        let mut stdin = c.stdin.take().unwrap();
        let w = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let o = c.wait_with_output().unwrap();
        w.join().unwrap();
        let text = format!("{}{}", stdout(&o), stderr(&o));
        assert_eq!(o.status.code(), Some(1), "pipe cut at {cut}: {text}");
        assert!(!text.contains("panicked"));
    }
    // and the whole archive through a pipe verifies
    let mut c = Command::new(bin())
        .args(["verify", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let data = f.gz.clone();
    let mut stdin = c.stdin.take().unwrap();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let o = c.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn appended_bytes_are_an_error() {
    let f = fixture();
    let root = f.t.path();
    let random: Vec<u8> = (0..100u32)
        .map(|i| (i.wrapping_mul(2654435761u32) >> 13) as u8)
        .collect();
    let tails: Vec<(&str, Vec<u8>)> = vec![
        ("newline", b"\n".to_vec()),
        ("one zero byte", vec![0]),
        ("one zero block", vec![0; 512]),
        ("two zero blocks", vec![0; 1024]),
        ("GNU tar record padding", vec![0; 10240 - 1024]),
        ("random bytes", random.clone()),
        ("a second archive", f.tar.clone()),
    ];
    for (what, tail) in &tails {
        let b = [&f.tar[..], tail].concat();
        let text = reject(root, &b, "a.tar", what);
        assert!(text.contains("after the end"), "{what}: {text}");
        // the same bytes inside the deflate stream
        let text = reject(root, &craft::gz(&b), "a.tar.gz", what);
        assert!(
            text.contains("after the end") || text.contains("follows the last member"),
            "gz inner {what}: {text}"
        );
        // and after the gzip member
        let text = reject(root, &[&f.gz[..], tail].concat(), "a.tar.gz", what);
        assert!(
            text.contains("after the gzip stream") || text.contains("gzip"),
            "gz outer {what}: {text}"
        );
    }
    // a second gzip member (concatenated .gz files)
    let text = reject(root, &[&f.gz[..], &f.gz[..]].concat(), "a.tar.gz", "gz x2");
    assert!(text.contains("second member"), "{text}");
    // one byte short of two zero blocks, then EOF
    reject(root, &f.tar[..f.tar.len() - 1], "a.tar", "short end marker");
}

#[test]
fn a_flipped_byte_in_every_member_header_and_padding_names_the_member() {
    let f = fixture();
    let root = f.t.path();
    let s = craft::split(&f.tar);
    let layout = s.layout();
    let mut runs = 0;
    for (i, (name, h, c, len)) in layout.iter().enumerate() {
        let mut spots: Vec<(String, usize)> = Vec::new();
        if *len > 0 {
            for at in [0, len / 2, len - 1] {
                spots.push((format!("content byte {at}"), c + at));
            }
        }
        // fields of the ustar block (the last header block) and, if any, the PAX block
        let ustar = c - 512;
        for (field, off) in [
            ("name", 0),
            ("mode", 101),
            ("uid", 110),
            ("size", 126),
            ("mtime", 140),
            ("checksum", 150),
            ("type", 156),
            ("linkname", 157),
            ("magic", 258),
            ("version", 263),
            ("uname", 265),
            ("devmajor", 330),
            ("prefix", 345),
            ("padding", 505),
        ] {
            spots.push((format!("header {field}"), ustar + off));
        }
        if ustar > *h {
            spots.push(("PAX header block".into(), h + 10));
            spots.push(("PAX record".into(), h + 512 + 5));
        }
        let pad = craft::split(&f.tar).parts[i].bytes().len() - (c - h) - len;
        if pad > 0 {
            spots.push(("content padding".into(), c + len + pad / 2));
        }
        for (what, at) in spots {
            let mut b = f.tar.clone();
            b[at] ^= 0x01;
            let text = reject(root, &b, "flip.tar", &format!("{name} {what}"));
            let named = text.contains(short(name)) || (i == 0 && text.contains("archive manifest"));
            assert!(
                named,
                "{name} {what}: the problem does not name it:\n{text}"
            );
            runs += 1;
        }
    }
    // the end-of-archive marker
    for at in [f.tar.len() - 1024, f.tar.len() - 1] {
        let mut b = f.tar.clone();
        b[at] ^= 0x01;
        let text = reject(root, &b, "flip.tar", "end marker");
        assert!(text.contains("end-of-archive"), "{text}");
        runs += 1;
    }
    // compressed bytes: header, deflate body, trailer
    let n = f.gz.len();
    let mut gz_spots: Vec<usize> = (0..n).step_by(97).collect();
    gz_spots.extend([0, 1, 2, n - 8, n - 5, n - 4, n - 1]);
    let mut accepted = 0;
    for at in gz_spots {
        let mut b = f.gz.clone();
        b[at] ^= 0x01;
        let (code, text) = verify_bytes(root, &b, "flip.tar.gz");
        if code == 0 {
            // only the gzip wrapper's header bytes (flags aside) are outside the digest
            assert!((4..10).contains(&at), "flip at {at} accepted:\n{text}");
            assert!(text.contains(&f.digest));
            accepted += 1;
        } else {
            assert_eq!(code, 1, "gz flip at {at}: {text}");
        }
        runs += 1;
    }
    eprintln!(
        "{runs} single-byte flips rejected ({accepted} in the gzip header's mtime/xfl/os accepted)"
    );
}

#[test]
fn reordered_duplicated_and_missing_members_are_errors() {
    let f = fixture();
    let root = f.t.path();
    let s = craft::split(&f.tar);
    let raw = |parts: Vec<craft::Part>| {
        let mut s2 = s.clone();
        s2.parts = parts;
        s2.join()
    };
    let snap = s.find("snapshot.v1.");
    let tr = s.find("transcript.");
    // raw byte edits (manifest unchanged)
    let mut p = s.parts.clone();
    p.swap(snap, tr);
    let text = reject(root, &raw(p), "a.tar", "swapped artifacts");
    assert!(text.contains(short(&s.parts[snap].name)), "{text}");
    let mut p = s.parts.clone();
    p.swap(1, 2);
    let text = reject(
        root,
        &raw(p),
        "a.tar",
        "swapped genesis and export manifest",
    );
    assert!(text.contains("genesis.json"), "{text}");
    let mut p = s.parts.clone();
    p.insert(snap + 1, s.parts[snap].clone());
    reject(root, &raw(p), "a.tar", "duplicated artifact");
    let mut p = s.parts.clone();
    p.push(s.parts[snap].clone());
    let text = reject(root, &raw(p), "a.tar", "duplicated artifact at the end");
    assert!(text.contains("follows the last member"), "{text}");
    let mut p = s.parts.clone();
    p.remove(snap);
    reject(root, &raw(p), "a.tar", "missing artifact");
    let mut p = s.parts.clone();
    p.pop();
    let text = reject(root, &raw(p), "a.tar", "missing last artifact");
    assert!(text.contains("truncated"), "{text}");
    let mut p = s.parts.clone();
    p.insert(1, s.parts[0].clone());
    reject(root, &raw(p), "a.tar", "manifest twice");

    // consistent archives (manifest agrees with the members) that break the rules
    let c = s.contents();
    let mut m = c.clone();
    m.swap(snap - 1, tr - 1);
    let text = reject(
        root,
        &craft::rebuild(&s.manifest, &m),
        "a.tar",
        "consistent reorder",
    );
    assert!(text.contains("out of order"), "{text}");
    let mut m = c.clone();
    m.insert(snap, c[snap - 1].clone());
    let text = reject(
        root,
        &craft::rebuild(&s.manifest, &m),
        "a.tar",
        "consistent dup",
    );
    assert!(text.contains("duplicated"), "{text}");
    let mut m = c.clone();
    m.remove(snap - 1);
    let text = reject(
        root,
        &craft::rebuild(&s.manifest, &m),
        "a.tar",
        "consistent removal",
    );
    assert!(text.contains("artifact"), "{text}");
    let mut m = c.clone();
    m.swap(0, 1);
    reject(
        root,
        &craft::rebuild(&s.manifest, &m),
        "a.tar",
        "consistent fixed swap",
    );
    let mut m = c.clone();
    m.truncate(2);
    reject(
        root,
        &craft::rebuild(&s.manifest, &m),
        "a.tar",
        "no export data",
    );
}

#[test]
fn hostile_names_in_a_consistent_manifest_are_refused() {
    let f = fixture();
    let root = f.t.path();
    let s = craft::split(&f.tar);
    let c = s.contents();
    let long = format!("swing-store/snapshot.{}.1", "v".repeat(300));
    let names: Vec<&str> = vec![
        "../evil",
        "/tmp/evil",
        "/evil",
        "swing-store/../../evil",
        "swing-store/../evil",
        "swing-store/./snapshot.v9.1",
        "swing-store//snapshot.v9.1",
        "swing-store\\snapshot.v9.1",
        "swing-store/snapshot.v9\\..\\..\\evil.1",
        "swing-store/snapshot.v9.1\0",
        "swing-store/snapshot.v9\n.1",
        "swing-store/snapshot.v9\u{1b}[2J.1",
        "swing-store/",
        "swing-store",
        "swing-store/sub/snapshot.v9.1",
        "swing-store/snapshot.v9.1/",
        "./genesis.json",
        "genesis.json",
        "genesis-archive.json",
        "swing-store/export-data.jsonl",
        "swing-store/export-manifest.json",
        "swing-store/notes.txt",
        "evil",
        "",
        ".",
        "..",
        &long,
    ];
    for n in names {
        let mut m = c.clone();
        m.push((n.to_string(), b"x".to_vec()));
        let text = reject(
            root,
            &craft::rebuild(&s.manifest, &m),
            "a.tar",
            &format!("extra member {n:?}"),
        );
        assert!(text.contains("genesis-archive.json"), "{n:?}: {text}");
        // the same name in place of a fixed member
        let mut m = c.clone();
        m[0].0 = n.to_string();
        if n != "genesis.json" {
            let text = reject(
                root,
                &craft::rebuild(&s.manifest, &m),
                "a.tar",
                &format!("genesis renamed {n:?}"),
            );
            assert!(text.contains("genesis-archive.json"), "{n:?}: {text}");
        }
    }
}

#[test]
fn hostile_entry_types_are_rejected_where_a_member_should_be_and_after_the_last() {
    let f = fixture();
    let root = f.t.path();
    let s = craft::split(&f.tar);
    let snap = s.find("snapshot.v1.");
    let name = s.parts[snap].name.clone();
    let describe = |what: &str| -> Option<&str> {
        Some(match what {
            "symlink" => "symbolic link",
            "hard link" => "hard link",
            "char device" | "block device" => "device node",
            "directory" => "directory",
            "fifo" => "FIFO",
            "gnu sparse" => "sparse",
            "gnu long name" | "gnu long link" => "GNU long-name",
            "pax path override" | "pax linkpath symlink" | "pax global header" => "PAX",
            "unknown type" | "contiguous file" => "unknown entry type",
            _ => return None,
        })
    };
    let mut runs = 0;
    for link in [&b"/etc/passwd"[..], b"../../../evil", b"../evil"] {
        for (what, entry) in craft::hostile_entries(name.as_bytes(), link) {
            // in place of the snapshot member
            let mut b = Vec::new();
            for (i, p) in s.parts.iter().enumerate() {
                if i == snap {
                    b.extend_from_slice(&entry);
                } else {
                    b.extend_from_slice(&p.bytes());
                }
            }
            b.extend_from_slice(&s.end);
            for (bytes, file) in [(b.clone(), "a.tar"), (craft::gz(&b), "a.tar.gz")] {
                let text = reject(root, &bytes, file, what);
                assert!(text.contains(short(&name)), "{what}: {text}");
                if let Some(d) = describe(what) {
                    assert!(text.contains(d), "{what}: want {d:?} in {text}");
                }
                runs += 1;
            }
            // after the last member, before the end marker
            let mut b = f.tar[..f.tar.len() - 1024].to_vec();
            b.extend_from_slice(&entry);
            b.extend_from_slice(&[0; 1024]);
            reject(root, &b, "a.tar", &format!("{what} appended"));
            let text = reject(
                root,
                &craft::gz(&b),
                "a.tar.gz",
                &format!("{what} appended"),
            );
            assert!(text.contains("follows the last member"), "{what}: {text}");
            // before the archive manifest
            let b = [&entry[..], &f.tar[..]].concat();
            let text = reject(root, &b, "a.tar", &format!("{what} first"));
            assert!(
                text.contains("not an agar archive") || text.contains("genesis-archive.json"),
                "{text}"
            );
            runs += 3;
        }
    }
    eprintln!("{runs} hostile entries rejected");
}

#[test]
fn python_tarfile_archives_are_rejected() {
    let f = fixture();
    let root = f.t.path();
    let cases = [
        (
            "symlink then a file through it",
            "t = tarfile.open(out, 'w', format=tarfile.GNU_FORMAT)\nt.addfile(info('swing-store', tarfile.SYMTYPE, link='/tmp'))\nd = b'pwned'\nt.addfile(info('swing-store/x', tarfile.REGTYPE, d), io.BytesIO(d))\nt.close()",
        ),
        (
            "traversal",
            "t = tarfile.open(out, 'w')\nd = b'x'\nt.addfile(info('../evil', tarfile.REGTYPE, d), io.BytesIO(d))\nt.addfile(info('/evil', tarfile.REGTYPE, d), io.BytesIO(d))\nt.close()",
        ),
        (
            "special files",
            "t = tarfile.open(out, 'w:gz', format=tarfile.PAX_FORMAT)\nfor n, ty in [('genesis-archive.json', tarfile.FIFOTYPE), ('genesis.json', tarfile.CHRTYPE), ('swing-store', tarfile.DIRTYPE), ('x', tarfile.LNKTYPE)]:\n    t.addfile(info(n, ty, link='/etc/passwd' if ty == tarfile.LNKTYPE else ''))\nt.close()",
        ),
        (
            "good archive re-packed by tarfile (PAX)",
            "src = tarfile.open(sys.argv[2])\nt = tarfile.open(out, 'w', format=tarfile.PAX_FORMAT)\nfor m in src.getmembers():\n    t.addfile(m, src.extractfile(m))\nt.close()",
        ),
        (
            "good archive re-packed by tarfile (GNU)",
            "src = tarfile.open(sys.argv[2])\nt = tarfile.open(out, 'w', format=tarfile.GNU_FORMAT)\nfor m in src.getmembers():\n    t.addfile(m, src.extractfile(m))\nt.close()",
        ),
    ];
    let good = root.join("good.tar");
    std::fs::write(&good, &f.tar).unwrap();
    for (what, body) in cases {
        let out = root.join("py.tar");
        let body = body.replace("sys.argv[2]", &format!("{:?}", p(&good)));
        if !craft::python_tar(&out, &body) {
            return;
        }
        let bytes = std::fs::read(&out).unwrap();
        let text = reject(root, &bytes, "py.tar", what);
        assert!(
            text.contains("not an agar archive")
                || text.contains("re-packed")
                || text.contains("header"),
            "{what}: {text}"
        );
    }
}

#[test]
fn bombs_and_absurd_sizes_are_refused_before_inflating() {
    let f = fixture();
    let root = f.t.path();
    let s = craft::split(&f.tar);
    let snap = s.find("snapshot.v1.");
    let gen = 1;
    // a manifest announcing absurd sizes (headers agree with it): refused up front
    for (idx, size, what) in [
        (snap, 1u64 << 40, "1 TiB snapshot"),
        (snap, u64::MAX / 4, "2^62-byte snapshot"),
        (gen, 3u64 << 30, "3 GiB genesis"),
    ] {
        let mut m = s.manifest.clone();
        m.members[idx - 1].size = size;
        let b = craft::rebuild_with(&m, &s.contents());
        // "refused up front": the message says the sizes were refused before inflating
        let text = reject(root, &craft::gz(&b), "bomb.tar.gz", what);
        assert!(text.contains("decompression bomb"), "{what}: {text}");
        let text = reject(root, &b, "bomb.tar", what);
        assert!(text.contains("truncated"), "{what}: {text}");
    }
    // sums that overflow 64 bits
    let mut m = s.manifest.clone();
    m.members[snap - 1].size = u64::MAX - 10;
    m.members[snap].size = u64::MAX - 10;
    let text = reject(
        root,
        &craft::rebuild_with(&m, &s.contents()),
        "o.tar",
        "overflow",
    );
    assert!(text.contains("64 bits"), "{text}");
    // a first header announcing a 200 MiB manifest in a small file
    let mut b = f.tar.clone();
    b[124..136].copy_from_slice(b"01440000000\0");
    craft::fix_checksum(&mut b[..512]);
    let text = reject(root, &b, "m.tar", "200 MiB manifest");
    assert!(text.contains("truncated"), "{text}");
    let text = reject(root, &craft::gz(&b), "m.tar.gz", "200 MiB manifest");
    assert!(text.contains("decompression bomb"), "{text}");
    // a real gzip bomb: the good archive followed by 256 MiB of zeros in one deflate
    // stream (about 256 KiB on disk). The reader stops at the first byte after the end.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&f.tar).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    let text = reject(root, &bomb, "bomb.tar.gz", "zeros bomb");
    assert!(text.contains("after the end"), "{text}");
}

/// The reader stops at the first byte after the end of the archive, whatever follows:
/// fed through a pipe, `agar verify` hangs up after reading at most its buffers' worth of
/// the 64 MiB that follow (counted on the writing side, not timed).
#[test]
fn the_reader_hangs_up_right_after_the_end_of_the_archive() {
    let f = fixture();
    let fifo = f.t.path().join("pipe.tar.gz");
    let st = Command::new("mkfifo").arg(&fifo).status();
    assert!(
        matches!(st, Ok(s) if s.success()),
        "mkfifo (coreutils) is needed for this test: {st:?}"
    );
    // the good archive, then 64 MiB of incompressible bytes, in one gzip stream
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&f.tar).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..64 {
        for b in chunk.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        e.write_all(&chunk).unwrap();
    }
    let stream = e.finish().unwrap();
    let total = stream.len();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            let mut sent = 0usize;
            for part in stream.chunks(64 << 10) {
                if w.write_all(part).is_err() {
                    break; // EPIPE: the reader hung up
                }
                sent += part.len();
            }
            sent
        })
    };
    let o = Command::new(bin())
        .args(["verify", p(&fifo), "-q"])
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("after the end"), "{text}");
    let sent = writer.join().unwrap();
    assert!(
        sent < total / 4,
        "the reader took {sent} of {total} bytes after the archive ended before hanging up"
    );
}

#[test]
fn verify_never_writes_even_for_an_archive_crafted_to_escape() {
    // explode will read through the same reader; for verify, check no path is touched
    let f = fixture();
    let root = f.t.path();
    let s = craft::split(&f.tar);
    let mut m = s.contents();
    m.push(("../evil".into(), b"pwned".to_vec()));
    let b = craft::rebuild(&s.manifest, &m);
    let before = list(root);
    reject(root, &b, "escape.tar", "escape");
    assert_eq!(list(root), before);
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

// ---- .tar.zst (issue 11): truncation, flips, bombs, skippable and extra frames,
// trailing junk, frames without checksums

struct Zfx {
    t: tempfile::TempDir,
    tar: Vec<u8>,
    zst: Vec<u8>,
    digest: String,
}

/// The same tiny debug export as [`fixture`], packed as .tar and .tar.zst.
fn zfixture() -> Zfx {
    let f = fixture();
    let z = f.t.path().join("good.tar.zst");
    assert_eq!(pack_dir(&fx("tiny/genesis/debug"), &z), f.digest);
    let zst = std::fs::read(&z).unwrap();
    std::fs::remove_file(z).unwrap();
    Zfx {
        t: f.t,
        tar: f.tar,
        zst,
        digest: f.digest,
    }
}

/// One zstd frame (content size, checksum) of `data`, as the zstd CLI writes it.
fn frame(data: &[u8], level: i32, checksum: bool) -> Vec<u8> {
    let mut c = zstd::bulk::Compressor::new(level).unwrap();
    c.include_checksum(checksum).unwrap();
    c.compress(data).unwrap()
}

/// The seek table skippable frame for frames of the given (compressed, decompressed) sizes.
fn seek_table(entries: &[(u32, u32)]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&0x184D_2A5Eu32.to_le_bytes());
    t.extend_from_slice(&((entries.len() * 8 + 9) as u32).to_le_bytes());
    for (c, d) in entries {
        t.extend_from_slice(&c.to_le_bytes());
        t.extend_from_slice(&d.to_le_bytes());
    }
    t.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    t.push(0);
    t.extend_from_slice(&0x8F92_EAB1u32.to_le_bytes());
    t
}

/// Offsets and sizes of the frames of agar's .tar.zst, from its seek table.
fn frames(z: &[u8]) -> Vec<(usize, usize)> {
    let n = u32::from_le_bytes(z[z.len() - 9..z.len() - 5].try_into().unwrap()) as usize;
    let table = &z[z.len() - 9 - 8 * n..z.len() - 9];
    let mut at = 0;
    table
        .chunks(8)
        .map(|e| {
            let c = u32::from_le_bytes(e[..4].try_into().unwrap()) as usize;
            let r = (at, c);
            at += c;
            r
        })
        .collect()
}

#[test]
fn the_fixture_and_foreign_zstd_verify_to_the_same_digest() {
    let f = zfixture();
    let (code, text) = verify_bytes(f.t.path(), &f.zst, "x.tar.zst");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&f.digest));
    // one frame, as `zstd -19` would write it, no seek table: read as one stream
    for level in [1, 19] {
        let (code, text) = verify_bytes(f.t.path(), &frame(&f.tar, level, true), "x.tar.zst");
        assert_eq!(code, 0, "level {level}: {text}");
        assert!(text.contains(&f.digest));
    }
    // streamed without a content size (`tar | zstd`): still one stream
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    e.include_checksum(true).unwrap();
    e.write_all(&f.tar).unwrap();
    let (code, text) = verify_bytes(f.t.path(), &e.finish().unwrap(), "x.tar.zst");
    assert_eq!(code, 0, "{text}");
    // several small frames without a seek table (another parallel writer)
    let mut many = Vec::new();
    for c in f.tar.chunks(100_000) {
        many.extend(frame(c, 3, true));
    }
    let (code, text) = verify_bytes(f.t.path(), &many, "x.tar.zst");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&f.digest));
}

#[test]
fn truncated_zstd_at_sampled_offsets_and_every_tail_byte_is_an_error() {
    let f = zfixture();
    let n = f.zst.len();
    let mut cuts: Vec<usize> = (0..n).step_by(997).collect();
    cuts.extend(n.saturating_sub(40)..n);
    cuts.extend(0..10);
    // cutting exactly before the seek table leaves a complete multi-frame zstd file
    // with the whole tar (what another parallel writer would produce): it verifies,
    // see skippable_frames_other_than_the_seek_table_and_extra_frames_are_refused
    let body_end: usize = frames(&f.zst).iter().map(|(_, c)| c).sum();
    cuts.retain(|&c| c != body_end);
    cuts.sort();
    cuts.dedup();
    for &c in &cuts {
        let text = reject(f.t.path(), &f.zst[..c], "x.tar.zst", &format!("cut at {c}"));
        assert!(
            text.contains("truncated") || text.contains("zstd") || text.contains("empty"),
            "cut at {c}: {text}"
        );
    }
    eprintln!(
        "{} truncations of the {n}-byte tar.zst rejected",
        cuts.len()
    );
}

#[test]
fn flipped_bytes_in_frames_and_seek_table_are_errors() {
    let f = zfixture();
    let n = f.zst.len();
    let mut at: Vec<usize> = (0..n).step_by(1499).collect();
    at.extend(n - 30..n);
    at.extend(0..12);
    let mut rejected = 0;
    for &i in &at {
        let mut b = f.zst.clone();
        b[i] ^= 0x01;
        let (code, text) = verify_bytes(f.t.path(), &b, "x.tar.zst");
        // a flip in a frame's compressed data changes the checksum; in headers and the
        // seek table it breaks structure. Nothing may verify to the good digest with
        // different bytes, and nothing may verify at all.
        assert_eq!(code, 1, "flip at {i} verified:\n{text}");
        rejected += 1;
    }
    eprintln!("{rejected} flipped bytes rejected");
}

#[test]
fn skippable_frames_other_than_the_seek_table_and_extra_frames_are_refused() {
    let f = zfixture();
    let root = f.t.path();
    let fr = frames(&f.zst);
    let body_end: usize = fr.iter().map(|(_, c)| c).sum();
    let body = &f.zst[..body_end];
    let table = &f.zst[body_end..];
    let skippable = |magic: u32, payload: &[u8]| {
        let mut s = magic.to_le_bytes().to_vec();
        s.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        s.extend_from_slice(payload);
        s
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "leading skippable frame",
            [skippable(0x184D_2A50, b"hello"), f.zst.clone()].concat(),
            "skippable",
        ),
        (
            "skippable frame between frames",
            [
                f.zst[..fr[0].1].to_vec(),
                skippable(0x184D_2A5A, b"x"),
                f.zst[fr[0].1..].to_vec(),
            ]
            .concat(),
            "skippable",
        ),
        (
            "second skippable frame after the seek table",
            [f.zst.clone(), skippable(0x184D_2A50, b"")].concat(),
            "after the zstd seek table",
        ),
        (
            "a frame after the seek table",
            [f.zst.clone(), frame(b"x", 3, true)].concat(),
            "after the zstd seek table",
        ),
        (
            "seek table twice",
            [f.zst.clone(), table.to_vec()].concat(),
            "after the zstd seek table",
        ),
        (
            "seek table with a wrong entry",
            {
                let mut b = f.zst.clone();
                let e = body_end + 8 + 4; // first entry's decompressed size
                b[e] ^= 1;
                b
            },
            "seek table",
        ),
        (
            "seek table with a wrong frame count",
            {
                let mut b = f.zst.clone();
                let k = b.len() - 9;
                b[k] ^= 1;
                b
            },
            "seek table",
        ),
        (
            "seek table with checksums flag",
            {
                let mut b = f.zst.clone();
                let k = b.len() - 5;
                b[k] = 0x80;
                b
            },
            "seek table",
        ),
        (
            "an extra frame of zeros before the seek table (table rewritten to match)",
            {
                let extra = frame(&[0u8; 4096], 3, true);
                let mut entries: Vec<(u32, u32)> = Vec::new();
                let tar_sizes: Vec<u32> = {
                    let n = u32::from_le_bytes(
                        table[table.len() - 9..table.len() - 5].try_into().unwrap(),
                    );
                    (0..n as usize)
                        .map(|i| {
                            u32::from_le_bytes(
                                table[8 + 8 * i + 4..8 + 8 * i + 8].try_into().unwrap(),
                            )
                        })
                        .collect()
                };
                for (i, (_, c)) in fr.iter().enumerate() {
                    entries.push((*c as u32, tar_sizes[i]));
                }
                entries.push((extra.len() as u32, 4096));
                [body.to_vec(), extra, seek_table(&entries)].concat()
            },
            "after the end",
        ),
        (
            "frames without checksums (and their seek table)",
            {
                let z = frame(&f.tar, 3, false);
                let t = seek_table(&[(z.len() as u32, f.tar.len() as u32)]);
                [z, t].concat()
            },
            "checksum",
        ),
        (
            "one byte of junk",
            [f.zst.clone(), vec![0]].concat(),
            "after",
        ),
        (
            "a newline",
            [f.zst.clone(), b"\n".to_vec()].concat(),
            "after",
        ),
        (
            "junk instead of the seek table",
            [body.to_vec(), b"garbage!".to_vec()].concat(),
            "not a zstd frame",
        ),
        (
            "a gzip member after the frames",
            [f.zst.clone(), craft::gz(b"x")].concat(),
            "after",
        ),
    ];
    for (what, bytes, want) in cases {
        let text = reject(root, &bytes, "x.tar.zst", what);
        assert!(text.contains(want), "{what}: wanted {want:?} in\n{text}");
    }
    // the body alone (no seek table) is a valid multi-frame zstd file: it verifies
    let (code, text) = verify_bytes(root, body, "x.tar.zst");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&f.digest));
}

#[test]
fn zstd_bombs_are_refused_before_decompressing() {
    let f = zfixture();
    let root = f.t.path();
    let s = craft::split(&f.tar);
    let snap = s.find("snapshot.v1.");
    for (idx, size, what) in [
        (snap, 1u64 << 40, "1 TiB snapshot"),
        (1, 3u64 << 30, "3 GiB genesis"),
    ] {
        let mut m = s.manifest.clone();
        m.members[idx - 1].size = size;
        let b = craft::rebuild_with(&m, &s.contents());
        let text = reject(root, &frame(&b, 3, true), "x.tar.zst", what);
        assert!(text.contains("decompression bomb"), "{what}: {text}");
        assert!(text.contains("zstd"), "{what}: {text}");
    }
    // a real bomb: the good archive followed by 1 GiB of zeros in one frame (a few
    // tens of KiB on disk). The reader stops at the first byte after the end.
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    e.include_checksum(true).unwrap();
    e.write_all(&f.tar).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    // refused at the first byte after the archive's end, not after inflating the rest
    let text = reject(root, &bomb, "x.tar.zst", "zeros bomb");
    assert!(text.contains("after the end"), "{text}");
}

#[test]
fn a_window_larger_than_the_cap_is_refused() {
    // `zstd --long=27`-style frame: a 128 MiB window announced, content size unknown
    let f = zfixture();
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    e.include_checksum(true).unwrap();
    e.window_log(27).unwrap();
    e.long_distance_matching(true).unwrap();
    e.write_all(&f.tar).unwrap();
    let z = e.finish().unwrap();
    // streamed, the frame keeps its 128 MiB window: more than agar's 32 MiB cap
    let text = reject(f.t.path(), &z, "x.tar.zst", "128 MiB window");
    assert!(text.contains("window"), "{text}");
}

/// issue 18: a `genesis_time` that is RFC 3339 in shape but no real instant
/// (`2026-13-45T99:99:99Z`) in an otherwise consistent archive (members, sizes and
/// digests all agree) is a problem verify and inspect report, saying where and how to
/// fix it; edit refuses to carry it over unless the edits set a valid time, and pack
/// refuses such a genesis.
#[test]
fn an_impossible_genesis_time_is_reported_by_verify_and_inspect() {
    let f = fixture();
    let s = craft::split(&f.tar);
    let mut members = s.contents();
    let g = String::from_utf8(members[0].1.clone()).unwrap();
    let good = "\"genesis_time\":\"2026-01-02T03:04:05.678901234Z\"";
    assert!(g.contains(good), "the fixture's genesis_time changed");
    members[0].1 = g
        .replace(good, "\"genesis_time\":\"2026-13-45T99:99:99Z\"")
        .into_bytes();
    let bad = f.t.path().join("bad-time.tar");
    std::fs::write(&bad, craft::rebuild(&s.manifest, &members)).unwrap();

    let o = agar(&["verify", p(&bad)]);
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "verify must fail:\n{text}");
    for want in [
        "member genesis.json: genesis_time",
        "2026-13-45T99:99:99Z",
        "RFC 3339",
        "--genesis-time",
    ] {
        assert!(
            text.contains(want),
            "verify's message lacks {want:?}:\n{text}"
        );
    }
    // the only problem: everything else in the crafted archive is consistent
    assert_eq!(text.matches("genesis_time").count(), 1, "{text}");

    let o = agar(&["inspect", p(&bad)]);
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "inspect must report it:\n{text}");
    assert!(
        text.contains("genesis_time:   2026-13-45T99:99:99Z"),
        "{text}"
    );
    assert!(text.contains("member genesis.json: genesis_time"), "{text}");

    // edit: carried over, refused (bad input, nothing written); fixed, accepted
    let out = f.t.path().join("out.tar");
    let o = agar(&["edit", p(&bad), "-o", p(&out), "--genesis-set", "/x=1"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("genesis_time"), "{}", stderr(&o));
    assert!(!out.exists());
    let fixed = "2026-01-02T03:04:05Z";
    ok(&["edit", p(&bad), "-o", p(&out), "--genesis-time", fixed]);
    ok(&["verify", p(&out)]);

    // pack: the same rule on the input genesis
    let dir = f.t.path().join("export");
    copy_dir(&fx("tiny/genesis/debug"), &dir);
    let gpath = dir.join("genesis.json");
    let text = std::fs::read_to_string(&gpath).unwrap();
    let t0 = "2026-01-02T03:04:05.678901234Z";
    assert!(text.contains(t0));
    std::fs::write(&gpath, text.replace(t0, "2026-13-45T99:99:99Z")).unwrap();
    let o = agar(&["pack", p(&dir), "-o", p(&f.t.path().join("p.tar"))]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("genesis_time"), "{}", stderr(&o));
    assert!(!f.t.path().join("p.tar").exists());
}
