//! Signatures: what makes two entries "the same problem".
//!
//! Rules first (one `RegexSet` pass, then captures from the winning rule), the
//! fallback second (stack-aware, or a masked template), and request logs by method,
//! route and status. The fingerprint is a short hash of the signature key: xxh3-64 of
//! UTF-8 bytes, a fixed algorithm, so it is the same across runs, versions and machines.

pub mod facts;
pub mod fallback;
pub mod rules;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::entry::{Entry, HttpInfo, Severity};
use fallback::{Fallback, truncate_chars};
use rules::{RuleSet, render};

/// How a signature was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureKind {
    /// A rule matched.
    Rule,
    /// A stack trace: exception type + innermost application frame.
    Stack,
    /// A masked message template.
    Template,
    /// A request log: method, route, status.
    Http,
}

/// The signature of one entry.
#[derive(Debug, Clone)]
pub struct Signature {
    /// The key the fingerprint hashes.
    pub key: String,
    /// Short stable hash of `key`.
    pub fingerprint: String,
    /// How it was obtained.
    pub kind: SignatureKind,
    /// Index of the matching rule in the rule set.
    pub rule: Option<usize>,
    /// Human title (not redacted until [`Signature::redacted`]).
    pub title: String,
    /// Rule captures.
    pub captures: BTreeMap<String, String>,
    /// Exception type, for stack signatures.
    pub exception: Option<String>,
    /// Innermost application frame, for stack signatures.
    pub frame: Option<String>,
    /// The rule's severity, used when the entry says nothing.
    pub severity_floor: Option<Severity>,
    /// The values of the rule's facts this message states (raw, in the rule's order;
    /// empty without facts). The clusterer tallies and redacts them.
    pub facts: Vec<Option<String>>,
}

impl Signature {
    /// The signature as it is shown: title, key, captures, exception and frame masked
    /// (the fingerprint is the key's before masking, so grouping does not change).
    /// `message` is the one signed: a word its masking removed is removed from every
    /// part too, even where deriving the part cut the secret out of its shape.
    #[must_use]
    pub fn redacted(self, message: &str, redactor: crate::redact::Redactor) -> Signature {
        let removed = crate::redact::Removed::from_message(message);
        let r = |s: String| match removed.scrub(redactor, &s) {
            std::borrow::Cow::Borrowed(_) => s,
            std::borrow::Cow::Owned(o) => o,
        };
        Signature {
            key: r(self.key),
            title: r(self.title),
            captures: self.captures.into_iter().map(|(k, v)| (k, r(v))).collect(),
            facts: self.facts.into_iter().map(|f| f.map(r)).collect(),
            exception: self.exception.map(r),
            frame: self.frame.map(r),
            ..self
        }
    }
}

/// What an entry's message means for clustering, decided ahead of the clusterer (on
/// a parsing thread) or by it.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Below the severity threshold, and no rule lifts it.
    Below,
    /// Clustered under this signature.
    Signed(Box<Signature>),
}

/// A short stable hash of a signature key: 12 hex digits of xxh3-64.
pub fn fingerprint(key: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_64(key.as_bytes());
    format!("{h:016x}")[..12].to_string()
}

/// The path of a request URL with id-like segments masked and no query.
pub fn route(url: &str) -> String {
    let no_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = if url.contains("://") {
        no_scheme.find('/').map_or("/", |i| &no_scheme[i..])
    } else {
        no_scheme
    };
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let masked: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if fallback::is_id_segment(seg) || seg.len() > 40 {
                "<*>"
            } else {
                seg
            }
        })
        .collect();
    let joined = masked.join("/");
    if joined.is_empty() {
        "/".to_string()
    } else {
        joined
    }
}

/// Signs a request log by method, route and status.
pub fn sign_request(http: &HttpInfo) -> Signature {
    let route = route(&http.url);
    let method = if http.method.is_empty() {
        "?"
    } else {
        http.method.as_str()
    };
    let key = format!("http:{method} {route} {}", http.status);
    Signature {
        fingerprint: fingerprint(&key),
        key,
        kind: SignatureKind::Http,
        rule: None,
        title: format!("HTTP {} on {method} {route}", http.status),
        captures: BTreeMap::new(),
        facts: Vec::new(),
        exception: None,
        frame: None,
        severity_floor: None,
    }
}

/// Signs one entry: request logs by route, others by rules then the fallback.
pub fn sign(rules: &RuleSet, entry: &Entry) -> Signature {
    if entry.is_request_log()
        && let Some(http) = &entry.http
    {
        return sign_request(http);
    }
    sign_message(rules, &entry.message)
}

/// Signs a message: the best rule, else the fallback.
pub fn sign_message(rules: &RuleSet, message: &str) -> Signature {
    if let Some(m) = rules.find(message) {
        let rule = m.rule;
        // Ids inside captures are masked in the key and the title, so a rule's
        // clusters do not grow with the users, orders or requests its messages name.
        let masked: Option<BTreeMap<String, String>> = m
            .captures
            .values()
            .any(|v| matches!(fallback::mask_ids(v), std::borrow::Cow::Owned(_)))
            .then(|| {
                m.captures
                    .iter()
                    .map(|(k, v)| (k.clone(), fallback::mask_ids(v).into_owned()))
                    .collect()
            });
        let masked = masked.as_ref().unwrap_or(&m.captures);
        let key = match &rule.fingerprint {
            Some(t) => format!("rule:{}:{}", rule.id, render(t, masked)),
            None => format!("rule:{}", rule.id),
        };
        let index = Some(m.index);
        return Signature {
            fingerprint: fingerprint(&key),
            key,
            kind: SignatureKind::Rule,
            rule: index,
            title: truncate_chars(&render(&rule.title, masked), 160),
            severity_floor: rule.severity,
            facts: rule
                .facts
                .iter()
                .map(|f| f.read(message, &m.captures))
                .collect(),
            captures: m.captures,
            exception: None,
            frame: None,
        };
    }
    let fb = fallback::fallback(message);
    let key = fb.key();
    match fb {
        Fallback::Stack {
            exception,
            headline,
            frame,
            ..
        } => Signature {
            fingerprint: fingerprint(&key),
            key,
            kind: SignatureKind::Stack,
            rule: None,
            title: truncate_chars(&headline, 160),
            captures: BTreeMap::new(),
            facts: Vec::new(),
            exception: Some(exception),
            frame,
            severity_floor: None,
        },
        Fallback::Fields { title, .. } => Signature {
            fingerprint: fingerprint(&key),
            key,
            kind: SignatureKind::Template,
            rule: None,
            title,
            captures: BTreeMap::new(),
            facts: Vec::new(),
            exception: None,
            frame: None,
            severity_floor: None,
        },
        Fallback::Template(t) => Signature {
            fingerprint: fingerprint(&key),
            key,
            kind: SignatureKind::Template,
            rule: None,
            title: if t.is_empty() {
                "(empty message)".to_string()
            } else {
                truncate_chars(&t, 160)
            },
            captures: BTreeMap::new(),
            facts: Vec::new(),
            exception: None,
            frame: None,
            severity_floor: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_fixed_values() {
        // Pinned: a change here changes every user's fingerprints.
        assert_eq!(
            fingerprint("rule:python-coroutine-attribute:get"),
            fingerprint("rule:python-coroutine-attribute:get")
        );
        assert_eq!(fingerprint("template:x").len(), 12);
        assert_eq!(fingerprint(""), "2d06800538d3");
    }

    #[test]
    fn ids_in_rule_captures_do_not_split_a_rule_cluster() {
        let rules = RuleSet::load(true, &[]).expect("built-in rules load");
        let a = sign_message(&rules, "KeyError: 'tenant_40417'");
        let b = sign_message(&rules, "KeyError: 'tenant_9'");
        let c = sign_message(&rules, "KeyError: 'SMTP_PASSWORD_FILE'");
        assert_eq!(a.kind, SignatureKind::Rule);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert!(!a.title.contains("40417"), "{}", a.title);
        assert_eq!(a.captures["key"], "tenant_40417");
    }

    #[test]
    fn routes_mask_ids_and_drop_queries() {
        assert_eq!(
            route("https://h.run.app/api/users/42/orders?x=1"),
            "/api/users/<*>/orders"
        );
        assert_eq!(route("https://h.run.app"), "/");
        assert_eq!(route("/ws"), "/ws");
    }
}
