//! Masks secrets in log text before anything leaves the process: bearer tokens, JWTs,
//! Google API keys, private keys, passwords in URLs, token/key query parameters,
//! `password=` style assignments and well-known token formats.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::{Regex, RegexSet};

/// The replacement text for a secret.
pub const REDACTED: &str = "[REDACTED]";

struct Pattern {
    re: Regex,
    /// Replacement, with `$name` references to keep non-secret parts.
    with: &'static str,
}

fn patterns() -> &'static [Pattern] {
    static P: OnceLock<Vec<Pattern>> = OnceLock::new();
    P.get_or_init(|| {
        let p = |re: &str, with: &'static str| Pattern {
            re: Regex::new(re).expect("redaction patterns are valid literals"),
            with,
        };
        vec![
            p(
                r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
                "[REDACTED PRIVATE KEY]",
            ),
            p(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}", "[REDACTED JWT]"),
            p(r"(?i)\b(?P<k>bearer|basic|token)(?P<s>\s+)[A-Za-z0-9._~+/=-]{8,}", "$k$s[REDACTED]"),
            p(r"\bAIza[0-9A-Za-z_-]{35}\b", "[REDACTED]"),
            p(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[baprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|ya29\.[A-Za-z0-9._-]{20,}|sk-[A-Za-z0-9]{20,})", "[REDACTED]"),
            p(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/\s@]+:)[^@\s/]+@", "$pre[REDACTED]@"),
            p(
                r"(?i)(?P<pre>[?&;](?:access_token|id_token|refresh_token|token|key|api_key|apikey|api-key|password|passwd|secret|client_secret|sig|signature|x-amz-signature|auth)=)[^&\s#\x22'<>]+",
                "$pre[REDACTED]",
            ),
            p(
                r"(?i)(?P<pre>\b(?:password|passwd|pwd|secret|api_key|apikey|client_secret|access_token|refresh_token|private_key)\x22?\s*[:=]\s*\x22?)[^\s\x22',;&}]{3,}",
                "$pre[REDACTED]",
            ),
        ]
    })
}

/// Every pattern at once: one pass tells whether a text holds any secret at all.
fn any_secret() -> &'static RegexSet {
    static SET: OnceLock<RegexSet> = OnceLock::new();
    SET.get_or_init(|| {
        RegexSet::new(patterns().iter().map(|p| p.re.as_str()))
            .expect("redaction patterns are valid literals")
    })
}

/// Returns the text with every secret replaced; borrows when nothing matched.
pub fn redact(text: &str) -> Cow<'_, str> {
    // Most texts hold no secret: one pass over them instead of one per pattern.
    if !any_secret().is_match(text) {
        return Cow::Borrowed(text);
    }
    let mut out: Cow<'_, str> = Cow::Borrowed(text);
    for p in patterns() {
        if p.re.is_match(&out) {
            out = Cow::Owned(p.re.replace_all(&out, p.with).into_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn secrets_are_masked_and_context_kept() {
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        let text = format!("Authorization: Bearer {jwt}");
        let out = redact(&text);
        assert!(!out.contains("eyJzdWIi"), "{out}");
        assert!(out.starts_with("Authorization: "), "{out}");
        assert_eq!(redact("Bearer abcdefgh12345678"), "Bearer [REDACTED]");
        assert_eq!(
            redact("postgresql://app:s3cr3tP4ss@10.0.0.5:5432/db"),
            "postgresql://app:[REDACTED]@10.0.0.5:5432/db"
        );
        assert_eq!(
            redact("GET /cb?code=1&access_token=abc.def&x=2"),
            "GET /cb?code=1&access_token=[REDACTED]&x=2"
        );
        assert_eq!(
            redact("key AIzaSyA1234567890abcdefghijklmnopqrstuv"),
            "key [REDACTED]"
        );
        assert_eq!(
            redact("password=hunter22 user=bob"),
            "password=[REDACTED] user=bob"
        );
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----";
        assert_eq!(redact(pem), "[REDACTED PRIVATE KEY]");
        assert_eq!(redact("nothing here 12345"), "nothing here 12345");
    }
}
