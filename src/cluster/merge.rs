//! The merge: clusters whose templates differ only in a varying word (see
//! [`crate::signature::fallback::fold`]) become one when the clusters are finished.
//! The folded cluster keeps the earliest cluster's place, adds up the others' counts,
//! exemplars, labels, HTTP impact and timeline, and lists the templates it subsumes
//! with their fingerprints and counts: the breakdown stays visible, and an issue filed
//! for a narrower template is still found.

use std::collections::HashMap;

use super::{Cluster, EARLY_EXEMPLARS, HTTP_EXAMPLES, HttpImpact, LATE_EXEMPLARS, MAX_DISTINCT};
use super::{NameCounts, Subsumed, keep};
use crate::precursor::Onsets;
use crate::signature::fallback::fold::fold_templates;
use crate::signature::{SignatureKind, fingerprint};

/// The prefix of a template signature's key.
const TEMPLATE: &str = "template:";

/// Folds the template clusters in `clusters` and compacts the list; `onsets` follow
/// the new positions. Returns each folded-away fingerprint with the one it went to.
pub(super) fn fold(clusters: &mut Vec<Cluster>, onsets: &mut Onsets) -> HashMap<String, String> {
    let candidates: Vec<usize> = (0..clusters.len())
        .filter(|&i| {
            clusters[i].signature.kind == SignatureKind::Template
                && clusters[i].signature.key.starts_with(TEMPLATE)
        })
        .collect();
    let templates: Vec<&str> = candidates
        .iter()
        .map(|&i| &clusters[i].signature.key[TEMPLATE.len()..])
        .collect();
    let folded = fold_templates(&templates);
    // Target key -> the clusters that go there, in order of creation.
    let mut targets: HashMap<String, Vec<usize>> = HashMap::new();
    for (&i, f) in candidates.iter().zip(&folded) {
        if let Some(t) = f {
            targets.entry(format!("{TEMPLATE}{t}")).or_default().push(i);
        }
    }
    if targets.is_empty() {
        return HashMap::new();
    }
    // A cluster whose own key is a target (already that general) joins its group.
    for &i in &candidates {
        if let Some(group) = targets.get_mut(&clusters[i].signature.key)
            && !group.contains(&i)
        {
            group.push(i);
            group.sort_unstable();
        }
    }
    let mut into: Vec<Option<usize>> = vec![None; clusters.len()];
    let mut remap = HashMap::new();
    let mut groups: Vec<(String, Vec<usize>)> = targets.into_iter().collect();
    groups.sort_by_key(|(_, g)| g[0]);
    for (key, group) in groups {
        let keeper = group[0];
        let fp = fingerprint(&key);
        let mut subsumed = Vec::new();
        for &i in &group {
            let c = &mut clusters[i];
            if c.fingerprint != fp {
                subsumed.push(Subsumed {
                    fingerprint: c.fingerprint.clone(),
                    template: c.signature.key[TEMPLATE.len()..].to_string(),
                    count: c.count,
                });
                remap.insert(c.fingerprint.clone(), fp.clone());
            }
            subsumed.append(&mut c.subsumes);
        }
        for &i in &group[1..] {
            let empty = placeholder(&clusters[keeper]);
            let other = std::mem::replace(&mut clusters[i], empty);
            clusters[keeper].absorb(other);
            into[i] = Some(keeper);
        }
        let k = &mut clusters[keeper];
        k.signature.title = key[TEMPLATE.len()..].to_string();
        k.signature.key = key;
        k.signature.fingerprint.clone_from(&fp);
        k.fingerprint = fp;
        subsumed.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.template.cmp(&b.template))
        });
        k.subsumes = subsumed;
    }
    // Compact: the positions of the clusters that stay, and where the others went.
    let mut position = vec![0u32; clusters.len()];
    let mut next = 0u32;
    for (i, p) in position.iter_mut().enumerate() {
        if into[i].is_none() {
            *p = next;
            next += 1;
        }
    }
    for i in 0..into.len() {
        if let Some(k) = into[i] {
            position[i] = position[k];
        }
    }
    let mut i = 0;
    clusters.retain(|_| {
        let keep = into[i].is_none();
        i += 1;
        keep
    });
    onsets.remap(|p| position[p as usize]);
    remap
}

/// An empty cluster to leave behind while one is moved out.
fn placeholder(like: &Cluster) -> Cluster {
    Cluster {
        fingerprint: String::new(),
        signature: like.signature.clone(),
        count: 0,
        first_seen: None,
        last_seen: None,
        severity: like.severity,
        severity_source: like.severity_source,
        services: std::collections::BTreeMap::new(),
        revisions: std::collections::BTreeMap::new(),
        locations: std::collections::BTreeMap::new(),
        instances: Vec::new(),
        error_groups: std::collections::BTreeSet::new(),
        source_locations: std::collections::BTreeMap::new(),
        early: Vec::new(),
        late: Vec::new(),
        http: HttpImpact::default(),
        joined_lines: 0,
        timeline: crate::timeline::Histogram::default(),
        subsumes: Vec::new(),
        facts: Vec::new(),
    }
}

pub(super) fn add_counts<K: Ord + Clone>(
    to: &mut std::collections::BTreeMap<K, u64>,
    from: &std::collections::BTreeMap<K, u64>,
) {
    for (k, v) in from {
        if let Some(c) = to.get_mut(k) {
            *c += v;
        } else if to.len() < MAX_DISTINCT {
            to.insert(k.clone(), *v);
        }
    }
}

impl Cluster {
    /// Adds `other`'s entries to this cluster.
    pub(super) fn absorb(&mut self, other: Cluster) {
        self.count += other.count;
        if other.severity > self.severity {
            self.severity = other.severity;
            self.severity_source = other.severity_source;
        }
        self.first_seen = match (self.first_seen, other.first_seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_seen = self.last_seen.max(other.last_seen);
        add_counts(&mut self.services, &other.services);
        add_counts(&mut self.revisions, &other.revisions);
        add_counts(&mut self.locations, &other.locations);
        add_counts(&mut self.source_locations, &other.source_locations);
        for i in other.instances {
            if self.instances.len() >= MAX_DISTINCT {
                break;
            }
            if let Err(at) = self.instances.binary_search(&i) {
                self.instances.insert(at, i);
            }
        }
        for g in other.error_groups {
            if self.error_groups.len() < 10 {
                self.error_groups.insert(g);
            }
        }
        for ex in other.early {
            keep(&mut self.early, ex, EARLY_EXEMPLARS, false);
        }
        for ex in other.late {
            keep(&mut self.late, ex, LATE_EXEMPLARS, true);
        }
        self.http.absorb(other.http);
        self.joined_lines += other.joined_lines;
        self.timeline.absorb(&other.timeline);
    }
}

impl HttpImpact {
    fn absorb(&mut self, other: HttpImpact) {
        self.count += other.count;
        self.linked_by_trace += other.linked_by_trace;
        self.linked_by_instance += other.linked_by_instance;
        add_counts(&mut self.statuses, &other.statuses);
        self.routes.absorb(&other.routes);
        self.user_agents.absorb(&other.user_agents);
        for ex in other.examples {
            let me = (ex.timestamp, ex.insert_id.clone());
            let pos = self
                .examples
                .partition_point(|x| (x.timestamp, x.insert_id.clone()) <= me);
            if pos < HTTP_EXAMPLES {
                self.examples.insert(pos, ex);
                self.examples.truncate(HTTP_EXAMPLES);
            }
        }
        for (mine, theirs) in self.latency.spans.iter_mut().zip(other.latency.spans) {
            if theirs.count == 0 {
                continue;
            }
            if mine.count == 0 {
                *mine = theirs;
            } else {
                mine.count += theirs.count;
                mine.min_ms = mine.min_ms.min(theirs.min_ms);
                mine.max_ms = mine.max_ms.max(theirs.max_ms);
            }
        }
    }
}

impl NameCounts {
    fn absorb(&mut self, other: &NameCounts) {
        for (name, count) in &other.0 {
            match self.position(name) {
                Ok(i) => self.0[i].1 += count,
                Err(i) if self.0.len() < MAX_DISTINCT => {
                    self.0.insert(i, (std::sync::Arc::clone(name), *count));
                }
                Err(_) => {}
            }
        }
    }
}
