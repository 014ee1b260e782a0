//! The parts of the report about time: what changed with a deploy, observed precursor
//! chains, and the timeline with per-bin counts.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::cluster::Cluster;
use crate::deploy::{Change, Comparison, SPIKE_FACTOR, SPIKE_MIN_COUNT, Windows};
use crate::entry::Severity;
use crate::precursor::{self, Precursor};
use crate::rank::Score;
use crate::timeline::{bins_for, sparkline};

/// Each cluster's comparison, by fingerprint.
pub type Comparisons = HashMap<String, Comparison>;

/// Rows in "What changed" before the rest is only counted.
const MAX_CHANGE_ROWS: usize = 50;
/// Bins in the markdown timeline.
const MAX_BINS: usize = 60;
/// Clusters in a drawn chain.
const MAX_CHAIN: usize = 6;

/// A time span in words: `850 ms`, `12.5 s`, `2 min 45 s`, `3 h 5 min`.
#[allow(clippy::cast_possible_truncation)] // gaps are at most minutes
pub fn human_secs(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else if secs < 3600.0 {
        let s = secs.round() as i64;
        format!("{} min {} s", s / 60, s % 60)
    } else {
        let m = (secs / 60.0).round() as i64;
        format!("{} h {} min", m / 60, m % 60)
    }
}

/// The thresholds behind statuses and precursors, echoed so readers know them.
#[derive(Debug, Clone, Serialize)]
pub struct Thresholds {
    /// Spiking: rate after at least this many times the baseline rate...
    pub spike_factor: f64,
    /// ... with at least this many entries after.
    pub spike_min_count: u64,
    /// Precursor: first on at least this share of the later cluster's instances...
    pub precursor_min_share: f64,
    /// ... and on at least this many instances...
    pub precursor_min_instances: u64,
    /// ... at most this many seconds before it.
    pub precursor_max_gap_secs: i64,
    /// Entries below this severity (other than 5xx request logs) are not ordered.
    pub precursor_min_severity: Severity,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            spike_factor: SPIKE_FACTOR,
            spike_min_count: SPIKE_MIN_COUNT,
            precursor_min_share: precursor::MIN_SHARE,
            precursor_min_instances: precursor::MIN_INSTANCES,
            precursor_max_gap_secs: precursor::MAX_GAP.num_seconds(),
            precursor_min_severity: precursor::MIN_SEVERITY,
        }
    }
}

/// One cluster in "What changed with this deploy".
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRow {
    /// The cluster.
    pub fingerprint: String,
    /// Its title.
    pub title: String,
    /// Highest severity.
    pub severity: Severity,
    /// Rank, when it is among the clusters shown.
    pub rank: Option<usize>,
    /// Counts, rates and status.
    #[serde(flatten)]
    pub comparison: Comparison,
}

/// The deploy comparison.
#[derive(Debug, Clone, Serialize)]
pub struct DeployView {
    /// The deploy time: start of the window after.
    pub deployed_at: DateTime<Utc>,
    /// The revision whose first entry marks the deploy (`--deployed-revision`).
    pub revision: Option<String>,
    /// Start of the baseline.
    pub baseline_from: DateTime<Utc>,
    /// End of the window after.
    pub after_until: DateTime<Utc>,
    /// Baseline length in minutes.
    pub baseline_minutes: f64,
    /// Window after, in minutes.
    pub after_minutes: f64,
    /// True when the data starts later than the baseline asked for.
    pub baseline_cut: bool,
    /// Clusters per status.
    pub counts: BTreeMap<Change, usize>,
    /// New, spiking and resolved clusters (at most 50), in that order, by rank.
    pub changes: Vec<ChangeRow>,
    /// Changed clusters not listed.
    pub changes_not_listed: usize,
    /// `--fail-on-new`, if set.
    pub fail_on_new: Option<Severity>,
}

/// A deploy comparison's inputs.
#[derive(Debug, Clone)]
pub struct DeployInput {
    /// The windows.
    pub windows: Windows,
    /// The revision, for `--deployed-revision`.
    pub revision: Option<String>,
    /// The baseline asked for was cut to the data.
    pub baseline_cut: bool,
    /// `--fail-on-new`.
    pub fail_on_new: Option<Severity>,
}

/// Builds "What changed" over all clusters (ranked order).
pub fn deploy_view(
    d: &DeployInput,
    ranked: &[(Cluster, Score)],
    comparisons: &Comparisons,
    top: usize,
) -> DeployView {
    let mut counts = BTreeMap::new();
    let mut rows: Vec<ChangeRow> = Vec::new();
    for (i, (c, _)) in ranked.iter().enumerate() {
        let Some(cmp) = comparisons.get(&c.fingerprint) else {
            continue;
        };
        let Some(status) = cmp.status else { continue };
        *counts.entry(status).or_default() += 1;
        if status != Change::Ongoing {
            rows.push(ChangeRow {
                fingerprint: c.fingerprint.clone(),
                title: c.title(),
                severity: c.severity,
                rank: (i < top).then_some(i + 1),
                comparison: *cmp,
            });
        }
    }
    // Stable: within a status, rank order stays.
    rows.sort_by_key(|r| r.comparison.status);
    let not_listed = rows.len().saturating_sub(MAX_CHANGE_ROWS);
    rows.truncate(MAX_CHANGE_ROWS);
    let w = &d.windows;
    DeployView {
        deployed_at: w.deployed_at,
        revision: d.revision.clone(),
        baseline_from: w.baseline_from,
        after_until: w.after_until,
        baseline_minutes: round2(w.baseline_minutes()),
        after_minutes: round2(w.after_minutes()),
        baseline_cut: d.baseline_cut,
        counts,
        changes: rows,
        changes_not_listed: not_listed,
        fail_on_new: d.fail_on_new,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// An observed precursor of a cluster, as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PrecursorView {
    /// The earlier cluster.
    pub fingerprint: String,
    /// Its title.
    pub title: String,
    /// Its rank, when shown.
    pub rank: Option<usize>,
    /// Instances where it came first.
    pub instances: u64,
    /// Instances of the later cluster.
    pub of: u64,
    /// `instances / of` in percent.
    pub share_percent: u32,
    /// Median gap in seconds.
    pub median_gap_secs: f64,
    /// The same in words.
    pub median_gap: String,
}

/// A share in 0..=1 as a whole percentage.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped to 0..=100
fn percent(share: f64) -> u32 {
    (share.clamp(0.0, 1.0) * 100.0).round() as u32
}

/// Titles and ranks by fingerprint.
pub type Names = HashMap<String, (String, Option<usize>)>;

/// The observed precursors of `fingerprint`, nearest first.
pub fn precursors_of(all: &[Precursor], fingerprint: &str, names: &Names) -> Vec<PrecursorView> {
    let mut list: Vec<&Precursor> = all.iter().filter(|p| p.to == fingerprint).collect();
    list.sort_by(|x, y| precursor::nearer(x, y));
    list.into_iter()
        .map(|p| {
            let (title, rank) = names.get(&p.from).cloned().unwrap_or_default();
            PrecursorView {
                fingerprint: p.from.clone(),
                title,
                rank,
                instances: p.instances,
                of: p.of,
                share_percent: percent(p.share),
                median_gap_secs: (p.median_gap_secs * 1000.0).round() / 1000.0,
                median_gap: human_secs(p.median_gap_secs),
            }
        })
        .collect()
}

/// One cluster in a chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainLink {
    /// The cluster.
    pub fingerprint: String,
    /// Its title.
    pub title: String,
    /// Its rank, when shown.
    pub rank: Option<usize>,
    /// How this link relates to the previous one (none for the first).
    pub after_previous: Option<PrecursorView>,
}

/// Observed chains ending at the clusters shown.
pub fn chains(all: &[Precursor], shown: &[String], names: &Names) -> Vec<Vec<ChainLink>> {
    precursor::chains(all, shown, MAX_CHAIN)
        .into_iter()
        .map(|chain| {
            let mut links = Vec::with_capacity(chain.len());
            for (i, fp) in chain.iter().enumerate() {
                let (title, rank) = names.get(fp).cloned().unwrap_or_default();
                let after_previous = i.checked_sub(1).and_then(|j| {
                    precursors_of(all, fp, names)
                        .into_iter()
                        .find(|p| p.fingerprint == chain[j])
                });
                links.push(ChainLink {
                    fingerprint: fp.clone(),
                    title,
                    rank,
                    after_previous,
                });
            }
            links
        })
        .collect()
}

/// A shown cluster's counts per bin.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineRow {
    /// Rank.
    pub rank: usize,
    /// The cluster.
    pub fingerprint: String,
    /// Its title.
    pub title: String,
    /// Entries per bin.
    pub counts: Vec<u64>,
    /// The counts as a text sparkline (`·` is an empty bin; `┃` marks the deploy).
    pub sparkline: String,
    /// The largest bin.
    pub max: u64,
    /// Start of the first bin holding `max`.
    pub peak_at: Option<DateTime<Utc>>,
}

/// A moment on the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// The same, short: `15:30:12`, or `09-07 15:30` when the timeline spans days.
    pub label: String,
    /// `deploy`, `first_seen` or `spike`.
    pub kind: &'static str,
    /// The cluster's rank, for cluster events.
    pub rank: Option<usize>,
    /// What happened.
    pub text: String,
}

/// The timeline: events and per-bin counts of the clusters shown.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineView {
    /// Start of the first bin.
    pub start: DateTime<Utc>,
    /// Bin width in minutes.
    pub bin_minutes: i64,
    /// Number of bins.
    pub bins: usize,
    /// The bin holding the deploy, if any.
    pub deploy_bin: Option<usize>,
    /// Events in time order.
    pub events: Vec<TimelineEvent>,
    /// One row per cluster shown.
    pub rows: Vec<TimelineRow>,
}

/// Builds the timeline over `[from, until]` for the clusters shown (`shown` is the
/// ranked list's head).
pub fn timeline(
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    shown: &[&Cluster],
    deploy: Option<(&Windows, &Comparisons)>,
) -> TimelineView {
    let (start, bin, bins) = bins_for(from, until, MAX_BINS);
    let bin_minutes = bin.num_minutes().max(1);
    let index_of = |t: DateTime<Utc>| -> Option<usize> {
        let i = (t - start)
            .num_seconds()
            .div_euclid(bin.num_seconds().max(1));
        usize::try_from(i).ok().filter(|i| *i < bins)
    };
    let same_day = until - from < TimeDelta::days(1);
    let label = |t: DateTime<Utc>| {
        if same_day {
            t.format("%H:%M:%S").to_string()
        } else {
            t.format("%m-%d %H:%M").to_string()
        }
    };
    let mut events = Vec::new();
    let mut deploy_bin = None;
    if let Some((w, _)) = deploy {
        deploy_bin = index_of(w.deployed_at);
        events.push(TimelineEvent {
            at: w.deployed_at,
            label: label(w.deployed_at),
            kind: "deploy",
            rank: None,
            text: "deploy".to_string(),
        });
    }
    let mut rows = Vec::with_capacity(shown.len());
    for (i, c) in shown.iter().enumerate() {
        let rank = i + 1;
        let counts = c.timeline.series(start, bin, bins);
        let max = counts.iter().copied().max().unwrap_or(0);
        let peak = counts.iter().position(|&n| n == max && n > 0);
        let bin_start = |i: usize| start + bin * i32::try_from(i).unwrap_or(i32::MAX);
        if let Some(first) = c.first_seen {
            events.push(TimelineEvent {
                at: first,
                label: label(first),
                kind: "first_seen",
                rank: Some(rank),
                text: format!("first: {}", c.title()),
            });
        }
        let spike = if let Some((w, cmps)) = deploy {
            cmps.get(&c.fingerprint)
                .filter(|cmp| cmp.status == Some(Change::Spiking))
                .and_then(|cmp| {
                    let threshold = SPIKE_FACTOR * cmp.rate_before * bin_minutes as f64;
                    let from_bin = index_of(w.deployed_at).unwrap_or(0);
                    (from_bin..bins)
                        .find(|&b| counts[b] > 0 && counts[b] as f64 >= threshold)
                        .map(|b| (b, counts[b]))
                })
        } else {
            let mean = c.count as f64 / bins.max(1) as f64;
            peak.filter(|_| max >= SPIKE_MIN_COUNT && max as f64 >= SPIKE_FACTOR * mean)
                .map(|b| (b, max))
        };
        if let Some((b, n)) = spike {
            events.push(TimelineEvent {
                at: bin_start(b),
                label: label(bin_start(b)),
                kind: "spike",
                rank: Some(rank),
                text: format!(
                    "spike: {n} in {} ({})",
                    if bin_minutes == 1 {
                        "one minute".to_string()
                    } else {
                        format!("{bin_minutes} minutes")
                    },
                    c.title()
                ),
            });
        }
        rows.push(TimelineRow {
            rank,
            fingerprint: c.fingerprint.clone(),
            title: c.title(),
            sparkline: marked(&sparkline(&counts), deploy_bin),
            max,
            peak_at: peak.map(bin_start),
            counts,
        });
    }
    events.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.rank.cmp(&b.rank)));
    TimelineView {
        start,
        bin_minutes,
        bins,
        deploy_bin,
        events,
        rows,
    }
}

/// A sparkline with `┃` before the deploy's bin.
pub fn marked(line: &str, deploy_bin: Option<usize>) -> String {
    match deploy_bin {
        Some(b) => {
            let mut out: String = line.chars().take(b).collect();
            out.push('┃');
            out.extend(line.chars().skip(b));
            out
        }
        None => line.to_string(),
    }
}

/// Sums neighbouring bins so at most `max` remain (for narrow displays).
pub fn squeeze(counts: &[u64], max: usize) -> Vec<u64> {
    if counts.len() <= max || max == 0 {
        return counts.to_vec();
    }
    let per = counts.len().div_ceil(max);
    counts.chunks(per).map(|c| c.iter().sum()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_in_words() {
        assert_eq!(human_secs(0.25), "250 ms");
        assert_eq!(human_secs(12.54), "12.5 s");
        assert_eq!(human_secs(165.0), "2 min 45 s");
        assert_eq!(human_secs(3.0 * 3600.0 + 300.0), "3 h 5 min");
    }

    #[test]
    fn squeeze_sums_neighbours() {
        assert_eq!(squeeze(&[1, 2, 3, 4, 5], 2), vec![6, 9]);
        assert_eq!(squeeze(&[1, 2], 5), vec![1, 2]);
    }
}
