//! Facts before hypotheses: what the messages state becomes observed whys, and a
//! hypothesis every stating entry contradicts is listed as ruled out, in JSON and
//! markdown. Messages are made up, shaped like Go and Python secret, gRPC and exit errors.

use std::io::Write;

use serde_json::Value;

use super::{analyze_json, bin};

/// An NDJSON export of `messages` at one-second steps, each with an insertId.
fn export(messages: &[String]) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    for (i, m) in messages.iter().enumerate() {
        let line = serde_json::json!({
            "insertId": format!("ins{i:03}"),
            "timestamp": format!("2026-10-14T08:{:02}:{:02}Z", i / 60, i % 60),
            "severity": "ERROR",
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "ledger", "revision_name": "ledger-00031-qaz"}},
            "textPayload": m,
        });
        writeln!(f, "{line}").unwrap();
    }
    f.flush().unwrap();
    f
}

fn cluster<'a>(report: &'a Value, rule: &str) -> &'a Value {
    report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} cluster in {report:#}"))
}

fn answers(c: &Value, kind: &str) -> Vec<String> {
    c["whys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["kind"] == kind)
        .map(|w| w["answer"].as_str().unwrap().to_string())
        .collect()
}

fn secret_error(name: &str, code: &str) -> String {
    let desc = if code == "NotFound" {
        format!("Secret [projects/824613/secrets/{name}] not found or has no versions.")
    } else {
        format!(
            "Permission 'secretmanager.versions.access' denied for resource 'projects/ledger-prod-7/secrets/{name}/versions/latest' (or it may not exist)."
        )
    };
    format!("fatal: failed to access secret '{name}' - rpc error: code = {code} desc = {desc}")
}

#[test]
fn a_permission_denied_secret_error_states_its_facts_before_any_hypothesis() {
    let messages: Vec<String> = (0..6)
        .map(|i| {
            secret_error(
                if i < 4 { "LEDGER_DSN" } else { "FX_FEED_KEY" },
                "PermissionDenied",
            )
        })
        .collect();
    let f = export(&messages);
    let report = analyze_json(&[], f.path());
    let c = cluster(&report, "cloudrun-secret-access-failed");
    assert_eq!(c["count"], 6);

    let facts = c["facts"].as_array().unwrap();
    let status = facts.iter().find(|f| f["name"] == "status").unwrap();
    assert_eq!(status["values"][0]["value"], "PermissionDenied");
    assert_eq!(status["values"][0]["count"], 6);
    assert_eq!(status["values"][0]["first"], "insertId ins000");
    let secret = facts.iter().find(|f| f["name"] == "secret").unwrap();
    let names: Vec<(&str, u64)> = secret["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["value"].as_str().unwrap(), v["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(names, [("LEDGER_DSN", 4), ("FX_FEED_KEY", 2)]);

    // The facts are observed whys, and they come before every hypothesis.
    let whys = c["whys"].as_array().unwrap();
    let first_fact = whys
        .iter()
        .position(|w| {
            w["answer"]
                .as_str()
                .unwrap()
                .starts_with("Secret Manager answered PermissionDenied (6 of 6 entries")
        })
        .unwrap_or_else(|| panic!("no status why in {whys:#?}"));
    assert_eq!(whys[first_fact]["kind"], "observed");
    let first_hypothesis = whys.iter().position(|w| w["kind"] == "hypothesis").unwrap();
    assert!(first_fact < first_hypothesis);
    assert!(
        answers(c, "observed")
            .iter()
            .any(|a| a.contains("LEDGER_DSN (4 of 6 entries; also FX_FEED_KEY ×2)")),
        "{whys:#?}"
    );

    // A denial does not rule out a missing secret (Google answers PERMISSION_DENIED
    // either way), and it supports the missing permission, which comes first.
    assert_eq!(c["ruled_out"], serde_json::json!([]));
    let hypotheses = &whys[first_hypothesis];
    assert!(
        hypotheses["answer"]
            .as_str()
            .unwrap()
            .starts_with("Access is denied"),
        "{hypotheses:#}"
    );
    assert!(
        hypotheses["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "supported by status = PermissionDenied")
    );
}

#[test]
fn a_not_found_rules_out_the_access_hypotheses_in_json_and_markdown() {
    let messages: Vec<String> = (0..3)
        .map(|_| secret_error("LEDGER_DSN", "NotFound"))
        .collect();
    let f = export(&messages);
    let report = analyze_json(&[], f.path());
    let c = cluster(&report, "cloudrun-secret-access-failed");
    let ruled: Vec<&str> = c["ruled_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["fact"], "status");
            assert_eq!(r["values"], serde_json::json!(["NotFound"]));
            r["hypothesis"].as_str().unwrap()
        })
        .collect();
    assert_eq!(ruled.len(), 2, "{ruled:?}");
    assert!(ruled[0].starts_with("Access is denied"));
    assert!(ruled[1].contains("API is not enabled"));
    for h in answers(c, "hypothesis") {
        assert!(!ruled.contains(&h.as_str()), "ruled out yet offered: {h}");
    }

    let md = bin()
        .arg("analyze")
        .arg(f.path())
        .args(["--format", "markdown"])
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    let block = md
        .split("**Ruled out by what the entries state:**")
        .nth(1)
        .unwrap_or_else(|| panic!("no ruled-out list in\n{md}"));
    assert!(block.contains("- Access is denied"), "{block}");
    assert!(block.contains("states `status` says `NotFound`"), "{block}");
}

#[test]
fn mixed_values_rule_nothing_out() {
    let mut messages: Vec<String> = (0..3)
        .map(|_| secret_error("LEDGER_DSN", "NotFound"))
        .collect();
    messages.push(secret_error("LEDGER_DSN", "PermissionDenied"));
    let f = export(&messages);
    let report = analyze_json(&[], f.path());
    let c = cluster(&report, "cloudrun-secret-access-failed");
    assert_eq!(c["ruled_out"], serde_json::json!([]));
    assert!(
        answers(c, "observed")
            .iter()
            .any(|a| a.contains("NotFound (3 of 4 entries; also PermissionDenied ×1)"))
    );
}

#[test]
fn exit_codes_are_judged_by_what_the_number_means() {
    let killed = export(&vec!["Container called exit(137).".to_string(); 2]);
    let c = analyze_json(&[], killed.path());
    let c = cluster(&c, "cloudrun-container-exit");
    assert!(answers(c, "hypothesis")[0].contains("SIGKILL"), "{c:#}");
    assert!(
        c["ruled_out"][0]["hypothesis"]
            .as_str()
            .unwrap()
            .starts_with("The process exited by itself")
    );

    // One, two and three digits, up to 128: the process chose to exit.
    for code in [3, 42, 127] {
        let exited = export(&vec![format!("Container called exit({code})."); 2]);
        let c = analyze_json(&[], exited.path());
        let c = cluster(&c, "cloudrun-container-exit");
        let ruled: Vec<&str> = c["ruled_out"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["hypothesis"].as_str().unwrap())
            .collect();
        assert_eq!(ruled.len(), 2, "exit({code}): {ruled:?}");
        assert!(ruled.iter().any(|h| h.contains("SIGKILL")));
        assert!(ruled.iter().any(|h| h.contains("native code")));
    }
}

#[test]
fn a_user_rule_declares_facts_and_their_values_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("billing.toml"),
        r#"
[[rule]]
id = "billing-charge-refused"
title = "Charge refused by the payment provider"
pattern = '''charge refused'''
facts = [
  { name = "decline", says = "The provider's decline code was {decline}.", pattern = '''decline_code=(?P<decline>[a-z_]+)''' },
  { name = "key", says = "The request used the key {key}.", pattern = '''key=(?P<key>\S+)''' },
]
whys = [
  { why = "The card was declined by its issuer.", supported_by = { decline = "card_declined|insufficient_funds" }, ruled_out_by = { decline = "api_key_expired" } },
  { why = "The service's API key is no longer valid.", supported_by = { decline = "api_key_expired" }, ruled_out_by = { decline = "card_declined|insufficient_funds" } },
]
examples = ["charge refused decline_code=card_declined", "charge refused key=abc decline_code=api_key_expired"]
counter_examples = ["charge accepted"]
"#,
    )
    .unwrap();
    bin()
        .args(["rules", "check"])
        .arg(dir.path())
        .assert()
        .success();
    // A made-up live key shaped like a payment provider's secret key.
    let key = "sk_live_51QfZ8rK2mVt7Lp9XyB3nD4cW";
    let messages: Vec<String> = (0..3)
        .map(|_| format!("charge refused key={key} decline_code=api_key_expired"))
        .collect();
    let f = export(&messages);
    let text = json_with_rules(dir.path(), f.path());
    assert!(!text.contains(key), "the key reached the report");
    let report: Value = serde_json::from_str(&text).unwrap();
    let c = cluster(&report, "billing-charge-refused");
    assert!(answers(c, "hypothesis")[0].contains("API key is no longer valid"));
    assert!(
        c["ruled_out"][0]["hypothesis"]
            .as_str()
            .unwrap()
            .contains("declined by its issuer")
    );
    let key_fact = c["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "key")
        .unwrap();
    assert!(
        key_fact["values"][0]["value"]
            .as_str()
            .unwrap()
            .contains("REDACTED"),
        "{key_fact:#}"
    );
}

#[test]
fn rules_check_names_a_fact_no_example_states_and_an_undeclared_fact() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        r#"
[[rule]]
id = "queue-full"
title = "Queue full"
pattern = '''queue full'''
facts = [{ name = "depth", says = "Depth {depth}.", pattern = '''depth=(?P<depth>[0-9]+)''' }]
whys = [{ why = "Consumers are down.", ruled_out_by = { lag = "0" } }]
examples = ["queue full", "queue full again"]
counter_examples = ["queue drained"]
"#,
    )
    .unwrap();
    let out = bin()
        .args(["rules", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"lag\" is not a declared fact"), "{err}");

    std::fs::write(
        dir.path().join("bad.toml"),
        r#"
[[rule]]
id = "queue-full"
title = "Queue full"
pattern = '''queue full'''
facts = [{ name = "depth", says = "Depth {depth}.", pattern = '''depth=(?P<depth>[0-9]+)''' }]
examples = ["queue full", "queue full again"]
counter_examples = ["queue drained"]
"#,
    )
    .unwrap();
    let out = bin()
        .args(["rules", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fact \"depth\" is stated by no example"),
        "{err}"
    );
}

#[test]
fn rules_explain_shows_the_facts_and_what_they_rule_out() {
    let out = bin()
        .args(["rules", "explain", &secret_error("LEDGER_DSN", "NotFound")])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("fact          \"NotFound\" (status)"),
        "{text}"
    );
    assert!(text.contains("ruled out     why 3 (by status)"), "{text}");
    assert!(text.contains("supported     why 2 (by status)"), "{text}");
}

#[test]
fn a_fact_that_holds_part_of_a_secret_is_masked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("login.toml"),
        r#"
[[rule]]
id = "login-refused"
title = "Login refused"
pattern = '''login refused'''
facts = [
  { name = "first", says = "The password began with {first}.", pattern = '''password="(?P<first>\S+)''' },
]
examples = ['login refused password="Ab1 Cd2"']
"#,
    )
    .unwrap();
    // A quoted password with a space: the fact's pattern takes only its first word.
    let messages = vec![r#"login refused password="Zr7Vx Qp4Wn" for admin"#.to_string(); 3];
    let f = export(&messages);
    let text = json_with_rules(dir.path(), f.path());
    assert!(!text.contains("Zr7Vx") && !text.contains("Qp4Wn"), "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    let c = cluster(&report, "login-refused");
    assert_eq!(c["facts"][0]["values"][0]["value"], "[REDACTED]", "{c:#}");
}

/// `analyze FILE --rules DIR --format json`, as text.
fn json_with_rules(rules: &std::path::Path, file: &std::path::Path) -> String {
    let out = bin()
        .arg("analyze")
        .arg(file)
        .arg("--rules")
        .arg(rules)
        .args(["--format", "json"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}
