//! The command line, one file per command (mirroring `tests/`). `main.rs` only parses
//! and dispatches; each file here turns parsed arguments into library calls and output.

pub mod backup;
pub mod edit;
pub mod restore;
pub mod status;
