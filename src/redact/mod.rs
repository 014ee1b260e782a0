//! Masks secrets and personal data in log text before anything leaves the process.
//!
//! Secrets are recognised by class, never by a list of values:
//! - by place: URL userinfo (`scheme://user:PASSWORD@host`, also cut off before its
//!   `@host` and with an empty user), `key=value`, `key: value` and JSON `"key": "value"`
//!   where the key's last word names a secret (password, token, api key, session, ...),
//!   XML elements and long options named the same way, curl's `-u user:password`,
//!   clients' documented password options (`mysql -pVALUE`, `sshpass -p`,
//!   `redis-cli -a`), a generated-looking value right after the word `password`,
//!   query parameters of the same kind, and `Authorization`/`Cookie` headers;
//! - by shape: PEM private keys (even cut off), JWTs, and token formats whose issuers
//!   document a prefix (Google, GitHub, GitLab, Slack, Stripe, npm, `PyPI`, Twilio,
//!   `SendGrid`, Vault, Shopify, AWS, Azure), plus 40-character mixed-case values shaped
//!   like AWS secret access keys and random-looking values after `Bearer`/`Basic`.
//!
//! Text derived from a message (a template, a capture) passes [`Removed::scrub`]: the
//! words masking the message removed are removed from it too.
//!
//! Personal data (e-mail addresses, phone numbers, payment card numbers, IBANs) is masked
//! too unless a run keeps it ([`Redactor::keeping_personal_data`]), keeping its shape:
//! `<email>@example.com`, `+44 <phone>`, `<card>`, `DE <iban>`. Service-account
//! addresses (`…@….gserviceaccount.com`), IP addresses and user agents are evidence and
//! stay. Replacements keep the key and the separator (`password=[REDACTED]`), so a
//! redacted text reads like the original and redacting it again changes nothing.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::{Captures, Regex, RegexSet};

/// The replacement text for a secret.
pub const REDACTED: &str = "[REDACTED]";

/// What a match becomes.
enum With {
    /// A template with `$name` references to the parts that are kept.
    Template(&'static str),
    /// Computed from the match; `None` keeps the match as it is (a look-alike).
    Fn(fn(&Captures<'_>) -> Option<String>),
    /// The values of keys that name a secret (or, for personal data, a phone number);
    /// the pattern only tells that such a key is there.
    KeyValues,
}

/// Secrets are always masked; personal data unless the run keeps it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Secret,
    Personal,
}

struct Pattern {
    class: Class,
    re: Regex,
    with: With,
}

/// Key words whose last place in a key names a secret (`db_password`, `apiKey`,
/// `X-Auth-Token`); a key part may also end with one (`PGPASSWORD`, `authtoken`).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "apikey",
    "credential",
    "credentials",
    "auth",
    "session",
    "sessionid",
    "cookie",
    "cookies",
];

/// Secret words that name a secret anywhere in a key, not only at its end.
const STRONG_WORDS: &[&str] = &["password", "passwd", "passphrase", "secret"];

/// Words that make a following `key` a secret (`api key`, `AccountKey`,
/// `SharedAccessKey`, `aws_secret_access_key`).
const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "access",
    "private",
    "secret",
    "account",
    "shared",
    "signing",
    "master",
    "encryption",
    "subscription",
    "storage",
];

/// Key words for personal data held under a key (`phone`, `"mobile": "…"`).
const PHONE_WORDS: &[&str] = &["phone", "mobile", "msisdn", "cellphone", "telephone"];

/// A key's words, lower-cased: split at `_`, `-`, `.`, spaces and camel-case humps.
fn key_words(key: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in key.chars() {
        if !ch.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        cur.push(ch.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// How surely a key names a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecretKey {
    /// Its last word names a secret (`db_password`, `apiKey`): any value is masked.
    Named,
    /// A strong word stands before its last one (`secret_key_base`, but also
    /// `secret_name`, `password_min_length`): only a value that looks generated is.
    Inner,
}

/// Whether a key names a secret: its last word is (or ends with) a secret word, or is
/// `key` after a qualifier, or `code` after `auth`/`otp`, or `id` after `session`;
/// else whether a strong word (password, secret) stands in it.
fn secret_key(key: &str) -> Option<SecretKey> {
    let words = key_words(key);
    let last = words.last()?;
    let before = words.len().checked_sub(2).map(|i| words[i].as_str());
    let named = last == "pass"
        || SECRET_WORDS.iter().any(|w| last.ends_with(w))
        // `apikey`, `accesskey`, `AccountKey` written as one word.
        || last
            .strip_suffix("key")
            .is_some_and(|q| KEY_QUALIFIERS.iter().any(|w| q.ends_with(w)))
        || match (before, last.as_str()) {
            (Some(b), "key") => KEY_QUALIFIERS.contains(&b),
            (Some("auth" | "otp" | "mfa" | "totp" | "verification"), "code")
            | (Some("session"), "id") => true,
            _ => false,
        };
    if named {
        return Some(SecretKey::Named);
    }
    words
        .iter()
        .any(|w| STRONG_WORDS.iter().any(|s| w.ends_with(s)))
        .then_some(SecretKey::Inner)
}

#[cfg(test)]
fn names_secret(key: &str) -> bool {
    secret_key(key).is_some()
}

fn names_phone(key: &str) -> bool {
    key_words(key)
        .last()
        .is_some_and(|w| PHONE_WORDS.iter().any(|p| w.ends_with(p)))
}

fn names_iban(key: &str) -> bool {
    key_words(key).last().is_some_and(|w| w == "iban")
}

/// Already masked: a replacement of ours, or a placeholder written in place of a value
/// (`<password>`, `<*>`, `(empty)`: small letters, `*`, `_`, `-` or spaces in angle
/// brackets or parentheses; `<Gh5Jk6Lm7>` is a value).
fn is_masked(value: &str) -> bool {
    let v = value.trim_start_matches(['"', '\'', '\\']);
    if v.starts_with("[REDACTED") || v.starts_with("***") {
        return true;
    }
    let Some(inner) = v.strip_prefix('<').or_else(|| v.strip_prefix('(')) else {
        return false;
    };
    let inner = inner.split(['>', ')']).next().unwrap_or("");
    !inner.is_empty()
        && inner
            .bytes()
            .all(|b| b.is_ascii_lowercase() || matches!(b, b'*' | b'_' | b'-' | b' '))
}

/// A literal that says there is no value (JSON, YAML, Python, SQL and shell spellings
/// of booleans and null): `(using password: YES)`, `token=null`.
fn is_literal(value: &str) -> bool {
    let v = value.trim_matches(['"', '\'', '\\']);
    [
        "true",
        "false",
        "yes",
        "no",
        "null",
        "nil",
        "none",
        "undefined",
    ]
    .iter()
    .any(|l| v.eq_ignore_ascii_case(l))
}

/// The quote that opened a quoted value, kept around the replacement.
fn quoted(value: &str, with: &str) -> String {
    for q in ["\\\"", "\"", "'"] {
        if value.len() >= 2 * q.len() && value.starts_with(q) && value.ends_with(q) {
            return format!("{q}{with}{q}");
        }
    }
    with.to_string()
}

/// A key, then its separator: `key=`, `key: `, `"key": `, `\"key\":`, `'key' => `.
fn key_separator() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?P<k>[A-Za-z][A-Za-z0-9_.-]*)\\?["']?\s*(?:=>|:|=)\s*"#)
            .expect("redaction patterns are valid literals")
    })
}

/// A value at the start of a text: quoted (`"v w"`, `\"v\"`, `'v'`) or bare (to a
/// space, quote or closing bracket, or to a `,`, `;` or `&` that ends it: one before a
/// space, a quote or the next `key=`; `pw=a&b9 retries=3` is one value).
fn value_at(text: &str) -> Option<&str> {
    static QUOTED: OnceLock<Regex> = OnceLock::new();
    static NEXT_KEY: OnceLock<Regex> = OnceLock::new();
    let quoted = QUOTED.get_or_init(|| {
        Regex::new(r#"^(?:\\"(?:[^"\\]|\\[^"])*\\"|"(?:[^"\\]|\\.)*"|'[^'\n]*')"#)
            .expect("redaction patterns are valid literals")
    });
    if let Some(m) = quoted.find(text) {
        return Some(m.as_str());
    }
    let next_key = NEXT_KEY.get_or_init(|| {
        Regex::new(r"^[A-Za-z_][A-Za-z0-9_.-]*[=:]").expect("redaction patterns are valid literals")
    });
    let mut end = 0;
    for (i, c) in text.char_indices() {
        match c {
            c if c.is_whitespace() => break,
            '"' | '\'' | '}' | ']' | ')' => break,
            ',' | ';' | '&' => {
                let rest = &text[i + 1..];
                if !rest.starts_with(|n: char| n.is_ascii_alphanumeric()) || next_key.is_match(rest)
                {
                    break;
                }
            }
            _ => {}
        }
        end = i + c.len_utf8();
    }
    (end > 0).then(|| &text[..end])
}

/// Whether a value starts with a key that names a secret, then its separator.
fn inner_secret_key(value: &str) -> bool {
    key_separator()
        .captures(value)
        .filter(|c| c.get(0).is_some_and(|m| m.start() == 0))
        .is_some_and(|c| secret_key(&c["k"]).is_some())
}

/// An IBAN value written in groups (`fr76 3000 6000 …`): the value and as many of the
/// groups of up to four letters and digits after it as make a valid IBAN.
fn iban_groups<'t>(text: &'t str, value: &str) -> &'t str {
    static GROUP: OnceLock<Regex> = OnceLock::new();
    let group = GROUP.get_or_init(|| {
        Regex::new(r"^ [A-Za-z0-9]{1,4}\b").expect("redaction patterns are valid literals")
    });
    let mut ends = Vec::new();
    let mut end = value.len();
    while ends.len() < 8
        && let Some(m) = group.find(&text[end..])
    {
        end += m.end();
        ends.push(end);
    }
    ends.into_iter()
        .rev()
        .find(|&e| {
            let compact: String = text[..e]
                .trim_matches(['"', '\'', '\\'])
                .chars()
                .filter(|c| *c != ' ')
                .collect();
            iban_valid(&compact)
        })
        .map_or(&text[..value.len()], |e| &text[..e])
}

/// Replaces the values of keys that name a secret, and with `personal` of keys that
/// name a phone number. Keys that name neither are passed over, so a secret key inside
/// another key's value (`error:password=x`) is still found.
fn key_values(text: &str, personal: bool) -> Option<String> {
    // Keys with none of the words' stems are passed over without being split.
    static STEMS: OnceLock<Regex> = OnceLock::new();
    let stems = STEMS.get_or_init(|| {
        Regex::new(
            "(?i)pass|pwd|secret|token|key|code|credential|auth|session|cookie|phone|mobile|msisdn|iban",
        )
        .expect("redaction patterns are valid literals")
    });
    let mut out = String::new();
    let mut copied = 0;
    let mut at = 0;
    while let Some(c) = key_separator().captures_at(text, at) {
        let Some(m) = c.get(0) else { break };
        at = m.end();
        if !stems.is_match(&c["k"]) {
            continue;
        }
        let Some(held) = held_by(&c["k"], personal) else {
            continue;
        };
        let Some((value, with)) = replace_value(held, &text[m.end()..]) else {
            continue;
        };
        out.push_str(&text[copied..m.end()]);
        out.push_str(&with);
        copied = m.end() + value.len();
        at = copied;
    }
    (copied > 0).then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

/// A value under an inner secret word worth masking: not a literal, a small number,
/// a path or a URL, and random-looking.
fn looks_generated(value: &str, bare: &str) -> bool {
    let plain = is_literal(value)
        || (bare.len() <= 6 && bare.bytes().all(|b| b.is_ascii_digit()))
        || bare.starts_with('/')
        || bare.contains("://");
    !plain && looks_random(bare)
}

/// What a key holds, by its name.
#[derive(Debug, Clone, Copy)]
enum Held {
    Secret(SecretKey),
    Phone,
    Iban,
}

fn held_by(key: &str, personal: bool) -> Option<Held> {
    if let Some(kind) = secret_key(key) {
        Some(Held::Secret(kind))
    } else if personal && names_phone(key) {
        Some(Held::Phone)
    } else if personal && names_iban(key) {
        Some(Held::Iban)
    } else {
        None
    }
}

/// The value a key holds at the start of `rest`, and what it becomes (the quotes
/// kept); `None` when the value stays: masked already, a literal, a plain value under
/// an inner secret word, too few digits for a phone, no valid IBAN.
fn replace_value(held: Held, rest: &str) -> Option<(&str, String)> {
    let value = value_at(rest)?;
    // `auth: token='a b'`: the value is the next secret key; that key masks its own.
    if inner_secret_key(value) || is_masked(value) {
        return None;
    }
    let bare = value.trim_matches(['"', '\'', '\\']);
    let with = match held {
        Held::Secret(SecretKey::Named) if !is_literal(value) => REDACTED.to_string(),
        // `secret_name=db-password`, `password_min_length=12`, a path or a URL.
        Held::Secret(SecretKey::Inner) if looks_generated(value, bare) => REDACTED.to_string(),
        Held::Phone if value.bytes().filter(u8::is_ascii_digit).count() >= 6 => {
            "<phone>".to_string()
        }
        Held::Iban => {
            // Written in groups, it runs on; it keeps its country (`DE <iban>`).
            let value = iban_groups(rest, value);
            let compact: String = value
                .trim_matches(['"', '\'', '\\'])
                .chars()
                .filter(|c| *c != ' ')
                .collect();
            return iban_valid(&compact).then(|| {
                let country = compact[..2].to_ascii_uppercase();
                (value, quoted(value, &format!("{country} <iban>")))
            });
        }
        _ => return None,
    };
    Some((value, quoted(value, &with)))
}

/// A value that looks generated rather than written: a digit in it, a capital letter
/// after its first character, or base64 padding.
fn looks_random(v: &str) -> bool {
    v.bytes().any(|b| b.is_ascii_digit())
        || v.bytes().skip(1).any(|b| b.is_ascii_uppercase())
        || v.ends_with('=')
}

/// A legacy Vault token is random: capitals, small letters and digits.
fn legacy_vault(c: &Captures<'_>) -> Option<String> {
    let v = c["v"].as_bytes();
    (v.iter().any(u8::is_ascii_uppercase)
        && v.iter().any(u8::is_ascii_lowercase)
        && v.iter().any(u8::is_ascii_digit))
    .then(|| REDACTED.to_string())
}

fn xml_element(c: &Captures<'_>) -> Option<String> {
    let (tag, value) = (&c["t"], &c["v"]);
    (tag == &c["e"] && secret_key(tag) == Some(SecretKey::Named) && !is_masked(value))
        .then(|| format!("<{tag}>{REDACTED}</{tag}>"))
}

fn long_option(c: &Captures<'_>) -> Option<String> {
    let value = &c["v"];
    (secret_key(&c["f"]) == Some(SecretKey::Named) && !is_masked(value) && !is_literal(value))
        .then(|| format!("{} {REDACTED}", &c["f"]))
}

/// A password given to a client as its manual documents it (`mysql -pVALUE`,
/// `sshpass -p VALUE`, `redis-cli -a VALUE`).
fn client_password(c: &Captures<'_>) -> Option<String> {
    let value = &c["v"];
    (!is_masked(value) && !is_literal(value)).then(|| format!("{}{REDACTED}", &c["f"]))
}

/// A password written after the word, without a separator (`login with password
/// Tr0ub4dor3`): only a value that looks generated, six characters or more, is one.
fn worded_password(c: &Captures<'_>) -> Option<String> {
    let value = &c["v"];
    (value.chars().count() >= 6
        && !value.contains('/')
        && !is_masked(value)
        && looks_generated(value, value))
    .then(|| format!("{}{}{REDACTED}", &c["k"], &c["s"]))
}

fn scheme_token(c: &Captures<'_>) -> Option<String> {
    looks_random(&c["v"]).then(|| format!("{}{}{REDACTED}{}", &c["k"], &c["s"], &c["a"]))
}

/// `Authorization: Bearer …` keeps the scheme word; anything else is masked whole.
fn authorization(c: &Captures<'_>) -> Option<String> {
    let value = &c["v"];
    if is_masked(value) {
        return None;
    }
    let kept = match value.split_once(' ') {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !rest.trim().is_empty() =>
        {
            if is_masked(rest.trim()) {
                return None;
            }
            format!("{scheme} {REDACTED}")
        }
        _ => REDACTED.to_string(),
    };
    Some(format!("{}{}{kept}", &c["k"], &c["sep"]))
}

/// URL userinfo cut off before `@host`: a port (digits, then the query or fragment)
/// is not a password.
fn cut_userinfo(c: &Captures<'_>) -> Option<String> {
    let pw = &c["pw"];
    let after_port = pw.trim_start_matches(|ch: char| ch.is_ascii_digit());
    let port = after_port.len() < pw.len()
        && (after_port.is_empty() || after_port.starts_with(['?', '#']));
    if port || is_masked(pw) {
        return None;
    }
    Some(format!("{}{REDACTED}", &c["pre"]))
}

/// Whether a run of 40 base64 characters is shaped like an AWS secret access key:
/// capitals, small letters and digits; hex digests (no capitals) and paths (many
/// slashes) are not.
fn aws_shaped(run: &[u8]) -> bool {
    run.iter().any(u8::is_ascii_uppercase)
        && run.iter().any(u8::is_ascii_lowercase)
        && run.iter().any(u8::is_ascii_digit)
        && memchr::memchr_iter(b'/', run).count() <= 2
        && memchr::memmem::find(run, b"//").is_none()
}

/// Masks long runs of base64 by their length, in one pass over the bytes (counted
/// repetitions would swell the pattern set's automaton): exactly 40 characters shaped
/// like an AWS secret access key, and 86 characters with `==` (64 bytes: an Azure
/// storage account key). `None` when there is none.
fn long_runs(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let base64 = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if !base64(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && base64(b[i]) {
            i += 1;
        }
        let pad = b[i..].iter().take_while(|&&c| c == b'=').count();
        let after_pad = start == 0 || b[start - 1] != b'=';
        let masked = if i - start == 40 && pad == 0 && after_pad && aws_shaped(&b[start..i]) {
            Some((start, i))
        } else if i - start >= 86 && pad >= 2 {
            Some((i - 86, i + 2))
        } else {
            None
        };
        if let Some((from, to)) = masked {
            out.push_str(&text[copied..from]);
            out.push_str(REDACTED);
            copied = to;
            i = to;
        }
    }
    (copied > 0).then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

fn digits_of(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Whether `digits` has the length and issuer prefix of a payment card (ISO/IEC 7812
/// issuer ranges of the major networks).
fn card_issuer(digits: &[u8]) -> bool {
    let prefix = |n: usize| {
        digits
            .iter()
            .take(n)
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
    };
    let len = digits.len();
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    match len {
        13 | 16 | 19 if p1 == 4 => true,
        15 => matches!(p2, 34 | 37),
        // Maestro's issuer ranges.
        12..=19 if matches!(p4, 5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761..=6763) => true,
        16 if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) => true,
        14..=19 if (300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39) => true,
        16..=19 => {
            p4 == 6011
                || p2 == 65
                || (644..=649).contains(&p3)
                || p2 == 62
                || (3528..=3589).contains(&p4)
        }
        _ => false,
    }
}

fn card(c: &Captures<'_>) -> Option<String> {
    let raw = &c["c"];
    let digits = digits_of(raw);
    // Separated numbers come in the networks' groups of four (or 4-6-5).
    let groups: Vec<usize> = raw.split([' ', '-', '.']).map(str::len).collect();
    let grouped = groups.len() == 1
        || groups[..groups.len() - 1].iter().all(|&g| g == 4)
        || groups == [4, 6, 5]
        || groups == [4, 6, 4];
    (grouped && card_issuer(&digits) && luhn(&digits))
        .then(|| format!("{}<card>{}", &c["b"], &c["a"]))
}

/// IBAN check digits (ISO 13616): two letters, two digits, 11 to 30 letters and
/// digits, and the rearranged number is 1 modulo 97 (any case).
fn iban_valid(compact: &str) -> bool {
    let b = compact.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_alphabetic)
        || !b[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let rearranged = compact[4..].chars().chain(compact[..4].chars());
    let mut rem: u32 = 0;
    for ch in rearranged {
        let Some(v) = ch.to_digit(36) else {
            return false;
        };
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    rem == 1
}

fn iban(c: &Captures<'_>) -> Option<String> {
    let compact: String = c["i"].chars().filter(|ch| *ch != ' ').collect();
    iban_valid(&compact).then(|| format!("{} <iban>", &compact[..2]))
}

/// Country calling codes (ITU-T E.164): 1 and 7 stand alone, these two-digit codes are
/// assigned, and every other code has three digits.
const TWO_DIGIT_CODES: &[&str] = &[
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
    "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
    "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
];

fn phone(c: &Captures<'_>) -> Option<String> {
    let p = &c["p"];
    // `+44 …`, or `0044 …` with the international call prefix (ITU-T E.164 annex).
    // North America dials out with 011.
    let body = p
        .strip_prefix('+')
        .or_else(|| {
            p.strip_prefix("011")
                .map(|b| b.trim_start_matches([' ', '.', '-']))
        })
        .or_else(|| p.strip_prefix("00"))
        .unwrap_or(p);
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    if !(8..=15).contains(&digits.len()) {
        return None;
    }
    // The code as written (`+44 20 …`), else by the numbering plan (`+4420…`).
    let written = body
        .find(|ch: char| !ch.is_ascii_digit())
        .map(|i| &body[..i])
        .filter(|code| (1..=3).contains(&code.len()));
    let code = written.unwrap_or_else(|| {
        if digits.starts_with('1') || digits.starts_with('7') {
            &digits[..1]
        } else if TWO_DIGIT_CODES.contains(&&digits[..2]) {
            &digits[..2]
        } else {
            &digits[..3]
        }
    });
    Some(format!("{}+{code} <phone>", &c["b"]))
}

fn email(c: &Captures<'_>) -> Option<String> {
    // A user in a URL (`https://deploy@host`) or an scp-like remote (`git@host:path`)
    // names an account on a host, not a mailbox.
    if c.name("url").is_some() || c.name("scp").is_some() {
        return None;
    }
    let domain = &c["d"];
    // Service identities are evidence (which account lacked a permission), not people.
    if domain
        .to_ascii_lowercase()
        .ends_with(".gserviceaccount.com")
    {
        return None;
    }
    Some(format!("<email>{}{domain}", &c["at"]))
}

fn patterns() -> &'static [Pattern] {
    static P: OnceLock<Vec<Pattern>> = OnceLock::new();
    P.get_or_init(|| {
        // ASCII word boundaries: the lazy DFA gives up on Unicode ones in non-ASCII text.
        let p = |class: Class, re: &str, with: With| Pattern {
            class,
            re: Regex::new(&re.replace(r"\b", r"(?-u:\b)"))
                .expect("redaction patterns are valid literals"),
            with,
        };
        let secret = |re: &str, with: &'static str| p(Class::Secret, re, With::Template(with));
        let secret_fn = |re: &str, f| p(Class::Secret, re, With::Fn(f));
        let personal_fn = |re: &str, f| p(Class::Personal, re, With::Fn(f));
        vec![
            // PEM private keys, to their END line or, cut off, to the end of the text.
            secret(
                r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----(?s:.*?-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|.*)",
                "[REDACTED PRIVATE KEY]",
            ),
            secret(
                r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
                "[REDACTED JWT]",
            ),
            // Authorization and Cookie headers, in text, JSON and Python reprs.
            secret_fn(
                r#"(?i)\b(?P<k>(?:proxy-)?authorization)(?P<sep>\\?["']?\s*[:=]\s*\\?["']?)(?P<v>digest\s[^\r\n]*|[^\r\n"'\\]+)"#,
                authorization,
            ),
            secret(
                r#"(?i)\b(?P<k>(?:set-)?cookie)(?P<sep>\\?["']?\s*:\s*\\?["']?)[^\r\n"'\\]+"#,
                "$k$sep[REDACTED]",
            ),
            secret_fn(
                r"(?i)\b(?P<k>bearer|basic)(?P<s>\s+)(?P<v>[A-Za-z0-9._~+/-]{8,}=*)(?P<a>$|[^A-Za-z0-9=])",
                scheme_token,
            ),
            // Issuers' documented token prefixes.
            secret(
                concat!(
                    r"\b(?:AIza[0-9A-Za-z_-]{35}",
                    r"|ya29\.[0-9A-Za-z._-]{20,}",
                    r"|1//0[0-9A-Za-z_-]{20,}",
                    r"|GOCSPX-[0-9A-Za-z_-]{20,}",
                    r"|gh[pousr]_[A-Za-z0-9]{30,}",
                    r"|github_pat_[A-Za-z0-9_]{22,}",
                    r"|gl(?:pat|dt|rt|ptt|cbt|oas|soat|ft|imt|agent|wt|ffct)-[0-9A-Za-z_-]{20,}",
                    r"|GR1348941[0-9A-Za-z_-]{20,}",
                    r"|xox[abposre]-[0-9A-Za-z-]{10,}",
                    r"|xoxe\.xox[bp]-[0-9]-[0-9A-Za-z-]{10,}",
                    r"|xapp-[0-9]-[0-9A-Za-z-]{10,}",
                    r"|(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{10,}",
                    r"|whsec_[0-9A-Za-z+/=]{20,}",
                    r"|npm_[A-Za-z0-9]{36}",
                    r"|pypi-[A-Za-z0-9_-]{50,}",
                    r"|SK[0-9a-fA-F]{32}",
                    r"|SG\.[0-9A-Za-z_-]{16,32}\.[0-9A-Za-z_-]{16,64}",
                    r"|(?:AKIA|ASIA)[0-9A-Z]{16}",
                    r"|sk-[A-Za-z0-9_-]{20,}",
                    r"|hv[sbr]\.[A-Za-z0-9_-]{24,}",
                    r"|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
                    r")",
                ),
                "[REDACTED]",
            ),
            secret(
                r"(?P<h>hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]+",
                "$h[REDACTED]",
            ),
            // Vault's service tokens before 1.10: `s.` and 24 letters and digits.
            secret_fn(r"\bs\.(?P<v>[A-Za-z0-9]{24})\b", legacy_vault),
            // A Twilio account SID with its auth token (`SID:token`, basic-auth style).
            secret(
                r"\b(?P<sid>AC[0-9a-f]{32}):[0-9a-f]{32}\b",
                "$sid:[REDACTED]",
            ),
            // An element whose name names a secret: `<password>…</password>`.
            secret_fn(
                r"<(?P<t>[A-Za-z][A-Za-z0-9_.-]*)>(?P<v>[^<\r\n]{1,500})</(?P<e>[A-Za-z][A-Za-z0-9_.-]*)>",
                xml_element,
            ),
            // Command-line options: `--password VALUE`, and curl's `-u user:password`.
            secret_fn(
                r#"(?P<f>--[A-Za-z][A-Za-z0-9-]*) +(?P<v>[^\s"'-][^\s"']*)"#,
                long_option,
            ),
            secret(
                r#"(?P<f>(?:^|\s)(?:-u|--user))(?P<s>\s+|=)(?P<u>[^\s:"'-][^\s:"']*):[^\s"']+"#,
                "$f$s$u:[REDACTED]",
            ),
            // Clients' documented password options: MySQL and MariaDB `-pPASSWORD`
            // (attached: `-p name` prompts and names a database), `sshpass -p`, the
            // MongoDB tools' `-p` and `redis-cli -a`.
            secret_fn(
                r#"(?P<f>(?:\b(?:mysql[a-z]*|mariadb[a-z-]*)\b[^\r\n;|&]*?\s-p|(?:sshpass|mongo[a-z]*)\b[^\r\n;|&]*?\s-p\s*|redis-cli\b[^\r\n;|&]*?\s-a\s*)["']?)(?P<v>[^\s"'-][^\s"']*)"#,
                client_password,
            ),
            // `password VALUE`, `the password is VALUE`: no separator.
            secret_fn(
                r#"(?i)\b(?P<k>pass(?:word|wd|phrase|code))(?P<s>(?: is| was)? +["']?)(?P<v>[^\s"'<>()\[\]{}=:,;]+)"#,
                worded_password,
            ),
            // URL userinfo: with its `@host`, then cut off before it.
            secret(
                r#"(?P<pre>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/?#\s@\[\]"'<>]*:)[^\s/"'<>]+@"#,
                "$pre[REDACTED]@",
            ),
            secret_fn(
                r#"(?P<pre>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/?#\s@\[\]"'<>]*:)(?P<pw>[^\s/"'<>@]+)"#,
                cut_userinfo,
            ),
            // Query parameters that carry credentials.
            secret(
                r#"(?i)(?P<pre>[?&;](?:[a-z0-9_.-]*(?:token|secret|password|passwd|pwd|api[_-]?key|apikey|access[_-]?key|signature|credential|session|sessionid)|key|sig|code|auth)=)[^&\s#"'<>]+"#,
                "$pre[REDACTED]",
            ),
            // Keys whose last word names a secret or a phone number, then a separator.
            p(
                Class::Secret,
                r#"(?i)(?:pass|pwd|secret|token|key|code|credential|auth|session|cookie|phone|mobile|msisdn|iban)[a-z0-9_.-]*\\?["']?\s*(?:=>|:|=)"#,
                With::KeyValues,
            ),
            // Also URL-encoded (`maria%40example.com` in a query string).
            personal_fn(
                r"(?P<url>[A-Za-z][A-Za-z0-9+.-]*://)?\b[A-Za-z0-9._%+-]+?(?P<at>@|%40|%2540)(?P<d>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b(?P<scp>:[A-Za-z0-9_~./-])?",
                email,
            ),
            // A trunk prefix in brackets (`+33 (0)1 42 …`) may precede a one-digit area.
            personal_fn(
                r"(?P<b>^|[^\w+])(?P<p>\+[0-9]{1,3}(?:[ .-]?\(?[0-9]{1,4}\)?)(?:[ .-]?[0-9]{1,5}){1,6})\b",
                phone,
            ),
            // With the international call prefix, only written in groups.
            personal_fn(
                r"(?P<b>^|[^\w+.:-])(?P<p>(?:00|011[ .-])[1-9][0-9]{0,2}(?:[ .-][0-9]{1,6}){2,6})\b",
                phone,
            ),
            p(
                Class::Personal,
                r"(?P<b>^|[^\w.+/-])(?:\([0-9]{3}\) ?|[0-9]{3}-)[0-9]{3}-[0-9]{4}\b",
                With::Template("$b<phone>"),
            ),
            personal_fn(
                r"(?P<b>^|[^\w.-])(?P<c>[2-6](?:[ .-]?[0-9]){11,18})(?P<a>$|[^\w.-]|\.(?:$|\s))",
                card,
            ),
            personal_fn(
                r"\b(?P<i>[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)\b",
                iban,
            ),
        ]
    })
}

/// Every pattern of a class at once, and each one's place in [`patterns`]: one pass
/// tells which patterns a text may hold (a superset), if any.
fn any_match(personal: bool) -> &'static (RegexSet, Vec<usize>) {
    static SECRETS: OnceLock<(RegexSet, Vec<usize>)> = OnceLock::new();
    static ALL: OnceLock<(RegexSet, Vec<usize>)> = OnceLock::new();
    let cell = if personal { &ALL } else { &SECRETS };
    cell.get_or_init(|| {
        let used: Vec<usize> = patterns()
            .iter()
            .enumerate()
            .filter(|(_, p)| personal || p.class == Class::Secret)
            .map(|(i, _)| i)
            .collect();
        // Without word boundaries: a prefilter that stays fast on any text (each
        // candidate pattern then runs itself).
        let set = RegexSet::new(
            used.iter()
                .map(|&i| crate::prefilter::without_word_boundaries(patterns()[i].re.as_str())),
        )
        .expect("redaction patterns are valid literals");
        (set, used)
    })
}

/// `re`'s matches replaced by `f`; `None` when `f` kept every match as it was.
fn replace_some(re: &Regex, text: &str, f: fn(&Captures<'_>) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut copied = 0;
    for c in re.captures_iter(text) {
        let (Some(m), Some(with)) = (c.get(0), f(&c)) else {
            continue;
        };
        out.push_str(&text[copied..m.start()]);
        out.push_str(&with);
        copied = m.end();
    }
    (copied > 0).then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

/// Masks secrets always and personal data unless told to keep it. `Copy`: it is a
/// setting, the compiled patterns are shared by the whole process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redactor {
    keep_personal: bool,
}

impl Redactor {
    /// Secrets only: e-mail addresses, phone numbers, card numbers and IBANs are kept
    /// (for private, local runs).
    pub fn keeping_personal_data() -> Redactor {
        Redactor {
            keep_personal: true,
        }
    }

    /// Whether personal data is kept.
    pub fn keeps_personal_data(self) -> bool {
        self.keep_personal
    }

    /// The text with every secret (and, by default, personal datum) replaced; borrows
    /// when nothing matched.
    pub fn redact(self, text: &str) -> Cow<'_, str> {
        let personal = !self.keep_personal;
        // One pass tells which patterns the text holds; most texts hold none.
        let (set, used) = any_match(personal);
        // Whether any pattern matches is a faster search than which ones do, and most
        // texts match none.
        if !set.is_match(text) {
            return long_runs(text).map_or(Cow::Borrowed(text), Cow::Owned);
        }
        let found = set.matches(text);
        let mut out: Cow<'_, str> = Cow::Borrowed(text);
        for i in found.iter().map(|k| used[k]) {
            let p = &patterns()[i];
            let replaced = match &p.with {
                With::Template(t) => match p.re.replace_all(&out, *t) {
                    Cow::Owned(s) => Some(s),
                    Cow::Borrowed(_) => None,
                },
                With::Fn(f) => replace_some(&p.re, &out, *f),
                With::KeyValues => key_values(&out, personal),
            };
            if let Some(r) = replaced {
                out = Cow::Owned(r);
            }
        }
        if let Some(r) = long_runs(&out) {
            out = Cow::Owned(r);
        }
        out
    }
}

/// The words (runs of three or more letters and digits) that masking the secrets of a
/// message removed from it. Text derived from the message (a masked template, a rule
/// capture, a fact) can cut a secret so that no pattern recognises the rest (the tail
/// of a quoted password with a space, base64 whose padding became a separator): such
/// text is scrubbed of these words before it is shown.
#[derive(Debug, Default)]
pub struct Removed {
    words: std::collections::HashSet<String>,
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
}

impl Removed {
    /// The secret words of `raw`; empty when it holds no secret.
    pub fn from_message(raw: &str) -> Removed {
        let Cow::Owned(masked) = Redactor::keeping_personal_data().redact(raw) else {
            return Removed::default();
        };
        let kept: std::collections::HashSet<&str> = words(&masked).collect();
        Removed {
            words: words(raw)
                .filter(|w| !kept.contains(w))
                .map(str::to_string)
                .collect(),
        }
    }

    /// Whether there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// `text` redacted, then with every removed word replaced by [`REDACTED`].
    pub fn scrub<'t>(&self, redactor: Redactor, text: &'t str) -> Cow<'t, str> {
        let redacted = redactor.redact(text);
        if self.words.is_empty() || !words(&redacted).any(|w| self.words.contains(w)) {
            return redacted;
        }
        let mut out = String::with_capacity(redacted.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            if self.words.contains(word.as_str()) {
                out.push_str(REDACTED);
            } else {
                out.push_str(word);
            }
            word.clear();
        };
        for c in redacted.chars() {
            if c.is_alphanumeric() {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        Cow::Owned(out)
    }
}

/// [`Redactor::redact`] with the default: secrets and personal data masked.
pub fn redact(text: &str) -> Cow<'_, str> {
    Redactor::default().redact(text)
}

#[cfg(test)]
mod tests;
