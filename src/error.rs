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
    /// The config file is unreadable or holds a bad key or value.
    #[error("{path}{}{}: {message}", if *line > 0 { format!(":{line}") } else { String::new() }, if key.is_empty() { String::new() } else { format!(": key `{key}`") })]
    Config {
        /// The file.
        path: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// The dotted key (`cloud.project`), when known.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An output file could not be written.
    #[error("{path}: cannot write output")]
    WriteOutput {
        /// The output path, `-` for stdout.
        path: String,
        /// The I/O cause.
        #[source]
        source: std::io::Error,
    },
    /// No credential source in the chain applies.
    #[error(
        "no Google credentials found: run `gcloud auth application-default login`, set \
         GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or set \
         GOOGLE_OAUTH_ACCESS_TOKEN"
    )]
    NoCredentials,
    /// A credential source was found but gave no token.
    #[error("credentials from {origin}")]
    Credentials {
        /// Which source.
        origin: &'static str,
        /// `gcp_auth`'s cause.
        #[source]
        source: Box<gcp_auth::Error>,
    },
    /// No project from flags, environment or credentials.
    #[error("no project: pass --project, or set GOOGLE_CLOUD_PROJECT or CLOUDSDK_CORE_PROJECT")]
    NoProject,
    /// Cloud Logging rejected the query (HTTP 400).
    #[error("Cloud Logging rejected the filter: {message} (--print-filter shows it)")]
    BadFilter {
        /// The API's `error.message`.
        message: String,
    },
    /// Cloud Logging refused a request and retrying cannot help.
    #[error("Cloud Logging: HTTP {status} {status_name}: {message}{}", if .hint.is_empty() { String::new() } else { format!(" ({hint})") })]
    LoggingRejected {
        /// HTTP status.
        status: u16,
        /// `error.status`, e.g. `PERMISSION_DENIED`.
        status_name: String,
        /// The API's `error.message`.
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// Cloud Logging kept failing with transient errors.
    #[error("Cloud Logging unavailable after {attempts} attempts: {last}")]
    LoggingUnavailable {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// Retries ran past the retry deadline.
    #[error("Cloud Logging: gave up after retrying for {waited} s (--retry-deadline): {last}")]
    RetryDeadline {
        /// Seconds spent on the page.
        waited: u64,
        /// The last failure.
        last: String,
    },
    /// A 200 answer that is not an `entries.list` response.
    #[error("Cloud Logging: page {page}: invalid response")]
    LoggingResponse {
        /// 1-based page number.
        page: u64,
        /// The JSON cause.
        #[source]
        source: serde_json::Error,
    },
    /// BigQuery refused the query or the request.
    #[error("BigQuery: {reason}: {message}{hint}")]
    BigQuery {
        /// `error.errors[0].reason` (`invalidQuery`, `accessDenied`, `notFound`, ...).
        reason: String,
        /// BigQuery's message (one line).
        message: String,
        /// What to do about it (empty, or starting with `; `).
        hint: String,
        /// The SQL the user wrote (`--where`) is at fault: a usage error.
        user_sql: bool,
    },
    /// BigQuery kept failing with transient errors, or the job did not finish, within
    /// the retry deadline.
    #[error("BigQuery: gave up after {waited} s (--retry-deadline): {last}")]
    BigQueryDeadline {
        /// Seconds spent.
        waited: u64,
        /// The last failure or state.
        last: String,
    },
    /// A BigQuery answer that is not what the API documents.
    #[error("BigQuery: invalid response: {what}")]
    BigQueryResponse {
        /// What was wrong.
        what: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client")]
    HttpClient {
        /// reqwest's cause.
        #[source]
        source: reqwest::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The fetch thread died (a bug).
    #[error("the Cloud Logging fetch stopped unexpectedly")]
    FetchThread,
    /// A GitHub call failed.
    #[error("GitHub: {action}: {}{message}{}", .status.map_or(String::new(), |s| format!("HTTP {s}: ")), if .hint.is_empty() { String::new() } else { format!(" ({hint})") })]
    GitHub {
        /// What was being done.
        action: String,
        /// HTTP status, when there was an answer.
        status: Option<u16>,
        /// GitHub's message (or the transport error).
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// A GitHub Actions file (step summary, outputs) could not be written.
    #[error("{what} ({path}): cannot write")]
    ActionsFile {
        /// `GITHUB_STEP_SUMMARY` or `GITHUB_OUTPUT`.
        what: &'static str,
        /// The file.
        path: PathBuf,
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
            | Error::Usage(_)
            | Error::Config { .. }
            | Error::NoProject
            | Error::BadFilter { .. }
            | Error::BigQuery { user_sql: true, .. } => 2,
            Error::ReadInput { .. }
            | Error::ParseInput { .. }
            | Error::StrictEntry { .. }
            | Error::WriteOutput { .. }
            | Error::Serialize(_)
            | Error::NoCredentials
            | Error::Credentials { .. }
            | Error::LoggingRejected { .. }
            | Error::LoggingUnavailable { .. }
            | Error::RetryDeadline { .. }
            | Error::LoggingResponse { .. }
            | Error::BigQuery { .. }
            | Error::BigQueryDeadline { .. }
            | Error::BigQueryResponse { .. }
            | Error::HttpClient { .. }
            | Error::Runtime(_)
            | Error::FetchThread => 3,
            Error::GitHub { .. } | Error::ActionsFile { .. } => 4,
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
