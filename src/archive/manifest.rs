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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{BACKUP_FORMAT_NAME, FORMAT_NAME};

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn digests_parse_print_and_compare_as_64_lowercase_hex_digits() {
        // FIPS 180-2's "abc" vector
        let d = Sha256Digest::of(b"abc");
        assert_eq!(d.hex(), ABC);
        assert_eq!(d.to_string(), ABC);
        assert_eq!(format!("{d:?}"), format!("\"{ABC}\""));
        assert_eq!(String::from(d), ABC);
        assert_eq!(Sha256Digest::from_hex(ABC), Some(d));
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut h, b"ab");
        sha2::Digest::update(&mut h, b"c");
        assert_eq!(Sha256Digest::from_hasher(h), d);
        for bad in [&ABC.to_uppercase()[..], &ABC[1..], &format!("{ABC}0"), ""] {
            assert_eq!(Sha256Digest::from_hex(bad), None, "{bad}");
        }
        // compared with text by value, both ways
        let abc = ABC.to_string();
        assert!(d == *ABC && ABC == d);
        assert!(PartialEq::<String>::eq(&d, &abc) && PartialEq::<Sha256Digest>::eq(&abc, &d));
        let other = "0".repeat(64);
        assert!(!PartialEq::<str>::eq(&d, other.as_str()));
        assert!(!PartialEq::<String>::eq(&d, &other));
        assert!(!PartialEq::<Sha256Digest>::eq(&other, &d));
        assert!(!PartialEq::<Sha256Digest>::eq(&other.as_str(), &d));
        assert!(!PartialEq::<str>::eq(&d, ABC.to_uppercase().as_str()));
        // serde: a JSON string, checked on the way in
        assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{ABC}\""));
        let back: Sha256Digest = serde_json::from_str(&format!("\"{ABC}\"")).unwrap();
        assert_eq!(back, d);
        let e = serde_json::from_str::<Sha256Digest>("\"abc\"").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("malformed sha256 \"abc\" (expected 64 lowercase hex digits)"),
            "{e}"
        );
    }

    fn guard(text: &[u8]) -> io::Result<(u64, Vec<u8>)> {
        let mut g = Guard::new(text);
        let mut out = Vec::new();
        // small reads: the guard's state carries across them
        let mut buf = [0u8; 7];
        loop {
            let n = g.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, text);
        let sha = Sha256Digest::from_hasher(g.sha);
        assert_eq!(sha, Sha256Digest::of(text));
        Ok((g.len, out))
    }

    #[test]
    fn the_guard_passes_text_through_counting_and_hashing_it() {
        let text = br#"{"a":[1,true,null,"x\"y"],"b":{}}"#;
        assert_eq!(guard(text).unwrap().0, text.len() as u64);
    }

    #[test]
    fn the_guard_caps_strings_and_scalars_at_their_limits() {
        let s = |n: usize| [&b"[\""[..], &vec![b'a'; n], b"\"]"].concat();
        assert!(guard(&s(MAX_MANIFEST_STRING_BYTES)).is_ok());
        let e = guard(&s(MAX_MANIFEST_STRING_BYTES + 1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("a string longer than {MAX_MANIFEST_STRING_BYTES} bytes (member names are at most {MAX_MEMBER_NAME_BYTES})")
        );
        // an escape counts its two bytes
        let esc = [
            &b"[\""[..],
            &b"\\n".repeat(MAX_MANIFEST_STRING_BYTES / 2),
            b"x\"]",
        ]
        .concat();
        assert!(guard(&esc).is_err());
        let n = |k: usize| [&b"["[..], &vec![b'1'; k], b"]"].concat();
        assert!(guard(&n(MAX_MANIFEST_SCALAR_BYTES)).is_ok());
        let e = guard(&n(MAX_MANIFEST_SCALAR_BYTES + 1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "a number, literal or whitespace run longer than {MAX_MANIFEST_SCALAR_BYTES} bytes"
            )
        );
        // every structural character ends a run; a string's quotes end one too
        let long = "1".repeat(MAX_MANIFEST_SCALAR_BYTES);
        for sep in ["{", "}", "[", "]", ",", ":", "\"\""] {
            let t = format!("{long}{sep}{long}");
            assert!(guard(t.as_bytes()).is_ok(), "{sep}");
        }
        // and a string's run starts at its opening quote
        let t = format!("\"{}\"{long}", "a".repeat(MAX_MANIFEST_STRING_BYTES));
        assert!(guard(t.as_bytes()).is_ok());
    }

    #[test]
    fn the_guard_knows_where_a_string_ends() {
        let spaces = " ".repeat(MAX_MANIFEST_SCALAR_BYTES + 1);
        // an escaped quote does not end a string: the spaces are inside it
        assert!(guard(format!("[\"\\\"{spaces}\"]").as_bytes()).is_ok());
        assert!(guard(format!("[\"a\\\\\\\"{spaces}\"]").as_bytes()).is_ok());
        // an escaped backslash does not escape the quote after it: the spaces are outside
        assert!(guard(format!("[\"\\\\\"{spaces}]").as_bytes()).is_err());
        assert!(guard(format!("[\"\\n\"{spaces}]").as_bytes()).is_err());
        // a string's bytes do not count towards the scalar run after it
        let long = "1".repeat(MAX_MANIFEST_SCALAR_BYTES);
        assert!(guard(format!("[\"{spaces}\"{long}]").as_bytes()).is_ok());
    }

    fn member_json(name: &str) -> String {
        format!(
            r#"{{"name":{},"sha256":"{ABC}","size":3}}"#,
            serde_json::to_string(name).unwrap()
        )
    }

    #[test]
    fn members_are_read_strictly() {
        let m: Member = serde_json::from_str(&member_json("genesis.json")).unwrap();
        assert_eq!(
            m,
            Member {
                name: "genesis.json".into(),
                size: 3,
                sha256: Sha256Digest::of(b"abc")
            }
        );
        let longest = "n".repeat(MAX_MEMBER_NAME_BYTES);
        assert!(serde_json::from_str::<Member>(&member_json(&longest)).is_ok());
        let e = serde_json::from_str::<Member>(&member_json(&format!("{longest}n"))).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "member name {:?}... is {} bytes long; at most {MAX_MEMBER_NAME_BYTES} are accepted",
                "n".repeat(40),
                MAX_MEMBER_NAME_BYTES + 1
            )),
            "{e}"
        );
        for (text, want) in [
            (
                format!(r#"{{"name":"a","name":"a","sha256":"{ABC}","size":3}}"#),
                "duplicate object key \"name\"",
            ),
            (
                format!(r#"{{"name":"a","sha256":"{ABC}","size":3,"size":3}}"#),
                "duplicate object key \"size\"",
            ),
            (
                format!(r#"{{"sha256":"{ABC}","name":"a","sha256":"{ABC}","size":3}}"#),
                "duplicate object key \"sha256\"",
            ),
            (
                format!(r#"{{"name":"a","sha256":"{ABC}","size":3,"mode":1}}"#),
                "unknown field `mode`, expected one of `name`, `size`, `sha256`",
            ),
            (
                format!(r#"{{"sha256":"{ABC}","size":3}}"#),
                "missing field `name`",
            ),
            (
                format!(r#"{{"name":"a","sha256":"{ABC}"}}"#),
                "missing field `size`",
            ),
            (
                r#"{"name":"a","size":3}"#.to_string(),
                "missing field `sha256`",
            ),
            (
                r#"{"name":"a","sha256":"ABC","size":3}"#.to_string(),
                "member \"a\" has a malformed sha256",
            ),
            ("[]".to_string(), "a member {name, sha256, size}"),
        ] {
            let e = serde_json::from_str::<Member>(&text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    fn manifest(format: &str, provenance: Option<Provenance>) -> ArchiveManifest {
        ArchiveManifest {
            format: format.into(),
            version: 1,
            chain_id: if format == FORMAT_NAME {
                "agoric-3".into()
            } else {
                String::new()
            },
            initial_height: if format == FORMAT_NAME { 17 } else { 0 },
            export_height: 16,
            artifact_mode: "operational".into(),
            swing_store_export_data_hash: ABC.into(),
            export_data_entries: 2,
            members: vec![
                serde_json::from_str(&member_json("genesis.json")).unwrap(),
                serde_json::from_str(&member_json("swing-store/export-manifest.json")).unwrap(),
                // every byte class json_str tells apart: plain, quote, backslash, control,
                // DEL (jq escapes it), non-ASCII
                serde_json::from_str(&member_json(" ~\"\\\u{1}\u{7f}\u{e9}")).unwrap(),
            ],
            provenance,
        }
    }

    fn provenance() -> Provenance {
        Provenance {
            parent: "p\u{7f}".into(),
            edits_sha256: ABC.into(),
            edits: serde_json::json!([{"op": "set", "b": [1, 2.5, null, true], "a": "<\u{7f}>"}]),
        }
    }

    /// The manifest's canonical JSON from the derived serialisation and the tree
    /// canonicaliser (a backup drops the genesis-only keys).
    fn reference_canonical(m: &ArchiveManifest) -> Vec<u8> {
        let mut v = serde_json::to_value(m).unwrap();
        if m.is_backup() {
            let o = v.as_object_mut().unwrap();
            o.remove("chain_id");
            o.remove("initial_height");
        }
        crate::genesis::canonical_bytes(&v)
    }

    #[test]
    fn the_streamed_canonical_form_is_the_tree_canonicalisers() {
        let mut backup = manifest(BACKUP_FORMAT_NAME, Some(provenance()));
        backup.members.remove(0);
        for m in [
            manifest(FORMAT_NAME, None),
            manifest(FORMAT_NAME, Some(provenance())),
            backup,
        ] {
            let mut out = Vec::new();
            write_canonical(&m, &mut out).unwrap();
            assert_eq!(
                String::from_utf8(out.clone()).unwrap(),
                String::from_utf8(reference_canonical(&m)).unwrap()
            );
            let mut h = HashWriter::default();
            write_canonical(&m, &mut h).unwrap();
            assert!(h.flush().is_ok());
            assert_eq!(
                (h.len, Sha256Digest::from_hasher(h.sha)),
                (out.len() as u64, Sha256Digest::of(&out))
            );
            // and it reads back as it was
            let back: ArchiveManifest = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, m);
        }
        // one golden vector, written out
        let mut m = manifest(FORMAT_NAME, None);
        m.members.truncate(1);
        let mut out = Vec::new();
        write_canonical(&m, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{{\"artifact_mode\":\"operational\",\"chain_id\":\"agoric-3\",\"export_data_entries\":2,\"export_height\":16,\"format\":\"agar-genesis-archive\",\"initial_height\":17,\"members\":[{{\"name\":\"genesis.json\",\"sha256\":\"{ABC}\",\"size\":3}}],\"provenance\":null,\"swing_store_export_data_hash\":\"{ABC}\",\"version\":1}}\n")
        );
    }

    #[test]
    fn strings_take_the_fast_path_only_when_nothing_needs_escaping() {
        for s in [
            "", " ~", "\"", "\"\"", "\\", "\\\\", "a\"b", "a\\b", "\u{1f}", "\u{7f}", "\u{e9}",
        ] {
            let mut out = Vec::new();
            json_str(&mut out, s).unwrap();
            let want = crate::genesis::canonical_bytes(&Value::String(s.into()));
            assert_eq!(out, want.strip_suffix(b"\n").unwrap(), "{s:?}");
        }
    }

    fn with(text: &str, key: &str, value: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        if value.is_empty() {
            v.as_object_mut().unwrap().remove(key);
        } else {
            v[key] = serde_json::from_str(value).unwrap();
        }
        v.to_string()
    }

    #[test]
    fn manifests_are_read_strictly_at_every_level() {
        let m = manifest(FORMAT_NAME, Some(provenance()));
        let text = String::from_utf8(m.canonical_bytes()).unwrap();
        let body = text.trim_end().strip_suffix('}').unwrap();
        let err = |t: &str| {
            serde_json::from_str::<ArchiveManifest>(t)
                .unwrap_err()
                .to_string()
        };
        for k in MANIFEST_FIELDS {
            let v = serde_json::to_string(
                &serde_json::from_str::<serde_json::Value>(&text).unwrap()[k],
            )
            .unwrap();
            // a repeated key, even with the same value
            let e = err(&format!("{body},\"{k}\":{v}}}"));
            assert!(
                e.starts_with(&format!("duplicate object key \"{k}\"")),
                "{k}: {e}"
            );
            // a missing one
            let e = err(&with(&text, k, ""));
            assert!(e.starts_with(&format!("missing field `{k}`")), "{k}: {e}");
        }
        assert!(err(&format!("{body},\"extra\":1}}")).starts_with("unknown field `extra`"));
        assert!(err("[]").contains("the archive manifest object"));
        // provenance: strict too (keys in canonical order: edits, edits_sha256, parent)
        let before_parent =
            |ins: &str| text.replacen(",\"parent\":", &format!(",{ins},\"parent\":"), 1);
        for (k, v) in [
            ("parent", "\"x\""),
            ("edits_sha256", "\"x\""),
            ("edits", "[]"),
        ] {
            let e = err(&before_parent(&format!("\"{k}\":{v}")));
            assert!(
                e.starts_with(&format!("duplicate object key \"{k}\"")),
                "{k}: {e}"
            );
            let mut pv = serde_json::to_value(provenance()).unwrap();
            pv.as_object_mut().unwrap().remove(k);
            let e = err(&with(&text, "provenance", &pv.to_string()));
            assert!(e.starts_with(&format!("missing field `{k}`")), "{k}: {e}");
        }
        let e = err(&before_parent("\"by\":1"));
        assert!(
            e.starts_with("unknown field `by`, expected one of `parent`, `edits_sha256`, `edits`"),
            "{e}"
        );
        assert!(err(&with(&text, "provenance", "[]"))
            .contains("provenance {parent, edits_sha256, edits}"));
        let m0: ArchiveManifest = serde_json::from_str(&with(&text, "provenance", "null")).unwrap();
        assert_eq!(m0.provenance, None);
        // a duplicate key inside the edits
        let e = err(&text.replacen("\"edits\":[", "\"edits\":[{\"a\":1,\"a\":1},", 1));
        assert!(e.starts_with("duplicate object key \"a\""), "{e}");
        // members: a list of members
        assert!(err(&with(&text, "members", "{}")).contains("a list of members"));
    }

    #[test]
    fn a_backup_manifest_has_no_genesis_keys() {
        let m = manifest(BACKUP_FORMAT_NAME, None);
        let text = String::from_utf8(m.canonical_bytes()).unwrap();
        assert!(!text.contains("chain_id") && !text.contains("initial_height"));
        let back: ArchiveManifest = serde_json::from_str(&text).unwrap();
        assert_eq!((back.chain_id.as_str(), back.initial_height), ("", 0));
        for (k, v) in [
            ("chain_id", "\"x\""),
            ("initial_height", "0"),
            ("chain_id", "\"\""),
        ] {
            let e = serde_json::from_str::<ArchiveManifest>(&with(&text, k, v)).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("a swing-store backup manifest has no chain_id or initial_height"),
                "{k}: {e}"
            );
        }
        // a genesis archive must have them
        let g = String::from_utf8(manifest(FORMAT_NAME, None).canonical_bytes()).unwrap();
        for k in ["chain_id", "initial_height"] {
            let e = serde_json::from_str::<ArchiveManifest>(&with(&g, k, "")).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!("missing field `{k}`")),
                "{k}: {e}"
            );
        }
    }

    /// The edits `provenance` holds, read under the budget.
    fn edits(text: &str) -> Result<Value, String> {
        let budget = Cell::new(MAX_PROVENANCE_EDITS_COST);
        let mut de = serde_json::Deserializer::from_str(text);
        BoundedValue(&budget)
            .deserialize(&mut de)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn provenance_edits_cost_their_string_bytes_plus_32_per_value() {
        // [filler, x]: 32 for the array, 32 + len for the filler, the rest for x
        for (x, cost) in [
            ("true", 32),
            ("null", 32),
            ("1", 32),
            ("-1", 32),
            ("2.5", 32),
            ("123456789012345678901234567890", 32),
            ("\"abcd\"", 36),
            ("\"a\\nb\"", 35),
            ("[]", 32),
            ("[1]", 64),
            ("{}", 32),
            ("{\"ab\":1}", 32 + 34 + 32),
        ] {
            let filler = MAX_PROVENANCE_EDITS_COST - 32 - 32 - cost;
            let fits = format!("[\"{}\",{x}]", "f".repeat(filler));
            let v = edits(&fits).unwrap_or_else(|e| panic!("{x}: {e}"));
            assert_eq!(v, serde_json::from_str::<Value>(&fits).unwrap(), "{x}");
            let over = format!("[\"{}\",{x}]", "f".repeat(filler + 1));
            let e = edits(&over).unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "provenance edits larger than {MAX_PROVENANCE_EDITS_COST} bytes"
                )),
                "{x}: {e}"
            );
        }
    }
}
