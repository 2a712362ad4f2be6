//! Offline DNSSEC validation (benchmark P2): a captured MX + TLSA chain (root → `test.` →
//! `example.test.`; the MX of `example.test.` names `mail.example.test.`, with its A and its
//! `_25._tcp` TLSA), signed in-process with ECDSA P-256 and with RSA-2048, served from canned
//! answers and validated with a fresh [`Validator`] per run (nothing cached across runs). In the
//! same process, ring verifies the same signatures over the same signed data, so that the
//! validator's signature checks per second are given as a share of ring's raw verify rate.
//!
//! Run with `cargo bench --bench dnssec_chain`. `DANEKIT_DNSSEC_ITERATIONS` sets the number of
//! runs (default 10,000; 500 with `DANEKIT_BENCH_QUICK=1`). The RSA keys are read from
//! `tests/fixtures/dnssec/rsa-2048-0{0,1,2}.p8.der` (ring cannot make RSA keys); without them
//! the RSA half is skipped with a note.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use danekit::dns::client::{NoAnswer, Source};
use danekit::dnssec::{Limits, StatusWord, TrustAnchors, Validator};
use danekit::time::Timestamp;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG, SigInput};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKeyBuf, TBS, Verifier as _};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_proto::rr::rdata::{A, MX, TLSA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey};

/// The validation time: 2026-09-20T00:00:00Z.
const NOW: i64 = 1_789_862_400;
const INCEPTION: u32 = (NOW - 30 * 86_400) as u32;
const EXPIRATION: u32 = (NOW + 30 * 86_400) as u32;
const TTL: u32 = 3600;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Alg {
    EcdsaP256,
    Rsa2048,
}

impl Alg {
    fn label(self) -> &'static str {
        match self {
            Alg::EcdsaP256 => "ECDSA P-256 (13)",
            Alg::Rsa2048 => "RSA-2048/SHA-256 (8)",
        }
    }

    fn dnssec(self) -> Algorithm {
        match self {
            Alg::EcdsaP256 => Algorithm::ECDSAP256SHA256,
            Alg::Rsa2048 => Algorithm::RSASHA256,
        }
    }

    fn ring(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            Alg::EcdsaP256 => &signature::ECDSA_P256_SHA256_FIXED,
            Alg::Rsa2048 => &signature::RSA_PKCS1_2048_8192_SHA256,
        }
    }
}

enum Signer {
    Ecdsa(Box<EcdsaKeyPair>),
    Rsa(Box<RsaKeyPair>),
}

/// The key of one zone (a combined signing key, flags 257) and its ring form.
struct ZoneKey {
    signer: Signer,
    dnskey: DNSKEY,
    tag: u16,
    /// The public key as ring's `UnparsedPublicKey` takes it (SEC1 point; RSAPublicKey DER).
    ring_public: Vec<u8>,
}

impl ZoneKey {
    fn ecdsa(rng: &SystemRandom) -> ZoneKey {
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), rng).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        // RFC 6605 §4: x | y, without the SEC1 0x04 prefix.
        let dnskey = DNSKEY::with_flags(
            257,
            PublicKeyBuf::new(point[1..].to_vec(), Algorithm::ECDSAP256SHA256),
        );
        ZoneKey::finish(Signer::Ecdsa(Box::new(pair)), dnskey, point)
    }

    fn rsa(der: &[u8]) -> ZoneKey {
        // PKCS#8, or the PKCS#1 RSAPrivateKey that `openssl genpkey -outform DER` may write.
        let pair = RsaKeyPair::from_pkcs8(der)
            .or_else(|_| RsaKeyPair::from_der(der))
            .unwrap();
        let parts = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        // RFC 3110 §2: exponent length, exponent, modulus.
        let mut public = vec![u8::try_from(parts.e.len()).unwrap()];
        public.extend_from_slice(&parts.e);
        public.extend_from_slice(&parts.n);
        let dnskey = DNSKEY::with_flags(257, PublicKeyBuf::new(public, Algorithm::RSASHA256));
        let der = pair.public_key().as_ref().to_vec();
        ZoneKey::finish(Signer::Rsa(Box::new(pair)), dnskey, der)
    }

    fn finish(signer: Signer, dnskey: DNSKEY, ring_public: Vec<u8>) -> ZoneKey {
        let tag = dnskey.calculate_key_tag().unwrap();
        ZoneKey {
            signer,
            dnskey,
            tag,
            ring_public,
        }
    }

    fn sign(&self, rng: &SystemRandom, data: &[u8]) -> Vec<u8> {
        match &self.signer {
            Signer::Ecdsa(pair) => pair.sign(rng, data).unwrap().as_ref().to_vec(),
            Signer::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, rng, data, &mut sig)
                    .unwrap();
                sig
            }
        }
    }
}

/// One signature of the chain as ring checks it: key, signed data, signature.
struct RawSig {
    public: Vec<u8>,
    tbs: Vec<u8>,
    sig: Vec<u8>,
}

/// Canned answers, keyed by question.
struct Canned {
    answers: HashMap<(Name, RecordType), Rc<Message>>,
}

impl Source for Canned {
    fn fetch(&self, name: &Name, rtype: RecordType) -> Result<Rc<Message>, NoAnswer> {
        self.answers
            .get(&(name.to_lowercase(), rtype))
            .cloned()
            .ok_or_else(|| NoAnswer {
                reason: format!("no canned answer for {name} {rtype}"),
            })
    }
}

/// The signed chain for one algorithm: its answers, its trust anchor and its signatures.
struct Chain {
    source: Canned,
    anchors: TrustAnchors,
    raw: Vec<RawSig>,
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// Signs `rrset` (one owner, one type) with `key` of `zone`; keeps what ring needs to check it.
fn sign(
    rng: &SystemRandom,
    zone: &Name,
    key: &ZoneKey,
    alg: Alg,
    rrset: &[Record],
    raw: &mut Vec<RawSig>,
) -> Record {
    let owner = &rrset[0].name;
    let input = SigInput {
        type_covered: rrset[0].record_type(),
        algorithm: alg.dnssec(),
        num_labels: owner.num_labels(),
        original_ttl: TTL,
        sig_expiration: SerialNumber::new(EXPIRATION),
        sig_inception: SerialNumber::new(INCEPTION),
        key_tag: key.tag,
        signer_name: zone.clone(),
    };
    let tbs = TBS::from_input(owner, DNSClass::IN, &input, rrset.iter()).unwrap();
    let sig = key.sign(rng, tbs.as_ref());
    raw.push(RawSig {
        public: key.ring_public.clone(),
        tbs: tbs.as_ref().to_vec(),
        sig: sig.clone(),
    });
    Record::from_rdata(
        owner.clone(),
        TTL,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
    )
}

fn ds_of(owner: &Name, key: &DNSKEY) -> DS {
    let digest = key.to_digest(owner, DigestType::SHA256).unwrap();
    DS::new(
        key.calculate_key_tag().unwrap(),
        key.algorithm(),
        DigestType::SHA256,
        digest.as_ref().to_vec(),
    )
}

fn answer(qname: &Name, rtype: RecordType, records: Vec<Record>) -> Rc<Message> {
    let mut message = Message::new(7, MessageType::Response, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.metadata.recursion_available = true;
    message.metadata.checking_disabled = true;
    message.add_query(Query::query(qname.clone(), rtype));
    message.add_answers(records);
    Rc::new(message)
}

fn build(alg: Alg, keys: [ZoneKey; 3]) -> Chain {
    let rng = SystemRandom::new();
    let zones = [Name::root(), name("test."), name("example.test.")];
    let mut raw = Vec::new();
    let mut answers = HashMap::new();
    let mut add = |raw: &mut Vec<RawSig>, zone: usize, rrset: Vec<Record>| {
        let sig = sign(&rng, &zones[zone], &keys[zone], alg, &rrset, raw);
        let (owner, rtype) = (rrset[0].name.clone(), rrset[0].record_type());
        let mut records = rrset;
        records.push(sig);
        answers.insert((owner.clone(), rtype), answer(&owner, rtype, records));
    };
    for (i, zone) in zones.iter().enumerate() {
        let dnskey = Record::from_rdata(
            zone.clone(),
            TTL,
            RData::DNSSEC(DNSSECRData::DNSKEY(keys[i].dnskey.clone())),
        );
        add(&mut raw, i, vec![dnskey]);
        if i > 0 {
            let ds = Record::from_rdata(
                zone.clone(),
                TTL,
                RData::DNSSEC(DNSSECRData::DS(ds_of(zone, &keys[i].dnskey))),
            );
            add(&mut raw, i - 1, vec![ds]);
        }
    }
    let apex = &zones[2];
    let mail = name("mail.example.test.");
    let mx = Record::from_rdata(apex.clone(), TTL, RData::MX(MX::new(10, mail.clone())));
    add(&mut raw, 2, vec![mx]);
    let a = Record::from_rdata(mail.clone(), TTL, RData::A(A::new(192, 0, 2, 25)));
    add(&mut raw, 2, vec![a]);
    let tlsa_owner = name("_25._tcp.mail.example.test.");
    let tlsa = [
        (CertUsage::DaneEe, Selector::Spki, Matching::Sha256, 0x11u8),
        (CertUsage::DaneTa, Selector::Spki, Matching::Sha256, 0x22u8),
    ]
    .into_iter()
    .map(|(usage, selector, matching, fill)| {
        Record::from_rdata(
            tlsa_owner.clone(),
            TTL,
            RData::TLSA(TLSA::new(usage, selector, matching, vec![fill; 32])),
        )
    })
    .collect();
    add(&mut raw, 2, tlsa);
    let root_ds = ds_of(&Name::root(), &keys[0].dnskey);
    let anchor_text = format!(
        ". IN DS {} {} 2 {}\n",
        root_ds.key_tag(),
        u8::from(root_ds.algorithm()),
        data_encoding::HEXUPPER.encode(root_ds.digest())
    );
    let anchors = TrustAnchors::parse("bench anchor", &anchor_text).unwrap();
    Chain {
        source: Canned { answers },
        anchors,
        raw,
    }
}

/// The questions of one run: the MX, then the A and TLSA of its host.
fn questions() -> [(Name, RecordType); 3] {
    [
        (name("example.test."), RecordType::MX),
        (name("mail.example.test."), RecordType::A),
        (name("_25._tcp.mail.example.test."), RecordType::TLSA),
    ]
}

/// One run with a fresh validator: the number of signature checks it made.
fn validate_once(chain: &Chain, questions: &[(Name, RecordType)]) -> usize {
    let validator = Validator::new(
        &chain.source,
        &chain.anchors,
        Timestamp(NOW),
        Limits::default(),
    );
    for (qname, qtype) in questions {
        black_box(validator.validate(qname, *qtype));
    }
    validator.checks()
}

fn verify_raw(alg: Alg, raw: &[RawSig]) {
    for s in raw {
        UnparsedPublicKey::new(alg.ring(), &s.public)
            .verify(black_box(&s.tbs), black_box(&s.sig))
            .unwrap();
    }
}

struct Figures {
    checks_per_run: usize,
    run: Duration,
    checks_per_s: f64,
    raw_per_s: f64,
    /// The median over the slices of checks/s ÷ ring verifies/s.
    share: f64,
}

/// Validates `iterations` times and verifies the chain's signatures with ring as many times,
/// in alternating slices so that both see the same machine; rates and their ratio are the
/// medians over the slices.
fn measure(alg: Alg, chain: &Chain, iterations: usize) -> Figures {
    let questions = questions();
    let validator = Validator::new(
        &chain.source,
        &chain.anchors,
        Timestamp(NOW),
        Limits::default(),
    );
    for (qname, qtype) in &questions {
        for report in validator.validate(qname, *qtype) {
            assert_eq!(
                report.verdict,
                StatusWord::Secure,
                "{} {} {}: {:?}",
                alg.label(),
                report.name,
                report.rtype,
                report.reason
            );
        }
    }
    let checks_per_run = validator.checks();
    for _ in 0..iterations.min(50) {
        validate_once(chain, &questions);
        verify_raw(alg, &chain.raw);
    }
    let slices = 20;
    let mut validating = Duration::ZERO;
    let mut checks = 0usize;
    let mut check_rates = Vec::new();
    let mut raw_rates = Vec::new();
    let mut shares = Vec::new();
    for slice in 0..slices {
        let n = iterations / slices + usize::from(slice < iterations % slices);
        if n == 0 {
            continue;
        }
        let t = Instant::now();
        let mut slice_checks = 0;
        for _ in 0..n {
            slice_checks += validate_once(chain, &questions);
        }
        let v = t.elapsed();
        let t = Instant::now();
        for _ in 0..n {
            verify_raw(alg, &chain.raw);
        }
        let r = t.elapsed();
        validating += v;
        checks += slice_checks;
        let check_rate = slice_checks as f64 / v.as_secs_f64();
        let raw_rate = (chain.raw.len() * n) as f64 / r.as_secs_f64();
        check_rates.push(check_rate);
        raw_rates.push(raw_rate);
        shares.push(check_rate / raw_rate);
    }
    assert_eq!(checks, checks_per_run * iterations);
    Figures {
        checks_per_run,
        run: validating / u32::try_from(iterations).unwrap_or(u32::MAX),
        checks_per_s: median(&mut check_rates),
        raw_per_s: median(&mut raw_rates),
        share: median(&mut shares),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn rsa_keys() -> Option<[ZoneKey; 3]> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dnssec");
    let first = std::fs::read(dir.join("rsa-2048-00.p8.der")).ok()?;
    let read = |i: usize| std::fs::read(dir.join(format!("rsa-2048-{i:02}.p8.der"))).ok();
    let second = read(1).unwrap_or_else(|| first.clone());
    let third = read(2).unwrap_or_else(|| first.clone());
    Some([
        ZoneKey::rsa(&first),
        ZoneKey::rsa(&second),
        ZoneKey::rsa(&third),
    ])
}

fn main() {
    let quick = std::env::var_os("DANEKIT_BENCH_QUICK").is_some();
    let iterations = std::env::var("DANEKIT_DNSSEC_ITERATIONS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(if quick { 500 } else { 10_000 });
    let rng = SystemRandom::new();
    let mut chains = vec![(
        Alg::EcdsaP256,
        build(
            Alg::EcdsaP256,
            [
                ZoneKey::ecdsa(&rng),
                ZoneKey::ecdsa(&rng),
                ZoneKey::ecdsa(&rng),
            ],
        ),
    )];
    match rsa_keys() {
        Some(keys) => chains.push((Alg::Rsa2048, build(Alg::Rsa2048, keys))),
        None => println!(
            "dnssec: RSA-2048 skipped: tests/fixtures/dnssec/rsa-2048-00.p8.der is not there"
        ),
    }
    println!(
        "dnssec: MX + A + TLSA chain (root, test., example.test.), {iterations} runs, a fresh validator each"
    );
    println!(
        "dnssec: {:<22} {:>6} {:>10} {:>14} {:>14} {:>7}",
        "algorithm", "checks", "per run", "checks/s", "ring verify/s", "share"
    );
    for (alg, chain) in &chains {
        let f = measure(*alg, chain, iterations);
        println!(
            "dnssec: {:<22} {:>6} {:>7.1} µs {:>14.0} {:>14.0} {:>6.1}%",
            alg.label(),
            f.checks_per_run,
            f.run.as_secs_f64() * 1e6,
            f.checks_per_s,
            f.raw_per_s,
            100.0 * f.share
        );
    }
}
