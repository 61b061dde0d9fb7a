//! The closed-world archive reader. It accepts exactly what `pack` writes: the members
//! the archive manifest announces, in its order, with the canonical headers, sizes and
//! digests, canonical genesis and export data, every artifact matching its export-data
//! record, a two-block end-of-archive and nothing after it. Every reading command goes
//! through it, so every command verifies what it reads.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::decode::Format;
use super::pipe::ReadAhead;
use super::tar::{describe_header_difference, member_header, padding, ustar_header, BLOCK};
use super::*;
use crate::error::{bail, Error, Result};
use crate::genesis::{CanonicalGenesis, Genesis};
use crate::gojson::{self, Entry};
use crate::hashes::ArtifactChecker;
use crate::model::{kv_key_problem, ArtifactName, Family, Metadata};
use crate::progress::Progress;

/// Largest export-data line accepted (also capped by the member's size): the longest
/// line an entry within the key and value limits can encode to.
pub const MAX_LINE_BYTES: u64 = crate::model::MAX_LINE_BYTES as u64;

/// Counts every byte of the uncompressed tar stream (its read-ahead thread hashes it).
struct Stream {
    inner: ReadAhead,
    pos: u64,
    progress: Progress,
}

impl Stream {
    fn read_exact_at(&mut self, buf: &mut [u8], what: &dyn Fn() -> String) -> Result<()> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => {
                    return bail(
                        what(),
                        format!(
                            "archive is truncated (ends at uncompressed byte {})",
                            self.pos + got as u64
                        ),
                    )
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_error(what(), e)),
            }
        }
        self.pos += buf.len() as u64;
        self.progress.inc(buf.len() as u64);
        Ok(())
    }
}

/// The genesis member's content as a reader: hashes it, copies it when asked, and keeps
/// the reader's own error (truncation, ...) so it keeps its type.
struct MemberRead<'a> {
    stream: &'a mut Stream,
    loc: String,
    left: u64,
    sha: Sha256,
    copy: Option<BufWriter<File>>,
    err: Option<Error>,
}

impl Read for MemberRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = buf.len().min(self.left as usize);
        let loc = &self.loc;
        if let Err(e) = self.stream.read_exact_at(&mut buf[..n], &|| loc.clone()) {
            self.err = Some(e);
            return Err(io::Error::other("the archive could not be read"));
        }
        self.sha.update(&buf[..n]);
        if let Some(c) = &mut self.copy {
            c.write_all(&buf[..n])?;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// An error reading the archive stream. Damage to the data, which the gzip decoder
/// reports as `InvalidData` or `UnexpectedEof`, is bad input (exit 3); anything else is
/// the disk or the OS failing (exit 2), and says nothing about the archive.
fn read_error(loc: String, e: io::Error) -> Error {
    if Error::is_bad_data(&e) {
        Error::invalid(loc, format!("cannot read the archive: {e}"))
    } else {
        Error::io_at(format!("{loc}: reading the archive"), e)
    }
}

/// Receives artifact bytes while the reader verifies them.
pub trait ArtifactSink {
    fn begin(&mut self, name: &ArtifactName, member: &Member) -> Result<()>;
    fn data(&mut self, chunk: &[u8]) -> Result<()>;
    /// Called after the artifact verified (digest, size, record); not called on failure.
    fn end(&mut self, name: &ArtifactName, member: &Member) -> Result<()>;
}

/// A sink that ignores the bytes (plain verification).
pub struct NullSink;

impl ArtifactSink for NullSink {
    fn begin(&mut self, _: &ArtifactName, _: &Member) -> Result<()> {
        Ok(())
    }
    fn data(&mut self, _: &[u8]) -> Result<()> {
        Ok(())
    }
    fn end(&mut self, _: &ArtifactName, _: &Member) -> Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Stop at the first problem (explode, edit) instead of collecting them all (verify).
    pub fail_fast: bool,
    pub progress: bool,
    /// Keep a copy of the genesis member in a temporary file
    /// ([`ArchiveReader::genesis_file`]) for commands that need its bytes later.
    pub keep_genesis: bool,
    /// Leave out the chain-state consistency check of the genesis member
    /// ([`ArchiveReader::consistency`] stays `None`): for the read-back of an archive
    /// agar just wrote, whose chain-state problems are the input's own.
    pub skip_chain_check: bool,
}

/// The end state of a complete read.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub digest: String,
    pub tar_bytes: u64,
    pub problems: Vec<String>,
}

pub struct ArchiveReader {
    pub path: String,
    pub compressed: bool,
    /// How the tar stream is stored (detected from the magic bytes).
    pub format: Format,
    pub file_bytes: u64,
    pub manifest: ArchiveManifest,
    /// The genesis member's metadata (gathered while it streamed through).
    pub genesis: Genesis,
    /// The genesis member on disk, when [`ReadOptions::keep_genesis`] asked for it.
    pub genesis_file: Option<CanonicalGenesis>,
    /// The chain-state consistency check of the genesis member ([`crate::chain::check`]),
    /// computed in the same pass; its problems are verify's to report.
    pub consistency: Option<crate::chain::check::Report>,
    pub meta: Option<Metadata>,
    pub problems: Vec<String>,
    opts: ReadOptions,
    stream: Stream,
    next: usize,
}

fn member_loc(path: &str, name: &str) -> String {
    format!("{path}: member {name}")
}

impl ArchiveReader {
    /// Open an archive (`.tar` or gzip, detected by magic bytes) and read and check its
    /// first three members (archive manifest, genesis.json, export-manifest.json).
    pub fn open(path: &Path, opts: ReadOptions) -> Result<ArchiveReader> {
        // a local file, or an http(s) URL streamed with resume (crate::remote)
        let input = crate::remote::open(path)?;
        Self::open_input(&path.display().to_string(), input, opts)
    }

    /// [`ArchiveReader::open`] on an already opened input; `loc` names it in errors.
    pub fn open_input(
        loc: &str,
        input: crate::remote::Input,
        opts: ReadOptions,
    ) -> Result<ArchiveReader> {
        let loc = loc.to_string();
        let file_bytes = input.len.unwrap_or(0);
        // For a regular file (or a remote one of known length) the announced sizes are
        // checked against its size before anything is buffered or inflated; a pipe is
        // bounded by the manifest alone.
        let sized = input.regular_file;
        let br = BufReader::with_capacity(1 << 20, input.reader);
        let (format, inner) = super::decode::open(br, super::par::default_threads(), true)
            .map_err(|e| read_error(loc.clone(), e))?;
        let compressed = format != Format::Tar;
        let progress = Progress::bytes(opts.progress, "reading", 0);
        let mut stream = Stream {
            inner,
            pos: 0,
            progress,
        };

        // member 1: the archive manifest; its size comes from its own header
        let mut first = [0u8; BLOCK];
        stream.read_exact_at(&mut first, &|| member_loc(&loc, MANIFEST_MEMBER))?;
        if first.iter().all(|&b| b == 0) {
            return bail(
                &loc,
                "empty archive (end-of-archive marker where genesis-archive.json should be)",
            );
        }
        let size = std::str::from_utf8(&first[124..135])
            .ok()
            .and_then(|s| u64::from_str_radix(s, 8).ok())
            .ok_or_else(|| {
                Error::invalid(
                    member_loc(&loc, MANIFEST_MEMBER),
                    "first member's size field is not octal: this is not an agar archive",
                )
            })?;
        let want = ustar_header(MANIFEST_MEMBER.as_bytes(), size, b'0');
        if first != want {
            return bail(
                &loc,
                format!(
                    "first member is not a canonical {MANIFEST_MEMBER} header ({}): this is not an agar archive, or it was re-packed",
                    describe_header_difference(&first, &want)
                ),
            );
        }
        if size > MAX_MANIFEST_BYTES {
            return bail(
                member_loc(&loc, MANIFEST_MEMBER),
                format!("is {size} bytes; more than the {MAX_MANIFEST_BYTES}-byte limit"),
            );
        }
        let first_bytes = member_tar_bytes(MANIFEST_MEMBER, size).unwrap_or(u64::MAX);
        if sized {
            let first = first_bytes.saturating_add(2 * BLOCK as u64);
            check_announced(&loc, format, file_bytes, first, "its first member")?;
        }
        let manifest = {
            let mut take = StreamTake {
                stream: &mut stream,
                left: size,
                loc: member_loc(&loc, MANIFEST_MEMBER),
                err: None,
            };
            let parsed = parse_manifest_from(&loc, &mut take);
            match (parsed, take.err) {
                (Err(_), Some(e)) => return Err(e),
                (r, _) => r?,
            }
        };
        skip_padding(&mut stream, &loc, MANIFEST_MEMBER, size)?;
        let Some(total) = manifest.tar_bytes(size) else {
            return bail(
                member_loc(&loc, MANIFEST_MEMBER),
                "announces member sizes whose sum does not fit in 64 bits",
            );
        };
        let size_problem = if sized {
            check_announced(&loc, format, file_bytes, total, "the archive manifest")?
        } else {
            None
        };
        stream.progress.phase(
            "verifying",
            manifest.members.iter().map(|m| m.size + 1024).sum(),
        );

        let mut r = ArchiveReader {
            path: loc.clone(),
            compressed,
            format,
            file_bytes,
            genesis: Genesis::from_manifest(&member_loc(&loc, GENESIS_MEMBER), &manifest),
            manifest,
            genesis_file: None,
            consistency: None,
            meta: None,
            problems: Vec::new(),
            opts,
            stream,
            next: 0,
        };
        if let Some(p) = size_problem {
            // explode stops here, before writing anything; verify goes on to say more
            r.problem(loc, p)?;
        }
        r.read_head()?;
        Ok(r)
    }

    fn problem(&mut self, loc: String, msg: String) -> Result<()> {
        if self.opts.fail_fast {
            return bail(loc, msg);
        }
        self.problems.push(format!("{loc}: {msg}"));
        Ok(())
    }

    fn read_head(&mut self) -> Result<()> {
        if !self.manifest.is_backup() {
            self.read_genesis()?;
        }
        self.read_export_manifest()
    }

    fn read_genesis(&mut self) -> Result<()> {
        let gm = self.manifest.members[self.next].clone();
        self.next += 1;
        let gloc = member_loc(&self.path, &gm.name);
        if gm.size > MAX_GENESIS_BYTES {
            return bail(
                &gloc,
                format!(
                    "announced size {} exceeds the {MAX_GENESIS_BYTES}-byte limit",
                    gm.size
                ),
            );
        }
        read_header(&mut self.stream, &self.path, &gm)?;
        // one streaming pass: check canonical form, gather the fields, hash, maybe copy
        let copy = if self.opts.keep_genesis {
            let f = tempfile::tempfile()
                .map_err(|e| Error::io_at(format!("{gloc}: creating a temporary file"), e))?;
            Some(BufWriter::with_capacity(1 << 20, f))
        } else {
            None
        };
        let mut mr = MemberRead {
            stream: &mut self.stream,
            loc: gloc.clone(),
            left: gm.size,
            sha: Sha256::new(),
            copy,
            err: None,
        };
        let check = crate::chain::check::Check::new();
        let walked = if self.opts.skip_chain_check {
            crate::json::walk::walk_hooks(&mut mr, &gloc, None, &[], Vec::new())
        } else {
            let mut hooks = check.hooks();
            crate::json::walk::walk_hooks(&mut mr, &gloc, None, &[], hooks.hooks())
        };
        if let Some(e) = mr.err.take() {
            return Err(e);
        }
        let walked = match walked {
            Ok(w) => Ok(w),
            Err(e @ (Error::Io { .. } | Error::IoAt { .. })) => return Err(e),
            Err(e) => {
                // read the rest, so the digest (checked first) and the next members are right
                let mut rest = vec![0u8; 1 << 16];
                loop {
                    match mr.read(&mut rest) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(io) => {
                            return Err(mr.err.take().unwrap_or_else(|| Error::io_at(&gloc, io)))
                        }
                    }
                }
                Err(e)
            }
        };
        let got = hex::encode(mr.sha.clone().finalize());
        let copy = mr.copy.take();
        skip_padding(&mut self.stream, &self.path, &gm.name, gm.size)?;
        if got != gm.sha256 {
            self.problem(gloc.clone(), altered(&got, &gm.sha256))?;
        }
        let walked = match walked {
            Ok(w) => w,
            Err(e) => {
                let detail = match &e {
                    Error::Invalid { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                self.problem(
                    gloc.clone(),
                    format!("is not in canonical form (sorted keys, compact, jq escaping, final newline): {detail}"),
                )?;
                // verify goes on with the manifest's values for the genesis fields
                return Ok(());
            }
        };
        if !self.opts.skip_chain_check {
            self.consistency = Some(check.finish());
        }
        let genesis = Genesis::from_fields(&gloc, &walked.fields)?;
        for i in self.genesis_disagreements(&genesis)? {
            self.problem(gloc.clone(), i)?;
        }
        if let Some(w) = copy {
            let f = w
                .into_inner()
                .map_err(|e| Error::io_at(&gloc, e.into_error()))?;
            self.genesis_file = Some(CanonicalGenesis::from_checked(
                f,
                gm.size,
                got,
                genesis.clone(),
            ));
        }
        self.genesis = genesis;
        Ok(())
    }

    /// Where genesis.json disagrees with the archive manifest (chain ID, initial height,
    /// export-data hash) or holds inline export data.
    fn genesis_disagreements(&self, genesis: &Genesis) -> Result<Vec<String>> {
        let m = &self.manifest;
        let mut issues = Vec::new();
        if genesis.chain_id()? != m.chain_id {
            issues.push(format!(
                "chain_id {:?} differs from the archive manifest's {:?}",
                genesis.chain_id()?,
                m.chain_id
            ));
        }
        if genesis.initial_height()? != m.initial_height {
            issues.push(format!(
                "initial_height {} differs from the archive manifest's {}",
                genesis.initial_height()?,
                m.initial_height
            ));
        }
        match genesis.export_data_hash()? {
            Some(h) if h == m.swing_store_export_data_hash => {}
            h => issues.push(format!(
                "{} is {h:?}, the archive manifest says {:?}",
                genesis.spelling.hash_field(),
                m.swing_store_export_data_hash
            )),
        }
        if genesis.inline_export_data()? > 0 {
            issues.push(format!(
                "{} must be empty in an archive",
                genesis.spelling.data_field()
            ));
        }
        Ok(issues)
    }

    fn read_export_manifest(&mut self) -> Result<()> {
        let mode = self.manifest.mode()?;
        let height = self.manifest.export_manifest_height();
        let mut canon = super::manifest::HashWriter::default();
        self.write_export_manifest(&mut canon)
            .map_err(|e| Error::io_at(&self.path, e))?;
        let want_len = canon.len;
        let want_sha = Sha256Digest::from_hasher(canon.sha);
        // any other size cannot be right
        let em = self.manifest.members[self.next].clone();
        let eloc = member_loc(&self.path, &em.name);
        if em.size != want_len {
            return bail(
                eloc,
                format!(
                    "is announced as {} bytes, but the canonical export manifest for blockHeight {height}, mode {mode} and the {} artifacts genesis-archive.json lists is {want_len} bytes",
                    em.size,
                    self.manifest.members.len() - self.manifest.head_len(),
                ),
            );
        }
        self.next += 1;
        read_header(&mut self.stream, &self.path, &em)?;
        let mut sha = Sha256::new();
        let mut left = em.size;
        let mut buf = vec![0u8; 64 * 1024];
        while left > 0 {
            let want = buf.len().min(left as usize);
            self.stream
                .read_exact_at(&mut buf[..want], &|| eloc.clone())?;
            sha.update(&buf[..want]);
            left -= want as u64;
        }
        skip_padding(&mut self.stream, &self.path, &em.name, em.size)?;
        let got = Sha256Digest::from_hasher(sha);
        if got != em.sha256 {
            self.problem(eloc.clone(), altered(&got, &em.sha256))?;
        }
        if got != want_sha {
            self.problem(
                eloc,
                format!(
                    "is not the canonical export manifest for blockHeight {height} (the {}), mode {mode} and the archive's artifacts",
                    if self.manifest.is_backup() { "backup's host.height" } else { "initial height" }
                ),
            )?;
        }
        Ok(())
    }

    /// The export manifest member's canonical bytes (which the reader checked the member
    /// against), generated into `w`.
    pub fn write_export_manifest(&self, w: &mut dyn std::io::Write) -> io::Result<()> {
        let mode = self
            .manifest
            .mode()
            .map_err(|e| io::Error::other(e.to_string()))?;
        write_export_manifest(
            w,
            self.manifest.export_manifest_height(),
            mode,
            self.manifest.artifacts().map(|(n, _)| n),
        )
    }

    /// Stream the export-data member, checking canonical encoding, order and records.
    /// `f` sees each entry with its canonical line. Returns the parsed metadata.
    pub fn read_export_data(
        &mut self,
        f: &mut dyn FnMut(&Entry, &[u8]) -> Result<()>,
    ) -> Result<&Metadata> {
        let m = self.manifest.members[self.next].clone();
        self.next += 1;
        let loc = member_loc(&self.path, &m.name);
        read_header(&mut self.stream, &self.path, &m)?;
        let mut lines = LineChecks {
            loc: loc.clone(),
            meta: Metadata::default(),
            prev_key: None,
            count: 0,
            enc: Vec::new(),
            first_problem: None,
        };
        let sha = self.for_each_line(&m, &loc, &mut |lineno, line| lines.check(lineno, line, f))?;
        skip_padding(&mut self.stream, &self.path, &m.name, m.size)?;
        if let Some(p) = lines.first_problem.take() {
            self.problem(loc.clone(), p)?;
        }
        self.check_export_data_totals(&loc, &m, &sha, lines.count)?;
        let meta = lines.meta;
        meta.check(&loc)?;
        self.check_artifact_mode(&meta)?;
        self.meta = Some(meta);
        Ok(self.meta.as_ref().expect("just set"))
    }

    /// Read member `m`'s bytes (hashing them as they stream) and call `f` with each line
    /// (its number and bytes, the newline not included): a line is held only up to the
    /// line limit, so memory never follows what the member declares. Returns the
    /// member's SHA-256 (hex).
    fn for_each_line(
        &mut self,
        m: &Member,
        loc: &str,
        f: &mut dyn FnMut(u64, &mut Vec<u8>) -> Result<()>,
    ) -> Result<String> {
        let cap = m.size.min(MAX_LINE_BYTES);
        let mut sha = Sha256::new();
        let mut left = m.size;
        let mut line: Vec<u8> = Vec::new();
        let mut lineno = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        while left > 0 || !line.is_empty() {
            let n = if left > 0 {
                let want = buf.len().min(left as usize);
                self.stream
                    .read_exact_at(&mut buf[..want], &|| loc.to_string())?;
                left -= want as u64;
                sha.update(&buf[..want]);
                want
            } else {
                0
            };
            let mut chunk = &buf[..n];
            loop {
                let nl = chunk.iter().position(|&b| b == b'\n');
                let take = nl.map_or(chunk.len(), |i| i);
                if line.len() as u64 + take as u64 > cap {
                    return bail(
                        format!("{loc}: line {}", lineno + 1),
                        format!("longer than the {cap}-byte limit (an entry's key and value are at most {} and {} bytes, {MAX_LINE_BYTES} bytes in Go's worst-case escaping)", crate::model::MAX_KEY_BYTES, crate::model::MAX_VALUE_BYTES),
                    );
                }
                // grow to the cap at most (doubling would reserve up to twice the cap)
                let need = line.len() + take + 1;
                if need > line.capacity() {
                    let to = (line.capacity() * 2).max(need).min(cap as usize + 1);
                    line.reserve_exact(to - line.len());
                }
                line.extend_from_slice(&chunk[..take]);
                match nl {
                    None => {
                        if left == 0 && n == 0 && !line.is_empty() {
                            return bail(
                                format!("{loc}: line {}", lineno + 1),
                                "last line has no terminating newline",
                            );
                        }
                        break;
                    }
                    Some(i) => {
                        chunk = &chunk[i + 1..];
                        lineno += 1;
                        f(lineno, &mut line)?;
                        line.clear();
                    }
                }
            }
            if n == 0 {
                break;
            }
        }
        Ok(hex::encode(sha.finalize()))
    }

    /// The export data's digest and entry count against the archive manifest.
    fn check_export_data_totals(
        &mut self,
        loc: &str,
        m: &Member,
        got: &str,
        count: u64,
    ) -> Result<()> {
        if got != m.sha256 {
            self.problem(loc.to_string(), altered(&got, &m.sha256))?;
        }
        let hash = format!("sha256:{got}");
        if hash != self.manifest.swing_store_export_data_hash {
            self.problem(
                loc.to_string(),
                format!(
                    "hashes to {hash}, but genesis.json and the archive manifest say {}",
                    self.manifest.swing_store_export_data_hash
                ),
            )?;
        }
        if count != self.manifest.export_data_entries {
            self.problem(
                loc.to_string(),
                format!(
                    "holds {count} entries, the archive manifest says {}",
                    self.manifest.export_data_entries
                ),
            )?;
        }
        Ok(())
    }

    /// Closed world: the artifact list must be exactly what the mode implies.
    fn check_artifact_mode(&mut self, meta: &Metadata) -> Result<()> {
        let present: BTreeSet<String> = self
            .manifest
            .artifacts()
            .map(|(n, _)| n.to_string())
            .collect();
        let mode = self.manifest.mode()?;
        match meta.infer_mode(&present) {
            Ok(m2) if m2 == mode => {}
            Ok(m2) => self.problem(
                member_loc(&self.path, MANIFEST_MEMBER),
                format!("artifact_mode says {mode}, but the artifacts present make it {m2}"),
            )?,
            Err(e) => self.problem(member_loc(&self.path, MANIFEST_MEMBER), e)?,
        }
        Ok(())
    }

    /// Stream every artifact member into `sink`, verifying each against the manifest and
    /// its export-data record. Requires `read_export_data` first.
    pub fn read_artifacts(&mut self, sink: &mut dyn ArtifactSink) -> Result<()> {
        if self.meta.is_none() {
            self.read_export_data(&mut |_, _| Ok(()))?;
        }
        let mut buf = vec![0u8; 256 * 1024];
        while self.next < self.manifest.members.len() {
            let m = self.manifest.members[self.next].clone();
            self.next += 1;
            let loc = member_loc(&self.path, &m.name);
            let short = m.name.strip_prefix(ARTIFACT_PREFIX).unwrap_or(&m.name);
            let name = ArtifactName::parse(short).map_err(|e| Error::invalid(&loc, e))?;
            let meta = self.meta.as_ref().expect("metadata read");
            let rec = match meta.artifact_record(&name) {
                Ok(r) => r,
                Err(e) => return bail(&loc, e),
            };
            let mut checker = ArtifactChecker::new(&name, rec);
            read_header(&mut self.stream, &self.path, &m)?;
            sink.begin(&name, &m)?;
            let mut left = m.size;
            while left > 0 {
                let want = buf.len().min(left as usize);
                self.stream
                    .read_exact_at(&mut buf[..want], &|| loc.clone())?;
                checker
                    .update(&buf[..want])
                    .map_err(|e| Error::io_at(&loc, e))?;
                sink.data(&buf[..want])?;
                left -= want as u64;
            }
            skip_padding(&mut self.stream, &self.path, &m.name, m.size)?;
            let (sha, _size, res) = checker.finish();
            let mut ok = true;
            if sha != m.sha256 {
                ok = false;
                self.problem(loc.clone(), altered(&sha, &m.sha256))?;
            }
            if let Err(e) = res {
                ok = false;
                self.problem(loc.clone(), e)?;
            }
            if ok {
                sink.end(&name, &m)?;
            }
        }
        Ok(())
    }

    /// Read the end-of-archive marker and require nothing after it; return the digest.
    pub fn finish(mut self) -> Result<ReadResult> {
        if self.next < self.manifest.members.len() {
            self.read_artifacts(&mut NullSink)?;
        }
        let mut end = [0u8; 2 * BLOCK];
        self.stream
            .read_exact_at(&mut end, &|| format!("{}: end of archive", self.path))?;
        if end.iter().any(|&b| b != 0) {
            return bail(&self.path, "a member follows the last member the archive manifest announces (or the end-of-archive marker is corrupt)");
        }
        let mut probe = [0u8; 1];
        loop {
            match self.stream.inner.read(&mut probe) {
                Ok(0) => break,
                Ok(_) => {
                    return bail(
                        &self.path,
                        "unexpected data after the end-of-archive marker",
                    )
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(read_error(
                        format!("{}: after the end-of-archive marker", self.path),
                        e,
                    ))
                }
            }
        }
        self.stream.progress.finish();
        let digest = self.stream.inner.digest().ok_or_else(|| {
            Error::io_at(
                &self.path,
                io::Error::other("the read-ahead thread gave no digest"),
            )
        })?;
        Ok(ReadResult {
            digest: hex::encode(digest),
            tar_bytes: self.stream.pos,
            problems: self.problems,
        })
    }
}

/// Check, before reading on, the stream length the manifest announces against the file:
/// a compressed file cannot inflate to more than its format's ratio (`MAX_DEFLATE_RATIO`,
/// `MAX_ZSTD_RATIO`) times its size (more is a
/// decompression bomb or a lie: refused, error), and a plain tar must be exactly as long
/// as announced (shorter is a truncated download, longer has data after the end: a
/// problem, returned so that verify can go on to name the member where it goes wrong).
fn check_announced(
    loc: &str,
    format: Format,
    file_bytes: u64,
    announced: u64,
    what: &str,
) -> Result<Option<String>> {
    if let Some(ratio) = format.max_ratio() {
        let most = file_bytes.saturating_mul(ratio);
        if announced > most {
            let kind = format.name();
            return bail(
                loc,
                format!("{what} announces {announced} uncompressed bytes, but a {file_bytes}-byte {kind} file can hold at most {most} ({kind} expands at most {ratio}:1): the archive is truncated or hostile (a decompression bomb); refusing to inflate it"),
            );
        }
    } else if what == "its first member" {
        if announced > file_bytes {
            return bail(
                loc,
                format!("archive is truncated: its first member alone needs {announced} bytes, but the file holds {file_bytes} (incomplete download?)"),
            );
        }
    } else if announced > file_bytes {
        return Ok(Some(format!("archive is truncated: the archive manifest announces a {announced}-byte tar stream, but the file holds {file_bytes} bytes (incomplete download? fetch it again)")));
    } else if announced < file_bytes {
        return Ok(Some(format!("{} unexpected bytes after the end of the archive: the archive manifest announces a {announced}-byte tar stream, but the file holds {file_bytes} bytes (appended data, or re-packed with another tar)", file_bytes - announced)));
    }
    Ok(None)
}

fn read_header(stream: &mut Stream, path: &str, m: &Member) -> Result<()> {
    let loc = member_loc(path, &m.name);
    let want = member_header(&m.name, m.size);
    let mut got = vec![0u8; BLOCK];
    stream.read_exact_at(&mut got, &|| loc.clone())?;
    if got.iter().all(|&b| b == 0) {
        return bail(
            loc,
            "end-of-archive marker where this member should be: the archive is missing members",
        );
    }
    if got[..] != want[..BLOCK] {
        return bail(
            loc,
            format!("unexpected header: {} (members must appear exactly as the archive manifest announces them)", describe_header_difference(&got, &want[..BLOCK])),
        );
    }
    if want.len() > BLOCK {
        let mut rest = vec![0u8; want.len() - BLOCK];
        stream.read_exact_at(&mut rest, &|| loc.clone())?;
        if rest[..] != want[BLOCK..] {
            return bail(
                loc,
                format!(
                    "unexpected extended header: {}",
                    describe_header_difference(
                        &rest[rest.len().saturating_sub(BLOCK)..],
                        &want[want.len() - BLOCK..]
                    )
                ),
            );
        }
    }
    Ok(())
}

fn skip_padding(stream: &mut Stream, path: &str, name: &str, size: u64) -> Result<()> {
    let mut pad = vec![0u8; padding(size)];
    let loc = member_loc(path, name);
    stream.read_exact_at(&mut pad, &|| loc.clone())?;
    if pad.iter().any(|&b| b != 0) {
        return bail(
            loc,
            "non-zero bytes in the padding after the member's content",
        );
    }
    Ok(())
}

/// Reads exactly `left` bytes of the current member from the stream (the archive
/// manifest, parsed as it streams).
struct StreamTake<'a> {
    stream: &'a mut Stream,
    left: u64,
    loc: String,
    err: Option<Error>,
}

impl Read for StreamTake<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.left.min(1 << 16) as usize);
        if n == 0 {
            return Ok(0);
        }
        let loc = self.loc.clone();
        if let Err(e) = self.stream.read_exact_at(&mut buf[..n], &|| loc.clone()) {
            let msg = e.to_string();
            self.err = Some(e);
            return Err(io::Error::other(msg));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Parse and validate the archive manifest (closed world: fixed names, sorted valid
/// artifact names, canonical bytes).
pub fn parse_manifest(path: &str, bytes: &[u8]) -> Result<ArchiveManifest> {
    parse_manifest_from(path, &mut &bytes[..])
}

/// [`parse_manifest`] from a reader, as the bytes stream: typed and strict (unknown and
/// duplicate keys refused), strings and scalars capped before they are buffered, the
/// member count capped while it is read, and the canonical form checked by comparing
/// the SHA-256 and length of the input with those of the canonical re-serialisation.
/// Memory: the member list (about 100 bytes a member), whatever the text declares.
pub fn parse_manifest_from(path: &str, input: &mut dyn Read) -> Result<ArchiveManifest> {
    use super::manifest::{write_canonical, Guard, HashWriter};
    let loc = member_loc(path, MANIFEST_MEMBER);
    // serde_json reads byte by byte: the buffer goes between it and the guard
    let mut buffered = BufReader::with_capacity(1 << 16, Guard::new(input));
    let m = {
        let mut de = serde_json::Deserializer::from_reader(&mut buffered);
        let m = serde::Deserialize::deserialize(&mut de).and_then(|m| de.end().map(|()| m));
        match m {
            Ok(m) => m,
            Err(e) if e.classify() == serde_json::error::Category::Data => {
                return bail(&loc, format!("not a valid archive manifest: {e}"))
            }
            Err(e) => return bail(&loc, format!("not valid JSON: {e}")),
        }
    };
    let m: ArchiveManifest = m;
    let mut canon = HashWriter::default();
    write_canonical(&m, &mut canon).map_err(|e| Error::io_at(&loc, e))?;
    let guard = buffered.into_inner();
    let canonical = canon.len == guard.len && canon.sha.finalize() == guard.sha.finalize();
    if m.format != FORMAT_NAME && m.format != BACKUP_FORMAT_NAME {
        return bail(
            &loc,
            format!(
                "format is {:?}, expected {FORMAT_NAME:?} or {BACKUP_FORMAT_NAME:?}",
                m.format
            ),
        );
    }
    if m.version != FORMAT_VERSION {
        return bail(&loc, format!("format version {} is not supported (this agar reads version {FORMAT_VERSION}); upgrade agar", m.version));
    }
    if !canonical {
        return bail(&loc, "is not in canonical form");
    }
    for (what, h) in [
        ("initial_height", m.initial_height),
        ("export_height", m.export_height),
    ] {
        if let Some(why) = crate::model::height_problem(what, h) {
            return bail(&loc, why);
        }
    }
    m.mode()?;
    let head: &[&str] = if m.is_backup() {
        &[EXPORT_MANIFEST_MEMBER, EXPORT_DATA_MEMBER]
    } else {
        &[GENESIS_MEMBER, EXPORT_MANIFEST_MEMBER, EXPORT_DATA_MEMBER]
    };
    if m.members.len() < head.len() || m.members.len() > MAX_MEMBERS {
        return bail(
            &loc,
            format!(
                "lists {} members; expected {} fixed members plus artifacts, at most {MAX_MEMBERS}",
                m.members.len(),
                head.len()
            ),
        );
    }
    for (i, fixed) in head.iter().enumerate() {
        if &*m.members[i].name != *fixed {
            return bail(
                &loc,
                format!(
                    "member {} is {:?}, expected {fixed:?}",
                    i + 2,
                    m.members[i].name
                ),
            );
        }
    }
    let mut prev: Option<&str> = None;
    for (short, mem) in m.artifacts() {
        if !mem.name.starts_with(ARTIFACT_PREFIX) {
            return bail(
                &loc,
                format!(
                    "artifact member {:?} is not under {ARTIFACT_PREFIX}",
                    mem.name
                ),
            );
        }
        ArtifactName::parse(short).map_err(|e| Error::invalid(&loc, e))?;
        if let Some(p) = prev {
            if p.as_bytes() >= short.as_bytes() {
                return bail(
                    &loc,
                    format!("artifact {short:?} is out of order or duplicated (after {p:?})"),
                );
            }
        }
        prev = Some(short);
    }
    if !m
        .swing_store_export_data_hash
        .strip_prefix("sha256:")
        .is_some_and(is_sha256_hex)
    {
        return bail(&loc, "swing_store_export_data_hash is not sha256:<64 hex>");
    }
    Ok(m)
}

/// The checks on each export-data line: decoding, size limits, Go-canonical encoding,
/// strict order, no deletions, kv key rules; metadata records are collected.
struct LineChecks {
    loc: String,
    meta: Metadata,
    prev_key: Option<String>,
    count: u64,
    /// scratch for the canonical re-encoding
    enc: Vec<u8>,
    /// the first non-canonical line (reported as a problem, reading goes on)
    first_problem: Option<String>,
}

impl LineChecks {
    /// Check line `lineno` (without its newline) and hand it to `f` with its newline.
    fn check(
        &mut self,
        lineno: u64,
        line: &mut Vec<u8>,
        f: &mut dyn FnMut(&Entry, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let loc = &self.loc;
        let lloc = || format!("{loc}: line {lineno}");
        let e = gojson::decode_line(line).map_err(|e| Error::invalid(lloc(), e.to_string()))?;
        let kloc = || format!("{loc}: line {lineno}, key {:?}", e.key);
        if let Some(why) = crate::model::entry_size_problem(&e.key, e.value.as_deref()) {
            let short: String = e.key.chars().take(80).collect();
            return bail(format!("{loc}: line {lineno}, key {short:?}"), why);
        }
        if !gojson::is_canonical_line(
            line,
            e.key.as_bytes(),
            e.value.as_deref().map(str::as_bytes),
            &mut self.enc,
        ) {
            // the member's location is the problem's own (`ArchiveReader::problem`)
            self.first_problem.get_or_insert_with(|| {
                format!(
                    "line {lineno}, key {:?}: not in Go-canonical encoding",
                    e.key
                )
            });
        }
        if let Some(p) = &self.prev_key {
            if p.as_bytes() >= e.key.as_bytes() {
                return bail(
                    kloc(),
                    format!("keys are not strictly sorted (follows {p:?})"),
                );
            }
        }
        let Some(value) = e.value.as_deref() else {
            return bail(
                kloc(),
                "an entry without a value (a deletion) cannot be in a full export",
            );
        };
        match crate::model::family(&e.key) {
            Some(Family::Kv) => {
                if let Some(why) = kv_key_problem(&e.key) {
                    return bail(kloc(), why);
                }
            }
            _ => self.meta.add(loc, &e.key, value)?,
        }
        // the line itself (canonical, or a problem already recorded),
        // so that its up-to-6x encoding is never held a second time
        line.push(b'\n');
        f(&e, line)?;
        self.prev_key = Some(e.key);
        self.count += 1;
        Ok(())
    }
}

/// A member whose bytes do not match the manifest: what, and what to do.
fn altered(got: &dyn std::fmt::Display, want: &dyn std::fmt::Display) -> String {
    format!(
        "SHA-256 is {got}, but genesis-archive.json says {want}: the member or the archive manifest was altered. Do not use this archive: fetch it again from its publisher and check it with `agar verify ARCHIVE --expect DIGEST` against the published digest"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;

    struct Failing(io::ErrorKind);

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(self.0, "injected"))
        }
    }

    fn read_from(kind: io::ErrorKind) -> Error {
        let mut s = Stream {
            inner: ReadAhead::new(Box::new(Failing(kind))),
            pos: 0,
            progress: Progress::bytes(false, "", 0),
        };
        s.read_exact_at(&mut [0u8; 10], &|| "a.tar".to_string())
            .unwrap_err()
    }

    #[test]
    fn disk_errors_are_io_errors_and_damage_is_bad_input() {
        for kind in [io::ErrorKind::Other, io::ErrorKind::PermissionDenied] {
            let e = read_from(kind);
            assert_eq!(e.exit_code(), exit::USAGE, "{kind:?}: {e}");
            assert!(e.to_string().contains("a.tar"), "{e}");
        }
        for kind in [io::ErrorKind::InvalidData, io::ErrorKind::UnexpectedEof] {
            assert_eq!(read_from(kind).exit_code(), exit::BAD_INPUT, "{kind:?}");
        }
    }

    // ---- archives built in memory: the tiny fixture packed once, altered member by member

    use std::sync::OnceLock;

    use crate::archive::writer::Compression;
    use crate::model::ArtifactMode;

    use crate::test_fixture as fixture;

    /// An archive as parts to alter and assemble again: its manifest and each member's
    /// bytes, in archive order.
    #[derive(Clone)]
    struct Parts {
        manifest: ArchiveManifest,
        data: Vec<Vec<u8>>,
    }

    /// The tiny operational export and its genesis, packed by `pack` (a plain tar): the
    /// file, and its parts as the `tar` crate reads them.
    fn packed() -> &'static (Vec<u8>, Parts) {
        static TINY: OnceLock<(Vec<u8>, Parts)> = OnceLock::new();
        TINY.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("tiny.tar");
            let genesis = CanonicalGenesis::from_path(
                &fixture("tiny/genesis/operational/genesis.json"),
                None,
            )
            .unwrap();
            let mut source =
                crate::exportdir::ExportDir::open(&fixture("tiny/export/operational")).unwrap();
            let opts = crate::pack::PackOptions {
                compression: Compression::None,
                allow_height_mismatch: false,
                progress: false,
            };
            crate::pack::pack(genesis, &mut source, Some(&out), &opts).unwrap();
            let tar = std::fs::read(&out).unwrap();
            let mut data: Vec<Vec<u8>> = ::tar::Archive::new(&tar[..])
                .entries()
                .unwrap()
                .map(|e| {
                    let mut d = Vec::new();
                    e.unwrap().read_to_end(&mut d).unwrap();
                    d
                })
                .collect();
            let manifest: ArchiveManifest = serde_json::from_slice(&data.remove(0)).unwrap();
            assert_eq!(manifest.members.len(), data.len());
            (tar, Parts { manifest, data })
        })
    }

    impl Parts {
        fn tiny() -> Parts {
            packed().1.clone()
        }

        fn index(&self, name: &str) -> usize {
            let i = self.manifest.members.iter().position(|m| &*m.name == name);
            i.unwrap_or_else(|| panic!("no member {name}"))
        }

        fn get(&self, name: &str) -> &[u8] {
            &self.data[self.index(name)]
        }

        /// Replace a member's bytes; the manifest's size and digest follow.
        fn set(&mut self, name: &str, bytes: Vec<u8>) {
            let i = self.index(name);
            self.manifest.members[i].size = bytes.len() as u64;
            self.manifest.members[i].sha256 = Sha256Digest::of(&bytes);
            self.data[i] = bytes;
        }

        /// [`Parts::set`] with `from` replaced by `to` (where it occurs once).
        fn replace(&mut self, name: &str, from: &str, to: &str) {
            let s = String::from_utf8(self.get(name).to_vec()).unwrap();
            assert_eq!(s.matches(from).count(), 1, "{from} in {name}");
            self.set(name, s.replacen(from, to, 1).into_bytes());
        }

        fn lines(&self) -> Vec<String> {
            let s = std::str::from_utf8(self.get(EXPORT_DATA_MEMBER)).unwrap();
            s.lines().map(str::to_string).collect()
        }

        /// Replace the export data with `bytes`; the digests and the entry count in the
        /// manifest and genesis.json follow, so only what the data holds is reported.
        fn set_export_data(&mut self, bytes: Vec<u8>) {
            let old = self.manifest.swing_store_export_data_hash.clone();
            let new = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
            self.manifest.export_data_entries =
                bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            self.set(EXPORT_DATA_MEMBER, bytes);
            self.manifest.swing_store_export_data_hash = new.clone();
            if !self.manifest.is_backup() {
                self.replace(GENESIS_MEMBER, &old, &new);
            }
        }

        /// The same state as a swing-store backup: no genesis.json, no chain ID or initial
        /// height, the export manifest at the export height.
        fn into_backup(mut self) -> Parts {
            self.manifest.format = BACKUP_FORMAT_NAME.into();
            self.manifest.chain_id.clear();
            self.manifest.initial_height = 0;
            self.manifest.members.remove(0);
            self.data.remove(0);
            let names: Vec<&str> = self.manifest.artifacts().map(|(n, _)| n).collect();
            let mode = self.manifest.mode().unwrap();
            let em = export_manifest_bytes(self.manifest.export_height, mode, &names);
            self.set(EXPORT_MANIFEST_MEMBER, em);
            self
        }

        /// The tar stream as pack lays it out, each member's header announcing the size
        /// the manifest states.
        fn tar(&self) -> Vec<u8> {
            let mb = self.manifest.canonical_bytes();
            let mut out = ustar_header(MANIFEST_MEMBER.as_bytes(), mb.len() as u64, b'0').to_vec();
            out.extend_from_slice(&mb);
            out.resize(out.len() + padding(mb.len() as u64), 0);
            for (m, d) in self.manifest.members.iter().zip(&self.data) {
                out.extend_from_slice(&member_header(&m.name, m.size));
                out.extend_from_slice(d);
                out.resize(out.len() + padding(d.len() as u64), 0);
            }
            out.resize(out.len() + 2 * BLOCK, 0);
            out
        }
    }

    fn input(bytes: Vec<u8>, regular_file: bool) -> crate::remote::Input {
        crate::remote::Input {
            len: Some(bytes.len() as u64),
            regular_file,
            reader: Box::new(io::Cursor::new(bytes)),
        }
    }

    fn open_with(bytes: Vec<u8>, opts: ReadOptions) -> Result<ArchiveReader> {
        ArchiveReader::open_input("a.tar", input(bytes, true), opts)
    }

    fn open(bytes: Vec<u8>) -> Result<ArchiveReader> {
        open_with(bytes, ReadOptions::default())
    }

    fn fail_fast() -> ReadOptions {
        ReadOptions {
            fail_fast: true,
            ..Default::default()
        }
    }

    /// The whole archive read as verify reads it.
    fn verify(bytes: Vec<u8>) -> Result<ReadResult> {
        open(bytes)?.finish()
    }

    /// The problems of a read that reaches the end.
    fn problems(bytes: Vec<u8>) -> Vec<String> {
        match verify(bytes) {
            Ok(r) => r.problems,
            Err(e) => panic!("the read stopped: {e}"),
        }
    }

    /// The message of a read that fails as bad input.
    fn refused<T>(r: Result<T>) -> String {
        match r {
            Ok(_) => panic!("the read succeeded"),
            Err(e) => {
                assert_eq!(e.exit_code(), exit::BAD_INPUT, "{e}");
                e.to_string()
            }
        }
    }

    /// Records what the reader hands an artifact sink.
    #[derive(Default)]
    struct Record {
        artifacts: Vec<(String, Vec<u8>)>,
        ended: Vec<String>,
    }

    impl ArtifactSink for Record {
        fn begin(&mut self, name: &ArtifactName, member: &Member) -> Result<()> {
            assert_eq!(format!("{ARTIFACT_PREFIX}{name}"), &*member.name);
            self.artifacts.push((member.name.to_string(), Vec::new()));
            Ok(())
        }
        fn data(&mut self, chunk: &[u8]) -> Result<()> {
            self.artifacts
                .last_mut()
                .unwrap()
                .1
                .extend_from_slice(chunk);
            Ok(())
        }
        fn end(&mut self, _: &ArtifactName, member: &Member) -> Result<()> {
            self.ended.push(member.name.to_string());
            Ok(())
        }
    }

    fn artifacts_of(p: &Parts) -> Vec<(String, Vec<u8>)> {
        let head = p.manifest.head_len();
        let names = p.manifest.members[head..]
            .iter()
            .map(|m| m.name.to_string());
        names.zip(p.data[head..].iter().cloned()).collect()
    }

    /// A read of all of `tar`, without problems: its digest and length.
    fn assert_whole(res: &ReadResult, tar: &[u8]) {
        assert_eq!(res.digest, hex::encode(Sha256::digest(tar)));
        assert_eq!(res.tar_bytes, tar.len() as u64);
        assert!(res.problems.is_empty(), "{:?}", res.problems);
    }

    #[test]
    fn an_archive_reads_back_member_by_member_with_its_digest_and_length() {
        let (file, p) = packed();
        let tar = p.tar();
        assert_eq!(&tar, file, "the parts assemble to pack's bytes");
        let opts = ReadOptions {
            keep_genesis: true,
            ..Default::default()
        };
        let mut r = open_with(tar.clone(), opts).unwrap();
        assert!(!r.compressed);
        assert_eq!(r.format, Format::Tar);
        assert_eq!(r.file_bytes, tar.len() as u64);
        assert_eq!(r.manifest, p.manifest);
        assert_eq!(r.genesis.chain_id, "fixturegen-tiny");
        assert_eq!(r.genesis.initial_height, 28);
        assert!(r.consistency.is_some());
        let mut g = Vec::new();
        let kept = r.genesis_file.as_ref().expect("kept");
        kept.reader().unwrap().read_to_end(&mut g).unwrap();
        assert_eq!(g, p.get(GENESIS_MEMBER));
        assert_eq!(kept.sha256, p.manifest.members[0].sha256);
        let (mut lines, mut keys) = (Vec::new(), Vec::new());
        let meta = r
            .read_export_data(&mut |e, line| {
                keys.push(e.key.clone());
                lines.extend_from_slice(line);
                Ok(())
            })
            .unwrap();
        let records = p
            .lines()
            .iter()
            .filter(|l| !l.starts_with("[\"kv."))
            .count();
        assert_eq!(meta.entries.len(), records);
        assert_eq!(meta.bundles.len(), 2);
        assert_eq!(lines, p.get(EXPORT_DATA_MEMBER));
        assert_eq!(keys.len() as u64, p.manifest.export_data_entries);
        let mut sink = Record::default();
        r.read_artifacts(&mut sink).unwrap();
        let want = artifacts_of(p);
        assert_eq!(want.len(), 8);
        assert_eq!(sink.artifacts, want);
        let names: Vec<String> = want.into_iter().map(|(n, _)| n).collect();
        assert_eq!(sink.ended, names);
        let res = r.finish().unwrap();
        assert_whole(&res, &tar);
    }

    #[test]
    fn compressed_archives_read_as_their_tar_stream() {
        let tar = packed().0.clone();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        // agar reads only checksummed zstd frames (zstd's default, not the crate's)
        let mut zst = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        zst.include_checksum(true).unwrap();
        zst.write_all(&tar).unwrap();
        let zst = zst.finish().unwrap();
        for (file, format) in [(gz, Format::Gzip), (zst, Format::Zstd)] {
            let r = open(file.clone()).unwrap();
            assert!(r.compressed, "{format:?}");
            assert_eq!(r.format, format);
            assert_eq!(r.file_bytes, file.len() as u64);
            let res = r.finish().unwrap();
            assert_whole(&res, &tar);
        }
    }

    #[test]
    fn a_backup_has_no_genesis_member_and_reads_back_whole() {
        let p = Parts::tiny().into_backup();
        let tar = p.tar();
        let mut r = open(tar.clone()).unwrap();
        assert!(r.consistency.is_none());
        assert_eq!(r.genesis.chain_id, "");
        r.read_export_data(&mut |_, _| Ok(())).unwrap();
        let mut sink = Record::default();
        r.read_artifacts(&mut sink).unwrap();
        assert_eq!(sink.artifacts, artifacts_of(&p));
        assert_whole(&r.finish().unwrap(), &tar);
    }

    #[test]
    fn what_is_not_an_agar_archive_is_refused_at_its_first_block() {
        let e = refused(open(vec![0; 2 * BLOCK]));
        assert!(e.starts_with("a.tar: empty archive"), "{e}");
        let tar = packed().0.clone();
        let mut t = tar.clone();
        t[124] = b'9';
        let e = refused(open(t));
        assert!(e.contains("first member's size field is not octal"), "{e}");
        let mut t = tar.clone();
        t[100..107].copy_from_slice(b"0000755");
        let e = refused(open(t));
        assert!(
            e.contains("first member is not a canonical genesis-archive.json header"),
            "{e}"
        );
    }

    #[test]
    fn a_manifest_over_its_size_limit_is_refused_before_it_is_read() {
        for (size, over) in [(MAX_MANIFEST_BYTES + 1, true), (MAX_MANIFEST_BYTES, false)] {
            let mut tar = ustar_header(MANIFEST_MEMBER.as_bytes(), size, b'0').to_vec();
            tar.extend_from_slice(b"{\"artifact_mode\":");
            let pipe = input(tar, false);
            let e = refused(ArchiveReader::open_input(
                "a.tar",
                pipe,
                ReadOptions::default(),
            ));
            let limit = format!("is {size} bytes; more than the {MAX_MANIFEST_BYTES}-byte limit");
            assert_eq!(e.contains(&limit), over, "{e}");
            if !over {
                // read as it streams, until the data runs out
                assert!(
                    e.contains("archive is truncated (ends at uncompressed byte 529)"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn a_file_too_short_for_its_first_member_is_refused_before_reading_it() {
        let tar = packed().0.clone();
        let size = Parts::tiny().manifest.canonical_bytes().len() as u64;
        // the first member and an end-of-archive marker
        let need = member_tar_bytes(MANIFEST_MEMBER, size).unwrap() + 2 * BLOCK as u64;
        let e = refused(open(tar[..need as usize - 1].to_vec()));
        let want = format!(
            "its first member alone needs {need} bytes, but the file holds {}",
            need - 1
        );
        assert!(e.contains(&want), "{e}");
    }

    #[test]
    fn a_file_longer_or_shorter_than_announced_is_a_problem_verify_reads_past() {
        let tar = packed().0.clone();
        let n = tar.len();
        let mut longer = tar.clone();
        longer.extend_from_slice(&[0; BLOCK]);
        let appended = format!("a.tar: 512 unexpected bytes after the end of the archive: the archive manifest announces a {n}-byte tar stream, but the file holds {} bytes", n + 512);
        let e = refused(open_with(longer.clone(), fail_fast()));
        assert!(e.starts_with(&appended), "{e}");
        let r = open(longer).unwrap();
        assert_eq!(r.problems.len(), 1);
        assert!(r.problems[0].starts_with(&appended), "{:?}", r.problems);
        let e = refused(r.finish());
        assert!(
            e.contains("unexpected data after the end-of-archive marker"),
            "{e}"
        );

        let shorter = tar[..n - 1].to_vec();
        let truncated = format!("a.tar: archive is truncated: the archive manifest announces a {n}-byte tar stream, but the file holds {} bytes", n - 1);
        let e = refused(open_with(shorter.clone(), fail_fast()));
        assert!(e.starts_with(&truncated), "{e}");
        let r = open(shorter).unwrap();
        assert!(r.problems[0].starts_with(&truncated), "{:?}", r.problems);
        let e = refused(r.finish());
        assert_eq!(
            e,
            format!(
                "a.tar: end of archive: archive is truncated (ends at uncompressed byte {})",
                n - 1
            )
        );
    }

    #[test]
    fn the_announced_length_is_checked_against_the_file() {
        let first = "its first member";
        let manifest = "the archive manifest";
        // plain tar: the first member may be followed by more, the whole must be exact
        assert_eq!(
            check_announced("a", Format::Tar, 100, 100, first).unwrap(),
            None
        );
        assert_eq!(
            check_announced("a", Format::Tar, 100, 50, first).unwrap(),
            None
        );
        let e = refused(check_announced("a", Format::Tar, 100, 101, first));
        assert!(
            e.contains("its first member alone needs 101 bytes, but the file holds 100"),
            "{e}"
        );
        assert_eq!(
            check_announced("a", Format::Tar, 100, 100, manifest).unwrap(),
            None
        );
        let p = check_announced("a", Format::Tar, 100, 101, manifest)
            .unwrap()
            .unwrap();
        assert!(p.starts_with("archive is truncated: the archive manifest announces a 101-byte tar stream, but the file holds 100 bytes"), "{p}");
        let p = check_announced("a", Format::Tar, 100, 99, manifest)
            .unwrap()
            .unwrap();
        assert!(
            p.starts_with("1 unexpected bytes after the end of the archive"),
            "{p}"
        );
        // compressed: at most the format's ratio, for the first member as for the whole
        for (format, ratio) in [
            (Format::Gzip, MAX_DEFLATE_RATIO),
            (Format::Zstd, format_ratio_zstd()),
        ] {
            for what in [first, manifest] {
                assert_eq!(
                    check_announced("a", format, 10, 10 * ratio, what).unwrap(),
                    None
                );
                assert_eq!(check_announced("a", format, 10, 1, what).unwrap(), None);
                let e = refused(check_announced("a", format, 10, 10 * ratio + 1, what));
                let want = format!("{what} announces {} uncompressed bytes, but a 10-byte {} file can hold at most {} ({} expands at most {ratio}:1)", 10 * ratio + 1, format.name(), 10 * ratio, format.name());
                assert!(e.contains(&want), "{e}");
            }
        }
    }

    fn format_ratio_zstd() -> u64 {
        Format::Zstd.max_ratio().unwrap()
    }

    fn verify_fast(bytes: Vec<u8>) -> Result<ReadResult> {
        open_with(bytes, fail_fast())?.finish()
    }

    /// A genesis archive's reader, then an error from the disk (the read-ahead hands over
    /// what it read before the error, then the error).
    struct ThenFails(io::Cursor<Vec<u8>>, bool);

    impl Read for ThenFails {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.read(buf)?;
            if n > 0 || !std::mem::replace(&mut self.1, true) {
                return Ok(n);
            }
            Err(io::Error::other("injected"))
        }
    }

    #[test]
    fn the_end_marker_must_be_zeros_and_a_read_error_after_it_is_an_error() {
        let tar = packed().0.clone();
        let n = tar.len();
        let mut t = tar.clone();
        t[n - 700] = 1;
        let e = refused(verify(t));
        assert!(
            e.contains("a member follows the last member the archive manifest announces"),
            "{e}"
        );
        let failing = crate::remote::Input {
            len: Some(n as u64),
            regular_file: true,
            reader: Box::new(ThenFails(io::Cursor::new(tar), false)),
        };
        let r = ArchiveReader::open_input("a.tar", failing, ReadOptions::default()).unwrap();
        let e = r.finish().map(|_| ()).unwrap_err();
        assert_eq!(e.exit_code(), exit::USAGE, "{e}");
        assert_eq!(
            e.to_string(),
            "a.tar: after the end-of-archive marker: reading the archive: injected"
        );
    }

    #[test]
    fn an_altered_genesis_is_a_problem_and_the_read_goes_on() {
        let mut p = Parts::tiny();
        let want = p.manifest.members[0].sha256.to_string();
        let g = String::from_utf8(p.data[0].clone()).unwrap();
        assert_eq!(g.matches("05.678901234Z").count(), 1);
        // the same size, another time: the manifest still states the old digest
        p.data[0] = g.replacen("05.678901234Z", "05.678901235Z", 1).into_bytes();
        let got = hex::encode(Sha256::digest(&p.data[0]));
        let altered = format!("a.tar: member genesis.json: SHA-256 is {got}, but genesis-archive.json says {want}: the member or the archive manifest was altered. Do not use this archive");
        let probs = problems(p.tar());
        assert_eq!(probs.len(), 1, "{probs:?}");
        assert!(probs[0].starts_with(&altered), "{probs:?}");
        let e = refused(verify_fast(p.tar()));
        assert!(e.starts_with(&altered), "{e}");
    }

    #[test]
    fn a_genesis_not_in_canonical_form_is_a_problem_and_the_read_goes_on() {
        let mut p = Parts::tiny();
        let mut g = p.get(GENESIS_MEMBER).to_vec();
        g.insert(1, b' ');
        p.set(GENESIS_MEMBER, g);
        let r = open(p.tar()).unwrap();
        // the manifest's values stand in for the member's
        assert_eq!(r.genesis.chain_id, "fixturegen-tiny");
        assert!(r.consistency.is_none());
        let res = r.finish().unwrap();
        assert_eq!(res.problems.len(), 1, "{:?}", res.problems);
        assert!(res.problems[0].starts_with("a.tar: member genesis.json: is not in canonical form (sorted keys, compact, jq escaping, final newline): "), "{:?}", res.problems);
    }

    #[test]
    fn a_genesis_over_its_size_limit_is_refused_before_its_header_is_read() {
        for (size, over) in [(MAX_GENESIS_BYTES + 1, true), (MAX_GENESIS_BYTES, false)] {
            let mut p = Parts::tiny();
            p.manifest.members[0].size = size;
            let pipe = input(p.tar(), false);
            let e = refused(ArchiveReader::open_input(
                "a.tar",
                pipe,
                ReadOptions::default(),
            ));
            let limit = format!("a.tar: member genesis.json: announced size {size} exceeds the {MAX_GENESIS_BYTES}-byte limit");
            assert_eq!(e == limit, over, "{e}");
            if !over {
                // read as it streams, until the data runs out
                assert!(e.contains("archive is truncated"), "{e}");
            }
        }
    }

    #[test]
    fn the_chain_state_check_runs_unless_skipped() {
        let tar = packed().0.clone();
        assert!(open(tar.clone()).unwrap().consistency.is_some());
        let skip = ReadOptions {
            skip_chain_check: true,
            ..Default::default()
        };
        assert!(open_with(tar, skip).unwrap().consistency.is_none());
    }

    #[test]
    fn genesis_fields_that_disagree_with_the_manifest_are_problems() {
        let at = "a.tar: member genesis.json: ";
        let mut p = Parts::tiny();
        p.manifest.chain_id = "other-1".into();
        let want = format!(
            "{at}chain_id \"fixturegen-tiny\" differs from the archive manifest's \"other-1\""
        );
        assert_eq!(problems(p.tar()), [want]);

        let mut p = Parts::tiny();
        p.manifest.initial_height = 29;
        let names: Vec<&str> = p.manifest.artifacts().map(|(n, _)| n).collect();
        let em = export_manifest_bytes(29, ArtifactMode::Operational, &names);
        p.set(EXPORT_MANIFEST_MEMBER, em);
        let want = format!("{at}initial_height 28 differs from the archive manifest's 29");
        assert_eq!(problems(p.tar()), [want]);

        let mut p = Parts::tiny();
        let hash = p.manifest.swing_store_export_data_hash.clone();
        let last = if hash.ends_with('0') { "1" } else { "0" };
        let other = format!("{}{last}", &hash[..hash.len() - 1]);
        p.replace(GENESIS_MEMBER, &hash, &other);
        let want = format!("{at}swing_store_export_data_hash is Some({other:?}), the archive manifest says {hash:?}");
        assert_eq!(problems(p.tar()), [want]);

        let mut p = Parts::tiny();
        p.replace(
            GENESIS_MEMBER,
            "\"swing_store_export_data\":[]",
            "\"swing_store_export_data\":[1]",
        );
        let want = format!("{at}swing_store_export_data must be empty in an archive");
        assert_eq!(problems(p.tar()), [want]);
    }

    #[test]
    fn an_export_manifest_of_another_size_is_refused_and_other_bytes_are_problems() {
        let p = Parts::tiny();
        let em = p.get(EXPORT_MANIFEST_MEMBER).to_vec();
        let at = "a.tar: member swing-store/export-manifest.json: ";
        let mut q = p.clone();
        let mut longer = em.clone();
        longer.push(b'\n');
        q.set(EXPORT_MANIFEST_MEMBER, longer);
        let e = refused(verify(q.tar()));
        let want = format!("{at}is announced as {} bytes, but the canonical export manifest for blockHeight 28, mode operational and the 8 artifacts genesis-archive.json lists is {} bytes", em.len() + 1, em.len());
        assert_eq!(e, want);

        // the same size, other bytes
        let other = String::from_utf8(em).unwrap().replacen(
            "\"blockHeight\": 28",
            "\"blockHeight\": 29",
            1,
        );
        let not_canonical = format!("{at}is not the canonical export manifest for blockHeight 28 (the initial height), mode operational and the archive's artifacts");
        let mut q = p.clone();
        q.set(EXPORT_MANIFEST_MEMBER, other.clone().into_bytes());
        assert_eq!(problems(q.tar()), std::slice::from_ref(&not_canonical));
        // ... and not the bytes the manifest's digest states
        let mut q = p.clone();
        let i = q.index(EXPORT_MANIFEST_MEMBER);
        q.data[i] = other.into_bytes();
        let probs = problems(q.tar());
        assert_eq!(probs.len(), 2, "{probs:?}");
        assert!(
            probs[0].starts_with(&format!("{at}SHA-256 is ")),
            "{probs:?}"
        );
        assert_eq!(probs[1], not_canonical);
    }

    /// The key of an export-data line.
    fn key_of(line: &str) -> String {
        let e: Vec<String> = serde_json::from_str(line).unwrap();
        e[0].clone()
    }

    fn joined(lines: &[String]) -> Vec<u8> {
        lines
            .iter()
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect()
    }

    const DATA_AT: &str = "a.tar: member swing-store/export-data.jsonl: ";

    #[test]
    fn export_data_without_its_final_newline_is_refused_naming_the_line() {
        let p = Parts::tiny();
        let data = p.get(EXPORT_DATA_MEMBER);
        let n = p.lines().len();
        let mut q = p.clone();
        q.set_export_data(data[..data.len() - 1].to_vec());
        let e = refused(verify(q.tar()));
        assert_eq!(
            e,
            format!("{DATA_AT}line {n}: last line has no terminating newline")
        );
        // a member of one line, as long as the member
        let mut q = p.clone();
        q.set_export_data(p.lines()[0].clone().into_bytes());
        let e = refused(verify(q.tar()));
        assert_eq!(
            e,
            format!("{DATA_AT}line 1: last line has no terminating newline")
        );
    }

    #[test]
    fn export_data_out_of_order_is_refused_naming_the_line_and_key() {
        let p = Parts::tiny();
        let lines = p.lines();
        let mut l = lines.clone();
        l.swap(1, 2);
        let mut q = p.clone();
        q.set_export_data(joined(&l));
        let (k1, k2) = (key_of(&lines[1]), key_of(&lines[2]));
        let want =
            format!("{DATA_AT}line 3, key {k1:?}: keys are not strictly sorted (follows {k2:?})");
        assert_eq!(refused(verify(q.tar())), want);
        let mut l = lines.clone();
        l.insert(5, lines[4].clone());
        let mut q = p.clone();
        q.set_export_data(joined(&l));
        let k = key_of(&lines[4]);
        let want =
            format!("{DATA_AT}line 6, key {k:?}: keys are not strictly sorted (follows {k:?})");
        assert_eq!(refused(verify(q.tar())), want);
    }

    #[test]
    fn a_line_not_in_go_canonical_encoding_is_a_problem_and_the_read_goes_on() {
        let p = Parts::tiny();
        let mut l = p.lines();
        let j = l.iter().position(|s| s.starts_with("[\"kv.")).unwrap();
        let key = key_of(&l[j]);
        l[j] = l[j].replacen("[\"kv.", "[\"kv\\u002e", 1);
        assert_eq!(key_of(&l[j]), key);
        let mut q = p.clone();
        q.set_export_data(joined(&l));
        let mut r = open(q.tar()).unwrap();
        let mut seen = Vec::new();
        r.read_export_data(&mut |_, line| {
            seen.extend_from_slice(line);
            Ok(())
        })
        .unwrap();
        // handed over as it is
        assert_eq!(seen, q.get(EXPORT_DATA_MEMBER));
        let res = r.finish().unwrap();
        let want = format!(
            "{DATA_AT}line {}, key {key:?}: not in Go-canonical encoding",
            j + 1
        );
        assert_eq!(res.problems, [want]);
    }

    /// The tiny export data with kv entries of these value sizes added, in key order.
    fn with_long_values(p: &Parts, sizes: &[usize]) -> Vec<String> {
        let mut l = p.lines();
        for (i, n) in sizes.iter().enumerate() {
            l.push(format!("[\"kv.zz{i}\",\"{}\"]", "v".repeat(*n)));
        }
        l.sort_by_key(|s| key_of(s));
        l
    }

    #[test]
    fn lines_longer_than_the_read_buffer_are_read_whole() {
        let p = Parts::tiny();
        let l = with_long_values(&p, &[300 << 10, 700 << 10]);
        let mut q = p.clone();
        q.set_export_data(joined(&l));
        let mut r = open(q.tar()).unwrap();
        let mut seen = Vec::new();
        let mut count = 0;
        r.read_export_data(&mut |_, line| {
            seen.extend_from_slice(line);
            count += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, q.get(EXPORT_DATA_MEMBER));
        assert_eq!(count, l.len());
        let res = r.finish().unwrap();
        assert!(res.problems.is_empty(), "{:?}", res.problems);
    }

    /// The reader of `p`'s archive, its head read, and its export-data member.
    fn at_export_data(p: &Parts) -> (ArchiveReader, Member) {
        let mut r = open(p.tar()).unwrap();
        let m = r.manifest.members[r.next].clone();
        read_header(&mut r.stream, "a.tar", &m).unwrap();
        (r, m)
    }

    /// Each line's length and its buffer's capacity as `for_each_line` hands it over.
    fn capacities(p: &Parts) -> Vec<(usize, usize)> {
        let (mut r, m) = at_export_data(p);
        let mut seen = Vec::new();
        r.for_each_line(&m, "a.tar", &mut |_, line| {
            seen.push((line.len(), line.capacity()));
            Ok(())
        })
        .unwrap();
        seen
    }

    #[test]
    fn the_line_buffer_doubles_up_to_the_line_limit_and_is_reused() {
        // a short line: its length and room for the newline the checks append
        let p = Parts::tiny();
        let l = p.lines();
        let mut q = p.clone();
        q.set_export_data(joined(&[l[0].clone(), l[0].clone(), l[1].clone()]));
        let seen = capacities(&q);
        let (a, b) = (l[0].len(), l[1].len());
        assert_eq!(seen[0], (a, a + 1));
        // a line no longer than the buffer reuses it
        assert_eq!(seen[1], (a, a + 1));
        assert_eq!(
            seen[2].1,
            if b + 1 > a + 1 {
                (b + 1).max(2 * (a + 1))
            } else {
                a + 1
            }
        );
        // a line read in three 256 KiB chunks: one chunk and its newline, doubled twice;
        // the next line fits and reuses it
        let chunk = 256 << 10;
        let long: Vec<String> = with_long_values(&p, &[600 << 10, 600 << 10])
            .into_iter()
            .filter(|s| s.len() > chunk)
            .collect();
        let mut q = p.clone();
        q.set_export_data(joined(&long));
        let seen = capacities(&q);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].1, 4 * (chunk + 1));
        assert_eq!(seen[1].1, 4 * (chunk + 1));
        // the member of one line: the buffer holds the member and a newline, no more
        let one = with_long_values(&p, &[600 << 10])
            .into_iter()
            .find(|s| s.len() > chunk);
        let mut q = p.clone();
        let one = joined(&[one.unwrap()]);
        q.set_export_data(one.clone());
        let seen = capacities(&q);
        assert_eq!(seen, [(one.len() - 1, one.len() + 1)]);
    }

    #[test]
    fn an_altered_artifact_is_a_problem_and_is_not_ended_in_the_sink() {
        let mut p = Parts::tiny();
        let i = p.manifest.head_len();
        let name = p.manifest.members[i].name.to_string();
        let want = p.manifest.members[i].sha256.to_string();
        let last = p.data[i].len() - 1;
        p.data[i][last] ^= 1;
        let got = hex::encode(Sha256::digest(&p.data[i]));
        let altered =
            format!("a.tar: member {name}: SHA-256 is {got}, but genesis-archive.json says {want}");
        let mut r = open(p.tar()).unwrap();
        let mut sink = Record::default();
        r.read_artifacts(&mut sink).unwrap();
        assert_eq!(sink.artifacts.len(), 8);
        let mut names: Vec<String> = artifacts_of(&p).into_iter().map(|(n, _)| n).collect();
        names.remove(0);
        assert_eq!(sink.ended, names);
        assert!(r.problems[0].starts_with(&altered), "{:?}", r.problems);
        let e = refused(verify_fast(p.tar()));
        assert!(e.starts_with(&altered), "{e}");
    }

    fn manifest_error(m: &[u8]) -> String {
        refused(parse_manifest("a.tar", m))
    }

    #[test]
    fn manifests_are_read_strictly_and_in_their_canonical_form() {
        let at = "a.tar: member genesis-archive.json: ";
        let p = Parts::tiny();
        let m = p.manifest.canonical_bytes();
        assert_eq!(parse_manifest("a.tar", &m).unwrap(), p.manifest);
        assert!(manifest_error(b"{").starts_with(&format!("{at}not valid JSON: ")));
        let e = manifest_error(b"{\"artifact_mode\":1}");
        assert!(
            e.starts_with(&format!("{at}not a valid archive manifest: ")),
            "{e}"
        );
        // the same length, the keys in another order
        let s = String::from_utf8(m.clone()).unwrap();
        let swapped = s.replacen(
            "{\"artifact_mode\":\"operational\",\"chain_id\":\"fixturegen-tiny\",",
            "{\"chain_id\":\"fixturegen-tiny\",\"artifact_mode\":\"operational\",",
            1,
        );
        assert_eq!(swapped.len(), s.len());
        assert_ne!(swapped, s);
        assert_eq!(
            manifest_error(swapped.as_bytes()),
            format!("{at}is not in canonical form")
        );
        let mut q = p.manifest.clone();
        q.format = "tar".into();
        let e = manifest_error(&q.canonical_bytes());
        assert!(
            e.starts_with(&format!("{at}format is \"tar\", expected")),
            "{e}"
        );
        // the fixed members alone, and fewer
        let mut q = p.manifest.clone();
        q.members.truncate(3);
        assert_eq!(parse_manifest("a.tar", &q.canonical_bytes()).unwrap(), q);
        q.members.truncate(2);
        let e = manifest_error(&q.canonical_bytes());
        assert_eq!(e, format!("{at}lists 2 members; expected 3 fixed members plus artifacts, at most {MAX_MEMBERS}"));
    }

    #[test]
    fn a_line_over_the_line_limit_is_refused_by_number_before_it_is_held_whole() {
        // an export-data member announced larger than the line limit, whose third line
        // runs on past it: the archive up to that line, then 'a's from a generator
        let mut p = Parts::tiny();
        let start = b"[\"kv.zz\",\"";
        let mut data = joined(&p.lines()[..2]);
        data.extend_from_slice(start);
        let i = p.index(EXPORT_DATA_MEMBER);
        p.data[i] = data;
        p.manifest.members[i].size = MAX_LINE_BYTES + (1 << 20);
        let tar = p.tar();
        let cut = tar.windows(start.len()).position(|w| w == start).unwrap() + start.len();
        let reader = io::Cursor::new(tar[..cut].to_vec())
            .chain(io::repeat(b'a').take(MAX_LINE_BYTES + (1 << 20)));
        let pipe = crate::remote::Input {
            len: None,
            regular_file: false,
            reader: Box::new(reader),
        };
        let mut r = ArchiveReader::open_input("a.tar", pipe, ReadOptions::default()).unwrap();
        let e = refused(r.read_export_data(&mut |_, _| Ok(())).map(|_| ()));
        let want = format!("{DATA_AT}line 3: longer than the {MAX_LINE_BYTES}-byte limit (an entry's key and value are at most");
        assert!(e.starts_with(&want), "{e}");
    }

    #[test]
    fn export_data_totals_disagreeing_with_the_manifest_are_problems() {
        let p = Parts::tiny();
        let data = p.get(EXPORT_DATA_MEMBER).to_vec();
        let entries = p.manifest.export_data_entries;
        // the member's own digest in the manifest
        let mut q = p.clone();
        let i = q.index(EXPORT_DATA_MEMBER);
        q.manifest.members[i].sha256 = Sha256Digest::of(b"other");
        let got = hex::encode(Sha256::digest(&data));
        let want = format!(
            "{DATA_AT}SHA-256 is {got}, but genesis-archive.json says {}",
            Sha256Digest::of(b"other")
        );
        let probs = problems(q.tar());
        assert_eq!(probs.len(), 1, "{probs:?}");
        assert!(probs[0].starts_with(&want), "{probs:?}");
        // the export-data hash genesis.json and the manifest state
        let mut q = p.clone();
        let hash = q.manifest.swing_store_export_data_hash.clone();
        let other = format!("sha256:{}", Sha256Digest::of(b"other"));
        q.manifest.swing_store_export_data_hash = other.clone();
        q.replace(GENESIS_MEMBER, &hash, &other);
        let want = format!(
            "{DATA_AT}hashes to {hash}, but genesis.json and the archive manifest say {other}"
        );
        assert_eq!(problems(q.tar()), [want]);
        // the entry count
        let mut q = p.clone();
        q.manifest.export_data_entries = entries + 1;
        let want = format!(
            "{DATA_AT}holds {entries} entries, the archive manifest says {}",
            entries + 1
        );
        assert_eq!(problems(q.tar()), [want]);
    }

    #[test]
    fn an_artifact_set_other_than_the_mode_says_is_a_problem() {
        let at = "a.tar: member genesis-archive.json: ";
        let p = Parts::tiny();
        let names = |p: &Parts| -> Vec<String> {
            p.manifest.artifacts().map(|(n, _)| n.to_string()).collect()
        };
        let export_manifest = |p: &mut Parts| {
            let n = names(p);
            let n: Vec<&str> = n.iter().map(String::as_str).collect();
            let mode = p.manifest.mode().unwrap();
            let em = export_manifest_bytes(p.manifest.initial_height, mode, &n);
            p.set(EXPORT_MANIFEST_MEMBER, em);
        };
        // labelled replay, holding the operational set
        let mut q = p.clone();
        q.manifest.artifact_mode = "replay".into();
        export_manifest(&mut q);
        let want =
            format!("{at}artifact_mode says replay, but the artifacts present make it operational");
        assert_eq!(problems(q.tar()), [want]);
        // a bundle missing: no mode holds this set
        let mut q = p.clone();
        let i = q.manifest.head_len();
        let gone = names(&q)[0].clone();
        q.manifest.members.remove(i);
        q.data.remove(i);
        export_manifest(&mut q);
        let want = format!("{at}1 artifact(s) required by every artifact mode are missing: {gone}");
        assert_eq!(problems(q.tar()), [want]);
    }

    #[test]
    fn an_end_marker_where_a_member_should_be_says_members_are_missing() {
        // the archive up to genesis.json, then its end
        let p = Parts::tiny();
        let mb = p.manifest.canonical_bytes().len() as u64;
        let g = p.manifest.members[0].size;
        let at = member_tar_bytes(MANIFEST_MEMBER, mb).unwrap()
            + member_tar_bytes(GENESIS_MEMBER, g).unwrap();
        let mut t = p.tar();
        t.truncate(at as usize);
        t.resize(t.len() + 2 * BLOCK, 0);
        let e = refused(open(t));
        assert_eq!(e, "a.tar: member swing-store/export-manifest.json: end-of-archive marker where this member should be: the archive is missing members");
    }
}
