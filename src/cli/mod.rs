//! The command line: clap definitions, the printers, and the exit-code contract.
//!
//! This is the only module that knows clap and exit codes. It reads files, turns library
//! results into text or JSON, and maps errors to codes: 0 all checks passed, 1 a check failed,
//! 2 the input was unusable, 3 no verdict could be reached (network, timeout).

mod output;
mod tlsa;

use std::ffi::OsString;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::env::Env;

/// Exit codes of the command-line contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    CheckFailed = 1,
    Input = 2,
    NoVerdict = 3,
}

/// An error that ends the run: what to print and which exit code to return.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn input(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            exit: Exit::Input,
            error: error.into(),
        }
    }

    pub fn no_verdict(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            exit: Exit::NoVerdict,
            error: error.into(),
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "danekit",
    version,
    about = "DANE/TLSA toolkit: compute, publish, validate and verify TLSA records",
    after_help = "Exit codes: 0 every check passed, 1 a check failed, 2 unusable input, \
                  3 no verdict (network failure, timeout)."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command accepts, before or after the subcommand.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Global options")]
struct Global {
    /// Recursive resolver to ask (repeatable); default: the system's resolv.conf
    #[arg(long, global = true, value_name = "ADDR[:PORT]")]
    resolver: Vec<String>,
    /// DS or DNSKEY lines, or a BIND trust-anchors block; default: the IANA root KSKs
    #[arg(long, global = true, value_name = "FILE")]
    trust_anchor: Option<std::path::PathBuf>,
    /// Evaluate as of this instant (RFC 3339 or Unix seconds)
    #[arg(long, global = true, value_name = "TIME")]
    now: Option<String>,
    /// Time limit per network operation, e.g. 5s, 500ms, 1m
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s")]
    timeout: String,
    /// Output format; each command lists its own
    #[arg(short = 'o', long, global = true, value_name = "FORMAT")]
    output: Option<String>,
    /// Fewer diagnostics on stderr
    #[arg(short, long, global = true)]
    quiet: bool,
    /// More diagnostics on stderr
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compute TLSA records from certificates, chains, keys, CSRs or a live server
    Tlsa(tlsa::TlsaArgs),
}

/// What every command gets besides its own arguments.
pub struct Context {
    pub now: i64,
    pub timeout: Duration,
    pub output: Option<String>,
    pub quiet: bool,
    pub verbose: bool,
}

/// Parses `args` (program name first), runs the command in `env`, and returns the exit code.
pub fn run<I, T>(args: I, env: &mut dyn Env) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            return if e.use_stderr() {
                let _ = env.stderr().write_all(text.as_bytes());
                Exit::Input as u8
            } else {
                let _ = env.stdout().write_all(text.as_bytes());
                Exit::Ok as u8
            };
        }
    };
    let result = context(&cli.global, env).and_then(|ctx| match &cli.command {
        Command::Tlsa(args) => tlsa::run(args, &ctx, env),
    });
    match result {
        Ok(exit) => exit as u8,
        Err(failure) => {
            let _ = writeln!(env.stderr(), "error: {:#}", failure.error);
            failure.exit as u8
        }
    }
}

fn context(global: &Global, env: &dyn Env) -> Result<Context, Failure> {
    let now = match &global.now {
        Some(text) => crate::report::parse_time(text).ok_or_else(|| {
            Failure::input(anyhow::anyhow!(
                "--now {text:?}: expected RFC 3339 (2026-12-01T12:00:00Z) or Unix seconds"
            ))
        })?,
        None => env.now(),
    };
    let timeout = parse_duration(&global.timeout).ok_or_else(|| {
        Failure::input(anyhow::anyhow!(
            "--timeout {:?}: expected a duration such as 5s, 500ms or 2m",
            global.timeout
        ))
    })?;
    Ok(Context {
        now,
        timeout,
        output: global.output.clone(),
        quiet: global.quiet,
        verbose: global.verbose,
    })
}

/// Parses `500ms`, `5s`, `2m`, `1h`, `7d`, or bare seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let secs = |k: u64| n.checked_mul(k).map(Duration::from_secs);
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86400),
        _ => None,
    }
    .filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604800)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration(""), None);
    }
}
