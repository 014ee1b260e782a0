//! The `gcp-triage` binary: parse flags, run, print one line per error, map to exit codes.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use gcp_triage::app;
use gcp_triage::cli::{Cli, Command, ConfigCommand, RulesCommand};
use gcp_triage::clock::SystemClock;
use gcp_triage::config::{self, Config};
use gcp_triage::error::{Error, one_line};
use gcp_triage::settings::{Analyze, Fetch, Output};

/// Parsing threads allocate entries that the clustering thread frees: mimalloc frees
/// across threads cheaply where the system allocator contends.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// The flags. A usage error is one line, like every other error (what is wrong and
/// clap's tip, without the usage block), exit 2; help and version print as usual.
fn parse_cli() -> Result<Cli, ExitCode> {
    use clap::error::ErrorKind;
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e)
            if !e.use_stderr()
                || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            e.exit()
        }
        Err(e) => {
            let text = e.render().to_string();
            // What is wrong is everything before the usage block; the values a flag
            // takes and clap's tip stay too. An argument clap echoes may hold a secret.
            let mut what = Vec::new();
            let mut hints = Vec::new();
            for line in text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty())
            {
                if let Some(tip) = line.strip_prefix("tip: ") {
                    hints.push(tip);
                } else if let Some(values) = line
                    .strip_prefix('[')
                    .and_then(|l| l.strip_suffix(']'))
                    .filter(|l| l.starts_with("possible values"))
                {
                    hints.push(values);
                } else {
                    what.push(line.trim_start_matches("error: "));
                }
            }
            let mut message = what.join(" ");
            if !hints.is_empty() {
                message = format!("{message} ({})", hints.join("; "));
            }
            let message = gcp_triage::redact::redact(&message);
            let _ = writeln!(
                std::io::stderr().lock(),
                "gcp-triage: error: {message}; see --help"
            );
            Err(ExitCode::from(2))
        }
    }
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// The config file, if there is one.
fn load_config(explicit: Option<&std::path::Path>) -> Result<Option<Config>, Error> {
    let cwd = std::env::current_dir().unwrap_or_default();
    match config::locate(explicit, &env, &cwd)? {
        Some((path, found_by)) => Config::load(&path, found_by).map(Some),
        None => Ok(None),
    }
}

/// The allocator's options, set before anything else runs.
#[allow(unsafe_code)]
fn set_allocator_options() {
    // SAFETY: called first in `main`, before the program starts any thread.
    unsafe { gcp_triage::allocator::purge_freed_memory_at_once() }
}

fn main() -> ExitCode {
    set_allocator_options();
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let output = Output::new(cli.verbose, cli.quiet, cli.color);
    let explicit = cli.config.as_deref();
    let result = match cli.command {
        Command::Analyze(mut args) => load_config(explicit).and_then(|c| {
            let origins = config::apply_analyze(&mut args, c.as_ref(), &env, false)?;
            Analyze::from_args(args, &SystemClock)
                .map_err(|e| config::blame(e, c.as_ref(), &origins))
                .and_then(|s| app::analyze(&s, output))
        }),
        Command::Fetch(mut args) => load_config(explicit).and_then(|c| {
            let origins = config::apply_fetch(&mut args, c.as_ref(), &env)?;
            Fetch::from_args(args, &SystemClock)
                .map_err(|e| config::blame(e, c.as_ref(), &origins))
                .and_then(|s| app::fetch(&s, output))
        }),
        Command::Config(ConfigCommand::Show(mut args)) => load_config(explicit).and_then(|c| {
            let origins = config::apply_analyze(&mut args, c.as_ref(), &env, true)?;
            let text = config::show(&args, &origins, c.as_ref(), &env);
            // The same validation analyze runs, so a bad value fails here too (GitHub
            // settings are checked only when issues are filed).
            if !args.github.file_issues {
                args.github = gcp_triage::cli::GithubArgs::default();
            }
            Analyze::from_args(args, &SystemClock)
                .map_err(|e| config::blame(e, c.as_ref(), &origins))?;
            app::print(&text)
        }),
        Command::Rules(RulesCommand::Check { dirs }) => app::rules_check(&dirs),
        Command::Completions { shell } => app::completions(shell),
        Command::Man => app::man(),
        Command::Rules(RulesCommand::Explain {
            message,
            rules,
            keep_personal_data,
        }) => {
            let redactor = if keep_personal_data {
                gcp_triage::redact::Redactor::keeping_personal_data()
            } else {
                gcp_triage::redact::Redactor::default()
            };
            app::rules_explain(&message, &rules, redactor)
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
