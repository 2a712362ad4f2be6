//! The DNS half of RFC 7672 §2.2: the validated MX lookup, every MX host in preference order,
//! its validated A and AAAA answers, and per port the TLSA state a DANE sender acts on
//! (rules 4 and 16–18 of the design notes).
//!
//! The addresses of a host are taken only from its validated A and AAAA answers; nothing is
//! resolved again. Every RRset report used is kept, for the explanation.

use std::collections::BTreeSet;
use std::net::IpAddr;

use hickory_proto::rr::{Name, RecordType};

use crate::addr::name_text;
use crate::dnssec::{AnswerKind, RrsetReport, Status, Validator, worst};
use crate::tlsa::{Proto, owner_name};
use crate::tlsa::{Rdata, Usage};

/// At most this many MX hosts are planned; the rest are counted in [`Plan::hosts_omitted`]. An
/// MX RRset is data from the network, and a hostile one can name thousands of hosts.
pub const MAX_HOSTS: usize = 32;

/// At most this many addresses of one host are kept (the A answer's first, then the AAAA
/// answer's); the rest are counted in [`HostPlan::addresses_omitted`].
pub const MAX_ADDRESSES: usize = 16;

/// What a DANE sender requires of one port of one MX host (RFC 7672 §2.2, §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsaState {
    /// A secure TLSA RRset with at least one usable record: STARTTLS is mandatory and the
    /// chain must match (RFC 7672 §2.2). Every record that parsed, usable or not, in RRset
    /// order.
    Usable(Vec<Rdata>),
    /// A secure TLSA RRset without a usable record: TLS is mandatory, unauthenticated (RFC
    /// 7672 §2.2). The records that parsed, in RRset order (possibly none, when no record
    /// parsed).
    UnusableOnly(Vec<Rdata>),
    /// DANE does not apply: a secure denial of the TLSA RRset, or an insecure TLSA RRset,
    /// address answer or MX RRset (RFC 7672 §2.2.1, §2.2.2).
    NoDane(String),
    /// The TLSA lookup was bogus or indeterminate while the address lookup was secure (or the
    /// address lookup itself failed): a DANE sender defers and never falls back to cleartext
    /// (RFC 7672 §2.2.2).
    Failure(String),
}

/// The result of the MX lookup (RFC 7672 §2.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxState {
    /// A secure MX RRset: DANE applies to its hosts.
    Secure,
    /// An insecure MX RRset (or insecure denial of it): DANE does not apply to its hosts.
    Insecure(String),
    /// A secure denial of the MX RRset: the domain itself is the host (RFC 5321 §5.1).
    Implicit,
    /// An insecure denial of the MX RRset: the domain itself is the host, without DANE.
    ImplicitInsecure(String),
    /// A null MX (RFC 7505): the domain accepts no mail; there are no hosts.
    Null,
    /// The domain does not exist (a validated NXDOMAIN); there are no hosts.
    NoDomain,
    /// Bogus or indeterminate: a DANE sender defers; there are no hosts.
    Failure(String),
}

/// One port of one host: the TLSA lookups made and the state they decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlan {
    pub port: u16,
    pub state: TlsaState,
    /// The TLSA base domain whose RRset decided `state` (RFC 7672 §2.2.2), when one did.
    pub base: Option<Name>,
    /// The reference identifiers for name checks (RFC 7672 §3.2.2): the TLSA base domain, the
    /// original host name when it differs, and the next-hop domain.
    pub reference_names: Vec<String>,
    /// Records of the deciding RRset that do not parse; they count as unusable.
    pub unparsed: Vec<String>,
    /// The TLSA RRsets validated, in the order asked (each with its CNAME hops).
    pub reports: Vec<RrsetReport>,
}

/// One MX host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlan {
    pub name: Name,
    /// The MX preference; `None` for the implicit MX (the domain itself).
    pub preference: Option<u16>,
    /// The addresses of the validated A answer, then of the AAAA answer, as served (at most
    /// [`MAX_ADDRESSES`]).
    pub addresses: Vec<IpAddr>,
    /// Addresses beyond [`MAX_ADDRESSES`], not kept.
    pub addresses_omitted: usize,
    /// The first response (the CNAME, when there is one) of both the A and the AAAA lookup
    /// was secure: only then is TLSA looked up (RFC 7672 §2.2.2).
    pub address_secure: bool,
    /// The fully expanded name, when the host is a CNAME chain that validated secure at
    /// every hop.
    pub expanded: Option<Name>,
    /// The A and AAAA RRsets validated (each with its CNAME hops).
    pub address_reports: Vec<RrsetReport>,
    pub ports: Vec<PortPlan>,
}

/// What to do with the hosts of an insecure MX RRset (RFC 7672 §2.2.1: a sender MAY still use
/// DANE for them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum InsecureMx {
    /// DANE does not apply to them (the RFC's baseline).
    #[default]
    NoDane,
    /// Their own TLSA RRsets apply when their address and TLSA lookups are secure (Postfix's
    /// default, `smtp_tls_dane_insecure_mx_policy = dane`).
    Dane,
}

/// What a DANE sender would do for a mail domain, before any connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub domain: Name,
    pub mx: MxState,
    /// The MX RRset validated (with its CNAME hops).
    pub mx_reports: Vec<RrsetReport>,
    /// In MX preference order, ties by name; each host once; at most [`MAX_HOSTS`].
    pub hosts: Vec<HostPlan>,
    /// MX hosts beyond [`MAX_HOSTS`], not planned.
    pub hosts_omitted: usize,
}

/// Asks the RFC 7672 §2.2 questions for `domain` and decides the TLSA state of every MX host
/// for every port in `ports`.
pub fn plan(validator: &Validator<'_>, domain: &Name, ports: &[u16]) -> Plan {
    let mut hosts = Vec::new();
    let mut head = plan_each(validator, domain, ports, InsecureMx::NoDane, &mut |h| {
        hosts.push(h)
    });
    head.hosts = hosts;
    head
}

/// [`plan()`], handing each host to `each` as soon as it is planned (so that its connections
/// can start while the next host's DNS questions are asked); the plan returned has no hosts.
pub fn plan_each(
    validator: &Validator<'_>,
    domain: &Name,
    ports: &[u16],
    insecure_mx: InsecureMx,
    each: &mut dyn FnMut(HostPlan),
) -> Plan {
    let mx_reports = validator.validate(domain, RecordType::MX);
    let status = worst(&mx_reports);
    let answer = mx_reports.last().map_or(AnswerKind::None, |r| r.answer);
    let records: &[String] = mx_reports.last().map_or(&[], |r| &r.records[..]);
    let (mx, exchanges) = match (&status, answer) {
        (Status::Bogus(why), _) => (
            MxState::Failure(format!("the MX RRset is bogus: {why}")),
            vec![],
        ),
        (Status::Indeterminate(_), _) | (_, AnswerKind::None) => (
            MxState::Failure(format!(
                "the MX RRset is indeterminate: {why}",
                why = reason(&status)
            )),
            vec![],
        ),
        (_, AnswerKind::Nxdomain) => (MxState::NoDomain, vec![]),
        (Status::Secure, AnswerKind::Nodata) => (MxState::Implicit, vec![(None, domain.clone())]),
        (Status::Insecure(why), AnswerKind::Nodata) => (
            MxState::ImplicitInsecure(why.clone()),
            vec![(None, domain.clone())],
        ),
        (_, AnswerKind::Data) => {
            let hosts = mx_hosts(records);
            if hosts.is_empty() {
                (MxState::Null, hosts)
            } else if let Status::Insecure(why) = &status {
                (MxState::Insecure(why.clone()), hosts)
            } else {
                (MxState::Secure, hosts)
            }
        }
    };
    let dane = match &mx {
        MxState::Secure | MxState::Implicit => None,
        MxState::Insecure(_) if insecure_mx == InsecureMx::Dane => None,
        MxState::Insecure(why) | MxState::ImplicitInsecure(why) => {
            Some(format!("the MX lookup is insecure: {why}"))
        }
        MxState::Null | MxState::NoDomain | MxState::Failure(_) => None,
    };
    let mut seen = BTreeSet::new();
    let mut exchanges: Vec<(Option<u16>, Name)> = exchanges
        .into_iter()
        .filter(|(_, host)| seen.insert(host.to_lowercase()))
        .collect();
    let hosts_omitted = exchanges.len().saturating_sub(MAX_HOSTS);
    exchanges.truncate(MAX_HOSTS);
    for (preference, host) in exchanges {
        each(host_plan(
            validator,
            domain,
            host,
            preference,
            ports,
            dane.as_deref(),
        ));
    }
    Plan {
        domain: domain.clone(),
        mx,
        mx_reports,
        hosts: Vec::new(),
        hosts_omitted,
    }
}

/// The plan of one host named directly (`verify --host`): no MX lookup; the host is its own
/// next-hop domain.
pub fn plan_host(validator: &Validator<'_>, host: &Name, ports: &[u16]) -> HostPlan {
    host_plan(validator, host, host.clone(), None, ports, None)
}

fn host_plan(
    validator: &Validator<'_>,
    domain: &Name,
    host: Name,
    preference: Option<u16>,
    ports: &[u16],
    no_dane: Option<&str>,
) -> HostPlan {
    let a = validator.validate(&host, RecordType::A);
    let aaaa = validator.validate(&host, RecordType::AAAA);
    let mut addresses = Vec::new();
    for reports in [&a, &aaaa] {
        addresses.extend(usable_addresses(reports));
    }
    let addresses_omitted = addresses.len().saturating_sub(MAX_ADDRESSES);
    addresses.truncate(MAX_ADDRESSES);
    let expanded = [&a, &aaaa].into_iter().find_map(|hops| expanded_name(hops));
    // RFC 7672 §2.2.2: the first response of each address lookup (the CNAME, when there is
    // one) decides whether TLSA is looked up at all.
    let firsts: Vec<Status> = [&a, &aaaa]
        .into_iter()
        .map(|hops| {
            hops.first().map_or(
                Status::Indeterminate("no answer".into()),
                RrsetReport::status,
            )
        })
        .collect();
    let address_secure = firsts.iter().all(|s| *s == Status::Secure);
    let address_failure = [(RecordType::A, &firsts[0]), (RecordType::AAAA, &firsts[1])]
        .into_iter()
        .find_map(|(rtype, s)| match s {
            Status::Bogus(why) => Some(format!(
                "the {rtype} lookup of {} is bogus: {why}",
                name_text(&host)
            )),
            Status::Indeterminate(why) => Some(format!(
                "the {rtype} lookup of {} is indeterminate: {why}",
                name_text(&host)
            )),
            _ => None,
        });
    let ports = ports
        .iter()
        .map(|&port| {
            let mut candidates = Vec::new();
            if let Some(e) = &expanded {
                candidates.push(e.clone());
            }
            candidates.push(host.clone());
            let fixed = if let Some(why) = no_dane {
                Some(TlsaState::NoDane(why.to_owned()))
            } else if let Some(why) = &address_failure {
                Some(TlsaState::Failure(why.clone()))
            } else if !address_secure {
                let why = firsts.iter().find_map(Status::reason).unwrap_or_default();
                Some(TlsaState::NoDane(format!(
                    "the address lookup of {} is insecure: {why}",
                    name_text(&host)
                )))
            } else {
                None
            };
            match fixed {
                Some(state) => PortPlan {
                    port,
                    state,
                    base: None,
                    reference_names: reference_names(None, &host, domain),
                    unparsed: Vec::new(),
                    reports: Vec::new(),
                },
                None => port_plan(validator, domain, &host, &candidates, port),
            }
        })
        .collect();
    let mut address_reports = a;
    address_reports.extend(aaaa);
    HostPlan {
        name: host,
        preference,
        addresses,
        addresses_omitted,
        address_secure,
        expanded,
        address_reports,
        ports,
    }
}

/// The TLSA lookups of one port, candidates in order (RFC 7672 §2.2.2: the expanded name
/// first, then the original): a secure RRset decides; a secure denial or an insecure answer
/// passes to the next candidate (rule 4: insecure is as if there were none); a bogus or
/// indeterminate answer is a failure at once.
fn port_plan(
    validator: &Validator<'_>,
    domain: &Name,
    host: &Name,
    candidates: &[Name],
    port: u16,
) -> PortPlan {
    let mut reports = Vec::new();
    let mut last_none = String::new();
    for base in candidates {
        let Ok(owner) = owner_name(port, Proto::Tcp, base) else {
            last_none = format!("no TLSA owner name can be formed under {}", name_text(base));
            continue;
        };
        let hops = validator.validate(&owner, RecordType::TLSA);
        let status = worst(&hops);
        let answer = hops.last().map_or(AnswerKind::None, |r| r.answer);
        let records = hops.last().map(|r| r.records.clone()).unwrap_or_default();
        reports.extend(hops);
        let done = |state, unparsed, reports| PortPlan {
            port,
            state,
            base: Some(base.clone()),
            reference_names: reference_names(Some(base), host, domain),
            unparsed,
            reports,
        };
        let owner_text = name_text(&owner);
        match (&status, answer) {
            (Status::Bogus(why), _) => {
                let why = format!("the TLSA RRset at {owner_text} is bogus: {why}");
                return done(TlsaState::Failure(why), Vec::new(), reports);
            }
            (Status::Indeterminate(why), _) => {
                let why = format!("the TLSA RRset at {owner_text} is indeterminate: {why}");
                return done(TlsaState::Failure(why), Vec::new(), reports);
            }
            (_, AnswerKind::None) => {
                let why = format!("no answer for the TLSA RRset at {owner_text}");
                return done(TlsaState::Failure(why), Vec::new(), reports);
            }
            (Status::Insecure(why), _) => {
                last_none = format!("the TLSA RRset at {owner_text} is insecure: {why}");
            }
            (Status::Secure, AnswerKind::Nodata | AnswerKind::Nxdomain) => {
                let kind = if answer == AnswerKind::Nodata {
                    "NODATA"
                } else {
                    "NXDOMAIN"
                };
                last_none = format!("no TLSA RRset at {owner_text} (secure {kind})");
            }
            (Status::Secure, AnswerKind::Data) => {
                let (parsed, unparsed) = parse_records(&records);
                let state = if parsed.iter().any(usable) {
                    TlsaState::Usable(parsed)
                } else {
                    TlsaState::UnusableOnly(parsed)
                };
                return done(state, unparsed, reports);
            }
        }
    }
    PortPlan {
        port,
        state: TlsaState::NoDane(last_none),
        base: None,
        reference_names: reference_names(None, host, domain),
        unparsed: Vec::new(),
        reports,
    }
}

/// Whether a record takes part in matching: well formed (RFC 6698 §4.1, RFC 7671 §9) and
/// DANE-TA or DANE-EE (RFC 7672 §3.1.3; PKIX usages are not checked).
pub fn usable(record: &Rdata) -> bool {
    record.check_usable().is_ok() && matches!(record.params.usage, Usage::DaneTa | Usage::DaneEe)
}

/// The records that parse, and the presentation text of those that do not.
pub fn parse_records(records: &[String]) -> (Vec<Rdata>, Vec<String>) {
    let mut parsed = Vec::new();
    let mut unparsed = Vec::new();
    for text in records {
        match text.parse::<Rdata>() {
            Ok(r) => parsed.push(r),
            Err(_) => unparsed.push(text.clone()),
        }
    }
    (parsed, unparsed)
}

fn reference_names(base: Option<&Name>, host: &Name, domain: &Name) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for n in base.into_iter().chain([host, domain]) {
        let text = name_text(n);
        if !names.iter().any(|x| x.eq_ignore_ascii_case(&text)) {
            names.push(text);
        }
    }
    names
}

/// The addresses of a validated A or AAAA answer, unless it is bogus or indeterminate.
fn usable_addresses(hops: &[RrsetReport]) -> Vec<IpAddr> {
    if matches!(worst(hops), Status::Bogus(_) | Status::Indeterminate(_)) {
        return Vec::new();
    }
    match hops.last() {
        Some(last)
            if last.answer == AnswerKind::Data && (last.rtype == "A" || last.rtype == "AAAA") =>
        {
            last.records
                .iter()
                .filter_map(|r| r.trim().parse().ok())
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The fully expanded name of a CNAME chain that is secure at every hop.
fn expanded_name(hops: &[RrsetReport]) -> Option<Name> {
    if hops.len() < 2 || hops.iter().any(|h| h.status() != Status::Secure) {
        return None;
    }
    hops.last().and_then(|l| Name::from_ascii(&l.name).ok())
}

fn reason(status: &Status) -> &str {
    status.reason().unwrap_or("no answer")
}

/// The exchanges of an MX RRset in presentation form, by preference then name; `0 .` (null
/// MX, RFC 7505) gives none.
pub fn mx_hosts(records: &[String]) -> Vec<(Option<u16>, Name)> {
    let mut hosts: Vec<(u16, Name)> = records
        .iter()
        .filter_map(|r| {
            let (pref, host) = r.trim().split_once(' ')?;
            let pref = pref.parse::<u16>().ok()?;
            let name = Name::from_ascii(host.trim()).ok()?;
            (!name.is_root()).then_some((pref, name))
        })
        .collect();
    hosts.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    hosts.into_iter().map(|(p, h)| (Some(p), h)).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn records_that_do_not_parse_are_kept_apart_not_dropped() {
        let (parsed, unparsed) = parse_records(&[
            "3 1 1 00aa".to_owned(),
            "3 1 1".to_owned(),
            "3 1 1 zz".to_owned(),
        ]);
        assert_eq!(parsed, vec!["3 1 1 00aa".parse::<Rdata>().unwrap()]);
        assert_eq!(unparsed, vec!["3 1 1".to_owned(), "3 1 1 zz".to_owned()]);
    }

    #[test]
    fn rfc7672_3_1_3_only_dane_usages_with_good_data_are_usable() {
        let ee = format!("3 1 1 {}", "ab".repeat(32));
        let ta = format!("2 0 1 {}", "ab".repeat(32));
        let pkix = format!("1 1 1 {}", "ab".repeat(32));
        let short = "3 1 1 abab";
        let unknown = format!("4 1 1 {}", "ab".repeat(32));
        let verdicts: Vec<bool> = [ee.as_str(), &ta, &pkix, short, &unknown]
            .iter()
            .map(|t| usable(&t.parse().unwrap()))
            .collect();
        assert_eq!(verdicts, [true, true, false, false, false]);
    }

    #[test]
    fn rfc7505_null_mx_gives_no_exchange_and_ties_sort_by_name() {
        assert!(mx_hosts(&["0 .".to_owned()]).is_empty());
        let hosts = mx_hosts(&[
            "20 c.example.".to_owned(),
            "10 b.example.".to_owned(),
            "10 a.example.".to_owned(),
        ]);
        let hosts: Vec<(Option<u16>, String)> =
            hosts.into_iter().map(|(p, n)| (p, n.to_string())).collect();
        assert_eq!(
            hosts,
            [
                (Some(10), "a.example.".to_owned()),
                (Some(10), "b.example.".to_owned()),
                (Some(20), "c.example.".to_owned())
            ]
        );
    }
}
