//! Code evidence: where the repository of the deploy is at hand, the frames of a
//! cluster's traces mapped to its files, the failing line at `HEAD` with its context
//! and `blame`, and the commits of the deploy's range ranked by how close they came to
//! it. Observed facts about the code, never a claim that a commit caused the error.
//! Done for the top clusters only; without a repository or a range the report says
//! why in one line.

pub mod frames;
pub mod git;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use frames::{Frame, Mapped, map_path};
use git::{Commit, Repo};

/// Commits of a range read at most.
const MAX_COMMITS: usize = 1000;
/// Suspects listed per cluster.
const MAX_SUSPECTS: usize = 5;
/// Lines of context either side of the failing line.
const CONTEXT: u32 = 2;
/// Lines either side whose change counts as "around" the failing line.
const AROUND: u32 = 5;
/// Frames mapped per cluster.
const MAX_FRAMES: usize = 8;
/// A line older than the range is blamed over the whole history only when it is at
/// most this long: a blame walks it all, about 2 s for 50,000 commits.
const FULL_BLAME_HISTORY: usize = 10_000;

/// File names of dependency manifests, lockfiles and deploy configuration.
const MANIFESTS: [&str; 18] = [
    "pyproject.toml",
    "poetry.lock",
    "Pipfile",
    "Pipfile.lock",
    "package.json",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "go.mod",
    "go.sum",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "Cargo.toml",
    "Cargo.lock",
    "Dockerfile",
    "cloudbuild.yaml",
    "service.yaml",
];

fn is_manifest(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let text_file = Path::new(name)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("txt"));
    MANIFESTS.contains(&name) || (name.starts_with("requirements") && text_file)
}

/// The repository and the deploy's range, opened once per run.
pub struct Code {
    repo: Repo,
    tracked: Vec<String>,
    /// The range as given (`BASE..HEAD`), for the report.
    pub range: String,
    commits: Vec<Commit>,
    /// The range's base, when it has one.
    base: Option<String>,
    /// Whether a whole-history blame is affordable.
    full_blame: bool,
    show_authors: bool,
}

impl Code {
    /// Opens the repository at `dir` and reads the commits of `range` (`BASE..HEAD`;
    /// without one, the push event's `before..after` under GitHub Actions, else `HEAD`
    /// alone). The error is the one line the report shows instead of the code section.
    pub fn open(dir: &Path, range: Option<&str>, show_authors: bool) -> Result<Code, String> {
        let repo = Repo::open(dir)?;
        let tracked = repo.tracked()?;
        let given = range
            .map(str::to_string)
            .or_else(github_push_range)
            .unwrap_or_else(|| "HEAD".to_string());
        let (base, head) = match given.split_once("..") {
            Some((b, h)) => (Some(b), if h.is_empty() { "HEAD" } else { h }),
            None => (None, given.as_str()),
        };
        let head_id = repo.resolve(head)?;
        let base_id = match base {
            Some(b) => Some(repo.resolve(b).map_err(|e| {
                format!("{e} (a shallow clone may not hold the deploy's base: fetch more history)")
            })?),
            // HEAD alone: the range is its own commit.
            None => repo.parent(&head_id),
        };
        let commits = match &base_id {
            Some(b) => repo.commits(Some(b), &head_id, MAX_COMMITS)?,
            None => repo.commits(None, &head_id, 1)?,
        };
        let full_blame = repo.history_len(FULL_BLAME_HISTORY + 1) <= FULL_BLAME_HISTORY;
        Ok(Code {
            repo,
            tracked,
            range: given,
            commits,
            base: base_id,
            full_blame,
            show_authors,
        })
    }

    /// The code evidence for one cluster, from its exemplar messages and source
    /// locations.
    pub fn evidence(&self, messages: &[&str], source_locations: &[&str]) -> Evidence {
        let mut printed: Vec<Frame> = Vec::new();
        for m in messages {
            for f in frames::frames(m) {
                if !printed.iter().any(|p| p.path == f.path && p.line == f.line) {
                    printed.push(f);
                }
            }
        }
        printed.extend(
            source_locations
                .iter()
                .filter_map(|s| frames::source_location(s)),
        );
        let mut mapped: Vec<FrameView> = Vec::new();
        let mut ambiguous = Vec::new();
        for f in printed {
            if mapped.len() >= MAX_FRAMES {
                break;
            }
            match map_path(&f.path, &self.tracked) {
                Mapped::File(path) => mapped.push(self.view(&f, path)),
                Mapped::Ambiguous(paths) => ambiguous.push(Ambiguous {
                    printed: f.path.clone(),
                    line: f.line,
                    candidates: paths,
                }),
                Mapped::None => {}
            }
        }
        let blame = mapped
            .first()
            .and_then(|f| self.blame_line(&f.path, f.line));
        let suspects = self.suspects(&mapped);
        let trace_files: BTreeSet<&str> = mapped.iter().map(|f| f.path.as_str()).collect();
        let untouched = !trace_files.is_empty()
            && !self
                .commits
                .iter()
                .any(|c| c.files.iter().any(|p| trace_files.contains(p.as_str())));
        let line_changed_in_range = suspects.iter().any(|s| s.rank == 0);
        Evidence {
            line_changed_in_range,
            range: self.range.clone(),
            commits_in_range: self.commits.len(),
            frames: mapped,
            ambiguous,
            blame,
            suspects,
            range_touched_trace: !untouched,
        }
    }

    /// Who last changed a line: searched within the range first (quick); a line older
    /// than the range is blamed over the whole history when that is short enough.
    fn blame_line(&self, path: &str, line: u32) -> Option<BlameView> {
        let in_range = |id: &str| self.commits.iter().any(|c| c.id == id);
        let mut b = self
            .repo
            .blame(path, line, line, self.base.as_deref())
            .ok()?
            .into_iter()
            .next()?;
        if !in_range(&b.commit) {
            if !self.full_blame {
                return None;
            }
            b = self
                .repo
                .blame(path, line, line, None)
                .ok()?
                .into_iter()
                .next()?;
        }
        Some(BlameView {
            commit: b.commit,
            date: b.date,
            summary: b.summary,
            author: self.show_authors.then_some(b.author),
        })
    }

    fn view(&self, f: &Frame, path: String) -> FrameView {
        let lines = self.repo.lines(&path).unwrap_or_default();
        let at = f.line as usize;
        let text = lines.get(at.wrapping_sub(1)).cloned();
        let from = f.line.saturating_sub(CONTEXT).max(1);
        let context = (from..=f.line + CONTEXT)
            .filter_map(|n| Some((n, lines.get(n as usize - 1)?.clone())))
            .collect();
        FrameView {
            printed: f.path.clone(),
            path,
            line: f.line,
            function: f.function.clone(),
            text,
            context,
            innermost: f.innermost,
        }
    }

    /// The range's commits ranked by how close they came to the failing code.
    fn suspects(&self, mapped: &[FrameView]) -> Vec<Suspect> {
        let in_range: BTreeMap<&str, &Commit> =
            self.commits.iter().map(|c| (c.id.as_str(), c)).collect();
        // (rank, reason) per commit; lower rank is closer.
        let mut best: BTreeMap<&str, (u8, String, Vec<String>)> = BTreeMap::new();
        let mut note = |id: &str, rank: u8, reason: String, file: &str| {
            let Some(c) = in_range.get(id) else { return };
            let e = best
                .entry(c.id.as_str())
                .or_insert((u8::MAX, String::new(), Vec::new()));
            if rank < e.0 {
                e.0 = rank;
                e.1 = reason;
            }
            if !e.2.iter().any(|f| f == file) {
                e.2.push(file.to_string());
            }
        };
        if let Some(f) = mapped.first() {
            let from = f.line.saturating_sub(AROUND).max(1);
            if let Ok(blame) = self
                .repo
                .blame(&f.path, from, f.line + AROUND, self.base.as_deref())
            {
                for (i, b) in blame.iter().enumerate() {
                    let n = from + u32::try_from(i).unwrap_or(0);
                    if n == f.line {
                        note(
                            &b.commit,
                            0,
                            format!("changed the failing line {}:{n}", f.path),
                            &f.path,
                        );
                    } else {
                        note(
                            &b.commit,
                            1,
                            format!("changed lines near {}:{}", f.path, f.line),
                            &f.path,
                        );
                    }
                }
            }
        }
        let trace_files: BTreeSet<&str> = mapped.iter().map(|f| f.path.as_str()).collect();
        for c in &self.commits {
            for p in &c.files {
                if trace_files.contains(p.as_str()) {
                    note(&c.id, 2, format!("changed {p}, a file of the trace"), p);
                } else if is_manifest(p) {
                    let moved = self.moved_packages(c, p);
                    let reason = if moved.is_empty() {
                        format!("changed {p}")
                    } else {
                        format!("changed {p}: {}", moved.join(", "))
                    };
                    note(&c.id, 3, reason, p);
                }
            }
        }
        let mut out: Vec<Suspect> = best
            .into_iter()
            .filter_map(|(id, (rank, reason, files))| {
                let c = in_range.get(id)?;
                Some(Suspect {
                    commit: c.id.clone(),
                    summary: c.summary.clone(),
                    date: c.date.clone(),
                    reason,
                    files,
                    rank,
                })
            })
            .collect();
        out.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| b.date.cmp(&a.date)));
        out.truncate(MAX_SUSPECTS);
        out
    }

    /// Packages whose version a commit moved in a manifest: `name old → new`.
    fn moved_packages(&self, c: &Commit, path: &str) -> Vec<String> {
        let Some(parent) = self.repo.parent(&c.id) else {
            return Vec::new();
        };
        let Ok(diff) = self.repo.diff(&parent, &c.id, path) else {
            return Vec::new();
        };
        moved_versions(&diff)
    }
}

/// The code section of a report: the range read, or why there is none.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CodeSummary {
    /// The repository's work tree, when one was read.
    pub repo: Option<String>,
    /// The range read (`BASE..HEAD`, or a revision).
    pub range: Option<String>,
    /// Commits in the range (read at most 1,000).
    pub commits_in_range: usize,
    /// The repository's web address on GitHub (`GITHUB_SERVER_URL` and
    /// `GITHUB_REPOSITORY`, else the `origin` remote), for commit links.
    pub web: Option<String>,
    /// Why the code section is absent, in one line.
    pub absent_reason: Option<String>,
    /// Tracked files have uncommitted changes: the evidence is `HEAD`'s, not theirs.
    pub dirty: bool,
}

/// Code evidence for the clusters shown: `dir` is the repository to read (`None`:
/// the work tree of the current directory), `range` the deploy's commits. Without a
/// repository or a range, the summary says why and no cluster has evidence.
pub fn for_clusters<'c>(
    dir: Option<&Path>,
    range: Option<&str>,
    show_authors: bool,
    clusters: impl Iterator<Item = &'c crate::cluster::Cluster>,
) -> (CodeSummary, BTreeMap<String, Evidence>) {
    let cwd = std::env::current_dir().unwrap_or_default();
    let code = match Code::open(dir.unwrap_or(&cwd), range, show_authors) {
        Ok(c) => c,
        Err(reason) => {
            return (
                CodeSummary {
                    absent_reason: Some(reason),
                    ..CodeSummary::default()
                },
                BTreeMap::new(),
            );
        }
    };
    let mut out = BTreeMap::new();
    for c in clusters {
        let messages: Vec<&str> = c
            .early
            .iter()
            .chain(&c.late)
            .map(|e| e.message.as_str())
            .collect();
        let locations: Vec<&str> = c.source_locations.keys().map(String::as_str).collect();
        let ev = code.evidence(&messages, &locations);
        if !ev.frames.is_empty() || !ev.ambiguous.is_empty() || !ev.suspects.is_empty() {
            out.insert(c.fingerprint.clone(), ev);
        }
    }
    (
        CodeSummary {
            repo: Some(code.repo.root.display().to_string()),
            range: Some(code.range.clone()),
            commits_in_range: code.commits.len(),
            web: web_address(&code.repo),
            absent_reason: None,
            dirty: code.repo.dirty(),
        },
        out,
    )
}

/// `name old → new` for each package a diff's `-`/`+` lines give two versions of.
fn moved_versions(diff: &str) -> Vec<String> {
    static PKG: OnceLock<Regex> = OnceLock::new();
    let re = PKG.get_or_init(|| {
        Regex::new(
            r#"^[-+]\s*(?:require\s+)?["']?(?P<name>[A-Za-z@][\w.@/-]*)["']?\s*(?:==|>=|~=|=|:|@|\s)\s*["']?[\^~=v]?(?P<ver>\d[\w.+-]*)"#,
        )
        .expect("the package regex is a valid literal")
    });
    let mut old: BTreeMap<String, String> = BTreeMap::new();
    let mut new: BTreeMap<String, String> = BTreeMap::new();
    for line in diff.lines() {
        if line.starts_with("---") || line.starts_with("+++") {
            continue;
        }
        if let Some(c) = re.captures(line) {
            let side = if line.starts_with('-') {
                &mut old
            } else {
                &mut new
            };
            side.insert(c["name"].to_string(), c["ver"].to_string());
        }
    }
    new.iter()
        .filter_map(|(name, v)| {
            let before = old.get(name)?;
            (before != v).then(|| format!("{name} {before} → {v}"))
        })
        .collect()
}

/// Where the repository lives on GitHub: the Actions variables, else an `origin`
/// remote on github.com (`https://github.com/o/r(.git)`, `git@github.com:o/r.git`).
fn web_address(repo: &Repo) -> Option<String> {
    if let (Ok(server), Ok(name)) = (
        std::env::var("GITHUB_SERVER_URL"),
        std::env::var("GITHUB_REPOSITORY"),
    ) && !server.is_empty()
        && name.split('/').count() == 2
    {
        return Some(format!("{}/{name}", server.trim_end_matches('/')));
    }
    let url = repo.remote_url()?;
    let path = url
        .strip_prefix("https://github.com/")
        .or_else(|| url.strip_prefix("git@github.com:"))
        .or_else(|| url.strip_prefix("ssh://git@github.com/"))?;
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    (path.split('/').count() == 2 && !path.contains(['@', ' ']))
        .then(|| format!("https://github.com/{path}"))
}

/// The push event's `before..after` under GitHub Actions, when it has both.
fn github_push_range() -> Option<String> {
    let path = std::env::var_os("GITHUB_EVENT_PATH")?;
    let text = std::fs::read_to_string(path).ok()?;
    let event: serde_json::Value = serde_json::from_str(&text).ok()?;
    let before = event.get("before")?.as_str()?;
    let after = event.get("after")?.as_str()?;
    let real = |s: &str| !s.is_empty() && s.bytes().any(|b| b != b'0');
    (real(before) && real(after)).then(|| format!("{before}..{after}"))
}

/// What the code says about one cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// The range read (`BASE..HEAD`, or a revision).
    pub range: String,
    /// Commits in it (read at most 1,000).
    pub commits_in_range: usize,
    /// Application frames mapped to tracked files, innermost first.
    pub frames: Vec<FrameView>,
    /// Frames whose path matched several files equally well.
    pub ambiguous: Vec<Ambiguous>,
    /// Who last changed the innermost mapped line (null when that was before the range
    /// and the history is longer than 10,000 commits, too long to blame quickly).
    pub blame: Option<BlameView>,
    /// Commits of the range ranked by how close they came, at most five.
    pub suspects: Vec<Suspect>,
    /// Whether any commit of the range changed a file of the trace.
    pub range_touched_trace: bool,
    /// Whether a commit of the range changed the failing line itself.
    pub line_changed_in_range: bool,
}

impl Evidence {
    /// The same evidence with code lines, commit messages and paths passed through the
    /// redactor, like log text.
    #[must_use]
    pub fn redacted(mut self, redactor: crate::redact::Redactor) -> Evidence {
        let r = |s: &mut String| {
            if let std::borrow::Cow::Owned(o) = redactor.redact(s) {
                *s = o;
            }
        };
        for f in &mut self.frames {
            if let Some(t) = f.text.as_mut() {
                r(t);
            }
            for (_, line) in &mut f.context {
                r(line);
            }
            r(&mut f.printed);
        }
        if let Some(b) = self.blame.as_mut() {
            r(&mut b.summary);
            if let Some(a) = b.author.as_mut() {
                r(a);
            }
        }
        for s in &mut self.suspects {
            r(&mut s.summary);
            r(&mut s.reason);
        }
        self
    }
}

/// A frame mapped to a tracked file.
#[derive(Debug, Clone, Serialize)]
pub struct FrameView {
    /// The tracked path.
    pub path: String,
    /// 1-based line.
    pub line: u32,
    /// The function the trace names.
    pub function: Option<String>,
    /// The line at `HEAD` (absent when the file is shorter).
    pub text: Option<String>,
    /// The line with two lines either side, numbered.
    pub context: Vec<(u32, String)>,
    /// The path as the trace printed it.
    pub printed: String,
    /// Whether it is the innermost frame.
    pub innermost: bool,
}

/// A printed path that matched several tracked files equally well.
#[derive(Debug, Clone, Serialize)]
pub struct Ambiguous {
    /// The path as printed.
    pub printed: String,
    /// Its line.
    pub line: u32,
    /// The tracked files it could be.
    pub candidates: Vec<String>,
}

/// `blame` of the innermost mapped line.
#[derive(Debug, Clone, Serialize)]
pub struct BlameView {
    /// Full commit id.
    pub commit: String,
    /// Author date.
    pub date: String,
    /// First line of its message.
    pub summary: String,
    /// Author name, only with `--show-authors`.
    pub author: Option<String>,
}

/// A commit of the range and how close it came.
#[derive(Debug, Clone, Serialize)]
pub struct Suspect {
    /// Full commit id.
    pub commit: String,
    /// First line of its message.
    pub summary: String,
    /// Committer date.
    pub date: String,
    /// What it did near the failure (never that it caused it).
    pub reason: String,
    /// The files that put it here.
    pub files: Vec<String>,
    /// 0 the failing line, 1 lines around it, 2 a file of the trace, 3 a manifest.
    #[serde(skip)]
    pub rank: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_versions_of_common_manifests() {
        let diff = "--- a/requirements.txt\n+++ b/requirements.txt\n-redis==4.6.0\n+redis==5.0.1\n-flask==3.0.0\n+flask==3.0.0\n+newpkg==1.0";
        assert_eq!(moved_versions(diff), ["redis 4.6.0 → 5.0.1"]);
        let pkg = "-    \"express\": \"^4.18.2\",\n+    \"express\": \"^5.0.0\",";
        assert_eq!(moved_versions(pkg), ["express 4.18.2 → 5.0.0"]);
        let gomod = "-\trequire github.com/redis/go-redis/v9 v9.0.5\n+\trequire github.com/redis/go-redis/v9 v9.5.1";
        assert_eq!(
            moved_versions(gomod),
            ["github.com/redis/go-redis/v9 9.0.5 → 9.5.1"]
        );
        assert!(is_manifest("svc/requirements-prod.txt") && !is_manifest("src/app.py"));
    }
}
