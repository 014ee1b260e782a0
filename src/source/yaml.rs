//! gcloud's default output: `gcloud logging read` without `--format=json` writes one
//! YAML document per entry, each starting with a `---` line (multi-line text as block
//! scalars). Documents are cut at those lines and parsed one at a time, so memory stays
//! bounded by one entry; each becomes the JSON text of the same entry, which the entry
//! model reads as it reads `--format=json`.

use std::io::BufRead;

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// Top-level fields of a `LogEntry` (the Cloud Logging API's resource): a first line
/// `field:` names a YAML entry even without a leading `---`.
const ENTRY_FIELDS: &[&str] = &[
    "httpRequest",
    "insertId",
    "jsonPayload",
    "labels",
    "logName",
    "operation",
    "protoPayload",
    "receiveTimestamp",
    "resource",
    "severity",
    "sourceLocation",
    "spanId",
    "split",
    "textPayload",
    "timestamp",
    "trace",
    "traceSampled",
    "errorGroups",
];

/// Whether a text whose first significant line is `first_line` is gcloud's YAML: a
/// document marker, or a `LogEntry` field at the start of a mapping.
pub(crate) fn looks_like_yaml(first_line: &[u8]) -> bool {
    let line = String::from_utf8_lossy(first_line);
    let line = line.trim_end();
    if line == "---" || line.starts_with("--- ") {
        return true;
    }
    line.split_once(':').is_some_and(|(key, rest)| {
        let key = key.trim_matches(['\'', '"']);
        ENTRY_FIELDS.contains(&key) && (rest.is_empty() || rest.starts_with(' '))
    })
}

/// One document: its first line's number, and the entry as JSON text or why it is not
/// one.
pub(crate) struct Document {
    /// 1-based line where the document starts.
    pub(crate) line: u64,
    /// The entry as JSON text, or the YAML error.
    pub(crate) json: std::result::Result<String, String>,
}

/// Reads documents from `reader`, handing each one to `on_doc`; stops at the first
/// error `on_doc` or the reader returns.
pub(crate) fn read_documents<E>(
    mut reader: impl BufRead,
    on_io_error: impl Fn(std::io::Error) -> E,
    on_doc: &mut dyn FnMut(Document) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let mut doc = String::new();
    let mut start = 1u64;
    let mut line_no = 0u64;
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(&on_io_error)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_end_matches(['\n', '\r']);
        let marker = text == "---" || text.starts_with("--- ") || text == "...";
        if marker {
            if let Some(d) = document(&doc, start) {
                on_doc(d)?;
            }
            doc.clear();
            start = line_no + 1;
            // Content after `--- ` (a tag or a scalar) belongs to the new document.
            if let Some(rest) = text.strip_prefix("--- ") {
                doc.push_str(rest);
                doc.push('\n');
                start = line_no;
            }
            continue;
        }
        doc.push_str(text);
        doc.push('\n');
    }
    if let Some(d) = document(&doc, start) {
        on_doc(d)?;
    }
    Ok(())
}

/// The document `text` as one entry's JSON text; `None` for an empty document.
fn document(text: &str, line: u64) -> Option<Document> {
    if text.trim().is_empty() {
        return None;
    }
    let json = match YamlLoader::load_from_str(text) {
        Ok(docs) => match docs.into_iter().next() {
            Some(Yaml::Hash(h)) => Ok(json_value(Yaml::Hash(h)).to_string()),
            Some(Yaml::Null) | None => return None,
            Some(_) => Err("a YAML document that is not a mapping".to_string()),
        },
        Err(e) => Err(format!("invalid YAML: {e}")),
    };
    Some(Document { line, json })
}

/// A YAML value as JSON: the same scalars `--format=json` writes for it.
fn json_value(y: Yaml) -> Value {
    match y {
        Yaml::String(s) => Value::String(s),
        Yaml::Integer(i) => Value::Number(i.into()),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or(Value::String(r), Value::Number),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Array(a) => Value::Array(a.into_iter().map(json_value).collect()),
        Yaml::Hash(h) => {
            let mut map = Map::with_capacity(h.len());
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) | Yaml::Real(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => continue,
                };
                map.insert(key, json_value(v));
            }
            Value::Object(map)
        }
        Yaml::Null | Yaml::Alias(_) | Yaml::BadValue => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Vec<Document> {
        let mut out = Vec::new();
        read_documents(text.as_bytes(), |e| e, &mut |d| {
            out.push(d);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn documents_are_cut_at_markers_and_block_scalars_kept() {
        let text = "---\ninsertId: a1\nseverity: ERROR\ntextPayload: |-\n  Traceback (most recent call last):\n    File \"/app/x.py\", line 3\n  ---\n  ValueError: bad\ntimestamp: '2026-11-30T10:00:00Z'\n---\nhttpRequest:\n  status: 503\n  latency: 0.2s\ninsertId: a2\n";
        let d = docs(text);
        assert_eq!(d.len(), 2);
        let first: Value = serde_json::from_str(d[0].json.as_ref().unwrap()).unwrap();
        assert_eq!(
            first["textPayload"],
            "Traceback (most recent call last):\n  File \"/app/x.py\", line 3\n---\nValueError: bad"
        );
        assert_eq!(first["timestamp"], "2026-11-30T10:00:00Z");
        assert_eq!(d[0].line, 2);
        let second: Value = serde_json::from_str(d[1].json.as_ref().unwrap()).unwrap();
        assert_eq!(second["httpRequest"]["status"], 503);
        assert_eq!(second["httpRequest"]["latency"], "0.2s");
        assert_eq!(d[1].line, 11);
    }

    #[test]
    fn a_broken_document_is_an_error_of_its_own() {
        let d = docs("---\ninsertId: [a\n---\ninsertId: b\n");
        assert!(d[0].json.as_ref().is_err_and(|e| e.contains("YAML")));
        assert!(d[1].json.is_ok());
    }

    #[test]
    fn yaml_is_told_by_a_marker_or_an_entry_field() {
        assert!(looks_like_yaml(b"---\n"));
        assert!(looks_like_yaml(b"insertId: abc\n"));
        assert!(looks_like_yaml(b"httpRequest:\n"));
        assert!(!looks_like_yaml(b"ERROR: connection refused\n"));
        assert!(!looks_like_yaml(b"severity:ERROR\n"));
        assert!(!looks_like_yaml(b"----- a rule\n"));
    }
}
