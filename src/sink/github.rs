//! Files one GitHub issue per top cluster, never twice (octocrab, REST).
//!
//! De-duplication: every issue we file carries the tool's label and, as the body's
//! first line, a hidden marker with the cluster's fingerprint. Before writing, all
//! issues with that label (open and closed, every page, through the list API, which
//! unlike search is consistent) are read and their markers parsed. Then, per cluster:
//! an open issue with the fingerprint gets a comment with the new numbers; only closed
//! ones get a new issue that says it is a regression and links the last of them;
//! otherwise a new issue.
//!
//! Writes are serial and never retried blindly: octocrab is built without its retry
//! layer, and after a create whose outcome is unknown (5xx, timeout, connection) the
//! issues are listed again; only when the issue is not there is the create sent once
//! more. Rate limits (403/429 with `retry-after`, `x-ratelimit-remaining: 0`, or a
//! secondary-limit message) are waited out, within limits, and the request repeated:
//! GitHub did not act on a rate-limited request.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::report::issue::{self, BODY_BUDGET, IssueRef, IssueRenderer};
use crate::report::{ClusterView, Report};
use crate::source::auth::Secret;

/// The public API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Longest single wait on a rate limit; a later reset fails the run instead.
const MAX_RATE_WAIT: Duration = Duration::from_secs(300);
/// Rate-limit waits per request.
const MAX_RATE_RETRIES: u32 = 3;

/// `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// Owner (user or organisation).
    pub owner: String,
    /// Repository name.
    pub name: String,
}

impl Repo {
    /// Parses `owner/name`.
    pub fn parse(s: &str) -> Option<Repo> {
        let (owner, name) = s.trim().split_once('/')?;
        let ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        (ok(owner) && ok(name)).then(|| Repo {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// Validated GitHub settings.
#[derive(Debug, Clone)]
pub struct GithubSettings {
    /// Target repository.
    pub repo: Repo,
    /// Token (`GITHUB_TOKEN` or `GH_TOKEN`); a dry run may go without.
    pub token: Option<Secret>,
    /// API root.
    pub api_url: String,
    /// Clusters filed at most.
    pub max_issues: usize,
    /// Labels; the first is the one issues are found by.
    pub labels: Vec<String>,
    /// Print what would be written; write nothing.
    pub dry_run: bool,
}

/// What was done for one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A new issue.
    Created,
    /// A new issue for a fingerprint whose issues are all closed.
    Regression,
    /// A comment on the open issue.
    Commented,
    /// Dry run: would create.
    WouldCreate,
    /// Dry run: would create a regression issue.
    WouldCreateRegression,
    /// Dry run: would comment.
    WouldComment,
}

/// One cluster's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Filed {
    /// The cluster.
    pub fingerprint: String,
    /// What was done.
    pub action: Action,
    /// The issue's number, when known.
    pub number: Option<u64>,
    /// The issue's address, when known.
    pub url: Option<String>,
}

/// How filing went: what was done, and what stopped it.
#[derive(Debug, Default)]
pub struct Publication {
    /// Outcomes, in rank order.
    pub filed: Vec<Filed>,
    /// The failure that stopped filing, if any.
    pub error: Option<Error>,
}

#[derive(Debug, Clone, Deserialize)]
struct GhIssue {
    number: u64,
    html_url: String,
    state: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
    #[serde(default)]
    closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct GhComment {
    html_url: String,
}

/// An issue of ours, found by its marker.
#[derive(Debug, Clone)]
struct Known {
    number: u64,
    url: String,
    open: bool,
    closed_at: Option<DateTime<Utc>>,
    /// The template of a template cluster's issue (its second marker line).
    template: Option<String>,
}

/// The issues that are this cluster's: filed under its fingerprint, under one it
/// subsumes (a narrower template folded into it), or for a template it covers or that
/// covers it (a run that folded where another did not).
fn matching(known: &BTreeMap<String, Vec<Known>>, cluster: &ClusterView) -> Vec<Known> {
    use crate::signature::fallback::fold::covers;
    let template = issue::cluster_template(cluster);
    known
        .iter()
        .filter(|(fp, issues)| {
            **fp == cluster.fingerprint
                || cluster.subsumes.iter().any(|s| s.fingerprint == **fp)
                || template.is_some_and(|mine| {
                    issues.iter().any(|k| {
                        k.template
                            .as_deref()
                            .is_some_and(|theirs| covers(mine, theirs) || covers(theirs, mine))
                    })
                })
        })
        .flat_map(|(_, issues)| issues.iter().cloned())
        .collect()
}

struct Client<'a> {
    gh: octocrab::Octocrab,
    s: &'a GithubSettings,
    base: String,
}

/// Files issues for the report's top clusters. Dry-run text goes to `dry`.
pub fn file_issues(
    report: &Report,
    s: &GithubSettings,
    renderer: &IssueRenderer,
    run_url: Option<&str>,
    dry: &mut dyn Write,
) -> Publication {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return Publication {
                filed: Vec::new(),
                error: Some(Error::Runtime(e)),
            };
        }
    };
    let mut publication = Publication::default();
    let result = runtime.block_on(run(
        report,
        s,
        renderer,
        run_url,
        dry,
        &mut publication.filed,
    ));
    publication.error = result.err();
    publication
}

async fn run(
    report: &Report,
    s: &GithubSettings,
    renderer: &IssueRenderer,
    run_url: Option<&str>,
    dry: &mut dyn Write,
    filed: &mut Vec<Filed>,
) -> Result<()> {
    let top: Vec<&ClusterView> = report.clusters.iter().take(s.max_issues).collect();
    if top.is_empty() {
        return Ok(());
    }
    let client = match &s.token {
        Some(token) => Some(Client::new(s, token)?),
        None => None,
    };
    let mut known: BTreeMap<String, Vec<Known>> = BTreeMap::new();
    if let Some(c) = &client {
        if !s.dry_run {
            c.ensure_labels().await?;
        }
        known = c.list_marked().await?;
    }
    for cluster in top {
        let fp = cluster.fingerprint.clone();
        let matches = matching(&known, cluster);
        let open = matches.iter().filter(|k| k.open).min_by_key(|k| k.number);
        let closed = matches.iter().filter(|k| !k.open).max_by_key(|k| k.number);
        if let Some(o) = open {
            let ctx = issue::context(report, cluster, None, run_url);
            let text = renderer.comment(ctx, BODY_BUDGET)?;
            let (action, url) = if let (Some(c), false) = (&client, s.dry_run) {
                (Action::Commented, Some(c.comment(o.number, &text).await?))
            } else {
                dry_block(
                    dry,
                    &format!("would comment on #{} ({})", o.number, o.url),
                    &text,
                );
                (Action::WouldComment, None)
            };
            filed.push(Filed {
                fingerprint: fp,
                action,
                number: Some(o.number),
                url: url.or_else(|| Some(o.url.clone())),
            });
            continue;
        }
        let regression_of = closed.map(|k| IssueRef {
            number: k.number,
            url: k.url.clone(),
            closed_at: k.closed_at,
        });
        let is_regression = regression_of.is_some();
        let title = issue::title(cluster, is_regression);
        let ctx = issue::context(report, cluster, regression_of, run_url);
        let body = renderer.body(ctx, BODY_BUDGET)?;
        if let (Some(c), false) = (&client, s.dry_run) {
            let created = c.create(&fp, &title, &body).await?;
            known.entry(fp.clone()).or_default().push(Known {
                number: created.number,
                url: created.html_url.clone(),
                open: true,
                closed_at: None,
                template: issue::cluster_template(cluster).map(str::to_string),
            });
            filed.push(Filed {
                fingerprint: fp,
                action: if is_regression {
                    Action::Regression
                } else {
                    Action::Created
                },
                number: Some(created.number),
                url: Some(created.html_url),
            });
        } else {
            let what = match (closed.map(|k| k.number), client.is_some()) {
                (Some(n), _) => {
                    format!("would create an issue in {} (regression of #{n})", s.repo)
                }
                (None, true) => format!("would create an issue in {}", s.repo),
                (None, false) => format!(
                    "would create an issue in {} (no token: existing issues not checked)",
                    s.repo
                ),
            };
            let header = format!("{what}\ntitle: {title}\nlabels: {}", s.labels.join(", "));
            dry_block(dry, &header, &body);
            filed.push(Filed {
                fingerprint: fp,
                action: if is_regression {
                    Action::WouldCreateRegression
                } else {
                    Action::WouldCreate
                },
                number: None,
                url: None,
            });
        }
    }
    Ok(())
}

fn dry_block(out: &mut dyn Write, header: &str, text: &str) {
    let _ = writeln!(out, "--- dry run: {header} ---\n{text}\n--- end ---");
}

/// Whether a failed write may have happened anyway (so it must be looked up, not
/// repeated).
fn outcome_unknown(e: &octocrab::Error) -> bool {
    match e {
        octocrab::Error::GitHub { source, .. } => source.status_code.is_server_error(),
        // A 201 whose body did not parse, a timeout, a dropped connection: the issue
        // may exist.
        _ => true,
    }
}

fn header<'h>(e: &'h octocrab::GitHubError, name: &str) -> Option<&'h str> {
    e.headers.as_ref()?.get(name)?.to_str().ok()
}

/// How long to wait before repeating a rate-limited request, or `None` when the
/// error is not a rate limit.
fn rate_limit_wait(e: &octocrab::Error, now: DateTime<Utc>) -> Option<Duration> {
    let octocrab::Error::GitHub { source, .. } = e else {
        return None;
    };
    rate_limit_wait_for(
        source.status_code.as_u16(),
        header(source, "retry-after"),
        header(source, "x-ratelimit-remaining"),
        source.rate_limit_reset_at(),
        &source.message,
        now,
    )
}

/// The rule behind [`rate_limit_wait`]: `retry-after` first, then a spent primary
/// quota (until its reset), then a secondary-limit message or a bare 429 (60 s).
fn rate_limit_wait_for(
    status: u16,
    retry_after: Option<&str>,
    remaining: Option<&str>,
    reset: Option<DateTime<Utc>>,
    message: &str,
    now: DateTime<Utc>,
) -> Option<Duration> {
    if status != 403 && status != 429 {
        return None;
    }
    if let Some(secs) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if remaining.is_some_and(|v| v.trim() == "0")
        && let Some(reset) = reset
    {
        let secs = (reset - now).num_seconds().max(0) + 1;
        return Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)));
    }
    if status == 429 || message.to_lowercase().contains("rate limit") {
        return Some(Duration::from_secs(60));
    }
    None
}

impl<'a> Client<'a> {
    fn new(s: &'a GithubSettings, token: &Secret) -> Result<Client<'a>> {
        let gh = octocrab::Octocrab::builder()
            .personal_token(token.expose().to_string())
            .base_uri(s.api_url.as_str())
            .and_then(|b| {
                b.add_header(
                    http::header::ACCEPT,
                    "application/vnd.github+json".to_string(),
                )
                .add_header(
                    http::HeaderName::from_static("x-github-api-version"),
                    "2022-11-28".to_string(),
                )
                .set_connect_timeout(Some(Duration::from_secs(10)))
                .set_read_timeout(Some(Duration::from_secs(30)))
                .build()
            })
            .map_err(|e| Error::GitHub {
                action: "set up the client".into(),
                status: None,
                message: crate::error::one_line(&e),
                hint: format!("check --github-api-url ({})", s.api_url),
            })?;
        Ok(Client {
            gh,
            s,
            base: format!("/repos/{}/{}", s.repo.owner, s.repo.name),
        })
    }

    /// Turns an octocrab error into ours, with what to do about it.
    fn error(&self, action: &str, e: &octocrab::Error) -> Error {
        let repo = &self.s.repo;
        match e {
            octocrab::Error::GitHub { source, .. } => {
                let status = source.status_code.as_u16();
                let mut message = source.message.clone();
                if let Some(errors) = &source.errors {
                    for err in errors {
                        if let Some(m) = err.get("message").and_then(|m| m.as_str()) {
                            message.push_str(": ");
                            message.push_str(m);
                        } else if let Some(code) = err.get("code").and_then(|c| c.as_str()) {
                            message.push_str(": ");
                            message.push_str(code);
                        }
                    }
                }
                let hint = match status {
                    401 => "bad credentials: check GITHUB_TOKEN or GH_TOKEN".to_string(),
                    403 => format!(
                        "the token cannot write issues in {repo} (fine-grained: Issues read & write; Actions: permissions: issues: write)"
                    ),
                    404 => format!("repository {repo} not found, or the token cannot see it"),
                    410 => format!("issues are disabled in {repo}"),
                    _ => String::new(),
                };
                Error::GitHub {
                    action: action.to_string(),
                    status: Some(status),
                    message: message.lines().next().unwrap_or_default().to_string(),
                    hint,
                }
            }
            other => Error::GitHub {
                action: action.to_string(),
                status: None,
                message: crate::error::one_line(other),
                hint: String::new(),
            },
        }
    }

    /// Runs `call`, waiting out rate limits.
    async fn call<T, F, Fut>(&self, action: &str, call: F) -> Result<T, (Error, bool)>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = octocrab::Result<T>>,
    {
        let mut waits = 0;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if let Some(wait) = rate_limit_wait(&e, SystemClock.now())
                        && waits < MAX_RATE_RETRIES
                    {
                        if wait > MAX_RATE_WAIT {
                            let mut err = self.error(action, &e);
                            if let Error::GitHub { hint, .. } = &mut err {
                                *hint = format!(
                                    "rate limited for {} s more; rerun later (nothing was written for this cluster)",
                                    wait.as_secs()
                                );
                            }
                            return Err((err, false));
                        }
                        waits += 1;
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err((self.error(action, &e), outcome_unknown(&e)));
                }
            }
        }
    }

    async fn ensure_labels(&self) -> Result<()> {
        for label in &self.s.labels {
            let body = serde_json::json!({
                "name": label,
                "color": "d93f0b",
                "description": "Filed by gcp-triage from Cloud Logging clusters",
            });
            let route = format!("{}/labels", self.base);
            let res: Result<serde_json::Value, _> = self
                .call("create label", || self.gh.post(&route, Some(&body)))
                .await;
            match res {
                Ok(_)
                | Err((
                    Error::GitHub {
                        status: Some(422), ..
                    },
                    _,
                )) => {}
                Err((e, _)) => return Err(e),
            }
        }
        Ok(())
    }

    /// Every issue with the tool's label and our marker, by fingerprint.
    async fn list_marked(&self) -> Result<BTreeMap<String, Vec<Known>>> {
        #[derive(Serialize)]
        struct Params<'p> {
            labels: &'p str,
            state: &'static str,
            per_page: u8,
            page: u32,
        }
        let label = self.s.labels.first().map_or("gcp-triage", String::as_str);
        let route = format!("{}/issues", self.base);
        let mut out: BTreeMap<String, Vec<Known>> = BTreeMap::new();
        for page in 1..=100u32 {
            let params = Params {
                labels: label,
                state: "all",
                per_page: 100,
                page,
            };
            let items: Vec<GhIssue> = self
                .call("list issues", || self.gh.get(&route, Some(&params)))
                .await
                .map_err(|(e, _)| e)?;
            let n = items.len();
            for it in items {
                if it.pull_request.is_some() {
                    continue;
                }
                if let Some(fp) = it.body.as_deref().and_then(issue::fingerprint_of) {
                    out.entry(fp.to_string()).or_default().push(Known {
                        number: it.number,
                        url: it.html_url,
                        open: it.state == "open",
                        closed_at: it.closed_at,
                        template: it.body.as_deref().and_then(issue::template_of),
                    });
                }
            }
            if n < 100 {
                break;
            }
        }
        Ok(out)
    }

    async fn post_issue(&self, title: &str, body: &str) -> Result<GhIssue, (Error, bool)> {
        let payload = serde_json::json!({
            "title": title,
            "body": body,
            "labels": self.s.labels,
        });
        let route = format!("{}/issues", self.base);
        self.call("create issue", || self.gh.post(&route, Some(&payload)))
            .await
    }

    /// Creates an issue; after a failure with an unknown outcome, looks again before
    /// sending the create once more.
    async fn create(&self, fp: &str, title: &str, body: &str) -> Result<GhIssue> {
        match self.post_issue(title, body).await {
            Ok(issue) => Ok(issue),
            Err((e, false)) => Err(e),
            Err((_, true)) => {
                let again = self.list_marked().await?;
                if let Some(found) = again
                    .get(fp)
                    .and_then(|v| v.iter().filter(|k| k.open).max_by_key(|k| k.number))
                {
                    return Ok(GhIssue {
                        number: found.number,
                        html_url: found.url.clone(),
                        state: "open".into(),
                        body: None,
                        pull_request: None,
                        closed_at: None,
                    });
                }
                self.post_issue(title, body).await.map_err(|(e, _)| e)
            }
        }
    }

    async fn comment(&self, number: u64, text: &str) -> Result<String> {
        let route = format!("{}/issues/{number}/comments", self.base);
        let payload = serde_json::json!({ "body": text });
        let c: GhComment = self
            .call("comment on issue", || self.gh.post(&route, Some(&payload)))
            .await
            .map_err(|(e, _)| e)?;
        Ok(c.html_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_are_told_apart_from_permission_errors() {
        let now = DateTime::parse_from_rfc3339("2025-09-07T16:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let reset = Some(now + chrono::TimeDelta::seconds(42));
        let wait = |status, retry, remaining, message| {
            rate_limit_wait_for(status, retry, remaining, reset, message, now)
        };
        assert_eq!(
            wait(403, Some("7"), None, "secondary rate limit"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            wait(403, None, Some("0"), "API rate limit exceeded"),
            Some(Duration::from_secs(43)),
            "a spent primary quota waits until its reset"
        );
        assert_eq!(
            wait(
                403,
                None,
                Some("12"),
                "You have exceeded a secondary rate limit"
            ),
            Some(Duration::from_secs(60))
        );
        assert_eq!(wait(429, None, None, ""), Some(Duration::from_secs(60)));
        assert_eq!(
            wait(
                403,
                None,
                Some("4999"),
                "Resource not accessible by integration"
            ),
            None,
            "a permission error is not retried"
        );
        assert_eq!(wait(502, Some("5"), None, ""), None);
    }

    #[test]
    fn repo_names() {
        assert_eq!(
            Repo::parse("acme/api.service"),
            Some(Repo {
                owner: "acme".into(),
                name: "api.service".into()
            })
        );
        for bad in ["acme", "/x", "a/", "a/b/c", "a b/c", ""] {
            assert_eq!(Repo::parse(bad), None, "{bad}");
        }
    }
}
