//! The `LogEntry` model: what a Cloud Logging entry carries and the one place that turns
//! it into what the pipeline needs (message, severity, service, instance, trace, ...).
//!
//! Input: a raw JSON `LogEntry` (API response, gcloud export, sink export) or a plain
//! text line. Output: [`Entry`], owned and normalised. Parsing is lenient: every field
//! may be absent, int64 fields may be strings or numbers, unknown keys are ignored.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// Cloud Logging severities, ordered by their numeric value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// No severity (0): plain stdout/stderr lines.
    #[default]
    Default,
    /// 100
    Debug,
    /// 200
    Info,
    /// 300
    Notice,
    /// 400
    Warning,
    /// 500
    Error,
    /// 600
    Critical,
    /// 700
    Alert,
    /// 800
    Emergency,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 9] = [
        Severity::Default,
        Severity::Debug,
        Severity::Info,
        Severity::Notice,
        Severity::Warning,
        Severity::Error,
        Severity::Critical,
        Severity::Alert,
        Severity::Emergency,
    ];

    /// The API's name for this severity.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Default => "DEFAULT",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Notice => "NOTICE",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR",
            Severity::Critical => "CRITICAL",
            Severity::Alert => "ALERT",
            Severity::Emergency => "EMERGENCY",
        }
    }

    /// Parses a severity name or a common logging-library variant
    /// (`warn`, `err`, `fatal`, `trace`, ...), case-insensitively.
    pub fn parse_name(s: &str) -> Option<Severity> {
        let upper = s.trim().to_ascii_uppercase();
        Some(match upper.as_str() {
            "DEFAULT" => Severity::Default,
            "DEBUG" | "TRACE" | "FINE" | "FINER" | "FINEST" | "VERBOSE" => Severity::Debug,
            "INFO" | "INFORMATION" | "INFORMATIONAL" => Severity::Info,
            "NOTICE" => Severity::Notice,
            "WARNING" | "WARN" => Severity::Warning,
            "ERROR" | "ERR" | "SEVERE" => Severity::Error,
            "CRITICAL" | "FATAL" | "CRIT" | "PANIC" => Severity::Critical,
            "ALERT" => Severity::Alert,
            "EMERGENCY" | "EMERG" => Severity::Emergency,
            _ => return None,
        })
    }

    /// Maps a numeric severity (0, 100, ..., 800) to the nearest level at or below it.
    pub fn from_number(n: i64) -> Severity {
        let idx = usize::try_from(n.clamp(0, 800) / 100).unwrap_or(0);
        Severity::ALL[idx]
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `LogEntry` as it appears in JSON. Every field is optional. Strings borrow from
/// the input where they carry no escapes; only the label keys the pipeline reads are
/// kept.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawEntry<'a> {
    #[serde(borrow)]
    log_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    resource: Option<RawResource<'a>>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    receive_timestamp: Option<Cow<'a, str>>,
    #[serde(deserialize_with = "lenient_severity")]
    severity: Option<Severity>,
    #[serde(borrow)]
    insert_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    http_request: Option<RawHttpRequest<'a>>,
    #[serde(borrow)]
    labels: Option<RawLabels<'a>>,
    #[serde(borrow)]
    trace: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source_location: Option<RawSourceLocation<'a>>,
    error_groups: Option<Vec<RawErrorGroup>>,
    #[serde(borrow)]
    text_payload: Option<Cow<'a, str>>,
    json_payload: Option<Value>,
    proto_payload: Option<Value>,
    // The keys of a wrapper of entries: an object that names one at its top level may
    // be a list of entries rather than one entry.
    entries: Option<IgnoredAny>,
    result: Option<IgnoredAny>,
    log_entries: Option<IgnoredAny>,
}

impl RawEntry<'_> {
    /// Whether the object names `entries`, `result` or `logEntries` (with a value
    /// other than null) at its top level, as a wrapper of entries does.
    pub fn names_a_wrapper_key(&self) -> bool {
        self.entries.is_some() || self.result.is_some() || self.log_entries.is_some()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawResource<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    labels: Option<ResourceLabels<'a>>,
}

/// The entry labels the pipeline reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawLabels<'a> {
    #[serde(rename = "instanceId", borrow)]
    instance_id: Label<'a>,
}

/// The resource labels the pipeline reads (Cloud Run, GAE, functions, GKE, GCE).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResourceLabels<'a> {
    #[serde(borrow)]
    service_name: Label<'a>,
    #[serde(borrow)]
    job_name: Label<'a>,
    #[serde(borrow)]
    module_id: Label<'a>,
    #[serde(borrow)]
    function_name: Label<'a>,
    #[serde(borrow)]
    container_name: Label<'a>,
    #[serde(borrow)]
    revision_name: Label<'a>,
    #[serde(borrow)]
    version_id: Label<'a>,
    #[serde(borrow)]
    location: Label<'a>,
    #[serde(borrow)]
    region: Label<'a>,
    #[serde(borrow)]
    zone: Label<'a>,
    #[serde(borrow)]
    pod_name: Label<'a>,
    #[serde(borrow)]
    instance_id: Label<'a>,
}

/// A label value: a string, or a number or boolean in its JSON spelling; anything
/// else (null, objects, arrays) counts as absent.
#[derive(Debug, Default)]
struct Label<'a>(Option<Cow<'a, str>>);

impl Label<'_> {
    fn get(&self) -> Option<String> {
        self.0.as_deref().map(str::to_string)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Label<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Label<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a label value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Label(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Label(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Label(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Label(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Label(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Label(Some(Cow::Owned(
                    serde_json::Number::from_f64(v).map_or_else(String::new, |n| n.to_string()),
                ))))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Label(None))
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Label(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Label(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Label(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawHttpRequest<'a> {
    #[serde(borrow)]
    request_method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    request_url: Option<Cow<'a, str>>,
    #[serde(deserialize_with = "lenient_i64")]
    status: Option<i64>,
    #[serde(borrow)]
    user_agent: Option<Cow<'a, str>>,
    /// Read (into a value) only for the request logs that are kept.
    #[serde(borrow)]
    latency: Option<&'a RawValue>,
    #[serde(borrow)]
    protocol: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawSourceLocation<'a> {
    #[serde(borrow)]
    file: Option<Cow<'a, str>>,
    #[serde(deserialize_with = "lenient_i64")]
    line: Option<i64>,
    #[serde(borrow)]
    function: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawErrorGroup {
    id: Option<String>,
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64().or_else(|| {
            #[allow(clippy::cast_possible_truncation)]
            // a float status/line is truncated on purpose
            n.as_f64().map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A severity given by name or number; any other value (a float, null, an object)
/// counts as absent.
fn lenient_severity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Severity>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Option<Severity>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a severity")
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Severity::parse_name(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Severity::from_number(v)))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(i64::try_from(v).ok().map(Severity::from_number))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// Where the severity of an entry came from (shown by `rules explain` and useful in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeveritySource {
    /// The entry's own `severity` field.
    Entry,
    /// A `level`/`severity`/`levelname` field inside `jsonPayload`.
    Payload,
    /// The HTTP status of a request log (5xx ERROR, 4xx WARNING).
    HttpStatus,
    /// A level prefix or a traceback in the text itself.
    Text,
    /// A matching rule's severity floor.
    Rule,
    /// Nothing said anything: DEFAULT.
    #[default]
    None,
}

/// An HTTP request attached to an entry (request logs).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HttpInfo {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Full request URL (redacted before it is shown).
    pub url: String,
    /// HTTP status, 0 when absent.
    pub status: u16,
    /// User agent, empty when absent.
    pub user_agent: String,
    /// Latency in milliseconds, when the entry had one.
    pub latency_ms: Option<f64>,
    /// `HTTP/1.1`, `websocket`, ...
    pub protocol: String,
}

/// A decision a later stage made about an entry ahead of time, carried with it.
pub type Ahead = std::sync::Arc<dyn std::any::Any + Send + Sync>;

/// A normalised log entry: everything later stages read.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// 1-based position of the (first) raw entry in its input.
    pub index: u64,
    /// `insertId`, when present.
    pub insert_id: Option<String>,
    /// Entry timestamp (falls back to `receiveTimestamp`).
    pub timestamp: Option<DateTime<Utc>>,
    /// Effective severity after all fallbacks but the rule floor.
    pub severity: Severity,
    /// Where `severity` came from.
    pub severity_source: SeveritySource,
    /// The human message (may be multi-line; continuation lines are appended).
    pub message: String,
    /// Decoded log id (`run.googleapis.com/stderr`), or empty.
    pub log_id: String,
    /// `resource.type`.
    pub resource_type: String,
    /// Service: Cloud Run service or job, GAE module, function, k8s container.
    pub service: Option<String>,
    /// Revision (Cloud Run revision, GAE version).
    pub revision: Option<String>,
    /// Region or zone.
    pub location: Option<String>,
    /// Instance id (`labels.instanceId`, pod name).
    pub instance: Option<String>,
    /// Trace id (the last path segment of `trace`).
    pub trace: Option<String>,
    /// First `errorGroups[].id`.
    pub error_group: Option<String>,
    /// `file:line (function)` from `sourceLocation`.
    pub source_location: Option<String>,
    /// The request, for request logs.
    pub http: Option<HttpInfo>,
    /// Whether the entry has a payload (false for pure request logs).
    pub has_payload: bool,
    /// What a later stage decided about `message` as read, when a parsing thread
    /// decided it ahead (the clusterer's verdict); opaque here, so the entry model
    /// depends on no stage after it. Ignored once stitching has changed the message.
    pub ahead: Option<Ahead>,
}

impl Entry {
    /// Whether a matching rule's severity floor may raise this entry's severity: it is
    /// below WARNING by anything but an HTTP status (unlevelled, or logged at INFO or
    /// lower while the rule knows the message as an error).
    pub fn rule_may_lift(&self) -> bool {
        self.severity < Severity::Warning && self.severity_source != SeveritySource::HttpStatus
    }

    /// Whether this is a platform request log (an `httpRequest` and no payload).
    pub fn is_request_log(&self) -> bool {
        self.http.is_some() && !self.has_payload
    }

    /// Builds an entry from one line of a plain-text log.
    pub fn from_text(index: u64, line: &str) -> Entry {
        let message = strip_ansi(line.trim_end_matches(['\r', '\n'])).into_owned();
        let (severity, severity_source) = match severity_from_text(&message) {
            Some(s) => (s, SeveritySource::Text),
            None => (Severity::Default, SeveritySource::None),
        };
        Entry {
            index,
            timestamp: timestamp_from_text(&message),
            severity,
            severity_source,
            message,
            log_id: "text".to_string(),
            has_payload: true,
            ..Entry::default()
        }
    }

    /// Normalises a raw JSON entry.
    pub fn from_raw(index: u64, raw: RawEntry<'_>) -> Entry {
        Self::from_raw_with(index, raw, None)
    }

    /// [`Entry::from_raw`], except that a request log under HTTP 500 and below
    /// `counted_below`, which downstream only counts, keeps just its time, severity,
    /// revision and status: what [`crate::cluster::prepare`] would leave of it, without
    /// building the strings first.
    pub fn from_raw_with(index: u64, raw: RawEntry<'_>, counted_below: Option<Severity>) -> Entry {
        if let Some(below) = counted_below
            && let Some(h) = &raw.http_request
            && raw.text_payload.is_none()
            && raw.json_payload.is_none()
            && raw.proto_payload.is_none()
        {
            let status = h
                .status
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or_default();
            let http = HttpInfo {
                status,
                ..HttpInfo::default()
            };
            // No payload: the message is empty, as `extract_message` would make it.
            let (severity, severity_source) =
                effective_severity(raw.severity, None, Some(&http), "");
            if status < 500 && severity < below {
                let rl = raw.resource.and_then(|r| r.labels).unwrap_or_default();
                return Entry {
                    index,
                    timestamp: entry_time(
                        raw.timestamp.as_deref(),
                        raw.receive_timestamp.as_deref(),
                    ),
                    severity,
                    severity_source,
                    revision: revision_of(&rl),
                    http: Some(http),
                    has_payload: false,
                    ..Entry::default()
                };
            }
        }
        let labels = raw.labels.unwrap_or_default();
        let (resource_type, rl) = match raw.resource {
            Some(r) => (
                r.kind.map(Cow::into_owned).unwrap_or_default(),
                r.labels.unwrap_or_default(),
            ),
            None => (String::new(), ResourceLabels::default()),
        };
        let some = |l: &Label<'_>| l.get().filter(|s| !s.is_empty());
        let service = some(&rl.service_name)
            .or_else(|| some(&rl.job_name))
            .or_else(|| some(&rl.module_id))
            .or_else(|| some(&rl.function_name))
            .or_else(|| some(&rl.container_name));
        let revision = revision_of(&rl);
        let location = some(&rl.location)
            .or_else(|| some(&rl.region))
            .or_else(|| some(&rl.zone));
        let instance = labels
            .instance_id
            .get()
            .or_else(|| some(&rl.pod_name))
            .or_else(|| some(&rl.instance_id));

        let has_payload =
            raw.text_payload.is_some() || raw.json_payload.is_some() || raw.proto_payload.is_some();
        let message = extract_message(
            raw.text_payload.as_deref(),
            raw.json_payload.as_ref(),
            raw.proto_payload.as_ref(),
        );

        let http = raw.http_request.map(|h| HttpInfo {
            method: h.request_method.map(Cow::into_owned).unwrap_or_default(),
            url: h.request_url.map(Cow::into_owned).unwrap_or_default(),
            status: h
                .status
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or_default(),
            user_agent: h.user_agent.map(Cow::into_owned).unwrap_or_default(),
            latency_ms: h
                .latency
                .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
                .as_ref()
                .and_then(parse_latency_ms),
            protocol: h.protocol.map(Cow::into_owned).unwrap_or_default(),
        });

        let (severity, severity_source) = effective_severity(
            raw.severity,
            raw.json_payload.as_ref(),
            http.as_ref(),
            &message,
        );

        let timestamp = entry_time(raw.timestamp.as_deref(), raw.receive_timestamp.as_deref());

        let source_location = raw.source_location.and_then(|s| {
            let file = s.file?;
            let line = s.line.map_or(String::new(), |l| format!(":{l}"));
            let func = s
                .function
                .filter(|f| !f.is_empty())
                .map_or(String::new(), |f| format!(" ({f})"));
            Some(format!("{file}{line}{func}"))
        });

        Entry {
            index,
            insert_id: raw.insert_id.filter(|s| !s.is_empty()).map(Cow::into_owned),
            timestamp,
            severity,
            severity_source,
            message,
            log_id: raw.log_name.as_deref().map(log_id).unwrap_or_default(),
            resource_type,
            service,
            revision,
            location,
            instance,
            trace: raw
                .trace
                .filter(|t| !t.is_empty())
                .map(|t| t.rsplit('/').next().unwrap_or(&t).to_string()),
            error_group: raw
                .error_groups
                .and_then(|g| g.into_iter().find_map(|g| g.id)),
            source_location,
            http,
            has_payload,
            ahead: None,
        }
    }
}

/// The revision (Cloud Run) or version (App Engine) an entry comes from.
fn revision_of(rl: &ResourceLabels<'_>) -> Option<String> {
    let some = |l: &Label<'_>| l.get().filter(|s| !s.is_empty());
    some(&rl.revision_name).or_else(|| some(&rl.version_id))
}

/// The entry's `timestamp`, else its `receiveTimestamp`.
fn entry_time(timestamp: Option<&str>, received: Option<&str>) -> Option<DateTime<Utc>> {
    timestamp
        .and_then(parse_time)
        .or_else(|| received.and_then(parse_time))
}

/// Decodes the log id from a `logName` (`projects/P/logs/run.googleapis.com%2Fstderr`).
fn log_id(log_name: &str) -> String {
    let id = log_name.split_once("/logs/").map_or(log_name, |(_, id)| id);
    // `%2F` or `%2f` becomes `/`, in one pass.
    let mut out = String::with_capacity(id.len());
    let mut rest = id;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("%2F") || tail.starts_with("%2f") {
            out.push('/');
            rest = &tail[3..];
        } else {
            out.push('%');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Parses an RFC 3339 timestamp (any fractional precision, `Z` or offset).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn parse_latency_ms(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => s
            .trim()
            .strip_suffix('s')?
            .parse::<f64>()
            .ok()
            .map(|x| x * 1000.0),
        Value::Object(o) => {
            let secs = o.get("seconds").and_then(|s| match s {
                Value::String(s) => s.parse::<f64>().ok(),
                Value::Number(n) => n.as_f64(),
                _ => None,
            });
            let nanos = o.get("nanos").and_then(Value::as_f64).unwrap_or(0.0);
            secs.map(|s| s * 1000.0 + nanos / 1e6)
        }
        _ => None,
    }
}

/// Keys of `jsonPayload` that hold the human message, in the order they are tried.
const MESSAGE_KEYS: [&str; 6] = ["message", "msg", "error", "err", "exception", "stack_trace"];
/// Keys that hold a stack trace to append to the message.
const TRACE_KEYS: [&str; 4] = ["stack_trace", "exception", "stack", "stacktrace"];

/// Terminal escape sequences (colours, cursor moves, titles) removed: loggers that
/// colour their output for a terminal write them into Cloud Logging too, and they
/// must reach no title, fingerprint or report. Borrows when there is none.
pub fn strip_ansi(text: &str) -> Cow<'_, str> {
    static RE: OnceLock<Regex> = OnceLock::new();
    if memchr::memchr(0x1b, text.as_bytes()).is_none() {
        return Cow::Borrowed(text);
    }
    let re = RE.get_or_init(|| {
        // CSI (`ESC [ … final`), OSC (`ESC ] … BEL` or `ESC \`), and two-byte escapes.
        Regex::new(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_]|.?)")
            .expect("the escape-sequence regex is a valid literal")
    });
    re.replace_all(text, "")
}

/// The one function that extracts the human message from an entry's payload, with
/// terminal escape sequences removed.
pub fn extract_message(text: Option<&str>, json: Option<&Value>, proto: Option<&Value>) -> String {
    let message = extract_raw_message(text, json, proto);
    match strip_ansi(&message) {
        Cow::Borrowed(_) => message,
        Cow::Owned(clean) => clean,
    }
}

fn extract_raw_message(text: Option<&str>, json: Option<&Value>, proto: Option<&Value>) -> String {
    if let Some(t) = text {
        return t.trim_end_matches(['\r', '\n']).to_string();
    }
    if let Some(Value::Object(map)) = json {
        let mut msg = MESSAGE_KEYS
            .iter()
            .find_map(|k| map.get(*k).and_then(message_value))
            .unwrap_or_default();
        for key in TRACE_KEYS {
            if let Some(trace) = map.get(key).and_then(message_value)
                && trace.contains('\n')
                && !msg.contains(trace.trim())
            {
                if !msg.is_empty() {
                    msg.push('\n');
                }
                msg.push_str(&trace);
            }
        }
        if msg.is_empty() {
            // No message key: show the payload itself, compactly.
            return serde_json::to_string(map).unwrap_or_default();
        }
        return msg;
    }
    if let Some(Value::String(s)) = json {
        return s.clone();
    }
    if let Some(Value::Object(p)) = proto {
        if let Some(m) = p
            .get("status")
            .and_then(|s| s.get("message"))
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            return m.to_string();
        }
        // App Engine request logs carry application lines in `line[]`.
        if let Some(Value::Array(lines)) = p.get("line") {
            let joined: Vec<&str> = lines
                .iter()
                .filter_map(|l| l.get("logMessage").and_then(Value::as_str))
                .collect();
            if !joined.is_empty() {
                return joined.join("\n");
            }
        }
        if let Some(method) = p.get("methodName").and_then(Value::as_str) {
            return method.to_string();
        }
    }
    String::new()
}

fn message_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Object(o) => o
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| serde_json::to_string(o).ok()),
        _ => None,
    }
}

fn effective_severity(
    entry: Option<Severity>,
    json: Option<&Value>,
    http: Option<&HttpInfo>,
    message: &str,
) -> (Severity, SeveritySource) {
    if let Some(s) = entry.filter(|s| *s != Severity::Default) {
        // A logger that writes everything at INFO (or DEBUG, NOTICE) while its payload
        // or the message's own level word says WARNING or worse: the stronger wins.
        if s < Severity::Warning {
            let said = payload_level(json)
                .map(|p| (p, SeveritySource::Payload))
                .into_iter()
                .chain(leading_level(message).map(|t| (t, SeveritySource::Text)))
                .filter(|(l, _)| *l >= Severity::Warning)
                .max_by_key(|(l, _)| *l);
            if let Some(stronger) = said {
                return stronger;
            }
        }
        return (s, SeveritySource::Entry);
    }
    if let Some(s) = payload_level(json) {
        return (s, SeveritySource::Payload);
    }
    if let Some(h) = http {
        if h.status >= 500 {
            return (Severity::Error, SeveritySource::HttpStatus);
        }
        if h.status >= 400 {
            return (Severity::Warning, SeveritySource::HttpStatus);
        }
    }
    if let Some(s) = severity_from_text(message) {
        return (s, SeveritySource::Text);
    }
    (Severity::Default, SeveritySource::None)
}

/// The level a `jsonPayload` states in `severity`, `level`, `levelname`, ... (names or
/// pino/bunyan numbers).
fn payload_level(json: Option<&Value>) -> Option<Severity> {
    if let Some(Value::Object(map)) = json {
        for key in ["severity", "level", "levelname", "log_level", "loglevel"] {
            let found = match map.get(key) {
                Some(Value::String(s)) => Severity::parse_name(s),
                Some(Value::Number(n)) => n.as_i64().map(|n| {
                    // pino/bunyan numeric levels: 10 trace .. 60 fatal
                    if n <= 60 {
                        match n {
                            ..=20 => Severity::Debug,
                            21..=30 => Severity::Info,
                            31..=40 => Severity::Warning,
                            41..=50 => Severity::Error,
                            _ => Severity::Critical,
                        }
                    } else {
                        Severity::from_number(n)
                    }
                }),
                _ => None,
            };
            if let Some(s) = found.filter(|s| *s != Severity::Default) {
                return Some(s);
            }
        }
    }
    None
}

fn level_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // A level word near the start of the first line, after an optional timestamp or
        // bracketed prefix: `[ERROR] x`, `ERROR: x`, `2025-01-01 10:00:00,1 WARN x`,
        // `[2025-12-01 22:50:40,589] [ERROR] [mod] x`, glog `E0102 12:00:00.1 ...`.
        Regex::new(
            r"^\s*(?:[\[(]?[0-9][0-9:./,T+ Z-]*[\])]?\s+){0,2}(?:\[[^\]\s]{1,40}\]\s*)?[\[(]?(?P<lvl>EMERGENCY|ALERT|CRITICAL|FATAL|PANIC|SEVERE|ERROR|ERR|WARNING|WARN|NOTICE|INFO|DEBUG|TRACE)\b|^\s*(?P<low>fatal|panic|error|warning)(?:\s+error)?:|^(?P<glog>[EWF])[0-9]{4} [0-9:.]+",
        )
        .expect("the level regex is a valid literal")
    })
}

/// The level word a logger put at the start of a line, after what loggers put before
/// it: timestamps, process ids, bracketed fields (`[Nest]`, `[main]`), `key=value`
/// fields, separators, and a logger name followed by a separator. Upper-case level
/// words anywhere in that prefix (`ERROR`, `WARN`, `ERR`, logrus' `ERRO[0000]`,
/// Monolog's `app.ERROR:`, Python's `ERROR:root:`), `level=error`, and a first word
/// `error:` / `Error:` in any case. `None` when the prefix ends without one.
pub fn leading_level(line: &str) -> Option<Severity> {
    let line = line.lines().next().unwrap_or("");
    let mut tokens = line.split_whitespace().take(12).peekable();
    let mut i = 0;
    while let Some(raw) = tokens.next() {
        let first = i == 0;
        i += 1;
        let tok = raw.trim_matches(|c: char| "[]()<>:,|".contains(c));
        if let Some(v) = tok
            .strip_prefix("level=")
            .or_else(|| tok.strip_prefix("lvl="))
            .or_else(|| tok.strip_prefix("severity="))
        {
            return Severity::parse_name(v.trim_matches('"'));
        }
        let upper_word = |w: &str| {
            (w.len() >= 3 && w.bytes().all(|b| b.is_ascii_uppercase()))
                .then(|| level_word(w))
                .flatten()
        };
        let head = tok.split([':', '[']).next().unwrap_or(tok);
        let tail = tok.rsplit('.').next().unwrap_or(tok);
        if let Some(l) = upper_word(tok)
            .or_else(|| upper_word(head))
            .or_else(|| upper_word(tail))
        {
            return Some(l);
        }
        if first
            && raw.ends_with(':')
            && let Some(l) =
                Severity::parse_name(raw.trim_end_matches(':')).filter(|l| *l >= Severity::Warning)
        {
            return Some(l);
        }
        let next = tokens.peek().copied().unwrap_or("");
        let separator = |t: &str| matches!(t, "-" | "--" | "---" | "|" | ":" | "::");
        let prefix = raw.starts_with(|c: char| c.is_ascii_digit())
            || raw.starts_with(['[', '(', '<', '#'])
            || raw.ends_with([']', ')', '>'])
            || separator(raw)
            || matches!(raw, "AM" | "PM")
            || raw.contains('=')
            || (raw.len() == 2
                && raw.ends_with(',')
                && raw.starts_with(|c: char| c.is_ascii_uppercase()))
            || (!raw.is_empty() && separator(next));
        if !prefix {
            break;
        }
    }
    None
}

/// Upper-case level words of the common loggers, with their short forms (zerolog's
/// `ERR`/`WRN`/`FTL`, logrus' `ERRO`/`WARN`).
fn level_word(w: &str) -> Option<Severity> {
    Some(match w {
        "EMERGENCY" | "EMERG" => Severity::Emergency,
        "ALERT" => Severity::Alert,
        "CRITICAL" | "CRIT" | "FATAL" | "FTL" | "PANIC" | "PNC" | "SEVERE" => Severity::Critical,
        "ERROR" | "ERR" | "ERRO" => Severity::Error,
        "WARNING" | "WARN" | "WRN" => Severity::Warning,
        "NOTICE" => Severity::Notice,
        "INFO" | "INF" => Severity::Info,
        "DEBUG" | "DBG" | "TRACE" | "TRC" => Severity::Debug,
        _ => return None,
    })
}

/// Severity from the text itself: a level prefix, a traceback, a Go panic.
pub fn severity_from_text(message: &str) -> Option<Severity> {
    let first = message.lines().next().unwrap_or("");
    if let Some(l) = leading_level(first) {
        return Some(l);
    }
    if let Some(c) = level_regex().captures(first) {
        if let Some(l) = c.name("lvl") {
            return Severity::parse_name(l.as_str());
        }
        if let Some(l) = c.name("low") {
            return Some(match l.as_str() {
                "fatal" | "panic" => Severity::Critical,
                "warning" => Severity::Warning,
                _ => Severity::Error,
            });
        }
        if let Some(g) = c.name("glog") {
            return Some(match g.as_str() {
                "E" => Severity::Error,
                "W" => Severity::Warning,
                _ => Severity::Critical,
            });
        }
    }
    if first.starts_with("Traceback (most recent call last)")
        || message.contains("\nTraceback (most recent call last)")
        || first.starts_with("Exception in thread")
        || first.starts_with("Unhandled exception")
        || first.starts_with("UnhandledPromiseRejection")
    {
        return Some(Severity::Error);
    }
    None
}

fn text_time_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^\s*\[?(\d{4}[-/]\d{2}[-/]\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?")
            .expect("the text timestamp regex is a valid literal")
    })
}

/// A leading timestamp on a plain-text line, read as UTC when it carries no offset.
pub fn timestamp_from_text(line: &str) -> Option<DateTime<Utc>> {
    let c = text_time_regex().captures(line)?;
    let date = c.get(1)?.as_str().replace('/', "-");
    let time = c.get(2)?.as_str();
    let frac = c
        .get(3)
        .map_or(String::new(), |f| format!(".{}", f.as_str()));
    let offset = match c.get(4).map(|m| m.as_str()) {
        None | Some("Z") => "Z".to_string(),
        Some(o) if o.contains(':') => o.to_string(),
        Some(o) => format!("{}:{}", &o[..3], &o[3..]),
    };
    parse_time(&format!("{date}T{time}{frac}{offset}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Entry {
        Entry::from_raw(1, serde_json::from_str(json).unwrap())
    }

    /// Lines in the shapes of common loggers (made up), and the level each states.
    const LOGGER_LINES: &[(&str, Severity)] = &[
        (
            "[Nest] 7  - 11/30/2026, 3:04:05 PM   ERROR [ExceptionHandler] Nest can't resolve dependencies of the BillingService (?).",
            Severity::Error,
        ),
        (
            "[Nest] 7  - 11/30/2026, 3:04:05 PM    WARN [RoutesResolver] duplicate route /v1/items",
            Severity::Warning,
        ),
        (
            "error: payment capture failed {\"orderId\":42}",
            Severity::Error,
        ),
        ("warn: slow query took 2300ms", Severity::Warning),
        (
            "[15:04:05.123] ERROR (4211): request failed",
            Severity::Error,
        ),
        (
            "2026/11/30 15:04:05 ERROR: dial tcp 10.0.0.3:5432: connect: connection refused",
            Severity::Error,
        ),
        (
            "2026-11-30T15:04:05.123Z\tERROR\tserver/handler.go:88\tcheckout failed",
            Severity::Error,
        ),
        (
            "3:04PM ERR checkout failed error=\"context deadline exceeded\"",
            Severity::Error,
        ),
        ("3:04PM WRN retrying attempt=2", Severity::Warning),
        (
            "time=\"2026-11-30T15:04:05Z\" level=error msg=\"db unavailable\"",
            Severity::Error,
        ),
        (
            "ERRO[0012] db unavailable                              attempt=3",
            Severity::Error,
        ),
        ("WARN[0003] config reload skipped", Severity::Warning),
        (
            "ERROR:orders.api:payment failed for cart 9",
            Severity::Error,
        ),
        (
            "2026-11-30 15:04:05,123 - orders.api - WARNING - retrying payment",
            Severity::Warning,
        ),
        (
            "2026-11-30T15:04:05.123Z ERROR 1 --- [orders] [nio-8080-exec-1] c.e.o.CheckoutController : Checkout failed",
            Severity::Error,
        ),
        (
            "15:04:05.123 [main] WARN  c.e.o.Startup - Slow start",
            Severity::Warning,
        ),
        (
            "E, [2026-11-30T15:04:05.123456 #12] ERROR -- : PG::ConnectionBad",
            Severity::Error,
        ),
        (
            "F, [2026-11-30T15:04:05.123456 #12] FATAL -- : boot failed",
            Severity::Critical,
        ),
        (
            "[2026-11-30 15:04:05] app.ERROR: Uncaught PDOException: SQLSTATE[HY000] [2002]",
            Severity::Error,
        ),
        (
            "ERROR:  column \"total_cents\" does not exist at character 8",
            Severity::Error,
        ),
        (
            "FATAL:  password authentication failed for user \"app\"",
            Severity::Critical,
        ),
        ("error: column \"x\" does not exist", Severity::Error),
        (
            "2026-11-30 15:04:05 INFO orders started on :8080",
            Severity::Info,
        ),
    ];

    #[test]
    fn loggers_levels_are_read_from_the_text_with_or_without_colour() {
        for (line, level) in LOGGER_LINES {
            let e = Entry::from_text(1, line);
            assert_eq!(
                (e.severity, e.severity_source),
                (*level, SeveritySource::Text),
                "{line}"
            );
            // The same line coloured for a terminal: level word and prefix in escapes.
            let coloured = line
                .replacen(' ', " \x1b[31m", 1)
                .replace("ERROR", "ERROR\x1b[39m")
                .replace("WARN", "\x1b[33mWARN");
            let e = Entry::from_text(1, &format!("\x1b[32m{coloured}\x1b[0m"));
            assert_eq!(e.severity, *level, "{coloured:?}");
            assert!(!e.message.contains('\x1b'), "{:?}", e.message);
        }
        for plain in [
            "Failed to start - ERROR code 5",
            "user ERROR count=3",
            "  at Object.<anonymous> (/app/index.js:10:5)",
            "  code: 'SQLITE_CORRUPT',",
            "Node.js v22.12.0",
            "2 ERRORS found in config",
        ] {
            assert_eq!(leading_level(plain), None, "{plain}");
        }
    }

    #[test]
    fn escapes_are_stripped_from_payloads_and_text() {
        assert_eq!(strip_ansi("\x1b[1;31mboom\x1b[0m done"), "boom done");
        assert_eq!(strip_ansi("\x1b]0;title\x07x"), "x");
        assert!(matches!(strip_ansi("plain"), Cow::Borrowed("plain")));
        let e = raw(r#"{"jsonPayload":{"message":"\u001b[31mfailed\u001b[39m to bind"}}"#);
        assert_eq!(e.message, "failed to bind");
    }

    #[test]
    fn a_stronger_payload_or_text_level_wins_over_info() {
        let e =
            raw(r#"{"severity":"INFO","jsonPayload":{"level":"error","message":"charge failed"}}"#);
        assert_eq!(
            (e.severity, e.severity_source),
            (Severity::Error, SeveritySource::Payload)
        );
        let e = raw(r#"{"severity":"INFO","textPayload":"WARN slow upstream"}"#);
        assert_eq!(
            (e.severity, e.severity_source),
            (Severity::Warning, SeveritySource::Text)
        );
        let e = raw(r#"{"severity":"INFO","textPayload":"INFO all good"}"#);
        assert_eq!(
            (e.severity, e.severity_source),
            (Severity::Info, SeveritySource::Entry)
        );
        // A stated WARNING or worse is never replaced.
        let e = raw(r#"{"severity":"WARNING","jsonPayload":{"level":"error","message":"x"}}"#);
        assert_eq!(
            (e.severity, e.severity_source),
            (Severity::Warning, SeveritySource::Entry)
        );
    }

    #[test]
    fn severity_falls_back_through_payload_http_and_text() {
        assert_eq!(
            raw(r#"{"severity":"ERROR","textPayload":"x"}"#).severity,
            Severity::Error
        );
        let e = raw(r#"{"jsonPayload":{"level":"ERROR","message":"boom"}}"#);
        assert_eq!(
            (e.severity, e.severity_source),
            (Severity::Error, SeveritySource::Payload)
        );
        assert_eq!(e.message, "boom");
        let e = raw(r#"{"httpRequest":{"status":503}}"#);
        assert_eq!(
            (e.severity, e.severity_source),
            (Severity::Error, SeveritySource::HttpStatus)
        );
        assert_eq!(
            raw(r#"{"httpRequest":{"status":"404"}}"#).severity,
            Severity::Warning
        );
        assert_eq!(
            raw(r#"{"textPayload":"[ERROR] DOCX failed"}"#).severity,
            Severity::Error
        );
        assert_eq!(
            raw(r#"{"textPayload":"panic: runtime error"}"#).severity,
            Severity::Critical
        );
        assert_eq!(
            raw(r#"{"textPayload":"2025-11-03 10:15:02,114 WARN [w] slow"}"#).severity,
            Severity::Warning
        );
        assert_eq!(
            raw(r#"{"textPayload":"[2025-12-01 22:50:40,589] [ERROR] [pipeline] failed"}"#)
                .severity,
            Severity::Error
        );
        assert_eq!(
            raw(r#"{"textPayload":"Traceback (most recent call last):\n  File \"a.py\""}"#)
                .severity,
            Severity::Error
        );
        assert_eq!(
            raw(r#"{"textPayload":"all good"}"#).severity,
            Severity::Default
        );
        assert_eq!(
            raw(r#"{"severity":300,"textPayload":"n"}"#).severity,
            Severity::Notice
        );
    }

    #[test]
    fn lenient_fields_take_every_spelling() {
        let sev = |v: &str| raw(&format!(r#"{{"severity":{v},"textPayload":"n"}}"#)).severity;
        assert_eq!(sev("500"), Severity::Error);
        assert_eq!(sev(r#""error""#), Severity::Error);
        assert_eq!(sev(r#"" Warning ""#), Severity::Warning);
        for absent in [
            "300.5",
            "true",
            "null",
            r#"{"a":[1]}"#,
            "[1,2]",
            "99999999999999999999",
        ] {
            assert_eq!(sev(absent), Severity::Default, "severity {absent}");
        }
        let latency = |v: &str| {
            raw(&format!(
                r#"{{"httpRequest":{{"status":500,"latency":{v}}}}}"#
            ))
            .http
            .and_then(|h| h.latency_ms)
        };
        assert_eq!(latency(r#""0.25s""#), Some(250.0));
        assert_eq!(
            latency(r#"{"seconds":"1","nanos":500000000}"#),
            Some(1500.0)
        );
        assert_eq!(latency(r#"{"seconds":2}"#), Some(2000.0));
        assert_eq!(latency("null"), None);
        assert_eq!(latency("5"), None);
        assert_eq!(
            raw(r#"{"logName":"projects/p/logs/a%2fb%2Fc%25d%","textPayload":"n"}"#).log_id,
            "a/b/c%25d%"
        );
    }

    #[test]
    fn message_comes_from_every_payload_kind() {
        assert_eq!(raw(r#"{"jsonPayload":{"msg":"m"}}"#).message, "m");
        assert_eq!(
            raw(r#"{"jsonPayload":{"message":"m","stack_trace":"E: x\n  at f"}}"#).message,
            "m\nE: x\n  at f"
        );
        assert_eq!(
            raw(r#"{"protoPayload":{"status":{"code":9,"message":"Ready condition false"}}}"#)
                .message,
            "Ready condition false"
        );
        assert_eq!(raw(r#"{"jsonPayload":{"a":1}}"#).message, r#"{"a":1}"#);
    }

    #[test]
    fn resource_labels_and_ids_are_read() {
        let e = raw(
            r#"{"logName":"projects/p/logs/run.googleapis.com%2Fstderr","resource":{"type":"cloud_run_revision",
            "labels":{"service_name":"api","revision_name":"api-0001","location":"us-central1"}},
            "labels":{"instanceId":"00ab"},"trace":"projects/p/traces/abc","errorGroups":[{"id":"G1"}],
            "sourceLocation":{"file":"a.py","line":"42","function":"f"},"timestamp":"2025-01-01T00:00:00.123456789Z",
            "httpRequest":{"requestMethod":"GET","status":500,"latency":"0.25s"}}"#,
        );
        assert_eq!(e.service.as_deref(), Some("api"));
        assert_eq!(e.revision.as_deref(), Some("api-0001"));
        assert_eq!(e.instance.as_deref(), Some("00ab"));
        assert_eq!(e.trace.as_deref(), Some("abc"));
        assert_eq!(e.error_group.as_deref(), Some("G1"));
        assert_eq!(e.log_id, "run.googleapis.com/stderr");
        assert_eq!(e.source_location.as_deref(), Some("a.py:42 (f)"));
        assert_eq!(e.http.as_ref().map(|h| h.latency_ms), Some(Some(250.0)));
        assert!(e.timestamp.is_some());
        assert!(e.is_request_log());
    }

    #[test]
    fn text_lines_get_time_and_level() {
        let e = Entry::from_text(3, "2025-11-03 10:15:02,114 ERROR [worker] failed\r\n");
        assert_eq!(e.severity, Severity::Error);
        assert_eq!(e.message, "2025-11-03 10:15:02,114 ERROR [worker] failed");
        assert_eq!(
            e.timestamp.map(|t| t.to_rfc3339()),
            Some("2025-11-03T10:15:02.114+00:00".into())
        );
        assert_eq!(
            Entry::from_text(1, "INFO:     1.2.3.4 - GET /").severity,
            Severity::Info
        );
    }
}
