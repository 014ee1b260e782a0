//! Progress of a Cloud Logging fetch on stderr: one live line on a terminal (pages,
//! entries, rate, retries), a line per page and retry with `-v` elsewhere, and
//! nothing otherwise. Never on stdout.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::settings::{Output, Verbosity};

/// The progress reporter.
pub struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    started: Instant,
    project: String,
    pages: u64,
    entries: u64,
    retries: u64,
}

impl Progress {
    /// A reporter for these output settings.
    pub fn new(output: Output) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = (terminal && output.verbosity != Verbosity::Quiet).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            lines: !terminal && output.verbosity == Verbosity::Verbose,
            started: Instant::now(),
            project: String::new(),
            pages: 0,
            entries: 0,
            retries: 0,
        }
    }

    fn status(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        format!(
            "Cloud Logging projects/{}: {} pages, {} entries, {:.0} entries/s, {} retries",
            self.project,
            self.pages,
            self.entries,
            self.entries as f64 / secs,
            self.retries
        )
    }

    fn line(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        } else if self.lines {
            let _ = writeln!(std::io::stderr().lock(), "gcp-triage: {text}");
        }
    }

    /// Credentials and project are known.
    pub fn started(&mut self, project: &str, credentials: &str) {
        self.project = project.to_string();
        self.line(&format!(
            "reading projects/{project} (credentials: {credentials})"
        ));
    }

    /// A page of `n` entries arrived.
    pub fn page(&mut self, n: usize) {
        self.pages += 1;
        self.entries += n as u64;
        self.line(&self.status());
    }

    /// A request will be retried.
    pub fn retry(&mut self, reason: &str, wait: Duration) {
        self.retries += 1;
        self.line(&format!(
            "{}; retrying in {:.1} s: {reason}",
            self.status(),
            wait.as_secs_f64()
        ));
    }

    /// The fetch is over: clear the live line.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
