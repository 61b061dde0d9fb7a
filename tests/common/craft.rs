//! Crafting broken and hostile archives for tests (verify now, explode later).
//!
//! Three levels:
//! - [`Split`]: a canonical archive cut into its members (header, content), to flip,
//!   truncate, reorder, duplicate or replace raw bytes;
//! - [`rebuild`]: a *consistent* archive from any member list (manifest, headers, sizes
//!   and SHA-256 all agree), so that only the closed-world rules (names, order, types)
//!   can reject it;
//! - [`raw_header`] / [`raw_entry`] / [`pax_entry`] / [`python_tar`]: tar entries of any
//!   type (symlink, hard link, device, FIFO, directory, sparse, GNU long name, PAX), with
//!   valid checksums, as other tar writers produce them.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use agar::archive::tar::{member_header, padding, BLOCK};
use agar::archive::{ArchiveManifest, Member, MANIFEST_MEMBER};
use sha2::{Digest, Sha256};

/// One member of a canonical archive: its header bytes (PAX + ustar) and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub header: Vec<u8>,
    pub content: Vec<u8>,
}

impl Part {
    /// Header, content and zero padding, as in the tar stream.
    pub fn bytes(&self) -> Vec<u8> {
        let mut v = self.header.clone();
        v.extend_from_slice(&self.content);
        v.resize(v.len() + padding(self.content.len() as u64), 0);
        v
    }
}

/// A canonical archive (uncompressed tar) cut into its members.
#[derive(Debug, Clone)]
pub struct Split {
    pub manifest: ArchiveManifest,
    /// Every member, the archive manifest first.
    pub parts: Vec<Part>,
    /// The end-of-archive marker (two zero blocks).
    pub end: Vec<u8>,
}

fn octal_field(f: &[u8]) -> u64 {
    let s = std::str::from_utf8(f)
        .unwrap()
        .trim_end_matches('\0')
        .trim();
    u64::from_str_radix(s, 8).unwrap()
}

/// Cut a canonical tar stream into its members (panics if it is not canonical: this is
/// for tests on archives `agar pack` wrote).
pub fn split(tar: &[u8]) -> Split {
    let msize = octal_field(&tar[124..136]);
    let mcontent = tar[BLOCK..BLOCK + msize as usize].to_vec();
    let manifest: ArchiveManifest = serde_json::from_slice(&mcontent).unwrap();
    let mut parts = vec![Part {
        name: MANIFEST_MEMBER.into(),
        header: tar[..BLOCK].to_vec(),
        content: mcontent,
    }];
    let mut pos = BLOCK + msize as usize + padding(msize);
    for m in &manifest.members {
        let h = member_header(&m.name, m.size);
        assert_eq!(&tar[pos..pos + h.len()], &h[..], "header of {}", m.name);
        let c = pos + h.len();
        parts.push(Part {
            name: m.name.to_string(),
            header: h,
            content: tar[c..c + m.size as usize].to_vec(),
        });
        pos = c + m.size as usize + padding(m.size);
    }
    assert_eq!(tar.len() - pos, 2 * BLOCK);
    Split {
        manifest,
        parts,
        end: tar[pos..].to_vec(),
    }
}

impl Split {
    /// The tar stream again (byte-identical to the input if nothing was changed).
    pub fn join(&self) -> Vec<u8> {
        let mut v: Vec<u8> = self.parts.iter().flat_map(|p| p.bytes()).collect();
        v.extend_from_slice(&self.end);
        v
    }

    /// Index of the first member whose name contains `pat`.
    pub fn find(&self, pat: &str) -> usize {
        self.parts
            .iter()
            .position(|p| p.name.contains(pat))
            .unwrap_or_else(|| panic!("no member matching {pat:?}"))
    }

    /// (name, offset of the header, offset of the content, content length) per member.
    pub fn layout(&self) -> Vec<(String, usize, usize, usize)> {
        let mut pos = 0;
        self.parts
            .iter()
            .map(|p| {
                let h = pos;
                let c = pos + p.header.len();
                pos = c + p.content.len() + padding(p.content.len() as u64);
                (p.name.clone(), h, c, p.content.len())
            })
            .collect()
    }

    /// The members after the manifest as (name, content), for [`rebuild`].
    pub fn contents(&self) -> Vec<(String, Vec<u8>)> {
        self.parts[1..]
            .iter()
            .map(|p| (p.name.clone(), p.content.clone()))
            .collect()
    }
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A consistent canonical archive: `manifest` with its member list replaced by
/// `members` (names, sizes and SHA-256 computed), every header canonical. Only the
/// closed-world rules can reject what it builds.
pub fn rebuild(manifest: &ArchiveManifest, members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut m = manifest.clone();
    m.members = members
        .iter()
        .map(|(n, c)| Member {
            name: n.as_str().into(),
            size: c.len() as u64,
            sha256: agar::archive::Sha256Digest::of(c),
        })
        .collect();
    rebuild_with(&m, members)
}

/// Like [`rebuild`], but with the manifest exactly as given (sizes may lie): headers are
/// canonical for the *manifest's* sizes, content is what `members` holds.
pub fn rebuild_with(m: &ArchiveManifest, members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mb = m.canonical_bytes();
    let mut out = member_header(MANIFEST_MEMBER, mb.len() as u64);
    out.extend_from_slice(&mb);
    out.resize(out.len() + padding(mb.len() as u64), 0);
    for (i, (n, c)) in members.iter().enumerate() {
        let size = m.members.get(i).map_or(c.len() as u64, |x| x.size);
        out.extend_from_slice(&member_header(n, size));
        out.extend_from_slice(c);
        out.resize(out.len() + padding(c.len() as u64), 0);
    }
    out.extend_from_slice(&[0u8; 2 * BLOCK]);
    out
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

/// A ustar header block with any name, size, type and link target, and a valid checksum
/// (as GNU tar or Python's tarfile would write it).
pub fn raw_header(name: &[u8], size: u64, typeflag: u8, linkname: &[u8], mode: u32) -> Vec<u8> {
    let mut h = vec![0u8; BLOCK];
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut h[100..108], mode as u64);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = typeflag;
    h[157..157 + linkname.len().min(100)].copy_from_slice(&linkname[..linkname.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    fix_checksum(&mut h);
    h
}

/// Recompute a header block's checksum (after editing fields by hand).
pub fn fix_checksum(h: &mut [u8]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h[..BLOCK].iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// A whole tar entry: header, data, padding.
pub fn raw_entry(name: &[u8], typeflag: u8, linkname: &[u8], data: &[u8]) -> Vec<u8> {
    let mode = if typeflag == b'5' { 0o755 } else { 0o644 };
    let mut v = raw_header(name, data.len() as u64, typeflag, linkname, mode);
    v.extend_from_slice(data);
    v.resize(v.len() + padding(data.len() as u64), 0);
    v
}

/// A PAX extended header entry (type `x`, or `g` for global) with the given records.
pub fn pax_entry(typeflag: u8, records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in records {
        let base = 1 + k.len() + 1 + v.len() + 1;
        let mut len = base + 1;
        while len.to_string().len() + base != len {
            len = len.to_string().len() + base;
        }
        body.extend_from_slice(format!("{len} {k}=").as_bytes());
        body.extend_from_slice(v);
        body.push(b'\n');
    }
    raw_entry(b"././@PaxHeader", typeflag, b"", &body)
}

/// gzip with flate2 (a different compressor than agar's, as a re-packer would use).
pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Run a Python `tarfile` script with `out` bound to the output path. Returns false
/// only when python3 is missing and `AGAR_TEST_SKIP_TOOLS` lists it (a missing python3
/// fails the test otherwise, see [`super::have`]).
pub fn python_tar(out: &Path, body: &str) -> bool {
    if !super::have("python3") {
        return false;
    }
    let script = format!(
        "import tarfile, io, sys\nout = sys.argv[1]\ndef info(name, type, data=b'', link=''):\n    ti = tarfile.TarInfo(name)\n    ti.type = type\n    ti.size = len(data)\n    ti.linkname = link\n    ti.mode = 0o644\n    return ti\n{body}\n"
    );
    match Command::new("python3")
        .arg("-c")
        .arg(&script)
        .arg(out)
        .output()
    {
        Ok(o) if o.status.success() => true,
        Ok(o) => panic!(
            "python tarfile script failed:\n{}\n{script}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("running python3: {e}"),
    }
}

/// Names and entries of every hostile entry type, each a complete tar entry named
/// `name` (with `link` as the link target where there is one).
pub fn hostile_entries(name: &[u8], link: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("symlink", raw_entry(name, b'2', link, b"")),
        ("hard link", raw_entry(name, b'1', link, b"")),
        ("char device", raw_entry(name, b'3', b"", b"")),
        ("block device", raw_entry(name, b'4', b"", b"")),
        ("directory", raw_entry(name, b'5', b"", b"")),
        ("fifo", raw_entry(name, b'6', b"", b"")),
        ("contiguous file", raw_entry(name, b'7', b"", b"x")),
        ("old-style regular file", raw_entry(name, b'\0', b"", b"x")),
        ("gnu sparse", raw_entry(name, b'S', b"", b"x")),
        ("unknown type", raw_entry(name, b'Z', b"", b"x")),
        ("gnu long name", {
            let mut v = raw_entry(b"././@LongLink", b'L', b"", &[link, b"\0"].concat());
            v.extend(raw_entry(name, b'0', b"", b"x"));
            v
        }),
        ("gnu long link", {
            let mut v = raw_entry(b"././@LongLink", b'K', b"", &[link, b"\0"].concat());
            v.extend(raw_entry(name, b'2', b"x", b""));
            v
        }),
        ("pax path override", {
            let mut v = pax_entry(b'x', &[("path", link)]);
            v.extend(raw_entry(name, b'0', b"", b"x"));
            v
        }),
        ("pax global header", {
            let mut v = pax_entry(b'g', &[("path", link)]);
            v.extend(raw_entry(name, b'0', b"", b"x"));
            v
        }),
        ("pax linkpath symlink", {
            let mut v = pax_entry(b'x', &[("linkpath", link)]);
            v.extend(raw_entry(name, b'2', b"", b""));
            v
        }),
    ]
}
