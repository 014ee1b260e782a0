//! The Cloud Logging source against a fake `entries.list` on 127.0.0.1 that checks the
//! request shape (body fields, bearer token) and answers like the real API: pages with
//! `nextPageToken`, empty pages, and the standard Google error bodies. The binary runs
//! in a blocking task while the fake serves from the test's runtime.

use std::process::Output;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, header_regex, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::{analyze_json, bin, run, sample, stderr};

const TOKEN: &str = "ya29.test-token-7f3a";
const FROM: &str = "2025-09-07T15:00:00Z";
const UNTIL: &str = "2025-09-07T16:00:00Z";
const LIST: &str = "/v2/entries:list";

/// The staging sample's entries (newest first, as the API returns them with
/// `orderBy: "timestamp desc"`).
fn staging_entries() -> Vec<Value> {
    let text = std::fs::read_to_string(sample("staging-incident.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Page bodies: the entries in chunks of `size`, with an empty page (token only) after
/// every chunk, as the API sends when a backend runs out of time.
fn pages(entries: &[Value], size: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for chunk in entries.chunks(size) {
        out.push(json!({ "entries": chunk }));
        out.push(json!({}));
    }
    out.pop();
    let n = out.len();
    for (i, page) in out.iter_mut().enumerate() {
        if i + 1 < n {
            page["nextPageToken"] = json!(format!("tok-{}", i + 1));
        }
    }
    out
}

fn google_error(code: u16, status: &str, message: &str, details: &Value) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({
        "error": { "code": code, "message": message, "status": status, "details": details }
    }))
}

/// The fake `entries.list`: validates every request like the API would, and serves
/// `pages` by page token. `fail_at` replaces the answer for one page.
struct PagedLogging {
    project: String,
    pages: Vec<Value>,
    fail_at: Option<(usize, ResponseTemplate)>,
}

impl PagedLogging {
    fn new(project: &str, pages: Vec<Value>) -> PagedLogging {
        PagedLogging {
            project: project.to_string(),
            pages,
            fail_at: None,
        }
    }

    fn check(&self, body: &Value) -> Result<usize, String> {
        let want = json!([format!("projects/{}", self.project)]);
        if body["resourceNames"] != want {
            return Err(format!(
                "resourceNames {} (want {want})",
                body["resourceNames"]
            ));
        }
        if body["orderBy"] != "timestamp desc" {
            return Err(format!("orderBy {}", body["orderBy"]));
        }
        let size = body["pageSize"].as_u64().unwrap_or(0);
        if !(1..=1000).contains(&size) {
            return Err(format!("pageSize {size}"));
        }
        let filter = body["filter"].as_str().unwrap_or_default();
        if !filter.contains("timestamp >= ") || !filter.contains("timestamp < ") {
            return Err(format!("filter without a timestamp range: {filter}"));
        }
        if body.get("projectIds").is_some() {
            return Err("projectIds is deprecated".into());
        }
        match body.get("pageToken").and_then(Value::as_str) {
            None => Ok(0),
            Some(t) => t
                .strip_prefix("tok-")
                .and_then(|n| n.parse().ok())
                .filter(|n| *n < self.pages.len())
                .ok_or_else(|| format!("unknown pageToken {t}")),
        }
    }
}

impl Respond for PagedLogging {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "fake: body is not JSON",
                &json!([]),
            );
        };
        match self.check(&body) {
            Err(why) => google_error(400, "INVALID_ARGUMENT", &format!("fake: {why}"), &json!([])),
            Ok(i) => {
                if let Some((at, resp)) = &self.fail_at
                    && *at == i
                {
                    return resp.clone();
                }
                let mut page = self.pages[i].clone();
                let size = usize::try_from(body["pageSize"].as_u64().unwrap_or(1000)).unwrap();
                if let Some(list) = page.get_mut("entries").and_then(Value::as_array_mut) {
                    list.truncate(size);
                }
                ResponseTemplate::new(200).set_body_json(page)
            }
        }
    }
}

/// A fake with the staging pages behind the static test token; any other bearer gets
/// the API's 401.
async fn fake(responder: PagedLogging) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(LIST))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(responder)
        .with_priority(5)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(LIST))
        .respond_with(google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            &json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED"}]),
        ))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

/// Answers `entries.list` with `response` before the paged fake: `times` times, or
/// always.
async fn answer_first(server: &MockServer, response: ResponseTemplate, times: Option<u64>) {
    let mock = Mock::given(method("POST"))
        .and(path(LIST))
        .respond_with(response)
        .with_priority(1);
    match times {
        Some(n) => mock.up_to_n_times(n).mount(server).await,
        None => mock.mount(server).await,
    }
}

fn cloud(server: &MockServer, args: &[&str]) -> assert_cmd::Command {
    let mut c = bin();
    c.env("GCP_TRIAGE_LOGGING_ENDPOINT", server.uri())
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        .args(args)
        .args(["--from", FROM, "--until", UNTIL]);
    c
}

fn json_report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not the JSON report ({e}); stderr: {}",
            stderr(out)
        )
    })
}

async fn list_bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == LIST)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// Clusters without their Logs Explorer links (files have none).
fn clusters_without_links(report: &Value) -> Vec<Value> {
    report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.as_object_mut().unwrap().remove("logs_explorer_url");
            c
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn paged_fetch_gives_the_same_report_as_the_export_file() {
    let entries = staging_entries();
    let server = fake(PagedLogging::new("demo", pages(&entries, 100))).await;
    let out = run(cloud(
        &server,
        &[
            "analyze",
            "--project",
            "demo",
            "--service",
            "api",
            "--format",
            "json",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json_report(&out);

    // 3 pages of entries and 2 empty pages between them: 5 calls, tokens chained.
    let bodies = list_bodies(&server).await;
    assert_eq!(bodies.len(), 5);
    let tokens: Vec<Option<&str>> = bodies.iter().map(|b| b["pageToken"].as_str()).collect();
    assert_eq!(
        tokens,
        [
            None,
            Some("tok-1"),
            Some("tok-2"),
            Some("tok-3"),
            Some("tok-4")
        ]
    );
    for b in &bodies {
        assert_eq!(b["pageSize"], 1000);
        assert_eq!(
            b["filter"], bodies[0]["filter"],
            "the filter is identical on every page"
        );
    }
    let filter = bodies[0]["filter"].as_str().unwrap();
    assert!(
        filter.contains("resource.labels.service_name = \"api\""),
        "{filter}"
    );
    assert!(
        filter.contains(&format!("timestamp >= \"{FROM}\"")),
        "{filter}"
    );
    assert!(filter.contains("(severity >= WARNING OR httpRequest.status >= 500)"));

    // The same clusters, counts, exemplars and whys as the export of the same entries.
    let from_file = analyze_json(&[], &sample("staging-incident.json"));
    assert_eq!(
        clusters_without_links(&report),
        clusters_without_links(&from_file)
    );
    assert_eq!(report["summary"], from_file["summary"]);

    // The report says how to reproduce it.
    let q = &report["query"];
    assert_eq!(q["project"], "demo");
    assert_eq!(q["filter"], filter);
    assert_eq!(q["from"], FROM);
    assert_eq!(q["until"], UNTIL);
    assert_eq!(q["pages"], 5);
    assert_eq!(q["requests"], 5);
    assert_eq!(q["retries"], 0);
    assert!(
        q["logs_explorer_url"]
            .as_str()
            .unwrap()
            .contains("project=demo")
    );
    let link = report["clusters"][0]["logs_explorer_url"].as_str().unwrap();
    assert!(
        link.starts_with("https://console.cloud.google.com/logs/query;query=")
            && link.contains("insertId")
            && link.ends_with("?project=demo"),
        "{link}"
    );
    assert_eq!(report["partial"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn markdown_report_echoes_project_filter_window_and_links() {
    let server = fake(PagedLogging::new("demo", pages(&staging_entries(), 100))).await;
    let out = run(cloud(
        &server,
        &["analyze", "--project", "demo", "--format", "markdown"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(
        md.contains(
            "**Source:** Cloud Logging, project `demo`, 2025-09-07T15:00:00Z → 2025-09-07T16:00:00Z"
        ),
        "{md}"
    );
    assert!(
        md.contains("[open in Logs Explorer](https://console.cloud.google.com/logs/query;query=")
    );
    assert!(md.contains("timestamp >= \"2025-09-07T15:00:00Z\""));
    assert!(
        md.contains("- **Logs Explorer:** [example entries](https://console.cloud.google.com/")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_to_ndjson_then_analyze_gives_the_direct_report() {
    let server = fake(PagedLogging::new("demo", pages(&staging_entries(), 100))).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("entries.ndjson");
    let out = run(cloud(
        &server,
        &["fetch", "--project", "demo", "-o", file.to_str().unwrap()],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("227 entries from projects/demo written"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 227, "one entry per line");
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
    );

    let direct = run(cloud(
        &server,
        &["analyze", "--project", "demo", "--format", "json"],
    ))
    .await;
    let direct = json_report(&direct);
    let saved = analyze_json(&[], &file);
    assert_eq!(
        clusters_without_links(&saved),
        clusters_without_links(&direct)
    );
    assert_eq!(saved["summary"], direct["summary"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn quota_429_waits_and_retries() {
    let server = fake(PagedLogging::new("demo", pages(&staging_entries(), 300))).await;
    answer_first(&server, google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service 'logging.googleapis.com' for consumer 'project_number:123456789'.",
            &json!([
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
                 "domain": "googleapis.com", "metadata": {"quota_limit": "ReadRequestsPerMinutePerProject"}},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.2s"}
            ]),
        ), Some(2)).await;
    let out = run(cloud(
        &server,
        &["analyze", "--project", "demo", "--format", "json", "-v"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json_report(&out);
    assert_eq!(
        list_bodies(&server).await.len(),
        3,
        "two 429s, then the page"
    );
    assert_eq!(report["query"]["retries"], 2);
    assert_eq!(report["summary"]["entries_read"], 227);
    assert!(stderr(&out).contains("retrying in 0.2 s: 429 RESOURCE_EXHAUSTED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn quota_429_without_a_delay_is_bounded_by_the_retry_deadline() {
    let server = fake(PagedLogging::new("demo", pages(&staging_entries(), 300))).await;
    answer_first(
        &server,
        google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", &json!([])),
        None,
    )
    .await;
    let out = run(cloud(
        &server,
        &["analyze", "--project", "demo", "--retry-deadline", "1s"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("gave up after retrying"), "{err}");
    assert!(err.contains("RESOURCE_EXHAUSTED"), "{err}");
    assert_eq!(
        list_bodies(&server).await.len(),
        2,
        "one wait of the whole deadline, one retry"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unavailable_503_backs_off_and_recovers() {
    let server = fake(PagedLogging::new("demo", pages(&staging_entries(), 300))).await;
    answer_first(
        &server,
        google_error(
            503,
            "UNAVAILABLE",
            "The service is currently unavailable.",
            &json!([]),
        ),
        Some(2),
    )
    .await;
    let out = run(cloud(
        &server,
        &["analyze", "--project", "demo", "--format", "json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(list_bodies(&server).await.len(), 3);
    assert_eq!(json_report(&out)["query"]["retries"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_filter_400_exits_2_with_the_api_message() {
    let server = fake(PagedLogging::new("demo", pages(&staging_entries(), 300))).await;
    answer_first(
        &server,
        google_error(
            400,
            "INVALID_ARGUMENT",
            "Unparseable filter: syntax error at line 7, column 11, token ')'",
            &json!([]),
        ),
        None,
    )
    .await;
    let out = run(cloud(
        &server,
        &[
            "analyze",
            "--project",
            "demo",
            "--filter",
            "jsonPayload.x = )",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(
        "Cloud Logging rejected the filter: Unparseable filter: syntax error at line 7, column 11"
    ));
    assert_eq!(list_bodies(&server).await.len(), 1, "a 400 is not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_token_401_exits_3_with_what_to_run_and_no_token() {
    let server = fake(PagedLogging::new("demo", pages(&staging_entries(), 300))).await;
    let mut cmd = cloud(&server, &["analyze", "--project", "demo", "-v"]);
    cmd.env("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.expired-token");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("HTTP 401 UNAUTHENTICATED"), "{err}");
    assert!(
        err.contains("gcloud auth application-default login"),
        "{err}"
    );
    assert!(
        !err.contains("expired-token")
            && !String::from_utf8_lossy(&out.stdout).contains("expired-token")
    );
    assert_eq!(
        list_bodies(&server).await.len(),
        1,
        "a static token cannot be refreshed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn permission_denied_403_names_the_missing_permission() {
    let server = fake(PagedLogging::new("demo", pages(&staging_entries(), 300))).await;
    answer_first(&server, google_error(
            403,
            "PERMISSION_DENIED",
            "Permission 'logging.logEntries.list' denied on resource (or it may not exist).",
            &json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED"}]),
        ), None).await;
    let out = run(cloud(&server, &["analyze", "--project", "demo"])).await;
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("HTTP 403 PERMISSION_DENIED"), "{err}");
    assert!(err.contains("roles/logging.viewer"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failure_part_way_still_renders_a_partial_report() {
    let mut paged = PagedLogging::new("demo", pages(&staging_entries(), 100));
    paged.fail_at = Some((
        2,
        google_error(
            403,
            "PERMISSION_DENIED",
            "The caller does not have permission",
            &json!([]),
        ),
    ));
    let server = fake(paged).await;
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("report.md");
    let out = run(cloud(
        &server,
        &[
            "analyze",
            "--project",
            "demo",
            "--format",
            "json",
            "-o",
            md.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "the exit code says the source failed"
    );
    let report = json_report(&out);
    assert_eq!(report["partial"], true);
    assert!(
        report["partial_reason"]
            .as_str()
            .unwrap()
            .contains("HTTP 403")
    );
    assert_eq!(
        report["summary"]["entries_read"], 100,
        "the first page is in the report"
    );
    assert_eq!(report["query"]["pages"], 2);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("**PARTIAL REPORT:**"), "{text}");
    assert!(stderr(&out).contains("HTTP 403"));
}

#[tokio::test(flavor = "multi_thread")]
async fn limit_stops_paging_and_sets_the_page_size() {
    let server = fake(PagedLogging::new("demo", pages(&staging_entries(), 100))).await;
    let out = run(cloud(
        &server,
        &[
            "analyze",
            "--project",
            "demo",
            "--limit",
            "30",
            "--format",
            "json",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bodies = list_bodies(&server).await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["pageSize"], 30);
    let report = json_report(&out);
    assert_eq!(report["summary"]["entries_read"], 30);
    assert_eq!(report["query"]["limit"], 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_200_body_fails_with_exit_3() {
    let server = fake(PagedLogging::new("demo", pages(&staging_entries(), 100))).await;
    answer_first(
        &server,
        ResponseTemplate::new(200).set_body_string("<html>proxy error</html>"),
        None,
    )
    .await;
    let out = run(cloud(&server, &["analyze", "--project", "demo"])).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("page 1: invalid response"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_lines_only_with_verbose_off_a_terminal() {
    let server = fake(PagedLogging::new("demo", pages(&staging_entries(), 100))).await;
    let quiet = run(cloud(&server, &["analyze", "--project", "demo"])).await;
    assert_eq!(quiet.status.code(), Some(0));
    assert!(
        !stderr(&quiet).contains("Cloud Logging projects/"),
        "{}",
        stderr(&quiet)
    );
    let verbose = run(cloud(&server, &["analyze", "--project", "demo", "-v"])).await;
    let err = stderr(&verbose);
    assert!(
        err.contains("reading projects/demo (credentials: GOOGLE_OAUTH_ACCESS_TOKEN)"),
        "{err}"
    );
    assert!(
        err.contains("Cloud Logging projects/demo: 5 pages, 227 entries"),
        "{err}"
    );
    assert!(!err.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_credentials_says_what_to_run_and_exits_3() {
    let out = run({
        let mut c = bin();
        c.args([
            "analyze",
            "--project",
            "demo",
            "--logging-endpoint",
            "http://127.0.0.1:9",
        ]);
        c
    })
    .await;
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("gcloud auth application-default login")
            && err.contains("GOOGLE_APPLICATION_CREDENTIALS")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn print_filter_needs_no_credentials() {
    let out = run({
        let mut c = bin();
        c.args([
            "fetch",
            "--service",
            "api",
            "--revision",
            "api-00042-xyz",
            "--filter",
            "textPayload:\"boom\"",
            "--from",
            FROM,
            "--until",
            UNTIL,
            "--print-filter",
        ]);
        c
    })
    .await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "resource.type = \"cloud_run_revision\"\n\
         AND resource.labels.service_name = \"api\"\n\
         AND resource.labels.revision_name = \"api-00042-xyz\"\n\
         AND timestamp >= \"2025-09-07T15:00:00Z\"\n\
         AND timestamp < \"2025-09-07T16:00:00Z\"\n\
         AND (severity >= WARNING OR httpRequest.status >= 500)\n\
         AND (\ntextPayload:\"boom\"\n)\n"
    );
}

/// A token endpoint that checks the service-account JWT (signature by the generated
/// key, issuer, audience, scope) and issues `sa-token-1`, `sa-token-2`, ...
struct TokenEndpoint {
    public: rsa::RsaPublicKey,
    email: String,
    token_uri: String,
    expires_in: u64,
    issued: AtomicUsize,
    problems: Mutex<Vec<String>>,
}

impl TokenEndpoint {
    fn verify(&self, form: &str) -> Result<(), String> {
        use rsa::signature::Verifier as _;
        let field = |name: &str| {
            form.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == name).then(|| {
                    percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .into_owned()
                })
            })
        };
        if field("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
            return Err(format!("grant_type in {form}"));
        }
        let jwt = field("assertion").ok_or("no assertion")?;
        let parts: Vec<&str> = jwt.split('.').collect();
        let [head, claims, sig] = parts[..] else {
            return Err("assertion is not a JWT".into());
        };
        let b64 = base64::engine::GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let sig = b64.decode(sig).map_err(|e| e.to_string())?;
        let key = rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(self.public.clone());
        let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).map_err(|e| e.to_string())?;
        key.verify(format!("{head}.{claims}").as_bytes(), &sig)
            .map_err(|_| "bad JWT signature".to_string())?;
        let claims: Value = serde_json::from_slice(&b64.decode(claims).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        if claims["iss"] != self.email.as_str() || claims["aud"] != self.token_uri.as_str() {
            return Err(format!("claims {claims}"));
        }
        if claims["scope"] != "https://www.googleapis.com/auth/logging.read" {
            return Err(format!("scope {}", claims["scope"]));
        }
        Ok(())
    }
}

impl Respond for TokenEndpoint {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        match self.verify(&String::from_utf8_lossy(&req.body)) {
            Ok(()) => {
                let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
                ResponseTemplate::new(200).set_body_json(json!({
                    "access_token": format!("sa-token-{n}"),
                    "expires_in": self.expires_in,
                    "token_type": "Bearer",
                }))
            }
            Err(why) => {
                self.problems.lock().unwrap().push(why);
                ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}))
            }
        }
    }
}

/// Drives `gcp_auth`'s service-account path end to end; returns the bearers the fake
/// Logging server received and how many tokens the token endpoint issued.
async fn service_account_run(expires_in: u64) -> (Vec<String>, usize, Value) {
    use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let server = MockServer::start().await;
    let token_uri = format!("{}/token", server.uri());
    let email = "triage@sa-project.iam.gserviceaccount.com";
    let endpoint = std::sync::Arc::new(TokenEndpoint {
        public: key.to_public_key(),
        email: email.into(),
        token_uri: token_uri.clone(),
        expires_in,
        issued: AtomicUsize::new(0),
        problems: Mutex::new(Vec::new()),
    });
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ArcResponder(endpoint.clone()))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(LIST))
        .and(header_regex("authorization", r"^Bearer sa-token-\d+$"))
        .respond_with(PagedLogging::new(
            "sa-project",
            pages(&staging_entries(), 100),
        ))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("sa.json");
    std::fs::write(
        &creds,
        serde_json::to_string_pretty(&json!({
            "type": "service_account",
            "project_id": "sa-project",
            "private_key_id": "0123456789abcdef",
            "private_key": pem.as_str(),
            "client_email": email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        }))
        .unwrap(),
    )
    .unwrap();
    let mut cmd = bin();
    cmd.env("GCP_TRIAGE_LOGGING_ENDPOINT", server.uri())
        .env("GOOGLE_APPLICATION_CREDENTIALS", &creds)
        .args([
            "analyze", "--format", "json", "--from", FROM, "--until", UNTIL,
        ]);
    let out = run(cmd).await;
    assert!(
        endpoint.problems.lock().unwrap().is_empty(),
        "{:?}",
        endpoint.problems.lock().unwrap()
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bearers = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == LIST)
        .map(|r| {
            r.headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    (
        bearers,
        endpoint.issued.load(Ordering::SeqCst),
        json_report(&out),
    )
}

struct ArcResponder(std::sync::Arc<TokenEndpoint>);

impl Respond for ArcResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.0.respond(req)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn service_account_key_token_is_the_bearer_and_names_the_project() {
    let (bearers, issued, report) = service_account_run(3600).await;
    assert_eq!(issued, 1, "a valid token is reused across pages");
    assert_eq!(bearers, vec!["Bearer sa-token-1"; 5]);
    assert_eq!(
        report["query"]["project"], "sa-project",
        "the key's project is used"
    );
    assert_eq!(report["summary"]["entries_read"], 227);
}

#[tokio::test(flavor = "multi_thread")]
async fn service_account_token_is_refreshed_when_it_expires_mid_run() {
    // gcp_auth treats a token as expired 20 s before its end: 10 s tokens are stale
    // at once, so every page needs a new one.
    let (bearers, issued, _) = service_account_run(10).await;
    assert_eq!(issued, 5);
    let want: Vec<String> = (1..=5).map(|n| format!("Bearer sa-token-{n}")).collect();
    assert_eq!(bearers, want);
}

const STAGING_REV: &str = "netra-backend-staging-00121-xyz";

/// The revision lookup: oldest entry of the revision, any severity, one entry.
struct FirstOfRevision(Value);

impl Respond for FirstOfRevision {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let filter = body["filter"].as_str().unwrap_or_default();
        let revision_clause = format!("resource.labels.revision_name = \"{STAGING_REV}\"");
        if body["pageSize"] != 1
            || !filter.contains(&revision_clause)
            || filter.contains("severity")
        {
            return google_error(
                400,
                "INVALID_ARGUMENT",
                &format!("fake lookup: {body}"),
                &json!([]),
            );
        }
        ResponseTemplate::new(200).set_body_json(json!({ "entries": [self.0] }))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deployed_revision_is_looked_up_then_a_baseline_is_fetched_before_it() {
    let entries = staging_entries();
    let first = entries
        .iter()
        .filter(|e| e["resource"]["labels"]["revision_name"] == STAGING_REV)
        .min_by_key(|e| e["timestamp"].as_str().unwrap().to_string())
        .unwrap()
        .clone();
    let server = fake(PagedLogging::new("acme-staging", pages(&entries, 100))).await;
    Mock::given(method("POST"))
        .and(path(LIST))
        .and(body_partial_json(json!({"orderBy": "timestamp asc"})))
        .respond_with(FirstOfRevision(first))
        .with_priority(1)
        .mount(&server)
        .await;
    let out = run({
        let mut c = cloud(
            &server,
            &[
                "analyze",
                "--project",
                "acme-staging",
                "--format",
                "json",
                "--deployed-revision",
                STAGING_REV,
            ],
        );
        c.arg("--fail-on-new");
        c
    })
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_report(&out);
    assert_eq!(
        report["deploy"]["deployed_at"],
        "2025-09-07T15:30:12.483963Z"
    );
    // The window after runs to --until (16:00), so the baseline is as long before the
    // deploy, and the query starts there.
    assert_eq!(
        report["deploy"]["baseline_from"],
        "2025-09-07T15:00:24.967926Z"
    );
    let bodies = list_bodies(&server).await;
    assert_eq!(bodies[0]["orderBy"], "timestamp asc");
    assert!(
        bodies[1]["filter"]
            .as_str()
            .unwrap()
            .contains("timestamp >= \"2025-09-07T15:00:24.967926Z\""),
        "{}",
        bodies[1]["filter"]
    );
    let statuses: Vec<(&str, &str)> = report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["title"].as_str().unwrap(),
                c["change"]["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("WebSocket closed with 1011 (internal error)", "new")),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("KeyError: 'thread_id'", "ongoing")),
        "{statuses:?}"
    );
    assert!(stderr(&out).contains("--fail-on-new ERROR: new ERROR cluster"));
}

#[tokio::test(flavor = "multi_thread")]
async fn deployed_revision_with_no_entry_exits_2_before_fetching() {
    let server = fake(PagedLogging::new(
        "acme-staging",
        pages(&staging_entries(), 100),
    ))
    .await;
    Mock::given(method("POST"))
        .and(path(LIST))
        .and(body_partial_json(json!({"orderBy": "timestamp asc"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .with_priority(1)
        .mount(&server)
        .await;
    let out = run(cloud(
        &server,
        &[
            "analyze",
            "--project",
            "acme-staging",
            "--deployed-revision",
            "svc-00009-nope",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("svc-00009-nope") && err.contains("widen --since"),
        "{err}"
    );
    assert_eq!(
        list_bodies(&server).await.len(),
        1,
        "only the lookup was sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deployed_at_sets_the_window_and_refuses_since() {
    let server = fake(PagedLogging::new(
        "acme-staging",
        pages(&staging_entries(), 100),
    ))
    .await;
    let mut c = bin();
    c.env("GCP_TRIAGE_LOGGING_ENDPOINT", server.uri())
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        .args(["analyze", "--project", "acme-staging", "--format", "json"])
        .args([
            "--deployed-at",
            "2025-09-07T15:30:00Z",
            "--baseline",
            "20m",
            "--until",
            "2025-09-07T15:50:00Z",
        ]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let filter = list_bodies(&server).await[0]["filter"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        filter.contains("timestamp >= \"2025-09-07T15:10:00Z\""),
        "{filter}"
    );
    let report = json_report(&out);
    assert_eq!(report["deploy"]["baseline_minutes"], 20.0);
    assert_eq!(report["deploy"]["after_minutes"], 20.0);

    let out = run({
        let mut c = bin();
        c.args([
            "analyze",
            "--project",
            "p",
            "--deployed-at",
            "2025-09-07T15:30:00Z",
            "--since",
            "1h",
        ]);
        c
    })
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("drop --since/--from"),
        "{}",
        stderr(&out)
    );
}
