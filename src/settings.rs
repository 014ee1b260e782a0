//! Validated settings: the only place that reads clap types. Everything downstream
//! sees plain values.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::cli::{AnalyzeArgs, ColorChoice, FormatArg, InputFormatArg, SeverityArg};
use crate::entry::Severity;
use crate::error::{Error, Result};
use crate::source::files::InputFormat;

/// Output on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Ranked table.
    Table,
    /// Five-whys markdown.
    Markdown,
    /// Report context as JSON.
    Json,
}

/// How chatty stderr is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Errors only.
    Quiet,
    /// Errors, warnings (the first few malformed entries), the summary line.
    Normal,
    /// Everything.
    Verbose,
}

/// Global output settings.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Verbosity on stderr.
    pub verbosity: Verbosity,
    /// Colour on stderr.
    pub color: bool,
}

impl Output {
    /// From the global flags and the environment.
    pub fn new(verbose: u8, quiet: bool, color: ColorChoice) -> Output {
        let verbosity = match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            _ => Verbosity::Verbose,
        };
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
                    && std::io::stderr().is_terminal()
            }
        };
        Output { verbosity, color }
    }
}

/// Settings for `analyze`.
#[derive(Debug, Clone)]
pub struct Analyze {
    /// Inputs (`-` is stdin).
    pub inputs: Vec<String>,
    /// Input format.
    pub input_format: InputFormat,
    /// Malformed entries are errors.
    pub strict: bool,
    /// Extra rule packs.
    pub rules: Vec<PathBuf>,
    /// Load the built-in packs.
    pub builtin_rules: bool,
    /// Clusters shown.
    pub top: usize,
    /// Severity floor.
    pub min_severity: Severity,
    /// Exit 1 at or above this.
    pub fail_on: Option<Severity>,
    /// stdout format.
    pub format: Format,
    /// Markdown report file.
    pub out: Option<PathBuf>,
    /// User template.
    pub template: Option<PathBuf>,
    /// Assignments CSV.
    pub assignments: Option<PathBuf>,
}

/// Converts a command-line severity.
pub fn severity(s: SeverityArg) -> Severity {
    match s {
        SeverityArg::Default => Severity::Default,
        SeverityArg::Debug => Severity::Debug,
        SeverityArg::Info => Severity::Info,
        SeverityArg::Notice => Severity::Notice,
        SeverityArg::Warning => Severity::Warning,
        SeverityArg::Error => Severity::Error,
        SeverityArg::Critical => Severity::Critical,
        SeverityArg::Alert => Severity::Alert,
        SeverityArg::Emergency => Severity::Emergency,
    }
}

impl Analyze {
    /// Validates `analyze` flags.
    pub fn from_args(a: AnalyzeArgs) -> Result<Analyze> {
        if a.top == 0 {
            return Err(Error::Usage("--top must be at least 1".into()));
        }
        if a.no_builtin_rules && a.rules.is_empty() {
            return Err(Error::Usage(
                "--no-builtin-rules needs at least one --rules DIR".into(),
            ));
        }
        if a.inputs.iter().filter(|i| *i == "-").count() > 1 {
            return Err(Error::Usage("stdin (-) can be read only once".into()));
        }
        Ok(Analyze {
            inputs: a.inputs,
            input_format: match a.input_format {
                InputFormatArg::Auto => InputFormat::Auto,
                InputFormatArg::Json => InputFormat::Json,
                InputFormatArg::Text => InputFormat::Text,
            },
            strict: a.strict,
            rules: a.rules,
            builtin_rules: !a.no_builtin_rules,
            top: a.top,
            min_severity: severity(a.min_severity),
            fail_on: a.fail_on.map(severity),
            format: match a.format {
                FormatArg::Table => Format::Table,
                FormatArg::Markdown => Format::Markdown,
                FormatArg::Json => Format::Json,
            },
            out: a.out,
            template: a.template,
            assignments: a.assignments,
        })
    }
}
