//! Read-ahead on a second thread: decompression (and file reads) overlap with the
//! hashing and checking the consumer does, using both cores for `verify` and `explode`.
//! And its mirror, [`HashBehind`]: SHA-256 and the writes of a producer's output on a
//! second thread (pack's genesis canonicaliser keeps one core busy parsing).

use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

const BLOCK: usize = 1 << 20;
const DEPTH: usize = 4;

pub struct ReadAhead {
    rx: Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
    handle: Option<JoinHandle<()>>,
    /// With [`ReadAhead::hashing`]: the SHA-256 of the whole stream, sent by the thread
    /// just before the end (so it is there once a read has returned 0).
    digest_rx: Option<Receiver<[u8; 32]>>,
    digest: Option<[u8; 32]>,
}

impl ReadAhead {
    pub fn new(inner: Box<dyn Read + Send>) -> ReadAhead {
        Self::from_blocks(blocks_of(inner))
    }

    /// Run `produce` on its own thread: it hands over the stream in order as blocks
    /// through `emit` (false: the consumer is gone, stop) and returns at the end of the
    /// stream, or with the error that ends it. At most `DEPTH` blocks wait in between.
    pub fn from_blocks<P>(produce: P) -> ReadAhead
    where
        P: FnOnce(&mut dyn FnMut(Vec<u8>) -> bool) -> io::Result<()> + Send + 'static,
    {
        Self::spawn(produce, false)
    }

    /// [`ReadAhead::from_blocks`]; with `hash`, the thread also hashes the stream (the
    /// reader's archive digest: one SHA-256 pass taken off the thread that checks the
    /// members), available from [`ReadAhead::digest`] once a read has returned 0.
    pub fn spawn<P>(produce: P, hash: bool) -> ReadAhead
    where
        P: FnOnce(&mut dyn FnMut(Vec<u8>) -> bool) -> io::Result<()> + Send + 'static,
    {
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
        let (dtx, digest_rx) = match hash {
            true => {
                let (a, b) = sync_channel::<[u8; 32]>(1);
                (Some(a), Some(b))
            }
            false => (None, None),
        };
        let handle = std::thread::spawn(move || {
            let mut sha = dtx.is_some().then(<sha2::Sha256 as sha2::Digest>::new);
            // a producer's block may be bigger than BLOCK (a zstd frame is 4 MiB): pass it
            // on in BLOCK-sized pieces, so that the queue holds DEPTH x BLOCK bytes at most
            let mut emit = |b: Vec<u8>| {
                if let Some(s) = &mut sha {
                    sha2::Digest::update(s, &b);
                }
                if b.len() <= BLOCK {
                    return b.is_empty() || tx.send(Ok(b)).is_ok();
                }
                b.chunks(BLOCK).all(|p| tx.send(Ok(p.to_vec())).is_ok())
            };
            let end = match produce(&mut emit) {
                Ok(()) => Ok(Vec::new()),
                Err(e) => Err(e),
            };
            if let (true, Some(s), Some(d)) = (end.is_ok(), sha, dtx) {
                let _ = d.send(sha2::Digest::finalize(s).into());
            }
            let _ = tx.send(end);
        });
        ReadAhead {
            rx,
            cur: Vec::new(),
            pos: 0,
            done: false,
            handle: Some(handle),
            digest_rx,
            digest: None,
        }
    }

    /// The SHA-256 of the whole stream (spawned with `hash`), once a read
    /// has returned 0; None before, or without hashing.
    pub fn digest(&self) -> Option<[u8; 32]> {
        self.digest
    }
}

/// A reader as a block producer for [`ReadAhead::from_blocks`]: whole `BLOCK`s, so the
/// consumer sees few, large chunks.
pub fn blocks_of(
    mut inner: Box<dyn Read + Send>,
) -> impl FnOnce(&mut dyn FnMut(Vec<u8>) -> bool) -> io::Result<()> + Send + 'static {
    move |emit| loop {
        let mut buf = vec![0u8; BLOCK];
        let mut filled = 0;
        // fill whole blocks so the consumer sees few, large chunks
        let res = loop {
            match inner.read(&mut buf[filled..]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    filled += n;
                    if filled == BLOCK {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        buf.truncate(filled);
        match res {
            Err(e) => return Err(e),
            Ok(()) if filled == 0 => return Ok(()),
            Ok(()) => {
                if !emit(buf) {
                    return Ok(());
                }
            }
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(b)) if b.is_empty() => {
                    self.done = true;
                    self.digest = self.digest_rx.as_ref().and_then(|d| d.try_recv().ok());
                }
                Ok(Ok(b)) => {
                    self.cur = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Err(io::Error::other("the decompression thread stopped"));
                }
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // unblock the producer: drop our receiver by replacing it, then join
        let (_tx, rx) = sync_channel(1);
        drop(std::mem::replace(&mut self.rx, rx));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A writer that hands what it is given, in blocks of at most `BLOCK` bytes, to a second
/// thread that hashes it (SHA-256) and writes it to `W`. At most `DEPTH` blocks wait in
/// between; blocks are recycled. [`HashBehind::finish`] returns `W` and the hex digest.
pub struct HashBehind<W> {
    tx: Option<SyncSender<Vec<u8>>>,
    back: Receiver<Vec<u8>>,
    handle: Option<JoinHandle<io::Result<(W, String)>>>,
}

impl<W: Write + Send + 'static> HashBehind<W> {
    pub fn new(mut w: W) -> HashBehind<W> {
        let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
        let (back_tx, back) = sync_channel::<Vec<u8>>(DEPTH + 2);
        let handle = std::thread::spawn(move || {
            let mut sha = <sha2::Sha256 as sha2::Digest>::new();
            for b in rx {
                sha2::Digest::update(&mut sha, &b);
                w.write_all(&b)?;
                let _ = back_tx.try_send(b);
            }
            w.flush()?;
            Ok((w, hex::encode(sha2::Digest::finalize(sha))))
        });
        HashBehind {
            tx: Some(tx),
            back,
            handle: Some(handle),
        }
    }

    /// Wait for the second thread: `W` (flushed) and the SHA-256 (hex) of all bytes.
    pub fn finish(mut self) -> io::Result<(W, String)> {
        self.tx = None;
        self.join()
    }

    fn join(&mut self) -> io::Result<(W, String)> {
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the hashing thread panicked")),
            None => Err(io::Error::other("the hashing thread already stopped")),
        }
    }
}

impl<W: Write + Send + 'static> Write for HashBehind<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = b.len().min(BLOCK);
        let mut v = self.back.try_recv().unwrap_or_default();
        v.clear();
        v.extend_from_slice(&b[..n]);
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(v).is_ok());
        if !sent {
            // the thread stopped at a write error: that error is the answer
            self.tx = None;
            return Err(match self.join() {
                Err(e) => e,
                Ok(_) => io::Error::other("the hashing thread stopped"),
            });
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W> Drop for HashBehind<W> {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_bytes_and_errors_through() {
        let data: Vec<u8> = (0..3 * BLOCK + 17).map(|i| (i % 251) as u8).collect();
        let mut r = ReadAhead::new(Box::new(io::Cursor::new(data.clone())));
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("boom"));
                }
                let n = b.len().min(self.0);
                self.0 -= n;
                Ok(n)
            }
        }
        let mut r = ReadAhead::new(Box::new(Failing(10)));
        let mut out = Vec::new();
        assert!(r
            .read_to_end(&mut out)
            .unwrap_err()
            .to_string()
            .contains("boom"));
        // dropping early does not hang
        let r = ReadAhead::new(Box::new(io::repeat(1)));
        drop(r);
    }

    #[test]
    fn hash_behind_writes_and_hashes_everything_and_reports_write_errors() {
        let data: Vec<u8> = (0..3 * BLOCK + 17).map(|i| (i % 251) as u8).collect();
        let mut w = HashBehind::new(Vec::new());
        w.write_all(&data[..10]).unwrap();
        w.write_all(&data[10..]).unwrap();
        let (out, sha) = w.finish().unwrap();
        assert_eq!(out, data);
        assert_eq!(
            sha,
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data))
        );
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = HashBehind::new(Full);
        let mut r = Ok(());
        for _ in 0..2 * DEPTH + 4 {
            r = w.write_all(&data[..BLOCK]);
            if r.is_err() {
                break;
            }
        }
        let e = r.err().or_else(|| w.finish().err()).expect("an error");
        assert_eq!(e.to_string(), "disk full");
    }

    #[test]
    fn a_hashing_read_ahead_gives_the_stream_digest_only_at_its_end() {
        let data: Vec<u8> = (0..2 * BLOCK + 5).map(|i| (i % 253) as u8).collect();
        let mut r = ReadAhead::spawn(blocks_of(Box::new(io::Cursor::new(data.clone()))), true);
        let mut head = vec![0u8; 10];
        r.read_exact(&mut head).unwrap();
        assert_eq!(r.digest(), None, "not before the end");
        let mut out = head;
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let want: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&data).into();
        assert_eq!(r.digest(), Some(want));
        // a stream that fails has no digest; one read without hashing neither
        let mut r = ReadAhead::spawn(
            |emit| {
                emit(vec![1, 2, 3]);
                Err(io::Error::other("cut"))
            },
            true,
        );
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
        assert_eq!(r.digest(), None);
        let mut r = ReadAhead::new(Box::new(io::Cursor::new(data)));
        r.read_to_end(&mut Vec::new()).unwrap();
        assert_eq!(r.digest(), None);
    }

    /// The blocks a read-ahead queues, as the consumer would receive them.
    fn queued(r: &ReadAhead) -> Vec<usize> {
        let mut sizes = Vec::new();
        while let Ok(Ok(b)) = r.rx.recv() {
            if b.is_empty() {
                break;
            }
            sizes.push(b.len());
        }
        sizes
    }

    #[test]
    fn the_queue_holds_whole_blocks_of_at_most_block_bytes() {
        // a producer's 3 MiB + 5 block is passed on in BLOCK pieces (the queue's depth
        // bounds bytes, not frames); small blocks go as they are, empty ones not at all
        let r = ReadAhead::from_blocks(|emit| {
            emit(vec![7; 3 * BLOCK + 5]);
            emit(Vec::new());
            emit(vec![8; 10]);
            Ok(())
        });
        assert_eq!(queued(&r), [BLOCK, BLOCK, BLOCK, 5, 10]);
        // a reader that gives 1000 bytes at a time, and is interrupted now and then, is
        // read into whole blocks
        struct Dribble(usize, u32);
        impl Read for Dribble {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                self.1 += 1;
                if self.1.is_multiple_of(7) {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let n = b.len().min(self.0).min(1000);
                self.0 -= n;
                Ok(n)
            }
        }
        let r = ReadAhead::new(Box::new(Dribble(2 * BLOCK + 3, 0)));
        assert_eq!(queued(&r), [BLOCK, BLOCK, 3]);
    }

    #[test]
    fn hash_behind_takes_a_large_write_a_block_at_a_time() {
        // one write of 2.5 blocks is taken a block at a time
        let mut w = HashBehind::new(Vec::new());
        let data = vec![3u8; 2 * BLOCK + BLOCK / 2];
        assert_eq!(w.write(&data).unwrap(), BLOCK);
        w.write_all(&data).unwrap();
        let (out, _) = w.finish().unwrap();
        assert_eq!(out.len(), BLOCK + data.len());
    }

    #[test]
    fn dropping_a_read_ahead_stops_and_joins_its_producer() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let stopped = Arc::new(AtomicBool::new(false));
        let s = stopped.clone();
        let mut r = ReadAhead::from_blocks(move |emit| {
            while emit(vec![1; 10]) {}
            // a producer that takes a while to wind down (a file to close, a frame to
            // finish): drop must wait for it
            std::thread::sleep(std::time::Duration::from_millis(50));
            s.store(true, Ordering::SeqCst);
            Ok(())
        });
        r.read_exact(&mut [0u8; 5]).unwrap();
        drop(r);
        // the producer saw the consumer go and has returned: nothing runs on behind it
        assert!(stopped.load(Ordering::SeqCst));
    }

    #[test]
    fn dropping_a_hash_behind_writes_what_it_was_given_before_returning() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone)]
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                std::thread::yield_now();
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let seen = Shared(Arc::new(Mutex::new(Vec::new())));
        let mut w = HashBehind::new(seen.clone());
        for _ in 0..DEPTH + 2 {
            w.write_all(&[5u8; 1000]).unwrap();
        }
        drop(w);
        assert_eq!(seen.0.lock().unwrap().len(), 1000 * (DEPTH + 2));
    }
}
