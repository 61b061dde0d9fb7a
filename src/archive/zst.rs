//! Deterministic parallel zstd, and a strict zstd reader that decompresses independent
//! frames in parallel.
//!
//! Writer: the input is cut at fixed [`FRAME`]-byte offsets; each piece becomes one
//! independent zstd frame (level 3, content size and XXH64 checksum in the frame, no
//! dictionary, one thread per frame), so the bytes do not depend on the thread count.
//! After the last frame comes the seek table of the zstd seekable format (one skippable
//! frame, magic 0x184D2A5E, entries `compressed u32, decompressed u32`, footer with the
//! frame count, descriptor 0 and magic 0x8F92EAB1). `zstd -dc` skips it.
//!
//! Reader (closed world): zstd frames, each with a checksum, then optionally the seek
//! table (which must list exactly the frames read), then end of file. Any other skippable
//! frame, a frame without checksum or with a dictionary, or bytes after the end are
//! errors. Frames whose header announces a content size of at most [`MAX_PAR_FRAME`]
//! bytes (agar's own, and other seekable writers') are located from their block headers
//! and decompressed on every core; other frames (one big frame from `zstd`) stream on one
//! thread with a window of at most 2^[`WINDOW_LOG_MAX`] bytes.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};
use zstd::zstd_safe;

use super::par::Ordered;

/// Uncompressed bytes per frame (the parallel unit when reading).
pub const FRAME: usize = 4 << 20;
/// Compression level (fixed: the bytes must not depend on anything else).
pub const LEVEL: i32 = 3;
pub const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
pub const SEEK_TABLE_MAGIC: u32 = 0x184D_2A5E;
pub const SEEKABLE_MAGIC: u32 = 0x8F92_EAB1;
/// Largest announced frame content size decompressed in one piece on a worker.
pub const MAX_PAR_FRAME: u64 = 8 << 20;
/// Largest window accepted when a frame has to be streamed (32 MiB: what `zstd -19`
/// and lower produce; `--long`/`--ultra` archives are refused, memory stays bounded).
pub const WINDOW_LOG_MAX: u32 = 25;
/// Most frames agar writes in one archive (a 4 TiB tar): bounds the seek table.
pub const MAX_FRAMES: u64 = 1 << 20;

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn zerr(what: &str, code: usize) -> io::Error {
    bad(format!("{what}: {}", zstd_safe::get_error_name(code)))
}

fn compress_frame(c: &mut zstd::bulk::Compressor<'static>, data: &[u8]) -> io::Result<Vec<u8>> {
    c.compress(data)
}

fn new_compressor() -> io::Result<zstd::bulk::Compressor<'static>> {
    let mut c = zstd::bulk::Compressor::new(LEVEL)?;
    c.include_checksum(true)?;
    c.include_contentsize(true)?;
    c.include_dictid(false)?;
    Ok(c)
}

/// A `Write` that compresses into independent zstd frames on `threads` threads.
pub struct ParZstWriter<W: Write> {
    inner: Option<W>,
    buf: Vec<u8>,
    pool: Ordered<Vec<u8>, (u32, Vec<u8>)>,
    table: Vec<u8>,
    frames: u64,
    /// Compressed bytes written so far.
    pub compressed: u64,
}

impl<W: Write> ParZstWriter<W> {
    pub fn new(inner: W, threads: usize) -> io::Result<Self> {
        new_compressor()?; // report a bad parameter here rather than in a worker
        let pool = Ordered::new(
            threads,
            threads * 2,
            || new_compressor().map_err(|e| e.to_string()),
            |c: &mut Result<zstd::bulk::Compressor<'static>, String>, data: Vec<u8>| {
                let c = c.as_mut().map_err(|e| io::Error::other(e.clone()))?;
                Ok((data.len() as u32, compress_frame(c, &data)?))
            },
        );
        Ok(ParZstWriter {
            inner: Some(inner),
            buf: Vec::with_capacity(FRAME),
            pool,
            table: Vec::new(),
            frames: 0,
            compressed: 0,
        })
    }

    fn write_out(&mut self, (dsize, frame): (u32, Vec<u8>)) -> io::Result<()> {
        if let Some(w) = self.inner.as_mut() {
            w.write_all(&frame)?;
        }
        self.compressed += frame.len() as u64;
        self.table
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.table.extend_from_slice(&dsize.to_le_bytes());
        self.frames += 1;
        Ok(())
    }

    fn dispatch(&mut self) -> io::Result<()> {
        while self.pool.is_full() {
            let out = self.pool.take_next().expect("jobs in flight")?;
            self.write_out(out)?;
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(FRAME));
        self.pool.submit(data)
    }

    /// Compress what is left, write the seek table and return the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() || self.frames + self.pool.in_flight() as u64 == 0 {
            self.dispatch()?;
        }
        while let Some(out) = self.pool.take_next() {
            self.write_out(out?)?;
        }
        let mut w = self
            .inner
            .take()
            .ok_or_else(|| io::Error::other("zstd writer already finished"))?;
        let frames = u32::try_from(self.frames)
            .map_err(|_| io::Error::other("too many zstd frames for a seek table"))?;
        let size = self.table.len() + 9;
        w.write_all(&SEEK_TABLE_MAGIC.to_le_bytes())?;
        w.write_all(&(size as u32).to_le_bytes())?;
        w.write_all(&self.table)?;
        w.write_all(&frames.to_le_bytes())?;
        w.write_all(&[0u8])?;
        w.write_all(&SEEKABLE_MAGIC.to_le_bytes())?;
        self.compressed += 8 + size as u64;
        Ok(w)
    }
}

impl<W: Write> Write for ParZstWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            if self.buf.len() == FRAME {
                self.dispatch()?;
            }
            let n = rest.len().min(FRAME - self.buf.len());
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads exactly `buf.len()` bytes; false if the stream ended before the first byte.
fn read_full(r: &mut dyn Read, buf: &mut [u8], what: &str) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(bad(format!("zstd stream truncated in {what}"))),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn read_must(r: &mut dyn Read, buf: &mut [u8], what: &str) -> io::Result<()> {
    if buf.is_empty() || read_full(r, buf, what)? {
        Ok(())
    } else {
        Err(bad(format!("zstd stream truncated in {what}")))
    }
}

/// What a frame header says (the bytes after the magic number).
struct FrameHeader {
    bytes: Vec<u8>,
    content_size: Option<u64>,
}

fn read_frame_header(r: &mut dyn Read, n: u64) -> io::Result<FrameHeader> {
    let what = format!("the header of frame {n}");
    let mut fhd = [0u8; 1];
    read_must(r, &mut fhd, &what)?;
    let d = fhd[0];
    let fcs_flag = d >> 6;
    let single = (d >> 5) & 1 == 1;
    if d & 0x08 != 0 {
        return Err(bad(format!("zstd frame {n}: reserved header bit set")));
    }
    if d & 0x04 == 0 {
        return Err(bad(format!(
            "zstd frame {n} has no content checksum: agar reads only checksummed frames (zstd writes them by default; do not pass --no-check)"
        )));
    }
    if d & 0x03 != 0 {
        return Err(bad(format!(
            "zstd frame {n} needs a dictionary: not an agar archive"
        )));
    }
    let fcs_len = match (fcs_flag, single) {
        (0, false) => 0,
        (0, true) => 1,
        (1, _) => 2,
        (2, _) => 4,
        _ => 8,
    };
    let wd_len = usize::from(!single);
    let mut rest = vec![0u8; wd_len + fcs_len];
    read_must(r, &mut rest, &what)?;
    let f = &rest[wd_len..];
    let content_size = match fcs_len {
        0 => None,
        1 => Some(f[0] as u64),
        2 => Some(u16::from_le_bytes([f[0], f[1]]) as u64 + 256),
        4 => Some(u32::from_le_bytes([f[0], f[1], f[2], f[3]]) as u64),
        _ => Some(u64::from_le_bytes(f.try_into().expect("8 bytes"))),
    };
    let mut bytes = MAGIC.to_vec();
    bytes.push(d);
    bytes.extend_from_slice(&rest);
    Ok(FrameHeader {
        bytes,
        content_size,
    })
}

/// Append the frame's blocks and checksum to `frame` (located from the block headers),
/// refusing to collect more than `cap` bytes.
fn collect_blocks(r: &mut dyn Read, frame: &mut Vec<u8>, cap: usize, n: u64) -> io::Result<()> {
    let what = format!("frame {n}");
    loop {
        let mut h = [0u8; 3];
        read_must(r, &mut h, &what)?;
        let v = u32::from_le_bytes([h[0], h[1], h[2], 0]);
        let last = v & 1 == 1;
        let size = match (v >> 1) & 3 {
            0 | 2 => (v >> 3) as usize,
            1 => 1,
            _ => return Err(bad(format!("zstd frame {n}: reserved block type"))),
        };
        if size > 128 << 10 {
            return Err(bad(format!(
                "zstd frame {n}: a block of {size} bytes (at most 128 KiB)"
            )));
        }
        if frame.len() + 3 + size + 4 > cap {
            return Err(bad(format!(
                "zstd frame {n} is larger than its content size allows"
            )));
        }
        frame.extend_from_slice(&h);
        let at = frame.len();
        frame.resize(at + size, 0);
        read_must(r, &mut frame[at..], &what)?;
        if last {
            let at = frame.len();
            frame.resize(at + 4, 0);
            return read_must(r, &mut frame[at..], &what);
        }
    }
}

fn decompress_frame(
    d: &mut zstd_safe::DCtx<'static>,
    (frame, size, n): (Vec<u8>, u64, u64),
) -> io::Result<Vec<u8>> {
    match zstd_safe::find_frame_compressed_size(&frame) {
        Ok(len) if len == frame.len() => {}
        _ => {
            return Err(bad(format!(
                "zstd frame {n} is corrupt (bad block structure)"
            )))
        }
    }
    let mut out: Vec<u8> = Vec::with_capacity(size as usize);
    let got = d
        .decompress(&mut out, &frame)
        .map_err(|c| zerr(&format!("zstd frame {n} is corrupt"), c))?;
    if got as u64 != size || out.len() as u64 != size {
        return Err(bad(format!(
            "zstd frame {n} decompressed to {got} bytes, its header says {size}"
        )));
    }
    Ok(out)
}

fn entry_bytes(csize: u64, dsize: u64) -> Option<[u8; 8]> {
    let c = u32::try_from(csize).ok()?;
    let d = u32::try_from(dsize).ok()?;
    let mut e = [0u8; 8];
    e[..4].copy_from_slice(&c.to_le_bytes());
    e[4..].copy_from_slice(&d.to_le_bytes());
    Some(e)
}

/// Counts the bytes read through it (the compressed position).
struct Counted<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(b)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Decompress a whole zstd stream (see the module docs for what is accepted), handing
/// the output over in order through `emit` (false: stop). Runs on the read-ahead thread.
pub fn decode(
    input: impl Read,
    threads: usize,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> io::Result<()> {
    let mut r = Counted {
        inner: input,
        pos: 0,
    };
    // jobs of up to MAX_PAR_FRAME each way: keep about 64 MiB in flight at most
    let in_flight = (threads * 2).clamp(2, (32 << 20) / FRAME);
    let mut pool = Ordered::new(
        threads,
        in_flight,
        zstd_safe::DCtx::create,
        decompress_frame,
    );
    let mut frames = 0u64;
    // (compressed, decompressed) sizes of the frames read, for the seek table check
    let mut entries = Sha256::new();
    let mut entries_ok = true;
    let mut stream_dctx: Option<zstd_safe::DCtx<'static>> = None;
    loop {
        let mut magic = [0u8; 4];
        let at = r.pos;
        if !read_full(&mut r, &mut magic, "a frame's magic number")? {
            if frames == 0 {
                return Err(bad("empty zstd stream (no frame)"));
            }
            break;
        }
        let m = u32::from_le_bytes(magic);
        if magic == MAGIC {
            let h = read_frame_header(&mut r, frames)?;
            match h.content_size {
                Some(size) if size <= MAX_PAR_FRAME => {
                    let mut frame = h.bytes;
                    let cap = zstd_safe::compress_bound(size as usize) + 64;
                    collect_blocks(&mut r, &mut frame, cap, frames)?;
                    let csize = frame.len() as u64;
                    while pool.is_full() {
                        let out = pool.take_next().expect("jobs in flight")?;
                        if !emit(out) {
                            return Ok(());
                        }
                    }
                    pool.submit((frame, size, frames))?;
                    match entry_bytes(csize, size) {
                        Some(e) => entries.update(e),
                        None => entries_ok = false,
                    }
                }
                _ => {
                    // a large or unsized frame: stream it here, after what is in flight
                    while let Some(out) = pool.take_next() {
                        if !emit(out?) {
                            return Ok(());
                        }
                    }
                    let d = match stream_dctx.as_mut() {
                        Some(d) => d,
                        None => {
                            let mut d = zstd_safe::DCtx::create();
                            d.set_parameter(zstd_safe::DParameter::WindowLogMax(WINDOW_LOG_MAX))
                                .map_err(|c| zerr("zstd", c))?;
                            stream_dctx.insert(d)
                        }
                    };
                    let (dsize, stop) = stream_frame(d, &h.bytes, &mut r, frames, emit)?;
                    if stop {
                        return Ok(());
                    }
                    match entry_bytes(r.pos - at, dsize) {
                        Some(e) => entries.update(e),
                        None => entries_ok = false,
                    }
                }
            }
            frames += 1;
        } else if m & 0xFFFF_FFF0 == 0x184D_2A50 {
            if m != SEEK_TABLE_MAGIC || frames == 0 {
                return Err(bad(format!(
                    "a skippable zstd frame at compressed byte {at}: agar writes only its seek table, after the last frame"
                )));
            }
            check_seek_table(&mut r, frames, &entries, entries_ok)?;
            break;
        } else {
            return Err(bad(format!(
                "not a zstd frame at compressed byte {at} (trailing junk, or corrupt data)"
            )));
        }
    }
    while let Some(out) = pool.take_next() {
        if !emit(out?) {
            return Ok(());
        }
    }
    Ok(())
}

/// After the last frame: agar's seek table, which must list exactly the `frames` frames
/// read (`entries`: their (compressed, decompressed) size entries, `entries_ok`: all
/// representable), and nothing after it.
fn check_seek_table(
    r: &mut Counted<impl Read>,
    frames: u64,
    entries: &Sha256,
    entries_ok: bool,
) -> io::Result<()> {
    let mut sz = [0u8; 4];
    read_must(r, &mut sz, "the seek table")?;
    let size = u32::from_le_bytes(sz) as u64;
    if !entries_ok || frames > MAX_FRAMES || size != frames * 8 + 9 {
        return Err(bad(format!(
            "the zstd seek table ({size} bytes) does not describe the {frames} frames before it"
        )));
    }
    let mut table = Sha256::new();
    let mut e = [0u8; 8];
    for _ in 0..frames {
        read_must(r, &mut e, "the seek table")?;
        table.update(e);
    }
    let mut foot = [0u8; 9];
    read_must(r, &mut foot, "the seek table")?;
    let listed = u32::from_le_bytes([foot[0], foot[1], foot[2], foot[3]]) as u64;
    let magic2 = u32::from_le_bytes([foot[5], foot[6], foot[7], foot[8]]);
    if magic2 != SEEKABLE_MAGIC || foot[4] != 0 || listed != frames {
        return Err(bad(
            "the zstd seek table footer is not agar's (frame count, descriptor 0, magic 0x8F92EAB1)",
        ));
    }
    if table.finalize() != entries.clone().finalize() {
        return Err(bad(
            "the zstd seek table does not match the frames' sizes (corrupt or altered)",
        ));
    }
    let mut probe = [0u8; 1];
    if read_full(r, &mut probe, "")? {
        return Err(bad(format!(
            "unexpected bytes after the zstd seek table (at compressed byte {})",
            r.pos - 1
        )));
    }
    Ok(())
}

/// Stream one frame whose header was read into `head`; returns (output bytes, stopped).
fn stream_frame(
    d: &mut zstd_safe::DCtx<'static>,
    head: &[u8],
    r: &mut Counted<impl Read>,
    n: u64,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> io::Result<(u64, bool)> {
    d.reset(zstd_safe::ResetDirective::SessionOnly)
        .map_err(|c| zerr("zstd", c))?;
    let mut inbuf = vec![0u8; (128 << 10) + 64];
    inbuf[..head.len()].copy_from_slice(head);
    let (mut lo, mut hi) = (0usize, head.len());
    let mut total = 0u64;
    let mut out = vec![0u8; 1 << 20];
    loop {
        let mut ib = zstd_safe::InBuffer::around(&inbuf[lo..hi]);
        let mut ob = zstd_safe::OutBuffer::around(&mut out[..]);
        let hint = d.decompress_stream(&mut ob, &mut ib).map_err(|c| {
            if zstd_safe::get_error_name(c).contains("memory") {
                bad(format!("zstd frame {n} needs a window larger than the 2^{WINDOW_LOG_MAX} bytes agar allows (written with zstd --long or --ultra?); recompress it with zstd -19 or lower"))
            } else {
                zerr(&format!("zstd frame {n} is corrupt"), c)
            }
        })?;
        lo += ib.pos();
        let produced = ob.pos();
        total += produced as u64;
        if produced > 0 && !emit(out[..produced].to_vec()) {
            return Ok((total, true));
        }
        if hint == 0 {
            // frame complete and flushed; we never read past its end
            return Ok((total, false));
        }
        if lo == hi {
            // read exactly what the decoder asks for, never beyond the frame's end
            let want = hint.min(inbuf.len());
            read_must(r, &mut inbuf[..want], &format!("frame {n}"))?;
            (lo, hi) = (0, want);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zst(data: &[u8], threads: usize) -> Vec<u8> {
        let mut w = ParZstWriter::new(Vec::new(), threads).unwrap();
        for part in data.chunks(77_777) {
            w.write_all(part).unwrap();
        }
        w.finish().unwrap()
    }

    fn unzst(b: &[u8], threads: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decode(b, threads, &mut |v| {
            out.extend_from_slice(&v);
            true
        })?;
        Ok(out)
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| ((i * 7919) % 251) as u8 ^ (i / 1000) as u8)
            .collect()
    }

    #[test]
    fn deterministic_across_thread_counts_and_read_by_libzstd() {
        for n in [0, 1, FRAME - 1, FRAME, FRAME + 1, 2 * FRAME + 5] {
            let data = sample(n);
            let a = zst(&data, 1);
            assert_eq!(a, zst(&data, 3), "n={n}");
            assert_eq!(&a[..4], &MAGIC);
            // the stock decoder (concatenated frames, skippable frame skipped)
            let mut out = Vec::new();
            zstd::stream::read::Decoder::new(&a[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "n={n}");
            for t in [1, 4] {
                assert_eq!(unzst(&a, t).unwrap(), data, "n={n}");
            }
        }
    }

    #[test]
    fn one_big_foreign_frame_streams_and_junk_is_refused() {
        let data = sample(3 * FRAME);
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        e.include_checksum(true).unwrap();
        e.write_all(&data).unwrap();
        let one = e.finish().unwrap();
        assert_eq!(unzst(&one, 2).unwrap(), data);
        // no checksum: refused
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        e.include_checksum(false).unwrap();
        e.write_all(b"abc").unwrap();
        let nock = e.finish().unwrap();
        assert!(unzst(&nock, 2)
            .unwrap_err()
            .to_string()
            .contains("no content checksum"));
        let good = zst(&sample(FRAME + 10), 2);
        let mut junk = good.clone();
        junk.push(0);
        assert!(unzst(&junk, 2).is_err());
        let mut two = good.clone();
        two.extend_from_slice(&good);
        assert!(unzst(&two, 2).is_err(), "frames after the seek table");
        for cut in [0, 3, 10, good.len() / 2, good.len() - 1] {
            assert!(unzst(&good[..cut], 2).is_err(), "cut {cut}");
        }
    }
}
