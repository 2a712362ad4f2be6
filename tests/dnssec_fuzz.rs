//! Mutation fuzzing of the DNSSEC validator's answer walking: answers of a signed hierarchy are
//! canned, mutated (wire bytes and records), re-parsed, and validated again. No mutation may make
//! the validator panic, exceed its work limits, leave an RRset without a verdict, or make forged
//! data (or a forged denial) secure. A KeyTrap zone (CVE-2023-50387) checks the work limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::time::Instant;

use danekit::dns::client::{NoAnswer, Source};
use danekit::dnssec::{AnswerKind, Limits, RrsetReport, StatusWord, TrustAnchors, Validator};
use danekit::report::Timestamp;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG};
use hickory_proto::dnssec::{Algorithm, PublicKey as _, PublicKeyBuf};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{CNAME, NULL};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use support::dns_auth::{DAY, Hierarchy, INCEPTION, ZoneSpec, name};

type Key = (Name, RecordType);

/// xorshift64*: a small, fixed-seed generator so every run mutates the same way.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 24) as u8
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Answers from a map, as a resolver asked with DO=1 and CD=1 would give them.
struct Canned<'a> {
    base: &'a HashMap<Key, Rc<Message>>,
    over: HashMap<Key, Rc<Message>>,
}

impl Source for Canned<'_> {
    fn fetch(&self, name: &Name, rtype: RecordType) -> Result<Rc<Message>, NoAnswer> {
        let key = (name.to_lowercase(), rtype);
        self.over
            .get(&key)
            .or_else(|| self.base.get(&key))
            .cloned()
            .ok_or_else(|| NoAnswer {
                reason: format!("no canned answer for {name} {rtype}"),
            })
    }
}

/// Answers straight from the hierarchy, each kept: the questions a run asks.
struct Recorder<'a> {
    hierarchy: &'a Hierarchy,
    asked: RefCell<HashMap<Key, Rc<Message>>>,
    log: RefCell<BTreeSet<Key>>,
}

impl Source for Recorder<'_> {
    fn fetch(&self, name: &Name, rtype: RecordType) -> Result<Rc<Message>, NoAnswer> {
        let key = (name.to_lowercase(), rtype);
        self.log.borrow_mut().insert(key.clone());
        let message = self
            .asked
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| Rc::new(response(self.hierarchy, name, rtype)))
            .clone();
        Ok(message)
    }
}

fn recorder(hierarchy: &Hierarchy) -> Recorder<'_> {
    Recorder {
        hierarchy,
        asked: RefCell::new(HashMap::new()),
        log: RefCell::new(BTreeSet::new()),
    }
}

fn response(hierarchy: &Hierarchy, qname: &Name, qtype: RecordType) -> Message {
    let answer = hierarchy.answer(qname, qtype);
    let mut m = Message::new(0x4d2e, MessageType::Response, OpCode::Query);
    m.metadata.response_code = answer.rcode;
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.metadata.checking_disabled = true;
    m.add_query(Query::query(qname.clone(), qtype));
    m.answers = answer.answers;
    m.authorities = answer.authorities;
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_dnssec_ok(true);
    m.set_edns(edns);
    m
}

const TLSA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn mail_records(tlsa: &str) -> String {
    format!(
        "@ MX 10 mail\n\
         mail A 127.0.0.1\n\
         mail AAAA ::1\n\
         _25._tcp.mail TLSA 3 1 1 {tlsa}\n\
         *.wild A 192.0.2.7\n\
         *.wild TLSA 3 1 1 {tlsa}\n\
         alias CNAME mail\n"
    )
}

/// `.`, `test.`, `example.test.` (NSEC, with an unsigned child), `nsec3.test.` (NSEC3).
fn hierarchy() -> Hierarchy {
    Hierarchy::rooted(vec![
        ZoneSpec::new("example.test").record(&mail_records(TLSA)),
        ZoneSpec::unsigned("plain.example.test").record(&mail_records(TLSA)),
        ZoneSpec::new("nsec3.test")
            .nsec3(0, &[], false)
            .record(&mail_records(&TLSA.replace('0', "f"))),
    ])
}

/// The questions every run validates: data, denials, a wildcard, a CNAME, keys and DS.
fn questions() -> Vec<Key> {
    let mut q = Vec::new();
    for zone in ["example.test", "nsec3.test", "plain.example.test"] {
        let n = |l: &str| name(&format!("{l}{zone}"));
        q.push((n(""), RecordType::MX));
        q.push((n("mail."), RecordType::A));
        q.push((n("mail."), RecordType::AAAA));
        q.push((n("_25._tcp.mail."), RecordType::TLSA));
        q.push((n("host.wild."), RecordType::A));
        q.push((n("_25._tcp.host.wild."), RecordType::TLSA));
        q.push((n("alias."), RecordType::A));
        q.push((n("nx."), RecordType::A));
        q.push((n("mail."), RecordType::TXT));
        q.push((n("_tcp.mail."), RecordType::TLSA));
        q.push((n(""), RecordType::DNSKEY));
        q.push((n(""), RecordType::DS));
    }
    q.push((Name::root(), RecordType::DNSKEY));
    q.push((name("test"), RecordType::DNSKEY));
    q.push((name("test"), RecordType::DS));
    q
}

fn now() -> Timestamp {
    Timestamp(i64::from(INCEPTION) + 400 * i64::from(DAY))
}

fn anchors(h: &Hierarchy) -> TrustAnchors {
    TrustAnchors::parse("anchor", &h.trust_anchor_ds().join("\n")).unwrap()
}

/// What the hierarchy really holds for a question: its RCODE, the RDATA at the name (lowercase
/// presentation form), and whether a CNAME is there.
struct Truth {
    rcode: ResponseCode,
    data: BTreeSet<String>,
    cname: bool,
}

struct Oracle<'a> {
    hierarchy: &'a Hierarchy,
    cache: RefCell<HashMap<Key, Rc<Truth>>>,
}

impl Oracle<'_> {
    fn truth(&self, owner: &Name, rtype: RecordType) -> Rc<Truth> {
        let key = (owner.to_lowercase(), rtype);
        self.cache
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| {
                let a = self.hierarchy.answer(owner, rtype);
                let at = |t: RecordType| {
                    a.answers.iter().filter(move |r| {
                        r.record_type() == t && r.name.to_lowercase() == owner.to_lowercase()
                    })
                };
                Rc::new(Truth {
                    rcode: a.rcode,
                    data: at(rtype)
                        .map(|r| r.data.to_string().to_lowercase())
                        .collect(),
                    cname: rtype != RecordType::CNAME && at(RecordType::CNAME).next().is_some(),
                })
            })
            .clone()
    }

    /// Why a report must not be secure, if it must not.
    fn forged(&self, report: &RrsetReport) -> Option<String> {
        if report.verdict != StatusWord::Secure {
            return None;
        }
        let owner = name(&report.name);
        let rtype: RecordType = report.rtype.parse().ok()?;
        let truth = self.truth(&owner, rtype);
        match report.answer {
            AnswerKind::Data => {
                let got: BTreeSet<String> =
                    report.records.iter().map(|r| r.to_lowercase()).collect();
                (got != truth.data).then(|| {
                    format!(
                        "secure RDATA {got:?} differs from the signed {:?}",
                        truth.data
                    )
                })
            }
            AnswerKind::Nxdomain => (truth.rcode != ResponseCode::NXDomain)
                .then(|| format!("secure NXDOMAIN for a name that is {}", truth.rcode)),
            AnswerKind::Nodata => {
                (truth.rcode != ResponseCode::NoError || !truth.data.is_empty() || truth.cname)
                    .then(|| "secure NODATA for a type that exists".to_string())
            }
            AnswerKind::None => Some("secure without an answer".into()),
        }
    }
}

/// Runs every question through one validator over `source`, checking the invariants.
fn run_all(
    source: &dyn Source,
    anchors: &TrustAnchors,
    oracle: &Oracle<'_>,
    questions: &[Key],
    what: &dyn Fn() -> String,
) -> Vec<Vec<RrsetReport>> {
    let limits = Limits::default();
    let validator = Validator::new(source, anchors, now(), limits);
    let mut all = Vec::new();
    for (qname, qtype) in questions {
        let reports = validator.validate(qname, *qtype);
        assert!(
            !reports.is_empty(),
            "{}: no report for {qname} {qtype}",
            what()
        );
        assert!(
            reports.len() <= limits.cname_hops + 2,
            "{}: {} reports for {qname} {qtype}",
            what(),
            reports.len()
        );
        for r in &reports {
            if r.verdict != StatusWord::Secure {
                assert!(
                    r.reason.as_deref().is_some_and(|s| !s.is_empty()),
                    "{}: {} {} is {:?} without a reason",
                    what(),
                    r.name,
                    r.rtype,
                    r.verdict
                );
            }
            if let Some(why) = oracle.forged(r) {
                panic!(
                    "{}: {qname} {qtype}: forged answer validated: {} {}: {why}\n{r:#?}",
                    what(),
                    r.name,
                    r.rtype
                );
            }
        }
        all.push(reports);
    }
    assert!(
        validator.checks() <= limits.verifications,
        "{}: {} signature checks",
        what(),
        validator.checks()
    );
    all
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

fn rdata_bytes(data: &RData) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_canonical_form(true);
    let _ = data.emit(&mut encoder);
    bytes
}

/// RDATA of `rtype` as raw bytes, parsed again as that type when the message is read.
fn unknown(rtype: RecordType, bytes: Vec<u8>) -> RData {
    RData::Unknown {
        code: rtype,
        rdata: if bytes.is_empty() {
            NULL::new()
        } else {
            NULL::with(bytes)
        },
    }
}

fn key_tag_of(bytes: &[u8]) -> u16 {
    DNSKEY::calculate_key_tag_internal(bytes)
}

/// A DNSKEY of `alg` with `len` random key bytes whose key tag is `tag`: junk keys that a
/// validator cannot tell from the real one by tag and algorithm.
fn colliding_key(rng: &mut Rng, flags: u16, alg: Algorithm, len: usize, tag: u16) -> DNSKEY {
    let len = len.max(4);
    loop {
        let mut key = rng.bytes(len);
        let last = len - 2 + (len % 2);
        key[last..].fill(0);
        let rdata = |key: &[u8]| {
            let mut r = vec![(flags >> 8) as u8, flags as u8, 3, u8::from(alg)];
            r.extend_from_slice(key);
            r
        };
        let base = key_tag_of(&rdata(&key));
        for k in 0..4u16 {
            let w = tag.wrapping_sub(base).wrapping_sub(k);
            if len.is_multiple_of(2) {
                key[last..].copy_from_slice(&w.to_be_bytes());
            } else {
                key[last] = (w >> 8) as u8;
            }
            if key_tag_of(&rdata(&key)) == tag {
                let dnskey = DNSKEY::with_flags(flags, PublicKeyBuf::new(key, alg));
                assert_eq!(dnskey.calculate_key_tag().unwrap(), tag);
                return dnskey;
            }
        }
    }
}

/// An RRSIG like `template`, claiming key `tag`, with a signature of random bytes.
fn junk_rrsig(rng: &mut Rng, template: &Record, tag: u16) -> Option<Record> {
    let sig = rrsig_of(template)?;
    let mut input = sig.input().clone();
    input.key_tag = tag;
    let bytes = rng.bytes(sig.sig().len().max(8));
    let mut r = template.clone();
    r.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, bytes)));
    Some(r)
}

fn section_mut(m: &mut Message, which: usize) -> &mut Vec<Record> {
    match which % 3 {
        0 => &mut m.answers,
        1 => &mut m.authorities,
        _ => &mut m.additionals,
    }
}

/// A random record of the message: (section, index).
fn pick_record(rng: &mut Rng, m: &Message) -> Option<(usize, usize)> {
    let total = m.answers.len() + m.authorities.len() + m.additionals.len();
    if total == 0 {
        return None;
    }
    let mut i = rng.below(total);
    for (s, len) in [m.answers.len(), m.authorities.len(), m.additionals.len()]
        .into_iter()
        .enumerate()
    {
        if i < len {
            return Some((s, i));
        }
        i -= len;
    }
    None
}

const MUTATIONS: usize = 14;

/// One mutation of the answer to `key`: the answers that replace the canned ones, or `None`
/// when the mutation does not apply or the result does not parse.
fn mutate(
    rng: &mut Rng,
    base: &HashMap<Key, Rc<Message>>,
    keys: &[Key],
    key: &Key,
    op: usize,
) -> Option<Vec<(Key, Message)>> {
    let original = base.get(key)?;
    let mut m: Message = (**original).clone();
    let wire = |m: &Message| m.to_vec().ok();
    let reparse = |bytes: Vec<u8>| Message::from_vec(&bytes).ok();
    let one = |m: Message| Some(vec![(key.clone(), m)]);
    match op {
        // Bit flips anywhere.
        0 => {
            let mut b = wire(&m)?;
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            one(reparse(b)?)
        }
        // Byte insertions: in the RDATA of a record, or anywhere in the message.
        1 => {
            if rng.chance(4) {
                let mut b = wire(&m)?;
                let i = 12 + rng.below(b.len() - 11);
                b.insert(i, rng.byte());
                return one(reparse(b)?);
            }
            let (s, i) = pick_record(rng, &m)?;
            let r = &mut section_mut(&mut m, s)[i];
            let mut bytes = rdata_bytes(&r.data);
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                bytes.insert(at, rng.byte());
            }
            r.data = unknown(r.record_type(), bytes);
            one(reparse(wire(&m)?)?)
        }
        // Byte deletions: in the RDATA of a record, or anywhere in the message.
        2 => {
            if rng.chance(4) {
                let mut b = wire(&m)?;
                let i = 12 + rng.below(b.len() - 12);
                b.remove(i);
                return one(reparse(b)?);
            }
            let (s, i) = pick_record(rng, &m)?;
            let r = &mut section_mut(&mut m, s)[i];
            let mut bytes = rdata_bytes(&r.data);
            for _ in 0..1 + rng.below(4) {
                if !bytes.is_empty() {
                    bytes.remove(rng.below(bytes.len()));
                }
            }
            r.data = unknown(r.record_type(), bytes);
            one(reparse(wire(&m)?)?)
        }
        // Truncation (with the counts left as they were, or fixed up by re-encoding).
        3 => {
            let b = wire(&m)?;
            let cut = 12 + rng.below(b.len() - 11);
            if rng.chance(2) {
                one(reparse(b[..cut].to_vec())?)
            } else {
                let records = m.answers.len() + m.authorities.len();
                let keep = rng.below(records + 1);
                let mut all: Vec<Record> =
                    m.answers.drain(..).chain(m.authorities.drain(..)).collect();
                all.truncate(keep);
                let split = rng.below(all.len() + 1);
                m.authorities = all.split_off(split);
                m.answers = all;
                one(reparse(wire(&m)?)?)
            }
        }
        // Record duplication, at the same place or in another section.
        4 => {
            let (s, i) = pick_record(rng, &m)?;
            let r = section_mut(&mut m, s)[i].clone();
            let to = if rng.chance(2) { s } else { rng.below(3) };
            for _ in 0..1 + rng.below(3) {
                let sec = section_mut(&mut m, to);
                let at = rng.below(sec.len() + 1);
                sec.insert(at, r.clone());
            }
            one(reparse(wire(&m)?)?)
        }
        // Swapped sections, or records moved between them.
        5 => {
            match rng.below(3) {
                0 => std::mem::swap(&mut m.answers, &mut m.authorities),
                1 => std::mem::swap(&mut m.answers, &mut m.additionals),
                _ => {
                    let (s, i) = pick_record(rng, &m)?;
                    let r = section_mut(&mut m, s).remove(i);
                    section_mut(&mut m, s + 1 + rng.below(2)).push(r);
                }
            }
            one(reparse(wire(&m)?)?)
        }
        // Another RCODE.
        6 => {
            let mut b = wire(&m)?;
            b[3] = (b[3] & 0xf0) | (rng.byte() & 0x0f);
            one(reparse(b)?)
        }
        // RDATA replaced with random bytes (of the same length, or any).
        7 => {
            let (s, i) = pick_record(rng, &m)?;
            let r = &mut section_mut(&mut m, s)[i];
            let old = rdata_bytes(&r.data);
            let len = if rng.chance(2) {
                old.len()
            } else {
                rng.below(80)
            };
            let mut bytes = rng.bytes(len);
            if rng.chance(2) && !old.is_empty() && len == old.len() {
                // Keep most of it: random bytes over a random stretch.
                let from = rng.below(old.len());
                let to = from + 1 + rng.below(old.len() - from);
                let mut kept = old.clone();
                kept[from..to].copy_from_slice(&bytes[from..to]);
                bytes = kept;
            }
            r.data = unknown(r.record_type(), bytes);
            one(reparse(wire(&m)?)?)
        }
        // RDATA spliced from another answer's record of the same type, signatures kept.
        8 => {
            let (s, i) = pick_record(rng, &m)?;
            let rtype = section_mut(&mut m, s)[i].record_type();
            let donors: Vec<&Record> = keys
                .iter()
                .filter_map(|k| base.get(k))
                .flat_map(|d| d.answers.iter().chain(d.authorities.iter()))
                .filter(|r| r.record_type() == rtype)
                .collect();
            let donor = donors.get(rng.below(donors.len()))?;
            section_mut(&mut m, s)[i].data = donor.data.clone();
            one(reparse(wire(&m)?)?)
        }
        // An RRSIG from elsewhere added, or every RRSIG dropped from a section.
        9 => {
            if rng.chance(3) {
                let s = rng.below(2);
                section_mut(&mut m, s).retain(|r| rrsig_of(r).is_none());
            } else {
                let sigs: Vec<&Record> = keys
                    .iter()
                    .filter_map(|k| base.get(k))
                    .flat_map(|d| d.answers.iter().chain(d.authorities.iter()))
                    .filter(|r| rrsig_of(r).is_some())
                    .collect();
                let mut sig = (*sigs.get(rng.below(sigs.len()))?).clone();
                if let Some(target) = m.answers.first().or(m.authorities.first()) {
                    sig.name = target.name.clone();
                }
                m.answers.push(sig);
            }
            one(reparse(wire(&m)?)?)
        }
        // A long CNAME chain (or loop) from the question, each hop signed with a stolen RRSIG.
        10 => {
            let (qname, qtype) = key.clone();
            let hops = 10 + rng.below(40);
            let stolen = original
                .answers
                .iter()
                .chain(original.authorities.iter())
                .find(|r| rrsig_of(r).is_some())
                .cloned();
            let names: Vec<Name> = (0..=hops)
                .map(|i| {
                    if i == 0 {
                        qname.clone()
                    } else {
                        qname
                            .prepend_label(format!("h{i}"))
                            .unwrap_or_else(|_| name(&format!("h{i}.example.test")))
                    }
                })
                .collect();
            let looped = rng.chance(3);
            let mut out = Vec::new();
            for i in 0..hops {
                let target = if looped && i + 1 == hops {
                    names[rng.below(hops)].clone()
                } else {
                    names[i + 1].clone()
                };
                let mut hop = Message::new(0x4d2e, MessageType::Response, OpCode::Query);
                hop.add_query(Query::query(names[i].clone(), qtype));
                hop.answers.push(Record::from_rdata(
                    names[i].clone(),
                    300,
                    RData::CNAME(CNAME(target)),
                ));
                if let Some(sig) = &stolen {
                    let mut sig = sig.clone();
                    sig.name = names[i].clone();
                    if let RData::DNSSEC(DNSSECRData::RRSIG(s)) = &sig.data {
                        let mut input = s.input().clone();
                        input.type_covered = RecordType::CNAME;
                        sig.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
                            input,
                            s.sig().to_vec(),
                        )));
                    }
                    hop.answers.push(sig);
                }
                let hop = reparse(wire(&hop)?)?;
                out.push(((names[i].to_lowercase(), qtype), hop));
            }
            Some(out)
        }
        // Many DNSKEYs with the tag and algorithm of a real one, and junk RRSIGs naming it.
        11 | 12 => {
            let dnskey_key = if key.1 == RecordType::DNSKEY {
                key.clone()
            } else {
                let zones: Vec<&Key> = keys.iter().filter(|k| k.1 == RecordType::DNSKEY).collect();
                (*zones.get(rng.below(zones.len()))?).clone()
            };
            let mut m: Message = (**base.get(&dnskey_key)?).clone();
            let real: Vec<Record> = m
                .answers
                .iter()
                .filter(|r| dnskey_of(r).is_some())
                .cloned()
                .collect();
            let victim = real.get(rng.below(real.len()))?;
            let k = dnskey_of(victim)?;
            let tag = k.calculate_key_tag().ok()?;
            let alg = k.public_key().algorithm();
            let len = k.public_key().public_bytes().len();
            let count = 8 + rng.below(60);
            let mut junk = Vec::new();
            for _ in 0..count {
                let flags = if rng.chance(2) { 257 } else { 256 };
                let key = colliding_key(rng, flags, alg, len, tag);
                junk.push(Record::from_rdata(
                    victim.name.clone(),
                    victim.ttl,
                    RData::DNSSEC(DNSSECRData::DNSKEY(key)),
                ));
            }
            let at = if rng.chance(2) {
                0
            } else {
                rng.below(m.answers.len() + 1)
            };
            m.answers.splice(at..at, junk);
            if op == 12 {
                let template = m.answers.iter().find(|r| rrsig_of(r).is_some())?.clone();
                let sigs: Vec<Record> = (0..1 + rng.below(20))
                    .filter_map(|_| junk_rrsig(rng, &template, tag))
                    .collect();
                m.answers.splice(0..0, sigs);
            }
            Some(vec![(dnskey_key, reparse(wire(&m)?)?)])
        }
        // An answer served for the wrong question.
        _ => {
            let other = keys.get(rng.below(keys.len()))?;
            let mut m: Message = (**base.get(other)?).clone();
            m.queries = original.queries.clone();
            one(reparse(wire(&m)?)?)
        }
    }
}

struct World {
    hierarchy: Hierarchy,
    anchors: TrustAnchors,
    questions: Vec<Key>,
}

impl World {
    fn new(hierarchy: Hierarchy) -> World {
        World {
            anchors: anchors(&hierarchy),
            hierarchy,
            questions: questions(),
        }
    }

    /// Every answer a clean run asks for.
    fn record(&self) -> HashMap<Key, Rc<Message>> {
        self.record_with_deps().0
    }

    /// Every answer a clean run asks for, and the questions each validation asks.
    fn record_with_deps(&self) -> (HashMap<Key, Rc<Message>>, Vec<BTreeSet<Key>>) {
        let recorder = recorder(&self.hierarchy);
        let oracle = Oracle {
            hierarchy: &self.hierarchy,
            cache: RefCell::new(HashMap::new()),
        };
        let mut deps = Vec::new();
        for q in &self.questions {
            recorder.log.borrow_mut().clear();
            run_all(
                &recorder,
                &self.anchors,
                &oracle,
                std::slice::from_ref(q),
                &|| "recording".into(),
            );
            deps.push(recorder.log.borrow().clone());
        }
        (recorder.asked.into_inner(), deps)
    }
}

fn verdicts(reports: &[Vec<RrsetReport>]) -> Vec<(String, String, StatusWord)> {
    reports
        .iter()
        .flatten()
        .map(|r| (r.name.clone(), r.rtype.clone(), r.verdict))
        .collect()
}

#[test]
fn canned_answers_validate_as_served() {
    let world = World::new(hierarchy());
    let base = world.record();
    let oracle = Oracle {
        hierarchy: &world.hierarchy,
        cache: RefCell::new(HashMap::new()),
    };
    let source = Canned {
        base: &base,
        over: HashMap::new(),
    };
    let reports = run_all(&source, &world.anchors, &oracle, &world.questions, &|| {
        "clean".into()
    });
    for (reports, (qname, qtype)) in reports.iter().zip(&world.questions) {
        let last = reports.last().unwrap();
        let want = if qname.to_ascii().contains("plain.example.test") && *qtype != RecordType::DS {
            StatusWord::Insecure
        } else {
            StatusWord::Secure
        };
        assert_eq!(last.verdict, want, "{qname} {qtype}: {:?}", last.reason);
    }
    let answer_kinds: Vec<AnswerKind> = reports.iter().map(|r| r.last().unwrap().answer).collect();
    for kind in [AnswerKind::Data, AnswerKind::Nodata, AnswerKind::Nxdomain] {
        assert!(
            answer_kinds.contains(&kind),
            "no {kind:?} answer among the questions"
        );
    }
    assert!(
        reports
            .iter()
            .any(|r| r.len() == 2 && r[0].cname_target.is_some()),
        "no CNAME hop among the questions"
    );
}

#[test]
fn mutated_answers_never_panic_exceed_limits_or_validate_forgeries() {
    const SEEDS: [u64; 4] = [
        0x9e37_79b9_7f4a_7c15,
        0xd1b5_4a32_d192_ed03,
        0x8cb9_2ba7_2f3d_8dd7,
        0x2545_f491_4f6c_dd1d,
    ];
    const ITERATIONS_PER_SEED: usize = 800;
    let started = Instant::now();
    let world = World::new(hierarchy());
    let (base, deps) = world.record_with_deps();
    let oracle = Oracle {
        hierarchy: &world.hierarchy,
        cache: RefCell::new(HashMap::new()),
    };
    let mut keys: Vec<Key> = base.keys().cloned().collect();
    keys.sort();
    let clean = run_all(
        &Canned {
            base: &base,
            over: HashMap::new(),
        },
        &world.anchors,
        &oracle,
        &world.questions,
        &|| "clean".into(),
    );
    let (mut runs, mut validations, mut unparsed, mut changed) = (0usize, 0usize, 0usize, 0usize);
    let mut per_op = [0usize; MUTATIONS];
    for seed in SEEDS {
        let mut rng = Rng::new(seed);
        for iteration in 0..ITERATIONS_PER_SEED {
            let mut over = HashMap::new();
            let mut ops = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let key = &keys[rng.below(keys.len())];
                let op = rng.below(MUTATIONS);
                match mutate(&mut rng, &base, &keys, key, op) {
                    Some(answers) => {
                        per_op[op] += 1;
                        ops.push((op, key.clone()));
                        for (k, m) in answers {
                            over.insert(k, Rc::new(m));
                        }
                    }
                    None => unparsed += 1,
                }
            }
            // Only the questions whose validation asks a mutated question can change.
            let affected: Vec<usize> = (0..world.questions.len())
                .filter(|&i| over.keys().any(|k| deps[i].contains(k)))
                .collect();
            if affected.is_empty() {
                continue;
            }
            let questions: Vec<Key> = affected
                .iter()
                .map(|&i| world.questions[i].clone())
                .collect();
            let source = Canned { base: &base, over };
            let what = || format!("seed {seed:#x} iteration {iteration} mutations {ops:?}");
            let reports = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_all(&source, &world.anchors, &oracle, &questions, &what)
            }))
            .unwrap_or_else(|e| {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("{}: {msg}", what())
            });
            runs += 1;
            validations += questions.len();
            let before: Vec<Vec<RrsetReport>> =
                affected.iter().map(|&i| clean[i].clone()).collect();
            if verdicts(&reports) != verdicts(&before) {
                changed += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "dnssec fuzz: {} iterations, {runs} mutated runs, {validations} validations, \
         {unparsed} mutations did not apply or parse, {changed} runs changed a verdict, \
         per mutation {per_op:?}, {elapsed:?}",
        SEEDS.len() * ITERATIONS_PER_SEED
    );
    assert!(
        runs >= SEEDS.len() * ITERATIONS_PER_SEED / 2,
        "only {runs} runs"
    );
    assert!(
        changed > runs / 4,
        "only {changed} of {runs} runs changed a verdict"
    );
    assert!(
        per_op.iter().all(|&n| n > 0),
        "a mutation never applied: {per_op:?}"
    );
}

/// A NOERROR/NODATA answer at an empty non-terminal turned into NXDOMAIN: the NSEC that covers
/// the name names a descendant of it next, so the name exists and the NXDOMAIN is forged.
#[test]
fn forged_nxdomain_for_an_nsec_empty_non_terminal_is_bogus_rfc4035_section_5_4() {
    let world = World::new(hierarchy());
    let base = world.record();
    let ent = (name("_tcp.mail.example.test"), RecordType::TLSA);
    let mut forged: Message = (*base[&ent]).clone();
    assert_eq!(forged.metadata.response_code, ResponseCode::NoError);
    forged.metadata.response_code = ResponseCode::NXDomain;
    let source = Canned {
        base: &base,
        over: HashMap::from([(ent.clone(), Rc::new(forged))]),
    };
    let validator = Validator::new(&source, &world.anchors, now(), Limits::default());
    let reports = validator.validate(&ent.0, ent.1);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].answer, AnswerKind::Nxdomain);
    assert_eq!(reports[0].verdict, StatusWord::Bogus);
    let reason = reports[0].reason.clone().unwrap();
    assert!(reason.contains("empty non-terminal"), "{reason}");
}

#[test]
fn nsec_nodata_at_an_empty_non_terminal_is_secure_rfc4035_section_3_1_3_2() {
    let world = World::new(hierarchy());
    let base = world.record();
    let source = Canned {
        base: &base,
        over: HashMap::new(),
    };
    let validator = Validator::new(&source, &world.anchors, now(), Limits::default());
    let reports = validator.validate(&name("_tcp.mail.example.test"), RecordType::TLSA);
    assert_eq!(reports[0].answer, AnswerKind::Nodata);
    assert_eq!(
        reports[0].verdict,
        StatusWord::Secure,
        "{:?}",
        reports[0].reason
    );
}

/// KeyTrap (CVE-2023-50387): 50 DNSKEYs with one tag and algorithm, in a DNSKEY RRset that is
/// itself properly signed, and an MX RRset with many RRSIGs naming that tag that all fail. The
/// validator tries a bounded number of keys per signature and signatures per RRset, and gives up
/// with the limit named.
fn keytrap_hierarchy() -> (Hierarchy, u16) {
    let mut h = Hierarchy::rooted(vec![
        ZoneSpec::new("example.test").record(&mail_records(TLSA)),
    ]);
    let zone = h.zone_mut("example.test");
    let real_tag = zone.key_tag(0);
    let tag = real_tag.wrapping_add(0x1234);
    let mut rng = Rng::new(0x4b65_7954_7261_7021);
    let keys = zone.rrset_mut("example.test", RecordType::DNSKEY).unwrap();
    let template = keys[0].clone();
    for _ in 0..50 {
        let key = colliding_key(&mut rng, 257, Algorithm::ECDSAP256SHA256, 64, tag);
        let mut r = template.clone();
        r.data = RData::DNSSEC(DNSSECRData::DNSKEY(key));
        keys.push(r);
    }
    zone.sign_rrset("example.test", RecordType::DNSKEY);
    let sigs = zone.rrsigs_mut("example.test", RecordType::MX);
    let template = sigs[0].clone();
    sigs.clear();
    for _ in 0..50 {
        sigs.push(junk_rrsig(&mut rng, &template, tag).unwrap());
    }
    (h, tag)
}

#[test]
fn keytrap_colliding_keys_and_failing_signatures_are_bogus_within_the_limits_cve_2023_50387() {
    let (h, tag) = keytrap_hierarchy();
    let anchors = anchors(&h);
    let recorder = recorder(&h);
    let colliding = h
        .zone("example.test")
        .rrset("example.test", RecordType::DNSKEY)
        .unwrap()
        .iter()
        .filter(|r| dnskey_of(r).is_some_and(|k| k.calculate_key_tag().unwrap() == tag))
        .count();
    assert_eq!(colliding, 50);

    let limits = Limits::default();
    let validator = Validator::new(&recorder, &anchors, now(), limits);
    let reports = validator.validate(&name("example.test"), RecordType::MX);
    assert_eq!(reports.len(), 1);
    let mx = &reports[0];
    assert_eq!(mx.verdict, StatusWord::Bogus, "{:?}", mx.reason);
    let reason = mx.reason.clone().unwrap();
    assert!(reason.contains("work limit"), "{reason}");
    assert!(
        reason.contains(&format!(
            "more than {} signatures over one RRset",
            limits.sigs_per_rrset
        )),
        "{reason}"
    );
    assert!(
        reason.contains(&format!(
            "first {} of 50 keys tagged {tag}",
            limits.key_candidates
        )),
        "{reason}"
    );
    // The chain (root, test, example.test: DS and DNSKEY each) and at most key_candidates checks
    // for each of the sigs_per_rrset signatures tried.
    let bound = 6 + limits.key_candidates * limits.sigs_per_rrset;
    assert!(validator.checks() <= bound, "{} checks", validator.checks());
    assert!(validator.checks() <= limits.verifications);
    // The zone's own keys still validate: the DNSKEY RRset is secure.
    let keys = validator.validate(&name("example.test"), RecordType::DNSKEY);
    assert_eq!(keys[0].verdict, StatusWord::Secure, "{:?}", keys[0].reason);

    // With a small budget for the whole run, the run-wide limit is the one named.
    let tight = Limits {
        verifications: 10,
        ..Limits::default()
    };
    let validator = Validator::new(&recorder, &anchors, now(), tight);
    let reports = validator.validate(&name("example.test"), RecordType::MX);
    assert_eq!(reports[0].verdict, StatusWord::Bogus);
    let reason = reports[0].reason.clone().unwrap();
    assert!(
        reason.contains("work limit: more than 10 signature checks in one run"),
        "{reason}"
    );
    assert_eq!(validator.checks(), 10);
}
