//! Validated settings: the only place that reads clap types. Everything downstream
//! sees plain values.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::cli::{
    AnalyzeArgs, BigQueryArgs, CloudArgs, ColorChoice, FetchArgs, FormatArg, GithubArgs,
    InputFormatArg, ResourceTypeArg, SeverityArg,
};
use crate::clock::Clock;
use crate::entry::Severity;
use crate::error::{Error, Result};
use crate::sink::actions::Actions;
use crate::sink::github::{DEFAULT_API_URL, GithubSettings, Repo};
use crate::source::auth::{AuthEnv, Secret};
use crate::source::cloud_logging::{Request, RetryPolicy};
use crate::source::files::InputFormat;
use crate::source::query::{self, MAX_FILTER_CHARS, ResourceType, Scope};

/// The public Cloud Logging API.
pub const DEFAULT_LOGGING_ENDPOINT: &str = "https://logging.googleapis.com";

/// Output on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Ranked table.
    Table,
    /// Five-whys markdown.
    Markdown,
    /// Report context as JSON.
    Json,
}

/// How chatty stderr is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Errors only.
    Quiet,
    /// Errors, warnings (the first few malformed entries), the summary line.
    Normal,
    /// Everything.
    Verbose,
}

/// Global output settings.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Verbosity on stderr.
    pub verbosity: Verbosity,
    /// Colour on stderr.
    pub color: bool,
}

impl Output {
    /// From the global flags and the environment.
    pub fn new(verbose: u8, quiet: bool, color: ColorChoice) -> Output {
        let verbosity = match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            _ => Verbosity::Verbose,
        };
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
                    && std::io::stderr().is_terminal()
            }
        };
        Output { verbosity, color }
    }
}

/// Where `analyze` reads entries.
#[derive(Debug, Clone)]
pub enum Source {
    /// Exported files (`-` is stdin).
    Files(Vec<String>),
    /// The Cloud Logging API.
    Cloud(Box<Cloud>),
    /// Log Analytics: the grouping runs in BigQuery on a linked dataset's log view.
    BigQuery(Box<BigQuery>),
}

/// A validated Log Analytics read: the Cloud Logging scope and window, grouped by one
/// BigQuery query.
#[derive(Debug, Clone)]
pub struct BigQuery {
    /// The scope and window (its `request.project` is the job's project, and its
    /// credentials and retry deadline are the engine's).
    pub cloud: Cloud,
    /// The log view, validated.
    pub table: TablePath,
    /// API root.
    pub endpoint: String,
    /// The dataset's location.
    pub location: Option<String>,
    /// `--where`: the user's SQL condition.
    pub where_sql: Option<String>,
    /// `maximumBytesBilled`, always sent.
    pub maximum_bytes_billed: u64,
    /// Print the SQL and stop.
    pub print_sql: bool,
    /// Dry run: print the estimate and stop.
    pub estimate: bool,
    /// The deploy time, when known: per-minute counts are split there, so every
    /// entry counts on its own side of the deploy.
    pub split_at: Option<DateTime<Utc>>,
}

/// `PROJECT.DATASET.VIEW`, each part checked so it can be inlined in backticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePath {
    /// Project id: lowercase letters, digits, hyphens (and a `domain:` prefix).
    pub project: String,
    /// Dataset (the link id): letters, digits, underscores.
    pub dataset: String,
    /// The log view: letters, digits, underscores.
    pub view: String,
}

impl TablePath {
    /// Parses `PROJECT.DATASET.VIEW` (backticks around it or its parts are dropped).
    pub fn parse(text: &str) -> Result<TablePath> {
        let bad = |why: &str| {
            Error::Usage(format!(
                "--bigquery-table {text:?}: {why} (expected PROJECT.DATASET.VIEW, e.g. my-proj.logs_link._AllLogs)"
            ))
        };
        let plain = text.replace('`', "");
        let parts: Vec<&str> = plain.trim().split('.').collect();
        let [project, dataset, view] = parts.as_slice() else {
            return Err(bad("not three dot-separated parts"));
        };
        let (domain, id) = project
            .rsplit_once(':')
            .map_or(("", *project), |(d, p)| (d, p));
        let project_ok = (6..=30).contains(&id.len())
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && !id.ends_with('-')
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && domain
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !project_ok {
            return Err(bad(
                "the project id is 6 to 30 lowercase letters, digits or hyphens",
            ));
        }
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 1024
                && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        };
        if !name_ok(dataset) || !name_ok(view) {
            return Err(bad(
                "dataset and view names are letters, digits and underscores",
            ));
        }
        Ok(TablePath {
            project: (*project).to_string(),
            dataset: (*dataset).to_string(),
            view: (*view).to_string(),
        })
    }

    /// The path in backticks, as SQL names it.
    pub fn sql(&self) -> String {
        format!("`{}.{}.{}`", self.project, self.dataset, self.view)
    }
}

/// The default `maximumBytesBilled`: 10 GiB.
pub const DEFAULT_MAXIMUM_BYTES_BILLED: u64 = 10 << 30;

/// The default BigQuery API root.
pub const DEFAULT_BIGQUERY_ENDPOINT: &str = "https://bigquery.googleapis.com";

impl BigQueryArgs {
    /// Whether any engine flag was given.
    pub fn any(&self) -> bool {
        self.bigquery_table.is_some()
            || self.bigquery_endpoint.is_some()
            || self.bigquery_location.is_some()
            || self.where_sql.is_some()
            || self.maximum_bytes_billed.is_some()
            || self.print_sql
            || self.estimate
    }
}

impl BigQuery {
    /// Validates the engine flags on top of the Cloud Logging scope flags.
    fn from_args(
        b: BigQueryArgs,
        cloud_args: CloudArgs,
        min_severity: Severity,
        env: &dyn Fn(&str) -> Option<String>,
        clock: &dyn Clock,
    ) -> Result<BigQuery> {
        let Some(table) = b.bigquery_table.as_deref() else {
            return Err(Error::Usage(
                "--where, --print-sql, --estimate and the other Log Analytics options need --bigquery-table".into(),
            ));
        };
        let table = TablePath::parse(table)?;
        if cloud_args.filter.is_some() {
            return Err(Error::Usage(
                "--filter is a Logging query; with --bigquery-table give a SQL condition with --where (ANDed, in parentheses)".into(),
            ));
        }
        if cloud_args.limit.is_some() {
            return Err(Error::Usage(
                "--limit caps fetched entries; with --bigquery-table nothing is fetched (cap the cost with --maximum-bytes-billed)".into(),
            ));
        }
        if cloud_args.print_filter {
            return Err(Error::Usage(
                "--print-filter prints a Logging query; with --bigquery-table use --print-sql"
                    .into(),
            ));
        }
        if b.maximum_bytes_billed == Some(0) {
            return Err(Error::Usage(
                "--maximum-bytes-billed must be more than 0".into(),
            ));
        }
        let where_sql = b.where_sql.filter(|w| !w.trim().is_empty());
        let endpoint = b
            .bigquery_endpoint
            .or_else(|| env("GCP_TRIAGE_BIGQUERY_ENDPOINT"))
            .unwrap_or_else(|| DEFAULT_BIGQUERY_ENDPOINT.to_string());
        let cloud = Cloud::from_args(cloud_args, min_severity, env, clock)?;
        Ok(BigQuery {
            cloud,
            table,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            location: b.bigquery_location.filter(|l| !l.is_empty()),
            where_sql,
            maximum_bytes_billed: b
                .maximum_bytes_billed
                .unwrap_or(DEFAULT_MAXIMUM_BYTES_BILLED),
            print_sql: b.print_sql,
            estimate: b.estimate,
            split_at: None,
        })
    }
}

/// A validated Cloud Logging read.
#[derive(Debug, Clone)]
pub struct Cloud {
    /// What to fetch.
    pub scope: Scope,
    /// The request (endpoint, project, filter, limit, retries, credentials).
    pub request: Request,
    /// Print the filter and stop.
    pub print_filter: bool,
}

/// Settings for `fetch`.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// The read.
    pub cloud: Cloud,
    /// NDJSON destination; `None` is stdout.
    pub out: Option<PathBuf>,
}

/// What marks the deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployAnchor {
    /// `--deployed-at`.
    At(DateTime<Utc>),
    /// `--deployed-revision`: the first entry of this revision.
    Revision(String),
}

/// A before/after comparison around a deploy.
#[derive(Debug, Clone)]
pub struct Deploy {
    /// The deploy time, or how to find it.
    pub anchor: DeployAnchor,
    /// `--baseline`; `None` is as long as the window after.
    pub baseline: Option<chrono::TimeDelta>,
    /// `--fail-on-new`.
    pub fail_on_new: Option<Severity>,
}

/// Settings for `analyze`.
#[derive(Debug, Clone)]
pub struct Analyze {
    /// Where entries come from.
    pub source: Source,
    /// Input format.
    pub input_format: InputFormat,
    /// Malformed entries are errors.
    pub strict: bool,
    /// Threads that parse JSON inputs (1: the calling thread alone).
    pub threads: usize,
    /// Extra rule packs.
    pub rules: Vec<PathBuf>,
    /// Load the built-in packs.
    pub builtin_rules: bool,
    /// Clusters shown.
    pub top: usize,
    /// Severity floor.
    pub min_severity: Severity,
    /// Exit 1 at or above this.
    pub fail_on: Option<Severity>,
    /// Before/after comparison, when a deploy is given.
    pub deploy: Option<Deploy>,
    /// stdout format.
    pub format: Format,
    /// Markdown report file.
    pub out: Option<PathBuf>,
    /// User template.
    pub template: Option<PathBuf>,
    /// Assignments CSV.
    pub assignments: Option<PathBuf>,
    /// GitHub issue filing, when asked for.
    pub github: Option<GithubSettings>,
    /// User issue template.
    pub issue_template: Option<PathBuf>,
    /// GitHub Actions files, when running there.
    pub actions: Option<Actions>,
    /// The CI run's address (GitHub Actions), for issue bodies.
    pub run_url: Option<String>,
    /// `--keep-personal-data`: personal data is left in the outputs.
    pub keep_personal_data: bool,
    /// Where to read code evidence from (`None`: `--no-code`).
    pub code: Option<CodeSettings>,
}

/// `--repo`, `--commits`, `--show-authors`.
#[derive(Debug, Clone)]
pub struct CodeSettings {
    /// The repository (default: the current directory's work tree).
    pub repo: Option<PathBuf>,
    /// `BASE..HEAD`.
    pub commits: Option<String>,
    /// Name authors in blame.
    pub show_authors: bool,
}

impl GithubArgs {
    /// Whether any GitHub flag was given.
    fn any(&self) -> bool {
        self.github_repo.is_some()
            || self.github_api_url.is_some()
            || self.max_issues.is_some()
            || !self.labels.is_empty()
            || self.issue_template.is_some()
    }
}

/// Validates the GitHub flags (`None` without `--file-issues`).
pub fn github(
    a: &GithubArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<GithubSettings>> {
    if !a.file_issues {
        if a.any() {
            return Err(Error::Usage(
                "GitHub options (--github-repo, --labels, ...) need --file-issues".into(),
            ));
        }
        return Ok(None);
    }
    let repo_text = non_empty(a.github_repo.clone())
        .or_else(|| non_empty(env("GITHUB_REPOSITORY")))
        .ok_or_else(|| {
            Error::Usage("--file-issues needs --github-repo OWNER/NAME or GITHUB_REPOSITORY".into())
        })?;
    let repo = Repo::parse(&repo_text)
        .ok_or_else(|| Error::Usage(format!("--github-repo {repo_text:?}: expected OWNER/NAME")))?;
    let token = non_empty(env("GITHUB_TOKEN"))
        .or_else(|| non_empty(env("GH_TOKEN")))
        .map(Secret::new);
    if token.is_none() && !a.dry_run {
        return Err(Error::Usage(
            "--file-issues needs a token in GITHUB_TOKEN or GH_TOKEN (or use --dry-run)".into(),
        ));
    }
    let api_url = non_empty(a.github_api_url.clone())
        .or_else(|| non_empty(env("GITHUB_API_URL")))
        .unwrap_or_else(|| DEFAULT_API_URL.to_string());
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        return Err(Error::Usage(format!(
            "--github-api-url {api_url:?}: expected an http:// or https:// URL"
        )));
    }
    let max_issues = a.max_issues.unwrap_or(3);
    if max_issues == 0 {
        return Err(Error::Usage("--max-issues must be at least 1".into()));
    }
    let mut labels: Vec<String> = a
        .labels
        .iter()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    if labels.is_empty() {
        labels.push("gcp-triage".to_string());
    }
    Ok(Some(GithubSettings {
        repo,
        token,
        api_url: api_url.trim_end_matches('/').to_string(),
        max_issues,
        labels,
        dry_run: a.dry_run,
    }))
}

/// The Actions run address, from `GITHUB_SERVER_URL`, `GITHUB_REPOSITORY`, `GITHUB_RUN_ID`.
fn run_url(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let server = non_empty(env("GITHUB_SERVER_URL"))?;
    let repo = non_empty(env("GITHUB_REPOSITORY"))?;
    let id = non_empty(env("GITHUB_RUN_ID"))?;
    Some(format!(
        "{}/{repo}/actions/runs/{id}",
        server.trim_end_matches('/')
    ))
}

/// Converts a command-line severity.
pub fn severity(s: SeverityArg) -> Severity {
    match s {
        SeverityArg::Default => Severity::Default,
        SeverityArg::Debug => Severity::Debug,
        SeverityArg::Info => Severity::Info,
        SeverityArg::Notice => Severity::Notice,
        SeverityArg::Warning => Severity::Warning,
        SeverityArg::Error => Severity::Error,
        SeverityArg::Critical => Severity::Critical,
        SeverityArg::Alert => Severity::Alert,
        SeverityArg::Emergency => Severity::Emergency,
    }
}

fn parse_time(flag: &str, text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::Usage(format!(
                "{flag} {text:?}: not an RFC 3339 time (e.g. 2025-06-01T10:00:00Z)"
            ))
        })
}

fn parse_duration(flag: &str, text: &str) -> Result<chrono::TimeDelta> {
    query::parse_duration(text).ok_or_else(|| {
        Error::Usage(format!(
            "{flag} {text:?}: not a duration (a whole number and s, m, h, d or w: 30m, 2h, 1d)"
        ))
    })
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl CloudArgs {
    /// Whether any Cloud Logging flag was given.
    pub fn any(&self) -> bool {
        let CloudArgs {
            project,
            services,
            revision,
            resource_type,
            namespace,
            container,
            since,
            from,
            until,
            filter,
            limit,
            unleveled,
            logging_endpoint,
            retry_deadline,
            print_filter,
        } = self;
        project.is_some()
            || !services.is_empty()
            || revision.is_some()
            || resource_type.is_some()
            || namespace.is_some()
            || container.is_some()
            || since.is_some()
            || from.is_some()
            || until.is_some()
            || filter.is_some()
            || limit.is_some()
            || *unleveled
            || logging_endpoint.is_some()
            || retry_deadline.is_some()
            || *print_filter
    }
}

impl Cloud {
    /// Moves the start of the window to `from` (and rebuilds the query).
    pub fn set_from(&mut self, from: DateTime<Utc>) {
        self.scope.from = from;
        self.request.filter = self.scope.filter();
    }

    /// Validates the Cloud Logging flags. `env` looks up environment variables;
    /// `clock` gives "now" for `--since` and a missing `--until`.
    pub fn from_args(
        a: CloudArgs,
        min_severity: Severity,
        env: &dyn Fn(&str) -> Option<String>,
        clock: &dyn Clock,
    ) -> Result<Cloud> {
        let resource_type = match a.resource_type.unwrap_or(ResourceTypeArg::CloudRunRevision) {
            ResourceTypeArg::CloudRunRevision => ResourceType::CloudRunRevision,
            ResourceTypeArg::CloudRunJob => ResourceType::CloudRunJob,
            ResourceTypeArg::K8sContainer => ResourceType::K8sContainer,
            ResourceTypeArg::GaeApp => ResourceType::GaeApp,
            ResourceTypeArg::CloudFunction => ResourceType::CloudFunction,
        };
        let tname = resource_type.name();
        if !a.services.is_empty() && resource_type.service_label().is_none() {
            return Err(Error::Usage(format!(
                "--service does not apply to {tname}; use --namespace and --container"
            )));
        }
        if a.revision.is_some() && resource_type.revision_label().is_none() {
            return Err(Error::Usage(format!(
                "--revision does not apply to {tname} (only cloud_run_revision and gae_app)"
            )));
        }
        if (a.namespace.is_some() || a.container.is_some())
            && resource_type != ResourceType::K8sContainer
        {
            return Err(Error::Usage(
                "--namespace and --container need --resource-type k8s_container".into(),
            ));
        }
        if a.limit == Some(0) {
            return Err(Error::Usage("--limit must be at least 1".into()));
        }
        let until = match &a.until {
            Some(t) => parse_time("--until", t)?,
            None => chrono::SubsecRound::trunc_subsecs(clock.now(), 0),
        };
        let from = match (&a.from, &a.since) {
            (Some(t), _) => parse_time("--from", t)?,
            (None, Some(d)) => until - parse_duration("--since", d)?,
            (None, None) => until - chrono::TimeDelta::hours(1),
        };
        if from >= until {
            return Err(Error::Usage(format!(
                "empty window: --from {} is not before --until {}",
                query::timestamp(from),
                query::timestamp(until)
            )));
        }
        let deadline = match &a.retry_deadline {
            Some(d) => parse_duration("--retry-deadline", d)?
                .to_std()
                .unwrap_or(Duration::from_secs(300)),
            None => RetryPolicy::default().deadline,
        };
        let scope = Scope {
            resource_type,
            services: a.services,
            revision: non_empty(a.revision),
            namespace: non_empty(a.namespace),
            container: non_empty(a.container),
            from,
            until,
            min_severity,
            unleveled: a.unleveled,
            extra: non_empty(a.filter),
        };
        let filter = scope.filter();
        if filter.chars().count() > MAX_FILTER_CHARS {
            return Err(Error::Usage(format!(
                "the Logging query is {} characters; the API accepts at most {MAX_FILTER_CHARS}",
                filter.chars().count()
            )));
        }
        let project = non_empty(a.project)
            .or_else(|| non_empty(env("GOOGLE_CLOUD_PROJECT")))
            .or_else(|| non_empty(env("CLOUDSDK_CORE_PROJECT")));
        let endpoint = non_empty(a.logging_endpoint)
            .or_else(|| non_empty(env("GCP_TRIAGE_LOGGING_ENDPOINT")))
            .unwrap_or_else(|| DEFAULT_LOGGING_ENDPOINT.to_string());
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(Error::Usage(format!(
                "--logging-endpoint {endpoint:?}: expected an http:// or https:// URL"
            )));
        }
        Ok(Cloud {
            request: Request {
                endpoint,
                project,
                filter,
                limit: a.limit,
                oldest_first: false,
                retry: RetryPolicy {
                    deadline,
                    ..RetryPolicy::default()
                },
                auth: AuthEnv::from_env(),
            },
            scope,
            print_filter: a.print_filter,
        })
    }
}

/// The deploy flags, validated.
fn deploy(a: &AnalyzeArgs) -> Result<Option<Deploy>> {
    // Checked even without a deploy: a bad value in the config file is an error.
    let baseline = match &a.baseline {
        Some(d) => Some(parse_duration("--baseline", d)?),
        None => None,
    };
    if baseline.is_some_and(|b| b <= chrono::TimeDelta::zero()) {
        return Err(Error::Usage("--baseline must be longer than 0".into()));
    }
    let anchor = match (&a.deployed_at, non_empty(a.deployed_revision.clone())) {
        (Some(t), _) => DeployAnchor::At(parse_time("--deployed-at", t)?),
        (None, Some(rev)) => DeployAnchor::Revision(rev),
        (None, None) => return Ok(None),
    };
    Ok(Some(Deploy {
        anchor,
        baseline,
        fail_on_new: a.fail_on_new.map(severity),
    }))
}

/// Fits a Cloud Logging window around a deploy: it starts a baseline before the
/// deploy. With `--deployed-revision` the deploy time is looked up first, within the
/// window the flags gave, so the window is moved later (see [`Cloud::set_from`]).
fn deploy_window(cloud: &mut Cloud, d: &Deploy, explicit_window: bool) -> Result<()> {
    match &d.anchor {
        DeployAnchor::At(at) => {
            if explicit_window {
                return Err(Error::Usage(
                    "--deployed-at sets the Cloud Logging window (the deploy time back by \
                     --baseline, up to --until): drop --since/--from"
                        .into(),
                ));
            }
            let until = cloud.scope.until;
            if *at >= until {
                return Err(Error::Usage(format!(
                    "--deployed-at {} is not before --until {}",
                    query::timestamp(*at),
                    query::timestamp(until)
                )));
            }
            cloud.set_from(crate::deploy::back(*at, d.baseline.unwrap_or(until - *at)));
        }
        DeployAnchor::Revision(_) => {
            if cloud.scope.resource_type.revision_label().is_none() {
                return Err(Error::Usage(format!(
                    "--deployed-revision does not apply to {} (only cloud_run_revision and gae_app)",
                    cloud.scope.resource_type.name()
                )));
            }
        }
    }
    Ok(())
}

fn std_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

impl Fetch {
    /// Validates `fetch` flags.
    pub fn from_args(a: FetchArgs, clock: &dyn Clock) -> Result<Fetch> {
        let out = a.out.filter(|p| p.as_os_str() != "-");
        Ok(Fetch {
            cloud: Cloud::from_args(
                a.cloud,
                severity(a.min_severity.unwrap_or(SeverityArg::Warning)),
                &std_env,
                clock,
            )?,
            out,
        })
    }
}

impl Analyze {
    /// Validates `analyze` flags.
    pub fn from_args(a: AnalyzeArgs, clock: &dyn Clock) -> Result<Analyze> {
        let top = a.top.unwrap_or(10);
        if top == 0 {
            return Err(Error::Usage("--top must be at least 1".into()));
        }
        if a.no_builtin_rules && a.rules.is_empty() {
            return Err(Error::Usage(
                "--no-builtin-rules needs at least one --rules DIR".into(),
            ));
        }
        if a.inputs.iter().filter(|i| *i == "-").count() > 1 {
            return Err(Error::Usage("stdin (-) can be read only once".into()));
        }
        let min_severity = severity(a.min_severity.unwrap_or(SeverityArg::Warning));
        let deploy = deploy(&a)?;
        let source = if a.inputs.is_empty() && a.bigquery.any() {
            let explicit_window = a.cloud.since.is_some() || a.cloud.from.is_some();
            let mut bq = BigQuery::from_args(
                a.bigquery.clone(),
                a.cloud.clone(),
                min_severity,
                &std_env,
                clock,
            )?;
            if let Some(d) = &deploy {
                deploy_window(&mut bq.cloud, d, explicit_window)?;
                if let DeployAnchor::At(at) = d.anchor {
                    bq.split_at = Some(at);
                }
            }
            if a.assignments.is_some() {
                return Err(Error::Usage(
                    "--assignments writes one row per entry; with --bigquery-table entries stay in BigQuery".into(),
                ));
            }
            Source::BigQuery(Box::new(bq))
        } else if a.inputs.is_empty() {
            let explicit_window = a.cloud.since.is_some() || a.cloud.from.is_some();
            let mut cloud = Cloud::from_args(a.cloud, min_severity, &std_env, clock)?;
            if let Some(d) = &deploy {
                deploy_window(&mut cloud, d, explicit_window)?;
            }
            Source::Cloud(Box::new(cloud))
        } else if a.bigquery.any() {
            return Err(Error::Usage(
                "FILE inputs and --bigquery-table exclude each other: give files, or a log view"
                    .into(),
            ));
        } else if a.cloud.any() {
            return Err(Error::Usage(
                "FILE inputs and Cloud Logging flags (--project, --service, --since, ...) \
                 exclude each other: give files, or fetch"
                    .into(),
            ));
        } else {
            Source::Files(a.inputs)
        };
        Ok(Analyze {
            source,
            input_format: match a.input_format.unwrap_or(InputFormatArg::Auto) {
                InputFormatArg::Auto => InputFormat::Auto,
                InputFormatArg::Json => InputFormat::Json,
                InputFormatArg::Text => InputFormat::Text,
                InputFormatArg::Yaml => InputFormat::Yaml,
            },
            strict: a.strict,
            threads: a.threads.map_or_else(
                || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                usize::from,
            ),
            rules: a.rules,
            builtin_rules: !a.no_builtin_rules,
            top,
            min_severity,
            fail_on: a.fail_on.map(severity),
            deploy,
            format: match a.format.unwrap_or(FormatArg::Table) {
                FormatArg::Table => Format::Table,
                FormatArg::Markdown => Format::Markdown,
                FormatArg::Json => Format::Json,
            },
            out: match a.out {
                Some(p) if p.as_os_str() == "-" => {
                    return Err(Error::Usage(
                        "--out -: the report already goes to stdout (in the --format chosen); --out takes a file for the markdown report".into(),
                    ));
                }
                out => out,
            },
            template: a.template,
            assignments: match a.assignments {
                Some(p) if p.as_os_str() == "-" => {
                    return Err(Error::Usage(
                        "--assignments -: stdout carries the report; --assignments takes a file for the CSV".into(),
                    ));
                }
                csv => csv,
            },
            github: github(&a.github, &std_env)?,
            issue_template: a.github.issue_template,
            actions: Actions::from_env(&std_env),
            run_url: run_url(&std_env),
            keep_personal_data: a.keep_personal_data,
            code: (!a.code.no_code).then_some(CodeSettings {
                repo: a.code.repo,
                commits: a.code.commits,
                show_authors: a.code.show_authors,
            }),
        })
    }
}
