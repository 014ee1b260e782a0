//! Fuzz entry points: one function per target, each driving the real code with
//! arbitrary bytes. `fuzz/fuzz_targets/*.rs` (cargo-fuzz, nightly) call them with
//! libFuzzer's inputs; `tests/integration/fuzz_corpus.rs` (stable) replays the corpus
//! and the regressions through them. See `fuzz/README.md`.
//!
//! A target panics only when an invariant of the code breaks (an assertion below);
//! errors the code reports (malformed input, invalid rules) are fine.

use std::collections::HashMap;
use std::io::{Cursor, Write};
use std::sync::OnceLock;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::entry::{
    self, Entry, RawEntry, Severity, SeveritySource, extract_message, severity_from_text,
    strip_ansi, timestamp_from_text,
};
use crate::error::Error;
use crate::report::filters::{self, code_text, fence_text, inline_text};
use crate::report::issue::{fingerprint_of, marker, template_marker, template_of};
use crate::signature::fallback::{
    self, Fallback, PLACEHOLDER, first_line, mask_line, mask_with, truncate_chars,
};
use crate::signature::rules::{RuleSet, render};
use crate::signature::{fingerprint, route, sign_message};
use crate::source::files::{InputFormat, Item, Prepare, SNIFF_SAMPLE, parse_entry, read_stream};
use crate::stitch::{Stitched, Stitcher};

// ---------------------------------------------------------------------------------
// Readers
// ---------------------------------------------------------------------------------

/// What a read handed on, in a comparable form.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Entry {
        index: u64,
        message: String,
        severity: Severity,
        timestamp: Option<DateTime<Utc>>,
        insert_id: Option<String>,
        has_payload: bool,
    },
    Malformed {
        index: u64,
        line: Option<u64>,
    },
}

impl Seen {
    fn index(&self) -> u64 {
        match self {
            Seen::Entry { index, .. } | Seen::Malformed { index, .. } => *index,
        }
    }
}

/// One read of some bytes: the items, the final entry counter, and the error (its
/// kind and position only; messages carry column numbers that may differ).
#[derive(Debug)]
struct Outcome {
    items: Vec<Seen>,
    next_index: u64,
    error: Option<String>,
}

fn error_kind(e: &Error) -> String {
    match e {
        Error::ReadInput { .. } => "read".to_string(),
        Error::ParseInput { index, .. } => format!("parse at entry {index}"),
        other => format!("unexpected error {other}"),
    }
}

fn read_bytes(bytes: &[u8], format: InputFormat, threads: usize, prepared: bool) -> Outcome {
    let noop = |_: &mut Entry| {};
    let prepare = Prepare {
        counted_below: Severity::Error,
        each: &noop,
    };
    let mut items = Vec::new();
    let mut next_index = 0;
    let res = read_stream(
        "fuzz",
        Box::new(Cursor::new(bytes.to_vec())),
        format,
        threads,
        prepared.then_some(&prepare),
        &mut next_index,
        &mut |item| {
            items.push(match item {
                Item::Entry(e) => Seen::Entry {
                    index: e.index,
                    message: e.message,
                    severity: e.severity,
                    timestamp: e.timestamp,
                    insert_id: e.insert_id,
                    has_payload: e.has_payload,
                },
                Item::Malformed { index, line, .. } => Seen::Malformed { index, line },
            });
            Ok(())
        },
    );
    let out = Outcome {
        items,
        next_index,
        error: res.err().map(|e| error_kind(&e)),
    };
    check_numbering(&out, format, threads);
    out
}

/// Items are numbered 1, 2, 3... in the order handed on, and the counter ends at the
/// last; a parse error names the entry after the last one handed on.
fn check_numbering(out: &Outcome, format: InputFormat, threads: usize) {
    for (i, item) in out.items.iter().enumerate() {
        assert_eq!(
            item.index(),
            i as u64 + 1,
            "{format:?}, {threads} thread(s): item {i} misnumbered: {item:?}"
        );
    }
    assert_eq!(
        out.next_index,
        out.items.len() as u64,
        "{format:?}, {threads} thread(s): counter and items differ"
    );
    if let Some(e) = &out.error
        && let Some(at) = e.strip_prefix("parse at entry ")
    {
        assert_eq!(
            at,
            (out.items.len() + 1).to_string(),
            "{format:?}, {threads} thread(s): error position"
        );
    }
    assert!(
        !out.error
            .as_deref()
            .is_some_and(|e| e.starts_with("unexpected")),
        "{format:?}, {threads} thread(s): {:?}",
        out.error
    );
}

/// Reads `bytes` on one thread and on two. When one thread reads the whole input, two
/// give exactly the same items. When one thread stops at an error, two hand on at least
/// the items before it, but for the last one if that was malformed: the parallel
/// reader skips an unparsable array element instead of stopping, and its scanner takes
/// a broken scalar element (`55d9a`) as the structural break where the one-thread
/// reader first reads a value (`55`) and then breaks (see `source::parallel`).
fn read_both(bytes: &[u8], format: InputFormat) -> (Outcome, Outcome) {
    let one = read_bytes(bytes, format, 1, false);
    let two = read_bytes(bytes, format, 2, false);
    if one.error.is_none() {
        assert_eq!(
            two.error, None,
            "{format:?}: one thread read it all, two stopped"
        );
        assert_eq!(
            one.items, two.items,
            "{format:?}: one thread and two differ"
        );
    } else {
        let before = match one.items.split_last() {
            Some((Seen::Malformed { .. }, rest)) => rest,
            _ => &one.items[..],
        };
        assert!(
            two.items.len() >= before.len() && two.items[..before.len()] == *before,
            "{format:?}: what one thread read before its error {:?} is not what two read first ({:?})\none: {:?}\ntwo: {:?}",
            one.error,
            two.error,
            one.items,
            two.items
        );
    }
    (one, two)
}

/// As [`read_both`], plus a two-thread read that builds request logs below ERROR
/// without their strings: the same items, numbered the same.
fn read_prepared(bytes: &[u8], format: InputFormat) {
    let (_, two_plain) = read_both(bytes, format);
    let two = read_bytes(bytes, format, 2, true);
    assert_eq!(two.error, two_plain.error, "{format:?}: prepared read");
    assert_eq!(
        two.items.len(),
        two_plain.items.len(),
        "{format:?}: prepared read"
    );
    for (a, b) in two.items.iter().zip(&two_plain.items) {
        match (a, b) {
            (
                Seen::Entry {
                    index: ia,
                    severity: sa,
                    timestamp: ta,
                    ..
                },
                Seen::Entry {
                    index: ib,
                    severity: sb,
                    timestamp: tb,
                    ..
                },
            ) => assert_eq!((ia, sa, ta), (ib, sb, tb), "{format:?}: prepared entry"),
            _ => assert_eq!(a, b, "{format:?}: prepared item"),
        }
    }
}

/// Whether two outcomes of reading the same content (encoded differently) agree.
fn assert_same(what: &str, a: &Outcome, b: &Outcome) {
    assert_eq!(a.error, b.error, "{what}: errors differ");
    assert_eq!(a.items, b.items, "{what}: items differ");
}

/// NDJSON: the bytes as they are, detected and forced as JSON, on one thread and two
/// (and two with request logs built lean).
pub fn read_ndjson(data: &[u8]) {
    read_prepared(data, InputFormat::Auto);
    read_prepared(data, InputFormat::Json);
}

/// A JSON array: the bytes, with a `[` put in front unless they start with one.
pub fn read_array(data: &[u8]) {
    let shaped = if data.trim_ascii_start().starts_with(b"[") {
        data.to_vec()
    } else {
        [b"[".as_slice(), data].concat()
    };
    read_prepared(&shaped, InputFormat::Auto);
    read_prepared(&shaped, InputFormat::Json);
}

/// A wrapper object (`{"entries": [...]}`, `result`, `logEntries`): the bytes when they
/// start with `{`, else the bytes as the wrapper's list.
pub fn read_wrapper(data: &[u8]) {
    let shaped = if data.trim_ascii_start().starts_with(b"{") {
        data.to_vec()
    } else {
        [b"{\"entries\":[".as_slice(), data, b"]}"].concat()
    };
    read_both(&shaped, InputFormat::Auto);
    read_both(&shaped, InputFormat::Json);
}

/// Concatenated (pretty-printed) objects: the bytes, and the bytes after one
/// pretty-printed entry (so the first line is no whole value and the concatenated
/// reader runs).
pub fn read_concatenated(data: &[u8]) {
    read_both(data, InputFormat::Json);
    let led = [b"{\n  \"textPayload\": \"lead\"\n}\n".as_slice(), data].concat();
    let (out, _) = read_both(&led, InputFormat::Json);
    if refused(&led, InputFormat::Json) {
        assert_eq!(out.error.as_deref(), Some("read"), "refused before reading");
        return;
    }
    assert!(
        matches!(out.items.first(), Some(Seen::Entry { message, .. }) if message == "lead"),
        "the leading entry is read first: {:?}",
        out.items.first()
    );
}

/// Whether the reader refuses these bytes before reading them: a compressed or
/// archive format, or binary data unless they are forced as text.
fn refused(bytes: &[u8], format: InputFormat) -> bool {
    let sample = &bytes[..bytes.len().min(SNIFF_SAMPLE)];
    let sniffed = crate::source::encoding::sniff(sample);
    crate::source::encoding::not_text(sample, &sniffed, format != InputFormat::Text).is_some()
}

/// Plain text: the bytes forced as text and detected. Forced text gives one entry per
/// non-blank line, its message the line without its end.
pub fn read_text(data: &[u8]) {
    let (forced, _) = read_both(data, InputFormat::Text);
    read_both(data, InputFormat::Auto);
    if !data.starts_with(&[0x1f, 0x8b]) && !refused(data, InputFormat::Text) {
        assert_eq!(forced.error, None, "text never fails (but gzip may)");
    }
    for item in &forced.items {
        match item {
            Seen::Entry { message, .. } => {
                assert!(!message.trim().is_empty(), "blank line read as an entry");
                assert!(!message.contains('\x1b'), "an escape left in a message");
                assert!(!message.contains('\n'), "a line end in a line: {message:?}");
            }
            Seen::Malformed { .. } => panic!("text gave a malformed item: {item:?}"),
        }
    }
}

/// gcloud's YAML: the bytes forced as YAML and detected, and the bytes after a `---`
/// line (which makes detection read them as YAML too). A YAML read never fails (a
/// broken document is a malformed entry).
pub fn read_yaml(data: &[u8]) {
    let (forced, _) = read_both(data, InputFormat::Yaml);
    read_both(data, InputFormat::Auto);
    let marked = [b"---\n".as_slice(), data].concat();
    let (detected, _) = read_both(&marked, InputFormat::Auto);
    if !data.starts_with(&[0x1f, 0x8b]) {
        if !refused(data, InputFormat::Yaml) {
            assert_eq!(forced.error, None, "YAML never fails (but gzip may)");
        }
        if !refused(&marked, InputFormat::Auto) {
            assert_eq!(detected.error, None, "YAML never fails");
        }
    }
}

fn gzip(members: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for member in members {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(member).expect("writing to memory");
        out.extend(gz.finish().expect("writing to memory"));
    }
    out
}

/// Gzip: the bytes compressed (one member, and split into two members) read like the
/// bytes themselves; and the bytes as they are (a broken gzip stream must fail
/// cleanly).
pub fn read_gzip(data: &[u8]) {
    let (plain, _) = read_both(data, InputFormat::Auto);
    let (a, b) = data.split_at(data.len() / 2);
    // The content of a gzip stream is not itself checked for gzip.
    let comparable = !data.starts_with(&[0x1f, 0x8b]);
    for (what, packed) in [
        ("one member", gzip(&[data])),
        ("two members", gzip(&[a, b])),
    ] {
        let (unpacked, _) = read_both(&packed, InputFormat::Auto);
        if comparable {
            assert_same(&format!("gzip {what}"), &plain, &unpacked);
        }
    }
}

/// UTF-16: the bytes as text (invalid UTF-8 replaced), encoded as UTF-16LE and BE with
/// a BOM (read like the UTF-8 text) and as UTF-16LE without one (its encoding guessed
/// from its zero bytes); and the raw bytes
/// (a BOM of their own, broken UTF-8).
pub fn read_utf16(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if text.as_bytes() != data {
        read_both(data, InputFormat::Auto);
    }
    let utf16: Vec<u16> = text.encode_utf16().collect();
    let le: Vec<u8> = utf16.iter().flat_map(|u| u.to_le_bytes()).collect();
    let be: Vec<u8> = utf16.iter().flat_map(|u| u.to_be_bytes()).collect();
    let (plain, _) = read_both(text.as_bytes(), InputFormat::Auto);
    // The UTF-8 text reads like its UTF-16 unless it is guessed to be something else: a
    // BOM of its own (kept after the UTF-16 one is gone), a damaged mark (U+FFFD or `?`
    // in front, dropped), or zero bytes (UTF-16 without a mark, by their pattern).
    let comparable = !text.starts_with(['\u{feff}', '\u{fffd}', '?']) && !text.contains('\0');
    for (what, bom, body) in [("LE", [0xff, 0xfe], &le), ("BE", [0xfe, 0xff], &be)] {
        let with_bom = [bom.as_slice(), body].concat();
        let (decoded, _) = read_both(&with_bom, InputFormat::Auto);
        if comparable {
            assert_same(&format!("UTF-16{what} with BOM"), &plain, &decoded);
        }
    }
    read_both(&le, InputFormat::Auto);
}

// ---------------------------------------------------------------------------------
// The entry model
// ---------------------------------------------------------------------------------

/// Fields of a `LogEntry` that take an arbitrary JSON value in [`entry_json`].
const ENTRY_FIELDS: [&str; 13] = [
    "jsonPayload",
    "protoPayload",
    "textPayload",
    "httpRequest",
    "resource",
    "labels",
    "severity",
    "timestamp",
    "receiveTimestamp",
    "sourceLocation",
    "errorGroups",
    "logName",
    "trace",
];

fn check_entry_text(text: &str) {
    let entry = Entry::from_text(1, text);
    assert_eq!(
        entry.message,
        strip_ansi(text.trim_end_matches(['\r', '\n']))
    );
    assert!(
        !entry.message.contains('\x1b'),
        "an escape left in a message"
    );
    let severity = severity_from_text(&entry.message);
    assert_eq!(
        entry.severity_source == SeveritySource::Text,
        severity.is_some()
    );
    assert_eq!(entry.severity, severity.unwrap_or_default());
    assert_eq!(entry.timestamp, timestamp_from_text(&entry.message));
    entry::parse_time(text);
}

/// Normalises one raw entry both ways: in full, and as a request log that downstream
/// only counts (`counted_below`). The lean entry must keep exactly what the full one
/// has of time, severity, revision and status.
fn check_raw_entry(json: &str) {
    let full = match parse_entry(1, json) {
        Item::Entry(e) => *e,
        Item::Malformed { .. } => return,
    };
    assert!(
        !full.message.contains('\x1b'),
        "an escape left in a message"
    );
    let raw: RawEntry<'_> =
        serde_json::from_str(json).expect("parse_entry accepted it, so RawEntry parses");
    for below in [Severity::Warning, Severity::Emergency] {
        let raw: RawEntry<'_> = serde_json::from_str(json).expect("it parsed once");
        let lean = Entry::from_raw_with(1, raw, Some(below));
        assert_eq!(lean.timestamp, full.timestamp, "lean entry: timestamp");
        assert_eq!(lean.severity, full.severity, "lean entry: severity");
        assert_eq!(
            lean.severity_source, full.severity_source,
            "lean entry: severity source"
        );
        assert_eq!(lean.revision, full.revision, "lean entry: revision");
        assert_eq!(
            lean.http.as_ref().map(|h| h.status),
            full.http.as_ref().map(|h| h.status),
            "lean entry: status"
        );
        assert_eq!(lean.has_payload, full.has_payload, "lean entry: payload");
        assert_eq!(lean.is_request_log(), full.is_request_log());
    }
    let again = Entry::from_raw(1, raw);
    assert_eq!(again.message, full.message, "normalising twice differs");
    assert_eq!(again.severity, full.severity, "normalising twice differs");
}

/// The entry model on arbitrary JSON: the bytes as one entry, and (when they are a JSON
/// value) that value in every field of an entry; the message extractor on the value;
/// the text readers of severity and time on the bytes as text.
pub fn entry_json(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_entry_text(&text);
    check_raw_entry(&text);
    let Ok(value) = serde_json::from_str::<Value>(&text) else {
        return;
    };
    for field in ENTRY_FIELDS {
        let mut object = serde_json::Map::new();
        object.insert(field.to_string(), value.clone());
        check_raw_entry(&Value::Object(object).to_string());
    }
    let mut request = serde_json::Map::new();
    request.insert(
        "httpRequest".to_string(),
        serde_json::json!({"status": 404}),
    );
    request.insert("severity".to_string(), value.clone());
    check_raw_entry(&Value::Object(request).to_string());
    if let Value::Object(map) = &value {
        let mut request = map.clone();
        request.insert(
            "httpRequest".to_string(),
            serde_json::json!({"status": 200}),
        );
        check_raw_entry(&Value::Object(request).to_string());
    }
    let from_json = extract_message(None, Some(&value), None);
    let from_proto = extract_message(None, None, Some(&value));
    assert_eq!(
        extract_message(Some(&text), Some(&value), Some(&value)),
        strip_ansi(text.trim_end_matches(['\r', '\n'])),
        "a text payload wins"
    );
    assert!(!from_json.contains('\x1b') && !from_proto.contains('\x1b'));
    check_entry_text(&from_json);
    check_entry_text(&from_proto);
}

// ---------------------------------------------------------------------------------
// The fallback masker
// ---------------------------------------------------------------------------------

/// The fallback signature on the bytes as text: the masked template is at most 200
/// characters, explaining changes nothing, every explained value is in the input, a
/// template fallback is the masked first line, and text of lowercase words only comes
/// out as its words. Also the route of the text as a URL.
pub fn fallback_masker(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let masked = mask_line(&text);
    assert!(
        masked.chars().count() <= 200,
        "template too long: {masked:?}"
    );
    let mut explained = Vec::new();
    assert_eq!(mask_with(&text, Some(&mut explained)), masked);
    for value in &explained {
        assert!(
            !value.original.is_empty() && text.contains(&value.original),
            "explained value not in the input: {value:?}"
        );
    }
    if text.bytes().all(|b| b.is_ascii_lowercase() || b == b' ') {
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(masked, truncate_chars(&words, 200), "plain words changed");
        assert!(!masked.contains(PLACEHOLDER));
    }
    let first = first_line(&text);
    assert!(text.contains(first));
    let fb = fallback::fallback(&text);
    let key = fb.key();
    if let Fallback::Template(t) = &fb {
        assert_eq!(t, &mask_line(first), "template of the first line");
        assert_eq!(key, format!("template:{t}"));
    }
    assert_eq!(fallback::fallback(&text), fb, "fallback is deterministic");
    let fp = fingerprint(&key);
    assert!(fp.len() == 12 && fp.bytes().all(|b| b.is_ascii_hexdigit()));
    for n in [0, 1, 7, 200] {
        let cut = truncate_chars(&text, n);
        assert!(cut.chars().count() <= n && text.starts_with(&cut));
    }
    for seg in text.split('/') {
        fallback::is_id_segment(seg);
    }
    route(&text);
}

// ---------------------------------------------------------------------------------
// The stitcher
// ---------------------------------------------------------------------------------

/// Entries made from the bytes: one per line, the first three bytes of a line choosing
/// the stream, the severity, whether it has a time and its distance from the last one;
/// the rest is the message (`\x1e` stands for a newline inside it).
fn entries_from(data: &[u8]) -> Vec<Entry> {
    let base = DateTime::parse_from_rfc3339("2026-02-09T23:15:33Z")
        .expect("a valid literal")
        .with_timezone(&Utc);
    let mut micros = 0i64;
    let mut out = Vec::new();
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        let [flags, hi, lo, rest @ ..] = line else {
            continue;
        };
        micros += i64::from(i16::from_be_bytes([*hi, *lo]));
        let message = String::from_utf8_lossy(rest).replace('\u{1e}', "\n");
        let (severity, severity_source) = match flags & 0b11 {
            0 | 1 => (Severity::Default, SeveritySource::None),
            2 => (Severity::Error, SeveritySource::Entry),
            _ => (Severity::Warning, SeveritySource::Text),
        };
        out.push(Entry {
            index: i as u64 + 1,
            insert_id: (flags & 0x40 != 0).then(|| format!("id{}", (flags >> 2) & 3)),
            timestamp: (flags & 0x10 == 0).then(|| base + TimeDelta::microseconds(micros)),
            severity,
            severity_source,
            message,
            log_id: "run.googleapis.com/stderr".to_string(),
            instance: Some(format!("i{}", (flags >> 2) & 3)),
            has_payload: flags & 0x20 == 0,
            http: (flags & 0x80 != 0).then(Default::default),
            ..Entry::default()
        });
    }
    out
}

/// Pushes entries through a stitcher; checks that every entry comes out exactly once
/// (as the head of a stitched entry or joined to one) and that heads keep their own
/// first line.
fn stitch_all(entries: Vec<Entry>) {
    let pushed: Vec<(u64, String)> = entries
        .iter()
        .map(|e| (e.index, e.message.clone()))
        .collect();
    let mut stitcher = Stitcher::default();
    let mut out: Vec<Stitched> = Vec::new();
    for e in entries {
        stitcher.push(e, &mut |s| out.push(s));
    }
    stitcher.finish(&mut |s| out.push(s));
    let mut seen: Vec<u64> = out
        .iter()
        .flat_map(|s| std::iter::once(s.entry.index).chain(s.joined.iter().map(|j| j.index)))
        .collect();
    seen.sort_unstable();
    let mut expected: Vec<u64> = pushed.iter().map(|(i, _)| *i).collect();
    expected.sort_unstable();
    assert_eq!(seen, expected, "entries lost or duplicated by stitching");
    let by_index: HashMap<u64, &str> = pushed.iter().map(|(i, m)| (*i, m.as_str())).collect();
    for s in &out {
        let own = by_index[&s.entry.index];
        assert!(
            s.entry.message.starts_with(own),
            "a stitched entry lost its own message"
        );
        if s.joined.is_empty() {
            assert_eq!(s.entry.message, own, "an entry changed without joins");
        }
    }
}

/// The stitcher on entries made from the bytes, and on the entries the text reader
/// makes of them.
pub fn stitcher(data: &[u8]) {
    stitch_all(entries_from(data));
    let mut from_text = Vec::new();
    let mut next = 0;
    // A broken gzip stream stops the read; what came before is still stitched.
    let _ = read_stream(
        "fuzz",
        Box::new(Cursor::new(data.to_vec())),
        InputFormat::Text,
        1,
        None,
        &mut next,
        &mut |item| {
            if let Item::Entry(e) = item {
                from_text.push(*e);
            }
            Ok(())
        },
    );
    stitch_all(from_text);
}

// ---------------------------------------------------------------------------------
// The rule loader
// ---------------------------------------------------------------------------------

/// A rule pack from the bytes: loading it either fails with problems listed or gives
/// valid rules; the same pack twice (a later pack replaces rules with the same id)
/// gives the same rules; matching the rules' own examples, titles and the bytes
/// gives consistent matches and signatures.
pub fn rule_loader(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let once = RuleSet::compile(&[("fuzz.toml".to_string(), text.clone())]);
    let twice = RuleSet::compile(&[
        ("a.toml".to_string(), text.clone()),
        ("b.toml".to_string(), text.clone()),
    ]);
    let set = match (once, twice) {
        (Err(Error::InvalidRules { problems }), Err(_)) => {
            assert!(!problems.is_empty(), "an invalid pack names no problem");
            return;
        }
        (Ok(once), Ok(twice)) => {
            let ids = |s: &RuleSet| s.rules().iter().map(|r| r.id.clone()).collect::<Vec<_>>();
            assert_eq!(ids(&once), ids(&twice), "a pack loaded twice differs");
            once
        }
        (once, twice) => panic!(
            "a pack loaded once and twice disagree: {:?} / {:?}",
            once.err(),
            twice.err()
        ),
    };
    for rule in set.rules() {
        assert!(!rule.id.is_empty() && !rule.id.starts_with('-') && !rule.id.ends_with('-'));
        assert!(
            rule.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "id {:?} is not kebab-case",
            rule.id
        );
        assert!(!rule.title.trim().is_empty(), "empty title");
    }
    set.check_examples();
    let mut messages: Vec<&str> = vec![text.as_str()];
    for rule in set.rules() {
        messages.extend(rule.examples.iter().map(String::as_str));
        messages.extend(rule.counter_examples.iter().map(String::as_str));
        messages.push(&rule.title);
    }
    for message in messages.into_iter().take(64) {
        let Some(m) = set.find(message) else {
            continue;
        };
        assert_eq!(m.rule.id, set.rules()[m.index].id);
        assert!(
            m.rule.regex.is_match(message),
            "a match that does not match"
        );
        render(&m.rule.title, &m.captures);
        if let Some(fp) = &m.rule.fingerprint {
            render(fp, &m.captures);
        }
        let signature = sign_message(&set, message);
        assert_eq!(signature.rule, Some(m.index), "signature and match differ");
        check_facts(m.rule, message, &signature.facts);
    }
}

/// The facts a message states: one slot per declared fact, a value is never blank and
/// (unless templated) is text of the message; the rule's hypotheses are judged by
/// tallies of those values: a ruled-out hypothesis names exactly the stated values, a
/// supported one a value that was stated.
fn check_facts(rule: &crate::signature::rules::Rule, message: &str, facts: &[Option<String>]) {
    use crate::signature::facts::{Judgement, Tally};
    assert_eq!(facts.len(), rule.facts.len(), "one slot per declared fact");
    let mut tallies = Vec::new();
    for (fact, value) in rule.facts.iter().zip(facts) {
        let mut tally = Tally::default();
        if let Some(v) = value {
            assert!(!v.trim().is_empty(), "fact {} is blank", fact.name);
            assert!(
                fact.template || message.contains(v.as_str()),
                "fact {} = {v:?} is not in the message",
                fact.name
            );
            tally.observe(v, str::to_string, None, || None);
            tally.observe(v, str::to_string, None, || None);
            assert_eq!(tally.entries(), 2);
        }
        tallies.push(tally);
    }
    let stated = |name: &str| {
        let i = rule.facts.iter().position(|f| f.name == name);
        i.and_then(|i| facts[i].clone())
            .expect("a judgement names a fact the message states")
    };
    for why in &rule.whys {
        match why.judge(&rule.facts, &tallies) {
            Judgement::Open => {}
            Judgement::Supported(name, value) => assert_eq!(stated(&name), value),
            Judgement::RuledOut(name, values) => assert_eq!(vec![stated(&name)], values),
        }
    }
}

// ---------------------------------------------------------------------------------
// The GitHub issue marker
// ---------------------------------------------------------------------------------

/// The fingerprint marker parser on the bytes as an issue body: what it finds is hex
/// and is the marker of the first line; a marker written in front of the body (LF or
/// CRLF) is read back, one further down is not.
pub fn github_marker(data: &[u8]) {
    let body = String::from_utf8_lossy(data);
    if let Some(fp) = fingerprint_of(&body) {
        assert!(!fp.is_empty() && fp.bytes().all(|b| b.is_ascii_hexdigit()));
        let first = body.lines().next().unwrap_or("").trim_end_matches('\r');
        assert_eq!(marker(fp), first, "the marker found is not the first line");
    }
    let hex: String = body
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(64)
        .collect();
    for fp in [fingerprint(&body), hex] {
        if fp.is_empty() {
            continue;
        }
        for eol in ["\n", "\r\n"] {
            let written = format!("{}{eol}{body}", marker(&fp));
            assert_eq!(fingerprint_of(&written), Some(fp.as_str()), "round trip");
        }
        if !body.is_empty() && !body.starts_with(['\n', '\r']) {
            let buried = format!("{body}\n{}", marker(&fp));
            if body
                .lines()
                .next()
                .is_some_and(|l| fingerprint_of(l).is_none())
            {
                assert_eq!(
                    fingerprint_of(&buried),
                    None,
                    "a marker below the first line"
                );
            }
        }
    }
    // The template marker: any text as a template reads back from the second line;
    // the body as a second line reads back only as what was written there.
    let first = marker("0123456789ab");
    let written = format!("{first}\n{}\n{body}", template_marker(&body));
    assert_eq!(
        template_of(&written).as_deref(),
        Some(&*body),
        "template round trip"
    );
    if let Some(t) = template_of(&format!("{first}\n{body}")) {
        assert_eq!(
            format!("{first}\n{}", template_marker(&t)).lines().nth(1),
            body.lines().next().map(|l| l.trim_end_matches('\r')),
            "a template read is the one its marker line holds"
        );
    }
}

// ---------------------------------------------------------------------------------
// The template filters
// ---------------------------------------------------------------------------------

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Undoes [`inline_text`]: drops each backslash escape and the zero-width space after
/// each `@` and `#`.
fn unescape_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().expect("a backslash escapes something")),
            '@' | '#' => {
                out.push(c);
                assert_eq!(chars.next(), Some('\u{200B}'), "a mention left live");
            }
            _ => out.push(c),
        }
    }
    out
}

fn tera() -> &'static tera::Tera {
    static TERA: OnceLock<tera::Tera> = OnceLock::new();
    TERA.get_or_init(|| {
        let mut tera = crate::report::new_tera();
        tera.add_raw_template(
            "fuzz",
            "{{ t | fence }}\u{0}{{ t | fence(lang=\"python\") }}\u{0}{{ t | code }}\u{0}{{ t | md }}",
        )
        .expect("a valid template");
        tera
    })
}

fn check_filters(text: &str) {
    let longest = longest_backtick_run(text);
    for lang in ["", "text"] {
        let fenced = fence_text(text, lang);
        let fence = "`".repeat((longest + 1).max(3));
        let inner = fenced
            .strip_prefix(&format!("{fence}{lang}\n"))
            .and_then(|f| f.strip_suffix(&format!("\n{fence}")))
            .expect("a fence opens and closes the block");
        assert_eq!(inner, text.trim_end_matches('\n'));
        assert!(longest_backtick_run(inner) < fence.len());
    }
    let code = code_text(text);
    assert!(!code.contains(['\n', '\r']), "a newline in a code span");
    let ticks = "`".repeat(longest_backtick_run(&text.replace(['\n', '\r'], " ")) + 1);
    let inner = code
        .strip_prefix(&ticks)
        .and_then(|c| c.strip_suffix(&ticks))
        .expect("ticks open and close the span");
    assert!(longest_backtick_run(inner) < ticks.len());
    let inline = inline_text(text);
    assert!(!inline.contains(['\n', '\r']), "a newline inline");
    assert_eq!(unescape_inline(&inline), text.replace(['\n', '\r'], " "));
}

/// The markdown filters on the bytes as text: a fence or code span is longer than any
/// backtick run inside and gives back the text; inline text has no newline, no live
/// mention and unescapes to the text. Through tera, on the text and (when the bytes are
/// JSON) on that value, the filters give what the functions give.
pub fn template_filters(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_filters(&text);
    let mut values = vec![Value::String(text.to_string())];
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        values.push(v);
    }
    for value in values {
        let as_text = match &value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let args = HashMap::new();
        let fenced = filters::fence(&value, &args).expect("the filter never fails");
        assert_eq!(fenced, Value::String(fence_text(&as_text, "text")));
        let mut ctx = tera::Context::new();
        ctx.insert("t", &value);
        let rendered = tera().render("fuzz", &ctx).expect("the template renders");
        let expected = [
            fence_text(&as_text, "text"),
            fence_text(&as_text, "python"),
            code_text(&as_text),
            inline_text(&as_text),
        ]
        .join("\u{0}");
        assert_eq!(rendered, expected, "tera and the filters differ");
    }
}
