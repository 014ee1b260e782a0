//! Wires source → stitch → signature → cluster → rank → report → sinks for each
//! subcommand, and decides the exit status.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::cluster::Clusterer;
use crate::error::{Error, Result, one_line};
use crate::report::{self, Renderer, ReportInput, ReportSettings};
use crate::settings::{Analyze, Format, Output, Verbosity};
use crate::signature::fallback::Fallback;
use crate::signature::rules::RuleSet;
use crate::signature::{self, SignatureKind};
use crate::sink::{self, Assignments};
use crate::source::files::{self, Item};
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
    // A failed write to stderr leaves nothing better to do.
    let _ = writeln!(err, "{label}: {}", text.replace('\n', " "));
}

/// `gcp-triage analyze`.
pub fn analyze(s: &Analyze, output: Output) -> Result<Status> {
    // Everything that can be wrong with the configuration fails before any log is read.
    let rules = RuleSet::load(s.builtin_rules, &s.rules)?;
    let template = match &s.template {
        Some(path) => Some((
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|source| Error::ReadTemplate {
                path: path.clone(),
                source,
            })?,
        )),
        None => None,
    };
    let renderer = Renderer::new(template)?;
    let mut assignments = s
        .assignments
        .as_deref()
        .map(Assignments::create)
        .transpose()?;

    let mut clusterer = Clusterer::new(&rules, s.min_severity);
    let mut stitcher = Stitcher::default();
    let mut read = 0u64;
    let mut skipped = 0u64;
    let mut next_index = 0u64;
    let mut source_error: Option<Error> = None;
    let mut sink_error: Option<Error> = None;

    let mut fold = |st: Stitched, clusterer: &mut Clusterer<'_>, sink_error: &mut Option<Error>| {
        let rows: Vec<(Option<String>, u64)> =
            std::iter::once((st.entry.insert_id.clone(), st.entry.index))
                .chain(st.joined.iter().map(|j| (j.insert_id.clone(), j.index)))
                .collect();
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

    for input in &s.inputs {
        let res = files::read_input(input, s.input_format, &mut next_index, &mut |item| {
            read += 1;
            match item {
                Item::Entry(e) => {
                    stitcher.push(*e, &mut |st| fold(st, &mut clusterer, &mut sink_error));
                    Ok(())
                }
                Item::Malformed { index, line, error } => {
                    if s.strict {
                        return Err(Error::StrictEntry {
                            path: input.clone(),
                            index,
                            source: error,
                        });
                    }
                    skipped += 1;
                    if skipped <= MAX_WARNINGS || output.verbosity == Verbosity::Verbose {
                        let at = line.map_or(format!("entry {index}"), |l| format!("line {l}"));
                        warn(
                            output,
                            &format!("{input}: {at}: malformed entry skipped: {error}"),
                        );
                    }
                    Ok(())
                }
            }
        });
        if let Err(e) = res {
            source_error = Some(e);
            break;
        }
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

    let (clusters, counts, late) = clusterer.finish();
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
        && let Err(e) = a.finish()
    {
        sink_error = Some(e);
    }

    let start = clusters.iter().filter_map(|c| c.first_seen).min();
    let end = clusters.iter().filter_map(|c| c.last_seen).max();
    let window = start.zip(end);
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
    let report = report::build(ReportInput {
        ranked,
        counts,
        entries_read: read,
        entries_skipped: skipped,
        inputs: s.inputs.clone(),
        partial_reason: source_error.as_ref().map(|e| one_line(e)),
        settings: ReportSettings {
            top: s.top,
            min_severity: s.min_severity,
            fail_on: s.fail_on,
        },
        rules: &rules,
    });

    // The report file first: nothing later may lose it.
    let markdown = if s.out.is_some() || s.format == Format::Markdown {
        Some(renderer.render(&report)?)
    } else {
        None
    };
    if let (Some(path), Some(md)) = (&s.out, &markdown) {
        sink::file(path, md)?;
    }
    match s.format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&report).map_err(Error::Serialize)?;
            sink::stdout(&json)?;
        }
        Format::Markdown => sink::stdout(markdown.as_deref().unwrap_or_default())?,
        Format::Table => sink::stdout(&sink::terminal::table(&report))?,
    }
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
        return Ok(Status {
            code: e.exit_code(),
            error: Some(e),
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
    Ok(Status {
        code: 0,
        error: None,
    })
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
    Ok(Status {
        code: 0,
        error: None,
    })
}

/// `gcp-triage rules explain MESSAGE`.
pub fn rules_explain(message: &str, dirs: &[std::path::PathBuf]) -> Result<Status> {
    let rules = RuleSet::load(true, dirs)?;
    let sig = signature::sign_message(&rules, message);
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
                line("capture", &format!("{k} = {v:?}"));
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
                line("exception", &exception);
                line(
                    "frame",
                    frame.as_deref().unwrap_or("(no application frame found)"),
                );
            }
            Fallback::Template(t) => {
                line("matched", "no rule; fallback: masked template");
                line("template", &t);
                let mut masked = Vec::new();
                signature::fallback::mask_with(
                    signature::fallback::first_line(message),
                    Some(&mut masked),
                );
                for m in &masked {
                    line(
                        "masked",
                        &format!("{:<10} {:?} -> {}", m.class, m.original, m.replacement),
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
    sink::stdout(&crate::redact::redact(&out))?;
    Ok(Status {
        code: 0,
        error: None,
    })
}
