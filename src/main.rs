//! The `gcp-triage` binary: parse flags, run, print one line per error, map to exit codes.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use gcp_triage::app;
use gcp_triage::cli::{Cli, Command, RulesCommand};
use gcp_triage::clock::SystemClock;
use gcp_triage::error::{Error, one_line};
use gcp_triage::settings::{Analyze, Fetch, Output};

fn report_error(e: &Error) -> ExitCode {
    if e.is_broken_pipe() {
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "gcp-triage: error: {}",
        one_line(e)
    );
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(3))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = Output::new(cli.verbose, cli.quiet, cli.color);
    let result = match cli.command {
        Command::Analyze(args) => {
            Analyze::from_args(args, &SystemClock).and_then(|s| app::analyze(&s, output))
        }
        Command::Fetch(args) => {
            Fetch::from_args(args, &SystemClock).and_then(|s| app::fetch(&s, output))
        }
        Command::Rules(RulesCommand::Check { dirs }) => app::rules_check(&dirs),
        Command::Completions { shell } => app::completions(shell),
        Command::Man => app::man(),
        Command::Rules(RulesCommand::Explain { message, rules }) => {
            app::rules_explain(&message, &rules)
        }
    };
    match result {
        Ok(status) => {
            if let Some(e) = &status.error {
                let code = report_error(e);
                if e.is_broken_pipe() {
                    return code;
                }
            }
            ExitCode::from(u8::try_from(status.code).unwrap_or(3))
        }
        Err(e) => report_error(&e),
    }
}
