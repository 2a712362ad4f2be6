//! The command line: clap definitions, the printers, and the exit-code contract.
//!
//! This is the only module that knows clap's errors, flags and exit codes. It parses
//! arguments into typed values, calls the library, and renders the reports as text or JSON.
//! Exit codes: 0 all checks passed, 1 a check failed, 2 the input was unusable, 3 no verdict
//! could be reached (network, timeout). With `-o json`, a run that fails still prints one JSON
//! document.

mod args;
mod dnssec;
mod logstats;
mod metrics;
mod docs;
mod next_key;
mod output;
mod rollover;
mod survey;
mod tlsa;
mod verify;
mod zone;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::addr::Host;
use crate::env::Env;
use crate::report::{ErrorDocument, ErrorKind, Timestamp};

pub use logstats::{InputDoc, LogstatsDocument};

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

    /// The error as one line: its causes joined, line breaks removed.
    fn line(&self) -> String {
        one_line(&format!("{:#}", self.error))
    }
}

fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
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
    resolver: Vec<crate::addr::HostPort>,
    /// DS or DNSKEY lines, or a BIND trust-anchors block; default: the IANA root KSKs
    #[arg(long, global = true, value_name = "FILE")]
    trust_anchor: Option<std::path::PathBuf>,
    /// Evaluate as of this instant (RFC 3339 or Unix seconds)
    #[arg(long, global = true, value_name = "TIME", value_parser = args::time)]
    now: Option<Timestamp>,
    /// Time limit for each network step, e.g. 5s, 500ms, 1m (at most 24h)
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s", value_parser = args::duration)]
    timeout: Duration,
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
    Tlsa(Box<tlsa::TlsaArgs>),
    /// Validate MX, address and TLSA RRsets with DNSSEC and explain the chain of trust
    Dnssec(dnssec::DnssecArgs),
    /// TLSA records of a services file: zone text, nsupdate/knotc scripts, drift, RFC 2136 updates
    Zone(zone::ZoneArgs),
    /// Check every MX host, address and port against its published TLSA records (RFC 7672)
    Verify(Box<verify::VerifyArgs>),
    /// Is it safe to renew a certificate now? Check, plan, and make the next key
    Rollover(rollover::RolloverArgs),
    /// DANE and STARTTLS across many mail domains: one verify document per line, and a summary
    Survey(Box<survey::SurveyArgs>),
    /// Count TLS sessions by class (verified, trusted, untrusted, anonymous, none) in Postfix logs
    Logstats(logstats::LogstatsArgs),
    /// Write the manual pages (danekit.1 and one per command) into a directory
    Manpages(docs::ManpagesArgs),
    /// Print the completion script for bash, zsh or fish
    Completions(docs::CompletionsArgs),
}

/// The clap definition of the whole command line, for tools that render it (manual pages,
/// completions).
pub fn command() -> clap::Command {
    Cli::command()
}

pub use docs::{ManPage, Shell, render_completions, render_manpages};

/// What every command gets besides its own arguments.
pub struct Context {
    pub now: Timestamp,
    /// `--resolver`, in the order given.
    pub resolvers: Vec<crate::addr::HostPort>,
    /// `--trust-anchor FILE`.
    pub trust_anchor: Option<std::path::PathBuf>,
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
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e, wants_json(&args), env),
    };
    let json = cli.global.output.as_deref() == Some("json");
    let ctx = Context {
        now: cli.global.now.unwrap_or(Timestamp(env.now())),
        resolvers: cli.global.resolver.clone(),
        trust_anchor: cli.global.trust_anchor.clone(),
        timeout: cli.global.timeout,
        output: cli.global.output.clone(),
        quiet: cli.global.quiet,
        verbose: cli.global.verbose,
    };
    let result = match &cli.command {
        Command::Tlsa(args) => tlsa::run(args, &ctx, env),
        Command::Zone(args) => zone::run(args, &ctx, env),
        Command::Dnssec(args) => dnssec::run(args, &ctx, env),
        Command::Verify(args) => verify::run(args, &ctx, env),
        Command::Rollover(args) => rollover::run(args, &ctx, env),
        Command::Survey(args) => survey::run(args, &ctx, env),
        Command::Logstats(args) => logstats::run(args, &ctx, env),
        Command::Manpages(args) => docs::run_manpages(args, &ctx, env),
        Command::Completions(args) => docs::run_completions(args, env),
    };
    match result {
        Ok(exit) => exit as u8,
        Err(failure) => {
            let line = failure.line();
            let _ = writeln!(env.stderr(), "error: {line}");
            if json {
                let kind = match failure.exit {
                    Exit::NoVerdict => ErrorKind::Network,
                    _ => ErrorKind::Input,
                };
                let _ = output::print_json(env, &ErrorDocument::new(kind, line));
            }
            failure.exit as u8
        }
    }
}

/// The resolvers to ask: `--resolver` (addresses, port 53 by default), else the system's.
fn resolvers(ctx: &Context, env: &dyn Env) -> Result<Vec<SocketAddr>, Failure> {
    if ctx.resolvers.is_empty() {
        let system = env.system_resolvers();
        if system.is_empty() {
            return Err(Failure::input(anyhow::anyhow!(
                "no resolver to ask: /etc/resolv.conf names none; give --resolver ADDR[:PORT]"
            )));
        }
        return Ok(system);
    }
    ctx.resolvers
        .iter()
        .map(|r| match r.host {
            Host::Ip(ip) => Ok(SocketAddr::new(ip, r.port.unwrap_or(53))),
            Host::Name(_) => Err(Failure::input(anyhow::anyhow!(
                "--resolver {}: give the resolver's address, not a name",
                r.display_with(r.port.unwrap_or(53))
            ))),
        })
        .collect()
}

/// True when the raw arguments ask for JSON output, for errors found before they are parsed.
fn wants_json(args: &[OsString]) -> bool {
    let words: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    words
        .windows(2)
        .any(|w| (w[0] == "-o" || w[0] == "--output") && w[1] == "json")
        || words
            .iter()
            .any(|w| *w == "-ojson" || *w == "--output=json")
}

/// Help and version go to stdout with exit 0; a usage error is one `error:` line on stderr
/// with exit 2 (and the JSON error document when JSON was asked for).
fn clap_error(e: &clap::Error, json: bool, env: &mut dyn Env) -> u8 {
    use clap::error::ErrorKind as K;
    if matches!(
        e.kind(),
        K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand
    ) && !e.use_stderr()
    {
        let _ = env.stdout().write_all(e.render().to_string().as_bytes());
        return Exit::Ok as u8;
    }
    // The first paragraph of clap's message: the error and, for missing arguments, the list.
    let rendered = e.render().to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .collect();
    let message = paragraph.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    let line = format!("{} (see --help)", one_line(message));
    let _ = writeln!(env.stderr(), "error: {line}");
    if json {
        let _ = output::print_json(env, &ErrorDocument::new(ErrorKind::Input, line));
    }
    Exit::Input as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_seen_in_raw_arguments() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(wants_json(&os(&["danekit", "tlsa", "-o", "json", "--bad"])));
        assert!(wants_json(&os(&["danekit", "--output=json"])));
        assert!(wants_json(&os(&["danekit", "-ojson"])));
        assert!(!wants_json(&os(&["danekit", "-o", "zone"])));
    }

    #[test]
    fn errors_are_one_line() {
        assert_eq!(one_line("a\nb\r\n  c\n"), "a b c");
    }
}
