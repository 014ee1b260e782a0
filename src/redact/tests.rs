//! The corpus (`corpus.toml`): every secret masked, personal data masked unless kept,
//! look-alikes unchanged; and properties over made-up secrets of each class.

use proptest::prelude::*;
use serde::Deserialize;

use super::{REDACTED, Redactor, redact};

#[derive(Deserialize)]
struct Corpus {
    secret: Vec<Secret>,
    personal: Vec<Personal>,
    keep: Vec<Keep>,
}

#[derive(Deserialize)]
#[allow(clippy::struct_field_names)] // the corpus' own key
struct Secret {
    class: String,
    #[serde(rename = "in")]
    place: String,
    text: String,
    secret: String,
}

#[derive(Deserialize)]
struct Personal {
    class: String,
    text: String,
    value: String,
    masked: String,
}

#[derive(Deserialize)]
struct Keep {
    text: String,
}

fn corpus() -> Corpus {
    toml::from_str(include_str!("corpus.toml")).expect("the corpus parses")
}

#[test]
fn the_corpus_covers_every_class_twice_and_every_place() {
    let c = corpus();
    assert!(c.secret.len() + c.personal.len() >= 60);
    let mut classes = std::collections::BTreeMap::<&str, usize>::new();
    for s in &c.secret {
        *classes.entry(&s.class).or_default() += 1;
    }
    for p in &c.personal {
        *classes.entry(&p.class).or_default() += 1;
    }
    for (class, n) in &classes {
        assert!(*n >= 2, "class {class} has {n} sample(s)");
    }
    for place in ["text", "json", "url"] {
        assert!(
            c.secret.iter().filter(|s| s.place == place).count() >= 5,
            "few samples in {place}"
        );
    }
}

#[test]
fn every_secret_is_masked_and_its_context_kept() {
    for s in corpus().secret {
        for r in [Redactor::default(), Redactor::keeping_personal_data()] {
            let out = r.redact(&s.text);
            assert!(
                !out.contains(&s.secret),
                "{} leaked from {:?}: {out}",
                s.class,
                s.text
            );
            assert!(out.contains("[REDACTED"), "{}: {out}", s.class);
            // The words around it stay: the first word of the text survives.
            let first = s.text.split_whitespace().next().unwrap_or_default();
            let first = first.get(..first.len().min(6)).unwrap_or_default();
            assert!(out.contains(first), "{}: context lost: {out}", s.class);
        }
    }
}

#[test]
fn personal_data_is_masked_by_default_and_kept_on_request() {
    for p in corpus().personal {
        let out = redact(&p.text);
        assert!(
            !out.contains(&p.value),
            "{} leaked from {:?}: {out}",
            p.class,
            p.text
        );
        assert!(out.contains(&p.masked), "{}: {out}", p.class);
        assert_eq!(
            Redactor::keeping_personal_data().redact(&p.text),
            p.text,
            "{} changed although kept",
            p.class
        );
    }
}

#[test]
fn look_alikes_are_left_alone() {
    for k in corpus().keep {
        assert_eq!(redact(&k.text), k.text);
    }
}

#[test]
fn redacting_twice_changes_nothing_more() {
    let c = corpus();
    let texts = c
        .secret
        .iter()
        .map(|s| &s.text)
        .chain(c.personal.iter().map(|p| &p.text))
        .chain(c.keep.iter().map(|k| &k.text));
    for t in texts {
        let once = redact(t).into_owned();
        assert_eq!(redact(&once), once);
    }
}

#[test]
fn keys_keep_their_name_and_shape() {
    assert_eq!(
        redact("password=hunter22 user=bob"),
        "password=[REDACTED] user=bob"
    );
    assert_eq!(
        redact(r#"{"db_password": "a b c", "host": "db"}"#),
        r#"{"db_password": "[REDACTED]", "host": "db"}"#
    );
    assert_eq!(
        redact(r#"{\"apiKey\":\"x1y2z3\"}"#),
        r#"{\"apiKey\":\"[REDACTED]\"}"#
    );
    assert_eq!(
        redact("postgresql://app:s3cr3t@10.0.0.5:5432/db"),
        "postgresql://app:[REDACTED]@10.0.0.5:5432/db"
    );
    assert_eq!(redact("redis://:pw1x@h:6379"), "redis://:[REDACTED]@h:6379");
    assert_eq!(
        redact("DATABASE_URL begins with: postgresql://u:abc1..."),
        "DATABASE_URL begins with: postgresql://u:[REDACTED]"
    );
    assert_eq!(
        redact("GET /cb?code=1&access_token=abc.def&x=2"),
        "GET /cb?code=[REDACTED]&access_token=[REDACTED]&x=2"
    );
    assert_eq!(
        redact("Authorization: Bearer abcdefgh12345678"),
        "Authorization: Bearer [REDACTED]"
    );
    assert_eq!(
        redact("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY----- done"),
        "[REDACTED PRIVATE KEY] done"
    );
    assert_eq!(REDACTED, "[REDACTED]");
}

#[test]
fn secret_keys_are_told_by_their_last_word() {
    for k in [
        "password",
        "DB_PASSWORD",
        "PGPASSWORD",
        "apiKey",
        "x-api-key",
        "api key",
        "AccountKey",
        "SharedAccessKey",
        "aws_secret_access_key",
        "client_secret",
        "refresh_token",
        "X-Auth-Token",
        "session_id",
        "sessionId",
        "cookie",
        "auth",
        "credentials",
        "pwd",
    ] {
        assert!(super::names_secret(k), "{k}");
    }
    for k in [
        "author",
        "authentication",
        "token_type",
        "tokens_issued",
        "sessions",
        "session_count",
        "passwordless",
        "key",
        "monkey",
        "private_key_id",
        "keyword",
    ] {
        assert!(!super::names_secret(k), "{k}");
    }
}

#[test]
fn phone_codes_follow_the_numbering_plan() {
    assert_eq!(redact("to +15551234567"), "to +1 <phone>");
    assert_eq!(redact("to +33612345678"), "to +33 <phone>");
    assert_eq!(redact("to +353861234567"), "to +353 <phone>");
    assert_eq!(redact("to +1 (415) 555-0132 now"), "to +1 <phone> now");
    // Time-zone offsets and short numbers are not phone numbers.
    assert_eq!(redact("at 10:15:00+01:00"), "at 10:15:00+01:00");
    assert_eq!(redact("delta +12345"), "delta +12345");
}

#[test]
fn cards_need_an_issuer_prefix_and_the_check_digit() {
    // The same digits with the last one changed fail the Luhn check.
    assert_eq!(redact("card 4886277757934257"), "card <card>");
    assert_eq!(redact("card 4886277757934258"), "card 4886277757934258");
    // Valid check digit, no issuer: an id.
    assert_eq!(redact("id 9886277757934251"), "id 9886277757934251");
}

fn word() -> impl Strategy<Value = String> {
    "[a-z]{1,9}"
}

/// Secrets of each class, made up from the class's documented shape.
fn secret() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        "[A-Za-z0-9]{36}".prop_map(|s| (format!("ghp_{s}"), s.clone())),
        "[A-Z0-9]{16}".prop_map(|s| (format!("AKIA{s}"), format!("AKIA{s}"))),
        "[A-Za-z0-9]{24}".prop_map(|s| (format!("sk_live_{s}"), s.clone())),
        "[A-Za-z0-9]{24}".prop_map(|s| (format!("rk_test_{s}"), s.clone())),
        "[A-Za-z0-9_-]{35}".prop_map(|s| (format!("AIza{s}"), s.clone())),
        "[A-Za-z0-9_-]{40}".prop_map(|s| (format!("ya29.{s}"), s.clone())),
        "[A-Za-z0-9]{36}".prop_map(|s| (format!("npm_{s}"), s.clone())),
        "[A-Za-z0-9]{10,20}".prop_map(|s| (format!("xoxb-123-456-{s}"), s.clone())),
        "[0-9a-f]{32}".prop_map(|s| (format!("SK{s}"), s.clone())),
        "[A-Za-z0-9_-]{22}".prop_map(|s| (format!("SG.{s}.{s}{s}"), s.clone())),
        "[A-Za-z0-9!#%]{8,24}".prop_map(|s| (format!("postgres://app:{s}@db:5432/x"), s.clone())),
        "[A-Za-z0-9!#%]{8,24}".prop_map(|s| (format!("redis://:{s}@cache"), s.clone())),
        "[A-Za-z0-9]{8,24}".prop_map(|s| (format!("password={s}"), s.clone())),
        "[A-Za-z0-9 ]{8,24}".prop_map(|s| (format!("\"client_secret\": \"{s}\""), s.clone())),
        "[A-Za-z0-9]{8,24}".prop_map(|s| (format!("API_KEY: {s}"), s.clone())),
        "[A-Za-z0-9]{20,40}".prop_map(|s| (format!("Authorization: Bearer {s}"), s.clone())),
        "[A-Za-z0-9]{20,40}".prop_map(|s| (format!("?access_token={s}&x=1"), s.clone())),
        "[A-Za-z0-9_-]{10,30}".prop_map(|s| (format!("eyJhbGciOi.eyJzdWIi{s}.sig{s}"), s.clone())),
        "[A-Za-z0-9+/]{40}"
            .prop_map(|s| (format!("-----BEGIN RSA PRIVATE KEY-----\n{s}\n"), s.clone())),
    ]
    .prop_filter(
        "a value long enough to be told apart from the message",
        |(_, v)| v.trim().len() >= 8,
    )
}

proptest! {
    #[test]
    fn a_secret_anywhere_in_a_message_never_survives(
        words in prop::collection::vec(word(), 0..12),
        at in any::<prop::sample::Index>(),
        (planted, value) in secret(),
        sep in prop::sample::select(vec![" ", " (", ": ", " [", ", "]),
    ) {
        let mut parts: Vec<String> = words.clone();
        let i = at.index(parts.len() + 1);
        parts.insert(i, format!("{sep}{planted}").trim_start().to_string());
        let text = parts.join(" ");
        let out = redact(&text);
        prop_assert!(!out.contains(&value), "{text:?} -> {out:?}");
        prop_assert_eq!(redact(&out).into_owned(), out.into_owned());
    }

    #[test]
    fn any_text_is_redacted_without_panic_and_once_for_all(
        text in r#"[a-zA-Z0-9 =:;&,"'<>()@%+./_\\-]{0,80}"#,
    ) {
        let once = redact(&text).into_owned();
        prop_assert_eq!(redact(&once).into_owned(), once.clone(), "{:?}", text);
        let removed = super::Removed::from_message(&text);
        let _ = removed.scrub(Redactor::default(), &text);
    }

    #[test]
    fn plain_words_are_never_touched(words in prop::collection::vec(word(), 0..20)) {
        let text = words.join(" ");
        prop_assert_eq!(redact(&text).into_owned(), text);
    }
}

#[test]
fn text_derived_from_a_message_loses_the_words_its_secrets_held() {
    // A masked template can cut a quoted password so that no pattern sees the rest.
    let message = r#"auth error password="Qv7 Lm2Xz9Tb" for app"#;
    let title = r#"auth error password=<*> Lm2Xz9Tb" for app"#;
    let removed = super::Removed::from_message(message);
    assert!(!removed.is_empty());
    assert_eq!(
        removed.scrub(Redactor::default(), title),
        r#"auth error password=<*> [REDACTED]" for app"#
    );
    // Words the masking kept stay, and a message without secrets removes nothing.
    assert_eq!(
        removed.scrub(Redactor::default(), "auth error for app"),
        "auth error for app"
    );
    assert!(super::Removed::from_message("token expired for app 42").is_empty());
}
