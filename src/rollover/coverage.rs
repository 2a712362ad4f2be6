//! Does a published TLSA RRset cover both the chain served now and the next one (RFC 7671 §8)?
//!
//! The question is answered as DANE clients would answer it, for each kind of client: one that
//! implements SHA2-256 only and one that also implements SHA2-512 (RFC 7671 §9: a client uses,
//! per usage and selector, only the strongest digest it implements). A swap is covered when
//! every kind of client authenticates the next chain with the records it would use, as it
//! authenticates the current one. Besides, every parameter set is audited on its own (rule 9 of
//! the design notes: each set should match the deployed chain), and records that match nothing
//! are named: a junk value, a duplicate or an issuer of another CA is no "next" record
//! (rule 15).
//!
//! Matching here is on the data: DANE-EE on the leaf (or the next key), DANE-TA on an issuer.
//! When the next certificate does not exist yet (a key or CSR), its issuer is unknown: it is
//! one of the issuers its CA may use ([`super::issuers`]), and each of them must be covered;
//! for a CA in no known family, the current issuer is assumed.

use crate::pki::{Certificate, KeyFamily};
use crate::tlsa::compute::{associate, select};
use crate::tlsa::{Matching, ParamSet, Rdata, Selector, Usage};

use super::issuers::{Family, common_name};

/// The next certificate or key.
#[derive(Debug, Clone, Copy)]
pub enum Next<'a> {
    /// A certificate, alone or with its issuers (leaf first).
    Chain(&'a [Certificate]),
    /// A key or CSR: the certificate does not exist yet.
    Key { spki: &'a [u8], family: KeyFamily },
}

impl<'a> Next<'a> {
    fn spki(&self) -> &'a [u8] {
        match self {
            Next::Chain(chain) => chain.first().map_or(&[][..], |c| &c.spki[..]),
            Next::Key { spki, .. } => spki,
        }
    }

    fn family(&self) -> KeyFamily {
        match self {
            Next::Chain(chain) => chain
                .first()
                .map_or(KeyFamily::Other, |c| KeyFamily::of(&c.key)),
            Next::Key { family, .. } => *family,
        }
    }
}

/// The two kinds of client: SHA2-256 only, and SHA2-256 with SHA2-512.
pub const CLIENTS: [&str; 2] = ["SHA2-256", "SHA2-256+SHA2-512"];

/// What one record is to the swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRole {
    pub record: Rdata,
    /// It matches the chain served now.
    pub current: bool,
    /// It matches the next chain or key, or one of the issuers the next certificate may have.
    pub next: bool,
    /// Why it takes no part, when it does not (an unusable record).
    pub unusable: Option<String>,
}

/// A parameter set of the RRset, audited on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCoverage {
    pub params: ParamSet,
    pub current: bool,
    /// A record of the set matches the next chain or key (for issuer records without a next
    /// issuer given: every issuer the next certificate may have). True without a next.
    pub next: bool,
}

/// The issuers the next certificate may have, and which of them the records cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextIssuers {
    /// The family, or `the current issuer` for a CA in no known family.
    pub source: String,
    pub covered: Vec<String>,
    pub uncovered: Vec<String>,
}

/// The coverage of one RRset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// Per kind of client ([`CLIENTS`]): is the current chain authenticated?
    pub current: [bool; 2],
    /// Per kind of client: would the next chain be? `None` without a next.
    pub next: Option<[bool; 2]>,
    pub records: Vec<RecordRole>,
    pub sets: Vec<SetCoverage>,
    /// For the issuer records, when the next certificate's issuer is not given.
    pub next_issuers: Option<NextIssuers>,
    /// The next key equals the current one.
    pub same_key: bool,
}

/// What a record is matched against.
struct Targets<'a> {
    leaf: Option<&'a Certificate>,
    spki: Option<&'a [u8]>,
    issuers: Vec<&'a [u8]>,
    issuer_certs: Vec<&'a Certificate>,
}

fn matches_leaf(record: &Rdata, t: &Targets<'_>) -> bool {
    let selected: Option<&[u8]> = match (record.params.selector, t.leaf, t.spki) {
        (Selector::Cert, Some(leaf), _) => Some(&leaf.der),
        (Selector::Spki, Some(leaf), _) => Some(&leaf.spki),
        (Selector::Spki, None, Some(spki)) => Some(spki),
        _ => None,
    };
    selected.is_some_and(|s| associate(record.params.matching, s) == record.data)
}

fn matches_issuer(record: &Rdata, cert: &Certificate) -> bool {
    associate(record.params.matching, select(cert, record.params.selector)) == record.data
}

fn is_ee(u: Usage) -> bool {
    matches!(u, Usage::DaneEe | Usage::PkixEe)
}

/// Why a record is not used by SMTP clients, or by this check.
fn unusable(record: &Rdata, smtp: bool) -> Option<String> {
    if let Err(e) = record.check_usable() {
        return Some(e.to_string());
    }
    match record.params.usage {
        Usage::PkixTa | Usage::PkixEe if smtp => {
            Some("PKIX usages are not used for SMTP (RFC 7672 §3.1.3)".into())
        }
        Usage::Other(_) => Some("unassigned usage".into()),
        _ => None,
    }
}

/// Whether a client that implements `sha512` keeps `record`, given the usable records: per
/// usage and selector only the strongest digest it implements (RFC 7671 §9); full data always.
fn kept(record: &Rdata, usable: &[&Rdata], sha512: bool) -> bool {
    let strength = |m: Matching| match m {
        Matching::Sha512 if sha512 => 2,
        Matching::Sha512 => -1,
        Matching::Sha256 => 1,
        _ => 0,
    };
    let own = strength(record.params.matching);
    if own < 0 {
        return false;
    }
    if own == 0 {
        return true;
    }
    let strongest = usable
        .iter()
        .filter(|r| {
            r.params.usage == record.params.usage && r.params.selector == record.params.selector
        })
        .map(|r| strength(r.params.matching))
        .max()
        .unwrap_or(own);
    own >= strongest
}

/// Assesses `rrset` against the `current` chain (leaf first) and `next`.
///
/// `families` are the known issuer families; `now` decides which of them issues.
pub fn assess(
    current: &[Certificate],
    next: Option<Next<'_>>,
    rrset: &[Rdata],
    smtp: bool,
    families: &[Family],
    now: crate::time::Timestamp,
) -> Coverage {
    let cur = Targets {
        leaf: current.first(),
        spki: None,
        issuers: current.iter().skip(1).map(|c| &c.der[..]).collect(),
        issuer_certs: current.iter().skip(1).collect(),
    };
    // The issuers the next certificate may have, when they are not given.
    let mut possible: Vec<&Certificate> = Vec::new();
    let mut possible_source = String::new();
    let owned_family: Vec<Certificate>;
    let nxt = next.map(|n| match n {
        Next::Chain(chain) if chain.len() > 1 => Targets {
            leaf: chain.first(),
            spki: None,
            issuers: chain.iter().skip(1).map(|c| &c.der[..]).collect(),
            issuer_certs: chain.iter().skip(1).collect(),
        },
        _ => Targets {
            leaf: match n {
                Next::Chain(chain) => chain.first(),
                Next::Key { .. } => None,
            },
            spki: Some(n.spki()),
            issuers: Vec::new(),
            issuer_certs: Vec::new(),
        },
    });
    let next_has_issuers = nxt.as_ref().is_some_and(|t| !t.issuers.is_empty());
    if let (Some(n), false) = (next, next_has_issuers) {
        match cur
            .issuers
            .first()
            .and_then(|i| super::issuers::possible_next(families, i, n.family(), now))
        {
            Some(family) => {
                owned_family = family
                    .members
                    .iter()
                    .filter_map(|m| Certificate::from_der(&m.der).ok())
                    .collect();
                possible.extend(owned_family.iter());
                possible_source = family.name.clone();
            }
            None => {
                if let Some(first) = cur.issuer_certs.first() {
                    possible.push(first);
                    possible_source = "the current issuer".into();
                }
            }
        }
    }

    let usable: Vec<&Rdata> = rrset
        .iter()
        .filter(|r| unusable(r, smtp).is_none())
        .collect();
    let roles: Vec<RecordRole> = rrset
        .iter()
        .map(|r| {
            let why = unusable(r, smtp);
            let matches = |t: &Targets<'_>| {
                if is_ee(r.params.usage) {
                    matches_leaf(r, t)
                } else {
                    t.issuer_certs.iter().any(|c| matches_issuer(r, c))
                }
            };
            let next_match = nxt.as_ref().is_some_and(|t| {
                matches(t)
                    || (!is_ee(r.params.usage) && possible.iter().any(|p| matches_issuer(r, p)))
            });
            RecordRole {
                record: r.clone(),
                current: why.is_none() && matches(&cur),
                next: why.is_none() && next_match,
                unusable: why,
            }
        })
        .collect();

    let role = |r: &Rdata| roles.iter().find(|x| &x.record == r);
    let mut current_ok = [false; 2];
    let mut next_ok = [false; 2];
    for (i, sha512) in [false, true].into_iter().enumerate() {
        let kept_records: Vec<&Rdata> = usable
            .iter()
            .copied()
            .filter(|r| kept(r, &usable, sha512))
            .collect();
        current_ok[i] = kept_records
            .iter()
            .any(|r| role(r).is_some_and(|x| x.current));
        if let Some(t) = &nxt {
            let ee = kept_records
                .iter()
                .any(|r| is_ee(r.params.usage) && matches_leaf(r, t));
            let ta = if next_has_issuers {
                kept_records.iter().any(|r| {
                    !is_ee(r.params.usage) && t.issuer_certs.iter().any(|c| matches_issuer(r, c))
                })
            } else {
                !possible.is_empty()
                    && possible.iter().all(|p| {
                        kept_records
                            .iter()
                            .any(|r| !is_ee(r.params.usage) && matches_issuer(r, p))
                    })
            };
            next_ok[i] = ee || ta;
        }
    }

    let mut sets: Vec<SetCoverage> = Vec::new();
    for r in &usable {
        if sets.iter().any(|s| s.params == r.params) {
            continue;
        }
        let members: Vec<&RecordRole> = roles
            .iter()
            .filter(|x| x.record.params == r.params)
            .collect();
        let next = match &nxt {
            None => true,
            Some(_) if is_ee(r.params.usage) || next_has_issuers => members.iter().any(|x| x.next),
            Some(_) => {
                !possible.is_empty()
                    && possible
                        .iter()
                        .all(|p| members.iter().any(|x| matches_issuer(&x.record, p)))
            }
        };
        sets.push(SetCoverage {
            params: r.params,
            current: members.iter().any(|x| x.current),
            next,
        });
    }

    let next_issuers = (!possible.is_empty() && usable.iter().any(|r| !is_ee(r.params.usage)))
        .then(|| {
            let (covered, uncovered): (Vec<&&Certificate>, Vec<&&Certificate>) =
                possible.iter().partition(|p| {
                    usable
                        .iter()
                        .any(|r| !is_ee(r.params.usage) && matches_issuer(r, p))
                });
            NextIssuers {
                source: possible_source.clone(),
                covered: covered.iter().map(|c| common_name(&c.subject)).collect(),
                uncovered: uncovered.iter().map(|c| common_name(&c.subject)).collect(),
            }
        });
    let same_key = next.is_some_and(|n| current.first().is_some_and(|c| c.spki == n.spki()));
    Coverage {
        current: current_ok,
        next: nxt.as_ref().map(|_| next_ok),
        records: roles,
        sets,
        next_issuers,
        same_key,
    }
}

/// The records the next chain or key needs for `params`, when they can be computed: DANE-EE
/// from the next leaf or key, DANE-TA from the next chain's first issuer.
pub fn next_records(next: Next<'_>, params: &[ParamSet]) -> Vec<Rdata> {
    let mut out = Vec::new();
    for &p in params {
        let selected: Option<Vec<u8>> = match (next, is_ee(p.usage), p.selector) {
            (Next::Key { spki, .. }, true, Selector::Spki) => Some(spki.to_vec()),
            (Next::Chain(chain), true, _) => chain.first().map(|c| select(c, p.selector).to_vec()),
            (Next::Chain(chain), false, _) => chain.get(1).map(|c| select(c, p.selector).to_vec()),
            _ => None,
        };
        if let Some(s) = selected {
            let r = Rdata::new(p, associate(p.matching, &s));
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}
