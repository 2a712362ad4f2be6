//! `danekit zone`: the TLSA records of a services file, as zone text, scripts or JSON; drift
//! against a zone file or live DNS; and an RFC 2136 update that publishes them.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use super::output::{output_format, print_findings, print_json, verbose, write_stdout};
use super::{Context, Exit, Failure, resolvers};
use crate::addr::{Host, HostPort, name_text};
use crate::config::{self, ServiceFile};
use crate::dns::client::Client;
use crate::dns::update;
use crate::dnssec::{AnswerKind, Limits, StatusWord, Validator};
use crate::env::{self, Env};
use crate::report::{Finding, SCHEMA_VERSION, Verdict};
use crate::text;
use crate::tlsa::Rdata;
use crate::tlsa::report::RecordDoc;
use crate::zone::{self, Diff, ZoneRecord, master, plan};
use hickory_proto::rr::RecordType;

#[derive(Debug, Args)]
#[command(
    after_help = "Output formats (-o): zone (default), nsupdate, knotc, json.\n\
                  Examples:\n  \
                  danekit zone services.yaml --out tlsa.zone\n  \
                  danekit zone services.yaml --diff /var/lib/bind/example.org.db\n  \
                  danekit zone services.yaml --apply"
)]
pub struct ZoneArgs {
    /// The services file (YAML)
    #[arg(value_name = "SERVICES.yaml")]
    services: PathBuf,
    /// Write the output to FILE atomically instead of standard output
    #[arg(long, value_name = "FILE", conflicts_with_all = ["diff", "diff_live", "apply"])]
    out: Option<PathBuf>,
    /// Compare the managed TLSA RRsets with those in a zone file; exit 1 when they differ
    #[arg(long, value_name = "ZONEFILE", conflicts_with_all = ["diff_live", "apply"])]
    diff: Option<PathBuf>,
    /// Compare the managed TLSA RRsets with those DNS serves now (--resolver); exit 1 when they differ
    #[arg(long, conflicts_with = "apply")]
    diff_live: bool,
    /// Replace the managed TLSA RRsets on the primary server (RFC 2136 update, TSIG-signed)
    #[arg(long)]
    apply: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Zone,
    Nsupdate,
    Knotc,
    Json,
}

impl Format {
    fn parse(text: Option<&str>) -> Result<Self, Failure> {
        output_format(text, "zone")
    }
}

/// A record in a diff: the RR as it is or should be published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RrDoc {
    pub owner: String,
    pub ttl: u32,
    pub usage: u8,
    pub selector: u8,
    pub matching_type: u8,
    pub data: String,
}

impl RrDoc {
    fn new(r: &ZoneRecord) -> Self {
        RrDoc {
            owner: name_text(&r.owner),
            ttl: r.ttl,
            usage: r.rdata.params.usage.into(),
            selector: r.rdata.params.selector.into(),
            matching_type: r.rdata.params.matching.into(),
            data: r.rdata.data_hex(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffDoc {
    /// Where the published records were read: the zone file, or `dns` for live answers.
    pub against: String,
    pub add: Vec<RrDoc>,
    pub remove: Vec<RrDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyDoc {
    pub server: String,
    pub zone: String,
    /// The RRsets replaced.
    pub owners: Vec<String>,
    /// The server's response code in words (`NOERROR`, `REFUSED`, `NOTAUTH`, ...).
    pub rcode: String,
    /// The TSIG error of a refused update (`BADSIG`, `BADKEY`, `BADTIME`), if any.
    pub tsig_error: Option<String>,
}

/// The JSON document of `danekit zone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneDocument {
    pub schema_version: u32,
    /// `ok`; `differs` when a diff found a difference; `fail` when an update was refused.
    pub verdict: Verdict,
    pub zone: Option<String>,
    pub records: Vec<RecordDoc>,
    /// Every RRset the file manages.
    pub owners: Vec<String>,
    /// Present with `--diff` and `--diff-live`.
    pub diff: Option<DiffDoc>,
    /// Present with `--apply`.
    pub apply: Option<ApplyDoc>,
    pub findings: Vec<Finding>,
}

pub fn run(args: &ZoneArgs, ctx: &Context, env: &mut dyn Env) -> Result<Exit, Failure> {
    let format = Format::parse(ctx.output.as_deref())?;
    let file = config::load(&args.services).map_err(Failure::input)?;
    let plan = plan::plan(&file, ctx.now).map_err(Failure::input)?;
    let records = plan.zone_records();
    let mut doc = ZoneDocument {
        schema_version: SCHEMA_VERSION,
        verdict: Verdict::Ok,
        zone: file.zone.as_ref().map(name_text),
        records: crate::tlsa::report::TlsaReport {
            records: plan.records.clone(),
            findings: Vec::new(),
        }
        .to_document()
        .records,
        owners: plan.owners.iter().map(name_text).collect(),
        diff: None,
        apply: None,
        findings: plan.findings.clone(),
    };

    if let Some(zone_file) = &args.diff {
        let published = master::read_tlsa(zone_file, file.zone.as_ref()).map_err(Failure::input)?;
        let against = text::escape_bytes(zone_file.as_os_str().as_encoded_bytes());
        let d = zone::diff(&plan.owners, &records, &published, true);
        return finish_diff(env, ctx, format, doc, against, d);
    }
    if args.diff_live {
        let (published, findings, bogus) = live_tlsa(&plan.owners, ctx, env)?;
        doc.findings.extend(findings);
        let d = zone::diff(&plan.owners, &records, &published, false);
        let exit = finish_diff(env, ctx, format, doc, "dns".into(), d)?;
        return Ok(if bogus { Exit::CheckFailed } else { exit });
    }
    if args.apply {
        return apply(&file, &plan, &records, ctx, env, format, doc);
    }

    let text = match format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&doc)
                .map_err(|e| Failure::input(anyhow!("cannot encode JSON: {e}")))?;
            format!("{json}\n")
        }
        Format::Zone => zone::render_zone(&records),
        Format::Nsupdate => {
            let server = file.update.as_ref().map(|u| nsupdate_server(&u.server));
            zone::render_nsupdate_script(
                server.as_deref(),
                file.zone.as_ref(),
                &plan.owners,
                &records,
            )
        }
        Format::Knotc => {
            let zone_name = file.zone.as_ref().ok_or_else(|| {
                Failure::input(anyhow!(
                    "{}: names no zone, and a knotc transaction needs one",
                    file.name
                ))
            })?;
            zone::render_knotc_replace(zone_name, &plan.owners, &records)
        }
    };
    if format != Format::Json {
        print_findings(env, ctx, &plan.findings);
    }
    match &args.out {
        Some(path) => {
            env::write_atomic(path, text.as_bytes()).map_err(|e| {
                Failure::input(anyhow!(
                    "{}: cannot write: {e}; the file is unchanged",
                    text::escape_bytes(path.as_os_str().as_encoded_bytes())
                ))
            })?;
            verbose(
                env,
                ctx,
                &format!(
                    "wrote {} records for {} RRsets",
                    records.len(),
                    plan.owners.len()
                ),
            );
        }
        None => write_stdout(env, &text)?,
    }
    Ok(Exit::Ok)
}

/// `server ADDR PORT` as nsupdate takes it.
fn nsupdate_server(server: &HostPort) -> String {
    let host = match &server.host {
        Host::Ip(ip) => ip.to_string(),
        Host::Name(n) => name_text(n).trim_end_matches('.').to_owned(),
    };
    format!("{host} {}", server.port.unwrap_or(53))
}

fn finish_diff(
    env: &mut dyn Env,
    ctx: &Context,
    format: Format,
    mut doc: ZoneDocument,
    against: String,
    d: Diff,
) -> Result<Exit, Failure> {
    let exit = if d.is_empty() {
        Exit::Ok
    } else {
        Exit::CheckFailed
    };
    doc.verdict = if d.is_empty() {
        Verdict::Ok
    } else {
        Verdict::Differs
    };
    if format == Format::Json {
        doc.diff = Some(DiffDoc {
            against,
            add: d.add.iter().map(RrDoc::new).collect(),
            remove: d.remove.iter().map(RrDoc::new).collect(),
        });
        print_json(env, &doc)?;
        return Ok(exit);
    }
    print_findings(env, ctx, &doc.findings);
    let mut text = String::new();
    for r in &d.remove {
        text.push_str(&format!("- {}", zone::render_zone(std::slice::from_ref(r))));
    }
    for r in &d.add {
        text.push_str(&format!("+ {}", zone::render_zone(std::slice::from_ref(r))));
    }
    write_stdout(env, &text)?;
    verbose(
        env,
        ctx,
        &format!(
            "{against}: {} to add, {} to remove in {} managed RRsets",
            d.add.len(),
            d.remove.len(),
            doc.owners.len()
        ),
    );
    Ok(exit)
}

/// The TLSA RRsets DNS serves now at `owners`, each validated with DNSSEC: findings for RRsets
/// that are not secure, and whether any is bogus (DANE senders then defer all mail). An owner
/// whose question got no answer at all ends the run (exit 3).
fn live_tlsa(
    owners: &[hickory_proto::rr::Name],
    ctx: &Context,
    env: &mut dyn Env,
) -> Result<(Vec<ZoneRecord>, Vec<Finding>, bool), Failure> {
    let anchors = super::dnssec::anchors(ctx)?;
    let servers = resolvers(ctx, env)?;
    let client = Client::new(env.net(), servers, ctx.timeout);
    let validator = Validator::new(&client, &anchors, ctx.now, Limits::default());
    let mut published = Vec::new();
    let mut findings = Vec::new();
    let mut bogus = false;
    let mut lines = Vec::new();
    for owner in owners {
        let hops = validator.validate(owner, RecordType::TLSA);
        let Some(last) = hops.last() else { continue };
        if last.answer == AnswerKind::None {
            return Err(Failure::no_verdict(anyhow!(
                "{} TLSA: {}",
                name_text(owner),
                last.reason.as_deref().unwrap_or("no answer")
            )));
        }
        let verdict = super::dnssec::worst(&hops);
        let subject = format!("{} TLSA", name_text(owner));
        let reason = hops
            .iter()
            .find_map(|h| h.reason.clone())
            .unwrap_or_default();
        match verdict {
            StatusWord::Secure => {}
            StatusWord::Bogus => {
                bogus = true;
                findings.push(Finding::error(
                    "tlsa-dnssec-bogus",
                    &subject,
                    format!("DNSSEC validation fails, so DANE senders defer mail: {reason}"),
                ));
            }
            StatusWord::Insecure => findings.push(Finding::warning(
                "tlsa-dnssec-insecure",
                &subject,
                format!("not DNSSEC-signed, so DANE senders ignore it: {reason}"),
            )),
            StatusWord::Indeterminate => findings.push(Finding::warning(
                "tlsa-dnssec-indeterminate",
                &subject,
                format!("the DNSSEC status could not be established: {reason}"),
            )),
        }
        lines.push(format!(
            "{subject}: {} ({} records, {})",
            match last.answer {
                AnswerKind::Data => "data",
                AnswerKind::Nodata => "nodata",
                AnswerKind::Nxdomain => "nxdomain",
                AnswerKind::None => "none",
            },
            last.records.len(),
            verdict.as_str()
        ));
        if last.answer == AnswerKind::Data && last.rtype == "TLSA" {
            for text in &last.records {
                let rdata: Rdata = text.parse().map_err(|e| {
                    Failure::no_verdict(anyhow!(
                        "{subject}: unreadable record {}: {e}",
                        crate::text::clip(text)
                    ))
                })?;
                published.push(ZoneRecord {
                    owner: owner.clone(),
                    ttl: last.ttl.unwrap_or(0),
                    rdata,
                });
            }
        }
    }
    for line in lines {
        verbose(env, ctx, &line);
    }
    Ok((published, findings, bogus))
}

fn apply(
    file: &ServiceFile,
    plan: &plan::Plan,
    records: &[ZoneRecord],
    ctx: &Context,
    env: &mut dyn Env,
    format: Format,
    mut doc: ZoneDocument,
) -> Result<Exit, Failure> {
    let update_config = file.update.as_ref().ok_or_else(|| {
        Failure::input(anyhow!(
            "{}: has no `update` section; --apply needs update.server (and update.tsig)",
            file.name
        ))
    })?;
    let zone_name = file.zone.clone().ok_or_else(|| {
        Failure::input(anyhow!(
            "{}: names no zone, and an update needs one",
            file.name
        ))
    })?;
    let port = update_config.server.port.unwrap_or(53);
    let server = match &update_config.server.host {
        Host::Ip(ip) => SocketAddr::new(*ip, port),
        Host::Name(n) => {
            let host = name_text(n);
            let addrs = env
                .net()
                .resolve(host.trim_end_matches('.'), port, ctx.timeout)
                .map_err(|e| Failure::no_verdict(anyhow!("{host}: cannot resolve: {e}")))?;
            *addrs
                .first()
                .ok_or_else(|| Failure::no_verdict(anyhow!("{host} has no address")))?
        }
    };
    let key = match &update_config.tsig {
        Some(t) => {
            let shown = text::escape_bytes(t.secret_file.as_os_str().as_encoded_bytes());
            let bytes = env::read_file(&t.secret_file, 64 * 1024)
                .map_err(|e| Failure::input(anyhow!("{shown}: cannot read the TSIG key: {e}")))?;
            let key = update::TsigKey::from_file_text(
                &t.name,
                t.algorithm,
                &String::from_utf8_lossy(&bytes),
            )
            .map_err(|e| Failure::input(anyhow!("{shown}: {e}")))?;
            Some(key)
        }
        None => None,
    };
    let request = update::Update {
        zone: zone_name.clone(),
        owners: plan.owners.clone(),
        records: records.to_vec(),
    };
    let now = u64::try_from(env.now()).unwrap_or(0);
    let outcome = update::send(env.net(), server, &request, key.as_ref(), now, ctx.timeout)
        .map_err(Failure::no_verdict)?;
    let (rcode, tsig_error) = match &outcome {
        update::Outcome::Applied => ("NOERROR".to_owned(), None),
        update::Outcome::Refused { rcode, tsig_error } => (rcode.clone(), tsig_error.clone()),
    };
    let applied = outcome == update::Outcome::Applied;
    doc.verdict = if applied { Verdict::Ok } else { Verdict::Fail };
    doc.apply = Some(ApplyDoc {
        server: server.to_string(),
        zone: name_text(&zone_name),
        owners: plan.owners.iter().map(name_text).collect(),
        rcode: rcode.clone(),
        tsig_error: tsig_error.clone(),
    });
    if format == Format::Json {
        print_json(env, &doc)?;
    } else {
        print_findings(env, ctx, &plan.findings);
        let line = if applied {
            format!(
                "{server}: updated {}: replaced {} TLSA RRsets with {} records\n",
                name_text(&zone_name),
                plan.owners.len(),
                records.len()
            )
        } else {
            format!(
                "{server}: the update of {} was refused: {rcode}{}; nothing was changed\n",
                name_text(&zone_name),
                tsig_error
                    .map(|t| format!(" (TSIG {t}: check the key's name, secret and the clocks)"))
                    .unwrap_or_default()
            )
        };
        write_stdout(env, &line)?;
    }
    Ok(if applied { Exit::Ok } else { Exit::CheckFailed })
}
