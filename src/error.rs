//! The crate's error type and its mapping to the documented exit codes.
//!
//! Every variant names the object that failed (a file, a rule, a template) and keeps
//! its cause as `source()`, so `main` can print one line: the error and its chain.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input file or stdin could not be opened or read.
    #[error("{path}: cannot read input")]
    ReadInput {
        /// The input, `-` for stdin.
        path: String,
        /// The I/O cause.
        #[source]
        source: std::io::Error,
    },
    /// An input could not be parsed at all (the document itself is broken).
    #[error("{path}: entry {index}: {reason}")]
    ParseInput {
        /// The input, `-` for stdin.
        path: String,
        /// 1-based entry (or line) number where parsing stopped.
        index: u64,
        /// What was wrong, from the JSON parser.
        reason: String,
    },
    /// `--strict` and an entry was malformed.
    #[error("{path}: entry {index}: malformed entry (--strict)")]
    StrictEntry {
        /// The input, `-` for stdin.
        path: String,
        /// 1-based entry (or line) number.
        index: u64,
        /// The parse cause.
        #[source]
        source: serde_json::Error,
    },
    /// A rule file could not be read.
    #[error("{path}: cannot read rule file")]
    ReadRules {
        /// The rule file or folder.
        path: PathBuf,
        /// The I/O cause.
        #[source]
        source: std::io::Error,
    },
    /// One or more rule packs are invalid; every problem is listed.
    #[error("{}", .problems.join("; "))]
    InvalidRules {
        /// One line per problem: `file: rule "id": what`.
        problems: Vec<String>,
    },
    /// A template could not be read.
    #[error("{path}: cannot read template")]
    ReadTemplate {
        /// The template file.
        path: PathBuf,
        /// The I/O cause.
        #[source]
        source: std::io::Error,
    },
    /// A template failed to parse or render.
    #[error("template {name}: {detail}")]
    Template {
        /// Template name or path.
        name: String,
        /// Tera's message with its whole cause chain.
        detail: String,
    },
    /// A setting is invalid (bad value, contradictory flags).
    #[error("{0}")]
    Usage(String),
    /// An output file could not be written.
    #[error("{path}: cannot write output")]
    WriteOutput {
        /// The output path, `-` for stdout.
        path: String,
        /// The I/O cause.
        #[source]
        source: std::io::Error,
    },
    /// Serialising the report failed (a bug, not an input problem).
    #[error("cannot serialise the report")]
    Serialize(#[source] serde_json::Error),
}

impl Error {
    /// The process exit code documented in README and `--help`.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::InvalidRules { .. }
            | Error::ReadRules { .. }
            | Error::ReadTemplate { .. }
            | Error::Template { .. }
            | Error::Usage(_) => 2,
            Error::ReadInput { .. }
            | Error::ParseInput { .. }
            | Error::StrictEntry { .. }
            | Error::WriteOutput { .. }
            | Error::Serialize(_) => 3,
        }
    }

    /// Whether this error is a closed stdout (`| head`), which ends the run quietly.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::WriteOutput { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Formats an error and its `source()` chain as one line joined by `: `.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut cur = err.source();
    while let Some(cause) = cur {
        let text = cause.to_string();
        if !text.is_empty() && !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cur = cause.source();
    }
    line.replace('\n', " ")
}
