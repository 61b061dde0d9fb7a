//! Deterministic parallel gzip with a chunk index, and strict gzip readers (one stream,
//! or in parallel from agar's index).
//!
//! Writer: the input is cut at fixed 1 MiB offsets; each chunk is deflated on its own
//! by libdeflate (fresh compressor, no shared window). libdeflate ends its output with a
//! final block; for every chunk but the last, that block's BFINAL bit is cleared (the
//! block is located by [`final_block`]) and an empty stored block (a sync flush) brings
//! the stream to a byte boundary. Concatenated, the chunks form one valid deflate
//! stream in one gzip member. A chunk's output depends only on its bytes and the level,
//! so the file is identical whatever the number of threads. Header:
//! `1f 8b 08 00 00000000 00 ff` (no name, mtime 0, OS 255), or with FEXTRA set and one
//! `AG` subfield holding the chunk index when the writer is told the total size
//! ([`ParGzWriter::with_index`]; see FORMAT.md).

use std::io::{self, BufRead, Read, Write};

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::par::Ordered;

pub const CHUNK: usize = 1 << 20;
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff];
/// The FEXTRA subfield ID of agar's chunk index.
pub const INDEX_ID: [u8; 2] = *b"AG";
const INDEX_VERSION: u8 = 1;
/// Entries that fit in one subfield (XLEN <= 65535: 4 bytes of subfield header, 6 of
/// version, group size and count, 4 per entry).
pub const MAX_INDEX_ENTRIES: u64 = (65535 - 4 - 6) / 4;
/// Index entries to write in place: (file offset, bytes).
pub type IndexPatch = (u64, Vec<u8>);
/// Offset of the first index entry in the file.
const INDEX_ENTRIES_AT: u64 = 10 + 2 + 4 + 6;

/// The index shape for a tar of `tar_bytes`: (log2 of chunks per entry, entries).
pub fn index_layout(tar_bytes: u64) -> (u8, u64) {
    let chunks = tar_bytes.div_ceil(CHUNK as u64).max(1);
    let mut log2k = 0u8;
    while chunks.div_ceil(1 << log2k) > MAX_INDEX_ENTRIES {
        log2k += 1;
    }
    (log2k, chunks.div_ceil(1 << log2k))
}

fn deflate_chunk(c: &mut libdeflater::Compressor, data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; c.deflate_compress_bound(data.len()) + 8];
    let n = c
        .deflate_compress(data, &mut out)
        .map_err(|e| io::Error::other(format!("deflate: {e:?}")))?;
    out.truncate(n);
    if last {
        return Ok(out);
    }
    let (hdr, end) = final_block(&out)
        .ok_or_else(|| io::Error::other("libdeflate output has no final block (bug)"))?;
    // clear BFINAL, cut at the block's last bit, then an empty stored block
    out[hdr / 8] &= !(1u8 << (hdr % 8));
    out.truncate(end.div_ceil(8));
    let r = end % 8;
    if r != 0 {
        let last = out.len() - 1;
        out[last] &= (1u8 << r) - 1;
    }
    if r == 0 || r > 5 {
        out.push(0);
    }
    out.extend_from_slice(&[0, 0, 0xff, 0xff]);
    Ok(out)
}

/// LSB-first bit reader over a deflate stream (our own libdeflate output).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn need(&self, n: usize) -> Option<()> {
        (self.pos + n <= self.data.len() * 8).then_some(())
    }
    #[inline]
    fn peek(&self, n: usize) -> u32 {
        // up to 24 bits, zero past the end; one 8-byte load except near the end (this
        // walk runs over every compressed byte pack and explode write)
        let byte = self.pos / 8;
        let v = match self.data.get(byte..byte + 8) {
            Some(w) => u64::from_le_bytes(w.try_into().expect("8 bytes")),
            None => {
                let mut v = 0u64;
                for (i, &b) in self.data.iter().skip(byte).take(8).enumerate() {
                    v |= (b as u64) << (8 * i);
                }
                v
            }
        };
        ((v >> (self.pos % 8)) as u32) & ((1u32 << n) - 1)
    }
    #[inline]
    fn take(&mut self, n: usize) -> Option<u32> {
        self.need(n)?;
        let v = self.peek(n);
        self.pos += n;
        Some(v)
    }
}

/// A canonical Huffman decoding table: entry = symbol << 4 | code length.
struct Table {
    bits: usize,
    t: Vec<u32>,
}

impl Table {
    fn new(lens: &[u8]) -> Option<Table> {
        let bits = *lens.iter().max()? as usize;
        let mut count = [0u32; 16];
        for &l in lens {
            count[l as usize] += 1;
        }
        count[0] = 0;
        let mut next = [0u32; 16];
        let mut code = 0u32;
        for l in 1..16 {
            code = (code + count[l - 1]) << 1;
            next[l] = code;
        }
        let mut t = vec![0u32; 1 << bits.max(1)];
        for (sym, &l) in lens.iter().enumerate() {
            if l == 0 {
                continue;
            }
            let l = l as usize;
            let c = next[l];
            next[l] += 1;
            let rev = c.reverse_bits() >> (32 - l);
            let mut i = rev as usize;
            while i < t.len() {
                t[i] = (sym as u32) << 4 | l as u32;
                i += 1 << l;
            }
        }
        Some(Table { bits, t })
    }
    #[inline]
    fn decode(&self, b: &mut Bits) -> Option<u32> {
        let e = self.t[b.peek(self.bits) as usize];
        let l = (e & 15) as usize;
        if l == 0 {
            return None;
        }
        b.need(l)?;
        b.pos += l;
        Some(e >> 4)
    }
}

const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Walk a deflate stream's blocks (decoding symbols without producing output) and
/// return the bit position of the final block's header and the bit just after it ends.
pub fn final_block(data: &[u8]) -> Option<(usize, usize)> {
    let mut b = Bits { data, pos: 0 };
    let fixed = {
        let mut l = [0u8; 288];
        l[..144].fill(8);
        l[144..256].fill(9);
        l[256..280].fill(7);
        l[280..].fill(8);
        (Table::new(&l)?, Table::new(&[5u8; 30])?)
    };
    loop {
        let hdr = b.pos;
        let bfinal = b.take(1)? == 1;
        match b.take(2)? {
            0 => {
                b.pos = b.pos.div_ceil(8) * 8;
                let len = b.take(16)? as usize;
                let nlen = b.take(16)? as usize;
                if len != !nlen & 0xffff {
                    return None;
                }
                b.need(len * 8)?;
                b.pos += len * 8;
            }
            t @ (1 | 2) => {
                let dynamic;
                let (lit, dist) = if t == 1 {
                    (&fixed.0, &fixed.1)
                } else {
                    dynamic = read_dynamic(&mut b)?;
                    (&dynamic.0, &dynamic.1)
                };
                loop {
                    let s = lit.decode(&mut b)? as usize;
                    if s < 256 {
                        continue;
                    }
                    if s == 256 {
                        break;
                    }
                    b.take(*LEN_EXTRA.get(s - 257)? as usize)?;
                    let d = dist.decode(&mut b)? as usize;
                    b.take(*DIST_EXTRA.get(d)? as usize)?;
                }
            }
            _ => return None,
        }
        if bfinal {
            return Some((hdr, b.pos));
        }
    }
}

fn read_dynamic(b: &mut Bits) -> Option<(Table, Table)> {
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];
    let hlit = b.take(5)? as usize + 257;
    let hdist = b.take(5)? as usize + 1;
    let hclen = b.take(4)? as usize + 4;
    let mut cl = [0u8; 19];
    for &i in &ORDER[..hclen] {
        cl[i] = b.take(3)? as u8;
    }
    let clt = Table::new(&cl)?;
    let mut lens = Vec::with_capacity(hlit + hdist);
    while lens.len() < hlit + hdist {
        let s = clt.decode(b)?;
        match s {
            0..=15 => lens.push(s as u8),
            16 => {
                let p = *lens.last()?;
                for _ in 0..3 + b.take(2)? {
                    lens.push(p);
                }
            }
            17 => lens.resize(lens.len() + 3 + b.take(3)? as usize, 0),
            _ => lens.resize(lens.len() + 11 + b.take(7)? as usize, 0),
        }
    }
    if lens.len() != hlit + hdist {
        return None;
    }
    let dl = &lens[hlit..];
    // a distance table of one unused code is legal
    let dist = if dl.iter().all(|&l| l == 0) {
        Table::new(&[1])?
    } else {
        Table::new(dl)?
    };
    Some((Table::new(&lens[..hlit])?, dist))
}

/// Chunk index being filled in while writing: compressed bytes per group of chunks.
struct IndexBuilder {
    log2k: u8,
    entries: u64,
    sizes: Vec<u8>,
    group: u64,
    in_group: u64,
}

/// A `Write` that gzips in parallel on `threads` worker threads.
pub struct ParGzWriter<W: Write> {
    inner: Option<W>,
    buf: Vec<u8>,
    crc: Crc,
    pool: Ordered<(Vec<u8>, bool), Vec<u8>>,
    index: Option<IndexBuilder>,
    /// Compressed bytes written so far.
    pub compressed: u64,
}

impl<W: Write> ParGzWriter<W> {
    pub fn new(inner: W, level: u32, threads: usize) -> io::Result<Self> {
        Self::with_os(inner, level, threads, GZIP_HEADER[9])
    }

    /// Like [`ParGzWriter::new`], with another OS byte in the header (3 = Unix, as Node's
    /// zlib writes it).
    pub fn with_os(inner: W, level: u32, threads: usize, os: u8) -> io::Result<Self> {
        let mut header = GZIP_HEADER.to_vec();
        header[9] = os;
        Self::start(inner, level, threads, header, None)
    }

    /// A writer whose header carries agar's chunk index (FORMAT.md), sized for exactly
    /// `tar_bytes` of input; the index entries are zero until [`ParGzWriter::finish_indexed`]
    /// returns them with their file offset, for the caller to write in place.
    pub fn with_index(inner: W, level: u32, threads: usize, tar_bytes: u64) -> io::Result<Self> {
        let (log2k, entries) = index_layout(tar_bytes);
        let len = 6 + 4 * entries as usize;
        let mut header = GZIP_HEADER.to_vec();
        header[3] = 0x04; // FEXTRA
        header.extend_from_slice(&((len + 4) as u16).to_le_bytes());
        header.extend_from_slice(&INDEX_ID);
        header.extend_from_slice(&(len as u16).to_le_bytes());
        header.push(INDEX_VERSION);
        header.push(log2k);
        header.extend_from_slice(&(entries as u32).to_le_bytes());
        header.resize(header.len() + 4 * entries as usize, 0);
        let index = IndexBuilder {
            log2k,
            entries,
            sizes: Vec::with_capacity(4 * entries as usize),
            group: 0,
            in_group: 0,
        };
        Self::start(inner, level, threads, header, Some(index))
    }

    fn start(
        mut inner: W,
        level: u32,
        threads: usize,
        header: Vec<u8>,
        index: Option<IndexBuilder>,
    ) -> io::Result<Self> {
        let lvl = libdeflater::CompressionLvl::new(level as i32)
            .map_err(|_| io::Error::other(format!("gzip level {level} is not 1-9")))?;
        inner.write_all(&header)?;
        let threads = threads.max(1);
        let pool = Ordered::new(
            threads,
            threads * 2,
            move || libdeflater::Compressor::new(lvl),
            |c: &mut libdeflater::Compressor, (data, last): (Vec<u8>, bool)| {
                deflate_chunk(c, &data, last)
            },
        );
        Ok(ParGzWriter {
            inner: Some(inner),
            buf: Vec::with_capacity(CHUNK),
            crc: Crc::new(),
            pool,
            index,
            compressed: header.len() as u64,
        })
    }

    fn write_out(&mut self, out: Vec<u8>) -> io::Result<()> {
        if let Some(w) = self.inner.as_mut() {
            w.write_all(&out)?;
        }
        self.compressed += out.len() as u64;
        if let Some(ix) = self.index.as_mut() {
            ix.group += out.len() as u64;
            ix.in_group += 1;
            if ix.in_group == 1 << ix.log2k {
                let g = u32::try_from(ix.group)
                    .map_err(|_| io::Error::other("gzip index group over 4 GiB"))?;
                ix.sizes.extend_from_slice(&g.to_le_bytes());
                (ix.group, ix.in_group) = (0, 0);
            }
        }
        Ok(())
    }

    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        while self.pool.is_full() {
            let out = self.pool.take_next().expect("jobs in flight")?;
            self.write_out(out)?;
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.pool.submit((data, last))
    }

    /// Finish the stream (final chunk, CRC and size trailer) and return the writer.
    pub fn finish(self) -> io::Result<W> {
        match self.finish_indexed()? {
            (w, None) => Ok(w),
            (_, Some(_)) => Err(io::Error::other(
                "an indexed gzip writer must be finished with finish_indexed",
            )),
        }
    }

    /// Finish, and return the index entries with the file offset they belong at.
    pub fn finish_indexed(mut self) -> io::Result<(W, Option<IndexPatch>)> {
        self.dispatch(true)?;
        while let Some(out) = self.pool.take_next() {
            self.write_out(out?)?;
        }
        let mut inner = self
            .inner
            .take()
            .ok_or_else(|| io::Error::other("gzip writer already finished"))?;
        inner.write_all(&self.crc.sum().to_le_bytes())?;
        inner.write_all(&self.crc.amount().to_le_bytes())?;
        self.compressed += 8;
        let patch = match self.index.take() {
            None => None,
            Some(mut ix) => {
                if ix.in_group > 0 {
                    let g = u32::try_from(ix.group)
                        .map_err(|_| io::Error::other("gzip index group over 4 GiB"))?;
                    ix.sizes.extend_from_slice(&g.to_le_bytes());
                }
                if ix.sizes.len() as u64 != 4 * ix.entries {
                    return Err(io::Error::other(format!(
                        "gzip index: {} groups written, {} reserved (the tar is not the announced size; bug)",
                        ix.sizes.len() / 4,
                        ix.entries
                    )));
                }
                Some((INDEX_ENTRIES_AT, ix.sizes))
            }
        };
        Ok((inner, patch))
    }
}

impl<W: Write> Write for ParGzWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            if self.buf.len() == CHUNK {
                self.dispatch(false)?;
            }
            let n = rest.len().min(CHUNK - self.buf.len());
            self.buf.extend_from_slice(&rest[..n]);
            self.crc.update(&rest[..n]);
            rest = &rest[n..];
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one gzip member strictly: header flags parsed with caps, deflate body, CRC-32
/// and length trailer checked, and nothing may follow the member.
pub struct StrictGzReader<R: BufRead> {
    inner: Option<flate2::bufread::DeflateDecoder<R>>,
    crc: Crc,
    done: bool,
}

fn read_exact_or(r: &mut impl Read, buf: &mut [u8], what: &str) -> io::Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            bad(format!("gzip stream truncated in the {what}"))
        } else {
            e
        }
    })
}

/// agar's chunk index from a gzip header: every group of `2^log2k` chunks but the last
/// inflates to exactly `2^log2k` MiB, in `sizes[i]` compressed bytes.
#[derive(Debug, Clone)]
pub struct GzIndex {
    pub log2k: u8,
    pub sizes: Vec<u32>,
}

fn parse_index(d: &[u8]) -> io::Result<GzIndex> {
    let broken = || {
        bad("agar's gzip chunk index (FEXTRA subfield AG) is malformed: the archive is corrupt or was altered")
    };
    if d.len() < 6 || d[0] != INDEX_VERSION || d[1] > 16 {
        return Err(broken());
    }
    let n = u32::from_le_bytes([d[2], d[3], d[4], d[5]]) as usize;
    if n == 0 || d.len() != 6 + 4 * n {
        return Err(broken());
    }
    let sizes = d[6..]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(GzIndex { log2k: d[1], sizes })
}

/// Read and check a gzip header (caps on the optional fields); return agar's chunk
/// index if the header carries one. Other FEXTRA subfields are skipped.
pub fn read_header(r: &mut impl Read) -> io::Result<Option<GzIndex>> {
    let mut h = [0u8; 10];
    read_exact_or(r, &mut h, "header")?;
    if h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 {
        return Err(bad("not a gzip (deflate) stream"));
    }
    let flags = h[3];
    if flags & 0xe0 != 0 {
        return Err(bad("gzip header has reserved flag bits set"));
    }
    let mut index = None;
    if flags & 0x04 != 0 {
        let mut x = [0u8; 2];
        read_exact_or(r, &mut x, "header")?;
        let mut extra = vec![0u8; u16::from_le_bytes(x) as usize];
        read_exact_or(r, &mut extra, "header")?;
        let mut rest = &extra[..];
        while rest.len() >= 4 {
            let len = u16::from_le_bytes([rest[2], rest[3]]) as usize;
            let Some(data) = rest.get(4..4 + len) else {
                break;
            };
            if rest[..2] == INDEX_ID {
                if index.is_some() {
                    return Err(bad("two gzip chunk indexes in one header"));
                }
                index = Some(parse_index(data)?);
            }
            rest = &rest[4 + len..];
        }
    }
    for bit in [0x08u8, 0x10] {
        if flags & bit != 0 {
            let mut n = 0;
            loop {
                let mut b = [0u8; 1];
                read_exact_or(r, &mut b, "header")?;
                if b[0] == 0 {
                    break;
                }
                n += 1;
                if n > 4096 {
                    return Err(bad("gzip header name/comment longer than 4096 bytes"));
                }
            }
        }
    }
    if flags & 0x02 != 0 {
        let mut x = [0u8; 2];
        read_exact_or(r, &mut x, "header")?;
    }
    Ok(index)
}

/// Inflate one group of chunks on a worker: exactly `want` bytes for a group that is
/// not the last, ending at a byte-aligned block boundary without a final block (checked
/// by appending an empty final block: nothing else can end there with no output); the
/// last group must end with the final block exactly at its end.
fn inflate_group(
    d: &mut Decompress,
    (data, want, last, n): (Vec<u8>, usize, bool, usize),
) -> io::Result<(Vec<u8>, Crc)> {
    let broken = |why: &str| {
        bad(format!(
            "gzip chunk group {n} does not match agar's chunk index ({why}): the archive is corrupt or was altered"
        ))
    };
    d.reset(false);
    let mut out: Vec<u8> = Vec::with_capacity(want + 1);
    let st = d
        .decompress_vec(&data, &mut out, FlushDecompress::Sync)
        .map_err(|e| bad(format!("corrupt gzip data in chunk group {n}: {e}")))?;
    if out.len() > want {
        return Err(broken("it inflates to more than its size"));
    }
    if d.total_in() != data.len() as u64 {
        return Err(broken("it does not end where the index says"));
    }
    if last {
        if st != Status::StreamEnd {
            return Err(bad(format!("gzip stream truncated in chunk group {n}")));
        }
    } else {
        if out.len() != want || st == Status::StreamEnd {
            return Err(broken("a chunk boundary is not where the index says"));
        }
        let mut probe = Vec::with_capacity(1);
        let st = d
            .decompress_vec(&[0x03, 0x00], &mut probe, FlushDecompress::Finish)
            .map_err(|_| broken("it does not end on a block boundary"))?;
        if st != Status::StreamEnd || !probe.is_empty() || d.total_in() != data.len() as u64 + 2 {
            return Err(broken("it does not end on a block boundary"));
        }
    }
    let mut crc = Crc::new();
    crc.update(&out);
    Ok((out, crc))
}

/// Inflate a gzip member whose header (already read) carried agar's index, on
/// `threads` threads, handing the output over in order through `emit` (false: stop);
/// then check the CRC-32 and length trailer and that nothing follows.
pub fn decode_indexed(
    mut r: impl Read,
    index: GzIndex,
    threads: usize,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> io::Result<()> {
    let group = CHUNK << index.log2k;
    let in_flight = (threads * 2).min((32 << 20) / group).max(2);
    let mut pool = Ordered::new(threads, in_flight, || Decompress::new(false), inflate_group);
    let mut crc = Crc::new();
    let count = index.sizes.len();
    let mut next = |pool: &mut Ordered<_, (Vec<u8>, Crc)>, crc: &mut Crc| -> io::Result<bool> {
        let (out, c) = pool.take_next().expect("jobs in flight")?;
        crc.combine(&c);
        Ok(emit(out))
    };
    for (i, &size) in index.sizes.iter().enumerate() {
        // a deflated group is never much larger than its input (stored blocks)
        if size as usize > group + group / 64 + 4096 {
            return Err(bad(format!(
                "agar's gzip chunk index announces {size} compressed bytes for a {group}-byte group: corrupt or hostile"
            )));
        }
        let mut data = vec![0u8; size as usize];
        read_exact_or(&mut r, &mut data, "data")?;
        while pool.is_full() {
            if !next(&mut pool, &mut crc)? {
                return Ok(());
            }
        }
        pool.submit((data, group, i + 1 == count, i))?;
    }
    while pool.in_flight() > 0 {
        if !next(&mut pool, &mut crc)? {
            return Ok(());
        }
    }
    let mut t = [0u8; 8];
    read_exact_or(&mut r, &mut t, "trailer")?;
    if u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != crc.sum() {
        return Err(bad(
            "gzip CRC-32 does not match the data (corrupted download?)",
        ));
    }
    if u32::from_le_bytes([t[4], t[5], t[6], t[7]]) != crc.amount() {
        return Err(bad("gzip length trailer does not match the data"));
    }
    let mut probe = [0u8; 1];
    loop {
        match r.read(&mut probe) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                return Err(bad(
                    "unexpected bytes after the gzip stream (a second member or garbage)",
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl<R: BufRead> StrictGzReader<R> {
    pub fn new(mut r: R) -> io::Result<Self> {
        read_header(&mut r)?;
        Ok(Self::after_header(r))
    }

    /// A reader for the deflate body and trailer, the header having been read.
    pub fn after_header(r: R) -> Self {
        StrictGzReader {
            inner: Some(flate2::bufread::DeflateDecoder::new(r)),
            crc: Crc::new(),
            done: false,
        }
    }

    fn finish_member(&mut self) -> io::Result<()> {
        let dec = self.inner.take().ok_or_else(|| bad("gzip reader misuse"))?;
        let mut r = dec.into_inner();
        let mut t = [0u8; 8];
        read_exact_or(&mut r, &mut t, "trailer")?;
        let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let len = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        if crc != self.crc.sum() {
            return Err(bad(
                "gzip CRC-32 does not match the data (corrupted download?)",
            ));
        }
        if len != self.crc.amount() {
            return Err(bad("gzip length trailer does not match the data"));
        }
        if !r.fill_buf()?.is_empty() {
            return Err(bad(
                "unexpected bytes after the gzip stream (a second member or garbage)",
            ));
        }
        self.done = true;
        Ok(())
    }
}

impl<R: BufRead> Read for StrictGzReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let n = match self.inner.as_mut() {
            // the decoder reports damage as InvalidInput/InvalidData; any other error
            // comes from the underlying reader (the disk) and passes through unchanged
            Some(d) => d.read(buf).map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => bad("gzip stream truncated"),
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
                    bad(format!("corrupt gzip data: {e}"))
                }
                _ => e,
            })?,
            None => return Ok(0),
        };
        if n == 0 {
            self.finish_member()?;
            return Ok(0);
        }
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(data: &[u8], threads: usize) -> Vec<u8> {
        let mut w = ParGzWriter::new(Vec::new(), 6, threads).unwrap();
        for part in data.chunks(77_777) {
            w.write_all(part).unwrap();
        }
        w.finish().unwrap()
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| ((i * 7919) % 251) as u8 ^ (i / 1000) as u8)
            .collect()
    }

    #[test]
    fn deterministic_across_thread_counts_and_decodable() {
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
            let data = sample(n);
            let a = gz(&data, 1);
            let b = gz(&data, 2);
            let c = gz(&data, 5);
            assert_eq!(a, b, "n={n}");
            assert_eq!(a, c, "n={n}");
            assert_eq!(&a[..10], &GZIP_HEADER);
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&a[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data);
            let mut out2 = Vec::new();
            StrictGzReader::new(io::BufReader::new(&a[..]))
                .unwrap()
                .read_to_end(&mut out2)
                .unwrap();
            assert_eq!(out2, data);
        }
    }

    /// A reader that yields `ok` bytes and then fails like a dying disk.
    struct DiskFails<'a> {
        ok: &'a [u8],
    }

    impl Read for DiskFails<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.ok.is_empty() {
                return Err(io::Error::other("EIO"));
            }
            let n = buf.len().min(self.ok.len());
            buf[..n].copy_from_slice(&self.ok[..n]);
            self.ok = &self.ok[n..];
            Ok(n)
        }
    }

    #[test]
    fn disk_errors_pass_through_as_they_are() {
        let good = gz(&sample(300_000), 1);
        let r = io::BufReader::with_capacity(4096, DiskFails { ok: &good[..5000] });
        let mut out = Vec::new();
        let e = StrictGzReader::new(r)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Other, "{e}");
        // damage still reads as InvalidData
        let mut bad = good.clone();
        bad[20] ^= 0xff;
        bad[21] ^= 0xff;
        let e = StrictGzReader::new(io::BufReader::new(&bad[..]))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    }

    fn gz_indexed(data: &[u8], level: u32, threads: usize) -> Vec<u8> {
        let mut w = ParGzWriter::with_index(Vec::new(), level, threads, data.len() as u64).unwrap();
        for part in data.chunks(77_777) {
            w.write_all(part).unwrap();
        }
        let (mut out, patch) = w.finish_indexed().unwrap();
        let (at, bytes) = patch.unwrap();
        out[at as usize..at as usize + bytes.len()].copy_from_slice(&bytes);
        out
    }

    fn read_indexed(b: &[u8], threads: usize) -> io::Result<Vec<u8>> {
        let mut r = b;
        let index = read_header(&mut r)?.expect("an index");
        let mut out = Vec::new();
        decode_indexed(r, index, threads, &mut |v| {
            out.extend_from_slice(&v);
            true
        })?;
        Ok(out)
    }

    #[test]
    fn indexed_gzip_is_one_member_read_in_parallel_and_lies_are_caught() {
        for n in [1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
            let data = sample(n);
            for level in [1, 6, 9] {
                let a = gz_indexed(&data, level, 1);
                assert_eq!(a, gz_indexed(&data, level, 3), "n={n}");
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&a[..])
                    .read_to_end(&mut out)
                    .unwrap();
                assert_eq!(out, data, "flate2, n={n} level={level}");
                for t in [1, 4] {
                    assert_eq!(read_indexed(&a, t).unwrap(), data, "n={n}");
                }
            }
        }
        let data = sample(3 * CHUNK + 5);
        let good = gz_indexed(&data, 6, 2);
        // entries moved by one byte between two groups: boundaries no longer match
        let mut lie = good.clone();
        lie[INDEX_ENTRIES_AT as usize] += 1;
        lie[INDEX_ENTRIES_AT as usize + 4] -= 1;
        assert!(read_indexed(&lie, 2).is_err());
        let mut junk = good.clone();
        junk.push(0);
        assert!(read_indexed(&junk, 2).is_err());
        for cut in [30, good.len() / 2, good.len() - 1] {
            assert!(read_indexed(&good[..cut], 2).is_err(), "cut {cut}");
        }
        let mut flip = good.clone();
        let k = flip.len() / 2;
        flip[k] ^= 0x10;
        assert!(read_indexed(&flip, 2).is_err());
    }

    #[test]
    fn final_block_finds_the_end_of_zlib_streams_too() {
        // an independent encoder (zlib-rs): the walker finds the stream's exact end
        for n in [0usize, 10, 100_000, 700_000] {
            let data = sample(n);
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(&data).unwrap();
            let d = e.finish().unwrap();
            let (_, end) = final_block(&d).unwrap();
            assert_eq!(end.div_ceil(8), d.len(), "n={n}");
        }
    }

    #[test]
    fn strict_reader_rejects_corruption() {
        let data = sample(300_000);
        let good = gz(&data, 2);
        let read = |b: &[u8]| -> io::Result<Vec<u8>> {
            let mut out = Vec::new();
            StrictGzReader::new(io::BufReader::new(b))?.read_to_end(&mut out)?;
            Ok(out)
        };
        let mut trailing = good.clone();
        trailing.extend_from_slice(&good);
        assert!(read(&trailing)
            .unwrap_err()
            .to_string()
            .contains("after the gzip stream"));
        let mut crc = good.clone();
        let n = crc.len();
        crc[n - 6] ^= 1;
        assert!(read(&crc).is_err());
        for cut in [5, 20, good.len() / 2, good.len() - 1] {
            assert!(read(&good[..cut]).is_err(), "cut {cut}");
        }
    }
}
