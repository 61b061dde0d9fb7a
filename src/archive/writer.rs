//! Writes a canonical archive to a file (atomically: temp file in the same directory,
//! fsync, rename) or to stdout, plain, gzip- or zstd-compressed, computing the archive
//! digest (SHA-256 of the uncompressed tar stream) on the way.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use sha2::{Digest, Sha256};

use super::gz::ParGzWriter;
use super::tar::TarWriter;
use super::zst::ParZstWriter;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip {
        level: u32,
        threads: usize,
    },
    /// Independent level-3 frames plus a seek table (see `archive::zst`).
    Zstd {
        threads: usize,
    },
}

impl Compression {
    /// From the output name: `.tar` plain, `.tar.gz`/`.tgz` gzip, `.tar.zst`/`.tzst` zstd.
    pub fn from_name(path: &Path, level: u32, threads: usize) -> Option<Compression> {
        // case-insensitive: OUT.TAR.GZ is as clear as out.tar.gz
        let s = path.to_string_lossy().to_ascii_lowercase();
        if s.ends_with(".tar.gz") || s.ends_with(".tgz") {
            Some(Compression::Gzip { level, threads })
        } else if s.ends_with(".tar.zst") || s.ends_with(".tzst") {
            Some(Compression::Zstd { threads })
        } else if s.ends_with(".tar") {
            Some(Compression::None)
        } else {
            None
        }
    }
}

enum Sink {
    Plain(BufWriter<Box<dyn Write>>),
    Gz(ParGzWriter<BufWriter<Box<dyn Write>>>),
    Zst(ParZstWriter<BufWriter<Box<dyn Write>>>),
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(b),
            Sink::Gz(w) => w.write(b),
            Sink::Zst(w) => w.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gz(w) => w.flush(),
            Sink::Zst(w) => w.flush(),
        }
    }
}

/// Hashes and counts everything written through it.
pub struct HashTee<W: Write> {
    inner: W,
    pub sha: Sha256,
    pub bytes: u64,
}

impl<W: Write> Write for HashTee<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(b)?;
        self.sha.update(&b[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub digest: String,
    pub tar_bytes: u64,
    pub file_bytes: u64,
    pub path: Option<PathBuf>,
}

pub struct ArchiveWriter {
    tar: TarWriter<HashTee<Sink>>,
    temp: Option<tempfile::NamedTempFile>,
    dest: Option<PathBuf>,
    loc: String,
    /// How far the output file is written, for a [`TailReader`] (None: stdout).
    tail: Option<Arc<Tail>>,
    /// The bytes at the start of the file change at the end (the gzip chunk index is
    /// patched in): no reader may follow the writing.
    patched: bool,
}

/// How many bytes of the output file are written, and whether the writer is done (or
/// gone: a failed write drops it), shared between the writer and [`TailReader`]s.
#[derive(Default)]
pub struct Tail {
    state: Mutex<(u64, bool)>,
    cv: Condvar,
}

impl Tail {
    fn update(&self, f: impl FnOnce(&mut (u64, bool))) {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g);
        self.cv.notify_all();
    }
}

/// The output file, telling its [`Tail`] about every byte written.
struct TailedFile {
    f: File,
    tail: Arc<Tail>,
    /// Bytes written so far.
    at: u64,
}

impl Write for TailedFile {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        // the test hook is absent from builds without the feature: no code, no branch
        #[cfg(feature = "test-hooks")]
        let flipped = flip_hook(self.at, b);
        #[cfg(feature = "test-hooks")]
        let b = flipped.as_deref().unwrap_or(b);
        let n = self.f.write(b)?;
        self.at += n as u64;
        self.tail.update(|s| s.0 += n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.f.flush()
    }
}

/// Test hook, compiled only with the `test-hooks` feature:
/// `AGAR_TEST_FLIP_OUTPUT_BYTE=<offset>` flips the output file's byte at that offset as
/// it is written (after the digest and member hashes were computed), as a failing disk or
/// a writer bug would: the read-back must refuse the archive.
#[cfg(feature = "test-hooks")]
fn flip_hook(at: u64, b: &[u8]) -> Option<Vec<u8>> {
    let off: u64 = std::env::var("AGAR_TEST_FLIP_OUTPUT_BYTE")
        .ok()?
        .parse()
        .ok()?;
    let i = usize::try_from(off.checked_sub(at)?).ok()?;
    let mut bad = b.get(i).map(|_| b.to_vec())?;
    bad[i] ^= 0x20;
    Some(bad)
}

impl Drop for TailedFile {
    fn drop(&mut self) {
        self.tail.update(|s| s.1 = true);
    }
}

/// Test hook, compiled only with the `test-hooks` feature: with
/// `AGAR_TEST_WRONG_DIGEST=1` the writer reports a digest other than the one of the
/// bytes it wrote (its last hex digit changed), as a hashing bug would: the read-back
/// must refuse the archive.
#[cfg(feature = "test-hooks")]
fn wrong_digest_hook(digest: String) -> String {
    if std::env::var_os("AGAR_TEST_WRONG_DIGEST").is_none() {
        return digest;
    }
    let mut d = digest;
    let last = if d.ends_with('0') { '1' } else { '0' };
    d.pop();
    d.push(last);
    d
}

/// Reads the output file while it is being written, waiting for the writer at the end
/// of what is written so far, so that the archive can be verified from the disk on
/// another core at the pace it is written (`agar pack`'s read-back). It ends where the
/// writer stopped: at the end of the archive, or wherever a failed write left it.
pub struct TailReader {
    f: File,
    pos: u64,
    tail: Arc<Tail>,
}

impl Read for TailReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.f.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.pos += n as u64;
                return Ok(n);
            }
            let mut g = self.tail.state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if g.0 > self.pos {
                    break;
                }
                if g.1 {
                    return Ok(0);
                }
                g = self.tail.cv.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        }
    }
}

/// Create a temp file next to `dest` (same filesystem, so the final rename is atomic).
pub fn temp_next_to(dest: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = dest
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // `.<name>.agar-tmp-<pid>-<random>`: removed on SIGINT/SIGTERM, and by a later run
    // once this process is gone (crate::cleanup)
    crate::cleanup::remove_stale(&dir, &base);
    let t = tempfile::Builder::new()
        .prefix(&format!(
            "{}{}-",
            crate::cleanup::temp_prefix(&base),
            std::process::id()
        ))
        // registered before it exists, so a signal never finds an unregistered temp file
        .make_in(&dir, |p| {
            crate::cleanup::register(p);
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(p)
                .inspect_err(|_| crate::cleanup::unregister(p))
        })
        .map_err(|e| Error::io(&dir, e))?;
    Ok(t)
}

impl ArchiveWriter {
    /// `dest` None writes to stdout.
    pub fn create(dest: Option<&Path>, compression: Compression) -> Result<ArchiveWriter> {
        Self::create_sized(dest, compression, None)
    }

    /// Like [`ArchiveWriter::create`], told the length of the tar stream to come: a
    /// `.tar.gz` file then carries agar's chunk index, which lets readers inflate it on
    /// every core (the writer fails if the stream has another length).
    pub fn create_sized(
        dest: Option<&Path>,
        compression: Compression,
        tar_bytes: Option<u64>,
    ) -> Result<ArchiveWriter> {
        let (out, temp, loc, tail): (Box<dyn Write>, _, String, _) = match dest {
            None => (Box::new(io::stdout()), None, "stdout".into(), None),
            Some(p) => {
                let t = temp_next_to(p)?;
                let f: File = t.reopen().map_err(|e| Error::io(t.path(), e))?;
                let tail = Arc::new(Tail::default());
                let f = TailedFile {
                    f,
                    tail: tail.clone(),
                    at: 0,
                };
                (Box::new(f), Some(t), p.display().to_string(), Some(tail))
            }
        };
        let mut patched = false;
        let buffered = BufWriter::with_capacity(1 << 20, out);
        let sink = match compression {
            Compression::None => Sink::Plain(buffered),
            Compression::Gzip { level, threads } => Sink::Gz(
                match tar_bytes.filter(|_| temp.is_some()) {
                    // the index is written in place at the end: a file only
                    Some(n) => {
                        patched = true;
                        ParGzWriter::with_index(buffered, level, threads, n)
                    }
                    None => ParGzWriter::new(buffered, level, threads),
                }
                .map_err(|e| Error::io(&loc, e))?,
            ),
            Compression::Zstd { threads } => {
                Sink::Zst(ParZstWriter::new(buffered, threads).map_err(|e| Error::io(&loc, e))?)
            }
        };
        Ok(ArchiveWriter {
            tar: TarWriter::new(HashTee {
                inner: sink,
                sha: Sha256::new(),
                bytes: 0,
            }),
            temp,
            dest: dest.map(|p| p.to_path_buf()),
            loc,
            tail,
            patched,
        })
    }

    /// A reader of the output file that follows the writing (see [`TailReader`]); None
    /// for stdout, and for a file whose first bytes are rewritten when it is finished (a
    /// `.tar.gz` with agar's chunk index), which can only be read back afterwards.
    pub fn tail_reader(&self) -> Result<Option<TailReader>> {
        match (&self.temp, &self.tail) {
            (Some(t), Some(tail)) if !self.patched => Ok(Some(TailReader {
                f: t.reopen().map_err(|e| Error::io(t.path(), e))?,
                pos: 0,
                tail: tail.clone(),
            })),
            _ => Ok(None),
        }
    }
}

/// A member's source that is shorter or longer than announced, or unreadable as data
/// (a corrupt gzip blob), is bad input (exit 3), not a failing disk (exit 2).
fn framing_error(context: String, e: std::io::Error) -> Error {
    if Error::is_bad_data(&e) {
        Error::invalid(context, e.to_string())
    } else {
        Error::io_at(context, e)
    }
}

impl ArchiveWriter {
    pub fn append(
        &mut self,
        name: &str,
        size: u64,
        data: &mut dyn Read,
        on_data: &mut dyn FnMut(&[u8]),
    ) -> Result<()> {
        self.tar
            .append(name, size, data, on_data)
            .map_err(|e| framing_error(format!("writing member {name} to {}", self.loc), e))
    }

    pub fn begin(&mut self, name: &str, size: u64) -> Result<()> {
        self.tar
            .begin(name, size)
            .map_err(|e| Error::io_at(format!("writing member {name} to {}", self.loc), e))
    }

    pub fn write_data(&mut self, data: &[u8]) -> Result<()> {
        self.tar
            .write_data(data)
            .map_err(|e| framing_error(format!("writing to {}", self.loc), e))
    }

    pub fn end(&mut self) -> Result<()> {
        self.tar
            .end()
            .map_err(|e| framing_error(format!("writing to {}", self.loc), e))
    }

    pub fn append_bytes(&mut self, name: &str, data: &[u8]) -> Result<()> {
        self.append(name, data.len() as u64, &mut &data[..], &mut |_| {})
    }

    /// Copy bytes that are already a framed tar stream (recompressing an archive).
    pub fn write_raw(&mut self, data: &[u8]) -> Result<()> {
        self.tar
            .get_mut()
            .write_all(data)
            .map_err(|e| Error::io_at(format!("writing to {}", self.loc), e))
    }

    /// Finish, make durable and move into place. On error nothing is left at `dest`.
    pub fn finish(self) -> Result<Written> {
        self.finish_pending()?.persist()
    }

    /// Finish and make the temp file durable, but do not move it into place yet: the
    /// caller can re-read [`Pending::temp_path`] (e.g. verify it) and then
    /// [`Pending::persist`] it, or drop the `Pending` to discard it.
    pub fn finish_pending(self) -> Result<Pending> {
        self.finish_pending_with(true)
    }

    /// Like [`ArchiveWriter::finish_pending`] after [`ArchiveWriter::write_raw`] copied a
    /// whole tar stream, end-of-archive marker included.
    pub fn finish_raw_pending(self) -> Result<Pending> {
        self.finish_pending_with(false)
    }

    fn finish_pending_with(self, end_marker: bool) -> Result<Pending> {
        let loc = self.loc.clone();
        let tee = if end_marker {
            self.tar.finish().map_err(|e| Error::io(&loc, e))?
        } else {
            self.tar.into_inner()
        };
        let digest = hex::encode(tee.sha.finalize());
        #[cfg(feature = "test-hooks")]
        let digest = wrong_digest_hook(digest);
        let tar_bytes = tee.bytes;
        let mut patch = None;
        let mut buffered = match tee.inner {
            Sink::Plain(w) => w,
            Sink::Gz(g) => {
                let (w, p) = g.finish_indexed().map_err(|e| Error::io(&loc, e))?;
                patch = p;
                w
            }
            Sink::Zst(z) => z.finish().map_err(|e| Error::io(&loc, e))?,
        };
        buffered.flush().map_err(|e| Error::io(&loc, e))?;
        drop(buffered);
        let mut file_bytes = tar_bytes;
        if let (Some(t), Some((at, bytes))) = (&self.temp, patch) {
            use std::os::unix::fs::FileExt;
            t.as_file()
                .write_all_at(&bytes, at)
                .map_err(|e| Error::io(t.path(), e))?;
        }
        if let Some(t) = &self.temp {
            // tempfile creates 0600; an archive is meant to be shared
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o644))
                    .map_err(|e| Error::io(t.path(), e))?;
            }
            t.as_file().sync_all().map_err(|e| Error::io(t.path(), e))?;
            file_bytes = t
                .as_file()
                .metadata()
                .map_err(|e| Error::io(t.path(), e))?
                .len();
        }
        Ok(Pending {
            written: Written {
                digest,
                tar_bytes,
                file_bytes,
                path: self.dest.clone(),
            },
            temp: self.temp,
            dest: self.dest,
        })
    }
}

/// A finished, durable archive still in its temp file (dropping it removes the file).
pub struct Pending {
    pub written: Written,
    temp: Option<tempfile::NamedTempFile>,
    dest: Option<PathBuf>,
}

impl Pending {
    /// Where the finished bytes are now (None when writing to stdout).
    pub fn temp_path(&self) -> Option<&Path> {
        self.temp.as_ref().map(|t| t.path())
    }

    /// Move the temp file into place (atomic rename) and sync the directory.
    pub fn persist(self) -> Result<Written> {
        if let (Some(t), Some(dest)) = (self.temp, self.dest.as_ref()) {
            let temp = t.path().to_path_buf();
            t.persist(dest).map_err(|e| Error::io(dest, e.error))?;
            crate::cleanup::unregister(&temp);
            if let Some(dir) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
        }
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::member_tar_bytes;
    use crate::archive::tar::BLOCK;

    fn members() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            (
                "genesis.json",
                (0..3000u32).map(|i| (i * 7 % 251) as u8).collect(),
            ),
            ("empty", Vec::new()),
            ("swing-store/x", b"xyz".to_vec()),
        ]
    }

    fn tar_len() -> u64 {
        let m: u64 = members()
            .iter()
            .map(|(n, d)| member_tar_bytes(n, d.len() as u64).unwrap())
            .sum();
        m + 2 * BLOCK as u64
    }

    /// Write [`members`] three ways (append, begin/write_data/end, append_bytes).
    fn write_members(w: &mut ArchiveWriter) {
        let ms = members();
        w.append(
            ms[0].0,
            ms[0].1.len() as u64,
            &mut &ms[0].1[..],
            &mut |_| {},
        )
        .unwrap();
        w.begin(ms[1].0, 0).unwrap();
        w.write_data(&[]).unwrap();
        w.end().unwrap();
        w.append_bytes(ms[2].0, &ms[2].1).unwrap();
    }

    fn decompress(file: &[u8], c: Compression) -> Vec<u8> {
        match c {
            Compression::None => file.to_vec(),
            Compression::Gzip { .. } => {
                let mut out = Vec::new();
                flate2::read::MultiGzDecoder::new(file)
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            Compression::Zstd { .. } => zstd::stream::decode_all(file).unwrap(),
        }
    }

    /// The tar stream read by the `tar` crate: every member's name and bytes.
    fn entries(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut a = ::tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (name, data)
            })
            .collect()
    }

    const KINDS: [Compression; 3] = [
        Compression::None,
        Compression::Gzip {
            level: 6,
            threads: 2,
        },
        Compression::Zstd { threads: 2 },
    ];

    /// Each output kind, sized (a `.tar.gz` then carries its chunk index) or not, written
    /// to `dir/out.tar` by `f`, which is removed afterwards.
    fn each_kind(dir: &Path, mut f: impl FnMut(Compression, bool, &Path, ArchiveWriter)) {
        for c in KINDS {
            for sized in [false, true] {
                let dest = dir.join("out.tar");
                let w = ArchiveWriter::create_sized(Some(&dest), c, sized.then(tar_len)).unwrap();
                f(c, sized, &dest, w);
                let _ = std::fs::remove_file(&dest);
            }
        }
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn an_archive_is_written_compressed_hashed_and_moved_into_place() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        each_kind(dir.path(), |c, _, dest, mut w| {
            write_members(&mut w);
            let written = w.finish().unwrap();
            assert_eq!(listing(dir.path()), ["out.tar"], "{c:?}: no temp file left");
            let file = std::fs::read(dest).unwrap();
            let meta = std::fs::metadata(dest).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o644);
            let tar = decompress(&file, c);
            assert_eq!(written.path.as_deref(), Some(dest));
            assert_eq!(written.file_bytes, file.len() as u64, "{c:?}");
            assert_eq!(written.tar_bytes, tar.len() as u64, "{c:?}");
            assert_eq!(tar.len() as u64, tar_len());
            assert_eq!(written.digest, Sha256Digest::of(&tar).hex(), "{c:?}");
            let want: Vec<(String, Vec<u8>)> = members()
                .into_iter()
                .map(|(n, d)| (n.to_string(), d))
                .collect();
            assert_eq!(entries(&tar), want, "{c:?}");
            assert!(tar[tar.len() - 2 * BLOCK..].iter().all(|&b| b == 0));
            if c != Compression::None {
                assert_ne!(file, tar);
            }
        });
    }

    use crate::archive::Sha256Digest;

    #[test]
    fn a_pending_archive_is_in_its_temp_file_until_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.tar");
        std::fs::write(&dest, b"previous").unwrap();
        for keep in [false, true] {
            let mut w = ArchiveWriter::create(Some(&dest), Compression::None).unwrap();
            write_members(&mut w);
            let p = w.finish_pending().unwrap();
            let temp = p.temp_path().unwrap().to_path_buf();
            assert_eq!(temp.parent(), Some(dir.path()));
            let name = temp.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.starts_with(&format!(".out.tar.agar-tmp-{}-", std::process::id())),
                "{name}"
            );
            let bytes = std::fs::read(&temp).unwrap();
            assert_eq!(p.written.digest, Sha256Digest::of(&bytes).hex());
            // the previous output is untouched until then
            assert_eq!(std::fs::read(&dest).unwrap(), b"previous");
            if keep {
                let written = p.persist().unwrap();
                assert_eq!(written.path.as_deref(), Some(dest.as_path()));
                assert_eq!(std::fs::read(&dest).unwrap(), bytes);
            } else {
                drop(p);
                assert_eq!(std::fs::read(&dest).unwrap(), b"previous");
            }
            assert_eq!(listing(dir.path()), ["out.tar"], "keep {keep}");
        }
    }

    #[test]
    fn a_raw_tar_stream_is_copied_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("a.tar");
        let mut w = ArchiveWriter::create(Some(&first), Compression::None).unwrap();
        write_members(&mut w);
        let a = w.finish().unwrap();
        let tar = std::fs::read(&first).unwrap();
        let second = dir.path().join("b.tar.zst");
        let mut w = ArchiveWriter::create(Some(&second), Compression::Zstd { threads: 1 }).unwrap();
        w.write_raw(&tar[..100]).unwrap();
        w.write_raw(&tar[100..]).unwrap();
        let p = w.finish_raw_pending().unwrap();
        assert_eq!(
            (p.written.digest.as_str(), p.written.tar_bytes),
            (a.digest.as_str(), a.tar_bytes)
        );
        p.persist().unwrap();
        let z = std::fs::read(&second).unwrap();
        assert_eq!(decompress(&z, Compression::Zstd { threads: 1 }), tar);
    }

    #[test]
    fn a_tail_reader_follows_the_writing_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        each_kind(dir.path(), |c, sized, dest, mut w| {
            let patched = sized && matches!(c, Compression::Gzip { .. });
            let Some(mut r) = w.tail_reader().unwrap() else {
                assert!(
                    patched,
                    "{c:?} sized {sized}: only an indexed .tar.gz is not followed"
                );
                return;
            };
            assert!(!patched, "an indexed .tar.gz is rewritten at its start");
            // an empty read does not wait for the writer
            assert_eq!(r.read(&mut []).unwrap(), 0);
            let reader = std::thread::spawn(move || {
                let mut got = Vec::new();
                let mut buf = [0u8; 1000];
                loop {
                    let n = r.read(&mut buf).unwrap();
                    if n == 0 {
                        return got;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            });
            write_members(&mut w);
            w.finish().unwrap();
            let got = reader.join().unwrap();
            assert_eq!(got, std::fs::read(dest).unwrap(), "{c:?}");
        });
        // stdout is not followed
        let w = ArchiveWriter::create(None, Compression::None).unwrap();
        assert!(w.tail_reader().unwrap().is_none());
        drop(w);
    }

    #[test]
    fn a_tail_reader_ends_where_an_abandoned_writer_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.tar");
        let mut w = ArchiveWriter::create(Some(&dest), Compression::None).unwrap();
        let mut r = w.tail_reader().unwrap().unwrap();
        w.append_bytes("a", b"abc").unwrap();
        // a failed run drops the writer: its buffer reaches the file, then the reader ends
        drop(w);
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), 2 * BLOCK);
        assert_eq!(&got[BLOCK..BLOCK + 3], b"abc");
        assert!(!dest.exists());
    }

    /// A source that fails with `kind` after `ok` bytes.
    struct Failing(usize, io::ErrorKind);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(self.1, "the source failed"));
            }
            let n = self.0.min(buf.len());
            buf[..n].fill(b'x');
            self.0 -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_source_shorter_than_announced_is_bad_input_and_a_failing_one_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.tar");
        let loc = dest.display().to_string();
        for (kind, exit) in [
            (io::ErrorKind::UnexpectedEof, crate::error::exit::BAD_INPUT),
            (io::ErrorKind::InvalidData, crate::error::exit::BAD_INPUT),
            (io::ErrorKind::PermissionDenied, crate::error::exit::USAGE),
        ] {
            let mut w = ArchiveWriter::create(Some(&dest), Compression::None).unwrap();
            let e = w
                .append("m", 10, &mut Failing(4, kind), &mut |_| {})
                .unwrap_err();
            assert_eq!(e.exit_code(), exit, "{kind:?}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("writing member m to {loc}: ")),
                "{e}"
            );
            drop(w);
            // write_data past the announced size is refused too
            let mut w = ArchiveWriter::create(Some(&dest), Compression::None).unwrap();
            w.begin("n", 1).unwrap();
            let e = w.write_data(b"ab").unwrap_err();
            assert!(
                e.to_string().starts_with(&format!("writing to {loc}: ")),
                "{e}"
            );
            drop(w);
            assert_eq!(listing(dir.path()), Vec::<String>::new());
        }
        // end() of a member short of its size
        let mut w = ArchiveWriter::create(Some(&dest), Compression::None).unwrap();
        w.begin("n", 2).unwrap();
        w.write_data(b"a").unwrap();
        let e = w.end().unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT, "{e}");
        // begin() while a member is open: a bug of the caller, an I/O error
        let mut w = ArchiveWriter::create(Some(&dest), Compression::None).unwrap();
        w.begin("n", 1).unwrap();
        let e = w.begin("o", 0).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::USAGE, "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("writing member o to {loc}: ")),
            "{e}"
        );
    }

    #[test]
    fn the_compression_follows_the_output_name() {
        for (name, want) in [
            ("a.tar", Some(Compression::None)),
            ("A.TAR", Some(Compression::None)),
            (
                "a.tar.gz",
                Some(Compression::Gzip {
                    level: 9,
                    threads: 3,
                }),
            ),
            (
                "a.TGZ",
                Some(Compression::Gzip {
                    level: 9,
                    threads: 3,
                }),
            ),
            ("a.tar.zst", Some(Compression::Zstd { threads: 3 })),
            ("d/a.tzst", Some(Compression::Zstd { threads: 3 })),
            ("a.gz", None),
            ("a.zst", None),
            ("a.tar.xz", None),
            ("tar", None),
        ] {
            assert_eq!(
                Compression::from_name(Path::new(name), 9, 3),
                want,
                "{name}"
            );
        }
    }
}
