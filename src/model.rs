//! The swing-store export model, metadata only: export-data key families, the metadata
//! records of transcript spans, heap snapshots and bundles, artifact names, artifact
//! modes and which artifacts each mode requires (spec §3, §5, §6.4).
//!
//! Artifact *bytes* never live here; they stream from their source to their sink.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::error::{bail, Error, Result};

/// The artifact modes of the official exporter and importer, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ArtifactMode {
    Operational,
    Replay,
    Archival,
    Debug,
}

impl ArtifactMode {
    pub const ALL: [ArtifactMode; 4] = [
        ArtifactMode::Operational,
        ArtifactMode::Replay,
        ArtifactMode::Archival,
        ArtifactMode::Debug,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactMode::Operational => "operational",
            ArtifactMode::Replay => "replay",
            ArtifactMode::Archival => "archival",
            ArtifactMode::Debug => "debug",
        }
    }
    /// Whether exports and imports in this mode carry historical (not in-use) heap
    /// snapshots' bytes: only debug does (spec §5.3, §6.1).
    pub fn keeps_historical_snapshots(self) -> bool {
        self == ArtifactMode::Debug
    }
    /// Whether an export holding `self` can be imported with `requested`
    /// (import-kernel-db.js's sufficiency rule, spec §7.2).
    pub fn satisfies(self, requested: ArtifactMode) -> bool {
        match requested {
            ArtifactMode::Operational | ArtifactMode::Debug => true,
            ArtifactMode::Replay => self != ArtifactMode::Operational,
            ArtifactMode::Archival => matches!(self, ArtifactMode::Archival | ArtifactMode::Debug),
        }
    }
}

impl fmt::Display for ArtifactMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ArtifactMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        ArtifactMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown artifact mode {s:?} (expected operational, replay, archival or debug)"
                )
            })
    }
}

/// A vat ID as it appears in keys and names: non-empty, `[A-Za-z0-9_-]` only (no `.`,
/// which would break the official `split('.')` name parsing, spec §10.13).
pub fn valid_vat_id(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A canonical decimal position: digits, no leading zero (spec §10.13), below 2^53.
pub fn parse_pos(s: &str) -> Option<u64> {
    if s.is_empty()
        || s.len() > 16
        || !s.bytes().all(|b| b.is_ascii_digit())
        || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| *n < (1u64 << 53))
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A bundle ID `b0-<64 hex>` or `b1-<128 hex>` (spec §4.3).
pub fn valid_bundle_id(id: &str) -> bool {
    match id.split_at_checked(3) {
        Some(("b0-", h)) => is_hex(h, 64),
        Some(("b1-", h)) => is_hex(h, 128),
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRecord {
    pub vat: String,
    pub snap_pos: u64,
    pub hash: String,
    pub in_use: bool,
}

impl SnapshotRecord {
    pub fn key(&self) -> String {
        format!("snapshot.{}.{}", self.vat, self.snap_pos)
    }
    pub fn artifact_name(&self) -> String {
        self.key()
    }
    /// The exporter's exact value text (spec §3.1).
    pub fn value(&self) -> String {
        format!(
            "{{\"vatID\":\"{}\",\"snapPos\":{},\"hash\":\"{}\",\"inUse\":{}}}",
            self.vat, self.snap_pos, self.hash, self.in_use as u8
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRecord {
    pub vat: String,
    pub start_pos: u64,
    pub end_pos: u64,
    pub hash: String,
    pub is_current: bool,
    pub incarnation: u64,
}

impl SpanRecord {
    pub fn key(&self) -> String {
        if self.is_current {
            format!("transcript.{}.current", self.vat)
        } else {
            format!("transcript.{}.{}", self.vat, self.start_pos)
        }
    }
    pub fn artifact_name(&self) -> String {
        format!(
            "transcript.{}.{}.{}",
            self.vat, self.start_pos, self.end_pos
        )
    }
    pub fn value(&self) -> String {
        format!(
            "{{\"vatID\":\"{}\",\"startPos\":{},\"endPos\":{},\"hash\":\"{}\",\"isCurrent\":{},\"incarnation\":{}}}",
            self.vat, self.start_pos, self.end_pos, self.hash, self.is_current as u8, self.incarnation
        )
    }
    pub fn len(&self) -> u64 {
        self.end_pos - self.start_pos
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A parsed artifact name (spec §5.1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ArtifactName {
    Snapshot {
        vat: String,
        snap_pos: u64,
    },
    Transcript {
        vat: String,
        start_pos: u64,
        end_pos: u64,
    },
    Bundle {
        id: String,
    },
}

/// Longest artifact name accepted (a `b1` bundle name is 138 bytes; vat IDs are short).
/// Caps what a hostile manifest can make the reader allocate per name.
pub const MAX_ARTIFACT_NAME_BYTES: usize = 243;

impl ArtifactName {
    pub fn parse(name: &str) -> Result<ArtifactName, String> {
        if name.len() > MAX_ARTIFACT_NAME_BYTES {
            return Err(format!(
                "artifact name {:?}... is {} bytes long; at most {MAX_ARTIFACT_NAME_BYTES} are accepted",
                name.chars().take(40).collect::<String>(),
                name.len()
            ));
        }
        let parts: Vec<&str> = name.split('.').collect();
        match parts.as_slice() {
            ["snapshot", vat, pos] if valid_vat_id(vat) => match parse_pos(pos) {
                Some(snap_pos) => Ok(ArtifactName::Snapshot { vat: vat.to_string(), snap_pos }),
                None => Err(format!("artifact name {name:?}: snapshot position {pos:?} is not a canonical decimal")),
            },
            ["transcript", vat, s, e] if valid_vat_id(vat) => match (parse_pos(s), parse_pos(e)) {
                (Some(start_pos), Some(end_pos)) if start_pos <= end_pos => Ok(ArtifactName::Transcript {
                    vat: vat.to_string(),
                    start_pos,
                    end_pos,
                }),
                _ => Err(format!("artifact name {name:?}: span bounds are not canonical decimals with start <= end")),
            },
            ["bundle", id] if valid_bundle_id(id) => Ok(ArtifactName::Bundle { id: id.to_string() }),
            _ => Err(format!(
                "artifact name {name:?} is not snapshot.<vatID>.<pos>, transcript.<vatID>.<start>.<end> or bundle.<b0-|b1-ID>"
            )),
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            ArtifactName::Snapshot { .. } => "snapshot",
            ArtifactName::Transcript { .. } => "transcript",
            ArtifactName::Bundle { .. } => "bundle",
        }
    }
}

impl fmt::Display for ArtifactName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArtifactName::Snapshot { vat, snap_pos } => write!(f, "snapshot.{vat}.{snap_pos}"),
            ArtifactName::Transcript {
                vat,
                start_pos,
                end_pos,
            } => {
                write!(f, "transcript.{vat}.{start_pos}.{end_pos}")
            }
            ArtifactName::Bundle { id } => write!(f, "bundle.{id}"),
        }
    }
}

/// The class of an export-data key (spec §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Kv,
    Snapshot,
    Transcript,
    Bundle,
}

pub fn family(key: &str) -> Option<Family> {
    match key.split_once('.').map(|(t, _)| t) {
        Some("kv") => Some(Family::Kv),
        Some("snapshot") => Some(Family::Snapshot),
        Some("transcript") => Some(Family::Transcript),
        Some("bundle") => Some(Family::Bundle),
        _ => None,
    }
}

/// Longest export-data key accepted (real keys are under 200 bytes).
pub const MAX_KEY_BYTES: usize = 64 << 10;
/// Longest export-data value accepted. Every reading command holds one entry at a time
/// (its line, up to 6 times this in Go's escaping, and the decoded value), so this is
/// what bounds a reader's memory on export data; real values are at most a few hundred
/// KB. (SQLite's limit, 1e9 bytes, is far above it.)
pub const MAX_VALUE_BYTES: usize = 16 << 20;
/// Longest Go-canonical export-data line: `["key","value"]` with every byte of a key
/// and a value at their limits escaped to 6 bytes (`<` is `\u003c`), Go's worst case.
/// Any entry within the key and value limits fits, so what pack or edit writes, every
/// reader accepts.
pub const MAX_LINE_BYTES: usize = 6 * (MAX_KEY_BYTES + MAX_VALUE_BYTES) + 7;

/// Largest block height accepted anywhere (initial_height, export_height, host.height,
/// edits): 2^53 - 1, above which JavaScript numbers (the official importer, agd's JS
/// side) no longer agree with integer readers.
pub const MAX_HEIGHT: u64 = (1 << 53) - 1;

/// Why a height is out of range, if it is.
pub fn height_problem(what: &str, h: u64) -> Option<String> {
    (h > MAX_HEIGHT).then(|| {
        format!("{what} {h} is above 2^53 - 1 ({MAX_HEIGHT}), where JavaScript and integer readers of the height disagree")
    })
}

/// Why an export-data entry is too large to be accepted, if it is.
pub fn entry_size_problem(key: &str, value: Option<&str>) -> Option<String> {
    if key.len() > MAX_KEY_BYTES {
        return Some(format!(
            "the key is {} bytes; at most {MAX_KEY_BYTES} are accepted",
            key.len()
        ));
    }
    match value {
        Some(v) if v.len() > MAX_VALUE_BYTES => Some(format!(
            "the value is {} bytes; at most {MAX_VALUE_BYTES} are accepted (FORMAT.md, Reading: every reader holds one entry in memory)",
            v.len()
        )),
        _ => None,
    }
}

/// The prefix of kvStore entries in export data (`kv.<kvStore key>`, spec §2).
pub const KV_PREFIX: &str = "kv.";

/// The kvStore key of an export-data key (`kv.<key>` -> `<key>`); `None` if it is not a
/// kv entry. The one place the prefix is stripped.
pub fn kv_store_key(export_key: &str) -> Option<&str> {
    export_key.strip_prefix(KV_PREFIX)
}

/// The export-data key of a kvStore key (`<key>` -> `kv.<key>`).
pub fn kv_export_key(store_key: &str) -> String {
    let mut k = String::with_capacity(KV_PREFIX.len() + store_key.len());
    k.push_str(KV_PREFIX);
    k.push_str(store_key);
    k
}

/// Why a `kv.` key may not be in a canonical export, if it may not (a key without the
/// `kv.` prefix is not a kv entry at all).
pub fn kv_key_problem(key: &str) -> Option<&'static str> {
    let Some(sub) = kv_store_key(key) else {
        return Some("not a kv entry: kvStore entries are \"kv.<key>\"");
    };
    if sub.starts_with("host.") {
        Some("host.* keys are node-local (host.height, host.chainSends...), never consensus export data; the official importer fails on them. Remove the entry")
    } else if sub.starts_with("local.") {
        Some("local.* keys are node-local and never exported by the official exporter; they may differ between nodes. Remove the entry")
    } else {
        None
    }
}

/// All metadata records of an export (every non-`kv.` export-data entry), parsed and
/// cross-checked. Small: one record per span, snapshot and bundle.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub snapshots: BTreeMap<(String, u64), SnapshotRecord>,
    /// `snapshot.<vat>.current` pointers: vat -> snapPos.
    pub current_snapshot: BTreeMap<String, u64>,
    pub spans: BTreeMap<(String, u64), SpanRecord>,
    pub bundles: BTreeSet<String>,
    /// The raw entries (key -> value), exactly as they go into export data.
    pub entries: BTreeMap<String, String>,
    /// vat -> startPos of its current span (so `current_span` is one lookup).
    current_spans: BTreeMap<String, u64>,
}

/// Largest metadata record value accepted (a real one is about 200 bytes). The value is
/// parsed whole, so this bounds what a hostile record can make the parser allocate.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// A snapshot record as the exporter writes it (spec §3.1). Unknown fields are skipped
/// without being kept; the exact-form check afterwards refuses them anyway.
#[derive(serde::Deserialize)]
struct SnapshotJson {
    #[serde(rename = "vatID")]
    vat: String,
    #[serde(rename = "snapPos")]
    snap_pos: u64,
    hash: String,
    #[serde(rename = "inUse")]
    in_use: u64,
}

/// A transcript span record as the exporter writes it (spec §3.1).
#[derive(serde::Deserialize)]
struct SpanJson {
    #[serde(rename = "vatID")]
    vat: String,
    #[serde(rename = "startPos")]
    start_pos: u64,
    #[serde(rename = "endPos")]
    end_pos: u64,
    hash: String,
    #[serde(rename = "isCurrent")]
    is_current: u64,
    incarnation: u64,
}

/// Parse a metadata record value into its typed form (no JSON tree), capped at
/// [`MAX_RECORD_BYTES`].
fn parse_record<T: serde::de::DeserializeOwned>(value: &str, what: &str) -> Result<T, String> {
    if value.len() > MAX_RECORD_BYTES {
        return Err(format!(
            "value is {} bytes; a {what} record is about 200 bytes and at most {MAX_RECORD_BYTES} are accepted",
            value.len()
        ));
    }
    if !value.starts_with('{') {
        return Err("value is not a JSON object".into());
    }
    serde_json::from_str(value)
        .map_err(|e| format!("value is not a JSON object holding a {what} record: {e}"))
}

impl Metadata {
    /// Add one non-kv entry. `loc` names the file or member for errors.
    pub fn add(&mut self, loc: &str, key: &str, value: &str) -> Result<()> {
        let at = || format!("{loc}: key {key:?}");
        if self.entries.contains_key(key) {
            return bail(
                at(),
                "duplicate export-data key (a full export holds each key once)",
            );
        }
        let parts: Vec<&str> = key.split('.').collect();
        match parts.as_slice() {
            ["snapshot", vat, "current"] if valid_vat_id(vat) => {
                let pos = value
                    .strip_prefix(&format!("snapshot.{vat}."))
                    .and_then(parse_pos)
                    .ok_or_else(|| Error::invalid(at(), format!("value {value:?} must be \"snapshot.{vat}.<snapPos>\"")))?;
                self.current_snapshot.insert(vat.to_string(), pos);
            }
            ["snapshot", vat, pos] if valid_vat_id(vat) => {
                let snap_pos = parse_pos(pos).ok_or_else(|| Error::invalid(at(), "snapshot position is not a canonical decimal"))?;
                let m: SnapshotJson = parse_record(value, "snapshot").map_err(|e| Error::invalid(at(), e))?;
                let rec = SnapshotRecord {
                    vat: m.vat,
                    snap_pos: m.snap_pos,
                    hash: m.hash,
                    in_use: m.in_use == 1,
                };
                if rec.vat != *vat || rec.snap_pos != snap_pos {
                    return bail(at(), format!("record says vatID {:?} snapPos {}, which disagrees with its key", rec.vat, rec.snap_pos));
                }
                if !is_hex(&rec.hash, 64) {
                    return bail(at(), "snapshot hash is not 64 lowercase hex digits");
                }
                if rec.value() != value {
                    return bail(at(), format!("value is not in the exporter's exact form {}", rec.value()));
                }
                self.snapshots.insert((rec.vat.clone(), snap_pos), rec);
            }
            ["transcript", vat, which] if valid_vat_id(vat) => {
                let m: SpanJson = parse_record(value, "transcript span").map_err(|e| Error::invalid(at(), e))?;
                let rec = SpanRecord {
                    vat: m.vat,
                    start_pos: m.start_pos,
                    end_pos: m.end_pos,
                    hash: m.hash,
                    is_current: m.is_current == 1,
                    incarnation: m.incarnation,
                };
                if rec.vat != *vat {
                    return bail(at(), format!("record says vatID {:?}, which disagrees with its key", rec.vat));
                }
                if (*which == "current") != rec.is_current {
                    return bail(at(), "isCurrent must be 1 exactly for the transcript.<vatID>.current key");
                }
                if *which != "current" && parse_pos(which) != Some(rec.start_pos) {
                    return bail(at(), format!("key start position {which:?} disagrees with startPos {}", rec.start_pos));
                }
                if rec.start_pos > rec.end_pos || rec.end_pos >= (1 << 53) || rec.incarnation >= (1 << 53) {
                    return bail(at(), "span bounds or incarnation out of range");
                }
                if !is_hex(&rec.hash, 64) {
                    return bail(at(), "span hash is not 64 lowercase hex digits");
                }
                if rec.value() != value {
                    return bail(at(), format!("value is not in the exporter's exact form {}", rec.value()));
                }
                let pk = (rec.vat.clone(), rec.start_pos);
                if self.spans.contains_key(&pk) {
                    return bail(at(), format!("a second span record for vat {} starting at {}", rec.vat, rec.start_pos));
                }
                if rec.is_current {
                    if let Some(prev) = self.current_spans.insert(rec.vat.clone(), rec.start_pos) {
                        return bail(at(), format!("a second current span for vat {} (the first starts at {prev})", rec.vat));
                    }
                }
                self.spans.insert(pk, rec);
            }
            ["bundle", id] if valid_bundle_id(id) => {
                if value != *id {
                    return bail(at(), format!("a bundle record's value must equal its ID {id:?}"));
                }
                self.bundles.insert(id.to_string());
            }
            _ => {
                return bail(
                    at(),
                    match family(key) {
                        None => "unknown export-data family (expected kv., snapshot., transcript. or bundle.)",
                        Some(Family::Kv) => "kv entries are not metadata",
                        Some(_) => "malformed metadata key (vat IDs and bundle IDs must be well-formed, positions canonical decimals)",
                    },
                )
            }
        }
        self.entries.insert(key.to_string(), value.to_string());
        Ok(())
    }

    /// Cross-record invariants (spec §9.5). Call once all entries are in.
    pub fn check(&self, loc: &str) -> Result<()> {
        let mut in_use: BTreeMap<&str, u64> = BTreeMap::new();
        for rec in self.snapshots.values() {
            if rec.in_use {
                if let Some(prev) = in_use.insert(&rec.vat, rec.snap_pos) {
                    return bail(
                        format!("{loc}: key {:?}", rec.key()),
                        format!(
                            "vat {} has two in-use snapshots ({prev} and {})",
                            rec.vat, rec.snap_pos
                        ),
                    );
                }
            }
        }
        for (vat, pos) in &self.current_snapshot {
            if in_use.get(vat.as_str()) != Some(pos) {
                return bail(
                    format!("{loc}: key \"snapshot.{vat}.current\""),
                    format!(
                        "points at snapshot.{vat}.{pos}, which is not an in-use snapshot record"
                    ),
                );
            }
        }
        for (vat, pos) in &in_use {
            if !self.current_snapshot.contains_key(*vat) {
                return bail(
                    format!("{loc}: key \"snapshot.{vat}.{pos}\""),
                    format!("in-use snapshot without a snapshot.{vat}.current record"),
                );
            }
        }
        Ok(())
    }

    /// The current span of `vat`: one lookup (it used to be a scan of the vat's spans,
    /// which made per-span callers quadratic).
    pub fn current_span(&self, vat: &str) -> Option<&SpanRecord> {
        let start = *self.current_spans.get(vat)?;
        self.spans.get(&(vat.to_string(), start))
    }

    /// How many span records `vat` has (a range count, not a scan of every span).
    pub fn spans_of(&self, vat: &str) -> usize {
        self.spans
            .range((vat.to_string(), 0)..=(vat.to_string(), u64::MAX))
            .count()
    }

    /// How many snapshot records `vat` has.
    pub fn snapshots_of(&self, vat: &str) -> usize {
        self.snapshots
            .range((vat.to_string(), 0)..=(vat.to_string(), u64::MAX))
            .count()
    }

    /// The artifact names an export of `mode` must contain (for debug: the operational
    /// minimum; debug may add more).
    pub fn required_artifacts(&self, mode: ArtifactMode) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for id in &self.bundles {
            out.insert(format!("bundle.{id}"));
        }
        for rec in self.snapshots.values().filter(|r| r.in_use) {
            out.insert(rec.artifact_name());
        }
        let currents: BTreeMap<&str, &SpanRecord> = self
            .spans
            .values()
            .filter(|r| r.is_current)
            .map(|r| (r.vat.as_str(), r))
            .collect();
        for rec in self.spans.values() {
            let Some(cur) = currents.get(rec.vat.as_str()) else {
                continue;
            };
            let want = match mode {
                ArtifactMode::Operational | ArtifactMode::Debug => rec.is_current,
                ArtifactMode::Replay => rec.incarnation == cur.incarnation,
                ArtifactMode::Archival => true,
            };
            if want {
                out.insert(rec.artifact_name());
            }
        }
        out
    }

    /// The record an artifact belongs to, checked for existence and bounds.
    pub fn artifact_record(&self, name: &ArtifactName) -> Result<ArtifactRecord<'_>, String> {
        match name {
            ArtifactName::Snapshot { vat, snap_pos } => self
                .snapshots
                .get(&(vat.clone(), *snap_pos))
                .map(ArtifactRecord::Snapshot)
                .ok_or_else(|| {
                    format!("no export-data record snapshot.{vat}.{snap_pos} for this artifact")
                }),
            ArtifactName::Transcript {
                vat,
                start_pos,
                end_pos,
            } => match self.spans.get(&(vat.clone(), *start_pos)) {
                Some(r) if r.end_pos == *end_pos => Ok(ArtifactRecord::Span(r)),
                Some(r) => Err(format!(
                    "its span record {} ends at {}, not {end_pos}",
                    r.key(),
                    r.end_pos
                )),
                None => Err(format!(
                    "no transcript span record for vat {vat} starting at {start_pos}"
                )),
            },
            ArtifactName::Bundle { id } => {
                if let Some(id) = self.bundles.get(id) {
                    Ok(ArtifactRecord::Bundle(id))
                } else {
                    Err(format!(
                        "no export-data record bundle.{id} for this artifact"
                    ))
                }
            }
        }
    }

    /// The artifact mode an artifact set represents: the strongest standard mode whose
    /// set it equals exactly, else `debug` when it holds at least the operational set
    /// plus extras (historical snapshots, spans of terminated vats...). Deterministic, so
    /// one state packs to one archive whichever writer or mode label produced it.
    pub fn infer_mode(&self, present: &BTreeSet<String>) -> Result<ArtifactMode, String> {
        for mode in [
            ArtifactMode::Archival,
            ArtifactMode::Replay,
            ArtifactMode::Operational,
        ] {
            if *present == self.required_artifacts(mode) {
                return Ok(mode);
            }
        }
        let op = self.required_artifacts(ArtifactMode::Operational);
        let missing: Vec<&String> = op.difference(present).collect();
        if missing.is_empty() {
            return Ok(ArtifactMode::Debug);
        }
        let shown: Vec<&str> = missing.iter().take(10).map(|s| s.as_str()).collect();
        Err(format!(
            "{} artifact(s) required by every artifact mode are missing: {}{}",
            missing.len(),
            shown.join(", "),
            if missing.len() > 10 { ", ..." } else { "" }
        ))
    }
}

#[derive(Debug, Clone, Copy)]
pub enum ArtifactRecord<'a> {
    Snapshot(&'a SnapshotRecord),
    Span(&'a SpanRecord),
    Bundle(&'a String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            ArtifactName::parse("transcript.v1.3.4").unwrap(),
            ArtifactName::Transcript {
                vat: "v1".into(),
                start_pos: 3,
                end_pos: 4
            }
        );
        assert!(ArtifactName::parse("transcript.v1.05.6").is_err());
        assert!(ArtifactName::parse("transcript.v1.6.5").is_err());
        assert!(ArtifactName::parse("snapshot.v1").is_err());
        assert!(ArtifactName::parse("bundle.b2-00").is_err());
        assert!(ArtifactName::parse("../etc/passwd").is_err());
        for n in [
            "snapshot.v10.42",
            "transcript.v2.0.7",
            "bundle.b0-f2b272a02ac9ed6c7fbcb31542d84846ab37d1867464683d8ca8f28b96736637",
        ] {
            assert_eq!(ArtifactName::parse(n).unwrap().to_string(), n);
        }
    }

    #[test]
    fn hostile_names_are_not_artifact_names() {
        let long_vat = "v".repeat(MAX_ARTIFACT_NAME_BYTES);
        let too_long = format!("snapshot.{long_vat}.1");
        for n in [
            "",
            ".",
            "..",
            "/etc/passwd",
            "snapshot.v1.42/",
            "snapshot.v1.42/../../x",
            "snapshot./.42",
            "snapshot...42",
            "snapshot.v1.42.",
            ".snapshot.v1.42",
            "snapshot.v1\\..\\x.42",
            "snapshot.v1/x.42",
            "snapshot.v1\0.42",
            "snapshot.v1\n.42",
            "snapshot.v1\u{7f}.42",
            "snapshot.v\u{e9}.42",
            "snapshot.v1.42\0",
            "snapshot.v1. 42",
            "snapshot.v1.+42",
            "snapshot.v1.-1",
            "snapshot.v1.9007199254740992",
            "transcript.v1.0.7.8",
            "bundle.b0-E29E3F0DE03D8554B77BA44A1CE712F9404CC3E6491E1198A509B2EE08B2D1D6",
            "bundle.b1-00",
            "Snapshot.v1.42",
            &too_long,
        ] {
            assert!(ArtifactName::parse(n).is_err(), "{n:?} parsed");
        }
        let longest_ok = format!("snapshot.{}.1", &long_vat[..MAX_ARTIFACT_NAME_BYTES - 11]);
        assert_eq!(longest_ok.len(), MAX_ARTIFACT_NAME_BYTES);
        assert!(ArtifactName::parse(&longest_ok).is_ok());
    }

    #[test]
    fn records_round_trip_exact_form() {
        let mut m = Metadata::default();
        let v = r#"{"vatID":"v1","snapPos":42,"hash":"4a35a76804001a432e8acd994904b43594b819c5c1e4fd23408b99a1e76467ce","inUse":1}"#;
        m.add("t", "snapshot.v1.42", v).unwrap();
        m.add("t", "snapshot.v1.current", "snapshot.v1.42").unwrap();
        m.check("t").unwrap();
        // same data, different field order: refused (not what the exporter writes)
        let mut m2 = Metadata::default();
        let v2 = r#"{"snapPos":42,"vatID":"v1","hash":"4a35a76804001a432e8acd994904b43594b819c5c1e4fd23408b99a1e76467ce","inUse":1}"#;
        assert!(m2.add("t", "snapshot.v1.42", v2).is_err());
        // key and record disagree
        assert!(m2.add("t", "snapshot.v2.42", v).is_err());
        // unknown family
        assert!(m2.add("t", "other.x", "y").is_err());
    }
}
