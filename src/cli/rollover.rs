//! `danekit rollover`: `check` (is it safe to swap the certificate now?), `plan` (the steps
//! and when), `next-key` (a new key, its CSR and the record to pre-publish).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use hickory_proto::rr::{Name, RecordType};
use serde::{Deserialize, Serialize};

use super::dnssec::anchors;
use super::output::{output_format, print_findings, print_json, write_stdout};
use super::{Context, Exit, Failure, args, resolvers};
use crate::addr::{Host, HostPort, name_text};
use crate::config::{self, Service, ServiceFile};
use crate::dns::client::Client;
use crate::dnssec::{Limits, Validator};
use crate::env::{self, Env, MAX_INPUT_BYTES};
use crate::pki::{self, Loaded};
use crate::report::{Finding, SCHEMA_VERSION};
use crate::rollover::clock::State;
use crate::rollover::coverage::{Next, next_records};
use crate::rollover::issuers::{self, Family};
use crate::rollover::observe::{self, Observation};
use crate::rollover::plan::{Fragment, PlanInput, Step, steps};
use crate::rollover::{Published, Safety, ServiceInput, ServiceReport, judge};
use crate::time::Timestamp;
use crate::tlsa::{ParamSet, Proto, Rdata, owner_name};

#[derive(Debug, Args)]
pub struct RolloverArgs {
    #[command(subcommand)]
    command: RolloverCommand,
}

#[derive(Debug, Subcommand)]
enum RolloverCommand {
    /// Is it safe to replace each certificate by its next one now? Exit 0 safe, 1 not yet, 3 cannot tell
    Check(CheckArgs),
    /// The steps from the published records to the swapped ones, each with its DNS change and earliest time
    Plan(PlanArgs),
    /// Make the next key and a CSR for a host, and print the record to pre-publish
    NextKey(NextKeyArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Output formats (-o): text (default), json, openmetrics.\n\
                  Examples:\n  \
                  danekit rollover check services.yaml --state /var/lib/danekit/rollover.json\n  \
                  danekit rollover check services.yaml --nameserver 192.0.2.53 --nameserver [2001:db8::53]:53"
)]
struct CheckArgs {
    /// The services file (the one `danekit zone` reads)
    #[arg(value_name = "SERVICES.yaml")]
    services: PathBuf,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct Common {
    /// The TTL clock: when each record was first seen on every nameserver (JSON, written atomically)
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Ask these authoritative servers instead of the zone's NS RRset (repeatable; a hidden primary, a lab)
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = nameserver)]
    nameserver: Vec<HostPort>,
    /// Issuer certificates a CA may use interchangeably (PEM; repeatable), besides the built-in Let's Encrypt sets
    #[arg(long, value_name = "FILE")]
    issuers: Vec<OsString>,
}

#[derive(Debug, Args)]
#[command(after_help = "Output formats (-o): text (default), json.")]
struct PlanArgs {
    #[arg(value_name = "SERVICES.yaml")]
    services: PathBuf,
    #[command(flatten)]
    common: Common,
    /// How each step's DNS change is written
    #[arg(long, value_enum, default_value = "zone")]
    fragment: Fragment,
}

#[derive(Debug, Args)]
struct NextKeyArgs {
    #[arg(value_name = "SERVICES.yaml")]
    services: PathBuf,
    /// The service host to make the key for, as in the services file (relative to its zone without a final dot)
    #[arg(long, value_name = "NAME", value_parser = host_text)]
    host: String,
    /// The type of a new key
    #[arg(long, value_enum, default_value = "p256", conflicts_with = "key")]
    key_type: KeyType,
    /// Use this existing private key (PEM, PKCS#8; RSA, EC or Ed25519) instead of making one
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Where to write the key and the CSR [default: beside the services file]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KeyType {
    P256,
    P384,
    Ed25519,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// A host name as given, checked as one.
fn host_text(text: &str) -> Result<String, String> {
    args::host(text).map(|_| text.to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CheckFormat {
    Text,
    Json,
    Openmetrics,
}

fn nameserver(text: &str) -> Result<HostPort, String> {
    let hp: HostPort = text
        .parse()
        .map_err(|e: crate::addr::HostPortError| e.to_string())?;
    match hp.host {
        Host::Ip(_) => Ok(hp),
        Host::Name(_) => Err("give the server's address".into()),
    }
}

/// The document of `rollover check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDocument {
    pub schema_version: u32,
    pub verdict: Safety,
    /// When every unsafe service becomes safe by waiting alone; `null` otherwise.
    pub safe_after: Option<Timestamp>,
    pub services: Vec<ServiceReport>,
    pub findings: Vec<Finding>,
}

/// The document of `rollover plan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDocument {
    pub schema_version: u32,
    pub verdict: Safety,
    pub steps: Vec<Step>,
    pub services: Vec<ServiceReport>,
    pub findings: Vec<Finding>,
}

pub fn run(args: &RolloverArgs, ctx: &Context, env: &mut dyn Env) -> Result<Exit, Failure> {
    match &args.command {
        RolloverCommand::Check(a) => check(a, ctx, env),
        RolloverCommand::Plan(a) => plan_cmd(a, ctx, env),
        RolloverCommand::NextKey(a) => super::next_key::run(
            &a.services,
            &a.host,
            a.key.as_deref(),
            match a.key_type {
                KeyType::P256 => super::next_key::NewKey::P256,
                KeyType::P384 => super::next_key::NewKey::P384,
                KeyType::Ed25519 => super::next_key::NewKey::Ed25519,
            },
            a.out.as_deref(),
            ctx,
            env,
        ),
    }
}

/// One service port, judged, with what the plan needs.
struct Judged {
    report: ServiceReport,
    owner: Name,
    zone: Option<Name>,
    ttl: u32,
    current: Vec<Rdata>,
    next: Vec<Rdata>,
    published: Vec<Rdata>,
    wait: u32,
}

/// Everything `check` and `plan` share: read the inputs, observe DNS, judge, keep the clock.
fn assess(
    common: &Common,
    services: &Path,
    ctx: &Context,
    env: &mut dyn Env,
) -> Result<(Vec<Judged>, Vec<Finding>), Failure> {
    let file = config::load(services).map_err(Failure::input)?;
    let mut state = match &common.state {
        Some(path) => load_state(path)?,
        None => State::new(),
    };
    let mut families = issuers::builtin();
    for raw in &common.issuers {
        let input = super::tlsa::read_one(raw, env)?;
        match &input.loaded {
            Loaded::Chain(certs) => families.extend(issuers::from_certificates(&input.name, certs)),
            Loaded::Key { .. } => {
                return Err(Failure::input(anyhow::anyhow!(
                    "{}: issuer files hold certificates, not keys",
                    input.name
                )));
            }
        }
    }
    let anchors = anchors(ctx)?;
    let servers = resolvers(ctx, env)?;
    let given: Vec<(String, SocketAddr)> = common
        .nameserver
        .iter()
        .filter_map(|hp| match hp.host {
            Host::Ip(ip) => {
                let addr = SocketAddr::new(ip, hp.port.unwrap_or(53));
                Some((addr.to_string(), addr))
            }
            Host::Name(_) => None,
        })
        .collect();
    let net = env.net();
    let client = Client::new(net, servers, ctx.timeout);
    let validator = Validator::new(&client, &anchors, ctx.now, Limits::default());
    let mut discovered: HashMap<Name, Result<Vec<(String, SocketAddr)>, String>> = HashMap::new();
    let mut findings = Vec::new();
    let mut judged = Vec::new();
    for service in &file.services {
        for &port in &service.ports {
            let owner = owner_name(port, service.proto, &service.host).map_err(|e| {
                Failure::input(anyhow::anyhow!(
                    "{}: {}: {e}",
                    file.name,
                    name_text(&service.host)
                ))
            })?;
            let zone = match &file.zone {
                Some(z) => z.clone(),
                None => zone_of(&validator, &owner),
            };
            let ns = if given.is_empty() {
                discovered
                    .entry(zone.clone())
                    .or_insert_with(|| observe::nameservers(&validator, &zone))
                    .clone()
            } else {
                Ok(given.clone())
            };
            let ns_list = match &ns {
                Ok(list) => list.clone(),
                Err(why) => {
                    findings.push(Finding::warning(
                        "nameservers-unknown",
                        name_text(&zone),
                        why.clone(),
                    ));
                    Vec::new()
                }
            };
            let obs = observe::observe(
                net,
                &client,
                &anchors,
                ctx.now,
                ctx.timeout,
                &zone,
                &owner,
                &ns_list,
            );
            let owner_text = name_text(&owner);
            state.observe(
                &owner_text,
                obs.served.as_ref().map(|(r, t)| (&r[..], *t)),
                ctx.now,
            );
            judged.push(judge_one(
                &file,
                service,
                port,
                &owner,
                &zone,
                &obs,
                ns.is_err(),
                &state,
                &families,
                ctx.now,
            ));
        }
    }
    if let Some(path) = &common.state {
        let text = serde_json::to_string_pretty(&state)
            .map_err(|e| Failure::input(anyhow::anyhow!("cannot encode the state: {e}")))?;
        env::write_atomic(path, format!("{text}\n").as_bytes()).map_err(|e| {
            Failure::input(anyhow::anyhow!(
                "{}: cannot write the state: {e}",
                path.display()
            ))
        })?;
    }
    Ok((judged, findings))
}

/// The zone of an owner name: the zone whose keys signed its TLSA RRset (or its denial).
fn zone_of(validator: &Validator<'_>, owner: &Name) -> Name {
    let reports = validator.validate(owner, RecordType::TLSA);
    reports
        .last()
        .and_then(|r| r.chain.last())
        .and_then(|link| Name::from_ascii(&link.zone).ok())
        .unwrap_or_else(|| owner.base_name())
}

#[allow(clippy::too_many_arguments)]
fn judge_one(
    file: &ServiceFile,
    service: &Service,
    port: u16,
    owner: &Name,
    zone: &Name,
    obs: &Observation,
    no_nameservers: bool,
    state: &State,
    families: &[Family],
    now: Timestamp,
) -> Judged {
    let current: Vec<pki::Certificate> = match &service.cert.loaded {
        Loaded::Chain(chain) => chain[..service.cert.path_len.clamp(1, chain.len())].to_vec(),
        Loaded::Key { .. } => Vec::new(),
    };
    let next = service.next.as_ref().map(|n| match &n.loaded {
        Loaded::Chain(chain) => Next::Chain(&chain[..n.path_len.clamp(1, chain.len())]),
        Loaded::Key { spki, info, .. } => Next::Key {
            spki,
            family: pki::KeyFamily::of(info),
        },
    });
    let input = ServiceInput {
        host: name_text(&service.host),
        port,
        owner: name_text(owner),
        current: &current,
        next,
        published: obs.published.clone(),
        nameservers: obs.nameservers.clone(),
        negative_ttl: obs.negative_ttl,
        smtp: matches!(port, 25 | 465 | 587) && service.proto == Proto::Tcp,
    };
    let mut report = judge(&input, state, families, now);
    if no_nameservers {
        report.findings.push(Finding::warning(
            "nameservers-not-asked",
            name_text(zone),
            "no authoritative server could be asked: only the resolvers' view was judged",
        ));
    }
    let params: &[ParamSet] = service.records.as_deref().unwrap_or(&file.records);
    let current_records = crate::rollover::coverage::next_records(Next::Chain(&current), params);
    let next_recs = next.map(|n| next_records(n, params)).unwrap_or_default();
    let published = match &obs.published {
        Published::Secure { records, .. } => records.clone(),
        _ => Vec::new(),
    };
    let ttl = service.ttl.unwrap_or(file.ttl);
    let served_ttl = obs.served.as_ref().map_or(ttl, |(_, t)| (*t).max(ttl));
    // A name that has a TLSA RRset is cached as that RRset, never as a denial: only the TTL
    // counts. A new name may be cached as absent for the negative TTL (RFC 2308).
    let wait = 2 * if published.is_empty() {
        served_ttl.max(obs.negative_ttl)
    } else {
        served_ttl
    };
    Judged {
        report,
        owner: owner.clone(),
        zone: Some(zone.clone()),
        ttl,
        current: current_records,
        next: next_recs,
        published,
        wait,
    }
}

fn load_state(path: &Path) -> Result<State, Failure> {
    match env::read_file(path, MAX_INPUT_BYTES) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Failure::input(anyhow::anyhow!(
                "{}:{}:{}: not a rollover state file: {e}",
                path.display(),
                e.line(),
                e.column()
            ))
        }),
        Err(env::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::new()),
        Err(e) => Err(Failure::input(anyhow::anyhow!("{}: {e}", path.display()))),
    }
}

fn overall(reports: &[&ServiceReport]) -> (Safety, Option<Timestamp>) {
    let verdict = reports
        .iter()
        .map(|r| r.verdict)
        .max()
        .unwrap_or(Safety::Safe);
    let waitable = verdict == Safety::Unsafe
        && reports
            .iter()
            .all(|r| r.verdict == Safety::Safe || r.safe_after.is_some());
    let safe_after = waitable
        .then(|| reports.iter().filter_map(|r| r.safe_after).max())
        .flatten();
    (verdict, safe_after)
}

fn exit_of(verdict: Safety) -> Exit {
    match verdict {
        Safety::Safe => Exit::Ok,
        Safety::Unsafe => Exit::CheckFailed,
        Safety::Indeterminate => Exit::NoVerdict,
    }
}

fn check(args: &CheckArgs, ctx: &Context, env: &mut dyn Env) -> Result<Exit, Failure> {
    let format: CheckFormat = output_format(ctx.output.as_deref(), "rollover check")?;
    let (judged, findings) = assess(&args.common, &args.services, ctx, env)?;
    let reports: Vec<&ServiceReport> = judged.iter().map(|j| &j.report).collect();
    let (verdict, safe_after) = overall(&reports);
    let doc = CheckDocument {
        schema_version: SCHEMA_VERSION,
        verdict,
        safe_after,
        services: judged.iter().map(|j| j.report.clone()).collect(),
        findings,
    };
    match format {
        CheckFormat::Json => print_json(env, &doc)?,
        CheckFormat::Openmetrics => {
            let services: Vec<super::metrics::RolloverService<'_>> = doc
                .services
                .iter()
                .map(|s| super::metrics::RolloverService {
                    host: &s.host,
                    port: s.port,
                    verdict: s.verdict,
                    safe_after: s.safe_after,
                })
                .collect();
            write_stdout(env, &super::metrics::rollover(&services))?;
        }
        CheckFormat::Text => {
            write_stdout(env, &render_check(&doc))?;
            let all: Vec<Finding> = doc
                .findings
                .iter()
                .chain(doc.services.iter().flat_map(|s| s.findings.iter()))
                .cloned()
                .collect();
            print_findings(env, ctx, &all);
        }
    }
    Ok(exit_of(verdict))
}

fn plan_cmd(args: &PlanArgs, ctx: &Context, env: &mut dyn Env) -> Result<Exit, Failure> {
    let format: Format = output_format(ctx.output.as_deref(), "rollover plan")?;
    let (judged, findings) = assess(&args.common, &args.services, ctx, env)?;
    let mut all_steps: Vec<Step> = Vec::new();
    for j in &judged {
        let safe_after = match j.report.verdict {
            Safety::Safe => Some(ctx.now),
            _ => j.report.safe_after,
        };
        all_steps.extend(steps(&PlanInput {
            host: j.report.host.clone(),
            port: j.report.port,
            owner: &j.owner,
            zone: j.zone.as_ref(),
            ttl: j.ttl,
            current: &j.current,
            next: &j.next,
            published: &j.published,
            wait: j.wait,
            safe_after,
            now: ctx.now,
            fragment: args.fragment,
        }));
    }
    // One timeline: publish steps first, then deploys, then removals; times never decrease.
    let rank = |s: &Step| match s.action.as_str() {
        "publish" => 0,
        "deploy" => 1,
        _ => 2,
    };
    all_steps.sort_by_key(|s| (rank(s), s.earliest));
    let mut latest = ctx.now;
    for s in &mut all_steps {
        latest = latest.max(s.earliest);
        s.earliest = latest;
    }
    let reports: Vec<&ServiceReport> = judged.iter().map(|j| &j.report).collect();
    let (verdict, _) = overall(&reports);
    let doc = PlanDocument {
        schema_version: SCHEMA_VERSION,
        verdict,
        steps: all_steps,
        services: judged.iter().map(|j| j.report.clone()).collect(),
        findings,
    };
    match format {
        Format::Json => print_json(env, &doc)?,
        Format::Text => write_stdout(env, &render_plan(&doc))?,
    }
    Ok(Exit::Ok)
}

fn render_check(doc: &CheckDocument) -> String {
    let mut out = String::new();
    for s in &doc.services {
        let _ = writeln!(
            out,
            "{} port {} ({}): {}",
            s.host,
            s.port,
            s.owner,
            s.verdict.as_str()
        );
        for r in &s.reasons {
            let _ = writeln!(out, "  - {}", crate::text::escape(r));
        }
        if let Some(t) = s.safe_after {
            let _ = writeln!(out, "  safe after {t}");
        }
        for p in &s.publish {
            let _ = writeln!(out, "  publish: {p}");
        }
        if !s.records.is_empty() {
            let _ = writeln!(out, "  records:");
        }
        for r in &s.records {
            let mut roles = Vec::new();
            if r.current {
                roles.push("current".to_owned());
            }
            if r.next {
                roles.push("next".to_owned());
            }
            if let Some(why) = &r.unusable {
                roles.push(format!("unusable: {why}"));
            }
            if roles.is_empty() {
                roles.push("matches nothing".into());
            }
            if let Some(t) = r.ready_at {
                roles.push(format!("in every cache from {t}"));
            }
            let _ = writeln!(out, "    {}  {}", r.record, roles.join(", "));
        }
        if !s.nameservers.is_empty() {
            let _ = writeln!(out, "  nameservers:");
        }
        for ns in &s.nameservers {
            let serial = ns
                .serial
                .map(|v| format!(", serial {v}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    {} ({}): {}{serial}, {} records",
                ns.name,
                ns.address,
                ns.verdict.as_str(),
                ns.records.len()
            );
        }
    }
    let _ = write!(out, "verdict: {}", doc.verdict.as_str());
    if let Some(t) = doc.safe_after {
        let _ = write!(out, " (safe after {t})");
    }
    out.push('\n');
    out
}

fn render_plan(doc: &PlanDocument) -> String {
    let mut out = String::new();
    for (i, s) in doc.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. {} {} port {}, from {}: {}",
            i + 1,
            s.action,
            s.host,
            s.port,
            s.earliest,
            s.note
        );
        for line in s.fragment.lines() {
            let _ = writeln!(out, "   {line}");
        }
    }
    let _ = writeln!(out, "now: {}", doc.verdict.as_str());
    out
}
