//! The Log Analytics engine. Against a fake BigQuery REST API on 127.0.0.1 (wiremock,
//! with the real request and error shapes): the request, polling, paging, retries and
//! every documented refusal. Against a real BigQuery emulator (`bqemulator`, started by
//! `.ci/run`, found through `GCP_TRIAGE_TEST_BIGQUERY`): the bundled samples and the
//! real exports loaded into a table with the log view's schema give the same clusters
//! as `analyze FILE` on the same entries, except the differences the README lists.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{analyze_json, bin, run, sample, shared, stderr};

const TOKEN: &str = "ya29.bq-test-token-51c0";
const TABLE: &str = "logs-proj.logs_link._AllLogs";
const QUERIES: &str = "/bigquery/v2/projects/job-proj/queries";

fn engine(server: &str, extra: &[&str]) -> assert_cmd::Command {
    let mut c = bin();
    c.env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        .env("GCP_TRIAGE_BIGQUERY_ENDPOINT", server)
        .args([
            "analyze",
            "--bigquery-table",
            TABLE,
            "--project",
            "job-proj",
            "--from",
            "2025-11-03T10:00:00Z",
            "--until",
            "2025-11-03T11:00:00Z",
            "--no-code",
        ])
        .args(extra);
    c
}

fn bq_error(code: u16, reason: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({"error": {
        "code": code, "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": "X"}}))
}

/// A finished answer with one group of two entries (BigQuery's cell encoding).
fn answer_with_one_group(page_token: Option<&str>) -> Value {
    let s = |n: &str, t: &str| json!({"name": n, "type": t, "mode": "NULLABLE"});
    let exemplar_fields = json!([
        s("insert_id", "STRING"),
        s("timestamp", "TIMESTAMP"),
        s("severity", "STRING"),
        s("log_name", "STRING"),
        s("resource_type", "STRING"),
        s("resource_labels", "STRING"),
        s("entry_labels", "STRING"),
        s("text_payload", "STRING")
    ]);
    let ex = |id: &str, us: &str| {
        json!({"v": {"f": [
        {"v": id}, {"v": us}, {"v": "ERROR"}, {"v": "projects/p/logs/run.googleapis.com%2Fstderr"},
        {"v": "cloud_run_revision"}, {"v": "{\"service_name\":\"ledger\",\"revision_name\":\"ledger-00007-abc\"}"},
        {"v": "{\"instanceId\":\"inst-a\"}"},
        {"v": "rpc error: code = Unavailable desc = connection refused"}]}})
    };
    let mut body = json!({
        "kind": "bigquery#queryResponse",
        "jobReference": {"projectId": "job-proj", "jobId": "job_7", "location": "EU"},
        "jobComplete": true,
        "totalBytesProcessed": "7340032",
        "totalBytesBilled": "10485760",
        "schema": {"fields": [
            s("group_key", "STRING"), s("n", "INTEGER"), s("first_seen", "TIMESTAMP"),
            s("last_seen", "TIMESTAMP"), s("max_severity", "INTEGER"), s("variants", "INTEGER"),
            {"name": "early", "type": "RECORD", "mode": "REPEATED", "fields": exemplar_fields},
            {"name": "top_messages", "type": "RECORD", "mode": "REPEATED", "fields": [s("message", "STRING"), s("n", "INTEGER")]}
        ]},
        "rows": [{"f": [
            {"v": "rule:grpc-unavailable"}, {"v": "2"}, {"v": "1762164000000000"}, {"v": "1762164060000000"},
            {"v": "500"}, {"v": "1"},
            {"v": [ex("e1", "1762164000000000"), ex("e2", "1762164060000000")]},
            {"v": [{"v": {"f": [{"v": "rpc error: code = Unavailable desc = connection refused"}, {"v": "2"}]}}]}
        ]}]
    });
    if let Some(t) = page_token {
        body["pageToken"] = json!(t);
    }
    body
}

#[test]
fn print_sql_needs_no_credentials_and_quotes_the_scope() {
    let out = bin()
        .args([
            "analyze",
            "--bigquery-table",
            TABLE,
            "--service",
            "ledger",
            "--from",
            "2025-11-03T10:00:00Z",
            "--until",
            "2025-11-03T11:00:00Z",
            "--where",
            "JSON_VALUE(labels.team) = 'pay'",
            "--print-sql",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sql = String::from_utf8(out.stdout).unwrap();
    assert!(sql.contains("FROM `logs-proj.logs_link._AllLogs`"), "{sql}");
    assert!(sql.contains("timestamp >= TIMESTAMP('2025-11-03T10:00:00.000000Z')"));
    assert!(sql.contains("JSON_VALUE(resource.labels.service_name) IN ('ledger')"));
    assert!(
        sql.contains("(\n    JSON_VALUE(labels.team) = 'pay'\n  )"),
        "{sql}"
    );
    assert!(sql.contains("REGEXP_CONTAINS(message,"), "rules run in SQL");
}

#[test]
fn a_logging_filter_a_bad_table_and_files_are_refused_with_one_line() {
    for (args, needle) in [
        (vec!["--filter", "severity>=ERROR"], "with --where"),
        (vec!["--limit", "10"], "--maximum-bytes-billed"),
    ] {
        let out = bin()
            .args(["analyze", "--bigquery-table", TABLE, "--print-sql"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(err.contains(needle), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let out = bin()
        .args(["analyze", "--bigquery-table", "my_proj.logs", "--print-sql"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("PROJECT.DATASET.VIEW"));
    let out = bin()
        .arg("analyze")
        .arg(sample("sink-export.ndjson"))
        .args(["--bigquery-table", TABLE])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn estimate_is_a_dry_run_with_the_cap_the_location_and_legacy_sql_off() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(QUERIES))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_partial_json(json!({
            "dryRun": true, "useLegacySql": false, "maximumBytesBilled": "5000000000",
            "location": "EU", "formatOptions": {"useInt64Timestamp": true}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "kind": "bigquery#queryResponse", "jobComplete": true,
            "totalBytesProcessed": "123456789", "jobReference": {"projectId": "job-proj", "location": "EU"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let out = run(engine(
        &server.uri(),
        &[
            "--estimate",
            "--bigquery-location",
            "EU",
            "--maximum-bytes-billed",
            "5000000000",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("123456789 bytes would be processed"),
        "{text}"
    );
}

#[tokio::test]
async fn a_running_job_is_polled_and_every_page_is_read() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(QUERIES))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "kind": "bigquery#queryResponse", "jobComplete": false,
            "jobReference": {"projectId": "job-proj", "jobId": "job_7", "location": "EU"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    // getQueryResults: the job is done, page 1 (with a token), then page 2.
    Mock::given(method("GET"))
        .and(path(format!("{QUERIES}/job_7")))
        .and(wiremock::matchers::query_param("pageToken", "p2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer_with_one_group(None)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{QUERIES}/job_7")))
        .and(wiremock::matchers::query_param("location", "EU"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer_with_one_group(Some("p2"))))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let out = run(engine(&server.uri(), &["--format", "json"])).await;
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &report["clusters"][0];
    // Both pages' groups sign alike and land in one cluster.
    assert_eq!(c["count"], 4, "{c:#}");
    assert_eq!(c["rule"], "grpc-unavailable");
    assert_eq!(report["query"]["engine"], "bigquery");
    assert_eq!(report["query"]["bigquery"]["job_id"], "job_7");
    assert_eq!(report["query"]["bigquery"]["bytes_billed"], 10_485_760);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(TOKEN));
}

#[tokio::test]
async fn backend_errors_are_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(QUERIES))
        .respond_with(bq_error(503, "backendError", "Backend error. Job aborted."))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(QUERIES))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer_with_one_group(None)))
        .mount(&server)
        .await;
    let out = run(engine(&server.uri(), &["--format", "json"])).await;
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["query"]["retries"], 1);
    assert_eq!(report["clusters"][0]["count"], 2);
}

#[tokio::test]
async fn refusals_name_what_to_do_and_never_the_token() {
    let cases = [
        (
            bq_error(
                403,
                "accessDenied",
                "Access Denied: Project job-proj: User does not have bigquery.jobs.create permission in project job-proj.",
            ),
            vec![],
            3,
            "roles/bigquery.jobUser",
        ),
        (
            bq_error(
                404,
                "notFound",
                "Not found: Table logs-proj:logs_link._AllLogs was not found in location US",
            ),
            vec![],
            3,
            "gcloud logging links create",
        ),
        (
            bq_error(
                400,
                "bytesBilledLimitExceeded",
                "Query exceeded limit for bytes billed: 1000000. 10485760 or higher required.",
            ),
            vec![],
            3,
            "10485760 or higher required",
        ),
    ];
    for (answer, extra, code, needle) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(QUERIES))
            .respond_with(answer)
            .mount(&server)
            .await;
        let out = run(engine(&server.uri(), &extra)).await;
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(needle), "{err}");
        assert!(!err.contains(TOKEN));
        assert!(
            out.stdout.is_empty(),
            "no report for a run that read nothing"
        );
    }
}

#[tokio::test]
async fn a_sql_error_in_the_users_where_is_a_usage_error() {
    let server = MockServer::start().await;
    // The error points at the line of the --where clause: find it in the printed SQL.
    let sql = bin()
        .args([
            "analyze",
            "--bigquery-table",
            TABLE,
            "--from",
            "2025-11-03T10:00:00Z",
            "--until",
            "2025-11-03T11:00:00Z",
            "--where",
            "severity = = 'ERROR'",
            "--print-sql",
        ])
        .output()
        .unwrap();
    let sql = String::from_utf8(sql.stdout).unwrap();
    let line = sql.lines().position(|l| l.contains("= = 'ERROR'")).unwrap() + 1;
    Mock::given(method("POST"))
        .and(path_regex("/queries$"))
        .respond_with(bq_error(
            400,
            "invalidQuery",
            &format!("Syntax error: Unexpected \"=\" at [{line}:14]"),
        ))
        .mount(&server)
        .await;
    let out = run(engine(&server.uri(), &["--where", "severity = = 'ERROR'"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("invalidQuery: Syntax error"));
}

// ---- Against the emulator ------------------------------------------------------

/// The emulator's address, or `None` (outside CI) when it is not running.
fn emulator() -> Option<String> {
    match std::env::var("GCP_TRIAGE_TEST_BIGQUERY") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "GCP_TRIAGE_TEST_BIGQUERY is not set: .ci/run starts the BigQuery emulator and sets it"
            );
            eprintln!(
                "skipped: no BigQuery emulator (GCP_TRIAGE_TEST_BIGQUERY); .ci/run starts one"
            );
            None
        }
    }
}

/// The entries of an export: a JSON array, a `{"entries": [...]}` wrapper or NDJSON,
/// in UTF-8 or UTF-16 with a BOM.
fn entries_of(path: &std::path::Path) -> Vec<Value> {
    let raw = std::fs::read(path).unwrap();
    let text = if raw.starts_with(&[0xFF, 0xFE]) || raw.starts_with(&[0xFE, 0xFF]) {
        let le = raw[0] == 0xFF;
        let units: Vec<u16> = raw[2..]
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&raw)).into_owned()
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(a)) => a,
        Ok(Value::Object(o)) => o
            .get("entries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    }
}

/// A `LogEntry` as a row of the log view's schema (`snake_case`, JSON columns as text).
fn row_of(e: &Value) -> Value {
    let text = |v: &Value| (!v.is_null()).then(|| v.to_string());
    let mut r = json!({
        "timestamp": e["timestamp"], "receive_timestamp": e["receiveTimestamp"],
        "log_name": e["logName"], "insert_id": e["insertId"], "severity": e["severity"],
        "trace": e["trace"], "span_id": e["spanId"], "text_payload": e["textPayload"],
        "resource": {"type": e["resource"]["type"], "labels": text(&e["resource"]["labels"])},
        "labels": text(&e["labels"]), "json_payload": text(&e["jsonPayload"]),
    });
    if let Some(h) = e["httpRequest"].as_object() {
        let latency = h
            .get("latency")
            .and_then(Value::as_str)
            .and_then(|l| l.trim_end_matches('s').parse::<f64>().ok());
        #[allow(clippy::cast_possible_truncation)]
        let (secs, nanos) = latency.map_or((Value::Null, Value::Null), |l| {
            (
                json!(l.trunc() as i64),
                json!(((l - l.trunc()) * 1e9).round() as i64),
            )
        });
        r["http_request"] = json!({
            "request_method": h.get("requestMethod"), "request_url": h.get("requestUrl"),
            "user_agent": h.get("userAgent"), "status": h.get("status"),
            "latency": {"seconds": secs, "nanos": nanos},
        });
    }
    if let Some(st) = e["protoPayload"]["status"].as_object() {
        r["proto_payload"] = json!({"audit_log": {"status": {"code": st.get("code"), "message": st.get("message")}}});
    }
    if let Some(sl) = e["sourceLocation"].as_object() {
        let line = sl.get("line").and_then(|l| {
            l.as_str()
                .map(str::to_string)
                .or_else(|| l.as_i64().map(|n| n.to_string()))
        });
        r["source_location"] =
            json!({"file": sl.get("file"), "line": line, "function": sl.get("function")});
    }
    r
}

/// The log view's schema (the columns the engine reads).
fn schema() -> Value {
    let s = |n: &str, t: &str| json!({"name": n, "type": t, "mode": "NULLABLE"});
    let rec =
        |n: &str, f: Value| json!({"name": n, "type": "RECORD", "mode": "NULLABLE", "fields": f});
    json!([
        s("timestamp", "TIMESTAMP"),
        s("receive_timestamp", "TIMESTAMP"),
        s("log_name", "STRING"),
        s("insert_id", "STRING"),
        s("severity", "STRING"),
        rec(
            "resource",
            json!([s("type", "STRING"), s("labels", "JSON")])
        ),
        s("labels", "JSON"),
        s("json_payload", "JSON"),
        s("text_payload", "STRING"),
        rec(
            "proto_payload",
            json!([rec(
                "audit_log",
                json!([rec(
                    "status",
                    json!([s("code", "INTEGER"), s("message", "STRING")])
                )])
            )])
        ),
        rec(
            "http_request",
            json!([
                s("request_method", "STRING"),
                s("request_url", "STRING"),
                s("user_agent", "STRING"),
                s("status", "INTEGER"),
                rec(
                    "latency",
                    json!([s("seconds", "INTEGER"), s("nanos", "INTEGER")])
                )
            ])
        ),
        s("trace", "STRING"),
        s("span_id", "STRING"),
        rec(
            "source_location",
            json!([
                s("file", "STRING"),
                s("line", "INTEGER"),
                s("function", "STRING")
            ])
        ),
    ])
}

/// Loads `entries` into `PROJECT.DATASET._AllLogs` of the emulator (a fresh table).
async fn load(url: &str, dataset: &str, entries: &[Value]) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let base = format!("{url}/bigquery/v2/projects/logs-proj/datasets");
    let send = |m: reqwest::Method, u: String, body: Value| {
        let c = client.clone();
        async move {
            c.request(m, u)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap()
        }
    };
    send(
        reqwest::Method::POST,
        base.clone(),
        json!({"datasetReference": {"projectId": "logs-proj", "datasetId": dataset}}),
    )
    .await;
    // A fresh table, also when the emulator outlived an earlier run.
    send(
        reqwest::Method::DELETE,
        format!("{base}/{dataset}/tables/_AllLogs"),
        json!({}),
    )
    .await;
    let resp = send(
        reqwest::Method::POST,
        format!("{base}/{dataset}/tables"),
        json!({"tableReference": {"projectId": "logs-proj", "datasetId": dataset, "tableId": "_AllLogs"}, "schema": {"fields": schema()}}),
    )
    .await;
    assert!(
        resp.status().is_success(),
        "create table: {}",
        resp.text().await.unwrap()
    );
    for chunk in entries.chunks(500) {
        let rows: Vec<Value> = chunk.iter().map(|e| json!({"json": row_of(e)})).collect();
        let resp = send(
            reqwest::Method::POST,
            format!("{base}/{dataset}/tables/_AllLogs/insertAll"),
            json!({"rows": rows}),
        )
        .await;
        let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert_eq!(
            body["insertErrors"].as_array().map_or(0, Vec::len),
            0,
            "{body}"
        );
    }
}

/// What must agree per cluster: count, severity, first and last seen (to the
/// microsecond, BigQuery's precision), linked 5xx, the observed precursors and the
/// change across the deploy.
type Compared = (u64, String, String, String, u64, String, String);

fn clusters(report: &Value) -> BTreeMap<String, Compared> {
    let us = |v: &Value| {
        v.as_str()
            .unwrap_or("")
            .chars()
            .take(26)
            .collect::<String>()
    };
    report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["fingerprint"].as_str().unwrap().to_string(),
                (
                    c["count"].as_u64().unwrap(),
                    c["severity"].as_str().unwrap().to_string(),
                    us(&c["first_seen"]),
                    us(&c["last_seen"]),
                    c["http_failures"]["count"].as_u64().unwrap(),
                    c["precursors"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p["fingerprint"].as_str().unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join(","),
                    c["change"]["status"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

/// `analyze FILE` and the engine on the same entries, each cluster compared.
async fn compare(url: &str, dataset: &str, path: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let entries = entries_of(path);
    load(url, dataset, &entries).await;
    let mut args = vec!["--top", "100", "--no-code"];
    args.extend(extra);
    let file = analyze_json(&args, path);
    let w = &file["summary"]["window"];
    let end = chrono::DateTime::parse_from_rfc3339(w["end"].as_str().unwrap()).unwrap()
        + chrono::TimeDelta::seconds(1);
    let rt = entries[0]["resource"]["type"].as_str().unwrap().to_string();
    let mut cmd = bin();
    cmd.env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        .env("GCP_TRIAGE_BIGQUERY_ENDPOINT", url)
        .args([
            "analyze",
            "--bigquery-table",
            &format!("logs-proj.{dataset}._AllLogs"),
            "--project",
            "logs-proj",
        ])
        .args([
            "--from",
            w["start"].as_str().unwrap(),
            "--until",
            &end.to_rfc3339(),
            "--resource-type",
            &rt,
        ])
        .args(["--top", "100", "--no-code", "--format", "json"])
        .args(extra);
    let out = run(cmd).await;
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}: {}",
        path.display(),
        stderr(&out)
    );
    let engine: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (a, b) = (clusters(&file), clusters(&engine));
    let mut diffs = Vec::new();
    for k in a
        .keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if a.get(k) != b.get(k) {
            diffs.push(format!("{k}: file {:?} engine {:?}", a.get(k), b.get(k)));
        }
    }
    diffs
}

#[tokio::test]
async fn the_engine_gives_the_clusters_of_analyze_file_on_the_same_entries() {
    let Some(url) = emulator() else { return };
    let real = |n: &str| shared(&format!("gcp-real-samples/{n}"));
    let same = [
        sample("sink-export.ndjson"),
        sample("deploy-new-errors.ndjson"),
        sample("deploy-fixes-old-error.ndjson"),
        sample("staging-incident.json"),
        real(
            "cloudrun-job__lfsd__gcloud-json-utf16le-bom__alembic-migration-fail-secret-denied.json",
        ),
        real("cloudrun__adeptify__gcloud-json__5xx-slow-requests-bodyparser-syntaxerror.json"),
        real("cloudrun__donecast__gcloud-json-utf16__py-tracebacks-4xx-5xx.json"),
        real("cloudrun__nomad__gcloud-json-utf16le-bom__fastapi-traceback-5xx-db-env-missing.json"),
        real("cloudrun__pex-bc__gcloud-json__errors-logged-as-info-secret-403-model-404.json"),
        real("cloudrun__synapseai__gcloud-json__startup-crash-traceback.json"),
        real("cloudrun__verityngn__gcloud-json__jsonpayload-level-tracebacks.json"),
        real("functions__gcpdiag-gcf2__entries-list-wrapper__memory-limit-exceeded-orgpolicy.json"),
        // Traces logged line by line: the heads' lines are fetched and stitched.
        real("cloudrun__pmomax__gcloud-json__node-stack-split-per-line.json"),
        real(
            "cloudrun__orchestra-ci__gcloud-json-utf16le-bom__sqlite-malformed-crashloop-image-missing.json",
        ),
    ];
    for (i, path) in same.iter().enumerate() {
        let diffs = compare(&url, &format!("same_{i}"), path, &[]).await;
        assert!(
            diffs.is_empty(),
            "{}:\n{}",
            path.display(),
            diffs.join("\n")
        );
    }
    // Around a deploy found by its revision's first entry (one lookup query), the
    // clusters' changes agree too.
    let deploy = compare(
        &url,
        "deploy",
        &sample("deploy-new-errors.ndjson"),
        &["--deployed-revision", "orders-api-00042-vex"],
    )
    .await;
    assert!(deploy.is_empty(), "{}", deploy.join("\n"));
    // Frames logged as entries of their own never form groups.
    let split: Vec<Value> = ["TypeError: handler is not a function", "    at route (/srv/api/routes/orders.js:41:17)", "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)"]
        .iter()
        .enumerate()
        .map(|(i, m)| json!({
            "insertId": format!("sp{i}"), "timestamp": format!("2025-11-03T10:00:0{i}.000{i}00Z"),
            "severity": "ERROR", "textPayload": m, "logName": "projects/p/logs/run.googleapis.com%2Fstderr",
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "orders"}},
        }))
        .collect();
    load(&url, "frames", &split).await;
    let mut cmd = bin();
    cmd.env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        .env("GCP_TRIAGE_BIGQUERY_ENDPOINT", &url)
        .args([
            "analyze",
            "--bigquery-table",
            "logs-proj.frames._AllLogs",
            "--project",
            "logs-proj",
        ])
        .args([
            "--from",
            "2025-11-03T10:00:00Z",
            "--until",
            "2025-11-03T10:01:00Z",
            "--no-code",
            "--format",
            "json",
        ]);
    let out = run(cmd).await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let titles = crate::titles(&report);
    assert_eq!(titles.len(), 1, "{titles:?}");
    assert!(titles[0].contains("TypeError"), "{titles:?}");
    // Lines the stitcher joins by time alone (not by their shape) stay groups of their
    // own (README: differences): two on this export, nothing else differs.
    let timed = compare(
        &url,
        "timed",
        &real("cloudrun__stadium__gcloud-json-utf16__go-crashloop.json"),
        &[],
    )
    .await;
    assert_eq!(timed.len(), 2, "{timed:#?}");
    assert!(timed.iter().all(|d| d.contains("file None")), "{timed:#?}");
}

#[test]
fn rules_check_names_a_rule_that_cannot_run_as_re2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x.toml"),
        r#"
[[rule]]
id = "verbose-pattern"
title = "Verbose"
pattern = '''(?x) queue \s full'''
examples = ["queue full", "the queue full again"]
counter_examples = ["queue drained"]
"#,
    )
    .unwrap();
    let out = bin()
        .args(["rules", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("rule verbose-pattern")
            && text.contains("cannot run as RE2")
            && text.contains("flag x"),
        "{text}"
    );
}

#[test]
fn the_config_file_names_the_table_and_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gcp-triage.toml");
    std::fs::write(
        &cfg,
        "[bigquery]\ntable = \"logs-proj.logs_link._AllLogs\"\nmaximum_bytes_billed = 2000000000\nlocation = \"EU\"\n",
    )
    .unwrap();
    let out = bin()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "analyze",
            "--since",
            "1h",
            "--print-sql",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FROM `logs-proj.logs_link._AllLogs`"));
    let show = bin()
        .args(["--config", cfg.to_str().unwrap(), "config", "show"])
        .output()
        .unwrap();
    let text = String::from_utf8(show.stdout).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with("bigquery.maximum_bytes_billed"))
        .unwrap();
    assert!(
        row.contains("2000000000") && row.contains("gcp-triage.toml:3"),
        "{row}"
    );
}
