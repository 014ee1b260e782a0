//! Value classes: the masker that turns a line into a template by replacing what
//! varies (timestamps, ids, numbers, addresses, quoted and `key=value` values, paths)
//! with one placeholder, and folds variable-length runs of values into one.

use std::sync::OnceLock;

use regex_automata::meta;

use super::truncate_chars;

/// The masking alternatives, one per class of [`CLASSES`] and in its order: the
/// earliest alternative that matches at a position wins, as in one alternation.
const MASK_ALTERNATIVES: [&str; 13] = [
    concat!(
        // ISO 8601 and its log variants (`2026-01-02 03:04:05,678`, `2026/01/02 ...`).
        r"\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
        // ctime and syslog (`Tue Mar  4 11:22:33 2003`, `Mar 04 11:22:33`), RFC 2822 zones.
        r"|\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2},?\s+(?:\d{4}\s+)?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:\s+(?:UTC?|GMT|[ECMP][SD]T|[+-]\d{4}))?(?:\s+\d{4}\b)?",
        // RFC 2822 / RFC 1123 (`Tue, 04 Mar 2003 11:22:33 +0000`, `4 Mar 2003 11:22 GMT`).
        r"|\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+)?\d{1,2}[\s-](?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*[\s-]\d{2,4}(?:\s+\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:\s+(?:UTC?|GMT|[ECMP][SD]T|[+-]\d{4}))?)?\b",
        // Common Log Format (`04/Mar/2003:11:22:33 +0000`).
        r"|\b\d{2}/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2}(?:\s[+-]\d{4})?",
        // A date in words (`Tue Mar 04 2003`, `Mar 4, 2003`).
        r"|\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4}\b",
        // A time of day.
        r"|\b\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\b",
    ),
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
    r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b",
    r"\b[a-z][a-z0-9+.-]*://[^\s'\x22<>]+",
    r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b|\b[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{0,4}){3,7}\b",
    // A quoted HTTP request line (RFC 9110 methods): method and route stay.
    r"\x22(?:GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS|CONNECT|TRACE) [^\s\x22]{1,2000}(?: HTTP/\d(?:\.\d)?)?\x22",
    r"'[^'\n]{1,200}'|\x22[^\x22\n]{1,200}\x22|`[^`\n]{1,200}`",
    // The key, up to its `=` (which no key character can be), then the value.
    r"\b[A-Za-z_][\w.-]{0,40}=[^\s,;&)\]}]+",
    r"(?:[A-Za-z]:)?(?:/[\w.@%+~:-]+){2,}/?",
    r"\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[a-z]{2,11}(?::\d{1,5})?\b",
    r"\b(?:0x)?[0-9a-fA-F]{8,}\b",
    r"(?:\B-)?\b\d+(?:[.,]\d+)*(?:[a-zA-Z%]{1,3})?\b",
    r"\b[A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*\b",
];

/// The masking automaton: every alternative as its own pattern, so that a match says
/// which class it is without a capture search. In ASCII mode (`\w`, `\d`, `\s`, `\b`
/// and negated classes on bytes): in Unicode mode the classes compile to an automaton so
/// large (megabytes of matching state per thread) that its lazy DFA gives up; lines with
/// other characters are matched through an ASCII shadow ([`mask_matches`]).
fn mask_automaton() -> &'static meta::Regex {
    static ASCII: OnceLock<meta::Regex> = OnceLock::new();
    ASCII.get_or_init(|| {
        let syntax = regex_automata::util::syntax::Config::new()
            .unicode(false)
            .utf8(false);
        meta::Regex::builder()
            .syntax(syntax)
            .build_many(&MASK_ALTERNATIVES)
            .expect("fallback regexes are valid literals")
    })
}

/// The placeholder for every masked value: one symbol, so that a value that is a
/// number in one message and a hex id in the next still gives one template.
pub const PLACEHOLDER: &str = "<*>";

/// File extensions that make `name.ext` a file name rather than a host name.
const FILE_EXTENSIONS: &[&str] = &[
    "py", "js", "mjs", "cjs", "ts", "tsx", "jsx", "go", "rs", "rb", "java", "kt", "cs", "cpp",
    "cc", "h", "hpp", "php", "pl", "sh", "sql", "txt", "log", "md", "json", "yaml", "yml", "toml",
    "xml", "html", "htm", "css", "csv", "ini", "cfg", "conf", "jar", "war", "so", "dll", "exe",
    "bin", "dat", "tmp", "bak", "gz", "zip", "tar", "pdf", "png", "jpg", "gif", "svg", "lock",
    "pem", "crt", "key", "out", "err", "proto", "class",
];

/// Top-level domains (besides two-letter country codes) that make `a.b.tld` a host name.
const TLDS: &[&str] = &[
    "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "dev", "app", "cloud",
    "ai", "local", "internal", "arpa", "lan", "corp", "home", "online", "site", "tech",
];

/// Units that belong to the number before them (`12 KB`, `3 ms`).
const UNITS: &[&str] = &[
    "b", "kb", "mb", "gb", "tb", "kib", "mib", "gib", "tib", "byte", "bytes", "ms", "us", "ns",
    "s", "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "h", "hr", "hrs",
    "hour", "hours", "%",
];

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// Whether a path or URL segment is an id (varies per request) rather than a name:
/// all digits, or a digit in a segment of six or more characters (`v1` stays).
pub fn is_id_segment(seg: &str) -> bool {
    has_digit(seg)
        && (seg.chars().count() >= 6
            || seg
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'-' || b == b'_'))
}

fn mask_url_path(path: &str) -> String {
    path.split('/')
        .map(|seg| if is_id_segment(seg) { PLACEHOLDER } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether a token with digits reads as a name rather than an id: two or more letters
/// first, then at most two digit runs, each one digit or a power of two from 8 to
/// 512 (a version or a width: `OrderSchemaV2`, `utf8mb4`, `sha256`, `int64`,
/// `http2`), nothing but ASCII letters and digits. Host and instance names number
/// freely (`node77`, `storage211`) and ids interleave digits (`aB3dE9fG2x`) or carry
/// separators (`user_98687`): those are values.
fn is_word_with_digits(token: &str) -> bool {
    const WIDTHS: [&str; 7] = ["8", "16", "32", "64", "128", "256", "512"];
    let bytes = token.as_bytes();
    let lead = bytes.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    if lead < 2 || !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let runs: Vec<&str> = token[lead..]
        .split(|c: char| c.is_ascii_alphabetic())
        .filter(|r| !r.is_empty())
        .collect();
    runs.len() <= 2 && runs.iter().all(|r| r.len() == 1 || WIDTHS.contains(r))
}

/// One value the masker replaced, and the class that matched it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedValue {
    /// The class: `timestamp`, `uuid`, `email`, `url`, `ip`, `request`, `quoted`,
    /// `kv`, `path`, `hostname`, `hex`, `number`, `id`.
    pub class: &'static str,
    /// The text that was replaced.
    pub original: String,
    /// What replaced it.
    pub replacement: String,
}

const CLASSES: [&str; 13] = [
    "timestamp",
    "uuid",
    "email",
    "url",
    "ip",
    "request",
    "quoted",
    "kv",
    "path",
    "hostname",
    "hex",
    "number",
    "id",
];

/// Decides one regex match of `class` (its key part `kv` for `key=value`): `None`
/// keeps the text as it is.
fn mask_one(class: &'static str, text: &str, kv: &str) -> Option<(&'static str, String)> {
    if class.is_empty() {
        return None;
    }
    let replacement = match class {
        "url" => {
            let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
            let rest = rest.split(['?', '#']).next().unwrap_or(rest);
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = if host
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b':')
            {
                PLACEHOLDER
            } else {
                host
            };
            let mut out = format!("{scheme}://{host}");
            if !path.is_empty() {
                out.push('/');
                out.push_str(&mask_url_path(path));
            }
            out
        }
        "request" => {
            let inner = &text[1..text.len() - 1];
            let mut parts = inner.split(' ');
            let method = parts.next().unwrap_or("");
            let target = parts.next().unwrap_or("");
            let route = crate::signature::route(target);
            match parts.next() {
                Some(version) => format!("\"{method} {route} {version}\""),
                None => format!("\"{method} {route}\""),
            }
        }
        "quoted" => {
            let quote = &text[..1];
            format!("{quote}{PLACEHOLDER}{quote}")
        }
        "kv" => format!("{kv}{PLACEHOLDER}"),
        "hostname" => {
            let name = text.split(':').next().unwrap_or(text);
            let tld = name.rsplit('.').next().unwrap_or("");
            let with_port = text.contains(':');
            let known = with_port
                || TLDS.contains(&tld)
                || (tld.len() == 2 && !FILE_EXTENSIONS.contains(&tld));
            if !known {
                return None;
            }
            PLACEHOLDER.to_string()
        }
        "hex" if !has_digit(text) => return None,
        "id" => {
            let digits = text.bytes().filter(u8::is_ascii_digit).count();
            if (text.chars().count() < 6 && digits < 2) || is_word_with_digits(text) {
                return None;
            }
            PLACEHOLDER.to_string()
        }
        _ => PLACEHOLDER.to_string(),
    };
    Some((class, replacement))
}

pub(super) fn split_punct(token: &str) -> (&str, &str, &str) {
    let start = token.len() - token.trim_start_matches(['(', '[', '{']).len();
    let core_end = token
        .trim_end_matches([')', ']', '}', ',', '.', ';', ':', '!', '?'])
        .len()
        .max(start);
    (&token[..start], &token[start..core_end], &token[core_end..])
}

/// Folds variable-length values into one placeholder: a value's unit (`12 KB`), a
/// parenthesised value right after a value (`12 bytes (1.2 KB)`), runs of values
/// (`delete a b c`), and tokens that are values joined by separators (`<*>~<*>`).
fn fold_tokens(masked: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    // A `(` dropped with a folded value whose `)` is still to come.
    let mut open_parens = 0usize;
    for token in masked.split_whitespace() {
        let (open, core, close) = split_punct(token);
        let close = match close.strip_prefix(')') {
            Some(rest) if open_parens > 0 => {
                open_parens -= 1;
                rest
            }
            _ => close,
        };
        let mut core = core.to_string();
        if core.contains(PLACEHOLDER)
            && core != PLACEHOLDER
            && !core.contains('=')
            && !core.contains("://")
            && !core.starts_with('/')
        {
            let rest = core.replace(PLACEHOLDER, "");
            if !rest.starts_with(['\'', '"', '`']) {
                core = PLACEHOLDER.to_string();
            }
        }
        let prev_is_value = out.last().is_some_and(|p| {
            let (_, core, close) = split_punct(p);
            core == PLACEHOLDER && close.is_empty()
        });
        if prev_is_value && UNITS.contains(&core.to_ascii_lowercase().as_str()) && open.is_empty() {
            if let Some(p) = out.last_mut() {
                p.push_str(close);
            }
            continue;
        }
        if prev_is_value && core == PLACEHOLDER && (open.is_empty() || open == "(") {
            // `<*> <*>` and `<*> (<*>)` are one value; keep closing punctuation that
            // is not the parenthesis just skipped.
            let tail = if open == "(" {
                close.strip_prefix(')').unwrap_or_else(|| {
                    open_parens += 1;
                    close
                })
            } else {
                close
            };
            if let Some(p) = out.last_mut() {
                p.push_str(tail);
            }
            continue;
        }
        if open == "(" && prev_is_value && UNITS.iter().any(|u| core.eq_ignore_ascii_case(u)) {
            continue;
        }
        out.push(format!("{open}{core}{close}"));
    }
    out.join(" ")
}

/// Masks the variable parts of one line; with `explain`, records each replacement.
pub fn mask_with(line: &str, mut explain: Option<&mut Vec<MaskedValue>>) -> String {
    let mut masked = String::with_capacity(line.len());
    let mut last = 0;
    for (start, end, class, kv) in mask_matches(line) {
        masked.push_str(&line[last..start]);
        let text = &line[start..end];
        match mask_one(class, text, kv) {
            Some((class, replacement)) => {
                if let Some(list) = explain.as_deref_mut() {
                    list.push(MaskedValue {
                        class,
                        original: text.to_string(),
                        replacement: replacement.clone(),
                    });
                }
                masked.push_str(&replacement);
            }
            None => masked.push_str(text),
        }
        last = end;
    }
    masked.push_str(&line[last..]);
    truncate_chars(&fold_tokens(&masked), 200)
}

/// Every match of the masking patterns in `line`: its span, its class and the key of
/// a `key=value` match (empty for other classes).
///
/// The patterns run in ASCII mode. A line with other characters is matched through a
/// shadow of the same byte length in which each such character becomes letters (`g`,
/// not a hex digit), spaces or a symbol byte, by what it is: the Unicode automaton is
/// so large that its lazy DFA gives up on such lines, and matching fell to about a
/// millisecond a line. Spans fall on character boundaries (a shadowed character is one
/// kind of byte throughout, so no word boundary falls inside it); one that would not is
/// dropped.
fn mask_matches(line: &str) -> Vec<(usize, usize, &'static str, &str)> {
    let shadow;
    let bytes = if line.is_ascii() {
        line.as_bytes()
    } else {
        shadow = ascii_shadow(line);
        shadow.as_slice()
    };
    mask_automaton()
        .find_iter(bytes)
        .filter_map(|m| {
            let class = CLASSES[m.pattern().as_usize()];
            let text = line.get(m.start()..m.end())?;
            let kv = if class == "kv" {
                text.find('=').map_or("", |eq| &text[..=eq])
            } else {
                ""
            };
            Some((m.start(), m.end(), class, kv))
        })
        .collect()
}

/// `line` with every non-ASCII character replaced, byte for byte, by `g` (a word
/// character as Unicode `\w` has it: letters, marks, decimal digits of any script), a
/// space (white space) or `\x01` (anything else: a symbol no pattern names, as `«`,
/// `—` or `¾`). Non-ASCII digits count as letters here, not as numbers.
fn ascii_shadow(line: &str) -> Vec<u8> {
    static WORD: OnceLock<regex::Regex> = OnceLock::new();
    let word = WORD.get_or_init(|| regex::Regex::new(r"^\w$").expect("a valid literal"));
    let mut out = Vec::with_capacity(line.len());
    let mut buf = [0u8; 4];
    for c in line.chars() {
        if c.is_ascii() {
            out.push(c as u8);
            continue;
        }
        let b = if word.is_match(c.encode_utf8(&mut buf)) {
            b'g'
        } else if c.is_whitespace() {
            b' '
        } else {
            0x01
        };
        out.extend(std::iter::repeat_n(b, c.len_utf8()));
    }
    out
}

/// Masks the values of a rule capture that are ids (per-request, per-user values):
/// timestamps, UUIDs, e-mails, IP addresses, hex ids, mixed ids and numbers of six or
/// more digits. Names, paths and short numbers (a status, a port, a code) stay, so
/// `KeyError: 'user_98687'` and `'user_1203'` are one signature while `'DATABASE_URL'`
/// and `'REDIS_HOST'` are two.
pub fn mask_ids(value: &str) -> std::borrow::Cow<'_, str> {
    // Every id class has a digit, but an e-mail address, which has an `@`.
    if !has_digit(value) && !value.contains('@') {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::new();
    let mut last = 0;
    for (start, end, class, _) in mask_matches(value) {
        let text = &value[start..end];
        let id = match class {
            "timestamp" | "uuid" | "email" | "ip" => true,
            "hex" => has_digit(text),
            "number" => text.bytes().filter(u8::is_ascii_digit).count() >= 6,
            "id" => mask_one(class, text, "").is_some(),
            _ => false,
        };
        if id {
            out.push_str(&value[last..start]);
            out.push_str(PLACEHOLDER);
            last = end;
        }
    }
    if last == 0 {
        return std::borrow::Cow::Borrowed(value);
    }
    out.push_str(&value[last..]);
    std::borrow::Cow::Owned(out)
}

/// Masks the variable parts of one line and collapses white space.
pub fn mask_line(line: &str) -> String {
    mask_with(line, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_each_class_of_value() {
        let cases = [
            ("user 12345 failed", "user <*> failed"),
            (
                "task 44a56fb0-992d-499d-9709-05297934ea1a failed",
                "task <*> failed",
            ),
            ("from 10.0.0.3:6379 refused", "from <*> refused"),
            ("mail bob@example.com bounced", "mail <*> bounced"),
            ("at 2025-09-07T15:42:02.022079+00:00 x", "at <*> x"),
            ("2026/04/09 17:12:52 System halted", "<*> System halted"),
            ("key 'REDIS_HOST' missing", "key '<*>' missing"),
            ("id=abc123 user=bob ok", "id=<*> user=<*> ok"),
            ("open /tmp/out/ThUNhjblo24/state.json", "open <*>"),
            (
                "GET https://api.example.com/v1/users/42?token=x",
                "GET https://api.example.com/v1/users/<*>",
            ),
            ("insert 693a1ed2000a0ab81c255d9e", "insert <*>"),
            ("Elapsed: 7.51s", "Elapsed: <*>"),
            ("boot = -5, init = 3", "boot = <*>, init = <*>"),
            ("proxy.cse.example.edu:5070 open", "<*> open"),
            ("loaded config.yaml", "loaded config.yaml"),
            (
                "raised redis.exceptions.TimeoutError",
                "raised redis.exceptions.TimeoutError",
            ),
            ("lifetime 00:01", "lifetime <*>"),
            ("session aB3dE9fG2x expired", "session <*> expired"),
            ("retry v2 of step3", "retry v2 of step3"),
            (
                "check at Fri Nov 21 07:05:09 2025 done",
                "check at <*> done",
            ),
            (
                "check at Sat Jan  3 23:59:01 PST 2026 done",
                "check at <*> done",
            ),
            ("Dec 12 04:00:17 gateway up", "<*> gateway up"),
            ("sent Mon, 07 Sep 2026 18:30:00 +0200 ok", "sent <*> ok"),
            ("sent 7 Sep 2026 18:30 GMT ok", "sent <*> ok"),
            ("[11/Oct/2025:13:55:36 -0700] hit", "[<*>] hit"),
            ("due on Wednesday March 18, 2026 now", "due on <*> now"),
            ("at 09:14 ERROR stays", "at <*> ERROR stays"),
            (
                r#"conn 7 "GET /v2/orders/88121?page=3 HTTP/1.1" 404"#,
                r#"conn <*> "GET /v2/orders/<*> HTTP/1.1" <*>"#,
            ),
            (
                r#"sent "DELETE /carts/a81f00c2e9" twice"#,
                r#"sent "DELETE /carts/<*>" twice"#,
            ),
            ("OrderSchemaV2 rejected", "OrderSchemaV2 rejected"),
            (
                "sha256 mismatch in utf8mb4 column",
                "sha256 mismatch in utf8mb4 column",
            ),
            (
                "blob blk123456 and ab12cd34ef56 gone",
                "blob <*> and <*> gone",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(mask_line(input), want, "{input}");
        }
    }

    #[test]
    fn request_lines_keep_their_method_and_dates_their_words_do_not_split() {
        let get = mask_line(r#"client "GET /api/items/7781 HTTP/1.1" failed"#);
        let post = mask_line(r#"client "POST /api/items/12 HTTP/1.1" failed"#);
        assert_ne!(get, post);
        assert_eq!(
            get,
            mask_line(r#"client "GET /api/items/3 HTTP/1.1" failed"#)
        );
        let days = ["Mon Feb 02", "Thu Jul 16", "Sun Dec 27"];
        let templates: Vec<String> = days
            .iter()
            .map(|d| mask_line(&format!("lease renewed at {d} 10:11:12 2025 for eth0")))
            .collect();
        assert!(
            templates.iter().all(|t| t == &templates[0]),
            "{templates:?}"
        );
    }

    #[test]
    fn ids_in_captures_are_masked_and_names_kept() {
        assert_eq!(mask_ids("user_98687"), "<*>");
        assert_eq!(mask_ids("order 5f1c2a3b9d for a@b.io"), "order <*> for <*>");
        for kept in [
            "DATABASE_URL",
            "404",
            "6379",
            "OrderSchemaV2",
            "/srv/app/main.py",
        ] {
            assert_eq!(mask_ids(kept), kept);
        }
    }

    #[test]
    fn variable_length_values_fold_into_one() {
        assert_eq!(
            mask_line("close, 403 bytes (1.2 KB) sent, 0 bytes received"),
            mask_line("close, 12 bytes sent, 7 bytes (2 KB) received")
        );
        assert_eq!(
            mask_line(
                "ask 10.0.0.1:50010 to delete blk_38865049064139660 blk_-6952295868487656571"
            ),
            "ask <*> to delete <*>"
        );
        assert_eq!(mask_line("size 67108864"), mask_line("size 1024"));
        assert_eq!(
            mask_line("package Foo-Bar~31bf3856ad364e35~amd64~~6.1.7601"),
            "package <*>"
        );
    }

    #[test]
    fn explain_names_each_masked_value() {
        let mut seen = Vec::new();
        mask_with(
            "user 42 from 10.0.0.1 at 2025-01-01 10:00:00",
            Some(&mut seen),
        );
        let classes: Vec<&str> = seen.iter().map(|m| m.class).collect();
        assert_eq!(classes, ["number", "ip", "timestamp"]);
        assert_eq!(seen[1].original, "10.0.0.1");
    }
}

#[cfg(test)]
mod properties {
    use super::super::fallback;
    use super::super::stack::re;
    use super::*;
    use proptest::prelude::*;
    use regex::Regex;

    /// The masking pattern as one alternation with a named group per class (the key of
    /// a `key=value` in a group of its own): the reference the per-class automaton is
    /// held to.
    fn mask_pattern() -> &'static str {
        static PATTERN: OnceLock<String> = OnceLock::new();
        PATTERN.get_or_init(|| {
            CLASSES
                .iter()
                .zip(MASK_ALTERNATIVES)
                .map(|(class, alt)| match *class {
                    "kv" => {
                        let (key, value) = alt.split_once('=').expect("kv has an =");
                        format!("(?P<kv>{key}=)(?P<kvval>{value})")
                    }
                    _ => format!("(?P<{class}>{alt})"),
                })
                .collect::<Vec<_>>()
                .join("|")
        })
    }

    fn mask_regex() -> &'static Regex {
        static RE: OnceLock<Regex> = OnceLock::new();
        re(&RE, mask_pattern())
    }

    fn mask_regex_ascii() -> &'static regex::bytes::Regex {
        static RE: OnceLock<regex::bytes::Regex> = OnceLock::new();
        RE.get_or_init(|| {
            regex::bytes::RegexBuilder::new(mask_pattern())
                .unicode(false)
                .build()
                .expect("a valid pattern")
        })
    }

    /// The matches of the reference alternation: span, class (the named group that
    /// took part) and the key group of a `key=value`.
    fn reference_matches(line: &str) -> Vec<(usize, usize, &'static str, &str)> {
        fn class_of(named: impl Fn(&str) -> bool) -> &'static str {
            CLASSES.iter().copied().find(|n| named(n)).unwrap_or("")
        }
        if line.is_ascii() {
            mask_regex_ascii()
                .captures_iter(line.as_bytes())
                .filter_map(|c| {
                    let m = c.get(0)?;
                    let kv = c.name("kv").map_or("", |k| &line[k.start()..k.end()]);
                    Some((m.start(), m.end(), class_of(|n| c.name(n).is_some()), kv))
                })
                .collect()
        } else {
            mask_regex()
                .captures_iter(line)
                .filter_map(|c| {
                    let m = c.get(0)?;
                    let kv = c.name("kv").map_or("", |k| k.as_str());
                    Some((m.start(), m.end(), class_of(|n| c.name(n).is_some()), kv))
                })
                .collect()
        }
    }

    /// Every line of the bundled samples, the seeds and the rule tests, and a few
    /// hundred generated ones, gives the same matches, classes and keys from the
    /// per-class automaton as from the reference alternation.
    #[test]
    fn the_class_automaton_matches_like_the_reference_alternation() {
        let mut lines: Vec<String> = Vec::new();
        for dir in ["samples", "rules", "tests/fixtures"] {
            let Ok(read) = std::fs::read_dir(dir) else {
                continue;
            };
            for file in read.flatten() {
                if let Ok(text) = std::fs::read_to_string(file.path()) {
                    lines.extend(text.lines().map(str::to_string));
                }
            }
        }
        lines.extend([
            "user=42 took 12.5ms (1.2 KB) at 2026-11-20T10:00:00.123Z from 10.0.0.1:8080".into(),
            "id 0x7f3a9c2b11 uuid 123e4567-e89b-42d3-a456-426614174000 mail a.b+c@x-y.io".into(),
            "GET https://api.example.com/v1/users/98765?q=1 -> /var/lib/app/cache/77/x.db".into(),
            "naïve café: utilisateur=Zoë n°12345 à 10:42 — «quoted» 'ça' `x`".into(),
            "fe80::1ff:fe23:4567:890a and db-0.internal:5432 and c:/Users/x/app.py".into(),
        ]);
        assert!(lines.len() > 500, "only {} lines to compare", lines.len());
        for line in &lines {
            assert_eq!(mask_matches(line), reference_matches(line), "line {line:?}");
        }
    }

    proptest! {
        /// Changing any masked value never changes the signature key.
        #[test]
        fn masked_values_never_change_the_key(
            user in 0u32..1_000_000,
            ip in (0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255),
            port in 1u16..=65535,
            hex in "[0-9a-f]{24}",
            ms in 0u32..100_000,
            host in "[a-z]{2,10}\\.[a-z]{2,8}\\.com",
            word in "[A-Za-z_]{1,12}",
        ) {
            let base = fallback("user 1 from 10.0.0.1:80 insertId 0123456789abcdef01234567 took 5 ms via a.b.com key 'x'").key();
            let msg = format!(
                "user {user} from {}.{}.{}.{}:{port} insertId {hex} took {ms} ms via {host} key '{word}'",
                ip.0, ip.1, ip.2, ip.3
            );
            prop_assert_eq!(fallback(&msg).key(), base);
        }

        /// A date in any of the formats logs use, on any day, masks to the same
        /// template as any other date in that format; and a request line's method
        /// stays while its ids go.
        #[test]
        fn dates_of_every_format_and_request_ids_mask_alike(
            day in 0usize..7, month in 0usize..12, date in 1u32..=28, year in 1990u32..2100,
            h in 0u32..24, m in 0u32..60, sec in 0u32..60, id in 1u64..10_000_000_000,
            method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]),
        ) {
            const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let (d, mo) = (DAYS[day], MONTHS[month]);
            let shapes = [
                (format!("{d} {mo} {date:>2} {h:02}:{m:02}:{sec:02} {year}"), "Tue Mar  4 11:22:33 2003"),
                (format!("{mo} {date:>2} {h:02}:{m:02}:{sec:02}"), "Mar  4 11:22:33"),
                (format!("{d}, {date:02} {mo} {year} {h:02}:{m:02}:{sec:02} +0000"), "Tue, 04 Mar 2003 11:22:33 +0000"),
                (format!("{date:02}/{mo}/{year}:{h:02}:{m:02}:{sec:02} -0700"), "04/Mar/2003:11:22:33 -0700"),
                (format!("{year}-{:02}-{date:02}T{h:02}:{m:02}:{sec:02}Z", month + 1), "2003-03-04T11:22:33Z"),
            ];
            for (value, reference) in &shapes {
                prop_assert_eq!(
                    mask_line(&format!("sync stopped at {value} on shard")),
                    mask_line(&format!("sync stopped at {reference} on shard")),
                    "{}", value
                );
            }
            let line = format!("proxy \"{method} /v1/accounts/{id}/keys?page=2 HTTP/1.1\" 502");
            prop_assert_eq!(
                mask_line(&line),
                format!("proxy \"{method} /v1/accounts/<*>/keys HTTP/1.1\" <*>")
            );
        }

        /// A letter of another script counts as a letter in every class: a line with
        /// some letters written with diacritics (`o` as `ö`, ...) masks to the same
        /// template, diacritics aside, as the plain line; and no span of a line with
        /// other scripts, spaces and symbols cuts a character.
        #[test]
        fn letters_of_any_script_mask_like_latin_letters(
            parts in proptest::collection::vec(
                prop_oneof![
                    "[a-z]{1,8}",
                    "[0-9]{1,7}",
                    "[a-z]{1,4}_[0-9]{2,6}",
                    "[a-z]{1,5}=[0-9a-z]{1,6}",
                    "'[a-z ]{0,8}'",
                    "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
                    "/[a-z]{1,5}/[a-z0-9]{1,6}",
                    "[0-9]{1,2}:[0-5][0-9]",
                ],
                1..12,
            ),
            // No `:` before a path (a drive letter is ASCII), no `.` (a TLD is).
            seps in "[ ,;()]{12}",
            other in "([à-ÿа-яぁ-ん«»—…€°¾\u{a0}\u{3000}]|e\u{301}|[a-z0-9 _=/'.-]){0,40}",
        ) {
            let line: String = parts
                .iter()
                .zip(seps.chars().cycle())
                .flat_map(|(p, c)| [p.clone(), c.to_string()])
                .collect();
            let dotted: String = line
                .chars()
                .map(|c| match c { 'o' => 'ö', 'u' => 'ü', 'i' => 'ï', 'y' => 'ÿ', c => c })
                .collect();
            let back: String = mask_line(&dotted)
                .chars()
                .map(|c| match c { 'ö' => 'o', 'ü' => 'u', 'ï' => 'i', 'ÿ' => 'y', c => c })
                .collect();
            prop_assert_eq!(back, mask_line(&line), "line {:?}", dotted);
            let mixed = format!("{other} {line} {other}");
            for (start, end, _, _) in mask_matches(&mixed) {
                prop_assert!(mixed.is_char_boundary(start) && mixed.is_char_boundary(end));
            }
        }

        /// Any line, any script, masks to a template of at most 200 characters without
        /// panicking, and a line with no digits, quotes or separators comes out unchanged.
        #[test]
        fn any_line_masks_to_a_bounded_template(line in "\\PC{0,400}", words in "[a-z]{1,8}( [a-z]{1,8}){0,6}") {
            prop_assert!(mask_line(&line).chars().count() <= 200);
            prop_assert_eq!(mask_line(&words), words);
        }

        /// On ASCII text the reference alternation finds the same matches with the
        /// same captures in ASCII mode as in Unicode mode; and the per-class automaton
        /// finds the same matches, classes and keys as the reference, on that line and
        /// on it with a non-ASCII word in front.
        #[test]
        fn the_ascii_pattern_matches_like_the_unicode_one(
            parts in proptest::collection::vec(
                prop_oneof![
                    "[ -~]{0,12}",
                    "[0-9a-f]{1,12}",
                    "[a-z]{1,6}=[0-9a-z-]{0,8}",
                    "-?[0-9]{1,4}(\\.[0-9]{1,3})?(ms|KB|%)?",
                    "/[a-z0-9]{1,5}/[a-z0-9.]{1,6}",
                    "[a-z]{1,6}@[a-z]{1,5}\\.com",
                    "'[a-z 0-9]{0,6}'",
                    "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(:[0-9]{2,5})?",
                    "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{3})?Z",
                ],
                0..12,
            ),
            seps in "[ ,;:()\\[\\]_.-]{12}",
        ) {
            let line: String = parts
                .iter()
                .zip(seps.chars().cycle())
                .flat_map(|(p, c)| [p.clone(), c.to_string()])
                .collect();
            let unicode: Vec<Vec<Option<(usize, usize)>>> = mask_regex()
                .captures_iter(&line)
                .map(|c| c.iter().map(|m| m.map(|m| (m.start(), m.end()))).collect())
                .collect();
            let ascii: Vec<Vec<Option<(usize, usize)>>> = mask_regex_ascii()
                .captures_iter(line.as_bytes())
                .map(|c| c.iter().map(|m| m.map(|m| (m.start(), m.end()))).collect())
                .collect();
            prop_assert_eq!(ascii, unicode, "line {:?}", line);
            prop_assert_eq!(mask_matches(&line), reference_matches(&line), "line {:?}", line);
            let wide = format!("é {line}");
            prop_assert_eq!(mask_matches(&wide), reference_matches(&wide), "line {:?}", wide);
        }
    }
}
