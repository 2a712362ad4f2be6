//! `danekit tlsa`: compute TLSA records from files, standard input or a live server.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use hickory_proto::rr::Name;

use super::output::{output_format, print_findings, print_json, verbose, write_stdout};
use super::{Context, Exit, Failure, args};
use crate::addr::{HostPort, name_text};
use crate::env::{self, Env, MAX_INPUT_BYTES, ReadError};
use crate::pki::{self, Input};
use crate::probe::{self, FetchError, KeyType, ProbeError, Starttls, Target};
use crate::report::Finding;
use crate::text;
use crate::tlsa::report::{self as tlsa_report, ReportError, Request};
use crate::tlsa::{
    CaChoice, ComputeError, Matching, ParamSet, Proto, Selector, Usage, choose_host, owner_name,
};
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
    inputs: Vec<OsString>,
    /// Fetch the chains this server presents
    #[arg(long, value_name = "HOST[:PORT]")]
    server: Option<HostPort>,
    /// STARTTLS dialogue before the handshake [default: from the port: 25/587 smtp, 143 imap, 110 pop3, else none]
    #[arg(long, value_enum, requires = "server")]
    starttls: Option<Starttls>,
    /// Server name to send in the TLS handshake [default: --host, else the server's name]
    #[arg(long, value_name = "NAME", requires = "server")]
    sni: Option<String>,
    /// Key types to ask the server for, one handshake each
    #[arg(long, value_enum, default_value = "all", requires = "server")]
    key_type: KeyTypeChoice,
    /// Name to send in SMTP EHLO [default: this machine's fully qualified name, else its address literal]
    #[arg(long, value_name = "NAME", requires = "server", value_parser = args::ehlo)]
    ehlo: Option<String>,
    /// Time limit for the server's greeting (greeting delays are an anti-spam measure)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = args::duration)]
    greeting_timeout: Duration,
    /// Certificate usage: 0-3 or PKIX-TA, PKIX-EE, DANE-TA, DANE-EE [default: 3]
    #[arg(short = 'u', long, value_name = "USAGE", value_parser = args::usage)]
    usage: Option<Usage>,
    /// Selector: 0/Cert or 1/SPKI [default: 1]
    #[arg(short = 's', long, value_name = "SELECTOR", value_parser = args::selector)]
    selector: Option<Selector>,
    /// Matching type: 0/Full, 1/SHA2-256 or 2/SHA2-512 [default: 1]
    #[arg(short = 'm', long, value_name = "MATCHING", value_parser = args::matching)]
    matching: Option<Matching>,
    /// Several parameter sets at once, e.g. "3 1 1,2 1 1"
    #[arg(long, value_name = "LIST", value_parser = args::records,
          conflicts_with_all = ["usage", "selector", "matching"])]
    records: Option<args::ParamList>,
    /// Issuer hashed by usages 0 and 2: N-th certificate after the leaf, or root [default: 1]
    #[arg(long, value_name = "N|root")]
    ca: Option<CaChoice>,
    /// Host of the owner name _PORT._PROTO.HOST. [default: the server's name, else the certificate's first DNS name]
    #[arg(long, value_name = "NAME", value_parser = args::host)]
    host: Option<Name>,
    /// Port of the owner name [default: the server's port, else 25]
    #[arg(long, value_parser = args::port)]
    port: Option<u16>,
    /// Protocol of the owner name
    #[arg(long, value_enum, default_value = "tcp")]
    proto: Proto,
    /// TTL of zone, nsupdate, knotc and JSON output (at most 2147483647)
    #[arg(long, default_value = "3600", value_name = "SECONDS", value_parser = args::ttl)]
    ttl: u32,
    /// Zone for knotc output [default: the host's parent domain]
    #[arg(long, value_name = "ZONE", value_parser = args::host)]
    zone: Option<Name>,
    /// Allow usages 0 and 1 on port 25
    #[arg(long)]
    force: bool,
}

/// `--key-type`: one key type, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KeyTypeChoice {
    Ecdsa,
    Rsa,
    Ed25519,
    All,
}

impl KeyTypeChoice {
    fn types(self) -> Vec<KeyType> {
        match self {
            KeyTypeChoice::Ecdsa => vec![KeyType::Ecdsa],
            KeyTypeChoice::Rsa => vec![KeyType::Rsa],
            KeyTypeChoice::Ed25519 => vec![KeyType::Ed25519],
            KeyTypeChoice::All => KeyType::ALL.to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Rdata,
    Zone,
    Nsupdate,
    Knotc,
    Json,
}

impl Format {
    fn parse(text: Option<&str>) -> Result<Self, Failure> {
        output_format(text, "tlsa")
    }

    fn needs_owner(self) -> bool {
        matches!(self, Format::Zone | Format::Nsupdate | Format::Knotc)
    }
}

fn param_sets(args: &TlsaArgs) -> Vec<ParamSet> {
    match &args.records {
        Some(sets) => sets.0.clone(),
        None => vec![ParamSet::new(
            args.usage.unwrap_or(Usage::DaneEe),
            args.selector.unwrap_or(Selector::Spki),
            args.matching.unwrap_or(Matching::Sha256),
        )],
    }
}

/// The display name of an input file, escaped; not-UTF-8 bytes are shown as `\x{NN}`.
fn input_name(name: &OsString) -> String {
    text::escape_bytes(name.as_encoded_bytes())
}

fn read_inputs(args: &TlsaArgs, env: &mut dyn Env) -> Result<Vec<Input>, Failure> {
    let mut inputs = Vec::new();
    let mut stdin: Option<Vec<u8>> = None;
    for raw in &args.inputs {
        let name = input_name(raw);
        let bytes = if raw == "-" {
            if stdin.is_none() {
                stdin = Some(
                    env.read_stdin(MAX_INPUT_BYTES)
                        .map_err(|e| read_failure(&name, e))?,
                );
            }
            stdin.clone().unwrap_or_default()
        } else {
            inputs.push(read_one(raw, env)?);
            continue;
        };
        inputs.push(pki::parse_input(&name, &bytes).map_err(Failure::input)?);
    }
    Ok(inputs)
}

/// Reads and parses one input: a file, or `-` for standard input.
pub(super) fn read_one(raw: &OsString, env: &mut dyn Env) -> Result<Input, Failure> {
    let name = input_name(raw);
    let bytes = if raw == "-" {
        env.read_stdin(MAX_INPUT_BYTES)
    } else {
        env::read_file(Path::new(raw), MAX_INPUT_BYTES)
    }
    .map_err(|e| read_failure(&name, e))?;
    pki::parse_input(&name, &bytes).map_err(Failure::input)
}

fn read_failure(name: &str, e: ReadError) -> Failure {
    match e {
        ReadError::TooLarge { .. } => Failure::input(anyhow!("{name}: {e}")),
        ReadError::Io(io) => Failure::input(anyhow!("{name}: cannot read: {io}")),
    }
}

/// The server's chains, fetched and read, with the SNI decision's warnings.
struct Server {
    inputs: Vec<Input>,
    findings: Vec<Finding>,
    hostport: HostPort,
    port: u16,
}

fn fetch_server(
    args: &TlsaArgs,
    ctx: &Context,
    env: &mut dyn Env,
) -> Result<Option<Server>, Failure> {
    let Some(hostport) = &args.server else {
        return Ok(None);
    };
    let starttls = args
        .starttls
        .unwrap_or_else(|| Starttls::default_for_port(hostport.port.unwrap_or(25)));
    let port = hostport.port.unwrap_or(starttls.default_port());
    let (sni, findings) = probe::choose_sni(
        args.sni.as_deref(),
        args.host.as_ref(),
        &hostport.host,
        port,
    )
    .map_err(|e| Failure::input(with_hint(anyhow!(e), "--sni")))?;
    let ehlo = args.ehlo.clone().or_else(|| {
        env.fqdn()
            .and_then(|name| args::ehlo(&name).ok())
            .filter(|name| !name.starts_with('['))
    });
    let target = Target {
        host: hostport.host.clone(),
        port,
        starttls,
        sni,
        ehlo,
        timeout: ctx.timeout,
        greeting_timeout: args.greeting_timeout,
    };
    let shown = hostport.display_with(port);
    verbose(
        env,
        ctx,
        &format!(
            "probing {shown} (starttls {starttls}, {}, key types {})",
            probe::SniShown(target.sni.as_ref().map(|n| n.as_ref().to_owned())),
            args.key_type
                .types()
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let fetched =
        probe::fetch_inputs(env.net(), &target, &args.key_type.types()).map_err(|e| match e {
            FetchError::Probe(p) => probe_failure(p),
            FetchError::Pki(p) => Failure::no_verdict(p),
        })?;
    for p in &fetched.presented {
        verbose(
            env,
            ctx,
            &format!(
                "{shown} ({}): {} {} {}, {} certificate(s)",
                p.peer,
                p.key_type,
                p.tls_version,
                p.cipher_suite,
                p.chain.len()
            ),
        );
    }
    for (key_type, error) in &fetched.failures {
        verbose(env, ctx, &format!("no {key_type} chain: {error}"));
    }
    let mut findings = findings;
    findings.extend(fetched.findings);
    Ok(Some(Server {
        inputs: fetched.inputs,
        findings,
        hostport: hostport.clone(),
        port,
    }))
}

/// A probe error as a failure: input errors exit 2, the rest 3, with the flag that helps.
fn probe_failure(e: ProbeError) -> Failure {
    let hint = match &e {
        ProbeError::EhloRejected { .. } => Some("give --ehlo with a name the server accepts"),
        ProbeError::PlainText {
            suggested: Some(Starttls::Smtp),
            ..
        } => Some("try --starttls smtp"),
        ProbeError::PlainText {
            suggested: Some(Starttls::Imap),
            ..
        } => Some("try --starttls imap"),
        ProbeError::PlainText {
            suggested: Some(Starttls::Pop3),
            ..
        } => Some("try --starttls pop3"),
        ProbeError::Timeout {
            step: probe::Step::Greeting,
            ..
        } => Some("a server that delays its greeting needs a longer --greeting-timeout"),
        _ => None,
    };
    let input = e.is_input_error();
    let error = match hint {
        Some(h) => anyhow!("{e}; {h}"),
        None => anyhow!(e),
    };
    if input {
        Failure::input(error)
    } else {
        Failure::no_verdict(error)
    }
}

fn with_hint(e: anyhow::Error, flag: &str) -> anyhow::Error {
    anyhow!("{flag}: {e}")
}

/// Flags that help with a library error, named here because the library does not know them.
fn report_failure(e: ReportError) -> Failure {
    let hint = match &e {
        ReportError::PkixOnSmtp { .. } => "; --force publishes them anyway",
        ReportError::Compute {
            error: ComputeError::NoSuchCa { .. } | ComputeError::LoneCaIndex { .. },
            ..
        } => " (--ca)",
        _ => "",
    };
    Failure::input(anyhow!("{e}{hint}"))
}

pub fn run(args: &TlsaArgs, ctx: &Context, env: &mut dyn Env) -> Result<Exit, Failure> {
    let format = Format::parse(ctx.output.as_deref())?;
    let params = param_sets(args);
    if args.inputs.is_empty() && args.server.is_none() {
        return Err(Failure::input(anyhow!(
            "nothing to compute from: give a certificate, key or CSR file, - for standard input, or --server HOST"
        )));
    }
    let mut inputs = read_inputs(args, env)?;
    let mut findings = Vec::new();
    let server = fetch_server(args, ctx, env)?;
    if let Some(s) = &server {
        inputs.extend(s.inputs.iter().cloned());
        findings.extend(s.findings.iter().cloned());
    }
    let port = args.port.or(server.as_ref().map(|s| s.port)).unwrap_or(25);

    // rdata has no owner; the other formats take it from --host, the server or a certificate.
    let (host, owner_findings) = if format.needs_owner() || format == Format::Json {
        choose_host(
            args.host.as_ref(),
            server.as_ref().map(|s| &s.hostport.host),
            &inputs,
        )
    } else {
        (args.host.clone(), Vec::new())
    };
    findings.extend(owner_findings);
    let owner = host
        .as_ref()
        .map(|h| owner_name(port, args.proto, h))
        .transpose()
        .map_err(Failure::input)?;
    let owner = match (owner, format.needs_owner()) {
        (Some(o), _) => Some(o),
        (None, false) => None,
        (None, true) => {
            let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(Failure::input(anyhow!(
                "{}: no host name for the owner name (no certificate names a valid host); \
                 give --host",
                names.join(", ")
            )));
        }
    };

    let request = Request {
        params,
        ca: args.ca.unwrap_or_default(),
        owner: owner.clone(),
        port,
        ttl: args.ttl,
        force: args.force,
        now: ctx.now,
    };
    let mut report = tlsa_report::build(&inputs, &request).map_err(report_failure)?;
    report.findings.splice(0..0, findings);
    for f in &mut report.findings {
        if f.code == "owner-from-certificate" || f.code == "no-sni" {
            f.message.push_str(" (--host NAME)");
        }
    }

    let zone_records = || -> Vec<ZoneRecord> {
        zone::dedup(
            &report
                .records
                .iter()
                .filter_map(|r| {
                    r.owner.as_ref().map(|owner| ZoneRecord {
                        owner: owner.clone(),
                        ttl: r.ttl,
                        rdata: r.rdata.clone(),
                    })
                })
                .collect::<Vec<_>>(),
        )
    };
    match format {
        Format::Json => print_json(env, &report.to_document())?,
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
            let zone_name = knotc_zone(args.zone.as_ref(), host.as_ref(), owner.as_ref())?;
            print_findings(env, ctx, &report.findings);
            write_stdout(env, &zone::render_knotc(&zone_name, &zone_records()))?;
        }
    }
    Ok(Exit::Ok)
}

/// The zone of a knotc transaction: `--zone`, which must contain the owner, else the host's
/// parent domain.
fn knotc_zone(
    zone: Option<&Name>,
    host: Option<&Name>,
    owner: Option<&Name>,
) -> Result<Name, Failure> {
    let zone = match (zone, host) {
        (Some(z), _) => z.clone(),
        (None, Some(h)) if h.num_labels() >= 2 => h.base_name(),
        (None, h) => {
            return Err(Failure::input(anyhow!(
                "cannot tell the zone of {}; give --zone",
                h.map(name_text).unwrap_or_else(|| "the owner".into())
            )));
        }
    };
    if let Some(owner) = owner
        && !zone.zone_of(owner)
    {
        return Err(Failure::input(anyhow!(
            "--zone {}: the owner {} is not in that zone",
            name_text(&zone),
            name_text(owner)
        )));
    }
    Ok(zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        crate::addr::parse_host_name(s).unwrap()
    }

    #[test]
    fn knotc_zones() {
        let owner = owner_name(25, Proto::Tcp, &name("mail.example.org")).unwrap();
        let z = knotc_zone(None, Some(&name("mail.Example.org")), Some(&owner)).unwrap();
        assert_eq!(name_text(&z), "example.org.");
        let z = knotc_zone(Some(&name("org")), None, Some(&owner)).unwrap();
        assert_eq!(name_text(&z), "org.");
        assert!(knotc_zone(Some(&name("example.net")), None, Some(&owner)).is_err());
        assert!(knotc_zone(None, Some(&name("localhost")), None).is_err());
    }
}
