//! Stack traces: the exception type and the innermost application frame of Python,
//! Java, Node and Go traces.

use std::sync::OnceLock;

use regex::Regex;

use super::mask::mask_line;
use super::{Fallback, first_line};

pub(super) fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("fallback regexes are valid literals"))
}

/// Masked head of a message: the first few masked tokens.
fn head(msg: &str) -> String {
    mask_line(msg)
        .split(' ')
        .take(6)
        .collect::<Vec<_>>()
        .join(" ")
}

fn short_file(file: &str) -> String {
    let file = file.trim_start_matches("file://");
    let parts: Vec<&str> = file.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
    let n = parts.len();
    parts[n.saturating_sub(2)..].join("/")
}

pub(super) fn python(message: &str) -> Option<Fallback> {
    static FRAME: OnceLock<Regex> = OnceLock::new();
    static EXC: OnceLock<Regex> = OnceLock::new();
    if !message.contains("Traceback (most recent call last)") {
        return None;
    }
    let frame_re = re(
        &FRAME,
        r#"(?m)^\s*File "(?P<file>[^"]+)", line \d+, in (?P<func>\S+)"#,
    );
    let exc_re = re(
        &EXC,
        r"(?m)^(?P<type>(?:[A-Za-z_][\w.]*)?(?:Error|Exception|Exit|Interrupt|Warning|Group|Timeout|Cancelled|Failure|Fault))(?::[ \t]*(?P<msg>.*))?$",
    );
    let frames: Vec<(String, String)> = frame_re
        .captures_iter(message)
        .map(|c| (c["file"].to_string(), c["func"].to_string()))
        .collect();
    let (exception, headline) = match exc_re.captures_iter(message).last() {
        Some(exc) => (exc["type"].to_string(), exc[0].trim().to_string()),
        None => python_tail(message).unwrap_or_else(|| {
            // Cut off before its exception line (the logging agent's size limit):
            // titled by the last frame reached and its code, marked as cut off.
            let code = message
                .rfind("File \"")
                .and_then(|i| message[i..].lines().nth(1))
                .map(str::trim)
                .filter(|l| !l.is_empty());
            let at = frames
                .last()
                .map(|(f, func)| format!(" at {}:{func}", short_file(f)))
                .unwrap_or_default();
            let headline = match code {
                Some(code) => format!("Traceback cut off{at}: {code}"),
                None => format!("Traceback cut off{at}"),
            };
            ("(traceback cut off)".to_string(), headline)
        }),
    };
    let is_lib = |f: &str| {
        f.contains("site-packages")
            || f.contains("dist-packages")
            || f.contains("/lib/python")
            || f.starts_with('<')
            || f.contains("/usr/lib/")
    };
    let frame = frames
        .iter()
        .rev()
        .find(|(f, _)| !is_lib(f))
        .or_else(|| frames.last())
        .map(|(f, func)| format!("{}:{func}", short_file(f)));
    Some(Fallback::Stack {
        lang: "python",
        exception,
        headline,
        frame,
        head: None,
    })
}

/// The exception line of a Python traceback whose exception type has no usual suffix
/// (`StopIteration`, `app.errors.Conflict: ...`): the last unindented line after the
/// last frame, shaped `dotted.Name` or `dotted.Name: message`.
fn python_tail(message: &str) -> Option<(String, String)> {
    static TAIL: OnceLock<Regex> = OnceLock::new();
    let after = message
        .rfind("  File \"")
        .map_or(message, |i| &message[i..]);
    let line = after
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty() && !l.starts_with([' ', '\t']))
        .last()?;
    let caps = re(&TAIL, r"^(?P<type>[A-Za-z_][\w.]*)(?::\s.*)?$").captures(line.trim())?;
    Some((caps["type"].to_string(), line.trim().to_string()))
}

pub(super) fn java(message: &str) -> Option<Fallback> {
    static EXC: OnceLock<Regex> = OnceLock::new();
    static FRAME: OnceLock<Regex> = OnceLock::new();
    let exc_re = re(
        &EXC,
        r"(?m)^(?:Caused by: |Exception in thread \x22[^\x22]*\x22 )?(?P<type>[a-z][\w$]*(?:\.[\w$]+)+(?:Exception|Error|Throwable))(?::[ \t]*(?P<msg>.*))?$",
    );
    let frame_re = re(&FRAME, r"(?m)^\s+at (?P<func>[\w$.<>]+)\((?P<file>[^:)]*)");
    if !frame_re.is_match(message) {
        return None;
    }
    let exc = exc_re.captures_iter(message).last()?;
    let start = exc.get(0).map_or(0, |m| m.start());
    let is_lib = |f: &str| {
        [
            "java.",
            "javax.",
            "sun.",
            "jdk.",
            "kotlin.",
            "org.springframework.",
            "org.apache.",
            "io.netty.",
        ]
        .iter()
        .any(|p| f.starts_with(p))
    };
    let frames: Vec<String> = frame_re
        .captures_iter(&message[start..])
        .map(|c| c["func"].to_string())
        .collect();
    let frame = frames
        .iter()
        .find(|f| !is_lib(f))
        .or(frames.first())
        .cloned();
    Some(Fallback::Stack {
        lang: "java",
        exception: exc["type"].to_string(),
        headline: exc[0].trim().to_string(),
        frame,
        head: None,
    })
}

pub(super) fn node(message: &str) -> Option<Fallback> {
    static EXC: OnceLock<Regex> = OnceLock::new();
    static FRAME: OnceLock<Regex> = OnceLock::new();
    let frame_re = re(
        &FRAME,
        r"(?m)^\s+at (?:async )?(?:(?P<func>[^\s(]+) \()?(?P<file>[^\s()]+?):\d+:\d+\)?\s*$",
    );
    if !frame_re.is_match(message) {
        return None;
    }
    let exc_re = re(
        &EXC,
        r"\b(?P<type>[A-Z]\w*(?:Error|Exception)|Error)(?::[ \t]*(?P<msg>.*))?",
    );
    let first = first_line(message);
    let exc = exc_re.captures(first)?;
    let exception = exc["type"].to_string();
    let frames: Vec<(String, String)> = frame_re
        .captures_iter(message)
        .map(|c| {
            let func = c
                .name("func")
                .map_or("<anonymous>", |f| f.as_str())
                .to_string();
            (c["file"].to_string(), func)
        })
        .collect();
    let is_lib = |f: &str| {
        f.contains("node_modules") || f.starts_with("node:") || f.starts_with("internal/")
    };
    let frame = frames
        .iter()
        .find(|(f, _)| !is_lib(f))
        .or(frames.first())
        .map(|(f, func)| format!("{}:{func}", short_file(f)));
    let generic = matches!(exception.as_str(), "Error" | "Exception");
    Some(Fallback::Stack {
        lang: "node",
        head: generic.then(|| head(exc.name("msg").map_or("", |m| m.as_str()))),
        exception,
        headline: first.to_string(),
        frame,
    })
}

pub(super) fn go(message: &str) -> Option<Fallback> {
    static FUNC: OnceLock<Regex> = OnceLock::new();
    if !message.contains("goroutine ") {
        return None;
    }
    let first = first_line(message);
    let kind = if let Some(rest) = first.strip_prefix("panic: ") {
        ("panic", rest)
    } else if let Some(rest) = first.strip_prefix("fatal error: ") {
        ("fatal error", rest)
    } else {
        return None;
    };
    let func_re = re(
        &FUNC,
        r"(?m)^(?P<func>[\w./*()-]+)\([^\n]*\)\n\s+(?P<file>\S+\.go):\d+",
    );
    let frame = func_re
        .captures_iter(message)
        .map(|c| (c["func"].to_string(), c["file"].to_string()))
        .find(|(func, file)| {
            !func.starts_with("runtime.")
                && !file.contains("/usr/local/go/")
                && !file.contains("/pkg/mod/")
        })
        .map(|(func, file)| format!("{}:{func}", short_file(&file)));
    Some(Fallback::Stack {
        lang: "go",
        exception: kind.0.to_string(),
        headline: first.to_string(),
        frame,
        head: Some(head(kind.1)),
    })
}

#[cfg(test)]
mod tests {
    use super::super::fallback;
    use super::*;

    #[test]
    fn python_traceback_uses_type_and_innermost_app_frame() {
        let tb = "Traceback (most recent call last):\n  File \"/usr/local/lib/python3.11/site-packages/x.py\", line 9, in run\n    y()\n  File \"/app/api/core/rate_limiter.py\", line 50, in dispatch\n    raise HTTPException(429)\n  File \"/usr/local/lib/python3.11/site-packages/starlette/a.py\", line 1, in f\n    g()\nfastapi.exceptions.HTTPException: 429: Rate limit exceeded";
        let Fallback::Stack {
            exception, frame, ..
        } = fallback(tb)
        else {
            panic!("not a stack")
        };
        assert_eq!(exception, "fastapi.exceptions.HTTPException");
        assert_eq!(frame.as_deref(), Some("core/rate_limiter.py:dispatch"));
    }

    #[test]
    fn node_stack_uses_first_app_frame() {
        let s = "[ERROR] DOCX extraction failed: Error: Could not find file in options\n    at Object.openZip (/app/node_modules/mammoth/lib/unzip.js:18:32)\n    at docxToText (file:///app/server/docxParse.js:55:35)";
        let Fallback::Stack {
            exception, frame, ..
        } = fallback(s)
        else {
            panic!("not a stack")
        };
        assert_eq!(exception, "Error");
        assert_eq!(frame.as_deref(), Some("server/docxParse.js:docxToText"));
    }

    #[test]
    fn go_panic_and_java_traces() {
        let g = "panic: runtime error: invalid memory address or nil pointer dereference\ngoroutine 42 [running]:\nmain.(*Handler).Checkout(0xc000, 0x1)\n\t/app/handler.go:88 +0x1d2";
        let Fallback::Stack { frame, .. } = fallback(g) else {
            panic!("not a stack")
        };
        assert_eq!(
            frame.as_deref(),
            Some("app/handler.go:main.(*Handler).Checkout")
        );
        let j = "java.lang.IllegalStateException: bad\n\tat java.util.Foo.x(Foo.java:1)\n\tat com.acme.Svc.run(Svc.java:12)\nCaused by: java.io.IOException: closed\n\tat com.acme.Io.read(Io.java:3)";
        let Fallback::Stack {
            exception, frame, ..
        } = fallback(j)
        else {
            panic!("not a stack")
        };
        assert_eq!(exception, "java.io.IOException");
        assert_eq!(frame.as_deref(), Some("com.acme.Io.read"));
    }
}
