//! The swing-store hashes (spec §4) and a streaming checker that validates an artifact's
//! bytes against its export-data record while they flow past.

use std::io::{Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256, Sha512};

use crate::model::{ArtifactName, ArtifactRecord, SpanRecord};

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `hex(sha256("start of transcript span"))` (spec §4.1).
pub const SPAN_INITIAL_HASH: &str =
    "43e6be43a3a34d60c0ebeb8498b5849b094fc20fc68483a7aeb3624fa10f79f6";

/// One step of the transcript span hash chain: `sha256(hex(prev) || hex(sha256(item)))`.
pub fn span_hash_step(prev_hex: &str, item: &[u8]) -> String {
    let item_hex = hex::encode(Sha256::digest(item));
    let mut h = Sha256::new();
    h.update(prev_hex.as_bytes());
    h.update(item_hex.as_bytes());
    hex::encode(h.finalize())
}

/// The span hash of a whole list of items.
pub fn span_hash<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> String {
    items
        .into_iter()
        .fold(SPAN_INITIAL_HASH.to_string(), |h, it| {
            span_hash_step(&h, it)
        })
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

/// Validate a b1 (endoZipBase64) bundle zip (spec §4.3): STORED entries with valid CRCs,
/// at least two entries, SHA-512 of `compartment-map.json` equal to the ID, every module
/// file's SHA-512 as listed in the map, and no extraneous files.
pub fn check_b1<R: Read + Seek>(id_hex: &str, mut zip_bytes: R) -> Result<(), String> {
    let zip_len = zip_bytes
        .seek(SeekFrom::End(0))
        .and_then(|n| zip_bytes.seek(SeekFrom::Start(0)).map(|_| n))
        .map_err(|e| format!("b1 bundle: {e}"))?;
    let mut z = zip::ZipArchive::new(zip_bytes)
        .map_err(|e| format!("b1 bundle is not a readable zip: {e}"))?;
    if z.len() < 2 {
        return Err(format!(
            "b1 bundle zip has {} entries; at least 2 are required",
            z.len()
        ));
    }
    // Entries whose data overlap would make hashing quadratic (a zip bomb without
    // compression): every entry's local header (30 bytes + name) and data must fit.
    let mut claimed = 0u64;
    for i in 0..z.len() {
        let f = z
            .by_index_raw(i)
            .map_err(|e| format!("b1 bundle zip entry {i}: {e}"))?;
        claimed = claimed
            .saturating_add(30 + f.name_raw().len() as u64)
            .saturating_add(f.compressed_size());
    }
    if claimed > zip_len {
        return Err(format!(
            "b1 bundle zip entries claim {claimed} bytes of a {zip_len}-byte zip: they overlap (a zip bomb)"
        ));
    }
    let mut files: std::collections::BTreeMap<String, String> = Default::default();
    let mut cmap: Option<Vec<u8>> = None;
    for i in 0..z.len() {
        let mut f = z
            .by_index(i)
            .map_err(|e| format!("b1 bundle zip entry {i}: {e}"))?;
        if f.compression() != zip::CompressionMethod::Stored {
            return Err(format!("b1 bundle zip entry {:?} is compressed; the endo archive reader only reads STORED entries", f.name()));
        }
        let name = f.name().to_string();
        let mut h = Sha512::new();
        let mut buf = [0u8; 64 * 1024];
        let mut keep = if name == "compartment-map.json" {
            Some(Vec::new())
        } else {
            None
        };
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| format!("b1 bundle zip entry {name:?}: {e}"))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            if let Some(k) = keep.as_mut() {
                if k.len() + n > 64 << 20 {
                    return Err("b1 compartment-map.json is larger than 64 MiB".into());
                }
                k.extend_from_slice(&buf[..n]);
            }
        }
        if let Some(k) = keep {
            cmap = Some(k);
        }
        if files
            .insert(name.clone(), hex::encode(h.finalize()))
            .is_some()
        {
            return Err(format!("b1 bundle zip has entry {name:?} twice"));
        }
    }
    let cmap = cmap.ok_or("b1 bundle zip has no compartment-map.json")?;
    let got = hex::encode(Sha512::digest(&cmap));
    if got != id_hex {
        return Err(format!(
            "b1 bundle compartment-map.json hashes to b1-{got}, not its ID"
        ));
    }
    let map: serde_json::Value = serde_json::from_slice(&cmap)
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
            match files.get(&path) {
                Some(h) if h == sha => {
                    referenced.insert(path);
                }
                Some(_) => return Err(format!("b1 bundle module {spec:?} ({path}) does not match its sha512 in compartment-map.json")),
                None => return Err(format!("b1 bundle module {spec:?} ({path}) is missing from the zip")),
            }
        }
    }
    if let Some(extra) = files.keys().find(|k| !referenced.contains(*k)) {
        return Err(format!("b1 bundle zip has an extraneous file {extra:?}"));
    }
    Ok(())
}

/// Bundles are buffered (in memory up to this size, then in a temp file) because the
/// zip reader needs random access.
const BUNDLE_SPOOL_MEM: usize = 8 << 20;

enum Kind {
    /// The snapshot hash is the SHA-256 of the raw bytes: the member digest itself.
    Snapshot {
        expect: String,
    },
    Span {
        span: SpanRecord,
        state: SpanState,
    },
    Bundle {
        id: String,
        spool: tempfile::SpooledTempFile,
    },
    /// b0 bundles are checked as they stream (no buffering); the ID is the member digest.
    B0 {
        id_hex: String,
        check: B0Check,
    },
}

struct SpanState {
    chain: String,
    item: Sha256,
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
                    chain: SPAN_INITIAL_HASH.to_string(),
                    item: Sha256::new(),
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
                None => Kind::Bundle {
                    id: id.clone(),
                    spool: tempfile::spooled_tempfile(BUNDLE_SPOOL_MEM),
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
            Kind::Bundle { spool, .. } => spool.write_all(data)?,
            Kind::B0 { check, .. } => {
                if self.size <= MAX_B0_BUNDLE_BYTES {
                    check.update(data)
                }
            }
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
            Kind::Bundle { id, mut spool } => match spool.seek(SeekFrom::Start(0)) {
                Err(e) => Err(format!("buffering bundle: {e}")),
                Ok(_) => check_b1(id.strip_prefix("b1-").unwrap_or(""), spool),
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
            } else if last.is_some_and(is_js_whitespace) {
                self.problem = Some(format!(
                    "item {} ends in whitespace, which the official importer's trimEnd() would remove",
                    self.items
                ));
            }
        }
        let item_hex = hex::encode(std::mem::take(&mut self.item).finalize());
        let mut h = Sha256::new();
        h.update(self.chain.as_bytes());
        h.update(item_hex.as_bytes());
        self.chain = hex::encode(h.finalize());
        self.items += 1;
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
        if self.chain != span.hash {
            return Err(format!(
                "items hash to {}, but the span record says {}",
                self.chain, span.hash
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
        let h1 = span_hash_step(SPAN_INITIAL_HASH, b"a");
        assert_eq!(
            h1,
            "cac9c2785da21735f66e219ca021f4bc07ef2b82cd97ad399e9b779b1045d6ce"
        );
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
}
