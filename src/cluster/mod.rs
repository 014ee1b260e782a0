//! Folds signed entries into one record per fingerprint, with bounded exemplars, and
//! links 5xx request logs to the application error behind them (same trace, else the
//! same instance close in time). Memory grows with clusters. The link records (ERROR
//! entries and 5xx request logs) are settled as the stream's timestamps move past
//! them, so they cover a window of time, not the whole input; they are also capped.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Serialize, Serializer};

use crate::entry::{Entry, HttpInfo, Severity, SeveritySource};
use crate::precursor::Onsets;
use crate::redact::Redactor;
use crate::signature::facts::Tally;
use crate::signature::fallback::truncate_chars;
use crate::signature::rules::RuleSet;
use crate::signature::{Signature, SignatureKind, Verdict, sign, sign_request};
use crate::stitch::Stitched;
use crate::timeline::Histogram;

mod group;
mod merge;
pub use group::{Group, LinkedHttp};

/// Earliest exemplars kept per cluster.
const EARLY_EXEMPLARS: usize = 3;
/// Latest exemplars kept per cluster.
const LATE_EXEMPLARS: usize = 2;
/// Distinct label values (revisions, instances, ...) tracked per cluster.
const MAX_DISTINCT: usize = 200;
/// HTTP examples kept per cluster.
const HTTP_EXAMPLES: usize = 5;
/// Error anchors and pending 5xx request logs kept for linking.
const MAX_LINK_RECORDS: usize = 200_000;
/// Exemplar messages are cut to this many characters (head and tail kept).
const MAX_EXEMPLAR_CHARS: usize = 6000;
/// How far from a request (before its start, after its end) an error on the same
/// instance may be to count as its cause.
const INSTANCE_LINK_SLACK: TimeDelta = TimeDelta::seconds(2);
/// How far from a request (before its start, after its end) an error on the same
/// trace may be to count as its cause.
const TRACE_LINK_SLACK: TimeDelta = TimeDelta::minutes(10);
/// The longest request Cloud Run serves (its maximum request timeout): an error is
/// kept for linking while a request that long could still reach it.
const MAX_REQUEST: TimeDelta = TimeDelta::hours(1);
/// Entries between two passes that settle the link records the stream has passed.
const SETTLE_EVERY: u64 = 4096;

/// One example occurrence, redacted by the time the clusters are finished.
#[derive(Debug, Clone, Serialize)]
pub struct Exemplar {
    /// insertId, when present.
    pub insert_id: Option<String>,
    /// 1-based input position.
    pub position: u64,
    /// RFC 3339 timestamp.
    pub timestamp: Option<DateTime<Utc>>,
    /// Entry severity.
    pub severity: Severity,
    /// The message (joined lines included), redacted and length-capped.
    pub message: String,
    /// Revision.
    pub revision: Option<String>,
    /// Instance id.
    pub instance: Option<String>,
    /// Trace id.
    pub trace: Option<String>,
    /// Source location.
    pub source_location: Option<String>,
    /// Raw entries folded into this one (split stack lines).
    pub joined_lines: usize,
    /// The message is not masked yet: a short message (no longer than an exemplar may
    /// be, so never cut) is masked when the clusters are finished, since most
    /// exemplars are replaced by later entries before then.
    #[serde(skip)]
    unmasked: bool,
}

impl Exemplar {
    /// Masks a message kept unmasked, and the source location (a function name or a
    /// file is log text too).
    fn mask(&mut self, redactor: Redactor) {
        if std::mem::take(&mut self.unmasked)
            && let std::borrow::Cow::Owned(m) = redactor.redact(&self.message)
        {
            self.message = trim_middle(&m, MAX_EXEMPLAR_CHARS);
        }
        if let Some(l) = &mut self.source_location
            && let std::borrow::Cow::Owned(m) = redactor.redact(l)
        {
            *l = m;
        }
    }
}

/// A 5xx request linked to a cluster (or a request cluster's own sample).
#[derive(Debug, Clone, Serialize)]
pub struct HttpExample {
    /// insertId of the request log.
    pub insert_id: Option<String>,
    /// When the request started.
    pub timestamp: Option<DateTime<Utc>>,
    /// HTTP status.
    pub status: u16,
    /// Method.
    pub method: String,
    /// URL, redacted.
    pub url: String,
    /// User agent (shared with the cluster's user-agent counts).
    pub user_agent: Arc<str>,
    /// Latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// Trace id.
    pub trace: Option<String>,
    /// How it was linked: `trace`, `instance`, or `none` for a request cluster.
    pub linked_by: &'static str,
}

/// HTTP failures associated with a cluster.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HttpImpact {
    /// Number of 5xx request logs.
    pub count: u64,
    /// Linked through a shared trace id.
    pub linked_by_trace: u64,
    /// Linked through the same instance close in time.
    pub linked_by_instance: u64,
    /// Counts per status.
    pub statuses: BTreeMap<u16, u64>,
    /// Counts per `METHOD route` (at most 200 distinct).
    pub routes: NameCounts,
    /// Counts per user agent (at most 200 distinct).
    pub user_agents: NameCounts,
    /// The earliest few requests.
    pub examples: Vec<HttpExample>,
    /// How long the requests took, by order of magnitude.
    pub latency: LatencySpread,
}

/// Latencies of a cluster's 5xx requests in four spans by order of magnitude (under
/// 1 s, 1–10 s, 10–60 s, over a minute): how many, the shortest and the longest in
/// each. Slow failures (timeouts) and fast ones (refusals) tell different stories.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencySpread {
    /// One span each, shortest first; spans without a request are empty (`count` 0).
    pub spans: [LatencySpan; 4],
}

/// One span of [`LatencySpread`].
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LatencySpan {
    /// Lower bound, in seconds.
    pub from_s: f64,
    /// Requests in the span.
    pub count: u64,
    /// Shortest, in milliseconds.
    pub min_ms: f64,
    /// Longest, in milliseconds.
    pub max_ms: f64,
}

impl LatencySpread {
    /// Lower bounds of the spans, in milliseconds.
    const FROM_MS: [f64; 4] = [0.0, 1_000.0, 10_000.0, 60_000.0];

    fn add(&mut self, ms: f64) {
        if !ms.is_finite() || ms < 0.0 {
            return;
        }
        let i = Self::FROM_MS.iter().rposition(|&f| ms >= f).unwrap_or(0);
        let span = &mut self.spans[i];
        span.from_s = Self::FROM_MS[i] / 1000.0;
        if span.count == 0 {
            span.min_ms = ms;
            span.max_ms = ms;
        } else {
            span.min_ms = span.min_ms.min(ms);
            span.max_ms = span.max_ms.max(ms);
        }
        span.count += 1;
    }

    /// Requests with a known latency.
    pub fn count(&self) -> u64 {
        self.spans.iter().map(|s| s.count).sum()
    }
}

/// Counts per name, in name order, for at most 200 names: a vector where a `BTreeMap`
/// took a node per 11 names, with each name stored once for all clusters (the same
/// routes and user agents recur in every cluster a 5xx links to). Serialized as a map,
/// like the `BTreeMap` it replaces.
#[derive(Debug, Clone, Default)]
pub struct NameCounts(Vec<(Arc<str>, u64)>);

impl NameCounts {
    /// Counts one more `name`, if it is counted already or there is room for it.
    fn bump(&mut self, name: &str, names: &mut Names) {
        match self.position(name) {
            Ok(i) => self.0[i].1 += 1,
            Err(i) if self.0.len() < MAX_DISTINCT => self.0.insert(i, (names.get(name), 1)),
            Err(_) => {}
        }
    }

    /// The stored name equal to `name`, if it is counted.
    fn shared(&self, name: &str) -> Option<Arc<str>> {
        let at = self.position(name).ok()?;
        Some(Arc::clone(&self.0[at].0))
    }

    /// Where `name` is, or where it would go.
    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| (**n).cmp(name))
    }

    /// The names with their counts, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(n, c)| (&**n, *c))
    }

    /// How many names are counted.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no name is counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same counts under masked names (names that mask alike are added up).
    fn redacted(&self, redactor: Redactor) -> NameCounts {
        let mut out: Vec<(Arc<str>, u64)> = Vec::with_capacity(self.0.len());
        for (name, count) in &self.0 {
            let masked = match redactor.redact(name) {
                std::borrow::Cow::Borrowed(_) => Arc::clone(name),
                std::borrow::Cow::Owned(o) => Arc::from(o),
            };
            match out.binary_search_by(|(n, _)| n.cmp(&masked)) {
                Ok(i) => out[i].1 += count,
                Err(i) => out.insert(i, (masked, *count)),
            }
        }
        NameCounts(out)
    }
}

/// Counts under masked names, added up where names mask alike.
fn redacted_counts(counts: &BTreeMap<String, u64>, redactor: Redactor) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (name, count) in counts {
        *out.entry(redactor.redact(name).into_owned()).or_default() += count;
    }
    out
}

impl Serialize for NameCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

/// The names the clusters' counts share: each distinct name stored once. A name comes
/// here only when a count takes it, so this holds no more names than the counts do.
#[derive(Debug, Default)]
struct Names(HashSet<Arc<str>>);

impl Names {
    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.0.get(name) {
            return Arc::clone(n);
        }
        let n: Arc<str> = Arc::from(name);
        self.0.insert(Arc::clone(&n));
        n
    }
}

/// One cluster: everything known about one fingerprint.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Short stable hash.
    pub fingerprint: String,
    /// The signature behind the fingerprint (from its first entry).
    pub signature: Signature,
    /// Number of entries.
    pub count: u64,
    /// Earliest timestamp.
    pub first_seen: Option<DateTime<Utc>>,
    /// Latest timestamp.
    pub last_seen: Option<DateTime<Utc>>,
    /// Highest severity.
    pub severity: Severity,
    /// Where the highest severity came from (the first entry that reached it).
    pub severity_source: SeveritySource,
    /// Counts per service.
    pub services: BTreeMap<String, u64>,
    /// Counts per revision.
    pub revisions: BTreeMap<String, u64>,
    /// Counts per location.
    pub locations: BTreeMap<String, u64>,
    /// Distinct instances (at most 200 kept), by the xxh3-64 of their ids, sorted: only
    /// their number is reported, and an id is about 64 bytes. Two of 200 ids share a
    /// hash with a chance of about one in 10^15.
    pub instances: Vec<u64>,
    /// Distinct Error Reporting group ids.
    pub error_groups: BTreeSet<String>,
    /// Source locations with counts.
    pub source_locations: BTreeMap<String, u64>,
    /// Earliest exemplars.
    pub early: Vec<Exemplar>,
    /// Latest exemplars.
    pub late: Vec<Exemplar>,
    /// Associated HTTP failures.
    pub http: HttpImpact,
    /// Raw entries joined into this cluster's entries.
    pub joined_lines: u64,
    /// Entries over time.
    pub timeline: Histogram,
    /// The narrower templates folded into this cluster (a varying word made `<*>`),
    /// most entries first: an issue filed for one of them is this cluster's issue.
    pub subsumes: Vec<Subsumed>,
    /// The values of the rule's facts its entries stated (in the rule's order).
    pub facts: Vec<Tally>,
}

/// A narrower template folded into a more general cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Subsumed {
    /// Its own fingerprint.
    pub fingerprint: String,
    /// Its template (redacted).
    pub template: String,
    /// Its entries, now counted in the general cluster.
    pub count: u64,
}

/// Counters the summary reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Stitched entries clustered (including 5xx request logs used as evidence).
    pub clustered: u64,
    /// Entries below `--min-severity`.
    pub below_threshold: u64,
    /// Raw entries folded into another entry.
    pub joined: u64,
    /// 5xx request logs linked to an application error.
    pub http_linked: u64,
}

/// An error kept for linking: 20 bytes, its cluster by position.
#[derive(Clone, Copy)]
struct Anchor {
    time: Option<DateTime<Utc>>,
    cluster: u32,
    severity: Severity,
}

/// An (insertId or position, fingerprint) pair for `--assignments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// insertId, when present.
    pub insert_id: Option<String>,
    /// 1-based input position.
    pub position: u64,
    /// The cluster.
    pub fingerprint: String,
}

/// Folds entries into clusters.
pub struct Clusterer<'r> {
    rules: &'r RuleSet,
    min_severity: Severity,
    /// The clusters in order of creation, and each one's position by fingerprint.
    clusters: Vec<Cluster>,
    positions: HashMap<String, u32>,
    /// The worst error per trace, by [`name_key`].
    by_trace: TraceAnchors,
    by_instance: HashMap<Box<str>, Vec<Anchor>>,
    anchors: usize,
    /// 5xx request logs not linked yet.
    pending: Vec<Entry>,
    onsets: Onsets,
    names: Names,
    /// Whether to keep the assignments decided when requests are linked.
    keep_assignments: bool,
    /// Masks what the clusters show: titles, keys, captures, exemplars, URLs.
    redactor: Redactor,
    late: Vec<Assignment>,
    /// The timestamp of the latest entry added (where the stream is), and how many.
    now: Option<DateTime<Utc>>,
    added: u64,
    /// Counters for the summary.
    pub counts: Counts,
}

/// The worst error per trace: a vector sorted by trace key, one anchor a trace, where a
/// hash map kept twice the slots (the marks left by forgetting keep it large), plus
/// the errors added since the last merge. Read only after [`TraceAnchors::merge`].
#[derive(Default)]
struct TraceAnchors {
    merged: Vec<([u8; 16], Anchor)>,
    recent: Vec<([u8; 16], Anchor)>,
}

impl TraceAnchors {
    fn push(&mut self, key: [u8; 16], anchor: Anchor) {
        self.recent.push((key, anchor));
    }

    /// Folds the errors added since the last merge in: a new trace keeps its first
    /// error, a kept one gives way only to a worse error (more severe, or as severe and
    /// earlier), in the order they were added.
    fn merge(&mut self) {
        fn fold(kept: &mut Anchor, a: Anchor) {
            if (a.severity, std::cmp::Reverse(a.time))
                > (kept.severity, std::cmp::Reverse(kept.time))
            {
                *kept = a;
            }
        }
        // Stable: a trace's errors stay in the order they were added.
        self.recent.sort_by_key(|&(key, _)| key);
        let mut added: Vec<([u8; 16], Anchor)> = Vec::new();
        for group in self.recent.chunk_by(|a, b| a.0 == b.0) {
            let key = group[0].0;
            let (kept, rest) = if let Ok(at) = self.merged.binary_search_by(|(k, _)| k.cmp(&key)) {
                (&mut self.merged[at].1, group)
            } else {
                added.push(group[0]);
                let last = added.len() - 1;
                (&mut added[last].1, &group[1..])
            };
            for &(_, a) in rest {
                fold(kept, a);
            }
        }
        self.recent.clear();
        if added.is_empty() {
            return;
        }
        // Both runs are sorted by key and share none: merge them from the back, into
        // room grown by an eighth at least rather than doubled.
        let (old, new) = (self.merged.len(), added.len());
        if self.merged.capacity() < old + new {
            self.merged.reserve_exact(new.max(old / 8));
        }
        self.merged.extend_from_slice(&added);
        // Elements of each run still to place.
        let (mut from_old, mut from_new) = (old, new);
        while from_new > 0 {
            let to = from_old + from_new - 1;
            if from_old > 0 && self.merged[from_old - 1].0 > added[from_new - 1].0 {
                self.merged[to] = self.merged[from_old - 1];
                from_old -= 1;
            } else {
                self.merged[to] = added[from_new - 1];
                from_new -= 1;
            }
        }
    }

    fn get(&self, key: &[u8; 16]) -> Option<&Anchor> {
        debug_assert!(self.recent.is_empty(), "read before a merge");
        self.merged
            .binary_search_by(|(k, _)| k.cmp(key))
            .ok()
            .map(|i| &self.merged[i].1)
    }

    fn retain(&mut self, keep: impl Fn(&Anchor) -> bool) {
        self.merged.retain(|(_, a)| keep(a));
    }

    /// Traces kept, and errors not merged yet.
    fn len(&self) -> usize {
        self.merged.len() + self.recent.len()
    }
}

/// What [`Clusterer::finish`] hands back.
pub struct Finished {
    /// The clusters in order of creation (not ranked): [`Finished::onsets`] refers to
    /// them by position, so reorder them only after reading those.
    pub clusters: Vec<Cluster>,
    /// Counters for the summary.
    pub counts: Counts,
    /// Assignments decided only at the end (5xx request logs).
    pub assignments: Vec<Assignment>,
    /// First occurrence of each cluster per instance, for precursors (clusters by
    /// position in `clusters`).
    pub onsets: Onsets,
    /// Fingerprints given out by [`Clusterer::add`] whose clusters were folded into
    /// a more general one, with that one's fingerprint.
    pub folded: HashMap<String, String>,
}

/// A trace name or an instance id as 128 bits (xxh3-128): the key the worst error per
/// trace is kept under, and onsets are grouped by. 16 bytes instead of the name (about
/// 60). Two of a million names kept at once share a key with a chance of about one in
/// 10^26, so links are as by name. As bytes, a key and its anchor take 36 bytes, where
/// a `u128`'s alignment would pad them to 48.
pub(crate) fn name_key(name: &str) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(name.as_bytes()).to_le_bytes()
}

/// The instance (else the trace) an entry's order is judged within. Instance ids and
/// trace names never look alike, so one map holds both.
fn order_group(entry: &Entry) -> Option<&str> {
    entry.instance.as_deref().or(entry.trace.as_deref())
}

/// When an entry happened for ordering: a request log at the end of its request.
fn order_time(entry: &Entry) -> Option<DateTime<Utc>> {
    let t = entry.timestamp?;
    if !entry.is_request_log() {
        return Some(t);
    }
    Some(t.checked_add_signed(latency(entry)).unwrap_or(t))
}

/// Longest latency believed: anything longer (a corrupt field) counts as this.
const MAX_LATENCY: TimeDelta = TimeDelta::days(1);

/// How long an entry's request took: zero when it does not say, at most a day.
fn latency(entry: &Entry) -> TimeDelta {
    entry
        .http
        .as_ref()
        .and_then(|h| h.latency_ms)
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map_or(TimeDelta::zero(), |ms| {
            #[allow(clippy::cast_possible_truncation)] // clamped to a day of microseconds
            let us = (ms * 1000.0).min(8.64e10) as i64;
            TimeDelta::microseconds(us).min(MAX_LATENCY)
        })
}

fn key_time(e: &Exemplar) -> (Option<DateTime<Utc>>, Option<&str>, u64) {
    (e.timestamp, e.insert_id.as_deref(), e.position)
}

/// Keeps the `k` smallest (or largest) exemplars by (time, insertId, position).
fn keep(list: &mut Vec<Exemplar>, ex: Exemplar, k: usize, largest: bool) {
    let pos = list.partition_point(|x| {
        if largest {
            key_time(x) > key_time(&ex)
        } else {
            key_time(x) < key_time(&ex)
        }
    });
    if pos < k {
        list.insert(pos, ex);
        list.truncate(k);
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: Option<&String>) {
    if let Some(k) = key {
        if let Some(v) = map.get_mut(k) {
            *v += 1;
        } else if map.len() < MAX_DISTINCT {
            map.insert(k.clone(), 1);
        }
    }
}

/// Cuts a long message, keeping its head and its tail (the exception line is last).
pub fn trim_middle(text: &str, max_chars: usize) -> String {
    let count = text.chars().count();
    if count <= max_chars {
        return text.to_string();
    }
    let head: String = text.chars().take(max_chars / 2).collect();
    let tail: String = text.chars().skip(count - max_chars / 2).collect();
    format!(
        "{head}\n[... {} characters omitted ...]\n{tail}",
        count - max_chars
    )
}

/// Decides how an entry that is not a request log is clustered. Below the threshold,
/// only a matching rule's severity floor can lift an entry that says nothing of its
/// own severity, so the fallback (the costly part) runs only for entries that count.
pub fn judge(rules: &RuleSet, min_severity: Severity, entry: &Entry) -> Verdict {
    if entry.severity < min_severity {
        let lifted = entry.rule_may_lift()
            && rules
                .find(&entry.message)
                .and_then(|m| m.rule.severity)
                .is_some_and(|floor| floor >= min_severity);
        if !lifted {
            return Verdict::Below;
        }
    }
    Verdict::Signed(Box::new(sign(rules, entry)))
}

/// Does ahead, on a parsing thread, what [`Clusterer::add`] would do first for `entry`
/// as read: judges its message; and a request log that will only be counted below the
/// threshold keeps just what is read of it downstream (time, revision, status), so
/// its strings are freed on the parsing thread.
pub fn prepare(rules: &RuleSet, min_severity: Severity, entry: &mut Entry) {
    if !entry.is_request_log() {
        entry.ahead = Some(std::sync::Arc::new(judge(rules, min_severity, entry)));
        return;
    }
    let status = entry.http.as_ref().map_or(0, |h| h.status);
    if status < 500 && entry.severity < min_severity {
        *entry = Entry {
            index: entry.index,
            timestamp: entry.timestamp,
            severity: entry.severity,
            severity_source: entry.severity_source,
            revision: entry.revision.take(),
            http: Some(HttpInfo {
                status,
                ..HttpInfo::default()
            }),
            has_payload: false,
            ..Entry::default()
        };
    }
}

impl<'r> Clusterer<'r> {
    /// A clusterer keeping entries at or above `min_severity` (5xx request logs always).
    pub fn new(rules: &'r RuleSet, min_severity: Severity) -> Self {
        Clusterer {
            rules,
            min_severity,
            clusters: Vec::new(),
            positions: HashMap::new(),
            by_trace: TraceAnchors::default(),
            by_instance: HashMap::new(),
            anchors: 0,
            pending: Vec::new(),
            onsets: Onsets::default(),
            names: Names::default(),
            keep_assignments: false,
            redactor: Redactor::default(),
            late: Vec::new(),
            now: None,
            added: 0,
            counts: Counts::default(),
        }
    }

    /// Keeps the assignments of linked 5xx request logs for [`Finished::assignments`]
    /// (off by default: one row per 5xx request).
    #[must_use]
    pub fn keep_assignments(mut self, keep: bool) -> Self {
        self.keep_assignments = keep;
        self
    }

    /// How what the clusters show is masked (default: secrets and personal data).
    #[must_use]
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// The rule set in use.
    pub fn rules(&self) -> &RuleSet {
        self.rules
    }

    /// Folds one stitched entry in. Returns its fingerprint when it is clustered now;
    /// 5xx request logs are decided in [`Clusterer::finish`].
    pub fn add(&mut self, stitched: Stitched) -> Option<String> {
        let Stitched { mut entry, joined } = stitched;
        self.counts.joined += joined.len() as u64;
        self.added += 1;
        if entry.timestamp.is_some() {
            self.now = entry.timestamp;
        }
        if self.added % SETTLE_EVERY == 0 {
            self.settle();
        }
        if entry.is_request_log() {
            let status = entry.http.as_ref().map_or(0, |h| h.status);
            if status >= 500 {
                self.counts.clustered += 1;
                if self.pending.len() < MAX_LINK_RECORDS {
                    self.pending.push(entry);
                    return None;
                }
                let sig = entry.http.as_ref().map(sign_request)?;
                return Some(self.fold_request(sig, &entry, "none"));
            }
            if entry.severity < self.min_severity {
                self.counts.below_threshold += 1;
                return None;
            }
            let sig = entry.http.as_ref().map(sign_request)?;
            self.counts.clustered += 1;
            return Some(self.fold_request(sig, &entry, "none"));
        }
        let ahead = entry
            .ahead
            .take()
            .and_then(|a| a.downcast::<Verdict>().ok());
        let verdict = match ahead {
            // Decided on the message as read, which stitching has not changed.
            Some(v) if joined.is_empty() => Arc::try_unwrap(v).unwrap_or_else(|v| (*v).clone()),
            _ => judge(self.rules, self.min_severity, &entry),
        };
        let mut sig = match verdict {
            Verdict::Below => {
                self.counts.below_threshold += 1;
                return None;
            }
            Verdict::Signed(sig) => *sig,
        };
        if entry.rule_may_lift()
            && let Some(floor) = sig.severity_floor.filter(|f| *f > entry.severity)
        {
            entry.severity = floor;
            entry.severity_source = SeveritySource::Rule;
        }
        if entry.severity < self.min_severity {
            self.counts.below_threshold += 1;
            return None;
        }
        self.counts.clustered += 1;
        let fp = sig.fingerprint.clone();
        let facts = std::mem::take(&mut sig.facts);
        let position = self.position_for(sig, &entry.message);
        self.observe_onset(&entry, position);
        if entry.severity >= Severity::Error && self.anchors < MAX_LINK_RECORDS {
            self.anchors += 1;
            let anchor = Anchor {
                time: entry.timestamp,
                cluster: position,
                severity: entry.severity,
            };
            if let Some(t) = entry.trace.as_deref() {
                self.by_trace.push(name_key(t), anchor);
            }
            if let Some(i) = entry.instance.as_deref() {
                match self.by_instance.get_mut(i) {
                    Some(list) => list.push(anchor),
                    None => {
                        self.by_instance.insert(i.into(), vec![anchor]);
                    }
                }
            }
        }
        let cluster = &mut self.clusters[position as usize];
        cluster.observe(&entry, entry.severity);
        cluster.joined_lines += joined.len() as u64;
        bump(
            &mut cluster.source_locations,
            entry.source_location.as_ref(),
        );
        if let Some(g) = &entry.error_group
            && cluster.error_groups.len() < 10
        {
            cluster.error_groups.insert(g.clone());
        }
        cluster.offer(&entry, joined.len(), self.redactor);
        cluster.tally_facts(&facts, &entry, self.redactor);
        Some(fp)
    }

    /// The position of `sig`'s cluster, created if new (shown redacted as signed from
    /// `message`).
    fn position_for(&mut self, sig: Signature, message: &str) -> u32 {
        if let Some(&p) = self.positions.get(&sig.fingerprint) {
            return p;
        }
        // Four billion clusters do not fit in memory long before this saturates.
        let p = u32::try_from(self.clusters.len()).unwrap_or(u32::MAX);
        self.positions.insert(sig.fingerprint.clone(), p);
        self.clusters.push(Cluster {
            fingerprint: sig.fingerprint.clone(),
            signature: sig.redacted(message, self.redactor),
            count: 0,
            first_seen: None,
            last_seen: None,
            severity: Severity::Default,
            severity_source: SeveritySource::None,
            services: BTreeMap::new(),
            revisions: BTreeMap::new(),
            locations: BTreeMap::new(),
            instances: Vec::new(),
            error_groups: BTreeSet::new(),
            source_locations: BTreeMap::new(),
            early: Vec::new(),
            late: Vec::new(),
            http: HttpImpact::default(),
            joined_lines: 0,
            timeline: Histogram::default(),
            subsumes: Vec::new(),
            facts: Vec::new(),
        });
        p
    }

    fn observe_onset(&mut self, entry: &Entry, position: u32) {
        let failed_request = entry.http.as_ref().is_some_and(|h| h.status >= 500);
        if entry.severity < crate::precursor::MIN_SEVERITY && !failed_request {
            return;
        }
        if let (Some(group), Some(t)) = (order_group(entry), order_time(entry)) {
            self.onsets.observe(name_key(group), position, t);
        }
    }

    /// Counts a request log into its own method/route/status cluster.
    fn fold_request(&mut self, sig: Signature, entry: &Entry, linked_by: &'static str) -> String {
        let fp = sig.fingerprint.clone();
        let position = self.position_for(sig, &entry.message);
        self.observe_onset(entry, position);
        let cluster = &mut self.clusters[position as usize];
        cluster.observe(entry, entry.severity.max(Severity::Warning));
        if let Some(h) = &entry.http
            && h.status >= 500
        {
            add_http(
                &mut cluster.http,
                &mut self.names,
                entry,
                h,
                linked_by,
                self.redactor,
            );
        }
        cluster.offer(entry, 0, self.redactor);
        fp
    }

    /// Links pending 5xx request logs and returns the clusters (in order of creation)
    /// and the assignments decided only now.
    pub fn finish(mut self) -> Finished {
        self.sort_anchors();
        self.by_trace.merge();
        for req in std::mem::take(&mut self.pending) {
            self.resolve(req);
        }
        let folded = merge::fold(&mut self.clusters, &mut self.onsets);
        for a in &mut self.late {
            if let Some(to) = folded.get(&a.fingerprint) {
                a.fingerprint.clone_from(to);
            }
        }
        // The exemplars that stayed are masked now, before anything can show them.
        for c in &mut self.clusters {
            for ex in c.early.iter_mut().chain(c.late.iter_mut()) {
                ex.mask(self.redactor);
            }
        }
        Finished {
            clusters: self.clusters,
            counts: self.counts,
            assignments: self.late,
            onsets: self.onsets,
            folded,
        }
    }

    fn sort_anchors(&mut self) {
        let clusters = &self.clusters;
        let fingerprint = |a: &Anchor| clusters[a.cluster as usize].fingerprint.as_str();
        for list in self.by_instance.values_mut() {
            list.sort_by(|a, b| {
                a.time
                    .cmp(&b.time)
                    .then_with(|| fingerprint(a).cmp(fingerprint(b)))
            });
        }
    }

    /// Links the pending requests the stream has moved past (no error that could link
    /// to them is still to come, in input sorted by time either way), then forgets the
    /// errors no request could link to any more: older than every window still open
    /// (in ascending input with short requests, about 20 min back by trace and 10 min
    /// by instance), or more than 1 h 20 min from where the stream is (a request still
    /// to come in descending input may have started 1 h before its errors).
    ///
    /// A trace keeps its worst error only: one forgotten leaves room for a later error
    /// of the same trace.
    fn settle(&mut self) {
        // Even without timestamps: one anchor per trace rather than every error.
        self.by_trace.merge();
        let Some(now) = self.now else { return };
        self.sort_anchors();
        let reach = TRACE_LINK_SLACK + INSTANCE_LINK_SLACK;
        let mut passed = Vec::new();
        // In place: the pending list keeps its room from one pass to the next.
        self.pending.retain_mut(|req| {
            let open = !req
                .timestamp
                .is_some_and(|start| now > start + latency(req) + reach || now < start - reach);
            if !open {
                passed.push(std::mem::take(req));
            }
            open
        });
        for req in passed {
            self.resolve(req);
        }
        // The earliest request still to be decided: the oldest pending one, or one still
        // to come (in input sorted by time either way, no more than `reach` before
        // `now`). Its windows open a slack before it starts.
        let earliest = self
            .pending
            .iter()
            .filter_map(|req| req.timestamp)
            .fold(now - reach, DateTime::min);
        let keep = reach + TRACE_LINK_SLACK + MAX_REQUEST;
        let until = now + keep;
        let near = |slack: TimeDelta| {
            let from = (earliest - slack).max(now - keep);
            move |a: &Anchor| a.time.is_none_or(|t| from <= t && t <= until)
        };
        self.by_trace.retain(near(TRACE_LINK_SLACK));
        let near = near(INSTANCE_LINK_SLACK);
        for list in self.by_instance.values_mut() {
            list.retain(near);
        }
        self.by_instance.retain(|_, list| !list.is_empty());
        self.anchors = self
            .by_instance
            .values()
            .map(Vec::len)
            .sum::<usize>()
            .max(self.by_trace.len());
    }

    /// Links one 5xx request log to the error behind it (its trace's worst error near
    /// it in time, else the nearest error on its instance), or counts it in its own
    /// request cluster.
    fn resolve(&mut self, req: Entry) {
        let window = req.timestamp.map(|start| {
            (
                start - TRACE_LINK_SLACK,
                start + latency(&req) + TRACE_LINK_SLACK,
            )
        });
        let by_trace = req
            .trace
            .as_ref()
            .and_then(|t| self.by_trace.get(&name_key(t)))
            .filter(|a| match (a.time, window) {
                (Some(t), Some((lo, hi))) => lo <= t && t <= hi,
                _ => true,
            })
            .map(|a| a.cluster);
        let (target, how) = match by_trace {
            Some(p) => (Some(p), "trace"),
            None => (self.nearest_on_instance(&req), "instance"),
        };
        let linked = target.and_then(|p| self.clusters.get_mut(p as usize));
        let fp = if let Some(cluster) = linked {
            self.counts.http_linked += 1;
            if let Some(h) = &req.http {
                add_http(
                    &mut cluster.http,
                    &mut self.names,
                    &req,
                    h,
                    how,
                    self.redactor,
                );
            }
            cluster.fingerprint.clone()
        } else {
            let Some(sig) = req.http.as_ref().map(sign_request) else {
                return;
            };
            self.fold_request(sig, &req, "none")
        };
        if self.keep_assignments {
            self.late.push(Assignment {
                insert_id: req.insert_id,
                position: req.index,
                fingerprint: fp,
            });
        }
    }

    fn nearest_on_instance(&self, req: &Entry) -> Option<u32> {
        let list = self.by_instance.get(req.instance.as_deref()?)?;
        let start = req.timestamp?;
        let latency = latency(req);
        let lo = start - INSTANCE_LINK_SLACK;
        let hi = start + latency + INSTANCE_LINK_SLACK;
        let from = list.partition_point(|a| a.time.is_none_or(|t| t < lo));
        list[from..]
            .iter()
            .take_while(|a| a.time.is_some_and(|t| t <= hi))
            .min_by_key(|a| a.time.map(|t| (t - start).abs()))
            .map(|a| a.cluster)
    }
}

fn add_http(
    impact: &mut HttpImpact,
    names: &mut Names,
    entry: &Entry,
    h: &HttpInfo,
    linked_by: &'static str,
    redactor: Redactor,
) {
    impact.count += 1;
    match linked_by {
        "trace" => impact.linked_by_trace += 1,
        "instance" => impact.linked_by_instance += 1,
        _ => {}
    }
    *impact.statuses.entry(h.status).or_default() += 1;
    if let Some(ms) = h.latency_ms {
        impact.latency.add(ms);
    }
    let route = format!("{} {}", h.method, crate::signature::route(&h.url));
    impact.routes.bump(&route, names);
    if !h.user_agent.is_empty() {
        impact.user_agents.bump(&h.user_agent, names);
    }
    // The example (a redacted copy) is built only when it is kept, in a list that
    // holds exactly HTTP_EXAMPLES.
    let me = (entry.timestamp, entry.insert_id.as_deref());
    let pos = impact
        .examples
        .partition_point(|x| (x.timestamp, x.insert_id.as_deref()) <= me);
    if pos < HTTP_EXAMPLES {
        if impact.examples.len() == HTTP_EXAMPLES {
            impact.examples.pop();
        }
        impact
            .examples
            .reserve_exact(HTTP_EXAMPLES - impact.examples.len());
        impact.examples.insert(
            pos,
            HttpExample {
                insert_id: entry.insert_id.clone(),
                timestamp: entry.timestamp,
                status: h.status,
                method: h.method.clone(),
                url: redactor.redact(&h.url).into_owned(),
                // The counted name when there is one (the same allocation).
                user_agent: impact
                    .user_agents
                    .shared(&h.user_agent)
                    .unwrap_or_else(|| Arc::from(h.user_agent.as_str())),
                latency_ms: h.latency_ms,
                trace: entry.trace.clone(),
                linked_by,
            },
        );
    }
}

fn exemplar(entry: &Entry, joined: usize, redactor: Redactor) -> Exemplar {
    let message = if entry.is_request_log() {
        entry
            .http
            .as_ref()
            .map(|h| format!("{} {} -> {}", h.method, h.url, h.status))
            .unwrap_or_default()
    } else {
        entry.message.clone()
    };
    // A message that fits is kept whole and masked at the end; a longer one is masked
    // before it is cut, so no secret is cut in half past recognition.
    let unmasked = message.len() <= MAX_EXEMPLAR_CHARS;
    let message = if unmasked {
        message
    } else {
        trim_middle(&redactor.redact(&message), MAX_EXEMPLAR_CHARS)
    };
    Exemplar {
        insert_id: entry.insert_id.clone(),
        position: entry.index,
        timestamp: entry.timestamp,
        severity: entry.severity,
        message,
        revision: entry.revision.clone(),
        instance: entry.instance.clone(),
        trace: entry.trace.clone(),
        source_location: entry.source_location.clone(),
        joined_lines: joined,
        unmasked,
    }
}

impl Cluster {
    /// Keeps `entry` as an exemplar if it is among the earliest or the latest seen;
    /// the exemplar (a redacted copy) is built only then.
    fn offer(&mut self, entry: &Entry, joined: usize, redactor: Redactor) {
        let me = (entry.timestamp, entry.insert_id.as_deref(), entry.index);
        // Keys are unique (the input position is part of them), so a full list takes
        // the entry only ahead of its last.
        let would_keep = |list: &Vec<Exemplar>, k: usize, largest: bool| {
            list.len() < k
                || list.last().is_some_and(|x| {
                    if largest {
                        key_time(x) < me
                    } else {
                        key_time(x) > me
                    }
                })
        };
        let early = would_keep(&self.early, EARLY_EXEMPLARS, false);
        let late = would_keep(&self.late, LATE_EXEMPLARS, true);
        if early || late {
            let ex = exemplar(entry, joined, redactor);
            if early {
                keep(&mut self.early, ex.clone(), EARLY_EXEMPLARS, false);
            }
            if late {
                keep(&mut self.late, ex, LATE_EXEMPLARS, true);
            }
        }
    }

    /// Counts one entry: count, severity, first/last seen, services, revisions,
    /// locations, instances.
    /// Counts the fact values one entry stated; values are redacted when first kept.
    fn tally_facts(&mut self, facts: &[Option<String>], entry: &Entry, redactor: Redactor) {
        if facts.is_empty() {
            return;
        }
        if self.facts.len() < facts.len() {
            self.facts.resize_with(facts.len(), Tally::default);
        }
        for (tally, value) in self.facts.iter_mut().zip(facts) {
            if let Some(v) = value {
                tally.observe(
                    v,
                    // A fact is a piece of the message: it loses what masking the whole
                    // message removed (worked out only when a new value is kept).
                    |raw| {
                        crate::redact::Removed::from_message(&entry.message)
                            .scrub(redactor, raw)
                            .into_owned()
                    },
                    entry.timestamp,
                    || {
                        entry
                            .insert_id
                            .as_ref()
                            .map(|i| format!("insertId {i}"))
                            .or_else(|| entry.timestamp.map(|t| t.to_rfc3339()))
                    },
                );
            }
        }
    }

    fn observe(&mut self, entry: &Entry, severity: Severity) {
        self.count += 1;
        if severity > self.severity || self.count == 1 {
            self.severity_source = entry.severity_source;
        }
        self.severity = self.severity.max(severity);
        if let Some(t) = entry.timestamp {
            self.first_seen = Some(self.first_seen.map_or(t, |f| f.min(t)));
            self.last_seen = Some(self.last_seen.map_or(t, |l| l.max(t)));
        }
        if let Some(t) = entry.timestamp {
            self.timeline.add(t);
        }
        bump(&mut self.services, entry.service.as_ref());
        bump(&mut self.revisions, entry.revision.as_ref());
        bump(&mut self.locations, entry.location.as_ref());
        if let Some(i) = &entry.instance
            && self.instances.len() < MAX_DISTINCT
        {
            let key = xxhash_rust::xxh3::xxh3_64(i.as_bytes());
            if let Err(at) = self.instances.binary_search(&key) {
                self.instances.insert(at, key);
            }
        }
    }

    /// The title shown to users: one line (redacted with the signature, when the
    /// cluster was made).
    pub fn title(&self) -> String {
        let t = self.signature.title.replace(['\n', '\r'], " ");
        truncate_chars(&t, 160)
    }

    /// Masks the names a cluster counts by (services, revisions, locations, error
    /// groups, routes, user agents), before they are shown. Its title, key and
    /// exemplars were masked when they were made.
    pub fn redact_names(&mut self, redactor: Redactor) {
        self.services = redacted_counts(&self.services, redactor);
        self.revisions = redacted_counts(&self.revisions, redactor);
        self.locations = redacted_counts(&self.locations, redactor);
        self.source_locations = redacted_counts(&self.source_locations, redactor);
        self.error_groups = self
            .error_groups
            .iter()
            .map(|g| redactor.redact(g).into_owned())
            .collect();
        self.http.routes = self.http.routes.redacted(redactor);
        self.http.user_agents = self.http.user_agents.redacted(redactor);
        for ex in &mut self.http.examples {
            if let std::borrow::Cow::Owned(ua) = redactor.redact(&ex.user_agent) {
                ex.user_agent = Arc::from(ua);
            }
        }
    }

    /// Whether this is a request-log cluster (method, route, status).
    pub fn is_http(&self) -> bool {
        self.signature.kind == SignatureKind::Http
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::stitch::Stitched;
    use proptest::prelude::*;

    fn clusters_of(lines: &[String], rules: &RuleSet) -> Vec<(String, u64)> {
        let mut c = Clusterer::new(rules, Severity::Default);
        for (i, l) in lines.iter().enumerate() {
            let entry = Entry::from_text(i as u64 + 1, l);
            c.add(Stitched {
                entry,
                joined: Vec::new(),
            });
        }
        let mut out: Vec<(String, u64)> = c
            .finish()
            .clusters
            .into_iter()
            .map(|c| (c.fingerprint, c.count))
            .collect();
        out.sort();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Clusters (fingerprints and counts) do not depend on input order.
        #[test]
        fn input_order_never_changes_clusters(seed in any::<u64>()) {
            let rules = RuleSet::load(true, &[]).unwrap();
            let lines: Vec<String> = (0..40u64)
                .map(|i| match i % 4 {
                    0 => format!("user {i} logged in from 10.0.0.{i}"),
                    1 => format!("ERROR job {} failed after {} ms", i * 7, i * 3),
                    2 => "WebSocket error: 'coroutine' object has no attribute 'get'".to_string(),
                    _ => format!("cache miss for key=k{i} on shard {}", i % 3),
                })
                .collect();
            let mut shuffled = lines.clone();
            // Fisher-Yates with a small LCG driven by the seed.
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let j = usize::try_from(state >> 33).unwrap() % (i + 1);
                shuffled.swap(i, j);
            }
            prop_assert_eq!(clusters_of(&lines, &rules), clusters_of(&shuffled, &rules));
        }

        /// The sorted trace anchors keep, per trace, the error the hash map they
        /// replace kept (the first, unless a worse one came), through merges at any
        /// point and forgetting by time.
        #[test]
        fn trace_anchors_keep_what_a_map_kept(
            ops in proptest::collection::vec((0u8..20, 0u8..3, 0i64..20, 0u8..64), 0..1000),
        ) {
            let at = |secs: i64| DateTime::from_timestamp(1_700_000_000 + secs, 0);
            let mut anchors = TraceAnchors::default();
            let mut reference: HashMap<[u8; 16], Anchor> = HashMap::new();
            for (n, &(trace, severity, secs, op)) in ops.iter().enumerate() {
                let key = name_key(&format!("t{trace}"));
                let anchor = Anchor {
                    time: if secs == 0 { None } else { at(secs) },
                    cluster: u32::try_from(n).unwrap(),
                    severity: [Severity::Warning, Severity::Error, Severity::Critical]
                        [usize::from(severity)],
                };
                anchors.push(key, anchor);
                let kept = reference.entry(key).or_insert(anchor);
                if (anchor.severity, std::cmp::Reverse(anchor.time))
                    > (kept.severity, std::cmp::Reverse(kept.time))
                {
                    *kept = anchor;
                }
                if op == 0 {
                    // Forget what is before a time, like a settle pass.
                    let near = |a: &Anchor| a.time.is_none_or(|t| at(secs).is_some_and(|c| t >= c));
                    anchors.merge();
                    anchors.retain(near);
                    reference.retain(|_, a| near(a));
                } else if op == 1 {
                    anchors.merge();
                }
            }
            anchors.merge();
            prop_assert_eq!(anchors.len(), reference.len());
            prop_assert!(anchors.merged.windows(2).all(|w| w[0].0 < w[1].0));
            for (key, kept) in &reference {
                let got = anchors.get(key);
                prop_assert_eq!(got.map(|a| (a.cluster, a.time)), Some((kept.cluster, kept.time)));
            }
        }

        /// Counts per name hold and serialize what the `BTreeMap` they replace did,
        /// past the cap on distinct names, and share each name between counts.
        #[test]
        fn name_counts_count_like_a_capped_map(
            picks in proptest::collection::vec((0u16..400, any::<bool>()), 0..1500),
        ) {
            let name = |k: u16, wide: bool| {
                if wide { format!("Grüße/{k}") } else { format!("GET /api/{k}") }
            };
            let mut names = Names::default();
            let (mut a, mut b) = (NameCounts::default(), NameCounts::default());
            let mut reference: BTreeMap<String, u64> = BTreeMap::new();
            for &(k, wide) in &picks {
                let n = name(k, wide);
                a.bump(&n, &mut names);
                b.bump(&n, &mut names);
                bump(&mut reference, Some(&n));
            }
            prop_assert_eq!(a.len(), reference.len());
            prop_assert!(a.len() <= MAX_DISTINCT);
            prop_assert_eq!(
                serde_json::to_string(&a).unwrap(),
                serde_json::to_string(&reference).unwrap()
            );
            for ((x, _), (y, _)) in a.0.iter().zip(&b.0) {
                prop_assert!(Arc::ptr_eq(x, y));
            }
            prop_assert_eq!(names.0.len(), a.len());
        }
    }
}

#[cfg(test)]
mod linking {
    use super::*;
    use crate::stitch::Stitched;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn error(secs: i64, trace: &str, instance: &str) -> Entry {
        Entry {
            timestamp: Some(at(secs)),
            severity: Severity::Error,
            severity_source: SeveritySource::Entry,
            message: "ValueError: payment declined".to_string(),
            trace: Some(trace.to_string()),
            instance: Some(instance.to_string()),
            has_payload: true,
            ..Entry::default()
        }
    }

    fn request(secs: i64, trace: &str, instance: &str, latency_ms: f64) -> Entry {
        Entry {
            timestamp: Some(at(secs)),
            severity: Severity::Error,
            severity_source: SeveritySource::HttpStatus,
            trace: Some(trace.to_string()),
            instance: Some(instance.to_string()),
            http: Some(HttpInfo {
                method: "POST".to_string(),
                url: "/pay".to_string(),
                status: 500,
                latency_ms: Some(latency_ms),
                ..HttpInfo::default()
            }),
            ..Entry::default()
        }
    }

    /// Ten hours of traffic, one failed request every 5 s with its error 1 s in, and
    /// one request whose trace's error comes 20 minutes later.
    fn day() -> Vec<Entry> {
        let mut out = Vec::new();
        for i in 0..7200 {
            let t = i * 5;
            let trace = format!("t{i}");
            out.push(request(t, &trace, "i-other", 2000.0));
            out.push(error(t + 1, &trace, &format!("i{}", i % 7)));
        }
        out.push(request(100, "late", "i-late", 100.0));
        out.push(error(100 + 1200, "late", "i-nowhere"));
        out.sort_by_key(|e| e.timestamp);
        out
    }

    fn run(entries: Vec<Entry>) -> (u64, usize, usize, usize) {
        let rules = RuleSet::load(true, &[]).unwrap();
        let mut c = Clusterer::new(&rules, Severity::Warning);
        let mut most_pending = 0;
        let mut most_anchors = 0;
        for (i, mut e) in entries.into_iter().enumerate() {
            e.index = i as u64 + 1;
            c.add(Stitched {
                entry: e,
                joined: Vec::new(),
            });
            most_pending = most_pending.max(c.pending.len());
            most_anchors = most_anchors.max(c.by_trace.len());
        }
        let done = c.finish();
        let request_clusters = done.clusters.iter().filter(|c| c.is_http()).count();
        (
            done.counts.http_linked,
            request_clusters,
            most_pending,
            most_anchors,
        )
    }

    #[test]
    fn links_are_settled_in_a_window_either_way_the_input_is_sorted() {
        let ascending = day();
        let mut descending = day();
        descending.reverse();
        for (name, entries) in [("ascending", ascending), ("descending", descending)] {
            let (linked, request_clusters, pending, anchors) = run(entries);
            assert_eq!(linked, 7200, "{name}: every request with its error near");
            assert_eq!(
                request_clusters, 1,
                "{name}: the request 20 min from its error"
            );
            // Bounded by the window (1 h 20 min of 10 hours), not by the input.
            assert!(pending < 4096 + 200, "{name}: {pending} requests pending");
            assert!(anchors < 1300 + 4096, "{name}: {anchors} errors kept");
        }
    }

    /// A successful request log: read and counted below the threshold.
    fn ok(secs: i64, n: i64) -> Entry {
        Entry {
            timestamp: Some(at(secs)),
            severity: Severity::Info,
            severity_source: SeveritySource::HttpStatus,
            instance: Some(format!("i{}", n % 7)),
            http: Some(HttpInfo {
                method: "GET".to_string(),
                url: "/".to_string(),
                status: 200,
                latency_ms: Some(20.0),
                ..HttpInfo::default()
            }),
            ..Entry::default()
        }
    }

    /// `secs` of traffic, ascending: ten entries a second, one of them an error with a
    /// trace of its own.
    fn traffic(secs: i64) -> Vec<Entry> {
        let mut out = Vec::new();
        for t in 0..secs {
            out.push(error(t, &format!("t{t}"), &format!("i{}", t % 7)));
            out.extend((0..9).map(|n| ok(t, n)));
        }
        out
    }

    fn add_all(c: &mut Clusterer<'_>, entries: Vec<Entry>, mut after: impl FnMut(&Clusterer<'_>)) {
        for (i, mut e) in entries.into_iter().enumerate() {
            e.index = i as u64 + 1;
            c.add(Stitched {
                entry: e,
                joined: Vec::new(),
            });
            after(c);
        }
    }

    #[test]
    fn errors_are_forgotten_once_no_open_window_reaches_them() {
        let rules = RuleSet::load(true, &[]).unwrap();
        let mut c = Clusterer::new(&rules, Severity::Warning);
        let (mut by_trace, mut on_instances) = (0, 0);
        add_all(&mut c, traffic(3 * 3600), |c| {
            by_trace = by_trace.max(c.by_trace.merged.len());
            on_instances = on_instances.max(c.by_instance.values().map(Vec::len).sum());
        });
        // Nothing pending: a request still to come starts at most 10 min before the
        // latest entry, and its windows open 10 min (trace) or 2 s (instance) before
        // that. At one error a second: 20 min of errors by trace (merged at each pass),
        // 10 min by instance plus up to 6.8 min (4096 entries) added between passes.
        // A fixed window of 1 h 20 min would keep 4,800.
        assert!(
            (1150..1250).contains(&by_trace),
            "{by_trace} errors kept by trace"
        );
        assert!(
            (950..1050).contains(&on_instances),
            "{on_instances} errors kept by instance"
        );
    }

    #[test]
    fn a_long_request_keeps_the_errors_its_window_reaches() {
        let rules = RuleSet::load(true, &[]).unwrap();
        let mut c = Clusterer::new(&rules, Severity::Warning);
        let mut entries = traffic(2 * 3600);
        // 5 min before a 50 min request starts, on its trace; the request is decided
        // 1 h 5 min after the error, when the input has moved on 10 min past its end.
        let mut timeout = error(3300, "long", "i-long");
        timeout.message = "TimeoutError: upstream took too long".to_string();
        entries.push(timeout);
        entries.push(request(3600, "long", "i-long", 50.0 * 60_000.0));
        entries.sort_by_key(|e| e.timestamp);
        add_all(&mut c, entries, |_| {});
        let done = c.finish();
        assert_eq!(done.counts.http_linked, 1);
        let linked: Vec<&Cluster> = done.clusters.iter().filter(|c| c.http.count > 0).collect();
        assert_eq!(linked.len(), 1);
        assert!(
            linked[0].title().contains("TimeoutError"),
            "{}",
            linked[0].title()
        );
        assert_eq!(linked[0].http.linked_by_trace, 1);
    }

    #[test]
    fn an_absurd_latency_is_read_as_a_day() {
        let rules = RuleSet::load(true, &[]).unwrap();
        let mut c = Clusterer::new(&rules, Severity::Warning);
        for (i, e) in [
            error(0, "x", "i1"),
            request(0, "y", "i1", 1e300),
            request(5, "z", "i1", -4.0),
        ]
        .into_iter()
        .enumerate()
        {
            let mut e = e;
            e.index = i as u64 + 1;
            c.add(Stitched {
                entry: e,
                joined: Vec::new(),
            });
        }
        let done = c.finish();
        assert_eq!(
            done.counts.http_linked, 1,
            "the long request spans the error"
        );
    }
}

#[cfg(test)]
mod preparing {
    use super::*;
    use crate::entry::RawEntry;

    /// Builds `json` in full and through `prepare`, and straight as counted.
    fn both(json: &str, min: Severity) -> (String, String) {
        let rules = RuleSet::load(true, &[]).unwrap();
        let raw: RawEntry<'_> = serde_json::from_str(json).unwrap();
        let mut full = Entry::from_raw(7, raw);
        prepare(&rules, min, &mut full);
        let raw: RawEntry<'_> = serde_json::from_str(json).unwrap();
        let mut light = Entry::from_raw_with(7, raw, Some(min));
        prepare(&rules, min, &mut light);
        (format!("{full:?}"), format!("{light:?}"))
    }

    #[test]
    fn a_counted_request_log_built_light_equals_one_stripped_after() {
        let request = |status: u16, extra: &str| {
            format!(
                r#"{{"timestamp":"2026-01-01T10:00:00.5Z","insertId":"abc","trace":"projects/p/traces/t1",
                "logName":"projects/p/logs/run.googleapis.com%2Frequests",
                "resource":{{"type":"cloud_run_revision","labels":{{"service_name":"api","revision_name":"api-0001-x","location":"eu"}}}},
                "labels":{{"instanceId":"i-1"}},
                "httpRequest":{{"requestMethod":"GET","requestUrl":"https://x/a?b=1","status":{status},"userAgent":"ua","latency":"0.2s"}}{extra}}}"#
            )
        };
        for (json, min) in [
            (request(200, ""), Severity::Warning),
            (request(404, ""), Severity::Warning),
            (request(404, ""), Severity::Error),
            (request(503, ""), Severity::Warning),
            (request(200, r#","severity":"ERROR""#), Severity::Warning),
            (request(200, r#","severity":"INFO""#), Severity::Default),
            (request(200, r#","textPayload":"boom""#), Severity::Warning),
            (
                request(200, r#","jsonPayload":{"level":"error"}"#),
                Severity::Warning,
            ),
            (
                r#"{"receiveTimestamp":"2026-01-01T10:00:01Z","httpRequest":{"status":"201"}}"#
                    .to_string(),
                Severity::Warning,
            ),
        ] {
            let (full, light) = both(&json, min);
            assert_eq!(full, light, "{json} at {min:?}");
        }
        // And the light one really is light.
        let ok = request(200, "");
        let raw: RawEntry<'_> = serde_json::from_str(&ok).unwrap();
        let light = Entry::from_raw_with(1, raw, Some(Severity::Warning));
        assert!(light.insert_id.is_none() && light.trace.is_none() && light.service.is_none());
        assert_eq!(light.revision.as_deref(), Some("api-0001-x"));
    }
}
