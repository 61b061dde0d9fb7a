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
}
