//! Which cluster tends to come first: observed precursors, from the order in which
//! clusters first appear on the same instance (or, for entries without an instance, in
//! the same trace).
//!
//! For a cluster B, each instance where B occurs is one of "B's instances". A cluster
//! A is an **observed precursor** of B when, in at least [`MIN_SHARE`] of B's
//! instances and in at least [`MIN_INSTANCES`] of them, A's first entry on that
//! instance came before B's first entry there, by no more than [`MAX_GAP`]. This is
//! correlation in time, not proof of cause; below the thresholds nothing is claimed.
//!
//! Only entries at [`MIN_SEVERITY`] or above (and 5xx request logs) take part:
//! warnings are too often steady background (auth failures, client disconnects) whose
//! order on an instance means nothing.
//!
//! A request log counts at the time its response was sent (start plus latency), so a
//! request does not appear to precede the error that failed it.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::entry::Severity;

/// Entries below this severity (other than 5xx request logs) are not ordered.
pub const MIN_SEVERITY: Severity = Severity::Error;
/// A precursor must come first on at least this share of B's instances.
pub const MIN_SHARE: f64 = 0.75;
/// ... and on at least this many of them.
pub const MIN_INSTANCES: u64 = 2;
/// ... each time at most this long before B's first entry there.
pub const MAX_GAP: TimeDelta = TimeDelta::minutes(10);

/// Instances (or traces) tracked.
const MAX_GROUPS: usize = 20_000;
/// Clusters tracked per instance.
const MAX_PER_GROUP: usize = 256;

/// First occurrence of each cluster per instance (or trace): per group, by the key of
/// its name (the xxh3-128 the clusterer keys traces by), the clusters by position with
/// their first time, in position order. 16 bytes a cluster, where a fingerprint string
/// as key took about 80 in a map.
#[derive(Debug, Default)]
pub struct Onsets {
    groups: HashMap<[u8; 16], Vec<(u32, DateTime<Utc>)>>,
}

impl Onsets {
    /// Records that the cluster at position `cluster` occurred at `t` on `group`.
    pub fn observe(&mut self, group: [u8; 16], cluster: u32, t: DateTime<Utc>) {
        let full = self.groups.len() >= MAX_GROUPS;
        let firsts = if let Some(m) = self.groups.get_mut(&group) {
            m
        } else if full {
            return;
        } else {
            self.groups.entry(group).or_default()
        };
        match firsts.binary_search_by_key(&cluster, |&(c, _)| c) {
            Ok(i) => {
                if t < firsts[i].1 {
                    firsts[i].1 = t;
                }
            }
            Err(i) if firsts.len() < MAX_PER_GROUP => firsts.insert(i, (cluster, t)),
            Err(_) => {}
        }
    }
}

impl Onsets {
    /// Moves every cluster to the position `to` gives it; clusters that land on one
    /// position keep their earliest time.
    pub fn remap(&mut self, to: impl Fn(u32) -> u32) {
        for firsts in self.groups.values_mut() {
            for f in firsts.iter_mut() {
                f.0 = to(f.0);
            }
            firsts.sort_by_key(|&(c, t)| (c, t));
            firsts.dedup_by_key(|f| f.0);
        }
    }
}

/// An observed precursor: `from` came before `to`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Precursor {
    /// The earlier cluster's fingerprint.
    pub from: String,
    /// The later cluster's fingerprint.
    pub to: String,
    /// Instances where `from` came first, within [`MAX_GAP`].
    pub instances: u64,
    /// Instances where `to` occurs.
    pub of: u64,
    /// `instances / of`.
    pub share: f64,
    /// Median time from `from`'s first entry to `to`'s, in seconds.
    pub median_gap_secs: f64,
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]),
    }
}

/// Every precursor that meets the thresholds, strongest first for each later cluster
/// (share, then shortest median gap).
///
/// `fingerprint` names the cluster at a position. Works one later cluster at a time,
/// so besides the onsets it holds only that cluster's gaps, however many pairs of
/// clusters occur near each other.
pub fn find<'f>(onsets: &Onsets, fingerprint: impl Fn(u32) -> &'f str) -> Vec<Precursor> {
    // Each group's first occurrences, oldest first.
    let groups: Vec<Vec<(DateTime<Utc>, &str)>> = onsets
        .groups
        .values()
        .map(|group| {
            let mut firsts: Vec<(DateTime<Utc>, &str)> =
                group.iter().map(|&(c, t)| (t, fingerprint(c))).collect();
            firsts.sort_unstable();
            firsts
        })
        .collect();
    // Where each cluster occurs: (cluster, group, position in the group), by cluster.
    let mut at: Vec<(&str, usize, usize)> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, firsts)| {
            firsts
                .iter()
                .enumerate()
                .map(move |(j, (_, fp))| (*fp, g, j))
        })
        .collect();
    at.sort_unstable();
    let mut out: Vec<Precursor> = Vec::new();
    for occurrences in at.chunk_by(|x, y| x.0 == y.0) {
        let b = occurrences[0].0;
        let of = occurrences.len() as u64;
        let mut gaps: HashMap<&str, Vec<f64>> = HashMap::new();
        for &(_, g, j) in occurrences {
            let firsts = &groups[g];
            let tb = firsts[j].0;
            for (ta, a) in firsts[..j].iter().rev() {
                let gap = tb - *ta;
                if gap > MAX_GAP {
                    break;
                }
                if gap > TimeDelta::zero() {
                    gaps.entry(a)
                        .or_default()
                        .push(gap.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6);
                }
            }
        }
        out.extend(gaps.into_iter().filter_map(|(a, mut g)| {
            let instances = g.len() as u64;
            let share = instances as f64 / of.max(1) as f64;
            if instances < MIN_INSTANCES || share < MIN_SHARE {
                return None;
            }
            g.sort_by(f64::total_cmp);
            Some(Precursor {
                from: a.to_string(),
                to: b.to_string(),
                instances,
                of,
                share,
                median_gap_secs: median(&g),
            })
        }));
    }
    out.sort_by(|x, y| {
        x.to.cmp(&y.to)
            .then_with(|| y.share.total_cmp(&x.share))
            .then_with(|| x.median_gap_secs.total_cmp(&y.median_gap_secs))
            .then_with(|| x.from.cmp(&y.from))
    });
    out
}

/// Nearest first: shortest median gap, then highest share, then fingerprint.
pub fn nearer(x: &Precursor, y: &Precursor) -> std::cmp::Ordering {
    x.median_gap_secs
        .total_cmp(&y.median_gap_secs)
        .then_with(|| y.share.total_cmp(&x.share))
        .then_with(|| x.from.cmp(&y.from))
}

/// The precursor closest in time to `to` (see [`nearer`]).
pub fn nearest<'p>(all: &'p [Precursor], to: &str) -> Option<&'p Precursor> {
    all.iter()
        .filter(|p| p.to == to)
        .min_by(|x, y| nearer(x, y))
}

/// Chains ending at each of `ends`, walked back through nearest precursors (at most
/// `max_len` clusters, no cluster twice), earliest first. Chains of one cluster and
/// chains contained in a longer one are left out.
pub fn chains(all: &[Precursor], ends: &[String], max_len: usize) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for end in ends {
        let mut chain = vec![end.clone()];
        while chain.len() < max_len {
            let last = chain.last().map_or("", String::as_str);
            match nearest(all, last) {
                Some(p) if !chain.contains(&p.from) => chain.push(p.from.clone()),
                _ => break,
            }
        }
        chain.reverse();
        if chain.len() > 1 {
            out.push(chain);
        }
    }
    let contained = |small: &Vec<String>, big: &Vec<String>| {
        small.len() < big.len() && big.windows(small.len()).any(|w| w == small.as_slice())
    };
    let kept: Vec<Vec<String>> = out
        .iter()
        .filter(|c| !out.iter().any(|o| contained(c, o)))
        .cloned()
        .collect();
    let mut unique: Vec<Vec<String>> = Vec::new();
    for c in kept {
        if !unique.contains(&c) {
            unique.push(c);
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 6] = ["A", "B", "redis", "readiness", "ws", "close"];

    fn observe(o: &mut Onsets, group: &str, name: &str, t: DateTime<Utc>) {
        let position = u32::try_from(NAMES.iter().position(|n| *n == name).unwrap()).unwrap();
        o.observe(crate::cluster::name_key(group), position, t);
    }

    fn find_named(o: &Onsets) -> Vec<Precursor> {
        find(o, |c| NAMES[c as usize])
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    /// `n_with` instances where A comes 30 s before B, `n_without` where B is alone.
    fn onsets(n_with: usize, n_without: usize) -> Onsets {
        let mut o = Onsets::default();
        for i in 0..n_with {
            let g = format!("i{i}");
            observe(&mut o, &g, "A", at(0));
            observe(&mut o, &g, "B", at(30));
        }
        for i in 0..n_without {
            observe(&mut o, &format!("j{i}"), "B", at(30));
        }
        o
    }

    #[test]
    fn share_at_the_threshold_is_claimed_just_under_is_not() {
        // 3 of 4 instances = 0.75: claimed.
        let found = find_named(&onsets(3, 1));
        assert_eq!(found.len(), 1);
        let p = &found[0];
        assert_eq!((p.from.as_str(), p.to.as_str()), ("A", "B"));
        assert_eq!((p.instances, p.of), (3, 4));
        assert!((p.median_gap_secs - 30.0).abs() < 1e-9);
        // 2 of 3 = 0.67: not claimed.
        assert!(find_named(&onsets(2, 1)).is_empty());
    }

    #[test]
    fn one_instance_is_never_enough() {
        assert!(find_named(&onsets(1, 0)).is_empty());
        assert_eq!(find_named(&onsets(2, 0)).len(), 1);
    }

    #[test]
    fn gap_longer_than_the_limit_is_not_claimed() {
        let mut o = Onsets::default();
        for g in ["x", "y"] {
            observe(&mut o, g, "A", at(0));
            observe(&mut o, g, "B", at(MAX_GAP.num_seconds() + 1));
        }
        assert!(find_named(&o).is_empty());
        let mut o = Onsets::default();
        for g in ["x", "y"] {
            observe(&mut o, g, "A", at(0));
            observe(&mut o, g, "B", at(MAX_GAP.num_seconds()));
        }
        assert_eq!(find_named(&o).len(), 1);
    }

    #[test]
    fn only_the_first_occurrence_per_instance_counts() {
        let mut o = Onsets::default();
        for g in ["x", "y"] {
            observe(&mut o, g, "B", at(100));
            observe(&mut o, g, "A", at(50));
            observe(&mut o, g, "A", at(500)); // later A does not move its onset
        }
        let found = find_named(&o);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].from, "A");
    }

    #[test]
    fn chains_follow_the_nearest_precursor() {
        let mut o = Onsets::default();
        for g in ["x", "y"] {
            observe(&mut o, g, "redis", at(0));
            observe(&mut o, g, "readiness", at(5));
            observe(&mut o, g, "ws", at(200));
            observe(&mut o, g, "close", at(201));
        }
        let all = find_named(&o);
        let chains = chains(&all, &["close".to_string(), "ws".to_string()], 6);
        assert_eq!(chains, vec![vec!["redis", "readiness", "ws", "close"]]);
    }
}
