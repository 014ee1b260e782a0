//! The multi-threaded reader against the single-threaded reference, on a generated
//! export (the benchmark's generator, `examples/gen-export`): the same report whatever
//! the thread count, the input shape (NDJSON, gcloud's JSON array) or compression.

use std::io::Write;
use std::path::Path;

use serde::Serializer as _;
use serde_json::Value;

use crate::bin;

#[path = "../../examples/gen-export/export.rs"]
mod export;

fn generated(entries: u64) -> Vec<Value> {
    export::Generator::new(export::Spec {
        entries,
        signatures: 300,
        seed: 7,
        days: 1.0,
    })
    .collect()
}

fn ndjson(entries: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        serde_json::to_writer(&mut out, e).unwrap();
        out.push(b'\n');
    }
    out
}

fn array(entries: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::new());
    (&mut ser).collect_seq(entries).unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// The JSON report and stderr of `analyze` with `threads`, all clusters shown.
fn report(path: &Path, threads: &str) -> (Value, String) {
    let out = bin()
        .args([
            "analyze",
            "--format",
            "json",
            "--top",
            "100000",
            "--threads",
            threads,
        ])
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    let mut report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["inputs"] = Value::Null;
    (report, crate::stderr(&out))
}

#[test]
fn threads_give_the_reference_report_with_the_same_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from_utf8(ndjson(&generated(6000))).unwrap();
    // Broken lines in different blocks: their line numbers must survive the cut.
    let mut lines: Vec<&str> = text.lines().collect();
    for at in [3, 1500, 4000] {
        lines.insert(at, "{\"broken\": ");
    }
    text = lines.join("\n");
    let path = dir.path().join("export.ndjson");
    std::fs::write(&path, &text).unwrap();

    let (reference, ref_err) = report(&path, "1");
    let summary = &reference["summary"];
    assert!(
        summary["clusters_total"].as_u64().unwrap() > 100,
        "{summary}"
    );
    assert!(
        summary["entries_joined"].as_u64().unwrap() > 100,
        "{summary}"
    );
    assert!(
        summary["http_5xx_linked"].as_u64().unwrap() > 10,
        "{summary}"
    );
    assert_eq!(summary["entries_skipped"], 3);
    for line in [4, 1501, 4001] {
        assert!(
            ref_err.contains(&format!("line {line}: malformed entry skipped")),
            "{ref_err}"
        );
    }
    for threads in ["2", "3", "8"] {
        let (r, err) = report(&path, threads);
        assert_eq!(r, reference, "--threads {threads}");
        assert_eq!(err, ref_err, "--threads {threads}");
    }
}

#[test]
fn array_gzip_and_ndjson_give_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let entries = generated(4000);
    let inputs = [
        ("export.ndjson", ndjson(&entries)),
        ("export.json", array(&entries)),
        ("export.json.gz", gzip(&array(&entries))),
        ("export.ndjson.gz", gzip(&ndjson(&entries))),
    ];
    let mut reference = None;
    for (name, bytes) in inputs {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        for threads in ["1", "3"] {
            let (r, err) = report(&path, threads);
            assert!(!err.contains("warning"), "{name}: {err}");
            assert_eq!(r["summary"]["entries_read"], 4000, "{name}");
            match &reference {
                None => reference = Some(r),
                Some(want) => assert_eq!(&r, want, "{name} with --threads {threads}"),
            }
        }
    }
}

/// A `--strict` stop on stdin whose writer keeps it open: the tool reports and exits
/// instead of waiting for more input (a hang guard, not a timing: the wait is
/// generous and only a process that never exits fails it).
#[test]
fn strict_stop_exits_while_stdin_stays_open() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let mut child = crate::bin_process()
        .args(["-q", "analyze", "-", "--strict", "--threads", "2"])
        .args(["--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&ndjson(&generated(50))).unwrap();
    stdin.write_all(b"{not json\n").unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("still running, waiting on an open stdin, after the --strict stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("-: entry 51: malformed entry (--strict)"),
        "{stderr}"
    );
}
