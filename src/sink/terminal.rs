//! The compact ranked table for a terminal: rank, severity, count, service, title,
//! first and last seen. Plain text (stdout never carries ANSI codes).

use std::fmt::Write as _;

use crate::deploy::Change;
use crate::report::Report;
use crate::report::history::{marked, squeeze};
use crate::signature::fallback::truncate_chars;
use crate::timeline::sparkline;

/// Characters in the TREND column.
const TREND_WIDTH: usize = 20;

fn short_time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "-".to_string(),
        |t| t.format("%m-%d %H:%M:%S").to_string(),
    )
}

/// Renders the table and a one-line summary above it.
pub fn table(report: &Report) -> String {
    let s = &report.summary;
    let mut out = format!(
        "{} entries read, {} skipped, {} clustered into {} clusters{}\n",
        s.entries_read,
        s.entries_skipped,
        s.entries_clustered,
        s.clusters_total,
        if report.partial {
            " (PARTIAL: input stopped early)"
        } else {
            ""
        }
    );
    if let Some(d) = &report.deploy {
        let n = |c| d.counts.get(&c).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "deploy at {}: {} new, {} spiking, {} ongoing, {} resolved",
            short_time(Some(d.deployed_at)),
            n(Change::New),
            n(Change::Spiking),
            n(Change::Ongoing),
            n(Change::Resolved)
        );
    }
    if report.clusters.is_empty() {
        out.push_str("no clusters at or above the severity floor\n");
        return out;
    }
    let trend_bins = report.timeline.as_ref().map(|t| {
        let per = t.bins.div_ceil(TREND_WIDTH).max(1);
        (per, t.deploy_bin.map(|b| b / per))
    });
    let rows: Vec<[String; 9]> = report
        .clusters
        .iter()
        .map(|c| {
            let trend = report
                .timeline
                .as_ref()
                .zip(trend_bins)
                .and_then(|(t, (_, deploy))| {
                    t.rows
                        .iter()
                        .find(|r| r.rank == c.rank)
                        .map(|r| marked(&sparkline(&squeeze(&r.counts, TREND_WIDTH)), deploy))
                })
                .unwrap_or_default();
            [
                c.rank.to_string(),
                c.severity.to_string(),
                c.count.to_string(),
                status_cell(c),
                truncate_chars(c.services.first().map_or("-", |s| s.name.as_str()), 24),
                truncate_chars(&c.title, 70),
                short_time(c.first_seen),
                short_time(c.last_seen),
                trend,
            ]
        })
        .collect();
    let header = [
        "#",
        "SEVERITY",
        "COUNT",
        "STATUS",
        "SERVICE",
        "TITLE",
        "FIRST SEEN",
        "LAST SEEN",
        "TREND",
    ];
    // Columns left out: STATUS without a deploy, TREND without timestamps.
    let keep = |i: usize| match i {
        3 => report.deploy.is_some(),
        8 => report.timeline.is_some(),
        _ => true,
    };
    let header: Vec<String> = header
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, h)| (*h).to_string())
        .collect();
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| {
            r.into_iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, c)| c)
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths.iter().copied()).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let pad = w - cell.chars().count();
            if i == 0 || i == 2 {
                l.push_str(&" ".repeat(pad));
                l.push_str(cell);
            } else {
                l.push_str(cell);
                if i + 1 < cells.len() {
                    l.push_str(&" ".repeat(pad));
                }
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(row);
    }
    for chain in &report.chains {
        let steps: Vec<String> = chain
            .iter()
            .map(|l| match l.rank {
                Some(r) => format!("#{r}"),
                None => truncate_chars(&l.title, 40),
            })
            .collect();
        let _ = writeln!(
            out,
            "observed chain (correlation, not proof): {}",
            steps.join(" -> ")
        );
    }
    out
}

/// The STATUS cell: the change across the deploy, marked `+line` when the cluster is
/// new and a commit of the deploy changed its failing line.
fn status_cell(c: &crate::report::ClusterView) -> String {
    let Some(status) = c.change.and_then(|x| x.status) else {
        return "-".to_string();
    };
    let line = c.code.as_ref().is_some_and(|e| e.line_changed_in_range);
    if line && status == crate::deploy::Change::New {
        format!("{status} +line")
    } else {
        status.to_string()
    }
}
