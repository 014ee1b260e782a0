//! Command-line types (clap derive) and nothing else: `settings.rs` turns them into
//! validated settings.

// Doc comments here are the `--help` text, read in a terminal: no markdown backticks.
#![allow(clippy::doc_markdown)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  ran; nothing at or above --fail-on, nothing new or spiking for --fail-on-new
  1  clusters at or above --fail-on were found, or new or spiking clusters at or
     above --fail-on-new
  2  usage or configuration error (bad flags, bad rule file, bad template, a filter
     Cloud Logging rejects)
  3  source failure (unreadable or broken input, no credentials, Cloud Logging failing);
     a report still covers what was read
  4  report produced, publishing it failed (GitHub issues, step summary, outputs)";

/// Turn Google Cloud Logging entries into ranked error clusters and a five-whys debug report.
#[derive(Debug, Parser)]
// A single-valued option given twice takes its last value (`--top 3 ... --top 12`), as
// in git, ripgrep and gcloud, so scripts can append overrides to a base command;
// repeatable options (`--rules`, `--service`, `--labels`) still collect every value.
#[command(
    name = "gcp-triage",
    version,
    about,
    after_help = EXIT_CODES,
    propagate_version = true,
    args_override_self = true
)]
pub struct Cli {
    /// More detail on stderr (a summary line, every malformed entry).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Colour on stderr.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Settings file [default: GCP_TRIAGE_CONFIG, else gcp-triage.toml in the current
    /// directory, else at the git root].
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run; boxing buys nothing
pub enum Command {
    /// Cluster and rank the errors in exported log files (or stdin), or fetched from
    /// Cloud Logging when no FILE is given, and report them.
    #[command(after_help = EXIT_CODES)]
    Analyze(AnalyzeArgs),
    /// Fetch raw entries from Cloud Logging and save them as NDJSON (readable by
    /// `analyze`), so a run can be reproduced or shared.
    #[command(after_help = EXIT_CODES)]
    Fetch(FetchArgs),
    /// Validate rule packs or try a message against them.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// The config file (gcp-triage.toml) and the settings in effect.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (bash, zsh, fish, powershell) to stdout.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: ShellArg,
    },
    /// Print the manual page (roff) to stdout.
    Man,
}

/// Shells for `completions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
    /// PowerShell.
    Powershell,
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the settings `analyze` would use with these flags, and where each comes
    /// from (flag, environment, config file and line, default). Secrets are never shown.
    #[command(args_override_self = true)]
    Show(AnalyzeArgs),
}

/// `--repo`, `--commits`, `--show-authors`, `--no-code`.
#[derive(Debug, Clone, Default, Args)]
pub struct CodeArgs {
    /// The git repository of the deployed code, for the code evidence of the top
    /// clusters (default: the work tree that contains the current directory).
    #[arg(long, value_name = "PATH", help_heading = "Code")]
    pub repo: Option<PathBuf>,
    /// The deploy's commits, `BASE..HEAD` (default under GitHub Actions: the push
    /// event's before..after; else HEAD alone).
    #[arg(long, value_name = "RANGE", help_heading = "Code")]
    pub commits: Option<String>,
    /// Name commit authors in blame (off by default: reports travel).
    #[arg(long, help_heading = "Code")]
    pub show_authors: bool,
    /// Look at no repository: no code section.
    #[arg(long, help_heading = "Code", conflicts_with_all = ["repo", "commits"])]
    pub no_code: bool,
}

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate rule packs: regexes compile, keys are known, examples match and
    /// counter-examples do not. Without DIR, checks the built-in packs.
    #[command(args_override_self = true)]
    Check {
        /// Folders (or files) of `*.toml` packs to check on top of the built-in ones.
        dirs: Vec<PathBuf>,
    },
    /// Show which rule matches a message, its captures and fingerprint, or the fallback.
    #[command(args_override_self = true)]
    Explain {
        /// The log message to explain (it may start with `-`: `-----BEGIN ...`).
        #[arg(allow_hyphen_values = true)]
        message: String,
        /// Extra rule packs (folders or files), as for `analyze --rules`.
        #[arg(long = "rules", value_name = "DIR")]
        rules: Vec<PathBuf>,
        /// Keep e-mail addresses, phone numbers, card numbers and IBANs in the output.
        #[arg(long)]
        keep_personal_data: bool,
    },
}

/// Severity names accepted on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum SeverityArg {
    Default,
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormatArg {
    /// Detect JSON (array, NDJSON, wrapper) or text from the content.
    Auto,
    /// JSON in any of its shapes.
    Json,
    /// Plain text, one entry per line.
    Text,
    /// gcloud's YAML (`gcloud logging read` without --format=json).
    Yaml,
}

/// Output formats for stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// A compact ranked table.
    Table,
    /// The five-whys markdown report.
    Markdown,
    /// The report context as JSON.
    Json,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set or `TERM=dumb`.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Monitored-resource types for `--resource-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ResourceTypeArg {
    /// Cloud Run services (`--service` matches `service_name`, `--revision` `revision_name`).
    CloudRunRevision,
    /// Cloud Run jobs (`--service` matches `job_name`).
    CloudRunJob,
    /// GKE containers (`--namespace`, `--container`).
    K8sContainer,
    /// App Engine (`--service` matches `module_id`, `--revision` `version_id`).
    GaeApp,
    /// Cloud Functions 1st gen (`--service` matches `function_name`).
    CloudFunction,
}

/// Where and what to read from Cloud Logging.
#[derive(Debug, Args, Clone, Default)]
pub struct CloudArgs {
    /// Project to read [default: GOOGLE_CLOUD_PROJECT, CLOUDSDK_CORE_PROJECT, or the
    /// credentials' project].
    #[arg(long, value_name = "ID", help_heading = "Cloud Logging")]
    pub project: Option<String>,
    /// Only this service (Cloud Run `resource.labels.service_name`). Repeatable.
    #[arg(long = "service", value_name = "NAME", help_heading = "Cloud Logging")]
    pub services: Vec<String>,
    /// Only this revision's entries.
    #[arg(long, value_name = "NAME", help_heading = "Cloud Logging")]
    pub revision: Option<String>,
    /// Monitored-resource type [default: cloud_run_revision].
    #[arg(long, value_enum, value_name = "TYPE", help_heading = "Cloud Logging")]
    pub resource_type: Option<ResourceTypeArg>,
    /// GKE namespace (with --resource-type k8s_container).
    #[arg(long, value_name = "NAME", help_heading = "Cloud Logging")]
    pub namespace: Option<String>,
    /// GKE container name (with --resource-type k8s_container).
    #[arg(long, value_name = "NAME", help_heading = "Cloud Logging")]
    pub container: Option<String>,
    /// Window ending now (or at --until): 90s, 30m, 2h, 1d, 1w [default: 1h].
    #[arg(
        long,
        value_name = "DURATION",
        conflicts_with = "from",
        help_heading = "Cloud Logging"
    )]
    pub since: Option<String>,
    /// Window start, RFC 3339 (2025-06-01T10:00:00Z).
    #[arg(long, value_name = "TIME", help_heading = "Cloud Logging")]
    pub from: Option<String>,
    /// Window end, RFC 3339 [default: now].
    #[arg(long, value_name = "TIME", help_heading = "Cloud Logging")]
    pub until: Option<String>,
    /// A Logging query ANDed on top of the generated one.
    #[arg(long, value_name = "EXPR", help_heading = "Cloud Logging")]
    pub filter: Option<String>,
    /// Stop after N entries (the newest N).
    #[arg(long, value_name = "N", help_heading = "Cloud Logging")]
    pub limit: Option<u64>,
    /// Also fetch entries without a severity (plain stdout/stderr lines such as split
    /// stack traces and console.error output); often many more entries.
    #[arg(long, help_heading = "Cloud Logging")]
    pub unleveled: bool,
    /// Cloud Logging API root [env: GCP_TRIAGE_LOGGING_ENDPOINT] [default:
    /// https://logging.googleapis.com].
    #[arg(long, value_name = "URL", help_heading = "Cloud Logging")]
    pub logging_endpoint: Option<String>,
    /// Give up on a page after retrying it this long (429 quota waits, 5xx) [default: 5m].
    #[arg(long, value_name = "DURATION", help_heading = "Cloud Logging")]
    pub retry_deadline: Option<String>,
    /// Print the generated Logging query and exit (no credentials needed).
    #[arg(long, help_heading = "Cloud Logging")]
    pub print_filter: bool,
}

/// The Log Analytics engine: the grouping runs as one BigQuery query on a log view of
/// a linked dataset; the Cloud Logging scope and window flags apply.
#[derive(Debug, Args, Clone, Default)]
pub struct BigQueryArgs {
    /// Group in BigQuery, on this log view of a linked dataset
    /// (`PROJECT.DATASET.VIEW`, e.g. `my-proj.logs_link._AllLogs`); `--project` is
    /// the project the query job runs in (and is billed to).
    #[arg(
        long,
        value_name = "PROJECT.DATASET.VIEW",
        help_heading = "Log Analytics"
    )]
    pub bigquery_table: Option<String>,
    /// BigQuery API root [env: GCP_TRIAGE_BIGQUERY_ENDPOINT] [default:
    /// https://bigquery.googleapis.com].
    #[arg(long, value_name = "URL", help_heading = "Log Analytics")]
    pub bigquery_endpoint: Option<String>,
    /// The linked dataset's location (`US`, `EU`, `europe-west1`, ...), sent with
    /// every BigQuery call [default: none, which BigQuery accepts for US and EU].
    #[arg(long, value_name = "LOCATION", help_heading = "Log Analytics")]
    pub bigquery_location: Option<String>,
    /// SQL condition on the log view's columns ANDed (in parentheses) onto the
    /// generated one (`--filter` is the Logging language and is refused here).
    #[arg(long = "where", value_name = "SQL", help_heading = "Log Analytics")]
    pub where_sql: Option<String>,
    /// The query fails, uncharged, when it would bill more than this many bytes
    /// [default: 10737418240 (10 GiB)].
    #[arg(long, value_name = "BYTES", help_heading = "Log Analytics")]
    pub maximum_bytes_billed: Option<u64>,
    /// Print the generated SQL and exit (no credentials needed).
    #[arg(long, help_heading = "Log Analytics")]
    pub print_sql: bool,
    /// Run a dry run: print the bytes the query would scan and exit.
    #[arg(long, help_heading = "Log Analytics")]
    pub estimate: bool,
}

/// `fetch` arguments.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Where and what to read.
    #[command(flatten)]
    pub cloud: CloudArgs,
    /// Severity floor of the query (5xx request logs are always fetched) [default:
    /// WARNING].
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub min_severity: Option<SeverityArg>,
    /// Write the entries here (NDJSON, one entry per line); `-` or absent is stdout.
    #[arg(long, short = 'o', value_name = "PATH")]
    pub out: Option<PathBuf>,
}

/// `analyze` arguments.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Exported log files: gcloud JSON, NDJSON sink exports, API responses, text; `.gz`
    /// is detected. `-` reads stdin. Without FILE, entries come from Cloud Logging.
    #[arg(value_name = "FILE")]
    pub inputs: Vec<String>,

    /// Where and what to read from Cloud Logging (instead of FILEs).
    #[command(flatten)]
    pub cloud: CloudArgs,

    /// How to read the inputs [default: auto].
    #[arg(long, value_enum, value_name = "FORMAT", help_heading = "Input")]
    pub input_format: Option<InputFormatArg>,
    /// Stop at the first malformed entry instead of skipping and counting it.
    #[arg(long, help_heading = "Input")]
    pub strict: bool,
    /// Parse JSON exports on N threads [default: the number of cores]; 1 reads
    /// everything on one thread.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256), help_heading = "Input")]
    pub threads: Option<u16>,

    /// Add rule packs: every `*.toml` in DIR (or the file); a rule with a built-in
    /// rule's id replaces it. Repeatable.
    #[arg(long = "rules", value_name = "DIR", help_heading = "Rules")]
    pub rules: Vec<PathBuf>,
    /// Use only the packs given with --rules.
    #[arg(long, help_heading = "Rules")]
    pub no_builtin_rules: bool,

    /// Show the top N clusters [default: 10].
    #[arg(long, value_name = "N", help_heading = "Ranking")]
    pub top: Option<usize>,
    /// Ignore entries below this severity (5xx request logs always count) [default:
    /// WARNING].
    #[arg(long, value_enum, value_name = "SEVERITY", help_heading = "Ranking")]
    pub min_severity: Option<SeverityArg>,
    /// Exit 1 when a cluster at or above this severity is found.
    #[arg(long, value_enum, value_name = "SEVERITY", help_heading = "Ranking")]
    pub fail_on: Option<SeverityArg>,

    /// Compare the windows before and after a deploy at TIME (RFC 3339).
    #[arg(long, value_name = "TIME", group = "deploy", help_heading = "Deploy")]
    pub deployed_at: Option<String>,
    /// Compare before and after a deploy of REVISION: the deploy time is the first entry
    /// of that revision (found in the input, or asked of Cloud Logging within --since).
    #[arg(
        long,
        value_name = "REVISION",
        group = "deploy",
        help_heading = "Deploy"
    )]
    pub deployed_revision: Option<String>,
    /// Length of the window before the deploy: 30m, 2h, 1d [default: as long as the
    /// window after].
    #[arg(
        long,
        value_name = "DURATION",
        requires = "deploy",
        help_heading = "Deploy"
    )]
    pub baseline: Option<String>,
    /// Exit 1 when a new or spiking cluster at or above SEVERITY appears after the
    /// deploy [default SEVERITY: ERROR].
    #[arg(
        long,
        value_enum,
        value_name = "SEVERITY",
        num_args = 0..=1,
        default_missing_value = "ERROR",
        requires = "deploy",
        help_heading = "Deploy"
    )]
    pub fail_on_new: Option<SeverityArg>,

    /// What to print on stdout [default: table].
    #[arg(long, value_enum, value_name = "FORMAT", help_heading = "Output")]
    pub format: Option<FormatArg>,
    /// Write the five-whys markdown report to PATH (written before anything else).
    #[arg(long, short = 'o', value_name = "PATH", help_heading = "Output")]
    pub out: Option<PathBuf>,
    /// Render the markdown report with this tera template instead of the built-in one.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub template: Option<PathBuf>,
    /// Write `insert_id,fingerprint` CSV for every clustered entry (entries without an
    /// insertId get their 1-based input position).
    #[arg(long, value_name = "PATH", help_heading = "Output")]
    pub assignments: Option<PathBuf>,
    /// Keep e-mail addresses, phone numbers, payment card numbers and IBANs in every
    /// output, for private, local runs (by default they are masked; secrets always are).
    #[arg(long, help_heading = "Output")]
    pub keep_personal_data: bool,

    /// Where the deployed code is, for the code evidence.
    #[command(flatten)]
    pub code: CodeArgs,

    /// The Log Analytics engine: group in BigQuery instead of fetching entries.
    #[command(flatten)]
    pub bigquery: BigQueryArgs,

    /// Where and how to file GitHub issues.
    #[command(flatten)]
    pub github: GithubArgs,
}

/// GitHub issue filing. The token comes only from GITHUB_TOKEN or GH_TOKEN.
#[derive(Debug, Args, Clone, Default)]
pub struct GithubArgs {
    /// File (or update) one GitHub issue per top cluster; needs GITHUB_TOKEN or GH_TOKEN.
    #[arg(long, help_heading = "GitHub")]
    pub file_issues: bool,
    /// Repository to file in [default: GITHUB_REPOSITORY].
    #[arg(long, value_name = "OWNER/NAME", help_heading = "GitHub")]
    pub github_repo: Option<String>,
    /// GitHub API root, for GitHub Enterprise [default: GITHUB_API_URL, else
    /// https://api.github.com].
    #[arg(long, value_name = "URL", help_heading = "GitHub")]
    pub github_api_url: Option<String>,
    /// File at most N clusters (the top ones) [default: 3].
    #[arg(long, value_name = "N", help_heading = "GitHub")]
    pub max_issues: Option<usize>,
    /// Labels for filed issues, comma-separated; issues are found again by the first
    /// [default: gcp-triage].
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        help_heading = "GitHub"
    )]
    pub labels: Vec<String>,
    /// Print exactly what would be created or commented; send no write.
    #[arg(long, requires = "file_issues", help_heading = "GitHub")]
    pub dry_run: bool,
    /// Render issue bodies with this tera template instead of the built-in one.
    #[arg(long, value_name = "FILE", help_heading = "GitHub")]
    pub issue_template: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
