//! The fallback signature for messages no rule claims: stack-aware when the message
//! carries a stack trace (exception type + innermost application frame), otherwise a
//! masked message template (ids, numbers, hex, UUIDs, IPs, e-mails, timestamps,
//! quoted values, key=value values and id-like path segments replaced by placeholders).

mod mask;
mod stack;

pub use mask::{MaskedValue, PLACEHOLDER, is_id_segment, mask_line, mask_with};
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

/// The first line worth reading: not blank, and not only a timestamp/level prefix.
pub fn first_line(message: &str) -> &str {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
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
    Fallback::Template(mask_line(first_line(message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_ids_keep_the_key() {
        let a =
            fallback("request 8f14e45f-ceea-467e-a2b3-1c2f6a1b9e01 from 10.1.2.3 took 512ms").key();
        let b = fallback("request 0a1b2c3d-0000-4000-8000-abcdefabcdef from 192.168.0.9 took 7ms")
            .key();
        assert_eq!(a, b);
    }
}
