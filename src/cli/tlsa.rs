//! `danekit tlsa`: compute TLSA records from files, standard input or a live server.

use std::path::Path;

use anyhow::anyhow;
use clap::Args;
use serde::Serialize;

use super::output::{print_findings, print_json, write_stdout};
use super::{Context, Exit, Failure};
use crate::env::Env;
use crate::pki::{self, Input};
use crate::probe::{self, Starttls, Target};
use crate::report::{Finding, SCHEMA_VERSION};
use crate::tlsa::report::{self as tlsa_report, Record, Request};
use crate::tlsa::{CaChoice, Matching, ParamSet, Proto, Selector, Usage, owner_name};
use crate::zone::{self, ZoneRecord};

#[derive(Debug, Args)]
#[command(
    after_help = "Output formats (-o): rdata (default), zone, nsupdate, knotc, json.\n\
                  Examples:\n  \
                  danekit tlsa /etc/letsencrypt/live/mail/fullchain.pem --records '3 1 1,2 1 1'\n  \
                  danekit tlsa --server mail.example.org --starttls smtp -o zone\n  \
                  danekit tlsa next-key.pub --host mail.example.org -o nsupdate"
)]
pub struct TlsaArgs {
    /// Certificate, chain, private key, public key or CSR (PEM or DER); - for standard input
    #[arg(value_name = "INPUT")]
    inputs: Vec<String>,
    /// Fetch the chain that this server presents
    #[arg(long, value_name = "HOST[:PORT]")]
    server: Option<String>,
    /// STARTTLS dialogue before the handshake; default from the port (25/587 smtp, 143 imap, 110 pop3, else none)
    #[arg(long, value_name = "smtp|imap|pop3|none", requires = "server")]
    starttls: Option<String>,
    /// Server name to send in the TLS handshake (default: the server's host name)
    #[arg(long, value_name = "NAME", requires = "server")]
    sni: Option<String>,
    /// Certificate usage: 0-3 or PKIX-TA, PKIX-EE, DANE-TA, DANE-EE [default: 3]
    #[arg(short = 'u', long, value_name = "USAGE")]
    usage: Option<String>,
    /// Selector: 0/Cert or 1/SPKI [default: 1]
    #[arg(short = 's', long, value_name = "SELECTOR")]
    selector: Option<String>,
    /// Matching type: 0/Full, 1/SHA2-256 or 2/SHA2-512 [default: 1]
    #[arg(short = 'm', long, value_name = "MATCHING")]
    matching: Option<String>,
    /// Several parameter sets at once, e.g. "3 1 1,2 1 1"
    #[arg(long, value_name = "LIST", conflicts_with_all = ["usage", "selector", "matching"])]
    records: Option<String>,
    /// Issuer hashed by usages 0 and 2: N-th certificate after the leaf, or root [default: 1]
    #[arg(long, value_name = "N|root")]
    ca: Option<String>,
    /// Host of the owner name _PORT._PROTO.HOST. [default: the server's name, else the certificate's first DNS name]
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// Port of the owner name [default: the server's port, else 25]
    #[arg(long)]
    port: Option<u16>,
    /// Protocol of the owner name
    #[arg(long, default_value = "tcp", value_name = "tcp|udp|sctp")]
    proto: String,
    /// TTL of zone, nsupdate, knotc and JSON output
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    ttl: u32,
    /// Zone for knotc output [default: the host's parent domain]
    #[arg(long, value_name = "ZONE")]
    zone: Option<String>,
    /// Allow usages 0 and 1 on port 25
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Rdata,
    Zone,
    Nsupdate,
    Knotc,
    Json,
}

impl Format {
    fn parse(text: Option<&str>) -> Result<Self, Failure> {
        match text.unwrap_or("rdata") {
            "rdata" => Ok(Format::Rdata),
            "zone" => Ok(Format::Zone),
            "nsupdate" => Ok(Format::Nsupdate),
            "knotc" => Ok(Format::Knotc),
            "json" => Ok(Format::Json),
            other => Err(Failure::input(anyhow!(
                "-o {other}: tlsa writes rdata, zone, nsupdate, knotc or json"
            ))),
        }
    }

    fn needs_owner(self) -> bool {
        matches!(self, Format::Zone | Format::Nsupdate | Format::Knotc)
    }
}

fn parse_param_sets(args: &TlsaArgs) -> Result<Vec<ParamSet>, Failure> {
    let sets = match &args.records {
        Some(list) => {
            let sets = ParamSet::parse_list(list)
                .map_err(|e| Failure::input(anyhow!("--records {list:?}: {e}")))?;
            if sets.is_empty() {
                return Err(Failure::input(anyhow!("--records is empty")));
            }
            sets
        }
        None => {
            let usage = parse_field(&args.usage, "-u", Usage::DaneEe)?;
            let selector = parse_field(&args.selector, "-s", Selector::Spki)?;
            let matching = parse_field(&args.matching, "-m", Matching::Sha256)?;
            vec![ParamSet::new(usage, selector, matching)]
        }
    };
    sets.into_iter()
        .map(|p| p.check_assigned().map_err(Failure::input))
        .collect()
}

/// Parses one of `-u`, `-s`, `-m`, or gives its default.
fn parse_field<T>(value: &Option<String>, flag: &str, default: T) -> Result<T, Failure>
where
    T: std::str::FromStr<Err = crate::tlsa::ParseError>,
{
    match value {
        Some(s) => s
            .parse()
            .map_err(|e| Failure::input(anyhow!("{flag} {s}: {e}"))),
        None => Ok(default),
    }
}

fn parse_ca(text: Option<&str>) -> Result<CaChoice, Failure> {
    match text {
        None => Ok(CaChoice::Issuer),
        Some(t) if t.eq_ignore_ascii_case("root") => Ok(CaChoice::Root),
        Some(t) => match t.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(CaChoice::Index(n)),
            _ => Err(Failure::input(anyhow!(
                "--ca {t}: expected a number from 1 (the leaf's issuer) or root"
            ))),
        },
    }
}

/// Splits `HOST[:PORT]`, `[V6]:PORT` or a bare IPv6 address.
fn split_server(text: &str) -> Result<(String, Option<u16>), Failure> {
    let bad = |why: &str| Failure::input(anyhow!("--server {text:?}: {why}"));
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ]"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(
                p.parse()
                    .map_err(|_| bad("the port is not a number from 1 to 65535"))?,
            ),
            None if after.is_empty() => None,
            None => return Err(bad("expected :PORT after ]")),
        };
        return Ok((host.to_string(), port));
    }
    match text.matches(':').count() {
        0 => Ok((text.to_string(), None)),
        1 => {
            let (host, port) = text.split_once(':').ok_or_else(|| bad("bad port"))?;
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
            Ok((host.to_string(), Some(port)))
        }
        _ => Ok((text.to_string(), None)),
    }
    .and_then(|(host, port)| {
        if host.is_empty() {
            Err(bad("empty host"))
        } else {
            Ok((host, port))
        }
    })
}

fn read_inputs(args: &TlsaArgs, env: &mut dyn Env) -> Result<Vec<Input>, Failure> {
    let mut inputs = Vec::new();
    let mut stdin: Option<Vec<u8>> = None;
    for name in &args.inputs {
        let bytes = if name == "-" {
            if stdin.is_none() {
                stdin =
                    Some(env.read_stdin().map_err(|e| {
                        Failure::input(anyhow!("-: cannot read standard input: {e}"))
                    })?);
            }
            stdin.clone().unwrap_or_default()
        } else {
            std::fs::read(Path::new(name))
                .map_err(|e| Failure::input(anyhow!("{name}: cannot read: {e}")))?
        };
        inputs.push(pki::parse_input(name, &bytes).map_err(Failure::input)?);
    }
    Ok(inputs)
}

struct ServerTarget {
    host: String,
    port: u16,
}

fn fetch_server(
    args: &TlsaArgs,
    ctx: &Context,
    env: &mut dyn Env,
) -> Result<Option<(Input, ServerTarget)>, Failure> {
    let Some(server) = &args.server else {
        return Ok(None);
    };
    let (host, port) = split_server(server)?;
    let starttls = match &args.starttls {
        Some(s) => s.parse::<Starttls>().map_err(|_| {
            Failure::input(anyhow!("--starttls {s}: expected smtp, imap, pop3 or none"))
        })?,
        None => Starttls::default_for_port(port.unwrap_or(25)),
    };
    let port = port.unwrap_or(match starttls {
        Starttls::Smtp => 25,
        Starttls::Imap => 143,
        Starttls::Pop3 => 110,
        Starttls::None => 443,
    });
    let target = Target {
        host: host.clone(),
        port,
        starttls,
        sni: args.sni.clone(),
        timeout: ctx.timeout,
    };
    if ctx.verbose {
        let _ = writeln!(env.stderr(), "probing {host}:{port} (starttls {starttls})");
    }
    let presented = probe::probe_chain(&*env, &target).map_err(|e| {
        if e.is_input_error() {
            Failure::input(e)
        } else {
            Failure::no_verdict(e)
        }
    })?;
    let peer = format!("{}:{}", display_host(&host), port);
    if ctx.verbose {
        let _ = writeln!(
            env.stderr(),
            "{peer} ({}): {} {}, {} certificate(s)",
            presented.peer,
            presented.tls_version,
            presented.cipher_suite,
            presented.chain.len()
        );
    }
    let input = pki::parse_presented(&peer, &presented.chain).map_err(Failure::no_verdict)?;
    Ok(Some((input, ServerTarget { host, port })))
}

fn display_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

fn is_ip(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

/// The host of the owner name: `--host`, else the server's name, else the first DNS name of
/// the first certificate that has one (reported, so that an operator can check it).
fn choose_host(
    args: &TlsaArgs,
    server: Option<&ServerTarget>,
    inputs: &[Input],
    findings: &mut Vec<Finding>,
) -> Option<String> {
    if let Some(h) = &args.host {
        return Some(h.clone());
    }
    if let Some(s) = server
        && !is_ip(&s.host)
    {
        return Some(s.host.clone());
    }
    for input in inputs {
        if let Some(leaf) = input.leaf()
            && let Some(name) = leaf.dns_names.iter().find(|n| !n.starts_with("*."))
        {
            findings.push(Finding::warning(
                "owner-from-certificate",
                input.name.clone(),
                format!(
                    "owner host taken from the certificate's first non-wildcard DNS name, \
                     {name}; give --host to choose another"
                ),
            ));
            return Some(name.clone());
        }
    }
    None
}

pub fn run(args: &TlsaArgs, ctx: &Context, env: &mut dyn Env) -> Result<Exit, Failure> {
    let format = Format::parse(ctx.output.as_deref())?;
    let params = parse_param_sets(args)?;
    let ca = parse_ca(args.ca.as_deref())?;
    let proto: Proto = args.proto.parse().map_err(Failure::input)?;
    if args.inputs.is_empty() && args.server.is_none() {
        return Err(Failure::input(anyhow!(
            "nothing to compute from: give a certificate, key or CSR file, - for standard input, or --server HOST"
        )));
    }
    let mut inputs = read_inputs(args, env)?;
    let server_target = match fetch_server(args, ctx, env)? {
        Some((input, target)) => {
            inputs.push(input);
            Some(target)
        }
        None => None,
    };
    let port = args
        .port
        .or(server_target.as_ref().map(|t| t.port))
        .unwrap_or(25);

    let mut owner_findings = Vec::new();
    let wants_owner = format.needs_owner() || format == Format::Json;
    let host = if wants_owner {
        choose_host(args, server_target.as_ref(), &inputs, &mut owner_findings)
    } else {
        args.host.clone()
    };
    let owner = host
        .as_deref()
        .map(|h| owner_name(port, proto, h))
        .transpose()
        .map_err(Failure::input)?;
    if format.needs_owner() && owner.is_none() {
        return Err(Failure::input(anyhow!(
            "-o {}: an owner name is needed and no certificate names a host; give --host",
            ctx.output.as_deref().unwrap_or_default()
        )));
    }

    let request = Request {
        params,
        ca,
        owner: owner.clone(),
        port,
        ttl: args.ttl,
        force: args.force,
        now: ctx.now,
    };
    let mut report = tlsa_report::build(&inputs, &request).map_err(Failure::input)?;
    report.findings.splice(0..0, owner_findings);

    let zone_records = || -> Vec<ZoneRecord> {
        zone::dedup(
            &report
                .records
                .iter()
                .map(|r| ZoneRecord {
                    owner: r.owner.clone().unwrap_or_default(),
                    ttl: r.ttl,
                    rdata: r.rdata.clone(),
                })
                .collect::<Vec<_>>(),
        )
    };
    match format {
        Format::Json => print_json(env, &JsonReport::new(&report))?,
        Format::Rdata => {
            print_findings(env, ctx, &report.findings);
            let text: String = report
                .records
                .iter()
                .map(|r| format!("{}\n", r.rdata))
                .collect();
            write_stdout(env, &text)?;
        }
        Format::Zone => {
            print_findings(env, ctx, &report.findings);
            write_stdout(env, &zone::render_zone(&zone_records()))?;
        }
        Format::Nsupdate => {
            print_findings(env, ctx, &report.findings);
            write_stdout(env, &zone::render_nsupdate_add(&zone_records()))?;
        }
        Format::Knotc => {
            let zone_name = match &args.zone {
                Some(z) => normalise_zone(z),
                None => parent_zone(host.as_deref().unwrap_or_default()).ok_or_else(|| {
                    Failure::input(anyhow!(
                        "-o knotc: cannot tell the zone of {host:?}; give --zone"
                    ))
                })?,
            };
            print_findings(env, ctx, &report.findings);
            write_stdout(env, &zone::render_knotc(&zone_name, &zone_records()))?;
        }
    }
    Ok(Exit::Ok)
}

fn normalise_zone(z: &str) -> String {
    let z = z.trim_end_matches('.').to_ascii_lowercase();
    format!("{z}.")
}

/// `mail.example.org` → `example.org.`; a single-label host has no parent to guess.
fn parent_zone(host: &str) -> Option<String> {
    let trimmed = host.trim_end_matches('.');
    let (_, parent) = trimmed.split_once('.')?;
    Some(normalise_zone(parent))
}

#[derive(Serialize)]
struct JsonRecord<'a> {
    owner: Option<&'a str>,
    ttl: u32,
    usage: u8,
    selector: u8,
    matching_type: u8,
    data: String,
    source: &'a str,
    depth: usize,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    verdict: &'static str,
    records: Vec<JsonRecord<'a>>,
    findings: &'a [Finding],
}

impl<'a> JsonReport<'a> {
    fn new(report: &'a tlsa_report::Report) -> Self {
        JsonReport {
            schema_version: SCHEMA_VERSION,
            verdict: "ok",
            records: report.records.iter().map(JsonRecord::new).collect(),
            findings: &report.findings,
        }
    }
}

impl<'a> JsonRecord<'a> {
    fn new(r: &'a Record) -> Self {
        JsonRecord {
            owner: r.owner.as_deref(),
            ttl: r.ttl,
            usage: r.rdata.params.usage.into(),
            selector: r.rdata.params.selector.into(),
            matching_type: r.rdata.params.matching.into(),
            data: r.rdata.data_hex(),
            source: &r.source,
            depth: r.depth,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_specs() {
        assert_eq!(
            split_server("mail.example.org").ok().unwrap(),
            ("mail.example.org".into(), None)
        );
        assert_eq!(
            split_server("127.0.0.1:2525").ok().unwrap(),
            ("127.0.0.1".into(), Some(2525))
        );
        assert_eq!(
            split_server("[::1]:25").ok().unwrap(),
            ("::1".into(), Some(25))
        );
        assert_eq!(split_server("::1").ok().unwrap(), ("::1".into(), None));
        assert!(split_server("host:0").is_err());
        assert!(split_server("host:smtp").is_err());
        assert!(split_server(":25").is_err());
        assert!(split_server("[::1").is_err());
    }

    #[test]
    fn zones() {
        assert_eq!(
            parent_zone("mail.Example.org.").as_deref(),
            Some("example.org.")
        );
        assert_eq!(parent_zone("localhost"), None);
        assert_eq!(normalise_zone("Example.ORG"), "example.org.");
    }
}
