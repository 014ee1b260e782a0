//! An explainable score per cluster and a deterministic order.
//!
//! score = severity + frequency + recency + spread + HTTP 5xx impact, each part with a
//! sentence saying why it has the points it has. Ties break on severity, count, then
//! fingerprint, so the order never depends on input order or hashing.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cluster::Cluster;
use crate::entry::Severity;

/// One part of a score.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScorePart {
    /// `severity`, `frequency`, `recency`, `spread` or `http_5xx`.
    pub name: &'static str,
    /// Points (rounded to one decimal).
    pub points: f64,
    /// Why.
    pub reason: String,
}

/// A cluster's score with its parts.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Score {
    /// Sum of the parts.
    pub total: f64,
    /// The parts, in a fixed order.
    pub parts: Vec<ScorePart>,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn severity_points(s: Severity) -> f64 {
    match s {
        Severity::Emergency | Severity::Alert => 45.0,
        Severity::Critical => 40.0,
        Severity::Error => 30.0,
        Severity::Warning => 12.0,
        Severity::Notice => 4.0,
        _ => 0.0,
    }
}

/// Scores one cluster within the analysed window `[start, end]`.
pub fn score(c: &Cluster, window: Option<(DateTime<Utc>, DateTime<Utc>)>) -> Score {
    let mut parts = Vec::with_capacity(5);
    parts.push(ScorePart {
        name: "severity",
        points: severity_points(c.severity),
        reason: format!("highest severity {}", c.severity),
    });
    let freq = (10.0 * (c.count as f64 + 1.0).log10()).min(30.0);
    parts.push(ScorePart {
        name: "frequency",
        points: round1(freq),
        reason: format!(
            "{} occurrence{}",
            c.count,
            if c.count == 1 { "" } else { "s" }
        ),
    });
    let recency = match (window, c.last_seen) {
        (Some((start, end)), Some(last)) if end > start => {
            let span = (end - start).num_milliseconds() as f64;
            let age = (end - last).num_milliseconds() as f64;
            let points = 10.0 * (1.0 - age / span).clamp(0.0, 1.0);
            let mins = (end - last).num_minutes();
            (
                points,
                format!("last seen {mins} min before the end of the window"),
            )
        }
        (Some(_), Some(_)) => (10.0, "seen at the end of the window".to_string()),
        _ => (0.0, "no timestamps".to_string()),
    };
    parts.push(ScorePart {
        name: "recency",
        points: round1(recency.0),
        reason: recency.1,
    });
    let instances = c.instances.len();
    let revisions = c.revisions.len();
    let services = c.services.len();
    let spread = (3.0 * (instances as f64).max(1.0).log2()
        + 2.0 * revisions.saturating_sub(1) as f64
        + 4.0 * services.saturating_sub(1) as f64)
        .min(10.0);
    parts.push(ScorePart {
        name: "spread",
        points: round1(spread),
        reason: format!(
            "{services} service{}, {revisions} revision{}, {instances} instance{}",
            if services == 1 { "" } else { "s" },
            if revisions == 1 { "" } else { "s" },
            if instances == 1 { "" } else { "s" }
        ),
    });
    let n5xx = c.http.count;
    let http = if n5xx == 0 {
        0.0
    } else {
        (5.0 + 10.0 * (n5xx as f64).log10()).min(25.0)
    };
    parts.push(ScorePart {
        name: "http_5xx",
        points: round1(http),
        reason: if c.is_http() {
            format!(
                "{n5xx} HTTP 5xx response{} with no linked application error",
                if n5xx == 1 { "" } else { "s" }
            )
        } else {
            format!(
                "{n5xx} HTTP 5xx response{} linked to this error",
                if n5xx == 1 { "" } else { "s" }
            )
        },
    });
    let total = round1(parts.iter().map(|p| p.points).sum());
    Score { total, parts }
}

/// Orders clusters best first: score, then severity, count, fingerprint.
pub fn rank(
    clusters: Vec<Cluster>,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Vec<(Cluster, Score)> {
    let mut scored: Vec<(Cluster, Score)> = clusters
        .into_iter()
        .map(|c| {
            let s = score(&c, window);
            (c, s)
        })
        .collect();
    scored.sort_by(|(a, sa), (b, sb)| {
        sb.total
            .total_cmp(&sa.total)
            .then_with(|| b.severity.cmp(&a.severity))
            .then_with(|| b.count.cmp(&a.count))
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
    });
    scored
}
