//! Pattern sets as prefilters that stay fast on any text. A `RegexSet` whose patterns
//! hold Unicode word boundaries (`\b`, `\B`) cannot use its lazy DFA on text with
//! non-ASCII characters and falls back to an NFA simulation, about a hundred times
//! slower: a log in any language other than English crawled. Dropping the boundaries
//! gives patterns that match wherever the originals do, and more: a set of those says
//! which patterns *may* match, fast on any text; the caller then confirms each
//! candidate with the pattern itself.

/// `pattern` without its word-boundary assertions (`\b` and `\B` outside character
/// classes; inside one, `\b` is a backspace and stays). Removing a zero-width assertion
/// never removes a match, so the result matches a superset of what `pattern` matches.
pub fn without_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    // Depth of character classes (`[[:alpha:]]`, nested `[a[b]]`).
    let mut class = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push(c);
                    break;
                };
                if class == 0 && (next == 'b' || next == 'B') {
                    // `\b{start}` and the like: drop the braces too.
                    if chars.peek() == Some(&'{') {
                        for d in chars.by_ref() {
                            if d == '}' {
                                break;
                            }
                        }
                    }
                    continue;
                }
                out.push(c);
                out.push(next);
            }
            '[' => {
                class += 1;
                out.push(c);
                // A `]` or `^]` right after the opening bracket is a literal.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if class > 0 => {
                class -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn boundaries_go_and_everything_else_stays() {
        assert_eq!(
            without_word_boundaries(r"\bKeyError: '(?P<k>\w+)'\B"),
            r"KeyError: '(?P<k>\w+)'"
        );
        assert_eq!(without_word_boundaries(r"[\b\]]x\\b"), r"[\b\]]x\\b");
        assert_eq!(
            without_word_boundaries(r"[]\b]\b{start}a\b{end-half}"),
            r"[]\b]a"
        );
        assert_eq!(without_word_boundaries(r"[^]a]\bz"), r"[^]a]z");
    }

    proptest! {
        /// Wherever a pattern with boundaries matches, the pattern without them does.
        #[test]
        fn the_prefilter_matches_wherever_the_pattern_does(
            word in "[a-zé]{1,5}",
            text in "[a-zé0-9 .:«»-]{0,30}",
        ) {
            for p in [format!(r"\b{word}\b"), format!(r"\B{word}"), format!(r"{word}\b\w*")] {
                let full = regex::Regex::new(&p).unwrap();
                let loose = regex::Regex::new(&without_word_boundaries(&p)).unwrap();
                prop_assert!(!full.is_match(&text) || loose.is_match(&text), "{} on {:?}", p, text);
            }
        }
    }
}
