//! Reads exported logs from files or stdin, streaming: one entry at a time reaches the
//! callback, and memory does not grow with the file.
//!
//! Detection: gzip by magic bytes (other compressed and archive formats, and binary
//! data, are refused with what to do); BOM (UTF-8, UTF-16LE/BE) decoded to UTF-8; then the
//! first non-blank byte: `[` a JSON array (streamed element by element), `{` NDJSON
//! when the first line is a whole value, else concatenated (pretty-printed) values;
//! anything else is plain text, one entry per line. `{"entries": [...]}` style
//! wrappers (`entries`, `result`, `logEntries`) are unwrapped.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};

/// Bytes the encoding is told from (the byte-pattern test reads at most 4 KiB, after a
/// damaged mark of at most a few bytes).
pub(crate) const SNIFF_SAMPLE: usize = 4096 + 16;
use std::path::Path;

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::entry::{Entry, RawEntry, Severity};
use crate::error::{Error, Result};
use crate::source::parallel::{self, Shape};

/// How to read an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// Detect from the content.
    #[default]
    Auto,
    /// JSON in any of its shapes.
    Json,
    /// Plain text, one entry per line.
    Text,
    /// gcloud's YAML: `---`-separated documents, one entry each.
    Yaml,
}

/// Work done on each entry by the parsing threads (see [`crate::cluster::prepare`]).
pub struct Prepare<'a> {
    /// Request logs under HTTP 500 and below this severity are only counted
    /// downstream: they are built without the strings nobody reads (see
    /// [`Entry::from_raw_with`]).
    pub counted_below: Severity,
    /// Runs on each parsed entry.
    pub each: &'a (dyn Fn(&mut Entry) + Sync + 'a),
}

/// What happened to one raw entry.
pub enum Item {
    /// A parsed entry.
    Entry(Box<Entry>),
    /// A malformed entry: input position and why.
    Malformed {
        /// 1-based position (entry number, or line number for NDJSON and text).
        index: u64,
        /// Line number where known (NDJSON), else entry number.
        line: Option<u64>,
        /// The parse error.
        error: serde_json::Error,
    },
}

/// Parses one raw entry (a JSON object) numbered `index`.
pub fn parse_entry(index: u64, json: &str) -> Item {
    parse_entry_with(index, json, None)
}

/// [`parse_entry`], building request logs under HTTP 500 below `counted_below` without
/// their strings.
pub(crate) fn parse_entry_with(index: u64, json: &str, counted_below: Option<Severity>) -> Item {
    entry_item(index, serde_json::from_str::<RawEntry>(json), counted_below)
}

fn entry_item(
    index: u64,
    parsed: serde_json::Result<RawEntry<'_>>,
    counted_below: Option<Severity>,
) -> Item {
    match parsed {
        Ok(raw) => Item::Entry(Box::new(Entry::from_raw_with(index, raw, counted_below))),
        Err(error) => Item::Malformed {
            index,
            line: None,
            error,
        },
    }
}

/// Parses a top-level object: a wrapper of entries (`entries`, `result`,
/// `logEntries`), or one entry. Items are numbered 0; the reader numbers them.
/// Returns whether it was a wrapper that names a next page (`nextPageToken`): one page
/// of a longer result.
pub(crate) fn object_items(
    json: &str,
    line: Option<u64>,
    counted_below: Option<Severity>,
    out: &mut Vec<Item>,
) -> bool {
    #[derive(serde::Deserialize)]
    struct Wrapper<'a> {
        #[serde(borrow, alias = "result", alias = "logEntries")]
        entries: Option<Vec<&'a RawValue>>,
        #[serde(rename = "nextPageToken", default)]
        next_page_token: Option<std::borrow::Cow<'a, str>>,
    }
    // The parse as one entry also tells whether the object names a wrapper key at its
    // top level; only then, or when it is no entry, is a wrapper worth a second parse.
    let parsed = serde_json::from_str::<RawEntry<'_>>(json);
    if parsed.as_ref().map_or(true, RawEntry::names_a_wrapper_key)
        && let Ok(Wrapper {
            entries: Some(list),
            next_page_token,
        }) = serde_json::from_str::<Wrapper<'_>>(json)
    {
        for e in list {
            out.push(with_line(parse_entry_with(0, e.get(), counted_below), line));
        }
        return next_page_token.is_some_and(|t| !t.is_empty());
    }
    out.push(with_line(entry_item(0, parsed, counted_below), line));
    false
}

fn with_line(item: Item, line: Option<u64>) -> Item {
    match item {
        Item::Malformed { index, error, .. } => Item::Malformed { index, line, error },
        entry @ Item::Entry(_) => entry,
    }
}

/// The text of `bytes`, with invalid UTF-8 replaced (valid text, the usual case, is
/// checked by the faster `from_utf8`).
pub(crate) fn utf8_lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Parses one NDJSON line (numbered `line_no`): nothing for a blank line.
pub(crate) fn line_items(
    bytes: &[u8],
    line_no: u64,
    counted_below: Option<Severity>,
    out: &mut Vec<Item>,
) {
    let text = utf8_lossy(bytes);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return;
    }
    if trimmed.starts_with('{') {
        // One API page per line: whether more pages exist is not known here.
        let _ = object_items(trimmed, Some(line_no), counted_below, out);
    } else {
        let error = serde_json::from_str::<RawEntry<'_>>(trimmed)
            .err()
            .unwrap_or_else(|| de::Error::custom("not a JSON object"));
        out.push(Item::Malformed {
            index: 0,
            line: Some(line_no),
            error,
        });
    }
}

/// Reads one input (`-` is stdin) and hands every raw entry to `on_item`.
/// `next_index` numbers entries across inputs (1-based) and is advanced.
/// `threads` above 1 parses NDJSON and JSON arrays on that many worker threads
/// ([`parallel`]); 1 reads everything on the calling thread.
pub fn read_input(
    name: &str,
    format: InputFormat,
    threads: usize,
    prepare: Option<&Prepare<'_>>,
    next_index: &mut u64,
    on_item: &mut dyn FnMut(Item) -> Result<()>,
) -> Result<ReadNotes> {
    let raw: Box<dyn Read + Send> = if name == "-" {
        Box::new(io::stdin())
    } else {
        let path = Path::new(name);
        Box::new(File::open(path).map_err(|source| Error::ReadInput {
            path: name.to_string(),
            source,
        })?)
    };
    read_stream(name, raw, format, threads, prepare, next_index, on_item)
}

/// Checks that every input can be opened for reading, before any is read: a missing
/// file, one without permission, or a folder is an error naming it, and nothing has
/// been printed yet. `-` (stdin) is always there.
pub fn check_inputs(inputs: &[String]) -> Result<()> {
    for name in inputs.iter().filter(|n| *n != "-") {
        let error = |source| Error::ReadInput {
            path: name.clone(),
            source,
        };
        let file = File::open(name).map_err(error)?;
        if file.metadata().map_err(error)?.is_dir() {
            return Err(error(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            )));
        }
    }
    Ok(())
}

/// The earlier input that input `i` repeats (the same file by any name, or stdin
/// again): it is read once, so its entries are not counted twice.
pub fn repeats(inputs: &[String], i: usize) -> Option<&str> {
    let name = inputs.get(i)?;
    inputs[..i]
        .iter()
        .find(|earlier| {
            if *earlier == "-" || name == "-" {
                *earlier == name
            } else {
                same_file::is_same_file(earlier, name).unwrap_or(false)
            }
        })
        .map(String::as_str)
}

/// Refuses an output file that is one of the inputs (by any name: a relative path, a
/// symbolic or hard link): writing it would replace the logs with the report, appending
/// to it (a step summary) would change them.
pub fn check_not_an_input(flag: &str, out: &std::path::Path, inputs: &[String]) -> Result<()> {
    let clash = inputs
        .iter()
        .filter(|n| *n != "-")
        .any(|n| same_file::is_same_file(n, out).unwrap_or(false));
    if clash {
        return Err(Error::Usage(format!(
            "{flag} {}: is an input of this run; writing to it would change the logs (choose another file)",
            out.display()
        )));
    }
    Ok(())
}

/// What reading an input found out about it besides its entries, for the report's
/// warnings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadNotes {
    /// How the text was decoded when that had to be guessed: no byte-order mark, or a
    /// damaged one.
    pub guessed_encoding: Option<String>,
    /// The input is an API response page whose `nextPageToken` says more entries exist.
    pub more_pages: bool,
}

/// Reads any byte stream (used by `read_input` and tests), and says what it found out
/// about the input besides its entries.
pub fn read_stream(
    name: &str,
    raw: Box<dyn Read + Send>,
    format: InputFormat,
    threads: usize,
    prepare: Option<&Prepare<'_>>,
    next_index: &mut u64,
    on_item: &mut dyn FnMut(Item) -> Result<()>,
) -> Result<ReadNotes> {
    let io_err = |source| Error::ReadInput {
        path: name.to_string(),
        source,
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, raw);
    let head = buffered.fill_buf().map_err(io_err)?;
    let gz = head.starts_with(&[0x1f, 0x8b]);
    let mut plain: Box<dyn BufRead + Send + '_> = if gz {
        Box::new(BufReader::with_capacity(
            64 * 1024,
            flate2::bufread::MultiGzDecoder::new(buffered),
        ))
    } else {
        Box::new(buffered)
    };
    // The encoding is told from a sample read whole: one read of a pipe or of a
    // gzip stream of several members may hand on only a few bytes (found by fuzzing:
    // a two-member gzip of UTF-16 read as UTF-8).
    let mut sample = Vec::with_capacity(SNIFF_SAMPLE);
    (&mut plain)
        .take(SNIFF_SAMPLE as u64)
        .read_to_end(&mut sample)
        .map_err(io_err)?;
    let sniffed = crate::source::encoding::sniff(&sample);
    if let Some(why) =
        crate::source::encoding::not_text(&sample, &sniffed, format != InputFormat::Text)
    {
        return Err(io_err(io::Error::new(io::ErrorKind::InvalidData, why)));
    }
    sample.drain(..sniffed.skip.min(sample.len()));
    let plain = Cursor::new(sample).chain(plain);
    let mut notes = ReadNotes {
        guessed_encoding: sniffed.note,
        more_pages: false,
    };
    let mut decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(sniffed.encoding)
        .bom_sniffing(true)
        .strip_bom(true)
        .build(plain);
    // The decoder hands on the bytes it peeked at for a mark alone (and, decoding, the
    // first character alone): the format is told from more than that fragment.
    let lead = read_lead(&mut decoded).map_err(io_err)?;
    let mut reader = BufReader::with_capacity(256 * 1024, Cursor::new(lead).chain(decoded));
    let first = first_significant_byte(&mut reader).map_err(io_err)?;
    let head = reader.fill_buf().map_err(io_err)?;
    let json_like = first.is_some() && looks_like_json(head);
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let yaml_like =
        first.is_some() && !json_like && crate::source::yaml::looks_like_yaml(first_line);
    let mut ctx = Ctx {
        name,
        more_pages: false,
        next_index,
        on_item,
    };
    let read = match (format, first) {
        (_, None) => Ok(()),
        (InputFormat::Text, _) => read_text(reader, &mut ctx),
        (InputFormat::Yaml, _) => read_yaml(reader, &mut ctx),
        (InputFormat::Auto, _) if yaml_like => read_yaml(reader, &mut ctx),
        (InputFormat::Auto, _) if !json_like => read_text(reader, &mut ctx),
        (_, Some(b'[')) if threads > 1 => parallel::read(
            name,
            reader,
            Vec::new(),
            Shape::Array,
            threads,
            prepare,
            &mut |item| ctx.emit(item),
        ),
        (_, Some(b'[')) => read_array(reader, &mut ctx),
        (_, Some(b'{')) => read_objects(reader, threads, prepare, &mut ctx),
        (_, Some(c)) => Err(Error::ParseInput {
            path: name.to_string(),
            index: 1,
            reason: format!(
                "expected JSON ('[' or '{{'), found {:?}; use --input-format text for plain logs",
                c as char
            ),
        }),
    };
    notes.more_pages = ctx.more_pages;
    read.map(|()| notes)
}

/// `[` followed by `{` or `]`, or `{` followed by `"` or `}`: JSON, not a `[ERROR]` line.
fn looks_like_json(buf: &[u8]) -> bool {
    let next = buf.iter().skip(1).find(|b| !b.is_ascii_whitespace());
    matches!(
        (buf.first(), next),
        (Some(b'['), Some(b'{' | b']'))
            | (Some(b'{'), Some(b'"' | b'}'))
            | (Some(b'[' | b'{'), None)
    )
}

struct Ctx<'a> {
    name: &'a str,
    /// An API response wrapper said a next page exists.
    more_pages: bool,
    next_index: &'a mut u64,
    on_item: &'a mut dyn FnMut(Item) -> Result<()>,
}

impl Ctx<'_> {
    fn take_index(&mut self) -> u64 {
        *self.next_index += 1;
        *self.next_index
    }

    /// Numbers one parsed item and hands it on.
    fn emit(&mut self, mut item: Item) -> Result<()> {
        let index = self.take_index();
        match &mut item {
            Item::Entry(e) => e.index = index,
            Item::Malformed { index: i, .. } => *i = index,
        }
        (self.on_item)(item)
    }

    fn emit_all(&mut self, items: &mut Vec<Item>) -> Result<()> {
        items.drain(..).try_for_each(|item| self.emit(item))
    }

    fn parse_error(&self, index: u64, e: &serde_json::Error) -> Error {
        Error::ParseInput {
            path: self.name.to_string(),
            index,
            reason: e.to_string(),
        }
    }
}

/// Reads the start of the input as far as telling its format needs: its first non-blank
/// line whole, and a non-blank byte after its first one (past a `[` alone on its line);
/// or 4 KB of it, or all of it. The blank space before it is dropped.
fn read_lead(r: &mut impl Read) -> io::Result<Vec<u8>> {
    const LEAD: usize = 4096;
    let mut lead: Vec<u8> = Vec::new();
    let mut chunk = [0u8; LEAD];
    loop {
        let blank = lead.iter().take_while(|b| b.is_ascii_whitespace()).count();
        lead.drain(..blank);
        let told = lead.contains(&b'\n') && lead.iter().skip(1).any(|b| !b.is_ascii_whitespace());
        if told || lead.len() >= LEAD {
            return Ok(lead);
        }
        match r.read(&mut chunk) {
            Ok(0) => return Ok(lead),
            Ok(n) => lead.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn first_significant_byte(r: &mut impl BufRead) -> io::Result<Option<u8>> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        if let Some(i) = buf.iter().position(|b| !b.is_ascii_whitespace()) {
            let b = buf[i];
            r.consume(i);
            return Ok(Some(b));
        }
        let n = buf.len();
        r.consume(n);
    }
}

/// gcloud's YAML, a document at a time ([`crate::source::yaml`]); a broken document is
/// a malformed entry, numbered by its first line.
fn read_yaml(reader: impl BufRead, ctx: &mut Ctx<'_>) -> Result<()> {
    let name = ctx.name.to_string();
    let io_err = |source| Error::ReadInput {
        path: name.clone(),
        source,
    };
    crate::source::yaml::read_documents(reader, io_err, &mut |d| {
        let item = match d.json {
            Ok(json) => with_line(parse_entry(0, &json), Some(d.line)),
            Err(reason) => Item::Malformed {
                index: 0,
                line: Some(d.line),
                error: de::Error::custom(reason),
            },
        };
        ctx.emit(item)
    })
}

fn read_text(mut reader: impl BufRead, ctx: &mut Ctx<'_>) -> Result<()> {
    let mut buf = Vec::with_capacity(1024);
    // A line without a timestamp of its own (a traceback frame) belongs to the last one.
    let mut last_time = None;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| Error::ReadInput {
                path: ctx.name.to_string(),
                source,
            })?;
        if n == 0 {
            return Ok(());
        }
        let line = String::from_utf8_lossy(&buf);
        // Blank once its terminal escapes are gone (a lone colour reset): no entry.
        if crate::entry::strip_ansi(&line).trim().is_empty() {
            continue;
        }
        let index = ctx.take_index();
        let mut entry = Entry::from_text(index, &line);
        match entry.timestamp {
            Some(t) => last_time = Some(t),
            None => entry.timestamp = last_time,
        }
        (ctx.on_item)(Item::Entry(Box::new(entry)))?;
    }
}

/// NDJSON when the first line is one whole value; otherwise concatenated values.
fn read_objects<R: BufRead + Send + 'static>(
    mut reader: R,
    threads: usize,
    prepare: Option<&Prepare<'_>>,
    ctx: &mut Ctx<'_>,
) -> Result<()> {
    let io_err = |source| Error::ReadInput {
        path: ctx.name.to_string(),
        source,
    };
    let mut first = Vec::new();
    reader.read_until(b'\n', &mut first).map_err(io_err)?;
    let whole_line = serde_json::from_slice::<serde::de::IgnoredAny>(&first).is_ok();
    if !whole_line {
        let chained = Cursor::new(first).chain(reader);
        return read_concatenated(chained, ctx);
    }
    if threads > 1 {
        let name = ctx.name;
        return parallel::read(
            name,
            reader,
            first,
            Shape::Lines,
            threads,
            prepare,
            &mut |item| ctx.emit(item),
        );
    }
    let mut line_no = 1u64;
    let mut buf = first;
    let mut items = Vec::new();
    loop {
        line_items(&buf, line_no, None, &mut items);
        ctx.emit_all(&mut items)?;
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io_err)? == 0 {
            return Ok(());
        }
        line_no += 1;
    }
}

fn read_concatenated(reader: impl Read, ctx: &mut Ctx<'_>) -> Result<()> {
    let stream = serde_json::Deserializer::from_reader(reader).into_iter::<Box<RawValue>>();
    for value in stream {
        match value {
            Ok(v) => {
                let mut items = Vec::new();
                ctx.more_pages |= object_items(v.get(), None, None, &mut items);
                ctx.emit_all(&mut items)?;
            }
            Err(e) => {
                let index = *ctx.next_index + 1;
                return Err(ctx.parse_error(index, &e));
            }
        }
    }
    Ok(())
}

/// Streams a JSON array element by element.
fn read_array(reader: impl Read, ctx: &mut Ctx<'_>) -> Result<()> {
    struct Elements<'c, 'a> {
        ctx: &'c mut Ctx<'a>,
        failed: &'c mut Option<Error>,
    }
    impl<'de> Visitor<'de> for Elements<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of log entries")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
                if let Err(e) = self.ctx.emit(parse_entry(0, raw.get())) {
                    *self.failed = Some(e);
                    return Err(de::Error::custom("stopped"));
                }
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for Elements<'_, '_> {
        type Value = ();
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    let mut failed = None;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let res = Elements {
        ctx,
        failed: &mut failed,
    }
    .deserialize(&mut de);
    if let Some(e) = failed {
        return Err(e);
    }
    match res.and_then(|()| de.end()) {
        Ok(()) => Ok(()),
        Err(e) => {
            let index = *ctx.next_index + 1;
            Err(ctx.parse_error(index, &e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_with(
        bytes: &[u8],
        format: InputFormat,
        threads: usize,
    ) -> (Vec<Entry>, Vec<u64>, Result<()>) {
        let mut entries = Vec::new();
        let mut bad = Vec::new();
        let mut idx = 0;
        let res = read_stream(
            "t",
            Box::new(Cursor::new(bytes.to_vec())),
            format,
            threads,
            None,
            &mut idx,
            &mut |item| {
                match item {
                    Item::Entry(e) => entries.push(*e),
                    Item::Malformed { index, .. } => bad.push(index),
                }
                Ok(())
            },
        );
        (entries, bad, res.map(|_| ()))
    }

    /// Reads on one thread and on three; both must give the same entries.
    fn read(bytes: &[u8], format: InputFormat) -> (Vec<Entry>, Vec<u64>, Result<()>) {
        let one = read_with(bytes, format, 1);
        let three = read_with(bytes, format, 3);
        let key = |r: &(Vec<Entry>, Vec<u64>, Result<()>)| {
            (
                r.0.iter()
                    .map(|e| (e.index, e.message.clone()))
                    .collect::<Vec<_>>(),
                r.1.clone(),
                r.2.as_ref()
                    .err()
                    .map(|e| e.to_string().split(':').take(2).collect::<String>()),
            )
        };
        assert_eq!(key(&one), key(&three), "one thread and three differ");
        three
    }

    const A: &str = r#"{"textPayload":"a","insertId":"1"}"#;
    const B: &str = r#"{"textPayload":"b","insertId":"2"}"#;

    #[test]
    fn every_shape_gives_the_same_entries() {
        let shapes = [
            format!("[{A},\n{B}]"),
            format!("{A}\n{B}\n"),
            format!("{{\"entries\":[{A},{B}],\"nextPageToken\":\"x\"}}"),
            format!("{{\"result\":[{A}]}}\n{{\"logEntries\":[{B}]}}\n"),
            format!("{{\"\\u0065ntries\":[{A},{B}]}}"),
            // A key of a wrapper whose value is no list leaves an entry.
            "{\"textPayload\":\"a\",\"result\":\"ok\"}\n{\"textPayload\":\"b\",\"entries\":null}"
                .to_string(),
            "{\n  \"textPayload\": \"a\", \"insertId\": \"1\"\n}\n{\n \"textPayload\": \"b\", \"insertId\": \"2\"}".to_string(),
        ];
        for s in shapes {
            let (entries, bad, res) = read(s.as_bytes(), InputFormat::Auto);
            res.unwrap();
            assert!(bad.is_empty());
            let msgs: Vec<_> = entries.iter().map(|e| e.message.as_str()).collect();
            assert_eq!(msgs, ["a", "b"], "shape {s}");
        }
    }

    #[test]
    fn utf16_and_bom_are_decoded() {
        let text = format!("[{A},\r\n{B}]");
        let mut le = vec![0xff, 0xfe];
        le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let mut be = vec![0xfe, 0xff];
        be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        let mut u8bom = vec![0xef, 0xbb, 0xbf];
        u8bom.extend(text.as_bytes());
        for bytes in [le, be, u8bom] {
            let (entries, _, res) = read(&bytes, InputFormat::Auto);
            res.unwrap();
            assert_eq!(entries.len(), 2);
        }
    }

    #[test]
    fn gzip_is_detected_by_magic() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(format!("{A}\n{B}\n").as_bytes()).unwrap();
        let (entries, _, res) = read(&gz.finish().unwrap(), InputFormat::Auto);
        res.unwrap();
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn malformed_entries_are_reported_with_position() {
        let (entries, bad, res) = read(
            format!("{A}\n{{broken\n\"str\"\n{B}\n").as_bytes(),
            InputFormat::Auto,
        );
        res.unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(bad, [2, 3]);
        let (entries, bad, res) = read(
            format!("[{A}, 5, {{\"severity\": []}}, {B}]").as_bytes(),
            InputFormat::Auto,
        );
        res.unwrap();
        assert_eq!(entries.len(), 3, "a wrong-typed severity is lenient");
        assert_eq!(bad, [2]);
    }

    #[test]
    fn broken_array_stops_with_position_and_keeps_entries() {
        let (entries, _, res) = read(
            format!("[{A}, {B}, {{\"x\": ").as_bytes(),
            InputFormat::Auto,
        );
        assert_eq!(entries.len(), 2);
        let err = res.unwrap_err().to_string();
        assert!(err.starts_with("t: entry 3:"), "{err}");
    }

    #[test]
    fn text_is_detected_and_forced() {
        let (entries, _, res) = read(b"[ERROR] x\nplain\n\n", InputFormat::Auto);
        res.unwrap();
        assert_eq!(entries.len(), 2, "'[ERROR] x' is text, not a JSON array");
        let (entries, _, res) = read(b"[ERROR] x\nplain\n", InputFormat::Text);
        res.unwrap();
        assert_eq!(entries.len(), 2);
        let (entries, _, res) = read(b"hello\nworld\n", InputFormat::Auto);
        res.unwrap();
        assert_eq!(entries.len(), 2);
    }
}
