//! Sinks: where the report goes. stdout (table, markdown, JSON), the markdown file,
//! the assignments CSV. Only sinks write output.

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

    /// Flushes the file.
    pub fn finish(mut self) -> Result<()> {
        self.out.flush().map_err(|source| Error::WriteOutput {
            path: self.path.display().to_string(),
            source,
        })
    }
}
