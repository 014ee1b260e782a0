//! The seam through which pre-grouped entries enter the cluster stage. A source that
//! groups entries where they live (the Log Analytics engine, in BigQuery) hands over,
//! per group, its aggregates and a bounded set of exemplar entries; the clusterer signs
//! the exemplars with the normal pipeline (same rules, same fallback, same
//! fingerprints) and counts the aggregates into that fingerprint's cluster. Any source
//! that can count could use it; files and Cloud Logging hand over single entries.
//!
//! The source guarantees that every entry of a group signs like its exemplars (the
//! engine checks the group's distinct messages and splits a group that disagrees).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Clusterer, MAX_DISTINCT, judge};
use crate::entry::{Entry, Severity};
use crate::signature::Verdict;

/// One group of entries, counted where they live.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Entries in the group.
    pub count: u64,
    /// Earliest and latest timestamps.
    pub first_seen: Option<DateTime<Utc>>,
    /// See `first_seen`.
    pub last_seen: Option<DateTime<Utc>>,
    /// The highest severity of its entries, by their severity field.
    pub severity: Severity,
    /// Entries per revision, per service.
    pub revisions: BTreeMap<String, u64>,
    /// See `revisions`.
    pub services: BTreeMap<String, u64>,
    /// Distinct instance ids (a bounded list).
    pub instances: Vec<String>,
    /// Entries per minute (the minute's start).
    pub per_minute: Vec<(DateTime<Utc>, u64)>,
    /// Exemplar entries as read (earliest first, then the latest), whole.
    pub exemplars: Vec<Entry>,
    /// 5xx request logs linked to the group's entries by trace.
    pub linked: LinkedHttp,
    /// When the group first occurred (at ERROR or above, or a failed request) on each
    /// instance (else trace): what precursor chains are read from.
    pub onsets: Vec<(String, DateTime<Utc>)>,
}

/// The 5xx request logs a source linked to a group by trace: all counted, a bounded
/// number whole (their routes, user agents and latencies are read from those).
#[derive(Debug, Clone, Default)]
pub struct LinkedHttp {
    /// Request logs linked (by trace, else by instance and time).
    pub count: u64,
    /// Of them, linked by instance and time.
    pub by_instance: u64,
    /// The group is these request logs themselves (a request cluster), not linked.
    pub own: bool,
    /// Of them, per status.
    pub statuses: BTreeMap<u16, u64>,
    /// The earliest of them, whole.
    pub requests: Vec<Entry>,
}

impl Clusterer<'_> {
    /// Counts a group into the cluster its exemplars sign to; returns that cluster's
    /// fingerprint (`None`: no exemplar is at or above the severity floor).
    pub fn add_group(&mut self, group: &Group) -> Option<String> {
        let mut signed = None;
        for e in &group.exemplars {
            if let Verdict::Signed(sig) = judge(self.rules, self.min_severity, e) {
                signed = Some((*sig, e.message.as_str()));
                break;
            }
        }
        let Some((mut sig, message)) = signed else {
            self.counts.below_threshold += group.count;
            return None;
        };
        sig.facts = Vec::new();
        self.counts.clustered += group.count;
        self.added += group.count;
        let fp = sig.fingerprint.clone();
        let floor = sig.severity_floor;
        let position = self.position_for(sig, message);
        for (name, t) in &group.onsets {
            self.onsets.observe(super::name_key(name), position, *t);
        }
        let redactor = self.redactor;
        let cluster = &mut self.clusters[position as usize];
        let mut severity = group.severity;
        for e in &group.exemplars {
            let mut s = e.severity;
            if e.rule_may_lift()
                && let Some(f) = floor.filter(|f| *f > s)
            {
                s = f;
            }
            severity = severity.max(s);
        }
        if severity > cluster.severity || cluster.count == 0 {
            cluster.severity_source = group
                .exemplars
                .iter()
                .find(|e| e.severity >= severity)
                .map_or(cluster.severity_source, |e| e.severity_source);
        }
        cluster.severity = cluster.severity.max(severity);
        cluster.count += group.count;
        for t in [group.first_seen, group.last_seen].into_iter().flatten() {
            cluster.first_seen = Some(cluster.first_seen.map_or(t, |f| f.min(t)));
            cluster.last_seen = Some(cluster.last_seen.map_or(t, |l| l.max(t)));
        }
        for (minute, n) in &group.per_minute {
            for _ in 0..*n {
                cluster.timeline.add(*minute);
            }
        }
        super::merge::add_counts(&mut cluster.revisions, &group.revisions);
        super::merge::add_counts(&mut cluster.services, &group.services);
        for i in &group.instances {
            if cluster.instances.len() >= MAX_DISTINCT {
                break;
            }
            let key = xxhash_rust::xxh3::xxh3_64(i.as_bytes());
            if let Err(at) = cluster.instances.binary_search(&key) {
                cluster.instances.insert(at, key);
            }
        }
        let linked = &group.linked;
        let mut sampled: BTreeMap<u16, u64> = BTreeMap::new();
        let before = (
            cluster.http.linked_by_trace,
            cluster.http.linked_by_instance,
        );
        for r in &linked.requests {
            if let Some(h) = &r.http {
                let how = if linked.own { "none" } else { "trace" };
                super::add_http(&mut cluster.http, &mut self.names, r, h, how, redactor);
                *sampled.entry(h.status).or_default() += 1;
            }
        }
        // The rest are counted, by status; how each was linked is known in total.
        let rest = linked.count.saturating_sub(sampled.values().sum());
        cluster.http.count += rest;
        cluster.http.linked_by_instance = before.1 + linked.by_instance;
        cluster.http.linked_by_trace =
            before.0 + (linked.count - linked.by_instance.min(linked.count));
        for (status, n) in &linked.statuses {
            let extra = n.saturating_sub(sampled.get(status).copied().unwrap_or(0));
            *cluster.http.statuses.entry(*status).or_default() += extra;
        }
        for e in &group.exemplars {
            // Facts are read from the exemplars: the only entries at hand.
            if let Verdict::Signed(sig) = judge(self.rules, Severity::Default, e) {
                cluster.tally_facts(&sig.facts, e, redactor);
            }
            cluster.offer(e, 0, redactor);
            if let Some(loc) = e.source_location.as_ref() {
                super::bump(&mut cluster.source_locations, Some(loc));
            }
        }
        Some(fp)
    }
}
