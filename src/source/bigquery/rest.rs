//! BigQuery `jobs.query` and `jobs.getQueryResults` (`../shared/docs/log-analytics.md`
//! §3–4): one POST with `useLegacySql: false`, `maximumBytesBilled`, the location and
//! `useInt64Timestamp`; while `jobComplete` is false, getQueryResults waits on the
//! server's side; while a `pageToken` comes back, the next page. Rate limits, backend
//! errors, bare 5xx, timeouts and connection failures are retried with exponential
//! backoff within the retry deadline (the POST carries a `requestId`, so a retried
//! query runs once); 401 asks the credentials once more; the rest stops with
//! BigQuery's own message and what to do about it.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::settings::BigQuery;
use crate::source::auth::{self, BIGQUERY_READ, Credentials};

/// Rows asked for per page (each page is at most 10 MB anyway).
const PAGE_ROWS: u64 = 500;
/// How long one call may wait for the job on the server's side.
const WAIT_MS: u64 = 30_000;

/// What the job reported, for the report.
#[derive(Debug, Clone, Default)]
pub struct Job {
    /// The project the job ran in.
    pub project: String,
    /// `jobReference.jobId` (none for a dry run).
    pub job_id: Option<String>,
    /// `totalBytesProcessed` (for a dry run: what the query would scan).
    pub bytes_processed: Option<u64>,
    /// `totalBytesBilled`, when the answer gives it.
    pub bytes_billed: Option<u64>,
    /// `cacheHit`.
    pub cache_hit: bool,
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Retries.
    pub retries: u64,
}

/// A finished query: the schema's fields and the rows, as BigQuery encodes them.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// `schema.fields`.
    pub fields: Vec<Value>,
    /// `rows` of every page: `{"f": [{"v": ...}, ...]}`.
    pub rows: Vec<Value>,
    /// The job.
    pub job: Job,
}

/// Runs `sql` (or, with `dry_run`, only estimates it) and returns every row. `where_lines`
/// are the lines of `sql` that hold the user's `--where`: a SQL error there is theirs.
pub fn run(
    bq: &BigQuery,
    sql: &str,
    dry_run: bool,
    where_lines: Option<(u32, u32)>,
) -> Result<Answer> {
    // reqwest is built without a TLS crypto provider of its own: use ring, as
    // gcp_auth does (an error only means one is installed already).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(async {
        let creds = auth::resolve(&bq.cloud.request.auth).await?;
        let project = match bq.cloud.request.project.clone() {
            Some(p) => p,
            None => creds.project_id().await.ok_or(Error::NoProject)?,
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(WAIT_MS) + bq.cloud.request.retry.request_timeout)
            .user_agent(concat!("gcp-triage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| Error::HttpClient { source })?;
        let mut caller = Caller {
            bq,
            creds,
            client,
            started: Instant::now(),
            job: Job {
                project: project.clone(),
                ..Job::default()
            },
            where_lines,
        };
        caller.query(sql, dry_run).await
    })
}

struct Caller<'a> {
    bq: &'a BigQuery,
    creds: Credentials,
    client: reqwest::Client,
    started: Instant,
    job: Job,
    where_lines: Option<(u32, u32)>,
}

fn int(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// A random `requestId` (idempotency key, at most 36 characters).
fn request_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = xxhash_rust::xxh3::xxh3_128(format!("{nanos}:{}", std::process::id()).as_bytes());
    format!("gcp-triage-{:024x}", mixed & ((1u128 << 96) - 1))
}

impl Caller<'_> {
    fn base(&self) -> String {
        format!(
            "{}/bigquery/v2/projects/{}/queries",
            self.bq.endpoint, self.job.project
        )
    }

    async fn query(&mut self, sql: &str, dry_run: bool) -> Result<Answer> {
        let mut body = serde_json::json!({
            "query": sql,
            "useLegacySql": false,
            "maxResults": PAGE_ROWS,
            "timeoutMs": WAIT_MS,
            "maximumBytesBilled": self.bq.maximum_bytes_billed.to_string(),
            "dryRun": dry_run,
            "labels": {"tool": "gcp-triage"},
            "formatOptions": {"useInt64Timestamp": true},
            "requestId": request_id(),
        });
        if let Some(loc) = &self.bq.location {
            body["location"] = Value::String(loc.clone());
        }
        let url = self.base();
        let mut answer = self
            .call(reqwest::Method::POST, &url, &[], Some(&body))
            .await?;
        self.record(&answer);
        if dry_run {
            return Ok(Answer {
                job: self.job.clone(),
                ..Answer::default()
            });
        }
        let job_id = answer["jobReference"]["jobId"].as_str().map(str::to_string);
        self.job.job_id.clone_from(&job_id);
        let location = answer["jobReference"]["location"]
            .as_str()
            .map(str::to_string)
            .or_else(|| self.bq.location.clone());
        let mut rows = Vec::new();
        loop {
            let complete = answer["jobComplete"].as_bool().unwrap_or(true);
            if complete {
                if let Some(Value::Array(r)) = answer.get_mut("rows").map(Value::take) {
                    rows.extend(r);
                }
            }
            let token = answer["pageToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if complete && token.is_none() {
                break;
            }
            let Some(id) = &job_id else {
                return Err(Error::BigQueryResponse {
                    what: "the job is not complete and has no jobReference.jobId".into(),
                });
            };
            self.check_deadline(if complete {
                "paging"
            } else {
                "the job is still running"
            })?;
            let mut params: Vec<(&str, String)> = vec![
                ("timeoutMs", WAIT_MS.to_string()),
                ("maxResults", PAGE_ROWS.to_string()),
                ("formatOptions.useInt64Timestamp", "true".to_string()),
            ];
            if let Some(loc) = &location {
                params.push(("location", loc.clone()));
            }
            if let Some(t) = &token
                && complete
            {
                params.push(("pageToken", t.clone()));
            }
            let url = format!("{}/{id}", self.base());
            answer = self.call(reqwest::Method::GET, &url, &params, None).await?;
            self.record(&answer);
        }
        let fields = answer["schema"]["fields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(Answer {
            fields,
            rows,
            job: self.job.clone(),
        })
    }

    fn record(&mut self, answer: &Value) {
        if let Some(b) = int(&answer["totalBytesProcessed"]) {
            self.job.bytes_processed = Some(b);
        }
        if let Some(b) = int(&answer["totalBytesBilled"]) {
            self.job.bytes_billed = Some(b);
        }
        if answer["cacheHit"].as_bool() == Some(true) {
            self.job.cache_hit = true;
        }
    }

    fn check_deadline(&self, last: &str) -> Result<()> {
        let deadline = self.bq.cloud.request.retry.deadline;
        if self.started.elapsed() > deadline {
            return Err(Error::BigQueryDeadline {
                waited: self.started.elapsed().as_secs(),
                last: last.to_string(),
            });
        }
        Ok(())
    }

    /// One call, with retries; the JSON answer of a success.
    async fn call(
        &mut self,
        method: reqwest::Method,
        url: &str,
        params: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let policy = self.bq.cloud.request.retry;
        let mut attempt = 0u32;
        let mut reauthorised = false;
        loop {
            let bearer = self.creds.bearer_for(BIGQUERY_READ).await?;
            self.job.requests += 1;
            let mut full = url.to_string();
            for (i, (k, v)) in params.iter().enumerate() {
                full.push(if i == 0 { '?' } else { '&' });
                full.push_str(k);
                full.push('=');
                full.extend(percent_encoding::utf8_percent_encode(
                    v,
                    percent_encoding::NON_ALPHANUMERIC,
                ));
            }
            let mut req = self
                .client
                .request(method.clone(), &full)
                .bearer_auth(bearer.expose());
            if let Some(b) = body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(serde_json::to_vec(b).map_err(Error::Serialize)?);
            }
            let failure = match req.send().await {
                Err(e) => {
                    if e.is_timeout() {
                        "request timed out".to_string()
                    } else {
                        format!("connection failed: {}", crate::error::one_line(&e))
                    }
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let text = resp.text().await.unwrap_or_default();
                    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let refused = status >= 400
                        || (json.get("errors").is_some()
                            && json.get("schema").is_none()
                            && json
                                .get("jobComplete")
                                .is_none_or(|c| c.as_bool() != Some(false))
                            && json["errors"].as_array().is_some_and(|e| !e.is_empty())
                            && json.get("totalBytesProcessed").is_none());
                    if !refused {
                        if json.is_object() {
                            return Ok(json);
                        }
                        return Err(Error::BigQueryResponse {
                            what: format!("HTTP {status}: not a JSON object"),
                        });
                    }
                    let (reason, message) = error_of(&json, status, &text);
                    if status == 401 && !reauthorised && self.creds.refreshes() {
                        reauthorised = true;
                        continue;
                    }
                    if !retryable(status, &reason) {
                        return Err(self.refusal(status, &reason, &message));
                    }
                    format!("HTTP {status} {reason}: {message}")
                }
            };
            attempt += 1;
            self.job.retries += 1;
            let wait = policy.transient_base * 2u32.saturating_pow(attempt.min(8) - 1);
            if attempt >= policy.transient_attempts.max(1) + 3
                || self.started.elapsed() + wait > policy.deadline
            {
                return Err(Error::BigQueryDeadline {
                    waited: self.started.elapsed().as_secs(),
                    last: crate::redact::Redactor::default()
                        .redact(&failure)
                        .into_owned(),
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// The one-line error for a refusal, with what to do.
    fn refusal(&self, status: u16, reason: &str, message: &str) -> Error {
        let table = self.bq.table.sql();
        let hint = match reason {
            "accessDenied" | "billingNotEnabled" => format!(
                "; the job project {} needs roles/bigquery.jobUser (bigquery.jobs.create) and the caller read access to the linked dataset {}.{} (roles/bigquery.dataViewer)",
                self.job.project, self.bq.table.project, self.bq.table.dataset
            ),
            "notFound" => format!(
                "; {table} was not found: check the project, the link id (the dataset) and the view, and --bigquery-location; a bucket needs Log Analytics and a linked dataset: gcloud logging buckets update BUCKET --location=LOCATION --enable-analytics, then gcloud logging links create LINK_ID --bucket=BUCKET --location=LOCATION"
            ),
            "bytesBilledLimitExceeded" => format!(
                "; --maximum-bytes-billed is {} (run with --estimate to see what the query scans; narrow the window or the services, or raise the cap)",
                self.bq.maximum_bytes_billed
            ),
            "quotaExceeded" => "; a long-term quota: wait, or ask for more".to_string(),
            _ => String::new(),
        };
        let user_sql = reason == "invalidQuery"
            && self.where_lines.is_some_and(|(from, to)| {
                error_line(message).is_some_and(|l| (from..=to).contains(&l))
            });
        let reason = if reason.is_empty() {
            format!("HTTP {status}")
        } else {
            reason.to_string()
        };
        Error::BigQuery {
            reason,
            message: message.replace(['\n', '\r'], " "),
            hint,
            user_sql,
        }
    }
}

/// `error.errors[0].reason` and `error.message` (or the emulator's top-level `errors`).
fn error_of(json: &Value, status: u16, text: &str) -> (String, String) {
    let err = if json.get("error").is_some() {
        &json["error"]
    } else {
        json
    };
    let first = &err["errors"][0];
    let reason = first["reason"].as_str().unwrap_or_default().to_string();
    let message = err["message"]
        .as_str()
        .or_else(|| first["message"].as_str())
        .map_or_else(
            || {
                let t: String = text.chars().take(200).collect();
                if t.trim().is_empty() {
                    format!("HTTP {status}")
                } else {
                    t
                }
            },
            str::to_string,
        );
    (reason, message)
}

/// Whether a failure is worth retrying (Google's client's list).
fn retryable(status: u16, reason: &str) -> bool {
    matches!(
        reason,
        "rateLimitExceeded" | "backendError" | "internalError" | "badGateway"
    ) || (reason.is_empty() && matches!(status, 429 | 500 | 502 | 503 | 504))
}

/// The line of `at [line:col]` at the end of a SQL error message.
fn error_line(message: &str) -> Option<u32> {
    let at = message.rfind("at [")?;
    let rest = &message[at + 4..];
    rest.split(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_line_is_read_from_the_message() {
        assert_eq!(
            error_line("Syntax error: Unexpected identifier \"SELEC\" at [12:3]"),
            Some(12)
        );
        assert_eq!(error_line("no position"), None);
    }

    #[test]
    fn retries_follow_the_reasons() {
        assert!(retryable(403, "rateLimitExceeded"));
        assert!(retryable(503, "backendError"));
        assert!(retryable(502, ""));
        assert!(!retryable(403, "accessDenied"));
        assert!(!retryable(400, "invalidQuery"));
        assert!(!retryable(403, "quotaExceeded"));
    }

    #[test]
    fn request_ids_fit_the_limit() {
        let id = request_id();
        assert!(id.len() <= 36, "{id}");
        assert!(id.is_ascii());
    }
}
