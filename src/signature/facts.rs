//! Facts a rule reads out of its messages, and the hypotheses they support or rule out.
//!
//! A rule declares `facts` (a status code, a permission, a resource name, a duration):
//! each is a named value found in the message, by its own pattern or by a capture of
//! the rule's pattern. Every entry the rule signs carries its facts; a cluster tallies
//! their values. A hypothesis (`whys`) may name the facts that support it and the ones
//! that rule it out: a hypothesis is ruled out only when every entry that states the
//! fact states a value that contradicts it. Format: `rules/README.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// A fact a rule reads out of its messages.
#[derive(Debug, Clone)]
pub struct Fact {
    /// Name (also the placeholder in `says`).
    pub name: String,
    /// The sentence that states it, with `{name}` for the value.
    pub says: String,
    /// Its own pattern (the capture `name`, else the whole match); `None`: the rule
    /// pattern's capture `name`.
    pub regex: Option<Regex>,
    /// The value is message-like text: it is reduced to its template (ids, numbers and
    /// other variable values masked as the fallback masks them), so its variants
    /// count as one value.
    pub template: bool,
}

impl Fact {
    /// The fact's value in `message`, if the message states it.
    pub fn read(&self, message: &str, captures: &BTreeMap<String, String>) -> Option<String> {
        let value = match &self.regex {
            None => captures.get(&self.name).cloned(),
            Some(re) => re.captures(message).map(|c| {
                c.name(&self.name)
                    .or_else(|| c.get(0))
                    .map_or(String::new(), |m| m.as_str().to_string())
            }),
        }?;
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        Some(if self.template {
            super::fallback::mask_line(value)
        } else {
            value.to_string()
        })
    }
}

/// One hypothesis of a rule, with the facts that bear on it.
#[derive(Debug, Clone)]
pub struct Hypothesis {
    /// The sentence, with `{capture}` placeholders.
    pub text: String,
    /// Facts whose value (matching the whole pattern) supports it.
    pub supported_by: Vec<(String, Regex)>,
    /// Facts whose value (matching the whole pattern) contradicts it.
    pub ruled_out_by: Vec<(String, Regex)>,
}

/// The table form of a hypothesis in a pack.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HypothesisDef {
    pub why: String,
    #[serde(default)]
    pub supported_by: BTreeMap<String, String>,
    #[serde(default)]
    pub ruled_out_by: BTreeMap<String, String>,
}

/// A fact as written in a pack.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FactDef {
    pub name: String,
    pub says: String,
    pub pattern: Option<String>,
    #[serde(default)]
    pub template: bool,
}

/// Distinct values kept per fact; further values are counted as others.
pub const MAX_VALUES: usize = 8;

/// The values one fact took in a cluster's entries.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Values (redacted), in the order they were first kept.
    pub values: Vec<TalliedValue>,
    /// Entries that stated a value beyond the first [`MAX_VALUES`].
    pub others: u64,
    /// Keys of the raw values (not serialised: a raw value may hold a secret).
    #[serde(skip)]
    keys: Vec<u64>,
}

/// One value of a fact with the entries that state it.
#[derive(Debug, Clone, Serialize)]
pub struct TalliedValue {
    /// The value (redacted).
    pub value: String,
    /// Entries stating it.
    pub count: u64,
    /// The earliest entry that stated it (`insertId ...`, else its time; an entry
    /// without a time only until one with a time states it).
    pub first: Option<String>,
    #[serde(skip)]
    first_at: Option<DateTime<Utc>>,
}

impl Tally {
    /// Counts one entry's value. `shown` redacts a value the first time it is kept;
    /// `at` is the entry's time and `name` names the entry.
    pub fn observe(
        &mut self,
        raw: &str,
        shown: impl FnOnce(&str) -> String,
        at: Option<DateTime<Utc>>,
        name: impl FnOnce() -> Option<String>,
    ) {
        let key = xxhash_rust::xxh3::xxh3_64(raw.as_bytes());
        if let Some(i) = self.keys.iter().position(|k| *k == key) {
            let v = &mut self.values[i];
            v.count += 1;
            // Input order is not time order (exports come newest first too).
            if at.is_some() && (v.first_at.is_none() || at < v.first_at) {
                v.first_at = at;
                v.first = name();
            }
        } else if self.values.len() < MAX_VALUES {
            self.keys.push(key);
            self.values.push(TalliedValue {
                value: shown(raw),
                count: 1,
                first: name(),
                first_at: at,
            });
        } else {
            self.others += 1;
        }
    }

    /// Entries that stated the fact.
    pub fn entries(&self) -> u64 {
        self.values.iter().map(|v| v.count).sum::<u64>() + self.others
    }

    /// The values, most entries first (ties: earliest first, then by value), so the
    /// order does not depend on the order of the input.
    pub fn by_count(&self) -> Vec<&TalliedValue> {
        let mut out: Vec<&TalliedValue> = self.values.iter().collect();
        out.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| match (a.first_at, b.first_at) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                })
                .then_with(|| a.value.cmp(&b.value))
        });
        out
    }
}

/// How a cluster's facts bear on a hypothesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// No fact bears on it, or the facts are mixed.
    Open,
    /// A fact's value supports it: (fact, value).
    Supported(String, String),
    /// Every entry stating the fact contradicts it: (fact, values).
    RuledOut(String, Vec<String>),
}

/// Compiles a hypothesis's value pattern so that it matches whole values only. The
/// pattern is checked on its own first: wrapping must not make a broken pattern valid
/// (`a)|(b`). Anchoring the whole alternation matters: `[1-9]|[1-9][0-9]` finds `4`
/// in `42` first and would otherwise miss the whole value.
pub(crate) fn whole_value_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(pattern)?;
    Regex::new(&format!("^(?:{pattern})$"))
}

fn whole(re: &Regex, value: &str) -> bool {
    re.is_match(value)
}

impl Hypothesis {
    /// Judges the hypothesis by the tallies of the rule's `facts` (same order).
    pub fn judge(&self, facts: &[Fact], tallies: &[Tally]) -> Judgement {
        let tally = |name: &str| {
            facts
                .iter()
                .position(|f| f.name == name)
                .and_then(|i| tallies.get(i))
                .filter(|t| t.entries() > 0)
        };
        for (name, re) in &self.ruled_out_by {
            if let Some(t) = tally(name)
                && t.others == 0
                && t.values.iter().all(|v| whole(re, &v.value))
            {
                return Judgement::RuledOut(
                    name.clone(),
                    t.values.iter().map(|v| v.value.clone()).collect(),
                );
            }
        }
        for (name, re) in &self.supported_by {
            if let Some(v) =
                tally(name).and_then(|t| t.by_count().into_iter().find(|v| whole(re, &v.value)))
            {
                return Judgement::Supported(name.clone(), v.value.clone());
            }
        }
        Judgement::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(name: &str) -> Fact {
        Fact {
            name: name.into(),
            says: format!("It says {{{name}}}."),
            regex: None,
            template: false,
        }
    }

    fn tally(values: &[(&str, u64)]) -> Tally {
        let mut t = Tally::default();
        for (v, n) in values {
            for _ in 0..*n {
                t.observe(v, str::to_string, None, || None);
            }
        }
        t
    }

    fn hypothesis(supported: &[(&str, &str)], ruled_out: &[(&str, &str)]) -> Hypothesis {
        let compile = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(n, p)| ((*n).to_string(), whole_value_regex(p).unwrap()))
                .collect()
        };
        Hypothesis {
            text: "h".into(),
            supported_by: compile(supported),
            ruled_out_by: compile(ruled_out),
        }
    }

    #[test]
    fn a_hypothesis_is_ruled_out_only_when_every_stated_value_contradicts_it() {
        let facts = [fact("code")];
        let h = hypothesis(&[], &[("code", "NotFound|NOT_FOUND")]);
        assert_eq!(
            h.judge(&facts, &[tally(&[("NotFound", 3), ("NOT_FOUND", 1)])]),
            Judgement::RuledOut("code".into(), vec!["NotFound".into(), "NOT_FOUND".into()])
        );
        // One entry says otherwise: mixed evidence rules nothing out.
        assert_eq!(
            h.judge(
                &facts,
                &[tally(&[("NotFound", 3), ("PermissionDenied", 1)])]
            ),
            Judgement::Open
        );
        // Nobody stated it: nothing is known.
        assert_eq!(h.judge(&facts, &[Tally::default()]), Judgement::Open);
        // The pattern matches the whole value, not a part of it.
        assert_eq!(
            h.judge(&facts, &[tally(&[("NotFoundYet", 2)])]),
            Judgement::Open
        );
    }

    #[test]
    fn an_alternative_that_finds_a_prefix_first_still_matches_the_whole_value() {
        let facts = [fact("code")];
        // `[1-9]` alone finds `4` in `42`: the alternation as a whole must decide.
        let h = hypothesis(&[("code", "1|14")], &[("code", "[1-9]|[1-9][0-9]")]);
        assert_eq!(
            h.judge(&facts, &[tally(&[("42", 2), ("7", 1)])]),
            Judgement::RuledOut("code".into(), vec!["42".into(), "7".into()])
        );
        assert_eq!(
            h.judge(&facts, &[tally(&[("14", 1), ("140", 1)])]),
            Judgement::Supported("code".into(), "14".into())
        );
        // Wrapping does not make a broken pattern valid.
        assert!(whole_value_regex("a)|(b").is_err());
    }

    #[test]
    fn a_supporting_value_is_named() {
        let facts = [fact("status"), fact("code")];
        let h = hypothesis(&[("code", "PermissionDenied")], &[]);
        assert_eq!(
            h.judge(
                &facts,
                &[
                    tally(&[("403", 2)]),
                    tally(&[("Unknown", 5), ("PermissionDenied", 1)])
                ]
            ),
            Judgement::Supported("code".into(), "PermissionDenied".into())
        );
    }

    #[test]
    fn values_beyond_the_cap_are_counted_as_others_and_block_ruling_out() {
        let mut t = Tally::default();
        for i in 0..(MAX_VALUES + 3) {
            t.observe(&format!("v{i}"), str::to_string, None, || None);
        }
        t.observe("v0", str::to_string, None, || None);
        assert_eq!(t.values.len(), MAX_VALUES);
        assert_eq!(t.others, 3);
        assert_eq!(t.entries(), MAX_VALUES as u64 + 4);
        let h = hypothesis(&[], &[("code", "v[0-9]+")]);
        assert_eq!(h.judge(&[fact("code")], &[t]), Judgement::Open);
    }

    #[test]
    fn the_earliest_entry_is_named_whatever_the_input_order() {
        let at = |s: u32| {
            Some(DateTime::<Utc>::from_timestamp(1_790_000_000 + i64::from(s), 0).unwrap())
        };
        let name = |n: &'static str| move || Some(n.to_string());
        let mut newest_first = Tally::default();
        newest_first.observe("NotFound", str::to_string, at(9), name("c"));
        newest_first.observe("Internal", str::to_string, at(8), name("b"));
        newest_first.observe("NotFound", str::to_string, at(1), name("a"));
        newest_first.observe("Internal", str::to_string, at(0), name("z"));
        let mut oldest_first = Tally::default();
        oldest_first.observe("Internal", str::to_string, at(0), name("z"));
        oldest_first.observe("NotFound", str::to_string, at(1), name("a"));
        oldest_first.observe("Internal", str::to_string, at(8), name("b"));
        oldest_first.observe("NotFound", str::to_string, at(9), name("c"));
        for t in [&newest_first, &oldest_first] {
            let shown: Vec<(&str, Option<&str>)> = t
                .by_count()
                .iter()
                .map(|v| (v.value.as_str(), v.first.as_deref()))
                .collect();
            assert_eq!(shown, [("Internal", Some("z")), ("NotFound", Some("a"))]);
        }
    }

    #[test]
    fn a_template_fact_counts_the_variants_of_a_message_as_one_value() {
        let reason = Fact {
            name: "reason".into(),
            says: String::new(),
            regex: Some(Regex::new(r"desc = (?P<reason>.+)").unwrap()),
            template: true,
        };
        let none = BTreeMap::new();
        let a = reason.read(
            r#"code = NotFound desc = Document "tenants/t-4410/invoices/inv_99812" not found."#,
            &none,
        );
        let b = reason.read(
            r#"code = NotFound desc = Document "tenants/t-17/invoices/inv_3" not found."#,
            &none,
        );
        assert_eq!(a, b);
        assert!(a.unwrap().starts_with("Document "));
    }

    #[test]
    fn a_fact_reads_its_own_pattern_or_the_rule_capture() {
        let own = Fact {
            name: "code".into(),
            says: String::new(),
            regex: Some(Regex::new(r"code = (?P<code>\w+)").unwrap()),
            template: false,
        };
        let caps = BTreeMap::from([("permission".to_string(), "run.jobs.run".to_string())]);
        assert_eq!(
            own.read("rpc error: code = Unavailable desc = x", &caps)
                .as_deref(),
            Some("Unavailable")
        );
        assert_eq!(own.read("no code here", &caps), None);
        assert_eq!(
            fact("permission").read("", &caps).as_deref(),
            Some("run.jobs.run")
        );
        let whole_match = Fact {
            name: "d".into(),
            says: String::new(),
            regex: Some(Regex::new(r"[0-9.]+s").unwrap()),
            template: false,
        };
        assert_eq!(
            whole_match.read("after 7.5s", &caps).as_deref(),
            Some("7.5s")
        );
    }
}
