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

/// Compressed and archive formats by the magic bytes their specifications give, with
/// how to unpack them: none is read (gzip is, before this is asked).
const PACKED: [(&[u8], usize, &str, &str); 8] = [
    (b"PK\x03\x04", 0, "a zip archive", "unpack it first (unzip)"),
    (
        b"PK\x05\x06",
        0,
        "an empty zip archive",
        "unpack it first (unzip)",
    ),
    (
        b"\x28\xB5\x2F\xFD",
        0,
        "zstd-compressed",
        "decompress it first (zstd -d)",
    ),
    (
        b"\xFD7zXZ\x00",
        0,
        "xz-compressed",
        "decompress it first (xz -d)",
    ),
    (
        b"BZh",
        0,
        "bzip2-compressed",
        "decompress it first (bzip2 -d)",
    ),
    (
        b"7z\xBC\xAF\x27\x1C",
        0,
        "a 7-Zip archive",
        "unpack it first (7z x)",
    ),
    (
        b"\x04\x22\x4D\x18",
        0,
        "lz4-compressed",
        "decompress it first (lz4 -d)",
    ),
    (b"ustar", 257, "a tar archive", "unpack it first (tar -xf)"),
];

/// Why an input is not text to read, from its first bytes (after gzip): a compressed
/// or archive format by its magic bytes; or, when `binary` asks, binary data: more than
/// one in twenty of the first 1,000 characters (at least 64, zeros aside: a file
/// truncated while written can start with them) is a control character that text
/// does not hold. The characters are decoded as the input will be, so the verdict is
/// the same for the same text in any encoding.
pub(crate) fn not_text(sample: &[u8], sniffed: &Sniffed, binary: bool) -> Option<String> {
    if let Some((_, _, what, how)) = PACKED
        .iter()
        .find(|(magic, at, ..)| sample.get(*at..).is_some_and(|rest| packed(rest, magic)))
    {
        return Some(format!("{what}, which is not read; {how}"));
    }
    if !binary {
        return None;
    }
    let rest = &sample[sniffed.skip.min(sample.len())..];
    let (text, ..) = sniffed.encoding.unwrap_or(encoding_rs::UTF_8).decode(rest);
    let (mut seen, mut controls) = (0usize, 0usize);
    for c in text.chars().take(1000).filter(|c| *c != '\0') {
        seen += 1;
        if matches!(c, '\x01'..='\x08' | '\x0E'..='\x1A' | '\x1C'..='\x1F' | '\x7F') {
            controls += 1;
        }
    }
    (seen >= 64 && controls * 20 > seen).then(|| {
        format!(
            "binary data, not text ({controls} of its first {seen} characters are control characters); use --input-format text to read it anyway"
        )
    })
}

/// Whether `rest` starts with `magic`; bzip2's `BZh` only with a block size (`1` to
/// `9`) and a block's or the stream end's magic after it.
fn packed(rest: &[u8], magic: &[u8]) -> bool {
    if magic != b"BZh" {
        return rest.starts_with(magic);
    }
    rest.len() >= 10
        && rest.starts_with(magic)
        && (b'1'..=b'9').contains(&rest[3])
        && matches!(
            &rest[4..10],
            b"\x31\x41\x59\x26\x53\x59" | b"\x17\x72\x45\x38\x50\x90"
        )
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

    fn refused(bytes: &[u8]) -> Option<String> {
        not_text(bytes, &sniff(bytes), true)
    }

    #[test]
    fn packed_formats_are_told_by_their_magic_and_binary_by_its_controls() {
        let noise: Vec<u8> = (0u32..2000)
            .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[3])
            .collect();
        let bzip2 = [b"BZh9\x31\x41\x59\x26\x53\x59".as_slice(), &noise].concat();
        assert!(refused(&bzip2).unwrap().starts_with("bzip2-compressed"));
        let mut tar = vec![b'x'; 257];
        tar.extend(b"ustar\x0000");
        assert!(refused(&tar).unwrap().starts_with("a tar archive"));
        assert!(refused(&noise).unwrap().starts_with("binary data"));
        // Text that starts like a magic, or is short, or has a control here and there.
        assert_eq!(refused(b"BZh9 is a line of text, not bzip2\n"), None);
        assert_eq!(refused(b"\x01\x02\x03\x04 short"), None);
        let text = "ERROR \x1b[31mred\x1b[0m\ttab\x07 bell\r\n".repeat(60);
        assert_eq!(refused(text.as_bytes()), None);
        // Zeros are not counted: a file truncated while written starts with them.
        let zeros = [vec![0u8; 3000], b"ERROR a line\n".repeat(20)].concat();
        assert_eq!(refused(&zeros), None);
        // The same characters in UTF-16 get the same verdict as in UTF-8.
        let controls = "\x01\x02 ab".repeat(200);
        assert!(refused(controls.as_bytes()).is_some());
        let utf16 = [&[0xff, 0xfe][..], &utf16le(&controls)].concat();
        assert!(refused(&utf16).is_some());
        let cjk = "接続に失敗しました ERROR\n".repeat(100);
        let utf16 = [&[0xff, 0xfe][..], &utf16le(&cjk)].concat();
        assert_eq!(refused(&utf16), None);
        // Not asked for binary: only packed formats.
        assert_eq!(not_text(&noise, &sniff(&noise), false), None);
    }

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
