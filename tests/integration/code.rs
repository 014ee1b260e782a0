//! Code evidence against throwaway git repositories: frames mapped to tracked files,
//! the failing line with its blame, the deploy's commits ranked by how close they came,
//! dependency bumps, ambiguity, and the one line that says why the code section is
//! absent.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::bin;

/// Runs git in `dir` with a fixed identity and dates; returns stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Dana Developer")
        .env("GIT_AUTHOR_EMAIL", "dana@example.com")
        .env("GIT_COMMITTER_NAME", "Dana Developer")
        .env("GIT_COMMITTER_EMAIL", "dana@example.com")
        .env("GIT_AUTHOR_DATE", "2026-04-01T10:00:00+00:00")
        .env("GIT_COMMITTER_DATE", "2026-04-01T10:00:00+00:00")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn commit(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A ledger module of 60 lines whose line 41 is `line41`.
fn ledger(line41: &str) -> String {
    (1..=60)
        .map(|n| {
            if n == 41 {
                format!("    {line41}\n")
            } else if n == 38 {
                "def post(rows):\n".to_string()
            } else {
                format!("# line {n}\n")
            }
        })
        .collect()
}

struct Repo {
    dir: tempfile::TempDir,
    base: String,
    line_fix: String,
    bump: String,
    docs: String,
}

/// base: the app, its requirements and two handlers of the same name; then a commit
/// that changes the failing line, one that bumps redis, one that touches the docs.
fn python_repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    write(d, "app/billing/ledger.py", &ledger("total += row.amount"));
    write(d, "requirements.txt", "flask==3.0.0\nredis==4.6.0\n");
    write(d, "svc_a/handlers.py", "x = 1\n");
    write(d, "svc_b/handlers.py", "x = 2\n");
    write(
        d,
        "lib/pay.js",
        "function chargeCard(card) {\n  const id = card.id;\n  return card.owner.name;\n}\n",
    );
    write(d, "docs/notes.md", "notes\n");
    let base = commit(d, "Start the ledger");
    write(d, "app/billing/ledger.py", &ledger("total += row"));
    let line_fix = commit(d, "Sum raw rows in the ledger");
    write(d, "requirements.txt", "flask==3.0.0\nredis==5.0.1\n");
    let bump = commit(d, "Bump redis");
    write(d, "docs/notes.md", "more notes\n");
    let docs = commit(d, "Update notes");
    Repo {
        dir,
        base,
        line_fix,
        bump,
        docs,
    }
}

fn export(dir: &Path) -> std::path::PathBuf {
    let trace = "Traceback (most recent call last):\n  File \"/usr/local/lib/python3.12/site-packages/starlette/routing.py\", line 74, in app\n    response = await func(request)\n  File \"/app/billing/ledger.py\", line 41, in post\n    total += row\nTypeError: unsupported operand type(s) for +=: 'int' and 'dict'";
    let node = "TypeError: Cannot read properties of undefined (reading 'name')\n    at chargeCard (/usr/src/app/lib/pay.js:3:20)\n    at /usr/src/app/node_modules/express/lib/router.js:5:2";
    let warm_up = json!({"insertId": "w", "severity": "INFO", "timestamp": "2026-04-02T07:30:00Z", "textPayload": "warming up"});
    let entries: Vec<Value> = std::iter::once(warm_up).chain((0..3)
        .flat_map(|i| {
            [
                json!({"insertId": format!("py{i}"), "severity": "ERROR", "timestamp": format!("2026-04-02T08:00:0{i}.5Z"), "textPayload": trace}),
                json!({"insertId": format!("js{i}"), "severity": "ERROR", "timestamp": format!("2026-04-02T08:01:0{i}.5Z"), "textPayload": node}),
                json!({"insertId": format!("amb{i}"), "severity": "ERROR", "timestamp": format!("2026-04-02T08:02:0{i}.5Z"),
                    "textPayload": "Traceback (most recent call last):\n  File \"/srv/handlers.py\", line 1, in handle\n    x()\nRuntimeError: handler failed"}),
            ]
        }))
        .collect();
    crate::github::write_ndjson(dir, "export.ndjson", &entries)
}

/// `analyze` with git on the PATH (the test environment clears it).
fn analyze(input: &Path, args: &[&str], format: &str) -> (Option<i32>, String, String) {
    let out = bin()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env_remove("GITHUB_EVENT_PATH")
        .env_remove("GITHUB_SERVER_URL")
        .arg("analyze")
        .arg(input)
        .args(["--format", format])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cluster<'r>(report: &'r Value, title_part: &str) -> &'r Value {
    report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"].as_str().unwrap().contains(title_part))
        .unwrap_or_else(|| panic!("no cluster with {title_part:?}"))
}

#[test]
fn frames_map_to_files_with_the_line_its_blame_and_the_commits_that_came_near() {
    let repo = python_repo();
    let work = tempfile::tempdir().unwrap();
    let input = export(work.path());
    let root = repo.dir.path().to_str().unwrap();
    let range = format!("{}..{}", repo.base, repo.docs);
    let (code, out, err) = analyze(&input, &["--repo", root, "--commits", &range], "json");
    assert_eq!(code, Some(0), "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["code"]["range"], range.as_str());
    assert_eq!(r["code"]["commits_in_range"], 3);

    let py = &cluster(&r, "TypeError: unsupported")["code"];
    let frame = &py["frames"][0];
    assert_eq!(frame["path"], "app/billing/ledger.py");
    assert_eq!(
        (frame["line"].as_u64(), frame["innermost"].as_bool()),
        (Some(41), Some(true))
    );
    assert_eq!(frame["text"], "    total += row");
    assert_eq!(frame["context"].as_array().unwrap().len(), 5);
    assert_eq!(
        py["frames"].as_array().unwrap().len(),
        1,
        "no site-packages frame"
    );
    assert_eq!(py["blame"]["commit"], repo.line_fix.as_str());
    assert_eq!(py["blame"]["summary"], "Sum raw rows in the ledger");
    assert!(
        py["blame"]["author"].is_null(),
        "authors only with --show-authors"
    );
    let suspects = py["suspects"].as_array().unwrap();
    assert_eq!(suspects[0]["commit"], repo.line_fix.as_str());
    assert!(
        suspects[0]["reason"]
            .as_str()
            .unwrap()
            .contains("failing line app/billing/ledger.py:41")
    );
    let bump = suspects
        .iter()
        .find(|s| s["commit"] == repo.bump.as_str())
        .unwrap();
    assert!(
        bump["reason"]
            .as_str()
            .unwrap()
            .contains("redis 4.6.0 → 5.0.1"),
        "{bump}"
    );
    assert!(suspects.iter().all(|s| s["commit"] != repo.docs.as_str()));
    let whys = cluster(&r, "TypeError: unsupported")["whys"]
        .as_array()
        .unwrap();
    let code_why = whys.iter().find(|w| w["kind"] == "observed_code").unwrap();
    assert!(
        code_why["answer"]
            .as_str()
            .unwrap()
            .contains("changed the failing line")
    );

    let js = &cluster(&r, "cannot read 'name'")["code"];
    assert_eq!(js["frames"][0]["path"], "lib/pay.js");
    assert_eq!(js["frames"][0]["text"], "  return card.owner.name;");

    let amb = &cluster(&r, "handler failed")["code"]["ambiguous"][0];
    assert_eq!(amb["printed"], "/srv/handlers.py");
    assert_eq!(amb["candidates"].as_array().unwrap().len(), 2);

    let (_, md, _) = analyze(
        &input,
        &["--repo", root, "--commits", &range, "--show-authors"],
        "markdown",
    );
    assert!(md.contains("### Code"), "{md}");
    assert!(md.contains("**Suspect**"), "{md}");
    assert!(md.contains("41 >     total += row"), "{md}");
    assert!(md.contains("(Dana Developer)"), "{md}");
    assert!(md.contains("matches several files, not guessed"), "{md}");

    // New with this deploy, and its failing line changed in the range: marked.
    let deploy = [
        "--repo",
        root,
        "--commits",
        &range,
        "--deployed-at",
        "2026-04-02T07:45:00Z",
    ];
    let (_, table, _) = analyze(&input, &deploy, "table");
    let line = table
        .lines()
        .find(|l| l.contains("TypeError: unsupported"))
        .unwrap();
    assert!(line.contains("new +line"), "{table}");
    let other = table
        .lines()
        .find(|l| l.contains("cannot read 'name'"))
        .unwrap();
    assert!(!other.contains("+line"), "{table}");
    let (_, md, _) = analyze(&input, &deploy, "markdown");
    assert!(md.contains("| new +line |"), "{md}");
}

#[test]
fn a_range_that_touched_no_file_of_the_trace_says_so() {
    let repo = python_repo();
    let work = tempfile::tempdir().unwrap();
    let input = export(work.path());
    let root = repo.dir.path().to_str().unwrap();
    let range = format!("{}..{}", repo.bump, repo.docs);
    let (_, out, _) = analyze(&input, &["--repo", root, "--commits", &range], "json");
    let r: Value = serde_json::from_str(&out).unwrap();
    let c = cluster(&r, "cannot read 'name'");
    assert_eq!(c["code"]["range_touched_trace"], false);
    let why = c["whys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "observed_code")
        .unwrap();
    assert!(
        why["answer"].as_str().unwrap().starts_with("No commit in"),
        "{why}"
    );
}

#[test]
fn no_repository_or_a_bad_range_gives_the_report_with_one_line_why() {
    let repo = python_repo();
    let work = tempfile::tempdir().unwrap();
    let input = export(work.path());
    let cases = [
        (
            vec!["--repo", work.path().to_str().unwrap()],
            "not inside a git work tree",
        ),
        (
            vec![
                "--repo",
                repo.dir.path().to_str().unwrap(),
                "--commits",
                "nosuchbase..HEAD",
            ],
            "nosuchbase is not a commit of the repository",
        ),
    ];
    for (args, reason) in cases {
        let (code, out, err) = analyze(&input, &args, "json");
        assert_eq!(code, Some(0), "{err}");
        let r: Value = serde_json::from_str(&out).unwrap();
        assert!(
            r["code"]["absent_reason"]
                .as_str()
                .unwrap()
                .contains(reason),
            "{}",
            r["code"]
        );
        assert!(
            r["clusters"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["code"].is_null())
        );
        let (_, md, _) = analyze(&input, &args, "markdown");
        assert!(md.contains("> **Code:** no code section:"), "{md}");
    }
    let (_, out, _) = analyze(&input, &["--no-code"], "json");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert!(
        r["code"]["absent_reason"]
            .as_str()
            .unwrap()
            .contains("--no-code")
    );
}

/// A merge brings in the commit that changed the failing line: that commit, not the
/// merge, is the suspect. A renamed file is found under its new name, a file deleted
/// in the range maps to nothing, and uncommitted changes are said to be unseen.
#[test]
fn merges_renames_deletions_and_a_dirty_tree() {
    let repo = python_repo();
    let d = repo.dir.path();
    git(d, &["checkout", "-q", "-b", "feature", &repo.base]);
    write(
        d,
        "app/billing/ledger.py",
        &ledger("total += row.amount or 0"),
    );
    let branch_fix = commit(d, "Tolerate empty amounts");
    git(d, &["checkout", "-q", "main"]);
    git(d, &["reset", "-q", "--hard", &repo.base]);
    git(
        d,
        &["merge", "-q", "--no-ff", "-m", "Merge feature", "feature"],
    );
    git(d, &["mv", "lib/pay.js", "lib/payments.js"]);
    std::fs::remove_file(d.join("svc_a/handlers.py")).unwrap();
    let moved = commit(d, "Rename pay.js, drop svc_a");
    write(d, "docs/notes.md", "uncommitted\n");
    git(d, &["add", "docs/notes.md"]);

    let work = tempfile::tempdir().unwrap();
    let trace = "Traceback (most recent call last):\n  File \"/app/billing/ledger.py\", line 41, in post\n    total += row.amount or 0\nTypeError: bad operand";
    let node = "TypeError: Cannot read properties of undefined (reading 'name')\n    at chargeCard (/usr/src/app/lib/payments.js:3:20)";
    let gone = "Traceback (most recent call last):\n  File \"/srv/svc_a/handlers.py\", line 1, in handle\n    x()\nRuntimeError: handler failed";
    let entries: Vec<Value> = [trace, node, gone]
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"insertId": format!("e{i}"), "severity": "ERROR", "timestamp": format!("2026-04-02T08:00:0{i}.5Z"), "textPayload": t}))
        .collect();
    let input = crate::github::write_ndjson(work.path(), "export.ndjson", &entries);
    let range = format!("{}..HEAD", repo.base);
    let (code, out, err) = analyze(
        &input,
        &["--repo", d.to_str().unwrap(), "--commits", &range],
        "json",
    );
    assert_eq!(code, Some(0), "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["code"]["dirty"], true);
    let py = &cluster(&r, "bad operand")["code"];
    assert_eq!(py["blame"]["commit"], branch_fix.as_str());
    assert_eq!(py["suspects"][0]["commit"], branch_fix.as_str());
    let js = &cluster(&r, "cannot read 'name'")["code"];
    assert_eq!(js["frames"][0]["path"], "lib/payments.js");
    assert!(
        js["suspects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["commit"] == moved.as_str())
    );
    let gone = &cluster(&r, "handler failed")["code"];
    assert!(
        gone.is_null() || gone["frames"].as_array().unwrap().is_empty(),
        "{gone}"
    );
    let (_, md, _) = analyze(
        &input,
        &["--repo", d.to_str().unwrap(), "--commits", &range],
        "markdown",
    );
    assert!(md.contains("uncommitted changes"), "{md}");
}

/// A shallow clone (as CI checks out) does not hold the deploy's base: the report says
/// so in one line and goes on.
#[test]
fn a_shallow_clone_without_the_base_says_to_fetch_more_history() {
    let repo = python_repo();
    let shallow = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.dir.path().display());
    let out = Command::new("git")
        .args(["clone", "-q", "--depth", "1", &url])
        .arg(shallow.path().join("clone"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let work = tempfile::tempdir().unwrap();
    let input = export(work.path());
    let clone = shallow.path().join("clone");
    let range = format!("{}..HEAD", repo.base);
    let (code, out, err) = analyze(
        &input,
        &["--repo", clone.to_str().unwrap(), "--commits", &range],
        "json",
    );
    assert_eq!(code, Some(0), "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let reason = r["code"]["absent_reason"].as_str().unwrap();
    assert!(reason.contains("shallow clone"), "{reason}");
    assert_eq!(r["summary"]["clusters_total"], 3);
}

/// The README's command with the staging sample's companion repository shows the
/// failing lines and the commits of the deploy that came near them.
#[test]
fn the_staging_sample_with_its_companion_repository_shows_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("staging-repo");
    let made = Command::new("bash")
        .arg(crate::root().join("samples/staging-repo.sh"))
        .arg(&repo)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let input = crate::sample("staging-incident.json");
    let args = [
        "--repo",
        repo.to_str().unwrap(),
        "--commits",
        "HEAD~2..HEAD",
    ];
    let (code, out, err) = analyze(&input, &args, "json");
    assert_eq!(code, Some(0), "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let ws = &cluster(&r, "'coroutine' object has no attribute 'get'")["code"];
    assert_eq!(
        ws["frames"][0]["path"],
        "netra_backend/app/routes/websocket.py"
    );
    assert_eq!(ws["frames"][0]["line"], 557);
    assert!(
        ws["suspects"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("changed lines near")
    );
    let key = &cluster(&r, "thread_id")["code"];
    assert!(
        key["suspects"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("changed the failing line")
    );
    assert!(
        key["suspects"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("require a thread id")
    );
}
