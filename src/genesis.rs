//! genesis.json: the metadata agar needs ([`Genesis`]: chain_id, initial_height and its
//! JSON type, genesis_time, the swingset fields in either spelling, spec §7.5), gathered
//! while [`crate::json`] streams the document; a canonical document on disk
//! ([`CanonicalGenesis`]) and its streaming rewrites; strict loading of small JSON values
//! ([`parse_strict`]). The canonical form (see [`crate::json::canon`]): object keys
//! sorted bytewise, compact, jq's string escaping, a final newline. Number literals are
//! kept as written (never through f64), except that an exponent is normalised to
//! `e+N`/`e-N` (serde_json's arbitrary-precision form; Cosmos genesis files written by
//! Go hold integers and decimal strings, never exponents). For any input whose numbers
//! jq prints unchanged this is byte-identical to `jq -S -c -M .`, so the Cosmos
//! `jq -S -c -M . genesis.json | sha256sum` ritual gives the archive's member digest.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::{bail, Error, Result};
use crate::json::walk::{Action, Edit, Element, Hook, Walked};
use crate::json::{Captured, Fields, Kind, Slot};

/// `sha256:` + hex of the SHA-256 of nothing: what `--swing-store-export-mode skip` writes.
pub const EMPTY_EXPORT_DATA_HASH: &str =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Deserializes any JSON, failing on a duplicate object key anywhere.
struct DupCheck;

impl<'de> Deserialize<'de> for DupCheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(DupVisitor)
    }
}

struct DupVisitor;

impl<'de> Visitor<'de> for DupVisitor {
    type Value = DupCheck;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<DupCheck, E> {
        Ok(DupCheck)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<DupCheck, E> {
        Ok(DupCheck)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<DupCheck, E> {
        Ok(DupCheck)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<DupCheck, E> {
        Ok(DupCheck)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<DupCheck, E> {
        Ok(DupCheck)
    }
    fn visit_unit<E>(self) -> std::result::Result<DupCheck, E> {
        Ok(DupCheck)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> std::result::Result<DupCheck, A::Error> {
        while a.next_element::<DupCheck>()?.is_some() {}
        Ok(DupCheck)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<DupCheck, A::Error> {
        let mut seen = HashSet::new();
        while let Some(k) = a.next_key::<String>()? {
            if !seen.insert(k.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate object key {k:?}"
                )));
            }
            a.next_value::<DupCheck>()?;
        }
        Ok(DupCheck)
    }
}

/// Parse JSON text strictly: valid UTF-8, no duplicate keys, number literals preserved.
pub fn parse_strict(loc: &str, bytes: &[u8]) -> Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    DupCheck::deserialize(&mut de)
        .and_then(|_| de.end())
        .map_err(|e| Error::invalid(loc, format!("not valid JSON: {e}")))?;
    serde_json::from_slice(bytes).map_err(|e| Error::invalid(loc, format!("not valid JSON: {e}")))
}

/// The canonical bytes of a (small) JSON value: sorted keys, compact, jq escaping, `\n`.
/// The same streaming canonicaliser as for genesis.json, over the value's compact text.
pub fn canonical_bytes(v: &Value) -> Vec<u8> {
    let text = serde_json::to_vec(v).expect("a Value serialises");
    let mut out = Vec::with_capacity(text.len() + 1);
    crate::json::canon::canonicalize(std::io::Cursor::new(text), "value", &mut out)
        .expect("a serde_json Value is valid JSON without duplicate keys");
    out
}

/// How the input spelled the swingset genesis fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    Snake,
    Camel,
}

impl Spelling {
    pub fn hash_field(self) -> &'static str {
        match self {
            Spelling::Snake => "swing_store_export_data_hash",
            Spelling::Camel => "swingStoreExportDataHash",
        }
    }
    pub fn data_field(self) -> &'static str {
        match self {
            Spelling::Snake => "swing_store_export_data",
            Spelling::Camel => "swingStoreExportData",
        }
    }
}

/// What agar needs of a genesis document, gathered in the pass that canonicalises,
/// checks or hashes it: never the document itself.
#[derive(Debug, Clone)]
pub struct Genesis {
    pub loc: String,
    pub spelling: Spelling,
    pub chain_id: String,
    pub initial_height: u64,
    /// `initial_height` is a JSON string (SDK ≤ 0.47 exports) rather than a number
    /// (0.50+); every edit keeps the input's type.
    pub height_is_string: bool,
    pub genesis_time: Option<String>,
    hash: Option<Captured>,
    data: Option<Captured>,
}

fn text_of(c: &Captured, loc: impl Into<String>, what: &str) -> Result<String> {
    match c.as_str() {
        Some(s) => Ok(s.to_string()),
        None => bail(
            loc,
            format!(
                "{what} is longer than {} bytes (agar's limit)",
                crate::json::MAX_FIELD_BYTES
            ),
        ),
    }
}

impl Genesis {
    /// The metadata of a document from the fields gathered while reading it.
    pub fn from_fields(loc: &str, f: &Fields) -> Result<Genesis> {
        if f.root != Some(Kind::Object) {
            return bail(loc, "genesis is not a JSON object");
        }
        let is_obj = |s: Slot| f.get(s).is_some_and(|c| c.kind == Kind::Object);
        if !is_obj(Slot::AppState) || !is_obj(Slot::Swingset) {
            return bail(
                loc,
                "no app_state.swingset object (is this an Agoric genesis?)",
            );
        }
        let field_loc = |n: &str| format!("{loc}: {n}");
        let snake = f.get(Slot::HashSnake).is_some() || f.get(Slot::DataSnake).is_some();
        let camel = f.get(Slot::HashCamel).is_some() || f.get(Slot::DataCamel).is_some();
        let spelling = match (snake, camel) {
            (true, true) => {
                return bail(
                    field_loc("swingset"),
                    "has both snake_case and camelCase swing-store fields; keep one spelling",
                )
            }
            (false, true) => Spelling::Camel,
            _ => Spelling::Snake,
        };
        let chain_id = match f.get(Slot::ChainId) {
            Some(c) if c.kind == Kind::String => text_of(c, field_loc("chain_id"), "chain_id")?,
            _ => return bail(field_loc("chain_id"), "missing or not a string"),
        };
        let h = f.get(Slot::InitialHeight);
        let height = h
            .filter(|c| matches!(c.kind, Kind::Number | Kind::String))
            .and_then(|c| c.as_str())
            .and_then(crate::model::parse_pos)
            .filter(|n| *n >= 1);
        let Some(initial_height) = height else {
            let shown = match h {
                None => "absent".to_string(),
                Some(c) => format!(
                    "{} {:?}",
                    c.kind.name(),
                    String::from_utf8_lossy(&c.text[..c.text.len().min(64)])
                ),
            };
            return bail(
                field_loc("initial_height"),
                format!("missing or not a positive integer below 2^53: {shown}"),
            );
        };
        let genesis_time = f
            .get(Slot::GenesisTime)
            .filter(|c| c.kind == Kind::String)
            .and_then(|c| c.as_str())
            .map(str::to_string);
        let (hs, ds) = match spelling {
            Spelling::Snake => (Slot::HashSnake, Slot::DataSnake),
            Spelling::Camel => (Slot::HashCamel, Slot::DataCamel),
        };
        Ok(Genesis {
            loc: loc.to_string(),
            spelling,
            chain_id,
            initial_height,
            height_is_string: h.is_some_and(|c| c.kind == Kind::String),
            genesis_time,
            hash: f.get(hs).cloned(),
            data: f.get(ds).cloned(),
        })
    }

    /// What an archive manifest states of its genesis member, for readers that go on
    /// (verify) when the member itself could not be read.
    pub fn from_manifest(loc: &str, m: &crate::archive::ArchiveManifest) -> Genesis {
        Genesis {
            loc: loc.to_string(),
            spelling: Spelling::Snake,
            chain_id: m.chain_id.clone(),
            initial_height: m.initial_height,
            height_is_string: false,
            genesis_time: None,
            hash: Some(Captured {
                kind: Kind::String,
                text: m.swing_store_export_data_hash.clone().into_bytes(),
                truncated: false,
                items: 0,
            }),
            data: None,
        }
    }

    pub fn field_loc(&self, field: &str) -> String {
        format!("{}: {}", self.loc, field)
    }

    pub fn chain_id(&self) -> Result<&str> {
        Ok(&self.chain_id)
    }

    pub fn initial_height(&self) -> Result<u64> {
        Ok(self.initial_height)
    }

    pub fn genesis_time(&self) -> Option<&str> {
        self.genesis_time.as_deref()
    }

    /// Why agd would refuse this genesis's `genesis_time` (strict RFC 3339, the rule of
    /// every op that sets it: [`crate::genesis_time`]), with what to do; `None` if it is
    /// valid or absent. pack and edit refuse to write such a genesis; verify and inspect
    /// report it in an archive.
    pub fn genesis_time_problem(&self) -> Option<String> {
        let t = self.genesis_time()?;
        crate::genesis_time::check(t).err().map(|why| {
            format!("genesis_time: {why}; agd refuses to start a chain from this genesis. Set a valid time: `agar edit ARCHIVE -o OUT --genesis-time 2026-01-02T03:04:05Z` (or pack from a corrected genesis.json)")
        })
    }

    /// `app_state.swingset.swing_store_export_data_hash` (either spelling), if present.
    pub fn export_data_hash(&self) -> Result<Option<String>> {
        let f = self.spelling.hash_field();
        match &self.hash {
            None => Ok(None),
            Some(c) if c.kind == Kind::String => {
                let s = text_of(c, self.field_loc(f), f)?;
                Ok((!s.is_empty()).then_some(s))
            }
            Some(_) => bail(self.field_loc(f), "is not a string"),
        }
    }

    /// How many inline `swing_store_export_data` entries the document carries (older
    /// genesis files); errors when the field is neither an array nor null.
    pub fn inline_export_data(&self) -> Result<u64> {
        match &self.data {
            None => Ok(0),
            Some(c) if c.kind == Kind::Null => Ok(0),
            Some(c) if c.kind == Kind::Array => Ok(c.items),
            Some(_) => bail(
                self.field_loc(self.spelling.data_field()),
                "is not an array",
            ),
        }
    }

    /// The tokens of the swingset hash / data fields in this spelling.
    fn swingset_path(&self, field: &str) -> Vec<String> {
        vec!["app_state".into(), "swingset".into(), field.into()]
    }
}

/// A canonical genesis document on disk (an unnamed temporary file) with its metadata.
/// Nothing holds the document in memory; every step streams it.
pub struct CanonicalGenesis {
    file: File,
    pub size: u64,
    pub sha256: String,
    pub genesis: Genesis,
}

fn temp(loc: &str) -> Result<File> {
    tempfile::tempfile().map_err(|e| Error::io_at(format!("{loc}: creating a temporary file"), e))
}

impl CanonicalGenesis {
    /// Canonicalise a genesis.json file (any formatting) and read its metadata.
    /// Canonicalise a genesis file: a regular file only (no FIFO, device or directory),
    /// and, with `within`, one that does not leave that directory through a symlink.
    pub fn from_path(path: &Path, within: Option<&Path>) -> Result<CanonicalGenesis> {
        let loc = path.display().to_string();
        let f = crate::confine::open_regular(path, within)?;
        Self::canonicalize(f, &loc)
    }

    /// Canonicalise a seekable reader holding a genesis document.
    pub fn canonicalize<R: Read + Seek>(r: R, loc: &str) -> Result<CanonicalGenesis> {
        // the canonicaliser keeps this thread busy: hashing and writing go to another
        let mut w = crate::archive::pipe::HashBehind::new(temp(loc)?);
        let (fields, size) = crate::json::canon::canonicalize_unhashed(r, loc, &mut w)?;
        let (file, sha256) = w.finish().map_err(|e| Error::io_at(loc, e))?;
        let genesis = Genesis::from_fields(loc, &fields)?;
        Ok(CanonicalGenesis {
            file,
            size,
            sha256,
            genesis,
        })
    }

    /// Adopt a file already checked to hold canonical genesis bytes.
    pub fn from_checked(file: File, size: u64, sha256: String, genesis: Genesis) -> Self {
        CanonicalGenesis {
            file,
            size,
            sha256,
            genesis,
        }
    }

    /// A second handle on the same canonical file (no copy): for a reader that must
    /// stream the document again after `self` is consumed by a rewrite.
    pub fn try_clone(&self) -> Result<CanonicalGenesis> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| Error::io_at(&self.genesis.loc, e))?;
        Ok(CanonicalGenesis {
            file,
            size: self.size,
            sha256: self.sha256.clone(),
            genesis: self.genesis.clone(),
        })
    }

    /// A reader over the canonical bytes, from the start.
    pub fn reader(&self) -> Result<BufReader<File>> {
        let loc = &self.genesis.loc;
        let mut f = self.file.try_clone().map_err(|e| Error::io_at(loc, e))?;
        f.rewind().map_err(|e| Error::io_at(loc, e))?;
        Ok(BufReader::with_capacity(1 << 20, f))
    }

    /// Copy the canonical bytes to `w`.
    pub fn copy_to(&self, w: &mut dyn Write) -> Result<u64> {
        let mut r = self.reader()?;
        crate::json::copy(&mut r, w, &self.genesis.loc)
    }

    /// Stream the document through edits and/or a hook into a new canonical file.
    pub fn rewrite<'h>(
        &self,
        edits: &'h [Edit],
        hook: Option<Hook<'h>>,
    ) -> Result<(CanonicalGenesis, Walked)> {
        self.rewrite_hooks(edits, hook.into_iter().collect())
    }

    /// [`CanonicalGenesis::rewrite`] with several hooks (issue 17's state edits).
    pub fn rewrite_hooks<'h>(
        &self,
        edits: &'h [Edit],
        hooks: Vec<Hook<'h>>,
    ) -> Result<(CanonicalGenesis, Walked)> {
        let loc = self.genesis.loc.clone();
        let mut w = BufWriter::with_capacity(1 << 20, temp(&loc)?);
        let walked =
            crate::json::walk::walk_hooks(self.reader()?, &loc, Some(&mut w), edits, hooks)?;
        let file = w
            .into_inner()
            .map_err(|e| Error::io_at(&loc, e.into_error()))?;
        let genesis = Genesis::from_fields(&loc, &walked.fields)?;
        Ok((
            CanonicalGenesis {
                file,
                size: walked.out_size,
                sha256: walked.out_sha256.clone().unwrap_or_default(),
                genesis,
            },
            walked,
        ))
    }

    /// Read the document through hooks without writing anything.
    pub fn gather<'h>(&self, hooks: Vec<Hook<'h>>) -> Result<Walked> {
        crate::json::walk::walk_hooks(self.reader()?, &self.genesis.loc, None, &[], hooks)
    }

    /// The inline `swing_store_export_data` entries of an older genesis file, one element
    /// at a time (errors on entries that are not `{key, value}` strings).
    pub fn inline_export_data(
        &self,
        f: &mut dyn FnMut(String, String) -> Result<()>,
    ) -> Result<()> {
        if self.genesis.inline_export_data()? == 0 {
            return Ok(());
        }
        let g = &self.genesis;
        let field = g.spelling.data_field();
        let loc = g.field_loc(field);
        let mut hook = |i: u64, el: &[u8]| -> Result<Element> {
            let v: Value = serde_json::from_slice(el)
                .map_err(|e| Error::invalid(format!("{loc}[{i}]"), e.to_string()))?;
            match (
                v.get("key").and_then(|k| k.as_str()),
                v.get("value").and_then(|k| k.as_str()),
            ) {
                (Some(k), Some(v)) => f(k.to_string(), v.to_string())?,
                _ => {
                    return bail(
                        format!("{loc}[{i}]"),
                        "entry is not {\"key\": string, \"value\": string}",
                    )
                }
            }
            Ok(Element::Keep)
        };
        crate::json::walk::walk(
            self.reader()?,
            &g.loc,
            None,
            &[],
            Some(Hook {
                tokens: g.swingset_path(field),
                f: &mut hook,
            }),
        )?;
        Ok(())
    }

    /// Set the export-data hash (`sha256:<hex>`) and empty the inline data field (`[]`,
    /// as agd writes it), streaming into a new file.
    pub fn with_export_data_hash(self, hash: &str) -> Result<CanonicalGenesis> {
        let g = &self.genesis;
        let empty = matches!(&g.data, Some(c) if c.kind == Kind::Array && c.items == 0);
        if empty && g.export_data_hash()?.as_deref() == Some(hash) {
            return Ok(self);
        }
        let (hf, df) = (g.spelling.hash_field(), g.spelling.data_field());
        let mut edits = vec![Edit {
            pointer: format!("/app_state/swingset/{hf}"),
            tokens: g.swingset_path(hf),
            action: Action::Set(crate::json::string_bytes(hash)),
        }];
        if !empty {
            edits.push(Edit {
                pointer: format!("/app_state/swingset/{df}"),
                tokens: g.swingset_path(df),
                action: Action::Set(b"[]".to_vec()),
            });
        }
        Ok(self.rewrite(&edits, None)?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_and_keeps_literals() {
        let v = parse_strict("t", br#"{"b":1.50,"a":[1e2,-0,12345678901234567890123],"\u00e9":"<&>\u007f\u2028","c":"\b\f\u0001"}"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical_bytes(&v)).unwrap(),
            "{\"a\":[1e+2,-0,12345678901234567890123],\"b\":1.50,\"c\":\"\\b\\f\\u0001\",\"é\":\"<&>\\u007f\u{2028}\"}\n"
        );
    }

    #[test]
    fn duplicate_keys_rejected() {
        let e = parse_strict("g.json", br#"{"a":{"x":1,"x":2}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("duplicate object key \"x\""), "{e}");
        assert!(parse_strict("g", b"{} x").is_err());
    }

    /// An `agd export` of SDK 0.50+ (upgrade-22 on): fields in agd's order, a number
    /// `initial_height`, validators under `consensus`, the hash beside an emptied array.
    const SDK_050: &str = r#"{
  "app_name": "agd", "app_version": "v0.50", "genesis_time": "2026-01-02T03:04:05.678901234Z",
  "chain_id": "agoriclocal", "initial_height": 28, "app_hash": "",
  "app_state": {"vbank": {}, "swingset": {"params": {}, "state": {},
    "swing_store_export_data": [], "swing_store_export_data_hash": "sha256:ab"}},
  "consensus": {"params": {}, "validators": []}
}"#;

    /// An export of SDK <= 0.47 (upgrade-21 and earlier): keys sorted, a string
    /// `initial_height`, top-level `validators`, export data inline (older genesis files).
    const SDK_047: &str = r#"{"app_hash":"","app_state":{"swingset":{"params":{},
"swing_store_export_data":[{"key":"a","value":"1"},{"value":"2","key":"b.c"}]}},
"chain_id":"agoric-3","consensus_params":{},"genesis_time":"2021-05-10T19:00:00Z",
"initial_height":"2115669","validators":[]}"#;

    /// The camelCase spelling of the swingset fields.
    const CAMEL: &str = r#"{"chain_id":"c","initial_height":7,"app_state":{"swingset":
{"swingStoreExportDataHash":"sha256:cd","swingStoreExportData":[{"key":"k","value":"v"}]}}}"#;

    fn canon(doc: &str) -> Result<CanonicalGenesis> {
        CanonicalGenesis::canonicalize(std::io::Cursor::new(doc.as_bytes()), "g.json")
    }

    fn text(c: &CanonicalGenesis) -> String {
        let mut v = Vec::new();
        assert_eq!(c.copy_to(&mut v).unwrap(), c.size);
        assert_eq!(c.size, v.len() as u64);
        assert_eq!(c.sha256, crate::hashes::sha256_hex(&v));
        String::from_utf8(v).unwrap()
    }

    /// The message of a refused document; every refusal is bad input (exit 3).
    fn refusal(doc: &str) -> String {
        let e = canon(doc).err().expect("refused");
        assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT, "{e}");
        e.to_string()
    }

    fn entries(c: &CanonicalGenesis) -> Result<Vec<(String, String)>> {
        let mut got = Vec::new();
        c.inline_export_data(&mut |k, v| {
            got.push((k, v));
            Ok(())
        })?;
        Ok(got)
    }

    #[test]
    fn an_sdk_050_export_gives_its_metadata_and_canonical_bytes() {
        let c = canon(SDK_050).unwrap();
        let g = &c.genesis;
        assert_eq!(g.spelling, Spelling::Snake);
        assert_eq!(g.chain_id().unwrap(), "agoriclocal");
        assert_eq!(g.initial_height().unwrap(), 28);
        assert!(!g.height_is_string);
        assert_eq!(g.genesis_time(), Some("2026-01-02T03:04:05.678901234Z"));
        assert_eq!(g.genesis_time_problem(), None);
        assert_eq!(g.export_data_hash().unwrap().as_deref(), Some("sha256:ab"));
        assert_eq!(g.inline_export_data().unwrap(), 0);
        assert_eq!(g.field_loc("chain_id"), "g.json: chain_id");
        assert_eq!(entries(&c).unwrap(), []);
        assert_eq!(
            text(&c),
            concat!(
                r#"{"app_hash":"","app_name":"agd","app_state":{"swingset":{"params":{},"state":{},"#,
                r#""swing_store_export_data":[],"swing_store_export_data_hash":"sha256:ab"},"vbank":{}},"#,
                r#""app_version":"v0.50","chain_id":"agoriclocal","consensus":{"params":{},"validators":[]},"#,
                r#""genesis_time":"2026-01-02T03:04:05.678901234Z","initial_height":28}"#,
                "\n"
            )
        );
    }

    #[test]
    fn an_sdk_047_export_keeps_a_string_height_and_streams_its_inline_export_data() {
        let c = canon(SDK_047).unwrap();
        let g = &c.genesis;
        assert_eq!(g.spelling, Spelling::Snake);
        assert_eq!(g.chain_id().unwrap(), "agoric-3");
        assert_eq!(g.initial_height().unwrap(), 2115669);
        assert!(g.height_is_string);
        assert_eq!(g.genesis_time(), Some("2021-05-10T19:00:00Z"));
        assert_eq!(g.export_data_hash().unwrap(), None);
        assert_eq!(g.inline_export_data().unwrap(), 2);
        let want = [("a", "1"), ("b.c", "2")].map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(entries(&c).unwrap(), want);
    }

    #[test]
    fn camel_case_fields_are_read_and_written_in_their_spelling() {
        let c = canon(CAMEL).unwrap();
        let g = &c.genesis;
        assert_eq!(g.spelling, Spelling::Camel);
        assert_eq!(g.export_data_hash().unwrap().as_deref(), Some("sha256:cd"));
        assert_eq!(g.inline_export_data().unwrap(), 1);
        assert_eq!(entries(&c).unwrap(), [("k".into(), "v".into())]);
        let h = EMPTY_EXPORT_DATA_HASH;
        let out = c.with_export_data_hash(h).unwrap();
        assert_eq!(out.genesis.spelling, Spelling::Camel);
        assert_eq!(out.genesis.export_data_hash().unwrap().as_deref(), Some(h));
        assert_eq!(out.genesis.inline_export_data().unwrap(), 0);
        assert_eq!(
            text(&out),
            format!(
                r#"{{"app_state":{{"swingset":{{"swingStoreExportData":[],"swingStoreExportDataHash":"{h}"}}}},"chain_id":"c","initial_height":7}}"#
            ) + "\n"
        );
    }

    #[test]
    fn the_spellings_name_their_fields() {
        assert_eq!(Spelling::Snake.hash_field(), "swing_store_export_data_hash");
        assert_eq!(Spelling::Snake.data_field(), "swing_store_export_data");
        assert_eq!(Spelling::Camel.hash_field(), "swingStoreExportDataHash");
        assert_eq!(Spelling::Camel.data_field(), "swingStoreExportData");
    }

    /// A minimal genesis with `swingset` members and root members added.
    fn doc(swingset: &str, root: &str) -> String {
        format!(r#"{{"app_state":{{"swingset":{{{swingset}}}}}{root}}}"#)
    }

    const OK_ROOT: &str = r#","chain_id":"c","initial_height":1"#;

    #[test]
    fn documents_that_are_not_agoric_genesis_objects_are_refused_with_where_and_why() {
        assert_eq!(refusal("[]"), "g.json: genesis is not a JSON object");
        let no_swingset = "g.json: no app_state.swingset object (is this an Agoric genesis?)";
        for d in [
            r#"{"chain_id":"c","initial_height":1}"#,
            r#"{"chain_id":"c","initial_height":1,"app_state":[]}"#,
            r#"{"chain_id":"c","initial_height":1,"app_state":{}}"#,
            r#"{"chain_id":"c","initial_height":1,"app_state":{"swingset":[]}}"#,
            r#"{"chain_id":"c","initial_height":1,"app_state":{"swingset":null}}"#,
        ] {
            assert_eq!(refusal(d), no_swingset, "{d}");
        }
        assert_eq!(canon(&doc("", OK_ROOT)).unwrap().genesis.chain_id, "c");
    }

    #[test]
    fn both_spellings_at_once_are_refused_whichever_fields_they_use() {
        let both = "g.json: swingset: has both snake_case and camelCase swing-store fields; keep one spelling";
        for s in [
            r#""swing_store_export_data_hash":"","swingStoreExportData":[]"#,
            r#""swing_store_export_data":[],"swingStoreExportDataHash":"""#,
            r#""swing_store_export_data_hash":"","swingStoreExportDataHash":"""#,
        ] {
            assert_eq!(refusal(&doc(s, OK_ROOT)), both, "{s}");
        }
        // one spelling, either field alone
        for (s, sp) in [
            (r#""swing_store_export_data":[]"#, Spelling::Snake),
            (r#""swing_store_export_data_hash":"""#, Spelling::Snake),
            (r#""swingStoreExportData":[]"#, Spelling::Camel),
            (r#""swingStoreExportDataHash":"""#, Spelling::Camel),
            ("", Spelling::Snake),
        ] {
            assert_eq!(canon(&doc(s, OK_ROOT)).unwrap().genesis.spelling, sp, "{s}");
        }
    }

    #[test]
    fn chain_id_must_be_a_string_within_the_field_limit() {
        let bad = "g.json: chain_id: missing or not a string";
        assert_eq!(refusal(&doc("", r#","initial_height":1"#)), bad);
        assert_eq!(
            refusal(&doc("", r#","chain_id":5,"initial_height":1"#)),
            bad
        );
        assert_eq!(
            refusal(&doc("", r#","chain_id":null,"initial_height":1"#)),
            bad
        );
        let id = "x".repeat(crate::json::MAX_FIELD_BYTES);
        let g = canon(&doc(
            "",
            &format!(r#","chain_id":"{id}","initial_height":1"#),
        ))
        .unwrap();
        assert_eq!(g.genesis.chain_id().unwrap(), id);
        let long = format!(r#","chain_id":"{id}x","initial_height":1"#);
        assert_eq!(
            refusal(&doc("", &long)),
            "g.json: chain_id: chain_id is longer than 4096 bytes (agar's limit)"
        );
    }

    #[test]
    fn initial_height_is_a_positive_integer_below_2_53_as_a_number_or_a_string() {
        let at = |h: &str| doc("", &format!(r#","chain_id":"c","initial_height":{h}"#));
        for (h, n, is_string) in [
            ("1", 1, false),
            (r#""1""#, 1, true),
            ("9007199254740991", (1 << 53) - 1, false),
            (r#""21""#, 21, true),
        ] {
            let g = canon(&at(h)).unwrap().genesis;
            assert_eq!(
                (g.initial_height().unwrap(), g.height_is_string),
                (n, is_string),
                "{h}"
            );
        }
        let why = "g.json: initial_height: missing or not a positive integer below 2^53: ";
        for (h, shown) in [
            ("0", r#"a number "0""#),
            (r#""0""#, r#"a string "0""#),
            ("-1", r#"a number "-1""#),
            ("1.0", r#"a number "1.0""#),
            ("9007199254740992", r#"a number "9007199254740992""#),
            (r#""01""#, r#"a string "01""#),
            ("[1]", r#"an array """#),
        ] {
            assert_eq!(refusal(&at(h)), format!("{why}{shown}"), "{h}");
        }
        let long = format!("\"{}\"", "1".repeat(100));
        assert_eq!(
            refusal(&at(&long)),
            format!("{why}a string {:?}", "1".repeat(64))
        );
        assert_eq!(
            refusal(&doc("", r#","chain_id":"c""#)),
            format!("{why}absent")
        );
    }

    #[test]
    fn genesis_time_is_a_string_or_nothing_and_an_invalid_one_is_a_problem() {
        let at = |t: &str| {
            canon(&doc("", &format!(r#"{OK_ROOT},"genesis_time":{t}"#)))
                .unwrap()
                .genesis
        };
        let g = at(r#""2026-01-02T03:04:05Z""#);
        assert_eq!(g.genesis_time(), Some("2026-01-02T03:04:05Z"));
        assert_eq!(g.genesis_time_problem(), None);
        for t in ["5", "null", "{}"] {
            let g = at(t);
            assert_eq!(
                (g.genesis_time(), g.genesis_time_problem()),
                (None, None),
                "{t}"
            );
        }
        let g = canon(&doc("", OK_ROOT)).unwrap().genesis;
        assert_eq!((g.genesis_time(), g.genesis_time_problem()), (None, None));
        let g = at(r#""2026-13-45T99:99:99Z""#);
        assert_eq!(g.genesis_time(), Some("2026-13-45T99:99:99Z"));
        let p = g.genesis_time_problem().expect("a problem");
        let why = crate::genesis_time::check("2026-13-45T99:99:99Z").unwrap_err();
        assert!(
            p.starts_with(&format!("genesis_time: {why}; agd refuses")),
            "{p}"
        );
        assert!(p.contains("--genesis-time"), "{p}");
    }

    #[test]
    fn the_export_data_hash_is_a_string_and_empty_means_none() {
        let at = |s: &str| canon(&doc(s, OK_ROOT)).unwrap().genesis;
        assert_eq!(at("").export_data_hash().unwrap(), None);
        let g = at(r#""swing_store_export_data_hash":"""#);
        assert_eq!(g.export_data_hash().unwrap(), None);
        let g = at(r#""swingStoreExportDataHash":"sha256:00""#);
        assert_eq!(g.export_data_hash().unwrap().as_deref(), Some("sha256:00"));
        for (s, want) in [
            (
                r#""swing_store_export_data_hash":5"#,
                "g.json: swing_store_export_data_hash: is not a string",
            ),
            (
                r#""swingStoreExportDataHash":null"#,
                "g.json: swingStoreExportDataHash: is not a string",
            ),
        ] {
            let e = at(s).export_data_hash().unwrap_err();
            assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
            assert_eq!(e.to_string(), want);
        }
        let long = format!(r#""swing_store_export_data_hash":"{}""#, "a".repeat(5000));
        assert_eq!(
            at(&long).export_data_hash().unwrap_err().to_string(),
            "g.json: swing_store_export_data_hash: swing_store_export_data_hash is longer than 4096 bytes (agar's limit)"
        );
    }

    #[test]
    fn inline_export_data_is_an_array_null_or_absent() {
        let at = |s: &str| canon(&doc(s, OK_ROOT)).unwrap();
        for (s, n) in [
            ("", 0),
            (r#""swing_store_export_data":null"#, 0),
            (r#""swing_store_export_data":[]"#, 0),
            (r#""swing_store_export_data":[1,2,3]"#, 3),
            (r#""swingStoreExportData":[[],{}]"#, 2),
        ] {
            assert_eq!(at(s).genesis.inline_export_data().unwrap(), n, "{s}");
        }
        for (s, want) in [
            (
                r#""swing_store_export_data":{}"#,
                "g.json: swing_store_export_data: is not an array",
            ),
            (
                r#""swingStoreExportData":"x""#,
                "g.json: swingStoreExportData: is not an array",
            ),
        ] {
            let c = at(s);
            let e = c.genesis.inline_export_data().unwrap_err();
            assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
            assert_eq!(e.to_string(), want);
            assert_eq!(entries(&c).unwrap_err().to_string(), want);
        }
        // null and absent stream nothing; entries that are not key/value strings are refused
        assert_eq!(
            entries(&at(r#""swing_store_export_data":null"#)).unwrap(),
            []
        );
        for (el, i) in [
            (r#"{"key":"a","value":"1"},{"key":"b"}"#, 1),
            (r#"{"key":1,"value":"1"}"#, 0),
            (
                r#"{"key":"a","value":"1"},{"key":"b","value":"2"},["c","3"]"#,
                2,
            ),
        ] {
            let c = at(&format!(r#""swing_store_export_data":[{el}]"#));
            let e = entries(&c).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
            assert_eq!(
                e.to_string(),
                format!(
                    r#"g.json: swing_store_export_data[{i}]: entry is not {{"key": string, "value": string}}"#
                ),
                "{el}"
            );
        }
    }

    #[test]
    fn setting_the_export_data_hash_empties_the_inline_data_and_leaves_the_rest() {
        let h = "sha256:0123";
        let set = |d: &str| {
            let out = canon(d).unwrap().with_export_data_hash(h).unwrap();
            assert_eq!(out.genesis.export_data_hash().unwrap().as_deref(), Some(h));
            assert_eq!(out.genesis.inline_export_data().unwrap(), 0);
            text(&out)
        };
        // inline data and no hash (SDK 0.47): both fields set
        assert_eq!(
            set(SDK_047),
            format!(
                r#"{{"app_hash":"","app_state":{{"swingset":{{"params":{{}},"swing_store_export_data":[],"swing_store_export_data_hash":"{h}"}}}},"chain_id":"agoric-3","consensus_params":{{}},"genesis_time":"2021-05-10T19:00:00Z","initial_height":"2115669","validators":[]}}"#
            ) + "\n"
        );
        // `doc` writes the canonical form of these: keys in order, compact
        let done = format!(r#""swing_store_export_data":[],"swing_store_export_data_hash":"{h}""#);
        let want = doc(&done, OK_ROOT) + "\n";
        for (what, swingset) in [
            (
                "emptied, another hash: the hash replaced",
                r#""swing_store_export_data":[],"swing_store_export_data_hash":"sha256:ff""#.into(),
            ),
            (
                "emptied, no hash: the hash added",
                r#""swing_store_export_data":[]"#.into(),
            ),
            (
                "the hash, data left inline: the data emptied",
                done.replace("[]", r#"[{"key":"a","value":"1"}]"#),
            ),
            (
                "null data: [] as agd writes it",
                r#""swing_store_export_data":null"#.into(),
            ),
            ("already done", done.clone()),
        ] {
            let swingset: String = swingset;
            assert_eq!(set(&doc(&swingset, OK_ROOT)), want, "{what}");
        }
        // already done: the same document, size and digest
        let before = canon(&doc(&done, OK_ROOT)).unwrap();
        let (size, sha) = (before.size, before.sha256.clone());
        let after = before.with_export_data_hash(h).unwrap();
        assert_eq!((after.size, after.sha256.clone()), (size, sha));
        assert_eq!(text(&after), want);
    }
}
