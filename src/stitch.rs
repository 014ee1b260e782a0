//! Rejoins stack traces that Cloud Run split into one entry per line.
//!
//! Node, Go and Java frames (and Python output after the exception line) written to
//! stdout/stderr arrive as separate DEFAULT-severity entries microseconds apart, in
//! either time order (gcloud exports newest first). Entries are held per stream
//! (log, service, instance) while they keep arriving close in time; when a stream
//! goes quiet the burst is sorted by time and continuation lines are appended to the
//! entry that started them. Memory: one small burst per live stream.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, TimeDelta, Utc};
use regex::Regex;

use crate::entry::{Entry, SeveritySource};

/// Entries further apart than this (same stream) are separate bursts.
const BURST_GAP: TimeDelta = TimeDelta::milliseconds(20);
/// A line without a continuation shape joins an error only if it follows this closely.
const TIGHT_GAP: TimeDelta = TimeDelta::milliseconds(1);
/// Bursts idle for this long relative to the newest entry seen are flushed.
const IDLE: TimeDelta = TimeDelta::seconds(5);
/// A burst never holds more entries than this.
const MAX_BURST: usize = 2000;
/// A joined message never grows past this many bytes (further lines are dropped).
const MAX_JOINED_BYTES: usize = 256 * 1024;

/// One raw entry merged into another: its input position and insertId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// 1-based input position.
    pub index: u64,
    /// insertId, when it had one.
    pub insert_id: Option<String>,
}

/// An entry after stitching, with the continuation entries folded into it.
#[derive(Debug, Clone)]
pub struct Stitched {
    /// The entry that started the burst (its message now holds the joined lines).
    pub entry: Entry,
    /// The entries that were appended to it.
    pub joined: Vec<Joined>,
}

type StreamKey = (String, String, String);

#[derive(Default)]
struct Burst {
    entries: Vec<Entry>,
    last: Option<DateTime<Utc>>,
}

/// The stitcher: push entries in input order, receive stitched entries.
#[derive(Default)]
pub struct Stitcher {
    streams: BTreeMap<StreamKey, Burst>,
    newest: Option<DateTime<Utc>>,
    pushed: u64,
}

fn stream_key(e: &Entry) -> Option<StreamKey> {
    if e.is_request_log() || !e.has_payload {
        return None;
    }
    Some((
        e.log_id.clone(),
        e.service.clone().unwrap_or_default(),
        e.instance.clone().unwrap_or_default(),
    ))
}

fn close(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>, gap: TimeDelta) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= gap,
        // Lines without a timestamp (plain text) are held together by position; only
        // their shape can join them (see `flush`).
        _ => true,
    }
}

/// Whether two timestamps prove two lines were written within `gap` of each other:
/// both present, close, and not both of whole-second precision (lines a second apart
/// share such a timestamp, so sharing it proves nothing). A missing time proves nothing.
fn proven_close(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>, gap: TimeDelta) -> bool {
    use chrono::Timelike;
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= gap && !(a.nanosecond() == 0 && b.nanosecond() == 0),
        _ => false,
    }
}

impl Stitcher {
    /// Feeds one entry; stitched entries that are complete go to `out`.
    pub fn push(&mut self, entry: Entry, out: &mut impl FnMut(Stitched)) {
        self.pushed += 1;
        if let Some(t) = entry.timestamp {
            self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
        }
        let Some(key) = stream_key(&entry) else {
            out(Stitched {
                entry,
                joined: Vec::new(),
            });
            return;
        };
        let burst = self.streams.entry(key).or_default();
        let continues = !burst.entries.is_empty()
            && burst.entries.len() < MAX_BURST
            && close(burst.last, entry.timestamp, BURST_GAP);
        if !continues && !burst.entries.is_empty() {
            flush(std::mem::take(&mut burst.entries), out);
        }
        burst.last = entry.timestamp;
        burst.entries.push(entry);
        if self.pushed % 1024 == 0 {
            self.flush_idle(out);
        }
    }

    fn flush_idle(&mut self, out: &mut impl FnMut(Stitched)) {
        let Some(newest) = self.newest else { return };
        self.streams.retain(|_, burst| {
            let idle = burst.last.is_some_and(|l| (newest - l).abs() > IDLE);
            if idle {
                flush(std::mem::take(&mut burst.entries), out);
            }
            !idle
        });
    }

    /// Flushes every pending burst (end of input), in a deterministic order.
    pub fn finish(&mut self, out: &mut impl FnMut(Stitched)) {
        for (_, burst) in std::mem::take(&mut self.streams) {
            flush(burst.entries, out);
        }
    }
}

fn re(cell: &'static OnceLock<Regex>, p: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(p).expect("stitch regexes are valid literals"))
}

/// A line with the shape of a continuation on its own: a stack frame (Java, Node,
/// Python, Go), a cause, an elided-frames count, a chained-exception banner, a closing
/// bracket. Indented lines are judged in [`indented_detail`], with their context.
fn continuation_shape(line: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    re(&RE, CONTINUATION_SHAPE).is_match(line)
}

/// The pattern of [`continuation_shape`] (RE2-compatible: the Log Analytics engine
/// keeps such lines out of its groups too).
pub const CONTINUATION_SHAPE: &str = r"^\s*(?:at (?:async |new )?[^\s()]+ \(.*(?::\d+(?::\d+)?|native|<anonymous>|Native Method|Unknown Source)\)$|at (?:async )?[^\s()]+:\d+:\d+$|at [\w$./<>-]+\([^()]*\)$|Caused by: |Suppressed: |\.\.\. \d+ (?:more|common frames)|File \x22[^\x22]+\x22, line \d+|During handling of the above|The above exception was|goroutine \d+ \[|created by [\w./*()-]+|\[signal |[}\]]\)?,?$)";

/// An indented line continues the entry before it only in a context that says so:
/// the entry is a trace, its last line announces detail (ends with `:`) or is itself
/// indented, or real timestamps put the two in one burst. Indentation alone proves
/// nothing (text input of unrelated, indented lines).
fn indented_detail(head: &str, line: &str, proven_burst: bool) -> bool {
    if !line.starts_with([' ', '\t']) || line.trim().is_empty() {
        return false;
    }
    let last = head.lines().last().unwrap_or("");
    proven_burst
        || last.trim_end().ends_with(':')
        || last.starts_with([' ', '\t'])
        || head.contains("Traceback (most recent call last)")
        || head.contains("goroutine ")
}

/// A line that opens an event of its own: a timestamp or level prefix, JSON, a traceback.
fn starter_shape(line: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    re(
        &RE,
        r"^(?:\[?\d{4}[-/]\d{2}[-/]\d{2}|\[?\d{2}:\d{2}:\d{2}|\[?(?:INFO|DEBUG|WARN|WARNING|ERROR|CRITICAL|FATAL|TRACE|NOTICE)\b|[{\[]\x22|Traceback \(most recent call last\)|panic: |fatal error: )",
    )
    .is_match(line)
}

/// The last line of a Python traceback or a Go frame header, after frames.
fn tail_shape(head: &str, line: &str) -> bool {
    static EXC: OnceLock<Regex> = OnceLock::new();
    static GOFN: OnceLock<Regex> = OnceLock::new();
    let last = head.lines().last().unwrap_or("");
    let in_trace =
        head.contains("Traceback (most recent call last)") || head.contains("goroutine ");
    in_trace
        && (last.starts_with([' ', '\t']) || head.contains("goroutine "))
        && (re(
            &EXC,
            r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b",
        )
        .is_match(line)
            || re(&GOFN, r"^(?:[\w./*()-]+\(.*\)|exit status \d+)$").is_match(line))
}

fn is_error_head(e: &Entry) -> bool {
    e.severity >= crate::entry::Severity::Warning
        || e.message.contains("Error")
        || e.message.contains("Exception")
        || e.message.contains("error")
}

fn flush(mut entries: Vec<Entry>, out: &mut impl FnMut(Stitched)) {
    if entries.len() > 1 {
        entries.sort_by(|a, b| {
            a.timestamp
                .cmp(&b.timestamp)
                .then_with(|| a.insert_id.cmp(&b.insert_id))
                .then_with(|| a.index.cmp(&b.index))
        });
    }
    let mut current: Option<Stitched> = None;
    let mut prev_time = None;
    for e in entries {
        let joinable =
            matches!(e.severity_source, SeveritySource::None) && !e.message.contains('\n');
        let join = match &current {
            Some(head) if joinable => {
                let line = e.message.as_str();
                let tight = proven_close(prev_time, e.timestamp, TIGHT_GAP);
                continuation_shape(line)
                    || tail_shape(&head.entry.message, line)
                    || indented_detail(
                        &head.entry.message,
                        line,
                        proven_close(prev_time, e.timestamp, BURST_GAP),
                    )
                    || (tight
                        && !line.trim().is_empty()
                        && !starter_shape(line)
                        && is_error_head(&head.entry))
                    || (tight && line.trim().is_empty())
            }
            _ => false,
        };
        prev_time = e.timestamp;
        if join && let Some(head) = current.as_mut() {
            if head.entry.message.len() + e.message.len() < MAX_JOINED_BYTES
                && !e.message.trim().is_empty()
            {
                head.entry.message.push('\n');
                head.entry.message.push_str(&e.message);
            }
            head.joined.push(Joined {
                index: e.index,
                insert_id: e.insert_id,
            });
            continue;
        }
        if let Some(done) = current.take() {
            out(done);
        }
        current = Some(Stitched {
            entry: e,
            joined: Vec::new(),
        });
    }
    if let Some(done) = current {
        out(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Severity;

    fn line(i: u64, micros: i64, text: &str, sev: Option<Severity>) -> Entry {
        let base = DateTime::parse_from_rfc3339("2026-02-09T23:15:33Z")
            .unwrap()
            .with_timezone(&Utc);
        Entry {
            index: i,
            timestamp: Some(base + TimeDelta::microseconds(micros)),
            severity: sev.unwrap_or_default(),
            severity_source: if sev.is_some() {
                SeveritySource::Entry
            } else {
                SeveritySource::None
            },
            message: text.into(),
            log_id: "run.googleapis.com/stderr".into(),
            instance: Some("i1".into()),
            has_payload: true,
            ..Entry::default()
        }
    }

    fn run(entries: Vec<Entry>) -> Vec<Stitched> {
        let mut s = Stitcher::default();
        let mut out = Vec::new();
        for e in entries {
            s.push(e, &mut |x| out.push(x));
        }
        s.finish(&mut |x| out.push(x));
        out
    }

    #[test]
    fn node_frames_in_descending_order_join_their_error() {
        let out = run(vec![
            line(
                1,
                60,
                "    at async parseUploadedFile (file:///app/server.mjs:406:14)",
                None,
            ),
            line(
                2,
                40,
                "    at docxToText (file:///app/server/docxParse.js:55:35)",
                None,
            ),
            line(
                3,
                0,
                "[ERROR] DOCX extraction failed: Error: Could not find file",
                None,
            ),
        ]);
        assert_eq!(out.len(), 1);
        assert!(out[0].entry.message.starts_with("[ERROR] DOCX"));
        assert!(out[0].entry.message.ends_with("server.mjs:406:14)"));
        assert_eq!(out[0].joined.len(), 2);
    }

    #[test]
    fn separate_events_stay_separate() {
        let out = run(vec![
            line(1, 0, "[ERROR] first failure", None),
            line(2, 5_000_000, "    at f (a.js:1:1)", None),
            line(3, 9_000_000, "[INFO] unrelated", None),
        ]);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn bare_detail_lines_right_after_an_error_join_it() {
        let out = run(vec![
            line(
                1,
                0,
                "Traceback (most recent call last):\n  File \"a.py\", line 1, in m\npydantic_core.ValidationError: 2 validation errors for Settings",
                Some(Severity::Error),
            ),
            line(2, 19, "DATABASE_URL", None),
            line(3, 21, "  Field required [type=missing]", None),
        ]);
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .entry
                .message
                .ends_with("DATABASE_URL\n  Field required [type=missing]")
        );
    }

    fn text(i: u64, text: &str) -> Entry {
        Entry {
            timestamp: None,
            ..line(i, 0, text, None)
        }
    }

    fn messages(out: &[Stitched]) -> Vec<&str> {
        out.iter().map(|s| s.entry.message.as_str()).collect()
    }

    #[test]
    fn unrelated_text_lines_after_an_error_stay_entries_of_their_own() {
        let lines = [
            "kernel: ERROR machine check on cpu 3",
            "  driver loaded, 4 queues",
            "at boot time 12 devices were found",
            "exit status 3 from child 4411",
            "crond[2231]: (backup) CMD (/usr/local/bin/rotate)",
            "ERROR: disk quota exceeded for volume data7:",
            "  volume data7 is 100% full",
        ];
        let out = run(lines
            .iter()
            .enumerate()
            .map(|(i, l)| text(i as u64 + 1, l))
            .collect());
        // Only the indented detail announced by a line ending in `:` joins it.
        assert_eq!(
            messages(&out),
            [
                lines[0],
                lines[1],
                lines[2],
                lines[3],
                lines[4],
                "ERROR: disk quota exceeded for volume data7:\n  volume data7 is 100% full",
            ]
        );
    }

    #[test]
    fn traces_in_text_join_by_their_shape_alone() {
        let java = [
            "java.lang.IllegalStateException: pool closed",
            "\tat com.example.pool.Pool.take(Pool.java:88)",
            "\tat java.base/java.lang.Thread.run(Thread.java:833)",
            "Caused by: java.io.IOException: broken pipe",
            "\t... 12 more",
        ];
        let python = [
            "Traceback (most recent call last):",
            "  File \"/srv/app/jobs.py\", line 41, in run",
            "    total = sum(batch)",
            "TypeError: unsupported operand type(s) for +: 'int' and 'str'",
        ];
        let node = [
            "TypeError: Cannot read properties of undefined (reading 'id')",
            "at handler (/srv/index.js:12:7)",
            "at async Promise.all (index 0)",
        ];
        for trace in [&java[..], &python[..], &node[..2]] {
            let out = run(trace
                .iter()
                .enumerate()
                .map(|(i, l)| text(i as u64 + 1, l))
                .collect());
            assert_eq!(messages(&out), [trace.join("\n")]);
        }
        // `at` followed by words is not a frame.
        let out = run(vec![text(1, node[0]), text(2, "at least one retry left")]);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn shared_whole_second_timestamps_prove_no_burst() {
        let whole = |i: u64, text: &str, sev| Entry {
            timestamp: line(i, 0, text, sev).timestamp,
            ..line(i, 0, text, sev)
        };
        let out = run(vec![
            whole(1, "request failed: upstream error", Some(Severity::Error)),
            whole(2, "cache warmed", None),
            whole(3, "   worker 3 idle", None),
        ]);
        assert_eq!(out.len(), 3);
        // The same lines a few microseconds apart are one burst.
        let out = run(vec![
            line(
                1,
                0,
                "request failed: upstream error",
                Some(Severity::Error),
            ),
            line(2, 3, "   worker 3 idle", None),
        ]);
        assert_eq!(out.len(), 1);
    }
}
