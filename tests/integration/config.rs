//! `gcp-triage.toml`: where it is found, what beats what, every error it can raise,
//! `config show` (with secrets hidden), the shipped example, and the CI recipes in
//! `examples/`, whose every `gcp-triage` command line must satisfy the real parser.

use std::path::{Path, PathBuf};

use clap::Parser as _;
use gcp_triage::cli::Cli;
use yaml_rust2::{Yaml, YamlLoader};

use crate::{analyze_json, bin, root, sample, stderr};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `config show` run in `dir` with `args`; the row for `key` as (value, origin).
fn show_row(out: &std::process::Output, key: &str) -> (String, String) {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no {key} row in:\n{text}"));
    let cells: Vec<&str> = line
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    (cells[1].to_string(), cells[cells.len() - 1].to_string())
}

fn shown(report: &serde_json::Value) -> usize {
    report["clusters"].as_array().unwrap().len()
}

#[test]
fn flag_beats_config_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "gcp-triage.toml", "[analyze]\ntop = 3\n");
    let staging = sample("staging-incident.json");
    assert_eq!(shown(&analyze_json(&[], &staging)), 10, "built-in default");
    let with_file = analyze_json(&["--config", cfg.to_str().unwrap()], &staging);
    assert_eq!(shown(&with_file), 3, "config file");
    let with_flag = analyze_json(&["--config", cfg.to_str().unwrap(), "--top", "2"], &staging);
    assert_eq!(shown(&with_flag), 2, "flag");
}

#[test]
fn environment_sits_between_flag_and_config() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "gcp-triage.toml",
        "[cloud]\nproject = \"from-file\"\n",
    );
    let run = |env: Option<&str>, flag: Option<&str>| {
        let mut c = bin();
        c.current_dir(dir.path()).args(["config", "show"]);
        if let Some(p) = flag {
            c.args(["--project", p]);
        }
        if let Some(p) = env {
            c.env("GOOGLE_CLOUD_PROJECT", p);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        show_row(&out, "cloud.project")
    };
    let (v, from) = run(None, None);
    assert_eq!(v, "from-file");
    assert!(from.ends_with("gcp-triage.toml:2"), "{from}");
    assert_eq!(
        run(Some("from-env"), None),
        ("from-env".into(), "env GOOGLE_CLOUD_PROJECT".into())
    );
    assert_eq!(
        run(Some("from-env"), Some("from-flag")),
        ("from-flag".into(), "flag".into())
    );
    let empty = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(empty.path())
        .args(["config", "show"])
        .output()
        .unwrap();
    assert_eq!(show_row(&out, "cloud.project").1, "default");
    assert_eq!(
        show_row(&out, "analyze.top"),
        ("10".into(), "default".into())
    );
}

#[test]
fn found_in_the_current_directory_the_git_root_or_where_told() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join(".git")).unwrap();
    let nested = repo.path().join("services/api");
    std::fs::create_dir_all(&nested).unwrap();
    write(repo.path(), "gcp-triage.toml", "[analyze]\ntop = 4\n");
    let staging = sample("staging-incident.json");
    let top_in = |dir: &Path, extra: &[&str], env: Option<&Path>| {
        let mut c = bin();
        c.current_dir(dir)
            .arg("analyze")
            .arg(&staging)
            .args(["--format", "json"])
            .args(extra);
        if let Some(p) = env {
            c.env("GCP_TRIAGE_CONFIG", p);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        shown(&serde_json::from_slice(&out.stdout).unwrap())
    };
    assert_eq!(top_in(&nested, &[], None), 4, "git root");
    write(&nested, "gcp-triage.toml", "[analyze]\ntop = 5\n");
    assert_eq!(top_in(&nested, &[], None), 5, "current directory first");
    let other = write(repo.path(), "other.toml", "[analyze]\ntop = 6\n");
    assert_eq!(top_in(&nested, &[], Some(&other)), 6, "GCP_TRIAGE_CONFIG");
    let flag = write(repo.path(), "flag.toml", "[analyze]\ntop = 7\n");
    assert_eq!(
        top_in(&nested, &["--config", flag.to_str().unwrap()], Some(&other)),
        7,
        "--config beats GCP_TRIAGE_CONFIG"
    );
}

/// Runs `config show` on a file holding `text`; exit 2 and the one stderr line.
fn config_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "team.toml", text);
    let out = bin()
        .args(["--config", path.to_str().unwrap(), "config", "show"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("team.toml"), "{err}");
    err
}

#[test]
fn every_config_error_names_file_line_and_key() {
    let e = config_error("[analyze]\ntopp = 3\n");
    assert!(
        e.contains("team.toml:2: key `analyze.topp`: unknown field `topp`"),
        "{e}"
    );
    let e = config_error("# comment\n[analyze]\n\ntop = \"ten\"\n");
    assert!(
        e.contains("team.toml:4: key `analyze.top`: invalid type: string \"ten\""),
        "{e}"
    );
    let e = config_error("[analyze]\nmin_severity = \"LOUD\"\n");
    assert!(
        e.contains("team.toml:2: key `analyze.min_severity`: \"LOUD\" is not one of DEFAULT"),
        "{e}"
    );
    let e = config_error("[cloud]\nresource_type = \"vm\"\n");
    assert!(e.contains("team.toml:2: key `cloud.resource_type`"), "{e}");
    let e = config_error("[cloud]\nsince = \"soon\"\n");
    assert!(
        e.contains("team.toml:2: key `cloud.since`: \"soon\": not a duration"),
        "{e}"
    );
    let e = config_error("[cloud]\nproject = \"p\"\nlimit = 0\n");
    assert!(
        e.contains("team.toml:3: key `cloud.limit`: must be at least 1"),
        "{e}"
    );
    let e = config_error("[analyze]\nthreads = 0\n");
    assert!(
        e.contains("team.toml:2: key `analyze.threads`: 0 is not in 1..=256"),
        "{e}"
    );
    let e = config_error("[deploy]\nbaseline = \"1 hour\"\n");
    assert!(e.contains("team.toml:2: key `deploy.baseline`"), "{e}");
    let e = config_error("[github]\ntoken = \"ghp_abc\"\n");
    assert!(
        e.contains("key `github.token`: secrets never go in the config file"),
        "{e}"
    );
    assert!(!e.contains("ghp_abc"));
    let e = config_error("top = 3\n");
    assert!(
        e.contains("team.toml:1: key `top`: unknown field `top`"),
        "{e}"
    );
    let e = config_error("[cloud\nproject = \"p\"\n");
    assert!(e.contains("team.toml:1:"), "{e}");
    let e = config_error("[cloud]\nlimit = -5\n");
    assert!(e.contains("key `cloud.limit`"), "{e}");

    let out = bin()
        .args(["--config", "/nonexistent/team.toml", "config", "show"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/team.toml: cannot read it"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_show_never_prints_secrets() {
    let out = bin()
        .args([
            "config",
            "show",
            "--file-issues",
            "--github-repo",
            "acme/app",
        ])
        .env("GITHUB_TOKEN", "ghp_s3cr3t_value")
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.s3cr3t")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(
        text.contains("GITHUB_TOKEN") && text.contains("set, from the environment"),
        "{text}"
    );
    assert!(
        text.contains("GH_TOKEN") && text.contains("not set"),
        "{text}"
    );
}

#[test]
fn paths_in_the_file_are_relative_to_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "short.md.tera",
        "clusters={{ summary.clusters_total }}\n",
    );
    let cfg = write(
        dir.path(),
        "gcp-triage.toml",
        "[analyze]\ntemplate = \"short.md.tera\"\nformat = \"markdown\"\n",
    );
    let out = bin()
        .args(["--config", cfg.to_str().unwrap(), "analyze"])
        .arg(sample("staging-incident.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "clusters=16");
}

#[test]
fn the_example_config_loads_and_every_value_in_it_applies() {
    let example = root().join("examples/gcp-triage.toml");
    let out = bin()
        .args(["--config", example.to_str().unwrap(), "config", "show"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&example).unwrap();
    let mut section = String::new();
    let mut checked = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.trim_matches(['[', ']']).to_string();
        } else if let Some((key, _)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
            let key = format!("{section}.{}", key.trim());
            let (_, from) = show_row(&out, &key);
            assert!(
                from.ends_with(&format!("gcp-triage.toml:{}", i + 1)),
                "{key}: {from}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} keys checked");
    // With files, the [cloud] section stays out of the way; [deploy] applies.
    let out = bin()
        .args(["--config", example.to_str().unwrap(), "analyze"])
        .arg(sample("deploy-new-errors.ndjson"))
        .args(["--deployed-revision", "orders-api-00042-vex"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "fail_on_new = ERROR from the file: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("--fail-on-new ERROR"),
        "{}",
        stderr(&out)
    );
}

/// Every string in a YAML document.
fn strings(y: &Yaml, out: &mut Vec<String>) {
    match y {
        Yaml::String(s) => out.push(s.clone()),
        Yaml::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Yaml::Hash(h) => h.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

/// The `gcp-triage` command lines in shell text, continuations joined.
fn commands(script: &str) -> Vec<String> {
    script
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("gcp-triage "))
        .map(str::to_string)
        .collect()
}

fn recipe_commands(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("examples").join(file)).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(docs.len(), 1, "{file}");
    let mut all = Vec::new();
    strings(&docs[0], &mut all);
    all.iter().flat_map(|s| commands(s)).collect()
}

fn assert_parses(line: &str) {
    let words = shlex::split(line).unwrap_or_else(|| panic!("unbalanced quotes: {line}"));
    if let Err(e) = Cli::try_parse_from(&words) {
        panic!("{line}\n{e}");
    }
}

#[test]
fn ci_recipes_are_yaml_and_their_command_lines_parse() {
    let gha = recipe_commands("github-actions.yml");
    assert_eq!(gha.len(), 2, "{gha:?}");
    assert!(
        gha.iter()
            .any(|c| c.contains("--fail-on-new") && c.contains("--file-issues"))
    );
    let cloud_build = recipe_commands("cloudbuild.yaml");
    assert_eq!(cloud_build.len(), 1, "{cloud_build:?}");
    assert!(cloud_build[0].contains("--deployed-revision"));
    for line in gha.iter().chain(&cloud_build) {
        assert_parses(line);
    }
    // The check itself catches a rotten line.
    let broken =
        std::panic::catch_unwind(|| assert_parses("gcp-triage analyze --fail-on-neww ERROR"));
    assert!(broken.is_err());
}
