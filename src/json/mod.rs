//! Streaming JSON for genesis.json: no tree, memory bounded by the widest object's key
//! index (spilled to disk past [`canon::SPILL_KEYS`] keys or [`canon::SPILL_BYTES`] of
//! keys), never by the document or by the size of one value.
//!
//! * [`canon`]: the canonicaliser. Reads a seekable file, indexes each object's members
//!   (decoded key -> byte range of the value), emits them in bytewise key order by
//!   seeking; arrays, strings and numbers stream in chunks. Output is byte-identical to
//!   the tree-based form agar always wrote (kept in the tests as the reference): keys
//!   sorted bytewise, compact, jq's string escaping ([`write_string`]), number literals
//!   as serde_json's arbitrary-precision mode prints them ([`parse_number`]), a final newline;
//!   duplicate keys anywhere, invalid UTF-8, lone surrogates, nesting deeper than
//!   [`MAX_DEPTH`] are refused.
//! * [`walk`]: one streaming pass over a *canonical* document (an archive's genesis
//!   member) that checks it is canonical (keys strictly increasing, compact, canonical
//!   escapes and numbers), gathers the genesis [`Fields`] and, optionally, copies it to a
//!   writer while applying JSON-pointer edits (set / delete / insert at the sorted
//!   position) and an array-element hook: each element of the array at a chosen path is
//!   materialised as its canonical bytes (one element, small), handed to a callback that
//!   may replace it, and written back canonically. That hook is how pack streams the
//!   inline export data of old genesis files out, and how edits over arrays of hundreds of
//!   thousands of entries (validators, accounts) can work one element at a time.
//! * [`diff`]: a lockstep merge walk of two canonical documents.

pub mod canon;
pub mod diff;
pub mod walk;

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::error::{Error, Result};

/// Deepest nesting accepted (serde_json's recursion limit: 127 open arrays/objects).
pub const MAX_DEPTH: usize = 127;
/// Longest object key held in memory (decoded bytes). Real genesis keys are < 100 bytes.
pub const MAX_KEY_BYTES: usize = 1 << 20;
/// Longest captured text of a genesis field (chain_id, initial_height, ...).
pub const MAX_FIELD_BYTES: usize = 4096;

const BUF: usize = 1 << 20;

/// A buffered byte source that knows absolute offsets and can seek when `R: Seek`.
pub struct Input<R> {
    r: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    base: u64,
    eof: bool,
    pub(crate) loc: String,
    /// What an error says the input is not ("not valid JSON", "not canonical JSON").
    pub(crate) what: &'static str,
    /// Sees every byte consumed through [`Input::advance`] (the lax skipper's path).
    pub(crate) tap: Option<Tap>,
    /// Bytes the next read asks for: small after a seek (a member's value is often
    /// small), doubling up to the buffer while reading on.
    ahead: usize,
}

/// A consumed value's canonical bytes: the first [`walk::OLD_BYTES`], size, SHA-256.
pub struct Tap {
    pub head: Vec<u8>,
    pub size: u64,
    pub sha: sha2::Sha256,
}

impl Tap {
    pub fn new() -> Tap {
        Tap {
            head: Vec::new(),
            size: 0,
            sha: sha2::Digest::new(),
        }
    }
    fn feed(&mut self, b: &[u8]) {
        let room = walk::OLD_BYTES.saturating_sub(self.head.len());
        self.head.extend_from_slice(&b[..b.len().min(room)]);
        self.size += b.len() as u64;
        sha2::Digest::update(&mut self.sha, b);
    }
}

impl Default for Tap {
    fn default() -> Self {
        Tap::new()
    }
}

impl<R: Read> Input<R> {
    pub fn new(r: R, loc: &str) -> Self {
        Input {
            r,
            buf: vec![0; BUF],
            pos: 0,
            len: 0,
            base: 0,
            eof: false,
            loc: loc.to_string(),
            what: "not valid JSON",
            tap: None,
            ahead: BUF,
        }
    }

    #[inline]
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::invalid(
            &self.loc,
            format!("{}: {msg} at byte {}", self.what, self.offset()),
        )
    }

    fn io(&self, e: io::Error) -> Error {
        Error::io_at(&self.loc, e)
    }

    /// Read more after `len`, keeping `buf[keep..len]` (moved to the front).
    fn refill(&mut self, keep: usize) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if keep > 0 {
            self.buf.copy_within(keep..self.len, 0);
            self.base += keep as u64;
            self.pos -= keep;
            self.len -= keep;
        }
        let end = (self.len + self.ahead).min(self.buf.len());
        self.ahead = (self.ahead * 2).min(BUF);
        loop {
            match self.r.read(&mut self.buf[self.len..end]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io(e)),
            }
        }
    }

    /// Make sure at least `n` (≤ half the buffer) unread bytes are buffered, unless the
    /// input ends first. Returns the number available.
    pub fn ensure(&mut self, n: usize) -> Result<usize> {
        while self.len - self.pos < n {
            let keep = self.pos;
            if !self.refill(keep)? {
                break;
            }
        }
        Ok(self.len - self.pos)
    }

    #[inline]
    pub fn peek(&mut self) -> Result<Option<u8>> {
        if self.pos == self.len && !self.refill(self.pos)? {
            return Ok(None);
        }
        Ok(Some(self.buf[self.pos]))
    }

    /// The next byte, or an "unexpected end" error.
    #[inline]
    pub fn next_byte(&mut self) -> Result<u8> {
        match self.peek()? {
            Some(b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.err("unexpected end of input")),
        }
    }

    #[inline]
    pub fn expect(&mut self, b: u8) -> Result<()> {
        let c = self.next_byte()?;
        if c != b {
            self.pos -= 1;
            return Err(self.err(format!("expected {:?}, found {}", b as char, show(c))));
        }
        Ok(())
    }

    /// The unread buffered bytes (refilling if none).
    #[inline]
    pub fn chunk(&mut self) -> Result<&[u8]> {
        if self.pos == self.len {
            self.refill(self.pos)?;
        }
        Ok(&self.buf[self.pos..self.len])
    }

    #[inline]
    pub fn advance(&mut self, n: usize) {
        if let Some(t) = &mut self.tap {
            t.feed(&self.buf[self.pos..self.pos + n]);
        }
        self.pos += n;
    }

    /// Skip JSON whitespace.
    #[inline]
    pub fn ws(&mut self) -> Result<()> {
        loop {
            while self.pos < self.len {
                match self.buf[self.pos] {
                    b' ' | b'\n' | b'\r' | b'\t' => self.pos += 1,
                    _ => return Ok(()),
                }
            }
            if !self.refill(self.pos)? {
                return Ok(());
            }
        }
    }

    /// After a member or element: `,` (false) or the closing `close` (true).
    pub fn sep(&mut self, close: u8) -> Result<bool> {
        match self.next_byte()? {
            b',' => Ok(false),
            c if c == close => Ok(true),
            c => {
                self.pos -= 1;
                let what = if close == b'}' {
                    "an object"
                } else {
                    "an array"
                };
                Err(self.err(format!(
                    "expected ',' or '{}' in {what}, found {}",
                    close as char,
                    show(c)
                )))
            }
        }
    }

    pub fn at_eof(&mut self) -> Result<bool> {
        Ok(self.peek()?.is_none())
    }
}

impl<R: Read + Seek> Input<R> {
    /// Continue reading at absolute offset `at`.
    pub fn seek_to(&mut self, at: u64) -> Result<()> {
        if at >= self.base && at <= self.base + self.len as u64 {
            self.pos = (at - self.base) as usize;
            return Ok(());
        }
        self.r.seek(SeekFrom::Start(at)).map_err(|e| self.io(e))?;
        self.ahead = 4096;
        self.base = at;
        self.pos = 0;
        self.len = 0;
        self.eof = false;
        Ok(())
    }

    /// Keep the next `n` bytes in the buffer window (so seeks inside them are free).
    pub fn window(&mut self, n: usize) -> Result<()> {
        let n = n.min(BUF / 2);
        if self.len - self.pos < n {
            self.ensure(n)?;
        }
        Ok(())
    }
}

pub(crate) fn show(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("{:?}", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

/// A buffered writer that counts and hashes (optionally) what it writes.
pub struct Out<'a> {
    w: &'a mut dyn Write,
    buf: Vec<u8>,
    pub written: u64,
    sha: Option<sha2::Sha256>,
    loc: String,
}

impl<'a> Out<'a> {
    pub fn new(w: &'a mut dyn Write, loc: &str) -> Self {
        Out {
            w,
            buf: Vec::with_capacity(BUF + 4096),
            written: 0,
            sha: None,
            loc: loc.to_string(),
        }
    }
    pub fn hashing(mut self) -> Self {
        self.sha = Some(sha2::Digest::new());
        self
    }
    #[inline]
    pub fn push(&mut self, b: u8) -> Result<()> {
        self.buf.push(b);
        if self.buf.len() >= BUF {
            self.flush_buf()?;
        }
        Ok(())
    }
    #[inline]
    pub fn put(&mut self, b: &[u8]) -> Result<()> {
        if self.buf.len() + b.len() > BUF {
            self.flush_buf()?;
            if b.len() >= BUF {
                return self.raw(b);
            }
        }
        self.buf.extend_from_slice(b);
        Ok(())
    }
    fn raw(&mut self, b: &[u8]) -> Result<()> {
        if let Some(s) = &mut self.sha {
            sha2::Digest::update(s, b);
        }
        self.written += b.len() as u64;
        self.w.write_all(b).map_err(|e| Error::io_at(&self.loc, e))
    }
    fn flush_buf(&mut self) -> Result<()> {
        let b = std::mem::take(&mut self.buf);
        let r = self.raw(&b);
        self.buf = b;
        self.buf.clear();
        r
    }
    /// Flush; returns (bytes written, hex SHA-256 if hashing).
    pub fn finish(mut self) -> Result<(u64, Option<String>)> {
        self.flush_buf()?;
        self.w.flush().map_err(|e| Error::io_at(&self.loc, e))?;
        Ok((
            self.written,
            self.sha
                .take()
                .map(|s| hex::encode(sha2::Digest::finalize(s))),
        ))
    }
}

/// jq's escape for one byte of a decoded string: `None` = copy as is.
#[inline]
fn escape_of(c: u8) -> Option<&'static [u8]> {
    const T: [u8; 128] = {
        let mut t = [0u8; 128];
        let mut i = 0;
        while i < 0x20 {
            t[i] = 1;
            i += 1;
        }
        t[0x7f] = 1;
        t[b'"' as usize] = 1;
        t[b'\\' as usize] = 1;
        t
    };
    if c >= 0x80 || T[c as usize] == 0 {
        return None;
    }
    Some(match c {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        0x08 => b"\\b",
        b'\t' => b"\\t",
        b'\n' => b"\\n",
        0x0c => b"\\f",
        b'\r' => b"\\r",
        _ => &UESC[c as usize & 0x7f],
    })
}

const UESC: [[u8; 6]; 128] = {
    let hex = b"0123456789abcdef";
    let mut t = [[0u8; 6]; 128];
    let mut i = 0;
    while i < 128 {
        t[i] = [b'\\', b'u', b'0', b'0', hex[i >> 4], hex[i & 15]];
        i += 1;
    }
    t
};

/// Write a decoded (UTF-8) string's content with jq's escaping, without the quotes.
#[inline]
pub fn write_escaped(out: &mut Out, s: &[u8]) -> Result<()> {
    escape_with(s, |b| out.put(b))
}

/// [`write_escaped`] to any byte sink.
#[inline]
pub(crate) fn escape_with(s: &[u8], mut put: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let mut start = 0;
    loop {
        let i = start + unescaped_run(&s[start..]);
        put(&s[start..i])?;
        if i == s.len() {
            return Ok(());
        }
        put(escape_of(s[i]).expect("unescaped_run stops at an escape"))?;
        start = i + 1;
    }
}

/// Flags the bytes of `w` below 0x20.
#[inline]
fn control_bytes(w: u64) -> u64 {
    w.wrapping_sub(LO * 0x20) & !w & HI
}

/// Flags the bytes of `w` jq writes as an escape: control, `"`, `\\`, 0x7f.
#[inline]
fn escaped_bytes(w: u64) -> u64 {
    control_bytes(w) | eq_bytes(w, b'"') | eq_bytes(w, b'\\') | eq_bytes(w, 0x7f)
}

/// Bytes of `s` before the first one jq escapes ([`escape_of`]), 8 at a time.
#[inline]
fn unescaped_run(s: &[u8]) -> usize {
    swar_run(s, escaped_bytes, |b| escape_of(b).is_some())
}

/// Bytes of `s` before the first that is not plain ASCII in a string (class 0 of
/// [`SCLASS`]: not an escape, not non-ASCII), 8 at a time.
#[inline]
fn plain_run(s: &[u8]) -> usize {
    swar_run(
        s,
        |w| escaped_bytes(w) | (w & HI),
        |b| SCLASS[b as usize] != 0,
    )
}

/// Bytes of `s` before the first byte that `flags` marks (8 bytes at a time, see below)
/// or, in the last 7 bytes, that `stops` (the same test, one byte) accepts.
#[inline(always)]
pub(crate) fn swar_run(s: &[u8], flags: impl Fn(u64) -> u64, stops: impl Fn(u8) -> bool) -> usize {
    let mut i = 0;
    while i + 8 <= s.len() {
        let m = flags(word(s, i));
        if m != 0 {
            return i + first_flag(m);
        }
        i += 8;
    }
    while i < s.len() && !stops(s[i]) {
        i += 1;
    }
    i
}

/// A whole string with quotes, jq's escaping (the canonical form of a key or value).
pub fn write_string(out: &mut Out, s: &[u8]) -> Result<()> {
    out.push(b'"')?;
    write_escaped(out, s)?;
    out.push(b'"')
}

/// The canonical bytes of a small string (quoted), for keys and rendered values.
pub fn string_bytes(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 2);
    {
        let mut o = Out::new(&mut v, "string");
        // writing to a Vec cannot fail
        let _ = write_string(&mut o, s.as_bytes());
        let _ = o.finish();
    }
    v
}

// SWAR: eight bytes of a slice as one u64 (little-endian: byte k is bits 8k..8k+8) and
// per-byte tests on it. A test flags a byte with its 0x80 bit; a borrow can also flag
// bytes above (after) a flagged one, never before, so the lowest flag is always exact.
const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

#[inline]
fn word(s: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"))
}

/// Flags the zero bytes of `x`.
#[inline]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(LO) & !x & HI
}

/// Flags the bytes of `w` equal to `c`.
#[inline]
fn eq_bytes(w: u64, c: u8) -> u64 {
    zero_bytes(w ^ (LO * c as u64))
}

/// The index of the first flagged byte.
#[inline]
fn first_flag(m: u64) -> usize {
    (m.trailing_zeros() / 8) as usize
}

/// Byte classes inside a string: 0 plain ASCII, 1 quote, 2 backslash, 3 control,
/// 4 non-ASCII, 5 DEL (0x7f: jq escapes it).
const SCLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i < 0x20 {
            3
        } else if i == b'"' as usize {
            1
        } else if i == b'\\' as usize {
            2
        } else if i >= 0x80 {
            4
        } else if i == 0x7f {
            5
        } else {
            0
        };
        i += 1;
    }
    t
};

/// Where the decoded content of a string goes.
pub trait StrSink {
    /// Raw input bytes that are their own canonical form (plain ASCII or valid UTF-8).
    fn plain(&mut self, b: &[u8]) -> Result<()>;
    /// One decoded character that came from an escape (or needs one).
    fn ch(&mut self, c: char) -> Result<()>;
    /// A run of two-byte escapes that are their own canonical form (`\"`, `\\`, `\b`,
    /// `\f`, `\n`, `\r`, `\t`): a sink that writes canonical text can copy `raw` as it
    /// is. (JSON nested in strings, as in vstorage values, is mostly such runs.)
    fn escapes(&mut self, raw: &[u8]) -> Result<()> {
        for pair in raw.chunks_exact(2) {
            self.ch(unescape_short(pair[1]))?;
        }
        Ok(())
    }
}

/// The character a two-byte canonical escape (`\` then `e`) stands for.
#[inline]
fn unescape_short(e: u8) -> char {
    match e {
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        c => c as char, // '"' and '\\'
    }
}

/// Bytes of `s` that are a run of canonical two-byte escapes (see [`StrSink::escapes`]).
#[inline]
fn short_escapes(s: &[u8]) -> usize {
    let mut i = 0;
    while i + 1 < s.len()
        && s[i] == b'\\'
        && matches!(s[i + 1], b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't')
    {
        i += 2;
    }
    i
}

/// The decoded text a run of [`short_escapes`] stands for, appended to `out`.
pub(crate) fn unescape_run(raw: &[u8], out: &mut Captured) {
    for pair in raw.chunks_exact(2) {
        let mut tmp = [0u8; 4];
        out.text(unescape_short(pair[1]).encode_utf8(&mut tmp).as_bytes());
    }
}

/// Parse a JSON string strictly (the opening quote is next), feeding decoded content to
/// `sink`. With `canonical`, refuse any spelling other than jq's (escapes only where jq
/// writes them, `\u00xx` lowercase, raw 0x7f refused). Streams: any length.
pub fn parse_string<R: Read>(
    inp: &mut Input<R>,
    sink: &mut dyn StrSink,
    canonical: bool,
) -> Result<()> {
    inp.expect(b'"')?;
    loop {
        let chunk = inp.chunk()?;
        if chunk.is_empty() {
            return Err(inp.err("end of input inside a string"));
        }
        let i = plain_run(chunk);
        if i > 0 {
            // borrow dance: copy the run out through the sink
            let run = &inp.buf[inp.pos..inp.pos + i];
            sink.plain(run)?;
            inp.advance(i);
            continue;
        }
        let c = chunk[0];
        match SCLASS[c as usize] {
            1 => {
                inp.advance(1);
                return Ok(());
            }
            3 => return Err(inp.err(format!("control character {} in a string", show(c)))),
            5 => {
                if canonical {
                    return Err(inp.err("raw 0x7f in a string (canonical form writes \\u007f)"));
                }
                inp.advance(1);
                sink.ch('\u{7f}')?;
            }
            4 => {
                // a run of valid UTF-8 (and plain ASCII) up to the next byte that needs
                // a look: one check, one hand-over; what std's check stops at (invalid or
                // cut by the buffer's end) goes on to the one-character path below
                let run = unescaped_run(chunk);
                let v = match std::str::from_utf8(&chunk[..run]) {
                    Ok(_) => run,
                    Err(e) => e.valid_up_to(),
                };
                if v > 0 {
                    let run = &inp.buf[inp.pos..inp.pos + v];
                    sink.plain(run)?;
                    inp.advance(v);
                    continue;
                }
                let n = match c {
                    0xc2..=0xdf => 2,
                    0xe0..=0xef => 3,
                    0xf0..=0xf4 => 4,
                    _ => return Err(inp.err("invalid UTF-8 in a string")),
                };
                if inp.ensure(n)? < n {
                    return Err(inp.err("invalid UTF-8 in a string (truncated)"));
                }
                let seq = &inp.buf[inp.pos..inp.pos + n];
                if std::str::from_utf8(seq).is_err() {
                    return Err(inp.err("invalid UTF-8 in a string"));
                }
                // run of further valid non-ASCII / plain bytes is handled next loop
                let seq: [u8; 4] = {
                    let mut a = [0u8; 4];
                    a[..n].copy_from_slice(seq);
                    a
                };
                sink.plain(&seq[..n])?;
                inp.advance(n);
            }
            _ => {
                // backslash
                let k = short_escapes(chunk);
                if k > 0 {
                    let raw = &inp.buf[inp.pos..inp.pos + k];
                    sink.escapes(raw)?;
                    inp.advance(k);
                    continue;
                }
                one_escape(inp, sink, canonical)?;
            }
        }
    }
}

/// One escape (the backslash is next) other than a run of [`short_escapes`]: decoded and
/// handed to `sink`, refused where `canonical` and jq would spell it otherwise.
fn one_escape<R: Read>(inp: &mut Input<R>, sink: &mut dyn StrSink, canonical: bool) -> Result<()> {
    if inp.ensure(2)? < 2 {
        return Err(inp.err("end of input inside an escape"));
    }
    let e = inp.buf[inp.pos + 1];
    let ch = match e {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let u = hex4(inp, 2)?;
            if canonical {
                let ok = u < 0x20 && !matches!(u, 8 | 9 | 10 | 12 | 13) || u == 0x7f;
                let lower = inp.buf[inp.pos + 2..inp.pos + 6]
                    .iter()
                    .all(|b| !b.is_ascii_uppercase());
                if !ok || !lower {
                    return Err(inp.err("non-canonical \\u escape in a string"));
                }
            }
            let ch = if (0xd800..0xdc00).contains(&u) {
                if inp.ensure(12)? < 12
                    || inp.buf[inp.pos + 6] != b'\\'
                    || inp.buf[inp.pos + 7] != b'u'
                {
                    return Err(inp.err("lone leading surrogate in a \\u escape"));
                }
                let lo = hex4(inp, 8)?;
                if !(0xdc00..0xe000).contains(&lo) {
                    return Err(inp.err("invalid surrogate pair in a \\u escape"));
                }
                inp.advance(6);
                0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00)
            } else if (0xdc00..0xe000).contains(&u) {
                return Err(inp.err("lone trailing surrogate in a \\u escape"));
            } else {
                u
            };
            inp.advance(4);
            char::from_u32(ch).ok_or_else(|| inp.err("invalid \\u escape"))?
        }
        _ => return Err(inp.err("invalid escape in a string")),
    };
    if canonical && e != b'u' && !matches!(e, b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') {
        return Err(inp.err("non-canonical escape in a string"));
    }
    inp.advance(2);
    sink.ch(ch)?;
    Ok(())
}

fn hex4<R: Read>(inp: &mut Input<R>, at: usize) -> Result<u32> {
    if inp.ensure(at + 4)? < at + 4 {
        return Err(inp.err("end of input inside a \\u escape"));
    }
    let mut v = 0u32;
    for k in 0..4 {
        let d = match inp.buf[inp.pos + at + k] {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'a'..=b'f' => c - b'a' + 10,
            c @ b'A'..=b'F' => c - b'A' + 10,
            _ => return Err(inp.err("invalid \\u escape")),
        };
        v = v * 16 + d as u32;
    }
    Ok(v)
}

/// Writes a string's decoded content canonically to an [`Out`] (and, capped, to a capture).
pub struct EmitStr<'a, 'b> {
    pub out: Option<&'a mut Out<'b>>,
    pub cap: Option<&'a mut Captured>,
}

impl StrSink for EmitStr<'_, '_> {
    #[inline]
    fn plain(&mut self, b: &[u8]) -> Result<()> {
        if let Some(o) = &mut self.out {
            o.put(b)?;
        }
        if let Some(c) = &mut self.cap {
            c.text(b);
        }
        Ok(())
    }
    #[inline]
    fn ch(&mut self, ch: char) -> Result<()> {
        let mut tmp = [0u8; 4];
        let s = ch.encode_utf8(&mut tmp).as_bytes();
        if let Some(o) = &mut self.out {
            write_escaped(o, s)?;
        }
        if let Some(c) = &mut self.cap {
            c.text(s);
        }
        Ok(())
    }
    fn escapes(&mut self, raw: &[u8]) -> Result<()> {
        if let Some(o) = &mut self.out {
            o.put(raw)?;
        }
        if let Some(c) = &mut self.cap {
            unescape_run(raw, c);
        }
        Ok(())
    }
}

/// Collects a decoded string (a key), refusing more than `max` bytes.
pub struct KeySink<'a> {
    pub buf: &'a mut Vec<u8>,
    pub max: usize,
    pub too_long: bool,
}

impl StrSink for KeySink<'_> {
    fn plain(&mut self, b: &[u8]) -> Result<()> {
        if self.buf.len() + b.len() > self.max {
            self.too_long = true;
        } else {
            self.buf.extend_from_slice(b);
        }
        Ok(())
    }
    fn ch(&mut self, c: char) -> Result<()> {
        let mut tmp = [0u8; 4];
        self.plain(c.encode_utf8(&mut tmp).as_bytes())
    }
}

/// Parse a number strictly, writing serde_json's arbitrary-precision form to `put`: the
/// literal as written except that `E` becomes `e` and an unsigned exponent gets `+`.
/// With `canonical`, refuse an input that is not already in that form. Streams digits.
pub fn parse_number<R: Read>(
    inp: &mut Input<R>,
    put: &mut dyn FnMut(&[u8]) -> Result<()>,
    canonical: bool,
) -> Result<()> {
    if inp.peek()? == Some(b'-') {
        inp.advance(1);
        put(b"-")?;
    }
    match inp.peek()? {
        Some(b'0') => {
            inp.advance(1);
            put(b"0")?;
            if let Some(b'0'..=b'9') = inp.peek()? {
                return Err(inp.err("invalid number (leading zero)"));
            }
        }
        Some(b'1'..=b'9') => digits(inp, put)?,
        _ => return Err(inp.err("invalid number")),
    }
    if inp.peek()? == Some(b'.') {
        inp.advance(1);
        put(b".")?;
        if !matches!(inp.peek()?, Some(b'0'..=b'9')) {
            return Err(inp.err("invalid number (no digit after '.')"));
        }
        digits(inp, put)?;
    }
    if let Some(e @ (b'e' | b'E')) = inp.peek()? {
        if canonical && e == b'E' {
            return Err(inp.err("non-canonical number (exponent 'E')"));
        }
        inp.advance(1);
        put(b"e")?;
        match inp.peek()? {
            Some(s @ (b'+' | b'-')) => {
                inp.advance(1);
                put(&[s])?;
            }
            _ => {
                if canonical {
                    return Err(inp.err("non-canonical number (exponent without sign)"));
                }
                put(b"+")?;
            }
        }
        if !matches!(inp.peek()?, Some(b'0'..=b'9')) {
            return Err(inp.err("invalid number (no digit in the exponent)"));
        }
        digits(inp, put)?;
    }
    Ok(())
}

fn digits<R: Read>(inp: &mut Input<R>, put: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
    loop {
        let c = inp.chunk()?;
        let n = c.iter().take_while(|b| b.is_ascii_digit()).count();
        if n > 0 {
            put(&inp.buf[inp.pos..inp.pos + n])?;
            inp.advance(n);
        }
        if n == 0 || inp.pos < inp.len {
            return Ok(());
        }
    }
}

/// Parse one of `true`, `false`, `null` (the first byte is next).
pub fn parse_literal<R: Read>(inp: &mut Input<R>) -> Result<&'static [u8]> {
    let want: &'static [u8] = match inp.peek()? {
        Some(b't') => b"true",
        Some(b'f') => b"false",
        _ => b"null",
    };
    let n = inp.ensure(want.len())?;
    if n < want.len() || &inp.buf[inp.pos..inp.pos + want.len()] != want {
        return Err(inp.err("expected a JSON value"));
    }
    inp.advance(want.len());
    Ok(want)
}

/// Refuse nesting deeper than [`MAX_DEPTH`].
pub(crate) fn check_depth<R: Read>(inp: &Input<R>, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(inp.err(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    Ok(())
}

/// A literal (`true`, `false`, `null`) written to `put` and captured in its slot.
pub(crate) fn literal<R: Read>(
    inp: &mut Input<R>,
    fields: &mut Fields,
    slot: Option<Slot>,
    put: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<Kind> {
    let lit = parse_literal(inp)?;
    put(lit)?;
    let k = if lit == b"null" {
        Kind::Null
    } else {
        Kind::Bool
    };
    if let Some(s) = slot {
        fields.slot_mut(s, k).text(lit);
    }
    Ok(k)
}

/// The JSON type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
            Kind::Object => "an object",
        }
    }
}

/// A scalar gathered in passing: its type, its text (decoded string or number literal,
/// up to [`MAX_FIELD_BYTES`]) and, for an array, its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    pub kind: Kind,
    pub text: Vec<u8>,
    pub truncated: bool,
    pub items: u64,
}

impl Captured {
    pub fn new(kind: Kind) -> Self {
        Captured {
            kind,
            text: Vec::new(),
            truncated: false,
            items: 0,
        }
    }
    #[inline]
    fn text(&mut self, b: &[u8]) {
        if self.text.len() + b.len() > MAX_FIELD_BYTES {
            self.truncated = true;
        } else {
            self.text.extend_from_slice(b);
        }
    }
    /// The text, if complete and valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        if self.truncated {
            return None;
        }
        std::str::from_utf8(&self.text).ok()
    }
}

/// Which genesis fields a member is, by its position in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    ChainId,
    InitialHeight,
    GenesisTime,
    AppState,
    Swingset,
    HashSnake,
    HashCamel,
    DataSnake,
    DataCamel,
}

/// Where an object sits, as far as the genesis fields are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    Root,
    AppState,
    Swingset,
    Other,
}

impl Ctx {
    /// The context and slot of member `key` of an object in context `self`.
    #[inline]
    pub fn child(self, key: &[u8]) -> (Ctx, Option<Slot>) {
        match (self, key) {
            (Ctx::Root, b"chain_id") => (Ctx::Other, Some(Slot::ChainId)),
            (Ctx::Root, b"initial_height") => (Ctx::Other, Some(Slot::InitialHeight)),
            (Ctx::Root, b"genesis_time") => (Ctx::Other, Some(Slot::GenesisTime)),
            (Ctx::Root, b"app_state") => (Ctx::AppState, Some(Slot::AppState)),
            (Ctx::AppState, b"swingset") => (Ctx::Swingset, Some(Slot::Swingset)),
            (Ctx::Swingset, b"swing_store_export_data_hash") => (Ctx::Other, Some(Slot::HashSnake)),
            (Ctx::Swingset, b"swingStoreExportDataHash") => (Ctx::Other, Some(Slot::HashCamel)),
            (Ctx::Swingset, b"swing_store_export_data") => (Ctx::Other, Some(Slot::DataSnake)),
            (Ctx::Swingset, b"swingStoreExportData") => (Ctx::Other, Some(Slot::DataCamel)),
            _ => (Ctx::Other, None),
        }
    }
}

/// The genesis fields gathered while canonicalising or checking a document.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    pub root: Option<Kind>,
    slots: [Option<Captured>; 9],
}

impl Fields {
    pub fn get(&self, s: Slot) -> Option<&Captured> {
        self.slots[s as usize].as_ref()
    }
    pub(crate) fn clear(&mut self, s: Slot) {
        self.slots[s as usize] = None;
    }
    pub(crate) fn slot_mut(&mut self, s: Slot, kind: Kind) -> &mut Captured {
        let e = &mut self.slots[s as usize];
        *e = Some(Captured::new(kind));
        e.as_mut().expect("just set")
    }
}

/// Copy a reader to a writer in large chunks.
pub fn copy(r: &mut dyn Read, w: &mut dyn Write, loc: &str) -> Result<u64> {
    let mut buf = vec![0u8; BUF];
    let mut n = 0u64;
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io_at(loc, e)),
        };
        w.write_all(&buf[..k]).map_err(|e| Error::io_at(loc, e))?;
        n += k as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse a string literal at the start of `bytes`: the decoded text or the error,
    /// and the byte after the string (None at the end or after an error).
    fn parse_in(
        bytes: &[u8],
        canonical: bool,
    ) -> (std::result::Result<Vec<u8>, String>, Option<u8>) {
        let mut inp = Input::new(io::Cursor::new(bytes.to_vec()), "t");
        let mut key = Vec::new();
        let mut sink = KeySink {
            buf: &mut key,
            max: usize::MAX,
            too_long: false,
        };
        match parse_string(&mut inp, &mut sink, canonical) {
            Ok(()) => (Ok(key), inp.peek().unwrap()),
            Err(e) => (Err(e.to_string()), None),
        }
    }

    /// Decode one string literal (and what follows it must be left unread).
    fn decode(lit: &[u8], canonical: bool) -> std::result::Result<Vec<u8>, String> {
        let mut doc = lit.to_vec();
        doc.push(b',');
        let (r, next) = parse_in(&doc, canonical);
        if r.is_ok() {
            assert_eq!(next, Some(b','), "stops after the closing quote");
        }
        r
    }

    /// The same decoded bytes through a sink that writes the canonical form.
    fn emit(lit: &[u8]) -> Vec<u8> {
        let mut inp = Input::new(io::Cursor::new(lit.to_vec()), "t");
        let mut w = Vec::new();
        let mut cap = Captured::new(Kind::String);
        {
            let mut out = Out::new(&mut w, "t");
            let mut sink = EmitStr {
                out: Some(&mut out),
                cap: Some(&mut cap),
            };
            parse_string(&mut inp, &mut sink, false).unwrap();
            out.finish().unwrap();
        }
        assert_eq!(cap.text, decode(lit, false).unwrap(), "capture = decoded");
        w
    }

    fn literal(g: &mut u64, n: usize) -> Vec<u8> {
        const PIECES: [&[u8]; 30] = [
            b"a",
            b"Z",
            b"\\\"",
            b"\\\\",
            b"\\/",
            b"\\n",
            b"\\t",
            b"\\r",
            b"\\b",
            b"\\f",
            b"\\u0001",
            b"\\u001F",
            b"\\u001f",
            b"\\u00e9",
            b"\\u0041",
            b"\\ud83d\\ude00",
            b"\\ud800",
            b"\\udc00",
            b"\\ud83d\\u0041",
            b"\\x",
            b"\\u12",
            b"\x7f",
            b"\\u007f",
            "é😀\u{2028}".as_bytes(),
            b"\xff",
            b"\xc3",
            b"\xed\xa0\x80",
            b"\x01",
            b"\\\\\\\"",
            b"<&>",
        ];
        let mut s = vec![b'"'];
        for _ in 0..n {
            *g ^= *g << 13;
            *g ^= *g >> 7;
            *g ^= *g << 17;
            s.extend_from_slice(PIECES[(*g % 30) as usize]);
        }
        s.push(b'"');
        s
    }

    #[test]
    fn strings_decode_as_serde_json_does_and_canonical_means_jqs_spelling() {
        let mut g = 0x2545_f491_4f6c_dd1d_u64;
        let (mut ok, mut bad, mut canon) = (0, 0, 0);
        for i in 0..6_000 {
            let lit = literal(&mut g, i % 9);
            let reference = serde_json::from_slice::<String>(&lit);
            let got = decode(&lit, false);
            match (&reference, &got) {
                (Ok(r), Ok(d)) => {
                    assert_eq!(r.as_bytes(), &d[..], "{:?}", String::from_utf8_lossy(&lit));
                    ok += 1;
                    // the canonical form: jq's escaping of the decoded text, and only it
                    // passes the canonical check
                    let c = string_bytes(r);
                    assert_eq!(emit(&lit), &c[1..c.len() - 1]);
                    let strict = decode(&lit, true);
                    assert_eq!(
                        strict.is_ok(),
                        lit == c,
                        "{:?}",
                        String::from_utf8_lossy(&lit)
                    );
                    canon += usize::from(strict.is_ok());
                    assert_eq!(decode(&c, true).unwrap(), r.as_bytes());
                }
                (Err(_), Err(_)) => bad += 1,
                _ => panic!(
                    "serde_json {reference:?}, agar {got:?} on {:?}",
                    String::from_utf8_lossy(&lit)
                ),
            }
        }
        assert!(ok > 600 && bad > 600 && canon > 150, "{ok} {bad} {canon}");
    }

    #[test]
    fn escapes_are_jqs() {
        let all: String = (0u8..0x80).map(char::from).collect();
        let mut want = String::from("\"");
        for c in all.chars() {
            match c {
                '"' => want.push_str("\\\""),
                '\\' => want.push_str("\\\\"),
                '\u{8}' => want.push_str("\\b"),
                '\t' => want.push_str("\\t"),
                '\n' => want.push_str("\\n"),
                '\u{c}' => want.push_str("\\f"),
                '\r' => want.push_str("\\r"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    want.push_str(&format!("\\u{:04x}", c as u32))
                }
                c => want.push(c),
            }
        }
        want.push('"');
        assert_eq!(String::from_utf8(string_bytes(&all)).unwrap(), want);
        assert_eq!(string_bytes("é😀\u{2028}"), "\"é😀\u{2028}\"".as_bytes());
    }

    #[test]
    fn short_escape_runs_are_exactly_the_canonical_two_byte_escapes() {
        assert_eq!(short_escapes(b"\\\"\\\\\\b\\f\\n\\r\\tx"), 14);
        assert_eq!(
            short_escapes(b"\\n\\"),
            2,
            "a backslash at the end waits for more"
        );
        assert_eq!(short_escapes(b"\\"), 0);
        assert_eq!(short_escapes(b"\\/"), 0, "not canonical");
        assert_eq!(short_escapes(b"\\u0041"), 0);
        assert_eq!(short_escapes(b"a\\n"), 0);
        assert_eq!(short_escapes(b""), 0);
    }

    /// Counts how the content is handed over.
    #[derive(Default)]
    struct Calls {
        plain: usize,
        escapes: usize,
        text: Vec<u8>,
    }

    impl StrSink for Calls {
        fn plain(&mut self, b: &[u8]) -> Result<()> {
            self.plain += 1;
            self.text.extend_from_slice(b);
            Ok(())
        }
        fn ch(&mut self, c: char) -> Result<()> {
            let mut tmp = [0u8; 4];
            self.text
                .extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            Ok(())
        }
        fn escapes(&mut self, raw: &[u8]) -> Result<()> {
            self.escapes += 1;
            for pair in raw.chunks_exact(2) {
                self.ch(unescape_short(pair[1]))?;
            }
            Ok(())
        }
    }

    fn calls(lit: &[u8]) -> Calls {
        let mut c = Calls::default();
        let mut inp = Input::new(io::Cursor::new(lit.to_vec()), "t");
        parse_string(&mut inp, &mut c, false).unwrap();
        c
    }

    #[test]
    fn runs_of_text_and_of_escapes_are_handed_over_whole() {
        let c = calls("\"é😀\u{2028}ab é\"".as_bytes());
        assert_eq!(
            (c.plain, c.text),
            (1, "é😀\u{2028}ab é".as_bytes().to_vec())
        );
        let c = calls(b"\"\\\"\\\\\\n\\\"x\"");
        assert_eq!((c.escapes, c.plain), (1, 1));
        assert_eq!(c.text, b"\"\\\n\"x");
    }

    #[test]
    fn a_character_cut_by_the_read_buffer_is_read_whole() {
        // every multi-byte length, cut after each of its bytes by the 1 MiB buffer
        for ch in ["é", "€", "😀"] {
            for cut in 1..ch.len() {
                let mut lit = vec![b'"'];
                lit.resize(BUF - cut, b'a');
                lit.extend_from_slice(ch.as_bytes());
                lit.extend_from_slice("é\"".as_bytes());
                let got = decode(&lit, false).unwrap();
                let want = &lit[1..lit.len() - 1];
                let diff = got.iter().zip(want).position(|(a, b)| a != b);
                assert!(
                    got.len() == want.len() && diff.is_none(),
                    "{ch} cut after {cut}: {} vs {} bytes, first difference at {diff:?}",
                    got.len(),
                    want.len()
                );
                // and a broken one at the same place is refused, at its first byte
                let mut bad = lit.clone();
                bad[BUF - cut + 1] = b'a';
                let e = decode(&bad, false).unwrap_err();
                assert!(
                    e.contains(&format!("invalid UTF-8 in a string at byte {}", BUF - cut)),
                    "{e}"
                );
                // or cut short (decode puts a ',' after it: not a continuation byte, and
                // the input may end before the character's length)
                let short = &lit[..BUF - cut + 1];
                let e = decode(short, false).unwrap_err();
                assert!(e.contains("invalid UTF-8 in a string"), "{e}");
                assert!(e.ends_with(&format!("at byte {}", BUF - cut)), "{e}");
            }
        }
    }

    /// Parse a string literal that may be cut short: the decoded text or the error.
    fn parse_raw(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
        parse_in(bytes, false).0
    }

    /// `"` and `a`s up to `at`, then `tail`: `tail` starts at byte `at` (the 1 MiB read
    /// buffer ends at BUF).
    fn at(at: usize, tail: &[u8]) -> Vec<u8> {
        let mut v = vec![b'"'];
        v.resize(at, b'a');
        v.extend_from_slice(tail);
        v
    }

    #[test]
    fn escapes_and_characters_across_the_buffer_end_and_at_the_input_end() {
        // every escape whose backslash is the buffer's last byte
        for (esc, want) in [
            (&b"\\\""[..], "\""),
            (b"\\\\", "\\"),
            (b"\\/", "/"),
            (b"\\b", "\u{8}"),
            (b"\\f", "\u{c}"),
            (b"\\n", "\n"),
            (b"\\r", "\r"),
            (b"\\t", "\t"),
            (b"\\u0041", "A"),
        ] {
            let mut lit = at(BUF - 1, esc);
            lit.push(b'"');
            let got = parse_raw(&lit).unwrap();
            assert_eq!(
                &got[BUF - 2..],
                want.as_bytes(),
                "{}",
                String::from_utf8_lossy(esc)
            );
        }
        // complete at the input's end, no closing quote: the string is what is missing
        let e = parse_raw(&at(BUF - 1, b"\\n")).unwrap_err();
        assert!(e.contains("end of input inside a string"), "{e}");
        for tail in ["é".as_bytes(), &b"\\u0041"[..], &b"\\ud83d\\ude00"[..]] {
            for start in [BUF - 1, 10] {
                let e = parse_raw(&at(start, tail)).unwrap_err();
                assert!(e.contains("end of input inside a string"), "{e}");
            }
        }
        // a leading surrogate followed by anything but a \u escape is alone, even when
        // hex digits follow
        for lit in [&b"\"\\ud800abcdefgh\""[..], b"\"\\ud800\\nabcdef\""] {
            let e = parse_raw(lit).unwrap_err();
            assert!(
                e.contains("lone leading surrogate in a \\u escape at byte 1"),
                "{e}"
            );
        }
        // the canonical \u escapes are exactly the control characters jq writes so
        for (u, ok) in [
            (0x1f, true),
            (0x20, false),
            (0x7f, true),
            (0x7e, false),
            (0x0a, false),
        ] {
            let lit = format!("\"\\u{u:04x}\"");
            let mut inp = Input::new(io::Cursor::new(lit.clone().into_bytes()), "t");
            let mut key = Vec::new();
            let mut sink = KeySink {
                buf: &mut key,
                max: 8,
                too_long: false,
            };
            assert_eq!(parse_string(&mut inp, &mut sink, true).is_ok(), ok, "{lit}");
        }
        // a \u escape or a surrogate pair cut by the input's end
        let e = parse_raw(&at(10, b"\\u004")).unwrap_err();
        assert!(
            e.contains("end of input inside a \\u escape at byte 10"),
            "{e}"
        );
        let e = parse_raw(&at(10, b"\\ud83d\\ude0")).unwrap_err();
        assert!(
            e.contains("lone leading surrogate in a \\u escape at byte 10"),
            "{e}"
        );
        // cut by the input's end: the escape or the character is what is missing
        let e = parse_raw(&at(BUF - 1, b"\\")).unwrap_err();
        assert!(
            e.contains(&format!(
                "end of input inside an escape at byte {}",
                BUF - 1
            )),
            "{e}"
        );
        let e = parse_raw(&at(BUF - 1, &"€".as_bytes()[..2])).unwrap_err();
        assert!(
            e.contains(&format!(
                "invalid UTF-8 in a string (truncated) at byte {}",
                BUF - 1
            )),
            "{e}"
        );
    }
}
