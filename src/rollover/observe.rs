//! What `rollover` needs from DNS: the TLSA RRset validated through the resolvers, and the
//! same RRset as each authoritative server of the zone serves it, validated with that server's
//! answers for the zone's own names (its DNSKEY RRset, the RRset and its RRSIGs) and the
//! resolvers' for everything above the zone; the SOA serial and negative TTL of each.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, RecordType};

use super::{NsView, Published};
use crate::addr::name_text;
use crate::dns::client::{Client, NoAnswer, Source};
use crate::dnssec::{AnswerKind, Limits, RrsetReport, Status, TrustAnchors, Validator, worst};
use crate::env::Net;
use crate::time::Timestamp;

/// At most this many authoritative addresses are asked.
pub const MAX_NAMESERVERS: usize = 16;

/// A [`Source`] that asks one authoritative server for the names of its zone and the
/// resolvers for the rest (the DS of the zone lives in the parent).
struct Routed<'a> {
    zone: &'a Name,
    auth: &'a Client<'a>,
    rest: &'a dyn Source,
}

impl Source for Routed<'_> {
    fn fetch(&self, name: &Name, rtype: RecordType) -> Result<Rc<Message>, NoAnswer> {
        let in_zone = self.zone.zone_of(name) && !(name == self.zone && rtype == RecordType::DS);
        if in_zone {
            self.auth.fetch(name, rtype)
        } else {
            self.rest.fetch(name, rtype)
        }
    }
}

/// What DNS says of one owner name.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The RRset the judgement uses: what every authoritative server serves when they agree,
    /// else what the resolvers give.
    pub published: Published,
    pub nameservers: Vec<NsView>,
    /// The RRset (presentation form) and TTL every authoritative server serves, when they all
    /// answer it securely and agree; an empty set when they all securely deny it.
    pub served: Option<(Vec<String>, u32)>,
    /// The smaller of the SOA's TTL and MINIMUM (RFC 2308 §5).
    pub negative_ttl: u32,
    /// The validation through the resolvers.
    pub reports: Vec<RrsetReport>,
}

/// The authoritative servers of `zone`: its NS RRset through the validator (the RRset must
/// not be bogus), each name's A and AAAA addresses, on port 53; at most
/// [`MAX_NAMESERVERS`].
pub fn nameservers(
    validator: &Validator<'_>,
    zone: &Name,
) -> Result<Vec<(String, SocketAddr)>, String> {
    let ns = validator.validate(zone, RecordType::NS);
    let status = worst(&ns);
    if let Status::Bogus(why) | Status::Indeterminate(why) = &status {
        return Err(format!(
            "the NS RRset of {} is {}: {why}",
            name_text(zone),
            status.word().as_str()
        ));
    }
    let names: Vec<String> = ns
        .last()
        .filter(|r| r.answer == AnswerKind::Data)
        .map(|r| r.records.clone())
        .unwrap_or_default();
    if names.is_empty() {
        return Err(format!("{} has no NS RRset", name_text(zone)));
    }
    let mut out = Vec::new();
    for text in names {
        let Ok(host) = Name::from_ascii(text.trim()) else {
            continue;
        };
        for rtype in [RecordType::A, RecordType::AAAA] {
            let hops = validator.validate(&host, rtype);
            if matches!(worst(&hops), Status::Bogus(_)) {
                continue;
            }
            if let Some(last) = hops.last().filter(|r| r.answer == AnswerKind::Data) {
                for a in &last.records {
                    if let Ok(ip) = a.trim().parse::<IpAddr>() {
                        out.push((name_text(&host), SocketAddr::new(ip, 53)));
                    }
                }
            }
        }
    }
    if out.is_empty() {
        return Err(format!(
            "no address for any nameserver of {}",
            name_text(zone)
        ));
    }
    out.truncate(MAX_NAMESERVERS);
    Ok(out)
}

/// Observes `owner` (in `zone`) through `resolver` and each of `servers`.
#[allow(clippy::too_many_arguments)]
pub fn observe(
    net: &dyn Net,
    resolver: &dyn Source,
    anchors: &TrustAnchors,
    now: Timestamp,
    timeout: Duration,
    zone: &Name,
    owner: &Name,
    servers: &[(String, SocketAddr)],
) -> Observation {
    let validator = Validator::new(resolver, anchors, now, Limits::default());
    let reports = validator.validate(owner, RecordType::TLSA);
    let mut views = Vec::new();
    let mut negative_ttl = None;
    let mut agreed: Option<Option<(Vec<String>, u32)>> = None;
    for (name, addr) in servers {
        let auth = Client::new(net, vec![*addr], timeout);
        let routed = Routed {
            zone,
            auth: &auth,
            rest: resolver,
        };
        let v = Validator::new(&routed, anchors, now, Limits::default());
        let hops = v.validate(owner, RecordType::TLSA);
        let status = worst(&hops);
        let last = hops.last();
        let mut records: Vec<String> = last
            .filter(|r| r.answer == AnswerKind::Data)
            .map(|r| r.records.clone())
            .unwrap_or_default();
        records.sort();
        let soa = auth.fetch(zone, RecordType::SOA);
        let (serial, error) = match &soa {
            Ok(message) => match soa_of(message, zone) {
                Some((serial, neg)) => {
                    negative_ttl.get_or_insert(neg);
                    (Some(serial), None)
                }
                None => (
                    None,
                    Some(format!("no SOA for {} in its answer", name_text(zone))),
                ),
            },
            Err(e) => (None, Some(e.reason.clone())),
        };
        let this = match (&status, last.map(|r| r.answer)) {
            (Status::Secure, Some(AnswerKind::Data)) => {
                Some((records.clone(), last.and_then(|r| r.ttl).unwrap_or(0)))
            }
            (Status::Secure, Some(AnswerKind::Nodata | AnswerKind::Nxdomain)) => {
                Some((Vec::new(), 0))
            }
            _ => None,
        };
        agreed = Some(match agreed {
            None => this,
            Some(Some((prev, ttl))) => match this {
                Some((cur, t)) if cur == prev => Some((prev, ttl.max(t))),
                _ => None,
            },
            Some(None) => None,
        });
        views.push(NsView {
            name: name.clone(),
            address: addr.to_string(),
            verdict: status.word(),
            records,
            serial,
            error: error.filter(|_| status.word() == crate::dnssec::StatusWord::Indeterminate),
        });
    }
    if negative_ttl.is_none()
        && let Ok(message) = resolver.fetch(zone, RecordType::SOA)
    {
        negative_ttl = soa_of(&message, zone).map(|(_, neg)| neg);
    }
    let served = agreed.flatten();
    let published = match &served {
        Some((records, _)) if !records.is_empty() => secure(records),
        _ => from_reports(&reports),
    };
    Observation {
        published,
        nameservers: views,
        served,
        negative_ttl: negative_ttl.unwrap_or(3600),
        reports,
    }
}

/// The serial and negative TTL (the smaller of the record's TTL and MINIMUM, RFC 2308 §5) of
/// the SOA of `zone` in an answer.
fn soa_of(message: &Message, zone: &Name) -> Option<(u32, u32)> {
    message.answers.iter().find_map(|r| match &r.data {
        RData::SOA(soa) if r.name.to_lowercase() == zone.to_lowercase() => {
            Some((soa.serial, r.ttl.min(soa.minimum)))
        }
        _ => None,
    })
}

fn secure(records: &[String]) -> Published {
    let (parsed, unparsed) = crate::verify::plan::parse_records(records);
    Published::Secure {
        records: parsed,
        unparsed,
    }
}

/// The RRset as the resolvers' validation gives it.
pub fn from_reports(reports: &[RrsetReport]) -> Published {
    let status = worst(reports);
    let last = reports.last();
    match (status, last.map(|r| r.answer)) {
        (Status::Bogus(why), _) => Published::Bogus(why),
        (Status::Indeterminate(why), _) => Published::Indeterminate(why),
        (_, None) => Published::Indeterminate("no answer".into()),
        (Status::Insecure(why), _) => Published::Insecure(why),
        (Status::Secure, Some(AnswerKind::Data)) => {
            secure(last.map(|r| &r.records[..]).unwrap_or_default())
        }
        (Status::Secure, Some(kind)) => Published::Absent(format!(
            "a secure {} at {}",
            if kind == AnswerKind::Nxdomain {
                "NXDOMAIN"
            } else {
                "NODATA"
            },
            last.map(|r| r.name.clone()).unwrap_or_default()
        )),
    }
}
