//! Reading and writing the archive manifest (`genesis-archive.json`) in memory
//! proportional to its member count, never to what it declares: the text is parsed
//! straight from the stream into typed structs (member names as boxed strings, digests
//! as 32 bytes), strictly (unknown or duplicate keys refused at every level), under a
//! byte-level guard that caps every string and scalar before the parser buffers it, and
//! its canonical form is checked by hashing the canonical re-serialisation, never by
//! holding the text.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;
use std::io::{self, Read, Write};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Number, Value};

use super::{ArchiveManifest, Member, Provenance, MAX_MEMBERS, MAX_MEMBER_NAME_BYTES};

/// Longest JSON string accepted anywhere in the archive manifest (names are at most 255
/// bytes, digests 71; the longest legitimate strings are inline values in an edit's
/// provenance, themselves under the edit-script cap).
pub const MAX_MANIFEST_STRING_BYTES: usize = 1 << 20;
/// Longest run of bytes outside strings without a structural character (a number, a
/// literal, whitespace).
pub const MAX_MANIFEST_SCALAR_BYTES: usize = 4096;
/// Largest `provenance.edits` accepted, counted as string bytes plus 32 per JSON value
/// (it is held as a JSON tree).
pub const MAX_PROVENANCE_EDITS_COST: usize = 4 << 20;

/// A SHA-256 digest, held as 32 bytes, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// Parse 64 lowercase hex digits.
    pub fn from_hex(s: &str) -> Option<Sha256Digest> {
        if !super::is_sha256_hex(s) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Sha256Digest(out))
    }
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Sha256Digest {
        use sha2::Digest;
        Sha256Digest(sha2::Sha256::digest(data).into())
    }
    /// From a finished hasher.
    pub fn from_hasher(h: sha2::Sha256) -> Sha256Digest {
        use sha2::Digest;
        Sha256Digest(h.finalize().into())
    }
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        hex::encode_to_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl PartialEq<str> for Sha256Digest {
    fn eq(&self, o: &str) -> bool {
        Sha256Digest::from_hex(o).is_some_and(|d| d == *self)
    }
}
impl PartialEq<String> for Sha256Digest {
    fn eq(&self, o: &String) -> bool {
        *self == *o.as_str()
    }
}
impl PartialEq<Sha256Digest> for String {
    fn eq(&self, o: &Sha256Digest) -> bool {
        *o == *self.as_str()
    }
}
impl PartialEq<Sha256Digest> for &str {
    fn eq(&self, o: &Sha256Digest) -> bool {
        *o == **self
    }
}

impl From<Sha256Digest> for String {
    fn from(d: Sha256Digest) -> String {
        d.hex()
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Sha256Digest::from_hex(&s).ok_or_else(|| {
            de::Error::custom(format!(
                "malformed sha256 {s:?} (expected 64 lowercase hex digits)"
            ))
        })
    }
}

// ---------------------------------------------------------------------------------
// the byte-level guard

/// Passes the manifest's bytes through, hashing them, and fails (as an I/O error the
/// parser reports with its position) on a string or scalar longer than the caps, before
/// serde_json buffers it.
pub struct Guard<R> {
    inner: R,
    pub sha: sha2::Sha256,
    pub len: u64,
    in_str: bool,
    esc: bool,
    run: usize,
}

impl<R: Read> Guard<R> {
    pub fn new(inner: R) -> Guard<R> {
        use sha2::Digest;
        Guard {
            inner,
            sha: sha2::Sha256::new(),
            len: 0,
            in_str: false,
            esc: false,
            run: 0,
        }
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if self.in_str {
                if self.esc {
                    self.esc = false;
                } else if b == b'\\' {
                    self.esc = true;
                } else if b == b'"' {
                    self.in_str = false;
                    self.run = 0;
                    continue;
                }
                self.run += 1;
                if self.run > MAX_MANIFEST_STRING_BYTES {
                    return Err(io::Error::other(format!(
                        "a string longer than {MAX_MANIFEST_STRING_BYTES} bytes (member names are at most {MAX_MEMBER_NAME_BYTES})"
                    )));
                }
            } else if b == b'"' {
                self.in_str = true;
                self.run = 0;
            } else if matches!(b, b'{' | b'}' | b'[' | b']' | b',' | b':') {
                self.run = 0;
            } else {
                self.run += 1;
                if self.run > MAX_MANIFEST_SCALAR_BYTES {
                    return Err(io::Error::other(format!(
                        "a number, literal or whitespace run longer than {MAX_MANIFEST_SCALAR_BYTES} bytes"
                    )));
                }
            }
        }
        self.sha.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------
// strict typed deserialisation

const MANIFEST_FIELDS: &[&str] = &[
    "format",
    "version",
    "chain_id",
    "initial_height",
    "export_height",
    "artifact_mode",
    "swing_store_export_data_hash",
    "export_data_entries",
    "members",
    "provenance",
];

fn dup<E: de::Error>(k: &str) -> E {
    E::custom(format!("duplicate object key {k:?}"))
}

fn take<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    a: &mut A,
    slot: &mut Option<T>,
    key: &str,
) -> std::result::Result<(), A::Error> {
    if slot.is_some() {
        return Err(dup(key));
    }
    *slot = Some(a.next_value()?);
    Ok(())
}

fn need<T, E: de::Error>(v: Option<T>, k: &'static str) -> std::result::Result<T, E> {
    v.ok_or_else(|| E::missing_field(k))
}

impl<'de> Deserialize<'de> for ArchiveManifest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(ManifestVisitor)
    }
}

struct ManifestVisitor;

impl<'de> Visitor<'de> for ManifestVisitor {
    type Value = ArchiveManifest;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the archive manifest object")
    }
    fn visit_map<A: MapAccess<'de>>(
        self,
        mut a: A,
    ) -> std::result::Result<ArchiveManifest, A::Error> {
        let (mut format, mut version, mut chain_id, mut initial_height) = (None, None, None, None);
        let (mut export_height, mut artifact_mode, mut hash, mut entries) =
            (None, None, None, None);
        let mut members: Option<Vec<Member>> = None;
        let mut provenance: Option<Option<Provenance>> = None;
        while let Some(k) = a.next_key::<String>()? {
            match k.as_str() {
                "format" => take(&mut a, &mut format, &k)?,
                "version" => take(&mut a, &mut version, &k)?,
                "chain_id" => take(&mut a, &mut chain_id, &k)?,
                "initial_height" => take(&mut a, &mut initial_height, &k)?,
                "export_height" => take(&mut a, &mut export_height, &k)?,
                "artifact_mode" => take(&mut a, &mut artifact_mode, &k)?,
                "swing_store_export_data_hash" => take(&mut a, &mut hash, &k)?,
                "export_data_entries" => take(&mut a, &mut entries, &k)?,
                "members" => {
                    if members.is_some() {
                        return Err(dup(&k));
                    }
                    members = Some(a.next_value_seed(MembersSeed)?);
                }
                "provenance" => take(&mut a, &mut provenance, &k)?,
                other => return Err(de::Error::unknown_field(other, MANIFEST_FIELDS)),
            }
        }
        // a swing-store backup has no genesis, so no chain_id or initial_height keys
        let backup = format.as_deref() == Some(super::BACKUP_FORMAT_NAME);
        if backup && (chain_id.is_some() || initial_height.is_some()) {
            return Err(de::Error::custom(
                "a swing-store backup manifest has no chain_id or initial_height",
            ));
        }
        if backup {
            chain_id = Some(String::new());
            initial_height = Some(0);
        }
        Ok(ArchiveManifest {
            format: need(format, "format")?,
            version: need(version, "version")?,
            chain_id: need(chain_id, "chain_id")?,
            initial_height: need(initial_height, "initial_height")?,
            export_height: need(export_height, "export_height")?,
            artifact_mode: need(artifact_mode, "artifact_mode")?,
            swing_store_export_data_hash: need(hash, "swing_store_export_data_hash")?,
            export_data_entries: need(entries, "export_data_entries")?,
            members: need(members, "members")?,
            provenance: need(provenance, "provenance")?,
        })
    }
}

/// The member list: counted while it is read, so that a list longer than
/// [`MAX_MEMBERS`] is refused before it is held.
struct MembersSeed;

impl<'de> DeserializeSeed<'de> for MembersSeed {
    type Value = Vec<Member>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Vec<Member>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MembersSeed {
    type Value = Vec<Member>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of members")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Vec<Member>, A::Error> {
        let mut v = Vec::new();
        while let Some(m) = a.next_element::<Member>()? {
            if v.len() >= MAX_MEMBERS {
                return Err(de::Error::custom(format!(
                    "lists more than {MAX_MEMBERS} members"
                )));
            }
            v.push(m);
        }
        v.shrink_to_fit();
        Ok(v)
    }
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(MemberVisitor)
    }
}

struct MemberVisitor;

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = Member;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member {name, sha256, size}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<Member, A::Error> {
        let (mut name, mut size, mut sha) = (None::<String>, None, None::<String>);
        while let Some(k) = a.next_key::<String>()? {
            match k.as_str() {
                "name" => take(&mut a, &mut name, &k)?,
                "size" => take(&mut a, &mut size, &k)?,
                "sha256" => take(&mut a, &mut sha, &k)?,
                other => return Err(de::Error::unknown_field(other, &["name", "size", "sha256"])),
            }
        }
        let name = need(name, "name")?;
        if name.len() > MAX_MEMBER_NAME_BYTES {
            return Err(de::Error::custom(format!(
                "member name {:?}... is {} bytes long; at most {MAX_MEMBER_NAME_BYTES} are accepted",
                name.chars().take(40).collect::<String>(),
                name.len()
            )));
        }
        let sha = need(sha, "sha256")?;
        let Some(sha256) = Sha256Digest::from_hex(&sha) else {
            return Err(de::Error::custom(format!(
                "member {name:?} has a malformed sha256"
            )));
        };
        Ok(Member {
            name: name.into_boxed_str(),
            size: need(size, "size")?,
            sha256,
        })
    }
}

impl<'de> Deserialize<'de> for Provenance {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(ProvenanceVisitor)
    }
}

struct ProvenanceVisitor;

impl<'de> Visitor<'de> for ProvenanceVisitor {
    type Value = Provenance;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("provenance {parent, edits_sha256, edits}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<Provenance, A::Error> {
        let (mut parent, mut edits_sha256, mut edits) = (None, None, None);
        while let Some(k) = a.next_key::<String>()? {
            match k.as_str() {
                "parent" => take(&mut a, &mut parent, &k)?,
                "edits_sha256" => take(&mut a, &mut edits_sha256, &k)?,
                "edits" => {
                    if edits.is_some() {
                        return Err(dup(&k));
                    }
                    let budget = Cell::new(MAX_PROVENANCE_EDITS_COST);
                    edits = Some(a.next_value_seed(BoundedValue(&budget))?);
                }
                other => {
                    return Err(de::Error::unknown_field(
                        other,
                        &["parent", "edits_sha256", "edits"],
                    ))
                }
            }
        }
        Ok(Provenance {
            parent: need(parent, "parent")?,
            edits_sha256: need(edits_sha256, "edits_sha256")?,
            edits: need(edits, "edits")?,
        })
    }
}

/// Any JSON value as a tree, refusing duplicate keys and failing once the tree would cost
/// more than the budget (string bytes plus 32 per value).
struct BoundedValue<'a>(&'a Cell<usize>);

impl BoundedValue<'_> {
    fn spend<E: de::Error>(&self, n: usize) -> std::result::Result<(), E> {
        let left = self.0.get();
        if n > left {
            return Err(E::custom(format!(
                "provenance edits larger than {MAX_PROVENANCE_EDITS_COST} bytes"
            )));
        }
        self.0.set(left - n);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for BoundedValue<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// serde_json's arbitrary-precision numbers arrive as a one-entry map with this key.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl<'de> Visitor<'de> for BoundedValue<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Value, E> {
        self.spend(32)?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Value, E> {
        self.spend(32)?;
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Value, E> {
        self.spend(32)?;
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Value, E> {
        self.spend(32)?;
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a non-finite number"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Value, E> {
        self.spend(32 + v.len())?;
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Value, E> {
        self.spend(32 + v.len())?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Value, E> {
        self.spend(32)?;
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Value, A::Error> {
        self.spend(32)?;
        let mut v = Vec::new();
        while let Some(x) = a.next_element_seed(BoundedValue(self.0))? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<Value, A::Error> {
        self.spend(32)?;
        let mut m = Map::new();
        let mut seen = HashSet::new();
        while let Some(k) = a.next_key::<String>()? {
            if k == NUMBER_TOKEN && m.is_empty() {
                let lit: String = a.next_value()?;
                let n: Number = serde_json::from_str(&lit).map_err(de::Error::custom)?;
                return Ok(Value::Number(n));
            }
            self.spend(32 + k.len())?;
            if !seen.insert(k.clone()) {
                return Err(dup(&k));
            }
            let v = a.next_value_seed(BoundedValue(self.0))?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

// ---------------------------------------------------------------------------------
// canonical serialisation, streamed

/// Canonical JSON of one value (the genesis canonicaliser's, without its final newline).
fn json_value(w: &mut dyn Write, v: &Value) -> io::Result<()> {
    let b = crate::genesis::canonical_bytes(v);
    w.write_all(b.strip_suffix(b"\n").unwrap_or(&b))
}

fn json_str(w: &mut dyn Write, s: &str) -> io::Result<()> {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        // nothing to escape (every member name, digest and real chain ID)
        w.write_all(b"\"")?;
        w.write_all(s.as_bytes())?;
        return w.write_all(b"\"");
    }
    json_value(w, &Value::String(s.to_string()))
}

/// Write the canonical JSON of `m` (FORMAT.md: keys sorted, compact, jq escaping) into
/// `w`, member by member, without building a JSON tree of the manifest.
pub fn write_canonical(m: &ArchiveManifest, w: &mut dyn Write) -> io::Result<()> {
    w.write_all(b"{\"artifact_mode\":")?;
    json_str(w, &m.artifact_mode)?;
    // a swing-store backup has no genesis: no chain_id or initial_height keys (genesis
    // archives keep them, so their bytes do not depend on this)
    if !m.is_backup() {
        w.write_all(b",\"chain_id\":")?;
        json_str(w, &m.chain_id)?;
    }
    write!(
        w,
        ",\"export_data_entries\":{},\"export_height\":{},\"format\":",
        m.export_data_entries, m.export_height
    )?;
    json_str(w, &m.format)?;
    if !m.is_backup() {
        write!(w, ",\"initial_height\":{}", m.initial_height)?;
    }
    w.write_all(b",\"members\":[")?;
    for (i, mem) in m.members.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        w.write_all(b"{\"name\":")?;
        json_str(w, &mem.name)?;
        write!(w, ",\"sha256\":\"{}\",\"size\":{}}}", mem.sha256, mem.size)?;
    }
    w.write_all(b"],\"provenance\":")?;
    match &m.provenance {
        None => w.write_all(b"null")?,
        Some(p) => {
            w.write_all(b"{\"edits\":")?;
            json_value(w, &p.edits)?;
            w.write_all(b",\"edits_sha256\":")?;
            json_str(w, &p.edits_sha256)?;
            w.write_all(b",\"parent\":")?;
            json_str(w, &p.parent)?;
            w.write_all(b"}")?;
        }
    }
    w.write_all(b",\"swing_store_export_data_hash\":")?;
    json_str(w, &m.swing_store_export_data_hash)?;
    writeln!(w, ",\"version\":{}}}", m.version)
}

/// Hashes and counts what is written.
#[derive(Default)]
pub struct HashWriter {
    pub sha: sha2::Sha256,
    pub len: u64,
}

impl Write for HashWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        use sha2::Digest;
        self.sha.update(b);
        self.len += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
