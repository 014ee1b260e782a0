//! The SQL the Log Analytics engine runs: the per-entry work (message, rule, coarse
//! mask) and the per-group aggregates, in one GoogleSQL query over a log view.
//!
//! Values are inlined as escaped literals (the table path is validated), so the printed
//! query pastes as it is into the Log Analytics page. Only what scales with groups
//! comes back: one row per group, each with bounded arrays.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::entry::Severity;
use crate::settings::BigQuery;
use crate::signature::rules::{Rule, RuleSet};

/// Rows (groups) returned at most.
pub const MAX_GROUPS: usize = 2000;
/// Exemplars per group: the earliest, and the latest.
pub const EARLY: usize = 3;
/// See [`EARLY`].
pub const LATE: usize = 2;
/// Distinct messages returned per group, most frequent first: the client signs them
/// and splits a group whose messages sign differently.
pub const VARIANTS: usize = 20;
/// Instance ids returned per group.
pub const INSTANCES: usize = 200;
/// Lines fetched after a group's trace heads, at most.
pub const NEIGHBOURS: usize = 600;
/// Linked 5xx request logs returned whole per group (all are counted).
pub const LINKED: usize = 50;

/// A 5xx request log: an HTTP request without a payload, as the entry model has it.
const REQUEST_5XX: &str = "(http_status >= 500 AND text_payload IS NULL AND json_payload_raw IS NULL AND proto_status IS NULL)";

/// How entries are grouped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// By request route and status, rule (with its fingerprint captures) or coarse mask.
    Coarse,
    /// Only the entries of one coarse group, one group per distinct message (the
    /// follow-up for a group whose messages sign differently).
    Messages {
        /// The coarse group's key.
        within: String,
    },
}

/// A GoogleSQL string literal.
pub fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn ts(t: DateTime<Utc>) -> String {
    format!(
        "TIMESTAMP({})",
        literal(&t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    )
}

/// Why a rule pattern cannot run as RE2 (BigQuery's dialect), if it cannot: Rust
/// `regex` syntax RE2 lacks (flags other than `i m s U`, class set operations, `\<`,
/// `\>`, `\b{...}`).
pub fn re2_problem(pattern: &str) -> Option<String> {
    let bytes = pattern.as_bytes();
    let mut i = 0;
    let mut in_class = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                match bytes.get(i + 1) {
                    Some(b'<' | b'>') => return Some("\\< and \\> word boundaries".into()),
                    Some(b'b' | b'B') if bytes.get(i + 2) == Some(&b'{') => {
                        return Some("\\b{...} word boundaries".into());
                    }
                    _ => {}
                }
                i += 2;
                continue;
            }
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'&' | b'~' | b'-'
                if in_class && bytes.get(i + 1) == Some(&bytes[i]) && bytes[i] != b'-' =>
            {
                return Some("character class set operations (&&, ~~)".into());
            }
            b'(' if !in_class && bytes.get(i + 1) == Some(&b'?') => {
                let flags: String = pattern[i + 2..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic() || *c == '-')
                    .collect();
                let next = pattern[i + 2 + flags.len()..].chars().next();
                if matches!(next, Some(':' | ')'))
                    && let Some(bad) = flags.chars().find(|c| !"imsU-".contains(*c))
                {
                    return Some(format!("the flag {bad} (RE2 knows i, m, s and U)"));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `pattern` with every group made non-capturing except the named group `name`.
fn only_group(pattern: &str, name: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.char_indices().peekable();
    let mut in_class = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some((_, n)) = chars.next() {
                    out.push(n);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '(' if !in_class => {
                let rest = &pattern[i + 1..];
                let named = rest.strip_prefix("?P<").or_else(|| {
                    rest.strip_prefix("?<")
                        .filter(|r| !r.starts_with(['=', '!']))
                });
                if let Some(after) = named {
                    let end = after.find('>').unwrap_or(after.len());
                    let group = &after[..end];
                    out.push_str(if group == name { "(" } else { "(?:" });
                    let skip = rest.len() - after.len() + end + 1;
                    for _ in 0..skip {
                        chars.next();
                    }
                } else if rest.starts_with('?') {
                    out.push('(');
                } else {
                    out.push_str("(?:");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The capture names a rule's fingerprint template uses, in order.
fn fingerprint_captures(rule: &Rule) -> Vec<&str> {
    rule.fingerprint
        .as_deref()
        .map(crate::signature::rules::placeholders)
        .unwrap_or_default()
}

/// The rules that run in SQL, in the order the rule set decides between them
/// (highest priority first, then load order), and those that cannot, with why.
pub fn sql_rules(rules: &RuleSet) -> (Vec<&Rule>, Vec<(&Rule, String)>) {
    let mut ok = Vec::new();
    let mut not = Vec::new();
    for r in rules.rules() {
        match re2_problem(&r.pattern) {
            None => ok.push(r),
            Some(why) => not.push((r, why)),
        }
    }
    // Stable: equal priorities keep load order, as RuleSet::find decides.
    ok.sort_by_key(|r| std::cmp::Reverse(r.priority));
    (ok, not)
}

/// The winning rule's id (`rule_id`), in the order the rule set decides.
fn rule_expr(rules: &RuleSet) -> String {
    let mut sql = String::from("CASE\n");
    let (ok, _) = sql_rules(rules);
    for r in &ok {
        let _ = writeln!(
            sql,
            "      WHEN REGEXP_CONTAINS(message, {}) THEN {}",
            literal(&r.pattern),
            literal(&r.id)
        );
    }
    sql.push_str("      ELSE NULL\n    END");
    sql
}

/// Per rule with a fingerprint, its captures; per rule with a severity, its floor.
fn per_rule(rules: &RuleSet) -> (String, String) {
    let (ok, _) = sql_rules(rules);
    let mut captures = String::from("CASE rule_id\n");
    let mut floors = String::from("CASE rule_id\n");
    for r in &ok {
        let caps = fingerprint_captures(r);
        if !caps.is_empty() {
            let parts: Vec<String> = caps
                .iter()
                .map(|c| {
                    // Numbers masked, as the client masks ids in captures (a capture
                    // it keeps apart, an exit code, splits by the messages' check).
                    format!(
                        "REGEXP_REPLACE(COALESCE(REGEXP_EXTRACT(message, {}), ''), r'[0-9]+', '<n>')",
                        literal(&only_group(&r.pattern, c))
                    )
                })
                .collect();
            let _ = writeln!(
                captures,
                "      WHEN {} THEN CONCAT(':', {})",
                literal(&r.id),
                parts.join(", ':', ")
            );
        }
        if let Some(floor) = r.severity {
            let _ = writeln!(
                floors,
                "      WHEN {} THEN {}",
                literal(&r.id),
                severity_number(floor)
            );
        }
    }
    captures.push_str("      ELSE '' END");
    floors.push_str("      ELSE 0 END");
    (captures, floors)
}

/// The coarse key of an entry's group: a request log (no payload) by method, route
/// and status; a rule's entries by the rule and its fingerprint captures; the rest by the
/// first line with ids, hex and numbers masked (the client's fallback decides, and a
/// group whose messages sign differently is split).
fn key_expr(captures: &str) -> String {
    format!(
        "CASE\n      WHEN http_status IS NOT NULL AND text_payload IS NULL AND json_payload_raw IS NULL AND proto_status IS NULL THEN CONCAT('http:', COALESCE(http_method, ''), ' ', \
         REGEXP_REPLACE(COALESCE(REGEXP_EXTRACT(http_url, r'^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*)?([^?#]*)'), '/'), r'[0-9][^/]*', '<n>'), \
         ' ', CAST(http_status AS STRING))\n      \
         WHEN rule_id IS NOT NULL THEN CONCAT('rule:', rule_id, {captures})\n      \
         ELSE CONCAT('text:', REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(SUBSTR(SPLIT(message, '\\n')[SAFE_OFFSET(0)], 1, 300), \
         r'[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}', '<uuid>'), \
         r'[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*|[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*', '<hex>'), \
         r'[0-9]+', '<n>'))\n    END"
    )
}

/// A level name's number (`payload` and `text` levels), as the entry model reads them.
const LEVEL_NUMBER: &str = "WHEN 'DEBUG' THEN 100 WHEN 'TRACE' THEN 100 WHEN 'INFO' THEN 200 WHEN 'NOTICE' THEN 300 \
     WHEN 'WARN' THEN 400 WHEN 'WARNING' THEN 400 WHEN 'ERROR' THEN 500 WHEN 'ERR' THEN 500 WHEN 'SEVERE' THEN 500 \
     WHEN 'CRITICAL' THEN 600 WHEN 'FATAL' THEN 600 WHEN 'CRIT' THEN 600 WHEN 'ALERT' THEN 700 WHEN 'EMERGENCY' THEN 800 \
     ELSE 0 END";

/// A severity name's number, as `severity_number` has it.
fn severity_number(s: Severity) -> u32 {
    match s {
        Severity::Default => 0,
        Severity::Debug => 100,
        Severity::Info => 200,
        Severity::Notice => 300,
        Severity::Warning => 400,
        Severity::Error => 500,
        Severity::Critical => 600,
        Severity::Alert => 700,
        Severity::Emergency => 800,
    }
}

/// The severity's number computed from its name (works whether or not the view has
/// `severity_number`).
const SEVERITY_NUMBER: &str = "CASE severity WHEN 'DEBUG' THEN 100 WHEN 'INFO' THEN 200 WHEN 'NOTICE' THEN 300 \
     WHEN 'WARNING' THEN 400 WHEN 'ERROR' THEN 500 WHEN 'CRITICAL' THEN 600 WHEN 'ALERT' THEN 700 \
     WHEN 'EMERGENCY' THEN 800 ELSE 0 END";

/// The WHERE clause: window, resource, scope and the user's `--where` (the severity
/// floor is applied once the rule is known: see [`query`]).
fn conditions(bq: &BigQuery) -> Vec<String> {
    let scope = &bq.cloud.scope;
    let t = scope.resource_type;
    let mut c = vec![
        format!("timestamp >= {}", ts(scope.from)),
        format!("timestamp < {}", ts(scope.until)),
        format!("resource.type = {}", literal(t.name())),
    ];
    if let Some(label) = t.service_label()
        && !scope.services.is_empty()
    {
        let list: Vec<String> = scope.services.iter().map(|s| literal(s)).collect();
        c.push(format!(
            "JSON_VALUE(resource.labels.{label}) IN ({})",
            list.join(", ")
        ));
    }
    if let (Some(label), Some(rev)) = (t.revision_label(), &scope.revision) {
        c.push(format!(
            "JSON_VALUE(resource.labels.{label}) = {}",
            literal(rev)
        ));
    }
    if let Some(ns) = &scope.namespace {
        c.push(format!(
            "JSON_VALUE(resource.labels.namespace_name) = {}",
            literal(ns)
        ));
    }
    if let Some(ct) = &scope.container {
        c.push(format!(
            "JSON_VALUE(resource.labels.container_name) = {}",
            literal(ct)
        ));
    }
    if let Some(w) = &bq.where_sql {
        c.push(format!("(\n    {}\n  )", w.trim()));
    }
    c
}

/// The time of the first entry of `revision` in the window (`--deployed-revision`).
pub fn first_entry(bq: &BigQuery, revision: &str) -> String {
    let mut scoped = bq.clone();
    scoped.cloud.scope.revision = Some(revision.to_string());
    format!(
        "-- gcp-triage {}: the first entry of revision {}\nSELECT MIN(timestamp) AS first FROM {}\nWHERE {}\n",
        env!("CARGO_PKG_VERSION"),
        literal(revision),
        bq.table.sql(),
        conditions(&scoped).join("\n  AND ")
    )
}

/// The exemplar columns, as one STRUCT (every field aliased).
const EXEMPLAR: &str = "STRUCT(insert_id AS insert_id, timestamp AS timestamp, severity AS severity, \
     log_name AS log_name, resource_type AS resource_type, resource_labels AS resource_labels, \
     entry_labels AS entry_labels, trace AS trace, span_id AS span_id, text_payload AS text_payload, \
     json_payload AS json_payload, proto_status AS proto_status, http_method AS http_method, \
     http_url AS http_url, http_status AS http_status, http_user_agent AS http_user_agent, \
     http_latency_ms AS http_latency_ms, src_file AS src_file, src_line AS src_line, \
     src_function AS src_function)";

/// `WITH base AS (...)`: the view's fields flattened (the first CTE, as the emulator
/// also needs), the message as the entry model reads it, and the WHERE clause.
fn base_cte(bq: &BigQuery) -> String {
    let t = bq.cloud.scope.resource_type;
    let service = t.service_label().map_or("NULL".to_string(), |l| {
        format!("JSON_VALUE(resource.labels.{l})")
    });
    let revision = t.revision_label().map_or("NULL".to_string(), |l| {
        format!("JSON_VALUE(resource.labels.{l})")
    });
    let mut sql = String::new();
    // Fields are flattened in the first CTE; the message follows the entry model:
    // text payload, else the JSON payload's message keys, else the payload itself.
    let _ = write!(
        sql,
        "WITH base AS (\n  SELECT\n    insert_id, timestamp, severity, log_name, trace, span_id, text_payload,\n    \
         resource.type AS resource_type,\n    TO_JSON_STRING(resource.labels) AS resource_labels,\n    \
         TO_JSON_STRING(labels) AS entry_labels,\n    TO_JSON_STRING(json_payload) AS json_payload, json_payload AS json_payload_raw,\n    \
         proto_payload.audit_log.status.message AS proto_status,\n    \
         {service} AS service,\n    {revision} AS revision,\n    JSON_VALUE(labels, '$.instanceId') AS instance,\n    \
         http_request.request_method AS http_method, http_request.request_url AS http_url,\n    \
         http_request.status AS http_status, http_request.user_agent AS http_user_agent,\n    \
         COALESCE(http_request.latency.seconds, 0) * 1000 + COALESCE(http_request.latency.nanos, 0) / 1000000 AS http_latency_ms,\n    \
         source_location.file AS src_file, source_location.line AS src_line, source_location.function AS src_function,\n    \
         CASE WHEN http_request.status IS NOT NULL AND text_payload IS NULL AND json_payload IS NULL AND proto_payload.audit_log.status.message IS NULL\n      \
         THEN CONCAT(COALESCE(http_request.request_method, ''), ' ', COALESCE(http_request.request_url, ''), ' ', CAST(http_request.status AS STRING))\n      \
         ELSE COALESCE(text_payload, JSON_VALUE(json_payload.message), JSON_VALUE(json_payload.msg),\n      \
         JSON_VALUE(json_payload.error), JSON_VALUE(json_payload.err), JSON_VALUE(json_payload.exception),\n      \
         JSON_VALUE(json_payload.stack_trace), TO_JSON_STRING(json_payload),\n      \
         proto_payload.audit_log.status.message, '') END AS message\n  \
         FROM {}\n  WHERE {}\n),\n",
        bq.table.sql(),
        conditions(bq).join("\n    AND ")
    );
    sql
}

/// The entries that follow each of `heads` (log id, service, instance, time) within two
/// seconds on its stream, the head included: the lines a split trace was logged as,
/// for the stitcher to rejoin.
pub fn neighbours(bq: &BigQuery, heads: &[(String, String, String, DateTime<Utc>)]) -> String {
    let mut sql = format!(
        "-- gcp-triage {}: the lines after trace heads\n",
        env!("CARGO_PKG_VERSION")
    );
    sql.push_str(base_cte(bq).trim_end().trim_end_matches(','));
    let near: Vec<String> = heads
        .iter()
        .map(|(log, service, instance, t)| {
            let log = format!("/logs/{log}");
            format!(
                "(ENDS_WITH(REPLACE(REPLACE(log_name, '%2F', '/'), '%2f', '/'), {}) AND COALESCE(service, '') = {} AND COALESCE(instance, '') = {} AND timestamp >= {} AND timestamp <= TIMESTAMP_ADD({}, INTERVAL 2 SECOND))",
                literal(&log),
                literal(service),
                literal(instance),
                ts(*t),
                ts(*t)
            )
        })
        .collect();
    let _ = write!(
        sql,
        "\nSELECT {EXEMPLAR} AS e FROM base\nWHERE {}\nORDER BY timestamp, insert_id\nLIMIT {}\n",
        if near.is_empty() {
            "FALSE".to_string()
        } else {
            near.join("\n   OR ")
        },
        NEIGHBOURS
    );
    sql
}

/// The whole query.
pub fn query(bq: &BigQuery, rules: &RuleSet, grouping: &Grouping) -> String {
    let mut sql = String::new();
    let _ = writeln!(
        sql,
        "-- gcp-triage {}: error groups of {} (Log Analytics)",
        env!("CARGO_PKG_VERSION"),
        bq.table.sql()
    );
    sql.push_str(&base_cte(bq));
    let (captures, floors) = per_rule(rules);
    let min = severity_number(bq.cloud.scope.min_severity);
    // The entry's own severity, else the level its payload or its first words say
    // (the stronger wins), as the entry model reads them.
    let _ = write!(
        sql,
        "ruled AS (\n  SELECT *,\n    {} AS rule_id,\n    \
         GREATEST({SEVERITY_NUMBER},\n      CASE UPPER(COALESCE(JSON_VALUE(json_payload_raw.severity), JSON_VALUE(json_payload_raw.level), \
         JSON_VALUE(json_payload_raw.levelname), JSON_VALUE(json_payload_raw.log_level), JSON_VALUE(json_payload_raw.loglevel), '')) {LEVEL_NUMBER},\n      \
         CASE REGEXP_EXTRACT(message, r'^[^A-Za-z]{{0,40}}(?:(?:level|lvl|severity)=\"?)?([A-Z]{{3,9}})\\b') {LEVEL_NUMBER}) AS level,\n    \
         LEAD(SPLIT(message, '\\n')[SAFE_OFFSET(0)]) OVER (PARTITION BY log_name, COALESCE(service, ''), COALESCE(instance, '') ORDER BY timestamp, insert_id) AS next_line,\n    \
         LEAD(timestamp) OVER (PARTITION BY log_name, COALESCE(service, ''), COALESCE(instance, '') ORDER BY timestamp, insert_id) AS next_ts\n  \
         FROM base\n),\n",
        rule_expr(rules)
    );
    let _ = write!(
        sql,
        "keyed AS (\n  SELECT *, {} AS group_key, IF(level < 400 AND rule_floor > level, rule_floor, level) AS eff FROM (\n    SELECT *,\n    {} AS coarse_key,\n    {floors} AS rule_floor\n    FROM ruled\n  ) AS k\n  \
         WHERE (level >= {min} OR http_status >= 500 OR (level < 400 AND rule_floor >= {min}){})\n    \
         AND NOT REGEXP_CONTAINS(SPLIT(message, '\\n')[SAFE_OFFSET(0)], {})",
        match grouping {
            Grouping::Coarse => "coarse_key",
            Grouping::Messages { .. } => "message",
        },
        key_expr(&captures),
        if bq.cloud.scope.unleveled {
            " OR severity IS NULL OR severity = 'DEFAULT'"
        } else {
            ""
        },
        // A continuation line on its own (a frame, a cause) is part of a trace split
        // over entries, never a group of its own.
        literal(crate::stitch::CONTINUATION_SHAPE)
    );
    sql.push_str("\n),\n");
    let coarse = *grouping == Grouping::Coarse;
    let within = match grouping {
        Grouping::Coarse => String::new(),
        Grouping::Messages { within } => format!(" AND coarse_key = {}", literal(within)),
    };
    {
        // A 5xx request log sharing a trace with an error (the trace's worst error,
        // within 10 minutes of the request) counts as that error's HTTP impact, not
        // as a group of its own, as the clusterer links them.
        let _ = write!(
            sql,
            "errors AS (\n  SELECT trace AS t, instance AS inst, coarse_key AS err_key, timestamp AS et, eff AS lv\n  \
             FROM keyed WHERE eff >= 500 AND NOT {REQUEST_5XX}\n),\n\
             worst AS (\n  SELECT t, err_key, et FROM (\n    SELECT t, err_key, et, ROW_NUMBER() OVER (PARTITION BY t ORDER BY lv DESC, et) AS rn\n    \
             FROM errors WHERE t IS NOT NULL\n  ) AS w WHERE rn = 1\n),\n\
             by_trace AS (\n  SELECT r.*, w.err_key, 'trace' AS how FROM keyed AS r JOIN worst AS w ON r.trace = w.t\n  \
             WHERE {REQUEST_5XX}\n    \
             AND w.et >= TIMESTAMP_SUB(r.timestamp, INTERVAL 600 SECOND)\n    \
             AND w.et <= TIMESTAMP_ADD(r.timestamp, INTERVAL CAST(r.http_latency_ms AS INT64) + 600000 MILLISECOND)\n),\n\
             by_instance AS (\n  SELECT * EXCEPT (rn) FROM (\n    SELECT r.*, e.err_key, 'instance' AS how,\n      \
             ROW_NUMBER() OVER (PARTITION BY r.insert_id ORDER BY ABS(TIMESTAMP_DIFF(e.et, r.timestamp, MICROSECOND)), e.et) AS rn\n    \
             FROM keyed AS r JOIN errors AS e ON r.instance = e.inst\n    \
             WHERE {REQUEST_5XX} AND r.insert_id NOT IN (SELECT insert_id FROM by_trace)\n      \
             AND e.et >= TIMESTAMP_SUB(r.timestamp, INTERVAL 2 SECOND)\n      \
             AND e.et <= TIMESTAMP_ADD(r.timestamp, INTERVAL CAST(r.http_latency_ms AS INT64) + 2000 MILLISECOND)\n  \
             ) AS x WHERE rn = 1\n),\n\
             linked AS (SELECT * FROM by_trace UNION ALL SELECT * FROM by_instance),\n\
             entries AS (\n  SELECT * FROM keyed WHERE NOT ({REQUEST_5XX} AND insert_id IN (SELECT insert_id FROM linked)){within}\n),\n\
             http AS (\n  SELECT err_key AS group_key, COUNT(*) AS linked_5xx, COUNTIF(how = 'instance') AS linked_by_instance,\n    \
             ARRAY_AGG({EXEMPLAR} ORDER BY timestamp, insert_id LIMIT {LINKED}) AS linked_requests\n  \
             FROM linked GROUP BY err_key\n),\n\
             http_statuses AS (\n  SELECT group_key, ARRAY_AGG(STRUCT(CAST(s AS STRING) AS name, n AS n) ORDER BY s) AS linked_statuses\n  \
             FROM (SELECT err_key AS group_key, http_status AS s, COUNT(*) AS n FROM linked GROUP BY err_key, http_status)\n  \
             GROUP BY group_key\n),\n"
        );
    }
    let _ = write!(
        sql,
        "groups AS (\n  SELECT group_key, COUNT(*) AS n, MIN(timestamp) AS first_seen, MAX(timestamp) AS last_seen,\n    \
         MAX(eff) AS max_severity, COUNT(DISTINCT message) AS variants,\n    \
         COUNTIF(next_line IS NOT NULL AND TIMESTAMP_DIFF(next_ts, timestamp, MILLISECOND) <= 2000\n      \
         AND REGEXP_CONTAINS(next_line, {cont})) AS trace_heads,\n    \
         ARRAY_AGG({EXEMPLAR} ORDER BY timestamp, insert_id LIMIT {EARLY}) AS early,\n    \
         ARRAY_AGG({EXEMPLAR} ORDER BY timestamp DESC, insert_id DESC LIMIT {LATE}) AS late\n  \
         FROM entries GROUP BY group_key\n),\n",
        cont = literal(crate::stitch::CONTINUATION_SHAPE)
    );
    for (name, column, limit) in [
        ("revisions", "revision", 50),
        ("services", "service", 50),
        ("instances", "instance", INSTANCES),
    ] {
        let _ = write!(
            sql,
            "{name} AS (\n  SELECT group_key, ARRAY_AGG(STRUCT(v AS name, n AS n) ORDER BY n DESC, v LIMIT {limit}) AS by_{column}\n  \
             FROM (SELECT group_key, {column} AS v, COUNT(*) AS n FROM entries WHERE {column} IS NOT NULL GROUP BY group_key, {column})\n  \
             GROUP BY group_key\n),\n"
        );
    }
    // Per minute; the deploy's own minute is split at the deploy, so every entry
    // counts on its side of it.
    let minute = bq.split_at.map_or("TIMESTAMP_TRUNC(timestamp, MINUTE)".to_string(), |at| {
        format!(
            "IF(timestamp >= {at} AND TIMESTAMP_TRUNC(timestamp, MINUTE) < {at}, {at}, TIMESTAMP_TRUNC(timestamp, MINUTE))",
            at = ts(at)
        )
    });
    let _ = write!(
        sql,
        "minutes AS (\n  SELECT group_key, ARRAY_AGG(STRUCT(minute AS minute, n AS n) ORDER BY minute LIMIT 50000) AS per_minute\n  \
         FROM (SELECT group_key, {minute} AS minute, COUNT(*) AS n FROM entries GROUP BY group_key, minute)\n  \
         GROUP BY group_key\n),\n\
         onsets AS (\n  SELECT group_key, ARRAY_AGG(STRUCT(v AS name, t AS first) ORDER BY t, v LIMIT {INSTANCES}) AS onsets\n  \
         FROM (SELECT group_key, COALESCE(instance, trace) AS v,\n    \
         MIN(IF({REQUEST_5XX}, TIMESTAMP_ADD(timestamp, INTERVAL CAST(COALESCE(http_latency_ms, 0) AS INT64) MILLISECOND), timestamp)) AS t\n    \
         FROM entries WHERE (eff >= 500 OR http_status >= 500) AND COALESCE(instance, trace) IS NOT NULL\n    \
         GROUP BY group_key, v)\n  \
         GROUP BY group_key\n),\n\
         messages AS (\n  SELECT group_key, ARRAY_AGG(STRUCT(m AS message, n AS n) ORDER BY n DESC, m LIMIT {VARIANTS}) AS top_messages\n  \
         FROM (SELECT group_key, message AS m, COUNT(*) AS n FROM entries GROUP BY group_key, message)\n  \
         GROUP BY group_key\n)\n"
    );
    let (link_columns, link_joins) = if coarse {
        (
            ", h.linked_5xx, h.linked_by_instance, h.linked_requests, hs.linked_statuses",
            "\n  LEFT JOIN http AS h USING (group_key)\n  LEFT JOIN http_statuses AS hs USING (group_key)",
        )
    } else {
        ("", "")
    };
    let _ = write!(
        sql,
        "SELECT g.group_key, g.n, g.first_seen, g.last_seen, g.max_severity, g.variants, g.trace_heads, g.early, g.late,\n  \
         r.by_revision, s.by_service, i.by_instance, m.per_minute, t.top_messages, o.onsets{link_columns}\n\
         FROM groups AS g\n  LEFT JOIN revisions AS r USING (group_key)\n  LEFT JOIN services AS s USING (group_key)\n  \
         LEFT JOIN instances AS i USING (group_key)\n  LEFT JOIN minutes AS m USING (group_key)\n  \
         LEFT JOIN messages AS t USING (group_key)\n  LEFT JOIN onsets AS o USING (group_key){link_joins}\n\
         ORDER BY g.n DESC, g.group_key\nLIMIT {MAX_GROUPS}\n"
    );
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_backslashes_and_controls() {
        assert_eq!(literal(r"a'b\c"), r"'a\'b\\c'");
        assert_eq!(literal("x\ny\u{1}"), r"'x\ny\u0001'");
    }

    #[test]
    fn only_the_named_group_captures() {
        let p = r"(?i)exit\((?P<code>[0-9]+)\) (by (?P<who>\w+))|(?:x)";
        assert_eq!(
            only_group(p, "code"),
            r"(?i)exit\(([0-9]+)\) (?:by (?:\w+))|(?:x)"
        );
        assert_eq!(only_group(r"[(]?(?P<a>\()", "a"), r"[(]?(\()");
    }

    #[test]
    fn rust_only_syntax_is_reported() {
        assert_eq!(re2_problem(r"(?i)timeout after \d+s"), None);
        assert_eq!(re2_problem(r"(?P<a>x)(?s:.)*?y"), None);
        assert!(re2_problem(r"(?x) a b").is_some());
        assert!(re2_problem(r"[a-z&&[^aeiou]]").is_some());
        assert!(re2_problem(r"\<word\>").is_some());
        assert!(re2_problem(r"\b{start}x").is_some());
        // A hyphen in a class is just a hyphen.
        assert_eq!(re2_problem(r"[a-z-]+"), None);
    }

    #[test]
    fn every_builtin_rule_runs_as_re2() {
        let rules = RuleSet::load(true, &[]).unwrap();
        let (_, not) = sql_rules(&rules);
        let names: Vec<String> = not
            .iter()
            .map(|(r, why)| format!("{}: {why}", r.id))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }
}
