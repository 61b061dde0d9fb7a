//! Typed errors of the library, and the exit codes the CLI maps them to.
//!
//! Every variant says what was wrong and where (file, archive member, export-data key,
//! artifact name). The CLI adds what to do as context where the library cannot know it.

use std::path::PathBuf;

/// Exit codes, the same for every command. README.md's "Exit codes" table documents
/// them; a test (tests/exit_codes.rs) checks that table against [`exit::TABLE`].
pub mod exit {
    /// Success (`verify`: everything holds; `diff`: equal).
    pub const OK: i32 = 0;
    /// A check found problems (`verify`, `digest`, `inspect --verify`), `diff` found
    /// differences, `kv get` found no such key.
    pub const PROBLEMS: i32 = 1;
    /// Usage or environment: bad flags or flag values, missing or unreadable files, I/O.
    pub const USAGE: i32 = 2;
    /// Bad input data: malformed or inconsistent export, genesis, archive or edit script.
    pub const BAD_INPUT: i32 = 3;
    /// Refused for safety: output exists, height mismatch, digest or `base` mismatch.
    pub const REFUSED: i32 = 4;
    /// Interrupted by SIGINT (Ctrl-C); temporary outputs removed.
    pub const INTERRUPTED: i32 = 130;
    /// Terminated by SIGTERM; temporary outputs removed.
    pub const TERMINATED: i32 = 143;

    /// Every exit code with its stable name (the `code` of a `--json` error).
    pub const TABLE: &[(i32, &str)] = &[
        (OK, "ok"),
        (PROBLEMS, "problems"),
        (USAGE, "usage"),
        (BAD_INPUT, "bad_input"),
        (REFUSED, "refused"),
        (INTERRUPTED, "interrupted"),
        (TERMINATED, "terminated"),
    ];

    /// The stable name of an exit code.
    pub fn name(code: i32) -> &'static str {
        TABLE
            .iter()
            .find(|(c, _)| *c == code)
            .map_or("error", |(_, n)| n)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The message includes the cause and `source()` returns it too, for callers that
    // walk the chain; printers must not repeat it (see `display_chain`).
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
    /// Whether an I/O error says the data is bad (a corrupt stream, a source shorter or
    /// longer than announced: exit 3) rather than that the run's I/O failed (exit 2).
    pub fn is_bad_data(e: &std::io::Error) -> bool {
        matches!(
            e.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
        )
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
    /// Where the error is: the file, member, key or flag it names.
    pub fn location(&self) -> Option<String> {
        match self {
            Error::Io { path, .. } => Some(path.display().to_string()),
            Error::IoAt { context, .. } => Some(context.clone()),
            Error::Invalid { location, .. } | Error::Sqlite { location, .. } => {
                Some(location.clone())
            }
            Error::Refused(_) => None,
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

/// An error and its causes on one line, `what: why: why…`, each cause once: a cause whose
/// text the message already ends with (this crate's `Io`/`Sqlite` variants show their
/// source, as do many others) is not repeated, unlike anyhow's `{:#}`.
pub fn display_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !t.is_empty() && !out.ends_with(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = c.source();
    }
    out
}

/// Shorthand: `Err(Error::invalid(loc, msg))`.
pub fn bail<T>(location: impl Into<String>, message: impl Into<String>) -> Result<T> {
    Err(Error::invalid(location, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_each_cause_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let why = io.to_string();
        let e = anyhow::Error::new(Error::io("/x/genesis.json", io)).context("reading genesis");
        let text = display_chain(e.as_ref());
        assert_eq!(text, format!("reading genesis: /x/genesis.json: {why}"));
        assert_eq!(text.matches(why.as_str()).count(), 1, "{text}");
        // anyhow's own rendering repeats it: the reason display_chain exists
        assert_eq!(format!("{e:#}").matches(why.as_str()).count(), 2);
    }
}
