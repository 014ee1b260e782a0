//! The report context: ONE serialisable structure that `--format json` prints, the
//! tera templates render and the sinks read. Every field is documented in
//! `templates/README.md`; `SCHEMA_VERSION` changes when a field changes meaning.

mod facts;
pub mod filters;
pub mod history;
pub mod issue;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cluster::{Cluster, Counts, Exemplar, HttpImpact};
use crate::deploy::{Change, Comparison};
use crate::entry::{Severity, SeveritySource};
use crate::error::{Error, Result, one_line};
use crate::precursor::Precursor;
use crate::rank::Score;
use crate::redact::Redactor;
use crate::signature::SignatureKind;
use crate::signature::rules::{RuleSet, render};
use crate::source::query::{Scope, logs_explorer_url};
pub use facts::{FactView, RuledOut};
use history::{
    ChainLink, Comparisons, DeployInput, DeployView, Names, PrecursorView, Thresholds, TimelineView,
};

/// Version of the context's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// Name of the built-in five-whys template.
pub const FIVE_WHYS: &str = "five-whys.md";
/// The built-in five-whys template.
pub const FIVE_WHYS_TEMPLATE: &str = include_str!("../../templates/five-whys.md.tera");

/// A name with a count.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NameCount {
    /// The name.
    pub name: String,
    /// How many.
    pub count: u64,
}

/// The time span the clustered entries cover.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Window {
    /// Earliest clustered timestamp.
    pub start: Option<DateTime<Utc>>,
    /// Latest clustered timestamp.
    pub end: Option<DateTime<Utc>>,
    /// Length in minutes (rounded up), 0 without timestamps.
    pub minutes: i64,
}

/// Counts over the whole input.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    /// Raw entries in the input (before split traces are joined), malformed ones included.
    pub entries_read: u64,
    /// Malformed entries skipped.
    pub entries_skipped: u64,
    /// Raw entries folded into the entry that started them (split stack traces).
    pub entries_joined: u64,
    /// Entries counted in a cluster (5xx request logs used as evidence included).
    pub entries_clustered: u64,
    /// Entries below `--min-severity`.
    pub entries_below_threshold: u64,
    /// 5xx request logs linked to an application error cluster.
    pub http_5xx_linked: u64,
    /// Clusters found.
    pub clusters_total: usize,
    /// Clusters in `clusters` (at most `--top`).
    pub clusters_shown: usize,
    /// Clusters per severity.
    pub clusters_by_severity: BTreeMap<String, usize>,
    /// Services with clustered entries.
    pub services: Vec<NameCount>,
    /// The window covered.
    pub window: Window,
}

/// The settings that shaped the report (so a reader can reproduce it).
#[derive(Debug, Clone, Serialize)]
pub struct ReportSettings {
    /// `--top`.
    pub top: usize,
    /// `--min-severity`.
    pub min_severity: Severity,
    /// `--fail-on`, if set.
    pub fail_on: Option<Severity>,
    /// `--keep-personal-data`: e-mail addresses, phone numbers, card numbers and IBANs
    /// were left in the report (secrets never are).
    pub keep_personal_data: bool,
}

impl ReportSettings {
    /// How log text in the report is masked.
    pub fn redactor(&self) -> Redactor {
        if self.keep_personal_data {
            Redactor::keeping_personal_data()
        } else {
            Redactor::default()
        }
    }
}

/// The signature behind a cluster.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureView {
    /// `rule`, `stack`, `template` or `http`.
    pub kind: SignatureKind,
    /// The key hashed into the fingerprint (redacted).
    pub key: String,
    /// Exception type (stack signatures).
    pub exception: Option<String>,
    /// Innermost application frame (stack signatures).
    pub frame: Option<String>,
    /// Rule captures.
    pub captures: BTreeMap<String, String>,
}

/// "What changed in this deploy near it?": the range's commits that came closest to
/// the failing code, as what they did there (never that they caused the error); or,
/// when the range touched none of the trace's files, that observation.
fn code_why(ev: &crate::code::Evidence) -> Option<Why> {
    let short = |id: &str| id.chars().take(7).collect::<String>();
    if !ev.suspects.is_empty() {
        let parts: Vec<String> = ev
            .suspects
            .iter()
            .take(3)
            .map(|s| format!("{} (\"{}\") {}", short(&s.commit), s.summary, s.reason))
            .collect();
        return Some(Why {
            question: "What changed in this deploy near it?".to_string(),
            answer: format!("In {}: {}.", ev.range, parts.join("; ")),
            kind: WhyKind::ObservedCode,
            evidence: ev
                .suspects
                .iter()
                .map(|s| format!("commit {}", s.commit))
                .collect(),
        });
    }
    (!ev.range_touched_trace && !ev.frames.is_empty()).then(|| {
        let files: Vec<&str> = ev.frames.iter().map(|f| f.path.as_str()).collect();
        Why {
            question: "What changed in this deploy near it?".to_string(),
            answer: format!(
                "No commit in {} ({} commit{}) changed a file of its trace ({}): the cause is more likely outside this code (configuration, data, a dependency, the platform).",
                ev.range,
                ev.commits_in_range,
                if ev.commits_in_range == 1 { "" } else { "s" },
                files.join(", ")
            ),
            kind: WhyKind::ObservedCode,
            evidence: vec![format!("git log {}", ev.range)],
        }
    })
}

/// Whether a "why" is seen in the logs or inferred.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WhyKind {
    /// Seen in the logs, with evidence.
    Observed,
    /// Suggested by the matching rule; not proven by the logs.
    Hypothesis,
    /// Seen in the logs to come first, often enough to cite: correlation, not proof.
    Precursor,
    /// Seen in the repository: what the deploy's commits did near the failing code
    /// (never that they caused it).
    ObservedCode,
    /// Not established: the evidence stops here.
    Open,
}

/// One step of the five whys.
#[derive(Debug, Clone, Serialize)]
pub struct Why {
    /// The question.
    pub question: String,
    /// The answer.
    pub answer: String,
    /// Observed, hypothesis or open.
    pub kind: WhyKind,
    /// Evidence: counts, insertIds, timestamps (observed), or the rule id (hypothesis).
    pub evidence: Vec<String>,
}

/// One ranked cluster as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterView {
    /// 1-based rank.
    pub rank: usize,
    /// Short stable hash of the signature.
    pub fingerprint: String,
    /// One-line title (redacted).
    pub title: String,
    /// Highest severity.
    pub severity: Severity,
    /// Where the severity came from: `entry`, `payload` (a level field in
    /// `jsonPayload`), `text` (a level word or traceback), `http_status`, `rule`.
    pub severity_source: SeveritySource,
    /// Number of entries.
    pub count: u64,
    /// Earliest occurrence.
    pub first_seen: Option<DateTime<Utc>>,
    /// Latest occurrence.
    pub last_seen: Option<DateTime<Utc>>,
    /// Services with counts, most first.
    pub services: Vec<NameCount>,
    /// Revisions with counts, most first.
    pub revisions: Vec<NameCount>,
    /// Locations with counts, most first.
    pub locations: Vec<NameCount>,
    /// Distinct instances.
    pub instances: usize,
    /// Matching rule id, or null for fallback signatures.
    pub rule: Option<String>,
    /// Rule category.
    pub category: Option<String>,
    /// Rule tags.
    pub tags: Vec<String>,
    /// How the signature was formed.
    pub signature: SignatureView,
    /// Explainable score.
    pub score: Score,
    /// One sentence: why this cluster ranks where it does.
    pub why_ranked: String,
    /// A few example entries (earliest first, then the latest), redacted.
    pub exemplars: Vec<Exemplar>,
    /// HTTP 5xx failures linked to this cluster (or, for request clusters, its own).
    pub http_failures: HttpImpact,
    /// Error Reporting group ids seen.
    pub error_groups: Vec<String>,
    /// Source locations with counts.
    pub source_locations: Vec<NameCount>,
    /// Raw entries joined into this cluster's entries.
    pub joined_lines: u64,
    /// Narrower templates this cluster folds in (a word that varies across them made
    /// `<*>`), most entries first: an issue filed for one of them is this cluster's.
    pub subsumes: Vec<crate::cluster::Subsumed>,
    /// The five whys, as far as the evidence goes.
    pub whys: Vec<Why>,
    /// What the entries state, by the rule's facts (status codes, permissions,
    /// resources, durations), with the values and the entries that state them.
    pub facts: Vec<FactView>,
    /// The rule's hypotheses that every entry stating a fact contradicts.
    pub ruled_out: Vec<RuledOut>,
    /// Where to look / how to fix (from the rule).
    pub hints: Vec<String>,
    /// A Logs Explorer link, when the project is known (Cloud Logging source).
    pub logs_explorer_url: Option<String>,
    /// Before and after the deploy (null without one).
    pub change: Option<Comparison>,
    /// Seen only in the newest revision of the input (which has more than one).
    pub only_in_newest_revision: bool,
    /// Observed precursors, nearest first.
    pub precursors: Vec<PrecursorView>,
    /// What the repository says: mapped frames, the failing line and its blame, and
    /// the deploy's commits that came near it (null without a repository or frames).
    pub code: Option<crate::code::Evidence>,
}

/// Where the entries of a Cloud Logging report came from: enough to reproduce it.
#[derive(Debug, Clone, Serialize)]
pub struct Query {
    /// The project read.
    pub project: String,
    /// The Logging query sent.
    pub filter: String,
    /// Window start (inclusive).
    pub from: DateTime<Utc>,
    /// Window end (exclusive).
    pub until: DateTime<Utc>,
    /// `--limit`, if set.
    pub limit: Option<u64>,
    /// The API root used.
    pub endpoint: String,
    /// The same query and window in Logs Explorer.
    pub logs_explorer_url: String,
    /// Pages received.
    pub pages: u64,
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// `cloud_logging` (entries fetched) or `bigquery` (grouped in Log Analytics).
    pub engine: &'static str,
    /// The Log Analytics job, with the `bigquery` engine.
    pub bigquery: Option<BigQueryJob>,
}

/// A Log Analytics query, for the report: what ran, where, and what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct BigQueryJob {
    /// The log view (`PROJECT.DATASET.VIEW`).
    pub table: String,
    /// The SQL run.
    pub sql: String,
    /// The job id.
    pub job_id: Option<String>,
    /// Bytes processed (scanned).
    pub bytes_processed: Option<u64>,
    /// Bytes billed, when BigQuery says.
    pub bytes_billed: Option<u64>,
    /// `maximumBytesBilled` sent.
    pub maximum_bytes_billed: u64,
    /// Answered from BigQuery's cache.
    pub cache_hit: bool,
    /// Groups returned by the main query.
    pub groups: u64,
    /// Follow-up queries for groups whose messages signed differently.
    pub follow_ups: u64,
}

/// A Cloud Logging source, for the report: what to echo and how to link clusters.
#[derive(Debug, Clone)]
pub struct CloudInput {
    /// What is echoed.
    pub query: Query,
    /// The scope, for per-cluster links.
    pub scope: Scope,
}

/// The whole report context.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Shape version.
    pub schema_version: u32,
    /// `gcp-triage` and its version.
    pub tool: String,
    /// Inputs read (paths, `-` for stdin).
    pub inputs: Vec<String>,
    /// The Cloud Logging query, when entries were fetched (null for files).
    pub query: Option<Query>,
    /// True when reading stopped early; the report covers what was read.
    pub partial: bool,
    /// Why it is partial.
    pub partial_reason: Option<String>,
    /// What the reader noticed about an input: an encoding it had to guess (no
    /// byte-order mark, or a damaged one), or one page of a longer API result.
    pub warnings: Vec<String>,
    /// Counts over the input.
    pub summary: Summary,
    /// Settings that shaped it.
    pub settings: ReportSettings,
    /// Thresholds behind statuses and precursors.
    pub thresholds: Thresholds,
    /// The deploy comparison (null without `--deployed-at`/`--deployed-revision`).
    pub deploy: Option<DeployView>,
    /// The revision that appeared last in the input, when there are several.
    pub newest_revision: Option<String>,
    /// Observed precursor chains ending at the clusters shown, earliest cluster first.
    pub chains: Vec<Vec<ChainLink>>,
    /// Events and per-bin counts of the clusters shown (null without timestamps).
    pub timeline: Option<TimelineView>,
    /// Top clusters in rank order.
    /// The code section: the repository and range read, or why there is none.
    pub code: crate::code::CodeSummary,
    pub clusters: Vec<ClusterView>,
}

/// Names with counts (from a `BTreeMap<String, u64>` or a
/// [`NameCounts`](crate::cluster::NameCounts)), most first.
fn sorted_counts<N: AsRef<str>, C: std::borrow::Borrow<u64>>(
    counts: impl IntoIterator<Item = (N, C)>,
) -> Vec<NameCount> {
    let mut v: Vec<NameCount> = counts
        .into_iter()
        .map(|(n, c)| NameCount {
            name: n.as_ref().to_string(),
            count: *c.borrow(),
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    v
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "unknown time".to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    )
}

fn ids(exemplars: &[Exemplar]) -> Vec<String> {
    exemplars
        .iter()
        .map(|e| match &e.insert_id {
            Some(id) => format!("insertId {id} at {}", time(e.timestamp)),
            None => format!("entry #{} at {}", e.position, time(e.timestamp)),
        })
        .collect()
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The five whys for one cluster: observed steps first, the rule's hypotheses next,
/// and an explicit stop where the evidence ends.
fn build_whys(
    c: &Cluster,
    exemplars: &[Exemplar],
    judged: &facts::Judged,
    history: &ClusterHistory<'_>,
) -> Vec<Why> {
    let mut whys = Vec::new();
    let title = c.title();
    let http = &c.http;
    if http.count > 0 && !c.is_http() {
        let statuses: Vec<String> = http
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect();
        let routes: Vec<String> = sorted_counts(http.routes.iter())
            .iter()
            .take(3)
            .map(|r| r.name.clone())
            .collect();
        let mut evidence: Vec<String> = http
            .examples
            .iter()
            .take(3)
            .map(|e| {
                format!(
                    "request insertId {} at {} ({} {}, linked by {})",
                    e.insert_id.as_deref().unwrap_or("-"),
                    time(e.timestamp),
                    e.method,
                    e.status,
                    e.linked_by
                )
            })
            .collect();
        if let Some(spans) = latency_spans(&http.latency) {
            evidence.push(format!("latency: {spans}"));
        }
        if let Some(ua) = sorted_counts(http.user_agents.iter()).first() {
            evidence.push(format!(
                "most frequent user agent: {} ({}×)",
                ua.name, ua.count
            ));
        }
        whys.push(Why {
            question: format!("Why did requests fail with HTTP {}?", statuses.join(", ")),
            answer: format!(
                "{} on {} are linked to this error ({} by trace, {} by instance and time).",
                plural(http.count, "5xx response"),
                routes.join(", "),
                http.linked_by_trace,
                http.linked_by_instance
            ),
            kind: WhyKind::Observed,
            evidence,
        });
    }
    let revisions: Vec<String> = sorted_counts(&c.revisions)
        .into_iter()
        .map(|r| r.name)
        .collect();
    whys.push(Why {
        question: format!("Why is \"{title}\" reported?"),
        answer: format!(
            "It was logged {} between {} and {}{}.",
            plural(c.count, "time"),
            time(c.first_seen),
            time(c.last_seen),
            if revisions.is_empty() {
                String::new()
            } else {
                format!(" on revision(s) {}", revisions.join(", "))
            }
        ),
        kind: WhyKind::Observed,
        evidence: ids(exemplars),
    });
    // A request cluster's failures have no error of their own: how long they took is
    // the next thing the logs tell (a linked cluster gives it as evidence above).
    if c.is_http()
        && let Some(spans) = latency_spans(&c.http.latency)
    {
        whys.push(Why {
            question: "How long did the failed requests take?".to_string(),
            answer: format!("{spans}."),
            kind: WhyKind::Observed,
            evidence: Vec::new(),
        });
    }
    // What the messages themselves state comes before anything inferred.
    whys.extend(judged.fact_whys.iter().cloned());
    if let (Some(cmp), Some(d)) = (history.change, history.deploy) {
        whys.push(deploy_why(cmp, d));
    }
    let sig = &c.signature;
    let location = sig.frame.clone().or_else(|| {
        sorted_counts(&c.source_locations)
            .first()
            .map(|l| l.name.clone())
    });
    if let Some(loc) = location {
        whys.push(Why {
            question: "Where is it raised?".to_string(),
            answer: match &sig.exception {
                Some(exc) => {
                    format!("{exc} is raised in {loc} (innermost application frame of the trace).")
                }
                None => format!("At {loc} (the entries' source location)."),
            },
            kind: WhyKind::Observed,
            evidence: exemplars
                .iter()
                .take(1)
                .filter_map(|e| e.insert_id.clone())
                .map(|i| format!("insertId {i}"))
                .collect(),
        });
    }
    for p in history.precursors.iter().take(1) {
        whys.push(Why {
            question: "What came before it?".to_string(),
            answer: format!(
                "\"{}\" was first seen before it on {} of the {} instances where it occurs (median gap {}). An observed precursor: correlation in time, not proof of cause.",
                p.title, p.instances, p.of, p.median_gap
            ),
            kind: WhyKind::Precursor,
            evidence: vec![format!(
                "fingerprint {}{}",
                p.fingerprint,
                p.rank.map_or(String::new(), |r| format!(" (rank {r})"))
            )],
        });
    }
    if let Some(why) = history.code.and_then(code_why) {
        whys.push(why);
    }
    // At least one of the rule's hypotheses, even past five steps.
    for (i, hypothesis) in judged.hypotheses.iter().enumerate() {
        if i > 0 && whys.len() >= 5 {
            break;
        }
        whys.push(hypothesis.clone());
    }
    if whys.len() < 5 {
        whys.push(Why {
            question: "Why, at the root?".to_string(),
            answer: "Not established from the logs: the evidence stops here. Check the code at the location above and what changed in the deploy.".to_string(),
            kind: WhyKind::Open,
            evidence: Vec::new(),
        });
    }
    whys
}

fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// How long the 5xx requests took, slowest span first: a group of slow failures
/// (timeouts) beside fast ones (refusals) is worth telling apart.
fn latency_spans(spread: &crate::cluster::LatencySpread) -> Option<String> {
    let total = spread.count();
    if total == 0 {
        return None;
    }
    let bounds = ["under 1 s", "1–10 s", "10–60 s", "over 1 min"];
    let parts: Vec<String> = spread
        .spans
        .iter()
        .zip(bounds)
        .rev()
        .filter(|(s, _)| s.count > 0)
        .map(|(s, bound)| {
            let (shortest, longest) = (duration(s.min_ms), duration(s.max_ms));
            let range = if shortest == longest {
                shortest
            } else {
                format!("{shortest}–{longest}")
            };
            format!("{} took {range} ({bound})", s.count)
        })
        .collect();
    Some(format!("of {total} with a latency, {}", parts.join("; ")))
}

fn deploy_why(cmp: &Comparison, d: &DeployInput) -> Why {
    let w = &d.windows;
    let at = time(Some(w.deployed_at));
    let rates = format!(
        "{} in the {:.0} min before, {} in the {:.0} min after ({:.2}/min → {:.2}/min)",
        cmp.before,
        w.baseline_minutes(),
        cmp.after,
        w.after_minutes(),
        cmp.rate_before,
        cmp.rate_after
    );
    let answer = match cmp.status {
        Some(Change::New) => format!("It is new with the deploy at {at}: {rates}."),
        Some(Change::Spiking) => format!("It spiked after the deploy at {at}: {rates}."),
        Some(Change::Resolved) => format!("It stopped after the deploy at {at}: {rates}."),
        Some(Change::Ongoing) => {
            format!("It was already there before the deploy at {at}: {rates}.")
        }
        None => format!("It is outside both windows around the deploy at {at}."),
    };
    Why {
        question: "Did the deploy change it?".to_string(),
        answer,
        kind: WhyKind::Observed,
        evidence: vec![format!(
            "baseline {} → {}, after {} → {}",
            time(Some(w.baseline_from)),
            at,
            at,
            time(Some(w.after_until))
        )],
    }
}

/// What the report knows about a cluster over time.
struct ClusterHistory<'a> {
    change: Option<&'a Comparison>,
    deploy: Option<&'a DeployInput>,
    precursors: &'a [PrecursorView],
    code: Option<&'a crate::code::Evidence>,
}

/// Everything the report is built from.
pub struct ReportInput<'a> {
    /// Ranked clusters.
    pub ranked: Vec<(Cluster, Score)>,
    /// Counters from the clusterer.
    pub counts: Counts,
    /// Raw entries read.
    pub entries_read: u64,
    /// Malformed entries skipped.
    pub entries_skipped: u64,
    /// Inputs.
    pub inputs: Vec<String>,
    /// Why reading stopped early, if it did.
    pub partial_reason: Option<String>,
    /// How the input was read, where the reader had to guess.
    pub warnings: Vec<String>,
    /// Settings.
    pub settings: ReportSettings,
    /// Rules (for whys and hints).
    pub rules: &'a RuleSet,
    /// The Cloud Logging source, if entries were fetched.
    pub cloud: Option<CloudInput>,
    /// The deploy comparison, when asked for and its time is known.
    pub deploy: Option<DeployInput>,
    /// Each cluster across the deploy, by fingerprint (empty without a deploy).
    pub comparisons: Comparisons,
    /// Observed precursors over all clusters.
    pub precursors: Vec<Precursor>,
    /// The revision that appeared last, when the input has several.
    pub newest_revision: Option<String>,
    /// The span of the whole input (or query), for the timeline.
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The code section, and the code evidence by fingerprint.
    pub code: (
        crate::code::CodeSummary,
        BTreeMap<String, crate::code::Evidence>,
    ),
}

/// Builds the report context.
pub fn build(input: ReportInput<'_>) -> Report {
    let ReportInput {
        mut ranked,
        counts,
        entries_read,
        entries_skipped,
        inputs,
        partial_reason,
        warnings,
        settings,
        rules,
        cloud,
        deploy,
        comparisons,
        precursors,
        newest_revision,
        span,
        code: (code_summary, mut evidence),
    } = input;
    let redactor = settings.redactor();
    for (c, _) in &mut ranked {
        c.redact_names(redactor);
    }
    let partial_reason = partial_reason.map(|r| redactor.redact(&r).into_owned());
    let start = ranked.iter().filter_map(|(c, _)| c.first_seen).min();
    let end = ranked.iter().filter_map(|(c, _)| c.last_seen).max();
    let minutes = match (start, end) {
        (Some(s), Some(e)) => ((e - s).num_seconds() + 59) / 60,
        _ => 0,
    };
    let mut services: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_sev: BTreeMap<String, usize> = BTreeMap::new();
    for (c, _) in &ranked {
        for (s, n) in &c.services {
            *services.entry(s.clone()).or_default() += n;
        }
        *by_sev.entry(c.severity.to_string()).or_default() += 1;
    }
    let total = ranked.len();
    let names: Names = ranked
        .iter()
        .enumerate()
        .map(|(i, (c, _))| {
            (
                c.fingerprint.clone(),
                (c.title(), (i < settings.top).then_some(i + 1)),
            )
        })
        .collect();
    let shown: Vec<String> = ranked
        .iter()
        .take(settings.top)
        .map(|(c, _)| c.fingerprint.clone())
        .collect();
    let deploy_view = deploy
        .as_ref()
        .map(|d| history::deploy_view(d, &ranked, &comparisons, settings.top));
    let chains = history::chains(&precursors, &shown, &names);
    let timeline = span.or(start.zip(end)).map(|(from, until)| {
        let shown: Vec<&Cluster> = ranked.iter().take(settings.top).map(|(c, _)| c).collect();
        history::timeline(
            from,
            until,
            &shown,
            deploy.as_ref().map(|d| (&d.windows, &comparisons)),
        )
    });
    let clusters: Vec<ClusterView> = ranked
        .into_iter()
        .take(settings.top)
        .enumerate()
        .map(|(i, (c, score))| {
            let precursors = history::precursors_of(&precursors, &c.fingerprint, &names);
            let code = evidence
                .remove(&c.fingerprint)
                .map(|e| e.redacted(redactor));
            let history = ClusterHistory {
                change: comparisons.get(&c.fingerprint),
                deploy: deploy.as_ref(),
                precursors: &precursors,
                code: code.as_ref(),
            };
            let mut v = view(i + 1, &c, score, rules, cloud.as_ref(), &history);
            v.code = code;
            v.only_in_newest_revision = newest_revision
                .as_ref()
                .is_some_and(|n| c.revisions.len() == 1 && c.revisions.contains_key(n));
            v.precursors = precursors;
            v
        })
        .collect();
    Report {
        schema_version: SCHEMA_VERSION,
        tool: format!("gcp-triage {}", env!("CARGO_PKG_VERSION")),
        inputs,
        query: cloud.map(|c| c.query),
        partial: partial_reason.is_some(),
        partial_reason,
        warnings,
        summary: Summary {
            entries_read,
            entries_skipped,
            entries_joined: counts.joined,
            entries_clustered: counts.clustered,
            entries_below_threshold: counts.below_threshold,
            http_5xx_linked: counts.http_linked,
            clusters_total: total,
            clusters_shown: clusters.len(),
            clusters_by_severity: by_sev,
            services: sorted_counts(&services),
            window: Window {
                start,
                end,
                minutes,
            },
        },
        settings,
        thresholds: Thresholds::default(),
        deploy: deploy_view,
        newest_revision,
        chains,
        timeline,
        code: code_summary,
        clusters,
    }
}

/// A Logs Explorer link to a cluster's exemplar entries, over the cluster's window.
fn cluster_link(cloud: &CloudInput, exemplars: &[Exemplar], c: &Cluster) -> String {
    let mut ids: Vec<String> = exemplars
        .iter()
        .filter_map(|e| e.insert_id.clone())
        .collect();
    ids.dedup();
    let margin = chrono::TimeDelta::minutes(1);
    let from = c.first_seen.map_or(cloud.query.from, |t| t - margin);
    let until = c.last_seen.map_or(cloud.query.until, |t| t + margin);
    logs_explorer_url(
        &cloud.query.project,
        &cloud.scope.entries_query(&ids),
        from,
        until,
    )
}

fn view(
    rank: usize,
    c: &Cluster,
    score: Score,
    rules: &RuleSet,
    cloud: Option<&CloudInput>,
    history: &ClusterHistory<'_>,
) -> ClusterView {
    let mut exemplars = c.early.clone();
    for ex in &c.late {
        if !exemplars
            .iter()
            .any(|e| e.position == ex.position && e.insert_id == ex.insert_id)
        {
            exemplars.push(ex.clone());
        }
    }
    let rule = c.signature.rule.and_then(|i| rules.rules().get(i));
    let judged = facts::judge(c, rule);
    let whys = build_whys(c, &exemplars, &judged, history);
    let top_parts: Vec<String> = {
        let mut parts: Vec<_> = score.parts.iter().filter(|p| p.points > 0.0).collect();
        parts.sort_by(|a, b| b.points.total_cmp(&a.points));
        parts
            .iter()
            .map(|p| format!("{} (+{})", p.reason, p.points))
            .collect()
    };
    let sig = &c.signature;
    ClusterView {
        rank,
        title: c.title(),
        fingerprint: c.fingerprint.clone(),
        severity: c.severity,
        severity_source: c.severity_source,
        count: c.count,
        first_seen: c.first_seen,
        last_seen: c.last_seen,
        services: sorted_counts(&c.services),
        revisions: sorted_counts(&c.revisions),
        locations: sorted_counts(&c.locations),
        instances: c.instances.len(),
        rule: rule.map(|r| r.id.clone()),
        category: rule.and_then(|r| r.category.clone()),
        tags: rule.map(|r| r.tags.clone()).unwrap_or_default(),
        signature: SignatureView {
            kind: sig.kind,
            key: sig.key.clone(),
            exception: sig.exception.clone(),
            frame: sig.frame.clone(),
            captures: sig.captures.clone(),
        },
        why_ranked: format!("Score {}: {}.", score.total, top_parts.join(", ")),
        score,
        http_failures: c.http.clone(),
        error_groups: c.error_groups.iter().cloned().collect(),
        source_locations: sorted_counts(&c.source_locations),
        joined_lines: c.joined_lines,
        subsumes: c.subsumes.clone(),
        whys,
        facts: judged.facts,
        ruled_out: judged.ruled_out,
        hints: rule
            .map(|r| r.hints.iter().map(|h| render(h, &sig.captures)).collect())
            .unwrap_or_default(),
        logs_explorer_url: cloud.map(|cl| cluster_link(cl, &exemplars, c)),
        exemplars,
        change: history.change.copied(),
        only_in_newest_revision: false,
        precursors: Vec::new(),
        code: None,
    }
}

/// A tera instance for markdown: no HTML autoescape, and the filters that keep log
/// text harmless (`fence`, `md`, `code`).
pub(crate) fn new_tera() -> tera::Tera {
    let mut tera = tera::Tera::default();
    tera.autoescape_on(Vec::new());
    tera.register_filter("fence", filters::fence);
    tera.register_filter("md", filters::md);
    tera.register_filter("code", filters::code);
    tera
}

/// Renders the report through a template: the built-in one, or a user's file.
pub struct Renderer {
    tera: tera::Tera,
    name: String,
}

fn tera_error(name: &str, e: &tera::Error) -> Error {
    Error::Template {
        name: name.to_string(),
        detail: one_line(e),
    }
}

impl Renderer {
    /// The built-in five-whys template, or `template` (name, text) instead.
    pub fn new(template: Option<(String, String)>) -> Result<Renderer> {
        let mut tera = new_tera();
        let (name, text) =
            template.unwrap_or_else(|| (FIVE_WHYS.to_string(), FIVE_WHYS_TEMPLATE.to_string()));
        tera.add_raw_template(&name, &text)
            .map_err(|e| tera_error(&name, &e))?;
        Ok(Renderer { tera, name })
    }

    /// Renders the report.
    pub fn render(&self, report: &Report) -> Result<String> {
        let ctx = tera::Context::from_serialize(report).map_err(|e| tera_error(&self.name, &e))?;
        self.tera
            .render(&self.name, &ctx)
            .map_err(|e| tera_error(&self.name, &e))
    }
}
