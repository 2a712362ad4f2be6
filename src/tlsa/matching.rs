//! Matching a TLSA RRset against the certificate chain a server presented (RFC 6698 §2.1,
//! RFC 7671 §5 and §9, RFC 7672 §3).
//!
//! It owns the DANE client's decision: which records are usable, which digest types digest
//! agility leaves in play, and whether one record matches, with the evidence for every record
//! that did not. A failed match is a value ([`Outcome::NoMatch`]), never an `Err`. It does no
//! I/O and reads no clock: the chain, the RRset, the reference names and `now` are handed in.

use thiserror::Error;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::compute::{associate, select};
use super::{Matching, Rdata, Selector, Unusable, Usage};
use crate::pki::Certificate;
use crate::text;
use crate::time::Timestamp;

/// What the chain is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference<'a> {
    /// The reference identifiers, e.g. the TLSA base domain and, for SMTP, the next-hop domain
    /// (RFC 7672 §3.2.2). Compared without case and without a trailing dot.
    pub names: &'a [&'a str],
    /// The service is SMTP, where usages 0 and 1 are unusable (RFC 7672 §3.1.3).
    pub smtp: bool,
}

/// Why a record takes no part in matching.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Unused {
    #[error(transparent)]
    Record(#[from] Unusable),
    /// RFC 7672 §3.1.3: SMTP clients may treat PKIX-TA(0) and PKIX-EE(1) as unusable.
    #[error("usage {0} ({name}) is not used for SMTP (RFC 7672 §3.1.3)", name = pkix_name(*.0))]
    PkixForSmtp(Usage),
    /// PKIX usages need a trust store of public CAs, which this check does not have.
    #[error("usage {0} ({name}) needs PKIX validation against public CAs, which this check does not do", name = pkix_name(*.0))]
    PkixNotChecked(Usage),
}

fn pkix_name(usage: Usage) -> &'static str {
    usage.mnemonic().unwrap_or("unassigned")
}

/// A record that takes no part in matching, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusedRecord {
    pub record: Rdata,
    pub why: Unused,
}

/// A usable record left out by digest agility (RFC 7671 §9): the same usage and selector
/// appear with a stronger matching type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredRecord {
    pub record: Rdata,
    pub stronger: Matching,
}

/// The result of matching an RRset against a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchReport {
    /// Usable records, in RRset order (digest agility not yet applied).
    pub usable: Vec<Rdata>,
    pub unusable: Vec<UnusedRecord>,
    pub ignored: Vec<IgnoredRecord>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `record` matched the certificate at `depth` (0 = leaf). A `2 0 0` trust anchor that
    /// the server did not send has the depth it would have above the presented certificates
    /// it issues.
    Matched { record: Rdata, depth: usize },
    /// No record matched; one entry per record that was tried, in RRset order. Empty when no
    /// record was usable.
    NoMatch(Vec<Miss>),
}

/// A record that was tried and did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    pub record: Rdata,
    pub why: MissReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MissReason {
    #[error("the server presented no certificate")]
    NoChain,
    #[error("the leaf cannot be read: {0}")]
    UnreadableLeaf(String),
    #[error("the leaf's {selected} hashes to {actual}, the record has {expected}")]
    LeafDigest {
        selected: &'static str,
        actual: String,
        expected: String,
    },
    #[error("the leaf's {selected} ({len} bytes) differs from the record's data")]
    LeafContent { selected: &'static str, len: usize },
    #[error("no certificate in the chain hashes to it")]
    NoIssuerDigest,
    #[error("no certificate in the chain above the leaf has this {selected}")]
    NoIssuerContent { selected: &'static str },
    /// A `2 1 0` trust-anchor key whose certificate the server does not send.
    #[error(
        "no certificate in the chain above the leaf has this key: the server does not send the \
         trust anchor's certificate (send it; OpenSSL-based senders such as Postfix accept the \
         bare key, other DANE senders do not)"
    )]
    BareKeyNotSent,
    #[error("matches depth {depth} but the chain from it to the leaf does not verify: {why}")]
    Path { depth: usize, why: PathError },
    #[error("the certificate it carries cannot be read: {0}")]
    UnreadableAnchor(String),
    #[error(
        "the certificate it carries ({subject}) is not sent and does not issue the chain: {why}"
    )]
    AnchorPath { subject: String, why: PathError },
}

/// Why the path from a trust anchor to the leaf does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    #[error("{cert} cannot be read: {reason}")]
    Unreadable { cert: String, reason: String },
    #[error("{cert} names its issuer {issuer}, but the next certificate is {next}")]
    IssuerName {
        cert: String,
        issuer: String,
        next: String,
    },
    #[error("cannot check the signature algorithm {algorithm} of {cert}")]
    UnsupportedAlgorithm { cert: String, algorithm: String },
    #[error("the signature of {cert} does not verify with the key of {issuer}")]
    Signature { cert: String, issuer: String },
    #[error("{cert} expired at {not_after}")]
    Expired { cert: String, not_after: Timestamp },
    #[error("{cert} is not valid before {not_before}")]
    NotYetValid { cert: String, not_before: Timestamp },
    #[error("{cert} has no readable validity dates")]
    NoDates { cert: String },
    #[error("{cert} is not a CA (basicConstraints cA is not set)")]
    NotCa { cert: String },
    #[error("the leaf names {names}, not {reference}")]
    Name { names: String, reference: String },
}

/// Matches `rrset` against `chain` (DER certificates, leaf first, as the server sent them).
///
/// Unusable records are dropped first (RFC 6698 §4.1, RFC 7671 §9, RFC 7672 §3.1.3), then
/// digest agility (RFC 7671 §9) keeps per usage and selector only the strongest digest.
/// The usable records are tried in RRset order; the first that matches wins.
pub fn check_chain(
    chain: &[Vec<u8>],
    rrset: &[Rdata],
    reference: &Reference<'_>,
    now: Timestamp,
) -> MatchReport {
    let mut usable = Vec::new();
    let mut unusable = Vec::new();
    for record in rrset {
        match check_record(record, reference.smtp) {
            Ok(()) => usable.push(record.clone()),
            Err(why) => unusable.push(UnusedRecord {
                record: record.clone(),
                why,
            }),
        }
    }
    let (active, ignored) = apply_digest_agility(&usable);
    let parsed: Vec<Parsed<'_>> = chain.iter().map(|der| Parsed::new(der)).collect();
    let mut misses = Vec::new();
    let mut outcome = None;
    for record in active {
        match match_record(&parsed, record, reference.names, now) {
            Ok(depth) => {
                outcome = Some(Outcome::Matched {
                    record: record.clone(),
                    depth,
                });
                break;
            }
            Err(why) => misses.push(Miss {
                record: record.clone(),
                why,
            }),
        }
    }
    MatchReport {
        outcome: outcome.unwrap_or(Outcome::NoMatch(misses)),
        usable,
        unusable,
        ignored,
    }
}

fn check_record(record: &Rdata, smtp: bool) -> Result<(), Unused> {
    record.check_usable()?;
    match record.params.usage {
        u @ (Usage::PkixTa | Usage::PkixEe) if smtp => Err(Unused::PkixForSmtp(u)),
        u @ (Usage::PkixTa | Usage::PkixEe) => Err(Unused::PkixNotChecked(u)),
        _ => Ok(()),
    }
}

/// RFC 7671 §9: per usage and selector, only the strongest digest present is used. `Full(0)`
/// is no digest and takes no part: such records are always tried.
fn apply_digest_agility(usable: &[Rdata]) -> (Vec<&Rdata>, Vec<IgnoredRecord>) {
    let strength = |m: Matching| match m {
        Matching::Sha512 => 2,
        Matching::Sha256 => 1,
        _ => 0,
    };
    let mut active = Vec::new();
    let mut ignored = Vec::new();
    for record in usable {
        let strongest = usable
            .iter()
            .filter(|r| {
                r.params.usage == record.params.usage && r.params.selector == record.params.selector
            })
            .map(|r| r.params.matching)
            .max_by_key(|&m| strength(m))
            .unwrap_or(record.params.matching);
        if strength(record.params.matching) > 0
            && strength(strongest) > strength(record.params.matching)
        {
            ignored.push(IgnoredRecord {
                record: record.clone(),
                stronger: strongest,
            });
        } else {
            active.push(record);
        }
    }
    (active, ignored)
}

/// One presented certificate, read both ways: the strict reader gives the exact bytes that
/// are hashed and the names, x509-parser the signature check.
struct Parsed<'a> {
    der: &'a [u8],
    cert: Result<Certificate, String>,
}

impl<'a> Parsed<'a> {
    fn new(der: &'a [u8]) -> Self {
        Parsed {
            der,
            cert: Certificate::from_der(der),
        }
    }
}

fn selected_name(selector: Selector) -> &'static str {
    match selector {
        Selector::Cert => "certificate",
        _ => "SPKI",
    }
}

fn match_record(
    chain: &[Parsed<'_>],
    record: &Rdata,
    names: &[&str],
    now: Timestamp,
) -> Result<usize, MissReason> {
    let Some(leaf) = chain.first() else {
        return Err(MissReason::NoChain);
    };
    let leaf = leaf
        .cert
        .as_ref()
        .map_err(|e| MissReason::UnreadableLeaf(e.clone()))?;
    let params = record.params;
    if params.usage == Usage::DaneEe {
        // RFC 7671 §5.1: DANE-EE(3) binds the server key alone; no names, dates or issuers
        // are checked.
        let actual = associate(params.matching, select(leaf, params.selector));
        if actual == record.data {
            return Ok(0);
        }
        let selected = selected_name(params.selector);
        return Err(match params.matching {
            Matching::Full => MissReason::LeafContent {
                selected,
                len: actual.len(),
            },
            _ => MissReason::LeafDigest {
                selected,
                actual: data_encoding::HEXLOWER.encode(&actual),
                expected: record.data_hex(),
            },
        });
    }
    // DANE-TA(2), RFC 7671 §5.2: a certificate above the leaf matches, and the path from it
    // down to the leaf verifies with names and dates checked.
    let mut first_failure = None;
    for (depth, candidate) in chain.iter().enumerate().skip(1) {
        let Ok(cert) = &candidate.cert else {
            continue;
        };
        if associate(params.matching, select(cert, params.selector)) != record.data {
            continue;
        }
        match check_path(chain, depth, None, names, now) {
            Ok(()) => return Ok(depth),
            Err(why) => {
                first_failure.get_or_insert(MissReason::Path { depth, why });
            }
        }
    }
    if let Some(failure) = first_failure {
        return Err(failure);
    }
    // RFC 7671 §5.2: a `2 0 0` record carries the trust anchor itself, so the server need
    // not send it. The anchor takes the place above the presented certificates it issues.
    if params.selector == Selector::Cert && params.matching == Matching::Full {
        let anchor = Certificate::from_der(&record.data).map_err(MissReason::UnreadableAnchor)?;
        let anchored = Parsed {
            der: &record.data,
            cert: Ok(anchor.clone()),
        };
        let mut first_failure = None;
        for depth in 1..=chain.len() {
            match check_path(chain, depth, Some(&anchored), names, now) {
                Ok(()) => return Ok(depth),
                Err(why) => {
                    first_failure.get_or_insert(why);
                }
            }
        }
        if let Some(why) = first_failure {
            return Err(MissReason::AnchorPath {
                subject: anchor.subject,
                why,
            });
        }
    }
    Err(match params.matching {
        Matching::Full if params.selector == Selector::Spki => MissReason::BareKeyNotSent,
        Matching::Full => MissReason::NoIssuerContent {
            selected: selected_name(params.selector),
        },
        _ => MissReason::NoIssuerDigest,
    })
}

fn describe(depth: usize, cert: &Certificate) -> String {
    if depth == 0 {
        "the leaf".into()
    } else {
        format!("the certificate at depth {depth} ({})", cert.subject)
    }
}

/// Checks the path `chain[0..depth]` up to the trust anchor at `depth`: the anchor is
/// `chain[depth]`, or `anchor` when given (a `2 0 0` record's certificate).
fn check_path(
    chain: &[Parsed<'_>],
    depth: usize,
    anchor: Option<&Parsed<'_>>,
    names: &[&str],
    now: Timestamp,
) -> Result<(), PathError> {
    let at = |i: usize| -> Option<&Parsed<'_>> {
        if i == depth {
            anchor.or_else(|| chain.get(i))
        } else {
            chain.get(i)
        }
    };
    let readable = |i: usize| -> Result<(&Certificate, &[u8]), PathError> {
        let Some(p) = at(i) else {
            return Err(PathError::Unreadable {
                cert: format!("the certificate at depth {i}"),
                reason: "it is missing".into(),
            });
        };
        match &p.cert {
            Ok(c) => Ok((c, p.der)),
            Err(reason) => Err(PathError::Unreadable {
                cert: if i == 0 {
                    "the leaf".into()
                } else {
                    format!("the certificate at depth {i}")
                },
                reason: reason.clone(),
            }),
        }
    };
    for i in 0..depth {
        let (cert, der) = readable(i)?;
        let (issuer, issuer_der) = readable(i + 1)?;
        let this = describe(i, cert);
        if !cert.is_named_issuer(issuer) {
            return Err(PathError::IssuerName {
                cert: this,
                issuer: cert.issuer.clone(),
                next: issuer.subject.clone(),
            });
        }
        check_signature(der, issuer_der, &this, &describe(i + 1, issuer))?;
        check_dates(cert, &this, now)?;
        // RFC 5280 §4.2.1.9: an issuer below the trust anchor must be a CA.
        if i > 0 && !cert.is_ca {
            return Err(PathError::NotCa { cert: this });
        }
    }
    // The trust anchor's own dates are checked too, as OpenSSL's DANE verifier does. RFC 7671
    // §5.2 does not exempt a DANE-TA certificate from them; an operator who wants a
    // long-lived anchor publishes `2 1 x` for its key.
    let (ta, _) = readable(depth)?;
    check_dates(ta, &describe(depth, ta), now)?;
    let (leaf, _) = readable(0)?;
    check_names(leaf, names)
}

fn check_signature(
    der: &[u8],
    issuer_der: &[u8],
    this: &str,
    issuer: &str,
) -> Result<(), PathError> {
    use x509_parser::error::X509Error;
    let unreadable = |cert: &str| PathError::Unreadable {
        cert: cert.into(),
        reason: "x509-parser cannot read it".into(),
    };
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| unreadable(this))?;
    let (_, issuer_cert) = X509Certificate::from_der(issuer_der).map_err(|_| unreadable(issuer))?;
    match cert.verify_signature(Some(issuer_cert.public_key())) {
        Ok(()) => Ok(()),
        Err(X509Error::SignatureUnsupportedAlgorithm) => Err(PathError::UnsupportedAlgorithm {
            cert: this.into(),
            algorithm: cert.signature_algorithm.algorithm.to_id_string(),
        }),
        Err(_) => Err(PathError::Signature {
            cert: this.into(),
            issuer: issuer.into(),
        }),
    }
}

fn check_dates(cert: &Certificate, this: &str, now: Timestamp) -> Result<(), PathError> {
    let (Some(not_before), Some(not_after)) = (cert.not_before, cert.not_after) else {
        return Err(PathError::NoDates { cert: this.into() });
    };
    if now < not_before {
        return Err(PathError::NotYetValid {
            cert: this.into(),
            not_before,
        });
    }
    if now > not_after {
        return Err(PathError::Expired {
            cert: this.into(),
            not_after,
        });
    }
    Ok(())
}

/// RFC 7671 §5.2 and RFC 7672 §3.2.3: under DANE-TA the leaf must carry a reference
/// identifier. The subjectAltName dNSNames are used; the subject CN only when there are none
/// (RFC 6125 §6.4.4).
fn check_names(leaf: &Certificate, names: &[&str]) -> Result<(), PathError> {
    let presented: Vec<String> = if leaf.dns_names.is_empty() {
        common_names(&leaf.der)
    } else {
        leaf.dns_names.clone()
    };
    let wanted: Vec<String> = names.iter().map(|n| normalize(n)).collect();
    let found = presented.iter().any(|p| {
        let p = normalize(p);
        wanted.iter().any(|w| name_matches(&p, w))
    });
    if found {
        return Ok(());
    }
    Err(PathError::Name {
        names: if presented.is_empty() {
            "no DNS name".into()
        } else {
            presented
                .iter()
                .map(|n| text::clip(n))
                .collect::<Vec<_>>()
                .join(", ")
        },
        reference: wanted
            .iter()
            .map(|n| text::clip(n))
            .collect::<Vec<_>>()
            .join(" or "),
    })
}

fn common_names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    cert.subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .map(str::to_owned)
        .collect()
}

fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// `presented` matches `reference` exactly, or as a wildcard `*.rest` standing for exactly
/// one left-most label (RFC 7672 §3.2.3, RFC 6125 §6.4.3). Both are normalised.
fn name_matches(presented: &str, reference: &str) -> bool {
    if presented.is_empty() {
        return false;
    }
    if presented == reference {
        return true;
    }
    match (presented.strip_prefix("*."), reference.split_once('.')) {
        (Some(rest), Some((label, ref_rest))) => {
            !rest.is_empty() && !label.is_empty() && label != "*" && rest == ref_rest
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{Loaded, parse_input};
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd,
    };
    use ring::digest;

    const LEAF: &str = include_str!("../../tests/fixtures/pki/leaf-p256.pem");
    const EXPIRED: &str = include_str!("../../tests/fixtures/pki/expired.pem");
    const INT: &str = include_str!("../../tests/fixtures/pki/int-ca.pem");
    const INT_KEY: &str = include_str!("../../tests/fixtures/pki/int-ca.key.pem");
    const ROOT: &str = include_str!("../../tests/fixtures/pki/root-ca.pem");
    const INT_SUBJECT: &str = "CN=danekit Test Intermediate CA, O=danekit test";
    const ROOT_SUBJECT: &str = "CN=danekit Test Root CA, O=danekit test";
    const SMTP: Reference<'static> = Reference {
        names: &["mail.example.test"],
        smtp: true,
    };

    fn now() -> Timestamp {
        Timestamp::parse("2026-12-02T00:00:00Z").unwrap()
    }

    fn der(pem: &str) -> Vec<u8> {
        match parse_input("fixture", pem.as_bytes()).unwrap().loaded {
            Loaded::Chain(certs) => certs[0].der.clone(),
            Loaded::Key { .. } => panic!("not a certificate"),
        }
    }

    fn spki(der: &[u8]) -> Vec<u8> {
        Certificate::from_der(der).unwrap().spki
    }

    fn hex(bytes: &[u8]) -> String {
        data_encoding::HEXLOWER.encode(bytes)
    }

    /// The record with `params` computed over the DER certificate `cert`.
    fn record(params: &str, cert: &[u8]) -> Rdata {
        let params: super::super::ParamSet = params.parse().unwrap();
        let selected = match params.selector {
            Selector::Cert => cert.to_vec(),
            _ => spki(cert),
        };
        Rdata::new(params, associate(params.matching, &selected))
    }

    fn wrong(params: &str) -> Rdata {
        let params: super::super::ParamSet = params.parse().unwrap();
        let len = params.matching.digest_len().unwrap_or(32);
        Rdata::new(params, vec![0xab; len])
    }

    fn matched(report: &MatchReport) -> (String, usize) {
        match &report.outcome {
            Outcome::Matched { record, depth } => (record.params.to_string(), *depth),
            Outcome::NoMatch(misses) => panic!("no match: {misses:?}"),
        }
    }

    /// Each miss as `"U S M: reason"`.
    fn misses(report: &MatchReport) -> Vec<String> {
        match &report.outcome {
            Outcome::NoMatch(misses) => misses
                .iter()
                .map(|m| format!("{}: {}", m.record.params, m.why))
                .collect(),
            Outcome::Matched { record, depth } => panic!("matched {record} at {depth}"),
        }
    }

    fn fixture_chain() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        (der(LEAF), der(INT), der(ROOT))
    }

    /// A leaf with the given SANs (or only a CN when `sans` is empty), issued by the fixture
    /// intermediate.
    fn leaf_named(sans: &[&str], cn: &str) -> Vec<u8> {
        let key = KeyPair::from_pem(INT_KEY).unwrap();
        let issuer = Issuer::from_ca_cert_pem(INT, key).unwrap();
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.not_before = date_time_ymd(2025, 1, 1);
        params.not_after = date_time_ymd(2099, 12, 31);
        let leaf_key = KeyPair::generate().unwrap();
        params.signed_by(&leaf_key, &issuer).unwrap().der().to_vec()
    }

    #[test]
    fn rfc7671_5_1_dane_ee_ignores_expiry_and_names() {
        let expired = der(EXPIRED);
        let rr = [record("3 1 1", &expired)];
        let report = check_chain(&[expired], &rr, &SMTP, now());
        assert_eq!(matched(&report), ("3 1 1".into(), 0));

        let (leaf, int, _) = fixture_chain();
        let rr = [record("3 1 1", &leaf)];
        let other = Reference {
            names: &["mail.example.org"],
            smtp: true,
        };
        let report = check_chain(&[leaf, int], &rr, &other, now());
        assert_eq!(
            report.outcome,
            Outcome::Matched {
                record: rr[0].clone(),
                depth: 0
            }
        );
        assert!(report.unusable.is_empty() && report.ignored.is_empty());
    }

    #[test]
    fn rfc6698_2_1_dane_ee_selectors_and_matching_types() {
        let (leaf, int, _) = fixture_chain();
        for params in ["3 0 0", "3 0 1", "3 0 2", "3 1 0", "3 1 1", "3 1 2"] {
            let rr = [record(params, &leaf)];
            let report = check_chain(&[leaf.clone(), int.clone()], &rr, &SMTP, now());
            assert_eq!(matched(&report), (params.to_string(), 0), "{params}");
            assert_eq!(report.usable, rr.to_vec());
        }
    }

    #[test]
    fn dane_ee_mismatch_names_both_digests() {
        let (leaf, int, _) = fixture_chain();
        let actual = hex(digest::digest(&digest::SHA256, &spki(&leaf)).as_ref());
        let report = check_chain(&[leaf, int.clone()], &[wrong("3 1 1")], &SMTP, now());
        assert_eq!(
            misses(&report),
            [format!(
                "3 1 1: the leaf's SPKI hashes to {actual}, the record has {}",
                "ab".repeat(32)
            )]
        );
        let report = check_chain(&[der(LEAF)], &[record("3 0 0", &int)], &SMTP, now());
        assert_eq!(
            misses(&report),
            [format!(
                "3 0 0: the leaf's certificate ({} bytes) differs from the record's data",
                der(LEAF).len()
            )]
        );
    }

    #[test]
    fn rfc7671_5_2_dane_ta_spki_on_the_intermediate_matches_at_depth_1() {
        let (leaf, int, root) = fixture_chain();
        let rr = [record("2 1 1", &int)];
        let report = check_chain(&[leaf.clone(), int.clone()], &rr, &SMTP, now());
        assert_eq!(matched(&report), ("2 1 1".into(), 1));
        let report = check_chain(&[leaf.clone(), int.clone(), root], &rr, &SMTP, now());
        assert_eq!(matched(&report), ("2 1 1".into(), 1));
        // Sent twice, it matches at depths 1 and 2; the lowest that validates is reported.
        let report = check_chain(&[leaf, int.clone(), int], &rr, &SMTP, now());
        assert_eq!(matched(&report), ("2 1 1".into(), 1));
    }

    #[test]
    fn rfc7671_5_2_dane_ta_cert_on_a_sent_root_matches_at_depth_2() {
        let (leaf, int, root) = fixture_chain();
        let rr = [record("2 0 1", &root)];
        let report = check_chain(&[leaf, int, root], &rr, &SMTP, now());
        assert_eq!(matched(&report), ("2 0 1".into(), 2));
    }

    #[test]
    fn rfc7671_5_2_dane_ta_full_certificate_need_not_be_sent() {
        let (leaf, int, root) = fixture_chain();
        let rr = [record("2 0 0", &root)];
        assert_eq!(rr[0].data, root);
        let report = check_chain(&[leaf.clone(), int], &rr, &SMTP, now());
        assert_eq!(matched(&report), ("2 0 0".into(), 2));
        // The same root, not sent, under `2 0 1`: the server must send it.
        let report = check_chain(&[leaf, der(INT)], &[record("2 0 1", &root)], &SMTP, now());
        assert_eq!(
            misses(&report),
            ["2 0 1: no certificate in the chain hashes to it"]
        );
        // A bare `2 1 0` key of the root, not sent: not checked, and the reason says why.
        let report = check_chain(
            &[der(LEAF), der(INT)],
            &[record("2 1 0", &root)],
            &SMTP,
            now(),
        );
        assert_eq!(
            misses(&report),
            [
                "2 1 0: no certificate in the chain above the leaf has this key: the server does not \
              send the trust anchor's certificate (send it; OpenSSL-based senders such as Postfix \
              accept the bare key, other DANE senders do not)"
            ]
        );
    }

    #[test]
    fn dane_ta_with_a_missing_intermediate_fails_with_the_reason() {
        let (leaf, _, root) = fixture_chain();
        let report = check_chain(
            &[leaf.clone(), root.clone()],
            &[record("2 0 1", &root)],
            &SMTP,
            now(),
        );
        assert_eq!(
            misses(&report),
            [format!(
                "2 0 1: matches depth 1 but the chain from it to the leaf does not verify: the \
                 leaf names its issuer {INT_SUBJECT}, but the next certificate is {ROOT_SUBJECT}"
            )]
        );
        let report = check_chain(&[leaf], &[record("2 0 0", &root)], &SMTP, now());
        assert_eq!(
            misses(&report),
            [format!(
                "2 0 0: the certificate it carries ({ROOT_SUBJECT}) is not sent and does not \
                 issue the chain: the leaf names its issuer {INT_SUBJECT}, but the next \
                 certificate is {ROOT_SUBJECT}"
            )]
        );
    }

    #[test]
    fn dane_ta_with_an_expired_intermediate_fails() {
        let root_key = KeyPair::generate().unwrap();
        let mut root_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        root_params
            .distinguished_name
            .push(DnType::CommonName, "Matching Root");
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root_params.not_before = date_time_ymd(2025, 1, 1);
        root_params.not_after = date_time_ymd(2099, 12, 31);
        let root = root_params.self_signed(&root_key).unwrap().der().to_vec();
        let root_issuer = Issuer::new(root_params, root_key);

        let int_key = KeyPair::generate().unwrap();
        let mut int_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        int_params
            .distinguished_name
            .push(DnType::CommonName, "Expired Intermediate");
        int_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        int_params.not_before = date_time_ymd(2020, 1, 1);
        int_params.not_after = date_time_ymd(2021, 1, 1);
        let int = int_params
            .signed_by(&int_key, &root_issuer)
            .unwrap()
            .der()
            .to_vec();
        let int_issuer = Issuer::new(int_params, int_key);

        let mut leaf_params = CertificateParams::new(vec!["mail.example.test".into()]).unwrap();
        leaf_params.not_before = date_time_ymd(2025, 1, 1);
        leaf_params.not_after = date_time_ymd(2099, 12, 31);
        let leaf = leaf_params
            .signed_by(&KeyPair::generate().unwrap(), &int_issuer)
            .unwrap()
            .der()
            .to_vec();

        let report = check_chain(
            &[leaf, int, root.clone()],
            &[record("2 1 1", &root)],
            &SMTP,
            now(),
        );
        assert_eq!(
            misses(&report),
            [
                "2 1 1: matches depth 2 but the chain from it to the leaf does not verify: the \
                 certificate at depth 1 (CN=Expired Intermediate) expired at 2021-01-01T00:00:00Z"
            ]
        );
    }

    #[test]
    fn rfc7671_5_2_dane_ta_checks_the_leaf_dates() {
        let int = der(INT);
        let report = check_chain(
            &[der(EXPIRED), int.clone()],
            &[record("2 1 1", &int)],
            &SMTP,
            now(),
        );
        assert_eq!(
            misses(&report),
            [
                "2 1 1: matches depth 1 but the chain from it to the leaf does not verify: the \
                 leaf expired at 2021-01-01T00:00:00Z"
            ]
        );
    }

    #[test]
    fn rfc7672_3_2_2_dane_ta_checks_the_leaf_names() {
        let (leaf, int, _) = fixture_chain();
        let org = Reference {
            names: &["mail.example.org", "example.org"],
            smtp: true,
        };
        let report = check_chain(&[leaf, int.clone()], &[record("2 1 1", &int)], &org, now());
        assert_eq!(
            misses(&report),
            [
                "2 1 1: matches depth 1 but the chain from it to the leaf does not verify: the \
                 leaf names p256.mail.example.test, mail.example.test, not mail.example.org or \
                 example.org"
            ]
        );
        let any_case = Reference {
            names: &["example.org", "MAIL.Example.TEST."],
            smtp: true,
        };
        let report = check_chain(
            &[der(LEAF), int.clone()],
            &[record("2 1 1", &int)],
            &any_case,
            now(),
        );
        assert_eq!(matched(&report), ("2 1 1".into(), 1));
    }

    #[test]
    fn rfc7672_3_2_3_wildcards_cover_one_left_most_label() {
        let int = der(INT);
        let rr = [record("2 1 1", &int)];
        let wildcard = leaf_named(&["*.example.test"], "wildcard");
        let check = |name: &str| {
            let names = [name];
            let reference = Reference {
                names: &names,
                smtp: true,
            };
            check_chain(&[wildcard.clone(), int.clone()], &rr, &reference, now())
        };
        assert_eq!(matched(&check("mail.example.test")), ("2 1 1".into(), 1));
        assert_eq!(matched(&check("MX.Example.Test.")), ("2 1 1".into(), 1));
        for name in ["example.test", "a.mail.example.test", "mail.example.org"] {
            assert_eq!(
                misses(&check(name)),
                [format!(
                    "2 1 1: matches depth 1 but the chain from it to the leaf does not verify: \
                     the leaf names *.example.test, not {name}"
                )]
            );
        }
        let table = [
            ("*.example.test", "mail.example.test", true),
            ("*.example.test", "example.test", false),
            ("*.example.test", "a.b.example.test", false),
            ("*.example.test", "*.example.test", true),
            ("*.test", "example.test", true),
            ("mail.*.test", "mail.example.test", false),
            ("m*.example.test", "mail.example.test", false),
            ("*", "test", false),
            ("*.", "a.", false),
            ("", "", false),
        ];
        for (presented, reference, want) in table {
            assert_eq!(
                name_matches(presented, reference),
                want,
                "{presented} vs {reference}"
            );
        }
    }

    #[test]
    fn rfc6125_6_4_4_the_common_name_counts_only_without_dns_names() {
        let int = der(INT);
        let rr = [record("2 1 1", &int)];
        let cn_only = leaf_named(&[], "cn.example.test");
        let names = ["cn.example.test"];
        let reference = Reference {
            names: &names,
            smtp: true,
        };
        let report = check_chain(&[cn_only, int.clone()], &rr, &reference, now());
        assert_eq!(matched(&report), ("2 1 1".into(), 1));
        let both = leaf_named(&["san.example.test"], "cn.example.test");
        let report = check_chain(&[both, int], &rr, &reference, now());
        assert_eq!(
            misses(&report),
            [
                "2 1 1: matches depth 1 but the chain from it to the leaf does not verify: the \
                 leaf names san.example.test, not cn.example.test"
            ]
        );
    }

    #[test]
    fn an_unsupported_signature_algorithm_is_reported_never_passed() {
        let (leaf, int, _) = fixture_chain();
        // ecdsa-with-SHA256 → ecdsa-with-SHA512, which the signature check cannot do.
        let from = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        let to = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
        let mut altered = leaf.clone();
        let mut i = 0;
        let mut replaced = 0;
        while i + from.len() <= altered.len() {
            if altered[i..i + from.len()] == from {
                altered[i..i + from.len()].copy_from_slice(&to);
                replaced += 1;
            }
            i += 1;
        }
        assert_eq!(replaced, 2);
        let report = check_chain(
            &[altered, int.clone()],
            &[record("2 1 1", &int)],
            &SMTP,
            now(),
        );
        assert_eq!(
            misses(&report),
            [
                "2 1 1: matches depth 1 but the chain from it to the leaf does not verify: \
                 cannot check the signature algorithm 1.2.840.10045.4.3.4 of the leaf"
            ]
        );
    }

    #[test]
    fn a_leaf_not_signed_by_the_intermediate_fails() {
        // Same issuer name, other key: the signature does not verify.
        let forged = {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params
                .distinguished_name
                .push(DnType::CommonName, "danekit Test Intermediate CA");
            params
                .distinguished_name
                .push(DnType::OrganizationName, "danekit test");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let issuer = Issuer::new(params, KeyPair::generate().unwrap());
            let mut leaf = CertificateParams::new(vec!["mail.example.test".into()]).unwrap();
            leaf.not_before = date_time_ymd(2025, 1, 1);
            leaf.not_after = date_time_ymd(2099, 12, 31);
            leaf.signed_by(&KeyPair::generate().unwrap(), &issuer)
                .unwrap()
                .der()
                .to_vec()
        };
        let int = der(INT);
        let report = check_chain(
            &[forged, int.clone()],
            &[record("2 1 1", &int)],
            &SMTP,
            now(),
        );
        assert_eq!(
            misses(&report),
            [format!(
                "2 1 1: matches depth 1 but the chain from it to the leaf does not verify: the \
                 signature of the leaf does not verify with the key of the certificate at depth \
                 1 ({INT_SUBJECT})"
            )]
        );
    }

    #[test]
    fn rfc7672_3_1_3_pkix_usages_are_unusable() {
        let (leaf, int, _) = fixture_chain();
        let rr = [record("0 1 1", &int), record("1 1 1", &leaf)];
        let report = check_chain(&[leaf.clone(), int.clone()], &rr, &SMTP, now());
        let why: Vec<String> = report.unusable.iter().map(|u| u.why.to_string()).collect();
        assert_eq!(
            why,
            [
                "usage 0 (PKIX-TA) is not used for SMTP (RFC 7672 §3.1.3)",
                "usage 1 (PKIX-EE) is not used for SMTP (RFC 7672 §3.1.3)"
            ]
        );
        assert_eq!(report.unusable[0].record, rr[0]);
        assert!(report.usable.is_empty());
        assert_eq!(report.outcome, Outcome::NoMatch(Vec::new()));

        let https = Reference {
            names: &["mail.example.test"],
            smtp: false,
        };
        let report = check_chain(&[leaf, int], &rr[1..], &https, now());
        assert_eq!(
            report.unusable[0].why.to_string(),
            "usage 1 (PKIX-EE) needs PKIX validation against public CAs, which this check does \
             not do"
        );
    }

    #[test]
    fn rfc6698_4_1_wrong_digest_length_is_unusable_not_failed() {
        let (leaf, int, _) = fixture_chain();
        let short: Rdata = "3 1 1 0c72ac70".parse().unwrap();
        let good = record("3 1 1", &leaf);
        let report = check_chain(&[leaf, int], &[short.clone(), good.clone()], &SMTP, now());
        assert_eq!(
            report.unusable,
            [UnusedRecord {
                record: short,
                why: Unused::Record(Unusable::DigestLength {
                    matching: Matching::Sha256,
                    expected: 32,
                    actual: 4
                })
            }]
        );
        assert_eq!(
            report.unusable[0].why.to_string(),
            "matching type 1 needs 32 bytes of data, the record has 4"
        );
        assert_eq!(report.usable, std::slice::from_ref(&good));
        assert_eq!(
            report.outcome,
            Outcome::Matched {
                record: good,
                depth: 0
            }
        );
    }

    #[test]
    fn rfc7671_9_digest_agility_uses_the_strongest_digest_only() {
        let (leaf, int, _) = fixture_chain();
        let chain = [leaf.clone(), int.clone()];
        let (bad256, good512) = (wrong("3 1 1"), record("3 1 2", &leaf));
        let report = check_chain(&chain, &[bad256.clone(), good512.clone()], &SMTP, now());
        assert_eq!(
            report.outcome,
            Outcome::Matched {
                record: good512,
                depth: 0
            }
        );
        assert_eq!(
            report.ignored,
            [IgnoredRecord {
                record: bad256,
                stronger: Matching::Sha512
            }]
        );

        let (good256, bad512) = (record("3 1 1", &leaf), wrong("3 1 2"));
        let report = check_chain(&chain, &[good256.clone(), bad512], &SMTP, now());
        let actual = hex(digest::digest(&digest::SHA512, &spki(&leaf)).as_ref());
        assert_eq!(
            misses(&report),
            [format!(
                "3 1 2: the leaf's SPKI hashes to {actual}, the record has {}",
                "ab".repeat(64)
            )]
        );
        assert_eq!(report.ignored[0].record, good256);

        // Agility is per usage and selector: a `2 1 1` beside a `3 1 2` is still used.
        let ta = record("2 1 1", &int);
        let report = check_chain(&chain, &[wrong("3 1 2"), ta.clone()], &SMTP, now());
        assert_eq!(
            report.outcome,
            Outcome::Matched {
                record: ta,
                depth: 1
            }
        );
        assert!(report.ignored.is_empty());
    }

    #[test]
    fn an_empty_chain_matches_nothing() {
        let report = check_chain(&[], &[wrong("3 1 1"), wrong("2 0 1")], &SMTP, now());
        assert_eq!(
            misses(&report),
            [
                "3 1 1: the server presented no certificate",
                "2 0 1: the server presented no certificate"
            ]
        );
    }

    #[test]
    fn garbage_der_is_a_reason_not_a_panic() {
        let junk = vec![0x30, 0x03, 0x02, 0x01];
        let report = check_chain(std::slice::from_ref(&junk), &[wrong("3 1 1")], &SMTP, now());
        assert_eq!(
            misses(&report),
            [
                "3 1 1: the leaf cannot be read: truncated: an element declares 3 bytes but only 2 follow"
            ]
        );
        let (leaf, int, _) = fixture_chain();
        let report = check_chain(&[leaf, junk], &[record("2 1 1", &int)], &SMTP, now());
        assert_eq!(
            misses(&report),
            ["2 1 1: no certificate in the chain hashes to it"]
        );
        let report = check_chain(
            &[der(LEAF)],
            &[Rdata::new("2 0 0".parse().unwrap(), vec![1, 2, 3])],
            &SMTP,
            now(),
        );
        assert_eq!(
            misses(&report),
            [
                "2 0 0: the certificate it carries cannot be read: truncated: an element declares 2 bytes but only 1 follow"
            ]
        );
    }
}
