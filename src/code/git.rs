//! The repository, read through the `git` command: the work tree's root, the files
//! tracked at `HEAD`, a file's lines at `HEAD`, `blame` of a few lines, and the commits
//! of a range with the files they changed. Every call is bounded to what the top
//! clusters need; a failure is a reason the code section is absent, never an error.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A git repository at hand.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The work tree's root.
    pub root: PathBuf,
    /// `HEAD` as a full commit id.
    pub head: String,
}

/// One commit of the deploy's range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Full id.
    pub id: String,
    /// Committer date, RFC 3339.
    pub date: String,
    /// First line of the message.
    pub summary: String,
    /// Paths it changed (renames: the new path).
    pub files: Vec<String>,
}

/// Who last changed one line at `HEAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blame {
    /// Full commit id.
    pub commit: String,
    /// Author date, RFC 3339.
    pub date: String,
    /// First line of the commit message.
    pub summary: String,
    /// Author name (shown only with `--show-authors`).
    pub author: String,
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "git could not be run: it is not on PATH".to_string(),
            _ => format!("git could not be run: {e}"),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or("").trim();
        return Err(format!("git {}: {first}", args.first().unwrap_or(&"")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Repo {
    /// The repository whose work tree contains `dir`, with a commit at `HEAD`.
    pub fn open(dir: &Path) -> Result<Repo, String> {
        let root = git(dir, &["rev-parse", "--show-toplevel"]).map_err(|e| {
            if e.starts_with("git could not be run") {
                e
            } else {
                format!("{} is not inside a git work tree", dir.display())
            }
        })?;
        let root = PathBuf::from(root.trim());
        let head = git(&root, &["rev-parse", "--verify", "HEAD^{commit}"])
            .map_err(|_| format!("the repository at {} has no commit yet", root.display()))?;
        Ok(Repo {
            root,
            head: head.trim().to_string(),
        })
    }

    /// Resolves a revision to a full commit id.
    pub fn resolve(&self, rev: &str) -> Result<String, String> {
        if rev.starts_with('-') {
            return Err(format!("{rev:?} is not a revision"));
        }
        git(
            &self.root,
            &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
        )
        .map(|s| s.trim().to_string())
        .map_err(|_| format!("{rev} is not a commit of the repository"))
    }

    /// Files tracked at `HEAD`.
    pub fn tracked(&self) -> Result<Vec<String>, String> {
        let out = git(
            &self.root,
            &["ls-tree", "-r", "-z", "--name-only", &self.head],
        )?;
        Ok(out
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// The lines of `path` at `HEAD`.
    pub fn lines(&self, path: &str) -> Result<Vec<String>, String> {
        let text = git(&self.root, &["show", &format!("{}:{path}", self.head)])?;
        Ok(text.lines().map(str::to_string).collect())
    }

    /// Blame of lines `from..=to` of `path` at `HEAD`, one entry a line.
    ///
    /// With `since`, only the history after that commit is searched (lines older than
    /// it are given to it as the boundary): quick however long the history is.
    pub fn blame(
        &self,
        path: &str,
        from: u32,
        to: u32,
        since: Option<&str>,
    ) -> Result<Vec<Blame>, String> {
        let lines = format!("{from},{to}");
        let revs = match since {
            Some(b) => format!("{b}..{}", self.head),
            None => self.head.clone(),
        };
        let out = git(
            &self.root,
            &["blame", "--porcelain", "-L", &lines, &revs, "--", path],
        )?;
        Ok(parse_porcelain(&out))
    }

    /// Whether tracked files have uncommitted changes (the evidence is read at `HEAD`).
    pub fn dirty(&self) -> bool {
        git(
            &self.root,
            &["status", "--porcelain", "--untracked-files=no"],
        )
        .is_ok_and(|out| !out.trim().is_empty())
    }

    /// Commits in `HEAD`'s history, counted up to `cap`.
    pub fn history_len(&self, cap: usize) -> usize {
        let max = format!("--max-count={cap}");
        git(&self.root, &["rev-list", "--count", &max, &self.head])
            .ok()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(cap)
    }

    /// The commits of `base..head` (all of `head`'s history without a base, at most
    /// `limit`), newest first, each with the files it changed. The commits a merge
    /// brought in are listed themselves (the ids blame gives); a merge commit lists no
    /// files of its own.
    pub fn commits(
        &self,
        base: Option<&str>,
        head: &str,
        limit: usize,
    ) -> Result<Vec<Commit>, String> {
        let range = match base {
            Some(b) => format!("{b}..{head}"),
            None => head.to_string(),
        };
        let max = format!("--max-count={limit}");
        let out = git(
            &self.root,
            &[
                "log",
                &max,
                "--name-only",
                "--format=%x1e%H%x1f%cI%x1f%s",
                &range,
                "--",
            ],
        )?;
        Ok(out
            .split('\u{1e}')
            .filter_map(|block| {
                let mut lines = block.lines();
                let mut head = lines.next()?.split('\u{1f}');
                let id = head.next()?.to_string();
                let date = head.next()?.to_string();
                let summary = head.next().unwrap_or("").to_string();
                let files = lines
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect();
                (!id.is_empty()).then_some(Commit {
                    id,
                    date,
                    summary,
                    files,
                })
            })
            .collect())
    }

    /// The `+`/`-` lines of `path` between `a` and `b` (for dependency manifests).
    pub fn diff(&self, a: &str, b: &str, path: &str) -> Result<String, String> {
        git(&self.root, &["diff", "--no-color", "-U0", a, b, "--", path])
    }

    /// The `origin` remote's URL, without any credentials in it.
    pub fn remote_url(&self) -> Option<String> {
        let url = git(&self.root, &["remote", "get-url", "origin"]).ok()?;
        let url = url.trim();
        // `https://user:token@host/...`: the userinfo never leaves.
        Some(match url.split_once("://") {
            Some((scheme, rest)) => match rest.split_once('@') {
                Some((_, host))
                    if !rest[..rest.find('/').unwrap_or(rest.len())].is_empty()
                        && rest.find('@') < rest.find('/') =>
                {
                    format!("{scheme}://{host}")
                }
                _ => url.to_string(),
            },
            None => url.to_string(),
        })
    }

    /// The first parent of `commit`, if it has one.
    pub fn parent(&self, commit: &str) -> Option<String> {
        self.resolve(&format!("{commit}^")).ok()
    }
}

/// Reads `git blame --porcelain`: a header line per line (`<id> <orig> <final> [n]`),
/// commit fields the first time a commit appears, then the line itself after a tab.
fn parse_porcelain(out: &str) -> Vec<Blame> {
    use std::collections::HashMap;
    let mut known: HashMap<String, Blame> = HashMap::new();
    let mut result = Vec::new();
    let mut current: Option<Blame> = None;
    let mut time: Option<i64> = None;
    let mut zone = String::new();
    for line in out.lines() {
        if line.starts_with('\t') {
            if let Some(mut b) = current.take() {
                if let Some(t) = time.take() {
                    b.date = rfc3339(t, &zone);
                }
                known.insert(b.commit.clone(), b.clone());
                result.push(b);
            }
            continue;
        }
        let mut words = line.splitn(2, ' ');
        let key = words.next().unwrap_or("");
        let value = words.next().unwrap_or("");
        if key.len() == 40 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            current = Some(known.get(key).cloned().unwrap_or(Blame {
                commit: key.to_string(),
                date: String::new(),
                summary: String::new(),
                author: String::new(),
            }));
            continue;
        }
        let Some(b) = current.as_mut() else { continue };
        match key {
            "author" => b.author = value.to_string(),
            "author-time" => time = value.parse().ok(),
            "author-tz" => zone = value.to_string(),
            "summary" => b.summary = value.to_string(),
            _ => {}
        }
    }
    result
}

/// Unix seconds and a `+hhmm` zone as RFC 3339 in that zone.
fn rfc3339(secs: i64, zone: &str) -> String {
    let offset = zone
        .get(1..5)
        .and_then(|hm| {
            let h: i32 = hm.get(..2)?.parse().ok()?;
            let m: i32 = hm.get(2..)?.parse().ok()?;
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            chrono::FixedOffset::east_opt(sign * (h * 3600 + m * 60))
        })
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero is a valid offset"));
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.with_timezone(&offset).to_rfc3339())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_blame_is_read_with_repeated_commits() {
        let id = "a".repeat(40);
        let out = format!(
            "{id} 3 3 2\nauthor Ana\nauthor-time 1767225600\nauthor-tz +0100\nsummary Add ledger\nfilename x.py\n\tline three\n{id} 4 4\n\tline four\n"
        );
        let b = parse_porcelain(&out);
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].summary, "Add ledger");
        assert_eq!(b[0].date, "2026-01-01T01:00:00+01:00");
        assert_eq!(b[0].author, "Ana");
    }
}
