//! How an input's bytes are text when it does not say: UTF-16 without a byte-order mark
//! (or with one that a tool damaged on the way, such as a mark turned into two U+FFFD
//! characters or into `?`) is told by its byte pattern, since text that is mostly ASCII
//! puts a zero byte in every other place. Inputs with an intact mark, and UTF-8, are
//! left to the decoder's own mark sniffing.

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE};

/// What to do with an input's first bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Sniffed {
    /// Bytes to drop first (a damaged byte-order mark).
    pub(crate) skip: usize,
    /// The encoding to decode with, when it was guessed; `None` leaves it to the mark
    /// (UTF-8 without one).
    pub(crate) encoding: Option<&'static Encoding>,
    /// What was guessed, for the report's warnings.
    pub(crate) note: Option<String>,
}

/// The byte-order marks the decoder recognises itself.
const MARKS: [&[u8]; 3] = [b"\xEF\xBB\xBF", b"\xFF\xFE", b"\xFE\xFF"];
/// A mark turned into U+FFFD, encoded as UTF-8.
const REPLACEMENT: &[u8] = b"\xEF\xBF\xBD";
/// At most this many bytes of a damaged mark are dropped.
const MAX_DAMAGE: usize = 12;

/// Looks at the first bytes of an input (as many as are at hand).
pub(crate) fn sniff(head: &[u8]) -> Sniffed {
    let left_alone = Sniffed {
        skip: 0,
        encoding: None,
        note: None,
    };
    if MARKS.iter().any(|m| head.starts_with(m)) {
        return left_alone;
    }
    let skip = damaged_mark(head);
    let rest = &head[skip..];
    if let Some((encoding, name)) = utf16_by_pattern(rest) {
        let why = if skip > 0 {
            format!("its byte-order mark was damaged ({skip} bytes dropped)")
        } else {
            "it has no byte-order mark".to_string()
        };
        return Sniffed {
            skip,
            encoding: Some(encoding),
            note: Some(format!(
                "decoded as {name}, guessed from its byte pattern: {why}"
            )),
        };
    }
    // A damaged mark before UTF-8 JSON or YAML: drop it, so the content is recognised.
    let starts_content = rest
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'[' | b'{' | b'-'));
    if skip > 0 && starts_content {
        return Sniffed {
            skip,
            encoding: None,
            note: Some(format!(
                "read as UTF-8 after dropping {skip} bytes of a damaged byte-order mark"
            )),
        };
    }
    left_alone
}

/// The length of a damaged mark at the start: U+FFFD characters or `?`s.
fn damaged_mark(head: &[u8]) -> usize {
    let mut at = 0;
    while at < MAX_DAMAGE {
        if head[at..].starts_with(REPLACEMENT) {
            at += REPLACEMENT.len();
        } else if head.get(at) == Some(&b'?') {
            at += 1;
        } else {
            break;
        }
    }
    at
}

/// UTF-16 by its zero bytes: in mostly-ASCII text, one byte of each pair is zero (the
/// second in little-endian, the first in big-endian) and the other almost never is.
fn utf16_by_pattern(sample: &[u8]) -> Option<(&'static Encoding, &'static str)> {
    let sample = &sample[..sample.len().min(4096) & !1];
    let pairs = sample.len() / 2;
    if pairs < 8 {
        return None;
    }
    let zeros = |offset: usize| {
        sample
            .iter()
            .skip(offset)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
    };
    let (even, odd) = (zeros(0), zeros(1));
    // At least 40% of one side zero, at most 5% of the other.
    let mostly = |n: usize| n * 10 >= pairs * 4;
    let rarely = |n: usize| n * 20 <= pairs;
    if mostly(odd) && rarely(even) {
        Some((UTF_16LE, "UTF-16LE"))
    } else if mostly(even) && rarely(odd) {
        Some((UTF_16BE, "UTF-16BE"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn utf16be(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_be_bytes).collect()
    }

    const TEXT: &str =
        "[\r\n  {\r\n    \"insertId\": \"x1\",\r\n    \"textPayload\": \"Grüße\"\r\n  }\r\n]";

    #[test]
    fn utf16_without_a_mark_is_told_by_its_pattern() {
        let s = sniff(&utf16le(TEXT));
        assert_eq!((s.skip, s.encoding), (0, Some(UTF_16LE)));
        assert!(s.note.unwrap().contains("no byte-order mark"));
        let s = sniff(&utf16be(TEXT));
        assert_eq!((s.skip, s.encoding), (0, Some(UTF_16BE)));
    }

    #[test]
    fn a_mark_turned_into_replacement_characters_is_dropped() {
        let mut bytes = b"\xEF\xBF\xBD\xEF\xBF\xBD".to_vec();
        bytes.extend(utf16le(TEXT));
        let s = sniff(&bytes);
        assert_eq!((s.skip, s.encoding), (6, Some(UTF_16LE)));
        assert!(s.note.unwrap().contains("damaged (6 bytes dropped)"));
        let mut bytes = b"??".to_vec();
        bytes.extend(utf16le(TEXT));
        assert_eq!(sniff(&bytes).skip, 2);
    }

    #[test]
    fn utf8_and_intact_marks_are_left_to_the_decoder() {
        assert_eq!(sniff(TEXT.as_bytes()).encoding, None);
        assert_eq!(sniff(TEXT.as_bytes()).note, None);
        let mut marked = b"\xFF\xFE".to_vec();
        marked.extend(utf16le(TEXT));
        assert_eq!(sniff(&marked).encoding, None);
        // A plain log line that starts with a question mark stays as it is.
        assert_eq!(sniff(b"?? unknown state, retrying").skip, 0);
        // A mark turned into `???` before UTF-8 JSON is dropped.
        let s = sniff(b"???[{\"textPayload\": \"x\"}]");
        assert_eq!((s.skip, s.encoding), (3, None));
    }
}
