//! Deploy-aware comparison, the `--fail-on-new` gate, per-revision counts, observed
//! precursors and the timeline, on the bundled samples and on generated inputs built
//! to sit on the thresholds' edges.

use std::io::Write as _;
use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::{analyze_json, bin, sample, stderr};

const NEW_ERRORS_REV: &str = "orders-api-00042-vex";
const FIXES_REV: &str = "billing-worker-00018-mup";
const STAGING_REV: &str = "netra-backend-staging-00121-xyz";

/// `(title, status)` of every cluster shown.
fn statuses(report: &Value) -> Vec<(String, String)> {
    report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["title"].as_str().unwrap().to_string(),
                c["change"]["status"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

fn status_of(report: &Value, title_part: &str) -> String {
    statuses(report)
        .into_iter()
        .find(|(t, _)| t.contains(title_part))
        .unwrap_or_else(|| panic!("no cluster titled like {title_part:?}"))
        .1
}

fn cluster<'a>(report: &'a Value, title_part: &str) -> &'a Value {
    report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"].as_str().unwrap().contains(title_part))
        .unwrap_or_else(|| panic!("no cluster titled like {title_part:?}"))
}

#[test]
fn clean_baseline_then_new_errors_are_all_new() {
    let r = analyze_json(
        &["--deployed-revision", NEW_ERRORS_REV],
        &sample("deploy-new-errors.ndjson"),
    );
    let d = &r["deploy"];
    assert_eq!(d["deployed_at"], "2025-11-10T10:30:05Z");
    assert_eq!(d["revision"], NEW_ERRORS_REV);
    assert_eq!(d["counts"], json!({"new": 3}));
    for (title, status) in statuses(&r) {
        assert_eq!(status, "new", "{title}");
    }
    let key_error = cluster(&r, "KeyError: 'currency'");
    assert_eq!(key_error["change"]["before"], 0);
    assert_eq!(key_error["change"]["after"], 12);
    assert_eq!(key_error["only_in_newest_revision"], true);
}

#[test]
fn old_error_resolves_one_spikes_one_is_ongoing_one_is_new() {
    let r = analyze_json(
        &["--deployed-revision", FIXES_REV],
        &sample("deploy-fixes-old-error.ndjson"),
    );
    assert_eq!(status_of(&r, "Redis"), "resolved");
    assert_eq!(status_of(&r, "Slow query"), "spiking");
    assert_eq!(status_of(&r, "HTTP 401"), "ongoing");
    assert_eq!(status_of(&r, "Request without credentials"), "ongoing");
    assert_eq!(status_of(&r, "ValueError"), "new");
    let slow = &cluster(&r, "Slow query")["change"];
    assert_eq!(
        (slow["before"].as_u64(), slow["after"].as_u64()),
        (Some(2), Some(12))
    );
    assert!(slow["rate_after"].as_f64().unwrap() >= 3.0 * slow["rate_before"].as_f64().unwrap());
    // The markdown opens with what changed.
    let md = bin()
        .arg("analyze")
        .arg(sample("deploy-fixes-old-error.ndjson"))
        .args(["--deployed-revision", FIXES_REV, "--format", "markdown"])
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    let changed = md
        .find("## What changed with this deploy")
        .expect("section");
    assert!(changed < md.find("## Ranked problems").unwrap());
    assert!(
        md.contains("**1 new, 1 spiking, 2 ongoing, 1 resolved.**"),
        "{md}"
    );
    assert!(md.contains("| **resolved** |"));
}

#[test]
fn fail_on_new_exits_1_naming_the_cluster_and_0_above_it() {
    let out = bin()
        .arg("analyze")
        .arg(sample("deploy-fixes-old-error.ndjson"))
        .args(["--deployed-revision", FIXES_REV, "--fail-on-new"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("--fail-on-new ERROR: new ERROR cluster") && err.contains("ValueError"),
        "{err}"
    );
    // WARNING also catches the spiking slow query.
    let out = bin()
        .arg("analyze")
        .arg(sample("deploy-fixes-old-error.ndjson"))
        .args(["--deployed-revision", FIXES_REV, "--fail-on-new", "WARNING"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("and 1 more"), "{}", stderr(&out));
    // Nothing new at CRITICAL: the gate passes.
    let out = bin()
        .arg("analyze")
        .arg(sample("deploy-fixes-old-error.ndjson"))
        .args([
            "--deployed-revision",
            FIXES_REV,
            "--fail-on-new",
            "CRITICAL",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A deploy after the last error: every cluster is resolved, which never trips it.
    let out = bin()
        .arg("analyze")
        .arg(sample("deploy-new-errors.ndjson"))
        .args(["--deployed-at", "2025-11-10T10:59:00Z", "--fail-on-new"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn fail_on_new_without_a_deploy_is_a_usage_error() {
    let out = bin()
        .arg("analyze")
        .arg(sample("deploy-fixes-old-error.ndjson"))
        .arg("--fail-on-new")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--deployed-at"), "{}", stderr(&out));
}

#[test]
fn unknown_revision_keeps_the_report_and_exits_2_naming_what_was_seen() {
    let out = bin()
        .arg("analyze")
        .arg(sample("deploy-fixes-old-error.ndjson"))
        .args([
            "--deployed-revision",
            "billing-worker-00099-zzz",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report is still printed");
    assert!(report["deploy"].is_null());
    assert_eq!(report["summary"]["clusters_total"], 5);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("billing-worker-00099-zzz")
            && err.contains("billing-worker-00017-doz, billing-worker-00018-mup"),
        "{err}"
    );
}

#[test]
fn deploy_time_outside_the_input_is_refused() {
    let out = bin()
        .arg("analyze")
        .arg(sample("deploy-new-errors.ndjson"))
        .args(["--deployed-at", "2025-11-11T00:00:00Z", "--fail-on-new"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("outside the input"),
        "{}",
        stderr(&out)
    );
}

/// Writes NDJSON entries to a temporary file.
fn ndjson(entries: &[Value]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("generated.ndjson");
    let mut f = std::fs::File::create(&path).unwrap();
    for e in entries {
        writeln!(f, "{e}").unwrap();
    }
    (dir, path)
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn entry(t: DateTime<Utc>, severity: &str, text: &str, instance: &str) -> Value {
    json!({
        "textPayload": text,
        "timestamp": t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "severity": severity,
        "labels": {"instanceId": instance},
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": "edge-svc", "revision_name": "edge-svc-00001-aaa"}},
    })
}

/// `n` entries spread evenly over `[from, from + span)`.
fn spread(out: &mut Vec<Value>, text: &str, from: DateTime<Utc>, span: TimeDelta, n: i64) {
    for i in 0..n {
        let t =
            from + TimeDelta::milliseconds(span.num_milliseconds() * i / n) + TimeDelta::seconds(1);
        out.push(entry(t, "ERROR", text, "inst-1"));
    }
}

#[test]
fn spike_edges_and_windows_of_unequal_length() {
    // Baseline 09:30-10:30 (60 min, --baseline), after 10:30-10:45 (15 min).
    let deploy = at("2025-06-01T10:30:00Z");
    let before = (at("2025-06-01T09:30:00Z"), TimeDelta::minutes(59));
    let after = (deploy, TimeDelta::minutes(14));
    let mut e = vec![
        entry(at("2025-06-01T09:00:00Z"), "INFO", "started", "inst-1"),
        entry(
            at("2025-06-01T10:45:00Z"),
            "INFO",
            "still running",
            "inst-1",
        ),
    ];
    // 1/min before; exactly 3/min after: spiking.
    spread(&mut e, "alpha worker failed", before.0, before.1, 60);
    spread(&mut e, "alpha worker failed", after.0, after.1, 45);
    // 1/min before; 43 in 15 min (2.87/min), just under 3x: ongoing.
    spread(&mut e, "bravo worker failed", before.0, before.1, 60);
    spread(&mut e, "bravo worker failed", after.0, after.1, 43);
    // Same rate, a quarter of the count (the after window is a quarter as long): ongoing.
    spread(&mut e, "charlie worker failed", before.0, before.1, 60);
    spread(&mut e, "charlie worker failed", after.0, after.1, 15);
    // 1 before, 4 after: 16x the rate, but under the minimum count: ongoing.
    spread(&mut e, "delta worker failed", before.0, before.1, 1);
    spread(&mut e, "delta worker failed", after.0, after.1, 4);
    // 1 before, 5 after: spiking.
    spread(&mut e, "echo worker failed", before.0, before.1, 1);
    spread(&mut e, "echo worker failed", after.0, after.1, 5);
    let (_dir, path) = ndjson(&e);
    let r = analyze_json(
        &[
            "--deployed-at",
            "2025-06-01T10:30:00Z",
            "--baseline",
            "60m",
            "--top",
            "20",
        ],
        &path,
    );
    assert_eq!(r["deploy"]["baseline_minutes"], 60.0);
    assert_eq!(r["deploy"]["after_minutes"], 15.0);
    assert_eq!(status_of(&r, "alpha"), "spiking");
    assert_eq!(status_of(&r, "bravo"), "ongoing");
    assert_eq!(status_of(&r, "charlie"), "ongoing");
    assert_eq!(status_of(&r, "delta"), "ongoing");
    assert_eq!(status_of(&r, "echo"), "spiking");
    let c = &cluster(&r, "charlie")["change"];
    assert_eq!(
        (c["before"].as_u64(), c["after"].as_u64()),
        (Some(60), Some(15))
    );
    assert_eq!(c["rate_before"], c["rate_after"]);
}

#[test]
fn precursor_at_the_share_is_claimed_just_under_is_not() {
    let t0 = at("2025-06-01T12:00:00Z");
    let mut e = Vec::new();
    // "cache warmup failed" comes 30 s before "handler crashed" on 3 of the 4
    // instances where the crash occurs: 75%, claimed.
    for i in 0..4 {
        let inst = format!("a-inst-{i}");
        if i < 3 {
            e.push(entry(t0, "ERROR", "cache warmup failed", &inst));
        }
        e.push(entry(
            t0 + TimeDelta::seconds(30),
            "ERROR",
            "handler crashed",
            &inst,
        ));
    }
    // "queue stalled" before "job aborted" on 2 of 3 instances: 67%, not claimed.
    for i in 0..3 {
        let inst = format!("b-inst-{i}");
        if i < 2 {
            e.push(entry(t0, "ERROR", "queue stalled", &inst));
        }
        e.push(entry(
            t0 + TimeDelta::seconds(30),
            "ERROR",
            "job aborted",
            &inst,
        ));
    }
    let (_dir, path) = ndjson(&e);
    let r = analyze_json(&[], &path);
    let crash = cluster(&r, "handler crashed");
    let p = &crash["precursors"][0];
    assert_eq!(p["title"], "cache warmup failed");
    assert_eq!(
        (p["instances"].as_u64(), p["of"].as_u64()),
        (Some(3), Some(4))
    );
    assert_eq!(p["median_gap_secs"], 30.0);
    let why = crash["whys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "precursor")
        .expect("a precursor why");
    assert!(
        why["answer"]
            .as_str()
            .unwrap()
            .contains("correlation in time, not proof"),
        "{why}"
    );
    assert_eq!(cluster(&r, "job aborted")["precursors"], json!([]));
    assert_eq!(r["chains"].as_array().unwrap().len(), 1);
}

#[test]
fn staging_incident_gives_the_readiness_chain() {
    let r = analyze_json(
        &["--deployed-revision", STAGING_REV],
        &sample("staging-incident.json"),
    );
    let chains = r["chains"].as_array().unwrap();
    let titles: Vec<Vec<&str>> = chains
        .iter()
        .map(|c| {
            c.as_array()
                .unwrap()
                .iter()
                .map(|l| l["title"].as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        titles,
        vec![vec![
            "Cannot reach Redis (connection refused, timed out or dropped)",
            "Startup readiness check failed on Redis",
            "'coroutine' object has no attribute 'get' (missing await)",
            "WebSocket closed with 1011 (internal error)",
        ]],
    );
    // The coroutine error carries the 500s on /ws.
    let ws = cluster(&r, "'coroutine' object");
    assert_eq!(ws["http_failures"]["routes"]["GET /ws"], 28);
    assert_eq!(ws["change"]["status"], "new");
    assert_eq!(ws["only_in_newest_revision"], true);
    // Warnings that run through both revisions are never chained.
    assert_eq!(cluster(&r, "KeyError")["precursors"], json!([]));
    assert_eq!(status_of(&r, "KeyError"), "ongoing");
    assert_eq!(cluster(&r, "KeyError")["only_in_newest_revision"], false);
}

#[test]
fn timeline_marks_the_deploy_first_seen_and_counts_per_minute() {
    let r = analyze_json(
        &["--deployed-revision", STAGING_REV],
        &sample("staging-incident.json"),
    );
    let t = &r["timeline"];
    assert_eq!(t["bin_minutes"], 1);
    assert_eq!(t["start"], "2025-09-07T15:10:00Z");
    assert_eq!(t["deploy_bin"], 20);
    let events = t["events"].as_array().unwrap();
    let deploy = events.iter().position(|e| e["kind"] == "deploy").unwrap();
    let readiness = events
        .iter()
        .position(|e| e["text"].as_str().unwrap().contains("readiness"))
        .unwrap();
    assert!(deploy < readiness);
    let row = &t["rows"][0];
    let counts: u64 = row["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(counts, 28);
    assert_eq!(
        row["sparkline"].as_str().unwrap().chars().nth(20),
        Some('┃')
    );
    // The terminal table has a status and a trend column.
    let out = bin()
        .arg("analyze")
        .arg(sample("staging-incident.json"))
        .args(["--deployed-revision", STAGING_REV])
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("STATUS") && table.contains("TREND"),
        "{table}"
    );
    assert!(
        table.contains("observed chain (correlation, not proof): #4 -> #5 -> #1 -> #3"),
        "{table}"
    );
}

#[test]
fn extreme_times_and_baselines_never_panic() {
    let e = vec![
        entry(at("0001-01-01T00:00:00Z"), "ERROR", "ancient failure", "i"),
        entry(at("9999-12-31T23:59:59Z"), "ERROR", "future failure", "i"),
    ];
    let (_dir, path) = ndjson(&e);
    let out = bin()
        .arg("analyze")
        .arg(&path)
        .args([
            "--deployed-at",
            "5000-01-01T00:00:00Z",
            "--baseline",
            "100000000w",
        ])
        .args(["--fail-on-new", "--format", "markdown"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(
        md.contains("**1 new, 0 spiking, 0 ongoing, 1 resolved.**"),
        "{md}"
    );
}
