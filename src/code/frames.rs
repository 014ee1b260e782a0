//! Frames of a stack trace as (path, line, function), in the order the trace gives
//! them, and their mapping to the files a repository tracks: by the longest common path
//! suffix, never into vendored or installed code, and ambiguous when two files tie.

use std::sync::OnceLock;

use regex::Regex;

/// One frame read from a trace (or an entry's `sourceLocation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The path as the runtime printed it (`/app/src/api.py`, `com/acme/Svc.java`).
    pub path: String,
    /// 1-based line.
    pub line: u32,
    /// The function, when the trace names it.
    pub function: Option<String>,
    /// Whether this is the innermost frame of the trace (where the error was raised).
    pub innermost: bool,
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("frame regexes are valid literals"))
}

/// Path parts that mark code the application did not write: installed packages,
/// vendored modules, the language's own library.
const LIBRARY_MARKS: [&str; 8] = [
    "site-packages/",
    "dist-packages/",
    "node_modules/",
    "/usr/lib/",
    "/usr/local/lib/",
    "/usr/local/go/",
    "/pkg/mod/",
    "vendor/",
];

/// Whether a printed path is library code.
pub fn is_library(path: &str) -> bool {
    path.starts_with("node:")
        || path.starts_with('<')
        || LIBRARY_MARKS.iter().any(|m| path.contains(m))
}

/// The frames of every trace in `message`, innermost first.
pub fn frames(message: &str) -> Vec<Frame> {
    static PY: OnceLock<Regex> = OnceLock::new();
    static NODE: OnceLock<Regex> = OnceLock::new();
    static GO: OnceLock<Regex> = OnceLock::new();
    static JAVA: OnceLock<Regex> = OnceLock::new();
    let py = re(
        &PY,
        r#"(?m)^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>\S+))?"#,
    );
    let node = re(
        &NODE,
        r"(?m)^\s*at (?:async )?(?:(?P<func>[^\s(]+) \()?(?P<path>[^\s()]+?):(?P<line>\d+):\d+\)?\s*$",
    );
    let go = re(
        &GO,
        r"(?m)^(?P<func>[\w./*()-]+)\([^\n]*\)\n\s+(?P<path>\S+\.go):(?P<line>\d+)",
    );
    let java = re(
        &JAVA,
        r"(?m)^\s*at (?P<func>[\w$.]+)\.[\w$<>]+\((?P<file>[\w$]+\.(?:java|kt|scala|groovy)):(?P<line>\d+)\)",
    );
    let num = |s: &str| s.parse::<u32>().ok().filter(|n| *n > 0);
    // Python lists the innermost frame last; Node, Go and Java first.
    let mut out: Vec<Frame> = py
        .captures_iter(message)
        .filter_map(|c| {
            Some(Frame {
                path: c["path"].to_string(),
                line: num(&c["line"])?,
                function: c.name("func").map(|f| f.as_str().to_string()),
                innermost: false,
            })
        })
        .collect();
    out.reverse();
    for c in node.captures_iter(message) {
        if let Some(line) = num(&c["line"]) {
            out.push(Frame {
                path: c["path"].trim_start_matches("file://").to_string(),
                line,
                function: c.name("func").map(|f| f.as_str().to_string()),
                innermost: false,
            });
        }
    }
    for c in go.captures_iter(message) {
        if let Some(line) = num(&c["line"]) {
            out.push(Frame {
                path: c["path"].to_string(),
                line,
                function: Some(c["func"].to_string()),
                innermost: false,
            });
        }
    }
    for c in java.captures_iter(message) {
        let Some(line) = num(&c["line"]) else {
            continue;
        };
        // `com.acme.orders.Svc` in `Svc.java`: the package is the directory.
        let class = &c["func"];
        let package = class.rsplit_once('.').map_or("", |(p, _)| p);
        let dir = package.replace('.', "/");
        let path = if dir.is_empty() {
            c["file"].to_string()
        } else {
            format!("{dir}/{}", &c["file"])
        };
        out.push(Frame {
            path,
            line,
            function: Some(class.rsplit('.').next().unwrap_or(class).to_string()),
            innermost: false,
        });
    }
    if let Some(first) = out.first_mut() {
        first.innermost = true;
    }
    out
}

/// A `sourceLocation` as the entry model writes it: `file:line (function)`.
pub fn source_location(text: &str) -> Option<Frame> {
    let (place, function) = match text.split_once(" (") {
        Some((p, f)) => (p, Some(f.trim_end_matches(')').to_string())),
        None => (text, None),
    };
    let (path, line) = place.rsplit_once(':')?;
    Some(Frame {
        path: path.to_string(),
        line: line.parse().ok().filter(|n| *n > 0)?,
        function: function.filter(|f| !f.is_empty()),
        innermost: true,
    })
}

/// Where a printed path lands among the tracked files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// One tracked file has the longest common suffix.
    File(String),
    /// Several tie: named, not guessed.
    Ambiguous(Vec<String>),
    /// Library code, or no tracked file shares the file name.
    None,
}

/// The path components of `p`, without empty ones and `.`.
fn parts(p: &str) -> Vec<&str> {
    p.split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != ".")
        .collect()
}

/// Where containers put the application (Docker conventions): a path under one of
/// these is the repository's path from there on.
const CONTAINER_ROOTS: [&str; 6] = [
    "/usr/src/app/",
    "/app/",
    "/workspace/",
    "/srv/",
    "/opt/app/",
    "/code/",
];

/// Maps a printed path to a tracked file. Under a container root (`/app/`,
/// `/workspace/`, `/usr/src/app/`, ...) the rest of the path must be the end of the
/// tracked path, whole (`/app/billing/ledger.py` finds `app/billing/ledger.py` or
/// `billing/ledger.py`). Elsewhere (a Go module path, a Java package path, a build
/// machine's directory) the longest common suffix of components wins, and it must
/// hold the file name and its directory when the printed path has one. Never into
/// library code; ties are ambiguous.
pub fn map_path(printed: &str, tracked: &[String]) -> Mapped {
    if is_library(printed) {
        return Mapped::None;
    }
    let printed = printed.trim_start_matches("file://");
    let want = parts(printed);
    let Some(name) = want.last() else {
        return Mapped::None;
    };
    let under_root = CONTAINER_ROOTS
        .iter()
        .find_map(|r| printed.strip_prefix(r))
        .map(parts);
    let needed = match &under_root {
        Some(rest) => rest.len(),
        None => want.len().min(2),
    };
    let mut best = 0usize;
    let mut found: Vec<&String> = Vec::new();
    for t in tracked {
        if is_library(t) || !t.ends_with(name) {
            continue;
        }
        let have = parts(t);
        let common = want
            .iter()
            .rev()
            .zip(have.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        if common < needed.max(1) {
            continue;
        }
        match common.cmp(&best) {
            std::cmp::Ordering::Greater => {
                best = common;
                found = vec![t];
            }
            std::cmp::Ordering::Equal => found.push(t),
            std::cmp::Ordering::Less => {}
        }
    }
    match found.len() {
        0 => Mapped::None,
        1 => Mapped::File(found[0].clone()),
        _ => Mapped::Ambiguous(found.into_iter().cloned().collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn frames_of_each_language_innermost_first() {
        let py = "Traceback (most recent call last):\n  File \"/usr/local/lib/python3.12/site-packages/x/y.py\", line 9, in run\n  File \"/app/billing/ledger.py\", line 41, in post\n    total += row\nTypeError: bad";
        let f = frames(py);
        assert_eq!(f[0].path, "/app/billing/ledger.py");
        assert_eq!(
            (f[0].line, f[0].function.as_deref(), f[0].innermost),
            (41, Some("post"), true)
        );
        let node = "TypeError: x\n    at chargeCard (/usr/src/app/lib/pay.js:88:13)\n    at async /usr/src/app/node_modules/express/router.js:5:2";
        assert_eq!(frames(node)[0].path, "/usr/src/app/lib/pay.js");
        let go = "panic: boom\n\ngoroutine 7 [running]:\nexample.com/shop/cart.(*Cart).Add(0xc0000)\n\t/workspace/cart/cart.go:57 +0x1d";
        let g = frames(go);
        assert_eq!(
            (g[0].path.as_str(), g[0].line),
            ("/workspace/cart/cart.go", 57)
        );
        let java = "java.lang.IllegalStateException: x\n\tat com.acme.orders.OrderService.place(OrderService.java:120)\n\tat java.base/java.lang.Thread.run(Thread.java:833)";
        let j = frames(java);
        assert_eq!(j[0].path, "com/acme/orders/OrderService.java");
        assert_eq!(j[0].function.as_deref(), Some("OrderService"));
    }

    #[test]
    fn paths_map_by_the_longest_suffix_never_into_libraries() {
        let t = tracked(&[
            "services/api/src/orders.py",
            "services/worker/src/orders.py",
            "src/main/java/com/acme/orders/OrderService.java",
            "vendor/github.com/x/y.go",
            "cart/cart.go",
        ]);
        assert_eq!(
            map_path("/app/api/src/orders.py", &t),
            Mapped::File("services/api/src/orders.py".into())
        );
        assert!(matches!(map_path("/app/src/orders.py", &t), Mapped::Ambiguous(v) if v.len() == 2));
        assert_eq!(
            map_path("com/acme/orders/OrderService.java", &t),
            Mapped::File("src/main/java/com/acme/orders/OrderService.java".into())
        );
        assert_eq!(
            map_path("/workspace/cart/cart.go", &t),
            Mapped::File("cart/cart.go".into())
        );
        assert_eq!(map_path("/go/pkg/mod/github.com/x/y.go", &t), Mapped::None);
        assert_eq!(map_path("/app/unknown.py", &t), Mapped::None);
        // Under a container root the rest must match whole; elsewhere the directory.
        assert_eq!(map_path("/srv/worker2/src/orders.py", &t), Mapped::None);
        assert_eq!(
            map_path("/home/ci/build/lib/cart/cart.go", &t),
            Mapped::File("cart/cart.go".into())
        );
        assert_eq!(map_path("/home/ci/build/other/cart.go", &t), Mapped::None);
        assert_eq!(
            source_location("src/a.py:12 (handler)"),
            Some(Frame {
                path: "src/a.py".into(),
                line: 12,
                function: Some("handler".into()),
                innermost: true
            })
        );
    }
}
