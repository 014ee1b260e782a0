//! Before and after a deploy: the two windows, and what each cluster did across them.
//!
//! The deploy time `T` comes from `--deployed-at`, or is the first entry of
//! `--deployed-revision`. The window after runs from `T` to the end of the data (or of
//! the Cloud Logging query); the baseline is the `--baseline` before `T` (by default
//! as long as the window after), cut to where the data starts. Counts are exact to the
//! second (see [`crate::timeline`]); rates are per minute, so windows of different
//! lengths compare fairly. A window shorter than a minute counts as one minute.
//!
//! A cluster is
//! - **new**: entries after, none in the baseline;
//! - **resolved**: entries in the baseline, none after;
//! - **spiking**: at least [`SPIKE_MIN_COUNT`] entries after, and a rate after at least
//!   [`SPIKE_FACTOR`] times the baseline rate;
//! - **ongoing**: in both windows, and not spiking.
//!
//! Clusters with no entry in either window have no status.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::timeline::Histogram;

/// A cluster spikes when its rate after is at least this many times the baseline rate.
pub const SPIKE_FACTOR: f64 = 3.0;
/// ... and it has at least this many entries after the deploy.
pub const SPIKE_MIN_COUNT: u64 = 5;

/// What a cluster did across the deploy.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Not in the baseline; seen after.
    New,
    /// Much more frequent after.
    Spiking,
    /// In both windows.
    Ongoing,
    /// In the baseline; gone after.
    Resolved,
}

impl Change {
    /// The word the reports use.
    pub fn name(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Spiking => "spiking",
            Change::Ongoing => "ongoing",
            Change::Resolved => "resolved",
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `at - d`, or the earliest representable time when that is out of range (a huge
/// `--baseline`).
pub fn back(at: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    at.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The two windows around a deploy.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Windows {
    /// The deploy time: the start of the window after.
    pub deployed_at: DateTime<Utc>,
    /// Start of the baseline (inclusive).
    pub baseline_from: DateTime<Utc>,
    /// End of the window after (inclusive, to the second).
    pub after_until: DateTime<Utc>,
}

impl Windows {
    /// The windows for a deploy at `at` with data (or a query) covering
    /// `[data_from, data_until]`: the baseline is `baseline` long (default: as long as
    /// the window after), cut to `data_from`.
    pub fn new(
        at: DateTime<Utc>,
        baseline: Option<TimeDelta>,
        data_from: DateTime<Utc>,
        data_until: DateTime<Utc>,
    ) -> Windows {
        let after_until = data_until.max(at);
        let length = baseline.unwrap_or(after_until - at);
        Windows {
            deployed_at: at,
            baseline_from: back(at, length).max(data_from.min(at)),
            after_until,
        }
    }

    /// Length of the baseline in minutes (at least 1).
    pub fn baseline_minutes(&self) -> f64 {
        minutes(self.deployed_at - self.baseline_from)
    }

    /// Length of the window after in minutes (at least 1).
    pub fn after_minutes(&self) -> f64 {
        minutes(self.after_until - self.deployed_at)
    }

    /// A cluster's counts and rates in both windows, and its status.
    pub fn compare(&self, h: &Histogram) -> Comparison {
        let before = h.count(self.baseline_from, self.deployed_at);
        let end = self
            .after_until
            .checked_add_signed(TimeDelta::seconds(1))
            .unwrap_or(self.after_until);
        let after = h.count(self.deployed_at, end);
        let (bm, am) = (self.baseline_minutes(), self.after_minutes());
        Comparison {
            before,
            after,
            rate_before: before as f64 / bm,
            rate_after: after as f64 / am,
            status: classify(before, after, bm, am),
        }
    }
}

fn minutes(d: TimeDelta) -> f64 {
    (d.num_milliseconds() as f64 / 60_000.0).max(1.0)
}

/// One cluster across the deploy.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Comparison {
    /// Entries in the baseline.
    pub before: u64,
    /// Entries after the deploy.
    pub after: u64,
    /// Entries per minute in the baseline.
    pub rate_before: f64,
    /// Entries per minute after the deploy.
    pub rate_after: f64,
    /// What it did; `None` when it is in neither window.
    pub status: Option<Change>,
}

/// The status for `before` entries over `baseline_minutes` and `after` entries over
/// `after_minutes` (see the module documentation).
pub fn classify(
    before: u64,
    after: u64,
    baseline_minutes: f64,
    after_minutes: f64,
) -> Option<Change> {
    match (before, after) {
        (0, 0) => None,
        (0, _) => Some(Change::New),
        (_, 0) => Some(Change::Resolved),
        _ => {
            let rate_before = before as f64 / baseline_minutes.max(1.0);
            let rate_after = after as f64 / after_minutes.max(1.0);
            if after >= SPIKE_MIN_COUNT && rate_after >= SPIKE_FACTOR * rate_before {
                Some(Change::Spiking)
            } else {
                Some(Change::Ongoing)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_resolved_and_nothing() {
        assert_eq!(classify(0, 1, 30.0, 30.0), Some(Change::New));
        assert_eq!(classify(4, 0, 30.0, 30.0), Some(Change::Resolved));
        assert_eq!(classify(0, 0, 30.0, 30.0), None);
    }

    #[test]
    fn spike_factor_edge() {
        // 10 in 10 min is 1/min; 29 in 10 min is 2.9/min: just under 3x.
        assert_eq!(classify(10, 29, 10.0, 10.0), Some(Change::Ongoing));
        assert_eq!(classify(10, 30, 10.0, 10.0), Some(Change::Spiking));
    }

    #[test]
    fn spike_needs_a_minimum_count() {
        // 1 before in 60 min, 4 after in 10 min is 24x the rate but only 4 entries.
        assert_eq!(
            classify(1, SPIKE_MIN_COUNT - 1, 60.0, 10.0),
            Some(Change::Ongoing)
        );
        assert_eq!(
            classify(1, SPIKE_MIN_COUNT, 60.0, 10.0),
            Some(Change::Spiking)
        );
    }

    #[test]
    fn unequal_windows_compare_rates_not_counts() {
        // 60 in an hour and 15 in 15 minutes are the same rate: ongoing, although the
        // count fell to a quarter.
        assert_eq!(classify(60, 15, 60.0, 15.0), Some(Change::Ongoing));
        // 6 in an hour (0.1/min) and 6 in 10 minutes (0.6/min): same count, spiking.
        assert_eq!(classify(6, 6, 60.0, 10.0), Some(Change::Spiking));
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn baseline_defaults_to_the_window_after_and_is_cut_to_the_data() {
        let w = Windows::new(
            at("2025-01-01T10:30:00Z"),
            None,
            at("2025-01-01T09:00:00Z"),
            at("2025-01-01T10:50:00Z"),
        );
        assert_eq!(w.baseline_from, at("2025-01-01T10:10:00Z"));
        assert!((w.after_minutes() - 20.0).abs() < 1e-9);
        let w = Windows::new(
            at("2025-01-01T10:30:00Z"),
            Some(TimeDelta::hours(2)),
            at("2025-01-01T10:00:00Z"),
            at("2025-01-01T10:50:00Z"),
        );
        assert_eq!(w.baseline_from, at("2025-01-01T10:00:00Z"));
        assert!((w.baseline_minutes() - 30.0).abs() < 1e-9);
    }

    #[test]
    fn huge_baselines_and_far_times_do_not_overflow() {
        let w = Windows::new(
            at("2025-01-01T10:30:00Z"),
            Some(TimeDelta::weeks(100_000_000)),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        );
        assert_eq!(w.baseline_from, DateTime::<Utc>::MIN_UTC);
        let c = w.compare(&Histogram::default());
        assert_eq!(c.status, None);
    }

    #[test]
    fn compare_counts_the_deploy_second_as_after() {
        let mut h = Histogram::default();
        h.add(at("2025-01-01T10:29:59.999Z"));
        h.add(at("2025-01-01T10:30:00.2Z"));
        h.add(at("2025-01-01T10:40:00Z"));
        let w = Windows::new(
            at("2025-01-01T10:30:00.1Z"),
            None,
            at("2025-01-01T10:00:00Z"),
            at("2025-01-01T10:40:00Z"),
        );
        let c = w.compare(&h);
        assert_eq!((c.before, c.after), (1, 2));
        assert_eq!(c.status, Some(Change::Ongoing));
    }
}
