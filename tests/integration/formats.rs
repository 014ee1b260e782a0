//! Input shapes users have beside JSON: gcloud's YAML, and UTF-16 whose byte-order mark
//! is missing or was damaged on the way.

use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlEmitter, yaml::Hash};

use crate::bin;

/// Entries of a small incident: a Python traceback in one entry, a JSON payload with
/// numbers and a list, a 5xx request on the same trace, a warning and a Go stack.
fn entries() -> Vec<Value> {
    let res = json!({"type": "cloud_run_revision", "labels": {"service_name": "orders",
        "revision_name": "orders-00012-vok", "location": "us-central1", "project_id": "shop-prod"}});
    let mut out = Vec::new();
    for i in 0..6u32 {
        let ts = format!(
            "2026-11-30T10:{:02}:{:02}.{:03}Z",
            i / 2,
            (i * 7) % 60,
            i * 13
        );
        let trace = format!("projects/shop-prod/traces/{:032x}", 0xabc0 + i);
        out.push(json!({"insertId": format!("tb{i}"), "timestamp": ts, "severity": "ERROR",
            "resource": res, "trace": trace, "labels": {"instanceId": format!("00a1b2c3d4{}", i % 2)},
            "logName": "projects/shop-prod/logs/run.googleapis.com%2Fstderr",
            "textPayload": format!("Traceback (most recent call last):\n  File \"/app/orders/api.py\", line {}, in checkout\n    total = price_of(cart)\nKeyError: 'sku-{}'", 40 + i, 100 + i)}));
        out.push(json!({"insertId": format!("rq{i}"), "timestamp": ts, "severity": "ERROR",
            "resource": res, "trace": trace,
            "logName": "projects/shop-prod/logs/run.googleapis.com%2Frequests",
            "httpRequest": {"requestMethod": "POST", "requestUrl": format!("https://orders.example.com/api/checkout/{i}"),
                "status": 500, "latency": "0.250s", "userAgent": "Mozilla/5.0", "responseSize": "214"}}));
        out.push(json!({"insertId": format!("js{i}"), "timestamp": ts, "severity": "WARNING",
            "resource": res, "logName": "projects/shop-prod/logs/run.googleapis.com%2Fstdout",
            "jsonPayload": {"message": "inventory sync slow", "duration_ms": 1500 + i, "ratio": 0.75,
                "shards": [1, 2, 3], "ok": false, "owner": null}}));
    }
    out.push(json!({"insertId": "go1", "timestamp": "2026-11-30T10:05:00Z", "severity": "CRITICAL",
        "resource": res, "textPayload": "panic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\nmain.handler(...)\n\t/src/main.go:42 +0x1d"}));
    out
}

fn yaml_of(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => n
            .as_i64()
            .map_or_else(|| Yaml::Real(n.to_string()), Yaml::Integer),
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(a) => Yaml::Array(a.iter().map(yaml_of).collect()),
        Value::Object(o) => {
            let mut h = Hash::new();
            for (k, v) in o {
                h.insert(Yaml::String(k.clone()), yaml_of(v));
            }
            Yaml::Hash(h)
        }
    }
}

/// The entries as gcloud writes them without `--format=json`: a `---` document each,
/// multi-line text as block scalars.
fn to_yaml(entries: &[Value]) -> String {
    let mut out = String::new();
    for e in entries {
        let mut doc = String::new();
        let mut emitter = YamlEmitter::new(&mut doc);
        emitter.multiline_strings(true);
        emitter.dump(&yaml_of(e)).unwrap();
        out.push_str(&doc);
        out.push('\n');
    }
    out
}

fn report(path: &std::path::Path, extra: &[&str]) -> Value {
    let out = bin()
        .arg("analyze")
        .arg(path)
        .args(["--format", "json", "--top", "50"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut r: Value = serde_json::from_slice(&out.stdout).unwrap();
    r.as_object_mut().unwrap().remove("inputs");
    r
}

#[test]
fn yaml_and_json_of_the_same_entries_give_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut list = entries();
    for order in ["oldest first", "newest first"] {
        let json_path = dir.path().join("e.json");
        let yaml_path = dir.path().join("e.yaml");
        std::fs::write(&json_path, serde_json::to_string_pretty(&list).unwrap()).unwrap();
        let yaml = to_yaml(&list);
        assert!(yaml.starts_with("---\n") && yaml.contains(": |"), "{yaml}");
        std::fs::write(&yaml_path, &yaml).unwrap();
        let from_json = report(&json_path, &[]);
        assert!(from_json["summary"]["entries_read"].as_u64() == Some(19));
        assert_eq!(report(&yaml_path, &[]), from_json, "{order}");
        // Forced, and without the first marker.
        let bare = dir.path().join("bare.txt");
        std::fs::write(&bare, yaml.trim_start_matches("---\n")).unwrap();
        assert_eq!(
            report(&bare, &["--input-format", "yaml"]),
            from_json,
            "{order}"
        );
        list.reverse();
    }
}

#[test]
fn a_broken_yaml_document_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.yaml");
    let mut yaml = to_yaml(&entries()[..3]);
    yaml.push_str("---\ninsertId: [unclosed\n");
    std::fs::write(&path, yaml).unwrap();
    let out = bin().arg("analyze").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("malformed entry skipped"), "{err}");
    let r = report(&path, &[]);
    assert_eq!(r["summary"]["entries_skipped"], 1);
    assert_eq!(r["summary"]["entries_read"], 4);
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

#[test]
fn utf16_with_a_damaged_or_missing_mark_reads_its_entries_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let text = serde_json::to_string_pretty(&entries())
        .unwrap()
        .replace('\n', "\r\n");
    let plain = dir.path().join("plain.json");
    std::fs::write(&plain, &text).unwrap();
    let expected = report(&plain, &[]);
    assert_eq!(expected["warnings"], json!([]));
    for (name, prefix) in [
        ("damaged.json", b"\xEF\xBF\xBD\xEF\xBF\xBD".as_slice()),
        ("no-mark.json", b"".as_slice()),
    ] {
        let path = dir.path().join(name);
        let mut bytes = prefix.to_vec();
        bytes.extend(utf16le(&text));
        std::fs::write(&path, bytes).unwrap();
        let mut r = report(&path, &[]);
        let warnings = r.as_object_mut().unwrap().remove("warnings").unwrap();
        let w = warnings[0].as_str().unwrap();
        assert!(w.contains(name) && w.contains("UTF-16LE"), "{w}");
        let mut e = expected.clone();
        e.as_object_mut().unwrap().remove("warnings");
        assert_eq!(r, e, "{name}");
        // The markdown report says it too.
        let md = bin()
            .arg("analyze")
            .arg(&path)
            .args(["--format", "markdown"])
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&md.stdout).contains("guessed from its byte pattern"));
    }
}

/// Titles and counts of a report's clusters, most entries first.
fn clusters_of(report: &Value) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["title"].as_str().unwrap().to_string(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// Plain text with no timestamps: the lines after an error line are other messages,
/// not its continuation, so each line's template is a cluster of its own.
#[test]
fn text_lines_after_an_error_line_keep_their_own_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..4 {
        lines.push(format!(
            "ERROR raid controller 2 reported a degraded array md{i}"
        ));
        lines.push(format!("  fan tray {i} spinning at {} rpm", 3000 + i));
        lines.push("at boot the firmware reported no faults".to_string());
        lines.push(format!("session for user svc{i}x opened"));
    }
    let text = lines.join("\n") + "\n";
    let path = dir.path().join("node.log");
    std::fs::write(&path, text).unwrap();
    let r = report(
        &path,
        &["--input-format", "text", "--min-severity", "DEFAULT"],
    );
    let clusters = clusters_of(&r);
    assert_eq!(clusters.len(), 4, "{clusters:?}");
    assert!(clusters.iter().all(|(_, n)| *n == 4), "{clusters:?}");
    assert_eq!(r["summary"]["entries_joined"], 0);
}

/// A `jsonPayload` without a message is clustered on its fields: one event with
/// error lists of different lengths and different ids is one cluster, titled like a
/// message, and another field's error is another.
#[test]
fn structured_payloads_are_clustered_on_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let error = |field: &str, text: &str| json!({"field": field, "message": text});
    let entry = |i: usize, errors: Vec<Value>| {
        json!({"insertId": format!("p{i}"), "timestamp": format!("2026-03-02T10:00:{i:02}.5Z"),
            "severity": "ERROR", "logName": "projects/p/logs/app",
            "jsonPayload": {"event": "refund_refused", "refund_ref": format!("rf_{}", 7000 + i * 37),
                "amount_cents": 1200 + i, "errors": errors}})
    };
    let missing = error("iban", "Required field is empty");
    let entries = vec![
        entry(1, vec![missing.clone()]),
        entry(2, vec![missing.clone(), missing.clone()]),
        entry(3, vec![missing.clone(), missing.clone(), missing]),
        entry(
            4,
            vec![error("amount_cents", "Exceeds the original charge")],
        ),
    ];
    let path = crate::github::write_ndjson(dir.path(), "refunds.ndjson", &entries);
    let clusters = clusters_of(&report(&path, &[]));
    assert_eq!(
        clusters,
        [
            (
                "refund_refused: iban: Required field is empty".to_string(),
                3
            ),
            (
                "refund_refused: amount_cents: Exceeds the original charge".to_string(),
                1
            ),
        ]
    );
}
