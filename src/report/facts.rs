//! Facts before hypotheses: what the cluster's entries state (by the rule's facts), and
//! the rule's hypotheses judged by them: supported ones first, open ones next, and the
//! ones every stating entry contradicts set apart as ruled out, with that fact.

use serde::Serialize;

use super::{Why, WhyKind};
use crate::cluster::Cluster;
use crate::signature::facts::{Judgement, TalliedValue};
use crate::signature::rules::{Rule, render};

/// Fact whys shown at most per cluster (all facts stay in `facts`).
const FACT_WHYS: usize = 3;

/// A fact the cluster's entries state.
#[derive(Debug, Clone, Serialize)]
pub struct FactView {
    /// The rule's name for it.
    pub name: String,
    /// The rule's sentence with the most frequent value.
    pub statement: String,
    /// The values (redacted), most entries first, each with its first entry.
    pub values: Vec<TalliedValue>,
    /// Entries that stated a value beyond those listed.
    pub others: u64,
    /// Entries that state the fact at all (of the cluster's `count`).
    pub entries: u64,
}

/// A rule hypothesis the entries' facts contradict.
#[derive(Debug, Clone, Serialize)]
pub struct RuledOut {
    /// The hypothesis, as the rule words it.
    pub hypothesis: String,
    /// The fact that rules it out.
    pub fact: String,
    /// Every value the entries stated for it.
    pub values: Vec<String>,
    /// The rule.
    pub rule: String,
}

/// A cluster's facts, fact whys, judged hypotheses and what they rule out.
#[derive(Debug, Default)]
pub(super) struct Judged {
    pub facts: Vec<FactView>,
    pub fact_whys: Vec<Why>,
    /// Supported first, then open, in the rule's order.
    pub hypotheses: Vec<Why>,
    pub ruled_out: Vec<RuledOut>,
}

pub(super) fn judge(c: &Cluster, rule: Option<&Rule>) -> Judged {
    let Some(rule) = rule else {
        return Judged::default();
    };
    let captures = &c.signature.captures;
    let mut judged = Judged::default();
    for (fact, tally) in rule.facts.iter().zip(&c.facts) {
        let values: Vec<TalliedValue> = tally.by_count().into_iter().cloned().collect();
        let Some(top) = values.first() else {
            continue;
        };
        let statement = fact.says.replace(&format!("{{{}}}", fact.name), &top.value);
        let entries = tally.entries();
        if judged.fact_whys.len() < FACT_WHYS {
            let also: Vec<String> = values[1..]
                .iter()
                .take(3)
                .map(|v| format!("{} ×{}", v.value, v.count))
                .collect();
            let mut answer = format!(
                "{} ({} of {} {}",
                statement.trim_end_matches('.'),
                top.count,
                c.count,
                if c.count == 1 { "entry" } else { "entries" }
            );
            if !also.is_empty() {
                answer.push_str("; also ");
                answer.push_str(&also.join(", "));
            }
            answer.push_str(").");
            let mut evidence = vec![format!("rule {}, fact {}", rule.id, fact.name)];
            evidence.extend(top.first.clone());
            judged.fact_whys.push(Why {
                question: format!(
                    "What do the entries say about the {}?",
                    fact.name.replace(['_', '-'], " ")
                ),
                answer,
                kind: WhyKind::Observed,
                evidence,
            });
        }
        judged.facts.push(FactView {
            name: fact.name.clone(),
            statement,
            values,
            others: tally.others,
            entries,
        });
    }
    let mut open = Vec::new();
    for h in &rule.whys {
        let text = render(&h.text, captures);
        let mut evidence = vec![format!("rule {}", rule.id)];
        match h.judge(&rule.facts, &c.facts) {
            Judgement::RuledOut(fact, values) => judged.ruled_out.push(RuledOut {
                hypothesis: text,
                fact,
                values,
                rule: rule.id.clone(),
            }),
            Judgement::Supported(fact, value) => {
                evidence.push(format!("supported by {fact} = {value}"));
                judged.hypotheses.push(hypothesis(text, evidence));
            }
            Judgement::Open => open.push(hypothesis(text, evidence)),
        }
    }
    judged.hypotheses.append(&mut open);
    judged
}

fn hypothesis(answer: String, evidence: Vec<String>) -> Why {
    Why {
        question: "Why would that happen?".to_string(),
        answer,
        kind: WhyKind::Hypothesis,
        evidence,
    }
}
