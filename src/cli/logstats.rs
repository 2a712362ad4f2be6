//! `danekit logstats`: TLS sessions by class, clear-text deliveries and policy failures,
//! counted from Postfix logs (plain or gzip, files or standard input), as a text table or JSON.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};

use super::output::{output_format, print_findings, print_json, write_stdout};
use super::{Context, Exit, Failure};
use crate::env::{Env, STREAM_BUFFER_BYTES};
use crate::logstats::{Class, ClassCounts, LogError, MAX_DOMAINS, Stats, Summary};
use crate::report::{Finding, SCHEMA_VERSION, Verdict};
use crate::text;

#[derive(Debug, Args)]
#[command(after_help = "Output formats (-o): text (default), json.\n\
                  Classes: verified, trusted, untrusted, anonymous (TLS sessions, from Postfix's \
                  TLS summary lines) and none (deliveries and received messages without TLS).\n\
                  Postfix writes its TLS lines only with smtp_tls_loglevel and \
                  smtpd_tls_loglevel at 1 or more.\n\
                  Traditional syslog dates have no year: the year of --now (default: today) is \
                  taken, or the year before for a date more than a day ahead of it.\n\
                  Examples:\n  \
                  danekit logstats /var/log/mail.log /var/log/mail.log.1 /var/log/mail.log.*.gz\n  \
                  journalctl -u postfix@- -o short-iso | danekit logstats - --by day\n  \
                  danekit logstats /var/log/mail.log --by domain -o json")]
pub struct LogstatsArgs {
    /// Postfix logs, plain or gzip; `-` (or none) for standard input
    #[arg(value_name = "MAILLOG")]
    inputs: Vec<OsString>,
    /// Add a table with a row per day or per destination domain (text output; JSON has both)
    #[arg(long, value_enum)]
    by: Option<By>,
    /// How many clear-text destinations to list
    #[arg(long, value_name = "N", default_value = "10")]
    top: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum By {
    Day,
    Domain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// One input as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputDoc {
    /// The file name (escaped), or `-` for standard input.
    pub name: String,
    pub gzip: bool,
    /// Bytes read (after decompression).
    pub bytes: u64,
    pub lines: u64,
}

/// The JSON document of `danekit logstats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogstatsDocument {
    pub schema_version: u32,
    pub verdict: Verdict,
    pub inputs: Vec<InputDoc>,
    #[serde(flatten)]
    pub summary: Summary,
    pub findings: Vec<Finding>,
}

/// The leading bytes of compressed formats that are not read, with the command that
/// decompresses them.
const OTHER_COMPRESSIONS: &[(&[u8], &str, &str)] = &[
    (b"\xfd7zXZ\x00", "xz", "xz -dc"),
    (b"\x28\xb5\x2f\xfd", "zstd", "zstd -dc"),
    (b"BZh", "bzip2", "bzip2 -dc"),
];

/// Reads up to `n` bytes, fewer only at the end of the input.
fn read_head(reader: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    reader.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// `reader` as lines: through gzip when its first bytes are gzip's magic (RFC 1952 §2.3.1),
/// as it is otherwise; another compression is refused with the command that reads it.
fn decode<'a>(
    mut reader: Box<dyn BufRead + 'a>,
    name: &str,
) -> Result<(Box<dyn BufRead + 'a>, bool), Failure> {
    let head = read_head(&mut reader, 6)
        .map_err(|e| Failure::input(anyhow!("{name}: cannot read: {e}")))?;
    for (magic, format, command) in OTHER_COMPRESSIONS {
        if head.starts_with(magic) {
            return Err(Failure::input(anyhow!(
                "{name}: {format}-compressed; decompress it first: {command} {name} | danekit logstats -"
            )));
        }
    }
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let joined = io::Cursor::new(head).chain(reader);
    if gzip {
        let decoder = MultiGzDecoder::new(joined);
        Ok((
            Box::new(BufReader::with_capacity(STREAM_BUFFER_BYTES, decoder)),
            true,
        ))
    } else {
        Ok((Box::new(joined), false))
    }
}

/// Opens a log file: a regular file or a pipe (`<(zcat …)`), never a directory or a device.
fn open(path: &Path, name: &str) -> Result<Box<dyn BufRead>, Failure> {
    let meta =
        std::fs::metadata(path).map_err(|e| Failure::input(anyhow!("{name}: cannot open: {e}")))?;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(Failure::input(anyhow!("{name}: is a directory, not a log")));
    }
    if kind.is_char_device() || kind.is_block_device() {
        return Err(Failure::input(anyhow!("{name}: is a device, not a log")));
    }
    let file = File::open(path).map_err(|e| Failure::input(anyhow!("{name}: cannot open: {e}")))?;
    Ok(Box::new(BufReader::with_capacity(
        STREAM_BUFFER_BYTES,
        file,
    )))
}

/// A log file for reading line by line: refused when it is a directory or a device, through
/// gzip when it is gzip. `name` is the file's name for messages.
pub(super) fn open_log(path: &Path, name: &str) -> Result<Box<dyn BufRead>, Failure> {
    decode(open(path, name)?, name).map(|(reader, _)| reader)
}

/// Counts one input into `stats`.
fn read_input(
    stats: &mut Stats,
    reader: Box<dyn BufRead + '_>,
    name: String,
) -> Result<InputDoc, Failure> {
    let (reader, gzip) = decode(reader, &name)?;
    let before = stats.lines();
    let bytes = stats.read(reader).map_err(|e| {
        let line = stats.lines() - before;
        match e {
            LogError::Io(e) if gzip => Failure::input(anyhow!(
                "{name}: gzip data truncated or corrupt after line {line}: {e}"
            )),
            LogError::Io(e) => Failure::input(anyhow!("{name}: read error after line {line}: {e}")),
            e @ LogError::NoLineBreak { .. } => Failure::input(anyhow!("{name}: {e}")),
        }
    })?;
    Ok(InputDoc {
        lines: stats.lines() - before,
        name,
        gzip,
        bytes,
    })
}

pub fn run(args: &LogstatsArgs, ctx: &Context, env: &mut dyn Env) -> Result<Exit, Failure> {
    let format: Format = output_format(ctx.output.as_deref(), "logstats")?;
    let mut stats = Stats::new(ctx.now.0);
    let mut inputs = Vec::new();
    let stdin_only = [OsString::from("-")];
    let names: &[OsString] = if args.inputs.is_empty() {
        &stdin_only
    } else {
        &args.inputs
    };
    for input in names {
        if input.as_bytes() == b"-" {
            let reader = env.stdin_stream();
            inputs.push(read_input(&mut stats, reader, "-".to_owned())?);
        } else {
            let name = text::escape_bytes(input.as_bytes());
            let reader = open(Path::new(input), &name)?;
            inputs.push(read_input(&mut stats, reader, name)?);
        }
    }
    let summary = stats.finish(args.top);
    let findings = findings(&summary);
    match format {
        Format::Json => {
            let doc = LogstatsDocument {
                schema_version: SCHEMA_VERSION,
                verdict: Verdict::Ok,
                inputs,
                summary,
                findings,
            };
            print_json(env, &doc)?;
        }
        Format::Text => {
            print_findings(env, ctx, &findings);
            write_stdout(env, &render_text(&summary, &inputs, args.by))?;
        }
    }
    Ok(Exit::Ok)
}

fn findings(summary: &Summary) -> Vec<Finding> {
    let mut findings = Vec::new();
    if summary.lines > 0 && summary.used == 0 {
        findings.push(
            Finding::warning(
                "no-postfix-lines",
                "logstats",
                "no line was a Postfix smtp, lmtp or smtpd line that logstats counts; is this a \
                 Postfix mail log?",
            )
            .with("lines", summary.lines)
            .with("malformed", summary.malformed),
        );
    }
    // Postfix writes no TLS summary at loglevel 0: mail then looks as if it all went in clear.
    let directions = [
        ("outbound", &summary.outbound, "smtp_tls_loglevel"),
        ("inbound", &summary.inbound, "smtpd_tls_loglevel"),
    ];
    for (direction, counts, parameter) in directions {
        if counts.none > 0 && counts.total() == counts.none {
            findings.push(
                Finding::warning(
                    "no-tls-lines",
                    direction,
                    format!(
                        "mail without a single TLS session: if Postfix runs with {parameter} = 0 \
                         it writes no TLS lines, and all of it counts as none"
                    ),
                )
                .with("none", counts.none),
            );
        }
    }
    if summary.domains_folded > 0 {
        findings.push(
            Finding::warning(
                "domains-folded",
                "logstats",
                format!(
                    "more than {MAX_DOMAINS} destination domains: the deliveries to the others \
                     are counted under \"{}\"",
                    crate::logstats::OTHER_DOMAINS
                ),
            )
            .with("deliveries", summary.domains_folded),
        );
    }
    if summary.days_folded > 0 {
        findings.push(
            Finding::warning(
                "days-folded",
                "logstats",
                format!(
                    "more than {} distinct days: lines of the others are counted in the totals \
                     but not by day",
                    crate::logstats::MAX_DAYS
                ),
            )
            .with("lines", summary.days_folded),
        );
    }
    findings
}

fn class_row(out: &mut String, label: &str, counts: &ClassCounts) {
    let _ = write!(out, "{label:<12}");
    for class in Class::ALL {
        let _ = write!(out, " {:>10}", counts.get(class));
    }
    let _ = writeln!(out, " {:>10}", counts.total());
}

fn class_header(out: &mut String, label: &str) {
    let _ = write!(out, "{label:<12}");
    for class in Class::ALL {
        let _ = write!(out, " {:>10}", class.as_str());
    }
    let _ = writeln!(out, " {:>10}", "total");
}

fn named_line(out: &mut String, label: &str, counts: &crate::logstats::NamedCounts) {
    let list = |m: &std::collections::BTreeMap<String, u64>| {
        let mut v: Vec<(&String, &u64)> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        v.iter()
            .map(|(k, n)| format!("{} {n}", text::clip_to(k, 60)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (direction, map) in [("outbound", &counts.outbound), ("inbound", &counts.inbound)] {
        if !map.is_empty() {
            let _ = writeln!(out, "{label} {direction}: {}", list(map));
        }
    }
}

/// The text report: totals, protocols and ciphers, clear-text destinations, policy failures,
/// and with `--by` the table per day or per domain.
fn render_text(s: &Summary, inputs: &[InputDoc], by: Option<By>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} input{}, {} lines: {} used, {} skipped ({} malformed, {} too long)",
        inputs.len(),
        if inputs.len() == 1 { "" } else { "s" },
        s.lines,
        s.used,
        s.skipped,
        s.malformed,
        s.too_long
    );
    out.push('\n');
    class_header(&mut out, "");
    class_row(&mut out, "outbound", &s.outbound);
    class_row(&mut out, "inbound", &s.inbound);
    class_row(&mut out, "deliveries", &s.deliveries);
    out.push_str(
        "outbound, inbound: TLS sessions by class; none: messages sent (outbound) or received\n\
         (inbound) without TLS. deliveries: recipients sent, by the class of their session.\n",
    );
    if !s.protocols.outbound.is_empty() || !s.protocols.inbound.is_empty() {
        out.push('\n');
        named_line(&mut out, "protocols", &s.protocols);
        named_line(&mut out, "ciphers", &s.ciphers);
    }
    if !s.top_cleartext.is_empty() {
        let _ = writeln!(out, "\ntop clear-text destinations:");
        for c in &s.top_cleartext {
            let _ = writeln!(
                out,
                "  {:<40} {:>10}",
                text::clip_to(&c.domain, 60),
                c.deliveries
            );
        }
    }
    let f = &s.policy_failures;
    if f.total > 0 {
        let _ = writeln!(
            out,
            "\nDANE and TLS policy failures (deferred or bounced): {}",
            f.total
        );
        for (kind, n) in &f.by_kind {
            let _ = writeln!(out, "  {:<28} {n:>10}", kind.as_str());
            for e in f.examples.iter().filter(|e| e.kind == *kind) {
                let _ = writeln!(
                    out,
                    "    {} {} {} relay={}: {}",
                    e.day, e.status, e.domain, e.relay, e.reason
                );
            }
        }
    }
    match by {
        Some(By::Day) => {
            let _ = writeln!(out, "\nby day, outbound:");
            class_header(&mut out, "day");
            for (day, c) in &s.by_day {
                class_row(&mut out, day, &c.outbound);
            }
            let _ = writeln!(out, "\nby day, inbound:");
            class_header(&mut out, "day");
            for (day, c) in &s.by_day {
                class_row(&mut out, day, &c.inbound);
            }
        }
        Some(By::Domain) => {
            let _ = writeln!(out, "\nby destination domain (deliveries):");
            let mut rows: Vec<_> = s.by_domain.iter().collect();
            rows.sort_by(|a, b| {
                b.1.deliveries
                    .total()
                    .cmp(&a.1.deliveries.total())
                    .then_with(|| a.0.cmp(b.0))
            });
            let _ = write!(out, "{:<40}", "domain");
            for class in Class::ALL {
                let _ = write!(out, " {:>10}", class.as_str());
            }
            let _ = writeln!(out, " {:>10}", "failures");
            for (domain, c) in rows {
                let _ = write!(out, "{:<40}", text::clip_to(domain, 60));
                for class in Class::ALL {
                    let _ = write!(out, " {:>10}", c.deliveries.get(class));
                }
                let _ = writeln!(out, " {:>10}", c.policy_failures);
            }
        }
        None => {}
    }
    out
}
