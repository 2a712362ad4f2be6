//! The chain walker: trust anchor → DS → DNSKEY → RRSIG → RRset (RFC 4035 §5), recording every
//! link for the explanation.
//!
//! Signed data is walked bottom-up: the RRSIG's signer names the zone, the zone's DNSKEY RRset
//! is checked against the DS in its parent (or a trust anchor), and the DS against the parent's
//! keys, up to an anchor. Unsigned data is walked top-down: from the closest anchor, a DS
//! question at each label tells a secure cut, an unsigned delegation (insecure) or no cut, so
//! that unsigned data in a signed zone is told from data under an unsigned delegation.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKey, Verifier};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::anchor::{Anchor, TrustAnchors};
use super::denial::{Denial, DsAbsence, Proof};
use super::{AnswerKind, ChainLink, DsDoc, KeyDoc, RrsetReport, SigDoc, Status, StatusWord};
use crate::addr::name_text;
use crate::dns::client::{NoAnswer, Source};
use crate::time::{SerialTime, Timestamp};

/// Bounds on the work one run may do (KeyTrap, CVE-2023-50387).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Keys with the signature's tag and algorithm tried per signature.
    pub key_candidates: usize,
    /// Signatures tried per RRset.
    pub sigs_per_rrset: usize,
    /// Signature checks in the whole run.
    pub verifications: usize,
    /// CNAME hops followed.
    pub cname_hops: usize,
    /// Zone cuts between an anchor and a name.
    pub depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            key_candidates: 4,
            sigs_per_rrset: 8,
            verifications: 2000,
            cname_hops: 8,
            depth: 32,
        }
    }
}

/// The smallest RSA key that can make a zone secure (RFC 8624 §3.1; shorter keys are treated as
/// insecure, as the command-line contract says).
const MIN_RSA_BITS: u32 = 1024;

/// What was learnt about a zone: whether its keys are trusted, which, and how.
#[derive(Debug, Clone)]
struct ZoneState {
    status: Status,
    zone: Name,
    /// The DNSKEYs of a secure zone that may sign (zone key bit, not revoked).
    keys: Vec<DNSKEY>,
    /// From the anchor down to this zone.
    chain: Vec<ChainLink>,
    /// The parent proves that the name is no zone cut (or does not exist): a walk down to a
    /// name goes on through it in the zone above.
    not_a_cut: bool,
}

impl ZoneState {
    fn not_secure(status: Status, zone: &Name, chain: Vec<ChainLink>) -> Rc<ZoneState> {
        Rc::new(ZoneState {
            status,
            zone: zone.clone(),
            keys: Vec::new(),
            chain,
            not_a_cut: false,
        })
    }
}

/// A DNSKEY of an anchored zone, trusted once the zone's DNSKEY RRset proved secure from its
/// anchor (for the cross-check, whose validator takes keys, not DS).
#[derive(Debug, Clone)]
pub struct AnchorKey {
    pub zone: Name,
    pub key: DNSKEY,
}

/// A validator over one [`Source`], for one run: zones are validated once and kept.
pub struct Validator<'a> {
    source: &'a dyn Source,
    anchors: &'a TrustAnchors,
    now: Timestamp,
    limits: Limits,
    zones: RefCell<HashMap<Name, Rc<ZoneState>>>,
    in_progress: RefCell<Vec<Name>>,
    checks: Cell<usize>,
    anchored: RefCell<Vec<AnchorKey>>,
}

/// The records of one message, grouped.
struct Answer<'m> {
    message: &'m Message,
}

impl<'m> Answer<'m> {
    fn rrset(&self, section: &'m [Record], owner: &Name, rtype: RecordType) -> Vec<&'m Record> {
        section
            .iter()
            .filter(|r| r.record_type() == rtype && &r.name == owner)
            .collect()
    }

    fn sigs(&self, section: &'m [Record], owner: &Name, covered: RecordType) -> Vec<&'m Record> {
        section
            .iter()
            .filter(|r| {
                &r.name == owner
                    && matches!(&r.data, RData::DNSSEC(DNSSECRData::RRSIG(s)) if s.input().type_covered == covered)
            })
            .collect()
    }

    fn answers(&self) -> &'m [Record] {
        &self.message.answers
    }

    fn authorities(&self) -> &'m [Record] {
        &self.message.authorities
    }
}

fn rrsig_of(r: &Record) -> Option<&RRSIG> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::RRSIG(s)) => Some(s),
        _ => None,
    }
}

fn dnskey_of(r: &Record) -> Option<&DNSKEY> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k),
        _ => None,
    }
}

fn ds_of(r: &Record) -> Option<&DS> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::DS(d)) => Some(d),
        _ => None,
    }
}

fn alg_number(a: Algorithm) -> u8 {
    u8::from(a)
}

/// The algorithms danekit checks: RFC 8624 §3.1's MUST and RECOMMENDED, as ring verifies them.
fn alg_supported(a: Algorithm) -> bool {
    matches!(alg_number(a), 5 | 7 | 8 | 10 | 13 | 14 | 15)
}

fn digest_supported(d: DigestType) -> bool {
    matches!(
        d,
        DigestType::SHA1 | DigestType::SHA256 | DigestType::SHA384
    )
}

fn digest_strength(d: DigestType) -> u8 {
    match d {
        DigestType::SHA384 => 3,
        DigestType::SHA256 => 2,
        DigestType::SHA1 => 1,
        _ => 0,
    }
}

/// The size of a DNSKEY in bits: the RSA modulus (RFC 3110 §2), or the curve's size.
fn key_bits(key: &DNSKEY) -> u32 {
    let bytes = key.public_key().public_bytes();
    match alg_number(key.algorithm()) {
        1 | 5 | 7 | 8 | 10 => {
            let (exp_len, rest) = match bytes.split_first() {
                Some((0, rest)) if rest.len() >= 2 => (
                    usize::from(u16::from_be_bytes([rest[0], rest[1]])),
                    &rest[2..],
                ),
                Some((&n, rest)) => (usize::from(n), rest),
                None => return 0,
            };
            let modulus = rest.get(exp_len..).unwrap_or_default();
            let skip = modulus.iter().take_while(|&&b| b == 0).count();
            let modulus = &modulus[skip..];
            match modulus.first() {
                Some(&b) => (modulus.len() as u32 - 1) * 8 + (8 - b.leading_zeros()),
                None => 0,
            }
        }
        13 => 256,
        14 => 384,
        15 => 256,
        16 => 456,
        _ => (bytes.len() as u32) * 8,
    }
}

fn key_tag(key: &DNSKEY) -> u16 {
    key.calculate_key_tag().unwrap_or(0)
}

fn key_doc(key: &DNSKEY) -> KeyDoc {
    KeyDoc {
        key_tag: key_tag(key),
        flags: key.flags(),
        algorithm: alg_number(key.algorithm()),
        bits: key_bits(key),
    }
}

/// Labels of an owner name as the RRSIG labels field counts them (RFC 4034 §3.1.3): no root,
/// no leading wildcard (hickory's `num_labels` already leaves out a leading `*`).
fn rrsig_labels(owner: &Name) -> u8 {
    owner.num_labels()
}

fn link(zone: &Name, via: &str) -> ChainLink {
    ChainLink {
        zone: name_text(zone),
        via: via.into(),
        ds: Vec::new(),
        dnskey: Vec::new(),
        rrsig: Vec::new(),
        status: StatusWord::Indeterminate,
        reason: None,
    }
}

fn finish(mut l: ChainLink, status: &Status) -> ChainLink {
    l.status = status.word();
    l.reason = status.reason().map(str::to_owned);
    l
}

impl<'a> Validator<'a> {
    pub fn new(
        source: &'a dyn Source,
        anchors: &'a TrustAnchors,
        now: Timestamp,
        limits: Limits,
    ) -> Validator<'a> {
        Validator {
            source,
            anchors,
            now,
            limits,
            zones: RefCell::new(HashMap::new()),
            in_progress: RefCell::new(Vec::new()),
            checks: Cell::new(0),
            anchored: RefCell::new(Vec::new()),
        }
    }

    /// The DNSKEYs of every anchored zone whose key set proved secure in this run.
    pub fn anchor_keys(&self) -> Vec<AnchorKey> {
        self.anchored.borrow().clone()
    }

    /// Signature checks made so far.
    pub fn checks(&self) -> usize {
        self.checks.get()
    }

    /// Validates the RRset `name`/`rtype`, following CNAMEs: one report per hop, the last for
    /// the answer (or its denial).
    pub fn validate(&self, name: &Name, rtype: RecordType) -> Vec<RrsetReport> {
        let mut reports = Vec::new();
        let mut current = name.clone();
        let mut seen = vec![current.to_lowercase()];
        for hop in 0..=self.limits.cname_hops {
            let message = match self.source.fetch(&current, rtype) {
                Ok(m) => m,
                Err(NoAnswer { reason }) => {
                    reports.push(empty_report(&current, rtype, Status::Indeterminate(reason)));
                    return reports;
                }
            };
            let answer = Answer { message: &message };
            let data = answer.rrset(answer.answers(), &current, rtype);
            if !data.is_empty() {
                reports.push(self.positive(&answer, &current, rtype, &data));
                return reports;
            }
            let cname = answer.rrset(answer.answers(), &current, RecordType::CNAME);
            if rtype != RecordType::CNAME
                && let Some(target) = cname.first().and_then(|r| match &r.data {
                    RData::CNAME(c) => Some(c.0.clone()),
                    _ => None,
                })
            {
                let cname_signed = !answer
                    .sigs(answer.answers(), &current, RecordType::CNAME)
                    .is_empty();
                let mut report = match dname_above(&answer, &current) {
                    // RFC 6672 §5.3.3: a synthesized CNAME is unsigned; the signed DNAME
                    // above it is what is validated.
                    Some((owner, dname_target, set)) if !cname_signed => {
                        let mut report = self.positive(&answer, &owner, RecordType::DNAME, &set);
                        let synthesized = synthesize(&current, &owner, &dname_target);
                        if synthesized.as_ref() != Some(&target.to_lowercase()) {
                            set_status(
                                &mut report,
                                Status::Bogus(format!(
                                    "the CNAME for {} does not follow from the DNAME at {}",
                                    name_text(&current),
                                    name_text(&owner)
                                )),
                            );
                        }
                        report
                    }
                    _ => self.positive(&answer, &current, RecordType::CNAME, &cname),
                };
                report.cname_target = Some(name_text(&target));
                reports.push(report);
                if hop == self.limits.cname_hops {
                    break;
                }
                if seen.contains(&target.to_lowercase()) {
                    reports.push(empty_report(
                        &target,
                        rtype,
                        Status::Bogus("the CNAME chain loops".into()),
                    ));
                    return reports;
                }
                seen.push(target.to_lowercase());
                current = target;
                continue;
            }
            reports.push(self.negative(&answer, &current, rtype));
            return reports;
        }
        reports.push(empty_report(
            &current,
            rtype,
            Status::Bogus(format!(
                "work limit: the CNAME chain is longer than {} hops",
                self.limits.cname_hops
            )),
        ));
        reports
    }

    /// A positive answer: the RRset's signatures, checked with its signer's keys.
    fn positive(
        &self,
        answer: &Answer<'_>,
        owner: &Name,
        rtype: RecordType,
        data: &[&Record],
    ) -> RrsetReport {
        let mut report = empty_report(owner, rtype, Status::Secure);
        report.answer = AnswerKind::Data;
        report.records = data.iter().map(|r| r.data.to_string()).collect();
        report.ttl = data.iter().map(|r| r.ttl).min();
        let sigs = answer.sigs(answer.answers(), owner, rtype);
        let (status, chain, sig_docs) = if sigs.is_empty() {
            let (status, zone) =
                self.unsigned_at(owner, format!("no RRSIG over {} {rtype}", name_text(owner)));
            (status, zone.chain.clone(), Vec::new())
        } else {
            self.check_signed(answer, owner, rtype, data, &sigs, &mut report)
        };
        report.chain = chain;
        report.rrsig = sig_docs;
        set_status(&mut report, status);
        report
    }

    /// Checks a signed RRset with its signer's keys, and a wildcard expansion with its proof.
    fn check_signed(
        &self,
        answer: &Answer<'_>,
        owner: &Name,
        rtype: RecordType,
        data: &[&Record],
        sigs: &[&Record],
        report: &mut RrsetReport,
    ) -> (Status, Vec<ChainLink>, Vec<SigDoc>) {
        let Some(signer) = sigs
            .iter()
            .filter_map(|r| rrsig_of(r))
            .map(|s| s.input().signer_name.to_lowercase())
            .find(|s| s.zone_of(owner))
        else {
            return (
                Status::Bogus(format!(
                    "no RRSIG over {} {rtype} has a signer above the name",
                    name_text(owner)
                )),
                Vec::new(),
                Vec::new(),
            );
        };
        let zone = self.zone_keys(&signer);
        if zone.status != Status::Secure {
            return (zone.status.clone(), zone.chain.clone(), Vec::new());
        }
        let (result, docs) = self.verify(owner, rtype, data, sigs, &zone.keys, &signer);
        let status = match result {
            Ok(labels) if labels < rrsig_labels(owner) => {
                // RFC 4035 §5.3.4: an answer from a wildcard needs proof that no closer name
                // exists.
                let encloser = owner.trim_to(usize::from(labels));
                let mut denial = Denial::default();
                let nsec_status = self.collect_denial(answer, &signer, &zone, &mut denial);
                let status = match nsec_status {
                    Some(bad) => bad,
                    None => match denial.prove_wildcard_answer(owner, &encloser) {
                        Proof::Proven => Status::Secure,
                        Proof::OptOut => Status::Insecure(
                            "the wildcard's proof runs through an NSEC3 opt-out span (RFC 5155 §9.2)"
                                .into(),
                        ),
                        Proof::TooManyIterations(n) => Status::Insecure(iterations_reason(n)),
                        Proof::UnknownHash => Status::Insecure("unknown NSEC3 hash algorithm".into()),
                        Proof::Failed(why) => Status::Bogus(why),
                    },
                };
                report.denial = denial.docs;
                status
            }
            Ok(_) => Status::Secure,
            Err(why) => why,
        };
        (status, zone.chain.clone(), docs)
    }

    /// A negative answer: NXDOMAIN or NODATA, with its denial checked.
    fn negative(&self, answer: &Answer<'_>, qname: &Name, rtype: RecordType) -> RrsetReport {
        let nxdomain = answer.message.metadata.response_code == ResponseCode::NXDomain;
        let mut report = empty_report(qname, rtype, Status::Secure);
        report.answer = if nxdomain {
            AnswerKind::Nxdomain
        } else {
            AnswerKind::Nodata
        };
        // The signer of the denial (the SOA's or the NSEC's RRSIG) names the zone.
        let signer = answer
            .authorities()
            .iter()
            .filter_map(rrsig_of)
            .map(|s| s.input().signer_name.to_lowercase())
            .find(|s| s.zone_of(qname));
        let Some(signer) = signer else {
            let (status, zone) = self.unsigned_at(
                qname,
                format!(
                    "the {} for {} {rtype} carries no signed denial",
                    if nxdomain { "NXDOMAIN" } else { "NODATA" },
                    name_text(qname),
                ),
            );
            report.chain = zone.chain.clone();
            set_status(&mut report, status);
            return report;
        };
        let zone = self.zone_keys(&signer);
        report.chain = zone.chain.clone();
        if zone.status != Status::Secure {
            set_status(&mut report, zone.status.clone());
            return report;
        }
        let mut denial = Denial::default();
        if let Some(bad) = self.collect_denial(answer, &signer, &zone, &mut denial) {
            report.denial = denial.docs;
            set_status(&mut report, bad);
            return report;
        }
        let proof = if nxdomain {
            denial.prove_nxdomain(qname)
        } else {
            denial.prove_nodata(qname, rtype)
        };
        let status = match proof {
            Proof::Proven => Status::Secure,
            Proof::OptOut => Status::Insecure(
                "the denial runs through an NSEC3 opt-out span (RFC 5155 §9.2)".into(),
            ),
            Proof::TooManyIterations(n) => Status::Insecure(iterations_reason(n)),
            Proof::UnknownHash => Status::Insecure("unknown NSEC3 hash algorithm".into()),
            Proof::Failed(why) => Status::Bogus(why),
        };
        report.denial = denial.docs;
        set_status(&mut report, status);
        report
    }

    /// Checks the signatures of every NSEC and NSEC3 RRset of the authority section with the
    /// zone's keys and gathers them; a failure is returned as the status.
    fn collect_denial<'m>(
        &self,
        answer: &Answer<'m>,
        signer: &Name,
        zone: &ZoneState,
        denial: &mut Denial<'m>,
    ) -> Option<Status> {
        let authorities = answer.authorities();
        let mut owners: Vec<(&'m Name, RecordType)> = Vec::new();
        for r in authorities {
            let t = r.record_type();
            if (t == RecordType::NSEC || t == RecordType::NSEC3) && !owners.contains(&(&r.name, t))
            {
                owners.push((&r.name, t));
            }
        }
        for (owner, t) in owners {
            let set = answer.rrset(authorities, owner, t);
            let sigs = answer.sigs(authorities, owner, t);
            if sigs.is_empty() {
                return Some(Status::Bogus(format!(
                    "the {t} at {} is not signed",
                    name_text(owner)
                )));
            }
            let (result, _) = self.verify(owner, t, &set, &sigs, &zone.keys, signer);
            if let Err(why) = result {
                return Some(why);
            }
            for r in set {
                match &r.data {
                    RData::DNSSEC(DNSSECRData::NSEC(n)) => denial.nsec.push((&r.name, n)),
                    RData::DNSSEC(DNSSECRData::NSEC3(n)) => denial.nsec3.push((&r.name, n)),
                    _ => {}
                }
            }
        }
        None
    }

    fn count_check(&self) -> bool {
        let n = self.checks.get();
        if n >= self.limits.verifications {
            return false;
        }
        self.checks.set(n + 1);
        true
    }

    /// Tries the RRSIGs over an RRset with `keys` (a zone's trusted keys, all from `zone`).
    /// `Ok(labels)` gives the labels field of the signature that verified; `Err` the status
    /// when none did.
    fn verify(
        &self,
        owner: &Name,
        rtype: RecordType,
        data: &[&Record],
        sigs: &[&Record],
        keys: &[DNSKEY],
        zone: &Name,
    ) -> (Result<u8, Status>, Vec<SigDoc>) {
        let mut docs = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        let mut unsupported = 0;
        let mut weak_rsa = 0;
        for (i, r) in sigs.iter().enumerate() {
            let Some(sig) = rrsig_of(r) else { continue };
            let input = sig.input();
            let mut doc = SigDoc {
                covers: input.type_covered.to_string(),
                key_tag: input.key_tag,
                algorithm: alg_number(input.algorithm),
                signer: name_text(&input.signer_name),
                inception: SerialTime(input.sig_inception.get()).resolve(self.now),
                expiration: SerialTime(input.sig_expiration.get()).resolve(self.now),
                status: String::new(),
            };
            if i >= self.limits.sigs_per_rrset {
                doc.status = "not tried (work limit)".into();
                docs.push(doc);
                reasons.push(format!(
                    "work limit: more than {} signatures over one RRset",
                    self.limits.sigs_per_rrset
                ));
                continue;
            }
            let fail = |doc: &mut SigDoc, reasons: &mut Vec<String>, why: String| {
                doc.status = why.clone();
                reasons.push(format!(
                    "RRSIG {} by {}: {why}",
                    input.key_tag,
                    name_text(&input.signer_name)
                ));
            };
            if input.signer_name.to_lowercase() != zone.to_lowercase() {
                fail(
                    &mut doc,
                    &mut reasons,
                    format!("signer is not {}", name_text(zone)),
                );
                docs.push(doc);
                continue;
            }
            if input.num_labels > rrsig_labels(owner) {
                fail(
                    &mut doc,
                    &mut reasons,
                    "labels field larger than the owner's".into(),
                );
                docs.push(doc);
                continue;
            }
            if !alg_supported(input.algorithm) {
                unsupported += 1;
                doc.status = "algorithm not supported".into();
                docs.push(doc);
                continue;
            }
            if doc.inception > self.now {
                let why = format!("not valid before {}", doc.inception);
                fail(&mut doc, &mut reasons, why);
                docs.push(doc);
                continue;
            }
            if doc.expiration < self.now {
                let why = format!("expired at {}", doc.expiration);
                fail(&mut doc, &mut reasons, why);
                docs.push(doc);
                continue;
            }
            // RFC 4035 §5.3.1, RFC 5011 §2.1: a key of the zone, with the tag and algorithm,
            // not revoked. Key tags collide: try each candidate, up to the limit.
            let candidates: Vec<&DNSKEY> = keys
                .iter()
                .filter(|k| {
                    key_tag(k) == input.key_tag
                        && k.algorithm() == input.algorithm
                        && k.zone_key()
                        && !k.revoke()
                })
                .collect();
            if candidates.is_empty() {
                fail(
                    &mut doc,
                    &mut reasons,
                    format!("no usable DNSKEY {} in {}", input.key_tag, name_text(zone)),
                );
                docs.push(doc);
                continue;
            }
            let mut verified = false;
            let mut tried = 0;
            for key in candidates.iter().take(self.limits.key_candidates) {
                if key_bits(key) < MIN_RSA_BITS
                    && matches!(alg_number(key.algorithm()), 5 | 7 | 8 | 10)
                {
                    weak_rsa += 1;
                    continue;
                }
                if !self.count_check() {
                    fail(
                        &mut doc,
                        &mut reasons,
                        format!(
                            "work limit: more than {} signature checks in one run",
                            self.limits.verifications
                        ),
                    );
                    break;
                }
                tried += 1;
                let records = data.iter().copied();
                if key.verify_rrsig(owner, DNSClass::IN, sig, records).is_ok() {
                    verified = true;
                    break;
                }
            }
            if verified {
                doc.status = "valid".into();
                docs.push(doc);
                return (Ok(input.num_labels), docs);
            }
            if doc.status.is_empty() {
                let why = if candidates.len() > self.limits.key_candidates {
                    format!(
                        "does not verify with the first {} of {} keys tagged {} (work limit)",
                        self.limits.key_candidates,
                        candidates.len(),
                        input.key_tag
                    )
                } else if tried == 0 {
                    "only an RSA key under 1024 bits".into()
                } else {
                    "signature does not verify".into()
                };
                fail(&mut doc, &mut reasons, why);
            }
            docs.push(doc);
        }
        let status = if reasons.is_empty() && unsupported > 0 {
            Status::Insecure(format!(
                "{} {rtype} is signed only with algorithms danekit does not check (RFC 4035 §5.2)",
                name_text(owner)
            ))
        } else if reasons.iter().all(|r| r.contains("RSA key under 1024")) && weak_rsa > 0 {
            Status::Insecure(format!(
                "{} {rtype} is signed only with RSA keys under 1024 bits",
                name_text(owner)
            ))
        } else {
            Status::Bogus(format!(
                "no valid RRSIG over {} {rtype}: {}",
                name_text(owner),
                reasons.join("; ")
            ))
        };
        (Err(status), docs)
    }

    /// The trusted keys of `zone`, established from an anchor or the DS in its parent.
    fn zone_keys(&self, zone: &Name) -> Rc<ZoneState> {
        let zone = zone.to_lowercase();
        if let Some(hit) = self.zones.borrow().get(&zone) {
            return hit.clone();
        }
        if self.in_progress.borrow().contains(&zone)
            || self.in_progress.borrow().len() >= self.limits.depth
        {
            return ZoneState::not_secure(
                Status::Bogus(format!(
                    "work limit: the chain to {} is deeper than {} zones or loops",
                    name_text(&zone),
                    self.limits.depth
                )),
                &zone,
                Vec::new(),
            );
        }
        self.in_progress.borrow_mut().push(zone.clone());
        let state = Rc::new(match self.anchors.of(&zone) {
            Some(anchors) => self.keys_from_anchor(&zone, anchors),
            None => self.keys_from_parent(&zone),
        });
        self.in_progress.borrow_mut().retain(|z| z != &zone);
        self.zones.borrow_mut().insert(zone, state.clone());
        state
    }

    fn fetch_dnskeys(&self, zone: &Name) -> Result<(Vec<Record>, Vec<Record>), Status> {
        let message = self.source.fetch(zone, RecordType::DNSKEY).map_err(|e| {
            Status::Indeterminate(format!("DNSKEY {}: {}", name_text(zone), e.reason))
        })?;
        let answer = Answer { message: &message };
        let keys: Vec<Record> = answer
            .rrset(answer.answers(), zone, RecordType::DNSKEY)
            .into_iter()
            .cloned()
            .collect();
        let sigs: Vec<Record> = answer
            .sigs(answer.answers(), zone, RecordType::DNSKEY)
            .into_iter()
            .cloned()
            .collect();
        Ok((keys, sigs))
    }

    fn keys_from_anchor(&self, zone: &Name, anchors: &[Anchor]) -> ZoneState {
        let mut l = link(zone, "trust anchor");
        let (keys, sigs) = match self.fetch_dnskeys(zone) {
            Ok(x) => x,
            Err(status) => {
                let chain = vec![finish(l, &status_of(&status))];
                return self.state(zone, status, Vec::new(), chain);
            }
        };
        let dnskeys: Vec<&DNSKEY> = keys.iter().filter_map(dnskey_of).collect();
        l.dnskey = dnskeys.iter().map(|k| key_doc(k)).collect();
        let mut trusted: Vec<DNSKEY> = Vec::new();
        let mut usable_anchors = 0;
        for a in anchors {
            match a {
                Anchor::Ds(ds) => {
                    let usable =
                        alg_supported(ds.algorithm()) && digest_supported(ds.digest_type());
                    usable_anchors += usize::from(usable);
                    let matching: Vec<&DNSKEY> = dnskeys
                        .iter()
                        .copied()
                        .filter(|k| usable && ds_matches(zone, ds, k))
                        .collect();
                    l.ds.push(DsDoc {
                        key_tag: ds.key_tag(),
                        algorithm: alg_number(ds.algorithm()),
                        digest_type: u8::from(ds.digest_type()),
                        matches_dnskey: !matching.is_empty(),
                    });
                    trusted.extend(matching.into_iter().cloned());
                }
                Anchor::Key(key) => {
                    let usable = alg_supported(key.algorithm());
                    usable_anchors += usize::from(usable);
                    if usable
                        && let Some(k) = dnskeys.iter().find(|k| {
                            k.algorithm() == key.algorithm()
                                && k.public_key().public_bytes() == key.public_key().public_bytes()
                        })
                    {
                        trusted.push((*k).clone());
                    }
                }
            }
        }
        let status = if usable_anchors == 0 {
            Status::Insecure(format!(
                "the trust anchor of {} uses only algorithms or digests danekit does not check",
                name_text(zone)
            ))
        } else if dnskeys.is_empty() {
            Status::Bogus(format!("no DNSKEY at the trust anchor {}", name_text(zone)))
        } else if trusted.is_empty() {
            Status::Bogus(format!(
                "no DNSKEY of {} matches the trust anchor",
                name_text(zone)
            ))
        } else {
            self.check_key_set(zone, &keys, &sigs, &trusted, &mut l)
        };
        let usable = usable_keys(&dnskeys);
        if status == Status::Secure {
            self.anchored
                .borrow_mut()
                .extend(dnskeys.iter().map(|k| AnchorKey {
                    zone: zone.clone(),
                    key: (*k).clone(),
                }));
        }
        let link = finish(l, &status);
        self.state(zone, status, usable, vec![link])
    }

    /// Checks a zone's DNSKEY RRset with the keys a DS or an anchor names.
    fn check_key_set(
        &self,
        zone: &Name,
        keys: &[Record],
        sigs: &[Record],
        trusted: &[DNSKEY],
        l: &mut ChainLink,
    ) -> Status {
        if trusted.iter().all(|k| {
            matches!(alg_number(k.algorithm()), 5 | 7 | 8 | 10) && key_bits(k) < MIN_RSA_BITS
        }) {
            return Status::Insecure(format!(
                "the keys the DS of {} names are RSA keys under 1024 bits",
                name_text(zone)
            ));
        }
        if sigs.is_empty() {
            return Status::Bogus(format!(
                "the DNSKEY RRset of {} is not signed",
                name_text(zone)
            ));
        }
        let key_refs: Vec<&Record> = keys.iter().collect();
        let sig_refs: Vec<&Record> = sigs.iter().collect();
        let (result, docs) = self.verify(
            zone,
            RecordType::DNSKEY,
            &key_refs,
            &sig_refs,
            trusted,
            zone,
        );
        // A signature by a key of the set that no DS or anchor names (a ZSK's, say) is not
        // usable here, though its key is published.
        let published: Vec<u16> = keys.iter().filter_map(dnskey_of).map(key_tag).collect();
        l.rrsig.extend(docs.into_iter().map(|mut d| {
            if d.status.starts_with("no usable DNSKEY") && published.contains(&d.key_tag) {
                d.status = format!(
                    "key {} is published, but no DS or trust anchor names it",
                    d.key_tag
                );
            }
            d
        }));
        match result {
            Ok(_) => Status::Secure,
            Err(Status::Bogus(why)) => Status::Bogus(format!(
                "the DNSKEY RRset of {} is not signed by a key the DS or anchor names: {why}",
                name_text(zone)
            )),
            Err(other) => other,
        }
    }

    fn state(
        &self,
        zone: &Name,
        status: Status,
        keys: Vec<DNSKEY>,
        chain: Vec<ChainLink>,
    ) -> ZoneState {
        ZoneState {
            keys: if status == Status::Secure {
                keys
            } else {
                Vec::new()
            },
            status,
            zone: zone.clone(),
            chain,
            not_a_cut: false,
        }
    }

    fn keys_from_parent(&self, zone: &Name) -> ZoneState {
        if self.anchors.closest(zone).is_none() {
            let status = Status::Insecure(format!("no trust anchor above {}", name_text(zone)));
            return self.state(
                zone,
                status.clone(),
                Vec::new(),
                vec![finish(link(zone, "no anchor"), &status)],
            );
        }
        let mut l = link(zone, "DS");
        let message = match self.source.fetch(zone, RecordType::DS) {
            Ok(m) => m,
            Err(e) => {
                let status = Status::Indeterminate(format!("DS {}: {}", name_text(zone), e.reason));
                return self.state(zone, status.clone(), Vec::new(), vec![finish(l, &status)]);
            }
        };
        let answer = Answer { message: &message };
        let ds_set = answer.rrset(answer.answers(), zone, RecordType::DS);
        if ds_set.is_empty() {
            return self.no_ds(&answer, zone, l);
        }
        let ds_sigs = answer.sigs(answer.answers(), zone, RecordType::DS);
        let parent = ds_sigs
            .iter()
            .filter_map(|r| rrsig_of(r))
            .map(|s| s.input().signer_name.to_lowercase())
            .find(|s| s.zone_of(zone) && s != zone);
        let parent_state = match &parent {
            Some(p) => self.zone_keys(p),
            None => {
                // An unsigned DS RRset: fine under an insecure parent, bogus under a secure one.
                let what = format!("the DS RRset of {} is not signed", name_text(zone));
                return self.unsigned_link(zone, l, what);
            }
        };
        let mut chain = parent_state.chain.clone();
        if parent_state.status != Status::Secure {
            let status = parent_state.status.clone();
            chain.push(finish(l, &status));
            return self.state(zone, status, Vec::new(), chain);
        }
        let parent = parent.unwrap_or_else(Name::root);
        let (result, docs) = self.verify(
            zone,
            RecordType::DS,
            &ds_set,
            &ds_sigs,
            &parent_state.keys,
            &parent,
        );
        l.rrsig.extend(docs);
        if let Err(status) = result {
            let status = match status {
                Status::Bogus(why) => {
                    Status::Bogus(format!("the DS RRset of {}: {why}", name_text(zone)))
                }
                other => other,
            };
            chain.push(finish(l, &status));
            return self.state(zone, status, Vec::new(), chain);
        }
        // RFC 4509 §3: the strongest supported digest present is the one used.
        let all_ds: Vec<&DS> = ds_set.iter().filter_map(|r| ds_of(r)).collect();
        let best = all_ds
            .iter()
            .filter(|d| alg_supported(d.algorithm()) && digest_supported(d.digest_type()))
            .map(|d| digest_strength(d.digest_type()))
            .max();
        let (keys, sigs) = match self.fetch_dnskeys(zone) {
            Ok(x) => x,
            Err(status) => {
                for d in &all_ds {
                    l.ds.push(ds_doc(d, false));
                }
                chain.push(finish(l, &status));
                return self.state(zone, status, Vec::new(), chain);
            }
        };
        let dnskeys: Vec<&DNSKEY> = keys.iter().filter_map(dnskey_of).collect();
        l.dnskey = dnskeys.iter().map(|k| key_doc(k)).collect();
        let mut trusted: Vec<DNSKEY> = Vec::new();
        for d in &all_ds {
            let usable = best == Some(digest_strength(d.digest_type()))
                && alg_supported(d.algorithm())
                && digest_supported(d.digest_type());
            let matching: Vec<&DNSKEY> = dnskeys
                .iter()
                .copied()
                .filter(|k| usable && ds_matches(zone, d, k))
                .collect();
            l.ds.push(ds_doc(d, !matching.is_empty()));
            for k in matching {
                if !trusted.contains(k) {
                    trusted.push(k.clone());
                }
            }
        }
        let status = if best.is_none() {
            // RFC 4035 §5.2, RFC 6840 §5.2: only unsupported algorithms or digests.
            Status::Insecure(format!(
                "the DS of {} uses only algorithms or digest types danekit does not check ({})",
                name_text(zone),
                all_ds
                    .iter()
                    .map(|d| format!(
                        "algorithm {} digest {}",
                        alg_number(d.algorithm()),
                        u8::from(d.digest_type())
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else if dnskeys.is_empty() {
            Status::Bogus(format!(
                "{} has a DS in its parent but no DNSKEY RRset",
                name_text(zone)
            ))
        } else if trusted.is_empty() {
            Status::Bogus(format!(
                "no DNSKEY of {} matches its DS (key tags {})",
                name_text(zone),
                all_ds
                    .iter()
                    .map(|d| d.key_tag().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else {
            self.check_key_set(zone, &keys, &sigs, &trusted, &mut l)
        };
        let usable = usable_keys(&dnskeys);
        chain.push(finish(l, &status));
        self.state(zone, status, usable, chain)
    }

    /// A DS question answered with no DS: an unsigned delegation when the parent proves it.
    fn no_ds(&self, answer: &Answer<'_>, zone: &Name, mut l: ChainLink) -> ZoneState {
        l.via = "no DS".into();
        if !answer
            .rrset(answer.answers(), zone, RecordType::CNAME)
            .is_empty()
        {
            // A CNAME owner cannot be a zone cut (RFC 1034 §3.6.2); the walk goes on in the
            // zone above, which decides the CNAME itself.
            let above = self.zone_of_name(&zone.base_name());
            let mut state = self.state(zone, above.status.clone(), Vec::new(), above.chain.clone());
            state.not_a_cut = true;
            return state;
        }
        let signer = answer
            .authorities()
            .iter()
            .filter_map(rrsig_of)
            .map(|s| s.input().signer_name.to_lowercase())
            .find(|s| s.zone_of(zone) && s != zone);
        let Some(parent) = signer else {
            let what = format!("no DS for {} and no signed denial of it", name_text(zone));
            return self.unsigned_link(zone, l, what);
        };
        let parent_state = self.zone_keys(&parent);
        let mut chain = parent_state.chain.clone();
        if parent_state.status != Status::Secure {
            let status = parent_state.status.clone();
            chain.push(finish(l, &status));
            return self.state(zone, status, Vec::new(), chain);
        }
        let mut denial = Denial::default();
        if let Some(bad) = self.collect_denial(answer, &parent, &parent_state, &mut denial) {
            chain.push(finish(l, &bad));
            return self.state(zone, bad, Vec::new(), chain);
        }
        let absence = denial.ds_absence(zone);
        let not_a_cut = matches!(absence, DsAbsence::NotACut | DsAbsence::NoSuchName);
        let status = match absence {
            DsAbsence::InsecureDelegation => Status::Insecure(format!(
                "{} is an unsigned delegation: its parent proves it has no DS",
                name_text(zone)
            )),
            DsAbsence::OptOut => Status::Insecure(format!(
                "{} lies in an NSEC3 opt-out span of its parent: unsigned (RFC 5155 §9.2)",
                name_text(zone)
            )),
            DsAbsence::TooManyIterations(n) => Status::Insecure(iterations_reason(n)),
            DsAbsence::UnknownHash => Status::Insecure("unknown NSEC3 hash algorithm".into()),
            DsAbsence::NotACut => Status::Bogus(format!(
                "signatures name {} as a zone, but its parent shows no delegation there",
                name_text(zone)
            )),
            DsAbsence::NoSuchName => Status::Bogus(format!(
                "signatures name {} as a zone, but its parent says the name does not exist",
                name_text(zone)
            )),
            DsAbsence::Failed(why) => {
                Status::Bogus(format!("the denial of a DS for {}: {why}", name_text(zone)))
            }
        };
        if !denial.docs.is_empty() {
            l.via = format!(
                "no DS ({})",
                denial
                    .docs
                    .iter()
                    .map(|d| format!("{} {}", d.rtype, d.owner))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        chain.push(finish(l, &status));
        let mut state = self.state(zone, status, Vec::new(), chain);
        state.not_a_cut = not_a_cut;
        state
    }

    /// The verdict on unsigned data at `name` (`what` says what is unsigned): bogus in a signed
    /// zone, else the zone's own status (insecure, indeterminate); and the zone.
    fn unsigned_at(&self, name: &Name, what: String) -> (Status, Rc<ZoneState>) {
        let zone = self.zone_of_name(name);
        let status = match &zone.status {
            Status::Secure => Status::Bogus(format!(
                "{what}, in the signed zone {}",
                name_text(&zone.zone)
            )),
            other => other.clone(),
        };
        (status, zone)
    }

    /// The state of a cut at `zone` whose DS answer is unsigned: decided by the zone above.
    fn unsigned_link(&self, zone: &Name, l: ChainLink, what: String) -> ZoneState {
        let (status, above) = self.unsigned_at(&zone.base_name(), what);
        let mut chain = above.chain.clone();
        chain.push(finish(l, &status));
        self.state(zone, status, Vec::new(), chain)
    }

    /// The zone that holds `name`, walked top-down from its closest anchor with a DS question
    /// at each label (for unsigned data and unsigned denials).
    fn zone_of_name(&self, name: &Name) -> Rc<ZoneState> {
        let Some(anchor) = self.anchors.closest(name) else {
            return ZoneState::not_secure(
                Status::Insecure(format!("no trust anchor above {}", name_text(name))),
                name,
                Vec::new(),
            );
        };
        let mut state = self.zone_keys(&anchor);
        let target = name.to_lowercase();
        let mut labels = anchor.num_labels();
        while state.status == Status::Secure && labels < target.num_labels() {
            labels += 1;
            let candidate = target.trim_to(usize::from(labels));
            let cut = self.zone_keys(&candidate);
            if cut.not_a_cut {
                // A name that is no cut leaves the walk in the zone above.
                continue;
            }
            if cut.status != Status::Secure {
                return cut;
            }
            state = cut;
        }
        state
    }
}

/// A DNAME in the answer at a proper ancestor of `name`: its owner, its target and its RRset.
fn dname_above<'m>(answer: &Answer<'m>, name: &Name) -> Option<(Name, Name, Vec<&'m Record>)> {
    let record = answer.answers().iter().find(|r| {
        r.record_type() == RecordType::DNAME
            && r.name.zone_of(name)
            && r.name.num_labels() < name.num_labels()
    })?;
    let RData::Unknown { rdata, .. } = &record.data else {
        return None;
    };
    let mut decoder = BinDecoder::new(&rdata.anything);
    let target = Name::read(&mut decoder).ok()?;
    let set = answer.rrset(answer.answers(), &record.name, RecordType::DNAME);
    Some((record.name.clone(), target, set))
}

/// RFC 6672 §2.2: `name` with the DNAME owner's suffix replaced by its target.
fn synthesize(name: &Name, owner: &Name, target: &Name) -> Option<Name> {
    let keep = name.iter().count().checked_sub(owner.iter().count())?;
    let prefix = Name::from_labels(name.iter().take(keep)).ok()?;
    prefix.append_name(target).ok().map(|n| n.to_lowercase())
}

fn status_of(s: &Status) -> Status {
    s.clone()
}

fn iterations_reason(n: u16) -> String {
    format!(
        "NSEC3 with {n} iterations, above the limit of {} (RFC 9276 §3.2): treated as insecure",
        super::denial::MAX_NSEC3_ITERATIONS
    )
}

fn usable_keys(keys: &[&DNSKEY]) -> Vec<DNSKEY> {
    keys.iter()
        .filter(|k| k.zone_key() && !k.revoke() && alg_supported(k.algorithm()))
        .map(|k| (*k).clone())
        .collect()
}

fn ds_doc(d: &DS, matches: bool) -> DsDoc {
    DsDoc {
        key_tag: d.key_tag(),
        algorithm: alg_number(d.algorithm()),
        digest_type: u8::from(d.digest_type()),
        matches_dnskey: matches,
    }
}

/// RFC 4034 §5.1.4: the DS digest of the key (owner name + RDATA), with its tag and algorithm,
/// for a zone key.
fn ds_matches(zone: &Name, ds: &DS, key: &DNSKEY) -> bool {
    key.zone_key()
        && key.algorithm() == ds.algorithm()
        && key_tag(key) == ds.key_tag()
        && key
            .to_digest(zone, ds.digest_type())
            .is_ok_and(|d| d.as_ref() == ds.digest())
}

fn empty_report(name: &Name, rtype: RecordType, status: Status) -> RrsetReport {
    let mut r = RrsetReport {
        name: name_text(name),
        rtype: rtype.to_string(),
        verdict: StatusWord::Secure,
        reason: None,
        answer: AnswerKind::None,
        records: Vec::new(),
        ttl: None,
        chain: Vec::new(),
        rrsig: Vec::new(),
        denial: Vec::new(),
        cname_target: None,
    };
    set_status(&mut r, status);
    r
}

fn set_status(r: &mut RrsetReport, status: Status) {
    r.verdict = status.word();
    r.reason = status.reason().map(str::to_owned);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap_or_else(|_| Name::root())
    }

    #[test]
    fn dname_synthesis_rfc6672_section_2_2() {
        assert_eq!(
            synthesize(
                &n("_25._tcp.mail.old.example."),
                &n("old.example."),
                &n("new.example.net.")
            ),
            Some(n("_25._tcp.mail.new.example.net."))
        );
        assert_eq!(
            synthesize(
                &n("MAIL.Old.Example."),
                &n("old.example."),
                &n("new.example.")
            ),
            Some(n("mail.new.example."))
        );
        assert_eq!(synthesize(&n("example."), &n("a.example."), &n("b.")), None);
    }

    #[test]
    fn rrsig_labels_leave_out_a_wildcard_rfc4034_section_3_1_3() {
        assert_eq!(rrsig_labels(&n("*.mail.example.")), 2);
        assert_eq!(rrsig_labels(&n("mail.example.")), 2);
        assert_eq!(rrsig_labels(&Name::root()), 0);
    }
}
