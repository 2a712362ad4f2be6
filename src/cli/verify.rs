//! `danekit verify`: does what every MX host serves match what DNS publishes, as a DANE
//! sender would judge it (RFC 7672)?

use std::ffi::OsString;
use std::fmt::Write as _;
use std::time::Duration;

use clap::{ArgGroup, Args, ValueEnum};
use hickory_proto::rr::Name;

use super::dnssec::anchors;
use super::output::{output_format, print_findings, print_json, verbose, write_stdout};
use super::{Context, Exit, Failure, args, resolvers};
use crate::addr::{Host, HostPort};
use crate::dns::client::{Client, Source};
use crate::dnssec::{Limits, StatusWord, Validator};
use crate::env::Env;
use crate::pki::Loaded;
use crate::probe::Starttls;
use crate::report::Finding;
use crate::text;
use crate::verify::outcome::OUTCOME_WORDS;
use crate::verify::plan::{MAX_ADDRESSES, MAX_HOSTS};
use crate::verify::report::{AddressDoc, MxDoc, PortDoc, host_document};
use crate::verify::run::DEFAULT_PARALLEL;
use crate::verify::{
    Family, InsecureMx, Options, Outcome, Verdict, VerifyDocument, check_domain, check_offline,
    plan_host, probe_hosts,
};

#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("target").required(true).args(["domain", "host"])),
    after_help = "Output formats (-o): text (default), json.\n\
                  Output formats (-o): text (default), json, openmetrics; --nagios for a \
                  monitoring plugin's status line.\n\
                  Outcomes per address: authenticated, mismatch, tls-required, no-dane, \
                  dns-failure, starttls-missing, unreachable.\n\
                  Exit: 0 every address passed (authenticated; no-dane and tls-required unless \
                  --require-dane), 1 a mismatch, starttls-missing or dns-failure, 3 an address \
                  could not be checked (unreachable) or no verdict at all.\n\
                  Examples:\n  \
                  danekit verify example.org\n  \
                  danekit verify example.org --ports 25,465,587 -o json\n  \
                  danekit verify --host mail.example.org --connect 192.0.2.10\n  \
                  danekit verify --host mail.example.org --cert new-fullchain.pem"
)]
pub struct VerifyArgs {
    /// The mail domain: its MX hosts (or the domain itself), every address, every port
    #[arg(value_name = "DOMAIN", value_parser = args::host, conflicts_with = "host")]
    domain: Option<Name>,
    /// Check this one host instead of a mail domain's MX hosts
    #[arg(long, value_name = "NAME", value_parser = args::host)]
    host: Option<Name>,
    /// The service port: TLSA at _PORT._tcp, connections to PORT [default: 25]
    #[arg(long, value_parser = args::port, conflicts_with = "ports")]
    port: Option<u16>,
    /// Several service ports at once, e.g. 25,465,587,993,995
    #[arg(long, value_name = "LIST", value_parser = port_list)]
    ports: Option<PortList>,
    /// Dialogue before TLS [default: from the port: 25/587 smtp, 143 imap, 110 pop3, else none]
    #[arg(long, value_enum, conflicts_with = "ports")]
    starttls: Option<Starttls>,
    /// Probe this address (and port) instead of the host's, with the host's DNS data
    #[arg(long, value_name = "ADDR[:PORT]", requires = "host", value_parser = connect_addr)]
    connect: Option<HostPort>,
    /// Match this certificate chain (PEM or DER, leaf first) instead of connecting
    #[arg(long, value_name = "FILE", requires = "host", conflicts_with_all = ["connect", "starttls"])]
    cert: Option<OsString>,
    /// Connect to IPv4 addresses only
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,
    /// Connect to IPv6 addresses only
    #[arg(short = '6')]
    ipv6: bool,
    /// Fail unless every address is authenticated by DANE (no-dane and tls-required fail)
    #[arg(long)]
    require_dane: bool,
    /// Hosts of an insecure MX RRset: no-dane (RFC 7672's baseline), or dane to check their
    /// own TLSA records as Postfix does by default
    #[arg(long, value_enum, default_value = "no-dane")]
    insecure_mx: InsecureMx,
    /// Name to send in SMTP EHLO [default: the connection's address literal]
    #[arg(long, value_name = "NAME", value_parser = args::ehlo)]
    ehlo: Option<String>,
    /// Time limit for a server's greeting [default: --timeout]
    #[arg(long, value_name = "DURATION", value_parser = args::duration)]
    greeting_timeout: Option<Duration>,
    /// Connections open at once
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PARALLEL, value_parser = parallel)]
    parallel: usize,
    /// Nagios/Icinga/Naemon plugin mode: one status line with perfdata, and the plugin exit
    /// codes (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) instead of danekit's
    #[arg(long)]
    nagios: bool,
    /// With --nagios: WARNING when a certificate or an RRSIG on the path expires within this
    #[arg(long, value_name = "DURATION", default_value = "14d", value_parser = args::window)]
    warn_expiry: Duration,
}

/// A list of ports, each once, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortList(pub Vec<u16>);

fn port_list(text: &str) -> Result<PortList, String> {
    let mut ports = Vec::new();
    for part in text.split(',').map(str::trim) {
        let port = args::port(part).map_err(|e| format!("{}: {e}", text::clip(part)))?;
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    if ports.len() > 32 {
        return Err("at most 32 ports".into());
    }
    Ok(PortList(ports))
}

fn parallel(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err("expected a number from 1 to 256".into()),
    }
}

fn connect_addr(text: &str) -> Result<HostPort, String> {
    let hp: HostPort = text
        .parse()
        .map_err(|e: crate::addr::HostPortError| e.to_string())?;
    match hp.host {
        Host::Ip(_) => Ok(hp),
        Host::Name(_) => Err("give an address, not a name (names are not resolved again)".into()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Openmetrics,
}

pub fn run(args: &VerifyArgs, ctx: &Context, env: &mut dyn Env) -> Result<Exit, Failure> {
    let format: Format = output_format(ctx.output.as_deref(), "verify")?;
    if args.nagios && ctx.output.is_some() {
        return Err(Failure::input(anyhow::anyhow!(
            "--nagios writes the plugin's status line; leave out -o"
        )));
    }
    let ports = match (&args.ports, args.port) {
        (Some(list), _) => list.0.clone(),
        (None, Some(port)) => vec![port],
        (None, None) => vec![25],
    };
    let chain = match &args.cert {
        Some(raw) => Some(read_chain(raw, env)?),
        None => None,
    };
    let anchors = anchors(ctx)?;
    let servers = resolvers(ctx, env)?;
    let options = Options {
        family: match (args.ipv4, args.ipv6) {
            (true, _) => Family::V4,
            (_, true) => Family::V6,
            _ => Family::Any,
        },
        starttls: args.starttls,
        connect: args.connect.as_ref().and_then(|hp| match hp.host {
            Host::Ip(ip) => Some((ip, hp.port)),
            Host::Name(_) => None,
        }),
        ehlo: args.ehlo.clone(),
        timeout: ctx.timeout,
        greeting_timeout: args.greeting_timeout.unwrap_or(ctx.timeout),
        parallel: args.parallel,
        now: ctx.now,
    };
    let net = env.net();
    let client = Client::new(net, servers, ctx.timeout);
    let validator = Validator::new(&client, &anchors, ctx.now, Limits::default());
    let mut doc = match (&args.host, &args.domain) {
        (Some(host), _) => {
            let planned = plan_host(&validator, host, &ports);
            let result = match &chain {
                Some(chain) => check_offline(planned, chain, &options),
                None => probe_hosts(net, vec![planned], &options).remove(0),
            };
            host_document(&result, args.require_dane, Vec::new())
        }
        (None, Some(domain)) => check_domain(
            net,
            &validator,
            domain,
            &ports,
            &options,
            args.insecure_mx,
            args.require_dane,
        ),
        (None, None) => {
            return Err(Failure::input(anyhow::anyhow!(
                "give a DOMAIN or --host NAME"
            )));
        }
    };
    let queries = client.queries_sent();
    doc.findings.extend(findings(&doc));
    verbose(
        env,
        ctx,
        &format!(
            "{queries} DNS questions sent; {} addresses checked",
            doc.mx.iter().map(|m| m.addresses.len()).sum::<usize>()
        ),
    );
    if args.nagios {
        let (code, line) = nagios(&doc, ctx.now, args.warn_expiry);
        write_stdout(env, &line)?;
        return Ok(code);
    }
    match format {
        Format::Json => print_json(env, &doc)?,
        Format::Openmetrics => write_stdout(env, &super::metrics::verify(&doc, ctx.now))?,
        Format::Text => {
            write_stdout(env, &render_text(&doc))?;
            print_findings(env, ctx, &doc.findings);
        }
    }
    Ok(match doc.verdict {
        Verdict::Pass => Exit::Ok,
        Verdict::Fail => Exit::CheckFailed,
        Verdict::Indeterminate => Exit::NoVerdict,
    })
}

/// The Nagios plugin line and exit code: CRITICAL for a failed run (a mismatch, a DNS failure,
/// a downgrade; with --require-dane, no DANE), UNKNOWN when no verdict was reached, WARNING
/// when a presented certificate or an RRSIG on the path expires within `warn`, else OK.
/// Perfdata: the addresses by outcome and the seconds to the earliest expirations.
fn nagios(doc: &VerifyDocument, now: crate::time::Timestamp, warn: Duration) -> (Exit, String) {
    let addresses: Vec<&AddressDoc> = doc.mx.iter().flat_map(|m| m.addresses.iter()).collect();
    let count = |w: &str| addresses.iter().filter(|a| a.outcome.word() == w).count();
    let leaf_expiry = addresses
        .iter()
        .filter_map(|a| a.chain.first().and_then(|c| c.not_after.as_deref()))
        .filter_map(crate::time::Timestamp::parse)
        .min();
    let warn_secs = i64::try_from(warn.as_secs()).unwrap_or(i64::MAX);
    let soon = |t: Option<crate::time::Timestamp>| {
        t.is_some_and(|t| t.0.saturating_sub(now.0) < warn_secs)
    };
    // The plugin codes are numerically danekit's Exit values 0 to 3: OK, WARNING, CRITICAL,
    // UNKNOWN.
    let (code, word) = match doc.verdict {
        Verdict::Fail => (Exit::Input, "CRITICAL"),
        Verdict::Indeterminate => (Exit::NoVerdict, "UNKNOWN"),
        Verdict::Pass if soon(leaf_expiry) || soon(doc.rrsig_expiration) => {
            (Exit::CheckFailed, "WARNING")
        }
        Verdict::Pass => (Exit::Ok, "OK"),
    };
    let mut summary: Vec<String> = OUTCOME_WORDS
        .iter()
        .filter(|w| count(w) > 0)
        .map(|w| format!("{} {w}", count(w)))
        .collect();
    if summary.is_empty() {
        summary.push(
            doc.reason
                .clone()
                .unwrap_or_else(|| "no address checked".into()),
        );
    }
    let mut detail = summary.join(", ");
    if word == "WARNING" {
        let mut why = Vec::new();
        if soon(leaf_expiry)
            && let Some(t) = leaf_expiry
        {
            why.push(format!("a certificate expires at {t}"));
        }
        if soon(doc.rrsig_expiration)
            && let Some(t) = doc.rrsig_expiration
        {
            why.push(format!("an RRSIG expires at {t}"));
        }
        detail.push_str(&format!("; {}", why.join(", ")));
    }
    let mut perf: Vec<String> = OUTCOME_WORDS
        .iter()
        .map(|w| format!("{}={};;;0", w.replace('-', "_"), count(w)))
        .collect();
    if let Some(t) = leaf_expiry {
        perf.push(format!(
            "leaf_expiry={}s;{warn_secs};0",
            t.0.saturating_sub(now.0)
        ));
    }
    if let Some(t) = doc.rrsig_expiration {
        perf.push(format!(
            "rrsig_expiry={}s;{warn_secs};0",
            t.0.saturating_sub(now.0)
        ));
    }
    let line = format!(
        "DANE {word} - {}: {} | {}\n",
        doc.domain,
        text::escape(&detail).replace('|', "/"),
        perf.join(" ")
    );
    (code, line)
}

/// The chain of `--cert`, DER, leaf first.
fn read_chain(raw: &OsString, env: &mut dyn Env) -> Result<Vec<Vec<u8>>, Failure> {
    let input = super::tlsa::read_one(raw, env)?;
    match input.loaded {
        Loaded::Chain(certs) => Ok(certs.into_iter().map(|c| c.der).collect()),
        Loaded::Key { .. } => Err(Failure::input(anyhow::anyhow!(
            "{}: a key or CSR cannot be matched against TLSA records; give the certificate chain",
            input.name
        ))),
    }
}

/// Warnings that do not change the verdict: a handshake that failed for one key type only,
/// hosts or addresses beyond the limits of a run.
fn findings(doc: &VerifyDocument) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(mx) = &doc.mx_lookup
        && mx.state == "insecure"
        && doc.mx.iter().any(|m| m.tlsa_verdict.is_none())
    {
        out.push(Finding::warning(
            "insecure-mx",
            doc.domain.clone(),
            "the MX RRset is not DNSSEC-secure, so DANE is not checked for its hosts; Postfix \
             senders still use their TLSA records by default (smtp_tls_dane_insecure_mx_policy = \
             dane): check that with --insecure-mx dane",
        ));
    }
    if doc.hosts_omitted > 0 {
        out.push(Finding::warning(
            "mx-hosts-omitted",
            doc.domain.clone(),
            format!(
                "the MX RRset names {} more hosts than the {MAX_HOSTS} checked",
                doc.hosts_omitted
            ),
        ));
    }
    for mx in &doc.mx {
        if mx.addresses_omitted > 0 {
            out.push(Finding::warning(
                "addresses-omitted",
                mx.host.clone(),
                format!(
                    "{} more addresses than the {MAX_ADDRESSES} checked",
                    mx.addresses_omitted
                ),
            ));
        }
        for a in &mx.addresses {
            let subject = address_label(&mx.host, a);
            for note in &a.notes {
                out.push(Finding::warning("handshake-failed", subject.clone(), note));
            }
        }
    }
    out
}

fn address_label(host: &str, a: &AddressDoc) -> String {
    match &a.address {
        Some(ip) if ip.contains(':') => format!("{host} [{ip}]:{}", a.port),
        Some(ip) => format!("{host} {ip}:{}", a.port),
        None => format!("{host} port {}", a.port),
    }
}

/// The text report: the domain and verdict, then per MX host its TLSA state per port and one
/// line per address, with the detail under each that did not pass.
fn render_text(doc: &VerifyDocument) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", doc.domain, doc.verdict.as_str());
    if let Some(mx) = &doc.mx_lookup {
        let state = match mx.state.as_str() {
            "implicit" | "implicit-insecure" => "no MX: the domain is its own mail host",
            "null" => "null MX",
            "no-domain" => "no such domain",
            "failure" => "the MX lookup failed",
            _ => "MX",
        };
        let _ = writeln!(out, "  MX lookup: {} ({state})", mx.verdict.as_str());
        if let Some(why) = &mx.reason {
            let _ = writeln!(out, "    {}", text::escape(why));
        }
    }
    if let Some(why) = &doc.reason {
        let _ = writeln!(out, "  {}", text::escape(why));
    }
    for mx in &doc.mx {
        render_host(&mut out, mx);
    }
    out
}

fn render_host(out: &mut String, mx: &MxDoc) {
    let pref = mx
        .preference
        .map(|p| format!("MX {p} "))
        .unwrap_or_default();
    let cname = mx
        .cname_target
        .as_ref()
        .map(|t| format!(" (CNAME to {t})"))
        .unwrap_or_default();
    let _ = writeln!(out, "  {pref}{}{cname}", mx.host);
    for port in &mx.ports {
        render_port(out, port);
        for a in mx.addresses.iter().filter(|a| a.port == port.port) {
            render_address(out, a);
        }
    }
}

fn render_port(out: &mut String, port: &PortDoc) {
    let verdict = port
        .tlsa_verdict
        .map_or("not looked up", StatusWord::as_str);
    match &port.owner {
        Some(owner) => {
            let _ = writeln!(out, "    {owner} TLSA: {verdict}, {}", port.dane);
        }
        None => {
            let _ = writeln!(out, "    port {} TLSA: {verdict}, {}", port.port, port.dane);
        }
    }
    for record in &port.tlsa {
        let _ = writeln!(out, "      {record}");
    }
    if let Some(why) = &port.reason {
        let _ = writeln!(out, "      {}", text::escape(why));
    }
}

fn render_address(out: &mut String, a: &AddressDoc) {
    let place = match &a.address {
        Some(ip) if ip.contains(':') => format!("[{ip}]:{}", a.connect_port.unwrap_or(a.port)),
        Some(ip) => format!("{ip}:{}", a.connect_port.unwrap_or(a.port)),
        None => "-".to_owned(),
    };
    let tls = a
        .tls
        .iter()
        .map(|t| format!("{} {}", t.version, t.leaf_key.as_deref().unwrap_or("?")))
        .collect::<Vec<_>>()
        .join(", ");
    let tls = if tls.is_empty() {
        String::new()
    } else {
        format!(" ({tls})")
    };
    let word = a.outcome.word();
    match &a.outcome {
        Outcome::Authenticated { matched } => {
            let _ = writeln!(
                out,
                "      {place}  {word}: {} at depth {}{tls}",
                matched.record, matched.depth
            );
        }
        Outcome::Mismatch {
            reason,
            misses,
            unusable,
        } => {
            let _ = writeln!(out, "      {place}  {word}{tls}");
            if let Some(why) = reason {
                let _ = writeln!(out, "        {}", text::escape(why));
            }
            for m in misses.iter().chain(unusable) {
                let _ = writeln!(out, "        {}: {}", m.record, text::escape(&m.reason));
            }
            for (depth, cert) in a.chain.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "        chain[{depth}] {} (issuer {}, until {}, SPKI SHA-256 {})",
                    text::escape(&cert.subject),
                    text::escape(&cert.issuer),
                    cert.not_after.as_deref().unwrap_or("?"),
                    cert.spki_sha256
                );
            }
        }
        Outcome::TlsRequired { unusable } => {
            let _ = writeln!(out, "      {place}  {word}{tls}");
            for m in unusable {
                let _ = writeln!(out, "        {}: {}", m.record, text::escape(&m.reason));
            }
        }
        Outcome::NoDane { .. } => {
            let _ = writeln!(out, "      {place}  {word}{tls}");
        }
        Outcome::StarttlsMissing => {
            let _ = writeln!(
                out,
                "      {place}  {word}: TLSA is published and the server offers no STARTTLS"
            );
        }
        Outcome::DnsFailure { reason } | Outcome::Unreachable { reason } => {
            let _ = writeln!(out, "      {place}  {word}: {}", text::escape(reason));
        }
    }
    for note in &a.notes {
        let _ = writeln!(out, "        note: {}", text::escape(note));
    }
}
