//! `danekit rollover`: is it safe to swap a certificate for the next one now, and what must
//! happen first (RFC 7671 §8, rules 9–15 of the design notes)?
//!
//! The judgement is pure ([`judge`]): the chain served now, the next chain or key, the TLSA
//! RRset as every authoritative server serves it, the state of the TTL clock and the time are
//! handed in. [`observe`] gathers what the judgement needs from DNS; [`plan`] lays out the
//! steps from the published state to the swapped one.

pub mod clock;
pub mod coverage;
pub mod issuers;
pub mod observe;
pub mod plan;

use serde::{Deserialize, Serialize};

use crate::pki::Certificate;
use crate::report::Finding;
use crate::time::Timestamp;
use crate::tlsa::{Matching, Rdata, Selector, Usage};

use clock::State;
use coverage::{CLIENTS, Coverage, Next, assess};
use issuers::Family;

/// The verdict of a service, and of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Safety {
    Safe,
    Indeterminate,
    Unsafe,
}

impl Safety {
    pub fn as_str(self) -> &'static str {
        match self {
            Safety::Safe => "safe",
            Safety::Unsafe => "unsafe",
            Safety::Indeterminate => "indeterminate",
        }
    }
}

/// The TLSA RRset as DNSSEC validation and the authoritative servers give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// A secure RRset: the records that parse, and those that do not.
    Secure {
        records: Vec<Rdata>,
        unparsed: Vec<String>,
    },
    /// A secure denial: nothing is published.
    Absent(String),
    Insecure(String),
    Bogus(String),
    Indeterminate(String),
}

/// What one authoritative server serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsView {
    /// The server's name (from the NS RRset), or its address when given directly.
    pub name: String,
    pub address: String,
    /// The DNSSEC verdict of the TLSA RRset as this server serves it.
    pub verdict: crate::dnssec::StatusWord,
    pub records: Vec<String>,
    pub serial: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One service (host and port) to judge.
pub struct ServiceInput<'a> {
    pub host: String,
    pub port: u16,
    pub owner: String,
    /// The chain served now, leaf first.
    pub current: &'a [Certificate],
    /// The next chain or key; `None` is a renewal with the same key.
    pub next: Option<Next<'a>>,
    pub published: Published,
    /// Every authoritative server's view (empty when none could be asked).
    pub nameservers: Vec<NsView>,
    /// The negative TTL of the zone (RFC 2308 §5: the smaller of the SOA's TTL and MINIMUM).
    pub negative_ttl: u32,
    /// The service is SMTP (RFC 7672 §3.1.3: PKIX usages are unusable).
    pub smtp: bool,
}

/// One record of the RRset and its part in the swap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDoc {
    pub record: String,
    pub current: bool,
    pub next: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unusable: Option<String>,
    /// When every cache will hold it (RFC 3339), for a record the next chain relies on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<Timestamp>,
}

/// The judgement of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceReport {
    pub host: String,
    pub port: u16,
    pub owner: String,
    pub verdict: Safety,
    pub reasons: Vec<String>,
    /// When waiting alone makes the swap safe; `null` when it cannot (or it is safe now).
    pub safe_after: Option<Timestamp>,
    pub records: Vec<RecordDoc>,
    /// Records to publish before the swap, when the next chain is not covered.
    pub publish: Vec<String>,
    pub nameservers: Vec<NsView>,
    pub findings: Vec<Finding>,
}

/// Judges one service at `now`. `state` has already observed what every authoritative server
/// serves.
pub fn judge(
    input: &ServiceInput<'_>,
    state: &State,
    families: &[Family],
    now: Timestamp,
) -> ServiceReport {
    let mut report = ServiceReport {
        host: input.host.clone(),
        port: input.port,
        owner: input.owner.clone(),
        verdict: Safety::Safe,
        reasons: Vec::new(),
        safe_after: None,
        records: Vec::new(),
        publish: Vec::new(),
        nameservers: input.nameservers.clone(),
        findings: Vec::new(),
    };
    let subject = format!("{} port {}", input.host, input.port);
    let (records, unparsed) = match &input.published {
        Published::Secure { records, unparsed } => (records, unparsed),
        Published::Absent(why) => {
            return unsafe_now(report, format!("no TLSA RRset is published: {why}"));
        }
        Published::Insecure(why) => {
            return unsafe_now(
                report,
                format!("the TLSA RRset is not DNSSEC-secure, so DANE senders ignore it: {why}"),
            );
        }
        Published::Bogus(why) => {
            return unsafe_now(
                report,
                format!("the TLSA RRset is bogus, so DANE senders defer mail now: {why}"),
            );
        }
        Published::Indeterminate(why) => {
            report.verdict = Safety::Indeterminate;
            report
                .reasons
                .push(format!("no verdict on the TLSA RRset: {why}"));
            return report;
        }
    };
    for text in unparsed {
        report.findings.push(Finding::warning(
            "record-malformed",
            &input.owner,
            format!("{text}: not a valid TLSA record; DANE clients ignore it"),
        ));
    }
    let next = input.next.or_else(|| {
        report.findings.push(Finding::warning(
            "no-next",
            &subject,
            "no next key or certificate given: judged as a renewal with the same key",
        ));
        input.current.first().map(|leaf| Next::Key {
            spki: &leaf.spki,
            family: crate::pki::KeyFamily::of(&leaf.key),
        })
    });
    let cov = assess(input.current, next, records, input.smtp, families, now);
    lint(&mut report, &cov, input, &subject);

    let mut blocking = Vec::new();
    for (i, client) in CLIENTS.iter().enumerate() {
        if !cov.current[i] {
            blocking.push(format!(
                "the chain served now is not authenticated by the published records (a {client} client)"
            ));
        }
        if cov.next.is_some_and(|n| !n[i]) {
            blocking.push(format!(
                "the next {} would not be authenticated by the published records (a {client} client)",
                match next {
                    Some(Next::Chain(_)) => "chain",
                    _ => "key",
                }
            ));
        }
    }
    blocking.dedup();
    if cov.next.is_some_and(|n| n.contains(&false))
        && let Some(n) = next
    {
        let params: Vec<_> = {
            let mut p: Vec<_> = records.iter().map(|r| r.params).collect();
            p.dedup();
            p
        };
        report.publish = coverage::next_records(n, &params)
            .iter()
            .filter(|r| !records.contains(r))
            .map(ToString::to_string)
            .collect();
        if let Some(ni) = &cov.next_issuers
            && !ni.uncovered.is_empty()
        {
            blocking.push(format!(
                "the next certificate may be issued by {} ({}); no issuer record covers {}",
                ni.uncovered.join(", "),
                ni.source,
                ni.uncovered.join(", ")
            ));
        }
    }

    // Every authoritative server must serve the records the next chain relies on.
    let needed: Vec<&coverage::RecordRole> = cov
        .records
        .iter()
        .filter(|r| r.next && !r.current)
        .collect();
    let mut indeterminate = Vec::new();
    for ns in &input.nameservers {
        let place = format!("{} ({})", ns.name, ns.address);
        if let Some(e) = &ns.error {
            indeterminate.push(format!("{place} gave no answer: {e}"));
            continue;
        }
        match ns.verdict {
            crate::dnssec::StatusWord::Secure => {}
            crate::dnssec::StatusWord::Indeterminate => {
                indeterminate.push(format!("{place}: no verdict on the RRset it serves"));
                continue;
            }
            other => {
                blocking.push(format!("{place} serves a {} TLSA RRset", other.as_str()));
                continue;
            }
        }
        let missing: Vec<String> = needed
            .iter()
            .map(|r| r.record.to_string())
            .filter(|r| !ns.records.contains(r))
            .collect();
        if !missing.is_empty() {
            let serial = ns
                .serial
                .map(|s| format!(" (SOA serial {s})"))
                .unwrap_or_default();
            blocking.push(format!(
                "{place} lags{serial}: it does not serve {}",
                missing.join(", ")
            ));
        }
    }
    let serials: Vec<u32> = input.nameservers.iter().filter_map(|n| n.serial).collect();
    if serials.windows(2).any(|w| w[0] != w[1]) {
        let list: Vec<String> = input
            .nameservers
            .iter()
            .map(|n| {
                format!(
                    "{} {}",
                    n.name,
                    n.serial.map_or("?".into(), |s| s.to_string())
                )
            })
            .collect();
        report.findings.push(Finding::warning(
            "soa-serials-differ",
            &input.owner,
            format!(
                "the authoritative servers serve different SOA serials: {}",
                list.join(", ")
            ),
        ));
    }

    // The clock: every new record the next chain relies on, 2 × TTL after it was everywhere.
    let mut safe_after: Option<Timestamp> = None;
    let mut unseen = Vec::new();
    for role in &cov.records {
        let text = role.record.to_string();
        let ready = if role.next && !role.current {
            let ready = state.ready_at(&input.owner, &text, input.negative_ttl);
            match ready {
                Some(t) => safe_after = Some(safe_after.map_or(t, |s| s.max(t))),
                None => unseen.push(text.clone()),
            }
            ready
        } else {
            None
        };
        report.records.push(RecordDoc {
            record: text,
            current: role.current,
            next: role.next,
            unusable: role.unusable.clone(),
            ready_at: ready,
        });
    }
    if !unseen.is_empty() && blocking.is_empty() && indeterminate.is_empty() {
        blocking.push(format!(
            "not yet seen on every authoritative server: {}",
            unseen.join(", ")
        ));
    }
    if let (Some(t), Some(leaf)) = (safe_after, input.current.first())
        && let Some(expiry) = leaf.not_after
        && expiry < t
    {
        report.findings.push(Finding::error(
            "expires-before-safe",
            &subject,
            format!(
                "the certificate served now expires at {expiry}, before the swap is safe at {t}"
            ),
        ));
    }

    if !blocking.is_empty() {
        report.verdict = Safety::Unsafe;
        report.reasons = blocking;
    } else if !indeterminate.is_empty() {
        report.verdict = Safety::Indeterminate;
        report.reasons = indeterminate;
    } else if let Some(t) = safe_after.filter(|t| *t > now) {
        report.verdict = Safety::Unsafe;
        report.safe_after = Some(t);
        report.reasons.push(format!(
            "resolvers may still cache the TLSA RRset without the next record until {t} (2 × TTL after every authoritative server served it)"
        ));
    }
    report
}

fn unsafe_now(mut report: ServiceReport, why: String) -> ServiceReport {
    report.verdict = Safety::Unsafe;
    report.reasons.push(why);
    report
}

/// The lints of rules 9, 13 and 15: sets that do not follow the chain, records that match
/// nothing, full-certificate records that break at renewal, an incomplete issuer set, a next
/// key that is the current one.
fn lint(report: &mut ServiceReport, cov: &Coverage, input: &ServiceInput<'_>, subject: &str) {
    let owner = &input.owner;
    if cov.same_key && input.next.is_some() {
        report.findings.push(Finding::warning(
            "next-equals-current",
            subject,
            "the next key is the key served now: nothing rolls (a renewal with the same key)",
        ));
    }
    for role in &cov.records {
        if role.unusable.is_none() && !role.current && !role.next {
            report.findings.push(Finding::warning(
                "record-matches-nothing",
                owner,
                format!(
                    "{}: matches neither the chain served now nor the next one",
                    role.record
                ),
            ));
        }
    }
    let issuers_incomplete = cov
        .next_issuers
        .as_ref()
        .is_some_and(|ni| !ni.uncovered.is_empty() && !ni.covered.is_empty());
    for set in &cov.sets {
        let issuer_set = matches!(set.params.usage, Usage::DaneTa | Usage::PkixTa);
        if !set.current {
            report.findings.push(Finding::warning(
                "parameter-set-stale",
                owner,
                format!(
                    "{}: no record of this set matches the chain served now (every set must, RFC 7671 §8)",
                    set.params
                ),
            ));
        } else if !(set.next || issuer_set && issuers_incomplete) {
            let carried = cov.next.is_some_and(|n| n.iter().all(|&b| b));
            report.findings.push(Finding::warning(
                "parameter-set-not-rolled",
                owner,
                if carried {
                    format!(
                        "{}: no record of this set matches the next chain; other records carry the swap, but each set should (RFC 7671 §8)",
                        set.params
                    )
                } else {
                    format!(
                        "{}: no record of this set matches the next chain, and no other record carries the swap (RFC 7671 §8)",
                        set.params
                    )
                },
            ));
        }
    }
    let leaf_ca_issued = input.current.first().is_some_and(|l| !l.self_issued);
    for role in cov.records.iter().filter(|r| r.current) {
        let p = role.record.params;
        if p.usage == Usage::DaneEe && p.selector == Selector::Cert && leaf_ca_issued {
            report.findings.push(Finding::warning(
                "dane-ee-full-cert",
                owner,
                format!(
                    "{}: 3 0 x pins the whole certificate, which every renewal replaces; use 3 1 x with the key reused (rule 13)",
                    role.record
                ),
            ));
        }
        if p.usage == Usage::DaneTa && p.selector == Selector::Cert && p.matching != Matching::Full
        {
            report.findings.push(Finding::warning(
                "dane-ta-full-cert",
                owner,
                format!(
                    "{}: 2 0 x pins one certificate of the issuer; a re-issued or cross-signed certificate of the same key does not match: use 2 1 x",
                    role.record
                ),
            ));
        }
    }
    if let Some(ni) = &cov.next_issuers
        && !ni.uncovered.is_empty()
        && !ni.covered.is_empty()
    {
        report.findings.push(
            Finding::warning(
                "issuer-set-incomplete",
                owner,
                format!(
                    "the issuer records cover {} of {}; the next certificate may come from {} as well",
                    ni.covered.join(", "),
                    ni.source,
                    ni.uncovered.join(", ")
                ),
            )
            .with("uncovered", ni.uncovered.join(",")),
        );
    }
}
