//! Fetch benchmark: 100,000 entries served by a fake `entries.list` on 127.0.0.1 in
//! pages of 1,000 with 50 ms latency each, analysed by the release binary.
//!
//! Prints the wall time against pages × latency (the floor for sequential paging: a
//! wall time near it means parsing and clustering overlap with the waits), the time
//! to analyse the same entries from a file (the work that overlaps), and peak RSS of
//! both runs (through `/usr/bin/time`, when present).
//!
//! Run: `cargo bench --bench fetch` (`-- --entries N --latency-ms L` to change).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_gcp-triage");

/// Deterministic entries: mostly request logs, some 5xx, app errors from 50 signatures
/// with variable ids, newest first.
fn entries(n: usize) -> Vec<Value> {
    let start = chrono::DateTime::parse_from_rfc3339("2025-09-07T15:00:00Z").unwrap();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = start + chrono::TimeDelta::milliseconds(i64::try_from(i).unwrap() * 30);
        let ts = t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let instance = format!("00a1b2c3d4{:02}", i % 7);
        let resource = json!({"type": "cloud_run_revision", "labels": {
            "service_name": "api", "revision_name": format!("api-0004{}-abc", i % 3),
            "location": "us-central1", "project_id": "bench"}});
        let e = if i % 10 < 7 {
            let status = if i % 97 == 0 {
                503
            } else if i % 13 == 0 {
                404
            } else {
                200
            };
            json!({"insertId": format!("r{i:08x}"), "timestamp": ts, "resource": resource,
                "logName": "projects/bench/logs/run.googleapis.com%2Frequests",
                "severity": if status >= 500 { "ERROR" } else if status >= 400 { "WARNING" } else { "INFO" },
                "labels": {"instanceId": instance},
                "httpRequest": {"requestMethod": "GET", "requestUrl": format!("https://api.example.com/items/{}", i % 1000),
                    "status": status, "latency": "0.012s", "userAgent": "bench"}})
        } else {
            let sig = i % 50;
            json!({"insertId": format!("e{i:08x}"), "timestamp": ts, "resource": resource,
                "logName": "projects/bench/logs/run.googleapis.com%2Fstderr",
                "severity": "ERROR", "labels": {"instanceId": instance},
                "textPayload": format!("worker-{sig}: failed to process order {} for user {}@example.com after {} ms", i * 7919 % 100_000, i % 311, i % 900)})
        };
        out.push(e);
    }
    out.reverse();
    out
}

struct Pages {
    pages: Vec<Vec<u8>>,
}

impl Respond for Pages {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let i = body["pageToken"]
            .as_str()
            .and_then(|t| t.strip_prefix("tok-"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        ResponseTemplate::new(200).set_body_raw(self.pages[i].clone(), "application/json")
    }
}

fn timed(mut cmd: Command) -> (Duration, Option<u64>) {
    let timer = std::path::Path::new("/usr/bin/time").exists();
    let rss_file = tempfile::NamedTempFile::new().unwrap();
    let mut run = if timer {
        let mut t = Command::new("/usr/bin/time");
        t.args(["-f", "%M", "-o"]).arg(rss_file.path());
        t.arg(cmd.get_program()).args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                t.env(k, v);
            }
        }
        t
    } else {
        std::mem::replace(&mut cmd, Command::new("true"))
    };
    let started = Instant::now();
    let out = run.output().unwrap();
    let wall = started.elapsed();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rss = std::fs::read_to_string(rss_file.path())
        .ok()
        .and_then(|s| s.trim().lines().last()?.trim().parse().ok());
    (wall, rss)
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let n = usize::try_from(arg("--entries", 100_000)).unwrap();
    let latency = Duration::from_millis(arg("--latency-ms", 50));
    let all = entries(n);
    let chunks: Vec<&[Value]> = all.chunks(1000).collect();
    let pages: Vec<Vec<u8>> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut p = json!({ "entries": c });
            if i + 1 < chunks.len() {
                p["nextPageToken"] = json!(format!("tok-{}", i + 1));
            }
            serde_json::to_vec(&p).unwrap()
        })
        .collect();
    let page_count = pages.len();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/entries:list"))
        .respond_with(PagesWithDelay(Pages { pages }, latency))
        .mount(&server)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("entries.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for e in &all {
        serde_json::to_writer(&mut f, e).unwrap();
        f.write_all(b"\n").unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let mb = std::fs::metadata(&file).unwrap().len() as f64 / 1e6;

    let mut fetch = Command::new(BIN);
    fetch
        .args(["analyze", "--project", "bench", "--format", "json"])
        .args([
            "--from",
            "2025-09-07T00:00:00Z",
            "--until",
            "2025-09-08T00:00:00Z",
        ])
        .env("GCP_TRIAGE_LOGGING_ENDPOINT", server.uri())
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", "bench-token")
        .stdout(std::process::Stdio::null());
    let (fetch_wall, fetch_rss) = tokio::task::spawn_blocking(move || timed(fetch))
        .await
        .unwrap();

    let mut local = Command::new(BIN);
    local
        .args(["analyze", "--format", "json"])
        .arg(&file)
        .stdout(std::process::Stdio::null());
    let (file_wall, file_rss) = tokio::task::spawn_blocking(move || timed(local))
        .await
        .unwrap();

    let floor = latency * u32::try_from(page_count).unwrap();
    let kb = |r: Option<u64>| {
        r.map_or("n/a".to_string(), |k| {
            format!("{:.1} MB", k as f64 / 1024.0)
        })
    };
    println!(
        "entries: {n} in {page_count} pages ({mb:.1} MB as NDJSON), latency {latency:?} per page"
    );
    println!(
        "analyze from the fake API: wall {:.2} s, peak RSS {}",
        fetch_wall.as_secs_f64(),
        kb(fetch_rss)
    );
    println!(
        "pages x latency (paging floor): {:.2} s; wall / floor = {:.2}",
        floor.as_secs_f64(),
        fetch_wall.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "analyze of the same entries from a file: wall {:.2} s, peak RSS {}",
        file_wall.as_secs_f64(),
        kb(file_rss)
    );
    println!(
        "sequential estimate (floor + file analysis): {:.2} s; overlap saved {:.2} s",
        (floor + file_wall).as_secs_f64(),
        (floor + file_wall).as_secs_f64() - fetch_wall.as_secs_f64()
    );
}

struct PagesWithDelay(Pages, Duration);

impl Respond for PagesWithDelay {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.0.respond(req).set_delay(self.1)
    }
}
