//! The redaction corpus (`src/redact/corpus.toml`) through the binary: each secret,
//! planted in a text payload, a JSON payload or a 5xx request's URL, reaches no output
//! (terminal table and stderr, JSON, markdown, `--out`, `--assignments`, step summary,
//! outputs, annotations, GitHub request bodies, `rules explain`), while the masked
//! text does, so the test cannot pass by showing nothing. Personal data likewise, and
//! kept with `--keep-personal-data`.

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::github::{REPO, fake, filing, requests, write_ndjson};
use crate::{bin, root, run, stderr};

#[derive(Deserialize)]
struct Corpus {
    secret: Vec<Sample>,
    personal: Vec<Sample>,
}

#[derive(Deserialize)]
struct Sample {
    class: String,
    #[serde(rename = "in")]
    place: String,
    text: String,
    #[serde(alias = "value")]
    secret: String,
    masked: Option<String>,
}

fn corpus() -> Corpus {
    let text = std::fs::read_to_string(root().join("src/redact/corpus.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

/// The entries that plant `s`: an error, and a 5xx request on the same trace.
fn entries(s: &Sample, n: usize) -> Vec<Value> {
    let resource = json!({"type": "cloud_run_revision",
        "labels": {"service_name": "api", "revision_name": "api-00007-kud", "location": "europe-west1"}});
    let trace = format!("projects/acme-prod/traces/{n:032x}");
    let mut e = json!({"insertId": format!("ins-{n}"), "timestamp": "2026-11-30T10:00:00.000Z",
        "severity": "ERROR", "resource": resource, "trace": trace,
        "logName": "projects/acme-prod/logs/run.googleapis.com%2Fstderr"});
    match s.place.as_str() {
        "text" => e["textPayload"] = json!(s.text),
        "json" => e["jsonPayload"] = serde_json::from_str(&s.text).unwrap(),
        "url" => {
            e["httpRequest"] = json!({"requestMethod": "GET", "requestUrl": s.text, "status": 500,
                "userAgent": "curl/8.5.0", "latency": "0.250s"});
            e["logName"] = json!("projects/acme-prod/logs/run.googleapis.com%2Frequests");
        }
        other => panic!("unknown place {other}"),
    }
    vec![e]
}

struct Outputs {
    /// Every output, named.
    all: Vec<(&'static str, String)>,
    json: String,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// One sample through every output: a run with JSON on stdout, the report file, the
/// assignments, the GitHub Actions files and issue filing; a run with the table; and
/// `rules explain` on the text.
async fn outputs(
    server: &wiremock::MockServer,
    dir: &Path,
    s: &Sample,
    n: usize,
    extra: &[&str],
) -> Outputs {
    let input = write_ndjson(dir, &format!("s{n}.ndjson"), &entries(s, n));
    let (md, csv, summary, gh_out) = (
        dir.join(format!("s{n}.md")),
        dir.join(format!("s{n}.csv")),
        dir.join(format!("s{n}.summary")),
        dir.join(format!("s{n}.output")),
    );
    let mut c = filing(server, &input, &["--format", "json", "--top", "50"]);
    c.args(extra)
        .arg("--out")
        .arg(&md)
        .arg("--assignments")
        .arg(&csv)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &gh_out)
        .env("GITHUB_REPOSITORY", REPO);
    let first = run(c).await;
    assert!(
        matches!(first.status.code(), Some(0 | 1)),
        "{}: {}",
        s.class,
        stderr(&first)
    );
    let mut table = bin();
    table
        .arg("analyze")
        .arg(&input)
        .args(["--top", "50"])
        .args(extra);
    let table = run(table).await;
    let mut explain = bin();
    explain.args(["rules", "explain", &s.text]).args(
        extra
            .iter()
            .filter(|a| **a == "--keep-personal-data")
            .copied(),
    );
    let explain = run(explain).await;
    assert_eq!(explain.status.code(), Some(0), "{}", stderr(&explain));
    let json = String::from_utf8_lossy(&first.stdout).into_owned();
    Outputs {
        all: vec![
            ("json", json.clone()),
            ("stderr (annotations)", stderr(&first)),
            ("--out", read(&md)),
            ("--assignments", read(&csv)),
            ("step summary", read(&summary)),
            ("GITHUB_OUTPUT", read(&gh_out)),
            (
                "table",
                String::from_utf8_lossy(&table.stdout).into_owned() + &stderr(&table),
            ),
            (
                "rules explain",
                String::from_utf8_lossy(&explain.stdout).into_owned() + &stderr(&explain),
            ),
        ],
        json,
    }
}

/// Every GitHub request body so far.
async fn github_bodies(server: &wiremock::MockServer) -> String {
    let mut all = String::new();
    for (m, p, b) in requests(server).await {
        let _ = writeln!(all, "{m} {p}\n{b}");
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_of_the_corpus_reaches_any_output() {
    let (server, _gh) = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let secrets = corpus().secret;
    for (n, s) in secrets.iter().enumerate() {
        let out = outputs(&server, dir.path(), s, n, &[]).await;
        for (name, text) in &out.all {
            assert!(
                !text.contains(&s.secret),
                "{} ({}) leaked into {name}:\n{text}",
                s.class,
                s.place
            );
        }
        assert!(
            out.json.contains("[REDACTED"),
            "{} ({}): the masked text is in the report: {}",
            s.class,
            s.place,
            out.json
        );
    }
    let bodies = github_bodies(&server).await;
    for s in &secrets {
        assert!(!bodies.contains(&s.secret), "{} leaked to GitHub", s.class);
    }
    assert!(bodies.contains("[REDACTED"), "issues were filed: {bodies}");
}

#[tokio::test(flavor = "multi_thread")]
async fn personal_data_reaches_no_output_by_default_and_every_output_when_kept() {
    let (server, _gh) = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let personal = corpus().personal;
    for (n, p) in personal.iter().enumerate() {
        let masked = p.masked.as_deref().unwrap();
        let out = outputs(&server, dir.path(), p, n, &[]).await;
        for (name, text) in &out.all {
            assert!(
                !text.contains(&p.secret),
                "{} ({}) reached {name}:\n{text}",
                p.class,
                p.place
            );
        }
        assert!(out.json.contains(masked), "{}: {}", p.class, out.json);

        let kept = outputs(&server, dir.path(), p, n + 1000, &["--keep-personal-data"]).await;
        let report: Value = serde_json::from_str(&kept.json).unwrap();
        assert_eq!(report["settings"]["keep_personal_data"], true);
        // The outputs that show log text itself (the table and the annotations show
        // titles, which are masked templates).
        for (name, text) in &kept.all {
            if *name == "rules explain" {
                // It lists the masked values one by one: none is masked as personal.
                assert!(!text.contains(masked.trim_start_matches('+')), "{text}");
                continue;
            }
            if !matches!(*name, "json" | "--out" | "step summary") {
                continue;
            }
            assert!(
                text.contains(&p.secret),
                "{} kept, but missing from {name}:\n{text}",
                p.class
            );
        }
    }
    let bodies = github_bodies(&server).await;
    assert!(bodies.contains("<email>@"), "{bodies}");
}

/// Made-up secrets of several classes, and the value that must not survive.
fn planted_secret() -> impl proptest::strategy::Strategy<Value = (String, String)> {
    use proptest::prelude::*;
    prop_oneof![
        "[A-Za-z0-9]{36}".prop_map(|s| (format!("ghp_{s}"), s.clone())),
        "[A-Z0-9]{16}".prop_map(|s| (format!("AKIA{s}"), format!("AKIA{s}"))),
        "[A-Za-z0-9]{24}".prop_map(|s| (format!("sk_live_{s}"), s.clone())),
        "[A-Za-z0-9#!%]{10,20}".prop_map(|s| (format!("mysql://app:{s}@db:3306/x"), s.clone())),
        "[A-Za-z0-9]{10,20}".prop_map(|s| (format!("db_password={s}"), s.clone())),
        "[A-Za-z0-9]{24,40}".prop_map(|s| (format!("Authorization: Bearer {s}"), s.clone())),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

    /// A secret planted anywhere in a random message reaches none of the outputs of a
    /// run: JSON, the report file, the table, the annotations.
    #[test]
    fn a_planted_secret_reaches_no_output_of_a_run(
        words in proptest::collection::vec("[a-z]{1,8}", 1..10),
        at in proptest::prelude::any::<proptest::sample::Index>(),
        (planted, value) in planted_secret(),
    ) {
        let mut parts = words.clone();
        parts.insert(at.index(parts.len() + 1), planted);
        let text = parts.join(" ");
        let dir = tempfile::tempdir().unwrap();
        let input = write_ndjson(dir.path(), "p.ndjson", &[json!({"insertId": "p1",
            "timestamp": "2026-11-30T10:00:00Z", "severity": "ERROR", "textPayload": text})]);
        let md = dir.path().join("p.md");
        let json_run = bin()
            .arg("analyze")
            .arg(&input)
            .args(["--format", "json", "--out"])
            .arg(&md)
            .env("GITHUB_ACTIONS", "true")
            .output()
            .unwrap();
        let table_run = bin().arg("analyze").arg(&input).output().unwrap();
        let outputs = [
            String::from_utf8_lossy(&json_run.stdout).into_owned(),
            String::from_utf8_lossy(&json_run.stderr).into_owned(),
            read(&md),
            String::from_utf8_lossy(&table_run.stdout).into_owned(),
            String::from_utf8_lossy(&table_run.stderr).into_owned(),
        ];
        proptest::prop_assert!(outputs[0].contains("[REDACTED"), "{}", outputs[0]);
        for out in &outputs {
            proptest::prop_assert!(!out.contains(&value), "{text:?} leaked: {out}");
        }
    }
}

/// A source location is log text too: a function name that carries a secret is masked
/// in the exemplars and in the cluster's counts.
#[test]
fn a_secret_in_a_source_location_reaches_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Value> = (0..3)
        .map(|i| {
            json!({"insertId": format!("s{i}"), "timestamp": format!("2026-11-30T10:00:0{i}Z"),
                "severity": "ERROR", "textPayload": "checkout failed with timeout",
                "sourceLocation": {"file": "/srv/app/pay.py", "line": "41",
                    "function": "charge db_password=Wq8Lm3Zt5Kx"}})
        })
        .collect();
    let input = write_ndjson(dir.path(), "s.ndjson", &entries);
    let report = crate::analyze_json(&[], &input).to_string();
    assert!(!report.contains("Wq8Lm3Zt5Kx"), "{report}");
    assert!(report.contains("db_password=[REDACTED]"), "{report}");
}
