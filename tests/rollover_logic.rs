//! The judgement of `danekit rollover check` without DNS: every publishing scheme of RFC 7671
//! §8 and rules 9–15 of the design notes, with certificates made here, an injected clock and
//! nameserver views given as data. Each test asserts the exact verdict, reasons, records and
//! findings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use danekit::dnssec::StatusWord;
use danekit::pki::{Certificate, KeyFamily};
use danekit::rollover::clock::State;
use danekit::rollover::coverage::Next;
use danekit::rollover::issuers::{self, Family};
use danekit::rollover::{NsView, Published, Safety, ServiceInput, ServiceReport, judge};
use danekit::time::Timestamp;
use danekit::tlsa::Rdata;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};

const OWNER: &str = "_25._tcp.mail.example.test.";

fn t(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

struct Ca {
    cert: Certificate,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(cn: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    let der = p.self_signed(&key).unwrap().der().to_vec();
    Ca {
        cert: Certificate::from_der(&der).unwrap(),
        issuer: Issuer::new(p, key),
    }
}

/// A leaf for mail.example.test under `ca`, with `key`, valid until `until` (a year).
fn leaf(ca: &Ca, key: &KeyPair, until: i32) -> Certificate {
    let mut p = CertificateParams::new(vec!["mail.example.test".to_owned()]).unwrap();
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(until, 1, 1);
    Certificate::from_der(p.signed_by(key, &ca.issuer).unwrap().der()).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sha(data: &[u8], sha512: bool) -> String {
    let alg = if sha512 {
        &ring::digest::SHA512
    } else {
        &ring::digest::SHA256
    };
    hex(ring::digest::digest(alg, data).as_ref())
}

fn r311(c: &Certificate) -> String {
    format!("3 1 1 {}", sha(&c.spki, false))
}

fn r312(c: &Certificate) -> String {
    format!("3 1 2 {}", sha(&c.spki, true))
}

fn r211(c: &Certificate) -> String {
    format!("2 1 1 {}", sha(&c.spki, false))
}

fn spki_of(k: &KeyPair) -> Vec<u8> {
    k.subject_public_key_info()
}

/// A CA, a current leaf (key k1) valid until `until`, and a next key's SPKI.
struct Keys {
    root: Ca,
    cur: Certificate,
    spki: Vec<u8>,
}

fn keys(until: i32) -> Keys {
    let root = ca("Example CA");
    let k1 = KeyPair::generate().unwrap();
    let k2 = KeyPair::generate().unwrap();
    let cur = leaf(&root, &k1, until);
    Keys {
        root,
        cur,
        spki: spki_of(&k2),
    }
}

/// A next ECDSA key, by its SPKI.
fn next_key(spki: &[u8]) -> Next<'_> {
    Next::Key {
        spki,
        family: KeyFamily::Ecdsa,
    }
}

/// A world where every nameserver serves `records` (secure), seen everywhere since `seen`.
struct World {
    records: Vec<String>,
    state: State,
    nameservers: Vec<NsView>,
}

fn world(records: &[String], seen: Timestamp) -> World {
    let mut state = State::new();
    state.observe(OWNER, Some((records, 3600)), seen);
    World {
        records: records.to_vec(),
        state,
        nameservers: vec![ns("ns1.example.test.", records, 7)],
    }
}

fn ns(name: &str, records: &[String], serial: u32) -> NsView {
    let mut records = records.to_vec();
    records.sort();
    NsView {
        name: name.into(),
        address: "192.0.2.53:53".into(),
        verdict: StatusWord::Secure,
        records,
        serial: Some(serial),
        error: None,
    }
}

fn check(
    w: &World,
    current: &[Certificate],
    next: Option<Next<'_>>,
    families: &[Family],
    now: Timestamp,
) -> ServiceReport {
    let input = ServiceInput {
        host: "mail.example.test.".into(),
        port: 25,
        owner: OWNER.into(),
        current,
        next,
        published: Published::Secure {
            records: w
                .records
                .iter()
                .map(|r| r.parse::<Rdata>().unwrap())
                .collect(),
            unparsed: Vec::new(),
        },
        nameservers: w.nameservers.clone(),
        negative_ttl: 300,
        smtp: true,
    };
    judge(&input, &w.state, families, now)
}

fn codes(r: &ServiceReport) -> Vec<String> {
    r.findings.iter().map(|f| f.code.clone()).collect()
}

const DAY0: &str = "2026-11-01T00:00:00Z";

#[test]
fn prepublished_next_key_is_safe_two_ttls_after_it_is_everywhere() {
    let Keys { root, cur, spki } = keys(2027);
    let next = next_key(&spki);
    let next_record = format!("3 1 1 {}", sha(&spki, false));
    // The current record has been there for a while; the next one joined at DAY0.
    let mut w = world(&[r311(&cur)], t("2026-10-01T00:00:00Z"));
    w.records.push(next_record.clone());
    w.state.observe(OWNER, Some((&w.records, 3600)), t(DAY0));
    w.nameservers = vec![ns("ns1.example.test.", &w.records, 8)];
    let chain = [cur.clone(), root.cert.clone()];

    let early = check(&w, &chain, Some(next), &[], t("2026-11-01T01:00:00Z"));
    assert_eq!(early.verdict, Safety::Unsafe);
    assert_eq!(early.safe_after, Some(t("2026-11-01T02:00:00Z")));
    assert_eq!(
        early.reasons,
        vec![
            "resolvers may still cache the TLSA RRset without the next record until 2026-11-01T02:00:00Z (2 × TTL after every authoritative server served it)"
        ]
    );
    let roles: Vec<(bool, bool, Option<Timestamp>)> = early
        .records
        .iter()
        .map(|r| (r.current, r.next, r.ready_at))
        .collect();
    assert_eq!(
        roles,
        vec![
            (true, false, None),
            (false, true, Some(t("2026-11-01T02:00:00Z")))
        ]
    );

    let later = check(&w, &chain, Some(next), &[], t("2026-11-01T02:00:00Z"));
    assert_eq!(later.verdict, Safety::Safe, "{:?}", later.reasons);
    assert!(later.reasons.is_empty());
    assert_eq!(later.safe_after, None);
}

#[test]
fn a_new_name_waits_for_the_negative_ttl_too_rfc2308() {
    let Keys { root: _, cur, spki } = keys(2027);
    let next = next_key(&spki);
    let both = [r311(&cur), format!("3 1 1 {}", sha(&spki, false))];
    // Both records appeared at the owner's first observation: the name may have been cached
    // as absent for the negative TTL (300 s here, shorter than the TTL: the TTL decides).
    let w = world(&both, t(DAY0));
    let r = check(
        &w,
        std::slice::from_ref(&cur),
        Some(next),
        &[],
        t("2026-11-01T00:30:00Z"),
    );
    assert_eq!(r.safe_after, Some(t("2026-11-01T02:00:00Z")));
}

#[test]
fn key_change_without_prepublish_is_unsafe_and_names_the_record_to_publish() {
    let Keys { root, cur, spki } = keys(2027);
    let next = next_key(&spki);
    let w = world(&[r311(&cur)], t(DAY0));
    let r = check(
        &w,
        &[cur.clone(), root.cert.clone()],
        Some(next),
        &[],
        t("2026-11-30T00:00:00Z"),
    );
    assert_eq!(r.verdict, Safety::Unsafe);
    assert_eq!(r.safe_after, None);
    assert_eq!(
        r.reasons,
        vec![
            "the next key would not be authenticated by the published records (a SHA2-256 client)",
            "the next key would not be authenticated by the published records (a SHA2-256+SHA2-512 client)",
        ]
    );
    assert_eq!(r.publish, vec![format!("3 1 1 {}", sha(&spki, false))]);
    assert_eq!(codes(&r), vec!["parameter-set-not-rolled"]);
}

#[test]
fn same_key_renewal_is_safe_with_nothing_to_roll() {
    let root = ca("Example CA");
    let k1 = KeyPair::generate().unwrap();
    let cur = leaf(&root, &k1, 2027);
    let renewed = leaf(&root, &k1, 2028);
    let chain = [renewed.clone(), root.cert.clone()];
    let w = world(&[r311(&cur)], t(DAY0));
    let r = check(
        &w,
        &[cur.clone(), root.cert.clone()],
        Some(Next::Chain(&chain)),
        &[],
        t("2026-11-30T00:00:00Z"),
    );
    assert_eq!(r.verdict, Safety::Safe, "{:?}", r.reasons);
    assert_eq!(codes(&r), vec!["next-equals-current"]);
    assert!(r.records[0].current && r.records[0].next);
}

#[test]
fn dane_ee_with_issuer_records_covers_a_new_key_from_the_same_ca_rule_12b() {
    let Keys { root, cur, spki } = keys(2027);
    let next = next_key(&spki);
    let w = world(&[r311(&cur), r211(&root.cert)], t("2026-10-01T00:00:00Z"));
    let r = check(
        &w,
        &[cur.clone(), root.cert.clone()],
        Some(next),
        &[],
        t("2026-11-30T00:00:00Z"),
    );
    assert_eq!(r.verdict, Safety::Safe, "{:?}", r.reasons);
    // The 3 1 1 set no longer matches after the swap: said, not blocking.
    assert_eq!(codes(&r), vec!["parameter-set-not-rolled"]);
    let roles: Vec<(bool, bool)> = r.records.iter().map(|x| (x.current, x.next)).collect();
    assert_eq!(roles, vec![(true, false), (true, true)]);
}

#[test]
fn junk_and_another_cas_issuer_are_no_next_records_rule_15() {
    let root = ca("Example CA");
    let other = ca("Other CA");
    let k1 = KeyPair::generate().unwrap();
    let k2 = KeyPair::generate().unwrap();
    let cur = leaf(&root, &k1, 2027);
    let spki = spki_of(&k2);
    let next = Next::Key {
        spki: &spki,
        family: KeyFamily::Ecdsa,
    };
    let junk = format!("3 1 1 {}", "ab".repeat(32));
    let w = world(
        &[r311(&cur), junk.clone(), r211(&other.cert)],
        t("2026-10-01T00:00:00Z"),
    );
    let r = check(
        &w,
        &[cur.clone(), root.cert.clone()],
        Some(next),
        &[],
        t("2026-11-30T00:00:00Z"),
    );
    assert_eq!(r.verdict, Safety::Unsafe);
    assert_eq!(r.safe_after, None);
    assert_eq!(
        codes(&r),
        vec![
            "record-matches-nothing",
            "record-matches-nothing",
            "parameter-set-not-rolled",
            "parameter-set-stale",
        ]
    );
    assert!(r.findings[0].message.starts_with(&junk));
    assert!(r.findings[1].message.starts_with(&r211(&other.cert)));
}

#[test]
fn both_digests_must_follow_the_key_rfc7671_section_9() {
    let Keys { root: _, cur, spki } = keys(2027);
    let next = next_key(&spki);
    // 3 1 1 has the next key, 3 1 2 does not: a SHA2-512 client uses 3 1 2 only.
    let next311 = format!("3 1 1 {}", sha(&spki, false));
    let w = world(
        &[r311(&cur), next311, r312(&cur)],
        t("2026-10-01T00:00:00Z"),
    );
    let r = check(
        &w,
        std::slice::from_ref(&cur),
        Some(next),
        &[],
        t("2026-11-30T00:00:00Z"),
    );
    assert_eq!(r.verdict, Safety::Unsafe);
    assert_eq!(
        r.reasons,
        vec![
            "the next key would not be authenticated by the published records (a SHA2-256+SHA2-512 client)"
        ]
    );
    assert_eq!(r.publish, vec![format!("3 1 2 {}", sha(&spki, true))]);
}

/// A chain whose issuer is a real Let's Encrypt intermediate (matching is on data, so the
/// leaf need not be signed by it).
fn le_chain(member: &str) -> Vec<Certificate> {
    let families = issuers::builtin();
    let der = families
        .iter()
        .flat_map(|f| f.members.iter())
        .find(|m| m.name == member)
        .unwrap()
        .der
        .clone();
    let root = ca("stand-in");
    let k = KeyPair::from_pem(include_str!("fixtures/pki/leaf-rsa2048.key.pem")).unwrap();
    vec![leaf(&root, &k, 2027), Certificate::from_der(&der).unwrap()]
}

fn le_issuer_records(names: &[&str]) -> Vec<String> {
    issuers::builtin()
        .iter()
        .flat_map(|f| f.members.iter())
        .filter(|m| names.contains(&m.name.as_str()))
        .map(|m| r211(&Certificate::from_der(&m.der).unwrap()))
        .collect()
}

#[test]
fn lets_encrypt_issuer_sets_must_cover_every_intermediate_in_force() {
    let families = issuers::builtin();
    let chain = le_chain("R11");
    let k2 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let spki = spki_of(&k2);
    // An RSA next key: Let's Encrypt picks one of R10–R14 before 2026-05-13, of YR1–YR3 after.
    let rsa_next = {
        let k = KeyPair::from_pem(include_str!("fixtures/pki/leaf-rsa2048.key.pem")).unwrap();
        k.subject_public_key_info()
    };
    let _ = &spki;
    let next = Next::Key {
        spki: &rsa_next,
        family: KeyFamily::Rsa,
    };
    // Only today's R11: the next certificate may come from R10, R12, R13 or R14.
    let mut records = vec![format!("3 1 1 {}", sha(&chain[0].spki, false))];
    records.extend(le_issuer_records(&["R11"]));
    let w = world(&records, t("2026-01-01T00:00:00Z"));
    // The same RSA key is reused (the 3 1 1 covers it): only a warning.
    let r = check(&w, &chain, Some(next), &families, t("2026-03-01T00:00:00Z"));
    assert_eq!(r.verdict, Safety::Safe, "{:?}", r.reasons);
    assert_eq!(
        codes(&r),
        vec!["next-equals-current", "issuer-set-incomplete"]
    );
    assert_eq!(
        r.findings[1].message,
        "the issuer records cover R11 of Let's Encrypt RSA 2024 (R10–R14); the next certificate may come from R10, R12, R13, R14 as well"
    );

    // A new key with only R11 published: not covered whichever way.
    let other = KeyPair::generate().unwrap().subject_public_key_info();
    let new_key = Next::Key {
        spki: &other,
        family: KeyFamily::Rsa,
    };
    let r = check(
        &w,
        &chain,
        Some(new_key),
        &families,
        t("2026-03-01T00:00:00Z"),
    );
    assert_eq!(r.verdict, Safety::Unsafe);
    assert!(r.reasons.contains(&"the next certificate may be issued by R10, R12, R13, R14 (Let's Encrypt RSA 2024 (R10–R14)); no issuer record covers R10, R12, R13, R14".to_owned()), "{:?}", r.reasons);

    // All of R10–R14: covered before Generation Y ...
    let mut all = vec![format!("3 1 1 {}", sha(&chain[0].spki, false))];
    all.extend(le_issuer_records(&["R10", "R11", "R12", "R13", "R14"]));
    let w = world(&all, t("2026-01-01T00:00:00Z"));
    let r = check(
        &w,
        &chain,
        Some(new_key),
        &families,
        t("2026-03-01T00:00:00Z"),
    );
    assert_eq!(r.verdict, Safety::Safe, "{:?}", r.reasons);
    // ... and not after 2026-05-13, when the classic profile issues from YR1–YR3.
    let r = check(
        &w,
        &chain,
        Some(new_key),
        &families,
        t("2026-12-02T00:00:00Z"),
    );
    assert_eq!(r.verdict, Safety::Unsafe);
    assert!(
        r.reasons
            .iter()
            .any(|x| x.starts_with("the next certificate may be issued by YR1, YR2, YR3")),
        "{:?}",
        r.reasons
    );
}

#[test]
fn a_lagging_nameserver_is_named_and_the_clock_waits_for_it() {
    let Keys { root: _, cur, spki } = keys(2027);
    let next = next_key(&spki);
    let next_record = format!("3 1 1 {}", sha(&spki, false));
    let both = vec![r311(&cur), next_record.clone()];
    let mut w = world(&[r311(&cur)], t("2026-10-01T00:00:00Z"));
    w.records = both.clone();
    // The primary serves both; the secondary still the old RRset. Nothing is learnt.
    w.state.observe(OWNER, None, t(DAY0));
    w.nameservers = vec![
        ns("ns1.example.test.", &both, 2026110101),
        ns("ns2.example.test.", &[r311(&cur)], 2026100101),
    ];
    let r = check(
        &w,
        std::slice::from_ref(&cur),
        Some(next),
        &[],
        t("2026-11-02T00:00:00Z"),
    );
    assert_eq!(r.verdict, Safety::Unsafe);
    assert_eq!(r.safe_after, None);
    assert_eq!(
        r.reasons,
        vec![format!(
            "ns2.example.test. (192.0.2.53:53) lags (SOA serial 2026100101): it does not serve {next_record}"
        )]
    );
    assert_eq!(codes(&r), vec!["soa-serials-differ"]);
}

#[test]
fn an_expiring_certificate_before_the_safe_time_is_an_error_finding() {
    let Keys { root: _, cur, spki } = keys(2026);
    let next = next_key(&spki);
    let both = [r311(&cur), format!("3 1 1 {}", sha(&spki, false))];
    let w = world(&both, t("2025-12-31T23:00:00Z"));
    let r = check(
        &w,
        std::slice::from_ref(&cur),
        Some(next),
        &[],
        t("2025-12-31T23:30:00Z"),
    );
    assert_eq!(r.verdict, Safety::Unsafe);
    assert_eq!(codes(&r), vec!["expires-before-safe"]);
}

#[test]
fn unpublished_bogus_insecure_and_undecided_rrsets() {
    let root = ca("Example CA");
    let k1 = KeyPair::generate().unwrap();
    let cur = leaf(&root, &k1, 2027);
    let base = |published: Published| ServiceInput {
        host: "mail.example.test.".into(),
        port: 25,
        owner: OWNER.into(),
        current: std::slice::from_ref(&cur),
        next: None,
        published,
        nameservers: Vec::new(),
        negative_ttl: 300,
        smtp: true,
    };
    let state = State::new();
    let now = t(DAY0);
    let verdict = |p: Published| {
        let r = judge(&base(p), &state, &[], now);
        (r.verdict, r.reasons)
    };
    assert_eq!(
        verdict(Published::Bogus("RRSIG expired".into())),
        (
            Safety::Unsafe,
            vec![
                "the TLSA RRset is bogus, so DANE senders defer mail now: RRSIG expired".to_owned()
            ]
        )
    );
    assert_eq!(
        verdict(Published::Insecure("no DS".into())).0,
        Safety::Unsafe
    );
    assert_eq!(
        verdict(Published::Absent("NODATA".into())).0,
        Safety::Unsafe
    );
    assert_eq!(
        verdict(Published::Indeterminate("SERVFAIL".into())).0,
        Safety::Indeterminate
    );
}
