//! `agar kv get|list`: read kvStore values from an archive, streaming, through the
//! closed-world reader. Only members 1-4 are read: the export data is checked against
//! the archive manifest and genesis, but artifacts are not read (and so the archive digest
//! is not known); `agar verify` checks everything.

use std::path::Path;

use crate::archive::reader::{ArchiveReader, ReadOptions};
use crate::error::Result;
use crate::model::kv_store_key;

pub const NOT_VERIFIED_NOTE: &str = "artifacts were not read or verified, and the archive digest was not checked (kv reads stop after export-data.jsonl); run `agar verify` for that";

/// Call `f(key, value)` for every kvStore entry whose key starts with `prefix` (keys
/// without the export-data `kv.` prefix), in key order.
pub fn for_each(
    archive: &Path,
    prefix: &str,
    progress: bool,
    f: &mut dyn FnMut(&str, &str) -> Result<()>,
) -> Result<()> {
    let mut r = ArchiveReader::open(
        archive,
        ReadOptions {
            fail_fast: true,
            progress,
            keep_genesis: false,
            skip_chain_check: true, // no use for it here
        },
    )?;
    r.read_export_data(&mut |e, _| match kv_store_key(&e.key) {
        Some(k) if k.starts_with(prefix) => f(k, e.value.as_deref().unwrap_or_default()),
        _ => Ok(()),
    })?;
    Ok(())
}

/// The value of one kvStore key, if present.
pub fn get(archive: &Path, key: &str, progress: bool) -> Result<Option<String>> {
    let mut found = None;
    for_each(archive, key, progress, &mut |k, v| {
        if k == key {
            found = Some(v.to_string());
        }
        Ok(())
    })?;
    Ok(found)
}
