//! Integration tests: the binary end to end on the bundled samples, on the real exports
//! in `../shared/gcp-real-samples/`, and on broken inputs.

// Test helpers fail loudly: an unwrap here is an assertion.
#![allow(clippy::unwrap_used)]

mod bigquery;
mod cli;
mod cloud_logging;
mod code;
mod config;
mod deploy;
mod facts;
mod formats;
mod fuzz_corpus;
mod github;
mod parallel;
mod real_samples;
mod redaction;
mod samples;
mod snapshots;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A bundled sample.
pub fn sample(name: &str) -> PathBuf {
    root().join("samples").join(name)
}

/// The shared real exports (never copied into the repo). `GCP_TRIAGE_SHARED` overrides
/// the default `../shared` next to the repository.
pub fn shared(rel: &str) -> PathBuf {
    let base = std::env::var_os("GCP_TRIAGE_SHARED")
        .map_or_else(|| root().join("..").join("shared"), PathBuf::from);
    let path = base.join(rel);
    assert!(
        path.exists(),
        "{} is missing: these tests read the real exports from ../shared (set GCP_TRIAGE_SHARED to its location)",
        path.display()
    );
    path
}

/// The binary, with a clean environment: no colour settings, no GitHub Actions or
/// GitHub settings, and no Google credential source it could reach (no token or key variables, no gcloud files or `gcloud` on
/// PATH, a metadata host that refuses at once), so nothing probes beyond 127.0.0.1.
pub fn bin() -> Command {
    Command::from_std(bin_process())
}

/// [`bin`] as a plain `std::process::Command`, for tests that drive its pipes.
pub fn bin_process() -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin!("gcp-triage"));
    c.env_remove("NO_COLOR").env("TERM", "dumb");
    for var in [
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLOUD_PROJECT",
        "CLOUDSDK_CORE_PROJECT",
        "GCP_TRIAGE_LOGGING_ENDPOINT",
        "GITHUB_ACTIONS",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITHUB_REPOSITORY",
        "GITHUB_API_URL",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_OUTPUT",
        "GCP_TRIAGE_CONFIG",
    ] {
        c.env_remove(var);
    }
    c.env("HOME", root().join("target").join("no-home"))
        .env("PATH", "")
        .env("GCE_METADATA_HOST", "127.0.0.1:9");
    c
}

/// Runs `analyze --format json` and parses the report.
pub fn analyze_json(args: &[&str], path: &Path) -> serde_json::Value {
    let out = bin()
        .arg("analyze")
        .arg(path)
        .args(["--format", "json"])
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 1),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is the JSON report")
}

/// Titles of the clusters, in rank order.
pub fn titles(report: &serde_json::Value) -> Vec<String> {
    report["clusters"]
        .as_array()
        .expect("clusters is an array")
        .iter()
        .map(|c| c["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Runs the binary off the async runtime (tests that serve a fake API from it).
pub async fn run(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// A run's stderr as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
