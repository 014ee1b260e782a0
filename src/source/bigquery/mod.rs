//! The Log Analytics engine: the grouping runs as one BigQuery query over a log view of
//! a linked dataset ([`sql`]), through the BigQuery REST API ([`rest`]); what comes back
//! is one row per group, which enters the cluster stage as [`Group`]s.
//!
//! Each group's distinct messages (the most frequent [`sql::VARIANTS`]) are signed
//! with the normal pipeline; a group whose messages sign to different fingerprints is
//! resolved by a follow-up query that groups its entries by message, never guessed.

pub mod rest;
pub mod sql;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::cluster::{Group, LinkedHttp};
use crate::entry::{Entry, Severity};
use crate::error::{Error, Result};
use crate::settings::BigQuery;
use crate::signature::rules::RuleSet;
use crate::source::files::{self, Item};
use crate::stitch::Stitcher;

pub use rest::Job;

/// What the engine hands on.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The groups, each signing alike.
    pub groups: Vec<Group>,
    /// The main query's job (requests and retries of the follow-ups added).
    pub job: Job,
    /// The main query.
    pub sql: String,
    /// Notes for the report (a group checked on a sample of its messages, ...).
    pub warnings: Vec<String>,
    /// Follow-up queries run.
    pub follow_ups: u64,
}

/// The lines (1-based, inclusive) of `sql` that hold the user's `--where`.
pub fn where_lines(sql: &str, bq: &BigQuery) -> Option<(u32, u32)> {
    let w = bq.where_sql.as_deref()?.trim();
    let at = sql.find(w)?;
    let line = |i: usize| u32::try_from(sql[..i].matches('\n').count() + 1).unwrap_or(u32::MAX);
    Some((line(at), line(at + w.len())))
}

/// The time of the first entry of `revision` in the window, if any.
pub fn first_entry_of(bq: &BigQuery, revision: &str) -> Result<Option<DateTime<Utc>>> {
    let sql = sql::first_entry(bq, revision);
    let answer = rest::run(bq, &sql, false, where_lines(&sql, bq))?;
    let rows = decode_rows(&answer.fields, &answer.rows)?;
    Ok(rows.first().and_then(|r| time(&r["first"])))
}

/// `--estimate`: the bytes the query would scan (a dry run).
pub fn estimate(bq: &BigQuery, rules: &RuleSet) -> Result<(String, Job)> {
    let sql = sql::query(bq, rules, &sql::Grouping::Coarse);
    let answer = rest::run(bq, &sql, true, where_lines(&sql, bq))?;
    Ok((sql, answer.job))
}

/// Runs the grouping and returns groups that each sign alike.
pub fn groups(bq: &BigQuery, rules: &RuleSet) -> Result<Outcome> {
    let sql = sql::query(bq, rules, &sql::Grouping::Coarse);
    let answer = rest::run(bq, &sql, false, where_lines(&sql, bq))?;
    let mut out = Outcome {
        job: answer.job.clone(),
        sql,
        ..Outcome::default()
    };
    let rows = decode_rows(&answer.fields, &answer.rows)?;
    if rows.len() >= sql::MAX_GROUPS {
        out.warnings.push(format!(
            "Log Analytics: the query returned its maximum of {} groups; smaller groups were left out (narrow the window or the scope)",
            sql::MAX_GROUPS
        ));
    }
    for row in rows {
        let key = row["group_key"].as_str().unwrap_or_default().to_string();
        let messages: Vec<&str> = row["top_messages"]
            .as_array()
            .map(|a| a.iter().filter_map(|m| m["message"].as_str()).collect())
            .unwrap_or_default();
        let variants = row["variants"].as_u64().unwrap_or(0);
        let fingerprints: std::collections::BTreeSet<String> = messages
            .iter()
            .map(|m| fingerprint_of(rules, &key, m))
            .collect();
        if fingerprints.len() > 1 {
            // The group's messages sign differently: ask again, by message.
            let follow = sql::query(bq, rules, &sql::Grouping::Messages { within: key });
            let sub = rest::run(bq, &follow, false, None)?;
            out.follow_ups += 1;
            out.job.requests += sub.job.requests;
            out.job.retries += sub.job.retries;
            let mut parts = decode_rows(&sub.fields, &sub.rows)?
                .iter()
                .map(group_of)
                .collect::<Result<Vec<Group>>>()?;
            // The group's linked requests go with its largest part.
            if let Some(largest) = parts.iter_mut().max_by_key(|g| g.count) {
                largest.linked = group_of(&row)?.linked;
            }
            out.groups.extend(parts);
            continue;
        }
        if variants > messages.len() as u64 {
            out.warnings.push(format!(
                "Log Analytics: a group of {} entries has {variants} distinct messages; its {} most frequent signed alike, and the rest were counted with them",
                row["n"].as_u64().unwrap_or(0),
                messages.len()
            ));
        }
        let mut group = group_of(&row)?;
        if row["trace_heads"].as_u64().unwrap_or(0) > 0 {
            let job = stitch_exemplars(bq, &mut group)?;
            out.job.requests += job.requests;
            out.job.retries += job.retries;
            out.follow_ups += 1;
        }
        let status = key.rsplit(' ').next().and_then(|s| s.parse::<u16>().ok());
        if key.starts_with("http:") && status.is_some_and(|s| s >= 500) {
            // A 5xx request cluster: its own request logs are its HTTP failures.
            group.linked = LinkedHttp {
                count: group.count,
                by_instance: 0,
                own: true,
                statuses: status.map(|s| (s, group.count)).into_iter().collect(),
                requests: group.exemplars.clone(),
            };
        }
        out.groups.push(group);
    }
    Ok(out)
}

/// Rejoins a trace logged line by line: fetches the lines after each exemplar on its
/// stream and runs them through the stitcher, so the exemplars (and the group's
/// signature) are the whole trace, as `analyze FILE` sees it.
fn stitch_exemplars(bq: &BigQuery, group: &mut Group) -> Result<Job> {
    let heads: Vec<(String, String, String, DateTime<Utc>)> = group
        .exemplars
        .iter()
        .filter_map(|e| {
            Some((
                e.log_id.clone(),
                e.service.clone().unwrap_or_default(),
                e.instance.clone().unwrap_or_default(),
                e.timestamp?,
            ))
        })
        .collect();
    let sql = sql::neighbours(bq, &heads);
    let answer = rest::run(bq, &sql, false, None)?;
    let mut lines: Vec<Entry> = Vec::new();
    for (i, row) in decode_rows(&answer.fields, &answer.rows)?
        .iter()
        .enumerate()
    {
        let text = serde_json::to_string(&log_entry(&row["e"])).map_err(Error::Serialize)?;
        if let Item::Entry(e) = files::parse_entry(i as u64 + 1, &text) {
            lines.push(*e);
        }
    }
    let mut stitcher = Stitcher::default();
    let mut whole_traces: Vec<Entry> = Vec::new();
    for e in lines {
        stitcher.push(e, &mut |st| whole_traces.push(st.entry));
    }
    stitcher.finish(&mut |st| whole_traces.push(st.entry));
    for ex in &mut group.exemplars {
        if let Some(whole) = whole_traces
            .iter()
            .find(|s| s.insert_id.is_some() && s.insert_id == ex.insert_id)
        {
            *ex = whole.clone();
        }
    }
    Ok(answer.job)
}

/// The fingerprint a group's message signs to: a 5xx request log's message is its
/// request line (`METHOD URL STATUS`), signed by route as the clusterer signs it.
fn fingerprint_of(rules: &RuleSet, key: &str, message: &str) -> String {
    if key.starts_with("http:") {
        let mut parts = message.rsplitn(2, ' ');
        let status = parts
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        let (method, url) = parts
            .next()
            .unwrap_or("")
            .split_once(' ')
            .unwrap_or(("", ""));
        let entry = serde_json::json!({"httpRequest": {"requestMethod": method, "requestUrl": url, "status": status}});
        if let Item::Entry(e) = files::parse_entry(1, &entry.to_string()) {
            return crate::signature::sign(rules, &e).fingerprint;
        }
    }
    crate::signature::sign_message(rules, message).fingerprint
}

/// BigQuery's `{"f": [{"v": ...}]}` rows as plain JSON objects, by the schema.
fn decode_rows(fields: &[Value], rows: &[Value]) -> Result<Vec<Value>> {
    rows.iter().map(|r| decode_record(fields, r)).collect()
}

fn decode_record(fields: &[Value], record: &Value) -> Result<Value> {
    let cells = record["f"]
        .as_array()
        .ok_or_else(|| Error::BigQueryResponse {
            what: "a row without its `f` cells".into(),
        })?;
    let mut out = Map::new();
    for (field, cell) in fields.iter().zip(cells) {
        let name = field["name"].as_str().unwrap_or_default().to_string();
        out.insert(name, decode_value(field, &cell["v"])?);
    }
    Ok(Value::Object(out))
}

fn decode_value(field: &Value, v: &Value) -> Result<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    if field["mode"] == "REPEATED" {
        let single = {
            let mut f = field.clone();
            f["mode"] = Value::String("NULLABLE".into());
            f
        };
        let items = v.as_array().cloned().unwrap_or_default();
        return items
            .iter()
            .map(|item| decode_value(&single, &item["v"]))
            .collect::<Result<Vec<Value>>>()
            .map(Value::Array);
    }
    let kind = field["type"].as_str().unwrap_or_default();
    Ok(match kind {
        "RECORD" | "STRUCT" => {
            decode_record(field["fields"].as_array().map_or(&[][..], Vec::as_slice), v)?
        }
        "INTEGER" | "INT64" => v
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .map_or(Value::Null, Value::from),
        "FLOAT" | "FLOAT64" | "NUMERIC" => v
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .map_or(Value::Null, Value::from),
        "TIMESTAMP" => v.as_str().and_then(micros).map_or(Value::Null, |t| {
            Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        }),
        _ => v.clone(),
    })
}

/// A TIMESTAMP cell: int64 microseconds (`useInt64Timestamp`), or float seconds.
fn micros(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(us) = s.parse::<i64>() {
        return DateTime::from_timestamp_micros(us);
    }
    let secs: f64 = s.parse().ok()?;
    #[allow(clippy::cast_possible_truncation)]
    DateTime::from_timestamp_micros((secs * 1e6).round() as i64)
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn counts(v: &Value) -> BTreeMap<String, u64> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| Some((x["name"].as_str()?.to_string(), x["n"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// One decoded row as a [`Group`]; its exemplars become entries through the entry
/// model, as if read from an export.
fn group_of(row: &Value) -> Result<Group> {
    let mut exemplars = Vec::new();
    for (i, ex) in row["early"]
        .as_array()
        .into_iter()
        .chain(row["late"].as_array())
        .flatten()
        .enumerate()
    {
        let entry = log_entry(ex);
        let text = serde_json::to_string(&entry).map_err(Error::Serialize)?;
        if let Item::Entry(e) = files::parse_entry(i as u64 + 1, &text)
            && !exemplars
                .iter()
                .any(|x: &crate::entry::Entry| x.insert_id.is_some() && x.insert_id == e.insert_id)
        {
            exemplars.push(*e);
        }
    }
    Ok(Group {
        count: row["n"].as_u64().unwrap_or(0),
        first_seen: time(&row["first_seen"]),
        last_seen: time(&row["last_seen"]),
        severity: Severity::from_number(row["max_severity"].as_i64().unwrap_or(0)),
        revisions: counts(&row["by_revision"]),
        services: counts(&row["by_service"]),
        instances: counts(&row["by_instance"]).into_keys().collect(),
        per_minute: row["per_minute"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| Some((time(&m["minute"])?, m["n"].as_u64()?)))
                    .collect()
            })
            .unwrap_or_default(),
        exemplars,
        onsets: row["onsets"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|o| Some((o["name"].as_str()?.to_string(), time(&o["first"])?)))
                    .collect()
            })
            .unwrap_or_default(),
        linked: LinkedHttp {
            count: row["linked_5xx"].as_u64().unwrap_or(0),
            by_instance: row["linked_by_instance"].as_u64().unwrap_or(0),
            own: false,
            statuses: counts(&row["linked_statuses"])
                .into_iter()
                .filter_map(|(s, n)| Some((s.parse().ok()?, n)))
                .collect(),
            requests: row["linked_requests"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, r)| {
                    let text = serde_json::to_string(&log_entry(r)).ok()?;
                    match files::parse_entry(i as u64 + 1, &text) {
                        Item::Entry(e) => Some(*e),
                        Item::Malformed { .. } => None,
                    }
                })
                .collect(),
        },
    })
}

/// An exemplar row (`snake_case` columns) as a `LogEntry` (`camelCase` JSON).
fn log_entry(ex: &Value) -> Value {
    let json = |v: &Value| -> Value {
        v.as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null)
    };
    let mut e = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            e.insert(k.to_string(), v);
        }
    };
    put("insertId", ex["insert_id"].clone());
    put("timestamp", ex["timestamp"].clone());
    put("severity", ex["severity"].clone());
    put("logName", ex["log_name"].clone());
    put(
        "resource",
        serde_json::json!({"type": ex["resource_type"], "labels": json(&ex["resource_labels"])}),
    );
    put("labels", json(&ex["entry_labels"]));
    put("trace", ex["trace"].clone());
    put("spanId", ex["span_id"].clone());
    put("textPayload", ex["text_payload"].clone());
    put("jsonPayload", json(&ex["json_payload"]));
    if let Some(m) = ex["proto_status"].as_str() {
        put(
            "protoPayload",
            serde_json::json!({"status": {"message": m}}),
        );
    }
    if !ex["http_status"].is_null() || !ex["http_method"].is_null() {
        let mut h = serde_json::json!({
            "requestMethod": ex["http_method"],
            "requestUrl": ex["http_url"],
            "status": ex["http_status"],
            "userAgent": ex["http_user_agent"],
        });
        if let Some(ms) = ex["http_latency_ms"].as_f64() {
            h["latency"] = Value::String(format!("{:.6}s", ms / 1000.0));
        }
        put("httpRequest", h);
    }
    if !ex["src_file"].is_null() {
        put(
            "sourceLocation",
            serde_json::json!({"file": ex["src_file"], "line": ex["src_line"].as_i64().map(|l| l.to_string()), "function": ex["src_function"]}),
        );
    }
    Value::Object(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_decode_by_the_schema() {
        let fields: Vec<Value> = serde_json::from_str(
            r#"[{"name":"n","type":"INTEGER","mode":"NULLABLE"},
                {"name":"t","type":"TIMESTAMP","mode":"NULLABLE"},
                {"name":"xs","type":"RECORD","mode":"REPEATED","fields":[
                   {"name":"name","type":"STRING","mode":"NULLABLE"},
                   {"name":"n","type":"INTEGER","mode":"NULLABLE"}]}]"#,
        )
        .unwrap();
        let row: Value = serde_json::from_str(
            r#"{"f":[{"v":"17"},{"v":"1748772000123456"},
                     {"v":[{"v":{"f":[{"v":"rev-2"},{"v":"5"}]}}]}]}"#,
        )
        .unwrap();
        let r = decode_record(&fields, &row).unwrap();
        assert_eq!(r["n"], 17);
        assert_eq!(r["t"], "2025-06-01T10:00:00.123456Z");
        assert_eq!(counts(&r["xs"])["rev-2"], 5);
        // Float seconds (the API's default) read too.
        assert_eq!(micros("1.447216127E9").unwrap().timestamp(), 1_447_216_127);
    }
}
