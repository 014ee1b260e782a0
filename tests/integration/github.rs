//! Issue filing against a fake GitHub REST API on 127.0.0.1 that keeps state (issues,
//! comments, labels), checks the bearer token, answers with GitHub's shapes and error
//! bodies, and names any request it did not expect. Plus the GitHub Actions files.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::{analyze_json, bin, run, sample, stderr};

pub(crate) const TOKEN: &str = "ghp_testtoken0123456789";
pub(crate) const REPO: &str = "acme/api";

/// A failure to serve instead of the next create: the response, and whether the
/// issue is stored anyway (a create whose outcome the client cannot know).
struct Failure {
    response: ResponseTemplate,
    store_anyway: bool,
}

#[derive(Default)]
struct State {
    issues: Vec<Value>,
    comments: Vec<(u64, String)>,
    labels: Vec<String>,
    create_failures: VecDeque<Failure>,
    base: String,
}

#[derive(Clone)]
pub(crate) struct FakeGitHub(Arc<Mutex<State>>);

fn github_error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.to_string(),
    }))
}

fn user() -> Value {
    let mut u = json!({"login": "github-actions[bot]", "id": 41_898_282, "node_id": "MDM6Qm90NDE4OTgyODI=",
        "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4", "gravatar_id": "",
        "type": "Bot", "site_admin": false});
    for k in [
        "url",
        "html_url",
        "followers_url",
        "following_url",
        "gists_url",
        "starred_url",
        "subscriptions_url",
        "organizations_url",
        "repos_url",
        "events_url",
        "received_events_url",
    ] {
        u[k] = json!("https://api.github.com/users/github-actions%5Bbot%5D");
    }
    u
}

impl State {
    fn issue(&self, number: u64, title: &str, body: &str, labels: &[String], state: &str) -> Value {
        let base = format!("{}/repos/{REPO}", self.base);
        json!({
            "id": 1_000_000 + number, "node_id": format!("I_kwDO{number}"),
            "url": format!("{base}/issues/{number}"), "repository_url": base,
            "labels_url": format!("{base}/issues/{number}/labels{{/name}}"),
            "comments_url": format!("{base}/issues/{number}/comments"),
            "events_url": format!("{base}/issues/{number}/events"),
            "html_url": format!("https://github.com/{REPO}/issues/{number}"),
            "number": number, "state": state, "state_reason": if state == "closed" { json!("completed") } else { Value::Null },
            "title": title, "body": body, "user": user(),
            "labels": labels.iter().enumerate().map(|(i, l)| json!({"id": 208_045_946 + i, "node_id": "LA_kw", "url": format!("{base}/labels/{l}"),
                "name": l, "color": "d93f0b", "default": false, "description": null})).collect::<Vec<_>>(),
            "assignees": [], "locked": false, "comments": 0,
            "created_at": "2025-09-07T16:00:00Z", "updated_at": "2025-09-07T16:00:00Z",
            "closed_at": if state == "closed" { json!("2025-09-01T10:00:00Z") } else { Value::Null },
            "author_association": "NONE",
        })
    }
}

impl Respond for FakeGitHub {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.0.lock().unwrap();
        if req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            != Some(&format!("Bearer {TOKEN}"))
        {
            return github_error(401, "Bad credentials");
        }
        let path = req.url.path().to_string();
        let method = req.method.as_str().to_string();
        let repo = format!("/repos/{REPO}");
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        match (method.as_str(), path.strip_prefix(&repo)) {
            ("POST", Some("/labels")) => {
                let name = body["name"].as_str().unwrap_or_default().to_string();
                if st.labels.contains(&name) {
                    return ResponseTemplate::new(422).set_body_json(json!({"message": "Validation Failed",
                        "errors": [{"resource": "Label", "code": "already_exists", "field": "name"}],
                        "documentation_url": "https://docs.github.com/rest/issues/labels#create-a-label", "status": "422"}));
                }
                st.labels.push(name.clone());
                ResponseTemplate::new(201).set_body_json(
                    json!({"id": 1, "node_id": "LA_kw", "url": "u", "name": name,
                    "color": body["color"], "default": false, "description": body["description"]}),
                )
            }
            ("GET", Some("/issues")) => {
                let q: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
                let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
                if get("state").as_deref() != Some("all") {
                    return github_error(400, "fake: expected state=all");
                }
                let label = get("labels").unwrap_or_default();
                let page: usize = get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let per: usize = get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
                let matching: Vec<Value> = st
                    .issues
                    .iter()
                    .filter(|i| {
                        i["labels"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|l| l["name"] == label.as_str())
                    })
                    .skip((page - 1) * per)
                    .take(per)
                    .cloned()
                    .collect();
                ResponseTemplate::new(200).set_body_json(matching)
            }
            ("POST", Some("/issues")) => {
                let title = body["title"].as_str().unwrap_or_default();
                let text = body["body"].as_str().unwrap_or_default();
                if title.is_empty() || title.chars().count() > 256 {
                    return github_error(422, "Validation Failed");
                }
                if text.chars().count() > 65_536 {
                    return ResponseTemplate::new(422).set_body_json(json!({"message": "Validation Failed",
                        "errors": [{"resource": "Issue", "field": "body", "code": "custom",
                            "message": "body is too long (maximum is 65536 characters)"}], "status": "422"}));
                }
                let labels: Vec<String> = body["labels"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|l| l.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let failure = st.create_failures.pop_front();
                if let Some(f) = &failure
                    && !f.store_anyway
                {
                    return f.response.clone();
                }
                let number = 100 + st.issues.len() as u64 + 1;
                let issue = st.issue(number, title, text, &labels, "open");
                st.issues.push(issue.clone());
                match failure {
                    Some(f) => f.response,
                    None => ResponseTemplate::new(201).set_body_json(issue),
                }
            }
            ("POST", Some(p)) if p.starts_with("/issues/") && p.ends_with("/comments") => {
                let n: u64 = p
                    .trim_start_matches("/issues/")
                    .trim_end_matches("/comments")
                    .parse()
                    .unwrap_or(0);
                if !st.issues.iter().any(|i| i["number"] == n) {
                    return github_error(404, "Not Found");
                }
                let text = body["body"].as_str().unwrap_or_default().to_string();
                st.comments.push((n, text.clone()));
                let id = st.comments.len();
                ResponseTemplate::new(201).set_body_json(json!({"id": id, "node_id": "IC_kw",
                    "url": format!("{}/repos/{REPO}/issues/comments/{id}", st.base),
                    "html_url": format!("https://github.com/{REPO}/issues/{n}#issuecomment-{id}"),
                    "body": text, "user": user(), "created_at": "2025-09-07T16:00:00Z", "updated_at": "2025-09-07T16:00:00Z",
                    "issue_url": format!("{}/repos/{REPO}/issues/{n}", st.base), "author_association": "NONE"}))
            }
            _ => github_error(404, &format!("fake GitHub: unexpected {method} {path}")),
        }
    }
}

impl FakeGitHub {
    /// Serves `response` for the next create; `store_anyway` keeps the issue (GitHub
    /// acted, then the answer failed).
    fn fail_next_create(&self, response: ResponseTemplate, store_anyway: bool) {
        self.0.lock().unwrap().create_failures.push_back(Failure {
            response,
            store_anyway,
        });
    }
}

pub(crate) async fn fake() -> (MockServer, FakeGitHub) {
    let server = MockServer::start().await;
    let gh = FakeGitHub(Arc::new(Mutex::new(State {
        base: server.uri(),
        ..State::default()
    })));
    Mock::given(any())
        .respond_with(gh.clone())
        .mount(&server)
        .await;
    (server, gh)
}

pub(crate) fn filing(
    server: &MockServer,
    input: &std::path::Path,
    extra: &[&str],
) -> assert_cmd::Command {
    let mut c = bin();
    c.env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", server.uri())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_REPOSITORY")
        .arg("analyze")
        .arg(input)
        .args(["--file-issues", "--github-repo", REPO])
        .args(extra);
    c
}

pub(crate) async fn requests(server: &MockServer) -> Vec<(String, String, String)> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.method.to_string(),
                r.url.path().to_string(),
                String::from_utf8_lossy(&r.body).into_owned(),
            )
        })
        .collect()
}

fn creates(reqs: &[(String, String, String)]) -> usize {
    reqs.iter()
        .filter(|(m, p, _)| m == "POST" && p == "/repos/acme/api/issues")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn first_run_creates_issues_and_a_rerun_only_comments() {
    let (server, gh) = fake().await;
    let input = sample("staging-incident.json");
    let top: Vec<String> = analyze_json(&[], &input)["clusters"].as_array().unwrap()[..3]
        .iter()
        .map(|c| c["fingerprint"].as_str().unwrap().to_string())
        .collect();

    let out = run(filing(&server, &input, &[])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    {
        let st = gh.0.lock().unwrap();
        assert_eq!(st.issues.len(), 3, "--max-issues defaults to 3");
        for (issue, fp) in st.issues.iter().zip(&top) {
            let body = issue["body"].as_str().unwrap();
            assert_eq!(
                body.lines().next().unwrap(),
                format!("<!-- gcp-triage:fingerprint=v1-{fp} -->")
            );
            assert!(issue["title"].as_str().unwrap().starts_with("gcp-triage: "));
            assert_eq!(issue["labels"][0]["name"], "gcp-triage");
            assert!(body.contains("## Five whys"));
        }
        assert_eq!(st.labels, ["gcp-triage"]);
    }
    assert!(stderr(&out).contains("created https://github.com/acme/api/issues/101"));

    let again = run(filing(&server, &input, &[])).await;
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let st = gh.0.lock().unwrap();
    assert_eq!(st.issues.len(), 3, "a rerun creates nothing");
    assert_eq!(st.comments.len(), 3, "it comments on each open issue");
    assert!(st.comments[0].1.starts_with("Seen again by gcp-triage"));
    assert!(st.comments[0].1.contains("**Revisions:**"));
    assert!(
        stderr(&again)
            .contains("commented on https://github.com/acme/api/issues/101#issuecomment-1")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_match_gives_a_new_issue_linked_as_a_regression() {
    let (server, gh) = fake().await;
    let input = sample("staging-incident.json");
    let fp = analyze_json(&[], &input)["clusters"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    {
        let mut st = gh.0.lock().unwrap();
        let old = st.issue(
            7,
            "gcp-triage: old",
            &format!("<!-- gcp-triage:fingerprint=v1-{fp} -->\nold"),
            &["gcp-triage".into()],
            "closed",
        );
        st.issues.push(old);
    }
    let out = run(filing(&server, &input, &["--max-issues", "1"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let st = gh.0.lock().unwrap();
    assert_eq!(st.issues.len(), 2);
    let new = &st.issues[1];
    assert!(
        new["title"]
            .as_str()
            .unwrap()
            .starts_with("gcp-triage (regression): ")
    );
    let body = new["body"].as_str().unwrap();
    assert!(body.contains("**Regression** of #7 (https://github.com/acme/api/issues/7), closed 2025-09-01T10:00:00Z"), "{body}");
    assert!(st.comments.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_what_it_would_write_and_sends_no_write() {
    let (server, gh) = fake().await;
    let input = sample("staging-incident.json");
    let out = run(filing(&server, &input, &["--dry-run", "--max-issues", "2"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reqs = requests(&server).await;
    assert!(
        !reqs.is_empty() && reqs.iter().all(|(m, _, _)| m == "GET"),
        "{reqs:?}"
    );
    assert!(gh.0.lock().unwrap().issues.is_empty());
    let err = stderr(&out);
    assert_eq!(
        err.matches("--- dry run: would create an issue in acme/api\ntitle: gcp-triage: ")
            .count(),
        2,
        "{err}"
    );
    assert!(err.contains("<!-- gcp-triage:fingerprint=v1-"));

    // Without a token, a dry run still shows the bodies, and sends nothing at all.
    let server2 = MockServer::start().await;
    let mut c = filing(&server2, &input, &["--dry-run", "--max-issues", "1"]);
    c.env_remove("GITHUB_TOKEN");
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("(no token: existing issues not checked)"));
    assert!(server2.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_token_401_exits_4_after_the_report_is_written() {
    let (server, _gh) = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("report.md");
    let mut c = filing(
        &server,
        &sample("staging-incident.json"),
        &["--format", "json", "-o", md.to_str().unwrap()],
    );
    c.env("GITHUB_TOKEN", "ghp_wrong");
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(err.contains("GitHub: create label: HTTP 401: Bad credentials (bad credentials: check GITHUB_TOKEN or GH_TOKEN)"), "{err}");
    assert!(!err.contains("ghp_wrong"));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!report["clusters"].as_array().unwrap().is_empty());
    assert!(
        std::fs::read_to_string(&md)
            .unwrap()
            .contains("## Ranked problems")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_repo_404_says_so() {
    let (server, _gh) = fake().await;
    let mut c = bin();
    c.env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", server.uri())
        .arg("analyze")
        .arg(sample("staging-incident.json"))
        .args(["--file-issues", "--github-repo", "acme/nope"]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("repository acme/nope not found, or the token cannot see it"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secondary_rate_limit_403_is_waited_out_and_the_create_repeated() {
    let (server, gh) = fake().await;
    gh.fail_next_create(github_error(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.")
            .insert_header("retry-after", "1"), false);
    let out = run(filing(
        &server,
        &sample("staging-incident.json"),
        &["--max-issues", "1"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(creates(&requests(&server).await), 2);
    assert_eq!(gh.0.lock().unwrap().issues.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_422_exits_4_with_githubs_message() {
    let (server, gh) = fake().await;
    gh.fail_next_create(ResponseTemplate::new(422).set_body_json(json!({"message": "Validation Failed",
            "errors": [{"resource": "Issue", "code": "custom", "field": "body", "message": "body is too long (maximum is 65536 characters)"}],
            "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue", "status": "422"})), false);
    let out = run(filing(
        &server,
        &sample("staging-incident.json"),
        &["--max-issues", "1"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(
        err.contains("GitHub: create issue: HTTP 422: Validation Failed: body is too long"),
        "{err}"
    );
    assert_eq!(creates(&requests(&server).await), 1, "a 422 is not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_502_on_create_is_looked_up_before_any_retry_and_never_duplicates() {
    // GitHub created the issue, then answered 502.
    let (server, gh) = fake().await;
    gh.fail_next_create(
        ResponseTemplate::new(502).set_body_string("<html>502 Bad Gateway</html>"),
        true,
    );
    let input = sample("staging-incident.json");
    let out = run(filing(&server, &input, &["--max-issues", "1"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        creates(&requests(&server).await),
        1,
        "found on the second look: no second POST"
    );
    assert_eq!(gh.0.lock().unwrap().issues.len(), 1);
    let again = run(filing(&server, &input, &["--max-issues", "1"])).await;
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(gh.0.lock().unwrap().issues.len(), 1, "a rerun comments");

    // GitHub did not create it: one more create after the look, and no more.
    let (server, gh) = fake().await;
    gh.fail_next_create(
        ResponseTemplate::new(502).set_body_string("<html>502 Bad Gateway</html>"),
        false,
    );
    let out = run(filing(&server, &input, &["--max-issues", "1"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reqs = requests(&server).await;
    assert_eq!(creates(&reqs), 2);
    let lists = reqs
        .iter()
        .filter(|(m, p, _)| m == "GET" && p.ends_with("/issues"))
        .count();
    assert_eq!(lists, 2, "listed again between the two creates");
    assert_eq!(gh.0.lock().unwrap().issues.len(), 1);
}

pub(crate) fn write_ndjson(
    dir: &std::path::Path,
    name: &str,
    entries: &[Value],
) -> std::path::PathBuf {
    let path = dir.join(name);
    let text: String = entries.iter().map(|e| e.to_string() + "\n").collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// Entries `worker NAME lost its lease on shard N` at ERROR, three per name.
fn lease_losses(dir: &std::path::Path, file: &str, names: &[&str]) -> std::path::PathBuf {
    let entries: Vec<Value> = names
        .iter()
        .enumerate()
        .flat_map(|(n, name)| {
            (0..3).map(move |i| {
                json!({"insertId": format!("{name}{i}"), "severity": "ERROR",
                    "timestamp": format!("2026-05-11T08:{n:02}:{i:02}.250Z"),
                    "textPayload": format!("worker {name} lost its lease on shard {}", 17 + i)})
            })
        })
        .collect();
    write_ndjson(dir, file, &entries)
}

/// One issue stays one issue when a later run folds the template it was filed for
/// (three worker names make the name `<*>`), and when a later run is narrower than the
/// run that filed it; the report names the fingerprints the folded cluster subsumes.
#[tokio::test(flavor = "multi_thread")]
async fn an_issue_is_found_again_when_a_later_run_folds_or_narrows_its_template() {
    let dir = tempfile::tempdir().unwrap();
    let narrow = lease_losses(dir.path(), "narrow.ndjson", &["ingest"]);
    let wide = lease_losses(dir.path(), "wide.ndjson", &["billing", "mailer", "search"]);
    let one = ["--max-issues", "1"];

    let report = analyze_json(&[], &wide);
    let folded = &report["clusters"][0];
    assert_eq!(folded["title"], "worker <*> lost its lease on shard <*>");
    assert_eq!(folded["count"], 9);
    let subsumed = folded["subsumes"].as_array().unwrap();
    assert_eq!(subsumed.len(), 3);
    for s in subsumed {
        assert_eq!(s["count"], 3);
        assert!(
            s["template"].as_str().unwrap().starts_with("worker "),
            "{s}"
        );
    }
    let markdown = bin()
        .args(["analyze", "--format", "markdown"])
        .arg(&wide)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&markdown.stdout);
    assert!(text.contains("**Folds in 3 templates**"), "{text}");
    assert!(
        text.contains("`worker billing lost its lease on shard <*>` ×3"),
        "{text}"
    );
    let narrow_fp = analyze_json(&[], &narrow)["clusters"][0]["fingerprint"].clone();
    assert_ne!(narrow_fp, folded["fingerprint"]);

    for (first, second) in [(&narrow, &wide), (&wide, &narrow)] {
        let (server, gh) = fake().await;
        let out = run(filing(&server, first, &one)).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let out = run(filing(&server, second, &one)).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let st = gh.0.lock().unwrap();
        assert_eq!(st.issues.len(), 1, "the second run files nothing new");
        assert_eq!(st.comments.len(), 1, "it comments on the first run's issue");
        let body = st.issues[0]["body"].as_str().unwrap();
        assert!(
            body.lines()
                .nth(1)
                .unwrap()
                .starts_with("<!-- gcp-triage:template=v1-")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_in_log_text_never_reach_github() {
    let (server, gh) = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let secret_jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlc2lnbmF0dXJl";
    let entries: Vec<Value> = (0..3)
        .map(|i| json!({"insertId": format!("s{i}"), "timestamp": format!("2025-09-07T15:0{i}:00Z"), "severity": "ERROR",
            "textPayload": format!("auth failed: Authorization: Bearer {secret_jwt} for postgres://app:hunter2secret@db:5432/x user {i}")}))
        .collect();
    let input = write_ndjson(dir.path(), "secrets.ndjson", &entries);
    let out = run(filing(&server, &input, &[])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(gh.0.lock().unwrap().issues.len(), 1);
    for (_, _, body) in requests(&server).await {
        assert!(
            !body.contains(secret_jwt) && !body.contains("hunter2secret"),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_200000_character_traceback_is_trimmed_under_the_limit_keeping_its_last_line() {
    let (server, gh) = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let mut tb = String::from("Traceback (most recent call last):\n");
    let mut i = 0;
    while tb.len() < 200_000 {
        let _ = write!(
            tb,
            "  File \"/app/handlers/deep_{i}.py\", line {i}, in handler_{i}\n    return next_step(payload)\n"
        );
        i += 1;
    }
    tb.push_str("ValueError: the very last line of the traceback");
    let entries = vec![
        json!({"insertId": "big", "timestamp": "2025-09-07T15:00:00Z", "severity": "ERROR", "textPayload": tb}),
    ];
    let input = write_ndjson(dir.path(), "big.ndjson", &entries);
    let out = run(filing(&server, &input, &[])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    {
        let st = gh.0.lock().unwrap();
        let body = st.issues[0]["body"].as_str().unwrap();
        assert!(body.chars().count() < 65_536, "{}", body.chars().count());
        assert!(body.contains("ValueError: the very last line of the traceback"));
        assert!(body.contains("Traceback (most recent call last):"));
    }

    // A template that prints the exemplar fifteen times (about 90,000 characters) is
    // brought under the limit by cutting the exemplar in the middle.
    let (server, gh) = fake().await;
    let tpl = dir.path().join("loud.tera");
    std::fs::write(
        &tpl,
        "{% for i in range(end=15) %}{{ cluster.exemplars[0].message | fence }}\n{% endfor %}",
    )
    .unwrap();
    let out = run(filing(
        &server,
        &input,
        &["--issue-template", tpl.to_str().unwrap()],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let st = gh.0.lock().unwrap();
    let body = st.issues[0]["body"].as_str().unwrap();
    assert!(body.starts_with("<!-- gcp-triage:fingerprint=v1-"));
    assert!(body.chars().count() <= 60_000, "{}", body.chars().count());
    assert_eq!(
        body.matches("ValueError: the very last line of the traceback")
            .count(),
        15
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn github_actions_gets_summary_outputs_annotations_and_no_command_injection() {
    let (server, _gh) = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let outputs = dir.path().join("output.txt");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let mut entries: Vec<Value> = (0..2)
        .map(|i| json!({"insertId": format!("x{i}"), "timestamp": format!("2025-09-07T15:0{i}:00Z"), "severity": "ERROR",
            "textPayload": format!("::add-mask::oops\n::error::injected {i}")}))
        .collect();
    entries.push(
        json!({"insertId": "w1", "timestamp": "2025-09-07T15:05:00Z", "severity": "WARNING",
        "textPayload": "cache warm-up slow"}),
    );
    let input = write_ndjson(dir.path(), "inject.ndjson", &entries);
    let mut c = filing(&server, &input, &["--format", "markdown"]);
    c.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", REPO)
        .env("GITHUB_RUN_ID", "42");
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // stdout: the raw log lines sit between ::stop-commands::TOKEN and ::TOKEN::.
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let first = stdout.lines().next().unwrap();
    let token = first.strip_prefix("::stop-commands::").expect("guarded");
    assert!(stdout.trim_end().ends_with(&format!("::{token}::")));
    assert!(stdout.contains("::error::injected 0"));

    // one annotation per top cluster on stderr, on one line each
    let err = stderr(&out);
    let annotations: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("::error title=gcp-triage #"))
        .collect();
    assert_eq!(annotations.len(), 1, "{err}");
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("::warning title=gcp-triage #2"))
            .count(),
        1,
        "{err}"
    );
    assert!(
        annotations[0].ends_with(')') && annotations[0].contains("::::add-mask::oops (first seen"),
        "{}",
        annotations[0]
    );
    assert!(
        !err.lines()
            .any(|l| l.starts_with("::add-mask::") || l.starts_with("::error::injected")),
        "no raw log line reaches stderr as a command: {err}"
    );

    let s = std::fs::read_to_string(&summary).unwrap();
    assert!(s.starts_with("earlier step\n# Debug log"), "appended: {s}");
    let o = std::fs::read_to_string(&outputs).unwrap();
    assert!(o.contains("clusters=2\n"), "{o}");
    assert!(o.contains("issues_created=2\n") && o.contains("issues_updated=0\n"));
    assert!(o.contains("top_fingerprint=") && o.contains("partial=false\n"));
    let urls = o.split("issue_urls<<").nth(1).unwrap();
    let delim = urls.lines().next().unwrap();
    assert!(delim.starts_with("ghadelimiter_"));
    assert!(urls.contains(&format!(
        "\nhttps://github.com/acme/api/issues/101\nhttps://github.com/acme/api/issues/102\n{delim}\n"
    )));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unwritable_step_summary_exits_4_after_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = run({
        let mut c = bin();
        c.env("GITHUB_ACTIONS", "true")
            .env(
                "GITHUB_STEP_SUMMARY",
                dir.path().join("missing-dir").join("summary.md"),
            )
            .args(["analyze", "--format", "json"])
            .arg(sample("staging-incident.json"));
        c
    })
    .await;
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("GITHUB_STEP_SUMMARY"));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["summary"]["clusters_total"].as_u64().unwrap() > 0);
}

#[test]
fn file_issues_needs_a_repo_and_a_token_before_reading_logs() {
    bin()
        .args(["analyze", "--file-issues", "nonexistent.json"])
        .env_remove("GITHUB_REPOSITORY")
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "--github-repo OWNER/NAME or GITHUB_REPOSITORY",
        ));
    bin()
        .args([
            "analyze",
            "--file-issues",
            "--github-repo",
            "acme/api",
            "nonexistent.json",
        ])
        .env_remove("GITHUB_TOKEN")
        .env_remove("GH_TOKEN")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("GITHUB_TOKEN or GH_TOKEN"));
    bin()
        .args(["analyze", "--labels", "x", "nonexistent.json"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("need --file-issues"));
    bin()
        .args(["analyze", "--help"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "4  report produced, publishing it failed",
        ));
}
