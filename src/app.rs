//! Wires source → stitch → signature → cluster → rank → report → sinks for each
//! subcommand, and decides the exit status.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;

use crate::cluster::Clusterer;
use crate::deploy::{Change, Windows};
use crate::error::{Error, Result, one_line};
use crate::redact::Redactor;
use crate::report::history::{Comparisons, DeployInput};
use crate::report::issue::IssueRenderer;
use crate::report::{self, CloudInput, Query, Renderer, ReportInput, ReportSettings};
use crate::settings::{Analyze, Cloud, DeployAnchor, Fetch, Format, Output, Source, Verbosity};
use crate::signature::fallback::Fallback;
use crate::signature::rules::RuleSet;
use crate::signature::{self, SignatureKind};
use crate::sink::progress::Progress;
use crate::sink::{self, Assignments, EntryWriter};
use crate::sink::{actions, github};
use crate::source::cloud_logging::{self, Event};
use crate::source::files::{self, Item};
use crate::source::query::logs_explorer_url;
use crate::stitch::{Stitched, Stitcher};

/// How a run ended: its exit code, and an error to print after the report (a source
/// that failed part-way still produces a report of what was read).
#[derive(Debug)]
pub struct Status {
    /// Process exit code.
    pub code: i32,
    /// An error that did not stop the report.
    pub error: Option<Error>,
}

impl Status {
    /// Exit 0.
    fn ok() -> Status {
        Status {
            code: 0,
            error: None,
        }
    }

    /// The exit code of `e`, with `e` printed after the report.
    fn failed(e: Error) -> Status {
        Status {
            code: e.exit_code(),
            error: Some(e),
        }
    }
}

/// At most this many malformed-entry warnings are printed (all with `-v`).
const MAX_WARNINGS: u64 = 20;

fn warn(output: Output, text: &str) {
    if output.verbosity == Verbosity::Quiet {
        return;
    }
    let mut err = std::io::stderr().lock();
    let label = if output.color {
        "\x1b[33mwarning\x1b[0m"
    } else {
        "warning"
    };
    // Warnings may quote the input (a malformed entry's value): masked like a report.
    let text = Redactor::default().redact(text).replace('\n', " ");
    // A failed write to stderr leaves nothing better to do.
    let _ = writeln!(err, "{label}: {text}");
}

/// Runs a Cloud Logging fetch, handing every raw entry to `on_entry` as pages arrive,
/// with progress on stderr. Returns the query to echo and the error that stopped it
/// part-way (`Err` when it failed before any page arrived: there is nothing to report).
fn fetch_pages(
    cloud: &Cloud,
    output: Output,
    on_entry: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<(Query, Option<Error>)> {
    let mut progress = Progress::new(output);
    let outcome = cloud_logging::fetch(cloud.request.clone(), &mut |event| match event {
        Event::Started {
            project,
            credentials,
        } => {
            progress.started(&project, credentials);
            Ok(())
        }
        Event::Page { entries, .. } => {
            progress.page(entries.len());
            entries.iter().try_for_each(|raw| on_entry(raw.get()))
        }
        Event::Retry { reason, wait } => {
            progress.retry(&reason, wait);
            Ok(())
        }
    });
    progress.finish();
    let stats = outcome.stats;
    if output.verbosity == Verbosity::Verbose {
        warn_info(&format!(
            "Cloud Logging: {} pages, {} entries, {} requests, {} retries",
            stats.pages, stats.entries, stats.requests, stats.retries
        ));
    }
    let (Some(project), true) = (outcome.project, stats.pages > 0) else {
        return Err(outcome.error.unwrap_or(Error::FetchThread));
    };
    let query = Query {
        logs_explorer_url: logs_explorer_url(
            &project,
            &cloud.request.filter,
            cloud.scope.from,
            cloud.scope.until,
        ),
        project,
        filter: cloud.request.filter.clone(),
        from: cloud.scope.from,
        until: cloud.scope.until,
        limit: cloud.request.limit,
        endpoint: cloud.request.endpoint.clone(),
        pages: stats.pages,
        requests: stats.requests,
        retries: stats.retries,
    };
    Ok((query, outcome.error))
}

/// `--print-filter`: the query, and nothing else.
fn print_filter(cloud: &Cloud) -> Result<Status> {
    sink::stdout(&cloud.request.filter)?;
    Ok(Status::ok())
}

/// `gcp-triage fetch`: raw entries to NDJSON, written as pages arrive. A fetch that
/// fails part-way keeps what arrived and exits with the source's code.
pub fn fetch(s: &Fetch, output: Output) -> Result<Status> {
    if s.cloud.print_filter {
        return print_filter(&s.cloud);
    }
    let mut writer = EntryWriter::create(s.out.as_deref())?;
    let mut written = 0u64;
    let result = fetch_pages(&s.cloud, output, &mut |raw| {
        written += 1;
        writer.write(raw)
    });
    writer.finish()?;
    let (query, error) = result?;
    if output.verbosity != Verbosity::Quiet && s.out.is_some() {
        warn_info(&format!(
            "{written} entries from projects/{} written{}",
            query.project,
            s.out
                .as_ref()
                .map_or(String::new(), |p| format!(" to {}", p.display()))
        ));
    }
    Ok(error.map_or_else(Status::ok, Status::failed))
}

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

/// `gcp-triage analyze`.
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

pub fn analyze(s: &Analyze, output: Output) -> Result<Status> {
    if let Source::Cloud(cloud) = &s.source
        && cloud.print_filter
    {
        return print_filter(cloud);
    }
    // Everything that can be wrong with the configuration fails before any log is read.
    let rules = RuleSet::load(s.builtin_rules, &s.rules)?;
    let template = read_template(s.template.as_deref())?;
    let renderer = Renderer::new(template)?;
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
        && !cloud.print_filter
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
    // Every input opens before any is read, so a typo fails before anything is printed.
    if let Source::Files(inputs) = &s.source {
        files::check_inputs(inputs)?;
    }
    let mut assignments = s
        .assignments
        .as_deref()
        .map(Assignments::create)
        .transpose()?;

    let redactor = if s.keep_personal_data {
        Redactor::keeping_personal_data()
    } else {
        Redactor::default()
    };
    let mut clusterer = Clusterer::new(&rules, s.min_severity)
        .keep_assignments(s.assignments.is_some())
        .redactor(redactor);
    let each = |e: &mut crate::entry::Entry| crate::cluster::prepare(&rules, s.min_severity, e);
    let prepare = files::Prepare {
        counted_below: s.min_severity,
        each: &each,
    };
    let mut stitcher = Stitcher::default();
    let mut read = 0u64;
    let mut skipped = 0u64;
    let mut next_index = 0u64;
    let mut source_error: Option<Error> = None;
    let mut sink_error: Option<Error> = None;

    let mut fold = |st: Stitched, clusterer: &mut Clusterer<'_>, sink_error: &mut Option<Error>| {
        // The rows an assignment would name, only when assignments are written.
        let rows: Vec<(Option<String>, u64)> = if assignments.is_some() {
            std::iter::once((st.entry.insert_id.clone(), st.entry.index))
                .chain(st.joined.iter().map(|j| (j.insert_id.clone(), j.index)))
                .collect()
        } else {
            Vec::new()
        };
        if let Some(fp) = clusterer.add(st)
            && let Some(a) = assignments.as_mut()
            && sink_error.is_none()
        {
            for (id, pos) in rows {
                if let Err(e) = a.write(id.as_deref(), pos, &fp) {
                    *sink_error = Some(e);
                    break;
                }
            }
        }
    };

    let mut cloud_input: Option<CloudInput> = None;
    // What the report should say about how the input was read.
    let mut warnings: Vec<String> = Vec::new();
    let mut span: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> = None;
    let mut revision_first: HashMap<String, chrono::DateTime<chrono::Utc>> = HashMap::new();
    {
        let mut on_item = |name: &str, item: Item| -> Result<()> {
            read += 1;
            match item {
                Item::Entry(e) => {
                    if let Some(t) = e.timestamp {
                        span = Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
                        if let Some(r) = &e.revision {
                            let room = revision_first.len() < MAX_REVISIONS;
                            if let Some(first) = revision_first.get_mut(r) {
                                *first = (*first).min(t);
                            } else if room {
                                revision_first.insert(r.clone(), t);
                            }
                        }
                    }
                    stitcher.push(*e, &mut |st| fold(st, &mut clusterer, &mut sink_error));
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
                for input in inputs {
                    let res = files::read_input(
                        input,
                        s.input_format,
                        s.threads,
                        Some(&prepare),
                        &mut next_index,
                        &mut |item| on_item(input, item),
                    );
                    match res {
                        Ok(notes) => {
                            let more = notes.more_pages.then(|| {
                                "one page of a longer result: its nextPageToken says more \
                                 entries exist (fetch them all, e.g. with gcp-triage fetch)"
                                    .to_string()
                            });
                            for note in notes.guessed_encoding.into_iter().chain(more) {
                                let note = format!("{input}: {note}");
                                warn(output, &note);
                                warnings.push(note);
                            }
                        }
                        Err(e) => {
                            source_error = Some(e);
                            break;
                        }
                    }
                }
            }
            Source::Cloud(cloud) => {
                let cloud = moved.as_ref().unwrap_or(cloud);
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
    stitcher.finish(&mut |st| fold(st, &mut clusterer, &mut sink_error));
    if skipped > MAX_WARNINGS && output.verbosity != Verbosity::Verbose {
        warn(
            output,
            &format!(
                "{} more malformed entries not shown (-v shows all)",
                skipped - MAX_WARNINGS
            ),
        );
    }

    let finished = clusterer.finish();
    let (clusters, counts, late) = (finished.clusters, finished.counts, finished.assignments);
    let folded = finished.folded;
    if let Some(a) = assignments.as_mut() {
        for row in late {
            if sink_error.is_none()
                && let Err(e) = a.write(row.insert_id.as_deref(), row.position, &row.fingerprint)
            {
                sink_error = Some(e);
            }
        }
    }
    if let Some(a) = assignments
        && sink_error.is_none()
        && let Err(e) = a.finish(&folded)
    {
        sink_error = Some(e);
    }

    let start = clusters.iter().filter_map(|c| c.first_seen).min();
    let end = clusters.iter().filter_map(|c| c.last_seen).max();
    let window = start.zip(end);
    // The span the comparison and the timeline cover: the query's window, else the
    // input's first and last timestamps.
    let span = cloud_input
        .as_ref()
        .map(|c| (c.query.from, c.query.until))
        .or(span);
    let newest_revision = (revision_first.len() > 1)
        .then(|| {
            revision_first
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                .map(|(r, _)| r.clone())
        })
        .flatten();
    let mut deploy_error: Option<Error> = None;
    let deploy = s.deploy.as_ref().and_then(|d| {
        let revision = match &d.anchor {
            DeployAnchor::Revision(r) => Some(r.clone()),
            DeployAnchor::At(_) => None,
        };
        let at = deployed_at.or_else(|| revision.as_ref().and_then(|r| revision_first.get(r).copied()));
        let (Some(at), Some((from, until))) = (at, span) else {
            deploy_error = Some(Error::Usage(match &revision {
                Some(r) => {
                    let mut seen: Vec<&String> = revision_first.keys().collect();
                    seen.sort();
                    let seen: Vec<&str> = seen.iter().take(10).map(|s| s.as_str()).collect();
                    format!(
                        "--deployed-revision {r}: no entry of that revision in the input (revisions seen: {})",
                        if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
                    )
                }
                None => "--deployed-at: the input has no timestamps to compare".to_string(),
            }));
            return None;
        };
        if at < from || at > until {
            deploy_error = Some(Error::Usage(format!(
                "--deployed-at {}: outside the input, which runs from {} to {}",
                crate::source::query::timestamp(at),
                crate::source::query::timestamp(from),
                crate::source::query::timestamp(until)
            )));
            return None;
        }
        Some(DeployInput {
            windows: Windows::new(at, d.baseline, from, until),
            revision,
            baseline_cut: d.baseline.is_some_and(|b| crate::deploy::back(at, b) < from),
            fail_on_new: d.fail_on_new,
        })
    });
    // Each cluster across the deploy, once: for the gate and the report.
    let comparisons: Comparisons = deploy
        .as_ref()
        .map(|d| {
            clusters
                .iter()
                .map(|c| (c.fingerprint.clone(), d.windows.compare(&c.timeline)))
                .collect()
        })
        .unwrap_or_default();
    let new_hits: Vec<(Change, crate::entry::Severity, String, u64)> =
        match s.deploy.as_ref().and_then(|d| d.fail_on_new) {
            Some(floor) => {
                let mut hits: Vec<_> = clusters
                    .iter()
                    .filter(|c| c.severity >= floor)
                    .filter_map(|c| {
                        let cmp = comparisons.get(&c.fingerprint)?;
                        match cmp.status {
                            Some(st @ (Change::New | Change::Spiking)) => {
                                Some((st, c.severity, c.title(), cmp.after))
                            }
                            _ => None,
                        }
                    })
                    .collect();
                hits.sort_by(|a, b| {
                    b.1.cmp(&a.1)
                        .then_with(|| b.3.cmp(&a.3))
                        .then_with(|| a.2.cmp(&b.2))
                });
                hits
            }
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
        .map(|c| (c.severity, c.title(), c.count));
    let ranked = crate::rank::rank(clusters, window);
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
    let report = report::build(ReportInput {
        ranked,
        counts,
        entries_read: read,
        entries_skipped: skipped,
        inputs: match &s.source {
            Source::Files(inputs) => inputs.clone(),
            Source::Cloud(_) => Vec::new(),
        },
        partial_reason: source_error.as_ref().map(|e| one_line(e)),
        warnings,
        settings: ReportSettings {
            top: s.top,
            min_severity: s.min_severity,
            fail_on: s.fail_on,
            keep_personal_data: s.keep_personal_data,
        },
        rules: &rules,
        cloud: cloud_input,
        deploy,
        comparisons,
        precursors,
        newest_revision,
        span,
        code,
    });

    // The report file first: nothing later may lose it.
    let markdown = if s.out.is_some()
        || s.format == Format::Markdown
        || s.actions.as_ref().is_some_and(|a| a.summary.is_some())
    {
        Some(renderer.render(&report)?)
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
            let json = serde_json::to_string_pretty(&report).map_err(Error::Serialize)?;
            sink::stdout(&json)?;
        }
        Format::Markdown => sink::stdout(&guard(markdown.clone().unwrap_or_default()))?,
        Format::Table => sink::stdout(&guard(sink::terminal::table(&report)))?,
    }
    let publish_error = publish(
        s,
        output,
        &report,
        markdown.as_deref(),
        issue_renderer.as_ref(),
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

    if let Some(e) = sink_error.or(source_error) {
        if let Some(p) = &publish_error {
            let _ = writeln!(
                std::io::stderr().lock(),
                "gcp-triage: error: {}",
                one_line(p)
            );
        }
        return Ok(Status::failed(e));
    }
    if let Some(e) = publish_error {
        return Ok(Status::failed(e));
    }
    if let Some(e) = deploy_error {
        return Ok(Status::failed(e));
    }
    if let (Some(floor), Some((status, sev, title, after))) = (
        s.deploy.as_ref().and_then(|d| d.fail_on_new),
        new_hits.first(),
    ) {
        if output.verbosity != Verbosity::Quiet {
            let more = match new_hits.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            warn_info(&format!(
                "--fail-on-new {floor}: {status} {sev} cluster \"{title}\" ({after} entries after the deploy){more}"
            ));
        }
        return Ok(Status {
            code: 1,
            error: None,
        });
    }
    if let Some((sev, title, count)) = fail_hit {
        if output.verbosity != Verbosity::Quiet {
            warn_info(&format!(
                "--fail-on {}: found {sev} cluster \"{title}\" ({count} entries)",
                s.fail_on.map_or(String::new(), |f| f.to_string())
            ));
        }
        return Ok(Status {
            code: 1,
            error: None,
        });
    }
    Ok(Status::ok())
}

fn warn_info(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "gcp-triage: {text}");
}

/// `gcp-triage rules check [DIR...]`.
pub fn rules_check(dirs: &[std::path::PathBuf]) -> Result<Status> {
    let rules = RuleSet::load(true, dirs)?;
    let problems = rules.check_examples();
    if !problems.is_empty() {
        return Err(Error::InvalidRules { problems });
    }
    let examples: usize = rules
        .rules()
        .iter()
        .map(|r| r.examples.len() + r.counter_examples.len())
        .sum();
    sink::stdout(&format!(
        "ok: {} rules, {examples} examples checked",
        rules.rules().len()
    ))?;
    Ok(Status::ok())
}

/// `gcp-triage rules explain MESSAGE`. The fingerprint is the raw message's, as in
/// `analyze`; every value shown is masked as a report masks it (a value that does not
/// survive the masking of the whole message is shown as redacted).
pub fn rules_explain(
    message: &str,
    dirs: &[std::path::PathBuf],
    redactor: Redactor,
) -> Result<Status> {
    let rules = RuleSet::load(true, dirs)?;
    let sig = signature::sign_message(&rules, message);
    let masked_message = redactor.redact(message);
    let secrets_masked = Redactor::keeping_personal_data().redact(message);
    let shown = |v: &str| -> String {
        if v.is_empty() || masked_message.contains(v) {
            v.to_string()
        } else if secrets_masked.contains(v) {
            // Personal data: its own mask when it shows alone, else a label.
            match redactor.redact(v) {
                std::borrow::Cow::Owned(m) => m,
                std::borrow::Cow::Borrowed(_) => "<personal data>".to_string(),
            }
        } else {
            crate::redact::REDACTED.to_string()
        }
    };
    let raw_facts = sig.facts.clone();
    let sig = sig.redacted(redactor);
    let mut out = String::new();
    let mut line = |k: &str, v: &str| {
        let _ = writeln!(out, "{k:<13} {v}");
    };
    match sig.kind {
        SignatureKind::Rule => {
            let rule = sig.rule.and_then(|i| rules.rules().get(i));
            line("matched", "rule");
            if let Some(r) = rule {
                line("rule", &format!("{} ({})", r.id, r.origin));
                line("pattern", &r.pattern);
                if let Some(sev) = r.severity {
                    line("severity", &format!("{sev} (used when the entry has none)"));
                }
            }
            for (k, v) in &sig.captures {
                line("capture", &format!("{k} = {:?}", shown(v)));
            }
            if let Some(r) = rule {
                // A template fact is no substring of the message: redact it as it is.
                let shown_fact = |f: &crate::signature::facts::Fact, v: &str| {
                    if f.template {
                        redactor.redact(v).into_owned()
                    } else {
                        shown(v)
                    }
                };
                explain_facts(r, &raw_facts, &shown_fact, &mut line);
            }
        }
        _ => match signature::fallback::fallback(message) {
            Fallback::Stack {
                lang,
                exception,
                frame,
                ..
            } => {
                line("matched", "no rule; fallback: stack trace");
                line("language", lang);
                line("exception", &redactor.redact(&exception));
                line(
                    "frame",
                    &frame
                        .as_deref()
                        .map_or("(no application frame found)".into(), |f| {
                            redactor.redact(f)
                        }),
                );
            }
            Fallback::Fields { key, title } => {
                line("matched", "no rule; fallback: JSON fields");
                line("title", &redactor.redact(&title));
                line("fields", &redactor.redact(&key));
            }
            Fallback::Template(t) => {
                line("matched", "no rule; fallback: masked template");
                line("template", &redactor.redact(&t));
                let mut masked = Vec::new();
                signature::fallback::mask_with(
                    signature::fallback::first_line(message),
                    Some(&mut masked),
                );
                for m in &masked {
                    line(
                        "masked",
                        &format!(
                            "{:<10} {:?} -> {}",
                            m.class,
                            shown(&m.original),
                            m.replacement
                        ),
                    );
                }
                if masked.is_empty() {
                    line("masked", "nothing: no value looked variable");
                }
            }
        },
    }
    line("title", &sig.title);
    line("key", &sig.key);
    line("fingerprint", &sig.fingerprint);
    sink::stdout(&redactor.redact(&out))?;
    Ok(Status::ok())
}

/// The facts one message states and how they bear on the rule's hypotheses.
fn explain_facts(
    rule: &crate::signature::rules::Rule,
    values: &[Option<String>],
    shown: &dyn Fn(&crate::signature::facts::Fact, &str) -> String,
    line: &mut dyn FnMut(&str, &str),
) {
    use crate::signature::facts::{Judgement, Tally};
    let tallies: Vec<Tally> = rule
        .facts
        .iter()
        .zip(values)
        .map(|(fact, v)| {
            let mut t = Tally::default();
            if let Some(v) = v {
                t.observe(v, |raw| shown(fact, raw), None, || None);
            }
            t
        })
        .collect();
    for (fact, value) in rule.facts.iter().zip(values) {
        match value {
            Some(v) => line("fact", &format!("{:?} ({})", shown(fact, v), fact.name)),
            None => line("fact", &format!("{} (not stated)", fact.name)),
        }
    }
    for (i, h) in rule.whys.iter().enumerate() {
        match h.judge(&rule.facts, &tallies) {
            Judgement::RuledOut(fact, _) => {
                line("ruled out", &format!("why {} (by {fact})", i + 1));
            }
            Judgement::Supported(fact, _) => {
                line("supported", &format!("why {} (by {fact})", i + 1));
            }
            Judgement::Open => {}
        }
    }
}

/// `gcp-triage completions SHELL`.
pub fn completions(shell: crate::cli::ShellArg) -> Result<Status> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let shell = match shell {
        crate::cli::ShellArg::Bash => Shell::Bash,
        crate::cli::ShellArg::Zsh => Shell::Zsh,
        crate::cli::ShellArg::Fish => Shell::Fish,
        crate::cli::ShellArg::Powershell => Shell::PowerShell,
    };
    let mut cmd = crate::cli::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "gcp-triage", &mut out);
    sink::stdout(&String::from_utf8_lossy(&out))?;
    Ok(Status::ok())
}

/// Prints `text` on stdout.
pub fn print(text: &str) -> Result<Status> {
    sink::stdout(text)?;
    Ok(Status::ok())
}

/// `gcp-triage man`.
pub fn man() -> Result<Status> {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_mangen::Man::new(crate::cli::Cli::command())
        .render(&mut out)
        .map_err(|source| Error::WriteOutput {
            path: "-".into(),
            source,
        })?;
    sink::stdout(&String::from_utf8_lossy(&out))?;
    Ok(Status::ok())
}
