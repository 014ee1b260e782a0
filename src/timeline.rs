//! Counts over time: a per-cluster histogram whose memory stays bounded, the bins a
//! report's timeline uses, and text sparklines.
//!
//! A histogram starts at one-second buckets. When a cluster has occurred in more than
//! [`MAX_BUCKETS`] distinct buckets, the buckets widen (10 s, 1 min, 10 min, 1 h, 1 d)
//! and merge, so a cluster costs at most about 8 KB however long the input. Counting a
//! range is exact at one-second resolution; a widened bucket counts where it starts. A
//! bucket counts up to `u32::MAX` (4,294,967,295) occurrences and stays there.
//!
//! Buckets are stored in 4 bytes each: the distance from the previous bucket's start
//! and a count, both `u16`. A wider gap is bridged by empty spacer elements, and a
//! larger count continues in elements at distance 0; both are rare, and neither counts
//! as a bucket.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};

/// Distinct buckets a histogram keeps before it widens them.
pub const MAX_BUCKETS: usize = 2048;

/// Bucket widths in seconds, narrowest first. Each divides the next.
const WIDTHS: [i64; 6] = [1, 10, 60, 600, 3600, 86_400];

/// The widest width: the origin is aligned to it, so every width divides the distance
/// from the origin to any bucket start.
const DAY: i64 = WIDTHS[WIDTHS.len() - 1];

/// The longest distance one element spans.
const STEP: i64 = u16::MAX as i64;

/// Occurrences per time bucket.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// Index into [`WIDTHS`].
    width: usize,
    /// Unix seconds of the day the first occurrence fell in; bucket keys count widths
    /// from here.
    origin: i64,
    /// Keys of the first and the last element (when there are elements).
    first: i32,
    last: i32,
    /// Buckets with a count: the elements less spacers and continuations.
    distinct: usize,
    /// (key less the previous element's key, count), sorted by key; the first
    /// element's distance is unused. A deque: input sorted by time either way adds at
    /// one of its ends.
    elements: VecDeque<(u16, u16)>,
}

/// A distance known to fit in an element.
fn distance(d: i64) -> u16 {
    u16::try_from(d).unwrap_or(u16::MAX)
}

impl Histogram {
    /// Counts one occurrence at `t`.
    pub fn add(&mut self, t: DateTime<Utc>) {
        let secs = t.timestamp();
        if self.elements.is_empty() && self.width == 0 {
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
        self.count_at(key);
        while self.distinct > MAX_BUCKETS && self.width + 1 < WIDTHS.len() {
            self.widen();
        }
    }

    /// Adds `other`'s occurrences (each at the start of its bucket).
    pub fn absorb(&mut self, other: &Histogram) {
        let width = WIDTHS[other.width];
        for (key, count) in other.buckets() {
            let Some(t) = DateTime::from_timestamp(other.origin + key * width, 0) else {
                continue;
            };
            for _ in 0..count {
                self.add(t);
            }
        }
    }

    /// Adds one to the bucket with `key`, made if new.
    fn count_at(&mut self, key: i32) {
        let (first, last) = (i64::from(self.first), i64::from(self.last));
        let k = i64::from(key);
        if self.elements.is_empty() {
            self.make_room();
            self.elements.push_back((0, 1));
            (self.first, self.last, self.distinct) = (key, key, 1);
        } else if k > last {
            let mut gap = k - last;
            while gap > STEP {
                self.make_room();
                self.elements.push_back((u16::MAX, 0));
                gap -= STEP;
            }
            self.make_room();
            self.elements.push_back((distance(gap), 1));
            self.last = key;
            self.distinct += 1;
        } else if k < first {
            let gap = first - k;
            let spacers = (gap - 1) / STEP;
            self.elements[0].0 = distance(gap - spacers * STEP);
            for _ in 0..spacers {
                self.make_room();
                self.elements.push_front((u16::MAX, 0));
            }
            self.make_room();
            self.elements.push_front((0, 1));
            self.first = key;
            self.distinct += 1;
        } else {
            let (at, at_key) = self.locate(k);
            if at_key == k {
                self.bump(at);
            } else {
                // `at` is not the last element, as `k` < `last`.
                let next_key = at_key + i64::from(self.elements[at + 1].0);
                self.elements[at + 1].0 = distance(next_key - k);
                self.make_room();
                self.elements.insert(at + 1, (distance(k - at_key), 1));
                self.distinct += 1;
            }
        }
    }

    /// The last element whose key is at most `k` (`first` <= `k` <= `last`), and its
    /// key: walked from whichever end is nearer.
    fn locate(&self, k: i64) -> (usize, i64) {
        let (first, last) = (i64::from(self.first), i64::from(self.last));
        if last - k <= k - first {
            let (mut at, mut key) = (self.elements.len() - 1, last);
            while key > k {
                key -= i64::from(self.elements[at].0);
                at -= 1;
            }
            (at, key)
        } else {
            let (mut at, mut key) = (0, first);
            while let Some(&(d, _)) = self.elements.get(at + 1) {
                if key + i64::from(d) > k {
                    break;
                }
                key += i64::from(d);
                at += 1;
            }
            (at, key)
        }
    }

    /// Adds one to the bucket whose last element is `at`.
    fn bump(&mut self, at: usize) {
        let mut start = at;
        while start > 0 && self.elements[start].0 == 0 {
            start -= 1;
        }
        let total: u64 = self
            .elements
            .range(start..=at)
            .map(|e| u64::from(e.1))
            .sum();
        if total >= u64::from(u32::MAX) {
            return;
        }
        let count = &mut self.elements[at].1;
        if *count == 0 {
            // A spacer becomes a bucket.
            self.distinct += 1;
        }
        if *count < u16::MAX {
            *count += 1;
        } else {
            self.make_room();
            self.elements.insert(at + 1, (0, 1));
        }
    }

    /// Room for one more element: growing by a quarter up to the cap, never past it
    /// (beyond, at the widest width or with spacers, by the usual doubling). A quarter,
    /// as a histogram stops growing at some size, where doubling left a third of its
    /// room unused on average.
    fn make_room(&mut self) {
        let len = self.elements.len();
        if len == self.elements.capacity() {
            if len <= MAX_BUCKETS {
                let want = (len + (len / 4).max(4)).min(MAX_BUCKETS + 1);
                self.elements.reserve_exact(want - len);
            } else {
                self.elements.reserve(1);
            }
        }
    }

    /// The buckets in order, as (key, count).
    fn buckets(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        let mut key = i64::from(self.first);
        let mut elements = self.elements.iter().enumerate().peekable();
        std::iter::from_fn(move || {
            loop {
                let (i, &(d, n)) = elements.next()?;
                if i > 0 {
                    key += i64::from(d);
                }
                let mut total = u64::from(n);
                while let Some(&(_, &(0, more))) = elements.peek() {
                    total += u64::from(more);
                    elements.next();
                }
                if total > 0 {
                    return Some((key, total.min(u64::from(u32::MAX))));
                }
            }
        })
    }

    /// Moves to the next width, merging the buckets that now share a start.
    fn widen(&mut self) {
        let ratio = WIDTHS[self.width + 1] / WIDTHS[self.width];
        self.width += 1;
        let mut merged: Vec<(i64, u64)> = Vec::new();
        for (k, n) in self.buckets() {
            // Narrowing: |k / ratio| <= |k|, so it stays in i32.
            let k = k.div_euclid(ratio);
            match merged.last_mut() {
                Some((last, m)) if *last == k => *m = (*m + n).min(u64::from(u32::MAX)),
                _ => merged.push((k, n)),
            }
        }
        let mut rebuilt = Histogram {
            width: self.width,
            origin: self.origin,
            ..Histogram::default()
        };
        for (k, n) in merged {
            let key = i32::try_from(k).unwrap_or(if k < 0 { i32::MIN } else { i32::MAX });
            let mut left = n;
            while left > 0 {
                let part = left.min(u64::from(u16::MAX));
                if rebuilt.elements.is_empty() || key > rebuilt.last {
                    rebuilt.count_at(key);
                    let back = rebuilt.elements.len() - 1;
                    rebuilt.elements[back].1 = u16::try_from(part).unwrap_or(u16::MAX);
                } else {
                    rebuilt
                        .elements
                        .push_back((0, u16::try_from(part).unwrap_or(u16::MAX)));
                }
                left -= part;
            }
        }
        rebuilt.elements.shrink_to_fit();
        *self = rebuilt;
    }

    /// Unix seconds where the bucket with key `k` starts.
    fn start(&self, k: i64) -> i64 {
        self.origin
            .saturating_add(k.saturating_mul(WIDTHS[self.width]))
    }

    /// The buckets starting in `[from, until)`, as (start in Unix seconds, count).
    fn range(&self, from: i64, until: i64) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.buckets()
            .map(|(k, n)| (self.start(k), n))
            .skip_while(move |&(s, _)| s < from)
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
    use proptest::prelude::*;

    /// The histogram as it was, one `(i32, u32)` per bucket: the reference the
    /// compact one must count like.
    mod reference {
        use super::super::{DAY, MAX_BUCKETS, WIDTHS};
        use chrono::{DateTime, TimeDelta, Utc};
        use std::collections::VecDeque;

        /// Occurrences per time bucket.
        #[derive(Default)]
        pub(super) struct Histogram {
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
            pub(super) fn add(&mut self, t: DateTime<Utc>) {
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
            pub(super) fn resolution_secs(&self) -> i64 {
                WIDTHS[self.width]
            }

            /// Occurrences in `[from, until)`, both in whole seconds (sub-second parts are
            /// dropped: an entry in the same second as `from` counts as inside).
            pub(super) fn count(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
                let (a, b) = (from.timestamp(), until.timestamp());
                if a >= b {
                    return 0;
                }
                self.range(a, b).map(|(_, n)| n).sum()
            }

            /// Counts in `bins` consecutive bins of `bin` starting at `start`.
            pub(super) fn series(
                &self,
                start: DateTime<Utc>,
                bin: TimeDelta,
                bins: usize,
            ) -> Vec<u64> {
                let step = bin.num_seconds().max(1);
                let first = start.timestamp();
                let mut out = vec![0; bins];
                let end =
                    first.saturating_add(step.saturating_mul(i64::try_from(bins).unwrap_or(0)));
                for (k, n) in self.range(first, end) {
                    let i = usize::try_from((k - first) / step).unwrap_or(usize::MAX);
                    if let Some(slot) = out.get_mut(i) {
                        *slot += n;
                    }
                }
                out
            }
        }

        impl Histogram {
            pub(super) fn buckets(&self) -> usize {
                self.buckets.len()
            }
        }
    }

    /// Every count the report reads, from both histograms after the same adds.
    fn same_counts(times: &[i64]) -> Result<(), TestCaseError> {
        let mut compact = Histogram::default();
        let mut reference = reference::Histogram::default();
        for &t in times {
            let t = DateTime::from_timestamp(t, 0).unwrap();
            compact.add(t);
            reference.add(t);
            prop_assert_eq!(compact.distinct, reference.buckets());
        }
        prop_assert_eq!(compact.resolution_secs(), reference.resolution_secs());
        let lo = times.iter().copied().min().unwrap_or(0);
        let hi = times.iter().copied().max().unwrap_or(0);
        let span = (hi - lo).max(1);
        for (a, b) in [
            (lo, hi + 1),
            (lo - 1, lo + 1),
            (lo + span / 3, lo + span / 2),
            (lo + span / 2, hi),
            (hi, hi + 1),
        ] {
            let (a, b) = (
                DateTime::from_timestamp(a, 0).unwrap(),
                DateTime::from_timestamp(b, 0).unwrap(),
            );
            prop_assert_eq!(compact.count(a, b), reference.count(a, b));
        }
        let start = DateTime::from_timestamp(lo, 0).unwrap();
        let bin = TimeDelta::seconds((span / 40).max(1));
        prop_assert_eq!(
            compact.series(start, bin, 41),
            reference.series(start, bin, 41)
        );
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_compact_histogram_counts_like_the_reference(
            base in 1_500_000_000i64..1_900_000_000,
            steps in proptest::collection::vec((0i64..4, 0i64..200_000), 1..3000),
            order in 0u8..3,
        ) {
            // Gaps from none to days (past one element's reach at one second), in
            // order, reversed, or shuffled by a fixed stride.
            let mut times: Vec<i64> = steps
                .iter()
                .scan(base, |t, &(kind, gap)| {
                    *t += match kind {
                        0 => 0,
                        1 => gap % 7,
                        2 => gap % 400,
                        _ => gap,
                    };
                    Some(*t)
                })
                .collect();
            match order {
                0 => {}
                1 => times.reverse(),
                _ => {
                    let n = times.len();
                    // 7919 is prime and above any length here: a permutation.
                    times = (0..n).map(|i| times[(i * 7919) % n]).collect();
                }
            }
            same_counts(&times)?;
        }
    }

    #[test]
    fn gaps_past_an_element_and_counts_past_u16_count_exactly() {
        let day = 86_400;
        let base = 1_700_000_000 - 1_700_000_000 % day;
        // A day apart at one second needs a spacer; adding at the spacer's own
        // second makes it a bucket; 70,000 in one second needs a continuation.
        let mut times = vec![base, base + day, base + 65_535, base - day, base + 3];
        times.extend(std::iter::repeat_n(base + 3, 70_000));
        same_counts(&times).unwrap();
        let mut h = Histogram::default();
        for &t in &times {
            h.add(DateTime::from_timestamp(t, 0).unwrap());
        }
        assert_eq!(h.distinct, 5);
        assert!(h.elements.len() <= 9, "{:?}", h.elements);
        let t = |s| DateTime::from_timestamp(s, 0).unwrap();
        assert_eq!(h.count(t(base + 3), t(base + 4)), 70_001);
    }

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
        assert!(h.distinct <= MAX_BUCKETS);
        assert!(
            h.elements.capacity() <= MAX_BUCKETS + 1,
            "{}",
            h.elements.capacity()
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
        assert_eq!(h.distinct, 3048);
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
