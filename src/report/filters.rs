//! Tera filters that keep untrusted log text harmless in markdown: inside a code fence
//! longer than any backtick run in it, or inline with markdown syntax escaped and
//! `@mentions` / `#123` references defused.

use std::collections::HashMap;

use tera::{Result, Value};

/// Zero-width space: breaks `@name` and `#123` auto-links without changing what is read.
const ZWSP: char = '\u{200B}';

/// The longest run of backticks in `text`.
fn longest_backtick_run(text: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// Wraps text in a fenced code block whose fence is longer than any backtick run inside.
pub fn fence_text(text: &str, lang: &str) -> String {
    let longest = longest_backtick_run(text);
    let fence = "`".repeat((longest + 1).max(3));
    let body = text.trim_end_matches('\n');
    format!("{fence}{lang}\n{body}\n{fence}")
}

/// An inline code span that cannot be broken out of: its backtick run is longer than
/// any inside, newlines are folded. Inside code, mentions and links do not render.
pub fn code_text(text: &str) -> String {
    let flat = text.replace(['\n', '\r'], " ");
    let longest = longest_backtick_run(&flat);
    let ticks = "`".repeat(longest + 1);
    let pad = if flat.starts_with('`') || flat.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{flat}{pad}{ticks}")
}

/// Makes text safe inline: escapes markdown syntax, defuses mentions and issue links,
/// folds newlines.
pub fn inline_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '@' | '#' => {
                out.push(c);
                out.push(ZWSP);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `{{ text | fence }}` or `{{ text | fence(lang="python") }}`.
pub fn fence<S: std::hash::BuildHasher>(
    value: &Value,
    args: &HashMap<String, Value, S>,
) -> Result<Value> {
    let lang = args.get("lang").and_then(Value::as_str).unwrap_or("text");
    Ok(Value::String(fence_text(&as_text(value), lang)))
}

/// `{{ text | code }}`: an inline code span.
pub fn code<S: std::hash::BuildHasher>(
    value: &Value,
    _: &HashMap<String, Value, S>,
) -> Result<Value> {
    Ok(Value::String(code_text(&as_text(value))))
}

/// `{{ text | md }}`: safe inline markdown.
pub fn md<S: std::hash::BuildHasher>(
    value: &Value,
    _: &HashMap<String, Value, S>,
) -> Result<Value> {
    Ok(Value::String(inline_text(&as_text(value))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_outgrows_backticks_inside() {
        assert_eq!(fence_text("a ```` b", "text"), "`````text\na ```` b\n`````");
        assert_eq!(fence_text("plain", ""), "```\nplain\n```");
    }

    #[test]
    fn code_spans_outgrow_backticks() {
        assert_eq!(code_text("a_b"), "`a_b`");
        assert_eq!(code_text("x `y` z"), "``x `y` z``");
        assert_eq!(code_text("`q"), "`` `q ``");
    }

    #[test]
    fn inline_defuses_mentions_links_and_markup() {
        let out = inline_text("ping @team about #123 *now* [x](y)");
        assert!(!out.contains("@team"));
        assert!(!out.contains("#123"));
        assert!(out.contains("\\*now\\*"));
        assert!(out.contains("\\[x\\]"));
    }
}
