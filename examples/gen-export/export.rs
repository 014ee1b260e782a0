//! A synthetic Cloud Run export: deterministic for a seed, shaped like what
//! `gcloud logging read --format=json` and a log sink write.
//!
//! Mix per entry: about 70% request logs (mostly 2xx, some 4xx and 5xx, each 5xx on
//! the trace of an application error just before it), 15% application stdout
//! (text and structured), 15% errors drawn from `signatures` distinct problems with
//! variable ids, numbers, paths and addresses. Errors come as structured payloads,
//! plain stderr lines, Python tracebacks in one entry, and Node stacks split over one
//! entry per line. Timestamps rise over `days` from midnight UTC of 2026-11-20 (one day
//! by default); each service deploys a new revision half-way through.

// Clocks and skews are drawn as floats and cut to whole microseconds and indices on
// purpose; the envelope takes every field an entry's origin has.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::too_many_arguments
)]

use serde_json::{Value, json};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    /// Entries to write (a split stack counts each of its lines).
    pub(crate) entries: u64,
    /// Distinct error signatures.
    pub(crate) signatures: u32,
    /// Seed: the same seed gives the same bytes.
    pub(crate) seed: u64,
    /// Days the timestamps span: fewer for a busier service, more for a longer export.
    pub(crate) days: f64,
}

const PROJECT: &str = "acme-prod";
const SERVICES: [&str; 3] = ["orders-api", "billing-worker", "web-frontend"];
const VERBS: [&str; 20] = [
    "load", "save", "refresh", "decode", "encode", "publish", "fetch", "sync", "resolve",
    "validate", "reserve", "charge", "render", "index", "migrate", "archive", "lock", "notify",
    "parse", "schedule",
];
const NOUNS: [&str; 25] = [
    "order",
    "invoice",
    "customer",
    "cart",
    "session",
    "token",
    "receipt",
    "shipment",
    "coupon",
    "ledger",
    "account",
    "profile",
    "webhook",
    "report",
    "catalog",
    "price",
    "refund",
    "payout",
    "address",
    "subscription",
    "voucher",
    "inventory",
    "quote",
    "tenant",
    "badge",
];
const COMPONENTS: [&str; 24] = [
    "checkout",
    "payments",
    "search",
    "mailer",
    "auth",
    "gateway",
    "scheduler",
    "exporter",
    "importer",
    "pricing",
    "tax",
    "shipping",
    "loyalty",
    "fraud",
    "ledger",
    "notifier",
    "catalog",
    "reports",
    "admin",
    "storefront",
    "webhooks",
    "billing",
    "accounts",
    "audit",
];
const PY_EXCEPTIONS: [&str; 8] = [
    "ValueError",
    "KeyError",
    "RuntimeError",
    "TypeError",
    "AttributeError",
    "ConnectionError",
    "TimeoutError",
    "PermissionError",
];
const JS_ERRORS: [&str; 4] = ["Error", "TypeError", "RangeError", "SyntaxError"];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Google-Cloud-Scheduler",
    "python-requests/2.32.3",
];
const ROUTES: [&str; 6] = [
    "/api/orders/{id}",
    "/api/customers/{id}/invoices",
    "/api/cart",
    "/healthz",
    "/api/search?q=shoes&page={n}",
    "/static/app.{hex}.js",
];

/// One generated entry, or several for a split stack.
pub(crate) struct Generator {
    spec: Spec,
    rng: fastrand::Rng,
    /// Seconds since the first midnight, as a float with microseconds.
    clock: f64,
    step: f64,
    /// Half of the span: where the new revisions start.
    half: f64,
    written: u64,
    pending: std::collections::VecDeque<Value>,
    /// The trace of the last application error per service, for the next 5xx.
    last_error_trace: [Option<String>; 3],
}

impl Generator {
    /// A generator for `spec`.
    pub(crate) fn new(spec: Spec) -> Generator {
        Generator {
            spec,
            rng: fastrand::Rng::with_seed(spec.seed),
            clock: 0.0,
            step: spec.days * 86_400.0 / spec.entries.max(1) as f64,
            half: spec.days * 43_200.0,
            written: 0,
            pending: std::collections::VecDeque::new(),
            last_error_trace: [None, None, None],
        }
    }

    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.rng.u32(0..16), 16).unwrap_or('0'))
            .collect()
    }

    fn timestamp(&self, offset_us: u64) -> String {
        /// Midnight UTC, 2026-11-20, in Unix seconds.
        const START: i64 = 1_795_132_800;
        let us = (self.clock * 1e6) as u64 + offset_us;
        let secs = i64::try_from(us / 1_000_000).unwrap_or(i64::MAX);
        let at =
            chrono::DateTime::from_timestamp(START.saturating_add(secs), 0).unwrap_or_default();
        format!("{}.{:06}Z", at.format("%Y-%m-%dT%H:%M:%S"), us % 1_000_000)
    }

    /// The service, revision and instance an entry comes from.
    fn origin(&mut self) -> (usize, String, String) {
        let svc = self.rng.usize(0..SERVICES.len());
        let late = self.clock >= self.half;
        let rev = format!(
            "{}-{:05}-{}",
            SERVICES[svc],
            41 + usize::from(late),
            ["kiz", "vex"][usize::from(late)]
        );
        // Four instances per revision, with ids as long as Cloud Run's.
        let inst = self.rng.u64(0..4) + 4 * u64::from(late) + 8 * svc as u64;
        let instance = format!(
            "0069c7a988{:0>54}",
            format!("{:x}", inst.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        );
        (svc, rev, instance)
    }

    fn envelope(
        &mut self,
        log: &str,
        svc: usize,
        rev: &str,
        instance: &str,
        severity: Option<&str>,
        trace: Option<&str>,
        offset_us: u64,
    ) -> Value {
        let ts = self.timestamp(offset_us);
        let delay = 40_000 + self.rng.u64(0..20_000);
        let received = self.timestamp(offset_us + delay);
        let mut e = json!({
            "insertId": self.hex(14),
            "labels": {"instanceId": instance},
            "logName": format!("projects/{PROJECT}/logs/run.googleapis.com%2F{log}"),
            "receiveTimestamp": received,
            "resource": {
                "labels": {
                    "configuration_name": SERVICES[svc],
                    "location": "us-central1",
                    "project_id": PROJECT,
                    "revision_name": rev,
                    "service_name": SERVICES[svc],
                },
                "type": "cloud_run_revision",
            },
            "timestamp": ts,
        });
        if let Some(s) = severity {
            e["severity"] = json!(s);
        }
        if let Some(t) = trace {
            e["trace"] = json!(format!("projects/{PROJECT}/traces/{t}"));
            e["spanId"] = json!(self.hex(16));
            e["traceSampled"] = json!(true);
        }
        e
    }

    fn request(&mut self) -> Value {
        let (svc, rev, instance) = self.origin();
        let roll = self.rng.u32(0..1000);
        let (status, severity) = match roll {
            0..=29 => ([500, 502, 503, 504][self.rng.usize(0..4)], "ERROR"),
            30..=99 => ([400, 401, 403, 404, 429][self.rng.usize(0..5)], "WARNING"),
            _ => ([200, 200, 200, 201, 204, 304][self.rng.usize(0..6)], "INFO"),
        };
        let trace = match (status >= 500, self.last_error_trace[svc].take()) {
            (true, Some(t)) => t,
            _ => self.hex(32),
        };
        let route = ROUTES[self.rng.usize(0..ROUTES.len())]
            .replace("{id}", &self.rng.u32(1..2_000_000).to_string())
            .replace("{n}", &self.rng.u32(1..50).to_string())
            .replace("{hex}", &self.hex(8));
        let mut e = self.envelope(
            "requests",
            svc,
            &rev,
            &instance,
            Some(severity),
            Some(&trace),
            0,
        );
        let method = ["GET", "GET", "GET", "POST", "PUT"][self.rng.usize(0..5)];
        let latency = self.rng.f64() * if status >= 500 { 2.0 } else { 0.3 };
        e["httpRequest"] = json!({
            "latency": format!("{latency:.6}s"),
            "protocol": "HTTP/1.1",
            "remoteIp": format!("203.0.113.{}", self.rng.u8(1..255)),
            "requestMethod": method,
            "requestSize": self.rng.u32(200..2000).to_string(),
            "requestUrl": format!("https://{}-3kq7xw5hqa-uc.a.run.app{route}", SERVICES[svc]),
            "responseSize": self.rng.u32(100..90_000).to_string(),
            "serverIp": "216.239.32.53",
            "status": status,
            "userAgent": AGENTS[self.rng.usize(0..AGENTS.len())],
        });
        e
    }

    fn stdout(&mut self) -> Value {
        let (svc, rev, instance) = self.origin();
        let n = self.rng.u32(1..1_000_000);
        let ms = self.rng.u32(1..900);
        if self.rng.bool() {
            let text = match self.rng.u32(0..3) {
                0 => format!(
                    "INFO:     169.254.1.1:{} - \"GET /healthz HTTP/1.1\" 200 OK",
                    self.rng.u32(30_000..60_000)
                ),
                1 => format!("order {n} created in {ms}ms"),
                _ => format!("cache hit ratio 0.{ms} over {n} keys"),
            };
            let mut e = self.envelope("stdout", svc, &rev, &instance, None, None, 0);
            e["textPayload"] = json!(text);
            e
        } else {
            let trace = self.hex(32);
            let what = ["checkout", "refund", "lookup"][self.rng.usize(0..3)];
            let mut e = self.envelope(
                "stdout",
                svc,
                &rev,
                &instance,
                Some("INFO"),
                Some(&trace),
                0,
            );
            e["jsonPayload"] = json!({
                "message": format!("handled {what} for customer {n} in {ms} ms"),
                "severity": "INFO",
                "logger": "app.http",
                "customer_id": n,
                "duration_ms": ms,
            });
            e
        }
    }

    /// A signature index, skewed so that a few signatures dominate (Zipf-like).
    fn signature(&mut self) -> u32 {
        let k = f64::from(self.spec.signatures.max(1));
        let u = self.rng.f64();
        ((k.powf(u) - 1.0) as u32).min(self.spec.signatures.max(1) - 1)
    }

    fn error(&mut self) {
        let (svc, rev, instance) = self.origin();
        let sig = self.signature() as usize;
        let verb = VERBS[sig % VERBS.len()];
        let noun = NOUNS[(sig / VERBS.len()) % NOUNS.len()];
        let comp = COMPONENTS[(sig / (VERBS.len() * NOUNS.len())) % COMPONENTS.len()];
        let trace = self.hex(32);
        self.last_error_trace[svc] = Some(trace.clone());
        let id = self.rng.u32(1..10_000_000);
        let path = format!("/var/data/{comp}/{}/{id}.json", self.hex(8));
        let addr = format!(
            "10.{}.{}.{}:{}",
            self.rng.u8(0..255),
            self.rng.u8(0..255),
            self.rng.u8(1..255),
            self.rng.u16(1024..65535)
        );
        let line = 20 + (sig * 7) % 400;
        let shape = sig % 4;
        // Shapes 0 to 2 are one ERROR entry on the request's trace; 3 is a split stack.
        let mut e = if shape < 3 {
            self.envelope(
                "stderr",
                svc,
                &rev,
                &instance,
                Some("ERROR"),
                Some(&trace),
                0,
            )
        } else {
            Value::Null
        };
        match shape {
            0 => {
                e["jsonPayload"] = json!({
                    "message": format!("{comp}: could not {verb} {noun} {id} from {addr}: upstream returned {}", 500 + id % 4),
                    "severity": "ERROR",
                    "logger": format!("app.{comp}"),
                    "error": {"kind": "UpstreamError", "attempt": id % 5},
                    "logging.googleapis.com/sourceLocation": {"file": format!("/app/src/{comp}/{noun}.py"), "line": line.to_string(), "function": format!("{verb}_{noun}")},
                });
                self.pending.push_back(e);
            }
            1 => {
                e["textPayload"] = json!(format!(
                    "ERROR [{comp}] failed to {verb} {noun} id={id} path={path} after {} ms",
                    self.rng.u32(5..30_000)
                ));
                self.pending.push_back(e);
            }
            2 => {
                let exc = PY_EXCEPTIONS[(sig / 4) % PY_EXCEPTIONS.len()];
                let text = format!(
                    "Traceback (most recent call last):\n  File \"/usr/local/lib/python3.12/site-packages/starlette/routing.py\", line 74, in app\n    response = await func(request)\n  File \"/app/src/{comp}/handlers.py\", line {}, in handle_{noun}\n    return await {verb}_{noun}(req)\n  File \"/app/src/{comp}/{noun}.py\", line {line}, in {verb}_{noun}\n    raise {exc}(msg)\n{exc}: cannot {verb} {noun} {id} at {path}",
                    line + 3
                );
                e["textPayload"] = json!(text);
                self.pending.push_back(e);
            }
            _ => {
                let err = JS_ERRORS[(sig / 4) % JS_ERRORS.len()];
                let lines = [
                    format!("{err}: {verb} {noun} failed for {id} ({addr})"),
                    format!("    at {verb}{noun} (/app/src/{comp}/{noun}.js:{line}:17)"),
                    format!("    at async Router.handle (/app/src/{comp}/router.js:{}:5)", line / 2 + 11),
                    "    at async Promise.all (index 0)".to_string(),
                    "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)".to_string(),
                ];
                for (i, text) in lines.into_iter().enumerate() {
                    let mut e =
                        self.envelope("stderr", svc, &rev, &instance, None, None, i as u64 * 3);
                    e["textPayload"] = json!(text);
                    self.pending.push_back(e);
                }
            }
        }
    }
}

impl Iterator for Generator {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.written >= self.spec.entries {
            return None;
        }
        if self.pending.is_empty() {
            self.clock += self.step * (0.5 + self.rng.f64());
            match self.rng.u32(0..100) {
                0..=69 => {
                    let e = self.request();
                    self.pending.push_back(e);
                }
                70..=84 => {
                    let e = self.stdout();
                    self.pending.push_back(e);
                }
                _ => self.error(),
            }
        }
        self.written += 1;
        self.pending.pop_front()
    }
}
