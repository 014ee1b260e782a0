//! Sinks: where the report goes. stdout (table, markdown, JSON), the markdown file,
//! the assignments CSV, fetched entries as NDJSON, progress on stderr. Only sinks
//! write output.

pub mod actions;
pub mod github;
pub mod progress;
pub mod terminal;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `text` to stdout.
pub fn stdout(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush())
        .map_err(|source| Error::WriteOutput {
            path: "-".into(),
            source,
        })
}

/// Writes `text` to a file (created or replaced).
pub fn file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::WriteOutput {
        path: path.display().to_string(),
        source,
    })
}

/// The `--assignments` CSV, written as entries are clustered.
pub struct Assignments {
    path: PathBuf,
    out: BufWriter<File>,
}

fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

impl Assignments {
    /// Creates the file and writes the header.
    pub fn create(path: &Path) -> Result<Assignments> {
        let err = |source| Error::WriteOutput {
            path: path.display().to_string(),
            source,
        };
        let mut out = BufWriter::new(File::create(path).map_err(err)?);
        out.write_all(b"insert_id,fingerprint\n").map_err(err)?;
        Ok(Assignments {
            path: path.to_path_buf(),
            out,
        })
    }

    /// One row; entries without an insertId are named by their input position.
    pub fn write(
        &mut self,
        insert_id: Option<&str>,
        position: u64,
        fingerprint: &str,
    ) -> Result<()> {
        let res = match insert_id {
            Some(id) => writeln!(self.out, "{},{fingerprint}", csv_field(id)),
            None => writeln!(self.out, "{position},{fingerprint}"),
        };
        res.map_err(|source| Error::WriteOutput {
            path: self.path.display().to_string(),
            source,
        })
    }

    /// Flushes the file; rows naming a fingerprint in `folded` (a cluster folded into
    /// a more general one after its rows were written) are rewritten to name the one
    /// it went to.
    pub fn finish(mut self, folded: &std::collections::HashMap<String, String>) -> Result<()> {
        let err = |path: &Path| {
            let path = path.display().to_string();
            move |source| Error::WriteOutput { path, source }
        };
        self.out.flush().map_err(err(&self.path))?;
        drop(self.out);
        if folded.is_empty() {
            return Ok(());
        }
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".folding");
        let temp = self.path.with_file_name(name);
        let rewrite = || -> io::Result<()> {
            let input = io::BufReader::new(File::open(&self.path)?);
            let mut out = BufWriter::new(File::create(&temp)?);
            for line in io::BufRead::lines(input) {
                let line = line?;
                match line.rsplit_once(',') {
                    Some((id, fp)) if folded.contains_key(fp) => {
                        writeln!(out, "{id},{}", folded[fp])?;
                    }
                    _ => writeln!(out, "{line}")?,
                }
            }
            out.flush()?;
            std::fs::rename(&temp, &self.path)
        };
        rewrite().map_err(err(&self.path))
    }
}

/// Fetched entries as NDJSON: one compact entry per line, exactly as the API sent it
/// (keys, numbers and strings untouched; only whitespace between tokens is dropped).
pub struct EntryWriter {
    name: String,
    out: Box<dyn Write>,
    line: Vec<u8>,
}

impl EntryWriter {
    /// Writes to `path`, or stdout when `None`.
    pub fn create(path: Option<&Path>) -> Result<EntryWriter> {
        let (name, out): (String, Box<dyn Write>) = match path {
            Some(p) => (
                p.display().to_string(),
                Box::new(BufWriter::new(File::create(p).map_err(|source| {
                    Error::WriteOutput {
                        path: p.display().to_string(),
                        source,
                    }
                })?)),
            ),
            None => ("-".to_string(), Box::new(BufWriter::new(io::stdout()))),
        };
        Ok(EntryWriter {
            name,
            out,
            line: Vec::new(),
        })
    }

    /// Appends one entry (valid JSON text).
    pub fn write(&mut self, json: &str) -> Result<()> {
        self.line.clear();
        compact_into(json, &mut self.line);
        self.line.push(b'\n');
        self.out
            .write_all(&self.line)
            .map_err(|source| Error::WriteOutput {
                path: self.name.clone(),
                source,
            })
    }

    /// Flushes (call at the end, also after a failed fetch: what arrived is kept).
    pub fn finish(mut self) -> Result<()> {
        self.out.flush().map_err(|source| Error::WriteOutput {
            path: self.name.clone(),
            source,
        })
    }
}

/// Drops the whitespace between the tokens of valid JSON text.
fn compact_into(json: &str, out: &mut Vec<u8>) {
    let mut in_string = false;
    let mut escaped = false;
    for &b in json.as_bytes() {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(b);
            in_string = b == b'"';
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compacting_keeps_strings_and_numbers_exactly() {
        let mut out = Vec::new();
        super::compact_into(
            "{\n  \"a b\": \"x \\\" y\\n\",\n  \"n\": 1.2345678901234567e+19,\n  \"l\": [ 1, 2 ]\n}",
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"a b\":\"x \\\" y\\n\",\"n\":1.2345678901234567e+19,\"l\":[1,2]}"
        );
    }
}
