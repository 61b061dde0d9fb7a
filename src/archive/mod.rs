//! The canonical genesis archive: its manifest, member layout, writer and reader.
//! The byte-level format is specified in FORMAT.md.

pub mod decode;
pub mod gz;
pub mod manifest;
pub mod par;
pub mod pipe;
pub mod reader;
pub mod tar;
pub mod writer;
pub mod zst;

use serde::Serialize;

pub use manifest::Sha256Digest;

use crate::error::{bail, Result};
use crate::model::ArtifactMode;

pub const FORMAT_NAME: &str = "agar-genesis-archive";
/// `format` of a swing-store backup (`agar backup`): the same layout without the
/// genesis.json member, and without `chain_id` / `initial_height` (FORMAT.md, "Swing-store
/// backups").
pub const BACKUP_FORMAT_NAME: &str = "agar-swing-store-backup";
pub const FORMAT_VERSION: u64 = 1;
pub const MANIFEST_MEMBER: &str = "genesis-archive.json";
pub const GENESIS_MEMBER: &str = "genesis.json";
pub const EXPORT_MANIFEST_MEMBER: &str = "swing-store/export-manifest.json";
pub const EXPORT_DATA_MEMBER: &str = "swing-store/export-data.jsonl";
pub const ARTIFACT_PREFIX: &str = "swing-store/";
pub const EXPORT_DATA_FILE: &str = "export-data.jsonl";

/// Largest archive manifest accepted (it lists every member: ~150 bytes each). It is
/// parsed as it streams, never held: what it costs in memory is its member list.
pub const MAX_MANIFEST_BYTES: u64 = 256 << 20;
/// Largest genesis.json accepted (held in memory to canonicalise it).
pub const MAX_GENESIS_BYTES: u64 = 4 << 30;
/// Most members accepted: the member list is held (about 100 bytes a member), so this
/// bounds it to about 100 MiB. Mainnet has a few thousand; an archival export of a chain
/// with long-lived vats a few hundred thousand.
pub const MAX_MEMBERS: usize = 1 << 20;
/// Longest member name accepted (`swing-store/` + the longest artifact name).
pub const MAX_MEMBER_NAME_BYTES: usize =
    ARTIFACT_PREFIX.len() + crate::model::MAX_ARTIFACT_NAME_BYTES;
/// Most bytes one compressed byte can inflate to: deflate's best case is a 258-byte
/// match coded in 2 bits, about 1032:1 (zlib's documented limit). A gzip archive whose
/// manifest announces more than `1032 x file size` uncompressed bytes is a bomb or
/// a lie, and is refused before anything is inflated.
pub const MAX_DEFLATE_RATIO: u64 = 1032;

/// Bytes a member occupies in the tar stream: header(s), content, padding.
pub fn member_tar_bytes(name: &str, size: u64) -> Option<u64> {
    (tar::member_header(name, size).len() as u64)
        .checked_add(size)?
        .checked_add(tar::padding(size) as u64)
}

/// One member of the archive (compact: the list can hold a million of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub name: Box<str>,
    pub size: u64,
    pub sha256: Sha256Digest,
}

/// Where an edited archive came from (set by `agar edit`, null for `agar pack`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// Archive digest of the input archive.
    pub parent: String,
    /// SHA-256 of the canonical JSON of the edit operations.
    pub edits_sha256: String,
    /// The operations applied, in order (as in the edit script, file contents by digest).
    pub edits: serde_json::Value,
}

/// `genesis-archive.json`, the first member. Deserialised strictly (unknown and
/// duplicate keys refused) by the visitors in [`manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveManifest {
    pub format: String,
    pub version: u64,
    /// Absent in a swing-store backup (read as ""): a swing-store does not know its chain.
    #[serde(default)]
    pub chain_id: String,
    /// Absent in a swing-store backup (read as 0), which has no genesis.
    #[serde(default)]
    pub initial_height: u64,
    /// The block height the swing-store state was exported at (the source's
    /// `host.height`); normally `initial_height - 1`. In a backup: the DB's `host.height`.
    pub export_height: u64,
    pub artifact_mode: String,
    pub swing_store_export_data_hash: String,
    pub export_data_entries: u64,
    /// Every member after this manifest, in archive order.
    pub members: Vec<Member>,
    pub provenance: Option<Provenance>,
}

impl ArchiveManifest {
    /// A swing-store backup (no genesis.json member) rather than a genesis archive.
    pub fn is_backup(&self) -> bool {
        self.format == BACKUP_FORMAT_NAME
    }

    /// Number of fixed members before the artifacts: genesis.json (not in a backup),
    /// export-manifest.json, export-data.jsonl.
    pub fn head_len(&self) -> usize {
        if self.is_backup() {
            2
        } else {
            3
        }
    }

    /// The genesis.json member (None in a backup).
    pub fn genesis_member(&self) -> Option<&Member> {
        (!self.is_backup()).then(|| &self.members[0])
    }

    /// The export-data member.
    pub fn export_data_member(&self) -> &Member {
        &self.members[self.head_len() - 1]
    }

    /// `blockHeight` of the export-manifest member: `initial_height` in a genesis archive
    /// (what InitGenesis stamps), `host.height` in a backup (what export-kernel-db.js
    /// writes).
    pub fn export_manifest_height(&self) -> u64 {
        if self.is_backup() {
            self.export_height
        } else {
            self.initial_height
        }
    }

    /// The kind of archive, for messages.
    pub fn kind(&self) -> &'static str {
        if self.is_backup() {
            "swing-store backup"
        } else {
            "genesis archive"
        }
    }

    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        manifest::write_canonical(self, &mut out).expect("writing to memory");
        out
    }

    /// A copy with only the three fixed members (what callers need after the reader
    /// is gone: heights, chain ID, the export data member), not the whole member list.
    pub fn head(&self) -> ArchiveManifest {
        ArchiveManifest {
            members: self.members.iter().take(self.head_len()).cloned().collect(),
            ..self.without_members()
        }
    }

    fn without_members(&self) -> ArchiveManifest {
        ArchiveManifest {
            format: self.format.clone(),
            version: self.version,
            chain_id: self.chain_id.clone(),
            initial_height: self.initial_height,
            export_height: self.export_height,
            artifact_mode: self.artifact_mode.clone(),
            swing_store_export_data_hash: self.swing_store_export_data_hash.clone(),
            export_data_entries: self.export_data_entries,
            members: Vec::new(),
            provenance: self.provenance.clone(),
        }
    }

    pub fn mode(&self) -> Result<ArtifactMode> {
        self.artifact_mode
            .parse()
            .or_else(|e: String| bail(MANIFEST_MEMBER, e))
    }

    /// Artifact members (name without the `swing-store/` prefix).
    pub fn artifacts(&self) -> impl Iterator<Item = (&str, &Member)> {
        self.members
            .iter()
            .skip(self.head_len())
            .map(|m| (m.name.strip_prefix(ARTIFACT_PREFIX).unwrap_or(&m.name), m))
    }

    /// Length of the whole uncompressed tar stream this manifest announces, given the
    /// manifest member's own size (None if it does not fit in 64 bits).
    pub fn tar_bytes(&self, manifest_size: u64) -> Option<u64> {
        let mut total = member_tar_bytes(MANIFEST_MEMBER, manifest_size)?;
        for m in &self.members {
            total = total.checked_add(member_tar_bytes(&m.name, m.size)?)?;
        }
        total.checked_add(2 * tar::BLOCK as u64)
    }

    /// The member named `name`: the fixed members by position, artifacts by binary
    /// search (they are sorted, which the reader checks).
    pub fn member(&self, name: &str) -> Option<&Member> {
        let head = self.members.len().min(3);
        if let Some(m) = self.members[..head].iter().find(|m| &*m.name == name) {
            return Some(m);
        }
        let arts = &self.members[head..];
        arts.binary_search_by(|m| m.name.as_bytes().cmp(name.as_bytes()))
            .ok()
            .map(|i| &arts[i])
    }
}

/// The export-manifest.json member: JS writer layout (spec §7.1, `JSON.stringify(m,
/// null, 2)`, no trailing newline), which both the JS importer and agd's Go reader accept.
/// Artifact file names equal artifact names; names are validated ASCII without
/// characters that JSON would escape.
pub fn export_manifest_bytes(block_height: u64, mode: ArtifactMode, artifacts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    write_export_manifest(&mut out, block_height, mode, artifacts.iter().copied())
        .expect("writing to memory");
    out
}

/// [`export_manifest_bytes`] written to `w` as it is generated (the reader checks the
/// member against it without holding either).
pub fn write_export_manifest<'a>(
    w: &mut dyn std::io::Write,
    block_height: u64,
    mode: ArtifactMode,
    artifacts: impl Iterator<Item = &'a str>,
) -> std::io::Result<()> {
    write!(w, "{{\n  \"blockHeight\": {block_height},\n  \"artifactMode\": \"{mode}\",\n  \"artifacts\": [")?;
    let mut empty = true;
    for a in artifacts {
        w.write_all(if empty { b"\n" } else { b",\n" })?;
        write!(w, "    [\n      \"{a}\",\n      \"{a}\"\n    ]")?;
        empty = false;
    }
    w.write_all(if empty { b"]" } else { b"\n  ]" })?;
    write!(w, ",\n  \"data\": \"{EXPORT_DATA_FILE}\"\n}}")
}

/// The entries of the three fixed members (genesis.json, export manifest, export data),
/// in archive order; artifacts follow them in the manifest's member list.
pub fn head_members(
    genesis: &crate::genesis::CanonicalGenesis,
    export_manifest: &[u8],
    data_size: u64,
    data_sha256: &str,
) -> Vec<Member> {
    let mut v = vec![Member {
        name: GENESIS_MEMBER.into(),
        size: genesis.size,
        sha256: Sha256Digest::from_hex(&genesis.sha256).expect("a computed digest"),
    }];
    v.extend(backup_head_members(export_manifest, data_size, data_sha256));
    v
}

/// The fixed members of a swing-store backup (export manifest, export data).
pub fn backup_head_members(
    export_manifest: &[u8],
    data_size: u64,
    data_sha256: &str,
) -> Vec<Member> {
    vec![
        Member {
            name: EXPORT_MANIFEST_MEMBER.into(),
            size: export_manifest.len() as u64,
            sha256: Sha256Digest::of(export_manifest),
        },
        Member {
            name: EXPORT_DATA_MEMBER.into(),
            size: data_size,
            sha256: Sha256Digest::from_hex(data_sha256).expect("a computed digest"),
        },
    ]
}

/// Lowercase 64-hex check.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_manifest_matches_js_writer_layout() {
        // the JS writer's bytes for the tiny operational export, with our block height
        let got = export_manifest_bytes(
            27,
            ArtifactMode::Operational,
            &["snapshot.v1.42", "transcript.v1.43.47"],
        );
        let want = "{\n  \"blockHeight\": 27,\n  \"artifactMode\": \"operational\",\n  \"artifacts\": [\n    [\n      \"snapshot.v1.42\",\n      \"snapshot.v1.42\"\n    ],\n    [\n      \"transcript.v1.43.47\",\n      \"transcript.v1.43.47\"\n    ]\n  ],\n  \"data\": \"export-data.jsonl\"\n}";
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }
}
