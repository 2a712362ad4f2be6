//! `danekit dnssec`: validate the MX, address and TLSA RRsets of a mail domain (or one RRset)
//! and explain each verdict with its chain of trust.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hickory_proto::rr::{Name, RecordType};
use serde::{Deserialize, Serialize};

use super::output::{output_format, print_findings, print_json, verbose, write_stdout};
use super::{Context, Exit, Failure, args, resolvers};
use crate::addr::name_text;
use crate::dns::client::{Client, Source};
use crate::dnssec::{
    AnswerKind, ChainLink, Limits, RrsetReport, SigDoc, StatusWord, TrustAnchors, Validator,
};
use crate::env::Env;
use crate::report::{Finding, SCHEMA_VERSION, Timestamp};
use crate::text;
use crate::tlsa::{Proto, owner_name};
use crate::verify::plan::mx_hosts;

#[derive(Debug, Args)]
#[command(
    after_help = "Output formats (-o): text (default), json, openmetrics.\n\
                  Verdicts: secure and insecure exit 0, bogus exits 1, indeterminate exits 3.\n\
                  Examples:\n  \
                  danekit dnssec example.org\n  \
                  danekit dnssec _25._tcp.mail.example.org --type TLSA\n  \
                  danekit dnssec example.org --resolver 127.0.0.1:5353 --warn-expiry 7d -o json"
)]
pub struct DnssecArgs {
    /// The mail domain (its MX, then each MX host's A, AAAA and TLSA), or with --type any name
    #[arg(value_name = "DOMAIN", value_parser = args::host)]
    domain: Name,
    /// Validate the one RRset of this type at DOMAIN instead (TLSA, MX, A, DS, ...)
    #[arg(long = "type", value_name = "TYPE", value_parser = args::record_type)]
    rtype: Option<RecordType>,
    /// The port of the TLSA owner names _PORT._tcp.HOST
    #[arg(long, default_value = "25", value_parser = args::port)]
    port: u16,
    /// Warn about every signature on the path that expires within this time (e.g. 7d)
    #[arg(long, value_name = "DURATION", value_parser = args::window)]
    warn_expiry: Option<Duration>,
    /// Ask hickory-resolver's validator the same questions and report any disagreement
    #[arg(long)]
    cross_check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Openmetrics,
}

impl Format {
    fn parse(text: Option<&str>) -> Result<Self, Failure> {
        output_format(text, "dnssec")
    }
}

/// The JSON document of `danekit dnssec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnssecDocument {
    pub schema_version: u32,
    pub verdict: StatusWord,
    pub domain: String,
    /// Every RRset validated, in the order asked: the MX (and its CNAME hops), then per host
    /// its A, AAAA and TLSA.
    pub rrsets: Vec<RrsetReport>,
    pub findings: Vec<Finding>,
    /// Questions sent to the resolvers.
    pub queries: usize,
    /// With `--cross-check`: hickory-resolver's verdict on each question.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cross_check: Vec<CrossDoc>,
}

/// One question as danekit and hickory-resolver judged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossDoc {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub danekit: StatusWord,
    pub hickory: StatusWord,
    pub detail: String,
    pub agree: bool,
}

/// The RRsets validated for one question: the CNAME hops and the answer.
pub struct Question {
    pub name: Name,
    pub rtype: RecordType,
    pub reports: Vec<RrsetReport>,
}

/// The exit code of a verdict: bogus 1, indeterminate 3, secure and insecure 0.
pub fn exit_of(verdict: StatusWord) -> Exit {
    match verdict {
        StatusWord::Bogus => Exit::CheckFailed,
        StatusWord::Indeterminate => Exit::NoVerdict,
        StatusWord::Secure | StatusWord::Insecure => Exit::Ok,
    }
}

/// The worst verdict of the reports (bogus > indeterminate > insecure > secure).
pub fn worst(reports: &[RrsetReport]) -> StatusWord {
    crate::dnssec::worst(reports).word()
}

/// The trust anchors of the run: `--trust-anchor FILE`, else the IANA root.
pub fn anchors(ctx: &Context) -> Result<TrustAnchors, Failure> {
    match &ctx.trust_anchor {
        Some(path) => TrustAnchors::load(path).map_err(Failure::input),
        None => Ok(TrustAnchors::iana_root()),
    }
}

pub fn run(args: &DnssecArgs, ctx: &Context, env: &mut dyn Env) -> Result<Exit, Failure> {
    let format = Format::parse(ctx.output.as_deref())?;
    let anchors = anchors(ctx)?;
    let servers = resolvers(ctx, env)?;
    let (questions, queries, anchor_keys) = {
        let client = Client::new(env.net(), servers.clone(), ctx.timeout);
        let validator = Validator::new(&client, &anchors, ctx.now, Limits::default());
        let questions = match args.rtype {
            Some(rtype) => vec![Question {
                name: args.domain.clone(),
                rtype,
                reports: validator.validate(&args.domain, rtype),
            }],
            None => mail_domain(&validator, &args.domain, args.port),
        };
        (questions, client.queries_sent(), validator.anchor_keys())
    };
    let rrsets: Vec<RrsetReport> = questions.iter().flat_map(|q| q.reports.clone()).collect();
    let mut findings = Vec::new();
    if let Some(window) = args.warn_expiry {
        findings.extend(expiry_findings(&rrsets, ctx.now, window));
    }
    let mut cross_check = Vec::new();
    if args.cross_check {
        let drift = ctx.now.0.abs_diff(env.now());
        if drift > 300 {
            findings.push(Finding::warning(
                "cross-check-skipped",
                name_text(&args.domain),
                "--now is not the current time, and hickory-resolver validates with the real clock",
            ));
        } else if anchor_keys.is_empty() {
            findings.push(Finding::warning(
                "cross-check-skipped",
                name_text(&args.domain),
                "no trust anchor's DNSKEY RRset proved secure, so hickory-resolver has no key to start from",
            ));
        } else {
            cross_check = cross_check_questions(&servers, &anchor_keys, &questions, ctx.timeout);
            findings.extend(cross_check.iter().filter(|c| !c.agree).map(|c| {
                Finding::warning(
                    "cross-check-disagrees",
                    format!("{} {}", c.name, c.rtype),
                    format!(
                        "danekit says {}, hickory-resolver says {} ({})",
                        c.danekit.as_str(),
                        c.hickory.as_str(),
                        c.detail
                    ),
                )
                .with("danekit", c.danekit.as_str())
                .with("hickory", c.hickory.as_str())
            }));
        }
    }
    let doc = DnssecDocument {
        schema_version: SCHEMA_VERSION,
        verdict: worst(&rrsets),
        domain: name_text(&args.domain),
        rrsets,
        findings,
        queries,
        cross_check,
    };
    verbose(
        env,
        ctx,
        &format!(
            "{} questions sent for {} RRsets",
            doc.queries,
            doc.rrsets.len()
        ),
    );
    match format {
        Format::Json => print_json(env, &doc)?,
        Format::Openmetrics => write_stdout(
            env,
            &super::metrics::dnssec(&doc.domain, &doc.rrsets, ctx.now),
        )?,
        Format::Text => {
            write_stdout(env, &render_text(&doc))?;
            print_findings(env, ctx, &doc.findings);
        }
    }
    Ok(exit_of(doc.verdict))
}

/// The MX RRset of `domain`, then per host (in preference order) its A, AAAA and TLSA at
/// `_PORT._tcp.HOST` (RFC 7672 §2.2). With no MX, the domain itself is the host (RFC 5321
/// §5.1); a null MX (RFC 7505) has no host. When a host's addresses come through a CNAME, the
/// TLSA of the CNAME's target is validated first (RFC 7672 §2.2.2).
pub fn mail_domain(validator: &Validator<'_>, domain: &Name, port: u16) -> Vec<Question> {
    let ask = |name: &Name, rtype: RecordType| Question {
        name: name.clone(),
        rtype,
        reports: validator.validate(name, rtype),
    };
    let mx = ask(domain, RecordType::MX);
    let hosts: Vec<Name> = match mx.reports.last() {
        Some(mx) if mx.answer == AnswerKind::Data => mx_hosts(&mx.records)
            .into_iter()
            .map(|(_, host)| host)
            .collect(),
        Some(mx) if matches!(mx.answer, AnswerKind::Nodata) => vec![domain.clone()],
        _ => Vec::new(),
    };
    let mut questions = vec![mx];
    let mut seen = BTreeSet::new();
    for host in hosts {
        if !seen.insert(host.to_lowercase()) {
            continue;
        }
        let mut target = None;
        for rtype in [RecordType::A, RecordType::AAAA] {
            let q = ask(&host, rtype);
            let hops = &q.reports;
            if hops.len() > 1
                && let Some(last) = hops.last()
                && hops.iter().all(|h| h.verdict == StatusWord::Secure)
                && let Ok(name) = Name::from_ascii(&last.name)
            {
                target = Some(name);
            }
            questions.push(q);
        }
        let mut owners = Vec::new();
        if let Some(t) = target {
            owners.push(t);
        }
        owners.push(host.clone());
        for owner_host in owners {
            if let Ok(owner) = owner_name(port, Proto::Tcp, &owner_host) {
                questions.push(ask(&owner, RecordType::TLSA));
            }
        }
    }
    questions
}

/// hickory-resolver's verdict on each question, beside danekit's (the worst of its hops).
fn cross_check_questions(
    servers: &[std::net::SocketAddr],
    anchor_keys: &[crate::dnssec::AnchorKey],
    questions: &[Question],
    timeout: Duration,
) -> Vec<CrossDoc> {
    let asked: Vec<(Name, RecordType)> = questions
        .iter()
        .map(|q| (q.name.clone(), q.rtype))
        .collect();
    let opinions = crate::dnssec::cross::second_opinions(servers, anchor_keys, &asked, timeout);
    questions
        .iter()
        .zip(opinions)
        .filter_map(|(q, o)| {
            let o = o?;
            let ours = worst(&q.reports);
            Some(CrossDoc {
                name: name_text(&q.name),
                rtype: q.rtype.to_string(),
                danekit: ours,
                hickory: o.verdict,
                detail: o.detail,
                agree: ours == o.verdict,
            })
        })
        .collect()
}

/// A `signature-expires-soon` finding for every valid RRSIG on the paths that expires within
/// `window` of `now`, each signature once.
pub fn expiry_findings(reports: &[RrsetReport], now: Timestamp, window: Duration) -> Vec<Finding> {
    let limit = now
        .0
        .saturating_add(i64::try_from(window.as_secs()).unwrap_or(i64::MAX));
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut consider = |owner: &str, sig: &SigDoc| {
        if sig.status != "valid" || sig.expiration.0 > limit {
            return;
        }
        let key = (
            owner.to_owned(),
            sig.covers.clone(),
            sig.key_tag,
            sig.expiration,
        );
        if !seen.insert(key) {
            return;
        }
        out.push(
            Finding::warning(
                "signature-expires-soon",
                format!("{owner} {}", sig.covers),
                format!(
                    "the RRSIG by {} (key {}) expires at {}, within {}",
                    sig.signer,
                    sig.key_tag,
                    sig.expiration,
                    window_text(window)
                ),
            )
            .with("expiration", sig.expiration)
            .with("key_tag", sig.key_tag)
            .with("signer", &sig.signer),
        );
    };
    for r in reports {
        for link in &r.chain {
            for sig in &link.rrsig {
                consider(&link.zone, sig);
            }
        }
        for sig in &r.rrsig {
            consider(&r.name, sig);
        }
    }
    out
}

fn window_text(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(86400) {
        format!("{}d", s / 86400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else {
        format!("{s}s")
    }
}

/// The text report: per RRset its verdict, its records and the chain that decided it.
pub fn render_text(doc: &DnssecDocument) -> String {
    let mut out = String::new();
    for r in &doc.rrsets {
        render_rrset(&mut out, r);
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "verdict: {} ({} RRsets, {} questions)",
        doc.verdict.as_str(),
        doc.rrsets.len(),
        doc.queries
    );
    out
}

fn render_rrset(out: &mut String, r: &RrsetReport) {
    let answer = match r.answer {
        AnswerKind::Data => "",
        AnswerKind::Nodata => ", no such RRset (NODATA)",
        AnswerKind::Nxdomain => ", no such name (NXDOMAIN)",
        AnswerKind::None => ", no answer",
    };
    let _ = writeln!(
        out,
        "{} {}: {}{answer}",
        r.name,
        r.rtype,
        r.verdict.as_str()
    );
    if let Some(reason) = &r.reason {
        let _ = writeln!(out, "  reason: {}", text::escape(reason));
    }
    for rec in &r.records {
        let _ = writeln!(out, "  {} {}", r.rtype, text::escape(rec));
    }
    if let Some(target) = &r.cname_target {
        let _ = writeln!(out, "  → {target}");
    }
    if !r.chain.is_empty() {
        let _ = writeln!(out, "  chain:");
    }
    for link in &r.chain {
        render_link(out, link);
    }
    for sig in &r.rrsig {
        let _ = writeln!(out, "  {}", sig_line(sig));
    }
    for d in &r.denial {
        let _ = writeln!(
            out,
            "  {} {}: {}",
            d.rtype,
            d.owner,
            text::escape(&d.proves)
        );
    }
}

fn render_link(out: &mut String, l: &ChainLink) {
    let _ = write!(out, "    {} (via {}): {}", l.zone, l.via, l.status.as_str());
    match &l.reason {
        Some(reason) => {
            let _ = writeln!(out, ": {}", text::escape(reason));
        }
        None => out.push('\n'),
    }
    for ds in &l.ds {
        let _ = writeln!(
            out,
            "      DS {} algorithm {} digest {}: {}",
            ds.key_tag,
            ds.algorithm,
            ds.digest_type,
            if ds.matches_dnskey {
                "matches a DNSKEY"
            } else {
                "matches no DNSKEY"
            }
        );
    }
    for k in &l.dnskey {
        let role = match k.flags {
            257 => " (KSK)",
            256 => " (ZSK)",
            f if f & 0x0080 != 0 => " (revoked)",
            _ => "",
        };
        let _ = writeln!(
            out,
            "      DNSKEY {} flags {}{role} algorithm {}, {} bits",
            k.key_tag, k.flags, k.algorithm, k.bits
        );
    }
    for sig in &l.rrsig {
        let _ = writeln!(out, "    {}", sig_line(sig));
    }
}

fn sig_line(sig: &SigDoc) -> String {
    format!(
        "  RRSIG {} by {} key {} algorithm {}, {} .. {}: {}",
        sig.covers,
        sig.signer,
        sig.key_tag,
        sig.algorithm,
        sig.inception,
        sig.expiration,
        text::escape(&sig.status)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_of_verdicts() {
        assert_eq!(exit_of(StatusWord::Secure), Exit::Ok);
        assert_eq!(exit_of(StatusWord::Insecure), Exit::Ok);
        assert_eq!(exit_of(StatusWord::Bogus), Exit::CheckFailed);
        assert_eq!(exit_of(StatusWord::Indeterminate), Exit::NoVerdict);
    }
}
