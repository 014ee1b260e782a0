//! The Cloud Logging source: `POST {endpoint}/v2/entries:list`, page after page, with
//! retries, on a thread of its own.
//!
//! The fetch runs on a single-threaded tokio runtime in a background thread and hands
//! each page to the calling thread over a small bounded channel, so parsing and
//! clustering overlap with the next request, and at most a few pages are in memory.
//! Raw entries stay unparsed (`RawValue`) until the caller reads them.
//!
//! Failures follow the API's own advice (`../shared/docs/cloud-logging.md`):
//! 429 `RESOURCE_EXHAUSTED` waits out the per-minute quota (honouring a
//! `google.rpc.RetryInfo` delay when one is sent) with jitter, within the retry
//! deadline; 500/502/503/504, timeouts and connection errors back off exponentially;
//! 401 asks the credentials for a token once more when they can refresh; 400, 403,
//! 404 and the rest stop with the API's message.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::source::auth::{self, AuthEnv, Credentials};

/// The API's maximum page size.
pub const PAGE_SIZE: u64 = 1000;

/// How hard to try before giving up.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total time a single page may spend waiting on retries.
    pub deadline: Duration,
    /// Attempts for a transient failure (5xx, timeout, connection).
    pub transient_attempts: u32,
    /// First transient backoff (doubles, with jitter).
    pub transient_base: Duration,
    /// First quota backoff (doubles, with jitter), when the API gives no delay.
    pub quota_base: Duration,
    /// Timeout of one request.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            deadline: Duration::from_secs(300),
            transient_attempts: 5,
            transient_base: Duration::from_millis(500),
            quota_base: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// One fetch.
#[derive(Debug, Clone)]
pub struct Request {
    /// API root, e.g. `https://logging.googleapis.com`.
    pub endpoint: String,
    /// Project; else the credentials' project.
    pub project: Option<String>,
    /// The query.
    pub filter: String,
    /// Stop after this many entries.
    pub limit: Option<u64>,
    /// Oldest first (`timestamp asc`) instead of newest first.
    pub oldest_first: bool,
    /// Retry behaviour.
    pub retry: RetryPolicy,
    /// Where credentials come from.
    pub auth: AuthEnv,
}

/// What the fetch reports while it runs.
#[derive(Debug)]
pub enum Event {
    /// Credentials and project are known; the first request is about to go out.
    Started {
        /// The project read.
        project: String,
        /// Where the credentials came from.
        credentials: &'static str,
    },
    /// A page arrived.
    Page {
        /// 1-based page number.
        number: u64,
        /// Its entries, unparsed.
        entries: Vec<Box<RawValue>>,
    },
    /// A request failed and will be retried after `wait`.
    Retry {
        /// Why.
        reason: String,
        /// How long until the next attempt.
        wait: Duration,
    },
}

/// Counters over a fetch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Pages received (empty ones included).
    pub pages: u64,
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// Entries received.
    pub entries: u64,
}

/// How a fetch ended.
#[derive(Debug)]
pub struct Outcome {
    /// The project read, once known.
    pub project: Option<String>,
    /// Counters.
    pub stats: Stats,
    /// Why it stopped early, if it did.
    pub error: Option<Error>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    #[serde(default)]
    entries: Vec<Box<RawValue>>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// The standard Google error body.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorStatus,
}

#[derive(Deserialize, Default)]
struct ErrorStatus {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ErrorDetail {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    retry_delay: Option<String>,
}

impl ErrorStatus {
    fn reason(&self) -> Option<&str> {
        self.details.iter().find_map(|d| d.reason.as_deref())
    }

    fn retry_delay(&self) -> Option<Duration> {
        let text = self.details.iter().find_map(|d| d.retry_delay.as_deref())?;
        let secs: f64 = text.strip_suffix('s')?.parse().ok()?;
        (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
    }
}

enum Stop {
    Failed(Error),
    /// The receiving side went away (it has its own error).
    Cancelled,
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Failed(e)
    }
}

struct Fetcher {
    req: Request,
    tx: mpsc::Sender<Event>,
    project: Option<String>,
    stats: Stats,
}

/// Fetches on a background thread; `on_event` runs on the calling thread for every
/// event, as it arrives. An error from `on_event` stops the fetch and is returned in
/// the outcome.
pub fn fetch(req: Request, on_event: &mut dyn FnMut(Event) -> Result<()>) -> Outcome {
    // reqwest is built without a TLS crypto provider of its own: use ring, as
    // gcp_auth does (an error only means one is installed already).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (tx, mut rx) = mpsc::channel::<Event>(4);
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let mut fetcher = Fetcher {
            req,
            tx,
            project: None,
            stats: Stats::default(),
        };
        let result = match runtime {
            Ok(rt) => rt.block_on(fetcher.run()),
            Err(source) => Err(Stop::Failed(Error::Runtime(source))),
        };
        let error = match result {
            Ok(()) | Err(Stop::Cancelled) => None,
            Err(Stop::Failed(e)) => Some(e),
        };
        Outcome {
            project: fetcher.project,
            stats: fetcher.stats,
            error,
        }
    });
    let mut caller_error = None;
    while let Some(event) = rx.blocking_recv() {
        if let Err(e) = on_event(event) {
            caller_error = Some(e);
            break;
        }
    }
    drop(rx);
    let mut outcome = worker.join().unwrap_or_else(|_| Outcome {
        project: None,
        stats: Stats::default(),
        error: Some(Error::FetchThread),
    });
    if caller_error.is_some() {
        outcome.error = caller_error;
    }
    outcome
}

impl Fetcher {
    async fn send(&self, event: Event) -> std::result::Result<(), Stop> {
        self.tx.send(event).await.map_err(|_| Stop::Cancelled)
    }

    async fn run(&mut self) -> std::result::Result<(), Stop> {
        let creds = auth::resolve(&self.req.auth).await?;
        let project = match self.req.project.clone() {
            Some(p) => p,
            None => creds.project_id().await.ok_or(Error::NoProject)?,
        };
        self.project = Some(project.clone());
        self.send(Event::Started {
            project: project.clone(),
            credentials: creds.origin(),
        })
        .await?;
        let client = reqwest::Client::builder()
            .timeout(self.req.retry.request_timeout)
            .user_agent(concat!("gcp-triage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| Error::HttpClient { source })?;
        let url = format!(
            "{}/v2/entries:list",
            self.req.endpoint.trim_end_matches('/')
        );
        let mut page_token: Option<String> = None;
        loop {
            let remaining = self.req.limit.map(|l| l - self.stats.entries);
            let page_size = remaining.map_or(PAGE_SIZE, |r| r.min(PAGE_SIZE));
            let mut body = serde_json::json!({
                "resourceNames": [format!("projects/{project}")],
                "filter": self.req.filter,
                "orderBy": if self.req.oldest_first { "timestamp asc" } else { "timestamp desc" },
                "pageSize": page_size,
            });
            if let Some(t) = &page_token {
                body["pageToken"] = serde_json::Value::String(t.clone());
            }
            let body = serde_json::to_vec(&body).map_err(Error::Serialize)?;
            let page = self.call(&client, &creds, &url, &project, body).await?;
            self.stats.pages += 1;
            let mut entries = page.entries;
            if let Some(r) = remaining {
                entries.truncate(usize::try_from(r).unwrap_or(usize::MAX));
            }
            self.stats.entries += entries.len() as u64;
            self.send(Event::Page {
                number: self.stats.pages,
                entries,
            })
            .await?;
            let done = self.req.limit.is_some_and(|l| self.stats.entries >= l);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if !done => page_token = Some(t),
                _ => return Ok(()),
            }
        }
    }

    /// One page, with retries.
    async fn call(
        &mut self,
        client: &reqwest::Client,
        creds: &Credentials,
        url: &str,
        project: &str,
        body: Vec<u8>,
    ) -> std::result::Result<ListResponse, Stop> {
        let policy = self.req.retry;
        let started = Instant::now();
        let mut transient = 0u32;
        let mut quota = 0u32;
        let mut reauthorised = false;
        loop {
            let bearer = creds.bearer().await?;
            self.stats.requests += 1;
            let sent = client
                .post(url)
                .bearer_auth(bearer.expose())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let (wait, reason) = match sent {
                Err(e) => {
                    let reason = if e.is_timeout() {
                        "request timed out".to_string()
                    } else {
                        format!("connection failed: {}", crate::error::one_line(&e))
                    };
                    transient_failure(&policy, &mut transient, reason)?
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let bytes = match resp.bytes().await {
                        Ok(b) => b,
                        Err(e) => {
                            let reason = format!(
                                "reading the response failed: {}",
                                crate::error::one_line(&e)
                            );
                            let (wait, reason) =
                                transient_failure(&policy, &mut transient, reason)?;
                            self.wait_and_retry(started, wait, reason).await?;
                            continue;
                        }
                    };
                    if status == 200 {
                        return serde_json::from_slice::<ListResponse>(&bytes).map_err(|source| {
                            Stop::Failed(Error::LoggingResponse {
                                page: self.stats.pages + 1,
                                source,
                            })
                        });
                    }
                    let err = serde_json::from_slice::<ErrorBody>(&bytes)
                        .unwrap_or_default()
                        .error;
                    match status {
                        429 => {
                            quota += 1;
                            let wait = err
                                .retry_delay()
                                .unwrap_or_else(|| backoff(policy.quota_base, quota, 60));
                            (
                                wait,
                                format!(
                                    "429 {}: read quota exhausted",
                                    err.status_or("RESOURCE_EXHAUSTED")
                                ),
                            )
                        }
                        500 | 502 | 503 | 504 => {
                            let reason = format!("HTTP {status} {}", err.status_or("UNAVAILABLE"));
                            transient_failure(&policy, &mut transient, reason)?
                        }
                        401 if creds.refreshes() && !reauthorised => {
                            reauthorised = true;
                            continue;
                        }
                        _ => return Err(rejected(status, &err, project).into()),
                    }
                }
            };
            self.wait_and_retry(started, wait, reason).await?;
        }
    }

    /// Waits `wait` (cut to what is left of the deadline) before the next attempt, or
    /// gives up when the deadline has passed.
    async fn wait_and_retry(
        &mut self,
        started: Instant,
        wait: Duration,
        reason: String,
    ) -> std::result::Result<(), Stop> {
        let elapsed = started.elapsed();
        let Some(left) = self
            .req
            .retry
            .deadline
            .checked_sub(elapsed)
            .filter(|d| !d.is_zero())
        else {
            return Err(Error::RetryDeadline {
                waited: elapsed.as_secs(),
                last: reason,
            }
            .into());
        };
        let wait = wait.min(left);
        self.stats.retries += 1;
        self.send(Event::Retry { reason, wait }).await?;
        // Wake early when the reader goes away (it stopped on an error of its own).
        if tokio::time::timeout(wait, self.tx.closed()).await.is_ok() {
            return Err(Stop::Cancelled);
        }
        Ok(())
    }
}

impl ErrorStatus {
    fn status_or<'a>(&'a self, default: &'a str) -> &'a str {
        if self.status.is_empty() {
            default
        } else {
            &self.status
        }
    }
}

/// Counts a transient failure: the backoff before the next attempt, or the error when
/// the attempts are used up.
fn transient_failure(
    policy: &RetryPolicy,
    transient: &mut u32,
    reason: String,
) -> std::result::Result<(Duration, String), Stop> {
    *transient += 1;
    if *transient >= policy.transient_attempts {
        return Err(Error::LoggingUnavailable {
            attempts: *transient,
            last: reason,
        }
        .into());
    }
    Ok((backoff(policy.transient_base, *transient, 30), reason))
}

/// A non-retryable answer, with what to do about it.
fn rejected(status: u16, err: &ErrorStatus, project: &str) -> Error {
    let message = if err.message.is_empty() {
        "(no message)".to_string()
    } else {
        err.message.clone()
    };
    if status == 400 {
        return Error::BadFilter { message };
    }
    let hint = match (status, err.reason()) {
        (403, Some("SERVICE_DISABLED")) => {
            format!("enable the Cloud Logging API (logging.googleapis.com) in project {project}")
        }
        (403, _) => format!(
            "the caller needs logging.logEntries.list on projects/{project} (role roles/logging.viewer)"
        ),
        (401, _) => "the token was rejected: run `gcloud auth application-default login`, \
                     or refresh GOOGLE_OAUTH_ACCESS_TOKEN"
            .to_string(),
        (404, _) => format!("check the project id ({project})"),
        _ => String::new(),
    };
    Error::LoggingRejected {
        status,
        status_name: err.status_or("").to_string(),
        message,
        hint,
    }
}

/// `base × 2^(attempt-1)`, capped, with full jitter in its upper half.
fn backoff(base: Duration, attempt: u32, cap_secs: u64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(Duration::from_secs(cap_secs));
    capped.mul_f64(0.5 + fastrand::f64() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_with_jitter() {
        for attempt in 1..20 {
            let d = backoff(Duration::from_millis(500), attempt, 30);
            let full = Duration::from_millis(500)
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(Duration::from_secs(30));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn retry_info_delay_is_read_from_the_error_body() {
        let body: ErrorBody = serde_json::from_str(
            r#"{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[
                {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED"},
                {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}"#,
        )
        .unwrap();
        assert_eq!(body.error.retry_delay(), Some(Duration::from_millis(1500)));
        assert_eq!(body.error.reason(), Some("RATE_LIMIT_EXCEEDED"));
    }

    #[test]
    fn rejections_say_what_to_do() {
        let err = ErrorStatus {
            message: "Permission denied".into(),
            status: "PERMISSION_DENIED".into(),
            details: Vec::new(),
        };
        let e = rejected(403, &err, "p1");
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("roles/logging.viewer"));
        let bad = rejected(400, &err, "p1");
        assert_eq!(bad.exit_code(), 2);
    }
}
