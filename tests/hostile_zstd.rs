//! Hostile and broken `.tar.zst` archives (issue 11), in the style of tests/hostile.rs:
//! truncation, flipped bytes, decompression bombs, skippable and extra frames, trailing
//! junk, frames without checksums. `agar verify` must fail with exit 1, never panic,
//! never write anything, and refuse bombs before decompressing them.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::craft;
use common::*;

struct Fx {
    t: tempfile::TempDir,
    tar: Vec<u8>,
    zst: Vec<u8>,
    digest: String,
}

fn fixture() -> Fx {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("good.tar");
    let digest = pack_dir(&fx("tiny/genesis/debug"), &a);
    let z = t.path().join("good.tar.zst");
    assert_eq!(pack_dir(&fx("tiny/genesis/debug"), &z), digest);
    let f = Fx {
        tar: std::fs::read(&a).unwrap(),
        zst: std::fs::read(&z).unwrap(),
        digest,
        t,
    };
    std::fs::remove_file(a).unwrap();
    std::fs::remove_file(z).unwrap();
    f
}

fn verify_bytes(root: &Path, bytes: &[u8]) -> (i32, String) {
    let dir = tempfile::tempdir_in(root).unwrap();
    let cwd = tempfile::tempdir_in(root).unwrap();
    let f = dir.path().join("x.tar.zst");
    std::fs::write(&f, bytes).unwrap();
    let o = Command::new(bin())
        .args(["verify", p(&f)])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!text.contains("panicked"), "panic:\n{text}");
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    (o.status.code().unwrap_or(-1), text)
}

fn reject(root: &Path, bytes: &[u8], what: &str) -> String {
    let (code, text) = verify_bytes(root, bytes);
    assert_eq!(code, 1, "{what}: expected exit 1, got {code}:\n{text}");
    assert!(text.contains("FAIL"), "{what}: {text}");
    text
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
    let f = fixture();
    let (code, text) = verify_bytes(f.t.path(), &f.zst);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&f.digest));
    // one frame, as `zstd -19` would write it, no seek table: read as one stream
    for level in [1, 19] {
        let (code, text) = verify_bytes(f.t.path(), &frame(&f.tar, level, true));
        assert_eq!(code, 0, "level {level}: {text}");
        assert!(text.contains(&f.digest));
    }
    // streamed without a content size (`tar | zstd`): still one stream
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    e.include_checksum(true).unwrap();
    e.write_all(&f.tar).unwrap();
    let (code, text) = verify_bytes(f.t.path(), &e.finish().unwrap());
    assert_eq!(code, 0, "{text}");
    // several small frames without a seek table (another parallel writer)
    let mut many = Vec::new();
    for c in f.tar.chunks(100_000) {
        many.extend(frame(c, 3, true));
    }
    let (code, text) = verify_bytes(f.t.path(), &many);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&f.digest));
}

#[test]
fn truncated_zstd_at_sampled_offsets_and_every_tail_byte_is_an_error() {
    let f = fixture();
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
        let text = reject(f.t.path(), &f.zst[..c], &format!("cut at {c}"));
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
    let f = fixture();
    let n = f.zst.len();
    let mut at: Vec<usize> = (0..n).step_by(1499).collect();
    at.extend(n - 30..n);
    at.extend(0..12);
    let mut rejected = 0;
    for &i in &at {
        let mut b = f.zst.clone();
        b[i] ^= 0x01;
        let (code, text) = verify_bytes(f.t.path(), &b);
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
    let f = fixture();
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
        let text = reject(root, &bytes, what);
        assert!(text.contains(want), "{what}: wanted {want:?} in\n{text}");
    }
    // the body alone (no seek table) is a valid multi-frame zstd file: it verifies
    let (code, text) = verify_bytes(root, body);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&f.digest));
}

#[test]
fn zstd_bombs_are_refused_before_decompressing() {
    let f = fixture();
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
        let t0 = Instant::now();
        let text = reject(root, &frame(&b, 3, true), what);
        assert!(text.contains("decompression bomb"), "{what}: {text}");
        assert!(text.contains("zstd"), "{what}: {text}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{what}: slow");
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
    let t0 = Instant::now();
    let text = reject(root, &bomb, "zeros bomb");
    assert!(text.contains("after the end"), "{text}");
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "reader decompressed the bomb ({took:?})"
    );
    eprintln!("{}-byte zstd bomb rejected in {took:?}", bomb.len());
}

#[test]
fn a_window_larger_than_the_cap_is_refused() {
    // `zstd --long=27`-style frame: a 128 MiB window announced, content size unknown
    let f = fixture();
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    e.include_checksum(true).unwrap();
    e.window_log(27).unwrap();
    e.long_distance_matching(true).unwrap();
    e.write_all(&f.tar).unwrap();
    let z = e.finish().unwrap();
    // streamed, the frame keeps its 128 MiB window: more than agar's 32 MiB cap
    let text = reject(f.t.path(), &z, "128 MiB window");
    assert!(text.contains("window"), "{text}");
}
