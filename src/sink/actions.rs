//! GitHub Actions: the step summary, step outputs, one annotation per top cluster, and
//! `::stop-commands::` around anything that carries raw log text, so a log line that
//! starts with `::` is never read as a workflow command.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::entry::Severity;
use crate::error::{Error, Result};
use crate::report::Report;

/// A step summary is limited to 1 MiB; we stop a little short.
pub const SUMMARY_LIMIT: usize = 1_000_000;
/// Annotations shown per step and kind.
pub const MAX_ANNOTATIONS: usize = 10;

/// What the Actions runner gave us (`GITHUB_ACTIONS=true`).
#[derive(Debug, Clone, Default)]
pub struct Actions {
    /// `GITHUB_STEP_SUMMARY`.
    pub summary: Option<PathBuf>,
    /// `GITHUB_OUTPUT`.
    pub output: Option<PathBuf>,
}

impl Actions {
    /// `Some` when running under GitHub Actions.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<Actions> {
        if env("GITHUB_ACTIONS").as_deref() != Some("true") {
            return None;
        }
        let path = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        Some(Actions {
            summary: path("GITHUB_STEP_SUMMARY"),
            output: path("GITHUB_OUTPUT"),
        })
    }
}

/// A random token for `::stop-commands::` and output delimiters.
pub fn random_token() -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(32)
        .collect()
}

/// `text` between `::stop-commands::TOKEN` and `::TOKEN::`: nothing inside is run as a
/// workflow command.
pub fn guarded(text: &str) -> String {
    let token = random_token();
    let body = text.trim_end_matches('\n');
    format!("::stop-commands::{token}\n{body}\n::{token}::\n")
}

/// Escapes a workflow-command message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow-command property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error` (ERROR and above) or `::warning` line per top cluster, at most 10.
pub fn annotations(report: &Report) -> String {
    let mut out = String::new();
    for c in report.clusters.iter().take(MAX_ANNOTATIONS) {
        let kind = if c.severity >= Severity::Error {
            "error"
        } else {
            "warning"
        };
        let title = format!("gcp-triage #{}: {} ×{}", c.rank, c.severity, c.count);
        let first = c
            .first_seen
            .map_or_else(|| "unknown".to_string(), |t| t.to_rfc3339());
        let msg = format!(
            "{} (first seen {first}, fingerprint {})",
            c.title, c.fingerprint
        );
        let _ = writeln!(
            out,
            "::{kind} title={}::{}",
            escape_property(&title),
            escape_data(&msg)
        );
    }
    out
}

fn append(what: &'static str, path: &Path, text: &str) -> Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| Error::ActionsFile {
            what,
            path: path.to_path_buf(),
            source,
        })
}

/// Appends the markdown report to the step summary, cut to fit its limit.
pub fn write_summary(path: &Path, markdown: &str) -> Result<()> {
    let text = if markdown.len() > SUMMARY_LIMIT {
        let mut cut = SUMMARY_LIMIT - 200;
        while !markdown.is_char_boundary(cut) {
            cut -= 1;
        }
        format!(
            "{}\n\n*[report cut to fit the 1 MiB step summary limit; the full report is in --out or --format markdown]*\n",
            &markdown[..cut]
        )
    } else {
        format!("{markdown}\n")
    };
    append("GITHUB_STEP_SUMMARY", path, &text)
}

/// Appends `name=value` outputs; values with newlines use a random delimiter.
pub fn write_outputs(path: &Path, outputs: &[(&str, String)]) -> Result<()> {
    let mut text = String::new();
    for (name, value) in outputs {
        if value.contains('\n') || value.contains('\r') {
            let delim = format!("ghadelimiter_{}", random_token());
            let _ = write!(text, "{name}<<{delim}\n{value}\n{delim}\n");
        } else {
            let _ = writeln!(text, "{name}={value}");
        }
    }
    append("GITHUB_OUTPUT", path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_a_message_on_one_line() {
        assert_eq!(escape_data("a%b\r\n::error::x"), "a%25b%0D%0A::error::x");
        assert_eq!(escape_property("t: a, b"), "t%3A a%2C b");
    }

    #[test]
    fn guard_wraps_with_a_fresh_token() {
        let g = guarded("::add-mask::x\nline\n");
        let lines: Vec<&str> = g.lines().collect();
        let token = lines[0].strip_prefix("::stop-commands::").unwrap();
        assert_eq!(token.len(), 32);
        assert_eq!(lines.last().unwrap(), &format!("::{token}::"));
        assert_ne!(guarded("x"), guarded("x"));
    }

    #[test]
    fn only_under_actions() {
        assert!(Actions::from_env(&|_| None).is_none());
        let a = Actions::from_env(&|k| match k {
            "GITHUB_ACTIONS" => Some("true".into()),
            "GITHUB_OUTPUT" => Some("/tmp/o".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(a.output.as_deref(), Some(Path::new("/tmp/o")));
        assert!(a.summary.is_none());
    }
}
