//! Structured payloads: a `jsonPayload` with no message field reaches the signature as
//! its JSON text. It is signed by its fields, not masked as text: the names of its
//! keys, the values of categorical fields (what kind of event, which code, status,
//! reason or field), the templates of message-like texts, and every other value
//! masked. Lists count by the kinds of element they hold, not by their length. Keys
//! are never masked. The title reads like a message:
//! `invoice_rejected: customer_id: Required field is empty`.

use serde_json::{Map, Value};

use super::mask::{mask_ids, mask_line};
use super::{PLACEHOLDER, truncate_chars};

/// The last word of a key that names a categorical field: a small, closed set of
/// values (the kind of event, a code, a status, a reason, the field a validation
/// error is about). The word lists are the vocabulary of structured logging and API
/// error bodies, not of any one application.
const CATEGORICAL: [&str; 22] = [
    "event",
    "type",
    "kind",
    "code",
    "status",
    "reason",
    "error",
    "errortype",
    "category",
    "action",
    "op",
    "operation",
    "phase",
    "state",
    "result",
    "outcome",
    "field",
    "param",
    "parameter",
    "property",
    "attribute",
    "column",
];

/// The last word of a key that holds a human message.
const MESSAGE_LIKE: [&str; 6] = ["message", "msg", "detail", "details", "description", "text"];

/// Keys whose value is the entry's level, already read as its severity.
const LEVEL: [&str; 4] = ["level", "severity", "levelname", "loglevel"];

/// Nesting deeper than this is summarised by its key alone.
const MAX_DEPTH: usize = 4;

/// The signature key and title of a JSON object message, or of a one-line prefix and
/// a JSON object (`Build failed: {...}`); `None` when the message is neither.
pub(super) fn structured(message: &str) -> Option<(String, String)> {
    let text = message.trim();
    if !text.ends_with('}') {
        return None;
    }
    let open = text.find('{')?;
    let prefix = &text[..open];
    if prefix.len() > 200 || prefix.contains('\n') {
        return None;
    }
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text[open..]) else {
        return None;
    };
    let prefix = prefix.trim_end_matches([' ', ':', '=', '\t']);
    let mut key = String::from("json:");
    if !prefix.is_empty() {
        key.push_str(&mask_line(prefix));
        key.push(' ');
    }
    shape(&map, 0, &mut key);
    let mut words = Vec::new();
    title_words(&map, 0, &mut words);
    words.dedup();
    let body = if words.is_empty() {
        let keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
        format!("{{{}}}", keys.join(", "))
    } else {
        words.join(": ")
    };
    let title = if prefix.is_empty() {
        body
    } else {
        format!("{prefix}: {body}")
    };
    Some((key, truncate_chars(&title, 160)))
}

/// The last word of a key (`errorCode` → `code`, `error_type` → `type`), lowercased.
fn last_word(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    if lower == "errortype" {
        return lower;
    }
    let start = key
        .char_indices()
        .rev()
        .find(|(i, c)| {
            c.is_ascii_uppercase()
                && key[..*i]
                    .chars()
                    .last()
                    .is_some_and(|p| p.is_ascii_lowercase())
        })
        .map_or(0, |(i, _)| i);
    let camel = key[start..].to_ascii_lowercase();
    camel
        .rsplit(['_', '-', '.', ' '])
        .next()
        .unwrap_or(&camel)
        .to_string()
}

fn is_categorical(key: &str) -> bool {
    CATEGORICAL.contains(&last_word(key).as_str())
}

fn is_message_like(key: &str) -> bool {
    MESSAGE_LIKE.contains(&last_word(key).as_str())
}

fn is_level(key: &str) -> bool {
    LEVEL.contains(&key.to_ascii_lowercase().as_str())
}

/// A categorical value worth keeping: short, one token, not an id.
fn category(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() && s.len() <= 64 && !s.contains(char::is_whitespace) => {
            Some(mask_ids(s).into_owned())
        }
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Appends the shape of `map` to `out`: sorted keys, each with the shape of its value.
fn shape(map: &Map<String, Value>, depth: usize, out: &mut String) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    out.push('{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        value_shape(k, &map[k], depth + 1, out);
    }
    out.push('}');
}

fn value_shape(key: &str, v: &Value, depth: usize, out: &mut String) {
    match v {
        Value::Object(o) if depth < MAX_DEPTH => shape(o, depth, out),
        Value::Array(items) if depth < MAX_DEPTH => {
            // The kinds of element, each once: a list of 1 and of 3 errors of one
            // kind have one shape.
            let mut kinds: Vec<String> = items
                .iter()
                .take(64)
                .map(|item| {
                    let mut s = String::new();
                    value_shape(key, item, depth + 1, &mut s);
                    s
                })
                .collect();
            kinds.sort();
            kinds.dedup();
            out.push('[');
            out.push_str(&kinds.join("|"));
            out.push(']');
        }
        Value::Object(_) | Value::Array(_) => out.push_str(PLACEHOLDER),
        Value::Null => out.push_str("null"),
        _ if is_level(key) => out.push_str(PLACEHOLDER),
        _ if is_categorical(key) => match category(v) {
            Some(c) => out.push_str(&c),
            None => message_shape(v, out),
        },
        _ if is_message_like(key) => message_shape(v, out),
        _ => out.push_str(PLACEHOLDER),
    }
}

fn message_shape(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(&mask_line(s)),
        _ => out.push_str(PLACEHOLDER),
    }
}

/// The words of the title: the categorical values of `map`, then its messages (each in
/// order of keys), then those of its nested objects and of the first element of its
/// lists.
fn title_words(map: &Map<String, Value>, depth: usize, out: &mut Vec<String>) {
    if depth >= MAX_DEPTH || out.len() >= 6 {
        return;
    }
    // What kind of thing happened first, then what it says.
    for (k, v) in map {
        if !is_level(k)
            && is_categorical(k)
            && let Some(c) = category(v)
        {
            out.push(c);
        }
    }
    for (k, v) in map {
        if !is_level(k)
            && (is_message_like(k) || (is_categorical(k) && category(v).is_none()))
            && let Value::String(s) = v
            && !s.trim().is_empty()
        {
            out.push(truncate_chars(s.trim(), 120));
        }
    }
    for v in map.values() {
        let nested = match v {
            Value::Object(o) => Some(o),
            Value::Array(items) => items.first().and_then(Value::as_object),
            _ => None,
        };
        if let Some(o) = nested {
            title_words(o, depth + 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(errors: &str, invoice: &str, amount: f64) -> String {
        format!(
            r#"{{"amount":{amount},"errors":[{errors}],"event":"invoice_rejected","invoice_id":"{invoice}","level":"error","ts":"2026-10-02T11:00:0{}Z"}}"#,
            invoice.len() % 10
        )
    }

    #[test]
    fn a_payload_without_a_message_is_signed_by_its_fields() {
        let one = r#"{"field":"customer_id","message":"Required field is empty"}"#;
        let (k1, title) = structured(&rejected(one, "inv_20931", 129.5)).unwrap();
        let (k2, _) = structured(&rejected(&[one, one].join(","), "inv_7", 3.0)).unwrap();
        assert_eq!(k1, k2, "list length and ids do not split one event");
        assert_eq!(
            title,
            "invoice_rejected: customer_id: Required field is empty"
        );
        assert!(k1.contains("invoice_id=<*>") && k1.contains("event=invoice_rejected"));
        let other = r#"{"field":"due_date","message":"Must be in the future"}"#;
        let (k3, _) = structured(&rejected(other, "inv_1", 1.0)).unwrap();
        assert_ne!(k1, k3, "another field is another problem");
        let (k4, _) =
            structured(&rejected(one, "inv_1", 1.0).replace("invoice_rejected", "invoice_voided"))
                .unwrap();
        assert_ne!(k1, k4, "another event is another problem");
    }

    #[test]
    fn keys_are_never_masked_and_non_objects_are_left_to_the_text_masker() {
        let (key, title) = structured(r#"{"user42":1,"durationMs":12}"#).unwrap();
        assert_eq!(key, "json:{durationMs=<*>,user42=<*>}");
        assert_eq!(title, "{durationMs, user42}");
        assert_eq!(structured("[1,2]"), None);
        let (k1, title) = structured(
            r#"Deploy failed: {"error":{"errorType":"QUOTA","detail":"5 of 4 CPUs in use"}}"#,
        )
        .unwrap();
        assert_eq!(title, "Deploy failed: QUOTA: 5 of 4 CPUs in use");
        let (k2, _) = structured(
            r#"Deploy failed: {"error":{"errorType":"QUOTA","detail":"9 of 8 CPUs in use"}}"#,
        )
        .unwrap();
        assert_eq!(k1, k2);
        assert_eq!(structured("{not json}"), None);
        assert_eq!(structured("plain text"), None);
    }

    #[test]
    fn key_words_are_read_in_any_case() {
        for key in ["errorCode", "error_code", "ERROR-CODE", "code"] {
            assert!(is_categorical(key), "{key}");
        }
        assert!(!is_categorical("customerName"));
        assert!(is_message_like("errorMessage"));
    }
}
