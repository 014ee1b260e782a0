//! The command line as users and CI jobs meet it: exit codes, stdin, gzip, malformed
//! input, bad rules, bad templates, assignments.

use std::io::Write;

use predicates::prelude::*;

use crate::{bin, sample};

const ENTRY_ERR: &str = r#"{"insertId":"a1","timestamp":"2025-01-01T00:00:00Z","severity":"ERROR","textPayload":"boom: user 42 failed"}"#;
const ENTRY_ERR2: &str = r#"{"insertId":"a2","timestamp":"2025-01-01T00:01:00Z","severity":"ERROR","textPayload":"boom: user 7 failed"}"#;

#[test]
fn exit_0_and_1_follow_fail_on() {
    bin()
        .args(["analyze", "-"])
        .write_stdin(format!("{ENTRY_ERR}\n"))
        .assert()
        .code(0);
    bin()
        .args(["analyze", "--fail-on", "ERROR", "-"])
        .write_stdin(format!("{ENTRY_ERR}\n"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--fail-on ERROR"));
    bin()
        .args(["analyze", "--fail-on", "CRITICAL", "-"])
        .write_stdin(format!("{ENTRY_ERR}\n"))
        .assert()
        .code(0);
}

#[test]
fn exit_2_for_usage_bad_rules_and_bad_templates() {
    bin()
        .args(["analyze", "--since", "soon"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--since \"soon\": not a duration"));
    bin()
        .args(["analyze", "--project", "p"])
        .arg(sample("app.log"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("exclude each other"));
    bin()
        .args(["analyze", "--top", "0", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--top"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[[rule]]\nid = \"broken-one\"\ntitle = \"t\"\npattern = \"(unclosed\"\n",
    )
    .unwrap();
    bin()
        .args(["analyze", "--rules"])
        .arg(dir.path())
        .arg(sample("app.log"))
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(
            "bad.toml: rule \"broken-one\": invalid regex",
        ));
    bin()
        .args(["rules", "check"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("broken-one"));
    let tpl = dir.path().join("bad.tera");
    std::fs::write(&tpl, "{% for x in %}").unwrap();
    bin()
        .args(["analyze", "--template"])
        .arg(&tpl)
        .arg(sample("app.log"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("template").and(predicate::str::contains("bad.tera")));
    let missing = dir.path().join("nope.tera");
    bin()
        .args(["analyze", "--template"])
        .arg(&missing)
        .arg(sample("app.log"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope.tera: cannot read template"));
}

#[test]
fn exit_3_for_unreadable_input_and_broken_json_keeps_what_was_read() {
    bin()
        .args(["analyze", "/nonexistent/logs.json"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "/nonexistent/logs.json: cannot read input",
        ));
    let broken = format!("[{ENTRY_ERR},\n{ENTRY_ERR2},\n{{\"textPayload\": ");
    let out = bin()
        .args(["analyze", "--format", "json", "-"])
        .write_stdin(broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["partial"], true);
    assert_eq!(report["summary"]["entries_read"], 2);
    assert_eq!(
        report["clusters"][0]["count"], 2,
        "what was read is reported"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("-: entry 3:"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn an_input_that_cannot_be_opened_fails_before_anything_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.md");
    let folder = dir.path().join("logs");
    std::fs::create_dir(&folder).unwrap();
    for missing in [dir.path().join("missing.json"), folder.clone()] {
        // A readable file first, the bad one second: still nothing is read or printed.
        let out = bin()
            .arg("analyze")
            .arg(sample("app.log"))
            .arg(&missing)
            .arg("--out")
            .arg(&report)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!report.exists(), "no report for a run that read nothing");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("gcp-triage: error: ") && err.contains(&*missing.to_string_lossy()),
            "{err}"
        );
    }
    // A source that fails before its first entry (a broken gzip) writes no report.
    let bad = dir.path().join("bad.json.gz");
    std::fs::write(&bad, b"\x1f\x8b\x08\x00garbage").unwrap();
    let out = bin()
        .arg("analyze")
        .arg(&bad)
        .arg("--out")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    assert!(!report.exists());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.json.gz: cannot read input"));
}

#[test]
fn a_single_valued_flag_given_twice_takes_the_last_value() {
    let json = |args: &[&str]| -> serde_json::Value {
        let out = bin()
            .arg("analyze")
            .arg(sample("staging-incident.json"))
            .args(args)
            .output()
            .unwrap();
        assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let r = json(&[
        "--format", "table", "--top", "2", "--top", "3", "--format", "json",
    ]);
    assert_eq!(r["clusters"].as_array().unwrap().len(), 3);
    let r = json(&[
        "--format",
        "json",
        "--min-severity",
        "ERROR",
        "--min-severity",
        "WARNING",
    ]);
    assert_eq!(r["settings"]["min_severity"], "WARNING");
    // Other subcommands too.
    bin()
        .args(["config", "show", "--top", "2", "--top", "5"])
        .assert()
        .code(0)
        .stdout(predicate::str::is_match(r"analyze\.top\s+5\s+flag").unwrap());
    bin()
        .args([
            "fetch",
            "--project",
            "first",
            "--project",
            "second",
            "--print-filter",
        ])
        .assert()
        .code(0);
    bin()
        .args([
            "rules", "explain", "--rules", "rules", "--rules", "rules", "boom",
        ])
        .assert()
        .code(0);
    // Repeatable options keep every value.
    bin()
        .args([
            "analyze",
            "--project",
            "p",
            "--service",
            "api",
            "--service",
            "worker",
            "--print-filter",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(r#"("api" OR "worker")"#));
}

#[test]
fn malformed_entries_are_skipped_counted_or_strict() {
    let input = format!("{ENTRY_ERR}\nnot json at all\n{ENTRY_ERR2}\n");
    let out = bin()
        .args(["analyze", "--format", "json", "-"])
        .write_stdin(input.clone())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["entries_read"], 3);
    assert_eq!(report["summary"]["entries_skipped"], 1);
    assert_eq!(report["clusters"][0]["count"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("-: line 2: malformed entry skipped"), "{err}");
    bin()
        .args(["analyze", "--strict", "-"])
        .write_stdin(input)
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "entry 2: malformed entry (--strict)",
        ));
}

#[test]
fn gzip_and_stdin_read_like_files() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("export.json.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&std::fs::read(sample("staging-incident.json")).unwrap())
        .unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let from_gz = bin()
        .args(["analyze", "--format", "json"])
        .arg(&gz)
        .output()
        .unwrap();
    let from_stdin = bin()
        .args(["analyze", "--format", "json", "-"])
        .write_stdin(std::fs::read(sample("staging-incident.json")).unwrap())
        .output()
        .unwrap();
    let a: serde_json::Value = serde_json::from_slice(&from_gz.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&from_stdin.stdout).unwrap();
    assert_eq!(a["clusters"], b["clusters"]);
    assert_eq!(a["summary"], b["summary"]);
}

/// The staging sample's JSON report from the file, and from `stdin` given instead.
fn staging_report_and(stdin: String) -> (serde_json::Value, serde_json::Value) {
    let run = |cmd: &mut assert_cmd::Command| {
        let out = cmd.output().unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let a = run(bin()
        .args(["analyze", "--format", "json", "--top", "100"])
        .arg(sample("staging-incident.json")));
    let b = run(bin()
        .args(["analyze", "--format", "json", "--top", "100", "-"])
        .write_stdin(stdin));
    (a, b)
}

#[test]
fn ndjson_and_array_of_the_same_entries_give_the_same_clusters() {
    let text = std::fs::read_to_string(sample("staging-incident.json")).unwrap();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let ndjson: String = entries.iter().map(|e| e.to_string() + "\n").collect();
    let (a, b) = staging_report_and(ndjson);
    assert_eq!(a["clusters"], b["clusters"]);
}

#[test]
fn assignments_cover_every_clustered_entry() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("a.csv");
    let out = bin()
        .args([
            "analyze",
            "--format",
            "json",
            "--top",
            "100",
            "--assignments",
        ])
        .arg(&csv)
        .arg(sample("app.log"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let csv = std::fs::read_to_string(&csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("insert_id,fingerprint"));
    let rows: Vec<&str> = lines.collect();
    let s = &report["summary"];
    let expected = s["entries_clustered"].as_u64().unwrap();
    let joined_in_clusters: u64 = report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["joined_lines"].as_u64().unwrap())
        .sum();
    assert_eq!(rows.len() as u64, expected + joined_in_clusters);
    let fps: Vec<&str> = report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["fingerprint"].as_str().unwrap())
        .collect();
    for row in rows {
        let (pos, fp) = row.split_once(',').unwrap();
        assert!(
            pos.parse::<u64>().is_ok(),
            "text lines are named by position: {row}"
        );
        assert!(fps.contains(&fp), "{row}");
    }
}

#[test]
fn rules_explain_shows_the_rule_or_the_template() {
    bin()
        .args([
            "rules",
            "explain",
            "WebSocket error: 'coroutine' object has no attribute 'get'",
        ])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("python-coroutine-attribute")
                .and(predicate::str::contains("fingerprint")),
        );
    bin()
        .args([
            "rules",
            "explain",
            "order 1234 for bob@example.com shipped to 10.0.0.1",
        ])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("order <*> for <*> shipped to <*>")
                .and(predicate::str::contains(
                    "email      \"<email>@example.com\" -> <*>",
                ))
                .and(predicate::str::contains("ip         \"10.0.0.1\" -> <*>")),
        );
    bin()
        .args(["rules", "check"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("ok: "));
}

#[test]
fn user_rules_override_builtin_ones_by_id() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.toml"),
        "[[rule]]\nid = \"python-coroutine-attribute\"\ntitle = \"Our own coroutine title\"\npattern = \"coroutine\"\nexamples = [\"coroutine x\", \"a coroutine\"]\ncounter_examples = [\"nothing\"]\n",
    )
    .unwrap();
    let out = bin()
        .args(["analyze", "--format", "json", "--rules"])
        .arg(dir.path())
        .arg(sample("staging-incident.json"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["clusters"][0]["title"], "Our own coroutine title");
}

#[test]
fn table_is_default_and_markdown_and_custom_templates_render() {
    bin()
        .args(["analyze"])
        .arg(sample("staging-incident.json"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("SEVERITY").and(predicate::str::contains("\x1b[").not()));
    bin()
        .args(["analyze", "--format", "markdown"])
        .arg(sample("staging-incident.json"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("### Five whys"));
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("short.tera");
    std::fs::write(
        &tpl,
        "{% for c in clusters %}{{ c.rank }}:{{ c.fingerprint }}\n{% endfor %}",
    )
    .unwrap();
    let out = dir.path().join("r.md");
    bin()
        .args(["analyze", "--top", "2", "--template"])
        .arg(&tpl)
        .arg("--out")
        .arg(&out)
        .arg(sample("staging-incident.json"))
        .assert()
        .code(0);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.starts_with("1:"));
}

#[test]
fn help_documents_exit_codes() {
    bin().args(["analyze", "--help"]).assert().code(0).stdout(
        predicate::str::contains("Exit codes:").and(predicate::str::contains("3  source failure")),
    );
}

#[test]
fn log_text_cannot_break_out_of_markdown_or_ping_people() {
    let nasty = r#"{"severity":"ERROR","insertId":"n1","textPayload":"boom ```\n## injected heading\n@here see #123 [click](http://x)"}"#;
    let out = bin()
        .args(["analyze", "--format", "markdown", "-"])
        .write_stdin(format!("{nasty}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let md = String::from_utf8(out.stdout).unwrap();
    // The message sits in a fence longer than the backtick run inside it...
    assert!(
        md.contains("````text\nboom ```\n## injected heading"),
        "{md}"
    );
    // ...and outside fences no mention, issue link or heading survives.
    let mut outside = String::new();
    let mut fence: Option<String> = None;
    for line in md.lines() {
        let ticks: String = line.chars().take_while(|c| *c == '`').collect();
        match &fence {
            Some(f) if line.trim_end() == f => fence = None,
            Some(_) => {}
            None if ticks.len() >= 3 => fence = Some(ticks),
            None => {
                outside.push_str(line);
                outside.push('\n');
            }
        }
    }
    assert!(!outside.contains("@here"), "{outside}");
    assert!(!outside.contains("#123"), "{outside}");
    assert!(
        !outside.lines().any(|l| l == "## injected heading"),
        "{outside}"
    );
}

#[test]
fn garbage_input_is_never_a_panic() {
    let garbage: Vec<u8> = (0u32..4096)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[1])
        .collect();
    let out = bin()
        .args(["analyze", "-"])
        .write_stdin(garbage)
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 3)), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    for input in [
        "[",
        "{",
        "[{\"severity\": 5e999}]",
        "{\"entries\": 3}",
        "\u{feff}",
        "[1,2,\"x\",null]",
    ] {
        let out = bin()
            .args(["analyze", "--format", "json", "-"])
            .write_stdin(input)
            .output()
            .unwrap();
        assert!(matches!(out.status.code(), Some(0 | 3)), "{input}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{input}: {err}");
        if out.status.code() == Some(3) {
            // Broken before its first entry: one error line, no report of nothing.
            assert!(out.stdout.is_empty(), "{input}");
            assert_eq!(err.lines().count(), 1, "{input}: {err}");
        } else {
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .unwrap_or_else(|e| panic!("{input}: {e}"));
        }
    }
}

/// Made-up bytes that are no text: a fixed pseudo-random sequence.
fn noise(len: usize) -> Vec<u8> {
    (0u32..u32::try_from(len).unwrap())
        .map(|i| i.wrapping_mul(2_246_822_519).rotate_left(13).to_le_bytes()[2])
        .collect()
}

#[test]
fn compressed_archives_and_binary_files_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(&good, format!("[{ENTRY_ERR},\n{ENTRY_ERR2}]")).unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "logs.json.zst",
            b"\x28\xB5\x2F\xFD",
            "zstd-compressed, which is not read; decompress it first (zstd -d)",
        ),
        (
            "logs.zip",
            b"PK\x03\x04",
            "a zip archive, which is not read; unpack it first (unzip)",
        ),
        ("logs.json.xz", b"\xFD7zXZ\x00", "xz-compressed"),
        ("core.dump", b"", "binary data, not text"),
    ];
    for (name, magic, says) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, [magic, &noise(3000)].concat()).unwrap();
        // Alone: one line naming the file and what to do, no report.
        let out = bin().arg("analyze").arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{name}: {out:?}");
        assert!(out.stdout.is_empty(), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(
            err.contains(&format!("{name}: cannot read input: {says}")),
            "{err}"
        );
        // After a readable input: what was read is reported, marked partial.
        let out = bin()
            .args(["analyze", "--format", "json"])
            .arg(&good)
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{name}: {out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["partial"], true);
        assert_eq!(report["summary"]["entries_read"], 2);
    }
    // Forced as text, binary data is read (an archive still is not).
    let path = dir.path().join("core.dump");
    bin()
        .args([
            "analyze",
            "--input-format",
            "text",
            "--min-severity",
            "DEFAULT",
        ])
        .arg(&path)
        .assert()
        .code(0);
    // Text in other encodings and with a few control characters is text.
    let latin1: Vec<u8> =
        b"ERROR caf\xe9 cr\xe8me br\xfbl\xe9e: \x07bell and \x08 backspace in a line\n".repeat(40);
    let path = dir.path().join("latin1.log");
    std::fs::write(&path, latin1).unwrap();
    bin().arg("analyze").arg(&path).assert().code(0);
}

#[test]
fn an_input_given_twice_is_read_once_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs.json");
    std::fs::write(&logs, format!("[{ENTRY_ERR},\n{ENTRY_ERR2}]")).unwrap();
    let link = dir.path().join("again.json");
    std::fs::hard_link(&logs, &link).unwrap();
    let out = bin()
        .args(["analyze", "--format", "json"])
        .arg(&logs)
        .arg(&link)
        .arg(dir.path().join(".").join("logs.json"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["entries_read"], 2, "read once");
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .ends_with(&format!("the same input as {}, read once", logs.display())),
        "{warnings:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .matches("read once")
            .count(),
        2
    );
}

#[test]
fn broken_stdout_pipe_is_not_an_error() {
    // `| head` closes stdout early; the run ends quietly.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("gcp-triage"))
        .args(["analyze", "--format", "json", "--top", "100"])
        .arg(sample("staging-incident.json"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn newest_first_and_oldest_first_exports_give_the_same_report() {
    let text = std::fs::read_to_string(sample("staging-incident.json")).unwrap();
    let mut entries: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    entries.reverse();
    let (mut a, mut b) = staging_report_and(serde_json::to_string(&entries).unwrap());
    // Everything but the input positions of the exemplars is the same.
    let strip = |v: &mut serde_json::Value| {
        for c in v["clusters"].as_array_mut().unwrap() {
            for e in c["exemplars"].as_array_mut().unwrap() {
                e.as_object_mut().unwrap().remove("position");
            }
        }
        v["clusters"].take()
    };
    assert_eq!(strip(&mut a), strip(&mut b));
}

#[test]
fn completions_for_every_shell_know_the_subcommands_and_flags() {
    for (shell, marker) in [
        ("bash", "complete -F _gcp__triage"),
        ("zsh", "#compdef gcp-triage"),
        ("fish", "complete -c gcp-triage"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(marker), "{shell}: {marker}");
        for word in ["analyze", "fetch", "file-issues", "since"] {
            assert!(text.contains(word), "{shell} completes {word}");
        }
    }
    bin().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn man_page_is_roff_with_every_subcommand() {
    let out = bin().arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(".TH gcp-triage 1"));
    for word in ["analyze", "fetch", "rules", "completions"] {
        assert!(text.contains(word), "{word}");
    }
}

#[test]
fn an_output_that_is_an_input_is_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("export.ndjson");
    std::fs::write(&input, format!("{ENTRY_ERR}\n{ENTRY_ERR2}\n")).unwrap();
    for flag in ["--out", "--assignments"] {
        // Named another way: the same file.
        let same = dir.path().join(".").join("export.ndjson");
        let out = bin()
            .arg("analyze")
            .arg(&input)
            .arg(flag)
            .arg(&same)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}: {out:?}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(flag) && err.contains("is an input of this run"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&input).unwrap(),
            format!("{ENTRY_ERR}\n{ENTRY_ERR2}\n"),
            "{flag} replaced the input"
        );
    }
    // A hard link is the same file under another name.
    let link = dir.path().join("linked.ndjson");
    std::fs::hard_link(&input, &link).unwrap();
    bin()
        .arg("analyze")
        .arg(&input)
        .arg("--assignments")
        .arg(&link)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is an input of this run"));
    assert_eq!(
        std::fs::read_to_string(&input).unwrap(),
        format!("{ENTRY_ERR}\n{ENTRY_ERR2}\n")
    );
    // `-` is no file: stdout already carries the report.
    for flag in ["--out", "--assignments"] {
        bin()
            .arg("analyze")
            .arg(&input)
            .args([flag, "-"])
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(format!("{flag} -:")));
        assert!(!std::path::Path::new("-").exists());
    }
    // The report and the CSV each need their own file.
    let both = dir.path().join("both.txt");
    bin()
        .arg("analyze")
        .arg(&input)
        .arg("--out")
        .arg(&both)
        .arg("--assignments")
        .arg(&both)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--out and --assignments both name",
        ));
    assert!(!both.exists());
    // The runner's step summary and outputs are appended to: never an input either.
    for var in ["GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"] {
        bin()
            .arg("analyze")
            .arg(&input)
            .env("GITHUB_ACTIONS", "true")
            .env(var, &input)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "{var} {}: is an input of this run",
                input.display()
            )));
        assert_eq!(
            std::fs::read_to_string(&input).unwrap(),
            format!("{ENTRY_ERR}\n{ENTRY_ERR2}\n")
        );
    }
}

#[test]
fn a_usage_error_is_one_line_and_a_message_may_start_with_a_hyphen() {
    for args in [
        &["analyze", "--top", "abc", "x.json"][..],
        &["analyze", "--format", "xml", "x.json"],
        &["analyze", "--bogus"],
        &["fetch", "--limit"],
    ] {
        let out = bin().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("gcp-triage: error: "), "{err}");
    }
    // The argument clap names is on the line; an argument it echoes is masked.
    bin()
        .args(["rules", "explain"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("<MESSAGE>"));
    bin()
        .args([
            "rules",
            "explain",
            "x",
            "token=ghp_Zx9QaB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("token=[REDACTED]"))
        .stderr(predicate::str::contains("Zx9QaB3cD4").not());
    let out = bin()
        .args(["analyze", "--format", "xml", "x.json"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("possible values: table, markdown, json")
    );
    // A message that starts like a flag is still the message, and its secret is masked.
    let key = "-----BEGIN EC PRIVATE KEY-----MHcCAQEEIGq7Zp3Lw9XkT2vN8sRb";
    bin()
        .args(["rules", "explain", key])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("[REDACTED"))
        .stdout(predicate::str::contains("MHcCAQEEIGq7Zp3Lw9XkT2vN8sRb").not());
    // Help still prints whole.
    bin()
        .args(["analyze", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Usage:"));
}
