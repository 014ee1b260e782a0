//! Rule packs: TOML `[[rule]]` tables deserialised into plain structs, validated (every
//! problem reported at once, with file and rule id) and compiled into one `RegexSet`.
//!
//! Built-in packs are embedded in the binary; `--rules DIR` adds packs and replaces
//! built-in rules that share an id. Format: `rules/README.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::{Regex, RegexSet, RegexSetBuilder};
use serde::Deserialize;

use super::facts::{Fact, FactDef, Hypothesis, HypothesisDef, whole_value_regex};
use crate::entry::Severity;
use crate::error::{Error, Result};

/// The built-in packs, embedded: (file name, contents).
pub const BUILTIN_PACKS: &[(&str, &str)] = &[
    ("auth.toml", include_str!("../../rules/auth.toml")),
    ("cloud-run.toml", include_str!("../../rules/cloud-run.toml")),
    ("go.toml", include_str!("../../rules/go.toml")),
    ("grpc.toml", include_str!("../../rules/grpc.toml")),
    ("http.toml", include_str!("../../rules/http.toml")),
    ("node.toml", include_str!("../../rules/node.toml")),
    ("python.toml", include_str!("../../rules/python.toml")),
    ("redis.toml", include_str!("../../rules/redis.toml")),
    ("websocket.toml", include_str!("../../rules/websocket.toml")),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    #[serde(default)]
    rule: Vec<RuleDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    id: String,
    title: String,
    pattern: String,
    severity: Option<String>,
    category: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    priority: i64,
    fingerprint: Option<String>,
    #[serde(default)]
    facts: Vec<FactDef>,
    /// Strings, or tables with `why`, `supported_by`, `ruled_out_by`.
    #[serde(default)]
    whys: Vec<toml::Value>,
    #[serde(default)]
    hints: Vec<String>,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    counter_examples: Vec<String>,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable kebab-case id.
    pub id: String,
    /// Title template over captures.
    pub title: String,
    /// The pattern as written.
    pub pattern: String,
    /// The compiled pattern (for captures).
    pub regex: Regex,
    /// Severity used when the entry itself says nothing.
    pub severity: Option<Severity>,
    /// Free-form category.
    pub category: Option<String>,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Higher wins when several rules match.
    pub priority: i64,
    /// Template over captures appended to the id to form the signature key.
    pub fingerprint: Option<String>,
    /// Facts read out of each matching message.
    pub facts: Vec<Fact>,
    /// Five-whys hypotheses, most likely first.
    pub whys: Vec<Hypothesis>,
    /// Where to look / how to fix.
    pub hints: Vec<String>,
    /// Messages that must match.
    pub examples: Vec<String>,
    /// Messages that must not match.
    pub counter_examples: Vec<String>,
    /// The pack the rule came from (file name or path).
    pub origin: String,
}

/// All rules, compiled into one `RegexSet`.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
    set: RegexSet,
}

/// A rule that matched a message, with its captures.
#[derive(Debug, Clone)]
pub struct RuleMatch<'r> {
    /// The rule.
    pub rule: &'r Rule,
    /// Its position in [`RuleSet::rules`].
    pub index: usize,
    /// Named captures, sorted by name.
    pub captures: BTreeMap<String, String>,
}

impl RuleSet {
    /// Built-in packs plus every `*.toml` in each folder (or file) of `extra`.
    pub fn load(builtin: bool, extra: &[PathBuf]) -> Result<RuleSet> {
        let mut packs: Vec<(String, String)> = Vec::new();
        if builtin {
            packs.extend(
                BUILTIN_PACKS
                    .iter()
                    .map(|(n, c)| ((*n).to_string(), (*c).to_string())),
            );
        }
        for path in extra {
            packs.extend(read_pack_dir(path)?);
        }
        RuleSet::compile(&packs)
    }

    /// Parses, validates and compiles packs given as (name, TOML text).
    pub fn compile(packs: &[(String, String)]) -> Result<RuleSet> {
        let mut problems = Vec::new();
        let mut rules: Vec<Rule> = Vec::new();
        for (name, text) in packs {
            let pack: PackFile = match toml::from_str(text) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(format!("{name}: {}", one_line_toml(&e)));
                    continue;
                }
            };
            let mut seen_here = std::collections::BTreeSet::new();
            for def in pack.rule {
                if !seen_here.insert(def.id.clone()) {
                    problems.push(format!(
                        "{name}: rule \"{}\": duplicate id in the same pack",
                        def.id
                    ));
                    continue;
                }
                match build_rule(name, def) {
                    Ok(rule) => {
                        // A later pack replaces an earlier rule with the same id.
                        if let Some(old) = rules.iter_mut().find(|r| r.id == rule.id) {
                            *old = rule;
                        } else {
                            rules.push(rule);
                        }
                    }
                    Err(mut p) => problems.append(&mut p),
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::InvalidRules { problems });
        }
        // Dozens of patterns share one lazy DFA: give it room, or its cache thrashes and
        // matching drops to a crawl on long inputs.
        // The set is a prefilter without word boundaries, fast on any text; `find`
        // confirms each candidate with the rule's own regex.
        let set = RegexSetBuilder::new(
            rules
                .iter()
                .map(|r| crate::prefilter::without_word_boundaries(&r.pattern)),
        )
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .map_err(|e| Error::InvalidRules {
            problems: vec![format!("rule set: {e}")],
        })?;
        Ok(RuleSet { rules, set })
    }

    /// The rules, in load order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The best matching rule: highest priority, then earliest in load order.
    pub fn find(&self, message: &str) -> Option<RuleMatch<'_>> {
        let mut candidates: Vec<usize> = self.set.matches(message).into_iter().collect();
        candidates.sort_by_key(|&i| (std::cmp::Reverse(self.rules[i].priority), i));
        let (rule, caps, best) = candidates.into_iter().find_map(|i| {
            let rule = &self.rules[i];
            rule.regex.captures(message).map(|c| (rule, c, i))
        })?;
        let captures = rule
            .regex
            .capture_names()
            .flatten()
            .filter_map(|n| {
                caps.name(n)
                    .map(|m| (n.to_string(), m.as_str().to_string()))
            })
            .collect();
        Some(RuleMatch {
            rule,
            index: best,
            captures,
        })
    }

    /// Checks every rule's examples and counter-examples against the whole set:
    /// an example must be claimed by its own rule, a counter-example must not.
    pub fn check_examples(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for rule in &self.rules {
            if rule.examples.len() < 2 || rule.counter_examples.is_empty() {
                problems.push(format!(
                    "{}: rule \"{}\": needs at least 2 examples and 1 counter-example",
                    rule.origin, rule.id
                ));
            }
            for ex in &rule.examples {
                match self.find(ex) {
                    Some(m) if m.rule.id == rule.id => {}
                    Some(m) => problems.push(format!(
                        "{}: rule \"{}\": example {:?} is claimed by rule \"{}\"",
                        rule.origin, rule.id, ex, m.rule.id
                    )),
                    None => problems.push(format!(
                        "{}: rule \"{}\": example {:?} does not match",
                        rule.origin, rule.id, ex
                    )),
                }
            }
            for fact in &rule.facts {
                let stated = rule.examples.iter().any(|ex| {
                    self.find(ex)
                        .is_some_and(|m| fact.read(ex, &m.captures).is_some())
                });
                if !stated {
                    problems.push(format!(
                        "{}: rule \"{}\": fact {:?} is stated by no example",
                        rule.origin, rule.id, fact.name
                    ));
                }
            }
            for ex in &rule.counter_examples {
                if rule.regex.is_match(ex) {
                    problems.push(format!(
                        "{}: rule \"{}\": counter-example {:?} matches",
                        rule.origin, rule.id, ex
                    ));
                }
            }
        }
        problems
    }
}

fn one_line_toml(e: &toml::de::Error) -> String {
    let msg = e.message();
    match e.span() {
        Some(span) => format!("invalid TOML at byte {}: {msg}", span.start),
        None => format!("invalid TOML: {msg}"),
    }
}

fn read_pack_dir(path: &Path) -> Result<Vec<(String, String)>> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| Error::ReadRules {
            path: p.to_path_buf(),
            source,
        })
    };
    if path.is_file() {
        return Ok(vec![(path.display().to_string(), read(path)?)]);
    }
    let dir = std::fs::read_dir(path).map_err(|source| Error::ReadRules {
        path: path.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = dir
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| Ok((p.display().to_string(), read(&p)?)))
        .collect()
}

fn is_kebab(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

fn build_rule(origin: &str, def: RuleDef) -> std::result::Result<Rule, Vec<String>> {
    let mut problems = Vec::new();
    let at = |what: String| format!("{origin}: rule \"{}\": {what}", def.id);
    if !is_kebab(&def.id) {
        problems.push(at("id must be kebab-case (a-z, 0-9, -)".into()));
    }
    if def.title.trim().is_empty() {
        problems.push(at("title is empty".into()));
    }
    let severity = def.severity.as_deref().and_then(|s| {
        let parsed = Severity::parse_name(s);
        if parsed.is_none() {
            problems.push(at(format!("unknown severity {s:?}")));
        }
        parsed
    });
    let regex = match Regex::new(&def.pattern) {
        Ok(r) => Some(r),
        Err(e) => {
            let detail = e
                .to_string()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string();
            problems.push(at(format!("invalid regex: {detail}")));
            None
        }
    };
    if let Some(re) = &regex {
        let names: Vec<&str> = re.capture_names().flatten().collect();
        for template in std::iter::once(&def.title).chain(def.fingerprint.iter()) {
            for placeholder in placeholders(template) {
                if !names.contains(&placeholder) {
                    problems.push(at(format!(
                        "{{{placeholder}}} is not a named capture of the pattern"
                    )));
                }
            }
        }
    }
    let facts = build_facts(&def.facts, regex.as_ref(), &mut problems, &at);
    let whys = build_whys(&def.whys, &def.facts, &mut problems, &at);
    match regex {
        Some(regex) if problems.is_empty() => Ok(Rule {
            id: def.id,
            title: def.title,
            pattern: def.pattern,
            regex,
            severity,
            category: def.category,
            tags: def.tags,
            priority: def.priority,
            fingerprint: def.fingerprint,
            facts,
            whys,
            hints: def.hints,
            examples: def.examples,
            counter_examples: def.counter_examples,
            origin: origin.to_string(),
        }),
        _ => Err(problems),
    }
}

fn compile_part(pattern: &str) -> std::result::Result<Regex, String> {
    Regex::new(pattern).map_err(|e| regex_problem(&e))
}

/// The last line of a regex error (the one that says what is wrong).
fn regex_problem(e: &regex::Error) -> String {
    e.to_string()
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Compiles the declared facts: each reads its own pattern's capture of its name
/// (else the whole match) or, without a pattern, the rule pattern's capture.
fn build_facts(
    defs: &[FactDef],
    rule: Option<&Regex>,
    problems: &mut Vec<String>,
    at: &dyn Fn(String) -> String,
) -> Vec<Fact> {
    let mut facts = Vec::new();
    for (i, def) in defs.iter().enumerate() {
        if !is_kebab(&def.name.replace('_', "-")) {
            problems.push(at(format!(
                "fact {:?}: name must be a-z, 0-9, _ or -",
                def.name
            )));
        }
        if defs[..i].iter().any(|d| d.name == def.name) {
            problems.push(at(format!("fact {:?} is declared twice", def.name)));
        }
        for p in placeholders(&def.says) {
            if p != def.name {
                problems.push(at(format!(
                    "fact {:?}: says may only use {{{}}}, not {{{p}}}",
                    def.name, def.name
                )));
            }
        }
        let regex = if let Some(p) = &def.pattern {
            match compile_part(p) {
                Ok(re) => Some(re),
                Err(e) => {
                    problems.push(at(format!("fact {:?}: invalid regex: {e}", def.name)));
                    continue;
                }
            }
        } else {
            if rule.is_some_and(|re| !re.capture_names().flatten().any(|n| n == def.name)) {
                problems.push(at(format!(
                    "fact {:?} has no pattern and is not a named capture of the rule's pattern",
                    def.name
                )));
            }
            None
        };
        facts.push(Fact {
            name: def.name.clone(),
            says: def.says.clone(),
            regex,
            template: def.template,
        });
    }
    facts
}

/// Reads `whys`: plain strings, or tables naming the facts that support or rule out
/// the hypothesis (value patterns matched against the whole value).
fn build_whys(
    values: &[toml::Value],
    facts: &[FactDef],
    problems: &mut Vec<String>,
    at: &dyn Fn(String) -> String,
) -> Vec<Hypothesis> {
    let mut out = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let def = match value {
            toml::Value::String(s) => HypothesisDef {
                why: s.clone(),
                supported_by: BTreeMap::new(),
                ruled_out_by: BTreeMap::new(),
            },
            toml::Value::Table(_) => match value.clone().try_into::<HypothesisDef>() {
                Ok(d) => d,
                Err(e) => {
                    problems.push(at(format!("whys[{i}]: {}", e.message())));
                    continue;
                }
            },
            _ => {
                problems.push(at(format!(
                    "whys[{i}]: expected a string or a table with `why`"
                )));
                continue;
            }
        };
        let mut compile = |map: &BTreeMap<String, String>| -> Vec<(String, Regex)> {
            map.iter()
                .filter_map(|(name, pattern)| {
                    if !facts.iter().any(|f| &f.name == name) {
                        problems.push(at(format!("whys[{i}]: {name:?} is not a declared fact")));
                        return None;
                    }
                    match whole_value_regex(pattern).map_err(|e| regex_problem(&e)) {
                        Ok(re) => Some((name.clone(), re)),
                        Err(e) => {
                            problems.push(at(format!("whys[{i}]: {name}: invalid regex: {e}")));
                            None
                        }
                    }
                })
                .collect()
        };
        let supported_by = compile(&def.supported_by);
        let ruled_out_by = compile(&def.ruled_out_by);
        out.push(Hypothesis {
            text: def.why,
            supported_by,
            ruled_out_by,
        });
    }
    out
}

/// Names inside `{...}` in a template.
pub(crate) fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start + 1..].find('}') else {
            break;
        };
        out.push(&rest[start + 1..start + 1 + len]);
        rest = &rest[start + 1 + len + 1..];
    }
    out
}

/// Fills `{name}` placeholders from captures (missing ones become empty).
pub fn render(template: &str, captures: &BTreeMap<String, String>) -> String {
    let mut out = template.to_string();
    for name in placeholders(template) {
        let value = captures.get(name).map_or("", String::as_str);
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(text: &str) -> Result<RuleSet> {
        RuleSet::compile(&[("t.toml".to_string(), text.to_string())])
    }

    #[test]
    fn builtin_packs_compile_and_their_examples_hold() {
        let set = RuleSet::load(true, &[]).unwrap();
        assert!(set.rules().len() >= 30, "only {} rules", set.rules().len());
        let problems = set.check_examples();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        for rule in set.rules() {
            assert!(
                rule.examples.len() >= 2,
                "{}: fewer than two examples",
                rule.id
            );
            assert!(
                !rule.counter_examples.is_empty(),
                "{}: no counter-example",
                rule.id
            );
        }
    }

    #[test]
    fn bad_regex_names_file_rule_and_error() {
        let err =
            pack("[[rule]]\nid = \"bad\"\ntitle = \"t\"\npattern = \"(unclosed\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("t.toml: rule \"bad\": invalid regex"),
            "{msg}"
        );
    }

    #[test]
    fn facts_and_judged_whys_are_checked_when_loaded() {
        let head = "[[rule]]\nid = \"q\"\ntitle = \"t\"\npattern = 'queue (?P<name>\\w+) full'\n";
        let problems = |body: &str| match pack(&format!("{head}{body}")) {
            Ok(_) => String::new(),
            Err(Error::InvalidRules { problems }) => problems.join("\n"),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            problems(r#"facts = [{ name = "name", says = "Queue {name}." }]"#),
            ""
        );
        assert!(
            problems(r#"facts = [{ name = "depth", says = "d" }]"#)
                .contains(r#"fact "depth" has no pattern and is not a named capture"#)
        );
        assert!(
            problems(r#"facts = [{ name = "name", says = "Queue {other}." }]"#)
                .contains("says may only use {name}, not {other}")
        );
        assert!(
            problems(r#"facts = [{ name = "d", says = "d", pattern = "(" }]"#)
                .contains(r#"fact "d": invalid regex"#)
        );
        assert!(
            problems(r#"whys = [{ why = "w", because = 1 }]"#).contains("whys[0]: unknown field")
        );
        assert!(problems(r#"whys = ["a", 3]"#).contains("whys[1]: expected a string or a table"));
        assert!(
            problems(
                "facts = [{ name = \"name\", says = \"n\" }]\nwhys = [{ why = \"w\", supported_by = { name = \"(\" } }]"
            )
            .contains("whys[0]: name: invalid regex")
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = pack(
            "[[rule]]\nid = \"Bad_Id\"\ntitle = \"{nope}\"\npattern = \"x\"\nseverity = \"LOUD\"\n",
        )
        .unwrap_err();
        let Error::InvalidRules { problems } = err else {
            panic!("wrong error")
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = pack("[[rule]]\nid = \"a\"\ntitle = \"t\"\npattern = \"x\"\npatern = \"y\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn priority_then_load_order_decides() {
        let set = pack(
            "[[rule]]\nid = \"a\"\ntitle = \"A\"\npattern = \"boom\"\n[[rule]]\nid = \"b\"\ntitle = \"B {x}\"\npattern = \"boom (?P<x>\\\\w+)\"\npriority = 5\n",
        )
        .unwrap();
        let m = set.find("boom now").unwrap();
        assert_eq!(m.rule.id, "b");
        assert_eq!(render(&m.rule.title, &m.captures), "B now");
        assert_eq!(set.find("boom").unwrap().rule.id, "a");
    }

    #[test]
    fn later_pack_overrides_by_id() {
        let set = RuleSet::compile(&[
            (
                "a.toml".into(),
                "[[rule]]\nid = \"x\"\ntitle = \"old\"\npattern = \"old\"\n".into(),
            ),
            (
                "b.toml".into(),
                "[[rule]]\nid = \"x\"\ntitle = \"new\"\npattern = \"new\"\n".into(),
            ),
        ])
        .unwrap();
        assert_eq!(set.rules().len(), 1);
        assert_eq!(set.find("new").unwrap().rule.title, "new");
        assert!(set.find("old").is_none());
    }
}
