//! Snapshots of the markdown and JSON reports on the bundled samples.

use crate::{bin, sample};

fn run(args: &[&str]) -> String {
    let out = bin().args(args).output().expect("the binary runs");
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    // The tool's version is in the report; keep snapshots stable across releases.
    text.replace(
        &format!("gcp-triage {}", env!("CARGO_PKG_VERSION")),
        "gcp-triage [version]",
    )
}

fn path(name: &str) -> String {
    sample(name)
        .display()
        .to_string()
        .replace(&format!("{}/", crate::root().display()), "")
}

#[test]
fn staging_incident_markdown() {
    let md = run(&[
        "analyze",
        "--format",
        "markdown",
        "--top",
        "5",
        &path("staging-incident.json"),
    ]);
    insta::assert_snapshot!("staging_incident_markdown", md);
}

#[test]
fn staging_incident_json() {
    let json = run(&[
        "analyze",
        "--format",
        "json",
        "--top",
        "5",
        &path("staging-incident.json"),
    ]);
    insta::assert_snapshot!("staging_incident_json", json);
}

#[test]
fn sink_export_json() {
    let json = run(&[
        "analyze",
        "--format",
        "json",
        "--top",
        "3",
        &path("sink-export.ndjson"),
    ]);
    insta::assert_snapshot!("sink_export_json", json);
}
