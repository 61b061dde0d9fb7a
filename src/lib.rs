//! `agar`: the Agoric genesis archive builder, verifier, editor and exploder.
//!
//! Data flows one way: input adapters ([`exportdir`], the swing-store DB) produce a
//! [`source::StateSource`]; [`pack`] validates it into an in-memory model of metadata
//! only ([`model`]) and streams a canonical archive ([`archive`]); readers go through
//! the closed-world [`archive::reader`].

pub mod archive;
pub mod attest;
pub mod backup;
pub mod bundle;
pub mod chain;
pub mod cleanup;
pub mod confine;
pub mod dbexport;
pub mod dbimport;
pub mod diff;
pub mod dump;
pub mod edit;
pub mod error;
pub mod explode;
pub mod exportdir;
pub mod extsort;
pub mod genesis;
pub mod genesis_time;
pub mod gojson;
pub mod hashes;
pub mod home;
pub mod json;
pub mod kv;
pub mod model;
pub mod pack;
pub mod progress;
pub mod recompress;
pub mod remote;
pub mod source;
pub mod term;

pub use error::{Error, Result};
pub mod verify;

/// A file or directory of the repository's test fixtures (`tests/fixtures/<rel>`), for
/// the unit tests.
#[cfg(test)]
pub(crate) fn test_fixture(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}
