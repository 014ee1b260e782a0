//! The fallback signature for messages no rule claims: stack-aware when the message
//! carries a stack trace (exception type + innermost application frame), otherwise a
//! JSON object message signed by its fields, otherwise a masked message template (ids,
//! numbers, hex, UUIDs, IPs, e-mails, dates, quoted values, key=value values and
//! id-like path segments replaced by placeholders).

pub mod fold;
mod mask;
mod stack;
mod structured;

pub use mask::{MaskedValue, PLACEHOLDER, is_id_segment, mask_ids, mask_line, mask_with};
use stack::{go, java, node, python};

/// What the fallback made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// A stack trace: exception type and innermost application frame.
    Stack {
        /// Language family the trace was read as.
        lang: &'static str,
        /// Exception type (`KeyError`, `java.lang.IllegalStateException`, `panic`).
        exception: String,
        /// The exception line as written (first line of the error).
        headline: String,
        /// Innermost application frame as `file:function`, if one was found.
        frame: Option<String>,
        /// Masked message head, for generic exception types only.
        head: Option<String>,
    },
    /// A masked one-line template.
    Template(String),
    /// A JSON object message, signed by its fields.
    Fields {
        /// The signature key (`json:{...}`).
        key: String,
        /// A title that reads like a message.
        title: String,
    },
}

impl Fallback {
    /// The signature key this fallback stands for.
    pub fn key(&self) -> String {
        match self {
            Fallback::Stack {
                lang,
                exception,
                frame,
                head,
                ..
            } => {
                let mut k = format!("stack:{lang}:{exception}");
                if let Some(f) = frame {
                    k.push('@');
                    k.push_str(f);
                }
                if let Some(h) = head {
                    k.push('|');
                    k.push_str(h);
                }
                k
            }
            Fallback::Template(t) => format!("template:{t}"),
            Fallback::Fields { key, .. } => key.clone(),
        }
    }
}

/// Cuts a string to at most `max` characters, on a character boundary.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// The first line worth reading: the first with a letter in it, so that a banner of
/// asterisks, dashes or `=` is never a title; else the first that is not blank.
pub fn first_line(message: &str) -> &str {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.clone().next().unwrap_or("");
    lines
        .find(|l| l.chars().any(char::is_alphabetic))
        .unwrap_or(first)
}

/// Reads a stack trace, or masks the message.
pub fn fallback(message: &str) -> Fallback {
    if let Some(stack) = python(message)
        .or_else(|| java(message))
        .or_else(|| node(message))
        .or_else(|| go(message))
    {
        return stack;
    }
    if let Some((key, title)) = structured::structured(message) {
        return Fallback::Fields { key, title };
    }
    Fallback::Template(mask_line(first_line(message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_carry_words() {
        let banner = "\n***************************\nSERVICE COULD NOT START\n***************************\n\nDescription:\n\nPort 8080 taken";
        assert_eq!(
            fallback(banner),
            Fallback::Template("SERVICE COULD NOT START".into())
        );
        assert_eq!(first_line("=====\n-----"), "=====");
        let cut = "Traceback (most recent call last):\n  File \"/srv/app/tasks.py\", line 12, in nightly\n    rows = load(batch)\n  File \"/srv/app/store.py\", line 88, in load\n    return db.fetch(q)";
        let Fallback::Stack {
            exception,
            headline,
            ..
        } = fallback(cut)
        else {
            panic!("not a stack")
        };
        assert_eq!(exception, "(traceback cut off)");
        assert_eq!(
            headline,
            "Traceback cut off at app/store.py:load: return db.fetch(q)"
        );
        let odd = "Traceback (most recent call last):\n  File \"/srv/app/feed.py\", line 3, in pull\n    next(it)\nStopIteration";
        let Fallback::Stack {
            exception,
            headline,
            ..
        } = fallback(odd)
        else {
            panic!("not a stack")
        };
        assert_eq!(
            (exception.as_str(), headline.as_str()),
            ("StopIteration", "StopIteration")
        );
    }

    #[test]
    fn changed_ids_keep_the_key() {
        let a =
            fallback("request 8f14e45f-ceea-467e-a2b3-1c2f6a1b9e01 from 10.1.2.3 took 512ms").key();
        let b = fallback("request 0a1b2c3d-0000-4000-8000-abcdefabcdef from 192.168.0.9 took 7ms")
            .key();
        assert_eq!(a, b);
    }
}
