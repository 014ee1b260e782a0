//! The compact ranked table for a terminal: rank, severity, count, service, title,
//! first and last seen. Plain text (stdout never carries ANSI codes).

use crate::report::Report;
use crate::signature::fallback::truncate_chars;

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
    if report.clusters.is_empty() {
        out.push_str("no clusters at or above the severity floor\n");
        return out;
    }
    let rows: Vec<[String; 7]> = report
        .clusters
        .iter()
        .map(|c| {
            [
                c.rank.to_string(),
                c.severity.to_string(),
                c.count.to_string(),
                truncate_chars(c.services.first().map_or("-", |s| s.name.as_str()), 24),
                truncate_chars(&c.title, 70),
                short_time(c.first_seen),
                short_time(c.last_seen),
            ]
        })
        .collect();
    let header = [
        "#",
        "SEVERITY",
        "COUNT",
        "SERVICE",
        "TITLE",
        "FIRST SEEN",
        "LAST SEEN",
    ];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
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
    line(&header.map(str::to_string));
    for row in &rows {
        line(row);
    }
    out
}
