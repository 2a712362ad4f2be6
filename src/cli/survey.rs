//! `danekit survey`: the `verify DOMAIN` procedure over a list of domains, a bounded number at
//! once, one JSON line per domain as results arrive, and a summary at the end.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hickory_proto::rr::Name;

use super::dnssec::anchors;
use super::output::{output_format, print_json, write_stdout};
use super::{Context, Exit, Failure, args, resolvers};
use crate::addr::name_text;
use crate::env::Env;
use crate::survey::{Job, Line, Lines, Summary, domain_line, shard_of, survey_domain};
use crate::verify::report::{Verdict, VerifyDocument};
use crate::verify::{Family, Options};

#[derive(Debug, Args)]
#[command(
    after_help = "Output formats (-o): jsonl (default: one verify document per domain, \
                  then the summary table on stderr), json (the summary document), text (the \
                  summary table).\n\
                  Exit: 0 every domain passed, 1 some domain failed, 3 otherwise.\n\
                  Examples:\n  \
                  danekit survey domains.txt > results.jsonl\n  \
                  danekit survey domains.txt --resume results.jsonl --jobs 64\n  \
                  danekit survey --from-log /var/log/mail.log --summary-only -o json\n  \
                  danekit survey domains.txt --shard 3/8 > shard-3.jsonl"
)]
pub struct SurveyArgs {
    /// Domains, one per line, `#` comments and blank lines ignored [default: standard input]
    #[arg(value_name = "FILE|-")]
    file: Option<OsString>,
    /// Survey the recipient domains of the deliveries in a Postfix log instead
    #[arg(long, value_name = "MAILLOG", conflicts_with = "file")]
    from_log: Option<PathBuf>,
    /// Domains checked at once
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = jobs)]
    jobs: usize,
    /// Skip the domains already in OUT.jsonl and append the new lines to it
    #[arg(long, value_name = "OUT.jsonl")]
    resume: Option<PathBuf>,
    /// Print only the summary, not the line of each domain
    #[arg(long)]
    summary_only: bool,
    /// Take only shard K of N (0 ≤ K < N) of the list, by a stable hash of each domain
    #[arg(long, value_name = "K/N", value_parser = shard)]
    shard: Option<(u32, u32)>,
    /// The service port: TLSA at _PORT._tcp, connections to PORT
    #[arg(long, default_value = "25", value_parser = args::port)]
    port: u16,
    /// Dialogue before TLS [default: from the port: 25/587 smtp, 143 imap, 110 pop3, else none]
    #[arg(long, value_enum)]
    starttls: Option<crate::probe::Starttls>,
    /// About the most one domain may take, its DNS lookups and connections together
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = args::duration)]
    domain_timeout: Duration,
    /// Count no-dane and tls-required addresses as failures
    #[arg(long)]
    require_dane: bool,
}

fn jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err("expected a number from 1 to 1024".into()),
    }
}

fn shard(text: &str) -> Result<(u32, u32), String> {
    let bad = || "expected K/N with 0 <= K < N, e.g. 0/4".to_owned();
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let k: u32 = k.trim().parse().map_err(|_| bad())?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || k >= n {
        return Err(bad());
    }
    Ok((k, n))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Jsonl,
    Json,
    Text,
}

/// The most lines of a bad-line warning printed; the rest are counted.
const MAX_WARNINGS: usize = 20;

/// What a worker sends back.
enum Item {
    Doc(Box<VerifyDocument>),
    Bad(String),
}

type Source<'a> = Box<dyn Iterator<Item = Result<(usize, String), usize>> + Send + 'a>;

pub fn run(args: &SurveyArgs, ctx: &Context, env: &mut dyn Env) -> Result<Exit, Failure> {
    let format: Format = output_format(ctx.output.as_deref(), "survey")?;
    let anchors = anchors(ctx)?;
    let servers = resolvers(ctx, env)?;

    // Domains already done (--resume), folded into the summary as they are read.
    let mut summary = Summary::default();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut unreadable_resume = 0usize;
    if let Some(path) = &args.resume {
        match std::fs::File::open(path) {
            Ok(file) => {
                for line in Lines::new(std::io::BufReader::new(file)) {
                    match line
                        .ok()
                        .and_then(|(_, l)| serde_json::from_str::<VerifyDocument>(&l).ok())
                    {
                        Some(doc) => {
                            if done.insert(doc.domain.to_ascii_lowercase()) {
                                summary.add(&doc);
                            }
                        }
                        None => unreadable_resume += 1,
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Failure::input(anyhow::anyhow!("{}: {e}", path.display())));
            }
        }
    }
    let mut resume_out = match &args.resume {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Failure::input(anyhow::anyhow!("{}: {e}", path.display())))?,
        ),
        None => None,
    };

    let from_log: Option<Vec<String>> = match &args.from_log {
        Some(path) => Some(log_domains(path)?),
        None => None,
    };
    // Standard input is read whole (at most 16 MiB, some 800,000 domains); a file is read line
    // by line, so memory does not grow with it.
    let stdin: Option<Vec<u8>> = match (&args.file, &from_log) {
        (Some(raw), None) if raw != "-" => None,
        (_, Some(_)) => None,
        _ => Some(
            env.read_stdin(crate::env::MAX_INPUT_BYTES)
                .map_err(|e| Failure::input(anyhow::anyhow!("standard input: {e}")))?,
        ),
    };
    let file: Option<std::fs::File> =
        match (&args.file, &from_log) {
            (Some(raw), None) if raw != "-" => Some(std::fs::File::open(raw).map_err(|e| {
                Failure::input(anyhow::anyhow!("{}: {e}", Path::new(raw).display()))
            })?),
            _ => None,
        };
    let progress = env.stderr_is_terminal() && !ctx.quiet;
    let options = Options {
        family: Family::Any,
        starttls: args.starttls,
        connect: None,
        ehlo: None,
        timeout: ctx.timeout,
        greeting_timeout: ctx.timeout,
        parallel: 4,
        now: ctx.now,
    };
    let ports = [args.port];
    let jsonl_stdout = format == Format::Jsonl && !args.summary_only && resume_out.is_none();
    let mut warnings: Vec<String> = Vec::new();
    let mut bad_lines = 0usize;
    let mut write_error: Option<std::io::Error> = None;
    {
        let (net, stdout) = env.net_and_stdout();
        let source: Source<'_> = match (from_log, file, stdin) {
            (Some(domains), _, _) => {
                Box::new(domains.into_iter().enumerate().map(|(i, d)| Ok((i + 1, d))))
            }
            (None, Some(f), _) => Box::new(Lines::new(std::io::BufReader::new(f))),
            (None, None, bytes) => {
                Box::new(Lines::new(std::io::Cursor::new(bytes.unwrap_or_default())))
            }
        };
        let input = Mutex::new(source);
        let job = Job {
            net,
            resolvers: &servers,
            anchors: &anchors,
            now: ctx.now,
            ports: &ports,
            options: &options,
            budget: args.domain_timeout,
            require_dane: args.require_dane,
        };
        let bar = progress.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {pos} domains, {per_sec} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar
        });
        let (tx, rx) = sync_channel::<Item>(args.jobs * 2);
        std::thread::scope(|scope| {
            for _ in 0..args.jobs {
                let tx = tx.clone();
                let input = &input;
                let job = &job;
                let done = &done;
                scope.spawn(move || {
                    loop {
                        let next = {
                            let Ok(mut it) = input.lock() else { break };
                            next_domain(&mut it, done, args.shard)
                        };
                        let item = match next {
                            None => break,
                            Some(Ok(domain)) => Item::Doc(Box::new(survey_domain(job, &domain))),
                            Some(Err(bad)) => Item::Bad(bad),
                        };
                        if tx.send(item).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            for item in rx {
                match item {
                    Item::Doc(doc) => {
                        summary.add(&doc);
                        if let Some(bar) = &bar {
                            bar.inc(1);
                            bar.set_message(format!(
                                "{} failed",
                                summary.outcomes.get("fail").copied().unwrap_or(0)
                            ));
                        }
                        if write_error.is_some() {
                            continue;
                        }
                        let line = match serde_json::to_string(&doc) {
                            Ok(l) => l,
                            Err(e) => {
                                write_error = Some(std::io::Error::other(e));
                                continue;
                            }
                        };
                        let result = match (&mut resume_out, jsonl_stdout) {
                            (Some(f), _) => writeln!(f, "{line}"),
                            (None, true) => writeln!(stdout, "{line}"),
                            (None, false) => Ok(()),
                        };
                        if let Err(e) = result {
                            write_error = Some(e);
                        }
                    }
                    Item::Bad(why) => {
                        bad_lines += 1;
                        if warnings.len() < MAX_WARNINGS {
                            warnings.push(why);
                        }
                    }
                }
            }
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
        });
        let _ = stdout.flush();
    }
    if let Some(e) = write_error
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(Failure::input(anyhow::anyhow!(
            "cannot write the results: {e}"
        )));
    }
    if !ctx.quiet {
        let err = env.stderr();
        for w in &warnings {
            let _ = writeln!(err, "warning: {w}");
        }
        if bad_lines > warnings.len() {
            let _ = writeln!(
                err,
                "warning: {} more lines skipped",
                bad_lines - warnings.len()
            );
        }
        if unreadable_resume > 0 {
            let _ = writeln!(
                err,
                "warning: {unreadable_resume} lines of the resume file are not verify documents and were skipped"
            );
        }
    }
    match format {
        Format::Json => print_json(env, &summary)?,
        Format::Text => write_stdout(env, &summary.table())?,
        Format::Jsonl => {
            if !ctx.quiet {
                let table = summary.table();
                let _ = env.stderr().write_all(table.as_bytes());
            }
        }
    }
    Ok(match summary.verdict {
        Verdict::Pass => Exit::Ok,
        Verdict::Fail => Exit::CheckFailed,
        Verdict::Indeterminate => Exit::NoVerdict,
    })
}

/// The next domain to survey: lines that are not domains are reported, comments, blanks,
/// domains already done and those of other shards skipped.
fn next_domain(
    source: &mut Source<'_>,
    done: &BTreeSet<String>,
    shard: Option<(u32, u32)>,
) -> Option<Result<Name, String>> {
    for line in source.by_ref() {
        let (number, text) = match line {
            Ok(x) => x,
            Err(number) => {
                return Some(Err(format!(
                    "line {number}: longer than {} bytes, skipped",
                    crate::survey::MAX_LINE
                )));
            }
        };
        match domain_line(number, &text) {
            Line::Nothing => continue,
            Line::Bad(n, why) => return Some(Err(format!("line {n}: {why}"))),
            Line::Domain(name) => {
                if done.contains(&name_text(&name).to_ascii_lowercase()) {
                    continue;
                }
                if let Some((k, n)) = shard
                    && shard_of(&name, n) != k
                {
                    continue;
                }
                return Some(Ok(name));
            }
        }
    }
    None
}

/// The recipient domains of a Postfix log (plain or gzip, read as `logstats` reads it), each
/// once, in order of first appearance.
fn log_domains(path: &Path) -> Result<Vec<String>, Failure> {
    let name = crate::text::escape_bytes(path.as_os_str().as_encoded_bytes());
    let reader = super::logstats::open_log(path, &name)?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (_, line) in Lines::new(reader).flatten() {
        if let Some(d) = crate::logstats::delivery_domain(line.as_bytes())
            && seen.insert(d.clone())
        {
            out.push(d);
        }
    }
    Ok(out)
}
