//! `gcp-triage analyze`, stage by stage: [`Setup`] (everything that can be wrong with
//! the configuration fails before any log is read), [`read`] (source → stitch →
//! signature → cluster), [`deploy_input`] (the windows around a deploy), [`Verdicts`]
//! (the comparison, precursors and the exit gates), [`explain`] (rank, code evidence,
//! report), [`emit`] (sinks) and [`exit_status`].

use std::collections::HashMap;
use std::io::Write as _;

use chrono::{DateTime, Utc};

use super::{MAX_WARNINGS, Status, fetch_pages, print_filter, warn, warn_info};
use crate::cluster::{Cluster, Clusterer, Finished};
use crate::deploy::{Change, Windows};
use crate::entry::Severity;
use crate::error::{Error, Result, one_line};
use crate::redact::Redactor;
use crate::report::history::{Comparisons, DeployInput};
use crate::report::issue::IssueRenderer;
use crate::report::{self, CloudInput, Renderer, ReportInput, ReportSettings};
use crate::settings::{Analyze, BigQuery, Cloud, DeployAnchor, Format, Output, Source, Verbosity};
use crate::signature::rules::RuleSet;
use crate::sink::{self, Assignments};
use crate::sink::{actions, github};
use crate::source::bigquery;
use crate::source::files::{self, Item};
use crate::stitch::{Stitched, Stitcher};

/// A user template: (name, text).
fn read_template(path: Option<&std::path::Path>) -> Result<Option<(String, String)>> {
    path.map(|path| {
        std::fs::read_to_string(path)
            .map(|text| (path.display().to_string(), text))
            .map_err(|source| Error::ReadTemplate {
                path: path.to_path_buf(),
                source,
            })
    })
    .transpose()
}

/// Files GitHub issues and writes the Actions files, after the report is out. Returns
/// the first publishing failure.
fn publish(
    s: &Analyze,
    output: Output,
    report: &report::Report,
    markdown: Option<&str>,
    issue_renderer: Option<&IssueRenderer>,
) -> Option<Error> {
    let mut first_error: Option<Error> = None;
    let mut filed = Vec::new();
    if let (Some(gh), Some(r)) = (&s.github, issue_renderer) {
        let mut dry = Vec::new();
        let publication = github::file_issues(report, gh, r, s.run_url.as_deref(), &mut dry);
        if !dry.is_empty() {
            let text = String::from_utf8_lossy(&dry);
            let text = if s.actions.is_some() {
                actions::guarded(&text)
            } else {
                text.into_owned()
            };
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
        if output.verbosity != Verbosity::Quiet {
            for f in &publication.filed {
                let what = match f.action {
                    github::Action::Created => "created",
                    github::Action::Regression => "created (regression)",
                    github::Action::Commented => "commented on",
                    github::Action::WouldCreate
                    | github::Action::WouldCreateRegression
                    | github::Action::WouldComment => continue,
                };
                warn_info(&format!(
                    "{what} {} for cluster {}",
                    f.url.as_deref().unwrap_or("an issue"),
                    f.fingerprint
                ));
            }
        }
        filed = publication.filed;
        first_error = publication.error;
    }
    if let Some(a) = &s.actions {
        let _ = std::io::stderr()
            .lock()
            .write_all(actions::annotations(report).as_bytes());
        if let (Some(path), Some(md)) = (&a.summary, markdown)
            && let Err(e) = actions::write_summary(path, md)
        {
            first_error.get_or_insert(e);
        }
        if let Some(path) = &a.output {
            let count = |pred: fn(github::Action) -> bool| {
                filed.iter().filter(|f| pred(f.action)).count().to_string()
            };
            let urls: Vec<&str> = filed.iter().filter_map(|f| f.url.as_deref()).collect();
            let outputs = [
                ("clusters", report.summary.clusters_total.to_string()),
                (
                    "top_fingerprint",
                    report
                        .clusters
                        .first()
                        .map(|c| c.fingerprint.clone())
                        .unwrap_or_default(),
                ),
                ("partial", report.partial.to_string()),
                (
                    "issues_created",
                    count(|a| matches!(a, github::Action::Created | github::Action::Regression)),
                ),
                ("issues_updated", count(|a| a == github::Action::Commented)),
                ("issue_urls", urls.join("\n")),
                (
                    "report_path",
                    s.out
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                ),
            ];
            if let Err(e) = actions::write_outputs(path, &outputs) {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error
}

/// Revisions whose first entry is tracked (for `--deployed-revision` and the newest
/// revision).
const MAX_REVISIONS: usize = 1000;

/// The time of the first entry of `revision` in the Cloud Logging window of `cloud`
/// (one request: oldest first, one entry, any severity).
fn first_entry_of(
    cloud: &Cloud,
    revision: &str,
    output: Output,
) -> Result<chrono::DateTime<chrono::Utc>> {
    let mut scope = cloud.scope.clone();
    scope.revision = Some(revision.to_string());
    scope.min_severity = crate::entry::Severity::Default;
    scope.extra = None;
    let mut request = cloud.request.clone();
    request.filter = scope.filter();
    request.limit = Some(1);
    request.oldest_first = true;
    let mut found = None;
    let lookup = Cloud {
        scope,
        request,
        print_filter: false,
    };
    let (_, error) = fetch_pages(&lookup, output, &mut |raw| {
        if found.is_none()
            && let files::Item::Entry(e) = files::parse_entry(1, raw)
        {
            found = e.timestamp;
        }
        Ok(())
    })?;
    if let Some(e) = error {
        return Err(e);
    }
    found.ok_or_else(|| {
        Error::Usage(format!(
            "--deployed-revision {revision}: no entry of that revision in Cloud Logging between {} and {} (widen --since or --from)",
            crate::source::query::timestamp(cloud.scope.from),
            crate::source::query::timestamp(cloud.scope.until)
        ))
    })
}

/// `gcp-triage analyze`.
pub fn analyze(s: &Analyze, output: Output) -> Result<Status> {
    if let Source::Cloud(cloud) = &s.source
        && cloud.print_filter
    {
        return print_filter(cloud);
    }
    if let Source::BigQuery(bq) = &s.source
        && (bq.print_sql || bq.estimate)
    {
        return bigquery_only(bq, s);
    }
    let setup = Setup::new(s, output)?;
    let assignments = s
        .assignments
        .as_deref()
        .map(Assignments::create)
        .transpose()?;
    let read = read(s, &setup, assignments, output)?;
    let (deploy, deploy_error) = deploy_input(s, setup.deployed_at, &read);
    let verdicts = Verdicts::new(s, &read.finished, deploy.as_ref());
    let Read {
        finished,
        summary,
        source_error,
        sink_error,
        ..
    } = read;
    let gates = verdicts.gates;
    let report = explain(
        s,
        &setup,
        summary,
        finished,
        deploy,
        (verdicts.comparisons, verdicts.precursors),
    );
    let publish_error = emit(s, output, &setup, &report)?;
    let errors = [sink_error.or(source_error), publish_error, deploy_error];
    Ok(exit_status(s, output, errors, &gates))
}

/// `--print-sql` (no credentials) and `--estimate` (a dry run): print and stop.
fn bigquery_only(bq: &BigQuery, s: &Analyze) -> Result<Status> {
    let rules = RuleSet::load(s.builtin_rules, &s.rules)?;
    if bq.print_sql {
        let (_, not) = bigquery::sql::sql_rules(&rules);
        for (r, why) in not {
            warn_info(&format!(
                "rule {} cannot run as RE2 ({why}): its entries are grouped by the fallback in SQL and signed by it on the exemplars",
                r.id
            ));
        }
        sink::stdout(&bigquery::sql::query(
            bq,
            &rules,
            &bigquery::sql::Grouping::Coarse,
        ))?;
        return Ok(Status::ok());
    }
    let (_, job) = bigquery::estimate(bq, &rules)?;
    let bytes = job.bytes_processed.unwrap_or(0);
    sink::stdout(&format!(
        "{bytes} bytes would be processed ({:.2} GiB) by the query on {} in project {}; --maximum-bytes-billed is {}",
        bytes as f64 / f64::from(1u32 << 30),
        bq.table.sql(),
        job.project,
        bq.maximum_bytes_billed
    ))?;
    Ok(Status::ok())
}

/// What is known before any log is read.
struct Setup {
    rules: RuleSet,
    renderer: Renderer,
    issue_renderer: Option<IssueRenderer>,
    redactor: Redactor,
    /// `--deployed-at`, or the first entry of `--deployed-revision` on Cloud Logging.
    deployed_at: Option<DateTime<Utc>>,
    /// The Cloud Logging read, moved to start a baseline before the deploy.
    moved: Option<Cloud>,
    /// The same for the Log Analytics engine.
    moved_bq: Option<BigQuery>,
}

impl Setup {
    fn new(s: &Analyze, output: Output) -> Result<Setup> {
        let rules = RuleSet::load(s.builtin_rules, &s.rules)?;
        let renderer = Renderer::new(read_template(s.template.as_deref())?)?;
        let issue_renderer = match &s.github {
            Some(_) => Some(IssueRenderer::new(read_template(
                s.issue_template.as_deref(),
            )?)?),
            None => None,
        };
        // With --deployed-revision on Cloud Logging, the deploy time is asked for first
        // and the window moved to start a baseline before it.
        let mut deployed_at = match s.deploy.as_ref().map(|d| &d.anchor) {
            Some(DeployAnchor::At(t)) => Some(*t),
            _ => None,
        };
        let mut moved: Option<Cloud> = None;
        if let (Source::Cloud(cloud), Some(d)) = (&s.source, &s.deploy)
            && let DeployAnchor::Revision(rev) = &d.anchor
        {
            let at = first_entry_of(cloud, rev, output)?;
            let mut c = (**cloud).clone();
            c.set_from(crate::deploy::back(
                at,
                d.baseline.unwrap_or(c.scope.until - at),
            ));
            deployed_at = Some(at);
            moved = Some(c);
        }
        let mut moved_bq: Option<BigQuery> = None;
        if let (Source::BigQuery(bq), Some(d)) = (&s.source, &s.deploy)
            && let DeployAnchor::Revision(rev) = &d.anchor
        {
            let at = bigquery::first_entry_of(bq, rev)?.ok_or_else(|| {
                Error::Usage(format!(
                    "--deployed-revision {rev}: no entry of that revision in {} between {} and {} (widen --since or --from)",
                    bq.table.sql(),
                    crate::source::query::timestamp(bq.cloud.scope.from),
                    crate::source::query::timestamp(bq.cloud.scope.until)
                ))
            })?;
            let mut b = (**bq).clone();
            b.cloud.set_from(crate::deploy::back(
                at,
                d.baseline.unwrap_or(b.cloud.scope.until - at),
            ));
            b.split_at = Some(at);
            deployed_at = Some(at);
            moved_bq = Some(b);
        }
        // Every input opens before any is read, so a typo fails before anything is printed.
        if let Source::Files(inputs) = &s.source {
            files::check_inputs(inputs)?;
            let runner = s.actions.as_ref();
            for (flag, out) in [
                ("--out", s.out.as_ref()),
                ("--assignments", s.assignments.as_ref()),
                (
                    "GITHUB_STEP_SUMMARY",
                    runner.and_then(|a| a.summary.as_ref()),
                ),
                ("GITHUB_OUTPUT", runner.and_then(|a| a.output.as_ref())),
            ] {
                if let Some(out) = out {
                    files::check_not_an_input(flag, out, inputs)?;
                }
            }
        }
        if let (Some(out), Some(csv)) = (&s.out, &s.assignments)
            && (out == csv || same_file::is_same_file(out, csv).unwrap_or(false))
        {
            return Err(Error::Usage(format!(
                "--out and --assignments both name {}: each needs its own file",
                out.display()
            )));
        }
        let redactor = if s.keep_personal_data {
            Redactor::keeping_personal_data()
        } else {
            Redactor::default()
        };
        Ok(Setup {
            rules,
            renderer,
            issue_renderer,
            redactor,
            deployed_at,
            moved,
            moved_bq,
        })
    }
}

/// What the read stage hands on: the finished clusters and how the input was read.
struct Read {
    finished: Finished,
    summary: ReadSummary,
    /// First timestamp of each revision (at most [`MAX_REVISIONS`]).
    revision_first: HashMap<String, DateTime<Utc>>,
    /// The error that stopped the source part-way.
    source_error: Option<Error>,
    /// The error that stopped writing assignments.
    sink_error: Option<Error>,
}

/// How the input was read, for the report.
struct ReadSummary {
    read: u64,
    skipped: u64,
    warnings: Vec<String>,
    /// The query's window, else the input's first and last timestamps.
    span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    cloud: Option<CloudInput>,
    partial_reason: Option<String>,
    newest_revision: Option<String>,
}

/// Clusters entries as the stitcher hands them on, writing assignments if asked.
struct Folder<'r> {
    clusterer: Clusterer<'r>,
    assignments: Option<Assignments>,
    sink_error: Option<Error>,
}

impl Folder<'_> {
    fn fold(&mut self, st: Stitched) {
        // The rows an assignment would name, only when assignments are written.
        let rows: Vec<(Option<String>, u64)> = if self.assignments.is_some() {
            std::iter::once((st.entry.insert_id.clone(), st.entry.index))
                .chain(st.joined.iter().map(|j| (j.insert_id.clone(), j.index)))
                .collect()
        } else {
            Vec::new()
        };
        if let Some(fp) = self.clusterer.add(st)
            && let Some(a) = self.assignments.as_mut()
            && self.sink_error.is_none()
        {
            for (id, pos) in rows {
                if let Err(e) = a.write(id.as_deref(), pos, &fp) {
                    self.sink_error = Some(e);
                    break;
                }
            }
        }
    }

    /// The clusters, with the assignments decided only at the end written.
    fn finish(mut self) -> (Finished, Option<Error>) {
        let finished = self.clusterer.finish();
        if let Some(mut a) = self.assignments {
            for row in &finished.assignments {
                if self.sink_error.is_none()
                    && let Err(e) =
                        a.write(row.insert_id.as_deref(), row.position, &row.fingerprint)
                {
                    self.sink_error = Some(e);
                }
            }
            if self.sink_error.is_none()
                && let Err(e) = a.finish(&finished.folded)
            {
                self.sink_error = Some(e);
            }
        }
        (finished, self.sink_error)
    }
}

/// Tracks the input's time span and each revision's first entry.
#[derive(Default)]
struct Span {
    span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    revision_first: HashMap<String, DateTime<Utc>>,
}

impl Span {
    fn observe(&mut self, e: &crate::entry::Entry) {
        let Some(t) = e.timestamp else {
            return;
        };
        self.span = Some(self.span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
        if let Some(r) = &e.revision {
            let room = self.revision_first.len() < MAX_REVISIONS;
            if let Some(first) = self.revision_first.get_mut(r) {
                *first = (*first).min(t);
            } else if room {
                self.revision_first.insert(r.clone(), t);
            }
        }
    }

    /// The newest of several revisions (by first entry).
    fn newest_revision(&self) -> Option<String> {
        (self.revision_first.len() > 1)
            .then(|| {
                self.revision_first
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                    .map(|(r, _)| r.clone())
            })
            .flatten()
    }
}

/// The read stage: every entry of the source through the stitcher into the clusterer.
/// A source that fails before its first entry is an error (nothing to report); one that
/// fails part-way leaves its error in [`Read::source_error`] and what was read.
fn read(
    s: &Analyze,
    setup: &Setup,
    assignments: Option<Assignments>,
    output: Output,
) -> Result<Read> {
    let rules = &setup.rules;
    let mut folder = Folder {
        clusterer: Clusterer::new(rules, s.min_severity)
            .keep_assignments(assignments.is_some())
            .redactor(setup.redactor),
        assignments,
        sink_error: None,
    };
    let each = |e: &mut crate::entry::Entry| crate::cluster::prepare(rules, s.min_severity, e);
    let prepare = files::Prepare {
        counted_below: s.min_severity,
        each: &each,
    };
    let mut stitcher = Stitcher::default();
    let mut span = Span::default();
    let (mut read, mut skipped, mut next_index) = (0u64, 0u64, 0u64);
    let mut source_error: Option<Error> = None;
    let mut cloud_input: Option<CloudInput> = None;
    // What the report should say about how the input was read.
    let mut warnings: Vec<String> = Vec::new();
    {
        let mut on_item = |name: &str, item: Item| -> Result<()> {
            read += 1;
            match item {
                Item::Entry(e) => {
                    span.observe(&e);
                    stitcher.push(*e, &mut |st| folder.fold(st));
                    Ok(())
                }
                Item::Malformed { index, line, error } => {
                    if s.strict {
                        return Err(Error::StrictEntry {
                            path: name.to_string(),
                            index,
                            source: error,
                        });
                    }
                    skipped += 1;
                    if skipped <= MAX_WARNINGS || output.verbosity == Verbosity::Verbose {
                        let at = line.map_or(format!("entry {index}"), |l| format!("line {l}"));
                        warn(
                            output,
                            &format!("{name}: {at}: malformed entry skipped: {error}"),
                        );
                    }
                    Ok(())
                }
            }
        };
        match &s.source {
            Source::Files(inputs) => {
                for (i, input) in inputs.iter().enumerate() {
                    if let Some(earlier) = files::repeats(inputs, i) {
                        let note = format!("{input}: the same input as {earlier}, read once");
                        warn(output, &note);
                        warnings.push(note);
                        continue;
                    }
                    let res = files::read_input(
                        input,
                        s.input_format,
                        s.threads,
                        Some(&prepare),
                        &mut next_index,
                        &mut |item| on_item(input, item),
                    );
                    match res {
                        Ok(notes) => warnings.extend(input_notes(input, &notes, output)),
                        Err(e) => {
                            source_error = Some(e);
                            break;
                        }
                    }
                }
            }
            Source::BigQuery(bq) => {
                let bq = setup.moved_bq.as_ref().unwrap_or(bq);
                let outcome = bigquery::groups(bq, rules)?;
                for w in &outcome.warnings {
                    warn(output, w);
                }
                warnings.extend(outcome.warnings.iter().cloned());
                for g in &outcome.groups {
                    for e in &g.exemplars {
                        span.observe(e);
                    }
                }
                read = outcome.groups.iter().map(|g| g.count).sum();
                cloud_input = Some(bigquery_input(bq, &outcome));
                for g in outcome.groups {
                    folder.clusterer.add_group(&g);
                }
            }
            Source::Cloud(cloud) => {
                let cloud = setup.moved.as_ref().unwrap_or(cloud);
                let outcome = fetch_pages(cloud, output, &mut |raw| {
                    next_index += 1;
                    on_item("Cloud Logging", files::parse_entry(next_index, raw))
                });
                let (query, error) = outcome?;
                cloud_input = Some(CloudInput {
                    query,
                    scope: cloud.scope.clone(),
                });
                source_error = error;
            }
        }
    }
    // A source that failed before its first entry leaves nothing to report.
    if read == 0
        && let Some(e) = source_error
    {
        return Err(e);
    }
    stitcher.finish(&mut |st| folder.fold(st));
    if skipped > MAX_WARNINGS && output.verbosity != Verbosity::Verbose {
        warn(
            output,
            &format!(
                "{} more malformed entries not shown (-v shows all)",
                skipped - MAX_WARNINGS
            ),
        );
    }
    let (finished, sink_error) = folder.finish();
    Ok(Read {
        summary: ReadSummary {
            read,
            skipped,
            warnings,
            span: cloud_input
                .as_ref()
                .map(|c| (c.query.from, c.query.until))
                .or(span.span),
            cloud: cloud_input,
            partial_reason: source_error.as_ref().map(|e| one_line(e)),
            newest_revision: span.newest_revision(),
        },
        finished,
        revision_first: span.revision_first,
        source_error,
        sink_error,
    })
}

/// The report's `query` for a Log Analytics run.
fn bigquery_input(bq: &BigQuery, outcome: &bigquery::Outcome) -> CloudInput {
    let scope = &bq.cloud.scope;
    let filter = scope.filter();
    CloudInput {
        query: report::Query {
            project: outcome.job.project.clone(),
            logs_explorer_url: crate::source::query::logs_explorer_url(
                &outcome.job.project,
                &filter,
                scope.from,
                scope.until,
            ),
            filter,
            from: scope.from,
            until: scope.until,
            limit: None,
            endpoint: bq.endpoint.clone(),
            pages: 0,
            requests: outcome.job.requests,
            retries: outcome.job.retries,
            engine: "bigquery",
            bigquery: Some(report::BigQueryJob {
                table: format!(
                    "{}.{}.{}",
                    bq.table.project, bq.table.dataset, bq.table.view
                ),
                sql: outcome.sql.clone(),
                job_id: outcome.job.job_id.clone(),
                bytes_processed: outcome.job.bytes_processed,
                bytes_billed: outcome.job.bytes_billed,
                maximum_bytes_billed: bq.maximum_bytes_billed,
                cache_hit: outcome.job.cache_hit,
                groups: outcome.groups.len() as u64,
                follow_ups: outcome.follow_ups,
            }),
        },
        scope: scope.clone(),
    }
}

/// The notes a file's reading left (a guessed encoding, one page of a longer result),
/// warned about now and kept for the report.
fn input_notes(input: &str, notes: &files::ReadNotes, output: Output) -> Vec<String> {
    let more = notes.more_pages.then(|| {
        "one page of a longer result: its nextPageToken says more entries exist (fetch \
         them all, e.g. with gcp-triage fetch)"
            .to_string()
    });
    let mut out = Vec::new();
    for note in notes.guessed_encoding.iter().cloned().chain(more) {
        let note = format!("{input}: {note}");
        warn(output, &note);
        out.push(note);
    }
    out
}

/// The deploy the comparison is anchored on, or the usage error that leaves it out (the
/// report is still written).
fn deploy_input(
    s: &Analyze,
    deployed_at: Option<DateTime<Utc>>,
    read: &Read,
) -> (Option<DeployInput>, Option<Error>) {
    let Some(d) = s.deploy.as_ref() else {
        return (None, None);
    };
    let revision_first = &read.revision_first;
    let revision = match &d.anchor {
        DeployAnchor::Revision(r) => Some(r.clone()),
        DeployAnchor::At(_) => None,
    };
    let at = deployed_at.or_else(|| {
        revision
            .as_ref()
            .and_then(|r| revision_first.get(r).copied())
    });
    let (Some(at), Some((from, until))) = (at, read.summary.span) else {
        let message = match &revision {
            Some(r) => {
                let mut seen: Vec<&String> = revision_first.keys().collect();
                seen.sort();
                let seen: Vec<&str> = seen.iter().take(10).map(|s| s.as_str()).collect();
                format!(
                    "--deployed-revision {r}: no entry of that revision in the input (revisions seen: {})",
                    if seen.is_empty() {
                        "none".to_string()
                    } else {
                        seen.join(", ")
                    }
                )
            }
            None => "--deployed-at: the input has no timestamps to compare".to_string(),
        };
        return (None, Some(Error::Usage(message)));
    };
    if at < from || at > until {
        return (
            None,
            Some(Error::Usage(format!(
                "--deployed-at {}: outside the input, which runs from {} to {}",
                crate::source::query::timestamp(at),
                crate::source::query::timestamp(from),
                crate::source::query::timestamp(until)
            ))),
        );
    }
    let input = DeployInput {
        windows: Windows::new(at, d.baseline, from, until),
        revision,
        baseline_cut: d
            .baseline
            .is_some_and(|b| crate::deploy::back(at, b) < from),
        fail_on_new: d.fail_on_new,
    };
    (Some(input), None)
}

/// A cluster that trips a gate: (severity, title, entries; for `--fail-on-new`, the
/// change).
struct Hit {
    change: Option<Change>,
    severity: Severity,
    title: String,
    count: u64,
}

/// What the run concludes about the clusters before ranking: each cluster across the
/// deploy, the observed precursors, and the clusters that trip the exit gates.
struct Verdicts {
    comparisons: Comparisons,
    precursors: Vec<crate::precursor::Precursor>,
    gates: Gates,
}

/// The clusters that trip `--fail-on-new` (worst first) and `--fail-on`.
struct Gates {
    new_hits: Vec<Hit>,
    fail_hit: Option<Hit>,
}

impl Verdicts {
    fn new(s: &Analyze, finished: &Finished, deploy: Option<&DeployInput>) -> Verdicts {
        let clusters = &finished.clusters;
        // Each cluster across the deploy, once: for the gate and the report.
        let comparisons: Comparisons = deploy
            .map(|d| {
                clusters
                    .iter()
                    .map(|c| (c.fingerprint.clone(), d.windows.compare(&c.timeline)))
                    .collect()
            })
            .unwrap_or_default();
        let new_hits = match s.deploy.as_ref().and_then(|d| d.fail_on_new) {
            Some(floor) => new_hits(clusters, &comparisons, floor),
            None => Vec::new(),
        };
        let precursors = crate::precursor::find(&finished.onsets, |p| {
            clusters[p as usize].fingerprint.as_str()
        });
        let fail_hit = s
            .fail_on
            .and_then(|floor| {
                clusters
                    .iter()
                    .filter(|c| c.severity >= floor)
                    .max_by_key(|c| (c.severity, c.count))
            })
            .map(|c| Hit {
                change: None,
                severity: c.severity,
                title: c.title(),
                count: c.count,
            });
        Verdicts {
            comparisons,
            precursors,
            gates: Gates { new_hits, fail_hit },
        }
    }
}

/// Clusters at or above `floor` that are new or spiking after the deploy, worst first.
fn new_hits(clusters: &[Cluster], comparisons: &Comparisons, floor: Severity) -> Vec<Hit> {
    let mut hits: Vec<Hit> = clusters
        .iter()
        .filter(|c| c.severity >= floor)
        .filter_map(|c| {
            let cmp = comparisons.get(&c.fingerprint)?;
            match cmp.status {
                Some(st @ (Change::New | Change::Spiking)) => Some(Hit {
                    change: Some(st),
                    severity: c.severity,
                    title: c.title(),
                    count: cmp.after,
                }),
                _ => None,
            }
        })
        .collect();
    hits.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| b.count.cmp(&a.count))
            .then_with(|| a.title.cmp(&b.title))
    });
    hits
}

/// Rank, read the code for the top clusters, and build the report.
fn explain(
    s: &Analyze,
    setup: &Setup,
    summary: ReadSummary,
    finished: Finished,
    deploy: Option<DeployInput>,
    (comparisons, precursors): (Comparisons, Vec<crate::precursor::Precursor>),
) -> report::Report {
    let clusters = finished.clusters;
    let start = clusters.iter().filter_map(|c| c.first_seen).min();
    let end = clusters.iter().filter_map(|c| c.last_seen).max();
    let ranked = crate::rank::rank(clusters, start.zip(end));
    let code = match &s.code {
        Some(c) => crate::code::for_clusters(
            c.repo.as_deref(),
            c.commits.as_deref(),
            c.show_authors,
            ranked.iter().take(s.top).map(|(c, _)| c),
        ),
        None => (
            crate::code::CodeSummary {
                absent_reason: Some("--no-code: no repository was read".to_string()),
                ..crate::code::CodeSummary::default()
            },
            std::collections::BTreeMap::new(),
        ),
    };
    report::build(ReportInput {
        ranked,
        counts: finished.counts,
        entries_read: summary.read,
        entries_skipped: summary.skipped,
        inputs: match &s.source {
            Source::Files(inputs) => inputs.clone(),
            Source::Cloud(_) | Source::BigQuery(_) => Vec::new(),
        },
        partial_reason: summary.partial_reason,
        warnings: summary.warnings,
        settings: ReportSettings {
            top: s.top,
            min_severity: s.min_severity,
            fail_on: s.fail_on,
            keep_personal_data: s.keep_personal_data,
        },
        rules: &setup.rules,
        cloud: summary.cloud,
        deploy,
        comparisons,
        precursors,
        newest_revision: summary.newest_revision,
        span: summary.span,
        code,
    })
}

/// The sinks: the report file first (nothing later may lose it), stdout, then GitHub
/// and the Actions files. Returns the first publishing failure.
fn emit(
    s: &Analyze,
    output: Output,
    setup: &Setup,
    report: &report::Report,
) -> Result<Option<Error>> {
    let markdown = if s.out.is_some()
        || s.format == Format::Markdown
        || s.actions.as_ref().is_some_and(|a| a.summary.is_some())
    {
        Some(setup.renderer.render(report)?)
    } else {
        None
    };
    if let (Some(path), Some(md)) = (&s.out, &markdown) {
        sink::file(path, md)?;
    }
    // Under GitHub Actions, text that carries log lines is fenced off from the
    // runner's command parser (JSON cannot start a line with `::`).
    let guard = |text: String| {
        if s.actions.is_some() {
            actions::guarded(&text)
        } else {
            text
        }
    };
    match s.format {
        Format::Json => {
            let json = serde_json::to_string_pretty(report).map_err(Error::Serialize)?;
            sink::stdout(&json)?;
        }
        Format::Markdown => sink::stdout(&guard(markdown.clone().unwrap_or_default()))?,
        Format::Table => sink::stdout(&guard(sink::terminal::table(report)))?,
    }
    let publish_error = publish(
        s,
        output,
        report,
        markdown.as_deref(),
        setup.issue_renderer.as_ref(),
    );
    if output.verbosity == Verbosity::Verbose {
        let sm = &report.summary;
        warn_info(&format!(
            "{} entries read, {} skipped, {} joined, {} clustered, {} below {}, {} clusters",
            sm.entries_read,
            sm.entries_skipped,
            sm.entries_joined,
            sm.entries_clustered,
            sm.entries_below_threshold,
            s.min_severity,
            sm.clusters_total
        ));
    }
    Ok(publish_error)
}

/// The exit status: the source's or a sink's error first (a publishing error is printed
/// beside it), then publishing, then the deploy, then the gates.
fn exit_status(s: &Analyze, output: Output, errors: [Option<Error>; 3], gates: &Gates) -> Status {
    let [read_error, publish_error, deploy_error] = errors;
    if let Some(e) = read_error {
        if let Some(p) = &publish_error {
            let _ = writeln!(
                std::io::stderr().lock(),
                "gcp-triage: error: {}",
                one_line(p)
            );
        }
        return Status::failed(e);
    }
    if let Some(e) = publish_error.or(deploy_error) {
        return Status::failed(e);
    }
    let gate_failed = Status {
        code: 1,
        error: None,
    };
    if let (Some(floor), Some(hit)) = (
        s.deploy.as_ref().and_then(|d| d.fail_on_new),
        gates.new_hits.first(),
    ) {
        if output.verbosity != Verbosity::Quiet {
            let more = match gates.new_hits.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            let status = hit.change.map_or(String::new(), |c| c.to_string());
            warn_info(&format!(
                "--fail-on-new {floor}: {status} {} cluster \"{}\" ({} entries after the deploy){more}",
                hit.severity, hit.title, hit.count
            ));
        }
        return gate_failed;
    }
    if let Some(hit) = &gates.fail_hit {
        if output.verbosity != Verbosity::Quiet {
            warn_info(&format!(
                "--fail-on {}: found {} cluster \"{}\" ({} entries)",
                s.fail_on.map_or(String::new(), |f| f.to_string()),
                hit.severity,
                hit.title,
                hit.count
            ));
        }
        return gate_failed;
    }
    Status::ok()
}
