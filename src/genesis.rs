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
}
