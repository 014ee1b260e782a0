//! Builds the Cloud Logging query from validated settings, and Logs Explorer links.
//! Pure string work: no I/O, no clock.
//!
//! The query language binds `OR` tighter than `AND` (`a AND b OR c` is
//! `a AND (b OR c)`), so every `OR` group we emit is parenthesised, and a user's
//! `--filter` is wrapped in parentheses on lines of their own (a `--` comment in it
//! cannot swallow our closing parenthesis).

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::entry::Severity;

/// Longest filter the API accepts (comments count).
pub const MAX_FILTER_CHARS: usize = 20_000;

/// The monitored-resource types `--resource-type` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    /// Cloud Run services (and Cloud Run functions).
    CloudRunRevision,
    /// Cloud Run jobs.
    CloudRunJob,
    /// GKE containers.
    K8sContainer,
    /// App Engine.
    GaeApp,
    /// Cloud Functions (1st gen).
    CloudFunction,
}

impl ResourceType {
    /// The `resource.type` value.
    pub fn name(self) -> &'static str {
        match self {
            ResourceType::CloudRunRevision => "cloud_run_revision",
            ResourceType::CloudRunJob => "cloud_run_job",
            ResourceType::K8sContainer => "k8s_container",
            ResourceType::GaeApp => "gae_app",
            ResourceType::CloudFunction => "cloud_function",
        }
    }

    /// The resource label `--service` matches, if the type has one.
    pub fn service_label(self) -> Option<&'static str> {
        match self {
            ResourceType::CloudRunRevision => Some("service_name"),
            ResourceType::CloudRunJob => Some("job_name"),
            ResourceType::GaeApp => Some("module_id"),
            ResourceType::CloudFunction => Some("function_name"),
            ResourceType::K8sContainer => None,
        }
    }

    /// The resource label `--revision` matches, if the type has one.
    pub fn revision_label(self) -> Option<&'static str> {
        match self {
            ResourceType::CloudRunRevision => Some("revision_name"),
            ResourceType::GaeApp => Some("version_id"),
            _ => None,
        }
    }
}

/// What to fetch: the validated scope and window.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Resource type.
    pub resource_type: ResourceType,
    /// Services (matched on the type's service label); empty means all.
    pub services: Vec<String>,
    /// Only this revision.
    pub revision: Option<String>,
    /// GKE namespace.
    pub namespace: Option<String>,
    /// GKE container.
    pub container: Option<String>,
    /// Window start (inclusive).
    pub from: DateTime<Utc>,
    /// Window end (exclusive).
    pub until: DateTime<Utc>,
    /// Severity floor (5xx request logs are fetched whatever their severity).
    pub min_severity: Severity,
    /// Also fetch entries without a severity.
    pub unleveled: bool,
    /// The user's `--filter`, joined with `AND`.
    pub extra: Option<String>,
}

/// A string value in double quotes, with `\` and `"` escaped.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `field = "a"`, or `field = ("a" OR "b")` for several values.
fn any_of(field: &str, values: &[String]) -> String {
    if let [one] = values {
        return format!("{field} = {}", quote(one));
    }
    let list: Vec<String> = values.iter().map(|v| quote(v)).collect();
    format!("{field} = ({})", list.join(" OR "))
}

/// An RFC 3339 timestamp as the query language and the API expect it.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl Scope {
    /// The resource clauses (type and labels), without time or severity.
    pub fn resource_clauses(&self) -> Vec<String> {
        let t = self.resource_type;
        let mut clauses = vec![format!("resource.type = {}", quote(t.name()))];
        if let Some(label) = t.service_label()
            && !self.services.is_empty()
        {
            clauses.push(any_of(&format!("resource.labels.{label}"), &self.services));
        }
        if let (Some(label), Some(rev)) = (t.revision_label(), &self.revision) {
            clauses.push(format!("resource.labels.{label} = {}", quote(rev)));
        }
        if let Some(ns) = &self.namespace {
            clauses.push(format!("resource.labels.namespace_name = {}", quote(ns)));
        }
        if let Some(c) = &self.container {
            clauses.push(format!("resource.labels.container_name = {}", quote(c)));
        }
        clauses
    }

    /// The severity clause: the floor, or any 5xx (and optionally unleveled entries).
    fn severity_clause(&self) -> Option<String> {
        if self.min_severity == Severity::Default {
            return None;
        }
        let mut terms = vec![
            format!("severity >= {}", self.min_severity.name()),
            "httpRequest.status >= 500".to_string(),
        ];
        if self.unleveled {
            terms.push("severity = DEFAULT".to_string());
        }
        Some(format!("({})", terms.join(" OR ")))
    }

    /// The whole query sent as `filter`.
    pub fn filter(&self) -> String {
        let mut clauses = self.resource_clauses();
        clauses.push(format!("timestamp >= {}", quote(&timestamp(self.from))));
        clauses.push(format!("timestamp < {}", quote(&timestamp(self.until))));
        clauses.extend(self.severity_clause());
        if let Some(extra) = self.extra.as_deref().map(str::trim)
            && !extra.is_empty()
        {
            clauses.push(format!("(\n{extra}\n)"));
        }
        clauses.join("\nAND ")
    }

    /// A Logs Explorer query for a set of entries of this scope (by insertId); the
    /// time range travels in the link, not in the query.
    pub fn entries_query(&self, insert_ids: &[String]) -> String {
        let mut clauses = self.resource_clauses();
        if !insert_ids.is_empty() {
            clauses.push(any_of("insertId", insert_ids));
        }
        clauses.join("\nAND ")
    }
}

/// Characters escaped in a Logs Explorer URL segment: everything but letters, digits
/// and a few unreserved marks.
const URL_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// A Logs Explorer link showing `query` over `[from, until]` in `project`.
pub fn logs_explorer_url(
    project: &str,
    query: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> String {
    let range = format!("{}/{}", timestamp(from), timestamp(until));
    format!(
        "https://console.cloud.google.com/logs/query;query={};timeRange={}?project={}",
        utf8_percent_encode(query, URL_SEGMENT),
        utf8_percent_encode(&range, URL_SEGMENT),
        utf8_percent_encode(project, URL_SEGMENT)
    )
}

/// Parses `90s`, `30m`, `2h`, `1d`, `1w` (a positive whole number and one unit).
pub fn parse_duration(text: &str) -> Option<TimeDelta> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = text.split_at(split);
    let n: i64 = num.parse().ok().filter(|n| *n > 0)?;
    match unit {
        "s" => TimeDelta::try_seconds(n),
        "m" => TimeDelta::try_minutes(n),
        "h" => TimeDelta::try_hours(n),
        "d" => TimeDelta::try_days(n),
        "w" => TimeDelta::try_weeks(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn scope() -> Scope {
        Scope {
            resource_type: ResourceType::CloudRunRevision,
            services: vec!["checkout".into()],
            revision: None,
            namespace: None,
            container: None,
            from: at("2025-06-01T10:00:00Z"),
            until: at("2025-06-01T11:00:00Z"),
            min_severity: Severity::Warning,
            unleveled: false,
            extra: None,
        }
    }

    #[test]
    fn filter_has_resource_window_and_severity_or_5xx() {
        assert_eq!(
            scope().filter(),
            "resource.type = \"cloud_run_revision\"\n\
             AND resource.labels.service_name = \"checkout\"\n\
             AND timestamp >= \"2025-06-01T10:00:00Z\"\n\
             AND timestamp < \"2025-06-01T11:00:00Z\"\n\
             AND (severity >= WARNING OR httpRequest.status >= 500)"
        );
    }

    #[test]
    fn several_services_are_one_parenthesised_or_group_and_values_are_escaped() {
        let mut s = scope();
        s.services = vec!["api".into(), "we\"ird\\name".into()];
        s.revision = Some("api-00042-abc".into());
        let f = s.filter();
        assert!(f.contains(r#"resource.labels.service_name = ("api" OR "we\"ird\\name")"#));
        assert!(f.contains(r#"resource.labels.revision_name = "api-00042-abc""#));
    }

    #[test]
    fn user_filter_is_anded_in_parentheses_on_its_own_lines() {
        let mut s = scope();
        s.extra = Some("textPayload:\"boom\" OR jsonPayload.x = 1 -- a comment".into());
        let f = s.filter();
        assert!(f.ends_with("\nAND (\ntextPayload:\"boom\" OR jsonPayload.x = 1 -- a comment\n)"));
    }

    #[test]
    fn other_resource_types_use_their_labels() {
        let mut s = scope();
        s.resource_type = ResourceType::CloudRunJob;
        s.services = vec!["nightly".into()];
        assert!(
            s.filter()
                .contains("resource.labels.job_name = \"nightly\"")
        );
        s.resource_type = ResourceType::K8sContainer;
        s.services.clear();
        s.namespace = Some("prod".into());
        s.container = Some("web".into());
        let f = s.filter();
        assert!(f.contains("resource.type = \"k8s_container\""));
        assert!(f.contains("resource.labels.namespace_name = \"prod\""));
        assert!(f.contains("resource.labels.container_name = \"web\""));
    }

    #[test]
    fn default_floor_drops_the_severity_clause_and_unleveled_widens_it() {
        let mut s = scope();
        s.unleveled = true;
        assert!(
            s.filter().contains(
                "(severity >= WARNING OR httpRequest.status >= 500 OR severity = DEFAULT)"
            )
        );
        s.min_severity = Severity::Default;
        assert!(!s.filter().contains("severity"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), TimeDelta::try_minutes(30));
        assert_eq!(parse_duration("2h"), TimeDelta::try_hours(2));
        assert_eq!(parse_duration("1d"), TimeDelta::try_days(1));
        assert_eq!(parse_duration("45s"), TimeDelta::try_seconds(45));
        for bad in ["", "h", "0m", "-1h", "1.5h", "10y", "1 h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn explorer_link_encodes_query_and_range() {
        let url = logs_explorer_url(
            "my-proj",
            "resource.type = \"x\"\nAND insertId = \"a;b\"",
            at("2025-06-01T10:00:00Z"),
            at("2025-06-01T11:00:00Z"),
        );
        assert_eq!(
            url,
            "https://console.cloud.google.com/logs/query;query=resource.type%20%3D%20%22x%22%0AAND%20insertId%20%3D%20%22a%3Bb%22;timeRange=2025-06-01T10%3A00%3A00Z%2F2025-06-01T11%3A00%3A00Z?project=my-proj"
        );
    }
}
