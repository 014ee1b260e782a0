//! The bundled samples: what an on-call engineer should see on each.

use crate::{analyze_json, bin, sample, titles};

#[test]
fn staging_incident_ranks_the_seed_failures() {
    let r = analyze_json(&[], &sample("staging-incident.json"));
    let clusters = r["clusters"].as_array().unwrap();
    let top = &clusters[0];
    assert_eq!(
        top["rule"],
        "python-coroutine-attribute",
        "{:?}",
        titles(&r)
    );
    assert_eq!(top["count"], 28);
    assert_eq!(top["http_failures"]["count"], 28);
    assert_eq!(top["http_failures"]["linked_by_trace"], 28);
    assert_eq!(top["http_failures"]["routes"]["GET /ws"], 28);
    assert_eq!(
        top["http_failures"]["user_agents"]["Netra-E2E-Tests/1.0"],
        28
    );
    assert_eq!(
        top["source_locations"][0]["name"],
        "netra_backend/app/routes/websocket.py:557 (websocket_endpoint)"
    );
    let rules: Vec<&str> = clusters.iter().filter_map(|c| c["rule"].as_str()).collect();
    for expected in [
        "websocket-close-1011",
        "redis-connection-error",
        "redis-readiness-failed",
        "auth-missing-token",
        "websocket-close-1006",
    ] {
        assert!(rules.contains(&expected), "{expected} in {rules:?}");
    }
}

#[test]
fn secrets_in_the_sample_never_reach_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("report.md");
    let out = bin()
        .args(["analyze", "--top", "50", "--format", "json", "--out"])
        .arg(&md)
        .arg(sample("staging-incident.json"))
        .output()
        .unwrap();
    let json = String::from_utf8(out.stdout).unwrap();
    let markdown = std::fs::read_to_string(&md).unwrap();
    for text in [&json, &markdown] {
        assert!(!text.contains("s3cr3tP4ss"), "password leaked");
        assert!(!text.contains("dozjgNryP4J3jVmNHl0w5N"), "JWT leaked");
        assert!(!text.contains("eyJzdWIiOiIxMjM0NTY3ODkwIn0"), "JWT leaked");
    }
    assert!(json.contains("[REDACTED"), "the redaction is visible");
}

#[test]
fn sink_export_joins_the_go_panic() {
    let r = analyze_json(&[], &sample("sink-export.ndjson"));
    let panic = r["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"].as_str().unwrap().contains("nil pointer"))
        .expect("the panic cluster");
    assert_eq!(panic["count"], 2);
    assert!(panic["joined_lines"].as_u64().unwrap() >= 8, "{panic:#}");
    assert!(
        titles(&r).iter().all(|t| !t.starts_with("goroutine")),
        "{:?}",
        titles(&r)
    );
    let pq = r["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "db-too-many-connections")
        .expect("payload level: error counts");
    assert_eq!(pq["count"], 6);
}

#[test]
fn text_log_joins_tracebacks_and_java_causes() {
    let r = analyze_json(&["--top", "50"], &sample("app.log"));
    let t = titles(&r);
    let value_error = r["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["title"]
                .as_str()
                .unwrap()
                .starts_with("ValueError: invalid literal")
        })
        .unwrap_or_else(|| panic!("ValueError cluster in {t:?}"));
    assert!(
        value_error["first_seen"].is_string(),
        "a traceback line takes the time of the line before it"
    );
    assert_eq!(
        value_error["count"], 3,
        "three tracebacks with different values are one cluster"
    );
    assert!(
        t.iter().all(|x| !x.trim_start().starts_with("File ")),
        "{t:?}"
    );
    assert!(
        t.iter().all(|x| !x.trim_start().starts_with("at ")),
        "{t:?}"
    );
}
