//! Wires source → stitch → signature → cluster → rank → report → sinks for each
//! subcommand, and decides the exit status.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::error::{Error, Result};
use crate::redact::Redactor;
use crate::report::Query;
use crate::settings::{Cloud, Fetch, Output, Verbosity};
use crate::signature::fallback::Fallback;
use crate::signature::rules::RuleSet;
use crate::signature::{self, SignatureKind};
use crate::sink::progress::Progress;
use crate::sink::{self, EntryWriter};
use crate::source::cloud_logging::{self, Event};
use crate::source::query::logs_explorer_url;

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
    pub(crate) fn ok() -> Status {
        Status {
            code: 0,
            error: None,
        }
    }

    /// The exit code of `e`, with `e` printed after the report.
    pub(crate) fn failed(e: Error) -> Status {
        Status {
            code: e.exit_code(),
            error: Some(e),
        }
    }
}

/// At most this many malformed-entry warnings are printed (all with `-v`).
const MAX_WARNINGS: u64 = 20;

mod analyze;
pub use analyze::analyze;

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
        engine: "cloud_logging",
        bigquery: None,
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
    let mut text = format!(
        "ok: {} rules, {examples} examples checked",
        rules.rules().len()
    );
    // Rules the Log Analytics engine cannot run in BigQuery (RE2) are grouped there by
    // the fallback and signed by the rule on the exemplars: worth knowing, not an error.
    let (_, not_re2) = crate::source::bigquery::sql::sql_rules(&rules);
    for (r, why) in not_re2 {
        let _ = write!(
            text,
            "\nnote: rule {} ({}) cannot run as RE2 in the Log Analytics engine: {why}",
            r.id, r.origin
        );
    }
    sink::stdout(&text)?;
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
    // Parts derived from the message (templates, masked values) lose the words its
    // secrets held, even where deriving them cut a secret out of its shape.
    let removed = crate::redact::Removed::from_message(message);
    let scrub = |v: &str| removed.scrub(redactor, v).into_owned();
    let sig = sig.redacted(message, redactor);
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
                    if f.template { scrub(v) } else { shown(v) }
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
                line("exception", &scrub(&exception));
                line(
                    "frame",
                    &frame
                        .as_deref()
                        .map_or("(no application frame found)".into(), scrub),
                );
            }
            Fallback::Fields { key, title } => {
                line("matched", "no rule; fallback: JSON fields");
                line("title", &scrub(&title));
                line("fields", &scrub(&key));
            }
            Fallback::Template(t) => {
                line("matched", "no rule; fallback: masked template");
                line("template", &scrub(&t));
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
                            scrub(&m.replacement)
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
