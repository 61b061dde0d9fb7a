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
            self.first_problem
                .get_or_insert_with(|| format!("{}: not in Go-canonical encoding", kloc()));
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
}
