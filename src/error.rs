//! Typed errors of the library, and the exit codes the CLI maps them to.
//!
//! Every variant says what was wrong and where (file, archive member, export-data key,
//! artifact name). The CLI adds what to do as context where the library cannot know it.

use std::path::PathBuf;

/// Exit codes (also documented in README.md):
/// 0 ok; 1 verification found problems / `diff` found differences; 2 usage or
/// environment error (bad flags, missing files, I/O); 3 bad input data (malformed or
/// inconsistent export, genesis or archive); 4 refused for safety (target exists,
/// height mismatch, digest mismatch against `--expect`/`base`).
pub mod exit {
    pub const OK: i32 = 0;
    pub const PROBLEMS: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const BAD_INPUT: i32 = 3;
    pub const REFUSED: i32 = 4;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    IoAt {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Malformed or inconsistent input data; `location` names the file/member/key.
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
    /// The operation was refused to protect the user (exists, mismatch, ...).
    #[error("{0}")]
    Refused(String),
    #[error("{location}: SQLite: {source}")]
    Sqlite {
        location: String,
        #[source]
        source: rusqlite::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            location: location.into(),
            message: message.into(),
        }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub fn io_at(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::IoAt {
            context: context.into(),
            source,
        }
    }
    pub fn sqlite(location: impl Into<String>, source: rusqlite::Error) -> Self {
        Error::Sqlite {
            location: location.into(),
            source,
        }
    }
    /// The same error with `context` in front of where it happened, keeping its kind
    /// (and so its exit code): an error that bubbles up through a wrapper must not turn a
    /// bad input (3) or a refusal (4) into an I/O error (2).
    pub fn context(self, context: &str) -> Error {
        match self {
            Error::Io { path, source } => Error::IoAt {
                context: format!("{context}: {}", path.display()),
                source,
            },
            Error::IoAt { context: c, source } => Error::IoAt {
                context: format!("{context}: {c}"),
                source,
            },
            Error::Invalid { location, message } => Error::Invalid {
                location: format!("{context}: {location}"),
                message,
            },
            Error::Refused(m) => Error::Refused(format!("{context}: {m}")),
            Error::Sqlite { location, source } => Error::Sqlite {
                location: format!("{context}: {location}"),
                source,
            },
        }
    }
    /// The process exit code this error maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Io { .. } | Error::IoAt { .. } => exit::USAGE,
            Error::Invalid { .. } | Error::Sqlite { .. } => exit::BAD_INPUT,
            Error::Refused(_) => exit::REFUSED,
        }
    }
}

/// Shorthand: `Err(Error::invalid(loc, msg))`.
pub fn bail<T>(location: impl Into<String>, message: impl Into<String>) -> Result<T> {
    Err(Error::invalid(location, message))
}
