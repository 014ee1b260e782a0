//! Folding: one template, one cluster, when one position varies. Templates that are
//! identical but for one word (`login accepted for user alice` / `user bob` / `user
//! carol`) are one message written with different names; the masker cannot know a name
//! from a word, but the set of templates can.
//!
//! The rule: templates of the same length that agree on every token but one position
//! (punctuation around the token included) fold that position into `<*>` when it
//! holds [`MIN_VARIANTS`] or more different words and directly follows a constant
//! word. A value in a message follows the word that labels it (`user alice`, `job
//! nightly`, `interface eth1`); a varying first word is more often the event itself
//! (`boot (command 7)` / `halt (command 7)`). A label may end in the colon of
//! `key: value`; other punctuation ends a clause, and what follows it is not labelled. The pass repeats until nothing folds, so
//! two varying positions fold one after the other when each alone is varied enough.
//! It looks at nothing but the templates: no word is special.

use std::collections::{BTreeSet, HashMap};

use super::PLACEHOLDER;
use super::mask::split_punct;

/// Different words one position must hold before it folds. Two could be two events
/// (`opened` / `closed`); three different words in one slot of an otherwise identical
/// message are far more often names.
pub const MIN_VARIANTS: usize = 3;

/// Rounds of folding at most (each folds at least one position of some template).
const MAX_ROUNDS: usize = 8;

/// For each template, the template it folds into, when it folds.
pub fn fold_templates(templates: &[&str]) -> Vec<Option<String>> {
    let mut current: Vec<String> = templates.iter().map(|t| (*t).to_string()).collect();
    for _ in 0..MAX_ROUNDS {
        let folds = fold_round(&current);
        if folds.is_empty() {
            break;
        }
        for (i, folded) in folds {
            current[i] = folded;
        }
    }
    templates
        .iter()
        .zip(current)
        .map(|(t, c)| (*t != c).then_some(c))
        .collect()
}

/// A token that can stand for a varying value: it has a letter, and is not already a
/// placeholder.
fn foldable(core: &str) -> bool {
    !core.contains(PLACEHOLDER) && core.chars().any(char::is_alphabetic)
}

/// One round: the templates that fold, with what they fold into. A hole is keyed by
/// its position and a hash of the template around it (xxh3-64 over the other tokens),
/// so the index holds no copy of any template; each keeps at most [`MIN_VARIANTS`]
/// words, all it needs to know.
fn fold_round(templates: &[String]) -> Vec<(usize, String)> {
    let distinct: BTreeSet<&str> = templates.iter().map(String::as_str).collect();
    let mut holes: HashMap<(usize, u64), Vec<&str>> = HashMap::new();
    for t in &distinct {
        let tokens: Vec<&str> = t.split(' ').collect();
        if tokens.len() < 2 {
            continue;
        }
        for (i, token) in tokens.iter().enumerate() {
            let (_, core, _) = split_punct(token);
            if !foldable(core) || !labelled(&tokens, i) {
                continue;
            }
            let others_have_words = tokens
                .iter()
                .enumerate()
                .any(|(j, o)| j != i && foldable(split_punct(o).1));
            if !others_have_words {
                continue;
            }
            let words = holes.entry((i, hole_hash(&tokens, i))).or_default();
            if words.len() < MIN_VARIANTS && !words.contains(&core) {
                words.push(core);
            }
        }
    }
    let mut folds = Vec::new();
    for (n, t) in templates.iter().enumerate() {
        let tokens: Vec<&str> = t.split(' ').collect();
        let varied = (0..tokens.len()).find(|&i| {
            foldable(split_punct(tokens[i]).1)
                && labelled(&tokens, i)
                && holes
                    .get(&(i, hole_hash(&tokens, i)))
                    .is_some_and(|words| words.len() >= MIN_VARIANTS)
        });
        if let Some(i) = varied {
            let (open, _, close) = split_punct(tokens[i]);
            folds.push((n, with_hole(&tokens, i, open, close)));
        }
    }
    folds
}

/// A hash of `tokens` with the core of token `at` left out (its punctuation kept).
fn hole_hash(tokens: &[&str], at: usize) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (j, token) in tokens.iter().enumerate() {
        if j == at {
            let (open, _, close) = split_punct(token);
            h.update(open.as_bytes());
            h.update(b"\x00");
            h.update(close.as_bytes());
        } else {
            h.update(token.as_bytes());
        }
        h.update(b" ");
    }
    h.digest()
}

/// Whether the token at `i` follows a constant word (its label) directly, or after
/// the colon of `key: value`; not across other punctuation (`done, alice`).
fn labelled(tokens: &[&str], i: usize) -> bool {
    i > 0 && {
        let (_, core, close) = split_punct(tokens[i - 1]);
        foldable(core) && (close.is_empty() || close == ":")
    }
}

fn with_hole(tokens: &[&str], at: usize, open: &str, close: &str) -> String {
    let mut out = String::new();
    for (j, token) in tokens.iter().enumerate() {
        if j > 0 {
            out.push(' ');
        }
        if j == at {
            out.push_str(open);
            out.push_str(PLACEHOLDER);
            out.push_str(close);
        } else {
            out.push_str(token);
        }
    }
    out
}

/// Whether `general` covers `narrow`: the same tokens, where `general` may hold a
/// placeholder for any token of `narrow` (punctuation around it kept).
pub fn covers(general: &str, narrow: &str) -> bool {
    let g: Vec<&str> = general.split(' ').collect();
    let n: Vec<&str> = narrow.split(' ').collect();
    g.len() == n.len()
        && g.iter().zip(&n).all(|(a, b)| {
            if a == b {
                return true;
            }
            let (ao, ac, aclose) = split_punct(a);
            let (bo, _, bclose) = split_punct(b);
            ac == PLACEHOLDER && ao == bo && aclose == bclose
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_with_many_names_folds() {
        let t = [
            "login accepted for user alice",
            "login accepted for user bob",
            "login accepted for user carol",
            "login refused for user <*>",
        ];
        let f = fold_templates(&t);
        let folded = Some("login accepted for user <*>".to_string());
        assert_eq!(f, [folded.clone(), folded.clone(), folded, None]);
    }

    #[test]
    fn two_words_in_a_slot_stay_two_templates() {
        let t = ["connection opened by peer", "connection closed by peer"];
        assert_eq!(fold_templates(&t), [None, None]);
    }

    #[test]
    fn punctuation_around_the_word_is_kept_and_must_agree() {
        let t = [
            "job (sync) RUN (<*>)",
            "job (backup) RUN (<*>)",
            "job (mailer) RUN (<*>)",
            "job [other] RUN (<*>)",
        ];
        let f = fold_templates(&t);
        assert_eq!(f[0].as_deref(), Some("job (<*>) RUN (<*>)"));
        assert_eq!(f[3], None);
    }

    #[test]
    fn two_varying_positions_fold_in_turn() {
        let mut t = Vec::new();
        for user in ["ann", "ben", "cid"] {
            for host in ["alpha", "beta", "gamma"] {
                t.push(format!("user {user} logged into {host}"));
            }
        }
        let refs: Vec<&str> = t.iter().map(String::as_str).collect();
        let f = fold_templates(&refs);
        assert!(
            f.iter()
                .all(|x| x.as_deref() == Some("user <*> logged into <*>")),
            "{f:?}"
        );
    }

    #[test]
    fn a_varying_first_word_is_the_event_not_a_value() {
        let t = [
            "boot (command <*>)",
            "halt (command <*>)",
            "wait (command <*>)",
        ];
        assert_eq!(fold_templates(&t), [None, None, None]);
    }

    #[test]
    fn a_label_may_end_in_a_colon_and_a_clause_ends_a_label() {
        let t = [
            "hive: alpha loaded",
            "hive: beta loaded",
            "hive: gamma loaded",
        ];
        assert!(
            fold_templates(&t)
                .iter()
                .all(|f| f.as_deref() == Some("hive: <*> loaded"))
        );
        let t = ["done, alpha left", "done, beta left", "done, gamma left"];
        assert_eq!(fold_templates(&t), [None, None, None]);
    }

    #[test]
    fn templates_without_other_words_do_not_fold() {
        let t = ["alpha <*>", "beta <*>", "gamma <*>"];
        assert_eq!(fold_templates(&t), [None, None, None]);
    }

    proptest::proptest! {
        /// Any three or more different names after a label fold into one template that
        /// covers each of them; one or two never fold.
        #[test]
        fn labelled_names_fold_and_the_fold_covers_them(
            names in proptest::collection::btree_set("[a-z][a-z0-9_-]{1,12}", 1..8),
        ) {
            let t: Vec<String> = names
                .iter()
                .map(|n| format!("replica {n} fell behind by <*> entries"))
                .collect();
            let refs: Vec<&str> = t.iter().map(String::as_str).collect();
            let folded = fold_templates(&refs);
            for (narrow, f) in refs.iter().zip(&folded) {
                if names.len() >= MIN_VARIANTS {
                    let f = f.as_deref().unwrap_or(narrow);
                    proptest::prop_assert_eq!(f, "replica <*> fell behind by <*> entries");
                    proptest::prop_assert!(covers(f, narrow));
                } else {
                    proptest::prop_assert_eq!(f, &None);
                }
            }
        }
    }

    #[test]
    fn coverage_is_token_by_token() {
        assert!(covers("user <*> logged in", "user alice logged in"));
        assert!(covers("(<*>) RUN", "(sync) RUN"));
        assert!(!covers("user <*> logged in", "user alice logged out"));
        assert!(!covers("user <*>", "user alice smith"));
        assert!(covers("same", "same"));
    }
}
