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

/// Validate a b0 bundle text as the official importer does (spec §4.3): parse it,
/// rebuild `{moduleFormat, source, sourceMap}` in that order with `JSON.stringify`, and
/// require that text to be the artifact itself and to hash to the ID. Returns the
/// problem, if any.
pub fn check_b0(id_hex: &str, text: &[u8]) -> Result<(), String> {
    let v: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| format!("b0 bundle is not valid JSON: {e}"))?;
    let obj = v.as_object().ok_or("b0 bundle is not a JSON object")?;
    let fmt = obj
        .get("moduleFormat")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if fmt != "nestedEvaluate" {
        return Err(format!(
            "unsupported b0- module format {fmt:?} (must be \"nestedEvaluate\")"
        ));
    }
    let source = obj
        .get("source")
        .and_then(|v| v.as_str())
        .ok_or("b0 bundle has no string \"source\"")?;
    let mut rebuilt = String::with_capacity(text.len());
    rebuilt.push_str("{\"moduleFormat\":\"nestedEvaluate\",\"source\":");
    js_stringify_str(&mut rebuilt, source);
    match obj.get("sourceMap") {
        None => {}
        Some(serde_json::Value::String(m)) => {
            rebuilt.push_str(",\"sourceMap\":");
            js_stringify_str(&mut rebuilt, m);
        }
        Some(_) => return Err("b0 bundle \"sourceMap\" is not a string".into()),
    }
    rebuilt.push('}');
    if rebuilt.as_bytes() != text {
        return Err("b0 bundle text is not in the canonical {moduleFormat,source,sourceMap} JSON.stringify form the importer rebuilds".into());
    }
    let got = sha256_hex(text);
    if got != id_hex {
        return Err(format!("b0 bundle hashes to b0-{got}, not its ID"));
    }
    Ok(())
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
}

struct SpanState {
    chain: SpanHasher,
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
                    chain: SpanHasher::new(),
                    item: Sha256::new(),
                    items: 0,
                    in_item: false,
                    tail: Vec::new(),
                    problem: None,
                },
            },
            ArtifactRecord::Bundle(id) => Kind::Bundle {
                id: id.clone(),
                spool: tempfile::spooled_tempfile(BUNDLE_SPOOL_MEM),
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
            Kind::Bundle { id, mut spool } => match spool.seek(SeekFrom::Start(0)) {
                Err(e) => Err(format!("buffering bundle: {e}")),
                Ok(_) => {
                    if let Some(h) = id.strip_prefix("b0-") {
                        let mut text = Vec::new();
                        match spool.read_to_end(&mut text) {
                            Ok(_) => check_b0(h, &text),
                            Err(e) => Err(format!("buffering bundle: {e}")),
                        }
                    } else {
                        check_b1(id.strip_prefix("b1-").unwrap_or(""), spool)
                    }
                }
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
        self.chain
            .push_digest(std::mem::take(&mut self.item).finalize());
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
