//! genesis.json: strict loading (no duplicate keys, number literals kept exactly), the
//! swingset fields in either spelling (spec §7.5), and the canonical form: object keys
//! sorted bytewise, compact, jq's string escaping, a final newline. Number literals are
//! kept as written (never through f64), except that an exponent is normalised to
//! `e+N`/`e-N` (serde_json's arbitrary-precision form; Cosmos genesis files written by
//! Go hold integers and decimal strings, never exponents). For any input whose numbers
//! jq prints unchanged this is byte-identical to `jq -S -c -M .`, so the Cosmos
//! `jq -S -c -M . genesis.json | sha256sum` ritual gives the archive's member digest.

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{bail, Error, Result};

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

fn write_jq_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: Option<&[u8]> = match c {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            b'\t' => Some(b"\\t"),
            b'\n' => Some(b"\\n"),
            0x0c => Some(b"\\f"),
            b'\r' => Some(b"\\r"),
            0x00..=0x1f | 0x7f => Some(b""),
            _ => None,
        };
        if let Some(e) = esc {
            out.extend_from_slice(&b[start..i]);
            if e.is_empty() {
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
            } else {
                out.extend_from_slice(e);
            }
            start = i + 1;
        }
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

fn write_canonical(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_jq_string(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, x);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            // serde_json's Map is a BTreeMap<String, _>: iteration is bytewise key order.
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_jq_string(out, k);
                out.push(b':');
                write_canonical(out, x);
            }
            out.push(b'}');
        }
    }
}

/// The canonical bytes of any JSON value (sorted keys, compact, jq escaping, `\n`).
pub fn canonical_bytes(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(&mut out, v);
    out.push(b'\n');
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

/// A parsed genesis document.
#[derive(Debug, Clone)]
pub struct Genesis {
    pub loc: String,
    pub doc: Value,
    pub spelling: Spelling,
}

impl Genesis {
    pub fn from_bytes(loc: &str, bytes: &[u8]) -> Result<Genesis> {
        let doc = parse_strict(loc, bytes)?;
        if !doc.is_object() {
            return bail(loc, "genesis is not a JSON object");
        }
        let mut g = Genesis {
            loc: loc.to_string(),
            doc,
            spelling: Spelling::Snake,
        };
        let sw = g.swingset()?;
        let has = |s: Spelling| sw.contains_key(s.hash_field()) || sw.contains_key(s.data_field());
        g.spelling = match (has(Spelling::Snake), has(Spelling::Camel)) {
            (true, true) => {
                return bail(
                    g.field_loc("swingset"),
                    "has both snake_case and camelCase swing-store fields; keep one spelling",
                )
            }
            (false, true) => Spelling::Camel,
            _ => Spelling::Snake,
        };
        g.chain_id()?;
        g.initial_height()?;
        Ok(g)
    }

    pub fn field_loc(&self, field: &str) -> String {
        format!("{}: {}", self.loc, field)
    }

    fn swingset(&self) -> Result<&Map<String, Value>> {
        self.doc
            .get("app_state")
            .and_then(|a| a.get("swingset"))
            .and_then(|s| s.as_object())
            .ok_or_else(|| {
                Error::invalid(
                    &self.loc,
                    "no app_state.swingset object (is this an Agoric genesis?)",
                )
            })
    }

    fn swingset_mut(&mut self) -> Result<&mut Map<String, Value>> {
        let loc = self.loc.clone();
        self.doc
            .get_mut("app_state")
            .and_then(|a| a.get_mut("swingset"))
            .and_then(|s| s.as_object_mut())
            .ok_or_else(|| {
                Error::invalid(
                    loc,
                    "no app_state.swingset object (is this an Agoric genesis?)",
                )
            })
    }

    pub fn chain_id(&self) -> Result<&str> {
        self.doc
            .get("chain_id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| Error::invalid(self.field_loc("chain_id"), "missing or not a string"))
    }

    /// `initial_height`, a JSON number or a decimal string (both occur in Cosmos genesis).
    pub fn initial_height(&self) -> Result<u64> {
        let v = self.doc.get("initial_height");
        let n = match v {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => crate::model::parse_pos(s),
            _ => None,
        };
        n.filter(|n| *n >= 1).ok_or_else(|| {
            Error::invalid(
                self.field_loc("initial_height"),
                format!("missing or not a positive integer: {v:?}"),
            )
        })
    }

    pub fn genesis_time(&self) -> Option<&str> {
        self.doc.get("genesis_time").and_then(|v| v.as_str())
    }

    /// `app_state.swingset.swing_store_export_data_hash` (either spelling), if present.
    pub fn export_data_hash(&self) -> Result<Option<String>> {
        match self.swingset()?.get(self.spelling.hash_field()) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => bail(
                self.field_loc(self.spelling.hash_field()),
                "is not a string",
            ),
        }
    }

    /// Inline `swing_store_export_data` entries of older genesis files, removed from the
    /// document (left as `[]`). Errors on entries that are not `{key, value}` strings.
    pub fn take_inline_export_data(&mut self) -> Result<Vec<(String, String)>> {
        let field = self.spelling.data_field();
        let loc = self.field_loc(field);
        let sw = self.swingset_mut()?;
        let Some(v) = sw.get_mut(field) else {
            return Ok(Vec::new());
        };
        let arr = match v {
            Value::Null => return Ok(Vec::new()),
            Value::Array(a) => std::mem::take(a),
            _ => return bail(loc, "is not an array"),
        };
        let mut out = Vec::with_capacity(arr.len());
        for (i, e) in arr.into_iter().enumerate() {
            let k = e.get("key").and_then(|k| k.as_str());
            let v = e.get("value").and_then(|k| k.as_str());
            match (k, v) {
                (Some(k), Some(v)) => out.push((k.to_string(), v.to_string())),
                _ => {
                    return bail(
                        format!("{loc}[{i}]"),
                        "entry is not {\"key\": string, \"value\": string}",
                    )
                }
            }
        }
        Ok(out)
    }

    /// Set the export-data hash (`sha256:<hex>`), and make sure the inline data field
    /// holds `[]` as agd writes it.
    pub fn set_export_data_hash(&mut self, hash: &str) -> Result<()> {
        let (hf, df) = (self.spelling.hash_field(), self.spelling.data_field());
        let sw = self.swingset_mut()?;
        sw.insert(hf.to_string(), Value::String(hash.to_string()));
        match sw.get(df) {
            Some(Value::Array(a)) if a.is_empty() => {}
            _ => {
                sw.insert(df.to_string(), Value::Array(Vec::new()));
            }
        }
        Ok(())
    }

    pub fn canonical_bytes(&self) -> Vec<u8> {
        canonical_bytes(&self.doc)
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
