//! Counts over time: a per-cluster histogram whose memory stays bounded, the bins a
//! report's timeline uses, and text sparklines.
//!
//! A histogram starts at one-second buckets. When a cluster has occurred in more than
//! [`MAX_BUCKETS`] distinct buckets, the buckets widen (10 s, 1 min, 10 min, 1 h, 1 d)
//! and merge, so a cluster costs at most about 16 KB however long the input. Counting
//! a range is exact at one-second resolution; a widened bucket counts where it starts.
//! A bucket counts up to `u32::MAX` (4,294,967,295) occurrences and stays there.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};

/// Distinct buckets a histogram keeps before it widens them.
pub const MAX_BUCKETS: usize = 2048;

/// Bucket widths in seconds, narrowest first. Each divides the next.
const WIDTHS: [i64; 6] = [1, 10, 60, 600, 3600, 86_400];

/// The widest width: the origin is aligned to it, so every width divides the distance
/// from the origin to any bucket start.
const DAY: i64 = WIDTHS[WIDTHS.len() - 1];

/// Occurrences per time bucket.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// Index into [`WIDTHS`].
    width: usize,
    /// Unix seconds of the day the first occurrence fell in; bucket keys count widths
    /// from here.
    origin: i64,
    /// (bucket start in widths from `origin`, count), sorted by start: 8 bytes a
    /// bucket. A deque: input sorted by time either way adds at one of its ends.
    buckets: VecDeque<(i32, u32)>,
}

impl Histogram {
    /// Counts one occurrence at `t`.
    pub fn add(&mut self, t: DateTime<Utc>) {
        let secs = t.timestamp();
        if self.buckets.is_empty() && self.width == 0 {
            self.origin = secs.div_euclid(DAY) * DAY;
        }
        // A key out of i32 range (more than 68 years from the origin at one second)
        // widens the buckets; at one day every representable time fits.
        let key = loop {
            let units = (secs - self.origin).div_euclid(WIDTHS[self.width]);
            match i32::try_from(units) {
                Ok(k) => break k,
                Err(_) if self.width + 1 < WIDTHS.len() => self.widen(),
                Err(_) => break if units < 0 { i32::MIN } else { i32::MAX },
            }
        };
        let at = self.buckets.partition_point(|&(k, _)| k < key);
        match self.buckets.get_mut(at) {
            Some((k, n)) if *k == key => *n = n.saturating_add(1),
            _ => {
                // Grow by doubling up to the cap, never past it (at the widest width,
                // which may hold more, by the usual doubling).
                let len = self.buckets.len();
                if len == self.buckets.capacity() {
                    if len <= MAX_BUCKETS {
                        let want = (len * 2).clamp(4, MAX_BUCKETS + 1);
                        self.buckets.reserve_exact(want - len);
                    } else {
                        self.buckets.reserve(1);
                    }
                }
                self.buckets.insert(at, (key, 1));
            }
        }
        while self.buckets.len() > MAX_BUCKETS && self.width + 1 < WIDTHS.len() {
            self.widen();
        }
    }

    /// Moves to the next width, merging the buckets that now share a start.
    fn widen(&mut self) {
        let ratio = WIDTHS[self.width + 1] / WIDTHS[self.width];
        self.width += 1;
        let mut merged: VecDeque<(i32, u32)> = VecDeque::new();
        for (k, n) in std::mem::take(&mut self.buckets) {
            // Narrowing: |k / ratio| <= |k|, so it stays in i32.
            let k = k.div_euclid(i32::try_from(ratio).unwrap_or(i32::MAX));
            match merged.back_mut() {
                Some((last, m)) if *last == k => *m = m.saturating_add(n),
                _ => merged.push_back((k, n)),
            }
        }
        merged.shrink_to_fit();
        self.buckets = merged;
    }

    /// Unix seconds where the bucket with key `k` starts.
    fn start(&self, k: i32) -> i64 {
        self.origin
            .saturating_add(i64::from(k).saturating_mul(WIDTHS[self.width]))
    }

    /// The buckets starting in `[from, until)`, as (start in Unix seconds, count).
    fn range(&self, from: i64, until: i64) -> impl Iterator<Item = (i64, u64)> + '_ {
        let first = self.buckets.partition_point(|&(k, _)| self.start(k) < from);
        self.buckets
            .range(first..)
            .map(|&(k, n)| (self.start(k), u64::from(n)))
            .take_while(move |&(s, _)| s < until)
    }

    /// Bucket width in seconds (1 unless the histogram had to widen).
    pub fn resolution_secs(&self) -> i64 {
        WIDTHS[self.width]
    }

    /// Occurrences in `[from, until)`, both in whole seconds (sub-second parts are
    /// dropped: an entry in the same second as `from` counts as inside).
    pub fn count(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
        let (a, b) = (from.timestamp(), until.timestamp());
        if a >= b {
            return 0;
        }
        self.range(a, b).map(|(_, n)| n).sum()
    }

    /// Counts in `bins` consecutive bins of `bin` starting at `start`.
    pub fn series(&self, start: DateTime<Utc>, bin: TimeDelta, bins: usize) -> Vec<u64> {
        let step = bin.num_seconds().max(1);
        let first = start.timestamp();
        let mut out = vec![0; bins];
        let end = first.saturating_add(step.saturating_mul(i64::try_from(bins).unwrap_or(0)));
        for (k, n) in self.range(first, end) {
            let i = usize::try_from((k - first) / step).unwrap_or(usize::MAX);
            if let Some(slot) = out.get_mut(i) {
                *slot += n;
            }
        }
        out
    }
}

/// Bin widths a timeline may use, in minutes.
const BIN_MINUTES: [i64; 12] = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];

/// The bins for a timeline over `[start, end]`: at most `max_bins` bins of the
/// narrowest width in [`BIN_MINUTES`] that fits (a day per bin beyond that). The first
/// bin starts at `start` rounded down to the bin width.
pub fn bins_for(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    max_bins: usize,
) -> (DateTime<Utc>, TimeDelta, usize) {
    let span = (end - start).num_seconds().max(0);
    let max = i64::try_from(max_bins.max(1)).unwrap_or(i64::MAX);
    let minutes = BIN_MINUTES
        .iter()
        .copied()
        .find(|m| {
            let w = m * 60;
            let first = start.timestamp().div_euclid(w) * w;
            (start.timestamp() - first + span) / w < max
        })
        .unwrap_or_else(|| (span / 86_400 / max + 1) * 1440);
    let w = minutes * 60;
    let first_secs = start.timestamp().div_euclid(w) * w;
    let first = DateTime::from_timestamp(first_secs, 0).unwrap_or(start);
    let bins = usize::try_from((end.timestamp() - first_secs) / w + 1).unwrap_or(1);
    (first, TimeDelta::seconds(w), bins)
}

/// A text sparkline: `·` for an empty bin, then eight heights scaled to the largest.
pub fn sparkline(counts: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = counts.iter().copied().max().unwrap_or(0);
    counts
        .iter()
        .map(|&n| {
            if n == 0 || max == 0 {
                '·'
            } else {
                // 1..=8 in proportion to the largest bin; any non-zero bin shows.
                let level = (n * 8).div_ceil(max).clamp(1, 8);
                BARS[usize::try_from(level - 1).unwrap_or(0)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn counts_are_exact_to_the_second_and_half_open() {
        let mut h = Histogram::default();
        for t in [
            "2025-01-01T10:00:00.9Z",
            "2025-01-01T10:00:59Z",
            "2025-01-01T10:01:00Z",
            "2025-01-01T10:05:00Z",
        ] {
            h.add(at(t));
        }
        assert_eq!(
            h.count(at("2025-01-01T10:00:00Z"), at("2025-01-01T10:01:00Z")),
            2
        );
        assert_eq!(
            h.count(at("2025-01-01T10:01:00Z"), at("2025-01-01T10:05:01Z")),
            2
        );
        assert_eq!(
            h.count(at("2025-01-01T10:05:00Z"), at("2025-01-01T10:00:00Z")),
            0
        );
    }

    #[test]
    fn memory_stays_bounded_and_totals_survive_widening() {
        let mut h = Histogram::default();
        let start = at("2025-01-01T00:00:00Z");
        for i in 0..20_000 {
            h.add(start + TimeDelta::seconds(i * 3));
        }
        assert!(h.buckets.len() <= MAX_BUCKETS);
        assert!(
            h.buckets.capacity() <= MAX_BUCKETS + 1,
            "{}",
            h.buckets.capacity()
        );
        assert!(h.resolution_secs() > 1);
        assert_eq!(h.count(start, start + TimeDelta::days(2)), 20_000);
    }

    #[test]
    fn times_centuries_apart_widen_instead_of_wrapping() {
        let mut h = Histogram::default();
        h.add(at("2025-01-01T10:00:00Z"));
        h.add(at("1901-06-01T00:00:00Z"));
        h.add(at("2300-01-01T00:00:01Z"));
        assert!(h.resolution_secs() > 1);
        let all = h.count(at("1900-01-01T00:00:00Z"), at("2400-01-01T00:00:00Z"));
        assert_eq!(all, 3);
        assert_eq!(
            h.count(at("2000-01-01T00:00:00Z"), at("2100-01-01T00:00:00Z")),
            1
        );
    }

    #[test]
    fn years_of_days_keep_every_count() {
        let mut h = Histogram::default();
        let start = at("2000-01-01T00:00:00Z");
        for d in 0..3048 {
            h.add(start + TimeDelta::days(d));
        }
        assert_eq!(h.resolution_secs(), 86_400);
        assert_eq!(h.buckets.len(), 3048);
        assert_eq!(h.count(start, start + TimeDelta::days(10_000)), 3048);
    }

    #[test]
    fn series_puts_counts_in_their_bins() {
        let mut h = Histogram::default();
        h.add(at("2025-01-01T10:00:30Z"));
        h.add(at("2025-01-01T10:02:10Z"));
        h.add(at("2025-01-01T10:02:50Z"));
        let s = h.series(at("2025-01-01T10:00:00Z"), TimeDelta::minutes(1), 4);
        assert_eq!(s, vec![1, 0, 2, 0]);
    }

    #[test]
    fn bins_fit_the_window() {
        let (first, w, n) = bins_for(at("2025-01-01T10:00:30Z"), at("2025-01-01T10:40:00Z"), 60);
        assert_eq!(
            (first, w, n),
            (at("2025-01-01T10:00:00Z"), TimeDelta::minutes(1), 41)
        );
        let (_, w, n) = bins_for(at("2025-01-01T10:00:00Z"), at("2025-01-01T14:00:00Z"), 60);
        assert_eq!((w, n), (TimeDelta::minutes(5), 49));
        let (_, w, n) = bins_for(at("2025-01-01T00:00:00Z"), at("2025-03-01T00:00:00Z"), 60);
        assert!(n <= 60 && w >= TimeDelta::days(1), "{w} {n}");
    }

    #[test]
    fn sparkline_scales_to_the_largest_bin() {
        assert_eq!(sparkline(&[0, 1, 4, 8]), "·▁▄█");
        assert_eq!(sparkline(&[0, 0]), "··");
    }
}
