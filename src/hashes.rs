//! The swing-store hashes (spec §4) and a streaming checker that validates an artifact's
//! bytes against its export-data record while they flow past.

use std::io::Read;

use sha2::{Digest, Sha256, Sha512};

use crate::model::{ArtifactName, ArtifactRecord, SpanRecord};

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `hex(sha256("start of transcript span"))` (spec §4.1).
pub const SPAN_INITIAL_HASH: &str =
    "43e6be43a3a34d60c0ebeb8498b5849b094fc20fc68483a7aeb3624fa10f79f6";

/// The transcript span hash chain (spec §4.1), fed one item at a time: it starts at
/// [`SPAN_INITIAL_HASH`] and each item makes it `hex(sha256(hex(prev) || hex(sha256(item))))`.
/// The one implementation of the chain (pack's checker, the importer, edit's
/// artifact-replace all use it).
#[derive(Debug, Clone)]
pub struct SpanHasher {
    chain: String,
}

impl Default for SpanHasher {
    fn default() -> Self {
        SpanHasher {
            chain: SPAN_INITIAL_HASH.to_string(),
        }
    }
}

impl SpanHasher {
    pub fn new() -> SpanHasher {
        SpanHasher::default()
    }
    /// Chain one whole item.
    pub fn push(&mut self, item: &[u8]) {
        self.push_digest(Sha256::digest(item));
    }
    /// Chain one item whose SHA-256 was computed while it streamed past.
    pub fn push_digest(&mut self, item_sha256: impl AsRef<[u8]>) {
        let mut h = Sha256::new();
        h.update(self.chain.as_bytes());
        h.update(hex::encode(item_sha256).as_bytes());
        self.chain = hex::encode(h.finalize());
    }
    /// The span hash of the items so far (hex).
    pub fn hex(&self) -> &str {
        &self.chain
    }
}

/// The span hash of a whole list of items.
pub fn span_hash<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut h = SpanHasher::new();
    for it in items {
        h.push(it);
    }
    h.chain
}

/// Whether `c` is removed by JS `String.prototype.trimEnd` (WhiteSpace + LineTerminator).
pub fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{9}' | '\u{a}' | '\u{b}' | '\u{c}' | '\u{d}' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// `JSON.stringify` of a string (spec §7.1, ES2019), for valid Unicode input.
pub fn js_stringify_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// SQLite's largest TEXT or BLOB value (`SQLITE_MAX_LENGTH`, 1e9 bytes: the bundled
/// SQLite's default, and better-sqlite3's, so the official importer's too). A transcript
/// item or a b1 bundle longer than this cannot be imported: verify refuses what explode
/// could not insert, with the same words.
pub const SQLITE_MAX_LENGTH: u64 = 1_000_000_000;

/// Largest transcript item accepted (32 MiB). explode holds an item whole to insert it
/// (SQLite takes a TEXT value whole, and copies it while it writes the row), as the
/// official importer does (a JS string), so this bounds explode's memory whatever an
/// archive declares, as [`MAX_B0_BUNDLE_BYTES`] does for b0 bundles. Real items are a
/// delivery or a syscall with its capdata: kilobytes, at most a few MB.
pub const MAX_TRANSCRIPT_ITEM_BYTES: u64 = 32 << 20;

/// Why a transcript item of `len` bytes at `pos` is refused, if it is: verify, pack and
/// explode apply the same rule with the same words.
pub fn transcript_item_problem(pos: u64, len: u64) -> Option<String> {
    (len > MAX_TRANSCRIPT_ITEM_BYTES).then(|| {
        format!(
            "item at position {pos} is longer than {MAX_TRANSCRIPT_ITEM_BYTES} bytes, agar's limit for one transcript item (explode holds an item whole to insert it; real items are at most a few MB)"
        )
    })
}

/// Why a bundle blob of `size` bytes cannot be imported, if it cannot.
pub fn sqlite_blob_problem(size: u64) -> Option<String> {
    (size > SQLITE_MAX_LENGTH)
        .then(|| format!("{size} bytes is more than SQLite's {SQLITE_MAX_LENGTH}-byte value limit"))
}

/// Largest b0 bundle accepted. Real b0 bundles are a few MB; the importer holds one
/// whole (as a JS string and a SQLite TEXT value), so explode does too, and this bounds it.
pub const MAX_B0_BUNDLE_BYTES: u64 = 64 << 20;

/// Validate a b0 bundle text as the official importer does (spec §4.3): parse it,
/// rebuild `{moduleFormat, source, sourceMap}` in that order with `JSON.stringify`, and
/// require that text to be the artifact itself and to hash to the ID. Returns the
/// problem, if any. (The streaming [`B0Check`] does the work; this is for a text in
/// memory.)
pub fn check_b0(id_hex: &str, text: &[u8]) -> Result<(), String> {
    let mut c = B0Check::default();
    c.update(text);
    c.finish()?;
    let got = sha256_hex(text);
    if got != id_hex {
        return Err(format!("b0 bundle hashes to b0-{got}, not its ID"));
    }
    Ok(())
}

const B0_FORMAT_KEY: &[u8] = b"{\"moduleFormat\":\"";
const B0_SOURCE_KEY: &[u8] = b"\",\"source\":\"";
const B0_MAP_KEY: &[u8] = b",\"sourceMap\":\"";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum B0State {
    /// Matching a fixed byte string (`lit`, at `pos`), then going on to `then`.
    Lit(u8, usize),
    /// Inside `moduleFormat`'s value.
    Format,
    /// Inside a string value (0: source, 1: sourceMap).
    Str(u8),
    /// After the closing quote of `source`: `}` or `,"sourceMap":"`.
    AfterSource,
    /// After the closing quote of `sourceMap`: `}`.
    AfterMap,
    End,
    Bad,
}

/// A streaming b0 bundle check (spec §4.3): the importer parses the text and requires
/// it to equal `JSON.stringify({moduleFormat, source, sourceMap})` of what it parsed,
/// so exactly the texts of that form pass. That form has one spelling, so it is checked
/// as a grammar while the bytes flow past, in constant memory, without a JSON tree:
/// `{"moduleFormat":"nestedEvaluate","source":"<s>"` then `}` or
/// `,"sourceMap":"<s>"}`, where `<s>` is valid UTF-8 in `JSON.stringify`'s escaping
/// (`\"` `\\` `\b` `\f` `\n` `\r` `\t`, other U+0000-U+001F as `\u00xx` lowercase,
/// everything else raw).
#[derive(Debug, Clone)]
pub struct B0Check {
    state: B0State,
    format: Vec<u8>,
    /// Inside a string: escape progress (0: none, 1: after `\\`, 2..: in `\u00xx`).
    esc: u8,
    esc_hi: u8,
    /// UTF-8: continuation bytes still expected, and the allowed range of the next one.
    utf8_left: u8,
    utf8_lo: u8,
    utf8_hi: u8,
    at: u64,
    problem: Option<String>,
}

impl Default for B0Check {
    fn default() -> Self {
        B0Check {
            state: B0State::Lit(0, 0),
            format: Vec::new(),
            esc: 0,
            esc_hi: 0,
            utf8_left: 0,
            utf8_lo: 0x80,
            utf8_hi: 0xbf,
            at: 0,
            problem: None,
        }
    }
}

const B0_NOT_CANONICAL: &str = "b0 bundle text is not in the canonical {moduleFormat,source,sourceMap} JSON.stringify form the importer rebuilds";

impl B0Check {
    fn fail(&mut self, why: String) {
        if self.problem.is_none() {
            self.problem = Some(why);
        }
        self.state = B0State::Bad;
    }

    fn lit(which: u8) -> &'static [u8] {
        match which {
            0 => B0_FORMAT_KEY,
            1 => B0_SOURCE_KEY,
            _ => B0_MAP_KEY,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            if self.state == B0State::Bad {
                return;
            }
            self.byte(b);
            self.at += 1;
        }
    }

    fn byte(&mut self, b: u8) {
        match self.state {
            B0State::Lit(which, pos) => {
                let lit = Self::lit(which);
                if lit[pos] != b {
                    let why = if which == 0 {
                        "b0 bundle does not start with {\"moduleFormat\":\"...\" (not valid JSON, not an object, or not in the canonical form the importer rebuilds)".to_string()
                    } else {
                        format!("{B0_NOT_CANONICAL} (at byte {})", self.at)
                    };
                    return self.fail(why);
                }
                self.state = if pos + 1 < lit.len() {
                    B0State::Lit(which, pos + 1)
                } else {
                    match which {
                        0 => B0State::Format,
                        1 => B0State::Str(0),
                        _ => B0State::Str(1),
                    }
                };
            }
            B0State::Format => {
                if b == b'"' {
                    if self.format != b"nestedEvaluate" {
                        let f = String::from_utf8_lossy(&self.format).into_owned();
                        return self.fail(format!(
                            "unsupported b0- module format {f:?} (must be \"nestedEvaluate\")"
                        ));
                    }
                    self.state = B0State::Lit(1, 1);
                } else if self.format.len() >= 64 || b == b'\\' || b < 0x20 {
                    let f = String::from_utf8_lossy(&self.format).into_owned();
                    self.fail(format!(
                        "unsupported b0- module format {f:?}... (must be \"nestedEvaluate\")"
                    ))
                } else {
                    self.format.push(b);
                }
            }
            B0State::Str(which) => self.string_byte(which, b),
            B0State::AfterSource => match b {
                b'}' => self.state = B0State::End,
                b',' => self.state = B0State::Lit(2, 1),
                _ => self.fail(format!("{B0_NOT_CANONICAL} (at byte {})", self.at)),
            },
            B0State::AfterMap => match b {
                b'}' => self.state = B0State::End,
                _ => self.fail(format!("{B0_NOT_CANONICAL} (at byte {})", self.at)),
            },
            B0State::End => self.fail(format!(
                "{B0_NOT_CANONICAL} (data after the closing brace, at byte {})",
                self.at
            )),
            B0State::Bad => {}
        }
    }

    fn string_byte(&mut self, which: u8, b: u8) {
        let bad = |c: &mut Self, what: &str| {
            let why = format!("{B0_NOT_CANONICAL} ({what} at byte {})", c.at);
            c.fail(why)
        };
        if self.utf8_left > 0 {
            if b < self.utf8_lo || b > self.utf8_hi {
                return bad(self, "invalid UTF-8");
            }
            self.utf8_left -= 1;
            self.utf8_lo = 0x80;
            self.utf8_hi = 0xbf;
            return;
        }
        match self.esc {
            0 => {}
            1 => {
                self.esc = 0;
                match b {
                    b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => self.esc = 2,
                    _ => bad(self, "an escape JSON.stringify does not write"),
                }
                return;
            }
            2 | 3 => {
                // `\u00`
                if b != b'0' {
                    return bad(self, "a \\u escape JSON.stringify does not write");
                }
                self.esc += 1;
                return;
            }
            4 => {
                if b != b'0' && b != b'1' {
                    return bad(self, "a \\u escape JSON.stringify does not write");
                }
                self.esc_hi = b - b'0';
                self.esc = 5;
                return;
            }
            _ => {
                self.esc = 0;
                let lo = match b {
                    b'0'..=b'9' => b - b'0',
                    b'a'..=b'f' => b - b'a' + 10,
                    _ => return bad(self, "a \\u escape JSON.stringify does not write"),
                };
                let c = self.esc_hi * 16 + lo;
                // these have short forms, which JSON.stringify uses
                if matches!(c, 8 | 9 | 10 | 12 | 13) {
                    return bad(self, "a \\u escape where JSON.stringify writes a short one");
                }
                return;
            }
        }
        match b {
            b'"' => {
                self.state = if which == 0 {
                    B0State::AfterSource
                } else {
                    B0State::AfterMap
                }
            }
            b'\\' => self.esc = 1,
            0..=0x1f => bad(self, "a raw control character"),
            0x20..=0x7f => {}
            0xc2..=0xdf => self.utf8_left = 1,
            0xe0 => (self.utf8_left, self.utf8_lo) = (2, 0xa0),
            0xed => (self.utf8_left, self.utf8_hi) = (2, 0x9f),
            0xe1..=0xef => self.utf8_left = 2,
            0xf0 => (self.utf8_left, self.utf8_lo) = (3, 0x90),
            0xf4 => (self.utf8_left, self.utf8_hi) = (3, 0x8f),
            0xf1..=0xf3 => self.utf8_left = 3,
            _ => bad(self, "invalid UTF-8"),
        }
    }

    /// The problem, if the text seen is not a complete canonical b0 bundle.
    pub fn finish(&self) -> Result<(), String> {
        if let Some(p) = &self.problem {
            return Err(p.clone());
        }
        if self.state != B0State::End {
            return Err(format!(
                "b0 bundle is not valid JSON: the text ends early (after {} bytes)",
                self.at
            ));
        }
        Ok(())
    }
}

/// Validate a b1 (endoZipBase64) bundle zip (spec §4.3) read as a stream: STORED entries
/// with valid CRCs, at least two entries, SHA-512 of `compartment-map.json` equal to the
/// ID, every module file's SHA-512 as listed in the map, and no extraneous files. See
/// [`B1Checker`].
pub fn check_b1<R: Read>(id_hex: &str, mut zip_bytes: R) -> Result<(), String> {
    let mut c = B1Checker::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = zip_bytes
            .read(&mut buf)
            .map_err(|e| format!("b1 bundle: {e}"))?;
        if n == 0 {
            break;
        }
        c.update(&buf[..n]);
    }
    c.finish(Some(id_hex)).map(|_| ())
}

/// Most entries a b1 zip may have (a zip without zip64 records counts them in 16 bits).
const B1_MAX_ENTRIES: usize = 0xffff;
/// Most bytes of entry names a b1 zip may have in all (memory bound).
const B1_MAX_NAME_BYTES: usize = 16 << 20;
/// Largest `compartment-map.json` (held in memory to parse it).
const B1_MAX_CMAP_BYTES: usize = 64 << 20;

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const SIG_ZIP64_EOCD: u32 = 0x0606_4b50;
const SIG_ZIP64_LOCATOR: u32 = 0x0706_4b50;

/// One local entry as read from the stream.
struct B1Entry {
    offset: u64,
    name: String,
    crc: u32,
    size: u32,
    sha512: String,
    in_central: bool,
}

/// The entry whose data is streaming: its name and CRC from the local header, the hashes
/// so far, and the bytes when it is `compartment-map.json`.
struct B1Data {
    name: String,
    crc: u32,
    sha512: Sha512,
    got_crc: flate2::Crc,
    keep: Option<Vec<u8>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum B1State {
    /// waiting for a 4-byte signature
    Sig,
    /// a local header: the 26 bytes after the signature, then name and extra
    LocalHead,
    LocalNames(usize, usize),
    /// entry data, this many bytes left
    Data(u64),
    /// a central directory record: 42 bytes, then name, extra and comment
    CentralHead,
    CentralNames(usize, usize, usize),
    /// the end-of-central-directory record: 18 bytes, then the comment
    EocdHead,
    EocdComment(usize),
    Done,
}

/// A streaming, bounded-memory validator of a b1 bundle zip. It reads the zip once, front
/// to back, and never seeks or spools: the local entries are parsed as they come (STORED
/// only, sizes in the local header: no data descriptors), each entry's data is hashed
/// (CRC-32 and SHA-512) as it flows past, and the central directory at the end must
/// reference exactly those entries (same offset, name, CRC, sizes and method), followed by
/// the end-of-central-directory record that counts and locates it, and nothing after it.
/// What it keeps is metadata per entry (at most 65535 entries and 16 MiB of names) and
/// `compartment-map.json` (at most 64 MiB).
///
/// That is stricter than a reader that starts from the central directory: bytes that no
/// central record references (hidden entries, gaps), entries referenced twice or
/// overlapping, zip64 records, data descriptors and encryption are refused. `endo`'s zip
/// writer produces none of them.
pub struct B1Checker {
    off: u64,
    state: B1State,
    head: Vec<u8>,
    need: usize,
    entries: Vec<B1Entry>,
    name_bytes: usize,
    cur: Option<B1Data>,
    cmap: Option<Vec<u8>>,
    central_start: Option<u64>,
    central_count: u64,
    eocd_at: u64,
    problem: Option<String>,
}

impl Default for B1Checker {
    fn default() -> Self {
        B1Checker::new()
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl B1Checker {
    pub fn new() -> B1Checker {
        B1Checker {
            off: 0,
            state: B1State::Sig,
            head: Vec::new(),
            need: 4,
            entries: Vec::new(),
            name_bytes: 0,
            cur: None,
            cmap: None,
            central_start: None,
            central_count: 0,
            eocd_at: 0,
            problem: None,
        }
    }

    fn fail(&mut self, why: String) {
        if self.problem.is_none() {
            self.problem = Some(why);
        }
    }

    fn expect(&mut self, state: B1State, need: usize) {
        self.state = state;
        self.need = need;
        self.head.clear();
    }

    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.problem.is_none() {
            if let B1State::Data(left) = self.state {
                let n = (left.min(data.len() as u64)) as usize;
                self.data(&data[..n]);
                self.off += n as u64;
                data = &data[n..];
                self.state = B1State::Data(left - n as u64);
                if left == n as u64 {
                    self.end_entry();
                    self.expect(B1State::Sig, 4);
                }
                continue;
            }
            if self.state == B1State::Done {
                self.fail(format!(
                    "b1 bundle zip has bytes after its end-of-central-directory record (at offset {})",
                    self.off
                ));
                return;
            }
            let n = (self.need - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
            self.off += n as u64;
            data = &data[n..];
            if self.head.len() == self.need {
                let head = std::mem::take(&mut self.head);
                self.record(&head);
            }
        }
    }

    fn data(&mut self, chunk: &[u8]) {
        let mut too_big = false;
        if let Some(d) = self.cur.as_mut() {
            d.sha512.update(chunk);
            d.got_crc.update(chunk);
            if let Some(k) = d.keep.as_mut() {
                if k.len() + chunk.len() > B1_MAX_CMAP_BYTES {
                    too_big = true;
                } else {
                    k.extend_from_slice(chunk);
                }
            }
        }
        if too_big {
            self.fail("b1 compartment-map.json is larger than 64 MiB".into());
        }
    }

    fn end_entry(&mut self) {
        let Some(B1Data {
            name,
            crc,
            sha512: sha,
            got_crc,
            keep,
        }) = self.cur.take()
        else {
            return;
        };
        if got_crc.sum() != crc {
            self.fail(format!(
                "b1 bundle zip entry {name:?} fails its CRC-32 check (the endo archive reader refuses it)"
            ));
            return;
        }
        if let Some(k) = keep {
            self.cmap = Some(k);
        }
        if let Some(e) = self.entries.last_mut() {
            e.sha512 = hex::encode(sha.finalize());
        }
    }

    // Long on purpose (~190 lines): one arm per zip record (local header, names, data,
    // central directory entry, end of central directory), each next to the state it
    // expects next; the zip grammar reads as one state machine, and the arms share the
    // offset and entry bookkeeping that splitting would have to thread through.
    fn record(&mut self, h: &[u8]) {
        let at = self.off - h.len() as u64;
        match self.state {
            B1State::Sig => {
                let sig = le32(h, 0);
                match sig {
                    SIG_LOCAL if self.central_start.is_none() => {
                        self.expect(B1State::LocalHead, 26);
                    }
                    SIG_LOCAL => self.fail(format!(
                        "b1 bundle zip has a local entry at offset {at}, after its central directory"
                    )),
                    SIG_CENTRAL => {
                        if self.central_start.is_none() {
                            self.central_start = Some(at);
                        }
                        self.expect(B1State::CentralHead, 42);
                    }
                    SIG_EOCD => {
                        if self.central_start.is_none() {
                            self.central_start = Some(at);
                        }
                        self.eocd_at = at;
                        self.expect(B1State::EocdHead, 18);
                    }
                    SIG_ZIP64_EOCD | SIG_ZIP64_LOCATOR => {
                        self.fail("b1 bundle zip has zip64 records; a bundle zip is small enough not to need them, and agar does not read them".into())
                    }
                    other => self.fail(format!(
                        "b1 bundle zip: unexpected bytes {other:#010x} at offset {at} (not a zip record signature; is this a zip?)"
                    )),
                }
            }
            B1State::LocalHead => {
                let flags = le16(h, 2);
                let method = le16(h, 4);
                let crc = le32(h, 10);
                let csize = le32(h, 14);
                let usize_ = le32(h, 18);
                let nlen = le16(h, 22) as usize;
                let xlen = le16(h, 24) as usize;
                let entry_at = at - 4;
                if flags & 1 != 0 {
                    return self.fail(format!(
                        "b1 bundle zip entry at offset {entry_at} is encrypted"
                    ));
                }
                if flags & 8 != 0 {
                    return self.fail(format!("b1 bundle zip entry at offset {entry_at} uses a data descriptor (sizes after the data); endo's zip writer never does, and agar reads bundle zips front to back"));
                }
                if method != 0 {
                    return self.fail(format!("b1 bundle zip entry at offset {entry_at} is compressed (method {method}); the endo archive reader only reads STORED entries"));
                }
                if csize != usize_ {
                    return self.fail(format!("b1 bundle zip entry at offset {entry_at} is STORED but its compressed size {csize} differs from its size {usize_}"));
                }
                if self.entries.len() >= B1_MAX_ENTRIES {
                    return self.fail(format!(
                        "b1 bundle zip has more than {B1_MAX_ENTRIES} entries"
                    ));
                }
                self.name_bytes += nlen;
                if self.name_bytes > B1_MAX_NAME_BYTES {
                    return self.fail("b1 bundle zip entry names exceed 16 MiB in all".into());
                }
                self.entries.push(B1Entry {
                    offset: entry_at,
                    name: String::new(),
                    crc,
                    size: csize,
                    sha512: String::new(),
                    in_central: false,
                });
                self.expect(B1State::LocalNames(nlen, xlen), nlen + xlen);
                if nlen + xlen == 0 {
                    self.record(&[]);
                }
            }
            B1State::LocalNames(nlen, _) => {
                let name = String::from_utf8_lossy(&h[..nlen]).into_owned();
                let e = self.entries.last_mut().expect("local entry recorded");
                e.name = name.clone();
                let (crc, size) = (e.crc, e.size);
                let keep = (name == "compartment-map.json").then(Vec::new);
                self.cur = Some(B1Data {
                    name,
                    crc,
                    sha512: Sha512::new(),
                    got_crc: flate2::Crc::new(),
                    keep,
                });
                self.expect(B1State::Data(u64::from(size)), 0);
                if size == 0 {
                    self.end_entry();
                    self.expect(B1State::Sig, 4);
                }
            }
            B1State::CentralHead => {
                let flags = le16(h, 4);
                let method = le16(h, 6);
                let crc = le32(h, 12);
                let csize = le32(h, 16);
                let usize_ = le32(h, 20);
                let nlen = le16(h, 24) as usize;
                let xlen = le16(h, 26) as usize;
                let clen = le16(h, 28) as usize;
                let disk = le16(h, 30);
                let lho = u64::from(le32(h, 38));
                self.central_count += 1;
                let idx = self.entries.binary_search_by_key(&lho, |e| e.offset);
                let ok = match idx {
                    Ok(i) => {
                        let e = &self.entries[i];
                        !e.in_central
                            && e.crc == crc
                            && e.size == csize
                            && csize == usize_
                            && method == 0
                            && flags & 9 == 0
                            && disk == 0
                    }
                    Err(_) => false,
                };
                if !ok {
                    return self.fail(format!(
                        "b1 bundle zip central directory record {} (at offset {}) does not match a local entry at offset {lho} (each entry must be listed once, with the same CRC, sizes and method)",
                        self.central_count,
                        at - 4
                    ));
                }
                if let Ok(i) = idx {
                    self.entries[i].in_central = true;
                    self.expect(
                        B1State::CentralNames(i, nlen, xlen + clen),
                        nlen + xlen + clen,
                    );
                    if nlen + xlen + clen == 0 {
                        self.record(&[]);
                    }
                }
            }
            B1State::CentralNames(i, nlen, _) => {
                let name = String::from_utf8_lossy(&h[..nlen]);
                if self.entries[i].name != name {
                    let local = self.entries[i].name.clone();
                    return self.fail(format!("b1 bundle zip central directory names {name:?} for the local entry {local:?}"));
                }
                self.expect(B1State::Sig, 4);
            }
            B1State::EocdHead => {
                let disk = le16(h, 0);
                let cd_disk = le16(h, 2);
                let n_disk = le16(h, 4);
                let n_total = le16(h, 6);
                let cd_size = u64::from(le32(h, 8));
                let cd_off = u64::from(le32(h, 12));
                let clen = le16(h, 16) as usize;
                let start = self.central_start.unwrap_or(self.eocd_at);
                if n_total == 0xffff || cd_off == 0xffff_ffff {
                    return self
                        .fail("b1 bundle zip has zip64 records; agar does not read them".into());
                }
                if disk != 0 || cd_disk != 0 || n_disk != n_total {
                    return self.fail("b1 bundle zip spans several disks".into());
                }
                if u64::from(n_total) != self.central_count
                    || cd_off != start
                    || cd_size != self.eocd_at - start
                {
                    return self.fail(format!(
                        "b1 bundle zip end-of-central-directory record (at offset {}) says {n_total} entries, {cd_size} bytes at offset {cd_off}, but the central directory has {} records, {} bytes at offset {start}",
                        self.eocd_at,
                        self.central_count,
                        self.eocd_at - start
                    ));
                }
                self.expect(B1State::EocdComment(clen), clen);
                if clen == 0 {
                    self.expect(B1State::Done, 0);
                }
            }
            B1State::EocdComment(_) => self.expect(B1State::Done, 0),
            B1State::Data(_) | B1State::Done => {}
        }
        if let B1State::Data(0) = self.state {
            self.expect(B1State::Sig, 4);
        }
    }

    /// Finish the zip: every check that needs all of it. Returns the bundle ID's hash (the
    /// SHA-512 of `compartment-map.json`), which must be `id_hex` when given.
    pub fn finish(self, id_hex: Option<&str>) -> Result<String, String> {
        if let Some(p) = self.problem {
            return Err(p);
        }
        if self.state != B1State::Done {
            return Err(if self.entries.is_empty() && self.off < 4 {
                "b1 bundle is not a readable zip (too short)".into()
            } else {
                format!(
                    "b1 bundle zip ends at offset {} before its end-of-central-directory record is complete (truncated, or not a zip)",
                    self.off
                )
            });
        }
        if let Some(e) = self.entries.iter().find(|e| !e.in_central) {
            return Err(format!(
                "b1 bundle zip entry {:?} at offset {} is not in the central directory (hidden bytes)",
                e.name, e.offset
            ));
        }
        if self.entries.len() < 2 {
            return Err(format!(
                "b1 bundle zip has {} entries; at least 2 are required",
                self.entries.len()
            ));
        }
        let mut files: std::collections::BTreeMap<&str, &str> = Default::default();
        for e in &self.entries {
            if files.insert(&e.name, &e.sha512).is_some() {
                return Err(format!("b1 bundle zip has entry {:?} twice", e.name));
            }
        }
        let cmap = self
            .cmap
            .as_ref()
            .ok_or("b1 bundle zip has no compartment-map.json")?;
        let got = hex::encode(Sha512::digest(cmap));
        if let Some(id) = id_hex {
            if got != id {
                return Err(format!(
                    "b1 bundle compartment-map.json hashes to b1-{got}, not its ID"
                ));
            }
        }
        let map: serde_json::Value = serde_json::from_slice(cmap)
            .map_err(|e| format!("b1 compartment-map.json is not JSON: {e}"))?;
        let mut referenced = std::collections::BTreeSet::new();
        referenced.insert("compartment-map.json".to_string());
        let compartments = map
            .get("compartments")
            .and_then(|c| c.as_object())
            .ok_or("b1 compartment-map.json has no compartments")?;
        for (cname, c) in compartments {
            let loc = c.get("location").and_then(|l| l.as_str()).unwrap_or(cname);
            let Some(mods) = c.get("modules").and_then(|m| m.as_object()) else {
                continue;
            };
            for (spec, m) in mods {
                let (Some(mloc), Some(sha)) = (
                    m.get("location").and_then(|v| v.as_str()),
                    m.get("sha512").and_then(|v| v.as_str()),
                ) else {
                    continue;
                };
                let path = format!("{loc}/{mloc}");
                match files.get(path.as_str()) {
                    Some(h) if *h == sha => {
                        referenced.insert(path);
                    }
                    Some(_) => return Err(format!("b1 bundle module {spec:?} ({path}) does not match its sha512 in compartment-map.json")),
                    None => return Err(format!("b1 bundle module {spec:?} ({path}) is missing from the zip")),
                }
            }
        }
        if let Some(extra) = files.keys().find(|k| !referenced.contains(**k)) {
            return Err(format!("b1 bundle zip has an extraneous file {extra:?}"));
        }
        Ok(got)
    }
}

// one per artifact being checked: the size difference does not matter
#[allow(clippy::large_enum_variant)]
enum Kind {
    /// The snapshot hash is the SHA-256 of the raw bytes: the member digest itself.
    Snapshot {
        expect: String,
    },
    Span {
        span: SpanRecord,
        state: SpanState,
    },
    /// b0 bundles are checked as they stream (no buffering); the ID is the member digest.
    B0 {
        id_hex: String,
        check: B0Check,
    },
    /// b1: checked as it streams, nothing buffered but metadata.
    B1 {
        id: String,
        zip: Box<B1Checker>,
    },
}

struct SpanState {
    chain: SpanHasher,
    item: Sha256,
    /// the current item's length so far ([`MAX_TRANSCRIPT_ITEM_BYTES`])
    item_len: u64,
    start_pos: u64,
    items: u64,
    in_item: bool,
    tail: Vec<u8>,
    problem: Option<String>,
}

/// Streams an artifact's bytes, computing the member SHA-256 and size, and validating the
/// bytes against the artifact's export-data record.
pub struct ArtifactChecker {
    name: String,
    sha: Sha256,
    size: u64,
    kind: Kind,
}

impl ArtifactChecker {
    pub fn new(name: &ArtifactName, rec: ArtifactRecord<'_>) -> ArtifactChecker {
        let kind = match rec {
            ArtifactRecord::Snapshot(s) => Kind::Snapshot {
                expect: s.hash.clone(),
            },
            ArtifactRecord::Span(s) => Kind::Span {
                span: s.clone(),
                state: SpanState {
                    chain: SpanHasher::new(),
                    item: Sha256::new(),
                    item_len: 0,
                    start_pos: s.start_pos,
                    items: 0,
                    in_item: false,
                    tail: Vec::new(),
                    problem: None,
                },
            },
            ArtifactRecord::Bundle(id) => match id.strip_prefix("b0-") {
                Some(h) => Kind::B0 {
                    id_hex: h.to_string(),
                    check: B0Check::default(),
                },
                None => Kind::B1 {
                    id: id.clone(),
                    zip: Box::new(B1Checker::new()),
                },
            },
        };
        ArtifactChecker {
            name: name.to_string(),
            sha: Sha256::new(),
            size: 0,
            kind,
        }
    }

    pub fn update(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.sha.update(data);
        self.size += data.len() as u64;
        match &mut self.kind {
            Kind::Snapshot { .. } => {}
            Kind::B0 { check, .. } => {
                if self.size <= MAX_B0_BUNDLE_BYTES {
                    check.update(data)
                }
            }
            Kind::B1 { zip, .. } => zip.update(data),
            Kind::Span { state, .. } => {
                let mut rest = data;
                while !rest.is_empty() {
                    match rest.iter().position(|&b| b == b'\n') {
                        Some(i) => {
                            state.feed(&rest[..i]);
                            state.end_item();
                            rest = &rest[i + 1..];
                        }
                        None => {
                            state.feed(rest);
                            rest = &[];
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Member SHA-256 (hex) and size, or the reason the bytes do not match the record.
    pub fn finish(self) -> (String, u64, Result<(), String>) {
        let sha = hex::encode(self.sha.finalize());
        let res = match self.kind {
            Kind::Snapshot { expect } => {
                let got = &sha;
                if *got == expect {
                    Ok(())
                } else {
                    Err(format!(
                        "snapshot bytes hash to {got}, but its export-data record says {expect}"
                    ))
                }
            }
            Kind::Span { span, state } => state.finish(&span),
            Kind::B0 { id_hex, check } => {
                if self.size > MAX_B0_BUNDLE_BYTES {
                    Err(format!("b0 bundle is {} bytes; at most {MAX_B0_BUNDLE_BYTES} are accepted (real b0 bundles are a few MB, and the importer holds one whole)", self.size))
                } else {
                    check.finish().and_then(|()| {
                        if sha == id_hex {
                            Ok(())
                        } else {
                            Err(format!("b0 bundle hashes to b0-{sha}, not its ID"))
                        }
                    })
                }
            }
            Kind::B1 { id, zip } => match sqlite_blob_problem(self.size) {
                Some(p) => Err(format!("bundle.{id}: {p}")),
                None => zip
                    .finish(Some(id.strip_prefix("b1-").unwrap_or("")))
                    .map(|_| ()),
            },
        };
        let _ = &self.name;
        (sha, self.size, res)
    }
}

impl SpanState {
    fn feed(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.in_item = true;
        self.item.update(bytes);
        self.item_len += bytes.len() as u64;
        self.tail
            .extend_from_slice(&bytes[bytes.len().saturating_sub(4)..]);
        let n = self.tail.len();
        if n > 4 {
            self.tail.drain(..n - 4);
        }
    }
    fn end_item(&mut self) {
        if self.problem.is_none() {
            let last = last_char(&self.tail);
            if !self.in_item {
                self.problem = Some(format!("item {} is empty (an extra newline)", self.items));
            } else if let Some(p) =
                transcript_item_problem(self.start_pos + self.items, self.item_len)
            {
                self.problem = Some(p);
            } else if last.is_some_and(is_js_whitespace) {
                self.problem = Some(format!(
                    "item {} ends in whitespace, which the official importer's trimEnd() would remove",
                    self.items
                ));
            }
        }
        self.chain
            .push_digest(std::mem::take(&mut self.item).finalize());
        self.items += 1;
        self.item_len = 0;
        self.in_item = false;
        self.tail.clear();
    }
    fn finish(self, span: &SpanRecord) -> Result<(), String> {
        if self.in_item {
            return Err(format!(
                "last item (item {}) is not terminated by a newline",
                self.items
            ));
        }
        if let Some(p) = self.problem {
            return Err(p);
        }
        if self.items != span.len() {
            return Err(format!(
                "holds {} items, but span {}..{} needs {}",
                self.items,
                span.start_pos,
                span.end_pos,
                span.len()
            ));
        }
        if self.chain.hex() != span.hash {
            return Err(format!(
                "items hash to {}, but the span record says {}",
                self.chain.hex(),
                span.hash
            ));
        }
        Ok(())
    }
}

fn last_char(tail: &[u8]) -> Option<char> {
    (0..tail.len()).find_map(|i| {
        std::str::from_utf8(&tail[i..])
            .ok()
            .and_then(|s| s.chars().last())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_4_1_span_vectors() {
        assert_eq!(sha256_hex(b"start of transcript span"), SPAN_INITIAL_HASH);
        let mut h = SpanHasher::new();
        h.push(b"a");
        assert_eq!(
            h.hex(),
            "cac9c2785da21735f66e219ca021f4bc07ef2b82cd97ad399e9b779b1045d6ce"
        );
        // an item hashed while it streams gives the same chain
        let mut s = SpanHasher::new();
        s.push_digest(Sha256::digest(b"a"));
        assert_eq!(s.hex(), h.hex());
        assert_eq!(
            span_hash([&b"a"[..], b"b"]),
            "399aaee63fd193c7214808d3b0568743dbb890574f6b3a61a8c3767ab8e768c8"
        );
        assert_eq!(span_hash(std::iter::empty()), SPAN_INITIAL_HASH);
    }

    #[test]
    fn spec_4_2_snapshot_vector() {
        assert_eq!(
            sha256_hex(b"snapshot-bytes-of-v1"),
            "fe23a4679a97ad26b69d09d2ede5cd6299f6e5400633e5640d86db4887b4ccce"
        );
    }

    #[test]
    fn spec_4_3_b0_vector() {
        let text = br#"{"moduleFormat":"nestedEvaluate","source":"function getExport(){return {}}","sourceMap":"//# sourceURL=x"}"#;
        check_b0(
            "f2b272a02ac9ed6c7fbcb31542d84846ab37d1867464683d8ca8f28b96736637",
            text,
        )
        .unwrap();
        let reordered = br#"{"source":"function getExport(){return {}}","moduleFormat":"nestedEvaluate","sourceMap":"//# sourceURL=x"}"#;
        assert!(check_b0(
            "f2b272a02ac9ed6c7fbcb31542d84846ab37d1867464683d8ca8f28b96736637",
            reordered
        )
        .is_err());
        let getexport = br#"{"moduleFormat":"getExport","source":"x"}"#;
        assert!(check_b0(&sha256_hex(getexport), getexport)
            .unwrap_err()
            .contains("getExport"));
    }

    fn fixture_b1() -> (String, Vec<u8>) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tiny/genesis/operational/swing-store");
        let e = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .find(|n| n.contains("bundle.b1-"))
            .unwrap();
        let id = e.split("bundle.b1-").nth(1).unwrap().to_string();
        (id, std::fs::read(dir.join(&e)).unwrap())
    }

    fn b1_stream(zip: &[u8], chunk: usize) -> Result<String, String> {
        let mut c = B1Checker::new();
        for part in zip.chunks(chunk) {
            c.update(part);
        }
        c.finish(None)
    }

    #[test]
    fn b1_checker_streams_the_real_bundle_in_any_chunking() {
        let (id, zip) = fixture_b1();
        for chunk in [1, 2, 3, 7, 30, 46, 64, 1000, zip.len()] {
            assert_eq!(
                b1_stream(&zip, chunk).as_deref(),
                Ok(id.as_str()),
                "chunk {chunk}"
            );
        }
        check_b1(&id, &zip[..]).unwrap();
        assert!(check_b1(&"0".repeat(128), &zip[..])
            .unwrap_err()
            .contains("not its ID"));
    }

    #[test]
    fn b1_checker_accepts_real_mainnet_bundles() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real/bundles");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_prefix("b1-")
                .and_then(|s| s.strip_suffix(".zip"))
            else {
                continue;
            };
            let zip = std::fs::read(dir.join(&name)).unwrap();
            for chunk in [1, 17, 4096, zip.len()] {
                assert_eq!(
                    b1_stream(&zip, chunk).as_deref(),
                    Ok(id),
                    "{name} chunk {chunk}"
                );
            }
            n += 1;
        }
        assert_eq!(n, 2, "both real bundles");
    }

    #[test]
    fn b1_checker_refuses_what_a_stream_cannot_vouch_for() {
        let (_, zip) = fixture_b1();
        // truncated anywhere
        for cut in [0, 3, 10, zip.len() / 2, zip.len() - 1] {
            assert!(b1_stream(&zip[..cut], 64).is_err(), "cut {cut}");
        }
        // bytes after the end record
        let mut z = zip.clone();
        z.push(0);
        assert!(b1_stream(&z, 64).unwrap_err().contains("after its end"));
        // a data descriptor flag on the first entry
        let mut z = zip.clone();
        z[6] |= 8;
        assert!(b1_stream(&z, 64).unwrap_err().contains("data descriptor"));
        // a flipped data byte: the CRC
        let mut z = zip.clone();
        let at = 30 + u16::from_le_bytes([z[26], z[27]]) as usize + 1;
        z[at] ^= 1;
        assert!(b1_stream(&z, 64).unwrap_err().contains("CRC"));
        // a hidden local entry the central directory does not list: shift everything by
        // prepending one (offsets in the central directory then point at the wrong place)
        let first_len = {
            let n = u16::from_le_bytes([zip[26], zip[27]]) as usize;
            let x = u16::from_le_bytes([zip[28], zip[29]]) as usize;
            let size = u32::from_le_bytes([zip[18], zip[19], zip[20], zip[21]]) as usize;
            30 + n + x + size
        };
        let mut z = zip[..first_len].to_vec();
        z.extend_from_slice(&zip);
        assert!(b1_stream(&z, 64).is_err());
    }

    fn span_checker(items: &[&str]) -> (SpanRecord, ArtifactChecker) {
        let rec = SpanRecord {
            vat: "v1".into(),
            start_pos: 3,
            end_pos: 3 + items.len() as u64,
            hash: span_hash(items.iter().map(|s| s.as_bytes())),
            is_current: true,
            incarnation: 0,
        };
        let name = ArtifactName::parse(&rec.artifact_name()).unwrap();
        let c = ArtifactChecker::new(&name, ArtifactRecord::Span(&rec));
        (rec, c)
    }

    #[test]
    fn span_checker_streams_in_any_chunking() {
        let items = ["{\"d\":1}", "{\"d\":\"é\"}", "x"];
        let body = b"{\"d\":1}\n{\"d\":\"\xc3\xa9\"}\nx\n";
        for chunk in 1..body.len() {
            let (_, mut c) = span_checker(&items);
            for part in body.chunks(chunk) {
                c.update(part).unwrap();
            }
            let (sha, size, res) = c.finish();
            assert_eq!(res, Ok(()), "chunk {chunk}");
            assert_eq!(size, body.len() as u64);
            assert_eq!(sha, sha256_hex(body));
        }
    }

    #[test]
    fn span_checker_rejects() {
        let items = ["a", "b"];
        for (body, why) in [
            (&b"a\nb"[..], "not terminated"),
            (b"a\nb\n\n", "empty"),
            (b"a\n", "holds 1 items"),
            (b"a\nc\n", "hash to"),
        ] {
            let (_, mut c) = span_checker(&items);
            c.update(body).unwrap();
            let err = c.finish().2.unwrap_err();
            assert!(err.contains(why), "{err}");
        }
        let (_, mut c) = span_checker(&["a "]);
        c.update(b"a \n").unwrap();
        assert!(c.finish().2.unwrap_err().contains("whitespace"));
        let (_, mut c) = span_checker(&["a\u{2028}"]);
        c.update("a\u{2028}\n".as_bytes()).unwrap();
        assert!(c.finish().2.unwrap_err().contains("whitespace"));
    }

    #[test]
    fn js_stringify_str_matches_node() {
        // node -e 'console.log(JSON.stringify("a\"\\\b\f\n\r\t\u0001\u001f \u007f\u00e9\u2028"))'
        let mut out = String::from("x");
        js_stringify_str(
            &mut out,
            "a\"\\\u{8}\u{c}\n\r\t\u{1}\u{1f} \u{7f}\u{e9}\u{2028}",
        );
        assert_eq!(
            out,
            "x\"a\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f \u{7f}\u{e9}\u{2028}\""
        );
    }

    #[test]
    fn item_and_sqlite_limits_are_inclusive_and_say_which_limit() {
        assert_eq!(transcript_item_problem(7, 0), None);
        assert_eq!(transcript_item_problem(7, MAX_TRANSCRIPT_ITEM_BYTES), None);
        assert_eq!(
            transcript_item_problem(7, MAX_TRANSCRIPT_ITEM_BYTES + 1).as_deref(),
            Some("item at position 7 is longer than 33554432 bytes, agar's limit for one transcript item (explode holds an item whole to insert it; real items are at most a few MB)")
        );
        assert_eq!(sqlite_blob_problem(0), None);
        assert_eq!(sqlite_blob_problem(SQLITE_MAX_LENGTH), None);
        assert_eq!(
            sqlite_blob_problem(SQLITE_MAX_LENGTH + 1).as_deref(),
            Some("1000000001 bytes is more than SQLite's 1000000000-byte value limit")
        );
    }

    fn b0(source: &[u8], map: Option<&[u8]>) -> Vec<u8> {
        let mut t = br#"{"moduleFormat":"nestedEvaluate","source":""#.to_vec();
        t.extend_from_slice(source);
        if let Some(m) = map {
            t.extend_from_slice(br#"","sourceMap":""#);
            t.extend_from_slice(m);
        }
        t.extend_from_slice(br#""}"#);
        t
    }

    /// What the importer accepts for a string body, by an independent route: valid
    /// UTF-8 that serde_json parses as a JSON string which `JSON.stringify` (checked
    /// against node above) writes back byte for byte.
    fn canonical_string_body(body: &[u8]) -> bool {
        let Ok(b) = std::str::from_utf8(body) else {
            return false;
        };
        let quoted = format!("\"{b}\"");
        let Ok(s) = serde_json::from_str::<String>(&quoted) else {
            return false;
        };
        let mut back = String::new();
        js_stringify_str(&mut back, &s);
        back == quoted
    }

    /// The streaming b0 grammar against that reference, for string bodies at every
    /// edge of JSON.stringify's escaping and of UTF-8 (overlong forms, surrogates,
    /// beyond U+10FFFF, bad and missing continuation bytes), in `source` and in
    /// `sourceMap`.
    #[test]
    fn b0_strings_are_accepted_exactly_when_json_stringify_writes_them() {
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        for c in (0u32..0x80).chain([
            0x80, 0x7ff, 0x800, 0xfff, 0x1000, 0xd7ff, 0xe000, 0xffff, 0x10000, 0x3ffff, 0x40000,
            0xfffff, 0x100000, 0x10ffff,
        ]) {
            let mut s = String::new();
            js_stringify_str(&mut s, &char::from_u32(c).unwrap().to_string());
            bodies.push(s.as_bytes()[1..s.len() - 1].to_vec());
        }
        for c in 0..0x30u32 {
            bodies.push(format!("\\u{c:04x}").into_bytes());
            bodies.push(format!("\\u{c:04X}").into_bytes());
        }
        for e in [
            &br"\u0100"[..],
            br"\u1000",
            br"\u00g0",
            br"\u001g",
            br"\u002",
            br"\/",
            br"\x",
            br"\'",
            br"\",
            b"\x01",
            b"\x1f",
            b"\x7f",
        ] {
            bodies.push(e.to_vec());
        }
        for bad in [
            &[0x80][..],
            &[0xbf],
            &[0xc0, 0x80],
            &[0xc1, 0xbf],
            &[0xc2],
            &[0xc2, 0x7f],
            &[0xc2, 0xc0],
            &[0xdf, 0xbf],
            &[0xe0, 0x80, 0x80],
            &[0xe0, 0x9f, 0xbf],
            &[0xe0, 0xa0, 0x80],
            &[0xe1, 0x80, 0x7f],
            &[0xe1, 0x80],
            &[0xed, 0x9f, 0xbf],
            &[0xed, 0xa0, 0x80],
            &[0xee, 0x80, 0x80],
            &[0xef, 0xbf, 0xbf],
            &[0xf0, 0x80, 0x80, 0x80],
            &[0xf0, 0x8f, 0xbf, 0xbf],
            &[0xf0, 0x90, 0x80, 0x80],
            &[0xf1, 0x80, 0x80, 0x80],
            &[0xf3, 0xbf, 0xbf, 0xbf],
            &[0xf4, 0x8f, 0xbf, 0xbf],
            &[0xf4, 0x90, 0x80, 0x80],
            &[0xf5, 0x80, 0x80, 0x80],
            &[0xff],
            &[0xf1, 0x80, 0x80, 0x22],
        ] {
            bodies.push(bad.to_vec());
            let mut then_ascii = bad.to_vec();
            then_ascii.extend_from_slice(b"ab");
            bodies.push(then_ascii);
        }
        let (mut yes, mut no) = (0, 0);
        for body in &bodies {
            let want = canonical_string_body(body);
            if want {
                yes += 1
            } else {
                no += 1
            }
            for text in [b0(body, None), b0(b"x", Some(body)), b0(body, Some(body))] {
                let got = check_b0(&sha256_hex(&text), &text);
                assert_eq!(
                    got.is_ok(),
                    want,
                    "{:?}: {got:?}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
        assert!(yes > 100 && no > 80, "{yes} accepted, {no} refused");
    }

    #[test]
    fn b0_problems_say_what_and_where() {
        let why = |t: &[u8]| check_b0(&sha256_hex(t), t).unwrap_err();
        assert!(why(b"[1]").starts_with("b0 bundle does not start with {\"moduleFormat\""));
        // the byte offset of the first wrong byte
        let t = b0(b"ab\x01", None);
        assert_eq!(
            why(&t),
            format!("{B0_NOT_CANONICAL} (a raw control character at byte 45)")
        );
        let t = br#"{"moduleFormat":"nestedEvaluate","source":"x";"#;
        assert_eq!(why(t), format!("{B0_NOT_CANONICAL} (at byte 45)"));
        let t = br#"{"moduleFormat":"nestedEvaluate","source":"x","sourceMap":"y"},"#;
        assert_eq!(
            why(t),
            format!("{B0_NOT_CANONICAL} (data after the closing brace, at byte 62)")
        );
        let t = br#"{"moduleFormat":"nestedEvaluate","source":"x","sourceMap":"y","#;
        assert_eq!(why(t), format!("{B0_NOT_CANONICAL} (at byte 61)"));
        let t = br#"{"moduleFormat":"nestedEvaluate","source":"x"#;
        assert_eq!(
            why(t),
            "b0 bundle is not valid JSON: the text ends early (after 44 bytes)"
        );
        // the module format: named as far as it was read, and never held past 64 bytes
        let unsupported = |f: &str, cut: bool| {
            let dots = if cut { "..." } else { "" };
            format!("unsupported b0- module format {f:?}{dots} (must be \"nestedEvaluate\")")
        };
        let t = format!(
            r#"{{"moduleFormat":"{}","source":"x"}}"#,
            "a".repeat(100_000)
        );
        assert_eq!(why(t.as_bytes()), unsupported(&"a".repeat(64), true));
        let t = br#"{"moduleFormat":"nested\u0045valuate","source":"x"}"#;
        assert_eq!(why(t), unsupported("nested", true));
        let t = b"{\"moduleFormat\":\"nested\x1fEvaluate\",\"source\":\"x\"}";
        assert_eq!(why(t), unsupported("nested", true));
        let t = br#"{"moduleFormat":"nested Evaluate","source":"x"}"#;
        assert_eq!(why(t), unsupported("nested Evaluate", false));
    }

    /// A b0 artifact streams through the artifact checker in any chunking, with or
    /// without a source map, up to the size limit.
    #[test]
    fn b0_artifacts_pass_the_artifact_checker() {
        for text in [
            b0(b"function f(){}", None),
            b0(b"x", Some(b"//# sourceURL=x")),
        ] {
            let id = format!("b0-{}", sha256_hex(&text));
            let name = ArtifactName::parse(&format!("bundle.{id}")).unwrap();
            for chunk in [1, 7, text.len()] {
                let mut c = ArtifactChecker::new(&name, ArtifactRecord::Bundle(&id));
                for part in text.chunks(chunk) {
                    c.update(part).unwrap();
                }
                let (sha, size, res) = c.finish();
                assert_eq!(res, Ok(()), "chunk {chunk}");
                assert_eq!((sha, size), (sha256_hex(&text), text.len() as u64));
            }
        }
    }

    /// A local entry header for `name` with `size` STORED bytes (CRC left 0).
    fn local_header(name: &str, size: u32) -> Vec<u8> {
        let mut h = SIG_LOCAL.to_le_bytes().to_vec();
        h.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method, time, date
        h.extend_from_slice(&0u32.to_le_bytes()); // crc
        h.extend_from_slice(&size.to_le_bytes());
        h.extend_from_slice(&size.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        h
    }

    /// compartment-map.json is held to parse it: up to 64 MiB, not a byte more, while
    /// the bytes stream past (the cap is checked before they are kept).
    #[test]
    fn b1_compartment_map_is_held_up_to_64_mib() {
        let chunk = vec![b' '; 64 * 1024];
        for (size, refused) in [(B1_MAX_CMAP_BYTES, false), (B1_MAX_CMAP_BYTES + 1, true)] {
            let mut c = B1Checker::new();
            c.update(&local_header("compartment-map.json", size as u32));
            let mut left = size;
            while left > 0 {
                let n = left.min(chunk.len());
                c.update(&chunk[..n]);
                left -= n;
            }
            let err = c.finish(None).unwrap_err();
            assert_eq!(
                err == "b1 compartment-map.json is larger than 64 MiB",
                refused,
                "{size}: {err}"
            );
        }
    }

    #[test]
    fn b1_local_entries_after_the_central_directory_are_refused() {
        let (id, zip) = fixture_b1();
        let eocd = zip.len() - 22;
        assert_eq!(le32(&zip, eocd), SIG_EOCD);
        // the central directory, then a local entry before the end record
        let mut z = zip[..eocd].to_vec();
        z.extend_from_slice(&zip[..30]);
        z.extend_from_slice(&zip[eocd..]);
        assert_eq!(
            b1_stream(&z, 64).unwrap_err(),
            format!(
                "b1 bundle zip has a local entry at offset {eocd}, after its central directory"
            )
        );
        assert_eq!(b1_stream(&zip, 64).unwrap(), id);
    }

    /// At most 16 MiB of entry names in all (they are kept per entry): exactly that
    /// much passes, one byte more is refused.
    #[test]
    fn b1_entry_names_are_held_up_to_16_mib_in_all() {
        let long = "n".repeat(0xffff);
        for (last, refused) in [(256, false), (257, true)] {
            let mut c = B1Checker::new();
            for _ in 0..256 {
                c.update(&local_header(&long, 0));
            }
            c.update(&local_header(&"m".repeat(last), 0));
            let err = c.finish(None).unwrap_err();
            assert_eq!(
                err == "b1 bundle zip entry names exceed 16 MiB in all",
                refused,
                "{last}: {err}"
            );
        }
    }

    /// The local header's name and extra field lengths are read as two lengths: the
    /// real bundle's first name split into a 10-byte name and a 10-byte extra field.
    #[test]
    fn b1_local_extra_fields_are_skipped_by_their_length() {
        let (_, zip) = fixture_b1();
        assert_eq!(&zip[26..30], &[20, 0, 0, 0]);
        let mut z = zip.clone();
        z[26..30].copy_from_slice(&[10, 0, 10, 0]);
        assert_eq!(
            b1_stream(&z, 64).unwrap_err(),
            "b1 bundle zip central directory names \"compartment-map.json\" for the local entry \"compartmen\""
        );
    }

    /// Each central directory record must repeat its local entry: CRC, both sizes,
    /// method, flags and disk, and list it only once.
    #[test]
    fn b1_central_records_that_disagree_with_their_entry_are_refused() {
        let (_, zip) = fixture_b1();
        let eocd = zip.len() - 22;
        let cd = le32(&zip, eocd + 16) as usize;
        assert_eq!(le32(&zip, cd), SIG_CENTRAL);
        // crc, compressed size, size, method, flags (encrypted, data descriptor), disk
        for (at, xor) in [(16, 1), (20, 1), (24, 1), (10, 8), (8, 1), (8, 8), (34, 1)] {
            let mut z = zip.clone();
            z[cd + at] ^= xor;
            let err = b1_stream(&z, 64).unwrap_err();
            assert!(
                err.starts_with(&format!("b1 bundle zip central directory record 1 (at offset {cd}) does not match a local entry at offset 0")),
                "field at {at}: {err}"
            );
        }
        // the first record listed twice
        let len = 46
            + le16(&zip, cd + 28) as usize
            + le16(&zip, cd + 30) as usize
            + le16(&zip, cd + 32) as usize;
        let mut z = zip[..cd + len].to_vec();
        z.extend_from_slice(&zip[cd..]);
        let err = b1_stream(&z, 64).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "b1 bundle zip central directory record 2 (at offset {}) does not match",
                cd + len
            )),
            "{err}"
        );
    }

    /// A central record's name, extra field and comment are three lengths: the real
    /// bundle's first central name split across them.
    #[test]
    fn b1_central_extra_fields_and_comments_are_skipped_by_their_length() {
        let (_, zip) = fixture_b1();
        let eocd = zip.len() - 22;
        let cd = le32(&zip, eocd + 16) as usize;
        assert_eq!(&zip[cd + 28..cd + 34], &[20, 0, 0, 0, 0, 0]);
        for (n, x, c) in [(10u8, 5u8, 5u8), (10, 10, 0), (5, 5, 10)] {
            let mut z = zip.clone();
            z[cd + 28..cd + 34].copy_from_slice(&[n, 0, x, 0, c, 0]);
            assert_eq!(
                b1_stream(&z, 64).unwrap_err(),
                format!(
                    "b1 bundle zip central directory names {:?} for the local entry \"compartment-map.json\"",
                    &"compartment-map.json"[..n as usize]
                ),
                "{n} {x} {c}"
            );
        }
    }

    /// The end record must count and locate exactly the central directory seen, on
    /// one disk, without zip64 markers.
    #[test]
    fn b1_end_records_that_disagree_are_refused() {
        let (_, zip) = fixture_b1();
        let eocd = zip.len() - 22;
        let set16 = |z: &mut Vec<u8>, at: usize, v: u16| {
            z[eocd + at..eocd + at + 2].copy_from_slice(&v.to_le_bytes())
        };
        let n = le16(&zip, eocd + 10);
        let zip64 = "b1 bundle zip has zip64 records; agar does not read them";
        let disks = "b1 bundle zip spans several disks";
        let says = "b1 bundle zip end-of-central-directory record";
        let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();
        let mut z = zip.clone();
        set16(&mut z, 10, 0xffff);
        cases.push((z, zip64));
        let mut z = zip.clone();
        z[eocd + 16..eocd + 20].copy_from_slice(&[0xff; 4]);
        cases.push((z, zip64));
        for (at, v) in [(4, 1), (6, 1), (8, n + 1)] {
            let mut z = zip.clone();
            set16(&mut z, at, v);
            cases.push((z, disks));
        }
        let mut z = zip.clone();
        set16(&mut z, 8, n + 1);
        set16(&mut z, 10, n + 1);
        cases.push((z, says));
        for at in [12, 16] {
            let mut z = zip.clone();
            z[eocd + at] ^= 1;
            cases.push((z, says));
        }
        for (i, (z, want)) in cases.iter().enumerate() {
            let err = b1_stream(z, 64).unwrap_err();
            assert!(err.starts_with(want), "case {i}: {err}");
        }
    }

    /// A b1 zip written by the `zip` crate (an independent writer): a compartment map
    /// naming `modules` (location, content, the sha512 it lists), plus `extra` files.
    fn zip_b1(modules: &[(&str, &str, Option<&str>)], extra: &[&str]) -> (String, Vec<u8>) {
        use std::io::Write;
        let sha = |d: &str| hex::encode(Sha512::digest(d.as_bytes()));
        let mods: Vec<String> = modules
            .iter()
            .map(|(loc, data, listed)| {
                let h = listed.map_or_else(|| sha(data), str::to_string);
                format!(r#""{loc}":{{"location":"{loc}","sha512":"{h}"}}"#)
            })
            .collect();
        let cmap = format!(
            r#"{{"compartments":{{"c":{{"location":"c","modules":{{{}}}}}}}}}"#,
            mods.join(",")
        );
        let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::default());
        let files = std::iter::once(("compartment-map.json".to_string(), cmap.clone()))
            .chain(
                modules
                    .iter()
                    .map(|(l, d, _)| (format!("c/{l}"), d.to_string())),
            )
            .chain(extra.iter().map(|l| (format!("c/{l}"), String::new())));
        for (name, data) in files {
            zw.start_file(name, opts).unwrap();
            zw.write_all(data.as_bytes()).unwrap();
        }
        (sha(&cmap), zw.finish().unwrap().into_inner())
    }

    /// The least a bundle may be: the map and one module. Fewer entries, a module
    /// that does not hash as listed, one missing or one extra, are refused.
    #[test]
    fn b1_zips_from_the_zip_crate_are_checked_entry_by_entry() {
        let (id, z) = zip_b1(&[("m.js", "export {}", None)], &[]);
        assert_eq!(b1_stream(&z, 64), Ok(id.clone()));
        assert_eq!(check_b1(&id, &z[..]), Ok(()));
        let (_, z) = zip_b1(&[], &[]);
        assert_eq!(
            b1_stream(&z, 64).unwrap_err(),
            "b1 bundle zip has 1 entries; at least 2 are required"
        );
        let (_, z) = zip_b1(&[("m.js", "export {}", Some("00"))], &[]);
        assert_eq!(
            b1_stream(&z, 64).unwrap_err(),
            "b1 bundle module \"m.js\" (c/m.js) does not match its sha512 in compartment-map.json"
        );
        let (_, z) = zip_b1(&[("m.js", "export {}", None)], &["n.js"]);
        assert_eq!(
            b1_stream(&z, 64).unwrap_err(),
            "b1 bundle zip has an extraneous file \"c/n.js\""
        );
    }

    #[test]
    fn b1_too_short_and_truncated_say_which() {
        let (_, zip) = fixture_b1();
        for cut in 0..4 {
            assert_eq!(
                b1_stream(&zip[..cut], 64).unwrap_err(),
                "b1 bundle is not a readable zip (too short)"
            );
        }
        assert!(b1_stream(&zip[..4], 64)
            .unwrap_err()
            .starts_with("b1 bundle zip ends at offset 4 before"));
    }

    #[test]
    fn snapshot_artifacts_must_hash_to_their_record() {
        let data = b"snapshot-bytes-of-v1";
        for (hash, ok) in [(sha256_hex(data), true), (sha256_hex(b"other"), false)] {
            let rec = crate::model::SnapshotRecord {
                vat: "v1".into(),
                snap_pos: 2,
                hash: hash.clone(),
                in_use: true,
            };
            let name = ArtifactName::parse(&rec.artifact_name()).unwrap();
            let mut c = ArtifactChecker::new(&name, ArtifactRecord::Snapshot(&rec));
            c.update(data).unwrap();
            let (sha, size, res) = c.finish();
            assert_eq!((sha.as_str(), size), (SPEC_4_2_SNAPSHOT, data.len() as u64));
            match res {
                Ok(()) => assert!(ok),
                Err(e) => assert_eq!(
                    e,
                    format!("snapshot bytes hash to {SPEC_4_2_SNAPSHOT}, but its export-data record says {hash}")
                ),
            }
        }
    }

    const SPEC_4_2_SNAPSHOT: &str =
        "fe23a4679a97ad26b69d09d2ede5cd6299f6e5400633e5640d86db4887b4ccce";

    /// A b0 artifact of exactly 64 MiB is checked as a bundle; one byte more is refused
    /// for its size (the grammar fails at byte 0 here, so the check costs no time).
    #[test]
    fn b0_artifacts_are_checked_up_to_64_mib() {
        let chunk = vec![b'x'; 1 << 20];
        for (extra, want) in [
            (0, "b0 bundle does not start with".to_string()),
            (
                1,
                format!(
                    "b0 bundle is {} bytes; at most {MAX_B0_BUNDLE_BYTES} are accepted",
                    MAX_B0_BUNDLE_BYTES + 1
                ),
            ),
        ] {
            let id = format!("b0-{}", "0".repeat(64));
            let name = ArtifactName::parse(&format!("bundle.{id}")).unwrap();
            let mut c = ArtifactChecker::new(&name, ArtifactRecord::Bundle(&id));
            for _ in 0..MAX_B0_BUNDLE_BYTES >> 20 {
                c.update(&chunk).unwrap();
            }
            c.update(&chunk[..extra]).unwrap();
            let err = c.finish().2.unwrap_err();
            assert!(err.starts_with(&want), "{extra}: {err}");
        }
    }

    fn span_state(c: &mut ArtifactChecker) -> &mut SpanState {
        match &mut c.kind {
            Kind::Span { state, .. } => state,
            _ => unreachable!("a span checker"),
        }
    }

    /// Only an item's last 4 bytes are kept (for the trailing-whitespace check), however
    /// it is chunked: a long item does not grow memory.
    #[test]
    fn span_items_keep_only_their_last_four_bytes() {
        let (_, mut c) = span_checker(&["x"]);
        for chunk in [&b"abcdefgh"[..], b"ij", b"k", b"lmnopqrstuvwxyz"] {
            c.update(chunk).unwrap();
            assert!(span_state(&mut c).tail.len() <= 4);
        }
        assert_eq!(span_state(&mut c).tail, b"wxyz");
    }

    /// An item's length adds up across chunks up to the item limit, inclusive; the
    /// message names the item's transcript position (the span starts at 3). The count
    /// is set near the limit rather than streaming 32 MiB.
    #[test]
    fn span_items_over_the_limit_are_refused_at_their_position() {
        let max = MAX_TRANSCRIPT_ITEM_BYTES;
        for (len, refused) in [(max, false), (max + 1, true)] {
            let (_, mut c) = span_checker(&["a", "b"]);
            c.update(b"a\nxy").unwrap();
            span_state(&mut c).item_len = len - 1;
            c.update(b"z").unwrap();
            c.update(b"\n").unwrap();
            let err = c.finish().2.unwrap_err();
            assert_eq!(
                err.starts_with("item at position 4 is longer than 33554432 bytes, agar's limit"),
                refused,
                "{len}: {err}"
            );
        }
    }

    /// A central record with a real extra field and comment after its name (the end
    /// record's directory size grown to match) is read through: the bundle passes.
    #[test]
    fn b1_central_extra_fields_and_comments_are_read_through() {
        let (id, zip) = fixture_b1();
        let eocd = zip.len() - 22;
        let cd = le32(&zip, eocd + 16) as usize;
        let name_end = cd + 46 + le16(&zip, cd + 28) as usize;
        let mut z = zip[..name_end].to_vec();
        z.extend_from_slice(b"XXccc");
        z.extend_from_slice(&zip[name_end..]);
        z[cd + 30..cd + 34].copy_from_slice(&[2, 0, 3, 0]);
        let eocd = eocd + 5;
        let size = le32(&z, eocd + 12) + 5;
        z[eocd + 12..eocd + 16].copy_from_slice(&size.to_le_bytes());
        assert_eq!(b1_stream(&z, 7), Ok(id));
    }
}
