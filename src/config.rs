//! `gcp-triage.toml`: the settings a team keeps next to its code.
//!
//! Found as `--config PATH`, else `GCP_TRIAGE_CONFIG`, else `gcp-triage.toml` in the
//! current directory, else at the root of the enclosing git work tree. Its values fill
//! in what no flag and no environment variable gave (precedence: flag > environment >
//! file > built-in default), before the usual validation in `settings.rs`, so a value
//! means the same wherever it comes from. Paths in the file are relative to the file.
//! Tokens never go in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::Deserialize;

use crate::cli::{AnalyzeArgs, FetchArgs, FormatArg, InputFormatArg, ResourceTypeArg, SeverityArg};
use crate::error::{Error, Result};

/// The file name looked for.
pub const FILE_NAME: &str = "gcp-triage.toml";

/// `[cloud]`: where and what to read from Cloud Logging.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloudConf {
    project: Option<String>,
    services: Option<Vec<String>>,
    resource_type: Option<String>,
    revision: Option<String>,
    namespace: Option<String>,
    container: Option<String>,
    since: Option<String>,
    filter: Option<String>,
    limit: Option<u64>,
    unleveled: Option<bool>,
    logging_endpoint: Option<String>,
    retry_deadline: Option<String>,
}

/// `[analyze]`: reading, rules, ranking and output.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyzeConf {
    input_format: Option<String>,
    strict: Option<bool>,
    rules: Option<Vec<String>>,
    builtin_rules: Option<bool>,
    top: Option<usize>,
    threads: Option<u16>,
    min_severity: Option<String>,
    fail_on: Option<String>,
    format: Option<String>,
    template: Option<String>,
}

/// `[deploy]`: how deploys are compared (the deploy itself is given per run).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployConf {
    baseline: Option<String>,
    fail_on_new: Option<String>,
}

/// `[github]`: where issues are filed (the token comes only from the environment).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GithubConf {
    repo: Option<String>,
    api_url: Option<String>,
    labels: Option<Vec<String>>,
    max_issues: Option<usize>,
    issue_template: Option<String>,
}

/// `[bigquery]`: the Log Analytics engine.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BigQueryConf {
    table: Option<String>,
    endpoint: Option<String>,
    location: Option<String>,
    maximum_bytes_billed: Option<u64>,
}

/// `[code]`: where the deployed code is, for the code evidence.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeConf {
    repo: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConf {
    cloud: Option<CloudConf>,
    analyze: Option<AnalyzeConf>,
    deploy: Option<DeployConf>,
    github: Option<GithubConf>,
    code: Option<CodeConf>,
    bigquery: Option<BigQueryConf>,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env(&'static str),
    /// The config file, at this line.
    File(usize),
    /// The built-in default.
    Default,
}

/// A loaded config file.
#[derive(Debug)]
pub struct Config {
    /// The file.
    pub path: PathBuf,
    /// How it was found.
    pub found_by: &'static str,
    text: String,
    conf: FileConf,
}

/// Where each setting came from, by config key (`cloud.project`, ...).
pub type Origins = BTreeMap<&'static str, Origin>;

/// The first directory from `start` upwards that holds `.git`.
fn git_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// Finds the config file: `explicit` (`--config`), `GCP_TRIAGE_CONFIG`, the current
/// directory, the git root. `None` when there is none (only the first two must exist).
pub fn locate(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Result<Option<(PathBuf, &'static str)>> {
    if let Some(p) = explicit {
        return Ok(Some((p.to_path_buf(), "--config")));
    }
    if let Some(p) = env("GCP_TRIAGE_CONFIG").filter(|p| !p.trim().is_empty()) {
        return Ok(Some((PathBuf::from(p), "GCP_TRIAGE_CONFIG")));
    }
    let here = cwd.join(FILE_NAME);
    if here.is_file() {
        return Ok(Some((here, "current directory")));
    }
    Ok(git_root(cwd)
        .map(|r| r.join(FILE_NAME))
        .filter(|p| p.is_file())
        .map(|p| (p, "git root")))
}

/// 1-based line of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The dotted key on `line` (`section.key`), from the nearest `[section]` above it.
fn key_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let own = lines.get(line.checked_sub(1)?)?.trim();
    let key = own
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string());
    let section = lines[..line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    match (section, key) {
        (Some(s), Some(k)) => Some(format!("{s}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(_), None) if own.starts_with('[') => Some(
            own.trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        ),
        _ => None,
    }
}

/// The line where `section.key` is set, if the file sets it.
fn line_of(text: &str, dotted: &str) -> Option<usize> {
    let (section, key) = dotted.split_once('.')?;
    let mut current = String::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.starts_with('[') && l.ends_with(']') {
            current = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        } else if current == section
            && l.split_once('=')
                .is_some_and(|(k, _)| k.trim().trim_matches('"') == key)
        {
            return Some(i + 1);
        }
    }
    None
}

/// Keys that look like secrets get their own refusal.
const SECRET_WORDS: [&str; 4] = ["token", "password", "secret", "credential"];

impl Config {
    /// Reads and checks `path`: TOML syntax, known keys, value types.
    pub fn load(path: &Path, found_by: &'static str) -> Result<Config> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: shown.clone(),
            line: 0,
            key: String::new(),
            message: format!("cannot read it: {e}"),
        })?;
        let conf: FileConf = toml::from_str(&text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_at(&text, s.start));
            let key = key_at(&text, line).unwrap_or_default();
            let mut message = e.message().trim().replace('\n', " ");
            if SECRET_WORDS
                .iter()
                .any(|w| key.to_ascii_lowercase().contains(w))
            {
                message = "secrets never go in the config file: use GITHUB_TOKEN/GH_TOKEN and Google credentials from the environment".to_string();
            }
            Error::Config {
                path: shown.clone(),
                line,
                key,
                message,
            }
        })?;
        Ok(Config {
            path: path.to_path_buf(),
            found_by,
            text,
            conf,
        })
    }

    fn error(&self, key: &str, message: String) -> Error {
        Error::Config {
            path: self.path.display().to_string(),
            line: line_of(&self.text, key).unwrap_or(0),
            key: key.to_string(),
            message,
        }
    }

    fn origin(&self, key: &str) -> Origin {
        Origin::File(line_of(&self.text, key).unwrap_or(0))
    }

    /// A path from the file, relative to the file's directory.
    fn path_of(&self, value: &str) -> PathBuf {
        let p = PathBuf::from(value);
        if p.is_absolute() {
            p
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        }
    }
}

/// A value-enum setting from the file (`config` is the file it came from).
fn parse_enum<T: ValueEnum>(config: Option<&Config>, key: &str, text: &str) -> Result<T> {
    T::from_str(text, true).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value)
            .map(|v| v.get_name().to_string())
            .collect();
        let message = format!("{text:?} is not one of {}", names.join(", "));
        match config {
            Some(c) => c.error(key, message),
            None => Error::Usage(format!("{key}: {message}")),
        }
    })
}

/// Fills `slot` from the file when no flag (and no environment variable in `env_vars`)
/// gave it, and records where the value came from.
struct Merge<'a> {
    config: Option<&'a Config>,
    env: &'a dyn Fn(&str) -> Option<String>,
    origins: Origins,
}

impl Merge<'_> {
    /// Records the origin of `key` and returns whether the file's value should apply.
    fn decide(
        &mut self,
        key: &'static str,
        flag: bool,
        env_vars: &[&'static str],
        in_file: bool,
    ) -> bool {
        let env_hit = env_vars
            .iter()
            .find(|v| (self.env)(v).is_some_and(|x| !x.trim().is_empty()));
        let origin = if flag {
            Origin::Flag
        } else if let Some(v) = env_hit {
            Origin::Env(v)
        } else if in_file && let Some(c) = self.config {
            c.origin(key)
        } else {
            Origin::Default
        };
        let apply = matches!(origin, Origin::File(_));
        self.origins.insert(key, origin);
        apply
    }

    fn opt<T, U>(
        &mut self,
        key: &'static str,
        slot: &mut Option<T>,
        env_vars: &[&'static str],
        file: Option<U>,
        convert: impl FnOnce(U) -> Result<T>,
    ) -> Result<()> {
        let in_file = file.is_some();
        if self.decide(key, slot.is_some(), env_vars, in_file)
            && let Some(v) = file
        {
            *slot = Some(convert(v)?);
        }
        Ok(())
    }

    fn list<T, U>(
        &mut self,
        key: &'static str,
        slot: &mut Vec<T>,
        file: Option<Vec<U>>,
        convert: impl Fn(U) -> T,
    ) {
        let in_file = file.is_some();
        if self.decide(key, !slot.is_empty(), &[], in_file)
            && let Some(v) = file
        {
            *slot = v.into_iter().map(convert).collect();
        }
    }

    fn flag(&mut self, key: &'static str, slot: &mut bool, file: Option<bool>) {
        if self.decide(key, *slot, &[], file.is_some())
            && let Some(v) = file
        {
            *slot = v;
        }
    }
}

#[allow(clippy::unnecessary_wraps)] // the shape `Merge::opt` takes
fn ok<T>(v: T) -> Result<T> {
    Ok(v)
}

/// Applies the config file to `analyze` arguments. Cloud Logging settings apply only
/// when no FILE is given; `since` not with `--deployed-at` (which sets the window);
/// `[github]` only with `--file-issues`, unless `all` (for `config show`).
pub fn apply_analyze(
    a: &mut AnalyzeArgs,
    config: Option<&Config>,
    env: &dyn Fn(&str) -> Option<String>,
    all: bool,
) -> Result<Origins> {
    let empty = FileConf::default();
    let file = config.map_or(&empty, |c| &c.conf);
    let mut m = Merge {
        config,
        env,
        origins: Origins::new(),
    };
    let an = file.analyze.as_ref();
    let de = file.deploy.as_ref();
    let gh = file.github.as_ref().filter(|_| all || a.github.file_issues);
    if a.inputs.is_empty() {
        apply_cloud(&mut m, &mut a.cloud, file, a.deployed_at.is_some())?;
        apply_bigquery(&mut m, &mut a.bigquery, file)?;
    }
    m.opt(
        "analyze.input_format",
        &mut a.input_format,
        &[],
        an.and_then(|x| x.input_format.clone()),
        |v| parse_enum::<InputFormatArg>(config, "analyze.input_format", &v),
    )?;
    m.flag("analyze.strict", &mut a.strict, an.and_then(|x| x.strict));
    m.list(
        "analyze.rules",
        &mut a.rules,
        an.and_then(|x| x.rules.clone()),
        |v| config.map_or_else(|| PathBuf::from(&v), |c| c.path_of(&v)),
    );
    let mut no_builtin = a.no_builtin_rules;
    m.flag(
        "analyze.builtin_rules",
        &mut no_builtin,
        an.and_then(|x| x.builtin_rules).map(|b| !b),
    );
    a.no_builtin_rules = no_builtin;
    m.opt("analyze.top", &mut a.top, &[], an.and_then(|x| x.top), ok)?;
    m.opt(
        "analyze.threads",
        &mut a.threads,
        &[],
        an.and_then(|x| x.threads),
        |n: u16| match (n, config) {
            (1..=256, _) | (_, None) => Ok(n),
            (_, Some(c)) => Err(c.error("analyze.threads", format!("{n} is not in 1..=256"))),
        },
    )?;
    m.opt(
        "analyze.min_severity",
        &mut a.min_severity,
        &[],
        an.and_then(|x| x.min_severity.clone()),
        |v| parse_enum::<SeverityArg>(config, "analyze.min_severity", &v),
    )?;
    m.opt(
        "analyze.fail_on",
        &mut a.fail_on,
        &[],
        an.and_then(|x| x.fail_on.clone()),
        |v| parse_enum::<SeverityArg>(config, "analyze.fail_on", &v),
    )?;
    m.opt(
        "analyze.format",
        &mut a.format,
        &[],
        an.and_then(|x| x.format.clone()),
        |v| parse_enum::<FormatArg>(config, "analyze.format", &v),
    )?;
    m.opt(
        "analyze.template",
        &mut a.template,
        &[],
        an.and_then(|x| x.template.clone()),
        |v| Ok(config.map_or_else(|| PathBuf::from(&v), |c| c.path_of(&v))),
    )?;
    m.opt(
        "deploy.baseline",
        &mut a.baseline,
        &[],
        de.and_then(|x| x.baseline.clone()),
        ok,
    )?;
    m.opt(
        "deploy.fail_on_new",
        &mut a.fail_on_new,
        &[],
        de.and_then(|x| x.fail_on_new.clone()),
        |v| parse_enum::<SeverityArg>(config, "deploy.fail_on_new", &v),
    )?;
    if !a.code.no_code {
        m.opt(
            "code.repo",
            &mut a.code.repo,
            &[],
            file.code.as_ref().and_then(|x| x.repo.clone()),
            |v| Ok(config.map_or_else(|| PathBuf::from(&v), |c| c.path_of(&v))),
        )?;
    }
    let g = &mut a.github;
    m.opt(
        "github.repo",
        &mut g.github_repo,
        &["GITHUB_REPOSITORY"],
        gh.and_then(|x| x.repo.clone()),
        ok,
    )?;
    m.opt(
        "github.api_url",
        &mut g.github_api_url,
        &["GITHUB_API_URL"],
        gh.and_then(|x| x.api_url.clone()),
        ok,
    )?;
    m.list(
        "github.labels",
        &mut g.labels,
        gh.and_then(|x| x.labels.clone()),
        |v| v,
    );
    m.opt(
        "github.max_issues",
        &mut g.max_issues,
        &[],
        gh.and_then(|x| x.max_issues),
        ok,
    )?;
    m.opt(
        "github.issue_template",
        &mut g.issue_template,
        &[],
        gh.and_then(|x| x.issue_template.clone()),
        |v| Ok(config.map_or_else(|| PathBuf::from(&v), |c| c.path_of(&v))),
    )?;
    Ok(m.origins)
}

/// Applies the config file to `fetch` arguments.
pub fn apply_fetch(
    a: &mut FetchArgs,
    config: Option<&Config>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Origins> {
    let empty = FileConf::default();
    let file = config.map_or(&empty, |c| &c.conf);
    let mut m = Merge {
        config,
        env,
        origins: Origins::new(),
    };
    apply_cloud(&mut m, &mut a.cloud, file, false)?;
    let an = file.analyze.as_ref();
    m.opt(
        "analyze.min_severity",
        &mut a.min_severity,
        &[],
        an.and_then(|x| x.min_severity.clone()),
        |v| parse_enum::<SeverityArg>(config, "analyze.min_severity", &v),
    )?;
    Ok(m.origins)
}

fn apply_bigquery(
    m: &mut Merge<'_>,
    b: &mut crate::cli::BigQueryArgs,
    file: &FileConf,
) -> Result<()> {
    let bq = file.bigquery.as_ref();
    m.opt(
        "bigquery.table",
        &mut b.bigquery_table,
        &[],
        bq.and_then(|x| x.table.clone()),
        ok,
    )?;
    // The engine's other settings apply only to a run that has a table.
    if b.bigquery_table.is_none() {
        return Ok(());
    }
    m.opt(
        "bigquery.endpoint",
        &mut b.bigquery_endpoint,
        &["GCP_TRIAGE_BIGQUERY_ENDPOINT"],
        bq.and_then(|x| x.endpoint.clone()),
        ok,
    )?;
    m.opt(
        "bigquery.location",
        &mut b.bigquery_location,
        &[],
        bq.and_then(|x| x.location.clone()),
        ok,
    )?;
    m.opt(
        "bigquery.maximum_bytes_billed",
        &mut b.maximum_bytes_billed,
        &[],
        bq.and_then(|x| x.maximum_bytes_billed),
        ok,
    )
}

fn apply_cloud(
    m: &mut Merge<'_>,
    c: &mut crate::cli::CloudArgs,
    file: &FileConf,
    deployed_at: bool,
) -> Result<()> {
    let config = m.config;
    let cl = file.cloud.as_ref();
    m.opt(
        "cloud.project",
        &mut c.project,
        &["GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"],
        cl.and_then(|x| x.project.clone()),
        ok,
    )?;
    m.list(
        "cloud.services",
        &mut c.services,
        cl.and_then(|x| x.services.clone()),
        |v| v,
    );
    m.opt(
        "cloud.resource_type",
        &mut c.resource_type,
        &[],
        cl.and_then(|x| x.resource_type.clone()),
        |v| parse_enum::<ResourceTypeArg>(config, "cloud.resource_type", &v),
    )?;
    m.opt(
        "cloud.revision",
        &mut c.revision,
        &[],
        cl.and_then(|x| x.revision.clone()),
        ok,
    )?;
    m.opt(
        "cloud.namespace",
        &mut c.namespace,
        &[],
        cl.and_then(|x| x.namespace.clone()),
        ok,
    )?;
    m.opt(
        "cloud.container",
        &mut c.container,
        &[],
        cl.and_then(|x| x.container.clone()),
        ok,
    )?;
    // A window given on the command line replaces the file's.
    let window_flag = c.since.is_some() || c.from.is_some() || deployed_at;
    let since = cl.and_then(|x| x.since.clone());
    if window_flag {
        let origin = if c.since.is_some() {
            Origin::Flag
        } else {
            Origin::Default
        };
        m.origins.insert("cloud.since", origin);
    } else {
        m.opt("cloud.since", &mut c.since, &[], since, ok)?;
    }
    m.opt(
        "cloud.filter",
        &mut c.filter,
        &[],
        cl.and_then(|x| x.filter.clone()),
        ok,
    )?;
    m.opt(
        "cloud.limit",
        &mut c.limit,
        &[],
        cl.and_then(|x| x.limit),
        ok,
    )?;
    m.flag(
        "cloud.unleveled",
        &mut c.unleveled,
        cl.and_then(|x| x.unleveled),
    );
    m.opt(
        "cloud.logging_endpoint",
        &mut c.logging_endpoint,
        &["GCP_TRIAGE_LOGGING_ENDPOINT"],
        cl.and_then(|x| x.logging_endpoint.clone()),
        ok,
    )?;
    m.opt(
        "cloud.retry_deadline",
        &mut c.retry_deadline,
        &[],
        cl.and_then(|x| x.retry_deadline.clone()),
        ok,
    )?;
    Ok(())
}

/// Validation errors from `settings.rs` for a value that came from the file name the
/// file, its line and the key instead of the flag.
pub fn blame(err: Error, config: Option<&Config>, origins: &Origins) -> Error {
    let (Error::Usage(message), Some(c)) = (&err, config) else {
        return err;
    };
    for (key, origin) in origins {
        if !matches!(origin, Origin::File(_)) {
            continue;
        }
        let flag = flag_of(key);
        if message.starts_with(&format!("{flag} ")) || message.starts_with(&format!("{flag}:")) {
            let rest = message[flag.len()..]
                .trim_start_matches([':', ' '])
                .to_string();
            return c.error(key, rest);
        }
    }
    err
}

/// The command-line flag for a config key.
pub fn flag_of(key: &str) -> String {
    let name = key.split_once('.').map_or(key, |(_, k)| k);
    let flag = match key {
        "cloud.services" => "service",
        "github.repo" => "github-repo",
        "github.api_url" => "github-api-url",
        "analyze.builtin_rules" => "no-builtin-rules",
        _ => name,
    };
    format!("--{}", flag.replace('_', "-"))
}

fn name<T: ValueEnum>(v: Option<&T>) -> Option<String> {
    v.and_then(ValueEnum::to_possible_value)
        .map(|p| p.get_name().to_string())
}

fn shown_path(p: Option<&PathBuf>) -> Option<String> {
    p.map(|p| p.display().to_string())
}

fn list(v: &[String]) -> Option<String> {
    (!v.is_empty()).then(|| v.join(", "))
}

/// The effective value of each setting (`None`: not set), with its default's words.
fn values(a: &AnalyzeArgs) -> Vec<(&'static str, Option<String>, &'static str)> {
    let c = &a.cloud;
    let g = &a.github;
    let rules: Vec<String> = a.rules.iter().map(|p| p.display().to_string()).collect();
    vec![
        (
            "cloud.project",
            c.project.clone(),
            "the credentials' project",
        ),
        ("cloud.services", list(&c.services), "all"),
        (
            "cloud.resource_type",
            name(c.resource_type.as_ref()),
            "cloud_run_revision",
        ),
        ("cloud.revision", c.revision.clone(), "all"),
        ("cloud.namespace", c.namespace.clone(), "all"),
        ("cloud.container", c.container.clone(), "all"),
        ("cloud.since", c.since.clone(), "1h"),
        ("cloud.filter", c.filter.clone(), "none"),
        ("cloud.limit", c.limit.map(|n| n.to_string()), "none"),
        (
            "cloud.unleveled",
            c.unleveled.then(|| "true".to_string()),
            "false",
        ),
        (
            "cloud.logging_endpoint",
            c.logging_endpoint.clone(),
            "https://logging.googleapis.com",
        ),
        ("cloud.retry_deadline", c.retry_deadline.clone(), "5m"),
        (
            "bigquery.table",
            a.bigquery.bigquery_table.clone(),
            "none (Cloud Logging)",
        ),
        (
            "bigquery.endpoint",
            a.bigquery.bigquery_endpoint.clone(),
            "https://bigquery.googleapis.com",
        ),
        (
            "bigquery.location",
            a.bigquery.bigquery_location.clone(),
            "none",
        ),
        (
            "bigquery.maximum_bytes_billed",
            a.bigquery.maximum_bytes_billed.map(|n| n.to_string()),
            "10737418240",
        ),
        (
            "analyze.input_format",
            name(a.input_format.as_ref()),
            "auto",
        ),
        (
            "analyze.strict",
            a.strict.then(|| "true".to_string()),
            "false",
        ),
        ("analyze.rules", list(&rules), "none"),
        (
            "analyze.builtin_rules",
            a.no_builtin_rules.then(|| "false".to_string()),
            "true",
        ),
        ("analyze.top", a.top.map(|n| n.to_string()), "10"),
        (
            "analyze.threads",
            a.threads.map(|n| n.to_string()),
            "the number of cores",
        ),
        (
            "analyze.min_severity",
            name(a.min_severity.as_ref()),
            "WARNING",
        ),
        ("analyze.fail_on", name(a.fail_on.as_ref()), "off"),
        ("analyze.format", name(a.format.as_ref()), "table"),
        (
            "analyze.template",
            shown_path(a.template.as_ref()),
            "built-in five-whys",
        ),
        (
            "deploy.baseline",
            a.baseline.clone(),
            "as long as the window after",
        ),
        ("deploy.fail_on_new", name(a.fail_on_new.as_ref()), "off"),
        (
            "code.repo",
            shown_path(a.code.repo.as_ref()),
            "the git work tree of the current directory",
        ),
        ("github.repo", g.github_repo.clone(), "GITHUB_REPOSITORY"),
        (
            "github.api_url",
            g.github_api_url.clone(),
            "https://api.github.com",
        ),
        ("github.labels", list(&g.labels), "gcp-triage"),
        (
            "github.max_issues",
            g.max_issues.map(|n| n.to_string()),
            "3",
        ),
        (
            "github.issue_template",
            shown_path(g.issue_template.as_ref()),
            "built-in",
        ),
    ]
}

/// Variables whose values are secrets: only whether they are set is shown.
const SECRETS: [&str; 4] = [
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
];

/// `config show`: every setting with its value and where it came from.
pub fn show(
    a: &AnalyzeArgs,
    origins: &Origins,
    config: Option<&Config>,
    env: &dyn Fn(&str) -> Option<String>,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let file = config.map(|c| c.path.display().to_string());
    let _ = match (config, &file) {
        (Some(c), Some(f)) => writeln!(out, "config file: {f} ({})", c.found_by),
        _ => writeln!(
            out,
            "config file: none (no --config, GCP_TRIAGE_CONFIG, or {FILE_NAME} here or at the git root)"
        ),
    };
    let rows: Vec<(String, String, String)> = values(a)
        .into_iter()
        .map(|(key, value, default)| {
            let origin = origins.get(key).cloned().unwrap_or(Origin::Default);
            let (value, from) = match &origin {
                Origin::Flag => (value.unwrap_or_default(), "flag".to_string()),
                Origin::Env(var) => (env(var).unwrap_or_default(), format!("env {var}")),
                Origin::File(line) => (
                    value.unwrap_or_default(),
                    format!("{}:{line}", file.as_deref().unwrap_or(FILE_NAME)),
                ),
                Origin::Default => (
                    value.unwrap_or_else(|| default.to_string()),
                    "default".to_string(),
                ),
            };
            (key.to_string(), value, from)
        })
        .collect();
    let kw = rows
        .iter()
        .map(|r| r.0.len())
        .chain(SECRETS.iter().map(|s| s.len() - 2))
        .max()
        .unwrap_or(0);
    let vw = rows
        .iter()
        .map(|r| r.1.chars().count().min(48))
        .max()
        .unwrap_or(0);
    for (k, v, from) in &rows {
        let pad = vw.saturating_sub(v.chars().count());
        let _ = writeln!(out, "{k:<kw$}  {v}{}  {from}", " ".repeat(pad));
    }
    let _ = writeln!(out, "secrets (values never shown):");
    for var in SECRETS {
        let set = env(var).is_some_and(|v| !v.trim().is_empty());
        let _ = writeln!(
            out,
            "  {var:<kw$}  {}",
            if set {
                "set, from the environment"
            } else {
                "not set"
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_by_line_with_their_section() {
        let text = "# c\n[cloud]\nproject = \"p\"\n\n[analyze]\ntop = 3\n";
        assert_eq!(key_at(text, 6).as_deref(), Some("analyze.top"));
        assert_eq!(line_of(text, "cloud.project"), Some(3));
        assert_eq!(line_of(text, "analyze.top"), Some(6));
        assert_eq!(line_of(text, "analyze.format"), None);
    }

    #[test]
    fn flags_for_keys() {
        assert_eq!(flag_of("cloud.since"), "--since");
        assert_eq!(flag_of("cloud.services"), "--service");
        assert_eq!(flag_of("deploy.fail_on_new"), "--fail-on-new");
    }
}
