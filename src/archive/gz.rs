//! Deterministic parallel gzip, and a strict single-member gzip reader.
//!
//! Writer: the input is cut at fixed 1 MiB offsets; each chunk is deflated on its own
//! (fresh compressor, no shared window) and ends with a sync flush, the last one with a
//! final block. Concatenated, the chunks form one valid deflate stream. Since a chunk's
//! output depends only on its bytes and the level, the file is identical whatever the
//! number of threads. Header: `1f 8b 08 00 00000000 00 ff` (no name, mtime 0, OS 255).

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc;
use std::thread;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

pub const CHUNK: usize = 1 << 20;
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff];

fn deflate_chunk(level: u32, data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        let consumed = c.total_in() as usize;
        if out.capacity() - out.len() < 64 * 1024 {
            out.reserve(256 * 1024);
        }
        let st = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
        let done_input = c.total_in() as usize == data.len();
        match st {
            Status::StreamEnd => break,
            _ if done_input && !last && out.capacity() > out.len() => break,
            _ => {}
        }
    }
    Ok(out)
}

type Job = (u64, Vec<u8>, bool);
type Done = (u64, io::Result<Vec<u8>>);

/// A `Write` that gzips in parallel on `threads` worker threads.
pub struct ParGzWriter<W: Write> {
    inner: Option<W>,
    level: u32,
    buf: Vec<u8>,
    crc: Crc,
    next_seq: u64,
    next_write: u64,
    pending: BTreeMap<u64, Vec<u8>>,
    in_flight: usize,
    max_in_flight: usize,
    jobs: Option<mpsc::Sender<Job>>,
    done: mpsc::Receiver<Done>,
    workers: Vec<thread::JoinHandle<()>>,
    /// Compressed bytes written so far.
    pub compressed: u64,
}

impl<W: Write> ParGzWriter<W> {
    pub fn new(inner: W, level: u32, threads: usize) -> io::Result<Self> {
        Self::with_os(inner, level, threads, GZIP_HEADER[9])
    }

    /// Like [`ParGzWriter::new`], with another OS byte in the header (3 = Unix, as Node's
    /// zlib writes it).
    pub fn with_os(mut inner: W, level: u32, threads: usize, os: u8) -> io::Result<Self> {
        let mut header = GZIP_HEADER;
        header[9] = os;
        inner.write_all(&header)?;
        let threads = threads.max(1);
        let (jtx, jrx) = mpsc::channel::<Job>();
        let jrx = std::sync::Arc::new(std::sync::Mutex::new(jrx));
        let (dtx, drx) = mpsc::channel::<Done>();
        let workers = (0..threads)
            .map(|_| {
                let jrx = jrx.clone();
                let dtx = dtx.clone();
                thread::spawn(move || loop {
                    let job = match jrx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, data, last)) = job else { return };
                    if dtx.send((seq, deflate_chunk(level, &data, last))).is_err() {
                        return;
                    }
                })
            })
            .collect();
        Ok(ParGzWriter {
            inner: Some(inner),
            level,
            buf: Vec::with_capacity(CHUNK),
            crc: Crc::new(),
            next_seq: 0,
            next_write: 0,
            pending: BTreeMap::new(),
            in_flight: 0,
            max_in_flight: threads * 2,
            jobs: Some(jtx),
            done: drx,
            workers,
            compressed: GZIP_HEADER.len() as u64,
        })
    }

    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        while self.in_flight >= self.max_in_flight {
            self.collect_one()?;
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight += 1;
        if let Some(j) = &self.jobs {
            j.send((seq, data, last))
                .map_err(|_| io::Error::other("gzip worker stopped"))?;
        }
        let _ = self.level;
        Ok(())
    }

    fn collect_one(&mut self) -> io::Result<()> {
        let (seq, res) = self
            .done
            .recv()
            .map_err(|_| io::Error::other("gzip worker stopped"))?;
        self.in_flight -= 1;
        self.pending.insert(seq, res?);
        while let Some(out) = self.pending.remove(&self.next_write) {
            if let Some(w) = self.inner.as_mut() {
                w.write_all(&out)?;
            }
            self.compressed += out.len() as u64;
            self.next_write += 1;
        }
        Ok(())
    }

    /// Finish the stream (final chunk, CRC and size trailer) and return the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        while self.in_flight > 0 {
            self.collect_one()?;
        }
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        let mut inner = self
            .inner
            .take()
            .ok_or_else(|| io::Error::other("gzip writer already finished"))?;
        inner.write_all(&self.crc.sum().to_le_bytes())?;
        inner.write_all(&self.crc.amount().to_le_bytes())?;
        self.compressed += 8;
        Ok(inner)
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

impl<W: Write> Drop for ParGzWriter<W> {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
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

impl<R: BufRead> StrictGzReader<R> {
    pub fn new(mut r: R) -> io::Result<Self> {
        let mut h = [0u8; 10];
        read_exact_or(&mut r, &mut h, "header")?;
        if h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 {
            return Err(bad("not a gzip (deflate) stream"));
        }
        let flags = h[3];
        if flags & 0xe0 != 0 {
            return Err(bad("gzip header has reserved flag bits set"));
        }
        if flags & 0x04 != 0 {
            let mut x = [0u8; 2];
            read_exact_or(&mut r, &mut x, "header")?;
            let mut skip = vec![0u8; u16::from_le_bytes(x) as usize];
            read_exact_or(&mut r, &mut skip, "header")?;
        }
        for bit in [0x08u8, 0x10] {
            if flags & bit != 0 {
                let mut n = 0;
                loop {
                    let mut b = [0u8; 1];
                    read_exact_or(&mut r, &mut b, "header")?;
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
            read_exact_or(&mut r, &mut x, "header")?;
        }
        Ok(StrictGzReader {
            inner: Some(flate2::bufread::DeflateDecoder::new(r)),
            crc: Crc::new(),
            done: false,
        })
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
