//! Input adapters produce a `StateSource`: export data entries and artifact streams.
//! The pack pipeline consumes any of them (export directories of either dialect, a
//! swing-store DB) the same way.

use std::io::Read;

use crate::error::Result;
use crate::gojson::Entry;
use crate::model::ArtifactMode;

pub trait StateSource {
    /// Where the export data comes from, for messages.
    fn data_location(&self) -> String;
    /// Call `f` for every export-data entry, in the source's order, with a location
    /// string for messages (file and line). May be called more than once.
    fn for_each_entry(&mut self, f: &mut dyn FnMut(&str, Entry) -> Result<()>) -> Result<()>;
    /// The artifact names the source holds.
    fn artifact_names(&self) -> Vec<String>;
    /// Where an artifact comes from, for messages.
    fn artifact_location(&self, name: &str) -> String;
    /// Open an artifact's bytes.
    fn open_artifact(&mut self, name: &str) -> Result<Box<dyn Read + '_>>;
    /// The artifact mode the source claims, if it says.
    fn declared_mode(&self) -> Option<ArtifactMode>;
    /// The block height the source says it was exported at, if it says.
    fn export_height(&self) -> Option<u64>;
    /// Whether a genesis hash of empty data (`--swing-store-export-mode skip`) should be
    /// replaced by the real hash (true for sources that read the DB directly).
    fn replaces_skip_hash(&self) -> bool {
        false
    }
    /// What `export_height()` is, for the height-mismatch message ("... is H").
    fn height_origin(&self) -> String {
        "the swing-store export's blockHeight (the block it was exported at)".to_string()
    }
    /// Whether `for_each_entry` yields keys in canonical order (strictly increasing
    /// bytewise). Pack then digests the export data during its first scan (still checking
    /// the order, and falling back to a separate pass if it does not hold).
    fn canonical_order(&self) -> bool {
        false
    }
    /// Fail if the source changed since it was opened in a way its reads cannot see
    /// (a DB opened for writing by another process). Pack calls it after writing, before
    /// the output is moved into place.
    fn ensure_unchanged(&self) -> Result<()> {
        Ok(())
    }
    /// Total artifact bytes pass 1 will read, if cheaply known (for the progress bar).
    fn artifact_bytes_hint(&mut self) -> Option<u64> {
        None
    }
    /// The size and SHA-256 (hex) the source itself records for an artifact's bytes, when
    /// reading them costs more than trusting the record until pass 2 (a DB's gzipped
    /// snapshot: its `uncompressedSize` and `hash`). Pass 1 then takes these instead of
    /// reading the bytes; pass 2 hashes and counts what it writes and refuses the output
    /// before anything is in place if they differ.
    fn recorded_artifact(&mut self, _name: &str) -> Result<Option<(u64, String)>> {
        Ok(None)
    }
}
