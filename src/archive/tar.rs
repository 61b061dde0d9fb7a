//! The canonical tar framing: one fixed header form per member, written and checked
//! byte for byte (see FORMAT.md). We write and read tar ourselves rather than through
//! the `tar` crate because the archive digest depends on every header byte: the format
//! must not change with a dependency upgrade, and the reader must accept only what the
//! writer produces (closed world). The `tar` crate, GNU tar and Python's tarfile read
//! our archives in the test suite.

use std::io::{self, Read, Write};

pub const BLOCK: usize = 512;
/// Longest name stored in the ustar `name` field; longer names get a PAX `path` record.
pub const USTAR_NAME_MAX: usize = 100;
/// Largest size the 11-digit octal `size` field holds; larger members get a PAX `size`.
pub const USTAR_SIZE_MAX: u64 = 0o77777777777;
pub const PAX_HEADER_NAME: &str = "././@PaxHeader";

fn octal(field: &mut [u8], value: u64) {
    // width-1 zero-padded octal digits followed by NUL
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

/// One ustar header block with our fixed field values.
pub fn ustar_header(name: &[u8], size: u64, typeflag: u8) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let n = name.len().min(USTAR_NAME_MAX);
    h[..n].copy_from_slice(&name[..n]);
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size.min(USTAR_SIZE_MAX));
    octal(&mut h[136..148], 0);
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // "%d %s=%s\n" where %d counts the whole record including itself
    let body = 1 + key.len() + 1 + value.len() + 1; // space, key, '=', value, '\n'
    let mut len = body + 1;
    while len.to_string().len() + body != len {
        len = len.to_string().len() + body;
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// The exact header bytes (PAX extension, if needed, plus ustar block) for a member.
pub fn member_header(name: &str, size: u64) -> Vec<u8> {
    let mut pax = Vec::new();
    if name.len() > USTAR_NAME_MAX {
        pax.extend(pax_record("path", name.as_bytes()));
    }
    if size > USTAR_SIZE_MAX {
        pax.extend(pax_record("size", size.to_string().as_bytes()));
    }
    let mut out = Vec::with_capacity(BLOCK * 3);
    if !pax.is_empty() {
        out.extend_from_slice(&ustar_header(
            PAX_HEADER_NAME.as_bytes(),
            pax.len() as u64,
            b'x',
        ));
        out.extend_from_slice(&pax);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    }
    out.extend_from_slice(&ustar_header(name.as_bytes(), size, b'0'));
    out
}

pub fn padding(size: u64) -> usize {
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

/// Writes members in the canonical framing.
pub struct TarWriter<W: Write> {
    inner: W,
    /// (member name, announced size, bytes still expected) of the open member.
    open: Option<(String, u64, u64)>,
}

impl<W: Write> TarWriter<W> {
    pub fn new(inner: W) -> Self {
        TarWriter { inner, open: None }
    }

    /// Start a member: write its header. Content follows through `write_data`.
    pub fn begin(&mut self, name: &str, size: u64) -> io::Result<()> {
        if let Some((n, _, _)) = &self.open {
            return Err(io::Error::other(format!("member {n} is still open")));
        }
        self.inner.write_all(&member_header(name, size))?;
        self.open = Some((name.to_string(), size, size));
        Ok(())
    }

    pub fn write_data(&mut self, data: &[u8]) -> io::Result<()> {
        let Some((name, size, left)) = self.open.as_mut() else {
            return Err(io::Error::other("no member is open"));
        };
        if data.len() as u64 > *left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{name}: source is longer than its announced size {size} (did it change?)"),
            ));
        }
        *left -= data.len() as u64;
        self.inner.write_all(data)
    }

    /// Finish the open member: all announced bytes must have been written.
    pub fn end(&mut self) -> io::Result<()> {
        let Some((name, size, left)) = self.open.take() else {
            return Err(io::Error::other("no member is open"));
        };
        if left != 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{name}: source ended {left} bytes before its announced size {size} (did it change?)"),
            ));
        }
        self.inner.write_all(&[0u8; BLOCK][..padding(size)])
    }

    /// Write one member from a reader: header, exactly `size` bytes, zero padding.
    /// `on_data` sees the content bytes (for hashing) as they pass.
    pub fn append(
        &mut self,
        name: &str,
        size: u64,
        data: &mut dyn Read,
        on_data: &mut dyn FnMut(&[u8]),
    ) -> io::Result<()> {
        self.begin(name, size)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match data.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            on_data(&buf[..n]);
            self.write_data(&buf[..n])?;
        }
        self.end()
    }

    pub fn append_bytes(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.append(name, data.len() as u64, &mut &data[..], &mut |_| {})
    }

    /// The underlying writer, for copying a tar stream that is already framed.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The underlying writer, without writing an end-of-archive marker.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// End of archive: two zero blocks, nothing else.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some((n, _, _)) = &self.open {
            return Err(io::Error::other(format!("member {n} is still open")));
        }
        self.inner.write_all(&[0u8; 2 * BLOCK])?;
        Ok(self.inner)
    }
}

/// Describe how a header block differs from the canonical one, for error messages.
pub fn describe_header_difference(got: &[u8], want: &[u8]) -> String {
    const FIELDS: [(&str, usize, usize); 16] = [
        ("name", 0, 100),
        ("mode", 100, 108),
        ("uid", 108, 116),
        ("gid", 116, 124),
        ("size", 124, 136),
        ("mtime", 136, 148),
        ("checksum", 148, 156),
        ("type", 156, 157),
        ("linkname", 157, 257),
        ("magic", 257, 263),
        ("version", 263, 265),
        ("uname", 265, 297),
        ("gname", 297, 329),
        ("devmajor", 329, 337),
        ("devminor", 337, 345),
        ("prefix", 345, 500),
    ];
    if got.len() >= BLOCK && want.len() >= BLOCK {
        // a bad checksum first: it usually means corruption rather than another writer
        let stored = std::str::from_utf8(&got[148..154])
            .ok()
            .and_then(|s| u32::from_str_radix(s.trim(), 8).ok());
        let mut g = got[..BLOCK].to_vec();
        g[148..156].copy_from_slice(b"        ");
        let actual: u32 = g.iter().map(|&b| b as u32).sum();
        if stored != Some(actual) {
            return "header checksum is wrong (the header is corrupted)".into();
        }
        if got[156] != want[156] {
            let t = got[156];
            let what = match t {
                b'0' | 0 => "a regular file",
                b'1' => "a hard link",
                b'2' => "a symbolic link",
                b'3' | b'4' => "a device node",
                b'5' => "a directory",
                b'6' => "a FIFO",
                b'x' | b'g' => "a PAX extended header",
                b'L' | b'K' => "a GNU long-name header",
                b'S' => "a GNU sparse file",
                _ => "an unknown entry type",
            };
            return format!(
                "entry type {:?} ({what}) where the canonical archive has {:?}",
                t as char, want[156] as char
            );
        }
        for (f, a, b) in FIELDS {
            if got[a..b] != want[a..b] {
                return format!(
                    "header field {f} is {:?}, the canonical archive has {:?}",
                    String::from_utf8_lossy(&got[a..b]).trim_end_matches('\0'),
                    String::from_utf8_lossy(&want[a..b]).trim_end_matches('\0')
                );
            }
        }
        if got[500..BLOCK] != want[500..BLOCK] {
            return "non-zero bytes in the header's padding".into();
        }
    }
    "extended header records differ from the canonical ones".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_stable() {
        let h = ustar_header(b"genesis.json", 1234, b'0');
        assert_eq!(&h[124..136], b"00000002322\0");
        assert_eq!(&h[100..108], b"0000644\0");
        assert_eq!(&h[257..265], b"ustar\x0000");
        // checksum golden value: any change to the header layout changes every digest
        // GNU tar and Python tarfile validate this checksum in tests/pack.rs
        assert_eq!(&h[148..156], b"011534\0 ");
    }

    #[test]
    fn pax_record_lengths() {
        assert_eq!(pax_record("path", b"abc"), b"12 path=abc\n");
        let long = vec![b'a'; 95];
        let r = pax_record("path", &long);
        assert_eq!(
            r.len().to_string(),
            String::from_utf8_lossy(&r).split(' ').next().unwrap()
        );
        for n in 0..2000 {
            let v = vec![b'x'; n];
            let r = pax_record("path", &v);
            let declared: usize = String::from_utf8_lossy(&r)
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(declared, r.len());
        }
    }

    fn frame(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = TarWriter::new(Vec::new());
        for (name, data) in members {
            w.append_bytes(name, data).unwrap();
        }
        w.finish().unwrap()
    }

    /// Names and sizes at the ustar limits and one past them, read back by the `tar`
    /// crate (an independent reader); the framing's bytes are pinned by a digest.
    #[test]
    fn members_at_the_ustar_limits_read_back_by_the_tar_crate() {
        let n100 = "d/".to_string() + &"n".repeat(98);
        let n101 = "d/".to_string() + &"n".repeat(99);
        let big = vec![7u8; 513];
        let members: [(&str, &[u8]); 6] = [
            ("a", b"x"),
            ("empty", b""),
            (&n100, b"hundred"),
            (&n101, b"hundred and one"),
            ("block", &big[..512]),
            ("block+1", &big),
        ];
        let bytes = frame(&members);
        assert_eq!(bytes.len() % BLOCK, 0);
        assert_eq!(&bytes[bytes.len() - 2 * BLOCK..], &[0u8; 2 * BLOCK][..]);
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            assert_eq!(e.header().mode().unwrap(), 0o644);
            seen.push((name, data));
        }
        let want: Vec<(String, Vec<u8>)> = members
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_vec()))
            .collect();
        assert_eq!(seen, want);
        // only the 101-byte name needs a PAX header: 6 members of 1 block each, plus
        // the PAX header block and its record block, plus data blocks
        let data_blocks: usize = members.iter().map(|(_, d)| d.len().div_ceil(BLOCK)).sum();
        assert_eq!(bytes.len(), (6 + 2 + data_blocks + 2) * BLOCK);
        assert_eq!(
            crate::hashes::sha256_hex(&bytes),
            "12399c0dae16c123b5d8476c0bcfa0f261edc00c0b8dc156b6484bf35dee13b4"
        );
    }

    #[test]
    fn sizes_past_the_octal_field_get_a_pax_size_record() {
        let at_limit = member_header("f", USTAR_SIZE_MAX);
        assert_eq!(at_limit.len(), BLOCK);
        assert_eq!(&at_limit[124..136], b"77777777777\0");
        let h = member_header("f", USTAR_SIZE_MAX + 1);
        assert_eq!(h.len(), 3 * BLOCK);
        assert_eq!(&h[..PAX_HEADER_NAME.len()], PAX_HEADER_NAME.as_bytes());
        assert_eq!(h[156], b'x');
        let record = b"19 size=8589934592\n";
        assert_eq!(&h[124..136], format!("{:011o}\0", record.len()).as_bytes());
        assert_eq!(&h[BLOCK..BLOCK + record.len()], record);
        assert!(h[BLOCK + record.len()..2 * BLOCK].iter().all(|&b| b == 0));
        assert_eq!(
            &h[2 * BLOCK..],
            &ustar_header(b"f", USTAR_SIZE_MAX, b'0')[..]
        );
        // both records, path first
        let long = "p".repeat(101);
        let h = member_header(&long, USTAR_SIZE_MAX + 1);
        let text = String::from_utf8_lossy(&h[BLOCK..2 * BLOCK]);
        assert!(text.starts_with(&format!("111 path={long}\n19 size=8589934592\n")));
    }

    #[test]
    fn padding_fills_the_last_block() {
        for (size, pad) in [(0, 0), (1, 511), (511, 1), (512, 0), (513, 511), (1024, 0)] {
            assert_eq!(padding(size), pad, "{size}");
        }
    }

    #[test]
    fn the_writer_refuses_a_source_that_is_not_its_announced_size() {
        let mut w = TarWriter::new(Vec::new());
        assert!(w.write_data(b"x").is_err());
        assert!(w.end().is_err());
        w.begin("f", 3).unwrap();
        assert_eq!(
            w.begin("g", 1).unwrap_err().to_string(),
            "member f is still open"
        );
        w.write_data(b"ab").unwrap();
        let e = w.write_data(b"cd").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            e.to_string(),
            "f: source is longer than its announced size 3 (did it change?)"
        );
        w.write_data(b"c").unwrap();
        w.end().unwrap();
        w.begin("g", 5).unwrap();
        w.write_data(b"abc").unwrap();
        let e = w.end().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            e.to_string(),
            "g: source ended 2 bytes before its announced size 5 (did it change?)"
        );
        w.begin("h", 0).unwrap();
        assert_eq!(
            w.finish().unwrap_err().to_string(),
            "member h is still open"
        );
    }

    /// `append` retries an interrupted read and shows every content byte to `on_data`.
    #[test]
    fn append_retries_interrupted_reads() {
        struct Flaky(u8, &'static [u8]);
        impl Read for Flaky {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0 += 1;
                if self.0 % 2 == 1 {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let n = buf.len().min(self.1.len()).min(2);
                buf[..n].copy_from_slice(&self.1[..n]);
                self.1 = &self.1[n..];
                Ok(n)
            }
        }
        let mut w = TarWriter::new(Vec::new());
        let mut seen = Vec::new();
        w.append("f", 5, &mut Flaky(0, b"hello"), &mut |d| {
            seen.extend_from_slice(d)
        })
        .unwrap();
        assert_eq!(seen, b"hello");
        assert_eq!(
            w.into_inner(),
            frame(&[("f", b"hello")])[..2 * BLOCK].to_vec()
        );
        // any other read error is the caller's, at once (the reader would give data after)
        struct FailsOnce(bool);
        impl Read for FailsOnce {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if !std::mem::replace(&mut self.0, true) {
                    return Err(io::Error::other("disk"));
                }
                buf[0] = b'x';
                Ok(1)
            }
        }
        let mut w = TarWriter::new(Vec::new());
        let e = w
            .append("f", 1, &mut FailsOnce(false), &mut |_| {})
            .unwrap_err();
        assert_eq!(e.to_string(), "disk");
    }

    #[test]
    fn header_differences_are_named() {
        let want = ustar_header(b"f", 3, b'0');
        let with = |at: usize, b: u8, fix_sum: bool| {
            let mut g = want;
            g[at] = b;
            if fix_sum {
                g[148..156].copy_from_slice(b"        ");
                let sum: u32 = g.iter().map(|&b| b as u32).sum();
                g[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            }
            g
        };
        assert_eq!(
            describe_header_difference(&with(0, b'g', false), &want),
            "header checksum is wrong (the header is corrupted)"
        );
        for (t, what) in [
            (0u8, "a regular file"),
            (b'1', "a hard link"),
            (b'2', "a symbolic link"),
            (b'3', "a device node"),
            (b'4', "a device node"),
            (b'5', "a directory"),
            (b'6', "a FIFO"),
            (b'x', "a PAX extended header"),
            (b'g', "a PAX extended header"),
            (b'L', "a GNU long-name header"),
            (b'K', "a GNU long-name header"),
            (b'S', "a GNU sparse file"),
            (b'7', "an unknown entry type"),
        ] {
            assert_eq!(
                describe_header_difference(&with(156, t, true), &want),
                format!(
                    "entry type {:?} ({what}) where the canonical archive has '0'",
                    t as char
                )
            );
        }
        let pax = ustar_header(b"f", 3, b'x');
        assert_eq!(
            describe_header_difference(&want, &pax),
            "entry type '0' (a regular file) where the canonical archive has 'x'"
        );
        assert_eq!(
            describe_header_difference(&with(0, b'g', true), &want),
            "header field name is \"g\", the canonical archive has \"f\""
        );
        assert_eq!(
            describe_header_difference(&with(136, b'1', true), &want),
            "header field mtime is \"10000000000\", the canonical archive has \"00000000000\""
        );
        // (the checksum field covers the padding: compare with the same checksum)
        let padded = with(500, 1, true);
        let mut unpadded = padded;
        unpadded[500] = 0;
        assert_eq!(
            describe_header_difference(&padded, &unpadded),
            "non-zero bytes in the header's padding"
        );
        assert_eq!(
            describe_header_difference(&want[..100], &want),
            "extended header records differ from the canonical ones"
        );
    }
}
