//! Reads big JSON inputs on several threads, in constant memory.
//!
//! One thread reads (and decompresses) the stream and cuts it into blocks of whole
//! records: NDJSON lines, or the elements of one top-level JSON array, found by a
//! scanner that tracks strings and nesting without parsing. Worker threads parse the
//! blocks into entries. The calling thread receives the entries in input order, so
//! everything downstream sees exactly what the single-threaded reader gives.
//!
//! At most [`IN_FLIGHT_PER_WORKER`] blocks per worker, of about [`BLOCK`] bytes each,
//! exist at any time (read, queued, parsed or waiting to be handed on); a record
//! longer than a block makes its block longer, never more blocks. A read that comes
//! back short (a pipe with nothing more for now) cuts a smaller block, so what has
//! arrived is parsed without waiting for more.
//!
//! One difference from the single-threaded array reader: an element that is not valid
//! JSON (the brackets and quotes balance, the rest does not parse) is reported and
//! skipped, like a malformed NDJSON line, instead of ending the read. A structural
//! break (an array never closed, text after it) ends the read with an error naming
//! the entry, after every entry before it has been handed on.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::source::files::{Item, Prepare, line_items, parse_entry_with, utf8_lossy};

/// Bytes a block aims at.
pub const BLOCK: usize = 64 * 1024;
/// Blocks alive at once, per worker.
pub const IN_FLIGHT_PER_WORKER: usize = 3;
/// How often a worker waiting for a block checks whether the reading has stopped.
const STOP_POLL: Duration = Duration::from_millis(50);

/// What the records of a stream are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One JSON value per line.
    Lines,
    /// The elements of one JSON array (the `[` not yet consumed).
    Array,
}

/// A run of whole records.
struct Block {
    seq: u64,
    data: Vec<u8>,
    /// Array elements as byte ranges of `data` (lines are split by the worker).
    elements: Vec<(usize, usize)>,
    /// Why the reader stopped after this block.
    error: Option<Stop>,
}

/// Why the reader stopped early.
enum Stop {
    Io(io::Error),
    /// The array's structure broke: what was expected.
    Syntax(&'static str),
}

/// A parsed block.
struct Parsed {
    seq: u64,
    items: Vec<Item>,
    /// Lines the block held (for line numbers across blocks).
    lines: u64,
    error: Option<Stop>,
}

/// Reads `reader` (whose first bytes, already consumed, are `lead`) on `workers`
/// threads, each parsed entry going through `prepare` on its thread, handing every
/// item to `emit` in input order. Line numbers of NDJSON items
/// are counted from the start of the input.
///
/// The reading thread is not waited for when the read stops early (an error, or
/// `emit` refusing an item): a read that never returns, from a pipe its writer keeps
/// open, must not keep the caller from reporting what it has.
pub fn read<R: Read + Send + 'static>(
    name: &str,
    reader: R,
    lead: Vec<u8>,
    shape: Shape,
    workers: usize,
    prepare: Option<&Prepare<'_>>,
    emit: &mut dyn FnMut(Item) -> Result<()>,
) -> Result<()> {
    let workers = workers.max(1);
    let in_flight = workers * IN_FLIGHT_PER_WORKER;
    let (work_tx, work_rx) = mpsc::sync_channel::<Block>(workers);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = mpsc::channel::<Parsed>();
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        // The channel has room for every token.
        let _ = token_tx.send(());
    }
    let reading = std::thread::Builder::new()
        .name("gcp-triage-read".to_string())
        .spawn(move || cut(reader, lead, shape, &work_tx, &token_rx))
        .map_err(|source| Error::ReadInput {
            path: name.to_string(),
            source,
        })?;
    let stopped = AtomicBool::new(false);
    let res = std::thread::scope(|scope| {
        for _ in 0..workers {
            let rx = Arc::clone(&work_rx);
            let tx = done_tx.clone();
            let stopped = &stopped;
            scope.spawn(move || parse_blocks(&rx, &tx, shape, prepare, stopped));
        }
        drop(work_rx);
        drop(done_tx);
        let res = deliver(name, done_rx, token_tx, emit);
        stopped.store(true, Ordering::Relaxed);
        res
    });
    if res.is_ok() {
        // Every block was handed on, so the reader has finished: a panic there is
        // re-raised here, as from the workers.
        if let Err(panic) = reading.join() {
            std::panic::resume_unwind(panic);
        }
    }
    res
}

/// Hands parsed blocks on in order; returns a token for each block handed on.
/// Takes both channel ends by value: dropping them on return is what tells the other
/// threads to stop.
#[allow(clippy::needless_pass_by_value)]
fn deliver(
    name: &str,
    done: Receiver<Parsed>,
    tokens: SyncSender<()>,
    emit: &mut dyn FnMut(Item) -> Result<()>,
) -> Result<()> {
    let mut waiting: BTreeMap<u64, Parsed> = BTreeMap::new();
    let mut next = 0u64;
    let mut line_base = 0u64;
    let mut delivered = 0u64;
    while let Ok(parsed) = done.recv() {
        waiting.insert(parsed.seq, parsed);
        while let Some(block) = waiting.remove(&next) {
            next += 1;
            for mut item in block.items {
                if let Item::Malformed {
                    line: Some(line), ..
                } = &mut item
                {
                    *line += line_base;
                }
                delivered += 1;
                emit(item)?;
            }
            line_base += block.lines;
            if let Some(stop) = block.error {
                return Err(match stop {
                    Stop::Io(source) => Error::ReadInput {
                        path: name.to_string(),
                        source,
                    },
                    Stop::Syntax(what) => Error::ParseInput {
                        path: name.to_string(),
                        index: delivered + 1,
                        reason: what.to_string(),
                    },
                });
            }
            // The reader may cut one more block.
            let _ = tokens.send(());
        }
    }
    Ok(())
}

fn parse_blocks(
    work: &Mutex<Receiver<Block>>,
    done: &Sender<Parsed>,
    shape: Shape,
    prepare: Option<&Prepare<'_>>,
    stopped: &AtomicBool,
) {
    let counted_below = prepare.map(|p| p.counted_below);
    loop {
        // A poisoned lock means a worker panicked; the scope re-raises that panic.
        let Ok(rx) = work.lock() else { return };
        let block = loop {
            if stopped.load(Ordering::Relaxed) {
                return;
            }
            match rx.recv_timeout(STOP_POLL) {
                Ok(block) => break block,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        drop(rx);
        let mut items = Vec::with_capacity(block.data.len() / 256 + 1);
        let mut lines = 0u64;
        match shape {
            Shape::Lines => {
                let mut start = 0;
                for end in
                    memchr::memchr_iter(b'\n', &block.data).chain(std::iter::once(block.data.len()))
                {
                    if end == block.data.len() && start == end {
                        break;
                    }
                    lines += 1;
                    line_items(&block.data[start..end], lines, counted_below, &mut items);
                    start = end + 1;
                }
            }
            Shape::Array => {
                for &(a, b) in &block.elements {
                    let text = utf8_lossy(&block.data[a..b]);
                    items.push(parse_entry_with(0, &text, counted_below));
                }
            }
        }
        if let Some(prepare) = prepare {
            for item in &mut items {
                if let Item::Entry(e) = item {
                    (prepare.each)(e);
                }
            }
        }
        let parsed = Parsed {
            seq: block.seq,
            items,
            lines,
            error: block.error,
        };
        if done.send(parsed).is_err() {
            return;
        }
    }
}

/// The reader thread: reads, cuts blocks, sends them while tokens last.
fn cut<R: Read>(
    mut reader: R,
    lead: Vec<u8>,
    shape: Shape,
    work: &SyncSender<Block>,
    tokens: &Receiver<()>,
) {
    let mut buf = lead;
    let mut scanner = Scanner::default();
    let mut seq = 0u64;
    let mut eof = false;
    loop {
        if tokens.recv().is_err() {
            return;
        }
        // Fill until the buffer holds a block's worth of whole records, or the end, or
        // a read comes back short with whole records in hand (a pipe with nothing more
        // for now: its entries are not held back waiting for more).
        let mut error = None;
        let mut drained = false;
        let cut_at = loop {
            let have = match shape {
                Shape::Lines => memchr::memrchr(b'\n', &buf).map(|i| i + 1),
                Shape::Array => {
                    if let Err(what) = scanner.scan(&buf, eof) {
                        error = Some(Stop::Syntax(what));
                        break scanner.complete;
                    }
                    Some(scanner.complete).filter(|&c| c > 0)
                }
            };
            if eof {
                break match shape {
                    Shape::Lines => buf.len(),
                    Shape::Array => have.unwrap_or(0),
                };
            }
            if have.is_some_and(|h| h >= BLOCK || drained) {
                break have.unwrap_or(0);
            }
            let old = buf.len();
            let want = BLOCK.max(old / 2);
            buf.resize(old + want, 0);
            match read_some(&mut reader, &mut buf[old..]) {
                Ok(0) => {
                    buf.truncate(old);
                    eof = true;
                }
                Ok(n) => {
                    buf.truncate(old + n);
                    drained = n < want;
                }
                Err(e) => {
                    buf.truncate(old);
                    error = Some(Stop::Io(e));
                    break have.unwrap_or(0);
                }
            }
        };
        let rest = buf.split_off(cut_at);
        let elements = scanner.take_elements(cut_at);
        let block = Block {
            seq,
            data: std::mem::replace(&mut buf, rest),
            elements,
            error,
        };
        seq += 1;
        let last = eof || block.error.is_some();
        if work.send(block).is_err() || last {
            return;
        }
    }
}

fn read_some(reader: &mut impl Read, into: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(into) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Where the array scanner is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before the opening `[`.
    #[default]
    Open,
    /// After `[` or `,`: an element (or `]` right after `[`) comes next.
    Element,
    /// Inside an element.
    Inside,
    /// After an element: `,` or `]` comes next.
    Separator,
    /// After the closing `]`.
    Closed,
}

/// Finds the elements of a JSON array in a growing buffer, across calls.
#[derive(Debug, Default)]
struct Scanner {
    at: At,
    /// Scan position in the buffer.
    pos: usize,
    /// Where the current element starts.
    start: usize,
    depth: u32,
    in_string: bool,
    /// Whether the current element is a scalar (ends at a delimiter).
    scalar: bool,
    /// Whether `[` was just read (so `]` may close an empty array).
    empty: bool,
    /// Complete elements found.
    elements: Vec<(usize, usize)>,
    /// End of the last complete element (0 when none).
    complete: usize,
}

impl Scanner {
    /// Scans what is new in `buf`. At the end of input, an unfinished array is an error.
    fn scan(&mut self, buf: &[u8], eof: bool) -> std::result::Result<(), &'static str> {
        while self.pos < buf.len() {
            let b = buf[self.pos];
            match self.at {
                At::Open => match b {
                    b'[' => {
                        self.at = At::Element;
                        self.empty = true;
                    }
                    b if b.is_ascii_whitespace() => {}
                    _ => return Err("expected '[' to open the array"),
                },
                At::Element => match b {
                    b']' if self.empty => self.close(),
                    b if b.is_ascii_whitespace() => {}
                    b']' | b',' => return Err("expected an array element"),
                    _ => {
                        self.at = At::Inside;
                        self.start = self.pos;
                        self.depth = 0;
                        self.scalar = !matches!(b, b'{' | b'[');
                        self.in_string = false;
                        // Re-read this byte inside the element.
                        continue;
                    }
                },
                At::Inside => {
                    if self.in_string {
                        match memchr::memchr2(b'"', b'\\', &buf[self.pos..]) {
                            None => {
                                self.pos = buf.len();
                                break;
                            }
                            Some(i) => {
                                self.pos += i;
                                if buf[self.pos] == b'\\' {
                                    if self.pos + 1 >= buf.len() {
                                        // The escaped byte is in the next read.
                                        break;
                                    }
                                    self.pos += 2;
                                    continue;
                                }
                                self.in_string = false;
                                if self.scalar && self.depth == 0 {
                                    self.pos += 1;
                                    self.finish_element(self.pos);
                                    continue;
                                }
                            }
                        }
                    } else {
                        match b {
                            b'"' => self.in_string = true,
                            b'{' | b'[' => self.depth += 1,
                            b'}' | b']' if self.depth > 0 => {
                                self.depth -= 1;
                                if self.depth == 0 && !self.scalar {
                                    self.pos += 1;
                                    self.finish_element(self.pos);
                                    continue;
                                }
                            }
                            b',' | b']' | b'}' if self.scalar && self.depth == 0 => {
                                self.finish_element(self.pos);
                                continue;
                            }
                            b'}' | b']' => return Err("unbalanced brackets in an array element"),
                            b if self.scalar && self.depth == 0 && b.is_ascii_whitespace() => {
                                self.finish_element(self.pos);
                                continue;
                            }
                            _ => {}
                        }
                    }
                }
                At::Separator => match b {
                    b',' => {
                        self.at = At::Element;
                        self.empty = false;
                    }
                    b']' => self.close(),
                    b if b.is_ascii_whitespace() => {}
                    _ => return Err("expected ',' or ']' after an array element"),
                },
                At::Closed => {
                    if !b.is_ascii_whitespace() {
                        return Err("text after the end of the array");
                    }
                }
            }
            self.pos += 1;
        }
        if eof {
            match self.at {
                At::Closed => {}
                At::Inside if self.scalar && !self.in_string && self.depth == 0 => {
                    self.finish_element(buf.len());
                    return Err("the array is not closed");
                }
                _ => return Err("the input ends inside the array"),
            }
        }
        Ok(())
    }

    fn finish_element(&mut self, end: usize) {
        self.elements.push((self.start, end));
        self.complete = end;
        self.at = At::Separator;
    }

    fn close(&mut self) {
        self.at = At::Closed;
        self.complete = self.pos + 1;
    }

    /// The elements before `cut`, as ranges of the block that ends there; the rest is
    /// shifted to the buffer that starts there.
    fn take_elements(&mut self, cut: usize) -> Vec<(usize, usize)> {
        let split = self.elements.partition_point(|&(_, end)| end <= cut);
        let rest = self.elements.split_off(split);
        let taken = std::mem::replace(&mut self.elements, rest);
        for e in &mut self.elements {
            e.0 -= cut;
            e.1 -= cut;
        }
        self.pos -= cut.min(self.pos);
        self.start = self.start.saturating_sub(cut);
        self.complete = self.complete.saturating_sub(cut);
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(text: &str, chunk: usize) -> (Vec<String>, Option<&'static str>) {
        let mut s = Scanner::default();
        let bytes = text.as_bytes();
        let mut buf: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            let end = (fed + chunk).min(bytes.len());
            buf.extend_from_slice(&bytes[fed..end]);
            fed = end;
            let eof = fed == bytes.len();
            let res = s.scan(&buf, eof);
            let cut = s.complete;
            let rest = buf.split_off(cut);
            for (a, b) in s.take_elements(cut) {
                out.push(String::from_utf8_lossy(&buf[a..b]).into_owned());
            }
            buf = rest;
            if let Err(e) = res {
                return (out, Some(e));
            }
            if eof {
                return (out, None);
            }
        }
    }

    #[test]
    fn elements_are_found_across_any_cut() {
        let text = r#" [ {"a": "x]}\"{", "b": [1, {"c": "\\"}]}, 5 ,"s,]" , [1,[2]], true,
        {"z": {}} ] "#;
        let want = [
            r#"{"a": "x]}\"{", "b": [1, {"c": "\\"}]}"#,
            "5",
            r#""s,]""#,
            "[1,[2]]",
            "true",
            r#"{"z": {}}"#,
        ];
        for chunk in [1, 2, 3, 7, 64, 1000] {
            let (els, err) = scan_all(text, chunk);
            assert_eq!(err, None, "chunk {chunk}");
            assert_eq!(els, want, "chunk {chunk}");
        }
    }

    #[test]
    fn empty_arrays_and_breaks() {
        assert_eq!(scan_all("[]", 1), (vec![], None));
        assert_eq!(scan_all("[ \n ]\n", 1), (vec![], None));
        let (els, err) = scan_all(r#"[{"a":1}, {"b": "#, 3);
        assert_eq!(els, [r#"{"a":1}"#]);
        assert_eq!(err, Some("the input ends inside the array"));
        let (els, err) = scan_all(r#"[{"a":1}] x"#, 3);
        assert_eq!(els, [r#"{"a":1}"#]);
        assert_eq!(err, Some("text after the end of the array"));
        assert_eq!(
            scan_all(r#"[{"a":1} {"b":2}]"#, 100).1,
            Some("expected ',' or ']' after an array element")
        );
        assert_eq!(scan_all("[1,,2]", 100).1, Some("expected an array element"));
        assert_eq!(scan_all("[1, 2", 100).1, Some("the array is not closed"));
    }
}
