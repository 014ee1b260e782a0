//! GitHub issue bodies and comments for one cluster, rendered from the same report
//! context through `templates/issue.md.tera` (overridable) and
//! `templates/issue-comment.md.tera`. Pure: no network.
//!
//! The body's first line is always the hidden fingerprint marker, written here and not
//! by the template, so neither a custom template nor trimming can lose it. Bodies stay
//! under GitHub's 65,536-character limit: exemplar messages are cut in the middle
//! (the head and the tail of a traceback survive: the exception line is at the end),
//! then exemplars beyond the first are dropped.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cluster::trim_middle;
use crate::error::{Error, Result};
use crate::report::{ClusterView, Query, Report, Window};

/// Name of the built-in issue template.
pub const ISSUE: &str = "issue.md";
/// The built-in issue template.
pub const ISSUE_TEMPLATE: &str = include_str!("../../templates/issue.md.tera");
/// Name of the comment template.
pub const COMMENT: &str = "issue-comment.md";
/// The comment template.
pub const COMMENT_TEMPLATE: &str = include_str!("../../templates/issue-comment.md.tera");

/// GitHub's hard limit on an issue or comment body, in characters.
pub const GITHUB_BODY_LIMIT: usize = 65_536;
/// What we aim for, leaving room for GitHub's own accounting.
pub const BODY_BUDGET: usize = 60_000;
/// GitHub's limit on a title, in characters.
pub const TITLE_LIMIT: usize = 256;

/// The hidden marker that identifies a cluster's issue; always the body's first line.
pub fn marker(fingerprint: &str) -> String {
    format!("<!-- gcp-triage:fingerprint=v1-{fingerprint} -->")
}

/// The second marker line of a template cluster's issue: its template, hex-encoded (a
/// template can hold anything, `-->` included), so a later run whose cluster folds
/// this template, or is folded by it, finds the issue.
pub fn template_marker(template: &str) -> String {
    use std::fmt::Write as _;
    let mut hex = String::with_capacity(template.len() * 2);
    for b in template.bytes() {
        let _ = write!(hex, "{b:02x}");
    }
    format!("<!-- gcp-triage:template=v1-{hex} -->")
}

/// The template in a body whose first line is our marker and second line our template
/// marker.
pub fn template_of(body: &str) -> Option<String> {
    fingerprint_of(body)?;
    let second = body.lines().nth(1)?.trim_end_matches('\r');
    let hex = second
        .strip_prefix("<!-- gcp-triage:template=v1-")?
        .strip_suffix(" -->")?;
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if hex.len() % 2 != 0 || !hex.bytes().all(lower_hex) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// The template of a template cluster (its signature key without the `template:`).
pub fn cluster_template(cluster: &ClusterView) -> Option<&str> {
    if cluster.signature.kind != crate::signature::SignatureKind::Template {
        return None;
    }
    cluster.signature.key.strip_prefix("template:")
}

/// The fingerprint in a body whose first line is our marker (nothing else counts: a
/// marker quoted in log text further down is ignored).
pub fn fingerprint_of(body: &str) -> Option<&str> {
    let first = body.lines().next()?.trim_end_matches('\r');
    let fp = first
        .strip_prefix("<!-- gcp-triage:fingerprint=v1-")?
        .strip_suffix(" -->")?;
    (!fp.is_empty() && fp.bytes().all(|b| b.is_ascii_hexdigit())).then_some(fp)
}

/// An earlier issue this one refers to.
#[derive(Debug, Clone, Serialize)]
pub struct IssueRef {
    /// Issue number.
    pub number: u64,
    /// Its web address.
    pub url: String,
    /// When it was closed, if it was.
    pub closed_at: Option<DateTime<Utc>>,
}

/// What an issue or comment template receives.
#[derive(Debug, Clone, Serialize)]
pub struct IssueContext<'a> {
    /// `gcp-triage` and its version.
    pub tool: &'a str,
    /// The cluster (exemplars possibly trimmed).
    pub cluster: ClusterView,
    /// The report's window.
    pub window: &'a Window,
    /// The Cloud Logging query, if fetched.
    pub query: Option<&'a Query>,
    /// Inputs, if read from files.
    pub inputs: &'a [String],
    /// The report is partial.
    pub partial: bool,
    /// The closed issue this one is a regression of.
    pub regression_of: Option<IssueRef>,
    /// The CI run that produced it (GitHub Actions), if known.
    pub run_url: Option<&'a str>,
    /// Exemplar text was cut to fit GitHub's limit.
    pub trimmed: bool,
}

/// Renders issue bodies and comments.
pub struct IssueRenderer {
    tera: tera::Tera,
    issue_name: String,
}

fn tera_error(name: &str, e: &tera::Error) -> Error {
    Error::Template {
        name: name.to_string(),
        detail: crate::error::one_line(e),
    }
}

/// The title of a cluster's issue: `gcp-triage: TITLE`, one line, at most 256 chars.
pub fn title(c: &ClusterView, regression: bool) -> String {
    let prefix = if regression {
        "gcp-triage (regression): "
    } else {
        "gcp-triage: "
    };
    let flat: String = format!("{prefix}{}", c.title)
        .chars()
        .map(|ch| if ch.is_control() { ' ' } else { ch })
        .collect();
    if flat.chars().count() <= TITLE_LIMIT {
        flat
    } else {
        let mut t: String = flat.chars().take(TITLE_LIMIT - 1).collect();
        t.push('…');
        t
    }
}

impl IssueRenderer {
    /// The built-in templates, or `issue_template` (name, text) for the body.
    pub fn new(issue_template: Option<(String, String)>) -> Result<IssueRenderer> {
        let mut tera = super::new_tera();
        let (issue_name, text) =
            issue_template.unwrap_or_else(|| (ISSUE.to_string(), ISSUE_TEMPLATE.to_string()));
        tera.add_raw_template(&issue_name, &text)
            .map_err(|e| tera_error(&issue_name, &e))?;
        tera.add_raw_template(COMMENT, COMMENT_TEMPLATE)
            .map_err(|e| tera_error(COMMENT, &e))?;
        Ok(IssueRenderer { tera, issue_name })
    }

    fn render(&self, name: &str, ctx: &IssueContext<'_>) -> Result<String> {
        let ctx = tera::Context::from_serialize(ctx).map_err(|e| tera_error(name, &e))?;
        self.tera
            .render(name, &ctx)
            .map_err(|e| tera_error(name, &e))
    }

    /// The body of a cluster's issue: marker line, then the template, within `budget`
    /// characters.
    pub fn body(&self, ctx: IssueContext<'_>, budget: usize) -> Result<String> {
        let mut marker = marker(&ctx.cluster.fingerprint);
        if let Some(t) = cluster_template(&ctx.cluster) {
            marker.push('\n');
            marker.push_str(&template_marker(t));
        }
        self.fit(ctx, budget, |r, ctx| {
            Ok(format!("{marker}\n{}", r.render(&r.issue_name, ctx)?))
        })
    }

    /// A comment with the new window's numbers, within `budget` characters.
    pub fn comment(&self, ctx: IssueContext<'_>, budget: usize) -> Result<String> {
        self.fit(ctx, budget, |r, ctx| r.render(COMMENT, ctx))
    }

    /// Renders, cutting exemplars until the text fits.
    fn fit(
        &self,
        mut ctx: IssueContext<'_>,
        budget: usize,
        render: impl Fn(&IssueRenderer, &IssueContext<'_>) -> Result<String>,
    ) -> Result<String> {
        let mut text = render(self, &ctx)?;
        for cap in [3000, 1500, 600, 200] {
            if text.chars().count() <= budget {
                return Ok(text);
            }
            ctx.trimmed = true;
            for e in &mut ctx.cluster.exemplars {
                e.message = trim_middle(&e.message, cap);
            }
            text = render(self, &ctx)?;
        }
        while text.chars().count() > budget && ctx.cluster.exemplars.len() > 1 {
            ctx.cluster.exemplars.pop();
            text = render(self, &ctx)?;
        }
        if text.chars().count() > budget {
            // Only a template that prints something huge outside the exemplars gets
            // here: cut the end, never the marker at the start.
            text = text.chars().take(budget.saturating_sub(40)).collect();
            text.push_str("\n\n[... cut to fit GitHub's limit ...]\n");
        }
        Ok(text)
    }
}

/// The context for `cluster` of `report`.
pub fn context<'a>(
    report: &'a Report,
    cluster: &ClusterView,
    regression_of: Option<IssueRef>,
    run_url: Option<&'a str>,
) -> IssueContext<'a> {
    IssueContext {
        tool: &report.tool,
        cluster: cluster.clone(),
        window: &report.summary.window,
        query: report.query.as_ref(),
        inputs: &report.inputs,
        partial: report.partial,
        regression_of,
        run_url,
        trimmed: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_marker_reads_back_from_the_second_line() {
        let t = "job <*> --> failed: \u{e9}t\u{e9}";
        let body = format!("{}\n{}\nrest", marker("0123456789ab"), template_marker(t));
        assert_eq!(template_of(&body).as_deref(), Some(t));
        assert_eq!(
            template_of(&format!("{}\nrest", marker("0123456789ab"))),
            None
        );
        assert_eq!(template_of(&format!("x\n{}", template_marker(t))), None);
        let odd = format!("{}\n<!-- gcp-triage:template=v1-abc -->", marker("01"));
        assert_eq!(template_of(&odd), None);
    }

    #[test]
    fn marker_is_read_only_from_the_first_line() {
        let body = format!("{}\nrest", marker("0123456789ab"));
        assert_eq!(fingerprint_of(&body), Some("0123456789ab"));
        let crlf = format!("{}\r\nrest", marker("0123456789ab"));
        assert_eq!(fingerprint_of(&crlf), Some("0123456789ab"));
        let quoted = format!("intro\n{}", marker("0123456789ab"));
        assert_eq!(fingerprint_of(&quoted), None);
        assert_eq!(
            fingerprint_of("<!-- gcp-triage:fingerprint=v1-zz -->"),
            None
        );
        assert_eq!(fingerprint_of(""), None);
    }
}
